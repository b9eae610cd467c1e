//! Log compaction (`Log::clean`, `LogManager::clean_dirtiest`): what is
//! kept and removed, tombstones and markers with delete horizons, aborted
//! transactions, producer state, limits, persistence and crash recovery of
//! the segment swap. Every expectation is computed from a model of the
//! appended records, not written down by hand.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::path::Path;

use common::*;
use vltava_records::{EndTxnMarker, RecordBatch, RecordBatchBuilder};
use vltava_storage::{
    AbortedTxn, CleanerLimits, CleanupPolicy, KafkaUuid, Log, LogConfig, LogManager,
    LogManagerOptions, LogOpenOptions, CLEANER_OFFSET_CHECKPOINT,
};

const RETENTION: i64 = 1_000;

fn compact_config(segment_bytes: u32) -> LogConfig {
    LogConfig {
        cleanup_policy: CleanupPolicy {
            delete: false,
            compact: true,
        },
        delete_retention_ms: RETENTION,
        min_cleanable_dirty_ratio: 0.0,
        ..small_config(segment_bytes)
    }
}

/// One record as the tests see it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Rec {
    offset: i64,
    key: Option<Vec<u8>>,
    value: Option<Vec<u8>>,
    timestamp: i64,
}

/// Appends one batch of `(key, value)` records (producer style).
fn put(log: &Log, ts: i64, records: &[(&str, Option<&str>)]) -> (i64, i64) {
    let mut b = RecordBatchBuilder::new();
    for (i, (k, v)) in records.iter().enumerate() {
        b.append(ts + i as i64, Some(k.as_bytes()), v.map(str::as_bytes), &[])
            .unwrap();
    }
    let info = log.append_as_leader(b.build().unwrap(), ts, 0).unwrap();
    (info.first_offset, info.last_offset)
}

/// Appends one batch of a (transactional or idempotent) producer.
fn put_producer(
    log: &Log,
    ts: i64,
    producer_id: i64,
    seq: i32,
    transactional: bool,
    records: &[(&str, Option<&str>)],
) -> (i64, i64) {
    let mut b = RecordBatchBuilder::new()
        .producer(producer_id, 0, seq)
        .transactional(transactional);
    for (i, (k, v)) in records.iter().enumerate() {
        b.append(ts + i as i64, Some(k.as_bytes()), v.map(str::as_bytes), &[])
            .unwrap();
    }
    let info = log.append_as_leader(b.build().unwrap(), ts, 0).unwrap();
    (info.first_offset, info.last_offset)
}

fn marker(log: &Log, ts: i64, producer_id: i64, commit: bool) -> i64 {
    let m = EndTxnMarker {
        commit,
        coordinator_epoch: 0,
    }
    .to_batch(0, 0, producer_id, 0, ts)
    .unwrap();
    log.append_as_leader(m, ts, 0).unwrap().last_offset
}

/// Every batch from the log start, following gaps.
fn batches_of(log: &Log) -> Vec<RecordBatch> {
    let mut out: Vec<RecordBatch> = Vec::new();
    let mut at = log.log_start_offset();
    while at < log.log_end_offset() {
        let r = log.read(at, 1 << 20, i64::MAX, true).unwrap();
        if r.records.is_empty() {
            break;
        }
        for b in split(&r.records) {
            b.validate().unwrap();
            if let Some(prev) = out.last() {
                assert!(b.base_offset() >= prev.next_offset(), "offsets go back");
            }
            out.push(b);
        }
        at = r.next_offset;
    }
    out
}

/// The data records (not markers) in the log.
fn records_of(log: &Log) -> Vec<Rec> {
    let mut out = Vec::new();
    for b in batches_of(log) {
        if b.is_control() {
            continue;
        }
        for r in b.records().unwrap() {
            let r = r.unwrap();
            out.push(Rec {
                offset: r.offset,
                key: r.key.map(|k| k.to_vec()),
                value: r.value.map(|v| v.to_vec()),
                timestamp: r.timestamp,
            });
        }
    }
    out
}

fn clean(log: &Log, checkpoint: i64, now: i64) -> vltava_storage::CleanStats {
    log.clean(
        checkpoint,
        log.log_end_offset(),
        now,
        CleanerLimits::default(),
    )
    .unwrap()
}

