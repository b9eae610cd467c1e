//! Broker and topic configuration with Kafka's names, types, defaults,
//! validation and DescribeConfigs metadata.

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
pub use broker::{BrokerConfig, ProcessRoles};
pub use defs::{
    broker_def, topic_def, BROKER_CONFIGS, TOPIC_CONFIGS, TOPIC_CONFIGS_WITHOUT_BROKER_SYNONYM,
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
