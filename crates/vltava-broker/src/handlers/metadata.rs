//! Metadata: brokers, controller, cluster id and topic/partition leadership,
//! read from the current metadata image. Auto-creates requested topics when
//! the request allows it and `auto.create.topics.enable` is on.

use vltava_metadata::controller::validate_topic_name;
use vltava_metadata::{MetadataImage, TopicImage};
use vltava_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use vltava_protocol::messages::{MetadataRequest, MetadataResponse};
use vltava_protocol::{ErrorCode, ResponseBody, Uuid};

use super::RequestContext;
use crate::state::Broker;

/// Kafka's marker for "authorized operations were not requested".
const AUTHORIZED_OPERATIONS_OMITTED: i32 = i32::MIN;

pub async fn handle(
    broker: &Broker,
    context: &RequestContext<'_>,
    request: MetadataRequest,
) -> ResponseBody {
    let version = context.version;
    // v0: an empty list means every topic; v1+: null means every topic.
    let wanted: Option<Vec<(Option<String>, Uuid)>> = match request.topics {
        None => None,
        Some(topics) if topics.is_empty() && version == 0 => None,
        Some(topics) => Some(topics.into_iter().map(|t| (t.name, t.topic_id)).collect()),
    };
    // Versions before 4 always allow auto-creation.
    let allow_auto_create = request.allow_auto_topic_creation || version < 4;
    if let Some(wanted) = &wanted {
        if allow_auto_create && broker.auto_create_topics_enabled() {
            let image = broker.image();
            let missing: Vec<String> = wanted
                .iter()
                .filter_map(|(name, _)| name.as_ref())
                .filter(|name| image.topic(name).is_none())
                .cloned()
                .collect();
            if !missing.is_empty() {
                broker.auto_create_topics(&missing).await;
            }
        }
    }
    let image = broker.image();
    let topics = match wanted {
        None => image
            .topics()
            .into_iter()
            .map(|t| describe_topic(t, broker.node_id))
            .collect(),
        Some(wanted) => wanted
            .iter()
            .map(|(name, id)| lookup(&image, name.as_deref(), id, broker.node_id))
            .collect(),
    };
    ResponseBody::Metadata(MetadataResponse {
        brokers: brokers(broker, &image),
        cluster_id: Some(broker.cluster_id.clone()),
        controller_id: broker.controller_id(),
        topics,
        cluster_authorized_operations: AUTHORIZED_OPERATIONS_OMITTED,
        ..Default::default()
    })
}

pub fn brokers(broker: &Broker, image: &MetadataImage) -> Vec<MetadataResponseBroker> {
    image
        .brokers
        .values()
        .filter_map(|b| {
            let endpoint = b
                .endpoints
                .iter()
                .find(|e| e.listener == broker.listener_name())?;
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
        None => MetadataResponseTopic {
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
        },
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
}
