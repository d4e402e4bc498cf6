//! Who is calling: the bearer token is validated by the session broker, the
//! internal credential is checked locally.

use roster_domain::caller::{AuthenticatedUser, Caller};
use roster_domain::ids::{AccountId, SessionId, UserId};
use roster_domain::DomainError;
use roster_proto::session::v1::session_service_client::SessionServiceClient;
use roster_proto::session::v1::ValidateSessionRequest;
use roster_server::client::OutgoingInterceptor;
use roster_server::errors::error_from_status;
use roster_server::internal::InternalToken;
use roster_server::metadata::bearer_token;
use tonic::codegen::InterceptedService;
use tonic::metadata::MetadataMap;
use tonic::transport::Channel;

type BrokerClient = SessionServiceClient<InterceptedService<Channel, OutgoingInterceptor>>;

/// Establishes the caller of each request.
#[derive(Debug, Clone)]
pub struct Authenticator {
    broker: BrokerClient,
    internal_token: InternalToken,
}

impl Authenticator {
    pub fn new(broker_channel: Channel, internal_token: InternalToken) -> Self {
        let broker = SessionServiceClient::with_interceptor(broker_channel, OutgoingInterceptor::plain());
        Self { broker, internal_token }
    }

    /// The internal credential wins; then a bearer token, validated by the
    /// broker (a dead token is `UNAUTHENTICATED` with the broker's reason);
    /// no credentials at all is `Anonymous`. A session opened with a
    /// temporary password is refused here, for every RPC (R42); the
    /// password change itself (`PasswordService.ChangePassword`) is the one
    /// caller of [`Self::authenticate_any_session`].
    pub async fn authenticate(&self, metadata: &MetadataMap) -> Result<Caller, DomainError> {
        let caller = self.authenticate_any_session(metadata).await?;
        if let Caller::User(user) = &caller {
            if user.restricted_to_password_change {
                return Err(DomainError::permission_denied(
                    "PASSWORD_CHANGE_REQUIRED",
                    "R42: this session may only change its password",
                ));
            }
        }
        Ok(caller)
    }

    /// As [`Self::authenticate`], restricted sessions included.
    pub async fn authenticate_any_session(&self, metadata: &MetadataMap) -> Result<Caller, DomainError> {
        if self.internal_token.is_presented_in(metadata) {
            return Ok(Caller::InternalService);
        }
        let Some(token) = bearer_token(metadata) else {
            return Ok(Caller::Anonymous);
        };
        let response = self
            .broker
            .clone()
            .validate_session(ValidateSessionRequest { token: token.to_owned(), ..Default::default() })
            .await
            .map_err(|status| error_from_status(status, "session broker"))?
            .into_inner();
        let principal = response
            .principal
            .ok_or_else(|| DomainError::internal("validating a session", "the broker returned no principal"))?;
        let parse_failed =
            |_| DomainError::internal("validating a session", "the broker returned a malformed principal");
        Ok(Caller::User(AuthenticatedUser {
            user_id: UserId::parse("user_id", &principal.user_id).map_err(parse_failed)?,
            account_id: AccountId::parse("account_id", &principal.account_id).map_err(parse_failed)?,
            session_id: SessionId::parse("session_id", &principal.session_id).map_err(parse_failed)?,
            login_name: principal.login_name,
            display_name: principal.display_name,
            is_platform_operator: principal.is_platform_operator,
            restricted_to_password_change: principal.restricted_to_password_change,
        }))
    }

    /// Refuses every caller but Roster's own services.
    pub fn require_internal(&self, metadata: &MetadataMap) -> Result<(), DomainError> {
        if self.internal_token.is_presented_in(metadata) {
            return Ok(());
        }
        Err(DomainError::permission_denied("INTERNAL_CREDENTIAL_REQUIRED", "this rpc is for roster's own services"))
    }
}
