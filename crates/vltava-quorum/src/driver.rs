//! The tokio task that runs one KRaft replica: it owns the `RaftNode` and
//! its `DiskLog`, feeds it requests, responses, ticks and flush completions,
//! and carries out the actions it returns, in order.
//!
//! Everything the rest of the process wants from the quorum goes through
//! the [`Quorum`] handle as a command on one channel, so the state machine
//! has a single owner and needs no lock.
//!
//! - **Persisting the quorum state** is a barrier: the file is written and
//!   fsynced in the task before the next action (a vote grant must survive
//!   a crash before it is sent). It is a few hundred bytes, so the task
//!   does it inline rather than hopping threads.
//! - **Appends** happen inside the state machine's calls, as plain writes
//!   to the page cache. **Flushes** (the fsyncs) run on the blocking pool,
//!   one at a time, and come back as completions; the task keeps serving
//!   requests meanwhile. A flush asked for while one runs is done again
//!   right after it, so nothing appended is left unflushed.
//! - **Outbound requests** go to one task per peer and lane: one lane for
//!   Fetch/FetchSnapshot (a leader parks an empty fetch for up to
//!   `fetch_max_wait_ms`) and one for Vote, BeginQuorumEpoch and
//!   EndQuorumEpoch, so an election never waits behind a parked fetch. A
//!   failure drops the connection and is reported to the state machine,
//!   which retries on its own schedule.
//! - **Inbound requests** are numbered by the driver; the number is the
//!   correlation id the state machine echoes in its answer, which the task
//!   hands back to the connection that asked. A parked Fetch is answered
//!   when the state machine says so.
//! - A disk error on the metadata log stops the replica (Kafka halts the
//!   process on metadata log errors): the status says why, and every later
//!   command fails.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;
use tracing::{debug, error, info, warn};
use vltava_net::security::ClientSecurity;
use vltava_net::{Connection, ConnectionConfig};
use vltava_protocol::ApiKey;
use vltava_raft::{
    Action, Batch, Config, Epoch, Message, Millis, NodeId, Offset, ProposeError, QuorumInfo,
    RaftNode, ReplicatedLog, RoleKind, SnapshotId, Voter, VoterChangeError,
};

use crate::disk_log::{DiskLog, DiskLogOptions, Flusher};
use crate::{quorum_state, wire};

/// Where the quorum lives and how it behaves (Kafka's `controller.quorum.*`
/// settings).
#[derive(Clone, Debug)]
pub struct QuorumConfig {
    /// This replica's `node.id`.
    pub node_id: NodeId,
    /// The `directory.id` of the directory holding the metadata log: with
    /// the node id, this replica's voter key (KIP-853). Zeros if unknown.
    pub directory_id: [u8; 16],
    /// The cluster id every request carries.
    pub cluster_id: String,
    /// `controller.quorum.voters`: every voter's id and `host:port` (this
    /// node's own entry, if it votes, is not dialled). The initial voter set
    /// when the log holds no VotersRecord and no bootstrap checkpoint;
    /// empty for a dynamic quorum (KIP-853), whose voters and their
    /// endpoints come from the log.
    pub voters: BTreeMap<NodeId, String>,
    /// `controller.quorum.bootstrap.servers` (`host:port`): where a replica
    /// that knows no leader asks who leads (KIP-853).
    pub bootstrap_servers: Vec<String>,
    /// The controller listener's name (the first of
    /// `controller.listener.names`): the endpoint of that name is where a
    /// voter named in the log is dialled; without one of that name, its
    /// first endpoint.
    pub listener_name: Option<String>,
    /// `metadata.log.dir`: the `__cluster_metadata-0` directory is made in
    /// it; the `quorum-state` file lives in that directory, as in Kafka.
    pub metadata_log_dir: PathBuf,
    /// `controller.quorum.election.timeout.ms`.
    pub election_timeout_ms: u64,
    /// `controller.quorum.fetch.timeout.ms`.
    pub fetch_timeout_ms: u64,
    /// `controller.quorum.election.backoff.max.ms`.
    pub election_backoff_max_ms: u64,
    /// `controller.quorum.retry.backoff.ms`.
    pub retry_backoff_ms: u64,
    /// `controller.quorum.request.timeout.ms`.
    pub request_timeout_ms: u64,
    /// How long a leader parks a Fetch with nothing new.
    pub fetch_max_wait_ms: u32,
    /// `controller.quorum.fetch.max.bytes`-like limit of one Fetch answer.
    pub fetch_max_bytes: u32,
    /// Chunk size of FetchSnapshot.
    pub snapshot_chunk_bytes: u32,
    /// `metadata.log.segment.bytes`: a snapshot frees the log's prefix by
    /// whole segments, so this bounds what stays on disk before it.
    pub segment_bytes: u32,
    /// TLS and SASL of the connections to the other voters: those of the
    /// controller listener (the first of `controller.listener.names`);
    /// `None` for plaintext.
    pub security: Option<Arc<ClientSecurity>>,
}

impl QuorumConfig {
    /// Kafka's defaults for a quorum of `voters`.
    pub fn new(
        node_id: NodeId,
        cluster_id: impl Into<String>,
        voters: BTreeMap<NodeId, String>,
        metadata_log_dir: impl Into<PathBuf>,
    ) -> QuorumConfig {
        QuorumConfig {
            node_id,
            directory_id: [0; 16],
            cluster_id: cluster_id.into(),
            voters,
            bootstrap_servers: Vec::new(),
            listener_name: None,
            metadata_log_dir: metadata_log_dir.into(),
            election_timeout_ms: 1000,
            fetch_timeout_ms: 2000,
            election_backoff_max_ms: 1000,
            retry_backoff_ms: 20,
            request_timeout_ms: 2000,
            fetch_max_wait_ms: 500,
            fetch_max_bytes: 8 << 20,
            snapshot_chunk_bytes: 1 << 20,
            segment_bytes: DiskLogOptions::default().segment_bytes,
            security: None,
        }
    }

