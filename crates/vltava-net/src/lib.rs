//! Outbound Kafka connections, in one small crate so that the client (and
//! the command-line tools on it) and the broker's own outbound traffic (the
//! controller quorum's RPCs, later replica fetchers) share one
//! implementation without the broker depending on the client.
//!
//! - [`connection`]: one TCP connection to one broker.
//! - [`error`]: the error type of a connection and of the client built on it.
//! - [`redial`]: a connection to whatever address is current, remade after
//!   a failure.
//! - [`security`]: TLS and SASL for secured listeners.

pub mod connection;
pub mod error;
pub mod redial;
pub mod security;

pub use connection::{our_versions, pick_version, Connection, ConnectionConfig};
pub use error::{BrokerError, Error, Result};
pub use redial::Redial;
pub use security::{ClientSecurity, SaslLogin};
