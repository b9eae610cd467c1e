//! Append, read, lookups, rolls, retention, truncation and flush of a Log.

mod common;

use common::*;
use vltava_records::TimestampType;
use vltava_storage::{Error, LogConfig};

#[test]
fn append_and_read_round_trip_across_rolls() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), small_config(1024));
    let mut expected = Vec::new();
    for i in 0..60 {
        let n = 1 + i % 4;
        let b = batch(n, 1_000 + i as i64, 20);
        let info = log.append_as_leader(b.clone(), 5_000, 7).unwrap();
        assert_eq!(
            info.first_offset,
            expected.iter().map(|&(_, n)| n as i64).sum::<i64>()
        );
        assert_eq!(info.last_offset, info.first_offset + n as i64 - 1);
        assert_eq!(info.log_append_time, -1);
        assert_eq!(info.log_start_offset, 0);
        expected.push((b, n));
    }
    assert!(log.segment_count() >= 4, "{} segments", log.segment_count());
    // Segments never exceed segment.bytes.
    for p in files(dir.path(), "log") {
        assert!(std::fs::metadata(p).unwrap().len() <= 1024);
    }
    let all = read_all(&log);
    assert_eq!(all.len(), expected.len());
    let mut offset = 0;
    for (got, (orig, n)) in all.iter().zip(&expected) {
        assert_eq!(got.base_offset(), offset);
        assert_eq!(got.partition_leader_epoch(), 7);
        // Only the base offset and the epoch differ from what was sent.
        assert_eq!(&got.as_bytes()[17..], &orig[17..]);
        offset += *n as i64;
    }
    assert_eq!(log.log_end_offset(), offset);

    // One read spanning segments returns everything in order.
    let r = log.read(0, 1 << 20, i64::MAX, false).unwrap();
    assert_eq!(split(&r.records).len(), expected.len());
    assert_eq!(r.next_offset, offset);
}

#[test]
fn read_inside_a_batch_returns_the_whole_batch() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), small_config(1 << 20));
    log.append_as_leader(batch(5, 0, 10), 0, 0).unwrap(); // 0..=4
    log.append_as_leader(batch(5, 0, 10), 0, 0).unwrap(); // 5..=9
    for start in 0..10 {
        let r = log.read(start, 1 << 20, i64::MAX, false).unwrap();
        let bs = split(&r.records);
        let want_base = if start < 5 { 0 } else { 5 };
        assert_eq!(bs[0].base_offset(), want_base, "start {start}");
        assert_eq!(r.first_batch_offset, Some(want_base));
        assert_eq!(r.next_offset, 10);
        assert!(log.lookup_position(start).unwrap().is_some());
    }
}

#[test]
fn max_bytes_high_watermark_and_kip74() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), small_config(1 << 20));
    let b = batch(3, 0, 50);
    let size = b.len();
    for _ in 0..4 {
        log.append_as_leader(b.clone(), 0, 0).unwrap();
    }
    // Room for two batches and a bit.
    let r = log.read(0, 2 * size + 10, i64::MAX, false).unwrap();
    assert_eq!(split(&r.records).len(), 2);
    assert_eq!(r.next_offset, 6);
    // Exactly one batch.
    let r = log.read(0, size, i64::MAX, false).unwrap();
    assert_eq!(split(&r.records).len(), 1);
    // Too small: nothing, unless min_one_batch (KIP-74).
    let r = log.read(3, size - 1, i64::MAX, false).unwrap();
    assert!(r.records.is_empty());
    assert_eq!(r.next_offset, 3);
    let r = log.read(3, 1, i64::MAX, true).unwrap();
    let bs = split(&r.records);
    assert_eq!(bs.len(), 1);
    assert_eq!(bs[0].base_offset(), 3);
    // The high watermark bounds the read: batches at or past it are left out.
    let r = log.read(0, 1 << 20, 6, false).unwrap();
    assert_eq!(split(&r.records).len(), 2);
    let r = log.read(6, 1 << 20, 6, true).unwrap();
    assert!(r.records.is_empty());
    // A batch straddling the high watermark is not returned.
    let r = log.read(0, 1 << 20, 7, false).unwrap();
    assert_eq!(split(&r.records).len(), 2);
}

