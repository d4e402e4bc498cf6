//! The credential check the session broker calls at login (R35), with its
//! audit trail (R43).

use roster_domain::account::UserStatus;
use roster_domain::audit::{AuditOutcome, RequestContext};
use roster_domain::ids::{AccountId, GroupId, UserId};
use roster_domain::names::{AccountKey, AccountSlug, LoginName};
use roster_domain::network::IpAllowlist;
use roster_domain::password::Password;
use roster_domain::repository::{LoginAttempt, LoginCandidate};
use roster_domain::DomainError;

use super::Directory;

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
}

/// Why a login was refused; recorded in the audit log, never told to the
/// caller.
fn refusal(candidate: &LoginCandidate, client_address: Option<std::net::IpAddr>) -> Option<&'static str> {
    if candidate.user.status == UserStatus::Blocked {
        return Some("USER_BLOCKED");
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
    /// Checks, in order of cost (R35): user status (R14), template-only
    /// groups (R22), the IP allowlist (R15), then the password on the hashing pool. An unknown login
    /// is verified against a dummy hash, so it costs the same (R39). Every
    /// outcome is audited; every failure answers `INVALID_CREDENTIALS`.
    pub async fn verify_credentials(
        &self,
        context: RequestContext,
        check: LoginCheck,
    ) -> Result<VerifiedPrincipal, DomainError> {
        let candidate = self.repository.find_login_candidate(&check.account, &check.login_name).await?;
        let Some(candidate) = candidate else {
            self.hashing.verify(check.password, None).await?;
            self.record(&context, None, None, &check.login_name, AuditOutcome::Failure, Some("UNKNOWN_LOGIN")).await?;
            return Err(DomainError::invalid_credentials());
        };
        let account_id = Some(candidate.account.id);
        let user_id = Some(candidate.user.id);
        if let Some(reason) = refusal(&candidate, check.client_address) {
            self.record(&context, account_id, user_id, &check.login_name, AuditOutcome::Failure, Some(reason)).await?;
            return Err(DomainError::invalid_credentials());
        }
        let matches = self.hashing.verify(check.password, candidate.password_hash.clone()).await?;
        if !matches {
            self.record(
                &context,
                account_id,
                user_id,
                &check.login_name,
                AuditOutcome::Failure,
                Some("WRONG_PASSWORD"),
            )
            .await?;
            return Err(DomainError::invalid_credentials());
        }
        self.record(&context, account_id, user_id, &check.login_name, AuditOutcome::Success, None).await?;
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
        })
    }

    async fn record(
        &self,
        context: &RequestContext,
        account_id: Option<AccountId>,
        user_id: Option<UserId>,
        login_name: &LoginName,
        outcome: AuditOutcome,
        reason: Option<&'static str>,
    ) -> Result<(), DomainError> {
        let attempt =
            LoginAttempt { account_id, user_id, login_name: login_name.display().to_owned(), outcome, reason };
        self.repository.record_login(&attempt, context).await
    }
}
