//! The metadata image: an immutable snapshot of cluster metadata, the result
//! of applying every metadata record up to some log offset. Request handlers
//! read an `Arc<MetadataImage>` and never see a half-applied change.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use bytes::Bytes;
use vltava_acl::AclBinding;
use vltava_protocol::Uuid;
use vltava_quota::{QuotaEntity, QuotaStore};

use crate::records::{Endpoint, MetadataRecord, QuotaValue, NO_LEADER, NO_LEADER_CHANGE};

pub const RESOURCE_TOPIC: i8 = 2;
pub const RESOURCE_BROKER: i8 = 4;

/// Kafka's `ScramMechanism` types, as UserScramCredentialRecord and the
/// SCRAM admin APIs carry them.
pub const SCRAM_SHA_256: i8 = 1;
pub const SCRAM_SHA_512: i8 = 2;

/// The SASL name of a SCRAM mechanism type, `None` for a type Kafka does
/// not define.
pub fn scram_mechanism_name(mechanism: i8) -> Option<&'static str> {
    match mechanism {
        SCRAM_SHA_256 => Some("SCRAM-SHA-256"),
        SCRAM_SHA_512 => Some("SCRAM-SHA-512"),
        _ => None,
    }
}

/// The mechanism type of a SASL SCRAM mechanism name (exact, as Kafka's
/// `ScramMechanism.fromMechanismName`), `None` for any other name.
pub fn scram_mechanism_type(name: &str) -> Option<i8> {
    match name {
        "SCRAM-SHA-256" => Some(SCRAM_SHA_256),
        "SCRAM-SHA-512" => Some(SCRAM_SHA_512),
        _ => None,
    }
}

/// One user's SCRAM credential for one mechanism (RFC 5802): what the
/// server needs to check a client's proof, never the password.
#[derive(Clone, PartialEq, Eq)]
pub struct ScramCredentialImage {
    pub salt: Vec<u8>,
    /// H(ClientKey), ClientKey = HMAC(SaltedPassword, "Client Key").
    pub stored_key: Vec<u8>,
    /// HMAC(SaltedPassword, "Server Key").
    pub server_key: Vec<u8>,
    pub iterations: i32,
}

impl std::fmt::Debug for ScramCredentialImage {
    // The keys stay out of logs, as Kafka's `ScramCredentialValue` hides them.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScramCredentialImage")
            .field("iterations", &self.iterations)
            .finish_non_exhaustive()
    }
}

/// A delegation token as the metadata holds it (DelegationTokenRecord).
/// Principals are `Type:Name`; times ms since the epoch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DelegationTokenImage {
    pub token_id: String,
    pub owner: String,
    pub requester: String,
    pub renewers: Vec<String>,
    pub issue_ms: i64,
    pub max_ms: i64,
    pub expiry_ms: i64,
}

impl DelegationTokenImage {
    /// Whether `principal` owns the token or may renew it (Kafka's
    /// `TokenInformation.ownerOrRenewer`).
    pub fn owner_or_renewer(&self, principal: &str) -> bool {
        self.owner == principal || self.renewers.iter().any(|r| r == principal)
    }

    /// The record that makes this token (DelegationTokenRecord).
    pub fn record(&self) -> MetadataRecord {
        MetadataRecord::DelegationToken {
            token_id: self.token_id.clone(),
            owner: self.owner.clone(),
            requester: self.requester.clone(),
            renewers: self.renewers.clone(),
            issue_ms: self.issue_ms,
            max_ms: self.max_ms,
            expiry_ms: self.expiry_ms,
        }
    }

    /// Whether the token is past its expiry or its maximum lifetime at
    /// `now_ms`.
    pub fn expired_at(&self, now_ms: i64) -> bool {
        self.expiry_ms < now_ms || self.max_ms < now_ms
    }
}

/// ACLs by record id.
pub type AclMap = BTreeMap<[u8; 16], AclBinding>;

/// SCRAM credentials by mechanism type, then user name.
pub type ScramMap = BTreeMap<i8, BTreeMap<String, ScramCredentialImage>>;

/// Kafka's `DirectoryId.UNASSIGNED`: a replica whose log directory the
/// controller has not been told (yet). A replica there counts as online:
/// nothing says its directory failed.
pub const UNASSIGNED_DIRECTORY: Uuid = Uuid::ZERO;

/// Kafka's `DirectoryId.LOST`: a directory that is gone. Never online. A
/// broker whose every directory failed has `[LOST_DIRECTORY]` as its
/// online directories, since an empty list would mean "not known" (all
/// online), and Kafka's record cannot say "none" either (empty there is
/// "no change").
pub const LOST_DIRECTORY: Uuid = Uuid([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);

/// A registered broker: its latest registration and the fencing and
/// controlled-shutdown changes made to it since.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BrokerImage {
    pub id: i32,
    pub endpoints: Vec<Endpoint>,
    pub rack: Option<String>,
    /// The broker process that registered (zero in logs written before
    /// brokers had incarnation ids).
    pub incarnation_id: Uuid,
    /// The epoch of this registration (Kafka: the offset of its
    /// RegisterBrokerRecord; 0 in logs written before epochs).
    pub epoch: i64,
    /// A fenced broker leads nothing and gets no new replicas.
    pub fenced: bool,
    /// Set when the broker asked to shut down; cleared only by a new
    /// registration.
    pub in_controlled_shutdown: bool,
    /// The ids of the broker's log directories that work (KIP-858). Empty
    /// when not known (a registration that named none, as brokers before
    /// JBOD support do): then every directory counts as online, as in
    /// Kafka. A new registration clears it.
    pub log_dirs: Vec<Uuid>,
}

impl BrokerImage {
    /// Whether a replica of this broker in directory `dir` can serve
    /// (Kafka's `hasOnlineDir`): unassigned counts as online, lost never
    /// does, and a broker that named no directories is taken to have all
    /// of them (it would have stopped if none worked).
    pub fn has_online_dir(&self, dir: Uuid) -> bool {
        if dir == UNASSIGNED_DIRECTORY {
            return true;
        }
        if dir == LOST_DIRECTORY {
            return false;
        }
        self.log_dirs.is_empty() || self.log_dirs.contains(&dir)
    }

    /// Unfenced and not shutting down: a broker new replicas may go to
    /// (Kafka's `isActive`).
    pub fn is_active(&self) -> bool {
        !self.fenced && !self.in_controlled_shutdown
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartitionImage {
    /// In preference order: the first is the preferred leader. During a
    /// reassignment (KIP-455) the target replicas first, then the ones
    /// being removed.
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
    /// The replicas a reassignment in progress takes away once it
    /// completes (they stay in `replicas` until then); empty otherwise.
    pub removing_replicas: Vec<i32>,
    /// The replicas a reassignment in progress adds (already in
    /// `replicas`, catching up); empty otherwise.
    pub adding_replicas: Vec<i32>,
    /// The leader, or [`NO_LEADER`] (-1) when the partition is offline.
    pub leader: i32,
    /// Bumped whenever the leader changes (including to no leader).
    pub leader_epoch: i32,
    /// Bumped on every change to the partition.
    pub partition_epoch: i32,
    /// The log directory of each replica, parallel to `replicas`
    /// ([`UNASSIGNED_DIRECTORY`] until its broker says where it put it).
    pub directories: Vec<Uuid>,
    /// KIP-966's eligible leader replicas: replicas out of the ISR that
    /// still hold every record below the high watermark (while the ISR is
    /// under `min.insync.replicas` the high watermark does not move), so
    /// one may lead cleanly when the ISR is empty. Empty when ELR is off.
    pub elr: Vec<i32>,
    /// KIP-966's last known ELR members (kept for recovery when every
    /// eligible replica is gone). Empty when ELR is off.
    pub last_known_elr: Vec<i32>,
}

/// The fields of a PartitionChange, borrowed: each `None` (or a `leader`
/// of [`NO_LEADER_CHANGE`]) keeps the partition's current value.
#[derive(Clone, Copy, Debug, Default)]
pub struct PartitionChangeFields<'a> {
    pub isr: Option<&'a [i32]>,
    pub leader: i32,
    pub replicas: Option<&'a [i32]>,
    pub removing_replicas: Option<&'a [i32]>,
    pub adding_replicas: Option<&'a [i32]>,
    pub elr: Option<&'a [i32]>,
    pub last_known_elr: Option<&'a [i32]>,
}

impl PartitionImage {
    pub fn has_leader(&self) -> bool {
        self.leader != NO_LEADER
    }

    /// Whether a reassignment is in progress (Kafka's `isReassigning`).
    pub fn is_reassigning(&self) -> bool {
        !self.removing_replicas.is_empty() || !self.adding_replicas.is_empty()
    }

    /// The log directory of `replica`'s copy, [`UNASSIGNED_DIRECTORY`]
    /// when it has not been assigned or `replica` is not a replica.
    pub fn directory_of(&self, replica: i32) -> Uuid {
        self.replicas
            .iter()
            .position(|&r| r == replica)
            .and_then(|i| self.directories.get(i).copied())
            .unwrap_or(UNASSIGNED_DIRECTORY)
    }

