//! The controller's decisions, as pure functions of the current image and a
//! request: which metadata records a topic creation, deletion or partition
//! increase, a broker's registration, fencing, unfencing or shutdown, its
//! replicas' log directories and the directories that failed (KIP-858), an
//! AlterPartition, an ElectLeaders or an AlterPartitionReassignments
//! produces, or which Kafka error refuses it. Leader elections, ISR changes
//! and partition reassignments follow Kafka's KRaft controller
//! (`ReplicationControlManager`, `PartitionChangeBuilder`,
//! `PartitionReassignmentReplicas`); a replica whose log directory failed
//! never leads and cannot join an ISR. Persisting the
//! records and applying them is the caller's job; keeping this part free of
//! I/O makes it deterministic and testable. The records a plan returns
//! apply, in order, to the image it was planned on.

use std::collections::{BTreeMap, BTreeSet};

use vltava_protocol::{ErrorCode, Uuid};

use crate::image::{
    BrokerImage, MetadataImage, PartitionChangeFields, PartitionImage, LOST_DIRECTORY,
    RESOURCE_TOPIC, UNASSIGNED_DIRECTORY,
};
use crate::records::{
    Endpoint, MetadataRecord, LEADER_RECOVERY_NO_CHANGE, NO_LEADER, NO_LEADER_CHANGE,
};

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
        removing_replicas: Vec::new(),
        adding_replicas: Vec::new(),
        leader_epoch: 0,
        partition_epoch: 0,
        elr: Vec::new(),
        last_known_elr: Vec::new(),
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
///   When it replaces another incarnation, that process is gone: as Kafka's
///   `registerBroker` does (through `handleBrokerShutdown`), the old
///   incarnation leaves every ISR and its leaderships move
///   ([`plan_remove_broker_from_isrs`]). Those changes follow the
///   RegisterBroker record (Kafka writes them before it), so the record's
///   offset stays the first of the batch, which is the epoch the caller
///   passes.
/// - `log_dirs` are the directories the broker registers with that work
///   (KIP-858); when it names any, a BrokerLogDirs of the new epoch comes
///   right after the RegisterBroker record (Kafka carries them in that
///   record; ours has no field for them). None: the broker does not say,
///   and every directory counts as online.
#[allow(clippy::too_many_arguments)]
pub fn plan_register_broker(
    image: &MetadataImage,
    broker_id: i32,
    incarnation_id: Uuid,
    endpoints: Vec<Endpoint>,
    rack: Option<String>,
    log_dirs: Vec<Uuid>,
    new_epoch: i64,
    session_alive: bool,
    previous_broker_epoch: i64,
    policy: ElectionPolicy,
) -> Result<Registration, Refusal> {
    if broker_id < 0 {
        return Err(Refusal::new(
            ErrorCode::INVALID_REQUEST,
            format!("Broker id {broker_id} is negative."),
        ));
    }
    let mut departed = Vec::new();
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
        // A process that stopped cleanly says which registration it was
        // (Kafka's PreviousBrokerEpoch): its records are all on its disk,
        // so it may stay eligible. Any other new process may have lost
        // what it had not flushed.
        departed = if previous_broker_epoch == existing.epoch {
            plan_remove_broker_from_isrs(image, broker_id, policy)
        } else {
            plan_replaced_incarnation(image, broker_id, policy)
        };
    }
    let mut records = vec![MetadataRecord::RegisterBroker {
        broker_id,
        incarnation_id,
        broker_epoch: new_epoch,
        endpoints,
        rack,
        fenced: true,
    }];
    if !log_dirs.is_empty() {
        records.push(MetadataRecord::BrokerLogDirs {
            broker_id,
            broker_epoch: new_epoch,
            log_dirs,
        });
    }
    records.extend(departed);
    Ok(Registration {
        records,
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
) -> MetadataRecord {
    MetadataRecord::BrokerRegistrationChange {
        broker_id: broker.id,
        broker_epoch: broker.epoch,
        fenced,
        in_controlled_shutdown,
    }
}

/// Plans fencing a broker (its session expired, or it asked to be fenced),
/// as Kafka's `handleBrokerFenced`: it leaves every ISR and its
/// leaderships move ([`plan_remove_broker_from_isrs`]), then a
/// BrokerRegistrationChange fences it (as Kafka writes since 3.3-IV2;
/// none when it is fenced already). A fenced broker normally is in no ISR
/// but the ones it is the last member of, so fencing it again plans
/// nothing, unless unclean election can now bring one of those online.
pub fn plan_fence_broker(
    image: &MetadataImage,
    broker_id: i32,
    policy: ElectionPolicy,
) -> Result<Vec<MetadataRecord>, Refusal> {
    let broker = registered(image, broker_id)?;
    let mut records = plan_remove_broker_from_isrs(image, broker_id, policy);
    if !broker.fenced {
        records.push(registration_change(broker, Some(true), false));
    }
    Ok(records)
}

/// Plans unfencing a broker that has caught up with the metadata log (its
/// heartbeat of epoch `broker_epoch` says so). None when it is unfenced
/// already, or in controlled shutdown (it is on its way out; only a new
/// registration brings it back).
///
/// As Kafka's `handleBrokerUnfenced`: after the BrokerRegistrationChange,
/// every partition without a leader gets an election in which this broker
/// counts as live: an ISR member in replica order (this broker, when it is
/// the ISR member that was left), or, where the topic allows unclean
/// election, any live replica with the ISR reset to it.
pub fn plan_unfence_broker(
    image: &MetadataImage,
    broker_id: i32,
    broker_epoch: i64,
    policy: ElectionPolicy,
) -> Result<Vec<MetadataRecord>, Refusal> {
    let broker = registered_at(image, broker_id, broker_epoch)?;
    if !broker.fenced || broker.in_controlled_shutdown {
        return Ok(Vec::new());
    }
    let mut records = vec![registration_change(broker, Some(false), false)];
    records.extend(plan_leader_and_isr_updates(
        image,
        policy,
        None,
        Some(broker_id),
        None,
        |_, _, p| !p.has_leader(),
    ));
    Ok(records)
}

/// Plans a broker's entry into controlled shutdown (its heartbeat of epoch
/// `broker_epoch` asks to shut down), as Kafka's
/// `handleBrokerInControlledShutdown`: a BrokerRegistrationChange (none
/// when it is in controlled shutdown already), then it leaves every ISR
/// and its leaderships move ([`plan_remove_broker_from_isrs`]). Once these
/// are applied it leads nothing. A fenced broker leads nothing already and
/// may stop at once: no controlled shutdown record.
pub fn plan_controlled_shutdown(
    image: &MetadataImage,
    broker_id: i32,
    broker_epoch: i64,
    policy: ElectionPolicy,
) -> Result<Vec<MetadataRecord>, Refusal> {
    let broker = registered_at(image, broker_id, broker_epoch)?;
    let mut records = Vec::new();
    if !broker.fenced && !broker.in_controlled_shutdown {
        records.push(registration_change(broker, None, true));
    }
    records.extend(plan_remove_broker_from_isrs(image, broker_id, policy));
    Ok(records)
}

/// Plans removing a broker's registration, as Kafka's
/// `handleBrokerUnregistered`: it leaves every ISR and its leaderships
/// move ([`plan_remove_broker_from_isrs`]), then UnregisterBroker.
pub fn plan_unregister_broker(
    image: &MetadataImage,
    broker_id: i32,
    policy: ElectionPolicy,
) -> Result<Vec<MetadataRecord>, Refusal> {
    let broker = registered(image, broker_id)?;
    // Whatever registers under this id next may be another machine: out
    // of every ELR too, as for a new incarnation.
    let mut records = plan_replaced_incarnation(image, broker_id, policy);
    records.push(MetadataRecord::UnregisterBroker {
        broker_id,
        broker_epoch: broker.epoch,
    });
    Ok(records)
}

// ---------------------------------------------------------------------------
// Leader election and ISR changes
// ---------------------------------------------------------------------------

/// The topic config (and broker config) that allows electing a leader from
/// outside the ISR when no ISR member can lead, at the risk of losing the
/// records only the ISR had.
pub const UNCLEAN_LEADER_ELECTION_ENABLE: &str = "unclean.leader.election.enable";

/// What the controller may do when a partition has no eligible ISR member.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ElectionPolicy {
    /// `unclean.leader.election.enable` of the controller's effective broker
    /// config (static, with the cluster's and its own dynamic configs):
    /// what a topic without its own override gets.
    pub unclean_default: bool,
    /// `min.insync.replicas` of that config: what a topic without its own
    /// override gets. Read only while eligible leader replicas are on.
    pub min_isr_default: i32,
}

impl ElectionPolicy {
    /// Whether `topic` allows unclean leader election: its own override of
    /// [`UNCLEAN_LEADER_ELECTION_ENABLE`] if it has one, else the default
    /// (Kafka's `uncleanLeaderElectionEnabledForTopic`, which resolves topic,
    /// node, cluster and static configs in that order). Parsed as Java's
    /// `Boolean.parseBoolean`: "true" in any case, anything else false.
    pub fn unclean_enabled(&self, image: &MetadataImage, topic: &str) -> bool {
        match image
            .topic_configs(topic)
            .get(UNCLEAN_LEADER_ELECTION_ENABLE)
        {
            Some(value) => value.eq_ignore_ascii_case("true"),
            None => self.unclean_default,
        }
    }

    /// KIP-966's rules for `topic`'s partitions when eligible leader
    /// replicas are on (the `eligible.leader.replicas.version` feature):
    /// the topic's `min.insync.replicas` (its override, else the default).
    /// `None` while the feature is off.
    fn elr_min_isr(&self, image: &MetadataImage, topic: &str) -> Option<usize> {
        if !crate::features::elr_enabled(image) {
            return None;
        }
        let min_isr = image
            .topic_configs(topic)
            .get(MIN_INSYNC_REPLICAS)
            .and_then(|v| v.trim().parse::<i32>().ok())
            .unwrap_or(self.min_isr_default);
        Some(min_isr.max(1) as usize)
    }
}

/// The topic config (and broker config) of the ISR size acks=all needs,
/// and, with eligible leader replicas on, the high watermark too.
pub const MIN_INSYNC_REPLICAS: &str = "min.insync.replicas";

/// KIP-966's rules for one partition, while eligible leader replicas are
/// on (Kafka's `PartitionChangeBuilder` with ELR enabled).
#[derive(Clone, Copy, Debug)]
struct ElrRules<'a> {
    /// The partition's `min.insync.replicas`.
    min_isr: usize,
    /// Replicas whose broker came back from an unclean shutdown (a new
    /// incarnation): they may have lost records below the high watermark,
    /// so they leave the ELR.
    unclean_shutdown: &'a [i32],
}

/// How a new leader is chosen (Kafka's `PartitionChangeBuilder.Election`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Election {
    /// The first replica if it can lead; else keep a leader that still
    /// can; else as `Online`.
    Preferred,
    /// Keep a leader that can still lead; else the first replica, in
    /// replica order, that is in the ISR and can lead.
    Online,
    /// As `Online`; failing that, the first replica that can lead at all,
    /// with the ISR reset to it (records only the old ISR had may be lost).
    Unclean,
}

/// Where a change wants a partition to be (Kafka's `PartitionChangeBuilder`
/// targets): ISR, replicas and the reassignment's lists. Starts from the
/// partition as it is.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Target {
    isr: Vec<i32>,
    replicas: Vec<i32>,
    removing: Vec<i32>,
    adding: Vec<i32>,
    elr: Vec<i32>,
    last_known_elr: Vec<i32>,
}

impl Target {
    fn of(current: &PartitionImage) -> Target {
        Target {
            isr: current.isr.clone(),
            replicas: current.replicas.clone(),
            removing: current.removing_replicas.clone(),
            adding: current.adding_replicas.clone(),
            elr: current.elr.clone(),
            last_known_elr: current.last_known_elr.clone(),
        }
    }

    /// Kafka's `maybePopulateTargetElr`: with the target ISR at
    /// `min.insync.replicas` or more, no ELR; below it, every replica that
    /// was in the ISR or the ELR and is not in the target ISR is eligible
    /// (the high watermark has not moved since the ISR got too small, so
    /// each holds everything below it), except replicas back from an
    /// unclean shutdown and ones no longer replicas.
    fn populate_elr(&mut self, current: &PartitionImage, rules: ElrRules<'_>) {
        // Kafka's effective min ISR: never more than there are replicas.
        let min_isr = rules.min_isr.min(self.replicas.len()).max(1);
        if self.isr.len() >= min_isr {
            self.elr.clear();
            return;
        }
        let mut candidates = self.elr.clone();
        for r in &current.isr {
            if !candidates.contains(r) {
                candidates.push(*r);
            }
        }
        self.elr = candidates
            .into_iter()
            .filter(|r| {
                !self.isr.contains(r)
                    && !rules.unclean_shutdown.contains(r)
                    && self.replicas.contains(r)
            })
            .collect();
    }

    fn with_isr(mut self, isr: &[i32]) -> Target {
        self.isr = isr.to_vec();
        self
    }

    /// Completes a reassignment in progress once its target replicas (the
    /// replicas without the ones being removed) are all in the ISR without
    /// the ones being removed, and that ISR is not empty (Kafka's
    /// `maybeCompleteReassignment`): the replicas become the target, the
    /// removed ones leave the ISR, and both lists are cleared. Otherwise
    /// nothing changes.
    fn complete_reassignment_if_ready(&mut self) {
        if self.removing.is_empty() && self.adding.is_empty() {
            return;
        }
        let staying = |list: &[i32]| -> Vec<i32> {
            list.iter()
                .copied()
                .filter(|r| !self.removing.contains(r))
                .collect()
        };
        let isr = staying(&self.isr);
        let replicas = staying(&self.replicas);
        if isr.is_empty() || replicas.is_empty() || !replicas.iter().all(|r| isr.contains(r)) {
            return;
        }
        self.isr = isr;
        self.replicas = replicas;
        self.removing.clear();
        self.adding.clear();
    }
}

/// The change that takes a partition to `target` and holds the election,
/// or `None` when nothing would change: Kafka's `PartitionChangeBuilder`
/// for what this node models (no ELR; directories are assigned by their
/// own records). `can_lead` says which replicas may lead this partition
/// (alive, not on their way out, and with their copy in a directory that
/// works: see [`can_lead`]).
///
/// As in Kafka:
/// - a reassignment in progress completes first when the target ISR lets
///   it ([`Target::complete_reassignment_if_ready`]), whatever the change
///   was for (an ISR expansion, usually); the election then runs over the
///   completed replicas and ISR, so a leader being removed hands over to
///   the first target replica in the ISR that can lead;
/// - the ISR is never set empty (a partition whose last ISR member leaves
///   keeps it, with no leader, so that broker can lead again cleanly when
///   it returns); an unclean election sets the ISR to the new leader
///   alone;
/// - the leader field is set only when the leader changes, or when
///   replicas leave the replica set (the leader epoch goes up, fencing the
///   removed replicas' fetches of the old epoch); an ISR change alone bumps
///   only the partition epoch (metadata.version 3.6+, KAFKA-15021).
///
/// The leader recovery state is left alone (-1) even after an unclean
/// election, where Kafka marks the leader RECOVERING: the image does not
/// keep that state, so nothing would ever mark it recovered.
///
/// With eligible leader replicas on (`elr`, KIP-966):
/// - the ELR is worked out from the target ISR ([`Target::populate_elr`]);
/// - the ISR may become empty (its last member leaves into the ELR);
/// - with an empty ISR, an ELR member that can lead is elected cleanly,
///   and the ISR becomes it alone;
/// - the last known ELR holds the last leader while the ISR is empty
///   (Kafka 4.0's "last known leader"): with no ISR and no ELR left, that
///   replica is elected when it can lead, with the ISR reset to it, as a
///   partition's last ISR member was re-elected before ELR (it may have
///   lost what it had not flushed, as then); a leader clears it;
/// - an unclean election clears the ELR.
///
/// With it off, any ELR lists a partition still has are cleared.
fn change_partition(
    topic_id: Uuid,
    partition: i32,
    current: &PartitionImage,
    mut target: Target,
    election: Election,
    can_lead: &dyn Fn(i32) -> bool,
    elr: Option<ElrRules<'_>>,
) -> Option<MetadataRecord> {
    target.complete_reassignment_if_ready();
    if let Some(rules) = elr {
        target.populate_elr(current, rules);
    }
    let from_elr = |r: i32| elr.is_some() && target.isr.is_empty() && target.elr.contains(&r);
    let valid = |r: i32| (target.isr.contains(&r) || from_elr(r)) && can_lead(r);
    let first_valid = |replicas: &[i32]| replicas.iter().copied().find(|&r| valid(r));
    let keep = valid(current.leader).then_some(current.leader);
    // Kafka's `canElectLastKnownLeader` (and only when it can lead, which
    // Kafka 4.0 logs but does not enforce).
    let last_known_leader = match current.last_known_elr.as_slice() {
        [r] if elr.is_some()
            && target.isr.is_empty()
            && target.elr.is_empty()
            && target.replicas.contains(r)
            && can_lead(*r) =>
        {
            Some(*r)
        }
        _ => None,
    };
    let (leader, unclean) = match election {
        Election::Preferred => {
            let preferred = target.replicas.first().copied().filter(|&r| valid(r));
            let others = target.replicas.get(1..).unwrap_or_default();
            match preferred.or(keep).or_else(|| first_valid(others)) {
                Some(r) => (r, false),
                None => match last_known_leader {
                    Some(r) => (r, true),
                    None => (NO_LEADER, false),
                },
            }
        }
        Election::Online | Election::Unclean => {
            match keep.or_else(|| first_valid(&target.replicas)) {
                Some(r) => (r, false),
                None => {
                    let unclean = last_known_leader.or_else(|| {
                        (election == Election::Unclean)
                            .then(|| target.replicas.iter().copied().find(|&r| can_lead(r)))
                            .flatten()
                    });
                    match unclean {
                        Some(r) => (r, true),
                        None => (NO_LEADER, false),
                    }
                }
            }
        }
    };
    let mut new_leader = NO_LEADER_CHANGE;
    let mut isr = None;
    if leader != current.leader {
        new_leader = leader;
        if !unclean && from_elr(leader) {
            target.isr = vec![leader];
            target.elr.retain(|r| *r != leader);
        } else if unclean {
            isr = Some(vec![leader]);
            // The new ISR may complete a reassignment too (the leader is a
            // target replica, the rest are gone). Kafka checks before the
            // election only, and leaves such a partition reassigning
            // until its next change.
            target.isr = vec![leader];
            target.complete_reassignment_if_ready();
        }
    }
    // Kafka's `triggerLeaderEpochBumpForReplicaReassignmentIfNeeded`.
    if new_leader == NO_LEADER_CHANGE
        && !current.replicas.iter().all(|r| target.replicas.contains(r))
    {
        new_leader = current.leader;
    }
    // Kafka's `maybeUpdateRecordElr`: no ELR after an unclean election
    // (it set the ISR) or with the feature off.
    if isr.is_some() || elr.is_none() {
        target.elr.clear();
    }
    if elr.is_none() {
        target.last_known_elr.clear();
    }
    let elr_change = (target.elr != current.elr).then(|| target.elr.clone());
    if isr.is_none() && (!target.isr.is_empty() || elr.is_some()) && target.isr != current.isr {
        isr = Some(target.isr.clone());
    }
    // Kafka's `maybeUpdateLastKnownLeader`: the leader the partition had
    // when its ISR emptied is kept; a leader, new or going on, clears it.
    if elr.is_some() {
        let emptied = isr.as_ref().is_some_and(|i| i.is_empty());
        if emptied && current.leader >= 0 && current.last_known_elr != [current.leader] {
            target.last_known_elr = vec![current.leader];
        } else if new_leader >= 0 || (current.leader != NO_LEADER && new_leader != NO_LEADER) {
            target.last_known_elr.clear();
        }
    }
    let last_known_elr_change =
        (target.last_known_elr != current.last_known_elr).then(|| target.last_known_elr.clone());
    let replicas = (!target.replicas.is_empty() && target.replicas != current.replicas)
        .then_some(target.replicas);
    let removing = (target.removing != current.removing_replicas).then_some(target.removing);
    let adding = (target.adding != current.adding_replicas).then_some(target.adding);
    if isr.is_none()
        && new_leader == NO_LEADER_CHANGE
        && replicas.is_none()
        && removing.is_none()
        && adding.is_none()
        && elr_change.is_none()
        && last_known_elr_change.is_none()
    {
        return None;
    }
    Some(MetadataRecord::PartitionChange {
        topic_id,
        partition,
        isr,
        leader: new_leader,
        replicas,
        removing_replicas: removing,
        adding_replicas: adding,
        leader_recovery_state: LEADER_RECOVERY_NO_CHANGE,
        elr: elr_change,
        last_known_elr: last_known_elr_change,
    })
}

