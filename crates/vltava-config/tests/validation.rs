//! Unknown keys, each validator kind, and the wording of the errors.

use vltava_config::{
    validate_topic_configs, BrokerConfig, ConfigError, ConfigType, ConfigValue, Scope, Validator,
    INVALID_CONFIG,
};

fn broker_with(key: &str, value: &str) -> Result<BrokerConfig, ConfigError> {
    BrokerConfig::from_sources(vec![], vec![(key.to_string(), value.to_string())])
}

fn topic_with(key: &str, value: &str) -> Result<(), ConfigError> {
    validate_topic_configs(&[(key.to_string(), Some(value.to_string()))])
}

/// Asserts an InvalidValue error that names key, value and (part of) the rule.
fn assert_invalid(
    result: Result<impl std::fmt::Debug, ConfigError>,
    key: &str,
    value: &str,
    rule: &str,
) {
    let err = result.expect_err("must be rejected");
    match &err {
        ConfigError::InvalidValue {
            name,
            value: v,
            reason,
        } => {
            assert_eq!(name, key);
            assert_eq!(v, value);
            assert!(reason.contains(rule), "reason {reason:?} lacks {rule:?}");
        }
        other => panic!("expected InvalidValue, got {other:?}"),
    }
    let message = err.to_string();
    assert!(
        message.contains(key) && message.contains(value),
        "{message}"
    );
    assert_eq!(err.error_code(), INVALID_CONFIG);
    assert_eq!(err.key(), Some(key));
}

#[test]
fn unknown_broker_key_names_it_and_suggests() {
    let err = broker_with("num.partiton", "3").unwrap_err();
    assert_eq!(
        err,
        ConfigError::UnknownKey {
            scope: Scope::Broker,
            name: "num.partiton".into(),
            suggestion: Some("num.partitions"),
        }
    );
    assert_eq!(
        err.to_string(),
        "Unknown broker config name: num.partiton (did you mean num.partitions?)"
    );
}

#[test]
fn unknown_key_in_a_file_is_an_error_too() {
    let err = BrokerConfig::from_sources(vec![("log.retention.hour".into(), "1".into())], vec![])
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("did you mean log.retention.hours?"),
        "{err}"
    );
}

#[test]
fn topic_key_given_to_the_broker_suggests_its_broker_synonym() {
    let err = broker_with("retention.ms", "1000").unwrap_err();
    assert!(
        err.to_string().contains("did you mean log.retention.ms?"),
        "{err}"
    );
    let err = broker_with("max.message.bytes", "1000").unwrap_err();
    assert!(
        err.to_string().contains("did you mean message.max.bytes?"),
        "{err}"
    );
}

#[test]
fn unknown_topic_key_suggests() {
    let err = topic_with("retention.msec", "1").unwrap_err();
    assert_eq!(
        err.to_string(),
        "Unknown topic config name: retention.msec (did you mean retention.ms?)"
    );
    let err = topic_with("log.segment.bytes", "1048576").unwrap_err();
    assert!(
        err.to_string().contains("did you mean segment.bytes?"),
        "{err}"
    );
    let err = topic_with("zzz", "1").unwrap_err();
    assert_eq!(err.to_string(), "Unknown topic config name: zzz");
    assert_eq!(err.error_code(), INVALID_CONFIG);
}

#[test]
fn type_errors() {
    assert_invalid(
        broker_with("num.partitions", "three"),
        "num.partitions",
        "three",
        "32-bit integer",
    );
    assert_invalid(
        broker_with("num.partitions", "3000000000"),
        "num.partitions",
        "3000000000",
        "32-bit integer",
    );
    assert_invalid(
        broker_with("log.retention.ms", "1.5"),
        "log.retention.ms",
        "1.5",
        "64-bit integer",
    );
    assert_invalid(
        broker_with("log.preallocate", "yes"),
        "log.preallocate",
        "yes",
        "true or false",
    );
    assert_invalid(
        broker_with("offsets.topic.replication.factor", "70000"),
        "offsets.topic.replication.factor",
        "70000",
        "16-bit integer",
    );
    assert_invalid(
        topic_with("min.cleanable.dirty.ratio", "half"),
        "min.cleanable.dirty.ratio",
        "half",
        "number",
    );
}

