//! The records of `__consumer_offsets`, in Kafka's binary formats (generated
//! from the group-coordinator specs), so tools that read the topic (Burrow,
//! kafka-consumer-groups) understand what we write.
//!
//! A record's key is `[i16 key version][key struct]`; its value is
//! `[i16 value version][value struct]`, or null (a tombstone) to delete.
//! Key versions 0 and 1 are offset commits, 2 is group metadata, 3 to 8
//! are the records of consumer groups of the new protocol
//! ([`crate::consumer_records`]).

use bytes::{Buf, BufMut, Bytes, BytesMut};
use vltava_protocol::messages::group_metadata_value::MemberMetadata;
use vltava_protocol::messages::{
    GroupMetadataKey, GroupMetadataValue, OffsetCommitKey, OffsetCommitValue,
};
use vltava_protocol::{DecodeError, Message};

/// The longest string a non-flexible record field can hold (a 16-bit
/// length): group ids, member ids and offset metadata longer than this
/// are refused before anything is written.
pub const MAX_STRING: usize = i16::MAX as usize;

/// Versions we write: the newest non-flexible ones, which every reader of
/// the topic understands.
const OFFSET_KEY_VERSION: i16 = 1;
const OFFSET_VALUE_VERSION: i16 = 3;
const GROUP_KEY_VERSION: i16 = 2;
const GROUP_VALUE_VERSION: i16 = 3;

/// One record of the topic, decoded.
#[derive(Debug, Clone, PartialEq)]
pub enum OffsetsRecord {
    /// A committed offset, or its deletion (`None`).
    Offset {
        group: String,
        topic: String,
        partition: i32,
        value: Option<OffsetCommitValue>,
    },
    /// A group's membership and assignment, or its deletion (`None`).
    Group {
        group: String,
        value: Option<GroupMetadataValue>,
    },
    /// One record of a consumer group of the new protocol.
    Consumer {
        group: String,
        record: crate::consumer::GroupRecord,
    },
}

/// A key or value record: a version, then the message in that version.
pub(crate) fn versioned<M: Message>(version: i16, message: &M) -> Bytes {
    let mut buf = BytesMut::with_capacity(2 + message.encoded_size(version));
    buf.put_i16(version);
    message
        .encode(&mut buf, version)
        .expect("our own records encode in the versions we chose");
    buf.freeze()
}

pub fn offset_commit_key(group: &str, topic: &str, partition: i32) -> Bytes {
    versioned(
        OFFSET_KEY_VERSION,
        &OffsetCommitKey {
            group: group.into(),
            topic: topic.into(),
            partition,
        },
    )
}

pub fn offset_commit_value(value: &OffsetCommitValue) -> Bytes {
    versioned(OFFSET_VALUE_VERSION, value)
}

pub fn group_metadata_key(group: &str) -> Bytes {
    versioned(
        GROUP_KEY_VERSION,
        &GroupMetadataKey {
            group: group.into(),
        },
    )
}

pub fn group_metadata_value(value: &GroupMetadataValue) -> Bytes {
    versioned(GROUP_VALUE_VERSION, value)
}

/// Why a record of the topic could not be read.
#[derive(Debug, Clone, PartialEq)]
pub enum RecordError {
    MissingKey,
    UnknownKeyVersion(i16),
    Decode(DecodeError),
    Consumer(crate::consumer_records::ConsumerRecordError),
}

impl std::fmt::Display for RecordError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RecordError::MissingKey => f.write_str("record without a key"),
            RecordError::UnknownKeyVersion(v) => write!(f, "unknown key version {v}"),
            RecordError::Decode(e) => write!(f, "{e}"),
            RecordError::Consumer(e) => write!(f, "{e}"),
        }
    }
}

fn version_prefix(buf: &mut Bytes) -> Result<i16, RecordError> {
    vltava_protocol::codec::read_i16(buf).map_err(RecordError::Decode)
}

