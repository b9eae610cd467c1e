//! What may legitimately differ between two brokers' answers, taken out
//! before they are compared.
//!
//! Rules go by field name, the same in every API (the specs name the same
//! things the same way). Identifiers one broker makes up (topic ids,
//! producer ids, member ids, node ids, the cluster id) become placeholders
//! numbered by first appearance in a case's transcript, so an answer that
//! names the topic of an earlier answer still has to name the same one:
//! `<topic-id#1>` twice on one side and `<topic-id#1>`, `<topic-id#2>` on
//! the other is a difference. Wall-clock times, addresses, throttle times
//! and the wording of error messages are dropped or reduced to whether
//! they are there.

use std::collections::HashMap;

use bytes::Bytes;
use vltava_records::{BatchSplitter, RecordBatch};

use crate::tree::Value;

/// Fields whose integers are node ids (lists of them included).
const NODE_FIELDS: &[&str] = &[
    "node_id",
    "leader_id",
    "controller_id",
    "broker_id",
    "replica_nodes",
    "isr_nodes",
    "offline_replicas",
    "eligible_leader_replicas",
    "last_known_elr",
    "replicas",
    "adding_replicas",
    "removing_replicas",
    "coordinator_id",
];

/// Numbers placeholders per kind of identifier, for one case's transcript.
#[derive(Default)]
pub struct Normaliser {
    seen: HashMap<&'static str, HashMap<String, usize>>,
}

impl Normaliser {
    fn rename(&mut self, kind: &'static str, raw: String) -> Value {
        let ids = self.seen.entry(kind).or_default();
        let next = ids.len() + 1;
        let n = *ids.entry(raw).or_insert(next);
        Value::Atom(format!("<{kind}#{n}>"))
    }

    /// Applies the rules to a whole answer.
    pub fn apply(&mut self, v: &mut Value) {
        match v {
            Value::Struct(fields) => {
                for (_, value) in fields.iter_mut() {
                    sort_keyed(value);
                }
                fields.retain(|(name, _)| !dropped(name));
                for (name, value) in fields.iter_mut() {
                    self.field(name, value);
                }
            }
            Value::List(items) => items.iter_mut().for_each(|i| self.apply(i)),
            _ => {}
        }
    }

    fn field(&mut self, name: &str, v: &mut Value) {
        if NODE_FIELDS.contains(&name) {
            self.each_int(v, |n, raw| {
                (raw >= 0).then(|| n.rename("node", raw.to_string()))
            });
            return;
        }
        match (name, &*v) {
            ("host" | "client_host", Value::Str(_)) => *v = Value::Atom("<host>".into()),
            ("port", Value::Atom(_)) => *v = Value::Atom("<port>".into()),
            ("log_dir", Value::Str(_)) => *v = Value::Atom("<log-dir>".into()),
            ("cluster_id", Value::Str(s)) => *v = self.rename("cluster-id", s.clone()),
            ("topic_id", Value::Atom(a)) if a.chars().any(|c| c != '0') => {
                *v = self.rename("topic-id", a.clone())
            }
            ("member_id" | "leader" | "member", Value::Str(s)) if !s.is_empty() => {
                *v = self.rename("member-id", s.clone())
            }
            ("producer_id", Value::Atom(a)) if a.parse::<i64>().is_ok_and(|p| p >= 0) => {
                *v = self.rename("producer-id", a.clone())
            }
            ("session_id", Value::Atom(a)) if a != "0" => *v = self.rename("session-id", a.clone()),
            ("error_message" | "batch_index_error_message", Value::Str(s)) if s.is_empty() => {
                *v = Value::Atom("null".into())
            }
            ("error_message" | "batch_index_error_message", Value::Str(_)) => {
                *v = Value::Atom("<message>".into())
            }
            (n, Value::Atom(a)) if n.ends_with("error_code") && a != "0" => {
                // Named, so that a report reads UNKNOWN_TOPIC_OR_PARTITION.
                if let Ok(code) = a.parse::<i16>() {
                    *v = Value::Atom(format!("{code}:{}", vltava_client::ErrorCode(code).name()));
                }
            }
            ("records", Value::Bytes(b)) => *v = self.records(Bytes::copy_from_slice(b)),
            (_, Value::Atom(a)) if is_wall_clock(name, a) => *v = Value::Atom("<now>".into()),
            _ => self.apply(v),
        }
    }

