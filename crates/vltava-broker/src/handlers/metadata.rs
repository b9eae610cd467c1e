//! Metadata: brokers, controller, cluster id and topic/partition leadership,
//! read from the current metadata image. Auto-creates requested topics when
//! the request allows it and `auto.create.topics.enable` is on.

use vltava_metadata::controller::validate_topic_name;
use vltava_metadata::{MetadataImage, TopicImage};
use vltava_protocol::messages::metadata_request::MetadataRequestTopic;
use vltava_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use vltava_protocol::messages::{MetadataRequest, MetadataResponse};
use vltava_protocol::{ErrorCode, ResponseBody, Uuid};

use super::authz::{self, Access, Kind, Op};
use super::RequestContext;
use crate::broker::Broker;

/// Kafka's marker for "authorized operations were not requested".
const AUTHORIZED_OPERATIONS_OMITTED: i32 = i32::MIN;

/// AclOperation codes, as bit positions of an authorized-operations field.
const READ: u32 = 3;
const WRITE: u32 = 4;
const CREATE: u32 = 5;
const DELETE: u32 = 6;
const ALTER: u32 = 7;
const DESCRIBE: u32 = 8;
const CLUSTER_ACTION: u32 = 9;
const DESCRIBE_CONFIGS: u32 = 10;
const ALTER_CONFIGS: u32 = 11;
const IDEMPOTENT_WRITE: u32 = 12;

const fn bits(ops: &[u32]) -> i32 {
    let mut field = 0i32;
    let mut i = 0;
    while i < ops.len() {
        field |= 1 << ops[i];
        i += 1;
    }
    field
}

/// What a client may do with a topic when asked for its authorized
/// operations. With no authorizer, Kafka answers every operation the
/// resource type supports (AuthHelper.authorizedOperations,
/// AclEntry.supportedOperations); there is no authorizer here.
pub const TOPIC_AUTHORIZED_OPERATIONS: i32 = bits(&[
    READ,
    WRITE,
    CREATE,
    DESCRIBE,
    DELETE,
    ALTER,
    DESCRIBE_CONFIGS,
    ALTER_CONFIGS,
]);

/// The same for a group (Kafka 4's AclEntry.supportedOperations, which
/// added the group configs of KIP-848).
pub const GROUP_AUTHORIZED_OPERATIONS: i32 =
    bits(&[READ, DESCRIBE, DELETE, DESCRIBE_CONFIGS, ALTER_CONFIGS]);

/// The same for the cluster resource.
pub const CLUSTER_AUTHORIZED_OPERATIONS: i32 = bits(&[
    CREATE,
    CLUSTER_ACTION,
    DESCRIBE_CONFIGS,
    ALTER_CONFIGS,
    IDEMPOTENT_WRITE,
    ALTER,
    DESCRIBE,
]);

