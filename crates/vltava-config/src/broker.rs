//! The broker's configuration: built-in defaults, the properties file and
//! command-line overrides (static), and dynamic updates on top.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use crate::defs::{broker_def, topic_def, BROKER_CONFIGS};
use crate::error::{ConfigError, Scope};
use crate::net::{self, Endpoint, QuorumVoter, SecurityProtocol};
use crate::suggest::suggest;
use crate::topic::{CleanupPolicy, CompressionType, TimestampType};
use crate::types::{
    BrokerSynonym, ConfigDef, ConfigSource, ConfigType, ConfigValue, SynonymUnit, UpdateMode,
};

/// The roles this process plays (`process.roles`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcessRoles {
    pub broker: bool,
    pub controller: bool,
}

/// A broker's configuration. Each key's value is the first one found in:
/// dynamic per-broker, dynamic cluster-wide default, static (file and
/// `--set`), built-in default. See the crate docs.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BrokerConfig {
    static_values: BTreeMap<&'static str, ConfigValue>,
    dynamic_default: BTreeMap<&'static str, ConfigValue>,
    dynamic_broker: BTreeMap<&'static str, ConfigValue>,
    /// Settings given for one listener (`listener.name.<name>.<key>`,
    /// static only), keyed by the upper-case listener name and the key
    /// (`ssl.keystore.location`, or `plain.sasl.jaas.config` for a
    /// mechanism's JAAS settings).
    listener_values: BTreeMap<(String, String), ConfigValue>,
}

/// A value as text, a secret's included; `None` when empty.
fn plain_text(value: &ConfigValue) -> Option<String> {
    let text = match value {
        ConfigValue::List(items) => items.join(","),
        ConfigValue::Password(secret) => secret.expose().to_string(),
        other => other.as_str()?.to_string(),
    };
    (!text.is_empty()).then_some(text)
}

/// The prefix of a listener's own settings.
const LISTENER_PREFIX: &str = "listener.name.";

/// SASL mechanisms whose JAAS settings (and server callback handler, and
/// for OAUTHBEARER the `sasl.oauthbearer.*` keys) may be given per listener
/// as `listener.name.<listener>.<mechanism>.<key>`.
const JAAS_MECHANISMS: &[&str] = &["plain", "scram-sha-256", "scram-sha-512", "oauthbearer"];

/// Whether a key may follow `listener.name.<listener>.<mechanism>.`.
fn mechanism_key(key: &str) -> bool {
    key == "sasl.jaas.config"
        || key == "sasl.server.callback.handler.class"
        || key.starts_with("sasl.oauthbearer.")
}

/// Parses `listener.name.<listener>.<key>`: the listener name (upper
/// case), the key as stored, and its definition. Only keys Kafka lets a
/// listener override (the `ssl.*` and `sasl.*` families,
/// `connections.max.reauth.ms` and `max.connection.creation.rate`) are
/// taken.
fn listener_key(
    name: &str,
    raw: &str,
) -> Result<(String, String, &'static ConfigDef, ConfigValue), ConfigError> {
    let unknown = || ConfigError::UnknownKey {
        scope: Scope::Broker,
        name: name.to_string(),
        suggestion: None,
    };
    let rest = &name[LISTENER_PREFIX.len()..];
    let (listener, key) = rest.split_once('.').ok_or_else(unknown)?;
    if listener.is_empty() {
        return Err(unknown());
    }
    let base = JAAS_MECHANISMS
        .iter()
        .find_map(|m| {
            key.strip_prefix(m)
                .and_then(|k| k.strip_prefix('.'))
                .filter(|k| mechanism_key(k))
        })
        .unwrap_or(key);
    let overridable = base.starts_with("ssl.")
        || base.starts_with("sasl.")
        || base == "connections.max.reauth.ms"
        || base == "max.connection.creation.rate";
    if !overridable {
        return Err(unknown());
    }
    let (def, value) = parse_entry(Scope::Broker, broker_def(base), name, raw)?;
    Ok((listener.to_ascii_uppercase(), key.to_string(), def, value))
}

/// The parsed built-in defaults of the broker table.
fn defaults() -> &'static BTreeMap<&'static str, ConfigValue> {
    static DEFAULTS: OnceLock<BTreeMap<&'static str, ConfigValue>> = OnceLock::new();
    DEFAULTS.get_or_init(|| {
        BROKER_CONFIGS
            .iter()
            .filter_map(|d| d.default_value().map(|v| (d.name, v)))
            .collect()
    })
}

/// The broker synonyms of a topic key (empty for an unknown key).
fn synonyms_of(topic_key: &str) -> &'static [BrokerSynonym] {
    topic_def(topic_key).map_or(&[], |d| d.synonyms)
}

/// Looks a key up and parses its text, with errors naming key and value.
pub(crate) fn parse_entry(
    scope: Scope,
    def: Option<&'static ConfigDef>,
    name: &str,
    raw: &str,
) -> Result<(&'static ConfigDef, ConfigValue), ConfigError> {
    let def = def.ok_or_else(|| ConfigError::UnknownKey {
        scope,
        name: name.to_string(),
        suggestion: suggest(scope, name),
    })?;
    let value = def.parse(raw).map_err(|reason| ConfigError::InvalidValue {
        name: name.to_string(),
        value: if def.is_sensitive() {
            "[hidden]".to_string()
        } else {
            raw.to_string()
        },
        reason,
    })?;
    Ok((def, value))
}

