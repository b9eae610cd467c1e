//! The metadata records: every change to cluster metadata is one of these,
//! appended to the metadata log. Replaying the log from the start rebuilds the
//! metadata image.
//!
//! Each record travels as the value of one record in a v2 record batch of
//! the metadata log (so the batch CRC covers it), in Kafka's KRaft metadata
//! record framing, the one Kafka's `MetadataRecordSerde` reads and writes:
//!
//! ```text
//! uvarint frame version (1) | uvarint record type (the spec's apiKey)
//! | uvarint record version | record body in that version
//! ```
//!
//! The bodies are the generated types of `../shared/kafka-message-specs/metadata`
//! (`TopicRecord`, `PartitionRecord`, ...), written in the versions Kafka 4.0
//! writes at its default `metadata.version` (4.0-IV3). Nothing may follow
//! the body. [`legacy`] reads the encoding of our own that came before, for
//! migrating old data directories.

use bytes::{Bytes, BytesMut};
use vltava_acl::{
    AccessControlEntry, AclBinding, AclOperation, AclPermissionType, PatternType, ResourcePattern,
    ResourceType,
};
use vltava_protocol::codec::{self, DecodeError, EncodeError, Uuid};
use vltava_protocol::messages::{
    client_quota_record, register_broker_record, AccessControlEntryRecord,
    BrokerRegistrationChangeRecord, ClientQuotaRecord, ConfigRecord, DelegationTokenRecord,
    FeatureLevelRecord, FenceBrokerRecord, PartitionChangeRecord, PartitionRecord,
    ProducerIdsRecord, RegisterBrokerRecord, RemoveAccessControlEntryRecord,
    RemoveDelegationTokenRecord, RemoveTopicRecord, RemoveUserScramCredentialRecord, TopicRecord,
    UnfenceBrokerRecord, UnregisterBrokerRecord, UserScramCredentialRecord,
};
use vltava_protocol::{MetadataRecordBody, MetadataRecordType};

use crate::image::UNASSIGNED_DIRECTORY;

/// A broker's address for one listener.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    pub listener: String,
    pub host: String,
    pub port: u16,
    pub security_protocol: i16,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MetadataRecord {
    /// A broker (re)registered: a new registration replaces the old one
    /// whole. `broker_epoch` is the epoch the controller gave it (Kafka: the
    /// offset of this record); `incarnation_id` identifies the broker
    /// process. Logs written before brokers had epochs hold the placeholders
    /// `Uuid::ZERO`, 0 and `fenced: false` (a live single node).
    RegisterBroker {
        broker_id: i32,
        incarnation_id: Uuid,
        broker_epoch: i64,
        endpoints: Vec<Endpoint>,
        rack: Option<String>,
        fenced: bool,
    },
    /// The broker's registration of epoch `broker_epoch` was removed.
    UnregisterBroker { broker_id: i32, broker_epoch: i64 },
    /// The broker `id` of epoch `epoch` is fenced (Kafka's FenceBrokerRecord,
    /// written before metadata.version 3.3-IV2; newer controllers write
    /// `BrokerRegistrationChange`). Read, never planned.
    FenceBroker { id: i32, epoch: i64 },
    /// The broker `id` of epoch `epoch` is unfenced (Kafka's
    /// UnfenceBrokerRecord; as `FenceBroker`).
    UnfenceBroker { id: i32, epoch: i64 },
    /// A change to the registration of epoch `broker_epoch`: `fenced` is
    /// `Some(true)` to fence, `Some(false)` to unfence, `None` for no change;
    /// `in_controlled_shutdown` true when the broker entered controlled
    /// shutdown, false for no change. Kafka's record has no value that
    /// leaves controlled shutdown (a new registration does that), so neither
    /// does this one.
    BrokerRegistrationChange {
        broker_id: i32,
        broker_epoch: i64,
        fenced: Option<bool>,
        in_controlled_shutdown: bool,
    },
    /// The log directories of the broker's registration of epoch
    /// `broker_epoch` that work (KIP-858): every directory it registered
    /// with at first, fewer once a heartbeat reports some failed. Kafka's
    /// BrokerRegistrationChangeRecord (v2) with only `LogDirs` set; an
    /// empty list there means "no change", so this record always names
    /// at least one directory.
    BrokerLogDirs {
        broker_id: i32,
        broker_epoch: i64,
        log_dirs: Vec<Uuid>,
    },
    /// A topic was created; its partitions follow as `Partition` records.
    Topic { name: String, topic_id: Uuid },
    /// A partition's full state: created, or its leadership/replicas changed.
    Partition {
        topic_id: Uuid,
        partition: i32,
        replicas: Vec<i32>,
        isr: Vec<i32>,
        /// The replicas a reassignment in progress is taking away (still
        /// in `replicas` until it completes); empty when none is.
        removing_replicas: Vec<i32>,
        /// The replicas a reassignment in progress is adding (already in
        /// `replicas`); empty when none is.
        adding_replicas: Vec<i32>,
        leader: i32,
        leader_epoch: i32,
        partition_epoch: i32,
        /// KIP-966's eligible leader replicas: out of the ISR, yet holding
        /// everything below the high watermark (empty when ELR is off).
        elr: Vec<i32>,
        /// KIP-966's last known ELR members (empty when ELR is off).
        last_known_elr: Vec<i32>,
    },
    /// A change to one partition (Kafka's PartitionChangeRecord): every
    /// field left at its "no change" value (`None`, [`NO_LEADER_CHANGE`],
    /// [`LEADER_RECOVERY_NO_CHANGE`]) keeps the partition's current value.
    /// Applying it always bumps the partition epoch, and bumps the leader
    /// epoch when `leader` is not [`NO_LEADER_CHANGE`] (Kafka's
    /// `PartitionRegistration.merge`).
    PartitionChange {
        topic_id: Uuid,
        partition: i32,
        /// The new in-sync replicas, or `None` when they did not change.
        isr: Option<Vec<i32>>,
        /// [`NO_LEADER_CHANGE`] (-2) when the leader did not change,
        /// [`NO_LEADER`] (-1) when the partition now has none, otherwise
        /// the new leader.
        leader: i32,
        /// The new replicas, or `None` when they did not change.
        replicas: Option<Vec<i32>>,
        /// The replicas a reassignment is removing (empty: none, the
        /// reassignment completed or was cancelled), or `None` for no
        /// change.
        removing_replicas: Option<Vec<i32>>,
        /// The replicas a reassignment is adding (as `removing_replicas`).
        adding_replicas: Option<Vec<i32>>,
        /// [`LEADER_RECOVERY_NO_CHANGE`] (-1), [`LEADER_RECOVERED`] (0) or
        /// [`LEADER_RECOVERING`] (1, a leader chosen by an unclean
        /// election that has not recovered yet). Carried, not applied: the
        /// image does not keep a partition's recovery state.
        leader_recovery_state: i8,
        /// The new eligible leader replicas (KIP-966), or `None` for no
        /// change.
        elr: Option<Vec<i32>>,
        /// The new last known ELR, or `None` for no change.
        last_known_elr: Option<Vec<i32>>,
    },
    /// The log directory of each replica of a partition (KIP-858), in the
    /// order of its replicas ([`UNASSIGNED_DIRECTORY`] where not known).
    /// Kafka's PartitionChangeRecord (v2) with only `Directories` set: kept
    /// apart from `PartitionChange` because the image applies it apart
    /// (it is ignored unless it is as long as the replica list it meets).
    AssignDirectories {
        topic_id: Uuid,
        partition: i32,
        directories: Vec<Uuid>,
    },
    /// A config was set (`Some`) or removed (`None`) on a resource
    /// (`resource_type` uses DescribeConfigs codes: 2 topic, 4 broker).
    Config {
        resource_type: i8,
        resource_name: String,
        name: String,
        value: Option<String>,
    },
    /// A topic and all its partitions were deleted.
    RemoveTopic { topic_id: Uuid },
    /// A block of producer ids was handed to `broker_id`: ids below
    /// `next_producer_id` are taken (Kafka's ProducerIdsRecord).
    ProducerIds {
        broker_id: i32,
        next_producer_id: i64,
    },
    /// An ACL was created with this id (Kafka's AccessControlEntryRecord).
    /// The codes are kept as `vltava_acl` reads them: a code Kafka does not
    /// define becomes that type's `Unknown` (code 0).
    AccessControlEntry { id: Uuid, binding: AclBinding },
    /// The ACL with this id was deleted (RemoveAccessControlEntryRecord).
    RemoveAccessControlEntry { id: Uuid },
    /// A user's SCRAM credential for one mechanism was set, replacing any
    /// earlier one (UserScramCredentialRecord). `mechanism` is Kafka's
    /// `ScramMechanism` type: 1 SCRAM-SHA-256, 2 SCRAM-SHA-512.
    UserScramCredential {
        name: String,
        mechanism: i8,
        salt: Bytes,
        stored_key: Bytes,
        server_key: Bytes,
        iterations: i32,
    },
    /// A user's SCRAM credential for one mechanism was deleted
    /// (RemoveUserScramCredentialRecord).
    RemoveUserScramCredential { name: String, mechanism: i8 },
    /// A delegation token was created or renewed (DelegationTokenRecord,
    /// KIP-48 / KIP-900): the whole token, replacing an earlier record of
    /// the same id. Principals are `Type:Name`; times are ms since the
    /// epoch. The HMAC is not stored: every node computes it from the id
    /// with `delegation.token.secret.key`.
    DelegationToken {
        token_id: String,
        owner: String,
        requester: String,
        renewers: Vec<String>,
        issue_ms: i64,
        max_ms: i64,
        expiry_ms: i64,
    },
    /// A delegation token expired or was expired (RemoveDelegationTokenRecord).
    RemoveDelegationToken { token_id: String },
    /// One key of a client quota was set (`Some`) or removed (`None`)
    /// (ClientQuotaRecord). `entity` is the record's list of (entity type,
    /// name), a `None` name meaning that type's default entity; it is kept
    /// as written, and checked where it is applied.
    ClientQuota {
        entity: Vec<(String, Option<String>)>,
        key: String,
        value: Option<QuotaValue>,
    },
    /// A feature's finalized level (FeatureLevelRecord, KIP-584/KIP-778):
    /// level 0 takes the feature out of the finalized set.
    FeatureLevel { name: String, level: i16 },
}

