//! IncrementalAlterConfigs on topic overrides: SET, DELETE, APPEND, SUBTRACT.

use std::collections::BTreeMap;

use vltava_config::{
    incremental_alter_topic, AlterConfigOp, AlterOpType, BrokerConfig, ConfigError, ConfigValue,
    TopicConfig, INVALID_CONFIG, INVALID_REQUEST,
};

use AlterOpType::{Append, Delete, Set, Subtract};

fn map(items: &[(&str, &str)]) -> BTreeMap<String, String> {
    items
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn op(name: &str, op: AlterOpType, value: Option<&str>) -> AlterConfigOp {
    AlterConfigOp::new(name, op, value)
}

#[test]
fn op_codes() {
    assert_eq!(
        [Set, Delete, Append, Subtract].map(|o| o.code()),
        [0, 1, 2, 3]
    );
    for code in 0..=3 {
        assert_eq!(AlterOpType::from_code(code).map(|o| o.code()), Some(code));
    }
    assert_eq!(AlterOpType::from_code(4), None);
    let err = AlterConfigOp::from_wire("retention.ms", 9, Some("1")).unwrap_err();
    assert_eq!(err.error_code(), INVALID_REQUEST);
    assert_eq!(
        AlterConfigOp::from_wire("retention.ms", 0, Some("1")).unwrap(),
        op("retention.ms", Set, Some("1"))
    );
}

#[test]
fn set_and_delete() {
    let current = map(&[("retention.ms", "1000"), ("segment.ms", "60000")]);
    let next = incremental_alter_topic(
        &current,
        &[
            op("retention.ms", Set, Some("2000")),
            op("segment.ms", Delete, None),
            op("cleanup.policy", Set, Some("compact")),
        ],
    )
    .unwrap();
    assert_eq!(
        next,
        map(&[("retention.ms", "2000"), ("cleanup.policy", "compact")])
    );
    // Deleting what is not there changes nothing.
    assert_eq!(
        incremental_alter_topic(&current, &[op("flush.ms", Delete, None)]).unwrap(),
        current
    );
    // The input is not modified.
    assert_eq!(current.len(), 2);
}

#[test]
fn append_starts_from_the_default_when_not_overridden() {
    let next = incremental_alter_topic(
        &BTreeMap::new(),
        &[op("cleanup.policy", Append, Some("compact"))],
    )
    .unwrap();
    assert_eq!(next, map(&[("cleanup.policy", "delete,compact")]));
}

#[test]
fn append_skips_elements_already_present_and_keeps_order() {
    let current = map(&[("leader.replication.throttled.replicas", "0:1,1:2")]);
    let next = incremental_alter_topic(
        &current,
        &[op(
            "leader.replication.throttled.replicas",
            Append,
            Some("1:2, 2:3,2:3"),
        )],
    )
    .unwrap();
    assert_eq!(next["leader.replication.throttled.replicas"], "0:1,1:2,2:3");

    let empty_default = incremental_alter_topic(
        &BTreeMap::new(),
        &[op(
            "follower.replication.throttled.replicas",
            Append,
            Some("0:1"),
        )],
    )
    .unwrap();
    assert_eq!(
        empty_default["follower.replication.throttled.replicas"],
        "0:1"
    );
}

#[test]
fn subtract_removes_elements() {
    let current = map(&[("cleanup.policy", "compact,delete")]);
    let next = incremental_alter_topic(&current, &[op("cleanup.policy", Subtract, Some("delete"))])
        .unwrap();
    assert_eq!(next["cleanup.policy"], "compact");
    // Removing everything leaves an empty list override (neither policy).
    let next =
        incremental_alter_topic(&next, &[op("cleanup.policy", Subtract, Some("compact"))]).unwrap();
    assert_eq!(next["cleanup.policy"], "");
    let e = TopicConfig::from_overrides(&next)
        .unwrap()
        .resolve(&BrokerConfig::new());
    assert!(!e.cleanup_policy.delete && !e.cleanup_policy.compact);
    // Subtracting from the default.
    let next = incremental_alter_topic(
        &BTreeMap::new(),
        &[op("cleanup.policy", Subtract, Some("delete,compact"))],
    )
    .unwrap();
    assert_eq!(next["cleanup.policy"], "");
}

#[test]
fn append_and_subtract_only_for_lists() {
    for kind in [Append, Subtract] {
        let err = incremental_alter_topic(&BTreeMap::new(), &[op("retention.ms", kind, Some("5"))])
            .unwrap_err();
        assert_eq!(
            err,
            ConfigError::NotAList {
                name: "retention.ms".into(),
                operation: kind.name()
            }
        );
        assert_eq!(err.error_code(), INVALID_CONFIG);
        assert!(err.to_string().contains("retention.ms"), "{err}");
    }
}

#[test]
fn the_result_is_validated() {
    let err = incremental_alter_topic(
        &BTreeMap::new(),
        &[op("cleanup.policy", Append, Some("archive"))],
    )
    .unwrap_err();
    assert!(
        matches!(err, ConfigError::InvalidValue { ref name, .. } if name == "cleanup.policy"),
        "{err:?}"
    );

    let err = incremental_alter_topic(&BTreeMap::new(), &[op("segment.bytes", Set, Some("1"))])
        .unwrap_err();
    assert!(err.to_string().contains("segment.bytes"), "{err}");

    let err = incremental_alter_topic(&BTreeMap::new(), &[op("retentoin.ms", Set, Some("1"))])
        .unwrap_err();
    assert!(
        err.to_string().contains("did you mean retention.ms?"),
        "{err}"
    );

    let current = map(&[("max.compaction.lag.ms", "100")]);
    let err = incremental_alter_topic(&current, &[op("min.compaction.lag.ms", Set, Some("200"))])
        .unwrap_err();
    assert!(matches!(err, ConfigError::Conflict { .. }), "{err:?}");
    // ... and deleting the conflicting partner makes the same SET fine.
    assert!(incremental_alter_topic(
        &current,
        &[
            op("min.compaction.lag.ms", Set, Some("200")),
            op("max.compaction.lag.ms", Delete, None)
        ],
    )
    .is_ok());
}

#[test]
fn set_needs_a_value_and_keys_appear_once() {
    let err =
        incremental_alter_topic(&BTreeMap::new(), &[op("retention.ms", Set, None)]).unwrap_err();
    assert_eq!(
        err,
        ConfigError::NullValue {
            name: "retention.ms".into()
        }
    );

    let err = incremental_alter_topic(
        &BTreeMap::new(),
        &[
            op("retention.ms", Set, Some("1")),
            op("retention.ms", Delete, None),
        ],
    )
    .unwrap_err();
    assert_eq!(
        err,
        ConfigError::DuplicateKey {
            name: "retention.ms".into()
        }
    );
    assert_eq!(err.error_code(), INVALID_REQUEST);
}

#[test]
fn apply_on_a_topic_config() {
    let t = TopicConfig::from_overrides([("retention.ms", "1000")]).unwrap();
    let next = t
        .apply_incremental(&[
            op("retention.ms", Delete, None),
            op("segment.ms", Set, Some("60000")),
        ])
        .unwrap();
    assert_eq!(next.get("retention.ms"), None);
    assert_eq!(next.get("segment.ms"), Some(&ConfigValue::Long(60_000)));
    // The original is untouched.
    assert_eq!(t.get("retention.ms"), Some(&ConfigValue::Long(1000)));
}
