//! Golden bytes: batches assembled by hand from the format description,
//! compared with what the builder writes and what the reader sees.

use bytes::Bytes;
use vltava_records::batch::NO_SEQUENCE;
use vltava_records::compression::{self, Compression, XERIAL_MAGIC};
use vltava_records::{
    BatchSplitter, ControlRecordType, EndTxnMarker, RecordBatch, RecordBatchBuilder, TimestampType,
};

const BASE_TS: i64 = 1_700_000_000_000;

/// Bitwise CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), written
/// here so the golden test does not trust the `crc32c` crate it checks.
fn crc32c_bitwise(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0x82F6_3B78
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// Two records, each with a key, one header and a null value, as bytes.
fn hand_assembled_batch() -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0]); // baseOffset 0
    b.extend_from_slice(&[0, 0, 0, 77]); // batchLength: 89 - 12
    b.extend_from_slice(&[0xff, 0xff, 0xff, 0xff]); // partitionLeaderEpoch -1
    b.push(2); // magic
    b.extend_from_slice(&[0x4e, 0x25, 0x26, 0xe6]); // crc (see below)
    b.extend_from_slice(&[0, 0]); // attributes: none, CreateTime
    b.extend_from_slice(&[0, 0, 0, 1]); // lastOffsetDelta 1
    b.extend_from_slice(&[0, 0, 0x01, 0x8b, 0xcf, 0xe5, 0x68, 0x00]); // baseTimestamp 1700000000000
    b.extend_from_slice(&[0, 0, 0x01, 0x8b, 0xcf, 0xe5, 0x68, 0x05]); // maxTimestamp +5
    b.extend_from_slice(&[0xff; 8]); // producerId -1
    b.extend_from_slice(&[0xff, 0xff]); // producerEpoch -1
    b.extend_from_slice(&[0xff; 4]); // baseSequence -1
    b.extend_from_slice(&[0, 0, 0, 2]); // recordCount 2
    assert_eq!(b.len(), 61);
    // Record 0: length 13 (zigzag 0x1a), attributes 0, timestampDelta 0,
    // offsetDelta 0, keyLength 2 (0x04) "k0", valueLength -1 (0x01),
    // headerCount 1 (0x02), header key length 1 (0x02) "h", value length 2
    // (0x04) "v0".
    b.extend_from_slice(&[
        0x1a, 0x00, 0x00, 0x00, 0x04, b'k', b'0', 0x01, 0x02, 0x02, b'h', 0x04, b'v', b'0',
    ]);
    // Record 1: timestampDelta 5 (0x0a), offsetDelta 1 (0x02), "k1", "v1".
    b.extend_from_slice(&[
        0x1a, 0x00, 0x0a, 0x02, 0x04, b'k', b'1', 0x01, 0x02, 0x02, b'h', 0x04, b'v', b'1',
    ]);
    assert_eq!(b.len(), 89);
    b
}

#[test]
fn crc_reference_vector() {
    assert_eq!(crc32c_bitwise(b"123456789"), 0xE306_9283);
    assert_eq!(crc32c::crc32c(b"123456789"), 0xE306_9283);
}

#[test]
fn builder_matches_hand_assembled_bytes() {
    let golden = hand_assembled_batch();
    // The CRC in the golden bytes is the one an independent implementation
    // computes over attributes..end.
    assert_eq!(crc32c_bitwise(&golden[21..]), 0x4e25_26e6);

    let mut b = RecordBatchBuilder::new();
    b.append(
        BASE_TS,
        Some(b"k0"),
        None,
        &[(b"h".as_slice(), Some(b"v0".as_slice()))],
    )
    .unwrap();
    b.append(
        BASE_TS + 5,
        Some(b"k1"),
        None,
        &[(b"h".as_slice(), Some(b"v1".as_slice()))],
    )
    .unwrap();
    let built = b.build().unwrap();
    assert_eq!(&built[..], &golden[..]);

    let batch = RecordBatch::new(Bytes::from(golden)).unwrap();
    batch.validate().unwrap();
    assert_eq!(batch.crc(), 0x4e25_26e6);
    assert_eq!(batch.compute_crc(), 0x4e25_26e6);
}

