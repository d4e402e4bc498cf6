//! Rows written when an account is born: the permission catalog, the account
//! and its owner, the default groups of a preset file. Every function runs
//! inside the caller's transaction.

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, Utc};
use roster_domain::account::{Account, User};
use roster_domain::ids::{AccountId, GroupId, UserId};
use roster_domain::names::DisplayName;
use roster_domain::password::PasswordHash;
use roster_domain::presets::{PermissionSpec, Presets};
use roster_domain::DomainError;
use sea_orm::sea_query::OnConflict;
use sea_orm::{ActiveValue::Set, ConnectionTrait, EntityTrait};

use crate::entity::{accounts, group_assignable, group_permissions, groups, permissions, role_assignments, users};
use crate::error::{failed, failed_under, FieldPrefix};

/// Who registered the catalog entries that come from a preset file.
const PRESETS_REGISTRANT: &str = "presets";

/// The JSON stored for a new user's IP allowlist: any address (R15).
pub(crate) const ANY_ADDRESS_ALLOWLIST: &str = r#"["*"]"#;

/// Inserts every catalog entry that is not there yet; existing entries are
/// left as they are.
pub(crate) async fn upsert_catalog(
    connection: &impl ConnectionTrait,
    catalog: &[PermissionSpec],
    now: DateTime<Utc>,
) -> Result<(), DomainError> {
    if catalog.is_empty() {
        return Ok(());
    }
    let rows = catalog.iter().map(|permission| permissions::ActiveModel {
        name: Set(permission.name.as_str().to_owned()),
        description: Set(permission.description.clone()),
        scope_level: Set(permission.scope.as_str().to_owned()),
        billing: Set(permission.billing),
        owner_only: Set(permission.owner_only),
        registered_by: Set(PRESETS_REGISTRANT.to_owned()),
        created_at: Set(now),
    });
    permissions::Entity::insert_many(rows)
        .on_conflict(OnConflict::column(permissions::Column::Name).do_nothing().to_owned())
        .exec_without_returning(connection)
        .await
        .map_err(failed("registering the permission catalog"))?;
    Ok(())
}

/// Inserts the account row. Its owner key is checked at commit, so the owner
/// may be inserted after it.
pub(crate) async fn insert_account(connection: &impl ConnectionTrait, account: &Account) -> Result<(), DomainError> {
    let row = accounts::ActiveModel {
        id: Set(account.id.to_string()),
        slug: Set(account.slug.as_str().to_owned()),
        display_name: Set(account.display_name.as_str().to_owned()),
        billing_level: Set(account.billing_level.as_str().to_owned()),
        is_platform: Set(account.is_platform),
        owner_user_id: Set(account.owner_user_id.to_string()),
        created_at: Set(account.created_at),
        updated_at: Set(account.updated_at),
    };
    accounts::Entity::insert(row).exec_without_returning(connection).await.map_err(failed("inserting an account"))?;
    Ok(())
}

/// Inserts a user row with `password_hash` and an allow-all IP list.
pub(crate) async fn insert_user(
    connection: &impl ConnectionTrait,
    user: &User,
    password_hash: &PasswordHash,
) -> Result<(), DomainError> {
    let row = users::ActiveModel {
        id: Set(user.id.to_string()),
        account_id: Set(user.account_id.to_string()),
        login_name: Set(user.login_name.display().to_owned()),
        login_key: Set(user.login_name.key().to_owned()),
        email: Set(user.email.as_str().to_owned()),
        email_key: Set(user.email.key()),
        display_name: Set(user.display_name.as_str().to_owned()),
        status: Set(user.status.as_str().to_owned()),
        password_hash: Set(Some(password_hash.as_phc().to_owned())),
        must_change_password: Set(user.must_change_password),
        password_changed_at: Set(Some(user.created_at)),
        last_login_at: Set(None),
        ip_allowlist: Set(ANY_ADDRESS_ALLOWLIST.to_owned()),
        data_filters: Set("{}".to_owned()),
        created_at: Set(user.created_at),
        updated_at: Set(user.updated_at),
    };
    users::Entity::insert(row)
        .exec_without_returning(connection)
        .await
        .map_err(failed_under("inserting a user", FieldPrefix::Owner))?;
    Ok(())
}

fn bad_presets(message: String) -> DomainError {
    DomainError::internal("seeding default groups", message)
}

fn group_key(what: &str, name: &str) -> Result<String, DomainError> {
    DisplayName::parse(what, name)
        .map(|name| name.key())
        .map_err(|violation| bad_presets(format!("preset group name {name:?}: {violation}")))
}

