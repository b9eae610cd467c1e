//! Decode + re-encode of a Produce request carrying one 1 MiB batch, at
//! different record counts. The codec treats `records` as opaque bytes, so
//! the cost must not grow with the number of records in the batch.
//!
//! Run: `cargo bench -p vltava-protocol --bench produce`

use bytes::{Bytes, BytesMut};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use vltava_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use vltava_protocol::messages::ProduceRequest;
use vltava_protocol::Message;
use vltava_records::RecordBatchBuilder;

const BATCH_BYTES: usize = 1 << 20;

/// A batch of about 1 MiB made of `count` equal records.
fn batch(count: usize) -> Bytes {
    let value = vec![b'v'; BATCH_BYTES / count - 12];
    let mut builder = RecordBatchBuilder::new();
    for _ in 0..count {
        builder
            .append(1_700_000_000_000, None, Some(&value), &[])
            .unwrap();
    }
    builder.build().unwrap()
}

fn request(records: Bytes) -> ProduceRequest {
    ProduceRequest {
        acks: -1,
        timeout_ms: 30_000,
        topic_data: vec![TopicProduceData {
            name: "bench".into(),
            partition_data: vec![PartitionProduceData {
                index: 0,
                records: Some(records),
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    }
}

fn produce(c: &mut Criterion) {
    let mut group = c.benchmark_group("produce_request_1MiB");
    group.throughput(Throughput::Bytes(BATCH_BYTES as u64));
    for count in [16usize, 1024, 10_000] {
        let mut wire = BytesMut::new();
        request(batch(count)).encode(&mut wire, 9).unwrap();
        let wire = wire.freeze();
        group.bench_with_input(BenchmarkId::new("decode", count), &wire, |b, wire| {
            b.iter(|| ProduceRequest::decode(&mut wire.clone(), 9).unwrap())
        });
        group.bench_with_input(
            BenchmarkId::new("decode_reencode", count),
            &wire,
            |b, wire| {
                let mut out = BytesMut::with_capacity(wire.len());
                b.iter(|| {
                    let request = ProduceRequest::decode(&mut wire.clone(), 9).unwrap();
                    out.clear();
                    request.encode(&mut out, 9).unwrap();
                    out.len()
                })
            },
        );
    }
    group.finish();
}

criterion_group!(benches, produce);
criterion_main!(benches);
