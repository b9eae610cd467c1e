//! Admin APIs: topics, partitions, records deletion, configs, cluster and
//! log-directory descriptions. Changes to cluster metadata go through the
//! controller (`Controller::create_topic` and friends), which writes metadata
//! records and publishes the new image before answering.

use std::collections::BTreeMap;

use vltava_config::TopicConfig;
use vltava_metadata::controller::NewTopic;
use vltava_protocol::messages::alter_replica_log_dirs_response::{
    AlterReplicaLogDirPartitionResult, AlterReplicaLogDirTopicResult,
};
use vltava_protocol::messages::create_partitions_response::CreatePartitionsTopicResult;
use vltava_protocol::messages::create_topics_response::CreatableTopicResult;
use vltava_protocol::messages::delete_records_response::{
    DeleteRecordsPartitionResult, DeleteRecordsTopicResult,
};
use vltava_protocol::messages::delete_topics_response::DeletableTopicResult;
use vltava_protocol::messages::describe_cluster_response::DescribeClusterBroker;
use vltava_protocol::messages::describe_log_dirs_response::{
    DescribeLogDirsPartition, DescribeLogDirsResult, DescribeLogDirsTopic,
};
use vltava_protocol::messages::describe_topic_partitions_response::{
    Cursor, DescribeTopicPartitionsResponsePartition, DescribeTopicPartitionsResponseTopic,
};
use vltava_protocol::messages::*;
use vltava_protocol::{ErrorCode, ResponseBody, Uuid};

use super::authz::{self, Access, Kind, Op};
use super::RequestContext;
use crate::broker::Broker;
use crate::error::KafkaError;

pub use super::configs::{alter_configs, describe_configs, incremental_alter_configs};

const AUTHORIZED_OPERATIONS_OMITTED: i32 = i32::MIN;

/// Kafka's controller refuses a request that would add more partitions than
/// it writes in one metadata batch (KAFKA-17870 for CreateTopics; its record
/// bound for CreatePartitions): POLICY_VIOLATION for every topic in it.
/// Besides matching Kafka, this bounds the work (and the open files) one
/// request can cause.
const MAX_NEW_PARTITIONS_PER_REQUEST: i64 = 10_000;