/// Forces the active segment to roll, so everything before is cleanable.
fn roll(log: &Log, ts: i64) {
    let before = log.segment_count();
    while log.segment_count() == before {
        put(log, ts, &[("filler-key-that-is-never-reused", Some("x"))]);
    }
}

#[test]
fn the_last_record_of_each_key_survives_with_its_offset() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), compact_config(400));
    let mut appended = Vec::new();
    for round in 0..12 {
        for k in 0..5 {
            let key = format!("key-{k}");
            let value = format!("value-{round}-{k}");
            let (o, _) = put(&log, 1_000 + round, &[(&key, Some(&value))]);
            appended.push((o, key, value));
        }
    }
    roll(&log, 2_000);
    let active_base = *log.segment_base_offsets().last().unwrap();
    let before = records_of(&log);
    let log_end = log.log_end_offset();
    let segments_before = log.segment_count();

    let stats = clean(&log, 0, 5_000);
    assert_eq!(stats.end_offset, active_base);
    assert!(stats.records_removed > 0);

    // Model: below the active segment, a record stays iff no later record
    // below the active segment has its key.
    let mut last: HashMap<Vec<u8>, i64> = HashMap::new();
    for r in before.iter().filter(|r| r.offset < active_base) {
        last.insert(r.key.clone().unwrap(), r.offset);
    }
    let want: Vec<Rec> = before
        .iter()
        .filter(|r| r.offset >= active_base || last[r.key.as_ref().unwrap()] == r.offset)
        .cloned()
        .collect();
    let got = records_of(&log);
    assert_eq!(got, want);
    assert_eq!(log.log_end_offset(), log_end);
    // Every key still reads its last value.
    for k in 0..5 {
        let key = format!("key-{k}");
        let (_, _, v) = appended.iter().rev().find(|(_, kk, _)| *kk == key).unwrap();
        assert!(got.iter().any(|r| r.key.as_deref() == Some(key.as_bytes())
            && r.value.as_deref() == Some(v.as_bytes())));
    }
    // A read from any original offset lands on the next record kept.
    for r in &before {
        let res = log.read(r.offset, 1 << 20, i64::MAX, true).unwrap();
        let first = split(&res.records)
            .into_iter()
            .flat_map(|b| {
                b.records()
                    .unwrap()
                    .map(|r| r.unwrap().offset)
                    .collect::<Vec<_>>()
            })
            .find(|&o| o >= r.offset);
        let expected = want.iter().map(|w| w.offset).find(|&o| o >= r.offset);
        assert_eq!(first, expected, "read from {}", r.offset);
    }

    // A second pass with nothing dirty removes nothing, but merges the
    // now small segments.
    let again = clean(&log, stats.end_offset, 6_000);
    assert_eq!(again.records_removed, 0);
    assert_eq!(records_of(&log), want);
    assert!(
        log.segment_count() < segments_before,
        "segments were merged"
    );
}

#[test]
fn cleaned_logs_reopen_after_clean_and_unclean_shutdown() {
    let dir = tempfile::tempdir().unwrap();
    let want = {
        let log = open(dir.path(), compact_config(300));
        for round in 0..10 {
            for k in 0..4 {
                put(
                    &log,
                    1_000 + round,
                    &[(&format!("k{k}"), Some(&format!("{round}")))],
                );
            }
        }
        roll(&log, 2_000);
        clean(&log, 0, 3_000);
        let want = records_of(&log);
        log.close().unwrap();
        want
    };
    let log = open_clean(dir.path(), compact_config(300));
    assert_eq!(records_of(&log), want);
    drop(log);
    // Unclean: every segment is validated by scanning, gaps included.
    let log = open(dir.path(), compact_config(300));
    assert_eq!(records_of(&log), want);
    // And appends continue after it.
    let (o, _) = put(&log, 4_000, &[("k0", Some("after"))]);
    assert!(records_of(&log).iter().any(|r| r.offset == o));
}