    /// The state after a PartitionChange with these fields (Kafka's
    /// `PartitionRegistration.merge`): the ISR, the replicas and the
    /// reassignment's lists are replaced when given, the leader unless it
    /// is [`NO_LEADER_CHANGE`]; the partition epoch always goes up by one,
    /// the leader epoch by one when the leader field is set (even to the
    /// same leader, which is how Kafka fences a leader's old epoch without
    /// moving it). A replica that stays keeps its directory and a new one
    /// starts unassigned: a change of replicas moves no data, so where a
    /// staying copy lives is still true, while a new copy is placed by its
    /// broker, which then assigns it.
    pub fn merge(&self, change: PartitionChangeFields<'_>) -> PartitionImage {
        let (leader, leader_epoch) = if change.leader == NO_LEADER_CHANGE {
            (self.leader, self.leader_epoch)
        } else {
            (change.leader, self.leader_epoch + 1)
        };
        let or_current = |new: Option<&[i32]>, current: &Vec<i32>| {
            new.map_or_else(|| current.clone(), <[i32]>::to_vec)
        };
        let directories = match change.replicas {
            None => self.directories.clone(),
            Some(replicas) => replicas.iter().map(|&r| self.directory_of(r)).collect(),
        };
        PartitionImage {
            replicas: or_current(change.replicas, &self.replicas),
            isr: or_current(change.isr, &self.isr),
            removing_replicas: or_current(change.removing_replicas, &self.removing_replicas),
            adding_replicas: or_current(change.adding_replicas, &self.adding_replicas),
            leader,
            leader_epoch,
            partition_epoch: self.partition_epoch + 1,
            directories,
            elr: or_current(change.elr, &self.elr),
            last_known_elr: or_current(change.last_known_elr, &self.last_known_elr),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TopicImage {
    pub name: String,
    pub id: Uuid,
    /// Indexed by partition number; partitions are dense from 0.
    pub partitions: Vec<PartitionImage>,
}

impl TopicImage {
    /// Internal topics (names starting with "__") are flagged in Metadata.
    pub fn is_internal(&self) -> bool {
        self.name == "__consumer_offsets" || self.name == "__transaction_state"
    }
}

/// Why a record could not be applied: the log would be inconsistent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApplyError(pub String);

impl std::fmt::Display for ApplyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "cannot apply metadata record: {}", self.0)
    }
}

impl std::error::Error for ApplyError {}

/// Equal images hold the same metadata *and* the same `offset`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MetadataImage {
    /// Offset of the last record applied, -1 for the empty image.
    pub offset: i64,
    pub brokers: BTreeMap<i32, BrokerImage>,
    topics: HashMap<String, Arc<TopicImage>>,
    topic_names: HashMap<Uuid, String>,
    /// Config overrides by (resource type, resource name).
    configs: HashMap<(i8, String), Arc<BTreeMap<String, String>>>,
    /// The first producer id not yet handed out (ProducerIds records).
    pub next_producer_id: i64,
    /// ACLs by id (AccessControlEntry records). Behind an `Arc` so that
    /// images share it until an ACL changes, and readers can tell a change
    /// by the pointer.
    acls: Arc<AclMap>,
    /// SCRAM credentials (UserScramCredential records).
    scram: Arc<ScramMap>,
    /// Client quotas (ClientQuota records), shared like `acls`.
    quotas: Arc<ClientQuotaImage>,
    /// Delegation tokens by id (DelegationToken records).
    tokens: Arc<BTreeMap<String, DelegationTokenImage>>,
    /// Finalized feature levels (FeatureLevel records), none at level 0.
    features: BTreeMap<String, i16>,
}

/// The client quotas of the image: `vltava_quota`'s store, which also
/// resolves which quota applies to a connection.
#[derive(Clone, Debug, Default)]
pub struct ClientQuotaImage(QuotaStore);

impl ClientQuotaImage {
    pub fn store(&self) -> &QuotaStore {
        &self.0
    }
}

// Images are compared (replay and snapshot tests); quota values are
// doubles, compared by their bits as Java's `Double.equals` does.
impl PartialEq for ClientQuotaImage {
    fn eq(&self, other: &Self) -> bool {
        fn bits(
            store: &QuotaStore,
        ) -> impl Iterator<Item = (&QuotaEntity, Vec<(&String, u64)>)> + '_ {
            store
                .entities()
                .map(|(e, v)| (e, v.iter().map(|(k, x)| (k, x.to_bits())).collect()))
        }
        bits(&self.0).eq(bits(&other.0))
    }
}

impl Eq for ClientQuotaImage {}

impl MetadataImage {
    pub fn empty() -> Self {
        MetadataImage {
            offset: -1,
            ..Default::default()
        }
    }

    pub fn topic(&self, name: &str) -> Option<&Arc<TopicImage>> {
        self.topics.get(name)
    }

    pub fn topic_by_id(&self, id: &Uuid) -> Option<&Arc<TopicImage>> {
        self.topic_names.get(id).and_then(|n| self.topics.get(n))
    }

    /// Every topic, in no particular order (no sort: for walks over every
    /// topic that do not show the order, on images of many topics).
    pub fn topics_unordered(&self) -> impl Iterator<Item = &Arc<TopicImage>> {
        self.topics.values()
    }

    /// Every topic, sorted by name.
    pub fn topics(&self) -> Vec<&Arc<TopicImage>> {
        let mut topics: Vec<_> = self.topics.values().collect();
        topics.sort_by(|a, b| a.name.cmp(&b.name));
        topics
    }

    /// The ids of the unfenced brokers, sorted.
    pub fn unfenced_brokers(&self) -> Vec<i32> {
        self.brokers
            .values()
            .filter(|b| !b.fenced)
            .map(|b| b.id)
            .collect()
    }

    /// Whether `replica`'s copy of `partition` is in a directory that
    /// works (see [`BrokerImage::has_online_dir`]); a broker this image
    /// does not know has told nothing about its directories, so its copy
    /// counts as online (whether it may lead is decided elsewhere).
    pub fn replica_dir_online(&self, partition: &PartitionImage, replica: i32) -> bool {
        let dir = partition.directory_of(replica);
        match self.brokers.get(&replica) {
            Some(b) => b.has_online_dir(dir),
            None => dir != LOST_DIRECTORY,
        }
    }

    /// The brokers that are unfenced and not in controlled shutdown, sorted
    /// by id: where the controller places new replicas.
    pub fn active_brokers(&self) -> Vec<&BrokerImage> {
        self.brokers.values().filter(|b| b.is_active()).collect()
    }

    pub fn topic_count(&self) -> usize {
        self.topics.len()
    }

    pub fn partition(&self, topic: &str, partition: i32) -> Option<&PartitionImage> {
        usize::try_from(partition)
            .ok()
            .and_then(|p| self.topics.get(topic)?.partitions.get(p))
    }

    /// The config overrides of a topic (empty when it has none).
    pub fn topic_configs(&self, topic: &str) -> Arc<BTreeMap<String, String>> {
        self.configs
            .get(&(RESOURCE_TOPIC, topic.to_string()))
            .cloned()
            .unwrap_or_default()
    }

    /// Dynamic broker configs; `broker` is the id as a string, or "" for the
    /// cluster-wide default.
    pub fn broker_configs(&self, broker: &str) -> Arc<BTreeMap<String, String>> {
        self.configs
            .get(&(RESOURCE_BROKER, broker.to_string()))
            .cloned()
            .unwrap_or_default()
    }

    /// Every ACL with its id, in id order.
    pub fn acls(&self) -> impl Iterator<Item = (&[u8; 16], &AclBinding)> {
        self.acls.iter()
    }

    /// The ACLs as one shared map: equal pointers (`Arc::ptr_eq`) between
    /// two images mean no ACL changed between them.
    pub fn acl_map(&self) -> &Arc<AclMap> {
        &self.acls
    }

    /// The SCRAM credential of `user` for a mechanism type (1
    /// SCRAM-SHA-256, 2 SCRAM-SHA-512).
    pub fn scram_credential(&self, mechanism: i8, user: &str) -> Option<&ScramCredentialImage> {
        self.scram.get(&mechanism)?.get(user)
    }

    /// Every SCRAM credential as (mechanism type, user, credential), by
    /// mechanism then user.
    pub fn scram_credentials(&self) -> impl Iterator<Item = (i8, &str, &ScramCredentialImage)> {
        self.scram
            .iter()
            .flat_map(|(m, users)| users.iter().map(move |(u, c)| (*m, u.as_str(), c)))
    }

    /// The delegation token of `token_id`.
    pub fn delegation_token(&self, token_id: &str) -> Option<&DelegationTokenImage> {
        self.tokens.get(token_id)
    }

    /// Every delegation token, by id.
    pub fn delegation_tokens(&self) -> impl Iterator<Item = &DelegationTokenImage> {
        self.tokens.values()
    }

    /// The client quotas as one shared value: equal pointers between two
    /// images mean no quota changed between them.
    pub fn client_quotas(&self) -> &Arc<ClientQuotaImage> {
        &self.quotas
    }

    /// The finalized features and their levels (KIP-584); a feature not
    /// listed is at level 0.
    pub fn finalized_features(&self) -> &BTreeMap<String, i16> {
        &self.features
    }

    /// The finalized level of `feature` (0 when it is not finalized).
    pub fn feature_level(&self, feature: &str) -> i16 {
        self.features.get(feature).copied().unwrap_or(0)
    }

    /// Applies one record at `offset`, returning the next image.
    pub fn apply(&self, offset: i64, record: &MetadataRecord) -> Result<MetadataImage, ApplyError> {
        let mut next = self.clone();
        next.apply_in_place(record)?;
        next.offset = offset;
        Ok(next)
    }

    /// Applies records in order (used on replay and for one controller batch).
    pub fn apply_all<'a>(
        &self,
        records: impl IntoIterator<Item = (i64, &'a MetadataRecord)>,
    ) -> Result<MetadataImage, ApplyError> {
        let mut next = self.clone();
        for (offset, record) in records {
            next.apply_in_place(record)?;
            next.offset = offset;
        }
        Ok(next)
    }

