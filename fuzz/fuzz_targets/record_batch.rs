//! Arbitrary bytes as a buffer of batches: split, validate, patch, iterate
//! every record; and for batches that decode, re-encode them with the
//! builder and check the records survive.
#![no_main]

use bytes::{Bytes, BytesMut};
use libfuzzer_sys::fuzz_target;
use vltava_records::{patch, BatchSplitter, RecordBatch, RecordBatchBuilder, TimestampType};

/// Small, so a bomb costs little time and a limit error is reachable.
const LIMIT: usize = 1 << 20;

fuzz_target!(|data: &[u8]| {
    let buf = Bytes::copy_from_slice(data);
    for batch in BatchSplitter::new(buf) {
        let Ok(batch) = batch else { break };
        let valid = batch.validate().is_ok();
        let _ = (batch.last_offset(), batch.next_offset(), batch.last_sequence());

        // Patching never panics and keeps a valid batch valid.
        let mut m = BytesMut::from(&batch.as_bytes()[..]);
        patch::set_base_offset(&mut m, 17).unwrap();
        patch::set_partition_leader_epoch(&mut m, 3).unwrap();
        patch::set_log_append_time(&mut m, 99).unwrap();
        if valid {
            let patched = RecordBatch::new(m.freeze()).unwrap();
            assert!(patched.validate().is_ok(), "patching broke a valid batch");
        }

        let Ok(records) = batch.records_with_limit(LIMIT) else { continue };
        let records: Result<Vec<_>, _> = records.collect();
        let Ok(records) = records else { continue };
        if batch.timestamp_type() != TimestampType::CreateTime || records.is_empty() {
            continue;
        }
        // Round trip through the builder.
        let mut b = RecordBatchBuilder::new();
        if records.iter().any(|r| b.append_record(r).is_err()) {
            continue;
        }
        let Ok(rebuilt) = b.build() else { continue };
        let again = RecordBatch::new(rebuilt).expect("builder output parses");
        again.validate().expect("builder output validates");
        let again: Vec<_> = again
            .records()
            .expect("records")
            .collect::<Result<_, _>>()
            .expect("builder output decodes");
        assert_eq!(again.len(), records.len());
        for (a, r) in again.iter().zip(&records) {
            assert_eq!(a.offset_delta, r.offset_delta);
            assert_eq!(a.timestamp, r.timestamp);
            assert_eq!(a.key, r.key);
            assert_eq!(a.value, r.value);
            assert_eq!(a.headers, r.headers);
        }
    }
});
