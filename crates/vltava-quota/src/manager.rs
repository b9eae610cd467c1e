//! Usage against the quotas, and the throttle time it earns (KIP-219).
//!
//! Each quota type keeps one sensor per set of metric tags (see
//! `store`), so every connection resolved to the same configured entity
//! feeds one rate. A value is recorded first and checked after: a request
//! over quota is served, and its response carries the time the client must
//! wait. The broker answers at once with that `throttle_time_ms` and does
//! not read from the connection until it has passed (`throttled_until_ms`).
//!
//! The throttle time is Kafka's `QuotaUtils.throttleTime`: to bring an
//! observed rate `O` over a window `W` down to the quota `T` without new
//! usage, the window must grow by `X` with `O·W / (W + X) = T`, so
//! `X = (O − T) / T · W`, rounded to the nearest ms. Byte-rate throttles
//! are not capped; request-time and connection-rate throttles are capped
//! at one window (`quota.window.size.seconds`), as Kafka's
//! `ClientRequestQuotaManager` and `ConnectionQuotas` do.
//!
//! Quotas of a type are measured only once some quota of that type was
//! configured (Kafka's `quotasEnabled`; it stays on after the quota is
//! removed). Sensors idle for `inactive_sensor_expiration_ms` are dropped
//! by `expire`, which the broker calls periodically.

use std::collections::BTreeMap;
use std::net::IpAddr;

use crate::entity::{MetricTags, QuotaEntity, QuotaKey};
use crate::rate::{Rate, RateConfig};
use crate::store::{QuotaStore, ResolvedQuota};
use crate::token_bucket::TokenBucket;

/// Kafka's limit when none applies (`Long.MaxValue` bytes per second).
pub const UNLIMITED: f64 = i64::MAX as f64;
/// Kafka's idle time after which a quota sensor is dropped: one hour.
pub const INACTIVE_SENSOR_EXPIRATION_MS: i64 = 3_600_000;
/// Request time is recorded as a percentage of one thread: 100 % for a
/// second of thread time per second.
pub const NANOS_TO_PERCENTAGE_PER_SECOND: f64 = 100.0 / 1_000_000_000.0;

/// The quota managers of a broker: the quota a recorded value counts
/// against.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ClientQuotaType {
    /// Produce request bytes, against `producer_byte_rate`.
    Produce,
    /// Fetch response bytes, against `consumer_byte_rate`.
    Fetch,
    /// Request handling time, against `request_percentage`.
    Request,
}

impl ClientQuotaType {
    pub const ALL: [ClientQuotaType; 3] = [
        ClientQuotaType::Produce,
        ClientQuotaType::Fetch,
        ClientQuotaType::Request,
    ];

    /// The config key whose value limits this type.
    pub fn key(self) -> QuotaKey {
        match self {
            ClientQuotaType::Produce => QuotaKey::ProducerByteRate,
            ClientQuotaType::Fetch => QuotaKey::ConsumerByteRate,
            ClientQuotaType::Request => QuotaKey::RequestPercentage,
        }
    }

    fn of_key(key: &str) -> Option<ClientQuotaType> {
        ClientQuotaType::ALL
            .into_iter()
            .find(|t| t.key().name() == key)
    }
}

/// Sampling and expiry of the quota sensors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QuotaConfig {
    pub rate: RateConfig,
    pub inactive_sensor_expiration_ms: i64,
}

impl Default for QuotaConfig {
    fn default() -> QuotaConfig {
        QuotaConfig {
            rate: RateConfig::default(),
            inactive_sensor_expiration_ms: INACTIVE_SENSOR_EXPIRATION_MS,
        }
    }
}

#[derive(Clone, Debug)]
struct Sensor {
    rate: Rate,
    last_record_ms: i64,
    throttled_until_ms: i64,
}

impl Sensor {
    fn new(now_ms: i64) -> Sensor {
        Sensor {
            rate: Rate::new(),
            last_record_ms: now_ms,
            throttled_until_ms: i64::MIN,
        }
    }
}

/// What to do with a new connection from an IP (KIP-612).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnectionDecision {
    Accept,
    /// Over the IP's connection rate: the connection is not counted, and
    /// Kafka closes it after `throttle_ms`.
    Throttle {
        throttle_ms: i64,
    },
}

/// The configured quotas and the usage measured against them.
#[derive(Clone, Debug, Default)]
pub struct QuotaManager {
    config: QuotaConfig,
    store: QuotaStore,
    enabled: BTreeMap<ClientQuotaType, bool>,
    sensors: BTreeMap<(ClientQuotaType, MetricTags), Sensor>,
    ip_sensors: BTreeMap<IpAddr, Sensor>,
    /// Controller mutation credits, and when each was last used.
    mutation_buckets: BTreeMap<MetricTags, (TokenBucket, i64)>,
}

