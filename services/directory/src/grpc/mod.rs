//! Thin gRPC adapters: parse protobuf into domain types (naming each bad
//! field), call the operation, convert the answer back. The only place in
//! the directory where `tonic::Status` appears.

pub mod accounts;
pub mod audit;
pub mod authorization;
pub mod convert;
pub mod credentials;
pub mod groups;
pub mod invitations;
pub mod parse;
pub mod permissions;
pub mod stores;
pub mod users;

use roster_domain::audit::RequestContext;
use roster_domain::caller::Caller;
use roster_domain::DomainError;
use roster_server::errors::status_from_error;
use roster_server::metadata::request_context;
use tonic::{Request, Status};

use crate::auth::Authenticator;

/// The caller of a request and its audit facts.
pub async fn caller_of<T>(
    authenticator: &Authenticator,
    request: &Request<T>,
) -> Result<(Caller, RequestContext), Status> {
    let context = request_context(request);
    let caller = authenticator.authenticate(request.metadata()).await.map_err(status_from_error)?;
    Ok((caller, context))
}

/// A field that was neither parsed nor reported: a bug in an adapter.
pub fn unparsed() -> DomainError {
    DomainError::internal("parsing a request", "a field was neither parsed nor reported")
}
