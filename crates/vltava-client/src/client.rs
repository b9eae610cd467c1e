//! The cluster-level client: bootstrap, metadata, connections by node id,
//! admin operations, produce and fetch; consumer-group administration is in
//! `client/groups.rs`, the metadata quorum in `client/quorum.rs`.
//!
//! Requests that go to a partition's leader (produce, fetch, list offsets,
//! delete records) look the leader up in the cached metadata; when the
//! broker says it is not (or no longer) the leader, or a connection cannot
//! be made, the cache is dropped and the request retried after a backoff,
//! `retries` times. Produce is retried only after connect failures and
//! error codes that mean "not appended by this leader": with acks=all,
//! NOT_LEADER_OR_FOLLOWER also answers a batch the old leader appended but
//! could not replicate before its leadership moved (as in Kafka), and a
//! retried batch may then be written twice: at least once, as Kafka's
//! producer without idempotence. Reads are also retried after I/O errors
//! and timeouts.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use bytes::Bytes;
use tracing::debug;
use vltava_protocol::messages::create_partitions_request::CreatePartitionsTopic;
use vltava_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use vltava_protocol::messages::delete_records_request::{
    DeleteRecordsPartition, DeleteRecordsTopic,
};
use vltava_protocol::messages::delete_topics_request::DeleteTopicState;
use vltava_protocol::messages::describe_configs_request::DescribeConfigsResource;
use vltava_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use vltava_protocol::messages::incremental_alter_configs_request::{
    AlterConfigsResource, AlterableConfig,
};
use vltava_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use vltava_protocol::messages::metadata_request::MetadataRequestTopic;
use vltava_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use vltava_protocol::messages::{
    AlterPartitionReassignmentsRequest, CreatePartitionsRequest, CreateTopicsRequest,
    DeleteRecordsRequest, DeleteTopicsRequest, DescribeClusterRequest, DescribeConfigsRequest,
    FetchRequest, IncrementalAlterConfigsRequest, ListOffsetsRequest,
    ListPartitionReassignmentsRequest, MetadataRequest, MetadataResponse, ProduceRequest,
};
use vltava_protocol::{ApiKey, ErrorCode, Uuid};
use vltava_records::Compression;

use crate::batches::{build_batch, decode_fetched};
use crate::connection::{Connection, ConnectionConfig};
use crate::error::{Error, Result};
use crate::partitioner::partition_for_key;
use crate::types::*;

mod elections;
pub mod features;
mod groups;
pub mod log_dirs;
mod quorum;
pub mod quotas;
pub mod security;
pub mod tokens;
mod transactions;

pub use elections::{ElectionOutcome, ElectionType};

/// Settings of a [`Client`].
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// `host:port` of one or more brokers to learn the cluster from.
    pub bootstrap_servers: Vec<String>,
    pub connection: ConnectionConfig,
    /// How often a request is retried after an error a metadata refresh can
    /// fix (not the leader, no leader yet, unknown topic, cannot connect).
    pub retries: u32,
    /// Pause before each retry.
    pub retry_backoff: Duration,
    /// Ask the broker to create topics that metadata requests name
    /// (`auto.create.topics.enable` must also be on there).
    pub allow_auto_topic_creation: bool,
}

impl ClientConfig {
    /// Defaults, with these bootstrap servers.
    pub fn new<S: Into<String>>(bootstrap_servers: impl IntoIterator<Item = S>) -> Self {
        ClientConfig {
            bootstrap_servers: bootstrap_servers.into_iter().map(Into::into).collect(),
            connection: ConnectionConfig::default(),
            retries: 5,
            retry_backoff: Duration::from_millis(100),
            allow_auto_topic_creation: false,
        }
    }
}

/// A client of one cluster. See the module documentation.
#[derive(Debug)]
pub struct Client {
    config: ClientConfig,
    /// By node id; connections to bootstrap addresses whose node id is not
    /// known yet have negative keys (-1 for the first bootstrap server, ...).
    conns: HashMap<i32, Connection>,
    brokers: BTreeMap<i32, BrokerMetadata>,
    topics: HashMap<String, TopicMetadata>,
    cluster_id: Option<String>,
    controller_id: i32,
    /// The coordinator's node id by group id, from FindCoordinator.
    coordinators: HashMap<String, i32>,
}

/// Whether an error lets the operation be retried: `idempotent` operations
/// (reads) may also be repeated after a failure mid-request.
fn retriable(err: &Error, idempotent: bool) -> bool {
    err.is_retriable_after_refresh()
        || (idempotent && matches!(err, Error::Io { .. } | Error::Timeout { .. }))
}

fn millis_i32(d: Duration) -> i32 {
    i32::try_from(d.as_millis()).unwrap_or(i32::MAX)
}

fn nonempty(message: Option<String>) -> Option<String> {
    message.filter(|m| !m.is_empty())
}

impl Client {
    /// Connects to the first reachable bootstrap server and reads the
    /// cluster's brokers.
    pub async fn connect(config: ClientConfig) -> Result<Client> {
        if config.bootstrap_servers.is_empty() {
            return Err(Error::Invalid("no bootstrap servers given".to_string()));
        }
        let mut client = Client {
            config,
            conns: HashMap::new(),
            brokers: BTreeMap::new(),
            topics: HashMap::new(),
            cluster_id: None,
            controller_id: -1,
            coordinators: HashMap::new(),
        };
        client.metadata(Some(&[])).await?;
        Ok(client)
    }

    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    /// The brokers from the last metadata answer.
    pub fn brokers(&self) -> impl Iterator<Item = &BrokerMetadata> {
        self.brokers.values()
    }

    /// Cached metadata of a topic, if a metadata answer described it.
    pub fn cached_topic(&self, topic: &str) -> Option<&TopicMetadata> {
        self.topics.get(topic)
    }

