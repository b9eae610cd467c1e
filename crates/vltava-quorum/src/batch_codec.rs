//! Raft batches as Kafka v2 record batches, so that `__cluster_metadata`
//! on disk and on the wire is what Kafka writes.
//!
//! - [`BatchKind::Data`]: an ordinary batch. The raft batch's `payload` is
//!   the batch's *records section* (its `record_count` records in Kafka's
//!   record encoding), so encoding is a header in front of the payload and
//!   decoding is a slice: no record is copied. [`data_payload`] and
//!   [`data_values`] build and take apart that section, so the application
//!   deals in record values only.
//! - [`BatchKind::LeaderChange`]: a control batch whose one record has the
//!   LEADER_CHANGE (2) control key and a `LeaderChangeMessage` (version 0)
//!   value, as Kafka's `MemoryRecords.withLeaderChangeMessage` writes it.
//! - [`BatchKind::Voters`]: a control batch whose one record has the
//!   KRAFT_VOTERS (6) control key and a `VotersRecord` (version 0) value.
//!
//! Every batch gets the raft epoch as its partition leader epoch (that is
//! what Kafka's epoch cache and OffsetsForLeaderEpoch read), producer id
//! -1, CreateTime, no compression, and a CRC-32C over attributes..end.
//!
//! Decoding treats its input as hostile: lengths, CRC, magic, offsets and
//! every record are checked and any problem is a [`CodecError`], never a
//! panic.

use std::fmt;

use bytes::{Bytes, BytesMut};
use vltava_protocol::messages::leader_change_message::Voter as LeaderChangeVoter;
use vltava_protocol::messages::voters_record::{
    Endpoint as VotersRecordEndpoint, KRaftVersionFeature, Voter as VotersRecordVoter,
};
use vltava_protocol::messages::{LeaderChangeMessage, VotersRecord};
use vltava_protocol::{Message, Uuid};
use vltava_raft::{Batch, BatchKind, Endpoint, Voter};
use vltava_records::batch::{offsets, BATCH_HEADER_LEN, LOG_OVERHEAD, MAGIC_V2, NO_SEQUENCE};
use vltava_records::record::BatchContext;
use vltava_records::{BatchSplitter, ControlRecordType, RecordBatch, RecordBatchBuilder, Records};

/// The `LeaderChangeMessage` version Kafka writes (and reads every value
/// as): `ControlRecordUtils.LEADER_CHANGE_CURRENT_VERSION`.
const LEADER_CHANGE_VERSION: i16 = 0;
/// The `VotersRecord` version (the only one the spec defines).
const VOTERS_RECORD_VERSION: i16 = 0;
/// The `kraft.version` range a voter advertises in the VotersRecords we
/// write: 0 (static voters) to 1 (KIP-853 dynamic voters).
const KRAFT_VERSION_RANGE: (i16, i16) = (0, 1);

/// Why bytes are not a valid raft batch.
#[derive(Debug, Clone, PartialEq)]
pub enum CodecError {
    /// The record batch framing, CRC, header or a record is invalid.
    Records(vltava_records::Error),
    /// The buffer ends inside a batch (only whole batches are accepted).
    Truncated {
        /// Byte position of the partial batch.
        position: usize,
    },
    /// The batch's offsets or epoch cannot belong to a raft log.
    BadHeader {
        /// Base offset of the batch.
        base_offset: i64,
        /// What is wrong.
        reason: &'static str,
    },
    /// A control batch that is not one LeaderChange or KRaftVoters record.
    BadControlBatch {
        /// Base offset of the batch.
        base_offset: i64,
        /// What is wrong.
        reason: String,
    },
    /// The control record's value does not decode as its message.
    BadControlValue {
        /// Base offset of the batch.
        base_offset: i64,
        /// The decoder's message.
        reason: String,
    },
    /// A data payload record is not what [`data_payload`] writes.
    BadDataRecord {
        /// Index of the record in the payload.
        index: usize,
        /// What is wrong.
        reason: &'static str,
    },
}

