-- ARGV: token_hash (the token's SHA-256, hex), token_prefix (its first 16
-- bytes), now, grace, feed channel.
-- Replies what the token was before: { 'active', record } (now logged out) |
-- { 'ended', reason } | { 'unknown' } | { 'corrupt' }.
local token_hash = ARGV[1]
local token_prefix = ARGV[2]
local now = tonumber(ARGV[3])
local grace = tonumber(ARGV[4])

local live = read_live()
if live and live.unreadable then
  return { 'corrupt' }
end
if not live or not is_token_of(live, token_hash, token_prefix) then
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
