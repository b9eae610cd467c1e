//! Which header version goes with which API version, and framing helpers.
//!
//! A request header is v2 (with tagged fields) when the request's API version
//! is flexible, v1 otherwise; the one exception is ControlledShutdown v0,
//! which predates the client id and uses header v0. A response header is v1
//! when the API version is flexible, v0 otherwise — except for ApiVersions,
//! whose response always uses header v0 so that a client that does not yet
//! know which versions the broker speaks can always read it (KIP-511).

use bytes::{Buf, Bytes, BytesMut};

use crate::codec::{DecodeError, DecodeErrorKind, EncodeError};
use crate::message::Message;
use crate::messages::{ApiKey, RequestBody, RequestHeader, ResponseBody, ResponseHeader};

impl ApiKey {
    /// Whether `version` of this API uses compact encodings and tagged fields.
    /// A version above the newest known is taken to be flexible if the newest
    /// is: flexibility is never withdrawn, and a broker must still read the
    /// header of an ApiVersions request newer than it knows (KIP-511).
    pub fn is_flexible(self, version: i16) -> bool {
        let v = version.min(self.versions().max);
        self.flexible_versions().is_some_and(|r| r.contains(v))
    }

    /// The request header version that `version` of this API uses.
    pub fn request_header_version(self, version: i16) -> i16 {
        if self == ApiKey::ControlledShutdown && version == 0 {
            0
        } else if self.is_flexible(version) {
            2
        } else {
            1
        }
    }

    /// The response header version that `version` of this API uses.
    pub fn response_header_version(self, version: i16) -> i16 {
        if self != ApiKey::ApiVersions && self.is_flexible(version) {
            1
        } else {
            0
        }
    }
}

/// The API key and version at the front of a request frame, read without
/// consuming anything, so the caller can pick the header version.
pub fn peek_api_key_and_version(frame: &[u8]) -> Result<(i16, i16), DecodeError> {
    if frame.len() < 4 {
        return Err(DecodeError::new(DecodeErrorKind::UnexpectedEnd {
            needed: 4,
            remaining: frame.len(),
        }));
    }
    let key = i16::from_be_bytes([frame[0], frame[1]]);
    let version = i16::from_be_bytes([frame[2], frame[3]]);
    Ok((key, version))
}

/// Decodes the header of a request frame (the bytes after the 4-byte size).
/// Returns the header and the known API key; `buf` is left at the body.
pub fn decode_request_header(buf: &mut Bytes) -> Result<(RequestHeader, ApiKey), DecodeError> {
    let (key, version) = peek_api_key_and_version(buf)?;
    let api_key =
        ApiKey::from_i16(key).ok_or(DecodeError::new(DecodeErrorKind::UnknownApiKey(key)))?;
    let header = RequestHeader::decode(buf, api_key.request_header_version(version))?;
    Ok((header, api_key))
}

/// Decodes a whole request frame: header, then the body in the header's version.
pub fn decode_request(mut frame: Bytes) -> Result<(RequestHeader, RequestBody), DecodeError> {
    let (header, api_key) = decode_request_header(&mut frame)?;
    let body = RequestBody::decode(api_key, &mut frame, header.request_api_version)?;
    Ok((header, body))
}

/// Encodes a request frame including its 4-byte size prefix.
pub fn encode_request(
    header: &RequestHeader,
    body: &RequestBody,
    buf: &mut BytesMut,
) -> Result<(), EncodeError> {
    let api_key = body.api_key();
    let version = header.request_api_version;
    let start = buf.len();
    buf.extend_from_slice(&[0; 4]);
    header.encode(buf, api_key.request_header_version(version))?;
    body.encode(buf, version)?;
    patch_size(buf, start)
}

/// Encodes a response frame including its 4-byte size prefix.
pub fn encode_response(
    correlation_id: i32,
    body: &ResponseBody,
    version: i16,
    buf: &mut BytesMut,
) -> Result<(), EncodeError> {
    let api_key = body.api_key();
    let start = buf.len();
    buf.extend_from_slice(&[0; 4]);
    let header = ResponseHeader {
        correlation_id,
        ..Default::default()
    };
    header.encode(buf, api_key.response_header_version(version))?;
    body.encode(buf, version)?;
    patch_size(buf, start)
}

