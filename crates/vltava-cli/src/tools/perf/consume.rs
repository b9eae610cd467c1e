//! `vltava perf consume`: reads a topic as fast as fetches allow and
//! measures throughput, and for records `vltava perf produce` wrote (they
//! carry its header), the end-to-end latency from the record's timestamp
//! to its receipt here.
//!
//! Partitions are read directly with Fetch. With `--group` the run starts
//! from the group's committed offsets and commits where it stopped, as a
//! consumer outside the group (no JoinGroup: the client has no group
//! membership), so the group must have no active members.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use bytes::Bytes;
use clap::Args;
use vltava_client::batches::now_ms;
use vltava_client::{FetchOptions, FetchPosition, OffsetSpec, OffsetToCommit, TopicPartition};

use super::super::{print, print_json, Common, ToolError};
use super::stats::Stats;
use super::{maybe_tick, stop_on_ctrl_c, Limit, LimitArgs, Report, PERF_HEADER};

#[derive(Args, Debug)]
pub struct PerfConsumeArgs {
    /// The topic.
    #[arg(long)]
    pub topic: String,
    /// Start from this group's committed offsets (partitions it has none
    /// for start as --from-beginning/--from-end say) and commit the
    /// positions reached at the end. The group must have no members.
    #[arg(long)]
    pub group: Option<String>,
    /// Without --num-records or --duration: read up to the end offsets
    /// found at start, then stop.
    #[command(flatten)]
    pub limit: LimitArgs,
    #[command(flatten)]
    pub start: StartArgs,
    /// Most bytes one fetch request returns (at most 1 MiB of them from
    /// any one partition).
    #[arg(long, value_name = "BYTES", default_value_t = 50 * 1024 * 1024,
          value_parser = clap::value_parser!(i32).range(1..))]
    pub fetch_max_bytes: i32,
    /// Give up when no record has arrived for this long while more are
    /// expected (not with --duration, which waits out its time).
    #[arg(long, value_name = "MS", default_value_t = 10_000,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub timeout_ms: u64,
}

/// Where partitions without a committed offset start.
#[derive(Args, Debug, Clone, PartialEq, Eq)]
#[group(multiple = false)]
pub struct StartArgs {
    /// Start at each partition's earliest record (the default).
    #[arg(long)]
    pub from_beginning: bool,
    /// Start at each partition's end: only records written from now on.
    #[arg(long)]
    pub from_end: bool,
}

impl StartArgs {
    fn spec(&self) -> OffsetSpec {
        if self.from_end {
            OffsetSpec::Latest
        } else {
            OffsetSpec::Earliest
        }
    }
}

/// Most bytes taken from one partition per fetch, as the Java consumer's
/// max.partition.fetch.bytes default.
const PARTITION_MAX_BYTES: i32 = 1 << 20;

fn is_perf_record(headers: &[vltava_client::Header]) -> bool {
    headers.iter().any(|h| h.key == PERF_HEADER.as_bytes())
}