#[test]
fn read_at_end_is_empty_and_out_of_range_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), small_config(1 << 20));
    let r = log.read(0, 100, i64::MAX, true).unwrap();
    assert!(r.records.is_empty());
    log.append_as_leader(batch(2, 0, 1), 0, 0).unwrap();
    let r = log.read(2, 100, i64::MAX, true).unwrap();
    assert!(r.records.is_empty());
    assert_eq!(r.log_end_offset, 2);
    match log.read(3, 100, i64::MAX, true) {
        Err(Error::OffsetOutOfRange {
            requested: 3,
            log_start: 0,
            log_end: 2,
        }) => {}
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        log.read(-1, 100, i64::MAX, true),
        Err(Error::OffsetOutOfRange { .. })
    ));
}

#[test]
fn offset_index_entries_point_at_batches() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = LogConfig {
        index_interval_bytes: 100,
        ..small_config(1 << 20)
    };
    let log = open(dir.path(), cfg.clone());
    let mut positions = Vec::new();
    let mut pos = 0u64;
    for i in 0..40 {
        let b = batch(2, i, 30);
        positions.push((i * 2, pos));
        pos += b.len() as u64;
        log.append_as_leader(b, 0, 0).unwrap();
    }
    for &(offset, want) in &positions {
        for o in [offset, offset + 1] {
            let (seg, at, base) = log.lookup_position(o).unwrap().unwrap();
            assert_eq!((seg, at, base), (0, want, offset));
        }
    }
    log.close().unwrap();
    // The index file holds (last offset, position) entries for batches,
    // spaced by at least index.interval.bytes of data.
    let ix = std::fs::read(&files(dir.path(), "index")[0]).unwrap();
    assert!(ix.len() >= 8 * 5, "{} bytes", ix.len());
    let mut prev_pos = 0;
    for e in ix.chunks(8) {
        let rel = u32::from_be_bytes(e[..4].try_into().unwrap()) as i64;
        let p = u32::from_be_bytes(e[4..].try_into().unwrap()) as u64;
        let &(first, at) = positions
            .iter()
            .find(|&&(_, at)| at == p)
            .expect("batch start");
        assert_eq!(rel, first + 1, "entry holds the batch's last offset");
        assert!(at - prev_pos > 100 || prev_pos == 0);
        prev_pos = at;
    }
    // The time index is increasing in both fields.
    let tix = std::fs::read(&files(dir.path(), "timeindex")[0]).unwrap();
    assert_eq!(tix.len() % 12, 0);
    assert!(!tix.is_empty());
    let entries: Vec<(i64, u32)> = tix
        .chunks(12)
        .map(|e| {
            (
                i64::from_be_bytes(e[..8].try_into().unwrap()),
                u32::from_be_bytes(e[8..].try_into().unwrap()),
            )
        })
        .collect();
    assert!(entries
        .windows(2)
        .all(|w| w[0].0 < w[1].0 && w[0].1 < w[1].1));
    // Sealed on close: the last entry is the maximum timestamp (39 + 1).
    assert_eq!(entries.last().unwrap().0, 40);
}

