//! Invitations, one-time tokens and the mail outbox (R17, R18, R43): each
//! change, its token digest, its mail and its audit event commit together.

use chrono::{Duration, Utc};
use roster_domain::account::UserStatus;
use roster_domain::invitation::{InvitationState, NewInvitation};
use roster_domain::lifecycle::{
    InvitationRepository, MailOutbox, PasswordChange, PasswordRepository, TokenPurpose, TokenUse,
};
use roster_domain::mail::{MailKind, OutgoingMail};
use roster_domain::names::{AccountKey, EmailAddress};
use roster_domain::paging::PageRequest;
use roster_domain::repository::{AuditFilter, AuditRepository, UserRepository};
use roster_domain::tokens::OneTimeToken;

use crate::common::backends::TestDatabase;
use crate::common::directory::{acting, new_user, sign_up};
use crate::common::fixtures::{count, fake_hash};

fn mail_to(address: &str, kind: MailKind, body: &str) -> OutgoingMail {
    OutgoingMail {
        kind,
        to: EmailAddress::parse("to", address).unwrap(),
        subject: "subject".to_owned(),
        text_body: body.to_owned(),
        html_body: format!("<p>{body}</p>"),
    }
}

fn invited(account_id: roster_domain::ids::AccountId, login: &str) -> roster_domain::users::NewUser {
    let mut user = new_user(account_id, login);
    user.password_hash = None;
    user
}

pub async fn r18_invite_user_writes_the_user_the_token_digest_the_mail_and_the_audit_event(database: TestDatabase) {
    let store = database.store;
    let tenant = sign_up(&store, "invites").await;
    let token = OneTimeToken::generate();
    let expires_at = Utc::now() + Duration::days(7);
    let invitation = NewInvitation { token_digest: token.digest(), expires_at };
    let mail = mail_to("ann@example.com", MailKind::Invitation, &format!("Token: {}", token.expose()));
    let (profile, created) =
        store.invite_user(invited(tenant.account.id, "ann"), invitation, mail, &acting(&tenant.owner)).await.unwrap();
    assert_eq!(profile.user.status, UserStatus::Invited);
    assert_eq!(created.state, InvitationState::Pending);
    assert_eq!(created.invited_by.as_deref(), Some(tenant.owner.login_name.display()));
    assert_eq!(count(&store, "user_tokens").await, 1);
    assert_eq!(count(&store, "mail_outbox").await, 1);
    assert_eq!(count(&store, "password_history").await, 0, "an invited user has no password yet");
    let stored = crate::common::fixtures::query(&store, "SELECT token_digest FROM user_tokens").await;
    let digest: String = stored[0].try_get("", "token_digest").unwrap();
    assert_eq!(digest, token.digest().as_hex(), "only the digest is stored");

    let listed = store.user_profile(tenant.account.id, profile.user.id).await.unwrap().unwrap();
    assert_eq!(listed.invitation.map(|invitation| invitation.state), Some(InvitationState::Pending));
    let filter = AuditFilter { action: Some("user.invite".to_owned()), ..AuditFilter::default() };
    let events = store
        .list_audit_events(Some(tenant.account.id), &filter, &PageRequest { size: 50, after: None })
        .await
        .unwrap();
    assert_eq!(events.items.len(), 1);
    assert!(!events.items[0].changes.to_string().contains(token.expose()));
}

pub async fn r18_a_taken_email_leaves_no_token_and_no_mail(database: TestDatabase) {
    let store = database.store;
    let tenant = sign_up(&store, "dupes").await;
    let first =
        NewInvitation { token_digest: OneTimeToken::generate().digest(), expires_at: Utc::now() + Duration::days(1) };
    let mail = mail_to("ann@example.com", MailKind::Invitation, "one");
    store.invite_user(invited(tenant.account.id, "ann"), first, mail.clone(), &acting(&tenant.owner)).await.unwrap();
    let second =
        NewInvitation { token_digest: OneTimeToken::generate().digest(), expires_at: Utc::now() + Duration::days(1) };
    let error =
        store.invite_user(invited(tenant.account.id, "ann"), second, mail, &acting(&tenant.owner)).await.unwrap_err();
    // Login and email are both taken; backends report either first.
    assert!(matches!(error.reason(), "LOGIN_NAME_TAKEN" | "EMAIL_TAKEN"), "{error}");
    assert_eq!(count(&store, "user_tokens").await, 1);
    assert_eq!(count(&store, "mail_outbox").await, 1);
}

