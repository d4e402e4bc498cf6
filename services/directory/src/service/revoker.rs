//! The broker, as the directory uses it to end sessions and to drop cached
//! access (R38).

use std::time::Duration;

use roster_domain::ids::{AccountId, UserId};
use roster_domain::DomainError;
use roster_proto::session::v1::session_service_client::SessionServiceClient;
use roster_proto::session::v1::{InvalidateAccessRequest, RevokeUserSessionsRequest};
use roster_server::client::OutgoingInterceptor;
use roster_server::errors::error_from_status;
use roster_server::internal::InternalToken;
use tonic::codegen::InterceptedService;
use tonic::transport::Channel;

/// How long the directory waits for the broker to take an access change
/// (R38 wants it at gateways within a second; the change is committed, so
/// waiting longer would only hold the caller's answer back).
const INVALIDATE_TIMEOUT: Duration = Duration::from_secs(2);

/// Asks the broker, with the internal credential, to end sessions and to
/// drop cached access.
#[derive(Debug, Clone)]
pub struct SessionRevoker {
    broker: SessionServiceClient<InterceptedService<Channel, OutgoingInterceptor>>,
}

impl SessionRevoker {
    pub fn new(broker_channel: Channel, internal_token: InternalToken) -> Self {
        Self {
            broker: SessionServiceClient::with_interceptor(
                broker_channel,
                OutgoingInterceptor::internal(internal_token),
            ),
        }
    }

    /// Ends every session of one user; `reason` goes to the broker's log
    /// and events (`user_blocked`, `user_deleted`, ...).
    pub async fn revoke_user_sessions(
        &self,
        account_id: AccountId,
        user_id: UserId,
        reason: &str,
    ) -> Result<(), DomainError> {
        let request = RevokeUserSessionsRequest {
            account_id: account_id.to_string(),
            user_id: user_id.to_string(),
            reason: reason.to_owned(),
        };
        self.broker
            .clone()
            .revoke_user_sessions(request)
            .await
            .map_err(|status| error_from_status(status, "session broker"))?;
        Ok(())
    }

    /// Tells the broker that the access of `user_ids` in `account_id` (of
    /// every user of the account when empty) changed, so that every replica
    /// drops what it cached (R38). Best effort: the change is committed
    /// already, so a broker that is down, slow (more than
    /// [`INVALIDATE_TIMEOUT`]) or refusing is logged and the caller's
    /// answer stands.
    pub async fn invalidate_access(&self, account_id: AccountId, user_ids: &[UserId]) {
        let request = InvalidateAccessRequest {
            account_id: account_id.to_string(),
            user_ids: user_ids.iter().map(ToString::to_string).collect(),
        };
        let mut request = tonic::Request::new(request);
        request.set_timeout(INVALIDATE_TIMEOUT);
        let mut broker = self.broker.clone();
        let users = user_ids.len();
        match tokio::time::timeout(INVALIDATE_TIMEOUT, broker.invalidate_access(request)).await {
            Ok(Ok(_)) => tracing::debug!(%account_id, users, "broker dropped cached access"),
            Ok(Err(status)) => tracing::warn!(
                %account_id,
                users,
                code = ?status.code(),
                message = status.message(),
                "the broker did not take an access change; its cache may be stale until it expires"
            ),
            Err(_) => tracing::warn!(
                %account_id,
                users,
                timeout_ms = INVALIDATE_TIMEOUT.as_millis() as u64,
                "the broker did not answer an access change in time; its cache may be stale until it expires"
            ),
        }
    }
}
