//! Batches written by kafka-python 3.0.12 (tests/data/gen_kafka_python.py)
//! with its own codec libraries: decoding them checks our reader and codecs
//! against an implementation no one here wrote.

use bytes::Bytes;
use vltava_records::{Compression, RecordBatch, TimestampType};

const BASE_TS: i64 = 1_700_000_000_000;

fn check(name: &str, bytes: &'static [u8], codec: Compression, transactional: bool) {
    let batch =
        RecordBatch::new(Bytes::from_static(bytes)).unwrap_or_else(|e| panic!("{name}: {e}"));
    batch.validate().unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(batch.compression().unwrap(), codec, "{name}");
    assert_eq!(batch.is_transactional(), transactional, "{name}");
    assert_eq!(batch.timestamp_type(), TimestampType::CreateTime);
    assert_eq!(batch.record_count(), 40);
    assert_eq!(batch.last_offset_delta(), 39);
    assert_eq!(batch.producer_id(), 4242);
    assert_eq!(batch.producer_epoch(), 3);
    assert_eq!(batch.base_sequence(), 100);
    assert_eq!(batch.base_timestamp(), BASE_TS);
    assert_eq!(batch.max_timestamp(), BASE_TS + 3 * 39);

    let mut n = 0;
    for (i, r) in batch.records().unwrap().enumerate() {
        let r = r.unwrap_or_else(|e| panic!("{name} record {i}: {e}"));
        let key = (i % 5 != 0).then(|| format!("key-{i}").into_bytes());
        let value = (i % 7 != 3).then(|| {
            let mut v = format!("value-{i}-").into_bytes();
            v.extend(std::iter::repeat_n(b'x', i));
            v
        });
        assert_eq!(r.offset, i as i64);
        assert_eq!(r.timestamp, BASE_TS + 3 * i as i64);
        assert_eq!(r.key.as_deref(), key.as_deref(), "{name} record {i}");
        assert_eq!(r.value.as_deref(), value.as_deref(), "{name} record {i}");
        if i % 2 == 0 {
            assert_eq!(r.headers.len(), 2);
            assert_eq!(r.headers[0].key_str().unwrap(), "h");
            assert_eq!(
                r.headers[0].value.as_deref(),
                Some(i.to_string().as_bytes())
            );
            assert_eq!(r.headers[1].key_str().unwrap(), "h");
            assert_eq!(r.headers[1].value, None);
        } else {
            assert!(r.headers.is_empty());
        }
        n += 1;
    }
    assert_eq!(n, 40, "{name}");
}

#[test]
fn uncompressed() {
    check(
        "none",
        include_bytes!("data/kafka_python_none.bin"),
        Compression::None,
        false,
    );
}

#[test]
fn gzip() {
    check(
        "gzip",
        include_bytes!("data/kafka_python_gzip.bin"),
        Compression::Gzip,
        false,
    );
}

#[test]
fn snappy_xerial() {
    let b = include_bytes!("data/kafka_python_snappy.bin");
    assert_eq!(&b[61..69], b"\x82SNAPPY\0");
    check("snappy", b, Compression::Snappy, false);
}

#[test]
fn snappy_raw_as_librdkafka_frames_it() {
    check(
        "snappy_raw",
        include_bytes!("data/kafka_python_snappy_raw.bin"),
        Compression::Snappy,
        false,
    );
}

#[test]
fn lz4_frame_with_content_size() {
    let b = include_bytes!("data/kafka_python_lz4.bin");
    assert_eq!(b[65] & 0x08, 0x08, "liblz4 frame records the content size");
    check("lz4", b, Compression::Lz4, false);
}

#[test]
fn zstd_transactional() {
    check(
        "zstd",
        include_bytes!("data/kafka_python_zstd.bin"),
        Compression::Zstd,
        true,
    );
}