    /// The directory of the log, `<metadata.log.dir>/__cluster_metadata-0`.
    pub fn log_dir(&self) -> PathBuf {
        self.metadata_log_dir.join(format!(
            "{}-{}",
            wire::METADATA_TOPIC,
            wire::METADATA_PARTITION
        ))
    }

    /// The `quorum-state` file.
    pub fn quorum_state_path(&self) -> PathBuf {
        self.log_dir().join("quorum-state")
    }
}

/// What the replica is doing, published on every change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QuorumStatus {
    /// This replica.
    pub node_id: NodeId,
    /// Its role.
    pub role: RoleKind,
    /// The epoch it is in.
    pub epoch: Epoch,
    /// The leader of that epoch, if known.
    pub leader: Option<NodeId>,
    /// Records below this offset are committed.
    pub high_watermark: Offset,
    /// Whether this replica holds every record committed so far: a leader
    /// once it has committed an entry of its own epoch, a follower once its
    /// high watermark reached the one its leader last reported in this
    /// epoch. Before that, the committed prefix it can read may be short of
    /// the quorum's (after a restart, say), and the application must not
    /// treat what it is missing as deleted.
    pub caught_up: bool,
    /// Counts the snapshots installed from a leader; when it changes, the
    /// application must reload its state from the snapshot.
    pub snapshots_installed: u64,
    /// Set when the replica stopped on an error.
    pub failed: Option<String>,
}

/// DescribeQuorum's data as the leader knows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QuorumDescription {
    /// The state machine's view; its times count from the driver's start.
    pub info: QuorumInfo,
    /// Wall-clock milliseconds at the driver's time zero, to turn those
    /// times into the timestamps Kafka reports.
    pub wall_clock_at_start_ms: i64,
    /// The current voters with their directory ids and endpoints (as the
    /// log names them; static voters have none).
    pub voters: Vec<Voter>,
    /// Where the replicas this one knows of are reached, for voters that
    /// the log names without endpoints (static voters).
    pub voter_addresses: BTreeMap<NodeId, String>,
}

/// Committed records, or where to reload from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CommittedRead {
    /// Whole batches from the offset asked for, all below the high
    /// watermark (empty when there is nothing new).
    Batches(Vec<Batch>),
    /// The offset is below the log start: load this snapshot first (its
    /// content without the voter header) and read on from its end offset.
    Snapshot(SnapshotId, Bytes),
}

/// Why a command failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum QuorumError {
    /// Only the leader can do this; here is who leads, if known.
    NotLeader(Option<NodeId>),
    /// The proposed batch was truncated away by a new leader.
    Lost,
    /// A voter change was refused.
    VoterChange(VoterChangeError),
    /// The replica has stopped (shut down, or failed on a disk error).
    Stopped,
}

impl std::fmt::Display for QuorumError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            QuorumError::NotLeader(Some(l)) => write!(f, "not the quorum leader (node {l} is)"),
            QuorumError::NotLeader(None) => write!(f, "not the quorum leader (none known)"),
            QuorumError::Lost => write!(f, "the write was truncated by a new quorum leader"),
            QuorumError::VoterChange(e) => write!(f, "voter change refused: {e:?}"),
            QuorumError::Stopped => write!(f, "the metadata quorum replica has stopped"),
        }
    }
}

impl std::error::Error for QuorumError {}

type Reply<T> = oneshot::Sender<T>;

/// Builds the values of a proposal from the offset its first record will
/// get (Kafka gives a registering broker its record's offset as its epoch).
pub type MakeValues = Box<dyn FnOnce(Offset) -> Vec<Bytes> + Send>;

/// A caller waiting for the batch ending at an offset, written in an epoch,
/// to commit.
struct CommitWaiter<T> {
    last_offset: Offset,
    epoch: Epoch,
    reply: Reply<Result<T, QuorumError>>,
}

enum Command {
    Request {
        from: NodeId,
        message: Message,
        reply: Reply<Message>,
    },
    Response {
        from: NodeId,
        correlation_id: u64,
        message: Message,
        /// Endpoints the answer named (Kafka's NodeEndpoints).
        endpoints: Vec<(NodeId, String)>,
    },
    RequestFailed {
        to: NodeId,
        correlation_id: u64,
    },
    Flushed(std::io::Result<Offset>),
    Propose {
        make: MakeValues,
        reply: Reply<Result<(Offset, Epoch), QuorumError>>,
    },
    WaitCommitted {
        last_offset: Offset,
        epoch: Epoch,
        reply: Reply<Result<(), QuorumError>>,
    },
    Read {
        from: Offset,
        max_bytes: usize,
        reply: Reply<CommittedRead>,
    },
    Describe {
        reply: Reply<Option<QuorumDescription>>,
    },
    Snapshot {
        end_offset: Offset,
        data: Bytes,
        reply: Reply<Option<SnapshotId>>,
    },
    AddVoter {
        voter: Voter,
        reply: Reply<Result<Offset, QuorumError>>,
    },
    RemoveVoter {
        voter: NodeId,
        directory_id: [u8; 16],
        reply: Reply<Result<Offset, QuorumError>>,
    },
    UpdateVoter {
        voter: Voter,
        reply: Reply<Result<Offset, QuorumError>>,
    },
    Shutdown {
        reply: Reply<()>,
    },
}