#[test]
fn at_least() {
    assert_invalid(
        broker_with("num.partitions", "0"),
        "num.partitions",
        "0",
        "at least 1",
    );
    assert_invalid(
        topic_with("segment.bytes", "1000"),
        "segment.bytes",
        "1000",
        "at least 1048576",
    );
    assert_invalid(
        topic_with("retention.ms", "-2"),
        "retention.ms",
        "-2",
        "at least -1",
    );
    assert!(topic_with("retention.ms", "-1").is_ok());
    assert_invalid(
        broker_with("fetch.max.bytes", "1023"),
        "fetch.max.bytes",
        "1023",
        "at least 1024",
    );
}

#[test]
fn between() {
    assert_invalid(
        broker_with("compression.lz4.level", "18"),
        "compression.lz4.level",
        "18",
        "between 1 and 17",
    );
    assert_invalid(
        topic_with("compression.zstd.level", "23"),
        "compression.zstd.level",
        "23",
        "between",
    );
    assert!(topic_with("compression.zstd.level", "-5").is_ok());
}

#[test]
fn double_between() {
    assert_invalid(
        broker_with("log.cleaner.min.cleanable.ratio", "1.5"),
        "log.cleaner.min.cleanable.ratio",
        "1.5",
        "between 0.0 and 1.0",
    );
    assert_invalid(
        topic_with("min.cleanable.dirty.ratio", "-0.1"),
        "min.cleanable.dirty.ratio",
        "-0.1",
        "between",
    );
    assert!(topic_with("min.cleanable.dirty.ratio", "1").is_ok());
}

#[test]
fn one_of_is_case_sensitive_like_kafka() {
    assert_invalid(
        topic_with("compression.type", "brotli"),
        "compression.type",
        "brotli",
        "one of: uncompressed",
    );
    assert_invalid(
        topic_with("compression.type", "GZIP"),
        "compression.type",
        "GZIP",
        "one of",
    );
    assert_invalid(
        broker_with("log.message.timestamp.type", "createtime"),
        "log.message.timestamp.type",
        "createtime",
        "CreateTime, LogAppendTime",
    );
    for ok in ["uncompressed", "zstd", "lz4", "snappy", "gzip", "producer"] {
        assert!(topic_with("compression.type", ok).is_ok(), "{ok}");
    }
}

#[test]
fn list_of() {
    assert_invalid(
        topic_with("cleanup.policy", "delete,archive"),
        "cleanup.policy",
        "delete,archive",
        "'archive'",
    );
    assert!(topic_with("cleanup.policy", "compact,delete").is_ok());
    assert!(topic_with("cleanup.policy", "delete, compact").is_ok());
    // An empty list means "neither", which Kafka accepts.
    assert!(topic_with("cleanup.policy", "").is_ok());
}

#[test]
fn non_empty_list_of_for_process_roles() {
    assert_invalid(
        broker_with("process.roles", ""),
        "process.roles",
        "",
        "at least one",
    );
    assert_invalid(
        broker_with("process.roles", "broker,router"),
        "process.roles",
        "broker,router",
        "'router'",
    );
    for ok in [
        "broker,controller",
        "controller,broker",
        "broker",
        "controller",
    ] {
        assert!(broker_with("process.roles", ok).is_ok(), "{ok}");
    }
    let combined = BrokerConfig::new().process_roles();
    assert!(
        combined.broker && combined.controller,
        "default is combined mode"
    );
}

#[test]
fn non_empty_string_validator() {
    let v = Validator::NonEmptyString;
    assert!(v.check(&ConfigValue::String(String::new())).is_err());
    assert!(v.check(&ConfigValue::String("x".into())).is_ok());
    assert_eq!(v.rule().as_deref(), Some("a non-empty string"));
}