pub async fn handle(
    broker: &Broker,
    context: &RequestContext<'_>,
    request: MetadataRequest,
) -> ResponseBody {
    let version = context.version;
    let wanted = wanted_topics(request.topics, version);
    // Kafka's checks: Describe on a topic to see it (topics asked for by
    // name answer TOPIC_AUTHORIZATION_FAILED; "all topics" leaves the
    // others out), Create on the cluster or the topic to auto-create it.
    let access = Access::of(broker, context);
    let may_create = |name: &str| {
        access.allows_cluster(Op::Create) || access.allows(Op::Create, Kind::Topic, name)
    };
    // Versions before 4 always allow auto-creation.
    let allow_auto_create = request.allow_auto_topic_creation || version < 4;
    let auto_create = allow_auto_create && broker.metadata.config().auto_create_topics_enable();
    if let Some(wanted) = &wanted {
        if auto_create {
            let image = broker.metadata.image();
            let missing: Vec<String> = wanted
                .iter()
                .filter_map(|(name, _)| name.as_ref())
                .filter(|name| image.topic(name).is_none() && may_create(name))
                .cloned()
                .collect();
            if !missing.is_empty() {
                broker.channel.auto_create_topics(&missing).await;
            }
        }
    }
    let image = broker.metadata.image();
    let denied = |name: Option<&str>, id: &Uuid| MetadataResponseTopic {
        error_code: ErrorCode::TOPIC_AUTHORIZATION_FAILED.code(),
        name: name.map(str::to_string),
        topic_id: *id,
        topic_authorized_operations: AUTHORIZED_OPERATIONS_OMITTED,
        ..Default::default()
    };
    let mut topics: Vec<MetadataResponseTopic> = match wanted {
        None => image
            .topics()
            .into_iter()
            .filter(|t| access.allows(Op::Describe, Kind::Topic, &t.name))
            .map(|t| describe_topic(t, broker.node_id))
            .collect(),
        Some(wanted) => wanted
            .iter()
            .map(|(name, id)| {
                let known = match name {
                    Some(n) => image.topic(n),
                    None => image.topic_by_id(id),
                };
                match (known, name) {
                    (Some(t), _) if !access.allows(Op::Describe, Kind::Topic, &t.name) => {
                        denied(name.as_deref(), id)
                    }
                    (None, Some(n))
                        if !access.allows(Op::Describe, Kind::Topic, n)
                            || (auto_create && !may_create(n)) =>
                    {
                        denied(name.as_deref(), id)
                    }
                    _ => lookup(&image, name.as_deref(), id, broker.node_id),
                }
            })
            .collect(),
    };
    // v8+: asked-for authorized operations (KafkaApis sets them on every
    // topic of the answer); the cluster's exist in v8-10 only.
    if version >= 8 && request.include_topic_authorized_operations {
        for topic in &mut topics {
            if topic.error_code == ErrorCode::TOPIC_AUTHORIZATION_FAILED.code() {
                continue;
            }
            topic.topic_authorized_operations = if access.enabled() {
                let name = topic.name.clone().unwrap_or_default();
                access.authorized_operations(Kind::Topic, &name, authz::TOPIC_OPERATIONS)
            } else {
                TOPIC_AUTHORIZED_OPERATIONS
            };
        }
    }
    let cluster_authorized_operations =
        if (8..=10).contains(&version) && request.include_cluster_authorized_operations {
            if access.enabled() {
                access.authorized_operations(
                    Kind::Cluster,
                    vltava_acl::CLUSTER_NAME,
                    authz::CLUSTER_OPERATIONS,
                )
            } else {
                CLUSTER_AUTHORIZED_OPERATIONS
            }
        } else {
            AUTHORIZED_OPERATIONS_OMITTED
        };
    ResponseBody::Metadata(MetadataResponse {
        brokers: brokers(&image, &context.session.listener),
        cluster_id: Some(broker.cluster_id.clone()),
        controller_id: broker.controller.id(),
        topics,
        cluster_authorized_operations,
        ..Default::default()
    })
}

/// The brokers clients may use: registered and not fenced (as Kafka lists
/// them), at their endpoint on the listener the request came in on.
pub fn brokers(image: &MetadataImage, listener: &str) -> Vec<MetadataResponseBroker> {
    image
        .brokers
        .values()
        .filter(|b| !b.fenced)
        .filter_map(|b| {
            let endpoint = b.endpoints.iter().find(|e| e.listener == listener)?;
            Some(MetadataResponseBroker {
                node_id: b.id,
                host: endpoint.host.clone(),
                port: endpoint.port.into(),
                rack: b.rack.clone(),
                ..Default::default()
            })
        })
        .collect()
}

/// The topics a Metadata request asks for, each as (name, id); `None`
/// for every topic (v0: an empty list; v1+: null). A topic asked for by
/// id (v12+) is looked up by its id, whatever its name field says: the
/// Java client leaves the name at its default, "", not null (Kafka's
/// KafkaApis uses the ids when any is set).
fn wanted_topics(
    topics: Option<Vec<MetadataRequestTopic>>,
    version: i16,
) -> Option<Vec<(Option<String>, Uuid)>> {
    match topics {
        None => None,
        Some(topics) if topics.is_empty() && version == 0 => None,
        Some(topics) => Some(
            topics
                .into_iter()
                .map(|t| {
                    let name = if t.topic_id.is_zero() { t.name } else { None };
                    (name, t.topic_id)
                })
                .collect(),
        ),
    }
}

