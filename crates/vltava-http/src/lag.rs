//! Consumer-lag evaluation with Burrow's rules.
//!
//! Raw lag lies: a consumer that is keeping up shows lag between two
//! commits, and a dead one shows a constant lag no threshold fits every
//! topic. Burrow (LinkedIn) instead judges each group and partition over a
//! sliding window of its last commits, each with the lag it had when it
//! was committed. This module keeps that window (`Tracker`, fed by a
//! sampler every `http.lag.sample.interval.ms`) and evaluates it with the
//! pure function [`evaluate_partition`]:
//!
//! 1. If the current lag is zero, or the lag was zero at any commit in the
//!    window, the partition is OK: the consumer caught up in the window.
//! 2. Otherwise, in order of severity:
//!    - REWIND: a committed offset is below the one before it;
//!    - STOP: the time since the last commit is longer than the window
//!      spans (last commit time - first commit time): commits stopped;
//!    - STALL: every commit in the window has the same offset: the
//!      consumer commits but does not move;
//!    - WARN: the lag never went down from one commit to the next: the
//!      consumer moves, but slower than producers;
//!    - else OK.
//!
//! A group's status is ERR if any partition is STOP, STALL or REWIND, WARN
//! if any is WARN, else OK (Burrow's). Statuses carry Burrow's numbers
//! (NOTFOUND 0, OK 1, WARN 2, ERR 3, STOP 4, STALL 5, REWIND 6), which the
//! metrics use as gauge values.
//!
//! What differs from Burrow: the lag of a commit is measured against the
//! partition's high watermark when the sampler sees the commit (at most one
//! sample interval later), not when the commit happened; commits between
//! two samples collapse into the last one (Burrow's `min-distance` does the
//! same). Partitions hosted here (as leader or follower) are judged
//! against their own high watermark; for the others each sample asks
//! their leaders (ListOffsets), and a partition whose leader did not
//! answer is left out of that sample.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;
use tokio::sync::watch;
use vltava_broker::Broker;
use vltava_group::GroupOffsets;

use crate::Node;

/// Burrow's status values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Status {
    NotFound = 0,
    Ok = 1,
    Warn = 2,
    Err = 3,
    Stop = 4,
    Stall = 5,
    Rewind = 6,
}

impl Status {
    pub fn name(self) -> &'static str {
        match self {
            Status::NotFound => "NOTFOUND",
            Status::Ok => "OK",
            Status::Warn => "WARN",
            Status::Err => "ERR",
            Status::Stop => "STOP",
            Status::Stall => "STALL",
            Status::Rewind => "REWIND",
        }
    }
}

/// One commit in a window: the offset, when it was committed, and the lag
/// it left (log end offset then - offset, at least 0).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Commit {
    pub offset: i64,
    pub timestamp_ms: i64,
    pub lag: i64,
}

/// Burrow's rules over one partition's window (oldest commit first), with
/// the lag now and the time now. An empty window is OK: nothing to judge.
pub fn evaluate_partition(window: &[Commit], current_lag: i64, now_ms: i64) -> Status {
    let (Some(first), Some(last)) = (window.first(), window.last()) else {
        return Status::Ok;
    };
    if current_lag <= 0 || window.iter().any(|c| c.lag <= 0) {
        return Status::Ok;
    }
    let pairs = || window.windows(2).map(|w| (w[0], w[1]));
    if pairs().any(|(a, b)| b.offset < a.offset) {
        return Status::Rewind;
    }
    if now_ms - last.timestamp_ms > last.timestamp_ms - first.timestamp_ms {
        return Status::Stop;
    }
    if pairs().all(|(a, b)| a.offset == b.offset) {
        return Status::Stall;
    }
    if pairs().all(|(a, b)| b.lag >= a.lag) {
        return Status::Warn;
    }
    Status::Ok
}

/// A group's status from its partitions' (Burrow's): ERR if any is STOP,
/// STALL or REWIND (or ERR), WARN if any is WARN, else OK.
pub fn group_status(partitions: impl IntoIterator<Item = Status>) -> Status {
    partitions
        .into_iter()
        .map(|s| match s {
            Status::Stop | Status::Stall | Status::Rewind | Status::Err => Status::Err,
            Status::Warn => Status::Warn,
            Status::Ok | Status::NotFound => Status::Ok,
        })
        .max()
        .unwrap_or(Status::Ok)
}

