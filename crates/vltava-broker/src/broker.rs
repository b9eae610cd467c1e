//! The broker as one value: the composition root that opens the data
//! directory, builds the parts (metadata cache, replica manager, controller,
//! coordinators) and owns them. It holds no state of its own beyond the
//! node's identity; each part is reached through its field, and the parts
//! are handed only the other parts they use, never the `Broker`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use std::collections::BTreeMap;

use tokio::sync::watch;
use tracing::{info, warn};
use vltava_config::{BrokerConfig, ProcessRoles, TopicConfig};
use vltava_metadata::{Endpoint, MetadataImage};
use vltava_quorum::driver::{Quorum, QuorumConfig};
use vltava_storage::{KafkaUuid, LogDirs, LogManagerOptions, MetaProperties};

use crate::clock::Clock;
use crate::controller::metadata_log::{MetadataLog, METADATA_DIR};
use crate::controller::Controller;
use crate::controller_channel::ControllerChannel;
use crate::coordinators::groups::{coordinator_config, GroupService};
use crate::coordinators::transactions::{txn_config, TxnService};
use crate::coordinators::CoordinatorDeps;
use crate::metadata_cache::MetadataCache;
use crate::metadata_publisher::{self, Applied};
use crate::network::outbound::OutboundSecurity;
use crate::peers::Peers;
use crate::quotas::ClientQuotas;
use crate::replica::{log_config_from, ReplicaManager};
use crate::stats::BrokerStats;

/// Limits the connection loop reads on every request.
#[derive(Clone, Copy, Debug)]
pub struct ConnectionLimits {
    pub max_request_bytes: usize,
    pub idle_timeout: Duration,
}

/// How long a single node may take to elect itself, load its metadata and
/// register before its start is called failed.
const STARTUP_LIMIT: Duration = Duration::from_secs(60);

/// Why the broker could not start.
#[derive(Debug)]
pub struct StartError(pub String);

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for StartError {}

pub struct Broker {
    pub node_id: i32,
    pub cluster_id: String,
    data_dir: PathBuf,
    listener_name: String,
    pub metadata: Arc<MetadataCache>,
    pub replicas: Arc<ReplicaManager>,
    pub controller: Arc<Controller>,
    /// This node's side of the active controller (registration,
    /// heartbeats, producer ids); `None` on a controller-only node.
    pub channel: Arc<ControllerChannel>,
    pub groups: Arc<GroupService>,
    pub txns: Arc<TxnService>,
    /// Progress of the metadata publisher.
    pub applied: watch::Receiver<Applied>,
    /// Counters of the request paths, read by the HTTP listener.
    pub stats: Arc<BrokerStats>,
    /// Client quotas in force (produce and fetch rates, connection rates).
    pub quotas: Arc<ClientQuotas>,
    /// The TLS of this node's connections to other nodes, reloaded when
    /// its files change.
    pub outbound_tls: Vec<Arc<vltava_tls::OutboundTls>>,
    roles: ProcessRoles,
    peers: Arc<Peers>,
    clock: Clock,
}

/// Whether the config makes this node part of a multi-node cluster: static
/// voters (`controller.quorum.voters`) or a dynamic quorum found through
/// `controller.quorum.bootstrap.servers` (KIP-853).
pub fn is_multi_node(config: &BrokerConfig) -> bool {
    !config.controller_quorum_voters().is_empty()
        || !config.controller_quorum_bootstrap_servers().is_empty()
}

/// This node's endpoints as a voter of the metadata quorum, as a
/// VotersRecord and AddRaftVoter carry them: its listeners named in
/// `controller.listener.names` (advertised first, then bound), or, when
/// none is named, its first listener, since a Vltava node then serves the
/// KRaft requests on it. An empty host is the loopback address, as the
/// server's own address is elsewhere.
pub fn controller_endpoints(config: &BrokerConfig) -> Vec<vltava_raft::Endpoint> {
    configured_controller_endpoints(config)
        .into_iter()
        .map(|e| vltava_raft::Endpoint {
            name: e.listener_name.clone(),
            host: if e.host.is_empty() {
                "127.0.0.1".to_string()
            } else {
                e.host.clone()
            },
            port: e.port,
        })
        .collect()
}

