//! The broker's audit trail (R43): evictions, administrative revocations and
//! denied administrative calls are written to the directory's audit log by
//! one background worker, in batches, retried with backoff, so that no
//! login or validation waits for the directory to answer.

use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use tokio::sync::mpsc;

use super::directory::{Directory, SessionAudit};

/// Events waiting for the worker, at most; beyond that they are dropped
/// with an error log (the directory has been down for long).
const QUEUE_CAPACITY: usize = 10_000;
/// Events sent in one call, at most.
const BATCH: usize = 256;
/// After the first event of a batch, how long the worker waits for more.
/// Under a wave of logins (each replacing a session, R36) one call and one
/// directory transaction then carry many events instead of one or two each;
/// the audit log trails the broker by this much more (issue 6, scenario 2).
const LINGER: Duration = Duration::from_millis(100);

/// Hands audit events to the worker. Cheap to clone.
#[derive(Debug, Clone)]
pub struct AuditTrail {
    sender: mpsc::Sender<SessionAudit>,
}

impl AuditTrail {
    /// Starts the worker; it ends when every `AuditTrail` is dropped and
    /// the queue is empty.
    pub fn start(directory: Directory) -> Self {
        let (sender, receiver) = mpsc::channel(QUEUE_CAPACITY);
        tokio::spawn(write_batches(directory, receiver));
        Self { sender }
    }

    /// Queues one event; never waits.
    pub fn record(&self, event: SessionAudit) {
        let action = event.action;
        if let Err(error) = self.sender.try_send(event) {
            tracing::error!(action, reason = %error, "audit event dropped: the audit queue is full or closed");
        }
    }
}

/// Adds to `batch` what arrives within [`LINGER`], up to [`BATCH`] events;
/// returns early when the batch is full or every sender is gone.
async fn linger<T>(receiver: &mut mpsc::Receiver<T>, batch: &mut Vec<T>) {
    let deadline = tokio::time::Instant::now() + LINGER;
    while batch.len() < BATCH {
        // `recv_many` is cancel safe: at the deadline nothing is lost.
        match tokio::time::timeout_at(deadline, receiver.recv_many(batch, BATCH - batch.len())).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
    }
}

async fn write_batches(directory: Directory, mut receiver: mpsc::Receiver<SessionAudit>) {
    let mut batch = Vec::with_capacity(BATCH);
    while receiver.recv_many(&mut batch, BATCH).await > 0 {
        linger(&mut receiver, &mut batch).await;
        let events = std::mem::take(&mut batch);
        let count = events.len();
        let send = || {
            let events = events.clone();
            let directory = directory.clone();
            async move { directory.record(events).await }
        };
        let retries = ExponentialBuilder::default()
            .with_min_delay(Duration::from_millis(100))
            .with_max_delay(Duration::from_secs(5))
            .with_max_times(8)
            .with_jitter();
        let written = send
            .retry(retries)
            .notify(|error, wait| tracing::warn!(%error, retry_in_ms = wait.as_millis() as u64, "audit write failed"))
            .await;
        if let Err(error) = written {
            tracing::error!(%error, count, "audit events lost: the directory did not take them");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_batch_gathers_what_arrives_within_the_linger_and_no_more() {
        let (sender, mut receiver) = mpsc::channel(QUEUE_CAPACITY);
        let mut batch = Vec::new();
        sender.send(1).await.unwrap();
        assert_eq!(receiver.recv_many(&mut batch, BATCH).await, 1);
        let late = sender.clone();
        tokio::spawn(async move {
            tokio::time::sleep(LINGER / 2).await;
            late.send(2).await.unwrap();
            tokio::time::sleep(LINGER).await;
            late.send(3).await.unwrap();
        });
        linger(&mut receiver, &mut batch).await;
        assert_eq!(batch, [1, 2], "the event after the linger waits for the next batch");
        batch.clear();
        assert_eq!(receiver.recv_many(&mut batch, BATCH).await, 1);
        assert_eq!(batch, [3]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_full_batch_or_a_closed_queue_ends_the_linger_at_once() {
        let (sender, mut receiver) = mpsc::channel(QUEUE_CAPACITY);
        for event in 0..BATCH + 1 {
            sender.send(event).await.unwrap();
        }
        let mut batch = Vec::new();
        receiver.recv_many(&mut batch, 1).await;
        let started = tokio::time::Instant::now();
        linger(&mut receiver, &mut batch).await;
        assert_eq!(batch.len(), BATCH);
        assert_eq!(started.elapsed(), Duration::ZERO, "a full batch goes without waiting");

        drop(sender);
        let mut rest = Vec::new();
        receiver.recv_many(&mut rest, BATCH).await;
        linger(&mut receiver, &mut rest).await;
        assert_eq!(rest, [BATCH]);
        assert_eq!(started.elapsed(), Duration::ZERO, "a closed queue is written without waiting");
    }
}
