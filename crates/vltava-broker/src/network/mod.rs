//! The network side of the broker: listeners and connections, and SASL
//! authentication on them (with the JWKS file of signed OAUTHBEARER
//! tokens).

pub mod answer;
pub mod jwks;
pub mod jwks_http;
pub mod limits;
pub mod outbound;
pub mod sasl;
pub mod server;
pub mod sockopt;
