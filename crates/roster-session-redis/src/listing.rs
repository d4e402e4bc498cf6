//! The two indexes beside the credential keys, and what reads them: listing
//! an account's live sessions, and finding a session by its id.
//!
//! Both live in other Cluster slots than the credential keys, so no session
//! script can write them: they are written by one pipeline right after the
//! open script (see [`RedisSessionStore::index_opened_session`]), and read
//! before the credential keys. A session is thus listed and revocable by id
//! from the moment `open` returns. Index entries are hints, never answers:
//! every one is checked against the credential's `:current` record.

use chrono::{DateTime, Utc};
use redis::Value;
use roster_domain::ids::{AccountId, SessionId, UserId};
use roster_session_core::{ActiveSession, CredentialKey, NewSession, SessionPage, SessionStoreError};

use crate::{millis, reply, store_error, RedisSessionStore, GARBAGE_COLLECTION_GRACE_MS};

/// Reads of the `:current` hashes a listing issues per round trip, at most.
const LISTING_BATCH: usize = 100;

impl RedisSessionStore {
    /// The account's credential index: a ZSET of credential tags, score 0,
    /// ordered by tag.
    pub(crate) fn account_index_key(&self, account_id: AccountId) -> String {
        format!("{}account:{account_id}:credentials", self.key_prefix)
    }

    /// The credential tag of session `session_id`, a string.
    pub(crate) fn session_key(&self, session_id: SessionId) -> String {
        format!("{}session:{session_id}", self.key_prefix)
    }

    /// Records a session `open` just stored under credential `tag` in both
    /// indexes, and drops the session key of the `previous` session it ended.
    /// One round trip (a pipeline; on Cluster, one per node).
    pub(crate) async fn index_opened_session(
        &self,
        session: &NewSession,
        tag: &str,
        previous: Option<SessionId>,
    ) -> Result<(), SessionStoreError> {
        // Garbage collection only, like every TTL here: past the absolute
        // expiry, when the session ends for certain.
        let keep_ms =
            (millis(session.absolute_expires_at) - millis(session.created_at)).max(0) + GARBAGE_COLLECTION_GRACE_MS;
        let index_key = self.account_index_key(session.credential.account_id);
        let mut pipeline = redis::pipe();
        pipeline.cmd("ZADD").arg(&index_key).arg(0).arg(tag).ignore();
        extend_expiry(&mut pipeline, &index_key, keep_ms);
        pipeline.cmd("SET").arg(self.session_key(session.session_id)).arg(tag).arg("PX").arg(keep_ms).ignore();
        if let Some(previous) = previous {
            pipeline.cmd("DEL").arg(self.session_key(previous)).ignore();
        }
        let mut connection = self.connection.clone();
        pipeline.query_async::<()>(&mut connection).await.map_err(store_error)
    }

    /// The credential tag session `session_id` was opened under, while its
    /// session key lasts.
    pub(crate) async fn tag_of_session(&self, session_id: SessionId) -> Result<Option<String>, SessionStoreError> {
        let mut connection = self.connection.clone();
        let tag: Option<String> = redis::cmd("GET")
            .arg(self.session_key(session_id))
            .query_async(&mut connection)
            .await
            .map_err(store_error)?;
        match tag {
            Some(tag) if is_credential_tag(&tag) => Ok(Some(tag)),
            Some(_) => Err(SessionStoreError::Corrupt("a session key holds no credential tag".to_owned())),
            None => Ok(None),
        }
    }

    /// Drops a session key that is no longer needed. Best effort: its TTL
    /// removes it anyway.
    pub(crate) async fn forget_session_key(&self, session_id: SessionId) {
        let mut connection = self.connection.clone();
        let outcome: Result<Value, _> =
            redis::cmd("DEL").arg(self.session_key(session_id)).query_async(&mut connection).await;
        if let Err(error) = outcome {
            tracing::debug!(%error, "a session key was left to its ttl");
        }
    }

    /// `list_sessions`: see [`roster_session_core::SessionStore::list_sessions`].
    pub(crate) async fn list(
        &self,
        account_id: AccountId,
        user_id: Option<UserId>,
        cursor: Option<&str>,
        limit: usize,
        now: DateTime<Utc>,
    ) -> Result<SessionPage, SessionStoreError> {
        let limit = limit.clamp(1, usize::MAX - 1);
        let mut sessions = match user_id {
            Some(user_id) => self.list_one_credential(CredentialKey::new(account_id, user_id), cursor, now).await?,
            None => self.list_account(account_id, cursor, limit + 1, now).await?,
        };
        // One more than asked for tells whether another page follows.
        let next_cursor = match sessions.len() > limit {
            true => {
                sessions.truncate(limit);
                sessions.last().map(|session| session.credential.tag())
            }
            false => None,
        };
        Ok(SessionPage { sessions, next_cursor })
    }

    /// The live session `session_id`: its credential through the
    /// `session:<id>` key, then that credential's `:current` record, which
    /// must still hold that session.
    pub(crate) async fn find(
        &self,
        session_id: SessionId,
        now: DateTime<Utc>,
    ) -> Result<Option<ActiveSession>, SessionStoreError> {
        let Some(tag) = self.tag_of_session(session_id).await? else {
            return Ok(None);
        };
        let Some(record) = self.read_current(std::slice::from_ref(&tag)).await?.pop().flatten() else {
            return Ok(None);
        };
        let Ok(stored) = reply::session_of_record(&record) else {
            return Ok(None);
        };
        let session = listable(&tag, Some(record), stored.credential.account_id, now);
        Ok(session.filter(|session| session.session_id == session_id))
    }