    /// Drops the cached metadata of `topic` so the next use asks again.
    pub fn invalidate_topic(&mut self, topic: &str) {
        self.topics.remove(topic);
    }

    // ---- connections -------------------------------------------------

    /// A usable connection to broker `node`, made if needed.
    pub async fn connection(&mut self, node: i32) -> Result<&mut Connection> {
        if self.conns.get(&node).is_some_and(|c| !c.is_broken()) {
            return Ok(self.conns.get_mut(&node).expect("checked above"));
        }
        self.conns.remove(&node);
        let addr = match self.brokers.get(&node) {
            Some(b) => b.addr(),
            None => {
                return Err(Error::Invalid(format!(
                    "broker {node} is not in the cluster metadata"
                )))
            }
        };
        let conn = Connection::connect(&addr, self.config.connection.clone()).await?;
        Ok(self.conns.entry(node).or_insert(conn))
    }

    /// The key of some usable connection: an open one, else a new one to a
    /// known broker, else to a bootstrap server.
    async fn any_connection(&mut self) -> Result<i32> {
        self.conns.retain(|_, c| !c.is_broken());
        if let Some(&node) = self.conns.keys().filter(|&&n| n >= 0).min() {
            return Ok(node);
        }
        if let Some(&node) = self.conns.keys().max() {
            return Ok(node);
        }
        let mut last_err = None;
        let nodes: Vec<i32> = self.brokers.keys().copied().collect();
        for node in nodes {
            match self.connection(node).await {
                Ok(_) => return Ok(node),
                Err(e) => last_err = Some(e),
            }
        }
        for (i, addr) in self.config.bootstrap_servers.iter().enumerate() {
            match Connection::connect(addr, self.config.connection.clone()).await {
                Ok(conn) => {
                    let key = -(i as i32) - 1;
                    self.conns.insert(key, conn);
                    return Ok(key);
                }
                Err(e) => {
                    debug!(%addr, error = %e, "bootstrap server unreachable");
                    last_err = Some(e);
                }
            }
        }
        Err(last_err.unwrap_or_else(|| Error::Invalid("no bootstrap servers given".to_string())))
    }

    /// A connection for admin requests: the controller the metadata names
    /// (in KRaft clusters any broker forwards), else any broker.
    async fn admin_connection(&mut self) -> Result<i32> {
        let controller = self.controller_id;
        if controller >= 0 && self.brokers.contains_key(&controller) {
            match self.connection(controller).await {
                Ok(_) => return Ok(controller),
                Err(e) => debug!(controller, error = %e, "controller unreachable"),
            }
        }
        self.any_connection().await
    }

    fn conn_mut(&mut self, key: i32) -> &mut Connection {
        self.conns
            .get_mut(&key)
            .expect("a connection key just returned by any_connection")
    }

    /// Sleeps before attempt `attempt + 1` if `err` allows another try.
    /// Runs `op` (a request to `topic`'s partition leader) until it
    /// succeeds or fails in a way `backoff` does not retry; before each
    /// retry the topic's leaders are forgotten, so they are looked up anew.
    async fn retry_on_leader<T>(
        &mut self,
        topic: &str,
        idempotent: bool,
        mut op: impl AsyncFnMut(&mut Self) -> Result<T>,
    ) -> Result<T> {
        let mut attempt = 0;
        loop {
            match op(self).await {
                Err(e) if self.backoff(&e, attempt, idempotent).await => {
                    attempt += 1;
                    self.topics.remove(topic);
                }
                other => return other,
            }
        }
    }

    async fn backoff(&mut self, err: &Error, attempt: u32, idempotent: bool) -> bool {
        if attempt >= self.config.retries || !retriable(err, idempotent) {
            return false;
        }
        debug!(attempt, error = %err, "retrying");
        tokio::time::sleep(self.config.retry_backoff).await;
        true
    }

    // ---- metadata ----------------------------------------------------

    /// Asks for the metadata of `topics` (`None`: all topics; `Some(&[])`:
    /// brokers only) and updates the cache.
    pub async fn metadata(&mut self, topics: Option<&[&str]>) -> Result<ClusterMetadata> {
        let mut attempt = 0;
        loop {
            match self.metadata_once(topics).await {
                Ok(md) => return Ok(md),
                Err(e) if self.backoff(&e, attempt, true).await => attempt += 1,
                Err(e) => return Err(e),
            }
        }
    }

    async fn metadata_once(&mut self, topics: Option<&[&str]>) -> Result<ClusterMetadata> {
        let key = self.any_connection().await?;
        let allow_auto = self.config.allow_auto_topic_creation;
        let conn = self.conn_mut(key);
        let version = conn.negotiated_version(ApiKey::Metadata)?;
        let topics = match topics {
            // v0 has no null: an empty list means all topics.
            None if version == 0 => Some(Vec::new()),
            None => None,
            Some(names) => Some(
                names
                    .iter()
                    .map(|n| MetadataRequestTopic {
                        name: Some(n.to_string()),
                        ..Default::default()
                    })
                    .collect(),
            ),
        };
        let req = MetadataRequest {
            topics,
            allow_auto_topic_creation: if version >= 4 { allow_auto } else { true },
            ..Default::default()
        };
        let resp = conn.send_version(&req, version).await?;
        Ok(self.apply_metadata(resp))
    }

