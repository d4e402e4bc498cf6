-- Shared by every session script; each script is a generated header
-- (REASON_TEXTS, the reason texts of session events, from Rust's
-- `roster_session_core::reasons`), this prelude, then its body.
--
-- KEYS[1]: the credential's live session, a string record (below, and lib.rs).
-- KEYS[2]: the credential's tombstones, a hash token_hash -> "reason|absolute_ms".
-- Both carry the credential's {tag}, so they share one Cluster slot.
-- The LAST ARGV of every session script is the feed channel, on which every
-- session end is PUBLISHed (JSON, see feed.rs) in the same atomic step.
--
-- Every time is integer milliseconds passed in ARGV, never Redis TIME: the
-- caller's clock decides, so tests can move it. Key expiry (PEXPIRE) is only
-- garbage collection, set well past the stored times; the stored times decide.
local current_key = KEYS[1]
local ended_key = KEYS[2]
local feed_channel = ARGV[#ARGV]

-- Integer text; Lua numbers are doubles and would otherwise print as 1.8e+12.
local function ms(number)
  return string.format('%d', number)
end

-- Keeps the tombstones, in real time, at least until `absolute` plus `grace`.
local function keep_tombstones_until(absolute, now, grace)
  local wanted = math.max(absolute - now, 0) + grace
  if redis.call('PTTL', ended_key) < wanted then
    redis.call('PEXPIRE', ended_key, ms(wanted))
  end
end

-- The live session's record, one string (format in lib.rs):
--   token_hash|session_id|account_id|user_id|created_at|last_used_at|
--   idle_expires_at|absolute_expires_at|idle_timeout|<client_address length>|
--   <user_agent length>|<client_address><user_agent><payload>
-- (one line; times in ms). Only the first nine fields are read here.
local RECORD_PATTERN = '^([^|]*)|([^|]*)|([^|]*)|([^|]*)|([^|]*)|([^|]*)|([^|]*)|([^|]*)|([^|]*)|(.*)$'

-- The record of a new session.
local function new_record(token_hash, session_id, account_id, user_id, now, idle_expires_at, absolute, idle_timeout,
    client_address, user_agent, payload)
  return table.concat({ token_hash, session_id, account_id, user_id, ms(now), ms(now), ms(idle_expires_at),
    ms(absolute), ms(idle_timeout), #client_address, #user_agent .. '|' .. client_address .. user_agent .. payload }, '|')
end

-- The live session's bookkeeping: nil when there is none; `unreadable` set
-- when the record cannot be split, `corrupt` when its times or owner cannot
-- be read (or it cannot be split).
local function read_live()
  -- pcall: a key of another type (a hash of the first layout) is unreadable,
  -- so that a login can still replace it.
  local record = redis.pcall('GET', current_key)
  if type(record) == 'table' and record.err then
    return { unreadable = true, corrupt = true }
  end
  if not record then
    return nil
  end
  local token_hash, session_id, account_id, user_id, created_at, last_used_at, idle_expires_at, absolute_expires_at,
    idle_timeout, rest = string.match(record, RECORD_PATTERN)
  if not token_hash then
    return { unreadable = true, corrupt = true }
  end
  local live = {
    record = record,
    token_hash = token_hash,
    session_id = session_id,
    account_id = account_id,
    user_id = user_id,
    created_at = created_at,
    last_used_at = tonumber(last_used_at),
    idle_expires_at = tonumber(idle_expires_at),
    absolute_expires_at = tonumber(absolute_expires_at),
    idle_timeout = tonumber(idle_timeout),
    rest = rest,
  }
  live.corrupt = not (session_id ~= '' and account_id ~= '' and user_id ~= '' and live.idle_expires_at
    and live.absolute_expires_at and live.idle_timeout and live.last_used_at)
  return live
end

-- The record with new idle expiry and last use.
local function slid_record(live, idle_expires_at, last_used_at)
  return table.concat({ live.token_hash, live.session_id, live.account_id, live.user_id, live.created_at,
    ms(last_used_at), ms(idle_expires_at), ms(live.absolute_expires_at), ms(live.idle_timeout), live.rest }, '|')
end

local function has_expired(live, now)
  return now >= live.idle_expires_at or now >= live.absolute_expires_at
end

-- Turns the live session into a tombstone, kept until its absolute expiry,
-- and publishes the end on the feed. A session whose time had already passed
-- ends as expired whatever `reason` was asked for. `revocation_reason` is the
-- text of a revocation, `replaced_by` the successor of a replaced session.
-- Returns the reason it ended with.
local function end_live(live, reason, now, grace, revocation_reason, replaced_by)
  if has_expired(live, now) then
    reason = 'expired'
  end
  redis.call('DEL', current_key)
  redis.call('HSET', ended_key, live.token_hash, reason .. '|' .. ms(live.absolute_expires_at))
  keep_tombstones_until(live.absolute_expires_at, now, grace)

  local event = {
    type = 'session_ended',
    kind = reason,
    session_id = live.session_id,
    account_id = live.account_id,
    user_id = live.user_id,
    reason = REASON_TEXTS[reason] or revocation_reason,
    occurred_at = now,
  }
  if reason == 'replaced' then
    event.replaced_by = replaced_by
  end
  redis.call('PUBLISH', feed_channel, cjson.encode(event))
  return reason
end

-- The answer for a token that is not the live session.
local function dead_answer(token_hash)
  local tombstone = redis.call('HGET', ended_key, token_hash)
  if not tombstone then
    return { 'unknown' }
  end
  return { 'ended', string.match(tombstone, '^[^|]*') }
end
