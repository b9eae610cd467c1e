//! Counters the request paths bump, read by the HTTP listener's `/metrics`.
//!
//! Only what cannot be read from existing state at scrape time is counted
//! here (requests, bytes, latencies, connections, waiters); log sizes,
//! offsets, ISRs and group state are read when scraped. Every update is a
//! relaxed atomic add on memory allocated once: no lock, no allocation, no
//! map lookup on the hot path. Per-topic figures are kept per partition
//! (each `Partition` owns a `PartitionStats`, which the handlers already
//! hold) and summed when scraped, so a partition moved off this broker
//! takes its counts with it, as a counter reset Prometheus' `rate()` copes
//! with.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};
use std::time::Duration;

/// Upper bounds (seconds) of the request-latency histogram buckets; one
/// more bucket counts what is above the last.
pub const LATENCY_BUCKETS: [f64; 14] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

/// API keys below this have their own slot (Kafka's keys are below 100).
pub const API_SLOTS: usize = 128;

/// Per API: requests handled, and how long they took, in total and split
/// the way Kafka's RequestMetrics split it (as far as a connection served
/// by one task, with no request queue between a network thread and a
/// handler pool, has the same phases).
#[derive(Default)]
pub struct ApiStats {
    /// Requests that reached a handler.
    pub requests: AtomicU64,
    /// Requests whose connection was closed instead of answered (bad
    /// version, undecodable body, a response that could not be encoded).
    pub failed: AtomicU64,
    /// From the frame being taken up to the response written (TotalTimeMs).
    total: LatencyHistogram,
    /// Decoding, the handler's own work (the time its future was being
    /// polled) and encoding (LocalTimeMs).
    local: LatencyHistogram,
    /// The handler waiting on something else: acks=all for the followers,
    /// a fetch's long poll, the controller or another broker (RemoteTimeMs).
    remote: LatencyHistogram,
    /// The answer held back for an old client over its quota
    /// (ThrottleTimeMs); 0 for everyone else.
    throttle: LatencyHistogram,
    /// Writing the response to the socket (ResponseSendTimeMs).
    response_send: LatencyHistogram,
}

/// One request's time, by phase (they add up to its total).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct RequestPhases {
    pub local: Duration,
    pub remote: Duration,
    pub throttle: Duration,
    pub response_send: Duration,
}

/// Non-cumulative counts per bucket of `LATENCY_BUCKETS` (+ overflow) and
/// the sum, all atomics.
#[derive(Default)]
struct LatencyHistogram {
    buckets: [AtomicU64; LATENCY_BUCKETS.len() + 1],
    sum_nanos: AtomicU64,
}

/// A latency histogram read out: cumulative bucket counts (as Prometheus
/// wants them), count and sum in seconds.
#[derive(Clone, Debug, PartialEq)]
pub struct Histogram {
    pub buckets: Vec<(f64, u64)>,
    pub count: u64,
    pub sum_seconds: f64,
}

impl LatencyHistogram {
    fn observe(&self, elapsed: Duration) {
        let seconds = elapsed.as_secs_f64();
        let slot = LATENCY_BUCKETS
            .iter()
            .position(|&upper| seconds <= upper)
            .unwrap_or(LATENCY_BUCKETS.len());
        self.buckets[slot].fetch_add(1, Relaxed);
        self.sum_nanos.fetch_add(
            u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX),
            Relaxed,
        );
    }

    /// Buckets are read one by one, so a scrape racing requests may be off
    /// by those requests, never inconsistent within itself: the count is
    /// the last cumulative bucket.
    fn read(&self) -> Histogram {
        let mut cumulative = 0;
        let mut buckets = Vec::with_capacity(LATENCY_BUCKETS.len() + 1);
        for (i, upper) in LATENCY_BUCKETS
            .iter()
            .copied()
            .chain([f64::INFINITY])
            .enumerate()
        {
            cumulative += self.buckets[i].load(Relaxed);
            buckets.push((upper, cumulative));
        }
        Histogram {
            buckets,
            count: cumulative,
            sum_seconds: self.sum_nanos.load(Relaxed) as f64 / 1e9,
        }
    }
}

impl ApiStats {
    /// A request's total time.
    pub fn observe(&self, elapsed: Duration) {
        self.total.observe(elapsed);
    }

    /// A request's time split by phase.
    pub fn observe_phases(&self, phases: RequestPhases) {
        self.local.observe(phases.local);
        self.remote.observe(phases.remote);
        self.throttle.observe(phases.throttle);
        self.response_send.observe(phases.response_send);
    }

