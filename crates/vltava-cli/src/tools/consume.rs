//! `vltava consume TOPIC`: prints records, reading partitions directly with
//! Fetch (no consumer group, nothing committed).
//!
//! Starts at the end of each partition unless told otherwise (as Kafka's
//! console consumer does). With `--exit-at-end` it reads up to the end
//! offsets found at start and exits; otherwise it waits for new records
//! until Ctrl-C or `--max-messages`.

use clap::Args;
use serde_json::json;
use vltava_client::{Client, ConsumedRecord, FetchOptions, FetchPosition, OffsetSpec};

use super::format::Template;
use super::output::json_bytes;
use super::{Common, ToolError};

#[derive(Args, Debug)]
pub struct ConsumeArgs {
    /// The topic.
    pub topic: String,
    #[command(flatten)]
    pub start: StartArgs,
    /// Read only this partition (default: all).
    #[arg(long, value_parser = clap::value_parser!(i32).range(0..))]
    pub partition: Option<i32>,
    /// Output template: %k key, %v value, %h headers, %o offset,
    /// %t timestamp, %p partition, %T topic, %% percent; \n \t escapes.
    /// Ignored with --output json.
    #[arg(long, default_value = "%v")]
    pub format: String,
    /// Exit after the records present at start have been read.
    #[arg(long)]
    pub exit_at_end: bool,
    /// Exit after printing N records.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub max_messages: Option<u64>,
    /// Longest time a fetch waits for new records.
    #[arg(long, value_name = "MS", default_value_t = 500, value_parser = clap::value_parser!(i32).range(0..))]
    pub max_wait_ms: i32,
    /// Most bytes fetched per partition and request.
    #[arg(long, value_name = "BYTES", default_value_t = 1 << 20, value_parser = clap::value_parser!(i32).range(1..))]
    pub max_bytes: i32,
    #[command(flatten)]
    pub common: Common,
}

/// Where to start; at most one may be given.
#[derive(Args, Debug, Clone, PartialEq, Eq)]
#[group(multiple = false)]
pub struct StartArgs {
    /// Start at the earliest record.
    #[arg(long)]
    pub from_beginning: bool,
    /// Start at this offset (in every partition read).
    #[arg(long, value_parser = clap::value_parser!(i64).range(0..))]
    pub offset: Option<i64>,
    /// Start at the first record with a timestamp at or after MS (ms since the epoch).
    #[arg(long, value_name = "MS")]
    pub timestamp: Option<i64>,
    /// Start at the end: only records written from now on (the default).
    #[arg(long)]
    pub from_end: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Start {
    Beginning,
    End,
    Offset(i64),
    Timestamp(i64),
}

impl StartArgs {
    fn start(&self) -> Start {
        if self.from_beginning {
            Start::Beginning
        } else if let Some(o) = self.offset {
            Start::Offset(o)
        } else if let Some(ts) = self.timestamp {
            Start::Timestamp(ts)
        } else {
            Start::End
        }
    }
}

async fn start_offset(
    client: &mut Client,
    topic: &str,
    partition: i32,
    start: Start,
) -> Result<i64, ToolError> {
    Ok(match start {
        Start::Offset(o) => o,
        Start::Beginning => {
            client
                .list_offsets(topic, partition, OffsetSpec::Earliest)
                .await?
                .offset
        }
        Start::End => {
            client
                .list_offsets(topic, partition, OffsetSpec::Latest)
                .await?
                .offset
        }
        Start::Timestamp(ts) => {
            let found = client
                .list_offsets(topic, partition, OffsetSpec::Timestamp(ts))
                .await?;
            if found.offset >= 0 {
                found.offset
            } else {
                // Nothing that new yet: wait at the end.
                client
                    .list_offsets(topic, partition, OffsetSpec::Latest)
                    .await?
                    .offset
            }
        }
    })
}

fn record_json(topic: &str, partition: i32, r: &ConsumedRecord) -> serde_json::Value {
    json!({
        "topic": topic,
        "partition": partition,
        "offset": r.offset,
        "timestamp": r.timestamp,
        "key": json_bytes(r.key.as_deref()),
        "value": json_bytes(r.value.as_deref()),
        "headers": r.headers.iter().map(|h| json!({
            "key": String::from_utf8_lossy(&h.key),
            "value": json_bytes(h.value.as_deref()),
        })).collect::<Vec<_>>(),
    })
}

/// How records are written.
enum Printer {
    Template(Template),
    Json,
}

impl Printer {
    fn print(&self, topic: &str, partition: i32, r: &ConsumedRecord, out: &mut Vec<u8>) {
        match self {
            Printer::Template(t) => t.render(topic, partition, r, out),
            Printer::Json => {
                out.extend_from_slice(record_json(topic, partition, r).to_string().as_bytes());
                out.push(b'\n');
            }
        }
    }
}

fn write_out(out: &mut Vec<u8>) -> Result<(), ToolError> {
    use std::io::Write;
    if out.is_empty() {
        return Ok(());
    }
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(out)?;
    stdout.flush()?;
    out.clear();
    Ok(())
}

pub async fn run(args: ConsumeArgs) -> Result<(), ToolError> {
    let printer = if args.common.json() {
        Printer::Json
    } else {
        Printer::Template(Template::parse(&args.format).map_err(ToolError::Input)?)
    };
    let mut client = args.common.connect().await?;
    let topic = &args.topic;
    let metadata = client.topic_metadata(topic).await?;
    let partitions: Vec<i32> = match args.partition {
        Some(p) if metadata.partitions.iter().any(|m| m.partition == p) => vec![p],
        Some(p) => {
            return Err(ToolError::Input(format!(
                "topic {topic} has {} partitions; there is no partition {p}",
                metadata.partitions.len()
            )))
        }
        None => metadata.partitions.iter().map(|m| m.partition).collect(),
    };
    let start = args.start.start();
    let mut positions = Vec::with_capacity(partitions.len());
    for &p in &partitions {
        positions.push(FetchPosition {
            topic: topic.clone(),
            partition: p,
            offset: start_offset(&mut client, topic, p, start).await?,
        });
    }
    // With --exit-at-end: the end offsets now, and which partitions are
    // done. A start beyond the end is left to the fetch to report.
    let mut ends = Vec::new();
    let mut done = vec![false; positions.len()];
    if args.exit_at_end {
        for (i, pos) in positions.iter().enumerate() {
            let end = client
                .list_offsets(topic, pos.partition, OffsetSpec::Latest)
                .await?
                .offset;
            done[i] = pos.offset == end;
            ends.push(end);
        }
    }
    let opts = FetchOptions {
        max_wait_ms: args.max_wait_ms,
        min_bytes: 1,
        max_bytes: FetchOptions::default().max_bytes.max(args.max_bytes),
        partition_max_bytes: args.max_bytes,
    };

    let mut out = Vec::new();
    let mut count = 0u64;
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    'fetching: loop {
        let active: Vec<usize> = (0..positions.len()).filter(|&i| !done[i]).collect();
        if active.is_empty() {
            break;
        }
        let request: Vec<FetchPosition> = active.iter().map(|&i| positions[i].clone()).collect();
        let fetched = tokio::select! {
            fetched = client.fetch_many(&request, &opts) => fetched?,
            _ = &mut ctrl_c => break,
        };
        for (fetched, &i) in fetched.into_iter().zip(&active) {
            for r in &fetched.records {
                if args.exit_at_end && r.offset >= ends[i] {
                    break;
                }
                printer.print(topic, fetched.partition, r, &mut out);
                count += 1;
                if args.max_messages.is_some_and(|max| count >= max) {
                    break 'fetching;
                }
            }
            positions[i].offset = fetched.next_offset;
            if args.exit_at_end && positions[i].offset >= ends[i] {
                done[i] = true;
            }
        }
        write_out(&mut out)?;
    }
    write_out(&mut out)?;
    eprintln!("Processed a total of {count} messages");
    Ok(())
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use vltava_client::Header;

