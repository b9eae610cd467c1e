//! The records of `__transaction_state`, in Kafka's binary formats
//! (generated from the transaction-coordinator specs): key
//! `[i16 version 0][TransactionLogKey]`, value `[i16 version][TransactionLogValue]`
//! or null (a tombstone: the transactional id expired).

use std::collections::BTreeSet;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use vltava_protocol::messages::transaction_log_value::PartitionsSchema;
use vltava_protocol::messages::{TransactionLogKey, TransactionLogValue};
use vltava_protocol::Message;

use crate::coordinator::{Transaction, TxnState};

const KEY_VERSION: i16 = 0;
/// Version 0 is what every reader of the topic understands; version 1 only
/// adds tagged fields for KIP-890's transaction version 2.
const VALUE_VERSION: i16 = 0;

/// Kafka's partition for a transactional id: `abs(id.hashCode) % partitions`
/// with Java's `String.hashCode` over UTF-16 code units (the same rule
/// places groups in `__consumer_offsets`).
pub fn partition_for(transactional_id: &str, partitions: i32) -> i32 {
    let mut hash: i32 = 0;
    for unit in transactional_id.encode_utf16() {
        hash = hash.wrapping_mul(31).wrapping_add(i32::from(unit));
    }
    (hash & 0x7fff_ffff) % partitions.max(1)
}

fn versioned<M: Message>(version: i16, message: &M) -> Bytes {
    let mut buf = BytesMut::with_capacity(2 + message.encoded_size(version));
    buf.put_i16(version);
    message
        .encode(&mut buf, version)
        .expect("our own records encode in the versions we chose");
    buf.freeze()
}

pub fn key(transactional_id: &str) -> Bytes {
    versioned(
        KEY_VERSION,
        &TransactionLogKey {
            transactional_id: transactional_id.to_string(),
        },
    )
}

pub fn value(txn: &Transaction) -> Bytes {
    // Partitions grouped by topic, as Kafka writes them.
    let mut topics: Vec<PartitionsSchema> = Vec::new();
    for (topic, partition) in &txn.partitions {
        match topics.last_mut() {
            Some(t) if &t.topic == topic => t.partition_ids.push(*partition),
            _ => topics.push(PartitionsSchema {
                topic: topic.clone(),
                partition_ids: vec![*partition],
                ..Default::default()
            }),
        }
    }
    versioned(
        VALUE_VERSION,
        &TransactionLogValue {
            producer_id: txn.producer_id,
            previous_producer_id: txn.previous_producer_id,
            next_producer_id: -1,
            producer_epoch: txn.producer_epoch,
            transaction_timeout_ms: txn.timeout_ms,
            transaction_status: txn.state.id(),
            transaction_partitions: Some(topics),
            transaction_last_update_timestamp_ms: txn.last_update_ms,
            transaction_start_timestamp_ms: txn.start_ms,
            ..Default::default()
        },
    )
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordError {
    UnknownKeyVersion(i16),
    UnknownValueVersion(i16),
    UnknownState(i8),
    Malformed(String),
}

impl std::fmt::Display for RecordError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RecordError::UnknownKeyVersion(v) => write!(f, "unknown key version {v}"),
            RecordError::UnknownValueVersion(v) => write!(f, "unknown value version {v}"),
            RecordError::UnknownState(s) => write!(f, "unknown transaction state {s}"),
            RecordError::Malformed(e) => write!(f, "malformed record: {e}"),
        }
    }
}

fn split_version(mut bytes: Bytes) -> Result<(i16, Bytes), RecordError> {
    if bytes.len() < 2 {
        return Err(RecordError::Malformed("shorter than its version".into()));
    }
    let version = bytes.get_i16();
    Ok((version, bytes))
}

/// The transactional id of a key.
pub fn parse_key(bytes: Bytes) -> Result<String, RecordError> {
    let (version, mut body) = split_version(bytes)?;
    if version != 0 {
        return Err(RecordError::UnknownKeyVersion(version));
    }
    TransactionLogKey::decode(&mut body, 0)
        .map(|k| k.transactional_id)
        .map_err(|e| RecordError::Malformed(e.to_string()))
}

/// A value back into the transaction it describes.
pub fn parse_value(transactional_id: &str, bytes: Bytes) -> Result<Transaction, RecordError> {
    let (version, mut body) = split_version(bytes)?;
    if !(0..=1).contains(&version) {
        return Err(RecordError::UnknownValueVersion(version));
    }
    let v = TransactionLogValue::decode(&mut body, version)
        .map_err(|e| RecordError::Malformed(e.to_string()))?;
    let state = TxnState::from_id(v.transaction_status)
        .ok_or(RecordError::UnknownState(v.transaction_status))?;
    let partitions: BTreeSet<(String, i32)> = v
        .transaction_partitions
        .unwrap_or_default()
        .into_iter()
        .flat_map(|t| {
            let topic = t.topic;
            t.partition_ids.into_iter().map(move |p| (topic.clone(), p))
        })
        .collect();
    Ok(Transaction {
        transactional_id: transactional_id.to_string(),
        producer_id: v.producer_id,
        previous_producer_id: v.previous_producer_id,
        producer_epoch: v.producer_epoch,
        // Not persisted by Kafka either: only a retry right after a bump
        // needs it.
        last_producer_epoch: -1,
        timeout_ms: v.transaction_timeout_ms,
        state,
        partitions,
        start_ms: v.transaction_start_timestamp_ms,
        last_update_ms: v.transaction_last_update_timestamp_ms,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_hash_placement() {
        assert_eq!(partition_for("", 50), 0);
        assert_eq!(partition_for("a", 50), 97 % 50);
        // "polygenelubricants".hashCode() is Integer.MIN_VALUE: abs is 0.
        assert_eq!(partition_for("polygenelubricants", 50), 0);
    }

    #[test]
    fn value_round_trips() {
        let txn = Transaction {
            transactional_id: "t".into(),
            producer_id: 4000,
            previous_producer_id: -1,
            producer_epoch: 3,
            last_producer_epoch: -1,
            timeout_ms: 60_000,
            state: TxnState::Ongoing,
            partitions: [
                ("a".to_string(), 1),
                ("a".to_string(), 0),
                ("b".to_string(), 7),
            ]
            .into_iter()
            .collect(),
            start_ms: 10,
            last_update_ms: 20,
        };
        let bytes = value(&txn);
        assert_eq!(&bytes[..2], &[0, 0]);
        assert_eq!(parse_value("t", bytes).unwrap(), txn);
        assert_eq!(parse_key(key("t")).unwrap(), "t");
        assert!(matches!(
            parse_key(Bytes::from_static(&[0, 9, 0, 0])),
            Err(RecordError::UnknownKeyVersion(9))
        ));
        assert!(parse_value("t", Bytes::from_static(&[0, 0, 1])).is_err());
    }
}
