//! Connection limits, as Kafka's `ConnectionQuotas` applies them:
//!
//! - `max.connections.per.ip` (and `max.connections.per.ip.overrides`,
//!   `host:count` pairs): a connection over its address's limit is closed
//!   right after it is accepted, with a log line;
//! - `max.connections`: at the broker-wide limit the listeners stop
//!   accepting until a connection closes (the kernel's backlog holds the
//!   rest), except the inter-broker listener, which is exempt so the
//!   cluster keeps working when clients fill the broker;
//! - `max.connection.creation.rate` (broker-wide, again not on the
//!   inter-broker listener) and `listener.name.<l>.max.connection.creation.rate`
//!   (KIP-612): a listener over a rate waits out the throttle time before
//!   it takes up the connection and accepts the next. The rates are
//!   measured as client quotas are (`quota.window.num` samples of
//!   `quota.window.size.seconds`).
//!
//! The limits are read at each accept, so a dynamic change applies to the
//! next connection.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;
use vltava_quota::{throttle_time_ms, Rate, RateConfig};

/// Counts of open connections, broker-wide and per address, and the rates
/// at which connections are made.
#[derive(Default)]
pub struct ConnectionCounts {
    total: AtomicU32,
    per_ip: Mutex<HashMap<IpAddr, u32>>,
    closed: Notify,
    /// Connection creation rates: `None` broker-wide, `Some(listener)`
    /// per listener.
    rates: Mutex<HashMap<Option<String>, Rate>>,
}

/// The creation rate limits that apply to one new connection, in
/// connections a second; `None` where there is none.
#[derive(Clone, Copy, Debug, Default)]
pub struct CreationLimits {
    pub broker: Option<f64>,
    pub listener: Option<f64>,
}

impl CreationLimits {
    /// From the settings' values: Kafka's default (i32::MAX) means none.
    pub fn from_settings(broker: i32, listener: Option<i32>, exempt: bool) -> CreationLimits {
        let limit = |v: i32| (v < i32::MAX).then_some(f64::from(v.max(0)));
        CreationLimits {
            broker: if exempt { None } else { limit(broker) },
            listener: listener.and_then(limit),
        }
    }
}

/// A counted connection; dropping it uncounts it.
pub struct Admitted {
    counts: Arc<ConnectionCounts>,
    ip: IpAddr,
}

impl Drop for Admitted {
    fn drop(&mut self) {
        self.counts.total.fetch_sub(1, Ordering::Relaxed);
        let mut per_ip = self.counts.per_ip.lock().expect("connection counts");
        if let Some(n) = per_ip.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                per_ip.remove(&self.ip);
            }
        }
        drop(per_ip);
        self.counts.closed.notify_waiters();
    }
}

/// The limit for one address: its override, or `max.connections.per.ip`.
pub fn limit_for(ip: IpAddr, per_ip: i32, overrides: &str) -> u32 {
    overrides
        .split(',')
        .filter_map(|pair| pair.trim().rsplit_once(':'))
        .find(|(host, _)| {
            host.trim()
                .parse::<IpAddr>()
                .is_ok_and(|h| h == ip || h.to_canonical() == ip.to_canonical())
                || (host.trim() == "localhost" && ip.is_loopback())
        })
        .and_then(|(_, count)| count.trim().parse::<u32>().ok())
        .unwrap_or(per_ip.max(0) as u32)
}

impl ConnectionCounts {
    /// Waits while `max_connections` are open (unless `exempt`).
    pub async fn wait_for_room(&self, max_connections: i32, exempt: bool) {
        if exempt {
            return;
        }
        let max = max_connections.max(0) as u32;
        loop {
            let closed = self.closed.notified();
            tokio::pin!(closed);
            closed.as_mut().enable();
            if self.total.load(Ordering::Relaxed) < max {
                return;
            }
            closed.await;
        }
    }

    /// Counts a new connection from `ip`, or says why it is refused.
    pub fn admit(self: &Arc<Self>, ip: IpAddr, limit: u32) -> Result<Admitted, String> {
        let mut per_ip = self.per_ip.lock().expect("connection counts");
        let n = per_ip.entry(ip).or_insert(0);
        if *n >= limit {
            let open = *n;
            if open == 0 {
                per_ip.remove(&ip);
            }
            return Err(format!(
                "{ip} already has {open} connections, the limit for it (max.connections.per.ip / max.connections.per.ip.overrides)"
            ));
        }
        *n += 1;
        self.total.fetch_add(1, Ordering::Relaxed);
        Ok(Admitted {
            counts: self.clone(),
            ip,
        })
    }

