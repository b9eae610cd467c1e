//! DescribeConfigs entries: values, sources, synonym order, sensitivity,
//! read-only flags, types and docs.

use vltava_config::{
    described_topic_keys, BrokerConfig, ConfigSource, ConfigType, DescribedConfig,
    DescribedSynonym, TopicConfig, BROKER_CONFIGS,
};

use ConfigSource::{
    DefaultConfig, DynamicBrokerConfig, DynamicDefaultBrokerConfig, StaticBrokerConfig,
    TopicConfig as TopicSource,
};

fn broker(items: &[(&str, &str)]) -> BrokerConfig {
    let props = items
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    BrokerConfig::from_sources(props, vec![]).expect("valid broker config")
}

fn topic(items: &[(&str, &str)]) -> TopicConfig {
    TopicConfig::from_overrides(items.iter().copied()).expect("valid topic config")
}

fn syn(name: &'static str, value: Option<&str>, source: ConfigSource) -> DescribedSynonym {
    DescribedSynonym {
        name,
        value: value.map(str::to_string),
        source,
    }
}

fn find_topic(t: &TopicConfig, b: &BrokerConfig, name: &str) -> DescribedConfig {
    t.describe(b)
        .find(|d| d.name == name)
        .unwrap_or_else(|| panic!("{name} not described"))
}

fn find_broker(b: &BrokerConfig, name: &str) -> DescribedConfig {
    b.describe()
        .find(|d| d.name == name)
        .unwrap_or_else(|| panic!("{name} not described"))
}

/// A broker with retention set at several levels and in two units.
fn layered_broker() -> BrokerConfig {
    let mut b = broker(&[("log.retention.ms", "2000"), ("log.retention.hours", "24")]);
    b.set_dynamic_default("log.retention.ms", "3000").unwrap();
    b
}

#[test]
fn topic_override_comes_first_then_every_broker_level_most_specific_first() {
    let b = layered_broker();
    let d = find_topic(&topic(&[("retention.ms", "1000")]), &b, "retention.ms");
    assert_eq!(d.value.as_deref(), Some("1000"));
    assert_eq!(d.source, TopicSource);
    assert_eq!(
        d.synonyms,
        vec![
            syn("retention.ms", Some("1000"), TopicSource),
            syn("log.retention.ms", Some("3000"), DynamicDefaultBrokerConfig),
            syn("log.retention.ms", Some("2000"), StaticBrokerConfig),
            syn("log.retention.hours", Some("24"), StaticBrokerConfig),
            syn("log.retention.hours", Some("168"), DefaultConfig),
        ]
    );
    assert!(!d.read_only);
    assert!(!d.is_sensitive);
    assert_eq!(d.config_type, ConfigType::Long);
    assert_eq!(d.config_type.describe_code(), 5);
    assert!(!d.documentation.is_empty());
}

#[test]
fn without_override_the_most_specific_broker_level_wins() {
    let mut b = layered_broker();
    let t = TopicConfig::new();
    let d = find_topic(&t, &b, "retention.ms");
    assert_eq!(d.value.as_deref(), Some("3000"));
    assert_eq!(d.source, DynamicDefaultBrokerConfig);
    assert_eq!(
        d.synonyms[0],
        syn("log.retention.ms", Some("3000"), DynamicDefaultBrokerConfig)
    );

    b.set_dynamic("log.retention.ms", "4000").unwrap();
    let d = find_topic(&t, &b, "retention.ms");
    assert_eq!(d.value.as_deref(), Some("4000"));
    assert_eq!(d.source, DynamicBrokerConfig);
    assert_eq!(d.synonyms.len(), 5);
}

#[test]
fn value_derived_from_hours_reports_the_hours_key() {
    let d = find_topic(
        &TopicConfig::new(),
        &broker(&[("log.retention.hours", "24")]),
        "retention.ms",
    );
    assert_eq!(d.value.as_deref(), Some("86400000"));
    assert_eq!(d.source, StaticBrokerConfig);
    assert_eq!(
        d.synonyms,
        vec![
            syn("log.retention.hours", Some("24"), StaticBrokerConfig),
            syn("log.retention.hours", Some("168"), DefaultConfig),
        ]
    );
}

#[test]
fn untouched_topic_keys() {
    let b = BrokerConfig::new();
    let t = TopicConfig::new();
    let d = find_topic(&t, &b, "segment.bytes");
    assert_eq!(d.value.as_deref(), Some("1073741824"));
    assert_eq!(d.source, DefaultConfig);
    assert_eq!(
        d.synonyms,
        vec![syn("log.segment.bytes", Some("1073741824"), DefaultConfig)]
    );
    assert_eq!(d.config_type.describe_code(), 3);

    let d = find_topic(&t, &b, "remote.storage.enable");
    assert_eq!(d.value.as_deref(), Some("false"));
    assert_eq!(d.source, DefaultConfig);
    assert!(d.synonyms.is_empty());
    assert_eq!(d.config_type, ConfigType::Boolean);

    let d = find_topic(&t, &b, "cleanup.policy");
    assert_eq!(d.value.as_deref(), Some("delete"));
    assert_eq!(d.config_type.describe_code(), 7);

    let d = find_topic(&t, &b, "min.cleanable.dirty.ratio");
    assert_eq!(d.value.as_deref(), Some("0.5"));
    assert_eq!(d.config_type.describe_code(), 6);

    let d = find_topic(&t, &b, "leader.replication.throttled.replicas");
    assert_eq!(d.value.as_deref(), Some(""));
}