#[test]
fn tombstones_stay_until_their_delete_horizon() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), compact_config(300));
    put(&log, 1_000, &[("gone", Some("v1"))]);
    put(&log, 1_001, &[("kept", Some("v1"))]);
    put(&log, 1_002, &[("gone", Some("v2"))]);
    let (tomb, _) = put(&log, 1_003, &[("gone", None)]);
    roll(&log, 1_100);

    let first = clean(&log, 0, 10_000);
    let recs = records_of(&log);
    let gone: Vec<_> = recs
        .iter()
        .filter(|r| r.key.as_deref() == Some(&b"gone"[..]))
        .collect();
    assert_eq!(gone.len(), 1, "only the tombstone is left: {gone:?}");
    assert_eq!((gone[0].offset, gone[0].value.clone()), (tomb, None));
    assert_eq!(
        gone[0].timestamp, 1_003,
        "the timestamp survives the rewrite"
    );
    let horizon = 10_000 + RETENTION;
    assert_eq!(first.next_delete_horizon, Some(horizon));
    let tomb_batch = batches_of(&log)
        .into_iter()
        .find(|b| b.base_offset() <= tomb && tomb <= b.last_offset())
        .unwrap();
    assert!(tomb_batch.has_delete_horizon());
    assert_eq!(tomb_batch.base_timestamp(), horizon);

    // Before the horizon: still there.
    clean(&log, first.end_offset, horizon - 1);
    assert!(records_of(&log).iter().any(|r| r.offset == tomb));
    // At the horizon: removed; the other key is untouched.
    let last = clean(&log, first.end_offset, horizon);
    let recs = records_of(&log);
    assert!(!recs.iter().any(|r| r.key.as_deref() == Some(&b"gone"[..])));
    assert!(recs
        .iter()
        .any(|r| r.key.as_deref() == Some(&b"kept"[..]) && r.value.as_deref() == Some(&b"v1"[..])));
    assert_eq!(last.next_delete_horizon, None);
}

#[test]
fn aborted_records_go_and_never_hide_committed_ones() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), compact_config(100_000));
    // Committed value of "x", then producer 7 writes a newer "x" and aborts.
    put(&log, 1_000, &[("x", Some("committed"))]);
    let (first, _) = put_producer(
        &log,
        1_001,
        7,
        0,
        true,
        &[("x", Some("aborted")), ("y", Some("aborted"))],
    );
    // Producer 8 commits "z" meanwhile.
    put_producer(&log, 1_002, 8, 0, true, &[("z", Some("committed"))]);
    let abort_at = marker(&log, 1_003, 7, false);
    log.append_aborted_txn(AbortedTxn {
        producer_id: 7,
        first_offset: first,
        last_offset: abort_at,
        last_stable_offset: first,
    })
    .unwrap();
    let commit_at = marker(&log, 1_004, 8, true);
    // Producer 7 goes on (a new, committed transaction) so its last batch
    // is not the aborted one.
    put_producer(&log, 1_005, 7, 2, true, &[("w", Some("committed"))]);
    let commit7 = marker(&log, 1_006, 7, true);
    roll(&log, 1_100);

    let s1 = clean(&log, 0, 10_000);
    let recs = records_of(&log);
    let values: BTreeMap<_, _> = recs
        .iter()
        .map(|r| {
            (
                String::from_utf8(r.key.clone().unwrap()).unwrap(),
                String::from_utf8(r.value.clone().unwrap()).unwrap(),
            )
        })
        .collect();
    assert_eq!(
        values["x"], "committed",
        "an aborted record must not supersede"
    );
    assert!(!values.contains_key("y"));
    assert_eq!(values["z"], "committed");
    // The abort marker stays (its records went in this pass), and so does
    // its index entry; the commit markers with records stay too.
    let markers: Vec<i64> = batches_of(&log)
        .iter()
        .filter(|b| b.is_control())
        .map(|b| b.base_offset())
        .collect();
    assert_eq!(markers, vec![abort_at, commit_at, commit7]);
    assert_eq!(log.collect_aborted_txns(0, i64::MAX).len(), 1);

    // Second pass: the aborted transaction is empty, its marker gets a
    // delete horizon; the third pass after it removes the marker.
    let s2 = clean(&log, s1.end_offset, 20_000);
    assert_eq!(s2.next_delete_horizon, Some(20_000 + RETENTION));
    assert!(batches_of(&log)
        .iter()
        .any(|b| b.base_offset() == abort_at && b.has_delete_horizon()));
    clean(&log, s2.end_offset, 20_000 + RETENTION);
    let markers: Vec<i64> = batches_of(&log)
        .iter()
        .filter(|b| b.is_control())
        .map(|b| b.base_offset())
        .collect();
    assert_eq!(markers, vec![commit_at, commit7]);
    assert!(log.collect_aborted_txns(0, i64::MAX).is_empty());
}