pub async fn r18_a_token_is_spent_once_and_sets_the_password(database: TestDatabase) {
    let store = database.store;
    let tenant = sign_up(&store, "spend").await;
    let token = OneTimeToken::generate();
    let invitation = NewInvitation { token_digest: token.digest(), expires_at: Utc::now() + Duration::days(1) };
    let mail = mail_to("bob@example.com", MailKind::Invitation, "body");
    let (profile, _) =
        store.invite_user(invited(tenant.account.id, "bob"), invitation, mail, &acting(&tenant.owner)).await.unwrap();
    let account = AccountKey::Id(tenant.account.id);
    let holder = store.find_token(&account, TokenPurpose::Invitation, &token.digest()).await.unwrap().unwrap();
    assert_eq!(holder.user.id, profile.user.id);
    let spend = || TokenUse {
        account_id: tenant.account.id,
        purpose: TokenPurpose::Invitation,
        digest: token.digest(),
        now: Utc::now(),
    };
    let change = PasswordChange {
        account_id: tenant.account.id,
        user_id: profile.user.id,
        password_hash: fake_hash(),
        must_change: false,
        history_depth: 4,
        action: "invitation.accept",
    };
    store.spend_token(spend(), change.clone(), &acting(&profile.user)).await.unwrap();
    assert_eq!(count(&store, "password_history").await, 1);
    let error = store.spend_token(spend(), change, &acting(&profile.user)).await.unwrap_err();
    assert_eq!(error.reason(), "INVITATION_USED");
    let latest = store.latest_invitation(tenant.account.id, profile.user.id).await.unwrap().unwrap();
    assert_eq!(latest.state, InvitationState::Accepted);
}

pub async fn outbox_claims_are_exclusive_until_the_lease_ends(database: TestDatabase) {
    let store = database.store;
    let tenant = sign_up(&store, "outbox").await;
    for login in ["a1", "a2", "a3"] {
        let invitation = NewInvitation {
            token_digest: OneTimeToken::generate().digest(),
            expires_at: Utc::now() + Duration::days(1),
        };
        let mail = mail_to(&format!("{login}@example.com"), MailKind::Invitation, "secret body");
        store.invite_user(invited(tenant.account.id, login), invitation, mail, &acting(&tenant.owner)).await.unwrap();
    }
    let now = Utc::now() + Duration::seconds(1);
    let first = store.claim_mail(now, Duration::seconds(60), 2).await.unwrap();
    let second = store.claim_mail(now, Duration::seconds(60), 10).await.unwrap();
    assert_eq!((first.len(), second.len()), (2, 1), "nothing is claimed twice");
    assert!(store.claim_mail(now, Duration::seconds(60), 10).await.unwrap().is_empty());
    store.mark_mail_sent(&first[0].id, now).await.unwrap();
    store.mark_mail_failed(&first[1].id, "connection refused", now + Duration::seconds(5)).await.unwrap();
    // The lease of `second` runs out; the failed one is due again later.
    let later = now + Duration::seconds(61);
    let again = store.claim_mail(later, Duration::seconds(60), 10).await.unwrap();
    let mut ids: Vec<&str> = again.iter().map(|queued| queued.id.as_str()).collect();
    ids.sort();
    let mut expected = vec![first[1].id.as_str(), second[0].id.as_str()];
    expected.sort();
    assert_eq!(ids, expected, "the sent one is never claimed again");
    assert!(again.iter().all(|queued| queued.attempts == 2));
    assert_eq!(store.pending_mail_count().await.unwrap(), 2);
    let bodies =
        crate::common::fixtures::query(&store, "SELECT text_body FROM mail_outbox WHERE sent_at IS NOT NULL").await;
    let body: String = bodies[0].try_get("", "text_body").unwrap();
    assert_eq!(body, "", "a sent mail's body is erased");
}
