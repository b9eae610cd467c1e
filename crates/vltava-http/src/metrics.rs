//! `/metrics`: the broker's state and counters in the OpenMetrics text
//! format (which Prometheus scrapes), named after Kafka's JMX metrics the
//! way the Prometheus JMX exporter's Kafka rules name them
//! (`kafka_<domain>_<type>_<name>`, lower case, `PerSec` meters as
//! `_total` counters), so dashboards built for Kafka translate. Metrics
//! Kafka has no name for start with `vltava_`; the full list is in
//! docs/operations.md.
//!
//! Nothing here is computed on the request path: counters are the
//! broker's atomics (`vltava_broker::stats`), gauges are read from the
//! state that exists anyway (the partitions' logs and roles, the metadata
//! image, the quorum's status, the group coordinator) when scraped.
//! [`Snapshot::take`] copies everything first; rendering holds no lock.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;
use vltava_broker::stats::{get, BrokerStats, Histogram, PartitionStats, API_SLOTS};
use vltava_broker::Broker;
use vltava_group::GroupOffsets;
use vltava_protocol::messages::ApiKey;
use vltava_quorum::driver::QuorumStatus;

use crate::lag::{GroupLag, Tracker};
use crate::process::ProcessStats;

/// One hosted partition as scraped.
#[derive(Debug, Default)]
struct PartitionRow {
    topic: String,
    partition: i32,
    size: u64,
    segments: usize,
    log_end: i64,
    log_start: i64,
    high_watermark: i64,
    leader: bool,
    under_replicated: bool,
    under_min_isr: bool,
    counts: Counts,
}

/// A partition's counters, read once.
#[derive(Debug, Default, Clone, Copy)]
struct Counts {
    bytes_in: u64,
    messages_in: u64,
    produce_requests: u64,
    failed_produce_requests: u64,
    bytes_out: u64,
    messages_out: u64,
    fetch_requests: u64,
    failed_fetch_requests: u64,
    replication_bytes_in: u64,
    replication_bytes_out: u64,
    isr_shrinks: u64,
    isr_expands: u64,
}

impl Counts {
    fn read(s: &PartitionStats) -> Counts {
        Counts {
            bytes_in: get(&s.bytes_in),
            messages_in: get(&s.messages_in),
            produce_requests: get(&s.produce_requests),
            failed_produce_requests: get(&s.failed_produce_requests),
            bytes_out: get(&s.bytes_out),
            messages_out: get(&s.messages_out),
            fetch_requests: get(&s.fetch_requests),
            failed_fetch_requests: get(&s.failed_fetch_requests),
            replication_bytes_in: get(&s.replication_bytes_in),
            replication_bytes_out: get(&s.replication_bytes_out),
            isr_shrinks: get(&s.isr_shrinks),
            isr_expands: get(&s.isr_expands),
        }
    }

    fn add(&mut self, o: &Counts) {
        self.bytes_in += o.bytes_in;
        self.messages_in += o.messages_in;
        self.produce_requests += o.produce_requests;
        self.failed_produce_requests += o.failed_produce_requests;
        self.bytes_out += o.bytes_out;
        self.messages_out += o.messages_out;
        self.fetch_requests += o.fetch_requests;
        self.failed_fetch_requests += o.failed_fetch_requests;
        self.replication_bytes_in += o.replication_bytes_in;
        self.replication_bytes_out += o.replication_bytes_out;
        self.isr_shrinks += o.isr_shrinks;
        self.isr_expands += o.isr_expands;
    }
}

/// The tokio runtime's figures: Vltava's equivalent of Kafka's network
/// and request-handler thread idle ratios, since every connection is a
/// task on one pool of worker threads rather than a fixed set of network
/// threads feeding handler threads.
#[derive(Debug, Default)]
struct RuntimeFigures {
    /// Each worker's busy time since the runtime started.
    busy: Vec<std::time::Duration>,
    alive_tasks: usize,
    global_queue_depth: usize,
}

impl RuntimeFigures {
    fn read() -> RuntimeFigures {
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            return RuntimeFigures::default();
        };
        let m = handle.metrics();
        RuntimeFigures {
            busy: (0..m.num_workers())
                .map(|w| m.worker_total_busy_duration(w))
                .collect(),
            alive_tasks: m.num_alive_tasks(),
            global_queue_depth: m.global_queue_depth(),
        }
    }
}

