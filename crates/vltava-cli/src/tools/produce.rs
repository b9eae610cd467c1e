//! `vltava produce TOPIC`: one record per stdin line.
//!
//! Lines are collected into batches, one per partition, and sent when
//! `--batch-lines` lines or `--batch-bytes` bytes are pending, when the
//! oldest pending line has waited `--linger-ms`, at end of input, or on
//! Ctrl-C. Partition: `--partition`, else the key's murmur2 hash (as the
//! Java client), else round-robin.

use std::collections::BTreeMap;
use std::io::BufRead;
use std::time::Duration;

use bytes::Bytes;
use clap::{Args, ValueEnum};
use indicatif::ProgressBar;
use serde_json::json;
use tokio::sync::mpsc;
use vltava_client::batches::now_ms;
use vltava_client::{Acks, Client, Compression, Partitioner, ProducerRecord};

use super::output::Table;
use super::progress;
use super::{parse_key_value, print, print_json, Common, ToolError};

#[derive(Args, Debug)]
pub struct ProduceArgs {
    /// The topic.
    pub topic: String,
    /// Split each line at the first SEP into key and value; a line without
    /// SEP is an error.
    #[arg(long, value_name = "SEP")]
    pub key_separator: Option<String>,
    /// A header added to every record, KEY=VALUE (repeatable).
    #[arg(long = "header", value_name = "KEY=VALUE", value_parser = parse_key_value)]
    pub headers: Vec<(String, String)>,
    /// Write every record to this partition.
    #[arg(long, value_parser = clap::value_parser!(i32).range(0..))]
    pub partition: Option<i32>,
    /// Batch compression.
    #[arg(long, value_enum, default_value_t = CompressionArg::None)]
    pub compression: CompressionArg,
    /// Replicas that must have a batch before it counts as written.
    #[arg(long, value_enum, default_value_t = AcksArg::All, allow_hyphen_values = true)]
    pub acks: AcksArg,
    /// Send once this many lines are pending.
    #[arg(long, value_name = "N", default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..))]
    pub batch_lines: u32,
    /// Send once this many bytes (keys, values, headers) are pending.
    #[arg(long, value_name = "BYTES", default_value_t = 512 * 1024, value_parser = clap::value_parser!(u32).range(1..))]
    pub batch_bytes: u32,
    /// Send pending lines after this long even if the batch is not full.
    #[arg(long, value_name = "MS", default_value_t = 100)]
    pub linger_ms: u64,
    #[command(flatten)]
    pub common: Common,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum CompressionArg {
    None,
    Gzip,
    Snappy,
    Lz4,
    Zstd,
}

impl From<CompressionArg> for Compression {
    fn from(c: CompressionArg) -> Self {
        match c {
            CompressionArg::None => Compression::None,
            CompressionArg::Gzip => Compression::Gzip,
            CompressionArg::Snappy => Compression::Snappy,
            CompressionArg::Lz4 => Compression::Lz4,
            CompressionArg::Zstd => Compression::Zstd,
        }
    }
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum AcksArg {
    /// No acknowledgement (offsets are not reported).
    #[value(name = "0")]
    Zero,
    /// The leader's.
    #[value(name = "1")]
    One,
    /// Every in-sync replica's.
    #[value(name = "all", alias = "-1")]
    All,
}

impl From<AcksArg> for Acks {
    fn from(a: AcksArg) -> Self {
        match a {
            AcksArg::Zero => Acks::None,
            AcksArg::One => Acks::Leader,
            AcksArg::All => Acks::All,
        }
    }
}

/// Turns input lines into records.
#[derive(Debug, Clone)]
struct LineParser {
    key_separator: Option<Vec<u8>>,
    headers: Vec<(String, Option<Bytes>)>,
}

impl LineParser {
    fn new(args: &ProduceArgs) -> Result<Self, ToolError> {
        if args.key_separator.as_deref() == Some("") {
            return Err(ToolError::Input("--key-separator must not be empty".into()));
        }
        Ok(LineParser {
            key_separator: args.key_separator.as_ref().map(|s| s.as_bytes().to_vec()),
            headers: args
                .headers
                .iter()
                .map(|(k, v)| (k.clone(), Some(Bytes::from(v.clone()))))
                .collect(),
        })
    }

