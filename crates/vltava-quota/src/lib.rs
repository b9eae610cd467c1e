//! Kafka's client quotas as a deterministic state machine: no I/O, no
//! clock (every call that measures takes `now_ms`), no dependency. The
//! broker replays the metadata log's ClientQuotaRecords into a
//! `QuotaManager`, records each request's bytes or thread time with it and
//! sends the throttle time it returns; the controller checks
//! AlterClientQuotas with `validate_alteration`, and DescribeClientQuotas
//! is answered by `describe`.
//!
//! - `entity`: quota entities (user, client-id, ip; a name or the
//!   default), quota keys, sensor tags;
//! - `store`: the configured quotas and the eight-level precedence
//!   (KIP-55) that picks the one applying to a connection;
//! - `rate`: Kafka's windowed `Rate` (`quota.window.num` samples of
//!   `quota.window.size.seconds`);
//! - `manager`: sensors shared by the connections of one quota entity,
//!   throttle times (KIP-219), per-IP connection rates (KIP-612), the
//!   controller mutation quota (KIP-599), expiry of idle sensors;
//! - `token_bucket`: the credits the mutation quota is measured with;
//! - `validate`: AlterClientQuotas validation and DescribeClientQuotas
//!   filters (KIP-546), with Kafka's error codes and messages.
//!
//! ```
//! use vltava_quota::*;
//!
//! let mut quotas = QuotaManager::new(QuotaConfig::default());
//! let alice = QuotaEntity::client(Some(EntityName::name("alice")), None);
//! quotas.set(&alice, "producer_byte_rate", Some(1_000_000.0));
//!
//! // 2 MB/s for 5 s: the first 10 MB fit in the 10 s a fresh sensor is
//! // measured over; the next 200 kB is 20 % over, so 20 % of the window.
//! let mut throttle = 0;
//! for i in 0..=50 {
//!     throttle = quotas.record_produce("alice", "app", 200_000, i * 100);
//! }
//! assert_eq!(throttle, 200);
//! assert_eq!(quotas.remaining_throttle_ms(ClientQuotaType::Produce, "alice", "other", 5_000), 200);
//! ```

mod entity;
mod manager;
mod rate;
mod store;
mod token_bucket;
mod validate;

pub use entity::{
    EntityName, MetricTags, QuotaEntity, QuotaKey, CLIENT_ID, DEFAULT_NAME, IP, USER,
};
pub use manager::{
    throttle_time_ms, ClientQuotaType, ConnectionDecision, MutationThrottled, QuotaConfig,
    QuotaManager, INACTIVE_SENSOR_EXPIRATION_MS, NANOS_TO_PERCENTAGE_PER_SECOND, UNLIMITED,
};
pub use rate::{Rate, RateConfig};
pub use store::{QuotaLevel, QuotaStore, ResolvedQuota};
pub use token_bucket::TokenBucket;
pub use validate::{
    allowed_keys, describe, display_parts, validate_alteration, validate_entity, validate_value,
    DescribedEntity, FilterComponent, MatchType, QuotaChange, QuotaError, QuotaOp, INVALID_REQUEST,
    UNSUPPORTED_VERSION,
};

#[cfg(test)]
mod tests;