pub async fn create_topics(
    broker: &Broker,
    context: &RequestContext<'_>,
    request: CreateTopicsRequest,
) -> ResponseBody {
    let default_partitions = i64::from(broker.metadata.config().num_partitions());
    let new_partitions: i64 = request
        .topics
        .iter()
        .map(|t| match (t.assignments.len(), t.num_partitions) {
            (0, -1) => default_partitions,
            (0, n) => i64::from(n.max(0)),
            (assigned, _) => assigned as i64,
        })
        .sum();
    if new_partitions > MAX_NEW_PARTITIONS_PER_REQUEST {
        let topics = request
            .topics
            .into_iter()
            .map(|t| CreatableTopicResult {
                name: t.name,
                error_code: ErrorCode::POLICY_VIOLATION.code(),
                error_message: Some("Excessively large number of partitions per request.".into()),
                num_partitions: -1,
                replication_factor: -1,
                ..Default::default()
            })
            .collect();
        return ResponseBody::CreateTopics(CreateTopicsResponse {
            topics,
            ..Default::default()
        });
    }
    let mut results = Vec::with_capacity(request.topics.len());
    // Kafka answers a name listed twice with INVALID_REQUEST, once: its
    // answer has one entry per name, as clients match results by name.
    let mut counts = std::collections::HashMap::new();
    for t in &request.topics {
        *counts.entry(t.name.clone()).or_insert(0) += 1;
    }
    let mut answered = std::collections::HashSet::new();
    // Kafka's check: Create on the cluster or on the topic.
    let access = Access::of(broker, context);
    let may_create_any = access.allows_cluster(Op::Create);
    for t in request.topics {
        let name = t.name.clone();
        if !answered.insert(name.clone()) {
            continue;
        }
        let outcome = if counts[&name] > 1 {
            Err(KafkaError::new(
                ErrorCode::INVALID_REQUEST,
                format!("Create topics request from client contains a duplicate topic: {name}"),
            ))
        } else if !may_create_any && !access.allows(Op::Create, Kind::Topic, &name) {
            Err(KafkaError::new(
                ErrorCode::TOPIC_AUTHORIZATION_FAILED,
                "Authorization failed.",
            ))
        } else {
            let configs: Vec<(String, Option<String>)> =
                t.configs.into_iter().map(|c| (c.name, c.value)).collect();
            broker
                .controller
                .create_topic(
                    NewTopic {
                        name: t.name,
                        num_partitions: t.num_partitions,
                        replication_factor: t.replication_factor,
                        assignments: t
                            .assignments
                            .into_iter()
                            .map(|a| (a.partition_index, a.broker_ids))
                            .collect(),
                        configs: Vec::new(),
                    },
                    configs,
                    request.validate_only,
                )
                .await
        };
        results.push(match outcome {
            Ok(created) => CreatableTopicResult {
                name,
                topic_id: created.topic_id,
                error_code: 0,
                num_partitions: created.num_partitions,
                replication_factor: created.replication_factor,
                configs: (context.version >= 5)
                    .then(|| created_topic_configs(broker, &created.configs)),
                ..Default::default()
            },
            Err(KafkaError { code, message }) => CreatableTopicResult {
                name,
                error_code: code.code(),
                error_message: Some(message),
                num_partitions: -1,
                replication_factor: -1,
                ..Default::default()
            },
        });
    }
    ResponseBody::CreateTopics(CreateTopicsResponse {
        topics: results,
        ..Default::default()
    })
}

/// The topic configs to report in a CreateTopics v5+ response.
fn created_topic_configs(
    broker: &Broker,
    overrides: &BTreeMap<String, String>,
) -> Vec<create_topics_response::CreatableTopicConfigs> {
    let config = TopicConfig::from_overrides(overrides.iter()).unwrap_or_default();
    config
        .describe(&broker.metadata.config())
        .map(|d| create_topics_response::CreatableTopicConfigs {
            name: d.name.to_string(),
            value: d.value,
            read_only: d.read_only,
            config_source: d.source.code(),
            is_sensitive: d.is_sensitive,
            ..Default::default()
        })
        .collect()
}

pub async fn delete_topics(
    broker: &Broker,
    context: &RequestContext<'_>,
    request: DeleteTopicsRequest,
) -> ResponseBody {
    let targets: Vec<(Option<String>, Uuid)> = if context.version >= 6 {
        request
            .topics
            .into_iter()
            .map(|t| (t.name, t.topic_id))
            .collect()
    } else {
        request
            .topic_names
            .into_iter()
            .map(|n| (Some(n), Uuid::ZERO))
            .collect()
    };
    let mut responses = Vec::with_capacity(targets.len());
    // Kafka's check: Delete on each topic (named, or found by its id).
    let access = Access::of(broker, context);
    for (name, id) in targets {
        let id_arg = (!id.is_zero()).then_some(id);
        let known = match &name {
            Some(n) => Some(n.clone()),
            None => broker
                .metadata
                .image()
                .topic_by_id(&id)
                .map(|t| t.name.clone()),
        };
        let denied = known
            .as_deref()
            .is_some_and(|n| !access.allows(Op::Delete, Kind::Topic, n));
        let result = if denied {
            Err(KafkaError::new(
                ErrorCode::TOPIC_AUTHORIZATION_FAILED,
                "Authorization failed.",
            ))
        } else {
            broker
                .controller
                .delete_topic(name.as_deref(), id_arg)
                .await
        };
        responses.push(match result {
            Ok((deleted_name, deleted_id)) => DeletableTopicResult {
                name: Some(deleted_name),
                topic_id: deleted_id,
                error_code: 0,
                ..Default::default()
            },
            Err(KafkaError { code, message }) => DeletableTopicResult {
                name,
                topic_id: id,
                error_code: code.code(),
                error_message: Some(message),
                ..Default::default()
            },
        });
    }
    ResponseBody::DeleteTopics(DeleteTopicsResponse {
        responses,
        ..Default::default()
    })
}

