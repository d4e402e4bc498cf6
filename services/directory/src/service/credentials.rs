//! The credential check the session broker calls at login (R35), with its
//! lockout (R39) and audit trail (R43).

use std::time::Duration;

use roster_domain::account::UserStatus;
use roster_domain::audit::{AuditOutcome, RequestContext};
use roster_domain::ids::{AccountId, GroupId, UserId};
use roster_domain::lockout::AttemptReservation;
use roster_domain::names::{AccountKey, AccountSlug, LoginName};
use roster_domain::network::IpAllowlist;
use roster_domain::password::{Password, PasswordHash};
use roster_domain::repository::{LoginAttempt, LoginCandidate};
use roster_domain::{DomainError, ErrorCode};

use super::principal::PrincipalAccess;
use super::Directory;

/// The longest a login waits for attempts in flight that may lift a lock
/// (R36: racing correct logins are not refused as locked). A wait that runs
/// out is overload, not a lock: the lock is not settled yet, so the login is
/// answered `RESOURCE_EXHAUSTED` (retry later), never as a wrong password.
/// Well inside the default 10-second request timeout.
const MAX_SETTLE_WAIT: Duration = Duration::from_secs(5);
/// The first pause between two looks while waiting; it doubles up to
/// [`MAX_SETTLE_PAUSE`].
const FIRST_SETTLE_PAUSE: Duration = Duration::from_millis(5);
const MAX_SETTLE_PAUSE: Duration = Duration::from_millis(100);

/// A login to check.
#[derive(Debug)]
pub struct LoginCheck {
    pub account: AccountKey,
    pub login_name: LoginName,
    pub password: Password,
    /// The end user's address, checked against the IP allowlist (R15).
    pub client_address: Option<std::net::IpAddr>,
}

/// The identity the broker stores with a new session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedPrincipal {
    pub user_id: UserId,
    pub account_id: AccountId,
    pub account_slug: AccountSlug,
    pub login_name: String,
    pub display_name: String,
    pub groups: Vec<(GroupId, String)>,
    pub is_owner: bool,
    pub is_platform_operator: bool,
    pub must_change_password: bool,
    /// What the user may do at the moment of the login (R40), as
    /// `principal_access` answers it.
    pub access: PrincipalAccess,
}

/// A hash that verified but is weaker than the configured parameters, with
/// the password that matched it, to rehash after the login (R35).
struct WeakHash {
    verified: PasswordHash,
    password: Password,
}

/// A login that waited [`MAX_SETTLE_WAIT`] for racing attempts of the same
/// credential: overload, not a refusal of the password.
fn unsettled(user_id: UserId) -> DomainError {
    tracing::info!(%user_id, "login refused: attempts of this credential did not settle in time");
    DomainError::ResourceExhausted {
        reason: "LOGIN_ATTEMPTS_UNSETTLED",
        message: "too many logins of this credential in flight; retry later".to_owned(),
    }
}

/// Why a login was refused; recorded in the audit log, never told to the
/// caller.
fn refusal(
    candidate: &LoginCandidate,
    client_address: Option<std::net::IpAddr>,
    temporary_password_ends: Option<chrono::DateTime<chrono::Utc>>,
) -> Option<&'static str> {
    if candidate.user.status == UserStatus::Blocked {
        return Some("USER_BLOCKED");
    }
    // R10, R42: a temporary password works for a limited time only.
    let expired = match (candidate.user.must_change_password, candidate.password_set_at, temporary_password_ends) {
        (true, Some(set_at), Some(deadline)) => set_at <= deadline,
        _ => false,
    };
    if expired {
        return Some("TEMPORARY_PASSWORD_EXPIRED");
    }
    let template_only = !candidate.groups.is_empty() && candidate.groups.iter().all(|group| group.is_template);
    if template_only {
        return Some("TEMPLATE_GROUPS_ONLY");
    }
    // An unknown address only passes an allowlist of "*" (R15).
    let allowed = match client_address {
        Some(address) => candidate.ip_allowlist.allows(address),
        None => candidate.ip_allowlist == IpAllowlist::Anywhere,
    };
    if !allowed {
        return Some("IP_NOT_ALLOWED");
    }
    None
}