impl fmt::Display for CodecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CodecError::Records(e) => write!(f, "invalid record batch: {e}"),
            CodecError::Truncated { position } => {
                write!(f, "partial record batch at byte {position}")
            }
            CodecError::BadHeader {
                base_offset,
                reason,
            } => write!(f, "batch at offset {base_offset}: {reason}"),
            CodecError::BadControlBatch {
                base_offset,
                reason,
            } => write!(f, "control batch at offset {base_offset}: {reason}"),
            CodecError::BadControlValue {
                base_offset,
                reason,
            } => write!(
                f,
                "control record value in batch at offset {base_offset}: {reason}"
            ),
            CodecError::BadDataRecord { index, reason } => {
                write!(f, "data record {index}: {reason}")
            }
        }
    }
}

impl std::error::Error for CodecError {}

impl From<vltava_records::Error> for CodecError {
    fn from(e: vltava_records::Error) -> Self {
        CodecError::Records(e)
    }
}

/// The records section of a data batch holding `values`: one record per
/// value, null key, no headers, offset deltas `0..n`.
///
/// Kafka records store only timestamp *deltas* from their batch's base
/// timestamp; these are all 0, so every record's timestamp is the base
/// timestamp that [`encode_batch`] gives the batch. `timestamp_ms` is what
/// the records are built with, which with deltas of 0 leaves no trace in
/// the bytes: the payload is a pure function of `values`, so every replica
/// that encodes the same values gets the same payload.
pub fn data_payload(values: &[Bytes], timestamp_ms: i64) -> Bytes {
    let mut builder = RecordBatchBuilder::new().base_timestamp(timestamp_ms);
    for v in values {
        builder
            .append(timestamp_ms, None, Some(v), &[])
            .expect("a metadata record value under 2 GiB is representable");
    }
    let batch = builder
        .build()
        .expect("an uncompressed batch under 2 GiB is representable");
    batch.slice(BATCH_HEADER_LEN..)
}

/// The record values of a data payload (a records section as
/// [`data_payload`] writes it or a decoded data batch carries it).
///
/// Refuses records out of offset order, null values, and bytes that do not
/// parse as whole records.
pub fn data_values(payload: &Bytes) -> Result<Vec<Bytes>, CodecError> {
    // The payload does not carry its record count: read records until the
    // bytes end. Asked for more records than there are, the iterator
    // reports `MissingRecords` exactly when the bytes end on a record
    // boundary, which is the normal end here.
    let mut records = Records::new(payload.clone(), i32::MAX, BatchContext::default());
    let mut values = Vec::new();
    loop {
        match records.next() {
            Some(Ok(r)) => {
                let index = values.len();
                if usize::try_from(r.offset_delta).ok() != Some(index) {
                    return Err(CodecError::BadDataRecord {
                        index,
                        reason: "offset delta is not the record's index",
                    });
                }
                let value = r.value.ok_or(CodecError::BadDataRecord {
                    index,
                    reason: "null value",
                })?;
                values.push(value);
            }
            Some(Err(vltava_records::Error::MissingRecords { .. })) | None => return Ok(values),
            Some(Err(e)) => return Err(CodecError::Records(e)),
        }
    }
}

