//! A zero-copy view of one record batch (magic v2) and its header fields.
//!
//! Layout (big-endian, Kafka's `DefaultRecordBatch`):
//!
//! ```text
//! offset  size  field
//!      0     8  baseOffset            ─┐ log overhead: outside the CRC and
//!      8     4  batchLength            │ outside batchLength's count
//!     12     4  partitionLeaderEpoch  ─┘ (epoch also outside the CRC)
//!     16     1  magic (= 2)
//!     17     4  crc (CRC-32C of bytes 21..end)
//!     21     2  attributes
//!     23     4  lastOffsetDelta
//!     27     8  baseTimestamp
//!     35     8  maxTimestamp
//!     43     8  producerId
//!     51     2  producerEpoch
//!     53     4  baseSequence
//!     57     4  recordCount
//!     61     …  records (compressed as one blob if the codec is not none)
//! ```
//!
//! `batchLength` counts the bytes after itself, so a batch occupies
//! `12 + batchLength` bytes.

use bytes::Bytes;

use crate::compression::{self, Compression};
use crate::error::{Error, Result};
use crate::record::Records;

/// Byte offsets of the header fields.
pub mod offsets {
    /// baseOffset (i64).
    pub const BASE_OFFSET: usize = 0;
    /// batchLength (i32).
    pub const BATCH_LENGTH: usize = 8;
    /// partitionLeaderEpoch (i32).
    pub const PARTITION_LEADER_EPOCH: usize = 12;
    /// magic (i8).
    pub const MAGIC: usize = 16;
    /// crc (u32).
    pub const CRC: usize = 17;
    /// attributes (i16); the CRC covers from here to the end.
    pub const ATTRIBUTES: usize = 21;
    /// lastOffsetDelta (i32).
    pub const LAST_OFFSET_DELTA: usize = 23;
    /// baseTimestamp (i64).
    pub const BASE_TIMESTAMP: usize = 27;
    /// maxTimestamp (i64).
    pub const MAX_TIMESTAMP: usize = 35;
    /// producerId (i64).
    pub const PRODUCER_ID: usize = 43;
    /// producerEpoch (i16).
    pub const PRODUCER_EPOCH: usize = 51;
    /// baseSequence (i32).
    pub const BASE_SEQUENCE: usize = 53;
    /// recordCount (i32).
    pub const RECORD_COUNT: usize = 57;
    /// First record byte.
    pub const RECORDS: usize = 61;
}

/// Size of the v2 header, i.e. of an empty batch.
pub const BATCH_HEADER_LEN: usize = offsets::RECORDS;
/// baseOffset + batchLength: the bytes not counted by batchLength.
pub const LOG_OVERHEAD: usize = 12;
/// Smallest valid batchLength.
pub const MIN_BATCH_LENGTH: i32 = (BATCH_HEADER_LEN - LOG_OVERHEAD) as i32;
/// The only magic we speak.
pub const MAGIC_V2: i8 = 2;
/// Smallest encoded record: length, attributes, timestamp delta, offset
/// delta, key length, value length and header count, one byte each.
pub const MIN_RECORD_LEN: usize = 7;
/// Value of producer id / epoch / base sequence when not idempotent.
pub const NO_PRODUCER_ID: i64 = -1;
/// See [`NO_PRODUCER_ID`].
pub const NO_PRODUCER_EPOCH: i16 = -1;
/// See [`NO_PRODUCER_ID`].
pub const NO_SEQUENCE: i32 = -1;
/// Timestamp of a batch with no records.
pub const NO_TIMESTAMP: i64 = -1;

/// Whether record timestamps were set by the producer or the broker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum TimestampType {
    /// Set by the producer (attribute bit 3 clear).
    #[default]
    CreateTime,
    /// Set by the broker on append (bit 3 set); every record's timestamp
    /// is then the batch's max timestamp.
    LogAppendTime,
}

/// The batch attributes (i16).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Attributes(pub i16);

impl Attributes {
    /// Bits 0-2: compression codec.
    pub const COMPRESSION_MASK: i16 = 0x07;
    /// Bit 3: timestamp type.
    pub const TIMESTAMP_TYPE: i16 = 0x08;
    /// Bit 4: part of a transaction (KIP-98).
    pub const TRANSACTIONAL: i16 = 0x10;
    /// Bit 5: control batch (transaction markers).
    pub const CONTROL: i16 = 0x20;
    /// Bit 6: the base timestamp is the delete horizon (KIP-534).
    pub const DELETE_HORIZON: i16 = 0x40;

