//! Login, validation, logout and revocation (R35–R38), and per-source login
//! throttling (R39).

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use roster_domain::clock::SharedClock;
use roster_domain::ids::{AccountId, SessionId, UserId};
use roster_domain::DomainError;
use roster_proto::directory::v1::credential_service_client::CredentialServiceClient;
use roster_proto::directory::v1::{VerifiedPrincipal, VerifyCredentialsRequest};
use roster_server::client::OutgoingInterceptor;
use roster_server::errors::error_from_status;
use roster_session_core::{
    source_of_client_address, CredentialKey, EndReason, LoginThrottle, NewSession, SessionStore, SessionStoreError,
    SessionToken, ThrottleDecision, Validation,
};
use secrecy::{ExposeSecret, SecretString};
use tonic::codegen::InterceptedService;
use tonic::transport::Channel;

use super::principal::StoredPrincipal;

pub type DirectoryClient = CredentialServiceClient<InterceptedService<Channel, OutgoingInterceptor>>;

/// A login request, parsed. The password is only passed through to the
/// directory, never kept.
#[derive(Debug)]
pub struct LoginAttempt {
    pub account: String,
    pub login_name: String,
    pub password: SecretString,
    pub client_address: String,
    pub user_agent: String,
}

/// A session just opened.
#[derive(Debug)]
pub struct OpenedSession {
    pub token: SessionToken,
    pub session_id: SessionId,
    pub idle_expires_at: DateTime<Utc>,
    pub absolute_expires_at: DateTime<Utc>,
    pub principal: StoredPrincipal,
}

/// A live session's principal and its expiries, as validation returns it.
#[derive(Debug, Clone)]
pub struct ValidatedSession {
    pub session_id: SessionId,
    pub principal: StoredPrincipal,
    pub idle_expires_at: DateTime<Utc>,
    pub absolute_expires_at: DateTime<Utc>,
}

/// R37's two timeouts.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    pub idle: Duration,
    pub absolute: Duration,
}

/// The broker's operations.
#[derive(Debug, Clone)]
pub struct Broker {
    store: Arc<dyn SessionStore>,
    /// Failed logins per client address, shared by every replica (R39).
    throttle: Arc<dyn LoginThrottle>,
    directory: DirectoryClient,
    clock: SharedClock,
    timeouts: Timeouts,
}

/// The answer for a token that is not live, one reason per cause (R36).
pub fn dead_session_error(reason: Option<EndReason>) -> DomainError {
    match reason {
        Some(EndReason::Replaced) => {
            DomainError::unauthenticated("SESSION_REPLACED", "session replaced by a newer login")
        }
        Some(EndReason::Expired) => DomainError::unauthenticated("SESSION_EXPIRED", "session expired"),
        Some(EndReason::LoggedOut) => DomainError::unauthenticated("SESSION_LOGGED_OUT", "session logged out"),
        Some(EndReason::Revoked) => DomainError::unauthenticated("SESSION_REVOKED", "session revoked"),
        None => DomainError::unauthenticated("SESSION_UNKNOWN", "unknown session token"),
    }
}

/// A throttle store that cannot answer: the login fails closed.
fn throttle_error(error: SessionStoreError) -> DomainError {
    match error {
        SessionStoreError::Unavailable(_) => DomainError::unavailable("login throttle store", error),
        SessionStoreError::Corrupt(_) => DomainError::internal("reading login failure counts", error),
    }
}

impl Broker {
    pub fn new(
        store: Arc<dyn SessionStore>,
        throttle: Arc<dyn LoginThrottle>,
        directory: DirectoryClient,
        clock: SharedClock,
        timeouts: Timeouts,
    ) -> Self {
        Self { store, throttle, directory, clock, timeouts }
    }

    pub fn store(&self) -> &Arc<dyn SessionStore> {
        &self.store
    }

    /// R35, R36, R39: a source with too many recent failures is slowed or
    /// refused before anything else; then the directory checks the
    /// credentials (a refusal counts against the source); the store opens
    /// the session and ends the previous one of the same credential
    /// atomically.
    pub async fn login(&self, attempt: LoginAttempt) -> Result<OpenedSession, DomainError> {
        let source = source_of_client_address(&attempt.client_address);
        self.wait_for_throttle(&source).await?;
        let request = VerifyCredentialsRequest {
            account: attempt.account,
            login_name: attempt.login_name,
            password: attempt.password.expose_secret().to_owned(),
            client_address: attempt.client_address.clone(),
            user_agent: attempt.user_agent.clone(),
        };
        let verified = self.verify_credentials(request, &source).await?;
        let malformed =
            |_| DomainError::internal("verifying credentials", "the directory returned a malformed principal");
        let principal = StoredPrincipal {
            user_id: UserId::parse("user_id", &verified.user_id).map_err(malformed)?,
            account_id: AccountId::parse("account_id", &verified.account_id).map_err(malformed)?,
            account_slug: verified.account_slug,
            login_name: verified.login_name,
            display_name: verified.display_name,
            group_ids: verified.group_ids,
            group_names: verified.group_names,
            is_owner: verified.is_owner,
            is_platform_operator: verified.is_platform_operator,
            restricted_to_password_change: verified.must_change_password,
        };
        let credential = CredentialKey::new(principal.account_id, principal.user_id);
        let token = SessionToken::issue(&credential);
        let now = self.clock.now();
        let session_id = SessionId::generate();
        let absolute_expires_at = now + self.timeouts.absolute;
        let payload =
            serde_json::to_string(&principal).map_err(|error| DomainError::internal("storing a principal", error))?;
        let session = NewSession {
            session_id,
            credential,
            payload,
            client_address: attempt.client_address,
            user_agent: attempt.user_agent,
            created_at: now,
            idle_timeout: self.timeouts.idle,
            absolute_expires_at,
        };
        let replaced = self.store.open(&token, session).await?;
        if let Some(replaced) = replaced {
            tracing::info!(replaced_session_id = %replaced, new_session_id = %session_id, user_id = %principal.user_id, "session replaced by a newer login");
        }
        Ok(OpenedSession {
            token,
            session_id,
            idle_expires_at: (now + self.timeouts.idle).min(absolute_expires_at),
            absolute_expires_at,
            principal,
        })
    }

