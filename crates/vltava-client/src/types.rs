//! The values the client takes and returns.

use bytes::Bytes;
use vltava_protocol::{ErrorCode, Uuid};
pub use vltava_records::{Compression, Header};

/// A broker as the cluster metadata describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerMetadata {
    pub node_id: i32,
    pub host: String,
    pub port: i32,
    pub rack: Option<String>,
}

impl BrokerMetadata {
    /// `host:port`, for connecting.
    pub fn addr(&self) -> String {
        if self.host.contains(':') && !self.host.starts_with('[') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// One partition of a topic in the cluster metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionMetadata {
    pub partition: i32,
    /// The leader's node id, -1 when there is none.
    pub leader: i32,
    pub leader_epoch: i32,
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
    pub offline_replicas: Vec<i32>,
    pub error: ErrorCode,
}

/// One topic in the cluster metadata. `error` is set (and `partitions`
/// empty) for a topic the broker could not describe, e.g.
/// UNKNOWN_TOPIC_OR_PARTITION.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicMetadata {
    pub name: String,
    pub topic_id: Uuid,
    pub is_internal: bool,
    pub error: ErrorCode,
    /// Sorted by partition index.
    pub partitions: Vec<PartitionMetadata>,
}

impl TopicMetadata {
    /// The replication factor (the replica count of partition 0).
    pub fn replication_factor(&self) -> usize {
        self.partitions.first().map_or(0, |p| p.replicas.len())
    }
}

/// A Metadata answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterMetadata {
    pub cluster_id: Option<String>,
    /// -1 when unknown.
    pub controller_id: i32,
    /// Sorted by node id.
    pub brokers: Vec<BrokerMetadata>,
    /// In the broker's order.
    pub topics: Vec<TopicMetadata>,
}

/// The cluster as DescribeCluster (or, from older brokers, Metadata) shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterDescription {
    pub cluster_id: Option<String>,
    pub controller_id: i32,
    /// Sorted by node id.
    pub brokers: Vec<BrokerMetadata>,
}

/// A topic to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTopic {
    pub name: String,
    /// `None`: the broker's `num.partitions`.
    pub num_partitions: Option<i32>,
    /// `None`: the broker's `default.replication.factor`.
    pub replication_factor: Option<i16>,
    /// Topic configuration overrides, e.g. `("retention.ms", "60000")`.
    pub configs: Vec<(String, String)>,
}

impl NewTopic {
    /// A topic with the broker's defaults.
    pub fn new(name: impl Into<String>) -> Self {
        NewTopic {
            name: name.into(),
            num_partitions: None,
            replication_factor: None,
            configs: Vec::new(),
        }
    }
}

/// What the broker says it created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatedTopic {
    pub name: String,
    /// Zero when the broker does not say (CreateTopics before v7).
    pub topic_id: Uuid,
    /// -1 when the broker does not say (CreateTopics before v5).
    pub num_partitions: i32,
    /// -1 when the broker does not say.
    pub replication_factor: i16,
}

/// Something with configuration.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ConfigResource {
    Topic(String),
    Broker(i32),
}

impl ConfigResource {
    /// The wire resource type (ConfigResource.Type in the Java client).
    pub fn resource_type(&self) -> i8 {
        match self {
            ConfigResource::Topic(_) => 2,
            ConfigResource::Broker(_) => 4,
        }
    }

    /// The wire resource name.
    pub fn resource_name(&self) -> String {
        match self {
            ConfigResource::Topic(name) => name.clone(),
            ConfigResource::Broker(id) => id.to_string(),
        }
    }
}

impl std::fmt::Display for ConfigResource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConfigResource::Topic(name) => write!(f, "topic {name}"),
            ConfigResource::Broker(id) => write!(f, "broker {id}"),
        }
    }
}

/// Where a configuration value comes from (DescribeConfigs v1+).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConfigSource {
    Unknown,
    /// Set on the topic (a topic override).
    DynamicTopic,
    /// Set dynamically for this broker.
    DynamicBroker,
    /// Set dynamically as the default of all brokers.
    DynamicDefaultBroker,
    /// From the broker's configuration file.
    StaticBroker,
    /// The built-in default.
    Default,
    DynamicBrokerLogger,
    /// A source newer than this client.
    Other(i8),
}

