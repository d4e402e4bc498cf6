-- An account's credential index (lib.rs): a hash, field the first character
-- of a credential tag, value every indexed tag starting with it, sorted (in
-- byte order, as Rust and ZRANGEBYLEX sort) and back to back, 16 characters
-- each. Not a session script: no prelude, one key, so it runs on any Cluster
-- node. Strings are compared byte by byte, never with Lua's `<` (strcoll:
-- locale-dependent in Redis).
--
-- KEYS[1]: the index.
-- ARGV[1] is the operation:
--   'add', keep_ms, tag...   adds the tags; the index lasts at least keep_ms.
--                            Replies 0.
--   'remove', tag...         removes the tags. Replies 0.
--   'page', after, limit     replies up to `limit` tags greater than `after`
--                            ('' for the first page), in byte order.
local key = KEYS[1]
local operation = ARGV[1]
local TAG = 16
-- Every character of a tag (base64url), in byte order.
local ALPHABET = '-0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz'

-- -1, 0 or 1 as `a` sorts before, with or after `b`, byte by byte.
local function compare(a, b)
  for position = 1, math.min(#a, #b) do
    local x, y = string.byte(a, position), string.byte(b, position)
    if x ~= y then
      return x < y and -1 or 1
    end
  end
  if #a == #b then
    return 0
  end
  return #a < #b and -1 or 1
end

local function tag_at(tags, index)
  return string.sub(tags, index * TAG + 1, index * TAG + TAG)
end

-- The index (0-based) of the first tag of `tags` that sorts at or after
-- `tag` (`after_equal`: strictly after).
local function position(tags, tag, after_equal)
  local low, high = 0, #tags / TAG
  local bound = after_equal and 0 or -1
  while low < high do
    local middle = math.floor((low + high) / 2)
    if compare(tag_at(tags, middle), tag) <= bound then
      low = middle + 1
    else
      high = middle
    end
  end
  return low
end

local function store(bucket, tags)
  if tags == '' then
    redis.call('HDEL', key, bucket)
  else
    redis.call('HSET', key, bucket, tags)
  end
end

if operation == 'add' then
  local by_bucket = {}
  for index = 3, #ARGV do
    local bucket = string.sub(ARGV[index], 1, 1)
    by_bucket[bucket] = by_bucket[bucket] or {}
    table.insert(by_bucket[bucket], ARGV[index])
  end
  for bucket, added in pairs(by_bucket) do
    local tags = redis.call('HGET', key, bucket) or ''
    if #added == 1 then
      -- A login: one binary search, one copy.
      local at = position(tags, added[1], false)
      if tag_at(tags, at) ~= added[1] then
        store(bucket, string.sub(tags, 1, at * TAG) .. added[1] .. string.sub(tags, at * TAG + 1))
      end
    else
      for index = 0, #tags / TAG - 1 do
        table.insert(added, tag_at(tags, index))
      end
      table.sort(added, function(a, b)
        return compare(a, b) < 0
      end)
      local merged = {}
      for _, tag in ipairs(added) do
        if merged[#merged] ~= tag then
          table.insert(merged, tag)
        end
      end
      store(bucket, table.concat(merged))
    end
  end
  redis.call('PEXPIRE', key, ARGV[2], 'NX')
  redis.call('PEXPIRE', key, ARGV[2], 'GT')
  return 0
end

if operation == 'remove' then
  for index = 2, #ARGV do
    local tag = ARGV[index]
    local bucket = string.sub(tag, 1, 1)
    local tags = redis.call('HGET', key, bucket)
    if tags then
      local at = position(tags, tag, false)
      if tag_at(tags, at) == tag then
        store(bucket, string.sub(tags, 1, at * TAG) .. string.sub(tags, at * TAG + TAG + 1))
      end
    end
  end
  return 0
end

if operation == 'page' then
  local after = ARGV[2]
  local limit = tonumber(ARGV[3])
  local first = after == '' and -1 or string.byte(after, 1)
  local page = {}
  for letter = 1, #ALPHABET do
    if #page >= limit then
      break
    end
    local bucket = string.sub(ALPHABET, letter, letter)
    local byte = string.byte(bucket)
    if byte >= first then
      local tags = redis.call('HGET', key, bucket)
      if tags then
        local index = 0
        if byte == first then
          index = position(tags, after, true)
        end
        while #page < limit and index < #tags / TAG do
          table.insert(page, tag_at(tags, index))
          index = index + 1
        end
      end
    end
  end
  return page
end

return redis.error_reply('unknown account index operation')