impl Directory {
    /// Checks, in order of cost (R35): the per-credential lockout (R39),
    /// user status (R14), template-only groups (R22), the IP allowlist
    /// (R15), then the password on the hashing pool. An unknown login and a
    /// locked credential are verified against a dummy hash, so they cost
    /// what a wrong password costs (R39). Every outcome is audited; every
    /// failure answers `INVALID_CREDENTIALS`.
    pub async fn verify_credentials(
        &self,
        context: RequestContext,
        check: LoginCheck,
    ) -> Result<VerifiedPrincipal, DomainError> {
        let LoginCheck { account, login_name, password, client_address } = check;
        let candidate = self.repository.find_login_candidate(&account, &login_name).await?;
        let Some(candidate) = candidate else {
            return self.refuse_unknown_login(&context, &login_name, password).await;
        };
        // Racing attempts of this credential queue here, without database
        // work, as many at once as the lockout could let run.
        let deadline = tokio::time::Instant::now() + MAX_SETTLE_WAIT;
        let Some(_pass) = self.login_gate.enter(candidate.user.id, deadline).await else {
            return Err(unsettled(candidate.user.id));
        };
        // Counted before anything else is looked at, atomically: parallel
        // attempts cannot run more password checks than the limit allows.
        let reservation = match self.reserve_attempt(&candidate, deadline).await {
            Ok(reservation) => reservation,
            // Deleted since it was found: as unknown as any other login.
            Err(error) if error.code() == ErrorCode::NotFound => {
                return self.refuse_unknown_login(&context, &login_name, password).await;
            }
            Err(error) => return Err(error),
        };
        let (account_id, user_id) = (candidate.account.id, candidate.user.id);
        if let AttemptReservation::Locked { .. } = reservation {
            // The same cost and the same answer as a wrong password.
            self.hashing.verify(password, None).await?;
            self.record_failure(&context, Some(account_id), Some(user_id), &login_name, Some("CREDENTIAL_LOCKED"))
                .await?;
            return Err(DomainError::invalid_credentials());
        }
        let outcome = self.check_allowed_attempt(&context, &candidate, &login_name, password, client_address).await;
        if outcome.is_err() {
            // Still counted as a failure, no longer in flight.
            if let Err(error) = self.repository.release_login_attempt(account_id, user_id).await {
                tracing::warn!(%error, %user_id, "could not release a login attempt");
            }
        }
        outcome
    }