pub async fn create_partitions(
    broker: &Broker,
    context: &RequestContext<'_>,
    request: CreatePartitionsRequest,
) -> ResponseBody {
    // Kafka's check: Alter on each topic.
    let access = Access::of(broker, context);
    let image = broker.metadata.image();
    let new_partitions: i64 = request
        .topics
        .iter()
        .filter_map(|t| {
            let current = image.topic(&t.name)?.partitions.len() as i64;
            Some((i64::from(t.count) - current).max(0))
        })
        .sum();
    drop(image);
    if new_partitions > MAX_NEW_PARTITIONS_PER_REQUEST {
        let results = request
            .topics
            .into_iter()
            .map(|t| CreatePartitionsTopicResult {
                name: t.name,
                error_code: ErrorCode::POLICY_VIOLATION.code(),
                error_message: Some("Unable to perform excessively large batch operation.".into()),
                ..Default::default()
            })
            .collect();
        return ResponseBody::CreatePartitions(CreatePartitionsResponse {
            results,
            ..Default::default()
        });
    }
    let mut results = Vec::with_capacity(request.topics.len());
    for t in request.topics {
        let assignments: Option<Vec<Vec<i32>>> = t
            .assignments
            .map(|a| a.into_iter().map(|a| a.broker_ids).collect());
        let result = if !access.allows(Op::Alter, Kind::Topic, &t.name) {
            Err(KafkaError::new(
                ErrorCode::TOPIC_AUTHORIZATION_FAILED,
                "Authorization failed.",
            ))
        } else {
            broker
                .controller
                .create_partitions(
                    &t.name,
                    t.count,
                    assignments.as_deref(),
                    request.validate_only,
                )
                .await
        };
        results.push(match result {
            Ok(()) => CreatePartitionsTopicResult {
                name: t.name,
                error_code: 0,
                ..Default::default()
            },
            Err(KafkaError { code, message }) => CreatePartitionsTopicResult {
                name: t.name,
                error_code: code.code(),
                error_message: Some(message),
                ..Default::default()
            },
        });
    }
    ResponseBody::CreatePartitions(CreatePartitionsResponse {
        results,
        ..Default::default()
    })
}

pub fn delete_records(
    broker: &Broker,
    context: &RequestContext<'_>,
    request: DeleteRecordsRequest,
) -> ResponseBody {
    // Kafka's check: Delete on each topic.
    let access = Access::of(broker, context);
    let topics = request
        .topics
        .into_iter()
        .map(|t| DeleteRecordsTopicResult {
            partitions: t
                .partitions
                .iter()
                .map(|p| {
                    let result = match broker.replicas.get(&t.name, p.partition_index) {
                        _ if !access.allows(Op::Delete, Kind::Topic, &t.name) => {
                            Err(ErrorCode::TOPIC_AUTHORIZATION_FAILED)
                        }
                        None => Err(ErrorCode::UNKNOWN_TOPIC_OR_PARTITION),
                        Some(partition) => partition.delete_records_before(p.offset),
                    };
                    match result {
                        Ok(low) => DeleteRecordsPartitionResult {
                            partition_index: p.partition_index,
                            low_watermark: low,
                            error_code: 0,
                            ..Default::default()
                        },
                        Err(code) => DeleteRecordsPartitionResult {
                            partition_index: p.partition_index,
                            low_watermark: -1,
                            error_code: code.code(),
                            ..Default::default()
                        },
                    }
                })
                .collect(),
            name: t.name,
            ..Default::default()
        })
        .collect();
    ResponseBody::DeleteRecords(DeleteRecordsResponse {
        topics,
        ..Default::default()
    })
}

