//! A topic's overrides, their validation, and the effective values a
//! partition log runs with.

use std::collections::BTreeMap;

use crate::broker::{parse_entry, BrokerConfig};
use crate::defs::{topic_def, TOPIC_CONFIGS};
use crate::error::{ConfigError, Scope};
use crate::types::{ConfigSource, ConfigValue};

/// The timestamp a topic's records keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TimestampType {
    /// The producer's timestamp (checked against the before/after bounds).
    CreateTime,
    /// The broker's clock at append.
    LogAppendTime,
}

impl TimestampType {
    pub fn from_name(name: &str) -> Option<TimestampType> {
        match name {
            "CreateTime" => Some(TimestampType::CreateTime),
            "LogAppendTime" => Some(TimestampType::LogAppendTime),
            _ => None,
        }
    }

    pub const fn name(self) -> &'static str {
        match self {
            TimestampType::CreateTime => "CreateTime",
            TimestampType::LogAppendTime => "LogAppendTime",
        }
    }
}

/// The codec a topic stores batches with (`compression.type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CompressionType {
    /// Keep the producer's codec.
    Producer,
    Uncompressed,
    Gzip,
    Snappy,
    Lz4,
    Zstd,
}

impl CompressionType {
    pub fn from_name(name: &str) -> Option<CompressionType> {
        match name {
            "producer" => Some(CompressionType::Producer),
            "uncompressed" => Some(CompressionType::Uncompressed),
            "gzip" => Some(CompressionType::Gzip),
            "snappy" => Some(CompressionType::Snappy),
            "lz4" => Some(CompressionType::Lz4),
            "zstd" => Some(CompressionType::Zstd),
            _ => None,
        }
    }

    pub const fn name(self) -> &'static str {
        match self {
            CompressionType::Producer => "producer",
            CompressionType::Uncompressed => "uncompressed",
            CompressionType::Gzip => "gzip",
            CompressionType::Snappy => "snappy",
            CompressionType::Lz4 => "lz4",
            CompressionType::Zstd => "zstd",
        }
    }
}

/// `cleanup.policy` as a set. Both may be on; both may be off (an empty
/// list: segments are neither deleted nor compacted).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct CleanupPolicy {
    pub delete: bool,
    pub compact: bool,
}

impl CleanupPolicy {
    pub(crate) fn from_list(items: &[String]) -> CleanupPolicy {
        CleanupPolicy {
            delete: items.iter().any(|p| p == "delete"),
            compact: items.iter().any(|p| p == "compact"),
        }
    }
}

/// Every topic setting resolved to the value a partition uses: topic
/// override, else the broker's synonym, else the default.
#[derive(Debug, Clone, PartialEq)]
pub struct EffectiveTopicConfig {
    pub cleanup_policy: CleanupPolicy,
    pub compression_type: CompressionType,
    pub compression_gzip_level: i32,
    pub compression_lz4_level: i32,
    pub compression_zstd_level: i32,
    pub delete_retention_ms: i64,
    pub file_delete_delay_ms: i64,
    pub flush_messages: i64,
    pub flush_ms: i64,
    pub follower_replication_throttled_replicas: Vec<String>,
    pub index_interval_bytes: i32,
    pub leader_replication_throttled_replicas: Vec<String>,
    /// With -2 ("same as retention.bytes") already resolved.
    pub local_retention_bytes: i64,
    /// With -2 ("same as retention.ms") already resolved.
    pub local_retention_ms: i64,
    pub max_compaction_lag_ms: i64,
    pub max_message_bytes: i32,
    /// Deprecated 3.x key; informational only.
    pub message_downconversion_enable: bool,
    /// Deprecated 3.x key; informational only (batches are always v2).
    pub message_format_version: String,
    /// A CreateTime timestamp more than this after broker time is refused.
    pub message_timestamp_after_max_ms: i64,
    /// A CreateTime timestamp more than this before broker time is refused.
    pub message_timestamp_before_max_ms: i64,
    pub message_timestamp_type: TimestampType,
    pub min_cleanable_dirty_ratio: f64,
    pub min_compaction_lag_ms: i64,
    pub min_insync_replicas: i32,
    pub preallocate: bool,
    pub remote_log_copy_disable: bool,
    pub remote_log_delete_on_disable: bool,
    pub remote_storage_enable: bool,
    pub retention_bytes: i64,
    pub retention_ms: i64,
    /// `segment.bytes`, or `internal.segment.bytes` when that is set.
    pub segment_bytes: i32,
    pub segment_index_bytes: i32,
    pub segment_jitter_ms: i64,
    pub segment_ms: i64,
    pub unclean_leader_election_enable: bool,
}

impl EffectiveTopicConfig {
    /// When the active segment must roll by age: `segment.ms`, or sooner
    /// for a compacted topic whose `max.compaction.lag.ms` is shorter.
    pub fn max_segment_ms(&self) -> i64 {
        if self.cleanup_policy.compact && self.max_compaction_lag_ms > 0 {
            self.max_compaction_lag_ms.min(self.segment_ms)
        } else {
            self.segment_ms
        }
    }

