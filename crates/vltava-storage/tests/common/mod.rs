//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use bytes::{Bytes, BytesMut};
use vltava_records::{BatchSplitter, RecordBatch, RecordBatchBuilder};
use vltava_storage::{Log, LogConfig, LogOpenOptions};

/// One batch of `records` records with timestamps `ts, ts+1, ...` and
/// values of `value_len` bytes (producer style: base offset 0).
pub fn batch(records: usize, ts: i64, value_len: usize) -> Bytes {
    let mut b = RecordBatchBuilder::new();
    let value = vec![b'v'; value_len];
    for i in 0..records {
        let key = format!("k{i}");
        b.append(ts + i as i64, Some(key.as_bytes()), Some(&value), &[])
            .unwrap();
    }
    b.build().unwrap()
}

/// Several batches concatenated, as in one Produce request.
pub fn batches(parts: &[Bytes]) -> Bytes {
    let mut out = BytesMut::new();
    for p in parts {
        out.extend_from_slice(p);
    }
    out.freeze()
}

pub fn split(bytes: &Bytes) -> Vec<RecordBatch> {
    BatchSplitter::new(bytes.clone())
        .map(|b| b.expect("whole batches"))
        .collect()
}

/// A config with small segments for tests.
pub fn small_config(segment_bytes: u32) -> LogConfig {
    LogConfig {
        segment_bytes,
        index_interval_bytes: 64,
        retention_ms: -1,
        ..LogConfig::default()
    }
}

pub fn log_dir(root: &Path) -> PathBuf {
    root.join("topic.a-b_c-3")
}

pub fn open(root: &Path, cfg: LogConfig) -> Log {
    Log::open(&log_dir(root), cfg, LogOpenOptions::default(), 0).unwrap()
}

pub fn open_clean(root: &Path, cfg: LogConfig) -> Log {
    Log::open(
        &log_dir(root),
        cfg,
        LogOpenOptions {
            clean_shutdown: true,
            ..LogOpenOptions::default()
        },
        0,
    )
    .unwrap()
}

/// Reads the whole log and returns its batches, checking every CRC and
/// that offsets are dense.
pub fn read_all(log: &Log) -> Vec<RecordBatch> {
    let mut out = Vec::new();
    let mut at = log.log_start_offset();
    while at < log.log_end_offset() {
        let r = log.read(at, 1 << 20, i64::MAX, true).unwrap();
        assert!(!r.records.is_empty(), "no progress at {at}");
        for b in split(&r.records) {
            b.validate().unwrap();
            if let Some(prev) = out.last() {
                let prev: &RecordBatch = prev;
                assert_eq!(b.base_offset(), prev.next_offset());
            }
            out.push(b);
        }
        at = r.next_offset;
    }
    out
}

/// Files with extension `ext` in the log dir, sorted.
pub fn files(root: &Path, ext: &str) -> Vec<PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(log_dir(root))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().and_then(|e| e.to_str()) == Some(ext))
        .collect();
    v.sort();
    v
}
