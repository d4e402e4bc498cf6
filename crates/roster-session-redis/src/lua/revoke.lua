-- ARGV: now, grace, revocation reason, feed channel.
-- Replies { 'revoked' } or { 'revoked', session_id } when a live session ended.
local now = tonumber(ARGV[1])
local grace = tonumber(ARGV[2])
local revocation_reason = ARGV[3]

local live = read_live()
if not live then
  return { 'revoked' }
end
if live.corrupt then
  -- Revocation must not be blocked by bad data: the unreadable session goes.
  redis.call('DEL', current_key)
  return { 'revoked' }
end
if end_live(live, 'revoked', now, grace, revocation_reason) == 'revoked' then
  local session_id = live.ids()
  return { 'revoked', session_id }
end
return { 'revoked' }