/// Decodes one record of `__consumer_offsets`.
pub fn decode(key: Option<Bytes>, value: Option<Bytes>) -> Result<OffsetsRecord, RecordError> {
    let mut key = key.ok_or(RecordError::MissingKey)?;
    let key_version = version_prefix(&mut key)?;
    match key_version {
        0 | 1 => {
            let k = OffsetCommitKey::decode(&mut key, key_version).map_err(RecordError::Decode)?;
            let value = match value {
                None => None,
                Some(mut v) => {
                    let version = version_prefix(&mut v)?;
                    Some(OffsetCommitValue::decode(&mut v, version).map_err(RecordError::Decode)?)
                }
            };
            Ok(OffsetsRecord::Offset {
                group: k.group,
                topic: k.topic,
                partition: k.partition,
                value,
            })
        }
        2 => {
            let k = GroupMetadataKey::decode(&mut key, key_version).map_err(RecordError::Decode)?;
            let value = match value {
                None => None,
                Some(mut v) if v.remaining() >= 2 => {
                    let version = version_prefix(&mut v)?;
                    Some(GroupMetadataValue::decode(&mut v, version).map_err(RecordError::Decode)?)
                }
                Some(_) => None,
            };
            Ok(OffsetsRecord::Group {
                group: k.group,
                value,
            })
        }
        3..=8 => {
            let (group, record) = crate::consumer_records::decode(key_version, key, value)
                .map_err(RecordError::Consumer)?;
            Ok(OffsetsRecord::Consumer { group, record })
        }
        other => Err(RecordError::UnknownKeyVersion(other)),
    }
}

/// Kafka's partition for a group: `abs(groupId.hashCode) % partitions`,
/// with Java's `String.hashCode` (over UTF-16 code units) and Kafka's
/// `Utils.abs` (`& 0x7fffffff`).
pub fn partition_for_group(group: &str, partitions: i32) -> i32 {
    let mut hash: i32 = 0;
    for unit in group.encode_utf16() {
        hash = hash.wrapping_mul(31).wrapping_add(i32::from(unit));
    }
    (hash & 0x7fff_ffff) % partitions.max(1)
}

pub type Member = MemberMetadata;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_string_hash_partitioning() {
        assert_eq!(partition_for_group("", 50), 0);
        assert_eq!(partition_for_group("a", 50), 97 % 50);
        // Java's "polygenelubricants".hashCode() is Integer.MIN_VALUE, where
        // Math.abs would stay negative; Kafka's mask gives 0.
        let mut h: i32 = 0;
        for c in "polygenelubricants".chars() {
            h = h.wrapping_mul(31).wrapping_add(c as i32);
        }
        assert_eq!(h, i32::MIN);
        assert_eq!(partition_for_group("polygenelubricants", 50), 0);
        // Code units, not bytes: 'é' is one UTF-16 unit (0xe9).
        assert_eq!(partition_for_group("é", 1000), 0xe9);
    }

    #[test]
    fn records_round_trip_in_kafkas_layout() {
        let key = offset_commit_key("g", "t", 3);
        assert_eq!(&key[..], &[0, 1, 0, 1, b'g', 0, 1, b't', 0, 0, 0, 3]);
        let value = OffsetCommitValue {
            offset: 42,
            leader_epoch: 5,
            metadata: "m".into(),
            commit_timestamp: 7,
            ..Default::default()
        };
        let decoded = decode(Some(key.clone()), Some(offset_commit_value(&value))).unwrap();
        assert_eq!(
            decoded,
            OffsetsRecord::Offset {
                group: "g".into(),
                topic: "t".into(),
                partition: 3,
                value: Some(value)
            }
        );
        assert!(matches!(
            decode(Some(key), None).unwrap(),
            OffsetsRecord::Offset { value: None, .. }
        ));

        let group = GroupMetadataValue {
            protocol_type: "consumer".into(),
            generation: 4,
            protocol: Some("range".into()),
            leader: Some("m1".into()),
            current_state_timestamp: 9,
            members: vec![MemberMetadata {
                member_id: "m1".into(),
                client_id: "c".into(),
                client_host: "/127.0.0.1".into(),
                rebalance_timeout: 10,
                session_timeout: 20,
                subscription: Bytes::from_static(b"s"),
                assignment: Bytes::from_static(b"a"),
                ..Default::default()
            }],
            ..Default::default()
        };
        let decoded = decode(
            Some(group_metadata_key("g")),
            Some(group_metadata_value(&group)),
        )
        .unwrap();
        assert_eq!(
            decoded,
            OffsetsRecord::Group {
                group: "g".into(),
                value: Some(group)
            }
        );
        assert!(decode(None, None).is_err());
        assert_eq!(
            decode(Some(Bytes::from_static(&[0, 9])), None),
            Err(RecordError::UnknownKeyVersion(9))
        );
    }
}