/// A controller mutation refused because the credits are overdrawn
/// (Kafka's THROTTLING_QUOTA_EXCEEDED), with the time until they are not.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MutationThrottled {
    pub throttle_ms: i64,
}

impl QuotaManager {
    pub fn new(config: QuotaConfig) -> QuotaManager {
        QuotaManager {
            config,
            ..QuotaManager::default()
        }
    }

    pub fn config(&self) -> &QuotaConfig {
        &self.config
    }

    /// The configured quotas.
    pub fn store(&self) -> &QuotaStore {
        &self.store
    }

    /// Applies a ClientQuotaRecord (`None` removes the key). The new limit
    /// applies to the existing sensors from the next value recorded; their
    /// history is kept, as Kafka only changes the sensor's quota bound.
    pub fn set(&mut self, entity: &QuotaEntity, key: &str, value: Option<f64>) {
        if value.is_some() && entity.ip.is_none() {
            if let Some(t) = ClientQuotaType::of_key(key) {
                self.enabled.insert(t, true);
            }
        }
        self.store.set(entity, key, value);
    }

    /// Replaces every configured quota at once with `store` (the metadata
    /// image's, after it changed): as if each difference had been `set`.
    /// Sensors keep their history; a type once measured stays measured.
    pub fn replace_store(&mut self, store: QuotaStore) {
        for (entity, values) in store.entities() {
            if entity.ip.is_none() {
                for key in values.keys() {
                    if let Some(t) = ClientQuotaType::of_key(key) {
                        self.enabled.insert(t, true);
                    }
                }
            }
        }
        self.store = store;
    }

    /// Whether values of this type are measured at all.
    pub fn quotas_enabled(&self, quota_type: ClientQuotaType) -> bool {
        self.enabled.get(&quota_type).copied().unwrap_or(false)
    }

    /// The quota that applies to a connection, and the tags its usage is
    /// counted under.
    pub fn quota(&self, quota_type: ClientQuotaType, user: &str, client_id: &str) -> ResolvedQuota {
        self.store.resolve(quota_type.key(), user, client_id)
    }

    /// Records `value` (bytes, or percentage-seconds for `Request`) for a
    /// connection of `user` with `client_id` and returns the throttle time
    /// in ms (0 within quota).
    pub fn record(
        &mut self,
        quota_type: ClientQuotaType,
        user: &str,
        client_id: &str,
        value: f64,
        now_ms: i64,
    ) -> i64 {
        if !self.quotas_enabled(quota_type) {
            return 0;
        }
        let resolved = self.quota(quota_type, user, client_id);
        let bound = resolved.limit.unwrap_or(UNLIMITED);
        let cap = match quota_type {
            ClientQuotaType::Request => Some(self.config.rate.window_ms),
            _ => None,
        };
        let rate_config = self.config.rate;
        let sensor = self
            .sensors
            .entry((quota_type, resolved.tags))
            .or_insert_with(|| Sensor::new(now_ms));
        record_and_throttle(sensor, &rate_config, bound, cap, value, now_ms)
    }

    /// Records produced bytes; returns the throttle time in ms.
    pub fn record_produce(&mut self, user: &str, client_id: &str, bytes: u64, now_ms: i64) -> i64 {
        self.record(
            ClientQuotaType::Produce,
            user,
            client_id,
            bytes as f64,
            now_ms,
        )
    }

    /// Records fetched bytes; returns the throttle time in ms. Kafka then
    /// answers a throttled fetch with no data and takes the bytes back with
    /// `unrecord`.
    pub fn record_fetch(&mut self, user: &str, client_id: &str, bytes: u64, now_ms: i64) -> i64 {
        self.record(
            ClientQuotaType::Fetch,
            user,
            client_id,
            bytes as f64,
            now_ms,
        )
    }

    /// Records a request's handling time in a request thread; returns the
    /// throttle time in ms (at most one window).
    pub fn record_request_time(
        &mut self,
        user: &str,
        client_id: &str,
        thread_time_nanos: i64,
        now_ms: i64,
    ) -> i64 {
        let pct = thread_time_nanos as f64 * NANOS_TO_PERCENTAGE_PER_SECOND;
        self.record(ClientQuotaType::Request, user, client_id, pct, now_ms)
    }

    /// Records without a check (Kafka's `recordNoThrottle`, used for the
    /// network thread's share of a request's time): the usage counts
    /// against the next request.
    pub fn record_no_throttle(
        &mut self,
        quota_type: ClientQuotaType,
        user: &str,
        client_id: &str,
        value: f64,
        now_ms: i64,
    ) {
        if !self.quotas_enabled(quota_type) {
            return;
        }
        let tags = self.quota(quota_type, user, client_id).tags;
        let rate_config = self.config.rate;
        let sensor = self
            .sensors
            .entry((quota_type, tags))
            .or_insert_with(|| Sensor::new(now_ms));
        sensor.last_record_ms = now_ms;
        sensor.rate.record(&rate_config, value, now_ms);
    }

