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

async fn write_batches(directory: Directory, mut receiver: mpsc::Receiver<SessionAudit>) {
    let mut batch = Vec::with_capacity(BATCH);
    while receiver.recv_many(&mut batch, BATCH).await > 0 {
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
