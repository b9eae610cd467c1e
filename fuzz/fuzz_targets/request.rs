//! Arbitrary bytes as a request frame body (after the size prefix): the
//! header decides the API key and version, as on the broker. Decoding must
//! never panic, and whatever decodes must re-encode, decode again, and
//! re-encode to the same bytes (bytes, not values: a float64 field may hold
//! NaN, which is never equal to itself).
#![no_main]

use bytes::{Bytes, BytesMut};
use libfuzzer_sys::fuzz_target;
use vltava_protocol::header::decode_request;
use vltava_protocol::RequestBody;

fuzz_target!(|data: &[u8]| {
    let Ok((header, body)) = decode_request(Bytes::copy_from_slice(data)) else { return };
    let version = header.request_api_version;
    let mut buf = BytesMut::new();
    body.encode(&mut buf, version).expect("a decoded body re-encodes");
    assert_eq!(buf.len(), body.encoded_size(version));
    let first = buf.freeze();
    let again = RequestBody::decode(body.api_key(), &mut first.clone(), version).expect("re-encoded body decodes");
    let mut second = BytesMut::new();
    again.encode(&mut second, version).expect("decoded again, re-encodes");
    assert_eq!(second.freeze(), first);
});
