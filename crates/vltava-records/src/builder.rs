//! Writes v2 record batches.
//!
//! Follows what Kafka's Java `MemoryRecordsBuilder` writes, so batches we
//! produce are byte-for-byte what a Java producer would send for the same
//! input: base timestamp = first record's timestamp, offset deltas from 0,
//! record attributes 0, partition leader epoch -1 unless set, CRC-32C over
//! attributes..end.

use bytes::Bytes;

use crate::batch::{
    offsets, Attributes, TimestampType, BATCH_HEADER_LEN, LOG_OVERHEAD, MAGIC_V2,
    NO_PRODUCER_EPOCH, NO_PRODUCER_ID, NO_SEQUENCE, NO_TIMESTAMP,
};
use crate::compression::{compress_with_level, Compression};
use crate::error::{Error, Result};
use crate::record::Record;
use crate::varint::{put_varint, put_varlong};

/// Builds one record batch. Setters consume and return the builder;
/// records are appended with `&mut self`; [`build`](Self::build) encodes.
#[derive(Debug, Clone)]
pub struct RecordBatchBuilder {
    compression: Compression,
    compression_level: Option<i32>,
    base_offset: i64,
    partition_leader_epoch: i32,
    timestamp_type: TimestampType,
    transactional: bool,
    control: bool,
    producer_id: i64,
    producer_epoch: i16,
    base_sequence: i32,
    base_timestamp: Option<i64>,
    max_timestamp: i64,
    count: i32,
    last_offset_delta: Option<i32>,
    /// KIP-534: the base timestamp holds the delete horizon.
    delete_horizon: bool,
    /// Overrides of the header fields derived from the records, for a
    /// batch rewritten by the log cleaner (which keeps the original's).
    forced_last_offset_delta: Option<i32>,
    forced_max_timestamp: Option<i64>,
    /// Encoded records, uncompressed.
    records: Vec<u8>,
    /// Reused for one record's body so its length prefix can be written
    /// first without a second size-computing pass.
    scratch: Vec<u8>,
}

impl Default for RecordBatchBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl RecordBatchBuilder {
    /// An uncompressed, non-idempotent batch at offset 0.
    pub fn new() -> Self {
        RecordBatchBuilder {
            compression: Compression::None,
            compression_level: None,
            base_offset: 0,
            partition_leader_epoch: -1,
            timestamp_type: TimestampType::CreateTime,
            transactional: false,
            control: false,
            producer_id: NO_PRODUCER_ID,
            producer_epoch: NO_PRODUCER_EPOCH,
            base_sequence: NO_SEQUENCE,
            base_timestamp: None,
            max_timestamp: NO_TIMESTAMP,
            count: 0,
            last_offset_delta: None,
            delete_horizon: false,
            forced_last_offset_delta: None,
            forced_max_timestamp: None,
            records: Vec::new(),
            scratch: Vec::new(),
        }
    }

    /// Codec for the records section.
    pub fn compression(mut self, codec: Compression) -> Self {
        self.compression = codec;
        self
    }
    /// Codec level (gzip, zstd); `None` = codec default.
    pub fn compression_level(mut self, level: Option<i32>) -> Self {
        self.compression_level = level;
        self
    }
    /// Base offset (producers send 0; the broker patches it).
    pub fn base_offset(mut self, offset: i64) -> Self {
        self.base_offset = offset;
        self
    }
    /// Partition leader epoch (producers send -1).
    pub fn partition_leader_epoch(mut self, epoch: i32) -> Self {
        self.partition_leader_epoch = epoch;
        self
    }
    /// Timestamp type bit.
    pub fn timestamp_type(mut self, t: TimestampType) -> Self {
        self.timestamp_type = t;
        self
    }
    /// Idempotent producer fields.
    pub fn producer(mut self, id: i64, epoch: i16, base_sequence: i32) -> Self {
        self.producer_id = id;
        self.producer_epoch = epoch;
        self.base_sequence = base_sequence;
        self
    }
    /// Transactional bit.
    pub fn transactional(mut self, yes: bool) -> Self {
        self.transactional = yes;
        self
    }
    /// Control bit (see [`crate::control`] for markers).
    pub fn control(mut self, yes: bool) -> Self {
        self.control = yes;
        self
    }
    /// Overrides the base timestamp (default: the first record's).
    /// Must be set before the first append.
    pub fn base_timestamp(mut self, ts: i64) -> Self {
        self.base_timestamp = Some(ts);
        self
    }

