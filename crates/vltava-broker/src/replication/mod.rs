//! Partition replication between brokers: the follower's fetchers
//! (`fetcher`) and the leader's ISR changes sent to the controller (`isr`).
//! The leader's side of a follower's fetch is in `handlers::fetch` and
//! `replica::leadership`; the bookkeeping itself is `vltava-replication`.

pub mod fetcher;
pub mod isr;

pub use fetcher::FetcherDeps;
