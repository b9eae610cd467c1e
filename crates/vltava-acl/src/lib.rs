//! Kafka's access control lists and the decisions its KRaft authorizer
//! (`StandardAuthorizer`) makes from them, with no I/O: the broker turns
//! CreateAcls, DescribeAcls and DeleteAcls requests and the metadata log's
//! ACL records into the types here, and asks `Authorizer` before it serves
//! a request.
//!
//! - `types`: resource types, pattern types, operations and permissions,
//!   with their wire codes and names;
//! - `principal`: `Type:name` principals;
//! - `binding`: ACLs, the resources they are asked about, and the filters
//!   that select ACLs for DescribeAcls and DeleteAcls;
//! - `validate`: what CreateAcls refuses and DeleteAcls filters refused,
//!   as Kafka's error code and message;
//! - `authorizer`: the ACLs held by id, and the authorization decision.
//!
//! Kafka's ZooKeeper-era `AclAuthorizer` is not followed where it differs;
//! the rules are the KRaft ones.
//!
//! ```
//! use vltava_acl::*;
//!
//! let mut authorizer = Authorizer::new(vec!["User:admin".into()], false);
//! let acl = AclBinding::new(
//!     ResourcePattern::new(ResourceType::Topic, "orders-", PatternType::Prefixed),
//!     AccessControlEntry::new("User:alice", "*", AclOperation::Read, AclPermissionType::Allow),
//! );
//! validate_create(&acl).unwrap();
//! authorizer.add_acl([1; 16], acl);
//!
//! let alice = RequestContext::new(KafkaPrincipal::user("alice"), "10.0.0.1");
//! let topic = Resource::new(ResourceType::Topic, "orders-eu");
//! assert_eq!(authorizer.authorize(&alice, AclOperation::Read, &topic), Decision::Allowed);
//! // Read implies Describe; it does not imply Write.
//! assert_eq!(authorizer.authorize(&alice, AclOperation::Describe, &topic), Decision::Allowed);
//! assert_eq!(authorizer.authorize(&alice, AclOperation::Write, &topic), Decision::Denied);
//! ```

mod authorizer;
mod binding;
mod principal;
mod types;
mod validate;

pub use authorizer::{AclId, Authorizer, Decision, RequestContext};
pub use binding::{
    AccessControlEntry, AccessControlEntryFilter, AclBinding, AclBindingFilter, Resource,
    ResourcePattern, ResourcePatternFilter, CLUSTER_NAME, WILDCARD_HOST, WILDCARD_RESOURCE,
};
pub use principal::{KafkaPrincipal, PrincipalParseError, USER_TYPE, WILDCARD_PRINCIPAL};
pub use types::{AclOperation, AclPermissionType, PatternType, ResourceType};
pub use validate::{
    validate_create, validate_delete_filter, validate_new_acl, validate_on_broker, AclError,
    INVALID_REQUEST,
};

#[cfg(test)]
mod tests;