    /// `line` without its line ending; `number` counts from 1.
    fn parse(
        &self,
        line: Vec<u8>,
        number: u64,
        timestamp: i64,
    ) -> Result<ProducerRecord, ToolError> {
        let (key, value) = match &self.key_separator {
            None => (None, Bytes::from(line)),
            Some(sep) => {
                let at = line
                    .windows(sep.len())
                    .position(|w| w == sep.as_slice())
                    .ok_or_else(|| {
                        ToolError::Input(format!(
                            "line {number} has no key separator {:?}",
                            String::from_utf8_lossy(sep)
                        ))
                    })?;
                let line = Bytes::from(line);
                (Some(line.slice(..at)), line.slice(at + sep.len()..))
            }
        };
        Ok(ProducerRecord {
            key,
            value: Some(value),
            headers: self.headers.clone(),
            timestamp: Some(timestamp),
        })
    }
}

/// Strips `\n` or `\r\n`.
fn trim_line_end(line: &mut Vec<u8>) {
    if line.last() == Some(&b'\n') {
        line.pop();
        if line.last() == Some(&b'\r') {
            line.pop();
        }
    }
}

/// Records waiting to be sent, by partition.
#[derive(Debug, Default)]
struct Pending {
    by_partition: BTreeMap<i32, Vec<ProducerRecord>>,
    records: usize,
    bytes: usize,
}

impl Pending {
    fn push(&mut self, partition: i32, record: ProducerRecord) {
        self.records += 1;
        self.bytes += record_size(&record);
        self.by_partition.entry(partition).or_default().push(record);
    }

    fn is_empty(&self) -> bool {
        self.records == 0
    }

    fn is_full(&self, max_records: usize, max_bytes: usize) -> bool {
        self.records >= max_records || self.bytes >= max_bytes
    }

    fn take(&mut self) -> BTreeMap<i32, Vec<ProducerRecord>> {
        self.records = 0;
        self.bytes = 0;
        std::mem::take(&mut self.by_partition)
    }
}

/// Bytes a record adds to a batch, roughly (payload plus record overhead).
fn record_size(r: &ProducerRecord) -> usize {
    let payload = r.key.as_ref().map_or(0, Bytes::len)
        + r.value.as_ref().map_or(0, Bytes::len)
        + r.headers
            .iter()
            .map(|(k, v)| k.len() + v.as_ref().map_or(0, Bytes::len) + 2)
            .sum::<usize>();
    payload + 8
}

/// What was written to one partition.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct PartitionSummary {
    records: u64,
    /// Unknown with acks=0.
    first_offset: Option<i64>,
    last_offset: Option<i64>,
}

type Summary = BTreeMap<i32, PartitionSummary>;

fn record_sent(summary: &mut Summary, partition: i32, base_offset: i64, count: usize) {
    let s = summary.entry(partition).or_default();
    s.records += count as u64;
    if base_offset >= 0 {
        s.first_offset.get_or_insert(base_offset);
        s.last_offset = Some(base_offset + count as i64 - 1);
    }
}

fn summary_table(summary: &Summary) -> String {
    let mut t = Table::new(&["PARTITION", "RECORDS", "FIRST_OFFSET", "LAST_OFFSET"]);
    let offset = |o: Option<i64>| o.map_or("-".to_string(), |o| o.to_string());
    for (p, s) in summary {
        t.push(vec![
            p.to_string(),
            s.records.to_string(),
            offset(s.first_offset),
            offset(s.last_offset),
        ]);
    }
    t.render()
}

fn summary_json(topic: &str, summary: &Summary) -> serde_json::Value {
    json!({
        "topic": topic,
        "records": summary.values().map(|s| s.records).sum::<u64>(),
        "partitions": summary.iter().map(|(p, s)| json!({
            "partition": p,
            "records": s.records,
            "first_offset": s.first_offset,
            "last_offset": s.last_offset,
        })).collect::<Vec<_>>(),
    })
}

/// The size of stdin when it is a regular file (`< big.txt`), for a bar
/// of bytes read; `None` for pipes and terminals, whose end is unknown.
fn stdin_file_size() -> Option<u64> {
    use std::os::fd::AsFd;
    let fd = std::io::stdin().as_fd().try_clone_to_owned().ok()?;
    let metadata = std::fs::File::from(fd).metadata().ok()?;
    metadata.is_file().then_some(metadata.len())
}

/// Reads stdin on a thread of its own (blocking reads), line by line,
/// moving `progress` on by the bytes read.
fn stdin_lines(progress: Option<ProgressBar>) -> mpsc::Receiver<std::io::Result<Vec<u8>>> {
    let (tx, rx) = mpsc::channel(1024);
    std::thread::spawn(move || {
        let stdin = std::io::stdin();
        let mut input = stdin.lock();
        loop {
            let mut line = Vec::new();
            match input.read_until(b'\n', &mut line) {
                Ok(0) => return,
                Ok(n) => {
                    if let Some(bar) = &progress {
                        bar.inc(n as u64);
                    }
                    trim_line_end(&mut line);
                    if tx.blocking_send(Ok(line)).is_err() {
                        return;
                    }
                }
                Err(e) => {
                    let _ = tx.blocking_send(Err(e));
                    return;
                }
            }
        }
    });
    rx
}

struct Producer<'a> {
    client: &'a mut Client,
    topic: &'a str,
    acks: Acks,
    compression: Compression,
    summary: Summary,
}