    fn apply_metadata(&mut self, resp: MetadataResponse) -> ClusterMetadata {
        let brokers: Vec<BrokerMetadata> = resp
            .brokers
            .into_iter()
            .map(|b| BrokerMetadata {
                node_id: b.node_id,
                host: b.host,
                port: b.port,
                rack: b.rack,
            })
            .collect();
        self.brokers = brokers.iter().map(|b| (b.node_id, b.clone())).collect();
        self.cluster_id = resp.cluster_id.clone();
        self.controller_id = resp.controller_id;
        // Give bootstrap connections their node id when the address matches.
        let bootstrap: Vec<i32> = self.conns.keys().copied().filter(|k| *k < 0).collect();
        for key in bootstrap {
            let addr = self.conns[&key].addr().to_string();
            if let Some(b) = brokers.iter().find(|b| b.addr() == addr) {
                if !self.conns.contains_key(&b.node_id) {
                    let conn = self.conns.remove(&key).expect("listed above");
                    self.conns.insert(b.node_id, conn);
                }
            }
        }
        // Drop connections to brokers that left.
        self.conns
            .retain(|k, _| *k < 0 || self.brokers.contains_key(k));

        let mut topics = Vec::with_capacity(resp.topics.len());
        for t in resp.topics {
            let name = t.name.unwrap_or_default();
            let mut partitions: Vec<PartitionMetadata> = t
                .partitions
                .into_iter()
                .map(|p| PartitionMetadata {
                    partition: p.partition_index,
                    leader: p.leader_id,
                    leader_epoch: p.leader_epoch,
                    replicas: p.replica_nodes,
                    isr: p.isr_nodes,
                    offline_replicas: p.offline_replicas,
                    error: ErrorCode(p.error_code),
                })
                .collect();
            partitions.sort_by_key(|p| p.partition);
            let topic = TopicMetadata {
                name: name.clone(),
                topic_id: t.topic_id,
                is_internal: t.is_internal,
                error: ErrorCode(t.error_code),
                partitions,
            };
            if topic.error.is_error() {
                self.topics.remove(&name);
            } else {
                self.topics.insert(name, topic.clone());
            }
            topics.push(topic);
        }
        ClusterMetadata {
            cluster_id: resp.cluster_id,
            controller_id: resp.controller_id,
            brokers,
            topics,
        }
    }

    /// The metadata of one topic, refreshed; an error when the broker does
    /// not know it.
    pub async fn topic_metadata(&mut self, topic: &str) -> Result<TopicMetadata> {
        let mut attempt = 0;
        loop {
            let result = self.metadata(Some(&[topic])).await.and_then(|md| {
                let t = md
                    .topics
                    .into_iter()
                    .find(|t| t.name == topic)
                    .ok_or_else(|| {
                        Error::Protocol(format!("the metadata answer leaves out topic {topic}"))
                    })?;
                if t.error.is_error() {
                    return Err(Error::broker(t.error, None, format!("topic {topic}")));
                }
                Ok(t)
            });
            match result {
                Err(e) if self.backoff(&e, attempt, true).await => attempt += 1,
                other => return other,
            }
        }
    }

    /// The number of partitions of `topic` (from the cache when there).
    pub async fn partition_count(&mut self, topic: &str) -> Result<i32> {
        if let Some(t) = self.topics.get(topic) {
            return Ok(t.partitions.len() as i32);
        }
        Ok(self.topic_metadata(topic).await?.partitions.len() as i32)
    }

    /// The partition a record with `key` goes to by Kafka's default rule.
    pub async fn partition_for_key(&mut self, topic: &str, key: &[u8]) -> Result<i32> {
        let n = self.partition_count(topic).await?;
        if n <= 0 {
            return Err(Error::Invalid(format!("topic {topic} has no partitions")));
        }
        Ok(partition_for_key(key, n))
    }

    /// The node id of the leader of `topic`-`partition`.
    async fn leader_for(&mut self, topic: &str, partition: i32) -> Result<i32> {
        if let Some(p) = self
            .topics
            .get(topic)
            .and_then(|t| t.partitions.iter().find(|p| p.partition == partition))
        {
            if p.leader >= 0 {
                return Ok(p.leader);
            }
        }
        let md = self.metadata(Some(&[topic])).await?;
        let t = md.topics.iter().find(|t| t.name == topic).ok_or_else(|| {
            Error::Protocol(format!("the metadata answer leaves out topic {topic}"))
        })?;
        if t.error.is_error() {
            return Err(Error::broker(t.error, None, format!("topic {topic}")));
        }
        let p = t
            .partitions
            .iter()
            .find(|p| p.partition == partition)
            .ok_or_else(|| {
                Error::Invalid(format!(
                    "topic {topic} has {} partitions; there is no partition {partition}",
                    t.partitions.len()
                ))
            })?;
        if p.leader < 0 {
            let code = if p.error.is_error() {
                p.error
            } else {
                ErrorCode::LEADER_NOT_AVAILABLE
            };
            return Err(Error::broker(code, None, format!("{topic}-{partition}")));
        }
        Ok(p.leader)
    }

    /// Lists topic names, sorted.
    pub async fn list_topics(&mut self, include_internal: bool) -> Result<Vec<String>> {
        let md = self.metadata(None).await?;
        let mut names: Vec<String> = md
            .topics
            .into_iter()
            .filter(|t| !t.error.is_error() && (include_internal || !t.is_internal))
            .map(|t| t.name)
            .collect();
        names.sort();
        Ok(names)
    }

