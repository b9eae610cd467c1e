//! The error type of a connection and of the client built on it (one type, so
//! the client passes connection errors through unchanged).

use std::fmt;
use std::time::Duration;

use vltava_protocol::header::FrameError;
use vltava_protocol::{ApiKey, DecodeError, EncodeError, ErrorCode, VersionRange};

/// Result alias used throughout the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong talking to a broker.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// No TCP connection could be made (refused, unresolvable, timed out).
    /// Nothing was sent, so any operation may be retried elsewhere.
    Connect {
        addr: String,
        source: std::io::Error,
    },
    /// Reading or writing an established connection failed, or the broker
    /// closed it. A request in flight may or may not have been processed.
    Io {
        addr: String,
        source: std::io::Error,
    },
    /// A request got no answer in time. The connection is dropped (the
    /// answer may still come and would be out of order).
    Timeout {
        addr: String,
        api: ApiKey,
        after: Duration,
    },
    /// A request could not be encoded in the chosen version.
    Encode {
        api: ApiKey,
        version: i16,
        source: EncodeError,
    },
    /// A response could not be decoded.
    Decode {
        api: ApiKey,
        version: i16,
        source: DecodeError,
    },
    /// A response frame with a negative or oversized length.
    Frame { addr: String, source: FrameError },
    /// A well-formed response that breaks the protocol: wrong correlation
    /// id, trailing bytes, a partition missing from the answer, ...
    Protocol(String),
    /// The broker answered with an error code.
    Broker(BrokerError),
    /// No version of `api` that both we and the broker speak (`theirs` is
    /// `None` when the broker does not offer the API at all).
    UnsupportedVersion {
        api: ApiKey,
        ours: VersionRange,
        theirs: Option<VersionRange>,
    },
    /// Record batches in a response could not be read, or records could not
    /// be encoded into a batch.
    Records {
        context: String,
        source: vltava_records::Error,
    },
    /// A fetch returned only the start of a batch bigger than the fetch's
    /// byte limit (brokers older than KIP-74 do that): raise the limit.
    BatchTooLarge {
        topic: String,
        partition: i32,
        offset: i64,
        max_bytes: i32,
    },
    /// Bad input from the caller: no bootstrap servers, an unknown broker
    /// id, an invalid argument.
    Invalid(String),
}

/// An error code returned by a broker, with where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerError {
    pub code: ErrorCode,
    /// The broker's own message, when the response carries one.
    pub message: Option<String>,
    /// What was being done, e.g. `"create topic orders"` or `"fetch orders-3"`.
    pub context: String,
}

impl Error {
    /// A broker error code with context.
    pub fn broker(code: ErrorCode, message: Option<String>, context: impl Into<String>) -> Error {
        Error::Broker(BrokerError {
            code,
            message,
            context: context.into(),
        })
    }

    /// The broker error code, if this is a broker error.
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            Error::Broker(e) => Some(e.code),
            _ => None,
        }
    }

    /// Whether a fresh metadata view and a retry can help: the request was
    /// not processed because it went to the wrong or an unavailable broker,
    /// or no connection could be made.
    pub fn is_retriable_after_refresh(&self) -> bool {
        match self {
            Error::Connect { .. } => true,
            Error::Broker(e) => matches!(
                e.code,
                ErrorCode::NOT_LEADER_OR_FOLLOWER
                    | ErrorCode::LEADER_NOT_AVAILABLE
                    | ErrorCode::UNKNOWN_TOPIC_OR_PARTITION
                    | ErrorCode::NOT_CONTROLLER
                    | ErrorCode::FENCED_LEADER_EPOCH
                    | ErrorCode::UNKNOWN_LEADER_EPOCH
                    | ErrorCode::REPLICA_NOT_AVAILABLE
                    | ErrorCode::BROKER_NOT_AVAILABLE
                    | ErrorCode::NOT_ENOUGH_REPLICAS
            ),
            _ => false,
        }
    }

    /// Whether the broker could not act as the group's coordinator: it is
    /// not the coordinator (any more), none is available, or it is still
    /// loading the group's state. Finding the coordinator again after a
    /// pause and retrying can help.
    pub fn is_coordinator_error(&self) -> bool {
        matches!(
            self.code(),
            Some(
                ErrorCode::COORDINATOR_LOAD_IN_PROGRESS
                    | ErrorCode::COORDINATOR_NOT_AVAILABLE
                    | ErrorCode::NOT_COORDINATOR
            )
        )
    }
}

impl fmt::Display for BrokerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.context, self.code)?;
        match &self.message {
            Some(m) if !m.is_empty() => write!(f, ": {m}"),
            _ => write!(f, ": {}", self.code.message()),
        }
    }
}

impl std::error::Error for BrokerError {}

fn fmt_range(r: &VersionRange) -> String {
    format!("{}..={}", r.min, r.max)
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Connect { addr, source } => write!(f, "cannot connect to {addr}: {source}"),
            Error::Io { addr, source } => write!(f, "connection to {addr}: {source}"),
            Error::Timeout { addr, api, after } => write!(
                f,
                "{} request to {addr} timed out after {} ms",
                api.name(),
                after.as_millis()
            ),
            Error::Encode {
                api,
                version,
                source,
            } => write!(f, "cannot encode {} v{version}: {source}", api.name()),
            Error::Decode {
                api,
                version,
                source,
            } => write!(
                f,
                "cannot decode {} v{version} response: {source}",
                api.name()
            ),
            Error::Frame { addr, source } => write!(f, "bad response frame from {addr}: {source}"),
            Error::Protocol(m) => write!(f, "protocol error: {m}"),
            Error::Broker(e) => e.fmt(f),
            Error::UnsupportedVersion { api, ours, theirs } => match theirs {
                Some(t) => write!(
                    f,
                    "no common version of {}: we speak {}, the broker {}",
                    api.name(),
                    fmt_range(ours),
                    fmt_range(t)
                ),
                None => write!(f, "the broker does not support {}", api.name()),
            },
            Error::Records { context, source } => write!(f, "{context}: {source}"),
            Error::BatchTooLarge {
                topic,
                partition,
                offset,
                max_bytes,
            } => write!(
                f,
                "the record batch at {topic}-{partition} offset {offset} is larger than the \
                 fetch limit of {max_bytes} bytes"
            ),
            Error::Invalid(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Connect { source, .. } | Error::Io { source, .. } => Some(source),
            Error::Encode { source, .. } => Some(source),
            Error::Decode { source, .. } => Some(source),
            Error::Frame { source, .. } => Some(source),
            Error::Broker(e) => Some(e),
            Error::Records { source, .. } => Some(source),
            _ => None,
        }
    }
}
