//! The cluster metadata records (`metadata/*.json`, spec type "metadata"):
//! dispatch by record type, and hand-built byte sequences decoded field by
//! field, so a codegen mistake that would round-trip with itself (a field
//! out of order, a wrong width) still fails here.

use bytes::{Bytes, BytesMut};

use crate::codec::Uuid;
use crate::message::Message;
use crate::messages::*;
use crate::sample::SampleRng;

#[test]
fn metadata_record_types_dispatch_every_record() {
    assert_eq!(MetadataRecordType::ALL.len(), 25, "one per metadata/*.json");
    for ty in MetadataRecordType::ALL {
        assert_eq!(MetadataRecordType::from_i16(ty as i16), Some(ty));
        let versions = ty.versions();
        for version in versions.min..=versions.max {
            let mut rng = SampleRng::new(ty as u64 ^ ((version as u64) << 16));
            let body = MetadataRecordBody::sample(ty, &mut rng, version);
            assert_eq!(body.record_type(), ty);
            let mut buf = BytesMut::new();
            body.encode(&mut buf, version).unwrap();
            assert_eq!(buf.len(), body.encoded_size(version));
            let decoded = MetadataRecordBody::decode(ty, &mut buf.freeze(), version).unwrap();
            assert_eq!(decoded, body, "{} v{version}", ty.name());
        }
    }
    // The numbers Kafka writes in the frame (the specs' apiKey values).
    assert_eq!(MetadataRecordType::RegisterBroker as i16, 0);
    assert_eq!(MetadataRecordType::Topic as i16, 2);
    assert_eq!(MetadataRecordType::Partition as i16, 3);
    assert_eq!(MetadataRecordType::Config as i16, 4);
    assert_eq!(MetadataRecordType::RemoveTopic as i16, 9);
    assert_eq!(MetadataRecordType::FeatureLevel as i16, 12);
    assert_eq!(MetadataRecordType::ProducerIds as i16, 15);
    assert_eq!(
        MetadataRecordType::from_i16(6),
        None,
        "6 was never assigned"
    );
    assert_eq!(MetadataRecordType::Topic.name(), "TopicRecord");
}

const TOPIC_ID: [u8; 16] = [
    0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f,
];

fn decode_exactly<M: Message>(bytes: &[u8], version: i16) -> M {
    let mut buf = Bytes::copy_from_slice(bytes);
    let decoded = M::decode(&mut buf, version).unwrap();
    assert!(buf.is_empty(), "{} v{version}: bytes left", M::NAME);
    let mut again = BytesMut::new();
    decoded.encode(&mut again, version).unwrap();
    assert_eq!(&again[..], bytes, "{} v{version}: re-encode", M::NAME);
    decoded
}

#[test]
fn topic_record_v0_from_hand_built_bytes() {
    // TopicRecord.json v0, flexible ("flexibleVersions": "0+"), fields in
    // spec order:
    //   Name     string -> compact string: uvarint(len + 1), then UTF-8
    //   TopicId  uuid   -> 16 raw bytes
    //   then the tagged-field section: uvarint count, here 0.
    let mut bytes = vec![0x04, b'f', b'o', b'o'];
    bytes.extend_from_slice(&TOPIC_ID);
    bytes.push(0x00);
    let record: TopicRecord = decode_exactly(&bytes, 0);
    assert_eq!(
        record,
        TopicRecord {
            name: "foo".into(),
            topic_id: Uuid(TOPIC_ID),
            ..Default::default()
        }
    );
}

#[test]
fn partition_record_from_hand_built_bytes() {
    // PartitionRecord.json, flexible in every version, fields in spec order:
    //   PartitionId          int32            00 00 00 07
    //   TopicId              uuid             16 raw bytes
    //   Replicas             []int32 compact  uvarint(n + 1) then n int32: 03 | 1 | 2
    //   Isr                  []int32 compact  02 | 2
    //   RemovingReplicas     []int32 compact  01 (empty)
    //   AddingReplicas       []int32 compact  01 (empty)
    //   Leader               int32            00 00 00 02
    //   LeaderRecoveryState  int8, tagged (tag 0): not in the body
    //   LeaderEpoch          int32            00 00 00 05
    //   PartitionEpoch       int32            00 00 00 09
    //   Directories          []uuid, v1+ only
    //   tagged fields: uvarint count, then per field uvarint tag, uvarint
    //   size, value.
    let mut v0 = vec![0, 0, 0, 7];
    v0.extend_from_slice(&TOPIC_ID);
    v0.extend_from_slice(&[0x03, 0, 0, 0, 1, 0, 0, 0, 2]);
    v0.extend_from_slice(&[0x02, 0, 0, 0, 2]);
    v0.extend_from_slice(&[0x01, 0x01]);
    v0.extend_from_slice(&[0, 0, 0, 2]);
    v0.extend_from_slice(&[0, 0, 0, 5]);
    v0.extend_from_slice(&[0, 0, 0, 9]);
    // Version 0 with LeaderRecoveryState = 1 (RECOVERING) in tag 0: one
    // tagged field, tag 0, size 1, value 1.
    let mut tagged = v0.clone();
    tagged.extend_from_slice(&[0x01, 0x00, 0x01, 0x01]);
    v0.push(0x00);

    let expected = PartitionRecord {
        partition_id: 7,
        topic_id: Uuid(TOPIC_ID),
        replicas: vec![1, 2],
        isr: vec![2],
        leader: 2,
        leader_epoch: 5,
        partition_epoch: 9,
        ..Default::default()
    };
    assert_eq!(decode_exactly::<PartitionRecord>(&v0, 0), expected);
    assert_eq!(
        decode_exactly::<PartitionRecord>(&tagged, 0),
        PartitionRecord {
            leader_recovery_state: 1,
            ..expected.clone()
        }
    );

    // Version 1 adds Directories after PartitionEpoch: a compact array of
    // uuids, here two of them (n + 1 = 3).
    let mut v1 = v0[..v0.len() - 1].to_vec();
    v1.push(0x03);
    v1.extend_from_slice(&[0xaa; 16]);
    v1.extend_from_slice(&[0xbb; 16]);
    v1.push(0x00);
    assert_eq!(
        decode_exactly::<PartitionRecord>(&v1, 1),
        PartitionRecord {
            directories: vec![Uuid([0xaa; 16]), Uuid([0xbb; 16])],
            ..expected
        }
    );
}