impl ConfigSource {
    pub fn from_i8(v: i8) -> ConfigSource {
        match v {
            0 => ConfigSource::Unknown,
            1 => ConfigSource::DynamicTopic,
            2 => ConfigSource::DynamicBroker,
            3 => ConfigSource::DynamicDefaultBroker,
            4 => ConfigSource::StaticBroker,
            5 => ConfigSource::Default,
            6 => ConfigSource::DynamicBrokerLogger,
            other => ConfigSource::Other(other),
        }
    }

    /// Kafka's name for it.
    pub fn name(self) -> &'static str {
        match self {
            ConfigSource::Unknown | ConfigSource::Other(_) => "UNKNOWN",
            ConfigSource::DynamicTopic => "DYNAMIC_TOPIC_CONFIG",
            ConfigSource::DynamicBroker => "DYNAMIC_BROKER_CONFIG",
            ConfigSource::DynamicDefaultBroker => "DYNAMIC_DEFAULT_BROKER_CONFIG",
            ConfigSource::StaticBroker => "STATIC_BROKER_CONFIG",
            ConfigSource::Default => "DEFAULT_CONFIG",
            ConfigSource::DynamicBrokerLogger => "DYNAMIC_BROKER_LOGGER_CONFIG",
        }
    }
}

/// One configuration value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigEntry {
    pub name: String,
    /// `None` when unset or sensitive.
    pub value: Option<String>,
    pub source: ConfigSource,
    /// Whether the value is the built-in default (not overridden anywhere).
    pub is_default: bool,
    pub read_only: bool,
    pub is_sensitive: bool,
}

/// One change of IncrementalAlterConfigs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AlterConfigOp {
    /// Set `name` to `value`.
    Set(String, String),
    /// Remove the override of `name` (back to its default).
    Delete(String),
    /// Add `value` to the list `name`.
    Append(String, String),
    /// Remove `value` from the list `name`.
    Subtract(String, String),
}

impl AlterConfigOp {
    /// (name, operation code, value) as IncrementalAlterConfigs sends them.
    pub fn wire(&self) -> (&str, i8, Option<&str>) {
        match self {
            AlterConfigOp::Set(k, v) => (k, 0, Some(v)),
            AlterConfigOp::Delete(k) => (k, 1, None),
            AlterConfigOp::Append(k, v) => (k, 2, Some(v)),
            AlterConfigOp::Subtract(k, v) => (k, 3, Some(v)),
        }
    }
}

/// Which offset ListOffsets should find.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OffsetSpec {
    /// The log start offset.
    Earliest,
    /// The log end offset (high watermark): where the next record will go.
    Latest,
    /// The offset of the record with the largest timestamp (ListOffsets v7+).
    MaxTimestamp,
    /// The first offset whose timestamp is at or after this (ms since epoch).
    Timestamp(i64),
}

impl OffsetSpec {
    /// The ListOffsets timestamp that asks for this.
    pub fn wire_timestamp(self) -> i64 {
        match self {
            OffsetSpec::Earliest => -2,
            OffsetSpec::Latest => -1,
            OffsetSpec::MaxTimestamp => -3,
            OffsetSpec::Timestamp(ts) => ts,
        }
    }
}

/// A ListOffsets answer for one partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListedOffset {
    /// -1 when no record matches (a timestamp after the last record's).
    pub offset: i64,
    /// The matching record's timestamp, -1 for Earliest/Latest.
    pub timestamp: i64,
    pub leader_epoch: i32,
}

/// How many replicas must have a record before the produce is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Acks {
    /// No answer at all (acks=0): the offset is unknown.
    None,
    /// The leader wrote it (acks=1).
    Leader,
    /// Every in-sync replica has it (acks=all, -1).
    All,
}

impl Acks {
    pub fn wire(self) -> i16 {
        match self {
            Acks::None => 0,
            Acks::Leader => 1,
            Acks::All => -1,
        }
    }
}

