//! The metadata records: every change to cluster metadata is one of these,
//! appended to the metadata log. Replaying the log from the start rebuilds the
//! metadata image.
//!
//! The encoding is ours (Kafka's KRaft record schemas are not among the
//! message specs we generate from): a record type byte, a version byte, then
//! the fields in the protocol crate's compact encodings. Each record travels
//! as the value of one record in a v2 record batch of the metadata log, so
//! the batch CRC covers it.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use vltava_protocol::codec::{self, DecodeError, DecodeErrorKind, EncodeError, Uuid};

/// A broker's address for one listener.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    pub listener: String,
    pub host: String,
    pub port: u16,
    pub security_protocol: i16,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MetadataRecord {
    /// A broker joined or changed its endpoints or rack.
    RegisterBroker {
        broker_id: i32,
        endpoints: Vec<Endpoint>,
        rack: Option<String>,
    },
    /// A topic was created; its partitions follow as `Partition` records.
    Topic { name: String, topic_id: Uuid },
    /// A partition's full state: created, or its leadership/replicas changed.
    Partition {
        topic_id: Uuid,
        partition: i32,
        replicas: Vec<i32>,
        isr: Vec<i32>,
        leader: i32,
        leader_epoch: i32,
        partition_epoch: i32,
    },
    /// A config was set (`Some`) or removed (`None`) on a resource
    /// (`resource_type` uses DescribeConfigs codes: 2 topic, 4 broker).
    Config {
        resource_type: i8,
        resource_name: String,
        name: String,
        value: Option<String>,
    },
    /// A topic and all its partitions were deleted.
    RemoveTopic { topic_id: Uuid },
    /// A block of producer ids was handed to `broker_id`: ids below
    /// `next_producer_id` are taken (Kafka's ProducerIdsRecord).
    ProducerIds {
        broker_id: i32,
        next_producer_id: i64,
    },
}

const REGISTER_BROKER: i8 = 0;
const TOPIC: i8 = 2;
const PARTITION: i8 = 3;
const CONFIG: i8 = 4;
const REMOVE_TOPIC: i8 = 9;
const PRODUCER_IDS: i8 = 15;
const VERSION: i8 = 0;

fn put_i32s(buf: &mut BytesMut, items: &[i32]) {
    codec::write_uvarint(buf, items.len() as u32);
    for i in items {
        buf.put_i32(*i);
    }
}

fn get_i32s(buf: &mut Bytes) -> Result<Vec<i32>, DecodeError> {
    let n = codec::read_uvarint(buf)? as usize;
    if n.saturating_mul(4) > buf.remaining() {
        return Err(DecodeError::new(DecodeErrorKind::LengthExceedsFrame {
            length: n as u64,
            remaining: buf.remaining(),
        }));
    }
    (0..n).map(|_| codec::read_i32(buf)).collect()
}

impl MetadataRecord {
    pub fn encode(&self) -> Result<Bytes, EncodeError> {
        let mut buf = BytesMut::with_capacity(64);
        match self {
            MetadataRecord::RegisterBroker {
                broker_id,
                endpoints,
                rack,
            } => {
                buf.put_i8(REGISTER_BROKER);
                buf.put_i8(VERSION);
                buf.put_i32(*broker_id);
                codec::write_uvarint(&mut buf, endpoints.len() as u32);
                for e in endpoints {
                    codec::write_string(&mut buf, &e.listener, true)?;
                    codec::write_string(&mut buf, &e.host, true)?;
                    buf.put_u16(e.port);
                    buf.put_i16(e.security_protocol);
                }
                codec::write_nullable_string(&mut buf, rack.as_deref(), true)?;
            }
            MetadataRecord::Topic { name, topic_id } => {
                buf.put_i8(TOPIC);
                buf.put_i8(VERSION);
                codec::write_string(&mut buf, name, true)?;
                codec::write_uuid(&mut buf, topic_id);
            }
            MetadataRecord::Partition {
                topic_id,
                partition,
                replicas,
                isr,
                leader,
                leader_epoch,
                partition_epoch,
            } => {
                buf.put_i8(PARTITION);
                buf.put_i8(VERSION);
                codec::write_uuid(&mut buf, topic_id);
                buf.put_i32(*partition);
                put_i32s(&mut buf, replicas);
                put_i32s(&mut buf, isr);
                buf.put_i32(*leader);
                buf.put_i32(*leader_epoch);
                buf.put_i32(*partition_epoch);
            }
            MetadataRecord::Config {
                resource_type,
                resource_name,
                name,
                value,
            } => {
                buf.put_i8(CONFIG);
                buf.put_i8(VERSION);
                buf.put_i8(*resource_type);
                codec::write_string(&mut buf, resource_name, true)?;
                codec::write_string(&mut buf, name, true)?;
                codec::write_nullable_string(&mut buf, value.as_deref(), true)?;
            }
            MetadataRecord::RemoveTopic { topic_id } => {
                buf.put_i8(REMOVE_TOPIC);
                buf.put_i8(VERSION);
                codec::write_uuid(&mut buf, topic_id);
            }
            MetadataRecord::ProducerIds {
                broker_id,
                next_producer_id,
            } => {
                buf.put_i8(PRODUCER_IDS);
                buf.put_i8(VERSION);
                buf.put_i32(*broker_id);
                buf.put_i64(*next_producer_id);
            }
        }
        Ok(buf.freeze())
    }

