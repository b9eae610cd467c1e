//! Every log directory of a broker (`log.dirs`, JBOD): one [`LogManager`]
//! per directory, a partition's log in exactly one of them, new logs
//! placed in the online directory with the fewest, and replicas moved
//! between directories through future logs (AlterReplicaLogDirs).
//!
//! A move copies the current log into `<topic>-<partition>.<id>-future` in
//! the destination while the current one keeps serving; the caller seals
//! the current log, copies the rest and calls [`LogDirs::promote_future`],
//! which renames the current directory for deletion *before* it renames
//! the future one into place. A crash in between leaves only the future
//! log, complete and closed, which the next open promotes. A crash earlier
//! leaves the current log and an incomplete future log, which the next
//! open keeps for the broker to resume the copy; nothing is lost either
//! way.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use crate::checkpoint::{fsync_dir, TopicPartition, FUTURE_DIR_SUFFIX};
use crate::config::LogConfig;
use crate::error::{Error, Result};
use crate::fdcache::{lock, FdCache};
use crate::leader_epoch::{write_leader_epoch_checkpoint, LEADER_EPOCH_CHECKPOINT};
use crate::log::{CleanerLimits, Log, LogOpenOptions, PRODUCER_SNAPSHOT_SUFFIX};
use crate::manager::{CleanedLog, LogManager, LogManagerOptions};
use crate::uuid::KafkaUuid;

/// One log directory: where it is, its `directory.id` (KIP-858) and its
/// logs.
#[derive(Debug)]
pub struct LogDir {
    /// The directory.
    pub path: PathBuf,
    /// Its `directory.id` from `meta.properties`.
    pub id: KafkaUuid,
    /// Its logs.
    pub logs: LogManager,
    /// Set when an I/O error made the directory unusable: its logs are
    /// not served and no new log is placed in it (until restart).
    offline: AtomicBool,
}

impl LogDir {
    /// Whether the directory failed (see [`LogDirs::mark_offline`]).
    pub fn is_offline(&self) -> bool {
        self.offline.load(Ordering::Acquire)
    }
}

/// A replica being copied into another directory.
#[derive(Debug, Clone)]
pub struct FutureLog {
    /// The log being filled.
    pub log: Arc<Log>,
    /// Index of its directory in [`LogDirs::dirs`].
    pub dir: usize,
}

/// Every log directory of the broker.
#[derive(Debug)]
pub struct LogDirs {
    dirs: Vec<LogDir>,
    /// Future logs by partition.
    futures: Mutex<BTreeMap<TopicPartition, FutureLog>>,
    /// Where a replica not created yet goes (AlterReplicaLogDirs named a
    /// directory for it before this broker hosted it, as Kafka remembers).
    preferred: Mutex<BTreeMap<TopicPartition, usize>>,
    /// Where the next cleaning pass starts looking.
    next_to_clean: AtomicUsize,
}