/// The state a planned PartitionChange leads to.
fn merged(current: &PartitionImage, change: &MetadataRecord) -> PartitionImage {
    match change {
        MetadataRecord::PartitionChange {
            isr,
            leader,
            replicas,
            removing_replicas,
            adding_replicas,
            elr,
            last_known_elr,
            ..
        } => current.merge(PartitionChangeFields {
            isr: isr.as_deref(),
            leader: *leader,
            replicas: replicas.as_deref(),
            removing_replicas: removing_replicas.as_deref(),
            adding_replicas: adding_replicas.as_deref(),
            elr: elr.as_deref(),
            last_known_elr: last_known_elr.as_deref(),
        }),
        other => unreachable!("not a partition change: {other:?}"),
    }
}

/// Whether `replica` may lead `partition` (Kafka's `LeaderAcceptor`): its
/// broker is registered, unfenced and not in controlled shutdown, and its
/// copy is not in a log directory that failed. Per partition, since one
/// broker may hold copies in working and failed directories at once.
fn can_lead(image: &MetadataImage, partition: &PartitionImage, replica: i32) -> bool {
    image
        .brokers
        .get(&replica)
        .is_some_and(BrokerImage::is_active)
        && image.replica_dir_online(partition, replica)
}

/// Kafka's `generateLeaderAndIsrUpdates`: for every partition `affected`
/// selects (by topic id, partition and state; topics by name, partitions
/// in order), the change that takes `removing` out of its ISR and elects a
/// leader if the current one can no longer lead. A replica can lead as
/// [`can_lead`] says, except `removing`, which never can, and `adding`,
/// which can whenever its directory works (it is being unfenced by a
/// record planned alongside, not yet in `image`). Topics that allow
/// unclean election (`policy`) get one when no ISR member can lead.
fn plan_leader_and_isr_updates(
    image: &MetadataImage,
    policy: ElectionPolicy,
    removing: Option<i32>,
    adding: Option<i32>,
    unclean_shutdown: Option<i32>,
    affected: impl Fn(Uuid, i32, &PartitionImage) -> bool,
) -> Vec<MetadataRecord> {
    let mut records = Vec::new();
    let unclean_shutdown: Vec<i32> = unclean_shutdown.into_iter().collect();
    for topic in image.topics() {
        let election = if policy.unclean_enabled(image, &topic.name) {
            Election::Unclean
        } else {
            Election::Online
        };
        let elr = policy
            .elr_min_isr(image, &topic.name)
            .map(|min_isr| ElrRules {
                min_isr,
                unclean_shutdown: &unclean_shutdown,
            });
        for (p, current) in topic.partitions.iter().enumerate() {
            if !affected(topic.id, p as i32, current) {
                continue;
            }
            let can_lead = |r: i32| {
                Some(r) != removing
                    && if Some(r) == adding {
                        image.replica_dir_online(current, r)
                    } else {
                        can_lead(image, current, r)
                    }
            };
            let target_isr: Vec<i32> = current
                .isr
                .iter()
                .copied()
                .filter(|&r| Some(r) != removing)
                .collect();
            records.extend(change_partition(
                topic.id,
                p as i32,
                current,
                Target::of(current).with_isr(&target_isr),
                election,
                &can_lead,
                elr,
            ));
        }
    }
    records
}

/// The changes that take `broker_id` out of every ISR it is in and elect
/// new leaders where it led (Kafka's `generateLeaderAndIsrUpdates` with it
/// as `brokerToRemove`; used when it is fenced, shuts down, is
/// unregistered or replaced by a new incarnation). The new leader is the
/// first replica, in replica order, that is in the new ISR and registered,
/// unfenced and not in controlled shutdown, with its copy in a log
/// directory that works. The ISR never becomes empty:
/// when `broker_id` is its last member, it stays, with no leader (-1).
/// When no ISR member can lead and the topic allows unclean election
/// (`policy`), the first live replica outside the ISR leads, with the ISR
/// reset to it. Partitions where nothing changes get no record.
pub fn plan_remove_broker_from_isrs(
    image: &MetadataImage,
    broker_id: i32,
    policy: ElectionPolicy,
) -> Vec<MetadataRecord> {
    plan_leader_and_isr_updates(image, policy, Some(broker_id), None, None, |_, _, p| {
        p.leader == broker_id || p.isr.contains(&broker_id)
    })
}

/// Clears the ELR lists of `topic`'s partitions (of every topic with
/// `None`), as Kafka does when `min.insync.replicas` changes: they were
/// worked out against the old value. A lower one lets the high watermark
/// move with fewer replicas in the ISR, so a replica that was eligible
/// under the higher one may not be any more.
pub fn plan_clear_elr(image: &MetadataImage, topic: Option<&str>) -> Vec<MetadataRecord> {
    let mut records = Vec::new();
    for t in image.topics() {
        if topic.is_some_and(|name| name != t.name) {
            continue;
        }
        for (p, s) in t.partitions.iter().enumerate() {
            if s.elr.is_empty() && s.last_known_elr.is_empty() {
                continue;
            }
            records.push(MetadataRecord::PartitionChange {
                topic_id: t.id,
                partition: p as i32,
                isr: None,
                leader: NO_LEADER_CHANGE,
                replicas: None,
                removing_replicas: None,
                adding_replicas: None,
                leader_recovery_state: LEADER_RECOVERY_NO_CHANGE,
                elr: (!s.elr.is_empty()).then(Vec::new),
                last_known_elr: (!s.last_known_elr.is_empty()).then(Vec::new),
            });
        }
    }
    records
}

/// The changes that follow turning eligible leader replicas off (planned
/// against the image with the feature already off): every partition's ELR
/// lists are cleared, and a partition whose ISR is empty gets its ELR as
/// its ISR (they hold every committed record), or its last known leader,
/// and an election among them, since without the feature an empty ISR
/// cannot elect anyone.
pub fn plan_elr_disabled(image: &MetadataImage, policy: ElectionPolicy) -> Vec<MetadataRecord> {
    let mut records = Vec::new();
    for topic in image.topics() {
        for (p, current) in topic.partitions.iter().enumerate() {
            if current.elr.is_empty() && current.last_known_elr.is_empty() {
                continue;
            }
            // An empty ISR gets the ELR, or failing that the last known
            // leader (as the last ISR member stayed before ELR).
            let isr = if !current.isr.is_empty() {
                current.isr.clone()
            } else if !current.elr.is_empty() {
                current.elr.clone()
            } else {
                current.last_known_elr.clone()
            };
            let can_lead = |r: i32| can_lead(image, current, r);
            let election = if policy.unclean_enabled(image, &topic.name) {
                Election::Unclean
            } else {
                Election::Online
            };
            records.extend(change_partition(
                topic.id,
                p as i32,
                current,
                Target::of(current).with_isr(&isr),
                election,
                &can_lead,
                None,
            ));
        }
    }
    records
}

/// As [`plan_remove_broker_from_isrs`], for a broker back from an unclean
/// shutdown (a new incarnation replaces its registration): it may have
/// lost records below the high watermark, so it also leaves every ELR
/// (Kafka's `handleBrokerUncleanShutdown`). Kafka tells a clean shutdown by
/// the previous broker epoch a registration carries; Vltava's brokers do
/// not keep theirs across restarts, so every new incarnation counts as
/// unclean: an ELR member that restarts can no longer be elected from the
/// ELR, which may keep a partition offline longer, never lose records.
fn plan_replaced_incarnation(
    image: &MetadataImage,
    broker_id: i32,
    policy: ElectionPolicy,
) -> Vec<MetadataRecord> {
    plan_leader_and_isr_updates(
        image,
        policy,
        Some(broker_id),
        None,
        Some(broker_id),
        |_, _, p| {
            p.leader == broker_id
                || p.isr.contains(&broker_id)
                || p.elr.contains(&broker_id)
                || p.last_known_elr.contains(&broker_id)
        },
    )
}

// ---------------------------------------------------------------------------
// Log directories (KIP-858)
// ---------------------------------------------------------------------------

/// AssignReplicasToDirs results: (topic id, partition, error code) for
/// each assignment, in request order.
pub type AssignmentResults = Vec<(Uuid, i32, ErrorCode)>;

/// Plans an AssignReplicasToDirs from broker `broker_id` of registration
/// epoch `broker_epoch`: each assignment names a partition (topic id,
/// partition) and the log directory the broker keeps its copy in. As
/// Kafka's `handleAssignReplicasToDirs`:
/// - the registration is unknown: BROKER_ID_NOT_REGISTERED; of another
///   epoch: STALE_BROKER_EPOCH (the whole request);
/// - per assignment, in request order: unknown topic id UNKNOWN_TOPIC_ID,
///   unknown partition UNKNOWN_TOPIC_OR_PARTITION, a partition the broker
///   holds no replica of NOT_LEADER_OR_FOLLOWER, else NONE;
/// - a partition whose directory for this broker changes gets one
///   AssignDirectories (the last assignment wins when the request names it
///   more than once), in the order the partitions were first named;
/// - a copy assigned to a directory that is not online (a report racing a
///   failure the broker already told us about) leaves the ISR and any
///   leadership, as [`plan_log_dirs_offline`] does. Those elections are
///   clean unless the topic itself enables unclean election: the
///   cluster's default is not known here, and the controller's periodic
///   unclean pass ([`plan_unclean_elections_allowed`]) covers it.
pub fn plan_assign_replicas_to_dirs(
    image: &MetadataImage,
    broker_id: i32,
    broker_epoch: i64,
    assignments: &[(Uuid, i32, Uuid)],
    policy: ElectionPolicy,
) -> Result<(Vec<MetadataRecord>, AssignmentResults), Refusal> {
    let broker = registered_at(image, broker_id, broker_epoch)?;
    let mut results = Vec::with_capacity(assignments.len());
    // The directory wanted per partition, in the order first named; the
    // index keeps a large request (every replica, after a restart) linear.
    let mut wanted: Vec<((Uuid, i32), Uuid)> = Vec::new();
    let mut index: BTreeMap<(Uuid, i32), usize> = BTreeMap::new();
    for &(topic_id, partition, dir) in assignments {
        let code = match image.topic_by_id(&topic_id) {
            None => ErrorCode::UNKNOWN_TOPIC_ID,
            Some(t) => match usize::try_from(partition)
                .ok()
                .and_then(|p| t.partitions.get(p))
            {
                None => ErrorCode::UNKNOWN_TOPIC_OR_PARTITION,
                Some(p) if !p.replicas.contains(&broker_id) => ErrorCode::NOT_LEADER_OR_FOLLOWER,
                Some(_) => {
                    let key = (topic_id, partition);
                    match index.get(&key) {
                        Some(&i) => wanted[i].1 = dir,
                        None => {
                            index.insert(key, wanted.len());
                            wanted.push((key, dir));
                        }
                    }
                    ErrorCode::NONE
                }
            },
        };
        results.push((topic_id, partition, code));
    }
    let mut records = Vec::new();
    let mut failed: BTreeSet<(Uuid, i32)> = BTreeSet::new();
    for ((topic_id, partition), dir) in wanted {
        let current = image
            .topic_by_id(&topic_id)
            .and_then(|t| t.partitions.get(partition as usize))
            .expect("checked above");
        let directories: Vec<Uuid> = current
            .replicas
            .iter()
            .enumerate()
            .map(|(i, &r)| {
                if r == broker_id {
                    dir
                } else {
                    current
                        .directories
                        .get(i)
                        .copied()
                        .unwrap_or(UNASSIGNED_DIRECTORY)
                }
            })
            .collect();
        if directories != current.directories {
            records.push(MetadataRecord::AssignDirectories {
                topic_id,
                partition,
                directories,
            });
        }
        if !broker.has_online_dir(dir) {
            failed.insert((topic_id, partition));
        }
    }
    if !failed.is_empty() {
        // A copy in a failed directory is gone: out of the ELR as well.
        records.extend(plan_leader_and_isr_updates(
            image,
            policy,
            Some(broker_id),
            None,
            Some(broker_id),
            |t, p, _| failed.contains(&(t, p)),
        ));
    }
    Ok((records, results))
}

/// Plans what a heartbeat from broker `broker_id` of registration epoch
/// `broker_epoch` reporting the log directories `offline` as failed
/// changes (Kafka's `handleDirectoriesOffline`):
/// - nothing when none of them is among the broker's online directories:
///   reported before (heartbeats keep reporting them), not the broker's,
///   or the broker registered without naming its directories (as in
///   Kafka, such a broker's report changes nothing);
/// - otherwise a BrokerLogDirs with the directories that still work
///   ([`LOST_DIRECTORY`] alone when none does), then, for every partition
///   whose copy on this broker is in one of `offline`, the change that
///   takes the broker out of its ISR and moves its leadership, exactly as
///   fencing does for every partition ([`plan_remove_broker_from_isrs`]).
///   Its other copies (in working directories, or not assigned to one yet)
///   are untouched: the broker still serves them.
///
/// The reserved ids (unassigned, lost) are never a failed directory.
pub fn plan_log_dirs_offline(
    image: &MetadataImage,
    broker_id: i32,
    broker_epoch: i64,
    offline: &[Uuid],
    policy: ElectionPolicy,
) -> Result<Vec<MetadataRecord>, Refusal> {
    let broker = registered_at(image, broker_id, broker_epoch)?;
    let offline: BTreeSet<Uuid> = offline
        .iter()
        .copied()
        .filter(|d| *d != UNASSIGNED_DIRECTORY && *d != LOST_DIRECTORY)
        .collect();
    if !broker.log_dirs.iter().any(|d| offline.contains(d)) {
        return Ok(Vec::new());
    }
    let mut remaining: Vec<Uuid> = broker
        .log_dirs
        .iter()
        .copied()
        .filter(|d| !offline.contains(d))
        .collect();
    if remaining.is_empty() {
        remaining.push(LOST_DIRECTORY);
    }
    let mut records = vec![MetadataRecord::BrokerLogDirs {
        broker_id,
        broker_epoch,
        log_dirs: remaining,
    }];
    // A copy in a failed directory is gone: out of the ELR as well.
    records.extend(plan_leader_and_isr_updates(
        image,
        policy,
        Some(broker_id),
        None,
        Some(broker_id),
        |_, _, p| p.replicas.contains(&broker_id) && offline.contains(&p.directory_of(broker_id)),
    ));
    Ok(records)
}

