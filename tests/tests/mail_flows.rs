//! End to end with a real SMTP server (aiosmtpd, one per test): invitation
//! and reset mails are read from the server, their tokens used (R11, R17,
//! R18, R42, R43; PCI DSS v4 8.3). Each runs on SQLite and on PostgreSQL.

use roster_e2e::cluster::with_bearer;
use roster_e2e::fixtures::{Tenant, PASSWORD};
use roster_e2e::smtp_process::{line_value, mail_env, SmtpSink};
use roster_e2e::status::expect_error;
use roster_e2e::{on_directory_backends, Cluster, ClusterOptions};
use roster_proto::directory::v1::{
    AcceptInvitationRequest, ChangePasswordRequest, CompletePasswordResetRequest, CreateUserRequest, GetUserRequest,
    InvitationState, InviteUserRequest, ListUsersRequest, RequestPasswordResetRequest, ResendInvitationRequest,
    RevokeInvitationRequest, UserStatus,
};
use tonic::Code;

on_directory_backends!(
    r18_invite_read_the_mail_accept_log_in_and_become_active,
    r18_revoked_superseded_expired_and_reused_tokens_say_why,
    r11_reset_by_mailed_link_and_unknown_addresses_get_the_same_answer_and_no_mail,
    r42_a_temporary_password_opens_a_restricted_session_until_changed,
    r10_a_temporary_password_expires_after_its_validity,
    pci_8_3_7_a_password_equal_to_one_of_the_last_four_is_refused,
    mail_waits_in_the_outbox_while_smtp_is_down_and_goes_out_once,
    r36_a_user_whose_session_a_newer_login_replaced_is_told_by_mail,
);

/// The broker reports the eviction to the directory, which queues the
/// notice with the eviction's audit event; the worker mails it.
async fn r36_a_user_whose_session_a_newer_login_replaced_is_told_by_mail(options: ClusterOptions) {
    let sink = SmtpSink::start().await.unwrap();
    let cluster = cluster_with_mail(options, &sink).await;
    // Signing up logs the owner in once; this login replaces that session.
    let acme = Tenant::sign_up(&cluster, "acme").await;
    cluster.login("acme", "owner", PASSWORD).await.expect("a second login");
    let messages = sink.wait_for(1).await.unwrap();
    assert_eq!(messages.len(), 1, "one eviction, one notice: {messages:?}");
    let message = &messages[0];
    assert!(message.contains("To: owner@acme.example"), "{message}");
    assert!(message.contains("New login to your acme Ltd account"), "{message}");
    assert!(message.contains("203.0.113.7"), "it says where the new login came from: {message}");
    assert!(!message.contains(&acme.owner.token), "no token in the notice");
}

async fn cluster_with_mail(options: ClusterOptions, sink: &SmtpSink) -> Cluster {
    let env = mail_env(sink);
    let env: Vec<(&str, &str)> = env.iter().map(|(key, value)| (key.as_str(), value.as_str())).collect();
    Cluster::start_with_env(options, &[], &env).await.unwrap()
}

fn invite(tenant: &Tenant<'_>, login: &str) -> InviteUserRequest {
    InviteUserRequest {
        account_id: tenant.account_id.clone(),
        email: format!("{login}@{}.example", tenant.slug),
        login_name: login.to_owned(),
        display_name: format!("Invited {login}"),
        role_assignments: vec![tenant.role("Team member", None)],
    }
}

fn accept(token: &str, password: &str) -> AcceptInvitationRequest {
    AcceptInvitationRequest { account: "acme".to_owned(), token: token.to_owned(), new_password: password.to_owned() }
}

fn token_of(message: &str) -> String {
    line_value(message, "Token: ").unwrap_or_else(|| panic!("no token line in {message}"))
}

