//! Hostile input: every malformed batch must produce an error, never a
//! panic, and never an allocation sized by a lying field.

use bytes::{Bytes, BytesMut};
use vltava_records::compression::{self, Compression, DEFAULT_MAX_DECOMPRESSED};
use vltava_records::{patch, BatchSplitter, Error, RecordBatch, RecordBatchBuilder};

/// A batch with the given records section, count and attributes, with a
/// correct length and CRC (so the checks under test are the ones that
/// fire, not the CRC).
fn assemble(records: &[u8], count: i32, last_offset_delta: i32, attrs: i16) -> Bytes {
    let mut b = Vec::new();
    b.extend_from_slice(&0i64.to_be_bytes());
    b.extend_from_slice(&((49 + records.len()) as i32).to_be_bytes());
    b.extend_from_slice(&(-1i32).to_be_bytes());
    b.push(2);
    b.extend_from_slice(&[0; 4]);
    b.extend_from_slice(&attrs.to_be_bytes());
    b.extend_from_slice(&last_offset_delta.to_be_bytes());
    b.extend_from_slice(&0i64.to_be_bytes());
    b.extend_from_slice(&0i64.to_be_bytes());
    b.extend_from_slice(&(-1i64).to_be_bytes());
    b.extend_from_slice(&(-1i16).to_be_bytes());
    b.extend_from_slice(&(-1i32).to_be_bytes());
    b.extend_from_slice(&count.to_be_bytes());
    b.extend_from_slice(records);
    let mut b = BytesMut::from(&b[..]);
    patch::recompute_crc(&mut b).unwrap();
    b.freeze()
}

/// Iterates every record; returns the first error.
fn read_all(batch: &RecordBatch, limit: usize) -> Result<usize, Error> {
    let mut n = 0;
    for r in batch.records_with_limit(limit)? {
        r?;
        n += 1;
    }
    Ok(n)
}

fn valid_batch(codec: Compression) -> Bytes {
    let mut b = RecordBatchBuilder::new()
        .compression(codec)
        .producer(5, 1, 0);
    for i in 0..4u8 {
        let (hv, key, value) = ([i], [b'k', i], [b'v', i, i]);
        b.append(
            1000 + i64::from(i),
            Some(&key),
            if i == 2 { None } else { Some(&value) },
            &[(b"h".as_slice(), Some(&hv[..])), (b"h".as_slice(), None)],
        )
        .unwrap();
    }
    b.build().unwrap()
}

#[test]
fn truncated_header() {
    let good = valid_batch(Compression::None);
    for len in [0, 5, 11, 12, 16, 17, 30, 60] {
        let cut = good.slice(..len);
        let err = RecordBatch::new(cut.clone()).unwrap_err();
        assert!(err.is_truncated(), "len {len}: {err}");
        let mut split = BatchSplitter::new(cut);
        if len == 0 {
            assert!(split.next().is_none());
        } else {
            assert!(
                split.next().unwrap().unwrap_err().is_truncated(),
                "len {len}"
            );
            assert!(split.next().is_none(), "fused after the error");
        }
    }
    assert!(patch::set_base_offset(&mut [0u8; 60], 1).is_err());
    assert!(patch::set_partition_leader_epoch(&mut [0u8; 10], 1).is_err());
    assert!(patch::set_log_append_time(&mut [0u8; 20], 1).is_err());
}

#[test]
fn batch_length_beyond_buffer_is_a_truncated_tail() {
    let a = valid_batch(Compression::None);
    let b = valid_batch(Compression::Gzip);
    let mut all = a.to_vec();
    all.extend_from_slice(&b[..b.len() - 1]);
    let mut split = BatchSplitter::new(Bytes::from(all));
    let first = split.next().unwrap().unwrap();
    first.validate().unwrap();
    let err = split.next().unwrap().unwrap_err();
    assert_eq!(
        err,
        Error::Truncated {
            needed: b.len(),
            available: b.len() - 1
        }
    );
    assert!(err.is_truncated() && !err.is_corrupt());
    assert_eq!(split.remainder().len(), b.len() - 1);
    assert_eq!(split.position(), a.len());

    // A length field claiming 2 GiB on a small buffer: truncated, nothing
    // allocated.
    let mut big = a.to_vec();
    big[8..12].copy_from_slice(&i32::MAX.to_be_bytes());
    assert!(RecordBatch::new(Bytes::from(big))
        .unwrap_err()
        .is_truncated());
}

