//! `vltava-difftest [--list] [-v] [FILTER...]`: runs the differential
//! battery (the cases whose names contain a FILTER, all without one)
//! against Apache Kafka and Vltava and prints what differs.
//!
//! Kafka: `KAFKA_BOOTSTRAP` if set, else one node started with
//! tests/reference/kafka/kafka.sh for the run. Vltava: `VLTAVA_BOOTSTRAP`
//! if set, else a `vltava server` started from `VLTAVA_BIN` (default: the
//! `vltava` next to this binary). Exit status 1 when a case shows a
//! difference its table does not explain, or explains one that no longer
//! shows up; 2 when the brokers cannot be started.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use vltava_difftest::fixture::{wait_ready, KafkaCluster, VltavaServer};
use vltava_difftest::{cases, common_versions, run_case};

fn default_vltava_bin() -> PathBuf {
    let me = std::env::current_exe().unwrap_or_default();
    me.with_file_name("vltava")
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let verbose = args.iter().any(|a| a == "-v");
    let filters: Vec<&String> = args.iter().filter(|a| !a.starts_with('-')).collect();
    let selected: Vec<_> = cases::ALL
        .iter()
        .filter(|c| filters.is_empty() || filters.iter().any(|f| c.name.contains(f.as_str())))
        .collect();
    if args.iter().any(|a| a == "--list") {
        for c in &selected {
            println!("{}", c.name);
        }
        return ExitCode::SUCCESS;
    }
    if selected.is_empty() {
        eprintln!("no case matches {filters:?}");
        return ExitCode::from(2);
    }

    let setup = async {
        let kafka = KafkaCluster::from_env_or_start()?;
        let (vltava, _server) = match std::env::var("VLTAVA_BOOTSTRAP") {
            Ok(b) => (b, None),
            Err(_) => {
                let bin = std::env::var_os("VLTAVA_BIN")
                    .map(PathBuf::from)
                    .unwrap_or_else(default_vltava_bin);
                let server = VltavaServer::start(&bin)?;
                (server.bootstrap.clone(), Some(server))
            }
        };
        wait_ready(&kafka.bootstrap, Duration::from_secs(60)).await?;
        wait_ready(&vltava, Duration::from_secs(60)).await?;
        Ok::<_, String>((kafka, vltava, _server))
    };
    let (kafka, vltava, _server) = match setup.await {
        Ok(x) => x,
        Err(e) => {
            eprintln!("difftest: {e}");
            return ExitCode::from(2);
        }
    };
    let (versions, _, _) = match common_versions(&kafka.bootstrap, &vltava).await {
        Ok(x) => x,
        Err(e) => {
            eprintln!("difftest: {e}");
            return ExitCode::from(2);
        }
    };
    // Names get this suffix: a rerun against the same Kafka must not meet
    // the topics and groups of the last one.
    let run_id = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis()
        % 1_000_000_000;
    let run_id = format!("{run_id:09}");
    println!(
        "kafka {} · vltava {} · {} cases",
        kafka.bootstrap,
        vltava,
        selected.len()
    );

    let total = selected.len();
    let mut global_used = vec![false; cases::EVERY_CASE.len()];
    let started = Instant::now();
    let (mut failed, mut known, mut steps) = (0, 0, 0);
    for case in selected {
        let t = Instant::now();
        let report = run_case(
            case,
            cases::EVERY_CASE,
            &kafka.bootstrap,
            &vltava,
            &versions,
            &run_id,
        )
        .await;
        for (used, now) in global_used.iter_mut().zip(&report.global_used) {
            *used |= now;
        }
        steps += report.steps;
        known += report.known.len();
        let verdict = if report.passed() { "ok  " } else { "FAIL" };
        println!(
            "{verdict} {} ({} steps, {} known differences, {} ms)",
            report.name,
            report.steps,
            report.known.len(),
            t.elapsed().as_millis()
        );
        for d in &report.unexpected {
            println!(
                "     differs  {}  kafka={}  vltava={}",
                d.path, d.kafka, d.vltava
            );
        }
        for p in &report.stale {
            println!("     stale    known difference {p:?} did not show up: fix the table");
        }
        if verbose {
            for (d, why) in &report.known {
                println!(
                    "     known    {}  kafka={}  vltava={}  ({why})",
                    d.path, d.kafka, d.vltava
                );
            }
        }
        if !report.passed() {
            failed += 1;
        }
    }
    // The battery-wide entries are checked only when every case ran.
    if filters.is_empty() {
        for (k, used) in cases::EVERY_CASE.iter().zip(&global_used) {
            if !used {
                println!(
                    "FAIL stale battery-wide known difference {:?}: fix the table",
                    k.pattern
                );
                failed += 1;
            }
        }
    }
    println!(
        "{total} cases, {steps} steps compared, {known} known differences, {failed} failed, {:.1} s",
        started.elapsed().as_secs_f64()
    );
    if failed > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