#[test]
fn the_last_batch_of_each_producer_stays_even_when_empty() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), compact_config(100_000));
    put_producer(
        &log,
        1_000,
        9,
        0,
        false,
        &[("a", Some("1")), ("b", Some("1"))],
    );
    let (p9_first, p9_last) = put_producer(
        &log,
        1_001,
        9,
        2,
        false,
        &[("a", Some("2")), ("b", Some("2"))],
    );
    // Newer values of both keys from a plain producer.
    put(&log, 1_002, &[("a", Some("3")), ("b", Some("3"))]);
    roll(&log, 1_100);
    clean(&log, 0, 10_000);
    let batches = batches_of(&log);
    let p9: Vec<&RecordBatch> = batches.iter().filter(|b| b.producer_id() == 9).collect();
    assert_eq!(p9.len(), 1, "only the producer's last batch is left");
    let b = p9[0];
    assert_eq!(b.record_count(), 0);
    assert_eq!((b.base_offset(), b.last_offset()), (p9_first, p9_last));
    assert_eq!((b.base_sequence(), b.last_sequence()), (2, 3));
}

#[test]
fn nothing_at_or_above_the_upper_bound_or_newer_than_the_lag_is_cleaned() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), compact_config(300));
    for round in 0..6 {
        put(&log, 1_000 + round, &[("k", Some(&format!("{round}")))]);
    }
    roll(&log, 1_100);
    let bases = log.segment_base_offsets();
    assert!(bases.len() >= 3, "{bases:?}");
    // Upper bound inside the second segment: only the first is cleanable.
    let upper = bases[1] + 1;
    let before = records_of(&log);
    let stats = log
        .clean(0, upper, 5_000, CleanerLimits::default())
        .unwrap();
    assert!(stats.end_offset <= upper);
    let after = records_of(&log);
    for r in before.iter().filter(|r| r.offset >= bases[1]) {
        assert!(after.contains(r), "{r:?} above the bound was removed");
    }
    // min.compaction.lag.ms: every record is "new" at now = 1_050 with a
    // lag of 1_000, so nothing is cleanable at all.
    let dir2 = tempfile::tempdir().unwrap();
    let lagged = open(
        dir2.path(),
        LogConfig {
            min_compaction_lag_ms: 1_000,
            ..compact_config(300)
        },
    );
    for round in 0..6 {
        put(&lagged, 1_000 + round, &[("k", Some(&format!("{round}")))]);
    }
    roll(&lagged, 1_010);
    let range = lagged.cleanable_range(0, i64::MAX, 1_050);
    assert_eq!(range.first_uncleanable_offset, 0);
    let before = records_of(&lagged);
    lagged
        .clean(0, i64::MAX, 1_050, CleanerLimits::default())
        .unwrap();
    assert_eq!(records_of(&lagged), before);
    // Later, the lag has passed.
    let range = lagged.cleanable_range(0, i64::MAX, 10_000);
    assert!(range.first_uncleanable_offset > 0);
}