    /// The cluster id, controller and brokers: DescribeCluster when the
    /// broker has it, Metadata otherwise.
    pub async fn describe_cluster(&mut self) -> Result<ClusterDescription> {
        let key = self.any_connection().await?;
        let conn = self.conn_mut(key);
        if let Ok(version) = conn.negotiated_version(ApiKey::DescribeCluster) {
            let resp = conn
                .send_version(&DescribeClusterRequest::default(), version)
                .await?;
            let code = ErrorCode(resp.error_code);
            if code.is_error() {
                return Err(Error::broker(
                    code,
                    nonempty(resp.error_message),
                    "describe cluster",
                ));
            }
            let mut brokers: Vec<BrokerMetadata> = resp
                .brokers
                .into_iter()
                .map(|b| BrokerMetadata {
                    node_id: b.broker_id,
                    host: b.host,
                    port: b.port,
                    rack: b.rack,
                })
                .collect();
            brokers.sort_by_key(|b| b.node_id);
            return Ok(ClusterDescription {
                cluster_id: Some(resp.cluster_id),
                controller_id: resp.controller_id,
                brokers,
            });
        }
        let md = self.metadata(Some(&[])).await?;
        Ok(ClusterDescription {
            cluster_id: md.cluster_id,
            controller_id: md.controller_id,
            brokers: md.brokers,
        })
    }

    // ---- admin -------------------------------------------------------

    /// Creates topics; one result per topic, in order. The outer error is
    /// for the request as a whole.
    pub async fn create_topics(
        &mut self,
        topics: &[NewTopic],
    ) -> Result<Vec<Result<CreatedTopic>>> {
        let mut attempt = 0;
        loop {
            let result = self.create_topics_once(topics).await;
            // Sent to a broker that is not (or no longer) the controller, or
            // could not reach it: learn the controller again and retry.
            let misdirected = match &result {
                Err(e) => {
                    matches!(e, Error::Connect { .. })
                        || e.code() == Some(ErrorCode::NOT_CONTROLLER)
                }
                Ok(results) => results
                    .iter()
                    .any(|r| matches!(r, Err(e) if e.code() == Some(ErrorCode::NOT_CONTROLLER))),
            };
            if misdirected && attempt < self.config.retries {
                attempt += 1;
                tokio::time::sleep(self.config.retry_backoff).await;
                self.metadata(Some(&[])).await?;
                continue;
            }
            return result;
        }
    }

    async fn create_topics_once(
        &mut self,
        topics: &[NewTopic],
    ) -> Result<Vec<Result<CreatedTopic>>> {
        let timeout_ms = millis_i32(self.config.connection.request_timeout);
        let key = self.admin_connection().await?;
        let conn = self.conn_mut(key);
        let version = conn.negotiated_version(ApiKey::CreateTopics)?;
        // Broker defaults (-1) need v4+.
        let (default_partitions, default_rf) = if version >= 4 { (-1, -1) } else { (1, 1) };
        let req = CreateTopicsRequest {
            topics: topics
                .iter()
                .map(|t| CreatableTopic {
                    name: t.name.clone(),
                    num_partitions: t.num_partitions.unwrap_or(default_partitions),
                    replication_factor: t.replication_factor.unwrap_or(default_rf),
                    configs: t
                        .configs
                        .iter()
                        .map(|(k, v)| CreatableTopicConfig {
                            name: k.clone(),
                            value: Some(v.clone()),
                            ..Default::default()
                        })
                        .collect(),
                    ..Default::default()
                })
                .collect(),
            timeout_ms,
            ..Default::default()
        };
        let resp = conn.send_version(&req, version).await?;
        Ok(topics
            .iter()
            .map(|t| {
                let r = resp
                    .topics
                    .iter()
                    .find(|r| r.name == t.name)
                    .ok_or_else(|| {
                        Error::Protocol(format!("CreateTopics answer leaves out {}", t.name))
                    })?;
                let code = ErrorCode(r.error_code);
                if code.is_error() {
                    return Err(Error::broker(
                        code,
                        nonempty(r.error_message.clone()),
                        format!("create topic {}", t.name),
                    ));
                }
                Ok(CreatedTopic {
                    name: t.name.clone(),
                    topic_id: r.topic_id,
                    num_partitions: r.num_partitions,
                    replication_factor: r.replication_factor,
                })
            })
            .collect())
    }

    /// Creates one topic.
    pub async fn create_topic(&mut self, topic: &NewTopic) -> Result<CreatedTopic> {
        self.create_topics(std::slice::from_ref(topic))
            .await?
            .pop()
            .expect("one result per topic")
    }

    /// Deletes topics by name; one result per topic, in order.
    pub async fn delete_topics(&mut self, names: &[&str]) -> Result<Vec<Result<()>>> {
        let timeout_ms = millis_i32(self.config.connection.request_timeout);
        let key = self.admin_connection().await?;
        let conn = self.conn_mut(key);
        let version = conn.negotiated_version(ApiKey::DeleteTopics)?;
        let mut req = DeleteTopicsRequest {
            timeout_ms,
            ..Default::default()
        };
        if version >= 6 {
            req.topics = names
                .iter()
                .map(|n| DeleteTopicState {
                    name: Some(n.to_string()),
                    topic_id: Uuid::ZERO,
                    ..Default::default()
                })
                .collect();
        } else {
            req.topic_names = names.iter().map(|n| n.to_string()).collect();
        }
        let resp = conn.send_version(&req, version).await?;
        for n in names {
            self.topics.remove(*n);
        }
        Ok(names
            .iter()
            .map(|n| {
                let r = resp
                    .responses
                    .iter()
                    .find(|r| r.name.as_deref() == Some(n))
                    .ok_or_else(|| {
                        Error::Protocol(format!("DeleteTopics answer leaves out {n}"))
                    })?;
                let code = ErrorCode(r.error_code);
                if code.is_error() {
                    return Err(Error::broker(
                        code,
                        nonempty(r.error_message.clone()),
                        format!("delete topic {n}"),
                    ));
                }
                Ok(())
            })
            .collect())
    }

    /// Deletes one topic.
    pub async fn delete_topic(&mut self, name: &str) -> Result<()> {
        self.delete_topics(&[name])
            .await?
            .pop()
            .expect("one result per topic")
    }

