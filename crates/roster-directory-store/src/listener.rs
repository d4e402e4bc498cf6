//! Hears committed access changes on PostgreSQL (`LISTEN roster_access`,
//! sent by the trigger of `m20261203_000200_access_notifications`) and tells
//! the store's [`AccessFreshness`], so that the directory's access cache can
//! answer without reading the access version while nothing changed (issue 6).
//!
//! One connection of the pool listens, from the first
//! [`crate::SeaDirectoryStore`] call of `access_freshness` until the last
//! clone of the store is dropped or its pool is closed. A lost connection makes the freshness
//! deaf (every question reads the version again) until a new one listens;
//! reconnection backs off from 100 ms to 5 s.

use std::sync::Arc;
use std::time::Duration;

use roster_domain::freshness::AccessFreshness;
use roster_domain::ids::AccountId;
use sea_orm::sqlx::postgres::{PgListener, PgPool};
use tokio::sync::oneshot;

/// The channel the trigger notifies.
pub(crate) const CHANNEL: &str = "roster_access";
/// The transaction setting a write's tag travels in to the trigger.
pub(crate) const TAG_SETTING: &str = "roster.write";

const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const LAST_BACKOFF: Duration = Duration::from_secs(5);

/// The listening task, stopped when this is dropped.
#[derive(Debug)]
pub(crate) struct Listening {
    _stop: oneshot::Sender<()>,
}

/// Starts listening for `freshness`; `None` outside a tokio runtime.
pub(crate) fn start(pool: PgPool, freshness: Arc<AccessFreshness>) -> Option<Listening> {
    let runtime = tokio::runtime::Handle::try_current().ok()?;
    let (stop, stopped) = oneshot::channel();
    runtime.spawn(listen(pool, freshness, stopped));
    Some(Listening { _stop: stop })
}

async fn listen(pool: PgPool, freshness: Arc<AccessFreshness>, mut stopped: oneshot::Receiver<()>) {
    let mut backoff = FIRST_BACKOFF;
    loop {
        let connect = async {
            let mut listener = PgListener::connect_with(&pool).await?;
            listener.listen(CHANNEL).await?;
            Ok::<_, sea_orm::sqlx::Error>(listener)
        };
        let connected = tokio::select! {
            _ = &mut stopped => return,
            connected = connect => connected,
        };
        let mut listener = match connected {
            Ok(listener) => listener,
            // The store was closed: nothing will be asked any more.
            Err(sea_orm::sqlx::Error::PoolClosed) => return,
            Err(error) => {
                tracing::warn!(%error, "cannot listen for access changes; access questions read the version meanwhile");
                tokio::select! {
                    _ = &mut stopped => return,
                    () = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(LAST_BACKOFF);
                continue;
            }
        };
        backoff = FIRST_BACKOFF;
        freshness.listening();
        tracing::debug!("listening for access changes");
        loop {
            let next = tokio::select! {
                _ = &mut stopped => {
                    freshness.deaf();
                    return;
                }
                next = listener.try_recv() => next,
            };
            match next {
                Ok(Some(notification)) => heard(&freshness, notification.payload()),
                Ok(None) => {
                    freshness.deaf();
                    tracing::warn!("lost the connection listening for access changes; reconnecting");
                    break;
                }
                Err(sea_orm::sqlx::Error::PoolClosed) => {
                    freshness.deaf();
                    return;
                }
                Err(error) => {
                    freshness.deaf();
                    tracing::warn!(%error, "listening for access changes failed; reconnecting");
                    break;
                }
            }
        }
    }
}

/// `<account id> <tag>`; anything else counts as a change of every
/// account, which is never wrong.
fn heard(freshness: &AccessFreshness, payload: &str) {
    let (account, tag) = payload.split_once(' ').unwrap_or((payload, ""));
    match AccountId::parse("account", account) {
        Ok(account_id) => freshness.changed(Some(account_id), tag),
        Err(_) => freshness.changed(None, tag),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_payload_names_the_account_and_the_tag_and_anything_else_means_every_account() {
        let freshness = AccessFreshness::new();
        freshness.listening();
        let (acme, globex) = (AccountId::generate(), AccountId::generate());
        let (acme_watch, globex_watch) = (freshness.watch(acme).unwrap(), freshness.watch(globex).unwrap());
        let tag = freshness.own_write(Some(acme));
        heard(&freshness, &format!("{acme} {tag}"));
        assert!(!freshness.unchanged_since(acme, acme_watch));
        assert!(freshness.unchanged_since(globex, globex_watch));
        assert!(freshness.watch(acme).is_some(), "the own write's notification arrived");
        heard(&freshness, "garbled");
        assert!(!freshness.unchanged_since(globex, globex_watch));
    }
}