/// Where the metadata log's directory (`__cluster_metadata-0`) is made:
/// `metadata.log.dir`, or the `metadata` directory in the data directory.
pub fn metadata_dir(config: &BrokerConfig, data_dir: &Path) -> PathBuf {
    match config.metadata_log_dir_setting() {
        Some(dir) => PathBuf::from(dir),
        None => data_dir.join(METADATA_DIR),
    }
}

/// The listeners [`controller_endpoints`] takes, as configured.
fn configured_controller_endpoints(config: &BrokerConfig) -> Vec<vltava_config::Endpoint> {
    let names = config.controller_listener_names();
    let advertised = config.advertised_listeners();
    let bound = config.listeners();
    if names.is_empty() {
        return advertised.into_iter().take(1).collect();
    }
    names
        .iter()
        .filter_map(|n| {
            advertised
                .iter()
                .chain(bound.iter())
                .find(|e| &e.listener_name == n)
                .cloned()
        })
        .collect()
}

/// Why this node's controller endpoints cannot go into a dynamic quorum's
/// VotersRecord (KIP-853): the other nodes dial what it says, so a missing
/// or wildcard host (which would become this machine's loopback, or no
/// address at all, on theirs) is refused. `None` when they are usable.
pub fn dynamic_voter_endpoint_problem(config: &BrokerConfig) -> Option<String> {
    let endpoints = configured_controller_endpoints(config);
    if endpoints.is_empty() {
        return Some(
            "no controller listener (controller.listener.names in listeners or \
             advertised.listeners) to name this node's endpoint"
                .to_string(),
        );
    }
    endpoints
        .iter()
        .find(|e| e.host.is_empty() || e.host == "0.0.0.0" || e.host == "::")
        .map(|e| {
            format!(
                "the controller listener {} has no host other nodes can dial ({:?}): a dynamic \
                 quorum writes it into the metadata log for them; give it one in \
                 advertised.listeners",
                e.listener_name, e.host
            )
        })
}

/// The quorum settings from the broker config. Without
/// `controller.quorum.voters` or `controller.quorum.bootstrap.servers` the
/// node is a single-node cluster: a quorum of itself, reached at its own
/// advertised listener (never dialled). With bootstrap servers alone the
/// voters come from the metadata log (KIP-853).
fn quorum_config(
    config: &BrokerConfig,
    node_id: i32,
    cluster_id: &str,
    metadata_dir: PathBuf,
    own_address: String,
) -> QuorumConfig {
    let configured: BTreeMap<i32, String> = config
        .controller_quorum_voters()
        .into_iter()
        .map(|v| (v.id, format!("{}:{}", v.host, v.port)))
        .collect();
    let bootstrap_servers = config.controller_quorum_bootstrap_servers();
    let voters = if configured.is_empty() && bootstrap_servers.is_empty() {
        BTreeMap::from([(node_id, own_address)])
    } else {
        configured
    };
    let ms = |v: i32| v.max(0) as u64;
    let mut q = QuorumConfig::new(node_id, cluster_id, voters, metadata_dir);
    q.bootstrap_servers = bootstrap_servers;
    q.listener_name = config.controller_listener_names().into_iter().next();
    q.election_timeout_ms = ms(config.controller_quorum_election_timeout_ms());
    q.fetch_timeout_ms = ms(config.controller_quorum_fetch_timeout_ms());
    q.election_backoff_max_ms = ms(config.controller_quorum_election_backoff_max_ms());
    q.retry_backoff_ms = ms(config.controller_quorum_retry_backoff_ms());
    q.request_timeout_ms = ms(config.controller_quorum_request_timeout_ms());
    q.segment_bytes = config.metadata_log_segment_bytes().max(0) as u32;
    q
}

