//! The KRaft quorum of `__cluster_metadata`, run for real: `vltava-raft`'s
//! state machine over a log on disk, with its quorum state in Kafka's
//! `quorum-state` file, its RPCs as Kafka requests on the wire, and a tokio
//! task that feeds it messages, ticks and flush completions.
//!
//! - [`batch_codec`]: raft batches as Kafka v2 record batches (data batches
//!   carry metadata records; LeaderChange and Voters are control batches).
//! - [`disk_log`]: `ReplicatedLog` over a `vltava-storage` log plus snapshot
//!   files (`<end offset>-<epoch>.checkpoint`).
//! - [`quorum_state`]: the `quorum-state` file (`QuorumStateData`, JSON).
//! - [`wire`]: raft messages to and from the generated Kafka types.
//! - [`driver`]: the tokio task and the [`driver::Quorum`] handle.
//! - [`inbound`]: answers the KRaft requests a listener receives.

pub mod batch_codec;
pub mod disk_log;
pub mod driver;
pub mod inbound;
pub mod quorum_state;
pub mod wire;
