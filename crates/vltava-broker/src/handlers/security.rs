//! CreateAcls, DescribeAcls and DeleteAcls (KIP-140), and
//! AlterUserScramCredentials / DescribeUserScramCredentials (KIP-554).
//!
//! ACLs and credentials live in the metadata image. Changes are made by
//! the active controller (other nodes relay the requests to it before they
//! get here); descriptions are answered from this node's image. Without an
//! authorizer (`authorizer.class.name` empty) the ACL APIs answer
//! SECURITY_DISABLED, as Kafka's do; the SCRAM APIs work either way.

use std::collections::{BTreeMap, BTreeSet};

use vltava_acl::{
    AccessControlEntry, AccessControlEntryFilter, AclBinding, AclBindingFilter, AclOperation,
    AclPermissionType, PatternType, ResourcePattern, ResourcePatternFilter, ResourceType,
};
use vltava_metadata::image::{SCRAM_SHA_256, SCRAM_SHA_512};
use vltava_protocol::messages::alter_user_scram_credentials_response::AlterUserScramCredentialsResult;
use vltava_protocol::messages::create_acls_request::AclCreation;
use vltava_protocol::messages::create_acls_response::AclCreationResult;
use vltava_protocol::messages::delete_acls_response::{
    DeleteAclsFilterResult, DeleteAclsMatchingAcl,
};
use vltava_protocol::messages::describe_acls_response::{AclDescription, DescribeAclsResource};
use vltava_protocol::messages::describe_user_scram_credentials_response::{
    CredentialInfo, DescribeUserScramCredentialsResult,
};
use vltava_protocol::messages::*;
use vltava_protocol::{ErrorCode, ResponseBody};

use crate::broker::Broker;
use crate::controller::security::ScramCredentialUpsertion;
use crate::error::KafkaError;
use crate::handlers::authz::{Access, Op};
use crate::handlers::RequestContext;

/// Kafka's answer when the ACL APIs are asked of a broker without an
/// authorizer.
fn cluster_refused() -> KafkaError {
    let code = ErrorCode::CLUSTER_AUTHORIZATION_FAILED;
    KafkaError::new(code, code.message())
}

fn security_disabled() -> KafkaError {
    KafkaError::new(ErrorCode::SECURITY_DISABLED, "No Authorizer is configured.")
}

/// Kafka cannot read an ACL request holding a code it does not know
/// (UNKNOWN, or one it does not define): its request classes refuse to be
/// built, and the broker closes the connection as for any request it
/// cannot parse. The same here: the handler's error closes it.
fn unreadable(api: &str) -> String {
    format!("{api} request with an UNKNOWN resource type, pattern type, operation or permission")
}

fn binding_of(c: AclCreation) -> AclBinding {
    AclBinding::new(
        ResourcePattern::new(
            ResourceType::from_code(c.resource_type),
            c.resource_name,
            PatternType::from_code(c.resource_pattern_type),
        ),
        AccessControlEntry::new(
            c.principal,
            c.host,
            AclOperation::from_code(c.operation),
            AclPermissionType::from_code(c.permission_type),
        ),
    )
}

/// Whether an ACL holds a value only filters may have (ANY, MATCH). Kafka's
/// `ResourcePattern` and `AccessControlEntry` refuse to be built with one,
/// which fails the whole CreateAcls request (UNKNOWN_SERVER_ERROR without
/// a message for every ACL) before any ACL is checked.
fn has_filter_value(b: &AclBinding) -> bool {
    b.pattern.resource_type == ResourceType::Any
        || matches!(
            b.pattern.pattern_type,
            PatternType::Any | PatternType::Match
        )
        || b.entry.operation == AclOperation::Any
        || b.entry.permission == AclPermissionType::Any
}

fn has_unknown(b: &AclBinding) -> bool {
    b.pattern.resource_type.is_unknown()
        || b.pattern.pattern_type.is_unknown()
        || b.entry.operation.is_unknown()
        || b.entry.permission.is_unknown()
}

