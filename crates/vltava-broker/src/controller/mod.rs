//! The controller: the only writer of cluster metadata. It acts only on
//! the node that leads the KRaft quorum of `__cluster_metadata` (the
//! active controller); everywhere else its operations answer
//! NOT_CONTROLLER, with the leader's id in Metadata for clients to go to.
//!
//! Every metadata change follows one path: take the controller lock (which
//! also waits until this node leads and has applied everything committed
//! before its leadership), plan records against the published image
//! (`vltava_metadata::controller`), propose them to the quorum as one batch,
//! wait until a majority has them (committed), then until the metadata
//! publisher has applied them to the image and synced the partitions.
//! Only then is the lock released and the request answered, so the next
//! change is planned against an image that includes this one.
//!
//! Broker membership lives here too: registrations, heartbeats (with the
//! sessions that fence a broker whose heartbeats stop) and producer-id
//! blocks, as Kafka's controller serves them.

pub mod features;
pub mod metadata_log;
pub mod quotas;
pub mod security;
pub mod tokens;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{watch, MutexGuard};
use tracing::{info, warn};
use vltava_config::TopicConfig;
use vltava_metadata::controller::{self, NewTopic, TopicDefaults};
use vltava_metadata::image::{RESOURCE_BROKER, RESOURCE_TOPIC};
use vltava_metadata::{Endpoint, MetadataImage, MetadataRecord};
use vltava_protocol::{ErrorCode, Uuid};
use vltava_quorum::driver::{Quorum, QuorumError};
use vltava_raft::RoleKind;
use vltava_storage::KafkaUuid;

use crate::clock::Clock;
use crate::error::KafkaError;
use crate::metadata_cache::MetadataCache;
use crate::metadata_publisher::Applied;
use crate::replica::ReplicaManager;

/// What a created topic looks like, for the CreateTopics response.
pub struct CreatedTopic {
    pub name: String,
    pub topic_id: Uuid,
    pub num_partitions: i32,
    pub replication_factor: i16,
    pub configs: BTreeMap<String, String>,
}

/// Producer ids handed out per AllocateProducerIds (Kafka's block size).
pub const PRODUCER_ID_BLOCK: i64 = 1000;

/// How long a change may take from proposal to being applied here. A
/// quorum that cannot commit within it (no majority) fails the request
/// with REQUEST_TIMED_OUT; the change may still commit later.
const COMMIT_TIMEOUT: Duration = Duration::from_secs(30);

/// How long an operation waits for a new leader to finish loading the
/// metadata before it answers NOT_CONTROLLER.
const ACTIVATION_WAIT: Duration = Duration::from_secs(5);

/// One partition's proposed ISR in an AlterPartition.
#[derive(Debug, Clone)]
pub struct IsrChange {
    pub topic_id: Uuid,
    pub partition: i32,
    pub leader_epoch: i32,
    pub partition_epoch: i32,
    /// Members with their broker epochs (-1 where the request has none).
    pub new_isr: Vec<(i32, i64)>,
}

/// What a broker registration brings (BrokerRegistration's fields).
#[derive(Clone, Debug)]
pub struct Registration {
    pub broker_id: i32,
    pub cluster_id: String,
    pub incarnation_id: Uuid,
    pub endpoints: Vec<Endpoint>,
    pub rack: Option<String>,
    /// The broker's online log directories (KIP-858; empty from brokers
    /// that do not send them).
    pub log_dirs: Vec<Uuid>,
    /// The epoch of its registration before a clean shutdown, -1 when the
    /// last stop was not clean (or unknown): a new process whose previous
    /// epoch is not the registered one may have lost records (KIP-966).
    pub previous_broker_epoch: i64,
}

/// What a heartbeat answer says (BrokerHeartbeat's fields).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HeartbeatAnswer {
    pub is_caught_up: bool,
    pub is_fenced: bool,
    pub should_shut_down: bool,
}

/// The active controller's broker sessions: when each broker last
/// heartbeated. Kept in memory only, as in Kafka: a new active controller
/// gives every unfenced broker a fresh session.
#[derive(Default)]
struct Sessions {
    /// The quorum epoch the sessions belong to.
    epoch: i32,
    last_heartbeat_ms: HashMap<i32, i64>,
}

