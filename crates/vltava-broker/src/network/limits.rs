//! Connection limits, as Kafka's `ConnectionQuotas` applies them:
//!
//! - `max.connections.per.ip` (and `max.connections.per.ip.overrides`,
//!   `host:count` pairs): a connection over its address's limit is closed
//!   right after it is accepted, with a log line;
//! - `max.connections`: at the broker-wide limit the listeners stop
//!   accepting until a connection closes (the kernel's backlog holds the
//!   rest), except the inter-broker listener, which is exempt so the
//!   cluster keeps working when clients fill the broker.
//!
//! The limits are read at each accept, so a dynamic change applies to the
//! next connection.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

/// Counts of open connections, broker-wide and per address.
#[derive(Default)]
pub struct ConnectionCounts {
    total: AtomicU32,
    per_ip: Mutex<HashMap<IpAddr, u32>>,
    closed: Notify,
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