/// One partition of an evaluated group.
#[derive(Clone, Debug, PartialEq)]
pub struct PartitionLag {
    pub topic: String,
    pub partition: i32,
    pub status: Status,
    pub current_lag: i64,
    pub committed: i64,
    pub window: Vec<Commit>,
    /// How full the window is (commits held / intervals).
    pub complete: f64,
}

/// An evaluated group.
#[derive(Clone, Debug, PartialEq)]
pub struct GroupLag {
    pub group: String,
    pub status: Status,
    pub partitions: Vec<PartitionLag>,
}

impl GroupLag {
    pub fn total_lag(&self) -> i64 {
        self.partitions.iter().map(|p| p.current_lag).sum()
    }

    /// Burrow's `status` object; `all` lists every partition (the `/lag`
    /// endpoint), otherwise only those not OK (the `/status` endpoint).
    pub fn to_json(&self, cluster: &str, all: bool) -> serde_json::Value {
        let commit = |c: Option<&Commit>| match c {
            Some(c) => {
                json!({"offset": c.offset, "timestamp": c.timestamp_ms, "observedAt": c.timestamp_ms, "lag": c.lag})
            }
            None => serde_json::Value::Null,
        };
        let partition = |p: &PartitionLag| {
            json!({
                "topic": p.topic,
                "partition": p.partition,
                "owner": "",
                "client_id": "",
                "status": p.status.name(),
                "start": commit(p.window.first()),
                "end": commit(p.window.last()),
                "current_lag": p.current_lag,
                "complete": p.complete,
            })
        };
        let maxlag = self
            .partitions
            .iter()
            .max_by_key(|p| p.current_lag)
            .map(partition)
            .unwrap_or(serde_json::Value::Null);
        let complete = if self.partitions.is_empty() {
            1.0
        } else {
            self.partitions.iter().map(|p| p.complete).sum::<f64>() / self.partitions.len() as f64
        };
        json!({
            "cluster": cluster,
            "group": self.group,
            "status": self.status.name(),
            "complete": complete,
            "partitions": self.partitions.iter().filter(|p| all || p.status != Status::Ok).map(partition).collect::<Vec<_>>(),
            "partition_count": self.partitions.len(),
            "maxlag": maxlag,
            "totallag": self.total_lag(),
        })
    }
}

type Key = (String, String, i32);

struct Window {
    commits: VecDeque<Commit>,
    /// The commit timestamp last taken in: a new one is a new commit, even
    /// of the same offset (which STALL needs to see).
    last_timestamp: i64,
}

/// The windows of every group and partition this node coordinates.
pub struct Tracker {
    intervals: usize,
    windows: Mutex<HashMap<Key, Window>>,
    /// High watermarks of partitions hosted on other brokers, as their
    /// leaders answered at the last sample.
    remote_ends: Mutex<HashMap<(String, i32), i64>>,
}

impl Tracker {
    pub fn new(intervals: usize) -> Tracker {
        Tracker {
            intervals: intervals.max(1),
            windows: Mutex::new(HashMap::new()),
            remote_ends: Mutex::new(HashMap::new()),
        }
    }

    /// The other brokers' high watermarks learnt at this sample (the
    /// previous ones are dropped: a partition that moved here, or whose
    /// leader did not answer, is not judged on a stale figure).
    pub fn set_remote_ends(&self, ends: HashMap<(String, i32), i64>) {
        *self.remote_ends.lock().unwrap_or_else(|e| e.into_inner()) = ends;
    }

    /// Adds the other brokers' high watermarks to `ends` (the partitions
    /// hosted here), where `ends` has none of its own.
    pub fn add_remote_ends(&self, ends: &mut HashMap<(String, i32), i64>) {
        let remote = self.remote_ends.lock().unwrap_or_else(|e| e.into_inner());
        for (k, v) in remote.iter() {
            ends.entry(k.clone()).or_insert(*v);
        }
    }

