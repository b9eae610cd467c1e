//! Partition replication between brokers: the follower's fetchers
//! (`fetcher`), the leader's ISR changes sent to the controller (`isr`),
//! and the log directory of each replica told to the controller
//! (`directories`).
//! The leader's side of a follower's fetch is in `handlers::fetch` and
//! `replica::leadership`; the bookkeeping itself is `vltava-replication`.

pub mod directories;
pub mod fetcher;
pub mod isr;

pub use fetcher::FetcherDeps;