    /// Raises the partition count of `topic` to `new_total`.
    pub async fn create_partitions(&mut self, topic: &str, new_total: i32) -> Result<()> {
        let timeout_ms = millis_i32(self.config.connection.request_timeout);
        let key = self.admin_connection().await?;
        let conn = self.conn_mut(key);
        let req = CreatePartitionsRequest {
            topics: vec![CreatePartitionsTopic {
                name: topic.to_string(),
                count: new_total,
                assignments: None,
                ..Default::default()
            }],
            timeout_ms,
            ..Default::default()
        };
        let resp = conn.send(&req).await?;
        self.topics.remove(topic);
        let r = resp
            .results
            .iter()
            .find(|r| r.name == topic)
            .ok_or_else(|| {
                Error::Protocol(format!("CreatePartitions answer leaves out {topic}"))
            })?;
        let code = ErrorCode(r.error_code);
        if code.is_error() {
            return Err(Error::broker(
                code,
                nonempty(r.error_message.clone()),
                format!("add partitions to {topic}"),
            ));
        }
        Ok(())
    }

    /// Starts, changes or cancels partition reassignments (KIP-455): each
    /// partition to its target replicas, or `None` to cancel the one in
    /// progress. One result per partition, in order; the reassignments
    /// have started when this returns and complete as the new replicas
    /// catch up (see [`Client::list_partition_reassignments`]).
    pub async fn alter_partition_reassignments(
        &mut self,
        reassignments: &[(TopicPartition, Option<Vec<i32>>)],
    ) -> Result<Vec<Result<()>>> {
        use vltava_protocol::messages::alter_partition_reassignments_request::{
            ReassignablePartition, ReassignableTopic,
        };
        let timeout_ms = millis_i32(self.config.connection.request_timeout);
        let mut topics: Vec<ReassignableTopic> = Vec::new();
        for (tp, target) in reassignments {
            let partition = ReassignablePartition {
                partition_index: tp.partition,
                replicas: target.clone(),
                ..Default::default()
            };
            match topics.last_mut() {
                Some(t) if t.name == tp.topic => t.partitions.push(partition),
                _ => topics.push(ReassignableTopic {
                    name: tp.topic.clone(),
                    partitions: vec![partition],
                    ..Default::default()
                }),
            }
        }
        let key = self.admin_connection().await?;
        let req = AlterPartitionReassignmentsRequest {
            timeout_ms,
            topics,
            ..Default::default()
        };
        let resp = self.conn_mut(key).send(&req).await?;
        let code = ErrorCode(resp.error_code);
        if code.is_error() {
            return Err(Error::broker(
                code,
                nonempty(resp.error_message),
                "alter partition reassignments",
            ));
        }
        for (tp, _) in reassignments {
            self.topics.remove(&tp.topic);
        }
        let answers: Vec<(String, i32, ErrorCode, Option<String>)> = resp
            .responses
            .into_iter()
            .flat_map(|t| {
                let name = t.name;
                t.partitions.into_iter().map(move |p| {
                    (
                        name.clone(),
                        p.partition_index,
                        ErrorCode(p.error_code),
                        p.error_message,
                    )
                })
            })
            .collect();
        if answers.len() != reassignments.len() {
            return Err(Error::Protocol(format!(
                "AlterPartitionReassignments answered {} of {} partitions",
                answers.len(),
                reassignments.len()
            )));
        }
        Ok(reassignments
            .iter()
            .zip(answers)
            .map(|((tp, _), (topic, partition, code, message))| {
                if topic != tp.topic || partition != tp.partition {
                    return Err(Error::Protocol(format!(
                        "AlterPartitionReassignments answered {topic}-{partition} for {tp}"
                    )));
                }
                if code.is_error() {
                    return Err(Error::broker(
                        code,
                        nonempty(message),
                        format!("reassign {tp}"),
                    ));
                }
                Ok(())
            })
            .collect())
    }

    /// The partition reassignments in progress: of the given partitions,
    /// or (`None`) of every partition; sorted by topic and partition.
    pub async fn list_partition_reassignments(
        &mut self,
        partitions: Option<&[TopicPartition]>,
    ) -> Result<Vec<PartitionReassignment>> {
        use vltava_protocol::messages::list_partition_reassignments_request::ListPartitionReassignmentsTopics;
        let timeout_ms = millis_i32(self.config.connection.request_timeout);
        let topics = partitions.map(|wanted| {
            let mut by_topic: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
            for tp in wanted {
                by_topic.entry(&tp.topic).or_default().push(tp.partition);
            }
            by_topic
                .into_iter()
                .map(
                    |(name, partition_indexes)| ListPartitionReassignmentsTopics {
                        name: name.to_string(),
                        partition_indexes,
                        ..Default::default()
                    },
                )
                .collect()
        });
        let key = self.admin_connection().await?;
        let req = ListPartitionReassignmentsRequest {
            timeout_ms,
            topics,
            ..Default::default()
        };
        let resp = self.conn_mut(key).send(&req).await?;
        let code = ErrorCode(resp.error_code);
        if code.is_error() {
            return Err(Error::broker(
                code,
                nonempty(resp.error_message),
                "list partition reassignments",
            ));
        }
        let mut out: Vec<PartitionReassignment> = resp
            .topics
            .into_iter()
            .flat_map(|t| {
                let topic = t.name;
                t.partitions
                    .into_iter()
                    .map(move |p| PartitionReassignment {
                        topic: topic.clone(),
                        partition: p.partition_index,
                        replicas: p.replicas,
                        adding_replicas: p.adding_replicas,
                        removing_replicas: p.removing_replicas,
                    })
            })
            .collect();
        out.sort_by(|a, b| (&a.topic, a.partition).cmp(&(&b.topic, b.partition)));
        Ok(out)
    }

