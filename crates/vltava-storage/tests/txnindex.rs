//! The aborted-transaction index (`.txnindex`): appends, lookups across
//! segments, persistence, recovery of damaged files, truncation and
//! retention.

mod common;

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use common::*;
use vltava_storage::{
    segment_file_name, AbortedTxn, Error, Log, LogConfig, TXN_ENTRY_LEN, TXN_INDEX_SUFFIX,
};

/// Appends one two-record batch ("data" or "marker", the log does not
/// care) and returns its last offset.
fn append(log: &Log) -> i64 {
    log.append_as_leader(batch(2, 1_000, 40), 1_000, 0)
        .unwrap()
        .last_offset
}

fn txn(producer_id: i64, first_offset: i64, last_offset: i64) -> AbortedTxn {
    AbortedTxn {
        producer_id,
        first_offset,
        last_offset,
        last_stable_offset: first_offset,
    }
}

fn txn_file(root: &Path, base: i64) -> PathBuf {
    log_dir(root).join(segment_file_name(base, TXN_INDEX_SUFFIX))
}

fn all(log: &Log) -> Vec<AbortedTxn> {
    log.collect_aborted_txns(0, i64::MAX)
}

/// The segment base offset holding `offset`.
fn segment_of(log: &Log, offset: i64) -> i64 {
    *log.segment_base_offsets()
        .iter()
        .rev()
        .find(|&&b| b <= offset)
        .unwrap()
}

/// Base offsets of the segments that have a `.txnindex` file.
fn txn_file_bases(root: &Path) -> Vec<i64> {
    files(root, TXN_INDEX_SUFFIX)
        .iter()
        .map(|p| {
            p.file_stem()
                .unwrap()
                .to_str()
                .unwrap()
                .parse::<i64>()
                .unwrap()
        })
        .collect()
}

/// A log of small segments with aborted transactions, some spanning
/// segments. Returns the log and the entries in marker order.
fn populated(root: &Path) -> (Log, Vec<AbortedTxn>) {
    let log = open(root, small_config(500));
    let mut txns = Vec::new();
    // Producer 1: starts at once, aborted much later.
    let p1_first = append(&log);
    for _ in 0..3 {
        append(&log);
    }
    // Producer 2: short, inside one stretch.
    let p2_first = append(&log);
    append(&log);
    let marker = append(&log);
    let t = txn(2, p2_first - 1, marker);
    log.append_aborted_txn(t).unwrap();
    txns.push(t);
    for _ in 0..5 {
        append(&log);
    }
    let marker = append(&log);
    let t = txn(1, p1_first - 1, marker);
    log.append_aborted_txn(t).unwrap();
    txns.push(t);
    // Producer 3: two aborts close together in the same segment.
    let first = append(&log);
    let marker = append(&log);
    let t = txn(3, first - 1, marker);
    log.append_aborted_txn(t).unwrap();
    txns.push(t);
    let marker = append(&log);
    let t = txn(4, first, marker);
    log.append_aborted_txn(t).unwrap();
    txns.push(t);
    for _ in 0..4 {
        append(&log);
    }
    (log, txns)
}

/// The entries a lookup must return, computed the obvious way.
fn expected(txns: &[AbortedTxn], from: i64, upper: i64) -> Vec<AbortedTxn> {
    txns.iter()
        .filter(|t| t.last_offset >= from && t.first_offset < upper)
        .copied()
        .collect()
}

fn check_every_range(log: &Log, txns: &[AbortedTxn]) {
    let end = log.log_end_offset();
    for from in 0..=end + 1 {
        for upper in 0..=end + 2 {
            assert_eq!(
                log.collect_aborted_txns(from, upper),
                expected(txns, from, upper),
                "from {from} upper {upper}"
            );
        }
    }
}

#[test]
fn collect_matches_a_brute_force_filter_across_segments() {
    let dir = tempfile::tempdir().unwrap();
    let (log, txns) = populated(dir.path());
    assert!(log.segment_count() >= 4, "{}", log.segment_count());
    // Producer 1's transaction starts in the first segment and ends in a
    // later one; entries live with their markers.
    let p1 = txns[1];
    assert_eq!(segment_of(&log, p1.first_offset), 0);
    assert!(segment_of(&log, p1.last_offset) > 0);
    let mut bases: Vec<i64> = txns
        .iter()
        .map(|t| segment_of(&log, t.last_offset))
        .collect();
    bases.dedup();
    assert_eq!(txn_file_bases(dir.path()), bases);
    // Files exist only for segments with entries.
    assert!(files(dir.path(), "log").len() > bases.len());

    check_every_range(&log, &txns);
    assert_eq!(all(&log), txns);

    // A fetch ending before the segment that holds the marker must still
    // report the transaction its records belong to.
    let upper = p1.first_offset + 2;
    assert!(segment_of(&log, p1.last_offset) >= upper);
    assert!(log.collect_aborted_txns(0, upper).contains(&p1));
    // Nothing past the last marker.
    assert!(log
        .collect_aborted_txns(txns[3].last_offset + 1, i64::MAX)
        .is_empty());
}