    /// Takes in the commits made since the last call: `groups` are the
    /// groups' committed offsets now, `ends` the log end offsets (high
    /// watermarks) now. Windows of offsets no longer committed (group or
    /// offset deleted, coordinator moved) are dropped.
    pub fn observe(&self, groups: &[GroupOffsets], ends: &HashMap<(String, i32), i64>) {
        let mut windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        let mut seen = std::collections::HashSet::new();
        for g in groups {
            for (topic, partition, offset, timestamp) in &g.offsets {
                let Some(end) = ends.get(&(topic.clone(), *partition)) else {
                    continue;
                };
                let key = (g.group_id.clone(), topic.clone(), *partition);
                let window = windows.entry(key.clone()).or_insert_with(|| Window {
                    commits: VecDeque::with_capacity(self.intervals),
                    last_timestamp: i64::MIN,
                });
                seen.insert(key);
                if *timestamp == window.last_timestamp {
                    continue;
                }
                window.last_timestamp = *timestamp;
                if window.commits.len() == self.intervals {
                    window.commits.pop_front();
                }
                window.commits.push_back(Commit {
                    offset: *offset,
                    timestamp_ms: *timestamp,
                    lag: (end - offset).max(0),
                });
            }
        }
        windows.retain(|k, _| seen.contains(k));
    }

    /// Evaluates one group's partitions (those with a known log end) from
    /// their windows; the windows are copied out under the lock and judged
    /// after it is released.
    pub fn evaluate(
        &self,
        group: &GroupOffsets,
        ends: &HashMap<(String, i32), i64>,
        now_ms: i64,
    ) -> GroupLag {
        let copied: Vec<(String, i32, i64, i64, Vec<Commit>)> = {
            let windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
            group
                .offsets
                .iter()
                .filter_map(|(topic, partition, offset, _)| {
                    let end = *ends.get(&(topic.clone(), *partition))?;
                    let window = windows
                        .get(&(group.group_id.clone(), topic.clone(), *partition))
                        .map(|w| w.commits.iter().copied().collect())
                        .unwrap_or_default();
                    Some((topic.clone(), *partition, *offset, end, window))
                })
                .collect()
        };
        let partitions: Vec<PartitionLag> = copied
            .into_iter()
            .map(|(topic, partition, committed, end, window)| {
                let current_lag = (end - committed).max(0);
                PartitionLag {
                    status: evaluate_partition(&window, current_lag, now_ms),
                    complete: window.len() as f64 / self.intervals as f64,
                    topic,
                    partition,
                    current_lag,
                    committed,
                    window,
                }
            })
            .collect();
        GroupLag {
            group: group.group_id.clone(),
            status: group_status(partitions.iter().map(|p| p.status)),
            partitions,
        }
    }
}

/// How long a sample waits for other brokers' high watermarks.
const REMOTE_TIMEOUT: Duration = Duration::from_secs(2);

/// Samples committed offsets into the tracker every `every` until
/// `shutdown`; does nothing before the broker is open.
pub async fn run_sampler(node: Arc<Node>, every: Duration, mut shutdown: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = shutdown.wait_for(|s| *s) => return,
        }
        let Some(broker) = node.broker().cloned() else {
            continue;
        };
        sample(&node, &broker).await;
    }
}

