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

use super::SUPPORTED;

fn api_keys() -> Vec<ApiVersion> {
    SUPPORTED
        .iter()
        .map(|(key, range)| ApiVersion {
            api_key: *key as i16,
            min_version: range.min,
            max_version: range.max,
            ..Default::default()
        })
        .collect()
}

/// The answer, with the supported and finalized features (KIP-584, v3+)
/// of this node and `image`. The finalized features' epoch is the offset of
/// the image they come from, as Kafka's KRaft brokers report it.
pub fn handle(_request: ApiVersionsRequest, image: &MetadataImage, version: i16) -> ResponseBody {
    let mut response = ApiVersionsResponse {
        error_code: ErrorCode::NONE.code(),
        api_keys: api_keys(),
        ..Default::default()
    };
    if version >= 3 {
        response.supported_features = SUPPORTED_FEATURES
            .iter()
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
pub fn unsupported_version_response() -> ResponseBody {
    ResponseBody::ApiVersions(ApiVersionsResponse {
        error_code: ErrorCode::UNSUPPORTED_VERSION.code(),
        api_keys: api_keys(),
        ..Default::default()
    })
}
