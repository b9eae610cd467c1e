//! Fetch: serve whole batches as byte ranges of the segment files, with
//! Kafka's long poll. A fetch that has fewer than `min_bytes` waits up to
//! `max_wait_ms` for an append to any of its partitions (woken by the append
//! itself, never by a sleeping loop), then reads again.
//!
//! Fetch sessions (KIP-227): we never create one. A request with session id
//! 0 is a full fetch and is answered with session id 0, which tells the
//! client no session exists, so it keeps sending full fetches.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::futures::Notified;
use vltava_protocol::messages::fetch_response::{
    AbortedTransaction, FetchableTopicResponse, PartitionData,
};
use vltava_protocol::messages::{FetchRequest, FetchResponse};
use vltava_protocol::{ErrorCode, ResponseBody, Uuid};

use super::authz::{Access, Kind, Op};
use super::RequestContext;
use crate::broker::Broker;
use crate::clock::Clock;
use crate::replica::replication_quota;
use crate::replica::zero_copy::ZeroCopy;
use crate::replica::Partition;
use crate::stats::{add, record_count, BrokerStats};

/// One partition the request asked for, resolved (or not) to a log.
struct Wanted {
    partition: Result<Arc<Partition>, ErrorCode>,
    index: i32,
    fetch_offset: i64,
    max_bytes: usize,
    current_leader_epoch: i32,
    last_fetched_epoch: i32,
    /// For a follower's fetch: the divergence the leader found, if any.
    diverging: Option<(i32, i64)>,
    /// For a follower's fetch: the topic throttles this partition's
    /// replication on this leader (its bytes count towards the leader's
    /// throttle rate)...
    throttled: bool,
    /// ...and the follower is outside the ISR (it gets no records while
    /// the rate is over its bound).
    outside_isr: bool,
}

/// Who fetches: a consumer reads up to the high watermark (or the last
/// stable offset), a follower replica up to the log end.
#[derive(Clone, Copy)]
enum Fetcher {
    /// `any_replica`: Fetch v11+, which a follower may answer (KIP-392).
    Consumer {
        read_committed: bool,
        any_replica: bool,
    },
    Follower,
}

/// KIP-392 on a leader with `replica.selector.class` set: the consumer's
/// `client.rack`, and the rack of every unfenced broker.
struct RackSelector {
    client_rack: String,
    racks: std::collections::HashMap<i32, Option<String>>,
}

struct WantedTopic {
    name: String,
    id: Uuid,
    partitions: Vec<Wanted>,
}

