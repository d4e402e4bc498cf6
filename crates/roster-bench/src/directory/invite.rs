//! Scenario 5: InviteUser (no password hashing on that path) in the accounts
//! of 10,000 and 1,000,000 users, side by side.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use roster_e2e::cluster::with_bearer;
use roster_e2e::Cluster;
use roster_proto::directory::v1::invitation_service_client::InvitationServiceClient;
use roster_proto::directory::v1::InviteUserRequest;

use super::drive;
use crate::report::Latencies;

/// Requests in flight while invitations are measured.
pub const IN_FLIGHT: usize = 16;

/// Invites fresh users into `account_id` for `duration`, as its owner.
pub async fn measure(
    cluster: &Cluster,
    slug: &str,
    account_id: &str,
    owner_token: &str,
    duration: Duration,
) -> anyhow::Result<(Latencies, f64)> {
    let channel = cluster.directory_channel().await;
    let next = Arc::new(AtomicU64::new(0));
    let (slug, account_id, token) = (slug.to_owned(), account_id.to_owned(), owner_token.to_owned());
    drive(IN_FLIGHT, duration, move |_, _| {
        let mut client = InvitationServiceClient::new(channel.clone());
        let number = next.fetch_add(1, Ordering::Relaxed);
        let request = with_bearer(
            InviteUserRequest {
                account_id: account_id.clone(),
                email: format!("invitee{number}@{slug}.example"),
                login_name: format!("invitee{number}"),
                display_name: format!("Invitee {number}"),
                role_assignments: Vec::new(),
            },
            &token,
        );
        async move {
            client.invite_user(request).await?;
            Ok(())
        }
    })
    .await
}