/// Encodes one raft batch as a complete v2 record batch.
///
/// The batch's base timestamp (and max timestamp) is `timestamp_ms`. A
/// control batch's `payload` is not stored (the raft model keeps it empty);
/// a control batch spanning more than one offset keeps its span through
/// the header's last offset delta, as a compacted Kafka batch would.
///
/// # Panics
///
/// If the batch cannot be a Kafka batch at all: more than `i32::MAX`
/// records or over 2 GiB. Raft batches are far smaller.
pub fn encode_batch(b: &Batch, timestamp_ms: i64) -> Bytes {
    let span = i32::try_from(b.record_count).expect("record count fits in i32");
    match &b.kind {
        BatchKind::Data => encode_data(b, span, timestamp_ms),
        BatchKind::LeaderChange { leader_id, voters } => {
            let msg = LeaderChangeMessage {
                version: LEADER_CHANGE_VERSION,
                leader_id: *leader_id,
                voters: voters
                    .iter()
                    .map(|&v| LeaderChangeVoter {
                        voter_id: v,
                        ..Default::default()
                    })
                    .collect(),
                // The raft model does not record who granted the vote;
                // Kafka only reports this list, it never acts on it.
                granting_voters: Vec::new(),
                unknown_tagged_fields: Vec::new(),
            };
            let value = encode_message(&msg, LEADER_CHANGE_VERSION);
            encode_control(
                b,
                span,
                ControlRecordType::LeaderChange,
                &value,
                timestamp_ms,
            )
        }
        BatchKind::Voters { voters } => {
            let msg = VotersRecord {
                version: VOTERS_RECORD_VERSION,
                voters: voters
                    .iter()
                    .map(|v| VotersRecordVoter {
                        voter_id: v.id,
                        voter_directory_id: Uuid(v.directory_id),
                        endpoints: v
                            .endpoints
                            .iter()
                            .map(|e| VotersRecordEndpoint {
                                name: e.name.clone(),
                                host: e.host.clone(),
                                port: e.port,
                                unknown_tagged_fields: Vec::new(),
                            })
                            .collect(),
                        k_raft_version_feature: KRaftVersionFeature {
                            min_supported_version: KRAFT_VERSION_RANGE.0,
                            max_supported_version: KRAFT_VERSION_RANGE.1,
                            unknown_tagged_fields: Vec::new(),
                        },
                        unknown_tagged_fields: Vec::new(),
                    })
                    .collect(),
                unknown_tagged_fields: Vec::new(),
            };
            let value = encode_message(&msg, VOTERS_RECORD_VERSION);
            encode_control(
                b,
                span,
                ControlRecordType::KRaftVoters,
                &value,
                timestamp_ms,
            )
        }
    }
}

fn encode_message<M: Message>(msg: &M, version: i16) -> Vec<u8> {
    let mut buf = BytesMut::with_capacity(msg.encoded_size(version));
    msg.encode(&mut buf, version)
        .expect("fields we fill are valid in the version we write");
    buf.to_vec()
}

fn encode_control(
    b: &Batch,
    span: i32,
    kind: ControlRecordType,
    value: &[u8],
    timestamp_ms: i64,
) -> Bytes {
    let mut builder = RecordBatchBuilder::new()
        .base_offset(b.base_offset)
        .partition_leader_epoch(b.epoch)
        .control(true);
    if span > 1 {
        builder = builder.last_offset_delta(span - 1);
    }
    builder
        .append(timestamp_ms, Some(&kind.key_bytes()), Some(value), &[])
        .expect("a small control record is representable");
    builder
        .build()
        .expect("an uncompressed control batch is representable")
}

/// The header is written by hand because the records section already
/// exists (the payload): the builder would re-encode every record.
fn encode_data(b: &Batch, span: i32, timestamp_ms: i64) -> Bytes {
    let total = BATCH_HEADER_LEN + b.payload.len();
    let batch_length =
        i32::try_from(total - LOG_OVERHEAD).expect("a raft batch is smaller than 2 GiB");
    let mut buf = Vec::with_capacity(total);
    buf.extend_from_slice(&b.base_offset.to_be_bytes());
    buf.extend_from_slice(&batch_length.to_be_bytes());
    buf.extend_from_slice(&b.epoch.to_be_bytes());
    buf.push(MAGIC_V2 as u8);
    buf.extend_from_slice(&[0; 4]); // CRC, below
    buf.extend_from_slice(&0i16.to_be_bytes()); // attributes: none
    buf.extend_from_slice(&(span - 1).to_be_bytes()); // last offset delta
    buf.extend_from_slice(&timestamp_ms.to_be_bytes()); // base timestamp
    buf.extend_from_slice(&timestamp_ms.to_be_bytes()); // max timestamp
    buf.extend_from_slice(&(-1i64).to_be_bytes()); // producer id
    buf.extend_from_slice(&(-1i16).to_be_bytes()); // producer epoch
    buf.extend_from_slice(&NO_SEQUENCE.to_be_bytes());
    buf.extend_from_slice(&span.to_be_bytes()); // record count
    debug_assert_eq!(buf.len(), BATCH_HEADER_LEN);
    buf.extend_from_slice(&b.payload);
    let crc = crc32c::crc32c(&buf[offsets::ATTRIBUTES..]);
    buf[offsets::CRC..offsets::CRC + 4].copy_from_slice(&crc.to_be_bytes());
    Bytes::from(buf)
}