    /// Takes back a value recorded before (a throttled fetch sends no
    /// data).
    pub fn unrecord(
        &mut self,
        quota_type: ClientQuotaType,
        user: &str,
        client_id: &str,
        value: f64,
        now_ms: i64,
    ) {
        self.record_no_throttle(quota_type, user, client_id, -value, now_ms);
    }

    /// The most that may be recorded at once without being throttled for
    /// certain: the quota over `samples - 1` windows (Kafka bounds a
    /// fetch's size by it). Unlimited is `f64::MAX`.
    pub fn max_value_in_quota_window(
        &self,
        quota_type: ClientQuotaType,
        user: &str,
        client_id: &str,
    ) -> f64 {
        if !self.quotas_enabled(quota_type) {
            return f64::MAX;
        }
        match self.quota(quota_type, user, client_id).limit {
            Some(l) => {
                l * (self.config.rate.samples as f64 - 1.0)
                    * (self.config.rate.window_ms as f64 / 1000.0)
            }
            None => f64::MAX,
        }
    }

    /// The measured rate of the sensor the connection counts in, if it
    /// has one.
    pub fn rate(
        &mut self,
        quota_type: ClientQuotaType,
        user: &str,
        client_id: &str,
        now_ms: i64,
    ) -> Option<f64> {
        let tags = self.quota(quota_type, user, client_id).tags;
        let rate_config = self.config.rate;
        let sensor = self.sensors.get_mut(&(quota_type, tags))?;
        Some(sensor.rate.measure(&rate_config, now_ms))
    }

    /// Until when the connection's sensor is throttled (the broker mutes
    /// the channel until then); `None` if it never was.
    pub fn throttled_until_ms(
        &self,
        quota_type: ClientQuotaType,
        user: &str,
        client_id: &str,
    ) -> Option<i64> {
        let tags = self.quota(quota_type, user, client_id).tags;
        self.sensors
            .get(&(quota_type, tags))
            .map(|s| s.throttled_until_ms)
            .filter(|&t| t != i64::MIN)
    }

    /// The ms of throttle left at `now_ms` (0 when not throttled).
    pub fn remaining_throttle_ms(
        &self,
        quota_type: ClientQuotaType,
        user: &str,
        client_id: &str,
        now_ms: i64,
    ) -> i64 {
        match self.throttled_until_ms(quota_type, user, client_id) {
            Some(t) if t > now_ms => t - now_ms,
            _ => 0,
        }
    }

    /// A new connection from `ip` at `now_ms`: counted against its
    /// `connection_creation_rate` (its own, else the default IP quota). A
    /// connection over the rate is not counted, and gets a throttle time
    /// capped at one window. No quota: accepted and not measured.
    pub fn record_connection(&mut self, ip: IpAddr, now_ms: i64) -> ConnectionDecision {
        let Some(limit) = self.store.ip_limit(ip) else {
            return ConnectionDecision::Accept;
        };
        // Kafka keeps IP quotas as an int.
        let bound = limit as i32 as f64;
        if bound == i32::MAX as f64 {
            return ConnectionDecision::Accept;
        }
        let rate_config = self.config.rate;
        let sensor = self
            .ip_sensors
            .entry(ip)
            .or_insert_with(|| Sensor::new(now_ms));
        let throttle = record_and_throttle(
            sensor,
            &rate_config,
            bound,
            Some(rate_config.window_ms),
            1.0,
            now_ms,
        );
        if throttle > 0 {
            sensor.rate.record(&rate_config, -1.0, now_ms);
            ConnectionDecision::Throttle {
                throttle_ms: throttle,
            }
        } else {
            ConnectionDecision::Accept
        }
    }

    /// The controller mutation credits of a connection, with its quota;
    /// `None` without a `controller_mutation_rate` that applies.
    fn mutation_bucket(
        &mut self,
        user: &str,
        client_id: &str,
        now_ms: i64,
    ) -> Option<(&mut (TokenBucket, i64), f64)> {
        let resolved = self
            .store
            .resolve(QuotaKey::ControllerMutationRate, user, client_id);
        let quota = resolved.limit?;
        let config = self.config.rate;
        let bucket = self
            .mutation_buckets
            .entry(resolved.tags)
            .or_insert_with(|| (TokenBucket::new(quota, &config, now_ms), now_ms));
        Some((bucket, quota))
    }