/// A handle on the running replica; cheap to clone.
#[derive(Clone)]
pub struct Quorum {
    commands: mpsc::UnboundedSender<Command>,
    status: watch::Receiver<QuorumStatus>,
    addresses: watch::Receiver<Arc<AddressBook>>,
    voters: watch::Receiver<Arc<Vec<Voter>>>,
    local_key: (NodeId, [u8; 16]),
}

/// Where each replica is reached, by id: the static voters, the voters the
/// log names with endpoints, leaders named in answers, and the bootstrap
/// servers under their negative ids.
pub type AddressBook = BTreeMap<NodeId, String>;

/// Kafka's numbering of bootstrap servers: -2, -3, ... (-1 means "none").
fn bootstrap_id(index: usize) -> NodeId {
    -2 - index as NodeId
}

impl Quorum {
    /// Opens the log and quorum state under `config.metadata_log_dir` and
    /// starts the replica's task on the current tokio runtime.
    pub fn start(config: QuorumConfig) -> std::io::Result<Quorum> {
        let log_dir = config.log_dir();
        let log = DiskLog::open(
            &log_dir,
            DiskLogOptions {
                segment_bytes: config.segment_bytes,
            },
        )?;
        let persisted = quorum_state::read(&config.quorum_state_path())?.unwrap_or_default();
        let mut raft_config = Config::new(
            config.node_id,
            config.cluster_id.clone(),
            config.voters.keys().copied(),
        );
        raft_config.directory_id = config.directory_id;
        raft_config.bootstrap_servers = (0..config.bootstrap_servers.len())
            .map(bootstrap_id)
            .collect();
        raft_config.election_timeout_ms = config.election_timeout_ms;
        raft_config.fetch_timeout_ms = config.fetch_timeout_ms;
        raft_config.election_backoff_max_ms = config.election_backoff_max_ms;
        raft_config.retry_backoff_ms = config.retry_backoff_ms;
        raft_config.request_timeout_ms = config.request_timeout_ms;
        raft_config.fetch_max_wait_ms = config.fetch_max_wait_ms;
        raft_config.fetch_max_bytes = config.fetch_max_bytes;
        raft_config.snapshot_chunk_bytes = config.snapshot_chunk_bytes;
        raft_config.random_seed = random_seed();
        let flusher = log.flusher();
        let started = Instant::now();
        let node = RaftNode::new(raft_config, log, persisted, 0);
        info!(
            node = config.node_id,
            epoch = node.epoch(),
            end_offset = node.log().end_offset(),
            voters = ?node.voters(),
            bootstrap_servers = ?config.bootstrap_servers,
            "metadata quorum replica starting"
        );
        let mut addresses = config.voters.clone();
        for (i, addr) in config.bootstrap_servers.iter().enumerate() {
            addresses.insert(bootstrap_id(i), addr.clone());
        }
        let (commands_tx, commands_rx) = mpsc::unbounded_channel();
        let (status_tx, status_rx) = watch::channel(status_of(&node, None, 0, None));
        let (addresses_tx, addresses_rx) = watch::channel(Arc::new(addresses.clone()));
        let (voters_tx, voters_rx) = watch::channel(Arc::new(node.voter_details().to_vec()));
        let mut driver = Driver {
            addresses,
            addresses_tx,
            voters_tx,
            node,
            config,
            flusher,
            started,
            commands: commands_tx.clone(),
            status: status_tx,
            inbound: HashMap::new(),
            next_inbound: 1,
            peers: HashMap::new(),
            flush_running: false,
            flush_again: false,
            commit_waiters: Vec::new(),
            voter_waiters: Vec::new(),
            snapshots_installed: 0,
            failed: None,
            leader_hw: None,
        };
        driver.learn_voter_addresses();
        let (node_id, directory_id) = (driver.config.node_id, driver.config.directory_id);
        tokio::spawn(driver.run(commands_rx));
        Ok(Quorum {
            commands: commands_tx,
            status: status_rx,
            addresses: addresses_rx,
            voters: voters_rx,
            local_key: (node_id, directory_id),
        })
    }

    /// This replica's voter key: its node id and directory id.
    pub fn local_key(&self) -> (NodeId, [u8; 16]) {
        self.local_key
    }

    /// The current voters as this replica's log names them (with their
    /// directory ids and endpoints; static voters have neither).
    pub fn voters(&self) -> Arc<Vec<Voter>> {
        self.voters.borrow().clone()
    }

    /// KIP-853 UpdateRaftVoter, on the leader: `voter` (id and directory
    /// id) takes requests at its endpoints now; returns once committed.
    pub async fn update_voter(&self, voter: Voter) -> Result<Offset, QuorumError> {
        self.ask(|reply| Command::UpdateVoter { voter, reply })
            .await?
    }

    /// Where replica `id` is reached (`host:port`), if known: how brokers
    /// find the active controller in a quorum whose voters come from the
    /// log.
    pub fn address_of(&self, id: NodeId) -> Option<String> {
        self.addresses.borrow().get(&id).cloned()
    }

    /// The replica's status, updated on every change.
    pub fn status(&self) -> watch::Receiver<QuorumStatus> {
        self.status.clone()
    }

    async fn ask<T>(&self, make: impl FnOnce(Reply<T>) -> Command) -> Result<T, QuorumError> {
        let (tx, rx) = oneshot::channel();
        self.commands
            .send(make(tx))
            .map_err(|_| QuorumError::Stopped)?;
        rx.await.map_err(|_| QuorumError::Stopped)
    }