    /// Reserves the attempt; while attempts in flight may still lift the
    /// lock (one of them may succeed), looks again after a pause, for at
    /// most [`MAX_SETTLE_WAIT`]. When that runs out the attempts in flight
    /// have not settled (a storm of logins on one credential on a loaded
    /// machine): the login is refused as overload, counted nowhere, because
    /// answering "locked" would refuse a correct password for a lock that
    /// one of those attempts may still lift (R36, R39).
    async fn reserve_attempt(
        &self,
        candidate: &LoginCandidate,
        deadline: tokio::time::Instant,
    ) -> Result<AttemptReservation, DomainError> {
        let mut pause = FIRST_SETTLE_PAUSE;
        loop {
            let now = self.clock.now();
            let reservation = self
                .repository
                .reserve_login_attempt(candidate.account.id, candidate.user.id, now, self.lockout)
                .await?;
            let AttemptReservation::Settling { .. } = reservation else {
                return Ok(reservation);
            };
            if tokio::time::Instant::now() + pause > deadline {
                return Err(unsettled(candidate.user.id));
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(MAX_SETTLE_PAUSE);
        }
    }

    /// The checks of an attempt the lockout allowed. A success is recorded
    /// (which resets the lockout); a refusal is recorded with its reason.
    async fn check_allowed_attempt(
        &self,
        context: &RequestContext,
        candidate: &LoginCandidate,
        login_name: &LoginName,
        password: Password,
        client_address: Option<std::net::IpAddr>,
    ) -> Result<VerifiedPrincipal, DomainError> {
        let (account_id, user_id) = (candidate.account.id, candidate.user.id);
        // As the audit log records them.
        let (audited_account, audited_user) = (Some(account_id), Some(user_id));
        // A temporary password set at or before this moment has expired.
        let oldest_valid = Some(self.clock.now() - self.lifecycle.temporary_validity);
        if let Some(reason) = refusal(candidate, client_address, oldest_valid) {
            // Refused before the real hash is looked at (R35's order of
            // cost), yet as slow as a wrong password, so that timing does
            // not tell a blocked or fenced-off login from a wrong one (R39).
            self.hashing.verify(password, None).await?;
            self.record_failure(context, audited_account, audited_user, login_name, Some(reason)).await?;
            return Err(DomainError::invalid_credentials());
        }
        // Cheap (a parse), so decided before the password moves to the pool.
        let weak = candidate
            .password_hash
            .as_ref()
            .filter(|stored| self.hashing.needs_rehash(stored))
            .map(|stored| WeakHash { verified: stored.clone(), password: password.clone() });
        let matches = self.hashing.verify(password, candidate.password_hash.clone()).await?;
        if !matches {
            self.record_failure(context, audited_account, audited_user, login_name, Some("WRONG_PASSWORD")).await?;
            return Err(DomainError::invalid_credentials());
        }
        let attempt = LoginAttempt {
            account_id: audited_account,
            user_id: audited_user,
            login_name: login_name.display().to_owned(),
            outcome: AuditOutcome::Success,
            reason: None,
        };
        // Read before the success is recorded, so that a failure here ends
        // the attempt like any other failure (status is not part of it).
        let access = self.principal_access(account_id, user_id).await.map_err(|error| match error.code() {
            // Deleted since the password matched: as unknown as any login.
            ErrorCode::NotFound => DomainError::invalid_credentials(),
            _ => error,
        })?;
        if access.blocked {
            // Blocked while the password was checked: the block's revocation
            // may already have run, so no session may start now (R14).
            self.record_failure(context, audited_account, audited_user, login_name, Some("USER_BLOCKED")).await?;
            return Err(DomainError::invalid_credentials());
        }
        self.repository.record_login(&attempt, context).await?;
        self.upgrade_weak_hash(context, account_id, user_id, weak).await;
        Ok(VerifiedPrincipal {
            user_id: candidate.user.id,
            account_id: candidate.account.id,
            account_slug: candidate.account.slug.clone(),
            login_name: candidate.user.login_name.display().to_owned(),
            display_name: candidate.user.display_name.as_str().to_owned(),
            groups: candidate.groups.iter().map(|group| (group.group_id, group.name.clone())).collect(),
            is_owner: candidate.user.is_owner,
            is_platform_operator: candidate.account.is_platform,
            must_change_password: candidate.user.must_change_password,
            access,
        })
    }

    /// R35: a hash weaker than the configured parameters is replaced after
    /// a successful login, with the same password hashed on the pool, unless
    /// the password changed meanwhile (the store compares and sets). Best
    /// effort: a failure is logged and the login stands.
    async fn upgrade_weak_hash(
        &self,
        context: &RequestContext,
        account_id: AccountId,
        user_id: UserId,
        weak: Option<WeakHash>,
    ) {
        let Some(WeakHash { verified, password }) = weak else {
            return;
        };
        let upgraded = match self.hashing.hash(password).await {
            Ok(upgraded) => upgraded,
            Err(error) => {
                tracing::warn!(%error, %user_id, "could not rehash a password with the configured parameters");
                return;
            }
        };
        match self.repository.upgrade_password_hash(account_id, user_id, &verified, &upgraded, context).await {
            Ok(true) => tracing::info!(%user_id, "password hash upgraded to the configured parameters"),
            Ok(false) => tracing::debug!(%user_id, "password changed during the login: hash upgrade skipped"),
            Err(error) => tracing::warn!(%error, %user_id, "could not store an upgraded password hash"),
        }
    }

    /// No such account or login: verified against the dummy hash so that it
    /// costs what a known login costs, audited, and refused.
    async fn refuse_unknown_login(
        &self,
        context: &RequestContext,
        login_name: &LoginName,
        password: Password,
    ) -> Result<VerifiedPrincipal, DomainError> {
        self.hashing.verify(password, None).await?;
        self.record_failure(context, None, None, login_name, Some("UNKNOWN_LOGIN")).await?;
        Err(DomainError::invalid_credentials())
    }

    /// Audits a failed attempt with its reason (R43).
    async fn record_failure(
        &self,
        context: &RequestContext,
        account_id: Option<AccountId>,
        user_id: Option<UserId>,
        login_name: &LoginName,
        reason: Option<&'static str>,
    ) -> Result<(), DomainError> {
        let attempt = LoginAttempt {
            account_id,
            user_id,
            login_name: login_name.display().to_owned(),
            outcome: AuditOutcome::Failure,
            reason,
        };
        self.repository.record_login(&attempt, context).await
    }
}
