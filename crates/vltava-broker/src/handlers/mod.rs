//! Request routing: which API versions we serve, and the dispatch from a
//! decoded request body to its handler.

use std::net::SocketAddr;

use vltava_protocol::messages::{ApiKey, RequestHeader};
use vltava_protocol::{RequestBody, VersionRange};

use crate::broker::Broker;

pub mod admin;
pub mod api_versions;
pub mod authz;
pub mod cluster;
pub mod configs;
pub mod envelope;
pub mod features;
pub mod fetch;
pub mod groups;
pub mod init_producer_id;
pub mod list_offsets;
pub mod metadata;
pub mod mutation_quota;
pub mod offsets_for_leader_epoch;
pub mod produce;
pub mod quorum;
pub mod quotas;
pub mod security;
pub mod tokens;
pub mod transactions;

/// What a handler knows about the request besides its body.
pub struct RequestContext<'a> {
    pub header: &'a RequestHeader,
    pub version: i16,
    pub peer: SocketAddr,
    pub session: &'a Session,
    /// Set when the connection sends fetched records from the files
    /// (a plaintext socket): reads then stand in the response as
    /// placeholders.
    pub zero_copy: Option<&'a crate::replica::zero_copy::ZeroCopy>,
}

/// The connection a request came on: its listener and who is on it.
#[derive(Debug, Clone)]
pub struct Session {
    /// The listener's name, upper case: the endpoints a client is told
    /// about are those of this listener.
    pub listener: String,
    pub protocol: vltava_config::SecurityProtocol,
    /// `User:<name>`: from SASL, from a client certificate, or
    /// `User:ANONYMOUS`.
    pub principal: String,
    /// Authenticated with a delegation token (SCRAM with `tokenauth`):
    /// such a session may not create, renew, expire or describe tokens.
    pub token_authenticated: bool,
    /// A request another node relayed in an Envelope: the session is the
    /// client's on that node, whose listener checks were made there.
    pub relayed: bool,
    /// The API sets the listener serves.
    pub roles: ListenerRoles,
}

/// Which of Kafka's API sets a listener serves: the broker's (clients'
/// requests), the controller's (the quorum's and the nodes' own RPCs, and
/// the admin requests a controller answers), or both, where one listener
/// does both jobs (a node without `controller.listener.names`, whose
/// first listener is its voter endpoint). Each API's set comes from its
/// message definition's `listeners`, as Kafka's do: a dedicated controller
/// listener does not take Produce, a client listener does not take Vote,
/// and ApiVersions on each lists only what it takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ListenerRoles {
    pub broker: bool,
    pub controller: bool,
}

impl ListenerRoles {
    pub const BROKER: ListenerRoles = ListenerRoles {
        broker: true,
        controller: false,
    };
    pub const BOTH: ListenerRoles = ListenerRoles {
        broker: true,
        controller: true,
    };

    /// Whether a listener with these roles serves `api`.
    pub fn serves(self, api: ApiKey) -> bool {
        api.listeners()
            .iter()
            .any(|l| (self.broker && *l == "broker") || (self.controller && *l == "controller"))
    }

    /// The roles of this node's listener `name`. On a node that is a
    /// controller, its controller listeners (named in
    /// `controller.listener.names`, or the fallback voter endpoint) serve
    /// the controller's APIs. Every listener serves the broker's, except a
    /// listener named in `controller.listener.names` while the node has
    /// another listener for clients and other brokers (Kafka's layout; a
    /// node whose one listener is named there serves both on it, as it
    /// has nowhere else to).
    pub fn of(broker: &Broker, name: &str) -> ListenerRoles {
        let config = broker.metadata.static_config();
        let controller_names = config.controller_listener_names();
        let controller = broker.is_controller()
            && crate::broker::controller_endpoints(config)
                .iter()
                .any(|e| e.name == name);
        let named = controller_names.iter().any(|n| n == name);
        let other_listener = config
            .listeners()
            .iter()
            .any(|l| !controller_names.contains(&l.listener_name));
        let inter_broker = config.inter_broker_listener_name() == name;
        ListenerRoles {
            broker: !(controller && named && other_listener) || inter_broker,
            controller,
        }
    }
}