    /// Takes `permits` (partitions created or deleted) from the
    /// connection's mutation credits, as Kafka's strict mutation quota
    /// does (CreateTopics v6+, CreatePartitions v3+, DeleteTopics v5+):
    /// refused, and nothing taken, while the credits are overdrawn; taken
    /// even when that overdraws them.
    pub fn record_mutations_strict(
        &mut self,
        user: &str,
        client_id: &str,
        permits: f64,
        now_ms: i64,
    ) -> Result<(), MutationThrottled> {
        let config = self.config.rate;
        let Some(((bucket, last), quota)) = self.mutation_bucket(user, client_id, now_ms) else {
            return Ok(());
        };
        if bucket.credits(quota, &config, now_ms) < 0.0 {
            return Err(MutationThrottled {
                throttle_ms: bucket.throttle_ms(quota, &config, now_ms),
            });
        }
        bucket.record(permits, quota, &config, now_ms);
        *last = now_ms;
        Ok(())
    }

    /// Takes `permits` without a check (the permissive quota of older
    /// request versions, which are throttled afterwards instead).
    pub fn record_mutations(&mut self, user: &str, client_id: &str, permits: f64, now_ms: i64) {
        let config = self.config.rate;
        if let Some(((bucket, last), quota)) = self.mutation_bucket(user, client_id, now_ms) {
            bucket.record(permits, quota, &config, now_ms);
            *last = now_ms;
        }
    }

    /// The time until the connection's mutation credits are no longer
    /// overdrawn (0 if they are not, or no quota applies).
    pub fn mutation_throttle_ms(&mut self, user: &str, client_id: &str, now_ms: i64) -> i64 {
        let config = self.config.rate;
        match self.mutation_bucket(user, client_id, now_ms) {
            Some(((bucket, _), quota)) => bucket.throttle_ms(quota, &config, now_ms),
            None => 0,
        }
    }

    /// Drops the sensors nothing was recorded in for more than the
    /// expiration time; returns how many went.
    pub fn expire(&mut self, now_ms: i64) -> usize {
        let limit = self.config.inactive_sensor_expiration_ms;
        let before = self.sensors.len() + self.ip_sensors.len() + self.mutation_buckets.len();
        self.sensors
            .retain(|_, s| now_ms - s.last_record_ms <= limit);
        self.ip_sensors
            .retain(|_, s| now_ms - s.last_record_ms <= limit);
        self.mutation_buckets
            .retain(|_, (_, last)| now_ms - *last <= limit);
        before - self.sensors.len() - self.ip_sensors.len() - self.mutation_buckets.len()
    }

    /// The number of live sensors (client and IP).
    pub fn sensor_count(&self) -> usize {
        self.sensors.len() + self.ip_sensors.len()
    }

    /// Every live client sensor with its measured rate at `now_ms` (bytes
    /// a second, or percent of a thread for `Request`): what Kafka's
    /// `byte-rate` and `request-time` metrics show.
    pub fn sensor_rates(&mut self, now_ms: i64) -> Vec<(ClientQuotaType, MetricTags, f64)> {
        let config = self.config.rate;
        self.sensors
            .iter_mut()
            .map(|((t, tags), sensor)| (*t, tags.clone(), sensor.rate.measure(&config, now_ms)))
            .collect()
    }

    /// The tags of the live client sensors of a type.
    pub fn sensor_tags(&self, quota_type: ClientQuotaType) -> Vec<MetricTags> {
        self.sensors
            .keys()
            .filter(|(t, _)| *t == quota_type)
            .map(|(_, tags)| tags.clone())
            .collect()
    }
}

/// Records and checks one value: Kafka's `Sensor.record` with its quota
/// check (the rate after the value, compared with the bound), then the
/// throttle time of a violation.
fn record_and_throttle(
    sensor: &mut Sensor,
    config: &RateConfig,
    bound: f64,
    cap_ms: Option<i64>,
    value: f64,
    now_ms: i64,
) -> i64 {
    sensor.last_record_ms = now_ms;
    sensor.rate.record(config, value, now_ms);
    let observed = sensor.rate.measure(config, now_ms);
    if observed <= bound {
        return 0;
    }
    let window = sensor.rate.window_size_ms(config, now_ms);
    let mut throttle = throttle_time_ms(observed, bound, window);
    if let Some(cap) = cap_ms {
        throttle = throttle.min(cap);
    }
    // Kafka hands the throttle time on as an int.
    let throttle = throttle.clamp(i32::MIN as i64, i32::MAX as i64);
    if throttle > 0 {
        sensor.throttled_until_ms = sensor.throttled_until_ms.max(now_ms + throttle);
    }
    throttle
}

/// `(observed − bound) / bound · window_ms`, rounded half up as Java's
/// `Math.round`.
pub fn throttle_time_ms(observed: f64, bound: f64, window_ms: i64) -> i64 {
    let x = (observed - bound) / bound * window_ms as f64;
    (x + 0.5).floor() as i64
}
