//! The transaction coordinator of Kafka's exactly-once producers (KIP-98),
//! as a deterministic state machine.
//!
//! - [`coordinator::TransactionCoordinator`] takes InitProducerId,
//!   AddPartitionsToTxn, AddOffsetsToTxn, EndTxn, replayed records and
//!   `tick(now)` in; `__transaction_state` records to append and
//!   transaction markers to write out. No I/O and no clock: the broker
//!   adapts it, and the tests drive it with a simulated clock.
//! - [`records`] holds Kafka's binary formats for `__transaction_state` and the
//!   transactional-id-to-partition rule.
//!
//! A transaction moves Empty → Ongoing (first partition added) →
//! PrepareCommit | PrepareAbort (EndTxn, or a timeout) → CompleteCommit |
//! CompleteAbort (once every partition has its marker) → Ongoing again with
//! the next AddPartitionsToTxn.

pub mod coordinator;
pub mod records;

pub use coordinator::{
    Completion, Effects, InitOutcome, Transaction, TransactionCoordinator, TxnConfig, TxnState,
};
