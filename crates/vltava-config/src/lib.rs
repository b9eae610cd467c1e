//! Broker and topic configuration with Kafka's names, types, defaults,
//! validation and DescribeConfigs metadata.
//!
//! Nothing here touches the network; the only file access is
//! [`read_properties_file`].
//!
//! # The tables
//!
//! [`BROKER_CONFIGS`] and [`TOPIC_CONFIGS`] are the single place where a key
//! is defined: name, [`ConfigType`], default (or none), [`Validator`],
//! [`Importance`], [`UpdateMode`], a one-line doc, and for topic keys the
//! broker keys that supply their broker-wide default ([`BrokerSynonym`]).
//! Passwords are the sensitive keys. Names, types, defaults, ranges, update
//! modes and synonyms follow Apache Kafka 4.1; the few deliberate
//! differences are commented in the table (for example `process.roles`
//! defaults to `broker,controller`, and `remote.storage.enable=true` is
//! refused because there is no tiered storage). Keys Kafka 4.0 removed
//! (`message.format.version`, `message.downconversion.enable`,
//! `message.timestamp.difference.max.ms` and their broker forms) are still
//! accepted, with their 3.x defaults, so older configs load.
//!
//! # Broker values and their sources
//!
//! [`BrokerConfig::from_sources`] starts from the built-in defaults, applies
//! the properties file ([`parse_properties`]) and then the `--set`
//! overrides; within each, a later entry for the same key wins. Unknown keys
//! are errors (with a "did you mean"), as are invalid values; the error
//! names the key, the value and the rule. A key's value is the first found
//! in this order, which is also its [`ConfigSource`]:
//!
//! 1. `DYNAMIC_BROKER_CONFIG`: [`BrokerConfig::set_dynamic`], for this
//!    broker (per-broker and cluster-wide keys);
//! 2. `DYNAMIC_DEFAULT_BROKER_CONFIG`: [`BrokerConfig::set_dynamic_default`],
//!    the cluster-wide default (cluster-wide keys only);
//! 3. `STATIC_BROKER_CONFIG`: the properties file or `--set`;
//! 4. `DEFAULT_CONFIG`: the table default (or no value at all).
//!
//! Some settings have several keys in different units. The first one that
//! is set (at any level) wins, in this order: `log.retention.ms`, then
//! `log.retention.minutes`, then `log.retention.hours`; `log.roll.ms` then
//! `log.roll.hours`; `log.roll.jitter.ms` then `log.roll.jitter.hours`;
//! `log.flush.interval.ms` then `log.flush.scheduler.interval.ms`. The
//! derived getters ([`BrokerConfig::log_retention_ms`], ...) return the
//! result in milliseconds; a negative retention time means "no limit" and is
//! returned as -1, as in Kafka.
//!
//! # Topic values
//!
//! A [`TopicConfig`] holds a topic's validated overrides. The value a topic
//! runs with ([`TopicConfig::effective`], or all of them typed in
//! [`EffectiveTopicConfig`] via [`TopicConfig::resolve`]) is the first of:
//!
//! 1. the topic's override (`TOPIC_CONFIG`);
//! 2. the first of its broker synonyms that is set at any broker level,
//!    converted to the topic key's unit (that level's source);
//! 3. the first of its broker synonyms that has a default (`DEFAULT_CONFIG`);
//! 4. the topic table's default (`DEFAULT_CONFIG`), for keys without a broker
//!    counterpart ([`TOPIC_CONFIGS_WITHOUT_BROKER_SYNONYM`]).
//!
//! So `retention.ms` on a topic without an override follows
//! `log.retention.ms`, else `log.retention.minutes`, else
//! `log.retention.hours`, and dynamic broker changes reach every such topic.
//!
//! # DescribeConfigs
//!
//! [`BrokerConfig::describe`] and [`TopicConfig::describe`] yield one
//! [`DescribedConfig`] per key (internal keys are left out): the value
//! (`None` when sensitive or unset), its source, read-only flag,
//! sensitivity, type, documentation and synonyms. Synonyms are listed most
//! specific first, as Kafka lists them: for a topic, its override, then for
//! each broker level from dynamic per-broker down to default, every broker
//! synonym set at that level in precedence order. The entry's source is its
//! first synonym's. [`ConfigSource::code`] and [`ConfigType::describe_code`]
//! give the numbers the response carries.
//!
//! # Changing topic configs
//!
//! [`validate_topic_configs`] checks what CreateTopics or AlterConfigs
//! deliver; [`incremental_alter_topic`] applies IncrementalAlterConfigs
//! operations ([`AlterOpType`]: SET, DELETE, APPEND, SUBTRACT, codes 0 to 3)
//! to a topic's overrides and validates the result. [`ConfigError::error_code`]
//! gives the Kafka error code to answer with.
//!
//! # Example
//!
//! ```
//! use vltava_config::{parse_properties, BrokerConfig, ConfigSource, TopicConfig};
//!
//! let file = parse_properties("log.retention.hours=24\nnum.partitions=3\n").unwrap();
//! let overrides = vec![("log.segment.bytes".to_string(), "2097152".to_string())];
//! let broker = BrokerConfig::from_sources(file, overrides).unwrap();
//! assert_eq!(broker.log_retention_ms(), 24 * 3_600_000);
//! assert_eq!(broker.source("num.partitions"), ConfigSource::StaticBrokerConfig);
//!
//! let topic = TopicConfig::from_overrides([("retention.ms", "60000")]).unwrap();
//! let effective = topic.resolve(&broker);
//! assert_eq!(effective.retention_ms, 60_000); // the topic override
//! assert_eq!(effective.segment_bytes, 2_097_152); // from log.segment.bytes
//!
//! let err = BrokerConfig::from_sources(vec![], vec![("num.partiton".into(), "3".into())]);
//! assert_eq!(
//!     err.unwrap_err().to_string(),
//!     "Unknown broker config name: num.partiton (did you mean num.partitions?)"
//! );
//! ```

mod alter;
mod broker;
mod defs;
mod describe;
mod error;
mod net;
pub mod properties;
mod suggest;
mod topic;
mod types;

pub use alter::{incremental_alter_topic, AlterConfigOp, AlterOpType};
pub use broker::{BrokerConfig, ProcessRoles, STANDARD_AUTHORIZER};
pub use defs::{
    broker_def, topic_def, BROKER_CONFIGS, RACK_AWARE_REPLICA_SELECTOR, TOPIC_CONFIGS,
    TOPIC_CONFIGS_WITHOUT_BROKER_SYNONYM,
};
pub use describe::{DescribedConfig, DescribedSynonym};
pub use error::{ConfigError, Scope, INVALID_CONFIG, INVALID_REQUEST};
pub use net::{Endpoint, QuorumVoter, SecurityProtocol};
pub use properties::{
    parse_override, parse_properties, read_properties_file, ParseError, PropertiesFileError,
};
pub use topic::{
    described_topic_keys, validate_topic_configs, CleanupPolicy, CompressionType,
    EffectiveTopicConfig, TimestampType, TopicConfig,
};
pub use types::{
    BrokerSynonym, ConfigDef, ConfigSource, ConfigType, ConfigValue, CustomValidator, Importance,
    Password, SynonymUnit, UpdateMode, Validator,
};
