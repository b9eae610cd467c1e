//! The controller's decisions, as pure functions of the current image and a
//! request: which metadata records a topic creation, deletion or partition
//! increase produces, or which Kafka error refuses it. Persisting the
//! records and applying them is the caller's job; keeping this part free of
//! I/O makes it deterministic and testable.

use std::collections::{BTreeMap, BTreeSet};

use vltava_protocol::{ErrorCode, Uuid};

use crate::image::{BrokerImage, MetadataImage, RESOURCE_TOPIC};
use crate::records::{Endpoint, MetadataRecord};

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
/// partition, and one Config record per override. Replicas are placed over
/// the active brokers (see [`place_replicas`]) starting where the topic id
/// says ([`PlacementSeed::from_topic_id`]), so topics with random ids lead
/// on different brokers.
pub fn plan_create_topic(
    image: &MetadataImage,
    topic: &NewTopic,
    defaults: TopicDefaults,
    topic_id: Uuid,
) -> Result<Vec<MetadataRecord>, Refusal> {
    plan_create_topic_with(
        image,
        topic,
        defaults,
        topic_id,
        PlacementSeed::from_topic_id(&topic_id),
    )
}

/// [`plan_create_topic`] with the placement's starting point given.
pub fn plan_create_topic_with(
    image: &MetadataImage,
    topic: &NewTopic,
    defaults: TopicDefaults,
    topic_id: Uuid,
    seed: PlacementSeed,
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
        let brokers = placement_brokers(image, rf as usize)?;
        place_replicas(&brokers, 0, partitions, rf as usize, seed)?
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
            validate_replicas(image, replicas, sorted[0].1.len())?;
        }
        sorted.into_iter().map(|(_, r)| r).collect()
    };
    let mut records = Vec::with_capacity(1 + assignments.len() + topic.configs.len());
    records.push(MetadataRecord::Topic {
        name: topic.name.clone(),
        topic_id,
    });
    for (p, replicas) in assignments.into_iter().enumerate() {
        records.push(partition_record(image, topic_id, p as i32, replicas)?);
    }
    records.extend(topic.configs.iter().map(|(k, v)| MetadataRecord::Config {
        resource_type: RESOURCE_TOPIC,
        resource_name: topic.name.clone(),
        name: k.clone(),
        value: Some(v.clone()),
    }));
    Ok(records)
}

/// Checks a manual assignment of one partition: the same length as the
/// others, no broker twice, every broker registered (fenced ones too, as
/// Kafka allows: they join the ISR when unfenced).
fn validate_replicas(
    image: &MetadataImage,
    replicas: &[i32],
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
    if let Some(b) = replicas.iter().find(|b| !image.brokers.contains_key(b)) {
        return Err(Refusal::new(
            ErrorCode::INVALID_REPLICA_ASSIGNMENT,
            format!(
                "The manual partition assignment includes broker {b}, but no such broker is registered."
            ),
        ));
    }
    Ok(())
}

/// A new partition: its ISR is its active replicas (all of them when
/// placed; a manual assignment may name fenced brokers), led by the first.
fn partition_record(
    image: &MetadataImage,
    topic_id: Uuid,
    partition: i32,
    replicas: Vec<i32>,
) -> Result<MetadataRecord, Refusal> {
    let isr: Vec<i32> = replicas
        .iter()
        .copied()
        .filter(|b| image.brokers.get(b).is_some_and(BrokerImage::is_active))
        .collect();
    let Some(&leader) = isr.first() else {
        return Err(Refusal::new(
            ErrorCode::INVALID_REPLICA_ASSIGNMENT,
            format!(
                "All brokers specified in the manual partition assignment for partition {partition} are fenced or in controlled shutdown."
            ),
        ));
    };
    Ok(MetadataRecord::Partition {
        topic_id,
        partition,
        leader,
        isr,
        replicas,
        leader_epoch: 0,
        partition_epoch: 0,
    })
}

/// Where a placement starts: Kafka's start index (which broker of the
/// rack-alternated list leads partition 0) and replica shift (how far a
/// partition's followers are from its leader). Kafka draws both at random;
/// here they come from an injected value so plans are deterministic.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PlacementSeed {
    pub start_index: usize,
    pub replica_shift: usize,
}

impl PlacementSeed {
    /// Both from the topic id (random when the caller draws it), so topics
    /// start on different brokers, and partitions added later continue the
    /// same stripe.
    pub fn from_topic_id(id: &Uuid) -> Self {
        let word =
            |i: usize| u32::from_be_bytes(id.0[i..i + 4].try_into().expect("4 bytes")) as usize;
        PlacementSeed {
            start_index: word(0),
            replica_shift: word(4),
        }
    }
}