/// The default groups of `presets` in `account_id`, with their permissions
/// and assignable lists, parents resolved by name. Returns group ids by name
/// key.
pub(crate) async fn seed_groups(
    connection: &impl ConnectionTrait,
    account_id: AccountId,
    presets: &Presets,
    now: DateTime<Utc>,
) -> Result<HashMap<String, GroupId>, DomainError> {
    let mut ids_by_key: HashMap<String, GroupId> = HashMap::new();
    let mut group_rows = Vec::with_capacity(presets.groups.len());
    let mut permission_rows = Vec::new();
    for preset in &presets.groups {
        let name = DisplayName::parse("name", &preset.name)
            .map_err(|violation| bad_presets(format!("preset group name {:?}: {violation}", preset.name)))?;
        let parent_id = match &preset.parent {
            None => None,
            Some(parent) => {
                let parent_key = group_key("parent", parent)?;
                let parent_id = ids_by_key.get(&parent_key).copied().ok_or_else(|| {
                    bad_presets(format!("preset group {}: parent {parent} must come before it", preset.name))
                })?;
                Some(parent_id)
            }
        };
        let id = GroupId::generate();
        if ids_by_key.insert(name.key(), id).is_some() {
            return Err(bad_presets(format!("preset group {} is listed twice", preset.name)));
        }
        group_rows.push(groups::ActiveModel {
            id: Set(id.to_string()),
            account_id: Set(account_id.to_string()),
            parent_id: Set(parent_id.map(|parent_id| parent_id.to_string())),
            name: Set(name.as_str().to_owned()),
            name_key: Set(name.key()),
            is_template: Set(preset.template),
            badge_colour: Set(preset.badge_colour.clone()),
            created_at: Set(now),
            updated_at: Set(now),
        });
        let distinct_permissions: BTreeSet<&str> =
            preset.permissions.iter().map(|permission| permission.as_str()).collect();
        permission_rows.extend(distinct_permissions.into_iter().map(|permission| group_permissions::ActiveModel {
            group_id: Set(id.to_string()),
            permission_name: Set(permission.to_owned()),
        }));
    }

    let mut assignable_rows = Vec::new();
    for preset in &presets.groups {
        let group_id = ids_by_key[&group_key("name", &preset.name)?];
        let mut assignable_ids = BTreeSet::new();
        for assignable in &preset.assignable {
            let assignable_id = ids_by_key.get(&group_key("assignable", assignable)?).copied().ok_or_else(|| {
                bad_presets(format!("preset group {}: assignable group {assignable} is not defined", preset.name))
            })?;
            assignable_ids.insert(assignable_id);
        }
        assignable_rows.extend(assignable_ids.into_iter().map(|assignable_id| group_assignable::ActiveModel {
            group_id: Set(group_id.to_string()),
            assignable_group_id: Set(assignable_id.to_string()),
        }));
    }

    // Parents precede children in one statement; foreign keys are checked
    // at its end.
    if !group_rows.is_empty() {
        groups::Entity::insert_many(group_rows)
            .exec_without_returning(connection)
            .await
            .map_err(failed("inserting default groups"))?;
    }
    if !permission_rows.is_empty() {
        group_permissions::Entity::insert_many(permission_rows)
            .exec_without_returning(connection)
            .await
            .map_err(failed("granting default group permissions"))?;
    }
    if !assignable_rows.is_empty() {
        group_assignable::Entity::insert_many(assignable_rows)
            .exec_without_returning(connection)
            .await
            .map_err(failed("declaring assignable groups"))?;
    }
    Ok(ids_by_key)
}

/// Assigns `user_id` to `group_id` across the whole account.
pub(crate) async fn assign_account_wide(
    connection: &impl ConnectionTrait,
    account_id: AccountId,
    user_id: UserId,
    group_id: GroupId,
    now: DateTime<Utc>,
) -> Result<(), DomainError> {
    let row = role_assignments::ActiveModel {
        id: Set(uuid::Uuid::now_v7().to_string()),
        account_id: Set(account_id.to_string()),
        user_id: Set(user_id.to_string()),
        group_id: Set(group_id.to_string()),
        store_id: Set(None),
        scope_key: Set(role_assignments::ACCOUNT_SCOPE_KEY.to_owned()),
        created_at: Set(now),
    };
    role_assignments::Entity::insert(row)
        .exec_without_returning(connection)
        .await
        .map_err(failed("assigning the owner's group"))?;
    Ok(())
}
