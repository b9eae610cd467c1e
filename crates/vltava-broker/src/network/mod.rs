//! The network side of the broker: listeners and connections.

pub mod server;
