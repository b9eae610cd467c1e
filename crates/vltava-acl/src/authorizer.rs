//! The decision of Kafka's StandardAuthorizer (KRaft's built-in
//! authorizer): may this principal, from this host, do this operation on
//! this resource?
//!
//! The rules, in the order they decide:
//! 1. a super user (`super.users`, compared as the `Type:name` string) may
//!    do anything, whatever the ACLs say;
//! 2. the ACLs that apply to the resource are those of its type whose
//!    pattern is the literal name, the literal `*`, or a prefix of the
//!    name; if there are none at all (for any principal, host or
//!    operation), the answer is `allow.everyone.if.no.acl.found`;
//! 3. of those, an ACL concerns the request if its principal is the
//!    request's or `User:*`, its host is the client's or `*`, and its
//!    operation is the one asked, or `All`, or, for an ALLOW only, one that
//!    implies it (Read, Write, Delete and Alter imply Describe; AlterConfigs
//!    implies DescribeConfigs). A DENY of Read does not deny Describe:
//!    Describe is denied only by a DENY of Describe or of All;
//! 4. one DENY that concerns the request denies it; otherwise one ALLOW
//!    allows it; otherwise it is denied (there are ACLs on the resource,
//!    none for this request).

use std::collections::{BTreeMap, BTreeSet};

use crate::binding::{AclBinding, AclBindingFilter, Resource, WILDCARD_HOST, WILDCARD_RESOURCE};
use crate::principal::KafkaPrincipal;
use crate::types::{AclOperation, AclPermissionType, PatternType, ResourceType};

/// An ACL's id: the Uuid of Kafka's `AccessControlEntryRecord`, as its 16
/// bytes. The controller picks it at creation and deletes by it.
pub type AclId = [u8; 16];

/// The answer to an authorization question.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Decision {
    Allowed,
    Denied,
}

/// Who asks, and from where.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct RequestContext {
    pub principal: KafkaPrincipal,
    /// The client's IP address as text, as ACL hosts are written (Kafka
    /// uses Java's `InetAddress.getHostAddress()`).
    pub host: String,
}

impl RequestContext {
    pub fn new(principal: KafkaPrincipal, host: impl Into<String>) -> Self {
        RequestContext {
            principal,
            host: host.into(),
        }
    }
}

#[derive(Clone, Debug)]
struct StoredAcl {
    binding: AclBinding,
    /// The binding's principal parsed once; `None` if it is not
    /// `Type:name`, in which case the ACL concerns nobody (it still counts
    /// as an ACL on its resources).
    principal: Option<KafkaPrincipal>,
}

/// The ACLs a broker or controller holds, with its authorizer configuration,
/// indexed so that a check looks up the names that could apply rather than
/// scanning every ACL.
#[derive(Clone, Debug, Default)]
pub struct Authorizer {
    super_users: Vec<String>,
    allow_everyone_if_no_acl_found: bool,
    acls: BTreeMap<AclId, StoredAcl>,
    /// Resource type and pattern type, then pattern name, to the ACLs with
    /// that pattern.
    index: BTreeMap<(ResourceType, PatternType), BTreeMap<String, BTreeSet<AclId>>>,
}

/// ALLOW ACLs on these operations also allow Describe.
const IMPLIES_DESCRIBE: [AclOperation; 5] = [
    AclOperation::Describe,
    AclOperation::Read,
    AclOperation::Write,
    AclOperation::Delete,
    AclOperation::Alter,
];

/// ALLOW ACLs on these operations also allow DescribeConfigs.
const IMPLIES_DESCRIBE_CONFIGS: [AclOperation; 2] =
    [AclOperation::DescribeConfigs, AclOperation::AlterConfigs];

/// The resource name `Authorizer::authorize_by_resource_type` asks about
/// first; Kafka's default `Authorizer.authorizeByResourceType` uses this
/// very name, so a literal ACL on a resource called `hardcode` bears on
/// the answer there as well.
const PROBE_NAME: &str = "hardcode";