#[test]
fn offset_for_timestamp_across_segments() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), small_config(600));
    // Batch i: 3 records at 1000*i, 1000*i+1, 1000*i+2; offsets 3i..3i+2.
    for i in 0..30 {
        log.append_as_leader(batch(3, 1000 * i, 40), 0, 4).unwrap();
    }
    assert!(log.segment_count() > 3);
    let t = log.offset_for_timestamp(0).unwrap().unwrap();
    assert_eq!((t.timestamp, t.offset, t.leader_epoch), (0, 0, 4));
    // Exact record, inside a batch.
    let t = log.offset_for_timestamp(17_001).unwrap().unwrap();
    assert_eq!((t.timestamp, t.offset), (17_001, 52));
    // Between batches: the next batch's first record.
    let t = log.offset_for_timestamp(17_003).unwrap().unwrap();
    assert_eq!((t.timestamp, t.offset), (18_000, 54));
    for i in 0..30 {
        let t = log.offset_for_timestamp(1000 * i + 2).unwrap().unwrap();
        assert_eq!(t.offset, 3 * i + 2);
    }
    assert_eq!(log.offset_for_timestamp(29_003).unwrap(), None);
    let m = log.max_timestamp_offset().unwrap().unwrap();
    assert_eq!((m.timestamp, m.offset), (29_002, 89));
    assert_eq!(log.earliest_offset(), 0);
    assert_eq!(log.latest_offset(), 90);
}

#[test]
fn max_timestamp_offset_finds_the_record_not_the_batch_end() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), small_config(1 << 20));
    let mut b = vltava_records::RecordBatchBuilder::new();
    b.append(10, None, Some(b"a"), &[]).unwrap();
    b.append(99, None, Some(b"b"), &[]).unwrap();
    b.append(20, None, Some(b"c"), &[]).unwrap();
    log.append_as_leader(batch(1, 5, 1), 0, 0).unwrap();
    log.append_as_leader(b.build().unwrap(), 0, 0).unwrap();
    log.append_as_leader(batch(1, 50, 1), 0, 0).unwrap();
    let m = log.max_timestamp_offset().unwrap().unwrap();
    assert_eq!((m.timestamp, m.offset), (99, 2));
    // offset_for_timestamp(15): the first record with ts >= 15 is offset 2.
    let t = log.offset_for_timestamp(15).unwrap().unwrap();
    assert_eq!((t.timestamp, t.offset), (99, 2));
}

#[test]
fn log_append_time_is_stamped_with_a_valid_crc() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = LogConfig {
        message_timestamp_type: TimestampType::LogAppendTime,
        ..small_config(1 << 20)
    };
    let log = open(dir.path(), cfg);
    let info = log
        .append_as_leader(batches(&[batch(3, 5, 8), batch(2, 6, 8)]), 777_000, 2)
        .unwrap();
    assert_eq!(info.log_append_time, 777_000);
    assert_eq!(info.max_timestamp, 777_000);
    assert_eq!(info.offset_of_max_timestamp, 0);
    assert_eq!(info.batch_count, 2);
    let all = read_all(&log);
    assert_eq!(all.len(), 2);
    for b in &all {
        b.validate().unwrap();
        assert_eq!(b.timestamp_type(), TimestampType::LogAppendTime);
        assert_eq!(b.max_timestamp(), 777_000);
        for r in b.records().unwrap() {
            assert_eq!(r.unwrap().timestamp, 777_000);
        }
    }
    assert_eq!(
        log.offset_for_timestamp(777_000).unwrap().unwrap().offset,
        0
    );
    // Switching the live config back to CreateTime leaves batches as sent.
    log.set_config(small_config(1 << 20)).unwrap();
    let info = log.append_as_leader(batch(1, 42, 1), 800_000, 2).unwrap();
    assert_eq!(info.log_append_time, -1);
    let r = log.read(5, 1000, i64::MAX, false).unwrap();
    let b = &split(&r.records)[0];
    assert_eq!(b.timestamp_type(), TimestampType::CreateTime);
    assert_eq!(b.max_timestamp(), 42);
    b.validate().unwrap();
}