/// Everything one scrape reports, copied out of the broker.
pub struct Snapshot {
    listener: String,
    stats: Arc<BrokerStats>,
    partitions: Vec<PartitionRow>,
    quorum: QuorumStatus,
    now_ms: i64,
    uncleanable: usize,
    /// Each log directory and whether it is offline.
    log_dirs: Vec<(String, bool)>,
    runtime: RuntimeFigures,
    /// DescribeQuorum's view, on the quorum leader.
    quorum_replicas: Option<vltava_raft::QuorumInfo>,
    node_id: i32,
    metadata_offset: i64,
    applied_offset: i64,
    topics: usize,
    image_partitions: usize,
    offline_partitions: usize,
    brokers_fenced: usize,
    brokers_unfenced: usize,
    groups: Vec<(GroupOffsets, GroupLag)>,
    process: Option<ProcessStats>,
    quotas: vltava_broker::quotas::QuotaMetrics,
    /// Throttled replication bytes a second, as a leader and as a
    /// follower (`leader.replication.throttled.rate` and its follower
    /// twin bound them).
    replication_byte_rates: (f64, f64),
    /// The lag notifier's (sent, failed, dropped), when one is configured.
    pub(crate) notifications: Option<(u64, u64, u64)>,
}

impl fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Snapshot")
            .field("partitions", &self.partitions.len())
            .finish_non_exhaustive()
    }
}

/// High watermark of every partition hosted here, leader or follower: the
/// log end offset consumers see, which lag is measured against.
pub fn log_ends(broker: &Broker) -> HashMap<(String, i32), i64> {
    broker
        .replicas
        .all()
        .iter()
        .map(|p| ((p.topic.clone(), p.index), p.high_watermark()))
        .collect()
}

impl Snapshot {
    /// Copies the broker's state; `lag` takes in the commits made since
    /// its last sample first, so the statuses are current.
    pub async fn take(broker: &Arc<Broker>, lag: &Tracker) -> Snapshot {
        let image = broker.metadata.image();
        let quorum = broker.controller.quorum().status().borrow().clone();
        // Per-replica progress is known to the quorum leader only; others
        // (and a leader too busy to answer within a second) show none.
        let replicas = if quorum.leader == Some(broker.node_id) {
            match tokio::time::timeout(
                std::time::Duration::from_secs(1),
                broker.controller.quorum().describe(),
            )
            .await
            {
                Ok(Ok(Some(d))) => Some(d.info),
                _ => None,
            }
        } else {
            None
        };
        let applied_offset = broker.applied.borrow().end;
        let mut partitions = Vec::new();
        for p in broker.replicas.all() {
            let log = p.log();
            let leader = p.is_leader();
            let (under_replicated, under_min_isr) = if leader {
                let replicas = image
                    .partition(&p.topic, p.index)
                    .map_or(0, |i| i.replicas.len() as i32);
                let isr = p.isr_size();
                (isr < replicas, isr < p.settings().min_insync_replicas)
            } else {
                (false, false)
            };
            partitions.push(PartitionRow {
                topic: p.topic.clone(),
                partition: p.index,
                size: log.size_in_bytes(),
                segments: log.segment_count(),
                log_end: log.log_end_offset(),
                log_start: log.log_start_offset(),
                high_watermark: p.high_watermark(),
                leader,
                under_replicated,
                under_min_isr,
                counts: Counts::read(&p.stats),
            });
        }
        partitions.sort_by(|a, b| (&a.topic, a.partition).cmp(&(&b.topic, b.partition)));
        let topics = image.topics();
        let image_partitions = topics.iter().map(|t| t.partitions.len()).sum();
        let offline_partitions = topics
            .iter()
            .flat_map(|t| t.partitions.iter())
            .filter(|p| !p.has_leader())
            .count();
        let brokers_fenced = image.brokers.values().filter(|b| b.fenced).count();
        let brokers_unfenced = image.brokers.len() - brokers_fenced;

        let group_offsets = broker.groups.read(|c| c.group_offsets()).await;
        let mut ends: HashMap<(String, i32), i64> = partitions
            .iter()
            .map(|p| ((p.topic.clone(), p.partition), p.high_watermark))
            .collect();
        lag.add_remote_ends(&mut ends);
        lag.observe(&group_offsets, &ends);
        let now = broker.now_ms();
        let groups = group_offsets
            .into_iter()
            .map(|g| {
                let evaluated = lag.evaluate(&g, &ends, now);
                (g, evaluated)
            })
            .collect();
        Snapshot {
            listener: broker.listener_name().to_string(),
            stats: broker.stats.clone(),
            partitions,
            node_id: broker.node_id,
            metadata_offset: image.offset,
            applied_offset,
            topics: topics.len(),
            image_partitions,
            offline_partitions,
            brokers_fenced,
            brokers_unfenced,
            quorum,
            quorum_replicas: replicas,
            now_ms: broker.now_ms(),
            uncleanable: broker.replicas.log_dirs().uncleanable_count(),
            log_dirs: broker
                .replicas
                .log_dirs()
                .dirs()
                .iter()
                .map(|d| (d.path.display().to_string(), d.is_offline()))
                .collect(),
            groups,
            process: crate::process::read(),
            runtime: RuntimeFigures::read(),
            quotas: broker.quotas.metrics(&image),
            replication_byte_rates: {
                let config = vltava_broker::replica::replication_quota::rate_config(
                    &broker.metadata.config(),
                );
                let now = broker.now_ms();
                (
                    broker.replicas.leader_quota.rate(&config, now),
                    broker.replicas.follower_quota.rate(&config, now),
                )
            },
            notifications: None,
        }
    }

