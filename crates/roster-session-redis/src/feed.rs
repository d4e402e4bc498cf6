//! The feed over Redis pub/sub: one channel, `<key_prefix>feed`, carries
//! every session end (PUBLISHed by the session scripts, atomically with the
//! change) and every access change (PUBLISHed from Rust), so a subscriber
//! sees them in the one order Redis applied them.
//!
//! # Wire format
//!
//! Each message is one JSON object with a `type`:
//!
//! ```text
//! {"type":"session_ended","kind":"replaced","session_id":"<uuid>",
//!  "account_id":"<uuid>","user_id":"<uuid>","reason":"replaced by a newer login",
//!  "occurred_at":1893456060000,"replaced_by":"<uuid>"}
//! {"type":"access_changed","account_id":"<uuid>","user_ids":["<uuid>", ...]}
//! ```
//!
//! `kind` is a stored [`EndReason`] (`replaced`, `logged_out`, `expired`,
//! `revoked`), `occurred_at` integer milliseconds since the epoch,
//! `replaced_by` present for `replaced` only. Tokens, token hashes and
//! payloads are never in a message.
//!
//! # The subscriber task
//!
//! [`Feed::start`] subscribes on a dedicated connection before it returns
//! (so a receiver taken after `connect` misses nothing published later) and
//! spawns a task that decodes messages into a broadcast channel. When the
//! subscription breaks (the connection closes, or a ping goes unanswered)
//! the task sends [`FeedMessage::FeedLost`] once, resubscribes with backoff
//! and then sends [`FeedMessage::FeedRestored`]. The task ends when the last
//! handle of the store is dropped.

use std::time::Duration as StdDuration;

use chrono::DateTime;
use futures::StreamExt;
use redis::aio::{PubSub, PubSubSink, PubSubStream};
use redis::{Client, Msg, Value};
use roster_domain::ids::{AccountId, SessionId, UserId};
use roster_session_core::{EndReason, FeedMessage, SessionEvent, SessionStoreError};
use serde::{Deserialize, Serialize};
use tokio::sync::{broadcast, oneshot};

use crate::{store_error, CONNECTION_TIMEOUT, RESPONSE_TIMEOUT};

/// Messages a subscriber may fall behind by before it lags.
const FEED_CAPACITY: usize = 4096;
/// How often an idle subscription is checked with a ping: a Redis that
/// stopped answering without closing the connection is noticed this late.
const PING_INTERVAL: StdDuration = StdDuration::from_secs(2);
const RESUBSCRIBE_MIN_DELAY: StdDuration = StdDuration::from_millis(100);
const RESUBSCRIBE_MAX_DELAY: StdDuration = StdDuration::from_secs(1);

/// One feed message as it travels through Redis.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum WireMessage {
    SessionEnded {
        kind: String,
        session_id: SessionId,
        account_id: AccountId,
        user_id: UserId,
        reason: String,
        occurred_at: i64,
        #[serde(default)]
        replaced_by: Option<SessionId>,
    },
    AccessChanged {
        account_id: AccountId,
        user_ids: Vec<UserId>,
    },
}

impl WireMessage {
    /// The JSON text PUBLISHed for an access change.
    pub(crate) fn access_changed(account_id: AccountId, user_ids: &[UserId]) -> String {
        let message = Self::AccessChanged { account_id, user_ids: user_ids.to_vec() };
        serde_json::to_string(&message).expect("ids always serialise")
    }
}

/// Why a message could not be read; says nothing of its content.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Undecodable {
    /// Not JSON of the wire format (serde_json's category of the error).
    Format(serde_json::error::Category),
    UnknownKind,
    BadTime,
}

/// A feed message read back from its JSON text.
pub(crate) fn decode(payload: &[u8]) -> Result<FeedMessage, Undecodable> {
    // The error's text could quote the payload: only its category is kept.
    let wire: WireMessage = serde_json::from_slice(payload).map_err(|error| Undecodable::Format(error.classify()))?;
    Ok(match wire {
        WireMessage::SessionEnded { kind, session_id, account_id, user_id, reason, occurred_at, replaced_by } => {
            FeedMessage::Session(SessionEvent {
                kind: EndReason::parse_stored(&kind).ok_or(Undecodable::UnknownKind)?,
                session_id,
                account_id,
                user_id,
                reason,
                occurred_at: DateTime::from_timestamp_millis(occurred_at).ok_or(Undecodable::BadTime)?,
                replaced_by,
            })
        }
        WireMessage::AccessChanged { account_id, user_ids } => FeedMessage::AccessChanged { account_id, user_ids },
    })
}

/// The receiving end of the feed, shared by every clone of one store.
/// Dropping it stops the subscriber task.
pub(crate) struct Feed {
    sender: broadcast::Sender<FeedMessage>,
    /// Dropped with the feed, which tells the task to stop.
    _stop: oneshot::Sender<()>,
}

impl Feed {
    /// Subscribes to `channel` now (failing with `Unavailable` when Redis
    /// cannot be reached) and spawns the task that keeps the subscription.
    pub(crate) async fn start(client: Client, channel: String) -> Result<Self, SessionStoreError> {
        let subscription = subscribe(&client, &channel).await?;
        let (sender, _) = broadcast::channel(FEED_CAPACITY);
        let (stop_sender, stop) = oneshot::channel();
        tokio::spawn(keep_subscribed(client, channel, sender.clone(), stop, subscription));
        Ok(Self { sender, _stop: stop_sender })
    }

    pub(crate) fn subscribe(&self) -> broadcast::Receiver<FeedMessage> {
        self.sender.subscribe()
    }
}