impl LogDirs {
    /// Opens every directory (`(path, directory.id)`, in `log.dirs` order)
    /// with one file cache shared by all. A partition whose current log is
    /// in two directories is refused (as Kafka refuses to start): which
    /// copy is right cannot be told. A future log whose partition has a
    /// current log is an unfinished move, kept for the broker to resume
    /// ([`LogDirs::futures`]); one without is a move that crashed after the
    /// current log was renamed for deletion, and is promoted.
    pub fn open(
        dirs: &[(PathBuf, KafkaUuid)],
        opts: LogManagerOptions,
        now_ms: i64,
    ) -> Result<LogDirs> {
        if dirs.is_empty() {
            return Err(Error::InvalidConfig("no log directory".into()));
        }
        let fds = opts
            .fd_cache
            .clone()
            .unwrap_or_else(|| FdCache::new(opts.max_open_segment_files));
        let mut opened = Vec::with_capacity(dirs.len());
        for (path, id) in dirs {
            let logs = LogManager::open(
                path,
                LogManagerOptions {
                    fd_cache: Some(fds.clone()),
                    ..opts.clone()
                },
                now_ms,
            )?;
            opened.push(LogDir {
                path: path.clone(),
                id: *id,
                logs,
                offline: AtomicBool::new(false),
            });
        }
        let mut owner: BTreeMap<TopicPartition, usize> = BTreeMap::new();
        for (i, dir) in opened.iter().enumerate() {
            for log in dir.logs.logs() {
                if let Some(other) = owner.insert(log.topic_partition().clone(), i) {
                    return Err(Error::InvalidConfig(format!(
                        "the log of {} is in both {} and {}; delete the copy that is not current \
                         (a directory that failed recently holds the stale one)",
                        log.topic_partition(),
                        opened[other].path.display(),
                        dir.path.display()
                    )));
                }
            }
        }
        let log_dirs = LogDirs {
            dirs: opened,
            futures: Mutex::new(BTreeMap::new()),
            preferred: Mutex::new(BTreeMap::new()),
            next_to_clean: AtomicUsize::new(0),
        };
        for i in 0..log_dirs.dirs.len() {
            for (tp, path) in log_dirs.dirs[i].logs.take_found_futures() {
                if owner.contains_key(&tp) {
                    // An unfinished copy: opened (recovered) and kept for
                    // the broker to resume, after it checked the copy
                    // against the current log (which may have been cut
                    // since, and the cut not carried into the copy).
                    if lock(&log_dirs.futures).contains_key(&tp) {
                        tracing::warn!(future = %path.display(), "removing a second copy of one replica");
                        fs::remove_dir_all(&path).map_err(Error::io("remove dir", &path))?;
                        fsync_dir(&log_dirs.dirs[i].path)?;
                        continue;
                    }
                    let log = Log::open(
                        &path,
                        opts.default_config.clone(),
                        LogOpenOptions {
                            clean_shutdown: false,
                            recovery_point: 0,
                            log_start_offset: None,
                            topic_id: None,
                            fd_cache: Some(fds.clone()),
                        },
                        now_ms,
                    )?;
                    tracing::info!(future = %path.display(), "found an unfinished move between log directories; it resumes");
                    lock(&log_dirs.futures).insert(
                        tp,
                        FutureLog {
                            log: Arc::new(log),
                            dir: i,
                        },
                    );
                    continue;
                }
                tracing::info!(future = %path.display(), "finishing a move between log directories that a stop interrupted");
                let target = log_dirs.dirs[i].path.join(tp.dir_name());
                fs::rename(&path, &target).map_err(Error::io("rename", &path))?;
                fsync_dir(&log_dirs.dirs[i].path)?;
                // Recovered, not trusted: nothing here says how it stopped.
                log_dirs.dirs[i].logs.adopt_log(&tp, None, false, now_ms)?;
                owner.insert(tp, i);
            }
        }
        Ok(log_dirs)
    }

    /// The directories, in `log.dirs` order.
    pub fn dirs(&self) -> &[LogDir] {
        &self.dirs
    }

    /// The directory with this path, if it is one of ours.
    pub fn index_of_path(&self, path: &Path) -> Option<usize> {
        self.dirs.iter().position(|d| d.path == path)
    }

    /// Marks a directory failed: its logs stay open for the caller to stop
    /// serving, no log is created or moved into it any more.
    pub fn mark_offline(&self, dir: usize) {
        if let Some(d) = self.dirs.get(dir) {
            if !d.offline.swap(true, Ordering::AcqRel) {
                tracing::error!(dir = %d.path.display(), "log directory is offline: its replicas are not served until restart");
            }
        }
    }

    /// Takes an error from an operation on a log: an I/O error that means
    /// its directory failed ([`Error::is_dir_failure`]) marks that
    /// directory offline. Returns the directory's index when this error
    /// took it offline.
    pub fn note_error(&self, error: &Error) -> Option<usize> {
        if !error.is_dir_failure() {
            return None;
        }
        let path = error.io_path()?;
        let (index, dir) = self
            .dirs
            .iter()
            .enumerate()
            .filter(|(_, d)| path.starts_with(&d.path))
            .max_by_key(|(_, d)| d.path.as_os_str().len())?;
        if dir.is_offline() {
            return None;
        }
        tracing::error!(dir = %dir.path.display(), "I/O error in a log directory: {error}");
        self.mark_offline(index);
        Some(index)
    }

    /// Whether every directory is offline (the broker cannot go on).
    pub fn all_offline(&self) -> bool {
        self.dirs.iter().all(LogDir::is_offline)
    }

    /// The index of the directory holding a partition's current log.
    pub fn dir_of(&self, topic: &str, partition: i32) -> Option<usize> {
        self.dirs
            .iter()
            .position(|d| d.logs.get_log(topic, partition).is_some())
    }

