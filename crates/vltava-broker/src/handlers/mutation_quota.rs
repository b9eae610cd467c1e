//! The controller mutation quota (KIP-599) on CreateTopics,
//! CreatePartitions and DeleteTopics: every partition created or deleted
//! takes a credit from the client's `controller_mutation_rate`. In the
//! request versions that know THROTTLING_QUOTA_EXCEEDED (CreateTopics v6+,
//! CreatePartitions v3+, DeleteTopics v5+) a topic is refused with it while
//! the credits are overdrawn, and the request goes on without it; older
//! versions are always let through and throttled afterwards. The answer's
//! throttle time and the muting are the connection layer's.
//!
//! Kafka takes the credits on the controller, as it creates each topic;
//! here they are taken on the node that received the request, before it is
//! relayed (the controller would not know the client), from the partition
//! counts the request asks for. So a topic that the controller then
//! refuses (one that already exists, say) still took its credits.

use vltava_protocol::messages::create_partitions_response::CreatePartitionsTopicResult;
use vltava_protocol::messages::create_topics_response::CreatableTopicResult;
use vltava_protocol::messages::delete_topics_response::DeletableTopicResult;
use vltava_protocol::{ErrorCode, RequestBody, ResponseBody};

use crate::broker::Broker;
use crate::handlers::RequestContext;
use crate::quotas::{user_of, QuotaClient};

/// Topics refused for the quota, to be added to the answer.
pub enum Refused {
    CreateTopics(Vec<CreatableTopicResult>),
    CreatePartitions(Vec<CreatePartitionsTopicResult>),
    DeleteTopics(Vec<DeletableTopicResult>),
}

fn refused_message() -> Option<String> {
    Some(ErrorCode::THROTTLING_QUOTA_EXCEEDED.message().to_string())
}

/// Takes the credits of the request's topics, and takes the refused ones
/// out of it. `None` when nothing was refused.
pub fn apply(
    broker: &Broker,
    context: &RequestContext<'_>,
    body: &mut RequestBody,
) -> Option<Refused> {
    let client = QuotaClient {
        user: user_of(&context.session.principal),
        client_id: context.header.client_id.as_deref().unwrap_or(""),
    };
    let image = broker.metadata.image();
    let version = context.version;
    let code = ErrorCode::THROTTLING_QUOTA_EXCEEDED.code();
    let take = |permits: usize, strict: bool| {
        broker
            .quotas
            .record_mutations(&image, &client, permits, strict)
            .is_ok()
    };
    match body {
        RequestBody::CreateTopics(r) if !r.validate_only => {
            let strict = version >= 6;
            let default = broker.metadata.config().num_partitions().max(0) as usize;
            let mut refused = Vec::new();
            r.topics.retain(|t| {
                let partitions = match (t.assignments.len(), t.num_partitions) {
                    (0, -1) => default,
                    (0, n) => n.max(0) as usize,
                    (n, _) => n,
                };
                if take(partitions, strict) {
                    return true;
                }
                refused.push(CreatableTopicResult {
                    name: t.name.clone(),
                    error_code: code,
                    error_message: refused_message(),
                    num_partitions: -1,
                    replication_factor: -1,
                    ..Default::default()
                });
                false
            });
            (!refused.is_empty()).then_some(Refused::CreateTopics(refused))
        }
        RequestBody::CreatePartitions(r) if !r.validate_only => {
            let strict = version >= 3;
            let mut refused = Vec::new();
            r.topics.retain(|t| {
                let current = image.topic(&t.name).map_or(0, |i| i.partitions.len());
                let added = usize::try_from(t.count)
                    .unwrap_or(0)
                    .saturating_sub(current);
                if take(added, strict) {
                    return true;
                }
                refused.push(CreatePartitionsTopicResult {
                    name: t.name.clone(),
                    error_code: code,
                    error_message: refused_message(),
                    ..Default::default()
                });
                false
            });
            (!refused.is_empty()).then_some(Refused::CreatePartitions(refused))
        }
        RequestBody::DeleteTopics(r) => {
            let strict = version >= 5;
            let mut refused = Vec::new();
            r.topic_names.retain(|name| {
                let partitions = image.topic(name).map_or(0, |t| t.partitions.len());
                if take(partitions, strict) {
                    return true;
                }
                refused.push(DeletableTopicResult {
                    name: Some(name.clone()),
                    error_code: code,
                    error_message: refused_message(),
                    ..Default::default()
                });
                false
            });
            r.topics.retain(|t| {
                let topic = match &t.name {
                    Some(name) => image.topic(name),
                    None => image.topic_by_id(&t.topic_id),
                };
                let partitions = topic.map_or(0, |t| t.partitions.len());
                if take(partitions, strict) {
                    return true;
                }
                refused.push(DeletableTopicResult {
                    name: t.name.clone().or_else(|| topic.map(|t| t.name.clone())),
                    topic_id: t.topic_id,
                    error_code: code,
                    error_message: refused_message(),
                    ..Default::default()
                });
                false
            });
            (!refused.is_empty()).then_some(Refused::DeleteTopics(refused))
        }
        _ => None,
    }
}

/// Whether the request has nothing left to do once refused topics are out.
pub fn is_empty(body: &RequestBody) -> bool {
    match body {
        RequestBody::CreateTopics(r) => r.topics.is_empty(),
        RequestBody::CreatePartitions(r) => r.topics.is_empty(),
        RequestBody::DeleteTopics(r) => r.topics.is_empty() && r.topic_names.is_empty(),
        _ => false,
    }
}

/// The answer for a request all of whose topics were refused.
pub fn empty_answer(refused: &Refused) -> ResponseBody {
    match refused {
        Refused::CreateTopics(_) => ResponseBody::CreateTopics(Default::default()),
        Refused::CreatePartitions(_) => ResponseBody::CreatePartitions(Default::default()),
        Refused::DeleteTopics(_) => ResponseBody::DeleteTopics(Default::default()),
    }
}

/// Adds the refused topics to the answer.
pub fn merge(response: &mut ResponseBody, refused: Refused) {
    match (response, refused) {
        (ResponseBody::CreateTopics(r), Refused::CreateTopics(t)) => r.topics.extend(t),
        (ResponseBody::CreatePartitions(r), Refused::CreatePartitions(t)) => r.results.extend(t),
        (ResponseBody::DeleteTopics(r), Refused::DeleteTopics(t)) => r.responses.extend(t),
        _ => {}
    }
}
