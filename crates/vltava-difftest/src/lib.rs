//! Differential tests: the same request sequences sent to Apache Kafka and
//! to Vltava, their answers compared field by field.
//!
//! - [`cases`]: the battery, one `async fn` per case and a table of them;
//!   a case sends requests through a [`Session`] and lists the differences
//!   it knows of, each with its reason.
//! - [`session`]: sends a case's requests to one broker and keeps the
//!   transcript of its answers, normalised.
//! - [`tree`], [`normalise`], [`diff`]: an answer as a tree of fields (read
//!   back from its `Debug` text), what is taken out before comparing
//!   (ids, times, addresses), and the comparison.
//! - [`fixture`]: a Vltava process, and Apache Kafka from
//!   `tests/reference/kafka/kafka.sh`.
//!
//! `cargo run -p vltava-difftest -- [FILTER]` runs it; see the README.

pub mod cases;
pub mod diff;
pub mod fixture;
pub mod normalise;
pub mod session;
pub mod tree;

use std::future::Future;
use std::pin::Pin;

use vltava_client::connection::our_versions;
use vltava_client::protocol::ApiKey;
use vltava_client::{Connection, ConnectionConfig};

pub use diff::Difference;
pub use session::{CommonVersions, Outcome, Session, Step};

pub type CaseFuture<'a> = Pin<Box<dyn Future<Output = ()> + 'a>>;

/// One case of the battery.
pub struct Case {
    pub name: &'static str,
    pub run: for<'a> fn(&'a mut Session) -> CaseFuture<'a>,
    /// Differences this case is known to show: a pattern over
    /// `step label: field path` (`*` for any run of characters) and why
    /// the difference is accepted or not yet fixed. Each is listed in
    /// docs/compatibility.md; one that no longer shows up fails the run,
    /// so the list stays true.
    pub known: &'static [Known],
}

#[derive(Clone, Copy, Debug)]
pub struct Known {
    pub pattern: &'static str,
    pub reason: &'static str,
}

