//! Reopening after clean and unclean shutdowns, torn tails, corruption,
//! checkpoints and the LogManager's directory handling.

mod common;

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use common::*;
use vltava_storage::checkpoint::{
    read_offset_checkpoint, read_partition_metadata, TopicPartition, LOG_START_OFFSET_CHECKPOINT,
    RECOVERY_POINT_CHECKPOINT,
};
use vltava_storage::{
    Error, KafkaUuid, LogConfig, LogManager, LogManagerOptions, CLEAN_SHUTDOWN_FILE,
};

const TOPIC: &str = "topic.a-b_c";
const PARTITION: i32 = 3;

fn opts(cfg: LogConfig) -> LogManagerOptions {
    LogManagerOptions {
        default_config: cfg,
        max_open_segment_files: 8,
        fd_cache: None,
    }
}

fn manager(root: &Path, cfg: LogConfig) -> LogManager {
    LogManager::open(root, opts(cfg), 0).unwrap()
}

/// A manager with one log holding `n` two-record batches (offsets 0..2n).
fn populated(root: &Path, cfg: LogConfig, n: usize) -> LogManager {
    let m = manager(root, cfg.clone());
    let log = m
        .create_log(TOPIC, PARTITION, KafkaUuid::random(), cfg, 0)
        .unwrap();
    for i in 0..n {
        log.append_as_leader(batch(2, i as i64 * 10, 40), 0, 1)
            .unwrap();
    }
    m
}

fn mtime(p: &Path) -> SystemTime {
    fs::metadata(p).unwrap().modified().unwrap()
}

fn last_log_file(root: &Path) -> PathBuf {
    files(root, "log").pop().unwrap()
}

#[test]
fn clean_reopen_trusts_the_files() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = small_config(500);
    let m = populated(dir.path(), cfg.clone(), 30);
    let before = read_all(&m.get_log(TOPIC, PARTITION).unwrap());
    m.close().unwrap();
    drop(m);
    assert!(dir.path().join(CLEAN_SHUTDOWN_FILE).exists());
    let rp = read_offset_checkpoint(&dir.path().join(RECOVERY_POINT_CHECKPOINT)).unwrap();
    let tp = TopicPartition::new(TOPIC, PARTITION).unwrap();
    assert_eq!(rp.get(&tp), Some(&60));
    let index_times: Vec<_> = files(dir.path(), "index")
        .into_iter()
        .chain(files(dir.path(), "timeindex"))
        .map(|p| (mtime(&p), fs::read(&p).unwrap(), p))
        .collect();
    assert!(index_times.len() >= 6);

    let m = manager(dir.path(), cfg);
    assert!(m.had_clean_shutdown());
    assert!(
        !dir.path().join(CLEAN_SHUTDOWN_FILE).exists(),
        "marker removed on open"
    );
    let log = m.get_log(TOPIC, PARTITION).unwrap();
    assert_eq!(log.log_end_offset(), 60);
    assert_eq!(read_all(&log), before);
    assert_eq!(
        log.recovered_bytes(),
        0,
        "nothing scanned after a clean stop"
    );
    // Indexes were loaded, not rebuilt: files untouched.
    for (t, bytes, p) in &index_times {
        assert_eq!(&mtime(p), t, "{} rewritten", p.display());
        assert_eq!(&fs::read(p).unwrap(), bytes);
    }
    for o in 0..60 {
        assert_eq!(log.lookup_position(o).unwrap().unwrap().2, o - o % 2);
    }
    assert_eq!(
        log.append_as_leader(batch(1, 0, 1), 0, 1)
            .unwrap()
            .first_offset,
        60
    );
}

#[test]
fn unclean_reopen_recovers_everything_written() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = small_config(500);
    let m = populated(dir.path(), cfg.clone(), 25);
    let before = read_all(&m.get_log(TOPIC, PARTITION).unwrap());
    drop(m); // no close: no marker, no checkpoints
    let m = manager(dir.path(), cfg);
    assert!(!m.had_clean_shutdown());
    let log = m.get_log(TOPIC, PARTITION).unwrap();
    assert_eq!(read_all(&log), before);
    assert_eq!(log.log_end_offset(), 50);
    // No recovery point was checkpointed: every segment was scanned.
    assert_eq!(log.recovered_bytes(), log.size_in_bytes());
    assert!(log.recovered_bytes() > 0);
    assert_eq!(
        log.append_as_leader(batch(1, 0, 1), 0, 1)
            .unwrap()
            .first_offset,
        50
    );
}

