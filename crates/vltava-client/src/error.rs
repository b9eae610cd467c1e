//! The error type; it lives in `vltava-net` with the connection.

pub use vltava_net::error::*;