    /// A KRaft request received from `from`; returns the answer (a parked
    /// Fetch returns when the leader answers it). `None` if the replica
    /// stopped or did not answer within `timeout`.
    pub async fn handle_request(
        &self,
        from: NodeId,
        message: Message,
        timeout: Duration,
    ) -> Option<Message> {
        let answer = self.ask(|reply| Command::Request {
            from,
            message,
            reply,
        });
        tokio::time::timeout(timeout, answer).await.ok()?.ok()
    }

    /// Leader only: appends one batch of metadata records (the values) and
    /// returns its last offset and epoch. It is not committed yet; see
    /// [`Quorum::wait_committed`].
    pub async fn propose(&self, values: Vec<Bytes>) -> Result<(Offset, Epoch), QuorumError> {
        self.propose_with(Box::new(move |_| values)).await
    }

    /// Like [`Quorum::propose`], with the values made from the offset the
    /// batch will start at (nothing can be appended between the two, as
    /// the replica's task does both).
    pub async fn propose_with(&self, make: MakeValues) -> Result<(Offset, Epoch), QuorumError> {
        self.ask(|reply| Command::Propose { make, reply }).await?
    }

    /// Waits until the batch ending at `last_offset`, written in `epoch`, is
    /// committed; fails if a new leader truncated it away.
    pub async fn wait_committed(
        &self,
        last_offset: Offset,
        epoch: Epoch,
    ) -> Result<(), QuorumError> {
        self.ask(|reply| Command::WaitCommitted {
            last_offset,
            epoch,
            reply,
        })
        .await?
    }

    /// Committed batches from `from` (up to about `max_bytes`), or the
    /// snapshot to load when `from` is below the log start.
    pub async fn read_committed(
        &self,
        from: Offset,
        max_bytes: usize,
    ) -> Result<CommittedRead, QuorumError> {
        self.ask(|reply| Command::Read {
            from,
            max_bytes,
            reply,
        })
        .await
    }

    /// DescribeQuorum's data; `None` unless this replica leads.
    pub async fn describe(&self) -> Result<Option<QuorumDescription>, QuorumError> {
        self.ask(|reply| Command::Describe { reply }).await
    }

    /// Stores `data`, the application's state at `end_offset` (at most the
    /// high watermark), as a snapshot, letting the log start move up.
    pub async fn create_snapshot(
        &self,
        end_offset: Offset,
        data: Bytes,
    ) -> Result<Option<SnapshotId>, QuorumError> {
        self.ask(|reply| Command::Snapshot {
            end_offset,
            data,
            reply,
        })
        .await
    }

    /// KIP-853 AddRaftVoter, on the leader: returns once the new voter set
    /// is committed. The voter's endpoints go into the VotersRecord, so
    /// every replica (and this one after a restart) learns from the log
    /// where it takes KRaft requests.
    pub async fn add_voter(&self, voter: Voter) -> Result<Offset, QuorumError> {
        self.ask(|reply| Command::AddVoter { voter, reply }).await?
    }

    /// KIP-853 RemoveRaftVoter, on the leader: returns once committed. The
    /// voter is named by id and directory id (zeros: a static voter).
    pub async fn remove_voter(
        &self,
        voter: NodeId,
        directory_id: [u8; 16],
    ) -> Result<Offset, QuorumError> {
        self.ask(|reply| Command::RemoveVoter {
            voter,
            directory_id,
            reply,
        })
        .await?
    }

    /// Resigns if leading (so the others elect a successor at once rather
    /// than after a timeout), waits for the last flush and stops.
    pub async fn shutdown(&self) {
        let _ = self.ask(|reply| Command::Shutdown { reply }).await;
    }
}

fn random_seed() -> u64 {
    // The seed only spreads election timeouts apart; the std hasher's random
    // keys are enough and need no dependency.
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    h.finish()
}

fn status_of(
    node: &RaftNode<DiskLog>,
    leader_hw: Option<(Epoch, Offset)>,
    snapshots_installed: u64,
    failed: Option<String>,
) -> QuorumStatus {
    let hw = node.high_watermark();
    let caught_up = match node.role() {
        // The leader's HW moves only once an entry of its epoch commits.
        RoleKind::Leader => hw > 0 && node.log().epoch_before(hw) == Some(node.epoch()),
        // A follower: at the HW its leader last reported in this epoch, and
        // only once that HW covers the leader's first entry of the epoch.
        // Until then the leader has not committed anything in its epoch,
        // and its HW may be far short of what the quorum had committed
        // (after a restart of every node it is 0).
        _ => leader_hw.is_some_and(|(epoch, leader_hw)| {
            epoch == node.epoch()
                && hw >= leader_hw
                && node.log().epoch_before(leader_hw) == Some(epoch)
        }),
    };
    QuorumStatus {
        node_id: node.id(),
        role: node.role(),
        epoch: node.epoch(),
        leader: node.leader(),
        high_watermark: hw,
        caught_up,
        snapshots_installed,
        failed,
    }
}

/// Lanes of outbound requests to one peer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Lane {
    Replication,
    Election,
}

struct Outbound {
    correlation_id: u64,
    message: Message,
    queued: Instant,
}

