//! `roster.directory.v1.GroupService`.

use roster_domain::error::{FieldViolation, Violations};
use roster_domain::groups::{GroupKey, GroupPatch};
use roster_domain::ids::{AccountId, GroupId};
use roster_domain::names::DisplayName;
use roster_domain::paging::PageRequest;
use roster_domain::DomainError;
use roster_proto::directory::v1 as proto;
use roster_proto::directory::v1::group_service_server::GroupService;
use roster_server::errors::status_from_error;
use tonic::{Request, Response, Status};

use super::convert::group_message;
use super::parse::{self, page_request, page_token};
use super::{caller_of, unparsed};
use crate::auth::Authenticator;
use crate::service::groups::{DefineGroup, GroupBranch, GroupFilter};
use crate::service::Directory;

pub struct GroupGrpc {
    pub directory: Directory,
    pub authenticator: Authenticator,
}

/// An account id and a group id, both required.
fn account_and_group(
    account_field: &str,
    account_id: &str,
    group_field: &str,
    group_id: &str,
) -> Result<(AccountId, GroupId), DomainError> {
    let mut violations = Violations::new();
    let account = violations.check(AccountId::parse(account_field, account_id));
    let group = violations.check(GroupId::parse(group_field, group_id));
    violations.finish()?;
    match (account, group) {
        (Some(account), Some(group)) => Ok((account, group)),
        _ => Err(unparsed()),
    }
}

fn parse_create_group(message: &proto::CreateGroupRequest) -> Result<(AccountId, DefineGroup), DomainError> {
    let mut violations = Violations::new();
    let account_id = violations.check(AccountId::parse("account_id", &message.account_id));
    let name = violations.check(DisplayName::parse("name", &message.name));
    let parent_id = violations.check(parse::optional_group("parent_id", &message.parent_id));
    let badge_colour = violations.check(parse::badge_colour("badge_colour", &message.badge_colour));
    let permissions = parse::permission_names("permissions", &message.permissions, &mut violations);
    let assignable = parse::group_ids("assignable_group_ids", &message.assignable_group_ids, &mut violations);
    violations.finish()?;
    match (account_id, name, parent_id, badge_colour) {
        (Some(account_id), Some(name), Some(parent_id), Some(badge_colour)) => Ok((
            account_id,
            DefineGroup { name, parent_id, is_template: message.is_template, badge_colour, permissions, assignable },
        )),
        _ => Err(unparsed()),
    }
}

/// Exactly one of `group_id` and `name` (R25: a former name finds the
/// group too).
fn parse_get_group(message: &proto::GetGroupRequest) -> Result<(AccountId, GroupKey), DomainError> {
    let mut violations = Violations::new();
    let account_id = violations.check(AccountId::parse("account_id", &message.account_id));
    let key = match (message.group_id.trim().is_empty(), message.name.trim().is_empty()) {
        (false, true) => violations.check(GroupId::parse("group_id", &message.group_id)).map(GroupKey::Id),
        (true, false) => violations.check(DisplayName::parse("name", &message.name)).map(GroupKey::Name),
        (both_empty, _) => {
            let description =
                if both_empty { "one of group_id and name is required" } else { "give group_id or name, not both" };
            violations.push(FieldViolation::new("group_id", description));
            violations.push(FieldViolation::new("name", description));
            None
        }
    };
    violations.finish()?;
    match (account_id, key) {
        (Some(account_id), Some(key)) => Ok((account_id, key)),
        _ => Err(unparsed()),
    }
}

fn parse_list_groups(message: &proto::ListGroupsRequest) -> Result<(AccountId, GroupFilter, PageRequest), DomainError> {
    let mut violations = Violations::new();
    let account_id = violations.check(AccountId::parse("account_id", &message.account_id));
    let parent_id = violations.check(parse::optional_group("parent_id", &message.parent_id)).flatten();
    if message.roots_only && parent_id.is_some() {
        violations
            .push(FieldViolation::new("roots_only", "cannot be combined with parent_id: root groups have no parent"));
    }
    let page = violations.check(page_request(message.page_size, &message.page_token));
    violations.finish()?;
    let filter = GroupFilter {
        name_contains: parse::optional_text(&message.name_contains),
        parent_id,
        roots_only: message.roots_only,
    };
    match (account_id, page) {
        (Some(account_id), Some(page)) => Ok((account_id, filter, page)),
        _ => Err(unparsed()),
    }
}