pub fn describe_cluster(
    broker: &Broker,
    context: &RequestContext<'_>,
    request: DescribeClusterRequest,
) -> ResponseBody {
    // Endpoint type 1 is "brokers"; 2 ("controllers") is KIP-919's, from
    // clients bootstrapping to a controller listener (Kafka's tools'
    // --bootstrap-controller).
    if request.endpoint_type == 2 {
        return describe_controllers(broker, context);
    }
    let image = broker.metadata.image();
    let brokers = super::metadata::brokers(&image, &context.session.listener)
        .into_iter()
        .map(|b| DescribeClusterBroker {
            broker_id: b.node_id,
            host: b.host,
            port: b.port,
            rack: b.rack,
            ..Default::default()
        })
        .collect();
    ResponseBody::DescribeCluster(DescribeClusterResponse {
        endpoint_type: 1,
        cluster_id: broker.cluster_id.clone(),
        controller_id: broker.controller.id(),
        brokers,
        cluster_authorized_operations: if request.include_cluster_authorized_operations {
            let access = Access::of(broker, context);
            if access.enabled() {
                access.authorized_operations(
                    Kind::Cluster,
                    vltava_acl::CLUSTER_NAME,
                    authz::CLUSTER_OPERATIONS,
                )
            } else {
                super::metadata::CLUSTER_AUTHORIZED_OPERATIONS
            }
        } else {
            AUTHORIZED_OPERATIONS_OMITTED
        },
        ..Default::default()
    })
}

/// Endpoint type for DescribeCluster's controllers (KIP-919).
const CONTROLLER_ENDPOINTS: i8 = 2;

/// DescribeCluster for the controller endpoint type: the quorum's voters
/// at their endpoints of the listener asked on, and the active controller,
/// as Kafka's controllers answer it (Alter on the cluster required, as
/// there). Only a controller's controller listeners answer: those of
/// `controller.listener.names`, or without it the listener its voter
/// endpoint is named after (its first advertised one), which then serves
/// brokers and controllers alike; any other answers
/// MISMATCHED_ENDPOINT_TYPE.
fn describe_controllers(broker: &Broker, context: &RequestContext<'_>) -> ResponseBody {
    let listener = &context.session.listener;
    let names: Vec<String> = crate::broker::controller_endpoints(broker.metadata.static_config())
        .into_iter()
        .map(|e| e.name)
        .collect();
    let fail = |code: ErrorCode, message: String| {
        ResponseBody::DescribeCluster(DescribeClusterResponse {
            error_code: code.code(),
            error_message: Some(message),
            endpoint_type: CONTROLLER_ENDPOINTS,
            cluster_id: broker.cluster_id.clone(),
            controller_id: -1,
            ..Default::default()
        })
    };
    if !broker.is_controller() || !names.contains(listener) {
        return fail(
            ErrorCode::MISMATCHED_ENDPOINT_TYPE,
            format!(
                "the {listener} listener serves brokers, not controllers (use --bootstrap-server)"
            ),
        );
    }
    let access = Access::of(broker, context);
    if access.enabled() && !access.allows_cluster(Op::Alter) {
        return fail(
            ErrorCode::CLUSTER_AUTHORIZATION_FAILED,
            "describing the controllers needs Alter on the cluster".into(),
        );
    }
    let quorum = broker.controller.quorum();
    let controllers = quorum
        .voters()
        .iter()
        .filter_map(|v| {
            // Dynamic voters name their listeners; static ones are known
            // only by controller.quorum.voters' address.
            let (host, port) = match v.endpoints.iter().find(|e| &e.name == listener) {
                Some(e) => (e.host.clone(), e.port),
                None if v.endpoints.is_empty() => {
                    let address = quorum.address_of(v.id)?;
                    let (host, port) = vltava_quorum::driver::split_host_port(&address)?;
                    (host.to_string(), port)
                }
                None => return None,
            };
            Some(DescribeClusterBroker {
                broker_id: v.id,
                host,
                port: i32::from(port),
                rack: None,
                ..Default::default()
            })
        })
        .collect();
    ResponseBody::DescribeCluster(DescribeClusterResponse {
        endpoint_type: CONTROLLER_ENDPOINTS,
        cluster_id: broker.cluster_id.clone(),
        controller_id: broker.controller.id(),
        brokers: controllers,
        cluster_authorized_operations: AUTHORIZED_OPERATIONS_OMITTED,
        ..Default::default()
    })
}