/// The brokers new replicas may go to (unfenced, not in controlled
/// shutdown), with their racks, or Kafka's refusal when there are fewer
/// than `rf`. Fenced brokers are never a fallback: a placement on them
/// would have no leader.
pub fn placement_brokers(
    image: &MetadataImage,
    rf: usize,
) -> Result<Vec<(i32, Option<&str>)>, Refusal> {
    let refuse = |why: String| {
        Err(Refusal::new(
            ErrorCode::INVALID_REPLICATION_FACTOR,
            format!("Unable to replicate the partition {rf} time(s): {why}"),
        ))
    };
    let registered = image.brokers.len();
    if rf > registered {
        return refuse(format!(
            "The target replication factor of {rf} cannot be reached because only {registered} broker(s) are registered."
        ));
    }
    let active: Vec<(i32, Option<&str>)> = image
        .active_brokers()
        .into_iter()
        .map(|b| (b.id, b.rack.as_deref()))
        .collect();
    if active.is_empty() {
        return refuse("All brokers are currently fenced.".into());
    }
    if rf > active.len() {
        return refuse(format!(
            "The target replication factor of {rf} cannot be reached because only {} of the {registered} registered broker(s) are unfenced and not in controlled shutdown.",
            active.len()
        ));
    }
    Ok(active)
}

/// Kafka's rack-alternated broker list: the first broker of each rack (in
/// rack order), then the second of each, and so on, so that consecutive
/// brokers are on different racks where possible. Brokers without a rack
/// count as one rack of their own.
fn rack_alternated<'a>(brokers: &[(i32, Option<&'a str>)]) -> Vec<(i32, Option<&'a str>)> {
    let mut racks: BTreeMap<Option<&str>, Vec<i32>> = BTreeMap::new();
    for &(id, rack) in brokers {
        racks.entry(rack).or_default().push(id);
    }
    for ids in racks.values_mut() {
        ids.sort_unstable();
    }
    let longest = racks.values().map(Vec::len).max().unwrap_or(0);
    (0..longest)
        .flat_map(|i| {
            racks
                .iter()
                .filter_map(move |(rack, ids)| ids.get(i).map(|&id| (id, *rack)))
        })
        .collect()
}

/// Places the replicas of partitions `first_partition..first_partition +
/// count` on `brokers` (id, rack), the way Kafka's rack-aware assignment
/// does: the brokers are alternated by rack; partition p is led by the
/// broker at `(p + start_index) % n` of that list, so leaders rotate and
/// no broker leads more than one partition more than another; its
/// followers are taken at a shift from the leader that grows by one every
/// `n` partitions (so followers spread too), skipping a broker whose rack
/// already holds a replica while some rack holds none. Every partition's
/// replicas are distinct brokers, on `min(rf, racks)` distinct racks.
///
/// Refused when `rf` is 0, exceeds the brokers, or a broker is listed twice.
pub fn place_replicas(
    brokers: &[(i32, Option<&str>)],
    first_partition: i32,
    count: i32,
    rf: usize,
    seed: PlacementSeed,
) -> Result<Vec<Vec<i32>>, Refusal> {
    let arranged = rack_alternated(brokers);
    let n = arranged.len();
    let distinct: BTreeSet<i32> = arranged.iter().map(|b| b.0).collect();
    if rf == 0 || rf > n || distinct.len() != n || first_partition < 0 || count < 0 {
        return Err(Refusal::new(
            ErrorCode::INVALID_REPLICATION_FACTOR,
            format!("Cannot place {count} partition(s) {rf} time(s) over {n} broker(s)."),
        ));
    }
    let racks = arranged.iter().map(|b| b.1).collect::<BTreeSet<_>>().len();
    let start = seed.start_index % n;
    Ok((first_partition..first_partition + count)
        .map(|p| {
            let p = p as usize;
            let shift = seed.replica_shift.wrapping_add(p / n) % n.max(1);
            let first = (p + start) % n;
            let mut replicas = vec![arranged[first].0];
            let mut used_racks = BTreeSet::from([arranged[first].1]);
            let mut k = 0;
            while replicas.len() < rf {
                let (id, rack) = arranged[follower_index(first, shift * racks, k, n)];
                k += 1;
                let rack_ok = !used_racks.contains(&rack) || used_racks.len() == racks;
                if rack_ok && !replicas.contains(&id) {
                    replicas.push(id);
                    used_racks.insert(rack);
                }
            }
            replicas
        })
        .collect())
}

