//! InitProducerId. Without a transactional id (idempotent producers): a
//! fresh producer id with epoch 0, as Kafka answers. Ids come from blocks
//! recorded in the metadata log (`ControllerChannel::allocate_producer_id`), so none is
//! handed out twice, across restarts included. With a transactional id the
//! transaction coordinator answers (`crate::coordinators::transactions`): the id's
//! producer id with the next epoch, which fences older instances. The
//! sequence and epoch checks on produce are in `producer_state`.

use vltava_protocol::messages::{InitProducerIdRequest, InitProducerIdResponse};
use vltava_protocol::{ErrorCode, ResponseBody};

use super::authz::{Access, Kind, Op};
use super::transactions::fenced_for;
use super::RequestContext;
use crate::broker::Broker;

pub async fn handle(
    broker: &Broker,
    context: &RequestContext<'_>,
    request: InitProducerIdRequest,
) -> ResponseBody {
    let refuse = |code: ErrorCode| {
        ResponseBody::InitProducerId(InitProducerIdResponse {
            // KIP-588: PRODUCER_FENCED from v4.
            error_code: fenced_for(code, context.version, 4).code(),
            producer_id: -1,
            producer_epoch: -1,
            ..Default::default()
        })
    };
    // Kafka: a producer id without an epoch (or the reverse) is malformed.
    if (request.producer_id == -1) != (request.producer_epoch == -1) {
        return refuse(ErrorCode::INVALID_REQUEST);
    }
    // Kafka's checks: Write on the transactional id; without one, an
    // idempotent producer needs IdempotentWrite on the cluster or Write on
    // some topic.
    let access = Access::of(broker, context);
    match &request.transactional_id {
        Some(id) if !access.allows(Op::Write, Kind::TransactionalId, id) => {
            return refuse(ErrorCode::TRANSACTIONAL_ID_AUTHORIZATION_FAILED)
        }
        None if !access.allows_cluster(Op::IdempotentWrite)
            && !access.allows_some(Op::Write, Kind::Topic) =>
        {
            return refuse(ErrorCode::CLUSTER_AUTHORIZATION_FAILED)
        }
        _ => {}
    }
    let answer = |(producer_id, producer_epoch)| {
        ResponseBody::InitProducerId(InitProducerIdResponse {
            error_code: 0,
            producer_id,
            producer_epoch,
            ..Default::default()
        })
    };
    if let Some(transactional_id) = &request.transactional_id {
        let expected =
            (request.producer_id >= 0).then_some((request.producer_id, request.producer_epoch));
        return match broker
            .txns
            .init_producer_id(transactional_id, request.transaction_timeout_ms, expected)
            .await
        {
            Ok(ids) => answer(ids),
            Err(code) => refuse(code),
        };
    }
    match broker.channel.allocate_producer_id().await {
        Ok(producer_id) => answer((producer_id, 0)),
        Err(e) => refuse(e.code),
    }
}
