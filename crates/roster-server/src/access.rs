//! The wire form of effective permissions (R29, R40), shared by the
//! directory (`GetPrincipalAccess`) and the broker (`ValidateSession`).

use roster_domain::access::PermissionsByScope;
use roster_domain::presets::PermissionName;
use roster_proto::access::v1 as proto;

/// Names as strings, in the set's (sorted) order.
fn names<'a>(permissions: impl IntoIterator<Item = &'a PermissionName>) -> Vec<String> {
    permissions.into_iter().map(ToString::to_string).collect()
}

/// Permissions per scope, losslessly (`other_store_permissions` answers for
/// stores the user's grants do not name).
pub fn permissions_message(permissions: &PermissionsByScope) -> proto::PermissionsByScope {
    proto::PermissionsByScope {
        is_owner: permissions.is_owner,
        account_permissions: names(&permissions.account),
        every_store_permissions: names(&permissions.every_store),
        store_permissions: permissions
            .per_store
            .iter()
            .map(|(store_id, held)| proto::StorePermissions {
                store_id: store_id.to_string(),
                permissions: names(held),
            })
            .collect(),
        other_store_permissions: names(&permissions.other_stores),
    }
}
