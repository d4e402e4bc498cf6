-- One shard of the session index (lib.rs): a hash, field the 16 bytes of a
-- session id, value the 16-character tag of its credential followed by the
-- time (decimal seconds since the epoch) after which the entry is useless:
-- the session's absolute expiry plus grace. Not a session script: no
-- prelude, one key, so it runs on any Cluster node.
--
-- KEYS[1]: the shard.
-- ARGV: session id (16 bytes), entry (tag .. keep-until seconds), now (ms),
-- keep_ms (how long the shard must last for this entry).
-- Adds the entry, drops every entry of the shard whose time is past at `now`
-- (so a shard holds at most the sessions opened in it within one absolute
-- lifetime, whatever ended them), and keeps the shard at least `keep_ms`.
-- Replies 0.
local shard = KEYS[1]
local now_s = tonumber(ARGV[3]) / 1000

redis.call('HSET', shard, ARGV[1], ARGV[2])
local entries = redis.call('HGETALL', shard)
for index = 1, #entries, 2 do
  local keep_until = tonumber(string.sub(entries[index + 1], 17))
  if not keep_until or keep_until <= now_s then
    redis.call('HDEL', shard, entries[index])
  end
end
redis.call('PEXPIRE', shard, ARGV[4], 'NX')
redis.call('PEXPIRE', shard, ARGV[4], 'GT')
return 0
