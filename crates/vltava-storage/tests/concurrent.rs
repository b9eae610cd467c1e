//! Readers running while a producer appends (with rolls) and the log
//! start moves: every read returns whole, valid, dense batches.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;

use common::*;
use vltava_storage::Error;

#[test]
fn concurrent_readers_see_only_whole_valid_batches() {
    let dir = tempfile::tempdir().unwrap();
    let log = Arc::new(open(dir.path(), small_config(2048)));
    let done = Arc::new(AtomicBool::new(false));
    const APPENDS: usize = 1500;

    let writer = {
        let log = log.clone();
        let done = done.clone();
        thread::spawn(move || {
            for i in 0..APPENDS {
                let n = 1 + i % 5;
                let info = log
                    .append_as_leader(batch(n, i as i64, 10 + i % 50), i as i64, 1)
                    .unwrap();
                assert_eq!(info.last_offset - info.first_offset + 1, n as i64);
                if i % 300 == 299 {
                    // DeleteRecords up to half the log, concurrently with readers.
                    let end = log.log_end_offset();
                    log.delete_records_before(end / 2, end).unwrap();
                }
            }
            done.store(true, Ordering::Release);
        })
    };

    let readers: Vec<_> = (0..3u64)
        .map(|seed| {
            let log = log.clone();
            let done = done.clone();
            thread::spawn(move || {
                let mut rng = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
                let mut reads = 0u64;
                let mut batches_seen = 0u64;
                // Bounded: at most 200k reads, and stop once the writer is done.
                while reads < 200_000 && !(done.load(Ordering::Acquire) && reads > 100) {
                    rng = rng
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    let start_bound = log.log_start_offset();
                    let end = log.log_end_offset();
                    let start = start_bound + (rng >> 33) as i64 % (end - start_bound + 1);
                    let max_bytes = 64 + (rng >> 20) as usize % 4096;
                    reads += 1;
                    let r = match log.read(start, max_bytes, i64::MAX, rng & 1 == 0) {
                        Ok(r) => r,
                        // The log start moved between our snapshot and the read.
                        Err(Error::OffsetOutOfRange { .. }) if start < log.log_start_offset() => {
                            continue
                        }
                        Err(e) => panic!("read({start}) failed: {e}"),
                    };
                    let bs = split(&r.records);
                    if let Some(first) = bs.first() {
                        assert!(first.base_offset() <= start && start <= first.last_offset());
                    }
                    let mut expect = bs.first().map(|b| b.base_offset());
                    for b in &bs {
                        b.validate().expect("valid batch");
                        assert_eq!(Some(b.base_offset()), expect);
                        assert_eq!(b.partition_leader_epoch(), 1);
                        expect = Some(b.next_offset());
                    }
                    if !bs.is_empty() {
                        assert_eq!(expect, Some(r.next_offset));
                    }
                    batches_seen += bs.len() as u64;
                }
                (reads, batches_seen)
            })
        })
        .collect();

    writer.join().unwrap();
    for r in readers {
        let (reads, seen) = r.join().unwrap();
        assert!(reads > 100 && seen > 0, "{reads} reads, {seen} batches");
    }
    assert!(log.segment_count() > 1);
    let all = read_all(&log);
    assert_eq!(all.last().unwrap().next_offset(), log.log_end_offset());
}