#[test]
fn reader_sees_every_field_of_hand_assembled_batch() {
    let batch = RecordBatch::new(Bytes::from(hand_assembled_batch())).unwrap();
    assert_eq!(batch.base_offset(), 0);
    assert_eq!(batch.batch_length(), 77);
    assert_eq!(batch.partition_leader_epoch(), -1);
    assert_eq!(batch.magic(), 2);
    assert_eq!(batch.compression().unwrap(), Compression::None);
    assert_eq!(batch.timestamp_type(), TimestampType::CreateTime);
    assert!(!batch.is_transactional() && !batch.is_control() && !batch.has_delete_horizon());
    assert_eq!(batch.last_offset_delta(), 1);
    assert_eq!(batch.base_timestamp(), BASE_TS);
    assert_eq!(batch.max_timestamp(), BASE_TS + 5);
    assert_eq!(batch.producer_id(), -1);
    assert_eq!(batch.producer_epoch(), -1);
    assert_eq!(batch.base_sequence(), -1);
    assert_eq!(batch.last_sequence(), -1);
    assert_eq!(batch.record_count(), 2);
    assert_eq!(batch.last_offset(), 1);
    assert_eq!(batch.next_offset(), 2);
    assert_eq!(batch.size_in_bytes(), 89);

    let records: Vec<_> = batch.records().unwrap().collect::<Result<_, _>>().unwrap();
    assert_eq!(records.len(), 2);
    for (i, r) in records.iter().enumerate() {
        assert_eq!(r.attributes, 0);
        assert_eq!(r.offset_delta, i as i32);
        assert_eq!(r.offset, i as i64);
        assert_eq!(r.timestamp_delta, 5 * i as i64);
        assert_eq!(r.timestamp, BASE_TS + 5 * i as i64);
        assert_eq!(r.key.as_deref(), Some(format!("k{i}").as_bytes()));
        assert_eq!(r.value, None);
        assert_eq!(r.headers.len(), 1);
        assert_eq!(r.headers[0].key_str().unwrap(), "h");
        assert_eq!(
            r.headers[0].value.as_deref(),
            Some(format!("v{i}").as_bytes())
        );
    }
}

#[test]
fn keys_and_values_are_slices_of_the_batch() {
    let bytes = Bytes::from(hand_assembled_batch());
    let start = bytes.as_ptr() as usize;
    let batch = RecordBatch::new(bytes.clone()).unwrap();
    let r = batch.records().unwrap().next().unwrap().unwrap();
    let key_ptr = r.key.unwrap().as_ptr() as usize;
    assert!(
        key_ptr >= start && key_ptr < start + bytes.len(),
        "key copied"
    );
}

#[test]
fn control_batch_matches_hand_assembled_bytes() {
    let mut g = Vec::new();
    g.extend_from_slice(&42i64.to_be_bytes()); // baseOffset 42
    g.extend_from_slice(&[0, 0, 0, 66]); // batchLength: 78 - 12
    g.extend_from_slice(&[0, 0, 0, 5]); // partitionLeaderEpoch 5
    g.push(2);
    g.extend_from_slice(&[0x15, 0x93, 0x54, 0x79]); // crc
    g.extend_from_slice(&[0x00, 0x30]); // attributes: transactional | control
    g.extend_from_slice(&[0, 0, 0, 0]); // lastOffsetDelta 0
    g.extend_from_slice(&BASE_TS.to_be_bytes());
    g.extend_from_slice(&BASE_TS.to_be_bytes());
    g.extend_from_slice(&7i64.to_be_bytes()); // producerId 7
    g.extend_from_slice(&[0, 3]); // producerEpoch 3
    g.extend_from_slice(&[0xff; 4]); // baseSequence -1
    g.extend_from_slice(&[0, 0, 0, 1]); // one record
                                        // Record: length 16 (0x20), attrs, tsDelta, offsetDelta, key length 4
                                        // (0x08) = version 0 + type 1 (commit), value length 6 (0x0c) =
                                        // version 0 + coordinatorEpoch 9, no headers.
    g.extend_from_slice(&[0x20, 0, 0, 0, 0x08, 0, 0, 0, 1, 0x0c, 0, 0, 0, 0, 0, 9, 0]);
    assert_eq!(g.len(), 78);
    assert_eq!(crc32c_bitwise(&g[21..]), 0x1593_5479);

    let marker = EndTxnMarker {
        commit: true,
        coordinator_epoch: 9,
    };
    let built = marker.to_batch(42, 5, 7, 3, BASE_TS).unwrap();
    assert_eq!(&built[..], &g[..]);

    let batch = RecordBatch::new(built).unwrap();
    batch.validate().unwrap();
    assert!(batch.is_control() && batch.is_transactional());
    assert_eq!(batch.base_sequence(), NO_SEQUENCE);
    let r = batch.records().unwrap().next().unwrap().unwrap();
    assert_eq!(
        ControlRecordType::parse_key(r.key.as_deref().unwrap()).unwrap(),
        ControlRecordType::Commit
    );
    assert_eq!(EndTxnMarker::from_record(&r).unwrap(), marker);

    let abort = EndTxnMarker {
        commit: false,
        coordinator_epoch: -1,
    };
    let b = RecordBatch::new(abort.to_batch(0, 0, 1, 0, 0).unwrap()).unwrap();
    let r = b.records().unwrap().next().unwrap().unwrap();
    assert_eq!(EndTxnMarker::from_record(&r).unwrap(), abort);
}

fn sample_builder() -> RecordBatchBuilder {
    let mut b = RecordBatchBuilder::new();
    for i in 0..500u32 {
        let key = format!("key-{}", i % 17);
        let value = format!("value number {i} with some repeated text repeated text");
        let headers: &[(&[u8], Option<&[u8]>)] = if i % 3 == 0 {
            &[(b"trace", Some(b"abc")), (b"trace", None)]
        } else {
            &[]
        };
        let value = if i % 50 == 0 {
            None
        } else {
            Some(value.as_bytes())
        };
        b.append(
            BASE_TS + i64::from(i % 7),
            Some(key.as_bytes()),
            value,
            headers,
        )
        .unwrap();
    }
    b
}

