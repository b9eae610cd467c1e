//! The network side of the broker: listeners and connections, and SASL
//! authentication on them.

pub mod limits;
pub mod outbound;
pub mod sasl;
pub mod server;
