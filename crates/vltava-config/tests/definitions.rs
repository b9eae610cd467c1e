//! The definition tables are internally consistent, and every topic key is
//! tied to its broker synonyms (or listed as having none).

use std::collections::BTreeSet;

use vltava_config::{
    broker_def, topic_def, ConfigType, SynonymUnit, UpdateMode, BROKER_CONFIGS, TOPIC_CONFIGS,
    TOPIC_CONFIGS_WITHOUT_BROKER_SYNONYM,
};

#[test]
fn tables_are_sorted_and_unique() {
    for table in [BROKER_CONFIGS, TOPIC_CONFIGS] {
        for pair in table.windows(2) {
            assert!(
                pair[0].name < pair[1].name,
                "{} must sort before {}",
                pair[0].name,
                pair[1].name
            );
        }
    }
}

#[test]
fn every_default_parses_and_passes_its_validator() {
    for def in BROKER_CONFIGS.iter().chain(TOPIC_CONFIGS) {
        if let Some(d) = def.default {
            let value = def
                .parse(d)
                .unwrap_or_else(|e| panic!("default of {} ({d}) is invalid: {e}", def.name));
            assert_eq!(value.config_type(), def.ty, "{}", def.name);
        }
    }
}

#[test]
fn docs_are_one_short_line() {
    for def in BROKER_CONFIGS.iter().chain(TOPIC_CONFIGS) {
        assert!(!def.doc.is_empty(), "{} has no doc", def.name);
        assert!(!def.doc.contains('\n'), "{} doc spans lines", def.name);
        assert!(
            def.doc.len() <= 120,
            "{} doc is {} chars",
            def.name,
            def.doc.len()
        );
        assert!(def.doc.ends_with('.'), "{} doc is not a sentence", def.name);
    }
}

#[test]
fn update_modes_belong_to_their_scope() {
    for def in BROKER_CONFIGS {
        assert_ne!(def.update_mode, UpdateMode::PerTopic, "{}", def.name);
        assert!(
            def.synonyms.is_empty(),
            "broker key {} has synonyms",
            def.name
        );
    }
    for def in TOPIC_CONFIGS {
        assert_eq!(def.update_mode, UpdateMode::PerTopic, "{}", def.name);
        assert!(!def.is_read_only());
    }
}

#[test]
fn passwords_are_sensitive_and_nothing_else_is() {
    for def in BROKER_CONFIGS.iter().chain(TOPIC_CONFIGS) {
        assert_eq!(
            def.is_sensitive(),
            def.ty == ConfigType::Password,
            "{}",
            def.name
        );
    }
    assert!(broker_def("ssl.keystore.password").unwrap().is_sensitive());
    assert!(broker_def("sasl.jaas.config").unwrap().is_sensitive());
}

#[test]
fn every_topic_config_has_a_broker_synonym_or_is_listed_as_having_none() {
    let without: BTreeSet<&str> = TOPIC_CONFIGS_WITHOUT_BROKER_SYNONYM
        .iter()
        .copied()
        .collect();
    for def in TOPIC_CONFIGS {
        if def.synonyms.is_empty() {
            assert!(
                without.contains(def.name),
                "{} has no broker synonym and is not listed as having none",
                def.name
            );
        } else {
            assert!(
                !without.contains(def.name),
                "{} is listed but has synonyms",
                def.name
            );
        }
    }
    for name in &without {
        assert!(
            topic_def(name).is_some(),
            "{name} is listed but not a topic key"
        );
    }
}

#[test]
fn synonyms_exist_with_compatible_types_and_matching_defaults() {
    for def in TOPIC_CONFIGS {
        for syn in def.synonyms {
            let b = broker_def(syn.name).unwrap_or_else(|| {
                panic!("{}: synonym {} is not a broker key", def.name, syn.name)
            });
            match syn.unit {
                SynonymUnit::Same => assert!(
                    b.ty == def.ty || (b.ty == ConfigType::Int && def.ty == ConfigType::Long),
                    "{} ({:?}) vs {} ({:?})",
                    def.name,
                    def.ty,
                    b.name,
                    b.ty
                ),
                SynonymUnit::MinutesToMillis | SynonymUnit::HoursToMillis => {
                    assert_eq!(b.ty, ConfigType::Int, "{}", b.name);
                    assert_eq!(def.ty, ConfigType::Long, "{}", def.name);
                }
            }
            assert_ne!(b.update_mode, UpdateMode::PerTopic);
        }
        // The topic default is what the broker's synonyms give when nobody
        // sets anything (the first synonym with a default, converted).
        let broker_default = def.synonyms.iter().find_map(|s| {
            let b = broker_def(s.name).unwrap();
            b.default_value().map(|v| {
                let n = v.as_i64();
                match (s.unit, n) {
                    (SynonymUnit::MinutesToMillis, Some(n)) => (n * 60_000).to_string(),
                    (SynonymUnit::HoursToMillis, Some(n)) => (n * 3_600_000).to_string(),
                    _ => v.to_string(),
                }
            })
        });
        if let Some(broker_default) = broker_default {
            assert_eq!(
                def.default_value().map(|v| v.to_string()),
                Some(broker_default),
                "topic default of {} differs from its broker default",
                def.name
            );
        }
    }
}

