//! Replication under faults, with real `vltava server` processes: a leader
//! paused with SIGSTOP (a zombie that wakes up still believing it leads),
//! a follower whose log diverged from the new leader's, a rolling restart
//! under load (and how soon a restarted node is back), and unclean leader
//! election.
//!
//! The checker is the same throughout: every record a producer saw
//! acknowledged with acks=all is, once the replicas converge, present
//! exactly once at the offset it was acknowledged at, on every replica.
//! Replicas are compared by reading their log files (a copy of the
//! partition's directory opened with `vltava_storage::Log`), not by
//! fetching: a consumer's fetch is served by the leader alone, and only
//! up to its high watermark.
//!
//! Every produce attempt is sent once (the client's `retries = 0`): the
//! client's own retry after NOT_LEADER_OR_FOLLOWER may write a batch twice,
//! which would be the client's doing, not the broker's. Each attempt
//! carries its own value, so a failed attempt that was written anyway is
//! never mistaken for an acknowledged one.
//!
//! The tests run one at a time (`SERIAL`): each starts three to six
//! servers and relies on timeouts of a few seconds, which a machine busy
//! with another test's cluster would stretch.
//!
//! Set `VLTAVA_TEST_LOG_DIR` to keep each node's log (see `Node::start`).

mod common;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::cluster::{
    check_acked, client_of, converged, eventually, serial, vltava, Cluster, Node,
};
use vltava_client::batches::{build_batch, decode_fetched};
use vltava_client::protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use vltava_client::protocol::messages::ProduceRequest;
use vltava_client::protocol::ApiKey;
use vltava_client::{
    Acks, AlterConfigOp, Client, ClientConfig, Compression, ConfigResource, Connection,
    ConnectionConfig, ErrorCode, NewTopic, ProducerRecord,
};
use vltava_storage::{Log, LogConfig, LogOpenOptions};

// ---- topics and metadata -------------------------------------------------

fn topic(
    name: &str,
    partitions: i32,
    replication_factor: i16,
    configs: &[(&str, &str)],
) -> NewTopic {
    NewTopic {
        num_partitions: Some(partitions),
        replication_factor: Some(replication_factor),
        configs: configs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        ..NewTopic::new(name)
    }
}

/// One partition as a node's Metadata answer describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct PartitionView {
    leader: i32,
    leader_epoch: i32,
    /// Sorted.
    isr: Vec<i32>,
    error: ErrorCode,
}

async fn partition_view(via: &str, topic: &str, partition: i32) -> Option<PartitionView> {
    let mut c = client_of(via).await?;
    let md = c.topic_metadata(topic).await.ok()?;
    let p = md.partitions.iter().find(|p| p.partition == partition)?;
    let mut isr = p.isr.clone();
    isr.sort();
    Some(PartitionView {
        leader: p.leader,
        leader_epoch: p.leader_epoch,
        isr,
        error: p.error,
    })
}

/// Waits until `via` shows `topic`-`partition` with a leader and exactly
/// `isr` in sync; returns the view.
async fn wait_for_isr(
    via: &str,
    topic: &str,
    partition: i32,
    isr: &[i32],
    limit: Duration,
) -> PartitionView {
    let what = format!("{topic}-{partition} with the ISR {isr:?}");
    eventually(limit, &what, || async move {
        let v = partition_view(via, topic, partition).await?;
        (v.leader > 0 && v.isr == isr).then_some(v)
    })
    .await
}

fn bootstraps(cluster: &Cluster, ids: &[i32]) -> Vec<String> {
    ids.iter()
        .map(|id| cluster.nodes[(*id - 1) as usize].bootstrap())
        .collect()
}

// ---- producing -----------------------------------------------------------

/// A produce attempt that gets no answer in this time is given up (and
/// counted as failed: it may or may not have been written).
const ATTEMPT_LIMIT: Duration = Duration::from_secs(5);

/// One send per attempt, short timeouts: a paused broker costs an attempt
/// a few seconds, not the 30 s of the defaults.
fn attempt_config(bootstrap: &str) -> ClientConfig {
    let mut config = ClientConfig::new([bootstrap.to_string()]);
    config.connection.connect_timeout = Duration::from_secs(1);
    config.connection.request_timeout = Duration::from_secs(3);
    config.retries = 0;
    config
}

/// What one produce attempt did.
#[derive(Debug, Clone)]
struct Attempt {
    value: String,
    /// When its answer (or its failure) came.
    at: Instant,
    /// The leader the client's metadata named, to which the record went
    /// (-1: not known).
    leader: i32,
    result: Result<i64, String>,
}

/// Sends one record, once, to the leader that the first bootstrap server
/// that answers names.
async fn attempt(
    bootstraps: &[String],
    topic: &str,
    partition: i32,
    value: &str,
    acks: Acks,
) -> Attempt {
    let mut leader = -1;
    let outcome = tokio::time::timeout(ATTEMPT_LIMIT, async {
        let mut last = "no bootstrap server answered".to_string();
        for b in bootstraps {
            let mut c = match Client::connect(attempt_config(b)).await {
                Ok(c) => c,
                Err(e) => {
                    last = format!("{b}: {e}");
                    continue;
                }
            };
            match c.topic_metadata(topic).await {
                Ok(t) => {
                    if let Some(p) = t.partitions.iter().find(|p| p.partition == partition) {
                        leader = p.leader;
                    }
                }
                Err(e) => return Err(e.to_string()),
            }
            let record = [ProducerRecord::value(value.to_string())];
            return c
                .produce(topic, partition, &record, acks, Compression::None)
                .await
                .map_err(|e| e.to_string());
        }
        Err(last)
    })
    .await;
    Attempt {
        value: value.to_string(),
        at: Instant::now(),
        leader,
        result: outcome.unwrap_or_else(|_| Err(format!("no answer within {ATTEMPT_LIMIT:?}"))),
    }
}