pub async fn handle(
    broker: &Broker,
    context: &RequestContext<'_>,
    request: FetchRequest,
) -> ResponseBody {
    let version = context.version;
    // An epoch above 0 continues a session, and none exists (not even
    // "session 0"): Kafka answers FETCH_SESSION_ID_NOT_FOUND, and the
    // client starts over with a full fetch.
    if request.session_id != 0 || request.session_epoch > 0 {
        return session_error(ErrorCode::FETCH_SESSION_ID_NOT_FOUND);
    }
    let by_id = version >= 13;
    // A follower names itself: in the request's replica id before v15,
    // in its replica state (with its broker epoch, KIP-903) since.
    let (replica_id, replica_epoch) = if version >= 15 {
        (
            request.replica_state.replica_id,
            request.replica_state.replica_epoch,
        )
    } else {
        (request.replica_id, -1)
    };
    // Kafka's checks: a follower needs ClusterAction on the cluster, a
    // consumer Read on each topic; a refused partition answers
    // TOPIC_AUTHORIZATION_FAILED either way.
    let access = Access::of(broker, context);
    let follower_allowed = replica_id < 0 || access.allows_cluster(Op::ClusterAction);
    let image = broker.metadata.image();
    let topics: Vec<WantedTopic> = request
        .topics
        .iter()
        .map(|t| {
            let topic = if by_id {
                image.topic_by_id(&t.topic_id)
            } else {
                image.topic(&t.topic)
            };
            let missing = if by_id {
                ErrorCode::UNKNOWN_TOPIC_ID
            } else {
                ErrorCode::UNKNOWN_TOPIC_OR_PARTITION
            };
            let name = topic.map_or(t.topic.as_str(), |t| t.name.as_str());
            let denied = !follower_allowed
                || (replica_id < 0 && !access.allows(Op::Read, Kind::Topic, name));
            WantedTopic {
                name: topic.map_or_else(|| t.topic.clone(), |t| t.name.clone()),
                id: t.topic_id,
                partitions: t
                    .partitions
                    .iter()
                    .map(|p| Wanted {
                        partition: match topic {
                            // An unknown topic id says so before any check,
                            // as in Kafka.
                            None if by_id => Err(missing),
                            _ if denied => Err(ErrorCode::TOPIC_AUTHORIZATION_FAILED),
                            None => Err(missing),
                            Some(topic) => broker
                                .replicas
                                .get(&topic.name, p.partition)
                                .ok_or(ErrorCode::UNKNOWN_TOPIC_OR_PARTITION),
                        },
                        index: p.partition,
                        fetch_offset: p.fetch_offset,
                        max_bytes: p.partition_max_bytes.max(0) as usize,
                        current_leader_epoch: p.current_leader_epoch,
                        last_fetched_epoch: if version >= 12 {
                            p.last_fetched_epoch
                        } else {
                            -1
                        },
                        diverging: None,
                        throttled: false,
                        outside_isr: false,
                    })
                    .collect(),
            }
        })
        .collect();
    drop(image);

    let max_bytes = if version >= 3 {
        request.max_bytes.max(0) as usize
    } else {
        usize::MAX
    };
    let min_bytes = request.min_bytes.max(0) as usize;
    let deadline = Instant::now() + Duration::from_millis(request.max_wait_ms.max(0) as u64);
    let mut topics = topics;
    let fetcher = if replica_id >= 0 {
        // The leader counts the follower's position once, at arrival: that
        // is what its fetch offset says it has.
        let now = broker.now_ms();
        let mut outside_isr = false;
        for wanted in topics.iter_mut().flat_map(|t| t.partitions.iter_mut()) {
            let Ok(partition) = &wanted.partition else {
                continue;
            };
            match partition.on_follower_fetch(
                replica_id,
                replica_epoch,
                wanted.fetch_offset,
                wanted.current_leader_epoch,
                wanted.last_fetched_epoch,
                now,
            ) {
                Ok(f) => {
                    wanted.diverging = f.diverging;
                    wanted.throttled = partition.settings().leader_throttled.contains(wanted.index);
                    wanted.outside_isr = f.outside_isr;
                    outside_isr |= f.outside_isr;
                }
                Err(code) => wanted.partition = Err(code),
            }
        }
        if outside_isr {
            broker.replicas.isr_check().notify_one();
        }
        Fetcher::Follower
    } else {
        Fetcher::Consumer {
            read_committed: request.isolation_level == 1,
            any_replica: version >= 11,
        }
    };
    let selector = (matches!(fetcher, Fetcher::Consumer { .. })
        && version >= 11
        && !request.rack_id.is_empty()
        && broker.metadata.config().rack_aware_replica_selector())
    .then(|| RackSelector {
        client_rack: request.rack_id.clone(),
        racks: broker
            .metadata
            .image()
            .active_brokers()
            .into_iter()
            .map(|b| (b.id, b.rack.clone()))
            .collect(),
    });
    loop {
        // Arm the wake-ups before reading, so an append that lands between
        // the read and the wait is not missed.
        let logs: Vec<Arc<Partition>> = topics
            .iter()
            .flat_map(|t| t.partitions.iter())
            .filter_map(|p| p.partition.as_ref().ok().cloned())
            .collect();
        let mut wakeups: Vec<Pin<Box<Notified<'_>>>> = logs
            .iter()
            .map(|p| Box::pin(p.appended().notified()))
            .collect();
        for w in &mut wakeups {
            w.as_mut().enable();
        }

        // Throttled followers get no records while the leader's
        // replication throttle is over its rate (see `replication_quota`).
        // (Only a follower's fetch can list throttled partitions: a
        // consumer's reads no config for this.)
        let throttle = matches!(fetcher, Fetcher::Follower).then(|| {
            let config = broker.metadata.config();
            (
                replication_quota::rate_config(&config),
                config.leader_replication_throttled_rate(),
            )
        });
        let throttling = throttle.as_ref().is_some_and(|(quota_config, rate)| {
            topics
                .iter()
                .any(|t| t.partitions.iter().any(|p| p.throttled && p.outside_isr))
                && broker
                    .replicas
                    .leader_quota
                    .exceeded(quota_config, *rate, broker.now_ms())
        });
        let (mut responses, bytes, any_error) = read_all(
            &topics,
            max_bytes,
            fetcher,
            broker.clock(),
            context.zero_copy,
            throttling,
            selector.as_ref(),
        );
        if bytes >= min_bytes || any_error || Instant::now() >= deadline || wakeups.is_empty() {
            count_fetched(&topics, &responses, fetcher, context.zero_copy);
            if version < 12 {
                // KIP-951's CurrentLeader is a tagged field of v12+: older
                // answers carry only the error (which sends the client to
                // its metadata for the new leader).
                for data in responses.iter_mut().flat_map(|t| t.partitions.iter_mut()) {
                    data.current_leader = Default::default();
                }
            }
            if let Some((quota_config, _)) = &throttle {
                let throttled_bytes = throttled_bytes(&topics, &responses);
                broker
                    .replicas
                    .leader_quota
                    .record(quota_config, throttled_bytes, broker.now_ms());
            }
            return ResponseBody::Fetch(FetchResponse {
                responses,
                ..Default::default()
            });
        }
        let any_append = std::future::poll_fn(|cx| {
            for w in &mut wakeups {
                if w.as_mut().poll(cx).is_ready() {
                    return Poll::Ready(());
                }
            }
            Poll::Pending
        });
        let _waiting = BrokerStats::waiting(&broker.stats.fetch_waiting);
        let _ = tokio::time::timeout_at(deadline.into(), any_append).await;
    }
}

