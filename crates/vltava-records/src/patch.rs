//! In-place edits of a batch's header, for the broker's produce path.
//!
//! Base offset and partition leader epoch lie outside the CRC (the CRC
//! starts at the attributes precisely so the leader can assign them without
//! rehashing), so setting them is two O(1) stores. Max timestamp and the
//! timestamp-type bit are inside it, so [`set_max_timestamp`] recomputes the
//! CRC in one pass over the batch.
//!
//! Every function takes `&mut [u8]` (a `BytesMut` derefs to it) starting at
//! the batch and checks the header is there; none re-encodes anything.

use crate::batch::{batch_size, offsets, Attributes, TimestampType, BATCH_HEADER_LEN};
use crate::error::{Error, Result};

fn require_header(buf: &[u8]) -> Result<()> {
    if buf.len() < BATCH_HEADER_LEN {
        return Err(Error::Truncated {
            needed: BATCH_HEADER_LEN,
            available: buf.len(),
        });
    }
    Ok(())
}

/// Sets the base offset. O(1); the CRC stays valid.
pub fn set_base_offset(buf: &mut [u8], base_offset: i64) -> Result<()> {
    require_header(buf)?;
    buf[offsets::BASE_OFFSET..offsets::BASE_OFFSET + 8].copy_from_slice(&base_offset.to_be_bytes());
    Ok(())
}

/// Sets the partition leader epoch. O(1); the CRC stays valid.
pub fn set_partition_leader_epoch(buf: &mut [u8], epoch: i32) -> Result<()> {
    require_header(buf)?;
    buf[offsets::PARTITION_LEADER_EPOCH..offsets::PARTITION_LEADER_EPOCH + 4]
        .copy_from_slice(&epoch.to_be_bytes());
    Ok(())
}

/// Sets the max timestamp and timestamp-type bit, then rewrites the CRC.
/// Like Kafka's `DefaultRecordBatch.setMaxTimestamp`, it does nothing
/// (and skips the CRC pass) when both already have those values.
///
/// The batch's extent is taken from its length field, so `buf` may hold
/// more bytes after it; the batch itself must be complete.
pub fn set_max_timestamp(
    buf: &mut [u8],
    timestamp_type: TimestampType,
    max_timestamp: i64,
) -> Result<()> {
    let size = batch_size(buf)?;
    if size > buf.len() {
        return Err(Error::Truncated {
            needed: size,
            available: buf.len(),
        });
    }
    let at = offsets::ATTRIBUTES;
    let old_attrs = i16::from_be_bytes([buf[at], buf[at + 1]]);
    let attrs = match timestamp_type {
        TimestampType::LogAppendTime => old_attrs | Attributes::TIMESTAMP_TYPE,
        TimestampType::CreateTime => old_attrs & !Attributes::TIMESTAMP_TYPE,
    };
    let ts = max_timestamp.to_be_bytes();
    let ts_range = offsets::MAX_TIMESTAMP..offsets::MAX_TIMESTAMP + 8;
    if attrs == old_attrs && buf[ts_range.clone()] == ts {
        return Ok(());
    }
    buf[at..at + 2].copy_from_slice(&attrs.to_be_bytes());
    buf[ts_range].copy_from_slice(&ts);
    write_crc(&mut buf[..size]);
    Ok(())
}

/// Stamps LogAppendTime: sets the timestamp type to LogAppendTime and the
/// max timestamp to `append_time` (the broker's clock), rewriting the CRC.
/// Consumers then report `append_time` for every record of the batch.
pub fn set_log_append_time(buf: &mut [u8], append_time: i64) -> Result<()> {
    set_max_timestamp(buf, TimestampType::LogAppendTime, append_time)
}

/// Recomputes and stores the CRC of the batch at the start of `buf`.
pub fn recompute_crc(buf: &mut [u8]) -> Result<u32> {
    let size = batch_size(buf)?;
    if size > buf.len() {
        return Err(Error::Truncated {
            needed: size,
            available: buf.len(),
        });
    }
    Ok(write_crc(&mut buf[..size]))
}

fn write_crc(batch: &mut [u8]) -> u32 {
    let crc = crc32c::crc32c(&batch[offsets::ATTRIBUTES..]);
    batch[offsets::CRC..offsets::CRC + 4].copy_from_slice(&crc.to_be_bytes());
    crc
}