const fn v(min: i16, max: i16) -> VersionRange {
    VersionRange { min, max }
}

/// Every API this broker serves and the versions it accepts; ApiVersions
/// advertises this list, less the APIs of the other listener role
/// ([`ListenerRoles`]).
pub const SUPPORTED: &[(ApiKey, VersionRange)] = &[
    (ApiKey::Produce, v(0, 11)),
    (ApiKey::Fetch, v(0, 17)),
    (ApiKey::ListOffsets, v(0, 10)),
    (ApiKey::OffsetForLeaderEpoch, v(0, 4)),
    (ApiKey::AlterPartition, v(0, 3)),
    (ApiKey::ElectLeaders, v(0, 2)),
    (ApiKey::AlterPartitionReassignments, v(0, 0)),
    (ApiKey::ListPartitionReassignments, v(0, 0)),
    (ApiKey::Metadata, v(0, 12)),
    (ApiKey::ApiVersions, v(0, 4)),
    (ApiKey::CreateTopics, v(0, 7)),
    (ApiKey::DeleteTopics, v(0, 6)),
    (ApiKey::DeleteRecords, v(0, 2)),
    (ApiKey::DescribeConfigs, v(0, 4)),
    (ApiKey::AlterConfigs, v(0, 2)),
    (ApiKey::DescribeLogDirs, v(0, 4)),
    (ApiKey::AlterReplicaLogDirs, v(0, 2)),
    (ApiKey::CreatePartitions, v(0, 3)),
    (ApiKey::IncrementalAlterConfigs, v(0, 1)),
    (ApiKey::DescribeCluster, v(0, 1)),
    (ApiKey::DescribeTopicPartitions, v(0, 0)),
    (ApiKey::OffsetCommit, v(0, 9)),
    (ApiKey::OffsetFetch, v(0, 9)),
    (ApiKey::FindCoordinator, v(0, 6)),
    (ApiKey::JoinGroup, v(0, 9)),
    (ApiKey::Heartbeat, v(0, 4)),
    // KIP-848's consumer groups. librdkafka speaks only v1, whose one
    // addition, regular-expression subscriptions, is refused
    // (INVALID_REQUEST, saying so) until it is served.
    (ApiKey::ConsumerGroupHeartbeat, v(0, 1)),
    (ApiKey::ConsumerGroupDescribe, v(0, 0)),
    (ApiKey::LeaveGroup, v(0, 5)),
    (ApiKey::SyncGroup, v(0, 5)),
    (ApiKey::DescribeGroups, v(0, 5)),
    (ApiKey::ListGroups, v(0, 5)),
    (ApiKey::DeleteGroups, v(0, 2)),
    (ApiKey::OffsetDelete, v(0, 0)),
    (ApiKey::InitProducerId, v(0, 5)),
    (ApiKey::AddPartitionsToTxn, v(0, 4)),
    (ApiKey::AddOffsetsToTxn, v(0, 4)),
    (ApiKey::EndTxn, v(0, 4)),
    (ApiKey::TxnOffsetCommit, v(0, 4)),
    (ApiKey::DescribeTransactions, v(0, 0)),
    (ApiKey::ListTransactions, v(0, 1)),
    (ApiKey::DescribeProducers, v(0, 0)),
    // SASL: answered by the connection layer on SASL listeners
    // (`network/sasl.rs`); here only on the others.
    (ApiKey::SaslHandshake, v(0, 1)),
    (ApiKey::SaslAuthenticate, v(0, 2)),
    // Kafka 4 serves the ACL APIs from version 1 (KIP-896).
    (ApiKey::CreateAcls, v(1, 3)),
    (ApiKey::DescribeAcls, v(1, 3)),
    (ApiKey::DeleteAcls, v(1, 3)),
    (ApiKey::DescribeUserScramCredentials, v(0, 0)),
    // Delegation tokens; Kafka 4 serves them from version 1 (KIP-896).
    (ApiKey::CreateDelegationToken, v(1, 3)),
    (ApiKey::RenewDelegationToken, v(1, 2)),
    (ApiKey::ExpireDelegationToken, v(1, 2)),
    (ApiKey::DescribeDelegationToken, v(1, 3)),
    (ApiKey::AlterUserScramCredentials, v(0, 0)),
    (ApiKey::DescribeClientQuotas, v(0, 1)),
    (ApiKey::AlterClientQuotas, v(0, 1)),
    (ApiKey::UpdateFeatures, v(0, 2)),
    // The KRaft quorum's RPCs (answered by `vltava_quorum::inbound`) and
    // the controller's broker-membership RPCs.
    (ApiKey::Vote, v(0, 2)),
    (ApiKey::BeginQuorumEpoch, v(0, 1)),
    (ApiKey::EndQuorumEpoch, v(0, 1)),
    (ApiKey::DescribeQuorum, v(0, 2)),
    (ApiKey::FetchSnapshot, v(0, 1)),
    (ApiKey::AddRaftVoter, v(0, 0)),
    (ApiKey::RemoveRaftVoter, v(0, 0)),
    (ApiKey::UpdateRaftVoter, v(0, 0)),
    (ApiKey::BrokerRegistration, v(0, 4)),
    (ApiKey::BrokerHeartbeat, v(0, 1)),
    (ApiKey::AssignReplicasToDirs, v(0, 0)),
    (ApiKey::AllocateProducerIds, v(0, 0)),
    (ApiKey::WriteTxnMarkers, v(0, 1)),
    // KIP-590: a node relaying a client's metadata change to the active
    // controller, with the client's principal.
    (ApiKey::Envelope, v(0, 0)),
];