    fn each_int(&mut self, v: &mut Value, f: impl Fn(&mut Self, i64) -> Option<Value> + Copy) {
        match v {
            Value::Atom(a) => {
                if let Some(new) = a.parse::<i64>().ok().and_then(|raw| f(self, raw)) {
                    *v = new;
                }
            }
            Value::List(items) => items.iter_mut().for_each(|i| self.each_int(i, f)),
            _ => self.apply(v),
        }
    }

    /// Record batches as the fields that should match: offsets, counts,
    /// attributes, producer state, keys, values and headers. CRCs, lengths
    /// and leader epochs depend on timestamps or on the broker, and
    /// timestamps are the wall clock unless the case chose them.
    fn records(&mut self, data: Bytes) -> Value {
        let mut batches = Vec::new();
        for batch in BatchSplitter::new(data) {
            match batch {
                Ok(b) => batches.push(self.batch(&b)),
                Err(e) => batches.push(Value::Atom(format!("<bad batch: {e}>"))),
            }
        }
        Value::List(batches)
    }

    fn batch(&mut self, b: &RecordBatch) -> Value {
        let atom = |x: String| Value::Atom(x);
        let clock = |t: i64| {
            if t > 1_000_000_000_000 {
                atom("<now>".into())
            } else {
                atom(t.to_string())
            }
        };
        let producer = if b.producer_id() >= 0 {
            self.rename("producer-id", b.producer_id().to_string())
        } else {
            atom(b.producer_id().to_string())
        };
        // A transaction marker's value is its version then the
        // coordinator epoch, which is the leader epoch of the coordinator's
        // internal partition: a broker's count, like a node id. Only the
        // version is compared.
        let control = b.is_control();
        let records = match b.records() {
            Ok(records) => Value::List(
                records
                    .map(|r| match r {
                        Ok(r) => Value::Struct(vec![
                            ("offset".into(), atom(r.offset.to_string())),
                            ("timestamp".into(), clock(r.timestamp)),
                            ("key".into(), opt_bytes(r.key)),
                            (
                                "value".into(),
                                opt_bytes(match r.value {
                                    Some(v) if control && v.len() >= 2 => Some(v.slice(..2)),
                                    v => v,
                                }),
                            ),
                            (
                                "headers".into(),
                                Value::List(
                                    r.headers
                                        .into_iter()
                                        .map(|h| {
                                            Value::Struct(vec![
                                                ("key".into(), Value::Bytes(h.key.to_vec())),
                                                ("value".into(), opt_bytes(h.value)),
                                            ])
                                        })
                                        .collect(),
                                ),
                            ),
                        ]),
                        Err(e) => atom(format!("<bad record: {e}>")),
                    })
                    .collect(),
            ),
            Err(e) => atom(format!("<undecodable: {e}>")),
        };
        Value::Struct(vec![
            ("base_offset".into(), atom(b.base_offset().to_string())),
            ("magic".into(), atom(b.magic().to_string())),
            ("attributes".into(), atom(b.attributes().0.to_string())),
            (
                "last_offset_delta".into(),
                atom(b.last_offset_delta().to_string()),
            ),
            ("max_timestamp".into(), clock(b.max_timestamp())),
            ("producer_id".into(), producer),
            (
                "producer_epoch".into(),
                atom(b.producer_epoch().to_string()),
            ),
            ("base_sequence".into(), atom(b.base_sequence().to_string())),
            ("record_count".into(), atom(b.record_count().to_string())),
            (
                "crc_ok".into(),
                atom((b.crc() == b.compute_crc()).to_string()),
            ),
            ("records".into(), records),
        ])
    }
}