    /// The total-time histogram as of now.
    pub fn histogram(&self) -> Histogram {
        self.total.read()
    }

    /// The phases' histograms as of now: local, remote, throttle, response send.
    pub fn phase_histograms(&self) -> [Histogram; 4] {
        [
            self.local.read(),
            self.remote.read(),
            self.throttle.read(),
            self.response_send.read(),
        ]
    }
}

/// The broker-wide counters.
pub struct BrokerStats {
    apis: Box<[ApiStats]>,
    /// Client connections open now / accepted since start.
    pub connections_open: AtomicI64,
    pub connections_accepted: AtomicU64,
    /// Produce requests with acks=all waiting for the high watermark
    /// (Kafka's produce purgatory).
    pub produce_waiting: AtomicI64,
    /// Fetches waiting for data in their long poll (the fetch purgatory).
    pub fetch_waiting: AtomicI64,
    /// SASL exchanges that succeeded / failed (Kafka's
    /// successful-authentication-total and failed-authentication-total).
    pub sasl_authentications: AtomicU64,
    pub sasl_failed_authentications: AtomicU64,
    /// The log cleaner: passes that cleaned a log, their bytes read and
    /// written and records removed, the last pass's duration in
    /// microseconds and when a pass last ended (ms since the epoch, 0:
    /// never).
    pub cleaner_passes: AtomicU64,
    pub cleaner_bytes_read: AtomicU64,
    pub cleaner_bytes_written: AtomicU64,
    pub cleaner_records_removed: AtomicU64,
    pub cleaner_last_pass_micros: AtomicU64,
    pub cleaner_last_run_ms: AtomicI64,
    /// Segments deleted by time/size retention (and the log start moving).
    pub retention_segments_deleted: AtomicU64,
}

impl Default for BrokerStats {
    fn default() -> Self {
        BrokerStats {
            apis: (0..API_SLOTS).map(|_| ApiStats::default()).collect(),
            connections_open: AtomicI64::new(0),
            connections_accepted: AtomicU64::new(0),
            produce_waiting: AtomicI64::new(0),
            fetch_waiting: AtomicI64::new(0),
            sasl_authentications: AtomicU64::new(0),
            sasl_failed_authentications: AtomicU64::new(0),
            cleaner_passes: AtomicU64::new(0),
            cleaner_bytes_read: AtomicU64::new(0),
            cleaner_bytes_written: AtomicU64::new(0),
            cleaner_records_removed: AtomicU64::new(0),
            cleaner_last_pass_micros: AtomicU64::new(0),
            cleaner_last_run_ms: AtomicI64::new(0),
            retention_segments_deleted: AtomicU64::new(0),
        }
    }
}

impl BrokerStats {
    /// The slot of an API key; keys outside the table share the last slot
    /// (none exist today: the connection layer refuses unknown keys).
    pub fn api(&self, key: i16) -> &ApiStats {
        let slot = usize::try_from(key).unwrap_or(API_SLOTS - 1);
        &self.apis[slot.min(API_SLOTS - 1)]
    }

    /// Counts a gauge up for as long as the returned guard lives.
    pub fn waiting(gauge: &AtomicI64) -> Waiting<'_> {
        gauge.fetch_add(1, Relaxed);
        Waiting(gauge)
    }
}

/// Holds a gauge one up (see `BrokerStats::waiting`); the decrement runs
/// however the wait ends, a dropped future included.
pub struct Waiting<'a>(&'a AtomicI64);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Relaxed);
    }
}

/// One partition's traffic on this broker, summed per topic when scraped.
/// Named after Kafka's BrokerTopicMetrics.
#[derive(Default)]
pub struct PartitionStats {
    /// Produced to this partition as leader (accepted appends).
    pub bytes_in: AtomicU64,
    pub messages_in: AtomicU64,
    /// Produce requests for this partition, and those refused.
    pub produce_requests: AtomicU64,
    pub failed_produce_requests: AtomicU64,
    /// Sent to consumers.
    pub bytes_out: AtomicU64,
    pub messages_out: AtomicU64,
    /// Consumer fetches of this partition, and those answered with an error.
    pub fetch_requests: AtomicU64,
    pub failed_fetch_requests: AtomicU64,
    /// Appended as a follower / sent to followers.
    pub replication_bytes_in: AtomicU64,
    pub replication_bytes_out: AtomicU64,
    /// Committed ISR changes while this broker led the partition.
    pub isr_shrinks: AtomicU64,
    pub isr_expands: AtomicU64,
}