pub async fn create_acls(
    broker: &Broker,
    context: &RequestContext<'_>,
    request: CreateAclsRequest,
) -> Result<ResponseBody, String> {
    let acls: Vec<AclBinding> = request.creations.into_iter().map(binding_of).collect();
    if acls.iter().any(has_unknown) {
        return Err(unreadable("CreateAcls"));
    }
    let answer = |results: Vec<Result<(), KafkaError>>| {
        ResponseBody::CreateAcls(CreateAclsResponse {
            results: results
                .into_iter()
                .map(|r| match r {
                    Ok(()) => AclCreationResult::default(),
                    Err(e) => AclCreationResult {
                        error_code: e.code.code(),
                        // Kafka's whole-request failure carries no message.
                        error_message: (!e.message.is_empty()).then_some(e.message),
                        ..Default::default()
                    },
                })
                .collect(),
            ..Default::default()
        })
    };
    let n = acls.len();
    let all = |e: KafkaError| (0..n).map(|_| Err(e.clone())).collect::<Vec<_>>();
    if !broker.metadata.authorizer_enabled() {
        return Ok(answer(all(security_disabled())));
    }
    // Kafka's check: Alter on the cluster.
    if !Access::of(broker, context).allows_cluster(Op::Alter) {
        return Ok(answer(all(cluster_refused())));
    }
    if acls.iter().any(has_filter_value) {
        return Ok(answer(all(KafkaError::new(
            ErrorCode::UNKNOWN_SERVER_ERROR,
            "",
        ))));
    }
    Ok(answer(match broker.controller.create_acls(acls).await {
        Ok(results) => results,
        Err(e) => all(e),
    }))
}

#[allow(clippy::too_many_arguments)]
fn filter(
    resource_type: i8,
    name: Option<String>,
    pattern_type: i8,
    principal: Option<String>,
    host: Option<String>,
    operation: i8,
    permission: i8,
) -> AclBindingFilter {
    AclBindingFilter::new(
        ResourcePatternFilter::new(
            ResourceType::from_code(resource_type),
            name.as_deref(),
            PatternType::from_code(pattern_type),
        ),
        AccessControlEntryFilter::new(
            principal.as_deref(),
            host.as_deref(),
            AclOperation::from_code(operation),
            AclPermissionType::from_code(permission),
        ),
    )
}

