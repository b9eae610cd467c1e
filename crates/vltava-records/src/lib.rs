//! Kafka record batches (magic v2) and their compression codecs.
//!
//! Bytes in, bytes out: no I/O, no clocks. Everything that reads bytes
//! treats them as hostile: lengths and counts are checked against the bytes
//! actually present before use, nothing is allocated in proportion to a
//! number read from the wire before the bytes backing it were seen, and
//! decompression is capped by an explicit limit.
//!
//! * [`batch`] — [`RecordBatch`], a zero-copy view of one batch with every
//!   header field, [`RecordBatch::validate`], and [`BatchSplitter`] over a
//!   buffer of concatenated batches (truncated tail vs corruption, legacy
//!   message sets refused).
//! * [`patch`] — in-place header edits for the produce path (base offset,
//!   leader epoch, LogAppendTime + CRC).
//! * [`record`] — [`Records`], the iterator over a batch's records.
//! * [`builder`] — [`RecordBatchBuilder`].
//! * [`control`] — transaction markers and other control records.
//! * [`compression`] — gzip, snappy (raw and xerial), lz4 frame, zstd.
//! * [`varint`] — Kafka's zigzag varints.
//! * [`error`] — the one [`Error`] type.
//!
//! Interoperability notes, test map and benchmark figures (with the
//! command that produced them) are in the crate's README.md.

pub mod batch;
pub mod builder;
pub mod compression;
pub mod control;
pub mod error;
pub mod patch;
pub mod record;
pub mod varint;

pub use batch::{Attributes, BatchSplitter, RecordBatch, TimestampType};
pub use builder::RecordBatchBuilder;
pub use compression::Compression;
pub use control::{ControlRecordType, EndTxnMarker};
pub use error::{Error, Result};
pub use record::{Header, Record, Records};