/// Adds `n` to a counter.
#[inline]
pub fn add(counter: &AtomicU64, n: u64) {
    counter.fetch_add(n, Relaxed);
}

/// Reads a counter.
pub fn get(counter: &AtomicU64) -> u64 {
    counter.load(Relaxed)
}

/// Record count of the v2 batches in `records`, from their headers
/// (last offset delta + 1 each); a torn tail counts as nothing.
pub fn record_count(records: &[u8]) -> u64 {
    // Batch layout: base offset (8), length (4), ..., last offset delta at 23.
    const LENGTH_AT: usize = 8;
    const LAST_DELTA_AT: usize = 23;
    let mut at = 0usize;
    let mut count = 0u64;
    while let Some(header) = records.get(at..at + LAST_DELTA_AT + 4) {
        let length = i32::from_be_bytes(
            header[LENGTH_AT..LENGTH_AT + 4]
                .try_into()
                .unwrap_or([0; 4]),
        );
        let delta = i32::from_be_bytes(
            header[LAST_DELTA_AT..LAST_DELTA_AT + 4]
                .try_into()
                .unwrap_or([0; 4]),
        );
        let Ok(length) = usize::try_from(length) else {
            break;
        };
        let end = at + LENGTH_AT + 4 + length;
        if length == 0 || end > records.len() {
            break;
        }
        count += u64::try_from(delta).map_or(0, |d| d + 1);
        at = end;
    }
    count
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_cumulative_and_count_overflow() {
        let s = ApiStats::default();
        s.observe(Duration::from_micros(50)); // first bucket
        s.observe(Duration::from_millis(3)); // <= 5 ms
        s.observe(Duration::from_secs(10)); // above the last bound
        let h = s.histogram();
        assert_eq!(h.count, 3);
        assert_eq!(h.buckets[0], (0.0001, 1));
        let at = |bound: f64| h.buckets.iter().find(|(b, _)| *b == bound).unwrap().1;
        assert_eq!(at(0.0025), 1);
        assert_eq!(at(0.005), 2);
        assert_eq!(at(5.0), 2);
        assert_eq!(h.buckets.last(), Some(&(f64::INFINITY, 3)));
        assert!((h.sum_seconds - 10.00305).abs() < 1e-9);
    }

    #[test]
    fn phases_are_kept_apart() {
        let s = ApiStats::default();
        s.observe_phases(RequestPhases {
            local: Duration::from_micros(200),
            remote: Duration::from_millis(300),
            throttle: Duration::ZERO,
            response_send: Duration::from_micros(50),
        });
        let [local, remote, throttle, send] = s.phase_histograms();
        for h in [&local, &remote, &throttle, &send] {
            assert_eq!(h.count, 1);
        }
        assert!((remote.sum_seconds - 0.3).abs() < 1e-9);
        assert_eq!(throttle.sum_seconds, 0.0);
        assert_eq!(throttle.buckets[0], (0.0001, 1));
        assert_eq!(send.buckets[0], (0.0001, 1));
        assert_eq!(local.buckets[0], (0.0001, 0));
        assert_eq!(s.histogram().count, 0, "the total is observed on its own");
    }

    #[test]
    fn waiting_guard_counts_down_when_dropped() {
        let stats = BrokerStats::default();
        {
            let _a = BrokerStats::waiting(&stats.produce_waiting);
            let _b = BrokerStats::waiting(&stats.produce_waiting);
            assert_eq!(stats.produce_waiting.load(Relaxed), 2);
        }
        assert_eq!(stats.produce_waiting.load(Relaxed), 0);
    }

    #[test]
    fn record_count_reads_batch_headers() {
        let batch = |records: i32, body: usize| {
            let mut b = vec![0u8; 61 + body];
            let length = (b.len() - 12) as i32;
            b[8..12].copy_from_slice(&length.to_be_bytes());
            b[23..27].copy_from_slice(&(records - 1).to_be_bytes());
            b
        };
        let mut two = batch(3, 10);
        two.extend(batch(5, 0));
        assert_eq!(record_count(&two), 8);
        // A torn second batch is not counted.
        let torn = &two[..two.len() - 1];
        assert_eq!(record_count(torn), 3);
        assert_eq!(record_count(&[]), 0);
    }
}