    /// The records that rebuild this image from the empty one (a metadata
    /// snapshot's content, KIP-630): replaying them with
    /// [`MetadataImage::from_snapshot_records`] gives back an equal image.
    ///
    /// The order is brokers, topics (each followed by its partitions in
    /// partition order, which replay requires: numbers are dense), configs,
    /// producer ids, ACLs, SCRAM credentials; sorted throughout, so equal
    /// images give equal records.
    /// A broker in controlled shutdown is written as its registration plus
    /// a `BrokerRegistrationChange`, since our `RegisterBroker` (like the
    /// RegisterBrokerRecord versions we write it in) does not carry that flag;
    /// its online log directories, when known, follow as `BrokerLogDirs`.
    /// A partition with any replica's directory assigned is followed by an
    /// `AssignDirectories`, since our `Partition` writes them unassigned.
    pub fn to_snapshot_records(&self) -> Vec<MetadataRecord> {
        let mut out = Vec::new();
        // Features first, as Kafka's snapshots start with metadata.version.
        for (name, level) in &self.features {
            out.push(MetadataRecord::FeatureLevel {
                name: name.clone(),
                level: *level,
            });
        }
        for b in self.brokers.values() {
            out.push(MetadataRecord::RegisterBroker {
                broker_id: b.id,
                incarnation_id: b.incarnation_id,
                broker_epoch: b.epoch,
                endpoints: b.endpoints.clone(),
                rack: b.rack.clone(),
                fenced: b.fenced,
            });
            if b.in_controlled_shutdown {
                out.push(MetadataRecord::BrokerRegistrationChange {
                    broker_id: b.id,
                    broker_epoch: b.epoch,
                    fenced: None,
                    in_controlled_shutdown: true,
                });
            }
            if !b.log_dirs.is_empty() {
                out.push(MetadataRecord::BrokerLogDirs {
                    broker_id: b.id,
                    broker_epoch: b.epoch,
                    log_dirs: b.log_dirs.clone(),
                });
            }
        }
        for topic in self.topics() {
            out.push(MetadataRecord::Topic {
                name: topic.name.clone(),
                topic_id: topic.id,
            });
            for (p, state) in topic.partitions.iter().enumerate() {
                out.push(MetadataRecord::Partition {
                    topic_id: topic.id,
                    partition: p as i32,
                    replicas: state.replicas.clone(),
                    isr: state.isr.clone(),
                    removing_replicas: state.removing_replicas.clone(),
                    adding_replicas: state.adding_replicas.clone(),
                    leader: state.leader,
                    leader_epoch: state.leader_epoch,
                    partition_epoch: state.partition_epoch,
                    elr: state.elr.clone(),
                    last_known_elr: state.last_known_elr.clone(),
                });
                if state.directories.iter().any(|d| *d != UNASSIGNED_DIRECTORY) {
                    out.push(MetadataRecord::AssignDirectories {
                        topic_id: topic.id,
                        partition: p as i32,
                        directories: state.directories.clone(),
                    });
                }
            }
        }
        let mut resources: Vec<_> = self.configs.iter().collect();
        resources.sort_by(|a, b| a.0.cmp(b.0));
        for ((resource_type, resource_name), configs) in resources {
            for (name, value) in configs.iter() {
                out.push(MetadataRecord::Config {
                    resource_type: *resource_type,
                    resource_name: resource_name.clone(),
                    name: name.clone(),
                    value: Some(value.clone()),
                });
            }
        }
        // The empty image's 0 needs no record (and replay refuses none).
        if self.next_producer_id != 0 {
            // Kafka's snapshot writes the block's owner as -1 too: only the
            // next id is state; who took the last block is history.
            out.push(MetadataRecord::ProducerIds {
                broker_id: -1,
                next_producer_id: self.next_producer_id,
            });
        }
        for (id, binding) in self.acls.iter() {
            out.push(MetadataRecord::AccessControlEntry {
                id: Uuid(*id),
                binding: binding.clone(),
            });
        }
        for (mechanism, user, c) in self.scram_credentials() {
            out.push(MetadataRecord::UserScramCredential {
                name: user.to_string(),
                mechanism,
                salt: Bytes::copy_from_slice(&c.salt),
                stored_key: Bytes::copy_from_slice(&c.stored_key),
                server_key: Bytes::copy_from_slice(&c.server_key),
                iterations: c.iterations,
            });
        }
        out.extend(self.tokens.values().map(DelegationTokenImage::record));
        for (entity, values) in self.quotas.store().entities() {
            let parts: Vec<(String, Option<String>)> = entity
                .parts()
                .into_iter()
                .map(|(t, n)| (t.to_string(), n.map(str::to_string)))
                .collect();
            for (key, value) in values {
                out.push(MetadataRecord::ClientQuota {
                    entity: parts.clone(),
                    key: key.clone(),
                    value: Some(QuotaValue(*value)),
                });
            }
        }
        out
    }

    /// The image a snapshot holds: its records replayed on the empty image,
    /// at `end_offset - 1`, the last offset the snapshot covers (its records
    /// have no offsets of their own in the log).
    pub fn from_snapshot_records(
        records: &[MetadataRecord],
        end_offset: i64,
    ) -> Result<MetadataImage, ApplyError> {
        let mut image = MetadataImage::empty();
        for record in records {
            image.apply_in_place(record)?;
        }
        image.offset = end_offset - 1;
        Ok(image)
    }

    /// The registration a broker record refers to. A record naming an
    /// unknown broker or another epoch than the registered one is refused,
    /// as Kafka's `ClusterControlManager` refuses to replay it ("no broker
    /// registration found for that id" / "with that epoch found"): the
    /// controller only writes such records against the registration in its
    /// image, so one that does not match means the log is inconsistent, and
    /// ignoring it would let a stale change hide that.
    fn registered_broker(
        &mut self,
        record: &MetadataRecord,
        id: i32,
        epoch: i64,
    ) -> Result<&mut BrokerImage, ApplyError> {
        match self.brokers.get_mut(&id) {
            None => Err(ApplyError(format!(
                "{record:?}: no broker registration found for that id"
            ))),
            Some(b) if b.epoch != epoch => Err(ApplyError(format!(
                "{record:?}: the registration of broker {id} has epoch {}",
                b.epoch
            ))),
            Some(b) => Ok(b),
        }
    }

    /// The partition a change names; a change to a topic or partition that
    /// does not exist means the log is inconsistent.
    fn partition_mut(
        &mut self,
        topic_id: Uuid,
        partition: i32,
    ) -> Result<&mut PartitionImage, ApplyError> {
        let name = self.topic_names.get(&topic_id).ok_or_else(|| {
            ApplyError(format!(
                "change to a partition of unknown topic id {topic_id}"
            ))
        })?;
        let topic = Arc::make_mut(self.topics.get_mut(name).expect("name index is consistent"));
        let topic_name = &topic.name;
        usize::try_from(partition)
            .ok()
            .and_then(|p| topic.partitions.get_mut(p))
            .ok_or_else(|| {
                ApplyError(format!(
                    "change to partition {partition} of {topic_name}, which has no such partition",
                ))
            })
    }

