//! TLS for the broker's SSL and SASL_SSL listeners, configured the way
//! Kafka names it, done with rustls.
//!
//! - [`TlsSettings`]: one listener's `ssl.*` settings, already resolved
//!   (`listener.name.<l>.ssl.*` over the broker-wide keys).
//! - [`ServerTls`]: the listener's rustls configuration, made again when a
//!   key, certificate or trust file changes, so operators rotate
//!   certificates without a restart.
//! - [`OutboundTls`]: the client side of a listener's TLS, for this node's
//!   connections to the others, following the same files.
//! - [`principal`]: the principal of a client certificate, from its subject
//!   in RFC 2253 form through `ssl.principal.mapping.rules`.
//! - [`dev`]: a self-signed CA and certificates for a development node
//!   (`vltava dev-certs`).
//!
//! Key and trust stores are PEM (one file with the private key, encrypted
//! or not, and the certificate chain, or the inline `ssl.keystore.key` and
//! `ssl.keystore.certificate.chain`), PKCS12 or JKS (see `stores` and
//! `jks`).

pub mod dev;
mod ec_key;
mod jks;
mod outbound;
pub mod principal;
mod server;
mod settings;
mod stores;

pub use outbound::OutboundTls;
pub use principal::{subject_of, PrincipalMapper};
/// The client side of TLS, as [`client_config`] makes it.
pub use rustls::ClientConfig as ClientTlsConfig;
pub use server::{client_config, ServerTls};
pub use settings::{ClientAuth, StoreType, TlsError, TlsSettings};