fn lookup(
    image: &MetadataImage,
    name: Option<&str>,
    id: &Uuid,
    node_id: i32,
) -> MetadataResponseTopic {
    let topic = match name {
        Some(name) => image.topic(name),
        None => image.topic_by_id(id),
    };
    match topic {
        Some(t) => describe_topic(t, node_id),
        None => {
            tracing::debug!(
                ?name,
                image_offset = image.offset,
                "Metadata: unknown topic"
            );
            MetadataResponseTopic {
                // Kafka answers a name that can never exist with
                // INVALID_TOPIC_EXCEPTION (KafkaApis: Topic.validate), so clients
                // fail its messages at once instead of waiting for the topic.
                error_code: match name {
                    Some(name) if validate_topic_name(name).is_err() => {
                        ErrorCode::INVALID_TOPIC_EXCEPTION
                    }
                    Some(_) => ErrorCode::UNKNOWN_TOPIC_OR_PARTITION,
                    None => ErrorCode::UNKNOWN_TOPIC_ID,
                }
                .code(),
                name: name.map(str::to_string),
                topic_id: *id,
                topic_authorized_operations: AUTHORIZED_OPERATIONS_OMITTED,
                ..Default::default()
            }
        }
    }
}

pub fn describe_topic(topic: &TopicImage, _node_id: i32) -> MetadataResponseTopic {
    MetadataResponseTopic {
        error_code: 0,
        name: Some(topic.name.clone()),
        topic_id: topic.id,
        is_internal: topic.is_internal(),
        partitions: topic
            .partitions
            .iter()
            .enumerate()
            .map(|(i, p)| MetadataResponsePartition {
                error_code: if p.leader < 0 {
                    ErrorCode::LEADER_NOT_AVAILABLE.code()
                } else {
                    0
                },
                partition_index: i as i32,
                leader_id: p.leader,
                leader_epoch: p.leader_epoch,
                replica_nodes: p.replicas.clone(),
                isr_nodes: p.isr.clone(),
                offline_replicas: Vec::new(),
                ..Default::default()
            })
            .collect(),
        topic_authorized_operations: AUTHORIZED_OPERATIONS_OMITTED,
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_topics_are_unknown_unless_their_name_is_illegal() {
        let image = MetadataImage::default();
        let code = |name: Option<&str>| lookup(&image, name, &Uuid::default(), 1).error_code;
        assert_eq!(
            code(Some("not-there_yet.1")),
            ErrorCode::UNKNOWN_TOPIC_OR_PARTITION.code()
        );
        for illegal in ["bad$#!", "", ".", "..", &"x".repeat(250)] {
            assert_eq!(
                code(Some(illegal)),
                ErrorCode::INVALID_TOPIC_EXCEPTION.code(),
                "{illegal:?}"
            );
        }
        assert_eq!(code(None), ErrorCode::UNKNOWN_TOPIC_ID.code());
    }

    #[test]
    fn a_topic_asked_for_by_id_is_looked_up_by_id() {
        let id = Uuid([7; 16]);
        let topic = |name: Option<&str>, topic_id| MetadataRequestTopic {
            name: name.map(str::to_string),
            topic_id,
            ..Default::default()
        };
        let wanted = wanted_topics(
            Some(vec![
                topic(Some(""), id),
                topic(None, id),
                topic(Some("by-name"), Uuid::ZERO),
            ]),
            12,
        );
        assert_eq!(
            wanted,
            Some(vec![
                (None, id),
                (None, id),
                (Some("by-name".to_string()), Uuid::ZERO)
            ])
        );
        assert_eq!(wanted_topics(Some(Vec::new()), 0), None);
        assert_eq!(wanted_topics(Some(Vec::new()), 1), Some(Vec::new()));
        assert_eq!(wanted_topics(None, 12), None);
    }

    #[test]
    fn authorized_operations_are_kafkas_supported_operations() {
        // Kafka's bitfields with no authorizer: 8 topic operations
        // (READ..ALTER_CONFIGS but not CLUSTER_ACTION), 7 cluster ones and
        // 5 group ones.
        assert_eq!(TOPIC_AUTHORIZED_OPERATIONS, 0b0000_1101_1111_1000);
        assert_eq!(TOPIC_AUTHORIZED_OPERATIONS.count_ones(), 8);
        assert_eq!(CLUSTER_AUTHORIZED_OPERATIONS, 0b0001_1111_1010_0000);
        assert_eq!(CLUSTER_AUTHORIZED_OPERATIONS.count_ones(), 7);
        assert_eq!(GROUP_AUTHORIZED_OPERATIONS, 0b0000_1101_0100_1000);
    }
}