/// Decodes a buffer of consecutive whole batches (a log read or a Fetch
/// response's records). Copies the buffer once; see [`decode_batches_bytes`]
/// to decode without copying.
pub fn decode_batches(bytes: &[u8]) -> Result<Vec<Batch>, CodecError> {
    decode_batches_bytes(Bytes::copy_from_slice(bytes))
}

/// [`decode_batches`] over shared bytes: data payloads are slices of
/// `bytes`.
pub fn decode_batches_bytes(bytes: Bytes) -> Result<Vec<Batch>, CodecError> {
    let mut out = Vec::new();
    let mut splitter = BatchSplitter::new(bytes);
    loop {
        let position = splitter.position();
        match splitter.next() {
            None => return Ok(out),
            Some(Ok(batch)) => out.push(decode_batch(&batch)?),
            Some(Err(e)) if e.is_truncated() => return Err(CodecError::Truncated { position }),
            Some(Err(e)) => return Err(CodecError::Records(e)),
        }
    }
}

/// Decodes one record batch view into a raft batch.
pub fn decode_batch(batch: &RecordBatch) -> Result<Batch, CodecError> {
    batch.validate()?;
    let base_offset = batch.base_offset();
    let bad = |reason| CodecError::BadHeader {
        base_offset,
        reason,
    };
    if base_offset < 0 {
        return Err(bad("negative base offset"));
    }
    let epoch = batch.partition_leader_epoch();
    if epoch < 0 {
        return Err(bad("negative partition leader epoch"));
    }
    // A raft batch covers `record_count` consecutive offsets.
    let span = batch.last_offset_delta();
    let record_count = u32::try_from(span)
        .ok()
        .and_then(|d| d.checked_add(1))
        .ok_or(bad("batch covers no offset"))?;
    let records = batch.records()?;
    if batch.is_control() {
        decode_control(base_offset, epoch, record_count, records)
    } else {
        if i64::from(batch.record_count()) != i64::from(record_count) {
            return Err(bad("data batch records are not one per offset"));
        }
        let payload = records.data().clone();
        // Every record must parse and sit at its own offset, so that the
        // application's `data_values` cannot fail on a batch we accepted.
        for (index, r) in records.enumerate() {
            let r = r?;
            if usize::try_from(r.offset_delta).ok() != Some(index) {
                return Err(CodecError::BadDataRecord {
                    index,
                    reason: "offset delta is not the record's index",
                });
            }
            if r.value.is_none() {
                return Err(CodecError::BadDataRecord {
                    index,
                    reason: "null value",
                });
            }
        }
        Ok(Batch {
            base_offset,
            epoch,
            record_count,
            kind: BatchKind::Data,
            payload,
        })
    }
}

fn decode_control(
    base_offset: i64,
    epoch: i32,
    record_count: u32,
    mut records: Records,
) -> Result<Batch, CodecError> {
    let bad = |reason: String| CodecError::BadControlBatch {
        base_offset,
        reason,
    };
    let record = match records.next() {
        Some(r) => r?,
        None => return Err(bad("no record".into())),
    };
    if let Some(next) = records.next() {
        next?;
        return Err(bad("more than one record".into()));
    }
    let key = record.key.ok_or_else(|| bad("null key".into()))?;
    let value = record.value.ok_or_else(|| bad("null value".into()))?;
    let bad_value = |reason: String| CodecError::BadControlValue {
        base_offset,
        reason,
    };
    let kind = match ControlRecordType::parse_key(&key)? {
        ControlRecordType::LeaderChange => {
            let msg: LeaderChangeMessage =
                decode_message(value, LEADER_CHANGE_VERSION).map_err(bad_value)?;
            BatchKind::LeaderChange {
                leader_id: msg.leader_id,
                voters: msg.voters.iter().map(|v| v.voter_id).collect(),
            }
        }
        ControlRecordType::KRaftVoters => {
            let msg: VotersRecord =
                decode_message(value, VOTERS_RECORD_VERSION).map_err(bad_value)?;
            BatchKind::Voters {
                voters: msg
                    .voters
                    .iter()
                    .map(|v| Voter {
                        id: v.voter_id,
                        directory_id: v.voter_directory_id.0,
                        endpoints: v
                            .endpoints
                            .iter()
                            .map(|e| Endpoint {
                                name: e.name.clone(),
                                host: e.host.clone(),
                                port: e.port,
                            })
                            .collect(),
                    })
                    .collect(),
            }
        }
        other => {
            return Err(bad(format!(
                "control record type {} is not one a raft log holds",
                other.id()
            )))
        }
    };
    Ok(Batch {
        base_offset,
        epoch,
        record_count,
        kind,
        payload: Bytes::new(),
    })
}