#[test]
fn primary_synonyms_are_dynamic_and_unit_forms_are_read_only() {
    // Kafka lets the primary (first) synonym change at runtime; the hours
    // and minutes forms and the flush scheduler are read at startup only.
    for def in TOPIC_CONFIGS {
        if let Some(first) = def.synonyms.first() {
            let mode = broker_def(first.name).unwrap().update_mode;
            if first.name != "log.message.format.version" {
                assert_eq!(mode, UpdateMode::ClusterWide, "{}", first.name);
            }
        }
    }
    for name in [
        "log.retention.minutes",
        "log.retention.hours",
        "log.roll.hours",
        "log.roll.jitter.hours",
        "log.flush.scheduler.interval.ms",
    ] {
        assert_eq!(
            broker_def(name).unwrap().update_mode,
            UpdateMode::ReadOnly,
            "{name}"
        );
    }
}

#[test]
fn the_broker_keys_the_brief_asks_for_exist() {
    for name in [
        "node.id",
        "process.roles",
        "listeners",
        "advertised.listeners",
        "log.dirs",
        "log.dir",
        "num.partitions",
        "default.replication.factor",
        "auto.create.topics.enable",
        "delete.topic.enable",
        "log.segment.bytes",
        "log.roll.ms",
        "log.roll.hours",
        "log.roll.jitter.ms",
        "log.roll.jitter.hours",
        "log.retention.ms",
        "log.retention.minutes",
        "log.retention.hours",
        "log.retention.bytes",
        "log.retention.check.interval.ms",
        "log.index.interval.bytes",
        "log.index.size.max.bytes",
        "log.flush.interval.messages",
        "log.flush.interval.ms",
        "log.flush.scheduler.interval.ms",
        "log.message.timestamp.type",
        "log.message.timestamp.before.max.ms",
        "log.message.timestamp.after.max.ms",
        "log.cleanup.policy",
        "log.segment.delete.delay.ms",
        "log.preallocate",
        "message.max.bytes",
        "min.insync.replicas",
        "unclean.leader.election.enable",
        "compression.type",
        "socket.request.max.bytes",
        "socket.send.buffer.bytes",
        "socket.receive.buffer.bytes",
        "connections.max.idle.ms",
        "num.network.threads",
        "num.io.threads",
        "queued.max.requests",
        "replica.fetch.max.bytes",
        "fetch.max.bytes",
        "offsets.topic.num.partitions",
        "offsets.topic.replication.factor",
        "offsets.retention.minutes",
        "offsets.commit.timeout.ms",
        "group.initial.rebalance.delay.ms",
        "group.min.session.timeout.ms",
        "group.max.session.timeout.ms",
        "group.max.size",
        "transaction.state.log.num.partitions",
        "transactional.id.expiration.ms",
        "producer.id.expiration.ms",
        "max.connections",
        "max.connections.per.ip",
        "num.recovery.threads.per.data.dir",
        "log.cleaner.enable",
        "broker.rack",
        "controller.quorum.voters",
        "controller.listener.names",
        "inter.broker.listener.name",
        "listener.security.protocol.map",
    ] {
        assert!(broker_def(name).is_some(), "missing broker key {name}");
    }
    assert!(
        broker_def("cluster.id").is_none(),
        "cluster.id is not a Kafka broker key"
    );
}

#[test]
fn all_of_kafkas_topic_keys_exist() {
    for name in [
        "cleanup.policy",
        "compression.type",
        "compression.gzip.level",
        "compression.lz4.level",
        "compression.zstd.level",
        "delete.retention.ms",
        "file.delete.delay.ms",
        "flush.messages",
        "flush.ms",
        "follower.replication.throttled.replicas",
        "index.interval.bytes",
        "leader.replication.throttled.replicas",
        "local.retention.bytes",
        "local.retention.ms",
        "max.compaction.lag.ms",
        "max.message.bytes",
        "message.downconversion.enable",
        "message.format.version",
        "message.timestamp.after.max.ms",
        "message.timestamp.before.max.ms",
        "message.timestamp.difference.max.ms",
        "message.timestamp.type",
        "min.cleanable.dirty.ratio",
        "min.compaction.lag.ms",
        "min.insync.replicas",
        "preallocate",
        "remote.log.copy.disable",
        "remote.log.delete.on.disable",
        "remote.storage.enable",
        "retention.bytes",
        "retention.ms",
        "segment.bytes",
        "segment.index.bytes",
        "segment.jitter.ms",
        "segment.ms",
        "unclean.leader.election.enable",
    ] {
        let def = topic_def(name).unwrap_or_else(|| panic!("missing topic key {name}"));
        assert!(!def.internal, "{name}");
    }
}

