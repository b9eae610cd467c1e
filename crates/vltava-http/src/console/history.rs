//! The console's short memory: rates and lag over the last few minutes.
//!
//! The broker keeps only running counters, so "messages in per second" and
//! "lag over time" need samples. Every [`SAMPLE_EVERY`] the sampler task
//! reads this node's partition counters (summed per topic) and every
//! group's total lag, and pushes one point into a ring of [`SAMPLES`] per
//! topic, per group and for the whole node. Memory is bounded: a ring is
//! fixed-size, series of topics and groups not seen in a sample are
//! dropped (deleted, or no longer hosted or coordinated here), and at most
//! [`MAX_SERIES`] topics and as many groups are kept (the rest have no
//! history, and the pages show a dash).
//!
//! The broker is read first, with no lock of ours held; the history's
//! mutex is taken only to push the computed points and, by the pages, to
//! copy one page's series out.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::watch;
use vltava_broker::stats::get;
use vltava_broker::Broker;

use crate::Node;

/// Points kept per series: with [`SAMPLE_EVERY`], five minutes.
pub const SAMPLES: usize = 60;
/// How often the sampler reads the counters.
pub const SAMPLE_EVERY: Duration = Duration::from_secs(5);
/// Topics (and, separately, groups) with a history at most: 20,000 topics
/// of 60 points of 16 bytes are under 20 MiB.
pub const MAX_SERIES: usize = 20_000;

/// Per-second rates over one sample interval.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Rates {
    pub bytes_in: f32,
    pub messages_in: f32,
    pub bytes_out: f32,
    pub messages_out: f32,
}

/// Running counters, as read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    pub bytes_in: u64,
    pub messages_in: u64,
    pub bytes_out: u64,
    pub messages_out: u64,
}

impl Counters {
    fn add(&mut self, o: &Counters) {
        self.bytes_in += o.bytes_in;
        self.messages_in += o.messages_in;
        self.bytes_out += o.bytes_out;
        self.messages_out += o.messages_out;
    }

    /// Rates from `earlier` to `self` over `secs`; a counter that went
    /// down (a partition moved away) counts as no traffic, not negative.
    fn rates_since(&self, earlier: &Counters, secs: f64) -> Rates {
        let per = |now: u64, then: u64| (now.saturating_sub(then) as f64 / secs) as f32;
        Rates {
            bytes_in: per(self.bytes_in, earlier.bytes_in),
            messages_in: per(self.messages_in, earlier.messages_in),
            bytes_out: per(self.bytes_out, earlier.bytes_out),
            messages_out: per(self.messages_out, earlier.messages_out),
        }
    }
}

#[derive(Default)]
struct TopicSeries {
    last: Counters,
    rates: VecDeque<Rates>,
}

#[derive(Default)]
struct State {
    last_at: Option<Instant>,
    node: TopicSeries,
    topics: HashMap<String, TopicSeries>,
    groups: HashMap<String, VecDeque<i64>>,
}

/// The sampled series. Cheap to share: the node holds one.
#[derive(Default)]
pub struct History {
    state: Mutex<State>,
}

fn push<T>(ring: &mut VecDeque<T>, v: T) {
    if ring.len() == SAMPLES {
        ring.pop_front();
    }
    ring.push_back(v);
}

impl History {
    /// Takes in one sample taken at `at`: counters per topic (this node's
    /// partitions of it) and total lag per group. The first sample of a
    /// series only sets its baseline.
    pub fn record(
        &self,
        at: Instant,
        topics: HashMap<String, Counters>,
        groups: Vec<(String, i64)>,
    ) {
        let mut node_total = Counters::default();
        for c in topics.values() {
            node_total.add(c);
        }
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let secs = s
            .last_at
            .map(|t| at.saturating_duration_since(t).as_secs_f64())
            .filter(|&d| d > 0.0);
        s.last_at = Some(at);
        if let Some(secs) = secs {
            let r = node_total.rates_since(&s.node.last, secs);
            push(&mut s.node.rates, r);
        }
        s.node.last = node_total;
        s.topics.retain(|name, _| topics.contains_key(name));
        for (name, counters) in topics {
            let len = s.topics.len();
            match s.topics.get_mut(&name) {
                Some(series) => {
                    if let Some(secs) = secs {
                        push(&mut series.rates, counters.rates_since(&series.last, secs));
                    }
                    series.last = counters;
                }
                None if len < MAX_SERIES => {
                    s.topics.insert(
                        name,
                        TopicSeries {
                            last: counters,
                            rates: VecDeque::with_capacity(SAMPLES),
                        },
                    );
                }
                None => {}
            }
        }
        let seen: std::collections::HashSet<&str> =
            groups.iter().map(|(g, _)| g.as_str()).collect();
        s.groups.retain(|g, _| seen.contains(g.as_str()));
        for (group, lag) in groups {
            let len = s.groups.len();
            match s.groups.get_mut(&group) {
                Some(ring) => push(ring, lag),
                None if len < MAX_SERIES => {
                    let mut ring = VecDeque::with_capacity(SAMPLES);
                    ring.push_back(lag);
                    s.groups.insert(group, ring);
                }
                None => {}
            }
        }
    }