/// Decodes a whole control record value: Kafka reads these at its current
/// version whatever the message's own `version` field says, and so do we;
/// bytes left over mean the value is not that message.
fn decode_message<M: Message>(value: Bytes, version: i16) -> Result<M, String> {
    let mut buf = value;
    let msg = M::decode(&mut buf, version).map_err(|e| e.to_string())?;
    if !buf.is_empty() {
        return Err(format!("{} trailing bytes", buf.len()));
    }
    Ok(msg)
}

/// Values per data batch of a snapshot's content, at most: Kafka's
/// snapshot writer cuts batches at its raft batch limit too, so that no
/// batch is unreasonably large to read back.
const SNAPSHOT_BATCH_BYTES: usize = 1 << 20;

/// A snapshot's content as Kafka lays it out (KIP-630): consecutive v2 data
/// batches of `values`, offsets from 0, partition leader epoch `epoch` (the
/// snapshot's), batches cut at about [`SNAPSHOT_BATCH_BYTES`] of values.
/// So a `.checkpoint` file, after the state machine's voter header, reads
/// like the log. Empty for no values.
pub fn snapshot_content(values: &[Bytes], epoch: i32, timestamp_ms: i64) -> Bytes {
    let mut out = BytesMut::new();
    let mut base = 0usize;
    while base < values.len() {
        let mut end = base;
        let mut bytes = 0usize;
        while end < values.len()
            && (end == base || bytes + values[end].len() <= SNAPSHOT_BATCH_BYTES)
        {
            bytes += values[end].len();
            end += 1;
        }
        let chunk = &values[base..end];
        let batch = Batch {
            base_offset: base as i64,
            epoch,
            record_count: chunk.len() as u32,
            kind: BatchKind::Data,
            payload: data_payload(chunk, timestamp_ms),
        };
        out.extend_from_slice(&encode_batch(&batch, timestamp_ms));
        base = end;
    }
    out.freeze()
}

/// The values of a snapshot's content as [`snapshot_content`] writes it:
/// whole, valid data batches whose offsets run from 0 without a gap.
/// Control batches are skipped, so Kafka's header and footer records
/// (SnapshotHeaderRecord, SnapshotFooterRecord) would be too.
pub fn snapshot_values(content: Bytes) -> Result<Vec<Bytes>, CodecError> {
    let mut values = Vec::new();
    let mut next = 0i64;
    for batch in decode_batches_bytes(content)? {
        if batch.base_offset != next {
            return Err(CodecError::BadHeader {
                base_offset: batch.base_offset,
                reason: "snapshot batches must run from offset 0 without gaps",
            });
        }
        next = batch.next_offset();
        if batch.kind == BatchKind::Data {
            let batch_values = data_values(&batch.payload)?;
            if batch_values.len() != batch.record_count as usize {
                return Err(CodecError::BadHeader {
                    base_offset: batch.base_offset,
                    reason: "record count does not match the records",
                });
            }
            values.extend(batch_values);
        }
    }
    Ok(values)
}

#[cfg(test)]
mod tests {
    use super::*;
    use vltava_raft::SplitMix64;
    use vltava_records::EndTxnMarker;