/// A client quota's value. Compared by its bits, as Java's
/// `Double.equals` compares, so that records can be `Eq`.
#[derive(Clone, Copy, Debug)]
pub struct QuotaValue(pub f64);

impl PartialEq for QuotaValue {
    fn eq(&self, other: &Self) -> bool {
        self.0.to_bits() == other.0.to_bits()
    }
}

impl Eq for QuotaValue {}

/// The frame version of Kafka's metadata record serde (0 was the 2.8 KRaft
/// preview, which Kafka no longer reads either).
pub const FRAME_VERSION: u32 = 1;

/// The versions written, as Kafka 4.0 at `metadata.version` 4.0-IV3 writes
/// them: PartitionRecord v2 (ELR supported), RegisterBrokerRecord v3 (log
/// directories); the other records have only version 0.
const REGISTER_BROKER_VERSION: i16 = 3;
const PARTITION_VERSION: i16 = 2;
/// BrokerRegistrationChangeRecord v2 (log directories), as written since
/// 3.7-IV2 alongside RegisterBrokerRecord v3.
const BROKER_REGISTRATION_CHANGE_VERSION: i16 = 2;

/// BrokerRegistrationChangeRecord's `Fenced`: "-1 if the broker has been
/// unfenced, 0 if no change, 1 if the broker has been fenced" (Kafka's
/// `BrokerRegistrationFencingChange`).
const FENCING_UNFENCE: i8 = -1;
const FENCING_NONE: i8 = 0;
const FENCING_FENCE: i8 = 1;
/// BrokerRegistrationChangeRecord's `InControlledShutdown`: "0 if no
/// change, 1 if the broker is in controlled shutdown".
const SHUTDOWN_NONE: i8 = 0;
const SHUTDOWN_IN_CONTROLLED_SHUTDOWN: i8 = 1;

/// PartitionChangeRecord version 0 for [`MetadataRecord::PartitionChange`]:
/// every field it carries is in v0. Kafka 4.0 writes v2 at 4.0-IV3, but
/// the versions differ only in the tagged fields v1 and v2 add
/// (Directories, the ELR lists), which are null ("no change") in those
/// records; any Kafka reads v0.
const PARTITION_CHANGE_VERSION: i16 = 0;
/// PartitionChangeRecord version 2, the first with the ELR lists
/// (KIP-966): written when a change sets them.
const PARTITION_CHANGE_ELR_VERSION: i16 = 2;
/// PartitionChangeRecord version for [`MetadataRecord::AssignDirectories`]:
/// `Directories` needs v1+; v2 is what Kafka 4.0 writes.
const ASSIGN_DIRECTORIES_VERSION: i16 = 2;

/// A partition's leader: none (Kafka's `LeaderConstants.NO_LEADER`).
pub const NO_LEADER: i32 = -1;
/// PartitionChangeRecord's `Leader` when the leader did not change
/// (Kafka's `LeaderConstants.NO_LEADER_CHANGE`).
pub const NO_LEADER_CHANGE: i32 = -2;
/// PartitionChangeRecord's `LeaderRecoveryState` when it did not change.
pub const LEADER_RECOVERY_NO_CHANGE: i8 = -1;
/// The leader was elected from the ISR, or has recovered from an unclean
/// election.
pub const LEADER_RECOVERED: i8 = 0;
/// The leader was elected by an unclean election and is still recovering.
pub const LEADER_RECOVERING: i8 = 1;

/// Why a metadata record value could not be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RecordError {
    /// The frame or the body is malformed.
    Decode(DecodeError),
    /// A frame version other than [`FRAME_VERSION`].
    FrameVersion(u32),
    /// A record type no spec defines.
    UnknownType(u32),
    /// A version of a known record type that the specs do not define.
    UnknownVersion { record: &'static str, version: u32 },
    /// Bytes after the record body.
    TrailingBytes {
        record: &'static str,
        remaining: usize,
    },
    /// A valid Kafka record this node does not apply (yet).
    Unsupported {
        record: &'static str,
        why: &'static str,
    },
    /// A field holds a value its spec does not define.
    InvalidValue {
        record: &'static str,
        field: &'static str,
        value: i64,
    },
}

impl std::fmt::Display for RecordError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RecordError::Decode(e) => write!(f, "{e}"),
            RecordError::FrameVersion(v) => write!(
                f,
                "metadata record frame version {v} (only {FRAME_VERSION} is known)"
            ),
            RecordError::UnknownType(t) => write!(f, "unknown metadata record type {t}"),
            RecordError::UnknownVersion { record, version } => {
                write!(f, "{record} version {version} is not defined")
            }
            RecordError::TrailingBytes { record, remaining } => {
                write!(f, "{remaining} byte(s) after the body of a {record}")
            }
            RecordError::Unsupported { record, why } => {
                write!(f, "{record} is not supported: {why}")
            }
            RecordError::InvalidValue {
                record,
                field,
                value,
            } => write!(f, "{record}: {field} {value} is not defined"),
        }
    }
}

impl std::error::Error for RecordError {}

impl From<DecodeError> for RecordError {
    fn from(e: DecodeError) -> Self {
        RecordError::Decode(e)
    }
}

