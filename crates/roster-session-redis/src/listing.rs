//! The two indexes beside the credential keys, and what reads them: listing
//! an account's live sessions, and finding a session by its id.
//!
//! Both live in other Cluster slots than the credential keys, so no session
//! script can write them: they are written by one pipeline right after the
//! open script (see [`RedisSessionStore::index_opened_session`]), and read
//! before the credential keys. A session is thus listed and revocable by id
//! from the moment `open` returns. Index entries are hints, never answers:
//! every one is checked against the credential's `:current` record.
//!
//! Both are packed into a few hashes rather than one key per entry (issue 6:
//! a key costs 50–90 bytes before its content, a skiplist ZSET member about
//! 130): see lib.rs for the layout, `lua/session_index.lua` and
//! `lua/account_index.lua` for the scripts that keep them.

use chrono::{DateTime, Utc};
use redis::Value;
use roster_domain::ids::{AccountId, SessionId, UserId};
use roster_session_core::{ActiveSession, CredentialKey, NewSession, SessionPage, SessionStoreError};

use crate::{millis, record, reply, store_error, RedisSessionStore, GARBAGE_COLLECTION_GRACE_MS};

/// Reads of the `:current` records a listing issues per round trip, at most.
const LISTING_BATCH: usize = 100;

/// Shards of the session index. With Redis's default
/// `hash-max-listpack-entries` (128) a shard stays a compact listpack up to
/// about 100 entries, so up to about 200,000 sessions opened within one
/// absolute lifetime; beyond, shards turn into hash tables and cost about
/// 100 bytes per entry (still less than a key each).
pub(crate) const SESSION_INDEX_SHARDS: u16 = 2048;

/// Tags an `add` of the account index carries at most (the migration of a
/// first-layout index sends many).
const ACCOUNT_INDEX_ADD_BATCH: usize = 1000;

impl RedisSessionStore {
    /// The account's credential index: a hash of tag buckets (lib.rs).
    pub(crate) fn account_index_key(&self, account_id: AccountId) -> String {
        format!("{}account:{account_id}:tags", self.key_prefix)
    }

    /// The account's credential index of the layout before: a ZSET of tags,
    /// still read (and emptied into the new one) by listings.
    pub(crate) fn legacy_account_index_key(&self, account_id: AccountId) -> String {
        format!("{}account:{account_id}:credentials", self.key_prefix)
    }

    /// The shard of the session index holding `session_id`, and its field
    /// there (the id's 16 bytes). The shard is picked by the id's last two
    /// bytes, random in version 4 and version 7 uuids alike.
    pub(crate) fn session_index_entry(&self, session_id: SessionId) -> (String, [u8; 16]) {
        let bytes = *session_id.as_uuid().as_bytes();
        let shard = u16::from_be_bytes([bytes[14], bytes[15]]) % SESSION_INDEX_SHARDS;
        (format!("{}sessions:{shard}", self.key_prefix), bytes)
    }

    /// The session's key of the layout before (a string holding its tag),
    /// still read by revocation by id until the last such session has ended.
    pub(crate) fn legacy_session_key(&self, session_id: SessionId) -> String {
        format!("{}session:{session_id}", self.key_prefix)
    }

    /// Records a session `open` just stored under credential `tag` in both
    /// indexes, and drops the index entry of the `previous` session it ended.
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
        let keep_until_s = (millis(session.absolute_expires_at) + GARBAGE_COLLECTION_GRACE_MS + 999).div_euclid(1000);
        let (shard, field) = self.session_index_entry(session.session_id);
        let mut account_index = self.scripts.account_index.key(self.account_index_key(session.credential.account_id));
        account_index.arg("add").arg(keep_ms).arg(tag);
        let mut session_index = self.scripts.session_index.key(shard);
        session_index.arg(&field[..]).arg(format!("{tag}{keep_until_s}")).arg(millis(session.created_at)).arg(keep_ms);

