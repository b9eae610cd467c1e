//! Several log directories: placement, moves between them through future
//! logs, and what an interrupted move leaves after a restart.

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use common::{batch, small_config};
use vltava_storage::{
    KafkaUuid, Log, LogDirs, LogManagerOptions, TopicPartition, FUTURE_DIR_SUFFIX,
};

fn dirs(root: &Path, n: usize) -> Vec<(PathBuf, KafkaUuid)> {
    (0..n)
        .map(|i| (root.join(format!("d{i}")), KafkaUuid::random()))
        .collect()
}

fn open(spec: &[(PathBuf, KafkaUuid)]) -> LogDirs {
    LogDirs::open(spec, LogManagerOptions::default(), 0).unwrap()
}

fn topic_id() -> KafkaUuid {
    KafkaUuid::random()
}

/// Copies every batch of `from` into `to` from `to`'s end (what the
/// broker's mover does), with the aborted-transaction entries.
fn copy_all(from: &Log, to: &Log) {
    loop {
        let next = to.log_end_offset();
        if next >= from.log_end_offset() {
            return;
        }
        let read = from.read(next, 64 * 1024, i64::MAX, true).unwrap();
        to.append_as_follower(read.records, 0).unwrap();
    }
}

fn values(log: &Log) -> Vec<(i64, usize)> {
    let read = log
        .read(log.log_start_offset(), usize::MAX >> 1, i64::MAX, true)
        .unwrap();
    common::split(&read.records)
        .iter()
        .map(|b| (b.base_offset(), b.record_count() as usize))
        .collect()
}

#[test]
fn new_logs_go_to_the_directory_with_the_fewest() {
    let root = tempfile::tempdir().unwrap();
    let spec = dirs(root.path(), 2);
    let dirs = open(&spec);
    for p in 0..4 {
        dirs.create_log("t", p, topic_id(), small_config(4096), 0)
            .unwrap();
    }
    let counts: Vec<usize> = dirs.dirs().iter().map(|d| d.logs.log_count()).collect();
    assert_eq!(counts, vec![2, 2]);
    assert_eq!(dirs.logs().len(), 4);
    // A preferred directory wins over the count.
    dirs.prefer(TopicPartition::new("u", 0).unwrap(), 1);
    dirs.create_log("u", 0, topic_id(), small_config(4096), 0)
        .unwrap();
    assert_eq!(dirs.dir_of("u", 0), Some(1));
    // An offline directory gets nothing.
    dirs.mark_offline(0);
    dirs.create_log("v", 0, topic_id(), small_config(4096), 0)
        .unwrap();
    dirs.create_log("v", 1, topic_id(), small_config(4096), 0)
        .unwrap();
    assert_eq!(dirs.dir_of("v", 0), Some(1));
    assert_eq!(dirs.dir_of("v", 1), Some(1));
}

#[test]
fn a_moved_log_keeps_its_offsets_epochs_and_start() {
    let root = tempfile::tempdir().unwrap();
    let spec = dirs(root.path(), 2);
    let dirs = open(&spec);
    let id = topic_id();
    let log = dirs.create_log("t", 0, id, small_config(1024), 0).unwrap();
    assert_eq!(dirs.dir_of("t", 0), Some(0));
    for i in 0..20 {
        log.append_as_leader(batch(3, i, 100), 0, (i / 7) as i32)
            .unwrap();
    }
    log.delete_records_before(9, log.log_end_offset()).unwrap();
    let before = values(&log);
    let epochs = log.epoch_entries();
    let tp = TopicPartition::new("t", 0).unwrap();
    let future = dirs
        .create_future_log(&tp, id, small_config(1024), 1, log.log_start_offset(), 0)
        .unwrap();
    assert!(future
        .log
        .dir()
        .to_string_lossy()
        .ends_with(FUTURE_DIR_SUFFIX));
    copy_all(&log, &future.log);
    log.close().unwrap();
    let moved = dirs.promote_future(&log, 0).unwrap();
    assert_eq!(dirs.dir_of("t", 0), Some(1));
    assert!(dirs.future(&tp).is_none());
    assert_eq!(values(&moved), before);
    assert_eq!(moved.log_start_offset(), 9);
    assert_eq!(moved.epoch_entries(), epochs);
    assert_eq!(moved.topic_id(), Some(id));
    // Nothing is left in the first directory, and the move survives a
    // restart.
    assert!(!spec[0].0.join("t-0").exists());
    moved.append_as_leader(batch(1, 99, 10), 0, 9).unwrap();
    dirs.close().unwrap();
    drop((moved, log, future, dirs));
    let dirs = open(&spec);
    assert_eq!(dirs.dir_of("t", 0), Some(1));
    let log = dirs.get_log("t", 0).unwrap();
    assert_eq!(log.log_start_offset(), 9);
    assert_eq!(log.log_end_offset(), 61);
}

