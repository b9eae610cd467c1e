//! The broker's side of the controller (Kafka's node-to-controller
//! channel): it registers this broker with the active controller, sends
//! its heartbeats, asks for producer-id blocks, and asks to shut down.
//!
//! The active controller is whichever node leads the metadata quorum. When
//! that is this node, the channel calls the `Controller` directly; otherwise
//! it sends the Kafka request (BrokerRegistration, BrokerHeartbeat,
//! AllocateProducerIds) to the leader's address, as the quorum knows it
//! (`controller.quorum.voters`, or the voters' endpoints in the metadata
//! log for a dynamic quorum), over one `vltava-net` connection, which it
//! replaces when the leader changes or the connection breaks.

use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::sync::watch;
use tracing::{debug, info, warn};
use vltava_metadata::controller::NewTopic;
use vltava_metadata::Endpoint;
use vltava_net::{ClientSecurity, ConnectionConfig, Redial};
use vltava_protocol::messages::{
    assign_replicas_to_dirs_request, broker_registration_request, create_topics_request,
    AllocateProducerIdsRequest, AlterPartitionRequest, AlterPartitionResponse,
    AssignReplicasToDirsRequest, BrokerHeartbeatRequest, BrokerRegistrationRequest,
    CreateTopicsRequest, DefaultPrincipalData, EnvelopeRequest, RequestHeader,
};
use vltava_protocol::{ErrorCode, Message, Request, RequestBody, ResponseBody, Uuid};
use vltava_quorum::driver::Quorum;
use vltava_storage::{KafkaUuid, LogDirs};

use crate::controller::{Controller, HeartbeatAnswer, IsrChange, Registration};
use crate::error::KafkaError;
use crate::metadata_publisher::Applied;
use std::sync::Arc;

/// How long a call waits for the quorum to know a leader.
const LEADER_WAIT: Duration = Duration::from_secs(5);

pub struct ControllerChannel {
    node_id: i32,
    cluster_id: String,
    /// New at every start: tells the controller this is a new process.
    incarnation_id: Uuid,
    endpoints: Vec<Endpoint>,
    rack: Option<String>,
    controller: Arc<Controller>,
    quorum: Quorum,
    applied: watch::Receiver<Applied>,
    heartbeat_interval: Duration,
    request_timeout: Duration,
    /// This broker's epoch once registered.
    epoch: Mutex<Option<i64>>,
    /// The epoch this broker had when it last stopped cleanly (read from
    /// the clean-shutdown file at start), -1 if it did not.
    previous_epoch: i64,
    /// The producer-id block being handed out: `next..end`.
    producer_ids: tokio::sync::Mutex<(i64, i64)>,
    /// To the active controller; remade when the leader moves. The
    /// connection is used by one request at a time (the mutex queues them
    /// across the round trip): this node's own requests (registration,
    /// heartbeats, ISR changes, producer ids).
    connection: tokio::sync::Mutex<Redial>,
    /// The same for the clients' requests this node relays in Envelopes,
    /// so a slow relayed change (a voter change waiting for its commit)
    /// never holds up a heartbeat and gets this broker fenced.
    relay_connection: tokio::sync::Mutex<Redial>,
    /// How long an accepted heartbeat vouches for this broker (see
    /// `holds_lease`), and until when the last one does, in milliseconds
    /// since `lease_clock` (0: never).
    lease_length: Duration,
    /// This broker's log directories: their ids go with the registration,
    /// the failed ones with every heartbeat (KIP-858).
    log_dirs: Arc<LogDirs>,
    lease_clock: std::time::Instant,
    lease_until_ms: std::sync::atomic::AtomicU64,
}

