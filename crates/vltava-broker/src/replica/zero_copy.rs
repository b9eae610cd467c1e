//! Fetched records that go from the page cache to the socket without
//! passing through the broker's memory: Kafka's zero-copy transfer.
//!
//! On a plaintext connection, a fetch does not read its records: it
//! locates them ([`vltava_storage::Located`], byte ranges of segment
//! files), and the connection hands those ranges to the kernel with
//! `sendfile` when it writes the answer. On loopback and on network cards
//! that gather, the kernel then copies nothing at all on the sending side.
//! For consumers of small records that matters: a fetch of 1 MiB read and
//! written through a buffer cost two copies, most of a fetch's CPU time,
//! and the consumer waited for them.
//!
//! The response structs carry records as `Bytes`, and the encoder measures
//! and splices them by identity (`vltava_protocol::header::
//! encode_response_sharing`). A located read therefore stands in the
//! response as a placeholder: a `Bytes` of the right length that points
//! into a reserved, never-written, read-only stretch of address space (it
//! costs no memory). [`ZeroCopy`] remembers which located read each
//! placeholder stands for, so the connection can swap them back when it
//! writes. A placeholder that got copied instead of spliced would send
//! zeros; the connection checks that every placeholder in an answer was
//! spliced before it writes anything (`ZeroCopy::placeholders_in`).

use std::sync::{Mutex, OnceLock};

use bytes::Bytes;
use vltava_storage::Located;

/// Located reads smaller than this are read into memory as before: a copy
/// of a few KiB costs less than the extra system calls of a file send.
pub const MIN_BYTES: usize = 16 * 1024;

/// Placeholders per request at most (each is one partition's read; a long
/// poll reads each partition again); beyond, reads are copied.
const MAX_PLACEHOLDERS: usize = 1 << 20;

/// The largest located read that gets a placeholder; larger ones (a
/// partition fetch above 2 GiB cannot be asked for) are copied.
const MAX_LEN: usize = i32::MAX as usize;

/// The reserved stretch placeholders point into: `MAX_LEN +
/// MAX_PLACEHOLDERS` bytes, so placeholder `k` of any length up to
/// `MAX_LEN` starts at byte `k` and placeholders are told apart by where
/// they start. `None` when the address space could not be reserved; then
/// every read is copied.
fn region() -> Option<&'static [u8]> {
    static REGION: OnceLock<Option<&'static [u8]>> = OnceLock::new();
    *REGION.get_or_init(|| {
        let len = MAX_LEN + MAX_PLACEHOLDERS;
        // SAFETY: a fresh private anonymous mapping, asked for with no
        // address hint; it does not alias anything. It is read-only and
        // NORESERVE, so it takes no memory and no commit charge (reading
        // it would see zero pages; nothing does, see the module comment).
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            tracing::warn!(
                "cannot reserve address space for zero-copy fetches ({}); fetched records will be copied",
                std::io::Error::last_os_error()
            );
            return None;
        }
        // SAFETY: the mapping is `len` readable bytes and is never unmapped,
        // so the slice is valid for the life of the process.
        Some(unsafe { std::slice::from_raw_parts(ptr as *const u8, len) })
    })
}

/// The located reads of one request, each standing in its response as a
/// placeholder. Made per request by the connection when its socket can
/// send files (a plaintext one); handlers reach it through their request
/// context.
#[derive(Debug, Default)]
pub struct ZeroCopy {
    /// By placeholder index; `None` once taken.
    reads: Mutex<Vec<Option<Located>>>,
}

impl ZeroCopy {
    pub fn new() -> ZeroCopy {
        ZeroCopy::default()
    }

    /// A placeholder for `located` to put in a response in place of its
    /// records, or the records themselves, read into memory, when the
    /// read is small, empty, or cannot have a placeholder.
    pub fn stand_in(&self, located: Located) -> vltava_storage::Result<Bytes> {
        if located.len() < MIN_BYTES || located.len() > MAX_LEN || !located.unchanged() {
            return Ok(located.load()?.records);
        }
        let Some(region) = region() else {
            return Ok(located.load()?.records);
        };
        let mut reads = self.reads.lock().unwrap_or_else(|e| e.into_inner());
        let k = reads.len();
        if k >= MAX_PLACEHOLDERS {
            drop(reads);
            return Ok(located.load()?.records);
        }
        let placeholder = Bytes::from_static(&region[k..k + located.len()]);
        reads.push(Some(located));
        Ok(placeholder)
    }