struct Driver {
    node: RaftNode<DiskLog>,
    /// See [`AddressBook`]; published on `addresses_tx` when it changes.
    addresses: AddressBook,
    addresses_tx: watch::Sender<Arc<AddressBook>>,
    /// The current voters in full, published when they change.
    voters_tx: watch::Sender<Arc<Vec<Voter>>>,
    config: QuorumConfig,
    flusher: Flusher,
    started: Instant,
    commands: mpsc::UnboundedSender<Command>,
    status: watch::Sender<QuorumStatus>,
    /// Inbound requests waiting for the state machine's answer, by the
    /// correlation id the driver gave them.
    inbound: HashMap<u64, Reply<Message>>,
    next_inbound: u64,
    peers: HashMap<(NodeId, Lane), mpsc::UnboundedSender<Outbound>>,
    flush_running: bool,
    flush_again: bool,
    /// Proposals waiting to commit: (last offset, epoch, reply).
    commit_waiters: Vec<CommitWaiter<()>>,
    /// Voter changes waiting to commit: (offset of the VotersRecord, reply).
    voter_waiters: Vec<CommitWaiter<Offset>>,
    snapshots_installed: u64,
    failed: Option<String>,
    /// The high watermark the leader last reported in a Fetch answer, with
    /// the epoch it was reported in.
    leader_hw: Option<(Epoch, Offset)>,
}

impl Driver {
    fn now(&self) -> Millis {
        self.started.elapsed().as_millis() as Millis
    }

    async fn run(mut self, mut commands: mpsc::UnboundedReceiver<Command>) {
        let now = self.now();
        let actions = self.node.tick(now);
        self.execute(actions);
        loop {
            if self.failed.is_some() {
                break;
            }
            let deadline = self.started + Duration::from_millis(self.node.next_deadline());
            let command = tokio::select! {
                command = commands.recv() => command,
                _ = tokio::time::sleep_until(deadline) => {
                    let now = self.now();
                    let actions = self.node.tick(now);
                    self.execute(actions);
                    continue;
                }
            };
            let Some(command) = command else { break };
            if let Command::Shutdown { reply } = command {
                self.shutdown().await;
                let _ = reply.send(());
                break;
            }
            self.handle(command);
        }
        // Fail what is still waiting so no caller hangs.
        for w in self.commit_waiters.drain(..) {
            let _ = w.reply.send(Err(QuorumError::Stopped));
        }
        for w in self.voter_waiters.drain(..) {
            let _ = w.reply.send(Err(QuorumError::Stopped));
        }
        self.inbound.clear();
        self.peers.clear();
    }

    async fn shutdown(&mut self) {
        let now = self.now();
        let actions = self.node.resign(now);
        self.execute(actions);
        // Give the EndQuorumEpoch requests a moment on the wire and let the
        // last flush finish; the log is recovered at open either way.
        tokio::time::sleep(Duration::from_millis(50)).await;
        if let Err(e) = self.flusher.flush() {
            warn!("final flush of the metadata log: {e}");
        }
        info!(
            node = self.config.node_id,
            "metadata quorum replica stopped"
        );
    }

    fn handle(&mut self, command: Command) {
        let now = self.now();
        match command {
            Command::Request {
                from,
                message,
                reply,
            } => {
                let id = self.next_inbound;
                self.next_inbound += 1;
                self.inbound.insert(id, reply);
                // Forget requests whose connection went away unanswered.
                self.inbound.retain(|_, r| !r.is_closed());
                let actions = self.node.on_message(from, id, message, now);
                self.execute(actions);
            }
            Command::Response {
                from,
                correlation_id,
                message,
                endpoints,
            } => {
                // Where the leader an answer names is reached (how a
                // replica that asked a bootstrap server finds its leader).
                // The log's endpoints and `controller.quorum.voters`, where
                // they name the node, win: two sources taking turns would
                // drop the connection every time.
                for (id, address) in endpoints {
                    let in_log = self
                        .node
                        .voter_details()
                        .iter()
                        .any(|v| v.id == id && !v.endpoints.is_empty());
                    let configured = self.config.voters.contains_key(&id);
                    if id >= 0 && id != self.config.node_id && !in_log && !configured {
                        self.set_address(id, address);
                    }
                }
                if let Message::FetchResponse(r) = &message {
                    if r.error_code == vltava_raft::ErrorCode::NONE
                        && r.partition_error_code == vltava_raft::ErrorCode::NONE
                        && r.current_leader.0 == Some(from)
                    {
                        self.leader_hw = Some((r.current_leader.1, r.high_watermark));
                    }
                }
                let actions = self.node.on_message(from, correlation_id, message, now);
                self.execute(actions);
            }
            Command::RequestFailed { to, correlation_id } => {
                let actions = self.node.on_request_failed(to, correlation_id, now);
                self.execute(actions);
            }
            Command::Flushed(result) => {
                self.flush_running = false;
                match result {
                    Ok(_) => {
                        // Not the offset the flush returned: a truncation
                        // and new appends may have happened meanwhile, and
                        // the log knows what is durable now.
                        let durable = self.node.log().durable_end();
                        let actions = self.node.on_flushed(durable, now);
                        self.execute(actions);
                        if self.flush_again {
                            self.flush_again = false;
                            self.start_flush();
                        }
                    }
                    Err(e) => self.fail(format!("flushing the metadata log: {e}")),
                }
            }
            Command::Propose { make, reply } => {
                if !self.node.is_leader() {
                    let _ = reply.send(Err(QuorumError::NotLeader(self.node.leader())));
                    return;
                }
                let values = make(self.node.log().end_offset());
                if values.is_empty() {
                    let _ = reply.send(Ok((self.node.log().end_offset(), self.node.epoch())));
                    return;
                }
                let count = values.len() as u32;
                let payload = crate::batch_codec::data_payload(&values, wall_clock_ms());
                match self.node.propose(payload, count, now) {
                    Ok((base, epoch, actions)) => {
                        let _ = reply.send(Ok((base + Offset::from(count) - 1, epoch)));
                        self.execute(actions);
                    }
                    Err(ProposeError::NotLeader(leader)) => {
                        let _ = reply.send(Err(QuorumError::NotLeader(leader)));
                    }
                }
            }
            Command::WaitCommitted {
                last_offset,
                epoch,
                reply,
            } => {
                self.commit_waiters.push(CommitWaiter {
                    last_offset,
                    epoch,
                    reply,
                });
                self.settle_waiters();
            }
            Command::Read {
                from,
                max_bytes,
                reply,
            } => {
                // `None`: the replica failed; dropping the reply says so.
                if let Some(read) = self.read_committed(from, max_bytes) {
                    let _ = reply.send(read);
                }
            }
            Command::Describe { reply } => {
                let description = self.node.describe_quorum().map(|info| QuorumDescription {
                    info,
                    wall_clock_at_start_ms: wall_clock_ms() - now as i64,
                    voters: self.node.voter_details().to_vec(),
                    voter_addresses: self.addresses.clone(),
                });
                let _ = reply.send(description);
            }
            Command::Snapshot {
                end_offset,
                data,
                reply,
            } => {
                let id = self.node.create_snapshot(end_offset, data);
                self.check_log();
                let _ = reply.send(id);
            }
            Command::AddVoter { voter, reply } => {
                let change = self.node.add_voter(voter, now);
                self.start_voter_change(change, reply);
            }
            Command::UpdateVoter { voter, reply } => {
                let change = self.node.update_voter(voter, now);
                self.start_voter_change(change, reply);
            }
            Command::RemoveVoter {
                voter,
                directory_id,
                reply,
            } => {
                let change = self.node.remove_voter(voter, directory_id, now);
                self.start_voter_change(change, reply);
            }
            Command::Shutdown { .. } => unreachable!("handled by the loop"),
        }
    }