    fn apply_in_place(&mut self, record: &MetadataRecord) -> Result<(), ApplyError> {
        match record {
            MetadataRecord::RegisterBroker {
                broker_id,
                incarnation_id,
                broker_epoch,
                endpoints,
                rack,
                fenced,
            } => {
                self.brokers.insert(
                    *broker_id,
                    BrokerImage {
                        id: *broker_id,
                        endpoints: endpoints.clone(),
                        rack: rack.clone(),
                        incarnation_id: *incarnation_id,
                        epoch: *broker_epoch,
                        fenced: *fenced,
                        in_controlled_shutdown: false,
                        // A new process: what the old one said about its
                        // directories no longer holds; its own report
                        // follows as `BrokerLogDirs`.
                        log_dirs: Vec::new(),
                    },
                );
            }
            // Only the registration the report was made for: a report about
            // another (older) registration's directories says nothing about
            // the process registered now.
            MetadataRecord::BrokerLogDirs {
                broker_id,
                broker_epoch,
                log_dirs,
            } => {
                if let Some(b) = self
                    .brokers
                    .get_mut(broker_id)
                    .filter(|b| b.epoch == *broker_epoch)
                {
                    b.log_dirs = log_dirs.clone();
                }
            }
            MetadataRecord::UnregisterBroker {
                broker_id,
                broker_epoch,
            } => {
                self.registered_broker(record, *broker_id, *broker_epoch)?;
                self.brokers.remove(broker_id);
            }
            MetadataRecord::FenceBroker { id, epoch } => {
                self.registered_broker(record, *id, *epoch)?.fenced = true;
            }
            MetadataRecord::UnfenceBroker { id, epoch } => {
                self.registered_broker(record, *id, *epoch)?.fenced = false;
            }
            MetadataRecord::BrokerRegistrationChange {
                broker_id,
                broker_epoch,
                fenced,
                in_controlled_shutdown,
            } => {
                let broker = self.registered_broker(record, *broker_id, *broker_epoch)?;
                if let Some(fenced) = fenced {
                    broker.fenced = *fenced;
                }
                if *in_controlled_shutdown {
                    broker.in_controlled_shutdown = true;
                }
            }
            MetadataRecord::Topic { name, topic_id } => {
                if self.topics.contains_key(name) || self.topic_names.contains_key(topic_id) {
                    return Err(ApplyError(format!(
                        "topic {name} ({topic_id}) already exists"
                    )));
                }
                self.topic_names.insert(*topic_id, name.clone());
                self.topics.insert(
                    name.clone(),
                    Arc::new(TopicImage {
                        name: name.clone(),
                        id: *topic_id,
                        partitions: Vec::new(),
                    }),
                );
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
                let name = self.topic_names.get(topic_id).ok_or_else(|| {
                    ApplyError(format!("partition of unknown topic id {topic_id}"))
                })?;
                let topic =
                    Arc::make_mut(self.topics.get_mut(name).expect("name index is consistent"));
                let state = PartitionImage {
                    replicas: replicas.clone(),
                    isr: isr.clone(),
                    removing_replicas: removing_replicas.clone(),
                    adding_replicas: adding_replicas.clone(),
                    leader: *leader,
                    leader_epoch: *leader_epoch,
                    partition_epoch: *partition_epoch,
                    directories: vec![UNASSIGNED_DIRECTORY; replicas.len()],
                    elr: elr.clone(),
                    last_known_elr: last_known_elr.clone(),
                };
                let index = usize::try_from(*partition)
                    .map_err(|_| ApplyError(format!("negative partition {partition}")))?;
                match index.cmp(&topic.partitions.len()) {
                    std::cmp::Ordering::Less => topic.partitions[index] = state,
                    std::cmp::Ordering::Equal => topic.partitions.push(state),
                    std::cmp::Ordering::Greater => {
                        return Err(ApplyError(format!(
                            "partition {partition} of {} skips a number",
                            topic.name
                        )))
                    }
                }
            }
            MetadataRecord::PartitionChange {
                topic_id,
                partition,
                isr,
                leader,
                replicas,
                removing_replicas,
                adding_replicas,
                leader_recovery_state: _,
                elr,
                last_known_elr,
            } => {
                let state = self.partition_mut(*topic_id, *partition)?;
                *state = state.merge(PartitionChangeFields {
                    isr: isr.as_deref(),
                    leader: *leader,
                    replicas: replicas.as_deref(),
                    removing_replicas: removing_replicas.as_deref(),
                    adding_replicas: adding_replicas.as_deref(),
                    elr: elr.as_deref(),
                    last_known_elr: last_known_elr.as_deref(),
                });
            }
            // Unlike Kafka's merge of a PartitionChangeRecord, no epoch moves:
            // where a copy lives changes neither leadership nor the ISR, so a
            // leader's AlterPartition in flight stays valid, and a snapshot
            // can write the directories after the partition's record. One
            // whose length is not the replica count was planned against
            // another replica list (a reassignment since) and is ignored.
            MetadataRecord::AssignDirectories {
                topic_id,
                partition,
                directories,
            } => {
                let state = self.partition_mut(*topic_id, *partition)?;
                if directories.len() == state.replicas.len() {
                    state.directories = directories.clone();
                }
            }
            MetadataRecord::Config {
                resource_type,
                resource_name,
                name,
                value,
            } => {
                let key = (*resource_type, resource_name.clone());
                let entry = self.configs.entry(key.clone()).or_default();
                let map = Arc::make_mut(entry);
                match value {
                    Some(v) => {
                        map.insert(name.clone(), v.clone());
                    }
                    None => {
                        map.remove(name);
                    }
                }
                if map.is_empty() {
                    self.configs.remove(&key);
                }
            }
            MetadataRecord::RemoveTopic { topic_id } => {
                let name = self
                    .topic_names
                    .remove(topic_id)
                    .ok_or_else(|| ApplyError(format!("removing unknown topic id {topic_id}")))?;
                self.topics.remove(&name);
                self.configs.remove(&(RESOURCE_TOPIC, name));
            }
            MetadataRecord::ProducerIds {
                next_producer_id, ..
            } => {
                if *next_producer_id < self.next_producer_id {
                    return Err(ApplyError(format!(
                        "producer ids would go back from {} to {next_producer_id}",
                        self.next_producer_id
                    )));
                }
                self.next_producer_id = *next_producer_id;
            }
            // As Kafka's AclControlManager and ScramControlManager replay
            // them: an ACL id is never reused, and only what exists is
            // removed; anything else means the log is inconsistent.
            MetadataRecord::AccessControlEntry { id, binding } => {
                if self.acls.contains_key(&id.0) {
                    return Err(ApplyError(format!("an ACL with id {id} already exists")));
                }
                Arc::make_mut(&mut self.acls).insert(id.0, binding.clone());
            }
            MetadataRecord::RemoveAccessControlEntry { id } => {
                if !self.acls.contains_key(&id.0) {
                    return Err(ApplyError(format!("removing unknown ACL id {id}")));
                }
                Arc::make_mut(&mut self.acls).remove(&id.0);
            }
            MetadataRecord::UserScramCredential {
                name,
                mechanism,
                salt,
                stored_key,
                server_key,
                iterations,
            } => {
                Arc::make_mut(&mut self.scram)
                    .entry(*mechanism)
                    .or_default()
                    .insert(
                        name.clone(),
                        ScramCredentialImage {
                            salt: salt.to_vec(),
                            stored_key: stored_key.to_vec(),
                            server_key: server_key.to_vec(),
                            iterations: *iterations,
                        },
                    );
            }
            MetadataRecord::RemoveUserScramCredential { name, mechanism } => {
                if self.scram_credential(*mechanism, name).is_none() {
                    return Err(ApplyError(format!(
                        "removing the SCRAM credential of {name} for mechanism {mechanism}, which does not exist"
                    )));
                }
                let scram = Arc::make_mut(&mut self.scram);
                if let Some(users) = scram.get_mut(mechanism) {
                    users.remove(name);
                    if users.is_empty() {
                        scram.remove(mechanism);
                    }
                }
            }
            // A token record carries the whole token: a renewal replaces
            // it. Removing a token that does not exist means the log is
            // inconsistent.
            MetadataRecord::DelegationToken {
                token_id,
                owner,
                requester,
                renewers,
                issue_ms,
                max_ms,
                expiry_ms,
            } => {
                if token_id.is_empty() {
                    return Err(ApplyError("a delegation token without an id".into()));
                }
                Arc::make_mut(&mut self.tokens).insert(
                    token_id.clone(),
                    DelegationTokenImage {
                        token_id: token_id.clone(),
                        owner: owner.clone(),
                        requester: requester.clone(),
                        renewers: renewers.clone(),
                        issue_ms: *issue_ms,
                        max_ms: *max_ms,
                        expiry_ms: *expiry_ms,
                    },
                );
            }
            MetadataRecord::RemoveDelegationToken { token_id } => {
                if Arc::make_mut(&mut self.tokens).remove(token_id).is_none() {
                    return Err(ApplyError(format!(
                        "removing the delegation token {token_id}, which does not exist"
                    )));
                }
            }
            // As Kafka's ClientQuotaControlManager replays it: the entity
            // must be one AlterClientQuotas could have made; removing a key
            // that is not set changes nothing.
            // As Kafka's FeatureControlManager replays it: level 0 takes the
            // feature out; levels are checked by the controller that wrote
            // the record, not here.
            MetadataRecord::FeatureLevel { name, level } => {
                if *level < 0 {
                    return Err(ApplyError(format!(
                        "feature {name} at the negative level {level}"
                    )));
                }
                if *level == 0 {
                    self.features.remove(name);
                } else {
                    self.features.insert(name.clone(), *level);
                }
            }
            MetadataRecord::ClientQuota { entity, key, value } => {
                let parts: Vec<(&str, Option<&str>)> = entity
                    .iter()
                    .map(|(t, n)| (t.as_str(), n.as_deref()))
                    .collect();
                let entity = vltava_quota::validate_entity(&parts).map_err(|e| {
                    ApplyError(format!("a client quota record's entity: {}", e.message))
                })?;
                Arc::make_mut(&mut self.quotas)
                    .0
                    .set(&entity, key, value.map(|v| v.0));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn partition(topic_id: Uuid, p: i32) -> MetadataRecord {
        MetadataRecord::Partition {
            topic_id,
            partition: p,
            replicas: vec![1],
            isr: vec![1],
            removing_replicas: vec![],
            adding_replicas: vec![],
            leader: 1,
            leader_epoch: 0,
            partition_epoch: 0,
            elr: Vec::new(),
            last_known_elr: Vec::new(),
        }
    }

    #[test]
    fn topics_partitions_configs_and_removal() {
        let id = Uuid([1; 16]);
        let records = [
            MetadataRecord::Topic {
                name: "a".into(),
                topic_id: id,
            },
            partition(id, 0),
            partition(id, 1),
            MetadataRecord::Config {
                resource_type: RESOURCE_TOPIC,
                resource_name: "a".into(),
                name: "retention.ms".into(),
                value: Some("5".into()),
            },
        ];
        let image = MetadataImage::empty()
            .apply_all(records.iter().enumerate().map(|(i, r)| (i as i64, r)))
            .unwrap();
        assert_eq!(image.offset, 3);
        assert_eq!(image.topic("a").unwrap().partitions.len(), 2);
        assert_eq!(image.topic_by_id(&id).unwrap().name, "a");
        assert_eq!(
            image
                .topic_configs("a")
                .get("retention.ms")
                .map(String::as_str),
            Some("5")
        );
        let after = image
            .apply(4, &MetadataRecord::RemoveTopic { topic_id: id })
            .unwrap();
        assert!(after.topic("a").is_none());
        assert!(after.topic_configs("a").is_empty());
        // The earlier image is untouched.
        assert!(image.topic("a").is_some());
    }

    fn partition_change(
        topic_id: Uuid,
        p: i32,
        isr: Option<Vec<i32>>,
        leader: i32,
    ) -> MetadataRecord {
        MetadataRecord::PartitionChange {
            topic_id,
            partition: p,
            isr,
            leader,
            replicas: None,
            removing_replicas: None,
            adding_replicas: None,
            leader_recovery_state: crate::records::LEADER_RECOVERY_NO_CHANGE,
            elr: None,
            last_known_elr: None,
        }
    }

    /// Kafka's `PartitionRegistration.merge`: the partition epoch goes up
    /// on every change, the leader epoch only when the leader field is set.
    #[test]
    fn partition_changes_merge_into_the_partition() {
        let id = Uuid([1; 16]);
        let image = MetadataImage::empty()
            .apply_all([
                (
                    0,
                    &MetadataRecord::Topic {
                        name: "a".into(),
                        topic_id: id,
                    },
                ),
                (
                    1,
                    &MetadataRecord::Partition {
                        topic_id: id,
                        partition: 0,
                        replicas: vec![1, 2, 3],
                        isr: vec![1, 2, 3],
                        removing_replicas: vec![],
                        adding_replicas: vec![],
                        leader: 1,
                        leader_epoch: 4,
                        partition_epoch: 9,
                        elr: Vec::new(),
                        last_known_elr: Vec::new(),
                    },
                ),
            ])
            .unwrap();
        let state = |image: &MetadataImage| image.partition("a", 0).unwrap().clone();

        // An ISR shrink: partition epoch only.
        let image = image
            .apply(
                2,
                &partition_change(id, 0, Some(vec![1, 3]), NO_LEADER_CHANGE),
            )
            .unwrap();
        let p = state(&image);
        assert_eq!((p.isr.as_slice(), p.leader), (&[1, 3][..], 1));
        assert_eq!((p.leader_epoch, p.partition_epoch), (4, 10));

        // A new leader: both epochs.
        let image = image.apply(3, &partition_change(id, 0, None, 3)).unwrap();
        let p = state(&image);
        assert_eq!((p.isr.as_slice(), p.leader), (&[1, 3][..], 3));
        assert_eq!((p.leader_epoch, p.partition_epoch), (5, 11));

        // No leader is a leader change too; so is naming the same leader.
        let image = image
            .apply(4, &partition_change(id, 0, None, NO_LEADER))
            .unwrap();
        let p = state(&image);
        assert!(!p.has_leader());
        assert_eq!((p.leader_epoch, p.partition_epoch), (6, 12));
        let image = image
            .apply(5, &partition_change(id, 0, None, NO_LEADER))
            .unwrap();
        assert_eq!(state(&image).leader_epoch, 7);

        // Even a change that changes nothing bumps the partition epoch.
        let image = image
            .apply(6, &partition_change(id, 0, None, NO_LEADER_CHANGE))
            .unwrap();
        assert_eq!(state(&image).partition_epoch, 14);

        // New replicas replace the old ones.
        let image = image
            .apply(
                7,
                &MetadataRecord::PartitionChange {
                    topic_id: id,
                    partition: 0,
                    isr: Some(vec![2]),
                    leader: 2,
                    replicas: Some(vec![2, 1]),
                    removing_replicas: Some(vec![]),
                    adding_replicas: Some(vec![]),
                    leader_recovery_state: crate::records::LEADER_RECOVERING,
                    elr: None,
                    last_known_elr: None,
                },
            )
            .unwrap();
        assert_eq!(
            state(&image),
            PartitionImage {
                replicas: vec![2, 1],
                isr: vec![2],
                removing_replicas: vec![],
                adding_replicas: vec![],
                leader: 2,
                leader_epoch: 8,
                partition_epoch: 15,
                directories: vec![UNASSIGNED_DIRECTORY; 2],
                elr: vec![],
                last_known_elr: vec![],
            }
        );
        assert_eq!(image.offset, 7);

        // A reassignment's lists are kept until a change replaces them; a
        // change that leaves them out keeps them.
        let reassign = |replicas: Vec<i32>, removing: Vec<i32>, adding: Vec<i32>| {
            MetadataRecord::PartitionChange {
                topic_id: id,
                partition: 0,
                isr: None,
                leader: NO_LEADER_CHANGE,
                replicas: Some(replicas),
                removing_replicas: Some(removing),
                adding_replicas: Some(adding),
                leader_recovery_state: crate::records::LEADER_RECOVERY_NO_CHANGE,
                elr: None,
                last_known_elr: None,
            }
        };
        let image = image
            .apply(8, &reassign(vec![3, 2, 1], vec![1], vec![3]))
            .unwrap();
        let p = state(&image);
        assert!(p.is_reassigning());
        assert_eq!(
            (p.replicas.as_slice(), p.removing_replicas.as_slice()),
            (&[3, 2, 1][..], &[1][..])
        );
        assert_eq!(
            (p.adding_replicas.as_slice(), p.leader_epoch),
            (&[3][..], 8)
        );
        let image = image
            .apply(
                9,
                &partition_change(id, 0, Some(vec![2, 3]), NO_LEADER_CHANGE),
            )
            .unwrap();
        assert!(state(&image).is_reassigning());
        let image = image
            .apply(10, &reassign(vec![3, 2], vec![], vec![]))
            .unwrap();
        let p = state(&image);
        assert!(!p.is_reassigning());
        assert_eq!((p.replicas, p.isr), (vec![3, 2], vec![2, 3]));
        // Snapshots carry a reassignment in progress.
        let image = image
            .apply(11, &reassign(vec![1, 3, 2], vec![2], vec![1]))
            .unwrap();
        let rebuilt =
            MetadataImage::from_snapshot_records(&image.to_snapshot_records(), 12).unwrap();
        assert_eq!(rebuilt, image);

        // Unknown topics and partitions are refused.
        for bad in [
            partition_change(Uuid([9; 16]), 0, None, 1),
            partition_change(id, 1, None, 1),
            partition_change(id, -1, None, 1),
        ] {
            assert!(image.apply(12, &bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn inconsistent_records_are_rejected() {
        let id = Uuid([1; 16]);
        let image = MetadataImage::empty()
            .apply(
                0,
                &MetadataRecord::Topic {
                    name: "a".into(),
                    topic_id: id,
                },
            )
            .unwrap();
        assert!(image
            .apply(
                1,
                &MetadataRecord::Topic {
                    name: "a".into(),
                    topic_id: Uuid([2; 16])
                }
            )
            .is_err());
        assert!(
            image.apply(1, &partition(id, 1)).is_err(),
            "partition numbers are dense"
        );
        assert!(image.apply(1, &partition(Uuid([9; 16]), 0)).is_err());
    }

    fn register(id: i32, epoch: i64, fenced: bool) -> MetadataRecord {
        MetadataRecord::RegisterBroker {
            broker_id: id,
            incarnation_id: Uuid([id as u8; 16]),
            broker_epoch: epoch,
            endpoints: vec![],
            rack: None,
            fenced,
        }
    }

    fn change(id: i32, epoch: i64, fenced: Option<bool>, shutdown: bool) -> MetadataRecord {
        MetadataRecord::BrokerRegistrationChange {
            broker_id: id,
            broker_epoch: epoch,
            fenced,
            in_controlled_shutdown: shutdown,
        }
    }

    fn replay(records: &[MetadataRecord]) -> Result<MetadataImage, ApplyError> {
        MetadataImage::empty().apply_all(records.iter().enumerate().map(|(i, r)| (i as i64, r)))
    }

    #[test]
    fn broker_registration_fencing_and_removal() {
        let image = replay(&[
            register(1, 0, true),
            register(2, 1, true),
            register(3, 2, false),
        ])
        .unwrap();
        assert_eq!(image.unfenced_brokers(), vec![3]);
        let b1 = &image.brokers[&1];
        assert_eq!(
            (b1.epoch, b1.incarnation_id, b1.fenced),
            (0, Uuid([1; 16]), true)
        );

        let image = image
            .apply_all([
                (3, &MetadataRecord::UnfenceBroker { id: 1, epoch: 0 }),
                (4, &change(2, 1, Some(false), false)),
            ])
            .unwrap();
        assert_eq!(image.unfenced_brokers(), vec![1, 2, 3]);
        assert_eq!(image.active_brokers().len(), 3);

        // Controlled shutdown: still unfenced, no longer active.
        let image = image.apply(5, &change(2, 1, None, true)).unwrap();
        assert!(image.brokers[&2].in_controlled_shutdown);
        assert_eq!(image.unfenced_brokers(), vec![1, 2, 3]);
        let active: Vec<i32> = image.active_brokers().iter().map(|b| b.id).collect();
        assert_eq!(active, vec![1, 3]);
        // A change that only fences keeps the controlled shutdown.
        let image = image.apply(6, &change(2, 1, Some(true), false)).unwrap();
        assert!(image.brokers[&2].fenced && image.brokers[&2].in_controlled_shutdown);
        // A new registration replaces the old one whole.
        let image = image.apply(7, &register(2, 7, true)).unwrap();
        assert_eq!(image.brokers[&2].epoch, 7);
        assert!(!image.brokers[&2].in_controlled_shutdown);

        let image = image
            .apply_all([
                (8, &MetadataRecord::FenceBroker { id: 1, epoch: 0 }),
                (
                    9,
                    &MetadataRecord::UnregisterBroker {
                        broker_id: 3,
                        broker_epoch: 2,
                    },
                ),
            ])
            .unwrap();
        assert_eq!(image.unfenced_brokers(), Vec::<i32>::new());
        assert_eq!(
            image.brokers.keys().copied().collect::<Vec<_>>(),
            vec![1, 2]
        );
        assert_eq!(image.offset, 9);
    }

    #[test]
    fn broker_changes_for_unknown_brokers_or_other_epochs_are_refused() {
        let image = replay(&[register(1, 5, true)]).unwrap();
        for bad in [
            MetadataRecord::FenceBroker { id: 2, epoch: 5 },
            MetadataRecord::UnfenceBroker { id: 1, epoch: 4 },
            change(1, 6, Some(false), false),
            change(9, 5, None, true),
            MetadataRecord::UnregisterBroker {
                broker_id: 1,
                broker_epoch: 0,
            },
        ] {
            assert!(image.apply(1, &bad).is_err(), "{bad:?}");
        }
        // After re-registration the old epoch is stale.
        let image = image.apply(1, &register(1, 1, true)).unwrap();
        assert!(image.apply(2, &change(1, 5, Some(false), false)).is_err());
        assert!(image.apply(2, &change(1, 1, Some(false), false)).is_ok());
    }

    fn assign(topic_id: Uuid, p: i32, directories: &[Uuid]) -> MetadataRecord {
        MetadataRecord::AssignDirectories {
            topic_id,
            partition: p,
            directories: directories.to_vec(),
        }
    }

    fn log_dirs(id: i32, epoch: i64, dirs: &[Uuid]) -> MetadataRecord {
        MetadataRecord::BrokerLogDirs {
            broker_id: id,
            broker_epoch: epoch,
            log_dirs: dirs.to_vec(),
        }
    }

    const D1: Uuid = Uuid([0xd1; 16]);
    const D2: Uuid = Uuid([0xd2; 16]);
    const D3: Uuid = Uuid([0xd3; 16]);

    /// Directories stay parallel to the replicas: a copy that stays keeps
    /// its directory, a new one starts unassigned, and an assignment meant
    /// for another replica list is ignored.
    #[test]
    fn directories_follow_the_replicas() {
        let id = Uuid([1; 16]);
        let image = replay(&[
            MetadataRecord::Topic {
                name: "a".into(),
                topic_id: id,
            },
            MetadataRecord::Partition {
                topic_id: id,
                partition: 0,
                replicas: vec![1, 2, 3],
                isr: vec![1, 2, 3],
                removing_replicas: vec![],
                adding_replicas: vec![],
                leader: 1,
                leader_epoch: 0,
                partition_epoch: 0,
                elr: Vec::new(),
                last_known_elr: Vec::new(),
            },
        ])
        .unwrap();
        let state = |image: &MetadataImage| image.partition("a", 0).unwrap().clone();
        assert_eq!(state(&image).directories, vec![UNASSIGNED_DIRECTORY; 3]);

        // Assigned: no epoch moves.
        let image = image.apply(2, &assign(id, 0, &[D1, D2, D3])).unwrap();
        let p = state(&image);
        assert_eq!(p.directories, vec![D1, D2, D3]);
        assert_eq!((p.leader_epoch, p.partition_epoch), (0, 0));
        assert_eq!(
            (p.directory_of(2), p.directory_of(9)),
            (D2, UNASSIGNED_DIRECTORY)
        );

        // An ISR or leader change keeps them.
        let image = image
            .apply(3, &partition_change(id, 0, Some(vec![1, 3]), 3))
            .unwrap();
        assert_eq!(state(&image).directories, vec![D1, D2, D3]);

        // New replicas [4, 3, 1]: 3 and 1 keep theirs, 4 has none yet.
        let image = image
            .apply(
                4,
                &MetadataRecord::PartitionChange {
                    topic_id: id,
                    partition: 0,
                    isr: None,
                    leader: NO_LEADER_CHANGE,
                    replicas: Some(vec![4, 3, 1]),
                    removing_replicas: None,
                    adding_replicas: None,
                    leader_recovery_state: crate::records::LEADER_RECOVERY_NO_CHANGE,
                    elr: None,
                    last_known_elr: None,
                },
            )
            .unwrap();
        assert_eq!(
            state(&image).directories,
            vec![UNASSIGNED_DIRECTORY, D3, D1]
        );

        // Planned for three replicas, applied to two: ignored.
        let image = image
            .apply(
                5,
                &MetadataRecord::PartitionChange {
                    topic_id: id,
                    partition: 0,
                    isr: Some(vec![3]),
                    leader: 3,
                    replicas: Some(vec![3, 1]),
                    removing_replicas: None,
                    adding_replicas: None,
                    leader_recovery_state: crate::records::LEADER_RECOVERY_NO_CHANGE,
                    elr: None,
                    last_known_elr: None,
                },
            )
            .unwrap();
        assert_eq!(state(&image).directories, vec![D3, D1]);
        let ignored = image.apply(6, &assign(id, 0, &[D2, D2, D2])).unwrap();
        assert_eq!(state(&ignored).directories, vec![D3, D1]);
        assert_eq!(ignored.offset, 6);

        // A full Partition record has them all unassigned again.
        let image = image
            .apply(
                7,
                &MetadataRecord::Partition {
                    topic_id: id,
                    partition: 0,
                    replicas: vec![3, 1],
                    isr: vec![3],
                    removing_replicas: vec![],
                    adding_replicas: vec![],
                    leader: 3,
                    leader_epoch: 9,
                    partition_epoch: 9,
                    elr: Vec::new(),
                    last_known_elr: Vec::new(),
                },
            )
            .unwrap();
        assert_eq!(state(&image).directories, vec![UNASSIGNED_DIRECTORY; 2]);

        // As changes to unknown partitions are, an assignment to one is
        // an inconsistent log.
        assert!(image.apply(8, &assign(id, 1, &[D1])).is_err());
        assert!(image.apply(8, &assign(Uuid([9; 16]), 0, &[D1])).is_err());
    }

    /// A broker's online directories belong to one registration; which
    /// copies count as online follows from them.
    #[test]
    fn broker_log_dirs_belong_to_one_registration() {
        let id = Uuid([1; 16]);
        let image = replay(&[
            register(1, 0, false),
            register(2, 1, false),
            MetadataRecord::Topic {
                name: "a".into(),
                topic_id: id,
            },
            MetadataRecord::Partition {
                topic_id: id,
                partition: 0,
                replicas: vec![1, 2],
                isr: vec![1, 2],
                removing_replicas: vec![],
                adding_replicas: vec![],
                leader: 1,
                leader_epoch: 0,
                partition_epoch: 0,
                elr: Vec::new(),
                last_known_elr: Vec::new(),
            },
            assign(id, 0, &[D1, D2]),
        ])
        .unwrap();
        let online = |image: &MetadataImage, r| {
            image.replica_dir_online(image.partition("a", 0).unwrap(), r)
        };
        // Not known: every directory counts as online.
        assert!(image.brokers[&1].log_dirs.is_empty());
        assert!(online(&image, 1) && online(&image, 2));

        let image = image.apply(5, &log_dirs(1, 0, &[D1, D3])).unwrap();
        assert_eq!(image.brokers[&1].log_dirs, vec![D1, D3]);
        assert!(online(&image, 1));
        let image = image.apply(6, &log_dirs(1, 0, &[D3])).unwrap();
        assert!(!online(&image, 1), "D1 failed");
        assert!(online(&image, 2), "broker 2's directories are not known");
        // Not a replica, or not assigned: nothing says it failed.
        assert!(online(&image, 7));
        assert!(image.brokers[&1].has_online_dir(UNASSIGNED_DIRECTORY));
        // Lost is never online, even for a broker that named nothing.
        assert!(!image.brokers[&2].has_online_dir(LOST_DIRECTORY));
        let image = image.apply(7, &log_dirs(1, 0, &[LOST_DIRECTORY])).unwrap();
        assert!(!image.brokers[&1].has_online_dir(D3));

        // Another epoch's report is ignored, as is one for nobody.
        let stale = image
            .apply(8, &log_dirs(1, 5, &[D1]))
            .unwrap()
            .apply(9, &log_dirs(9, 0, &[D1]))
            .unwrap();
        assert_eq!(stale.brokers[&1].log_dirs, vec![LOST_DIRECTORY]);
        assert!(!stale.brokers.contains_key(&9));

        // A new registration starts over: not known until it reports.
        let image = image.apply(8, &register(1, 8, true)).unwrap();
        assert!(image.brokers[&1].log_dirs.is_empty());
        assert!(online(&image, 1));
        // The old registration's report no longer applies.
        let image = image.apply(9, &log_dirs(1, 0, &[D3])).unwrap();
        assert!(image.brokers[&1].log_dirs.is_empty());
        let image = image.apply(10, &log_dirs(1, 8, &[D2])).unwrap();
        assert_eq!(image.brokers[&1].log_dirs, vec![D2]);
        assert!(!online(&image, 1));

        // Snapshots carry both.
        let records = image.to_snapshot_records();
        assert_eq!(
            records[..3],
            [
                register(1, 8, true),
                log_dirs(1, 8, &[D2]),
                register(2, 1, false)
            ]
        );
        assert!(records.contains(&assign(id, 0, &[D1, D2])));
        let decoded: Vec<_> = records
            .iter()
            .map(|r| MetadataRecord::decode(r.encode().unwrap()).unwrap())
            .collect();
        let rebuilt = MetadataImage::from_snapshot_records(&decoded, image.offset + 1).unwrap();
        assert_eq!(rebuilt, image);
    }

    /// A log as a single node wrote it before epochs (placeholders) gives a
    /// live, unfenced broker of epoch 0.
    #[test]
    fn single_node_registrations_of_older_versions_are_unfenced() {
        let old = MetadataRecord::RegisterBroker {
            broker_id: 1,
            incarnation_id: Uuid::ZERO,
            broker_epoch: 0,
            endpoints: vec![],
            rack: None,
            fenced: false,
        };
        let image = replay(&[old.clone(), old]).unwrap();
        assert_eq!(image.unfenced_brokers(), vec![1]);
        assert_eq!(image.brokers[&1].epoch, 0);
    }

    /// A tiny deterministic generator, so a failing seed can be rerun.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
        fn chance(&mut self, percent: u64) -> bool {
            self.below(100) < percent
        }
        fn pick<'a, T>(&mut self, items: &'a [T]) -> Option<&'a T> {
            if items.is_empty() {
                None
            } else {
                Some(&items[self.below(items.len() as u64) as usize])
            }
        }
        fn ids(&mut self, max: u64) -> Vec<i32> {
            (0..self.below(max) + 1)
                .map(|_| self.below(8) as i32)
                .collect()
        }
    }

    /// A directory id from a small set, unassigned or lost now and then.
    fn random_dir(rng: &mut Rng) -> Uuid {
        match rng.below(8) {
            0 => UNASSIGNED_DIRECTORY,
            1 => LOST_DIRECTORY,
            n => Uuid([0xd0 + n as u8; 16]),
        }
    }

    /// One valid change to `image`, of any kind the image records.
    fn random_record(rng: &mut Rng, image: &MetadataImage, offset: i64) -> MetadataRecord {
        let brokers: Vec<&BrokerImage> = image.brokers.values().collect();
        let topics = image.topics();
        loop {
            match rng.below(19) {
                0 => {
                    let id = rng.below(6) as i32;
                    let endpoints = (0..rng.below(3))
                        .map(|i| Endpoint {
                            listener: format!("L{i}"),
                            host: format!("h{}", rng.below(100)),
                            port: rng.below(65536) as u16,
                            security_protocol: rng.below(4) as i16,
                        })
                        .collect();
                    return MetadataRecord::RegisterBroker {
                        broker_id: id,
                        incarnation_id: Uuid([rng.below(256) as u8; 16]),
                        broker_epoch: offset,
                        endpoints,
                        rack: rng.chance(50).then(|| format!("rack{}", rng.below(3))),
                        fenced: rng.chance(50),
                    };
                }
                15 => {
                    // A broker's online directories, now and then for an
                    // epoch that is not its own (ignored).
                    if let Some(b) = rng.pick(&brokers) {
                        let log_dirs = (0..rng.below(3) + 1).map(|_| random_dir(rng)).collect();
                        return MetadataRecord::BrokerLogDirs {
                            broker_id: b.id,
                            broker_epoch: b.epoch + rng.chance(10) as i64,
                            log_dirs,
                        };
                    }
                }
                16 => {
                    // Directories for a partition, now and then for another
                    // replica count (ignored).
                    let with_partitions: Vec<_> =
                        topics.iter().filter(|t| !t.partitions.is_empty()).collect();
                    if let Some(t) = rng.pick(&with_partitions) {
                        let p = rng.below(t.partitions.len() as u64) as usize;
                        let n = t.partitions[p].replicas.len() + rng.chance(10) as usize;
                        return MetadataRecord::AssignDirectories {
                            topic_id: t.id,
                            partition: p as i32,
                            directories: (0..n.max(1)).map(|_| random_dir(rng)).collect(),
                        };
                    }
                }
                1 => {
                    if let Some(b) = rng.pick(&brokers) {
                        let fenced = match rng.below(3) {
                            0 => None,
                            1 => Some(true),
                            _ => Some(false),
                        };
                        return MetadataRecord::BrokerRegistrationChange {
                            broker_id: b.id,
                            broker_epoch: b.epoch,
                            fenced,
                            in_controlled_shutdown: rng.chance(30),
                        };
                    }
                }
                2 => {
                    if let Some(b) = rng.pick(&brokers) {
                        return if rng.chance(50) {
                            MetadataRecord::FenceBroker {
                                id: b.id,
                                epoch: b.epoch,
                            }
                        } else {
                            MetadataRecord::UnfenceBroker {
                                id: b.id,
                                epoch: b.epoch,
                            }
                        };
                    }
                }
                3 => {
                    if let Some(b) = rng.pick(&brokers) {
                        if rng.chance(30) {
                            return MetadataRecord::UnregisterBroker {
                                broker_id: b.id,
                                broker_epoch: b.epoch,
                            };
                        }
                    }
                }
                4 | 5 => {
                    let n = rng.below(1000);
                    let name = format!("t{n}");
                    let id = Uuid([
                        (n % 251) as u8 + 1,
                        (n / 251) as u8 + 1,
                        7,
                        7,
                        7,
                        7,
                        7,
                        7,
                        7,
                        7,
                        7,
                        7,
                        7,
                        7,
                        7,
                        7,
                    ]);
                    if image.topic(&name).is_none() && image.topic_by_id(&id).is_none() {
                        return MetadataRecord::Topic { name, topic_id: id };
                    }
                }
                6 | 7 => {
                    if let Some(t) = rng.pick(&topics) {
                        let len = t.partitions.len() as u64;
                        // A new partition or a change to an existing one.
                        let partition = rng.below(len + 1) as i32;
                        let reassigning = rng.chance(25);
                        let list = |rng: &mut Rng| {
                            if reassigning {
                                rng.ids(2)
                            } else {
                                Vec::new()
                            }
                        };
                        return MetadataRecord::Partition {
                            topic_id: t.id,
                            partition,
                            replicas: rng.ids(4),
                            isr: rng.ids(3),
                            removing_replicas: list(rng),
                            adding_replicas: list(rng),
                            leader: rng.below(9) as i32 - 1,
                            leader_epoch: rng.below(50) as i32,
                            partition_epoch: rng.below(50) as i32,
                            elr: Vec::new(),
                            last_known_elr: Vec::new(),
                        };
                    }
                }
                8 => {
                    let (resource_type, resource_name) = match (rng.below(3), rng.pick(&topics)) {
                        (0, Some(t)) => (RESOURCE_TOPIC, t.name.clone()),
                        (1, _) => (RESOURCE_BROKER, String::new()),
                        _ => (RESOURCE_BROKER, rng.below(4).to_string()),
                    };
                    return MetadataRecord::Config {
                        resource_type,
                        resource_name,
                        name: format!("c{}", rng.below(5)),
                        value: rng.chance(75).then(|| format!("v{}", rng.below(1000))),
                    };
                }
                10 => {
                    let with_partitions: Vec<_> =
                        topics.iter().filter(|t| !t.partitions.is_empty()).collect();
                    if let Some(t) = rng.pick(&with_partitions) {
                        let some_ids = |rng: &mut Rng, max| rng.chance(50).then(|| rng.ids(max));
                        return MetadataRecord::PartitionChange {
                            topic_id: t.id,
                            partition: rng.below(t.partitions.len() as u64) as i32,
                            isr: some_ids(rng, 3),
                            leader: rng.below(10) as i32 - 2,
                            replicas: some_ids(rng, 4),
                            removing_replicas: some_ids(rng, 2),
                            adding_replicas: some_ids(rng, 2),
                            leader_recovery_state: rng.below(3) as i8 - 1,
                            elr: None,
                            last_known_elr: None,
                        };
                    }
                }
                9 => {
                    if let Some(t) = rng.pick(&topics) {
                        if rng.chance(40) {
                            return MetadataRecord::RemoveTopic { topic_id: t.id };
                        }
                    }
                }
                11 => {
                    // An ACL added (a fresh id) or one removed.
                    let ids: Vec<[u8; 16]> = image.acls().map(|(id, _)| *id).collect();
                    if rng.chance(30) {
                        if let Some(id) = rng.pick(&ids) {
                            return MetadataRecord::RemoveAccessControlEntry { id: Uuid(*id) };
                        }
                    }
                    let mut id = [0u8; 16];
                    id[..8].copy_from_slice(&rng.next().to_be_bytes());
                    id[8..].copy_from_slice(&rng.next().to_be_bytes());
                    if image.acl_map().contains_key(&id) {
                        continue;
                    }
                    let binding = AclBinding::new(
                        vltava_acl::ResourcePattern::new(
                            vltava_acl::ResourceType::from_code(rng.below(8) as i8),
                            format!("r{}", rng.below(5)),
                            vltava_acl::PatternType::from_code(rng.below(5) as i8),
                        ),
                        vltava_acl::AccessControlEntry::new(
                            format!("User:u{}", rng.below(4)),
                            if rng.chance(50) {
                                "*".to_string()
                            } else {
                                format!("10.0.0.{}", rng.below(4))
                            },
                            vltava_acl::AclOperation::from_code(rng.below(15) as i8),
                            vltava_acl::AclPermissionType::from_code(rng.below(4) as i8),
                        ),
                    );
                    return MetadataRecord::AccessControlEntry {
                        id: Uuid(id),
                        binding,
                    };
                }
                12 => {
                    // A credential set, replaced or removed.
                    let name = format!("user{}", rng.below(4));
                    let mechanism = 1 + rng.below(2) as i8;
                    if image.scram_credential(mechanism, &name).is_some() && rng.chance(40) {
                        return MetadataRecord::RemoveUserScramCredential { name, mechanism };
                    }
                    let bytes = |rng: &mut Rng, n: usize| -> Bytes {
                        (0..n)
                            .map(|_| rng.below(256) as u8)
                            .collect::<Vec<u8>>()
                            .into()
                    };
                    return MetadataRecord::UserScramCredential {
                        salt: bytes(rng, 16),
                        stored_key: bytes(rng, 32),
                        server_key: bytes(rng, 32),
                        iterations: 4096 + rng.below(12288) as i32,
                        name,
                        mechanism,
                    };
                }
                13 => {
                    // A quota key set or removed, on any of the entity
                    // shapes AlterClientQuotas allows.
                    let user = match rng.below(3) {
                        0 => None,
                        1 => Some(("user".to_string(), None)),
                        n => Some(("user".to_string(), Some(format!("u{n}")))),
                    };
                    let client = match rng.below(3) {
                        0 => None,
                        1 => Some(("client-id".to_string(), None)),
                        _ => Some(("client-id".to_string(), Some("app".to_string()))),
                    };
                    let (entity, key): (Vec<_>, &str) = match (user, client) {
                        (None, None) => (
                            vec![("ip".to_string(), Some(format!("10.0.0.{}", rng.below(3))))],
                            "connection_creation_rate",
                        ),
                        (u, c) => (
                            u.into_iter().chain(c).collect(),
                            [
                                "producer_byte_rate",
                                "consumer_byte_rate",
                                "request_percentage",
                            ][rng.below(3) as usize],
                        ),
                    };
                    let value = (!rng.chance(25))
                        .then(|| crate::records::QuotaValue(1.0 + rng.below(100_000) as f64));
                    return MetadataRecord::ClientQuota {
                        entity,
                        key: key.to_string(),
                        value,
                    };
                }
                18 => {
                    // A delegation token created, renewed or removed.
                    let token_id = format!("token{}", rng.below(4));
                    if image.delegation_token(&token_id).is_some() && rng.chance(40) {
                        return MetadataRecord::RemoveDelegationToken { token_id };
                    }
                    let issue_ms = rng.below(1_000_000) as i64;
                    return MetadataRecord::DelegationToken {
                        token_id,
                        owner: format!("User:u{}", rng.below(3)),
                        requester: format!("User:u{}", rng.below(3)),
                        renewers: (0..rng.below(3)).map(|i| format!("User:r{i}")).collect(),
                        issue_ms,
                        max_ms: issue_ms + 7_000,
                        expiry_ms: issue_ms + rng.below(7_000) as i64,
                    };
                }
                14 => {
                    // A feature finalized, changed or taken out (level 0).
                    return MetadataRecord::FeatureLevel {
                        name: ["metadata.version", "eligible.leader.replicas.version"]
                            [rng.below(2) as usize]
                            .to_string(),
                        level: rng.below(3) as i16,
                    };
                }
                _ => {
                    return MetadataRecord::ProducerIds {
                        broker_id: rng.below(6) as i32,
                        next_producer_id: image.next_producer_id + rng.below(3) as i64 * 1000,
                    };
                }
            }
        }
    }

    fn random_image(seed: u64, steps: usize) -> MetadataImage {
        let mut rng = Rng(seed);
        let mut image = MetadataImage::empty();
        for offset in 0..steps as i64 {
            let record = random_record(&mut rng, &image, offset);
            image = image
                .apply(offset, &record)
                .unwrap_or_else(|e| panic!("seed {seed}: generated an invalid record: {e}"));
        }
        image
    }

    /// Property: image -> snapshot records -> Kafka framing -> decode ->
    /// replay gives back the same image, over randomly built images.
    #[test]
    fn snapshot_records_rebuild_random_images() {
        let mut kinds = std::collections::HashSet::new();
        for seed in 0..400 {
            let image = random_image(seed, (seed % 120) as usize);
            let records = image.to_snapshot_records();
            let decoded: Vec<MetadataRecord> = records
                .iter()
                .map(|r| MetadataRecord::decode(r.encode().unwrap()).unwrap())
                .collect();
            assert_eq!(decoded, records, "seed {seed}: records survive the framing");
            for r in &records {
                kinds.insert(std::mem::discriminant(r));
            }
            let rebuilt = MetadataImage::from_snapshot_records(&decoded, image.offset + 1).unwrap();
            assert_eq!(rebuilt, image, "seed {seed}");
            // Deterministic: the rebuilt image writes the same records.
            assert_eq!(rebuilt.to_snapshot_records(), records, "seed {seed}");
        }
        // The generator reached every kind a snapshot writes: registrations,
        // controlled shutdown, online log directories, topics, partitions,
        // directory assignments, configs, producer ids, ACLs, SCRAM
        // credentials, client quotas, features, delegation tokens.
        assert_eq!(kinds.len(), 13, "{kinds:?}");
    }

    #[test]
    fn snapshot_records_of_a_small_image() {
        let id = Uuid([3; 16]);
        let image = replay(&[
            register(1, 0, false),
            change(1, 0, None, true),
            MetadataRecord::Topic {
                name: "b".into(),
                topic_id: id,
            },
            partition(id, 0),
            MetadataRecord::Config {
                resource_type: RESOURCE_TOPIC,
                resource_name: "b".into(),
                name: "retention.ms".into(),
                value: Some("5".into()),
            },
            MetadataRecord::ProducerIds {
                broker_id: 1,
                next_producer_id: 2000,
            },
        ])
        .unwrap();
        assert_eq!(
            image.to_snapshot_records(),
            vec![
                register(1, 0, false),
                change(1, 0, None, true),
                MetadataRecord::Topic {
                    name: "b".into(),
                    topic_id: id,
                },
                partition(id, 0),
                MetadataRecord::Config {
                    resource_type: RESOURCE_TOPIC,
                    resource_name: "b".into(),
                    name: "retention.ms".into(),
                    value: Some("5".into()),
                },
                MetadataRecord::ProducerIds {
                    broker_id: -1,
                    next_producer_id: 2000,
                },
            ]
        );
        // The empty image needs no records, and replays at the offset given.
        assert!(MetadataImage::empty().to_snapshot_records().is_empty());
        let rebuilt = MetadataImage::from_snapshot_records(&[], 0).unwrap();
        assert_eq!(rebuilt, MetadataImage::empty());
        let at = MetadataImage::from_snapshot_records(&image.to_snapshot_records(), 42).unwrap();
        assert_eq!(at.offset, 41);
    }

    fn acl(principal: &str, name: &str, op: vltava_acl::AclOperation) -> AclBinding {
        use vltava_acl::*;
        AclBinding::new(
            ResourcePattern::new(ResourceType::Topic, name, PatternType::Literal),
            AccessControlEntry::new(principal, "*", op, AclPermissionType::Allow),
        )
    }

    fn credential(name: &str, mechanism: i8, iterations: i32) -> MetadataRecord {
        MetadataRecord::UserScramCredential {
            name: name.into(),
            mechanism,
            salt: Bytes::from(vec![mechanism as u8; 8]),
            stored_key: Bytes::from(vec![1; 32]),
            server_key: Bytes::from(vec![2; 32]),
            iterations,
        }
    }

    #[test]
    fn acls_are_added_and_removed_by_id() {
        use vltava_acl::AclOperation::{Read, Write};
        let (a, b) = (Uuid([1; 16]), Uuid([2; 16]));
        let image = replay(&[
            MetadataRecord::AccessControlEntry {
                id: b,
                binding: acl("User:bob", "t", Write),
            },
            MetadataRecord::AccessControlEntry {
                id: a,
                binding: acl("User:alice", "t", Read),
            },
        ])
        .unwrap();
        let listed: Vec<_> = image.acls().map(|(id, b)| (*id, b.clone())).collect();
        assert_eq!(
            listed,
            vec![
                (a.0, acl("User:alice", "t", Read)),
                (b.0, acl("User:bob", "t", Write)),
            ]
        );
        // An image whose ACLs did not change shares the map.
        let later = image
            .apply(
                5,
                &MetadataRecord::ProducerIds {
                    broker_id: 1,
                    next_producer_id: 1000,
                },
            )
            .unwrap();
        assert!(Arc::ptr_eq(image.acl_map(), later.acl_map()));
        let removed = later
            .apply(6, &MetadataRecord::RemoveAccessControlEntry { id: a })
            .unwrap();
        assert!(!Arc::ptr_eq(later.acl_map(), removed.acl_map()));
        assert_eq!(removed.acls().count(), 1);
        assert_eq!(removed.acls().next().unwrap().0, &b.0);
        // The same id twice, or removing an id that is not there, means the
        // log is inconsistent.
        assert!(removed
            .apply(
                7,
                &MetadataRecord::AccessControlEntry {
                    id: b,
                    binding: acl("User:carol", "u", Read),
                }
            )
            .is_err());
        assert!(removed
            .apply(7, &MetadataRecord::RemoveAccessControlEntry { id: a })
            .is_err());
    }

    #[test]
    fn scram_credentials_are_set_replaced_and_removed() {
        let image = replay(&[
            credential("alice", SCRAM_SHA_256, 4096),
            credential("alice", SCRAM_SHA_512, 8192),
            credential("bob", SCRAM_SHA_256, 4096),
            // A new credential for the same user and mechanism replaces it.
            credential("bob", SCRAM_SHA_256, 10000),
        ])
        .unwrap();
        let alice = image.scram_credential(SCRAM_SHA_256, "alice").unwrap();
        assert_eq!(alice.iterations, 4096);
        assert_eq!(alice.salt, vec![1; 8]);
        assert_eq!(alice.stored_key, vec![1; 32]);
        assert_eq!(alice.server_key, vec![2; 32]);
        assert_eq!(
            image
                .scram_credential(SCRAM_SHA_512, "alice")
                .unwrap()
                .iterations,
            8192
        );
        assert_eq!(
            image
                .scram_credential(SCRAM_SHA_256, "bob")
                .unwrap()
                .iterations,
            10000
        );
        assert!(image.scram_credential(SCRAM_SHA_512, "bob").is_none());
        let listed: Vec<_> = image
            .scram_credentials()
            .map(|(m, u, c)| (m, u.to_string(), c.iterations))
            .collect();
        assert_eq!(
            listed,
            vec![
                (SCRAM_SHA_256, "alice".to_string(), 4096),
                (SCRAM_SHA_256, "bob".to_string(), 10000),
                (SCRAM_SHA_512, "alice".to_string(), 8192),
            ]
        );
        let removed = image
            .apply(
                9,
                &MetadataRecord::RemoveUserScramCredential {
                    name: "alice".into(),
                    mechanism: SCRAM_SHA_512,
                },
            )
            .unwrap();
        assert!(removed.scram_credential(SCRAM_SHA_512, "alice").is_none());
        assert!(removed.scram_credential(SCRAM_SHA_256, "alice").is_some());
        assert!(removed
            .apply(
                10,
                &MetadataRecord::RemoveUserScramCredential {
                    name: "alice".into(),
                    mechanism: SCRAM_SHA_512,
                },
            )
            .is_err());
        // The keys never reach a log line.
        let shown = format!("{alice:?}");
        assert!(
            shown.contains("4096") && !shown.contains("[1, 1"),
            "{shown}"
        );
    }

    #[test]
    fn acls_and_credentials_survive_a_snapshot() {
        use vltava_acl::AclOperation::{Alter, Read};
        let (a, b) = (Uuid([9; 16]), Uuid([4; 16]));
        let image = replay(&[
            MetadataRecord::ProducerIds {
                broker_id: 1,
                next_producer_id: 1000,
            },
            MetadataRecord::AccessControlEntry {
                id: a,
                binding: acl("User:alice", "t", Read),
            },
            MetadataRecord::AccessControlEntry {
                id: b,
                binding: acl("User:bob", "*", Alter),
            },
            credential("alice", SCRAM_SHA_512, 4096),
            credential("bob", SCRAM_SHA_256, 5000),
            credential("carol", SCRAM_SHA_256, 6000),
            MetadataRecord::RemoveUserScramCredential {
                name: "carol".into(),
                mechanism: SCRAM_SHA_256,
            },
        ])
        .unwrap();
        let records = image.to_snapshot_records();
        assert_eq!(
            records[1..],
            [
                MetadataRecord::AccessControlEntry {
                    id: b,
                    binding: acl("User:bob", "*", Alter),
                },
                MetadataRecord::AccessControlEntry {
                    id: a,
                    binding: acl("User:alice", "t", Read),
                },
                credential("bob", SCRAM_SHA_256, 5000),
                credential("alice", SCRAM_SHA_512, 4096),
            ]
        );
        // Through the record encoding, as a snapshot file holds them.
        let decoded: Vec<_> = records
            .iter()
            .map(|r| MetadataRecord::decode(r.encode().unwrap()).unwrap())
            .collect();
        let rebuilt = MetadataImage::from_snapshot_records(&decoded, image.offset + 1).unwrap();
        assert_eq!(rebuilt, image);
        assert_eq!(
            rebuilt
                .scram_credential(SCRAM_SHA_256, "bob")
                .unwrap()
                .iterations,
            5000
        );
        assert!(rebuilt.scram_credential(SCRAM_SHA_256, "carol").is_none());
    }
}