    /// The current log of a partition.
    pub fn get_log(&self, topic: &str, partition: i32) -> Option<Arc<Log>> {
        self.dirs
            .iter()
            .find_map(|d| d.logs.get_log(topic, partition))
    }

    /// Every current log.
    pub fn logs(&self) -> Vec<Arc<Log>> {
        self.dirs.iter().flat_map(|d| d.logs.logs()).collect()
    }

    /// Remembers the directory a replica not hosted yet is to be created
    /// in.
    pub fn prefer(&self, tp: TopicPartition, dir: usize) {
        lock(&self.preferred).insert(tp, dir);
    }

    /// Creates the log of a partition (or returns its current one): in the
    /// directory AlterReplicaLogDirs named for it if that one is online,
    /// else in the online directory holding the fewest logs.
    pub fn create_log(
        &self,
        topic: &str,
        partition: i32,
        topic_id: KafkaUuid,
        config: LogConfig,
        now_ms: i64,
    ) -> Result<Arc<Log>> {
        if let Some(i) = self.dir_of(topic, partition) {
            return self.dirs[i]
                .logs
                .create_log(topic, partition, topic_id, config, now_ms);
        }
        let tp = TopicPartition::new(topic, partition)?;
        let preferred = lock(&self.preferred)
            .remove(&tp)
            .filter(|&i| !self.dirs[i].is_offline());
        let chosen = preferred
            .or_else(|| {
                (0..self.dirs.len())
                    .filter(|&i| !self.dirs[i].is_offline())
                    .min_by_key(|&i| self.dirs[i].logs.log_count())
            })
            .ok_or_else(|| Error::InvalidConfig("every log directory is offline".into()))?;
        self.dirs[chosen]
            .logs
            .create_log(topic, partition, topic_id, config, now_ms)
    }

    /// Deletes a partition's log (and a future log of it). Returns whether
    /// there was one.
    pub fn delete_log(&self, topic: &str, partition: i32) -> Result<bool> {
        if let Ok(tp) = TopicPartition::new(topic, partition) {
            lock(&self.preferred).remove(&tp);
            self.abandon_future(&tp)?;
        }
        match self.dir_of(topic, partition) {
            Some(i) => self.dirs[i].logs.delete_log(topic, partition),
            None => Ok(false),
        }
    }

    /// The future log of a partition being moved, if any.
    pub fn future(&self, tp: &TopicPartition) -> Option<FutureLog> {
        lock(&self.futures).get(tp).cloned()
    }

    /// Every future log.
    pub fn futures(&self) -> Vec<(TopicPartition, FutureLog)> {
        lock(&self.futures)
            .iter()
            .map(|(tp, f)| (tp.clone(), f.clone()))
            .collect()
    }

    /// Starts a move: an empty future log in directory `dir`, starting at
    /// `start_offset` (the current log's start). An existing future log of
    /// the partition in the same directory is returned; one in another
    /// directory is removed first (the newest request wins, as in Kafka).
    pub fn create_future_log(
        &self,
        tp: &TopicPartition,
        topic_id: KafkaUuid,
        config: LogConfig,
        dir: usize,
        start_offset: i64,
        now_ms: i64,
    ) -> Result<FutureLog> {
        if let Some(existing) = self.future(tp) {
            if existing.dir == dir {
                return Ok(existing);
            }
            self.abandon_future(tp)?;
        }
        let target = self
            .dirs
            .get(dir)
            .ok_or_else(|| Error::InvalidConfig(format!("no log directory {dir}")))?;
        if target.is_offline() {
            return Err(Error::InvalidConfig(format!(
                "log directory {} is offline",
                target.path.display()
            )));
        }
        let path = target.path.join(format!(
            "{}.{}{FUTURE_DIR_SUFFIX}",
            tp.dir_name(),
            KafkaUuid::random().to_hex()
        ));
        let log = Log::open(
            &path,
            config,
            LogOpenOptions {
                clean_shutdown: false,
                recovery_point: 0,
                log_start_offset: None,
                topic_id: Some(topic_id),
                fd_cache: Some(target.logs.fd_cache().clone()),
            },
            now_ms,
        )
        .and_then(|log| fsync_dir(&target.path).map(|()| log))?;
        if start_offset > 0 {
            log.truncate_fully_and_start_at(start_offset, now_ms)?;
        }
        let future = FutureLog {
            log: Arc::new(log),
            dir,
        };
        lock(&self.futures).insert(tp.clone(), future.clone());
        Ok(future)
    }