/// Counts what a fetch sends, once per answered request (not per read of
/// its long poll), in each partition's BrokerTopicMetrics: `responses`
/// lists the partitions of `topics` in the same order.
fn count_fetched(
    topics: &[WantedTopic],
    responses: &[FetchableTopicResponse],
    fetcher: Fetcher,
    zero_copy: Option<&ZeroCopy>,
) {
    let wanted = topics.iter().flat_map(|t| t.partitions.iter());
    let answered = responses.iter().flat_map(|t| t.partitions.iter());
    for (wanted, data) in wanted.zip(answered) {
        let Ok(partition) = &wanted.partition else {
            continue;
        };
        let stats = &partition.stats;
        let bytes = data.records.as_ref().map_or(0, Bytes::len) as u64;
        match fetcher {
            Fetcher::Follower => add(&stats.replication_bytes_out, bytes),
            Fetcher::Consumer { .. } => {
                add(&stats.fetch_requests, 1);
                if data.error_code != 0 {
                    add(&stats.failed_fetch_requests, 1);
                }
                if bytes > 0 {
                    add(&stats.bytes_out, bytes);
                    if let Some(records) = &data.records {
                        // A placeholder's bytes say nothing; its located
                        // read knows.
                        let count = zero_copy
                            .and_then(|z| z.record_count(records))
                            .unwrap_or_else(|| record_count(records));
                        add(&stats.messages_out, count);
                    }
                }
            }
        }
    }
}

/// The record bytes a follower's answer carries for its throttled
/// partitions (`responses` lists the partitions of `topics` in order).
fn throttled_bytes(topics: &[WantedTopic], responses: &[FetchableTopicResponse]) -> usize {
    let wanted = topics.iter().flat_map(|t| t.partitions.iter());
    let answered = responses.iter().flat_map(|t| t.partitions.iter());
    wanted
        .zip(answered)
        .filter(|(w, _)| w.throttled)
        .map(|(_, data)| data.records.as_ref().map_or(0, Bytes::len))
        .sum()
}

fn read_all(
    topics: &[WantedTopic],
    max_bytes: usize,
    fetcher: Fetcher,
    clock: &Clock,
    zero_copy: Option<&ZeroCopy>,
    throttling: bool,
    selector: Option<&RackSelector>,
) -> (Vec<FetchableTopicResponse>, usize, bool) {
    let mut budget = max_bytes;
    let mut total = 0usize;
    let mut any_error = false;
    let mut responses = Vec::with_capacity(topics.len());
    for topic in topics {
        let mut partitions = Vec::with_capacity(topic.partitions.len());
        for wanted in &topic.partitions {
            let data = match &wanted.partition {
                Err(code) => error_data(wanted.index, *code),
                Ok(partition) => {
                    // KIP-74: until some partition has returned data, the
                    // first batch is returned whole even above the limits.
                    // A throttled partition is read for nothing: its
                    // offsets and watermarks, no records.
                    let held = throttling && wanted.throttled && wanted.outside_isr;
                    let min_one_batch = total == 0 && !held;
                    let limit = if held {
                        0
                    } else {
                        wanted.max_bytes.min(budget)
                    };
                    let context = ReadContext {
                        fetcher,
                        now_ms: clock.now_ms(),
                        zero_copy,
                        selector,
                    };
                    match read_partition(partition, wanted, limit, min_one_batch, &context) {
                        Ok(data) => {
                            let n = data.records.as_ref().map_or(0, Bytes::len);
                            total += n;
                            budget = budget.saturating_sub(n);
                            data
                        }
                        Err((code, hw, log_start)) => {
                            let mut data = PartitionData {
                                high_watermark: hw,
                                log_start_offset: log_start,
                                // Null, as Kafka answers a read the log
                                // refused (an unknown partition gets the
                                // empty list of `error_data`).
                                aborted_transactions: None,
                                ..error_data(wanted.index, code)
                            };
                            // KIP-951: the leader as this broker knows it,
                            // so the client need not refresh its metadata.
                            if matches!(
                                code,
                                ErrorCode::NOT_LEADER_OR_FOLLOWER | ErrorCode::FENCED_LEADER_EPOCH
                            ) {
                                data.current_leader.leader_id = partition.leader_id();
                                data.current_leader.leader_epoch = partition.leader_epoch();
                            }
                            data
                        }
                    }
                }
            };
            any_error |= data.error_code != 0 || data.diverging_epoch.epoch >= 0;
            partitions.push(data);
        }
        responses.push(FetchableTopicResponse {
            topic: topic.name.clone(),
            topic_id: topic.id,
            partitions,
            ..Default::default()
        });
    }
    (responses, total, any_error)
}