#[test]
fn negative_and_tiny_batch_lengths_are_corruption() {
    let mut b = valid_batch(Compression::None).to_vec();
    b[8..12].copy_from_slice(&(-1i32).to_be_bytes());
    let err = BatchSplitter::new(Bytes::from(b.clone()))
        .next()
        .unwrap()
        .unwrap_err();
    assert_eq!(err, Error::InvalidBatchLength(-1));
    assert!(err.is_corrupt());
    b[8..12].copy_from_slice(&48i32.to_be_bytes());
    assert_eq!(
        RecordBatch::new(Bytes::from(b)).unwrap_err(),
        Error::InvalidBatchLength(48)
    );
}

#[test]
fn legacy_and_unknown_magic_are_refused() {
    for magic in [0u8, 1] {
        // A v0/v1 message: offset, size, crc, magic at byte 16.
        let mut m = vec![0u8; 40];
        m[8..12].copy_from_slice(&28i32.to_be_bytes());
        m[16] = magic;
        let err = BatchSplitter::new(Bytes::from(m))
            .next()
            .unwrap()
            .unwrap_err();
        assert_eq!(err, Error::LegacyMessageSet { magic: magic as i8 });
        assert!(err.to_string().contains("legacy"));
    }
    let mut b = valid_batch(Compression::None).to_vec();
    b[16] = 3;
    assert_eq!(
        RecordBatch::new(Bytes::from(b)).unwrap_err(),
        Error::UnsupportedMagic(3)
    );
}

#[test]
fn crc_mismatch_is_detected() {
    let good = valid_batch(Compression::None);
    let mut b = good.to_vec();
    let last = b.len() - 1;
    b[last] ^= 0x01;
    let batch = RecordBatch::new(Bytes::from(b)).unwrap();
    match batch.validate() {
        Err(Error::CrcMismatch { stored, computed }) => {
            assert_eq!(stored, RecordBatch::new(good).unwrap().crc());
            assert_ne!(stored, computed);
        }
        other => panic!("expected CRC mismatch, got {other:?}"),
    }
}

#[test]
fn unknown_codec_id() {
    let b = assemble(&[], 0, -1, 5);
    let batch = RecordBatch::new(b).unwrap();
    assert_eq!(batch.validate(), Err(Error::UnknownCompression(5)));
    assert!(batch.records().is_err());
}

#[test]
fn record_count_larger_than_bytes() {
    // One real record (7 bytes: length 6, then six one-byte fields, null
    // key and value),
    // count claims a million.
    let rec = [0x0c, 0, 0, 0, 0x01, 0x01, 0x00];
    let batch = RecordBatch::new(assemble(&rec, 1_000_000, 999_999, 0)).unwrap();
    assert!(matches!(
        batch.validate(),
        Err(Error::InvalidRecordCount {
            count: 1_000_000,
            ..
        })
    ));
    assert_eq!(
        read_all(&batch, 1 << 20),
        Err(Error::MissingRecords {
            declared: 1_000_000,
            found: 1
        })
    );
    // Count larger than lastOffsetDelta + 1.
    let batch = RecordBatch::new(assemble(&rec, 1, -1, 0)).unwrap();
    assert!(matches!(
        batch.validate(),
        Err(Error::InvalidOffsetDelta { .. })
    ));
    // Negative count.
    let batch = RecordBatch::new(assemble(&rec, -1, 0, 0)).unwrap();
    assert!(batch.validate().is_err());
    assert!(batch.records().is_err());
    // Huge count inside a compressed batch: the iterator stops at the data.
    let c = compression::compress(Compression::Zstd, &rec).unwrap();
    let batch = RecordBatch::new(assemble(&c, i32::MAX, i32::MAX - 1, 4)).unwrap();
    batch.validate().unwrap();
    assert!(matches!(
        read_all(&batch, 1 << 20),
        Err(Error::MissingRecords { found: 1, .. })
    ));
}

