//! `roster.directory.v1.StoreService`.

use roster_domain::error::Violations;
use roster_domain::ids::{AccountId, StoreId};
use roster_domain::names::DisplayName;
use roster_domain::stores::StorePatch;
use roster_domain::DomainError;
use roster_proto::directory::v1 as proto;
use roster_proto::directory::v1::store_service_server::StoreService;
use roster_server::errors::status_from_error;
use tonic::{Request, Response, Status};

use super::convert::store_message;
use super::parse::{self, page_request, page_token};
use super::{caller_of, unparsed};
use crate::auth::Authenticator;
use crate::service::stores::CreateStore;
use crate::service::Directory;

pub struct StoreGrpc {
    pub directory: Directory,
    pub authenticator: Authenticator,
}

/// An account id and a store id, both required.
fn account_and_store(
    account_field: &str,
    account_id: &str,
    store_field: &str,
    store_id: &str,
) -> Result<(AccountId, StoreId), DomainError> {
    let mut violations = Violations::new();
    let account = violations.check(AccountId::parse(account_field, account_id));
    let store = violations.check(StoreId::parse(store_field, store_id));
    violations.finish()?;
    match (account, store) {
        (Some(account), Some(store)) => Ok((account, store)),
        _ => Err(unparsed()),
    }
}

fn parse_create_store(message: &proto::CreateStoreRequest) -> Result<(AccountId, CreateStore), DomainError> {
    let mut violations = Violations::new();
    let account_id = violations.check(AccountId::parse("account_id", &message.account_id));
    let name = violations.check(DisplayName::parse("name", &message.name));
    violations.finish()?;
    match (account_id, name) {
        (Some(account_id), Some(name)) => Ok((account_id, CreateStore { name, is_public: message.is_public })),
        _ => Err(unparsed()),
    }
}

const STORE_MASK_PATHS: &[&str] = &["name", "is_public"];

fn parse_update_store(message: &proto::UpdateStoreRequest) -> Result<(AccountId, StoreId, StorePatch), DomainError> {
    let store = message.store.as_ref().ok_or_else(|| DomainError::invalid_field("store", "is required"))?;
    let mut violations = Violations::new();
    let ids = match account_and_store("store.account_id", &store.account_id, "store.id", &store.id) {
        Ok(ids) => Some(ids),
        Err(error) => {
            error.field_violations().iter().cloned().for_each(|violation| violations.push(violation));
            None
        }
    };
    let paths = match parse::mask_paths(message.update_mask.as_ref(), STORE_MASK_PATHS) {
        Ok(paths) => paths,
        Err(error) => {
            error.field_violations().iter().cloned().for_each(|violation| violations.push(violation));
            Default::default()
        }
    };
    let mut patch = StorePatch::default();
    if paths.contains("name") {
        patch.name = violations.check(DisplayName::parse("store.name", &store.name));
    }
    if paths.contains("is_public") {
        patch.is_public = Some(store.is_public);
    }
    violations.finish()?;
    let (account_id, store_id) = ids.ok_or_else(unparsed)?;
    Ok((account_id, store_id, patch))
}

#[tonic::async_trait]
impl StoreService for StoreGrpc {
    async fn create_store(
        &self,
        request: Request<proto::CreateStoreRequest>,
    ) -> Result<Response<proto::Store>, Status> {
        let (caller, context) = caller_of(&self.authenticator, &request).await?;
        let (account_id, command) = parse_create_store(request.get_ref()).map_err(status_from_error)?;
        let store =
            self.directory.create_store(&caller, context, account_id, command).await.map_err(status_from_error)?;
        Ok(Response::new(store_message(&store)))
    }

    async fn get_store(&self, request: Request<proto::GetStoreRequest>) -> Result<Response<proto::Store>, Status> {
        let (caller, context) = caller_of(&self.authenticator, &request).await?;
        let message = request.get_ref();
        let (account_id, store_id) =
            account_and_store("account_id", &message.account_id, "store_id", &message.store_id)
                .map_err(status_from_error)?;
        let store =
            self.directory.get_store(&caller, context, account_id, store_id).await.map_err(status_from_error)?;
        Ok(Response::new(store_message(&store)))
    }

    async fn list_stores(
        &self,
        request: Request<proto::ListStoresRequest>,
    ) -> Result<Response<proto::ListStoresResponse>, Status> {
        let (caller, context) = caller_of(&self.authenticator, &request).await?;
        let message = request.get_ref();
        let mut violations = Violations::new();
        let account_id = violations.check(AccountId::parse("account_id", &message.account_id));
        let page = violations.check(page_request(message.page_size, &message.page_token));
        violations.finish().map_err(status_from_error)?;
        let (Some(account_id), Some(page)) = (account_id, page) else { return Err(status_from_error(unparsed())) };
        let listed =
            self.directory.list_stores(&caller, context, account_id, &page).await.map_err(status_from_error)?;
        Ok(Response::new(proto::ListStoresResponse {
            stores: listed.items.iter().map(store_message).collect(),
            next_page_token: page_token(listed.next),
        }))
    }

    async fn update_store(
        &self,
        request: Request<proto::UpdateStoreRequest>,
    ) -> Result<Response<proto::Store>, Status> {
        let (caller, context) = caller_of(&self.authenticator, &request).await?;
        let (account_id, store_id, patch) = parse_update_store(request.get_ref()).map_err(status_from_error)?;
        let store = self
            .directory
            .update_store(&caller, context, account_id, store_id, patch)
            .await
            .map_err(status_from_error)?;
        Ok(Response::new(store_message(&store)))
    }

    async fn delete_store(
        &self,
        request: Request<proto::DeleteStoreRequest>,
    ) -> Result<Response<proto::DeleteStoreResponse>, Status> {
        let (caller, context) = caller_of(&self.authenticator, &request).await?;
        let message = request.get_ref();
        let (account_id, store_id) =
            account_and_store("account_id", &message.account_id, "store_id", &message.store_id)
                .map_err(status_from_error)?;
        self.directory.delete_store(&caller, context, account_id, store_id).await.map_err(status_from_error)?;
        Ok(Response::new(proto::DeleteStoreResponse {}))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_update_names_every_bad_field_under_store() {
        let request = proto::UpdateStoreRequest {
            store: Some(proto::Store { id: "x".to_owned(), account_id: "y".to_owned(), ..Default::default() }),
            update_mask: Some(prost_types::FieldMask { paths: vec!["name".to_owned(), "address".to_owned()] }),
        };
        let error = parse_update_store(&request).unwrap_err();
        let fields: Vec<&str> = error.field_violations().iter().map(|violation| violation.field.as_str()).collect();
        assert_eq!(fields, ["store.account_id", "store.id", "update_mask"]);
    }
}