    /// Counts a new connection on `listener` against the creation rates
    /// that apply; the ms to wait before taking it up (0 within them). A
    /// rate of 0 lets nothing through without a full window's wait.
    pub fn record_creation(
        &self,
        listener: &str,
        limits: CreationLimits,
        config: &RateConfig,
        now_ms: i64,
    ) -> i64 {
        let mut rates = self.rates.lock().unwrap_or_else(|e| e.into_inner());
        // The longest a listener waits: one whole measuring window.
        let cap = config.window_ms * config.samples as i64;
        let mut throttle = 0;
        for (key, limit) in [
            (None, limits.broker),
            (Some(listener.to_string()), limits.listener),
        ] {
            let Some(limit) = limit else { continue };
            let rate = rates.entry(key).or_default();
            rate.record(config, 1.0, now_ms);
            let observed = rate.measure(config, now_ms);
            if observed > limit {
                let t = if limit <= 0.0 {
                    cap
                } else {
                    throttle_time_ms(observed, limit, rate.window_size_ms(config, now_ms))
                };
                throttle = throttle.max(t.min(cap));
            }
        }
        throttle
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_name_hosts_and_default_to_the_per_ip_limit() {
        let ip: IpAddr = "10.0.0.7".parse().unwrap();
        assert_eq!(limit_for(ip, 5, ""), 5);
        assert_eq!(limit_for(ip, 5, "10.0.0.8:1, 10.0.0.7:2"), 2);
        assert_eq!(limit_for("127.0.0.1".parse().unwrap(), 5, "localhost:9"), 9);
        assert_eq!(limit_for(ip, -1, ""), 0);
    }

    #[test]
    fn an_address_over_its_limit_is_refused_until_one_closes() {
        let counts = Arc::new(ConnectionCounts::default());
        let ip: IpAddr = "10.0.0.7".parse().unwrap();
        let a = counts.admit(ip, 2).unwrap();
        let _b = counts.admit(ip, 2).unwrap();
        assert!(counts.admit(ip, 2).is_err());
        // Another address is counted apart.
        let _c = counts.admit("10.0.0.8".parse().unwrap(), 2).unwrap();
        drop(a);
        assert!(counts.admit(ip, 2).is_ok());
    }

    #[test]
    fn creation_rates_throttle_past_the_limit_and_exempt_the_inter_broker_listener() {
        let counts = ConnectionCounts::default();
        let config = RateConfig {
            samples: 2,
            window_ms: 1000,
        };
        // 2 a second, over two one-second samples: a fresh rate is
        // measured over one whole sample, so two fit at once, and each
        // one more waits longer, up to the whole window.
        let limits = CreationLimits::from_settings(2, None, false);
        let waits: Vec<i64> = (0..8)
            .map(|_| counts.record_creation("EXTERNAL", limits, &config, 10_000))
            .collect();
        assert_eq!(&waits[..2], &[0, 0], "{waits:?}");
        assert!(waits[2..].iter().all(|&w| w > 0), "{waits:?}");
        assert!(waits.windows(2).all(|w| w[0] <= w[1]), "{waits:?}");
        assert!(waits.iter().all(|&w| w <= 2000), "{waits:?}");
        // The inter-broker listener is not held to the broker-wide rate.
        let exempt = CreationLimits::from_settings(2, None, true);
        assert_eq!(
            counts.record_creation("INTERNAL", exempt, &config, 10_000),
            0
        );
        // A listener's own rate is counted apart from the others'.
        let own = CreationLimits::from_settings(i32::MAX, Some(1), false);
        assert_eq!(counts.record_creation("OTHER", own, &config, 10_000), 0);
        assert!(counts.record_creation("OTHER", own, &config, 10_000) > 0);
        // No limits: never throttled, nothing measured.
        let none = CreationLimits::from_settings(i32::MAX, None, false);
        assert_eq!(counts.record_creation("X", none, &config, 10_000), 0);
    }

    #[tokio::test]
    async fn the_broker_wide_limit_waits_for_a_close() {
        let counts = Arc::new(ConnectionCounts::default());
        let ip: IpAddr = "10.0.0.7".parse().unwrap();
        let a = counts.admit(ip, 10).unwrap();
        let waiting = {
            let counts = counts.clone();
            tokio::spawn(async move { counts.wait_for_room(1, false).await })
        };
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert!(
            !waiting.is_finished(),
            "one open connection fills max.connections=1"
        );
        // The inter-broker listener does not wait.
        counts.wait_for_room(1, true).await;
        drop(a);
        tokio::time::timeout(std::time::Duration::from_secs(2), waiting)
            .await
            .expect("room after a close")
            .unwrap();
    }
}