/// One sample (also what `/metrics` does first, so a scrape sees commits
/// made since the last tick).
pub async fn sample(node: &Node, broker: &Broker) {
    let groups = broker.groups.read(|c| c.group_offsets()).await;
    let mut ends = crate::metrics::log_ends(broker);
    // Partitions the groups read that live on other brokers: their high
    // watermarks are asked of their leaders here, once a sample, and kept
    // for scrapes and the v3 endpoints in between.
    let elsewhere: std::collections::BTreeSet<(String, i32)> = groups
        .iter()
        .flat_map(|g| g.offsets.iter())
        .map(|(t, p, _, _)| (t.clone(), *p))
        .filter(|k| !ends.contains_key(k))
        .collect();
    let remote = if elsewhere.is_empty() {
        HashMap::new()
    } else {
        let wanted: Vec<(String, i32)> = elsewhere.into_iter().collect();
        broker
            .high_watermarks_elsewhere(&wanted, REMOTE_TIMEOUT)
            .await
            .into_iter()
            .collect()
    };
    node.lag().set_remote_ends(remote);
    node.lag().add_remote_ends(&mut ends);
    node.lag().observe(&groups, &ends);
    // The notifier judges every group at each sample (not only when one is
    // scraped), so a change is sent within one sample interval.
    if let Some(notifier) = node.notifier() {
        let now_ms = broker.now_ms();
        let evaluated: Vec<GroupLag> = groups
            .iter()
            .map(|g| node.lag().evaluate(g, &ends, now_ms))
            .collect();
        notifier.observe(&evaluated, now_ms);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Commits one second apart from t=1000, with (offset, lag) each.
    fn window(commits: &[(i64, i64)]) -> Vec<Commit> {
        commits
            .iter()
            .enumerate()
            .map(|(i, &(offset, lag))| Commit {
                offset,
                timestamp_ms: 1000 + 1000 * i as i64,
                lag,
            })
            .collect()
    }

    // The window below spans 1000..=5000; "now" within the span after the
    // last commit is 5500, long after it is 20000.
    const SOON: i64 = 5500;
    const LATE: i64 = 20_000;

    #[test]
    fn a_consumer_that_caught_up_in_the_window_is_ok() {
        let w = window(&[(10, 5), (20, 0), (30, 8), (40, 9), (50, 12)]);
        assert_eq!(evaluate_partition(&w, 12, SOON), Status::Ok);
        // Even long after its last commit: it was at the end once.
        assert_eq!(evaluate_partition(&w, 12, LATE), Status::Ok);
    }

    #[test]
    fn no_lag_now_is_ok_whatever_the_window() {
        let w = window(&[(10, 5), (10, 6), (10, 7)]);
        assert_eq!(evaluate_partition(&w, 0, LATE), Status::Ok);
    }

    #[test]
    fn lag_that_never_goes_down_is_a_warning() {
        let w = window(&[(10, 5), (20, 6), (30, 6), (40, 9), (50, 12)]);
        assert_eq!(evaluate_partition(&w, 12, SOON), Status::Warn);
    }

    #[test]
    fn lag_that_goes_down_somewhere_is_ok() {
        let w = window(&[(10, 5), (20, 6), (30, 4), (40, 9), (50, 12)]);
        assert_eq!(evaluate_partition(&w, 12, SOON), Status::Ok);
    }

    #[test]
    fn commits_of_the_same_offset_with_lag_stall() {
        let w = window(&[(10, 5), (10, 6), (10, 7), (10, 9), (10, 12)]);
        assert_eq!(evaluate_partition(&w, 12, SOON), Status::Stall);
    }

    #[test]
    fn commits_that_stopped_for_longer_than_the_window_spans_stop() {
        let w = window(&[(10, 5), (20, 6), (30, 4), (40, 9), (50, 12)]);
        // Span 4 s; 15 s since the last commit.
        assert_eq!(evaluate_partition(&w, 12, LATE), Status::Stop);
        // STOP outranks STALL and WARN.
        let stalled = window(&[(10, 5), (10, 6)]);
        assert_eq!(evaluate_partition(&stalled, 6, LATE), Status::Stop);
        // A single commit long ago with lag left: stopped.
        assert_eq!(
            evaluate_partition(&window(&[(10, 5)]), 5, LATE),
            Status::Stop
        );
    }

    #[test]
    fn an_offset_going_back_is_a_rewind_before_anything_else() {
        let w = window(&[(10, 5), (20, 6), (15, 11), (30, 9), (40, 12)]);
        assert_eq!(evaluate_partition(&w, 12, SOON), Status::Rewind);
        assert_eq!(evaluate_partition(&w, 12, LATE), Status::Rewind);
    }

    #[test]
    fn an_empty_window_is_ok() {
        assert_eq!(evaluate_partition(&[], 100, LATE), Status::Ok);
    }

    #[test]
    fn a_group_is_as_bad_as_its_worst_partition() {
        use Status::*;
        assert_eq!(group_status([Ok, Ok]), Ok);
        assert_eq!(group_status([Ok, Warn, Ok]), Warn);
        assert_eq!(group_status([Warn, Stall]), Err);
        assert_eq!(group_status([Rewind]), Err);
        assert_eq!(group_status([Stop, Warn]), Err);
        assert_eq!(group_status([]), Ok);
    }

    fn offsets(group: &str, commits: &[(&str, i32, i64, i64)]) -> GroupOffsets {
        GroupOffsets {
            group_id: group.into(),
            state: "Stable",
            members: 1,
            offsets: commits
                .iter()
                .map(|&(t, p, o, ts)| (t.to_string(), p, o, ts))
                .collect(),
        }
    }

    #[test]
    fn the_tracker_keeps_one_entry_per_commit_and_at_most_intervals() {
        let tracker = Tracker::new(3);
        let ends = HashMap::from([(("t".to_string(), 0), 100)]);
        // The same commit seen twice is one entry.
        tracker.observe(&[offsets("g", &[("t", 0, 10, 1000)])], &ends);
        tracker.observe(&[offsets("g", &[("t", 0, 10, 1000)])], &ends);
        let g = offsets("g", &[("t", 0, 10, 1000)]);
        let lag = tracker.evaluate(&g, &ends, 1500);
        assert_eq!(lag.partitions[0].window.len(), 1);
        assert_eq!(lag.partitions[0].window[0].lag, 90);
        // The same offset committed again (new timestamp) is a new entry:
        // three of them with lag make a STALL.
        tracker.observe(&[offsets("g", &[("t", 0, 10, 2000)])], &ends);
        tracker.observe(&[offsets("g", &[("t", 0, 10, 3000)])], &ends);
        tracker.observe(&[offsets("g", &[("t", 0, 10, 4000)])], &ends);
        let g = offsets("g", &[("t", 0, 10, 4000)]);
        let lag = tracker.evaluate(&g, &ends, 4500);
        let p = &lag.partitions[0];
        assert_eq!(p.window.len(), 3, "capped at intervals");
        assert_eq!(p.window[0].timestamp_ms, 2000, "oldest dropped first");
        assert_eq!(p.status, Status::Stall);
        assert_eq!(lag.status, Status::Err);
        assert_eq!(p.current_lag, 90);
        assert_eq!(p.complete, 1.0);
        // A partition whose log end this node does not know is left out.
        let g = offsets("g", &[("t", 0, 10, 4000), ("other", 0, 1, 4000)]);
        assert_eq!(tracker.evaluate(&g, &ends, 4500).partitions.len(), 1);
        // A group gone: its windows go too.
        tracker.observe(&[], &ends);
        let lag = tracker.evaluate(&offsets("g", &[("t", 0, 10, 4000)]), &ends, 4500);
        assert!(lag.partitions[0].window.is_empty());
    }

    #[test]
    fn burrow_json_lists_bad_partitions_in_status_and_all_in_lag() {
        let tracker = Tracker::new(10);
        let ends = HashMap::from([(("t".to_string(), 0), 100), (("t".to_string(), 1), 50)]);
        tracker.observe(
            &[offsets("g", &[("t", 0, 10, 1000), ("t", 1, 50, 1000)])],
            &ends,
        );
        let lag = tracker.evaluate(
            &offsets("g", &[("t", 0, 10, 1000), ("t", 1, 50, 1000)]),
            &ends,
            60_000,
        );
        let status = lag.to_json("local", false);
        assert_eq!(status["status"], "ERR");
        assert_eq!(status["totallag"], 90);
        assert_eq!(status["partition_count"], 2);
        assert_eq!(status["partitions"].as_array().unwrap().len(), 1);
        assert_eq!(status["partitions"][0]["status"], "STOP");
        assert_eq!(status["maxlag"]["partition"], 0);
        let all = lag.to_json("local", true);
        assert_eq!(all["partitions"].as_array().unwrap().len(), 2);
        assert_eq!(all["partitions"][1]["status"], "OK");
        assert_eq!(all["partitions"][1]["end"]["offset"], 50);
    }
}
