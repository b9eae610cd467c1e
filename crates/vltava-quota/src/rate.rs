//! A windowed rate as Kafka's quotas measure it: `Rate` over a
//! `WindowedSum` (`SampledStat`).
//!
//! Values are summed into samples, each covering `window_ms`; at most
//! `samples` of them are kept in a ring. A sample starts on the grid of
//! the one before it (a new sample after a pause starts at the latest
//! multiple of `window_ms` after the previous sample's end, not at the
//! time of the value), so windows stay aligned.
//!
//! When measured, samples whose start is `samples * window_ms` or more in
//! the past are cleared and marked inactive. The rate is the sum of the
//! samples divided by the time since the oldest active sample started,
//! but never less than `samples - 1` whole windows: a fresh sensor, or one
//! idle long enough to be cleared, is treated as if the missing windows
//! had been recorded empty, so one request does not read as a spike.

/// The sampling of a rate: Kafka's `quota.window.num` and
/// `quota.window.size.seconds`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateConfig {
    /// Samples kept (`quota.window.num`, default 11: ten whole windows and
    /// the current one).
    pub samples: usize,
    /// Length of a sample in ms (`quota.window.size.seconds` × 1000,
    /// default 1000).
    pub window_ms: i64,
}

impl Default for RateConfig {
    fn default() -> RateConfig {
        RateConfig {
            samples: 11,
            window_ms: 1000,
        }
    }
}

#[derive(Clone, Debug)]
struct Sample {
    value: f64,
    start_ms: i64,
    /// Cleared samples stay in the ring but are not "oldest" candidates
    /// (except in the first slot, see `oldest_start`) until recorded again.
    active: bool,
}

impl Sample {
    fn new(now_ms: i64) -> Sample {
        Sample {
            value: 0.0,
            start_ms: now_ms,
            active: true,
        }
    }

    fn clear(&mut self, now_ms: i64) {
        self.value = 0.0;
        self.start_ms = now_ms;
        self.active = false;
    }
}

/// A rate per second of the recorded values.
#[derive(Clone, Debug, Default)]
pub struct Rate {
    samples: Vec<Sample>,
    current: usize,
}

impl Rate {
    pub fn new() -> Rate {
        Rate::default()
    }

    /// Adds `value` at `now_ms`, starting a new sample first when the
    /// current one has covered its window.
    pub fn record(&mut self, config: &RateConfig, value: f64, now_ms: i64) {
        let window = config.window_ms.max(1);
        if self.samples.is_empty() {
            self.samples.push(Sample::new(now_ms));
            self.current = 0;
        }
        if now_ms - self.samples[self.current].start_ms >= window {
            let previous_end = self.samples[self.current].start_ms + window;
            self.current = (self.current + 1) % config.samples.max(1);
            if self.current >= self.samples.len() {
                self.samples.push(Sample::new(now_ms));
                self.current = self.samples.len() - 1;
            } else {
                self.samples[self.current].clear(now_ms);
            }
            // Rust's `%` truncates like Java's, so this is Kafka's grid.
            let start = now_ms - ((now_ms - previous_end) % window);
            let sample = &mut self.samples[self.current];
            sample.start_ms = start;
            sample.active = true;
        }
        let sample = &mut self.samples[self.current];
        sample.value += value;
        sample.active = true;
    }

    fn purge(&mut self, config: &RateConfig, now_ms: i64) {
        let expire_age = config.samples as i64 * config.window_ms;
        for s in &mut self.samples {
            if now_ms - s.start_ms >= expire_age {
                s.clear(now_ms);
            }
        }
    }

    /// Start of the oldest sample, as Kafka picks it: the first slot, or
    /// any active sample that started earlier.
    fn oldest_start(&mut self, now_ms: i64) -> i64 {
        if self.samples.is_empty() {
            self.samples.push(Sample::new(now_ms));
            self.current = 0;
        }
        let mut oldest = &self.samples[0];
        for s in &self.samples[1..] {
            if s.start_ms < oldest.start_ms && s.active {
                oldest = s;
            }
        }
        oldest.start_ms
    }

    /// The sum of the unexpired samples at `now_ms`.
    pub fn total(&mut self, config: &RateConfig, now_ms: i64) -> f64 {
        self.purge(config, now_ms);
        self.samples.iter().map(|s| s.value).sum()
    }

    /// The time in ms the rate at `now_ms` divides by (Kafka's
    /// `Rate.windowSize`): since the oldest sample started, at least
    /// `samples - 1` whole windows.
    pub fn window_size_ms(&mut self, config: &RateConfig, now_ms: i64) -> i64 {
        self.purge(config, now_ms);
        let window = config.window_ms.max(1);
        let mut elapsed = now_ms - self.oldest_start(now_ms);
        let full_windows = elapsed / window;
        let min_full_windows = config.samples as i64 - 1;
        if full_windows < min_full_windows {
            elapsed += (min_full_windows - full_windows) * window;
        }
        elapsed
    }

    /// The rate per second at `now_ms`.
    pub fn measure(&mut self, config: &RateConfig, now_ms: i64) -> f64 {
        let total = self.total(config, now_ms);
        total / (self.window_size_ms(config, now_ms) as f64 / 1000.0)
    }

    /// Number of sample slots in use (at most `config.samples`).
    pub fn sample_slots(&self) -> usize {
        self.samples.len()
    }
}