/// The requests that need an operation on the cluster resource before
/// anything else (Kafka's checks for them): brokers' and voters' own RPCs
/// need ClusterAction; the quorum's admin requests Describe or Alter. A
/// refused admin request is answered CLUSTER_AUTHORIZATION_FAILED; a
/// refused inter-node RPC closes the connection with a log line (only a
/// node sends those, and its principal lacks what a node must have).
/// The RPCs only nodes send each other (Kafka's ClusterAction APIs):
/// broker membership, ISR changes, transaction markers and the quorum's.
pub fn is_node_rpc(body: &RequestBody, version: i16) -> bool {
    matches!(
        body,
        RequestBody::BrokerRegistration(_)
            | RequestBody::BrokerHeartbeat(_)
            | RequestBody::AssignReplicasToDirs(_)
            | RequestBody::AllocateProducerIds(_)
            | RequestBody::AlterPartition(_)
            | RequestBody::WriteTxnMarkers(_)
            | RequestBody::Vote(_)
            | RequestBody::BeginQuorumEpoch(_)
            | RequestBody::EndQuorumEpoch(_)
            | RequestBody::FetchSnapshot(_)
            | RequestBody::UpdateRaftVoter(_)
    ) || vltava_quorum::inbound::is_quorum_request(body, version)
}