pub struct Controller {
    node_id: i32,
    cluster_id: String,
    quorum: Quorum,
    /// The controller lock: held across planning, committing and applying,
    /// so changes are decided one at a time against the image they follow.
    lock: tokio::sync::Mutex<()>,
    metadata: Arc<MetadataCache>,
    replicas: Arc<ReplicaManager>,
    applied: watch::Receiver<Applied>,
    clock: Clock,
    sessions: Mutex<Sessions>,
    session_timeout_ms: i64,
}

fn not_controller(leader: Option<i32>) -> KafkaError {
    KafkaError::new(
        ErrorCode::NOT_CONTROLLER,
        match leader {
            Some(l) => format!("This node is not the active controller; node {l} is."),
            None => "The metadata quorum has no leader at the moment.".to_string(),
        },
    )
}

fn quorum_error(e: QuorumError) -> KafkaError {
    match e {
        QuorumError::NotLeader(leader) => not_controller(leader),
        QuorumError::Lost => KafkaError::new(
            ErrorCode::NOT_CONTROLLER,
            "The controller lost its leadership before the change committed.",
        ),
        QuorumError::VoterChange(e) => {
            KafkaError::new(ErrorCode(e.error_code().code()), format!("{e:?}"))
        }
        QuorumError::Stopped => KafkaError::new(
            ErrorCode::UNKNOWN_SERVER_ERROR,
            "The metadata quorum replica has stopped; see the broker log.",
        ),
    }
}

fn encode_all(records: &[MetadataRecord]) -> Result<Vec<bytes::Bytes>, KafkaError> {
    records
        .iter()
        .map(|r| {
            r.encode()
                .map_err(|e| KafkaError::new(ErrorCode::UNKNOWN_SERVER_ERROR, e.to_string()))
        })
        .collect()
}

impl Controller {
    pub fn new(
        node_id: i32,
        cluster_id: String,
        quorum: Quorum,
        metadata: Arc<MetadataCache>,
        replicas: Arc<ReplicaManager>,
        applied: watch::Receiver<Applied>,
        clock: Clock,
    ) -> Controller {
        let session_timeout_ms = i64::from(metadata.static_config().broker_session_timeout_ms());
        Controller {
            node_id,
            cluster_id,
            quorum,
            lock: tokio::sync::Mutex::new(()),
            metadata,
            replicas,
            applied,
            clock,
            sessions: Mutex::new(Sessions::default()),
            session_timeout_ms,
        }
    }

    /// The active controller's id (the quorum leader), -1 when none is known.
    pub fn id(&self) -> i32 {
        self.quorum.status().borrow().leader.unwrap_or(-1)
    }

    /// Whether this node leads the metadata quorum, that is, is (or is
    /// becoming) the active controller.
    pub fn is_active(&self) -> bool {
        self.quorum.status().borrow().role == RoleKind::Leader
    }

    /// The quorum this controller acts through.
    pub fn quorum(&self) -> &Quorum {
        &self.quorum
    }