    /// The located read `records` stands in for, if it is one of this
    /// request's placeholders (taken out: each is sent once).
    pub fn take(&self, records: &[u8]) -> Option<Located> {
        let k = placeholder_index(records)?;
        let mut reads = self.reads.lock().unwrap_or_else(|e| e.into_inner());
        let slot = reads.get_mut(k)?;
        if slot.as_ref()?.len() != records.len() {
            return None;
        }
        slot.take()
    }

    /// The records a placeholder stands for, counted from their batch
    /// headers (the placeholder's own bytes say nothing).
    pub fn record_count(&self, records: &[u8]) -> Option<u64> {
        let k = placeholder_index(records)?;
        let reads = self.reads.lock().unwrap_or_else(|e| e.into_inner());
        reads.get(k)?.as_ref().map(Located::record_count)
    }
}

/// Whether `bytes` is a placeholder (of any request).
pub fn is_placeholder(bytes: &[u8]) -> bool {
    placeholder_index(bytes).is_some()
}

fn placeholder_index(bytes: &[u8]) -> Option<usize> {
    let region = region()?;
    if bytes.is_empty() {
        return None;
    }
    let at = bytes.as_ptr() as usize;
    at.checked_sub(region.as_ptr() as usize)
        .filter(|&k| k < MAX_PLACEHOLDERS)
}

#[cfg(test)]
mod tests {
    use vltava_records::RecordBatchBuilder;
    use vltava_storage::{Log, LogConfig, LogOpenOptions};

    use super::*;

    fn log_with(dir: &std::path::Path, batches: i32) -> Log {
        let log = Log::open(
            &dir.join("t-0"),
            LogConfig::default(),
            LogOpenOptions::default(),
            0,
        )
        .unwrap();
        for i in 0..batches {
            let mut b = RecordBatchBuilder::new();
            b.append(0, None, Some(&[b'v'; 1000]), &[]).unwrap();
            b.append(0, None, Some(&[b'w'; 1000]), &[]).unwrap();
            let _ = i;
            log.append_as_leader(b.build().unwrap(), 0, 0).unwrap();
        }
        log
    }

    #[test]
    fn large_reads_stand_in_as_placeholders_small_ones_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let log = log_with(dir.path(), 40);
        let zero_copy = ZeroCopy::new();
        let whole = log.read(0, 1 << 20, i64::MAX, false).unwrap().records;
        assert!(whole.len() >= MIN_BYTES);

        let small = zero_copy
            .stand_in(log.locate(0, 4000, i64::MAX, false).unwrap())
            .unwrap();
        assert!(!is_placeholder(&small));
        assert!(whole.starts_with(&small) && !small.is_empty());

        let first = zero_copy
            .stand_in(log.locate(0, 1 << 20, i64::MAX, false).unwrap())
            .unwrap();
        let second = zero_copy
            .stand_in(log.locate(2, 1 << 20, i64::MAX, false).unwrap())
            .unwrap();
        assert!(is_placeholder(&first) && is_placeholder(&second));
        assert_eq!(first.len(), whole.len());
        assert_ne!(
            first.as_ptr(),
            second.as_ptr(),
            "placeholders are told apart"
        );
        assert_eq!(zero_copy.record_count(&first), Some(80));
        assert_eq!(zero_copy.record_count(&second), Some(78));
        assert_eq!(zero_copy.record_count(&small), None);

        // Each placeholder gives its located read back once, and only for
        // its own length.
        assert!(zero_copy.take(&first[..first.len() - 1]).is_none());
        let located = zero_copy.take(&first).unwrap();
        assert_eq!(located.len(), whole.len());
        assert!(zero_copy.take(&first).is_none());
        assert_eq!(located.load().unwrap().records, whole);
        // Another request's table knows nothing of these.
        assert!(ZeroCopy::new().take(&second).is_none());
    }
}
