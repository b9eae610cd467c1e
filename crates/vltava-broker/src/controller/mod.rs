//! The single-node controller: the only writer of cluster metadata.
//!
//! Every metadata change follows one path: take the controller lock, plan
//! records against the current image (`vltava_metadata::controller`), append
//! them durably to the metadata log, apply them to get the next image,
//! publish it in the metadata cache, and bring the hosted partitions in line
//! with it. Handlers only ever read a published image.

pub mod metadata_log;

use std::collections::BTreeMap;
use std::sync::Arc;

use tracing::{info, warn};
use vltava_config::TopicConfig;
use vltava_metadata::controller::{self, NewTopic, TopicDefaults};
use vltava_metadata::image::{RESOURCE_BROKER, RESOURCE_TOPIC};
use vltava_metadata::{Endpoint, MetadataRecord};
use vltava_protocol::{ErrorCode, Uuid};
use vltava_storage::KafkaUuid;

use crate::clock::Clock;
use crate::error::KafkaError;
use crate::metadata_cache::MetadataCache;
use crate::replica::ReplicaManager;
use metadata_log::MetadataLog;

/// What a created topic looks like, for the CreateTopics response.
pub struct CreatedTopic {
    pub name: String,
    pub topic_id: Uuid,
    pub num_partitions: i32,
    pub replication_factor: i16,
    pub configs: BTreeMap<String, String>,
}

/// Producer ids taken from the metadata log at a time (Kafka's block size).
const PRODUCER_ID_BLOCK: i64 = 1000;

pub struct Controller {
    node_id: i32,
    /// The controller lock: held across planning, appending and publishing,
    /// so changes are decided one at a time against the image they follow.
    log: tokio::sync::Mutex<MetadataLog>,
    metadata: Arc<MetadataCache>,
    replicas: Arc<ReplicaManager>,
    clock: Clock,
    /// The producer ids this broker may hand out: `next..end` of the block
    /// last taken from the metadata log (see `allocate_producer_id`).
    producer_ids: tokio::sync::Mutex<(i64, i64)>,
}

impl Controller {
    pub fn new(
        node_id: i32,
        log: MetadataLog,
        metadata: Arc<MetadataCache>,
        replicas: Arc<ReplicaManager>,
        clock: Clock,
    ) -> Controller {
        Controller {
            node_id,
            log: tokio::sync::Mutex::new(log),
            metadata,
            replicas,
            clock,
            producer_ids: tokio::sync::Mutex::new((0, 0)),
        }
    }

    /// A single node is its own controller.
    pub fn id(&self) -> i32 {
        self.node_id
    }

    /// Registers this broker at start, or re-registers it if its endpoints
    /// or rack changed since the registration in the image.
    pub fn register_broker(
        &self,
        endpoints: Vec<Endpoint>,
        rack: Option<String>,
    ) -> Result<(), KafkaError> {
        let registered = self
            .metadata
            .image()
            .brokers
            .get(&self.node_id)
            .map(|b| (b.endpoints.clone(), b.rack.clone()));
        if registered == Some((endpoints.clone(), rack.clone())) {
            return Ok(());
        }
        let record = MetadataRecord::RegisterBroker {
            broker_id: self.node_id,
            incarnation_id: Uuid::ZERO,
            broker_epoch: 0,
            endpoints,
            rack,
            fenced: false,
        };
        let log = self
            .log
            .try_lock()
            .expect("no one else holds the lock during start");
        self.commit(&log, vec![record])
    }

    /// Brings the hosted partitions in line with the published image.
    pub fn sync_replicas(&self) -> Result<(), vltava_storage::Error> {
        let image = self.metadata.image();
        let config = self.metadata.config();
        self.replicas
            .sync(&image, &config, self.node_id, self.clock.now_ms())
    }

    /// Appends `records` as one decision, publishes the next image and syncs
    /// the hosted partitions. Must be called with the controller lock held
    /// (`log` is the guarded metadata log).
    fn commit(&self, log: &MetadataLog, records: Vec<MetadataRecord>) -> Result<(), KafkaError> {
        if records.is_empty() {
            return Ok(());
        }
        let now = self.clock.now_ms();
        // The append fsyncs: keep it off the async worker's hot loop.
        let base = tokio::task::block_in_place(|| log.append(&records, now)).map_err(|e| {
            warn!("metadata append failed: {e}");
            KafkaError::new(ErrorCode::KAFKA_STORAGE_ERROR, e.to_string())
        })?;
        let image = self.metadata.image();
        let next = image
            .apply_all(
                records
                    .iter()
                    .enumerate()
                    .map(|(i, r)| (base + i as i64, r)),
            )
            .map_err(|e| KafkaError::new(ErrorCode::UNKNOWN_SERVER_ERROR, e.to_string()))?;
        self.metadata.publish(next);
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
        let config = self.metadata.config();
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
            let log = self.log.lock().await;
            let start = self.metadata.image().next_producer_id;
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
            .and_then(|c| c.check_against(&self.metadata.config()))
            .map_err(KafkaError::from)?;
        topic.configs = overrides.clone().into_iter().collect();
        let log = self.log.lock().await;
        let topic_id = Uuid(KafkaUuid::random().0);
        let records = controller::plan_create_topic(
            &self.metadata.image(),
            &topic,
            self.defaults(),
            topic_id,
        )
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
        if !self.metadata.config().delete_topic_enable() {
            return Err(KafkaError::new(
                ErrorCode::TOPIC_DELETION_DISABLED,
                "Topic deletion is disabled (delete.topic.enable=false).",
            ));
        }
        let log = self.log.lock().await;
        let image = self.metadata.image();
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
        let log = self.log.lock().await;
        let records =
            controller::plan_create_partitions(&self.metadata.image(), name, total, assignments)
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
            .check_against(&self.metadata.config())
            .map_err(KafkaError::from)?;
        let log = self.log.lock().await;
        let image = self.metadata.image();
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
        let mut check = self.metadata.static_config().clone();
        for (k, v) in &overrides {
            if resource.is_empty() {
                check.set_dynamic_default(k, v)
            } else {
                check.set_dynamic(k, v)
            }
            .map_err(KafkaError::from)?;
        }
        let log = self.log.lock().await;
        let current = self.metadata.image().broker_configs(resource);
        let records = config_diff(RESOURCE_BROKER, resource, &current, &overrides);
        if !validate_only {
            self.commit(&log, records)?;
        }
        Ok(())
    }

    /// Clean shutdown of the logs: the metadata log, then every partition
    /// log (flushed, checkpointed, marked clean). The controller lock is
    /// held throughout, so no metadata change creates or deletes a log
    /// meanwhile.
    pub async fn shutdown(&self) -> Result<(), vltava_storage::Error> {
        let log = self.log.lock().await;
        tokio::task::block_in_place(|| {
            if let Err(e) = log.close() {
                warn!("closing the metadata log: {e}");
            }
            self.replicas.log_manager().close()
        })
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