/// Appends 6 batches of 2 records, crashes, damages the last segment
/// with `damage`, reopens: the log must end after `keep` batches and
/// continue from there.
fn crash_and_damage(damage: impl FnOnce(&Path, u64, u64), keep: usize) {
    let dir = tempfile::tempdir().unwrap();
    let cfg = small_config(1 << 20);
    let m = populated(dir.path(), cfg.clone(), 6);
    let log = m.get_log(TOPIC, PARTITION).unwrap();
    let last_pos = log.lookup_position(10).unwrap().unwrap().1;
    drop(log);
    drop(m);
    let path = last_log_file(dir.path());
    let len = fs::metadata(&path).unwrap().len();
    damage(&path, last_pos, len);

    let m = manager(dir.path(), cfg);
    let log = m.get_log(TOPIC, PARTITION).unwrap();
    let all = read_all(&log);
    assert_eq!(all.len(), keep);
    assert_eq!(log.log_end_offset(), 2 * keep as i64);
    // The torn bytes are gone from the file, so they can never be served.
    let valid: u64 = all.iter().map(|b| b.size_in_bytes() as u64).sum();
    assert_eq!(fs::metadata(&path).unwrap().len(), valid);
    // Indexes are rebuilt and appends continue at the right offset.
    for o in 0..2 * keep as i64 {
        assert!(log.lookup_position(o).unwrap().is_some());
    }
    let info = log.append_as_leader(batch(1, 0, 1), 0, 1).unwrap();
    assert_eq!(info.first_offset, 2 * keep as i64);
    assert_eq!(read_all(&log).len(), keep + 1);
}

fn chop(path: &Path, n: u64) {
    let len = fs::metadata(path).unwrap().len();
    OpenOptions::new()
        .write(true)
        .open(path)
        .unwrap()
        .set_len(len - n)
        .unwrap();
}

fn flip(path: &Path, at: u64) {
    let mut b = fs::read(path).unwrap();
    b[at as usize] ^= 0x5a;
    fs::write(path, b).unwrap();
}

#[test]
fn torn_tail_is_truncated_to_the_last_whole_batch() {
    for n in [1, 10, 30, 61, 70] {
        crash_and_damage(|p, _, _| chop(p, n), 5);
    }
    // Cut inside the header of the last batch, and right at its start.
    crash_and_damage(|p, last, len| chop(p, len - last - 5), 5);
    crash_and_damage(|p, last, len| chop(p, len - last), 5);
}

#[test]
fn garbage_after_the_last_batch_is_removed() {
    crash_and_damage(
        |p, _, _| {
            let mut f = OpenOptions::new().append(true).open(p).unwrap();
            f.write_all(&[0xab; 100]).unwrap();
        },
        6,
    );
    // A plausible header claiming more bytes than exist.
    crash_and_damage(
        |p, _, _| {
            let mut b = batch(1, 0, 10).to_vec();
            b[..8].copy_from_slice(&12i64.to_be_bytes());
            b.truncate(b.len() - 3);
            let mut f = OpenOptions::new().append(true).open(p).unwrap();
            f.write_all(&b).unwrap();
        },
        6,
    );
    // Zeros, as a crash after extending the file can leave.
    crash_and_damage(
        |p, _, _| {
            let mut f = OpenOptions::new().append(true).open(p).unwrap();
            f.write_all(&[0; 4096]).unwrap();
        },
        6,
    );
}

