//! The Redis store's key layout and indexes: what each key holds, what a
//! live session costs in memory (issue 6), how the indexes are kept and
//! paged, its answers to bad stored data, and the data of the layout before
//! that it still reads. (Failure behaviour is in `redis_only.rs`, the feed
//! in `feed.rs`.)

mod common;

use std::collections::HashMap;

use chrono::Duration;
use common::{new_session, now_in_millis, raw_connection};
use roster_domain::ids::{AccountId, SessionId, UserId};
use roster_session_core::{CredentialKey, EndReason, SessionStore, SessionStoreError, SessionToken, Validation};
use roster_session_redis::RedisSessionStore;

/// The 16-byte form of a uuid the compact record and the session index keep.
fn uuid_bytes(id: impl std::fmt::Display) -> Vec<u8> {
    uuid::Uuid::parse_str(&id.to_string()).unwrap().as_bytes().to_vec()
}

/// The shard of the session index holding `session_id` (as `listing.rs`).
fn session_shard(prefix: &str, session_id: SessionId) -> String {
    let bytes = uuid_bytes(session_id);
    format!("{prefix}sessions:{}", u16::from_be_bytes([bytes[14], bytes[15]]) % 2048)
}

/// Every tag in an account index (a hash of sorted tag buckets), in order.
async fn indexed_tags(raw: &mut redis::aio::MultiplexedConnection, index_key: &str) -> Vec<String> {
    let buckets: HashMap<String, String> = redis::cmd("HGETALL").arg(index_key).query_async(raw).await.unwrap();
    let mut tags = Vec::new();
    for (bucket, packed) in buckets {
        assert_eq!(packed.len() % 16, 0, "{packed}");
        let in_bucket: Vec<String> =
            packed.as_bytes().chunks(16).map(|tag| String::from_utf8(tag.to_vec()).unwrap()).collect();
        assert!(in_bucket.windows(2).all(|pair| pair[0] < pair[1]), "a bucket is sorted: {in_bucket:?}");
        assert!(in_bucket.iter().all(|tag| tag.starts_with(&bucket)));
        tags.extend(in_bucket);
    }
    tags.sort();
    tags
}