pub fn describe_topic_partitions(
    broker: &Broker,
    context: &RequestContext<'_>,
    request: DescribeTopicPartitionsRequest,
) -> ResponseBody {
    // Kafka's check: Describe on each topic (listing all leaves the
    // others out; one asked for by name answers TOPIC_AUTHORIZATION_FAILED).
    let access = Access::of(broker, context);
    let image = broker.metadata.image();
    let limit = request.response_partition_limit.max(1) as usize;
    let mut names: Vec<String> = if request.topics.is_empty() {
        image
            .topics()
            .iter()
            .filter(|t| access.allows(Op::Describe, Kind::Topic, &t.name))
            .map(|t| t.name.clone())
            .collect()
    } else {
        request.topics.iter().map(|t| t.name.clone()).collect()
    };
    names.sort();
    let (start_topic, start_partition) = match &request.cursor {
        Some(c) => (c.topic_name.clone(), c.partition_index.max(0) as usize),
        None => (String::new(), 0),
    };
    let mut remaining = limit;
    let mut topics = Vec::new();
    let mut next_cursor = None;
    for name in names.into_iter().filter(|n| *n >= start_topic) {
        if !access.allows(Op::Describe, Kind::Topic, &name) {
            topics.push(DescribeTopicPartitionsResponseTopic {
                error_code: ErrorCode::TOPIC_AUTHORIZATION_FAILED.code(),
                name: Some(name),
                topic_authorized_operations: AUTHORIZED_OPERATIONS_OMITTED,
                ..Default::default()
            });
            continue;
        }
        let Some(topic) = image.topic(&name) else {
            topics.push(DescribeTopicPartitionsResponseTopic {
                error_code: ErrorCode::UNKNOWN_TOPIC_OR_PARTITION.code(),
                name: Some(name),
                // Kafka fills these in for every topic of the answer.
                topic_authorized_operations: super::metadata::TOPIC_AUTHORIZED_OPERATIONS,
                ..Default::default()
            });
            continue;
        };
        if remaining == 0 {
            next_cursor = Some(Cursor {
                topic_name: name,
                partition_index: 0,
                ..Default::default()
            });
            break;
        }
        let first = if name == start_topic {
            start_partition
        } else {
            0
        };
        let mut partitions = Vec::new();
        for (i, p) in topic.partitions.iter().enumerate().skip(first) {
            if remaining == 0 {
                next_cursor = Some(Cursor {
                    topic_name: name.clone(),
                    partition_index: i as i32,
                    ..Default::default()
                });
                break;
            }
            remaining -= 1;
            partitions.push(DescribeTopicPartitionsResponsePartition {
                partition_index: i as i32,
                leader_id: p.leader,
                leader_epoch: p.leader_epoch,
                replica_nodes: p.replicas.clone(),
                isr_nodes: p.isr.clone(),
                // KIP-966's lists, as the controller keeps them (empty
                // while eligible leader replicas are off).
                eligible_leader_replicas: Some(p.elr.clone()),
                last_known_elr: Some(p.last_known_elr.clone()),
                ..Default::default()
            });
        }
        topics.push(DescribeTopicPartitionsResponseTopic {
            name: Some(topic.name.clone()),
            topic_id: topic.id,
            is_internal: topic.is_internal(),
            partitions,
            topic_authorized_operations: super::metadata::TOPIC_AUTHORIZED_OPERATIONS,
            ..Default::default()
        });
        if next_cursor.is_some() {
            break;
        }
    }
    ResponseBody::DescribeTopicPartitions(DescribeTopicPartitionsResponse {
        topics,
        next_cursor,
        ..Default::default()
    })
}

