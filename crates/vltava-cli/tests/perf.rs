//! `vltava perf produce` and `vltava perf consume` against a real broker:
//! the JSON summaries' counts and percentiles, what reached the log, the
//! rate limiter's lower bound, and that nothing in a pipe carries a
//! progress bar's terminal escapes (here stdout and stderr are pipes, so
//! indicatif must stay hidden). Each test starts its own broker.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::TestBroker;
use serde_json::Value;
use vltava_client::{NewTopic, OffsetSpec};

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

/// Runs `vltava ARGS --bootstrap ...` with stdin from `stdin_file` (or
/// nothing) and stdout and stderr as pipes.
fn vltava(broker: &TestBroker, args: &[&str], stdin_file: Option<&std::path::Path>) -> Run {
    let stdin = match stdin_file {
        Some(path) => Stdio::from(std::fs::File::open(path).expect("open input")),
        None => Stdio::null(),
    };
    let output = Command::new(env!("CARGO_BIN_EXE_vltava"))
        .args(args)
        .arg("--bootstrap")
        .arg(broker.bootstrap())
        .env("RUST_LOG", "warn")
        .stdin(stdin)
        .output()
        .expect("run vltava");
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

fn ok(run: Run, args: &[&str]) -> Run {
    assert_eq!(
        run.code, 0,
        "vltava {args:?} failed:\n{}\n{}",
        run.stdout, run.stderr
    );
    run
}

fn json_of(run: &Run) -> Value {
    serde_json::from_str(run.stdout.trim())
        .unwrap_or_else(|e| panic!("not one JSON object ({e}):\n{}", run.stdout))
}

/// No ESC byte: no cursor movement, colour or line clearing of a bar.
fn assert_no_escapes(what: &str, text: &str) {
    assert!(
        !text.contains('\u{1b}'),
        "{what} has terminal escapes: {text:?}"
    );
}

async fn create_topic(broker: &TestBroker, topic: &str, partitions: i32) {
    let mut client = broker.client().await;
    let mut t = NewTopic::new(topic);
    t.num_partitions = Some(partitions);
    client.create_topic(&t).await.expect("create topic");
}

fn assert_latency_ordered(summary: &Value) {
    let l = &summary["latency_ms"];
    let get = |k: &str| {
        l[k].as_f64()
            .unwrap_or_else(|| panic!("no latency_ms.{k}: {summary}"))
    };
    let (p50, p95, p99, p999, max) = (get("p50"), get("p95"), get("p99"), get("p999"), get("max"));
    assert!(
        0.0 <= p50 && p50 <= p95 && p95 <= p99 && p99 <= p999 && p999 <= max,
        "percentiles out of order: {summary}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn produce_then_consume_twenty_thousand() {
    let broker = TestBroker::start(&[]);
    create_topic(&broker, "perf", 3).await;

    let args = [
        "perf",
        "produce",
        "--topic",
        "perf",
        "--num-records",
        "20000",
        "--record-size",
        "100",
        "--output",
        "json",
    ];
    let run = ok(vltava(&broker, &args, None), &args);
    assert_no_escapes("stdout", &run.stdout);
    assert_no_escapes("stderr", &run.stderr);
    let produced = json_of(&run);
    assert_eq!(produced["records"], 20000, "{produced}");
    assert_eq!(produced["bytes"], 2_000_000, "{produced}");
    assert_eq!(produced["latency_ms"]["count"], 20000, "{produced}");
    assert!(
        produced["records_per_sec"].as_f64().unwrap() > 0.0,
        "{produced}"
    );
    assert_latency_ordered(&produced);

    let mut client = broker.client().await;
    let mut total = 0;
    for p in 0..3 {
        total += client
            .list_offsets("perf", p, OffsetSpec::Latest)
            .await
            .expect("end offset")
            .offset;
    }
    assert_eq!(total, 20000);

    let args = [
        "perf",
        "consume",
        "--topic",
        "perf",
        "--num-records",
        "20000",
        "--output",
        "json",
    ];
    let run = ok(vltava(&broker, &args, None), &args);
    assert_no_escapes("stdout", &run.stdout);
    assert_no_escapes("stderr", &run.stderr);
    let consumed = json_of(&run);
    assert_eq!(consumed["records"], 20000, "{consumed}");
    assert_eq!(consumed["bytes"], 2_000_000, "{consumed}");
    // Every record came from the perf producer, so each has a latency.
    assert_eq!(consumed["latency_ms"]["count"], 20000, "{consumed}");
    assert_latency_ordered(&consumed);

    // Without a limit it reads to the end offsets of its start, and a
    // group remembers where it stopped.
    let args = [
        "perf", "consume", "--topic", "perf", "--group", "g", "--output", "json",
    ];
    let first = json_of(&ok(vltava(&broker, &args, None), &args));
    assert_eq!(first["records"], 20000, "{first}");
    let again = json_of(&ok(vltava(&broker, &args, None), &args));
    assert_eq!(again["records"], 0, "{again}");
}

#[tokio::test(flavor = "multi_thread")]
async fn throughput_limit_slows_the_producer() {
    let broker = TestBroker::start(&[]);
    create_topic(&broker, "slow", 1).await;
    let args = [
        "perf",
        "produce",
        "--topic",
        "slow",
        "--num-records",
        "4000",
        "--record-size",
        "10",
        "--throughput",
        "2000",
        "--output",
        "json",
    ];
    let began = Instant::now();
    let run = ok(vltava(&broker, &args, None), &args);
    let took = began.elapsed();
    // Record 3999 is due 1.9995 s after the start; only a lower bound is
    // checked, a loaded machine may take longer.
    assert!(took >= Duration::from_millis(1500), "took {took:?}");
    let summary = json_of(&run);
    assert_eq!(summary["records"], 4000);
    assert!(summary["elapsed_sec"].as_f64().unwrap() >= 1.5, "{summary}");
}

#[tokio::test(flavor = "multi_thread")]
async fn pipes_get_plain_lines_and_no_bars() {
    let broker = TestBroker::start(&[]);
    create_topic(&broker, "lines", 2).await;

    // Text output in a pipe: a plain progress line a second, then the summary.
    let args = [
        "perf",
        "produce",
        "--topic",
        "lines",
        "--duration",
        "3",
        "--record-size",
        "50",
        "--throughput",
        "1000",
        "--keys",
        "10",
    ];
    let run = ok(vltava(&broker, &args, None), &args);
    assert_no_escapes("stdout", &run.stdout);
    assert_no_escapes("stderr", &run.stderr);
    let progress = run
        .stdout
        .lines()
        .filter(|l| l.contains("in the last second"))
        .count();
    assert!(progress >= 1, "no progress lines:\n{}", run.stdout);
    assert!(run.stdout.contains("records/s"), "{}", run.stdout);
    assert!(
        run.stdout.contains("latency (send to acknowledgement"),
        "{}",
        run.stdout
    );

    // With --output json a pipe gets the summary alone.
    let args = [
        "perf",
        "consume",
        "--topic",
        "lines",
        "--duration",
        "2",
        "--output",
        "json",
    ];
    let run = ok(vltava(&broker, &args, None), &args);
    assert_no_escapes("stderr", &run.stderr);
    assert_eq!(run.stdout.lines().count(), 1, "{}", run.stdout);
    assert!(json_of(&run)["records"].as_u64().unwrap() > 0);

    // `vltava produce` from a file: its bar of bytes read stays hidden too.
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("lines.txt");
    let text: String = (0..5000).map(|i| format!("line {i}\n")).collect();
    std::fs::write(&input, text).unwrap();
    let args = ["produce", "lines", "--partition", "0", "--output", "json"];
    let run = ok(vltava(&broker, &args, Some(&input)), &args);
    assert_no_escapes("stdout", &run.stdout);
    assert_no_escapes("stderr", &run.stderr);
    assert_eq!(json_of(&run)["records"], 5000);
}