/// Plans an AlterPartition (KIP-497) from the leader `leader_id` of
/// registration epoch `leader_broker_epoch`: setting the ISR of one
/// partition to `new_isr`, each member with the broker epoch the leader
/// saw it at (-1: not checked, as requests before AlterPartition v3 send).
/// Returns the records (none when the ISR is already exactly that, in that
/// order, as Kafka compares it) and the partition's state once they are
/// applied, which the response reports. An ISR that holds every target
/// replica of a reassignment in progress completes it (see
/// `change_partition`); when that moves the leadership away from the
/// requester (it was being removed), the state names the new leader, and
/// Kafka answers the requester NEW_LEADER_ELECTED.
///
/// Checked in Kafka's order (`ReplicationControlManager.alterPartition`
/// and `validateAlterPartitionData`), with Kafka's codes:
/// - the requester's registration is not of that epoch (or missing):
///   STALE_BROKER_EPOCH (for the whole request, in Kafka);
/// - unknown or zero topic id: UNKNOWN_TOPIC_ID;
/// - unknown partition: UNKNOWN_TOPIC_OR_PARTITION;
/// - a leader or partition epoch newer than the image's: NOT_CONTROLLER
///   (this controller is likely behind a newer one);
/// - an older leader epoch: FENCED_LEADER_EPOCH;
/// - the requester is not the leader: INVALID_REQUEST;
/// - an older partition epoch: INVALID_UPDATE_VERSION;
/// - a member listed twice or not a replica, or the leader not in the new
///   ISR: INVALID_REQUEST;
/// - a member that is not registered, in controlled shutdown, fenced, of
///   another broker epoch than given, or whose copy is in a log directory
///   that failed: INELIGIBLE_REPLICA. Kafka checks every member of the new
///   ISR, not only the added ones; the ones that stay pass anyway, since a
///   broker that became ineligible was taken out of the ISR, which bumped
///   the partition epoch.
#[allow(clippy::too_many_arguments)]
pub fn plan_alter_partition(
    image: &MetadataImage,
    leader_id: i32,
    leader_broker_epoch: i64,
    topic_id: Uuid,
    partition: i32,
    leader_epoch: i32,
    partition_epoch: i32,
    new_isr: &[(i32, i64)],
    policy: ElectionPolicy,
) -> Result<(Vec<MetadataRecord>, PartitionImage), Refusal> {
    match image.brokers.get(&leader_id) {
        Some(b) if b.epoch == leader_broker_epoch => {}
        Some(b) => {
            return Err(Refusal::new(
                ErrorCode::STALE_BROKER_EPOCH,
                format!(
                    "Expected broker epoch {}, but got broker epoch {leader_broker_epoch}.",
                    b.epoch
                ),
            ))
        }
        None => {
            return Err(Refusal::new(
                ErrorCode::STALE_BROKER_EPOCH,
                format!("No broker registration found for broker id {leader_id}."),
            ))
        }
    }
    let topic = image
        .topic_by_id(&topic_id)
        .filter(|_| topic_id != Uuid::ZERO)
        .ok_or_else(|| {
            Refusal::new(
                ErrorCode::UNKNOWN_TOPIC_ID,
                format!("No topic with id {topic_id}."),
            )
        })?;
    let name = &topic.name;
    let current = usize::try_from(partition)
        .ok()
        .and_then(|p| topic.partitions.get(p))
        .ok_or_else(|| {
            Refusal::new(
                ErrorCode::UNKNOWN_TOPIC_OR_PARTITION,
                format!("No partition {name}-{partition}."),
            )
        })?;
    if leader_epoch > current.leader_epoch || partition_epoch > current.partition_epoch {
        return Err(Refusal::new(
            ErrorCode::NOT_CONTROLLER,
            format!(
                "The leader and partition epochs of {name}-{partition} are {} and {}, older than the request's {leader_epoch} and {partition_epoch}: this controller is behind.",
                current.leader_epoch, current.partition_epoch
            ),
        ));
    }
    if leader_epoch < current.leader_epoch {
        return Err(Refusal::new(
            ErrorCode::FENCED_LEADER_EPOCH,
            format!(
                "The leader epoch of {name}-{partition} is {}, not {leader_epoch}.",
                current.leader_epoch
            ),
        ));
    }
    if leader_id != current.leader {
        return Err(Refusal::new(
            ErrorCode::INVALID_REQUEST,
            format!(
                "Broker {leader_id} does not lead {name}-{partition}; its leader is {}.",
                current.leader
            ),
        ));
    }
    if partition_epoch < current.partition_epoch {
        return Err(Refusal::new(
            ErrorCode::INVALID_UPDATE_VERSION,
            format!(
                "The partition epoch of {name}-{partition} is {}, not {partition_epoch}.",
                current.partition_epoch
            ),
        ));
    }
    let isr: Vec<i32> = new_isr.iter().map(|&(id, _)| id).collect();
    let mut distinct = isr.clone();
    distinct.sort_unstable();
    distinct.dedup();
    if distinct.len() != isr.len() || isr.iter().any(|r| !current.replicas.contains(r)) {
        return Err(Refusal::new(
            ErrorCode::INVALID_REQUEST,
            format!(
                "The ISR {isr:?} of {name}-{partition} is not a set of its replicas {:?}.",
                current.replicas
            ),
        ));
    }
    if !isr.contains(&current.leader) {
        return Err(Refusal::new(
            ErrorCode::INVALID_REQUEST,
            format!(
                "The ISR {isr:?} of {name}-{partition} does not include its leader {leader_id}."
            ),
        ));
    }
    let ineligible: Vec<String> = new_isr
        .iter()
        .filter_map(|&(id, epoch)| {
            let why = match image.brokers.get(&id) {
                None => "not registered".to_string(),
                Some(b) if b.in_controlled_shutdown => "shutting down".to_string(),
                Some(b) if b.fenced => "fenced".to_string(),
                Some(b) if epoch != -1 && epoch != b.epoch => {
                    format!("broker epoch {epoch}, registered with {}", b.epoch)
                }
                Some(_) if !image.replica_dir_online(current, id) => {
                    format!("its log directory {} is offline", current.directory_of(id))
                }
                Some(_) => return None,
            };
            Some(format!("{id} ({why})"))
        })
        .collect();
    if !ineligible.is_empty() {
        return Err(Refusal::new(
            ErrorCode::INELIGIBLE_REPLICA,
            format!(
                "The ISR {isr:?} of {name}-{partition} names ineligible replicas: {}.",
                ineligible.join(", ")
            ),
        ));
    }
    let can_lead = |r: i32| can_lead(image, current, r);
    let elr = policy.elr_min_isr(image, name).map(|min_isr| ElrRules {
        min_isr,
        unclean_shutdown: &[],
    });
    match change_partition(
        topic.id,
        partition,
        current,
        Target::of(current).with_isr(&isr),
        Election::Online,
        &can_lead,
        elr,
    ) {
        None => Ok((Vec::new(), current.clone())),
        Some(change) => {
            let after = merged(current, &change);
            // The leader is in the new ISR and eligible, so it stays,
            // unless the change completed a reassignment that removes it.
            debug_assert!(after.leader == leader_id || !after.replicas.contains(&leader_id));
            Ok((vec![change], after))
        }
    }
}

/// ElectLeaders' election type (its wire values).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ElectionType {
    /// 0: move leadership to the preferred (first) replica.
    Preferred,
    /// 1: give a partition with no leader one, from outside the ISR if no
    /// ISR member can lead.
    Unclean,
}

impl ElectionType {
    pub fn from_code(code: i8) -> Option<ElectionType> {
        match code {
            0 => Some(ElectionType::Preferred),
            1 => Some(ElectionType::Unclean),
            _ => None,
        }
    }

    pub fn code(self) -> i8 {
        match self {
            ElectionType::Preferred => 0,
            ElectionType::Unclean => 1,
        }
    }
}

/// ElectLeaders results, by topic, as the response lists them: each
/// partition's outcome (`Ok` for an election planned).
pub type ElectionResults = Vec<(String, Vec<(i32, Result<(), Refusal>)>)>;

/// Plans an ElectLeaders request, as Kafka's `electLeaders`: for each
/// partition named (`None`: every partition of every topic, sorted by
/// name, leaving out those that need no election), either a PartitionChange
/// or why not:
/// - unknown topic or partition: UNKNOWN_TOPIC_OR_PARTITION;
/// - preferred, and the first replica leads already; unclean, and the
///   partition has a leader: ELECTION_NOT_NEEDED;
/// - preferred: the first replica leads if it is in the ISR and registered,
///   unfenced and not shutting down, with its copy in a log directory that
///   works; failing that, a leader that cannot lead is replaced by the next
///   replica in the ISR that can (Kafka's preferred election does both).
///   Nothing to change: PREFERRED_LEADER_NOT_AVAILABLE;
/// - unclean: an ISR member that can lead, else any replica that can, with
///   the ISR reset to it (the topic's `unclean.leader.election.enable` does
///   not matter: the request asks for it). No replica can lead:
///   ELIGIBLE_LEADERS_NOT_AVAILABLE.
///
/// A partition named twice is planned against the state the first
/// planned change leaves, so the records apply in order.
pub fn plan_elect_leaders(
    image: &MetadataImage,
    topic_partitions: Option<&[(String, Vec<i32>)]>,
    election_type: ElectionType,
    policy: ElectionPolicy,
) -> (Vec<MetadataRecord>, ElectionResults) {
    let mut records = Vec::new();
    let mut planned: BTreeMap<(Uuid, i32), PartitionImage> = BTreeMap::new();
    let mut elect = |topic: &str, partition: i32| -> Result<(), Refusal> {
        let unknown = || {
            Refusal::new(
                ErrorCode::UNKNOWN_TOPIC_OR_PARTITION,
                format!("No such partition as {topic}-{partition}."),
            )
        };
        let t = image.topic(topic).ok_or_else(|| {
            Refusal::new(
                ErrorCode::UNKNOWN_TOPIC_OR_PARTITION,
                format!("No such topic as {topic}."),
            )
        })?;
        let current = match planned.get(&(t.id, partition)) {
            Some(p) => p.clone(),
            None => image
                .partition(topic, partition)
                .cloned()
                .ok_or_else(unknown)?,
        };
        let refuse = |code: ErrorCode| Err(Refusal::new(code, code.message()));
        let election = match election_type {
            ElectionType::Preferred => {
                if current.replicas.first() == Some(&current.leader) {
                    return refuse(ErrorCode::ELECTION_NOT_NEEDED);
                }
                Election::Preferred
            }
            ElectionType::Unclean => {
                if current.has_leader() {
                    return refuse(ErrorCode::ELECTION_NOT_NEEDED);
                }
                Election::Unclean
            }
        };
        let can_lead = |r: i32| can_lead(image, &current, r);
        let elr = policy.elr_min_isr(image, topic).map(|min_isr| ElrRules {
            min_isr,
            unclean_shutdown: &[],
        });
        match change_partition(
            t.id,
            partition,
            &current,
            Target::of(&current),
            election,
            &can_lead,
            elr,
        ) {
            None => refuse(match election_type {
                ElectionType::Preferred => ErrorCode::PREFERRED_LEADER_NOT_AVAILABLE,
                ElectionType::Unclean => ErrorCode::ELIGIBLE_LEADERS_NOT_AVAILABLE,
            }),
            Some(change) => {
                planned.insert((t.id, partition), merged(&current, &change));
                records.push(change);
                Ok(())
            }
        }
    };
    let results = match topic_partitions {
        Some(requested) => requested
            .iter()
            .map(|(topic, partitions)| {
                let outcomes = partitions.iter().map(|&p| (p, elect(topic, p))).collect();
                (topic.clone(), outcomes)
            })
            .collect(),
        None => image
            .topics()
            .into_iter()
            .map(|t| {
                let outcomes = (0..t.partitions.len() as i32)
                    .map(|p| (p, elect(&t.name, p)))
                    .filter(
                        |(_, r)| !matches!(r, Err(e) if e.code == ErrorCode::ELECTION_NOT_NEEDED),
                    )
                    .collect();
                (t.name.clone(), outcomes)
            })
            .collect(),
    };
    (records, results)
}

// ---------------------------------------------------------------------------
// Partition reassignment (KIP-455)
// ---------------------------------------------------------------------------

/// One partition of an AlterPartitionReassignments: topic, partition, and
/// the replicas to move it to, or `None` to cancel the reassignment in
/// progress.
pub type ReassignmentRequest = (String, i32, Option<Vec<i32>>);

/// Checks the replicas a reassignment targets, as Kafka's
/// `validateManualPartitionAssignment`: not empty, no broker twice, every
/// broker registered (a fenced one may be a target: it catches up once it
/// is back).
fn validate_reassignment_target(image: &MetadataImage, target: &[i32]) -> Result<(), Refusal> {
    let invalid =
        |message: String| Err(Refusal::new(ErrorCode::INVALID_REPLICA_ASSIGNMENT, message));
    if target.is_empty() {
        return invalid("The manual partition assignment includes an empty replica list.".into());
    }
    for (i, b) in target.iter().enumerate() {
        if target[..i].contains(b) {
            return invalid(format!(
                "The manual partition assignment includes the broker {b} more than once."
            ));
        }
    }
    if let Some(b) = target.iter().find(|b| !image.brokers.contains_key(b)) {
        return invalid(format!(
            "The manual partition assignment includes broker {b}, but no such broker is registered."
        ));
    }
    Ok(())
}

/// Where a new reassignment of a partition to `target` starts, as Kafka's
/// `PartitionReassignmentReplicas`: the replicas being removed are the
/// current ones not in the target, sorted; the replica list is the target
/// in its order followed by them; the ISR is left as it is. The replicas
/// being added are the target's that were not replicas before any
/// reassignment in progress (its `adding` ones are still catching up, so
/// they count as added again when the new target keeps them); with none
/// in progress, the target's that are not replicas now.
fn reassignment_target(current: &PartitionImage, target: &[i32]) -> Target {
    let original: Vec<i32> = current
        .replicas
        .iter()
        .copied()
        .filter(|r| !current.adding_replicas.contains(r))
        .collect();
    let mut removing: Vec<i32> = current
        .replicas
        .iter()
        .copied()
        .filter(|r| !target.contains(r))
        .collect();
    removing.sort_unstable();
    let mut adding: Vec<i32> = target
        .iter()
        .copied()
        .filter(|r| !original.contains(r))
        .collect();
    adding.sort_unstable();
    let mut replicas = target.to_vec();
    replicas.extend(&removing);
    Target {
        isr: current.isr.clone(),
        replicas,
        removing,
        adding,
        elr: current.elr.clone(),
        last_known_elr: current.last_known_elr.clone(),
    }
}

/// Where cancelling the reassignment in progress takes a partition, as
/// Kafka's `PartitionReassignmentRevert`: the replicas and ISR without the
/// replicas being added. When the ISR held only replicas being added, it
/// becomes the first remaining replica, which is an unclean election:
/// `true` says so.
fn revert_target(current: &PartitionImage) -> Option<(Target, bool)> {
    let keep = |list: &[i32]| -> Vec<i32> {
        list.iter()
            .copied()
            .filter(|r| !current.adding_replicas.contains(r))
            .collect()
    };
    let replicas = keep(&current.replicas);
    let mut isr = keep(&current.isr);
    let first = *replicas.first()?;
    let unclean = isr.is_empty();
    if unclean {
        isr.push(first);
    }
    Some((
        Target {
            isr,
            replicas,
            removing: Vec::new(),
            adding: Vec::new(),
            elr: current.elr.clone(),
            last_known_elr: current.last_known_elr.clone(),
        },
        unclean,
    ))
}

/// Plans an AlterPartitionReassignments (KIP-455), as Kafka's KRaft
/// controller (`ReplicationControlManager.alterPartitionReassignments`):
/// for each partition named, in order, a PartitionChange (or none when
/// nothing changes) or why not:
/// - unknown topic or partition: UNKNOWN_TOPIC_OR_PARTITION;
/// - a target that is empty, names a broker twice or one that is not
///   registered: INVALID_REPLICA_ASSIGNMENT;
/// - a cancel (`None`) of a partition that is not being reassigned:
///   NO_REASSIGNMENT_IN_PROGRESS; one whose ISR holds only replicas being
///   added, on a topic that does not allow unclean election:
///   INVALID_REPLICA_ASSIGNMENT.
///
/// Starting: the replicas become the target followed by the replicas it
/// removes, which leave once every target replica is in the ISR; until
/// then the partition lists the ones being added and removed (see
/// [`reassignment_target`]). The completion is checked at once, so a
/// target the ISR already covers (a smaller replica set, a new order)
/// completes in the same record, and afterwards by every change planned
/// for the partition (an ISR expansion from [`plan_alter_partition`],
/// usually). Completing sets the replicas to the target, takes the removed
/// replicas out of the ISR and, when the leader was removed, elects the
/// first target replica in the ISR that can lead. A target equal to the
/// replicas of a partition not being reassigned changes nothing.
///
/// Cancelling restores the replicas and ISR without the replicas being
/// added (see [`revert_target`]).
///
/// A partition named twice is planned against the state the first planned
/// change leaves, so the records apply in order.
pub fn plan_alter_partition_reassignments(
    image: &MetadataImage,
    requests: &[ReassignmentRequest],
    policy: ElectionPolicy,
) -> (Vec<MetadataRecord>, Vec<Result<(), Refusal>>) {
    let mut records = Vec::new();
    let mut planned: BTreeMap<(Uuid, i32), PartitionImage> = BTreeMap::new();
    let mut reassign = |topic: &str, partition: i32, target: Option<&[i32]>| {
        let t = image.topic(topic).ok_or_else(|| {
            Refusal::new(
                ErrorCode::UNKNOWN_TOPIC_OR_PARTITION,
                format!("Unable to find a topic named {topic}."),
            )
        })?;
        let current = match planned.get(&(t.id, partition)) {
            Some(p) => p.clone(),
            None => image.partition(topic, partition).cloned().ok_or_else(|| {
                Refusal::new(
                    ErrorCode::UNKNOWN_TOPIC_OR_PARTITION,
                    format!("Unable to find partition {topic}:{partition}."),
                )
            })?,
        };
        let (target, election) = match target {
            Some(target) => {
                validate_reassignment_target(image, target)?;
                (reassignment_target(&current, target), Election::Online)
            }
            None => {
                if !current.is_reassigning() {
                    return Err(Refusal::new(
                        ErrorCode::NO_REASSIGNMENT_IN_PROGRESS,
                        ErrorCode::NO_REASSIGNMENT_IN_PROGRESS.message(),
                    ));
                }
                let unclean_allowed = policy.unclean_enabled(image, topic);
                let Some((target, unclean)) = revert_target(&current) else {
                    return Err(Refusal::new(
                        ErrorCode::INVALID_REPLICA_ASSIGNMENT,
                        format!("Unable to revert the assignment of {topic}:{partition}: every replica is being added."),
                    ));
                };
                if unclean && !unclean_allowed {
                    return Err(Refusal::new(
                        ErrorCode::INVALID_REPLICA_ASSIGNMENT,
                        format!("Unable to revert partition assignment for {topic}:{partition} because it would require an unclean leader election."),
                    ));
                }
                let election = if unclean_allowed {
                    Election::Unclean
                } else {
                    Election::Online
                };
                (target, election)
            }
        };
        let can_lead = |r: i32| can_lead(image, &current, r);
        let elr = policy.elr_min_isr(image, topic).map(|min_isr| ElrRules {
            min_isr,
            unclean_shutdown: &[],
        });
        if let Some(change) =
            change_partition(t.id, partition, &current, target, election, &can_lead, elr)
        {
            planned.insert((t.id, partition), merged(&current, &change));
            records.push(change);
        }
        Ok(())
    };
    let results = requests
        .iter()
        .map(|(topic, partition, target)| reassign(topic, *partition, target.as_deref()))
        .collect();
    (records, results)
}

/// A partition being reassigned, as ListPartitionReassignments reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OngoingReassignment {
    pub partition: i32,
    /// The replicas now: the target, then the ones being removed.
    pub replicas: Vec<i32>,
    pub adding_replicas: Vec<i32>,
    pub removing_replicas: Vec<i32>,
}

/// The reassignments in progress, by topic, as Kafka's
/// `listPartitionReassignments` answers: with no filter, every partition
/// being reassigned (topics by name); with one, the named partitions of
/// the named topics that are being reassigned. Unknown topics and
/// partitions, and topics with none left, are left out.
pub fn list_reassignments(
    image: &MetadataImage,
    filter: Option<&[(String, Vec<i32>)]>,
) -> Vec<(String, Vec<OngoingReassignment>)> {
    let ongoing = |p: i32, state: &PartitionImage| {
        state.is_reassigning().then(|| OngoingReassignment {
            partition: p,
            replicas: state.replicas.clone(),
            adding_replicas: state.adding_replicas.clone(),
            removing_replicas: state.removing_replicas.clone(),
        })
    };
    let topics: Vec<(String, Vec<OngoingReassignment>)> = match filter {
        None => image
            .topics()
            .into_iter()
            .map(|t| {
                let parts = t
                    .partitions
                    .iter()
                    .enumerate()
                    .filter_map(|(p, state)| ongoing(p as i32, state))
                    .collect();
                (t.name.clone(), parts)
            })
            .collect(),
        Some(wanted) => wanted
            .iter()
            .map(|(topic, partitions)| {
                let parts = partitions
                    .iter()
                    .filter_map(|&p| ongoing(p, image.partition(topic, p)?))
                    .collect();
                (topic.clone(), parts)
            })
            .collect(),
    };
    topics
        .into_iter()
        .filter(|(_, parts)| !parts.is_empty())
        .collect()
}

