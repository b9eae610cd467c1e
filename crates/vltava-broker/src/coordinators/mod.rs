//! The adapters around the coordinator state machines (`vltava-group`,
//! `vltava-txn`), and what they share about their internal topics.

pub mod groups;
pub mod internal_topics;
pub mod transactions;
