//! Cross-checks against the independent `kafka-protocol` crate, for the API
//! versions both cover: bytes we encode decode with it and re-encode to the
//! same bytes, and its header-version rules agree with ours.

use bytes::BytesMut;
use kafka_protocol::messages as theirs;

use crate::messages::{ApiKey, RequestBody, ResponseBody};
use crate::sample::SampleRng;

const SEEDS: u64 = 25;

fn common_versions(api: ApiKey) -> Option<(theirs::ApiKey, i16, i16)> {
    let their_key = theirs::ApiKey::try_from(api as i16).ok()?;
    let their = their_key.valid_versions();
    let ours = api.versions();
    let (min, mut max) = (ours.min.max(their.min), ours.max.min(their.max));
    // A version still marked unstable in our specs snapshot may have changed
    // shape before it was released; only released versions must agree.
    if api.latest_version_unstable() && max == ours.max {
        max -= 1;
    }
    (min <= max).then_some((their_key, min, max))
}

#[test]
fn our_bytes_decode_and_re_encode_identically_with_kafka_protocol() {
    let mut checked = 0;
    let mut apis = 0;
    for api in ApiKey::ALL {
        let Some((their_key, min, max)) = common_versions(api) else {
            continue;
        };
        apis += 1;
        for version in min..=max {
            for seed in 0..SEEDS {
                let mut rng = SampleRng::new(seed.wrapping_mul(7919) ^ version as u64);
                let request = RequestBody::sample(api, &mut rng, version);
                let mut ours = BytesMut::new();
                request.encode(&mut ours, version).unwrap();
                let ours = ours.freeze();
                let decoded = theirs::RequestKind::decode(their_key, &mut ours.clone(), version)
                    .unwrap_or_else(|e| {
                        panic!(
                            "{api:?} request v{version} seed {seed}: theirs failed to decode: {e}"
                        )
                    });
                let mut again = BytesMut::new();
                decoded.encode(&mut again, version).unwrap();
                assert_eq!(
                    again.freeze(),
                    ours,
                    "{api:?} request v{version} seed {seed}"
                );

                let response = ResponseBody::sample(api, &mut rng, version);
                let mut ours = BytesMut::new();
                response.encode(&mut ours, version).unwrap();
                let ours = ours.freeze();
                let decoded = theirs::ResponseKind::decode(their_key, &mut ours.clone(), version)
                    .unwrap_or_else(|e| {
                        panic!(
                            "{api:?} response v{version} seed {seed}: theirs failed to decode: {e}"
                        )
                    });
                let mut again = BytesMut::new();
                decoded.encode(&mut again, version).unwrap();
                assert_eq!(
                    again.freeze(),
                    ours,
                    "{api:?} response v{version} seed {seed}"
                );
                checked += 1;
            }
        }
    }
    assert!(apis >= 60, "only {apis} APIs in common");
    assert!(checked > 5_000, "only {checked} cases");
}

#[test]
fn header_versions_agree_with_kafka_protocol() {
    for api in ApiKey::ALL {
        let Some((their_key, min, max)) = common_versions(api) else {
            continue;
        };
        for version in min..=max {
            assert_eq!(
                api.request_header_version(version),
                their_key.request_header_version(version),
                "{api:?} v{version} request header"
            );
            assert_eq!(
                api.response_header_version(version),
                their_key.response_header_version(version),
                "{api:?} v{version} response header"
            );
        }
    }
}
