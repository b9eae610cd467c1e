//! The leader epoch cache as the log keeps it: appends, truncation, the
//! log start moving, and recovery of the cache at open.

use std::path::{Path, PathBuf};

use bytes::{Bytes, BytesMut};
use vltava_records::RecordBatchBuilder;

use super::*;
use crate::leader_epoch::{read_leader_epoch_checkpoint, LEADER_EPOCH_CHECKPOINT};
use crate::{LeaderEpochCache, UNDEFINED_EPOCH, UNDEFINED_EPOCH_OFFSET};

const UNDEFINED: (i32, i64) = (UNDEFINED_EPOCH, UNDEFINED_EPOCH_OFFSET);

/// `records` records in one batch, as a producer sends it.
fn batch(records: usize) -> Bytes {
    follower_batch(0, -1, records)
}

/// A batch as a leader wrote it: offsets from `base`, stamped `epoch`.
fn follower_batch(base: i64, epoch: i32, records: usize) -> Bytes {
    let mut b = RecordBatchBuilder::new()
        .base_offset(base)
        .partition_leader_epoch(epoch);
    for i in 0..records {
        b.append(1_000 + i as i64, Some(b"k"), Some(&[b'v'; 40]), &[])
            .unwrap();
    }
    b.build().unwrap()
}

fn concat(parts: &[Bytes]) -> Bytes {
    let mut out = BytesMut::new();
    for p in parts {
        out.extend_from_slice(p);
    }
    out.freeze()
}

/// Small segments, so a few appends span several of them.
fn config() -> LogConfig {
    LogConfig {
        segment_bytes: 300,
        index_interval_bytes: 64,
        retention_ms: -1,
        ..LogConfig::default()
    }
}

fn log_dir(root: &Path) -> PathBuf {
    root.join("epochs-0")
}

fn open(root: &Path) -> Log {
    open_with(root, LogOpenOptions::default())
}

fn open_clean(root: &Path) -> Log {
    open_with(
        root,
        LogOpenOptions {
            clean_shutdown: true,
            ..LogOpenOptions::default()
        },
    )
}

fn open_with(root: &Path, opts: LogOpenOptions) -> Log {
    Log::open(&log_dir(root), config(), opts, 0).unwrap()
}

fn checkpoint_path(root: &Path) -> PathBuf {
    log_dir(root).join(LEADER_EPOCH_CHECKPOINT)
}

/// What the file holds.
fn on_disk(root: &Path) -> Vec<(i32, i64)> {
    read_leader_epoch_checkpoint(&checkpoint_path(root))
        .unwrap()
        .expect("checkpoint file exists")
        .entries()
        .to_vec()
}

/// Appends as leader in epochs 0, 0, 3, 3, 5, two records each: epoch 0
/// starts at 0, 3 at 4, 5 at 8; the log end is 10.
fn leader_log(root: &Path) -> Log {
    let log = open(root);
    for epoch in [0, 0, 3, 3, 5] {
        log.append_as_leader(batch(2), 0, epoch).unwrap();
    }
    log
}

const LEADER_ENTRIES: [(i32, i64); 3] = [(0, 0), (3, 4), (5, 8)];

#[test]
fn a_new_log_has_no_epochs_and_its_file_comes_with_the_first_one() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path());
    assert_eq!(log.latest_epoch(), None);
    assert!(log.epoch_entries().is_empty());
    assert_eq!(log.end_offset_for_epoch(0), UNDEFINED);
    // Nothing to record yet: no file (and no fsync) at creation.
    assert!(!checkpoint_path(dir.path()).exists());
    log.append_as_leader(batch(1), 0, 2).unwrap();
    assert_eq!(
        fs::read_to_string(checkpoint_path(dir.path())).unwrap(),
        "0\n1\n2 0\n"
    );
    // A log that was emptied has its (empty) file rewritten.
    log.truncate_to(0).unwrap();
    assert_eq!(
        fs::read_to_string(checkpoint_path(dir.path())).unwrap(),
        "0\n0\n"
    );
}

