//! Control records: the transaction markers a coordinator writes (KIP-98)
//! and the other control types KRaft uses.
//!
//! A control record's key is `version: i16 (0)` + `type: i16`; an end
//! transaction marker's value is `version: i16 (0)` + `coordinatorEpoch:
//! i32`. As Kafka's Java reader does, we accept a higher value version and
//! read only the fields we know (later versions append fields).

use bytes::Bytes;

use crate::builder::RecordBatchBuilder;
use crate::error::{Error, Result};
use crate::record::Record;

/// Control record types (Kafka's `ControlRecordType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ControlRecordType {
    /// Transaction aborted (0).
    Abort,
    /// Transaction committed (1).
    Commit,
    /// KRaft leader change (2).
    LeaderChange,
    /// KRaft snapshot header (3).
    SnapshotHeader,
    /// KRaft snapshot footer (4).
    SnapshotFooter,
    /// KRaft version (5).
    KRaftVersion,
    /// KRaft voters (6).
    KRaftVoters,
    /// A type this code does not know; consumers skip control records, so
    /// unknown ones are not an error.
    Unknown(i16),
}

impl ControlRecordType {
    /// The wire id.
    pub fn id(self) -> i16 {
        match self {
            ControlRecordType::Abort => 0,
            ControlRecordType::Commit => 1,
            ControlRecordType::LeaderChange => 2,
            ControlRecordType::SnapshotHeader => 3,
            ControlRecordType::SnapshotFooter => 4,
            ControlRecordType::KRaftVersion => 5,
            ControlRecordType::KRaftVoters => 6,
            ControlRecordType::Unknown(id) => id,
        }
    }

    /// Type for a wire id.
    pub fn from_id(id: i16) -> Self {
        match id {
            0 => ControlRecordType::Abort,
            1 => ControlRecordType::Commit,
            2 => ControlRecordType::LeaderChange,
            3 => ControlRecordType::SnapshotHeader,
            4 => ControlRecordType::SnapshotFooter,
            5 => ControlRecordType::KRaftVersion,
            6 => ControlRecordType::KRaftVoters,
            other => ControlRecordType::Unknown(other),
        }
    }

    /// Parses a control record key (version + type).
    pub fn parse_key(key: &[u8]) -> Result<Self> {
        if key.len() < 4 {
            return Err(Error::InvalidControlRecord("key shorter than 4 bytes"));
        }
        let version = i16::from_be_bytes([key[0], key[1]]);
        if version < 0 {
            return Err(Error::InvalidControlRecord("negative key version"));
        }
        Ok(Self::from_id(i16::from_be_bytes([key[2], key[3]])))
    }

    /// The 4-byte key (version 0).
    pub fn key_bytes(self) -> [u8; 4] {
        let t = self.id().to_be_bytes();
        [0, 0, t[0], t[1]]
    }
}

/// The outcome a transaction marker records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EndTxnMarker {
    /// Commit or abort.
    pub commit: bool,
    /// Epoch of the transaction coordinator that wrote it.
    pub coordinator_epoch: i32,
}

impl EndTxnMarker {
    /// Key + value of the marker record.
    pub fn encode(&self) -> ([u8; 4], [u8; 6]) {
        let kind = if self.commit {
            ControlRecordType::Commit
        } else {
            ControlRecordType::Abort
        };
        let e = self.coordinator_epoch.to_be_bytes();
        (kind.key_bytes(), [0, 0, e[0], e[1], e[2], e[3]])
    }

    /// Reads a marker from a control record; errors if it is not a
    /// commit/abort record.
    pub fn from_record(r: &Record) -> Result<Self> {
        let key = r
            .key
            .as_deref()
            .ok_or(Error::InvalidControlRecord("null key"))?;
        let commit = match ControlRecordType::parse_key(key)? {
            ControlRecordType::Commit => true,
            ControlRecordType::Abort => false,
            _ => return Err(Error::InvalidControlRecord("not a transaction marker")),
        };
        let value = r
            .value
            .as_deref()
            .ok_or(Error::InvalidControlRecord("null value"))?;
        if value.len() < 6 {
            return Err(Error::InvalidControlRecord(
                "marker value shorter than 6 bytes",
            ));
        }
        let version = i16::from_be_bytes([value[0], value[1]]);
        if version < 0 {
            return Err(Error::InvalidControlRecord("negative marker version"));
        }
        Ok(EndTxnMarker {
            commit,
            coordinator_epoch: i32::from_be_bytes([value[2], value[3], value[4], value[5]]),
        })
    }

    /// A complete control batch holding this marker, as Kafka's
    /// `MemoryRecords.withEndTransactionMarker` writes it: uncompressed,
    /// transactional + control bits, no sequence, one record at `timestamp`.
    pub fn to_batch(
        &self,
        base_offset: i64,
        partition_leader_epoch: i32,
        producer_id: i64,
        producer_epoch: i16,
        timestamp: i64,
    ) -> Result<Bytes> {
        let (key, value) = self.encode();
        let mut b = RecordBatchBuilder::new()
            .base_offset(base_offset)
            .partition_leader_epoch(partition_leader_epoch)
            .producer(producer_id, producer_epoch, crate::batch::NO_SEQUENCE)
            .transactional(true)
            .control(true);
        b.append(timestamp, Some(&key), Some(&value), &[])?;
        b.build()
    }
}