    /// The credential's live session, straight from its `:current` record.
    async fn list_one_credential(
        &self,
        credential: CredentialKey,
        cursor: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Vec<ActiveSession>, SessionStoreError> {
        let tag = credential.tag();
        if cursor.is_some_and(|cursor| cursor >= tag.as_str()) {
            return Ok(Vec::new());
        }
        let record = self.read_current(std::slice::from_ref(&tag)).await?.pop().flatten();
        let session = listable(&tag, record, credential.account_id, now);
        Ok(session.filter(|session| session.credential == credential).into_iter().collect())
    }

    /// Up to `wanted` live sessions of the account after `cursor`, in tag
    /// order, pruning index entries whose session is gone.
    async fn list_account(
        &self,
        account_id: AccountId,
        cursor: Option<&str>,
        wanted: usize,
        now: DateTime<Utc>,
    ) -> Result<Vec<ActiveSession>, SessionStoreError> {
        let index_key = self.account_index_key(account_id);
        let mut sessions = Vec::new();
        let mut after = cursor.map(str::to_owned);
        let mut connection = self.connection.clone();
        while sessions.len() < wanted {
            let batch = (wanted - sessions.len()).min(LISTING_BATCH);
            let from = after.as_ref().map_or_else(|| "-".to_owned(), |tag| format!("({tag}"));
            let tags: Vec<String> = redis::cmd("ZRANGEBYLEX")
                .arg(&index_key)
                .arg(from)
                .arg("+")
                .arg("LIMIT")
                .arg(0)
                .arg(batch)
                .query_async(&mut connection)
                .await
                .map_err(store_error)?;
            let mut gone = Vec::new();
            for (tag, record) in tags.iter().zip(self.read_current(&tags).await?) {
                if record.is_none() {
                    gone.push(tag.clone());
                } else if let Some(session) = listable(tag, record, account_id, now) {
                    sessions.push(session);
                }
            }
            if !gone.is_empty() {
                self.prune_account_index(&index_key, &gone, now).await?;
            }
            if tags.len() < batch {
                break;
            }
            after = tags.last().cloned();
        }
        Ok(sessions)
    }

    /// The `:current` record of each tag (`None` when there is none), in one
    /// pipeline. Read-only: listing slides no idle timer.
    async fn read_current(&self, tags: &[String]) -> Result<Vec<Option<String>>, SessionStoreError> {
        if tags.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipeline = redis::pipe();
        for tag in tags {
            pipeline.cmd("GET").arg(self.current_key(tag));
        }
        let mut connection = self.connection.clone();
        let replies: Vec<Value> = pipeline.query_async(&mut connection).await.map_err(store_error)?;
        replies.into_iter().map(reply::record).collect()
    }

    /// Removes the index entries of credentials whose `:current` record was
    /// gone. A login racing with this may have opened one of them again
    /// meanwhile; those are put back (with the expiry their session needs),
    /// so the index never loses a live session.
    async fn prune_account_index(
        &self,
        index_key: &str,
        gone: &[String],
        now: DateTime<Utc>,
    ) -> Result<(), SessionStoreError> {
        let mut connection = self.connection.clone();
        redis::cmd("ZREM").arg(index_key).arg(gone).query_async::<()>(&mut connection).await.map_err(store_error)?;

        let reopened = self.read_current(gone).await?;
        let mut pipeline = redis::pipe();
        let mut any_reopened = false;
        for (tag, record) in gone.iter().zip(reopened) {
            let Some(Ok(session)) = record.map(|record| reply::session_of_record(&record)) else {
                continue;
            };
            let absolute_expires_at = millis(session.absolute_expires_at);
            any_reopened = true;
            let keep_ms = (absolute_expires_at - millis(now)).max(0) + GARBAGE_COLLECTION_GRACE_MS;
            pipeline.cmd("ZADD").arg(index_key).arg(0).arg(tag).ignore();
            extend_expiry(&mut pipeline, index_key, keep_ms);
        }
        if any_reopened {
            pipeline.query_async::<()>(&mut connection).await.map_err(store_error)?;
        }
        Ok(())
    }
}

/// Sets `key` to expire in `keep_ms` unless it is kept longer already
/// (Redis 7: `NX` sets a missing expiry, `GT` only lengthens one).
fn extend_expiry(pipeline: &mut redis::Pipeline, key: &str, keep_ms: i64) {
    pipeline.cmd("PEXPIRE").arg(key).arg(keep_ms).arg("NX").ignore();
    pipeline.cmd("PEXPIRE").arg(key).arg(keep_ms).arg("GT").ignore();
}

/// The session in `record`, the `:current` record of credential `tag`, if it
/// is one of `account_id`'s and its time has not passed at `now`. A record
/// that cannot be read is skipped (and logged, without its values): one bad
/// session must not hide the others.
fn listable(tag: &str, record: Option<String>, account_id: AccountId, now: DateTime<Utc>) -> Option<ActiveSession> {
    let session = match reply::session_of_record(record.as_deref()?) {
        Ok(session) => session,
        Err(error) => {
            tracing::warn!(%error, "listing skips an unreadable session");
            return None;
        }
    };
    let belongs = session.credential.account_id == account_id && session.credential.tag() == tag;
    let expired = now >= session.idle_expires_at || now >= session.absolute_expires_at;
    (belongs && !expired).then_some(session)
}

/// Whether `text` has the shape of [`CredentialKey::tag`], so it can go
/// into a key name.
fn is_credential_tag(text: &str) -> bool {
    text.len() == 16 && text.bytes().all(|byte| byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_')
}
