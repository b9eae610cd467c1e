//! InitProducerId for idempotent producers: a fresh producer id with epoch
//! 0, as Kafka answers every request without a transactional id. Ids come
//! from blocks recorded in the metadata log (`Broker::allocate_producer_id`),
//! so none is handed out twice, across restarts included. The sequence and
//! epoch checks on produce are in `producer_state`.
//!
//! Transactional ids need a transaction coordinator, which does not exist
//! yet: those requests get COORDINATOR_NOT_AVAILABLE, as FindCoordinator
//! answers for transaction keys.

use vltava_protocol::messages::{InitProducerIdRequest, InitProducerIdResponse};
use vltava_protocol::{ErrorCode, ResponseBody};

use super::RequestContext;
use crate::state::Broker;

pub async fn handle(
    broker: &Broker,
    _context: &RequestContext<'_>,
    request: InitProducerIdRequest,
) -> ResponseBody {
    let refuse = |code: ErrorCode| {
        ResponseBody::InitProducerId(InitProducerIdResponse {
            error_code: code.code(),
            producer_id: -1,
            producer_epoch: -1,
            ..Default::default()
        })
    };
    // Kafka: a producer id without an epoch (or the reverse) is malformed.
    if (request.producer_id == -1) != (request.producer_epoch == -1) {
        return refuse(ErrorCode::INVALID_REQUEST);
    }
    if request.transactional_id.is_some() {
        return refuse(ErrorCode::COORDINATOR_NOT_AVAILABLE);
    }
    match broker.allocate_producer_id().await {
        Ok(producer_id) => ResponseBody::InitProducerId(InitProducerIdResponse {
            error_code: 0,
            producer_id,
            producer_epoch: 0,
            ..Default::default()
        }),
        Err((code, _)) => refuse(code),
    }
}