#[test]
fn rolls_by_segment_ms_with_injected_time() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = LogConfig {
        segment_ms: 1000,
        ..small_config(1 << 20)
    };
    let log = open(dir.path(), cfg);
    // Record timestamps are constant, so only the clock can roll.
    log.append_as_leader(batch(1, 0, 1), 10_000, 0).unwrap();
    log.append_as_leader(batch(1, 0, 1), 10_500, 0).unwrap();
    log.append_as_leader(batch(1, 0, 1), 11_000, 0).unwrap();
    assert_eq!(log.segment_count(), 1);
    log.append_as_leader(batch(1, 0, 1), 11_001, 0).unwrap();
    assert_eq!(log.segment_base_offsets(), vec![0, 3]);
    // An empty active segment never rolls, however old.
    let dir2 = tempfile::tempdir().unwrap();
    let cfg = LogConfig {
        segment_ms: 1,
        ..small_config(1 << 20)
    };
    let log = open(dir2.path(), cfg);
    log.append_as_leader(batch(1, 0, 1), 1_000_000, 0).unwrap();
    assert_eq!(log.segment_count(), 1);
}

#[test]
fn rolls_by_record_time_span_kip33() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = LogConfig {
        segment_ms: 1000,
        ..small_config(1 << 20)
    };
    let log = open(dir.path(), cfg);
    log.append_as_leader(batch(1, 5_000, 1), 0, 0).unwrap();
    log.append_as_leader(batch(1, 6_000, 1), 0, 0).unwrap();
    assert_eq!(log.segment_count(), 1);
    log.append_as_leader(batch(1, 6_001, 1), 0, 0).unwrap();
    assert_eq!(log.segment_count(), 2);
}

#[test]
fn rolls_when_the_index_is_full() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = LogConfig {
        index_interval_bytes: 0,
        segment_index_bytes: 24, // 3 offset entries, 2 time entries
        ..small_config(1 << 20)
    };
    let log = open(dir.path(), cfg);
    for i in 0..20 {
        log.append_as_leader(batch(1, i, 1), 0, 0).unwrap();
    }
    // No entry for a segment's first batch, then one per batch: the time
    // index (2 entries) fills after 3 batches.
    assert_eq!(log.segment_count(), 7, "{:?}", log.segment_base_offsets());
    log.close().unwrap();
    for p in files(dir.path(), "index") {
        assert!(std::fs::metadata(p).unwrap().len() <= 24);
    }
    assert_eq!(read_all(&log).len(), 20);
}

#[test]
fn append_larger_than_a_segment_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), small_config(200));
    let b = batch(1, 0, 300);
    match log.append_as_leader(b, 0, 0) {
        Err(Error::MessageSetTooLarge { max: 200, .. }) => {}
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        log.append_as_leader(bytes::Bytes::from_static(b"garbage"), 0, 0),
        Err(Error::InvalidRecords(_))
    ));
    assert!(matches!(
        log.append_as_leader(bytes::Bytes::new(), 0, 0),
        Err(Error::InvalidRecords(_))
    ));
    assert_eq!(log.log_end_offset(), 0);
}

#[test]
fn time_retention_deletes_old_segments_and_rolls_an_expired_active_one() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = LogConfig {
        retention_ms: 10_000,
        ..small_config(400)
    };
    let log = open(dir.path(), cfg);
    for i in 0..20 {
        log.append_as_leader(batch(2, 1000 * i, 30), 0, 0).unwrap();
    }
    let bases = log.segment_base_offsets();
    assert!(bases.len() >= 4, "{bases:?}");
    // now = 25_000: batches with ts < 15_000 are older than 10 s.
    let deleted = log.delete_retention(25_000).unwrap();
    assert!(deleted >= 1);
    let start = log.log_start_offset();
    assert_eq!(start, log.segment_base_offsets()[0]);
    assert!(start > 0);
    assert!(matches!(
        log.read(start - 1, 100, i64::MAX, true),
        Err(Error::OffsetOutOfRange { .. })
    ));
    // Every remaining closed segment holds a batch newer than the cutoff.
    let r = log.read(start, 1 << 20, i64::MAX, true).unwrap();
    assert!(split(&r.records)[0].max_timestamp() > 14_000);
    // Everything expired: the active segment is rolled and deleted too.
    let end = log.log_end_offset();
    log.delete_retention(1_000_000).unwrap();
    assert_eq!(log.segment_base_offsets(), vec![end]);
    assert_eq!(log.log_start_offset(), end);
    assert_eq!(log.log_end_offset(), end);
    assert!(log
        .read(end, 100, i64::MAX, true)
        .unwrap()
        .records
        .is_empty());
    // Deleted files are gone (no .deleted left over).
    assert_eq!(files(dir.path(), "log").len(), 1);
    assert!(files(dir.path(), "deleted").is_empty());
    // Nothing more to delete; appends continue.
    assert_eq!(log.delete_retention(2_000_000).unwrap(), 0);
    let info = log.append_as_leader(batch(1, 0, 1), 0, 0).unwrap();
    assert_eq!(info.first_offset, end);
}

