//! The broker's shared state and the controller operations that change
//! cluster metadata.
//!
//! Every metadata change follows one path: take the controller lock, plan
//! records against the current image (`vltava_metadata::controller`), append
//! them durably to the metadata log, apply them to get the next image,
//! publish it, and bring the hosted partitions in line with it. Handlers
//! only ever read a published image.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use tracing::{info, warn};
use vltava_config::{BrokerConfig, TopicConfig};
use vltava_metadata::controller::{self, NewTopic, TopicDefaults};
use vltava_metadata::image::{RESOURCE_BROKER, RESOURCE_TOPIC};
use vltava_metadata::{Endpoint, MetadataImage, MetadataRecord};
use vltava_protocol::{ErrorCode, Uuid};
use vltava_storage::{KafkaUuid, LogManager, LogManagerOptions, MetaProperties};

use crate::clock::Clock;
use crate::controller::metadata_log::MetadataLog;
use crate::coordinators::groups::{coordinator_config, GroupService};
use crate::coordinators::transactions::{txn_config, TxnService};
use crate::error::KafkaError;
use crate::replica::{log_config_from, ReplicaManager};

/// Limits the connection loop reads on every request.
#[derive(Clone, Copy, Debug)]
pub struct ConnectionLimits {
    pub max_request_bytes: usize,
    pub idle_timeout: Duration,
}

/// What a created topic looks like, for the CreateTopics response.
pub struct CreatedTopic {
    pub name: String,
    pub topic_id: Uuid,
    pub num_partitions: i32,
    pub replication_factor: i16,
    pub configs: BTreeMap<String, String>,
}

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
    /// The configuration from the file and the command line.
    static_config: BrokerConfig,
    /// `static_config` plus the dynamic broker configs in the image.
    config: RwLock<Arc<BrokerConfig>>,
    image: RwLock<Arc<MetadataImage>>,
    controller: tokio::sync::Mutex<MetadataLog>,
    pub replicas: ReplicaManager,
    pub groups: Arc<GroupService>,
    pub txns: Arc<TxnService>,
    /// The producer ids this broker may hand out: `next..end` of the block
    /// last taken from the metadata log (see `allocate_producer_id`).
    producer_ids: tokio::sync::Mutex<(i64, i64)>,
    clock: Clock,
}

/// Producer ids taken from the metadata log at a time (Kafka's block size).
const PRODUCER_ID_BLOCK: i64 = 1000;

impl Broker {
    /// Opens the data directory on the system clock (see `open_with_clock`).
    pub fn open(config: BrokerConfig, data_dir: &Path) -> Result<Arc<Broker>, StartError> {
        Broker::open_with_clock(config, data_dir, Clock::system())
    }