impl MetadataRecord {
    /// Kafka's record for this one, and the version to write it in.
    pub fn to_kafka(&self) -> (MetadataRecordBody, i16) {
        match self {
            MetadataRecord::RegisterBroker {
                broker_id,
                incarnation_id,
                broker_epoch,
                endpoints,
                rack,
                fenced,
            } => (
                MetadataRecordBody::RegisterBroker(RegisterBrokerRecord {
                    broker_id: *broker_id,
                    incarnation_id: *incarnation_id,
                    broker_epoch: *broker_epoch,
                    end_points: endpoints
                        .iter()
                        .map(|e| register_broker_record::BrokerEndpoint {
                            name: e.listener.clone(),
                            host: e.host.clone(),
                            port: e.port,
                            security_protocol: e.security_protocol,
                            ..Default::default()
                        })
                        .collect(),
                    rack: rack.clone(),
                    fenced: *fenced,
                    in_controlled_shutdown: false,
                    ..Default::default()
                }),
                REGISTER_BROKER_VERSION,
            ),
            MetadataRecord::UnregisterBroker {
                broker_id,
                broker_epoch,
            } => (
                MetadataRecordBody::UnregisterBroker(UnregisterBrokerRecord {
                    broker_id: *broker_id,
                    broker_epoch: *broker_epoch,
                    ..Default::default()
                }),
                0,
            ),
            MetadataRecord::FenceBroker { id, epoch } => (
                MetadataRecordBody::FenceBroker(FenceBrokerRecord {
                    id: *id,
                    epoch: *epoch,
                    ..Default::default()
                }),
                0,
            ),
            MetadataRecord::UnfenceBroker { id, epoch } => (
                MetadataRecordBody::UnfenceBroker(UnfenceBrokerRecord {
                    id: *id,
                    epoch: *epoch,
                    ..Default::default()
                }),
                0,
            ),
            MetadataRecord::BrokerRegistrationChange {
                broker_id,
                broker_epoch,
                fenced,
                in_controlled_shutdown,
            } => (
                MetadataRecordBody::BrokerRegistrationChange(BrokerRegistrationChangeRecord {
                    broker_id: *broker_id,
                    broker_epoch: *broker_epoch,
                    fenced: match fenced {
                        None => FENCING_NONE,
                        Some(true) => FENCING_FENCE,
                        Some(false) => FENCING_UNFENCE,
                    },
                    in_controlled_shutdown: if *in_controlled_shutdown {
                        SHUTDOWN_IN_CONTROLLED_SHUTDOWN
                    } else {
                        SHUTDOWN_NONE
                    },
                    ..Default::default()
                }),
                BROKER_REGISTRATION_CHANGE_VERSION,
            ),
            MetadataRecord::BrokerLogDirs {
                broker_id,
                broker_epoch,
                log_dirs,
            } => (
                MetadataRecordBody::BrokerRegistrationChange(BrokerRegistrationChangeRecord {
                    broker_id: *broker_id,
                    broker_epoch: *broker_epoch,
                    fenced: FENCING_NONE,
                    in_controlled_shutdown: SHUTDOWN_NONE,
                    log_dirs: log_dirs.clone(),
                    ..Default::default()
                }),
                BROKER_REGISTRATION_CHANGE_VERSION,
            ),
            MetadataRecord::Topic { name, topic_id } => (
                MetadataRecordBody::Topic(TopicRecord {
                    name: name.clone(),
                    topic_id: *topic_id,
                    ..Default::default()
                }),
                0,
            ),
            MetadataRecord::Partition {
                topic_id,
                partition,
                replicas,
                isr,
                removing_replicas,
                adding_replicas,
                leader,
                leader_epoch,
                partition_epoch,
                elr,
                last_known_elr,
            } => (
                MetadataRecordBody::Partition(PartitionRecord {
                    partition_id: *partition,
                    topic_id: *topic_id,
                    replicas: replicas.clone(),
                    isr: isr.clone(),
                    removing_replicas: removing_replicas.clone(),
                    adding_replicas: adding_replicas.clone(),
                    leader: *leader,
                    leader_epoch: *leader_epoch,
                    partition_epoch: *partition_epoch,
                    // v1+ needs one per replica; where they are known, an
                    // AssignDirectories follows (this variant has none).
                    directories: vec![UNASSIGNED_DIRECTORY; replicas.len()],
                    // Null, not empty, when there are none, as Kafka writes.
                    eligible_leader_replicas: (!elr.is_empty()).then(|| elr.clone()),
                    last_known_elr: (!last_known_elr.is_empty()).then(|| last_known_elr.clone()),
                    ..Default::default()
                }),
                PARTITION_VERSION,
            ),
            MetadataRecord::PartitionChange {
                topic_id,
                partition,
                isr,
                leader,
                replicas,
                removing_replicas,
                adding_replicas,
                leader_recovery_state,
                elr,
                last_known_elr,
            } => (
                MetadataRecordBody::PartitionChange(PartitionChangeRecord {
                    partition_id: *partition,
                    topic_id: *topic_id,
                    isr: isr.clone(),
                    leader: *leader,
                    replicas: replicas.clone(),
                    removing_replicas: removing_replicas.clone(),
                    adding_replicas: adding_replicas.clone(),
                    leader_recovery_state: *leader_recovery_state,
                    eligible_leader_replicas: elr.clone(),
                    last_known_elr: last_known_elr.clone(),
                    ..Default::default()
                }),
                if elr.is_some() || last_known_elr.is_some() {
                    PARTITION_CHANGE_ELR_VERSION
                } else {
                    PARTITION_CHANGE_VERSION
                },
            ),
            MetadataRecord::AssignDirectories {
                topic_id,
                partition,
                directories,
            } => (
                MetadataRecordBody::PartitionChange(PartitionChangeRecord {
                    partition_id: *partition,
                    topic_id: *topic_id,
                    isr: None,
                    leader: NO_LEADER_CHANGE,
                    replicas: None,
                    removing_replicas: None,
                    adding_replicas: None,
                    leader_recovery_state: LEADER_RECOVERY_NO_CHANGE,
                    directories: Some(directories.clone()),
                    eligible_leader_replicas: None,
                    last_known_elr: None,
                    ..Default::default()
                }),
                ASSIGN_DIRECTORIES_VERSION,
            ),
            MetadataRecord::Config {
                resource_type,
                resource_name,
                name,
                value,
            } => (
                MetadataRecordBody::Config(ConfigRecord {
                    resource_type: *resource_type,
                    resource_name: resource_name.clone(),
                    name: name.clone(),
                    value: value.clone(),
                    ..Default::default()
                }),
                0,
            ),
            MetadataRecord::RemoveTopic { topic_id } => (
                MetadataRecordBody::RemoveTopic(RemoveTopicRecord {
                    topic_id: *topic_id,
                    ..Default::default()
                }),
                0,
            ),
            MetadataRecord::ProducerIds {
                broker_id,
                next_producer_id,
            } => (
                MetadataRecordBody::ProducerIds(ProducerIdsRecord {
                    broker_id: *broker_id,
                    // No broker epochs yet: the spec's default.
                    broker_epoch: -1,
                    next_producer_id: *next_producer_id,
                    ..Default::default()
                }),
                0,
            ),
            MetadataRecord::AccessControlEntry { id, binding } => (
                MetadataRecordBody::AccessControlEntry(AccessControlEntryRecord {
                    id: *id,
                    resource_type: binding.pattern.resource_type.code(),
                    resource_name: binding.pattern.name.clone(),
                    pattern_type: binding.pattern.pattern_type.code(),
                    principal: binding.entry.principal.clone(),
                    host: binding.entry.host.clone(),
                    operation: binding.entry.operation.code(),
                    permission_type: binding.entry.permission.code(),
                    ..Default::default()
                }),
                0,
            ),
            MetadataRecord::RemoveAccessControlEntry { id } => (
                MetadataRecordBody::RemoveAccessControlEntry(RemoveAccessControlEntryRecord {
                    id: *id,
                    ..Default::default()
                }),
                0,
            ),
            MetadataRecord::UserScramCredential {
                name,
                mechanism,
                salt,
                stored_key,
                server_key,
                iterations,
            } => (
                MetadataRecordBody::UserScramCredential(UserScramCredentialRecord {
                    name: name.clone(),
                    mechanism: *mechanism,
                    salt: salt.clone(),
                    stored_key: stored_key.clone(),
                    server_key: server_key.clone(),
                    iterations: *iterations,
                    ..Default::default()
                }),
                0,
            ),
            MetadataRecord::RemoveUserScramCredential { name, mechanism } => (
                MetadataRecordBody::RemoveUserScramCredential(RemoveUserScramCredentialRecord {
                    name: name.clone(),
                    mechanism: *mechanism,
                    ..Default::default()
                }),
                0,
            ),
            MetadataRecord::DelegationToken {
                token_id,
                owner,
                requester,
                renewers,
                issue_ms,
                max_ms,
                expiry_ms,
            } => (
                MetadataRecordBody::DelegationToken(DelegationTokenRecord {
                    owner: owner.clone(),
                    requester: requester.clone(),
                    renewers: renewers.clone(),
                    issue_timestamp: *issue_ms,
                    max_timestamp: *max_ms,
                    expiration_timestamp: *expiry_ms,
                    token_id: token_id.clone(),
                    ..Default::default()
                }),
                0,
            ),
            MetadataRecord::RemoveDelegationToken { token_id } => (
                MetadataRecordBody::RemoveDelegationToken(RemoveDelegationTokenRecord {
                    token_id: token_id.clone(),
                    ..Default::default()
                }),
                0,
            ),
            MetadataRecord::FeatureLevel { name, level } => (
                MetadataRecordBody::FeatureLevel(FeatureLevelRecord {
                    name: name.clone(),
                    feature_level: *level,
                    ..Default::default()
                }),
                0,
            ),
            MetadataRecord::ClientQuota { entity, key, value } => (
                MetadataRecordBody::ClientQuota(ClientQuotaRecord {
                    entity: entity
                        .iter()
                        .map(|(t, n)| client_quota_record::EntityData {
                            entity_type: t.clone(),
                            entity_name: n.clone(),
                            ..Default::default()
                        })
                        .collect(),
                    key: key.clone(),
                    // Kafka writes 0.0 with `remove`; the value is ignored then.
                    value: value.map_or(0.0, |v| v.0),
                    remove: value.is_none(),
                    ..Default::default()
                }),
                0,
            ),
        }
    }