#[test]
fn an_unfinished_copy_is_kept_for_the_move_to_resume() {
    let root = tempfile::tempdir().unwrap();
    let spec = dirs(root.path(), 2);
    let dirs = open(&spec);
    let id = topic_id();
    let log = dirs.create_log("t", 0, id, small_config(1024), 0).unwrap();
    for i in 0..10 {
        log.append_as_leader(batch(2, i, 50), 0, 0).unwrap();
    }
    let tp = TopicPartition::new("t", 0).unwrap();
    let future = dirs
        .create_future_log(&tp, id, small_config(1024), 1, 0, 0)
        .unwrap();
    let read = log.read(0, 300, i64::MAX, true).unwrap();
    future.log.append_as_follower(read.records, 0).unwrap();
    let copied = future.log.log_end_offset();
    assert!(copied > 0 && copied < 20);
    let future_dir = future.log.dir().to_path_buf();
    // A crash mid-copy (no clean close).
    drop((future, log, dirs));
    let dirs = open(&spec);
    assert_eq!(dirs.dir_of("t", 0), Some(0));
    assert_eq!(dirs.get_log("t", 0).unwrap().log_end_offset(), 20);
    let kept = dirs.future(&tp).expect("the copy is kept");
    assert_eq!(kept.dir, 1);
    assert_eq!(kept.log.dir(), future_dir);
    assert_eq!(kept.log.log_end_offset(), copied);
    assert_eq!(kept.log.topic_id(), Some(id));
    // Deleting the partition removes its copy too.
    assert!(dirs.delete_log("t", 0).unwrap());
    assert!(dirs.future(&tp).is_none());
    assert!(!future_dir.exists());
}

#[test]
fn a_stop_between_the_two_renames_finishes_the_move() {
    let root = tempfile::tempdir().unwrap();
    let spec = dirs(root.path(), 2);
    let dirs = open(&spec);
    let id = topic_id();
    let log = dirs.create_log("t", 0, id, small_config(1024), 0).unwrap();
    for i in 0..10 {
        log.append_as_leader(batch(2, i, 50), 0, 0).unwrap();
    }
    let tp = TopicPartition::new("t", 0).unwrap();
    let future = dirs
        .create_future_log(&tp, id, small_config(1024), 1, 0, 0)
        .unwrap();
    copy_all(&log, &future.log);
    future.log.close().unwrap();
    log.close().unwrap();
    let future_dir = future.log.dir().to_path_buf();
    drop((future, log, dirs));
    // What promote_future does first: the current log renamed for
    // deletion. Then the stop.
    let current = spec[0].0.join("t-0");
    fs::rename(
        &current,
        spec[0]
            .0
            .join("t-0.0123456789abcdef0123456789abcdef-delete"),
    )
    .unwrap();
    let dirs = open(&spec);
    assert!(!future_dir.exists());
    assert_eq!(dirs.dir_of("t", 0), Some(1));
    let log = dirs.get_log("t", 0).unwrap();
    assert_eq!(log.log_end_offset(), 20);
    assert_eq!(values(&log).len(), 10);
}

#[test]
fn a_partition_in_two_directories_is_refused() {
    let root = tempfile::tempdir().unwrap();
    let spec = dirs(root.path(), 2);
    let dirs = open(&spec);
    dirs.create_log("t", 0, topic_id(), small_config(1024), 0)
        .unwrap();
    dirs.close().unwrap();
    drop(dirs);
    fs::create_dir_all(spec[1].0.join("t-0")).unwrap();
    let err = LogDirs::open(&spec, LogManagerOptions::default(), 0).unwrap_err();
    assert!(err.to_string().contains("is in both"), "{err}");
}

#[test]
fn high_watermarks_are_checkpointed_where_each_log_is() {
    let root = tempfile::tempdir().unwrap();
    let spec = dirs(root.path(), 2);
    let dirs = open(&spec);
    dirs.create_log("t", 0, topic_id(), small_config(1024), 0)
        .unwrap();
    dirs.create_log("t", 1, topic_id(), small_config(1024), 0)
        .unwrap();
    let hws = [
        (TopicPartition::new("t", 0).unwrap(), 5),
        (TopicPartition::new("t", 1).unwrap(), 7),
    ]
    .into_iter()
    .collect();
    dirs.write_high_watermarks(&hws).unwrap();
    assert_eq!(dirs.read_high_watermarks().unwrap(), hws);
    for d in dirs.dirs() {
        assert_eq!(d.logs.read_high_watermarks().unwrap().len(), 1);
    }
}
