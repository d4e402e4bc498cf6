//! Domain values to protobuf messages, by hand.

use chrono::{DateTime, Utc};
use prost_types::Timestamp;
use roster_domain::account::{Account, BillingLevel, User, UserStatus};
use roster_proto::directory::v1 as proto;

pub fn timestamp(time: DateTime<Utc>) -> Timestamp {
    Timestamp { seconds: time.timestamp(), nanos: time.timestamp_subsec_nanos() as i32 }
}

pub fn account_message(account: &Account) -> proto::Account {
    let billing_level = match account.billing_level {
        BillingLevel::Account => proto::BillingLevel::Account,
        BillingLevel::Store => proto::BillingLevel::Store,
    };
    proto::Account {
        id: account.id.to_string(),
        slug: account.slug.to_string(),
        display_name: account.display_name.to_string(),
        owner_user_id: account.owner_user_id.to_string(),
        billing_level: billing_level as i32,
        create_time: Some(timestamp(account.created_at)),
        update_time: Some(timestamp(account.updated_at)),
    }
}

pub fn user_message(user: &User) -> proto::User {
    let status = match user.status {
        UserStatus::Invited => proto::UserStatus::Invited,
        UserStatus::Active => proto::UserStatus::Active,
        UserStatus::Blocked => proto::UserStatus::Blocked,
    };
    proto::User {
        id: user.id.to_string(),
        account_id: user.account_id.to_string(),
        login_name: user.login_name.display().to_owned(),
        email: user.email.to_string(),
        display_name: user.display_name.to_string(),
        status: status as i32,
        is_owner: user.is_owner,
        must_change_password: user.must_change_password,
        create_time: Some(timestamp(user.created_at)),
        update_time: Some(timestamp(user.updated_at)),
    }
}