impl ControllerChannel {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        node_id: i32,
        cluster_id: String,
        endpoints: Vec<Endpoint>,
        rack: Option<String>,
        controller: Arc<Controller>,
        applied: watch::Receiver<Applied>,
        heartbeat_interval: Duration,
        request_timeout: Duration,
        session_timeout: Duration,
        security: Option<Arc<ClientSecurity>>,
        log_dirs: Arc<LogDirs>,
        previous_epoch: i64,
    ) -> ControllerChannel {
        let quorum = controller.quorum().clone();
        ControllerChannel {
            node_id,
            cluster_id,
            incarnation_id: Uuid(KafkaUuid::random().0),
            endpoints,
            rack,
            controller,
            quorum,
            applied,
            heartbeat_interval,
            request_timeout,
            epoch: Mutex::new(None),
            previous_epoch,
            producer_ids: tokio::sync::Mutex::new((0, 0)),
            connection: tokio::sync::Mutex::new(Redial::new(ConnectionConfig {
                client_id: Some(format!("broker-{node_id}-to-controller")),
                connect_timeout: request_timeout,
                request_timeout,
                // The controller listener's TLS and SASL.
                security: security.clone(),
                ..ConnectionConfig::default()
            })),
            relay_connection: tokio::sync::Mutex::new(Redial::new(ConnectionConfig {
                client_id: Some(format!("broker-{node_id}-relaying-to-controller")),
                connect_timeout: request_timeout,
                request_timeout,
                security,
                ..ConnectionConfig::default()
            })),
            log_dirs,
            lease_length: session_timeout * 3 / 4,
            lease_clock: std::time::Instant::now(),
            lease_until_ms: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// Whether this broker may still act as a leader of coordinator state:
    /// the controller accepted, unfenced, a heartbeat it sent less than
    /// three quarters of `broker.session.timeout.ms` ago. The controller
    /// fences a broker only a full session timeout after the last heartbeat
    /// it received (later than it was sent), so a broker cut off from the
    /// controller stops answering as a coordinator before another one can
    /// take over, instead of serving what it holds as a zombie (a 3-node
    /// fault run saw an isolated coordinator answer OffsetFetch with offsets
    /// older than ones its successor had acknowledged). Kafka has no such
    /// lease; this assumes the two clocks run at about the same rate.
    pub fn holds_lease(&self) -> bool {
        let now = self.lease_clock.elapsed().as_millis() as u64;
        now < self
            .lease_until_ms
            .load(std::sync::atomic::Ordering::Acquire)
    }

    fn extend_lease(&self, sent: std::time::Instant) {
        let until = (sent.duration_since(self.lease_clock) + self.lease_length).as_millis() as u64;
        self.lease_until_ms
            .fetch_max(until, std::sync::atomic::Ordering::AcqRel);
    }

    /// This broker's epoch, once registered.
    pub fn epoch(&self) -> Option<i64> {
        *self.epoch.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// This broker's epoch (its registration's), once registered: the
    /// replica fetchers and AlterPartition carry it (KIP-903).
    pub fn broker_epoch(&self) -> Option<i64> {
        self.epoch()
    }

    fn set_epoch(&self, epoch: Option<i64>) {
        *self.epoch.lock().unwrap_or_else(|e| e.into_inner()) = epoch;
    }

    /// The active controller, waiting a little for an election to end.
    async fn leader(&self) -> Result<i32, KafkaError> {
        let mut status = self.quorum.status();
        let leader = tokio::time::timeout(LEADER_WAIT, async {
            status
                .wait_for(|s| s.leader.is_some())
                .await
                .ok()
                .and_then(|s| s.leader)
        })
        .await;
        match leader {
            Ok(Some(leader)) => Ok(leader),
            _ => Err(KafkaError::new(
                ErrorCode::NOT_CONTROLLER,
                "The metadata quorum has no leader at the moment.",
            )),
        }
    }

    /// One look after this controller's place in a dynamic quorum
    /// (KIP-853), as `me` (its id, directory id and listeners):
    /// - it is a voter, but the log names other endpoints for it (its
    ///   listeners changed): it asks the leader to update them
    ///   (UpdateRaftVoter);
    /// - it is not a voter and `auto_join` (Kafka's
    ///   `controller.quorum.auto.join.enable`): it asks the leader to add
    ///   it (AddRaftVoter); the leader refuses with REQUEST_TIMED_OUT until
    ///   it has caught up, and the next look asks again.
    ///
    /// Returns whether it is a voter now.
    pub async fn upkeep_voter(
        &self,
        me: &vltava_raft::Voter,
        auto_join: bool,
    ) -> Result<bool, KafkaError> {
        use vltava_protocol::messages::{
            add_raft_voter_request, update_raft_voter_request, AddRaftVoterRequest,
            UpdateRaftVoterRequest,
        };
        let status = self.quorum.status().borrow().clone();
        let Some(leader) = status.leader else {
            return Ok(false);
        };
        let voters = self.quorum.voters();
        let same_dir =
            |d: [u8; 16]| d == [0; 16] || me.directory_id == [0; 16] || d == me.directory_id;
        if let Some(v) = voters
            .iter()
            .find(|v| v.id == me.id && same_dir(v.directory_id))
        {
            if v.endpoints == me.endpoints {
                return Ok(true);
            }
            info!(voter = me.id, from = ?v.endpoints, to = ?me.endpoints, "this voter's endpoints changed: updating them in the metadata quorum");
            if leader == self.node_id {
                self.quorum
                    .update_voter(me.clone())
                    .await
                    .map_err(|e| KafkaError::new(ErrorCode::REQUEST_TIMED_OUT, e.to_string()))?;
                return Ok(true);
            }
            let request = UpdateRaftVoterRequest {
                cluster_id: Some(self.cluster_id.clone()),
                current_leader_epoch: status.epoch,
                voter_id: me.id,
                voter_directory_id: Uuid(me.directory_id),
                listeners: me
                    .endpoints
                    .iter()
                    .map(|e| update_raft_voter_request::Listener {
                        name: e.name.clone(),
                        host: e.host.clone(),
                        port: e.port,
                        ..Default::default()
                    })
                    .collect(),
                k_raft_version_feature: update_raft_voter_request::KRaftVersionFeature {
                    min_supported_version: 0,
                    max_supported_version: 1,
                    ..Default::default()
                },
                ..Default::default()
            };
            let response = self.call(leader, &request).await?;
            if response.error_code != 0 {
                return Err(KafkaError::new(
                    ErrorCode(response.error_code),
                    format!("UpdateRaftVoter refused by the quorum leader {leader}"),
                ));
            }
            return Ok(true);
        }
        if !auto_join || leader == self.node_id {
            return Ok(false);
        }
        let request = AddRaftVoterRequest {
            cluster_id: Some(self.cluster_id.clone()),
            timeout_ms: (self.request_timeout.as_millis() as i32 / 5 * 4).max(1),
            voter_id: me.id,
            voter_directory_id: Uuid(me.directory_id),
            listeners: me
                .endpoints
                .iter()
                .map(|e| add_raft_voter_request::Listener {
                    name: e.name.clone(),
                    host: e.host.clone(),
                    port: e.port,
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        };
        let response = self.call(leader, &request).await?;
        match ErrorCode(response.error_code) {
            ErrorCode::NONE => {
                info!(
                    voter = me.id,
                    "joined the metadata quorum as a voter (controller.quorum.auto.join.enable)"
                );
                Ok(true)
            }
            // Not caught up yet, or another change is committing.
            ErrorCode::REQUEST_TIMED_OUT => Ok(false),
            code => Err(KafkaError::new(
                code,
                format!(
                    "AddRaftVoter refused by the quorum leader {leader}: {}",
                    response.error_message.unwrap_or_default()
                ),
            )),
        }
    }

    /// Sends `request` to the active controller `leader` (another node),
    /// in the version negotiated with it.
    async fn call<R: Request>(&self, leader: i32, request: &R) -> Result<R::Response, KafkaError> {
        self.call_version(leader, request, None).await
    }

    async fn call_version<R: Request>(
        &self,
        leader: i32,
        request: &R,
        version: Option<i16>,
    ) -> Result<R::Response, KafkaError> {
        self.call_on(&self.connection, leader, request, version)
            .await
    }

    async fn call_on<R: Request>(
        &self,
        connection: &tokio::sync::Mutex<Redial>,
        leader: i32,
        request: &R,
        version: Option<i16>,
    ) -> Result<R::Response, KafkaError> {
        let unreachable = |e: &dyn std::fmt::Display| {
            KafkaError::new(
                ErrorCode::NOT_CONTROLLER,
                format!("cannot reach the active controller {leader}: {e}"),
            )
        };
        let Some(addr) = self.quorum.address_of(leader) else {
            return Err(unreachable(&"the quorum knows no address for it"));
        };
        connection
            .lock()
            .await
            .send(&addr, request, version)
            .await
            .map_err(|e| unreachable(&e))
    }

    /// The last metadata offset this broker has applied, -1 before it has
    /// loaded the metadata.
    fn current_metadata_offset(&self) -> i64 {
        let applied = *self.applied.borrow();
        if applied.loaded {
            applied.end - 1
        } else {
            -1
        }
    }

    /// The ids of the log directories that work.
    fn online_log_dirs(&self) -> Vec<Uuid> {
        self.log_dirs
            .dirs()
            .iter()
            .filter(|d| !d.is_offline())
            .map(|d| Uuid(d.id.0))
            .collect()
    }

    /// The ids of the log directories that failed (reported in every
    /// heartbeat, so a new active controller learns them too).
    fn offline_log_dirs(&self) -> Vec<Uuid> {
        self.log_dirs
            .dirs()
            .iter()
            .filter(|d| d.is_offline())
            .map(|d| Uuid(d.id.0))
            .collect()
    }

    /// Tells the active controller which log directory holds each replica
    /// (AssignReplicasToDirs, KIP-858): `(topic id, partition, directory)`.
    /// Returns each partition's answer.
    pub async fn assign_replicas_to_dirs(
        &self,
        assignments: Vec<(Uuid, i32, Uuid)>,
    ) -> Result<Vec<(Uuid, i32, ErrorCode)>, KafkaError> {
        let Some(epoch) = self.epoch() else {
            return Err(KafkaError::new(
                ErrorCode::BROKER_ID_NOT_REGISTERED,
                "This broker has not registered yet.",
            ));
        };
        let leader = self.leader().await?;
        if leader == self.node_id {
            return self
                .controller
                .assign_replicas_to_dirs(self.node_id, epoch, assignments)
                .await;
        }
        let mut directories: Vec<assign_replicas_to_dirs_request::DirectoryData> = Vec::new();
        for (topic_id, partition, dir) in assignments {
            let d = match directories.iter().position(|d| d.id == dir) {
                Some(i) => &mut directories[i],
                None => {
                    directories.push(assign_replicas_to_dirs_request::DirectoryData {
                        id: dir,
                        ..Default::default()
                    });
                    directories.last_mut().expect("just pushed")
                }
            };
            let partition = assign_replicas_to_dirs_request::PartitionData {
                partition_index: partition,
                ..Default::default()
            };
            match d.topics.iter_mut().find(|t| t.topic_id == topic_id) {
                Some(t) => t.partitions.push(partition),
                None => d.topics.push(assign_replicas_to_dirs_request::TopicData {
                    topic_id,
                    partitions: vec![partition],
                    ..Default::default()
                }),
            }
        }
        let request = AssignReplicasToDirsRequest {
            broker_id: self.node_id,
            broker_epoch: epoch,
            directories,
            ..Default::default()
        };
        let response = self.call(leader, &request).await?;
        if response.error_code != 0 {
            return Err(KafkaError::new(
                ErrorCode(response.error_code),
                format!("AssignReplicasToDirs refused by controller {leader}"),
            ));
        }
        Ok(response
            .directories
            .into_iter()
            .flat_map(|d| d.topics)
            .flat_map(|t| {
                let topic_id = t.topic_id;
                t.partitions
                    .into_iter()
                    .map(move |p| (topic_id, p.partition_index, ErrorCode(p.error_code)))
            })
            .collect())
    }

    /// Registers this broker with the active controller; returns its epoch.
    pub async fn register(&self) -> Result<i64, KafkaError> {
        let leader = self.leader().await?;
        let epoch = if leader == self.node_id {
            self.controller
                .register_broker(Registration {
                    broker_id: self.node_id,
                    cluster_id: self.cluster_id.clone(),
                    incarnation_id: self.incarnation_id,
                    endpoints: self.endpoints.clone(),
                    rack: self.rack.clone(),
                    log_dirs: self.online_log_dirs(),
                    previous_broker_epoch: self.epoch().unwrap_or(self.previous_epoch),
                })
                .await?
        } else {
            let request = BrokerRegistrationRequest {
                broker_id: self.node_id,
                cluster_id: self.cluster_id.clone(),
                incarnation_id: self.incarnation_id,
                listeners: self
                    .endpoints
                    .iter()
                    .map(|e| broker_registration_request::Listener {
                        name: e.listener.clone(),
                        host: e.host.clone(),
                        port: e.port,
                        security_protocol: e.security_protocol,
                        ..Default::default()
                    })
                    .collect(),
                rack: self.rack.clone(),
                previous_broker_epoch: self.epoch().unwrap_or(self.previous_epoch),
                log_dirs: self.online_log_dirs(),
                ..Default::default()
            };
            let response = self.call(leader, &request).await?;
            if response.error_code != 0 {
                return Err(KafkaError::new(
                    ErrorCode(response.error_code),
                    format!("BrokerRegistration refused by controller {leader}"),
                ));
            }
            response.broker_epoch
        };
        self.set_epoch(Some(epoch));
        Ok(epoch)
    }

    /// One heartbeat to the active controller.
    pub async fn heartbeat(&self, want_shut_down: bool) -> Result<HeartbeatAnswer, KafkaError> {
        let Some(epoch) = self.epoch() else {
            return Err(KafkaError::new(
                ErrorCode::BROKER_ID_NOT_REGISTERED,
                "This broker has not registered yet.",
            ));
        };
        let offset = self.current_metadata_offset();
        let leader = self.leader().await?;
        let answer = if leader == self.node_id {
            self.controller
                .broker_heartbeat(
                    self.node_id,
                    epoch,
                    offset,
                    false,
                    want_shut_down,
                    &self.offline_log_dirs(),
                )
                .await
        } else {
            let request = BrokerHeartbeatRequest {
                broker_id: self.node_id,
                broker_epoch: epoch,
                current_metadata_offset: offset,
                want_fence: false,
                want_shut_down,
                offline_log_dirs: self.offline_log_dirs(),
                ..Default::default()
            };
            let response = self.call(leader, &request).await?;
            if response.error_code != 0 {
                Err(KafkaError::new(
                    ErrorCode(response.error_code),
                    format!("BrokerHeartbeat refused by controller {leader}"),
                ))
            } else {
                Ok(HeartbeatAnswer {
                    is_caught_up: response.is_caught_up,
                    is_fenced: response.is_fenced,
                    should_shut_down: response.should_shut_down,
                })
            }
        };
        if let Err(e) = &answer {
            if matches!(
                e.code,
                ErrorCode::STALE_BROKER_EPOCH | ErrorCode::BROKER_ID_NOT_REGISTERED
            ) {
                // The controller forgot this registration (or a newer one
                // replaced it): register again.
                self.set_epoch(None);
            }
        }
        answer
    }

    /// Registers, then heartbeats until the controller has unfenced this
    /// broker (it has caught up with the metadata log): how a node joins.
    pub async fn join(&self, limit: Duration) -> Result<(), KafkaError> {
        let deadline = tokio::time::Instant::now() + limit;
        let mut last_error = None;
        while tokio::time::Instant::now() < deadline {
            let step = async {
                if self.epoch().is_none() {
                    self.register().await?;
                }
                self.heartbeat(false).await
            };
            match step.await {
                Ok(answer) if !answer.is_fenced => return Ok(()),
                Ok(_) => last_error = None,
                Err(e) => last_error = Some(e),
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Err(last_error.unwrap_or_else(|| {
            KafkaError::new(
                ErrorCode::REQUEST_TIMED_OUT,
                "The controller has not unfenced this broker yet.",
            )
        }))
    }

    /// Registration and heartbeats for as long as the node runs; on
    /// shutdown, one heartbeat asking to shut down (controlled shutdown).
    pub async fn run(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        let mut fenced_logged = false;
        loop {
            let step = async {
                if self.epoch().is_none() {
                    let epoch = self.register().await?;
                    info!(epoch, "registered with the active controller");
                }
                let sent = std::time::Instant::now();
                let answer = self.heartbeat(false).await?;
                if !answer.is_fenced {
                    self.extend_lease(sent);
                }
                Ok::<_, KafkaError>(answer)
            };
            let outcome = tokio::select! {
                outcome = step => outcome,
                _ = shutdown.wait_for(|s| *s) => break,
            };
            let pause = match outcome {
                Ok(answer) => {
                    if answer.is_fenced != fenced_logged {
                        fenced_logged = answer.is_fenced;
                        if answer.is_fenced {
                            info!(
                                "this broker is fenced until it catches up with the metadata log"
                            );
                        }
                    }
                    self.heartbeat_interval
                }
                Err(e) => {
                    debug!("controller channel: {e}");
                    // Retry sooner while not registered, so a node joins
                    // quickly once the quorum has a leader.
                    self.heartbeat_interval.min(Duration::from_millis(500))
                }
            };
            tokio::select! {
                _ = tokio::time::sleep(pause) => {}
                _ = shutdown.wait_for(|s| *s) => break,
            }
        }
        if self.epoch().is_some() {
            match tokio::time::timeout(self.request_timeout, self.heartbeat(true)).await {
                Ok(Ok(_)) => info!("controlled shutdown acknowledged by the controller"),
                Ok(Err(e)) => warn!("controlled shutdown: {e}"),
                Err(_) => warn!("controlled shutdown: no answer from the controller"),
            }
        }
    }

    /// Kafka 4 brokers forward admin requests to the active controller; so
    /// does this one, in an Envelope (KIP-590) carrying the client's
    /// `header`, `principal` and address, so the controller decides as if
    /// the client had asked it. `None` when this node is the active
    /// controller (the caller handles the request) or the request is not
    /// one that changes metadata; otherwise the controller's answer, or why
    /// there is none.
    pub async fn forward(
        &self,
        body: &RequestBody,
        header: &RequestHeader,
        principal: &str,
        token_authenticated: bool,
        client: IpAddr,
    ) -> Option<Result<ResponseBody, RelayFailure>> {
        if !is_relayed(body) {
            return None;
        }
        let leader = match self.leader().await {
            Ok(l) if l == self.node_id => return None,
            Ok(l) => l,
            Err(e) => return Some(Err(RelayFailure::Unreached(e))),
        };
        let who = (principal, token_authenticated, client);
        Some(self.relay(leader, body, header, who).await)
    }

    async fn relay(
        &self,
        leader: i32,
        body: &RequestBody,
        header: &RequestHeader,
        (principal, token_authenticated, client): (&str, bool, IpAddr),
    ) -> Result<ResponseBody, RelayFailure> {
        let version = header.request_api_version;
        // KIP-853 voter changes: the leader is asked to answer within this
        // channel's request timeout, so a change slow to commit comes back
        // as its REQUEST_TIMED_OUT rather than as a relay that gave up.
        let clamped;
        let body = match body {
            RequestBody::AddRaftVoter(r) => {
                let limit = i32::try_from(self.request_timeout.as_millis() / 5 * 4)
                    .unwrap_or(i32::MAX)
                    .max(1);
                let mut r = r.clone();
                r.timeout_ms = if r.timeout_ms > 0 {
                    r.timeout_ms.min(limit)
                } else {
                    limit
                };
                clamped = RequestBody::AddRaftVoter(r);
                &clamped
            }
            other => other,
        };
        let internal = |what: String| {
            RelayFailure::Unreached(KafkaError::new(ErrorCode::UNKNOWN_SERVER_ERROR, what))
        };
        let mut inner = BytesMut::new();
        vltava_protocol::header::encode_request(header, body, &mut inner)
            .map_err(|e| internal(format!("the request to relay does not encode: {e}")))?;
        let envelope = EnvelopeRequest {
            // Without the frame's size prefix.
            request_data: inner.freeze().slice(4..),
            request_principal: Some(principal_bytes(principal, token_authenticated)),
            client_host_address: address_bytes(client),
            ..Default::default()
        };
        let answer = self
            .call_on(&self.relay_connection, leader, &envelope, Some(0))
            .await
            .map_err(RelayFailure::Unreached)?;
        let code = ErrorCode(answer.error_code);
        if code == ErrorCode::NOT_CONTROLLER {
            return Err(RelayFailure::Unreached(KafkaError::new(
                code,
                format!("node {leader} no longer leads the quorum"),
            )));
        }
        if code != ErrorCode::NONE {
            return Err(RelayFailure::Refused(KafkaError::new(
                code,
                format!(
                    "the active controller {leader} refused the Envelope relaying the client's {}: {} ({})",
                    body.api_key().name(),
                    code.name(),
                    code.message()
                ),
            )));
        }
        let data = answer.response_data.ok_or_else(|| {
            internal(format!(
                "the active controller {leader} answered the relayed request with nothing"
            ))
        })?;
        vltava_protocol::header::decode_response(data, body.api_key(), version)
            .map(|(_, response)| response)
            .map_err(|e| {
                internal(format!(
                    "the active controller's answer does not parse: {e}"
                ))
            })
    }

    /// CreateTopics of one topic through the active controller, wherever it
    /// runs; returns the partition count created.
    pub async fn create_topic(
        &self,
        topic: NewTopic,
        configs: Vec<(String, Option<String>)>,
    ) -> Result<i32, KafkaError> {
        let leader = self.leader().await?;
        if leader == self.node_id {
            return self
                .controller
                .create_topic(topic, configs, false)
                .await
                .map(|c| c.num_partitions);
        }
        let request = CreateTopicsRequest {
            topics: vec![create_topics_request::CreatableTopic {
                name: topic.name.clone(),
                num_partitions: topic.num_partitions,
                replication_factor: topic.replication_factor,
                configs: configs
                    .into_iter()
                    .map(
                        |(name, value)| create_topics_request::CreatableTopicConfig {
                            name,
                            value,
                            ..Default::default()
                        },
                    )
                    .collect(),
                ..Default::default()
            }],
            timeout_ms: self.request_timeout.as_millis() as i32,
            ..Default::default()
        };
        let response = self.call(leader, &request).await?;
        let Some(result) = response.topics.iter().find(|t| t.name == topic.name) else {
            return Err(KafkaError::new(
                ErrorCode::UNKNOWN_SERVER_ERROR,
                "CreateTopics answer without the topic",
            ));
        };
        if result.error_code != 0 {
            return Err(KafkaError::new(
                ErrorCode(result.error_code),
                result.error_message.clone().unwrap_or_default(),
            ));
        }
        // The controller answered once it applied the topic; wait until
        // this node has too, so the caller finds it in its image.
        let mut applied = self.applied.clone();
        let name = topic.name.clone();
        let here = applied.wait_for(|_| self.controller.image().topic(&name).is_some());
        if tokio::time::timeout(self.request_timeout, here)
            .await
            .is_err()
        {
            return Err(KafkaError::new(
                ErrorCode::REQUEST_TIMED_OUT,
                format!("{name} was created but has not reached this node yet"),
            ));
        }
        Ok(result.num_partitions)
    }

    /// Creates each missing topic with the broker defaults (Metadata with
    /// auto-creation allowed), through the active controller. Failures
    /// leave the topic missing; the Metadata response then reports it.
    pub async fn auto_create_topics(&self, names: &[String]) {
        for name in names {
            let topic = NewTopic {
                name: name.clone(),
                num_partitions: -1,
                replication_factor: -1,
                ..Default::default()
            };
            match self.create_topic(topic, Vec::new()).await {
                Ok(_) => {}
                Err(e) if e.code == ErrorCode::TOPIC_ALREADY_EXISTS => {}
                Err(e) => info!(topic = %name, "not auto-creating: {e}"),
            }
        }
    }

    /// Sends a leader's ISR changes to the active controller (a direct
    /// call when it is this node) and returns its answer. The request holds
    /// only v2+ fields (topic ids, member epochs): it goes out as v3.
    pub async fn alter_partition(
        &self,
        request: &AlterPartitionRequest,
    ) -> Result<AlterPartitionResponse, KafkaError> {
        let leader = self.leader().await?;
        if leader == self.node_id {
            Ok(self.answer_alter_partition(request, 3).await)
        } else {
            self.call_version(leader, request, Some(3)).await
        }
    }

    /// The active controller's answer to AlterPartition in `version`
    /// (topic names before v2, ids since; broker epochs of the new ISR's
    /// members since v3).
    pub async fn answer_alter_partition(
        &self,
        request: &AlterPartitionRequest,
        version: i16,
    ) -> AlterPartitionResponse {
        use vltava_protocol::messages::alter_partition_response as resp;
        let image = self.controller.image();
        let mut changes = Vec::new();
        // (response topic index, partition index) of each change, and the
        // partitions refused before reaching the controller.
        let mut topics: Vec<resp::TopicData> = Vec::new();
        let mut where_: Vec<(usize, usize)> = Vec::new();
        for t in &request.topics {
            let topic_id = if version >= 2 {
                Some(t.topic_id)
            } else {
                image.topic(&t.topic_name).map(|topic| topic.id)
            };
            let mut out = resp::TopicData {
                topic_name: t.topic_name.clone(),
                topic_id: t.topic_id,
                ..Default::default()
            };
            for p in &t.partitions {
                let Some(topic_id) = topic_id else {
                    out.partitions.push(resp::PartitionData {
                        partition_index: p.partition_index,
                        error_code: ErrorCode::UNKNOWN_TOPIC_OR_PARTITION.0,
                        ..Default::default()
                    });
                    continue;
                };
                let new_isr = if version >= 3 {
                    p.new_isr_with_epochs
                        .iter()
                        .map(|b| (b.broker_id, b.broker_epoch))
                        .collect()
                } else {
                    p.new_isr.iter().map(|id| (*id, -1)).collect()
                };
                where_.push((topics.len(), out.partitions.len()));
                out.partitions.push(resp::PartitionData {
                    partition_index: p.partition_index,
                    ..Default::default()
                });
                changes.push(IsrChange {
                    topic_id,
                    partition: p.partition_index,
                    leader_epoch: p.leader_epoch,
                    partition_epoch: p.partition_epoch,
                    new_isr,
                });
            }
            topics.push(out);
        }
        match self
            .controller
            .alter_partition(request.broker_id, request.broker_epoch, changes)
            .await
        {
            Ok(results) => {
                for ((t, p), result) in where_.into_iter().zip(results) {
                    let data = &mut topics[t].partitions[p];
                    match result {
                        // The change committed, but it completed a
                        // reassignment that took the leadership from the
                        // requester (Kafka: NEW_LEADER_ELECTED since v2,
                        // FENCED_LEADER_EPOCH before).
                        Ok(state) if state.leader != request.broker_id => {
                            data.error_code = if version >= 2 {
                                ErrorCode::NEW_LEADER_ELECTED.0
                            } else {
                                ErrorCode::FENCED_LEADER_EPOCH.0
                            };
                        }
                        Ok(state) => {
                            data.leader_id = state.leader;
                            data.leader_epoch = state.leader_epoch;
                            data.isr = state.isr;
                            data.partition_epoch = state.partition_epoch;
                        }
                        Err(e) => data.error_code = e.code.0,
                    }
                }
                AlterPartitionResponse {
                    topics,
                    ..Default::default()
                }
            }
            Err(e) => AlterPartitionResponse {
                error_code: e.code.0,
                ..Default::default()
            },
        }
    }

    /// A producer id no producer has had (InitProducerId). Ids come in
    /// blocks the controller records in the metadata log before handing
    /// them out, so no two brokers and no restart ever reuse one; the rest
    /// of a block is skipped after a restart.
    pub async fn allocate_producer_id(&self) -> Result<i64, KafkaError> {
        let mut ids = self.producer_ids.lock().await;
        if ids.0 >= ids.1 {
            let epoch = self.epoch().unwrap_or(-1);
            let leader = self.leader().await?;
            let (start, len) = if leader == self.node_id {
                self.controller
                    .allocate_producer_ids(self.node_id, epoch)
                    .await?
            } else {
                let request = AllocateProducerIdsRequest {
                    broker_id: self.node_id,
                    broker_epoch: epoch,
                    ..Default::default()
                };
                let response = self.call(leader, &request).await?;
                if response.error_code != 0 {
                    return Err(KafkaError::new(
                        ErrorCode(response.error_code),
                        format!("AllocateProducerIds refused by controller {leader}"),
                    ));
                }
                (
                    response.producer_id_start,
                    i64::from(response.producer_id_len),
                )
            };
            *ids = (start, start + len);
        }
        let id = ids.0;
        ids.0 += 1;
        Ok(id)
    }
}

// ---- Envelope (KIP-590): how relayed requests are wrapped -------------------

/// The requests a node relays to the active controller (Kafka's
/// "forwardable" APIs that Vltava serves).
pub fn is_relayed(body: &RequestBody) -> bool {
    matches!(
        body,
        RequestBody::CreateTopics(_)
            | RequestBody::DeleteTopics(_)
            | RequestBody::CreatePartitions(_)
            | RequestBody::AlterConfigs(_)
            | RequestBody::IncrementalAlterConfigs(_)
            | RequestBody::DescribeQuorum(_)
            | RequestBody::AddRaftVoter(_)
            | RequestBody::RemoveRaftVoter(_)
            | RequestBody::ElectLeaders(_)
            | RequestBody::AlterPartitionReassignments(_)
            | RequestBody::ListPartitionReassignments(_)
            | RequestBody::CreateAcls(_)
            | RequestBody::DeleteAcls(_)
            | RequestBody::AlterUserScramCredentials(_)
            | RequestBody::AlterClientQuotas(_)
            | RequestBody::UpdateFeatures(_)
            | RequestBody::CreateDelegationToken(_)
            | RequestBody::RenewDelegationToken(_)
            | RequestBody::ExpireDelegationToken(_)
    )
}

/// `Type:Name` as Kafka serialises a principal for an Envelope: the
/// version (0) as an int16, then `DefaultPrincipalData` v0.
pub fn principal_bytes(principal: &str, token_authenticated: bool) -> Bytes {
    let (kind, name) = principal.split_once(':').unwrap_or(("User", principal));
    let data = DefaultPrincipalData {
        r#type: kind.to_string(),
        name: name.to_string(),
        token_authenticated,
        ..Default::default()
    };
    let mut buf = BytesMut::new();
    buf.extend_from_slice(&0i16.to_be_bytes());
    data.encode(&mut buf, 0)
        .expect("a principal's strings always encode");
    buf.freeze()
}

/// The client address bytes an Envelope carries: 4 for IPv4, 16 for IPv6.
pub fn address_bytes(ip: IpAddr) -> Bytes {
    match ip {
        IpAddr::V4(v4) => Bytes::copy_from_slice(&v4.octets()),
        IpAddr::V6(v6) => Bytes::copy_from_slice(&v6.octets()),
    }
}

/// Why a relayed request has no answer from the active controller.
#[derive(Debug)]
pub enum RelayFailure {
    /// It did not reach the active controller, or the controller moved
    /// (NOT_CONTROLLER): the caller answers as a node that is not the
    /// controller does, and the client looks for the controller again.
    Unreached(KafkaError),
    /// The active controller refused the Envelope itself, not the request
    /// in it: this node lacks ClusterAction there, or the two nodes
    /// disagree on versions or on how principals are written. Retrying
    /// cannot help and the client's request has no error that says so;
    /// Kafka answers UNKNOWN_SERVER_ERROR, or closes the client's
    /// connection for UNSUPPORTED_VERSION. Here the client's connection is
    /// closed with the reason logged, so the operator sees what to fix.
    Refused(KafkaError),
}
