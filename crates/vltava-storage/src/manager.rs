//! All partition logs of one data directory.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use crate::checkpoint::{
    self, fsync_dir, TopicPartition, FUTURE_DIR_SUFFIX, LOG_START_OFFSET_CHECKPOINT,
    RECOVERY_POINT_CHECKPOINT, REPLICATION_OFFSET_CHECKPOINT,
};
use crate::config::LogConfig;
use crate::error::{Error, Result};
use crate::fdcache::{lock, FdCache, DEFAULT_MAX_OPEN_SEGMENT_FILES};
use crate::log::{CleanStats, CleanerLimits, Log, LogOpenOptions};
use crate::uuid::KafkaUuid;

/// Where each compacted log's cleaning stopped (Kafka's file name and
/// format): the first offset not yet cleaned.
pub const CLEANER_OFFSET_CHECKPOINT: &str = "cleaner-offset-checkpoint";

/// Name of the clean-shutdown marker (Kafka's).
pub const CLEAN_SHUTDOWN_FILE: &str = ".kafka_cleanshutdown";

/// The `brokerEpoch` of a clean-shutdown marker (`{"version":0,
/// "brokerEpoch":N}`), if it names a non-negative one. A two-field object:
/// read by hand rather than adding a JSON crate for it.
fn marker_broker_epoch(text: &str) -> Option<i64> {
    let rest = text.split("\"brokerEpoch\"").nth(1)?;
    let rest = rest.trim_start().strip_prefix(':')?.trim_start();
    let digits: String = rest
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '-')
        .collect();
    digits.parse::<i64>().ok().filter(|e| *e >= 0)
}
/// Suffix of a log directory being deleted.
pub const DELETE_DIR_SUFFIX: &str = "-delete";

/// How to open a [`LogManager`].
#[derive(Debug, Clone)]
pub struct LogManagerOptions {
    /// Config of every log found at open time (the broker applies topic
    /// overrides afterwards with [`Log::set_config`]).
    pub default_config: LogConfig,
    /// Read-only segment files kept open at most, across all logs (active
    /// segments are not counted: one each).
    pub max_open_segment_files: usize,
    /// A file cache shared with the managers of the other log directories
    /// (the bound is the broker's, not a directory's); `None`: one of its
    /// own of `max_open_segment_files`.
    pub fd_cache: Option<Arc<FdCache>>,
}

impl Default for LogManagerOptions {
    fn default() -> Self {
        LogManagerOptions {
            default_config: LogConfig::default(),
            max_open_segment_files: DEFAULT_MAX_OPEN_SEGMENT_FILES,
            fd_cache: None,
        }
    }
}

/// The logs of one data directory.
#[derive(Debug)]
pub struct LogManager {
    dir: PathBuf,
    opts: LogManagerOptions,
    fds: Arc<FdCache>,
    logs: RwLock<BTreeMap<TopicPartition, Arc<Log>>>,
    had_clean_shutdown: bool,
    /// The broker epoch the clean-shutdown marker named (-1: none, or no
    /// clean shutdown), and the one the next marker will name.
    previous_broker_epoch: i64,
    broker_epoch: std::sync::atomic::AtomicI64,
    checkpoint_lock: Mutex<()>,
    /// First offset not yet cleaned, per compacted log.
    cleaner_checkpoints: Mutex<BTreeMap<TopicPartition, i64>>,
    /// Logs whose last cleaning pass failed: skipped until restart, as
    /// Kafka marks them uncleanable.
    uncleanable: Mutex<BTreeSet<TopicPartition>>,
    /// Held by a cleaning pass; deleting a log waits for it.
    cleaner_lock: Mutex<()>,
    /// Future logs (`<topic>-<partition>.<id>-future`) found at open, not
    /// opened: [`crate::LogDirs`] decides whether each is promoted or
    /// removed.
    found_futures: Mutex<Vec<(TopicPartition, PathBuf)>>,
}