#[test]
fn time_retention_respects_the_high_watermark_and_policy() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = LogConfig {
        retention_ms: 1,
        ..small_config(300)
    };
    let log = open(dir.path(), cfg.clone());
    for i in 0..10 {
        log.append_as_leader(batch(1, i, 100), 0, 0).unwrap();
    }
    let bases = log.segment_base_offsets();
    assert!(bases.len() >= 3);
    // Only segments wholly below offset bases[2] may go.
    assert_eq!(log.delete_retention_up_to(1_000_000, bases[2]).unwrap(), 2);
    assert_eq!(log.log_start_offset(), bases[2]);
    // compact-only: time retention does nothing.
    log.set_config(LogConfig {
        cleanup_policy: vltava_storage::CleanupPolicy {
            delete: false,
            compact: true,
        },
        ..cfg
    })
    .unwrap();
    assert_eq!(log.delete_retention(1_000_000).unwrap(), 0);
}

#[test]
fn size_retention_keeps_at_most_retention_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), small_config(500));
    for i in 0..30 {
        log.append_as_leader(batch(1, i, 100), 0, 0).unwrap();
    }
    let before = log.size_in_bytes();
    log.set_config(LogConfig {
        retention_bytes: 1200,
        ..small_config(500)
    })
    .unwrap();
    let deleted = log.delete_retention(0).unwrap();
    assert!(deleted > 0);
    let after = log.size_in_bytes();
    assert!(after <= 1200 + 500, "{before} -> {after}");
    assert!(after + 500 > 1200, "deleted more than needed: {after}");
    assert_eq!(log.log_start_offset(), log.segment_base_offsets()[0]);
    assert_eq!(read_all(&log).last().unwrap().last_offset(), 29);
}

#[test]
fn delete_records_before_moves_the_low_watermark() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), small_config(400));
    for i in 0..20 {
        log.append_as_leader(batch(2, i, 30), 0, 0).unwrap();
    }
    let segs = log.segment_base_offsets().len();
    let hw = log.log_end_offset();
    assert!(matches!(
        log.delete_records_before(hw + 1, hw),
        Err(Error::OffsetOutOfRange { .. })
    ));
    assert!(matches!(
        log.delete_records_before(30, 20),
        Err(Error::OffsetOutOfRange { .. })
    ));
    assert_eq!(log.delete_records_before(21, hw).unwrap(), 21);
    assert_eq!(log.log_start_offset(), 21);
    assert!(log.segment_base_offsets().len() < segs);
    assert!(log.segment_base_offsets()[0] <= 21);
    // Below the low watermark: out of range; at it: the batch containing it.
    assert!(matches!(
        log.read(20, 1000, i64::MAX, true),
        Err(Error::OffsetOutOfRange { .. })
    ));
    let r = log.read(21, 1000, i64::MAX, true).unwrap();
    assert_eq!(split(&r.records)[0].base_offset(), 20);
    // Moving it backwards does nothing.
    assert_eq!(log.delete_records_before(5, hw).unwrap(), 21);
    // Up to the log end: the active segment stays.
    assert_eq!(log.delete_records_before(hw, hw).unwrap(), hw);
    assert!(log
        .read(hw, 1000, i64::MAX, true)
        .unwrap()
        .records
        .is_empty());
    assert!(log.segment_count() >= 1);
    assert!(log.offset_for_timestamp(0).unwrap().is_none());
}

