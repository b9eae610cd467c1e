//! The Vltava broker: listeners, request routing and the handlers of
//! Kafka's APIs over the partition logs and the metadata image.
//!
//! Layers, top to bottom; a module uses only modules below it (the rules
//! are in ARCHITECTURE.md):
//!
//! - this file ([`run`]) and [`network`]: the accept loop, the connection
//!   loop and the background tasks.
//! - [`handlers`]: one module per API family; [`handlers::SUPPORTED`] is
//!   what ApiVersions advertises. [`broker`]: the [`Broker`] that owns the
//!   parts below and hands each one only the others it uses.
//! - [`coordinators`] (group and transaction coordinator adapters), above
//!   [`controller_channel`] (this node's registration, heartbeats and
//!   producer-id blocks with the active controller), above [`controller`]
//!   (metadata changes through the KRaft quorum, broker membership).
//! - [`replication`]: the replica fetchers of the partitions this broker
//!   follows and the ISR changes of those it leads.
//! - [`metadata_publisher`]: applies the committed metadata log to the
//!   image and the hosted partitions.
//! - [`replica`] (hosted partitions over `vltava-storage` logs, producer
//!   state) and [`metadata_cache`] (the published image and effective
//!   broker config).
//! - [`error`] and [`clock`]: shared by all.

pub mod broker;
pub mod clock;
pub mod controller;
pub mod controller_channel;
pub mod coordinators;
pub mod error;
pub mod handlers;
pub mod metadata_cache;
pub mod metadata_publisher;
pub mod network;
pub mod peers;
pub mod quotas;
pub mod replica;
pub mod replication;
pub mod stats;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tracing::{info, warn};

pub use broker::{Broker, StartError};

