//! ApiVersions: what this broker speaks. Only APIs with a real handler are
//! advertised; librdkafka turns features on and off from this list (e.g. it
//! enables compression only when Produce v0-2 are listed too), so an entry
//! here is a promise.

use vltava_metadata::features::{self, SUPPORTED_FEATURES};
use vltava_metadata::MetadataImage;
use vltava_protocol::messages::api_versions_response::{
    ApiVersion, FinalizedFeatureKey, SupportedFeatureKey,
};
use vltava_protocol::messages::{ApiVersionsRequest, ApiVersionsResponse};
use vltava_protocol::{ErrorCode, ResponseBody};

use super::{ListenerRoles, SUPPORTED};

fn api_keys(roles: ListenerRoles) -> Vec<ApiVersion> {
    SUPPORTED
        .iter()
        .filter(|(key, _)| roles.serves(*key))
        .map(|(key, range)| ApiVersion {
            api_key: *key as i16,
            min_version: range.min,
            max_version: range.max,
            ..Default::default()
        })
        .collect()
}

/// The answer, with the APIs the listener serves (`roles`) and the
/// supported and finalized features (KIP-584, v3+) of this node and
/// `image`. The finalized features' epoch is the offset of the image they
/// come from, as Kafka's KRaft brokers report it.
pub fn handle(
    _request: ApiVersionsRequest,
    image: &MetadataImage,
    version: i16,
    roles: ListenerRoles,
) -> ResponseBody {
    let mut response = ApiVersionsResponse {
        error_code: ErrorCode::NONE.code(),
        api_keys: api_keys(roles),
        ..Default::default()
    };
    if version >= 3 {
        // KIP-1022: a supported range may start at 0 only from v4; older
        // clients (Kafka's 3.x Admin among them) refuse such a range, so
        // v3 leaves those features out, as Kafka's brokers do.
        response.supported_features = SUPPORTED_FEATURES
            .iter()
            .filter(|f| version >= 4 || f.min_level > 0)
            .map(|f| SupportedFeatureKey {
                name: f.name.to_string(),
                min_version: f.min_level,
                max_version: f.max_level,
                ..Default::default()
            })
            .collect();
        response.finalized_features_epoch = image.offset.max(0);
        response.finalized_features = features::finalized(image)
            .into_iter()
            .map(|(name, level)| FinalizedFeatureKey {
                name,
                max_version_level: level,
                min_version_level: level,
                ..Default::default()
            })
            .collect();
    }
    ResponseBody::ApiVersions(response)
}

/// The v0 answer to an ApiVersions request of a version we do not know
/// (KIP-511): the client retries with the highest version we list.
pub fn unsupported_version_response(roles: ListenerRoles) -> ResponseBody {
    ResponseBody::ApiVersions(ApiVersionsResponse {
        error_code: ErrorCode::UNSUPPORTED_VERSION.code(),
        api_keys: api_keys(roles),
        ..Default::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn supported(version: i16) -> Vec<(String, i16, i16)> {
        let ResponseBody::ApiVersions(r) = handle(
            ApiVersionsRequest::default(),
            &MetadataImage::default(),
            version,
            ListenerRoles::BOTH,
        ) else {
            panic!("not an ApiVersions answer")
        };
        r.supported_features
            .into_iter()
            .map(|f| (f.name, f.min_version, f.max_version))
            .collect()
    }

    #[test]
    fn features_starting_at_level_zero_are_listed_from_v4_only() {
        let elr = (features::ELIGIBLE_LEADER_REPLICAS_VERSION.to_string(), 0, 1);
        let mv = (
            features::METADATA_VERSION.to_string(),
            features::METADATA_VERSION_LEVEL,
            features::METADATA_VERSION_LEVEL,
        );
        assert_eq!(supported(4), [mv.clone(), elr]);
        assert_eq!(supported(3), [mv]);
        assert!(supported(2).is_empty());
    }
}
