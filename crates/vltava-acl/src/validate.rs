//! Which ACLs CreateAcls may store, and which filters DeleteAcls may use.
//!
//! Kafka checks a new ACL in two places: the broker's `AclApis` first
//! refuses a cluster ACL not named `kafka-cluster` and an empty resource
//! name, then the controller's `AclControlManager.validateNewAcl` refuses
//! the codes that only make sense in a filter (ANY, MATCH) or were not
//! understood (UNKNOWN), and a principal without a colon. Each refusal is
//! INVALID_REQUEST with a message the client shows the user; the other
//! ACLs of the same request go on.

use std::fmt;

use crate::binding::{AclBinding, AclBindingFilter, CLUSTER_NAME};
use crate::types::{AclOperation, AclPermissionType, PatternType, ResourceType};

/// Kafka's INVALID_REQUEST error code.
pub const INVALID_REQUEST: i16 = 42;

/// Why an ACL may not be created, or a filter may not delete.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AclError {
    /// A `Cluster` ACL on a name other than `kafka-cluster`: it could never
    /// apply, since the cluster is only ever asked about by that name.
    InvalidClusterName,
    /// An empty resource name, as the broker finds it.
    EmptyResourceName,
    /// `Unknown` or `Any` resource type.
    InvalidResourceType(ResourceType),
    /// A pattern type other than `Literal` or `Prefixed`.
    InvalidPatternType(PatternType),
    /// `Unknown` or `Any` operation.
    InvalidOperation(AclOperation),
    /// `Unknown` or `Any` permission.
    InvalidPermissionType(AclPermissionType),
    /// An empty resource name, as the controller finds it (the broker's
    /// check comes first, so only a binding checked by the controller's
    /// rules alone gets this one).
    ControllerEmptyResourceName,
    /// A principal with no colon, so not `Type:name`.
    InvalidPrincipal(String),
    /// A DeleteAcls filter whose resource type or pattern type was not
    /// understood.
    UnknownPatternFilter,
    /// A DeleteAcls filter whose operation or permission was not understood.
    UnknownEntryFilter,
}

impl AclError {
    /// The Kafka error code to answer with. Every refusal here is
    /// INVALID_REQUEST.
    pub fn code(&self) -> i16 {
        INVALID_REQUEST
    }

    /// The error message to answer with (Kafka's wording).
    pub fn message(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for AclError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AclError::InvalidClusterName => write!(
                f,
                "The only valid name for the CLUSTER resource is {CLUSTER_NAME}"
            ),
            AclError::EmptyResourceName => f.write_str("Invalid empty resource name"),
            AclError::InvalidResourceType(t) => write!(f, "Invalid resourceType {t}"),
            AclError::InvalidPatternType(t) => write!(f, "Invalid patternType {t}"),
            AclError::InvalidOperation(o) => write!(f, "Invalid operation {o}"),
            AclError::InvalidPermissionType(p) => write!(f, "Invalid permissionType {p}"),
            AclError::ControllerEmptyResourceName => {
                f.write_str("Resource name should not be empty")
            }
            AclError::InvalidPrincipal(p) => write!(
                f,
                "Could not parse principal from `{p}` (no colon is present separating the \
                 principal type from the principal name)"
            ),
            AclError::UnknownPatternFilter => f.write_str("Unknown patternFilter."),
            AclError::UnknownEntryFilter => f.write_str("Unknown entryFilter."),
        }
    }
}

impl std::error::Error for AclError {}

/// Every check a new ACL of a CreateAcls request goes through, in the order
/// Kafka makes them: the broker's, then the controller's.
pub fn validate_create(binding: &AclBinding) -> Result<(), AclError> {
    validate_on_broker(binding)?;
    validate_new_acl(binding)
}

/// The broker's checks (`AclApis.handleCreateAcls`), before the ACL is
/// sent to the controller.
pub fn validate_on_broker(binding: &AclBinding) -> Result<(), AclError> {
    let pattern = &binding.pattern;
    if pattern.resource_type == ResourceType::Cluster && pattern.name != CLUSTER_NAME {
        return Err(AclError::InvalidClusterName);
    }
    if pattern.name.is_empty() {
        return Err(AclError::EmptyResourceName);
    }
    Ok(())
}

/// The controller's checks (`AclControlManager.validateNewAcl`).
pub fn validate_new_acl(binding: &AclBinding) -> Result<(), AclError> {
    let (pattern, entry) = (&binding.pattern, &binding.entry);
    if matches!(
        pattern.resource_type,
        ResourceType::Unknown | ResourceType::Any
    ) {
        return Err(AclError::InvalidResourceType(pattern.resource_type));
    }
    if !matches!(
        pattern.pattern_type,
        PatternType::Literal | PatternType::Prefixed
    ) {
        return Err(AclError::InvalidPatternType(pattern.pattern_type));
    }
    if matches!(entry.operation, AclOperation::Unknown | AclOperation::Any) {
        return Err(AclError::InvalidOperation(entry.operation));
    }
    if !matches!(
        entry.permission,
        AclPermissionType::Allow | AclPermissionType::Deny
    ) {
        return Err(AclError::InvalidPermissionType(entry.permission));
    }
    if pattern.name.is_empty() {
        return Err(AclError::ControllerEmptyResourceName);
    }
    // Since KAFKA-18051 (Kafka 4.0): an ACL whose principal has no colon
    // would concern nobody, and made Kafka's authorizer fail on it.
    if !entry.principal.contains(':') {
        return Err(AclError::InvalidPrincipal(entry.principal.clone()));
    }
    Ok(())
}

/// The controller's check of a DeleteAcls filter
/// (`AclControlManager.validateFilter`): no part it did not understand.
/// `Any` and `Match` are fine; that is what filters are for.
pub fn validate_delete_filter(filter: &AclBindingFilter) -> Result<(), AclError> {
    if filter.pattern.is_unknown() {
        return Err(AclError::UnknownPatternFilter);
    }
    if filter.entry.is_unknown() {
        return Err(AclError::UnknownEntryFilter);
    }
    Ok(())
}