#[test]
fn truncate_to_drops_everything_above_across_segments() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), small_config(300));
    for i in 0..20 {
        log.append_as_leader(batch(2, i * 10, 30), 0, 0).unwrap();
    }
    let segs_before = log.segment_count();
    assert!(log.truncate_to(14).unwrap());
    assert_eq!(log.log_end_offset(), 14);
    assert!(log.segment_count() < segs_before);
    assert!(!log.truncate_to(100).unwrap());
    // Truncating inside a batch removes that whole batch.
    assert!(log.truncate_to(11).unwrap());
    assert_eq!(log.log_end_offset(), 10);
    let all = read_all(&log);
    assert_eq!(all.last().unwrap().last_offset(), 9);
    assert_eq!(log.max_timestamp_offset().unwrap().unwrap().timestamp, 41);
    assert_eq!(log.offset_for_timestamp(42).unwrap(), None);
    // Appends continue at the new end, in the truncated segment.
    let info = log.append_as_leader(batch(1, 5, 1), 0, 0).unwrap();
    assert_eq!(info.first_offset, 10);
    drop(log);
    // An unclean reopen agrees.
    let log = open(dir.path(), small_config(300));
    assert_eq!(log.log_end_offset(), 11);
    assert_eq!(read_all(&log).len(), 6);
    // Below the first segment: the log starts over.
    log.truncate_fully_and_start_at(100, 0).unwrap();
    assert_eq!((log.log_start_offset(), log.log_end_offset()), (100, 100));
    assert_eq!(
        log.append_as_leader(batch(1, 0, 1), 0, 0)
            .unwrap()
            .first_offset,
        100
    );
}

#[test]
fn a_follower_append_larger_than_a_segment_is_written_across_segments() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), small_config(1024));
    let mk = |base: i64, epoch: i32| {
        let mut b = vltava_records::RecordBatchBuilder::new()
            .base_offset(base)
            .partition_leader_epoch(epoch);
        for i in 0..4 {
            b.append(i, None, Some(&[b'x'; 40][..]), &[]).unwrap();
        }
        b.build().unwrap()
    };
    // Ten batches of ~250 bytes in one fetch: more than two segments' worth,
    // the epoch changing halfway.
    let parts: Vec<_> = (0..10)
        .map(|i| mk(i * 4, if i < 5 { 1 } else { 2 }))
        .collect();
    let total: usize = parts.iter().map(|b| b.len()).sum();
    assert!(total > 2 * 1024, "{total} bytes");
    let info = log.append_as_follower(batches(&parts), 0).unwrap();
    assert_eq!((info.first_offset, info.last_offset), (0, 39));
    assert_eq!(info.batch_count, 10);
    assert_eq!(info.size_in_bytes, total as u64);
    assert!(log.segment_count() >= 3, "{} segments", log.segment_count());
    for p in files(dir.path(), "log") {
        assert!(std::fs::metadata(p).unwrap().len() <= 1024);
    }
    assert_eq!(read_all(&log).len(), 10);
    assert_eq!(log.epoch_entries(), vec![(1, 0), (2, 20)]);
    // A single batch larger than a segment is still refused.
    let mut big = vltava_records::RecordBatchBuilder::new().base_offset(40);
    big.append(0, None, Some(&[b'y'; 2000][..]), &[]).unwrap();
    assert!(matches!(
        log.append_as_follower(big.build().unwrap(), 0),
        Err(Error::MessageSetTooLarge { .. })
    ));
    assert_eq!(log.log_end_offset(), 40);
}