#[test]
fn a_small_key_map_cleans_in_several_passes() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), compact_config(600));
    for round in 0..4 {
        for k in 0..20 {
            put(
                &log,
                1_000 + round,
                &[(&format!("key-{k:03}"), Some(&format!("{round}")))],
            );
        }
    }
    roll(&log, 1_100);
    let active_base = *log.segment_base_offsets().last().unwrap();
    // Room for about five keys per pass.
    let limits = CleanerLimits {
        map_budget_bytes: 5 * (7 + 48),
        ..CleanerLimits::default()
    };
    let mut checkpoint = 0;
    let mut passes = 0;
    while checkpoint < active_base {
        let s = log.clean(checkpoint, i64::MAX, 5_000, limits).unwrap();
        assert!(s.end_offset > checkpoint, "no progress at {checkpoint}");
        assert!(s.keys_mapped <= 5);
        checkpoint = s.end_offset;
        passes += 1;
    }
    assert!(passes > 1);
    // The result is what one big pass would leave: each key's last value.
    let recs = records_of(&log);
    for k in 0..20 {
        let key = format!("key-{k:03}");
        let values: Vec<_> = recs
            .iter()
            .filter(|r| r.key.as_deref() == Some(key.as_bytes()))
            .map(|r| r.value.clone().unwrap())
            .collect();
        assert_eq!(values, vec![b"3".to_vec()], "{key}");
    }
    // A budget too small for one batch is an error, not a silent skip.
    let tiny = CleanerLimits {
        map_budget_bytes: 1,
        ..CleanerLimits::default()
    };
    put(&log, 2_000, &[("late", Some("1"))]);
    roll(&log, 2_001);
    assert!(log.clean(checkpoint, i64::MAX, 5_000, tiny).is_err());
}