    /// Codec id in bits 0-2 (ids 5-7 are an error).
    pub fn compression(self) -> Result<Compression> {
        Compression::from_id((self.0 & Self::COMPRESSION_MASK) as u8)
    }
    /// Timestamp type bit.
    pub fn timestamp_type(self) -> TimestampType {
        if self.0 & Self::TIMESTAMP_TYPE != 0 {
            TimestampType::LogAppendTime
        } else {
            TimestampType::CreateTime
        }
    }
    /// Transactional bit.
    pub fn is_transactional(self) -> bool {
        self.0 & Self::TRANSACTIONAL != 0
    }
    /// Control bit.
    pub fn is_control(self) -> bool {
        self.0 & Self::CONTROL != 0
    }
    /// Delete-horizon bit.
    pub fn has_delete_horizon(self) -> bool {
        self.0 & Self::DELETE_HORIZON != 0
    }
}

#[inline]
pub(crate) fn be_i16(b: &[u8], at: usize) -> i16 {
    i16::from_be_bytes([b[at], b[at + 1]])
}
#[inline]
pub(crate) fn be_i32(b: &[u8], at: usize) -> i32 {
    i32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}
#[inline]
pub(crate) fn be_i64(b: &[u8], at: usize) -> i64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    i64::from_be_bytes(a)
}

/// Checks the start of `buf` for a v2 batch header and returns its total
/// size (`12 + batchLength`), which may exceed `buf.len()` (then the caller
/// decides whether that is a truncated tail). Shared by the splitter and
/// the patch functions.
pub(crate) fn batch_size(buf: &[u8]) -> Result<usize> {
    if buf.len() < LOG_OVERHEAD {
        return Err(Error::Truncated {
            needed: LOG_OVERHEAD,
            available: buf.len(),
        });
    }
    let length = be_i32(buf, offsets::BATCH_LENGTH);
    if length < 0 {
        return Err(Error::InvalidBatchLength(length));
    }
    if buf.len() <= offsets::MAGIC {
        // Cannot see the magic yet: only a truncated tail is possible.
        return Err(Error::Truncated {
            needed: LOG_OVERHEAD + length as usize,
            available: buf.len(),
        });
    }
    match buf[offsets::MAGIC] as i8 {
        MAGIC_V2 => {}
        magic @ (0 | 1) => return Err(Error::LegacyMessageSet { magic }),
        magic => return Err(Error::UnsupportedMagic(magic)),
    }
    if length < MIN_BATCH_LENGTH {
        return Err(Error::InvalidBatchLength(length));
    }
    Ok(LOG_OVERHEAD + length as usize)
}

/// A zero-copy view of exactly one v2 record batch.
///
/// Construction checks only what the accessors need (header present, magic
/// 2, length consistent); call [`RecordBatch::validate`] before trusting the
/// contents.
#[derive(Clone, PartialEq, Eq)]
pub struct RecordBatch {
    buf: Bytes,
}

impl std::fmt::Debug for RecordBatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordBatch")
            .field("base_offset", &self.base_offset())
            .field("batch_length", &self.batch_length())
            .field("attributes", &self.attributes())
            .field("record_count", &self.record_count())
            .field("producer_id", &self.producer_id())
            .finish_non_exhaustive()
    }
}

impl RecordBatch {
    /// Wraps `buf`, which must hold exactly one batch.
    pub fn new(buf: Bytes) -> Result<Self> {
        let size = batch_size(&buf)?;
        if size > buf.len() {
            return Err(Error::Truncated {
                needed: size,
                available: buf.len(),
            });
        }
        if size < buf.len() {
            return Err(Error::TrailingBytes(buf.len() - size));
        }
        Ok(RecordBatch { buf })
    }

    /// The batch's bytes.
    pub fn as_bytes(&self) -> &Bytes {
        &self.buf
    }
    /// Gives the bytes back.
    pub fn into_bytes(self) -> Bytes {
        self.buf
    }
    /// Total size on the wire (`12 + batchLength`).
    pub fn size_in_bytes(&self) -> usize {
        self.buf.len()
    }