#[test]
fn the_synonyms_the_brief_names() {
    let names = |topic: &str| -> Vec<&str> {
        topic_def(topic)
            .unwrap()
            .synonyms
            .iter()
            .map(|s| s.name)
            .collect()
    };
    assert_eq!(
        names("retention.ms"),
        [
            "log.retention.ms",
            "log.retention.minutes",
            "log.retention.hours"
        ]
    );
    assert_eq!(names("segment.ms"), ["log.roll.ms", "log.roll.hours"]);
    assert_eq!(
        names("segment.jitter.ms"),
        ["log.roll.jitter.ms", "log.roll.jitter.hours"]
    );
    assert_eq!(names("max.message.bytes"), ["message.max.bytes"]);
    assert_eq!(
        names("flush.ms"),
        ["log.flush.interval.ms", "log.flush.scheduler.interval.ms"]
    );
    assert_eq!(names("flush.messages"), ["log.flush.interval.messages"]);
    assert_eq!(names("segment.index.bytes"), ["log.index.size.max.bytes"]);
    assert_eq!(
        names("file.delete.delay.ms"),
        ["log.segment.delete.delay.ms"]
    );
    assert_eq!(
        names("min.cleanable.dirty.ratio"),
        ["log.cleaner.min.cleanable.ratio"]
    );
    assert_eq!(
        names("delete.retention.ms"),
        ["log.cleaner.delete.retention.ms"]
    );
    assert_eq!(names("compression.type"), ["compression.type"]);
}

#[test]
fn segment_minimum_is_kafkas_one_mebibyte_at_both_levels() {
    for def in [
        topic_def("segment.bytes").unwrap(),
        broker_def("log.segment.bytes").unwrap(),
    ] {
        assert!(def.parse("1048576").is_ok(), "{}", def.name);
        let err = def.parse("1048575").unwrap_err();
        assert!(err.contains("at least 1048576"), "{err}");
    }
    // Kafka's test-only escape hatch for small segments, never described.
    let internal = topic_def("internal.segment.bytes").unwrap();
    assert!(internal.internal);
    assert!(internal.parse("4096").is_ok());
}

#[test]
fn describe_type_codes() {
    let codes: Vec<i8> = [
        ConfigType::Boolean,
        ConfigType::String,
        ConfigType::Int,
        ConfigType::Short,
        ConfigType::Long,
        ConfigType::Double,
        ConfigType::List,
        ConfigType::Class,
        ConfigType::Password,
    ]
    .iter()
    .map(|t| t.describe_code())
    .collect();
    assert_eq!(codes, [1, 2, 3, 4, 5, 6, 7, 8, 9]);
}

#[test]
fn sasl_listener_keys_are_per_broker_as_in_kafka() {
    // Kafka's DynamicListenerConfig lets AlterConfigs set these on a broker;
    // librdkafka's 0081_admin alters sasl.kerberos.min.time.before.relogin.
    for (name, ty) in [
        ("sasl.kerberos.kinit.cmd", ConfigType::String),
        ("sasl.kerberos.min.time.before.relogin", ConfigType::Long),
        ("sasl.kerberos.principal.to.local.rules", ConfigType::List),
        ("sasl.kerberos.service.name", ConfigType::String),
        ("sasl.kerberos.ticket.renew.jitter", ConfigType::Double),
        (
            "sasl.kerberos.ticket.renew.window.factor",
            ConfigType::Double,
        ),
        ("sasl.login.refresh.buffer.seconds", ConfigType::Short),
        ("sasl.login.refresh.min.period.seconds", ConfigType::Short),
        ("sasl.login.refresh.window.factor", ConfigType::Double),
        ("sasl.login.refresh.window.jitter", ConfigType::Double),
    ] {
        let def = broker_def(name).unwrap_or_else(|| panic!("{name} is not defined"));
        assert_eq!(def.ty, ty, "{name}");
        assert_eq!(def.update_mode, UpdateMode::PerBroker, "{name}");
    }
    let window = broker_def("sasl.login.refresh.window.factor").unwrap();
    assert!(window.parse("0.4").is_err());
    assert!(window.parse("0.5").is_ok());
}