#[test]
fn trailing_bytes_and_length_mismatch() {
    let rec = [0x0c, 0, 0, 0, 0x01, 0x01, 0x00];
    let mut two = rec.to_vec();
    two.extend_from_slice(&rec);
    let batch = RecordBatch::new(assemble(&two, 1, 0, 0)).unwrap();
    assert_eq!(read_all(&batch, 1 << 20), Err(Error::TrailingBytes(7)));
    // Length prefix 7 (0x0e) but the record's fields take only 6: the
    // header count byte is followed by a stray byte.
    let rec = [0x0e, 0, 0, 0, 0x01, 0x01, 0x00, 0x00];
    let batch = RecordBatch::new(assemble(&rec, 1, 0, 0)).unwrap();
    assert_eq!(
        read_all(&batch, 1 << 20),
        Err(Error::RecordLengthMismatch {
            declared: 7,
            used: 6
        })
    );
}

#[test]
fn negative_field_lengths() {
    // record length -1
    let batch = RecordBatch::new(assemble(&[0x01, 0, 0, 0, 0, 0, 0], 1, 0, 0)).unwrap();
    assert!(matches!(
        read_all(&batch, 1 << 20),
        Err(Error::InvalidLength { .. })
    ));
    // key length -2 (zigzag 0x03)
    let batch = RecordBatch::new(assemble(&[0x0c, 0, 0, 0, 0x03, 0x01, 0x00], 1, 0, 0)).unwrap();
    assert!(matches!(
        read_all(&batch, 1 << 20),
        Err(Error::InvalidLength {
            field: "key length",
            value: -2
        })
    ));
    // key length beyond the record
    let batch = RecordBatch::new(assemble(&[0x0c, 0, 0, 0, 0x7e, 0x01, 0x00], 1, 0, 0)).unwrap();
    assert!(matches!(
        read_all(&batch, 1 << 20),
        Err(Error::InvalidLength { .. })
    ));
    // header key length -1 (null header keys are not allowed)
    let rec = [0x10, 0, 0, 0, 0x01, 0x01, 0x02, 0x01, 0x01];
    let batch = RecordBatch::new(assemble(&rec, 1, 0, 0)).unwrap();
    assert!(matches!(
        read_all(&batch, 1 << 20),
        Err(Error::InvalidLength {
            field: "header key length",
            value: -1
        })
    ));
    // record length beyond the records section
    let batch = RecordBatch::new(assemble(&[0x7e, 0, 0, 0], 1, 0, 0)).unwrap();
    let err = read_all(&batch, 1 << 20).unwrap_err();
    assert!(matches!(err, Error::RecordTruncated { .. }));
    assert!(
        !err.is_truncated(),
        "inside a complete batch this is corruption"
    );
}

#[test]
fn varint_overflow() {
    // Record length as a six-byte varint.
    let rec = [0x80, 0x80, 0x80, 0x80, 0x80, 0x01, 0, 0, 0, 1, 1, 0];
    let batch = RecordBatch::new(assemble(&rec, 1, 0, 0)).unwrap();
    assert_eq!(read_all(&batch, 1 << 20), Err(Error::VarintOverflow));
    // Timestamp delta as an eleven-byte varlong.
    let mut rec = vec![0x20, 0];
    rec.extend_from_slice(&[0xff; 10]);
    rec.extend_from_slice(&[0x01, 0, 0x01, 0x01, 0x00]);
    let batch = RecordBatch::new(assemble(&rec, 1, 0, 0)).unwrap();
    assert_eq!(read_all(&batch, 1 << 20), Err(Error::VarintOverflow));
}