    /// Removes the future log of a partition, if any (a cancelled or
    /// failed move). Returns whether there was one.
    pub fn abandon_future(&self, tp: &TopicPartition) -> Result<bool> {
        let Some(future) = lock(&self.futures).remove(tp) else {
            return Ok(false);
        };
        future.log.close_for_delete();
        let path = future.log.dir().to_path_buf();
        fs::remove_dir_all(&path).map_err(Error::io("remove dir", &path))?;
        fsync_dir(&self.dirs[future.dir].path)?;
        Ok(true)
    }

    /// Finishes a move: `current` (this partition's current log) must be
    /// closed by the caller and the future log hold everything it holds.
    /// The future log gets the current one's leader epochs and producer
    /// snapshots and is closed; the current directory is renamed for
    /// deletion, the future one renamed to `<topic>-<partition>` and
    /// opened in its directory. Returns the new current log.
    pub fn promote_future(&self, current: &Log, now_ms: i64) -> Result<Arc<Log>> {
        let tp = current.topic_partition().clone();
        let future = self
            .future(&tp)
            .ok_or_else(|| Error::InvalidConfig(format!("{tp} has no future log")))?;
        if future.log.log_end_offset() != current.log_end_offset() {
            return Err(Error::InvalidConfig(format!(
                "{tp}: the future log ends at {}, the current one at {}",
                future.log.log_end_offset(),
                current.log_end_offset()
            )));
        }
        let source = self
            .dir_of(&tp.topic, tp.partition)
            .ok_or_else(|| Error::InvalidConfig(format!("{tp} has no current log")))?;
        let start = current
            .log_start_offset()
            .max(future.log.log_start_offset());
        future.log.close()?;
        let future_path = future.log.dir().to_path_buf();
        // The same leader epochs (entries without data after them, which
        // copying batches does not carry, included) and producer snapshots.
        write_leader_epoch_checkpoint(
            &future_path.join(LEADER_EPOCH_CHECKPOINT),
            &current.epoch_entries(),
        )?;
        copy_producer_snapshots(current.dir(), &future_path)?;
        fsync_dir(&future_path)?;
        // Current out first: from here a crash leaves only the future log,
        // which the next open promotes.
        self.dirs[source].logs.delete_log(&tp.topic, tp.partition)?;
        let target_dir = &self.dirs[future.dir].path;
        let target = target_dir.join(tp.dir_name());
        fs::rename(&future_path, &target).map_err(Error::io("rename", &future_path))?;
        fsync_dir(target_dir)?;
        lock(&self.futures).remove(&tp);
        self.dirs[future.dir]
            .logs
            .adopt_log(&tp, Some(start), true, now_ms)
    }

    /// Opens a partition's current log again after the caller closed it
    /// for a move that then failed (see [`LogManager::reopen_log`]).
    pub fn reopen_current(&self, tp: &TopicPartition, now_ms: i64) -> Result<Arc<Log>> {
        let i = self
            .dir_of(&tp.topic, tp.partition)
            .ok_or_else(|| Error::InvalidConfig(format!("{tp} has no current log")))?;
        self.dirs[i].logs.reopen_log(tp, now_ms)
    }

    // ------------------------------------------- the managers, all at once

    /// Writes every directory's recovery-point and log-start checkpoints.
    pub fn checkpoint_all(&self) -> Result<()> {
        self.each(|d| d.logs.checkpoint_all())
    }

    /// Writes each directory's high-watermark checkpoint with the
    /// partitions whose log it holds.
    pub fn write_high_watermarks(&self, hws: &BTreeMap<TopicPartition, i64>) -> Result<()> {
        self.each(|d| {
            let mine: BTreeMap<TopicPartition, i64> = hws
                .iter()
                .filter(|(tp, _)| d.logs.get_log(&tp.topic, tp.partition).is_some())
                .map(|(tp, hw)| (tp.clone(), *hw))
                .collect();
            d.logs.write_high_watermarks(&mine)
        })
    }