    /// Marks the batch as carrying a delete horizon (KIP-534): the base
    /// timestamp is `horizon_ms` (record timestamps stay exact, as deltas
    /// from it) and attribute bit 6 is set. The log cleaner sets it on a
    /// batch with tombstones or a marker it may later remove. Must be set
    /// before the first append.
    pub fn delete_horizon(mut self, horizon_ms: i64) -> Self {
        self.delete_horizon = true;
        self.base_timestamp = Some(horizon_ms);
        self
    }
    /// Keeps a last offset delta beyond the last record's (a rewritten
    /// batch whose last records were removed keeps its offset range, so
    /// the producer's sequence numbers still line up). [`build`] refuses
    /// a value below the last appended record's delta.
    ///
    /// [`build`]: Self::build
    pub fn last_offset_delta(mut self, delta: i32) -> Self {
        self.forced_last_offset_delta = Some(delta);
        self
    }
    /// Sets the header's max timestamp instead of deriving it from the
    /// records (a rewritten LogAppendTime batch keeps its append time; an
    /// empty batch keeps its original's).
    pub fn max_timestamp(mut self, ts: i64) -> Self {
        self.forced_max_timestamp = Some(ts);
        self
    }

    /// Records appended so far.
    pub fn len(&self) -> usize {
        self.count as usize
    }
    /// No records yet.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }
    /// Size the batch would have uncompressed.
    pub fn uncompressed_size(&self) -> usize {
        BATCH_HEADER_LEN + self.records.len()
    }

    /// Appends a record at the next offset delta.
    pub fn append(
        &mut self,
        timestamp: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[(&[u8], Option<&[u8]>)],
    ) -> Result<()> {
        let delta = match self.last_offset_delta {
            None => 0,
            Some(d) => d
                .checked_add(1)
                .ok_or(Error::Unrepresentable("offset delta beyond i32"))?,
        };
        self.append_at(delta, timestamp, key, value, headers.iter().copied())
    }

    /// Appends a record with an explicit offset delta, which must exceed
    /// the previous one (compaction leaves gaps).
    pub fn append_with_offset_delta(
        &mut self,
        offset_delta: i32,
        timestamp: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[(&[u8], Option<&[u8]>)],
    ) -> Result<()> {
        self.append_at(offset_delta, timestamp, key, value, headers.iter().copied())
    }

    /// Re-appends a decoded record (keeping its offset delta and
    /// timestamp), e.g. when rewriting a batch.
    pub fn append_record(&mut self, r: &Record) -> Result<()> {
        self.append_at(
            r.offset_delta,
            r.timestamp,
            r.key.as_deref(),
            r.value.as_deref(),
            r.headers.iter().map(|h| (&h.key[..], h.value.as_deref())),
        )
    }

