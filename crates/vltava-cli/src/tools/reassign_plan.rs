//! Reassignment plans as `kafka-reassign-partitions` writes and reads
//! them: `{"version":1,"partitions":[{"topic","partition","replicas",
//! "log_dirs"}]}`. `vltava topics reassign --generate` proposes one that
//! moves whole topics onto a set of brokers, `--execute` submits one,
//! `--verify` checks how far it got.
//!
//! Proposals use the controller's own placement
//! (`vltava_metadata::controller::place_replicas`: racks alternated,
//! leaders rotated, followers spread), seeded from the topic id as the
//! controller seeds a new topic's, so the same input gives the same plan.

use std::collections::BTreeMap;

use serde_json::{json, Value};
use vltava_client::{BrokerMetadata, PartitionReassignment, TopicMetadata, TopicPartition};
use vltava_metadata::controller::{place_replicas, PlacementSeed};

use super::ToolError;

/// One partition's replicas in a plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assignment {
    pub topic: String,
    pub partition: i32,
    pub replicas: Vec<i32>,
}

/// The JSON of a plan (Kafka's format, `log_dirs` all "any").
pub fn plan_json(assignments: &[Assignment]) -> Value {
    json!({
        "version": 1,
        "partitions": assignments.iter().map(|a| json!({
            "topic": a.topic,
            "partition": a.partition,
            "replicas": a.replicas,
            "log_dirs": vec!["any"; a.replicas.len()],
        })).collect::<Vec<_>>(),
    })
}

/// Reads a plan; refuses what Kafka's tool refuses (no partitions, a
/// partition twice, empty or repeated replicas, a `log_dirs` list not as
/// long as the replicas'). Where each replica's log directory goes is read
/// by [`parse_log_dirs`].
pub fn parse_plan(text: &str) -> Result<Vec<Assignment>, ToolError> {
    let bad = |why: String| ToolError::Input(format!("reassignment plan: {why}"));
    let value: Value = serde_json::from_str(text).map_err(|e| bad(format!("not JSON: {e}")))?;
    match value.get("version").and_then(Value::as_i64) {
        Some(1) | None => {}
        Some(v) => return Err(bad(format!("version {v} is not supported (1 is)"))),
    }
    let partitions = value
        .get("partitions")
        .and_then(Value::as_array)
        .ok_or_else(|| bad("no \"partitions\" list".into()))?;
    if partitions.is_empty() {
        return Err(bad("the \"partitions\" list is empty".into()));
    }
    let mut out: Vec<Assignment> = Vec::with_capacity(partitions.len());
    for p in partitions {
        let topic = p
            .get("topic")
            .and_then(Value::as_str)
            .ok_or_else(|| bad(format!("an entry without a \"topic\": {p}")))?;
        let partition = p
            .get("partition")
            .and_then(Value::as_i64)
            .and_then(|n| i32::try_from(n).ok())
            .filter(|n| *n >= 0)
            .ok_or_else(|| bad(format!("{topic}: no valid \"partition\"")))?;
        let replicas: Vec<i32> = p
            .get("replicas")
            .and_then(Value::as_array)
            .ok_or_else(|| bad(format!("{topic}-{partition}: no \"replicas\" list")))?
            .iter()
            .map(|r| r.as_i64().and_then(|n| i32::try_from(n).ok()))
            .collect::<Option<_>>()
            .ok_or_else(|| bad(format!("{topic}-{partition}: replicas must be broker ids")))?;
        if replicas.is_empty() {
            return Err(bad(format!(
                "{topic}-{partition}: the replica list is empty"
            )));
        }
        let mut distinct = replicas.clone();
        distinct.sort_unstable();
        distinct.dedup();
        if distinct.len() != replicas.len() {
            return Err(bad(format!(
                "{topic}-{partition}: a broker is listed twice in {replicas:?}"
            )));
        }
        if let Some(dirs) = p.get("log_dirs").and_then(Value::as_array) {
            if dirs.len() != replicas.len() {
                return Err(bad(format!(
                    "{topic}-{partition}: {} log_dirs for {} replicas",
                    dirs.len(),
                    replicas.len()
                )));
            }
            if dirs.iter().any(|d| d.as_str().is_none_or(str::is_empty)) {
                return Err(bad(format!(
                    "{topic}-{partition}: log_dirs must be paths or \"any\""
                )));
            }
        }
        if out
            .iter()
            .any(|a| a.topic == topic && a.partition == partition)
        {
            return Err(bad(format!("{topic}-{partition} is listed twice")));
        }
        out.push(Assignment {
            topic: topic.to_string(),
            partition,
            replicas,
        });
    }
    Ok(out)
}