/// Runs a broker until `shutdown` turns true: serves the listener and runs
/// the background work (retention, flush, checkpoints), then shuts down
/// cleanly.
pub async fn run(
    broker: Arc<Broker>,
    listeners: Vec<network::server::Listener>,
    mut shutdown: watch::Receiver<bool>,
) {
    // The listener stops only after the controlled shutdown (below): while
    // the controller moves this broker's leaderships away, clients still
    // reach it and are told where each partition went, as Kafka's broker
    // keeps its socket server up until its controlled shutdown is done.
    let (stop_serving, serving) = watch::channel(false);
    let tls: Vec<_> = listeners.iter().filter_map(|l| l.tls.clone()).collect();
    let tls_reload = tokio::spawn(network::server::reload_tls(
        tls,
        broker.outbound_tls.clone(),
        shutdown.clone(),
    ));
    let counts = Arc::new(network::limits::ConnectionCounts::default());
    let servers: Vec<_> = listeners
        .into_iter()
        .map(|l| {
            tokio::spawn(network::server::serve(
                l,
                broker.clone(),
                counts.clone(),
                serving.clone(),
            ))
        })
        .collect();
    let server = tokio::spawn(async move {
        for s in servers {
            let _ = s.await;
        }
    });
    let background = tokio::spawn(background(broker.clone(), shutdown.clone()));
    let dir_watch = tokio::spawn(watch_log_dirs(broker.clone(), shutdown.clone()));
    let moves = tokio::spawn(resume_moves(broker.clone(), shutdown.clone()));
    let cleaner = tokio::spawn(log_cleaner(broker.clone(), shutdown.clone()));
    let timers = tokio::spawn(broker.groups.clone().run_timers(shutdown.clone()));
    // Registration and heartbeats with the active controller; its last act
    // is the controlled-shutdown request.
    let channel = broker
        .is_broker()
        .then(|| tokio::spawn(broker.channel.clone().run(shutdown.clone())));
    let sessions = tokio::spawn(fence_expired_sessions(broker.clone(), shutdown.clone()));
    let voter_upkeep = tokio::spawn(keep_voter_entry(broker.clone(), shutdown.clone()));
    let token_sweep = tokio::spawn(remove_expired_delegation_tokens(
        broker.clone(),
        shutdown.clone(),
    ));
    let rebalance = tokio::spawn(rebalance_leaders(broker.clone(), shutdown.clone()));
    let txn_timers = tokio::spawn(broker.txns.clone().run_timers(shutdown.clone()));
    // Replication: fetchers for the partitions this broker follows, and the
    // ISR changes of those it leads.
    let fetchers = tokio::spawn(replication::fetcher::run(
        broker.replication_deps(),
        shutdown.clone(),
    ));
    let isr = tokio::spawn(replication::isr::run(
        broker.replication_deps(),
        shutdown.clone(),
    ));
    let directories = tokio::spawn(replication::directories::run(
        broker.replication_deps(),
        shutdown.clone(),
    ));
    // The coordinators load the partitions of their internal topics this
    // node leads (at startup, and as leadership moves) and unload those it
    // stops leading; the transaction coordinator finishes the transactions
    // a partition it takes over left ending.
    let group_leadership = tokio::spawn(broker.groups.clone().run_leadership(shutdown.clone()));
    let txn_leadership = tokio::spawn(broker.txns.clone().run_leadership(shutdown.clone()));
    let _ = shutdown.wait_for(|stop| *stop).await;
    info!("shutting down");
    if let Some(channel) = channel {
        let _ = channel.await;
    }
    let _ = stop_serving.send(true);
    // Each task stops on the shutdown signal; one that takes long to is
    // named in the log (a restart under faults was seen to take 15 s).
    for (name, task) in [
        ("listeners", server),
        ("TLS reloads", tls_reload),
        ("background", background),
        ("log directory watch", dir_watch),
        ("moves between log directories", moves),
        ("log cleaner", cleaner),
        ("group timers", timers),
        ("transaction timers", txn_timers),
        ("group coordinator leadership", group_leadership),
        ("transaction coordinator leadership", txn_leadership),
        ("replica fetchers", fetchers),
        ("ISR changes", isr),
        ("log directory assignments", directories),
        ("broker sessions", sessions),
        ("voter upkeep", voter_upkeep),
        ("delegation token expiry", token_sweep),
        ("leader rebalancing", rebalance),
    ] {
        let began = std::time::Instant::now();
        let _ = task.await;
        if began.elapsed() > Duration::from_secs(1) {
            warn!(
                task = name,
                elapsed_ms = began.elapsed().as_millis() as u64,
                "slow to stop"
            );
        }
    }
    let began = std::time::Instant::now();
    broker.shutdown().await;
    if began.elapsed() > Duration::from_secs(1) {
        warn!(
            elapsed_ms = began.elapsed().as_millis() as u64,
            "closing the logs was slow"
        );
    }
}

/// On the active controller, fences brokers whose heartbeats stopped for
/// `broker.session.timeout.ms`; checked every tenth of it (at most every
/// second, at least every 50 ms), so a dead broker's partitions move
/// within about 1.1 session timeouts rather than up to a second later.
async fn fence_expired_sessions(broker: Arc<Broker>, mut shutdown: watch::Receiver<bool>) {
    let session_ms = broker.metadata.config().broker_session_timeout_ms().max(0) as u64;
    let every = Duration::from_millis((session_ms / 10).clamp(50, 1000));
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = shutdown.wait_for(|s| *s) => return,
        }
        // A fencing that cannot commit (no majority) waits for its commit
        // timeout; shutting down must not wait for it.
        tokio::select! {
            _ = broker.controller.fence_expired_sessions() => {}
            _ = shutdown.wait_for(|s| *s) => return,
        }
    }
}