/// What [`LogManager::clean_dirtiest`] did.
#[derive(Debug, Clone, PartialEq)]
pub struct CleanedLog {
    /// The log cleaned.
    pub log: TopicPartition,
    /// Its dirty ratio before the pass.
    pub dirty_ratio: f64,
    /// The pass.
    pub stats: CleanStats,
}

/// How often `open` reports its progress on a large data directory.
const PROGRESS_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

impl LogManager {
    /// Opens the data directory (creating it if needed) and every
    /// `<topic>-<partition>` log in it. With the clean-shutdown marker the
    /// files are trusted; without it every log is recovered from its
    /// recovery point. The marker is removed before anything else, so a
    /// crash from here on means recovery next time. Directories being
    /// deleted (`*-delete`) are removed; future logs (`*-future`) are set
    /// aside for [`LogManager::take_found_futures`]; other entries are
    /// ignored.
    pub fn open(dir: &Path, opts: LogManagerOptions, now_ms: i64) -> Result<LogManager> {
        opts.default_config.validate()?;
        fs::create_dir_all(dir).map_err(Error::io("create dir", dir))?;
        let marker = dir.join(CLEAN_SHUTDOWN_FILE);
        let clean = marker.exists();
        let mut previous_broker_epoch = -1;
        if clean {
            previous_broker_epoch = fs::read_to_string(&marker)
                .ok()
                .and_then(|text| marker_broker_epoch(&text))
                .unwrap_or(-1);
            fs::remove_file(&marker).map_err(Error::io("remove", &marker))?;
            fsync_dir(dir)?;
        }
        let read_cp = |name: &str| match checkpoint::read_offset_checkpoint(&dir.join(name)) {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(error = %e, "ignoring unreadable checkpoint; logs will be recovered from their start");
                BTreeMap::new()
            }
        };
        let recovery_points = read_cp(RECOVERY_POINT_CHECKPOINT);
        let log_starts = read_cp(LOG_START_OFFSET_CHECKPOINT);
        let cleaner_checkpoints = read_cp(CLEANER_OFFSET_CHECKPOINT);
        let fds = opts
            .fd_cache
            .clone()
            .unwrap_or_else(|| FdCache::new(opts.max_open_segment_files));
        let mut logs = BTreeMap::new();
        let mut found_futures = Vec::new();
        let mut entries: Vec<_> = fs::read_dir(dir)
            .map_err(Error::io("list", dir))?
            .collect::<std::io::Result<Vec<_>>>()
            .map_err(Error::io("list", dir))?;
        entries.sort_by_key(|e| e.file_name());
        // Progress for an operator watching a large data directory come
        // up: how many logs there are, then every PROGRESS_EVERY how far
        // along opening them is and how much recovery has scanned.
        let total = entries
            .iter()
            .filter(|e| e.path().is_dir() && e.file_name().to_string_lossy().contains('-'))
            .count();
        let started = std::time::Instant::now();
        let mut last_report = started;
        let (mut opened, mut bytes, mut recovered) = (0usize, 0u64, 0u64);
        if total > 0 {
            tracing::info!(
                "opening {total} partition logs in {} ({})",
                dir.display(),
                if clean {
                    "clean shutdown: no recovery"
                } else {
                    "unclean shutdown: segments past each recovery point are checked"
                }
            );
        }
        for entry in entries {
            let path = entry.path();
            if !path.is_dir() {
                continue;
            }
            let Some(name) = path
                .file_name()
                .and_then(|n| n.to_str())
                .map(str::to_string)
            else {
                continue;
            };
            if name.ends_with(DELETE_DIR_SUFFIX) {
                tracing::info!(dir = %path.display(), "removing log directory marked for deletion");
                fs::remove_dir_all(&path).map_err(Error::io("remove dir", &path))?;
                continue;
            }
            if name.ends_with(FUTURE_DIR_SUFFIX) {
                match TopicPartition::from_future_dir_name(&name) {
                    Ok(tp) => found_futures.push((tp, path)),
                    Err(_) => {
                        tracing::warn!(dir = %path.display(), "ignoring directory that is not a future log")
                    }
                }
                continue;
            }
            let tp = match TopicPartition::from_dir_name(&name) {
                Ok(tp) => tp,
                // A name without '-' is someone else's directory (the
                // broker keeps its metadata log in `metadata/`), not a
                // damaged log: skip it quietly.
                Err(_) if !name.contains('-') => {
                    tracing::debug!(dir = %path.display(), "ignoring directory that is not a partition log");
                    continue;
                }
                Err(_) => {
                    tracing::warn!(dir = %path.display(), "ignoring directory that is not a partition log");
                    continue;
                }
            };
            let log = Log::open(
                &path,
                opts.default_config.clone(),
                LogOpenOptions {
                    clean_shutdown: clean,
                    recovery_point: recovery_points.get(&tp).copied().unwrap_or(0),
                    log_start_offset: log_starts.get(&tp).copied(),
                    topic_id: None,
                    fd_cache: Some(fds.clone()),
                },
                now_ms,
            )?;
            opened += 1;
            bytes += log.size_in_bytes();
            recovered += log.recovered_bytes();
            logs.insert(tp, Arc::new(log));
            if last_report.elapsed() >= PROGRESS_EVERY {
                last_report = std::time::Instant::now();
                tracing::info!(
                    "opened {opened} of {total} partition logs ({bytes} bytes, {recovered} bytes recovered)"
                );
            }
        }
        if total > 0 {
            tracing::info!(
                "opened {opened} partition logs in {:.1} s ({bytes} bytes, {recovered} bytes recovered)",
                started.elapsed().as_secs_f64()
            );
        }
        fsync_dir(dir)?;
        Ok(LogManager {
            dir: dir.to_path_buf(),
            opts,
            fds,
            logs: RwLock::new(logs),
            had_clean_shutdown: clean,
            previous_broker_epoch,
            broker_epoch: std::sync::atomic::AtomicI64::new(-1),
            checkpoint_lock: Mutex::new(()),
            cleaner_checkpoints: Mutex::new(cleaner_checkpoints),
            uncleanable: Mutex::new(BTreeSet::new()),
            cleaner_lock: Mutex::new(()),
            found_futures: Mutex::new(found_futures),
        })
    }

    /// The future logs `open` found (each once).
    pub fn take_found_futures(&self) -> Vec<(TopicPartition, PathBuf)> {
        std::mem::take(&mut *lock(&self.found_futures))
    }

    /// How many logs this directory holds (new replicas go to the
    /// directory with the fewest, as Kafka places them).
    pub fn log_count(&self) -> usize {
        self.logs_read().len()
    }

    /// Takes in a complete log that was just renamed to
    /// `<topic>-<partition>` in this directory (a moved replica): opens it
    /// trusting its files when `trusted` (it was closed cleanly just now),
    /// else recovering it, with `log_start_offset` as its start (`None`:
    /// where its files begin). Fails if this directory already has that
    /// partition.
    pub fn adopt_log(
        &self,
        tp: &TopicPartition,
        log_start_offset: Option<i64>,
        trusted: bool,
        now_ms: i64,
    ) -> Result<Arc<Log>> {
        let mut logs = self.logs_write();
        if logs.contains_key(tp) {
            return Err(Error::LogAlreadyExists {
                topic: tp.topic.clone(),
                partition: tp.partition,
            });
        }
        let path = self.dir.join(tp.dir_name());
        let log = Arc::new(Log::open(
            &path,
            self.opts.default_config.clone(),
            LogOpenOptions {
                clean_shutdown: trusted,
                recovery_point: if trusted { i64::MAX } else { 0 },
                log_start_offset,
                topic_id: None,
                fd_cache: Some(self.fds.clone()),
            },
            now_ms,
        )?);
        logs.insert(tp.clone(), log.clone());
        Ok(log)
    }

    /// The data directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
    /// Whether the last shutdown left the clean marker.
    pub fn had_clean_shutdown(&self) -> bool {
        self.had_clean_shutdown
    }
    /// The shared read-only file cache.
    pub fn fd_cache(&self) -> &Arc<FdCache> {
        &self.fds
    }

    fn logs_read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<TopicPartition, Arc<Log>>> {
        self.logs.read().unwrap_or_else(|e| e.into_inner())
    }
    fn logs_write(&self) -> std::sync::RwLockWriteGuard<'_, BTreeMap<TopicPartition, Arc<Log>>> {
        self.logs.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Creates the log (directory, first segment, `partition.metadata`),
    /// or returns the existing one if its topic id matches.
    pub fn create_log(
        &self,
        topic: &str,
        partition: i32,
        topic_id: KafkaUuid,
        config: LogConfig,
        now_ms: i64,
    ) -> Result<Arc<Log>> {
        let tp = TopicPartition::new(topic, partition)?;
        let mut logs = self.logs_write();
        if let Some(log) = logs.get(&tp) {
            return match log.topic_id() {
                Some(id) if id != topic_id => Err(Error::LogAlreadyExists {
                    topic: topic.to_string(),
                    partition,
                }),
                _ => Ok(log.clone()),
            };
        }
        let path = self.dir.join(tp.dir_name());
        let existed = path.exists();
        let opened = Log::open(
            &path,
            config,
            LogOpenOptions {
                clean_shutdown: false,
                recovery_point: 0,
                log_start_offset: None,
                topic_id: Some(topic_id),
                fd_cache: Some(self.fds.clone()),
            },
            now_ms,
        )
        .and_then(|log| fsync_dir(&self.dir).map(|()| log));
        let log = match opened {
            Ok(log) => log,
            Err(e) => {
                // Out of file descriptors and the like: leave no directory
                // behind that a later create of this partition (perhaps of
                // another topic with the same name) would open as its own.
                if !existed {
                    let _ = fs::remove_dir_all(&path);
                }
                return Err(e);
            }
        };
        let log = Arc::new(log);
        logs.insert(tp, log.clone());
        Ok(log)
    }

    /// Opens a log again after [`Log::close`] (a move that sealed it and
    /// then failed): the closed log is replaced in the map by a new one
    /// over the same files, which accepts writes. Returns the new log.
    pub fn reopen_log(&self, tp: &TopicPartition, now_ms: i64) -> Result<Arc<Log>> {
        let mut logs = self.logs_write();
        let old = logs.get(tp).cloned().ok_or_else(|| Error::UnknownLog {
            topic: tp.topic.clone(),
            partition: tp.partition,
        })?;
        let log = Arc::new(Log::open(
            old.dir(),
            (*old.config()).clone(),
            LogOpenOptions {
                clean_shutdown: true,
                recovery_point: i64::MAX,
                log_start_offset: Some(old.log_start_offset()),
                topic_id: old.topic_id(),
                fd_cache: Some(self.fds.clone()),
            },
            now_ms,
        )?);
        logs.insert(tp.clone(), log.clone());
        Ok(log)
    }

    /// The log of a partition.
    pub fn get_log(&self, topic: &str, partition: i32) -> Option<Arc<Log>> {
        self.logs_read()
            .get(&TopicPartition {
                topic: topic.to_string(),
                partition,
            })
            .cloned()
    }

    /// Every log, ordered by topic and partition.
    pub fn logs(&self) -> Vec<Arc<Log>> {
        self.logs_read().values().cloned().collect()
    }

    /// Deletes a log: it is closed, its directory renamed to
    /// `<topic>-<partition>.<id>-delete` (so a crash finishes the deletion
    /// at the next open) and removed. Returns whether it existed.
    pub fn delete_log(&self, topic: &str, partition: i32) -> Result<bool> {
        let tp = TopicPartition {
            topic: topic.to_string(),
            partition,
        };
        let Some(log) = self.logs_write().remove(&tp) else {
            return Ok(false);
        };
        log.close_for_delete();
        // A cleaning pass on it stops at its next batch; wait for that.
        drop(lock(&self.cleaner_lock));
        lock(&self.cleaner_checkpoints).remove(&tp);
        lock(&self.uncleanable).remove(&tp);
        let from = self.dir.join(tp.dir_name());
        let to = self.dir.join(format!(
            "{}.{}{DELETE_DIR_SUFFIX}",
            tp.dir_name(),
            KafkaUuid::random().to_hex()
        ));
        fs::rename(&from, &to).map_err(Error::io("rename", &from))?;
        fsync_dir(&self.dir)?;
        fs::remove_dir_all(&to).map_err(Error::io("remove dir", &to))?;
        fsync_dir(&self.dir)?;
        tracing::info!(log = %tp, "deleted log");
        Ok(true)
    }

    /// Writes the recovery-point and log-start-offset checkpoints of all
    /// logs (atomically).
    pub fn checkpoint_all(&self) -> Result<()> {
        let _g = lock(&self.checkpoint_lock);
        let mut rps = BTreeMap::new();
        let mut starts = BTreeMap::new();
        for log in self.logs() {
            rps.insert(log.topic_partition().clone(), log.recovery_point());
            starts.insert(log.topic_partition().clone(), log.log_start_offset());
        }
        checkpoint::write_offset_checkpoint(&self.dir.join(RECOVERY_POINT_CHECKPOINT), &rps)?;
        checkpoint::write_offset_checkpoint(&self.dir.join(LOG_START_OFFSET_CHECKPOINT), &starts)
    }

    /// Writes the high watermarks (`replication-offset-checkpoint`, in
    /// Kafka's offset checkpoint format) atomically. The replica manager
    /// owns the high watermarks and passes all of this directory's at
    /// once: the file is replaced, not merged.
    pub fn write_high_watermarks(&self, hws: &BTreeMap<TopicPartition, i64>) -> Result<()> {
        let _g = lock(&self.checkpoint_lock);
        checkpoint::write_offset_checkpoint(&self.dir.join(REPLICATION_OFFSET_CHECKPOINT), hws)
    }

    /// Reads the high-watermark checkpoint: empty if the file does not
    /// exist, [`Error::Corrupt`] if it is not Kafka's format (the caller
    /// decides: Kafka fails the directory; starting every high watermark
    /// at the log start is the safe fallback).
    pub fn read_high_watermarks(&self) -> Result<BTreeMap<TopicPartition, i64>> {
        let _g = lock(&self.checkpoint_lock);
        checkpoint::read_offset_checkpoint(&self.dir.join(REPLICATION_OFFSET_CHECKPOINT))
    }

    /// The cleaner checkpoint of a log (where its next pass starts), if
    /// it was ever cleaned.
    pub fn cleaner_checkpoint(&self, topic: &str, partition: i32) -> Option<i64> {
        lock(&self.cleaner_checkpoints)
            .get(&TopicPartition {
                topic: topic.to_string(),
                partition,
            })
            .copied()
    }

    /// One pass of the log cleaner over the compacted log that needs it
    /// most, as Kafka's cleaner thread picks it: a log whose oldest dirty
    /// record is past `max.compaction.lag.ms` first, else the highest dirty
    /// ratio at or above `min.cleanable.dirty.ratio`, else a log whose
    /// earliest delete horizon has passed. `upper_bound` gives each log's
    /// last stable offset (`None`: leave the log alone). Returns `None` if
    /// no log needed cleaning. A log whose pass fails is logged, skipped
    /// from then on (until restart), and its error returned.
    pub fn clean_dirtiest(
        &self,
        now_ms: i64,
        upper_bound: &dyn Fn(&Log) -> Option<i64>,
        limits: CleanerLimits,
    ) -> Result<Option<CleanedLog>> {
        let _pass = lock(&self.cleaner_lock);
        let mut best: Option<(bool, f64, Arc<Log>, i64, i64)> = None;
        for log in self.logs() {
            let cfg = log.config();
            if !cfg.cleanup_policy.compact || log.is_closed() {
                continue;
            }
            let tp = log.topic_partition().clone();
            if lock(&self.uncleanable).contains(&tp) {
                continue;
            }
            let Some(upper) = upper_bound(&log) else {
                continue;
            };
            let checkpoint = lock(&self.cleaner_checkpoints)
                .get(&tp)
                .copied()
                .unwrap_or(0);
            let range = log.cleanable_range(checkpoint, upper, now_ms);
            let ratio = range.dirty_ratio();
            let dirty = range.dirty_bytes > 0;
            let due = (dirty && (range.overdue || ratio >= cfg.min_cleanable_dirty_ratio))
                || (log.has_inactive_segments() && log.next_delete_horizon() <= now_ms);
            if !due {
                continue;
            }
            let key = (range.overdue, ratio);
            if best.as_ref().is_none_or(|(o, r, ..)| key > (*o, *r)) {
                best = Some((range.overdue, ratio, log, checkpoint, upper));
            }
        }
        let Some((_, dirty_ratio, log, checkpoint, upper)) = best else {
            return Ok(None);
        };
        let tp = log.topic_partition().clone();
        match log.clean(checkpoint, upper, now_ms, limits) {
            Ok(stats) => {
                log.set_next_delete_horizon(stats.next_delete_horizon);
                lock(&self.cleaner_checkpoints).insert(tp.clone(), stats.end_offset);
                self.write_cleaner_checkpoint()?;
                Ok(Some(CleanedLog {
                    log: tp,
                    dirty_ratio,
                    stats,
                }))
            }
            Err(Error::Closed) => Ok(None),
            Err(e) => {
                tracing::warn!(log = %tp, error = %e, "log cleaning failed; the log is not cleaned again until restart");
                lock(&self.uncleanable).insert(tp);
                Err(e)
            }
        }
    }

    /// Logs the cleaner gave up on after a failed pass (until restart).
    pub fn uncleanable_count(&self) -> usize {
        lock(&self.uncleanable).len()
    }

    /// Stops a running cleaning pass at its next batch and every later
    /// one (for shutdown): see [`Log::stop_cleaning`].
    pub fn stop_cleaning(&self) {
        for log in self.logs() {
            log.stop_cleaning();
        }
    }

    fn write_cleaner_checkpoint(&self) -> Result<()> {
        let _g = lock(&self.checkpoint_lock);
        let snapshot = lock(&self.cleaner_checkpoints).clone();
        checkpoint::write_offset_checkpoint(&self.dir.join(CLEANER_OFFSET_CHECKPOINT), &snapshot)
    }

    /// Retention over every log; returns the segments deleted. A log that
    /// fails is logged and skipped; the first error is returned after all
    /// logs were tried. Writes the checkpoints if anything was deleted.
    pub fn run_retention(&self, now_ms: i64) -> Result<usize> {
        let mut total = 0;
        let mut first_err = None;
        for log in self.logs() {
            match log.delete_retention(now_ms) {
                Ok(n) => total += n,
                Err(Error::Closed) => {}
                Err(e) => {
                    tracing::warn!(log = %log.topic_partition(), error = %e, "retention failed");
                    first_err.get_or_insert(e);
                }
            }
        }
        if total > 0 {
            self.checkpoint_all()?;
        }
        match first_err {
            Some(e) => Err(e),
            None => Ok(total),
        }
    }

    /// fsyncs every log.
    pub fn flush_all(&self, now_ms: i64) -> Result<()> {
        for log in self.logs() {
            match log.flush(now_ms) {
                Ok(()) | Err(Error::Closed) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Applies each log's flush policy (`flush.messages`, `flush.ms`);
    /// returns how many logs flushed.
    pub fn maybe_flush_all(&self, now_ms: i64) -> Result<usize> {
        let mut n = 0;
        for log in self.logs() {
            match log.maybe_flush(now_ms) {
                Ok(true) => n += 1,
                Ok(false) | Err(Error::Closed) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(n)
    }

    /// Clean shutdown: closes every log (flushes data and indexes), writes
    /// the checkpoints, then the clean-shutdown marker, which names the
    /// broker epoch set with [`LogManager::set_broker_epoch`] as Kafka's
    /// does (`{"version":0,"brokerEpoch":N}`, -1 when none was set).
    pub fn close(&self) -> Result<()> {
        for log in self.logs() {
            log.close()?;
        }
        self.checkpoint_all()?;
        let epoch = self.broker_epoch.load(std::sync::atomic::Ordering::Acquire);
        let marker = format!("{{\"version\":0,\"brokerEpoch\":{epoch}}}");
        checkpoint::write_atomic(&self.dir.join(CLEAN_SHUTDOWN_FILE), marker.as_bytes())?;
        Ok(())
    }

    /// The broker epoch the next clean-shutdown marker names: the broker's
    /// registration, so that its next process can tell the controller it
    /// is the same broker, whole (KIP-966's PreviousBrokerEpoch).
    pub fn set_broker_epoch(&self, epoch: i64) {
        self.broker_epoch
            .store(epoch, std::sync::atomic::Ordering::Release);
    }

    /// The broker epoch the clean-shutdown marker found at open named; -1
    /// when the last shutdown was not clean or named none (markers written
    /// before they carried one are empty).
    pub fn previous_broker_epoch(&self) -> i64 {
        self.previous_broker_epoch
    }

    /// The options this manager was opened with.
    pub fn options(&self) -> &LogManagerOptions {
        &self.opts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tp(topic: &str, partition: i32) -> TopicPartition {
        TopicPartition::new(topic, partition).unwrap()
    }

    #[test]
    fn high_watermarks_round_trip_in_kafkas_format() {
        let dir = tempfile::tempdir().unwrap();
        let mgr = LogManager::open(dir.path(), LogManagerOptions::default(), 0).unwrap();
        // No file yet: no high watermarks.
        assert!(mgr.read_high_watermarks().unwrap().is_empty());

        let mut hws = BTreeMap::new();
        hws.insert(tp("orders", 0), 42);
        hws.insert(tp("orders", 1), 0);
        hws.insert(tp("a-b.c", 7), 1_000_000_000_000);
        mgr.write_high_watermarks(&hws).unwrap();
        let path = dir.path().join(REPLICATION_OFFSET_CHECKPOINT);
        assert_eq!(
            fs::read_to_string(&path).unwrap(),
            "0\n3\na-b.c 7 1000000000000\norders 0 42\norders 1 0\n"
        );
        assert_eq!(mgr.read_high_watermarks().unwrap(), hws);

        // A later write replaces the whole file.
        let mut fewer = BTreeMap::new();
        fewer.insert(tp("orders", 0), 50);
        mgr.write_high_watermarks(&fewer).unwrap();
        assert_eq!(mgr.read_high_watermarks().unwrap(), fewer);

        // It survives a restart of the manager.
        mgr.close().unwrap();
        drop(mgr);
        let mgr = LogManager::open(dir.path(), LogManagerOptions::default(), 0).unwrap();
        assert_eq!(mgr.read_high_watermarks().unwrap(), fewer);

        // A damaged file is an error, not an empty map.
        fs::write(&path, "0\n2\norders 0 50\n").unwrap();
        assert!(matches!(
            mgr.read_high_watermarks(),
            Err(Error::Corrupt { .. })
        ));
    }
}
