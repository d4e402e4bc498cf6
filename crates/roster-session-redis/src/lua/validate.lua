-- ARGV: token_hash, now, grace, feed channel.
-- Replies { 'active', field, value, ... } | { 'ended', reason } | { 'unknown' } | { 'corrupt' }.
local token_hash = ARGV[1]
local now = tonumber(ARGV[2])
local grace = tonumber(ARGV[3])

local live = read_live()
if not live or live.token_hash ~= token_hash then
  return dead_answer(token_hash)
end
if live.corrupt then
  return { 'corrupt' }
end
if has_expired(live, now) then
  return { 'ended', end_live(live, 'expired', now, grace) }
end

-- R37: slide the idle expiry, capped at the absolute one. Never backwards, so
-- a replica whose clock lags cannot shorten what another one extended.
local slid = math.min(now + live.idle_timeout, live.absolute_expires_at)
redis.call('HSET', current_key,
  'idle_expires_at', ms(math.max(live.idle_expires_at, slid)),
  'last_used_at', ms(math.max(live.last_used_at, now)))

local reply = redis.call('HGETALL', current_key)
table.insert(reply, 1, 'active')
return reply
