//! The adapters around the coordinator state machines (`vltava-group`,
//! `vltava-txn`), and what they share about their internal topics.

pub mod groups;
pub mod internal_topics;
pub mod transactions;

use std::sync::Arc;

use crate::clock::Clock;
use crate::controller::Controller;
use crate::metadata_cache::MetadataCache;
use crate::replica::ReplicaManager;

/// What the coordinator adapters use of the rest of the broker, and no
/// more: the image and config to read, the controller to create their
/// topics (and hand out producer ids), the partitions they append to and
/// replay from, and the time.
#[derive(Clone)]
pub struct CoordinatorDeps {
    pub metadata: Arc<MetadataCache>,
    pub controller: Arc<Controller>,
    pub replicas: Arc<ReplicaManager>,
    pub clock: Clock,
}
