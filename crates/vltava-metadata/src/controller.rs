//! The controller's decisions, as pure functions of the current image and a
//! request: which metadata records a topic creation, deletion or partition
//! increase produces, or which Kafka error refuses it. Persisting the
//! records and applying them is the caller's job; keeping this part free of
//! I/O makes it deterministic and testable.

use vltava_protocol::{ErrorCode, Uuid};

use crate::image::{MetadataImage, RESOURCE_TOPIC};
use crate::records::MetadataRecord;

/// Longest legal topic name (Kafka's limit, from file-name length limits).
pub const MAX_TOPIC_NAME_LENGTH: usize = 249;

/// A refusal with Kafka's error code and a message for the client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    pub code: ErrorCode,
    pub message: String,
}

impl Refusal {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Refusal {
            code,
            message: message.into(),
        }
    }
}

/// A topic to create, as CreateTopics (or auto-creation) asks for it.
#[derive(Clone, Debug, Default)]
pub struct NewTopic {
    pub name: String,
    /// -1: the broker default.
    pub num_partitions: i32,
    /// -1: the broker default.
    pub replication_factor: i16,
    /// Explicit replica lists by partition; when given, partitions and
    /// replication factor must be -1.
    pub assignments: Vec<(i32, Vec<i32>)>,
    /// Config overrides (already validated by the caller).
    pub configs: Vec<(String, String)>,
}

/// Defaults that fill in -1s.
#[derive(Clone, Copy, Debug)]
pub struct TopicDefaults {
    pub num_partitions: i32,
    pub replication_factor: i16,
}

/// Kafka's rules for topic names.
pub fn validate_topic_name(name: &str) -> Result<(), Refusal> {
    let invalid = |why: String| Err(Refusal::new(ErrorCode::INVALID_TOPIC_EXCEPTION, why));
    if name.is_empty() {
        return invalid("Topic name is illegal, it can't be empty".into());
    }
    if name == "." || name == ".." {
        return invalid(format!("Topic name cannot be \"{name}\""));
    }
    if name.len() > MAX_TOPIC_NAME_LENGTH {
        return invalid(format!(
            "Topic name is longer than the maximum of {MAX_TOPIC_NAME_LENGTH} characters"
        ));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        return invalid(format!(
            "Topic name \"{name}\" contains '{c}'; legal characters are ASCII letters, digits, '.', '_' and '-'"
        ));
    }
    Ok(())
}

/// '.' and '_' collide in metric names, so Kafka refuses a topic whose name
/// equals an existing one's once both are folded.
fn collides(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .all(|(x, y)| x == y || (matches!(x, b'.' | b'_') && matches!(y, b'.' | b'_')))
}

