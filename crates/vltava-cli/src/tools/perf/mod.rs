//! `vltava perf produce` and `vltava perf consume`: load generators that
//! measure throughput and latency, after Kafka's kafka-producer-perf-test
//! and kafka-consumer-perf-test.
//!
//! Both report once a second (a bar on a terminal, else plain lines on
//! stdout unless `--output json`) and end with a summary whose latency
//! percentiles come from an HDR histogram.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{Args, Subcommand};
use indicatif::ProgressBar;

use super::{print, Common, ToolError};

mod consume;
mod produce;
mod stats;

use stats::{Stats, Window};

#[derive(Args, Debug)]
pub struct PerfArgs {
    #[command(flatten)]
    pub common: Common,
    #[command(subcommand)]
    pub command: PerfCommand,
}

#[derive(Subcommand, Debug)]
pub enum PerfCommand {
    /// Write generated records as fast as allowed; latency is from handing
    /// a record to the batcher to the broker's acknowledgement.
    Produce(produce::PerfProduceArgs),
    /// Read a topic as fast as possible; latency is from a perf-produced
    /// record's timestamp to its receipt.
    Consume(consume::PerfConsumeArgs),
}

/// How long a run goes on: exactly one of the two.
#[derive(Args, Debug, Clone, PartialEq, Eq)]
#[group(required = false, multiple = false)]
pub struct LimitArgs {
    /// Stop after N records.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub num_records: Option<u64>,
    /// Stop after SECS seconds.
    #[arg(long, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..))]
    pub duration: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    Records(u64),
    Time(Duration),
}

impl LimitArgs {
    fn limit(&self) -> Option<Limit> {
        match (self.num_records, self.duration) {
            (Some(n), _) => Some(Limit::Records(n)),
            (None, Some(s)) => Some(Limit::Time(Duration::from_secs(s))),
            (None, None) => None,
        }
    }
}

/// The name of the header the perf producer puts on its records, so that
/// the perf consumer knows whose timestamps mean "sent at".
pub const PERF_HEADER: &str = "vltava.perf";

/// The bar's layout; the message carries the last second's numbers.
pub const BAR: &str = "{spinner} [{bar:20}] {percent:>3}% {elapsed:>4} {prefix} {msg}";

/// Where once-a-second progress goes.
enum Report {
    /// stderr is a terminal: a bar there.
    Bar(ProgressBar),
    /// A pipe and text output: a plain line on stdout each second.
    Lines,
    /// A pipe and `--output json`: nothing until the summary.
    Quiet,
}

impl Report {
    fn new(limit: Option<Limit>, json: bool) -> Report {
        let len = match limit {
            Some(Limit::Records(n)) => n,
            Some(Limit::Time(d)) => d.as_secs(),
            // Reading to the end offsets: the caller sets the length.
            None => 0,
        };
        let bar = super::progress::bar(len, BAR);
        if !bar.is_hidden() {
            bar.enable_steady_tick(Duration::from_millis(200));
            Report::Bar(bar)
        } else if json {
            Report::Quiet
        } else {
            Report::Lines
        }
    }

    fn set_len(&self, len: u64) {
        if let Report::Bar(bar) = self {
            bar.set_length(len);
        }
    }

    /// One second's progress; `limit` decides what the bar counts.
    fn tick(
        &self,
        w: &Window,
        limit: Option<Limit>,
        elapsed: Duration,
        verb: &str,
    ) -> Result<(), ToolError> {
        match self {
            Report::Bar(bar) => {
                bar.set_position(match limit {
                    Some(Limit::Time(_)) => elapsed.as_secs(),
                    _ => w.total_records,
                });
                bar.set_prefix(format!("{} {verb}", w.total_records));
                bar.set_message(w.bar_message());
                Ok(())
            }
            Report::Lines => print(&format!("{}\n", w.line(verb))),
            Report::Quiet => Ok(()),
        }
    }

    fn finish(&self) {
        if let Report::Bar(bar) = self {
            bar.finish_and_clear();
        }
    }
}

/// Set by Ctrl-C: the run stops early and still prints its summary.
fn stop_on_ctrl_c() -> Arc<AtomicBool> {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            flag.store(true, Ordering::Relaxed);
        }
    });
    stop
}

/// Reports progress if a second has passed.
fn maybe_tick(
    stats: &mut Stats,
    report: &Report,
    limit: Option<Limit>,
    verb: &str,
) -> Result<(), ToolError> {
    let now = Instant::now();
    if now >= stats.window_end() {
        let w = stats.take_window(now);
        report.tick(&w, limit, stats.elapsed(now), verb)?;
    }
    Ok(())
}

pub async fn run(args: PerfArgs) -> Result<(), ToolError> {
    match args.command {
        PerfCommand::Produce(p) => produce::run(p, &args.common).await,
        PerfCommand::Consume(c) => consume::run(c, &args.common).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bar_template_parses() {
        indicatif::ProgressStyle::with_template(BAR).unwrap();
    }

    #[test]
    fn limits() {
        let l = |n, d| {
            LimitArgs {
                num_records: n,
                duration: d,
            }
            .limit()
        };
        assert_eq!(l(Some(5), None), Some(Limit::Records(5)));
        assert_eq!(l(None, Some(2)), Some(Limit::Time(Duration::from_secs(2))));
        assert_eq!(l(None, None), None);
    }
}
