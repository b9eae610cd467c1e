//! Client quotas in force (Kafka's `ClientQuotaManager`s): the produce and
//! fetch byte rates and the request percentage (thread time) of each user /
//! client-id, and the connection creation rate of each IP. The rules and the measuring are `vltava_quota`'s
//! state machine; this is where the broker feeds it the metadata image's
//! quotas, the bytes of each request and the time.
//!
//! One `QuotaManager` is shared by every connection behind a std mutex,
//! held only for the arithmetic of one record, never across I/O or an
//! await. Until a quota has been configured the mutex is not taken at all.

use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard};

use vltava_metadata::image::ClientQuotaImage;
use vltava_metadata::MetadataImage;
use vltava_quota::{
    ClientQuotaType, ConnectionDecision, MetricTags, QuotaConfig, QuotaManager, RateConfig,
};

use crate::clock::Clock;

/// How often idle sensors are dropped (Kafka expires them after an hour
/// without a value; checking each minute keeps that within a minute).
const EXPIRY_CHECK_MS: i64 = 60_000;

pub struct ClientQuotas {
    rate: RateConfig,
    /// Throttled answers and their throttle time, per quota type
    /// (produce, fetch, request, connection, mutation), for the metrics.
    throttled: [AtomicU64; 5],
    throttle_ms: [AtomicU64; 5],
    /// Set once the image has held any quota: from then on every request
    /// is measured, as Kafka measures a quota type once it was enabled.
    active: AtomicBool,
    clock: Clock,
    state: Mutex<State>,
}

struct State {
    manager: QuotaManager,
    /// The image's quotas the manager holds; compared by pointer with the
    /// current image's to see a change.
    applied: Arc<ClientQuotaImage>,
    next_expiry_ms: i64,
}

/// Who a request is measured as: the principal's name (without `User:`)
/// and the client id, as Kafka's quota entities name them.
pub struct QuotaClient<'a> {
    pub user: &'a str,
    pub client_id: &'a str,
}

impl ClientQuotas {
    /// `quota.window.num` samples of `quota.window.size.seconds`.
    pub fn new(window_num: i32, window_size_seconds: i32, clock: Clock) -> ClientQuotas {
        let config = QuotaConfig {
            rate: RateConfig {
                samples: window_num.max(1) as usize,
                window_ms: i64::from(window_size_seconds.max(1)) * 1000,
            },
            ..QuotaConfig::default()
        };
        ClientQuotas {
            rate: config.rate,
            throttled: Default::default(),
            throttle_ms: Default::default(),
            active: AtomicBool::new(false),
            clock,
            state: Mutex::new(State {
                manager: QuotaManager::new(config),
                applied: Arc::new(ClientQuotaImage::default()),
                next_expiry_ms: 0,
            }),
        }
    }

    /// Counts a throttle for the metrics. `kind` is one of `KINDS`.
    fn count(&self, kind: usize, throttle_ms: i64) -> i64 {
        if throttle_ms > 0 {
            self.throttled[kind].fetch_add(1, Relaxed);
            self.throttle_ms[kind].fetch_add(throttle_ms as u64, Relaxed);
        }
        throttle_ms
    }

    /// The quota metrics: per kind, (kind, throttled answers, their total
    /// throttle ms); and every live sensor with its rate.
    pub fn metrics(&self, image: &MetadataImage) -> QuotaMetrics {
        let throttles = KINDS
            .iter()
            .enumerate()
            .map(|(i, kind)| {
                (
                    *kind,
                    self.throttled[i].load(Relaxed),
                    self.throttle_ms[i].load(Relaxed),
                )
            })
            .collect();
        let rates = match self.manager(image) {
            Some((mut state, now)) => state
                .manager
                .sensor_rates(now)
                .into_iter()
                .map(|(t, tags, rate)| (kind_name(t), tags, rate))
                .collect(),
            None => Vec::new(),
        };
        QuotaMetrics { throttles, rates }
    }

    /// How rates are measured (`quota.window.num` samples of
    /// `quota.window.size.seconds`); connection creation rates use it too.
    pub fn rate_config(&self) -> RateConfig {
        self.rate
    }

    /// The manager, holding the image's current quotas; `None` while no
    /// quota was ever configured (nothing to measure).
    fn manager(&self, image: &MetadataImage) -> Option<(MutexGuard<'_, State>, i64)> {
        let quotas = image.client_quotas();
        if !self.active.load(Relaxed) {
            // Nothing configured yet: nothing to measure.
            quotas.store().entities().next()?;
            self.active.store(true, Relaxed);
        }
        let now = self.clock.now_ms();
        // A poisoned lock only means a panic elsewhere mid-update of
        // counters; the counters are still usable.
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if !Arc::ptr_eq(&state.applied, quotas) {
            state.manager.replace_store(quotas.store().clone());
            state.applied = quotas.clone();
        }
        if now >= state.next_expiry_ms {
            state.manager.expire(now);
            state.next_expiry_ms = now + EXPIRY_CHECK_MS;
        }
        Some((state, now))
    }