pub async fn run(args: PerfConsumeArgs, common: &Common) -> Result<(), ToolError> {
    let limit = args.limit.limit();
    let mut client = common.connect().await?;
    let topic = &args.topic;
    let partitions: Vec<i32> = client
        .topic_metadata(topic)
        .await?
        .partitions
        .iter()
        .map(|m| m.partition)
        .collect();
    let committed = match &args.group {
        Some(group) => {
            let tps: Vec<TopicPartition> = partitions
                .iter()
                .map(|&p| TopicPartition::new(topic.clone(), p))
                .collect();
            client.fetch_offsets(group, Some(&tps)).await?
        }
        None => Vec::new(),
    };
    let mut positions = Vec::with_capacity(partitions.len());
    for &p in &partitions {
        let from_group = committed
            .iter()
            .find(|c| c.partition == p)
            .and_then(|c| c.offset);
        let offset = match from_group {
            Some(o) => o,
            None => {
                client
                    .list_offsets(topic, p, args.start.spec())
                    .await?
                    .offset
            }
        };
        positions.push(FetchPosition {
            topic: topic.clone(),
            partition: p,
            offset,
        });
    }
    // Without a limit, read to the end offsets of now.
    let mut ends = Vec::new();
    let mut done = vec![false; positions.len()];
    if limit.is_none() {
        for (i, pos) in positions.iter().enumerate() {
            let end = client
                .list_offsets(topic, pos.partition, OffsetSpec::Latest)
                .await?
                .offset;
            done[i] = pos.offset >= end;
            ends.push(end);
        }
    }
    let opts = FetchOptions {
        max_wait_ms: 500,
        min_bytes: 1,
        max_bytes: args.fetch_max_bytes,
        partition_max_bytes: args.fetch_max_bytes.min(PARTITION_MAX_BYTES),
    };
    let report = Report::new(limit, common.json());
    if limit.is_none() {
        let expected: i64 = ends
            .iter()
            .zip(&positions)
            .map(|(e, p)| (e - p.offset).max(0))
            .sum();
        report.set_len(expected as u64);
    }
    let stop = stop_on_ctrl_c();
    let timeout = Duration::from_millis(args.timeout_ms);

    let start = Instant::now();
    let mut stats = Stats::new(start);
    let mut last_record = start;
    'fetching: loop {
        let now = Instant::now();
        let finished = match limit {
            Some(Limit::Records(n)) => stats.records() >= n,
            Some(Limit::Time(d)) => now >= start + d,
            None => done.iter().all(|&d| d),
        };
        if finished || stop.load(Ordering::Relaxed) {
            break;
        }
        // A timed run just waits out its time; a run that expects more
        // records fails rather than waiting forever for them.
        let expecting = !matches!(limit, Some(Limit::Time(_)));
        if expecting && now.duration_since(last_record) >= timeout {
            report.finish();
            return Err(ToolError::Input(format!(
                "no record arrived for {} ms; read {} records",
                args.timeout_ms,
                stats.records()
            )));
        }
        let active: Vec<usize> = (0..positions.len()).filter(|&i| !done[i]).collect();
        let request: Vec<FetchPosition> = active.iter().map(|&i| positions[i].clone()).collect();
        let fetched = client.fetch_many(&request, &opts).await?;
        let received_ms = now_ms();
        for (fetched, &i) in fetched.into_iter().zip(&active) {
            if !fetched.records.is_empty() {
                last_record = Instant::now();
            }
            for r in &fetched.records {
                if limit.is_none() && r.offset >= ends[i] {
                    break;
                }
                let bytes =
                    r.key.as_ref().map_or(0, Bytes::len) + r.value.as_ref().map_or(0, Bytes::len);
                stats.add(1, bytes as u64);
                if is_perf_record(&r.headers) {
                    let ms = (received_ms - r.timestamp).max(0) as u64;
                    stats.latency(Duration::from_millis(ms));
                }
                // Where to go on (and what --group commits) is just past
                // the last record counted.
                positions[i].offset = r.offset + 1;
                if matches!(limit, Some(Limit::Records(n)) if stats.records() >= n) {
                    break 'fetching;
                }
            }
            positions[i].offset = positions[i].offset.max(fetched.next_offset);
            if limit.is_none() && positions[i].offset >= ends[i] {
                done[i] = true;
            }
        }
        maybe_tick(&mut stats, &report, limit, "consumed")?;
    }
    report.finish();
    let summary = stats.summary(Instant::now());
    if let Some(group) = &args.group {
        let offsets: Vec<OffsetToCommit> = positions
            .iter()
            .map(|p| OffsetToCommit::new(topic.clone(), p.partition, p.offset))
            .collect();
        client.commit_offsets(group, &offsets).await?;
    }
    if common.json() {
        let mut json = summary.json();
        json["topic"] = topic.clone().into();
        print_json(&json)
    } else {
        print(&summary.text(
            "consumed",
            "end to end, perf-produced record's timestamp to its receipt",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::super::super::tests::parse;
    use super::super::super::ToolCommand;
    use super::super::PerfCommand;
    use super::*;

    fn consume(args: &[&str]) -> Result<PerfConsumeArgs, clap::Error> {
        let mut full = vec!["perf", "consume", "--topic", "t"];
        full.extend_from_slice(args);
        match parse(&full)? {
            ToolCommand::Perf(p) => match p.command {
                PerfCommand::Consume(c) => Ok(c),
                other => panic!("{other:?}"),
            },
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn defaults_and_options() {
        let c = consume(&[]).unwrap();
        assert_eq!(c.limit.limit(), None);
        assert_eq!(c.start.spec(), OffsetSpec::Earliest);
        assert_eq!(c.group, None);
        assert_eq!(c.fetch_max_bytes, 50 * 1024 * 1024);
        let c = consume(&[
            "--num-records",
            "5",
            "--from-end",
            "--group",
            "g",
            "--fetch-max-bytes",
            "4096",
        ])
        .unwrap();
        assert_eq!(c.limit.limit(), Some(Limit::Records(5)));
        assert_eq!(c.start.spec(), OffsetSpec::Latest);
        assert_eq!(c.group.as_deref(), Some("g"));
        assert_eq!(c.fetch_max_bytes, 4096);
        assert_eq!(
            consume(&["--from-beginning"]).unwrap().start.spec(),
            OffsetSpec::Earliest
        );
        assert!(consume(&["--from-beginning", "--from-end"]).is_err());
        assert!(consume(&["--num-records", "1", "--duration", "1"]).is_err());
        assert!(consume(&["--fetch-max-bytes", "0"]).is_err());
    }

    #[test]
    fn perf_records_are_recognised() {
        let h = |k: &'static [u8]| vltava_client::Header {
            key: Bytes::from_static(k),
            value: None,
        };
        assert!(is_perf_record(&[h(b"a"), h(b"vltava.perf")]));
        assert!(!is_perf_record(&[h(b"a")]));
        assert!(!is_perf_record(&[]));
    }
}