#[test]
fn custom_validators() {
    assert_invalid(
        broker_with("listeners", "localhost:9092"),
        "listeners",
        "localhost:9092",
        "NAME://host:port",
    );
    assert_invalid(
        broker_with("listeners", ""),
        "listeners",
        "",
        "at least one listener",
    );
    assert_invalid(
        broker_with("listeners", "PLAINTEXT://:9092,plaintext://:9093"),
        "listeners",
        "PLAINTEXT://:9092,plaintext://:9093",
        "more than once",
    );
    assert_invalid(
        broker_with("advertised.listeners", "PLAINTEXT://0.0.0.0:9092"),
        "advertised.listeners",
        "PLAINTEXT://0.0.0.0:9092",
        "0.0.0.0",
    );
    assert_invalid(
        broker_with("listener.security.protocol.map", "PLAINTEXT:TLS"),
        "listener.security.protocol.map",
        "PLAINTEXT:TLS",
        "security protocol",
    );
    assert_invalid(
        broker_with("controller.quorum.voters", "1@localhost"),
        "controller.quorum.voters",
        "1@localhost",
        "no port",
    );
    assert_invalid(
        topic_with("compression.gzip.level", "0"),
        "compression.gzip.level",
        "0",
        "-1",
    );
    assert!(topic_with("compression.gzip.level", "-1").is_ok());
    assert_invalid(
        topic_with("leader.replication.throttled.replicas", "0:1,2-3"),
        "leader.replication.throttled.replicas",
        "0:1,2-3",
        "'2-3'",
    );
    assert!(topic_with("leader.replication.throttled.replicas", "*").is_ok());
    assert!(topic_with("follower.replication.throttled.replicas", "0:1, 1:2").is_ok());
    assert_invalid(
        topic_with("message.format.version", "banana"),
        "message.format.version",
        "banana",
        "version",
    );
    assert!(topic_with("message.format.version", "2.8-IV1").is_ok());
    assert!(topic_with("message.format.version", "0.10.2").is_ok());
    assert_invalid(
        topic_with("remote.storage.enable", "true"),
        "remote.storage.enable",
        "true",
        "tiered storage",
    );
    assert!(topic_with("remote.storage.enable", "false").is_ok());
}

#[test]
fn null_topic_value_is_refused() {
    let err = validate_topic_configs(&[("retention.ms".into(), None)]).unwrap_err();
    assert_eq!(
        err,
        ConfigError::NullValue {
            name: "retention.ms".into()
        }
    );
    assert_eq!(err.error_code(), INVALID_CONFIG);
}

#[test]
fn password_values_are_not_echoed() {
    // Password keys take any text, so they never fail validation; what
    // matters is that the secret does not leak through formatting.
    let def = vltava_config::broker_def("ssl.keystore.password").unwrap();
    assert_eq!(def.ty, ConfigType::Password);
    let config = broker_with("ssl.keystore.password", "hunter2").unwrap();
    let value = config.get("ssl.keystore.password").unwrap();
    assert!(!format!("{value:?}").contains("hunter2"));
    assert_eq!(value.to_string(), "[hidden]");
}

#[test]
fn cross_key_rules() {
    let conflict = |props: &[(&str, &str)]| {
        let props = props
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        match BrokerConfig::from_sources(props, vec![]) {
            Err(ConfigError::Conflict { message }) => message,
            other => panic!("expected a conflict, got {other:?}"),
        }
    };
    let m = conflict(&[("node.id", "1"), ("broker.id", "2")]);
    assert!(m.contains("node.id") && m.contains("broker.id"), "{m}");
    let m = conflict(&[("listeners", "CLIENT://:9092")]);
    assert!(
        m.contains("CLIENT") && m.contains("listener.security.protocol.map"),
        "{m}"
    );
    let m = conflict(&[("advertised.listeners", "OTHER://host:1")]);
    assert!(m.contains("OTHER"), "{m}");
    let m = conflict(&[
        ("inter.broker.listener.name", "PLAINTEXT"),
        ("security.inter.broker.protocol", "PLAINTEXT"),
    ]);
    assert!(m.contains("only one"), "{m}");
    let m = conflict(&[
        ("log.cleaner.min.compaction.lag.ms", "10"),
        ("log.cleaner.max.compaction.lag.ms", "5"),
    ]);
    assert!(m.contains("greater than"), "{m}");

    // A controller listener needs no mapping; mapped names are fine.
    let ok = BrokerConfig::from_sources(
        vec![
            (
                "listeners".into(),
                "PLAINTEXT://:9092,CONTROLLER://:9093".into(),
            ),
            ("controller.listener.names".into(), "CONTROLLER".into()),
            ("node.id".into(), "1".into()),
            ("broker.id".into(), "1".into()),
        ],
        vec![],
    );
    assert!(ok.is_ok(), "{ok:?}");

    let err = validate_topic_configs(&[
        ("min.compaction.lag.ms".into(), Some("100".into())),
        ("max.compaction.lag.ms".into(), Some("50".into())),
    ])
    .unwrap_err();
    assert!(matches!(err, ConfigError::Conflict { .. }), "{err:?}");
    assert_eq!(err.error_code(), INVALID_CONFIG);
}