#[tokio::test]
async fn keys_carry_the_credential_hash_tag_and_outlive_the_absolute_lifetime() {
    let store = common::fresh_store().await;
    let prefix = store.key_prefix().to_owned();
    let credential = CredentialKey::new(AccountId::generate(), UserId::generate());
    let created_at = now_in_millis();
    let first = SessionToken::issue(&credential);
    let first_session = new_session(credential, created_at);
    store.open(&first, first_session.clone()).await.unwrap();
    let second = SessionToken::issue(&credential);
    let second_session = new_session(credential, created_at);
    store.open(&second, second_session.clone()).await.unwrap();

    let mut raw = raw_connection().await;
    let mut keys: Vec<String> = redis::cmd("KEYS").arg(format!("{prefix}*")).query_async(&mut raw).await.unwrap();
    keys.sort();
    let tag = credential.tag();
    let current_key = format!("{prefix}{{{tag}}}:current");
    let ended_key = format!("{prefix}{{{tag}}}:ended");
    let index_key = format!("{prefix}account:{}:tags", credential.account_id);
    let shard = session_shard(&prefix, second_session.session_id);
    let mut expected = vec![index_key.clone(), shard.clone(), current_key.clone(), ended_key.clone()];
    // Both sessions may share a shard; the replaced one's entry went anyway.
    let first_shard = session_shard(&prefix, first_session.session_id);
    if first_shard != shard {
        let first_entries: i64 = redis::cmd("HLEN").arg(&first_shard).query_async(&mut raw).await.unwrap();
        assert_eq!(first_entries, 0, "the replaced session's index entry went with it");
        expected.retain(|key| key != &first_shard);
    }
    assert_eq!(keys, expected);

    assert_eq!(indexed_tags(&mut raw, &index_key).await, vec![tag.clone()]);
    let entries: HashMap<Vec<u8>, String> = redis::cmd("HGETALL").arg(&shard).query_async(&mut raw).await.unwrap();
    let keep_until_s = (second_session.absolute_expires_at.timestamp_millis() + 10 * 60 * 1000 + 999) / 1000;
    assert_eq!(entries, HashMap::from([(uuid_bytes(second_session.session_id), format!("{tag}{keep_until_s}"))]));

    // The compact record (lib.rs): 97 bytes of bookkeeping, then free text.
    let current: Vec<u8> = redis::cmd("GET").arg(&current_key).query_async(&mut raw).await.unwrap();
    let hash = second.hash();
    let hash_prefix: Vec<u8> =
        (0..16).map(|index| u8::from_str_radix(&hash.as_str()[2 * index..2 * index + 2], 16).unwrap()).collect();
    assert_eq!(current[0], 2);
    assert_eq!(&current[1..17], hash_prefix.as_slice());
    assert_eq!(current[17..33], uuid_bytes(second_session.session_id));
    assert_eq!(current[33..49], uuid_bytes(credential.account_id));
    assert_eq!(current[49..65], uuid_bytes(credential.user_id));
    let time_at = |at: usize| {
        let mut bytes = [0u8; 8];
        bytes[2..].copy_from_slice(&current[at..at + 6]);
        i64::from_be_bytes(bytes)
    };
    assert_eq!(time_at(65), created_at.timestamp_millis());
    assert_eq!(time_at(83), second_session.absolute_expires_at.timestamp_millis());
    assert_eq!(current[89..93], (15u32 * 60 * 1000).to_be_bytes());
    assert_eq!(current[93..95], (second_session.client_address.len() as u16).to_be_bytes());
    assert_eq!(current[95..97], (second_session.user_agent.len() as u16).to_be_bytes());
    let free_text = format!("{}{}{}", second_session.client_address, second_session.user_agent, second_session.payload);
    assert_eq!(&current[97..], free_text.as_bytes());
    let contains = |needle: &[u8]| current.windows(needle.len()).any(|window| window == needle);
    assert!(!contains(second.expose().as_bytes()), "the token itself is never stored");
    assert!(!contains(hash.as_str().as_bytes()), "nor its hash in hex");

    // Tombstones are kept under the first 32 hex digits of the hash.
    let ended: HashMap<String, String> = redis::cmd("HGETALL").arg(&ended_key).query_async(&mut raw).await.unwrap();
    let absolute = (created_at + Duration::hours(12)).timestamp_millis();
    assert_eq!(ended, HashMap::from([(first.hash().as_str()[..32].to_owned(), format!("replaced|{absolute}"))]));

    // Garbage collection only: every key lives past the absolute expiry,
    // and not much longer.
    let twelve_hours_ms = 12 * 60 * 60 * 1000;
    for key in [&current_key, &ended_key, &index_key, &shard] {
        let ttl: i64 = redis::cmd("PTTL").arg(key).query_async(&mut raw).await.unwrap();
        assert!(ttl > twelve_hours_ms, "{key} expires too early: {ttl} ms");
        assert!(ttl <= twelve_hours_ms + 11 * 60 * 1000, "{key} is kept far too long: {ttl} ms");
    }
}