    /// Every directory's high-watermark checkpoint, merged. A damaged one
    /// is an error (see [`LogManager::read_high_watermarks`]).
    pub fn read_high_watermarks(&self) -> Result<BTreeMap<TopicPartition, i64>> {
        let mut all = BTreeMap::new();
        for d in self.online() {
            all.extend(d.logs.read_high_watermarks()?);
        }
        Ok(all)
    }

    /// fsyncs every log.
    pub fn flush_all(&self, now_ms: i64) -> Result<()> {
        self.each(|d| d.logs.flush_all(now_ms))
    }

    /// Applies every log's flush policy; returns how many flushed.
    pub fn maybe_flush_all(&self, now_ms: i64) -> Result<usize> {
        let mut n = 0;
        self.each(|d| d.logs.maybe_flush_all(now_ms).map(|k| n += k))?;
        Ok(n)
    }

    /// Stops cleaning passes in every directory (shutdown).
    pub fn stop_cleaning(&self) {
        for d in &self.dirs {
            d.logs.stop_cleaning();
        }
    }

    /// One cleaning pass (see [`LogManager::clean_dirtiest`]) in the
    /// first online directory, taking turns from pass to pass, that has a
    /// log to clean.
    pub fn clean_dirtiest(
        &self,
        now_ms: i64,
        upper_bound: &dyn Fn(&Log) -> Option<i64>,
        limits: CleanerLimits,
    ) -> Result<Option<CleanedLog>> {
        let n = self.dirs.len();
        let start = self.next_to_clean.fetch_add(1, Ordering::Relaxed) % n;
        for k in 0..n {
            let d = &self.dirs[(start + k) % n];
            if d.is_offline() {
                continue;
            }
            if let Some(done) = d.logs.clean_dirtiest(now_ms, upper_bound, limits)? {
                return Ok(Some(done));
            }
        }
        Ok(None)
    }

    /// Logs the cleaner gave up on, in all directories.
    pub fn uncleanable_count(&self) -> usize {
        self.dirs.iter().map(|d| d.logs.uncleanable_count()).sum()
    }

    /// Clean shutdown of every online directory; future logs are closed
    /// too (the next open finds them, and the move resumes).
    pub fn close(&self) -> Result<()> {
        for (_, f) in self.futures() {
            let _ = f.log.close();
        }
        self.each(|d| d.logs.close())
    }

    /// The broker epoch every directory's clean-shutdown marker will name
    /// (see [`crate::LogManager::set_broker_epoch`]).
    pub fn set_broker_epoch(&self, epoch: i64) {
        for d in &self.dirs {
            d.logs.set_broker_epoch(epoch);
        }
    }

    /// The broker epoch the last clean shutdown left, when every directory
    /// names the same one; -1 otherwise (one of them was not shut down
    /// cleanly, or they disagree), as Kafka takes it.
    pub fn previous_broker_epoch(&self) -> i64 {
        let mut epochs = self.dirs.iter().map(|d| d.logs.previous_broker_epoch());
        let first = epochs.next().unwrap_or(-1);
        if epochs.all(|e| e == first) {
            first
        } else {
            -1
        }
    }

    /// Runs `f` on every online directory; all are tried, the first error
    /// is returned.
    fn each(&self, mut f: impl FnMut(&LogDir) -> Result<()>) -> Result<()> {
        let mut first = None;
        for d in self.online() {
            if let Err(e) = f(d) {
                self.note_error(&e);
                first.get_or_insert(e);
            }
        }
        first.map_or(Ok(()), Err)
    }

    fn online(&self) -> impl Iterator<Item = &LogDir> {
        self.dirs.iter().filter(|d| !d.is_offline())
    }
}

/// Copies the producer snapshot files of a log directory into another.
fn copy_producer_snapshots(from: &Path, to: &Path) -> Result<()> {
    for entry in fs::read_dir(from).map_err(Error::io("list", from))? {
        let entry = entry.map_err(Error::io("list", from))?;
        let name = entry.file_name();
        if name.to_string_lossy().ends_with(PRODUCER_SNAPSHOT_SUFFIX) {
            let dest = to.join(&name);
            fs::copy(entry.path(), &dest).map_err(Error::io("copy", &dest))?;
            fs::File::open(&dest)
                .and_then(|f| f.sync_all())
                .map_err(Error::io("fsync", &dest))?;
        }
    }
    Ok(())
}