/// What one case found.
#[derive(Debug, Default)]
pub struct CaseReport {
    pub name: &'static str,
    /// Differences no entry of `known` explains: failures.
    pub unexpected: Vec<Difference>,
    /// Differences explained, with the reason.
    pub known: Vec<(Difference, &'static str)>,
    /// Entries of `known` that matched nothing: failures too.
    pub stale: Vec<&'static str>,
    /// Which entries of the battery-wide list matched something.
    pub global_used: Vec<bool>,
    /// Steps compared.
    pub steps: usize,
}

impl CaseReport {
    pub fn passed(&self) -> bool {
        self.unexpected.is_empty() && self.stale.is_empty()
    }
}

/// The versions of every API both brokers and this client speak, from
/// each broker's ApiVersions answer.
pub async fn common_versions(
    kafka: &str,
    vltava: &str,
) -> Result<(CommonVersions, Connection, Connection), String> {
    let connect = |addr: String| async move {
        Connection::connect(&addr, ConnectionConfig::default())
            .await
            .map_err(|e| format!("connecting to {addr}: {e}"))
    };
    let k = connect(kafka.to_string()).await?;
    let v = connect(vltava.to_string()).await?;
    let mut common = CommonVersions::default();
    for api in ApiKey::ALL {
        let (Some(a), Some(b)) = (k.broker_versions(api), v.broker_versions(api)) else {
            continue;
        };
        let ours = our_versions(api);
        let min = a.min.max(b.min).max(ours.min);
        let max = a.max.min(b.max).min(ours.max);
        if min <= max {
            common.0.insert(
                api as i16,
                vltava_client::protocol::VersionRange { min, max },
            );
        }
    }
    Ok((common, k, v))
}

/// Runs `case` against both brokers, one after the other, and compares
/// the transcripts.
pub async fn run_case(
    case: &Case,
    global: &[Known],
    kafka: &str,
    vltava: &str,
    versions: &CommonVersions,
    run_id: &str,
) -> CaseReport {
    let mut k = Session::new("kafka", kafka, versions.clone(), run_id);
    (case.run)(&mut k).await;
    let mut v = Session::new("vltava", vltava, versions.clone(), run_id);
    (case.run)(&mut v).await;
    if let Some(dir) = std::env::var_os("DIFFTEST_DUMP") {
        dump(std::path::Path::new(&dir), case.name, &k.steps, &v.steps);
    }
    let mut report = classify(compare(&k.steps, &v.steps), case.known, global);
    report.name = case.name;
    report.steps = k.steps.len().max(v.steps.len());
    report
}

/// Sorts differences into explained (by the case's entries first, then the
/// battery-wide ones) and unexpected, and finds the case's stale entries.
pub fn classify(differences: Vec<Difference>, known: &[Known], global: &[Known]) -> CaseReport {
    let mut report = CaseReport {
        global_used: vec![false; global.len()],
        ..Default::default()
    };
    let mut used = vec![false; known.len()];
    for d in differences {
        let here = known.iter().position(|k| diff::matches(k.pattern, &d.path));
        let everywhere = global
            .iter()
            .position(|k| diff::matches(k.pattern, &d.path));
        match (here, everywhere) {
            (Some(i), _) => {
                used[i] = true;
                report.known.push((d, known[i].reason));
            }
            (None, Some(i)) => {
                report.global_used[i] = true;
                report.known.push((d, global[i].reason));
            }
            (None, None) => report.unexpected.push(d),
        }
    }
    report.stale = known
        .iter()
        .zip(used)
        .filter(|(_, used)| !used)
        .map(|(k, _)| k.pattern)
        .collect();
    report
}

/// The differences between two transcripts, each path prefixed with its
/// step's label (`CreateTopics v7: topics[0].error_code`).
pub fn compare(kafka: &[Step], vltava: &[Step]) -> Vec<Difference> {
    let mut out = Vec::new();
    for i in 0..kafka.len().max(vltava.len()) {
        let (k, v) = (kafka.get(i), vltava.get(i));
        match (k, v) {
            (Some(k), Some(v)) if k.label == v.label => match (&k.outcome, &v.outcome) {
                (Outcome::Answer(a), Outcome::Answer(b)) => {
                    out.extend(diff::diff(&format!("{}:", k.label), a, b).into_iter().map(
                        |mut d| {
                            d.path = d.path.replacen(":.", ": ", 1).replacen(":[", ": [", 1);
                            d
                        },
                    ))
                }
                (a, b) if a == b => {}
                (a, b) => out.push(Difference {
                    path: format!("{}:", k.label),
                    kafka: show(a),
                    vltava: show(b),
                }),
            },
            _ => {
                // The case took another path on one broker (a step gave
                // up): the rest cannot be lined up.
                out.push(Difference {
                    path: format!("step {i}:"),
                    kafka: k.map_or("-".into(), |s| s.label.clone()),
                    vltava: v.map_or("-".into(), |s| s.label.clone()),
                });
                break;
            }
        }
    }
    out
}

/// Writes both transcripts, one step a line, for reading side by side
/// (`DIFFTEST_DUMP=dir`).
fn dump(dir: &std::path::Path, case: &str, kafka: &[Step], vltava: &[Step]) {
    let _ = std::fs::create_dir_all(dir);
    for (side, steps) in [("kafka", kafka), ("vltava", vltava)] {
        let text: String = steps
            .iter()
            .map(|s| match &s.outcome {
                Outcome::Answer(v) => format!("{}: {v}\n", s.label),
                Outcome::Failed(why) => format!("{}: ({why})\n", s.label),
            })
            .collect();
        let _ = std::fs::write(dir.join(format!("{case}.{side}")), text);
    }
}

fn show(o: &Outcome) -> String {
    match o {
        Outcome::Answer(v) => {
            let s = v.to_string();
            s.chars().take(160).collect()
        }
        Outcome::Failed(why) => format!("({why})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tree::parse;

    fn step(label: &str, text: &str) -> Step {
        Step {
            label: label.into(),
            outcome: Outcome::Answer(parse(text).unwrap()),
        }
    }

    #[test]
    fn transcripts_are_compared_step_by_step_and_differences_sorted() {
        let kafka = [
            step("A v1", "R { error_code: 3, configs: [C { name: \"x\", value: 1 }, C { name: \"y\", value: 2 }] }"),
            step("B v1", "R { error_code: 0 }"),
        ];
        let vltava = [
            step("A v1", "R { error_code: 0, configs: [C { name: \"y\", value: 2 }, C { name: \"z\", value: 3 }] }"),
            step("B v1", "R { error_code: 0 }"),
        ];
        let d = compare(&kafka, &vltava);
        let paths: Vec<_> = d.iter().map(|d| d.path.as_str()).collect();
        assert_eq!(
            paths,
            ["A v1: error_code", "A v1: configs[x]", "A v1: configs[z]"]
        );

        let known = [
            Known {
                pattern: "A v*: configs[*]",
                reason: "sets differ",
            },
            Known {
                pattern: "C v*: error_code",
                reason: "no longer shows",
            },
        ];
        let global = [Known {
            pattern: "*error_message",
            reason: "free text",
        }];
        let r = classify(d, &known, &global);
        assert_eq!(r.unexpected.len(), 1, "{r:?}");
        assert_eq!(r.unexpected[0].path, "A v1: error_code");
        assert_eq!(r.known.len(), 2);
        assert_eq!(r.stale, ["C v*: error_code"]);
        assert_eq!(r.global_used, [false]);
        assert!(!r.passed());
    }

    #[test]
    fn a_step_one_side_skipped_stops_the_comparison() {
        let kafka = [step("A v1", "R { a: 1 }"), step("B v1", "R { a: 1 }")];
        let vltava = [step("B v1", "R { a: 1 }")];
        let d = compare(&kafka, &vltava);
        assert_eq!(d.len(), 1);
        assert_eq!(
            (d[0].kafka.as_str(), d[0].vltava.as_str()),
            ("A v1", "B v1")
        );
    }
}