async fn r18_invite_read_the_mail_accept_log_in_and_become_active(options: ClusterOptions) {
    let sink = SmtpSink::start().await.unwrap();
    let cluster = cluster_with_mail(options, &sink).await;
    let acme = Tenant::sign_up(&cluster, "acme").await;
    let invited = acme.invitations().invite_user(acme.as_owner(invite(&acme, "ann"))).await.unwrap().into_inner();
    let user_id = invited.user.unwrap().id;

    let messages = sink.wait_for(1).await.unwrap();
    let message = &messages[0];
    assert!(message.contains("To: ann@acme.example"), "{message}");
    assert!(message.contains("acme Ltd"), "the mail carries the account's name");
    assert!(message.contains("text/html"), "plain text and HTML");
    let token = token_of(message);

    let weak = acme.invitations().accept_invitation(accept(&token, "qwerty123456")).await;
    expect_error(weak, Code::InvalidArgument, "PASSWORD_TOO_COMMON");
    let accepted = acme.invitations().accept_invitation(accept(&token, "ann's own long password")).await.unwrap();
    assert_eq!(accepted.into_inner().user_id, user_id);
    let get = GetUserRequest { account_id: acme.account_id.clone(), user_id: user_id.clone() };
    let before_login = acme.users().get_user(acme.as_owner(get.clone())).await.unwrap().into_inner();
    assert_eq!(before_login.status, UserStatus::Invited as i32, "R17: invited until the first login");

    let login = cluster.login("acme", "ann", "ann's own long password").await.expect("ann logs in");
    assert!(!login.principal.unwrap().restricted_to_password_change, "her own password, not a temporary one");
    let after_login = acme.users().get_user(acme.as_owner(get)).await.unwrap().into_inner();
    assert_eq!(after_login.status, UserStatus::Active as i32);
    assert_eq!(after_login.invitation.unwrap().state, InvitationState::Accepted as i32);
    let audit = acme.audit_of("invitation.accept", &user_id).await;
    assert_eq!(audit.len(), 1);
    assert!(!format!("{audit:?}").contains(&token), "no token in the audit log");
}

async fn r18_revoked_superseded_expired_and_reused_tokens_say_why(options: ClusterOptions) {
    let sink = SmtpSink::start().await.unwrap();
    let cluster = cluster_with_mail(options, &sink).await;
    let acme = Tenant::sign_up(&cluster, "acme").await;
    let user_id = acme.invitations().invite_user(acme.as_owner(invite(&acme, "bob"))).await.unwrap().into_inner();
    let user_id = user_id.user.unwrap().id;
    let first = token_of(&sink.wait_for(1).await.unwrap()[0]);
    let about = || (acme.account_id.clone(), user_id.clone());

    let (account_id, user) = about();
    let revoked = acme
        .invitations()
        .revoke_invitation(acme.as_owner(RevokeInvitationRequest { account_id, user_id: user }))
        .await;
    assert_eq!(revoked.unwrap().into_inner().state, InvitationState::Revoked as i32);
    let refused = acme.invitations().accept_invitation(accept(&first, "bob's own long password")).await;
    expect_error(refused, Code::FailedPrecondition, "INVITATION_REVOKED");

    let (account_id, user) = about();
    let resend = ResendInvitationRequest { account_id, user_id: user };
    acme.invitations().resend_invitation(acme.as_owner(resend.clone())).await.unwrap();
    let second = token_of(&sink.wait_for(2).await.unwrap()[1]);
    acme.invitations().resend_invitation(acme.as_owner(resend)).await.unwrap();
    let third = token_of(&sink.wait_for(3).await.unwrap()[2]);
    let superseded = acme.invitations().accept_invitation(accept(&second, "bob's own long password")).await;
    expect_error(superseded, Code::FailedPrecondition, "INVITATION_REVOKED");

    // Expiry: the stored deadline moved into the past.
    cluster
        .execute_sql("UPDATE user_tokens SET expires_at = '2000-01-01T00:00:00+00:00' WHERE state = 'pending'")
        .await
        .unwrap();
    let expired = acme.invitations().accept_invitation(accept(&third, "bob's own long password")).await;
    expect_error(expired, Code::FailedPrecondition, "INVITATION_EXPIRED");
    cluster
        .execute_sql("UPDATE user_tokens SET expires_at = '2999-01-01T00:00:00+00:00' WHERE state = 'pending'")
        .await
        .unwrap();
    acme.invitations().accept_invitation(accept(&third, "bob's own long password")).await.unwrap();
    let reused = acme.invitations().accept_invitation(accept(&third, "bob's other long password")).await;
    expect_error(reused, Code::FailedPrecondition, "INVITATION_USED");
    let unknown = acme.invitations().accept_invitation(accept(&"A".repeat(43), "bob's own long password")).await;
    expect_error(unknown, Code::NotFound, "INVITATION_NOT_FOUND");
}

