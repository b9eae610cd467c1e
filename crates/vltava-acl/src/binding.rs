//! ACLs and the filters DescribeAcls and DeleteAcls select them with.
//!
//! An ACL (`AclBinding`) is a resource pattern (which resources) and an
//! access control entry (who, from where, doing what, allowed or denied).
//! A filter has the same shape with every part optional; the rules of
//! what it selects are Kafka's `ResourcePatternFilter.matches` and
//! `AccessControlEntryFilter.matches`.

use crate::types::{AclOperation, AclPermissionType, PatternType, ResourceType};

/// The resource name of a literal pattern that applies to every resource
/// of its type.
pub const WILDCARD_RESOURCE: &str = "*";

/// The host of an ACL that applies whatever host the client connects from.
pub const WILDCARD_HOST: &str = "*";

/// The name of the one resource of type `Cluster`.
pub const CLUSTER_NAME: &str = "kafka-cluster";

/// The resources an ACL applies to.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ResourcePattern {
    pub resource_type: ResourceType,
    pub name: String,
    pub pattern_type: PatternType,
}

impl ResourcePattern {
    pub fn new(
        resource_type: ResourceType,
        name: impl Into<String>,
        pattern_type: PatternType,
    ) -> Self {
        ResourcePattern {
            resource_type,
            name: name.into(),
            pattern_type,
        }
    }

    /// Whether this pattern covers the resource: same type, and the name
    /// equal (literal), the literal `*`, or starting with the pattern's
    /// name (prefixed). Patterns of other pattern types cover nothing.
    pub fn covers(&self, resource: &Resource) -> bool {
        if self.resource_type != resource.resource_type {
            return false;
        }
        match self.pattern_type {
            PatternType::Literal => self.name == resource.name || self.name == WILDCARD_RESOURCE,
            PatternType::Prefixed => resource.name.starts_with(self.name.as_str()),
            _ => false,
        }
    }
}

/// Who may (or may not) do what from where.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AccessControlEntry {
    /// `Type:name`, `User:*` for everyone. Kept as the string the ACL was
    /// created with, since filters compare the string.
    pub principal: String,
    /// The client's IP address as text, or `*`.
    pub host: String,
    pub operation: AclOperation,
    pub permission: AclPermissionType,
}

impl AccessControlEntry {
    pub fn new(
        principal: impl Into<String>,
        host: impl Into<String>,
        operation: AclOperation,
        permission: AclPermissionType,
    ) -> Self {
        AccessControlEntry {
            principal: principal.into(),
            host: host.into(),
            operation,
            permission,
        }
    }
}

/// One ACL.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AclBinding {
    pub pattern: ResourcePattern,
    pub entry: AccessControlEntry,
}

impl AclBinding {
    pub fn new(pattern: ResourcePattern, entry: AccessControlEntry) -> Self {
        AclBinding { pattern, entry }
    }
}

/// A resource an operation is asked about: always one named resource,
/// never a pattern.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Resource {
    pub resource_type: ResourceType,
    pub name: String,
}

impl Resource {
    pub fn new(resource_type: ResourceType, name: impl Into<String>) -> Self {
        Resource {
            resource_type,
            name: name.into(),
        }
    }

    /// The cluster, `kafka-cluster`.
    pub fn cluster() -> Self {
        Self::new(ResourceType::Cluster, CLUSTER_NAME)
    }
}

/// Which resource patterns a filter selects.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ResourcePatternFilter {
    /// `Any` for every type.
    pub resource_type: ResourceType,
    /// `None` for every name.
    pub name: Option<String>,
    /// `Any`: every pattern type, the name compared exactly; `Match`: the
    /// patterns that would apply to a resource called `name`; `Literal` or
    /// `Prefixed`: only that type, the name compared exactly.
    pub pattern_type: PatternType,
}

impl ResourcePatternFilter {
    /// Selects every pattern.
    pub const ANY: ResourcePatternFilter = ResourcePatternFilter {
        resource_type: ResourceType::Any,
        name: None,
        pattern_type: PatternType::Any,
    };

