//! Authorization answers for services and gateways (R29, R34): whether a
//! user, or an anonymous principal, holds a permission, and a user's
//! permissions per scope.
//!
//! A hot path: one question costs one read of the account's access version
//! (shared with the questions that arrive beside it) when the access cache
//! (`super::access_cache`) holds the account and the subject; otherwise the account's access snapshot and the subject's grants
//! and user row (`UserGrants` do not say whether a user is blocked) are read
//! and kept. Nothing is audited (these are reads). Internal services have no
//! user, so `admin_scope` does not apply: `asker_of` and
//! `check_users_view` are this service's own, smaller rule.

use std::sync::Arc;

use roster_domain::access::{anonymous_holds, holds_one, resolve, AccountFacts, PermissionsByScope, UserGrants};
use roster_domain::caller::{AuthenticatedUser, Caller};
use roster_domain::ids::{AccountId, StoreId, UserId};
use roster_domain::names::AccountKey;
use roster_domain::presets::PermissionName;
use roster_domain::repository::AccessSnapshot;
use roster_domain::DomainError;

use super::access_cache::{CachedUser, Currency};
use super::Directory;

/// A parsed `CheckPermission`.
#[derive(Debug, Clone)]
pub struct PermissionQuestion {
    /// `None`: an anonymous principal (R34).
    pub subject: Option<UserId>,
    pub permission: PermissionName,
    /// `None`: account-wide (a store-level permission: in every store).
    pub store: Option<StoreId>,
}

/// Who may ask about whom, decided from the caller alone; a user asking
/// about someone else still needs `users.view`.
#[derive(Debug, Clone, Copy)]
enum Asker<'a> {
    InternalService,
    User(&'a AuthenticatedUser),
}

fn facts(snapshot: &AccessSnapshot) -> AccountFacts {
    AccountFacts { billing_level: snapshot.account.billing_level, is_platform: snapshot.account.is_platform }
}

/// R14, R29: a user's permissions per scope in the account of `snapshot`;
/// a blocked user holds nothing (and is still the owner, if they are).
pub fn permissions_by_scope(snapshot: &AccessSnapshot, grants: &UserGrants, blocked: bool) -> PermissionsByScope {
    if blocked {
        return PermissionsByScope { is_owner: grants.is_owner, ..PermissionsByScope::none() };
    }
    PermissionsByScope::from(&resolve(&snapshot.catalog, &snapshot.groups, grants, facts(snapshot)))
}

fn user_not_found() -> DomainError {
    DomainError::NotFound { entity: "user", reason: "USER_NOT_FOUND" }
}

/// The askers of this service (R29, R34): internal services about anyone;
/// users, with a full session, about their own account.
fn asker_of(caller: &Caller, account_id: AccountId) -> Result<Asker<'_>, DomainError> {
    match caller {
        Caller::Anonymous => Err(DomainError::unauthenticated("SESSION_REQUIRED", "a session token is required")),
        Caller::InternalService => Ok(Asker::InternalService),
        Caller::User(user) if user.restricted_to_password_change => Err(DomainError::permission_denied(
            "PASSWORD_CHANGE_REQUIRED",
            "R42: this session may only change its password",
        )),
        Caller::User(user) if user.account_id != account_id => {
            Err(DomainError::permission_denied("OTHER_ACCOUNT", "the account belongs to another tenant"))
        }
        Caller::User(user) => Ok(Asker::User(user)),
    }
}

/// One user's facts: grants, and whether they are blocked (R14: a blocked
/// user holds nothing).
type Subject = Arc<CachedUser>;

/// The user whose grants are needed besides the subject's: the asking user,
/// when asking about someone else (to check `users.view`).
fn asking_user_to_check(asker: Asker<'_>, subject: UserId) -> Option<UserId> {
    match asker {
        Asker::User(user) if user.user_id != subject => Some(user.user_id),
        _ => None,
    }
}

/// R29: a user asks about others only with `users.view`. Reads are not
/// audited.
fn check_users_view(snapshot: &AccessSnapshot, asker_grants: &UserGrants) -> Result<(), DomainError> {
    let users_view = PermissionName::parse("permission", "users.view").map_err(DomainError::from)?;
    let permissions = resolve(&snapshot.catalog, &snapshot.groups, asker_grants, facts(snapshot));
    if permissions.holds(&users_view, None) {
        return Ok(());
    }
    Err(DomainError::permission_denied("MISSING_PERMISSION", "R29: asking about other users needs users.view"))
}

