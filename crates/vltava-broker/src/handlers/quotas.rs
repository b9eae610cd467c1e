//! AlterClientQuotas and DescribeClientQuotas (KIP-546).
//!
//! Quotas live in the metadata image. Changes are made by the active
//! controller (other nodes relay the request to it before it gets here);
//! descriptions are answered from this node's image. Enforcement is in
//! the broker's `quotas` module.

use vltava_metadata::quotas::{collapse, CollapsedEntity, QuotaAlteration};
use vltava_protocol::messages::alter_client_quotas_response;
use vltava_protocol::messages::describe_client_quotas_response;
use vltava_protocol::messages::*;
use vltava_protocol::{ErrorCode, ResponseBody};
use vltava_quota::{describe, FilterComponent, QuotaOp};

use crate::broker::Broker;
use crate::error::KafkaError;
use crate::handlers::authz::{Access, Op};
use crate::handlers::RequestContext;

pub async fn alter_client_quotas(
    broker: &Broker,
    context: &RequestContext<'_>,
    request: AlterClientQuotasRequest,
) -> ResponseBody {
    let alterations: Vec<QuotaAlteration> = request
        .entries
        .into_iter()
        .map(|e| QuotaAlteration {
            entity: e
                .entity
                .into_iter()
                .map(|p| (p.entity_type, p.entity_name))
                .collect(),
            ops: e
                .ops
                .into_iter()
                .map(|op| QuotaOp {
                    key: op.key,
                    value: op.value,
                    remove: op.remove,
                })
                .collect(),
        })
        .collect();
    // Kafka answers from a map of entity to result: one entry per
    // distinct entity.
    let answer = |results: Vec<(CollapsedEntity, Result<(), KafkaError>)>| {
        ResponseBody::AlterClientQuotas(AlterClientQuotasResponse {
            entries: results
                .into_iter()
                .map(|(entity, r)| {
                    let (error_code, error_message) = match r {
                        Ok(()) => (0, None),
                        Err(e) => (e.code.code(), Some(e.message)),
                    };
                    alter_client_quotas_response::EntryData {
                        error_code,
                        error_message,
                        entity: entity
                            .into_iter()
                            .map(|(t, n)| alter_client_quotas_response::EntityData {
                                entity_type: t,
                                entity_name: n,
                                ..Default::default()
                            })
                            .collect(),
                        ..Default::default()
                    }
                })
                .collect(),
            ..Default::default()
        })
    };
    // Refused as a whole: each distinct entity gets the error.
    let all = |e: KafkaError| {
        let mut out: Vec<(CollapsedEntity, Result<(), KafkaError>)> = Vec::new();
        for a in &alterations {
            let entity = collapse(&a.entity);
            if !out.iter().any(|(seen, _)| *seen == entity) {
                out.push((entity, Err(e.clone())));
            }
        }
        out
    };
    // Kafka's check: AlterConfigs on the cluster.
    if !Access::of(broker, context).allows_cluster(Op::AlterConfigs) {
        let code = ErrorCode::CLUSTER_AUTHORIZATION_FAILED;
        return answer(all(KafkaError::new(code, code.message())));
    }
    match broker
        .controller
        .alter_client_quotas(alterations.clone(), request.validate_only)
        .await
    {
        Ok(results) => answer(results),
        Err(e) => answer(all(e)),
    }
}

pub fn describe_client_quotas(
    broker: &Broker,
    context: &RequestContext<'_>,
    request: DescribeClientQuotasRequest,
) -> ResponseBody {
    let refused = |code: ErrorCode, message: String| {
        ResponseBody::DescribeClientQuotas(DescribeClientQuotasResponse {
            error_code: code.code(),
            error_message: Some(message),
            entries: None,
            ..Default::default()
        })
    };
    // Kafka's check: DescribeConfigs on the cluster.
    if !Access::of(broker, context).allows_cluster(Op::DescribeConfigs) {
        let code = ErrorCode::CLUSTER_AUTHORIZATION_FAILED;
        return refused(code, code.message().to_string());
    }
    let components: Vec<FilterComponent> = request
        .components
        .into_iter()
        .map(|c| FilterComponent {
            entity_type: c.entity_type,
            match_type: c.match_type,
            name: c.r#match,
        })
        .collect();
    let image = broker.metadata.image();
    match describe(image.client_quotas().store(), &components, request.strict) {
        Err(e) => refused(ErrorCode(e.code), e.message),
        Ok(found) => ResponseBody::DescribeClientQuotas(DescribeClientQuotasResponse {
            // Null on success, as Kafka answers (the spec's default is "").
            error_message: None,
            entries: Some(
                found
                    .into_iter()
                    .map(
                        |(entity, values)| describe_client_quotas_response::EntryData {
                            entity: entity
                                .parts()
                                .into_iter()
                                .map(|(t, n)| describe_client_quotas_response::EntityData {
                                    entity_type: t.to_string(),
                                    entity_name: n.map(str::to_string),
                                    ..Default::default()
                                })
                                .collect(),
                            values: values
                                .into_iter()
                                .map(|(key, value)| describe_client_quotas_response::ValueData {
                                    key,
                                    value,
                                    ..Default::default()
                                })
                                .collect(),
                            ..Default::default()
                        },
                    )
                    .collect(),
            ),
            ..Default::default()
        }),
    }
}
