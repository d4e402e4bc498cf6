//! The Redis [`SessionStore`]: sessions shared by every broker replica, one
//! live session per credential (R36) enforced by Redis itself, and a feed of
//! session ends and access changes that every replica receives (R41, R38);
//! and the Redis [`RedisLoginThrottle`], counting failed logins per source
//! for every replica (R39; its key layout is in its own module).
//!
//! # Key layout (Cluster-safe)
//!
//! Every key of one credential carries its slot tag `{<tag>}` (the tag is
//! [`CredentialKey::tag`], which every token of that credential starts with),
//! so all of them hash to one Cluster slot and one script can touch them all:
//!
//! - `<prefix>{<tag>}:current` — a string, the live session's record:
//!   binary, 97 bytes then the free text (format in `lua/prelude.lua` and
//!   `record.rs`): a format byte (2), the first 16 bytes of the token's
//!   SHA-256, session, account and user ids as 16-byte uuids, created_at,
//!   last_used_at, idle_expires_at and absolute_expires_at as 48-bit
//!   milliseconds, the idle timeout as 32-bit milliseconds, the lengths of
//!   client address and user agent (16 bits each), then client address, user
//!   agent and payload back to back. Expires (garbage collection) at the
//!   absolute expiry plus grace.
//!   The record of the layout before (one text line, `token_hash|session_id|
//!   account_id|user_id|created_at|last_used_at|idle_expires_at|
//!   absolute_expires_at|idle_timeout|<client_address length>|<user_agent
//!   length>|` then the free text; a hex digit first) is still read, slid
//!   and ended, so sessions opened before an upgrade stay valid until they
//!   end; it is never written any more. The reverse does not hold: a
//!   broker of the layout before cannot read a compact record (it answers
//!   `Corrupt`), nor find new sessions by id or in listings, so every
//!   replica should run the same layout: upgrade them together, not one by
//!   one while logins go on.
//!   Why 16 bytes of the hash are enough: the token carries 256 random bits
//!   and only its SHA-256 is kept. To be accepted, a presented token must
//!   hash to the stored 128 bits: a second preimage of 128 bits (2^128
//!   work); knowing the stored bits (reading Redis) gives no token either
//!   (a preimage). An ended token of the same credential sharing the live
//!   one's 128 bits (and so validating as it) has odds of 2^-128 per pair
//!   of tokens: negligible for any number of logins.
//!   Why binary: the text record spent 64 bytes on the hash, 108 on three
//!   uuids and about 60 on times; the session's memory (issue 6: at most
//!   512 bytes a live session) is mostly this record. A string rather than
//!   a hash: a hash with any value over 64 bytes (a browser's user agent) is
//!   stored as a hash table, at about three times the memory.
//! - `<prefix>{<tag>}:ended` — a hash of tombstones, the token's hash in hex
//!   (its first 32 digits, since the compact record; all 64 before) →
//!   `"<reason>|<absolute_expires_at_ms>"`, kept until the ended session's
//!   absolute expiry and pruned by the credential's next login.
//!
//! Two indexes, in other slots, are written right after the open script
//! (see `listing.rs`); they are hints, always checked against `:current`.
//! Both pack many entries into few keys, each a hash small enough for Redis
//! to keep as a listpack (a key of its own per entry cost about 200 bytes a
//! session, a ZSET member about 130):
//!
//! - `<prefix>account:<account_id>:tags` — a hash, field the first character
//!   of a credential tag, value the tags of the account's credentials that
//!   opened a session and start with it, sorted in byte order, back to back
//!   (16 characters each, so about 16 bytes a credential); kept up by
//!   `lua/account_index.lua`, one key, so Cluster-safe. Expires after the
//!   newest session's absolute expiry plus grace; tags whose `:current` is
//!   gone are removed by listings. The ZSET of the layout before,
//!   `<prefix>account:<account_id>:credentials`, is emptied into it by the
//!   next listing of the account.
//! - `<prefix>sessions:<shard>` (2,048 shards, by the session id's last two
//!   bytes) — a hash, field the session id's 16 bytes, value its credential
//!   tag then the second (decimal) after which the entry is useless (its
//!   absolute expiry plus grace). There is no expiry per field (Redis 7.0),
//!   so `lua/session_index.lua`, adding an entry, drops the shard's entries
//!   whose time has passed: a shard holds at most the sessions opened in it
//!   within one absolute lifetime. Entries go sooner when their session is
//!   replaced or revoked by id; the shard itself expires after its newest
//!   entry's time. A session key of the layout before (`<prefix>session:
//!   <session_id>`, a string holding the tag) is still read and dropped.
//!
//! The key prefix should not contain `{` or `}`: it would not break the
//! one-slot rule but would put every credential in the same slot.
//!
//! # The feed
//!
//! One pub/sub channel, `<prefix>feed`, carries JSON messages (format in
//! `feed.rs`): session ends, PUBLISHed by the scripts that end them, and
//! access changes, PUBLISHed by [`SessionStore::publish_access_change`].
//! Each store holds one more connection, subscribed to it; see `feed.rs`.
//!
//! # Architecture invariants
//!
//! - Every operation on a credential's session is ONE Lua script
//!   (`EVALSHA`), so it is atomic and one round trip; racing logins cannot
//!   leave two live sessions. Every session end is published from inside
//!   the script that ends it, so the feed's order is Redis's order.
//!   (`open` adds one pipelined round trip for the indexes; `revoke_session`
//!   reads the session index first.)
//! - Validation slides the idle expiry (R37) but writes it only when it
//!   moves by at least 1/100 of the idle timeout (9 s of 15 minutes): the
//!   idle expiry and last use may lag the exact ones by that much, and a
//!   session validated every few seconds is rewritten every few seconds
//!   rather than on every validation (issue 6). Still one round trip.
//! - Time comes from the caller (`now` in ARGV), never from Redis `TIME`.
//!   `PEXPIRE` is garbage collection only, always set past the moment the
//!   stored times end the data, so a live session never vanishes early.
//! - A Redis that cannot answer yields [`SessionStoreError::Unavailable`]
//!   within a couple of seconds, never a stale or invented answer; a broken
//!   subscription is reported on the feed (`FeedLost`, then `FeedRestored`).
//! - Tokens, token hashes and payloads never reach `Debug` output, error
//!   messages, logs or the feed.
//! - Needs Redis 7.0 or later (`PEXPIRE` with `NX`/`GT`).