impl Authorizer {
    /// An authorizer with no ACLs. `super_users` are principals as
    /// `Type:name` strings (`super.users`, split at `;`).
    pub fn new(super_users: Vec<String>, allow_everyone_if_no_acl_found: bool) -> Self {
        Authorizer {
            super_users,
            allow_everyone_if_no_acl_found,
            ..Default::default()
        }
    }

    pub fn super_users(&self) -> &[String] {
        &self.super_users
    }

    pub fn allow_everyone_if_no_acl_found(&self) -> bool {
        self.allow_everyone_if_no_acl_found
    }

    /// Changes the configuration, keeping the ACLs (a dynamic reconfigure).
    pub fn set_config(&mut self, super_users: Vec<String>, allow_everyone_if_no_acl_found: bool) {
        self.super_users = super_users;
        self.allow_everyone_if_no_acl_found = allow_everyone_if_no_acl_found;
    }

    /// The number of ACLs held.
    pub fn len(&self) -> usize {
        self.acls.len()
    }

    pub fn is_empty(&self) -> bool {
        self.acls.is_empty()
    }

    /// Adds an ACL as an `AccessControlEntryRecord` replays, returning the
    /// one it replaces if the id was taken. It is not validated: records
    /// hold what the controller already accepted.
    pub fn add_acl(&mut self, id: AclId, binding: AclBinding) -> Option<AclBinding> {
        let previous = self.remove_acl(&id);
        self.index
            .entry((binding.pattern.resource_type, binding.pattern.pattern_type))
            .or_default()
            .entry(binding.pattern.name.clone())
            .or_default()
            .insert(id);
        let principal = KafkaPrincipal::parse(&binding.entry.principal).ok();
        self.acls.insert(id, StoredAcl { binding, principal });
        previous
    }

    /// Removes an ACL as a `RemoveAccessControlEntryRecord` replays,
    /// returning it, or `None` if no ACL had that id.
    pub fn remove_acl(&mut self, id: &AclId) -> Option<AclBinding> {
        let stored = self.acls.remove(id)?;
        let pattern = &stored.binding.pattern;
        let key = (pattern.resource_type, pattern.pattern_type);
        if let Some(by_name) = self.index.get_mut(&key) {
            if let Some(ids) = by_name.get_mut(pattern.name.as_str()) {
                ids.remove(id);
                if ids.is_empty() {
                    by_name.remove(pattern.name.as_str());
                }
            }
            if by_name.is_empty() {
                self.index.remove(&key);
            }
        }
        Some(stored.binding)
    }

    /// The ACL with this id.
    pub fn get(&self, id: &AclId) -> Option<&AclBinding> {
        self.acls.get(id).map(|s| &s.binding)
    }

    /// The id of an ACL equal to `binding`, if one is held. Kafka's
    /// controller stores an ACL only once: creating it again succeeds
    /// without a new record.
    pub fn id_of(&self, binding: &AclBinding) -> Option<AclId> {
        let pattern = &binding.pattern;
        self.ids_with_pattern(pattern.resource_type, pattern.pattern_type, &pattern.name)
            .find(|id| self.acls[*id].binding == *binding)
            .copied()
    }