#[test]
fn files_hold_kafkas_entry_format() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), small_config(1 << 20));
    append(&log);
    let marker = append(&log);
    let t = AbortedTxn {
        producer_id: 77,
        first_offset: 0,
        last_offset: marker,
        last_stable_offset: 2,
    };
    log.append_aborted_txn(t).unwrap();
    let bytes = fs::read(txn_file(dir.path(), 0)).unwrap();
    let mut want = Vec::new();
    want.extend_from_slice(&0i16.to_be_bytes());
    want.extend_from_slice(&77i64.to_be_bytes());
    want.extend_from_slice(&0i64.to_be_bytes());
    want.extend_from_slice(&marker.to_be_bytes());
    want.extend_from_slice(&2i64.to_be_bytes());
    assert_eq!(bytes, want);
    assert_eq!(TXN_ENTRY_LEN, 34);
}

#[test]
fn entries_survive_clean_and_unclean_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let (log, txns) = populated(dir.path());
    let end = log.log_end_offset();
    log.close().unwrap();
    drop(log);

    let log = open_clean(dir.path(), small_config(500));
    assert_eq!(log.log_end_offset(), end);
    assert_eq!(all(&log), txns);
    check_every_range(&log, &txns);
    // Appends continue after a reopen.
    let marker = append(&log);
    let t = txn(9, marker, marker);
    log.append_aborted_txn(t).unwrap();
    drop(log); // no close: unclean

    let log = open(dir.path(), small_config(500));
    let mut want = txns.clone();
    want.push(t);
    assert_eq!(all(&log), want);
    check_every_range(&log, &want);
}

#[test]
fn torn_trailing_bytes_are_cut_off() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), small_config(1 << 20));
    let mut txns = Vec::new();
    for pid in 0..3 {
        let first = append(&log);
        let marker = append(&log);
        let t = txn(pid, first - 1, marker);
        log.append_aborted_txn(t).unwrap();
        txns.push(t);
    }
    drop(log);
    let path = txn_file(dir.path(), 0);
    let mut f = OpenOptions::new().append(true).open(&path).unwrap();
    f.write_all(&[0, 0, 1, 2, 3, 4, 5]).unwrap();
    drop(f);

    for reopen in [open_clean, open] {
        let log = reopen(dir.path(), small_config(1 << 20));
        assert_eq!(all(&log), txns);
        assert_eq!(fs::metadata(&path).unwrap().len(), 3 * 34);
        drop(log);
    }
    // The next entry lands right after the valid ones.
    let log = open(dir.path(), small_config(1 << 20));
    let marker = append(&log);
    let t = txn(5, marker, marker);
    log.append_aborted_txn(t).unwrap();
    drop(log);
    let log = open(dir.path(), small_config(1 << 20));
    txns.push(t);
    assert_eq!(all(&log), txns);
    assert_eq!(fs::metadata(&path).unwrap().len(), 4 * 34);
}

#[test]
fn corrupt_entries_drop_the_rest_of_the_file_without_panicking() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), small_config(1 << 20));
    let mut txns = Vec::new();
    for pid in 0..4 {
        let marker = append(&log);
        let t = txn(pid, marker - 1, marker);
        log.append_aborted_txn(t).unwrap();
        txns.push(t);
    }
    log.close().unwrap();
    drop(log);
    let path = txn_file(dir.path(), 0);

    // Unknown version in the third entry.
    let mut bytes = fs::read(&path).unwrap();
    bytes[2 * 34 + 1] = 7;
    fs::write(&path, &bytes).unwrap();
    let log = open_clean(dir.path(), small_config(1 << 20));
    assert_eq!(all(&log), txns[..2]);
    assert_eq!(fs::metadata(&path).unwrap().len(), 2 * 34);
    drop(log);

    // first_offset > last_offset in the second entry.
    let mut bytes = fs::read(&path).unwrap();
    bytes[34 + 10..34 + 18].copy_from_slice(&i64::MAX.to_be_bytes());
    fs::write(&path, &bytes).unwrap();
    let log = open(dir.path(), small_config(1 << 20));
    assert_eq!(all(&log), txns[..1]);
    assert_eq!(fs::metadata(&path).unwrap().len(), 34);
    drop(log);

    // Garbage from the first byte: the file goes away.
    fs::write(&path, [0xffu8; 100]).unwrap();
    let log = open(dir.path(), small_config(1 << 20));
    assert!(all(&log).is_empty());
    assert!(!path.exists());
    // The log itself is untouched and usable.
    assert_eq!(log.log_end_offset(), 8);
    log.append_aborted_txn(txns[3]).unwrap();
    assert_eq!(all(&log), txns[3..]);
}

