//! The consumer protocol's embedded formats: what Kafka consumers put in
//! JoinGroup's protocol metadata (`ConsumerProtocolSubscription`) and what
//! the group leader hands out through SyncGroup
//! (`ConsumerProtocolAssignment`), each an i16 version followed by the
//! structure in that version.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use vltava_protocol::messages::consumer_protocol_assignment::TopicPartition as AssignedTopic;
use vltava_protocol::messages::{ConsumerProtocolAssignment, ConsumerProtocolSubscription};
use vltava_protocol::Message;

use crate::types::{MemberAssignment, TopicPartition};

/// The protocol type of groups of Kafka consumers.
pub const CONSUMER_PROTOCOL_TYPE: &str = "consumer";

/// Topic-partitions grouped by topic, topics in first-seen order.
pub(crate) fn by_topic<'a>(
    partitions: impl IntoIterator<Item = (&'a str, i32)>,
) -> Vec<(String, Vec<i32>)> {
    let mut out: Vec<(String, Vec<i32>)> = Vec::new();
    for (topic, p) in partitions {
        match out.iter_mut().find(|(t, _)| t == topic) {
            Some((_, ps)) => ps.push(p),
            None => out.push((topic.to_string(), vec![p])),
        }
    }
    out
}

/// The version this client writes the consumer protocol's structures in
/// (the newest, as Kafka's consumer does).
const CONSUMER_PROTOCOL_VERSION: i16 = 3;

/// Reads the i16 version that starts a consumer-protocol structure, then
/// the structure. Versions newer than ours are read as our newest: the
/// format only ever adds fields at the end (Kafka's consumer does the same).
fn decode_versioned<M: Message>(bytes: &Bytes) -> Option<M> {
    let mut buf = bytes.clone();
    if buf.remaining() < 2 {
        return None;
    }
    let version = buf.get_i16();
    if version < M::VERSIONS.min {
        return None;
    }
    M::decode(&mut buf, version.min(M::VERSIONS.max)).ok()
}

fn encode_versioned<M: Message>(message: &M) -> Bytes {
    let mut buf = BytesMut::with_capacity(2 + message.encoded_size(CONSUMER_PROTOCOL_VERSION));
    buf.put_i16(CONSUMER_PROTOCOL_VERSION);
    message
        .encode(&mut buf, CONSUMER_PROTOCOL_VERSION)
        .expect("every field of the consumer protocol exists in its newest version");
    buf.freeze()
}

/// Decodes a consumer's assignment (`ConsumerProtocolAssignment` after its
/// i16 version), as groups of protocol type `consumer` carry it; `None`
/// when the bytes are not one.
pub fn decode_assignment(bytes: &Bytes) -> Option<MemberAssignment> {
    let a: ConsumerProtocolAssignment = decode_versioned(bytes)?;
    let mut partitions: Vec<TopicPartition> = a
        .assigned_partitions
        .into_iter()
        .flat_map(|t| {
            let topic = t.topic;
            t.partitions
                .into_iter()
                .map(move |p| TopicPartition::new(topic.clone(), p))
        })
        .collect();
    partitions.sort();
    Some(MemberAssignment {
        partitions,
        user_data: a.user_data,
    })
}

/// Encodes a consumer's assignment as a group leader sends it in SyncGroup.
pub fn encode_assignment(assignment: &MemberAssignment) -> Bytes {
    let topics = by_topic(
        assignment
            .partitions
            .iter()
            .map(|tp| (tp.topic.as_str(), tp.partition)),
    );
    encode_versioned(&ConsumerProtocolAssignment {
        assigned_partitions: topics
            .into_iter()
            .map(|(topic, partitions)| AssignedTopic { topic, partitions })
            .collect(),
        user_data: assignment.user_data.clone(),
    })
}

/// Encodes a consumer's subscription to `topics`, as a consumer sends it in
/// JoinGroup's protocol metadata (no owned partitions, no rack).
pub fn encode_subscription(topics: &[&str]) -> Bytes {
    encode_versioned(&ConsumerProtocolSubscription {
        topics: topics.iter().map(|t| t.to_string()).collect(),
        user_data: None,
        owned_partitions: Vec::new(),
        generation_id: -1,
        rack_id: None,
    })
}

/// The topics of a consumer's subscription (JoinGroup protocol metadata);
/// `None` when the bytes are not one.
pub fn decode_subscription(bytes: &Bytes) -> Option<Vec<String>> {
    decode_versioned::<ConsumerProtocolSubscription>(bytes).map(|s| s.topics)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assignments_round_trip_and_sort() {
        let a = MemberAssignment {
            partitions: vec![
                TopicPartition::new("a", 0),
                TopicPartition::new("a", 2),
                TopicPartition::new("b", 1),
            ],
            user_data: Some(Bytes::from_static(b"ud")),
        };
        let bytes = encode_assignment(&a);
        assert_eq!(&bytes[..2], &[0, 3], "starts with the i16 version");
        assert_eq!(decode_assignment(&bytes), Some(a));
    }

    #[test]
    fn assignment_versions_older_and_newer_than_ours() {
        // v0 by hand: [topic "t": [1, 0]], null user data.
        let mut v0 = BytesMut::new();
        v0.put_i16(0);
        v0.put_i32(1);
        v0.put_i16(1);
        v0.put_slice(b"t");
        v0.put_i32(2);
        v0.put_i32(1);
        v0.put_i32(0);
        v0.put_i32(-1);
        let decoded = decode_assignment(&v0.clone().freeze()).unwrap();
        assert_eq!(
            decoded.partitions,
            [TopicPartition::new("t", 0), TopicPartition::new("t", 1)]
        );
        assert_eq!(decoded.user_data, None);
        // A future version with more fields after ours still reads.
        let mut v9 = v0.clone();
        v9[..2].copy_from_slice(&9i16.to_be_bytes());
        v9.put_slice(b"future");
        assert_eq!(decode_assignment(&v9.freeze()).unwrap(), decoded);
    }

    #[test]
    fn garbage_is_not_an_assignment() {
        assert_eq!(decode_assignment(&Bytes::new()), None);
        assert_eq!(decode_assignment(&Bytes::from_static(&[0])), None);
        assert_eq!(
            decode_assignment(&Bytes::from_static(&[0, 0, 0, 0, 0, 9])),
            None
        );
        assert_eq!(
            decode_assignment(&Bytes::from_static(&[0xff, 0xff, 0])),
            None
        );
    }

    #[test]
    fn subscriptions_round_trip() {
        let bytes = encode_subscription(&["orders", "payments"]);
        assert_eq!(
            decode_subscription(&bytes),
            Some(vec!["orders".to_string(), "payments".to_string()])
        );
    }

    #[test]
    fn grouping_by_topic_keeps_first_seen_order() {
        assert_eq!(
            by_topic([("b", 1), ("a", 0), ("b", 0)]),
            vec![("b".to_string(), vec![1, 0]), ("a".to_string(), vec![0])]
        );
    }
}