pub fn describe_acls(
    broker: &Broker,
    context: &RequestContext<'_>,
    request: DescribeAclsRequest,
) -> Result<ResponseBody, String> {
    let error = |e: KafkaError| {
        ResponseBody::DescribeAcls(DescribeAclsResponse {
            error_code: e.code.code(),
            error_message: Some(e.message),
            ..Default::default()
        })
    };
    let filter = filter(
        request.resource_type_filter,
        request.resource_name_filter,
        request.pattern_type_filter,
        request.principal_filter,
        request.host_filter,
        request.operation,
        request.permission_type,
    );
    if filter.is_unknown() {
        return Err(unreadable("DescribeAcls"));
    }
    if !broker.metadata.authorizer_enabled() {
        // Kafka words DescribeAcls' answer differently from the others'.
        return Ok(error(KafkaError::new(
            ErrorCode::SECURITY_DISABLED,
            "No Authorizer is configured on the broker",
        )));
    }
    // Kafka's check: Describe on the cluster.
    if !Access::of(broker, context).allows_cluster(Op::Describe) {
        return Ok(error(cluster_refused()));
    }
    // The matching ACLs, grouped by resource pattern.
    let image = broker.metadata.image();
    let mut by_pattern: BTreeMap<&ResourcePattern, BTreeSet<&AccessControlEntry>> = BTreeMap::new();
    for (_, binding) in image.acls() {
        if filter.matches(binding) {
            by_pattern
                .entry(&binding.pattern)
                .or_default()
                .insert(&binding.entry);
        }
    }
    Ok(ResponseBody::DescribeAcls(DescribeAclsResponse {
        resources: by_pattern
            .into_iter()
            .map(|(pattern, entries)| DescribeAclsResource {
                resource_type: pattern.resource_type.code(),
                resource_name: pattern.name.clone(),
                pattern_type: pattern.pattern_type.code(),
                acls: entries
                    .into_iter()
                    .map(|e| AclDescription {
                        principal: e.principal.clone(),
                        host: e.host.clone(),
                        operation: e.operation.code(),
                        permission_type: e.permission.code(),
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    }))
}

pub async fn delete_acls(
    broker: &Broker,
    context: &RequestContext<'_>,
    request: DeleteAclsRequest,
) -> Result<ResponseBody, String> {
    let filters: Vec<AclBindingFilter> = request
        .filters
        .into_iter()
        .map(|f| {
            filter(
                f.resource_type_filter,
                f.resource_name_filter,
                f.pattern_type_filter,
                f.principal_filter,
                f.host_filter,
                f.operation,
                f.permission_type,
            )
        })
        .collect();
    if filters.iter().any(AclBindingFilter::is_unknown) {
        return Err(unreadable("DeleteAcls"));
    }
    let n = filters.len();
    let results: Vec<Result<Vec<AclBinding>, KafkaError>> = if !broker.metadata.authorizer_enabled()
    {
        (0..n).map(|_| Err(security_disabled())).collect()
    } else if !Access::of(broker, context).allows_cluster(Op::Alter) {
        // Kafka's check: Alter on the cluster.
        (0..n).map(|_| Err(cluster_refused())).collect()
    } else {
        match broker.controller.delete_acls(filters).await {
            Ok(results) => results,
            Err(e) => (0..n).map(|_| Err(e.clone())).collect(),
        }
    };
    // Kafka leaves the messages of what succeeded null here, not empty.
    Ok(ResponseBody::DeleteAcls(DeleteAclsResponse {
        filter_results: results
            .into_iter()
            .map(|r| match r {
                Ok(matched) => DeleteAclsFilterResult {
                    error_message: None,
                    matching_acls: matched
                        .into_iter()
                        .map(|b| DeleteAclsMatchingAcl {
                            error_message: None,
                            resource_type: b.pattern.resource_type.code(),
                            resource_name: b.pattern.name,
                            pattern_type: b.pattern.pattern_type.code(),
                            principal: b.entry.principal,
                            host: b.entry.host,
                            operation: b.entry.operation.code(),
                            permission_type: b.entry.permission.code(),
                            ..Default::default()
                        })
                        .collect(),
                    ..Default::default()
                },
                Err(e) => DeleteAclsFilterResult {
                    error_code: e.code.code(),
                    error_message: Some(e.message),
                    ..Default::default()
                },
            })
            .collect(),
        ..Default::default()
    }))
}

pub async fn alter_user_scram_credentials(
    broker: &Broker,
    context: &RequestContext<'_>,
    request: AlterUserScramCredentialsRequest,
) -> ResponseBody {
    // Every user named, for answering each when the whole request fails.
    let mut users: Vec<String> = Vec::new();
    for name in request
        .deletions
        .iter()
        .map(|d| &d.name)
        .chain(request.upsertions.iter().map(|u| &u.name))
    {
        if !users.contains(name) {
            users.push(name.clone());
        }
    }
    let deletions = request
        .deletions
        .into_iter()
        .map(|d| (d.name, d.mechanism))
        .collect();
    let upsertions = request
        .upsertions
        .into_iter()
        .map(|u| ScramCredentialUpsertion {
            name: u.name,
            mechanism: u.mechanism,
            iterations: u.iterations,
            salt: u.salt,
            salted_password: u.salted_password,
        })
        .collect();
    // Kafka's check: Alter on the cluster.
    let results = if !Access::of(broker, context).allows_cluster(Op::Alter) {
        users
            .into_iter()
            .map(|u| (u, Err(cluster_refused())))
            .collect()
    } else {
        match broker
            .controller
            .alter_user_scram_credentials(deletions, upsertions)
            .await
        {
            Ok(results) => results,
            Err(e) => users.into_iter().map(|u| (u, Err(e.clone()))).collect(),
        }
    };
    ResponseBody::AlterUserScramCredentials(AlterUserScramCredentialsResponse {
        results: results
            .into_iter()
            .map(|(user, r)| match r {
                // Kafka leaves the message of a success null.
                Ok(()) => AlterUserScramCredentialsResult {
                    user,
                    error_message: None,
                    ..Default::default()
                },
                Err(e) => AlterUserScramCredentialsResult {
                    user,
                    error_code: e.code.code(),
                    error_message: Some(e.message),
                    ..Default::default()
                },
            })
            .collect(),
        ..Default::default()
    })
}

/// DescribeUserScramCredentials, from this node's image as Kafka's
/// `ScramImage.describe` answers it: every user with a credential when no
/// users (null or empty) are asked for; otherwise each user asked for once,
/// with RESOURCE_NOT_FOUND when it has no credential and DUPLICATE_RESOURCE
/// when it was asked for more than once.
pub fn describe_user_scram_credentials(
    broker: &Broker,
    context: &RequestContext<'_>,
    request: DescribeUserScramCredentialsRequest,
) -> ResponseBody {
    // Kafka's check: Describe on the cluster.
    if !Access::of(broker, context).allows_cluster(Op::Describe) {
        let refused = cluster_refused();
        return ResponseBody::DescribeUserScramCredentials(DescribeUserScramCredentialsResponse {
            error_code: refused.code.code(),
            error_message: Some(refused.message),
            ..Default::default()
        });
    }
    let image = broker.metadata.image();
    // Users in the order asked (or by name), each with whether it was
    // asked for twice.
    let mut users: Vec<(String, bool)> = Vec::new();
    match request.users.filter(|u| !u.is_empty()) {
        None => {
            let all: BTreeSet<&str> = image.scram_credentials().map(|(_, u, _)| u).collect();
            users.extend(all.into_iter().map(|u| (u.to_string(), false)));
        }
        Some(asked) => {
            for u in asked {
                match users.iter_mut().find(|(name, _)| *name == u.name) {
                    Some((_, twice)) => *twice = true,
                    None => users.push((u.name, false)),
                }
            }
        }
    }
    let results = users
        .into_iter()
        .map(|(user, twice)| {
            if twice {
                return DescribeUserScramCredentialsResult {
                    error_code: ErrorCode::DUPLICATE_RESOURCE.code(),
                    error_message: Some(format!(
                        "Cannot describe SCRAM credentials for the same user twice in a single request: {user}"
                    )),
                    user,
                    ..Default::default()
                };
            }
            let infos: Vec<CredentialInfo> = [SCRAM_SHA_256, SCRAM_SHA_512]
                .into_iter()
                .filter_map(|mechanism| {
                    let c = image.scram_credential(mechanism, &user)?;
                    Some(CredentialInfo {
                        mechanism,
                        iterations: c.iterations,
                        ..Default::default()
                    })
                })
                .collect();
            if infos.is_empty() {
                DescribeUserScramCredentialsResult {
                    error_code: ErrorCode::RESOURCE_NOT_FOUND.code(),
                    error_message: Some(format!(
                        "Attempt to describe a user credential that does not exist: {user}"
                    )),
                    user,
                    ..Default::default()
                }
            } else {
                DescribeUserScramCredentialsResult {
                    user,
                    credential_infos: infos,
                    ..Default::default()
                }
            }
        })
        .collect();
    ResponseBody::DescribeUserScramCredentials(DescribeUserScramCredentialsResponse {
        results,
        ..Default::default()
    })
}