    /// Size to create a new segment file with: full size when
    /// preallocating, else 0.
    pub fn initial_segment_file_size(&self) -> i32 {
        if self.preallocate {
            self.segment_bytes
        } else {
            0
        }
    }
}

/// A topic's validated overrides. Keys that are not overridden take their
/// value from the broker (see [`TopicConfig::effective`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TopicConfig {
    overrides: BTreeMap<&'static str, ConfigValue>,
}

impl TopicConfig {
    /// No overrides.
    pub fn new() -> TopicConfig {
        TopicConfig::default()
    }

    /// Parses and validates overrides (a later duplicate wins). Cross-key
    /// rules are checked with the topic defaults standing in for keys that
    /// are not overridden; [`TopicConfig::check_against`] checks them with
    /// a broker's values.
    pub fn from_overrides<I, K, V>(overrides: I) -> Result<TopicConfig, ConfigError>
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: AsRef<str>,
    {
        let mut config = TopicConfig::default();
        for (name, raw) in overrides {
            let name = name.as_ref();
            let (def, value) = parse_entry(Scope::Topic, topic_def(name), name, raw.as_ref())?;
            config.overrides.insert(def.name, value);
        }
        config.check_with(|name| config.effective_without_broker(name))?;
        Ok(config)
    }

    /// The override of a key, if the topic has one.
    pub fn get(&self, name: &str) -> Option<&ConfigValue> {
        self.overrides.get(name)
    }