/// Copies every regular file of `from` into `to`.
fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for e in fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.path().is_file() {
            fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

#[test]
fn a_swap_interrupted_after_its_commit_is_completed_at_open() {
    // Two identical logs; one is cleaned. The other gets the cleaned
    // segment as committed `.swap` files next to the old segments (the
    // state a crash right after the commit leaves), plus uncommitted
    // `.cleaned` leftovers. Opening it must give the cleaned log.
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    {
        let log = open(a.path(), compact_config(300));
        for round in 0..8 {
            for k in 0..3 {
                put(
                    &log,
                    1_000 + round,
                    &[(&format!("k{k}"), Some(&format!("{round}")))],
                );
            }
        }
        roll(&log, 1_100);
        log.close().unwrap();
    }
    copy_dir(&log_dir(a.path()), &log_dir(b.path()));
    let cleaned = {
        // Large segments for the rewrite: one group, one cleaned segment.
        let log = open_clean(a.path(), compact_config(100_000));
        let s = clean(&log, 0, 5_000);
        assert_eq!(s.segments_written, 1);
        assert_eq!(log.segment_count(), 2);
        let recs = records_of(&log);
        log.close().unwrap();
        recs
    };
    // The cleaned segment of `a` (the first one) as swap files in `b`.
    let first = log_dir(a.path()).join(vltava_storage::segment_file_name(0, "log"));
    for ext in ["log", "index", "timeindex"] {
        let src = log_dir(a.path()).join(vltava_storage::segment_file_name(0, ext));
        let dst = log_dir(b.path()).join(format!(
            "{}.swap",
            vltava_storage::segment_file_name(0, ext)
        ));
        fs::copy(&src, &dst).unwrap();
    }
    fs::write(
        log_dir(b.path()).join(format!(
            "{}.swap",
            vltava_storage::segment_file_name(0, "txnindex")
        )),
        b"",
    )
    .unwrap();
    // An uncommitted leftover of a later group.
    fs::write(
        log_dir(b.path()).join(format!(
            "{}.cleaned",
            vltava_storage::segment_file_name(99, "log")
        )),
        b"junk",
    )
    .unwrap();
    assert!(first.exists());
    let log = Log::open(
        &log_dir(b.path()),
        compact_config(300),
        LogOpenOptions::default(),
        0,
    )
    .unwrap();
    assert_eq!(records_of(&log), cleaned);
    let leftovers: Vec<_> = fs::read_dir(log_dir(b.path()))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".swap") || n.ends_with(".cleaned"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn uncommitted_cleaned_files_leave_the_old_segments_alone() {
    let dir = tempfile::tempdir().unwrap();
    let want = {
        let log = open(dir.path(), compact_config(300));
        for round in 0..5 {
            put(&log, 1_000 + round, &[("k", Some(&format!("{round}")))]);
        }
        roll(&log, 1_100);
        let want = records_of(&log);
        log.close().unwrap();
        want
    };
    // A crash while writing: `.cleaned` files and index `.swap` files
    // without the `.log.swap` that commits them.
    for name in [
        "log.cleaned",
        "index.cleaned",
        "index.swap",
        "timeindex.swap",
    ] {
        let (ext, suffix) = name.split_once('.').unwrap();
        fs::write(
            log_dir(dir.path()).join(format!(
                "{}.{suffix}",
                vltava_storage::segment_file_name(0, ext)
            )),
            b"partial",
        )
        .unwrap();
    }
    let log = open(dir.path(), compact_config(300));
    assert_eq!(records_of(&log), want);
}

#[test]
fn the_manager_cleans_the_dirtiest_compacted_log_and_keeps_its_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let opts = LogManagerOptions {
        default_config: compact_config(300),
        ..LogManagerOptions::default()
    };
    let mgr = LogManager::open(dir.path(), opts.clone(), 0).unwrap();
    let compacted = mgr
        .create_log("compacted", 0, KafkaUuid::random(), compact_config(300), 0)
        .unwrap();
    let plain = mgr
        .create_log("plain", 0, KafkaUuid::random(), small_config(300), 0)
        .unwrap();
    for round in 0..6 {
        put(
            &compacted,
            1_000 + round,
            &[("k", Some(&format!("{round}")))],
        );
        put(&plain, 1_000 + round, &[("k", Some(&format!("{round}")))]);
    }
    roll(&compacted, 1_100);
    roll(&plain, 1_100);
    let plain_before = records_of(&plain);
    let upper = |log: &Log| Some(log.log_end_offset());

    let done = mgr
        .clean_dirtiest(5_000, &upper, CleanerLimits::default())
        .unwrap()
        .expect("the compacted log is dirty");
    assert_eq!(done.log.topic, "compacted");
    assert!((done.dirty_ratio - 1.0).abs() < f64::EPSILON);
    let checkpoint = mgr.cleaner_checkpoint("compacted", 0).unwrap();
    assert_eq!(checkpoint, done.stats.end_offset);
    // Not dirty any more, and the plain log is never touched.
    assert!(mgr
        .clean_dirtiest(5_000, &upper, CleanerLimits::default())
        .unwrap()
        .is_none());
    assert_eq!(records_of(&plain), plain_before);
    assert!(dir.path().join(CLEANER_OFFSET_CHECKPOINT).exists());

    // A dirty ratio under min.cleanable.dirty.ratio waits.
    compacted
        .set_config(LogConfig {
            min_cleanable_dirty_ratio: 0.99,
            ..compact_config(300)
        })
        .unwrap();
    put(&compacted, 2_000, &[("k", Some("new"))]);
    roll(&compacted, 2_001);
    assert!(mgr
        .clean_dirtiest(5_000, &upper, CleanerLimits::default())
        .unwrap()
        .is_none());
    mgr.close().unwrap();
    drop(mgr);

    // The checkpoint survives a restart.
    let mgr = LogManager::open(dir.path(), opts, 0).unwrap();
    assert_eq!(mgr.cleaner_checkpoint("compacted", 0), Some(checkpoint));
}

#[test]
fn compressed_batches_are_rewritten_with_their_codec() {
    for codec in vltava_records::Compression::ALL {
        let dir = tempfile::tempdir().unwrap();
        let log = open(dir.path(), compact_config(100_000));
        let mut b = RecordBatchBuilder::new().compression(codec);
        for k in 0..10 {
            b.append(
                1_000 + k,
                Some(format!("k{k}").as_bytes()),
                Some(b"old"),
                &[],
            )
            .unwrap();
        }
        log.append_as_leader(b.build().unwrap(), 1_000, 0).unwrap();
        put(&log, 1_100, &[("k3", Some("new")), ("k7", Some("new"))]);
        roll(&log, 1_200);
        clean(&log, 0, 5_000);
        let batches = batches_of(&log);
        assert_eq!(batches[0].compression().unwrap(), codec);
        let recs = records_of(&log);
        let old: Vec<_> = recs
            .iter()
            .filter(|r| r.value.as_deref() == Some(&b"old"[..]))
            .map(|r| r.offset)
            .collect();
        assert_eq!(old, vec![0, 1, 2, 4, 5, 6, 8, 9], "{codec:?}");
        assert_eq!(batches[0].last_offset(), 9, "the batch keeps its range");
    }
}

#[test]
fn a_marker_that_is_its_producers_last_batch_stays() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), compact_config(100_000));
    let (first, _) = put_producer(&log, 1_000, 10, 0, true, &[("a", Some("aborted"))]);
    let abort_at = marker(&log, 1_001, 10, false);
    log.append_aborted_txn(AbortedTxn {
        producer_id: 10,
        first_offset: first,
        last_offset: abort_at,
        last_stable_offset: first,
    })
    .unwrap();
    roll(&log, 1_100);
    let mut checkpoint = 0;
    for now in [10_000, 20_000, 20_000 + RETENTION, 40_000] {
        checkpoint = clean(&log, checkpoint, now).end_offset;
    }
    let batches = batches_of(&log);
    let of_producer: Vec<_> = batches.iter().filter(|b| b.producer_id() == 10).collect();
    assert_eq!(of_producer.len(), 1);
    assert!(of_producer[0].is_control());
    assert_eq!(of_producer[0].base_offset(), abort_at);
    assert!(records_of(&log)
        .iter()
        .all(|r| r.key.as_deref() != Some(&b"a"[..])));
}