    /// Our record for Kafka's, where we have one. Fields this node does not
    /// model and that do not change what it serves (features, ZK
    /// migration, leader recovery state, eligible leader replicas) are
    /// dropped; so are log directories except where a record carries
    /// nothing else (a directory assignment, a broker's online
    /// directories), which is how this node writes them. A record whose
    /// meaning would be lost (a registration already in controlled
    /// shutdown) or whose values the spec does not define is refused.
    pub fn from_kafka(body: MetadataRecordBody) -> Result<MetadataRecord, RecordError> {
        Ok(match body {
            MetadataRecordBody::RegisterBroker(r) => {
                if r.in_controlled_shutdown {
                    return Err(RecordError::Unsupported {
                        record: "RegisterBrokerRecord",
                        why: "a registration already in controlled shutdown",
                    });
                }
                MetadataRecord::RegisterBroker {
                    broker_id: r.broker_id,
                    incarnation_id: r.incarnation_id,
                    broker_epoch: r.broker_epoch,
                    endpoints: r
                        .end_points
                        .into_iter()
                        .map(|e| Endpoint {
                            listener: e.name,
                            host: e.host,
                            port: e.port,
                            security_protocol: e.security_protocol,
                        })
                        .collect(),
                    rack: r.rack,
                    fenced: r.fenced,
                }
            }
            MetadataRecordBody::UnregisterBroker(r) => MetadataRecord::UnregisterBroker {
                broker_id: r.broker_id,
                broker_epoch: r.broker_epoch,
            },
            MetadataRecordBody::FenceBroker(r) => MetadataRecord::FenceBroker {
                id: r.id,
                epoch: r.epoch,
            },
            MetadataRecordBody::UnfenceBroker(r) => MetadataRecord::UnfenceBroker {
                id: r.id,
                epoch: r.epoch,
            },
            MetadataRecordBody::BrokerRegistrationChange(r) => {
                const RECORD: &str = "BrokerRegistrationChangeRecord";
                let fenced = match r.fenced {
                    FENCING_NONE => None,
                    FENCING_FENCE => Some(true),
                    FENCING_UNFENCE => Some(false),
                    other => {
                        return Err(RecordError::InvalidValue {
                            record: RECORD,
                            field: "Fenced",
                            value: other.into(),
                        })
                    }
                };
                let in_controlled_shutdown = match r.in_controlled_shutdown {
                    SHUTDOWN_NONE => false,
                    SHUTDOWN_IN_CONTROLLED_SHUTDOWN => true,
                    other => {
                        return Err(RecordError::InvalidValue {
                            record: RECORD,
                            field: "InControlledShutdown",
                            value: other.into(),
                        })
                    }
                };
                // We never write log directories together with a fencing or
                // shutdown change. Should another writer's record carry
                // both, the fencing change is read and the directories
                // dropped: losing a fencing would be unsafe, while the older
                // directory list this leaves in the image is brought up to
                // date by the broker's heartbeats, which keep reporting
                // its failed directories.
                if fenced.is_none() && !in_controlled_shutdown && !r.log_dirs.is_empty() {
                    MetadataRecord::BrokerLogDirs {
                        broker_id: r.broker_id,
                        broker_epoch: r.broker_epoch,
                        log_dirs: r.log_dirs,
                    }
                } else {
                    MetadataRecord::BrokerRegistrationChange {
                        broker_id: r.broker_id,
                        broker_epoch: r.broker_epoch,
                        fenced,
                        in_controlled_shutdown,
                    }
                }
            }
            MetadataRecordBody::Topic(r) => MetadataRecord::Topic {
                name: r.name,
                topic_id: r.topic_id,
            },
            MetadataRecordBody::Partition(r) => MetadataRecord::Partition {
                topic_id: r.topic_id,
                partition: r.partition_id,
                replicas: r.replicas,
                isr: r.isr,
                removing_replicas: r.removing_replicas,
                adding_replicas: r.adding_replicas,
                leader: r.leader,
                leader_epoch: r.leader_epoch,
                partition_epoch: r.partition_epoch,
                elr: r.eligible_leader_replicas.unwrap_or_default(),
                last_known_elr: r.last_known_elr.unwrap_or_default(),
            },
            MetadataRecordBody::PartitionChange(r) => {
                const RECORD: &str = "PartitionChangeRecord";
                if r.leader < NO_LEADER_CHANGE {
                    return Err(RecordError::InvalidValue {
                        record: RECORD,
                        field: "Leader",
                        value: r.leader.into(),
                    });
                }
                if !(LEADER_RECOVERY_NO_CHANGE..=LEADER_RECOVERING)
                    .contains(&r.leader_recovery_state)
                {
                    return Err(RecordError::InvalidValue {
                        record: RECORD,
                        field: "LeaderRecoveryState",
                        value: r.leader_recovery_state.into(),
                    });
                }
                let only_directories = r.isr.is_none()
                    && r.leader == NO_LEADER_CHANGE
                    && r.replicas.is_none()
                    && r.removing_replicas.is_none()
                    && r.adding_replicas.is_none()
                    && r.leader_recovery_state == LEADER_RECOVERY_NO_CHANGE
                    && r.eligible_leader_replicas.is_none()
                    && r.last_known_elr.is_none();
                if let Some(directories) =
                    r.directories.filter(|d| only_directories && !d.is_empty())
                {
                    return Ok(MetadataRecord::AssignDirectories {
                        topic_id: r.topic_id,
                        partition: r.partition_id,
                        directories,
                    });
                }
                // With other changes, the directories are dropped: the image
                // keeps each staying replica's directory across a change of
                // replicas itself, and a new replica's broker assigns its
                // own.
                MetadataRecord::PartitionChange {
                    topic_id: r.topic_id,
                    partition: r.partition_id,
                    isr: r.isr,
                    leader: r.leader,
                    replicas: r.replicas,
                    removing_replicas: r.removing_replicas,
                    adding_replicas: r.adding_replicas,
                    leader_recovery_state: r.leader_recovery_state,
                    elr: r.eligible_leader_replicas,
                    last_known_elr: r.last_known_elr,
                }
            }
            MetadataRecordBody::Config(r) => MetadataRecord::Config {
                resource_type: r.resource_type,
                resource_name: r.resource_name,
                name: r.name,
                value: r.value,
            },
            MetadataRecordBody::RemoveTopic(r) => MetadataRecord::RemoveTopic {
                topic_id: r.topic_id,
            },
            MetadataRecordBody::ProducerIds(r) => MetadataRecord::ProducerIds {
                broker_id: r.broker_id,
                next_producer_id: r.next_producer_id,
            },
            MetadataRecordBody::AccessControlEntry(r) => MetadataRecord::AccessControlEntry {
                id: r.id,
                binding: AclBinding::new(
                    ResourcePattern::new(
                        ResourceType::from_code(r.resource_type),
                        r.resource_name,
                        PatternType::from_code(r.pattern_type),
                    ),
                    AccessControlEntry::new(
                        r.principal,
                        r.host,
                        AclOperation::from_code(r.operation),
                        AclPermissionType::from_code(r.permission_type),
                    ),
                ),
            },
            MetadataRecordBody::RemoveAccessControlEntry(r) => {
                MetadataRecord::RemoveAccessControlEntry { id: r.id }
            }
            MetadataRecordBody::UserScramCredential(r) => MetadataRecord::UserScramCredential {
                name: r.name,
                mechanism: r.mechanism,
                salt: r.salt,
                stored_key: r.stored_key,
                server_key: r.server_key,
                iterations: r.iterations,
            },
            MetadataRecordBody::RemoveUserScramCredential(r) => {
                MetadataRecord::RemoveUserScramCredential {
                    name: r.name,
                    mechanism: r.mechanism,
                }
            }
            MetadataRecordBody::FeatureLevel(r) => MetadataRecord::FeatureLevel {
                name: r.name,
                level: r.feature_level,
            },
            MetadataRecordBody::DelegationToken(r) => MetadataRecord::DelegationToken {
                token_id: r.token_id,
                owner: r.owner,
                requester: r.requester,
                renewers: r.renewers,
                issue_ms: r.issue_timestamp,
                max_ms: r.max_timestamp,
                expiry_ms: r.expiration_timestamp,
            },
            MetadataRecordBody::RemoveDelegationToken(r) => MetadataRecord::RemoveDelegationToken {
                token_id: r.token_id,
            },
            MetadataRecordBody::ClientQuota(r) => MetadataRecord::ClientQuota {
                entity: r
                    .entity
                    .into_iter()
                    .map(|e| (e.entity_type, e.entity_name))
                    .collect(),
                key: r.key,
                value: (!r.remove).then_some(QuotaValue(r.value)),
            },
            other => {
                return Err(RecordError::Unsupported {
                    record: other.record_type().name(),
                    why: "this node does not apply it yet",
                })
            }
        })
    }

    /// The record in Kafka's metadata record framing.
    pub fn encode(&self) -> Result<Bytes, EncodeError> {
        let (body, version) = self.to_kafka();
        let record_type = body.record_type() as i16 as u32;
        let mut buf = BytesMut::with_capacity(
            codec::uvarint_size(FRAME_VERSION)
                + codec::uvarint_size(record_type)
                + codec::uvarint_size(version as u32)
                + body.encoded_size(version),
        );
        codec::write_uvarint(&mut buf, FRAME_VERSION);
        codec::write_uvarint(&mut buf, record_type);
        codec::write_uvarint(&mut buf, version as u32);
        body.encode(&mut buf, version)?;
        Ok(buf.freeze())
    }

    /// Reads one framed record: the whole of `buf`, nothing left over.
    pub fn decode(buf: Bytes) -> Result<MetadataRecord, RecordError> {
        let (body, _version) = decode_frame(buf)?;
        MetadataRecord::from_kafka(body)
    }
}

/// Reads Kafka's metadata record frame and the body it announces, checking
/// that nothing follows the body.
pub fn decode_frame(mut buf: Bytes) -> Result<(MetadataRecordBody, i16), RecordError> {
    let frame_version = codec::read_uvarint(&mut buf)?;
    if frame_version != FRAME_VERSION {
        return Err(RecordError::FrameVersion(frame_version));
    }
    let raw_type = codec::read_uvarint(&mut buf)?;
    let record_type = i16::try_from(raw_type)
        .ok()
        .and_then(MetadataRecordType::from_i16)
        .ok_or(RecordError::UnknownType(raw_type))?;
    let raw_version = codec::read_uvarint(&mut buf)?;
    let version = i16::try_from(raw_version)
        .ok()
        .filter(|v| record_type.versions().contains(*v))
        .ok_or(RecordError::UnknownVersion {
            record: record_type.name(),
            version: raw_version,
        })?;
    let body = MetadataRecordBody::decode(record_type, &mut buf, version)?;
    if !buf.is_empty() {
        return Err(RecordError::TrailingBytes {
            record: record_type.name(),
            remaining: buf.len(),
        });
    }
    Ok((body, version))
}

/// Whether a record value is in [`legacy`] encoding rather than Kafka's
/// framing. The two cannot be confused: a Kafka frame starts with the frame
/// version 1, the old encoding with its record type, which was never 1
/// (0, 2, 3, 4, 9 or 15).
pub fn is_legacy(value: &[u8]) -> bool {
    value.first() != Some(&(FRAME_VERSION as u8))
}

/// The encoding Vltava used before it adopted Kafka's metadata records: a
/// record type byte (Kafka's apiKey), a version byte (0), then the fields in
/// the protocol crate's compact encodings. Kept only to migrate data
/// directories written in it; nothing writes it outside tests.
pub mod legacy {
    use bytes::{Buf, BufMut, Bytes, BytesMut};
    use vltava_protocol::codec::{
        self, DecodeError, DecodeErrorKind, EncodeError, EncodeErrorKind, Uuid,
    };

    use super::{Endpoint, MetadataRecord};

    const REGISTER_BROKER: i8 = 0;
    const TOPIC: i8 = 2;
    const PARTITION: i8 = 3;
    const CONFIG: i8 = 4;
    const REMOVE_TOPIC: i8 = 9;
    const PRODUCER_IDS: i8 = 15;
    const VERSION: i8 = 0;

    fn put_i32s(buf: &mut BytesMut, items: &[i32]) {
        codec::write_uvarint(buf, items.len() as u32);
        for i in items {
            buf.put_i32(*i);
        }
    }

    fn get_i32s(buf: &mut Bytes) -> Result<Vec<i32>, DecodeError> {
        let n = codec::read_uvarint(buf)? as usize;
        if n.saturating_mul(4) > buf.remaining() {
            return Err(DecodeError::new(DecodeErrorKind::LengthExceedsFrame {
                length: n as u64,
                remaining: buf.remaining(),
            }));
        }
        (0..n).map(|_| codec::read_i32(buf)).collect()
    }

