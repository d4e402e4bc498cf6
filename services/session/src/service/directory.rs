//! The directory, as the broker uses it: credential checks at login (R35),
//! a user's access (R40), and the audit trail of what the broker does
//! (R43). The one place where the broker turns the directory's protobuf
//! answers into its own types.

use std::collections::BTreeMap;
use std::fmt;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use prost_types::Timestamp;
use roster_domain::access::PermissionsByScope;
use roster_domain::ids::{AccountId, SessionId, StoreId, UserId};
use roster_domain::presets::PermissionName;
use roster_domain::{DomainError, ErrorCode};
use roster_proto::access::v1 as access_proto;
use roster_proto::directory::v1::credential_service_client::CredentialServiceClient;
use roster_proto::directory::v1::{
    GetPrincipalAccessRequest, PrincipalAccess as AccessMessage, RecordSessionEventsRequest, SessionAuditEvent,
    VerifiedPrincipal, VerifyCredentialsRequest,
};
use roster_server::client::OutgoingInterceptor;
use roster_server::errors::error_from_status;
use tonic::codegen::InterceptedService;
use tonic::transport::Channel;

use super::access::{AccessSource, Fetched, PrincipalAccess, VersionedAccess};

pub type DirectoryClient = CredentialServiceClient<InterceptedService<Channel, OutgoingInterceptor>>;

/// What the broker asks the directory, with the internal credential.
#[derive(Clone)]
pub struct Directory {
    client: DirectoryClient,
}

impl fmt::Debug for Directory {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.debug_struct("Directory").finish_non_exhaustive()
    }
}

/// Something the broker did to a session, or refused to do, for the audit
/// log (R43).
#[derive(Debug, Clone, Default)]
pub struct SessionAudit {
    pub account_id: Option<AccountId>,
    /// `session.replaced`, `session.revoke`, `session.list`, ...
    pub action: &'static str,
    pub target_user_id: Option<UserId>,
    pub target_session_id: Option<SessionId>,
    pub actor_user_id: Option<UserId>,
    pub actor_name: String,
    /// `success` or `denied`.
    pub outcome: &'static str,
    pub reason: String,
    pub replaced_by_session_id: Option<SessionId>,
    pub client_address: String,
    pub user_agent: String,
    pub trace_id: String,
    pub occurred_at: Option<DateTime<Utc>>,
}

fn malformed(what: &'static str) -> impl Fn(roster_domain::FieldViolation) -> DomainError {
    move |_| DomainError::internal(what, "the directory returned a malformed answer")
}

fn text_of<T: ToString>(value: Option<T>) -> String {
    value.map(|value| value.to_string()).unwrap_or_default()
}

impl Directory {
    pub fn new(client: DirectoryClient) -> Self {
        Self { client }
    }

    /// R35: the directory's verdict on a login, with the user's access.
    /// A refusal is the directory's error (`INVALID_CREDENTIALS`, ...).
    pub async fn verify_credentials(
        &self,
        request: VerifyCredentialsRequest,
    ) -> Result<(VerifiedPrincipal, Option<VersionedAccess>), DomainError> {
        let mut principal = self
            .client
            .clone()
            .verify_credentials(request)
            .await
            .map_err(|status| error_from_status(status, "directory"))?
            .into_inner()
            .principal
            .ok_or_else(|| DomainError::internal("verifying credentials", "the directory returned no principal"))?;
        let access = principal.access.take().map(access_from_message).transpose()?;
        Ok((principal, access))
    }

    /// R43: writes the broker's audit events; the caller decides what a
    /// failure means.
    pub async fn record(&self, events: Vec<SessionAudit>) -> Result<(), DomainError> {
        let events = events.into_iter().map(audit_message).collect();
        self.client
            .clone()
            .record_session_events(RecordSessionEventsRequest { events })
            .await
            .map_err(|status| error_from_status(status, "directory"))?;
        Ok(())
    }
}

#[async_trait]
impl AccessSource for Directory {
    async fn principal_access(
        &self,
        account_id: AccountId,
        user_id: UserId,
        held: Option<i64>,
    ) -> Result<Fetched, DomainError> {
        let request = GetPrincipalAccessRequest {
            account_id: account_id.to_string(),
            user_id: user_id.to_string(),
            held_access_version: held,
        };
        match self.client.clone().get_principal_access(request).await {
            Ok(response) => {
                let message = response.into_inner();
                if !message.unchanged {
                    return access_from_message(message).map(Fetched::Current);
                }
                // "Unchanged" confirms only the version that was held.
                match held {
                    Some(held) if message.access_version == Some(held) => Ok(Fetched::Unchanged),
                    _ => Err(DomainError::internal(
                        "reading a principal's access",
                        "the directory answered unchanged to a version not held",
                    )),
                }
            }
            Err(status) => {
                let error = error_from_status(status, "directory");
                if error.code() == ErrorCode::NotFound {
                    return Ok(Fetched::Gone);
                }
                Err(error)
            }
        }
    }
}

fn permission_set(names: Vec<String>) -> Result<std::collections::BTreeSet<PermissionName>, DomainError> {
    names
        .iter()
        .map(|name| PermissionName::parse("permissions", name).map_err(malformed("reading a principal's access")))
        .collect()
}

/// The directory's answer, parsed; a malformed one is an internal error,
/// never a guess.
pub fn access_from_message(message: AccessMessage) -> Result<VersionedAccess, DomainError> {
    let permissions = message.permissions.unwrap_or_default();
    let mut per_store = BTreeMap::new();
    for store in permissions.store_permissions {
        let store_id =
            StoreId::parse("store_id", &store.store_id).map_err(malformed("reading a principal's access"))?;
        per_store.insert(store_id, permission_set(store.permissions)?);
    }
    let permissions = PermissionsByScope {
        is_owner: permissions.is_owner,
        account: permission_set(permissions.account_permissions)?,
        every_store: permission_set(permissions.every_store_permissions)?,
        per_store,
        other_stores: permission_set(permissions.other_store_permissions)?,
    };
    let data_filters = message.data_filters.into_iter().map(|filter| (filter.field, filter.values)).collect();
    let access = PrincipalAccess {
        group_ids: message.group_ids,
        group_names: message.group_names,
        is_owner: message.is_owner,
        is_platform_operator: message.is_platform_operator,
        blocked: message.blocked,
        permissions,
        data_filters,
    };
    Ok(VersionedAccess { access, version: message.access_version })
}

/// The wire form of data filters.
pub fn filters_message(filters: &BTreeMap<String, Vec<String>>) -> Vec<access_proto::DataFilter> {
    filters
        .iter()
        .map(|(field, values)| access_proto::DataFilter { field: field.clone(), values: values.clone() })
        .collect()
}

pub fn timestamp(time: DateTime<Utc>) -> Timestamp {
    Timestamp { seconds: time.timestamp(), nanos: time.timestamp_subsec_nanos() as i32 }
}

fn audit_message(audit: SessionAudit) -> SessionAuditEvent {
    SessionAuditEvent {
        account_id: text_of(audit.account_id),
        action: audit.action.to_owned(),
        target_user_id: text_of(audit.target_user_id),
        target_session_id: text_of(audit.target_session_id),
        actor_user_id: text_of(audit.actor_user_id),
        actor_name: audit.actor_name,
        outcome: audit.outcome.to_owned(),
        reason: audit.reason,
        replaced_by_session_id: text_of(audit.replaced_by_session_id),
        client_address: audit.client_address,
        user_agent: audit.user_agent,
        trace_id: audit.trace_id,
        occur_time: audit.occurred_at.map(timestamp),
    }
}
