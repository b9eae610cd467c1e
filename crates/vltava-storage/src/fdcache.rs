//! A bounded cache of open read-only segment files.
//!
//! Every segment has a [`FileSlot`]. The active segment's slot is *pinned*:
//! it holds the read-write handle the log appends through and is not
//! counted here. An older segment's slot is empty until a read needs it;
//! then the file is opened read-only and registered with the [`FdCache`],
//! which closes the least recently used registered file when more than
//! `max_open` are open. A reader that already cloned the `Arc<File>` keeps
//! it open until its read finishes, so the bound can be exceeded briefly by
//! the number of reads in flight.
//!
//! Lock order: the cache's map, then a slot's file. A slot's lock is never
//! held while the cache's is taken.

use std::collections::HashMap;
use std::fs::File;
use std::io;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};

/// Default `max_open_segment_files`.
pub const DEFAULT_MAX_OPEN_SEGMENT_FILES: usize = 1024;

/// Shared by all logs of a [`crate::LogManager`].
#[derive(Debug)]
pub struct FdCache {
    max_open: usize,
    tick: AtomicU64,
    next_id: AtomicU64,
    open: Mutex<HashMap<u64, Weak<FileSlot>>>,
}

impl FdCache {
    /// A cache that keeps at most `max_open` (at least 1) read-only segment
    /// files open.
    pub fn new(max_open: usize) -> Arc<FdCache> {
        Arc::new(FdCache {
            max_open: max_open.max(1),
            tick: AtomicU64::new(0),
            next_id: AtomicU64::new(0),
            open: Mutex::new(HashMap::new()),
        })
    }

    /// The bound.
    pub fn max_open(&self) -> usize {
        self.max_open
    }

    /// Read-only files currently open through the cache.
    pub fn open_count(&self) -> usize {
        lock(&self.open).len()
    }

    pub(crate) fn new_slot(&self, path: PathBuf) -> Arc<FileSlot> {
        Arc::new(FileSlot {
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            path,
            file: Mutex::new(None),
            pinned: Mutex::new(false),
            retired: AtomicBool::new(false),
            last_used: AtomicU64::new(0),
        })
    }

    fn register(&self, slot: &Arc<FileSlot>) {
        let mut open = lock(&self.open);
        open.insert(slot.id, Arc::downgrade(slot));
        if open.len() <= self.max_open {
            return;
        }
        open.retain(|_, w| w.strong_count() > 0);
        while open.len() > self.max_open {
            let victim = open
                .iter()
                .filter(|(&id, _)| id != slot.id)
                .filter_map(|(&id, w)| w.upgrade().map(|s| (id, s)))
                .min_by_key(|(_, s)| s.last_used.load(Ordering::Relaxed));
            let Some((id, victim)) = victim else { break };
            open.remove(&id);
            *lock(&victim.file) = None;
        }
    }

    fn forget(&self, id: u64) {
        lock(&self.open).remove(&id);
    }
}

/// The open file of one segment, if any.
#[derive(Debug)]
pub(crate) struct FileSlot {
    id: u64,
    path: PathBuf,
    file: Mutex<Option<Arc<File>>>,
    pinned: Mutex<bool>,
    /// The segment was replaced by a cleaned one under the same file name:
    /// reopening the path would give another segment's bytes.
    retired: AtomicBool,
    last_used: AtomicU64,
}

impl FileSlot {
    /// The segment's file for reading: the pinned handle, a cached one, or
    /// a freshly opened read-only one.
    pub fn get(self: &Arc<Self>, cache: &FdCache) -> io::Result<Arc<File>> {
        self.last_used.store(
            cache.tick.fetch_add(1, Ordering::Relaxed),
            Ordering::Relaxed,
        );
        {
            let mut g = lock(&self.file);
            if let Some(f) = &*g {
                return Ok(f.clone());
            }
            if self.retired.load(Ordering::Acquire) {
                return Err(io::Error::new(io::ErrorKind::NotFound, Retired));
            }
            let f = Arc::new(File::open(&self.path)?);
            *g = Some(f.clone());
            if *lock(&self.pinned) {
                return Ok(f);
            }
            drop(g);
            cache.register(self);
            Ok(f)
        }
    }

    /// Installs the active segment's read-write handle; it stays open and
    /// uncounted until [`unpin`](Self::unpin).
    pub fn pin(&self, cache: &FdCache, file: Arc<File>) {
        cache.forget(self.id);
        *lock(&self.pinned) = true;
        *lock(&self.file) = Some(file);
    }

    /// Closes the handle for good: [`get`](Self::get) fails with
    /// [`is_retired`] from now on (readers holding a clone keep theirs).
    pub fn retire(&self, cache: &FdCache) {
        let mut g = lock(&self.file);
        self.retired.store(true, Ordering::Release);
        cache.forget(self.id);
        *lock(&self.pinned) = false;
        *g = None;
    }

    /// Closes the handle (readers holding a clone keep theirs); later
    /// reads go through the cache.
    pub fn unpin(&self, cache: &FdCache) {
        cache.forget(self.id);
        *lock(&self.pinned) = false;
        *lock(&self.file) = None;
    }
}

/// The error inside `get`'s `io::Error` for a retired slot.
#[derive(Debug)]
struct Retired;

impl std::fmt::Display for Retired {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("segment replaced by the log cleaner")
    }
}

impl std::error::Error for Retired {}

/// Whether `get` failed because the slot was retired.
pub(crate) fn is_retired(e: &io::Error) -> bool {
    e.get_ref().is_some_and(|inner| inner.is::<Retired>())
}

/// Locks ignoring poisoning: the data behind our mutexes stays consistent
/// at every await-free step, so a panic elsewhere does not invalidate it.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_closes_least_recently_used() {
        let dir = tempfile::tempdir().unwrap();
        let cache = FdCache::new(2);
        let slots: Vec<_> = (0..4)
            .map(|i| {
                let p = dir.path().join(format!("{i}.log"));
                std::fs::write(&p, b"x").unwrap();
                cache.new_slot(p)
            })
            .collect();
        slots[0].get(&cache).unwrap();
        slots[1].get(&cache).unwrap();
        assert_eq!(cache.open_count(), 2);
        slots[0].get(&cache).unwrap(); // 0 is now newer than 1
        slots[2].get(&cache).unwrap(); // evicts 1
        assert_eq!(cache.open_count(), 2);
        assert!(lock(&slots[1].file).is_none());
        assert!(lock(&slots[0].file).is_some());
        assert!(lock(&slots[2].file).is_some());
        // Pinned slots are not counted and not evicted.
        let f = Arc::new(File::open(dir.path().join("3.log")).unwrap());
        slots[3].pin(&cache, f);
        slots[1].get(&cache).unwrap();
        slots[0].get(&cache).unwrap();
        assert_eq!(cache.open_count(), 2);
        assert!(lock(&slots[3].file).is_some());
        slots[3].unpin(&cache);
        assert!(lock(&slots[3].file).is_none());
        // Dropped slots are cleaned up.
        drop(slots);
        let p = dir.path().join("9.log");
        std::fs::write(&p, b"x").unwrap();
        let s = cache.new_slot(p);
        s.get(&cache).unwrap();
        assert!(cache.open_count() <= 2);
    }
}