/// Like [`encode_response`], but the byte fields that are `shared` (the
/// fetched records of a Fetch response, say; given in the order the encoder
/// meets them) are not copied into `buf`. The frame is `buf` from where it
/// started with each returned `(position, bytes)` inserted at its position
/// (positions index `buf` and ascend); the size prefix counts them. Meant
/// for vectored writes. Any value not found in `shared` is copied as usual.
pub fn encode_response_sharing(
    correlation_id: i32,
    body: &ResponseBody,
    version: i16,
    buf: &mut BytesMut,
    shared: Vec<Bytes>,
) -> Result<Vec<(usize, Bytes)>, EncodeError> {
    let start = buf.len();
    let (result, spliced) = crate::codec::with_shared_bytes(shared, || {
        buf.extend_from_slice(&[0; 4]);
        let header = ResponseHeader {
            correlation_id,
            ..Default::default()
        };
        header.encode(buf, body.api_key().response_header_version(version))?;
        body.encode(buf, version)
    });
    result?;
    let len = buf.len() - start - 4 + spliced.iter().map(|(_, b)| b.len()).sum::<usize>();
    let len = i32::try_from(len)
        .map_err(|_| EncodeError::new(crate::codec::EncodeErrorKind::TooLong(len)))?;
    buf[start..start + 4].copy_from_slice(&len.to_be_bytes());
    Ok(spliced)
}

/// Decodes a response frame (after its size prefix) for a request of
/// `api_key` and `version`.
pub fn decode_response(
    mut frame: Bytes,
    api_key: ApiKey,
    version: i16,
) -> Result<(ResponseHeader, ResponseBody), DecodeError> {
    let header = ResponseHeader::decode(&mut frame, api_key.response_header_version(version))?;
    let body = ResponseBody::decode(api_key, &mut frame, version)?;
    Ok((header, body))
}

fn patch_size(buf: &mut BytesMut, start: usize) -> Result<(), EncodeError> {
    let len = buf.len() - start - 4;
    let len = i32::try_from(len)
        .map_err(|_| EncodeError::new(crate::codec::EncodeErrorKind::TooLong(len)))?;
    buf[start..start + 4].copy_from_slice(&len.to_be_bytes());
    Ok(())
}

/// Splits one size-prefixed frame off the front of `buf`, if it is complete.
/// Frames larger than `max_size` (or negative sizes) are an error: the
/// caller closes the connection rather than buffer them.
pub fn split_frame(buf: &mut BytesMut, max_size: usize) -> Result<Option<Bytes>, FrameError> {
    if buf.len() < 4 {
        return Ok(None);
    }
    let size = i32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]);
    if size < 0 || size as usize > max_size {
        return Err(FrameError { size, max_size });
    }
    let size = size as usize;
    if buf.len() < 4 + size {
        return Ok(None);
    }
    buf.advance(4);
    Ok(Some(buf.split_to(size).freeze()))
}

/// A frame whose declared size is negative or above the configured limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameError {
    pub size: i32,
    pub max_size: usize,
}

impl std::fmt::Display for FrameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "frame size {} is outside 0..={}",
            self.size, self.max_size
        )
    }
}

impl std::error::Error for FrameError {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::messages::{ApiVersionsRequest, MetadataRequest};

    #[test]
    fn header_versions_follow_kafka_rules() {
        assert_eq!(ApiKey::ControlledShutdown.request_header_version(0), 0);
        assert_eq!(ApiKey::ControlledShutdown.request_header_version(1), 1);
        assert_eq!(ApiKey::Produce.request_header_version(8), 1);
        assert_eq!(ApiKey::Produce.request_header_version(9), 2);
        assert_eq!(ApiKey::Produce.response_header_version(8), 0);
        assert_eq!(ApiKey::Produce.response_header_version(9), 1);
        assert_eq!(ApiKey::Metadata.request_header_version(9), 2);
        // ApiVersions: flexible request header from v3, but response header v0 always.
        assert_eq!(ApiKey::ApiVersions.request_header_version(3), 2);
        assert_eq!(ApiKey::ApiVersions.response_header_version(3), 0);
        assert_eq!(ApiKey::ApiVersions.response_header_version(4), 0);
        // An ApiVersions request newer than we know is still read as flexible.
        assert_eq!(ApiKey::ApiVersions.request_header_version(99), 2);
    }

