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
use crate::replica::ReplicaManager;

/// What the coordinator adapters use of the rest of the broker, and no
/// more: the image and config to read, the controller to create their
/// topics, the channel to the active controller for producer ids, the
/// partitions they append to and replay from, and the time.
#[derive(Clone)]
pub struct CoordinatorDeps {
    pub metadata: Arc<MetadataCache>,
    pub controller: Arc<Controller>,
    pub channel: Arc<ControllerChannel>,
    pub replicas: Arc<ReplicaManager>,
    pub clock: Clock,
}