/// On the active controller, removes expired delegation tokens every
/// `delegation.token.expiry.check.interval.ms` (Kafka's token sweep).
async fn remove_expired_delegation_tokens(
    broker: Arc<Broker>,
    mut shutdown: watch::Receiver<bool>,
) {
    let every_ms = broker
        .metadata
        .static_config()
        .delegation_token_expiry_check_interval_ms()
        .max(1) as u64;
    let every = Duration::from_millis(every_ms);
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = shutdown.wait_for(|s| *s) => return,
        }
        tokio::select! {
            _ = broker.controller.remove_expired_delegation_tokens() => {}
            _ = shutdown.wait_for(|s| *s) => return,
        }
    }
}

/// On a controller of a dynamic quorum (KIP-853: voters from the log, not
/// `controller.quorum.voters`), keeps its voter entry right every second:
/// updates its endpoints when its listeners changed, and with
/// `controller.quorum.auto.join.enable` adds it as a voter once caught up,
/// at most once per process (a voter an operator removes later stays
/// removed until the process restarts), as Kafka's auto-join does.
async fn keep_voter_entry(broker: Arc<Broker>, mut shutdown: watch::Receiver<bool>) {
    let config = broker.metadata.static_config();
    let dynamic = config.controller_quorum_voters().is_empty()
        && !config.controller_quorum_bootstrap_servers().is_empty();
    if !broker.is_controller() || !dynamic {
        return;
    }
    let (id, directory_id) = broker.controller.quorum().local_key();
    let me = vltava_raft::Voter {
        id,
        directory_id,
        endpoints: crate::broker::controller_endpoints(config),
    };
    let mut auto_join = config.controller_quorum_auto_join_enable();
    let mut last_error = String::new();
    loop {
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = shutdown.wait_for(|s| *s) => return,
        }
        let upkeep = broker.channel.upkeep_voter(&me, auto_join);
        let outcome = tokio::select! {
            outcome = upkeep => outcome,
            _ = shutdown.wait_for(|s| *s) => return,
        };
        match outcome {
            // A voter now: never join again in this process.
            Ok(true) => auto_join = false,
            Ok(false) => {}
            Err(e) => {
                // Logged once per kind of failure, not every second.
                if e.message != last_error {
                    warn!(
                        voter = id,
                        "keeping this controller's voter entry: {}", e.message
                    );
                    last_error = e.message;
                }
            }
        }
    }
}

/// On the active controller, every `leader.imbalance.check.interval.seconds`,
/// gives leadership back to preferred replicas that are in sync
/// (`auto.leader.rebalance.enable`), as Kafka's KRaft controller does.
async fn rebalance_leaders(broker: Arc<Broker>, mut shutdown: watch::Receiver<bool>) {
    let config = broker.metadata.config();
    if !config.auto_leader_rebalance_enable() {
        return;
    }
    let every = Duration::from_secs(config.leader_imbalance_check_interval_seconds().max(1) as u64);
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = shutdown.wait_for(|s| *s) => return,
        }
        tokio::select! {
            r = broker.controller.rebalance_leaders() => match r {
                Ok(0) => {}
                Ok(n) => info!(partitions = n, "moved leadership back to preferred replicas"),
                Err(e) => warn!("preferred-leader rebalancing: {e}"),
            },
            _ = shutdown.wait_for(|s| *s) => return,
        }
    }
}

