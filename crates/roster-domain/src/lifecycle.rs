//! Storage for invitations, the password lifecycle and the mail outbox
//! (R10, R11, R17, R18, R42, R43; PCI DSS v4 8.3): the capability traits the
//! SeaORM store implements next to those of [`crate::repository`].
//!
//! Every mutation writes its audit event, and the mail it causes, in the
//! same transaction as the change (R43): either all commit or none does.
//! Tokens are stored as digests only; passwords as argon2id hashes only.

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};

use crate::account::{Account, User};
use crate::audit::RequestContext;
use crate::error::DomainError;
use crate::ids::{AccountId, UserId};
use crate::invitation::{Invitation, InvitationState, NewInvitation};
use crate::mail::OutgoingMail;
use crate::names::{AccountKey, EmailAddress};
use crate::password::PasswordHash;
use crate::tokens::TokenDigest;
use crate::users::{NewUser, UserProfile};

/// What a one-time token is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenPurpose {
    Invitation,
    PasswordReset,
}

impl TokenPurpose {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Invitation => "invitation",
            Self::PasswordReset => "password_reset",
        }
    }
}

/// R11: why a reset token that is no longer pending is refused.
fn reset_token_error(state: InvitationState) -> DomainError {
    let (reason, message) = match state {
        InvitationState::Pending => return DomainError::internal("a reset token", "pending is not an error"),
        InvitationState::Accepted => ("RESET_TOKEN_USED", "this reset link was already used"),
        InvitationState::Expired => ("RESET_TOKEN_EXPIRED", "this reset link has expired; ask for a new one"),
        InvitationState::Revoked => ("RESET_TOKEN_SUPERSEDED", "a newer reset link replaced this one"),
    };
    DomainError::FailedPrecondition { rule: "R11", reason, message: message.to_owned() }
}

/// The error a token in `state` answers, per purpose.
pub fn token_state_error(purpose: TokenPurpose, state: InvitationState) -> Option<DomainError> {
    if state == InvitationState::Pending {
        return None;
    }
    Some(match purpose {
        TokenPurpose::Invitation => state.check_acceptable().err()?,
        TokenPurpose::PasswordReset => reset_token_error(state),
    })
}

/// A token found by its digest, with whose it is and where it stands.
#[derive(Debug, Clone)]
pub struct TokenHolder {
    pub account: Account,
    pub user: User,
    /// Stored state: `pending`, `accepted` (used), `revoked`, `superseded`.
    pub stored_state: String,
    pub expires_at: DateTime<Utc>,
}

/// A new password for a user, hashed, with what goes with it.
#[derive(Debug, Clone)]
pub struct PasswordChange {
    pub account_id: AccountId,
    pub user_id: UserId,
    pub password_hash: PasswordHash,
    /// R10, R42: a temporary password must be changed at first use.
    pub must_change: bool,
    /// PCI 8.3.7: how many hashes the history keeps (the new one included).
    pub history_depth: u32,
    /// The audit action (`user.change_password`, `user.reset_password`,
    /// `invitation.accept`, `user.set_password`).
    pub action: &'static str,
}

/// A one-time token that spends itself: the token's digest, and the moment
/// against which its expiry is judged.
#[derive(Debug, Clone)]
pub struct TokenUse {
    pub account_id: AccountId,
    pub purpose: TokenPurpose,
    pub digest: TokenDigest,
    pub now: DateTime<Utc>,
}

/// Invitations (R17, R18, R19).
#[async_trait]
pub trait InvitationRepository: Send + Sync {
    /// `user.invite`: the user (status `invited`, no password), their
    /// assignments, the invitation (its token's digest only) and `mail` in
    /// the outbox, with the audit event, in one transaction. Taken login or
    /// email: `AlreadyExists` as for `create_user`.
    async fn invite_user(
        &self,
        user: NewUser,
        invitation: NewInvitation,
        mail: OutgoingMail,
        context: &RequestContext,
    ) -> Result<(UserProfile, Invitation), DomainError>;

    /// The user's latest invitation; `None` if never invited.
    async fn latest_invitation(
        &self,
        account_id: AccountId,
        user_id: UserId,
    ) -> Result<Option<Invitation>, DomainError>;

    /// `invitation.resend`: the pending invitation (if any) is superseded,
    /// a new one stored and `mail` queued. `FAILED_PRECONDITION`
    /// (`INVITATION_ACCEPTED`) when the user already set a password.
    async fn resend_invitation(
        &self,
        account_id: AccountId,
        user_id: UserId,
        invitation: NewInvitation,
        mail: OutgoingMail,
        context: &RequestContext,
    ) -> Result<Invitation, DomainError>;