    /// A voter change the state machine accepted (its VotersRecord's offset
    /// and the actions) waits for its commit; a refused one is answered.
    fn start_voter_change(
        &mut self,
        change: Result<(Offset, Vec<Action>), VoterChangeError>,
        reply: Reply<Result<Offset, QuorumError>>,
    ) {
        match change {
            Ok((offset, actions)) => {
                // The new set's endpoints are known before any action is
                // carried out, so the first request it causes can already
                // reach an added or moved voter.
                self.learn_voter_addresses();
                let epoch = self.node.epoch();
                self.voter_waiters.push(CommitWaiter {
                    last_offset: offset,
                    epoch,
                    reply,
                });
                self.execute(actions);
            }
            Err(e) => {
                let _ = reply.send(Err(QuorumError::VoterChange(e)));
            }
        }
    }

    /// `None` when the snapshot the read needs cannot be read: the replica
    /// then stops, as on any metadata log error. Answering with empty
    /// content instead would load an empty image, and the node would take
    /// every partition log it has for a stray.
    fn read_committed(&mut self, from: Offset, max_bytes: usize) -> Option<CommittedRead> {
        let log = self.node.log();
        if from < log.start_offset() {
            if let Some(id) = log.latest_snapshot() {
                let content = read_whole_snapshot(log, id)
                    .and_then(|data| vltava_raft::decode_snapshot(&data))
                    .map(|(_, content)| content);
                return match content {
                    Some(content) => Some(CommittedRead::Snapshot(id, content)),
                    None => {
                        self.fail(format!("the snapshot {id:?} cannot be read"));
                        None
                    }
                };
            }
        }
        let hw = self.node.high_watermark();
        if from >= hw {
            return Some(CommittedRead::Batches(Vec::new()));
        }
        let batches = log
            .read(from, max_bytes)
            .into_iter()
            .take_while(|b| b.last_offset() < hw)
            .collect();
        Some(CommittedRead::Batches(batches))
    }

    /// Runs the state machine's actions in order.
    fn execute(&mut self, actions: Vec<Action>) {
        let mut status_changed = false;
        for action in actions {
            if self.failed.is_some() {
                return;
            }
            match action {
                Action::PersistQuorumState(state) => {
                    if let Err(e) = quorum_state::write(&self.config.quorum_state_path(), &state) {
                        self.fail(format!("writing the quorum-state file: {e}"));
                        return;
                    }
                    status_changed = true;
                }
                Action::Send {
                    to,
                    correlation_id,
                    message,
                } => self.send(to, correlation_id, message),
                Action::Flush => self.start_flush(),
                Action::HighWatermark(_) => {
                    status_changed = true;
                }
                Action::SnapshotInstalled(id) => {
                    info!(
                        node = self.config.node_id,
                        ?id,
                        "installed a metadata snapshot from the leader"
                    );
                    self.snapshots_installed += 1;
                    status_changed = true;
                }
            }
        }
        self.check_log();
        self.settle_waiters();
        self.learn_voter_addresses();
        let status = status_of(
            &self.node,
            self.leader_hw,
            self.snapshots_installed,
            self.failed.clone(),
        );
        if status_changed || *self.status.borrow() != status {
            if self.status.borrow().role != status.role
                || self.status.borrow().leader != status.leader
            {
                info!(
                    node = status.node_id,
                    role = ?status.role,
                    epoch = status.epoch,
                    leader = ?status.leader,
                    "metadata quorum state changed"
                );
            }
            self.status.send_replace(status);
        }
    }

    fn check_log(&mut self) {
        if let Some(e) = self.node.log_mut().take_error() {
            self.fail(format!("metadata log: {e}"));
        }
    }

    fn fail(&mut self, reason: String) {
        error!(
            node = self.config.node_id,
            "metadata quorum replica stops: {reason}"
        );
        self.failed = Some(reason);
        let status = status_of(
            &self.node,
            self.leader_hw,
            self.snapshots_installed,
            self.failed.clone(),
        );
        self.status.send_replace(status);
    }