const GROUP_MASK_PATHS: &[&str] =
    &["name", "parent_id", "is_template", "badge_colour", "permissions", "assignable_group_ids"];

fn parse_update_group(message: &proto::UpdateGroupRequest) -> Result<(AccountId, GroupId, GroupPatch), DomainError> {
    let group = message.group.as_ref().ok_or_else(|| DomainError::invalid_field("group", "is required"))?;
    let mut violations = Violations::new();
    let account_id = violations.check(AccountId::parse("group.account_id", &group.account_id));
    let group_id = violations.check(GroupId::parse("group.id", &group.id));
    let paths = match parse::mask_paths(message.update_mask.as_ref(), GROUP_MASK_PATHS) {
        Ok(paths) => paths,
        Err(error) => {
            error.field_violations().iter().cloned().for_each(|violation| violations.push(violation));
            Default::default()
        }
    };
    let mut patch = GroupPatch::default();
    if paths.contains("name") {
        patch.name = violations.check(DisplayName::parse("group.name", &group.name));
    }
    if paths.contains("parent_id") {
        patch.parent_id = violations.check(parse::optional_group("group.parent_id", &group.parent_id));
    }
    if paths.contains("is_template") {
        patch.is_template = Some(group.is_template);
    }
    if paths.contains("badge_colour") {
        patch.badge_colour = violations.check(parse::badge_colour("group.badge_colour", &group.badge_colour));
    }
    if paths.contains("permissions") {
        patch.permissions = Some(parse::permission_names("group.permissions", &group.permissions, &mut violations));
    }
    if paths.contains("assignable_group_ids") {
        patch.assignable =
            Some(parse::group_ids("group.assignable_group_ids", &group.assignable_group_ids, &mut violations));
    }
    violations.finish()?;
    match (account_id, group_id) {
        (Some(account_id), Some(group_id)) => Ok((account_id, group_id, patch)),
        _ => Err(unparsed()),
    }
}

fn tree_node_message(branch: &GroupBranch) -> proto::GroupTreeNode {
    proto::GroupTreeNode {
        group: Some(group_message(&branch.view)),
        children: branch.children.iter().map(tree_node_message).collect(),
    }
}

#[tonic::async_trait]
impl GroupService for GroupGrpc {
    async fn create_group(
        &self,
        request: Request<proto::CreateGroupRequest>,
    ) -> Result<Response<proto::Group>, Status> {
        let (caller, context) = caller_of(&self.authenticator, &request).await?;
        let (account_id, command) = parse_create_group(request.get_ref()).map_err(status_from_error)?;
        let created =
            self.directory.create_group(&caller, context, account_id, command).await.map_err(status_from_error)?;
        Ok(Response::new(group_message(&created)))
    }

    async fn get_group(&self, request: Request<proto::GetGroupRequest>) -> Result<Response<proto::Group>, Status> {
        let (caller, context) = caller_of(&self.authenticator, &request).await?;
        let (account_id, key) = parse_get_group(request.get_ref()).map_err(status_from_error)?;
        let view = self.directory.get_group(&caller, context, account_id, &key).await.map_err(status_from_error)?;
        Ok(Response::new(group_message(&view)))
    }

    async fn list_groups(
        &self,
        request: Request<proto::ListGroupsRequest>,
    ) -> Result<Response<proto::ListGroupsResponse>, Status> {
        let (caller, context) = caller_of(&self.authenticator, &request).await?;
        let (account_id, filter, page) = parse_list_groups(request.get_ref()).map_err(status_from_error)?;
        let listed = self
            .directory
            .list_groups(&caller, context, account_id, &filter, &page)
            .await
            .map_err(status_from_error)?;
        Ok(Response::new(proto::ListGroupsResponse {
            groups: listed.items.iter().map(group_message).collect(),
            next_page_token: page_token(listed.next),
        }))
    }

    async fn get_group_tree(
        &self,
        request: Request<proto::GetGroupTreeRequest>,
    ) -> Result<Response<proto::GetGroupTreeResponse>, Status> {
        let (caller, context) = caller_of(&self.authenticator, &request).await?;
        let account_id = AccountId::parse("account_id", &request.get_ref().account_id)
            .map_err(|violation| status_from_error(violation.into()))?;
        let roots = self.directory.get_group_tree(&caller, context, account_id).await.map_err(status_from_error)?;
        Ok(Response::new(proto::GetGroupTreeResponse { roots: roots.iter().map(tree_node_message).collect() }))
    }