    /// The configuration of a topic or broker, sorted by name.
    pub async fn describe_configs(
        &mut self,
        resource: &ConfigResource,
    ) -> Result<Vec<ConfigEntry>> {
        // Broker configs must be asked of that broker.
        let key = match resource {
            ConfigResource::Broker(id) => {
                self.connection(*id).await?;
                *id
            }
            ConfigResource::Topic(_) => self.any_connection().await?,
        };
        let conn = self.conn_mut(key);
        let version = conn.negotiated_version(ApiKey::DescribeConfigs)?;
        let req = DescribeConfigsRequest {
            resources: vec![DescribeConfigsResource {
                resource_type: resource.resource_type(),
                resource_name: resource.resource_name(),
                configuration_keys: None,
                ..Default::default()
            }],
            ..Default::default()
        };
        let resp = conn.send_version(&req, version).await?;
        let r = resp
            .results
            .into_iter()
            .find(|r| r.resource_name == resource.resource_name())
            .ok_or_else(|| {
                Error::Protocol(format!("DescribeConfigs answer leaves out {resource}"))
            })?;
        let code = ErrorCode(r.error_code);
        if code.is_error() {
            return Err(Error::broker(
                code,
                nonempty(r.error_message),
                format!("describe configs of {resource}"),
            ));
        }
        let mut entries: Vec<ConfigEntry> = r
            .configs
            .into_iter()
            .map(|c| {
                let (source, is_default) = if version == 0 {
                    let source = if c.is_default {
                        ConfigSource::Default
                    } else if matches!(resource, ConfigResource::Topic(_)) {
                        ConfigSource::DynamicTopic
                    } else {
                        ConfigSource::StaticBroker
                    };
                    (source, c.is_default)
                } else {
                    let source = ConfigSource::from_i8(c.config_source);
                    (source, source == ConfigSource::Default)
                };
                ConfigEntry {
                    name: c.name,
                    value: c.value,
                    source,
                    is_default,
                    read_only: c.read_only,
                    is_sensitive: c.is_sensitive,
                }
            })
            .collect();
        entries.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(entries)
    }

    /// Changes configuration with IncrementalAlterConfigs.
    pub async fn alter_configs(
        &mut self,
        resource: &ConfigResource,
        ops: &[AlterConfigOp],
    ) -> Result<()> {
        let key = match resource {
            ConfigResource::Broker(id) => {
                self.connection(*id).await?;
                *id
            }
            ConfigResource::Topic(_) => self.admin_connection().await?,
        };
        let conn = self.conn_mut(key);
        let req = IncrementalAlterConfigsRequest {
            resources: vec![AlterConfigsResource {
                resource_type: resource.resource_type(),
                resource_name: resource.resource_name(),
                configs: ops
                    .iter()
                    .map(|op| {
                        let (name, operation, value) = op.wire();
                        AlterableConfig {
                            name: name.to_string(),
                            config_operation: operation,
                            value: value.map(str::to_string),
                            ..Default::default()
                        }
                    })
                    .collect(),
                ..Default::default()
            }],
            validate_only: false,
            ..Default::default()
        };
        let resp = conn.send(&req).await?;
        let r = resp
            .responses
            .into_iter()
            .find(|r| r.resource_name == resource.resource_name())
            .ok_or_else(|| {
                Error::Protocol(format!(
                    "IncrementalAlterConfigs answer leaves out {resource}"
                ))
            })?;
        let code = ErrorCode(r.error_code);
        if code.is_error() {
            return Err(Error::broker(
                code,
                nonempty(r.error_message),
                format!("alter configs of {resource}"),
            ));
        }
        Ok(())
    }

    // ---- partition leaders: offsets, records -------------------------

    /// Finds an offset of `topic`-`partition` by ListOffsets.
    pub async fn list_offsets(
        &mut self,
        topic: &str,
        partition: i32,
        spec: OffsetSpec,
    ) -> Result<ListedOffset> {
        self.retry_on_leader(topic, true, async |c| {
            c.list_offsets_once(topic, partition, spec).await
        })
        .await
    }