#[test]
fn leader_appends_record_each_new_epoch_once() {
    let dir = tempfile::tempdir().unwrap();
    let log = leader_log(dir.path());
    assert!(log.segment_count() > 1, "the test wants several segments");
    assert_eq!(log.epoch_entries(), LEADER_ENTRIES);
    assert_eq!(on_disk(dir.path()), LEADER_ENTRIES);
    assert_eq!(log.latest_epoch(), Some(5));
    assert_eq!(log.log_end_offset(), 10);
    let cases = [
        (0, (0, 4)),
        (3, (3, 8)),
        (5, (5, 10)),
        // Epochs that never wrote: the largest one below, and where the
        // next one began.
        (1, (0, 4)),
        (2, (0, 4)),
        (4, (3, 8)),
        (6, UNDEFINED),
        (UNDEFINED_EPOCH, UNDEFINED),
    ];
    for (epoch, expected) in cases {
        assert_eq!(log.end_offset_for_epoch(epoch), expected, "epoch {epoch}");
    }
    // The latest epoch's end follows the log end.
    log.append_as_leader(batch(3), 0, 5).unwrap();
    assert_eq!(log.end_offset_for_epoch(5), (5, 13));
    assert_eq!(log.epoch_entries(), LEADER_ENTRIES);
}

#[test]
fn every_batch_is_stamped_with_the_leader_epoch() {
    let dir = tempfile::tempdir().unwrap();
    let log = leader_log(dir.path());
    let records = log.read(0, 1 << 20, i64::MAX, true).unwrap().records;
    let epochs: Vec<(i64, i32)> = BatchSplitter::new(records)
        .map(|b| b.unwrap())
        .map(|b| (b.base_offset(), b.partition_leader_epoch()))
        .collect();
    assert_eq!(epochs, [(0, 0), (2, 0), (4, 3), (6, 3), (8, 5)]);
}

#[test]
fn a_lower_leader_epoch_replaces_the_conflicting_entries_as_kafka() {
    let dir = tempfile::tempdir().unwrap();
    let log = leader_log(dir.path());
    log.append_as_leader(batch(1), 0, 4).unwrap();
    assert_eq!(log.epoch_entries(), [(0, 0), (3, 4), (4, 10)]);
    assert_eq!(on_disk(dir.path()), [(0, 0), (3, 4), (4, 10)]);
}

#[test]
fn truncation_inside_an_epoch_drops_the_later_epochs() {
    let dir = tempfile::tempdir().unwrap();
    let log = leader_log(dir.path());
    // Offset 6 is the second batch of epoch 3.
    assert!(log.truncate_to(6).unwrap());
    assert_eq!(log.log_end_offset(), 6);
    assert_eq!(log.epoch_entries(), [(0, 0), (3, 4)]);
    assert_eq!(on_disk(dir.path()), [(0, 0), (3, 4)]);
    assert_eq!(log.end_offset_for_epoch(3), (3, 6));
    assert_eq!(log.end_offset_for_epoch(5), UNDEFINED);
    // A new leader's epoch starts at the new log end.
    log.append_as_leader(batch(1), 0, 7).unwrap();
    assert_eq!(log.epoch_entries(), [(0, 0), (3, 4), (7, 6)]);
    assert_eq!(log.end_offset_for_epoch(3), (3, 6));
    drop(log);
    let log = open(dir.path());
    assert_eq!(log.epoch_entries(), [(0, 0), (3, 4), (7, 6)]);

    // At an epoch's first offset: that epoch goes too.
    assert!(log.truncate_to(4).unwrap());
    assert_eq!(log.epoch_entries(), [(0, 0)]);
    assert_eq!(on_disk(dir.path()), [(0, 0)]);
}