/// A record to produce.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ProducerRecord {
    pub key: Option<Bytes>,
    pub value: Option<Bytes>,
    /// In order; duplicates allowed.
    pub headers: Vec<(String, Option<Bytes>)>,
    /// Milliseconds since the epoch; `None`: now.
    pub timestamp: Option<i64>,
}

impl ProducerRecord {
    /// A record with just a value.
    pub fn value(value: impl Into<Bytes>) -> Self {
        ProducerRecord {
            value: Some(value.into()),
            ..Default::default()
        }
    }

    /// A record with a key and a value.
    pub fn keyed(key: impl Into<Bytes>, value: impl Into<Bytes>) -> Self {
        ProducerRecord {
            key: Some(key.into()),
            value: Some(value.into()),
            ..Default::default()
        }
    }
}

/// A record read from a partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumedRecord {
    pub offset: i64,
    /// Milliseconds since the epoch (CreateTime or LogAppendTime).
    pub timestamp: i64,
    pub key: Option<Bytes>,
    pub value: Option<Bytes>,
    pub headers: Vec<Header>,
}

/// Fetch limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FetchOptions {
    /// How long the broker may wait for `min_bytes` to arrive.
    pub max_wait_ms: i32,
    /// Answer as soon as this much data is there.
    pub min_bytes: i32,
    /// Limit of the whole answer (the first batch is returned whole even
    /// when larger, KIP-74).
    pub max_bytes: i32,
    /// Limit per partition.
    pub partition_max_bytes: i32,
}

impl Default for FetchOptions {
    fn default() -> Self {
        FetchOptions {
            max_wait_ms: 500,
            min_bytes: 1,
            max_bytes: 50 << 20,
            partition_max_bytes: 1 << 20,
        }
    }
}

/// Where to fetch from.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FetchPosition {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
}

/// What a fetch returned for one partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchedPartition {
    pub topic: String,
    pub partition: i32,
    /// Records at or after the fetch offset, control records left out.
    pub records: Vec<ConsumedRecord>,
    /// Where to fetch next: past the last whole batch returned (control
    /// batches included), or the fetch offset when none was.
    pub next_offset: i64,
    pub high_watermark: i64,
    pub last_stable_offset: i64,
    pub log_start_offset: i64,
}

/// A partition of a topic.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TopicPartition {
    pub topic: String,
    pub partition: i32,
}

impl TopicPartition {
    pub fn new(topic: impl Into<String>, partition: i32) -> Self {
        TopicPartition {
            topic: topic.into(),
            partition,
        }
    }
}

impl std::fmt::Display for TopicPartition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.topic, self.partition)
    }
}

/// A partition being reassigned (KIP-455), as ListPartitionReassignments
/// shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionReassignment {
    pub topic: String,
    pub partition: i32,
    /// The replicas now: the target ones, then the ones being removed.
    pub replicas: Vec<i32>,
    /// Replicas catching up, to join once the reassignment completes.
    pub adding_replicas: Vec<i32>,
    /// Replicas to leave once it completes.
    pub removing_replicas: Vec<i32>,
}

/// A transactional id as ListTransactions shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedTransaction {
    pub transactional_id: String,
    pub producer_id: i64,
    /// Kafka's state name: Empty, Ongoing, PrepareCommit, CompleteCommit, ...
    pub state: String,
}

/// A transactional id as DescribeTransactions shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransactionDescription {
    pub transactional_id: String,
    pub coordinator_id: i32,
    pub state: String,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub timeout_ms: i32,
    /// When the current transaction began, or -1.
    pub start_time_ms: i64,
    /// The partitions of the current transaction.
    pub partitions: Vec<(String, i32)>,
}

/// A group as ListGroups shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedGroup {
    pub group_id: String,
    /// `consumer` for Kafka consumers, empty for a group that only stores
    /// offsets (simple consumers that commit without joining).
    pub protocol_type: String,
    /// `Stable`, `Empty`, ...: `None` from brokers that do not say
    /// (ListGroups before v4).
    pub state: Option<String>,
    /// `classic`, `consumer`, ...: `None` from brokers that do not say
    /// (ListGroups before v5).
    pub group_type: Option<String>,
}