#[test]
fn follower_appends_only_go_forward_and_may_skip_offsets() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), small_config(1 << 20));
    let mk = |base: i64, n: usize| {
        let mut b = vltava_records::RecordBatchBuilder::new()
            .base_offset(base)
            .partition_leader_epoch(3);
        for i in 0..n {
            b.append(i as i64, None, Some(b"x"), &[]).unwrap();
        }
        b.build().unwrap()
    };
    let info = log
        .append_as_follower(batches(&[mk(0, 2), mk(2, 3)]), 0)
        .unwrap();
    assert_eq!((info.first_offset, info.last_offset), (0, 4));
    // Below the log end: refused.
    match log.append_as_follower(mk(4, 1), 0) {
        Err(Error::InvalidOffsets {
            expected: 5,
            found: 4,
        }) => {}
        other => panic!("{other:?}"),
    }
    // Backwards inside one append: refused, nothing of it written.
    assert!(matches!(
        log.append_as_follower(batches(&[mk(7, 1), mk(6, 1)]), 0),
        Err(Error::InvalidOffsets { .. })
    ));
    let mut bad = mk(5, 1).to_vec();
    let last = bad.len() - 1;
    bad[last] ^= 1;
    assert!(matches!(
        log.append_as_follower(bad.into(), 0),
        Err(Error::InvalidRecords(_))
    ));
    assert_eq!(log.log_end_offset(), 5);

    // Gaps, as a leader's compacted log has where the cleaner removed
    // whole batches: taken as they are.
    let info = log
        .append_as_follower(batches(&[mk(8, 2), mk(12, 1)]), 0)
        .unwrap();
    assert_eq!((info.first_offset, info.last_offset), (8, 12));
    assert_eq!(log.log_end_offset(), 13);
    // A read from inside a gap starts at the next batch kept.
    for (from, want) in [(5, 8), (9, 8), (10, 12), (11, 12)] {
        let r = log.read(from, 1 << 20, i64::MAX, false).unwrap();
        assert_eq!(split(&r.records)[0].base_offset(), want, "from {from}");
    }
    // (`read_all` insists on dense offsets: one read of everything instead.)
    let everything = |log: &vltava_storage::Log| {
        let r = log.read(0, 1 << 20, i64::MAX, false).unwrap();
        split(&r.records)
    };
    let all = everything(&log);
    let bases: Vec<i64> = all.iter().map(|b| b.base_offset()).collect();
    assert_eq!(bases, [0, 2, 8, 12]);
    assert_eq!(all[1].partition_leader_epoch(), 3);
    // The gaps survive a restart's recovery.
    drop(log);
    let log = open(dir.path(), small_config(1 << 20));
    assert_eq!(log.log_end_offset(), 13);
    let bases: Vec<i64> = everything(&log).iter().map(|b| b.base_offset()).collect();
    assert_eq!(bases, [0, 2, 8, 12]);
}

#[test]
fn flush_policy_moves_the_recovery_point() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), small_config(1 << 20));
    log.append_as_leader(batch(3, 0, 1), 0, 0).unwrap();
    // Off by default.
    assert_eq!(log.recovery_point(), 0);
    assert!(!log.maybe_flush(1_000_000).unwrap());
    log.set_config(LogConfig {
        flush_messages: 5,
        ..small_config(1 << 20)
    })
    .unwrap();
    log.append_as_leader(batch(1, 0, 1), 0, 0).unwrap();
    assert_eq!(log.recovery_point(), 0);
    log.append_as_leader(batch(1, 0, 1), 0, 0).unwrap();
    assert_eq!(log.recovery_point(), 5);
    log.set_config(LogConfig {
        flush_ms: 100,
        ..small_config(1 << 20)
    })
    .unwrap();
    log.append_as_leader(batch(1, 0, 1), 50, 0).unwrap();
    assert_eq!(log.recovery_point(), 5);
    assert!(!log.maybe_flush(60).unwrap());
    assert!(log.maybe_flush(150).unwrap());
    assert_eq!(log.recovery_point(), 6);
    assert!(!log.maybe_flush(1_000).unwrap(), "nothing unflushed");
    log.append_as_leader(batch(1, 0, 1), 1_000, 0).unwrap();
    assert_eq!(log.recovery_point(), 7, "flush.ms checked on append");
    log.flush(0).unwrap();
}