#[test]
fn truncation_inside_a_batch_drops_an_epoch_starting_at_that_batch() {
    let dir = tempfile::tempdir().unwrap();
    let log = leader_log(dir.path());
    // Offset 9 is inside the batch 8..=9 of epoch 5: the batch goes.
    assert!(log.truncate_to(9).unwrap());
    assert_eq!(log.log_end_offset(), 8);
    assert_eq!(log.epoch_entries(), [(0, 0), (3, 4)]);
}

#[test]
fn truncation_at_the_log_end_drops_an_epoch_that_wrote_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let log = leader_log(dir.path());
    // An epoch recorded by an append whose batches then failed to be
    // written (an I/O error after the assignment), injected directly.
    log.epochs.assign_all(&[(9, 10)]).unwrap();
    assert_eq!(log.latest_epoch(), Some(9));
    assert!(!log.truncate_to(10).unwrap());
    assert_eq!(log.epoch_entries(), LEADER_ENTRIES);
    assert_eq!(on_disk(dir.path()), LEADER_ENTRIES);
}

#[test]
fn a_refused_append_records_no_epoch() {
    let dir = tempfile::tempdir().unwrap();
    let log = leader_log(dir.path());
    let huge = concat(&(0..20).map(|_| batch(3)).collect::<Vec<_>>());
    assert!(matches!(
        log.append_as_leader(huge, 0, 8),
        Err(Error::MessageSetTooLarge { .. })
    ));
    assert_eq!(log.epoch_entries(), LEADER_ENTRIES);
    assert_eq!(on_disk(dir.path()), LEADER_ENTRIES);
}

#[test]
fn truncating_fully_clears_the_epochs() {
    let dir = tempfile::tempdir().unwrap();
    let log = leader_log(dir.path());
    log.truncate_fully_and_start_at(100, 0).unwrap();
    assert!(log.epoch_entries().is_empty());
    assert!(on_disk(dir.path()).is_empty());
    log.append_as_leader(batch(1), 0, 6).unwrap();
    assert_eq!(log.epoch_entries(), [(6, 100)]);

    // Truncating below the first segment starts the log over too.
    let dir = tempfile::tempdir().unwrap();
    let log = leader_log(dir.path());
    log.delete_records_before(6, i64::MAX).unwrap();
    log.delete_retention(0).unwrap();
    let first = log.segment_base_offsets()[0];
    assert!(first > 0);
    log.truncate_to(first - 1).unwrap();
    assert!(log.epoch_entries().is_empty());
}

#[test]
fn follower_appends_record_the_epochs_of_their_batches() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = LogConfig {
        segment_bytes: 1 << 20,
        ..config()
    };
    let log = Log::open(&log_dir(dir.path()), cfg, LogOpenOptions::default(), 0).unwrap();
    // One fetch response with several epochs in it.
    log.append_as_follower(
        concat(&[
            follower_batch(0, 1, 2),
            follower_batch(2, 1, 2),
            follower_batch(4, 4, 1),
        ]),
        0,
    )
    .unwrap();
    assert_eq!(log.epoch_entries(), [(1, 0), (4, 4)]);
    assert_eq!(on_disk(dir.path()), [(1, 0), (4, 4)]);
    // Lower and undefined epochs are not recorded.
    log.append_as_follower(
        concat(&[follower_batch(5, 2, 1), follower_batch(6, -1, 1)]),
        0,
    )
    .unwrap();
    assert_eq!(log.epoch_entries(), [(1, 0), (4, 4)]);
    log.append_as_follower(follower_batch(7, 6, 3), 0).unwrap();
    assert_eq!(log.epoch_entries(), [(1, 0), (4, 4), (6, 7)]);
    assert_eq!(log.end_offset_for_epoch(1), (1, 4));
    assert_eq!(log.end_offset_for_epoch(5), (4, 7));
    assert_eq!(log.end_offset_for_epoch(6), (6, 10));
    assert_eq!(log.end_offset_for_epoch(0), (0, 0));
    // A refused follower append (below the log end) records nothing.
    assert!(log.append_as_follower(follower_batch(5, 9, 1), 0).is_err());
    assert_eq!(log.latest_epoch(), Some(6));
    assert_eq!(on_disk(dir.path()), [(1, 0), (4, 4), (6, 7)]);
}

