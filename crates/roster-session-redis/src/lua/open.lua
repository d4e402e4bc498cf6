-- ARGV: record (the new session's compact record, built by the store: see
-- the prelude), session_id (text, for the feed), created_at (also "now"),
-- absolute_expires_at, grace, feed channel.
-- Replies { 'opened' }, or { 'opened', previous_session_id, how_it_ended }
-- when a previous live session ended ('replaced', or 'expired' when its time
-- had passed).
local record = ARGV[1]
local session_id = ARGV[2]
local now = tonumber(ARGV[3])
local absolute = tonumber(ARGV[4])
local grace = tonumber(ARGV[5])

-- R36: the previous live session ends (and is published) in the same atomic
-- step.
local previous = nil
local live = read_live()
if live and not live.corrupt then
  local previous_session_id = live.ids()
  previous = { previous_session_id, end_live(live, 'replaced', now, grace, nil, session_id) }
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

-- Until the absolute expiry plus grace: never before the session could end.
redis.call('SET', current_key, record, 'PX', ms(math.max(absolute - now, 0) + grace))

if previous then
  return { 'opened', previous[1], previous[2] }
end
return { 'opened' }
