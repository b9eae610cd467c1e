//! The one error type of this crate.
//!
//! Every decoder here reads untrusted bytes, so every failure is a value of
//! [`Error`], never a panic. Variants carry the numbers that were wrong so a
//! broker can log something useful and pick the right Kafka error code
//! (`CORRUPT_MESSAGE`, `INVALID_RECORD`, `UNSUPPORTED_COMPRESSION_TYPE`, ...).

use std::fmt;

use crate::compression::Compression;

/// Result alias used throughout the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong while reading, patching or writing batches.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The buffer ends before the structure does. When a buffer of batches
    /// ends in the middle of one this is the *truncated tail* case: a fetch
    /// response may legitimately end that way, so callers can tell it apart
    /// from corruption with [`Error::is_truncated`].
    Truncated {
        /// Bytes the structure needs, counted from its start.
        needed: usize,
        /// Bytes that were there.
        available: usize,
    },
    /// The batch length field is negative or smaller than a v2 header.
    InvalidBatchLength(i32),
    /// A legacy message set (magic 0 or 1). Vltava only speaks record
    /// batches (magic 2), as Kafka 4.0 does; clients that old are refused
    /// rather than misparsed.
    LegacyMessageSet {
        /// The magic byte found (0 or 1).
        magic: i8,
    },
    /// A magic byte that is neither legacy nor 2.
    UnsupportedMagic(i8),
    /// The stored CRC-32C does not match the bytes.
    CrcMismatch {
        /// CRC found in the header.
        stored: u32,
        /// CRC computed over attributes..end.
        computed: u32,
    },
    /// The record count is negative or cannot fit the batch.
    InvalidRecordCount {
        /// Records the header declares.
        count: i32,
        /// Why it was refused.
        reason: &'static str,
    },
    /// `baseOffset + lastOffsetDelta` overflows, or the delta is negative in
    /// a non-empty batch.
    InvalidOffsetDelta {
        /// The header's last offset delta.
        last_offset_delta: i32,
    },
    /// Compression codec id 5..7 in the attributes.
    UnknownCompression(u8),
    /// A varint or varlong runs past its maximum encoded length.
    VarintOverflow,
    /// A length or count field inside a record is out of range.
    InvalidLength {
        /// Which field.
        field: &'static str,
        /// The value read.
        value: i64,
    },
    /// A record's declared length does not match what its fields occupy.
    RecordLengthMismatch {
        /// The record's length prefix.
        declared: usize,
        /// Bytes its fields actually used.
        used: usize,
    },
    /// A record's fields run past the end of the record, or a record runs
    /// past the end of the records section. This is corruption, never a
    /// truncated tail: the batch around it was complete.
    RecordTruncated {
        /// Bytes the field needed.
        needed: usize,
        /// Bytes that were left.
        available: usize,
    },
    /// Bytes remain after the last record of a batch.
    TrailingBytes(usize),
    /// The records section ran out before `record_count` records were read.
    MissingRecords {
        /// Records the header declares.
        declared: i32,
        /// Records actually found.
        found: i32,
    },
    /// Decompressed output would exceed the configured limit.
    DecompressedTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// The compressed payload is malformed.
    Decompression {
        /// Codec that failed.
        codec: Compression,
        /// Library message (errors only, so the allocation is fine).
        message: String,
    },
    /// Compressing failed (only I/O-free library errors are possible).
    CompressionFailed {
        /// Codec that failed.
        codec: Compression,
        /// Library message.
        message: String,
    },
    /// The builder was asked for something the format cannot represent
    /// (a batch over 2 GiB, a key over i32::MAX, a timestamp delta overflow).
    Unrepresentable(&'static str),
    /// A control record whose key or value is not a valid control record.
    InvalidControlRecord(&'static str),
    /// A header key that is not UTF-8 (Kafka header keys are strings).
    InvalidHeaderKey,
}

impl Error {
    /// True when the input simply ended early (a partial batch at the end of
    /// a fetch response), as opposed to bytes that are wrong.
    pub fn is_truncated(&self) -> bool {
        matches!(self, Error::Truncated { .. })
    }

    /// True when the error says the data is corrupt (the broker answers
    /// `CORRUPT_MESSAGE`); false for truncation, limits and unsupported
    /// features.
    pub fn is_corrupt(&self) -> bool {
        !matches!(
            self,
            Error::Truncated { .. }
                | Error::LegacyMessageSet { .. }
                | Error::UnsupportedMagic(_)
                | Error::UnknownCompression(_)
                | Error::DecompressedTooLarge { .. }
                | Error::CompressionFailed { .. }
                | Error::Unrepresentable(_)
        )
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Truncated { needed, available } => {
                write!(f, "truncated: need {needed} bytes, have {available}")
            }
            Error::InvalidBatchLength(len) => write!(f, "invalid record batch length {len}"),
            Error::LegacyMessageSet { magic } => write!(
                f,
                "legacy message set (magic {magic}) is not supported; only record batches (magic 2) are"
            ),
            Error::UnsupportedMagic(m) => write!(f, "unsupported record batch magic {m}"),
            Error::CrcMismatch { stored, computed } => write!(
                f,
                "record batch CRC mismatch: stored {stored:#010x}, computed {computed:#010x}"
            ),
            Error::InvalidRecordCount { count, reason } => {
                write!(f, "invalid record count {count}: {reason}")
            }
            Error::InvalidOffsetDelta { last_offset_delta } => {
                write!(f, "invalid last offset delta {last_offset_delta}")
            }
            Error::UnknownCompression(id) => write!(f, "unknown compression codec id {id}"),
            Error::VarintOverflow => f.write_str("varint longer than its maximum encoded size"),
            Error::InvalidLength { field, value } => write!(f, "invalid {field} {value}"),
            Error::RecordLengthMismatch { declared, used } => write!(
                f,
                "record declares {declared} bytes but its fields use {used}"
            ),
            Error::RecordTruncated { needed, available } => write!(
                f,
                "record field needs {needed} bytes but only {available} remain"
            ),
            Error::TrailingBytes(n) => write!(f, "{n} bytes left after the last record"),
            Error::MissingRecords { declared, found } => write!(
                f,
                "batch declares {declared} records but only {found} are present"
            ),
            Error::DecompressedTooLarge { limit } => {
                write!(f, "decompressed records exceed the limit of {limit} bytes")
            }
            Error::Decompression { codec, message } => {
                write!(f, "{} decompression failed: {message}", codec.name())
            }
            Error::CompressionFailed { codec, message } => {
                write!(f, "{} compression failed: {message}", codec.name())
            }
            Error::Unrepresentable(what) => write!(f, "cannot encode: {what}"),
            Error::InvalidControlRecord(what) => write!(f, "invalid control record: {what}"),
            Error::InvalidHeaderKey => f.write_str("record header key is not UTF-8"),
        }
    }
}

impl std::error::Error for Error {}