/// The log cleaner: compacts the dirtiest compacted log, one pass at a
/// time on the blocking pool, and sleeps `log.cleaner.backoff.ms` when no
/// log needs it. Off with `log.cleaner.enable=false` or
/// `log.cleaner.threads=0`; more threads are accepted but passes still
/// run one at a time. Shutdown stops a running pass at its next batch.
async fn log_cleaner(broker: Arc<Broker>, mut shutdown: watch::Receiver<bool>) {
    let config = broker.metadata.config();
    if !config.log_cleaner_enable() || config.log_cleaner_threads() <= 0 {
        info!("the log cleaner is off: compacted topics are not compacted");
        return;
    }
    let backoff =
        Duration::from_millis(config.log_cleaner_backoff_ms().clamp(10, 3_600_000) as u64);
    let limits = vltava_storage::CleanerLimits {
        map_budget_bytes: usize::try_from(config.log_cleaner_dedupe_buffer_size().max(1 << 20))
            .unwrap_or(usize::MAX),
        max_decompressed_bytes: usize::try_from(config.socket_request_max_bytes().max(0))
            .unwrap_or(usize::MAX)
            .max(vltava_records::compression::DEFAULT_MAX_DECOMPRESSED),
        max_io_bytes_per_second: match config.log_cleaner_io_max_bytes_per_second() {
            rate if rate >= 1.0 => rate,
            rate => {
                warn!("log.cleaner.io.max.bytes.per.second={rate} is below 1 byte a second: the cleaner is not throttled");
                f64::INFINITY
            }
        },
    };
    loop {
        if *shutdown.borrow() {
            return;
        }
        let b = broker.clone();
        let pass_started = std::time::Instant::now();
        let mut job = tokio::task::spawn_blocking(move || {
            let now = b.now_ms();
            // The last stable offset: nothing of an undecided transaction
            // (nor above the high watermark) is cleaned.
            let upper = |log: &vltava_storage::Log| {
                b.replicas
                    .get(log.topic(), log.partition())
                    .map(|p| p.last_stable_offset(now))
            };
            b.replicas.log_dirs().clean_dirtiest(now, &upper, limits)
        });
        let finished = tokio::select! {
            done = &mut job => Some(done),
            _ = shutdown.wait_for(|stop| *stop) => None,
        };
        let Some(pass) = finished else {
            // Stop the pass at its next batch rather than wait for it.
            broker.replicas.log_dirs().stop_cleaning();
            let _ = job.await;
            return;
        };
        let worked = match pass {
            Ok(Ok(Some(done))) => {
                let s = &done.stats;
                let stats = &broker.stats;
                stats::add(&stats.cleaner_passes, 1);
                stats::add(&stats.cleaner_bytes_read, s.bytes_read);
                stats::add(&stats.cleaner_bytes_written, s.bytes_written);
                stats::add(&stats.cleaner_records_removed, s.records_removed);
                stats.cleaner_last_pass_micros.store(
                    pass_started.elapsed().as_micros().min(u64::MAX as u128) as u64,
                    std::sync::atomic::Ordering::Relaxed,
                );
                stats
                    .cleaner_last_run_ms
                    .store(broker.now_ms(), std::sync::atomic::Ordering::Relaxed);
                info!(
                    log = %done.log,
                    dirty_ratio = format!("{:.2}", done.dirty_ratio),
                    records_removed = s.records_removed,
                    bytes_before = s.bytes_read,
                    bytes_after = s.bytes_written,
                    segments_before = s.segments_read,
                    next_checkpoint = s.end_offset,
                    "cleaned log"
                );
                // A pass that moved nothing forward must not spin.
                s.records_removed > 0
                    || s.end_offset > s.first_dirty_offset
                    || s.segments_written > 0
            }
            Ok(Ok(None)) => false,
            Ok(Err(e)) => {
                warn!("log cleaning failed: {e}");
                false
            }
            Err(e) => {
                warn!("log cleaner task failed: {e}");
                false
            }
        };
        if !worked {
            tokio::select! {
                _ = tokio::time::sleep(backoff) => {}
                _ = shutdown.wait_for(|stop| *stop) => return,
            }
        }
    }
}

/// Periodic log maintenance. Each job runs on the blocking pool so a slow
/// disk never stalls request handling.
/// Resumes the moves between log directories a stop interrupted, for each
/// partition as soon as it is hosted (now, or after a later sync).
async fn resume_moves(broker: Arc<Broker>, mut shutdown: watch::Receiver<bool>) {
    let mut roles = broker.replicas.roles_changed();
    loop {
        if broker.replicas.log_dirs().futures().is_empty() {
            return;
        }
        broker.replicas.resume_moves(broker.clock());
        tokio::select! {
            changed = roles.changed() => if changed.is_err() { return },
            _ = shutdown.wait_for(|stop| *stop) => return,
        }
    }
}