#[test]
fn readers_never_see_wrong_or_torn_data_while_the_cleaner_swaps_segments() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    let dir = tempfile::tempdir().unwrap();
    let log = Arc::new(open(dir.path(), compact_config(1_500)));
    let done = Arc::new(AtomicBool::new(false));
    let writer = {
        let (log, done) = (log.clone(), done.clone());
        std::thread::spawn(move || {
            let mut checkpoint = 0;
            let mut cleaned = 0;
            for i in 0..3_000i64 {
                // One record per append, so record i has offset i and its
                // value says so: a reader can tell any misplaced byte.
                let (o, _) = put(
                    &log,
                    1_000 + i,
                    &[(&format!("k{}", i % 25), Some(&i.to_string()))],
                );
                assert_eq!(o, i);
                if i % 100 == 99 {
                    let s = log
                        .clean(
                            checkpoint,
                            log.log_end_offset(),
                            1_000_000,
                            CleanerLimits::default(),
                        )
                        .unwrap();
                    checkpoint = s.end_offset;
                    cleaned += s.records_removed;
                }
            }
            done.store(true, Ordering::Release);
            cleaned
        })
    };
    let readers: Vec<_> = (0..3u64)
        .map(|seed| {
            let (log, done) = (log.clone(), done.clone());
            std::thread::spawn(move || {
                let mut rng = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
                let mut records = 0u64;
                while !done.load(Ordering::Acquire) {
                    rng ^= rng << 13;
                    rng ^= rng >> 7;
                    rng ^= rng << 17;
                    let (start_bound, end) = (log.log_start_offset(), log.log_end_offset());
                    let start = start_bound + (rng % (end - start_bound + 1) as u64) as i64;
                    let r = log
                        .read(start, 64 + (rng >> 40) as usize % 8192, i64::MAX, true)
                        .unwrap();
                    let mut prev_next = None;
                    for b in split(&r.records) {
                        b.validate().expect("valid batch");
                        if let Some(p) = prev_next {
                            assert!(b.base_offset() >= p, "offsets go back");
                        }
                        prev_next = Some(b.next_offset());
                        for rec in b.records().unwrap() {
                            let rec = rec.unwrap();
                            assert_eq!(
                                rec.value.as_deref(),
                                Some(rec.offset.to_string().as_bytes())
                            );
                            records += 1;
                        }
                    }
                    if let Some(b) = split(&r.records).first() {
                        assert!(b.last_offset() >= start, "a batch before the start");
                    }
                    // The newest record of each key is never cleaned away,
                    // so below the end there is always something to read.
                    if start < end {
                        assert!(!r.records.is_empty(), "nothing read at {start} (end {end})");
                    }
                }
                records
            })
        })
        .collect();
    let cleaned = writer.join().unwrap();
    assert!(cleaned > 0);
    for r in readers {
        assert!(r.join().unwrap() > 0);
    }
}

