//! Records inside a batch and the iterator that decodes them.
//!
//! Record layout (Kafka's `DefaultRecord`, all varints zigzag):
//!
//! ```text
//! length          varint   bytes after this field
//! attributes      int8     unused, 0
//! timestampDelta  varlong  relative to the batch's baseTimestamp
//! offsetDelta     varint   relative to the batch's baseOffset
//! keyLength       varint   -1 = null
//! key             bytes
//! valueLength     varint   -1 = null
//! value           bytes
//! headerCount     varint
//! headers         [headerKeyLength varint, headerKey (UTF-8),
//!                  headerValueLength varint (-1 = null), headerValue]
//! ```
//!
//! Keys, values and header keys/values are [`Bytes`] slices of the batch
//! (or of its decompressed records), so iterating allocates nothing per
//! record except a headers `Vec` when a record has headers (KIP-82 headers
//! keep their order and duplicates).

use bytes::Bytes;

use crate::batch::TimestampType;
use crate::error::{Error, Result};
use crate::varint::{read_varint, read_varlong};

/// One record header (KIP-82).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Header {
    /// The key; Kafka declares it a string but we keep the bytes so that
    /// reading needs no allocation or UTF-8 scan. See [`Header::key_str`].
    pub key: Bytes,
    /// The value, `None` for a null header value.
    pub value: Option<Bytes>,
}

impl Header {
    /// The key as UTF-8.
    pub fn key_str(&self) -> Result<&str> {
        std::str::from_utf8(&self.key).map_err(|_| Error::InvalidHeaderKey)
    }
}

/// One decoded record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Record attributes (unused by Kafka so far, kept as read).
    pub attributes: i8,
    /// Timestamp relative to the batch's base timestamp.
    pub timestamp_delta: i64,
    /// Offset relative to the batch's base offset.
    pub offset_delta: i32,
    /// Absolute offset: base offset + offset delta (wrapping on hostile
    /// input; a validated batch cannot overflow).
    pub offset: i64,
    /// Effective timestamp: base timestamp + delta for CreateTime, the
    /// batch's max timestamp for LogAppendTime (Kafka's rule).
    pub timestamp: i64,
    /// Key, `None` when null.
    pub key: Option<Bytes>,
    /// Value, `None` when null (a tombstone on compacted topics).
    pub value: Option<Bytes>,
    /// Headers in wire order, duplicates kept.
    pub headers: Vec<Header>,
}

/// The batch fields a record needs to compute absolute values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BatchContext {
    /// Batch base offset.
    pub base_offset: i64,
    /// Batch base timestamp.
    pub base_timestamp: i64,
    /// Batch max timestamp.
    pub max_timestamp: i64,
    /// Batch timestamp type.
    pub timestamp_type: TimestampType,
}

/// Iterator over the records of one batch. Yields `Err` at most once and
/// then stops: on a malformed record, when the data runs out before the
/// declared count, or when bytes remain after the last record (both as
/// Kafka's Java reader does).
#[derive(Debug, Clone)]
pub struct Records {
    data: Bytes,
    pos: usize,
    remaining: i32,
    declared: i32,
    ctx: BatchContext,
    done: bool,
}

impl Records {
    /// Iterates `count` records in `data` (an uncompressed records
    /// section).
    pub fn new(data: Bytes, count: i32, ctx: BatchContext) -> Self {
        Records {
            data,
            pos: 0,
            remaining: count.max(0),
            declared: count,
            ctx,
            done: false,
        }
    }

    /// The uncompressed records section being iterated.
    pub fn data(&self) -> &Bytes {
        &self.data
    }

    fn fail(&mut self, e: Error) -> Option<Result<Record>> {
        self.done = true;
        Some(Err(e))
    }
}

