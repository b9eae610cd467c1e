//! BrokerConfig: defaults, sources, precedence, derived values and dynamic
//! updates.

use vltava_config::{
    parse_properties, BrokerConfig, CleanupPolicy, CompressionType, ConfigError, ConfigSource,
    ConfigValue, Endpoint, QuorumVoter, SecurityProtocol, TimestampType,
};

fn props(items: &[(&str, &str)]) -> Vec<(String, String)> {
    items
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn from(items: &[(&str, &str)]) -> BrokerConfig {
    BrokerConfig::from_sources(props(items), vec![]).expect("valid config")
}

#[test]
fn defaults_match_kafka() {
    let c = BrokerConfig::new();
    assert_eq!(c.num_partitions(), 1);
    assert_eq!(c.default_replication_factor(), 1);
    assert!(c.auto_create_topics_enable());
    assert!(c.delete_topic_enable());
    assert_eq!(c.log_segment_bytes(), 1_073_741_824);
    assert_eq!(c.get("log.retention.hours"), Some(&ConfigValue::Int(168)));
    assert_eq!(c.log_retention_ms(), 604_800_000);
    assert_eq!(c.log_retention_bytes(), -1);
    assert_eq!(c.log_retention_check_interval_ms(), 300_000);
    assert_eq!(c.log_roll_ms(), 604_800_000);
    assert_eq!(c.log_roll_jitter_ms(), 0);
    assert_eq!(c.log_index_interval_bytes(), 4096);
    assert_eq!(c.log_index_size_max_bytes(), 10_485_760);
    assert_eq!(c.log_flush_interval_messages(), i64::MAX);
    assert_eq!(c.log_flush_interval_ms(), i64::MAX);
    assert_eq!(c.log_segment_delete_delay_ms(), 60_000);
    assert_eq!(c.message_max_bytes(), 1_048_588);
    assert_eq!(c.min_insync_replicas(), 1);
    assert!(!c.unclean_leader_election_enable());
    assert_eq!(c.compression_type(), CompressionType::Producer);
    assert_eq!(c.socket_request_max_bytes(), 104_857_600);
    assert_eq!(c.socket_send_buffer_bytes(), 102_400);
    assert_eq!(c.socket_receive_buffer_bytes(), 102_400);
    assert_eq!(c.connections_max_idle_ms(), 600_000);
    assert_eq!(c.num_network_threads(), 3);
    assert_eq!(c.num_io_threads(), 8);
    assert_eq!(c.queued_max_requests(), 500);
    assert_eq!(c.replica_fetch_max_bytes(), 1_048_576);
    assert_eq!(c.fetch_max_bytes(), 57_671_680);
    assert_eq!(c.offsets_topic_num_partitions(), 50);
    assert_eq!(c.offsets_topic_replication_factor(), 3);
    assert_eq!(c.offsets_retention_minutes(), 10_080);
    assert_eq!(c.offsets_retention_ms(), 604_800_000);
    assert_eq!(c.offsets_commit_timeout_ms(), 5000);
    assert_eq!(c.group_initial_rebalance_delay_ms(), 3000);
    assert_eq!(c.group_min_session_timeout_ms(), 6000);
    assert_eq!(c.group_max_session_timeout_ms(), 1_800_000);
    assert_eq!(c.group_max_size(), i32::MAX);
    assert_eq!(c.transaction_state_log_num_partitions(), 50);
    assert_eq!(c.transaction_state_log_replication_factor(), 3);
    assert_eq!(c.transactional_id_expiration_ms(), 604_800_000);
    assert_eq!(c.producer_id_expiration_ms(), 86_400_000);
    assert_eq!(c.max_connections(), i32::MAX);
    assert_eq!(c.max_connections_per_ip(), i32::MAX);
    assert_eq!(c.num_recovery_threads_per_data_dir(), 2);
    assert!(c.log_cleaner_enable());
    assert_eq!(c.log_message_timestamp_type(), TimestampType::CreateTime);
    assert_eq!(c.log_message_timestamp_before_max_ms(), i64::MAX);
    assert_eq!(c.log_message_timestamp_after_max_ms(), 3_600_000);
    assert_eq!(
        c.log_cleanup_policy(),
        CleanupPolicy {
            delete: true,
            compact: false
        }
    );
    assert!(!c.log_preallocate());
    assert_eq!(
        c.listeners(),
        vec![Endpoint {
            listener_name: "PLAINTEXT".into(),
            host: String::new(),
            port: 9092
        }]
    );
    assert_eq!(c.advertised_listeners(), c.listeners());
    assert_eq!(c.inter_broker_listener_name(), "PLAINTEXT");
    assert_eq!(c.log_dirs(), vec!["/tmp/kafka-logs".to_string()]);
    assert_eq!(c.metadata_log_dir().as_deref(), Some("/tmp/kafka-logs"));
    assert_eq!(c.node_id(), None);
    assert_eq!(c.broker_rack(), None);
    assert!(c.controller_quorum_voters().is_empty());
}

#[test]
fn every_getter_works_on_defaults() {
    // The getters read keys with defaults; none may panic.
    let c = BrokerConfig::new();
    let _ = (
        c.socket_listen_backlog_size(),
        c.background_threads(),
        c.queued_max_request_bytes(),
        c.request_timeout_ms(),
        c.replica_fetch_response_max_bytes(),
        c.replica_fetch_wait_max_ms(),
        c.replica_fetch_min_bytes(),
        c.replica_fetch_backoff_ms(),
        c.replica_lag_time_max_ms(),
        c.num_replica_fetchers(),
        c.offsets_topic_segment_bytes(),
        c.offsets_retention_check_interval_ms(),
        c.offsets_load_buffer_size(),
        c.offset_metadata_max_bytes(),
        c.transaction_state_log_min_isr(),
        c.transaction_state_log_segment_bytes(),
        c.transaction_max_timeout_ms(),
        c.transaction_abort_timed_out_transaction_cleanup_interval_ms(),
        c.transaction_remove_expired_transaction_cleanup_interval_ms(),
        c.max_connection_creation_rate(),
        c.log_cleaner_threads(),
        c.log_cleaner_min_cleanable_ratio(),
        c.log_flush_scheduler_interval_ms(),
        c.controller_quorum_bootstrap_servers(),
        c.controller_listener_names(),
        c.listener_security_protocol_map(),
    );
}

#[test]
fn sources_default_then_static() {
    let c = from(&[("num.partitions", "3")]);
    assert_eq!(c.num_partitions(), 3);
    assert_eq!(c.source("num.partitions"), ConfigSource::StaticBrokerConfig);
    assert_eq!(c.source("num.io.threads"), ConfigSource::DefaultConfig);
    // A key with no default that nobody set: no value, DEFAULT_CONFIG.
    assert_eq!(c.get("log.retention.ms"), None);
    assert_eq!(c.source("log.retention.ms"), ConfigSource::DefaultConfig);
    assert_eq!(c.source("no.such.key"), ConfigSource::Unknown);
    assert_eq!(c.get("no.such.key"), None);
    assert!(c.is_set("num.partitions"));
    assert!(!c.is_set("num.io.threads"));
}

#[test]
fn overrides_beat_the_file_and_later_entries_win() {
    let file = parse_properties("num.partitions=3\nnum.partitions=4\nlog.dirs=/a,/b\n").unwrap();
    let c = BrokerConfig::from_sources(file, props(&[("num.partitions", "6")])).unwrap();
    assert_eq!(c.num_partitions(), 6);
    assert_eq!(c.log_dirs(), vec!["/a".to_string(), "/b".to_string()]);

    let c = BrokerConfig::from_sources(
        parse_properties("num.partitions=3\nnum.partitions=4\n").unwrap(),
        vec![],
    )
    .unwrap();
    assert_eq!(c.num_partitions(), 4);
}

#[test]
fn an_invalid_override_names_key_and_value() {
    let err = BrokerConfig::from_sources(vec![], props(&[("num.io.threads", "0")])).unwrap_err();
    assert_eq!(
        err.to_string(),
        "Invalid value 0 for configuration num.io.threads: must be at least 1"
    );
}

#[test]
fn retention_precedence_ms_then_minutes_then_hours() {
    assert_eq!(
        from(&[("log.retention.hours", "1")]).log_retention_ms(),
        3_600_000
    );
    assert_eq!(
        from(&[("log.retention.hours", "1"), ("log.retention.minutes", "5")]).log_retention_ms(),
        300_000
    );
    assert_eq!(
        from(&[
            ("log.retention.hours", "1"),
            ("log.retention.minutes", "5"),
            ("log.retention.ms", "1234")
        ])
        .log_retention_ms(),
        1234
    );
    assert_eq!(
        from(&[("log.retention.ms", "1234")]).log_retention_ms(),
        1234
    );
    // Any negative result means "no limit", reported as -1.
    assert_eq!(from(&[("log.retention.ms", "-5")]).log_retention_ms(), -1);
    assert_eq!(
        from(&[("log.retention.hours", "-1")]).log_retention_ms(),
        -1
    );
    assert_eq!(
        from(&[
            ("log.retention.minutes", "-1"),
            ("log.retention.hours", "2")
        ])
        .log_retention_ms(),
        -1
    );
}

#[test]
fn roll_and_flush_fallbacks() {
    assert_eq!(from(&[("log.roll.hours", "2")]).log_roll_ms(), 7_200_000);
    assert_eq!(
        from(&[("log.roll.hours", "2"), ("log.roll.ms", "500")]).log_roll_ms(),
        500
    );
    assert_eq!(
        from(&[("log.roll.jitter.hours", "1")]).log_roll_jitter_ms(),
        3_600_000
    );
    assert_eq!(
        from(&[("log.flush.scheduler.interval.ms", "2000")]).log_flush_interval_ms(),
        2000
    );
    assert_eq!(
        from(&[
            ("log.flush.scheduler.interval.ms", "2000"),
            ("log.flush.interval.ms", "10")
        ])
        .log_flush_interval_ms(),
        10
    );
}

#[test]
fn listeners_roles_and_quorum() {
    let c = from(&[
        ("process.roles", "broker,controller"),
        ("node.id", "1"),
        ("listeners", "PLAINTEXT://:9092,CONTROLLER://[::1]:9093"),
        ("advertised.listeners", "PLAINTEXT://broker1.example:9092"),
        ("controller.listener.names", "controller"),
        ("controller.quorum.voters", "1@localhost:9093"),
        ("log.dir", "/var/vltava"),
        ("broker.rack", "eu-1a"),
    ]);
    assert_eq!(c.node_id(), Some(1));
    let roles = c.process_roles();
    assert!(roles.broker && roles.controller);
    assert_eq!(c.listeners().len(), 2);
    assert_eq!(c.listeners()[1].host, "::1");
    assert_eq!(c.advertised_listeners()[0].host, "broker1.example");
    assert_eq!(
        c.controller_listener_names(),
        vec!["CONTROLLER".to_string()]
    );
    assert_eq!(
        c.security_protocol_of("controller"),
        Some(SecurityProtocol::Plaintext)
    );
    assert_eq!(
        c.security_protocol_of("plaintext"),
        Some(SecurityProtocol::Plaintext)
    );
    assert_eq!(c.security_protocol_of("NOPE"), None);
    assert_eq!(
        c.controller_quorum_voters(),
        vec![QuorumVoter {
            id: 1,
            host: "localhost".into(),
            port: 9093
        }]
    );
    assert_eq!(c.log_dirs(), vec!["/var/vltava".to_string()]);
    assert_eq!(c.broker_rack().as_deref(), Some("eu-1a"));

    assert!(
        !from(&[("process.roles", "controller")])
            .process_roles()
            .broker
    );
    assert_eq!(from(&[("broker.id", "7")]).node_id(), Some(7));
    assert_eq!(
        from(&[
            ("inter.broker.listener.name", "internal"),
            ("listeners", "INTERNAL://:1"),
            ("listener.security.protocol.map", "INTERNAL:PLAINTEXT")
        ])
        .inter_broker_listener_name(),
        "INTERNAL"
    );
}

#[test]
fn dynamic_updates_take_precedence_and_are_validated() {
    let mut c = from(&[("log.retention.ms", "1000")]);
    c.set_dynamic_default("log.retention.ms", "2000").unwrap();
    assert_eq!(c.log_retention_ms(), 2000);
    assert_eq!(
        c.source("log.retention.ms"),
        ConfigSource::DynamicDefaultBrokerConfig
    );
    c.set_dynamic("log.retention.ms", "3000").unwrap();
    assert_eq!(c.log_retention_ms(), 3000);
    assert_eq!(
        c.source("log.retention.ms"),
        ConfigSource::DynamicBrokerConfig
    );

    // Invalid values leave the config unchanged.
    let before = c.clone();
    let err = c.set_dynamic("log.segment.bytes", "10").unwrap_err();
    assert!(matches!(err, ConfigError::InvalidValue { .. }));
    assert_eq!(c, before);

    c.remove_dynamic("log.retention.ms").unwrap();
    assert_eq!(c.log_retention_ms(), 2000);
    c.remove_dynamic_default("log.retention.ms").unwrap();
    assert_eq!(c.log_retention_ms(), 1000);
    assert_eq!(
        c.source("log.retention.ms"),
        ConfigSource::StaticBrokerConfig
    );
}

#[test]
fn read_only_and_per_broker_keys_are_guarded() {
    let mut c = BrokerConfig::new();
    let err = c.set_dynamic("num.partitions", "3").unwrap_err();
    assert_eq!(
        err,
        ConfigError::ReadOnly {
            name: "num.partitions".into()
        }
    );
    assert!(err.to_string().contains("read-only"));
    // The unit forms of retention are read-only; only the ms form is dynamic.
    assert!(c.set_dynamic("log.retention.hours", "1").is_err());

    // Per-broker keys: allowed per broker, not as a cluster-wide default.
    c.set_dynamic("listeners", "PLAINTEXT://:19092").unwrap();
    assert_eq!(c.listeners()[0].port, 19092);
    let err = c
        .set_dynamic_default("listeners", "PLAINTEXT://:1")
        .unwrap_err();
    assert_eq!(
        err,
        ConfigError::PerBrokerOnly {
            name: "listeners".into()
        }
    );

    // Cluster-wide keys: both levels.
    c.set_dynamic_default("num.io.threads", "16").unwrap();
    c.set_dynamic("num.io.threads", "4").unwrap();
    assert_eq!(c.num_io_threads(), 4);

    // Unknown keys suggest.
    let err = c.set_dynamic("num.io.thread", "4").unwrap_err();
    assert!(
        err.to_string().contains("did you mean num.io.threads?"),
        "{err}"
    );
    assert!(c.remove_dynamic("nope").is_err());

    // Cross-key rules hold for dynamic updates too.
    let err = c.set_dynamic("listeners", "CLIENT://:9092").unwrap_err();
    assert!(matches!(err, ConfigError::Conflict { .. }), "{err:?}");
}

#[test]
fn a_listener_setting_overrides_the_broker_wide_one_for_that_listener_only() {
    let c = BrokerConfig::from_sources(
        vec![
            kv("ssl.keystore.location", "/etc/broad.pem"),
            kv(
                "listener.name.external.ssl.keystore.location",
                "/etc/external.pem",
            ),
            kv("listener.name.EXTERNAL.ssl.client.auth", "required"),
            kv(
                "listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config",
                "org.apache.kafka.common.security.scram.ScramLoginModule required;",
            ),
            kv("sasl.jaas.config", "broad"),
        ],
        vec![],
    )
    .unwrap();
    assert_eq!(
        c.listener_text("EXTERNAL", "ssl.keystore.location")
            .as_deref(),
        Some("/etc/external.pem")
    );
    assert_eq!(
        c.listener_text("INTERNAL", "ssl.keystore.location")
            .as_deref(),
        Some("/etc/broad.pem")
    );
    assert_eq!(
        c.listener_text("external", "ssl.client.auth").as_deref(),
        Some("required")
    );
    assert_eq!(
        c.listener_text("INTERNAL", "ssl.client.auth").as_deref(),
        Some("none")
    );
    assert_eq!(
        c.jaas_config("SASL_SSL", "SCRAM-SHA-256").as_deref(),
        Some("org.apache.kafka.common.security.scram.ScramLoginModule required;")
    );
    // No mechanism-specific entry: the broker-wide sasl.jaas.config.
    assert_eq!(c.jaas_config("SASL_SSL", "PLAIN").as_deref(), Some("broad"));
    assert_eq!(
        c.listener_list("X", "ssl.enabled.protocols"),
        vec!["TLSv1.2".to_string(), "TLSv1.3".to_string()]
    );
}

#[test]
fn oauthbearer_settings_come_from_the_mechanism_then_the_listener_then_the_broker() {
    let c = BrokerConfig::from_sources(
        vec![
            kv(
                "listener.name.secure.oauthbearer.sasl.server.callback.handler.class",
                "org.apache.kafka.common.security.oauthbearer.OAuthBearerValidatorCallbackHandler",
            ),
            kv(
                "listener.name.secure.oauthbearer.sasl.oauthbearer.jwks.endpoint.url",
                "file:///etc/jwks.json",
            ),
            kv(
                "listener.name.secure.sasl.oauthbearer.expected.audience",
                "kafka,other",
            ),
            kv("sasl.oauthbearer.expected.issuer", "https://idp"),
        ],
        vec![],
    )
    .unwrap();
    let text = |l: &str, k: &str| c.mechanism_text(l, "OAUTHBEARER", k);
    assert_eq!(
        text("SECURE", "sasl.server.callback.handler.class").as_deref(),
        Some("org.apache.kafka.common.security.oauthbearer.OAuthBearerValidatorCallbackHandler")
    );
    assert_eq!(text("OTHER", "sasl.server.callback.handler.class"), None);
    assert_eq!(
        text("secure", "sasl.oauthbearer.jwks.endpoint.url").as_deref(),
        Some("file:///etc/jwks.json")
    );
    assert_eq!(
        text("SECURE", "sasl.oauthbearer.expected.audience").as_deref(),
        Some("kafka,other")
    );
    assert_eq!(
        text("SECURE", "sasl.oauthbearer.expected.issuer").as_deref(),
        Some("https://idp")
    );
    // Kafka's defaults.
    assert_eq!(
        text("SECURE", "sasl.oauthbearer.sub.claim.name").as_deref(),
        Some("sub")
    );
    assert_eq!(
        c.mechanism_value(
            "SECURE",
            "OAUTHBEARER",
            "sasl.oauthbearer.clock.skew.seconds"
        )
        .and_then(|v| v.as_i64()),
        Some(30)
    );
    // Only SASL keys may follow the mechanism.
    let err = BrokerConfig::from_sources(
        vec![kv(
            "listener.name.secure.oauthbearer.ssl.client.auth",
            "none",
        )],
        vec![],
    )
    .unwrap_err();
    assert!(err.to_string().contains("Unknown"), "{err}");
}

#[test]
fn a_listener_setting_must_be_one_kafka_lets_a_listener_override() {
    for key in [
        "listener.name.external.log.retention.ms",
        "listener.name.external.ssl.no.such.key",
        "listener.name..ssl.keystore.location",
        "listener.name.external",
    ] {
        let err = BrokerConfig::from_sources(vec![kv(key, "1")], vec![]).unwrap_err();
        assert!(err.to_string().contains("Unknown"), "{key}: {err}");
    }
    let err = BrokerConfig::from_sources(
        vec![kv("listener.name.external.ssl.client.auth", "sometimes")],
        vec![],
    )
    .unwrap_err();
    assert!(err.to_string().contains("ssl.client.auth"), "{err}");
}

#[test]
fn super_users_are_separated_by_semicolons() {
    let c = BrokerConfig::from_sources(
        vec![kv("super.users", "User:admin; User:CN=ops,O=Example ;")],
        vec![],
    )
    .unwrap();
    assert_eq!(c.super_users(), vec!["User:admin", "User:CN=ops,O=Example"]);
}

#[test]
fn only_the_kraft_authorizer_is_accepted() {
    let none = BrokerConfig::from_sources(vec![], vec![]).unwrap();
    assert_eq!(none.authorizer_class_name(), None);
    assert!(!none.authorizer_enabled());
    assert!(!none.allow_everyone_if_no_acl_found());

    let standard = BrokerConfig::from_sources(
        vec![
            kv("authorizer.class.name", vltava_config::STANDARD_AUTHORIZER),
            kv("allow.everyone.if.no.acl.found", "true"),
        ],
        vec![],
    )
    .unwrap();
    assert!(standard.authorizer_enabled());
    assert!(standard.allow_everyone_if_no_acl_found());

    for class in [
        "kafka.security.authorizer.AclAuthorizer",
        "com.example.Mine",
    ] {
        let err = BrokerConfig::from_sources(vec![kv("authorizer.class.name", class)], vec![])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(class) && err.contains(vltava_config::STANDARD_AUTHORIZER),
            "{err}"
        );
    }
}

fn kv(key: &str, value: &str) -> (String, String) {
    (key.to_string(), value.to_string())
}
