-- ARGV: token_hash (the token's SHA-256, hex), token_prefix (its first 16
-- bytes), now, grace, feed channel.
-- Replies { 'active', record } | { 'ended', reason } | { 'unknown' } | { 'corrupt' }.
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
if has_expired(live, now) then
  return { 'ended', end_live(live, 'expired', now, grace) }
end

-- R37: slide the idle expiry, capped at the absolute one. Never backwards, so
-- a replica whose clock lags cannot shorten what another one extended.
-- Coalesced: a slide shorter than 1/SLIDE_FRACTION of the idle timeout is not
-- written, so the idle expiry (and last use) lags the exact one by at most
-- that, 9 s of 15 minutes, and a session validated every few seconds is
-- rewritten about once per that span instead of on every validation.
local SLIDE_FRACTION = 100
local slid = math.max(live.idle_expires_at, math.min(now + live.idle_timeout, live.absolute_expires_at))
if (slid - live.idle_expires_at) * SLIDE_FRACTION < live.idle_timeout then
  return { 'active', live.record }
end
local record = slid_record(live, slid, math.max(live.last_used_at, now))
redis.call('SET', current_key, record, 'KEEPTTL')
return { 'active', record }