    async fn list_offsets_once(
        &mut self,
        topic: &str,
        partition: i32,
        spec: OffsetSpec,
    ) -> Result<ListedOffset> {
        let leader = self.leader_for(topic, partition).await?;
        let timeout_ms = millis_i32(self.config.connection.request_timeout);
        let conn = self.connection(leader).await?;
        let min_version = if spec == OffsetSpec::MaxTimestamp {
            7
        } else {
            1
        };
        let version = conn.negotiated_version_at_least(ApiKey::ListOffsets, min_version)?;
        let req = ListOffsetsRequest {
            replica_id: -1,
            topics: vec![ListOffsetsTopic {
                name: topic.to_string(),
                partitions: vec![ListOffsetsPartition {
                    partition_index: partition,
                    timestamp: spec.wire_timestamp(),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            timeout_ms,
            ..Default::default()
        };
        let resp = conn.send_version(&req, version).await?;
        let p = resp
            .topics
            .iter()
            .filter(|t| t.name == topic)
            .flat_map(|t| t.partitions.iter())
            .find(|p| p.partition_index == partition)
            .ok_or_else(|| {
                Error::Protocol(format!("ListOffsets answer leaves out {topic}-{partition}"))
            })?;
        let code = ErrorCode(p.error_code);
        if code.is_error() {
            return Err(Error::broker(
                code,
                None,
                format!("list offsets of {topic}-{partition}"),
            ));
        }
        Ok(ListedOffset {
            offset: p.offset,
            timestamp: p.timestamp,
            leader_epoch: p.leader_epoch,
        })
    }

    /// Deletes the records of `topic`-`partition` before `offset` (-1: the
    /// high watermark); returns the new log start offset.
    pub async fn delete_records(
        &mut self,
        topic: &str,
        partition: i32,
        offset: i64,
    ) -> Result<i64> {
        self.retry_on_leader(topic, true, async |c| {
            c.delete_records_once(topic, partition, offset).await
        })
        .await
    }

    async fn delete_records_once(
        &mut self,
        topic: &str,
        partition: i32,
        offset: i64,
    ) -> Result<i64> {
        let leader = self.leader_for(topic, partition).await?;
        let timeout_ms = millis_i32(self.config.connection.request_timeout);
        let conn = self.connection(leader).await?;
        let req = DeleteRecordsRequest {
            topics: vec![DeleteRecordsTopic {
                name: topic.to_string(),
                partitions: vec![DeleteRecordsPartition {
                    partition_index: partition,
                    offset,
                    ..Default::default()
                }],
                ..Default::default()
            }],
            timeout_ms,
            ..Default::default()
        };
        let resp = conn.send(&req).await?;
        let p = resp
            .topics
            .iter()
            .filter(|t| t.name == topic)
            .flat_map(|t| t.partitions.iter())
            .find(|p| p.partition_index == partition)
            .ok_or_else(|| {
                Error::Protocol(format!(
                    "DeleteRecords answer leaves out {topic}-{partition}"
                ))
            })?;
        let code = ErrorCode(p.error_code);
        if code.is_error() {
            return Err(Error::broker(
                code,
                None,
                format!("delete records of {topic}-{partition} before {offset}"),
            ));
        }
        Ok(p.low_watermark)
    }

    /// Writes `records` to `topic`-`partition` as one batch; returns the
    /// offset of the first (-1 with [`Acks::None`], which gets no answer).
    pub async fn produce(
        &mut self,
        topic: &str,
        partition: i32,
        records: &[ProducerRecord],
        acks: Acks,
        compression: Compression,
    ) -> Result<i64> {
        if records.is_empty() {
            return Err(Error::Invalid("nothing to produce".to_string()));
        }
        let batch = build_batch(records, compression)?;
        self.produce_batch(topic, partition, batch, acks).await
    }

    /// Writes an already encoded batch (or several, concatenated).
    pub async fn produce_batch(
        &mut self,
        topic: &str,
        partition: i32,
        batch: Bytes,
        acks: Acks,
    ) -> Result<i64> {
        self.retry_on_leader(topic, false, async |c| {
            c.produce_once(topic, partition, &batch, acks).await
        })
        .await
    }

    async fn produce_once(
        &mut self,
        topic: &str,
        partition: i32,
        batch: &Bytes,
        acks: Acks,
    ) -> Result<i64> {
        let leader = self.leader_for(topic, partition).await?;
        let request_timeout = self.config.connection.request_timeout;
        let conn = self.connection(leader).await?;
        // Record batches v2 need Produce v3+.
        let version = conn.negotiated_version_at_least(ApiKey::Produce, 3)?;
        let req = ProduceRequest {
            transactional_id: None,
            acks: acks.wire(),
            timeout_ms: millis_i32(request_timeout),
            topic_data: vec![TopicProduceData {
                name: topic.to_string(),
                partition_data: vec![PartitionProduceData {
                    index: partition,
                    records: Some(batch.clone()),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        };
        if acks == Acks::None {
            conn.send_without_response(&req, version).await?;
            return Ok(-1);
        }
        // The broker answers by timeout_ms at the latest; leave it room.
        let wait = request_timeout + Duration::from_secs(5);
        let resp = conn.send_version_timeout(&req, version, wait).await?;
        let p = resp
            .responses
            .iter()
            .filter(|t| t.name == topic)
            .flat_map(|t| t.partition_responses.iter())
            .find(|p| p.index == partition)
            .ok_or_else(|| {
                Error::Protocol(format!("Produce answer leaves out {topic}-{partition}"))
            })?;
        let code = ErrorCode(p.error_code);
        if code.is_error() {
            let mut message = nonempty(p.error_message.clone());
            if message.is_none() && !p.record_errors.is_empty() {
                message = Some(
                    p.record_errors
                        .iter()
                        .map(|r| {
                            format!(
                                "record {}: {}",
                                r.batch_index,
                                r.batch_index_error_message.as_deref().unwrap_or("invalid")
                            )
                        })
                        .collect::<Vec<_>>()
                        .join("; "),
                );
            }
            return Err(Error::broker(
                code,
                message,
                format!("produce to {topic}-{partition}"),
            ));
        }
        Ok(p.base_offset)
    }

    /// Reads records of one partition from `offset`. OFFSET_OUT_OF_RANGE is
    /// an error (there is no reset policy here).
    pub async fn fetch(
        &mut self,
        topic: &str,
        partition: i32,
        offset: i64,
        max_wait_ms: i32,
        max_bytes: i32,
    ) -> Result<FetchedPartition> {
        let opts = FetchOptions {
            max_wait_ms,
            min_bytes: 1,
            max_bytes,
            partition_max_bytes: max_bytes,
        };
        let position = FetchPosition {
            topic: topic.to_string(),
            partition,
            offset,
        };
        let mut out = self
            .fetch_many(std::slice::from_ref(&position), &opts)
            .await?;
        Ok(out.pop().expect("one result per position"))
    }

    /// Reads several partitions, one request per leader; results in the
    /// order of `positions`.
    pub async fn fetch_many(
        &mut self,
        positions: &[FetchPosition],
        opts: &FetchOptions,
    ) -> Result<Vec<FetchedPartition>> {
        let mut results: Vec<Option<FetchedPartition>> = vec![None; positions.len()];
        let mut pending: Vec<usize> = (0..positions.len()).collect();
        let mut attempt = 0;
        while !pending.is_empty() {
            let mut retry = Vec::new();
            let mut last_err = None;
            let mut by_leader: BTreeMap<i32, Vec<usize>> = BTreeMap::new();
            for &i in &pending {
                let p = &positions[i];
                match self.leader_for(&p.topic, p.partition).await {
                    Ok(leader) => by_leader.entry(leader).or_default().push(i),
                    Err(e) if retriable(&e, true) => {
                        retry.push(i);
                        last_err = Some(e);
                    }
                    Err(e) => return Err(e),
                }
            }
            for (leader, indexes) in by_leader {
                match self.fetch_from(leader, positions, &indexes, opts).await {
                    Ok(outcomes) => {
                        for (i, outcome) in outcomes {
                            match outcome {
                                Ok(fetched) => results[i] = Some(fetched),
                                Err(e) if retriable(&e, true) => {
                                    retry.push(i);
                                    last_err = Some(e);
                                }
                                Err(e) => return Err(e),
                            }
                        }
                    }
                    Err(e) if retriable(&e, true) => {
                        retry.extend(indexes);
                        last_err = Some(e);
                    }
                    Err(e) => return Err(e),
                }
            }
            if let Some(e) = last_err {
                if !self.backoff(&e, attempt, true).await {
                    return Err(e);
                }
                attempt += 1;
                for &i in &retry {
                    self.topics.remove(&positions[i].topic);
                }
            }
            pending = retry;
        }
        Ok(results
            .into_iter()
            .map(|r| r.expect("every position fetched or failed"))
            .collect())
    }

    /// One Fetch request to `leader` for `positions[indexes]`. The outer
    /// error is for the request; the inner ones per partition.
    async fn fetch_from(
        &mut self,
        leader: i32,
        positions: &[FetchPosition],
        indexes: &[usize],
        opts: &FetchOptions,
    ) -> Result<Vec<(usize, Result<FetchedPartition>)>> {
        // Fetch v13+ names topics by id; without ids, stay at v12.
        let ids: HashMap<&str, Uuid> = indexes
            .iter()
            .map(|&i| {
                let topic = positions[i].topic.as_str();
                let id = self.topics.get(topic).map_or(Uuid::ZERO, |t| t.topic_id);
                (topic, id)
            })
            .collect();
        let wait = self.config.connection.request_timeout
            + Duration::from_millis(opts.max_wait_ms.max(0) as u64);
        let conn = self.connection(leader).await?;
        let mut version = conn.negotiated_version_at_least(ApiKey::Fetch, 4)?;
        if ids.values().any(Uuid::is_zero) {
            version = version.min(12);
        }
        let mut topics: Vec<FetchTopic> = Vec::new();
        for &i in indexes {
            let p = &positions[i];
            let partition = FetchPartition {
                partition: p.partition,
                fetch_offset: p.offset,
                partition_max_bytes: opts.partition_max_bytes,
                ..Default::default()
            };
            match topics.iter_mut().find(|t| t.topic == p.topic) {
                Some(t) => t.partitions.push(partition),
                None => topics.push(FetchTopic {
                    topic: p.topic.clone(),
                    topic_id: ids[p.topic.as_str()],
                    partitions: vec![partition],
                    ..Default::default()
                }),
            }
        }
        let req = FetchRequest {
            max_wait_ms: opts.max_wait_ms,
            min_bytes: opts.min_bytes,
            max_bytes: opts.max_bytes,
            isolation_level: 0,
            session_id: 0,
            session_epoch: -1,
            topics,
            ..Default::default()
        };
        let mut resp = conn.send_version_timeout(&req, version, wait).await?;
        let code = ErrorCode(resp.error_code);
        if code.is_error() {
            return Err(Error::broker(
                code,
                None,
                format!("fetch from broker {leader}"),
            ));
        }
        let mut out = Vec::with_capacity(indexes.len());
        for &i in indexes {
            let p = &positions[i];
            let id = ids[p.topic.as_str()];
            let data = resp
                .responses
                .iter_mut()
                .filter(|t| {
                    if version >= 13 {
                        t.topic_id == id
                    } else {
                        t.topic == p.topic
                    }
                })
                .flat_map(|t| t.partitions.iter_mut())
                .find(|d| d.partition_index == p.partition);
            let Some(data) = data else {
                out.push((
                    i,
                    Err(Error::Protocol(format!(
                        "Fetch answer leaves out {}-{}",
                        p.topic, p.partition
                    ))),
                ));
                continue;
            };
            let code = ErrorCode(data.error_code);
            if code.is_error() {
                let message = (code == ErrorCode::OFFSET_OUT_OF_RANGE).then(|| {
                    format!(
                        "offset {} is outside the partition's range (log start {}, high \
                         watermark {})",
                        p.offset, data.log_start_offset, data.high_watermark
                    )
                });
                out.push((
                    i,
                    Err(Error::broker(
                        code,
                        message,
                        format!("fetch {}-{} at offset {}", p.topic, p.partition, p.offset),
                    )),
                ));
                continue;
            }
            let decoded = decode_fetched(
                data.records.take(),
                &p.topic,
                p.partition,
                p.offset,
                opts.partition_max_bytes,
            );
            out.push((
                i,
                decoded.map(|(records, next_offset)| FetchedPartition {
                    topic: p.topic.clone(),
                    partition: p.partition,
                    records,
                    next_offset,
                    high_watermark: data.high_watermark,
                    last_stable_offset: data.last_stable_offset,
                    log_start_offset: data.log_start_offset,
                }),
            ));
        }
        Ok(out)
    }
}
