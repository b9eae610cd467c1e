//! `vltava perf produce`: writes generated records and measures how long
//! each waits from being handed to the batcher to its acknowledgement.
//!
//! The client sends one Produce request at a time, so batching is done
//! here: records collect per partition until `--batch-size` bytes are
//! pending or the partition's oldest record has waited `--linger-ms`, as
//! the Java producer's batch.size and linger.ms do. While a request is in
//! flight nothing new is generated, so the latency includes the time a
//! record spends waiting behind the request before it (the Java producer
//! hides part of that with several requests in flight).

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use bytes::Bytes;
use clap::Args;
use vltava_client::batches::now_ms;
use vltava_client::{partition_for_key, Acks, Client, Compression, ProducerRecord};

use super::super::produce::{AcksArg, CompressionArg};
use super::super::{print, print_json, Common, ToolError};
use super::stats::Stats;
use super::{maybe_tick, stop_on_ctrl_c, Limit, LimitArgs, Report, PERF_HEADER};

#[derive(Args, Debug)]
pub struct PerfProduceArgs {
    /// The topic (it must exist).
    #[arg(long)]
    pub topic: String,
    /// Bytes in each record's value.
    #[arg(long, value_name = "BYTES", value_parser = clap::value_parser!(u32).range(1..))]
    pub record_size: u32,
    #[command(flatten)]
    pub limit: LimitArgs,
    /// Records per second to aim at; -1: as fast as possible.
    #[arg(long, value_name = "RECORDS_PER_SEC", default_value_t = -1,
          allow_hyphen_values = true, value_parser = parse_throughput)]
    pub throughput: i64,
    /// Replicas that must have a batch before it counts as written. With
    /// 0 nothing is acknowledged and the latency ends when the request
    /// has been written to the socket.
    #[arg(long, value_enum, default_value_t = AcksArg::All, allow_hyphen_values = true)]
    pub acks: AcksArg,
    /// Batch compression.
    #[arg(long, value_enum, default_value_t = CompressionArg::None)]
    pub compression: CompressionArg,
    /// Longest a partition's first pending record waits for its batch to fill.
    #[arg(long, value_name = "MS", default_value_t = 5)]
    pub linger_ms: u64,
    /// Send a partition's batch once this many bytes (roughly, before
    /// compression) are pending in it.
    #[arg(long, value_name = "BYTES", default_value_t = 16384,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub batch_size: u32,
    /// Give records keys key-0 .. key-(N-1) in turn; partitions then
    /// follow the keys' hashes. Without it records have no key.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub keys: Option<u32>,
    /// Write every record to this partition (default: by key, or one
    /// partition per batch in turn for records without keys).
    #[arg(long, value_parser = clap::value_parser!(i32).range(0..))]
    pub partition: Option<i32>,
}

fn parse_throughput(s: &str) -> Result<i64, String> {
    match s.parse::<i64>() {
        Ok(n) if n == -1 || n > 0 => Ok(n),
        _ => Err(format!(
            "expected a number of records per second above 0, or -1 for no limit; got {s:?}"
        )),
    }
}

impl PerfProduceArgs {
    fn checked_limit(&self) -> Result<Limit, ToolError> {
        self.limit
            .limit()
            .ok_or_else(|| ToolError::Input("give --num-records N or --duration SECS".to_string()))
    }
}

/// When record `i` (from 0) may be created to keep to `per_sec`.
#[derive(Debug, Clone, Copy)]
struct Throttle {
    start: Instant,
    per_sec: Option<u64>,
}

impl Throttle {
    fn due(&self, i: u64) -> Option<Instant> {
        let per_sec = self.per_sec?;
        let nanos = (i as u128 * 1_000_000_000 / per_sec as u128) as u64;
        Some(self.start + Duration::from_nanos(nanos))
    }
}

/// One partition's pending records.
#[derive(Debug)]
struct Batch {
    records: Vec<ProducerRecord>,
    /// When each record was made: where its latency starts.
    created: Vec<Instant>,
    bytes: usize,
}

/// Pending batches by partition.
#[derive(Debug)]
struct Batches {
    by_partition: BTreeMap<i32, Batch>,
    batch_size: usize,
    linger: Duration,
}