impl Directory {
    /// Everything a question about `subject` needs, from the access cache,
    /// the asker authorized before the subject's existence is revealed.
    async fn question_facts(
        &self,
        caller: &Caller,
        account_id: AccountId,
        subject: UserId,
    ) -> Result<(Arc<AccessSnapshot>, Subject), DomainError> {
        let asker = asker_of(caller, account_id)?;
        let asking_user = asking_user_to_check(asker, subject);
        let account = self.access.account(&self.repository, account_id, Currency::Heard).await?;
        if let Some(asking_user) = asking_user {
            let asker = account.user(&self.repository, asking_user).await?.ok_or_else(|| {
                DomainError::unauthenticated("SESSION_UNKNOWN", "the session's user no longer exists")
            })?;
            check_users_view(&account.snapshot, &asker.grants)?;
        }
        let subject = account.user(&self.repository, subject).await?.ok_or_else(user_not_found)?;
        Ok((Arc::clone(&account.snapshot), subject))
    }

    /// R29, R34: whether the subject holds the permission. A permission
    /// missing from the catalog never holds; a blocked user holds nothing;
    /// an anonymous principal holds the Anonymous group's store-level
    /// permissions in public stores only.
    pub async fn check_permission(
        &self,
        caller: &Caller,
        account_id: AccountId,
        question: &PermissionQuestion,
    ) -> Result<bool, DomainError> {
        let Some(subject) = question.subject else {
            return self.check_anonymous(caller, account_id, question).await;
        };
        let (snapshot, subject) = self.question_facts(caller, account_id, subject).await?;
        if subject.blocked {
            return Ok(false);
        }
        // The one permission asked, not all of them (issue 6).
        Ok(holds_one(
            &snapshot.catalog,
            &snapshot.groups,
            &subject.grants,
            facts(&snapshot),
            &question.permission,
            question.store,
        ))
    }

    /// R34: without a store an anonymous principal holds nothing; the store
    /// is read only then, to learn whether it is public.
    async fn check_anonymous(
        &self,
        caller: &Caller,
        account_id: AccountId,
        question: &PermissionQuestion,
    ) -> Result<bool, DomainError> {
        asker_of(caller, account_id)?;
        let Some(store_id) = question.store else {
            // Unknown accounts are still not found.
            self.repository
                .find_account(&AccountKey::Id(account_id))
                .await?
                .ok_or(DomainError::NotFound { entity: "account", reason: "ACCOUNT_NOT_FOUND" })?;
            return Ok(false);
        };
        let (account, store) = futures::try_join!(
            self.access.account(&self.repository, account_id, Currency::Heard),
            self.repository.find_store(account_id, store_id)
        )?;
        let snapshot = &account.snapshot;
        let store = store.ok_or(DomainError::NotFound { entity: "store", reason: "STORE_NOT_FOUND" })?;
        Ok(anonymous_holds(
            &snapshot.catalog,
            &snapshot.groups,
            snapshot.anonymous_group,
            facts(snapshot),
            &question.permission,
            store.is_public,
        ))
    }

    /// R29: a user's permissions per scope; a blocked user's are empty.
    pub async fn effective_permissions(
        &self,
        caller: &Caller,
        account_id: AccountId,
        user_id: UserId,
    ) -> Result<PermissionsByScope, DomainError> {
        let (snapshot, subject) = self.question_facts(caller, account_id, user_id).await?;
        Ok(permissions_by_scope(&snapshot, &subject.grants, subject.blocked))
    }
}

#[cfg(test)]
mod tests {
    use roster_domain::ids::SessionId;

    use super::*;

    fn user(account_id: AccountId, restricted: bool) -> Caller {
        Caller::User(AuthenticatedUser {
            user_id: UserId::generate(),
            account_id,
            session_id: SessionId::generate(),
            login_name: "ann".to_owned(),
            display_name: "Ann".to_owned(),
            is_platform_operator: false,
            restricted_to_password_change: restricted,
        })
    }

    #[test]
    fn askers_are_internal_services_and_full_sessions_of_the_account() {
        let account_id = AccountId::generate();
        let reason = |caller: &Caller| asker_of(caller, account_id).map(|_| ()).map_err(|error| error.reason());
        assert_eq!(reason(&Caller::Anonymous), Err("SESSION_REQUIRED"));
        assert_eq!(reason(&Caller::InternalService), Ok(()));
        assert_eq!(reason(&user(account_id, false)), Ok(()));
        assert_eq!(reason(&user(account_id, true)), Err("PASSWORD_CHANGE_REQUIRED"));
        assert_eq!(reason(&user(AccountId::generate(), false)), Err("OTHER_ACCOUNT"));
    }

    #[test]
    fn only_a_user_asking_about_someone_else_needs_users_view() {
        let account_id = AccountId::generate();
        let caller = user(account_id, false);
        let Ok(asker) = asker_of(&caller, account_id) else { panic!("a user of the account may ask") };
        let own_id = caller.user().map(|user| user.user_id).unwrap();
        assert_eq!(asking_user_to_check(asker, own_id), None);
        assert_eq!(asking_user_to_check(asker, UserId::generate()), Some(own_id));
        assert_eq!(asking_user_to_check(Asker::InternalService, UserId::generate()), None);
    }
}