#[test]
fn a_stopped_cleaner_leaves_the_log_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), compact_config(300));
    for round in 0..6 {
        put(&log, 1_000 + round, &[("k", Some(&format!("{round}")))]);
    }
    roll(&log, 1_100);
    let before = records_of(&log);
    log.stop_cleaning();
    let err = log
        .clean(0, i64::MAX, 5_000, CleanerLimits::default())
        .unwrap_err();
    assert!(matches!(err, vltava_storage::Error::Closed), "{err}");
    assert_eq!(records_of(&log), before);
    let leftovers: Vec<_> = fs::read_dir(log_dir(dir.path()))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".cleaned") || n.ends_with(".swap"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    // Appends and reads are unaffected.
    put(&log, 2_000, &[("k", Some("after"))]);
    assert_eq!(records_of(&log).len(), before.len() + 1);
}

#[test]
fn the_io_limit_paces_a_pass() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), compact_config(20_000));
    for round in 0..40 {
        for k in 0..5 {
            put(
                &log,
                1_000 + round,
                &[(&format!("k{k}"), Some(&"v".repeat(200)))],
            );
        }
    }
    roll(&log, 2_000);
    let bytes = log.size_in_bytes();
    assert!(bytes > 40_000, "{bytes}");
    // The pass reads the dirty section twice (key map, rewrite) and writes
    // what stays: at least `bytes` of I/O, so at 50 kB/s at least ~0.8 s.
    let limits = CleanerLimits {
        max_io_bytes_per_second: 50_000.0,
        ..CleanerLimits::default()
    };
    let started = std::time::Instant::now();
    let s = log.clean(0, i64::MAX, 5_000, limits).unwrap();
    let took = started.elapsed();
    assert!(s.records_removed > 0);
    let floor = std::time::Duration::from_secs_f64(bytes as f64 * 0.8 / 50_000.0);
    assert!(took >= floor, "{took:?} for {bytes} bytes at 50 kB/s");
}

#[test]
fn a_pass_that_changes_nothing_leaves_the_segment_file_alone() {
    use std::os::unix::fs::MetadataExt;
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), compact_config(100_000));
    for k in 0..20 {
        put(&log, 1_000 + k, &[(&format!("k{k}"), Some("only value"))]);
    }
    roll(&log, 1_100);
    // The first pass removes the filler's duplicates; the second finds
    // nothing to change.
    let first_pass = clean(&log, 0, 5_000);
    assert!(first_pass.records_removed > 0);
    assert_eq!(log.segment_count(), 2);
    let first = log_dir(dir.path()).join(vltava_storage::segment_file_name(0, "log"));
    let inode = fs::metadata(&first).unwrap().ino();
    let before = records_of(&log);
    let s = clean(&log, first_pass.end_offset, 5_000);
    assert_eq!((s.records_removed, s.segments_read), (0, 1));
    assert_eq!(s.segments_written, 0);
    assert_eq!(
        fs::metadata(&first).unwrap().ino(),
        inode,
        "the segment was rewritten"
    );
    assert_eq!(records_of(&log), before);
}

#[test]
fn stopping_the_cleaner_ends_a_throttled_wait() {
    let dir = tempfile::tempdir().unwrap();
    let log = std::sync::Arc::new(open(dir.path(), compact_config(20_000)));
    for round in 0..40 {
        for k in 0..5 {
            put(
                &log,
                1_000 + round,
                &[(&format!("k{k}"), Some(&"v".repeat(200)))],
            );
        }
    }
    roll(&log, 2_000);
    // At 1 kB/s the pass would take about two minutes.
    let limits = CleanerLimits {
        max_io_bytes_per_second: 1_000.0,
        ..CleanerLimits::default()
    };
    let stopper = {
        let log = log.clone();
        std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(300));
            log.stop_cleaning();
        })
    };
    let started = std::time::Instant::now();
    let result = log.clean(0, i64::MAX, 5_000, limits);
    stopper.join().unwrap();
    assert!(
        matches!(result, Err(vltava_storage::Error::Closed)),
        "{result:?}"
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
}