#[test]
fn entries_whose_markers_did_not_survive_are_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), small_config(1 << 20));
    let mut txns = Vec::new();
    for pid in 0..3 {
        let marker = append(&log);
        let t = txn(pid, marker - 1, marker);
        log.append_aborted_txn(t).unwrap();
        txns.push(t);
    }
    drop(log);
    // A crash lost the last batch (offsets 4..=5) and a few bytes more.
    let log_file = files(dir.path(), "log").pop().unwrap();
    let len = fs::metadata(&log_file).unwrap().len();
    let f = OpenOptions::new().write(true).open(&log_file).unwrap();
    f.set_len(len - 10).unwrap();
    drop(f);

    let log = open(dir.path(), small_config(1 << 20));
    assert_eq!(log.log_end_offset(), 4);
    assert_eq!(all(&log), txns[..2]);
    assert_eq!(fs::metadata(txn_file(dir.path(), 0)).unwrap().len(), 2 * 34);
    // Offset 5 is reused by new data; a new abort there is fine.
    append(&log);
    let t = txn(8, 4, 5);
    log.append_aborted_txn(t).unwrap();
    assert_eq!(all(&log), [txns[0], txns[1], t]);
}

/// Memory, files and file sizes agree with `want` (the entries left).
fn check_files(root: &Path, log: &Log, want: &[AbortedTxn]) {
    assert_eq!(all(log), want);
    let mut bases: Vec<i64> = want
        .iter()
        .map(|t| segment_of(log, t.last_offset))
        .collect();
    bases.dedup();
    assert_eq!(txn_file_bases(root), bases);
    for b in bases {
        let n = want
            .iter()
            .filter(|t| segment_of(log, t.last_offset) == b)
            .count();
        assert_eq!(
            fs::metadata(txn_file(root, b)).unwrap().len(),
            (n * TXN_ENTRY_LEN) as u64
        );
    }
}

#[test]
fn truncation_drops_entries_and_files() {
    let dir = tempfile::tempdir().unwrap();
    let (log, txns) = populated(dir.path());
    check_files(dir.path(), &log, &txns);
    // At the start of producer 4's marker batch, then inside producer 3's
    // marker batch (the whole batch goes), then below every marker.
    let cuts = [
        txns[3].last_offset - 1,
        txns[2].last_offset,
        txns[0].last_offset - 1,
    ];
    for cut in cuts {
        assert!(log.truncate_to(cut).unwrap());
        let end = log.log_end_offset();
        assert!(end <= cut);
        let left: Vec<AbortedTxn> = txns
            .iter()
            .filter(|t| t.last_offset < end)
            .copied()
            .collect();
        check_files(dir.path(), &log, &left);
        check_every_range(&log, &left);
    }
    assert!(all(&log).is_empty());
    assert!(files(dir.path(), TXN_INDEX_SUFFIX).is_empty());

    // Reopening agrees.
    drop(log);
    let log = open(dir.path(), small_config(500));
    assert!(all(&log).is_empty());
    // New markers at the reused offsets are accepted.
    let marker = append(&log);
    log.append_aborted_txn(txn(1, 0, marker)).unwrap();
    check_files(dir.path(), &log, &[txn(1, 0, marker)]);
}

#[test]
fn truncate_fully_removes_every_entry() {
    let dir = tempfile::tempdir().unwrap();
    let (log, _) = populated(dir.path());
    log.truncate_fully_and_start_at(1_000, 0).unwrap();
    assert!(all(&log).is_empty());
    assert!(files(dir.path(), TXN_INDEX_SUFFIX).is_empty());
    drop(log);
    let log = open(dir.path(), small_config(500));
    assert!(all(&log).is_empty());
}

#[test]
fn retention_and_delete_records_remove_the_segments_txn_files() {
    let dir = tempfile::tempdir().unwrap();
    let (log, txns) = populated(dir.path());
    let end = log.log_end_offset();
    let first_seg = segment_of(&log, txns[0].last_offset);
    assert!(txn_file(dir.path(), first_seg).exists());

    // DeleteRecords past producer 2's segment.
    let next_base = *log
        .segment_base_offsets()
        .iter()
        .find(|&&b| b > first_seg)
        .unwrap();
    log.delete_records_before(next_base, end).unwrap();
    assert!(!txn_file(dir.path(), first_seg).exists());
    assert!(!log.segment_base_offsets().contains(&first_seg));
    assert_eq!(all(&log), txns[1..]);
    // Producer 1's entry stays although its first offset is gone.
    assert!(txns[1].first_offset < log.log_start_offset());

    // Size retention down to the last segments.
    let mut cfg = small_config(500);
    cfg.retention_bytes = 1;
    log.set_config(cfg).unwrap();
    assert!(log.delete_retention(1_000).unwrap() > 0);
    let left = log.segment_base_offsets();
    let want: Vec<AbortedTxn> = txns
        .iter()
        .filter(|t| t.last_offset >= left[0])
        .copied()
        .collect();
    assert_eq!(all(&log), want);
    for b in txn_file_bases(dir.path()) {
        assert!(left.contains(&b), "txnindex of deleted segment {b}");
    }
    // No leftovers of the deletion either.
    for e in fs::read_dir(log_dir(dir.path())).unwrap() {
        let name = e.unwrap().file_name().into_string().unwrap();
        assert!(!name.ends_with(".deleted"), "{name}");
    }
}