/// The fields that identify an element of a list in Kafka's answers: the
/// order of such lists is the order of a hash map in Kafka (configs,
/// partitions of DescribeLogDirs, groups of DeleteGroups) and clients look
/// elements up by these keys, so lists are compared in key order. Sorted
/// before placeholders are numbered, so the numbering does not depend on
/// either broker's order.
const LIST_KEYS: &[&str] = &[
    "name",
    "topic",
    "partition_index",
    "partition",
    "group_id",
    "transactional_id",
    "resource_name",
    "key",
    "user",
    "entity_type",
    // A client quota entity: a list of (type, name) parts, compared as a
    // set (Kafka keeps them in a map).
    "entity",
];

/// The key of a list element, if it has one: numbers in numeric order.
pub fn key_of(item: &Value) -> Option<(i64, String)> {
    LIST_KEYS
        .iter()
        .find_map(|k| item.field(k))
        .map(|k| match k {
            Value::Atom(a) => match a.parse::<i64>() {
                Ok(n) => (n, a.clone()),
                Err(_) => (i64::MIN, a.clone()),
            },
            Value::Str(s) => (i64::MIN, s.clone()),
            Value::List(items) => {
                let mut parts: Vec<String> = items.iter().map(|i| i.to_string()).collect();
                parts.sort();
                (i64::MIN, parts.join(","))
            }
            other => (i64::MIN, other.to_string()),
        })
}

fn sort_keyed(v: &mut Value) {
    let Value::List(items) = v else { return };
    if items.len() > 1 && items.iter().all(|i| key_of(i).is_some()) {
        items.sort_by_key(key_of);
    }
}

fn opt_bytes(b: Option<Bytes>) -> Value {
    match b {
        Some(b) => Value::Bytes(b.to_vec()),
        None => Value::Atom("null".into()),
    }
}

fn dropped(name: &str) -> bool {
    // Quotas are not compared; disk sizes are the machine's.
    matches!(name, "throttle_time_ms" | "total_bytes" | "usable_bytes")
}

/// A time field holding a wall-clock reading (after 2001) rather than a
/// duration or a value the case chose.
fn is_wall_clock(name: &str, a: &str) -> bool {
    (name.contains("time") || name.contains("timestamp"))
        && a.parse::<i64>().is_ok_and(|t| t > 1_000_000_000_000)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tree::parse;

    #[test]
    fn identifiers_become_placeholders_numbered_by_first_appearance() {
        let mut a = parse(
            "R { throttle_time_ms: 5, topics: [T { topic_id: Uuid([1, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]), leader_id: 7, isr_nodes: [7, 9] }, T { topic_id: Uuid([1, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]), leader_id: -1, isr_nodes: [] }], host: \"10.0.0.1\", error_message: Some(\"\"), timestamp: 1700000000000, base_offset: 1700000000000 }",
        )
        .unwrap();
        Normaliser::default().apply(&mut a);
        assert_eq!(
            a.to_string(),
            "{ topics: [{ topic_id: <topic-id#1>, leader_id: <node#1>, isr_nodes: [<node#1>, <node#2>] }, \
             { topic_id: <topic-id#1>, leader_id: -1, isr_nodes: [] }], host: <host>, \
             error_message: null, timestamp: <now>, base_offset: 1700000000000 }"
        );
    }

    #[test]
    fn records_are_compared_by_content() {
        let mut b = vltava_records::RecordBatchBuilder::new().producer(4000, 0, 0);
        b.append(1_700_000_000_000, Some(b"k"), Some(b"v"), &[(b"h", None)])
            .unwrap();
        let batch = b.build().unwrap();
        let mut v = Value::Struct(vec![("records".into(), Value::Bytes(batch.to_vec()))]);
        Normaliser::default().apply(&mut v);
        let text = v.to_string();
        assert!(text.contains("producer_id: <producer-id#1>"), "{text}");
        assert!(text.contains("key: b\"k\", value: b\"v\""), "{text}");
        assert!(text.contains("timestamp: <now>"), "{text}");
        assert!(text.contains("crc_ok: true"), "{text}");
    }
}