    async fn update_group(
        &self,
        request: Request<proto::UpdateGroupRequest>,
    ) -> Result<Response<proto::Group>, Status> {
        let (caller, context) = caller_of(&self.authenticator, &request).await?;
        let (account_id, group_id, patch) = parse_update_group(request.get_ref()).map_err(status_from_error)?;
        let updated = self
            .directory
            .update_group(&caller, context, account_id, group_id, patch)
            .await
            .map_err(status_from_error)?;
        Ok(Response::new(group_message(&updated)))
    }

    async fn delete_group(
        &self,
        request: Request<proto::DeleteGroupRequest>,
    ) -> Result<Response<proto::DeleteGroupResponse>, Status> {
        let (caller, context) = caller_of(&self.authenticator, &request).await?;
        let message = request.get_ref();
        let (account_id, group_id) =
            account_and_group("account_id", &message.account_id, "group_id", &message.group_id)
                .map_err(status_from_error)?;
        self.directory.delete_group(&caller, context, account_id, group_id).await.map_err(status_from_error)?;
        Ok(Response::new(proto::DeleteGroupResponse {}))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(error: DomainError) -> Vec<String> {
        error.field_violations().iter().map(|violation| violation.field.clone()).collect()
    }

    #[test]
    fn creating_names_every_bad_field() {
        let request = proto::CreateGroupRequest {
            account_id: "nope".to_owned(),
            name: " ".to_owned(),
            parent_id: "x".to_owned(),
            badge_colour: "red".to_owned(),
            permissions: vec!["orders.view".to_owned(), "Orders".to_owned()],
            assignable_group_ids: vec!["y".to_owned()],
            ..Default::default()
        };
        let error = parse_create_group(&request).unwrap_err();
        assert_eq!(
            fields(error),
            ["account_id", "name", "parent_id", "badge_colour", "permissions[1]", "assignable_group_ids[0]"]
        );
    }

    #[test]
    fn an_empty_badge_colour_is_the_neutral_grey() {
        let request = proto::CreateGroupRequest {
            account_id: AccountId::generate().to_string(),
            name: "Night shift".to_owned(),
            ..Default::default()
        };
        let (_, command) = parse_create_group(&request).unwrap();
        assert_eq!(command.badge_colour.as_str(), "#757575");
        assert_eq!(command.parent_id, None);
    }

    #[test]
    fn getting_needs_exactly_one_of_id_and_name() {
        let account_id = AccountId::generate().to_string();
        let neither = proto::GetGroupRequest { account_id: account_id.clone(), ..Default::default() };
        assert_eq!(fields(parse_get_group(&neither).unwrap_err()), ["group_id", "name"]);
        let both = proto::GetGroupRequest {
            account_id: account_id.clone(),
            group_id: GroupId::generate().to_string(),
            name: "Manager".to_owned(),
        };
        assert_eq!(fields(parse_get_group(&both).unwrap_err()), ["group_id", "name"]);
        let by_name = proto::GetGroupRequest { account_id, name: "Manager".to_owned(), ..Default::default() };
        assert!(matches!(parse_get_group(&by_name).unwrap().1, GroupKey::Name(_)));
    }

    #[test]
    fn an_update_clears_the_parent_with_an_empty_id_and_names_nested_fields() {
        let group = proto::Group {
            id: GroupId::generate().to_string(),
            account_id: AccountId::generate().to_string(),
            ..Default::default()
        };
        let mask = prost_types::FieldMask { paths: vec!["parent_id".to_owned()] };
        let request = proto::UpdateGroupRequest { group: Some(group.clone()), update_mask: Some(mask) };
        let (_, _, patch) = parse_update_group(&request).unwrap();
        assert_eq!(patch.parent_id, Some(None));
        let mask = prost_types::FieldMask { paths: vec!["name".to_owned(), "badge_colour".to_owned()] };
        let bad = proto::UpdateGroupRequest {
            group: Some(proto::Group { badge_colour: "#12".to_owned(), ..group }),
            update_mask: Some(mask),
        };
        assert_eq!(fields(parse_update_group(&bad).unwrap_err()), ["group.name", "group.badge_colour"]);
    }
}