/// Kafka's `replicaIndex`: the k-th candidate follower of the leader at
/// `first`, never the leader itself (n > 1 whenever a follower is needed).
fn follower_index(first: usize, shift: usize, k: usize, n: usize) -> usize {
    let step = 1 + (shift + k) % (n - 1);
    (first + step) % n
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
/// New partitions are placed like the topic's first ones (the seed comes
/// from the topic id), over the brokers active now.
pub fn plan_create_partitions(
    image: &MetadataImage,
    name: &str,
    total: i32,
    assignments: Option<&[Vec<i32>]>,
) -> Result<Vec<MetadataRecord>, Refusal> {
    let seed = image
        .topic(name)
        .map(|t| PlacementSeed::from_topic_id(&t.id))
        .unwrap_or_default();
    plan_create_partitions_with(image, name, total, assignments, seed)
}

/// [`plan_create_partitions`] with the placement's starting point given.
pub fn plan_create_partitions_with(
    image: &MetadataImage,
    name: &str,
    total: i32,
    assignments: Option<&[Vec<i32>]>,
    seed: PlacementSeed,
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
                validate_replicas(image, replicas, rf)?;
            }
            a.to_vec()
        }
        None => {
            let brokers = placement_brokers(image, rf)?;
            place_replicas(&brokers, current, total - current, rf, seed)?
        }
    };
    new.into_iter()
        .enumerate()
        .map(|(i, r)| partition_record(image, topic.id, current + i as i32, r))
        .collect()
}

/// A registration planned: the records to append (none when the broker is
/// already registered with this incarnation) and the broker's epoch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Registration {
    pub records: Vec<MetadataRecord>,
    pub broker_epoch: i64,
}

/// Plans a BrokerRegistration. Kafka gives a (re)registering broker a new
/// epoch, the offset of its RegisterBrokerRecord; planning happens before
/// the append, so the caller passes that offset as `new_epoch`.
///
/// - The same incarnation id as the registered one is a retry: no records,
///   the existing epoch (the process's endpoints and rack cannot have
///   changed).
/// - Another incarnation while the registered one's heartbeat session is
///   alive (`session_alive`, which the image does not know) is
///   DUPLICATE_BROKER_REGISTRATION. As in Kafka, fencing does not matter: a
///   fenced broker that is catching up still heartbeats.
/// - Otherwise a RegisterBroker record replaces any old registration. It
///   starts fenced: Kafka unfences a broker once it has caught up with the
///   metadata log and says so in a heartbeat ([`plan_unfence_broker`]).
pub fn plan_register_broker(
    image: &MetadataImage,
    broker_id: i32,
    incarnation_id: Uuid,
    endpoints: Vec<Endpoint>,
    rack: Option<String>,
    new_epoch: i64,
    session_alive: bool,
) -> Result<Registration, Refusal> {
    if broker_id < 0 {
        return Err(Refusal::new(
            ErrorCode::INVALID_REQUEST,
            format!("Broker id {broker_id} is negative."),
        ));
    }
    if let Some(existing) = image.brokers.get(&broker_id) {
        if existing.incarnation_id == incarnation_id {
            return Ok(Registration {
                records: Vec::new(),
                broker_epoch: existing.epoch,
            });
        }
        if session_alive {
            return Err(Refusal::new(
                ErrorCode::DUPLICATE_BROKER_REGISTRATION,
                format!(
                    "Another broker is registered with broker id {broker_id}. If the broker was recently restarted this should self-resolve once the heartbeat timeout expires."
                ),
            ));
        }
        debug_assert!(new_epoch > existing.epoch, "broker epochs only grow");
    }
    Ok(Registration {
        records: vec![MetadataRecord::RegisterBroker {
            broker_id,
            incarnation_id,
            broker_epoch: new_epoch,
            endpoints,
            rack,
            fenced: true,
        }],
        broker_epoch: new_epoch,
    })
}

fn registered(image: &MetadataImage, broker_id: i32) -> Result<&BrokerImage, Refusal> {
    image.brokers.get(&broker_id).ok_or_else(|| {
        Refusal::new(
            ErrorCode::BROKER_ID_NOT_REGISTERED,
            format!("Broker {broker_id} is not registered."),
        )
    })
}