/// DescribeLogDirs: one result per log directory of this broker, with the
/// partitions whose current log it holds and the future logs of replicas
/// moving into it (`is_future_key`). An offline directory answers
/// KAFKA_STORAGE_ERROR and no partitions, as Kafka's does. The offset lag
/// is Kafka's: how far a current log is below the high watermark, or a
/// future log below the current one.
pub fn describe_log_dirs(
    broker: &Broker,
    _context: &RequestContext<'_>,
    request: DescribeLogDirsRequest,
) -> ResponseBody {
    let wanted: Option<std::collections::HashMap<String, std::collections::HashSet<i32>>> =
        request.topics.map(|topics| {
            topics
                .into_iter()
                .map(|t| (t.topic, t.partitions.into_iter().collect()))
                .collect()
        });
    let is_wanted = |topic: &str, partition: i32| {
        wanted
            .as_ref()
            .is_none_or(|w| w.get(topic).is_some_and(|ps| ps.contains(&partition)))
    };
    let log_dirs = broker.replicas.log_dirs();
    let futures = log_dirs.futures();
    let results = log_dirs
        .dirs()
        .iter()
        .enumerate()
        .map(|(index, dir)| {
            let (total_bytes, usable_bytes) = Broker::dir_space(&dir.path);
            if dir.is_offline() {
                return DescribeLogDirsResult {
                    error_code: ErrorCode::KAFKA_STORAGE_ERROR.code(),
                    log_dir: dir.path.display().to_string(),
                    total_bytes,
                    usable_bytes,
                    ..Default::default()
                };
            }
            let mut by_topic: std::collections::BTreeMap<String, Vec<DescribeLogDirsPartition>> =
                Default::default();
            for log in dir.logs.logs() {
                let (topic, partition) = (log.topic(), log.partition());
                if !is_wanted(topic, partition) {
                    continue;
                }
                let Some(hosted) = broker.replicas.get(topic, partition) else {
                    continue;
                };
                by_topic
                    .entry(topic.to_string())
                    .or_default()
                    .push(DescribeLogDirsPartition {
                        partition_index: partition,
                        partition_size: log.size_in_bytes() as i64,
                        offset_lag: (hosted.high_watermark() - log.log_end_offset()).max(0),
                        is_future_key: false,
                        ..Default::default()
                    });
            }
            for (tp, future) in futures.iter().filter(|(_, f)| f.dir == index) {
                if !is_wanted(&tp.topic, tp.partition) {
                    continue;
                }
                let current_end = log_dirs
                    .get_log(&tp.topic, tp.partition)
                    .map_or(0, |l| l.log_end_offset());
                by_topic
                    .entry(tp.topic.clone())
                    .or_default()
                    .push(DescribeLogDirsPartition {
                        partition_index: tp.partition,
                        partition_size: future.log.size_in_bytes() as i64,
                        offset_lag: (current_end - future.log.log_end_offset()).max(0),
                        is_future_key: true,
                        ..Default::default()
                    });
            }
            DescribeLogDirsResult {
                error_code: 0,
                log_dir: dir.path.display().to_string(),
                topics: by_topic
                    .into_iter()
                    .map(|(name, mut partitions)| {
                        partitions.sort_by_key(|p| (p.partition_index, p.is_future_key));
                        DescribeLogDirsTopic {
                            name,
                            partitions,
                            ..Default::default()
                        }
                    })
                    .collect(),
                total_bytes,
                usable_bytes,
                ..Default::default()
            }
        })
        .collect();
    ResponseBody::DescribeLogDirs(DescribeLogDirsResponse {
        results,
        ..Default::default()
    })
}

