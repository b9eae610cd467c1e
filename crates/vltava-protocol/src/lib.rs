//! The Kafka wire protocol as bytes in, typed messages out, and back.
//!
//! - [`messages`]: every request, response, header, internal record and
//!   cluster metadata record format, generated from Kafka's JSON message
//!   specs by `vltava-codegen`.
//! - [`codec`]: the primitive readers and writers they share.
//! - [`error_code`]: every Kafka error code.
//! - [`header`]: request/response headers and which header version each API
//!   version uses.
//!
//! No sockets, no files, no clocks. How to regenerate, fuzz and benchmark:
//! see the crate's `README.md` (included below).
#![doc = include_str!("../README.md")]

pub mod codec;
#[cfg(test)]
mod cross_check_tests;
pub mod error_code;
pub mod header;
pub mod message;
#[allow(clippy::all)]
pub mod messages;
#[cfg(test)]
mod metadata_record_tests;
#[cfg(test)]
mod round_trip_tests;
#[cfg(any(test, feature = "sample"))]
pub mod sample;

pub use codec::{DecodeError, EncodeError, RawTaggedField, Uuid};
pub use error_code::ErrorCode;
pub use message::{Message, Request, Response, VersionRange};
pub use messages::{ApiKey, MetadataRecordBody, MetadataRecordType, RequestBody, ResponseBody};