/// What every partition read of one request shares.
struct ReadContext<'a> {
    fetcher: Fetcher,
    now_ms: i64,
    zero_copy: Option<&'a ZeroCopy>,
    selector: Option<&'a RackSelector>,
}

fn read_partition(
    partition: &Partition,
    wanted: &Wanted,
    limit: usize,
    min_one_batch: bool,
    context: &ReadContext<'_>,
) -> Result<PartitionData, (ErrorCode, i64, i64)> {
    let ReadContext {
        fetcher,
        now_ms,
        zero_copy,
        selector,
    } = *context;
    let read_committed = match fetcher {
        Fetcher::Consumer {
            read_committed,
            any_replica,
        } => {
            let checked = if any_replica {
                partition.check_readable(wanted.current_leader_epoch)
            } else {
                partition.check_leader(wanted.current_leader_epoch)
            };
            checked.map_err(|e| (e.code, -1, -1))?;
            read_committed
        }
        Fetcher::Follower => false,
    };
    let high_watermark = partition.high_watermark();
    if let Some((epoch, end_offset)) = wanted.diverging {
        // The follower truncates first; no records until it has.
        let mut data = PartitionData {
            partition_index: wanted.index,
            high_watermark,
            last_stable_offset: -1,
            log_start_offset: partition.log_start_offset(),
            preferred_read_replica: -1,
            records: Some(Bytes::new()),
            ..Default::default()
        };
        data.diverging_epoch.epoch = epoch;
        data.diverging_epoch.end_offset = end_offset;
        return Ok(data);
    }
    let last_stable = match fetcher {
        Fetcher::Consumer { .. } => partition.last_stable_offset(now_ms),
        Fetcher::Follower => -1,
    };
    // KIP-392: a consumer in another rack than this leader's is sent to a
    // follower in its own, and gets no records here.
    if let Some(selector) = selector {
        if let Some(replica) = partition.preferred_read_replica(
            &selector.client_rack,
            wanted.fetch_offset,
            now_ms,
            |id| selector.racks.get(&id).cloned(),
        ) {
            return Ok(PartitionData {
                partition_index: wanted.index,
                high_watermark,
                last_stable_offset: last_stable,
                log_start_offset: partition.log_start_offset(),
                preferred_read_replica: replica,
                records: Some(Bytes::new()),
                ..Default::default()
            });
        }
    }
    let upper = match fetcher {
        Fetcher::Follower => partition.log().log_end_offset(),
        Fetcher::Consumer {
            read_committed: true,
            ..
        } => last_stable,
        Fetcher::Consumer {
            read_committed: false,
            ..
        } => high_watermark,
    };
    let read = partition.read_for(wanted.fetch_offset, limit, upper, min_one_batch, zero_copy);
    match read {
        Ok(records) => Ok(PartitionData {
            // The consumer drops the batches of these producers from each
            // first offset up to the producer's abort marker.
            aborted_transactions: read_committed.then(|| {
                if records.is_empty() {
                    return Vec::new();
                }
                partition
                    .aborted_transactions(wanted.fetch_offset, upper)
                    .into_iter()
                    .map(|(producer_id, first_offset)| AbortedTransaction {
                        producer_id,
                        first_offset,
                        ..Default::default()
                    })
                    .collect()
            }),
            partition_index: wanted.index,
            error_code: 0,
            high_watermark,
            last_stable_offset: last_stable,
            log_start_offset: partition.log_start_offset(),
            preferred_read_replica: -1,
            records: Some(records),
            ..Default::default()
        }),
        Err(code) => Err((code, high_watermark, partition.log_start_offset())),
    }
}

fn error_data(index: i32, code: ErrorCode) -> PartitionData {
    PartitionData {
        partition_index: index,
        error_code: code.code(),
        high_watermark: -1,
        last_stable_offset: -1,
        log_start_offset: -1,
        preferred_read_replica: -1,
        records: Some(Bytes::new()),
        ..Default::default()
    }
}

fn session_error(code: ErrorCode) -> ResponseBody {
    ResponseBody::Fetch(FetchResponse {
        error_code: code.code(),
        session_id: 0,
        ..Default::default()
    })
}