/// A replica a plan puts in a given log directory of its broker
/// (AlterReplicaLogDirs), not "any".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirMove {
    pub topic: String,
    pub partition: i32,
    pub broker: i32,
    pub dir: String,
}

/// The replicas of a plan ([`parse_plan`] checked it) with a log
/// directory other than "any", in plan order.
pub fn parse_log_dirs(text: &str) -> Result<Vec<DirMove>, ToolError> {
    let value: Value = serde_json::from_str(text)
        .map_err(|e| ToolError::Input(format!("reassignment plan: not JSON: {e}")))?;
    let mut out = Vec::new();
    for p in value
        .get("partitions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let (Some(topic), Some(partition), Some(replicas), Some(dirs)) = (
            p.get("topic").and_then(Value::as_str),
            p.get("partition").and_then(Value::as_i64),
            p.get("replicas").and_then(Value::as_array),
            p.get("log_dirs").and_then(Value::as_array),
        ) else {
            continue;
        };
        for (broker, dir) in replicas.iter().zip(dirs) {
            let (Some(broker), Some(dir)) = (broker.as_i64(), dir.as_str()) else {
                continue;
            };
            if dir != "any" {
                out.push(DirMove {
                    topic: topic.to_string(),
                    partition: partition as i32,
                    broker: broker as i32,
                    dir: dir.to_string(),
                });
            }
        }
    }
    Ok(out)
}

/// The current replicas of every partition of `topics`.
pub fn current(topics: &[TopicMetadata]) -> Vec<Assignment> {
    topics
        .iter()
        .flat_map(|t| {
            t.partitions.iter().map(|p| Assignment {
                topic: t.name.clone(),
                partition: p.partition,
                replicas: p.replicas.clone(),
            })
        })
        .collect()
}

/// A balanced placement of `topics` over the brokers `to` (ids that must
/// be in `brokers`), each partition keeping its replication factor.
pub fn generate(
    topics: &[TopicMetadata],
    brokers: &[BrokerMetadata],
    to: &[i32],
) -> Result<Vec<Assignment>, ToolError> {
    let mut targets: Vec<(i32, Option<&str>)> = Vec::with_capacity(to.len());
    for id in to {
        let Some(b) = brokers.iter().find(|b| b.node_id == *id) else {
            return Err(ToolError::Input(format!(
                "broker {id} is not in the cluster (brokers: {})",
                brokers
                    .iter()
                    .map(|b| b.node_id.to_string())
                    .collect::<Vec<_>>()
                    .join(",")
            )));
        };
        if targets.iter().any(|(t, _)| t == id) {
            return Err(ToolError::Input(format!("broker {id} is listed twice")));
        }
        targets.push((b.node_id, b.rack.as_deref()));
    }
    let mut out = Vec::new();
    for topic in topics {
        let seed = PlacementSeed::from_topic_id(&topic.topic_id);
        for p in &topic.partitions {
            let rf = p.replicas.len();
            let placed = place_replicas(&targets, p.partition, 1, rf, seed).map_err(|_| {
                ToolError::Input(format!(
                    "{}-{} has {rf} replicas; {} broker(s) cannot hold them",
                    topic.name,
                    p.partition,
                    targets.len()
                ))
            })?;
            out.push(Assignment {
                topic: topic.name.clone(),
                partition: p.partition,
                replicas: placed.into_iter().next().expect("one partition placed"),
            });
        }
    }
    Ok(out)
}

/// Where one partition of a plan stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MoveState {
    /// Its replicas are the plan's, nothing in progress.
    Complete,
    /// A reassignment is moving it.
    InProgress {
        adding: Vec<i32>,
        removing: Vec<i32>,
    },
    /// Neither: not submitted, cancelled, or moved elsewhere since.
    Differs { replicas: Vec<i32> },
    /// The topic or partition does not exist.
    Missing,
}