mod feed;
mod listing;
mod record;
mod reply;
mod throttle;

use std::fmt;
use std::sync::Arc;
use std::time::Duration as StdDuration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{ErrorKind, RedisError, Script, ScriptInvocation, Value};
use roster_domain::ids::{AccountId, SessionId, UserId};
use roster_session_core::{
    reasons, ActiveSession, CredentialKey, FeedMessage, NewSession, SessionPage, SessionStore, SessionStoreError,
    SessionToken, Validation,
};
use tokio::sync::broadcast;

use crate::feed::{Feed, WireMessage};
pub use throttle::RedisLoginThrottle;

/// How long one connection attempt may take before it counts as failed.
const CONNECTION_TIMEOUT: StdDuration = StdDuration::from_secs(1);
/// How long one command may wait for its reply. Scripts take microseconds;
/// longer means Redis is stuck, and the caller must fail closed soon.
const RESPONSE_TIMEOUT: StdDuration = StdDuration::from_secs(2);
/// Reconnection attempts after the first, per reconnection; each command
/// that finds Redis down starts a new reconnection, so few are enough.
const RECONNECT_RETRIES: usize = 1;
const RECONNECT_MIN_DELAY: StdDuration = StdDuration::from_millis(100);
const RECONNECT_MAX_DELAY: StdDuration = StdDuration::from_millis(500);

/// Real time a key outlives the stored times that end its data: covers
/// clock skew between the replicas passing `now` and Redis.
const GARBAGE_COLLECTION_GRACE_MS: i64 = 10 * 60 * 1000;

const PRELUDE: &str = include_str!("lua/prelude.lua");

/// Session storage in Redis (standalone or Cluster), reconnecting by itself
/// after Redis restarts. Cheap to clone; clones share one connection and one
/// feed subscription, which ends when the last clone is dropped.
#[derive(Clone)]
pub struct RedisSessionStore {
    connection: ConnectionManager,
    key_prefix: String,
    scripts: Scripts,
    feed: Arc<Feed>,
}

#[derive(Clone)]
struct Scripts {
    open: Script,
    validate: Script,
    logout: Script,
    revoke: Script,
    revoke_session: Script,
    /// The index scripts run on one key each, in other slots (`listing.rs`).
    session_index: Script,
    account_index: Script,
}

impl Scripts {
    fn new() -> Self {
        let header = reason_texts_header();
        let with_prelude = |body: &str| Script::new(&format!("{header}\n{PRELUDE}\n{body}"));
        Self {
            open: with_prelude(include_str!("lua/open.lua")),
            validate: with_prelude(include_str!("lua/validate.lua")),
            logout: with_prelude(include_str!("lua/logout.lua")),
            revoke: with_prelude(include_str!("lua/revoke.lua")),
            revoke_session: with_prelude(include_str!("lua/revoke_session.lua")),
            session_index: Script::new(include_str!("lua/session_index.lua")),
            account_index: Script::new(include_str!("lua/account_index.lua")),
        }
    }
}