#[test]
fn corrupt_crc_in_the_last_batch_is_truncated() {
    // A record byte: only the CRC can tell.
    crash_and_damage(|p, _, len| flip(p, len - 2), 5);
    // The stored CRC itself.
    crash_and_damage(|p, last, _| flip(p, last + 18), 5);
    // The base offset (outside the CRC) moved back into the previous
    // batch: caught because offsets must grow. (A jump forward looks like
    // a gap the cleaner left and is accepted, as Kafka does.)
    crash_and_damage(
        |p, last, _| {
            let mut b = fs::read(p).unwrap();
            b[last as usize..last as usize + 8].copy_from_slice(&3i64.to_be_bytes());
            fs::write(p, b).unwrap();
        },
        5,
    );
    // A batch in the middle: everything from it on goes.
    crash_and_damage(|p, _, _| flip(p, 200), 1);
}

#[test]
fn segments_after_a_corrupt_one_are_removed() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = small_config(400);
    let m = populated(dir.path(), cfg.clone(), 30);
    let log = m.get_log(TOPIC, PARTITION).unwrap();
    let bases = log.segment_base_offsets();
    assert!(bases.len() >= 4, "{bases:?}");
    let (seg, pos, base) = log.lookup_position(bases[1] + 2).unwrap().unwrap();
    assert_eq!((seg, base), (bases[1], bases[1] + 2));
    drop(log);
    drop(m);
    let seg1 = log_dir(dir.path()).join(format!("{:020}.log", bases[1]));
    flip(&seg1, pos + 40); // inside the CRC-covered header of its 2nd batch

    let m = manager(dir.path(), cfg);
    let log = m.get_log(TOPIC, PARTITION).unwrap();
    assert_eq!(log.segment_base_offsets(), bases[..2].to_vec());
    assert_eq!(log.log_end_offset(), bases[1] + 2);
    assert_eq!(files(dir.path(), "log").len(), 2);
    assert_eq!(files(dir.path(), "index").len(), 2);
    assert_eq!(read_all(&log).len() as i64, (bases[1] + 2) / 2);
    assert_eq!(
        log.append_as_leader(batch(1, 0, 1), 0, 1)
            .unwrap()
            .first_offset,
        bases[1] + 2
    );
}

#[test]
fn segments_below_the_recovery_point_are_trusted_after_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = small_config(400);
    let m = populated(dir.path(), cfg.clone(), 20);
    m.checkpoint_all().unwrap();
    let log = m.get_log(TOPIC, PARTITION).unwrap();
    let bases = log.segment_base_offsets();
    assert_eq!(log.recovery_point(), *bases.last().unwrap(), "rolls fsync");
    drop(log);
    drop(m);
    let old_indexes: Vec<_> = files(dir.path(), "index")
        .into_iter()
        .take(bases.len() - 1)
        .map(|p| (mtime(&p), p))
        .collect();
    chop(&last_log_file(dir.path()), 3);
    let m = manager(dir.path(), cfg);
    let log = m.get_log(TOPIC, PARTITION).unwrap();
    assert_eq!(log.log_end_offset(), 38);
    for (t, p) in old_indexes {
        assert_eq!(mtime(&p), t, "{} was rebuilt", p.display());
    }
}

#[test]
fn broken_index_files_are_rebuilt_even_after_a_clean_shutdown() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = small_config(1 << 20);
    let m = populated(dir.path(), cfg.clone(), 40);
    m.close().unwrap();
    drop(m);
    let ix = files(dir.path(), "index").pop().unwrap();
    let tix = files(dir.path(), "timeindex").pop().unwrap();
    let good = fs::read(&ix).unwrap();
    assert!(good.len() >= 16);
    for damage in 0..4 {
        match damage {
            0 => fs::remove_file(&ix).unwrap(),
            1 => fs::write(&ix, &good[..good.len() - 3]).unwrap(),
            2 => {
                // Last entry points at the wrong batch.
                let mut b = good.clone();
                let n = b.len();
                b[n - 5] ^= 1;
                fs::write(&ix, b).unwrap();
            }
            _ => fs::write(&tix, [0xff; 24]).unwrap(),
        }
        fs::write(dir.path().join(CLEAN_SHUTDOWN_FILE), b"").unwrap();
        let m = manager(dir.path(), cfg.clone());
        assert!(m.had_clean_shutdown());
        let log = m.get_log(TOPIC, PARTITION).unwrap();
        assert_eq!(log.log_end_offset(), 80);
        for o in 0..80 {
            assert_eq!(log.lookup_position(o).unwrap().unwrap().2, o - o % 2);
        }
        assert_eq!(log.offset_for_timestamp(205).unwrap().unwrap().offset, 42);
        m.close().unwrap();
        assert_eq!(fs::read(&ix).unwrap(), good, "damage {damage}");
    }
}

