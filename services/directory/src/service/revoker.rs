//! The broker, as the directory uses it to end sessions (R38).

use roster_domain::ids::{AccountId, UserId};
use roster_domain::DomainError;
use roster_proto::session::v1::session_service_client::SessionServiceClient;
use roster_proto::session::v1::RevokeUserSessionsRequest;
use roster_server::client::OutgoingInterceptor;
use roster_server::errors::error_from_status;
use roster_server::internal::InternalToken;
use tonic::codegen::InterceptedService;
use tonic::transport::Channel;

/// Asks the broker, with the internal credential, to end sessions.
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
}
