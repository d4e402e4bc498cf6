//! [`PermissionRepository`]: the global permission catalog (R20). Internal
//! services register their permissions; a registration may add entries and
//! reword descriptions, never change what an entry means.

use std::collections::BTreeMap;

use async_trait::async_trait;
use roster_domain::audit::RequestContext;
use roster_domain::presets::{PermissionName, PermissionSpec};
use roster_domain::repository::PermissionRepository;
use roster_domain::DomainError;
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use serde_json::json;

use crate::audit::{audit_change, AuditTarget};
use crate::changes::Changes;
use crate::convert::permission_spec_from_row;
use crate::entity::permissions;
use crate::error::failed;
use crate::store::SeaDirectoryStore;

fn redefined(name: &str) -> DomainError {
    DomainError::FailedPrecondition {
        rule: "R20",
        reason: "PERMISSION_REDEFINED",
        message: format!("{name} is registered with another scope level, billing or owner-only flag"),
    }
}

/// Whether two entries mean the same (descriptions may differ).
fn same_meaning(left: &PermissionSpec, right: &PermissionSpec) -> bool {
    left.scope == right.scope && left.billing == right.billing && left.owner_only == right.owner_only
}

fn spec_json(spec: &PermissionSpec) -> serde_json::Value {
    json!({
        "description": spec.description,
        "scope": spec.scope.as_str(),
        "billing": spec.billing,
        "owner_only": spec.owner_only,
    })
}

#[async_trait]
impl PermissionRepository for SeaDirectoryStore {
    #[tracing::instrument(name = "directory_store.register_permissions", skip_all, fields(registered_by = registered_by, count = permissions.len()))]
    async fn register_permissions(
        &self,
        permissions: Vec<PermissionSpec>,
        registered_by: &str,
        context: &RequestContext,
    ) -> Result<Vec<PermissionName>, DomainError> {
        let mut wanted: BTreeMap<String, PermissionSpec> = BTreeMap::new();
        for spec in permissions {
            match wanted.get(spec.name.as_str()) {
                Some(earlier) if !same_meaning(earlier, &spec) => return Err(redefined(spec.name.as_str())),
                _ => {
                    wanted.insert(spec.name.as_str().to_owned(), spec);
                }
            }
        }
        if wanted.is_empty() {
            return Ok(Vec::new());
        }
        let now = self.now();
        let transaction = self.begin_catalog_write().await?;
        let stored = permissions::Entity::find()
            .filter(permissions::Column::Name.is_in(wanted.keys().cloned()))
            .all(&transaction)
            .await
            .map_err(failed("reading the permission catalog"))?;
        let mut stored: BTreeMap<String, PermissionSpec> = stored
            .into_iter()
            .map(|row| Ok((row.name.clone(), permission_spec_from_row(row)?)))
            .collect::<Result<_, DomainError>>()?;
        // Every check before any write: a refused registration writes nothing.
        for (name, spec) in &wanted {
            if stored.get(name).is_some_and(|existing| !same_meaning(existing, spec)) {
                return Err(redefined(name));
            }
        }
        let mut changes = Changes::new();
        let mut added = Vec::new();
        let mut added_names = Vec::new();
        for (name, spec) in &wanted {
            match stored.remove(name) {
                None => {
                    added_names.push(spec.name.clone());
                    added.push(permissions::ActiveModel {
                        name: Set(name.clone()),
                        description: Set(spec.description.clone()),
                        scope_level: Set(spec.scope.as_str().to_owned()),
                        billing: Set(spec.billing),
                        owner_only: Set(spec.owner_only),
                        registered_by: Set(registered_by.to_owned()),
                        created_at: Set(now),
                    });
                    changes.created(name, spec_json(spec));
                }
                Some(existing) if existing.description != spec.description => {
                    permissions::Entity::update_many()
                        .col_expr(permissions::Column::Description, Expr::value(spec.description.clone()))
                        .filter(permissions::Column::Name.eq(name.as_str()))
                        .exec(&transaction)
                        .await
                        .map_err(failed("rewording a permission"))?;
                    changes.field(name, spec_json(&existing), spec_json(spec));
                }
                Some(_) => {}
            }
        }
        if changes.is_empty() {
            // Registering what is already there changes nothing.
            return Ok(Vec::new());
        }
        if !added.is_empty() {
            permissions::Entity::insert_many(added)
                .exec_without_returning(&transaction)
                .await
                .map_err(failed("registering permissions"))?;
        }
        let target = AuditTarget { kind: "permission_catalog", id: None, name: Some(registered_by.to_owned()) };
        audit_change(&transaction, None, "permission.register", target, changes, now, context).await?;
        transaction.commit().await.map_err(failed("committing a permission registration"))?;
        // `wanted` is sorted by name, and so are the names added.
        Ok(added_names)
    }

    #[tracing::instrument(name = "directory_store.list_permissions", skip_all)]
    async fn list_permissions(&self) -> Result<Vec<PermissionSpec>, DomainError> {
        permissions::Entity::find()
            .order_by_asc(permissions::Column::Name)
            .all(&self.database)
            .await
            .map_err(failed("listing permissions"))?
            .into_iter()
            .map(permission_spec_from_row)
            .collect()
    }
}
