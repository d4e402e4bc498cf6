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

-- The live session's record, one string, in one of two formats (lib.rs):
--
-- Compact (written since issue 6's memory work), binary, big-endian:
--   byte 1: "\2" (the format; a text record starts with a hex digit)
--   2..17: the first 16 bytes of the token's SHA-256
--   18..33, 34..49, 50..65: session id, account id, user id (16-byte uuids)
--   66..71, 72..77, 78..83, 84..89: created_at, last_used_at,
--     idle_expires_at, absolute_expires_at (signed 48-bit ms)
--   90..93: idle_timeout (unsigned 32-bit ms)
--   94..95, 96..97: client address length, user agent length (unsigned 16-bit)
--   98..: client address, user agent, payload, back to back
-- Text (the layout before; still read, slid and ended, never written anew):
--   token_hash|session_id|account_id|user_id|created_at|last_used_at|
--   idle_expires_at|absolute_expires_at|idle_timeout|<client_address length>|
--   <user_agent length>|<client_address><user_agent><payload>
-- (times in ms). Only the bookkeeping fields are read here.
local COMPACT = '\2'
local COMPACT_TIMES_AT = 66
local COMPACT_FIXED_LENGTH = 97
local TEXT_PATTERN = '^([^|]*)|([^|]*)|([^|]*)|([^|]*)|([^|]*)|([^|]*)|([^|]*)|([^|]*)|([^|]*)|(.*)$'

-- Lowercase hex of `bytes`.
local function hex(bytes)
  return (string.gsub(bytes, '.', function(byte)
    return string.format('%02x', string.byte(byte))
  end))
end

-- The canonical text of a 16-byte uuid, as the feed and Rust read it.
local function uuid_text(bytes)
  local digits = hex(bytes)
  return string.sub(digits, 1, 8) .. '-' .. string.sub(digits, 9, 12) .. '-' .. string.sub(digits, 13, 16) .. '-'
    .. string.sub(digits, 17, 20) .. '-' .. string.sub(digits, 21, 32)
end

-- The live session's bookkeeping: nil when there is none; `unreadable` set
-- when the record cannot be split, `corrupt` when its times or owner cannot
-- be read (or it cannot be split). `token_hash` is the stored form (16 bytes
-- for a compact record, 64 hex digits for a text one); `ids()` gives the
-- session, account and user ids as text (computed only when asked: the
-- validation of a live session never needs them).
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
  if string.sub(record, 1, 1) == COMPACT then
    if #record < COMPACT_FIXED_LENGTH then
      return { unreadable = true, corrupt = true }
    end
    local created_at, last_used_at, idle_expires_at, absolute_expires_at, idle_timeout =
      struct.unpack('>i6i6i6i6I4', record, COMPACT_TIMES_AT)
    local live = {
      record = record,
      compact = true,
      token_hash = string.sub(record, 2, 17),
      created_at = created_at,
      last_used_at = last_used_at,
      idle_expires_at = idle_expires_at,
      absolute_expires_at = absolute_expires_at,
      idle_timeout = idle_timeout,
      corrupt = false,
    }
    live.ids = function()
      return uuid_text(string.sub(record, 18, 33)), uuid_text(string.sub(record, 34, 49)),
        uuid_text(string.sub(record, 50, 65))
    end
    return live
  end
  local token_hash, session_id, account_id, user_id, created_at, last_used_at, idle_expires_at, absolute_expires_at,
    idle_timeout, rest = string.match(record, TEXT_PATTERN)
  if not token_hash then
    return { unreadable = true, corrupt = true }
  end
  local live = {
    record = record,
    compact = false,
    token_hash = token_hash,
    created_at = created_at,
    last_used_at = tonumber(last_used_at),
    idle_expires_at = tonumber(idle_expires_at),
    absolute_expires_at = tonumber(absolute_expires_at),
    idle_timeout = tonumber(idle_timeout),
    rest = rest,
  }
  live.ids = function()
    return session_id, account_id, user_id
  end
  live.corrupt = not (session_id ~= '' and account_id ~= '' and user_id ~= '' and live.idle_expires_at
    and live.absolute_expires_at and live.idle_timeout and live.last_used_at)
  return live
end

-- Whether the live session is the token's: `token_hash` is the token's full
-- SHA-256 in hex, `token_prefix` its first 16 bytes.
local function is_token_of(live, token_hash, token_prefix)
  if live.compact then
    return live.token_hash == token_prefix
  end
  return live.token_hash == token_hash
end

-- The record with new idle expiry and last use, in the record's own format.
local function slid_record(live, idle_expires_at, last_used_at)
  if live.compact then
    return string.sub(live.record, 1, COMPACT_TIMES_AT + 5)
      .. struct.pack('>i6i6', last_used_at, idle_expires_at)
      .. string.sub(live.record, COMPACT_TIMES_AT + 18)
  end
  local session_id, account_id, user_id = live.ids()
  return table.concat({ live.token_hash, session_id, account_id, user_id, live.created_at,
    ms(last_used_at), ms(idle_expires_at), ms(live.absolute_expires_at), ms(live.idle_timeout), live.rest }, '|')
end

local function has_expired(live, now)
  return now >= live.idle_expires_at or now >= live.absolute_expires_at
end

-- Turns the live session into a tombstone, kept until its absolute expiry,
-- and publishes the end on the feed. A session whose time had already passed
-- ends as expired whatever `reason` was asked for. `revocation_reason` is the
-- text of a revocation, `replaced_by` the successor of a replaced session.
-- The tombstone is kept under the stored hash in hex: the first 32 hex
-- digits of the token's SHA-256 for a compact record, all 64 for a text one.
-- Returns the reason it ended with.
local function end_live(live, reason, now, grace, revocation_reason, replaced_by)
  if has_expired(live, now) then
    reason = 'expired'
  end
  redis.call('DEL', current_key)
  local tombstone = live.token_hash
  if live.compact then
    tombstone = hex(live.token_hash)
  end
  redis.call('HSET', ended_key, tombstone, reason .. '|' .. ms(live.absolute_expires_at))
  keep_tombstones_until(live.absolute_expires_at, now, grace)

  local session_id, account_id, user_id = live.ids()
  local event = {
    type = 'session_ended',
    kind = reason,
    session_id = session_id,
    account_id = account_id,
    user_id = user_id,
    reason = REASON_TEXTS[reason] or revocation_reason,
    occurred_at = now,
  }
  if reason == 'replaced' then
    event.replaced_by = replaced_by
  end
  redis.call('PUBLISH', feed_channel, cjson.encode(event))
  return reason
end

-- The answer for a token that is not the live session; `token_hash` is its
-- full SHA-256 in hex. Tombstones of compact records are kept under its
-- first 32 digits, older ones under all 64.
local function dead_answer(token_hash)
  local tombstone = redis.call('HGET', ended_key, string.sub(token_hash, 1, 32))
    or redis.call('HGET', ended_key, token_hash)
  if not tombstone then
    return { 'unknown' }
  end
  return { 'ended', string.match(tombstone, '^[^|]*') }
end