impl Batches {
    fn new(batch_size: usize, linger: Duration) -> Self {
        Batches {
            by_partition: BTreeMap::new(),
            batch_size,
            linger,
        }
    }

    /// Adds a record; true when its partition's batch is now full.
    fn push(&mut self, partition: i32, record: ProducerRecord, bytes: usize, now: Instant) -> bool {
        let batch = self.by_partition.entry(partition).or_insert_with(|| Batch {
            records: Vec::new(),
            created: Vec::new(),
            bytes: 0,
        });
        batch.records.push(record);
        batch.created.push(now);
        batch.bytes += bytes;
        batch.bytes >= self.batch_size
    }

    /// The earliest time some batch's linger runs out.
    fn next_deadline(&self) -> Option<Instant> {
        self.by_partition
            .values()
            .filter_map(|b| b.created.first())
            .min()
            .map(|&t| t + self.linger)
    }

    /// Partitions whose linger has run out at `now`.
    fn expired(&self, now: Instant) -> Vec<i32> {
        self.by_partition
            .iter()
            .filter(|(_, b)| b.created.first().is_some_and(|&t| t + self.linger <= now))
            .map(|(&p, _)| p)
            .collect()
    }

    fn take(&mut self, partition: i32) -> Option<Batch> {
        self.by_partition.remove(&partition)
    }

    fn partitions(&self) -> Vec<i32> {
        self.by_partition.keys().copied().collect()
    }
}

/// Bytes a record adds to a batch, roughly: payload, header, and the
/// record's own framing.
fn record_bytes(key: Option<&Bytes>, value_len: usize) -> usize {
    key.map_or(0, Bytes::len) + value_len + PERF_HEADER.len() + 2 + 8
}

/// A value of `len` bytes of letters. One is shared by every record (as
/// kafka-producer-perf-test does), so compressed runs compress better
/// than real data would.
fn payload(len: usize) -> Bytes {
    let mut x = now_ms() as u64 | 1;
    (0..len)
        .map(|_| {
            // xorshift64: cheap, and random enough for filler.
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            b'A' + (x % 26) as u8
        })
        .collect::<Vec<u8>>()
        .into()
}

struct Sender<'a> {
    client: &'a mut Client,
    topic: &'a str,
    acks: Acks,
    compression: Compression,
}

impl Sender<'_> {
    async fn send(
        &mut self,
        partition: i32,
        batch: Batch,
        stats: &mut Stats,
    ) -> Result<(), ToolError> {
        self.client
            .produce(
                self.topic,
                partition,
                &batch.records,
                self.acks,
                self.compression,
            )
            .await?;
        let acked = Instant::now();
        for created in &batch.created {
            stats.latency(acked.saturating_duration_since(*created));
        }
        // Payload as the consumer counts it: keys and values.
        let payload: usize = batch
            .records
            .iter()
            .map(|r| r.key.as_ref().map_or(0, Bytes::len) + r.value.as_ref().map_or(0, Bytes::len))
            .sum();
        stats.add(batch.records.len() as u64, payload as u64);
        Ok(())
    }
}

