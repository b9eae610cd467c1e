//! Counting and timing for the perf tools: totals, a one-second window for
//! progress lines, and an HDR histogram of latencies for the summary.

use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde_json::json;

/// Latencies are kept in microseconds; an hour is the most recorded
/// exactly, longer ones are clamped to it (a perf run that slow has other
/// problems).
const MAX_LATENCY_US: u64 = 3_600_000_000;

/// Decimal megabytes, as the rates are printed.
const MB: f64 = 1_000_000.0;

/// Records, bytes and latencies since some start.
#[derive(Debug, Clone)]
struct Counts {
    records: u64,
    bytes: u64,
    latencies: u64,
    latency_sum_us: u64,
    latency_max_us: u64,
}

impl Counts {
    fn new() -> Self {
        Counts {
            records: 0,
            bytes: 0,
            latencies: 0,
            latency_sum_us: 0,
            latency_max_us: 0,
        }
    }

    fn avg_latency_ms(&self) -> Option<f64> {
        (self.latencies > 0).then(|| self.latency_sum_us as f64 / self.latencies as f64 / 1000.0)
    }
}

/// What a perf run measured.
pub struct Stats {
    start: Instant,
    total: Counts,
    window: Counts,
    window_start: Instant,
    histogram: Histogram<u64>,
}

/// One second's numbers, for a progress line.
#[derive(Debug, Clone, PartialEq)]
pub struct Window {
    pub records: u64,
    pub records_per_sec: f64,
    pub mb_per_sec: f64,
    pub avg_latency_ms: Option<f64>,
    pub max_latency_ms: Option<f64>,
    /// Records since the start.
    pub total_records: u64,
}

/// The final numbers.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    pub records: u64,
    pub bytes: u64,
    pub elapsed: Duration,
    pub records_per_sec: f64,
    pub mb_per_sec: f64,
    pub latency: Option<Latency>,
}

/// Latency over the whole run, in milliseconds.
#[derive(Debug, Clone, PartialEq)]
pub struct Latency {
    pub count: u64,
    pub avg: f64,
    pub p50: f64,
    pub p95: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
}

fn rate(n: f64, elapsed: Duration) -> f64 {
    let secs = elapsed.as_secs_f64();
    if secs > 0.0 {
        n / secs
    } else {
        0.0
    }
}

impl Stats {
    pub fn new(start: Instant) -> Self {
        Stats {
            start,
            total: Counts::new(),
            window: Counts::new(),
            window_start: start,
            // 3 significant digits: within 0.1 % of the true value.
            histogram: Histogram::new_with_bounds(1, MAX_LATENCY_US, 3)
                .expect("fixed, valid histogram bounds"),
        }
    }

    /// `records` done, `bytes` of payload.
    pub fn add(&mut self, records: u64, bytes: u64) {
        self.total.records += records;
        self.total.bytes += bytes;
        self.window.records += records;
        self.window.bytes += bytes;
    }

    pub fn latency(&mut self, latency: Duration) {
        let us = (latency.as_micros() as u64).min(MAX_LATENCY_US);
        self.histogram.saturating_record(us);
        for c in [&mut self.total, &mut self.window] {
            c.latencies += 1;
            c.latency_sum_us += us;
            c.latency_max_us = c.latency_max_us.max(us);
        }
    }

    pub fn records(&self) -> u64 {
        self.total.records
    }

    pub fn elapsed(&self, now: Instant) -> Duration {
        now.saturating_duration_since(self.start)
    }

    /// When the current window has lasted a second.
    pub fn window_end(&self) -> Instant {
        self.window_start + Duration::from_secs(1)
    }

    /// Closes the window at `now` and starts the next one.
    pub fn take_window(&mut self, now: Instant) -> Window {
        let elapsed = now.saturating_duration_since(self.window_start);
        let w = std::mem::replace(&mut self.window, Counts::new());
        self.window_start = now;
        Window {
            records: w.records,
            records_per_sec: rate(w.records as f64, elapsed),
            mb_per_sec: rate(w.bytes as f64 / MB, elapsed),
            avg_latency_ms: w.avg_latency_ms(),
            max_latency_ms: (w.latencies > 0).then(|| w.latency_max_us as f64 / 1000.0),
            total_records: self.total.records,
        }
    }

    pub fn summary(&self, now: Instant) -> Summary {
        let elapsed = self.elapsed(now);
        let h = &self.histogram;
        let ms = |us: u64| us as f64 / 1000.0;
        let latency = self.total.avg_latency_ms().map(|avg| Latency {
            count: self.total.latencies,
            avg,
            p50: ms(h.value_at_quantile(0.50)),
            p95: ms(h.value_at_quantile(0.95)),
            p99: ms(h.value_at_quantile(0.99)),
            p999: ms(h.value_at_quantile(0.999)),
            max: ms(h.max()),
        });
        Summary {
            records: self.total.records,
            bytes: self.total.bytes,
            elapsed,
            records_per_sec: rate(self.total.records as f64, elapsed),
            mb_per_sec: rate(self.total.bytes as f64 / MB, elapsed),
            latency,
        }
    }
}