    /// A record in the old encoding (for tests of the migration). Only what
    /// the old encoding could say: no broker membership records, and a
    /// registration only with the placeholders it decodes to.
    pub fn encode(record: &MetadataRecord) -> Result<Bytes, EncodeError> {
        let not_in_legacy = |message| {
            Err(EncodeError::new(EncodeErrorKind::UnsupportedVersion {
                message,
                version: VERSION.into(),
            }))
        };
        let mut buf = BytesMut::with_capacity(64);
        match record {
            MetadataRecord::RegisterBroker {
                broker_id,
                incarnation_id,
                broker_epoch,
                endpoints,
                rack,
                fenced,
            } => {
                if *incarnation_id != Uuid::ZERO || *broker_epoch != 0 || *fenced {
                    return not_in_legacy("RegisterBrokerRecord with an epoch or fencing");
                }
                buf.put_i8(REGISTER_BROKER);
                buf.put_i8(VERSION);
                buf.put_i32(*broker_id);
                codec::write_uvarint(&mut buf, endpoints.len() as u32);
                for e in endpoints {
                    codec::write_string(&mut buf, &e.listener, true)?;
                    codec::write_string(&mut buf, &e.host, true)?;
                    buf.put_u16(e.port);
                    buf.put_i16(e.security_protocol);
                }
                codec::write_nullable_string(&mut buf, rack.as_deref(), true)?;
            }
            MetadataRecord::Topic { name, topic_id } => {
                buf.put_i8(TOPIC);
                buf.put_i8(VERSION);
                codec::write_string(&mut buf, name, true)?;
                codec::write_uuid(&mut buf, topic_id);
            }
            MetadataRecord::Partition {
                topic_id,
                partition,
                replicas,
                isr,
                removing_replicas,
                adding_replicas,
                leader,
                leader_epoch,
                partition_epoch,
                elr,
                last_known_elr,
            } => {
                if !removing_replicas.is_empty() || !adding_replicas.is_empty() {
                    return not_in_legacy("PartitionRecord with a reassignment in progress");
                }
                if !elr.is_empty() || !last_known_elr.is_empty() {
                    return not_in_legacy("PartitionRecord with eligible leader replicas");
                }
                buf.put_i8(PARTITION);
                buf.put_i8(VERSION);
                codec::write_uuid(&mut buf, topic_id);
                buf.put_i32(*partition);
                put_i32s(&mut buf, replicas);
                put_i32s(&mut buf, isr);
                buf.put_i32(*leader);
                buf.put_i32(*leader_epoch);
                buf.put_i32(*partition_epoch);
            }
            MetadataRecord::Config {
                resource_type,
                resource_name,
                name,
                value,
            } => {
                buf.put_i8(CONFIG);
                buf.put_i8(VERSION);
                buf.put_i8(*resource_type);
                codec::write_string(&mut buf, resource_name, true)?;
                codec::write_string(&mut buf, name, true)?;
                codec::write_nullable_string(&mut buf, value.as_deref(), true)?;
            }
            MetadataRecord::RemoveTopic { topic_id } => {
                buf.put_i8(REMOVE_TOPIC);
                buf.put_i8(VERSION);
                codec::write_uuid(&mut buf, topic_id);
            }
            MetadataRecord::ProducerIds {
                broker_id,
                next_producer_id,
            } => {
                buf.put_i8(PRODUCER_IDS);
                buf.put_i8(VERSION);
                buf.put_i32(*broker_id);
                buf.put_i64(*next_producer_id);
            }
            MetadataRecord::UnregisterBroker { .. } => {
                return not_in_legacy("UnregisterBrokerRecord")
            }
            MetadataRecord::FenceBroker { .. } => return not_in_legacy("FenceBrokerRecord"),
            MetadataRecord::UnfenceBroker { .. } => return not_in_legacy("UnfenceBrokerRecord"),
            MetadataRecord::BrokerRegistrationChange { .. } => {
                return not_in_legacy("BrokerRegistrationChangeRecord")
            }
            MetadataRecord::PartitionChange { .. } | MetadataRecord::AssignDirectories { .. } => {
                return not_in_legacy("PartitionChangeRecord")
            }
            MetadataRecord::BrokerLogDirs { .. } => {
                return not_in_legacy("BrokerRegistrationChangeRecord")
            }
            MetadataRecord::AccessControlEntry { .. } => {
                return not_in_legacy("AccessControlEntryRecord")
            }
            MetadataRecord::RemoveAccessControlEntry { .. } => {
                return not_in_legacy("RemoveAccessControlEntryRecord")
            }
            MetadataRecord::UserScramCredential { .. } => {
                return not_in_legacy("UserScramCredentialRecord")
            }
            MetadataRecord::RemoveUserScramCredential { .. } => {
                return not_in_legacy("RemoveUserScramCredentialRecord")
            }
            MetadataRecord::ClientQuota { .. } => return not_in_legacy("ClientQuotaRecord"),
            MetadataRecord::FeatureLevel { .. } => return not_in_legacy("FeatureLevelRecord"),
            MetadataRecord::DelegationToken { .. } => {
                return not_in_legacy("DelegationTokenRecord")
            }
            MetadataRecord::RemoveDelegationToken { .. } => {
                return not_in_legacy("RemoveDelegationTokenRecord")
            }
        }
        Ok(buf.freeze())
    }