pub async fn run(args: PerfProduceArgs, common: &Common) -> Result<(), ToolError> {
    let limit = args.checked_limit()?;
    let mut client = common.connect().await?;
    let partitions = client.topic_metadata(&args.topic).await?.partitions.len() as i32;
    if partitions == 0 {
        return Err(ToolError::Input(format!(
            "topic {} has no partitions",
            args.topic
        )));
    }
    if let Some(p) = args.partition {
        if p >= partitions {
            return Err(ToolError::Input(format!(
                "topic {} has {partitions} partitions; there is no partition {p}",
                args.topic
            )));
        }
    }
    let keys: Vec<Bytes> = (0..args.keys.unwrap_or(0))
        .map(|i| Bytes::from(format!("key-{i}")))
        .collect();
    let value = payload(args.record_size as usize);
    let mut sender = Sender {
        client: &mut client,
        topic: &args.topic,
        acks: args.acks.into(),
        compression: args.compression.into(),
    };
    let mut batches = Batches::new(
        args.batch_size as usize,
        Duration::from_millis(args.linger_ms),
    );
    let report = Report::new(Some(limit), common.json());
    let stop = stop_on_ctrl_c();

    let start = Instant::now();
    let mut stats = Stats::new(start);
    let throttle = Throttle {
        start,
        per_sec: u64::try_from(args.throughput).ok(),
    };
    let end = match limit {
        Limit::Time(d) => Some(start + d),
        Limit::Records(_) => None,
    };
    // Records without keys go to one partition until its batch is sent,
    // then to the next: fuller batches than one partition per record.
    let mut sticky = 0i32;
    let mut created = 0u64;
    loop {
        let now = Instant::now();
        let finished = match limit {
            Limit::Records(n) => created >= n,
            Limit::Time(_) => end.is_some_and(|e| now >= e),
        };
        if finished || stop.load(Ordering::Relaxed) {
            break;
        }
        if let Some(due) = throttle.due(created).filter(|&due| due > now) {
            // Ahead of the rate: sleep until the next record is due, a
            // batch must go, a progress line is due, or the run ends.
            let mut wake = due.min(stats.window_end());
            if let Some(d) = batches.next_deadline() {
                wake = wake.min(d);
            }
            if let Some(e) = end {
                wake = wake.min(e);
            }
            tokio::time::sleep_until(wake.into()).await;
        } else {
            let key =
                (!keys.is_empty()).then(|| keys[(created % keys.len() as u64) as usize].clone());
            let partition = match (args.partition, &key) {
                (Some(p), _) => p,
                (None, Some(k)) => partition_for_key(k, partitions),
                (None, None) => sticky,
            };
            let bytes = record_bytes(key.as_ref(), value.len());
            let record = ProducerRecord {
                key,
                value: Some(value.clone()),
                headers: vec![(PERF_HEADER.to_string(), None)],
                timestamp: Some(now_ms()),
            };
            created += 1;
            if batches.push(partition, record, bytes, now) {
                let batch = batches.take(partition).expect("just pushed");
                sender.send(partition, batch, &mut stats).await?;
                if partition == sticky {
                    sticky = (sticky + 1) % partitions;
                }
            }
        }
        for p in batches.expired(Instant::now()) {
            let batch = batches.take(p).expect("listed as pending");
            sender.send(p, batch, &mut stats).await?;
            if p == sticky {
                sticky = (sticky + 1) % partitions;
            }
        }
        maybe_tick(&mut stats, &report, Some(limit), "sent")?;
    }
    for p in batches.partitions() {
        let batch = batches.take(p).expect("listed as pending");
        sender.send(p, batch, &mut stats).await?;
    }
    report.finish();

    let summary = stats.summary(Instant::now());
    let latency_kind = if args.acks == AcksArg::Zero {
        "send to request written; acks=0 gets no acknowledgement"
    } else {
        "send to acknowledgement"
    };
    if common.json() {
        let mut json = summary.json();
        json["topic"] = args.topic.clone().into();
        json["record_size"] = args.record_size.into();
        print_json(&json)
    } else {
        print(&summary.text("sent", latency_kind))
    }
}

#[cfg(test)]
mod tests {
    use super::super::super::tests::parse;
    use super::super::super::ToolCommand;
    use super::super::PerfCommand;
    use super::*;