#[test]
fn every_public_topic_key_is_described_once_and_internal_ones_never() {
    let t = topic(&[("internal.segment.bytes", "1024")]);
    let names: Vec<&str> = t.describe(&BrokerConfig::new()).map(|d| d.name).collect();
    assert_eq!(names, described_topic_keys().collect::<Vec<_>>());
    assert!(!names.contains(&"internal.segment.bytes"));
    assert!(names.contains(&"retention.ms"));
}

#[test]
fn broker_static_and_default_sources() {
    let b = broker(&[("num.partitions", "3")]);
    let d = find_broker(&b, "num.partitions");
    assert_eq!(d.value.as_deref(), Some("3"));
    assert_eq!(d.source, StaticBrokerConfig);
    assert_eq!(
        d.synonyms,
        vec![
            syn("num.partitions", Some("3"), StaticBrokerConfig),
            syn("num.partitions", Some("1"), DefaultConfig)
        ]
    );
    assert!(d.read_only);
    assert_eq!(d.config_type.describe_code(), 3);

    let d = find_broker(&b, "num.io.threads");
    assert_eq!(d.source, DefaultConfig);
    assert!(!d.read_only, "num.io.threads is cluster-wide");

    let d = find_broker(&b, "offsets.topic.replication.factor");
    assert_eq!(d.config_type, ConfigType::Short);
    assert_eq!(d.config_type.describe_code(), 4);
}

#[test]
fn broker_dynamic_sources() {
    let mut b = BrokerConfig::new();
    b.set_dynamic_default("num.io.threads", "16").unwrap();
    b.set_dynamic("num.io.threads", "4").unwrap();
    let d = find_broker(&b, "num.io.threads");
    assert_eq!(d.value.as_deref(), Some("4"));
    assert_eq!(d.source, DynamicBrokerConfig);
    assert_eq!(
        d.synonyms,
        vec![
            syn("num.io.threads", Some("4"), DynamicBrokerConfig),
            syn("num.io.threads", Some("16"), DynamicDefaultBrokerConfig),
            syn("num.io.threads", Some("8"), DefaultConfig),
        ]
    );
}

#[test]
fn broker_unit_synonyms_start_at_the_described_key() {
    // Unset log.retention.ms has no value; its synonym list would begin
    // with log.retention.hours, which Kafka trims away.
    let b = BrokerConfig::new();
    let d = find_broker(&b, "log.retention.ms");
    assert_eq!(d.value, None);
    assert_eq!(d.source, DefaultConfig);
    assert!(d.synonyms.is_empty());

    let b = broker(&[("log.retention.ms", "1000"), ("log.retention.hours", "24")]);
    let d = find_broker(&b, "log.retention.ms");
    assert_eq!(
        d.synonyms,
        vec![
            syn("log.retention.ms", Some("1000"), StaticBrokerConfig),
            syn("log.retention.hours", Some("24"), StaticBrokerConfig),
            syn("log.retention.hours", Some("168"), DefaultConfig),
        ]
    );
    let d = find_broker(&b, "log.retention.hours");
    assert_eq!(d.value.as_deref(), Some("24"));
    assert_eq!(
        d.synonyms,
        vec![
            syn("log.retention.hours", Some("24"), StaticBrokerConfig),
            syn("log.retention.hours", Some("168"), DefaultConfig)
        ]
    );
}

#[test]
fn sensitive_values_are_hidden_everywhere() {
    let mut b = broker(&[("ssl.keystore.password", "hunter2")]);
    let d = find_broker(&b, "ssl.keystore.password");
    assert_eq!(d.value, None);
    assert!(d.is_sensitive);
    assert_eq!(d.source, StaticBrokerConfig);
    assert_eq!(
        d.synonyms,
        vec![syn("ssl.keystore.password", None, StaticBrokerConfig)]
    );
    assert_eq!(d.config_type.describe_code(), 9);
    assert!(!d.read_only, "per-broker key");

    b.set_dynamic("ssl.keystore.password", "s3cret").unwrap();
    let d = find_broker(&b, "ssl.keystore.password");
    assert_eq!(d.source, DynamicBrokerConfig);
    assert!(d.synonyms.iter().all(|s| s.value.is_none()));
    let everything = format!("{:?}", b.describe().collect::<Vec<_>>());
    assert!(!everything.contains("hunter2") && !everything.contains("s3cret"));

    let unset = find_broker(&BrokerConfig::new(), "sasl.jaas.config");
    assert!(unset.is_sensitive && unset.value.is_none() && unset.synonyms.is_empty());
}

#[test]
fn every_public_broker_key_is_described() {
    let described = BrokerConfig::new().describe().count();
    assert_eq!(
        described,
        BROKER_CONFIGS.iter().filter(|d| !d.internal).count()
    );
    for d in BrokerConfig::new().describe() {
        assert!(!d.documentation.is_empty());
        assert_ne!(d.config_type.describe_code(), 0);
    }
}

#[test]
fn source_codes_on_the_wire() {
    assert_eq!(
        [
            TopicSource,
            DynamicBrokerConfig,
            DynamicDefaultBrokerConfig,
            StaticBrokerConfig,
            DefaultConfig
        ]
        .map(|s| s.code()),
        [1, 2, 3, 4, 5]
    );
    assert_eq!(ConfigSource::Unknown.code(), 0);
    assert_eq!(ConfigSource::DynamicBrokerLoggerConfig.code(), 6);
    assert_eq!(ConfigSource::ClientMetricsConfig.code(), 7);
}