    fn active_controller(&self) -> bool {
        self.quorum.leader == Some(self.node_id)
            && self.quorum.role == vltava_raft::RoleKind::Leader
    }
}

/// Renders a snapshot in the OpenMetrics text format.
pub fn render(snapshot: Snapshot) -> Result<String, fmt::Error> {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(snapshot));
    let mut out = String::with_capacity(64 * 1024);
    prometheus_client::encoding::text::encode(&mut out, &registry)?;
    Ok(out)
}

type Labels<'a> = Vec<(&'static str, &'a str)>;

/// Writes one metric family: `rows` of (labels, value).
fn family<'a, V: Copy + Into<f64>>(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    kind: MetricType,
    rows: impl IntoIterator<Item = (Labels<'a>, V)>,
) -> fmt::Result {
    let mut metric = encoder.encode_descriptor(name, help, None, kind)?;
    for (labels, value) in rows {
        let value: f64 = value.into();
        if labels.is_empty() {
            write_value(&mut metric, kind, value)?;
        } else {
            let mut sample = metric.encode_family(&labels)?;
            write_value(&mut sample, kind, value)?;
        }
    }
    Ok(())
}

fn write_value(
    metric: &mut prometheus_client::encoding::MetricEncoder,
    kind: MetricType,
    value: f64,
) -> fmt::Result {
    match kind {
        // Counters stay integers in the text (they are counts).
        MetricType::Counter if value.fract() == 0.0 && value < (1u64 << 53) as f64 => {
            metric.encode_counter::<NoLabelSet, u64, u64>(&(value as u64), None)
        }
        MetricType::Counter => metric.encode_counter::<NoLabelSet, f64, u64>(&value, None),
        _ => metric.encode_gauge(&value),
    }
}