async fn r11_reset_by_mailed_link_and_unknown_addresses_get_the_same_answer_and_no_mail(options: ClusterOptions) {
    let sink = SmtpSink::start().await.unwrap();
    let cluster = cluster_with_mail(options, &sink).await;
    let acme = Tenant::sign_up(&cluster, "acme").await;
    let member = acme.member("carol", vec![acme.role("Team member", None)]).await;
    let mut passwords = acme.passwords();
    let request = |email: &str| RequestPasswordResetRequest { account: "acme".to_owned(), email: email.to_owned() };

    let unknown = passwords.request_password_reset(request("nobody@acme.example")).await.unwrap().into_inner();
    let known = passwords.request_password_reset(request("carol@acme.example")).await.unwrap().into_inner();
    assert_eq!(unknown, known, "R11: the same answer");
    let messages = sink.wait_for(1).await.unwrap();
    // The known address's mail came after the unknown one's request: had
    // that one sent anything, it would be here first.
    assert_eq!(messages.len(), 1, "nothing went to the unknown address");
    assert!(messages[0].contains("To: carol@acme.example"), "{}", messages[0]);
    let token = token_of(&messages[0]);

    let complete = |password: &str| CompletePasswordResetRequest {
        account: "acme".to_owned(),
        token: token.clone(),
        new_password: password.to_owned(),
    };
    let reused_password = passwords.complete_password_reset(complete(PASSWORD)).await;
    expect_error(reused_password, Code::InvalidArgument, "PASSWORD_REUSED");
    passwords.complete_password_reset(complete("carol's brand new password")).await.unwrap();
    let again = passwords.complete_password_reset(complete("carol's other new password")).await;
    expect_error(again, Code::FailedPrecondition, "RESET_TOKEN_USED");

    assert!(cluster.login("acme", "carol", PASSWORD).await.is_err(), "the old password is gone");
    cluster.login("acme", "carol", "carol's brand new password").await.expect("the new one works");
    let listing = ListUsersRequest { account_id: acme.account_id.clone(), ..Default::default() };
    let old_session = acme.users().list_users(with_bearer(listing, &member.token)).await;
    assert_eq!(old_session.unwrap_err().code(), Code::Unauthenticated, "R38: every session ended");
    let audited = acme.audit_of("user.request_password_reset", "").await;
    assert_eq!(audited.len(), 2, "both requests are audited, the unknown one as a failure");
}

async fn r42_a_temporary_password_opens_a_restricted_session_until_changed(options: ClusterOptions) {
    let sink = SmtpSink::start().await.unwrap();
    let cluster = cluster_with_mail(options, &sink).await;
    let acme = Tenant::sign_up(&cluster, "acme").await;
    let create = CreateUserRequest {
        account_id: acme.account_id.clone(),
        login_name: "dave".to_owned(),
        email: "dave@acme.example".to_owned(),
        display_name: "Dave".to_owned(),
        role_assignments: vec![acme.role("Administrator", None)],
        ..Default::default()
    };
    let created = acme.users().create_user(acme.as_owner(create)).await.unwrap().into_inner();
    let temporary = created.temporary_password;
    let login = cluster.login("acme", "dave", &temporary).await.unwrap();
    assert!(login.principal.unwrap().restricted_to_password_change, "R42: restricted");
    let listing = ListUsersRequest { account_id: acme.account_id.clone(), ..Default::default() };
    let refused = acme.users().list_users(with_bearer(listing.clone(), &login.token)).await;
    expect_error(refused, Code::PermissionDenied, "PASSWORD_CHANGE_REQUIRED");

    let change = |current: &str, new: &str| {
        with_bearer(
            ChangePasswordRequest { current_password: current.to_owned(), new_password: new.to_owned() },
            &login.token,
        )
    };
    let mut passwords = acme.passwords();
    expect_error(
        passwords.change_password(change("wrong password!", "dave's own password")).await,
        Code::InvalidArgument,
        "CURRENT_PASSWORD_WRONG",
    );
    expect_error(
        passwords.change_password(change(&temporary, "short")).await,
        Code::InvalidArgument,
        "PASSWORD_TOO_SHORT",
    );
    expect_error(
        passwords.change_password(change(&temporary, &temporary)).await,
        Code::InvalidArgument,
        "PASSWORD_REUSED",
    );
    passwords.change_password(change(&temporary, "dave's own password")).await.unwrap();

    let fresh = cluster.login("acme", "dave", "dave's own password").await.unwrap();
    assert!(!fresh.principal.unwrap().restricted_to_password_change, "unrestricted after the change");
    acme.users().list_users(with_bearer(listing, &fresh.token)).await.expect("an unrestricted session lists users");
    assert!(cluster.login("acme", "dave", &temporary).await.is_err(), "the temporary password is spent");
}

