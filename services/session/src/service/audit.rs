//! The broker's audit trail (R43): evictions, administrative revocations and
//! denied administrative calls are written to the directory's audit log by
//! one background worker, in batches, retried with backoff, so that no
//! login or validation waits for the directory to answer.

use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

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

/// The worker's end: [`AuditWriter::finish`] writes what is queued before
/// the broker exits.
#[derive(Debug)]
pub struct AuditWriter {
    stop: oneshot::Sender<()>,
    worker: JoinHandle<()>,
}

impl AuditTrail {
    /// Starts the worker. It ends once [`AuditWriter::finish`] was called
    /// (or the writer dropped), or every `AuditTrail` is gone, and it has
    /// written what was queued by then.
    pub fn start(directory: Directory) -> (Self, AuditWriter) {
        let (sender, receiver) = mpsc::channel(QUEUE_CAPACITY);
        let (stop, stopped) = oneshot::channel();
        let worker = tokio::spawn(write_batches(directory, Queue::new(receiver, stopped)));
        (Self { sender }, AuditWriter { stop, worker })
    }

    /// Queues one event; never waits.
    pub fn record(&self, event: SessionAudit) {
        let action = event.action;
        if let Err(error) = self.sender.try_send(event) {
            tracing::error!(action, reason = %error, "audit event dropped: the audit queue is full or closed");
        }
    }
}

impl AuditWriter {
    /// Closes the queue (a later event is dropped with an error log) and
    /// waits, at most `limit`, for the worker to write what it holds, at
    /// once rather than after [`LINGER`]: a broker that stops gracefully
    /// loses no event of R43 while the directory answers.
    pub async fn finish(self, limit: Duration) {
        let _ = self.stop.send(());
        match tokio::time::timeout(limit, self.worker).await {
            Ok(Ok(())) => tracing::debug!("audit queue written"),
            Ok(Err(error)) => tracing::error!(%error, "the audit worker failed"),
            Err(_) => tracing::error!(
                limit_ms = limit.as_millis() as u64,
                "audit events lost at shutdown: the directory did not take them in time"
            ),
        }
    }
}

/// The worker's side of the queue, and whether the broker is stopping.
struct Queue<T> {
    receiver: mpsc::Receiver<T>,
    stop: oneshot::Receiver<()>,
    stopping: bool,
}

impl<T> Queue<T> {
    fn new(receiver: mpsc::Receiver<T>, stop: oneshot::Receiver<()>) -> Self {
        Self { receiver, stop, stopping: false }
    }

    /// Waits for events and adds up to `limit` of them to `batch`; 0 once
    /// the queue is closed and empty. When the stop comes, the queue is
    /// closed and what it holds is still handed out, without waiting.
    async fn receive(&mut self, batch: &mut Vec<T>, limit: usize) -> usize {
        if !self.stopping {
            tokio::select! {
                biased;
                // Sent, or the writer dropped: stop as well.
                _ = &mut self.stop => {
                    self.stopping = true;
                    self.receiver.close();
                }
                // `recv_many` is cancel safe: nothing is lost either way.
                received = self.receiver.recv_many(batch, limit) => return received,
            }
        }
        self.receiver.recv_many(batch, limit).await
    }

    /// Adds to `batch` what arrives within [`LINGER`], up to [`BATCH`]
    /// events; returns early when the batch is full, or the queue is closed
    /// and empty (stopping, or every sender gone).
    async fn linger(&mut self, batch: &mut Vec<T>) {
        let deadline = tokio::time::Instant::now() + LINGER;
        while batch.len() < BATCH {
            match tokio::time::timeout_at(deadline, self.receive(batch, BATCH - batch.len())).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    }
}

async fn write_batches(directory: Directory, mut queue: Queue<SessionAudit>) {
    let mut batch = Vec::with_capacity(BATCH);
    while queue.receive(&mut batch, BATCH).await > 0 {
        queue.linger(&mut batch).await;
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

    fn queue() -> (mpsc::Sender<usize>, oneshot::Sender<()>, Queue<usize>) {
        let (sender, receiver) = mpsc::channel(QUEUE_CAPACITY);
        let (stop, stopped) = oneshot::channel();
        (sender, stop, Queue::new(receiver, stopped))
    }

    #[tokio::test(start_paused = true)]
    async fn a_batch_gathers_what_arrives_within_the_linger_and_no_more() {
        let (sender, _stop, mut queue) = queue();
        let mut batch = Vec::new();
        sender.send(1).await.unwrap();
        assert_eq!(queue.receive(&mut batch, BATCH).await, 1);
        tokio::spawn(async move {
            tokio::time::sleep(LINGER / 2).await;
            sender.send(2).await.unwrap();
            tokio::time::sleep(LINGER).await;
            sender.send(3).await.unwrap();
        });
        queue.linger(&mut batch).await;
        assert_eq!(batch, [1, 2], "the event after the linger waits for the next batch");
        batch.clear();
        assert_eq!(queue.receive(&mut batch, BATCH).await, 1);
        assert_eq!(batch, [3]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_full_batch_or_a_closed_queue_ends_the_linger_at_once() {
        let (sender, _stop, mut queue) = queue();
        for event in 0..BATCH + 1 {
            sender.send(event).await.unwrap();
        }
        let mut batch = Vec::new();
        queue.receive(&mut batch, 1).await;
        let started = tokio::time::Instant::now();
        queue.linger(&mut batch).await;
        assert_eq!(batch.len(), BATCH);
        assert_eq!(started.elapsed(), Duration::ZERO, "a full batch goes without waiting");

        drop(sender);
        let mut rest = Vec::new();
        queue.receive(&mut rest, BATCH).await;
        queue.linger(&mut rest).await;
        assert_eq!(rest, [BATCH]);
        assert_eq!(started.elapsed(), Duration::ZERO, "a closed queue is written without waiting");
        assert_eq!(queue.receive(&mut rest, BATCH).await, 0, "and then the worker ends");
    }

    #[tokio::test(start_paused = true)]
    async fn the_stop_hands_out_what_is_queued_at_once_and_refuses_later_events() {
        let (sender, stop, mut queue) = queue();
        let mut batch = Vec::new();
        sender.send(1).await.unwrap();
        queue.receive(&mut batch, BATCH).await;
        sender.send(2).await.unwrap();
        let stopper = tokio::spawn(async move {
            tokio::time::sleep(LINGER / 4).await;
            stop.send(()).unwrap();
            sender
        });
        let started = tokio::time::Instant::now();
        queue.linger(&mut batch).await;
        assert_eq!(batch, [1, 2]);
        assert_eq!(started.elapsed(), LINGER / 4, "the stop ends the linger");
        let sender = stopper.await.unwrap();
        assert!(sender.try_send(3).is_err(), "a closed queue takes no more events");
        assert_eq!(queue.receive(&mut batch, BATCH).await, 0);
        assert_eq!(batch, [1, 2]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_dropped_writer_stops_the_worker_too() {
        let (sender, stop, mut queue) = queue();
        sender.send(1).await.unwrap();
        drop(stop);
        let mut batch = Vec::new();
        assert_eq!(queue.receive(&mut batch, BATCH).await, 1);
        assert!(sender.try_send(2).is_err());
        assert_eq!(queue.receive(&mut batch, BATCH).await, 0, "the worker ends although a sender lives");
    }
}
