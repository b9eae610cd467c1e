//! The adapters around the coordinator state machines (`vltava-group`,
//! `vltava-txn`), and what they share about their internal topics.

pub mod groups;
pub mod internal_topics;
pub mod transactions;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use vltava_protocol::ErrorCode;

use crate::clock::Clock;
use crate::controller::Controller;
use crate::controller_channel::ControllerChannel;
use crate::error::KafkaError;
use crate::metadata_cache::MetadataCache;
use crate::peers::Peers;
use crate::replica::ReplicaManager;

/// What the coordinator adapters use of the rest of the broker, and no
/// more: the image and config to read, the controller to create their
/// topics, the channel to the active controller for producer ids, the
/// partitions they append to and replay from, and the time.
#[derive(Clone)]
pub struct CoordinatorDeps {
    /// This node: it coordinates the groups and transactions whose internal
    /// topic partition it leads.
    pub node_id: i32,
    pub metadata: Arc<MetadataCache>,
    pub controller: Arc<Controller>,
    pub channel: Arc<ControllerChannel>,
    /// Connections to the other brokers (transaction markers, KIP-890
    /// verification).
    pub peers: Arc<Peers>,
    pub replicas: Arc<ReplicaManager>,
    pub clock: Clock,
}

/// NOT_COORDINATOR while this node's lease with the controller has lapsed
/// (`ControllerChannel::holds_lease`): cut off from the controller, it may
/// already have been fenced and replaced, and must not answer for groups or
/// transactions from state a successor may have moved past.
pub fn check_lease(deps: &CoordinatorDeps) -> Result<(), KafkaError> {
    if deps.channel.holds_lease() {
        Ok(())
    } else {
        Err(KafkaError::new(
            ErrorCode::NOT_COORDINATOR,
            "this node has not heard from the controller for most of its session timeout",
        ))
    }
}

/// The node that leads `partition` of `topic` in the published image (the
/// coordinator of the groups or transactional ids that hash to it), if any.
pub fn partition_leader(deps: &CoordinatorDeps, topic: &str, partition: i32) -> Option<i32> {
    deps.metadata
        .image()
        .partition(topic, partition)
        .map(|p| p.leader)
        .filter(|l| *l >= 0)
}

/// Where this node stands with one partition of an internal topic: the
/// coordinators hold the state of exactly the partitions they lead, loaded
/// in the leader epoch they lead them in (Kafka's coordinators load a
/// partition on election and drop it on resignation).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Leadership {
    /// This node leads the partition in this epoch, both in the published
    /// image and in the partition's role: its state belongs loaded in that
    /// epoch.
    Leads(i32),
    /// The image names this node, but the partition's role has not caught
    /// up with it yet (or its log is not here yet): loading waits for it.
    Becoming,
    /// Another node leads it.
    Elsewhere(i32),
    /// No node leads it (or the topic is not known yet).
    NoLeader,
}

impl Leadership {
    /// Whether a partition loaded in `loaded` (`None`: not loaded) is as
    /// this leadership wants it.
    pub fn settled(self, loaded: Option<i32>) -> bool {
        match self {
            Leadership::Leads(epoch) => loaded == Some(epoch),
            _ => loaded.is_none(),
        }
    }

    /// The answer to a request for a key of the partition that cannot be
    /// served here now: NOT_COORDINATOR sends the client to FindCoordinator,
    /// COORDINATOR_LOAD_IN_PROGRESS makes it ask this node again.
    pub fn refusal(self, topic: &str, partition: i32, what: &str) -> KafkaError {
        match self {
            Leadership::Leads(_) | Leadership::Becoming => KafkaError::new(
                ErrorCode::COORDINATOR_LOAD_IN_PROGRESS,
                format!("{topic}-{partition} is being loaded."),
            ),
            Leadership::Elsewhere(leader) => KafkaError::new(
                ErrorCode::NOT_COORDINATOR,
                format!("{what} is coordinated by node {leader} ({topic}-{partition})."),
            ),
            Leadership::NoLeader => KafkaError::new(
                ErrorCode::COORDINATOR_NOT_AVAILABLE,
                format!("{topic}-{partition} has no leader."),
            ),
        }
    }
}

/// This node's leadership of `partition` of `topic` (see [`Leadership`]).
pub fn leadership(deps: &CoordinatorDeps, topic: &str, partition: i32) -> Leadership {
    let image = deps.metadata.image();
    let Some(state) = image.partition(topic, partition) else {
        return Leadership::NoLeader;
    };
    if state.leader < 0 {
        return Leadership::NoLeader;
    }
    if state.leader != deps.node_id {
        return Leadership::Elsewhere(state.leader);
    }
    match deps
        .replicas
        .get(topic, partition)
        .and_then(|p| p.leading_epoch())
    {
        Some(epoch) if epoch == state.leader_epoch => Leadership::Leads(epoch),
        _ => Leadership::Becoming,
    }
}