/// AlterReplicaLogDirs: moves replicas of this broker between its log
/// directories (`replica::moves`). Needs Alter on the cluster
/// (CLUSTER_AUTHORIZATION_FAILED for every partition otherwise, as Kafka
/// answers). A directory the request names twice for a partition: the
/// last one wins.
pub fn alter_replica_log_dirs(
    broker: &Broker,
    context: &RequestContext<'_>,
    request: AlterReplicaLogDirsRequest,
) -> ResponseBody {
    let allowed = authz::Access::of(broker, context).allows_cluster(Op::Alter);
    let image = broker.metadata.image();
    let mut results: Vec<AlterReplicaLogDirTopicResult> = Vec::new();
    for dir in request.dirs {
        for topic in dir.topics {
            let mut partitions = Vec::with_capacity(topic.partitions.len());
            for partition in topic.partitions {
                let error = if !allowed {
                    ErrorCode::CLUSTER_AUTHORIZATION_FAILED
                } else {
                    let known = image
                        .topic(&topic.name)
                        .is_some_and(|t| (0..t.partitions.len() as i32).contains(&partition));
                    match broker.replicas.alter_log_dir(
                        &topic.name,
                        partition,
                        &dir.path,
                        known,
                        broker.clock(),
                    ) {
                        Ok(_) => ErrorCode::NONE,
                        Err(e) => {
                            tracing::debug!(topic = %topic.name, partition, dir = %dir.path, "AlterReplicaLogDirs: {}", e.message);
                            e.code
                        }
                    }
                };
                partitions.push(AlterReplicaLogDirPartitionResult {
                    partition_index: partition,
                    error_code: error.code(),
                    ..Default::default()
                });
            }
            match results.iter_mut().find(|r| r.topic_name == topic.name) {
                Some(r) => r.partitions.extend(partitions),
                None => results.push(AlterReplicaLogDirTopicResult {
                    topic_name: topic.name,
                    partitions,
                    ..Default::default()
                }),
            }
        }
    }
    ResponseBody::AlterReplicaLogDirs(AlterReplicaLogDirsResponse {
        results,
        ..Default::default()
    })
}

