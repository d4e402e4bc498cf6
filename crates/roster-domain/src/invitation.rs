//! Invitations (R17, R18, R19): what an invitation is and what its state
//! means. The token is in [`crate::tokens`]; the email in [`crate::mail`].

use chrono::{DateTime, Duration, Utc};

use crate::error::DomainError;
use crate::ids::UserId;
use crate::tokens::TokenDigest;

/// How long an invitation is valid unless the deployment says otherwise.
pub const DEFAULT_INVITATION_VALIDITY: Duration = Duration::days(7);

/// Where an invitation stands, as listings show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvitationState {
    /// Sent, not yet accepted, not expired.
    Pending,
    Accepted,
    Expired,
    Revoked,
}

impl InvitationState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Accepted => "accepted",
            Self::Expired => "expired",
            Self::Revoked => "revoked",
        }
    }

    /// The state of an invitation stored as `stored` (`pending`,
    /// `accepted`, `revoked`, or `superseded` by a resend) that expires at
    /// `expires_at`, seen at `now`. `None` for text no migration writes.
    pub fn at(stored: &str, expires_at: DateTime<Utc>, now: DateTime<Utc>) -> Option<Self> {
        match stored {
            "pending" if expires_at <= now => Some(Self::Expired),
            "pending" => Some(Self::Pending),
            "accepted" => Some(Self::Accepted),
            // A superseded token is as dead as a revoked one.
            "revoked" | "superseded" => Some(Self::Revoked),
            _ => None,
        }
    }

    /// Why a token in this state cannot be accepted; `Ok` for a pending one.
    pub fn check_acceptable(self) -> Result<(), DomainError> {
        let (reason, message) = match self {
            Self::Pending => return Ok(()),
            Self::Accepted => ("INVITATION_USED", "this invitation was already accepted"),
            Self::Expired => ("INVITATION_EXPIRED", "this invitation has expired; ask for a new one"),
            Self::Revoked => ("INVITATION_REVOKED", "this invitation was revoked or replaced by a newer one"),
        };
        Err(DomainError::FailedPrecondition { rule: "R18", reason, message: message.to_owned() })
    }
}

/// A user's latest invitation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invitation {
    pub user_id: UserId,
    pub state: InvitationState,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    /// The inviter's login name, while the inviter exists.
    pub invited_by: Option<String>,
}

/// An invitation to store: only the digest of its token.
#[derive(Debug, Clone)]
pub struct NewInvitation {
    pub token_digest: TokenDigest,
    pub expires_at: DateTime<Utc>,
}

/// `NotFound` for a token nobody issued (or one of another account).
pub fn invitation_not_found() -> DomainError {
    DomainError::NotFound { entity: "invitation", reason: "INVITATION_NOT_FOUND" }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn r18_pending_invitations_expire_and_dead_ones_say_why() {
        let now = Utc::now();
        let later = now + Duration::hours(1);
        assert_eq!(InvitationState::at("pending", later, now), Some(InvitationState::Pending));
        assert_eq!(InvitationState::at("pending", now, now), Some(InvitationState::Expired));
        assert_eq!(InvitationState::at("superseded", later, now), Some(InvitationState::Revoked));
        assert!(InvitationState::Pending.check_acceptable().is_ok());
        for (state, reason) in [
            (InvitationState::Accepted, "INVITATION_USED"),
            (InvitationState::Expired, "INVITATION_EXPIRED"),
            (InvitationState::Revoked, "INVITATION_REVOKED"),
        ] {
            assert_eq!(state.check_acceptable().unwrap_err().reason(), reason);
        }
    }
}