fn lookup(name: &str, raw: &str) -> Result<(&'static ConfigDef, ConfigValue), ConfigError> {
    parse_entry(Scope::Broker, broker_def(name), name, raw)
}

/// Converts a broker synonym's value to its topic key's type and unit.
pub(crate) fn convert_synonym(
    value: &ConfigValue,
    unit: SynonymUnit,
    target: ConfigType,
) -> ConfigValue {
    let factor = match unit {
        SynonymUnit::Same => 1,
        SynonymUnit::MinutesToMillis => 60_000,
        SynonymUnit::HoursToMillis => 3_600_000,
    };
    match (target, value.as_i64()) {
        (ConfigType::Long, Some(v)) => ConfigValue::Long(v.saturating_mul(factor)),
        _ => value.clone(),
    }
}

impl BrokerConfig {
    /// A configuration with nothing set: every key at its default.
    pub fn new() -> BrokerConfig {
        BrokerConfig::default()
    }

    /// Builds the static configuration: defaults, then the properties
    /// file's entries, then `--set` overrides (later entries win). Every
    /// key must be known and every value valid; cross-key rules are checked
    /// last.
    pub fn from_sources(
        file_props: Vec<(String, String)>,
        overrides: Vec<(String, String)>,
    ) -> Result<BrokerConfig, ConfigError> {
        let mut config = BrokerConfig::default();
        for (name, raw) in file_props.iter().chain(overrides.iter()) {
            if name.starts_with(LISTENER_PREFIX) {
                let (listener, key, _, value) = listener_key(name, raw)?;
                config.listener_values.insert((listener, key), value);
                continue;
            }
            let (def, value) = lookup(name, raw)?;
            config.static_values.insert(def.name, value);
        }
        config.check_consistency()?;
        Ok(config)
    }

    /// The effective value of a key, or `None` for an unknown key or a key
    /// with no default that nobody set.
    pub fn get(&self, name: &str) -> Option<&ConfigValue> {
        self.get_with_source(name).map(|(v, _)| v)
    }

    /// The effective value and where it came from.
    pub fn get_with_source(&self, name: &str) -> Option<(&ConfigValue, ConfigSource)> {
        self.explicit(name).or_else(|| {
            defaults()
                .get(name)
                .map(|v| (v, ConfigSource::DefaultConfig))
        })
    }

    /// Where the effective value comes from: a dynamic level, static
    /// (`STATIC_BROKER_CONFIG`) when set in the file or with `--set`, and
    /// `DEFAULT_CONFIG` otherwise (also for a key with no value). `UNKNOWN`
    /// for a key that is not in the table.
    pub fn source(&self, name: &str) -> ConfigSource {
        if broker_def(name).is_none() {
            return ConfigSource::Unknown;
        }
        self.explicit(name)
            .map_or(ConfigSource::DefaultConfig, |(_, source)| source)
    }

    /// True when the key was set anywhere (statically or dynamically).
    pub fn is_set(&self, name: &str) -> bool {
        self.explicit(name).is_some()
    }

    /// The value set at the most specific level, ignoring the default.
    pub(crate) fn explicit(&self, name: &str) -> Option<(&ConfigValue, ConfigSource)> {
        [
            ConfigSource::DynamicBrokerConfig,
            ConfigSource::DynamicDefaultBrokerConfig,
            ConfigSource::StaticBrokerConfig,
        ]
        .into_iter()
        .find_map(|level| self.value_at(name, level).map(|v| (v, level)))
    }

    /// The value held at one level (the default level included).
    pub(crate) fn value_at(&self, name: &str, level: ConfigSource) -> Option<&ConfigValue> {
        match level {
            ConfigSource::DynamicBrokerConfig => self.dynamic_broker.get(name),
            ConfigSource::DynamicDefaultBrokerConfig => self.dynamic_default.get(name),
            ConfigSource::StaticBrokerConfig => self.static_values.get(name),
            ConfigSource::DefaultConfig => defaults().get(name),
            _ => None,
        }
    }

    /// The value behind a list of synonyms, converted to `target`: the first
    /// synonym set at any level wins; failing that, the first with a
    /// default. Also returns which synonym and level supplied it.
    pub(crate) fn synonym_value(
        &self,
        synonyms: &[BrokerSynonym],
        target: ConfigType,
    ) -> Option<(ConfigValue, &'static str, ConfigSource)> {
        let explicit = synonyms.iter().find_map(|s| {
            self.explicit(s.name)
                .map(|(v, level)| (convert_synonym(v, s.unit, target), s.name, level))
        });
        explicit.or_else(|| {
            synonyms.iter().find_map(|s| {
                defaults().get(s.name).map(|v| {
                    (
                        convert_synonym(v, s.unit, target),
                        s.name,
                        ConfigSource::DefaultConfig,
                    )
                })
            })
        })
    }