fn cluster_check(
    broker: &Broker,
    context: &RequestContext<'_>,
    body: &RequestBody,
) -> Option<Result<Option<vltava_protocol::ResponseBody>, String>> {
    use authz::Op;
    use vltava_protocol::ErrorCode;
    use vltava_protocol::ResponseBody as R;
    let operation = match body {
        RequestBody::DescribeQuorum(_)
        | RequestBody::DescribeLogDirs(_)
        | RequestBody::ListPartitionReassignments(_) => Op::Describe,
        RequestBody::AddRaftVoter(_)
        | RequestBody::RemoveRaftVoter(_)
        | RequestBody::ElectLeaders(_)
        | RequestBody::AlterPartitionReassignments(_) => Op::Alter,
        _ if is_node_rpc(body, context.version) => Op::ClusterAction,
        _ => return None,
    };
    let access = authz::Access::of(broker, context);
    if access.allows_cluster(operation) {
        return None;
    }
    let code = ErrorCode::CLUSTER_AUTHORIZATION_FAILED.code();
    let message = Some(format!(
        "{} needs {} on the cluster",
        body.api_key().name(),
        operation.name()
    ));
    Some(Ok(Some(match body {
        RequestBody::DescribeQuorum(_) => {
            R::DescribeQuorum(vltava_protocol::messages::DescribeQuorumResponse {
                error_code: code,
                error_message: message,
                ..Default::default()
            })
        }
        RequestBody::AddRaftVoter(_) => {
            R::AddRaftVoter(vltava_protocol::messages::AddRaftVoterResponse {
                error_code: code,
                error_message: message,
                ..Default::default()
            })
        }
        RequestBody::RemoveRaftVoter(_) => {
            R::RemoveRaftVoter(vltava_protocol::messages::RemoveRaftVoterResponse {
                error_code: code,
                error_message: message,
                ..Default::default()
            })
        }
        RequestBody::DescribeLogDirs(_) => {
            R::DescribeLogDirs(vltava_protocol::messages::DescribeLogDirsResponse {
                error_code: code,
                ..Default::default()
            })
        }
        RequestBody::ListPartitionReassignments(_) => R::ListPartitionReassignments(
            vltava_protocol::messages::ListPartitionReassignmentsResponse {
                error_code: code,
                error_message: message,
                ..Default::default()
            },
        ),
        RequestBody::ElectLeaders(_) => {
            R::ElectLeaders(vltava_protocol::messages::ElectLeadersResponse {
                error_code: code,
                ..Default::default()
            })
        }
        RequestBody::AlterPartitionReassignments(_) => R::AlterPartitionReassignments(
            vltava_protocol::messages::AlterPartitionReassignmentsResponse {
                error_code: code,
                error_message: message,
                ..Default::default()
            },
        ),
        _ => {
            return Some(Err(format!(
                "{} from {} refused: it needs ClusterAction on the cluster",
                body.api_key().name(),
                context.session.principal
            )))
        }
    })))
}

pub fn supported_versions(api_key: ApiKey) -> Option<VersionRange> {
    SUPPORTED
        .iter()
        .find(|(k, _)| *k == api_key)
        .map(|(_, r)| *r)
}

/// Runs the handler for `body`. `Ok(None)` means no response is sent
/// (Produce with acks=0); `Err` closes the connection.
pub async fn handle(
    broker: &Broker,
    context: &RequestContext<'_>,
    mut body: RequestBody,
) -> Result<Option<vltava_protocol::ResponseBody>, String> {
    // The cluster-level checks, before anything is relayed or answered.
    if let Some(refused) = cluster_check(broker, context, &body) {
        return refused;
    }
    // Token requests are refused on the node the client is connected to
    // when its connection may not make them (see `tokens`).
    if let Some(refused) = tokens::refuse_unless_allowed(context, &body) {
        return Ok(Some(refused));
    }
    // Metadata changes go to the active controller; on any other node the
    // request is relayed to it in an Envelope (but a request that came in
    // one is never relayed again: a node that lost the leadership answers
    // it NOT_CONTROLLER, and the relaying node tries the new leader), as Kafka's brokers forward
    // them, and the controller authorizes it with the client's principal
    // and address and applies the controller mutation quota (so neither
    // happens here). If the controller cannot be reached, the request is
    // answered here (NOT_CONTROLLER).
    let relayed = if context.session.relayed {
        None
    } else {
        broker
            .channel
            .forward(
                &body,
                context.header,
                &context.session.principal,
                context.session.token_authenticated,
                context.peer.ip(),
            )
            .await
    };
    match relayed {
        Some(Ok(response)) => return Ok(Some(response)),
        Some(Err(crate::controller_channel::RelayFailure::Refused(e))) => return Err(e.to_string()),
        // Not relayed, or not reached: answered here (NOT_CONTROLLER on a
        // node that does not lead).
        Some(Err(crate::controller_channel::RelayFailure::Unreached(_))) | None => {}
    }
    // Topics over the controller mutation quota are refused here and the
    // rest goes on (see `mutation_quota`).
    if let Some(refused) = mutation_quota::apply(broker, context, &mut body) {
        let mut response = if mutation_quota::is_empty(&body) {
            mutation_quota::empty_answer(&refused)
        } else {
            match dispatch(broker, context, body).await? {
                Some(response) => response,
                None => return Ok(None),
            }
        };
        mutation_quota::merge(&mut response, refused);
        return Ok(Some(response));
    }
    dispatch(broker, context, body).await
}