/// A new pub/sub connection subscribed to `channel`, within the connection
/// and response timeouts.
async fn subscribe(client: &Client, channel: &str) -> Result<PubSub, SessionStoreError> {
    let attempt = async {
        let mut subscription = client.get_async_pubsub().await?;
        subscription.subscribe(channel).await?;
        Ok(subscription)
    };
    match tokio::time::timeout(CONNECTION_TIMEOUT + RESPONSE_TIMEOUT, attempt).await {
        Ok(result) => result.map_err(store_error),
        Err(_) => Err(SessionStoreError::Unavailable("redis feed subscription timed out".to_owned())),
    }
}

/// Why delivery stopped.
enum Interruption {
    /// The store is gone: the task ends.
    Stopped,
    /// The subscription broke: resubscribe.
    Lost,
}

/// The subscriber task: delivers, and after each break reports the loss,
/// resubscribes and reports the restoration, until the store is dropped.
async fn keep_subscribed(
    client: Client,
    channel: String,
    sender: broadcast::Sender<FeedMessage>,
    mut stop: oneshot::Receiver<()>,
    mut subscription: PubSub,
) {
    loop {
        let (sink, stream) = subscription.split();
        if let Interruption::Stopped = deliver(sink, stream, &sender, &mut stop).await {
            return;
        }
        tracing::warn!(channel = %channel, "session feed subscription lost; resubscribing");
        // An error only means nobody subscribes right now.
        let _ = sender.send(FeedMessage::FeedLost);
        let Some(renewed) = resubscribe(&client, &channel, &mut stop).await else {
            return;
        };
        subscription = renewed;
        tracing::info!(channel = %channel, "session feed subscription restored");
        let _ = sender.send(FeedMessage::FeedRestored);
    }
}

/// Forwards messages until the subscription breaks or the store is dropped.
async fn deliver(
    mut sink: PubSubSink,
    mut stream: PubSubStream,
    sender: &broadcast::Sender<FeedMessage>,
    stop: &mut oneshot::Receiver<()>,
) -> Interruption {
    let mut ping_due = tokio::time::interval_at(tokio::time::Instant::now() + PING_INTERVAL, PING_INTERVAL);
    ping_due.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = &mut *stop => return Interruption::Stopped,
            message = stream.next() => match message {
                Some(message) => forward(&message, sender),
                None => return Interruption::Lost,
            },
            _ = ping_due.tick() => {
                let answered = tokio::time::timeout(RESPONSE_TIMEOUT, sink.ping::<Value>()).await;
                if !matches!(answered, Ok(Ok(_))) {
                    return Interruption::Lost;
                }
            }
        }
    }
}

fn forward(message: &Msg, sender: &broadcast::Sender<FeedMessage>) {
    match decode(message.get_payload_bytes()) {
        Ok(feed_message) => {
            let _ = sender.send(feed_message);
        }
        Err(problem) => tracing::warn!(?problem, "skipping an undecodable session feed message"),
    }
}

/// Subscribes again, retrying with backoff; `None` when the store was
/// dropped meanwhile.
async fn resubscribe(client: &Client, channel: &str, stop: &mut oneshot::Receiver<()>) -> Option<PubSub> {
    let mut delay = RESUBSCRIBE_MIN_DELAY;
    loop {
        tokio::select! {
            _ = &mut *stop => return None,
            _ = tokio::time::sleep(delay) => {}
        }
        tokio::select! {
            _ = &mut *stop => return None,
            attempt = subscribe(client, channel) => match attempt {
                Ok(subscription) => return Some(subscription),
                Err(error) => tracing::debug!(%error, "session feed not subscribed yet"),
            },
        }
        delay = (delay * 2).min(RESUBSCRIBE_MAX_DELAY);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_changes_round_trip_through_the_wire_format() {
        let account_id = AccountId::generate();
        let user_ids = vec![UserId::generate(), UserId::generate()];
        let text = WireMessage::access_changed(account_id, &user_ids);
        assert_eq!(decode(text.as_bytes()), Ok(FeedMessage::AccessChanged { account_id, user_ids }));
    }

    #[test]
    fn session_events_decode_from_what_the_scripts_publish() {
        let (session_id, account_id, user_id, successor) =
            (SessionId::generate(), AccountId::generate(), UserId::generate(), SessionId::generate());
        // As cjson writes it: any key order, slashes escaped.
        let text = format!(
            r#"{{"occurred_at":1893456060000,"user_id":"{user_id}","kind":"replaced","type":"session_ended",
            "replaced_by":"{successor}","session_id":"{session_id}","account_id":"{account_id}",
            "reason":"replaced by a newer login \/ elsewhere"}}"#
        );
        let expected = FeedMessage::Session(SessionEvent {
            kind: EndReason::Replaced,
            session_id,
            account_id,
            user_id,
            reason: "replaced by a newer login / elsewhere".to_owned(),
            occurred_at: DateTime::from_timestamp_millis(1_893_456_060_000).unwrap(),
            replaced_by: Some(successor),
        });
        assert_eq!(decode(text.as_bytes()), Ok(expected));
    }

    #[test]
    fn undecodable_messages_are_described_without_their_content() {
        let session_id = SessionId::generate();
        let unknown_kind = format!(
            r#"{{"type":"session_ended","kind":"vanished","session_id":"{session_id}","account_id":"{session_id}",
            "user_id":"{session_id}","reason":"x","occurred_at":0}}"#
        );
        assert_eq!(decode(unknown_kind.as_bytes()), Err(Undecodable::UnknownKind));
        for garbage in ["not json secret-token", r#"{"type":"gossip"}"#, r#"{"type":"access_changed"}"#] {
            let problem = decode(garbage.as_bytes()).unwrap_err();
            assert!(matches!(problem, Undecodable::Format(_)), "{problem:?}");
            assert!(!format!("{problem:?}").contains("secret"));
        }
    }
}