    /// R39: refuses a source with too many recent failed logins, or makes
    /// it wait first. Fails closed when the counts cannot be read.
    async fn wait_for_throttle(&self, source: &str) -> Result<(), DomainError> {
        match self.throttle.check(source, self.clock.now()).await.map_err(throttle_error)? {
            ThrottleDecision::Allow => Ok(()),
            ThrottleDecision::Delay(delay) => {
                tracing::debug!(
                    source,
                    delay_ms = delay.as_millis() as u64,
                    "login slowed: recent failures from source"
                );
                tokio::time::sleep(delay).await;
                Ok(())
            }
            ThrottleDecision::Refuse { retry_after } => {
                let retry_seconds = (retry_after.num_milliseconds() + 999) / 1000;
                tracing::info!(source, retry_seconds, "login refused: too many failures from source");
                Err(DomainError::ResourceExhausted {
                    reason: "LOGIN_THROTTLED",
                    message: format!("too many failed logins from this address; retry in {retry_seconds} s"),
                })
            }
        }
    }

    /// Asks the directory to verify the credentials; a refusal is counted
    /// against `source` before it is returned.
    async fn verify_credentials(
        &self,
        request: VerifyCredentialsRequest,
        source: &str,
    ) -> Result<VerifiedPrincipal, DomainError> {
        let response = match self.directory.clone().verify_credentials(request).await {
            Ok(response) => response,
            Err(status) => {
                let error = error_from_status(status, "directory");
                if error.reason() == DomainError::invalid_credentials().reason() {
                    // Fail closed: a failure that cannot be counted is not
                    // answered as an ordinary one.
                    self.throttle.record_failure(source, self.clock.now()).await.map_err(throttle_error)?;
                }
                return Err(error);
            }
        };
        response
            .into_inner()
            .principal
            .ok_or_else(|| DomainError::internal("verifying credentials", "the directory returned no principal"))
    }

    /// R37, R40: the principal of a live session; slides its idle timer.
    pub async fn validate(&self, token_text: &str) -> Result<ValidatedSession, DomainError> {
        let token = SessionToken::parse(token_text).ok_or_else(|| dead_session_error(None))?;
        match self.store.validate(&token, self.clock.now()).await? {
            Validation::Active(session) => {
                let principal: StoredPrincipal = serde_json::from_str(&session.payload)
                    .map_err(|error| DomainError::internal("reading a stored principal", error))?;
                Ok(ValidatedSession {
                    session_id: session.session_id,
                    principal,
                    idle_expires_at: session.idle_expires_at,
                    absolute_expires_at: session.absolute_expires_at,
                })
            }
            Validation::Ended(reason) => Err(dead_session_error(Some(reason))),
            Validation::Unknown => Err(dead_session_error(None)),
        }
    }

    /// R38: ends the token's session. Logging out twice is fine; a token
    /// that died otherwise answers why.
    pub async fn logout(&self, token_text: &str) -> Result<(), DomainError> {
        let token = SessionToken::parse(token_text).ok_or_else(|| dead_session_error(None))?;
        match self.store.logout(&token, self.clock.now()).await? {
            Validation::Active(session) => {
                tracing::info!(session_id = %session.session_id, "session logged out");
                Ok(())
            }
            Validation::Ended(EndReason::LoggedOut) => Ok(()),
            Validation::Ended(reason) => Err(dead_session_error(Some(reason))),
            Validation::Unknown => Err(dead_session_error(None)),
        }
    }

    /// R38: ends every session of one user.
    pub async fn revoke_user_sessions(
        &self,
        account_id: AccountId,
        user_id: UserId,
        reason: &str,
    ) -> Result<Vec<SessionId>, DomainError> {
        let revoked = self.store.revoke_credential(&CredentialKey::new(account_id, user_id), self.clock.now()).await?;
        tracing::info!(%user_id, reason, count = revoked.len(), "user sessions revoked");
        Ok(revoked)
    }
}