    /// First offset of the batch.
    pub fn base_offset(&self) -> i64 {
        be_i64(&self.buf, offsets::BASE_OFFSET)
    }
    /// Bytes after the length field.
    pub fn batch_length(&self) -> i32 {
        be_i32(&self.buf, offsets::BATCH_LENGTH)
    }
    /// Leader epoch stamped by the partition leader (KIP-101).
    pub fn partition_leader_epoch(&self) -> i32 {
        be_i32(&self.buf, offsets::PARTITION_LEADER_EPOCH)
    }
    /// Always 2 for a constructed batch.
    pub fn magic(&self) -> i8 {
        self.buf[offsets::MAGIC] as i8
    }
    /// The stored CRC-32C.
    pub fn crc(&self) -> u32 {
        be_i32(&self.buf, offsets::CRC) as u32
    }
    /// CRC-32C of attributes..end, computed now.
    pub fn compute_crc(&self) -> u32 {
        crc32c::crc32c(&self.buf[offsets::ATTRIBUTES..])
    }
    /// Raw attributes.
    pub fn attributes(&self) -> Attributes {
        Attributes(be_i16(&self.buf, offsets::ATTRIBUTES))
    }
    /// Codec (error for ids 5-7).
    pub fn compression(&self) -> Result<Compression> {
        self.attributes().compression()
    }
    /// CreateTime or LogAppendTime.
    pub fn timestamp_type(&self) -> TimestampType {
        self.attributes().timestamp_type()
    }
    /// Transactional bit.
    pub fn is_transactional(&self) -> bool {
        self.attributes().is_transactional()
    }
    /// Control bit.
    pub fn is_control(&self) -> bool {
        self.attributes().is_control()
    }
    /// Delete-horizon bit.
    pub fn has_delete_horizon(&self) -> bool {
        self.attributes().has_delete_horizon()
    }
    /// Offset delta of the last record.
    pub fn last_offset_delta(&self) -> i32 {
        be_i32(&self.buf, offsets::LAST_OFFSET_DELTA)
    }
    /// Timestamp of the first record (or the delete horizon).
    pub fn base_timestamp(&self) -> i64 {
        be_i64(&self.buf, offsets::BASE_TIMESTAMP)
    }
    /// Largest record timestamp, or the append time.
    pub fn max_timestamp(&self) -> i64 {
        be_i64(&self.buf, offsets::MAX_TIMESTAMP)
    }
    /// Producer id (-1 if not idempotent).
    pub fn producer_id(&self) -> i64 {
        be_i64(&self.buf, offsets::PRODUCER_ID)
    }
    /// Producer epoch.
    pub fn producer_epoch(&self) -> i16 {
        be_i16(&self.buf, offsets::PRODUCER_EPOCH)
    }
    /// Sequence number of the first record.
    pub fn base_sequence(&self) -> i32 {
        be_i32(&self.buf, offsets::BASE_SEQUENCE)
    }
    /// Records the header declares.
    pub fn record_count(&self) -> i32 {
        be_i32(&self.buf, offsets::RECORD_COUNT)
    }
    /// `base_offset + last_offset_delta` (wrapping on hostile values;
    /// [`validate`](Self::validate) rejects those).
    pub fn last_offset(&self) -> i64 {
        self.base_offset()
            .wrapping_add(i64::from(self.last_offset_delta()))
    }
    /// `last_offset + 1`: where the next batch starts.
    pub fn next_offset(&self) -> i64 {
        self.last_offset().wrapping_add(1)
    }
    /// Sequence number of the last record (wraps at i32::MAX as Kafka's
    /// sequences do), or -1 when there is no sequence.
    pub fn last_sequence(&self) -> i32 {
        let base = self.base_sequence();
        if base == NO_SEQUENCE {
            return NO_SEQUENCE;
        }
        // Kafka: sequences wrap from i32::MAX to 0.
        let last = i64::from(base) + i64::from(self.last_offset_delta());
        (last.rem_euclid(i64::from(i32::MAX) + 1)) as i32
    }

    /// The records section as stored (compressed if the codec says so).
    pub fn records_bytes(&self) -> Bytes {
        self.buf.slice(offsets::RECORDS..)
    }

    /// Full integrity check: magic, length, CRC, codec id, record count and
    /// offset delta sanity. Does not decompress or parse records.
    pub fn validate(&self) -> Result<()> {
        // Magic and length were checked by `new`; re-checking is cheap and
        // keeps this function a complete statement of validity.
        let size = batch_size(&self.buf)?;
        if size != self.buf.len() {
            return Err(Error::InvalidBatchLength(self.batch_length()));
        }
        let stored = self.crc();
        let computed = self.compute_crc();
        if stored != computed {
            return Err(Error::CrcMismatch { stored, computed });
        }
        let codec = self.compression()?;
        self.check_counts(codec)
    }

