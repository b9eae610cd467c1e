//! Reusable buffers for [`crate::Log::read`].
//!
//! A read `pread`s whole batches into memory, and `pread` needs an
//! initialised buffer: zeroing a fresh megabyte for every fetch was 6-10%
//! of the broker's CPU while consumers read (docs/benchmarks.md). Large
//! reads therefore take a buffer from a small pool and hand it out inside
//! the returned `Bytes`; when the last `Bytes` that shares it is dropped
//! (after the fetch response is written), the buffer goes back to the pool
//! with its bytes still initialised, so a steady stream of fetches zeroes
//! nothing. The pool holds at most `POOLED` buffers of at most
//! `MAX_POOLED_LEN` bytes each; small reads use a plain zeroed buffer.

use std::sync::Mutex;

use bytes::Bytes;

/// Reads below this size are cheap to zero: no pooling.
const MIN_POOLED_LEN: usize = 64 * 1024;
/// Reads above this size allocate as before (and are not kept).
const MAX_POOLED_LEN: usize = 2 * 1024 * 1024;
/// Idle buffers kept for reuse (at most `POOLED * MAX_POOLED_LEN` bytes).
const POOLED: usize = 16;

pub(crate) struct Pool(Mutex<Vec<Vec<u8>>>);

impl Pool {
    pub(crate) const fn new() -> Pool {
        Pool(Mutex::new(Vec::new()))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Vec<u8>>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The pool `Log::read` uses.
pub(crate) static POOL: Pool = Pool::new();

/// An initialised buffer of a requested length, pooled when large.
pub(crate) struct ReadBuf {
    vec: Vec<u8>,
    len: usize,
    pool: &'static Pool,
}

impl ReadBuf {
    pub(crate) fn new(len: usize, pool: &'static Pool) -> ReadBuf {
        let mut vec = if (MIN_POOLED_LEN..=MAX_POOLED_LEN).contains(&len) {
            pool.lock().pop().unwrap_or_default()
        } else {
            Vec::new()
        };
        if vec.len() < len {
            vec.reserve_exact(len - vec.len());
            vec.resize(len, 0);
        }
        ReadBuf { vec, len, pool }
    }

    /// The first `len` bytes as the buffer's `Bytes`.
    pub(crate) fn freeze(self, len: usize) -> Bytes {
        let len = len.min(self.len);
        Bytes::from_owner(Pooled {
            vec: self.vec,
            len,
            pool: self.pool,
        })
    }
}

impl std::ops::Deref for ReadBuf {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.vec[..self.len]
    }
}

impl std::ops::DerefMut for ReadBuf {
    fn deref_mut(&mut self) -> &mut [u8] {
        &mut self.vec[..self.len]
    }
}

/// Owns a buffer behind a `Bytes`; returns it to the pool when dropped.
struct Pooled {
    vec: Vec<u8>,
    len: usize,
    pool: &'static Pool,
}

impl AsRef<[u8]> for Pooled {
    fn as_ref(&self) -> &[u8] {
        &self.vec[..self.len]
    }
}

impl Drop for Pooled {
    fn drop(&mut self) {
        if (MIN_POOLED_LEN..=MAX_POOLED_LEN).contains(&self.vec.len()) {
            let mut pool = self.pool.lock();
            if pool.len() < POOLED {
                pool.push(std::mem::take(&mut self.vec));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn test_pool() -> &'static Pool {
        Box::leak(Box::new(Pool::new()))
    }

    #[test]
    fn buffers_go_back_to_the_pool_when_the_last_bytes_is_dropped() {
        let pool = test_pool();
        let mut a = ReadBuf::new(100 * 1024, pool);
        assert_eq!(a.len(), 100 * 1024);
        a[..3].copy_from_slice(b"abc");
        let bytes = a.freeze(3);
        assert_eq!(&bytes[..], b"abc");
        let ptr = bytes.as_ptr();
        let tail = bytes.slice(1..);
        drop(bytes);
        assert!(pool.lock().is_empty(), "still shared by `tail`");
        assert_eq!(&tail[..], b"bc");
        drop(tail);
        assert_eq!(pool.lock().len(), 1);
        // Reused as it was (no zeroing), at any length up to what it holds.
        let b = ReadBuf::new(80 * 1024, pool);
        assert_eq!(b.as_ptr(), ptr);
        assert_eq!(b.len(), 80 * 1024);
        assert_eq!(&b[..3], b"abc");
        drop(b); // never frozen: not returned
        assert!(pool.lock().is_empty());
    }

    #[test]
    fn the_pool_is_bounded_and_small_and_huge_reads_bypass_it() {
        let pool = test_pool();
        let held: Vec<Bytes> = (0..POOLED + 4)
            .map(|_| ReadBuf::new(MIN_POOLED_LEN, pool).freeze(1))
            .collect();
        drop(held);
        assert_eq!(pool.lock().len(), POOLED);

        let pool = test_pool();
        let small = ReadBuf::new(10, pool);
        assert_eq!(&small[..], &[0u8; 10]);
        assert_eq!(small.freeze(20).len(), 10);
        let huge = ReadBuf::new(MAX_POOLED_LEN + 1, pool);
        assert!(huge.iter().all(|b| *b == 0));
        drop(huge.freeze(5));
        assert!(pool.lock().is_empty());
    }
}