/// The Lua table of the feed's reason texts, by stored reason, written from
/// [`reasons`] so that both stores report the same words.
fn reason_texts_header() -> String {
    let texts = [("replaced", reasons::REPLACED), ("logged_out", reasons::LOGGED_OUT), ("expired", reasons::EXPIRED)];
    let entries: Vec<String> = texts
        .iter()
        .map(|(reason, text)| {
            // Plain text only: then a Lua string literal is the text in quotes.
            assert!(text.bytes().all(|byte| byte.is_ascii_graphic() || byte == b' ') && !text.contains(['"', '\\']));
            format!("{reason} = \"{text}\"")
        })
        .collect();
    format!("local REASON_TEXTS = {{ {} }}", entries.join(", "))
}

impl RedisSessionStore {
    /// Connects to the Redis at `url` (`redis://[user:password@]host:port/db`)
    /// and keeps every key under `key_prefix`, so that several deployments or
    /// tests can share one Redis; replicas sharing a prefix share sessions and
    /// the feed. Fails with `Unavailable` when Redis cannot be reached now;
    /// after that, reconnection is automatic.
    pub async fn connect(url: &str, key_prefix: &str) -> Result<Self, SessionStoreError> {
        let connection = connection_manager(url).await?;
        let feed = Feed::start(client(url)?, format!("{key_prefix}feed")).await?;
        Ok(Self { connection, key_prefix: key_prefix.to_owned(), scripts: Scripts::new(), feed: Arc::new(feed) })
    }

    /// The prefix every key of this store starts with.
    pub fn key_prefix(&self) -> &str {
        &self.key_prefix
    }

    /// The pub/sub channel of the feed.
    pub fn feed_channel(&self) -> String {
        format!("{}feed", self.key_prefix)
    }

    fn current_key(&self, tag: &str) -> String {
        format!("{}{{{tag}}}:current", self.key_prefix)
    }

    /// Starts an invocation of `script` with the credential's two keys.
    fn with_credential_keys<'script>(&self, script: &'script Script, tag: &str) -> ScriptInvocation<'script> {
        let mut invocation = script.prepare_invoke();
        invocation.key(self.current_key(tag)).key(format!("{}{{{tag}}}:ended", self.key_prefix));
        invocation
    }

    /// Runs a session script; the feed channel goes last, as every session
    /// script expects it.
    async fn run(&self, invocation: &mut ScriptInvocation<'_>) -> Result<Vec<Vec<u8>>, SessionStoreError> {
        invocation.arg(self.feed_channel());
        // Clones share the multiplexed connection; no lock, no pool.
        let mut connection = self.connection.clone();
        let value: Value = invocation.invoke_async(&mut connection).await.map_err(store_error)?;
        reply::parts(value)
    }

    /// Starts an invocation of `script` (validate or logout) for `token`:
    /// the credential's keys, the token's hash in hex and its first 16 bytes.
    fn with_token<'script>(&self, script: &'script Script, token: &SessionToken) -> ScriptInvocation<'script> {
        let mut invocation = self.with_credential_keys(script, token.tag());
        invocation.arg(token.hash().as_str()).arg(record::token_prefix(token));
        invocation
    }
}

#[async_trait]
impl SessionStore for RedisSessionStore {
    async fn open(&self, token: &SessionToken, session: NewSession) -> Result<Option<SessionId>, SessionStoreError> {
        let mut invocation = self.with_credential_keys(&self.scripts.open, token.tag());
        invocation
            .arg(record::compact_record(token, &session)?)
            .arg(session.session_id.to_string())
            .arg(millis(session.created_at))
            .arg(millis(session.absolute_expires_at))
            .arg(GARBAGE_COLLECTION_GRACE_MS);
        let opened = reply::opened(self.run(&mut invocation).await?)?;
        // Should this fail, the login fails: the session stays unlisted, but
        // its token is never handed out, and it ends like any other.
        self.index_opened_session(&session, token.tag(), opened.previous).await?;
        Ok(opened.replaced)
    }

    async fn validate(&self, token: &SessionToken, now: DateTime<Utc>) -> Result<Validation, SessionStoreError> {
        let mut invocation = self.with_token(&self.scripts.validate, token);
        invocation.arg(millis(now)).arg(GARBAGE_COLLECTION_GRACE_MS);
        reply::validation(self.run(&mut invocation).await?)
    }

    async fn logout(&self, token: &SessionToken, now: DateTime<Utc>) -> Result<Validation, SessionStoreError> {
        let mut invocation = self.with_token(&self.scripts.logout, token);
        invocation.arg(millis(now)).arg(GARBAGE_COLLECTION_GRACE_MS);
        reply::validation(self.run(&mut invocation).await?)
    }

