//! UpdateFeatures (KIP-584): finalizes feature levels. The active
//! controller makes the change (other nodes relay the request to it before
//! it gets here); the finalized levels reach clients through ApiVersions.

use vltava_metadata::features::{FeatureUpdate, UpgradeType};
use vltava_protocol::messages::{
    update_features_response, UpdateFeaturesRequest, UpdateFeaturesResponse,
};
use vltava_protocol::{ErrorCode, ResponseBody};

use crate::broker::Broker;
use crate::error::KafkaError;
use crate::handlers::authz::{Access, Op};
use crate::handlers::RequestContext;

pub async fn update_features(
    broker: &Broker,
    context: &RequestContext<'_>,
    request: UpdateFeaturesRequest,
) -> ResponseBody {
    let names: Vec<String> = request
        .feature_updates
        .iter()
        .map(|u| u.feature.clone())
        .collect();
    // All or nothing, as Kafka's controller: one error for the request,
    // repeated for each feature where the version has per-feature results.
    let answer = |outcome: Result<(), KafkaError>| {
        let (code, message) = match outcome {
            Ok(()) => (ErrorCode::NONE, None),
            Err(e) => (e.code, Some(e.message)),
        };
        ResponseBody::UpdateFeatures(UpdateFeaturesResponse {
            error_code: code.code(),
            error_message: message.clone(),
            results: if context.version <= 1 {
                names
                    .iter()
                    .map(|n| update_features_response::UpdatableFeatureResult {
                        feature: n.clone(),
                        error_code: code.code(),
                        error_message: message.clone(),
                        ..Default::default()
                    })
                    .collect()
            } else {
                Vec::new()
            },
            ..Default::default()
        })
    };
    // Kafka's check: Alter on the cluster.
    if !Access::of(broker, context).allows_cluster(Op::Alter) {
        let code = ErrorCode::CLUSTER_AUTHORIZATION_FAILED;
        return answer(Err(KafkaError::new(
            code,
            "UpdateFeatures needs Alter on the cluster",
        )));
    }
    let mut updates = Vec::with_capacity(request.feature_updates.len());
    for u in &request.feature_updates {
        // v0 says whether a downgrade is allowed; v1+ names the kind.
        let upgrade_type = if context.version == 0 {
            Some(if u.allow_downgrade {
                UpgradeType::SafeDowngrade
            } else {
                UpgradeType::Upgrade
            })
        } else {
            UpgradeType::from_code(u.upgrade_type)
        };
        let Some(upgrade_type) = upgrade_type else {
            return answer(Err(KafkaError::new(
                ErrorCode::INVALID_REQUEST,
                format!("{}: unknown upgrade type {}", u.feature, u.upgrade_type),
            )));
        };
        updates.push(FeatureUpdate {
            feature: u.feature.clone(),
            level: u.max_version_level,
            upgrade_type,
        });
    }
    if updates.is_empty() {
        return answer(Err(KafkaError::new(
            ErrorCode::INVALID_REQUEST,
            "no feature updates given",
        )));
    }
    let validate_only = context.version >= 1 && request.validate_only;
    answer(
        broker
            .controller
            .update_features(updates, validate_only)
            .await,
    )
}