        let pipeline = |load: bool| {
            let mut pipeline = redis::pipe();
            if load {
                pipeline.load_script(&self.scripts.account_index).ignore();
                pipeline.load_script(&self.scripts.session_index).ignore();
            }
            pipeline.invoke_script(&account_index).ignore();
            pipeline.invoke_script(&session_index).ignore();
            if let Some(previous) = previous {
                self.forget_session_commands(&mut pipeline, previous);
            }
            pipeline
        };
        let mut connection = self.connection.clone();
        // The scripts are loaded once: sending both bodies with every login
        // cost Redis about 6 KB to read and two loads to run (issue 6,
        // scenario 2). A pipeline does not load them by itself, so when
        // Redis has lost them (a restart, a failover, `SCRIPT FLUSH`) the
        // pipeline is sent again with the loads: every command in it can
        // run twice with the same outcome.
        match pipeline(false).query_async::<()>(&mut connection).await {
            Err(error) if error.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::NoScript) => {
                pipeline(true).query_async::<()>(&mut connection).await.map_err(store_error)
            }
            outcome => outcome.map_err(store_error),
        }
    }

    /// The credential tag session `session_id` was opened under, while its
    /// index entry lasts.
    pub(crate) async fn tag_of_session(&self, session_id: SessionId) -> Result<Option<String>, SessionStoreError> {
        let (shard, field) = self.session_index_entry(session_id);
        let mut connection = self.connection.clone();
        let (entry, legacy): (Option<Vec<u8>>, Option<Vec<u8>>) = redis::pipe()
            .cmd("HGET")
            .arg(shard)
            .arg(&field[..])
            .cmd("GET")
            .arg(self.legacy_session_key(session_id))
            .query_async(&mut connection)
            .await
            .map_err(store_error)?;
        let tag = match (entry, legacy) {
            (Some(entry), _) => entry.get(..16).map(<[u8]>::to_vec).unwrap_or_default(),
            (None, Some(legacy)) => legacy,
            (None, None) => return Ok(None),
        };
        match String::from_utf8(tag) {
            Ok(tag) if is_credential_tag(&tag) => Ok(Some(tag)),
            _ => Err(SessionStoreError::Corrupt("a session index entry holds no credential tag".to_owned())),
        }
    }

    /// Adds to `pipeline` what drops the index entries of `session_id`.
    fn forget_session_commands(&self, pipeline: &mut redis::Pipeline, session_id: SessionId) {
        let (shard, field) = self.session_index_entry(session_id);
        pipeline.cmd("HDEL").arg(shard).arg(&field[..]).ignore();
        pipeline.cmd("DEL").arg(self.legacy_session_key(session_id)).ignore();
    }

    /// Drops the index entry of a session that is no longer live. Best
    /// effort: its shard drops it anyway once its absolute expiry passed.
    pub(crate) async fn forget_session_key(&self, session_id: SessionId) {
        let mut pipeline = redis::pipe();
        self.forget_session_commands(&mut pipeline, session_id);
        let mut connection = self.connection.clone();
        if let Err(error) = pipeline.query_async::<()>(&mut connection).await {
            tracing::debug!(%error, "a session index entry was left to its shard's pruning");
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
        let Ok(stored) = record::session_of_record(&record) else {
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
        self.migrate_legacy_account_index(account_id, &index_key).await?;
        let mut sessions = Vec::new();
        let mut after = cursor.unwrap_or_default().to_owned();
        let mut connection = self.connection.clone();
        while sessions.len() < wanted {
            let batch = (wanted - sessions.len()).min(LISTING_BATCH);
            let tags: Vec<String> = self
                .scripts
                .account_index
                .key(&index_key)
                .arg("page")
                .arg(&after)
                .arg(batch)
                .invoke_async(&mut connection)
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
            match tags.last() {
                Some(last) if tags.len() == batch => after = last.clone(),
                _ => break,
            }
        }
        Ok(sessions)
    }

    /// Moves the tags of the account's index of the layout before (a ZSET,
    /// which replicas not yet upgraded may still write) into its index.
    /// Idempotent; costs one round trip once the ZSET is gone.
    async fn migrate_legacy_account_index(
        &self,
        account_id: AccountId,
        index_key: &str,
    ) -> Result<(), SessionStoreError> {
        let legacy_key = self.legacy_account_index_key(account_id);
        let mut connection = self.connection.clone();
        let (tags, keep_ms): (Vec<String>, i64) = redis::pipe()
            .cmd("ZRANGE")
            .arg(&legacy_key)
            .arg(0)
            .arg(-1)
            .cmd("PTTL")
            .arg(&legacy_key)
            .query_async(&mut connection)
            .await
            .map_err(store_error)?;
        let tags: Vec<String> = tags.into_iter().filter(|tag| is_credential_tag(tag)).collect();
        if tags.is_empty() {
            return Ok(());
        }
        let keep_ms = if keep_ms > 0 { keep_ms } else { GARBAGE_COLLECTION_GRACE_MS };
        for chunk in tags.chunks(ACCOUNT_INDEX_ADD_BATCH) {
            self.scripts
                .account_index
                .key(index_key)
                .arg("add")
                .arg(keep_ms)
                .arg(chunk)
                .invoke_async::<()>(&mut connection)
                .await
                .map_err(store_error)?;
        }
        // ZREM, not DEL: a tag an old replica added meanwhile stays for the next listing.
        redis::cmd("ZREM").arg(&legacy_key).arg(&tags).query_async::<()>(&mut connection).await.map_err(store_error)
    }

    /// The `:current` record of each tag (`None` when there is none), in one
    /// pipeline. Read-only: listing slides no idle timer.
    async fn read_current(&self, tags: &[String]) -> Result<Vec<Option<Vec<u8>>>, SessionStoreError> {
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
        self.scripts
            .account_index
            .key(index_key)
            .arg("remove")
            .arg(gone)
            .invoke_async::<()>(&mut connection)
            .await
            .map_err(store_error)?;

        let reopened = self.read_current(gone).await?;
        let mut back = Vec::new();
        let mut keep_ms = 0;
        for (tag, record) in gone.iter().zip(reopened) {
            let Some(Ok(session)) = record.map(|record| record::session_of_record(&record)) else {
                continue;
            };
            back.push(tag.clone());
            keep_ms =
                keep_ms.max((millis(session.absolute_expires_at) - millis(now)).max(0) + GARBAGE_COLLECTION_GRACE_MS);
        }
        if !back.is_empty() {
            self.scripts
                .account_index
                .key(index_key)
                .arg("add")
                .arg(keep_ms)
                .arg(&back)
                .invoke_async::<()>(&mut connection)
                .await
                .map_err(store_error)?;
        }
        Ok(())
    }
}

/// The session in `record`, the `:current` record of credential `tag`, if it
/// is one of `account_id`'s and its time has not passed at `now`. A record
/// that cannot be read is skipped (and logged, without its values): one bad
/// session must not hide the others.
fn listable(tag: &str, record: Option<Vec<u8>>, account_id: AccountId, now: DateTime<Utc>) -> Option<ActiveSession> {
    let session = match record::session_of_record(record.as_deref()?) {
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
