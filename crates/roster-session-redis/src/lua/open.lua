-- ARGV: token_hash, session_id, account_id, user_id, payload, client_address,
-- user_agent, created_at (also "now"), idle_timeout, absolute_expires_at, grace,
-- feed channel.
-- Replies { 'opened' }, or { 'opened', previous_session_id, how_it_ended }
-- when a previous live session ended ('replaced', or 'expired' when its time
-- had passed).
local now = tonumber(ARGV[8])
local idle_timeout = tonumber(ARGV[9])
local absolute = tonumber(ARGV[10])
local grace = tonumber(ARGV[11])

-- R36: the previous live session ends (and is published) in the same atomic
-- step.
local previous = nil
local live = read_live()
if live and not live.corrupt then
  previous = { live.session_id, end_live(live, 'replaced', now, grace, nil, ARGV[2]) }
end
redis.call('DEL', current_key)

-- Lazy pruning: tombstones past their session's absolute expiry go, so one
-- credential's tombstones stay bounded by its logins within one lifetime.
local keep_until = nil
local tombstones = redis.call('HGETALL', ended_key)
for index = 1, #tombstones, 2 do
  local tombstone_absolute = tonumber(string.match(tombstones[index + 1], '|(-?%d+)$'))
  if not tombstone_absolute or tombstone_absolute <= now then
    redis.call('HDEL', ended_key, tombstones[index])
  elseif not keep_until or tombstone_absolute > keep_until then
    keep_until = tombstone_absolute
  end
end
if keep_until then
  redis.call('PEXPIRE', ended_key, ms(keep_until - now + grace))
end

redis.call('SET', current_key, new_record(ARGV[1], ARGV[2], ARGV[3], ARGV[4], now,
  math.min(now + idle_timeout, absolute), absolute, idle_timeout, ARGV[6], ARGV[7], ARGV[5]))
-- Until the absolute expiry plus grace: never before the session could end.
redis.call('PEXPIRE', current_key, ms(math.max(absolute - now, 0) + grace))

if previous then
  return { 'opened', previous[1], previous[2] }
end
return { 'opened' }
