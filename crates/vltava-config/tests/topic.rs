//! TopicConfig: validation and effective values (topic override, then
//! broker synonym, then default).

use vltava_config::{
    BrokerConfig, CleanupPolicy, CompressionType, ConfigError, ConfigSource, ConfigValue,
    TimestampType, TopicConfig,
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

#[test]
fn precedence_topic_override_then_broker_set_then_default() {
    let defaults = BrokerConfig::new();
    let tuned = broker(&[("log.segment.bytes", "2097152")]);
    let none = TopicConfig::new();
    let over = topic(&[("segment.bytes", "3145728")]);

    assert_eq!(
        none.effective_with_source("segment.bytes", &defaults),
        Some((ConfigValue::Int(1_073_741_824), ConfigSource::DefaultConfig))
    );
    assert_eq!(
        none.effective_with_source("segment.bytes", &tuned),
        Some((
            ConfigValue::Int(2_097_152),
            ConfigSource::StaticBrokerConfig
        ))
    );
    assert_eq!(
        over.effective_with_source("segment.bytes", &tuned),
        Some((ConfigValue::Int(3_145_728), ConfigSource::TopicConfig))
    );
}

#[test]
fn dynamic_broker_values_reach_topics() {
    let mut b = broker(&[("message.max.bytes", "2000000")]);
    let t = TopicConfig::new();
    assert_eq!(t.resolve(&b).max_message_bytes, 2_000_000);
    b.set_dynamic_default("message.max.bytes", "3000000")
        .unwrap();
    assert_eq!(
        t.effective_with_source("max.message.bytes", &b),
        Some((
            ConfigValue::Int(3_000_000),
            ConfigSource::DynamicDefaultBrokerConfig
        ))
    );
    b.set_dynamic("message.max.bytes", "4000000").unwrap();
    assert_eq!(t.resolve(&b).max_message_bytes, 4_000_000);
}

#[test]
fn unit_synonyms_convert_to_milliseconds() {
    let t = TopicConfig::new();
    assert_eq!(
        t.effective("retention.ms", &broker(&[("log.retention.hours", "2")])),
        Some(ConfigValue::Long(7_200_000))
    );
    assert_eq!(
        t.effective("retention.ms", &broker(&[("log.retention.minutes", "3")])),
        Some(ConfigValue::Long(180_000))
    );
    assert_eq!(
        t.effective("retention.ms", &broker(&[("log.retention.ms", "-7")])),
        Some(ConfigValue::Long(-1))
    );
    assert_eq!(
        t.effective("segment.ms", &broker(&[("log.roll.hours", "1")])),
        Some(ConfigValue::Long(3_600_000))
    );
    assert_eq!(
        t.effective(
            "segment.jitter.ms",
            &broker(&[("log.roll.jitter.hours", "1")])
        ),
        Some(ConfigValue::Long(3_600_000))
    );
    assert_eq!(
        t.effective(
            "flush.ms",
            &broker(&[("log.flush.scheduler.interval.ms", "5")])
        ),
        Some(ConfigValue::Long(5))
    );
    // When several are set, ms beats minutes beats hours.
    let b = broker(&[("log.retention.hours", "2"), ("log.retention.minutes", "3")]);
    assert_eq!(
        t.effective_with_source("retention.ms", &b),
        Some((ConfigValue::Long(180_000), ConfigSource::StaticBrokerConfig))
    );
    // A topic override is in ms whatever the broker uses.
    assert_eq!(
        topic(&[("retention.ms", "5")]).effective("retention.ms", &b),
        Some(ConfigValue::Long(5))
    );
}

#[test]
fn keys_without_broker_synonym_use_the_topic_default() {
    let b = BrokerConfig::new();
    let t = TopicConfig::new();
    assert_eq!(
        t.effective_with_source("remote.storage.enable", &b),
        Some((ConfigValue::Boolean(false), ConfigSource::DefaultConfig))
    );
    assert_eq!(
        t.effective("leader.replication.throttled.replicas", &b),
        Some(ConfigValue::List(vec![]))
    );
    assert_eq!(t.effective("internal.segment.bytes", &b), None);
    assert_eq!(t.effective("no.such.key", &b), None);
}

#[test]
fn resolve_defaults() {
    let e = TopicConfig::new().resolve(&BrokerConfig::new());
    assert_eq!(
        e.cleanup_policy,
        CleanupPolicy {
            delete: true,
            compact: false
        }
    );
    assert_eq!(e.compression_type, CompressionType::Producer);
    assert_eq!(
        (
            e.compression_gzip_level,
            e.compression_lz4_level,
            e.compression_zstd_level
        ),
        (-1, 9, 3)
    );
    assert_eq!(e.delete_retention_ms, 86_400_000);
    assert_eq!(e.file_delete_delay_ms, 60_000);
    assert_eq!(e.flush_messages, i64::MAX);
    assert_eq!(e.flush_ms, i64::MAX);
    assert_eq!(e.index_interval_bytes, 4096);
    assert_eq!(
        e.local_retention_bytes, -1,
        "-2 resolves to retention.bytes"
    );
    assert_eq!(
        e.local_retention_ms, 604_800_000,
        "-2 resolves to retention.ms"
    );
    assert_eq!(e.max_compaction_lag_ms, i64::MAX);
    assert_eq!(e.max_message_bytes, 1_048_588);
    assert!(e.message_downconversion_enable);
    assert_eq!(e.message_format_version, "3.0-IV1");
    assert_eq!(e.message_timestamp_after_max_ms, 3_600_000);
    assert_eq!(e.message_timestamp_before_max_ms, i64::MAX);
    assert_eq!(e.message_timestamp_type, TimestampType::CreateTime);
    assert_eq!(e.min_cleanable_dirty_ratio, 0.5);
    assert_eq!(e.min_compaction_lag_ms, 0);
    assert_eq!(e.min_insync_replicas, 1);
    assert!(!e.preallocate);
    assert!(
        !e.remote_storage_enable && !e.remote_log_copy_disable && !e.remote_log_delete_on_disable
    );
    assert_eq!(e.retention_bytes, -1);
    assert_eq!(e.retention_ms, 604_800_000);
    assert_eq!(e.segment_bytes, 1_073_741_824);
    assert_eq!(e.segment_index_bytes, 10_485_760);
    assert_eq!(e.segment_jitter_ms, 0);
    assert_eq!(e.segment_ms, 604_800_000);
    assert!(!e.unclean_leader_election_enable);
    assert!(e.leader_replication_throttled_replicas.is_empty());
    assert_eq!(e.max_segment_ms(), 604_800_000);
    assert_eq!(e.initial_segment_file_size(), 0);
}

#[test]
fn resolve_with_overrides_and_broker_values() {
    let b = broker(&[
        ("log.cleanup.policy", "compact"),
        ("log.message.timestamp.type", "LogAppendTime"),
        ("compression.type", "zstd"),
    ]);
    let t = topic(&[
        ("cleanup.policy", "compact,delete"),
        ("max.compaction.lag.ms", "60000"),
        ("segment.ms", "120000"),
        ("preallocate", "true"),
        ("segment.bytes", "1048576"),
        ("local.retention.ms", "1000"),
    ]);
    let e = t.resolve(&b);
    assert_eq!(
        e.cleanup_policy,
        CleanupPolicy {
            delete: true,
            compact: true
        }
    );
    assert_eq!(e.message_timestamp_type, TimestampType::LogAppendTime);
    assert_eq!(e.compression_type, CompressionType::Zstd);
    assert_eq!(
        e.max_segment_ms(),
        60_000,
        "compaction lag cuts the roll time"
    );
    assert_eq!(e.initial_segment_file_size(), 1_048_576);
    assert_eq!(e.local_retention_ms, 1000);

    let neither = topic(&[("cleanup.policy", "")]).resolve(&b);
    assert_eq!(neither.cleanup_policy, CleanupPolicy::default());
}

#[test]
fn internal_segment_bytes_allows_small_segments_for_tests() {
    let e = topic(&[("internal.segment.bytes", "1024")]).resolve(&BrokerConfig::new());
    assert_eq!(e.segment_bytes, 1024);
    assert!(TopicConfig::from_overrides([("segment.bytes", "1024")]).is_err());
}

#[test]
fn deprecated_timestamp_difference_fills_unset_directions_only() {
    let b = BrokerConfig::new();
    let e = topic(&[("message.timestamp.difference.max.ms", "1000")]).resolve(&b);
    assert_eq!(
        (
            e.message_timestamp_before_max_ms,
            e.message_timestamp_after_max_ms
        ),
        (1000, 1000)
    );
    let e = topic(&[
        ("message.timestamp.difference.max.ms", "1000"),
        ("message.timestamp.after.max.ms", "5"),
    ])
    .resolve(&b);
    assert_eq!(
        (
            e.message_timestamp_before_max_ms,
            e.message_timestamp_after_max_ms
        ),
        (1000, 5)
    );
    let via_broker = broker(&[("log.message.timestamp.difference.max.ms", "7")]);
    let e = TopicConfig::new().resolve(&via_broker);
    assert_eq!(
        (
            e.message_timestamp_before_max_ms,
            e.message_timestamp_after_max_ms
        ),
        (7, 7)
    );
}

#[test]
fn overrides_round_trip_as_text() {
    let t = topic(&[
        ("cleanup.policy", " compact , delete "),
        ("retention.ms", " 1000 "),
    ]);
    let text = t.to_strings();
    assert_eq!(
        text.get("cleanup.policy").map(String::as_str),
        Some("compact,delete")
    );
    assert_eq!(text.get("retention.ms").map(String::as_str), Some("1000"));
    assert_eq!(TopicConfig::from_overrides(&text).unwrap(), t);
    assert_eq!(t.overrides().count(), 2);
    assert!(!t.is_empty());
    assert_eq!(t.get("retention.ms"), Some(&ConfigValue::Long(1000)));
}

#[test]
fn cross_key_rules_can_use_the_broker() {
    let t = topic(&[("min.compaction.lag.ms", "5000")]);
    assert!(t.check_against(&BrokerConfig::new()).is_ok());
    let b = broker(&[("log.cleaner.max.compaction.lag.ms", "1000")]);
    let err = t.check_against(&b).unwrap_err();
    assert!(matches!(err, ConfigError::Conflict { .. }));
    assert!(
        err.to_string().contains("5000") && err.to_string().contains("1000"),
        "{err}"
    );
}