fn opt_ms(v: Option<f64>) -> String {
    v.map_or("-".to_string(), |v| format!("{v:.1} ms"))
}

impl Window {
    /// `verb` says what happened to the records: "sent", "consumed".
    pub fn line(&self, verb: &str) -> String {
        format!(
            "{} records {verb} ({} in the last second): {:.1} records/s, {:.2} MB/s, \
             latency avg {}, max {}",
            self.total_records,
            self.records,
            self.records_per_sec,
            self.mb_per_sec,
            opt_ms(self.avg_latency_ms),
            opt_ms(self.max_latency_ms),
        )
    }

    /// The shorter form a progress bar carries beside it.
    pub fn bar_message(&self) -> String {
        format!(
            "{:.0} rec/s, {:.2} MB/s, avg {}, max {}",
            self.records_per_sec,
            self.mb_per_sec,
            opt_ms(self.avg_latency_ms),
            opt_ms(self.max_latency_ms),
        )
    }
}

impl Summary {
    /// `verb` as for [`Window::line`]; `latency_kind` names what the
    /// latency spans.
    pub fn text(&self, verb: &str, latency_kind: &str) -> String {
        let mut out = format!(
            "{} records {verb} in {:.2} s: {:.1} records/s ({:.2} MB/s, {} bytes of payload)\n",
            self.records,
            self.elapsed.as_secs_f64(),
            self.records_per_sec,
            self.mb_per_sec,
            self.bytes,
        );
        match &self.latency {
            Some(l) => out.push_str(&format!(
                "latency ({latency_kind}, {} records): avg {:.2} ms, p50 {:.2} ms, \
                 p95 {:.2} ms, p99 {:.2} ms, p99.9 {:.2} ms, max {:.2} ms\n",
                l.count, l.avg, l.p50, l.p95, l.p99, l.p999, l.max
            )),
            None => out.push_str(&format!("latency ({latency_kind}): none measured\n")),
        }
        out
    }

    pub fn json(&self) -> serde_json::Value {
        json!({
            "records": self.records,
            "bytes": self.bytes,
            "elapsed_sec": self.elapsed.as_secs_f64(),
            "records_per_sec": self.records_per_sec,
            "mb_per_sec": self.mb_per_sec,
            "latency_ms": self.latency.as_ref().map(|l| json!({
                "count": l.count,
                "avg": l.avg,
                "p50": l.p50,
                "p95": l.p95,
                "p99": l.p99,
                "p999": l.p999,
                "max": l.max,
            })),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_and_summary() {
        let t0 = Instant::now();
        let mut s = Stats::new(t0);
        s.add(100, 10_000);
        for ms in 1..=100 {
            s.latency(Duration::from_millis(ms));
        }
        let w = s.take_window(t0 + Duration::from_secs(1));
        assert_eq!(w.records, 100);
        assert!((w.records_per_sec - 100.0).abs() < 1e-9);
        assert!((w.mb_per_sec - 0.01).abs() < 1e-9);
        assert_eq!(w.max_latency_ms, Some(100.0));
        assert!((w.avg_latency_ms.unwrap() - 50.5).abs() < 1e-9);
        assert!(w
            .line("sent")
            .starts_with("100 records sent (100 in the last second)"));

        // The next window starts empty; the totals go on.
        s.add(100, 10_000);
        let w = s.take_window(t0 + Duration::from_secs(2));
        assert_eq!((w.records, w.total_records), (100, 200));
        assert_eq!(w.avg_latency_ms, None);

        let sum = s.summary(t0 + Duration::from_secs(2));
        assert_eq!(sum.records, 200);
        assert!((sum.records_per_sec - 100.0).abs() < 1e-9);
        let l = sum.latency.clone().unwrap();
        assert_eq!(l.count, 100);
        // HDR values are within 0.1 % of the recorded ones.
        assert!((l.p50 - 50.0).abs() < 0.1, "{l:?}");
        assert!((l.p99 - 99.0).abs() < 0.1, "{l:?}");
        assert!(l.p50 <= l.p95 && l.p95 <= l.p99 && l.p99 <= l.p999 && l.p999 <= l.max);
        assert!((l.max - 100.0).abs() < 0.1);
        let j = sum.json();
        assert_eq!(j["records"], 200);
        assert_eq!(j["latency_ms"]["count"], 100);
    }

    #[test]
    fn no_latencies() {
        let t0 = Instant::now();
        let mut s = Stats::new(t0);
        s.add(5, 5);
        let sum = s.summary(t0);
        assert_eq!(sum.latency, None);
        assert_eq!(sum.records_per_sec, 0.0);
        assert!(sum.json()["latency_ms"].is_null());
        assert!(sum.text("sent", "x").contains("none measured"));
    }
}
