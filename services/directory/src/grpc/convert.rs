//! Domain values to protobuf messages, by hand.

use chrono::{DateTime, Utc};
use prost_types::Timestamp;
use roster_domain::account::{Account, BillingLevel, User, UserStatus};
use roster_proto::access::v1 as access_proto;
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
        ..proto::User::default()
    }
}

/// A user with their access settings; group names come from the tree.
pub fn user_profile_message(
    profile: &roster_domain::users::UserProfile,
    groups: &roster_domain::access::GroupTree,
) -> proto::User {
    let mut message = user_message(&profile.user);
    message.ip_allowlist = profile.ip_allowlist.entries();
    message.data_filters = profile
        .data_filters
        .as_map()
        .iter()
        .map(|(name, values)| (name.clone(), proto::StringList { values: values.clone() }))
        .collect();
    message.role_assignments =
        profile.assignments.iter().map(|assignment| role_assignment_message(assignment, groups)).collect();
    message.permission_overrides = profile.overrides.iter().map(override_message).collect();
    message.last_login_time = profile.last_login_at.map(timestamp);
    message.invitation = profile.invitation.as_ref().map(invitation_message);
    message
}

/// R18: an invitation as listings and the invitation RPCs show it.
pub fn invitation_message(invitation: &roster_domain::invitation::Invitation) -> proto::Invitation {
    use roster_domain::invitation::InvitationState;
    let state = match invitation.state {
        InvitationState::Pending => proto::InvitationState::Pending,
        InvitationState::Accepted => proto::InvitationState::Accepted,
        InvitationState::Expired => proto::InvitationState::Expired,
        InvitationState::Revoked => proto::InvitationState::Revoked,
    };
    proto::Invitation {
        user_id: invitation.user_id.to_string(),
        state: state as i32,
        create_time: Some(timestamp(invitation.created_at)),
        expire_time: Some(timestamp(invitation.expires_at)),
        invited_by: invitation.invited_by.clone().unwrap_or_default(),
    }
}

pub fn role_assignment_message(
    assignment: &roster_domain::access::RoleAssignment,
    groups: &roster_domain::access::GroupTree,
) -> proto::RoleAssignment {
    proto::RoleAssignment {
        group_id: assignment.group_id.to_string(),
        store_id: assignment.scope.store().map(|store| store.to_string()).unwrap_or_default(),
        group_name: groups.get(assignment.group_id).map(|node| node.name.clone()).unwrap_or_default(),
    }
}

pub fn override_message(permission_override: &roster_domain::access::PermissionOverride) -> proto::PermissionOverride {
    let effect = match permission_override.effect {
        roster_domain::access::OverrideEffect::Grant => proto::OverrideEffect::Grant,
        roster_domain::access::OverrideEffect::Revoke => proto::OverrideEffect::Revoke,
    };
    proto::PermissionOverride {
        permission: permission_override.permission.to_string(),
        effect: effect as i32,
        store_id: permission_override.scope.store().map(|store| store.to_string()).unwrap_or_default(),
    }
}

/// A group with its counts and inherited permissions (R21, R23, R25, R26).
pub fn group_message(view: &crate::service::groups::GroupView) -> proto::Group {
    let group = &view.group;
    proto::Group {
        id: group.id.to_string(),
        account_id: group.account_id.to_string(),
        name: group.name.to_string(),
        former_names: group.former_names.clone(),
        parent_id: group.parent_id.map(|parent_id| parent_id.to_string()).unwrap_or_default(),
        is_template: group.is_template,
        badge_colour: group.badge_colour.as_str().to_owned(),
        permissions: group.permissions.iter().map(ToString::to_string).collect(),
        inherited_permissions: view.inherited_permissions.iter().map(ToString::to_string).collect(),
        assignable_group_ids: group.assignable.iter().map(ToString::to_string).collect(),
        direct_member_count: view.direct_members,
        total_member_count: view.total_members,
        create_time: Some(timestamp(group.created_at)),
        update_time: Some(timestamp(group.updated_at)),
    }
}