    /// Records a produce request's size; the throttle time in ms (0 within
    /// quota).
    pub fn record_produce(&self, image: &MetadataImage, client: &QuotaClient, bytes: usize) -> i64 {
        match self.manager(image) {
            Some((mut state, now)) => {
                let t =
                    state
                        .manager
                        .record_produce(client.user, client.client_id, bytes as u64, now);
                self.count(0, t)
            }
            None => 0,
        }
    }

    /// Records the thread time a request took (request_percentage); the
    /// throttle time in ms.
    pub fn record_request_time(
        &self,
        image: &MetadataImage,
        client: &QuotaClient,
        busy: std::time::Duration,
    ) -> i64 {
        match self.manager(image) {
            Some((mut state, now)) => {
                let t = state.manager.record_request_time(
                    client.user,
                    client.client_id,
                    i64::try_from(busy.as_nanos()).unwrap_or(i64::MAX),
                    now,
                );
                self.count(2, t)
            }
            None => 0,
        }
    }

    /// Takes `permits` partition mutations from the client's controller
    /// mutation credits (KIP-599). `strict`: refused (with the time until
    /// the credits recover) while they are overdrawn, as Kafka does for
    /// the request versions that know THROTTLING_QUOTA_EXCEEDED; otherwise
    /// always taken.
    pub fn record_mutations(
        &self,
        image: &MetadataImage,
        client: &QuotaClient,
        permits: usize,
        strict: bool,
    ) -> Result<(), i64> {
        let Some((mut state, now)) = self.manager(image) else {
            return Ok(());
        };
        if strict {
            state
                .manager
                .record_mutations_strict(client.user, client.client_id, permits as f64, now)
                .map_err(|t| t.throttle_ms)
        } else {
            state
                .manager
                .record_mutations(client.user, client.client_id, permits as f64, now);
            Ok(())
        }
    }

    /// The time until the client's mutation credits are no longer
    /// overdrawn: the throttle of a CreateTopics, CreatePartitions or
    /// DeleteTopics answer.
    pub fn mutation_throttle_ms(&self, image: &MetadataImage, client: &QuotaClient) -> i64 {
        match self.manager(image) {
            Some((mut state, now)) => {
                let t = state
                    .manager
                    .mutation_throttle_ms(client.user, client.client_id, now);
                self.count(4, t)
            }
            None => 0,
        }
    }

    /// Records a fetch response's size; the throttle time in ms.
    pub fn record_fetch(&self, image: &MetadataImage, client: &QuotaClient, bytes: usize) -> i64 {
        match self.manager(image) {
            Some((mut state, now)) => {
                let t =
                    state
                        .manager
                        .record_fetch(client.user, client.client_id, bytes as u64, now);
                self.count(1, t)
            }
            None => 0,
        }
    }

    /// Takes back a fetch response's size: a throttled fetch is answered
    /// without its records, so they do not count.
    pub fn unrecord_fetch(&self, image: &MetadataImage, client: &QuotaClient, bytes: usize) {
        if let Some((mut state, now)) = self.manager(image) {
            state.manager.unrecord(
                ClientQuotaType::Fetch,
                client.user,
                client.client_id,
                bytes as f64,
                now,
            );
        }
    }

    /// The largest fetch response the client may get at once without
    /// being throttled for certain (Kafka bounds a fetch's size by it).
    pub fn max_fetch_bytes(&self, image: &MetadataImage, client: &QuotaClient) -> Option<i32> {
        let (state, _) = self.manager(image)?;
        let bound = state.manager.max_value_in_quota_window(
            ClientQuotaType::Fetch,
            client.user,
            client.client_id,
        );
        (bound < f64::from(i32::MAX)).then_some(bound as i32)
    }

    /// A new connection from `ip`, against its connection creation rate.
    pub fn record_connection(&self, image: &MetadataImage, ip: IpAddr) -> ConnectionDecision {
        match self.manager(image) {
            Some((mut state, now)) => {
                let decision = state.manager.record_connection(ip, now);
                if let ConnectionDecision::Throttle { throttle_ms } = decision {
                    self.count(3, throttle_ms);
                }
                decision
            }
            None => ConnectionDecision::Accept,
        }
    }
}

/// The kinds of throttle counted, in the counters' order.
pub const KINDS: [&str; 5] = ["produce", "fetch", "request", "connection", "mutation"];

fn kind_name(t: ClientQuotaType) -> &'static str {
    match t {
        ClientQuotaType::Produce => KINDS[0],
        ClientQuotaType::Fetch => KINDS[1],
        ClientQuotaType::Request => KINDS[2],
    }
}

/// What `/metrics` shows of the quotas.
#[derive(Clone, Debug, Default)]
pub struct QuotaMetrics {
    /// (kind, throttled answers or connections, total throttle ms).
    pub throttles: Vec<(&'static str, u64, u64)>,
    /// (kind, sensor's user and client id, measured rate): bytes a second
    /// for produce and fetch, percent of a thread for request.
    pub rates: Vec<(&'static str, MetricTags, f64)>,
}

/// The quota user of a principal: its name without the `User:` type.
pub fn user_of(principal: &str) -> &str {
    principal.strip_prefix("User:").unwrap_or(principal)
}