/// The broker's log directories: `data_dir` (where the metadata log lives
/// unless `metadata.log.dir` says otherwise) first, then every other
/// directory of `log.dirs`, in its order.
pub fn data_dirs(config: &BrokerConfig, data_dir: &Path) -> Vec<PathBuf> {
    let mut dirs = vec![data_dir.to_path_buf()];
    if config.get("log.dirs").is_some() {
        for dir in config.log_dirs() {
            let dir = PathBuf::from(dir);
            if !dirs.contains(&dir) {
                dirs.push(dir);
            }
        }
    }
    dirs
}

/// Each log directory with its `directory.id`. The first one is already
/// formatted (the caller checked its identity); another one that is empty
/// is formatted now for this node and cluster (a disk added to
/// `log.dirs`), one formatted for another node or cluster is refused, and
/// one without a `directory.id` (formatted before KIP-858) gets one.
fn identify_log_dirs(
    dirs: &[PathBuf],
    node_id: i32,
    cluster_id: &str,
) -> Result<Vec<(PathBuf, KafkaUuid)>, StartError> {
    let mut out: Vec<(PathBuf, KafkaUuid)> = Vec::with_capacity(dirs.len());
    for dir in dirs {
        let fail = |e: &dyn std::fmt::Display| StartError(format!("{}: {e}", dir.display()));
        std::fs::create_dir_all(dir).map_err(|e| fail(&e))?;
        let meta = vltava_storage::read_meta_properties(dir).map_err(|e| fail(&e))?;
        let id = match meta {
            Some(meta) if meta.node_id != node_id || meta.cluster_id != cluster_id => {
                return Err(StartError(format!(
                    "{} belongs to node {} of cluster {}, but this is node {node_id} of cluster {cluster_id}",
                    dir.display(),
                    meta.node_id,
                    meta.cluster_id
                )))
            }
            Some(MetaProperties {
                directory_id: Some(id),
                ..
            }) => id,
            found => {
                let id = KafkaUuid::random();
                vltava_storage::write_meta_properties(
                    dir,
                    &MetaProperties {
                        node_id,
                        cluster_id: cluster_id.to_string(),
                        directory_id: Some(id),
                    },
                )
                .map_err(|e| fail(&e))?;
                if found.is_none() {
                    info!(dir = %dir.display(), "formatted a new log directory");
                }
                id
            }
        };
        if let Some((other, _)) = out.iter().find(|(_, seen)| *seen == id) {
            return Err(StartError(format!(
                "{} and {} have the same directory.id {id}: one was copied from the other",
                other.display(),
                dir.display()
            )));
        }
        out.push((dir.clone(), id));
    }
    Ok(out)
}

impl Broker {
    /// Opens the data directory on the system clock (see `open_with_clock`).
    pub async fn open(config: BrokerConfig, data_dir: &Path) -> Result<Arc<Broker>, StartError> {
        Broker::open_with_clock(config, data_dir, Clock::system()).await
    }