impl Producer<'_> {
    async fn flush(&mut self, pending: &mut Pending) -> Result<(), ToolError> {
        for (partition, records) in pending.take() {
            let base = self
                .client
                .produce(self.topic, partition, &records, self.acks, self.compression)
                .await?;
            record_sent(&mut self.summary, partition, base, records.len());
        }
        Ok(())
    }
}

pub async fn run(args: ProduceArgs) -> Result<(), ToolError> {
    let parser = LineParser::new(&args)?;
    let mut client = args.common.connect().await?;
    let topic = client.topic_metadata(&args.topic).await?;
    let partitions = topic.partitions.len() as i32;
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
    let mut partitioner = Partitioner::new();
    let max_records = args.batch_lines as usize;
    let max_bytes = args.batch_bytes as usize;
    let linger = Duration::from_millis(args.linger_ms);

    let mut producer = Producer {
        client: &mut client,
        topic: &args.topic,
        acks: args.acks.into(),
        compression: args.compression.into(),
        summary: Summary::new(),
    };
    let mut pending = Pending::default();
    let mut deadline = tokio::time::Instant::now();
    // Shown only on a terminal; a file's bar reaches its end when the
    // last line has been read, before the last batch is sent.
    let progress = stdin_file_size().map(progress::file_bytes);
    let mut lines = stdin_lines(progress.clone());
    let mut line_number = 0u64;
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    loop {
        let next = tokio::select! {
            line = lines.recv() => line,
            _ = tokio::time::sleep_until(deadline), if !pending.is_empty() => {
                producer.flush(&mut pending).await?;
                continue;
            }
            _ = &mut ctrl_c => None,
        };
        let Some(line) = next else { break };
        line_number += 1;
        let record = match line
            .map_err(ToolError::from)
            .and_then(|line| parser.parse(line, line_number, now_ms()))
        {
            Ok(record) => record,
            Err(e) => {
                // Send what came before the bad line, then report it.
                producer.flush(&mut pending).await?;
                return Err(e);
            }
        };
        let partition = match args.partition {
            Some(p) => p,
            None => partitioner.partition(record.key.as_deref(), partitions),
        };
        if pending.is_empty() {
            deadline = tokio::time::Instant::now() + linger;
        }
        pending.push(partition, record);
        if pending.is_full(max_records, max_bytes) {
            producer.flush(&mut pending).await?;
        }
    }
    producer.flush(&mut pending).await?;
    if let Some(bar) = progress {
        bar.finish_and_clear();
    }
    let summary = producer.summary;
    if args.common.json() {
        print_json(&summary_json(&args.topic, &summary))
    } else {
        print(&summary_table(&summary))
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::parse;
    use super::super::ToolCommand;
    use super::*;

    fn produce(args: &[&str]) -> ProduceArgs {
        let mut full = vec!["produce"];
        full.extend_from_slice(args);
        match parse(&full).unwrap() {
            ToolCommand::Produce(p) => p,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn defaults() {
        let p = produce(&["orders"]);
        assert_eq!(p.topic, "orders");
        assert_eq!(p.key_separator, None);
        assert!(p.headers.is_empty());
        assert_eq!(p.partition, None);
        assert_eq!(p.compression, CompressionArg::None);
        assert_eq!(p.acks, AcksArg::All);
        assert_eq!(p.batch_lines, 1000);
        assert_eq!(p.batch_bytes, 512 * 1024);
        assert_eq!(p.linger_ms, 100);
    }

    #[test]
    fn every_option() {
        let p = produce(&[
            "orders",
            "--key-separator",
            "::",
            "--header",
            "source=cli",
            "--header",
            "v=2",
            "--partition",
            "2",
            "--compression",
            "zstd",
            "--acks",
            "1",
            "--batch-lines",
            "10",
            "--batch-bytes",
            "4096",
            "--linger-ms",
            "5",
        ]);
        assert_eq!(p.key_separator.as_deref(), Some("::"));
        assert_eq!(p.headers.len(), 2);
        assert_eq!(p.partition, Some(2));
        assert_eq!(Compression::from(p.compression), Compression::Zstd);
        assert_eq!(Acks::from(p.acks), Acks::Leader);
        assert_eq!((p.batch_lines, p.batch_bytes, p.linger_ms), (10, 4096, 5));
    }

    #[test]
    fn acks_spellings() {
        assert_eq!(produce(&["t", "--acks", "0"]).acks, AcksArg::Zero);
        assert_eq!(produce(&["t", "--acks", "all"]).acks, AcksArg::All);
        assert_eq!(produce(&["t", "--acks", "-1"]).acks, AcksArg::All);
        assert_eq!(produce(&["t", "--acks=-1"]).acks, AcksArg::All);
        assert!(parse(&["produce", "t", "--acks", "2"]).is_err());
        assert!(parse(&["produce", "t", "--compression", "brotli"]).is_err());
        assert!(parse(&["produce", "t", "--partition", "-1"]).is_err());
        assert!(parse(&["produce", "t", "--batch-lines", "0"]).is_err());
        assert!(parse(&["produce"]).is_err());
    }

    #[test]
    fn lines_become_records() {
        let p = produce(&["t", "--key-separator", "::", "--header", "h=1"]);
        let parser = LineParser::new(&p).unwrap();
        let r = parser
            .parse(b"user-1::hello::world".to_vec(), 1, 77)
            .unwrap();
        assert_eq!(r.key.as_deref(), Some(&b"user-1"[..]));
        assert_eq!(r.value.as_deref(), Some(&b"hello::world"[..]));
        assert_eq!(
            r.headers,
            [("h".to_string(), Some(Bytes::from_static(b"1")))]
        );
        assert_eq!(r.timestamp, Some(77));
        let r = parser.parse(b"::v".to_vec(), 2, 0).unwrap();
        assert_eq!(r.key.as_deref(), Some(&b""[..]));
        let err = parser.parse(b"no separator".to_vec(), 3, 0).unwrap_err();
        assert_eq!(err.to_string(), "line 3 has no key separator \"::\"");

        let plain = LineParser::new(&produce(&["t"])).unwrap();
        let r = plain.parse(b"a::b".to_vec(), 1, 0).unwrap();
        assert_eq!(r.key, None);
        assert_eq!(r.value.as_deref(), Some(&b"a::b"[..]));
        assert!(r.headers.is_empty());
        let r = plain.parse(Vec::new(), 1, 0).unwrap();
        assert_eq!(r.value.as_deref(), Some(&b""[..]));

        assert!(LineParser::new(&produce(&["t", "--key-separator", ""])).is_err());
    }

    #[test]
    fn line_endings() {
        for (input, want) in [
            (&b"a\n"[..], &b"a"[..]),
            (b"a\r\n", b"a"),
            (b"a", b"a"),
            (b"\n", b""),
            (b"a\r", b"a\r"),
        ] {
            let mut line = input.to_vec();
            trim_line_end(&mut line);
            assert_eq!(line, want);
        }
    }

    #[test]
    fn batches_fill_by_lines_or_bytes() {
        let mut pending = Pending::default();
        assert!(pending.is_empty());
        for i in 0..3 {
            pending.push(i % 2, ProducerRecord::value(vec![b'x'; 10]));
        }
        assert_eq!(pending.records, 3);
        assert_eq!(pending.bytes, 3 * 18);
        assert!(pending.is_full(3, 1 << 20));
        assert!(!pending.is_full(4, 1 << 20));
        assert!(pending.is_full(100, 54));
        let taken = pending.take();
        assert_eq!(taken[&0].len(), 2);
        assert_eq!(taken[&1].len(), 1);
        assert!(pending.is_empty());
        assert_eq!(pending.bytes, 0);
    }

    #[test]
    fn summary_output() {
        let mut s = Summary::new();
        record_sent(&mut s, 0, 10, 5);
        record_sent(&mut s, 0, 15, 2);
        record_sent(&mut s, 2, -1, 3);
        assert_eq!(
            summary_table(&s),
            "PARTITION  RECORDS  FIRST_OFFSET  LAST_OFFSET\n\
             0          7        10            16\n\
             2          3        -             -\n"
        );
        assert_eq!(
            summary_json("t", &s).to_string(),
            r#"{"partitions":[{"first_offset":10,"last_offset":16,"partition":0,"records":7},{"first_offset":null,"last_offset":null,"partition":2,"records":3}],"records":10,"topic":"t"}"#
        );
    }
}
