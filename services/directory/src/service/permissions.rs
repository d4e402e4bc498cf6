//! The permission catalog (R20): any authenticated caller reads it; only
//! Roster's own services (the internal credential) register permissions.

use futures::StreamExt as _;
use roster_domain::audit::RequestContext;
use roster_domain::caller::Caller;
use roster_domain::names::DisplayName;
use roster_domain::presets::PermissionSpec;
use roster_domain::DomainError;

use super::admin::Act;
use super::Directory;

/// How many accounts the broker is told about at once after a catalog
/// change.
const CATALOG_FAN_OUT: usize = 8;

/// A parsed `RegisterPermissions`.
#[derive(Debug, Clone)]
pub struct Registration {
    /// The registering service, recorded in the catalog and as the audit
    /// event's actor.
    pub service_name: DisplayName,
    pub permissions: Vec<PermissionSpec>,
}

impl Directory {
    /// Users (R42: not a session restricted to changing its password) and
    /// internal services; anonymous callers are `UNAUTHENTICATED`. Sorted by
    /// name.
    pub async fn list_permissions(&self, caller: &Caller) -> Result<Vec<PermissionSpec>, DomainError> {
        match caller {
            Caller::Anonymous => {
                return Err(DomainError::unauthenticated("SESSION_REQUIRED", "a session token is required"))
            }
            Caller::User(user) if user.restricted_to_password_change => {
                return Err(DomainError::permission_denied(
                    "PASSWORD_CHANGE_REQUIRED",
                    "R42: this session may only change its password",
                ))
            }
            Caller::User(_) | Caller::InternalService => {}
        }
        let mut permissions = self.repository.list_permissions().await?;
        permissions.sort_by(|left, right| left.name.cmp(&right.name));
        Ok(permissions)
    }

    /// Only Roster's own services register permissions. A user who tries is
    /// refused and the refusal audited (R43); an anonymous caller is refused
    /// alike, with nobody to attribute the attempt to, so it is not audited.
    pub async fn authorize_registration(&self, caller: &Caller, context: &RequestContext) -> Result<(), DomainError> {
        let refusal = || {
            DomainError::permission_denied(
                "INTERNAL_CREDENTIAL_REQUIRED",
                "registering permissions is for roster's own services",
            )
        };
        match caller {
            Caller::InternalService => Ok(()),
            Caller::Anonymous => Err(refusal()),
            Caller::User(user) => {
                let mut audited = context.clone();
                audited.actor_id = Some(user.user_id);
                audited.actor_name = Some(user.login_name.clone());
                let act = Act::new("permission.register", "permission_catalog", None);
                Err(self.audit_denial(Some(user.account_id), &audited, act, refusal()).await)
            }
        }
    }

    /// R20: adds new permissions and updates descriptions; the store refuses
    /// to redefine an existing permission's scope (`PERMISSION_REDEFINED`)
    /// and audits the registration with the service as its actor.
    pub async fn register_permissions(
        &self,
        caller: &Caller,
        mut context: RequestContext,
        registration: Registration,
    ) -> Result<(), DomainError> {
        self.authorize_registration(caller, &context).await?;
        let service_name = registration.service_name.as_str();
        context.actor_id = None;
        context.actor_name = Some(service_name.to_owned());
        let added = self.repository.register_permissions(registration.permissions, service_name, &context).await?;
        tracing::info!(service = service_name, added = added.len(), "permissions registered");
        if !added.is_empty() {
            self.catalog_changed().await;
        }
        Ok(())
    }

    /// R2, R38: a new catalog entry is held by every account's owner (and
    /// by the members of groups that named it before it existed), so every
    /// account's cached access goes. The catalog is global and the broker
    /// is told per account, a few accounts at a time; a failure to list the
    /// accounts is logged like a broker that missed the news.
    async fn catalog_changed(&self) {
        let account_ids = match self.repository.list_account_ids().await {
            Ok(account_ids) => account_ids,
            Err(error) => {
                tracing::warn!(%error, "could not list accounts to tell the broker about new permissions");
                return;
            }
        };
        futures::stream::iter(account_ids)
            .for_each_concurrent(CATALOG_FAN_OUT, |account_id| self.access_changed(account_id, &[]))
            .await;
    }
}