/// Where one partition stands for a request about its keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Standing {
    /// Loaded in the epoch this node leads it in: served here.
    Ready,
    /// Led elsewhere (or by no node) and not loaded here: refused.
    Refused,
    /// To be loaded or unloaded, or waiting for this node's role to follow
    /// the image.
    Pending,
}

pub fn standing(leadership: Leadership, loaded: Option<i32>) -> Standing {
    match leadership {
        Leadership::Leads(epoch) if loaded == Some(epoch) => Standing::Ready,
        Leadership::Elsewhere(_) | Leadership::NoLeader if loaded.is_none() => Standing::Refused,
        _ => Standing::Pending,
    }
}

/// How long a request waits for its partitions to be settled (a load that
/// runs, the partition's role to follow the image) before it is answered
/// COORDINATOR_LOAD_IN_PROGRESS, as Kafka answers every request during a
/// load. A small partition loads well within it, so the first request
/// after a leadership change is served rather than sent back.
pub const SETTLE_WAIT: Duration = Duration::from_millis(1000);

/// The request path's part in following leadership: for at most
/// `SETTLE_WAIT`, settles the pending ones of `partitions` this node can
/// settle now (with `settle`, under `loading`) and waits for the role of
/// those whose image names this node before their role does. The caller
/// then looks at where each partition stands.
pub async fn settle_for_request<F, Fut>(
    deps: &CoordinatorDeps,
    topic: &str,
    partitions: &[i32],
    loaded: &LoadedEpochs,
    loading: &tokio::sync::Mutex<()>,
    mut settle: F,
) where
    F: FnMut(i32) -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + SETTLE_WAIT;
    // Subscribed before looking, so that a change in between is seen.
    let mut roles = deps.replicas.roles_changed();
    while tokio::time::Instant::now() < deadline {
        let pending: Vec<(i32, Leadership)> = partitions
            .iter()
            .map(|&p| (p, leadership(deps, topic, p)))
            .filter(|&(p, l)| standing(l, loaded.get(p)) == Standing::Pending)
            .collect();
        if pending.is_empty() {
            return;
        }
        let now_settleable: Vec<i32> = pending
            .iter()
            .filter(|&&(p, l)| l != Leadership::Becoming || loaded.get(p).is_some())
            .map(|&(p, _)| p)
            .collect();
        if now_settleable.is_empty() {
            match tokio::time::timeout_at(deadline, roles.changed()).await {
                Ok(Ok(())) => continue,
                _ => return,
            }
        }
        let Ok(_loading) = tokio::time::timeout_at(deadline, loading.lock()).await else {
            return;
        };
        for p in now_settleable {
            if !settle(p).await {
                // A read that failed: the leadership task tries again.
                return;
            }
        }
    }
}

/// What requests about every group or transactional id this node
/// coordinates need (ListGroups, ListTransactions): each of `partitions`
/// of `topic` as this node's leadership wants it, settled for at most
/// `SETTLE_WAIT`; COORDINATOR_LOAD_IN_PROGRESS naming the first one still
/// pending after that.
pub async fn ready_for_all<F, Fut>(
    deps: &CoordinatorDeps,
    topic: &str,
    partitions: &[i32],
    loaded: &LoadedEpochs,
    loading: &tokio::sync::Mutex<()>,
    settle: F,
) -> Result<(), crate::error::KafkaError>
where
    F: FnMut(i32) -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let pending =
        |p: &i32| standing(leadership(deps, topic, *p), loaded.get(*p)) == Standing::Pending;
    if partitions.iter().any(pending) {
        settle_for_request(deps, topic, partitions, loaded, loading, settle).await;
    }
    match partitions.iter().find(|p| pending(p)) {
        None => Ok(()),
        Some(p) => Err(crate::error::KafkaError::new(
            vltava_protocol::ErrorCode::COORDINATOR_LOAD_IN_PROGRESS,
            format!("{topic}-{p} is being loaded or unloaded."),
        )),
    }
}

/// The leader epoch each loaded partition of an internal topic was loaded
/// in. A coordinator adapter changes it only while it holds its state
/// machine, so whoever holds the state machine reads it in step; the fast
/// path of every request reads it without.
#[derive(Default)]
pub struct LoadedEpochs(std::sync::Mutex<HashMap<i32, i32>>);

impl LoadedEpochs {
    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<i32, i32>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn get(&self, partition: i32) -> Option<i32> {
        self.map().get(&partition).copied()
    }

    pub fn set(&self, partition: i32, epoch: Option<i32>) {
        match epoch {
            Some(epoch) => self.map().insert(partition, epoch),
            None => self.map().remove(&partition),
        };
    }
}