/// Attempts (each with its own value, `{value}-a{n}`) until one is
/// acknowledged or `limit` passes.
async fn produce_acked(
    bootstraps: &[String],
    topic: &str,
    partition: i32,
    value: &str,
    acks: Acks,
    limit: Duration,
) -> Option<(String, i64)> {
    let deadline = Instant::now() + limit;
    let mut n = 0;
    while Instant::now() < deadline {
        n += 1;
        let a = attempt(bootstraps, topic, partition, &format!("{value}-a{n}"), acks).await;
        if let Ok(offset) = a.result {
            return Some((a.value, offset));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    None
}

/// A task producing acks=all records with unique values to one partition,
/// one attempt after another, until stopped; it keeps every attempt.
struct Writer {
    stop: Arc<AtomicBool>,
    attempts: Arc<Mutex<Vec<Attempt>>>,
    task: std::thread::JoinHandle<()>,
}

impl Writer {
    fn spawn(bootstraps: Vec<String>, topic: &str, partition: i32, prefix: &str) -> Writer {
        let stop = Arc::new(AtomicBool::new(false));
        let attempts = Arc::new(Mutex::new(Vec::new()));
        let (topic, prefix) = (topic.to_string(), prefix.to_string());
        // A thread with its own runtime: the client's produce future is
        // not provably `Send` for tokio::spawn.
        let task = std::thread::spawn({
            let (stop, attempts) = (stop.clone(), attempts.clone());
            move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("a runtime for the writer");
                runtime.block_on(async move {
                    let mut n = 0;
                    while !stop.load(Ordering::Relaxed) {
                        n += 1;
                        let value = format!("{prefix}-{n}");
                        let a = attempt(&bootstraps, &topic, partition, &value, Acks::All).await;
                        attempts.lock().unwrap().push(a);
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                })
            }
        });
        Writer {
            stop,
            attempts,
            task,
        }
    }

    fn attempts(&self) -> Vec<Attempt> {
        self.attempts.lock().unwrap().clone()
    }

    /// Acknowledged attempts that were answered after `t`.
    fn acked_after(&self, t: Instant) -> usize {
        self.attempts()
            .iter()
            .filter(|a| a.at > t && a.result.is_ok())
            .count()
    }

    async fn wait_for_acks_after(&self, t: Instant, n: usize, limit: Duration, what: &str) {
        eventually(limit, what, || {
            let done = self.acked_after(t) >= n;
            async move { done.then_some(()) }
        })
        .await;
    }

    /// Stops the task after its attempt in flight; returns every attempt.
    async fn finish(self) -> Vec<Attempt> {
        self.stop.store(true, Ordering::Relaxed);
        let task = self.task;
        tokio::task::spawn_blocking(move || task.join())
            .await
            .unwrap()
            .expect("the writer thread");
        Arc::try_unwrap(self.attempts)
            .expect("the task is done")
            .into_inner()
            .unwrap()
    }
}

/// The failed attempts among `attempts`, counted by kind of error (the
/// message with its numbers blanked out).
fn failure_kinds<'a>(attempts: impl IntoIterator<Item = &'a Attempt>) -> BTreeMap<String, usize> {
    let mut kinds = BTreeMap::new();
    for a in attempts {
        if let Err(e) = &a.result {
            let mut kind = String::new();
            for c in e.chars().take(90) {
                if !(c.is_ascii_digit() && kind.ends_with('#')) {
                    kind.push(if c.is_ascii_digit() { '#' } else { c });
                }
            }
            *kinds.entry(kind).or_insert(0) += 1;
        }
    }
    kinds
}

fn acked(attempts: &[Attempt]) -> Vec<(String, i64)> {
    attempts
        .iter()
        .filter_map(|a| a.result.as_ref().ok().map(|o| (a.value.clone(), *o)))
        .collect()
}

// ---- reading replicas from their files -----------------------------------

/// A replica's log as its files hold it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ReplicaLog {
    /// Offset → value of every data record.
    records: BTreeMap<i64, String>,
    end_offset: i64,
    /// The leader-epoch cache: (epoch, start offset).
    epochs: Vec<(i32, i64)>,
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// Reads `topic`-`partition` from `node`'s data directory, running or not:
/// the files are copied first and the copy is opened (recovery of a copy
/// taken mid-write drops a torn last batch, as a restart would). `None`
/// when there is no such log or the copy could not be read (try again).
fn replica_log(node: &Node, topic: &str, partition: i32) -> Option<ReplicaLog> {
    let source = node.partition_dir(topic, partition);
    let temp = tempfile::tempdir().ok()?;
    let copy = temp.path().join(format!("{topic}-{partition}"));
    std::fs::create_dir(&copy).ok()?;
    for entry in std::fs::read_dir(&source).ok()? {
        let entry = entry.ok()?;
        if entry.file_type().ok()?.is_file() {
            // A file removed meanwhile (a replaced checkpoint) is left out.
            let _ = std::fs::copy(entry.path(), copy.join(entry.file_name()));
        }
    }
    let log = Log::open(
        &copy,
        LogConfig::default(),
        LogOpenOptions::default(),
        now_ms(),
    )
    .ok()?;
    let mut records = BTreeMap::new();
    let mut offset = log.log_start_offset();
    let end_offset = log.log_end_offset();
    while offset < end_offset {
        let read = log.read(offset, 1 << 20, i64::MAX, true).ok()?;
        if read.records.is_empty() {
            break;
        }
        let (decoded, next) =
            decode_fetched(Some(read.records), topic, partition, offset, 1 << 20).ok()?;
        for r in decoded {
            let value = String::from_utf8(r.value.unwrap_or_default().to_vec()).ok()?;
            records.insert(r.offset, value);
        }
        offset = next.max(read.next_offset);
    }
    let epochs = log.epoch_entries();
    let _ = log.close();
    Some(ReplicaLog {
        records,
        end_offset,
        epochs,
    })
}

/// Prints what each replica's files hold (for a failure's diagnosis).
fn dump_replicas(cluster: &Cluster, ids: &[i32], topic: &str, partition: i32) {
    for id in ids {
        match replica_log(&cluster.nodes[(*id - 1) as usize], topic, partition) {
            Some(l) => eprintln!(
                "replica {id} of {topic}-{partition}: end {} epochs {:?} records {:?}",
                l.end_offset, l.epochs, l.records
            ),
            None => eprintln!("replica {id} of {topic}-{partition}: unreadable"),
        }
    }
}

/// [`wait_for_isr`] for a replica that must catch up first: on a timeout
/// the replicas' logs are printed before the panic.
async fn wait_for_rejoin(
    cluster: &Cluster,
    via: &str,
    topic: &str,
    partition: i32,
    isr: &[i32],
    limit: Duration,
) -> PartitionView {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = partition_view(via, topic, partition).await {
            if v.leader > 0 && v.isr == isr {
                return v;
            }
            if Instant::now() > deadline {
                dump_replicas(cluster, isr, topic, partition);
                panic!("timed out waiting for {topic}-{partition} with the ISR {isr:?}: {v:?}");
            }
        }
        assert!(Instant::now() < deadline, "{via} does not describe {topic}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until the replicas on `ids` hold the same log, with at least
/// `min_end` as its end offset; returns it.
async fn converged_replicas(
    cluster: &Cluster,
    ids: &[i32],
    topic: &str,
    partition: i32,
    min_end: i64,
    limit: Duration,
) -> ReplicaLog {
    let what = format!("replicas {ids:?} of {topic}-{partition} to hold the same log");
    let deadline = Instant::now() + limit;
    loop {
        let logs: Vec<Option<ReplicaLog>> = ids
            .iter()
            .map(|id| replica_log(&cluster.nodes[(*id - 1) as usize], topic, partition))
            .collect();
        if let Some(Some(first)) = logs.first() {
            if first.end_offset >= min_end && logs.iter().all(|l| l.as_ref() == Some(first)) {
                return first.clone();
            }
        }
        if Instant::now() > deadline {
            dump_replicas(cluster, ids, topic, partition);
            panic!("timed out waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn ms(d: Duration) -> u128 {
    d.as_millis()
}

// ---- 1. a paused leader --------------------------------------------------

/// The leader of a partition is paused (SIGSTOP) while acks=all producers
/// write through the other nodes. The controller fences it when its
/// session times out and the next in-sync replica leads; writes go on
/// there. When the old leader wakes up it still holds its old role until
/// the metadata tells it otherwise, and a producer with stale metadata
/// writes to it at that very moment: it may append the record (a zombie
/// write) but must not acknowledge it, since it can no longer replicate
/// it. It then rejoins as a follower of the new leader, cutting what it
/// appended as a zombie, and all three replicas end with the same log,
/// holding each acknowledged record once at its offset.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_leader_is_replaced_and_its_writes_are_not_acknowledged() {
    let _serial = serial().await;
    let name = "paused";
    let mut cluster = Cluster::start_with(3, 0, "replica.lag.time.max.ms=2000\n");
    converged(&cluster, &[1, 2, 3], &[1, 2, 3]).await;
    let all = bootstraps(&cluster, &[1, 2, 3]);
    let mut admin = client_of(&all[0]).await.unwrap();
    admin
        .create_topic(&topic(name, 1, 3, &[("min.insync.replicas", "2")]))
        .await
        .expect("create the topic");
    let before = wait_for_isr(&all[0], name, 0, &[1, 2, 3], Duration::from_secs(20)).await;
    let old = before.leader;
    let others: Vec<i32> = (1..=3).filter(|id| *id != old).collect();
    let other_addrs = bootstraps(&cluster, &others);

    let mut acked_records = Vec::new();
    for i in 0..10 {
        let r = produce_acked(
            &all,
            name,
            0,
            &format!("before-{i}"),
            Acks::All,
            Duration::from_secs(20),
        )
        .await
        .expect("acks=all with a full ISR");
        acked_records.push(r);
    }

    // The stale producer: a connection to the leader, set up now.
    let mut pinned = Connection::connect(
        &cluster.node(old).bootstrap(),
        ConnectionConfig {
            request_timeout: Duration::from_secs(15),
            ..ConnectionConfig::default()
        },
    )
    .await
    .expect("connect to the leader");
    let produce_version = pinned
        .negotiated_version_at_least(ApiKey::Produce, 3)
        .unwrap();

    // Producers that bootstrap through the other two nodes.
    let writer = Writer::spawn(other_addrs.clone(), name, 0, "w");
    writer
        .wait_for_acks_after(
            Instant::now(),
            5,
            Duration::from_secs(20),
            "acks before the pause",
        )
        .await;

    cluster.node(old).signal("-STOP");
    let paused_at = Instant::now();
    let after = eventually(Duration::from_secs(20), "a new leader", || {
        let via = other_addrs[0].clone();
        async move {
            let v = partition_view(&via, name, 0).await?;
            (v.leader > 0 && v.leader != old).then_some(v)
        }
    })
    .await;
    let new_leader = after.leader;
    eprintln!(
        "node {old} paused; node {new_leader} leads (epoch {} -> {}, ISR {:?}) {} ms later",
        before.leader_epoch,
        after.leader_epoch,
        after.isr,
        ms(paused_at.elapsed())
    );
    assert!(!after.isr.contains(&old), "the paused leader left the ISR");
    let elected_at = Instant::now();
    writer
        .wait_for_acks_after(
            elected_at,
            10,
            Duration::from_secs(30),
            "acks=all at the new leader",
        )
        .await;
    eprintln!(
        "pause to the first acknowledgement by the new leader: {} ms",
        ms(writer
            .attempts()
            .iter()
            .find(|a| a.at > paused_at && a.result.is_ok())
            .map(|a| a.at - paused_at)
            .unwrap())
    );

    // The stale producer's acks=all record is on its way when the old
    // leader wakes: it is in the socket before SIGCONT, so the broker
    // reads it before it can have heard of its fencing.
    let zombie_value = "zombie-write".to_string();
    let request = ProduceRequest {
        acks: -1,
        timeout_ms: 5000,
        topic_data: vec![TopicProduceData {
            name: name.to_string(),
            partition_data: vec![PartitionProduceData {
                index: 0,
                records: Some(
                    build_batch(
                        &[ProducerRecord::value(zombie_value.clone())],
                        Compression::None,
                    )
                    .unwrap(),
                ),
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    };
    let stale = tokio::spawn(async move {
        let sent = Instant::now();
        let r = pinned.send_version(&request, produce_version).await;
        (r, sent)
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    cluster.node(old).signal("-CONT");
    let resumed_at = Instant::now();
    eprintln!(
        "node {old} resumed after {} ms paused",
        ms(resumed_at - paused_at)
    );
    let (answer, sent) = stale.await.unwrap();
    // Ok(offset): the old leader acknowledged it (allowed only if the
    // record really is at that offset in the new leader's log).
    let zombie_ack: Option<i64> = match answer {
        Ok(resp) => {
            let p = &resp.responses[0].partition_responses[0];
            let code = ErrorCode(p.error_code);
            eprintln!(
                "the old leader answered the stale acks=all produce after {} ms: {code:?} \
                 base offset {} ({:?})",
                ms(sent.elapsed()),
                p.base_offset,
                p.error_message
            );
            if code.is_error() {
                assert!(
                    [
                        ErrorCode::NOT_LEADER_OR_FOLLOWER,
                        ErrorCode::REQUEST_TIMED_OUT,
                        ErrorCode::FENCED_LEADER_EPOCH,
                        ErrorCode::NOT_ENOUGH_REPLICAS,
                        ErrorCode::NOT_ENOUGH_REPLICAS_AFTER_APPEND,
                        ErrorCode::LEADER_NOT_AVAILABLE,
                    ]
                    .contains(&code),
                    "unexpected answer to the stale produce: {code:?}"
                );
                None
            } else {
                Some(p.base_offset)
            }
        }
        Err(e) => {
            eprintln!("the stale acks=all produce failed: {e}");
            None
        }
    };
    match replica_log(cluster.node(old), name, 0) {
        Some(l) => match l.records.iter().find(|(_, v)| **v == zombie_value) {
            Some((offset, _)) => eprintln!(
                "the old leader appended the zombie record at {offset} (its log end {})",
                l.end_offset
            ),
            None => eprintln!(
                "the old leader's log has no zombie record (end {})",
                l.end_offset
            ),
        },
        None => eprintln!("the old leader's log was not readable just now"),
    }

    // It comes back as a follower and rejoins the ISR.
    wait_for_rejoin(
        &cluster,
        &other_addrs[0],
        name,
        0,
        &[1, 2, 3],
        Duration::from_secs(30),
    )
    .await;
    eprintln!(
        "node {old} back in the ISR {} ms after it resumed",
        ms(resumed_at.elapsed())
    );
    let rejoined_at = Instant::now();
    writer
        .wait_for_acks_after(
            rejoined_at,
            5,
            Duration::from_secs(20),
            "acks with the full ISR",
        )
        .await;
    let attempts = writer.finish().await;
    let failed = attempts.iter().filter(|a| a.result.is_err()).count();
    acked_records.extend(acked(&attempts));
    let to_old: Vec<&Attempt> = attempts
        .iter()
        .filter(|a| a.leader == old && a.at > paused_at)
        .collect();
    eprintln!(
        "writer: {} attempts, {} acknowledged, {failed} failed; answered after the pause \
         but sent to the old leader: {:?}",
        attempts.len(),
        attempts.len() - failed,
        to_old
            .iter()
            .map(|a| (&a.value, &a.result))
            .collect::<Vec<_>>()
    );
    if let Some(offset) = zombie_ack {
        acked_records.push((zombie_value.clone(), offset));
    }

    let end = acked_records.iter().map(|(_, o)| o + 1).max().unwrap();
    let log = converged_replicas(&cluster, &[1, 2, 3], name, 0, end, Duration::from_secs(30)).await;
    match zombie_ack {
        Some(offset) => assert_eq!(
            log.records.get(&offset),
            Some(&zombie_value),
            "the old leader acknowledged {zombie_value} at {offset} after losing leadership, \
             but the partition's log does not have it there"
        ),
        None => assert!(
            !log.records.values().any(|v| *v == zombie_value),
            "the record the old leader took after losing leadership survived: {:?}",
            log.records.iter().find(|(_, v)| **v == zombie_value)
        ),
    }
    check_acked(&log.records, &acked_records, "every replica");
    eprintln!(
        "converged: {} records, end offset {}, epochs {:?}",
        log.records.len(),
        log.end_offset,
        log.epochs
    );
}

// ---- 2. a divergent tail -------------------------------------------------

/// The leader takes acks=1 records its followers never get (they are
/// paused a moment, shorter than the session timeout and the replica lag
/// time, so they stay in the ISR), then dies (kill -9). A follower leads
/// and takes acks=all records at the same offsets. When the old leader
/// returns, its tail diverges from the new leader's log: it must cut it at
/// the divergence (Fetch's DivergingEpoch) and copy the new leader's
/// records. The acks=1 records are gone for good: acks=1 promises nothing
/// once the leader is lost. Every acks=all record is intact.
///
/// Three controller-only nodes keep the metadata quorum apart from the
/// three brokers that hold the replicas, so pausing two of them does not
/// touch the quorum.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_with_a_divergent_tail_truncates_it() {
    let _serial = serial().await;
    let name = "diverge";
    let mut cluster = Cluster::start_with(
        3,
        3,
        "replica.lag.time.max.ms=10000\nreplica.fetch.wait.max.ms=100\n",
    );
    converged(&cluster, &[4, 5, 6], &[4, 5, 6]).await;
    let brokers = bootstraps(&cluster, &[4, 5, 6]);
    let mut admin = client_of(&brokers[0]).await.unwrap();
    admin
        .create_topic(&topic(name, 1, 3, &[("min.insync.replicas", "2")]))
        .await
        .expect("create the topic");
    let before = wait_for_isr(&brokers[0], name, 0, &[4, 5, 6], Duration::from_secs(20)).await;
    let old = before.leader;
    let followers: Vec<i32> = [4, 5, 6].into_iter().filter(|id| *id != old).collect();
    let follower_addrs = bootstraps(&cluster, &followers);
    let old_addr = [cluster.node(old).bootstrap()];

    let mut acked_all = Vec::new();
    for i in 0..10 {
        let r = produce_acked(
            &brokers,
            name,
            0,
            &format!("all-{i}"),
            Acks::All,
            Duration::from_secs(20),
        )
        .await
        .expect("acks=all with a full ISR");
        acked_all.push(r);
    }

    // The followers stop; once their last long-poll fetch has been
    // answered (replica.fetch.wait.max.ms), nothing the leader appends
    // can reach them.
    for id in &followers {
        cluster.node(*id).signal("-STOP");
    }
    let paused_at = Instant::now();
    tokio::time::sleep(Duration::from_millis(400)).await;
    let mut acked_one = Vec::new();
    for i in 0..5 {
        let a = attempt(&old_addr, name, 0, &format!("one-{i}"), Acks::Leader).await;
        let offset = a.result.expect("acks=1 to the leader");
        acked_one.push((a.value, offset));
    }
    cluster.node(old).kill9();
    for id in &followers {
        cluster.node(*id).signal("-CONT");
    }
    eprintln!(
        "followers paused {} ms; acks=1 records at {:?}",
        ms(paused_at.elapsed()),
        acked_one.iter().map(|(_, o)| *o).collect::<Vec<_>>()
    );
    let killed_at = Instant::now();

    // The dead leader's files hold the acks=1 records; no follower has
    // them.
    let dead = replica_log(cluster.node(old), name, 0).expect("the dead leader's log");
    check_acked(&dead.records, &acked_one, "the dead leader's log");
    for id in &followers {
        let l = replica_log(cluster.node(*id), name, 0).expect("a follower's log");
        for (value, _) in &acked_one {
            assert!(
                !l.records.values().any(|v| v == value),
                "follower {id} got {value}: the test's premise failed"
            );
        }
    }

    let after = eventually(Duration::from_secs(20), "a new leader", || {
        let via = follower_addrs[0].clone();
        async move {
            let v = partition_view(&via, name, 0).await?;
            (v.leader > 0 && v.leader != old).then_some(v)
        }
    })
    .await;
    eprintln!(
        "node {} leads {} ms after the kill (epoch {} -> {}, ISR {:?})",
        after.leader,
        ms(killed_at.elapsed()),
        before.leader_epoch,
        after.leader_epoch,
        after.isr
    );
    assert!(followers.contains(&after.leader));
    let mut acked_new = Vec::new();
    for i in 0..10 {
        let r = produce_acked(
            &follower_addrs,
            name,
            0,
            &format!("new-{i}"),
            Acks::All,
            Duration::from_secs(20),
        )
        .await
        .expect("acks=all on the two followers");
        acked_new.push(r);
    }
    let new_log = replica_log(cluster.node(after.leader), name, 0).expect("the new leader's log");
    check_acked(&new_log.records, &acked_all, "the new leader's log");
    // The new leader reused the offsets of the acks=1 records: the old
    // leader's tail diverges.
    let first_one = acked_one[0].1;
    assert!(
        acked_new.iter().any(|(_, o)| *o == first_one),
        "no acks=all record at {first_one}: {acked_new:?}"
    );

    cluster.node(old).start();
    let restarted_at = Instant::now();
    wait_for_rejoin(
        &cluster,
        &follower_addrs[0],
        name,
        0,
        &[4, 5, 6],
        Duration::from_secs(30),
    )
    .await;
    eprintln!(
        "node {old} back in the ISR {} ms after its restart",
        ms(restarted_at.elapsed())
    );
    acked_all.extend(acked_new);
    let end = acked_all.iter().map(|(_, o)| o + 1).max().unwrap();
    let log = converged_replicas(&cluster, &[4, 5, 6], name, 0, end, Duration::from_secs(30)).await;
    check_acked(&log.records, &acked_all, "every replica");
    for (value, offset) in &acked_one {
        assert!(
            !log.records.values().any(|v| v == value),
            "the acks=1 record {value} (was at {offset}) survived the loss of its leader"
        );
    }
    eprintln!(
        "converged: end offset {}, epochs {:?}; the acks=1 records are gone",
        log.end_offset, log.epochs
    );
}

// ---- 3. a rolling restart ------------------------------------------------

/// Each node in turn is stopped with SIGTERM (a controlled shutdown: its
/// leaderships move first) and started again, waiting for full ISRs in
/// between, while one producer per partition writes acks=all records.
/// Acknowledgements may pause while a leadership moves, but only briefly;
/// every acknowledged record is there at the end, once, at its offset, on
/// every replica.
///
/// The broker session timeout is 10 s here, so that a leadership that
/// moved only because the stopped node's session expired (no controlled
/// shutdown) shows as a 10 s gap and as a stopped node still leading.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rolling_restart_keeps_every_acknowledged_record() {
    let _serial = serial().await;
    let name = "rolling";
    let partitions = 3;
    /// The longest time without an acknowledgement, on any partition,
    /// that a node's restart may cause.
    const MAX_GAP: Duration = Duration::from_secs(5);
    /// How soon after the process exits the other nodes must show its
    /// partitions led elsewhere.
    const MOVED_WITHIN: Duration = Duration::from_secs(2);
    let mut cluster = Cluster::start_with(
        3,
        0,
        "replica.lag.time.max.ms=2000\nbroker.session.timeout.ms=10000\n",
    );
    converged(&cluster, &[1, 2, 3], &[1, 2, 3]).await;
    let all = bootstraps(&cluster, &[1, 2, 3]);
    let mut admin = client_of(&all[0]).await.unwrap();
    admin
        .create_topic(&topic(name, partitions, 3, &[("min.insync.replicas", "2")]))
        .await
        .expect("create the topic");
    for p in 0..partitions {
        wait_for_isr(&all[0], name, p, &[1, 2, 3], Duration::from_secs(20)).await;
    }
    let writers: Vec<Writer> = (0..partitions)
        .map(|p| Writer::spawn(all.clone(), name, p, &format!("p{p}")))
        .collect();
    let start = Instant::now();
    for w in &writers {
        w.wait_for_acks_after(
            start,
            5,
            Duration::from_secs(20),
            "acks before the restarts",
        )
        .await;
    }

    let mut windows = Vec::new();
    for id in 1..=3 {
        let began = Instant::now();
        let leading: Vec<i32> = {
            let mut led = Vec::new();
            for p in 0..partitions {
                if partition_view(&all[(id % 3) as usize], name, p)
                    .await
                    .is_some_and(|v| v.leader == id)
                {
                    led.push(p);
                }
            }
            led
        };
        let stop_took = cluster.node(id).stop(Duration::from_secs(30));
        let exited = Instant::now();
        let others: Vec<i32> = (1..=3).filter(|o| *o != id).collect();
        let via = cluster.node(others[0]).bootstrap();
        // The controlled shutdown moved its leaderships before it exited.
        loop {
            let mut still_led = Vec::new();
            for p in 0..partitions {
                match partition_view(&via, name, p).await {
                    Some(v) if v.leader != id && v.leader > 0 => {}
                    other => still_led.push((p, other)),
                }
            }
            if still_led.is_empty() {
                break;
            }
            assert!(
                exited.elapsed() < MOVED_WITHIN,
                "{} ms after node {id} exited on SIGTERM its partitions still have no \
                 other leader: {still_led:?}",
                ms(exited.elapsed())
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let moved_after = exited.elapsed();
        cluster.node(id).start();
        converged(&cluster, &[1, 2, 3], &[1, 2, 3]).await;
        for p in 0..partitions {
            wait_for_rejoin(&cluster, &via, name, p, &[1, 2, 3], Duration::from_secs(30)).await;
        }
        let ended = Instant::now();
        eprintln!(
            "node {id} (leading partitions {leading:?}): stopped in {} ms, its partitions \
             led elsewhere {} ms after it exited, back in every ISR {} ms after the SIGTERM",
            ms(stop_took),
            ms(moved_after),
            ms(ended - began)
        );
        windows.push((id, began, ended));
    }
    let last = Instant::now();
    for w in &writers {
        w.wait_for_acks_after(last, 5, Duration::from_secs(20), "acks after the restarts")
            .await;
    }
    let mut histories = Vec::new();
    for w in writers {
        histories.push(w.finish().await);
    }

    // Per restart: failed attempts, and the longest time any partition
    // went without an acknowledgement (gaps that overlap the restart).
    for (id, began, ended) in &windows {
        let mut failed = 0;
        let mut longest = Duration::ZERO;
        let in_window = |a: &&Attempt| a.at >= *began && a.at <= *ended;
        let kinds = failure_kinds(histories.iter().flatten().filter(in_window));
        for history in &histories {
            failed += history
                .iter()
                .filter(in_window)
                .filter(|a| a.result.is_err())
                .count();
            let acks: Vec<Instant> = history
                .iter()
                .filter(|a| a.result.is_ok())
                .map(|a| a.at)
                .collect();
            for pair in acks.windows(2) {
                if pair[1] > *began && pair[0] < *ended {
                    longest = longest.max(pair[1] - pair[0]);
                }
            }
        }
        eprintln!(
            "restart of node {id}: {} ms, {failed} failed attempts, longest gap between \
             acknowledgements {} ms; failures: {kinds:?}",
            ms(*ended - *began),
            ms(longest)
        );
        assert!(
            longest <= MAX_GAP,
            "the restart of node {id} left a partition {} ms without an acknowledgement",
            ms(longest)
        );
    }

    for (p, history) in histories.iter().enumerate() {
        let acked_records = acked(history);
        eprintln!(
            "partition {p}: {} attempts, {} acknowledged",
            history.len(),
            acked_records.len()
        );
        let end = acked_records.iter().map(|(_, o)| o + 1).max().unwrap();
        let log = converged_replicas(
            &cluster,
            &[1, 2, 3],
            name,
            p as i32,
            end,
            Duration::from_secs(30),
        )
        .await;
        check_acked(
            &log.records,
            &acked_records,
            &format!("every replica of partition {p}"),
        );
    }
}

/// A node stopped with SIGTERM and started again at once is back in the
/// cluster and in its ISRs in about the time it takes to catch up, not
/// after its old broker session expires. In Kafka the controller fences a
/// broker whose controlled shutdown is complete, and a fenced broker has
/// no live session to make a new incarnation's registration a duplicate.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_restarted_after_a_controlled_shutdown_rejoins_before_its_session_expires() {
    let _serial = serial().await;
    let name = "restart";
    let session = Duration::from_secs(10);
    let mut cluster = Cluster::start_with(
        3,
        0,
        &format!(
            "replica.lag.time.max.ms=2000\nbroker.session.timeout.ms={}\n",
            session.as_millis()
        ),
    );
    let controller = converged(&cluster, &[1, 2, 3], &[1, 2, 3]).await;
    let all = bootstraps(&cluster, &[1, 2, 3]);
    let mut admin = client_of(&all[0]).await.unwrap();
    admin
        .create_topic(&topic(name, 1, 3, &[("min.insync.replicas", "2")]))
        .await
        .expect("create the topic");
    wait_for_isr(&all[0], name, 0, &[1, 2, 3], Duration::from_secs(20)).await;
    // Not the active controller: the controller of this very node is
    // exempt from the session check, and it moves to another node anyway.
    let victim = (1..=3).find(|id| *id != controller).unwrap();
    let via = cluster.node(controller).bootstrap();
    let began = Instant::now();
    cluster.node(victim).stop(Duration::from_secs(30));
    cluster.node(victim).start();
    let deadline = began + session / 2;
    loop {
        let v = partition_view(&via, name, 0).await;
        if v.as_ref().is_some_and(|v| v.isr == [1, 2, 3]) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "node {victim} is not back in the ISR {} ms after its SIGTERM and restart \
             (session timeout {} ms): {v:?}",
            ms(began.elapsed()),
            ms(session)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!(
        "node {victim} back in the ISR {} ms after its SIGTERM",
        ms(began.elapsed())
    );
}

// ---- 4. unclean leader election ------------------------------------------

/// How the stale replica is made leader.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum UncleanTrigger {
    /// The topic's `unclean.leader.election.enable` is set to true
    /// (IncrementalAlterConfigs); the controller is to elect by itself.
    TopicConfig,
    /// An operator asks for it: `vltava cluster elect-leaders --unclean`
    /// (ElectLeaders, election type 1), the topic config left false.
    ElectLeaders,
}

/// With unclean election disabled, a partition whose only in-sync replica
/// is dead stays offline even though an out-of-sync replica is alive;
/// once unclean election is allowed for the topic, the controller makes
/// that replica the leader, losing the records it lacked. Kafka's KRaft
/// controller does this since 3.9 (KAFKA-12670: its periodic leader
/// balancing task, every `leader.imbalance.check.interval.seconds`, 1 s
/// here, also elects unclean leaders where the config now allows it);
/// ZooKeeper-mode Kafka did it as soon as the topic config changed
/// (KAFKA-6835).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unclean_leader_election_loses_records_only_when_enabled() {
    unclean_election(UncleanTrigger::TopicConfig).await;
}

/// The same losses, with the unclean election asked for explicitly, as an
/// operator would while the topic config still forbids it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unclean_election_asked_for_loses_the_records_the_new_leader_lacked() {
    unclean_election(UncleanTrigger::ElectLeaders).await;
}

/// Two topics of replication factor 2 on brokers 4 and 5 (the quorum is
/// on three controller-only nodes), unclean election disabled. One broker
/// is paused until it has left both ISRs; records acknowledged after that
/// are on the other broker only, which then dies (kill -9). The stale
/// broker returns: with unclean election disabled, neither partition has
/// a leader (Metadata: leader -1, LEADER_NOT_AVAILABLE) and produces fail,
/// for as long as the test waits. Then topic `dirty` gets an unclean
/// election (`trigger`): the stale broker leads it, the records it lacked
/// are gone, and it takes writes again; `clean` stays offline until its
/// in-sync replica returns, and then has every record. The returning
/// broker cuts its `dirty` log to the new leader's: the lost records are
/// lost everywhere.
async fn unclean_election(trigger: UncleanTrigger) {
    let _serial = serial().await;
    let mut cluster = Cluster::start_with(
        3,
        2,
        "replica.lag.time.max.ms=2000\nleader.imbalance.check.interval.seconds=1\n",
    );
    converged(&cluster, &[4, 5], &[4, 5]).await;
    let brokers = bootstraps(&cluster, &[4, 5]);
    let mut admin = client_of(&brokers[0]).await.unwrap();
    for name in ["clean", "dirty"] {
        admin
            .create_topic(&topic(
                name,
                1,
                2,
                &[
                    ("min.insync.replicas", "1"),
                    ("unclean.leader.election.enable", "false"),
                ],
            ))
            .await
            .expect("create the topic");
    }
    let dirty = wait_for_isr(&brokers[0], "dirty", 0, &[4, 5], Duration::from_secs(20)).await;
    wait_for_isr(&brokers[0], "clean", 0, &[4, 5], Duration::from_secs(20)).await;
    let last_in_sync = dirty.leader;
    let stale = if last_in_sync == 4 { 5 } else { 4 };
    let in_sync_addr = [cluster.node(last_in_sync).bootstrap()];
    let stale_addr = cluster.node(stale).bootstrap();

    let mut early: BTreeMap<&str, Vec<(String, i64)>> = BTreeMap::new();
    let mut late: BTreeMap<&str, Vec<(String, i64)>> = BTreeMap::new();
    for name in ["clean", "dirty"] {
        for i in 0..5 {
            let r = produce_acked(
                &brokers,
                name,
                0,
                &format!("early-{i}"),
                Acks::All,
                Duration::from_secs(20),
            )
            .await
            .expect("acks=all with both replicas");
            early.entry(name).or_default().push(r);
        }
    }

    // The stale broker is paused until both ISRs are the other broker
    // alone (its session expires and it is fenced).
    cluster.node(stale).signal("-STOP");
    let paused_at = Instant::now();
    for name in ["clean", "dirty"] {
        wait_for_isr(
            &in_sync_addr[0],
            name,
            0,
            &[last_in_sync],
            Duration::from_secs(20),
        )
        .await;
    }
    eprintln!(
        "broker {stale} paused; both ISRs are [{last_in_sync}] {} ms later",
        ms(paused_at.elapsed())
    );
    for name in ["clean", "dirty"] {
        for i in 0..5 {
            let r = produce_acked(
                &in_sync_addr,
                name,
                0,
                &format!("late-{i}"),
                Acks::All,
                Duration::from_secs(20),
            )
            .await
            .expect("acks=all with one replica in sync (min.insync.replicas 1)");
            late.entry(name).or_default().push(r);
        }
    }
    cluster.node(last_in_sync).kill9();
    cluster.node(stale).signal("-CONT");
    let lost_at = Instant::now();

    // The stale broker is back in the cluster; the dead one is fenced.
    converged(&cluster, &[stale], &[stale]).await;
    eprintln!(
        "broker {last_in_sync} killed, broker {stale} resumed: the cluster lists [{stale}] \
         {} ms later",
        ms(lost_at.elapsed())
    );
    // Both partitions stay without a leader, and writes fail.
    let offline_until = Instant::now() + Duration::from_secs(4);
    while Instant::now() < offline_until {
        for name in ["clean", "dirty"] {
            let v = partition_view(&stale_addr, name, 0)
                .await
                .expect("metadata");
            assert_eq!(
                v.leader, -1,
                "{name} has a leader although unclean election is off: {v:?}"
            );
            assert_eq!(v.error, ErrorCode::LEADER_NOT_AVAILABLE, "{name}: {v:?}");
            assert_eq!(v.isr, vec![last_in_sync], "{name}: {v:?}");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    for name in ["clean", "dirty"] {
        let a = attempt(
            std::slice::from_ref(&stale_addr),
            name,
            0,
            "offline",
            Acks::All,
        )
        .await;
        assert!(
            a.result.is_err(),
            "a produce to offline {name} succeeded: {a:?}"
        );
        eprintln!("produce to offline {name}: {}", a.result.unwrap_err());
    }

    // An unclean election for `dirty`.
    match trigger {
        UncleanTrigger::TopicConfig => {
            let mut c = client_of(&stale_addr).await.unwrap();
            let dirty_topic = ConfigResource::Topic("dirty".to_string());
            c.alter_configs(
                &dirty_topic,
                &[AlterConfigOp::Set(
                    "unclean.leader.election.enable".to_string(),
                    "true".to_string(),
                )],
            )
            .await
            .expect("allow unclean election for dirty");
            let entry = c
                .describe_configs(&dirty_topic)
                .await
                .unwrap()
                .into_iter()
                .find(|e| e.name == "unclean.leader.election.enable");
            eprintln!("dirty's config now: {entry:?}");
        }
        UncleanTrigger::ElectLeaders => {
            let out = vltava()
                .args([
                    "cluster",
                    "elect-leaders",
                    "--unclean",
                    "--topic",
                    "dirty",
                    "--bootstrap",
                ])
                .arg(&stale_addr)
                .output()
                .expect("vltava cluster elect-leaders");
            assert!(
                out.status.success(),
                "elect-leaders --unclean: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
    let allowed_at = Instant::now();
    let deadline = allowed_at + Duration::from_secs(15);
    let elected = loop {
        let v = partition_view(&stale_addr, "dirty", 0)
            .await
            .expect("metadata");
        if v.leader == stale {
            break v;
        }
        assert!(
            Instant::now() < deadline,
            "{trigger:?}: dirty has no unclean leader {} ms later: {v:?}",
            ms(allowed_at.elapsed())
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    eprintln!(
        "{trigger:?}: broker {stale} leads dirty {} ms later (epoch {}, ISR {:?})",
        ms(allowed_at.elapsed()),
        elected.leader_epoch,
        elected.isr
    );
    assert_eq!(elected.isr, vec![stale]);
    let at_election = replica_log(cluster.node(stale), "dirty", 0).expect("the new leader's log");
    check_acked(
        &at_election.records,
        &early["dirty"],
        "dirty after the unclean election",
    );
    for (value, offset) in &late["dirty"] {
        assert!(
            !at_election.records.values().any(|v| v == value),
            "{value} (acknowledged at {offset}) is on the stale replica"
        );
    }
    let written = produce_acked(
        std::slice::from_ref(&stale_addr),
        "dirty",
        0,
        "after-unclean",
        Acks::All,
        Duration::from_secs(20),
    )
    .await
    .expect("dirty takes writes after the unclean election");
    let first_late = late["dirty"][0].1;
    assert_eq!(
        written.1, first_late,
        "the new leader writes where the lost records were"
    );
    // `clean` still has no leader.
    let v = partition_view(&stale_addr, "clean", 0).await.unwrap();
    assert_eq!(v.leader, -1, "clean: {v:?}");

    // The in-sync broker returns: it leads `clean` again, with every
    // record, and follows `dirty`, cutting the records only it had.
    cluster.node(last_in_sync).start();
    let restarted_at = Instant::now();
    // A restarted broker leads once it has registered, caught up with the
    // metadata and been unfenced; under a loaded CI machine that once took
    // longer than 30 s, so the limit is 60 s, and the view is printed every
    // 5 s so that a failure shows where it stopped.
    let last_print = Arc::new(Mutex::new(Instant::now()));
    let back = eventually(Duration::from_secs(60), "a clean leader for clean", || {
        let via = stale_addr.clone();
        let last_print = last_print.clone();
        async move {
            let v = partition_view(&via, "clean", 0).await?;
            let due = {
                let mut last = last_print.lock().unwrap();
                let due = last.elapsed() >= Duration::from_secs(5);
                if due {
                    *last = Instant::now();
                }
                due
            };
            if due {
                let brokers = client_of(&via)
                    .await
                    .map(|c| c.brokers().map(|b| b.node_id).collect::<Vec<_>>());
                eprintln!(
                    "{} ms after the restart: clean {v:?}; brokers in metadata {brokers:?}",
                    ms(restarted_at.elapsed())
                );
            }
            // The returning in-sync replica leads clean. The preferred
            // leader may be the stale broker, which then takes the
            // leadership back (leader.imbalance.check.interval.seconds
            // is 1) as soon as it is in the ISR again, which it can
            // only be after fetching from the in-sync one: either is a
            // clean outcome (the records are checked below). The
            // stale broker leading without it in the ISR is not.
            let clean_leader =
                v.leader == last_in_sync || (v.leader == stale && v.isr.contains(&last_in_sync));
            clean_leader.then_some(v)
        }
    })
    .await;
    eprintln!(
        "clean has a clean leader {} ms after broker {last_in_sync}'s restart ({back:?})",
        ms(restarted_at.elapsed())
    );
    for name in ["clean", "dirty"] {
        wait_for_rejoin(
            &cluster,
            &stale_addr,
            name,
            0,
            &[4, 5],
            Duration::from_secs(30),
        )
        .await;
    }
    let mut clean_acked = early["clean"].clone();
    clean_acked.extend(late["clean"].iter().cloned());
    let end = clean_acked.iter().map(|(_, o)| o + 1).max().unwrap();
    let clean =
        converged_replicas(&cluster, &[4, 5], "clean", 0, end, Duration::from_secs(30)).await;
    check_acked(&clean.records, &clean_acked, "clean");

    let mut dirty_acked = early["dirty"].clone();
    dirty_acked.push(written);
    let end = dirty_acked.iter().map(|(_, o)| o + 1).max().unwrap();
    let dirty =
        converged_replicas(&cluster, &[4, 5], "dirty", 0, end, Duration::from_secs(30)).await;
    check_acked(&dirty.records, &dirty_acked, "dirty");
    let lost: Vec<&(String, i64)> = late["dirty"]
        .iter()
        .filter(|(value, _)| !dirty.records.values().any(|v| v == value))
        .collect();
    assert_eq!(
        lost.len(),
        late["dirty"].len(),
        "every record the stale replica lacked is lost"
    );
    eprintln!(
        "dirty lost {} acknowledged records to the unclean election: {lost:?}",
        lost.len()
    );
}

// ---- 5. a follower behind a compacted leader -----------------------------

/// A follower that was down while its leader's cleaner compacted the
/// partition fetches from an offset the cleaner removed: the leader answers
/// with the next batch it kept, and the follower must take it, leaving the
/// same gap in its own log (as Kafka's followers do), rather than refuse it
/// and never catch up. The first cluster runs of `tools/chaos` found
/// followers of `__consumer_offsets` stuck this way, out of the ISR for
/// good.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_catches_up_across_offsets_its_leaders_cleaner_removed() {
    let _serial = serial().await;
    let name = "compacted";
    let mut cluster = Cluster::start_with(
        3,
        0,
        "replica.lag.time.max.ms=2000\nlog.cleaner.backoff.ms=100\n",
    );
    converged(&cluster, &[1, 2, 3], &[1, 2, 3]).await;
    let all = bootstraps(&cluster, &[1, 2, 3]);
    let mut admin = client_of(&all[0]).await.unwrap();
    admin
        .create_topic(&topic(
            name,
            1,
            3,
            &[
                ("min.insync.replicas", "2"),
                ("cleanup.policy", "compact"),
                // Small segments (below segment.bytes' 1 MiB minimum) and
                // any dirt at all: the cleaner runs after a few records.
                ("internal.segment.bytes", "1024"),
                ("min.cleanable.dirty.ratio", "0.01"),
            ],
        ))
        .await
        .expect("create the topic");
    let leader = wait_for_isr(&all[0], name, 0, &[1, 2, 3], Duration::from_secs(20))
        .await
        .leader;
    let follower = (1..=3).find(|id| *id != leader).unwrap();
    let others: Vec<i32> = (1..=3).filter(|id| *id != follower).collect();
    let live = bootstraps(&cluster, &others);
    cluster.node(follower).kill9();
    wait_for_isr(&live[0], name, 0, &others, Duration::from_secs(20)).await;

    // Many values for three keys, one batch each.
    let mut producer = client_of(&live[0]).await.unwrap();
    let mut end = 0;
    for i in 0..300 {
        let record = ProducerRecord {
            key: Some(format!("k{}", i % 3).into()),
            value: Some(format!("v{i}").into()),
            ..ProducerRecord::default()
        };
        end = producer
            .produce(name, 0, &[record], Acks::All, Compression::None)
            .await
            .expect("acks=all with two in-sync replicas")
            + 1;
    }
    // The leader's cleaner has removed records: its log has gaps.
    let leader_node = &cluster.nodes[(leader - 1) as usize];
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(log) = replica_log(leader_node, name, 0) {
            if (log.records.len() as i64) < log.end_offset / 2 {
                break;
            }
        }
        assert!(
            Instant::now() < deadline,
            "the leader's cleaner removed nothing"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // The follower comes back, catches up and rejoins the ISR.
    cluster.node(follower).start();
    wait_for_rejoin(
        &cluster,
        &live[0],
        name,
        0,
        &[1, 2, 3],
        Duration::from_secs(30),
    )
    .await;
    // Each replica's cleaner compacts on its own schedule and segment
    // boundaries, so the replicas need not hold the same records; what
    // must hold is that each reaches the leader's end offset, holds only
    // what the producer wrote at each offset, and keeps every key's last
    // value.
    let last_values: Vec<String> = (0..3)
        .map(|k| format!("v{}", (0..300).rev().find(|i| i % 3 == k).unwrap()))
        .collect();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let caught_up = (1..=3).all(|id| {
            let Some(log) = replica_log(&cluster.nodes[(id - 1) as usize], name, 0) else {
                return false;
            };
            for (offset, value) in &log.records {
                assert_eq!(
                    *value,
                    format!("v{offset}"),
                    "replica {id} holds a record at an offset the producer did not put it"
                );
            }
            log.end_offset >= end
                && last_values
                    .iter()
                    .all(|v| log.records.values().any(|held| held == v))
        });
        if caught_up {
            break;
        }
        if Instant::now() > deadline {
            dump_replicas(&cluster, &[1, 2, 3], name, 0);
            panic!("the replicas of {name}-0 did not all reach offset {end} with every key's last value");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

// ---- eligible leader replicas (KIP-966) -------------------------------------

/// Turns eligible leader replicas on with `vltava features upgrade`, sent
/// to `via` (a broker, which relays UpdateFeatures to the active controller).
fn enable_elr(via: &str) {
    let out = vltava()
        .args([
            "features",
            "--bootstrap",
            via,
            "upgrade",
            "--feature",
            "eligible.leader.replicas.version=1",
        ])
        .output()
        .expect("run vltava features");
    assert!(
        out.status.success(),
        "vltava features upgrade: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "eligible.leader.replicas.version is now at level 1.\n"
    );
}

/// The finalized level of `feature` as `via` reports it (ApiVersions).
async fn finalized_level(via: &str, feature: &str) -> Option<i16> {
    let described = client_of(via).await?.describe_features().await.ok()?;
    described
        .finalized
        .iter()
        .find(|(name, _)| name == feature)
        .map(|(_, level)| *level)
}

/// The ELR of `topic`-0 as `via`'s DescribeTopicPartitions reports it.
async fn described_elr(via: &str, topic: &str) -> Option<Vec<i32>> {
    use vltava_client::protocol::messages::{
        describe_topic_partitions_request, DescribeTopicPartitionsRequest,
    };
    let mut conn = Connection::connect(via, ConnectionConfig::default())
        .await
        .ok()?;
    let resp = conn
        .send(&DescribeTopicPartitionsRequest {
            topics: vec![describe_topic_partitions_request::TopicRequest {
                name: topic.into(),
                ..Default::default()
            }],
            response_partition_limit: 10,
            ..Default::default()
        })
        .await
        .ok()?;
    let p = resp.topics.first()?.partitions.first()?;
    let mut elr = p.eligible_leader_replicas.clone()?;
    elr.sort();
    Some(elr)
}

/// KIP-966 with replication factor 3 and min.insync.replicas 2 on brokers
/// 2-4 (the quorum is one controller-only node). Two followers are paused
/// one after the other: the first leaves the ISR while two remain, the
/// second leaves it below min.insync.replicas and becomes an eligible
/// leader replica. From then on the leader's high watermark stands still:
/// acks=all is refused and an acks=1 record is written but never committed.
/// The leader is paused too: the ISR empties and the partition has no
/// leader. The second follower wakes: as an eligible replica it is elected
/// cleanly (without ELR it could not lead at all, as unclean election is
/// off), and every acknowledged record is there; the acks=1 record, which
/// it never had, is not. The others return and converge on its log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_eligible_leader_replica_brings_a_partition_back_without_loss() {
    let _serial = serial().await;
    let mut cluster = Cluster::start_with(1, 3, "replica.lag.time.max.ms=2000\n");
    converged(&cluster, &[2, 3, 4], &[2, 3, 4]).await;
    let brokers = bootstraps(&cluster, &[2, 3, 4]);
    enable_elr(&brokers[0]);
    for b in &brokers {
        eventually(Duration::from_secs(20), "ELR finalized", || async {
            (finalized_level(b, "eligible.leader.replicas.version").await == Some(1)).then_some(())
        })
        .await;
    }
    let mut admin = client_of(&brokers[0]).await.unwrap();
    admin
        .create_topic(&topic(
            "elr",
            1,
            3,
            &[
                ("min.insync.replicas", "2"),
                ("unclean.leader.election.enable", "false"),
            ],
        ))
        .await
        .expect("create the topic");
    let v = wait_for_isr(&brokers[0], "elr", 0, &[2, 3, 4], Duration::from_secs(20)).await;
    let leader = v.leader;
    let followers: Vec<i32> = [2, 3, 4].into_iter().filter(|b| *b != leader).collect();
    let (first, eligible) = (followers[0], followers[1]);
    let leader_addr = [cluster.node(leader).bootstrap()];
    let mut acked = Vec::new();
    for i in 0..5 {
        acked.push(
            produce_acked(
                &brokers,
                "elr",
                0,
                &format!("all-{i}"),
                Acks::All,
                Duration::from_secs(20),
            )
            .await
            .expect("acks=all with three in sync"),
        );
    }

    // One follower goes: two remain in sync, enough for acks=all.
    cluster.node(first).signal("-STOP");
    let mut two = vec![leader, eligible];
    two.sort();
    wait_for_isr(&leader_addr[0], "elr", 0, &two, Duration::from_secs(20)).await;
    assert_eq!(described_elr(&leader_addr[0], "elr").await, Some(vec![]));
    for i in 0..5 {
        acked.push(
            produce_acked(
                &leader_addr,
                "elr",
                0,
                &format!("two-{i}"),
                Acks::All,
                Duration::from_secs(20),
            )
            .await
            .expect("acks=all with two in sync"),
        );
    }

    // The second follower goes: below min.insync.replicas it is eligible.
    cluster.node(eligible).signal("-STOP");
    wait_for_isr(
        &leader_addr[0],
        "elr",
        0,
        &[leader],
        Duration::from_secs(20),
    )
    .await;
    assert_eq!(
        described_elr(&leader_addr[0], "elr").await,
        Some(vec![eligible])
    );
    let refused = attempt(&leader_addr, "elr", 0, "refused", Acks::All).await;
    assert!(
        matches!(&refused.result, Err(e) if e.contains("NOT_ENOUGH_REPLICAS")),
        "{refused:?}"
    );
    let unsafe_write = attempt(&leader_addr, "elr", 0, "acks1", Acks::Leader).await;
    let unsafe_offset = unsafe_write.result.clone().expect("acks=1 is written");

    // The leader goes: no leader, and nobody in the ISR.
    cluster.node(leader).signal("-STOP");
    let controller = cluster.node(1).bootstrap();
    eventually(Duration::from_secs(20), "the partition offline", || async {
        let mut c = client_of(&controller).await?;
        let md = c.topic_metadata("elr").await.ok()?;
        let p = md.partitions.first()?;
        (p.leader == -1 && p.isr.is_empty()).then_some(())
    })
    .await;

    // The eligible follower wakes, is unfenced and elected from the ELR.
    cluster.node(eligible).signal("-CONT");
    let eligible_addr = cluster.node(eligible).bootstrap();
    let v = wait_for_isr(
        &eligible_addr,
        "elr",
        0,
        &[eligible],
        Duration::from_secs(20),
    )
    .await;
    assert_eq!(v.leader, eligible);
    // The rest come back; the paused leader's acks=1 record is cut.
    cluster.node(first).signal("-CONT");
    cluster.node(leader).signal("-CONT");
    let log = converged_replicas(
        &cluster,
        &[2, 3, 4],
        "elr",
        0,
        acked.last().unwrap().1 + 1,
        Duration::from_secs(60),
    )
    .await;
    check_acked(&log.records, &acked, "after the election from the ELR");
    assert!(
        !log.records.values().any(|v| v.starts_with("acks1")),
        "the uncommitted acks=1 record (offset {unsafe_offset}) survived: {:?}",
        log.records
    );
    // And the partition takes acks=all writes again.
    produce_acked(
        &brokers,
        "elr",
        0,
        "after",
        Acks::All,
        Duration::from_secs(30),
    )
    .await
    .expect("acks=all once the ISR is back");
    for node in &mut cluster.nodes {
        assert!(node.is_running(), "node {} exited", node.id);
    }
}

/// With eligible leader replicas on, a partition whose only replica's
/// broker restarts empties its ISR; it must come back all the same, as it
/// does without ELR: after a crash (kill -9) through the last known
/// leader, after a clean stop through the ELR (the broker names its
/// previous epoch from its logs' clean-shutdown markers, and so stays
/// eligible; the controller's tests tell the two paths apart).
/// Acknowledged records are there both times.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_eligible_leader_replicas_a_restarted_single_replica_comes_back() {
    let _serial = serial().await;
    let mut cluster = Cluster::start_with(1, 1, "");
    converged(&cluster, &[2], &[2]).await;
    let broker = [cluster.node(2).bootstrap()];
    let elr_row = || {
        let out = vltava()
            .args([
                "features",
                "--bootstrap",
                &broker[0],
                "--output",
                "json",
                "describe",
            ])
            .output()
            .expect("run vltava features describe");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
        doc["features"]
            .as_array()
            .and_then(|f| {
                f.iter()
                    .find(|f| f["name"] == "eligible.leader.replicas.version")
            })
            .cloned()
            .expect("the ELR feature is described")
    };
    let before = elr_row();
    assert_eq!(
        (
            &before["supported_min"],
            &before["supported_max"],
            &before["finalized"]
        ),
        (
            &serde_json::json!(0),
            &serde_json::json!(1),
            &serde_json::json!(0)
        )
    );
    // A level the software does not support is refused, and a dry run
    // changes nothing.
    for (level, dry) in [("2", false), ("1", true)] {
        let mut cmd = vltava();
        cmd.args([
            "features",
            "--bootstrap",
            &broker[0],
            "upgrade",
            "--feature",
        ])
        .arg(format!("eligible.leader.replicas.version={level}"));
        if dry {
            cmd.arg("--dry-run");
        }
        let out = cmd.output().expect("run vltava features upgrade");
        assert_eq!(out.status.success(), dry, "level {level}: {out:?}");
    }
    // A change the controller commits after the dry run reaches the
    // broker's image only after anything the dry run might have written:
    // once the broker sees it, the level it reports is final.
    let mut admin = client_of(&broker[0]).await.unwrap();
    admin
        .create_topic(&topic("after-dry-run", 1, 1, &[]))
        .await
        .expect("create a marker topic");
    eventually(
        Duration::from_secs(20),
        "the marker topic on the broker",
        || async {
            client_of(&broker[0])
                .await?
                .topic_metadata("after-dry-run")
                .await
                .ok()
                .filter(|t| !t.partitions.is_empty())
                .map(|_| ())
        },
    )
    .await;
    assert_eq!(elr_row()["finalized"], 0, "the dry run changed nothing");
    enable_elr(&broker[0]);
    // The relaying broker may answer before its own image has the change.
    eventually(Duration::from_secs(20), "ELR described as on", || async {
        (elr_row()["finalized"] == 1).then_some(())
    })
    .await;
    admin
        .create_topic(&topic("solo", 1, 1, &[]))
        .await
        .expect("create the topic");
    wait_for_isr(&broker[0], "solo", 0, &[2], Duration::from_secs(20)).await;
    let mut acked = Vec::new();
    for round in ["crash", "clean"] {
        acked.push(
            produce_acked(
                &broker,
                "solo",
                0,
                round,
                Acks::All,
                Duration::from_secs(30),
            )
            .await
            .expect("acks=all"),
        );
        if round == "crash" {
            cluster.node(2).kill9();
        } else {
            cluster.node(2).stop(Duration::from_secs(20));
            let marker = cluster.node(2).data_dir.join(".kafka_cleanshutdown");
            let text = std::fs::read_to_string(&marker).expect("a clean stop leaves its marker");
            assert!(text.contains("\"brokerEpoch\":"), "{text}");
            assert!(!text.contains("\"brokerEpoch\":-1"), "{text}");
        }
        // The controller takes the broker out (its session expires, or its
        // controlled shutdown) before it returns: no leader, no ISR, and
        // the broker eligible.
        let controller = cluster.node(1).bootstrap();
        eventually(Duration::from_secs(20), "the partition offline", || async {
            let mut c = client_of(&controller).await?;
            let md = c.topic_metadata("solo").await.ok()?;
            let p = md.partitions.first()?;
            (p.leader == -1 && p.isr.is_empty()).then_some(())
        })
        .await;
        assert_eq!(
            described_elr(&controller, "solo").await,
            Some(vec![2]),
            "{round}"
        );
        cluster.node(2).start();
        wait_for_isr(&broker[0], "solo", 0, &[2], Duration::from_secs(30)).await;
        assert!(
            !cluster
                .node(2)
                .data_dir
                .join(".kafka_cleanshutdown")
                .exists(),
            "the epoch is taken at start"
        );
    }
    acked.push(
        produce_acked(
            &broker,
            "solo",
            0,
            "after",
            Acks::All,
            Duration::from_secs(30),
        )
        .await
        .expect("acks=all after the restarts"),
    );
    cluster.node(2).stop(Duration::from_secs(20));
    let log = replica_log(cluster.node(2), "solo", 0).expect("the replica's log");
    check_acked(&log.records, &acked, "after two restarts");
}
