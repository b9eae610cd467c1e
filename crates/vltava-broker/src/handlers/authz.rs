//! Authorization of requests: what a handler asks before it acts, with
//! Kafka's StandardAuthorizer decisions (`vltava-acl`) over the ACLs in the
//! metadata image. With no authorizer configured (`authorizer.class.name`
//! empty) everything is allowed, as in Kafka.
//!
//! Each handler checks what Kafka's `KafkaApis` checks for that API, and
//! answers a refusal with Kafka's error for it (TOPIC_, GROUP_, CLUSTER_ or
//! TRANSACTIONAL_ID_AUTHORIZATION_FAILED), per resource where Kafka's
//! response has a per-resource error.

use std::net::IpAddr;
use std::sync::Arc;

use vltava_acl::{AclOperation, Authorizer, Decision, KafkaPrincipal, Resource, ResourceType};

use super::RequestContext;
use crate::broker::Broker;

pub use vltava_acl::AclOperation as Op;
pub use vltava_acl::ResourceType as Kind;

/// A request's principal and host, with the authorizer to ask; nothing
/// at all without an authorizer, so the produce and fetch paths then pay
/// for no parsing or formatting.
pub struct Access {
    checked: Option<(Arc<Authorizer>, vltava_acl::RequestContext)>,
}

impl Access {
    pub fn of(broker: &Broker, context: &RequestContext<'_>) -> Access {
        let Some(authorizer) = current(broker) else {
            return Access::unrestricted();
        };
        let principal = context
            .session
            .principal
            .parse::<KafkaPrincipal>()
            .unwrap_or_else(|_| KafkaPrincipal::user("ANONYMOUS"));
        let request = vltava_acl::RequestContext::new(principal, java_host(context.peer.ip()));
        Access {
            checked: Some((authorizer, request)),
        }
    }

    /// The access of `principal` (Kafka's `User:name` text) from `ip`,
    /// for requests that do not come over the Kafka protocol (the HTTP
    /// listener's).
    pub fn for_principal(broker: &Broker, principal: &str, ip: IpAddr) -> Access {
        let Some(authorizer) = current(broker) else {
            return Access::unrestricted();
        };
        let principal = principal
            .parse::<KafkaPrincipal>()
            .unwrap_or_else(|_| KafkaPrincipal::user("ANONYMOUS"));
        Access {
            checked: Some((
                authorizer,
                vltava_acl::RequestContext::new(principal, java_host(ip)),
            )),
        }
    }

    /// Everything allowed (no authorizer).
    pub fn unrestricted() -> Access {
        Access { checked: None }
    }

    pub fn enabled(&self) -> bool {
        self.checked.is_some()
    }

    /// May the principal do `operation` on the resource?
    pub fn allows(&self, operation: AclOperation, kind: ResourceType, name: &str) -> bool {
        match &self.checked {
            None => true,
            Some((a, request)) => {
                a.authorize(request, operation, &Resource::new(kind, name)) == Decision::Allowed
            }
        }
    }

    /// `operation` on the cluster resource.
    pub fn allows_cluster(&self, operation: AclOperation) -> bool {
        self.allows(operation, ResourceType::Cluster, vltava_acl::CLUSTER_NAME)
    }

    /// `operation` on some resource of the kind (KIP-679's
    /// authorizeByResourceType): an idempotent producer needs Write on
    /// some topic, or IdempotentWrite on the cluster.
    pub fn allows_some(&self, operation: AclOperation, kind: ResourceType) -> bool {
        match &self.checked {
            None => true,
            Some((a, request)) => {
                a.authorize_by_resource_type(request, operation, kind) == Decision::Allowed
            }
        }
    }

    /// Kafka's authorized-operations bit field for a resource (the
    /// `*_authorized_operations` of Metadata and DescribeGroups): one bit
    /// per operation code allowed.
    pub fn authorized_operations(
        &self,
        kind: ResourceType,
        name: &str,
        operations: &[AclOperation],
    ) -> i32 {
        operations
            .iter()
            .filter(|op| self.allows(**op, kind, name))
            .fold(0, |bits, op| bits | (1 << op.code()))
    }
}

/// The authorizer in force, if one is configured.
fn current(broker: &Broker) -> Option<Arc<Authorizer>> {
    broker
        .metadata
        .authorizer_enabled()
        .then(|| broker.metadata.authorizer())
}

/// The operations Kafka reports for a topic, a group and the cluster.
pub const TOPIC_OPERATIONS: &[AclOperation] = &[
    Op::Read,
    Op::Write,
    Op::Create,
    Op::Delete,
    Op::Alter,
    Op::Describe,
    Op::DescribeConfigs,
    Op::AlterConfigs,
];
pub const GROUP_OPERATIONS: &[AclOperation] = &[Op::Read, Op::Delete, Op::Describe];
pub const CLUSTER_OPERATIONS: &[AclOperation] = &[
    Op::Create,
    Op::Alter,
    Op::Describe,
    Op::ClusterAction,
    Op::DescribeConfigs,
    Op::AlterConfigs,
    Op::IdempotentWrite,
    Op::CreateTokens,
    Op::DescribeTokens,
];

/// A client address as Java's `InetAddress.getHostAddress()` writes it,
/// which is what ACL hosts are compared with: IPv4 dotted, IPv6 as eight
/// uncompressed hexadecimal groups.
fn java_host(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => v6
                .segments()
                .iter()
                .map(|s| format!("{s:x}"))
                .collect::<Vec<_>>()
                .join(":"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_are_written_as_java_writes_them() {
        assert_eq!(java_host("10.0.0.1".parse().unwrap()), "10.0.0.1");
        assert_eq!(java_host("::1".parse().unwrap()), "0:0:0:0:0:0:0:1");
        assert_eq!(java_host("::ffff:10.1.2.3".parse().unwrap()), "10.1.2.3");
    }
}
