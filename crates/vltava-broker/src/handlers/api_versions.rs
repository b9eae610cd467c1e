//! ApiVersions: what this broker speaks. Only APIs with a real handler are
//! advertised; librdkafka turns features on and off from this list (e.g. it
//! enables compression only when Produce v0-2 are listed too), so an entry
//! here is a promise.

use vltava_protocol::messages::api_versions_response::ApiVersion;
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

pub fn handle(_request: ApiVersionsRequest) -> ResponseBody {
    ResponseBody::ApiVersions(ApiVersionsResponse {
        error_code: ErrorCode::NONE.code(),
        api_keys: api_keys(),
        ..Default::default()
    })
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
