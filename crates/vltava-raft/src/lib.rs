//! Kafka's KRaft consensus protocol as a deterministic, sans-IO state
//! machine: the quorum under Vltava's cluster metadata (issue 8).
//!
//! What it implements, in Kafka's terms: the replica states of Kafka's
//! `QuorumState` (Unattached, Prospective, Candidate, Leader, Follower,
//! Resigned); KIP-996 pre-vote before every election; Vote with the
//! up-to-date-log rule and one durable vote per epoch; BeginQuorumEpoch and
//! EndQuorumEpoch; pull replication by Fetch with DivergingEpoch and
//! SnapshotId answers; a high watermark that moves only on a majority of
//! voters and only once an entry of the leader's epoch (its
//! LeaderChangeMessage) is included; check-quorum resignation; KIP-630
//! snapshots fetched in chunks with FetchSnapshot; observers (non-voters that
//! fetch); DescribeQuorum's data; and the core of KIP-853 dynamic voters
//! (VotersRecord in the log, in force when appended; one AddRaftVoter or
//! RemoveRaftVoter at a time).
//!
//! # Shape: a log trait for reads, completions for durability
//!
//! [`RaftNode`] owns a [`ReplicatedLog`] and is driven by four calls:
//! [`RaftNode::on_message`], [`RaftNode::tick`], [`RaftNode::on_flushed`] and
//! [`RaftNode::propose`]. Each returns [`Action`]s for the driver.
//!
//! * The log is a trait, not a stream of append/truncate actions, because
//!   answering a Fetch needs synchronous reads of it (records, the end offset
//!   of an epoch, the snapshot to send); mirroring the log inside the state
//!   machine would double the memory and invite the two copies to disagree.
//! * Appends through the trait are *not durable*. The state machine emits
//!   [`Action::Flush`] and counts an offset as persisted only once the
//!   driver reports it with [`RaftNode::on_flushed`]: a leader counts only
//!   its flushed offset toward the high watermark, and a follower sends its
//!   next Fetch (whose offset the leader counts) only after its flush.
//!   Flushing is slow and naturally asynchronous, so it is a completion.
//! * The quorum state (epoch, leader, vote) is small and must be on disk
//!   before the node acts on it, so [`Action::PersistQuorumState`] is a
//!   barrier in an ordered action list: the driver makes it durable before
//!   it carries out any later action, in particular before it sends the
//!   vote grant that follows it. There is nothing to forget to call.
//!
//! Time is a number of milliseconds passed in; randomness (election
//! timeouts, backoffs) comes from a generator seeded through
//! [`Config::random_seed`]. There is no I/O, clock, thread or async here,
//! so a tokio adapter and the simulation (`tests/simulation.rs`) drive the
//! same code. See `README.md` for the driver contract.
#![warn(missing_docs)]

mod log;
mod messages;
mod node;
mod rng;
mod snapshot;
mod types;

pub use crate::log::{EpochCache, MemLog, ReplicatedLog};
pub use crate::messages::*;
pub use crate::node::{
    Action, Config, InjectedBugs, ProposeError, QuorumInfo, RaftNode, ReplicaInfo, RoleKind,
    VoterChangeError,
};
pub use crate::rng::SplitMix64;
pub use crate::snapshot::{decode_snapshot, encode_snapshot};
pub use crate::types::*;

#[cfg(test)]
mod tests;
