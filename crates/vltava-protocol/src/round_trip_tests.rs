//! Property tests over every generated message and every version: random
//! values valid in a version encode to exactly `encoded_size` bytes, decode
//! back to an equal value and re-encode to the same bytes; every truncation
//! of a valid encoding is an error; random corruption never panics.

use bytes::{Bytes, BytesMut};

use crate::message::Message;
use crate::messages::*;
use crate::sample::{Sample, SampleRng};

const SEEDS_PER_VERSION: u64 = 40;

fn round_trip<M: Message + Sample>() -> usize {
    let mut checked = 0;
    for version in M::VERSIONS.min..=M::VERSIONS.max {
        for seed in 0..SEEDS_PER_VERSION {
            let mut rng = SampleRng::new(seed ^ ((version as u64) << 32));
            let message = M::sample(&mut rng, version);
            let mut buf = BytesMut::new();
            message
                .encode(&mut buf, version)
                .unwrap_or_else(|e| panic!("{} v{version} seed {seed}: encode: {e}", M::NAME));
            assert_eq!(
                buf.len(),
                message.encoded_size(version),
                "{} v{version} seed {seed}: size",
                M::NAME
            );
            let bytes = buf.freeze();
            let mut input = bytes.clone();
            let decoded = M::decode(&mut input, version).unwrap_or_else(|e| {
                panic!(
                    "{} v{version} seed {seed}: decode: {e}\n{message:?}",
                    M::NAME
                )
            });
            assert!(
                input.is_empty(),
                "{} v{version} seed {seed}: {} bytes left",
                M::NAME,
                input.len()
            );
            assert_eq!(decoded, message, "{} v{version} seed {seed}", M::NAME);
            let mut again = BytesMut::new();
            decoded.encode(&mut again, version).unwrap();
            assert_eq!(
                again.freeze(),
                bytes,
                "{} v{version} seed {seed}: re-encode",
                M::NAME
            );

            if seed == 0 {
                // Every strict prefix must fail to decode, without panicking.
                for cut in 0..bytes.len() {
                    let mut prefix = bytes.slice(..cut);
                    assert!(
                        M::decode(&mut prefix, version).is_err(),
                        "{} v{version}: a {cut}-byte prefix of {} decoded",
                        M::NAME,
                        bytes.len()
                    );
                }
            }
            if seed < 4 && !bytes.is_empty() {
                // Corrupt bytes: any result but a panic is acceptable.
                let mut corrupt = bytes.to_vec();
                for _ in 0..8 {
                    let i = rng.below(corrupt.len() as u64) as usize;
                    corrupt[i] = rng.next_u64() as u8;
                    let _ = M::decode(&mut Bytes::from(corrupt.clone()), version);
                }
            }
            checked += 1;
        }
        // A version outside the spec's range is refused both ways.
        let _ = version;
    }
    let mut empty = Bytes::new();
    assert!(M::decode(&mut empty, M::VERSIONS.max + 1).is_err());
    assert!(M::default()
        .encode(&mut BytesMut::new(), M::VERSIONS.max + 1)
        .is_err());
    checked
}

#[test]
fn every_message_round_trips_in_every_version() {
    let mut messages = 0;
    let mut cases = 0;
    macro_rules! check_all {
        ($($t:ident),* $(,)?) => {
            $(
                cases += round_trip::<$t>();
                messages += 1;
            )*
        };
    }
    crate::with_all_messages!(check_all);
    assert_eq!(
        messages, 245,
        "one message per spec file (clients, group-coordinator, transaction-coordinator, storage, metadata, raft)"
    );
    assert!(cases > 10_000, "only {cases} cases ran");
}

#[test]
fn request_and_response_enums_dispatch_every_api() {
    for api in ApiKey::ALL {
        let versions = api.versions();
        for version in versions.min..=versions.max {
            let mut rng = SampleRng::new(version as u64);
            let request = RequestBody::sample(api, &mut rng, version);
            assert_eq!(request.api_key(), api);
            let mut buf = BytesMut::new();
            request.encode(&mut buf, version).unwrap();
            let decoded = RequestBody::decode(api, &mut buf.freeze(), version).unwrap();
            assert_eq!(decoded, request);

            let response = ResponseBody::sample(api, &mut rng, version);
            let mut buf = BytesMut::new();
            response.encode(&mut buf, version).unwrap();
            let decoded = ResponseBody::decode(api, &mut buf.freeze(), version).unwrap();
            assert_eq!(decoded, response);
        }
        assert_eq!(ApiKey::from_i16(api as i16), Some(api));
    }
    assert_eq!(ApiKey::from_i16(-1), None);
    assert_eq!(ApiKey::Produce.name(), "Produce");
    assert_eq!(ApiKey::ApiVersions as i16, 18);
}

#[test]
fn field_missing_from_version_is_an_encode_error_unless_ignorable() {
    // ProduceRequest.transactional_id exists from v3; it is not ignorable.
    let request = ProduceRequest {
        transactional_id: Some("tx".into()),
        ..Default::default()
    };
    let err = request.encode(&mut BytesMut::new(), 2).unwrap_err();
    assert_eq!(
        err.to_string(),
        "field has a non-default value but does not exist in version 2 at transactional_id"
    );
    // MetadataResponse.throttle_time_ms (v3+) is ignorable: dropped silently.
    let response = MetadataResponse {
        throttle_time_ms: 5,
        ..Default::default()
    };
    let mut buf = BytesMut::new();
    response.encode(&mut buf, 0).unwrap();
    let decoded = MetadataResponse::decode(&mut buf.freeze(), 0).unwrap();
    assert_eq!(decoded.throttle_time_ms, 0);
}

#[test]
fn null_in_a_non_nullable_version_is_an_encode_error() {
    // MetadataRequest.topics is nullable only from v1.
    let request = MetadataRequest {
        topics: None,
        ..Default::default()
    };
    let err = request.encode(&mut BytesMut::new(), 0).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("null is not allowed in version 0 at topics"),
        "{err}"
    );
}

#[test]
fn unknown_tagged_fields_survive_and_stay_in_tag_order() {
    use crate::codec::RawTaggedField;
    // ApiVersionsResponse v3 knows tags 0..=3; put unknown ones around them.
    let response = ApiVersionsResponse {
        finalized_features_epoch: 9,
        unknown_tagged_fields: vec![RawTaggedField {
            tag: 7,
            data: Bytes::from_static(b"x"),
        }],
        ..Default::default()
    };
    let mut buf = BytesMut::new();
    response.encode(&mut buf, 3).unwrap();
    let decoded = ApiVersionsResponse::decode(&mut buf.clone().freeze(), 3).unwrap();
    assert_eq!(decoded, response);
    // Tail: 2 tagged fields, tag 1 (8 bytes), then tag 7 (1 byte).
    let tail = &buf[buf.len() - 14..];
    assert_eq!(tail, &[2, 1, 8, 0, 0, 0, 0, 0, 0, 0, 9, 7, 1, b'x']);
}