    /// Opens the data directory: identity, partition logs (recovered if the
    /// last stop was unclean), and the metadata quorum, whose committed log
    /// the metadata publisher applies to the image from here on.
    ///
    /// A single node (no `controller.quorum.voters`) formats its directory
    /// on first start, elects itself, loads the metadata and registers
    /// before this returns, as it always has. A node of a multi-node quorum
    /// must be formatted (`vltava storage format`) and returns at once: it
    /// needs its listener up to take part in elections, and it joins (loads
    /// the metadata, registers, is unfenced) in the background.
    /// Everything the broker does reads the time from `clock`.
    pub async fn open_with_clock(
        config: BrokerConfig,
        data_dir: &Path,
        clock: Clock,
    ) -> Result<Arc<Broker>, StartError> {
        let now = clock.now_ms();
        let fail = |what: &str, e: &dyn std::fmt::Display| StartError(format!("{what}: {e}"));
        let multi_node = is_multi_node(&config);
        let static_voters = !config.controller_quorum_voters().is_empty();
        let roles = match config.process_roles() {
            // Unset: what `vltava server` alone runs, both roles.
            ProcessRoles {
                broker: false,
                controller: false,
            } => ProcessRoles {
                broker: true,
                controller: true,
            },
            roles => roles,
        };
        let node_id = config.node_id().unwrap_or(1);
        // A controller outside the configured voters is refused unless it
        // says it is meant to join later: with
        // `controller.quorum.bootstrap.servers` set it starts as an
        // observer (the quorum sees a node id it has no vote for) and
        // becomes a voter when the leader is sent AddRaftVoter (KIP-853).
        // Without that, such a config is most likely a typo in node.id or
        // the voters list, and the node would silently never vote.
        // (Without static voters at all, the quorum is dynamic: the voters
        // come from the bootstrap checkpoint and the log.)
        let joins_later = !config.controller_quorum_bootstrap_servers().is_empty();
        if roles.controller
            && static_voters
            && !joins_later
            && !config
                .controller_quorum_voters()
                .iter()
                .any(|v| v.id == node_id)
        {
            return Err(StartError(format!(
                "process.roles includes controller, but node.id={node_id} is not in controller.quorum.voters \
                 (set controller.quorum.bootstrap.servers to start it as an observer to be added with AddRaftVoter)"
            )));
        }
        if roles.controller && !static_voters && joins_later {
            if let Some(problem) = dynamic_voter_endpoint_problem(&config) {
                return Err(StartError(problem));
            }
        }
        if !roles.controller && !multi_node {
            return Err(StartError(
                "a broker-only node (process.roles=broker) needs controller.quorum.voters or \
                 controller.quorum.bootstrap.servers"
                    .into(),
            ));
        }
        // The TLS and SASL of the connections this node opens to the other
        // nodes, checked before anything is opened.
        let outbound = OutboundSecurity::from_config(&config, roles.broker).map_err(StartError)?;
        let outbound_tls = outbound.reloadable_tls();
        let config_dirs = data_dirs(&config, data_dir);
        std::fs::create_dir_all(data_dir)
            .map_err(|e| fail(&format!("cannot create {}", data_dir.display()), &e))?;
        let cluster_id = match vltava_storage::read_meta_properties(data_dir)
            .map_err(|e| fail("meta.properties", &e))?
        {
            Some(meta) if meta.node_id != node_id => {
                return Err(StartError(format!(
                    "{} belongs to node {}, but this broker is node.id={node_id}",
                    data_dir.display(),
                    meta.node_id
                )))
            }
            Some(meta) => meta.cluster_id,
            None if multi_node => {
                // Kafka's rule: a node of a multi-node quorum never formats
                // itself, so a wiped disk cannot rejoin as an empty voter
                // and help elect a leader that lacks committed metadata.
                return Err(StartError(format!(
                    "{} is not formatted; a node of a multi-node cluster starts only on a                      directory prepared with `vltava storage format --cluster-id ID --config FILE`",
                    data_dir.display()
                )));
            }
            None => {
                let cluster_id = KafkaUuid::random().to_string();
                let meta = MetaProperties {
                    node_id,
                    cluster_id: cluster_id.clone(),
                    directory_id: Some(KafkaUuid::random()),
                };
                vltava_storage::write_meta_properties(data_dir, &meta)
                    .map_err(|e| fail("meta.properties", &e))?;
                info!(%cluster_id, "formatted a new data directory");
                cluster_id
            }
        };

        // A metadata log in Vltava's earlier encoding is rewritten in
        // Kafka's record formats first; the quorum then opens the same log.
        let metadata_dir = metadata_dir(&config, data_dir);
        tokio::task::block_in_place(|| {
            MetadataLog::open_dir(&metadata_dir, now).and_then(|log| log.close())
        })
        .map_err(|e| fail("metadata log", &e))?;

        let advertised = config.advertised_listeners();
        let Some(listener) = advertised.first().cloned() else {
            return Err(StartError(
                "no listener configured (listeners / advertised.listeners)".into(),
            ));
        };
        let own_address = format!(
            "{}:{}",
            if listener.host.is_empty() {
                "127.0.0.1"
            } else {
                &listener.host
            },
            listener.port
        );
        let mut quorum_config =
            quorum_config(&config, node_id, &cluster_id, metadata_dir, own_address);
        // The voter key's directory: the one holding the metadata log, as
        // `storage format` wrote it (KIP-853).
        let metadata_home = config
            .metadata_log_dir_setting()
            .map_or_else(|| data_dir.to_path_buf(), PathBuf::from);
        if let Some(id) = vltava_storage::read_meta_properties(&metadata_home)
            .map_err(|e| fail("meta.properties", &e))?
            .and_then(|m| m.directory_id)
        {
            quorum_config.directory_id = id.0;
        }
        quorum_config.security = outbound.controller.security.clone();
        let voters = quorum_config.voters.clone();
        let single_voter = voters.len() == 1 && voters.contains_key(&node_id);
        let heartbeat_interval =
            Duration::from_millis(config.broker_heartbeat_interval_ms().max(1) as u64);
        let request_timeout =
            Duration::from_millis(config.controller_quorum_request_timeout_ms().max(1) as u64);

        let metadata = Arc::new(MetadataCache::new(config, node_id, MetadataImage::empty()));
        let dynamic = metadata.config();
        let group_config = coordinator_config(&dynamic);
        let txn_settings = txn_config(&dynamic);
        let default_log_config = log_config_from(&TopicConfig::new().resolve(&dynamic));
        let dirs = identify_log_dirs(&config_dirs, node_id, &cluster_id)?;
        let logs = tokio::task::block_in_place(|| {
            LogDirs::open(
                &dirs,
                LogManagerOptions {
                    default_config: default_log_config,
                    ..LogManagerOptions::default()
                },
                now,
            )
        })
        .map_err(|e| fail("opening the partition logs", &e))?;
        for d in logs.dirs() {
            if !d.logs.had_clean_shutdown() && !d.logs.logs().is_empty() {
                warn!(dir = %d.path.display(), "the last shutdown was not clean: partition logs were recovered");
            }
        }
        let replicas = Arc::new(ReplicaManager::new(Arc::new(logs)));

        let quorum = Quorum::start(quorum_config).map_err(|e| fail("metadata quorum", &e))?;
        let applied = metadata_publisher::spawn(
            quorum.clone(),
            metadata.clone(),
            replicas.clone(),
            node_id,
            clock.clone(),
        );
        let controller = Arc::new(Controller::new(
            node_id,
            cluster_id.clone(),
            quorum,
            metadata.clone(),
            replicas.clone(),
            applied.clone(),
            clock.clone(),
        ));
        let endpoints: Vec<Endpoint> = advertised
            .iter()
            .map(|e| Endpoint {
                listener: e.listener_name.clone(),
                host: if e.host.is_empty() {
                    "127.0.0.1".into()
                } else {
                    e.host.clone()
                },
                port: e.port,
                security_protocol: metadata
                    .static_config()
                    .security_protocol_of(&e.listener_name)
                    .map_or(0, |p| p.code()),
            })
            .collect();
        let channel = Arc::new(ControllerChannel::new(
            node_id,
            cluster_id.clone(),
            endpoints,
            metadata.static_config().broker_rack(),
            controller.clone(),
            applied.clone(),
            heartbeat_interval,
            request_timeout,
            Duration::from_millis(metadata.config().broker_session_timeout_ms().max(1) as u64),
            outbound.controller.security.clone(),
            replicas.log_dirs().clone(),
            replicas.log_dirs().previous_broker_epoch(),
        ));
        let peers = Arc::new(Peers::new(
            node_id,
            metadata.clone(),
            request_timeout,
            outbound.inter_broker,
        ));
        let deps = CoordinatorDeps {
            node_id,
            peers: peers.clone(),
            metadata: metadata.clone(),
            controller: controller.clone(),
            channel: channel.clone(),
            replicas: replicas.clone(),
            clock: clock.clone(),
        };
        let groups = Arc::new(GroupService::new(
            group_config,
            u64::from_le_bytes(KafkaUuid::random().0[..8].try_into().expect("8 bytes")),
            deps.clone(),
        ));
        let txns = Arc::new(TxnService::new(txn_settings, deps, groups.clone()));
        let quotas = {
            let config = metadata.static_config();
            Arc::new(ClientQuotas::new(
                config.quota_window_num(),
                config.quota_window_size_seconds(),
                clock.clone(),
            ))
        };
        let broker = Arc::new(Broker {
            node_id,
            cluster_id,
            data_dir: data_dir.to_path_buf(),
            listener_name: listener.listener_name.clone(),
            metadata,
            replicas,
            controller,
            channel,
            groups,
            txns,
            applied,
            stats: Arc::new(BrokerStats::default()),
            quotas,
            outbound_tls,
            roles,
            peers,
            clock,
        });
        if single_voter {
            // Nothing to wait for but our own disk: be ready on return.
            let mut applied = broker.applied.clone();
            let loaded = applied.wait_for(|a| a.loaded || a.failed);
            match tokio::time::timeout(STARTUP_LIMIT, loaded).await {
                Ok(Ok(a)) if a.loaded => {}
                _ => {
                    return Err(StartError(
                        "the metadata log could not be loaded; see the log above".into(),
                    ))
                }
            }
            if roles.broker {
                broker
                    .channel
                    .join(STARTUP_LIMIT)
                    .await
                    .map_err(|e| StartError(format!("registering the broker: {}", e.message)))?;
            }
        }
        Ok(broker)
    }

