//! The classic consumer-group coordinator (Kafka's group protocol before
//! KIP-848), as a deterministic state machine.
//!
//! - [`coordinator::GroupCoordinator`]: requests, replayed records and
//!   `tick(now)` in; answers and `__consumer_offsets` records out. No I/O, no
//!   clock: the broker adapts it to sockets, the log and real time, and the
//!   tests drive it with a simulated clock.
//! - [`group`]: one group's state.
//! - [`consumer`]: the membership and server-side assignment of consumer
//!   groups of the new protocol (KIP-848, ConsumerGroupHeartbeat).
//! - [`records`]: Kafka's binary formats for `__consumer_offsets` and the
//!   group-to-partition rule; [`consumer_records`] those of the new
//!   protocol's groups.

pub mod consumer;
pub mod consumer_records;
pub mod coordinator;
pub mod group;
pub mod records;

pub use coordinator::{
    CoordinatorConfig, Effects, FetchedOffset, GroupCoordinator, GroupDescription, GroupOffsets,
    JoinMember, JoinRequest, JoinResult, MemberDescription, OffsetToCommit, OffsetWrite, Reply,
    SyncRequest, SyncResult,
};
pub use group::{GroupState, ReplyId};