#[test]
fn huge_header_count_is_refused_before_allocating() {
    // header count = i32::MAX (zigzag 0xfe 0xff 0xff 0xff 0x0f).
    let body = [0u8, 0, 0, 0x01, 0x01, 0xfe, 0xff, 0xff, 0xff, 0x0f];
    let mut rec = vec![(body.len() * 2) as u8];
    rec.extend_from_slice(&body);
    let batch = RecordBatch::new(assemble(&rec, 1, 0, 0)).unwrap();
    assert!(matches!(
        read_all(&batch, 1 << 20),
        Err(Error::InvalidLength {
            field: "header count",
            ..
        })
    ));
    // Negative header count.
    let body = [0u8, 0, 0, 0x01, 0x01, 0x01];
    let mut rec = vec![(body.len() * 2) as u8];
    rec.extend_from_slice(&body);
    let batch = RecordBatch::new(assemble(&rec, 1, 0, 0)).unwrap();
    assert!(matches!(
        read_all(&batch, 1 << 20),
        Err(Error::InvalidLength {
            field: "header count",
            value: -1
        })
    ));
}

#[test]
fn decompression_bombs_hit_the_limit() {
    // 8 MiB of one repeated record value, compressed to a few KiB.
    let value = vec![0u8; 8 << 20];
    for codec in [
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ] {
        let mut b = RecordBatchBuilder::new().compression(codec);
        b.append(0, None, Some(&value), &[]).unwrap();
        let bytes = b.build().unwrap();
        assert!(
            bytes.len() < 1 << 20,
            "{codec:?} bomb is {} bytes",
            bytes.len()
        );
        let batch = RecordBatch::new(bytes).unwrap();
        batch.validate().unwrap();
        assert_eq!(
            read_all(&batch, 1 << 20),
            Err(Error::DecompressedTooLarge { limit: 1 << 20 }),
            "{codec:?}"
        );
        assert_eq!(read_all(&batch, 9 << 20), Ok(1), "{codec:?}");
    }
    // The default limit applies to `records()`.
    let zeros = vec![0u8; DEFAULT_MAX_DECOMPRESSED + 1];
    let c = compression::compress(Compression::Zstd, &zeros).unwrap();
    let batch = RecordBatch::new(assemble(&c, 1, 0, 4)).unwrap();
    assert_eq!(
        batch.records().map(|_| ()),
        Err(Error::DecompressedTooLarge {
            limit: DEFAULT_MAX_DECOMPRESSED
        })
    );
}

/// Exercises every decoder on `bytes`; the only assertion is "returns".
fn poke(bytes: Bytes) {
    for batch in BatchSplitter::new(bytes.clone()).flatten() {
        let _ = batch.validate();
        let _ = read_all(&batch, 1 << 20);
        let _ = batch.last_offset();
        let _ = batch.last_sequence();
    }
    let _ = RecordBatch::new(bytes.clone());
    let mut m = BytesMut::from(&bytes[..]);
    let _ = patch::set_log_append_time(&mut m, 1);
    let _ = patch::set_base_offset(&mut m, i64::MAX);
}

#[test]
fn mutating_every_byte_never_panics() {
    for codec in Compression::ALL {
        let good = valid_batch(codec);
        for i in 0..good.len() {
            for x in [0x01u8, 0x80, 0xff] {
                let mut b = good.to_vec();
                b[i] ^= x;
                poke(Bytes::from(b));
            }
            // Also set extremes (-1, 0x7f) to hit sign and length edges.
            for v in [0x00u8, 0x7f] {
                let mut b = good.to_vec();
                b[i] = v;
                poke(Bytes::from(b));
            }
        }
        for len in 0..good.len() {
            poke(good.slice(..len));
        }
    }
}