    #[test]
    fn shared_records_splice_into_the_same_frame() {
        use crate::messages::FetchResponse;
        use crate::sample::SampleRng;
        let versions = ApiKey::Fetch.versions();
        for version in versions.min..=versions.max {
            for seed in 0..20u64 {
                let mut rng = SampleRng::new(seed ^ ((version as u64) << 32));
                let mut response = FetchResponse::sample(&mut rng, version);
                // Give some partitions a large records value, leave others small.
                let mut n = 0;
                for p in response
                    .responses
                    .iter_mut()
                    .flat_map(|t| t.partitions.iter_mut())
                {
                    n += 1;
                    if n % 2 == 1 {
                        p.records = Some(Bytes::from(vec![n as u8; 300 * n]));
                    }
                }
                let shared: Vec<Bytes> = response
                    .responses
                    .iter()
                    .flat_map(|t| t.partitions.iter())
                    .filter_map(|p| p.records.clone())
                    .filter(|r| r.len() >= 300)
                    .collect();
                let body = ResponseBody::Fetch(response);
                let mut whole = BytesMut::new();
                encode_response(9, &body, version, &mut whole).unwrap();
                let mut head = BytesMut::from(&b"xy"[..]);
                let spliced =
                    encode_response_sharing(9, &body, version, &mut head, shared.clone()).unwrap();
                assert_eq!(spliced.len(), shared.len(), "v{version} seed {seed}");
                let mut frame = Vec::new();
                let mut at = 2;
                for (pos, bytes) in &spliced {
                    frame.extend_from_slice(&head[at..*pos]);
                    frame.extend_from_slice(bytes);
                    at = *pos;
                }
                frame.extend_from_slice(&head[at..]);
                assert_eq!(frame, &whole[..], "v{version} seed {seed}");
                // The scope ends with the call: later encodes copy again.
                let mut again = BytesMut::new();
                encode_response(9, &body, version, &mut again).unwrap();
                assert_eq!(again, whole);
            }
        }
    }

    #[test]
    fn request_frame_round_trip() {
        let header = RequestHeader {
            request_api_key: ApiKey::Metadata as i16,
            request_api_version: 12,
            correlation_id: 7,
            client_id: Some("rdkafka".into()),
            ..Default::default()
        };
        let body = RequestBody::Metadata(MetadataRequest {
            topics: None,
            ..Default::default()
        });
        let mut buf = BytesMut::new();
        encode_request(&header, &body, &mut buf).unwrap();
        let frame = split_frame(&mut buf, 1 << 20).unwrap().unwrap();
        assert!(buf.is_empty());
        let (h, b) = decode_request(frame).unwrap();
        assert_eq!(h, header);
        assert_eq!(b, body);
    }

    #[test]
    fn client_id_stays_classic_in_flexible_header() {
        // Header v2 keeps the 2-byte client id length (older brokers must be
        // able to read any ApiVersions request header).
        let header = RequestHeader {
            request_api_key: ApiKey::ApiVersions as i16,
            request_api_version: 3,
            correlation_id: 1,
            client_id: Some("ab".into()),
            ..Default::default()
        };
        let mut buf = BytesMut::new();
        header.encode(&mut buf, 2).unwrap();
        assert_eq!(&buf[..], &[0, 18, 0, 3, 0, 0, 0, 1, 0, 2, b'a', b'b', 0]);
        let _ = ApiVersionsRequest::default();
    }

    #[test]
    fn hostile_metadata_body_is_an_error() {
        // The 5-byte body 7f ff ff ff 00 as a Metadata v4 request: a topic
        // count of 2^31-1 backed by one byte.
        let mut body = Bytes::from_static(&[0x7f, 0xff, 0xff, 0xff, 0x00]);
        let err = MetadataRequest::decode(&mut body, 4).unwrap_err();
        assert!(matches!(
            err.kind,
            DecodeErrorKind::LengthExceedsFrame {
                length: 0x7fff_ffff,
                remaining: 1
            }
        ));
        assert_eq!(
            err.to_string(),
            "length 2147483647 exceeds the 1 bytes that remain in the frame at topics"
        );
    }

    #[test]
    fn oversized_and_negative_frames_are_rejected() {
        let mut buf = BytesMut::from(&[0x7f, 0xff, 0xff, 0xff, 0][..]);
        assert!(split_frame(&mut buf, 100 << 20).is_err());
        let mut buf = BytesMut::from(&[0xff, 0xff, 0xff, 0xff][..]);
        assert!(split_frame(&mut buf, 100).is_err());
        let mut buf = BytesMut::from(&[0, 0, 0, 3, 1][..]);
        assert_eq!(split_frame(&mut buf, 100).unwrap(), None);
    }
}