    /// Reads a record in the old encoding.
    pub fn decode(mut buf: Bytes) -> Result<MetadataRecord, DecodeError> {
        let buf = &mut buf;
        let kind = codec::read_i8(buf)?;
        let version = codec::read_i8(buf)?;
        if version != VERSION {
            return Err(DecodeError::new(DecodeErrorKind::UnsupportedVersion {
                message: "MetadataRecord",
                version: version.into(),
            }));
        }
        Ok(match kind {
            REGISTER_BROKER => {
                let broker_id = codec::read_i32(buf)?;
                let n = codec::read_uvarint(buf)? as usize;
                if n > buf.remaining() {
                    return Err(DecodeError::new(DecodeErrorKind::LengthExceedsFrame {
                        length: n as u64,
                        remaining: buf.remaining(),
                    }));
                }
                let mut endpoints = Vec::with_capacity(n);
                for _ in 0..n {
                    endpoints.push(Endpoint {
                        listener: codec::read_string(buf, true)?,
                        host: codec::read_string(buf, true)?,
                        port: codec::read_u16(buf)?,
                        security_protocol: codec::read_i16(buf)?,
                    });
                }
                let rack = codec::read_nullable_string(buf, true)?;
                // The old encoding had no epochs or fencing: the placeholders
                // a single node wrote, a live broker.
                MetadataRecord::RegisterBroker {
                    broker_id,
                    incarnation_id: Uuid::ZERO,
                    broker_epoch: 0,
                    endpoints,
                    rack,
                    fenced: false,
                }
            }
            TOPIC => MetadataRecord::Topic {
                name: codec::read_string(buf, true)?,
                topic_id: codec::read_uuid(buf)?,
            },
            PARTITION => MetadataRecord::Partition {
                topic_id: codec::read_uuid(buf)?,
                partition: codec::read_i32(buf)?,
                replicas: get_i32s(buf)?,
                isr: get_i32s(buf)?,
                removing_replicas: Vec::new(),
                adding_replicas: Vec::new(),
                leader: codec::read_i32(buf)?,
                leader_epoch: codec::read_i32(buf)?,
                partition_epoch: codec::read_i32(buf)?,
                elr: Vec::new(),
                last_known_elr: Vec::new(),
            },
            CONFIG => MetadataRecord::Config {
                resource_type: codec::read_i8(buf)?,
                resource_name: codec::read_string(buf, true)?,
                name: codec::read_string(buf, true)?,
                value: codec::read_nullable_string(buf, true)?,
            },
            REMOVE_TOPIC => MetadataRecord::RemoveTopic {
                topic_id: codec::read_uuid(buf)?,
            },
            PRODUCER_IDS => MetadataRecord::ProducerIds {
                broker_id: codec::read_i32(buf)?,
                next_producer_id: codec::read_i64(buf)?,
            },
            other => {
                return Err(DecodeError::new(DecodeErrorKind::UnknownApiKey(
                    other.into(),
                )))
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vltava_protocol::messages::FeatureLevelRecord;

    fn samples() -> Vec<MetadataRecord> {
        let id = Uuid([7; 16]);
        vec![
            MetadataRecord::RegisterBroker {
                broker_id: 1,
                incarnation_id: Uuid::ZERO,
                broker_epoch: 0,
                endpoints: vec![Endpoint {
                    listener: "PLAINTEXT".into(),
                    host: "127.0.0.1".into(),
                    port: 9092,
                    security_protocol: 0,
                }],
                rack: None,
                fenced: false,
            },
            MetadataRecord::RegisterBroker {
                broker_id: 2,
                incarnation_id: Uuid::ZERO,
                broker_epoch: 0,
                endpoints: vec![],
                rack: Some("r1".into()),
                fenced: false,
            },
            MetadataRecord::RegisterBroker {
                broker_id: 3,
                incarnation_id: Uuid([3; 16]),
                broker_epoch: 1234,
                endpoints: vec![],
                rack: Some("r2".into()),
                fenced: true,
            },
            MetadataRecord::UnregisterBroker {
                broker_id: 3,
                broker_epoch: 1234,
            },
            MetadataRecord::FenceBroker { id: 4, epoch: 7 },
            MetadataRecord::UnfenceBroker { id: 4, epoch: 7 },
            MetadataRecord::BrokerRegistrationChange {
                broker_id: 5,
                broker_epoch: 8,
                fenced: None,
                in_controlled_shutdown: false,
            },
            MetadataRecord::BrokerRegistrationChange {
                broker_id: 5,
                broker_epoch: 8,
                fenced: Some(true),
                in_controlled_shutdown: true,
            },
            MetadataRecord::BrokerRegistrationChange {
                broker_id: 5,
                broker_epoch: 8,
                fenced: Some(false),
                in_controlled_shutdown: false,
            },
            MetadataRecord::BrokerLogDirs {
                broker_id: 5,
                broker_epoch: 8,
                log_dirs: vec![Uuid([0xd1; 16]), Uuid([0xd2; 16])],
            },
            MetadataRecord::Topic {
                name: "t".into(),
                topic_id: id,
            },
            MetadataRecord::Partition {
                topic_id: id,
                partition: 3,
                replicas: vec![1, 2],
                isr: vec![1],
                removing_replicas: vec![],
                adding_replicas: vec![],
                leader: 1,
                leader_epoch: 4,
                partition_epoch: 5,
                elr: Vec::new(),
                last_known_elr: Vec::new(),
            },
            // A reassignment from [1, 2] to [3, 2] in progress.
            MetadataRecord::Partition {
                topic_id: id,
                partition: 4,
                replicas: vec![3, 2, 1],
                isr: vec![1, 2],
                removing_replicas: vec![1],
                adding_replicas: vec![3],
                leader: 1,
                leader_epoch: 0,
                partition_epoch: 1,
                elr: Vec::new(),
                last_known_elr: Vec::new(),
            },
            MetadataRecord::PartitionChange {
                topic_id: id,
                partition: 4,
                isr: None,
                leader: NO_LEADER_CHANGE,
                replicas: Some(vec![3, 2, 1]),
                removing_replicas: Some(vec![1]),
                adding_replicas: Some(vec![3]),
                leader_recovery_state: LEADER_RECOVERY_NO_CHANGE,
                elr: None,
                last_known_elr: None,
            },
            MetadataRecord::PartitionChange {
                topic_id: id,
                partition: 3,
                isr: None,
                leader: NO_LEADER_CHANGE,
                replicas: None,
                removing_replicas: None,
                adding_replicas: None,
                leader_recovery_state: LEADER_RECOVERY_NO_CHANGE,
                elr: None,
                last_known_elr: None,
            },
            MetadataRecord::PartitionChange {
                topic_id: id,
                partition: 0,
                isr: Some(vec![2, 1]),
                leader: NO_LEADER,
                replicas: Some(vec![1, 2, 3]),
                removing_replicas: Some(vec![]),
                adding_replicas: Some(vec![]),
                leader_recovery_state: LEADER_RECOVERING,
                elr: None,
                last_known_elr: None,
            },
            MetadataRecord::PartitionChange {
                topic_id: id,
                partition: 1,
                isr: Some(vec![]),
                leader: 2,
                replicas: None,
                removing_replicas: None,
                adding_replicas: None,
                leader_recovery_state: LEADER_RECOVERED,
                elr: None,
                last_known_elr: None,
            },
            MetadataRecord::AssignDirectories {
                topic_id: id,
                partition: 3,
                directories: vec![Uuid([0xd1; 16]), UNASSIGNED_DIRECTORY],
            },
            MetadataRecord::Config {
                resource_type: 2,
                resource_name: "t".into(),
                name: "retention.ms".into(),
                value: Some("1".into()),
            },
            MetadataRecord::Config {
                resource_type: 2,
                resource_name: "t".into(),
                name: "retention.ms".into(),
                value: None,
            },
            MetadataRecord::RemoveTopic { topic_id: id },
            MetadataRecord::ProducerIds {
                broker_id: 1,
                next_producer_id: 2000,
            },
            MetadataRecord::AccessControlEntry {
                id,
                binding: vltava_acl::AclBinding::new(
                    vltava_acl::ResourcePattern::new(
                        vltava_acl::ResourceType::Topic,
                        "orders-",
                        vltava_acl::PatternType::Prefixed,
                    ),
                    vltava_acl::AccessControlEntry::new(
                        "User:alice",
                        "*",
                        vltava_acl::AclOperation::Read,
                        vltava_acl::AclPermissionType::Allow,
                    ),
                ),
            },
            MetadataRecord::RemoveAccessControlEntry { id },
            MetadataRecord::UserScramCredential {
                name: "alice".into(),
                mechanism: 1,
                salt: Bytes::from_static(b"salt"),
                stored_key: Bytes::from(vec![1u8; 32]),
                server_key: Bytes::from(vec![2u8; 32]),
                iterations: 4096,
            },
            MetadataRecord::RemoveUserScramCredential {
                name: "alice".into(),
                mechanism: 2,
            },
            MetadataRecord::ClientQuota {
                entity: vec![
                    ("user".into(), Some("alice".into())),
                    ("client-id".into(), None),
                ],
                key: "producer_byte_rate".into(),
                value: Some(QuotaValue(1_048_576.0)),
            },
            MetadataRecord::ClientQuota {
                entity: vec![("ip".into(), Some("10.0.0.1".into()))],
                key: "connection_creation_rate".into(),
                value: None,
            },
        ]
    }

    #[test]
    fn every_record_round_trips_in_kafka_framing() {
        for r in samples() {
            let bytes = r.encode().unwrap();
            assert!(!is_legacy(&bytes));
            assert_eq!(MetadataRecord::decode(bytes.clone()).unwrap(), r);
            for cut in 0..bytes.len() {
                assert!(
                    MetadataRecord::decode(bytes.slice(..cut)).is_err(),
                    "{r:?} cut at {cut}"
                );
            }
            let mut longer = bytes.to_vec();
            longer.push(0);
            assert!(matches!(
                MetadataRecord::decode(longer.into()),
                Err(RecordError::TrailingBytes { remaining: 1, .. })
            ));
        }
    }

    /// What the old encoding could say: no membership records, and
    /// registrations only with the placeholders.
    fn in_legacy(r: &MetadataRecord) -> bool {
        match r {
            MetadataRecord::RegisterBroker {
                incarnation_id,
                broker_epoch,
                fenced,
                ..
            } => *incarnation_id == Uuid::ZERO && *broker_epoch == 0 && !*fenced,
            MetadataRecord::Partition {
                removing_replicas,
                adding_replicas,
                ..
            } => removing_replicas.is_empty() && adding_replicas.is_empty(),
            MetadataRecord::UnregisterBroker { .. }
            | MetadataRecord::FenceBroker { .. }
            | MetadataRecord::UnfenceBroker { .. }
            | MetadataRecord::BrokerRegistrationChange { .. }
            | MetadataRecord::PartitionChange { .. }
            | MetadataRecord::AssignDirectories { .. }
            | MetadataRecord::BrokerLogDirs { .. }
            | MetadataRecord::AccessControlEntry { .. }
            | MetadataRecord::RemoveAccessControlEntry { .. }
            | MetadataRecord::UserScramCredential { .. }
            | MetadataRecord::RemoveUserScramCredential { .. }
            | MetadataRecord::ClientQuota { .. }
            | MetadataRecord::FeatureLevel { .. }
            | MetadataRecord::DelegationToken { .. }
            | MetadataRecord::RemoveDelegationToken { .. } => false,
            _ => true,
        }
    }

    #[test]
    fn every_record_round_trips_in_the_legacy_encoding() {
        for r in samples() {
            if !in_legacy(&r) {
                assert!(legacy::encode(&r).is_err(), "{r:?}");
                continue;
            }
            let bytes = legacy::encode(&r).unwrap();
            assert!(is_legacy(&bytes), "{r:?}");
            assert_eq!(legacy::decode(bytes.clone()).unwrap(), r);
            for cut in 0..bytes.len() {
                assert!(legacy::decode(bytes.slice(..cut)).is_err());
            }
            // A legacy value is never mistaken for a Kafka frame.
            assert!(MetadataRecord::decode(bytes).is_err());
        }
    }

    #[test]
    fn topic_and_partition_frames_byte_by_byte() {
        let id = Uuid([0x42; 16]);
        // Frame: uvarint frame version 1, uvarint type 2 (TopicRecord's
        // apiKey), uvarint version 0; body: compact string "ab" (len + 1 =
        // 3), 16-byte uuid, empty tagged-field section.
        let mut topic = vec![0x01, 0x02, 0x00, 0x03, b'a', b'b'];
        topic.extend_from_slice(&id.0);
        topic.push(0x00);
        let record = MetadataRecord::Topic {
            name: "ab".into(),
            topic_id: id,
        };
        assert_eq!(&record.encode().unwrap()[..], &topic[..]);
        assert_eq!(MetadataRecord::decode(topic.into()).unwrap(), record);

        // Frame: 1, type 3 (PartitionRecord), version 2; body in spec order:
        // partition id, topic id, replicas [1], isr [1], removing [],
        // adding [], leader 1, leader epoch 0, partition epoch 0,
        // directories [UNASSIGNED] (v1+), no tagged fields (recovery state
        // 0 and null ELR lists are defaults, so absent).
        let mut partition = vec![0x01, 0x03, 0x02, 0, 0, 0, 0];
        partition.extend_from_slice(&id.0);
        partition.extend_from_slice(&[0x02, 0, 0, 0, 1, 0x02, 0, 0, 0, 1, 0x01, 0x01]);
        partition.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0]);
        partition.push(0x02);
        partition.extend_from_slice(&[0; 16]);
        partition.push(0x00);
        let record = MetadataRecord::Partition {
            topic_id: id,
            partition: 0,
            replicas: vec![1],
            isr: vec![1],
            removing_replicas: vec![],
            adding_replicas: vec![],
            leader: 1,
            leader_epoch: 0,
            partition_epoch: 0,
            elr: Vec::new(),
            last_known_elr: Vec::new(),
        };
        assert_eq!(&record.encode().unwrap()[..], &partition[..]);
        assert_eq!(MetadataRecord::decode(partition.into()).unwrap(), record);
    }

    #[test]
    fn frames_we_cannot_read_are_refused_with_a_reason() {
        // Frame version 0 (the 2.8 preview) and an unknown frame version.
        assert_eq!(
            MetadataRecord::decode(Bytes::from_static(&[0x00, 0x02, 0x00])),
            Err(RecordError::FrameVersion(0))
        );
        assert_eq!(
            MetadataRecord::decode(Bytes::from_static(&[0x02, 0x02, 0x00])),
            Err(RecordError::FrameVersion(2))
        );
        // Type 6 was never assigned; TopicRecord has no version 1.
        assert_eq!(
            MetadataRecord::decode(Bytes::from_static(&[0x01, 0x06, 0x00])),
            Err(RecordError::UnknownType(6))
        );
        assert!(matches!(
            MetadataRecord::decode(Bytes::from_static(&[0x01, 0x02, 0x01])),
            Err(RecordError::UnknownVersion { version: 1, .. })
        ));
        // Kafka's FeatureLevelRecord, as Kafka frames it, is read.
        let mut buf = BytesMut::from(&[0x01u8, 12, 0][..]);
        MetadataRecordBody::FeatureLevel(FeatureLevelRecord {
            name: "metadata.version".into(),
            feature_level: 25,
            ..Default::default()
        })
        .encode(&mut buf, 0)
        .unwrap();
        let record = MetadataRecord::decode(buf.clone().freeze()).unwrap();
        assert_eq!(
            record,
            MetadataRecord::FeatureLevel {
                name: "metadata.version".into(),
                level: 25
            }
        );
        assert_eq!(record.encode().unwrap(), buf.freeze());
        // A valid Kafka record we do not apply yet.
        let mut buf = BytesMut::from(&[0x01u8, 20, 0][..]);
        MetadataRecordBody::NoOp(vltava_protocol::messages::NoOpRecord::default())
            .encode(&mut buf, 0)
            .unwrap();
        let err = MetadataRecord::decode(buf.freeze()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "NoOpRecord is not supported: this node does not apply it yet"
        );
    }

    #[test]
    fn kafka_fields_we_do_not_model_are_dropped_and_reassignments_and_elr_kept() {
        let id = Uuid([1; 16]);
        let record = PartitionRecord {
            partition_id: 0,
            topic_id: id,
            replicas: vec![2, 1],
            isr: vec![1],
            removing_replicas: vec![1],
            adding_replicas: vec![2],
            leader: 1,
            leader_epoch: 3,
            partition_epoch: 4,
            leader_recovery_state: 1,
            eligible_leader_replicas: Some(vec![1]),
            ..Default::default()
        };
        assert_eq!(
            MetadataRecord::from_kafka(MetadataRecordBody::Partition(record)),
            Ok(MetadataRecord::Partition {
                topic_id: id,
                partition: 0,
                replicas: vec![2, 1],
                isr: vec![1],
                removing_replicas: vec![1],
                adding_replicas: vec![2],
                leader: 1,
                leader_epoch: 3,
                partition_epoch: 4,
                elr: vec![1],
                last_known_elr: Vec::new(),
            })
        );
    }

    /// A registration as versions before broker epochs wrote it (their
    /// placeholders: zero incarnation id, epoch 0, not fenced) still reads,
    /// as a live broker of epoch 0.
    #[test]
    fn registrations_written_before_epochs_still_decode() {
        // Frame 1, type 0 (RegisterBrokerRecord), version 3; broker id 1,
        // IsMigratingZkBroker false (v2+), incarnation id zero, epoch 0,
        // one endpoint (compact array length 2): "PLAINTEXT", "127.0.0.1",
        // port 9092, protocol 0, no tags; no features; null rack; fenced
        // false; in controlled shutdown false (v1+); no tagged fields.
        let mut old = vec![0x01, 0x00, 0x03, 0, 0, 0, 1, 0];
        old.extend_from_slice(&[0; 16]);
        old.extend_from_slice(&[0; 8]);
        old.push(0x02);
        old.push(10);
        old.extend_from_slice(b"PLAINTEXT");
        old.push(10);
        old.extend_from_slice(b"127.0.0.1");
        old.extend_from_slice(&[0x23, 0x84, 0, 0, 0x00]);
        old.extend_from_slice(&[0x01, 0x00, 0x00, 0x00, 0x00]);
        let record = MetadataRecord::decode(old.clone().into()).unwrap();
        assert_eq!(record, samples()[0]);
        assert_eq!(&record.encode().unwrap()[..], &old[..]);
    }

    /// BrokerRegistrationChangeRecord's Fenced is "-1 if the broker has
    /// been unfenced, 0 if no change, 1 if the broker has been fenced", a
    /// tagged field (tag 0) written only when not 0; InControlledShutdown
    /// (tag 1) is 0 or 1.
    #[test]
    fn registration_change_frames_byte_by_byte() {
        let change = |fenced, in_controlled_shutdown| MetadataRecord::BrokerRegistrationChange {
            broker_id: 2,
            broker_epoch: 9,
            fenced,
            in_controlled_shutdown,
        };
        // Frame 1, type 17, version 2; broker id 2; epoch 9; tagged fields.
        let head = [0x01, 17, 0x02, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 9];
        let frame = |tags: &[u8]| [&head[..], tags].concat();
        let cases: [(MetadataRecord, Vec<u8>); 4] = [
            (change(None, false), frame(&[0x00])),
            (change(Some(true), false), frame(&[0x01, 0x00, 0x01, 0x01])),
            (change(Some(false), false), frame(&[0x01, 0x00, 0x01, 0xff])),
            (
                change(Some(false), true),
                frame(&[0x02, 0x00, 0x01, 0xff, 0x01, 0x01, 0x01]),
            ),
        ];
        for (record, bytes) in cases {
            assert_eq!(&record.encode().unwrap()[..], &bytes[..], "{record:?}");
            assert_eq!(MetadataRecord::decode(bytes.into()).unwrap(), record);
        }
        // Values the spec does not define are refused.
        assert_eq!(
            MetadataRecord::decode(frame(&[0x01, 0x00, 0x01, 0x02]).into()),
            Err(RecordError::InvalidValue {
                record: "BrokerRegistrationChangeRecord",
                field: "Fenced",
                value: 2
            })
        );
        assert_eq!(
            MetadataRecord::decode(frame(&[0x01, 0x01, 0x01, 0xff]).into()),
            Err(RecordError::InvalidValue {
                record: "BrokerRegistrationChangeRecord",
                field: "InControlledShutdown",
                value: -1
            })
        );
    }

    /// PartitionChangeRecord (type 5) laid out by hand from its spec: after
    /// the partition id and topic id, everything is a tagged field, written
    /// only when it differs from its default ("no change"), in tag order:
    /// 0 Isr, 1 Leader, 2 Replicas, 3 RemovingReplicas, 4 AddingReplicas,
    /// 5 LeaderRecoveryState; v1 adds 8 Directories, v2 6 and 7 (ELR).
    #[test]
    fn partition_change_frames_byte_by_byte() {
        let id = Uuid([0x42; 16]);
        let head = |version: u8| {
            let mut h = vec![0x01, 0x05, version, 0, 0, 0, 7];
            h.extend_from_slice(&id.0);
            h
        };
        let change = |isr, leader, replicas, recovery| MetadataRecord::PartitionChange {
            topic_id: id,
            partition: 7,
            isr,
            leader,
            replicas,
            removing_replicas: None,
            adding_replicas: None,
            leader_recovery_state: recovery,
            elr: None,
            last_known_elr: None,
        };

        // Nothing changed: no tagged fields at all.
        let none = change(None, NO_LEADER_CHANGE, None, LEADER_RECOVERY_NO_CHANGE);
        let bytes = [head(0), vec![0x00]].concat();
        assert_eq!(&none.encode().unwrap()[..], &bytes[..]);
        assert_eq!(MetadataRecord::decode(bytes.into()).unwrap(), none);

        // ISR [2, 3] (tag 0: compact array, length + 1 = 3, two int32s;
        // 9 bytes) and leader 3 (tag 1: an int32; 4 bytes).
        let shrink = change(Some(vec![2, 3]), 3, None, LEADER_RECOVERY_NO_CHANGE);
        let mut bytes = head(0);
        bytes.extend_from_slice(&[0x02, 0x00, 0x09, 0x03, 0, 0, 0, 2, 0, 0, 0, 3]);
        bytes.extend_from_slice(&[0x01, 0x04, 0, 0, 0, 3]);
        assert_eq!(&shrink.encode().unwrap()[..], &bytes[..]);
        assert_eq!(MetadataRecord::decode(bytes.into()).unwrap(), shrink);

        // No leader (-1), replicas [1] (tag 2), recovering (tag 5).
        let offline = change(None, NO_LEADER, Some(vec![1]), LEADER_RECOVERING);
        let mut bytes = head(0);
        bytes.extend_from_slice(&[0x03, 0x01, 0x04, 0xff, 0xff, 0xff, 0xff]);
        bytes.extend_from_slice(&[0x02, 0x05, 0x02, 0, 0, 0, 1]);
        bytes.extend_from_slice(&[0x05, 0x01, 0x01]);
        assert_eq!(&offline.encode().unwrap()[..], &bytes[..]);
        assert_eq!(MetadataRecord::decode(bytes.into()).unwrap(), offline);

        // Version 2 as Kafka 4.0 writes it, with Directories (tag 8, one
        // uuid), EligibleLeaderReplicas [1] (tag 6) and LastKnownElr null
        // (tag 7, compact length 0): read, the directories dropped, the
        // ELR kept.
        let mut bytes = head(2);
        bytes.extend_from_slice(&[0x05]);
        bytes.extend_from_slice(&[0x00, 0x05, 0x02, 0, 0, 0, 2]);
        bytes.extend_from_slice(&[0x01, 0x04, 0, 0, 0, 2]);
        bytes.extend_from_slice(&[0x06, 0x05, 0x02, 0, 0, 0, 1]);
        bytes.extend_from_slice(&[0x07, 0x01, 0x00]);
        bytes.extend_from_slice(&[0x08, 0x11, 0x02]);
        bytes.extend_from_slice(&[0x33; 16]);
        let mut with_elr = change(Some(vec![2]), 2, None, LEADER_RECOVERY_NO_CHANGE);
        if let MetadataRecord::PartitionChange { elr, .. } = &mut with_elr {
            *elr = Some(vec![1]);
        }
        assert_eq!(MetadataRecord::decode(bytes.into()).unwrap(), with_elr);
        // Written back as version 2, the ELR with it.
        let again = MetadataRecord::decode(with_elr.encode().unwrap()).unwrap();
        assert_eq!(again, with_elr);
        // Version 1 with only Directories (null: "no change").
        let mut bytes = head(1);
        bytes.extend_from_slice(&[0x01, 0x08, 0x01, 0x00]);
        assert_eq!(MetadataRecord::decode(bytes.into()).unwrap(), none);

        // Values the spec does not define are refused.
        let mut bytes = head(0);
        bytes.extend_from_slice(&[0x01, 0x01, 0x04, 0xff, 0xff, 0xff, 0xfd]);
        assert_eq!(
            MetadataRecord::decode(bytes.into()),
            Err(RecordError::InvalidValue {
                record: "PartitionChangeRecord",
                field: "Leader",
                value: -3
            })
        );
        let mut bytes = head(0);
        bytes.extend_from_slice(&[0x01, 0x05, 0x01, 0x02]);
        assert_eq!(
            MetadataRecord::decode(bytes.into()),
            Err(RecordError::InvalidValue {
                record: "PartitionChangeRecord",
                field: "LeaderRecoveryState",
                value: 2
            })
        );
        // AddingReplicas [4] (tag 4) and RemovingReplicas [] (tag 3,
        // compact length 1): a reassignment's lists.
        let mut bytes = head(0);
        bytes.extend_from_slice(&[0x02, 0x03, 0x01, 0x01, 0x04, 0x05, 0x02, 0, 0, 0, 4]);
        assert_eq!(
            MetadataRecord::decode(bytes.into()),
            Ok(MetadataRecord::PartitionChange {
                topic_id: id,
                partition: 7,
                isr: None,
                leader: NO_LEADER_CHANGE,
                replicas: None,
                removing_replicas: Some(vec![]),
                adding_replicas: Some(vec![4]),
                leader_recovery_state: LEADER_RECOVERY_NO_CHANGE,
                elr: None,
                last_known_elr: None,
            })
        );
    }

    /// A directory assignment is Kafka's PartitionChangeRecord v2 that
    /// changes nothing but `Directories`; a broker's online directories
    /// are BrokerRegistrationChangeRecord v2 that changes nothing but
    /// `LogDirs`. Both read back as themselves.
    #[test]
    fn directory_records_are_kafka_records_with_only_directories() {
        let (topic_id, d1, d2) = (Uuid([7; 16]), Uuid([0xd1; 16]), Uuid([0xd2; 16]));
        let assign = MetadataRecord::AssignDirectories {
            topic_id,
            partition: 2,
            directories: vec![d1, UNASSIGNED_DIRECTORY, d2],
        };
        let (body, version) = decode_frame(assign.encode().unwrap()).unwrap();
        assert_eq!(version, 2);
        assert_eq!(
            body,
            MetadataRecordBody::PartitionChange(PartitionChangeRecord {
                partition_id: 2,
                topic_id,
                isr: None,
                leader: NO_LEADER_CHANGE,
                replicas: None,
                removing_replicas: None,
                adding_replicas: None,
                leader_recovery_state: LEADER_RECOVERY_NO_CHANGE,
                directories: Some(vec![d1, UNASSIGNED_DIRECTORY, d2]),
                eligible_leader_replicas: None,
                last_known_elr: None,
                unknown_tagged_fields: vec![],
            })
        );
        assert_eq!(MetadataRecord::decode(assign.encode().unwrap()), Ok(assign));

        let log_dirs = MetadataRecord::BrokerLogDirs {
            broker_id: 3,
            broker_epoch: 41,
            log_dirs: vec![d2, d1],
        };
        let (body, version) = decode_frame(log_dirs.encode().unwrap()).unwrap();
        assert_eq!(version, 2);
        assert_eq!(
            body,
            MetadataRecordBody::BrokerRegistrationChange(BrokerRegistrationChangeRecord {
                broker_id: 3,
                broker_epoch: 41,
                fenced: 0,
                in_controlled_shutdown: 0,
                log_dirs: vec![d2, d1],
                unknown_tagged_fields: vec![],
            })
        );
        assert_eq!(
            MetadataRecord::decode(log_dirs.encode().unwrap()),
            Ok(log_dirs)
        );

        // Ordinary partition changes are still written at v0.
        let change = MetadataRecord::PartitionChange {
            topic_id,
            partition: 2,
            isr: Some(vec![1]),
            leader: 1,
            replicas: None,
            removing_replicas: None,
            adding_replicas: None,
            leader_recovery_state: LEADER_RECOVERY_NO_CHANGE,
            elr: None,
            last_known_elr: None,
        };
        assert_eq!(decode_frame(change.encode().unwrap()).unwrap().1, 0);
    }

    /// Kafka records that carry directories with other changes: the other
    /// changes are what is read.
    #[test]
    fn directories_with_other_changes_are_dropped() {
        let (topic_id, d1) = (Uuid([7; 16]), Uuid([0xd1; 16]));
        let kafka_change = |f: &dyn Fn(&mut PartitionChangeRecord)| {
            let mut r = PartitionChangeRecord {
                partition_id: 0,
                topic_id,
                directories: Some(vec![d1, d1]),
                ..Default::default()
            };
            f(&mut r);
            MetadataRecord::from_kafka(MetadataRecordBody::PartitionChange(r)).unwrap()
        };
        let plain = |isr, leader, replicas| MetadataRecord::PartitionChange {
            topic_id,
            partition: 0,
            isr,
            leader,
            replicas,
            removing_replicas: None,
            adding_replicas: None,
            leader_recovery_state: LEADER_RECOVERY_NO_CHANGE,
            elr: None,
            last_known_elr: None,
        };
        assert_eq!(
            kafka_change(&|r| r.replicas = Some(vec![1, 2])),
            plain(None, NO_LEADER_CHANGE, Some(vec![1, 2]))
        );
        assert_eq!(kafka_change(&|r| r.leader = 2), plain(None, 2, None));
        assert_eq!(
            kafka_change(&|r| r.isr = Some(vec![2])),
            plain(Some(vec![2]), NO_LEADER_CHANGE, None)
        );
        assert!(matches!(
            kafka_change(&|r| r.eligible_leader_replicas = Some(vec![2])),
            MetadataRecord::PartitionChange { .. }
        ));
        // An empty list assigns nothing: a change that changes nothing.
        assert_eq!(
            kafka_change(&|r| r.directories = Some(vec![])),
            plain(None, NO_LEADER_CHANGE, None)
        );
        assert_eq!(
            kafka_change(&|_| {}),
            MetadataRecord::AssignDirectories {
                topic_id,
                partition: 0,
                directories: vec![d1, d1],
            }
        );

        // A registration change that fences and names directories reads as
        // the fencing; one with neither as a change of nothing.
        let kafka_broker_change = |fenced: i8, in_controlled_shutdown: i8, log_dirs: Vec<Uuid>| {
            MetadataRecord::from_kafka(MetadataRecordBody::BrokerRegistrationChange(
                BrokerRegistrationChangeRecord {
                    broker_id: 1,
                    broker_epoch: 2,
                    fenced,
                    in_controlled_shutdown,
                    log_dirs,
                    ..Default::default()
                },
            ))
            .unwrap()
        };
        let change = |fenced, in_controlled_shutdown| MetadataRecord::BrokerRegistrationChange {
            broker_id: 1,
            broker_epoch: 2,
            fenced,
            in_controlled_shutdown,
        };
        assert_eq!(
            kafka_broker_change(1, 0, vec![d1]),
            change(Some(true), false)
        );
        assert_eq!(kafka_broker_change(0, 1, vec![d1]), change(None, true));
        assert_eq!(kafka_broker_change(0, 0, vec![]), change(None, false));
        assert_eq!(
            kafka_broker_change(0, 0, vec![d1]),
            MetadataRecord::BrokerLogDirs {
                broker_id: 1,
                broker_epoch: 2,
                log_dirs: vec![d1],
            }
        );
    }

    #[test]
    fn fence_unfence_and_unregister_frames_byte_by_byte() {
        // Frame 1, type (7 fence, 8 unfence, 1 unregister), version 0; id
        // 4; epoch 7; no tagged fields.
        let body = [0, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0, 7, 0x00];
        for (record, record_type) in [
            (MetadataRecord::FenceBroker { id: 4, epoch: 7 }, 7),
            (MetadataRecord::UnfenceBroker { id: 4, epoch: 7 }, 8),
            (
                MetadataRecord::UnregisterBroker {
                    broker_id: 4,
                    broker_epoch: 7,
                },
                1,
            ),
        ] {
            let bytes = [&[0x01, record_type, 0x00][..], &body[..]].concat();
            assert_eq!(&record.encode().unwrap()[..], &bytes[..]);
            assert_eq!(MetadataRecord::decode(bytes.into()).unwrap(), record);
        }
    }

    #[test]
    fn a_registration_already_in_controlled_shutdown_is_refused() {
        let record = RegisterBrokerRecord {
            broker_id: 1,
            in_controlled_shutdown: true,
            ..Default::default()
        };
        assert!(matches!(
            MetadataRecord::from_kafka(MetadataRecordBody::RegisterBroker(record)),
            Err(RecordError::Unsupported { .. })
        ));
    }
}
