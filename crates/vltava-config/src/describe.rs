//! What DescribeConfigs reports for a broker or a topic.

use crate::broker::BrokerConfig;
use crate::defs::{BROKER_CONFIGS, TOPIC_CONFIGS};
use crate::topic::TopicConfig;
use crate::types::{ConfigDef, ConfigSource, ConfigType, ConfigValue};

/// The levels a broker value can come from, most specific first.
const BROKER_LEVELS: [ConfigSource; 4] = [
    ConfigSource::DynamicBrokerConfig,
    ConfigSource::DynamicDefaultBrokerConfig,
    ConfigSource::StaticBrokerConfig,
    ConfigSource::DefaultConfig,
];

/// The broker keys that express one setting in different units, in
/// precedence order (Kafka's `brokerConfigSynonyms`): derived from the
/// topic table's multi-synonym entries, or just the key itself.
fn broker_synonym_group(name: &'static str) -> Vec<&'static str> {
    TOPIC_CONFIGS
        .iter()
        .find(|d| d.synonyms.len() > 1 && d.synonyms.iter().any(|s| s.name == name))
        .map(|d| d.synonyms.iter().map(|s| s.name).collect())
        .unwrap_or_else(|| vec![name])
}

/// One synonym of a described key: another place a value is set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DescribedSynonym {
    pub name: &'static str,
    /// `None` for a sensitive key.
    pub value: Option<String>,
    pub source: ConfigSource,
}

/// One entry of a DescribeConfigs result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DescribedConfig {
    pub name: &'static str,
    /// `None` for a sensitive key or a key with no value.
    pub value: Option<String>,
    /// Where `value` comes from: the source of the first synonym, or
    /// `DEFAULT_CONFIG` when there are none.
    pub source: ConfigSource,
    pub read_only: bool,
    pub is_sensitive: bool,
    /// Every level that holds a value for this key or its synonyms, most
    /// specific first (Kafka's order).
    pub synonyms: Vec<DescribedSynonym>,
    /// Use [`ConfigType::describe_code`] for the wire code.
    pub config_type: ConfigType,
    pub documentation: &'static str,
}

fn shown(def: &ConfigDef, value: &ConfigValue) -> Option<String> {
    if def.is_sensitive() {
        None
    } else {
        value.describe_string()
    }
}

/// The broker-level synonyms of `names` in Kafka's order: every level
/// from most to least specific, and within a level the names in precedence
/// order.
fn broker_synonyms(
    broker: &BrokerConfig,
    names: &[&'static str],
    sensitive: bool,
) -> Vec<DescribedSynonym> {
    let mut out = Vec::new();
    for level in BROKER_LEVELS {
        for &name in names {
            if let Some(v) = broker.value_at(name, level) {
                out.push(DescribedSynonym {
                    name,
                    value: if sensitive { None } else { v.describe_string() },
                    source: level,
                });
            }
        }
    }
    out
}

impl BrokerConfig {
    /// Describes every (non-internal) broker key, in name order.
    ///
    /// Synonyms follow Kafka: a key that shares its setting with other
    /// keys (`log.retention.ms`/`.minutes`/`.hours`, `log.roll.ms`/`.hours`,
    /// ...) lists them all, levels first, and the list starts at the first
    /// entry for the described key itself.
    pub fn describe(&self) -> impl Iterator<Item = DescribedConfig> + '_ {
        BROKER_CONFIGS
            .iter()
            .filter(|d| !d.internal)
            .map(move |def| self.describe_one(def))
    }

    fn describe_one(&self, def: &'static ConfigDef) -> DescribedConfig {
        let group = broker_synonym_group(def.name);
        let all = broker_synonyms(self, &group, def.is_sensitive());
        let synonyms: Vec<DescribedSynonym> =
            all.into_iter().skip_while(|s| s.name != def.name).collect();
        DescribedConfig {
            name: def.name,
            value: self.get(def.name).and_then(|v| shown(def, v)),
            source: synonyms
                .first()
                .map_or(ConfigSource::DefaultConfig, |s| s.source),
            read_only: def.is_read_only(),
            is_sensitive: def.is_sensitive(),
            synonyms,
            config_type: def.ty,
            documentation: def.doc,
        }
    }
}

impl TopicConfig {
    /// Describes every (non-internal) topic key for this topic on this
    /// broker, in name order.
    ///
    /// The value is the effective one ([`TopicConfig::effective`]). The
    /// synonyms are the topic override (`TOPIC_CONFIG`) if there is one,
    /// then every level of every broker synonym, most specific level first
    /// (for `retention.ms`: dynamic `log.retention.ms`, ..., static
    /// `log.retention.hours`, default `log.retention.hours`). The source is
    /// the first synonym's. Topic keys are never read-only.
    ///
    /// Kafka also trims the broker part of this list so it starts at the
    /// primary synonym, which hides a static `log.retention.hours`; Vltava
    /// keeps it, so the source of a value derived from the hours or minutes
    /// form is reported truthfully.
    pub fn describe<'a>(
        &'a self,
        broker: &'a BrokerConfig,
    ) -> impl Iterator<Item = DescribedConfig> + 'a {
        TOPIC_CONFIGS
            .iter()
            .filter(|d| !d.internal)
            .map(move |def| self.describe_one(def, broker))
    }

    fn describe_one(&self, def: &'static ConfigDef, broker: &BrokerConfig) -> DescribedConfig {
        let value = self.effective(def.name, broker);
        let mut synonyms = Vec::new();
        if let Some(v) = self.get(def.name) {
            synonyms.push(DescribedSynonym {
                name: def.name,
                value: shown(def, v),
                source: ConfigSource::TopicConfig,
            });
        }
        let names: Vec<&'static str> = def.synonyms.iter().map(|s| s.name).collect();
        synonyms.extend(broker_synonyms(broker, &names, def.is_sensitive()));
        DescribedConfig {
            name: def.name,
            value: value.as_ref().and_then(|v| shown(def, v)),
            source: synonyms
                .first()
                .map_or(ConfigSource::DefaultConfig, |s| s.source),
            read_only: false,
            is_sensitive: def.is_sensitive(),
            synonyms,
            config_type: def.ty,
            documentation: def.doc,
        }
    }
}