/// ElectLeaders (KIP-460): preferred-leader or unclean elections, decided
/// by the active controller (other nodes relay the request to it). Every
/// partition when the request names none.
pub async fn elect_leaders(
    broker: &Broker,
    context: &RequestContext<'_>,
    request: vltava_protocol::messages::ElectLeadersRequest,
) -> ResponseBody {
    use vltava_metadata::controller::ElectionType;
    use vltava_protocol::messages::elect_leaders_response::{
        PartitionResult, ReplicaElectionResult,
    };
    use vltava_protocol::messages::ElectLeadersResponse;
    // v0 has no election type: preferred.
    let code = if context.version >= 1 {
        request.election_type
    } else {
        0
    };
    let Some(election_type) = ElectionType::from_code(code) else {
        return ResponseBody::ElectLeaders(ElectLeadersResponse {
            error_code: ErrorCode::INVALID_REQUEST.0,
            ..Default::default()
        });
    };
    let wanted: Option<Vec<(String, Vec<i32>)>> = request
        .topic_partitions
        .map(|t| t.into_iter().map(|t| (t.topic, t.partitions)).collect());
    match broker.controller.elect_leaders(wanted, election_type).await {
        Ok(results) => ResponseBody::ElectLeaders(ElectLeadersResponse {
            replica_election_results: results
                .into_iter()
                .map(|(topic, partitions)| ReplicaElectionResult {
                    topic,
                    partition_result: partitions
                        .into_iter()
                        .map(|(partition_id, r)| match r {
                            Ok(()) => PartitionResult {
                                partition_id,
                                ..Default::default()
                            },
                            Err(refusal) => PartitionResult {
                                partition_id,
                                error_code: refusal.code.0,
                                error_message: Some(refusal.message),
                                ..Default::default()
                            },
                        })
                        .collect(),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }),
        Err(e) => ResponseBody::ElectLeaders(ElectLeadersResponse {
            error_code: e.code.0,
            ..Default::default()
        }),
    }
}

/// AlterPartitionReassignments (KIP-455): start, change or cancel (null
/// replicas) partition reassignments, decided by the active controller
/// (other nodes relay the request to it). The answer comes once the
/// reassignments have started; they complete as the new replicas catch up
/// (ListPartitionReassignments shows what is left).
pub async fn alter_partition_reassignments(
    broker: &Broker,
    request: AlterPartitionReassignmentsRequest,
) -> ResponseBody {
    use vltava_protocol::messages::alter_partition_reassignments_response::{
        ReassignablePartitionResponse, ReassignableTopicResponse,
    };
    let requests: Vec<(String, i32, Option<Vec<i32>>)> = request
        .topics
        .iter()
        .flat_map(|t| {
            t.partitions
                .iter()
                .map(|p| (t.name.clone(), p.partition_index, p.replicas.clone()))
        })
        .collect();
    let mut results = match broker
        .controller
        .alter_partition_reassignments(requests)
        .await
    {
        Ok(results) => results.into_iter(),
        Err(e) => {
            return ResponseBody::AlterPartitionReassignments(AlterPartitionReassignmentsResponse {
                error_code: e.code.0,
                error_message: Some(e.message),
                ..Default::default()
            })
        }
    };
    let responses = request
        .topics
        .into_iter()
        .map(|t| ReassignableTopicResponse {
            name: t.name,
            partitions: t
                .partitions
                .iter()
                .map(|p| {
                    let (error_code, error_message) = match results.next() {
                        Some(Ok(())) => (0, None),
                        Some(Err(e)) => (e.code.0, Some(e.message)),
                        None => (ErrorCode::UNKNOWN_SERVER_ERROR.0, None),
                    };
                    ReassignablePartitionResponse {
                        partition_index: p.partition_index,
                        error_code,
                        error_message,
                        ..Default::default()
                    }
                })
                .collect(),
            ..Default::default()
        })
        .collect();
    ResponseBody::AlterPartitionReassignments(AlterPartitionReassignmentsResponse {
        responses,
        ..Default::default()
    })
}

/// ListPartitionReassignments: the reassignments in progress, of the named
/// partitions or (null topics) of all, from the active controller.
pub async fn list_partition_reassignments(
    broker: &Broker,
    request: ListPartitionReassignmentsRequest,
) -> ResponseBody {
    use vltava_protocol::messages::list_partition_reassignments_response::{
        OngoingPartitionReassignment, OngoingTopicReassignment,
    };
    let filter = request.topics.map(|topics| {
        topics
            .into_iter()
            .map(|t| (t.name, t.partition_indexes))
            .collect()
    });
    ResponseBody::ListPartitionReassignments(
        match broker.controller.list_partition_reassignments(filter).await {
            Ok(topics) => ListPartitionReassignmentsResponse {
                topics: topics
                    .into_iter()
                    .map(|(name, partitions)| OngoingTopicReassignment {
                        name,
                        partitions: partitions
                            .into_iter()
                            .map(|p| OngoingPartitionReassignment {
                                partition_index: p.partition,
                                replicas: p.replicas,
                                adding_replicas: p.adding_replicas,
                                removing_replicas: p.removing_replicas,
                                ..Default::default()
                            })
                            .collect(),
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            },
            Err(e) => ListPartitionReassignmentsResponse {
                error_code: e.code.0,
                error_message: Some(e.message),
                ..Default::default()
            },
        },
    )
}