    /// Sets a key dynamically for this broker (`DYNAMIC_BROKER_CONFIG`).
    /// Allowed for per-broker and cluster-wide keys, not read-only ones.
    pub fn set_dynamic(&mut self, name: &str, value: &str) -> Result<(), ConfigError> {
        let (def, parsed) = lookup(name, value)?;
        if def.update_mode == UpdateMode::ReadOnly {
            return Err(ConfigError::ReadOnly {
                name: name.to_string(),
            });
        }
        let mut next = self.clone();
        next.dynamic_broker.insert(def.name, parsed);
        next.check_consistency()?;
        *self = next;
        Ok(())
    }

    /// Sets a key as the dynamic cluster-wide default
    /// (`DYNAMIC_DEFAULT_BROKER_CONFIG`). Allowed for cluster-wide keys only.
    pub fn set_dynamic_default(&mut self, name: &str, value: &str) -> Result<(), ConfigError> {
        let (def, parsed) = lookup(name, value)?;
        match def.update_mode {
            UpdateMode::ClusterWide => {}
            UpdateMode::PerBroker => {
                return Err(ConfigError::PerBrokerOnly {
                    name: name.to_string(),
                })
            }
            _ => {
                return Err(ConfigError::ReadOnly {
                    name: name.to_string(),
                })
            }
        }
        let mut next = self.clone();
        next.dynamic_default.insert(def.name, parsed);
        next.check_consistency()?;
        *self = next;
        Ok(())
    }

    /// Removes this broker's dynamic value of a key, if any.
    pub fn remove_dynamic(&mut self, name: &str) -> Result<(), ConfigError> {
        let def = self.known(name)?;
        let mut next = self.clone();
        next.dynamic_broker.remove(def.name);
        next.check_consistency()?;
        *self = next;
        Ok(())
    }

    /// Removes the dynamic cluster-wide default of a key, if any.
    pub fn remove_dynamic_default(&mut self, name: &str) -> Result<(), ConfigError> {
        let def = self.known(name)?;
        let mut next = self.clone();
        next.dynamic_default.remove(def.name);
        next.check_consistency()?;
        *self = next;
        Ok(())
    }

    fn known(&self, name: &str) -> Result<&'static ConfigDef, ConfigError> {
        broker_def(name).ok_or_else(|| ConfigError::UnknownKey {
            scope: Scope::Broker,
            name: name.to_string(),
            suggestion: suggest(Scope::Broker, name),
        })
    }

    /// Rules that involve more than one key.
    fn check_consistency(&self) -> Result<(), ConfigError> {
        let conflict = |message: String| Err(ConfigError::Conflict { message });

        if let (Some(node), Some(broker)) = (
            self.explicit("node.id").and_then(|(v, _)| v.as_i32()),
            self.explicit("broker.id").and_then(|(v, _)| v.as_i32()),
        ) {
            if broker >= 0 && node != broker {
                return conflict(format!(
                    "node.id ({node}) and broker.id ({broker}) must be equal when both are set"
                ));
            }
        }

        let map = self.listener_security_protocol_map();
        let controller_names = self.controller_listener_names();
        let listeners = self.listeners();
        for e in &listeners {
            let mapped = map.iter().any(|(n, _)| *n == e.listener_name);
            if !mapped && !controller_names.contains(&e.listener_name) {
                return conflict(format!(
                    "listener {} has no security protocol in listener.security.protocol.map",
                    e.listener_name
                ));
            }
        }
        if self.is_set("advertised.listeners") {
            for e in self.advertised_listeners() {
                if !listeners.iter().any(|l| l.listener_name == e.listener_name) {
                    return conflict(format!(
                        "advertised listener {} is not one of the listeners",
                        e.listener_name
                    ));
                }
            }
        }
        if self.is_set("inter.broker.listener.name")
            && self.is_set("security.inter.broker.protocol")
        {
            return conflict(
                "set only one of inter.broker.listener.name and security.inter.broker.protocol"
                    .to_string(),
            );
        }
        if let Some(class) = self.authorizer_class_name() {
            if class != STANDARD_AUTHORIZER {
                let why = if class == "kafka.security.authorizer.AclAuthorizer" {
                    "the ZooKeeper-based AclAuthorizer was removed in Kafka 4.0"
                } else {
                    "no other authorizer can be loaded"
                };
                return conflict(format!(
                    "authorizer.class.name={class} is not supported ({why}); set it to \
                     {STANDARD_AUTHORIZER} for ACLs, or leave it empty for none"
                ));
            }
        }
        let min_lag = self.long("log.cleaner.min.compaction.lag.ms");
        let max_lag = self.long("log.cleaner.max.compaction.lag.ms");
        if min_lag > max_lag {
            return conflict(format!(
                "log.cleaner.min.compaction.lag.ms ({min_lag}) is greater than log.cleaner.max.compaction.lag.ms ({max_lag})"
            ));
        }
        Ok(())
    }

    fn required(&self, name: &str) -> &ConfigValue {
        self.get(name)
            .unwrap_or_else(|| panic!("{name} has a default in the broker table"))
    }

    fn int(&self, name: &str) -> i32 {
        self.required(name)
            .as_i32()
            .unwrap_or_else(|| panic!("{name} is an int"))
    }

    fn short(&self, name: &str) -> i16 {
        match self.required(name) {
            ConfigValue::Short(v) => *v,
            _ => panic!("{name} is a short"),
        }
    }

    fn long(&self, name: &str) -> i64 {
        self.required(name)
            .as_i64()
            .unwrap_or_else(|| panic!("{name} is a number"))
    }

    fn boolean(&self, name: &str) -> bool {
        self.required(name)
            .as_bool()
            .unwrap_or_else(|| panic!("{name} is a boolean"))
    }

    fn double(&self, name: &str) -> f64 {
        self.required(name)
            .as_f64()
            .unwrap_or_else(|| panic!("{name} is a double"))
    }

    fn text(&self, name: &str) -> Option<&str> {
        self.get(name).and_then(ConfigValue::as_str)
    }

    fn list(&self, name: &str) -> Vec<String> {
        self.get(name)
            .and_then(ConfigValue::as_list)
            .map(<[String]>::to_vec)
            .unwrap_or_default()
    }

    /// Milliseconds behind a group of unit synonyms (ms, then minutes or
    /// hours), Kafka's derived values such as `logRetentionTimeMillis`.
    fn derived_ms(&self, synonyms: &[BrokerSynonym]) -> i64 {
        self.synonym_value(synonyms, ConfigType::Long)
            .and_then(|(v, _, _)| v.as_i64())
            .unwrap_or_else(|| panic!("{} has a default", synonyms[0].name))
    }
}

