//! The metadata image: an immutable snapshot of cluster metadata, the result
//! of applying every metadata record up to some log offset. Request handlers
//! read an `Arc<MetadataImage>` and never see a half-applied change.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use vltava_protocol::Uuid;

use crate::records::{Endpoint, MetadataRecord};

pub const RESOURCE_TOPIC: i8 = 2;
pub const RESOURCE_BROKER: i8 = 4;

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
}

impl BrokerImage {
    /// Unfenced and not shutting down: a broker new replicas may go to
    /// (Kafka's `isActive`).
    pub fn is_active(&self) -> bool {
        !self.fenced && !self.in_controlled_shutdown
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartitionImage {
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
    pub leader: i32,
    pub leader_epoch: i32,
    pub partition_epoch: i32,
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

#[derive(Clone, Debug, Default)]
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
}

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
                    },
                );
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
                leader,
                leader_epoch,
                partition_epoch,
            } => {
                let name = self.topic_names.get(topic_id).ok_or_else(|| {
                    ApplyError(format!("partition of unknown topic id {topic_id}"))
                })?;
                let topic =
                    Arc::make_mut(self.topics.get_mut(name).expect("name index is consistent"));
                let state = PartitionImage {
                    replicas: replicas.clone(),
                    isr: isr.clone(),
                    leader: *leader,
                    leader_epoch: *leader_epoch,
                    partition_epoch: *partition_epoch,
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
            leader: 1,
            leader_epoch: 0,
            partition_epoch: 0,
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
}