async fn pci_8_3_7_a_password_equal_to_one_of_the_last_four_is_refused(options: ClusterOptions) {
    let sink = SmtpSink::start().await.unwrap();
    let cluster = cluster_with_mail(options, &sink).await;
    let acme = Tenant::sign_up(&cluster, "acme").await;
    acme.member("erin", vec![acme.role("Team member", None)]).await;
    let sequence = ["second password!", "third password!!", "fourth password!", "fifth password!!"];
    let mut current = PASSWORD.to_owned();
    let mut passwords = acme.passwords();
    for next in sequence {
        let session = cluster.login("acme", "erin", &current).await.unwrap();
        let request = ChangePasswordRequest { current_password: current.clone(), new_password: next.to_owned() };
        passwords.change_password(with_bearer(request, &session.token)).await.unwrap();
        current = next.to_owned();
    }
    let session = cluster.login("acme", "erin", &current).await.unwrap();
    for recent in &sequence {
        let request = ChangePasswordRequest { current_password: current.clone(), new_password: (*recent).to_owned() };
        let refused = passwords.change_password(with_bearer(request, &session.token)).await;
        expect_error(refused, Code::InvalidArgument, "PASSWORD_REUSED");
    }
    // The fixture password is the fifth most recent: allowed again.
    let request = ChangePasswordRequest { current_password: current.clone(), new_password: PASSWORD.to_owned() };
    passwords.change_password(with_bearer(request, &session.token)).await.expect("older than the last four");
}

async fn mail_waits_in_the_outbox_while_smtp_is_down_and_goes_out_once(options: ClusterOptions) {
    let mut sink = SmtpSink::start().await.unwrap();
    let cluster = cluster_with_mail(options, &sink).await;
    let acme = Tenant::sign_up(&cluster, "acme").await;
    sink.stop().await;
    acme.invitations().invite_user(acme.as_owner(invite(&acme, "fay"))).await.unwrap();
    // The worker tries, fails, and keeps the mail.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let failed = cluster
            .query_strings("SELECT id FROM mail_outbox WHERE sent_at IS NULL AND last_error IS NOT NULL")
            .await
            .unwrap();
        if failed.len() == 1 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the delivery never failed");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(sink.messages().is_empty());
    sink.restart().await.unwrap();
    let messages = sink.wait_for(1).await.unwrap();
    assert!(messages[0].contains("To: fay@acme.example"));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while cluster.query_strings("SELECT id FROM mail_outbox WHERE sent_at IS NULL").await.unwrap().len() == 1 {
        assert!(std::time::Instant::now() < deadline, "the mail was never marked sent");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    // Marked sent, so never claimed again: one message, however long we wait.
    let sent = cluster.query_strings("SELECT id FROM mail_outbox WHERE sent_at IS NOT NULL").await.unwrap();
    assert_eq!(sent.len(), 1);
    assert_eq!(sink.messages().len(), 1, "sent exactly once");
}

async fn r10_a_temporary_password_expires_after_its_validity(options: ClusterOptions) {
    let sink = SmtpSink::start().await.unwrap();
    let cluster = cluster_with_mail(options, &sink).await;
    let acme = Tenant::sign_up(&cluster, "acme").await;
    let create = CreateUserRequest {
        account_id: acme.account_id.clone(),
        login_name: "gus".to_owned(),
        email: "gus@acme.example".to_owned(),
        display_name: "Gus".to_owned(),
        role_assignments: vec![acme.role("Team member", None)],
        ..Default::default()
    };
    let created = acme.users().create_user(acme.as_owner(create)).await.unwrap().into_inner();
    let temporary = created.temporary_password;
    cluster.login("acme", "gus", &temporary).await.expect("a fresh temporary password works");
    // Set more than 24 hours ago (the default validity).
    let moved = cluster
        .execute_sql(&format!(
            "UPDATE users SET password_changed_at = '2000-01-01T00:00:00+00:00' WHERE id = '{}'",
            created.user.unwrap().id
        ))
        .await
        .unwrap();
    assert_eq!(moved, 1);
    let refused = cluster.login("acme", "gus", &temporary).await;
    expect_error(refused, Code::Unauthenticated, "INVALID_CREDENTIALS");
    let events = acme.audit_events(roster_proto::directory::v1::ListAuditEventsRequest::default()).await;
    assert!(
        events.iter().any(|event| event.reason == "TEMPORARY_PASSWORD_EXPIRED"),
        "the real reason is in the audit log only"
    );
}
