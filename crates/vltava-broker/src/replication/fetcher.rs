//! The follower side of replication: for every broker this one follows in
//! some partition, one task that fetches from it (Kafka's replica fetcher
//! thread), the way a consumer would but naming itself a replica, and
//! appends what comes back as a follower, keeping the leader's offsets and
//! epochs.
//!
//! Fetch v12+ carries each partition's last fetched epoch, and the leader
//! answers a divergence with DivergingEpoch; the follower cuts its log where
//! the two agree before fetching on (KIP-101/KIP-279 without the extra
//! OffsetsForLeaderEpoch round trip, as Kafka's followers do since 2.7).
//!
//! Each task has its own connection to its leader (a long-poll fetch would
//! otherwise hold up transaction markers and other broker-to-broker
//! requests) and re-reads which partitions it fetches before each request,
//! so leadership changes need no restart of anything.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tracing::{debug, info, warn};
use vltava_net::{ConnectionConfig, Redial};
use vltava_protocol::messages::{fetch_request, FetchRequest, FetchResponse};
use vltava_protocol::{ErrorCode, Uuid};
use vltava_replication::follower_truncation_offset;

use crate::clock::Clock;
use crate::controller_channel::ControllerChannel;
use crate::metadata_cache::MetadataCache;
use crate::peers::Peers;
use crate::replica::{replication_quota, Partition, ReplicaManager};

/// What the fetcher tasks share.
#[derive(Clone)]
pub struct FetcherDeps {
    pub node_id: i32,
    pub replicas: Arc<ReplicaManager>,
    pub metadata: Arc<MetadataCache>,
    pub channel: Arc<ControllerChannel>,
    pub peers: Arc<Peers>,
    pub clock: Clock,
}

/// Starts a fetcher task for each leader this broker follows, and more as
/// leaderships move; returns at shutdown once every task has stopped.
pub async fn run(deps: FetcherDeps, mut shutdown: watch::Receiver<bool>) {
    let mut roles = deps.replicas.roles_changed();
    let mut running: HashMap<i32, tokio::task::JoinHandle<()>> = HashMap::new();
    loop {
        let leaders: HashSet<i32> = deps
            .replicas
            .all()
            .iter()
            .filter_map(|p| p.following().map(|(leader, _)| leader))
            .collect();
        for leader in leaders {
            running.entry(leader).or_insert_with(|| {
                info!(leader, "starting a replica fetcher");
                tokio::spawn(fetch_from(deps.clone(), leader, shutdown.clone()))
            });
        }
        tokio::select! {
            changed = roles.changed() => if changed.is_err() { break },
            _ = shutdown.wait_for(|s| *s) => break,
        }
    }
    for (_, task) in running {
        let _ = task.await;
    }
}

/// Where a partition stands with its fetcher.
struct Backoff {
    until: Instant,
}

