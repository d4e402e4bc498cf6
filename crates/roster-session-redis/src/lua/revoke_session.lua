-- ARGV: session_id, now, grace, revocation reason, feed channel.
-- Ends the live session only if it is `session_id`. Replies
-- { 'active', record } (the session as it was, now revoked) |
-- { 'expired' } (it was, but its time had passed: ended as expired) |
-- { 'none' } (no live session has that id).
local session_id = ARGV[1]
local now = tonumber(ARGV[2])
local grace = tonumber(ARGV[3])
local revocation_reason = ARGV[4]

local live = read_live()
if not live or live.unreadable then
  return { 'none' }
end
if live.ids() ~= session_id then
  return { 'none' }
end
if live.corrupt then
  -- Revocation must not be blocked by bad data: the unreadable session goes.
  redis.call('DEL', current_key)
  return { 'none' }
end

if end_live(live, 'revoked', now, grace, revocation_reason) ~= 'revoked' then
  return { 'expired' }
end
return { 'active', live.record }
