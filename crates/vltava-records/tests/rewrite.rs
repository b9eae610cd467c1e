//! Batches as the log cleaner rewrites them: a delete horizon in the base
//! timestamp (KIP-534), a kept last offset, empty batches.

use vltava_records::{Compression, RecordBatch, RecordBatchBuilder, TimestampType};

#[test]
fn delete_horizon_keeps_record_timestamps_exact() {
    for codec in Compression::ALL {
        let mut b = RecordBatchBuilder::new()
            .compression(codec)
            .base_offset(100)
            .delete_horizon(9_000_000);
        b.append_with_offset_delta(2, 1_000, Some(b"k1"), None, &[])
            .unwrap();
        b.append_with_offset_delta(5, 1_500, Some(b"k2"), Some(b"v"), &[])
            .unwrap();
        let batch = RecordBatch::new(b.build().unwrap()).unwrap();
        batch.validate().unwrap();
        assert!(batch.has_delete_horizon(), "{codec:?}");
        assert_eq!(batch.base_timestamp(), 9_000_000);
        assert_eq!(batch.max_timestamp(), 1_500);
        let records: Vec<_> = batch.records().unwrap().map(|r| r.unwrap()).collect();
        assert_eq!(
            records
                .iter()
                .map(|r| (r.offset, r.timestamp))
                .collect::<Vec<_>>(),
            vec![(102, 1_000), (105, 1_500)]
        );
        assert!(records[0].value.is_none());
    }
}

#[test]
fn a_forced_last_offset_delta_keeps_the_batch_range() {
    let mut b = RecordBatchBuilder::new()
        .base_offset(10)
        .producer(7, 1, 40)
        .last_offset_delta(9);
    b.append_with_offset_delta(3, 5, Some(b"k"), Some(b"v"), &[])
        .unwrap();
    let batch = RecordBatch::new(b.build().unwrap()).unwrap();
    batch.validate().unwrap();
    assert_eq!(batch.last_offset(), 19);
    assert_eq!(batch.record_count(), 1);
    assert_eq!(batch.last_sequence(), 49);

    // Below the last record: refused, not silently wrong.
    let mut b = RecordBatchBuilder::new().last_offset_delta(2);
    b.append_with_offset_delta(3, 5, Some(b"k"), Some(b"v"), &[])
        .unwrap();
    assert!(b.build().is_err());
}

#[test]
fn an_empty_batch_keeps_producer_fields_and_range() {
    let b = RecordBatchBuilder::new()
        .base_offset(50)
        .producer(3, 2, 7)
        .transactional(true)
        .timestamp_type(TimestampType::LogAppendTime)
        .base_timestamp(4_000)
        .max_timestamp(4_000)
        .last_offset_delta(4);
    let batch = RecordBatch::new(b.build().unwrap()).unwrap();
    batch.validate().unwrap();
    assert_eq!(batch.record_count(), 0);
    assert_eq!((batch.base_offset(), batch.last_offset()), (50, 54));
    assert_eq!(
        (
            batch.producer_id(),
            batch.producer_epoch(),
            batch.base_sequence()
        ),
        (3, 2, 7)
    );
    assert!(batch.is_transactional());
    assert_eq!(batch.max_timestamp(), 4_000);
    assert_eq!(batch.records().unwrap().count(), 0);
}
