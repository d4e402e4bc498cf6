//! At most a few login attempts of one credential in flight in this
//! process (R36, R39).
//!
//! The lockout lets at most `max_failures` attempts of a credential run at
//! once; any more wait until those settle. Without a gate, every waiter
//! polls the credential's row, so a storm of logins of one credential turns
//! into a storm of write transactions on one row and slows every login.
//! The gate queues them here instead, fairly (FIFO), with no database work,
//! and lets through as many as the lockout could allow. Replicas each have
//! their own gate; across replicas the lockout's settle wait still holds.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use roster_domain::ids::UserId;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

/// The waiting room of each credential with attempts in flight.
#[derive(Debug, Clone)]
pub struct CredentialGate {
    limit: usize,
    rooms: Arc<Mutex<HashMap<UserId, Arc<Semaphore>>>>,
}

/// One attempt let through; the next waiter goes when it drops.
#[derive(Debug)]
pub struct GatePass {
    permit: Option<OwnedSemaphorePermit>,
    user_id: UserId,
    gate: CredentialGate,
}

impl CredentialGate {
    /// Lets `limit` attempts of one credential through at once (at least
    /// one).
    pub fn new(limit: usize) -> Self {
        Self { limit: limit.max(1), rooms: Arc::default() }
    }

    /// Waits for a pass for `user_id`'s credential until `deadline`; `None`
    /// when the deadline passed first (overload: the caller answers
    /// `RESOURCE_EXHAUSTED`).
    pub async fn enter(&self, user_id: UserId, deadline: Instant) -> Option<GatePass> {
        let room = {
            let mut rooms = self.rooms.lock().expect("login gate lock");
            rooms.entry(user_id).or_insert_with(|| Arc::new(Semaphore::new(self.limit))).clone()
        };
        let admitted = tokio::time::timeout_at(deadline, room.clone().acquire_owned()).await;
        // The room outlives a waiter that gave up only if others use it.
        let pass = match admitted {
            Ok(Ok(permit)) => Some(GatePass { permit: Some(permit), user_id, gate: self.clone() }),
            _ => None,
        };
        if pass.is_none() {
            self.leave(user_id, room);
        }
        pass
    }

    /// Forgets the credential's room once nobody holds or awaits it.
    fn leave(&self, user_id: UserId, room: Arc<Semaphore>) {
        let mut rooms = self.rooms.lock().expect("login gate lock");
        // Ours and the map's: nobody else holds a pass or waits.
        if Arc::strong_count(&room) == 2 {
            rooms.remove(&user_id);
        }
    }

    #[cfg(test)]
    fn rooms(&self) -> usize {
        self.rooms.lock().expect("login gate lock").len()
    }
}

impl Drop for GatePass {
    fn drop(&mut self) {
        let Some(permit) = self.permit.take() else {
            return;
        };
        let room = permit.semaphore().clone();
        drop(permit);
        self.gate.leave(self.user_id, room);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn soon() -> Instant {
        Instant::now() + Duration::from_secs(5)
    }

    #[tokio::test]
    async fn lets_through_the_limit_and_queues_the_rest() {
        let gate = CredentialGate::new(2);
        let user = UserId::generate();
        let first = gate.enter(user, soon()).await.unwrap();
        let _second = gate.enter(user, soon()).await.unwrap();
        let third = tokio::spawn({
            let gate = gate.clone();
            async move { gate.enter(user, soon()).await.is_some() }
        });
        tokio::task::yield_now().await;
        assert!(!third.is_finished(), "a third attempt waits while two are in flight");
        drop(first);
        assert!(third.await.unwrap(), "it goes when one ends");
    }

    #[tokio::test]
    async fn other_credentials_do_not_wait() {
        let gate = CredentialGate::new(1);
        let _held = gate.enter(UserId::generate(), soon()).await.unwrap();
        assert!(gate.enter(UserId::generate(), soon()).await.is_some());
    }

    #[tokio::test]
    async fn a_waiter_past_its_deadline_gets_no_pass() {
        let gate = CredentialGate::new(1);
        let user = UserId::generate();
        let _held = gate.enter(user, soon()).await.unwrap();
        assert!(gate.enter(user, Instant::now() + Duration::from_millis(10)).await.is_none());
    }

    #[tokio::test]
    async fn rooms_are_forgotten_when_empty() {
        let gate = CredentialGate::new(1);
        let user = UserId::generate();
        let pass = gate.enter(user, soon()).await.unwrap();
        assert_eq!(gate.rooms(), 1);
        drop(pass);
        assert_eq!(gate.rooms(), 0);
    }
}