    /// The node's rates, oldest first.
    pub fn node(&self) -> Vec<Rates> {
        let s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        s.node.rates.iter().copied().collect()
    }

    /// The rates of each of `topics` that has a history, oldest first.
    pub fn topics<'a>(
        &self,
        topics: impl IntoIterator<Item = &'a str>,
    ) -> HashMap<String, Vec<Rates>> {
        let s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        topics
            .into_iter()
            .filter_map(|t| {
                s.topics
                    .get(t)
                    .map(|series| (t.to_string(), series.rates.iter().copied().collect()))
            })
            .collect()
    }

    /// A group's total lag at each sample, oldest first.
    pub fn group(&self, group: &str) -> Vec<i64> {
        let s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        s.groups
            .get(group)
            .map(|r| r.iter().copied().collect())
            .unwrap_or_default()
    }

    /// How many topic and group series are kept (for tests).
    pub fn len(&self) -> (usize, usize) {
        let s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        (s.topics.len(), s.groups.len())
    }
}

/// Reads this node's counters per topic and every group's total lag.
async fn sample(broker: &Broker) -> (HashMap<String, Counters>, Vec<(String, i64)>) {
    let mut topics: HashMap<String, Counters> = HashMap::new();
    for p in broker.replicas.all() {
        let s = &p.stats;
        topics.entry(p.topic.clone()).or_default().add(&Counters {
            bytes_in: get(&s.bytes_in),
            messages_in: get(&s.messages_in),
            bytes_out: get(&s.bytes_out),
            messages_out: get(&s.messages_out),
        });
    }
    let groups = broker.groups.read(|c| c.group_offsets()).await;
    let ends = crate::metrics::log_ends(broker);
    let lags = groups
        .into_iter()
        .map(|g| {
            let lag = g
                .offsets
                .iter()
                .filter_map(|(t, p, offset, _)| {
                    ends.get(&(t.clone(), *p)).map(|end| (end - offset).max(0))
                })
                .sum();
            (g.group_id, lag)
        })
        .collect();
    (topics, lags)
}

/// Samples every [`SAMPLE_EVERY`] until `shutdown`, once the broker is set
/// (a sibling of the lag sampler, spawned by `serve`).
pub async fn run(node: Arc<Node>, mut shutdown: watch::Receiver<bool>) {
    loop {
        if let Some(broker) = node.broker().cloned() {
            let (topics, groups) = sample(&broker).await;
            node.history.record(Instant::now(), topics, groups);
        }
        tokio::select! {
            _ = tokio::time::sleep(SAMPLE_EVERY) => {}
            _ = shutdown.wait_for(|s| *s) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counters(messages: u64) -> Counters {
        Counters {
            bytes_in: messages * 100,
            messages_in: messages,
            ..Counters::default()
        }
    }

    #[test]
    fn rates_are_per_second_and_rings_are_bounded() {
        let h = History::default();
        let t0 = Instant::now();
        for i in 0..(SAMPLES as u64 + 10) {
            let topics = HashMap::from([("a".to_string(), counters(i * 50))]);
            h.record(
                t0 + Duration::from_secs(5 * i),
                topics,
                vec![("g".into(), i as i64)],
            );
        }
        let a = &h.topics(["a", "missing"])["a"];
        assert_eq!(a.len(), SAMPLES);
        assert_eq!(a[0].messages_in, 10.0);
        assert_eq!(a[0].bytes_in, 1000.0);
        assert_eq!(h.node().len(), SAMPLES);
        let g = h.group("g");
        assert_eq!(g.len(), SAMPLES);
        assert_eq!(*g.last().unwrap(), SAMPLES as i64 + 9);
    }

    #[test]
    fn deleted_topics_and_groups_are_dropped_and_a_reset_is_no_traffic() {
        let h = History::default();
        let t0 = Instant::now();
        h.record(
            t0,
            HashMap::from([("a".into(), counters(100)), ("b".into(), counters(1))]),
            vec![("g".into(), 1), ("h".into(), 2)],
        );
        h.record(
            t0 + Duration::from_secs(1),
            HashMap::from([("a".into(), counters(0))]),
            vec![("h".into(), 3)],
        );
        assert_eq!(h.len(), (1, 1));
        assert_eq!(h.topics(["a"])["a"][0].messages_in, 0.0);
        assert!(h.group("g").is_empty());
        assert_eq!(h.group("h"), vec![2, 3]);
    }
}