/// How often the log directories are looked at for one that failed.
const LOG_DIR_WATCH_EVERY: Duration = Duration::from_millis(250);

/// Takes offline the replicas of a log directory that failed (an I/O error
/// seen by any operation on it), so the other directories keep serving; the
/// heartbeats report it to the controller. When every directory has failed
/// the process exits, as Kafka halts: nothing it hosts can be served.
async fn watch_log_dirs(broker: Arc<Broker>, mut shutdown: watch::Receiver<bool>) {
    let mut seen_offline = 0;
    loop {
        tokio::select! {
            _ = tokio::time::sleep(LOG_DIR_WATCH_EVERY) => {}
            _ = shutdown.wait_for(|stop| *stop) => return,
        }
        let dirs = broker.replicas.log_dirs();
        let offline = dirs.dirs().iter().filter(|d| d.is_offline()).count();
        if offline == seen_offline {
            continue;
        }
        seen_offline = offline;
        let n = broker.replicas.take_failed_dirs_offline();
        warn!(
            offline,
            of = dirs.dirs().len(),
            replicas = n,
            "log directories offline; their replicas are not served"
        );
        if dirs.all_offline() {
            tracing::error!("every log directory has failed; stopping the broker");
            std::process::exit(1);
        }
    }
}

async fn background(broker: Arc<Broker>, mut shutdown: watch::Receiver<bool>) {
    let config = broker.metadata.config();
    let retention_every =
        Duration::from_millis(config.log_retention_check_interval_ms().max(100) as u64);
    let flush_every = Duration::from_millis(
        config
            .log_flush_scheduler_interval_ms()
            .clamp(100, 3_600_000) as u64,
    );
    // Kafka's log.flush.offset.checkpoint.interval.ms default.
    let checkpoint_every = Duration::from_secs(60);
    let hw_checkpoint_every = Duration::from_millis(
        config
            .replica_high_watermark_checkpoint_interval_ms()
            .clamp(100, 3_600_000) as u64,
    );
    let mut retention = tokio::time::interval(retention_every);
    let mut flush = tokio::time::interval(flush_every);
    let mut checkpoint = tokio::time::interval(checkpoint_every);
    let mut hw_checkpoint = tokio::time::interval(hw_checkpoint_every);
    for timer in [
        &mut retention,
        &mut flush,
        &mut checkpoint,
        &mut hw_checkpoint,
    ] {
        timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        timer.reset();
    }
    loop {
        let logs = broker.replicas.log_dirs().clone();
        let clock = broker.clock().clone();
        let job: Box<dyn FnOnce() -> Result<(), vltava_storage::Error> + Send> = tokio::select! {
            _ = retention.tick() => {
                let replicas = broker.replicas.clone();
                let stats = broker.stats.clone();
                Box::new(move || replicas.run_retention(clock.now_ms()).map(|n| if n > 0 {
                    stats::add(&stats.retention_segments_deleted, n as u64);
                    info!(segments = n, "retention deleted segments")
                }))
            }
            _ = flush.tick() => Box::new(move || logs.maybe_flush_all(clock.now_ms()).map(|_| ())),
            _ = checkpoint.tick() => Box::new(move || logs.checkpoint_all()),
            _ = hw_checkpoint.tick() => {
                let replicas = broker.replicas.clone();
                Box::new(move || replicas.checkpoint_high_watermarks())
            }
            _ = shutdown.wait_for(|stop| *stop) => return,
        };
        match tokio::task::spawn_blocking(job).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => warn!("log maintenance failed: {e}"),
            Err(e) => warn!("log maintenance task failed: {e}"),
        }
    }
}
