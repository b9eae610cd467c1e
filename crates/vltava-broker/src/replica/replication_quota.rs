//! Replication throttles, as Kafka applies them while partitions move
//! (`kafka-reassign-partitions --throttle`): on each broker, a leader-side
//! and a follower-side byte rate (`leader.replication.throttled.rate`,
//! `follower.replication.throttled.rate`, per broker and dynamic), applied
//! only to the replicas a topic names in `leader.replication.throttled.replicas`
//! / `follower.replication.throttled.replicas` (`partition:broker` entries
//! naming this broker, or `*`), and only while the fetching replica is
//! outside the ISR: a replica catching up is slowed, one in sync never is.
//!
//! Once a side's measured rate is over its bound, the leader answers a
//! throttled follower's partitions without records and the follower leaves
//! its throttled partitions out of its fetches, until the rate falls back;
//! the bytes of throttled partitions that do move are recorded. The rate
//! is `vltava_quota::Rate`, Kafka's windowed rate
//! (`replication.quota.window.num` samples of
//! `replication.quota.window.size.seconds`), on the injected clock.

use std::collections::BTreeSet;
use std::sync::Mutex;

use vltava_quota::{Rate, RateConfig};

/// Which partitions of a topic are throttled on this broker.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum ThrottledReplicas {
    #[default]
    None,
    /// `*`: every replica of the topic.
    All,
    Partitions(BTreeSet<i32>),
}

impl ThrottledReplicas {
    /// From a `*.replication.throttled.replicas` list (validated when it
    /// was set): `*`, or `partition:broker` entries, of which those naming
    /// `broker` count.
    pub fn parse(list: &[String], broker: i32) -> ThrottledReplicas {
        if list.iter().any(|e| e.trim() == "*") {
            return ThrottledReplicas::All;
        }
        let partitions: BTreeSet<i32> = list
            .iter()
            .filter_map(|entry| {
                let (partition, id) = entry.trim().split_once(':')?;
                let id: i32 = id.trim().parse().ok()?;
                (id == broker).then(|| partition.trim().parse().ok())?
            })
            .collect();
        if partitions.is_empty() {
            ThrottledReplicas::None
        } else {
            ThrottledReplicas::Partitions(partitions)
        }
    }

    pub fn contains(&self, partition: i32) -> bool {
        match self {
            ThrottledReplicas::None => false,
            ThrottledReplicas::All => true,
            ThrottledReplicas::Partitions(p) => p.contains(&partition),
        }
    }
}

/// One side's byte rate (the leader's or the follower's).
#[derive(Debug)]
pub struct ReplicationQuota {
    rate: Mutex<Rate>,
}

impl Default for ReplicationQuota {
    fn default() -> Self {
        ReplicationQuota {
            rate: Mutex::new(Rate::new()),
        }
    }
}

impl ReplicationQuota {
    /// Counts `bytes` of throttled partitions moved at `now_ms`.
    pub fn record(&self, config: &RateConfig, bytes: usize, now_ms: i64) {
        if bytes > 0 {
            self.rate.lock().unwrap_or_else(|e| e.into_inner()).record(
                config,
                bytes as f64,
                now_ms,
            );
        }
    }

    /// Whether the measured rate is over `bound` bytes/s (never for a
    /// bound of i64::MAX, the default: no throttle).
    pub fn exceeded(&self, config: &RateConfig, bound: i64, now_ms: i64) -> bool {
        if bound == i64::MAX {
            return false;
        }
        let rate = self
            .rate
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .measure(config, now_ms);
        rate > bound as f64
    }
}

impl ReplicationQuota {
    /// The measured rate of throttled bytes, in bytes a second, at
    /// `now_ms` (Kafka's `byte-rate` of the LeaderReplication and
    /// FollowerReplication quotas, for the metrics).
    pub fn rate(&self, config: &RateConfig, now_ms: i64) -> f64 {
        self.rate
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .measure(config, now_ms)
    }
}

/// The sampling `replication.quota.window.*` give.
pub fn rate_config(config: &vltava_config::BrokerConfig) -> RateConfig {
    RateConfig {
        samples: config.replication_quota_window_num().max(1) as usize,
        window_ms: i64::from(config.replication_quota_window_size_seconds().max(1)) * 1000,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(entries: &[&str]) -> Vec<String> {
        entries.iter().map(|e| e.to_string()).collect()
    }

    #[test]
    fn throttled_replicas_name_this_broker_or_all() {
        assert_eq!(ThrottledReplicas::parse(&[], 1), ThrottledReplicas::None);
        let all = ThrottledReplicas::parse(&list(&["*"]), 1);
        assert!(all.contains(0) && all.contains(7));
        let some = ThrottledReplicas::parse(&list(&["0:1", "1:2", " 2 : 1 ", "3:3"]), 1);
        assert_eq!(some, ThrottledReplicas::Partitions(BTreeSet::from([0, 2])));
        assert!(some.contains(2) && !some.contains(1) && !some.contains(3));
        assert_eq!(
            ThrottledReplicas::parse(&list(&["0:2"]), 1),
            ThrottledReplicas::None
        );
    }

    #[test]
    fn the_rate_is_over_its_bound_until_the_window_moves_on() {
        let config = RateConfig {
            samples: 3,
            window_ms: 1000,
        };
        let quota = ReplicationQuota::default();
        assert!(!quota.exceeded(&config, 1000, 0));
        // 5,000 bytes in the first second: 2,500/s over the two-window
        // minimum, above a bound of 1,000/s.
        quota.record(&config, 5000, 100);
        assert!(quota.exceeded(&config, 1000, 500));
        assert!(
            !quota.exceeded(&config, i64::MAX, 500),
            "the default bound never throttles"
        );
        assert!(!quota.exceeded(&config, 10_000, 500));
        // Once the samples age out, it is under again.
        assert!(!quota.exceeded(&config, 1000, 10_000));
    }
}