impl Iterator for Records {
    type Item = Result<Record>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        if self.remaining == 0 {
            self.done = true;
            let left = self.data.len() - self.pos;
            if left != 0 {
                return Some(Err(Error::TrailingBytes(left)));
            }
            return None;
        }
        if self.pos >= self.data.len() {
            let found = self.declared - self.remaining;
            return self.fail(Error::MissingRecords {
                declared: self.declared,
                found,
            });
        }
        match decode_record(&self.data, &mut self.pos, &self.ctx) {
            Ok(r) => {
                self.remaining -= 1;
                Some(Ok(r))
            }
            // Inside a complete batch, running out of bytes is corruption;
            // keep `Truncated` for the splitter's partial-tail meaning.
            Err(Error::Truncated { needed, available }) => {
                self.fail(Error::RecordTruncated { needed, available })
            }
            Err(e) => self.fail(e),
        }
    }
}

impl std::iter::FusedIterator for Records {}

/// Reads a length-prefixed byte field: -1 is null, other negatives are
/// errors, and the length must fit in `end`.
#[inline]
fn read_nullable(
    data: &Bytes,
    pos: &mut usize,
    end: usize,
    field: &'static str,
) -> Result<Option<Bytes>> {
    let len = read_varint(&data[..end], pos)?;
    if len == -1 {
        return Ok(None);
    }
    read_sized(data, pos, end, len, field).map(Some)
}

#[inline]
fn read_sized(
    data: &Bytes,
    pos: &mut usize,
    end: usize,
    len: i32,
    field: &'static str,
) -> Result<Bytes> {
    let Ok(len) = usize::try_from(len) else {
        return Err(Error::InvalidLength {
            field,
            value: i64::from(len),
        });
    };
    if len > end - *pos {
        return Err(Error::InvalidLength {
            field,
            value: len as i64,
        });
    }
    let start = *pos;
    *pos += len;
    Ok(data.slice(start..start + len))
}

/// Decodes one record at `data[*pos..]`, advancing `pos` past it.
pub(crate) fn decode_record(data: &Bytes, pos: &mut usize, ctx: &BatchContext) -> Result<Record> {
    let len = read_varint(data, pos)?;
    let len = usize::try_from(len).map_err(|_| Error::InvalidLength {
        field: "record length",
        value: i64::from(len),
    })?;
    let body_start = *pos;
    if len > data.len() - body_start {
        return Err(Error::RecordTruncated {
            needed: len,
            available: data.len() - body_start,
        });
    }
    let end = body_start + len;
    // Every read below is bounded by `end`: a record cannot borrow bytes
    // from its neighbour.
    let bounded = &data[..end];
    let Some(&attributes) = bounded.get(*pos) else {
        return Err(Error::Truncated {
            needed: 1,
            available: 0,
        });
    };
    *pos += 1;
    let timestamp_delta = read_varlong(bounded, pos)?;
    let offset_delta = read_varint(bounded, pos)?;
    let key = read_nullable(data, pos, end, "key length")?;
    let value = read_nullable(data, pos, end, "value length")?;
    let header_count = read_varint(bounded, pos)?;
    let headers = if header_count == 0 {
        Vec::new()
    } else {
        // A header needs at least 2 bytes (two one-byte lengths), so a count
        // above half the remaining bytes is a lie: refuse it before sizing
        // the Vec from it.
        let Ok(count) = usize::try_from(header_count) else {
            return Err(Error::InvalidLength {
                field: "header count",
                value: i64::from(header_count),
            });
        };
        if count > (end - *pos) / 2 {
            return Err(Error::InvalidLength {
                field: "header count",
                value: i64::from(header_count),
            });
        }
        let mut headers = Vec::with_capacity(count);
        for _ in 0..count {
            let key_len = read_varint(bounded, pos)?;
            let key = read_sized(data, pos, end, key_len, "header key length")?;
            let value = read_nullable(data, pos, end, "header value length")?;
            headers.push(Header { key, value });
        }
        headers
    };
    if *pos != end {
        return Err(Error::RecordLengthMismatch {
            declared: len,
            used: *pos - body_start,
        });
    }
    let timestamp = match ctx.timestamp_type {
        TimestampType::LogAppendTime => ctx.max_timestamp,
        TimestampType::CreateTime => ctx.base_timestamp.wrapping_add(timestamp_delta),
    };
    Ok(Record {
        attributes: attributes as i8,
        timestamp_delta,
        offset_delta,
        offset: ctx.base_offset.wrapping_add(i64::from(offset_delta)),
        timestamp,
        key,
        value,
        headers,
    })
}