    async fn revoke_credential(
        &self,
        credential: &CredentialKey,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<SessionId>, SessionStoreError> {
        let mut invocation = self.with_credential_keys(&self.scripts.revoke, &credential.tag());
        invocation.arg(millis(now)).arg(GARBAGE_COLLECTION_GRACE_MS).arg(reason);
        reply::revoked(self.run(&mut invocation).await?)
    }

    async fn revoke_session(
        &self,
        session_id: SessionId,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<ActiveSession>, SessionStoreError> {
        let Some(tag) = self.tag_of_session(session_id).await? else {
            return Ok(None);
        };
        let mut invocation = self.with_credential_keys(&self.scripts.revoke_session, &tag);
        invocation.arg(session_id.to_string()).arg(millis(now)).arg(GARBAGE_COLLECTION_GRACE_MS).arg(reason);
        let revoked = reply::revoked_session(self.run(&mut invocation).await?)?;
        // Whatever the answer, that session is not live any more.
        self.forget_session_key(session_id).await;
        Ok(revoked)
    }

    async fn find_session(
        &self,
        session_id: SessionId,
        now: DateTime<Utc>,
    ) -> Result<Option<ActiveSession>, SessionStoreError> {
        self.find(session_id, now).await
    }

    async fn list_sessions(
        &self,
        account_id: AccountId,
        user_id: Option<UserId>,
        cursor: Option<&str>,
        limit: usize,
        now: DateTime<Utc>,
    ) -> Result<SessionPage, SessionStoreError> {
        self.list(account_id, user_id, cursor, limit, now).await
    }

    async fn publish_access_change(&self, account_id: AccountId, user_ids: &[UserId]) -> Result<(), SessionStoreError> {
        let mut connection = self.connection.clone();
        redis::cmd("PUBLISH")
            .arg(self.feed_channel())
            .arg(WireMessage::access_changed(account_id, user_ids))
            .query_async::<()>(&mut connection)
            .await
            .map_err(store_error)
    }

    fn subscribe(&self) -> broadcast::Receiver<FeedMessage> {
        self.feed.subscribe()
    }

    async fn ping(&self) -> Result<(), SessionStoreError> {
        let mut connection = self.connection.clone();
        let _: Value = redis::cmd("PING").query_async(&mut connection).await.map_err(store_error)?;
        Ok(())
    }
}

impl fmt::Debug for RedisSessionStore {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Not the connection: its client info would print the url's password.
        formatter.debug_struct("RedisSessionStore").field("key_prefix", &self.key_prefix).finish_non_exhaustive()
    }
}

/// A client for the Redis at `url`; connects nothing yet.
fn client(url: &str) -> Result<redis::Client, SessionStoreError> {
    // The url may hold a password: it never goes into an error message.
    let invalid = |error: RedisError| SessionStoreError::Unavailable(format!("invalid redis url ({:?})", error.kind()));
    let info = redis::IntoConnectionInfo::into_connection_info(url).map_err(invalid)?;
    // TCP_NODELAY (off by default in redis-rs 1.x): on a multiplexed
    // connection Nagle's algorithm holds each small write until the previous
    // one is acknowledged, and with delayed ACKs every validation waited
    // ~40 ms (issue 6 measured 44 ms p50 at any concurrency).
    let info = info.set_tcp_settings(redis::io::tcp::TcpSettings::default().set_nodelay(true));
    redis::Client::open(info).map_err(invalid)
}

/// A self-reconnecting connection to the Redis at `url`, failing fast while
/// Redis is down. Fails with `Unavailable` when Redis cannot be reached now.
async fn connection_manager(url: &str) -> Result<ConnectionManager, SessionStoreError> {
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(CONNECTION_TIMEOUT))
        .set_response_timeout(Some(RESPONSE_TIMEOUT))
        .set_number_of_retries(RECONNECT_RETRIES)
        .set_min_delay(RECONNECT_MIN_DELAY)
        .set_max_delay(RECONNECT_MAX_DELAY);
    ConnectionManager::new_with_config(client(url)?, config).await.map_err(store_error)
}

fn millis(time: DateTime<Utc>) -> i64 {
    time.timestamp_millis()
}

/// Data Redis refuses to treat as sessions is corrupt; anything else (I/O,
/// timeouts, refused connections, a Redis loading or failing over) means the
/// answer is unknown, and the caller must fail closed.
fn store_error(error: RedisError) -> SessionStoreError {
    let stored_data_is_bad =
        matches!(error.kind(), ErrorKind::Parse | ErrorKind::UnexpectedReturnType) || error.code() == Some("WRONGTYPE");
    if stored_data_is_bad {
        return SessionStoreError::Corrupt(format!("redis rejected the stored session data: {error}"));
    }
    SessionStoreError::Unavailable(format!("redis: {error}"))
}