fn one<V>(value: V) -> [(Labels<'static>, V); 1] {
    [(Vec::new(), value)]
}

fn histogram<S: EncodeLabelSet>(
    metric: &mut prometheus_client::encoding::MetricEncoder,
    labels: &S,
    h: &Histogram,
) -> fmt::Result {
    // The encoder takes each bucket's own count (it sums them itself) and
    // marks the last bucket, +Inf, by an upper bound of f64::MAX.
    let mut below = 0;
    let buckets: Vec<(f64, u64)> = h
        .buckets
        .iter()
        .map(|&(upper, cumulative)| {
            let own = cumulative - below;
            below = cumulative;
            (if upper.is_finite() { upper } else { f64::MAX }, own)
        })
        .collect();
    metric
        .encode_family(labels)?
        .encode_histogram::<NoLabelSet>(h.sum_seconds, h.count, &buckets, None)
}

use MetricType::{Counter, Gauge};

impl Collector for Snapshot {
    fn encode(&self, mut e: DescriptorEncoder) -> Result<(), fmt::Error> {
        self.encode_topics(&mut e)?;
        self.encode_requests(&mut e)?;
        self.encode_partitions(&mut e)?;
        self.encode_replication(&mut e)?;
        self.encode_quorum(&mut e)?;
        self.encode_groups(&mut e)?;
        self.encode_quotas(&mut e)?;
        self.encode_runtime(&mut e)?;
        self.encode_process(&mut e)
    }
}

impl Snapshot {
    /// Kafka's BrokerTopicMetrics, per topic (summed over this broker's
    /// partitions of it).
    fn encode_topics(&self, e: &mut DescriptorEncoder) -> fmt::Result {
        let mut topics: BTreeMap<&str, Counts> = BTreeMap::new();
        for p in &self.partitions {
            topics.entry(&p.topic).or_default().add(&p.counts);
        }
        let mut total = Counts::default();
        for c in topics.values() {
            total.add(c);
        }
        type Pick = fn(&Counts) -> u64;
        let counters: [(&str, &str, Pick); 10] = [
            ("kafka_server_brokertopicmetrics_bytesin", "Bytes produced to this broker as leader (Kafka's BytesInPerSec).", |c| c.bytes_in),
            ("kafka_server_brokertopicmetrics_messagesin", "Records produced to this broker as leader (MessagesInPerSec).", |c| c.messages_in),
            ("kafka_server_brokertopicmetrics_bytesout", "Record bytes sent to consumers (BytesOutPerSec; replication excluded).", |c| c.bytes_out),
            ("vltava_brokertopicmetrics_messagesout", "Records in the batches sent to consumers (whole batches, so records before the fetch offset in the first batch count too).", |c| c.messages_out),
            ("kafka_server_brokertopicmetrics_totalproducerequests", "Produce requests per partition (TotalProduceRequestsPerSec).", |c| c.produce_requests),
            ("kafka_server_brokertopicmetrics_failedproducerequests", "Produce requests per partition refused or failed (FailedProduceRequestsPerSec).", |c| c.failed_produce_requests),
            ("kafka_server_brokertopicmetrics_totalfetchrequests", "Consumer fetches per partition (TotalFetchRequestsPerSec).", |c| c.fetch_requests),
            ("kafka_server_brokertopicmetrics_failedfetchrequests", "Consumer fetches per partition answered with an error (FailedFetchRequestsPerSec).", |c| c.failed_fetch_requests),
            ("kafka_server_brokertopicmetrics_replicationbytesin", "Bytes appended as a follower (ReplicationBytesInPerSec).", |c| c.replication_bytes_in),
            ("kafka_server_brokertopicmetrics_replicationbytesout", "Bytes sent to followers (ReplicationBytesOutPerSec).", |c| c.replication_bytes_out),
        ];
        for (name, help, pick) in counters {
            // Kafka's meters exist per topic and for all topics (no label).
            let rows = topics
                .iter()
                .map(|(t, c)| (vec![("topic", *t)], pick(c) as f64))
                .chain([(Vec::new(), pick(&total) as f64)]);
            family(e, name, help, Counter, rows)?;
        }
        Ok(())
    }

    /// Kafka's RequestMetrics and SocketServerMetrics, and the purgatories.
    fn encode_requests(&self, e: &mut DescriptorEncoder) -> fmt::Result {
        let apis: Vec<(i16, &'static str)> = (0..API_SLOTS as i16)
            .filter_map(|k| ApiKey::from_i16(k).map(|a| (k, a.name())))
            .filter(|(k, _)| {
                get(&self.stats.api(*k).requests) > 0 || get(&self.stats.api(*k).failed) > 0
            })
            .collect();
        family(
            e,
            "kafka_network_requestmetrics_requests",
            "Requests answered, per API (RequestsPerSec).",
            Counter,
            apis.iter().map(|(k, name)| {
                (
                    vec![("request", *name)],
                    get(&self.stats.api(*k).requests) as f64,
                )
            }),
        )?;
        family(
            e,
            "vltava_network_requestmetrics_failed",
            "Requests whose connection was closed instead of answered (unsupported version, undecodable), per API.",
            Counter,
            apis.iter()
                .map(|(k, name)| (vec![("request", *name)], get(&self.stats.api(*k).failed) as f64)),
        )?;
        {
            let mut metric = e.encode_descriptor(
                "kafka_network_requestmetrics_totaltime_seconds",
                "Time from a request's frame being taken up to its response written, per API (Kafka's TotalTimeMs, in seconds).",
                None,
                MetricType::Histogram,
            )?;
            for (k, name) in &apis {
                histogram(
                    &mut metric,
                    &[("request", *name)],
                    &self.stats.api(*k).histogram(),
                )?;
            }
        }
        // The total split by phase, as Kafka's RequestMetrics split it.
        let phases = [
            ("kafka_network_requestmetrics_localtime_seconds", "Decoding, the handler's own work and encoding, per API (Kafka's LocalTimeMs, in seconds)."),
            ("kafka_network_requestmetrics_remotetime_seconds", "Time the handler waited on others: followers for acks=all, a fetch's long poll, the controller or another broker (Kafka's RemoteTimeMs, in seconds)."),
            ("kafka_network_requestmetrics_throttletime_seconds", "Time the answer was held back for a client over its quota (Kafka's ThrottleTimeMs, in seconds)."),
            ("kafka_network_requestmetrics_responsesendtime_seconds", "Time writing the response to the socket (Kafka's ResponseSendTimeMs, in seconds)."),
        ];
        let split: Vec<[Histogram; 4]> = apis
            .iter()
            .map(|(k, _)| self.stats.api(*k).phase_histograms())
            .collect();
        for (i, (name, help)) in phases.iter().enumerate() {
            let mut metric = e.encode_descriptor(name, help, None, MetricType::Histogram)?;
            for ((_, api), histograms) in apis.iter().zip(&split) {
                histogram(&mut metric, &[("request", *api)], &histograms[i])?;
            }
        }
        let listener = vec![("listener", self.listener.as_str())];
        family(
            e,
            "kafka_server_socketservermetrics_connection_count",
            "Client connections open now.",
            Gauge,
            [(
                listener.clone(),
                self.stats
                    .connections_open
                    .load(std::sync::atomic::Ordering::Relaxed) as f64,
            )],
        )?;
        family(
            e,
            "kafka_server_socketservermetrics_connection_creation",
            "Client connections accepted since start.",
            Counter,
            [(listener, get(&self.stats.connections_accepted) as f64)],
        )?;
        family(
            e,
            "kafka_server_delayedoperationpurgatory_purgatorysize",
            "Requests waiting: Produce with acks=all for the high watermark, Fetch in its long poll.",
            Gauge,
            [
                (vec![("delayedoperation", "Produce")], self.stats.produce_waiting.load(std::sync::atomic::Ordering::Relaxed) as f64),
                (vec![("delayedoperation", "Fetch")], self.stats.fetch_waiting.load(std::sync::atomic::Ordering::Relaxed) as f64),
            ],
        )
    }

    /// Kafka's `kafka.log:type=Log` gauges, per hosted partition.
    fn encode_partitions(&self, e: &mut DescriptorEncoder) -> fmt::Result {
        let parts: Vec<String> = self
            .partitions
            .iter()
            .map(|p| p.partition.to_string())
            .collect();
        let labels = |i: usize| {
            vec![
                ("topic", self.partitions[i].topic.as_str()),
                ("partition", parts[i].as_str()),
            ]
        };
        type Pick = fn(&PartitionRow) -> f64;
        let gauges: [(&str, &str, Pick); 5] = [
            ("kafka_log_log_size", "Bytes of the partition's log on disk.", |p| p.size as f64),
            ("kafka_log_log_numlogsegments", "Segments of the partition's log.", |p| p.segments as f64),
            ("kafka_log_log_logendoffset", "Offset the next record appended gets.", |p| p.log_end as f64),
            ("kafka_log_log_logstartoffset", "First offset still in the log.", |p| p.log_start as f64),
            ("vltava_log_highwatermark", "Offset below which records are on every in-sync replica (what consumers read up to).", |p| p.high_watermark as f64),
        ];
        for (name, help, pick) in gauges {
            family(
                e,
                name,
                help,
                Gauge,
                (0..self.partitions.len()).map(|i| (labels(i), pick(&self.partitions[i]))),
            )?;
        }
        // The log cleaner (Kafka's LogCleaner / LogCleanerManager) and
        // retention.
        let st = &self.stats;
        let counters: [(&str, &str, u64); 5] = [
            ("vltava_log_cleaner_passes", "Log cleaner passes that cleaned a log.", get(&st.cleaner_passes)),
            ("vltava_log_cleaner_bytes_read", "Bytes of the segments the cleaner read (its dirty sections and what it recopied).", get(&st.cleaner_bytes_read)),
            ("vltava_log_cleaner_bytes_written", "Bytes the cleaner wrote in their place (bytes_written / bytes_read is Kafka's cleaner-recopy-percent).", get(&st.cleaner_bytes_written)),
            ("vltava_log_cleaner_records_removed", "Records (and transaction markers) the cleaner removed.", get(&st.cleaner_records_removed)),
            ("vltava_log_retention_segments_deleted", "Segments deleted by time or size retention or the log start moving.", get(&st.retention_segments_deleted)),
        ];
        for (name, help, v) in counters {
            family(e, name, help, Counter, one(v as f64))?;
        }
        family(
            e,
            "vltava_log_cleaner_last_pass_seconds",
            "How long the cleaner's last pass took.",
            Gauge,
            one(get(&st.cleaner_last_pass_micros) as f64 / 1e6),
        )?;
        let last_run = st
            .cleaner_last_run_ms
            .load(std::sync::atomic::Ordering::Relaxed);
        if last_run > 0 {
            family(
                e,
                "kafka_log_logcleanermanager_time_since_last_run_ms",
                "Milliseconds since the cleaner last cleaned a log.",
                Gauge,
                one((self.now_ms - last_run).max(0) as f64),
            )?;
        }
        family(
            e,
            "kafka_log_logcleanermanager_uncleanable_partitions_count",
            "Logs the cleaner gave up on after a failed pass (until restart).",
            Gauge,
            one(self.uncleanable as f64),
        )?;
        family(
            e,
            "kafka_log_logmanager_offlinelogdirectorycount",
            "Log directories that failed (their replicas are not served until restart).",
            Gauge,
            one(self.log_dirs.iter().filter(|(_, off)| *off).count() as f64),
        )?;
        family(
            e,
            "kafka_log_logmanager_logdirectoryoffline",
            "1 for a log directory that failed, 0 for one in use.",
            Gauge,
            self.log_dirs.iter().map(|(dir, off)| {
                (
                    vec![("logDirectory", dir.as_str())],
                    f64::from(u8::from(*off)),
                )
            }),
        )?;
        Ok(())
    }

    /// Kafka's ReplicaManager and controller gauges.
    fn encode_replication(&self, e: &mut DescriptorEncoder) -> fmt::Result {
        let count =
            |f: fn(&PartitionRow) -> bool| self.partitions.iter().filter(|p| f(p)).count() as f64;
        let total = |f: fn(&Counts) -> u64| {
            self.partitions.iter().map(|p| f(&p.counts)).sum::<u64>() as f64
        };
        family(
            e,
            "kafka_server_replicamanager_partitioncount",
            "Partitions hosted on this broker.",
            Gauge,
            one(self.partitions.len() as f64),
        )?;
        family(
            e,
            "kafka_server_replicamanager_leadercount",
            "Partitions this broker leads.",
            Gauge,
            one(count(|p| p.leader)),
        )?;
        family(
            e,
            "kafka_server_replicamanager_underreplicatedpartitions",
            "Partitions this broker leads whose ISR is smaller than their replicas.",
            Gauge,
            one(count(|p| p.under_replicated)),
        )?;
        family(e, "kafka_server_replicamanager_underminisrpartitioncount", "Partitions this broker leads whose ISR is below min.insync.replicas (acks=all produces fail).", Gauge, one(count(|p| p.under_min_isr)))?;
        family(
            e,
            "kafka_server_replicamanager_isrshrinks",
            "ISR shrinks committed for partitions this broker leads (IsrShrinksPerSec).",
            Counter,
            one(total(|c| c.isr_shrinks)),
        )?;
        family(
            e,
            "kafka_server_replicamanager_isrexpands",
            "ISR expansions committed for partitions this broker leads (IsrExpandsPerSec).",
            Counter,
            one(total(|c| c.isr_expands)),
        )?;
        let active = self.active_controller();
        family(
            e,
            "kafka_controller_kafkacontroller_activecontrollercount",
            "1 on the active controller (the quorum leader), 0 elsewhere.",
            Gauge,
            one(if active { 1.0 } else { 0.0 }),
        )?;
        // As in Kafka, the cluster-wide counts come from the active
        // controller only, so a sum over the nodes counts each once.
        let on_controller = |v: usize| if active { v as f64 } else { 0.0 };
        family(
            e,
            "kafka_controller_kafkacontroller_offlinepartitionscount",
            "Partitions without a leader (reported by the active controller).",
            Gauge,
            one(on_controller(self.offline_partitions)),
        )?;
        family(
            e,
            "kafka_controller_kafkacontroller_globaltopiccount",
            "Topics in the cluster (reported by the active controller).",
            Gauge,
            one(on_controller(self.topics)),
        )?;
        family(
            e,
            "kafka_controller_kafkacontroller_globalpartitioncount",
            "Partitions in the cluster (reported by the active controller).",
            Gauge,
            one(on_controller(self.image_partitions)),
        )?;
        family(
            e,
            "kafka_controller_kafkacontroller_fencedbrokercount",
            "Registered brokers that are fenced (reported by the active controller).",
            Gauge,
            one(on_controller(self.brokers_fenced)),
        )?;
        family(
            e,
            "kafka_controller_kafkacontroller_activebrokercount",
            "Registered brokers that are unfenced (reported by the active controller).",
            Gauge,
            one(on_controller(self.brokers_unfenced)),
        )
    }

    /// Kafka's raft-metrics, and how far this node applied the metadata.
    fn encode_quorum(&self, e: &mut DescriptorEncoder) -> fmt::Result {
        let q = &self.quorum;
        family(
            e,
            "kafka_server_raft_metrics_current_epoch",
            "The metadata quorum's epoch as this node knows it.",
            Gauge,
            one(q.epoch as f64),
        )?;
        family(
            e,
            "kafka_server_raft_metrics_current_leader",
            "The quorum leader (active controller) this node knows, -1 if none.",
            Gauge,
            one(q.leader.map_or(-1.0, |l| l as f64)),
        )?;
        family(
            e,
            "kafka_server_raft_metrics_high_watermark",
            "Metadata log offset below which records are committed.",
            Gauge,
            one(q.high_watermark as f64),
        )?;
        let state = format!("{:?}", q.role).to_lowercase();
        family(
            e,
            "kafka_server_raft_metrics_current_state",
            "This node's role in the quorum (the label; the value is 1).",
            Gauge,
            [(vec![("state", state.as_str())], 1.0)],
        )?;
        if let Some(info) = &self.quorum_replicas {
            let leader_end = info
                .current_voters
                .iter()
                .find(|r| r.replica_id == info.leader_id)
                .map_or(info.high_watermark, |r| r.log_end_offset);
            let rows: Vec<(String, &'static str, i64)> = info
                .current_voters
                .iter()
                .map(|r| (r.replica_id.to_string(), "voter", r.log_end_offset))
                .chain(
                    info.observers
                        .iter()
                        .map(|r| (r.replica_id.to_string(), "observer", r.log_end_offset)),
                )
                .collect();
            family(
                e,
                "vltava_raft_replica_log_end_offset",
                "On the quorum leader: each voter's and observer's metadata log end offset as the leader knows it (-1 unknown).",
                Gauge,
                rows.iter().map(|(id, role, end)| {
                    (vec![("replica", id.as_str()), ("role", *role)], *end as f64)
                }),
            )?;
            family(
                e,
                "vltava_raft_replica_lag",
                "On the quorum leader: records of the metadata log each voter and observer is behind the leader's log end.",
                Gauge,
                rows.iter().filter(|(_, _, end)| *end >= 0).map(|(id, role, end)| {
                    (
                        vec![("replica", id.as_str()), ("role", *role)],
                        (leader_end - end).max(0) as f64,
                    )
                }),
            )?;
        }
        family(
            e,
            "vltava_metadata_applied_offset",
            "Metadata log offset up to which this node applied the records to its image.",
            Gauge,
            one(self.applied_offset as f64),
        )?;
        family(
            e,
            "vltava_metadata_image_offset",
            "Offset of the last record in the published metadata image.",
            Gauge,
            one(self.metadata_offset as f64),
        )
    }

    /// Consumer groups this node coordinates, with lag (kafka_exporter's
    /// names, which Kafka dashboards use) and Burrow's status.
    fn encode_groups(&self, e: &mut DescriptorEncoder) -> fmt::Result {
        family(
            e,
            "kafka_coordinator_group_groupmetadatamanager_numgroups",
            "Consumer groups this node coordinates.",
            Gauge,
            one(self.groups.len() as f64),
        )?;
        family(
            e,
            "kafka_consumergroup_members",
            "Members of each group.",
            Gauge,
            self.groups.iter().map(|(g, _)| {
                (
                    vec![("consumergroup", g.group_id.as_str())],
                    g.members as f64,
                )
            }),
        )?;
        family(
            e,
            "vltava_consumergroup_state",
            "Each group's state (the label; the value is 1).",
            Gauge,
            self.groups.iter().map(|(g, _)| {
                (
                    vec![("consumergroup", g.group_id.as_str()), ("state", g.state)],
                    1.0,
                )
            }),
        )?;
        family(
            e,
            "vltava_consumergroup_status",
            "Each group's lag status by Burrow's rules: 1 OK, 2 WARN, 3 ERR.",
            Gauge,
            self.groups.iter().map(|(g, l)| {
                (
                    vec![("consumergroup", g.group_id.as_str())],
                    l.status as i32 as f64,
                )
            }),
        )?;
        let parts: Vec<Vec<String>> = self
            .groups
            .iter()
            .map(|(_, l)| {
                l.partitions
                    .iter()
                    .map(|p| p.partition.to_string())
                    .collect()
            })
            .collect();
        let rows = |pick: fn(&crate::lag::PartitionLag) -> f64| {
            self.groups
                .iter()
                .zip(&parts)
                .flat_map(move |((g, l), parts)| {
                    l.partitions.iter().zip(parts).map(move |(p, ps)| {
                        (
                            vec![
                                ("consumergroup", g.group_id.as_str()),
                                ("topic", p.topic.as_str()),
                                ("partition", ps.as_str()),
                            ],
                            pick(p),
                        )
                    })
                })
        };
        family(
            e,
            "kafka_consumergroup_current_offset",
            "Committed offset per group and partition (partitions hosted on this node).",
            Gauge,
            rows(|p| p.committed as f64),
        )?;
        family(
            e,
            "kafka_consumergroup_lag",
            "High watermark minus committed offset per group and partition.",
            Gauge,
            rows(|p| p.current_lag as f64),
        )?;
        family(e, "vltava_consumergroup_partition_status", "Each partition's lag status by Burrow's rules: 1 OK, 2 WARN, 4 STOP, 5 STALL, 6 REWIND.", Gauge, rows(|p| p.status as i32 as f64))?;
        if let Some((sent, failed, dropped)) = self.notifications {
            family(
                e,
                "vltava_lag_notifications",
                "Group status changes for http.lag.notifier.url: POSTed and answered 2xx (sent), refused or failed (failed), dropped with the queue full (dropped).",
                Counter,
                [
                    (vec![("result", "sent")], sent as f64),
                    (vec![("result", "failed")], failed as f64),
                    (vec![("result", "dropped")], dropped as f64),
                ],
            )?;
        }
        Ok(())
    }

    /// Prometheus' standard process metrics.
    /// Client quotas: Kafka's per-sensor `byte-rate` (Produce, Fetch) and
    /// `request-time` (Request) under the tags the sensor shares (user and
    /// client id, empty where the quota does not name one), and how often
    /// and how long clients were throttled.
    fn encode_quotas(&self, e: &mut DescriptorEncoder) -> fmt::Result {
        let rates = |kind: &'static str| {
            self.quotas
                .rates
                .iter()
                .filter(move |(k, _, _)| *k == kind)
                .map(|(_, tags, rate)| {
                    (
                        vec![
                            ("user", tags.user.as_str()),
                            ("client_id", tags.client_id.as_str()),
                        ],
                        *rate,
                    )
                })
        };
        family(
            e,
            "kafka_server_produce_byte_rate",
            "Produce bytes a second of a quota sensor (Kafka's type=Produce byte-rate).",
            Gauge,
            rates("produce"),
        )?;
        family(
            e,
            "kafka_server_fetch_byte_rate",
            "Consumer fetch bytes a second of a quota sensor (type=Fetch byte-rate).",
            Gauge,
            rates("fetch"),
        )?;
        family(
            e,
            "kafka_server_request_request_time",
            "Percent of one thread's time used by a quota sensor's requests (type=Request request-time).",
            Gauge,
            rates("request"),
        )?;
        family(
            e,
            "kafka_server_leaderreplication_byte_rate",
            "Bytes a second of throttled replicas this broker sent as a leader (Kafka's type=LeaderReplication byte-rate; leader.replication.throttled.rate bounds it).",
            Gauge,
            one(self.replication_byte_rates.0),
        )?;
        family(
            e,
            "kafka_server_followerreplication_byte_rate",
            "Bytes a second of throttled replicas this broker fetched as a follower (type=FollowerReplication byte-rate; follower.replication.throttled.rate bounds it).",
            Gauge,
            one(self.replication_byte_rates.1),
        )?;
        family(
            e,
            "vltava_quota_throttled",
            "Answers throttled (produce, fetch, request, mutation) and connections closed (connection) for being over a client quota.",
            Counter,
            self.quotas
                .throttles
                .iter()
                .map(|(kind, n, _)| (vec![("quota", *kind)], *n as f64)),
        )?;
        family(
            e,
            "vltava_quota_throttle_seconds",
            "Throttle time handed out for client quotas.",
            Counter,
            self.quotas
                .throttles
                .iter()
                .map(|(kind, _, ms)| (vec![("quota", *kind)], *ms as f64 / 1000.0)),
        )
    }

    /// The runtime's worker threads: busy time (1 - rate(busy)/workers is
    /// the idle ratio Kafka reports for its network processors), tasks
    /// and the queue of tasks woken from outside the workers.
    fn encode_runtime(&self, e: &mut DescriptorEncoder) -> fmt::Result {
        let r = &self.runtime;
        if r.busy.is_empty() {
            return Ok(());
        }
        family(
            e,
            "vltava_runtime_workers",
            "Worker threads of the runtime serving connections, requests and background work.",
            Gauge,
            one(r.busy.len() as f64),
        )?;
        let workers: Vec<String> = (0..r.busy.len()).map(|w| w.to_string()).collect();
        family(
            e,
            "vltava_runtime_worker_busy_seconds",
            "Time each worker thread spent running tasks (not parked); 1 - rate(this)/workers is the idle ratio.",
            Counter,
            r.busy
                .iter()
                .zip(&workers)
                .map(|(d, w)| (vec![("worker", w.as_str())], d.as_secs_f64())),
        )?;
        family(
            e,
            "vltava_runtime_alive_tasks",
            "Tasks alive on the runtime (connections, long polls, background loops).",
            Gauge,
            one(r.alive_tasks as f64),
        )?;
        family(
            e,
            "vltava_runtime_global_queue_depth",
            "Tasks woken from outside the workers and waiting for one (a backlog here means the workers are saturated).",
            Gauge,
            one(r.global_queue_depth as f64),
        )
    }

    fn encode_process(&self, e: &mut DescriptorEncoder) -> fmt::Result {
        let Some(p) = &self.process else {
            return Ok(());
        };
        family(
            e,
            "process_cpu_seconds",
            "User and system CPU time spent.",
            Counter,
            one(p.cpu_seconds),
        )?;
        family(
            e,
            "process_resident_memory_bytes",
            "Resident memory.",
            Gauge,
            one(p.resident_bytes as f64),
        )?;
        family(
            e,
            "process_virtual_memory_bytes",
            "Virtual memory.",
            Gauge,
            one(p.virtual_bytes as f64),
        )?;
        family(
            e,
            "process_open_fds",
            "Open file descriptors.",
            Gauge,
            one(p.open_fds as f64),
        )?;
        if let Some(max) = p.max_fds {
            family(
                e,
                "process_max_fds",
                "The limit on open file descriptors.",
                Gauge,
                one(max as f64),
            )?;
        }
        family(
            e,
            "process_start_time_seconds",
            "Start time since the Unix epoch.",
            Gauge,
            one(p.start_time_seconds),
        )?;
        family(
            e,
            "process_threads",
            "Threads of the process.",
            Gauge,
            one(p.threads as f64),
        )
    }
}