    fn produce(args: &[&str]) -> Result<PerfProduceArgs, clap::Error> {
        let mut full = vec!["perf", "produce", "--topic", "t"];
        full.extend_from_slice(args);
        match parse(&full)? {
            ToolCommand::Perf(p) => match p.command {
                PerfCommand::Produce(p) => Ok(p),
                other => panic!("{other:?}"),
            },
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn defaults() {
        let p = produce(&["--record-size", "100", "--num-records", "10"]).unwrap();
        assert_eq!(p.record_size, 100);
        assert_eq!(p.checked_limit().unwrap(), Limit::Records(10));
        assert_eq!(p.throughput, -1);
        assert_eq!(p.acks, AcksArg::All);
        assert_eq!(p.compression, CompressionArg::None);
        assert_eq!((p.linger_ms, p.batch_size), (5, 16384));
        assert_eq!((p.keys, p.partition), (None, None));
    }

    #[test]
    fn option_validation() {
        // A record needs at least one byte.
        assert!(produce(&["--record-size", "0", "--num-records", "1"]).is_err());
        assert!(produce(&["--num-records", "1"]).is_err());
        // One limit, not both; none is refused when the run starts.
        assert!(produce(&[
            "--record-size",
            "1",
            "--num-records",
            "1",
            "--duration",
            "1"
        ])
        .is_err());
        assert!(produce(&["--record-size", "1", "--num-records", "0"]).is_err());
        let p = produce(&["--record-size", "1"]).unwrap();
        assert!(p.checked_limit().is_err());
        let p = produce(&["--record-size", "1", "--duration", "3"]).unwrap();
        assert_eq!(
            p.checked_limit().unwrap(),
            Limit::Time(Duration::from_secs(3))
        );
        // Throughput: -1 or above 0.
        let base = ["--record-size", "1", "--num-records", "1"];
        let with = |extra: &[&str]| produce(&[&base[..], extra].concat());
        assert_eq!(with(&["--throughput", "500"]).unwrap().throughput, 500);
        assert_eq!(with(&["--throughput", "-1"]).unwrap().throughput, -1);
        assert!(with(&["--throughput", "0"]).is_err());
        assert!(with(&["--throughput", "-5"]).is_err());
        assert!(with(&["--batch-size", "0"]).is_err());
        assert!(with(&["--keys", "0"]).is_err());
        assert!(with(&["--partition", "-1"]).is_err());
        assert!(with(&["--compression", "brotli"]).is_err());
        let p = with(&["--compression", "zstd", "--keys", "7", "--partition", "2"]).unwrap();
        assert_eq!(Compression::from(p.compression), Compression::Zstd);
        assert_eq!((p.keys, p.partition), (Some(7), Some(2)));
    }

    #[test]
    fn acks_values() {
        let base = ["--record-size", "1", "--num-records", "1"];
        let acks =
            |v: &str| produce(&[&base[..], &["--acks", v]].concat()).map(|p| Acks::from(p.acks));
        assert_eq!(acks("0").unwrap(), Acks::None);
        assert_eq!(acks("1").unwrap(), Acks::Leader);
        assert_eq!(acks("all").unwrap(), Acks::All);
        assert_eq!(acks("-1").unwrap(), Acks::All);
        assert!(acks("2").is_err());
        assert!(acks("none").is_err());
    }

    #[test]
    fn throttle_spaces_records() {
        let t0 = Instant::now();
        let t = Throttle {
            start: t0,
            per_sec: Some(2000),
        };
        assert_eq!(t.due(0), Some(t0));
        assert_eq!(t.due(2000), Some(t0 + Duration::from_secs(1)));
        assert_eq!(t.due(3), Some(t0 + Duration::from_micros(1500)));
        assert_eq!(
            Throttle {
                start: t0,
                per_sec: None
            }
            .due(5),
            None
        );
    }

    #[test]
    fn batches_fill_and_linger() {
        let t0 = Instant::now();
        let mut b = Batches::new(100, Duration::from_millis(5));
        let r = || ProducerRecord::value(vec![b'x'; 10]);
        assert_eq!(b.next_deadline(), None);
        assert!(!b.push(0, r(), 60, t0));
        assert!(!b.push(1, r(), 60, t0 + Duration::from_millis(2)));
        assert!(b.push(0, r(), 60, t0 + Duration::from_millis(3)));
        assert_eq!(b.next_deadline(), Some(t0 + Duration::from_millis(5)));
        assert!(b.expired(t0 + Duration::from_millis(4)).is_empty());
        assert_eq!(b.expired(t0 + Duration::from_millis(6)), [0]);
        assert_eq!(b.expired(t0 + Duration::from_millis(7)), [0, 1]);
        let batch = b.take(0).unwrap();
        assert_eq!(
            (batch.records.len(), batch.created.len(), batch.bytes),
            (2, 2, 120)
        );
        assert_eq!(b.partitions(), [1]);
    }

    #[test]
    fn payload_is_letters() {
        let p = payload(1000);
        assert_eq!(p.len(), 1000);
        assert!(p.iter().all(u8::is_ascii_uppercase));
    }
}