    use super::super::tests::parse;
    use super::super::ToolCommand;
    use super::*;

    fn consume(args: &[&str]) -> ConsumeArgs {
        let mut full = vec!["consume"];
        full.extend_from_slice(args);
        match parse(&full).unwrap() {
            ToolCommand::Consume(c) => c,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn defaults_follow_the_console_consumer() {
        let c = consume(&["orders"]);
        assert_eq!(c.topic, "orders");
        assert_eq!(c.start.start(), Start::End);
        assert_eq!(c.partition, None);
        assert_eq!(c.format, "%v");
        assert!(!c.exit_at_end);
        assert_eq!(c.max_messages, None);
        assert_eq!(c.max_wait_ms, 500);
        assert_eq!(c.max_bytes, 1 << 20);
    }

    #[test]
    fn start_positions() {
        assert_eq!(
            consume(&["t", "--from-beginning"]).start.start(),
            Start::Beginning
        );
        assert_eq!(consume(&["t", "--from-end"]).start.start(), Start::End);
        assert_eq!(
            consume(&["t", "--offset", "42"]).start.start(),
            Start::Offset(42)
        );
        assert_eq!(
            consume(&["t", "--timestamp", "1700000000000"])
                .start
                .start(),
            Start::Timestamp(1_700_000_000_000)
        );
        // At most one.
        assert!(parse(&["consume", "t", "--from-beginning", "--offset", "1"]).is_err());
        assert!(parse(&["consume", "t", "--from-end", "--timestamp", "1"]).is_err());
        assert!(parse(&["consume", "t", "--offset", "-1"]).is_err());
    }

    #[test]
    fn other_options() {
        let c = consume(&[
            "t",
            "--partition",
            "3",
            "--format",
            "%p:%o %k=%v",
            "--exit-at-end",
            "--max-messages",
            "10",
            "--output",
            "json",
            "--max-wait-ms",
            "100",
            "--max-bytes",
            "65536",
        ]);
        assert_eq!(c.partition, Some(3));
        assert_eq!(c.format, "%p:%o %k=%v");
        assert!(c.exit_at_end);
        assert_eq!(c.max_messages, Some(10));
        assert!(c.common.json());
        assert_eq!((c.max_wait_ms, c.max_bytes), (100, 65536));
        assert!(parse(&["consume", "t", "--max-messages", "0"]).is_err());
        assert!(parse(&["consume"]).is_err());
    }

    #[test]
    fn json_lines() {
        let r = ConsumedRecord {
            offset: 7,
            timestamp: 1000,
            key: None,
            value: Some(Bytes::from_static(b"hi \"there\"")),
            headers: vec![Header {
                key: Bytes::from_static(b"h"),
                value: None,
            }],
        };
        let mut out = Vec::new();
        Printer::Json.print("t", 2, &r, &mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "{\"headers\":[{\"key\":\"h\",\"value\":null}],\"key\":null,\"offset\":7,\
             \"partition\":2,\"timestamp\":1000,\"topic\":\"t\",\"value\":\"hi \\\"there\\\"\"}\n"
        );
    }
}