    /// `invitation.revoke`: the pending invitation stops working.
    /// `FAILED_PRECONDITION` (`NO_PENDING_INVITATION`) when there is none.
    async fn revoke_invitation(
        &self,
        account_id: AccountId,
        user_id: UserId,
        context: &RequestContext,
    ) -> Result<Invitation, DomainError>;
}

/// Passwords (R9, R10, R11, R42; PCI DSS 8.3.6, 8.3.7).
#[async_trait]
pub trait PasswordRepository: Send + Sync {
    /// The user's current hash and their last `depth` hashes (newest first),
    /// for the history rule; empty when the user has none.
    async fn password_history(
        &self,
        account_id: AccountId,
        user_id: UserId,
        depth: u32,
    ) -> Result<Vec<PasswordHash>, DomainError>;

    /// The user's current password hash and when it was set.
    async fn current_password(
        &self,
        account_id: AccountId,
        user_id: UserId,
    ) -> Result<Option<(PasswordHash, Option<DateTime<Utc>>)>, DomainError>;

    /// Sets the password: the hash, the must-change flag, the history
    /// (pruned to `history_depth`), and the audit event `change.action`
    /// (saying that the password changed, never to what), in one
    /// transaction. `mail`, when given, is queued in the same transaction.
    async fn change_password(
        &self,
        change: PasswordChange,
        mail: Option<OutgoingMail>,
        context: &RequestContext,
    ) -> Result<User, DomainError>;

    /// Finds a one-time token by digest in an account.
    async fn find_token(
        &self,
        account: &AccountKey,
        purpose: TokenPurpose,
        digest: &TokenDigest,
    ) -> Result<Option<TokenHolder>, DomainError>;

    /// Spends a token and sets the password in one transaction: checks
    /// inside it that the token is still `pending` and not expired at
    /// `token.now` (so two racing uses cannot both win; the loser gets the
    /// state's error), marks it `accepted`, then as [`change_password`].
    ///
    /// [`change_password`]: PasswordRepository::change_password
    async fn spend_token(
        &self,
        token: TokenUse,
        change: PasswordChange,
        context: &RequestContext,
    ) -> Result<User, DomainError>;

    /// The user of `account` with this email address, if any.
    async fn find_user_by_email(
        &self,
        account_id: AccountId,
        email: &EmailAddress,
    ) -> Result<Option<User>, DomainError>;

    /// `user.request_password_reset` (R11): stores the reset token's digest
    /// (earlier pending resets of the user are superseded) and queues
    /// `mail`, with the audit event, in one transaction.
    async fn request_password_reset(
        &self,
        account_id: AccountId,
        user_id: UserId,
        digest: TokenDigest,
        expires_at: DateTime<Utc>,
        mail: OutgoingMail,
        context: &RequestContext,
    ) -> Result<(), DomainError>;

    /// `user.request_password_reset` with outcome `failure` for an address
    /// that matches nobody: audited (R43), nothing sent.
    async fn record_unknown_reset(
        &self,
        account_id: Option<AccountId>,
        context: &RequestContext,
    ) -> Result<(), DomainError>;
}

/// A mail in the outbox, claimed by one worker for a while.
#[derive(Debug, Clone)]
pub struct QueuedMail {
    /// The outbox row (a UUID).
    pub id: String,
    pub mail: OutgoingMail,
    /// Delivery attempts so far, this one included.
    pub attempts: u32,
}

/// The mail outbox: written by the changes that cause mail, drained by the
/// delivery worker. A claimed mail belongs to one worker until its lease
/// runs out, so several directory replicas never send the same mail
/// together.
#[async_trait]
pub trait MailOutbox: Send + Sync {
    /// Claims up to `limit` mails due at `now` and not claimed (or whose
    /// claim ran out), for `lease`: `SELECT ... FOR UPDATE SKIP LOCKED` on
    /// PostgreSQL, one conditional `UPDATE` on SQLite (one writer at a time).
    async fn claim_mail(&self, now: DateTime<Utc>, lease: Duration, limit: u32)
        -> Result<Vec<QueuedMail>, DomainError>;

    /// The mail went out: it is never claimed again, and its bodies (which
    /// may hold a token) are erased.
    async fn mark_mail_sent(&self, id: &str, now: DateTime<Utc>) -> Result<(), DomainError>;

    /// Delivery failed: released, due again at `retry_at`; `error` is kept
    /// for operators (it must hold no secret).
    async fn mark_mail_failed(&self, id: &str, error: &str, retry_at: DateTime<Utc>) -> Result<(), DomainError>;

    /// Mails not yet sent (for health and tests).
    async fn pending_mail_count(&self) -> Result<u64, DomainError>;
}
