//! The Kafka wire protocol as bytes in, typed messages out, and back.
pub mod error_code;