    /// Answers proposals and voter changes whose batches are now below the
    /// high watermark, or gone.
    fn settle_waiters(&mut self) {
        let hw = self.node.high_watermark();
        let log_end = self.node.log().end_offset();
        let leading = self.node.is_leader();
        let node = &self.node;
        // Committed with our epoch: done. Below the HW with another epoch, or
        // truncated away while we no longer lead: it will never commit.
        let outcome = |w_last: Offset, w_epoch: Epoch| -> Option<bool> {
            if w_last < hw {
                Some(node.log().epoch_before(w_last + 1) == Some(w_epoch))
            } else if w_last >= log_end && !leading {
                Some(false)
            } else {
                None
            }
        };
        let mut pending = Vec::new();
        for w in self.commit_waiters.drain(..) {
            match outcome(w.last_offset, w.epoch) {
                Some(true) => drop(w.reply.send(Ok(()))),
                Some(false) => drop(w.reply.send(Err(QuorumError::Lost))),
                None => pending.push(w),
            }
        }
        self.commit_waiters = pending;
        let mut pending = Vec::new();
        for w in self.voter_waiters.drain(..) {
            match outcome(w.last_offset, w.epoch) {
                Some(true) => drop(w.reply.send(Ok(w.last_offset))),
                Some(false) => drop(w.reply.send(Err(QuorumError::Lost))),
                None => pending.push(w),
            }
        }
        self.voter_waiters = pending;
    }

    fn start_flush(&mut self) {
        if self.flush_running {
            self.flush_again = true;
            return;
        }
        self.flush_running = true;
        let flusher = self.flusher.clone();
        let commands = self.commands.clone();
        tokio::spawn(async move {
            let result = tokio::task::spawn_blocking(move || flusher.flush())
                .await
                .unwrap_or_else(|e| Err(std::io::Error::other(format!("flush task: {e}"))));
            let _ = commands.send(Command::Flushed(result));
        });
    }

    /// Records where `voter` is reached. A peer task dialling an older
    /// address is dropped (its channel closes), so the next request starts
    /// one at the new address.
    fn set_address(&mut self, voter: NodeId, address: String) {
        if self.addresses.get(&voter) == Some(&address) {
            return;
        }
        info!(
            node = self.config.node_id,
            voter,
            %address,
            "metadata quorum peer address recorded"
        );
        self.addresses.insert(voter, address);
        self.peers.retain(|(to, _), _| *to != voter);
        self.addresses_tx
            .send_replace(Arc::new(self.addresses.clone()));
    }

    /// Takes the addresses of the voters the log names with endpoints
    /// (VotersRecords, the snapshot's or the bootstrap checkpoint's voter
    /// set): the controller listener's endpoint, else the first one.
    fn learn_voter_addresses(&mut self) {
        if self.voters_tx.borrow().as_slice() != self.node.voter_details() {
            self.voters_tx
                .send_replace(Arc::new(self.node.voter_details().to_vec()));
        }
        let learned: Vec<(NodeId, String)> = self
            .node
            .voter_details()
            .iter()
            .filter_map(|v| {
                let named = self
                    .config
                    .listener_name
                    .as_deref()
                    .and_then(|name| v.endpoints.iter().find(|e| e.name == name));
                let e = named.or(v.endpoints.first())?;
                Some((v.id, host_port(&e.host, e.port)))
            })
            .collect();
        for (id, address) in learned {
            self.set_address(id, address);
        }
    }

    fn send(&mut self, to: NodeId, correlation_id: u64, message: Message) {
        if is_response(&message) {
            match self.inbound.remove(&correlation_id) {
                Some(reply) => {
                    let _ = reply.send(message);
                }
                None => debug!(
                    to,
                    correlation_id, "answer to a request whose connection is gone"
                ),
            }
            return;
        }
        let Some(addr) = self.addresses.get(&to).cloned() else {
            // Observers are never sent requests; a voter we have no address
            // for (added by KIP-853 without an endpoint) cannot be reached.
            let actions = self.node.on_request_failed(to, correlation_id, self.now());
            self.execute(actions);
            return;
        };
        let lane = match message {
            Message::FetchRequest(_) | Message::FetchSnapshotRequest(_) => Lane::Replication,
            _ => Lane::Election,
        };
        let sender = self.peers.entry((to, lane)).or_insert_with(|| {
            let (tx, rx) = mpsc::unbounded_channel();
            tokio::spawn(peer_task(
                to,
                addr,
                self.config.clone(),
                rx,
                self.commands.clone(),
            ));
            tx
        });
        let _ = sender.send(Outbound {
            correlation_id,
            message,
            queued: Instant::now(),
        });
    }
}

/// Milliseconds since the epoch: Kafka's timestamps (batch times, the fetch
/// times DescribeQuorum reports). Read here, in the driver, never inside the
/// state machine.
pub(crate) fn wall_clock_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn read_whole_snapshot(log: &DiskLog, id: SnapshotId) -> Option<Bytes> {
    let mut out = Vec::new();
    let mut position = 0u64;
    loop {
        let (size, chunk) = log.read_snapshot(id, position, 4 << 20)?;
        out.extend_from_slice(&chunk);
        position += chunk.len() as u64;
        if position >= size || chunk.is_empty() {
            return Some(Bytes::from(out));
        }
    }
}

fn is_response(message: &Message) -> bool {
    matches!(
        message,
        Message::VoteResponse(_)
            | Message::BeginQuorumEpochResponse(_)
            | Message::EndQuorumEpochResponse(_)
            | Message::FetchResponse(_)
            | Message::FetchSnapshotResponse(_)
    )
}

