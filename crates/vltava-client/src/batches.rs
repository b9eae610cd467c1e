//! Building the batch a produce sends, and reading the batches a fetch
//! returns.

use bytes::Bytes;
use vltava_records::{BatchSplitter, Compression, RecordBatchBuilder};

use crate::error::{Error, Result};
use crate::types::{ConsumedRecord, ProducerRecord};

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Encodes `records` as one v2 batch (base offset 0, no producer id), the
/// way a non-idempotent Java producer does. Records without a timestamp get
/// the current time.
pub fn build_batch(records: &[ProducerRecord], compression: Compression) -> Result<Bytes> {
    let now = now_ms();
    let mut builder = RecordBatchBuilder::new().compression(compression);
    let records_err = |source| Error::Records {
        context: "building a record batch".to_string(),
        source,
    };
    for r in records {
        let headers: Vec<(&[u8], Option<&[u8]>)> = r
            .headers
            .iter()
            .map(|(k, v)| (k.as_bytes(), v.as_deref()))
            .collect();
        builder
            .append(
                r.timestamp.unwrap_or(now),
                r.key.as_deref(),
                r.value.as_deref(),
                &headers,
            )
            .map_err(records_err)?;
    }
    builder.build().map_err(records_err)
}

/// The records of a fetched partition at or after `fetch_offset`, and the
/// offset to fetch next.
///
/// - Batches wholly before `fetch_offset` are skipped, as are records before
///   it inside the first batch (a broker returns whole batches).
/// - Control batches (transaction markers) are skipped but move the next
///   offset past them.
/// - A truncated batch at the end is normal (the broker cuts at the byte
///   limit) and ignored, unless nothing whole came before it: then the
///   first batch is bigger than the limit and the caller must raise it.
/// - CRCs are checked.
pub fn decode_fetched(
    data: Option<Bytes>,
    topic: &str,
    partition: i32,
    fetch_offset: i64,
    max_bytes: i32,
) -> Result<(Vec<ConsumedRecord>, i64)> {
    let mut records = Vec::new();
    let mut next_offset = fetch_offset;
    let Some(data) = data else {
        return Ok((records, next_offset));
    };
    let context = |what: &str| format!("{what} of {topic}-{partition} from offset {fetch_offset}");
    for (whole_batches, item) in BatchSplitter::new(data).enumerate() {
        let batch = match item {
            Ok(batch) => batch,
            Err(e) if e.is_truncated() => {
                if whole_batches == 0 {
                    return Err(Error::BatchTooLarge {
                        topic: topic.to_string(),
                        partition,
                        offset: fetch_offset,
                        max_bytes,
                    });
                }
                break;
            }
            Err(source) => {
                return Err(Error::Records {
                    context: context("fetched batches"),
                    source,
                })
            }
        };
        batch.validate().map_err(|source| Error::Records {
            context: context(&format!("batch at offset {}", batch.base_offset())),
            source,
        })?;
        if batch.next_offset() <= fetch_offset {
            continue;
        }
        next_offset = next_offset.max(batch.next_offset());
        if batch.is_control() {
            continue;
        }
        let iter = batch.records().map_err(|source| Error::Records {
            context: context("records"),
            source,
        })?;
        for record in iter {
            let record = record.map_err(|source| Error::Records {
                context: context("records"),
                source,
            })?;
            if record.offset < fetch_offset {
                continue;
            }
            records.push(ConsumedRecord {
                offset: record.offset,
                timestamp: record.timestamp,
                key: record.key,
                value: record.value,
                headers: record.headers,
            });
        }
    }
    Ok((records, next_offset))
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BytesMut;
    use vltava_records::control::EndTxnMarker;

    fn batch_at(base: i64, values: &[&str], compression: Compression) -> Bytes {
        let mut b = RecordBatchBuilder::new()
            .compression(compression)
            .base_offset(base);
        for (i, v) in values.iter().enumerate() {
            b.append(
                1000 + i as i64,
                Some(b"k"),
                Some(v.as_bytes()),
                &[(b"h", Some(b"x"))],
            )
            .unwrap();
        }
        b.build().unwrap()
    }

    fn concat(parts: &[&[u8]]) -> Bytes {
        let mut out = BytesMut::new();
        for p in parts {
            out.extend_from_slice(p);
        }
        out.freeze()
    }

    #[test]
    fn produced_batch_reads_back() {
        let records = vec![
            ProducerRecord {
                key: Some(Bytes::from_static(b"a")),
                value: Some(Bytes::from_static(b"1")),
                headers: vec![
                    ("h".into(), Some(Bytes::from_static(b"v"))),
                    ("n".into(), None),
                ],
                timestamp: Some(5),
            },
            ProducerRecord {
                key: None,
                value: None,
                headers: vec![],
                timestamp: Some(7),
            },
        ];
        for c in Compression::ALL {
            let batch = build_batch(&records, c).unwrap();
            let (got, next) = decode_fetched(Some(batch), "t", 0, 0, 1 << 20).unwrap();
            assert_eq!(next, 2);
            assert_eq!(got.len(), 2);
            assert_eq!(got[0].key.as_deref(), Some(&b"a"[..]));
            assert_eq!(got[0].timestamp, 5);
            assert_eq!(got[0].headers.len(), 2);
            assert_eq!(got[0].headers[1].value, None);
            assert_eq!(got[1].offset, 1);
            assert_eq!(got[1].value, None);
            assert_eq!(got[1].timestamp, 7);
        }
    }

    #[test]
    fn skips_records_before_the_fetch_offset_and_stops_at_a_truncated_tail() {
        let a = batch_at(10, &["a", "b", "c"], Compression::Gzip);
        let b = batch_at(13, &["d", "e"], Compression::None);
        let c = batch_at(15, &["f"], Compression::None);
        let data = concat(&[&a, &b, &c[..c.len() - 5]]);
        let (got, next) = decode_fetched(Some(data), "t", 0, 12, 1 << 20).unwrap();
        let offsets: Vec<i64> = got.iter().map(|r| r.offset).collect();
        assert_eq!(offsets, [12, 13, 14]);
        assert_eq!(next, 15);
    }

    #[test]
    fn whole_batches_before_the_offset_are_skipped() {
        let a = batch_at(0, &["a", "b"], Compression::None);
        let b = batch_at(2, &["c"], Compression::None);
        let (got, next) = decode_fetched(Some(concat(&[&a, &b])), "t", 0, 2, 1 << 20).unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].value.as_deref(), Some(&b"c"[..]));
        assert_eq!(next, 3);
    }

    #[test]
    fn control_batches_are_skipped_but_advance_the_offset() {
        let data_batch = batch_at(0, &["a"], Compression::None);
        let marker = EndTxnMarker {
            commit: true,
            coordinator_epoch: 0,
        };
        let control = marker_batch(1, marker);
        let (got, next) =
            decode_fetched(Some(concat(&[&data_batch, &control])), "t", 0, 0, 1 << 20).unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(next, 2);
        let (got, next) = decode_fetched(Some(control), "t", 0, 1, 1 << 20).unwrap();
        assert!(got.is_empty());
        assert_eq!(next, 2);
    }

    fn marker_batch(offset: i64, marker: EndTxnMarker) -> Bytes {
        marker.to_batch(offset, 0, 7, 0, 1000).unwrap()
    }

    #[test]
    fn a_lone_truncated_batch_means_the_limit_is_too_small() {
        let a = batch_at(0, &["a", "b"], Compression::None);
        let err = decode_fetched(Some(a.slice(..a.len() - 1)), "t", 3, 0, 40).unwrap_err();
        assert!(
            matches!(err, Error::BatchTooLarge { partition: 3, .. }),
            "{err}"
        );
    }

    #[test]
    fn corruption_is_an_error() {
        let a = batch_at(0, &["a", "b"], Compression::None);
        let mut bad = BytesMut::from(&a[..]);
        let last = bad.len() - 1;
        bad[last] ^= 0xff;
        let err = decode_fetched(Some(bad.freeze()), "t", 0, 0, 1 << 20).unwrap_err();
        assert!(matches!(err, Error::Records { .. }), "{err}");
    }

    #[test]
    fn empty_and_null_record_sets() {
        assert_eq!(decode_fetched(None, "t", 0, 9, 1).unwrap(), (vec![], 9));
        assert_eq!(
            decode_fetched(Some(Bytes::new()), "t", 0, 9, 1).unwrap(),
            (vec![], 9)
        );
    }
}