#[test]
fn closed_log_refuses_appends_but_serves_reads() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), small_config(1 << 20));
    log.append_as_leader(batch(1, 0, 1), 0, 0).unwrap();
    log.close().unwrap();
    assert!(log.is_closed());
    assert!(matches!(
        log.append_as_leader(batch(1, 0, 1), 0, 0),
        Err(Error::Closed)
    ));
    assert_eq!(read_all(&log).len(), 1);
}

/// What `locate` plans is exactly what `read` returns: the same bytes,
/// read from its file ranges, and the records counted from the headers.
#[test]
fn located_ranges_hold_what_read_returns() {
    use std::os::unix::fs::FileExt;
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), small_config(1024));
    for i in 0..40 {
        log.append_as_leader(batch(1 + i % 3, 0, 30), 0, 0).unwrap();
    }
    assert!(log.segment_count() >= 3);
    for (start, max) in [(0, 1 << 20), (7, 700), (30, 1 << 20), (0, 1)] {
        let read = log.read(start, max, i64::MAX, true).unwrap();
        let located = log.locate(start, max, i64::MAX, true).unwrap();
        assert_eq!(located.len(), read.records.len(), "start {start} max {max}");
        assert!(
            located.slices().len() > 1 || max < 1024,
            "ranges of several segments"
        );
        let mut bytes = Vec::new();
        for s in located.slices() {
            let mut b = vec![0; s.len as usize];
            s.file.read_exact_at(&mut b, s.position).unwrap();
            bytes.extend_from_slice(&b);
        }
        assert_eq!(bytes, &read.records[..]);
        let counted: i64 = split(&read.records)
            .iter()
            .map(|b| b.last_offset() - b.base_offset() + 1)
            .sum();
        assert_eq!(located.record_count() as i64, counted);
        assert_eq!(located.next_offset(), read.next_offset);
        assert!(located.unchanged());
        assert_eq!(located.load().unwrap(), read);
    }
    // At the log end: nothing located.
    let end = log
        .locate(log.log_end_offset(), 1 << 20, i64::MAX, true)
        .unwrap();
    assert!(end.is_empty() && end.slices().is_empty());
}

/// A truncation after the plan tells a sender of the ranges that the
/// bytes may have changed; the copying read drops what moved.
#[test]
fn truncation_after_locate_is_seen() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), small_config(1 << 20));
    for _ in 0..10 {
        log.append_as_leader(batch(2, 0, 30), 0, 0).unwrap();
    }
    let before = log.locate(0, 1 << 20, i64::MAX, false).unwrap();
    let untouched = log.locate(0, 1 << 20, i64::MAX, false).unwrap();
    // Truncating at or past the end cuts nothing and changes nothing.
    assert!(!log.truncate_to(log.log_end_offset()).unwrap());
    assert!(untouched.unchanged());
    assert!(log.truncate_to(8).unwrap());
    assert!(!before.unchanged(), "a truncation after the plan must show");
    // New records where the cut ones were: the copying read keeps only
    // batches that begin where the plan saw batches begin, which are the
    // log's batches as they are now.
    for _ in 0..5 {
        log.append_as_leader(batch(3, 0, 30), 0, 1).unwrap();
    }
    let loaded = before.load().unwrap();
    let now = log.read(0, 1 << 20, i64::MAX, false).unwrap();
    assert!(loaded.next_offset >= 8);
    assert!(now.records.starts_with(&loaded.records));
    // A plan made after the truncation is good again.
    assert!(log.locate(0, 1 << 20, i64::MAX, false).unwrap().unchanged());
    // So is one after a full truncation.
    let planned = log.locate(0, 1 << 20, i64::MAX, false).unwrap();
    log.truncate_fully_and_start_at(100, 0).unwrap();
    assert!(!planned.unchanged());
    log.append_as_leader(batch(2, 0, 30), 0, 2).unwrap();
    assert!(log
        .locate(100, 1 << 20, i64::MAX, false)
        .unwrap()
        .unchanged());
}