/// The class name of Kafka's KRaft authorizer: the one value of
/// `authorizer.class.name` that turns ACLs on.
pub const STANDARD_AUTHORIZER: &str = "org.apache.kafka.metadata.authorizer.StandardAuthorizer";

macro_rules! getters {
    ($($(#[$doc:meta])* $fn_name:ident -> $ty:ty = $conv:ident($key:literal);)*) => {
        impl BrokerConfig {
            $(
                $(#[$doc])*
                #[doc = concat!("\n\nThe value of `", $key, "`.")]
                pub fn $fn_name(&self) -> $ty {
                    self.$conv($key).into()
                }
            )*
        }
    };
}

getters! {
    /// Partitions given to topics created without a count.
    num_partitions -> i32 = int("num.partitions");
    /// Replication factor for auto-created topics and creates passing -1.
    default_replication_factor -> i32 = int("default.replication.factor");
    auto_create_topics_enable -> bool = boolean("auto.create.topics.enable");
    delete_topic_enable -> bool = boolean("delete.topic.enable");
    /// Broker default segment size (an int in Kafka; widened).
    log_segment_bytes -> i64 = long("log.segment.bytes");
    log_retention_bytes -> i64 = long("log.retention.bytes");
    log_retention_check_interval_ms -> i64 = long("log.retention.check.interval.ms");
    log_index_interval_bytes -> i32 = int("log.index.interval.bytes");
    log_index_size_max_bytes -> i32 = int("log.index.size.max.bytes");
    log_flush_interval_messages -> i64 = long("log.flush.interval.messages");
    log_flush_scheduler_interval_ms -> i64 = long("log.flush.scheduler.interval.ms");
    log_message_timestamp_before_max_ms -> i64 = long("log.message.timestamp.before.max.ms");
    log_message_timestamp_after_max_ms -> i64 = long("log.message.timestamp.after.max.ms");
    log_segment_delete_delay_ms -> i64 = long("log.segment.delete.delay.ms");
    log_preallocate -> bool = boolean("log.preallocate");
    log_cleaner_enable -> bool = boolean("log.cleaner.enable");
    log_cleaner_threads -> i32 = int("log.cleaner.threads");
    log_cleaner_min_cleanable_ratio -> f64 = double("log.cleaner.min.cleanable.ratio");
    log_cleaner_backoff_ms -> i64 = long("log.cleaner.backoff.ms");
    /// The cleaner's read plus write rate limit.
    log_cleaner_io_max_bytes_per_second -> f64 = double("log.cleaner.io.max.bytes.per.second");
    /// Memory for the cleaner's key map, in bytes.
    log_cleaner_dedupe_buffer_size -> i64 = long("log.cleaner.dedupe.buffer.size");
    /// Largest record batch accepted, broker-wide.
    message_max_bytes -> i32 = int("message.max.bytes");
    min_insync_replicas -> i32 = int("min.insync.replicas");
    unclean_leader_election_enable -> bool = boolean("unclean.leader.election.enable");
    socket_request_max_bytes -> i32 = int("socket.request.max.bytes");
    socket_send_buffer_bytes -> i32 = int("socket.send.buffer.bytes");
    socket_receive_buffer_bytes -> i32 = int("socket.receive.buffer.bytes");
    socket_listen_backlog_size -> i32 = int("socket.listen.backlog.size");
    connections_max_idle_ms -> i64 = long("connections.max.idle.ms");
    connections_max_reauth_ms -> i64 = long("connections.max.reauth.ms");
    connection_failed_authentication_delay_ms -> i32 = int("connection.failed.authentication.delay.ms");
    sasl_server_max_receive_size -> i32 = int("sasl.server.max.receive.size");
    num_network_threads -> i32 = int("num.network.threads");
    num_io_threads -> i32 = int("num.io.threads");
    background_threads -> i32 = int("background.threads");
    queued_max_requests -> i32 = int("queued.max.requests");
    queued_max_request_bytes -> i64 = long("queued.max.request.bytes");
    request_timeout_ms -> i32 = int("request.timeout.ms");
    replica_fetch_max_bytes -> i32 = int("replica.fetch.max.bytes");
    replica_fetch_response_max_bytes -> i32 = int("replica.fetch.response.max.bytes");
    replica_fetch_wait_max_ms -> i32 = int("replica.fetch.wait.max.ms");
    replica_fetch_min_bytes -> i32 = int("replica.fetch.min.bytes");
    replica_fetch_backoff_ms -> i32 = int("replica.fetch.backoff.ms");
    replica_lag_time_max_ms -> i64 = long("replica.lag.time.max.ms");
    auto_leader_rebalance_enable -> bool = boolean("auto.leader.rebalance.enable");
    leader_imbalance_check_interval_seconds -> i64 = long("leader.imbalance.check.interval.seconds");
    replica_high_watermark_checkpoint_interval_ms -> i64 = long("replica.high.watermark.checkpoint.interval.ms");
    num_replica_fetchers -> i32 = int("num.replica.fetchers");
    fetch_max_bytes -> i32 = int("fetch.max.bytes");
    offsets_topic_num_partitions -> i32 = int("offsets.topic.num.partitions");
    offsets_topic_replication_factor -> i16 = short("offsets.topic.replication.factor");
    offsets_topic_segment_bytes -> i32 = int("offsets.topic.segment.bytes");
    offsets_retention_minutes -> i32 = int("offsets.retention.minutes");
    offsets_retention_check_interval_ms -> i64 = long("offsets.retention.check.interval.ms");
    offsets_commit_timeout_ms -> i32 = int("offsets.commit.timeout.ms");
    offsets_load_buffer_size -> i32 = int("offsets.load.buffer.size");
    offset_metadata_max_bytes -> i32 = int("offset.metadata.max.bytes");
    group_initial_rebalance_delay_ms -> i32 = int("group.initial.rebalance.delay.ms");
    group_min_session_timeout_ms -> i32 = int("group.min.session.timeout.ms");
    group_max_session_timeout_ms -> i32 = int("group.max.session.timeout.ms");
    group_max_size -> i32 = int("group.max.size");
    group_consumer_session_timeout_ms -> i32 = int("group.consumer.session.timeout.ms");
    group_consumer_heartbeat_interval_ms -> i32 = int("group.consumer.heartbeat.interval.ms");
    group_consumer_max_size -> i32 = int("group.consumer.max.size");
    transaction_state_log_num_partitions -> i32 = int("transaction.state.log.num.partitions");
    transaction_state_log_replication_factor -> i16 = short("transaction.state.log.replication.factor");
    transaction_state_log_min_isr -> i32 = int("transaction.state.log.min.isr");
    transaction_state_log_segment_bytes -> i32 = int("transaction.state.log.segment.bytes");
    transaction_max_timeout_ms -> i32 = int("transaction.max.timeout.ms");
    transactional_id_expiration_ms -> i32 = int("transactional.id.expiration.ms");
    transaction_abort_timed_out_transaction_cleanup_interval_ms -> i32
        = int("transaction.abort.timed.out.transaction.cleanup.interval.ms");
    transaction_remove_expired_transaction_cleanup_interval_ms -> i32
        = int("transaction.remove.expired.transaction.cleanup.interval.ms");
    producer_id_expiration_ms -> i32 = int("producer.id.expiration.ms");
    max_connections -> i32 = int("max.connections");
    max_connections_per_ip -> i32 = int("max.connections.per.ip");
    max_connection_creation_rate -> i32 = int("max.connection.creation.rate");
    quota_window_num -> i32 = int("quota.window.num");
    leader_replication_throttled_rate -> i64 = long("leader.replication.throttled.rate");
    follower_replication_throttled_rate -> i64 = long("follower.replication.throttled.rate");
    replication_quota_window_num -> i32 = int("replication.quota.window.num");
    replication_quota_window_size_seconds -> i32 = int("replication.quota.window.size.seconds");
    quota_window_size_seconds -> i32 = int("quota.window.size.seconds");
    num_recovery_threads_per_data_dir -> i32 = int("num.recovery.threads.per.data.dir");
    broker_heartbeat_interval_ms -> i32 = int("broker.heartbeat.interval.ms");
    broker_session_timeout_ms -> i32 = int("broker.session.timeout.ms");
    controller_quorum_election_backoff_max_ms -> i32 = int("controller.quorum.election.backoff.max.ms");
    controller_quorum_election_timeout_ms -> i32 = int("controller.quorum.election.timeout.ms");
    controller_quorum_fetch_timeout_ms -> i32 = int("controller.quorum.fetch.timeout.ms");
    controller_quorum_request_timeout_ms -> i32 = int("controller.quorum.request.timeout.ms");
    controller_quorum_auto_join_enable -> bool = boolean("controller.quorum.auto.join.enable");
    controller_quorum_retry_backoff_ms -> i32 = int("controller.quorum.retry.backoff.ms");
    metadata_log_max_record_bytes_between_snapshots -> i64
        = long("metadata.log.max.record.bytes.between.snapshots");
    metadata_log_max_snapshot_interval_ms -> i64 = long("metadata.log.max.snapshot.interval.ms");
    metadata_max_retention_bytes -> i64 = long("metadata.max.retention.bytes");
    metadata_max_retention_ms -> i64 = long("metadata.max.retention.ms");
}

impl BrokerConfig {
    /// `node.id`, or `broker.id` when only that is set (and not -1). Kafka
    /// refuses to start without one; Vltava leaves that decision to the
    /// server, which may pick an id for a lone node.
    pub fn node_id(&self) -> Option<i32> {
        self.explicit("node.id")
            .and_then(|(v, _)| v.as_i32())
            .or_else(|| {
                self.get("broker.id")
                    .and_then(ConfigValue::as_i32)
                    .filter(|id| *id >= 0)
            })
    }

    pub fn process_roles(&self) -> ProcessRoles {
        let roles = self.list("process.roles");
        ProcessRoles {
            broker: roles.iter().any(|r| r == "broker"),
            controller: roles.iter().any(|r| r == "controller"),
        }
    }

    /// The listeners to bind.
    pub fn listeners(&self) -> Vec<Endpoint> {
        self.text("listeners")
            .and_then(|t| net::parse_endpoints(t).ok())
            .unwrap_or_default()
    }

    /// The listeners to publish: `advertised.listeners`, or `listeners`
    /// when that is not set.
    pub fn advertised_listeners(&self) -> Vec<Endpoint> {
        match self.text("advertised.listeners") {
            Some(t) => net::parse_endpoints(t).unwrap_or_default(),
            None => self.listeners(),
        }
    }

    /// Listener name (upper case) to security protocol.
    pub fn listener_security_protocol_map(&self) -> Vec<(String, SecurityProtocol)> {
        self.text("listener.security.protocol.map")
            .and_then(|t| net::parse_protocol_map(t).ok())
            .unwrap_or_default()
    }

    /// The security protocol of a listener; controller listeners that the
    /// map does not name speak PLAINTEXT, as in Kafka's KRaft mode.
    pub fn security_protocol_of(&self, listener_name: &str) -> Option<SecurityProtocol> {
        let name = listener_name.to_ascii_uppercase();
        self.listener_security_protocol_map()
            .into_iter()
            .find(|(n, _)| *n == name)
            .map(|(_, p)| p)
            .or_else(|| {
                self.controller_listener_names()
                    .contains(&name)
                    .then_some(SecurityProtocol::Plaintext)
            })
    }

    /// Upper-cased names from `controller.listener.names`.
    pub fn controller_listener_names(&self) -> Vec<String> {
        self.text("controller.listener.names")
            .map(|t| net::csv(t).map(str::to_ascii_uppercase).collect())
            .unwrap_or_default()
    }

    /// `inter.broker.listener.name`, or the name of
    /// `security.inter.broker.protocol` when that is not set.
    pub fn inter_broker_listener_name(&self) -> String {
        match self.text("inter.broker.listener.name") {
            Some(name) => name.trim().to_ascii_uppercase(),
            None => self
                .text("security.inter.broker.protocol")
                .unwrap_or("PLAINTEXT")
                .to_string(),
        }
    }

    pub fn controller_quorum_voters(&self) -> Vec<QuorumVoter> {
        net::parse_voters(&self.list("controller.quorum.voters")).unwrap_or_default()
    }

    pub fn controller_quorum_bootstrap_servers(&self) -> Vec<String> {
        self.list("controller.quorum.bootstrap.servers")
    }

    /// A setting as one listener sees it: `listener.name.<listener>.<key>`
    /// when set, else the broker-wide key (Kafka's per-listener override).
    pub fn listener_value(&self, listener: &str, key: &str) -> Option<&ConfigValue> {
        self.listener_values
            .get(&(listener.to_ascii_uppercase(), key.to_string()))
            .or_else(|| self.get(key))
    }

    /// An integer set for this listener itself
    /// (`listener.name.<listener>.<key>`), not inherited from the
    /// broker-wide key: for limits Kafka applies per listener on top of a
    /// broker-wide one.
    pub fn listener_only_int(&self, listener: &str, key: &str) -> Option<i32> {
        match self
            .listener_values
            .get(&(listener.to_ascii_uppercase(), key.to_string()))?
        {
            ConfigValue::Int(v) => Some(*v),
            _ => None,
        }
    }

    /// Text set for this listener itself (`listener.name.<listener>.<key>`),
    /// not inherited from the broker-wide key.
    pub fn listener_only_text(&self, listener: &str, key: &str) -> Option<String> {
        plain_text(
            self.listener_values
                .get(&(listener.to_ascii_uppercase(), key.to_string()))?,
        )
    }

    /// True when the key is set for the listener or broker-wide.
    pub fn listener_is_set(&self, listener: &str, key: &str) -> bool {
        self.listener_values
            .contains_key(&(listener.to_ascii_uppercase(), key.to_string()))
            || self.is_set(key)
    }

    /// Text of a listener's setting (see [`BrokerConfig::listener_value`]),
    /// secrets included, for the code that uses them (TLS keys, JAAS
    /// settings); lists are joined with commas, and an empty value is
    /// `None`.
    pub fn listener_text(&self, listener: &str, key: &str) -> Option<String> {
        plain_text(self.listener_value(listener, key)?)
    }

    /// A listener's list setting (empty when unset).
    pub fn listener_list(&self, listener: &str, key: &str) -> Vec<String> {
        self.listener_value(listener, key)
            .and_then(ConfigValue::as_list)
            .map(<[String]>::to_vec)
            .unwrap_or_default()
    }

    /// The JAAS settings of one SASL mechanism on one listener: Kafka's
    /// `listener.name.<listener>.<mechanism>.sasl.jaas.config`; failing
    /// that, the listener's or the broker's `sasl.jaas.config`.
    pub fn jaas_config(&self, listener: &str, mechanism: &str) -> Option<String> {
        let key = format!("{}.sasl.jaas.config", mechanism.to_ascii_lowercase());
        self.listener_values
            .get(&(listener.to_ascii_uppercase(), key))
            .and_then(plain_text)
            .or_else(|| self.listener_text(listener, "sasl.jaas.config"))
    }

    /// A SASL mechanism's setting on one listener, as Kafka looks it up for
    /// the mechanism's callback handler:
    /// `listener.name.<listener>.<mechanism>.<key>`, then the listener's
    /// `<key>`, then the broker's (the default last).
    pub fn mechanism_value(
        &self,
        listener: &str,
        mechanism: &str,
        key: &str,
    ) -> Option<&ConfigValue> {
        let prefixed = format!("{}.{key}", mechanism.to_ascii_lowercase());
        self.listener_values
            .get(&(listener.to_ascii_uppercase(), prefixed))
            .or_else(|| self.listener_value(listener, key))
    }

    /// The text of [`BrokerConfig::mechanism_value`] (lists joined with
    /// commas), `None` when unset or empty.
    pub fn mechanism_text(&self, listener: &str, mechanism: &str, key: &str) -> Option<String> {
        plain_text(self.mechanism_value(listener, mechanism, key)?)
    }

    /// `max.connections.per.ip.overrides`: `host:count` pairs.
    pub fn max_connections_per_ip_overrides(&self) -> &str {
        self.text("max.connections.per.ip.overrides").unwrap_or("")
    }

    /// `authorizer.class.name`, `None` when empty (no authorizer).
    pub fn authorizer_class_name(&self) -> Option<&str> {
        self.text("authorizer.class.name")
            .map(str::trim)
            .filter(|s| !s.is_empty())
    }

    /// Whether ACLs are in force: `authorizer.class.name` names Kafka's
    /// KRaft authorizer, the only one Kafka 4 ships (any other value is
    /// refused when the config is read).
    pub fn authorizer_enabled(&self) -> bool {
        self.authorizer_class_name() == Some(STANDARD_AUTHORIZER)
    }

    /// `allow.everyone.if.no.acl.found`: with an authorizer, a resource
    /// without any ACL is open to everyone.
    pub fn allow_everyone_if_no_acl_found(&self) -> bool {
        self.boolean("allow.everyone.if.no.acl.found")
    }

    /// `super.users`: principals the authorizer allows everything.
    pub fn super_users(&self) -> Vec<String> {
        self.text("super.users")
            .unwrap_or("")
            .split(';')
            .map(str::trim)
            .filter(|u| !u.is_empty())
            .map(str::to_string)
            .collect()
    }

    /// `http.listeners`: host:port addresses of the HTTP listener.
    pub fn http_listeners(&self) -> Vec<String> {
        self.list("http.listeners")
    }

    /// `http.listener.security.protocol=SSL`.
    pub fn http_tls(&self) -> bool {
        self.text("http.listener.security.protocol") == Some("SSL")
    }

    /// `http.authentication=basic`.
    pub fn http_requires_credentials(&self) -> bool {
        self.text("http.authentication") == Some("basic")
    }

    /// `delegation.token.secret.key`, or the deprecated
    /// `delegation.token.master.key`: `None` (or empty) disables
    /// delegation tokens, as in Kafka.
    pub fn delegation_token_secret(&self) -> Option<String> {
        ["delegation.token.secret.key", "delegation.token.master.key"]
            .into_iter()
            .find_map(|key| match self.get(key) {
                Some(ConfigValue::Password(p)) if !p.expose().is_empty() => {
                    Some(p.expose().to_string())
                }
                _ => None,
            })
    }

    /// `delegation.token.max.lifetime.ms`.
    pub fn delegation_token_max_lifetime_ms(&self) -> i64 {
        self.long("delegation.token.max.lifetime.ms")
    }

    /// `delegation.token.expiry.time.ms`.
    pub fn delegation_token_expiry_time_ms(&self) -> i64 {
        self.long("delegation.token.expiry.time.ms")
    }

    /// `delegation.token.expiry.check.interval.ms`.
    pub fn delegation_token_expiry_check_interval_ms(&self) -> i64 {
        self.long("delegation.token.expiry.check.interval.ms")
    }

    pub fn http_lag_intervals(&self) -> i32 {
        self.int("http.lag.intervals")
    }

    pub fn http_lag_sample_interval_ms(&self) -> i32 {
        self.int("http.lag.sample.interval.ms")
    }

    /// `http.lag.notifier.url`, `None` when empty (no notifications).
    /// Whether `replica.selector.class` names the rack-aware selector
    /// (the only value it accepts): leaders then send consumers with a
    /// `client.rack` to a replica in their rack (KIP-392).
    pub fn rack_aware_replica_selector(&self) -> bool {
        self.text("replica.selector.class")
            .is_some_and(|c| c == crate::defs::RACK_AWARE_REPLICA_SELECTOR)
    }

    pub fn http_lag_notifier_url(&self) -> Option<String> {
        self.text("http.lag.notifier.url")
            .map(str::trim)
            .filter(|u| !u.is_empty())
            .map(str::to_string)
    }

    pub fn http_lag_notifier_threshold(&self) -> String {
        self.text("http.lag.notifier.threshold")
            .unwrap_or("WARN")
            .to_string()
    }

    pub fn http_lag_notifier_timeout_ms(&self) -> i32 {
        self.int("http.lag.notifier.timeout.ms")
    }

    /// Data directories: `log.dirs`, or `log.dir` when that is not set.
    pub fn log_dirs(&self) -> Vec<String> {
        match self.text("log.dirs") {
            Some(dirs) => net::csv(dirs).map(str::to_string).collect(),
            None => self
                .text("log.dir")
                .map(|d| vec![d.to_string()])
                .unwrap_or_default(),
        }
    }

    /// The metadata log's segment size: `internal.metadata.log.segment.bytes`
    /// when set (tests), else `metadata.log.segment.bytes`.
    pub fn metadata_log_segment_bytes(&self) -> i32 {
        self.get("internal.metadata.log.segment.bytes")
            .and_then(ConfigValue::as_i32)
            .unwrap_or_else(|| self.int("metadata.log.segment.bytes"))
    }

    /// `metadata.log.dir`, or the first data directory.
    pub fn metadata_log_dir(&self) -> Option<String> {
        self.text("metadata.log.dir")
            .map(str::to_string)
            .or_else(|| self.log_dirs().into_iter().next())
    }

    /// `metadata.log.dir` as set, `None` when it is not.
    pub fn metadata_log_dir_setting(&self) -> Option<String> {
        self.text("metadata.log.dir").map(str::to_string)
    }

    pub fn broker_rack(&self) -> Option<String> {
        self.text("broker.rack").map(str::to_string)
    }

    /// Segment roll time: `log.roll.ms`, else `log.roll.hours` in ms.
    pub fn log_roll_ms(&self) -> i64 {
        self.derived_ms(synonyms_of("segment.ms"))
    }

    /// Roll jitter: `log.roll.jitter.ms`, else `log.roll.jitter.hours` in ms.
    pub fn log_roll_jitter_ms(&self) -> i64 {
        self.derived_ms(synonyms_of("segment.jitter.ms"))
    }

    /// Retention time: `log.retention.ms`, else `log.retention.minutes`,
    /// else `log.retention.hours`, in ms; any negative result is -1
    /// (no limit), as Kafka computes it.
    pub fn log_retention_ms(&self) -> i64 {
        let ms = self.derived_ms(synonyms_of("retention.ms"));
        if ms < 0 {
            -1
        } else {
            ms
        }
    }

    /// Flush interval: `log.flush.interval.ms`, else
    /// `log.flush.scheduler.interval.ms`.
    pub fn log_flush_interval_ms(&self) -> i64 {
        self.derived_ms(synonyms_of("flush.ms"))
    }

    pub fn log_cleanup_policy(&self) -> CleanupPolicy {
        CleanupPolicy::from_list(&self.list("log.cleanup.policy"))
    }

    pub fn log_message_timestamp_type(&self) -> TimestampType {
        TimestampType::from_name(self.text("log.message.timestamp.type").unwrap_or_default())
            .unwrap_or(TimestampType::CreateTime)
    }

    pub fn compression_type(&self) -> CompressionType {
        CompressionType::from_name(self.text("compression.type").unwrap_or_default())
            .unwrap_or(CompressionType::Producer)
    }

    /// `offsets.retention.minutes` in milliseconds.
    pub fn offsets_retention_ms(&self) -> i64 {
        i64::from(self.offsets_retention_minutes()) * 60_000
    }
}