#[test]
fn log_start_offset_survives_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = small_config(400);
    let m = populated(dir.path(), cfg.clone(), 20);
    let log = m.get_log(TOPIC, PARTITION).unwrap();
    assert_eq!(log.delete_records_before(13, 40).unwrap(), 13);
    drop(log);
    m.close().unwrap();
    drop(m);
    let starts = read_offset_checkpoint(&dir.path().join(LOG_START_OFFSET_CHECKPOINT)).unwrap();
    assert_eq!(starts.values().copied().collect::<Vec<_>>(), vec![13]);
    for clean in [true, false] {
        if !clean {
            fs::remove_file(dir.path().join(CLEAN_SHUTDOWN_FILE)).ok();
        }
        let m = manager(dir.path(), cfg.clone());
        let log = m.get_log(TOPIC, PARTITION).unwrap();
        assert_eq!(log.log_start_offset(), 13);
        assert!(matches!(
            log.read(12, 100, i64::MAX, true),
            Err(Error::OffsetOutOfRange { .. })
        ));
        m.checkpoint_all().unwrap();
    }
}

#[test]
fn manager_creates_deletes_and_finds_logs() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = small_config(1 << 20);
    let m = manager(dir.path(), cfg.clone());
    let id = KafkaUuid::random();
    let a = m.create_log("a-b.c", 0, id, cfg.clone(), 0).unwrap();
    m.create_log("a-b.c", 1, id, cfg.clone(), 0).unwrap();
    m.create_log("x", 0, KafkaUuid::random(), cfg.clone(), 0)
        .unwrap();
    assert!(std::sync::Arc::ptr_eq(
        &a,
        &m.create_log("a-b.c", 0, id, cfg.clone(), 0).unwrap()
    ));
    assert!(matches!(
        m.create_log("a-b.c", 0, KafkaUuid::random(), cfg.clone(), 0),
        Err(Error::LogAlreadyExists { .. })
    ));
    assert!(matches!(
        m.create_log("bad/name", 0, id, cfg.clone(), 0),
        Err(Error::InvalidTopicPartition(_))
    ));
    assert_eq!(
        read_partition_metadata(&dir.path().join("a-b.c-0")).unwrap(),
        Some(id)
    );
    a.append_as_leader(batch(1, 0, 1), 0, 0).unwrap();
    drop(a);
    assert!(m.delete_log("a-b.c", 1).unwrap());
    assert!(!m.delete_log("a-b.c", 1).unwrap());
    assert!(!dir.path().join("a-b.c-1").exists());
    // Leftovers a crash can leave, and unrelated directories.
    fs::create_dir(dir.path().join("x-7.0123abcd-delete")).unwrap();
    fs::write(
        dir.path()
            .join("x-7.0123abcd-delete/00000000000000000000.log"),
        b"",
    )
    .unwrap();
    fs::create_dir(dir.path().join("lost+found")).unwrap();
    m.close().unwrap();
    drop(m);

    let m = manager(dir.path(), cfg);
    let names: Vec<String> = m
        .logs()
        .iter()
        .map(|l| l.topic_partition().to_string())
        .collect();
    assert_eq!(names, vec!["a-b.c-0", "x-0"]);
    assert!(!dir.path().join("x-7.0123abcd-delete").exists());
    assert!(dir.path().join("lost+found").exists());
    let a = m.get_log("a-b.c", 0).unwrap();
    assert_eq!(a.topic_id(), Some(id));
    assert_eq!(a.log_end_offset(), 1);
    assert!(m.get_log("a-b.c", 1).is_none());
    assert_eq!(
        m.run_retention(i64::MAX / 2).unwrap(),
        0,
        "retention.ms is -1"
    );
    m.flush_all(0).unwrap();
    assert_eq!(m.maybe_flush_all(0).unwrap(), 0);
}