/// The registration a broker's own request (a heartbeat) names: unknown ids
/// are BROKER_ID_NOT_REGISTERED, other epochs STALE_BROKER_EPOCH.
fn registered_at(
    image: &MetadataImage,
    broker_id: i32,
    broker_epoch: i64,
) -> Result<&BrokerImage, Refusal> {
    let broker = registered(image, broker_id)?;
    if broker.epoch != broker_epoch {
        return Err(Refusal::new(
            ErrorCode::STALE_BROKER_EPOCH,
            format!(
                "Expected broker epoch {}, but got broker epoch {broker_epoch}.",
                broker.epoch
            ),
        ));
    }
    Ok(broker)
}

fn registration_change(
    broker: &BrokerImage,
    fenced: Option<bool>,
    in_controlled_shutdown: bool,
) -> Vec<MetadataRecord> {
    vec![MetadataRecord::BrokerRegistrationChange {
        broker_id: broker.id,
        broker_epoch: broker.epoch,
        fenced,
        in_controlled_shutdown,
    }]
}

/// Plans fencing a broker (its session expired, or it asked to be
/// fenced): a BrokerRegistrationChange, as Kafka writes since 3.3-IV2; none
/// when it is fenced already. Removing it from ISRs and moving leadership
/// away is not planned here yet.
pub fn plan_fence_broker(
    image: &MetadataImage,
    broker_id: i32,
) -> Result<Vec<MetadataRecord>, Refusal> {
    let broker = registered(image, broker_id)?;
    Ok(if broker.fenced {
        Vec::new()
    } else {
        registration_change(broker, Some(true), false)
    })
}

/// Plans unfencing a broker that has caught up with the metadata log (its
/// heartbeat of epoch `broker_epoch` says so). None when it is unfenced
/// already, or in controlled shutdown (it is on its way out; only a new
/// registration brings it back).
pub fn plan_unfence_broker(
    image: &MetadataImage,
    broker_id: i32,
    broker_epoch: i64,
) -> Result<Vec<MetadataRecord>, Refusal> {
    let broker = registered_at(image, broker_id, broker_epoch)?;
    Ok(if !broker.fenced || broker.in_controlled_shutdown {
        Vec::new()
    } else {
        registration_change(broker, Some(false), false)
    })
}

/// Plans a broker's entry into controlled shutdown (its heartbeat of epoch
/// `broker_epoch` asks to shut down). None when it is in controlled
/// shutdown already, or fenced (it leads nothing: it may stop at once).
/// Moving its leaderships away comes later.
pub fn plan_controlled_shutdown(
    image: &MetadataImage,
    broker_id: i32,
    broker_epoch: i64,
) -> Result<Vec<MetadataRecord>, Refusal> {
    let broker = registered_at(image, broker_id, broker_epoch)?;
    Ok(if broker.fenced || broker.in_controlled_shutdown {
        Vec::new()
    } else {
        registration_change(broker, None, true)
    })
}