#[test]
fn reopening_keeps_the_entries() {
    let dir = tempfile::tempdir().unwrap();
    let log = leader_log(dir.path());
    log.close().unwrap();
    drop(log);
    assert_eq!(open_clean(dir.path()).epoch_entries(), LEADER_ENTRIES);
    assert_eq!(open(dir.path()).epoch_entries(), LEADER_ENTRIES);
}

#[test]
fn a_deleted_checkpoint_is_rebuilt_from_the_batches() {
    for clean in [true, false] {
        let dir = tempfile::tempdir().unwrap();
        let log = leader_log(dir.path());
        log.close().unwrap();
        drop(log);
        fs::remove_file(checkpoint_path(dir.path())).unwrap();
        let log = if clean {
            open_clean(dir.path())
        } else {
            open(dir.path())
        };
        assert_eq!(log.epoch_entries(), LEADER_ENTRIES, "clean: {clean}");
        assert_eq!(on_disk(dir.path()), LEADER_ENTRIES, "clean: {clean}");
        assert_eq!(log.end_offset_for_epoch(4), (3, 8));
    }
}

#[test]
fn a_corrupt_checkpoint_is_rebuilt_from_the_batches() {
    let dir = tempfile::tempdir().unwrap();
    let log = leader_log(dir.path());
    log.close().unwrap();
    drop(log);
    fs::write(checkpoint_path(dir.path()), "0\n3\n0 0\n").unwrap();
    assert_eq!(open_clean(dir.path()).epoch_entries(), LEADER_ENTRIES);
    assert_eq!(on_disk(dir.path()), LEADER_ENTRIES);
}

#[test]
fn a_checkpoint_older_than_the_log_is_rebuilt() {
    // As a log written before the cache existed, then written to by a
    // version without it: the file lacks the later epochs.
    let dir = tempfile::tempdir().unwrap();
    let log = leader_log(dir.path());
    log.close().unwrap();
    drop(log);
    write_leader_epoch_checkpoint(&checkpoint_path(dir.path()), &[(0, 0)]);
    assert_eq!(open_clean(dir.path()).epoch_entries(), LEADER_ENTRIES);
    assert_eq!(on_disk(dir.path()), LEADER_ENTRIES);
}

#[test]
fn entries_past_the_log_end_are_dropped_at_open() {
    // A crash after an epoch was recorded but before its batches were
    // written.
    let dir = tempfile::tempdir().unwrap();
    let log = leader_log(dir.path());
    log.close().unwrap();
    drop(log);
    let mut entries = LEADER_ENTRIES.to_vec();
    entries.push((7, 10));
    write_leader_epoch_checkpoint(&checkpoint_path(dir.path()), &entries);
    let log = open_clean(dir.path());
    assert_eq!(log.epoch_entries(), LEADER_ENTRIES);
    assert_eq!(on_disk(dir.path()), LEADER_ENTRIES);
}

#[test]
fn recovery_truncating_the_log_drops_the_lost_epochs() {
    let dir = tempfile::tempdir().unwrap();
    let log = leader_log(dir.path());
    drop(log);
    // Tear the last batch (epoch 5): recovery cuts it off.
    let last = *open_clean(dir.path())
        .segment_base_offsets()
        .last()
        .unwrap();
    let path = log_dir(dir.path()).join(segment::segment_file_name(last, LOG_SUFFIX));
    let len = fs::metadata(&path).unwrap().len();
    assert!(len > 0);
    let f = fs::OpenOptions::new().write(true).open(&path).unwrap();
    f.set_len(len - 5).unwrap();
    drop(f);
    let log = open(dir.path());
    assert_eq!(log.log_end_offset(), 8);
    assert_eq!(log.epoch_entries(), [(0, 0), (3, 4)]);
    assert_eq!(on_disk(dir.path()), [(0, 0), (3, 4)]);
}