    /// Takes the controller lock once this node is the active controller:
    /// it leads the quorum and has applied every record committed before
    /// (a new leader first catches up on what its predecessor committed).
    async fn lead(&self) -> Result<MutexGuard<'_, ()>, KafkaError> {
        let guard = self.lock.lock().await;
        let deadline = tokio::time::Instant::now() + ACTIVATION_WAIT;
        let mut status = self.quorum.status();
        let mut applied = self.applied.clone();
        loop {
            let s = status.borrow_and_update().clone();
            let a = *applied.borrow_and_update();
            if s.role != RoleKind::Leader {
                return Err(not_controller(s.leader));
            }
            if a.failed {
                return Err(KafkaError::new(
                    ErrorCode::UNKNOWN_SERVER_ERROR,
                    "The controller cannot apply the metadata log; see the broker log.",
                ));
            }
            if s.caught_up && a.loaded && a.end >= s.high_watermark {
                self.activate_sessions(s.epoch);
                return Ok(guard);
            }
            tokio::select! {
                r = status.changed() => if r.is_err() { return Err(quorum_error(QuorumError::Stopped)) },
                r = applied.changed() => if r.is_err() { return Err(quorum_error(QuorumError::Stopped)) },
                _ = tokio::time::sleep_until(deadline) => {
                    return Err(KafkaError::new(
                        ErrorCode::NOT_CONTROLLER,
                        "The controller is still loading the metadata log.",
                    ));
                }
            }
        }
    }

    /// A new leadership gives every unfenced broker a fresh session.
    fn activate_sessions(&self, epoch: i32) {
        let mut sessions = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        if sessions.epoch != epoch {
            let now = self.clock.now_ms();
            sessions.epoch = epoch;
            sessions.last_heartbeat_ms = self
                .metadata
                .image()
                .brokers
                .values()
                .filter(|b| !b.fenced)
                .map(|b| (b.id, now))
                .collect();
        }
    }

    fn touch_session(&self, broker_id: i32) {
        let now = self.clock.now_ms();
        self.sessions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .last_heartbeat_ms
            .insert(broker_id, now);
    }

    fn session_alive(&self, broker_id: i32) -> bool {
        let now = self.clock.now_ms();
        self.sessions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .last_heartbeat_ms
            .get(&broker_id)
            .is_some_and(|t| now - t < self.session_timeout_ms)
    }

    /// Proposes the values `make` builds (from the batch's base offset),
    /// waits until they are committed and applied here; returns the offset
    /// of the last record. Call with the controller lock held.
    async fn propose_and_apply(
        &self,
        make: vltava_quorum::driver::MakeValues,
    ) -> Result<i64, KafkaError> {
        let (last, epoch) = self.quorum.propose_with(make).await.map_err(quorum_error)?;
        let timed_out = || {
            KafkaError::new(
                ErrorCode::REQUEST_TIMED_OUT,
                "The metadata change was not committed in time (is a majority of the quorum up?).",
            )
        };
        tokio::time::timeout(COMMIT_TIMEOUT, self.quorum.wait_committed(last, epoch))
            .await
            .map_err(|_| timed_out())?
            .map_err(quorum_error)?;
        let mut applied = self.applied.clone();
        tokio::time::timeout(
            COMMIT_TIMEOUT,
            applied.wait_for(|a| a.end > last || a.failed),
        )
        .await
        .map_err(|_| timed_out())?
        .map_err(|_| quorum_error(QuorumError::Stopped))?;
        Ok(last)
    }

    /// Commits `records` as one decision and waits until they are in the
    /// published image and the partitions. Call with the controller lock
    /// held (the guard proves it).
    async fn commit(
        &self,
        _lock: &MutexGuard<'_, ()>,
        records: Vec<MetadataRecord>,
    ) -> Result<(), KafkaError> {
        if records.is_empty() {
            return Ok(());
        }
        let values = encode_all(&records)?;
        self.propose_and_apply(Box::new(move |_| values)).await?;
        Ok(())
    }

    /// BrokerRegistration: a broker (re)joins. Returns its new epoch (the
    /// offset of its registration record, as in Kafka); a new registration
    /// starts fenced until the broker's heartbeats say it caught up.
    pub async fn register_broker(&self, r: Registration) -> Result<i64, KafkaError> {
        let lock = self.lead().await?;
        if r.cluster_id != self.cluster_id {
            return Err(KafkaError::new(
                ErrorCode::INCONSISTENT_CLUSTER_ID,
                format!(
                    "Broker {} is of cluster {}, this controller of cluster {}.",
                    r.broker_id, r.cluster_id, self.cluster_id
                ),
            ));
        }
        // A restarted broker must wait for its old session to expire (it
        // may still be a live process elsewhere with the same id), except
        // the broker of this very node (its old incarnation is gone) and a
        // fenced one (it has no session: a broker is fenced when its
        // controlled shutdown ends, so a rolling restart rejoins at once).
        let image = self.metadata.image();
        let fenced = image.brokers.get(&r.broker_id).is_some_and(|b| b.fenced);
        let session_alive =
            r.broker_id != self.node_id && !fenced && self.session_alive(r.broker_id);
        let policy = self.election_policy();
        let plan = move |epoch: i64| {
            controller::plan_register_broker(
                &image,
                r.broker_id,
                r.incarnation_id,
                r.endpoints.clone(),
                r.rack.clone(),
                r.log_dirs.clone(),
                epoch,
                session_alive,
                r.previous_broker_epoch,
                policy,
            )
        };
        let broker_id = r.broker_id;
        let image_offset = self.metadata.image().offset;
        // Checked first for its refusal; planned again below with the
        // offset the record really gets.
        let check = plan(image_offset + 1).map_err(KafkaError::from)?;
        if check.records.is_empty() {
            self.touch_session(broker_id);
            return Ok(check.broker_epoch);
        }
        let values = Box::new(move |base: i64| {
            plan(base)
                .ok()
                .and_then(|p| encode_all(&p.records).ok())
                .unwrap_or_default()
        });
        self.propose_and_apply(values).await?;
        drop(lock);
        self.touch_session(broker_id);
        let epoch = self
            .metadata
            .image()
            .brokers
            .get(&broker_id)
            .map(|b| b.epoch)
            .ok_or_else(|| {
                KafkaError::new(ErrorCode::UNKNOWN_SERVER_ERROR, "registration not applied")
            })?;
        info!(broker = broker_id, epoch, "broker registered");
        Ok(epoch)
    }

    /// BrokerHeartbeat: keeps a broker's session alive, unfences it once it
    /// has caught up with the metadata log, fences it on request, and
    /// starts its controlled shutdown.
    pub async fn broker_heartbeat(
        &self,
        broker_id: i32,
        broker_epoch: i64,
        current_metadata_offset: i64,
        want_fence: bool,
        want_shut_down: bool,
        offline_log_dirs: &[Uuid],
    ) -> Result<HeartbeatAnswer, KafkaError> {
        let lock = self.lead().await?;
        let image = self.metadata.image();
        let Some(broker) = image.brokers.get(&broker_id) else {
            return Err(KafkaError::new(
                ErrorCode::BROKER_ID_NOT_REGISTERED,
                format!("Broker {broker_id} is not registered."),
            ));
        };
        if broker.epoch != broker_epoch {
            return Err(KafkaError::new(
                ErrorCode::STALE_BROKER_EPOCH,
                format!(
                    "Broker {broker_id} has epoch {}, not {broker_epoch}.",
                    broker.epoch
                ),
            ));
        }
        self.touch_session(broker_id);
        // Caught up: the broker has applied its own registration.
        let is_caught_up = current_metadata_offset >= broker.epoch;
        let policy = self.election_policy();
        let records = if want_shut_down {
            controller::plan_controlled_shutdown(&image, broker_id, broker_epoch, policy)
        } else if want_fence {
            controller::plan_fence_broker(&image, broker_id, policy)
        } else if broker.fenced && is_caught_up {
            controller::plan_unfence_broker(&image, broker_id, broker_epoch, policy)
        } else {
            Ok(Vec::new())
        }
        .map_err(KafkaError::from)?;
        if !records.is_empty() {
            self.commit(&lock, records).await?;
        }
        if !offline_log_dirs.is_empty() && !want_shut_down && !want_fence {
            // Failed log directories: their replicas leave the ISRs and
            // their leaderships move (once; a later report of the same
            // directories plans nothing).
            let image = self.metadata.image();
            let moves = controller::plan_log_dirs_offline(
                &image,
                broker_id,
                broker_epoch,
                offline_log_dirs,
                policy,
            )
            .map_err(KafkaError::from)?;
            if !moves.is_empty() {
                warn!(
                    broker = broker_id,
                    dirs = offline_log_dirs.len(),
                    "log directories failed: moving their replicas out of the ISRs"
                );
                self.commit(&lock, moves).await?;
            }
        }
        if want_shut_down {
            // Its leaderships have moved away (or, where no other replica
            // could take one, the partition went offline): the controlled
            // shutdown is complete, and the broker is fenced so that the
            // next incarnation may register at once, as Kafka does.
            let image = self.metadata.image();
            let fence = controller::plan_fence_broker(&image, broker_id, policy)
                .map_err(KafkaError::from)?;
            if !fence.is_empty() {
                self.commit(&lock, fence).await?;
                info!(broker = broker_id, "controlled shutdown complete: fenced");
            }
        }
        let is_fenced = self
            .metadata
            .image()
            .brokers
            .get(&broker_id)
            .is_none_or(|b| b.fenced);
        Ok(HeartbeatAnswer {
            is_caught_up,
            is_fenced,
            // The leaderships moved in the commit above: the broker may
            // stop as soon as it asked.
            should_shut_down: want_shut_down,
        })
    }

    /// AssignReplicasToDirs (KIP-858): a broker says which of its log
    /// directories holds each of its replicas. Returns each partition's
    /// answer, in request order.
    pub async fn assign_replicas_to_dirs(
        &self,
        broker_id: i32,
        broker_epoch: i64,
        assignments: Vec<(Uuid, i32, Uuid)>,
    ) -> Result<Vec<(Uuid, i32, ErrorCode)>, KafkaError> {
        let lock = self.lead().await?;
        let image = self.metadata.image();
        let (records, answers) = controller::plan_assign_replicas_to_dirs(
            &image,
            broker_id,
            broker_epoch,
            &assignments,
            self.election_policy(),
        )
        .map_err(KafkaError::from)?;
        if !records.is_empty() {
            self.commit(&lock, records).await?;
        }
        Ok(answers)
    }

    /// Fences every broker whose session expired. The active controller
    /// runs this periodically; elsewhere it does nothing.
    pub async fn fence_expired_sessions(&self) {
        if self.quorum.status().borrow().role != RoleKind::Leader {
            return;
        }
        let Ok(lock) = self.lead().await else { return };
        let now = self.clock.now_ms();
        let expired: Vec<i32> = {
            let sessions = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
            // Not this node's own broker: while this controller runs, so
            // does that broker (a paused process would otherwise fence
            // itself when it resumes).
            self.metadata
                .image()
                .brokers
                .values()
                .filter(|b| !b.fenced && b.id != self.node_id)
                .filter(|b| {
                    sessions
                        .last_heartbeat_ms
                        .get(&b.id)
                        .is_none_or(|t| now - t >= self.session_timeout_ms)
                })
                .map(|b| b.id)
                .collect()
        };
        for id in expired {
            let image = self.metadata.image();
            match controller::plan_fence_broker(&image, id, self.election_policy()) {
                Ok(records) => match self.commit(&lock, records).await {
                    Ok(()) => warn!(broker = id, "fenced a broker whose heartbeats stopped"),
                    Err(e) => warn!(broker = id, "fencing failed: {e}"),
                },
                Err(e) => warn!(broker = id, "fencing refused: {}", e.message),
            }
        }
    }

    /// AllocateProducerIds: a block of producer ids no broker has had,
    /// recorded in the metadata log before it is handed out, so no two
    /// brokers (and no restart) ever use an id twice.
    pub async fn allocate_producer_ids(
        &self,
        broker_id: i32,
        broker_epoch: i64,
    ) -> Result<(i64, i64), KafkaError> {
        let lock = self.lead().await?;
        let image = self.metadata.image();
        match image.brokers.get(&broker_id) {
            None => {
                return Err(KafkaError::new(
                    ErrorCode::BROKER_ID_NOT_REGISTERED,
                    format!("Broker {broker_id} is not registered."),
                ))
            }
            Some(b) if broker_epoch >= 0 && b.epoch != broker_epoch => {
                return Err(KafkaError::new(
                    ErrorCode::STALE_BROKER_EPOCH,
                    format!(
                        "Broker {broker_id} has epoch {}, not {broker_epoch}.",
                        b.epoch
                    ),
                ))
            }
            Some(_) => {}
        }
        let start = image.next_producer_id;
        let end = start + PRODUCER_ID_BLOCK;
        self.commit(
            &lock,
            vec![MetadataRecord::ProducerIds {
                broker_id,
                next_producer_id: end,
            }],
        )
        .await?;
        Ok((start, PRODUCER_ID_BLOCK))
    }

    /// AlterPartition (KIP-497): each partition leader's proposed ISR,
    /// checked against the image (epochs, eligibility; Kafka's rules in
    /// `plan_alter_partition`) and committed as PartitionChange records in
    /// one decision. Per partition: the state after the change, or why it
    /// was refused. The whole request fails (NOT_CONTROLLER, a commit
    /// timeout) only when nothing could be committed.
    pub async fn alter_partition(
        &self,
        broker_id: i32,
        broker_epoch: i64,
        changes: Vec<IsrChange>,
    ) -> Result<Vec<Result<vltava_metadata::image::PartitionImage, KafkaError>>, KafkaError> {
        let lock = self.lead().await?;
        let mut working = (*self.metadata.image()).clone();
        let mut records = Vec::new();
        let mut results = Vec::with_capacity(changes.len());
        let policy = self.election_policy();
        for c in changes {
            match controller::plan_alter_partition(
                &working,
                broker_id,
                broker_epoch,
                c.topic_id,
                c.partition,
                c.leader_epoch,
                c.partition_epoch,
                &c.new_isr,
                policy,
            ) {
                Ok((planned, after)) => {
                    for record in &planned {
                        working = working.apply(working.offset, record).map_err(|e| {
                            KafkaError::new(ErrorCode::UNKNOWN_SERVER_ERROR, e.to_string())
                        })?;
                    }
                    records.extend(planned);
                    results.push(Ok(after));
                }
                Err(refusal) => results.push(Err(KafkaError::new(refusal.code, refusal.message))),
            }
        }
        self.commit(&lock, records).await?;
        Ok(results)
    }

    /// ElectLeaders: preferred or unclean elections of the given partitions
    /// (every partition when `None`), committed in one decision.
    pub async fn elect_leaders(
        &self,
        partitions: Option<Vec<(String, Vec<i32>)>>,
        election_type: controller::ElectionType,
    ) -> Result<controller::ElectionResults, KafkaError> {
        let lock = self.lead().await?;
        let image = self.metadata.image();
        let (records, results) = controller::plan_elect_leaders(
            &image,
            partitions.as_deref(),
            election_type,
            self.election_policy(),
        );
        self.commit(&lock, records).await?;
        Ok(results)
    }

    /// AlterPartitionReassignments (KIP-455): each partition's new target
    /// replicas, or a cancel (`None`), planned as Kafka's controller does
    /// (`plan_alter_partition_reassignments`) and committed in one
    /// decision. Per partition, in the request's order: done, or why not.
    /// A reassignment completes later, when the leader's AlterPartition
    /// brings the new replicas into the ISR.
    pub async fn alter_partition_reassignments(
        &self,
        requests: Vec<controller::ReassignmentRequest>,
    ) -> Result<Vec<Result<(), KafkaError>>, KafkaError> {
        let lock = self.lead().await?;
        let image = self.metadata.image();
        let (records, results) = controller::plan_alter_partition_reassignments(
            &image,
            &requests,
            self.election_policy(),
        );
        self.commit(&lock, records).await?;
        for ((topic, partition, target), result) in requests.iter().zip(&results) {
            match (target, result) {
                (Some(target), Ok(())) => {
                    info!(%topic, partition, ?target, "partition reassignment started")
                }
                (None, Ok(())) => info!(%topic, partition, "partition reassignment cancelled"),
                (_, Err(_)) => {}
            }
        }
        Ok(results
            .into_iter()
            .map(|r| r.map_err(KafkaError::from))
            .collect())
    }

    /// ListPartitionReassignments: the reassignments in progress (of the
    /// named partitions, or all), as the active controller's image has
    /// them.
    pub async fn list_partition_reassignments(
        &self,
        filter: Option<Vec<(String, Vec<i32>)>>,
    ) -> Result<Vec<(String, Vec<controller::OngoingReassignment>)>, KafkaError> {
        let _lock = self.lead().await?;
        Ok(controller::list_reassignments(
            &self.metadata.image(),
            filter.as_deref(),
        ))
    }

    /// Unclean elections of the offline partitions whose topic now allows
    /// them (after a config change, and on the periodic leadership pass).
    async fn elect_unclean_where_allowed(
        &self,
        lock: &MutexGuard<'_, ()>,
    ) -> Result<(), KafkaError> {
        let image = self.metadata.image();
        let records = controller::plan_unclean_elections_allowed(&image, self.election_policy());
        if !records.is_empty() {
            warn!(
                partitions = records.len(),
                "unclean leader election: replicas outside the ISR now lead; records only the lost ISR had are gone"
            );
            self.commit(lock, records).await?;
        }
        Ok(())
    }

    /// Preferred-leader rebalancing (`auto.leader.rebalance.enable`): on
    /// the active controller, every partition whose preferred (first)
    /// replica is in sync and live but does not lead gets it back, in one
    /// decision. Elsewhere nothing. Returns how many leaderships moved.
    pub async fn rebalance_leaders(&self) -> Result<usize, KafkaError> {
        if self.quorum.status().borrow().role != RoleKind::Leader {
            return Ok(0);
        }
        let lock = self.lead().await?;
        self.elect_unclean_where_allowed(&lock).await?;
        let image = self.metadata.image();
        let (records, results) = controller::plan_elect_leaders(
            &image,
            None,
            controller::ElectionType::Preferred,
            self.election_policy(),
        );
        if records.is_empty() {
            return Ok(0);
        }
        let moved = results
            .iter()
            .flat_map(|(_, ps)| ps.iter())
            .filter(|(_, r)| r.is_ok())
            .count();
        self.commit(&lock, records).await?;
        Ok(moved)
    }

    /// The image this controller plans against.
    pub fn image(&self) -> Arc<MetadataImage> {
        self.metadata.image()
    }

    /// Leader elections follow the effective broker config's
    /// `unclean.leader.election.enable` (and, with eligible leader replicas
    /// on, `min.insync.replicas`) for topics without an override.
    pub(crate) fn election_policy(&self) -> controller::ElectionPolicy {
        let config = self.metadata.config();
        controller::ElectionPolicy {
            unclean_default: config.unclean_leader_election_enable(),
            min_isr_default: config.min_insync_replicas(),
        }
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
        let lock = self.lead().await?;
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
            self.commit(&lock, records).await?;
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
        let lock = self.lead().await?;
        let image = self.metadata.image();
        let (deleted, records) =
            controller::plan_delete_topic(&image, name, id).map_err(KafkaError::from)?;
        let topic_id = image.topic(&deleted).map(|t| t.id).unwrap_or_default();
        self.commit(&lock, records).await?;
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
        let lock = self.lead().await?;
        let records =
            controller::plan_create_partitions(&self.metadata.image(), name, total, assignments)
                .map_err(KafkaError::from)?;
        if !validate_only {
            self.commit(&lock, records).await?;
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
        let lock = self.lead().await?;
        let image = self.metadata.image();
        if image.topic(topic).is_none() {
            return Err(KafkaError::new(
                ErrorCode::UNKNOWN_TOPIC_OR_PARTITION,
                format!("Topic {topic} does not exist."),
            ));
        }
        let current = image.topic_configs(topic);
        let wanted = config.to_strings();
        let mut records = config_diff(RESOURCE_TOPIC, topic, &current, &wanted);
        if changes_min_isr(&image, &current, &wanted) {
            records.extend(controller::plan_clear_elr(&image, Some(topic)));
        }
        if !validate_only {
            self.commit(&lock, records).await?;
            self.elect_unclean_where_allowed(&lock).await?;
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
        let lock = self.lead().await?;
        let image = self.metadata.image();
        let current = image.broker_configs(resource);
        let mut records = config_diff(RESOURCE_BROKER, resource, &current, &overrides);
        if changes_min_isr(&image, &current, &overrides) {
            // With eligible leader replicas the leaders and the controller
            // must agree on min.insync.replicas, so only the cluster-wide
            // default (and topics) may set it, as in Kafka.
            if !resource.is_empty() {
                return Err(KafkaError::new(
                    ErrorCode::INVALID_CONFIG,
                    "min.insync.replicas cannot be set for one broker while eligible leader \
                     replicas (eligible.leader.replicas.version) are on: set the cluster-wide \
                     default or the topic's",
                ));
            }
            records.extend(controller::plan_clear_elr(&image, None));
        }
        if !validate_only {
            self.commit(&lock, records).await?;
            self.elect_unclean_where_allowed(&lock).await?;
        }
        Ok(())
    }

    /// Clean shutdown: the quorum replica resigns and stops (so the others
    /// elect a successor at once), then every partition log is flushed,
    /// checkpointed and marked clean. The controller lock is held
    /// throughout, so no change of this node's creates or deletes a log
    /// meanwhile.
    pub async fn shutdown(&self) -> Result<(), vltava_storage::Error> {
        // A change in flight that cannot commit (the quorum lost its
        // majority) holds the lock until its commit timeout; do not wait
        // that long to stop. Its records, if they commit later, are applied
        // at the next start.
        let _lock = tokio::time::timeout(Duration::from_secs(5), self.lock.lock())
            .await
            .ok();
        if _lock.is_none() {
            warn!("stopping while a metadata change is still waiting to commit");
        }
        self.quorum.shutdown().await;
        tokio::task::block_in_place(|| self.replicas.log_dirs().close())
    }
}

/// Whether a config change of one resource changes `min.insync.replicas`
/// while eligible leader replicas are on (the ELR lists depend on it).
fn changes_min_isr(
    image: &MetadataImage,
    current: &BTreeMap<String, String>,
    wanted: &BTreeMap<String, String>,
) -> bool {
    vltava_metadata::features::elr_enabled(image)
        && current.get(controller::MIN_INSYNC_REPLICAS)
            != wanted.get(controller::MIN_INSYNC_REPLICAS)
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