/// Relays or answers a request that passed the cluster checks.
async fn dispatch(
    broker: &Broker,
    context: &RequestContext<'_>,
    body: RequestBody,
) -> Result<Option<vltava_protocol::ResponseBody>, String> {
    if vltava_quorum::inbound::is_quorum_request(&body, context.version) {
        let wait = std::time::Duration::from_secs(5);
        let quorum = broker.controller.quorum();
        return Ok(vltava_quorum::inbound::answer(quorum, &body, context.version, wait).await);
    }
    Ok(Some(match body {
        RequestBody::ApiVersions(r) => api_versions::handle(
            r,
            &broker.metadata.image(),
            context.version,
            context.session.roles,
        ),
        // On a listener without SASL, as Kafka answers them there.
        RequestBody::SaslHandshake(_) => vltava_protocol::ResponseBody::SaslHandshake(
            vltava_protocol::messages::SaslHandshakeResponse {
                error_code: vltava_protocol::ErrorCode::ILLEGAL_SASL_STATE.code(),
                mechanisms: Vec::new(),
            },
        ),
        RequestBody::SaslAuthenticate(_) => vltava_protocol::ResponseBody::SaslAuthenticate(
            vltava_protocol::messages::SaslAuthenticateResponse {
                error_code: vltava_protocol::ErrorCode::ILLEGAL_SASL_STATE.code(),
                error_message: Some(format!(
                    "SaslAuthenticate on the {} listener, which does not use SASL",
                    context.session.listener
                )),
                ..Default::default()
            },
        ),
        RequestBody::BrokerRegistration(r) => cluster::broker_registration(broker, r).await,
        RequestBody::BrokerHeartbeat(r) => cluster::broker_heartbeat(broker, r).await,
        RequestBody::AssignReplicasToDirs(r) => cluster::assign_replicas_to_dirs(broker, r).await,
        RequestBody::AllocateProducerIds(r) => cluster::allocate_producer_ids(broker, r).await,
        RequestBody::Envelope(r) => envelope::handle(broker, context, r).await?,
        RequestBody::CreateDelegationToken(r) => tokens::create(broker, context, r).await,
        RequestBody::RenewDelegationToken(r) => tokens::renew(broker, context, r).await,
        RequestBody::ExpireDelegationToken(r) => tokens::expire(broker, context, r).await,
        RequestBody::DescribeDelegationToken(r) => tokens::describe(broker, context, r),
        RequestBody::AddRaftVoter(r) => quorum::add_raft_voter(broker, r).await,
        RequestBody::RemoveRaftVoter(r) => quorum::remove_raft_voter(broker, r).await,
        RequestBody::UpdateRaftVoter(r) => quorum::update_raft_voter(broker, r).await,
        RequestBody::Metadata(r) => metadata::handle(broker, context, r).await,
        RequestBody::Produce(r) => return Ok(produce::handle(broker, context, r).await),
        RequestBody::Fetch(r) => fetch::handle(broker, context, r).await,
        RequestBody::ListOffsets(r) => list_offsets::handle(broker, context, r),
        RequestBody::OffsetForLeaderEpoch(r) => {
            offsets_for_leader_epoch::handle(broker, context, r)
        }
        RequestBody::AlterPartition(r) => cluster::alter_partition(broker, context, r).await,
        RequestBody::ElectLeaders(r) => admin::elect_leaders(broker, context, r).await,
        RequestBody::AlterPartitionReassignments(r) => {
            admin::alter_partition_reassignments(broker, r).await
        }
        RequestBody::ListPartitionReassignments(r) => {
            admin::list_partition_reassignments(broker, r).await
        }
        RequestBody::CreateTopics(r) => admin::create_topics(broker, context, r).await,
        RequestBody::DeleteTopics(r) => admin::delete_topics(broker, context, r).await,
        RequestBody::CreatePartitions(r) => admin::create_partitions(broker, context, r).await,
        RequestBody::DeleteRecords(r) => admin::delete_records(broker, context, r),
        RequestBody::DescribeConfigs(r) => admin::describe_configs(broker, context, r),
        RequestBody::AlterConfigs(r) => admin::alter_configs(broker, context, r).await,
        RequestBody::IncrementalAlterConfigs(r) => {
            admin::incremental_alter_configs(broker, context, r).await
        }
        RequestBody::DescribeCluster(r) => admin::describe_cluster(broker, context, r),
        RequestBody::DescribeTopicPartitions(r) => {
            admin::describe_topic_partitions(broker, context, r)
        }
        RequestBody::DescribeLogDirs(r) => admin::describe_log_dirs(broker, context, r),
        RequestBody::AlterReplicaLogDirs(r) => admin::alter_replica_log_dirs(broker, context, r),
        RequestBody::FindCoordinator(r) => groups::find_coordinator(broker, context, r).await,
        RequestBody::JoinGroup(r) => groups::join_group(broker, context, r).await,
        RequestBody::SyncGroup(r) => groups::sync_group(broker, context, r).await,
        RequestBody::Heartbeat(r) => groups::heartbeat(broker, context, r).await,
        RequestBody::ConsumerGroupHeartbeat(r) => {
            groups::consumer_group_heartbeat(broker, context, r).await
        }
        RequestBody::ConsumerGroupDescribe(r) => {
            groups::consumer_group_describe(broker, context, r).await
        }
        RequestBody::LeaveGroup(r) => groups::leave_group(broker, context, r).await,
        RequestBody::OffsetCommit(r) => groups::offset_commit(broker, context, r).await,
        RequestBody::OffsetFetch(r) => groups::offset_fetch(broker, context, r).await,
        RequestBody::ListGroups(r) => groups::list_groups(broker, context, r).await,
        RequestBody::DescribeGroups(r) => groups::describe_groups(broker, context, r).await,
        RequestBody::DeleteGroups(r) => groups::delete_groups(broker, context, r).await,
        RequestBody::OffsetDelete(r) => groups::offset_delete(broker, context, r).await,
        RequestBody::InitProducerId(r) => init_producer_id::handle(broker, context, r).await,
        RequestBody::AddPartitionsToTxn(r) => {
            transactions::add_partitions_to_txn(broker, context, r).await
        }
        RequestBody::AddOffsetsToTxn(r) => {
            transactions::add_offsets_to_txn(broker, context, r).await
        }
        RequestBody::EndTxn(r) => transactions::end_txn(broker, context, r).await,
        RequestBody::TxnOffsetCommit(r) => {
            transactions::txn_offset_commit(broker, context, r).await
        }
        RequestBody::DescribeTransactions(r) => {
            transactions::describe_transactions(broker, context, r).await
        }
        RequestBody::WriteTxnMarkers(r) => {
            transactions::write_txn_markers(broker, context, r).await
        }
        RequestBody::ListTransactions(r) => {
            transactions::list_transactions(broker, context, r).await
        }
        RequestBody::DescribeProducers(r) => transactions::describe_producers(broker, context, r),
        RequestBody::CreateAcls(r) => security::create_acls(broker, context, r).await?,
        RequestBody::DescribeAcls(r) => security::describe_acls(broker, context, r)?,
        RequestBody::DeleteAcls(r) => security::delete_acls(broker, context, r).await?,
        RequestBody::AlterUserScramCredentials(r) => {
            security::alter_user_scram_credentials(broker, context, r).await
        }
        RequestBody::DescribeUserScramCredentials(r) => {
            security::describe_user_scram_credentials(broker, context, r)
        }
        RequestBody::AlterClientQuotas(r) => quotas::alter_client_quotas(broker, context, r).await,
        RequestBody::UpdateFeatures(r) => features::update_features(broker, context, r).await,
        RequestBody::DescribeClientQuotas(r) => quotas::describe_client_quotas(broker, context, r),
        // The connection layer refuses every API not in SUPPORTED before
        // decoding, so this is only reached if that list and this match disagree.
        other => return Err(format!("{} has no handler", other.api_key().name())),
    }))
}