/// Plans the creation of one topic: a Topic record, one Partition record per
/// partition, and one Config record per override.
pub fn plan_create_topic(
    image: &MetadataImage,
    topic: &NewTopic,
    defaults: TopicDefaults,
    topic_id: Uuid,
) -> Result<Vec<MetadataRecord>, Refusal> {
    validate_topic_name(&topic.name)?;
    if image.topic(&topic.name).is_some() {
        return Err(Refusal::new(
            ErrorCode::TOPIC_ALREADY_EXISTS,
            format!("Topic '{}' already exists.", topic.name),
        ));
    }
    if topic.name.contains(['.', '_']) {
        if let Some(other) = image
            .topics()
            .into_iter()
            .find(|t| collides(&t.name, &topic.name))
        {
            return Err(Refusal::new(
                ErrorCode::INVALID_TOPIC_EXCEPTION,
                format!(
                    "Topic '{}' collides with existing topic: {}",
                    topic.name, other.name
                ),
            ));
        }
    }
    let brokers: Vec<i32> = image.brokers.keys().copied().collect();
    let assignments: Vec<Vec<i32>> = if topic.assignments.is_empty() {
        let partitions = if topic.num_partitions == -1 {
            defaults.num_partitions
        } else {
            topic.num_partitions
        };
        let rf = if topic.replication_factor == -1 {
            defaults.replication_factor
        } else {
            topic.replication_factor
        };
        if partitions <= 0 {
            return Err(Refusal::new(
                ErrorCode::INVALID_PARTITIONS,
                "Number of partitions must be larger than 0.",
            ));
        }
        if rf <= 0 {
            return Err(Refusal::new(
                ErrorCode::INVALID_REPLICATION_FACTOR,
                "Replication factor must be larger than 0.",
            ));
        }
        if rf as usize > brokers.len() {
            return Err(Refusal::new(
                ErrorCode::INVALID_REPLICATION_FACTOR,
                format!(
                    "Unable to replicate the partition {rf} time(s): The target replication factor of {rf} cannot be reached because only {} broker(s) are registered.",
                    brokers.len()
                ),
            ));
        }
        assign_round_robin(&brokers, 0, partitions, rf as usize, image.topic_count())
    } else {
        if topic.num_partitions != -1 || topic.replication_factor != -1 {
            return Err(Refusal::new(
                ErrorCode::INVALID_REQUEST,
                "Both numPartitions or replicationFactor and replicasAssignments were set. Both cannot be used at the same time.",
            ));
        }
        let mut sorted = topic.assignments.clone();
        sorted.sort_by_key(|(p, _)| *p);
        for (expected, (p, replicas)) in sorted.iter().enumerate() {
            if *p != expected as i32 {
                return Err(Refusal::new(
                    ErrorCode::INVALID_REPLICA_ASSIGNMENT,
                    "Partitions must be numbered consecutively from 0.",
                ));
            }
            validate_replicas(replicas, &brokers, sorted[0].1.len())?;
        }
        sorted.into_iter().map(|(_, r)| r).collect()
    };
    let mut records = Vec::with_capacity(1 + assignments.len() + topic.configs.len());
    records.push(MetadataRecord::Topic {
        name: topic.name.clone(),
        topic_id,
    });
    records.extend(
        assignments
            .into_iter()
            .enumerate()
            .map(|(p, replicas)| partition_record(topic_id, p as i32, replicas)),
    );
    records.extend(topic.configs.iter().map(|(k, v)| MetadataRecord::Config {
        resource_type: RESOURCE_TOPIC,
        resource_name: topic.name.clone(),
        name: k.clone(),
        value: Some(v.clone()),
    }));
    Ok(records)
}

fn validate_replicas(
    replicas: &[i32],
    brokers: &[i32],
    expected_len: usize,
) -> Result<(), Refusal> {
    if replicas.is_empty() || replicas.len() != expected_len {
        return Err(Refusal::new(
            ErrorCode::INVALID_REPLICA_ASSIGNMENT,
            "All partitions must have the same, non-zero number of replicas.",
        ));
    }
    let mut seen = replicas.to_vec();
    seen.sort_unstable();
    seen.dedup();
    if seen.len() != replicas.len() {
        return Err(Refusal::new(
            ErrorCode::INVALID_REPLICA_ASSIGNMENT,
            "A partition lists the same broker twice.",
        ));
    }
    if let Some(b) = replicas.iter().find(|b| !brokers.contains(b)) {
        return Err(Refusal::new(
            ErrorCode::INVALID_REPLICA_ASSIGNMENT,
            format!("Broker {b} is not registered."),
        ));
    }
    Ok(())
}

fn partition_record(topic_id: Uuid, partition: i32, replicas: Vec<i32>) -> MetadataRecord {
    MetadataRecord::Partition {
        topic_id,
        partition,
        leader: replicas[0],
        isr: replicas.clone(),
        replicas,
        leader_epoch: 0,
        partition_epoch: 0,
    }
}

/// Spreads replicas over brokers: partition p's replicas start at broker
/// (start + p) and continue round the ring; `start` varies by topic so the
/// first partitions of different topics do not all land on one broker.
fn assign_round_robin(
    brokers: &[i32],
    first_partition: i32,
    count: i32,
    rf: usize,
    start: usize,
) -> Vec<Vec<i32>> {
    (first_partition..first_partition + count)
        .map(|p| {
            (0..rf)
                .map(|r| brokers[(start + p as usize + r) % brokers.len()])
                .collect()
        })
        .collect()
}