/// Plans removing a broker's registration (UnregisterBroker).
pub fn plan_unregister_broker(
    image: &MetadataImage,
    broker_id: i32,
) -> Result<Vec<MetadataRecord>, Refusal> {
    let broker = registered(image, broker_id)?;
    Ok(vec![MetadataRecord::UnregisterBroker {
        broker_id,
        broker_epoch: broker.epoch,
    }])
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

    fn endpoint(port: u16) -> Endpoint {
        Endpoint {
            listener: "PLAINTEXT".into(),
            host: "h".into(),
            port,
            security_protocol: 0,
        }
    }

    /// Applies planned records at the next offsets.
    fn commit(image: &MetadataImage, records: &[MetadataRecord]) -> MetadataImage {
        let base = image.offset + 1;
        image
            .apply_all(
                records
                    .iter()
                    .enumerate()
                    .map(|(i, r)| (base + i as i64, r)),
            )
            .unwrap()
    }

    /// Registers and unfences brokers with the given racks, as a cluster
    /// would: each registration's epoch is the offset its record gets.
    fn cluster(racks: &[(i32, Option<&str>)]) -> MetadataImage {
        let mut image = MetadataImage::empty();
        for &(id, rack) in racks {
            let epoch = image.offset + 1;
            let reg = plan_register_broker(
                &image,
                id,
                Uuid([id as u8; 16]),
                vec![endpoint(9000 + id as u16)],
                rack.map(str::to_string),
                epoch,
                false,
            )
            .unwrap();
            assert_eq!(reg.broker_epoch, epoch);
            image = commit(&image, &reg.records);
            assert!(image.brokers[&id].fenced, "new registrations start fenced");
            let unfence = plan_unfence_broker(&image, id, epoch).unwrap();
            image = commit(&image, &unfence);
        }
        image
    }

    /// A small deterministic generator for the property tests.
    struct Lcg(u64);

    impl Lcg {
        fn next(&mut self, bound: usize) -> usize {
            self.0 = self
                .0
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((self.0 >> 33) as usize) % bound
        }
    }

    fn check_placement(
        brokers: &[(i32, Option<&str>)],
        placement: &[Vec<i32>],
        rf: usize,
        first_partition: usize,
    ) {
        let rack_of: BTreeMap<i32, Option<&str>> = brokers.iter().copied().collect();
        let racks = rack_of.values().collect::<BTreeSet<_>>().len();
        let mut leaders: BTreeMap<i32, usize> = brokers.iter().map(|b| (b.0, 0)).collect();
        for replicas in placement {
            assert_eq!(replicas.len(), rf);
            let distinct: BTreeSet<_> = replicas.iter().collect();
            assert_eq!(distinct.len(), rf, "distinct brokers: {replicas:?}");
            assert!(replicas.iter().all(|b| rack_of.contains_key(b)));
            let used: BTreeSet<_> = replicas.iter().map(|b| rack_of[b]).collect();
            assert_eq!(used.len(), rf.min(racks), "racks spread: {replicas:?}");
            *leaders.get_mut(&replicas[0]).unwrap() += 1;
        }
        // Leaders rotate over the brokers: when the placement starts on a
        // stripe boundary, no broker leads two more than another.
        if first_partition == 0 {
            let (min, max) = (leaders.values().min(), leaders.values().max());
            assert!(
                max.unwrap() - min.unwrap() <= 1,
                "leaders balanced: {leaders:?}"
            );
        }
    }

    #[test]
    fn placement_properties_hold_for_many_clusters() {
        let rack_names = ["a", "b", "c", "d"];
        let mut rng = Lcg(42);
        for _ in 0..2000 {
            let n = 1 + rng.next(9);
            let rack_count = rng.next(5); // 0: no racks
            let brokers: Vec<(i32, Option<&str>)> = (0..n)
                .map(|i| {
                    let id = (i * 3 + rng.next(3)) as i32 + 1;
                    let rack = (rack_count > 0).then(|| rack_names[rng.next(rack_count)]);
                    (id, rack)
                })
                .collect();
            let rf = 1 + rng.next(n);
            let count = 1 + rng.next(60) as i32;
            let seed = PlacementSeed {
                start_index: rng.next(1000),
                replica_shift: rng.next(1000),
            };
            let placement = place_replicas(&brokers, 0, count, rf, seed).unwrap();
            assert_eq!(placement.len(), count as usize);
            check_placement(&brokers, &placement, rf, 0);
            // Deterministic, and adding partitions later continues the
            // same placement.
            assert_eq!(
                place_replicas(&brokers, 0, count, rf, seed).unwrap(),
                placement
            );
            let cut = rng.next(count as usize + 1) as i32;
            let mut pieces = place_replicas(&brokers, 0, cut, rf, seed).unwrap();
            pieces.extend(place_replicas(&brokers, cut, count - cut, rf, seed).unwrap());
            assert_eq!(pieces, placement);
            // More replicas than brokers is refused.
            assert_eq!(
                place_replicas(&brokers, 0, count, n + 1, seed)
                    .unwrap_err()
                    .code,
                ErrorCode::INVALID_REPLICATION_FACTOR
            );
        }
    }

    #[test]
    fn placement_spreads_replicas_over_racks() {
        // Rack a holds four brokers, b and c one each: every partition of
        // RF 3 still gets one replica per rack.
        let brokers = [
            (1, Some("a")),
            (2, Some("a")),
            (3, Some("a")),
            (4, Some("a")),
            (5, Some("b")),
            (6, Some("c")),
        ];
        for start_index in 0..6 {
            let seed = PlacementSeed {
                start_index,
                replica_shift: 0,
            };
            let placement = place_replicas(&brokers, 0, 12, 3, seed).unwrap();
            for replicas in &placement {
                let racks: BTreeSet<_> = replicas
                    .iter()
                    .map(|b| brokers.iter().find(|x| x.0 == *b).unwrap().1)
                    .collect();
                assert_eq!(racks.len(), 3, "{replicas:?}");
            }
        }
    }

    #[test]
    fn topics_lead_on_different_brokers() {
        let image = cluster(&[(1, None), (2, None), (3, None)]);
        let leaders: BTreeSet<i32> = (1..=12u8)
            .map(|i| {
                let topic = NewTopic {
                    name: format!("t{i}"),
                    num_partitions: 1,
                    replication_factor: 2,
                    ..Default::default()
                };
                let mut id = [0; 16];
                id[3] = i;
                let records = plan_create_topic(&image, &topic, DEFAULTS, Uuid(id)).unwrap();
                match &records[1] {
                    MetadataRecord::Partition { leader, .. } => *leader,
                    other => panic!("{other:?}"),
                }
            })
            .collect();
        assert_eq!(leaders, BTreeSet::from([1, 2, 3]));
    }

    #[test]
    fn placement_uses_only_active_brokers() {
        let image = cluster(&[(1, Some("a")), (2, Some("b")), (3, Some("a"))]);
        let topic = |rf| NewTopic {
            name: "t".into(),
            num_partitions: 20,
            replication_factor: rf,
            ..Default::default()
        };
        let placed = |image: &MetadataImage, rf| -> Result<BTreeSet<i32>, Refusal> {
            let records = plan_create_topic(image, &topic(rf), DEFAULTS, Uuid([5; 16]))?;
            let mut used = BTreeSet::new();
            for r in records {
                if let MetadataRecord::Partition {
                    replicas,
                    isr,
                    leader,
                    ..
                } = r
                {
                    assert_eq!(isr, replicas);
                    assert_eq!(leader, replicas[0]);
                    used.extend(replicas);
                }
            }
            Ok(used)
        };
        assert_eq!(placed(&image, 3).unwrap(), BTreeSet::from([1, 2, 3]));

        let image = commit(&image, &plan_fence_broker(&image, 2).unwrap());
        assert_eq!(placed(&image, 2).unwrap(), BTreeSet::from([1, 3]));
        let refused = placed(&image, 3).unwrap_err();
        assert_eq!(refused.code, ErrorCode::INVALID_REPLICATION_FACTOR);
        assert_eq!(
            refused.message,
            "Unable to replicate the partition 3 time(s): The target replication factor of 3 cannot be reached because only 2 of the 3 registered broker(s) are unfenced and not in controlled shutdown."
        );
        let refused = placed(&image, 4).unwrap_err();
        assert_eq!(
            refused.message,
            "Unable to replicate the partition 4 time(s): The target replication factor of 4 cannot be reached because only 3 broker(s) are registered."
        );

        // A broker in controlled shutdown gets no new replicas either.
        let epoch = image.brokers[&3].epoch;
        let image = commit(&image, &plan_controlled_shutdown(&image, 3, epoch).unwrap());
        assert_eq!(placed(&image, 1).unwrap(), BTreeSet::from([1]));

        let image = commit(&image, &plan_fence_broker(&image, 1).unwrap());
        assert_eq!(
            placed(&image, 1).unwrap_err().message,
            "Unable to replicate the partition 1 time(s): All brokers are currently fenced."
        );

        // Adding partitions follows the same rules.
        let image = cluster(&[(1, None), (2, None), (3, None)]);
        let image = commit(
            &image,
            &plan_create_topic(&image, &topic(2), DEFAULTS, Uuid([5; 16])).unwrap(),
        );
        let image = commit(&image, &plan_fence_broker(&image, 3).unwrap());
        let records = plan_create_partitions(&image, "t", 30, None).unwrap();
        assert_eq!(records.len(), 10);
        for r in &records {
            let MetadataRecord::Partition { replicas, .. } = r else {
                panic!("{r:?}")
            };
            assert!(!replicas.contains(&3), "{replicas:?}");
        }
        let image = commit(&image, &plan_fence_broker(&image, 2).unwrap());
        assert_eq!(
            plan_create_partitions(&image, "t", 31, None)
                .unwrap_err()
                .code,
            ErrorCode::INVALID_REPLICATION_FACTOR
        );
    }

    #[test]
    fn manual_assignments_need_registered_brokers_and_one_active() {
        let image = cluster(&[(1, None), (2, None), (3, None)]);
        let image = commit(&image, &plan_fence_broker(&image, 2).unwrap());
        let manual = |assignments: Vec<(i32, Vec<i32>)>| {
            plan_create_topic(
                &image,
                &NewTopic {
                    name: "m".into(),
                    num_partitions: -1,
                    replication_factor: -1,
                    assignments,
                    ..Default::default()
                },
                DEFAULTS,
                Uuid([6; 16]),
            )
        };
        // A fenced broker may be a replica; it is not in the ISR and does
        // not lead.
        let records = manual(vec![(0, vec![2, 1]), (1, vec![3, 2])]).unwrap();
        assert!(matches!(
            &records[1],
            MetadataRecord::Partition { replicas, isr, leader: 1, .. }
                if replicas == &[2, 1] && isr == &[1]
        ));
        let refused = manual(vec![(0, vec![2])]).unwrap_err();
        assert_eq!(refused.code, ErrorCode::INVALID_REPLICA_ASSIGNMENT);
        assert_eq!(
            refused.message,
            "All brokers specified in the manual partition assignment for partition 0 are fenced or in controlled shutdown."
        );
        let refused = manual(vec![(0, vec![1, 9])]).unwrap_err();
        assert_eq!(
            refused.message,
            "The manual partition assignment includes broker 9, but no such broker is registered."
        );
        let image = commit(&image, &manual(vec![(0, vec![1, 3])]).unwrap());
        assert_eq!(
            plan_create_partitions(&image, "m", 2, Some(&[vec![9, 1]]))
                .unwrap_err()
                .code,
            ErrorCode::INVALID_REPLICA_ASSIGNMENT
        );
        assert!(plan_create_partitions(&image, "m", 2, Some(&[vec![2, 3]])).is_ok());
    }

    #[test]
    fn registration_epochs_and_duplicates() {
        let image = cluster(&[(1, None)]);
        let epoch = image.brokers[&1].epoch;
        assert_eq!(epoch, 0);
        // The same incarnation again (a retried request): nothing to write.
        let again = plan_register_broker(&image, 1, Uuid([1; 16]), vec![], None, 99, true).unwrap();
        assert_eq!(
            again,
            Registration {
                records: vec![],
                broker_epoch: epoch
            }
        );
        // Another process with the same id while the session is alive.
        let duplicate =
            plan_register_broker(&image, 1, Uuid([7; 16]), vec![], None, 99, true).unwrap_err();
        assert_eq!(duplicate.code, ErrorCode::DUPLICATE_BROKER_REGISTRATION);
        // Also while fenced: a catching-up broker still heartbeats.
        let fenced = commit(&image, &plan_fence_broker(&image, 1).unwrap());
        assert_eq!(
            plan_register_broker(&fenced, 1, Uuid([7; 16]), vec![], None, 99, true)
                .unwrap_err()
                .code,
            ErrorCode::DUPLICATE_BROKER_REGISTRATION
        );
        // Once the session expired, the new incarnation replaces the old
        // registration with the new epoch, fenced.
        let new_epoch = image.offset + 1;
        let reg = plan_register_broker(
            &image,
            1,
            Uuid([7; 16]),
            vec![endpoint(1)],
            None,
            new_epoch,
            false,
        )
        .unwrap();
        assert_eq!(reg.broker_epoch, new_epoch);
        let image = commit(&image, &reg.records);
        let b = &image.brokers[&1];
        assert_eq!(
            (b.epoch, b.incarnation_id, b.fenced),
            (new_epoch, Uuid([7; 16]), true)
        );
        assert_eq!(b.endpoints, vec![endpoint(1)]);
        // Heartbeats of the old epoch are stale now.
        assert_eq!(
            plan_unfence_broker(&image, 1, epoch).unwrap_err().code,
            ErrorCode::STALE_BROKER_EPOCH
        );
        assert_eq!(
            plan_register_broker(&image, -1, Uuid([7; 16]), vec![], None, 9, false)
                .unwrap_err()
                .code,
            ErrorCode::INVALID_REQUEST
        );
    }

    #[test]
    fn fencing_state_transitions() {
        let image = cluster(&[(1, None), (2, None)]);
        let epoch = image.brokers[&2].epoch;
        for unknown in [
            plan_fence_broker(&image, 9),
            plan_unfence_broker(&image, 9, 0),
            plan_controlled_shutdown(&image, 9, 0),
            plan_unregister_broker(&image, 9),
        ] {
            assert_eq!(
                unknown.unwrap_err().code,
                ErrorCode::BROKER_ID_NOT_REGISTERED
            );
        }
        assert_eq!(
            plan_controlled_shutdown(&image, 2, epoch + 1)
                .unwrap_err()
                .code,
            ErrorCode::STALE_BROKER_EPOCH
        );
        // Unfenced: unfencing again writes nothing; fencing writes a change.
        assert!(plan_unfence_broker(&image, 2, epoch).unwrap().is_empty());
        let fence = plan_fence_broker(&image, 2).unwrap();
        assert_eq!(
            fence,
            vec![MetadataRecord::BrokerRegistrationChange {
                broker_id: 2,
                broker_epoch: epoch,
                fenced: Some(true),
                in_controlled_shutdown: false
            }]
        );
        let fenced = commit(&image, &fence);
        assert_eq!(fenced.unfenced_brokers(), vec![1]);
        assert!(plan_fence_broker(&fenced, 2).unwrap().is_empty());
        // A fenced broker may stop at once: no controlled shutdown record.
        assert!(plan_controlled_shutdown(&fenced, 2, epoch)
            .unwrap()
            .is_empty());
        let unfenced = commit(&fenced, &plan_unfence_broker(&fenced, 2, epoch).unwrap());
        assert_eq!(unfenced.unfenced_brokers(), vec![1, 2]);

        // Controlled shutdown, then fenced when done; no way back but a
        // new registration.
        let shutting = commit(
            &unfenced,
            &plan_controlled_shutdown(&unfenced, 2, epoch).unwrap(),
        );
        assert!(shutting.brokers[&2].in_controlled_shutdown);
        assert!(plan_controlled_shutdown(&shutting, 2, epoch)
            .unwrap()
            .is_empty());
        let down = commit(&shutting, &plan_fence_broker(&shutting, 2).unwrap());
        assert!(plan_unfence_broker(&down, 2, epoch).unwrap().is_empty());

        let gone = commit(&down, &plan_unregister_broker(&down, 2).unwrap());
        assert_eq!(gone.brokers.keys().copied().collect::<Vec<_>>(), vec![1]);
    }

    /// A cluster's whole history, written in Kafka's framing and replayed
    /// from the start, gives the same image as applying the plans did.
    #[test]
    fn a_log_of_membership_and_topics_replays_to_the_same_image() {
        let mut log: Vec<MetadataRecord> = Vec::new();
        let mut image = MetadataImage::empty();
        let mut append = |image: &mut MetadataImage, records: Vec<MetadataRecord>| {
            *image = commit(image, &records);
            log.extend(records);
        };
        for (id, rack) in [(1, "a"), (2, "b"), (3, "c")] {
            let epoch = image.offset + 1;
            let reg = plan_register_broker(
                &image,
                id,
                Uuid([id as u8; 16]),
                vec![endpoint(id as u16)],
                Some(rack.into()),
                epoch,
                false,
            )
            .unwrap();
            append(&mut image, reg.records);
        }
        for id in [1, 2, 3] {
            let epoch = image.brokers[&id].epoch;
            let records = plan_unfence_broker(&image, id, epoch).unwrap();
            append(&mut image, records);
        }
        let topic = NewTopic {
            name: "orders".into(),
            num_partitions: 6,
            replication_factor: 3,
            ..Default::default()
        };
        let records = plan_create_topic(&image, &topic, DEFAULTS, Uuid([0xab; 16])).unwrap();
        append(&mut image, records);
        let records = plan_fence_broker(&image, 3).unwrap();
        append(&mut image, records);
        assert_eq!(
            plan_create_partitions(&image, "orders", 9, None)
                .unwrap_err()
                .code,
            ErrorCode::INVALID_REPLICATION_FACTOR,
            "RF 3 needs three active brokers"
        );
        let epoch = image.offset + 1;
        let reg = plan_register_broker(
            &image,
            3,
            Uuid([0x33; 16]),
            vec![endpoint(3)],
            Some("c".into()),
            epoch,
            false,
        )
        .unwrap();
        append(&mut image, reg.records);
        let records = plan_unfence_broker(&image, 3, epoch).unwrap();
        append(&mut image, records);
        let records = plan_create_partitions(&image, "orders", 9, None).unwrap();
        append(&mut image, records);
        let records = plan_unregister_broker(&image, 2).unwrap();
        append(&mut image, records);

        let decoded: Vec<MetadataRecord> = log
            .iter()
            .map(|r| MetadataRecord::decode(r.encode().unwrap()).unwrap())
            .collect();
        assert_eq!(decoded, log);
        let replayed = MetadataImage::empty()
            .apply_all(decoded.iter().enumerate().map(|(i, r)| (i as i64, r)))
            .unwrap();
        assert_eq!(replayed.offset, image.offset);
        assert_eq!(replayed.brokers, image.brokers);
        assert_eq!(replayed.brokers[&3].epoch, epoch);
        assert_eq!(
            replayed.topic("orders").unwrap(),
            image.topic("orders").unwrap()
        );
        assert_eq!(replayed.topic("orders").unwrap().partitions.len(), 9);
        assert_eq!(replayed.unfenced_brokers(), vec![1, 3]);
    }
}
