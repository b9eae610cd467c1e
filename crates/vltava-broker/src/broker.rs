//! The broker as one value: the composition root that opens the data
//! directory, builds the parts (metadata cache, replica manager, controller,
//! coordinators) and owns them. It holds no state of its own beyond the
//! node's identity; each part is reached through its field, and the parts
//! are handed only the other parts they use, never the `Broker`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tracing::{info, warn};
use vltava_config::{BrokerConfig, TopicConfig};
use vltava_metadata::{Endpoint, MetadataImage};
use vltava_storage::{KafkaUuid, LogManager, LogManagerOptions, MetaProperties};

use crate::clock::Clock;
use crate::controller::metadata_log::MetadataLog;
use crate::controller::Controller;
use crate::coordinators::groups::{coordinator_config, GroupService};
use crate::coordinators::transactions::{txn_config, TxnService};
use crate::coordinators::CoordinatorDeps;
use crate::metadata_cache::MetadataCache;
use crate::replica::{log_config_from, ReplicaManager};

/// Limits the connection loop reads on every request.
#[derive(Clone, Copy, Debug)]
pub struct ConnectionLimits {
    pub max_request_bytes: usize,
    pub idle_timeout: Duration,
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
    pub metadata: Arc<MetadataCache>,
    pub replicas: Arc<ReplicaManager>,
    pub controller: Arc<Controller>,
    pub groups: Arc<GroupService>,
    pub txns: Arc<TxnService>,
    clock: Clock,
}

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
        let metadata = Arc::new(MetadataCache::new(config, node_id, image));
        let dynamic = metadata.config();
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
        let replicas = Arc::new(ReplicaManager::new(Arc::new(logs)));
        let controller = Arc::new(Controller::new(
            node_id,
            metadata_log,
            metadata.clone(),
            replicas.clone(),
            clock.clone(),
        ));
        let deps = CoordinatorDeps {
            metadata: metadata.clone(),
            controller: controller.clone(),
            replicas: replicas.clone(),
            clock: clock.clone(),
        };
        let groups = Arc::new(GroupService::new(
            group_config,
            u64::from_le_bytes(KafkaUuid::random().0[..8].try_into().expect("8 bytes")),
            deps.clone(),
        ));
        let txns = Arc::new(TxnService::new(txn_settings, deps, groups.clone()));

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
        let rack = metadata.static_config().broker_rack();
        controller
            .register_broker(endpoints, rack)
            .map_err(|e| StartError(format!("registering the broker: {}", e.message)))?;
        controller
            .sync_replicas()
            .map_err(|e| fail("creating partition logs", &e))?;
        Ok(Arc::new(Broker {
            node_id,
            cluster_id,
            data_dir: data_dir.to_path_buf(),
            listener_name: listener.listener_name.clone(),
            metadata,
            replicas,
            controller,
            groups,
            txns,
            clock,
        }))
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

    pub fn connection_limits(&self) -> ConnectionLimits {
        let config = self.metadata.config();
        ConnectionLimits {
            max_request_bytes: config.socket_request_max_bytes().max(0) as usize,
            idle_timeout: Duration::from_millis(config.connections_max_idle_ms().max(1) as u64),
        }
    }

    /// Total and usable bytes of the file system holding the data
    /// directory, as Kafka's `FileStore` reports them; -1 when it cannot
    /// tell.
    pub fn data_dir_space(&self) -> (i64, i64) {
        file_system_space(self.replicas.log_manager().dir()).unwrap_or((-1, -1))
    }

    /// Clean shutdown: flush and checkpoint every log, mark the shutdown clean.
    pub async fn shutdown(&self) {
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