    pub fn new(resource_type: ResourceType, name: Option<&str>, pattern_type: PatternType) -> Self {
        ResourcePatternFilter {
            resource_type,
            name: name.map(str::to_owned),
            pattern_type,
        }
    }

    /// Whether the filter holds a code that was not understood; Kafka
    /// refuses to delete with such a filter.
    pub fn is_unknown(&self) -> bool {
        self.resource_type.is_unknown() || self.pattern_type.is_unknown()
    }

    pub fn matches(&self, pattern: &ResourcePattern) -> bool {
        if self.resource_type != ResourceType::Any && self.resource_type != pattern.resource_type {
            return false;
        }
        let any_or_match = matches!(self.pattern_type, PatternType::Any | PatternType::Match);
        if !any_or_match && self.pattern_type != pattern.pattern_type {
            return false;
        }
        let Some(name) = &self.name else {
            return true;
        };
        if self.pattern_type != PatternType::Match {
            return *name == pattern.name;
        }
        // MATCH: would this pattern apply to a resource called `name`?
        match pattern.pattern_type {
            PatternType::Literal => *name == pattern.name || pattern.name == WILDCARD_RESOURCE,
            PatternType::Prefixed => name.starts_with(pattern.name.as_str()),
            // Kafka throws here; no stored pattern has another type.
            _ => false,
        }
    }
}

/// Which access control entries a filter selects.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct AccessControlEntryFilter {
    /// `None` for every principal; otherwise compared as a string, so
    /// `User:*` selects only the ACLs written for everyone.
    pub principal: Option<String>,
    /// `None` for every host; otherwise compared as a string.
    pub host: Option<String>,
    /// `Any` for every operation; `All` selects only ACLs on `All`.
    pub operation: AclOperation,
    /// `Any` for both.
    pub permission: AclPermissionType,
}

impl AccessControlEntryFilter {
    /// Selects every entry.
    pub const ANY: AccessControlEntryFilter = AccessControlEntryFilter {
        principal: None,
        host: None,
        operation: AclOperation::Any,
        permission: AclPermissionType::Any,
    };

    pub fn new(
        principal: Option<&str>,
        host: Option<&str>,
        operation: AclOperation,
        permission: AclPermissionType,
    ) -> Self {
        AccessControlEntryFilter {
            principal: principal.map(str::to_owned),
            host: host.map(str::to_owned),
            operation,
            permission,
        }
    }

    /// Whether the filter holds a code that was not understood.
    pub fn is_unknown(&self) -> bool {
        self.operation.is_unknown() || self.permission.is_unknown()
    }

    pub fn matches(&self, entry: &AccessControlEntry) -> bool {
        self.principal
            .as_ref()
            .is_none_or(|p| *p == entry.principal)
            && self.host.as_ref().is_none_or(|h| *h == entry.host)
            && (self.operation == AclOperation::Any || self.operation == entry.operation)
            && (self.permission == AclPermissionType::Any || self.permission == entry.permission)
    }
}

/// A DescribeAcls or DeleteAcls filter: an ACL is selected when both its
/// pattern and its entry are.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct AclBindingFilter {
    pub pattern: ResourcePatternFilter,
    pub entry: AccessControlEntryFilter,
}

impl AclBindingFilter {
    /// Selects every ACL.
    pub const ANY: AclBindingFilter = AclBindingFilter {
        pattern: ResourcePatternFilter::ANY,
        entry: AccessControlEntryFilter::ANY,
    };

    pub fn new(pattern: ResourcePatternFilter, entry: AccessControlEntryFilter) -> Self {
        AclBindingFilter { pattern, entry }
    }

    pub fn is_unknown(&self) -> bool {
        self.pattern.is_unknown() || self.entry.is_unknown()
    }

    pub fn matches(&self, binding: &AclBinding) -> bool {
        self.pattern.matches(&binding.pattern) && self.entry.matches(&binding.entry)
    }
}