    /// Every ACL the filter selects, in id order: DescribeAcls answers
    /// with them, DeleteAcls removes them.
    pub fn acls_matching<'a>(
        &'a self,
        filter: &'a AclBindingFilter,
    ) -> impl Iterator<Item = (&'a AclId, &'a AclBinding)> + 'a {
        self.acls
            .iter()
            .map(|(id, stored)| (id, &stored.binding))
            .filter(move |(_, binding)| filter.matches(binding))
    }

    /// Every ACL held, in id order.
    pub fn iter(&self) -> impl Iterator<Item = (&AclId, &AclBinding)> {
        self.acls.iter().map(|(id, stored)| (id, &stored.binding))
    }

    /// Kafka compares `super.users` entries with the principal's
    /// `Type:name` string; this does the same without building it.
    fn is_super_user(&self, principal: &KafkaPrincipal) -> bool {
        let (t, n) = (principal.principal_type.as_str(), principal.name.as_str());
        self.super_users.iter().any(|s| {
            s.len() == t.len() + 1 + n.len()
                && s.starts_with(t)
                && s.as_bytes()[t.len()] == b':'
                && s.ends_with(n)
        })
    }

    fn ids_with_pattern<'a>(
        &'a self,
        resource_type: ResourceType,
        pattern_type: PatternType,
        name: &str,
    ) -> impl Iterator<Item = &'a AclId> + 'a {
        self.index
            .get(&(resource_type, pattern_type))
            .and_then(|by_name| by_name.get(name))
            .into_iter()
            .flatten()
    }

    /// The ACLs whose pattern covers the resource: its literal name, the
    /// literal `*`, and every prefix of the name as a prefixed pattern.
    fn acls_covering<'a>(
        &'a self,
        resource: &'a Resource,
    ) -> impl Iterator<Item = &'a StoredAcl> + 'a {
        let t = resource.resource_type;
        let name = resource.name.as_str();
        let literal = self.ids_with_pattern(t, PatternType::Literal, name);
        let wildcard = (name != WILDCARD_RESOURCE)
            .then(|| self.ids_with_pattern(t, PatternType::Literal, WILDCARD_RESOURCE))
            .into_iter()
            .flatten();
        let prefixes = self
            .index
            .get(&(t, PatternType::Prefixed))
            .into_iter()
            .flat_map(move |by_name| {
                // Every non-empty prefix ending on a character boundary.
                name.char_indices()
                    .map(|(i, c)| &name[..i + c.len_utf8()])
                    .filter_map(move |prefix| by_name.get(prefix))
                    .flatten()
            });
        literal
            .chain(wildcard)
            .chain(prefixes)
            .map(move |id| &self.acls[id])
    }

    /// May `ctx` do `operation` on `resource`? See the module's comment for
    /// the rules.
    pub fn authorize(
        &self,
        ctx: &RequestContext,
        operation: AclOperation,
        resource: &Resource,
    ) -> Decision {
        if self.is_super_user(&ctx.principal) {
            return Decision::Allowed;
        }
        let mut any_acl = false;
        let mut allowed = false;
        for acl in self.acls_covering(resource) {
            any_acl = true;
            match effect(acl, ctx, operation) {
                Some(Decision::Denied) => return Decision::Denied,
                Some(Decision::Allowed) => allowed = true,
                None => {}
            }
        }
        if allowed || (!any_acl && self.allow_everyone_if_no_acl_found) {
            Decision::Allowed
        } else {
            Decision::Denied
        }
    }

    /// May `ctx` do `operation` on at least one resource of this type
    /// (KIP-679)? The broker asks it for InitProducerId without a
    /// transactional id: an idempotent producer needs Write on some topic.
    ///
    /// Kafka's StandardAuthorizer answers with the `Authorizer` interface's
    /// default method, which this follows:
    /// 1. if `authorize` allows the operation on a resource named
    ///    `hardcode` of this type, allowed (this lets in super users, the
    ///    `allow.everyone.if.no.acl.found` default, and ACLs on `*`);
    /// 2. otherwise the ACLs of this type for the principal (or `User:*`)
    ///    and host (or `*`) on this very operation or `All` (no implied
    ///    operations here) are gathered: a DENY on the literal `*` denies;
    ///    an ALLOW on the literal `*` allows; an ALLOW on a literal name
    ///    with no literal DENY on the same name and no prefixed DENY on a
    ///    prefix of it allows; an ALLOW on a prefix with no prefixed DENY on
    ///    a prefix of it (itself included) allows;
    /// 3. otherwise denied.
    ///
    /// Kafka throws on an `Any` or `Unknown` operation or resource type;
    /// they are denied here.
    pub fn authorize_by_resource_type(
        &self,
        ctx: &RequestContext,
        operation: AclOperation,
        resource_type: ResourceType,
    ) -> Decision {
        if matches!(resource_type, ResourceType::Any | ResourceType::Unknown)
            || matches!(operation, AclOperation::Any | AclOperation::Unknown)
        {
            return Decision::Denied;
        }
        let probe = Resource::new(resource_type, PROBE_NAME);
        if self.authorize(ctx, operation, &probe) == Decision::Allowed {
            return Decision::Allowed;
        }

        let mut deny_literal = BTreeSet::new();
        let mut deny_prefixed = BTreeSet::new();
        let mut allow_literal = BTreeSet::new();
        let mut allow_prefixed = BTreeSet::new();
        let mut allow_wildcard = false;
        let of_type = self
            .index
            .range((resource_type, PatternType::Unknown)..=(resource_type, PatternType::Prefixed))
            .flat_map(|(&(_, pattern_type), by_name)| {
                by_name.iter().flat_map(move |(name, ids)| {
                    ids.iter().map(move |id| (pattern_type, name.as_str(), id))
                })
            });
        for (pattern_type, name, id) in of_type {
            let acl = &self.acls[id];
            let entry = &acl.binding.entry;
            if entry.host != ctx.host && entry.host != WILDCARD_HOST {
                continue;
            }
            let principal_matches = acl
                .principal
                .as_ref()
                .is_some_and(|p| *p == ctx.principal || p.is_wildcard());
            if !principal_matches {
                continue;
            }
            if entry.operation != operation && entry.operation != AclOperation::All {
                continue;
            }
            match (entry.permission, pattern_type) {
                (AclPermissionType::Deny, PatternType::Literal) if name == WILDCARD_RESOURCE => {
                    return Decision::Denied;
                }
                (AclPermissionType::Deny, PatternType::Literal) => {
                    deny_literal.insert(name);
                }
                (AclPermissionType::Deny, PatternType::Prefixed) => {
                    deny_prefixed.insert(name);
                }
                (AclPermissionType::Allow, PatternType::Literal) if name == WILDCARD_RESOURCE => {
                    allow_wildcard = true;
                }
                (AclPermissionType::Allow, PatternType::Literal) => {
                    allow_literal.insert(name);
                }
                (AclPermissionType::Allow, PatternType::Prefixed) => {
                    allow_prefixed.insert(name);
                }
                _ => {}
            }
        }
        if allow_wildcard {
            return Decision::Allowed;
        }
        let under_prefixed_deny = |name: &str| {
            name.char_indices()
                .any(|(i, c)| deny_prefixed.contains(&name[..i + c.len_utf8()]))
        };
        let literal_open = allow_literal
            .iter()
            .any(|name| !deny_literal.contains(name) && !under_prefixed_deny(name));
        let prefix_open = allow_prefixed.iter().any(|name| !under_prefixed_deny(name));
        if literal_open || prefix_open {
            Decision::Allowed
        } else {
            Decision::Denied
        }
    }
}

/// What one ACL, already known to cover the resource, says about the
/// request: `None` if it does not concern it.
fn effect(acl: &StoredAcl, ctx: &RequestContext, operation: AclOperation) -> Option<Decision> {
    let principal = acl.principal.as_ref()?;
    if *principal != ctx.principal && !principal.is_wildcard() {
        return None;
    }
    let entry = &acl.binding.entry;
    if entry.host != WILDCARD_HOST && entry.host != ctx.host {
        return None;
    }
    let allow = entry.permission == AclPermissionType::Allow;
    if entry.operation != AclOperation::All {
        let applies = if allow {
            match operation {
                AclOperation::Describe => IMPLIES_DESCRIBE.contains(&entry.operation),
                AclOperation::DescribeConfigs => {
                    IMPLIES_DESCRIBE_CONFIGS.contains(&entry.operation)
                }
                _ => entry.operation == operation,
            }
        } else {
            // Implications widen what is allowed, never what is denied.
            entry.operation == operation
        };
        if !applies {
            return None;
        }
    }
    // Kafka treats any permission but ALLOW as a denial; stored ACLs are
    // only ever ALLOW or DENY.
    Some(if allow {
        Decision::Allowed
    } else {
        Decision::Denied
    })
}
