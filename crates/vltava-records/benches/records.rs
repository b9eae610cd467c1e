//! Hot-path figures for record batches. Run: `cargo bench -p vltava-records`
//! (results are recorded in the crate's README.md).
//!
//! * `crc`: `RecordBatch::validate` on a 1 MiB batch (CRC-32C + header
//!   checks) against the bare `crc32c::crc32c` over the same bytes, in the
//!   same run, so the overhead of validation is visible.
//! * `patch`: `set_log_append_time` on the same batch (one CRC pass).
//! * `iterate`: records/s decoding batches of 100-byte values, uncompressed
//!   and with each codec (decompression included).

use std::hint::black_box;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use vltava_records::{patch, Compression, RecordBatch, RecordBatchBuilder};

/// A batch of `count` records with 100-byte values that look like log
/// lines (compressible, not trivially so), 12-byte keys, no headers.
fn batch(codec: Compression, count: usize) -> Bytes {
    let mut b = RecordBatchBuilder::new()
        .compression(codec)
        .producer(1, 0, 0);
    let mut value = Vec::with_capacity(100);
    for i in 0..count {
        value.clear();
        let line = format!(
            "{{\"ts\":{},\"user\":{},\"event\":\"click\",\"page\":\"/p/{}\",\"ms\":{}}}",
            1_700_000_000_000u64 + i as u64,
            i % 1000,
            i % 37,
            i % 250
        );
        value.extend_from_slice(line.as_bytes());
        value.resize(100, b' ');
        let key = format!("user-{:07}", i % 1000);
        b.append(
            1_700_000_000_000 + i as i64,
            Some(key.as_bytes()),
            Some(&value),
            &[],
        )
        .unwrap();
    }
    b.build().unwrap()
}

fn crc(c: &mut Criterion) {
    // ~8,200 records of ~120 bytes: a 1 MiB batch.
    let bytes = batch(Compression::None, 8_700);
    let len = bytes.len();
    assert!(
        (1 << 20) - 64 * 1024 < len && len < (1 << 20) + 64 * 1024,
        "batch is {len} bytes"
    );
    let rb = RecordBatch::new(bytes.clone()).unwrap();
    let mut g = c.benchmark_group("crc");
    g.throughput(Throughput::Bytes(len as u64));
    g.bench_function("validate_1MiB_batch", |b| {
        b.iter(|| black_box(&rb).validate().unwrap())
    });
    g.bench_function("raw_crc32c_same_bytes", |b| {
        b.iter(|| crc32c::crc32c(black_box(&bytes[21..])))
    });
    g.finish();

    let mut g = c.benchmark_group("patch");
    g.throughput(Throughput::Bytes(len as u64));
    let mut m = BytesMut::from(&bytes[..]);
    let mut t = 0i64;
    g.bench_function("set_log_append_time_1MiB", |b| {
        b.iter(|| {
            t += 1; // a new time each call, so the CRC is always recomputed
            patch::set_log_append_time(black_box(&mut m), t).unwrap()
        })
    });
    g.bench_function("set_base_offset", |b| {
        b.iter(|| patch::set_base_offset(black_box(&mut m), 42).unwrap())
    });
    g.finish();
}

fn iterate(c: &mut Criterion) {
    const COUNT: usize = 10_000;
    let mut g = c.benchmark_group("iterate");
    g.throughput(Throughput::Elements(COUNT as u64));
    for codec in Compression::ALL {
        let rb = RecordBatch::new(batch(codec, COUNT)).unwrap();
        rb.validate().unwrap();
        g.bench_function(format!("100B_records_{}", codec.name()), |b| {
            b.iter(|| {
                let mut bytes = 0usize;
                for r in rb.records().unwrap() {
                    let r = r.unwrap();
                    bytes += r.value.map_or(0, |v| v.len());
                }
                assert_eq!(bytes, COUNT * 100);
                bytes
            })
        });
    }
    g.finish();
}

fn config() -> Criterion {
    // Short runs: the machine is 2 shared cores and these are stable.
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(30)
}

criterion_group! {
    name = benches;
    config = config();
    targets = crc, iterate
}
criterion_main!(benches);