/// A group as DescribeGroups shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupDescription {
    pub group_id: String,
    /// Kafka's state names: `Empty`, `PreparingRebalance`,
    /// `CompletingRebalance`, `Stable`, `Dead` (a group that does not exist
    /// is described as `Dead`, as Kafka does).
    pub state: String,
    pub protocol_type: String,
    /// The chosen protocol (for consumers: the assignor, e.g. `range`);
    /// empty unless the group is stable.
    pub protocol: String,
    /// In the coordinator's order.
    pub members: Vec<GroupMember>,
    /// The broker that coordinates the group.
    pub coordinator: BrokerMetadata,
}

/// A member of a group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupMember {
    pub member_id: String,
    /// The static member id (KIP-345), if any.
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    /// The member's metadata for the chosen protocol, as sent (empty unless
    /// the group is stable).
    pub metadata: Bytes,
    /// The member's assignment, as the leader sent it (empty unless the
    /// group is stable).
    pub assignment: Bytes,
    /// `assignment` decoded, for groups of protocol type `consumer` whose
    /// assignment is in the consumer protocol's format.
    pub consumer_assignment: Option<MemberAssignment>,
}

/// A consumer's assignment (the consumer protocol's `ConsumerProtocolAssignment`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MemberAssignment {
    /// Sorted by topic and partition.
    pub partitions: Vec<TopicPartition>,
    pub user_data: Option<Bytes>,
}

/// A committed offset as OffsetFetch returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommittedOffset {
    pub topic: String,
    pub partition: i32,
    /// `None` when the group has committed nothing for the partition.
    pub offset: Option<i64>,
    /// -1 when unknown.
    pub leader_epoch: i32,
    pub metadata: Option<String>,
}

/// An offset to commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetToCommit {
    pub topic: String,
    pub partition: i32,
    /// The offset of the next record to consume.
    pub offset: i64,
    /// -1 when unknown.
    pub leader_epoch: i32,
    pub metadata: Option<String>,
}

impl OffsetToCommit {
    /// An offset with no leader epoch and no metadata.
    pub fn new(topic: impl Into<String>, partition: i32, offset: i64) -> Self {
        OffsetToCommit {
            topic: topic.into(),
            partition,
            offset,
            leader_epoch: -1,
            metadata: None,
        }
    }
}

/// One member of the metadata quorum as its leader sees it (DescribeQuorum).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuorumReplica {
    pub replica_id: i32,
    /// Zero when the broker does not track directory ids (Vltava) or
    /// answers below v2.
    pub directory_id: Uuid,
    /// The end of its metadata log as far as the leader knows; -1 unknown.
    pub log_end_offset: i64,
    /// Wall-clock milliseconds of its last fetch; `None` when unknown (or
    /// the broker answers v0, which has no times).
    pub last_fetch_timestamp: Option<i64>,
    /// When it last fetched up to the leader's end; `None` when unknown.
    pub last_caught_up_timestamp: Option<i64>,
}

impl QuorumReplica {
    /// How many records it is behind the high watermark (never negative:
    /// a replica may hold records past the HW that are not committed yet);
    /// `None` when its end offset is unknown.
    pub fn lag(&self, high_watermark: i64) -> Option<i64> {
        (self.log_end_offset >= 0).then(|| (high_watermark - self.log_end_offset).max(0))
    }
}

/// Where a quorum member takes requests (DescribeQuorum v2's nodes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuorumEndpoint {
    /// The listener's name, e.g. `CONTROLLER`.
    pub name: String,
    pub host: String,
    pub port: u16,
}

/// The metadata quorum (`__cluster_metadata-0`) as its leader describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuorumDescription {
    pub leader_id: i32,
    pub leader_epoch: i32,
    pub high_watermark: i64,
    /// The voters, the leader among them, by id.
    pub voters: Vec<QuorumReplica>,
    /// Replicas that fetch without voting (broker-only nodes, nodes not in
    /// the voter set), by id.
    pub observers: Vec<QuorumReplica>,
    /// The voters' endpoints by node id (empty below v2).
    pub endpoints: std::collections::BTreeMap<i32, Vec<QuorumEndpoint>>,
}