    pub fn decode(mut buf: Bytes) -> Result<MetadataRecord, DecodeError> {
        let buf = &mut buf;
        let kind = codec::read_i8(buf)?;
        let version = codec::read_i8(buf)?;
        if version != VERSION {
            return Err(DecodeError::new(DecodeErrorKind::UnsupportedVersion {
                message: "MetadataRecord",
                version: version.into(),
            }));
        }
        Ok(match kind {
            REGISTER_BROKER => {
                let broker_id = codec::read_i32(buf)?;
                let n = codec::read_uvarint(buf)? as usize;
                if n > buf.remaining() {
                    return Err(DecodeError::new(DecodeErrorKind::LengthExceedsFrame {
                        length: n as u64,
                        remaining: buf.remaining(),
                    }));
                }
                let mut endpoints = Vec::with_capacity(n);
                for _ in 0..n {
                    endpoints.push(Endpoint {
                        listener: codec::read_string(buf, true)?,
                        host: codec::read_string(buf, true)?,
                        port: codec::read_u16(buf)?,
                        security_protocol: codec::read_i16(buf)?,
                    });
                }
                let rack = codec::read_nullable_string(buf, true)?;
                MetadataRecord::RegisterBroker {
                    broker_id,
                    endpoints,
                    rack,
                }
            }
            TOPIC => MetadataRecord::Topic {
                name: codec::read_string(buf, true)?,
                topic_id: codec::read_uuid(buf)?,
            },
            PARTITION => MetadataRecord::Partition {
                topic_id: codec::read_uuid(buf)?,
                partition: codec::read_i32(buf)?,
                replicas: get_i32s(buf)?,
                isr: get_i32s(buf)?,
                leader: codec::read_i32(buf)?,
                leader_epoch: codec::read_i32(buf)?,
                partition_epoch: codec::read_i32(buf)?,
            },
            CONFIG => MetadataRecord::Config {
                resource_type: codec::read_i8(buf)?,
                resource_name: codec::read_string(buf, true)?,
                name: codec::read_string(buf, true)?,
                value: codec::read_nullable_string(buf, true)?,
            },
            REMOVE_TOPIC => MetadataRecord::RemoveTopic {
                topic_id: codec::read_uuid(buf)?,
            },
            PRODUCER_IDS => MetadataRecord::ProducerIds {
                broker_id: codec::read_i32(buf)?,
                next_producer_id: codec::read_i64(buf)?,
            },
            other => {
                return Err(DecodeError::new(DecodeErrorKind::UnknownApiKey(
                    other.into(),
                )))
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_record_round_trips() {
        let id = Uuid([7; 16]);
        let records = vec![
            MetadataRecord::RegisterBroker {
                broker_id: 1,
                endpoints: vec![Endpoint {
                    listener: "PLAINTEXT".into(),
                    host: "127.0.0.1".into(),
                    port: 9092,
                    security_protocol: 0,
                }],
                rack: None,
            },
            MetadataRecord::Topic {
                name: "t".into(),
                topic_id: id,
            },
            MetadataRecord::Partition {
                topic_id: id,
                partition: 3,
                replicas: vec![1, 2],
                isr: vec![1],
                leader: 1,
                leader_epoch: 4,
                partition_epoch: 5,
            },
            MetadataRecord::Config {
                resource_type: 2,
                resource_name: "t".into(),
                name: "retention.ms".into(),
                value: Some("1".into()),
            },
            MetadataRecord::Config {
                resource_type: 2,
                resource_name: "t".into(),
                name: "retention.ms".into(),
                value: None,
            },
            MetadataRecord::RemoveTopic { topic_id: id },
            MetadataRecord::ProducerIds {
                broker_id: 1,
                next_producer_id: 2000,
            },
        ];
        for r in records {
            let bytes = r.encode().unwrap();
            assert_eq!(MetadataRecord::decode(bytes.clone()).unwrap(), r);
            for cut in 0..bytes.len() {
                assert!(
                    MetadataRecord::decode(bytes.slice(..cut)).is_err(),
                    "{r:?} cut at {cut}"
                );
            }
        }
    }
}
