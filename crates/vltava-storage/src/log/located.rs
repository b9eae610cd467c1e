//! Batches found but not yet read: what [`Log::locate`](super::Log::locate)
//! returns. A fetch either reads them into memory ([`Located::load`]) or,
//! on a plaintext connection, has the kernel send them from the page cache
//! to the socket (`sendfile`, Kafka's zero-copy transfer), so the bytes are
//! never copied through the broker's memory.
//!
//! Both ways must never hand a client bytes that a truncation rewrote after
//! the batches were planned (a leader that became a follower cuts its
//! divergent tail, then appends the new leader's records at the same file
//! positions). `load` checks the batches it read against the plan; a
//! sender cannot look at bytes it never touches, so it asks
//! [`Located::unchanged`] instead, after the bytes went out and before the
//! answer is complete. Truncation makes the log's rewrite count odd before
//! it cuts anything and even again after, so an unchanged, even count
//! means nothing was rewritten since the plan.

use std::fs::File;
use std::io::ErrorKind;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use vltava_records::BatchSplitter;

use super::ReadResult;
use crate::error::{Error, Result};
use crate::readbuf::{self, ReadBuf};

/// A byte range of one segment file: whole batches.
#[derive(Debug, Clone)]
pub struct FileSlice {
    /// The segment's file, kept open: a segment deleted or replaced by the
    /// cleaner after the plan is still read whole through it.
    pub file: Arc<File>,
    pub position: u64,
    pub len: u64,
    pub(super) path: PathBuf,
}

/// Whole batches of a log, as byte ranges of its segment files, in order.
#[derive(Debug)]
pub struct Located {
    pub(super) slices: Vec<FileSlice>,
    /// Base offset of every planned batch, to check what is read.
    pub(super) planned_bases: Vec<i64>,
    pub(super) len: u64,
    pub(super) records: u64,
    pub(super) start_offset: i64,
    pub(super) first_batch_offset: Option<i64>,
    pub(super) next_offset: i64,
    pub(super) log_start_offset: i64,
    pub(super) log_end_offset: i64,
    pub(super) rewrites: Arc<AtomicU64>,
    pub(super) rewrites_seen: u64,
}

impl Located {
    /// Bytes of all the ranges.
    pub fn len(&self) -> usize {
        self.len as usize
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The ranges, in log order.
    pub fn slices(&self) -> &[FileSlice] {
        &self.slices
    }

    /// Records in the planned batches, counted from their headers as
    /// offsets (last - base + 1 per batch, which is what a consumer is
    /// handed).
    pub fn record_count(&self) -> u64 {
        self.records
    }

    /// Offset after the last planned batch.
    pub fn next_offset(&self) -> i64 {
        self.next_offset
    }

    /// True when no truncation of the log began since the batches were
    /// planned (nor was one under way then): the files still hold at the
    /// planned positions the bytes the plan saw. A sender of the ranges
    /// asks this after sending them; a false answer means the client must
    /// not be given a complete response.
    pub fn unchanged(&self) -> bool {
        self.rewrites_seen % 2 == 0 && self.rewrites.load(Ordering::SeqCst) == self.rewrites_seen
    }

    /// Reads the planned batches into memory (one positioned read per
    /// range) and keeps the leading ones that are still where the plan
    /// saw them: a truncation between plan and read may have changed the
    /// bytes. What is kept is returned as [`ReadResult`].
    pub fn load(self) -> Result<ReadResult> {
        let mut result = ReadResult {
            records: Bytes::new(),
            first_batch_offset: None,
            next_offset: self.start_offset,
            log_start_offset: self.log_start_offset,
            log_end_offset: self.log_end_offset,
        };
        if self.slices.is_empty() {
            return Ok(result);
        }
        let mut buf = ReadBuf::new(self.len as usize, &readbuf::POOL);
        let mut at = 0usize;
        for slice in &self.slices {
            let dst = &mut buf[at..at + slice.len as usize];
            match slice.file.read_exact_at(dst, slice.position) {
                Ok(()) => at += slice.len as usize,
                Err(e) if e.kind() == ErrorKind::UnexpectedEof => break,
                Err(e) => {
                    return Err(Error::Io {
                        op: "read",
                        path: slice.path.clone(),
                        source: e,
                    })
                }
            }
        }
        // (Offsets may have gaps where the cleaner removed batches.)
        let bytes = buf.freeze(at);
        let mut keep = 0usize;
        let mut last_next = self.start_offset;
        for (b, &planned) in BatchSplitter::new(bytes.clone()).zip(&self.planned_bases) {
            let Ok(b) = b else { break };
            if b.base_offset() != planned {
                break;
            }
            keep += b.size_in_bytes();
            last_next = b.next_offset();
        }
        if keep == 0 {
            return Ok(result);
        }
        result.records = bytes.slice(..keep);
        result.first_batch_offset = self.first_batch_offset;
        result.next_offset = last_next;
        Ok(result)
    }
}

/// Marks an in-place rewrite of a log's segment bytes (a truncation) for
/// as long as it lives: the count is odd from its start to its end (also
/// when the truncation fails half-way and returns early).
pub(super) struct Rewriting<'a>(&'a AtomicU64);

impl<'a> Rewriting<'a> {
    pub(super) fn begin(count: &'a AtomicU64) -> Rewriting<'a> {
        count.fetch_add(1, Ordering::SeqCst);
        Rewriting(count)
    }
}

impl Drop for Rewriting<'_> {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}