    fn append_at<'h>(
        &mut self,
        offset_delta: i32,
        timestamp: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: impl ExactSizeIterator<Item = (&'h [u8], Option<&'h [u8]>)>,
    ) -> Result<()> {
        if offset_delta < 0 || self.last_offset_delta.is_some_and(|d| offset_delta <= d) {
            return Err(Error::Unrepresentable(
                "offset deltas must be >= 0 and increasing",
            ));
        }
        if self.count == i32::MAX {
            return Err(Error::Unrepresentable("more than i32::MAX records"));
        }
        let base_ts = *self.base_timestamp.get_or_insert(timestamp);
        let ts_delta = timestamp
            .checked_sub(base_ts)
            .ok_or(Error::Unrepresentable("timestamp delta beyond i64"))?;

        let body = &mut self.scratch;
        body.clear();
        body.push(0); // record attributes: unused
        put_varlong(body, ts_delta);
        put_varint(body, offset_delta);
        put_nullable(body, key)?;
        put_nullable(body, value)?;
        let header_count =
            i32::try_from(headers.len()).map_err(|_| Error::Unrepresentable("too many headers"))?;
        put_varint(body, header_count);
        for (k, v) in headers {
            put_len(body, k.len())?;
            body.extend_from_slice(k);
            put_nullable(body, v)?;
        }
        put_len(&mut self.records, self.scratch.len())?;
        self.records.extend_from_slice(&self.scratch);

        self.count += 1;
        self.last_offset_delta = Some(offset_delta);
        self.max_timestamp = if self.count == 1 {
            timestamp
        } else {
            self.max_timestamp.max(timestamp)
        };
        Ok(())
    }

    /// Encodes the batch: compresses the records if asked, writes the
    /// header and the CRC.
    pub fn build(&self) -> Result<Bytes> {
        let compressed;
        let records: &[u8] = if self.compression == Compression::None {
            &self.records
        } else {
            compressed =
                compress_with_level(self.compression, &self.records, self.compression_level)?;
            &compressed
        };
        let total = BATCH_HEADER_LEN + records.len();
        let batch_length = i32::try_from(total - LOG_OVERHEAD)
            .map_err(|_| Error::Unrepresentable("batch larger than 2 GiB"))?;

        let mut attrs = self.compression.id() as i16;
        if self.timestamp_type == TimestampType::LogAppendTime {
            attrs |= Attributes::TIMESTAMP_TYPE;
        }
        if self.transactional {
            attrs |= Attributes::TRANSACTIONAL;
        }
        if self.control {
            attrs |= Attributes::CONTROL;
        }
        if self.delete_horizon {
            attrs |= Attributes::DELETE_HORIZON;
        }
        let last_offset_delta = match (self.forced_last_offset_delta, self.last_offset_delta) {
            (Some(forced), Some(last)) if forced < last => {
                return Err(Error::Unrepresentable(
                    "last offset delta below the last record's",
                ))
            }
            (Some(forced), _) => forced,
            (None, last) => last.unwrap_or(-1),
        };
        let max_timestamp = self.forced_max_timestamp.unwrap_or(self.max_timestamp);

        let mut buf = Vec::with_capacity(total);
        buf.extend_from_slice(&self.base_offset.to_be_bytes());
        buf.extend_from_slice(&batch_length.to_be_bytes());
        buf.extend_from_slice(&self.partition_leader_epoch.to_be_bytes());
        buf.push(MAGIC_V2 as u8);
        buf.extend_from_slice(&[0; 4]); // CRC, filled below
        buf.extend_from_slice(&attrs.to_be_bytes());
        buf.extend_from_slice(&last_offset_delta.to_be_bytes());
        buf.extend_from_slice(&self.base_timestamp.unwrap_or(NO_TIMESTAMP).to_be_bytes());
        buf.extend_from_slice(&max_timestamp.to_be_bytes());
        buf.extend_from_slice(&self.producer_id.to_be_bytes());
        buf.extend_from_slice(&self.producer_epoch.to_be_bytes());
        buf.extend_from_slice(&self.base_sequence.to_be_bytes());
        buf.extend_from_slice(&self.count.to_be_bytes());
        debug_assert_eq!(buf.len(), BATCH_HEADER_LEN);
        buf.extend_from_slice(records);

        let crc = crc32c::crc32c(&buf[offsets::ATTRIBUTES..]);
        buf[offsets::CRC..offsets::CRC + 4].copy_from_slice(&crc.to_be_bytes());
        Ok(Bytes::from(buf))
    }
}

fn put_len(out: &mut Vec<u8>, len: usize) -> Result<()> {
    let len =
        i32::try_from(len).map_err(|_| Error::Unrepresentable("field longer than i32::MAX"))?;
    put_varint(out, len);
    Ok(())
}

fn put_nullable(out: &mut Vec<u8>, field: Option<&[u8]>) -> Result<()> {
    match field {
        None => put_varint(out, -1),
        Some(b) => {
            put_len(out, b.len())?;
            out.extend_from_slice(b);
        }
    }
    Ok(())
}
