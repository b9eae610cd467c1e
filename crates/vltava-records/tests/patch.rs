//! In-place patching as the broker does on produce.

use bytes::BytesMut;
use vltava_records::{patch, Compression, RecordBatch, RecordBatchBuilder, TimestampType};

fn batch(codec: Compression) -> BytesMut {
    let mut b = RecordBatchBuilder::new()
        .compression(codec)
        .producer(9, 0, 0);
    for i in 0..10 {
        b.append(5_000 + i, Some(b"key"), Some(b"value"), &[])
            .unwrap();
    }
    BytesMut::from(&b.build().unwrap()[..])
}

#[test]
fn base_offset_and_epoch_keep_the_crc_valid() {
    for codec in Compression::ALL {
        let mut buf = batch(codec);
        let crc_before = RecordBatch::new(buf.clone().freeze()).unwrap().crc();
        patch::set_base_offset(&mut buf, 1_234_567).unwrap();
        patch::set_partition_leader_epoch(&mut buf, 42).unwrap();
        let b = RecordBatch::new(buf.freeze()).unwrap();
        b.validate().unwrap();
        assert_eq!(b.crc(), crc_before, "offset and epoch are outside the CRC");
        assert_eq!(b.base_offset(), 1_234_567);
        assert_eq!(b.partition_leader_epoch(), 42);
        assert_eq!(b.last_offset(), 1_234_576);
        assert_eq!(b.next_offset(), 1_234_577);
        let offsets: Vec<i64> = b.records().unwrap().map(|r| r.unwrap().offset).collect();
        assert_eq!(offsets, (1_234_567..1_234_577).collect::<Vec<_>>());
    }
}

#[test]
fn log_append_time_rewrites_the_crc() {
    for codec in Compression::ALL {
        let mut buf = batch(codec);
        let before = RecordBatch::new(buf.clone().freeze()).unwrap();
        assert_eq!(before.timestamp_type(), TimestampType::CreateTime);
        patch::set_log_append_time(&mut buf, 99_999).unwrap();
        let b = RecordBatch::new(buf.clone().freeze()).unwrap();
        b.validate().unwrap();
        assert_ne!(b.crc(), before.crc());
        assert_eq!(b.timestamp_type(), TimestampType::LogAppendTime);
        assert_eq!(b.max_timestamp(), 99_999);
        assert_eq!(b.base_timestamp(), 5_000, "base timestamp untouched");
        assert_eq!(b.compression().unwrap(), codec, "other attribute bits kept");
        for r in b.records().unwrap() {
            assert_eq!(r.unwrap().timestamp, 99_999);
        }

        // Back to CreateTime with the original max: the original bytes.
        patch::set_max_timestamp(&mut buf, TimestampType::CreateTime, 5_009).unwrap();
        assert_eq!(&buf[..], &before.as_bytes()[..]);
    }
}

#[test]
fn patch_works_on_a_batch_followed_by_others() {
    let first = batch(Compression::None);
    let second = batch(Compression::Lz4);
    let mut buf = first.clone();
    buf.extend_from_slice(&second);
    patch::set_log_append_time(&mut buf, 7).unwrap();
    let n = first.len();
    let b = RecordBatch::new(buf.clone().freeze().slice(..n)).unwrap();
    b.validate().unwrap();
    assert_eq!(&buf[n..], &second[..], "next batch untouched");
}

#[test]
fn patch_refuses_truncated_batches() {
    let buf = batch(Compression::None);
    let mut cut = buf[..buf.len() - 1].to_vec();
    assert!(patch::set_log_append_time(&mut cut, 1)
        .unwrap_err()
        .is_truncated());
    assert!(patch::recompute_crc(&mut cut).is_err());
    // Offset and epoch only need the header.
    patch::set_base_offset(&mut cut, 3).unwrap();
}