/// Plans unclean elections of every partition without a leader whose
/// topic allows them (`unclean.leader.election.enable` on the topic, else
/// the policy's default): what the controller does after that setting
/// changes and on its periodic leadership pass, so that enabling it brings
/// an offline partition back without an ElectLeaders request (Kafka: the
/// KRaft controller's periodic unclean election, KAFKA-12670). Partitions
/// with no live replica stay offline.
pub fn plan_unclean_elections_allowed(
    image: &MetadataImage,
    policy: ElectionPolicy,
) -> Vec<MetadataRecord> {
    let wanted: Vec<(String, Vec<i32>)> = image
        .topics()
        .into_iter()
        .filter(|t| policy.unclean_enabled(image, &t.name))
        .filter_map(|t| {
            let offline: Vec<i32> = t
                .partitions
                .iter()
                .enumerate()
                .filter(|(_, p)| !p.has_leader())
                .map(|(i, _)| i as i32)
                .collect();
            (!offline.is_empty()).then(|| (t.name.clone(), offline))
        })
        .collect();
    if wanted.is_empty() {
        return Vec::new();
    }
    plan_elect_leaders(image, Some(&wanted), ElectionType::Unclean, policy).0
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

    const POLICY: ElectionPolicy = ElectionPolicy {
        min_isr_default: 1,
        unclean_default: false,
    };

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
                vec![],
                epoch,
                false,
                -1,
                POLICY,
            )
            .unwrap();
            assert_eq!(reg.broker_epoch, epoch);
            image = commit(&image, &reg.records);
            assert!(image.brokers[&id].fenced, "new registrations start fenced");
            let unfence = plan_unfence_broker(&image, id, epoch, POLICY).unwrap();
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

        let image = commit(&image, &plan_fence_broker(&image, 2, POLICY).unwrap());
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
        let image = commit(
            &image,
            &plan_controlled_shutdown(&image, 3, epoch, POLICY).unwrap(),
        );
        assert_eq!(placed(&image, 1).unwrap(), BTreeSet::from([1]));

        let image = commit(&image, &plan_fence_broker(&image, 1, POLICY).unwrap());
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
        let image = commit(&image, &plan_fence_broker(&image, 3, POLICY).unwrap());
        let records = plan_create_partitions(&image, "t", 30, None).unwrap();
        assert_eq!(records.len(), 10);
        for r in &records {
            let MetadataRecord::Partition { replicas, .. } = r else {
                panic!("{r:?}")
            };
            assert!(!replicas.contains(&3), "{replicas:?}");
        }
        let image = commit(&image, &plan_fence_broker(&image, 2, POLICY).unwrap());
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
        let image = commit(&image, &plan_fence_broker(&image, 2, POLICY).unwrap());
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
        let again = plan_register_broker(
            &image,
            1,
            Uuid([1; 16]),
            vec![],
            None,
            vec![],
            99,
            true,
            -1,
            POLICY,
        )
        .unwrap();
        assert_eq!(
            again,
            Registration {
                records: vec![],
                broker_epoch: epoch
            }
        );
        // Another process with the same id while the session is alive.
        let duplicate = plan_register_broker(
            &image,
            1,
            Uuid([7; 16]),
            vec![],
            None,
            vec![],
            99,
            true,
            -1,
            POLICY,
        )
        .unwrap_err();
        assert_eq!(duplicate.code, ErrorCode::DUPLICATE_BROKER_REGISTRATION);
        // Also while fenced: a catching-up broker still heartbeats.
        let fenced = commit(&image, &plan_fence_broker(&image, 1, POLICY).unwrap());
        assert_eq!(
            plan_register_broker(
                &fenced,
                1,
                Uuid([7; 16]),
                vec![],
                None,
                vec![],
                99,
                true,
                -1,
                POLICY
            )
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
            vec![],
            new_epoch,
            false,
            -1,
            POLICY,
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
            plan_unfence_broker(&image, 1, epoch, POLICY)
                .unwrap_err()
                .code,
            ErrorCode::STALE_BROKER_EPOCH
        );
        assert_eq!(
            plan_register_broker(
                &image,
                -1,
                Uuid([7; 16]),
                vec![],
                None,
                vec![],
                9,
                false,
                -1,
                POLICY
            )
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
            plan_fence_broker(&image, 9, POLICY),
            plan_unfence_broker(&image, 9, 0, POLICY),
            plan_controlled_shutdown(&image, 9, 0, POLICY),
            plan_unregister_broker(&image, 9, POLICY),
        ] {
            assert_eq!(
                unknown.unwrap_err().code,
                ErrorCode::BROKER_ID_NOT_REGISTERED
            );
        }
        assert_eq!(
            plan_controlled_shutdown(&image, 2, epoch + 1, POLICY)
                .unwrap_err()
                .code,
            ErrorCode::STALE_BROKER_EPOCH
        );
        // Unfenced: unfencing again writes nothing; fencing writes a change.
        assert!(plan_unfence_broker(&image, 2, epoch, POLICY)
            .unwrap()
            .is_empty());
        let fence = plan_fence_broker(&image, 2, POLICY).unwrap();
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
        assert!(plan_fence_broker(&fenced, 2, POLICY).unwrap().is_empty());
        // A fenced broker may stop at once: no controlled shutdown record.
        assert!(plan_controlled_shutdown(&fenced, 2, epoch, POLICY)
            .unwrap()
            .is_empty());
        let unfenced = commit(
            &fenced,
            &plan_unfence_broker(&fenced, 2, epoch, POLICY).unwrap(),
        );
        assert_eq!(unfenced.unfenced_brokers(), vec![1, 2]);

        // Controlled shutdown, then fenced when done; no way back but a
        // new registration.
        let shutting = commit(
            &unfenced,
            &plan_controlled_shutdown(&unfenced, 2, epoch, POLICY).unwrap(),
        );
        assert!(shutting.brokers[&2].in_controlled_shutdown);
        assert!(plan_controlled_shutdown(&shutting, 2, epoch, POLICY)
            .unwrap()
            .is_empty());
        let down = commit(&shutting, &plan_fence_broker(&shutting, 2, POLICY).unwrap());
        assert!(plan_unfence_broker(&down, 2, epoch, POLICY)
            .unwrap()
            .is_empty());

        let gone = commit(&down, &plan_unregister_broker(&down, 2, POLICY).unwrap());
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
                vec![],
                epoch,
                false,
                -1,
                POLICY,
            )
            .unwrap();
            append(&mut image, reg.records);
        }
        for id in [1, 2, 3] {
            let epoch = image.brokers[&id].epoch;
            let records = plan_unfence_broker(&image, id, epoch, POLICY).unwrap();
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
        let records = plan_fence_broker(&image, 3, POLICY).unwrap();
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
            vec![],
            epoch,
            false,
            -1,
            POLICY,
        )
        .unwrap();
        append(&mut image, reg.records);
        let records = plan_unfence_broker(&image, 3, epoch, POLICY).unwrap();
        append(&mut image, records);
        let records = plan_create_partitions(&image, "orders", 9, None).unwrap();
        append(&mut image, records);
        let records = plan_unregister_broker(&image, 2, POLICY).unwrap();
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

    // -- Leader election and ISR changes --------------------------------

    /// A topic with explicit replica lists (partition p gets `replicas[p]`)
    /// and config overrides.
    fn manual_topic(
        image: &MetadataImage,
        name: &str,
        replicas: &[&[i32]],
        configs: &[(&str, &str)],
    ) -> MetadataImage {
        let topic = NewTopic {
            name: name.into(),
            num_partitions: -1,
            replication_factor: -1,
            assignments: replicas
                .iter()
                .enumerate()
                .map(|(p, r)| (p as i32, r.to_vec()))
                .collect(),
            configs: configs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        };
        let id = Uuid([image.topic_count() as u8 + 0x40; 16]);
        commit(
            image,
            &plan_create_topic(image, &topic, DEFAULTS, id).unwrap(),
        )
    }

    fn state(image: &MetadataImage, topic: &str, p: i32) -> PartitionImage {
        image.partition(topic, p).unwrap().clone()
    }

    /// (replicas, isr, leader, leader epoch, partition epoch)
    fn summary(p: &PartitionImage) -> (Vec<i32>, Vec<i32>, i32, i32, i32) {
        (
            p.replicas.clone(),
            p.isr.clone(),
            p.leader,
            p.leader_epoch,
            p.partition_epoch,
        )
    }

    fn epoch_of(image: &MetadataImage, id: i32) -> i64 {
        image.brokers[&id].epoch
    }

    const UNCLEAN: (&str, &str) = (UNCLEAN_LEADER_ELECTION_ENABLE, "true");

    #[test]
    fn fencing_the_leader_moves_leadership_and_the_last_isr_member_stays() {
        let image = cluster(&[(1, None), (2, None), (3, None)]);
        let image = manual_topic(&image, "t", &[&[1, 2, 3]], &[]);
        let id = image.topic("t").unwrap().id;
        assert_eq!(
            summary(&state(&image, "t", 0)),
            (vec![1, 2, 3], vec![1, 2, 3], 1, 0, 0)
        );

        // The leader goes: the next ISR member in replica order leads; both
        // epochs go up. The partition change comes before the fencing, as
        // in Kafka.
        let records = plan_fence_broker(&image, 1, POLICY).unwrap();
        assert_eq!(
            records,
            vec![
                MetadataRecord::PartitionChange {
                    topic_id: id,
                    partition: 0,
                    isr: Some(vec![2, 3]),
                    leader: 2,
                    replicas: None,
                    removing_replicas: None,
                    adding_replicas: None,
                    leader_recovery_state: LEADER_RECOVERY_NO_CHANGE,
                    elr: None,
                    last_known_elr: None,
                },
                MetadataRecord::BrokerRegistrationChange {
                    broker_id: 1,
                    broker_epoch: epoch_of(&image, 1),
                    fenced: Some(true),
                    in_controlled_shutdown: false,
                },
            ]
        );
        let image = commit(&image, &records);
        assert_eq!(
            summary(&state(&image, "t", 0)),
            (vec![1, 2, 3], vec![2, 3], 2, 1, 1)
        );

        // A follower goes: the ISR shrinks, the leader epoch stays.
        let image = commit(&image, &plan_fence_broker(&image, 3, POLICY).unwrap());
        assert_eq!(
            summary(&state(&image, "t", 0)),
            (vec![1, 2, 3], vec![2], 2, 1, 2)
        );

        // The last ISR member goes: the ISR keeps it, with no leader.
        let image = commit(&image, &plan_fence_broker(&image, 2, POLICY).unwrap());
        assert_eq!(
            summary(&state(&image, "t", 0)),
            (vec![1, 2, 3], vec![2], -1, 2, 3)
        );
        // Fencing it again changes nothing.
        assert!(plan_fence_broker(&image, 2, POLICY).unwrap().is_empty());

        // Brokers that are not in the ISR come back: still offline (clean
        // election only), only their unfencing is written.
        for b in [3, 1] {
            let records = plan_unfence_broker(&image, b, epoch_of(&image, b), POLICY).unwrap();
            assert_eq!(records.len(), 1, "{records:?}");
        }
        let image = commit(
            &image,
            &plan_unfence_broker(&image, 3, epoch_of(&image, 3), POLICY).unwrap(),
        );
        assert_eq!(state(&image, "t", 0).leader, -1);

        // The last ISR member comes back: it leads again.
        let records = plan_unfence_broker(&image, 2, epoch_of(&image, 2), POLICY).unwrap();
        assert!(matches!(
            records[0],
            MetadataRecord::BrokerRegistrationChange { .. }
        ));
        let image = commit(&image, &records);
        assert_eq!(
            summary(&state(&image, "t", 0)),
            (vec![1, 2, 3], vec![2], 2, 3, 4)
        );
    }

    /// KIP-966 on a partition of three replicas, min.insync.replicas 2.
    #[test]
    fn eligible_leader_replicas_keep_a_partition_online_without_loss() {
        let policy = ElectionPolicy {
            min_isr_default: 2,
            unclean_default: false,
        };
        let on = MetadataRecord::FeatureLevel {
            name: crate::features::ELIGIBLE_LEADER_REPLICAS_VERSION.into(),
            level: 1,
        };
        let image = cluster(&[(1, None), (2, None), (3, None)]);
        let image = commit(&image, &[on]);
        let image = manual_topic(&image, "t", &[&[1, 2, 3]], &[]);
        let e = |image: &MetadataImage, b| epoch_of(image, b);
        let alter_to = |image: &MetadataImage, isr: &[i32]| {
            let s = state(image, "t", 0);
            let isr: Vec<(i32, i64)> = isr.iter().map(|&r| (r, -1)).collect();
            let (records, _) = plan_alter_partition(
                image,
                1,
                e(image, 1),
                image.topic("t").unwrap().id,
                0,
                s.leader_epoch,
                s.partition_epoch,
                &isr,
                policy,
            )
            .unwrap();
            commit(image, &records)
        };
        // Down to min.insync.replicas: no ELR yet (the high watermark may
        // still move past what 3 lacks).
        let image = alter_to(&image, &[1, 2]);
        assert_eq!(state(&image, "t", 0).elr, Vec::<i32>::new());
        // Below it: 2 leaves the ISR into the ELR; the leader alone stops
        // the high watermark, so 2 keeps everything below it.
        let image = alter_to(&image, &[1]);
        let s = state(&image, "t", 0);
        assert_eq!((s.isr.clone(), s.elr.clone()), (vec![1], vec![2]));
        // The leader dies: the ISR empties and 2 leads cleanly from the ELR.
        let image = commit(&image, &plan_fence_broker(&image, 1, policy).unwrap());
        let s = state(&image, "t", 0);
        assert_eq!(
            (s.leader, s.isr.clone(), s.elr.clone()),
            (2, vec![2], vec![1])
        );
        // Broker 1 comes back as a new process: it may have lost records,
        // so it leaves the ELR (its old registration goes with it).
        let reg = plan_register_broker(
            &image,
            1,
            Uuid([0x91; 16]),
            vec![endpoint(1)],
            None,
            vec![],
            image.offset + 1,
            false,
            -1,
            policy,
        )
        .unwrap();
        let image = commit(&image, &reg.records);
        let s = state(&image, "t", 0);
        assert_eq!((s.isr.clone(), s.elr.clone()), (vec![2], vec![]));
        assert_eq!(s.last_known_elr, Vec::<i32>::new());
        // A partition of one replica whose broker restarts as a new
        // process: out of the ISR and (unclean) the ELR, no leader; the
        // last known leader is kept and elected once it is back.
        let image = manual_topic(&image, "solo", &[&[3]], &[]);
        let reg = plan_register_broker(
            &image,
            3,
            Uuid([0x93; 16]),
            vec![endpoint(3)],
            None,
            vec![],
            image.offset + 1,
            false,
            -1,
            policy,
        )
        .unwrap();
        let image = commit(&image, &reg.records);
        let s = state(&image, "solo", 0);
        assert_eq!(
            (
                s.leader,
                s.isr.clone(),
                s.elr.clone(),
                s.last_known_elr.clone()
            ),
            (-1, vec![], vec![], vec![3])
        );
        // (Were the feature turned off now, the ISR would be the last
        // known leader again, as without ELR.)
        let turned_off = commit(
            &image,
            &[MetadataRecord::FeatureLevel {
                name: crate::features::ELIGIBLE_LEADER_REPLICAS_VERSION.into(),
                level: 0,
            }],
        );
        let turned_off = commit(&turned_off, &plan_elr_disabled(&turned_off, policy));
        let s = state(&turned_off, "solo", 0);
        assert_eq!((s.isr.clone(), s.last_known_elr.clone()), (vec![3], vec![]));
        let image = commit(
            &image,
            &plan_unfence_broker(&image, 3, epoch_of(&image, 3), policy).unwrap(),
        );
        let s = state(&image, "solo", 0);
        assert_eq!(
            (s.leader, s.isr.clone(), s.last_known_elr.clone()),
            (3, vec![3], vec![])
        );
        // Without the feature the last ISR member stays, with no leader.
        let plain = cluster(&[(1, None), (2, None), (3, None)]);
        let plain = manual_topic(&plain, "t", &[&[1, 2, 3]], &[]);
        let plain = alter_to(&plain, &[1]);
        assert!(state(&plain, "t", 0).elr.is_empty());
        let plain = commit(&plain, &plan_fence_broker(&plain, 1, policy).unwrap());
        let s = state(&plain, "t", 0);
        assert_eq!((s.leader, s.isr.clone()), (-1, vec![1]));
        // Turning the feature off clears what a partition still lists.
        let off = MetadataRecord::FeatureLevel {
            name: crate::features::ELIGIBLE_LEADER_REPLICAS_VERSION.into(),
            level: 0,
        };
        let image = commit(
            &image,
            &[
                MetadataRecord::PartitionChange {
                    topic_id: image.topic("t").unwrap().id,
                    partition: 0,
                    isr: None,
                    leader: NO_LEADER_CHANGE,
                    replicas: None,
                    removing_replicas: None,
                    adding_replicas: None,
                    leader_recovery_state: LEADER_RECOVERY_NO_CHANGE,
                    elr: Some(vec![3]),
                    last_known_elr: None,
                },
                off,
            ],
        );
        let image = commit(&image, &plan_elr_disabled(&image, policy));
        let s = state(&image, "t", 0);
        assert!(s.elr.is_empty() && s.last_known_elr.is_empty(), "{s:?}");
        assert_eq!((s.leader, s.isr.clone()), (2, vec![2]));
        assert!(plan_elr_disabled(&image, policy).is_empty());
    }

    /// KIP-966: a broker back from a clean shutdown (it names its last
    /// registration's epoch) stays an eligible leader replica; one back
    /// from anything else does not, since it may have lost records.
    #[test]
    fn only_a_broker_that_stopped_cleanly_stays_eligible() {
        let policy = ElectionPolicy {
            min_isr_default: 2,
            unclean_default: false,
        };
        let on = MetadataRecord::FeatureLevel {
            name: crate::features::ELIGIBLE_LEADER_REPLICAS_VERSION.into(),
            level: 1,
        };
        let image = cluster(&[(1, None), (2, None), (3, None)]);
        let image = commit(&image, &[on]);
        let image = manual_topic(&image, "t", &[&[1, 2, 3]], &[]);
        let s = state(&image, "t", 0);
        let (records, _) = plan_alter_partition(
            &image,
            1,
            epoch_of(&image, 1),
            image.topic("t").unwrap().id,
            0,
            s.leader_epoch,
            s.partition_epoch,
            &[(1, -1)],
            policy,
        )
        .unwrap();
        let image = commit(&image, &records);
        assert_eq!(state(&image, "t", 0).elr, vec![2, 3]);
        let restart = |previous: i64| {
            let reg = plan_register_broker(
                &image,
                2,
                Uuid([0x92; 16]),
                vec![endpoint(2)],
                None,
                vec![],
                image.offset + 1,
                false,
                previous,
                policy,
            )
            .unwrap();
            state(&commit(&image, &reg.records), "t", 0).elr
        };
        assert_eq!(restart(epoch_of(&image, 2)), vec![2, 3], "clean");
        assert_eq!(restart(-1), vec![3], "crashed");
        assert_eq!(restart(epoch_of(&image, 2) - 1), vec![3], "another epoch");
    }

    #[test]
    fn unclean_election_follows_the_topic_config_then_the_default() {
        let image = cluster(&[(1, None), (2, None), (3, None)]);
        let image = manual_topic(&image, "clean", &[&[1, 2, 3]], &[]);
        let image = manual_topic(&image, "unclean", &[&[1, 2, 3]], &[UNCLEAN]);
        let image = manual_topic(
            &image,
            "never",
            &[&[1, 2, 3]],
            &[(UNCLEAN_LEADER_ELECTION_ENABLE, "false")],
        );
        // Brokers 2 and 3 fall out of every ISR, then come back: only an
        // AlterPartition from the leader would take them back in.
        let mut image = image;
        for b in [2, 3] {
            image = commit(&image, &plan_fence_broker(&image, b, POLICY).unwrap());
        }
        for b in [2, 3] {
            let epoch = epoch_of(&image, b);
            image = commit(
                &image,
                &plan_unfence_broker(&image, b, epoch, POLICY).unwrap(),
            );
        }
        for t in ["clean", "unclean", "never"] {
            assert_eq!(state(&image, t, 0).isr, vec![1], "{t}");
        }

        // The only ISR member fails.
        let default_on = ElectionPolicy {
            min_isr_default: 1,
            unclean_default: true,
        };
        for (policy, clean_leader) in [(POLICY, -1), (default_on, 2)] {
            let after = commit(&image, &plan_fence_broker(&image, 1, policy).unwrap());
            // Unclean: the first live replica leads, alone in the ISR.
            assert_eq!(
                summary(&state(&after, "unclean", 0)),
                (vec![1, 2, 3], vec![2], 2, 1, 3)
            );
            // No override: the default decides.
            let clean = state(&after, "clean", 0);
            assert_eq!(clean.leader, clean_leader);
            assert_eq!(
                clean.isr,
                if clean_leader == -1 { vec![1] } else { vec![2] }
            );
            // An override of false beats a default of true.
            assert_eq!(
                summary(&state(&after, "never", 0)),
                (vec![1, 2, 3], vec![1], -1, 1, 3)
            );
        }
    }

    #[test]
    fn enabling_unclean_election_on_a_topic_brings_its_offline_partitions_back() {
        let image = cluster(&[(1, None), (2, None), (3, None)]);
        let mut image = manual_topic(&image, "t", &[&[1, 2, 3]], &[]);
        for b in [2, 3] {
            image = commit(&image, &plan_fence_broker(&image, b, POLICY).unwrap());
        }
        for b in [2, 3] {
            let epoch = epoch_of(&image, b);
            image = commit(
                &image,
                &plan_unfence_broker(&image, b, epoch, POLICY).unwrap(),
            );
        }
        // The only ISR member fails: offline, and nothing to do while
        // unclean election is off.
        image = commit(&image, &plan_fence_broker(&image, 1, POLICY).unwrap());
        assert_eq!(state(&image, "t", 0).leader, -1);
        assert!(plan_unclean_elections_allowed(&image, POLICY).is_empty());
        // Enabled on the topic: the first live replica leads, alone.
        image = commit(
            &image,
            &[MetadataRecord::Config {
                resource_type: crate::image::RESOURCE_TOPIC,
                resource_name: "t".to_string(),
                name: UNCLEAN_LEADER_ELECTION_ENABLE.to_string(),
                value: Some("true".to_string()),
            }],
        );
        let records = plan_unclean_elections_allowed(&image, POLICY);
        assert_eq!(records.len(), 1);
        image = commit(&image, &records);
        let p = state(&image, "t", 0);
        assert_eq!((p.leader, p.isr.clone()), (2, vec![2]));
        // Nothing left to elect.
        assert!(plan_unclean_elections_allowed(&image, POLICY).is_empty());
    }

    #[test]
    fn unfencing_a_replica_outside_the_isr_elects_it_only_where_unclean_is_allowed() {
        let image = cluster(&[(1, None), (2, None), (3, None)]);
        let image = manual_topic(&image, "clean", &[&[1, 3]], &[]);
        let image = manual_topic(&image, "unclean", &[&[1, 3]], &[UNCLEAN]);
        // 3 goes first (out of the ISRs), then 1, the last ISR member: with
        // no live replica left, both partitions are offline.
        let mut image = image;
        for b in [3, 1] {
            image = commit(&image, &plan_fence_broker(&image, b, POLICY).unwrap());
        }
        for t in ["clean", "unclean"] {
            assert_eq!(
                summary(&state(&image, t, 0)),
                (vec![1, 3], vec![1], -1, 1, 2)
            );
        }
        // 3 comes back: the unclean topic gets it as leader.
        let records = plan_unfence_broker(&image, 3, epoch_of(&image, 3), POLICY).unwrap();
        assert_eq!(records.len(), 2, "{records:?}");
        let image = commit(&image, &records);
        assert_eq!(
            summary(&state(&image, "clean", 0)),
            (vec![1, 3], vec![1], -1, 1, 2)
        );
        assert_eq!(
            summary(&state(&image, "unclean", 0)),
            (vec![1, 3], vec![3], 3, 2, 3)
        );
        // 1 comes back: it leads the clean one again.
        let image = commit(
            &image,
            &plan_unfence_broker(&image, 1, epoch_of(&image, 1), POLICY).unwrap(),
        );
        assert_eq!(
            summary(&state(&image, "clean", 0)),
            (vec![1, 3], vec![1], 1, 2, 3)
        );
        assert_eq!(state(&image, "unclean", 0).leader, 3);
    }

    #[test]
    fn controlled_shutdown_moves_every_leadership_away() {
        let image = cluster(&[(1, Some("a")), (2, Some("b")), (3, Some("c"))]);
        let topic = NewTopic {
            name: "t".into(),
            num_partitions: 12,
            replication_factor: 3,
            ..Default::default()
        };
        let image = commit(
            &image,
            &plan_create_topic(&image, &topic, DEFAULTS, Uuid([9; 16])).unwrap(),
        );
        let before = image.topic("t").unwrap().clone();
        assert!(before.partitions.iter().any(|p| p.leader == 2));

        let records = plan_controlled_shutdown(&image, 2, epoch_of(&image, 2), POLICY).unwrap();
        assert!(matches!(
            records[0],
            MetadataRecord::BrokerRegistrationChange {
                broker_id: 2,
                in_controlled_shutdown: true,
                fenced: None,
                ..
            }
        ));
        // One change per partition: every ISR holds broker 2.
        assert_eq!(records.len(), 13);
        let image = commit(&image, &records);
        for (old, new) in before
            .partitions
            .iter()
            .zip(&image.topic("t").unwrap().partitions)
        {
            assert!(!new.isr.contains(&2) && new.leader != 2, "{new:?}");
            assert!(new.has_leader());
            assert_eq!(new.partition_epoch, old.partition_epoch + 1);
            if old.leader == 2 {
                // The next replica in order that is still in the ISR.
                let next = *old.replicas.iter().find(|&&r| r != 2).unwrap();
                assert_eq!((new.leader, new.leader_epoch), (next, old.leader_epoch + 1));
            } else {
                assert_eq!(
                    (new.leader, new.leader_epoch),
                    (old.leader, old.leader_epoch)
                );
            }
        }
        // Asking again finds nothing left to move.
        assert!(
            plan_controlled_shutdown(&image, 2, epoch_of(&image, 2), POLICY)
                .unwrap()
                .is_empty()
        );
        // A broker shutting down is not elected.
        let image = commit(&image, &plan_fence_broker(&image, 1, POLICY).unwrap());
        for p in &image.topic("t").unwrap().partitions {
            assert_eq!(p.leader, 3, "{p:?}");
        }
    }

    #[test]
    fn replacing_or_unregistering_a_broker_moves_its_leaderships() {
        let image = cluster(&[(1, None), (2, None)]);
        let image = manual_topic(&image, "t", &[&[1, 2], &[2, 1]], &[]);
        // A new incarnation of 1 whose old session expired: the old one
        // leaves the ISRs. The registration comes first: its offset is the
        // epoch the caller planned with.
        let epoch = image.offset + 1;
        let reg = plan_register_broker(
            &image,
            1,
            Uuid([0x11; 16]),
            vec![],
            None,
            vec![],
            epoch,
            false,
            -1,
            POLICY,
        )
        .unwrap();
        assert!(matches!(
            reg.records[0],
            MetadataRecord::RegisterBroker { broker_epoch, fenced: true, .. } if broker_epoch == epoch
        ));
        assert_eq!(reg.records.len(), 3);
        let image = commit(&image, &reg.records);
        assert_eq!(
            summary(&state(&image, "t", 0)),
            (vec![1, 2], vec![2], 2, 1, 1)
        );
        assert_eq!(
            summary(&state(&image, "t", 1)),
            (vec![2, 1], vec![2], 2, 0, 1)
        );

        // Unregistering the last ISR member leaves the partitions offline.
        let records = plan_unregister_broker(&image, 2, POLICY).unwrap();
        assert!(matches!(
            records.last(),
            Some(MetadataRecord::UnregisterBroker { broker_id: 2, .. })
        ));
        let image = commit(&image, &records);
        for p in 0..2 {
            let s = state(&image, "t", p);
            assert_eq!((s.isr.as_slice(), s.leader), (&[2][..], -1));
        }
    }

    /// The leader's AlterPartition for partition 0 of "t".
    fn alter(
        image: &MetadataImage,
        leader: i32,
        leader_epoch: i32,
        partition_epoch: i32,
        isr: &[(i32, i64)],
    ) -> Result<(Vec<MetadataRecord>, PartitionImage), Refusal> {
        let id = image.topic("t").unwrap().id;
        plan_alter_partition(
            image,
            leader,
            epoch_of(image, leader),
            id,
            0,
            leader_epoch,
            partition_epoch,
            isr,
            POLICY,
        )
    }

    #[test]
    fn alter_partition_shrinks_and_expands_the_isr() {
        let image = cluster(&[(1, None), (2, None), (3, None)]);
        let image = manual_topic(&image, "t", &[&[1, 2, 3]], &[]);
        let e = |b| epoch_of(&image, b);

        // Shrink: the partition epoch goes up, the leader epoch stays.
        let (records, after) = alter(&image, 1, 0, 0, &[(1, e(1)), (3, -1)]).unwrap();
        assert_eq!(records.len(), 1);
        assert_eq!(summary(&after), (vec![1, 2, 3], vec![1, 3], 1, 0, 1));
        let image = commit(&image, &records);
        assert_eq!(state(&image, "t", 0), after);

        // The same ISR again: nothing to write, the state as it is.
        let (records, same) = alter(&image, 1, 0, 1, &[(1, -1), (3, e(3))]).unwrap();
        assert!(records.is_empty());
        assert_eq!(same, after);

        // Expand, in a new order.
        let (records, after) = alter(&image, 1, 0, 1, &[(2, e(2)), (1, -1), (3, -1)]).unwrap();
        let image = commit(&image, &records);
        assert_eq!(summary(&after), (vec![1, 2, 3], vec![2, 1, 3], 1, 0, 2));
        assert_eq!(state(&image, "t", 0), after);
    }

    #[test]
    fn alter_partition_refusals_follow_kafka() {
        let image = cluster(&[(1, None), (2, None), (3, None), (4, None)]);
        let image = manual_topic(&image, "t", &[&[1, 2, 3]], &[]);
        // Leader epoch 1, partition epoch 2: 2 took over from 1, 1 came
        // back (so it is live, but no longer in the ISR).
        let image = commit(&image, &plan_fence_broker(&image, 1, POLICY).unwrap());
        let image = commit(
            &image,
            &plan_unfence_broker(&image, 1, epoch_of(&image, 1), POLICY).unwrap(),
        );
        let (records, _) = alter(&image, 2, 1, 1, &[(2, -1), (3, -1)]).unwrap();
        assert!(records.is_empty());
        let image = commit(
            &image,
            &alter(&image, 2, 1, 1, &[(3, -1), (2, -1)]).unwrap().0,
        );
        assert_eq!(
            summary(&state(&image, "t", 0)),
            (vec![1, 2, 3], vec![3, 2], 2, 1, 2)
        );
        let id = image.topic("t").unwrap().id;
        let e = |b| epoch_of(&image, b);
        let code = |r: Result<(Vec<MetadataRecord>, PartitionImage), Refusal>| r.unwrap_err().code;

        // The requester's own registration epoch.
        assert_eq!(
            code(plan_alter_partition(
                &image,
                2,
                e(2) + 1,
                id,
                0,
                1,
                2,
                &[(2, -1)],
                POLICY
            )),
            ErrorCode::STALE_BROKER_EPOCH
        );
        assert_eq!(
            code(plan_alter_partition(
                &image,
                9,
                0,
                id,
                0,
                1,
                2,
                &[(9, -1)],
                POLICY
            )),
            ErrorCode::STALE_BROKER_EPOCH
        );
        // Unknown topic id (the zero id too), unknown partition.
        for topic in [Uuid([0x77; 16]), Uuid::ZERO] {
            assert_eq!(
                code(plan_alter_partition(
                    &image,
                    2,
                    e(2),
                    topic,
                    0,
                    1,
                    2,
                    &[(2, -1)],
                    POLICY
                )),
                ErrorCode::UNKNOWN_TOPIC_ID
            );
        }
        for p in [1, -1] {
            assert_eq!(
                code(plan_alter_partition(
                    &image,
                    2,
                    e(2),
                    id,
                    p,
                    1,
                    2,
                    &[(2, -1)],
                    POLICY
                )),
                ErrorCode::UNKNOWN_TOPIC_OR_PARTITION
            );
        }
        // Epochs newer than the controller's: it is behind.
        assert_eq!(
            code(alter(&image, 2, 2, 2, &[(2, -1)])),
            ErrorCode::NOT_CONTROLLER
        );
        assert_eq!(
            code(alter(&image, 2, 1, 3, &[(2, -1)])),
            ErrorCode::NOT_CONTROLLER
        );
        // An older leader epoch: fenced, before who asks is checked.
        assert_eq!(
            code(alter(&image, 1, 0, 0, &[(1, -1)])),
            ErrorCode::FENCED_LEADER_EPOCH
        );
        assert_eq!(
            code(alter(&image, 2, 0, 2, &[(2, -1)])),
            ErrorCode::FENCED_LEADER_EPOCH
        );
        // Not the leader (Kafka answers INVALID_REQUEST, not
        // NOT_LEADER_OR_FOLLOWER).
        assert_eq!(
            code(alter(&image, 3, 1, 2, &[(3, -1)])),
            ErrorCode::INVALID_REQUEST
        );
        // An older partition epoch.
        assert_eq!(
            code(alter(&image, 2, 1, 1, &[(2, -1)])),
            ErrorCode::INVALID_UPDATE_VERSION
        );
        // Not replicas, twice, without the leader, empty.
        for isr in [
            &[(2, -1), (4, -1)][..],
            &[(2, -1), (3, -1), (2, -1)][..],
            &[(3, -1)][..],
            &[][..],
        ] {
            assert_eq!(
                code(alter(&image, 2, 1, 2, isr)),
                ErrorCode::INVALID_REQUEST,
                "{isr:?}"
            );
        }
        // Ineligible members: another broker epoch than registered, fenced,
        // shutting down, unregistered.
        let refusal = alter(&image, 2, 1, 2, &[(2, -1), (1, e(1) + 1)]).unwrap_err();
        assert_eq!(refusal.code, ErrorCode::INELIGIBLE_REPLICA);
        assert!(
            refusal.message.contains("broker epoch"),
            "{}",
            refusal.message
        );
        assert!(alter(&image, 2, 1, 2, &[(2, -1), (1, e(1))]).is_ok());
        let fenced = commit(&image, &plan_fence_broker(&image, 1, POLICY).unwrap());
        assert_eq!(
            code(alter(&fenced, 2, 1, 2, &[(2, -1), (1, -1)])),
            ErrorCode::INELIGIBLE_REPLICA
        );
        let shutting = commit(
            &image,
            &plan_controlled_shutdown(&image, 1, e(1), POLICY).unwrap(),
        );
        assert_eq!(
            code(alter(&shutting, 2, 1, 2, &[(2, -1), (1, -1)])),
            ErrorCode::INELIGIBLE_REPLICA
        );
        let gone = commit(&image, &plan_unregister_broker(&image, 1, POLICY).unwrap());
        assert_eq!(
            code(alter(&gone, 2, 1, 2, &[(2, -1), (1, -1)])),
            ErrorCode::INELIGIBLE_REPLICA
        );
    }

    #[test]
    fn elect_leaders_preferred_and_unclean() {
        let image = cluster(&[(1, None), (2, None), (3, None)]);
        let image = manual_topic(&image, "t", &[&[1, 2], &[3, 1], &[2, 3]], &[]);
        // 3 then 1 go away, and 3 comes back: partition 0 is led by 2, out
        // of order; partition 1 is offline with ISR [1] (3 left first).
        let mut image = image;
        for b in [3, 1] {
            image = commit(&image, &plan_fence_broker(&image, b, POLICY).unwrap());
        }
        image = commit(
            &image,
            &plan_unfence_broker(&image, 3, epoch_of(&image, 3), POLICY).unwrap(),
        );
        assert_eq!(
            summary(&state(&image, "t", 0)),
            (vec![1, 2], vec![2], 2, 1, 1)
        );
        assert_eq!(
            summary(&state(&image, "t", 1)),
            (vec![3, 1], vec![1], -1, 2, 2)
        );
        let req = |parts: &[i32]| vec![("t".to_string(), parts.to_vec())];
        let codes = |results: &ElectionResults| -> Vec<(i32, ErrorCode)> {
            results[0]
                .1
                .iter()
                .map(|(p, r)| (*p, r.as_ref().err().map_or(ErrorCode::NONE, |e| e.code)))
                .collect()
        };

        // Preferred: 1 is not in partition 0's ISR; nobody can lead
        // partition 1; partition 2 is led by its preferred replica.
        let (records, results) = plan_elect_leaders(
            &image,
            Some(&req(&[0, 1, 2, 7])),
            ElectionType::Preferred,
            POLICY,
        );
        assert!(records.is_empty());
        assert_eq!(
            codes(&results),
            vec![
                (0, ErrorCode::PREFERRED_LEADER_NOT_AVAILABLE),
                (1, ErrorCode::PREFERRED_LEADER_NOT_AVAILABLE),
                (2, ErrorCode::ELECTION_NOT_NEEDED),
                (7, ErrorCode::UNKNOWN_TOPIC_OR_PARTITION),
            ]
        );
        let (_, results) = plan_elect_leaders(
            &image,
            Some(&[("nope".to_string(), vec![0])]),
            ElectionType::Preferred,
            POLICY,
        );
        assert_eq!(
            results[0].1[0].1.as_ref().unwrap_err().code,
            ErrorCode::UNKNOWN_TOPIC_OR_PARTITION
        );

        // Unclean: partition 1 gets 3, outside its ISR; the others have
        // leaders.
        let (records, results) = plan_elect_leaders(
            &image,
            Some(&req(&[0, 1, 1])),
            ElectionType::Unclean,
            POLICY,
        );
        assert_eq!(
            codes(&results),
            vec![
                (0, ErrorCode::ELECTION_NOT_NEEDED),
                (1, ErrorCode::NONE),
                // Named twice: the second sees the first's result.
                (1, ErrorCode::ELECTION_NOT_NEEDED),
            ]
        );
        let image = commit(&image, &records);
        assert_eq!(
            summary(&state(&image, "t", 1)),
            (vec![3, 1], vec![3], 3, 3, 3)
        );

        // With 1 back in partition 0's ISR, the preferred election moves
        // leadership to it. Asking for every partition leaves out the
        // ones already led by their preferred replica.
        let image = commit(
            &image,
            &plan_unfence_broker(&image, 1, epoch_of(&image, 1), POLICY).unwrap(),
        );
        let e1 = epoch_of(&image, 1);
        let image = commit(
            &image,
            &alter(&image, 2, 1, 1, &[(2, -1), (1, e1)]).unwrap().0,
        );
        let (records, results) = plan_elect_leaders(&image, None, ElectionType::Preferred, POLICY);
        assert_eq!(results.len(), 1);
        assert_eq!(codes(&results), vec![(0, ErrorCode::NONE)]);
        let image = commit(&image, &records);
        assert_eq!(
            summary(&state(&image, "t", 0)),
            (vec![1, 2], vec![2, 1], 1, 2, 3)
        );
        // Unclean for every partition: nothing is leaderless, nothing listed.
        let (records, results) = plan_elect_leaders(&image, None, ElectionType::Unclean, POLICY);
        assert!(records.is_empty());
        assert_eq!(results, vec![("t".to_string(), vec![])]);
        assert_eq!(ElectionType::from_code(1), Some(ElectionType::Unclean));
        assert_eq!(ElectionType::from_code(2), None);
    }

    /// A tiny xorshift generator for the leadership property test.
    struct XorShift(u64);

    impl XorShift {
        fn next(&mut self) -> u64 {
            let mut x = self.0;
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            self.0 = x;
            x
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
        fn chance(&mut self, percent: u64) -> bool {
            self.next() % 100 < percent
        }
    }

    /// Invariants every partition keeps whatever happens to the brokers.
    fn check_partitions(image: &MetadataImage, context: &str) {
        let elr_on = crate::features::elr_enabled(image);
        for t in image.topics() {
            for (p, s) in t.partitions.iter().enumerate() {
                let at = || format!("{context}: {}-{p} {s:?}", t.name);
                assert!(
                    elr_on || !s.isr.is_empty(),
                    "ISR never empty without ELR: {}",
                    at()
                );
                assert!(
                    elr_on || (s.elr.is_empty() && s.last_known_elr.is_empty()),
                    "no ELR lists without ELR: {}",
                    at()
                );
                assert!(
                    s.elr
                        .iter()
                        .all(|r| !s.isr.contains(r) && s.replicas.contains(r)),
                    "the ELR is replicas outside the ISR: {}",
                    at()
                );
                assert_eq!(s.directories.len(), s.replicas.len(), "{}", at());
                assert!(
                    s.isr.iter().all(|r| s.replicas.contains(r)),
                    "ISR within the replicas: {}",
                    at()
                );
                let mut distinct = s.isr.clone();
                distinct.sort_unstable();
                distinct.dedup();
                assert_eq!(distinct.len(), s.isr.len(), "{}", at());
                if s.has_leader() {
                    assert!(
                        s.isr.contains(&s.leader),
                        "the leader is in the ISR: {}",
                        at()
                    );
                    let b = image.brokers.get(&s.leader);
                    assert!(
                        b.is_some_and(BrokerImage::is_active),
                        "the leader is registered, unfenced, not shutting down: {}",
                        at()
                    );
                    assert!(
                        image.replica_dir_online(s, s.leader),
                        "the leader's copy is in a directory that works: {}",
                        at()
                    );
                } else {
                    assert_eq!(s.leader, -1, "{}", at());
                }
            }
        }
    }

    /// The two log directories of broker `b` (the same across restarts, as
    /// a directory's id is kept on its disk).
    fn dirs_of(b: i32) -> [Uuid; 2] {
        let dir = |n: u8| {
            let mut id = [0xd0; 16];
            (id[0], id[1]) = (b as u8, n);
            Uuid(id)
        };
        [dir(1), dir(2)]
    }

    /// Property: random fencing, unfencing, controlled shutdowns,
    /// re-registrations, unregistrations, ISR changes, elections, directory
    /// assignments and failed directories on 3-5 brokers with RF 3 topics
    /// keep every partition valid (see `check_partitions`), never move an
    /// epoch back, elect outside the ISR only where unclean election is
    /// allowed (or asked for), and the log of what was planned replays,
    /// through Kafka's framing, to the same image.
    #[test]
    fn leadership_stays_valid_under_random_membership_changes() {
        // How often each interesting thing happened, over all seeds.
        let (mut moved, mut offline, mut back, mut unclean, mut shrunk, mut expanded) =
            (0, 0, 0, 0, 0, 0);
        let (mut refused, mut assigned, mut failed, mut from_elr) = (0, 0, 0, 0);
        let mut last_known_elected = 0;
        for seed in 1..=60u64 {
            let mut rng = XorShift(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
            let brokers = 3 + rng.below(3) as i32;
            // Every other seed runs with eligible leader replicas on
            // (KIP-966), min.insync.replicas 2.
            let elr_on = seed % 2 == 0;
            let min_isr = if elr_on { 2 } else { 1 };
            let policy = ElectionPolicy {
                min_isr_default: min_isr,
                unclean_default: rng.chance(30),
            };
            let mut log: Vec<MetadataRecord> = Vec::new();
            let mut image = MetadataImage::empty();
            if elr_on {
                let on = MetadataRecord::FeatureLevel {
                    name: crate::features::ELIGIBLE_LEADER_REPLICAS_VERSION.into(),
                    level: 1,
                };
                image = commit(&image, std::slice::from_ref(&on));
                log.push(on);
            }
            let mut append = |image: &mut MetadataImage, records: Vec<MetadataRecord>| {
                for r in &records {
                    let decoded = MetadataRecord::decode(r.encode().unwrap()).unwrap();
                    assert_eq!(&decoded, r);
                }
                *image = commit(image, &records);
                log.extend(records);
            };
            let mut incarnation = 0u8;
            for id in 1..=brokers {
                incarnation += 1;
                let epoch = image.offset + 1;
                let reg = plan_register_broker(
                    &image,
                    id,
                    Uuid([incarnation; 16]),
                    vec![endpoint(id as u16)],
                    None,
                    dirs_of(id).to_vec(),
                    epoch,
                    false,
                    -1,
                    policy,
                )
                .unwrap();
                append(&mut image, reg.records);
                let records = plan_unfence_broker(&image, id, epoch, policy).unwrap();
                append(&mut image, records);
            }
            for (i, configs) in [
                vec![],
                vec![UNCLEAN],
                vec![(UNCLEAN_LEADER_ELECTION_ENABLE, "false")],
            ]
            .into_iter()
            .enumerate()
            {
                let topic = NewTopic {
                    name: format!("t{i}"),
                    num_partitions: 2 + rng.below(4) as i32,
                    replication_factor: 3,
                    configs: configs
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect(),
                    ..Default::default()
                };
                let id = Uuid([
                    i as u8 + 1,
                    seed as u8,
                    0,
                    0,
                    0,
                    0,
                    0,
                    0,
                    0,
                    0,
                    0,
                    0,
                    0,
                    0,
                    0,
                    0,
                ]);
                let records = plan_create_topic(&image, &topic, DEFAULTS, id).unwrap();
                append(&mut image, records);
            }
            check_partitions(&image, &format!("seed {seed} created"));
            // The replicas known to hold every record below the high
            // watermark, per partition: the ISR while it has min.insync
            // replicas (the high watermark may pass what others lack),
            // plus every replica that joins the ISR, minus replicas whose
            // copy may be gone (a restart, which counts as unclean, or a
            // failed directory). A leader elected cleanly, and every ELR
            // member, must be one of them.
            let mut complete: BTreeMap<(String, usize), BTreeSet<i32>> = BTreeMap::new();
            for t in image.topics() {
                for (p, s) in t.partitions.iter().enumerate() {
                    complete.insert((t.name.clone(), p), s.isr.iter().copied().collect());
                }
            }

            for step in 0..150 {
                let before = image.clone();
                let ids: Vec<i32> = (1..=brokers).collect();
                let b = ids[rng.below(ids.len())];
                let registered = image.brokers.get(&b).cloned();
                let mut asked_unclean = false;
                // Copies that may have lost records in this step.
                let mut lost: Vec<(i32, Option<Uuid>)> = Vec::new();
                let records = match rng.below(11) {
                    0 | 1 => plan_fence_broker(&image, b, policy).unwrap_or_default(),
                    2 | 3 => match &registered {
                        Some(r) => plan_unfence_broker(&image, b, r.epoch, policy).unwrap(),
                        None => vec![],
                    },
                    4 => match &registered {
                        Some(r) => plan_controlled_shutdown(&image, b, r.epoch, policy).unwrap(),
                        None => vec![],
                    },
                    5 => {
                        // A restart: a new incarnation once the old session
                        // is gone; sometimes the broker is removed instead.
                        if registered.is_some() && rng.chance(20) {
                            plan_unregister_broker(&image, b, policy).unwrap()
                        } else {
                            // It comes back with both directories, one
                            // (the other's disk is still broken) or
                            // without saying.
                            // Half the restarts follow a clean shutdown:
                            // the process names its last registration, and
                            // kept every record.
                            incarnation = incarnation.wrapping_add(1);
                            let previous = match &registered {
                                Some(r) if rng.chance(50) => r.epoch,
                                Some(_) => {
                                    lost.push((b, None));
                                    -1
                                }
                                None => -1,
                            };
                            let dirs = match rng.below(3) {
                                0 => dirs_of(b).to_vec(),
                                1 => vec![dirs_of(b)[rng.below(2)]],
                                _ => vec![],
                            };
                            plan_register_broker(
                                &image,
                                b,
                                Uuid([incarnation; 16]),
                                vec![endpoint(b as u16)],
                                None,
                                dirs,
                                image.offset + 1,
                                false,
                                previous,
                                policy,
                            )
                            .unwrap()
                            .records
                        }
                    }
                    6 | 7 => {
                        // A leader changes its ISR: it keeps itself, each
                        // other replica at random, sometimes with stale
                        // epochs.
                        let topics = image.topics();
                        let t = topics[rng.below(topics.len())];
                        let p = rng.below(t.partitions.len());
                        let s = &t.partitions[p];
                        if !s.has_leader() {
                            vec![]
                        } else {
                            let mut isr = vec![(s.leader, -1)];
                            for &r in &s.replicas {
                                if r != s.leader && rng.chance(60) {
                                    let epoch = image.brokers.get(&r).map_or(-1, |b| b.epoch);
                                    isr.push((r, if rng.chance(10) { epoch + 1 } else { epoch }));
                                }
                            }
                            let stale = rng.chance(15) as i32;
                            let result = plan_alter_partition(
                                &image,
                                s.leader,
                                image.brokers[&s.leader].epoch,
                                t.id,
                                p as i32,
                                s.leader_epoch - stale,
                                s.partition_epoch,
                                &isr,
                                policy,
                            );
                            match result {
                                Ok((records, after)) => {
                                    let applied = commit(&image, &records);
                                    assert_eq!(applied.partition(&t.name, p as i32), Some(&after));
                                    records
                                }
                                Err(e) => {
                                    refused += 1;
                                    assert!(
                                        matches!(
                                            e.code,
                                            ErrorCode::INELIGIBLE_REPLICA
                                                | ErrorCode::FENCED_LEADER_EPOCH
                                        ),
                                        "seed {seed} step {step}: {e:?}"
                                    );
                                    vec![]
                                }
                            }
                        }
                    }
                    9 => {
                        // The broker says where some of its copies are,
                        // now and then in a directory that failed.
                        match &registered {
                            Some(r) => {
                                let mut assignments = Vec::new();
                                for t in image.topics() {
                                    for (p, s) in t.partitions.iter().enumerate() {
                                        if s.replicas.contains(&b) && rng.chance(40) {
                                            assignments.push((
                                                t.id,
                                                p as i32,
                                                dirs_of(b)[rng.below(2)],
                                            ));
                                        }
                                    }
                                }
                                let (records, results) = plan_assign_replicas_to_dirs(
                                    &image,
                                    b,
                                    r.epoch,
                                    &assignments,
                                    policy,
                                )
                                .unwrap();
                                assert!(results.iter().all(|r| r.2 == ErrorCode::NONE));
                                assigned += records.len();
                                records
                            }
                            None => vec![],
                        }
                    }
                    10 => match &registered {
                        Some(r) => {
                            let dir = dirs_of(b)[rng.below(2)];
                            // Only a directory the broker has online can
                            // fail now; another one's copies went before.
                            if r.log_dirs.contains(&dir) {
                                lost.push((b, Some(dir)));
                            }
                            let records =
                                plan_log_dirs_offline(&image, b, r.epoch, &[dir], policy).unwrap();
                            failed += !records.is_empty() as usize;
                            records
                        }
                        None => vec![],
                    },
                    _ => {
                        let election = if rng.chance(50) {
                            ElectionType::Preferred
                        } else {
                            asked_unclean = true;
                            ElectionType::Unclean
                        };
                        plan_elect_leaders(&image, None, election, policy).0
                    }
                };
                append(&mut image, records);
                let context = format!("seed {seed} step {step}");
                check_partitions(&image, &context);
                for t in image.topics() {
                    let unclean_ok = asked_unclean || policy.unclean_enabled(&image, &t.name);
                    for (p, s) in t.partitions.iter().enumerate() {
                        let old = before.partition(&t.name, p as i32).unwrap();
                        assert!(s.leader_epoch >= old.leader_epoch, "{context}");
                        assert!(s.partition_epoch >= old.partition_epoch, "{context}");
                        if s.leader != old.leader {
                            assert!(s.leader_epoch > old.leader_epoch, "{context}");
                        }
                        // Only where a copy lives may change without an
                        // epoch.
                        let without_dirs = |p: &PartitionImage| PartitionImage {
                            directories: vec![],
                            ..p.clone()
                        };
                        if without_dirs(s) != without_dirs(old) {
                            assert!(s.partition_epoch > old.partition_epoch, "{context}");
                        }
                        match (old.has_leader(), s.has_leader()) {
                            (true, true) if s.leader != old.leader => moved += 1,
                            (true, false) => offline += 1,
                            (false, true) => back += 1,
                            _ => {}
                        }
                        if s.has_leader() && s.leader != old.leader && !old.isr.contains(&s.leader)
                        {
                            unclean += 1;
                        }
                        if s.isr.len() < old.isr.len() {
                            shrunk += 1;
                        }
                        if s.isr.len() > old.isr.len() {
                            expanded += 1;
                        }
                        let known = complete.entry((t.name.clone(), p)).or_default();
                        for (b, dir) in &lost {
                            if dir.is_none_or(|d| old.directory_of(*b) == d) {
                                known.remove(b);
                            }
                        }
                        let changed = s.has_leader() && s.leader != old.leader;
                        if changed && !old.isr.contains(&s.leader) && old.elr.contains(&s.leader) {
                            from_elr += 1;
                        }
                        // Kafka 4.0's last known leader: elected with no ISR
                        // and no ELR left, as the last ISR member was
                        // before ELR (and as unclean as that was).
                        let last_known = changed
                            && old.isr.is_empty()
                            && old.last_known_elr == [s.leader]
                            && s.elr.is_empty();
                        if last_known {
                            last_known_elected += 1;
                        }
                        if changed && !unclean_ok && !last_known {
                            assert!(
                                old.isr.contains(&s.leader) || old.elr.contains(&s.leader),
                                "{context}: {}-{p} elected {} from outside {:?} and ELR {:?}; was {old:?}, now {s:?}, lost {lost:?}",
                                t.name,
                                s.leader,
                                old.isr,
                                old.elr
                            );
                            assert!(
                                known.contains(&s.leader),
                                "{context}: {}-{p} elected {}, which may lack committed records ({known:?})",
                                t.name,
                                s.leader
                            );
                        }
                        for r in &s.elr {
                            assert!(
                                known.contains(r),
                                "{context}: {}-{p} ELR {:?} names {r}, which may lack committed records ({known:?}); was {old:?}, now {s:?}, lost {lost:?}",
                                t.name,
                                s.elr
                            );
                        }
                        // An unclean election starts the history over, as
                        // does an ISR of min.insync.replicas or more.
                        let unclean_now =
                            changed && !old.isr.contains(&s.leader) && !old.elr.contains(&s.leader);
                        if unclean_now || s.isr.len() >= min_isr as usize {
                            *known = s.isr.iter().copied().collect();
                        } else {
                            known.extend(s.isr.iter().copied());
                        }
                    }
                }
            }
            let replayed = MetadataImage::empty()
                .apply_all(log.iter().enumerate().map(|(i, r)| (i as i64, r)))
                .unwrap();
            assert_eq!(replayed, image, "seed {seed}: replay");
        }
        let seen = [
            moved,
            offline,
            back,
            unclean,
            shrunk,
            expanded,
            refused,
            assigned,
            failed,
            from_elr,
            last_known_elected,
        ];
        assert!(seen.iter().all(|&n| n > 20), "{seen:?}");
    }

    // -----------------------------------------------------------------
    // Log directories (KIP-858)
    // -----------------------------------------------------------------

    const D1: Uuid = Uuid([0xd1; 16]);
    const D2: Uuid = Uuid([0xd2; 16]);
    const D3: Uuid = Uuid([0xd3; 16]);
    const D4: Uuid = Uuid([0xd4; 16]);

    /// Registers and unfences brokers, each with the log directories
    /// given (none: it does not say).
    fn cluster_with_dirs(brokers: &[(i32, &[Uuid])]) -> MetadataImage {
        let mut image = MetadataImage::empty();
        for &(id, dirs) in brokers {
            let epoch = image.offset + 1;
            let reg = plan_register_broker(
                &image,
                id,
                Uuid([id as u8; 16]),
                vec![endpoint(id as u16)],
                None,
                dirs.to_vec(),
                epoch,
                false,
                -1,
                POLICY,
            )
            .unwrap();
            image = commit(&image, &reg.records);
            image = commit(
                &image,
                &plan_unfence_broker(&image, id, epoch, POLICY).unwrap(),
            );
        }
        image
    }

    /// Broker `b` says where its copies of partitions of "t" are.
    fn assign_dirs(image: &MetadataImage, b: i32, dirs: &[(i32, Uuid)]) -> MetadataImage {
        let id = image.topic("t").unwrap().id;
        let assignments: Vec<(Uuid, i32, Uuid)> = dirs.iter().map(|&(p, d)| (id, p, d)).collect();
        let (records, results) =
            plan_assign_replicas_to_dirs(image, b, epoch_of(image, b), &assignments, POLICY)
                .unwrap();
        assert!(
            results.iter().all(|r| r.2 == ErrorCode::NONE),
            "{results:?}"
        );
        commit(image, &records)
    }

    #[test]
    fn a_registration_names_its_log_dirs_after_the_register_record() {
        let image = cluster_with_dirs(&[(1, &[D1, D2]), (2, &[])]);
        assert_eq!(image.brokers[&1].log_dirs, vec![D1, D2]);
        assert!(image.brokers[&2].log_dirs.is_empty());
        let image = manual_topic(&image, "t", &[&[1, 2]], &[]);
        let id = image.topic("t").unwrap().id;

        // A new incarnation of 1: its registration first (its offset is the
        // epoch), its directories of that epoch, then it leaves the ISR.
        let epoch = image.offset + 1;
        let reg = plan_register_broker(
            &image,
            1,
            Uuid([0x71; 16]),
            vec![endpoint(1)],
            None,
            vec![D2],
            epoch,
            false,
            -1,
            POLICY,
        )
        .unwrap();
        assert_eq!(reg.records.len(), 3, "{:?}", reg.records);
        assert!(matches!(
            reg.records[0],
            MetadataRecord::RegisterBroker { broker_id: 1, broker_epoch, .. } if broker_epoch == epoch
        ));
        assert_eq!(
            reg.records[1],
            MetadataRecord::BrokerLogDirs {
                broker_id: 1,
                broker_epoch: epoch,
                log_dirs: vec![D2],
            }
        );
        assert!(matches!(
            reg.records[2],
            MetadataRecord::PartitionChange { topic_id, leader: 2, .. } if topic_id == id
        ));
        let image = commit(&image, &reg.records);
        assert_eq!(image.brokers[&1].log_dirs, vec![D2]);
        assert_eq!(image.brokers[&1].epoch, epoch);
    }

    #[test]
    fn assign_replicas_to_dirs_answers_each_partition_as_kafka_does() {
        let image = cluster_with_dirs(&[(1, &[D1, D2]), (2, &[D3]), (3, &[])]);
        let image = manual_topic(&image, "t", &[&[1, 2], &[2, 3], &[1, 3]], &[]);
        let id = image.topic("t").unwrap().id;
        let e1 = epoch_of(&image, 1);

        // The registration must be the one of that epoch.
        assert_eq!(
            plan_assign_replicas_to_dirs(&image, 1, e1 + 1, &[(id, 0, D1)], POLICY)
                .unwrap_err()
                .code,
            ErrorCode::STALE_BROKER_EPOCH
        );
        assert_eq!(
            plan_assign_replicas_to_dirs(&image, 9, 0, &[(id, 0, D1)], POLICY)
                .unwrap_err()
                .code,
            ErrorCode::BROKER_ID_NOT_REGISTERED
        );

        let unknown = Uuid([0x99; 16]);
        let (records, results) = plan_assign_replicas_to_dirs(
            &image,
            1,
            e1,
            &[
                (id, 2, D1),
                (unknown, 0, D1),
                (id, 7, D1),
                (id, -1, D1),
                (id, 1, D1),
                (id, 0, D1),
                (id, 2, D2),
                (Uuid::ZERO, 0, D1),
            ],
            POLICY,
        )
        .unwrap();
        assert_eq!(
            results,
            vec![
                (id, 2, ErrorCode::NONE),
                (unknown, 0, ErrorCode::UNKNOWN_TOPIC_ID),
                (id, 7, ErrorCode::UNKNOWN_TOPIC_OR_PARTITION),
                (id, -1, ErrorCode::UNKNOWN_TOPIC_OR_PARTITION),
                (id, 1, ErrorCode::NOT_LEADER_OR_FOLLOWER),
                (id, 0, ErrorCode::NONE),
                (id, 2, ErrorCode::NONE),
                (Uuid::ZERO, 0, ErrorCode::UNKNOWN_TOPIC_ID),
            ]
        );
        // One record per partition, the last assignment winning, in the
        // order the partitions were first named.
        assert_eq!(
            records,
            vec![
                MetadataRecord::AssignDirectories {
                    topic_id: id,
                    partition: 2,
                    directories: vec![D2, UNASSIGNED_DIRECTORY],
                },
                MetadataRecord::AssignDirectories {
                    topic_id: id,
                    partition: 0,
                    directories: vec![D1, UNASSIGNED_DIRECTORY],
                },
            ]
        );
        let image = commit(&image, &records);
        let before = (state(&image, "t", 0), state(&image, "t", 2));

        // Where the image has it already: nothing to write.
        let (records, results) =
            plan_assign_replicas_to_dirs(&image, 1, e1, &[(id, 0, D1), (id, 2, D2)], POLICY)
                .unwrap();
        assert!(records.is_empty(), "{records:?}");
        assert_eq!(results.len(), 2);

        // Another broker's assignment keeps broker 1's directory.
        let image = assign_dirs(&image, 2, &[(0, D3)]);
        assert_eq!(state(&image, "t", 0).directories, vec![D1, D3]);
        // Leadership and the ISR are not touched, nor the epochs.
        assert_eq!(
            summary(&state(&image, "t", 0)),
            summary(&before.0),
            "assignments move no leadership"
        );
        assert_eq!(state(&image, "t", 2), before.1);
    }

    #[test]
    fn failed_directories_take_only_their_copies_out() {
        let image = cluster_with_dirs(&[(1, &[D1, D2]), (2, &[D3]), (3, &[D4]), (4, &[])]);
        let image = manual_topic(
            &image,
            "t",
            &[&[1, 2, 3], &[1, 2, 3], &[2, 1, 3], &[1, 2, 3], &[2, 3, 4]],
            &[],
        );
        let id = image.topic("t").unwrap().id;
        // Broker 1 keeps partition 0 in D1, 1 and 2 in D2; its copy of 3 is
        // not assigned yet.
        let image = assign_dirs(&image, 1, &[(0, D1), (1, D2), (2, D2)]);
        let image = assign_dirs(&image, 2, &[(0, D3), (1, D3), (2, D3), (3, D3), (4, D3)]);
        let e1 = epoch_of(&image, 1);

        assert_eq!(
            plan_log_dirs_offline(&image, 1, e1 - 1, &[D2], POLICY)
                .unwrap_err()
                .code,
            ErrorCode::STALE_BROKER_EPOCH
        );

        let records = plan_log_dirs_offline(&image, 1, e1, &[D2], POLICY).unwrap();
        assert_eq!(
            records,
            vec![
                MetadataRecord::BrokerLogDirs {
                    broker_id: 1,
                    broker_epoch: e1,
                    log_dirs: vec![D1],
                },
                // It led partition 1: 2 takes over.
                MetadataRecord::PartitionChange {
                    topic_id: id,
                    partition: 1,
                    isr: Some(vec![2, 3]),
                    leader: 2,
                    replicas: None,
                    removing_replicas: None,
                    adding_replicas: None,
                    leader_recovery_state: LEADER_RECOVERY_NO_CHANGE,
                    elr: None,
                    last_known_elr: None,
                },
                // It followed in partition 2: out of the ISR only.
                MetadataRecord::PartitionChange {
                    topic_id: id,
                    partition: 2,
                    isr: Some(vec![2, 3]),
                    leader: NO_LEADER_CHANGE,
                    replicas: None,
                    removing_replicas: None,
                    adding_replicas: None,
                    leader_recovery_state: LEADER_RECOVERY_NO_CHANGE,
                    elr: None,
                    last_known_elr: None,
                },
            ]
        );
        let after = commit(&image, &records);
        // Its copies in D1 and the one not assigned yet keep serving.
        for p in [0, 3] {
            assert_eq!(state(&after, "t", p).leader, 1, "partition {p}");
            assert_eq!(state(&after, "t", p).isr, vec![1, 2, 3], "partition {p}");
        }
        assert_eq!(state(&after, "t", 4), state(&image, "t", 4));
        assert!(!after.replica_dir_online(&state(&after, "t", 1), 1));
        assert!(after.replica_dir_online(&state(&after, "t", 0), 1));

        // Heartbeats keep reporting it: nothing more to do; nor for a
        // directory the broker never named, or the reserved ids.
        for offline in [
            &[D2][..],
            &[D2, Uuid([0x99; 16])],
            &[Uuid([0x99; 16])],
            &[UNASSIGNED_DIRECTORY],
            &[LOST_DIRECTORY],
            &[],
        ] {
            assert_eq!(
                plan_log_dirs_offline(&after, 1, e1, offline, POLICY).unwrap(),
                vec![],
                "{offline:?}"
            );
        }
        // A broker that never named its directories: nothing to go on.
        let image_no_dirs = cluster_with_dirs(&[(1, &[]), (2, &[])]);
        assert!(plan_log_dirs_offline(
            &image_no_dirs,
            1,
            epoch_of(&image_no_dirs, 1),
            &[D1],
            POLICY
        )
        .unwrap()
        .is_empty());

        // A copy assigned later to the failed directory (the assignment
        // raced the failure) leaves the ISR and its leadership too.
        let (records, _) =
            plan_assign_replicas_to_dirs(&after, 1, e1, &[(id, 3, D2)], POLICY).unwrap();
        let later = commit(&after, &records);
        let p3 = state(&later, "t", 3);
        assert_eq!((p3.leader, p3.isr.clone()), (2, vec![2, 3]));
        assert_eq!(p3.directories[0], D2);

        // The last directory fails: none is online, which is "lost" (an
        // empty list would read as "not known", all online).
        let records = plan_log_dirs_offline(&after, 1, e1, &[D1, D2], POLICY).unwrap();
        assert_eq!(
            records[0],
            MetadataRecord::BrokerLogDirs {
                broker_id: 1,
                broker_epoch: e1,
                log_dirs: vec![LOST_DIRECTORY],
            }
        );
        let after = commit(&after, &records);
        assert_eq!(state(&after, "t", 0).leader, 2);
        // Its copy of partition 3 is not assigned: untouched.
        assert_eq!(state(&after, "t", 3).leader, 1);
        assert!(plan_log_dirs_offline(&after, 1, e1, &[D1], POLICY)
            .unwrap()
            .is_empty());
    }

    /// Eligibility is per partition: broker 1 is alive and may lead
    /// partitions in its working directory, but its copy in a failed one
    /// never leads, in any kind of election, and cannot join an ISR.
    #[test]
    fn replicas_in_failed_directories_never_lead() {
        let image = cluster_with_dirs(&[(1, &[D1, D2]), (2, &[D3]), (3, &[D4])]);
        let image = manual_topic(
            &image,
            "t",
            &[&[1, 2, 3], &[1, 2, 3], &[1, 2, 3]],
            &[UNCLEAN],
        );
        let image = assign_dirs(&image, 1, &[(0, D2), (1, D2), (2, D1)]);
        let e1 = epoch_of(&image, 1);
        // 1 leaves and comes back: 2 leads everything, and takes 1 back
        // into partition 0's ISR. Then D2 fails, without the ISR changes
        // that go with it (as if they were still to come), which is what
        // the elections below must cope with.
        let image = commit(&image, &plan_fence_broker(&image, 1, POLICY).unwrap());
        let image = commit(&image, &plan_unfence_broker(&image, 1, e1, POLICY).unwrap());
        let (records, _) = alter(&image, 2, 1, 1, &[(2, -1), (1, -1), (3, -1)]).unwrap();
        let image = commit(&image, &records);
        assert_eq!(
            summary(&state(&image, "t", 0)),
            (vec![1, 2, 3], vec![2, 1, 3], 2, 1, 2)
        );
        let id = image.topic("t").unwrap().id;
        let (records, _) = plan_alter_partition(
            &image,
            2,
            epoch_of(&image, 2),
            id,
            2,
            1,
            1,
            &[(2, -1), (1, -1), (3, -1)],
            POLICY,
        )
        .unwrap();
        let image = commit(&image, &records);
        let image = commit(
            &image,
            &[MetadataRecord::BrokerLogDirs {
                broker_id: 1,
                broker_epoch: e1,
                log_dirs: vec![D1],
            }],
        );

        // Preferred: 1 is first and in both ISRs, but cannot lead
        // partition 0; its copy of partition 2 is in D1, so it can.
        let req = |parts: &[i32]| vec![("t".to_string(), parts.to_vec())];
        let (records, results) =
            plan_elect_leaders(&image, Some(&req(&[0, 2])), ElectionType::Preferred, POLICY);
        assert_eq!(
            results[0].1[0].1.as_ref().unwrap_err().code,
            ErrorCode::PREFERRED_LEADER_NOT_AVAILABLE
        );
        assert!(results[0].1[1].1.is_ok());
        assert_eq!(records.len(), 1);
        assert_eq!(
            commit(&image, &records).partition("t", 2).unwrap().leader,
            1
        );

        // Partition 0's leader goes: 3, not 1, although 1 comes first and
        // is in the ISR.
        let fenced = commit(&image, &plan_fence_broker(&image, 2, POLICY).unwrap());
        let p0 = state(&fenced, "t", 0);
        assert_eq!((p0.leader, p0.isr.clone()), (3, vec![1, 3]));
        // With 3 gone too, nobody: 1 stays in the ISR (never empty), with
        // no leader.
        let fenced = commit(&fenced, &plan_fence_broker(&fenced, 3, POLICY).unwrap());
        let p0 = state(&fenced, "t", 0);
        assert_eq!((p0.isr.clone(), p0.leader), (vec![1], NO_LEADER));
        // Unclean (the topic allows it): still not 1, in either partition.
        assert_eq!(state(&fenced, "t", 1).leader, NO_LEADER);
        let (records, results) =
            plan_elect_leaders(&fenced, Some(&req(&[0, 1])), ElectionType::Unclean, POLICY);
        assert!(records.is_empty(), "{records:?}");
        for (p, r) in &results[0].1 {
            assert_eq!(
                r.as_ref().unwrap_err().code,
                ErrorCode::ELIGIBLE_LEADERS_NOT_AVAILABLE,
                "partition {p}"
            );
        }
        assert!(plan_unclean_elections_allowed(&fenced, POLICY).is_empty());
        // Unfencing 3 brings it back as leader of partition 0.
        let back = commit(
            &fenced,
            &plan_unfence_broker(&fenced, 3, epoch_of(&fenced, 3), POLICY).unwrap(),
        );
        assert_eq!(state(&back, "t", 0).leader, 3);

        // AlterPartition: 1 cannot join partition 0's ISR again.
        let p0 = state(&image, "t", 0);
        let (records, _) = alter(
            &image,
            2,
            p0.leader_epoch,
            p0.partition_epoch,
            &[(2, -1), (3, -1)],
        )
        .unwrap();
        let shrunk = commit(&image, &records);
        let p0 = state(&shrunk, "t", 0);
        let refused = alter(
            &shrunk,
            2,
            p0.leader_epoch,
            p0.partition_epoch,
            &[(2, -1), (3, -1), (1, e1)],
        )
        .unwrap_err();
        assert_eq!(refused.code, ErrorCode::INELIGIBLE_REPLICA);
        assert!(refused.message.contains("offline"), "{}", refused.message);

        // A reassignment that removes the leader hands over to a target
        // replica in the ISR that can lead: 3, not 1.
        let (records, results) = reassign(&image, &[("t", 0, Some(&[1, 3][..]))], POLICY);
        assert!(results[0].is_ok());
        let moved = commit(&image, &records);
        let p0 = state(&moved, "t", 0);
        assert_eq!((p0.replicas.clone(), p0.leader), (vec![1, 3], 3));
        // The directories followed the replicas: 1's copy is still in D2.
        assert_eq!(p0.directories, vec![D2, UNASSIGNED_DIRECTORY]);
    }

    // -----------------------------------------------------------------
    // Partition reassignment
    // -----------------------------------------------------------------

    fn reassign(
        image: &MetadataImage,
        requests: &[(&str, i32, Option<&[i32]>)],
        policy: ElectionPolicy,
    ) -> (Vec<MetadataRecord>, Vec<Result<(), Refusal>>) {
        let requests: Vec<ReassignmentRequest> = requests
            .iter()
            .map(|(t, p, r)| (t.to_string(), *p, r.map(<[i32]>::to_vec)))
            .collect();
        plan_alter_partition_reassignments(image, &requests, policy)
    }

    /// (replicas, isr, adding, removing, leader, leader epoch)
    fn reassigning(p: &PartitionImage) -> (Vec<i32>, Vec<i32>, Vec<i32>, Vec<i32>, i32, i32) {
        (
            p.replicas.clone(),
            p.isr.clone(),
            p.adding_replicas.clone(),
            p.removing_replicas.clone(),
            p.leader,
            p.leader_epoch,
        )
    }

    /// KIP-455's stages with the leader moving away: the new replica is
    /// added, joins the ISR by the leader's AlterPartition, which completes
    /// the reassignment and hands leadership to the first target replica.
    #[test]
    fn a_reassignment_completes_when_the_new_replicas_join_the_isr() {
        let image = cluster(&[(1, None), (2, None), (3, None)]);
        let image = manual_topic(&image, "t", &[&[1, 2]], &[]);
        let id = image.topic("t").unwrap().id;
        assert!(list_reassignments(&image, None).is_empty());

        let (records, results) = reassign(&image, &[("t", 0, Some(&[2, 3]))], POLICY);
        assert_eq!(results, vec![Ok(())]);
        // The target first, then the replica being removed; the ISR and
        // the leader stay, and so does the leader epoch: no replica left.
        assert_eq!(
            records,
            vec![MetadataRecord::PartitionChange {
                topic_id: id,
                partition: 0,
                isr: None,
                leader: NO_LEADER_CHANGE,
                replicas: Some(vec![2, 3, 1]),
                removing_replicas: Some(vec![1]),
                adding_replicas: Some(vec![3]),
                leader_recovery_state: LEADER_RECOVERY_NO_CHANGE,
                elr: None,
                last_known_elr: None,
            }]
        );
        let image = commit(&image, &records);
        assert_eq!(
            reassigning(&state(&image, "t", 0)),
            (vec![2, 3, 1], vec![1, 2], vec![3], vec![1], 1, 0)
        );
        let ongoing = OngoingReassignment {
            partition: 0,
            replicas: vec![2, 3, 1],
            adding_replicas: vec![3],
            removing_replicas: vec![1],
        };
        assert_eq!(
            list_reassignments(&image, None),
            vec![("t".to_string(), vec![ongoing.clone()])]
        );
        let filter = |parts: Vec<i32>| vec![("t".to_string(), parts)];
        assert_eq!(
            list_reassignments(&image, Some(&filter(vec![0, 1]))),
            vec![("t".to_string(), vec![ongoing])]
        );
        assert!(list_reassignments(&image, Some(&filter(vec![1]))).is_empty());
        assert!(list_reassignments(&image, Some(&[("x".to_string(), vec![0])])).is_empty());

        // The same target again changes nothing.
        let (records, results) = reassign(&image, &[("t", 0, Some(&[2, 3]))], POLICY);
        assert_eq!((records.len(), results), (0, vec![Ok(())]));

        // The leader takes 3 into the ISR: the reassignment completes in
        // the same change. 1 leaves replicas and ISR; 2 leads in a new epoch.
        let e = |b| epoch_of(&image, b);
        let (records, after) = alter(&image, 1, 0, 1, &[(1, e(1)), (2, e(2)), (3, e(3))]).unwrap();
        assert_eq!(
            records,
            vec![MetadataRecord::PartitionChange {
                topic_id: id,
                partition: 0,
                isr: Some(vec![2, 3]),
                leader: 2,
                replicas: Some(vec![2, 3]),
                removing_replicas: Some(vec![]),
                adding_replicas: Some(vec![]),
                leader_recovery_state: LEADER_RECOVERY_NO_CHANGE,
                elr: None,
                last_known_elr: None,
            }]
        );
        let image = commit(&image, &records);
        assert_eq!(after, state(&image, "t", 0));
        assert_eq!(
            reassigning(&after),
            (vec![2, 3], vec![2, 3], vec![], vec![], 2, 1)
        );
        assert!(list_reassignments(&image, None).is_empty());
        let (records, results) = reassign(&image, &[("t", 0, None)], POLICY);
        assert!(records.is_empty());
        assert_eq!(
            results[0].as_ref().unwrap_err().code,
            ErrorCode::NO_REASSIGNMENT_IN_PROGRESS
        );
    }

    #[test]
    fn a_reassignment_that_keeps_the_leader_bumps_its_epoch_when_it_completes() {
        let image = cluster(&[(1, None), (2, None), (3, None)]);
        let image = manual_topic(&image, "t", &[&[1, 2]], &[]);
        let (records, _) = reassign(&image, &[("t", 0, Some(&[1, 3]))], POLICY);
        let image = commit(&image, &records);
        assert_eq!(
            reassigning(&state(&image, "t", 0)),
            (vec![1, 3, 2], vec![1, 2], vec![3], vec![2], 1, 0)
        );
        // An ISR change that does not bring in 3 leaves it going.
        let e = |b| epoch_of(&image, b);
        let (records, _) = alter(&image, 1, 0, 1, &[(1, e(1))]).unwrap();
        let image = commit(&image, &records);
        assert_eq!(
            reassigning(&state(&image, "t", 0)),
            (vec![1, 3, 2], vec![1], vec![3], vec![2], 1, 0)
        );
        let (records, after) = alter(&image, 1, 0, 2, &[(1, e(1)), (3, e(3))]).unwrap();
        let image = commit(&image, &records);
        assert_eq!(after, state(&image, "t", 0));
        // 2 left the replicas: the leader epoch goes up though 1 still leads.
        assert_eq!(
            reassigning(&after),
            (vec![1, 3], vec![1, 3], vec![], vec![], 1, 1)
        );
    }

    #[test]
    fn targets_the_isr_already_covers_complete_at_once() {
        let image = cluster(&[(1, None), (2, None), (3, None)]);
        let image = manual_topic(&image, "t", &[&[1, 2, 3]], &[]);
        let image = manual_topic(&image, "u", &[&[1, 2]], &[]);
        let (t, u) = (image.topic("t").unwrap().id, image.topic("u").unwrap().id);
        // A smaller replica set and a new order: one change each.
        let (records, results) = reassign(
            &image,
            &[("t", 0, Some(&[2, 1])), ("u", 0, Some(&[2, 1]))],
            POLICY,
        );
        assert_eq!(results, vec![Ok(()), Ok(())]);
        assert_eq!(
            records,
            vec![
                MetadataRecord::PartitionChange {
                    topic_id: t,
                    partition: 0,
                    isr: Some(vec![1, 2]),
                    leader: 1,
                    replicas: Some(vec![2, 1]),
                    removing_replicas: None,
                    adding_replicas: None,
                    leader_recovery_state: LEADER_RECOVERY_NO_CHANGE,
                    elr: None,
                    last_known_elr: None,
                },
                MetadataRecord::PartitionChange {
                    topic_id: u,
                    partition: 0,
                    isr: None,
                    leader: NO_LEADER_CHANGE,
                    replicas: Some(vec![2, 1]),
                    removing_replicas: None,
                    adding_replicas: None,
                    leader_recovery_state: LEADER_RECOVERY_NO_CHANGE,
                    elr: None,
                    last_known_elr: None,
                },
            ]
        );
        let image = commit(&image, &records);
        assert_eq!(
            reassigning(&state(&image, "t", 0)),
            (vec![2, 1], vec![1, 2], vec![], vec![], 1, 1)
        );
        // Adding a replica only: no epoch bump when it completes.
        let (records, _) = reassign(&image, &[("u", 0, Some(&[2, 1, 3]))], POLICY);
        let image = commit(&image, &records);
        assert_eq!(
            reassigning(&state(&image, "u", 0)),
            (vec![2, 1, 3], vec![1, 2], vec![3], vec![], 1, 0)
        );
        let e = |b| epoch_of(&image, b);
        let p = state(&image, "u", 0);
        let (records, after) = plan_alter_partition(
            &image,
            1,
            e(1),
            u,
            0,
            p.leader_epoch,
            p.partition_epoch,
            &[(1, e(1)), (2, e(2)), (3, e(3))],
            POLICY,
        )
        .unwrap();
        commit(&image, &records);
        assert_eq!(
            reassigning(&after),
            (vec![2, 1, 3], vec![1, 2, 3], vec![], vec![], 1, 0)
        );
    }

    #[test]
    fn cancelling_restores_the_original_replicas() {
        let image = cluster(&[(1, None), (2, None), (3, None), (4, None)]);
        let image = manual_topic(&image, "t", &[&[1, 2]], &[]);
        let (records, _) = reassign(&image, &[("t", 0, Some(&[3, 4]))], POLICY);
        let image = commit(&image, &records);
        assert_eq!(
            reassigning(&state(&image, "t", 0)),
            (vec![3, 4, 1, 2], vec![1, 2], vec![3, 4], vec![1, 2], 1, 0)
        );
        // 3 caught up, 4 not yet: no completion.
        let e = |b| epoch_of(&image, b);
        let (records, _) = alter(&image, 1, 0, 1, &[(1, e(1)), (2, e(2)), (3, e(3))]).unwrap();
        let image = commit(&image, &records);
        assert!(state(&image, "t", 0).is_reassigning());
        // A new target replaces the old one: 3 and 4 still count as being
        // added (they were not replicas before), 2 is no longer removed;
        // submitting it again changes nothing.
        let (records, _) = reassign(&image, &[("t", 0, Some(&[2, 3, 4]))], POLICY);
        assert_eq!(records.len(), 1);
        let image = commit(&image, &records);
        assert_eq!(
            reassigning(&state(&image, "t", 0)),
            (vec![2, 3, 4, 1], vec![1, 2, 3], vec![3, 4], vec![1], 1, 0)
        );
        let (records, results) = reassign(&image, &[("t", 0, Some(&[2, 3, 4]))], POLICY);
        assert_eq!((records.len(), results), (0, vec![Ok(())]));

        // Cancelled: the replicas without the ones being added (in their
        // current order, as Kafka keeps it), 3 out of the ISR, the leader
        // epoch up as replicas left.
        let (records, results) = reassign(&image, &[("t", 0, None), ("t", 0, None)], POLICY);
        assert_eq!(results[0], Ok(()));
        assert_eq!(
            results[1].as_ref().unwrap_err().code,
            ErrorCode::NO_REASSIGNMENT_IN_PROGRESS,
            "the second cancel sees the first"
        );
        let image = commit(&image, &records);
        assert_eq!(
            reassigning(&state(&image, "t", 0)),
            (vec![2, 1], vec![1, 2], vec![], vec![], 1, 1)
        );
    }
    #[test]
    fn a_cancel_that_needs_an_unclean_election_needs_the_topic_to_allow_it() {
        let image = cluster(&[(1, None), (2, None), (3, None)]);
        let image = manual_topic(&image, "t", &[&[1]], &[]);
        let image = manual_topic(&image, "u", &[&[1]], &[UNCLEAN]);
        let (records, _) = reassign(
            &image,
            &[("t", 0, Some(&[2, 3])), ("u", 0, Some(&[2, 3]))],
            POLICY,
        );
        let mut image = commit(&image, &records);
        // 2 joins both ISRs, then 1 is fenced: only a replica being added
        // is left in sync, and it leads.
        for topic in ["t", "u"] {
            let p = state(&image, topic, 0);
            let e = |b| epoch_of(&image, b);
            let (records, _) = plan_alter_partition(
                &image,
                1,
                e(1),
                image.topic(topic).unwrap().id,
                0,
                p.leader_epoch,
                p.partition_epoch,
                &[(1, e(1)), (2, e(2))],
                POLICY,
            )
            .unwrap();
            image = commit(&image, &records);
        }
        let image = commit(&image, &plan_fence_broker(&image, 1, POLICY).unwrap());
        assert_eq!(
            reassigning(&state(&image, "t", 0)),
            (vec![2, 3, 1], vec![2], vec![2, 3], vec![1], 2, 1)
        );
        let (records, results) = reassign(&image, &[("t", 0, None), ("u", 0, None)], POLICY);
        assert_eq!(
            results[0].as_ref().unwrap_err().code,
            ErrorCode::INVALID_REPLICA_ASSIGNMENT
        );
        assert_eq!(results[1], Ok(()));
        let image = commit(&image, &records);
        // Back on 1 alone, which is fenced: no leader until it returns.
        assert_eq!(
            reassigning(&state(&image, "u", 0)),
            (vec![1], vec![1], vec![], vec![], -1, 2)
        );
        assert!(state(&image, "t", 0).is_reassigning());
    }

    #[test]
    fn reassignment_requests_are_checked() {
        let image = cluster(&[(1, None), (2, None)]);
        let image = manual_topic(&image, "t", &[&[1]], &[]);
        let (records, results) = reassign(
            &image,
            &[
                ("x", 0, Some(&[1])),
                ("t", 1, Some(&[1])),
                ("t", -1, None),
                ("t", 0, Some(&[])),
                ("t", 0, Some(&[2, 2])),
                ("t", 0, Some(&[2, 7])),
                ("t", 0, None),
                ("t", 0, Some(&[1])),
                ("t", 0, Some(&[2])),
            ],
            POLICY,
        );
        let codes: Vec<ErrorCode> = results
            .iter()
            .map(|r| r.as_ref().map_or_else(|e| e.code, |_| ErrorCode::NONE))
            .collect();
        assert_eq!(
            codes,
            vec![
                ErrorCode::UNKNOWN_TOPIC_OR_PARTITION,
                ErrorCode::UNKNOWN_TOPIC_OR_PARTITION,
                ErrorCode::UNKNOWN_TOPIC_OR_PARTITION,
                ErrorCode::INVALID_REPLICA_ASSIGNMENT,
                ErrorCode::INVALID_REPLICA_ASSIGNMENT,
                ErrorCode::INVALID_REPLICA_ASSIGNMENT,
                ErrorCode::NO_REASSIGNMENT_IN_PROGRESS,
                ErrorCode::NONE,
                ErrorCode::NONE,
            ]
        );
        assert_eq!(
            results[5].as_ref().unwrap_err().message,
            "The manual partition assignment includes broker 7, but no such broker is registered."
        );
        // Only the last one changes anything.
        assert_eq!(records.len(), 1);
        // A fenced broker may be a target; it cannot lead.
        let image = commit(&image, &plan_fence_broker(&image, 2, POLICY).unwrap());
        let (records, results) = reassign(&image, &[("t", 0, Some(&[2, 1]))], POLICY);
        assert_eq!(results, vec![Ok(())]);
        let image = commit(&image, &records);
        assert_eq!(
            reassigning(&state(&image, "t", 0)),
            (vec![2, 1], vec![1], vec![2], vec![], 1, 0)
        );
    }

    /// Whether a reassignment in progress could complete now: no planned
    /// change may leave a partition like that.
    fn completable(p: &PartitionImage) -> bool {
        let staying = |l: &[i32]| -> Vec<i32> {
            l.iter()
                .copied()
                .filter(|r| !p.removing_replicas.contains(r))
                .collect()
        };
        let (isr, replicas) = (staying(&p.isr), staying(&p.replicas));
        p.is_reassigning()
            && !isr.is_empty()
            && !replicas.is_empty()
            && replicas.iter().all(|r| isr.contains(r))
    }

    fn check_reassignments(image: &MetadataImage, context: &str) {
        for t in image.topics() {
            for (p, s) in t.partitions.iter().enumerate() {
                let at = || format!("{context}: {}-{p} {s:?}", t.name);
                assert!(
                    s.adding_replicas.iter().all(|r| s.replicas.contains(r)),
                    "adding within the replicas: {}",
                    at()
                );
                assert!(
                    s.removing_replicas.iter().all(|r| s.replicas.contains(r)),
                    "removing within the replicas: {}",
                    at()
                );
                assert!(
                    !s.adding_replicas
                        .iter()
                        .any(|r| s.removing_replicas.contains(r)),
                    "adding and removing apart: {}",
                    at()
                );
                let mut distinct = s.replicas.clone();
                distinct.sort_unstable();
                distinct.dedup();
                assert_eq!(distinct.len(), s.replicas.len(), "{}", at());
                assert!(!completable(s), "left completable: {}", at());
            }
        }
    }

    /// Property: random reassignments (valid and not), cancels, ISR
    /// changes by the leaders, fencing, unfencing and elections keep every
    /// partition valid (`check_partitions`, and the reassignment's lists
    /// within the replicas and apart), never leave a reassignment that
    /// could complete uncompleted, end every completed one on its target
    /// and every cancelled one on the replicas it started from, and the
    /// log of what was planned replays, through Kafka's framing, to the
    /// same image.
    #[test]
    fn reassignments_stay_valid_under_random_isr_changes() {
        let (mut started, mut completed, mut at_once, mut cancelled, mut refused) = (0, 0, 0, 0, 0);
        for seed in 1..=60u64 {
            let mut rng = XorShift(seed.wrapping_mul(0x2545_F491_4F6C_DD1D) | 1);
            let brokers = 3 + rng.below(3) as i32;
            let policy = ElectionPolicy {
                min_isr_default: 1,
                unclean_default: rng.chance(30),
            };
            let mut log: Vec<MetadataRecord> = Vec::new();
            let mut image = MetadataImage::empty();
            let mut append = |image: &mut MetadataImage, records: Vec<MetadataRecord>| {
                for r in &records {
                    let decoded = MetadataRecord::decode(r.encode().unwrap()).unwrap();
                    assert_eq!(&decoded, r);
                }
                *image = commit(image, &records);
                log.extend(records);
            };
            for id in 1..=brokers {
                let epoch = image.offset + 1;
                let reg = plan_register_broker(
                    &image,
                    id,
                    Uuid([id as u8; 16]),
                    vec![endpoint(id as u16)],
                    None,
                    vec![],
                    epoch,
                    false,
                    -1,
                    policy,
                )
                .unwrap();
                append(&mut image, reg.records);
                let records = plan_unfence_broker(&image, id, epoch, policy).unwrap();
                append(&mut image, records);
            }
            for i in 0..2u8 {
                let topic = NewTopic {
                    name: format!("t{i}"),
                    num_partitions: 2 + rng.below(3) as i32,
                    replication_factor: 2 + rng.below(2) as i16,
                    ..Default::default()
                };
                let mut id = [0; 16];
                id[0] = i + 1;
                id[1] = seed as u8;
                let records = plan_create_topic(&image, &topic, DEFAULTS, Uuid(id)).unwrap();
                append(&mut image, records);
            }
            // The target of each reassignment in progress.
            let mut targets: BTreeMap<(String, i32), Vec<i32>> = BTreeMap::new();
            for step in 0..200 {
                let context = format!("seed {seed} step {step}");
                let before = image.clone();
                let topics = image.topics();
                let t = topics[rng.below(topics.len())].clone();
                let p = rng.below(t.partitions.len()) as i32;
                let current = t.partitions[p as usize].clone();
                let key = (t.name.clone(), p);
                let records = match rng.below(10) {
                    0 | 1 => {
                        // A new target: 1-4 distinct brokers, sometimes
                        // invalid.
                        let mut pool: Vec<i32> = (1..=brokers).collect();
                        let mut target = Vec::new();
                        for _ in 0..1 + rng.below(4.min(brokers as usize)) {
                            target.push(pool.remove(rng.below(pool.len())));
                        }
                        let invalid = match rng.below(12) {
                            0 => {
                                target.clear();
                                true
                            }
                            1 => {
                                target.push(target[0]);
                                true
                            }
                            2 => {
                                target.push(42);
                                true
                            }
                            _ => false,
                        };
                        let (records, results) =
                            reassign(&image, &[(&t.name, p, Some(&target))], policy);
                        match &results[0] {
                            Ok(()) => {
                                assert!(!invalid, "{context}: {target:?} accepted");
                                started += 1;
                                targets.insert(key.clone(), target);
                            }
                            Err(e) => {
                                assert!(invalid, "{context}: {e:?}");
                                assert_eq!(e.code, ErrorCode::INVALID_REPLICA_ASSIGNMENT);
                                refused += 1;
                            }
                        }
                        records
                    }
                    2 => {
                        let (records, results) = reassign(&image, &[(&t.name, p, None)], policy);
                        match &results[0] {
                            Ok(()) => {
                                assert!(current.is_reassigning(), "{context}");
                                let (revert, _) = revert_target(&current).unwrap();
                                let after = commit(&image, &records);
                                assert_eq!(
                                    after.partition(&t.name, p).unwrap().replicas,
                                    revert.replicas,
                                    "{context}: cancelled"
                                );
                                targets.remove(&key);
                                cancelled += 1;
                            }
                            Err(e) if e.code == ErrorCode::NO_REASSIGNMENT_IN_PROGRESS => {
                                assert!(!current.is_reassigning(), "{context}");
                            }
                            Err(e) => {
                                assert_eq!(e.code, ErrorCode::INVALID_REPLICA_ASSIGNMENT);
                                assert!(!policy.unclean_enabled(&image, &t.name), "{context}");
                            }
                        }
                        records
                    }
                    3..=6 => {
                        // The leader changes the ISR: it keeps itself and
                        // each other replica (most of the time).
                        if !current.has_leader() {
                            vec![]
                        } else {
                            let mut isr = vec![(current.leader, -1)];
                            for &r in &current.replicas {
                                if r != current.leader && rng.chance(75) {
                                    isr.push((r, image.brokers.get(&r).map_or(-1, |b| b.epoch)));
                                }
                            }
                            match plan_alter_partition(
                                &image,
                                current.leader,
                                image.brokers[&current.leader].epoch,
                                t.id,
                                p,
                                current.leader_epoch,
                                current.partition_epoch,
                                &isr,
                                POLICY,
                            ) {
                                Ok((records, after)) => {
                                    assert_eq!(
                                        commit(&image, &records).partition(&t.name, p),
                                        Some(&after),
                                        "{context}"
                                    );
                                    records
                                }
                                Err(e) => {
                                    assert_eq!(e.code, ErrorCode::INELIGIBLE_REPLICA, "{context}");
                                    vec![]
                                }
                            }
                        }
                    }
                    7 => {
                        let b = 1 + rng.below(brokers as usize) as i32;
                        plan_fence_broker(&image, b, policy).unwrap()
                    }
                    8 => {
                        let b = 1 + rng.below(brokers as usize) as i32;
                        let epoch = image.brokers[&b].epoch;
                        plan_unfence_broker(&image, b, epoch, policy).unwrap()
                    }
                    _ => plan_elect_leaders(&image, None, ElectionType::Preferred, POLICY).0,
                };
                append(&mut image, records);
                check_partitions(&image, &context);
                check_reassignments(&image, &context);
                for t in image.topics() {
                    for (p, s) in t.partitions.iter().enumerate() {
                        let old = before.partition(&t.name, p as i32).unwrap();
                        assert!(s.leader_epoch >= old.leader_epoch, "{context}");
                        if old.replicas.iter().any(|r| !s.replicas.contains(r)) {
                            assert!(
                                s.leader_epoch > old.leader_epoch,
                                "{context}: removed replicas bump the leader epoch"
                            );
                        }
                        let key = (t.name.clone(), p as i32);
                        if s.is_reassigning() {
                            continue;
                        }
                        if let Some(target) = targets.remove(&key) {
                            assert_eq!(s.replicas, target, "{context}: {}-{p} completed", t.name);
                            if old.is_reassigning() {
                                completed += 1;
                            } else {
                                at_once += 1;
                            }
                        }
                    }
                }
            }
            let replayed = MetadataImage::empty()
                .apply_all(log.iter().enumerate().map(|(i, r)| (i as i64, r)))
                .unwrap();
            assert_eq!(replayed, image, "seed {seed}: replay");
        }
        let seen = [started, completed, at_once, cancelled, refused];
        assert!(seen.iter().all(|&n| n > 20), "{seen:?}");
    }
}