/// Fetches from `leader` for every partition this broker follows it in,
/// for as long as the broker runs (idle while there are none).
async fn fetch_from(deps: FetcherDeps, leader: i32, mut shutdown: watch::Receiver<bool>) {
    let config = deps.metadata.config();
    let wait = Duration::from_millis(config.replica_fetch_wait_max_ms().max(0) as u64);
    let backoff = Duration::from_millis(config.replica_fetch_backoff_ms().max(1) as u64);
    let request_timeout = Duration::from_millis(config.request_timeout_ms().max(1000) as u64);
    let mut connection = Redial::new(ConnectionConfig {
        client_id: Some(format!("replica-fetcher-{}-{leader}", deps.node_id)),
        connect_timeout: request_timeout,
        // The leader may hold the fetch for `wait` before answering.
        request_timeout: request_timeout + wait,
        // The inter-broker listener's TLS and SASL.
        security: deps.peers.security(),
        ..ConnectionConfig::default()
    });
    let mut roles = deps.replicas.roles_changed();
    let mut held_back: HashMap<(String, i32), Backoff> = HashMap::new();
    let mut last_error: Option<String> = None;
    loop {
        if *shutdown.borrow() {
            return;
        }
        let now = Instant::now();
        held_back.retain(|_, b| b.until > now);
        let partitions: Vec<(Arc<Partition>, i32)> = deps
            .replicas
            .all()
            .into_iter()
            .filter_map(|p| match p.following() {
                Some((l, epoch)) if l == leader => Some((p, epoch)),
                _ => None,
            })
            .filter(|(p, _)| !held_back.contains_key(&(p.topic.clone(), p.index)))
            // A replica whose log directory failed is not fetched for.
            .filter(|(p, _)| !p.is_dir_offline())
            .collect();
        if partitions.is_empty() {
            // Nothing to fetch from this leader now: wait for a role change
            // (or for a held-back partition's time).
            let until = held_back.values().map(|b| b.until).min();
            tokio::select! {
                _ = roles.changed() => {}
                _ = sleep_until_or_forever(until) => {}
                _ = shutdown.wait_for(|s| *s) => return,
            }
            continue;
        }
        let Some(addr) = deps.peers.address_of(leader) else {
            debug!(leader, "the leader has no registered address yet");
            pause(backoff, &mut shutdown).await;
            continue;
        };
        // The follower side of the replication throttle: while its rate is
        // over the bound, throttled partitions this broker is not in the
        // ISR of are left out of the fetch (see `replication_quota`).
        let config = deps.metadata.config();
        let quota_config = replication_quota::rate_config(&config);
        let over = deps.replicas.follower_quota.exceeded(
            &quota_config,
            config.follower_replication_throttled_rate(),
            deps.clock.now_ms(),
        );
        let partitions: Vec<(Arc<Partition>, i32)> = if over {
            let image = deps.metadata.image();
            partitions
                .into_iter()
                .filter(|(p, _)| {
                    !p.settings().follower_throttled.contains(p.index)
                        || image
                            .partition(&p.topic, p.index)
                            .is_some_and(|state| state.isr.contains(&deps.node_id))
                })
                .collect()
        } else {
            partitions
        };
        if partitions.is_empty() {
            // Every partition waits for the throttle: a window's sample.
            pause(
                Duration::from_millis(quota_config.window_ms as u64),
                &mut shutdown,
            )
            .await;
            continue;
        }
        let request = fetch_request_for(&deps, &partitions, wait, &config);
        let sent = tokio::select! {
            r = connection.send(&addr, &request, Some(FETCH_VERSION)) => r,
            _ = shutdown.wait_for(|s| *s) => return,
        };
        let response = match sent {
            Ok(r) => {
                last_error = None;
                r
            }
            Err(e) => {
                // Said once per kind of failure, not at every retry.
                let message = e.to_string();
                if last_error.as_deref() != Some(message.as_str()) {
                    warn!(leader, "replica fetch failed: {message}");
                    last_error = Some(message);
                }
                pause(backoff, &mut shutdown).await;
                continue;
            }
        };
        if response.error_code != 0 {
            warn!(
                leader,
                "replica fetch refused: {:?}",
                ErrorCode(response.error_code)
            );
            pause(backoff, &mut shutdown).await;
            continue;
        }
        // Partitions the leader refused are held back for `backoff`, which
        // paces their retries; the others fetch on at once.
        let throttled_bytes = throttled_bytes(&partitions, &response);
        deps.replicas
            .follower_quota
            .record(&quota_config, throttled_bytes, deps.clock.now_ms());
        apply_response(&deps, &partitions, response, backoff, &mut held_back);
    }
}

async fn sleep_until_or_forever(until: Option<Instant>) {
    match until {
        Some(t) => tokio::time::sleep_until(t.into()).await,
        None => std::future::pending().await,
    }
}

async fn pause(backoff: Duration, shutdown: &mut watch::Receiver<bool>) {
    tokio::select! {
        _ = tokio::time::sleep(backoff) => {}
        _ = shutdown.wait_for(|s| *s) => {}
    }
}

/// The Fetch version followers send: v15 names the replica in its replica
/// state with its broker epoch (KIP-903), topics by id (v13+), and carries
/// each partition's last fetched epoch for the divergence check (v12+).
/// Every Vltava broker serves it.
const FETCH_VERSION: i16 = 15;

/// One Fetch (in `FETCH_VERSION`, whose fields only are set) naming this
/// broker as a replica, from each partition's log end.
fn fetch_request_for(
    deps: &FetcherDeps,
    partitions: &[(Arc<Partition>, i32)],
    wait: Duration,
    config: &vltava_config::BrokerConfig,
) -> FetchRequest {
    let mut topics: Vec<fetch_request::FetchTopic> = Vec::new();
    for (p, epoch) in partitions {
        let wanted = fetch_request::FetchPartition {
            partition: p.index,
            current_leader_epoch: *epoch,
            fetch_offset: p.log().log_end_offset(),
            last_fetched_epoch: p.log().latest_epoch().unwrap_or(-1),
            log_start_offset: p.log_start_offset(),
            partition_max_bytes: config.replica_fetch_max_bytes().max(1),
            ..Default::default()
        };
        match topics.iter_mut().find(|t| t.topic_id == Uuid(p.topic_id.0)) {
            Some(t) => t.partitions.push(wanted),
            None => topics.push(fetch_request::FetchTopic {
                topic_id: Uuid(p.topic_id.0),
                partitions: vec![wanted],
                ..Default::default()
            }),
        }
    }
    FetchRequest {
        replica_id: -1,
        replica_state: fetch_request::ReplicaState {
            replica_id: deps.node_id,
            replica_epoch: deps.channel.broker_epoch().unwrap_or(-1),
            ..Default::default()
        },
        max_wait_ms: wait.as_millis() as i32,
        min_bytes: config.replica_fetch_min_bytes().max(1),
        max_bytes: config.replica_fetch_response_max_bytes().max(1),
        isolation_level: 0,
        session_id: 0,
        session_epoch: -1,
        topics,
        ..Default::default()
    }
}

