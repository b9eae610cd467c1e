//! Producer-state snapshot files (`<offset>.snapshot`): the log reports its
//! rolls, writes snapshots atomically and only of durable data, keeps the
//! newest few, and drops those a truncation, retention, DeleteRecords or a
//! recovery leaves outside the log.

mod common;

use common::{batch, log_dir, open, open_clean, small_config};
use vltava_storage::{Log, PRODUCER_SNAPSHOTS_RETAINED};

/// Appends one-record batches of about 150 bytes until the log end is `end`.
fn fill_to(log: &Log, end: i64) {
    while log.log_end_offset() < end {
        log.append_as_leader(batch(1, 0, 80), 0, 0).unwrap();
    }
}

fn files(log: &Log) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(log.dir())
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.contains(".snapshot"))
        .collect();
    names.sort();
    names
}

#[test]
fn rolls_are_reported_once() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), small_config(1024));
    assert_eq!(log.take_rolled(), None);
    fill_to(&log, 5);
    assert_eq!(log.take_rolled(), None, "no roll within the first segment");
    while log.segment_count() < 2 {
        log.append_as_leader(batch(1, 0, 80), 0, 0).unwrap();
    }
    let base = *log.segment_base_offsets().last().unwrap();
    assert_eq!(log.take_rolled(), Some(base));
    assert_eq!(log.take_rolled(), None);
}

#[test]
fn a_snapshot_is_written_atomically_and_only_of_durable_data() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), small_config(1 << 20));
    fill_to(&log, 10);
    assert!(log.recovery_point() < 10);
    let at = log.snapshot_point();
    assert_eq!(at.offset(), 10);
    assert!(log.write_producer_snapshot(at, b"state at 10", 0).unwrap());
    assert!(
        log.recovery_point() >= 10,
        "the data a snapshot covers is flushed first"
    );
    assert_eq!(files(&log), vec!["00000000000000000010.snapshot"]);
    assert_eq!(log.producer_snapshot_offsets().unwrap(), vec![10]);
    assert_eq!(
        log.read_producer_snapshot(10).unwrap().as_deref(),
        Some(&b"state at 10"[..])
    );
    assert_eq!(log.read_producer_snapshot(11).unwrap(), None);
    log.delete_producer_snapshot(10).unwrap();
    assert!(files(&log).is_empty());
}

#[test]
fn only_the_newest_snapshots_are_kept() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), small_config(1 << 20));
    for end in 1..=6 {
        fill_to(&log, end);
        assert!(log
            .write_producer_snapshot(log.snapshot_point(), b"x", 0)
            .unwrap());
    }
    let kept: Vec<i64> = (7 - PRODUCER_SNAPSHOTS_RETAINED as i64..=6).collect();
    assert_eq!(log.producer_snapshot_offsets().unwrap(), kept);
}

#[test]
fn truncation_drops_snapshots_above_the_cut_and_refuses_stale_points() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), small_config(1 << 20));
    fill_to(&log, 10);
    log.write_producer_snapshot(log.snapshot_point(), b"10", 0)
        .unwrap();
    fill_to(&log, 20);
    log.write_producer_snapshot(log.snapshot_point(), b"20", 0)
        .unwrap();
    fill_to(&log, 30);
    // A point read before the truncation (its state copied), written after.
    let stale = log.snapshot_point();
    assert!(log.truncate_to(15).unwrap());
    assert_eq!(log.producer_snapshot_offsets().unwrap(), vec![10]);
    fill_to(&log, 30);
    assert!(
        !log.write_producer_snapshot(stale, b"old 30", 0).unwrap(),
        "a snapshot of the log before the truncation is refused"
    );
    assert_eq!(log.producer_snapshot_offsets().unwrap(), vec![10]);
    // A point read after it is fine.
    assert!(log
        .write_producer_snapshot(log.snapshot_point(), b"new 30", 0)
        .unwrap());
    // Truncating at the end cuts nothing and keeps everything.
    assert!(!log.truncate_to(30).unwrap());
    assert_eq!(log.producer_snapshot_offsets().unwrap(), vec![10, 30]);
    // Starting over drops them all.
    log.truncate_fully_and_start_at(10, 0).unwrap();
    assert!(log.producer_snapshot_offsets().unwrap().is_empty());
}

#[test]
fn retention_and_delete_records_drop_snapshots_below_the_log_start() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), small_config(1024));
    let mut taken = Vec::new();
    while log.segment_count() < 4 {
        log.append_as_leader(batch(1, 0, 80), 0, 0).unwrap();
        if log.take_rolled().is_some() {
            let at = log.snapshot_point();
            log.write_producer_snapshot(at, b"x", 0).unwrap();
            taken.push(at.offset());
        }
    }
    assert_eq!(log.producer_snapshot_offsets().unwrap(), taken);
    let bases = log.segment_base_offsets();
    // DeleteRecords into the second segment, past its snapshot.
    let start = taken[0] + 1;
    assert!(start < bases[2]);
    log.delete_records_before(start, i64::MAX).unwrap();
    assert_eq!(log.producer_snapshot_offsets().unwrap(), &taken[1..]);
    // A point the log start passed before it was written is refused.
    let passed = log.snapshot_point();
    fill_to(&log, passed.offset() + 3);
    log.delete_records_before(passed.offset() + 1, i64::MAX)
        .unwrap();
    assert!(!log.write_producer_snapshot(passed, b"x", 0).unwrap());
    // Retention of everything below the active segment.
    log.delete_records_before(bases[3], i64::MAX).unwrap();
    log.delete_retention(0).unwrap();
    let left = log.producer_snapshot_offsets().unwrap();
    assert!(
        left.iter().all(|&o| o >= log.log_start_offset()),
        "{left:?}"
    );
}

#[test]
fn opening_drops_snapshots_the_recovery_left_outside_the_log() {
    let dir = tempfile::tempdir().unwrap();
    {
        let log = open(dir.path(), small_config(1 << 20));
        fill_to(&log, 10);
        log.write_producer_snapshot(log.snapshot_point(), b"10", 0)
            .unwrap();
        log.close().unwrap();
    }
    // Snapshot files the data does not reach (what an unclean shutdown of
    // an older version, or a copied directory, could leave) and a temp file.
    let snapshot = |o: i64| log_dir(dir.path()).join(format!("{o:020}.snapshot"));
    std::fs::write(snapshot(25), b"beyond the end").unwrap();
    std::fs::write(
        log_dir(dir.path()).join("00000000000000000030.snapshot.tmp"),
        b"torn",
    )
    .unwrap();
    let log = open_clean(dir.path(), small_config(1 << 20));
    assert_eq!(log.producer_snapshot_offsets().unwrap(), vec![10]);
    assert_eq!(files(&log), vec!["00000000000000000010.snapshot"]);
}

#[test]
fn a_closed_log_takes_its_final_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), small_config(1 << 20));
    fill_to(&log, 7);
    let at = log.snapshot_point();
    log.close().unwrap();
    assert!(log.write_producer_snapshot(at, b"7", 0).unwrap());
    assert_eq!(log.producer_snapshot_offsets().unwrap(), vec![7]);
}