    fn random_batch(rng: &mut SplitMix64, base_offset: i64, epoch: i32) -> Batch {
        match rng.range(0, 4) {
            0 => Batch {
                base_offset,
                epoch,
                record_count: 1,
                kind: BatchKind::LeaderChange {
                    leader_id: rng.range(0, 10) as i32,
                    voters: (0..rng.range(0, 6)).map(|i| i as i32 * 3).collect(),
                },
                payload: Bytes::new(),
            },
            1 => Batch {
                base_offset,
                epoch,
                record_count: 1,
                kind: BatchKind::Voters {
                    voters: (0..rng.range(0, 6))
                        .map(|i| Voter {
                            id: 100 + i as i32,
                            directory_id: [rng.range(0, 256) as u8; 16],
                            endpoints: (0..rng.range(0, 3))
                                .map(|j| Endpoint {
                                    name: format!("L{j}"),
                                    host: format!("h{i}.example"),
                                    port: rng.range(1, 65536) as u16,
                                })
                                .collect(),
                        })
                        .collect(),
                },
                payload: Bytes::new(),
            },
            _ => {
                let values: Vec<Bytes> = (0..rng.range(1, 8))
                    .map(|_| {
                        let len = rng.range(0, 300) as usize;
                        Bytes::from((0..len).map(|_| rng.next_u64() as u8).collect::<Vec<u8>>())
                    })
                    .collect();
                Batch {
                    base_offset,
                    epoch,
                    record_count: values.len() as u32,
                    kind: BatchKind::Data,
                    payload: data_payload(&values, 1_700_000_000_000),
                }
            }
        }
    }

    fn random_log(seed: u64, n: usize) -> Vec<Batch> {
        let mut rng = SplitMix64::new(seed);
        let mut offset = rng.range(0, 1000) as i64;
        let mut epoch = rng.range(0, 5) as i32;
        let mut out = Vec::new();
        for _ in 0..n {
            if rng.chance(0.2) {
                epoch += 1;
            }
            let b = random_batch(&mut rng, offset, epoch);
            offset = b.next_offset();
            out.push(b);
        }
        out
    }

    fn encode_all(batches: &[Batch]) -> Vec<u8> {
        batches
            .iter()
            .flat_map(|b| encode_batch(b, 1_700_000_000_123).to_vec())
            .collect()
    }

    #[test]
    fn round_trip_random_logs() {
        for seed in 0..200 {
            let log = random_log(seed, 1 + seed as usize % 12);
            let bytes = encode_all(&log);
            assert_eq!(decode_batches(&bytes).unwrap(), log, "seed {seed}");
        }
    }

    #[test]
    fn data_values_round_trip() {
        let values = vec![
            Bytes::from_static(b"a"),
            Bytes::new(),
            Bytes::from(vec![7u8; 5000]),
        ];
        let payload = data_payload(&values, 5);
        assert_eq!(data_values(&payload).unwrap(), values);
        // The payload does not depend on the timestamp (deltas are 0).
        assert_eq!(payload, data_payload(&values, 99));
        assert_eq!(data_values(&Bytes::new()).unwrap(), Vec::<Bytes>::new());
    }