/// The record bytes of the answer's partitions that the topic throttles on
/// this follower.
fn throttled_bytes(asked: &[(Arc<Partition>, i32)], response: &FetchResponse) -> usize {
    response
        .responses
        .iter()
        .flat_map(|topic| topic.partitions.iter().map(move |data| (topic, data)))
        .filter(|(topic, data)| {
            asked.iter().any(|(p, _)| {
                p.index == data.partition_index
                    && (p.topic == topic.topic || Uuid(p.topic_id.0) == topic.topic_id)
                    && p.settings().follower_throttled.contains(p.index)
            })
        })
        .map(|(_, data)| data.records.as_ref().map_or(0, |r| r.len()))
        .sum()
}

/// Appends, truncates or holds back each partition as the leader answered.
fn apply_response(
    deps: &FetcherDeps,
    asked: &[(Arc<Partition>, i32)],
    response: FetchResponse,
    backoff: Duration,
    held_back: &mut HashMap<(String, i32), Backoff>,
) {
    let now_ms = deps.clock.now_ms();
    for topic in response.responses {
        for data in topic.partitions {
            let Some((partition, epoch)) = asked.iter().find(|(p, _)| {
                p.index == data.partition_index
                    && (p.topic == topic.topic || Uuid(p.topic_id.0) == topic.topic_id)
            }) else {
                continue;
            };
            // Leadership may have moved while the fetch was out.
            if partition.following().map(|(_, e)| e) != Some(*epoch) {
                continue;
            }
            let hold = |held_back: &mut HashMap<(String, i32), Backoff>| {
                held_back.insert(
                    (partition.topic.clone(), partition.index),
                    Backoff {
                        until: Instant::now() + backoff,
                    },
                );
            };
            let code = ErrorCode(data.error_code);
            let result = match code {
                ErrorCode::NONE
                    if data.diverging_epoch.epoch >= 0 || data.diverging_epoch.end_offset >= 0 =>
                {
                    let log = partition.log();
                    let cut = follower_truncation_offset(
                        (data.diverging_epoch.epoch, data.diverging_epoch.end_offset),
                        |e| log.end_offset_for_epoch(e),
                        log.log_end_offset(),
                        partition.high_watermark(),
                    );
                    info!(
                        topic = %partition.topic,
                        partition = partition.index,
                        diverging_epoch = data.diverging_epoch.epoch,
                        leader_end = data.diverging_epoch.end_offset,
                        log_end = log.log_end_offset(),
                        truncate_to = cut,
                        "the log diverged from the leader's: truncating"
                    );
                    partition.truncate_as_follower(cut)
                }
                ErrorCode::NONE => {
                    let records = data.records.unwrap_or_default();
                    partition.append_as_follower(records, data.high_watermark, now_ms)
                }
                ErrorCode::OFFSET_OUT_OF_RANGE
                    if data.log_start_offset > partition.log().log_end_offset() =>
                {
                    // The leader deleted what this follower would fetch next
                    // (retention, DeleteRecords): start over at its log start.
                    info!(
                        topic = %partition.topic,
                        partition = partition.index,
                        leader_log_start = data.log_start_offset,
                        "behind the leader's log start: starting the log over there"
                    );
                    partition.restart_as_follower_at(data.log_start_offset, now_ms)
                }
                ErrorCode::OFFSET_OUT_OF_RANGE if data.high_watermark >= 0 => {
                    // Ahead of the leader with no epoch to tell where the
                    // logs part: everything below the leader's high
                    // watermark is on it.
                    let cut = data.high_watermark.min(partition.log().log_end_offset());
                    warn!(
                        topic = %partition.topic,
                        partition = partition.index,
                        truncate_to = cut,
                        "fetch offset out of the leader's range: truncating to its high watermark"
                    );
                    partition.truncate_as_follower(cut)
                }
                code => {
                    debug!(
                        topic = %partition.topic,
                        partition = partition.index,
                        "replica fetch: {code:?}"
                    );
                    hold(held_back);
                    Ok(())
                }
            };
            if let Err(e) = result {
                warn!(
                    topic = %partition.topic,
                    partition = partition.index,
                    "replicating from the leader failed: {e}"
                );
                hold(held_back);
            }
        }
    }
}