pub fn store_message(store: &roster_domain::stores::Store) -> proto::Store {
    proto::Store {
        id: store.id.to_string(),
        account_id: store.account_id.to_string(),
        name: store.name.to_string(),
        is_public: store.is_public,
        create_time: Some(timestamp(store.created_at)),
        update_time: Some(timestamp(store.updated_at)),
    }
}

pub fn scope_level_message(level: roster_domain::presets::ScopeLevel) -> proto::ScopeLevel {
    match level {
        roster_domain::presets::ScopeLevel::Account => proto::ScopeLevel::Account,
        roster_domain::presets::ScopeLevel::Store => proto::ScopeLevel::Store,
        roster_domain::presets::ScopeLevel::Platform => proto::ScopeLevel::Platform,
    }
}

pub fn permission_message(spec: &roster_domain::presets::PermissionSpec) -> proto::Permission {
    proto::Permission {
        name: spec.name.to_string(),
        description: spec.description.clone(),
        scope_level: scope_level_message(spec.scope) as i32,
        billing: spec.billing,
        owner_only: spec.owner_only,
    }
}

pub fn audit_event_message(event: &roster_domain::repository::AuditEvent) -> proto::AuditEvent {
    proto::AuditEvent {
        id: event.id.to_string(),
        account_id: event.account_id.map(|account_id| account_id.to_string()).unwrap_or_default(),
        occur_time: Some(timestamp(event.occurred_at)),
        actor_id: event.actor_id.map(|actor_id| actor_id.to_string()).unwrap_or_default(),
        actor_name: event.actor_name.clone().unwrap_or_default(),
        action: event.action.clone(),
        target_type: event.target_type.clone(),
        target_id: event.target_id.clone().unwrap_or_default(),
        target_name: event.target_name.clone().unwrap_or_default(),
        changes: json_struct(&event.changes),
        client_address: event.client_address.clone().unwrap_or_default(),
        user_agent: event.user_agent.clone().unwrap_or_default(),
        trace_id: event.trace_id.clone().unwrap_or_default(),
        outcome: event.outcome.as_str().to_owned(),
        reason: event.reason.clone().unwrap_or_default(),
    }
}

/// R29, R40: permissions per scope, losslessly.
pub use roster_server::access::permissions_message as permissions_by_scope_message;

/// R16: a user's data filters, by filter name.
pub fn data_filter_messages(filters: &roster_domain::filters::DataFilters) -> Vec<access_proto::DataFilter> {
    filters
        .as_map()
        .iter()
        .map(|(field, values)| access_proto::DataFilter { field: field.clone(), values: values.clone() })
        .collect()
}

/// R40: what a user may do now, as the broker caches it.
pub fn principal_access_message(access: &crate::service::principal::PrincipalAccess) -> proto::PrincipalAccess {
    proto::PrincipalAccess {
        user_id: access.user_id.to_string(),
        account_id: access.account_id.to_string(),
        group_ids: access.groups.iter().map(|(group_id, _)| group_id.to_string()).collect(),
        group_names: access.groups.iter().map(|(_, name)| name.clone()).collect(),
        is_owner: access.is_owner,
        is_platform_operator: access.is_platform_operator,
        blocked: access.blocked,
        permissions: Some(permissions_by_scope_message(&access.permissions)),
        data_filters: data_filter_messages(&access.data_filters),
        access_version: Some(access.access_version),
        unchanged: false,
    }
}

/// A JSON document as a `google.protobuf.Struct`: `null` is no struct, an
/// object maps field by field, any other value is wrapped as `{"value": ..}`
/// (a Struct is always an object).
pub fn json_struct(value: &serde_json::Value) -> Option<prost_types::Struct> {
    match value {
        serde_json::Value::Null => None,
        serde_json::Value::Object(fields) => Some(json_object(fields)),
        other => Some(prost_types::Struct { fields: [("value".to_owned(), json_value(other))].into() }),
    }
}

fn json_object(fields: &serde_json::Map<String, serde_json::Value>) -> prost_types::Struct {
    prost_types::Struct { fields: fields.iter().map(|(name, value)| (name.clone(), json_value(value))).collect() }
}