    /// Whether this node runs the broker role (hosts partitions and
    /// registers with the controller).
    pub fn is_broker(&self) -> bool {
        self.roles.broker
    }

    /// Whether this node runs the controller role (votes, or may vote, in
    /// the metadata quorum).
    pub fn is_controller(&self) -> bool {
        self.roles.controller
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    pub fn listener_name(&self) -> &str {
        &self.listener_name
    }

    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    pub fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    /// High watermarks of partitions this node does not host, asked of
    /// their leaders with ListOffsets (latest, read_uncommitted: the high
    /// watermark), one request per leader, all at once, each bounded by
    /// `timeout`. Partitions hosted here, without a leader, or whose
    /// leader did not answer in time are left out. Used by the lag
    /// evaluation of a group coordinator whose groups read partitions
    /// that live on other brokers.
    pub async fn high_watermarks_elsewhere(
        &self,
        wanted: &[(String, i32)],
        timeout: Duration,
    ) -> BTreeMap<(String, i32), i64> {
        use vltava_protocol::messages::list_offsets_request::{
            ListOffsetsPartition, ListOffsetsTopic,
        };
        use vltava_protocol::messages::ListOffsetsRequest;
        let image = self.metadata.image();
        let mut by_leader: BTreeMap<i32, BTreeMap<&str, Vec<ListOffsetsPartition>>> =
            BTreeMap::new();
        for (topic, partition) in wanted {
            if self.replicas.get(topic, *partition).is_some() {
                continue;
            }
            let Some(p) = image.partition(topic, *partition) else {
                continue;
            };
            if p.leader < 0 || p.leader == self.node_id {
                continue;
            }
            by_leader
                .entry(p.leader)
                .or_default()
                .entry(topic)
                .or_default()
                .push(ListOffsetsPartition {
                    partition_index: *partition,
                    current_leader_epoch: p.leader_epoch,
                    timestamp: -1,
                    ..Default::default()
                });
        }
        let mut asks = tokio::task::JoinSet::new();
        for (leader, topics) in by_leader {
            let request = ListOffsetsRequest {
                replica_id: -1,
                isolation_level: 0,
                topics: topics
                    .into_iter()
                    .map(|(name, partitions)| ListOffsetsTopic {
                        name: name.to_string(),
                        partitions,
                        ..Default::default()
                    })
                    .collect(),
                timeout_ms: timeout.as_millis().min(i32::MAX as u128) as i32,
                ..Default::default()
            };
            let peers = self.peers.clone();
            asks.spawn(
                async move { tokio::time::timeout(timeout, peers.send(leader, &request)).await },
            );
        }
        let mut out = BTreeMap::new();
        while let Some(answer) = asks.join_next().await {
            let Ok(Ok(Ok(answer))) = answer else {
                continue;
            };
            for t in answer.topics {
                for p in t.partitions {
                    if p.error_code == 0 && p.offset >= 0 {
                        out.insert((t.name.clone(), p.partition_index), p.offset);
                    }
                }
            }
        }
        out
    }

    pub fn connection_limits(&self) -> ConnectionLimits {
        let config = self.metadata.config();
        ConnectionLimits {
            max_request_bytes: config.socket_request_max_bytes().max(0) as usize,
            idle_timeout: Duration::from_millis(config.connections_max_idle_ms().max(1) as u64),
        }
    }

    /// Total and usable bytes of the file system holding `dir`, as Kafka's
    /// `FileStore` reports them; -1 when it cannot tell.
    pub fn dir_space(dir: &Path) -> (i64, i64) {
        file_system_space(dir).unwrap_or((-1, -1))
    }

    /// Clean shutdown: flush and checkpoint every log, mark the shutdown clean.
    /// What the replica fetchers and the ISR updater work with.
    pub fn replication_deps(&self) -> crate::replication::FetcherDeps {
        crate::replication::FetcherDeps {
            node_id: self.node_id,
            replicas: self.replicas.clone(),
            metadata: self.metadata.clone(),
            channel: self.channel.clone(),
            peers: self.peers.clone(),
            clock: self.clock.clone(),
        }
    }

    pub async fn shutdown(&self) {
        if let Err(e) = self.replicas.checkpoint_high_watermarks() {
            warn!("checkpointing high watermarks at shutdown: {e}");
        }
        // The clean-shutdown markers the logs leave name this broker's
        // registration, so that the next process can tell the controller
        // it is the same broker, whole (KIP-966's PreviousBrokerEpoch).
        if let Some(epoch) = self.channel.epoch() {
            self.replicas.log_dirs().set_broker_epoch(epoch);
        }
        // Before the logs close (in the controller's shutdown): nothing
        // appends any more (the listener, fetchers and coordinators have
        // stopped), so each snapshot is at its log's end and the next start
        // replays nothing.
        let now = self.now_ms();
        tokio::task::block_in_place(|| self.replicas.snapshot_producer_states(now));
        match self.controller.shutdown().await {
            Ok(()) => info!("shut down cleanly"),
            Err(e) => warn!("shutdown was not clean: {e}"),
        }
    }
}

/// `statvfs(3)` of `path`: (total bytes, bytes available to unprivileged
/// users), or `None` if the call fails.
// The statvfs field types are u64 here but narrower on 32-bit targets.
#[allow(clippy::useless_conversion)]
fn file_system_space(path: &std::path::Path) -> Option<(i64, i64)> {
    use std::os::unix::ffi::OsStrExt;
    let c_path = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
    let mut st = std::mem::MaybeUninit::<libc::statvfs>::zeroed();
    // SAFETY: `c_path` is a NUL-terminated string that outlives the call,
    // and `st` points to writable memory of the type statvfs fills.
    let rc = unsafe { libc::statvfs(c_path.as_ptr(), st.as_mut_ptr()) };
    if rc != 0 {
        return None;
    }
    // SAFETY: statvfs returned 0, so it initialised `st`.
    let st = unsafe { st.assume_init() };
    let unit = u64::from(st.f_frsize);
    let total = u64::from(st.f_blocks).saturating_mul(unit);
    let usable = u64::from(st.f_bavail).saturating_mul(unit);
    Some((
        i64::try_from(total).unwrap_or(i64::MAX),
        i64::try_from(usable).unwrap_or(i64::MAX),
    ))
}
