//! Login, validation, logout and revocation (R35–R38), and per-source login
//! throttling (R39).

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use roster_domain::clock::SharedClock;
use roster_domain::ids::{AccountId, SessionId, StoreId, UserId};
use roster_domain::presets::PermissionName;
use roster_domain::DomainError;
use roster_proto::directory::v1::{VerifiedPrincipal, VerifyCredentialsRequest};
use roster_session_core::{
    reasons, source_of_client_address, ActiveSession, CredentialKey, EndReason, FeedMessage, LoginThrottle, NewSession,
    SessionStore, SessionStoreError, SessionToken, ThrottleDecision, Validation,
};
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::{broadcast, Semaphore};

use super::access::{AccessCache, PrincipalAccess, VersionedAccess};
use super::audit::AuditTrail;
use super::directory::{Directory, SessionAudit};
use super::principal::StoredPrincipal;

/// A login request, parsed. The password is only passed through to the
/// directory, never kept.
#[derive(Debug)]
pub struct LoginAttempt {
    pub account: String,
    pub login_name: String,
    pub password: SecretString,
    pub client_address: String,
    pub user_agent: String,
    /// W3C trace id of the request, for the audit trail.
    pub trace_id: String,
}

/// A session just opened.
#[derive(Debug)]
pub struct OpenedSession {
    pub token: SessionToken,
    pub session_id: SessionId,
    pub idle_expires_at: DateTime<Utc>,
    pub absolute_expires_at: DateTime<Utc>,
    pub principal: StoredPrincipal,
    /// What the principal may do; nothing while restricted (R42).
    pub access: Arc<PrincipalAccess>,
}

/// One permission to check in one scope, with a validation (R40).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PermissionQuery {
    pub permission: PermissionName,
    /// `None`: account-wide.
    pub store: Option<StoreId>,
}

/// A live session's principal, its access and its expiries, as validation
/// returns it.
#[derive(Debug, Clone)]
pub struct ValidatedSession {
    pub session_id: SessionId,
    pub principal: StoredPrincipal,
    /// What the principal may do; nothing while restricted (R42).
    pub access: Arc<PrincipalAccess>,
    pub idle_expires_at: DateTime<Utc>,
    pub absolute_expires_at: DateTime<Utc>,
    /// The answer to the query, when one was asked.
    pub check: Option<bool>,
}

/// A live session as listings show it.
#[derive(Debug, Clone)]
pub struct ListedSession {
    pub session: ActiveSession,
    pub principal: StoredPrincipal,
}

/// One page of a listing.
#[derive(Debug, Clone)]
pub struct ListedPage {
    pub sessions: Vec<ListedSession>,
    pub next_cursor: Option<String>,
}

/// R37's two timeouts.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    pub idle: Duration,
    pub absolute: Duration,
}

/// Everything the broker's operations need.
#[derive(Debug, Clone)]
pub struct BrokerParts {
    pub store: Arc<dyn SessionStore>,
    /// Failed logins per client address, shared by every replica (R39).
    pub throttle: Arc<dyn LoginThrottle>,
    pub directory: Directory,
    pub access: Arc<AccessCache>,
    pub audit: AuditTrail,
    pub clock: SharedClock,
    pub timeouts: Timeouts,
    /// Logins let through to the directory at once; more are refused.
    pub logins_in_flight: usize,
}

/// The broker's operations.
#[derive(Debug, Clone)]
pub struct Broker {
    store: Arc<dyn SessionStore>,
    throttle: Arc<dyn LoginThrottle>,
    directory: Directory,
    access: Arc<AccessCache>,
    audit: AuditTrail,
    clock: SharedClock,
    timeouts: Timeouts,
    login_slots: Arc<Semaphore>,
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

/// What a user may do while their session is restricted (R42): nothing.
fn restricted(access: &PrincipalAccess) -> PrincipalAccess {
    PrincipalAccess { permissions: Default::default(), ..access.clone() }
}

fn malformed_principal(_: roster_domain::FieldViolation) -> DomainError {
    DomainError::internal("verifying credentials", "the directory returned a malformed principal")
}

fn stored_principal(verified: &VerifiedPrincipal) -> Result<StoredPrincipal, DomainError> {
    Ok(StoredPrincipal {
        user_id: UserId::parse("user_id", &verified.user_id).map_err(malformed_principal)?,
        account_id: AccountId::parse("account_id", &verified.account_id).map_err(malformed_principal)?,
        account_slug: verified.account_slug.clone(),
        login_name: verified.login_name.clone(),
        display_name: verified.display_name.clone(),
        restricted_to_password_change: verified.must_change_password,
    })
}

fn read_principal(session: &ActiveSession) -> Result<StoredPrincipal, DomainError> {
    StoredPrincipal::from_payload(&session.payload, &session.credential)
        .map_err(|error| DomainError::internal("reading a stored principal", error))
}

impl Broker {
    pub fn new(parts: BrokerParts) -> Self {
        let BrokerParts { store, throttle, directory, access, audit, clock, timeouts, logins_in_flight } = parts;
        let login_slots = Arc::new(Semaphore::new(logins_in_flight.max(1)));
        Self { store, throttle, directory, access, audit, clock, timeouts, login_slots }
    }