#[test]
fn only_segments_above_the_recovery_point_are_read_again() {
    let dir = tempfile::tempdir().unwrap();
    let log = leader_log(dir.path());
    let bases = log.segment_base_offsets();
    log.close().unwrap();
    drop(log);
    // The segment holding offset 8 (where epoch 5 starts) is the last
    // one recovered; the one holding 4 (epoch 3) is below the recovery
    // point.
    let last = *bases.last().unwrap();
    assert!(
        last <= 8 && bases.iter().any(|&b| b <= 4) && last > 4,
        "{bases:?}"
    );
    // A file whose entry below the recovery point is off by one (kept as
    // it is: that part is not read again) and whose entry above it is off
    // by one (rebuilt from the batches).
    write_leader_epoch_checkpoint(&checkpoint_path(dir.path()), &[(0, 0), (3, 5), (5, 9)]);
    let log = open_with(
        dir.path(),
        LogOpenOptions {
            recovery_point: last,
            ..LogOpenOptions::default()
        },
    );
    assert_eq!(log.epoch_entries(), [(0, 0), (3, 5), (5, 8)]);
    assert_eq!(on_disk(dir.path()), [(0, 0), (3, 5), (5, 8)]);
}

#[test]
fn the_log_start_moving_moves_the_first_entry() {
    let dir = tempfile::tempdir().unwrap();
    let log = leader_log(dir.path());
    // DeleteRecords inside epoch 0.
    assert_eq!(log.delete_records_before(3, i64::MAX).unwrap(), 3);
    assert_eq!(log.epoch_entries(), [(0, 3), (3, 4), (5, 8)]);
    assert_eq!(on_disk(dir.path()), [(0, 3), (3, 4), (5, 8)]);
    // Inside epoch 3: epoch 0 is gone.
    log.delete_records_before(6, i64::MAX).unwrap();
    assert_eq!(log.epoch_entries(), [(3, 6), (5, 8)]);
    assert_eq!(log.end_offset_for_epoch(0), (0, 6));
    drop(log);
    assert_eq!(open(dir.path()).epoch_entries(), [(3, 6), (5, 8)]);
}

#[test]
fn retention_moving_the_log_start_moves_the_first_entry() {
    let dir = tempfile::tempdir().unwrap();
    let log = leader_log(dir.path());
    let bases = log.segment_base_offsets();
    assert_eq!(bases, [0, 2, 4, 6, 8], "one batch per segment");
    // Size retention that deletes exactly the first three segments, so
    // the log starts inside epoch 3.
    let doomed: u64 = log.snapshot()[..3].iter().map(|s| s.size()).sum();
    let mut cfg = config();
    cfg.retention_bytes = (log.size_in_bytes() - doomed) as i64;
    log.set_config(cfg).unwrap();
    assert_eq!(log.delete_retention(0).unwrap(), 3);
    let start = log.log_start_offset();
    assert_eq!(start, 6);
    let expected: Vec<(i32, i64)> = {
        let mut c = LeaderEpochCache::from_entries(LEADER_ENTRIES.to_vec()).unwrap();
        c.truncate_from_start(start);
        c.entries().to_vec()
    };
    assert_eq!(expected, [(3, 6), (5, 8)]);
    assert_eq!(log.epoch_entries(), expected);
    assert_eq!(on_disk(dir.path()), expected);
    // A rebuild after the file is lost gives the same entries.
    log.close().unwrap();
    drop(log);
    fs::remove_file(checkpoint_path(dir.path())).unwrap();
    let log = Log::open(
        &log_dir(dir.path()),
        config(),
        LogOpenOptions {
            clean_shutdown: true,
            log_start_offset: Some(start),
            ..LogOpenOptions::default()
        },
        0,
    )
    .unwrap();
    assert_eq!(log.epoch_entries(), expected);
}

fn write_leader_epoch_checkpoint(path: &Path, entries: &[(i32, i64)]) {
    crate::leader_epoch::write_leader_epoch_checkpoint(path, entries).unwrap();
}