/// How far each partition of `plan` got, from the topics' metadata and
/// the reassignments in progress.
pub fn progress(
    plan: &[Assignment],
    topics: &[TopicMetadata],
    ongoing: &[PartitionReassignment],
) -> Vec<(TopicPartition, MoveState)> {
    let replicas: BTreeMap<(&str, i32), &Vec<i32>> = topics
        .iter()
        .flat_map(|t| {
            t.partitions
                .iter()
                .map(move |p| ((t.name.as_str(), p.partition), &p.replicas))
        })
        .collect();
    plan.iter()
        .map(|a| {
            let tp = TopicPartition::new(&a.topic, a.partition);
            let state = if let Some(r) = ongoing
                .iter()
                .find(|r| r.topic == a.topic && r.partition == a.partition)
            {
                MoveState::InProgress {
                    adding: r.adding_replicas.clone(),
                    removing: r.removing_replicas.clone(),
                }
            } else {
                match replicas.get(&(a.topic.as_str(), a.partition)) {
                    None => MoveState::Missing,
                    Some(r) if **r == a.replicas => MoveState::Complete,
                    Some(r) => MoveState::Differs {
                        replicas: (*r).clone(),
                    },
                }
            };
            (tp, state)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use vltava_client::{ErrorCode, PartitionMetadata, Uuid};

    use super::*;

    fn topic(name: &str, id: u8, replicas: &[&[i32]]) -> TopicMetadata {
        TopicMetadata {
            name: name.into(),
            topic_id: Uuid([id; 16]),
            is_internal: false,
            error: ErrorCode::NONE,
            partitions: replicas
                .iter()
                .enumerate()
                .map(|(i, r)| PartitionMetadata {
                    partition: i as i32,
                    leader: r[0],
                    leader_epoch: 0,
                    replicas: r.to_vec(),
                    isr: r.to_vec(),
                    offline_replicas: Vec::new(),
                    error: ErrorCode::NONE,
                })
                .collect(),
        }
    }

    fn broker(id: i32, rack: Option<&str>) -> BrokerMetadata {
        BrokerMetadata {
            node_id: id,
            host: "h".into(),
            port: 1,
            rack: rack.map(Into::into),
        }
    }

    #[test]
    fn a_generated_plan_moves_every_partition_onto_the_brokers_named() {
        let topics = [
            topic(
                "a",
                1,
                &[&[1, 2], &[2, 3], &[3, 1], &[1, 2], &[2, 3], &[3, 1]],
            ),
            topic("b", 2, &[&[1], &[2], &[3]]),
        ];
        let brokers: Vec<_> = (1..=5).map(|i| broker(i, None)).collect();
        let plan = generate(&topics, &brokers, &[3, 4, 5]).unwrap();
        assert_eq!(plan.len(), 9);
        for a in &plan {
            let before = topics
                .iter()
                .find(|t| t.name == a.topic)
                .unwrap()
                .partitions[a.partition as usize]
                .replicas
                .len();
            assert_eq!(a.replicas.len(), before, "replication factor kept");
            assert!(a.replicas.iter().all(|r| (3..=5).contains(r)), "{a:?}");
            let mut d = a.replicas.clone();
            d.dedup();
            assert_eq!(d.len(), a.replicas.len());
        }
        // Leaders of a's six partitions rotate: two per broker.
        let mut leaders = BTreeMap::new();
        for a in plan.iter().filter(|a| a.topic == "a") {
            *leaders.entry(a.replicas[0]).or_insert(0) += 1;
        }
        assert_eq!(leaders.values().copied().collect::<Vec<_>>(), vec![2, 2, 2]);
        // The same input gives the same plan.
        assert_eq!(generate(&topics, &brokers, &[3, 4, 5]).unwrap(), plan);
        // Racks: replication factor 2 over two racks puts one on each.
        let racked = [
            broker(1, Some("x")),
            broker(2, Some("x")),
            broker(3, Some("y")),
            broker(4, Some("y")),
        ];
        for a in generate(&topics[..1], &racked, &[1, 2, 3, 4]).unwrap() {
            let racks: Vec<_> = a
                .replicas
                .iter()
                .map(|r| {
                    racked
                        .iter()
                        .find(|b| b.node_id == *r)
                        .unwrap()
                        .rack
                        .clone()
                })
                .collect();
            assert_ne!(racks[0], racks[1], "{a:?}");
        }
        // Too few brokers, or unknown ones, are refused.
        assert!(generate(&topics, &brokers, &[3]).is_err());
        assert!(generate(&topics, &brokers, &[3, 9]).is_err());
        assert!(generate(&topics, &brokers, &[3, 3, 4]).is_err());
    }

    #[test]
    fn plans_round_trip_and_bad_ones_are_refused() {
        let plan = vec![
            Assignment {
                topic: "a".into(),
                partition: 0,
                replicas: vec![2, 1],
            },
            Assignment {
                topic: "b".into(),
                partition: 3,
                replicas: vec![3],
            },
        ];
        let text = plan_json(&plan).to_string();
        assert_eq!(parse_plan(&text).unwrap(), plan);
        // What kafka-reassign-partitions writes parses too.
        let kafka = r#"{"version":1,"partitions":[{"topic":"a","partition":0,"replicas":[2,1],"log_dirs":["any","any"]}]}"#;
        assert_eq!(parse_plan(kafka).unwrap(), plan[..1]);
        for (bad, why) in [
            ("nope", "not JSON"),
            (r#"{"version":1,"partitions":[]}"#, "empty"),
            (r#"{"version":2,"partitions":[]}"#, "version 2"),
            (
                r#"{"partitions":[{"topic":"a","partition":0,"replicas":[1,1]}]}"#,
                "twice",
            ),
            (
                r#"{"partitions":[{"topic":"a","partition":0,"replicas":[]}]}"#,
                "empty",
            ),
            (
                r#"{"partitions":[{"topic":"a","partition":-1,"replicas":[1]}]}"#,
                "partition",
            ),
            (
                r#"{"partitions":[{"topic":"a","partition":0,"replicas":[1],"log_dirs":["/d","/e"]}]}"#,
                "2 log_dirs for 1 replicas",
            ),
            (
                r#"{"partitions":[{"topic":"a","partition":0,"replicas":[1],"log_dirs":[""]}]}"#,
                "paths",
            ),
            (
                r#"{"partitions":[{"topic":"a","partition":0,"replicas":[1]},{"topic":"a","partition":0,"replicas":[2]}]}"#,
                "listed twice",
            ),
        ] {
            let err = parse_plan(bad).unwrap_err().to_string();
            assert!(err.contains(why), "{bad}: {err}");
        }
    }

    #[test]
    fn log_directories_other_than_any_are_moves() {
        let text = r#"{"version":1,"partitions":[
            {"topic":"a","partition":0,"replicas":[2,1],"log_dirs":["any","/disk2"]},
            {"topic":"b","partition":3,"replicas":[1],"log_dirs":["/disk1"]},
            {"topic":"c","partition":1,"replicas":[1]}]}"#;
        assert_eq!(parse_plan(text).unwrap().len(), 3);
        assert_eq!(
            parse_log_dirs(text).unwrap(),
            vec![
                DirMove {
                    topic: "a".into(),
                    partition: 0,
                    broker: 1,
                    dir: "/disk2".into()
                },
                DirMove {
                    topic: "b".into(),
                    partition: 3,
                    broker: 1,
                    dir: "/disk1".into()
                },
            ]
        );
    }

    #[test]
    fn progress_tells_complete_moving_and_elsewhere_apart() {
        let topics = [topic("a", 1, &[&[1, 2], &[2, 3], &[3, 1]])];
        let plan = vec![
            Assignment {
                topic: "a".into(),
                partition: 0,
                replicas: vec![1, 2],
            },
            Assignment {
                topic: "a".into(),
                partition: 1,
                replicas: vec![4, 3],
            },
            Assignment {
                topic: "a".into(),
                partition: 2,
                replicas: vec![4, 1],
            },
            Assignment {
                topic: "gone".into(),
                partition: 0,
                replicas: vec![1],
            },
        ];
        let ongoing = [PartitionReassignment {
            topic: "a".into(),
            partition: 1,
            replicas: vec![4, 3, 2],
            adding_replicas: vec![4],
            removing_replicas: vec![2],
        }];
        let states: Vec<MoveState> = progress(&plan, &topics, &ongoing)
            .into_iter()
            .map(|(_, s)| s)
            .collect();
        assert_eq!(
            states,
            vec![
                MoveState::Complete,
                MoveState::InProgress {
                    adding: vec![4],
                    removing: vec![2]
                },
                MoveState::Differs {
                    replicas: vec![3, 1]
                },
                MoveState::Missing,
            ]
        );
    }
}