/// Carries requests to one peer over one connection, one at a time,
/// reconnecting after a failure.
async fn peer_task(
    peer: NodeId,
    addr: String,
    config: QuorumConfig,
    mut requests: mpsc::UnboundedReceiver<Outbound>,
    commands: mpsc::UnboundedSender<Command>,
) {
    let request_timeout = Duration::from_millis(config.request_timeout_ms);
    let connection_config = ConnectionConfig {
        client_id: Some(format!("raft-client-{}", config.node_id)),
        client_software_name: "vltava-raft".to_string(),
        client_software_version: env!("CARGO_PKG_VERSION").to_string(),
        connect_timeout: request_timeout,
        request_timeout: request_timeout
            + Duration::from_millis(u64::from(config.fetch_max_wait_ms)),
        max_response_size: config.fetch_max_bytes as usize + (1 << 20),
        // Voters reach each other at the addresses of
        // controller.quorum.voters, with the controller listener's security.
        security: config.security.clone(),
    };
    let mut connection: Option<Connection> = None;
    while let Some(outbound) = requests.recv().await {
        let correlation_id = outbound.correlation_id;
        // A request that waited longer than its timeout is stale: the state
        // machine has retried or moved on.
        if outbound.queued.elapsed() > request_timeout {
            let _ = commands.send(Command::RequestFailed {
                to: peer,
                correlation_id,
            });
            continue;
        }
        if connection.as_ref().is_none_or(|c| c.is_broken()) {
            connection = match Connection::connect(&addr, connection_config.clone()).await {
                Ok(c) => Some(c),
                Err(e) => {
                    debug!(peer, %addr, "cannot reach quorum peer: {e}");
                    let _ = commands.send(Command::RequestFailed {
                        to: peer,
                        correlation_id,
                    });
                    continue;
                }
            };
        }
        let conn = connection.as_mut().expect("connected above");
        match exchange(conn, &outbound.message).await {
            Ok((message, endpoints)) => {
                let _ = commands.send(Command::Response {
                    from: peer,
                    correlation_id,
                    message,
                    endpoints,
                });
            }
            Err(e) => {
                debug!(peer, %addr, "quorum request failed: {e}");
                connection = None;
                let _ = commands.send(Command::RequestFailed {
                    to: peer,
                    correlation_id,
                });
            }
        }
    }
}

/// `host:port` (IPv6 in brackets) split into host and port: the reverse of
/// [`host_port`].
pub fn split_host_port(address: &str) -> Option<(&str, u16)> {
    let (host, port) = address.rsplit_once(':')?;
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    Some((host, port.parse().ok()?))
}

/// Joins a host and a port into an address to dial, bracketing IPv6.
pub fn host_port(host: &str, port: u16) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// Sends one KRaft request and converts the answer; also returns the
/// endpoints the answer names (a Fetch answer's NodeEndpoints).
async fn exchange(
    conn: &mut Connection,
    message: &Message,
) -> Result<(Message, Vec<(NodeId, String)>), String> {
    let err = |e: &dyn std::fmt::Display| e.to_string();
    let mut endpoints = Vec::new();
    let message = match message {
        Message::VoteRequest(r) => {
            let version = conn.negotiated_version(ApiKey::Vote).map_err(|e| err(&e))?;
            let req = wire::vote_request_to_wire(r, version).map_err(|e| err(&e))?;
            let resp = conn
                .send_version(&req, version)
                .await
                .map_err(|e| err(&e))?;
            Message::VoteResponse(
                wire::vote_response_from_wire(&resp, r.pre_vote).map_err(|e| err(&e))?,
            )
        }
        Message::BeginQuorumEpochRequest(r) => {
            let version = conn
                .negotiated_version(ApiKey::BeginQuorumEpoch)
                .map_err(|e| err(&e))?;
            let req = wire::begin_quorum_epoch_request_to_wire(r, version);
            let resp = conn
                .send_version(&req, version)
                .await
                .map_err(|e| err(&e))?;
            Message::BeginQuorumEpochResponse(
                wire::begin_quorum_epoch_response_from_wire(&resp).map_err(|e| err(&e))?,
            )
        }
        Message::EndQuorumEpochRequest(r) => {
            let version = conn
                .negotiated_version(ApiKey::EndQuorumEpoch)
                .map_err(|e| err(&e))?;
            let req = wire::end_quorum_epoch_request_to_wire(r, version);
            let resp = conn
                .send_version(&req, version)
                .await
                .map_err(|e| err(&e))?;
            Message::EndQuorumEpochResponse(
                wire::end_quorum_epoch_response_from_wire(&resp).map_err(|e| err(&e))?,
            )
        }
        Message::FetchRequest(r) => {
            let version = conn
                .negotiated_version(ApiKey::Fetch)
                .map_err(|e| err(&e))?;
            let req = wire::fetch_request_to_wire(r, version).map_err(|e| err(&e))?;
            let resp = conn
                .send_version(&req, version)
                .await
                .map_err(|e| err(&e))?;
            endpoints = wire::fetch_response_endpoints(&resp);
            Message::FetchResponse(wire::fetch_response_from_wire(&resp, r).map_err(|e| err(&e))?)
        }
        Message::FetchSnapshotRequest(r) => {
            let version = conn
                .negotiated_version(ApiKey::FetchSnapshot)
                .map_err(|e| err(&e))?;
            let req = wire::fetch_snapshot_request_to_wire(r);
            let resp = conn
                .send_version(&req, version)
                .await
                .map_err(|e| err(&e))?;
            Message::FetchSnapshotResponse(
                wire::fetch_snapshot_response_from_wire(&resp, r).map_err(|e| err(&e))?,
            )
        }
        other => return Err(format!("not a request: {other:?}")),
    };
    Ok((message, endpoints))
}