/// Plans deleting a topic.
pub fn plan_delete_topic(
    image: &MetadataImage,
    name: Option<&str>,
    id: Option<Uuid>,
) -> Result<(String, Vec<MetadataRecord>), Refusal> {
    let topic = match (name, id) {
        (Some(n), _) => image.topic(n).ok_or_else(|| {
            Refusal::new(
                ErrorCode::UNKNOWN_TOPIC_OR_PARTITION,
                "This server does not host this topic-partition.",
            )
        })?,
        (None, Some(id)) => image.topic_by_id(&id).ok_or_else(|| {
            Refusal::new(
                ErrorCode::UNKNOWN_TOPIC_ID,
                "This server does not host this topic ID.",
            )
        })?,
        (None, None) => {
            return Err(Refusal::new(
                ErrorCode::INVALID_REQUEST,
                "Neither a topic name nor an id was given.",
            ))
        }
    };
    Ok((
        topic.name.clone(),
        vec![MetadataRecord::RemoveTopic { topic_id: topic.id }],
    ))
}

/// Plans raising a topic's partition count to `total` (never lowering it).
pub fn plan_create_partitions(
    image: &MetadataImage,
    name: &str,
    total: i32,
    assignments: Option<&[Vec<i32>]>,
) -> Result<Vec<MetadataRecord>, Refusal> {
    let topic = image.topic(name).ok_or_else(|| {
        Refusal::new(
            ErrorCode::UNKNOWN_TOPIC_OR_PARTITION,
            format!("The topic '{name}' does not exist."),
        )
    })?;
    let current = topic.partitions.len() as i32;
    if total < current {
        return Err(Refusal::new(
            ErrorCode::INVALID_PARTITIONS,
            format!("The topic {name} currently has {current} partition(s); {total} would not be an increase."),
        ));
    }
    if total == current {
        return Err(Refusal::new(
            ErrorCode::INVALID_PARTITIONS,
            format!("Topic already has {current} partition(s)."),
        ));
    }
    let rf = topic.partitions.first().map_or(1, |p| p.replicas.len());
    let brokers: Vec<i32> = image.brokers.keys().copied().collect();
    let new: Vec<Vec<i32>> = match assignments {
        Some(a) => {
            if a.len() as i32 != total - current {
                return Err(Refusal::new(
                    ErrorCode::INVALID_REPLICA_ASSIGNMENT,
                    format!(
                        "Increasing the number of partitions by {} but {} assignments provided.",
                        total - current,
                        a.len()
                    ),
                ));
            }
            for replicas in a {
                validate_replicas(replicas, &brokers, rf)?;
            }
            a.to_vec()
        }
        None => {
            if rf > brokers.len() {
                return Err(Refusal::new(
                    ErrorCode::INVALID_REPLICATION_FACTOR,
                    "Not enough brokers for the topic's replication factor.",
                ));
            }
            assign_round_robin(&brokers, current, total - current, rf, 0)
        }
    };
    Ok(new
        .into_iter()
        .enumerate()
        .map(|(i, r)| partition_record(topic.id, current + i as i32, r))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::Endpoint;

    fn image_with_broker() -> MetadataImage {
        MetadataImage::empty()
            .apply(
                0,
                &MetadataRecord::RegisterBroker {
                    broker_id: 1,
                    incarnation_id: Uuid::ZERO,
                    broker_epoch: 0,
                    fenced: false,
                    endpoints: vec![Endpoint {
                        listener: "PLAINTEXT".into(),
                        host: "h".into(),
                        port: 1,
                        security_protocol: 0,
                    }],
                    rack: None,
                },
            )
            .unwrap()
    }

    const DEFAULTS: TopicDefaults = TopicDefaults {
        num_partitions: 3,
        replication_factor: 1,
    };

    fn create(image: &MetadataImage, topic: NewTopic) -> Result<MetadataImage, Refusal> {
        let records = plan_create_topic(
            image,
            &topic,
            DEFAULTS,
            Uuid([image.topic_count() as u8 + 1; 16]),
        )?;
        Ok(image.apply_all(records.iter().map(|r| (1, r))).unwrap())
    }

    #[test]
    fn names_follow_kafka_rules() {
        assert!(validate_topic_name("orders.v1_a-b").is_ok());
        for bad in ["", ".", "..", "a b", "ä", "a/b", &"x".repeat(250)] {
            assert_eq!(
                validate_topic_name(bad).unwrap_err().code,
                ErrorCode::INVALID_TOPIC_EXCEPTION,
                "{bad:?}"
            );
        }
        assert!(validate_topic_name(&"x".repeat(249)).is_ok());
    }

    #[test]
    fn create_with_defaults_and_errors() {
        let image = image_with_broker();
        let image = create(
            &image,
            NewTopic {
                name: "a.b".into(),
                num_partitions: -1,
                replication_factor: -1,
                ..Default::default()
            },
        )
        .unwrap();
        let t = image.topic("a.b").unwrap();
        assert_eq!(t.partitions.len(), 3);
        assert_eq!(t.partitions[0].leader, 1);
        let again = create(
            &image,
            NewTopic {
                name: "a.b".into(),
                num_partitions: 1,
                replication_factor: 1,
                ..Default::default()
            },
        );
        assert_eq!(again.unwrap_err().code, ErrorCode::TOPIC_ALREADY_EXISTS);
        let collision = create(
            &image,
            NewTopic {
                name: "a_b".into(),
                num_partitions: 1,
                replication_factor: 1,
                ..Default::default()
            },
        );
        assert_eq!(
            collision.unwrap_err().code,
            ErrorCode::INVALID_TOPIC_EXCEPTION
        );
        let rf = create(
            &image,
            NewTopic {
                name: "c".into(),
                num_partitions: 1,
                replication_factor: 2,
                ..Default::default()
            },
        );
        assert_eq!(rf.unwrap_err().code, ErrorCode::INVALID_REPLICATION_FACTOR);
        let zero = create(
            &image,
            NewTopic {
                name: "c".into(),
                num_partitions: 0,
                replication_factor: 1,
                ..Default::default()
            },
        );
        assert_eq!(zero.unwrap_err().code, ErrorCode::INVALID_PARTITIONS);
        let manual = create(
            &image,
            NewTopic {
                name: "m".into(),
                num_partitions: -1,
                replication_factor: -1,
                assignments: vec![(0, vec![1]), (1, vec![1])],
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(manual.topic("m").unwrap().partitions.len(), 2);
        let unknown_broker = create(
            &image,
            NewTopic {
                name: "n".into(),
                num_partitions: -1,
                replication_factor: -1,
                assignments: vec![(0, vec![7])],
                ..Default::default()
            },
        );
        assert_eq!(
            unknown_broker.unwrap_err().code,
            ErrorCode::INVALID_REPLICA_ASSIGNMENT
        );
    }

    #[test]
    fn partitions_only_grow() {
        let image = create(
            &image_with_broker(),
            NewTopic {
                name: "t".into(),
                num_partitions: 2,
                replication_factor: 1,
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(
            plan_create_partitions(&image, "t", 1, None)
                .unwrap_err()
                .code,
            ErrorCode::INVALID_PARTITIONS
        );
        assert_eq!(
            plan_create_partitions(&image, "t", 2, None)
                .unwrap_err()
                .code,
            ErrorCode::INVALID_PARTITIONS
        );
        let records = plan_create_partitions(&image, "t", 5, None).unwrap();
        let image = image.apply_all(records.iter().map(|r| (2, r))).unwrap();
        assert_eq!(image.topic("t").unwrap().partitions.len(), 5);
        assert_eq!(
            plan_create_partitions(&image, "nope", 5, None)
                .unwrap_err()
                .code,
            ErrorCode::UNKNOWN_TOPIC_OR_PARTITION
        );
    }

    #[test]
    fn delete_by_name_or_id() {
        let image = create(
            &image_with_broker(),
            NewTopic {
                name: "t".into(),
                num_partitions: 1,
                replication_factor: 1,
                ..Default::default()
            },
        )
        .unwrap();
        let id = image.topic("t").unwrap().id;
        assert_eq!(plan_delete_topic(&image, None, Some(id)).unwrap().0, "t");
        assert_eq!(
            plan_delete_topic(&image, Some("x"), None).unwrap_err().code,
            ErrorCode::UNKNOWN_TOPIC_OR_PARTITION
        );
        assert_eq!(
            plan_delete_topic(&image, None, Some(Uuid([9; 16])))
                .unwrap_err()
                .code,
            ErrorCode::UNKNOWN_TOPIC_ID
        );
    }
}
