//! The traits every generated message implements.

use bytes::{Bytes, BytesMut};

use crate::codec::{DecodeError, EncodeError};
use crate::messages::ApiKey;

/// An inclusive range of versions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct VersionRange {
    pub min: i16,
    pub max: i16,
}

impl VersionRange {
    pub const fn contains(self, version: i16) -> bool {
        self.min <= version && version <= self.max
    }
}

/// A message with a versioned wire format: a request or response body, a
/// header, or a record stored in an internal topic.
pub trait Message: Sized + Default + Clone + std::fmt::Debug + PartialEq {
    /// The spec's name, e.g. "ProduceRequest".
    const NAME: &'static str;
    /// The versions the spec defines.
    const VERSIONS: VersionRange;
    /// The versions with compact encodings and tagged fields, if any.
    const FLEXIBLE_VERSIONS: Option<VersionRange>;

    /// Decodes a message of `version` from the front of `buf`, leaving what
    /// follows it. `bytes` and `records` fields are zero-copy slices of `buf`.
    fn decode(buf: &mut Bytes, version: i16) -> Result<Self, DecodeError>;

    /// Appends the message encoded in `version`. Fails, naming the field,
    /// when a non-default value cannot be expressed in that version.
    fn encode(&self, buf: &mut BytesMut, version: i16) -> Result<(), EncodeError>;

    /// The number of bytes `encode` writes (when it succeeds).
    fn encoded_size(&self, version: i16) -> usize;

    fn is_flexible(version: i16) -> bool {
        Self::FLEXIBLE_VERSIONS.is_some_and(|r| r.contains(version))
    }
}

/// A request body; `Response` is the body its answer carries.
pub trait Request: Message {
    const API_KEY: ApiKey;
    type Response: Response;
}

/// A response body.
pub trait Response: Message {
    const API_KEY: ApiKey;
}
