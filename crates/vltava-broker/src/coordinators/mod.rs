//! The adapters around the coordinator state machines (`vltava-group`,
//! `vltava-txn`), and what they share about their internal topics.

pub mod groups;
pub mod internal_topics;
pub mod transactions;

use std::sync::Arc;

use crate::clock::Clock;
use crate::controller::Controller;
use crate::controller_channel::ControllerChannel;
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

/// The node that leads `partition` of `topic` in the published image (the
/// coordinator of the groups or transactional ids that hash to it), if any.
pub fn partition_leader(deps: &CoordinatorDeps, topic: &str, partition: i32) -> Option<i32> {
    deps.metadata
        .image()
        .partition(topic, partition)
        .map(|p| p.leader)
        .filter(|l| *l >= 0)
}

/// NOT_COORDINATOR unless this node leads `partition` of `topic`.
pub fn check_owner(
    deps: &CoordinatorDeps,
    topic: &str,
    partition: i32,
    what: &str,
) -> Result<(), crate::error::KafkaError> {
    match partition_leader(deps, topic, partition) {
        Some(leader) if leader == deps.node_id => Ok(()),
        Some(leader) => Err(crate::error::KafkaError::new(
            vltava_protocol::ErrorCode::NOT_COORDINATOR,
            format!("{what} is coordinated by node {leader} ({topic}-{partition})."),
        )),
        None => Err(crate::error::KafkaError::new(
            vltava_protocol::ErrorCode::COORDINATOR_NOT_AVAILABLE,
            format!("{topic}-{partition} has no leader."),
        )),
    }
}