#[test]
fn every_codec_round_trips_through_builder_and_iterator() {
    let plain = sample_builder().build().unwrap();
    let expected: Vec<_> = RecordBatch::new(plain.clone())
        .unwrap()
        .records()
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(expected.len(), 500);
    assert_eq!(expected[3].headers.len(), 2, "duplicate header keys kept");
    assert_eq!(expected[3].headers[1].value, None);

    for codec in Compression::ALL {
        let bytes = sample_builder()
            .compression(codec)
            .producer(1000, 2, 77)
            .transactional(true)
            .build()
            .unwrap();
        let batch = RecordBatch::new(bytes.clone()).unwrap();
        batch.validate().unwrap();
        assert_eq!(batch.compression().unwrap(), codec);
        assert_eq!(batch.record_count(), 500);
        assert_eq!(batch.last_offset_delta(), 499);
        assert_eq!(batch.producer_id(), 1000);
        assert_eq!(batch.producer_epoch(), 2);
        assert_eq!(batch.base_sequence(), 77);
        assert_eq!(batch.last_sequence(), 77 + 499);
        assert!(batch.is_transactional());
        assert_eq!(batch.max_timestamp(), BASE_TS + 6);
        if codec != Compression::None {
            assert!(bytes.len() < plain.len() / 2, "{codec:?} did not compress");
        }
        let got: Vec<_> = batch.records().unwrap().collect::<Result<_, _>>().unwrap();
        assert_eq!(got, expected, "{codec:?}");
    }
}

#[test]
fn raw_snappy_batch_as_librdkafka_writes_it_decodes() {
    // Same records, but the records section is one raw snappy block.
    let plain = sample_builder().build().unwrap();
    let raw = compression::raw_snappy_compress(&plain[61..]).unwrap();
    assert_ne!(&raw[..8], &XERIAL_MAGIC);
    let mut b = plain[..61].to_vec();
    b.extend_from_slice(&raw);
    let len = (b.len() - 12) as i32;
    b[8..12].copy_from_slice(&len.to_be_bytes());
    b[22] |= Compression::Snappy.id();
    let mut b = bytes::BytesMut::from(&b[..]);
    vltava_records::patch::recompute_crc(&mut b).unwrap();
    let batch = RecordBatch::new(b.freeze()).unwrap();
    batch.validate().unwrap();
    assert_eq!(batch.records().unwrap().count(), 500);
}

#[test]
fn splitter_yields_each_batch_of_a_concatenation() {
    let a = sample_builder().base_offset(0).build().unwrap();
    let b = sample_builder()
        .base_offset(500)
        .compression(Compression::Lz4)
        .build()
        .unwrap();
    let c = hand_assembled_batch();
    let mut all = a.to_vec();
    all.extend_from_slice(&b);
    all.extend_from_slice(&c);
    let batches: Vec<_> = BatchSplitter::new(Bytes::from(all))
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(batches.len(), 3);
    assert_eq!(batches[0].as_bytes(), &a);
    assert_eq!(batches[1].as_bytes(), &b);
    assert_eq!(batches[1].base_offset(), 500);
    assert_eq!(&batches[2].as_bytes()[..], &c[..]);
    for batch in &batches {
        batch.validate().unwrap();
    }
}

#[test]
fn log_append_time_batches_report_max_timestamp_for_every_record() {
    let mut b = RecordBatchBuilder::new().timestamp_type(TimestampType::LogAppendTime);
    b.append(10, None, Some(b"a"), &[]).unwrap();
    b.append(20, None, Some(b"b"), &[]).unwrap();
    let batch = RecordBatch::new(b.build().unwrap()).unwrap();
    assert_eq!(batch.timestamp_type(), TimestampType::LogAppendTime);
    let ts: Vec<i64> = batch
        .records()
        .unwrap()
        .map(|r| r.unwrap().timestamp)
        .collect();
    assert_eq!(ts, vec![20, 20]);
}

#[test]
fn rewriting_records_with_gaps_keeps_offsets() {
    let src = RecordBatch::new(sample_builder().build().unwrap()).unwrap();
    let mut out = RecordBatchBuilder::new();
    for r in src.records().unwrap() {
        let r = r.unwrap();
        if r.offset_delta % 2 == 1 {
            out.append_record(&r).unwrap();
        }
    }
    let batch = RecordBatch::new(out.build().unwrap()).unwrap();
    batch.validate().unwrap();
    assert_eq!(batch.record_count(), 250);
    assert_eq!(batch.last_offset_delta(), 499);
    let offsets: Vec<i64> = batch
        .records()
        .unwrap()
        .map(|r| r.unwrap().offset)
        .collect();
    assert_eq!(offsets[..3], [1, 3, 5]);
    // Deltas must increase.
    assert!(out
        .append_with_offset_delta(499, 0, None, None, &[])
        .is_err());
}