#[test]
fn manager_runs_retention_over_all_logs() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = LogConfig {
        retention_ms: 1000,
        ..small_config(300)
    };
    let m = manager(dir.path(), cfg.clone());
    for p in 0..3 {
        let log = m
            .create_log("t", p, KafkaUuid::random(), cfg.clone(), 0)
            .unwrap();
        for i in 0..10 {
            log.append_as_leader(batch(1, i, 100), 0, 0).unwrap();
        }
    }
    let deleted = m.run_retention(5_000).unwrap();
    assert!(deleted >= 6);
    for log in m.logs() {
        assert_eq!(log.log_start_offset(), 10);
        assert_eq!(log.segment_count(), 1);
    }
    let starts = read_offset_checkpoint(&dir.path().join(LOG_START_OFFSET_CHECKPOINT)).unwrap();
    assert_eq!(
        starts.values().copied().collect::<Vec<_>>(),
        vec![10, 10, 10]
    );
}

#[test]
fn empty_log_dir_and_lost_segments_start_at_the_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = small_config(400);
    let m = populated(dir.path(), cfg.clone(), 10);
    let log = m.get_log(TOPIC, PARTITION).unwrap();
    log.delete_records_before(20, 20).unwrap();
    drop(log);
    m.close().unwrap();
    drop(m);
    // Every segment lost: the log restarts, empty, at its log start offset.
    for p in files(dir.path(), "log") {
        fs::remove_file(p).unwrap();
    }
    let m = manager(dir.path(), cfg);
    let log = m.get_log(TOPIC, PARTITION).unwrap();
    assert_eq!((log.log_start_offset(), log.log_end_offset()), (20, 20));
    // Orphan indexes of the lost segments were removed; the new segment's
    // are written when it is rolled, flushed or closed.
    assert!(files(dir.path(), "index").is_empty());
    assert!(files(dir.path(), "timeindex").is_empty());
    assert_eq!(
        log.append_as_leader(batch(1, 0, 1), 0, 0)
            .unwrap()
            .first_offset,
        20
    );
    log.flush(0).unwrap();
    assert_eq!(files(dir.path(), "index").len(), 1);
}

/// The clean-shutdown marker names the broker epoch set before the close,
/// as Kafka's does, and the next open reads it back; an unclean stop, an
/// empty marker (written before markers carried one) or junk give -1.
#[test]
fn the_clean_shutdown_marker_carries_the_broker_epoch() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = small_config(500);
    let m = populated(dir.path(), cfg.clone(), 3);
    assert_eq!(m.previous_broker_epoch(), -1);
    m.set_broker_epoch(42);
    m.close().unwrap();
    drop(m);
    assert_eq!(
        fs::read_to_string(dir.path().join(CLEAN_SHUTDOWN_FILE)).unwrap(),
        r#"{"version":0,"brokerEpoch":42}"#
    );
    let m = manager(dir.path(), cfg.clone());
    assert_eq!(m.previous_broker_epoch(), 42);
    drop(m); // unclean
    let m = manager(dir.path(), cfg.clone());
    assert_eq!(m.previous_broker_epoch(), -1);
    m.close().unwrap(); // no epoch set
    drop(m);
    let m = manager(dir.path(), cfg.clone());
    assert_eq!(m.previous_broker_epoch(), -1);
    m.close().unwrap();
    drop(m);
    for (text, epoch) in [
        ("", -1),
        ("junk", -1),
        (r#"{ "version": 0, "brokerEpoch": 7 }"#, 7),
    ] {
        fs::write(dir.path().join(CLEAN_SHUTDOWN_FILE), text).unwrap();
        let m = manager(dir.path(), cfg.clone());
        assert!(m.had_clean_shutdown());
        assert_eq!(m.previous_broker_epoch(), epoch, "{text:?}");
        m.close().unwrap();
        drop(m);
    }
}