    /// All overrides, sorted by key.
    pub fn overrides(&self) -> impl Iterator<Item = (&'static str, &ConfigValue)> + '_ {
        self.overrides.iter().map(|(k, v)| (*k, v))
    }

    /// The overrides in canonical text form (for metadata records).
    pub fn to_strings(&self) -> BTreeMap<String, String> {
        self.overrides
            .iter()
            .map(|(k, v)| ((*k).to_string(), v.to_string()))
            .collect()
    }

    pub fn is_empty(&self) -> bool {
        self.overrides.is_empty()
    }

    /// The value a key takes for this topic on this broker, and its
    /// source: the topic override (`TOPIC_CONFIG`); else the first broker
    /// synonym that is set, converted to the topic key's unit (its dynamic
    /// or static source); else the first broker synonym with a default
    /// (`DEFAULT_CONFIG`); else the topic default (`DEFAULT_CONFIG`).
    /// `None` for an unknown key, or a key with no value at all.
    pub fn effective_with_source(
        &self,
        name: &str,
        broker: &BrokerConfig,
    ) -> Option<(ConfigValue, ConfigSource)> {
        let def = topic_def(name)?;
        if let Some(v) = self.overrides.get(def.name) {
            return Some((v.clone(), ConfigSource::TopicConfig));
        }
        if let Some((mut value, _, source)) = broker.synonym_value(def.synonyms, def.ty) {
            // Kafka turns any negative broker retention time into -1.
            if def.name == "retention.ms" && value.as_i64().is_some_and(|v| v < 0) {
                value = ConfigValue::Long(-1);
            }
            return Some((value, source));
        }
        def.default_value()
            .map(|v| (v, ConfigSource::DefaultConfig))
    }

    /// The value a key takes for this topic on this broker.
    pub fn effective(&self, name: &str, broker: &BrokerConfig) -> Option<ConfigValue> {
        self.effective_with_source(name, broker).map(|(v, _)| v)
    }

    fn effective_without_broker(&self, name: &str) -> Option<ConfigValue> {
        let def = topic_def(name)?;
        self.overrides
            .get(def.name)
            .cloned()
            .or_else(|| def.default_value())
    }

    /// Checks the cross-key rules with this broker's values for the keys
    /// the topic does not override.
    pub fn check_against(&self, broker: &BrokerConfig) -> Result<(), ConfigError> {
        self.check_with(|name| self.effective(name, broker))
    }

    fn check_with(&self, value: impl Fn(&str) -> Option<ConfigValue>) -> Result<(), ConfigError> {
        let long = |name: &str| value(name).and_then(|v| v.as_i64()).unwrap_or_default();
        let min_lag = long("min.compaction.lag.ms");
        let max_lag = long("max.compaction.lag.ms");
        if min_lag > max_lag {
            return Err(ConfigError::Conflict {
                message: format!(
                    "min.compaction.lag.ms ({min_lag}) is greater than max.compaction.lag.ms ({max_lag})"
                ),
            });
        }
        Ok(())
    }

    /// Every setting resolved for this broker.
    pub fn resolve(&self, broker: &BrokerConfig) -> EffectiveTopicConfig {
        let get = |name: &str| {
            self.effective(name, broker)
                .unwrap_or_else(|| panic!("{name} has a default in the topic table"))
        };
        let int = |name: &str| get(name).as_i32().unwrap_or_default();
        let long = |name: &str| get(name).as_i64().unwrap_or_default();
        let boolean = |name: &str| get(name).as_bool().unwrap_or_default();
        let list = |name: &str| {
            get(name)
                .as_list()
                .map(<[String]>::to_vec)
                .unwrap_or_default()
        };
        let text = |name: &str| get(name).as_str().unwrap_or_default().to_string();
        let is_set = |name: &str| {
            self.effective_with_source(name, broker)
                .is_some_and(|(_, s)| s != ConfigSource::DefaultConfig)
        };
        // The deprecated single bound applies to a direction only when that
        // direction's own key is not set anywhere.
        let bound = |name: &str| {
            if !is_set(name) && is_set("message.timestamp.difference.max.ms") {
                long("message.timestamp.difference.max.ms")
            } else {
                long(name)
            }
        };
        let retention_ms = long("retention.ms");
        let retention_bytes = long("retention.bytes");
        let local = |name: &str, fallback: i64| match long(name) {
            -2 => fallback,
            v => v,
        };
        EffectiveTopicConfig {
            cleanup_policy: CleanupPolicy::from_list(&list("cleanup.policy")),
            compression_type: CompressionType::from_name(&text("compression.type"))
                .unwrap_or(CompressionType::Producer),
            compression_gzip_level: int("compression.gzip.level"),
            compression_lz4_level: int("compression.lz4.level"),
            compression_zstd_level: int("compression.zstd.level"),
            delete_retention_ms: long("delete.retention.ms"),
            file_delete_delay_ms: long("file.delete.delay.ms"),
            flush_messages: long("flush.messages"),
            flush_ms: long("flush.ms"),
            follower_replication_throttled_replicas: list(
                "follower.replication.throttled.replicas",
            ),
            index_interval_bytes: int("index.interval.bytes"),
            leader_replication_throttled_replicas: list("leader.replication.throttled.replicas"),
            local_retention_bytes: local("local.retention.bytes", retention_bytes),
            local_retention_ms: local("local.retention.ms", retention_ms),
            max_compaction_lag_ms: long("max.compaction.lag.ms"),
            max_message_bytes: int("max.message.bytes"),
            message_downconversion_enable: boolean("message.downconversion.enable"),
            message_format_version: text("message.format.version"),
            message_timestamp_after_max_ms: bound("message.timestamp.after.max.ms"),
            message_timestamp_before_max_ms: bound("message.timestamp.before.max.ms"),
            message_timestamp_type: TimestampType::from_name(&text("message.timestamp.type"))
                .unwrap_or(TimestampType::CreateTime),
            min_cleanable_dirty_ratio: get("min.cleanable.dirty.ratio").as_f64().unwrap_or(0.5),
            min_compaction_lag_ms: long("min.compaction.lag.ms"),
            min_insync_replicas: int("min.insync.replicas"),
            preallocate: boolean("preallocate"),
            remote_log_copy_disable: boolean("remote.log.copy.disable"),
            remote_log_delete_on_disable: boolean("remote.log.delete.on.disable"),
            remote_storage_enable: boolean("remote.storage.enable"),
            retention_bytes,
            retention_ms,
            segment_bytes: self
                .overrides
                .get("internal.segment.bytes")
                .and_then(ConfigValue::as_i32)
                .unwrap_or_else(|| int("segment.bytes")),
            segment_index_bytes: int("segment.index.bytes"),
            segment_jitter_ms: long("segment.jitter.ms"),
            segment_ms: long("segment.ms"),
            unclean_leader_election_enable: boolean("unclean.leader.election.enable"),
        }
    }
}

/// Validates topic configs as CreateTopics or AlterConfigs deliver them:
/// every key known, no null values, every value valid, and the cross-key
/// rules (with topic defaults for missing keys). The error names the key
/// and maps to `INVALID_CONFIG` ([`ConfigError::error_code`]).
pub fn validate_topic_configs(configs: &[(String, Option<String>)]) -> Result<(), ConfigError> {
    let mut present = Vec::with_capacity(configs.len());
    for (name, value) in configs {
        if topic_def(name).is_none() {
            return Err(ConfigError::UnknownKey {
                scope: Scope::Topic,
                name: name.clone(),
                suggestion: crate::suggest::suggest(Scope::Topic, name),
            });
        }
        match value {
            Some(v) => present.push((name.as_str(), v.as_str())),
            None => return Err(ConfigError::NullValue { name: name.clone() }),
        }
    }
    TopicConfig::from_overrides(present).map(|_| ())
}

/// Names of the topic keys DescribeConfigs reports (internal keys left out).
pub fn described_topic_keys() -> impl Iterator<Item = &'static str> {
    TOPIC_CONFIGS.iter().filter(|d| !d.internal).map(|d| d.name)
}
