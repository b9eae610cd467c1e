//! Placeholder docs, replaced below.
#![warn(missing_docs)]

mod log;
mod messages;
mod node;
mod rng;
mod types;

pub use crate::log::{EpochCache, MemLog, ReplicatedLog};
pub use crate::messages::*;
pub use crate::node::{
    Action, Config, InjectedBugs, ProposeError, QuorumInfo, RaftNode, ReplicaInfo, RoleKind,
};
pub use crate::rng::SplitMix64;
pub use crate::types::*;

#[cfg(test)]
mod tests;
