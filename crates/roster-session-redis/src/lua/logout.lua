-- ARGV: token_hash, now, grace, feed channel.
-- Replies what the token was before: { 'active', record } (now logged out) |
-- { 'ended', reason } | { 'unknown' } | { 'corrupt' }.
local token_hash = ARGV[1]
local now = tonumber(ARGV[2])
local grace = tonumber(ARGV[3])

local live = read_live()
if live and live.unreadable then
  return { 'corrupt' }
end
if not live or live.token_hash ~= token_hash then
  return dead_answer(token_hash)
end
if live.corrupt then
  return { 'corrupt' }
end

local reason = end_live(live, 'logged_out', now, grace)
if reason ~= 'logged_out' then
  return { 'ended', reason }
end
return { 'active', live.record }