    fn check_counts(&self, codec: Compression) -> Result<()> {
        let count = self.record_count();
        if count < 0 {
            return Err(Error::InvalidRecordCount {
                count,
                reason: "negative",
            });
        }
        let records_len = self.buf.len() - BATCH_HEADER_LEN;
        if codec == Compression::None && count as usize > records_len / MIN_RECORD_LEN {
            return Err(Error::InvalidRecordCount {
                count,
                reason: "more records than the batch has bytes for",
            });
        }
        let delta = self.last_offset_delta();
        if count > 0 {
            // Offset deltas are distinct and within 0..=lastOffsetDelta, so
            // there cannot be more records than offsets. (Compaction can
            // leave fewer; it never leaves more.)
            if delta < 0 || i64::from(count) > i64::from(delta) + 1 {
                return Err(Error::InvalidOffsetDelta {
                    last_offset_delta: delta,
                });
            }
        }
        if self.base_offset().checked_add(i64::from(delta)).is_none() {
            return Err(Error::InvalidOffsetDelta {
                last_offset_delta: delta,
            });
        }
        Ok(())
    }

    /// Iterates the records, decompressing first if needed, with the
    /// default decompression limit.
    pub fn records(&self) -> Result<Records> {
        self.records_with_limit(compression::DEFAULT_MAX_DECOMPRESSED)
    }

    /// Iterates the records; decompressed data beyond `max_decompressed`
    /// bytes is an error.
    pub fn records_with_limit(&self, max_decompressed: usize) -> Result<Records> {
        let codec = self.compression()?;
        let count = self.record_count();
        if count < 0 {
            return Err(Error::InvalidRecordCount {
                count,
                reason: "negative",
            });
        }
        let data = match codec {
            Compression::None => self.records_bytes(),
            codec => Bytes::from(compression::decompress(
                codec,
                &self.buf[offsets::RECORDS..],
                max_decompressed,
            )?),
        };
        Ok(Records::new(data, count, self.record_context()))
    }

    pub(crate) fn record_context(&self) -> crate::record::BatchContext {
        crate::record::BatchContext {
            base_offset: self.base_offset(),
            base_timestamp: self.base_timestamp(),
            max_timestamp: self.max_timestamp(),
            timestamp_type: self.timestamp_type(),
        }
    }
}

/// Splits a buffer of concatenated batches (a Produce request's `records`,
/// a Fetch response's, or a log segment) into [`RecordBatch`] views.
///
/// Yields `Ok(batch)` for each complete batch. A final `Err` ends the
/// iteration: [`Error::Truncated`] when the buffer stops inside a batch (a
/// fetch response's partial trailing batch, safe to ignore there), any other
/// error when the bytes are wrong (negative or too small length, legacy or
/// unknown magic). CRCs are not checked here; call
/// [`RecordBatch::validate`] on each batch.
#[derive(Debug, Clone)]
pub struct BatchSplitter {
    buf: Bytes,
    pos: usize,
    done: bool,
}

impl BatchSplitter {
    /// Starts splitting `buf`.
    pub fn new(buf: Bytes) -> Self {
        BatchSplitter {
            buf,
            pos: 0,
            done: false,
        }
    }

    /// Byte position of the next batch (after an error: of the bad or
    /// partial batch).
    pub fn position(&self) -> usize {
        self.pos
    }

    /// The unconsumed bytes (after a truncation error: the partial batch).
    pub fn remainder(&self) -> Bytes {
        self.buf.slice(self.pos..)
    }
}

impl Iterator for BatchSplitter {
    type Item = Result<RecordBatch>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done || self.pos >= self.buf.len() {
            return None;
        }
        let rest = &self.buf[self.pos..];
        let size = match batch_size(rest) {
            Ok(size) if size > rest.len() => Err(Error::Truncated {
                needed: size,
                available: rest.len(),
            }),
            other => other,
        };
        match size {
            Ok(size) => {
                let batch = RecordBatch {
                    buf: self.buf.slice(self.pos..self.pos + size),
                };
                self.pos += size;
                Some(Ok(batch))
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

impl std::iter::FusedIterator for BatchSplitter {}