/// Issue 6: a live session costs at most 512 bytes of Redis memory. Its
/// `:current` key (with a browser's user agent, an IPv4 address and the
/// broker's payload) and its share of the two indexes, as `MEMORY USAGE`
/// counts them, stay well under it. A size bound, not a timing one.
#[tokio::test]
async fn a_live_session_stays_within_its_memory_budget() {
    const SESSIONS: usize = 300;
    // A prefix as long as the production one ("roster:"), within a size
    // class of it, so that key names cost what they cost in production.
    let short_prefix = format!("r:{}:", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let store = RedisSessionStore::connect(&common::test_redis_url(), &short_prefix).await.unwrap();
    let account_id = AccountId::generate();
    let now = now_in_millis();
    let mut tags = Vec::new();
    for number in 0..SESSIONS {
        let credential = CredentialKey::new(account_id, UserId::generate());
        let mut session = new_session(credential, now);
        session.user_agent = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0".to_owned();
        session.client_address = "203.0.113.7".to_owned();
        session.payload = format!(r#"{{"s":"shop","l":"user-{number:06}","d":"User Number {number:06}","r":false}}"#);
        store.open(&SessionToken::issue(&credential), session).await.unwrap();
        tags.push(credential.tag());
    }
    let mut raw = raw_connection().await;
    let memory_usage = |key: String| {
        let mut raw = raw.clone();
        async move {
            let bytes: i64 =
                redis::cmd("MEMORY").arg("USAGE").arg(&key).arg("SAMPLES").arg(0).query_async(&mut raw).await.unwrap();
            bytes
        }
    };
    let mut largest_record = 0;
    for tag in &tags {
        largest_record = largest_record.max(memory_usage(format!("{short_prefix}{{{tag}}}:current")).await);
    }
    // MEMORY USAGE counts the key's entry, name, object and value: the text
    // record of the layout before took 536 bytes here.
    assert!(largest_record <= 344, "a :current key takes {largest_record} bytes");

    let index_key = format!("{short_prefix}account:{account_id}:tags");
    let per_credential = memory_usage(index_key.clone()).await / SESSIONS as i64;
    // A ZSET member took about 130 bytes; the buckets' own overhead shrinks
    // as they fill (about 17 bytes a credential at 100,000).
    assert!(per_credential <= 32, "the account index takes {per_credential} bytes a credential");

    // The session index: each entry is a 16-byte field and a 26-byte value
    // in a listpack (about 46 bytes); the shards' own overhead shrinks as
    // they fill (about 5 bytes a session at 100,000 sessions).
    let shards: Vec<String> =
        redis::cmd("KEYS").arg(format!("{short_prefix}sessions:*")).query_async(&mut raw).await.unwrap();
    let mut entries = 0;
    for shard in &shards {
        let encoding: String = redis::cmd("OBJECT").arg("ENCODING").arg(shard).query_async(&mut raw).await.unwrap();
        assert_eq!(encoding, "listpack", "{shard}");
        let length: usize = redis::cmd("HLEN").arg(shard).query_async(&mut raw).await.unwrap();
        entries += length;
    }
    assert_eq!(entries, SESSIONS);
    let encoding: String = redis::cmd("OBJECT").arg("ENCODING").arg(&index_key).query_async(&mut raw).await.unwrap();
    assert!(encoding == "listpack" || encoding == "hashtable", "{encoding}");
    // What MEMORY USAGE leaves out: the key's expiry entry (32 bytes) and its
    // share of the two dict tables (about 21).
    let per_session = largest_record + 53 + per_credential + 46 + 16;
    assert!(per_session <= 512, "{per_session} bytes a session");
    let _: () = redis::cmd("DEL").arg(&shards).arg(&index_key).query_async(&mut raw).await.unwrap();
    for tag in &tags {
        let _: () =
            redis::cmd("DEL").arg(format!("{short_prefix}{{{tag}}}:current")).query_async(&mut raw).await.unwrap();
    }
}

/// Listing prunes the account index: a credential whose `:current` record is
/// gone (its session ended, or its key expired) leaves the index, and the
/// others stay listed.
#[tokio::test]
async fn listing_removes_index_entries_of_credentials_whose_session_is_gone() {
    let store = common::fresh_store().await;
    let account_id = AccountId::generate();
    let now = now_in_millis();
    let mut tokens = Vec::new();
    for _ in 0..4 {
        let credential = CredentialKey::new(account_id, UserId::generate());
        let token = SessionToken::issue(&credential);
        store.open(&token, new_session(credential, now)).await.unwrap();
        tokens.push((credential, token));
    }
    let (logged_out, logged_out_token) = &tokens[0];
    let (vanished, _) = &tokens[1];
    store.logout(logged_out_token, now).await.unwrap();
    let mut raw = raw_connection().await;
    let vanished_key = format!("{}{{{}}}:current", store.key_prefix(), vanished.tag());
    let _: () = redis::cmd("DEL").arg(&vanished_key).query_async(&mut raw).await.unwrap();

    let page = store.list_sessions(account_id, None, None, 10, now).await.unwrap();
    let listed: Vec<String> = page.sessions.iter().map(|session| session.credential.tag()).collect();
    let mut expected = vec![tokens[2].0.tag(), tokens[3].0.tag()];
    expected.sort();
    assert_eq!(listed, expected);

    let index_key = format!("{}account:{account_id}:tags", store.key_prefix());
    let indexed = indexed_tags(&mut raw, &index_key).await;
    assert_eq!(indexed, expected, "{} and {} left the index", logged_out.tag(), vanished.tag());
    let ttl: i64 = redis::cmd("PTTL").arg(&index_key).query_async(&mut raw).await.unwrap();
    assert!(ttl > 12 * 60 * 60 * 1000, "the index keeps its expiry: {ttl} ms");
}

/// Issue 6: an open sends the index scripts' hashes only, not their bodies;
/// when Redis has lost the scripts (`SCRIPT FLUSH`, as after a restart or a
/// failover) the open still writes both indexes and drops the replaced
/// session's entry. Other tests' scripts reload themselves on `NOSCRIPT`.
#[tokio::test]
async fn an_open_after_redis_lost_its_scripts_still_writes_both_indexes() {
    let store = common::fresh_store().await;
    let prefix = store.key_prefix().to_owned();
    let account_id = AccountId::generate();
    let now = now_in_millis();
    let first = CredentialKey::new(account_id, UserId::generate());
    let replaced = new_session(first, now);
    store.open(&SessionToken::issue(&first), replaced.clone()).await.unwrap();
    let mut raw = raw_connection().await;

    let _: () = redis::cmd("SCRIPT").arg("FLUSH").query_async(&mut raw).await.unwrap();
    let second = CredentialKey::new(account_id, UserId::generate());
    let other = new_session(second, now);
    store.open(&SessionToken::issue(&second), other.clone()).await.unwrap();
    let _: () = redis::cmd("SCRIPT").arg("FLUSH").query_async(&mut raw).await.unwrap();
    let replacement = new_session(first, now);
    store.open(&SessionToken::issue(&first), replacement.clone()).await.unwrap();

    let index_key = format!("{prefix}account:{account_id}:tags");
    let mut expected = vec![first.tag(), second.tag()];
    expected.sort();
    assert_eq!(indexed_tags(&mut raw, &index_key).await, expected);
    for (session, indexed) in [(&replaced, false), (&other, true), (&replacement, true)] {
        let shard = session_shard(&prefix, session.session_id);
        let exists: bool =
            redis::cmd("HEXISTS").arg(&shard).arg(uuid_bytes(session.session_id)).query_async(&mut raw).await.unwrap();
        assert_eq!(exists, indexed, "session {}", session.session_id);
    }
    let found = store.find_session(replacement.session_id, now).await.unwrap();
    assert_eq!(found.map(|session| session.session_id), Some(replacement.session_id));
}

/// Listing pages through the account index in tag order across its
/// buckets, whatever the page size, each tag once.
#[tokio::test]
async fn listing_pages_through_every_bucket_in_tag_order() {
    let store = common::fresh_store().await;
    let account_id = AccountId::generate();
    let now = now_in_millis();
    let mut expected = Vec::new();
    for _ in 0..150 {
        let credential = CredentialKey::new(account_id, UserId::generate());
        store.open(&SessionToken::issue(&credential), new_session(credential, now)).await.unwrap();
        expected.push(credential.tag());
    }
    expected.sort();
    for limit in [1, 7, 64, 150, 500] {
        let mut listed = Vec::new();
        let mut cursor = None;
        loop {
            let page = store.list_sessions(account_id, None, cursor.as_deref(), limit, now).await.unwrap();
            assert!(page.sessions.len() <= limit);
            listed.extend(page.sessions.iter().map(|session| session.credential.tag()));
            match page.next_cursor {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        assert_eq!(listed, expected, "pages of {limit}");
    }
    // Any cursor, even one no tag looks like, pages from where it sorts.
    for cursor in ["", "!", "-", "M", "Mzzzzzzzzzzzzzzzzz", "_", "zzzzzzzzzzzzzzzz", "~"] {
        let page = store.list_sessions(account_id, None, Some(cursor), 500, now).await.unwrap();
        let listed: Vec<String> = page.sessions.iter().map(|session| session.credential.tag()).collect();
        let after: Vec<String> = expected.iter().filter(|tag| tag.as_str() > cursor).cloned().collect();
        assert_eq!(listed, after, "after {cursor:?}");
    }
}

/// `revoke_session` finds the credential through the session index, whose
/// entry goes with the session; an entry naming a credential whose live
/// session is another one ends nothing.
#[tokio::test]
async fn revoke_session_goes_through_the_session_index_and_drops_its_entry() {
    let store = common::fresh_store().await;
    let prefix = store.key_prefix().to_owned();
    let credential = CredentialKey::new(AccountId::generate(), UserId::generate());
    let now = now_in_millis();
    let token = SessionToken::issue(&credential);
    let session = new_session(credential, now);
    store.open(&token, session.clone()).await.unwrap();
    let shard = session_shard(&prefix, session.session_id);
    let mut raw = raw_connection().await;

    let stale = new_session(credential, now).session_id;
    let stale_shard = session_shard(&prefix, stale);
    let stale_entry = format!("{}9999999999", credential.tag());
    let _: () = redis::cmd("HSET")
        .arg(&stale_shard)
        .arg(uuid_bytes(stale))
        .arg(&stale_entry)
        .query_async(&mut raw)
        .await
        .unwrap();
    assert_eq!(store.revoke_session(stale, "administrator", now).await.unwrap(), None);
    assert!(matches!(store.validate(&token, now).await.unwrap(), Validation::Active(_)));
    let exists: bool =
        redis::cmd("HEXISTS").arg(&stale_shard).arg(uuid_bytes(stale)).query_async(&mut raw).await.unwrap();
    assert!(!exists, "an entry naming no live session is dropped");

    let revoked = store.revoke_session(session.session_id, "administrator", now).await.unwrap();
    assert_eq!(revoked.map(|session| session.session_id), Some(session.session_id));
    let exists: bool =
        redis::cmd("HEXISTS").arg(&shard).arg(uuid_bytes(session.session_id)).query_async(&mut raw).await.unwrap();
    assert!(!exists, "the revoked session's entry went with it");

    let _: () = redis::cmd("HSET")
        .arg(&stale_shard)
        .arg(uuid_bytes(stale))
        .arg("not}a{tag-------9999999999")
        .query_async(&mut raw)
        .await
        .unwrap();
    let outcome = store.revoke_session(stale, "administrator", now).await;
    assert!(matches!(outcome, Err(SessionStoreError::Corrupt(_))), "{outcome:?}");
}

/// The session index has no expiry per entry: adding to a shard drops its
/// entries whose session's absolute expiry (plus grace) has passed, so a
/// shard never holds more than one absolute lifetime of sessions.
#[tokio::test]
async fn the_session_index_drops_entries_past_their_time() {
    let store = common::fresh_store().await;
    let prefix = store.key_prefix().to_owned();
    let credential = CredentialKey::new(AccountId::generate(), UserId::generate());
    let now = now_in_millis();
    let session = new_session(credential, now);
    let shard = session_shard(&prefix, session.session_id);
    let mut raw = raw_connection().await;
    // Two entries in the same shard: one whose time passed a second ago,
    // one whose time is still to come.
    let past = format!("{}{}", credential.tag(), now.timestamp() - 1);
    let future = format!("{}{}", credential.tag(), now.timestamp() + 3600);
    let _: () = redis::cmd("HSET")
        .arg(&shard)
        .arg(b"past-entry-16byt".as_slice())
        .arg(&past)
        .arg(b"next-entry-16byt".as_slice())
        .arg(&future)
        .query_async(&mut raw)
        .await
        .unwrap();
    store.open(&SessionToken::issue(&credential), session.clone()).await.unwrap();
    let mut fields: Vec<Vec<u8>> = redis::cmd("HKEYS").arg(&shard).query_async(&mut raw).await.unwrap();
    fields.sort();
    let mut expected = vec![b"next-entry-16byt".to_vec(), uuid_bytes(session.session_id)];
    expected.sort();
    assert_eq!(fields, expected);
}

/// Sessions opened before the compact layout stay valid after the upgrade:
/// a text record validates (and slides), logs out to a tombstone under its
/// full hash; its first-layout session key and account ZSET still serve
/// revocation by id and listing.
#[tokio::test]
async fn sessions_of_the_layout_before_keep_working() {
    let store = common::fresh_store().await;
    let prefix = store.key_prefix().to_owned();
    let account_id = AccountId::generate();
    let credential = CredentialKey::new(account_id, UserId::generate());
    let tag = credential.tag();
    let now = now_in_millis();
    let token = SessionToken::issue(&credential);
    let session_id = new_session(credential, now).session_id;
    let (created, absolute) = (now.timestamp_millis(), (now + Duration::hours(12)).timestamp_millis());
    let idle = created + 15 * 60 * 1000;
    let record = format!(
        "{}|{session_id}|{account_id}|{}|{created}|{created}|{idle}|{absolute}|900000|10|4|192.0.2.10test{{}}",
        token.hash().as_str(),
        credential.user_id
    );
    let mut raw = raw_connection().await;
    let current_key = format!("{prefix}{{{tag}}}:current");
    let _: () = redis::cmd("SET").arg(&current_key).arg(&record).query_async(&mut raw).await.unwrap();
    let _: () =
        redis::cmd("SET").arg(format!("{prefix}session:{session_id}")).arg(&tag).query_async(&mut raw).await.unwrap();
    let legacy_index = format!("{prefix}account:{account_id}:credentials");
    let _: () = redis::cmd("ZADD").arg(&legacy_index).arg(0).arg(&tag).query_async(&mut raw).await.unwrap();

    let Validation::Active(active) = store.validate(&token, now).await.unwrap() else { panic!("not active") };
    assert_eq!((active.session_id, active.credential), (session_id, credential));
    assert_eq!(
        (active.client_address.as_str(), active.user_agent.as_str(), active.payload.as_str()),
        ("192.0.2.10", "test", "{}")
    );
    let later = now + Duration::minutes(5);
    let Validation::Active(slid) = store.validate(&token, later).await.unwrap() else { panic!("not active") };
    assert_eq!(slid.idle_expires_at, later + Duration::minutes(15));
    let text: String = redis::cmd("GET").arg(&current_key).query_async(&mut raw).await.unwrap();
    assert!(text.starts_with(token.hash().as_str()), "a text record stays a text record when slid");

    let page = store.list_sessions(account_id, None, None, 10, now).await.unwrap();
    assert_eq!(page.sessions.iter().map(|session| session.session_id).collect::<Vec<_>>(), vec![session_id]);
    let legacy_left: i64 = redis::cmd("ZCARD").arg(&legacy_index).query_async(&mut raw).await.unwrap();
    assert_eq!(legacy_left, 0, "the first-layout index was moved into the new one");
    assert_eq!(store.find_session(session_id, now).await.unwrap().map(|session| session.session_id), Some(session_id));

    assert!(matches!(store.logout(&token, later).await.unwrap(), Validation::Active(_)));
    assert_eq!(store.validate(&token, later).await.unwrap(), Validation::Ended(EndReason::LoggedOut));
    let tombstone: Option<String> = redis::cmd("HGET")
        .arg(format!("{prefix}{{{tag}}}:ended"))
        .arg(token.hash().as_str())
        .query_async(&mut raw)
        .await
        .unwrap();
    assert!(tombstone.is_some_and(|tombstone| tombstone.starts_with("logged_out|")));

    // Revocation by id of a text-record session, found through its old key.
    let second = SessionToken::issue(&credential);
    let second_id = new_session(credential, now).session_id;
    let record = record
        .replace(token.hash().as_str(), second.hash().as_str())
        .replace(&session_id.to_string(), &second_id.to_string());
    let _: () = redis::cmd("SET").arg(&current_key).arg(&record).query_async(&mut raw).await.unwrap();
    let _: () =
        redis::cmd("SET").arg(format!("{prefix}session:{second_id}")).arg(&tag).query_async(&mut raw).await.unwrap();
    let revoked = store.revoke_session(second_id, "administrator", now).await.unwrap();
    assert_eq!(revoked.map(|session| session.session_id), Some(second_id));
    assert_eq!(store.validate(&second, now).await.unwrap(), Validation::Ended(EndReason::Revoked));
}

#[tokio::test]
async fn unreadable_stored_sessions_are_corrupt_not_unavailable() {
    let store = common::fresh_store().await;
    let credential = CredentialKey::new(AccountId::generate(), UserId::generate());
    let token = SessionToken::issue(&credential);
    let now = now_in_millis();
    let session = new_session(credential, now);
    store.open(&token, session.clone()).await.unwrap();
    let current_key = format!("{}{{{}}}:current", store.key_prefix(), credential.tag());
    let mut raw = raw_connection().await;

    // A compact record cut short.
    let record: Vec<u8> = redis::cmd("GET").arg(&current_key).query_async(&mut raw).await.unwrap();
    let _: () = redis::cmd("SET").arg(&current_key).arg(&record[..60]).query_async(&mut raw).await.unwrap();
    let outcome = store.validate(&token, now).await;
    assert!(matches!(outcome, Err(SessionStoreError::Corrupt(_))), "{outcome:?}");

    // Unreadable times in an otherwise well-formed text record.
    let text = format!(
        "{}|{}|{}|{}|1|2|soon|4|900000|0|0|",
        token.hash().as_str(),
        session.session_id,
        credential.account_id,
        credential.user_id
    );
    let _: () = redis::cmd("SET").arg(&current_key).arg(text).query_async(&mut raw).await.unwrap();
    let outcome = store.validate(&token, now).await;
    assert!(matches!(outcome, Err(SessionStoreError::Corrupt(_))), "{outcome:?}");

    // Not a record at all, and not a string at all.
    let _: () = redis::cmd("SET").arg(&current_key).arg("not a session").query_async(&mut raw).await.unwrap();
    let outcome = store.validate(&token, now).await;
    assert!(matches!(outcome, Err(SessionStoreError::Corrupt(_))), "{outcome:?}");
    let _: () = redis::cmd("DEL").arg(&current_key).query_async(&mut raw).await.unwrap();
    let _: () = redis::cmd("HSET").arg(&current_key).arg("a").arg("b").query_async(&mut raw).await.unwrap();
    let outcome = store.validate(&token, now).await;
    assert!(matches!(outcome, Err(SessionStoreError::Corrupt(_))), "{outcome:?}");
    let _: () = redis::cmd("DEL").arg(&current_key).query_async(&mut raw).await.unwrap();
}

/// A live session of the first layout (a hash) cannot be validated, but the
/// credential's next login replaces it.
#[tokio::test]
async fn a_login_replaces_a_session_stored_in_the_first_layout() {
    let store = common::fresh_store().await;
    let credential = CredentialKey::new(AccountId::generate(), UserId::generate());
    let current_key = format!("{}{{{}}}:current", store.key_prefix(), credential.tag());
    let mut raw = raw_connection().await;
    let _: () = redis::cmd("HSET").arg(&current_key).arg("token_hash").arg("x").query_async(&mut raw).await.unwrap();
    let now = now_in_millis();
    let token = SessionToken::issue(&credential);
    store.open(&token, new_session(credential, now)).await.expect("the login replaces the old hash");
    assert!(matches!(store.validate(&token, now).await, Ok(Validation::Active(_))));
}
