//! Kafka's `TokenBucket` stat, which the controller mutation quota
//! (KIP-599) measures with instead of a windowed rate: credits refill at
//! the quota's rate up to a burst of the quota over the whole window
//! (`quota.window.num` × `quota.window.size.seconds`), every partition
//! created or deleted takes one, and the quota is violated while the
//! credits are below zero. So a burst of up to the window's worth goes
//! through at once, and the mutation that overdraws it still does: only
//! the next one waits.

use crate::rate::RateConfig;

#[derive(Clone, Debug)]
pub struct TokenBucket {
    tokens: f64,
    last_ms: i64,
}

impl TokenBucket {
    /// A full bucket at `now_ms` (Kafka's starts empty at time 0, which
    /// its first refill fills).
    pub fn new(quota: f64, config: &RateConfig, now_ms: i64) -> TokenBucket {
        TokenBucket {
            tokens: burst(quota, config),
            last_ms: now_ms,
        }
    }

    fn refill(&mut self, quota: f64, config: &RateConfig, now_ms: i64) {
        let elapsed_s = (now_ms - self.last_ms).max(0) as f64 / 1000.0;
        self.tokens = (self.tokens + quota * elapsed_s).min(burst(quota, config));
        self.last_ms = now_ms.max(self.last_ms);
    }

    /// The credits at `now_ms` (negative: overdrawn).
    pub fn credits(&mut self, quota: f64, config: &RateConfig, now_ms: i64) -> f64 {
        self.refill(quota, config, now_ms);
        self.tokens
    }

    /// Takes `value` credits.
    pub fn record(&mut self, value: f64, quota: f64, config: &RateConfig, now_ms: i64) {
        self.refill(quota, config, now_ms);
        self.tokens = (self.tokens - value).min(burst(quota, config));
    }

    /// How long until the credits are back at zero: Kafka's throttle time
    /// for the mutation quota, `round(-credits / quota × 1000)`; 0 when
    /// not overdrawn.
    pub fn throttle_ms(&mut self, quota: f64, config: &RateConfig, now_ms: i64) -> i64 {
        let credits = self.credits(quota, config, now_ms);
        if credits >= 0.0 || quota <= 0.0 {
            return 0;
        }
        (-credits / quota * 1000.0 + 0.5).floor() as i64
    }
}

fn burst(quota: f64, config: &RateConfig) -> f64 {
    config.samples as f64 * (config.window_ms as f64 / 1000.0) * quota
}