#[test]
fn invalid_entries_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), small_config(500));
    let invalid = |r: Result<(), Error>| matches!(r, Err(Error::InvalidAbortedTxn { .. }));
    // Empty log: no marker can be in it.
    assert!(invalid(log.append_aborted_txn(txn(1, 0, 0))));
    let mut last = 0;
    for _ in 0..10 {
        last = append(&log);
    }
    assert!(log.segment_count() > 1);
    let end = log.log_end_offset();
    assert!(invalid(log.append_aborted_txn(txn(1, 0, end))));
    assert!(invalid(log.append_aborted_txn(txn(1, 0, i64::MAX))));
    assert!(invalid(log.append_aborted_txn(txn(1, 5, 4))));
    assert!(invalid(log.append_aborted_txn(txn(1, -1, 4))));
    assert!(all(&log).is_empty());
    assert!(files(dir.path(), TXN_INDEX_SUFFIX).is_empty());

    // In order within the active segment.
    let active = segment_of(&log, last);
    let a = txn(1, 0, last - 1);
    log.append_aborted_txn(a).unwrap();
    let b = txn(2, 0, last);
    log.append_aborted_txn(b).unwrap();
    let before = fs::read(txn_file(dir.path(), active)).unwrap();
    // Out of order, or a different entry at the same marker: refused.
    assert!(invalid(log.append_aborted_txn(txn(3, 0, last - 1))));
    assert!(invalid(log.append_aborted_txn(txn(3, 0, last))));
    // The very same entry again: accepted, nothing added.
    log.append_aborted_txn(b).unwrap();
    log.append_aborted_txn(a).unwrap();
    assert_eq!(fs::read(txn_file(dir.path(), active)).unwrap(), before);
    assert_eq!(all(&log), [a, b]);

    // An older segment has its own order: a marker there is accepted.
    let c = txn(4, 0, 1);
    assert!(segment_of(&log, 1) < active);
    log.append_aborted_txn(c).unwrap();
    assert_eq!(all(&log), [c, a, b]);
    assert_eq!(log.collect_aborted_txns(1, 2), [c, a, b]);
    assert_eq!(log.collect_aborted_txns(2, i64::MAX), [a, b]);

    // A closed log refuses.
    log.close().unwrap();
    assert!(matches!(
        log.append_aborted_txn(txn(5, 0, last)),
        Err(Error::Closed)
    ));
    // Lookups keep working.
    assert_eq!(all(&log), [c, a, b]);
}

#[test]
fn orphan_txn_index_is_removed_and_a_new_segment_starts_clean() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), small_config(500));
    append(&log);
    drop(log);
    // A .txnindex without a .log.
    let orphan = txn_file(dir.path(), 12_345);
    let mut buf = Vec::new();
    buf.extend_from_slice(&[0u8; 34]);
    fs::write(&orphan, &buf).unwrap();
    // A stale .txnindex where the next segment will be created.
    let stale = txn_file(dir.path(), 2);
    fs::write(&stale, &buf).unwrap();

    let log = open(dir.path(), small_config(500));
    assert!(!orphan.exists());
    assert!(!stale.exists());
    assert!(all(&log).is_empty());
    // Rolls create no .txnindex files.
    for _ in 0..10 {
        append(&log);
    }
    assert!(log.segment_count() > 2);
    assert!(files(dir.path(), TXN_INDEX_SUFFIX).is_empty());
}

#[test]
fn flush_and_roll_keep_entries_readable_after_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = LogConfig {
        flush_messages: 1,
        ..small_config(500)
    };
    let log = open(dir.path(), cfg.clone());
    let marker = append(&log);
    let t = txn(1, 0, marker);
    log.append_aborted_txn(t).unwrap();
    log.flush(0).unwrap();
    assert_eq!(log.recovery_point(), log.log_end_offset());
    for _ in 0..10 {
        append(&log);
    }
    assert!(log.segment_count() > 2);
    drop(log);
    // Unclean reopen: every segment is recovered, the entry loads.
    let log = open(dir.path(), cfg);
    assert_eq!(all(&log), [t]);
}