    #[test]
    fn header_is_kafkas() {
        let values = vec![Bytes::from_static(b"x"), Bytes::from_static(b"y")];
        let b = Batch {
            base_offset: 42,
            epoch: 7,
            record_count: 2,
            kind: BatchKind::Data,
            payload: data_payload(&values, 0),
        };
        let view = RecordBatch::new(encode_batch(&b, 1234)).unwrap();
        view.validate().unwrap();
        assert_eq!(view.base_offset(), 42);
        assert_eq!(view.partition_leader_epoch(), 7);
        assert_eq!(view.producer_id(), -1);
        assert_eq!(view.record_count(), 2);
        assert_eq!(view.last_offset(), 43);
        assert_eq!(view.base_timestamp(), 1234);
        assert!(!view.is_control());
        let recs: Vec<_> = view.records().unwrap().map(|r| r.unwrap()).collect();
        assert_eq!(recs[1].offset, 43);
        assert_eq!(recs[1].timestamp, 1234);
        assert_eq!(recs[0].key, None);
        assert_eq!(recs[0].value.as_deref(), Some(&b"x"[..]));

        let lc = Batch {
            base_offset: 44,
            epoch: 8,
            record_count: 1,
            kind: BatchKind::LeaderChange {
                leader_id: 2,
                voters: vec![1, 2, 3],
            },
            payload: Bytes::new(),
        };
        let view = RecordBatch::new(encode_batch(&lc, 0)).unwrap();
        view.validate().unwrap();
        assert!(view.is_control());
        assert!(!view.is_transactional());
        assert_eq!(view.partition_leader_epoch(), 8);
        let r = view.records().unwrap().next().unwrap().unwrap();
        assert_eq!(
            ControlRecordType::parse_key(r.key.as_deref().unwrap()).unwrap(),
            ControlRecordType::LeaderChange
        );
        // The value is LeaderChangeMessage v0 as Kafka lays it out:
        // version, leader id, compact arrays of voters, tagged fields.
        let mut value = r.value.unwrap();
        let msg = LeaderChangeMessage::decode(&mut value, 0).unwrap();
        assert_eq!(msg.version, 0);
        assert_eq!(msg.leader_id, 2);
        assert_eq!(
            msg.voters.iter().map(|v| v.voter_id).collect::<Vec<_>>(),
            vec![1, 2, 3]
        );

        let voters = Batch {
            base_offset: 45,
            epoch: 8,
            record_count: 1,
            kind: BatchKind::Voters {
                voters: vec![
                    Voter::id_only(4),
                    Voter {
                        id: 5,
                        directory_id: [9; 16],
                        endpoints: vec![Endpoint {
                            name: "CONTROLLER".into(),
                            host: "c5".into(),
                            port: 9093,
                        }],
                    },
                ],
            },
            payload: Bytes::new(),
        };
        let view = RecordBatch::new(encode_batch(&voters, 0)).unwrap();
        let r = view.records().unwrap().next().unwrap().unwrap();
        assert_eq!(
            ControlRecordType::parse_key(r.key.as_deref().unwrap()).unwrap(),
            ControlRecordType::KRaftVoters
        );
        let mut value = r.value.unwrap();
        let msg = VotersRecord::decode(&mut value, 0).unwrap();
        assert_eq!(msg.voters.len(), 2);
        assert_eq!(msg.voters[1].voter_id, 5);
        assert!(msg.voters[0].voter_directory_id.is_zero());
        assert_eq!(msg.voters[1].voter_directory_id, Uuid([9; 16]));
        assert_eq!(msg.voters[1].endpoints[0].name, "CONTROLLER");
        assert_eq!(msg.voters[1].endpoints[0].host, "c5");
        assert_eq!(msg.voters[1].endpoints[0].port, 9093);
        assert_eq!(
            msg.voters[1].k_raft_version_feature.max_supported_version,
            1
        );
    }

    #[test]
    fn control_batch_spanning_offsets_keeps_its_span() {
        let b = Batch {
            base_offset: 10,
            epoch: 1,
            record_count: 3,
            kind: BatchKind::Voters {
                voters: vec![Voter::id_only(1)],
            },
            payload: Bytes::new(),
        };
        assert_eq!(decode_batches(&encode_batch(&b, 0)).unwrap(), vec![b]);
    }

    #[test]
    fn truncated_input_is_refused() {
        let bytes = encode_all(&random_log(7, 6));
        assert_eq!(decode_batches(&[]).unwrap(), vec![]);
        for len in 1..bytes.len() {
            // A cut on a batch boundary decodes the batches before it.
            if let Ok(batches) = decode_batches(&bytes[..len]) {
                let end: usize = batches.iter().map(|b| encode_batch(b, 0).len()).sum();
                assert_eq!(end, len);
            }
        }
    }

    #[test]
    fn corruption_is_refused_and_never_panics() {
        let log = random_log(11, 5);
        let bytes = encode_all(&log);
        let first_len = encode_batch(&log[0], 0).len();
        for pos in 0..bytes.len() {
            for flip in [0x01u8, 0x80, 0xff] {
                let mut bad = bytes.clone();
                bad[pos] ^= flip;
                let result = decode_batches(&bad);
                // Bytes under the CRC (attributes..end) can never change
                // unnoticed; the offset, length, epoch and magic are
                // outside it, where a change may still give valid batches.
                let in_crc = (offsets::ATTRIBUTES..first_len).contains(&pos);
                if in_crc {
                    assert!(result.is_err(), "flip {flip:#x} at {pos} accepted");
                }
            }
        }
        let mut rng = SplitMix64::new(3);
        for _ in 0..2000 {
            let len = rng.range(0, 200) as usize;
            let junk: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
            let _ = decode_batches(&junk);
            let _ = data_values(&Bytes::from(junk));
        }
    }