/// One JSON value as a `google.protobuf.Value`. Numbers become doubles, the
/// only number a `Value` has.
pub fn json_value(value: &serde_json::Value) -> prost_types::Value {
    use prost_types::value::Kind;
    let kind = match value {
        serde_json::Value::Null => Kind::NullValue(prost_types::NullValue::NullValue as i32),
        serde_json::Value::Bool(flag) => Kind::BoolValue(*flag),
        serde_json::Value::Number(number) => Kind::NumberValue(number.as_f64().unwrap_or(f64::NAN)),
        serde_json::Value::String(text) => Kind::StringValue(text.clone()),
        serde_json::Value::Array(items) => {
            Kind::ListValue(prost_types::ListValue { values: items.iter().map(json_value).collect() })
        }
        serde_json::Value::Object(fields) => Kind::StructValue(json_object(fields)),
    };
    prost_types::Value { kind: Some(kind) }
}

#[cfg(test)]
mod tests {
    use prost_types::value::Kind;
    use serde_json::json;

    use super::*;

    fn kind(value: &prost_types::Value) -> &Kind {
        value.kind.as_ref().expect("every converted value has a kind")
    }

    #[test]
    fn changes_convert_field_by_field_into_a_struct() {
        let changes = json!({
            "display_name": {"before": "Ann", "after": "Anne"},
            "blocked": {"before": false, "after": true},
            "groups": {"before": [], "after": ["Manager", null]},
            "count": 3,
        });
        let converted = json_struct(&changes).unwrap();
        let Kind::StructValue(display_name) = kind(&converted.fields["display_name"]) else { panic!("not a struct") };
        assert_eq!(kind(&display_name.fields["after"]), &Kind::StringValue("Anne".to_owned()));
        let Kind::StructValue(blocked) = kind(&converted.fields["blocked"]) else { panic!("not a struct") };
        assert_eq!(kind(&blocked.fields["after"]), &Kind::BoolValue(true));
        let Kind::StructValue(groups) = kind(&converted.fields["groups"]) else { panic!("not a struct") };
        let Kind::ListValue(after) = kind(&groups.fields["after"]) else { panic!("not a list") };
        assert_eq!(kind(&after.values[0]), &Kind::StringValue("Manager".to_owned()));
        assert_eq!(kind(&after.values[1]), &Kind::NullValue(prost_types::NullValue::NullValue as i32));
        assert_eq!(kind(&converted.fields["count"]), &Kind::NumberValue(3.0));
    }

    #[test]
    fn no_changes_is_no_struct_and_a_bare_value_is_wrapped() {
        assert_eq!(json_struct(&serde_json::Value::Null), None);
        let wrapped = json_struct(&json!("renamed")).unwrap();
        assert_eq!(kind(&wrapped.fields["value"]), &Kind::StringValue("renamed".to_owned()));
    }

    #[test]
    fn r40_permissions_by_scope_convert_losslessly() {
        use roster_domain::access::PermissionsByScope;
        use roster_domain::ids::StoreId;
        use roster_domain::presets::PermissionName;

        let name = |text: &str| PermissionName::parse("permission", text).unwrap();
        let store_id = StoreId::generate();
        let permissions = PermissionsByScope {
            is_owner: false,
            account: [name("users.view")].into(),
            every_store: [name("transactions.view")].into(),
            per_store: [(store_id, [name("orders.view"), name("transactions.view")].into())].into(),
            other_stores: [name("transactions.view"), name("reports.view")].into(),
        };
        let message = permissions_by_scope_message(&permissions);
        assert_eq!(message.account_permissions, ["users.view"]);
        assert_eq!(message.every_store_permissions, ["transactions.view"]);
        assert_eq!(message.store_permissions[0].store_id, store_id.to_string());
        assert_eq!(message.store_permissions[0].permissions, ["orders.view", "transactions.view"]);
        assert_eq!(message.other_store_permissions, ["reports.view", "transactions.view"]);
        let filters =
            std::collections::BTreeMap::from([("country".to_owned(), vec!["US".to_owned(), "JP".to_owned()])]);
        let filters = roster_domain::filters::DataFilters::parse("data_filters", &filters).unwrap();
        let messages = data_filter_messages(&filters);
        assert_eq!(
            (messages[0].field.as_str(), messages[0].values.clone()),
            ("country", vec!["JP".to_owned(), "US".to_owned()])
        );
    }
}
