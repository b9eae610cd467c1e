//! The controller's broker-membership APIs: BrokerRegistration,
//! BrokerHeartbeat and AllocateProducerIds, which brokers send to the active
//! controller (see `controller_channel` for the sending side). A node that
//! is not the active controller answers NOT_CONTROLLER.

use vltava_metadata::Endpoint;
use vltava_protocol::messages::{
    assign_replicas_to_dirs_response, AllocateProducerIdsRequest, AllocateProducerIdsResponse,
    AlterPartitionRequest, AssignReplicasToDirsRequest, AssignReplicasToDirsResponse,
    BrokerHeartbeatRequest, BrokerHeartbeatResponse, BrokerRegistrationRequest,
    BrokerRegistrationResponse,
};
use vltava_protocol::ResponseBody;

use crate::broker::Broker;
use crate::controller::Registration;

pub async fn broker_registration(broker: &Broker, r: BrokerRegistrationRequest) -> ResponseBody {
    let registration = Registration {
        broker_id: r.broker_id,
        cluster_id: r.cluster_id,
        incarnation_id: r.incarnation_id,
        endpoints: r
            .listeners
            .into_iter()
            .map(|l| Endpoint {
                listener: l.name,
                host: l.host,
                port: l.port,
                security_protocol: l.security_protocol,
            })
            .collect(),
        rack: r.rack,
        log_dirs: r.log_dirs,
        previous_broker_epoch: r.previous_broker_epoch,
    };
    ResponseBody::BrokerRegistration(
        match broker.controller.register_broker(registration).await {
            Ok(epoch) => BrokerRegistrationResponse {
                broker_epoch: epoch,
                ..Default::default()
            },
            Err(e) => BrokerRegistrationResponse {
                error_code: e.code.0,
                broker_epoch: -1,
                ..Default::default()
            },
        },
    )
}

pub async fn broker_heartbeat(broker: &Broker, r: BrokerHeartbeatRequest) -> ResponseBody {
    let answer = broker
        .controller
        .broker_heartbeat(
            r.broker_id,
            r.broker_epoch,
            r.current_metadata_offset,
            r.want_fence,
            r.want_shut_down,
            &r.offline_log_dirs,
        )
        .await;
    ResponseBody::BrokerHeartbeat(match answer {
        Ok(a) => BrokerHeartbeatResponse {
            is_caught_up: a.is_caught_up,
            is_fenced: a.is_fenced,
            should_shut_down: a.should_shut_down,
            ..Default::default()
        },
        Err(e) => BrokerHeartbeatResponse {
            error_code: e.code.0,
            is_fenced: true,
            ..Default::default()
        },
    })
}

/// AssignReplicasToDirs (KIP-858): which log directory of the sending
/// broker holds each of its replicas. Answered per partition, grouped by
/// directory as asked.
pub async fn assign_replicas_to_dirs(
    broker: &Broker,
    r: AssignReplicasToDirsRequest,
) -> ResponseBody {
    let assignments: Vec<(vltava_protocol::Uuid, i32, vltava_protocol::Uuid)> = r
        .directories
        .iter()
        .flat_map(|d| {
            d.topics.iter().flat_map(move |t| {
                t.partitions
                    .iter()
                    .map(move |p| (t.topic_id, p.partition_index, d.id))
            })
        })
        .collect();
    let answers = match broker
        .controller
        .assign_replicas_to_dirs(r.broker_id, r.broker_epoch, assignments.clone())
        .await
    {
        Ok(answers) => answers,
        Err(e) => {
            return ResponseBody::AssignReplicasToDirs(AssignReplicasToDirsResponse {
                error_code: e.code.0,
                ..Default::default()
            })
        }
    };
    let mut directories: Vec<assign_replicas_to_dirs_response::DirectoryData> = Vec::new();
    for ((topic_id, partition, dir), (_, _, code)) in assignments.into_iter().zip(answers) {
        let d = match directories.iter().position(|d| d.id == dir) {
            Some(i) => &mut directories[i],
            None => {
                directories.push(assign_replicas_to_dirs_response::DirectoryData {
                    id: dir,
                    ..Default::default()
                });
                directories.last_mut().expect("just pushed")
            }
        };
        let answer = assign_replicas_to_dirs_response::PartitionData {
            partition_index: partition,
            error_code: code.0,
            ..Default::default()
        };
        match d.topics.iter_mut().find(|t| t.topic_id == topic_id) {
            Some(t) => t.partitions.push(answer),
            None => d.topics.push(assign_replicas_to_dirs_response::TopicData {
                topic_id,
                partitions: vec![answer],
                ..Default::default()
            }),
        }
    }
    ResponseBody::AssignReplicasToDirs(AssignReplicasToDirsResponse {
        directories,
        ..Default::default()
    })
}

pub async fn allocate_producer_ids(broker: &Broker, r: AllocateProducerIdsRequest) -> ResponseBody {
    ResponseBody::AllocateProducerIds(
        match broker
            .controller
            .allocate_producer_ids(r.broker_id, r.broker_epoch)
            .await
        {
            Ok((start, len)) => AllocateProducerIdsResponse {
                producer_id_start: start,
                producer_id_len: len as i32,
                ..Default::default()
            },
            Err(e) => AllocateProducerIdsResponse {
                error_code: e.code.0,
                ..Default::default()
            },
        },
    )
}

/// AlterPartition: a partition leader's ISR change (KIP-497), decided by
/// the active controller; elsewhere NOT_CONTROLLER.
pub async fn alter_partition(
    broker: &Broker,
    context: &super::RequestContext<'_>,
    r: AlterPartitionRequest,
) -> ResponseBody {
    ResponseBody::AlterPartition(
        broker
            .channel
            .answer_alter_partition(&r, context.version)
            .await,
    )
}