    /// Opens the data directory: identity, metadata log (replayed into the
    /// image), partition logs (recovered if the last stop was unclean).
    /// Everything the broker does reads the time from `clock`.
    pub fn open_with_clock(
        config: BrokerConfig,
        data_dir: &Path,
        clock: Clock,
    ) -> Result<Arc<Broker>, StartError> {
        let now = clock.now_ms();
        let fail = |what: &str, e: &dyn std::fmt::Display| StartError(format!("{what}: {e}"));
        std::fs::create_dir_all(data_dir)
            .map_err(|e| fail(&format!("cannot create {}", data_dir.display()), &e))?;
        let node_id = config.node_id().unwrap_or(1);
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

        let metadata_log =
            MetadataLog::open(data_dir, now).map_err(|e| fail("metadata log", &e))?;
        let records = metadata_log
            .replay()
            .map_err(|e| fail("metadata log", &e))?;
        let image = MetadataImage::empty()
            .apply_all(records.iter().map(|(o, r)| (*o, r)))
            .map_err(|e| fail("replaying the metadata log", &e))?;
        info!(
            records = records.len(),
            topics = image.topic_count(),
            "metadata loaded"
        );

        let advertised = config.advertised_listeners();
        let Some(listener) = advertised.first().cloned() else {
            return Err(StartError(
                "no listener configured (listeners / advertised.listeners)".into(),
            ));
        };
        let dynamic = effective_broker_config(&config, &image, node_id);
        let group_config = coordinator_config(&dynamic);
        let txn_settings = txn_config(&dynamic);
        let default_log_config = log_config_from(&TopicConfig::new().resolve(&dynamic));
        let logs = LogManager::open(
            data_dir,
            LogManagerOptions {
                default_config: default_log_config,
                ..LogManagerOptions::default()
            },
            now,
        )
        .map_err(|e| fail("opening the partition logs", &e))?;
        if !logs.had_clean_shutdown() && !logs.logs().is_empty() {
            warn!("the last shutdown was not clean: partition logs were recovered");
        }
        let broker = Arc::new(Broker {
            node_id,
            cluster_id,
            data_dir: data_dir.to_path_buf(),
            listener_name: listener.listener_name.clone(),
            static_config: config,
            config: RwLock::new(Arc::new(dynamic)),
            image: RwLock::new(Arc::new(image)),
            controller: tokio::sync::Mutex::new(metadata_log),
            replicas: ReplicaManager::new(Arc::new(logs)),
            groups: Arc::new(GroupService::new(
                group_config,
                u64::from_le_bytes(KafkaUuid::random().0[..8].try_into().expect("8 bytes")),
                clock.clone(),
            )),
            txns: Arc::new(TxnService::new(txn_settings, clock.clone())),
            producer_ids: tokio::sync::Mutex::new((0, 0)),
            clock,
        });

        // Register (or re-register with new endpoints) this broker.
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
                security_protocol: 0,
            })
            .collect();
        let rack = broker.static_config.broker_rack();
        let registered = broker
            .image()
            .brokers
            .get(&node_id)
            .map(|b| (b.endpoints.clone(), b.rack.clone()));
        if registered != Some((endpoints.clone(), rack.clone())) {
            let record = MetadataRecord::RegisterBroker {
                broker_id: node_id,
                endpoints,
                rack,
            };
            let log = broker
                .controller
                .try_lock()
                .expect("no one else holds the lock during start");
            broker
                .commit(&log, vec![record])
                .map_err(|e| StartError(format!("registering the broker: {}", e.message)))?;
        }
        broker
            .sync_replicas()
            .map_err(|e| fail("creating partition logs", &e))?;
        Ok(broker)
    }

    pub fn image(&self) -> Arc<MetadataImage> {
        self.image.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn config(&self) -> Arc<BrokerConfig> {
        self.config
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub fn static_config(&self) -> &BrokerConfig {
        &self.static_config
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    pub fn listener_name(&self) -> &str {
        &self.listener_name
    }

    /// A single node is its own controller.
    pub fn controller_id(&self) -> i32 {
        self.node_id
    }

    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    pub fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    pub fn auto_create_topics_enabled(&self) -> bool {
        self.config().auto_create_topics_enable()
    }

    pub fn connection_limits(&self) -> ConnectionLimits {
        let config = self.config();
        ConnectionLimits {
            max_request_bytes: config.socket_request_max_bytes().max(0) as usize,
            idle_timeout: Duration::from_millis(config.connections_max_idle_ms().max(1) as u64),
        }
    }

    /// Total and free bytes of the file system holding the data directory.
    /// Total and usable bytes of the file system holding the data
    /// directory, as Kafka's `FileStore` reports them; -1 when it cannot
    /// tell.
    pub fn data_dir_space(&self) -> (i64, i64) {
        file_system_space(self.replicas.log_manager().dir()).unwrap_or((-1, -1))
    }

    fn sync_replicas(&self) -> Result<(), vltava_storage::Error> {
        let image = self.image();
        let config = self.config();
        self.replicas
            .sync(&image, &config, self.node_id, self.now_ms())
    }

    /// Appends `records` as one decision, publishes the next image and syncs
    /// the hosted partitions. Must be called with the controller lock held
    /// (`log` is the guarded metadata log).
    fn commit(&self, log: &MetadataLog, records: Vec<MetadataRecord>) -> Result<(), KafkaError> {
        if records.is_empty() {
            return Ok(());
        }
        let now = self.now_ms();
        // The append fsyncs: keep it off the async worker's hot loop.
        let base = tokio::task::block_in_place(|| log.append(&records, now)).map_err(|e| {
            warn!("metadata append failed: {e}");
            KafkaError::new(ErrorCode::KAFKA_STORAGE_ERROR, e.to_string())
        })?;
        let image = self.image();
        let next = image
            .apply_all(
                records
                    .iter()
                    .enumerate()
                    .map(|(i, r)| (base + i as i64, r)),
            )
            .map_err(|e| KafkaError::new(ErrorCode::UNKNOWN_SERVER_ERROR, e.to_string()))?;
        let config = effective_broker_config(&self.static_config, &next, self.node_id);
        *self.config.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(config);
        *self.image.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(next);
        // The change is committed and published whatever happens next, so it
        // is not refused: as in Kafka, where brokers apply committed metadata
        // after the controller answered, a partition whose log cannot be
        // created or deleted is a storage problem of that partition (logged,
        // retried at the next sync), not a failure of this or later requests.
        if let Err(e) = tokio::task::block_in_place(|| self.sync_replicas()) {
            warn!("applying metadata to partition logs failed: {e}");
        }
        Ok(())
    }

    fn defaults(&self) -> TopicDefaults {
        let config = self.config();
        TopicDefaults {
            num_partitions: config.num_partitions(),
            replication_factor: config
                .default_replication_factor()
                .clamp(1, i16::MAX as i32) as i16,
        }
    }

    /// A producer id no producer has had (InitProducerId). Ids come in
    /// blocks recorded in the metadata log before use, so a restart never
    /// hands out an id again; the rest of a block is skipped after a restart.
    pub async fn allocate_producer_id(&self) -> Result<i64, KafkaError> {
        let mut ids = self.producer_ids.lock().await;
        if ids.0 >= ids.1 {
            let log = self.controller.lock().await;
            let start = self.image().next_producer_id;
            let end = start + PRODUCER_ID_BLOCK;
            self.commit(
                &log,
                vec![MetadataRecord::ProducerIds {
                    broker_id: self.node_id,
                    next_producer_id: end,
                }],
            )?;
            *ids = (start, end);
        }
        let id = ids.0;
        ids.0 += 1;
        Ok(id)
    }

    /// CreateTopics for one topic (also used by auto-creation).
    pub async fn create_topic(
        &self,
        mut topic: NewTopic,
        configs: Vec<(String, Option<String>)>,
        validate_only: bool,
    ) -> Result<CreatedTopic, KafkaError> {
        controller::validate_topic_name(&topic.name).map_err(KafkaError::from)?;
        vltava_config::validate_topic_configs(&configs).map_err(KafkaError::from)?;
        let overrides: BTreeMap<String, String> = configs
            .into_iter()
            .filter_map(|(k, v)| Some((k, v?)))
            .collect();
        TopicConfig::from_overrides(overrides.iter())
            .and_then(|c| c.check_against(&self.config()))
            .map_err(KafkaError::from)?;
        topic.configs = overrides.clone().into_iter().collect();
        let log = self.controller.lock().await;
        let topic_id = Uuid(KafkaUuid::random().0);
        let records =
            controller::plan_create_topic(&self.image(), &topic, self.defaults(), topic_id)
                .map_err(KafkaError::from)?;
        let num_partitions = records
            .iter()
            .filter(|r| matches!(r, MetadataRecord::Partition { .. }))
            .count() as i32;
        let replication_factor = records
            .iter()
            .find_map(|r| match r {
                MetadataRecord::Partition { replicas, .. } => Some(replicas.len() as i16),
                _ => None,
            })
            .unwrap_or(-1);
        if !validate_only {
            self.commit(&log, records)?;
            info!(topic = %topic.name, partitions = num_partitions, "created topic");
        }
        Ok(CreatedTopic {
            name: topic.name,
            topic_id,
            num_partitions,
            replication_factor,
            configs: overrides,
        })
    }

    /// Creates each missing topic with the broker defaults (Metadata with
    /// auto-creation allowed). Failures leave the topic missing; the
    /// Metadata response then reports it.
    pub async fn auto_create_topics(&self, names: &[String]) {
        for name in names {
            let topic = NewTopic {
                name: name.clone(),
                num_partitions: -1,
                replication_factor: -1,
                ..Default::default()
            };
            match self.create_topic(topic, Vec::new(), false).await {
                Ok(_) => {}
                Err(e) if e.code == ErrorCode::TOPIC_ALREADY_EXISTS => {}
                Err(e) => info!(topic = %name, "not auto-creating: {e}"),
            }
        }
    }

    pub async fn delete_topic(
        &self,
        name: Option<&str>,
        id: Option<Uuid>,
    ) -> Result<(String, Uuid), KafkaError> {
        if !self.config().delete_topic_enable() {
            return Err(KafkaError::new(
                ErrorCode::TOPIC_DELETION_DISABLED,
                "Topic deletion is disabled (delete.topic.enable=false).",
            ));
        }
        let log = self.controller.lock().await;
        let image = self.image();
        let (deleted, records) =
            controller::plan_delete_topic(&image, name, id).map_err(KafkaError::from)?;
        let topic_id = image.topic(&deleted).map(|t| t.id).unwrap_or_default();
        self.commit(&log, records)?;
        info!(topic = %deleted, "deleted topic");
        Ok((deleted, topic_id))
    }

    pub async fn create_partitions(
        &self,
        name: &str,
        total: i32,
        assignments: Option<&[Vec<i32>]>,
        validate_only: bool,
    ) -> Result<(), KafkaError> {
        let log = self.controller.lock().await;
        let records = controller::plan_create_partitions(&self.image(), name, total, assignments)
            .map_err(KafkaError::from)?;
        if !validate_only {
            self.commit(&log, records)?;
            info!(topic = %name, partitions = total, "added partitions");
        }
        Ok(())
    }

    /// Replaces a topic's config overrides with `overrides` (validated).
    pub async fn set_topic_configs(
        &self,
        topic: &str,
        overrides: BTreeMap<String, String>,
        validate_only: bool,
    ) -> Result<(), KafkaError> {
        let config = TopicConfig::from_overrides(overrides.iter()).map_err(KafkaError::from)?;
        config
            .check_against(&self.config())
            .map_err(KafkaError::from)?;
        let log = self.controller.lock().await;
        let image = self.image();
        if image.topic(topic).is_none() {
            return Err(KafkaError::new(
                ErrorCode::UNKNOWN_TOPIC_OR_PARTITION,
                format!("Topic {topic} does not exist."),
            ));
        }
        let current = image.topic_configs(topic);
        let records = config_diff(RESOURCE_TOPIC, topic, &current, &config.to_strings());
        if !validate_only {
            self.commit(&log, records)?;
        }
        Ok(())
    }

    /// Replaces the dynamic configs of a broker resource ("" = cluster-wide
    /// default, or this node's id).
    pub async fn set_broker_configs(
        &self,
        resource: &str,
        overrides: BTreeMap<String, String>,
        validate_only: bool,
    ) -> Result<(), KafkaError> {
        let mut check = self.static_config.clone();
        for (k, v) in &overrides {
            if resource.is_empty() {
                check.set_dynamic_default(k, v)
            } else {
                check.set_dynamic(k, v)
            }
            .map_err(KafkaError::from)?;
        }
        let log = self.controller.lock().await;
        let current = self.image().broker_configs(resource);
        let records = config_diff(RESOURCE_BROKER, resource, &current, &overrides);
        if !validate_only {
            self.commit(&log, records)?;
        }
        Ok(())
    }

    /// The topic configs to report in a CreateTopics v5+ response.
    pub fn describe_topic_configs_for_create(
        &self,
        _name: &str,
        overrides: &BTreeMap<String, String>,
    ) -> Vec<vltava_protocol::messages::create_topics_response::CreatableTopicConfigs> {
        let config = TopicConfig::from_overrides(overrides.iter()).unwrap_or_default();
        let broker = self.config();
        config
            .describe(&broker)
            .map(
                |d| vltava_protocol::messages::create_topics_response::CreatableTopicConfigs {
                    name: d.name.to_string(),
                    value: d.value,
                    read_only: d.read_only,
                    config_source: d.source.code(),
                    is_sensitive: d.is_sensitive,
                    ..Default::default()
                },
            )
            .collect()
    }

    /// Clean shutdown: flush and checkpoint every log, mark the shutdown clean.
    pub async fn shutdown(&self) {
        let log = self.controller.lock().await;
        let result = tokio::task::block_in_place(|| {
            if let Err(e) = log.close() {
                warn!("closing the metadata log: {e}");
            }
            self.replicas.log_manager().close()
        });
        match result {
            Ok(()) => info!("shut down cleanly"),
            Err(e) => warn!("shutdown was not clean: {e}"),
        }
    }
}

/// Config records turning `current` into `wanted`.
fn config_diff(
    resource_type: i8,
    resource: &str,
    current: &BTreeMap<String, String>,
    wanted: &BTreeMap<String, String>,
) -> Vec<MetadataRecord> {
    let mut records = Vec::new();
    for name in current.keys().filter(|k| !wanted.contains_key(*k)) {
        records.push(MetadataRecord::Config {
            resource_type,
            resource_name: resource.to_string(),
            name: name.clone(),
            value: None,
        });
    }
    for (name, value) in wanted.iter().filter(|(k, v)| current.get(*k) != Some(v)) {
        records.push(MetadataRecord::Config {
            resource_type,
            resource_name: resource.to_string(),
            name: name.clone(),
            value: Some(value.clone()),
        });
    }
    records
}

/// The static config with the image's dynamic broker configs applied.
fn effective_broker_config(
    static_config: &BrokerConfig,
    image: &MetadataImage,
    node_id: i32,
) -> BrokerConfig {
    let mut config = static_config.clone();
    for (k, v) in image.broker_configs("").iter() {
        if let Err(e) = config.set_dynamic_default(k, v) {
            warn!("ignoring cluster-wide dynamic config {k}: {e}");
        }
    }
    for (k, v) in image.broker_configs(&node_id.to_string()).iter() {
        if let Err(e) = config.set_dynamic(k, v) {
            warn!("ignoring dynamic config {k}: {e}");
        }
    }
    config
}

/// The effective config of a topic, for DescribeConfigs.
pub fn topic_config(image: &MetadataImage, topic: &str) -> TopicConfig {
    let overrides = image.topic_configs(topic);
    TopicConfig::from_overrides(overrides.iter()).unwrap_or_default()
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