    pub fn store(&self) -> &Arc<dyn SessionStore> {
        &self.store
    }

    /// R35, R36, R39: a source with too many recent failures is slowed or
    /// refused before anything else; then the directory checks the
    /// credentials (a refusal counts against the source); the store opens
    /// the session and ends the previous one of the same credential
    /// atomically; an eviction is audited (R43).
    pub async fn login(&self, attempt: LoginAttempt) -> Result<OpenedSession, DomainError> {
        // A login storm is refused here, in microseconds, instead of queueing
        // behind the directory's password hashing (issue 6: excess logins
        // answered within 50 ms; validation unharmed).
        let _slot = self.login_slots.clone().try_acquire_owned().map_err(|_| DomainError::ResourceExhausted {
            reason: "LOGINS_BUSY",
            message: "too many logins in flight; retry later".to_owned(),
        })?;
        let source = source_of_client_address(&attempt.client_address);
        self.wait_for_throttle(&source).await?;
        let request = VerifyCredentialsRequest {
            account: attempt.account,
            login_name: attempt.login_name,
            password: attempt.password.expose_secret().to_owned(),
            client_address: attempt.client_address.clone(),
            user_agent: attempt.user_agent.clone(),
        };
        let (verified, access) = self.verify_credentials(request, &source).await?;
        let principal = stored_principal(&verified)?;
        let (account_id, user_id) = (principal.account_id, principal.user_id);
        let access = match access {
            Some(access) => Arc::new(access.access),
            None => self.access_of(account_id, user_id).await?,
        };
        let credential = CredentialKey::new(account_id, user_id);
        let token = SessionToken::issue(&credential);
        let now = self.clock.now();
        let session_id = SessionId::generate();
        let absolute_expires_at = now + self.timeouts.absolute;
        let payload = principal.to_payload().map_err(|error| DomainError::internal("storing a principal", error))?;
        let session = NewSession {
            session_id,
            credential,
            payload,
            client_address: attempt.client_address.clone(),
            user_agent: attempt.user_agent.clone(),
            created_at: now,
            idle_timeout: self.timeouts.idle,
            absolute_expires_at,
        };
        if let Some(replaced) = self.store.open(&token, session).await? {
            tracing::info!(replaced_session_id = %replaced, new_session_id = %session_id, %user_id, "session replaced by a newer login");
            // R36, R43: the eviction is audited; the directory may also
            // tell the evicted user by email.
            self.audit.record(SessionAudit {
                account_id: Some(account_id),
                action: "session.replaced",
                target_user_id: Some(user_id),
                target_session_id: Some(replaced),
                outcome: "success",
                reason: reasons::REPLACED.to_owned(),
                replaced_by_session_id: Some(session_id),
                client_address: attempt.client_address,
                user_agent: attempt.user_agent,
                trace_id: attempt.trace_id,
                occurred_at: Some(now),
                ..SessionAudit::default()
            });
        }
        let access = if principal.restricted_to_password_change { Arc::new(restricted(&access)) } else { access };
        Ok(OpenedSession {
            token,
            session_id,
            idle_expires_at: (now + self.timeouts.idle).min(absolute_expires_at),
            absolute_expires_at,
            principal,
            access,
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
    /// against `source` before it is returned. The user's access, taken
    /// with the answer, is cached unless it changed meanwhile.
    async fn verify_credentials(
        &self,
        request: VerifyCredentialsRequest,
        source: &str,
    ) -> Result<(VerifiedPrincipal, Option<VersionedAccess>), DomainError> {
        // Taken before the directory answers: a change racing the login
        // cannot leave the older access cached.
        let ticket = self.access.ticket();
        match self.directory.verify_credentials(request).await {
            Ok((verified, access)) => {
                let ids =
                    (AccountId::parse("account_id", &verified.account_id), UserId::parse("user_id", &verified.user_id));
                if let (Some(fetched), (Ok(account_id), Ok(user_id))) = (&access, ids) {
                    self.access.insert(ticket, account_id, user_id, Arc::new(fetched.access.clone()), fetched.version);
                }
                Ok((verified, access))
            }
            Err(error) => {
                if error.reason() == DomainError::invalid_credentials().reason() {
                    // Fail closed: a failure that cannot be counted is not
                    // answered as an ordinary one.
                    self.throttle.record_failure(source, self.clock.now()).await.map_err(throttle_error)?;
                }
                Err(error)
            }
        }
    }

    /// The user's access, cached or from the directory; a user who is gone
    /// or blocked has no live session (R8, R14).
    async fn access_of(&self, account_id: AccountId, user_id: UserId) -> Result<Arc<PrincipalAccess>, DomainError> {
        match self.access.get(account_id, user_id).await? {
            Some(access) if !access.blocked => Ok(access),
            _ => Err(dead_session_error(Some(EndReason::Revoked))),
        }
    }

    /// R37, R40, R42: the principal of a live session with what it may do,
    /// and the answer to `query`; slides the idle timer. A restricted
    /// session holds nothing.
    pub async fn validate(
        &self,
        token_text: &str,
        query: Option<&PermissionQuery>,
    ) -> Result<ValidatedSession, DomainError> {
        let token = SessionToken::parse(token_text).ok_or_else(|| dead_session_error(None))?;
        let session = match self.store.validate(&token, self.clock.now()).await? {
            Validation::Active(session) => session,
            Validation::Ended(reason) => return Err(dead_session_error(Some(reason))),
            Validation::Unknown => return Err(dead_session_error(None)),
        };
        let principal = read_principal(&session)?;
        let access = self.access_of(principal.account_id, principal.user_id).await?;
        let access = if principal.restricted_to_password_change { Arc::new(restricted(&access)) } else { access };
        let check = query.map(|query| access.permissions.holds(&query.permission, query.store));
        Ok(ValidatedSession {
            session_id: session.session_id,
            principal,
            access,
            idle_expires_at: session.idle_expires_at,
            absolute_expires_at: session.absolute_expires_at,
            check,
        })
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
        let credential = CredentialKey::new(account_id, user_id);
        let revoked = self.store.revoke_credential(&credential, reason, self.clock.now()).await?;
        tracing::info!(%user_id, reason, count = revoked.len(), "user sessions revoked");
        Ok(revoked)
    }

    /// The live session `session_id`, if any.
    pub async fn find_session(&self, session_id: SessionId) -> Result<Option<ListedSession>, DomainError> {
        let Some(session) = self.store.find_session(session_id, self.clock.now()).await? else {
            return Ok(None);
        };
        let principal = read_principal(&session)?;
        Ok(Some(ListedSession { session, principal }))
    }

    /// R38: ends one session; `None` when it is not live.
    pub async fn revoke_session(
        &self,
        session_id: SessionId,
        reason: &str,
    ) -> Result<Option<ActiveSession>, DomainError> {
        let revoked = self.store.revoke_session(session_id, reason, self.clock.now()).await?;
        if revoked.is_some() {
            tracing::info!(%session_id, reason, "session revoked");
        }
        Ok(revoked)
    }

    /// Live sessions of an account or one user, a page at a time.
    pub async fn list_sessions(
        &self,
        account_id: AccountId,
        user_id: Option<UserId>,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<ListedPage, DomainError> {
        let page = self.store.list_sessions(account_id, user_id, cursor, limit, self.clock.now()).await?;
        let sessions = page
            .sessions
            .into_iter()
            .map(|session| Ok(ListedSession { principal: read_principal(&session)?, session }))
            .collect::<Result<_, DomainError>>()?;
        Ok(ListedPage { sessions, next_cursor: page.next_cursor })
    }

    /// Whether `user_id` is the owner of `account_id` (R5), as far as the
    /// directory knows.
    pub async fn is_owner(&self, account_id: AccountId, user_id: UserId) -> Result<bool, DomainError> {
        Ok(self.access.get(account_id, user_id).await?.is_some_and(|access| access.is_owner))
    }

    /// R41: the feed of every replica's session ends and access changes.
    pub fn subscribe(&self) -> broadcast::Receiver<FeedMessage> {
        self.store.subscribe()
    }

    /// R38: tells every replica that these users' (none: everyone's)
    /// access in the account changed.
    pub async fn invalidate_access(&self, account_id: AccountId, user_ids: &[UserId]) -> Result<(), DomainError> {
        self.store.publish_access_change(account_id, user_ids).await?;
        Ok(())
    }

    /// R43: audits what the broker did or refused.
    pub fn audit(&self, event: SessionAudit) {
        self.audit.record(event);
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }
}

/// Keeps this replica's access cache in step with the feed (R38): drops an
/// account's entries when its access changed, and everything when messages
/// may have been lost. Runs until the store is gone.
pub async fn follow_feed(mut feed: broadcast::Receiver<FeedMessage>, access: Arc<AccessCache>) {
    loop {
        match feed.recv().await {
            Ok(FeedMessage::AccessChanged { account_id, .. }) => access.invalidate(account_id),
            Ok(FeedMessage::FeedLost) => {
                tracing::warn!("session feed lost: access is read from the directory until it is back");
                access.distrust();
            }
            Ok(FeedMessage::FeedRestored) => {
                tracing::info!("session feed restored");
                access.trust();
            }
            Ok(FeedMessage::Session(_)) => {}
            Err(broadcast::error::RecvError::Lagged(missed)) => {
                tracing::warn!(missed, "session feed lagged: access cache dropped");
                access.clear();
            }
            Err(broadcast::error::RecvError::Closed) => return,
        }
    }
}