    #[test]
    fn foreign_control_batches_are_refused() {
        let marker = EndTxnMarker {
            commit: true,
            coordinator_epoch: 1,
        }
        .to_batch(0, 1, 5, 0, 0)
        .unwrap();
        assert!(matches!(
            decode_batches(&marker),
            Err(CodecError::BadControlBatch { .. })
        ));
        // A control record of a type we do not know at all.
        let mut b = RecordBatchBuilder::new().control(true);
        b.append(
            0,
            Some(&ControlRecordType::Unknown(99).key_bytes()),
            Some(b"x"),
            &[],
        )
        .unwrap();
        assert!(decode_batches(&b.build().unwrap()).is_err());
        // A LeaderChange whose value is not a LeaderChangeMessage.
        let mut b = RecordBatchBuilder::new()
            .control(true)
            .partition_leader_epoch(1);
        b.append(
            0,
            Some(&ControlRecordType::LeaderChange.key_bytes()),
            Some(b"\x00"),
            &[],
        )
        .unwrap();
        assert!(matches!(
            decode_batches(&b.build().unwrap()),
            Err(CodecError::BadControlValue { .. })
        ));
    }

    #[test]
    fn data_batches_must_be_dense_and_stamped() {
        // Offset deltas with a gap (a compacted batch) cannot be a raft batch.
        let mut b = RecordBatchBuilder::new().partition_leader_epoch(1);
        b.append_with_offset_delta(0, 0, None, Some(b"a"), &[])
            .unwrap();
        b.append_with_offset_delta(2, 0, None, Some(b"b"), &[])
            .unwrap();
        assert!(decode_batches(&b.build().unwrap()).is_err());
        // No leader epoch (a producer's batch) cannot be either.
        let mut b = RecordBatchBuilder::new();
        b.append(0, None, Some(b"a"), &[]).unwrap();
        assert!(matches!(
            decode_batches(&b.build().unwrap()),
            Err(CodecError::BadHeader { .. })
        ));
        // A null value is not something data_payload writes.
        let mut b = RecordBatchBuilder::new().partition_leader_epoch(0);
        b.append(0, None, None, &[]).unwrap();
        assert!(decode_batches(&b.build().unwrap()).is_err());
    }

    #[test]
    fn snapshot_content_is_log_batches_from_offset_zero() {
        // Values large enough that the content takes several batches.
        let values: Vec<Bytes> = (0..40u8).map(|i| Bytes::from(vec![i; 100_000])).collect();
        let content = snapshot_content(&values, 7, 1234);
        let batches = decode_batches_bytes(content.clone()).unwrap();
        assert!(batches.len() > 1, "cut into batches");
        assert_eq!(batches[0].base_offset, 0);
        for pair in batches.windows(2) {
            assert_eq!(pair[0].next_offset(), pair[1].base_offset);
        }
        assert!(batches
            .iter()
            .all(|b| b.epoch == 7 && b.kind == BatchKind::Data));
        assert!(batches
            .iter()
            .all(|b| b.payload.len() <= SNAPSHOT_BATCH_BYTES + 4096));
        assert_eq!(snapshot_values(content).unwrap(), values);

        // One value over the batch limit still gets a batch of its own.
        let big = vec![
            Bytes::from(vec![1u8; SNAPSHOT_BATCH_BYTES + 1]),
            Bytes::from_static(b"x"),
        ];
        assert_eq!(snapshot_values(snapshot_content(&big, 0, 0)).unwrap(), big);
        assert!(snapshot_content(&[], 0, 0).is_empty());
        assert_eq!(snapshot_values(Bytes::new()).unwrap(), Vec::<Bytes>::new());
    }

    #[test]
    fn snapshot_content_with_gaps_or_damage_is_refused() {
        let values: Vec<Bytes> = (0..3u8).map(|i| Bytes::from(vec![i; 10])).collect();
        let content = snapshot_content(&values, 1, 0);
        // Not from offset 0: a log read is not a snapshot.
        let shifted = encode_batch(
            &Batch {
                base_offset: 5,
                epoch: 1,
                record_count: 3,
                kind: BatchKind::Data,
                payload: data_payload(&values, 0),
            },
            0,
        );
        assert!(snapshot_values(shifted).is_err());
        // Cut short, or a flipped bit (the CRC catches it).
        assert!(snapshot_values(content.slice(..content.len() - 1)).is_err());
        let mut flipped = content.to_vec();
        let last = flipped.len() - 1;
        flipped[last] ^= 1;
        assert!(snapshot_values(Bytes::from(flipped)).is_err());
    }
}
