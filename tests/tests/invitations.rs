//! End to end: invitations by email (R17, R18, R19, R32, R43). Each runs on
//! SQLite and on PostgreSQL.

use roster_e2e::cluster::with_bearer;
use roster_e2e::fixtures::Tenant;
use roster_e2e::status::expect_error;
use roster_e2e::{on_directory_backends, Cluster, ClusterOptions};
use roster_proto::directory::v1::{InvitationState, InviteUserRequest, ListUsersRequest, UserStatus};
use tonic::Code;

on_directory_backends!(
    r18_invite_user_creates_an_invited_user_with_a_pending_invitation,
    r19_inviting_needs_users_invite_and_hands_out_only_assignable_groups,
);

fn invite(
    tenant: &Tenant<'_>,
    login: &str,
    roles: Vec<roster_proto::directory::v1::RoleAssignment>,
) -> InviteUserRequest {
    InviteUserRequest {
        account_id: tenant.account_id.clone(),
        email: format!("{login}@{}.example", tenant.slug),
        login_name: login.to_owned(),
        display_name: format!("Invited {login}"),
        role_assignments: roles,
    }
}

async fn r18_invite_user_creates_an_invited_user_with_a_pending_invitation(options: ClusterOptions) {
    let cluster = Cluster::start(options).await.unwrap();
    let acme = Tenant::sign_up(&cluster, "acme").await;
    let request = invite(&acme, "ann", vec![acme.role("Team member", None)]);
    let invited = acme.invitations().invite_user(acme.as_owner(request)).await.unwrap().into_inner();
    let user = invited.user.unwrap();
    assert_eq!(user.status, UserStatus::Invited as i32);
    assert!(!user.must_change_password, "an invited user chooses their own password");
    let invitation = invited.invitation.unwrap();
    assert_eq!(invitation.state, InvitationState::Pending as i32);
    assert_eq!(invitation.invited_by, "owner");
    let validity = invitation.expire_time.unwrap().seconds - invitation.create_time.unwrap().seconds;
    assert_eq!(validity, 7 * 24 * 3600, "seven days by default");

    let listing = ListUsersRequest {
        account_id: acme.account_id.clone(),
        status: UserStatus::Invited as i32,
        ..Default::default()
    };
    let listed = acme.users().list_users(acme.as_owner(listing)).await.unwrap().into_inner().users;
    let ann = listed.iter().find(|listed| listed.id == user.id).expect("the invited user is listed");
    assert_eq!(ann.invitation.as_ref().map(|invitation| invitation.state), Some(InvitationState::Pending as i32));

    let events = acme.audit_of("user.invite", &user.id).await;
    assert_eq!(events.len(), 1, "one audit event, in the invitation's transaction (R43)");
    // The invitee cannot log in before accepting: there is no password yet.
    assert!(cluster.login("acme", "ann", "").await.is_err());
}

async fn r19_inviting_needs_users_invite_and_hands_out_only_assignable_groups(options: ClusterOptions) {
    let cluster = Cluster::start(options).await.unwrap();
    let acme = Tenant::sign_up(&cluster, "acme").await;
    let store_a = acme.create_store("A", false).await;
    let accountant = acme.member("accountant", vec![acme.role("Accountant", None)]).await;
    let team_member = acme.member("member", vec![acme.role("Team member", Some(&store_a))]).await;
    let manager = acme.member("manager", vec![acme.role("Manager", Some(&store_a))]).await;
    let mut invitations = acme.invitations();

    for (who, token) in [("accountant", &accountant.token), ("team member", &team_member.token)] {
        let request = invite(&acme, &format!("by-{}", who.replace(' ', "-")), vec![]);
        let refused = invitations.invite_user(with_bearer(request, token)).await;
        expect_error(refused, Code::PermissionDenied, "MISSING_PERMISSION");
    }
    // A manager invites team members into their own store only (R31, R32).
    let allowed = invite(&acme, "teammate", vec![acme.role("Team member", Some(&store_a))]);
    invitations.invite_user(with_bearer(allowed, &manager.token)).await.expect("a manager invites a team member");
    let escalation = invite(&acme, "boss", vec![acme.role("Administrator", Some(&store_a))]);
    let refused = invitations.invite_user(with_bearer(escalation, &manager.token)).await;
    assert_eq!(refused.unwrap_err().code(), Code::PermissionDenied, "R32: no escalation through an invitation");
    let account_wide = invite(&acme, "everywhere", vec![acme.role("Team member", None)]);
    let refused = invitations.invite_user(with_bearer(account_wide, &manager.token)).await;
    expect_error(refused, Code::PermissionDenied, "STORE_NOT_HELD");
    let denied = acme.audit_of("user.invite", "").await.into_iter().filter(|event| event.outcome == "denied").count();
    assert_eq!(denied, 4, "every refusal is audited (R43)");
}
