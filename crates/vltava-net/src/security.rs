//! The client's side of a secured listener: TLS (rustls) under the Kafka
//! protocol, and SASL (PLAIN, SCRAM-SHA-256/512) after ApiVersions, as a
//! Kafka client runs them: SaslHandshake v1, then SaslAuthenticate.

use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// How to secure a connection: TLS, SASL, both or neither.
#[derive(Clone, Default)]
pub struct ClientSecurity {
    /// TLS with this configuration (the trust store, a client certificate).
    pub tls: Option<Arc<rustls::ClientConfig>>,
    /// The name the server's certificate must be for; the host of the
    /// address when unset.
    pub tls_server_name: Option<String>,
    /// SASL after the ApiVersions handshake.
    pub sasl: Option<SaslLogin>,
}

impl fmt::Debug for ClientSecurity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientSecurity")
            .field("tls", &self.tls.is_some())
            .field("tls_server_name", &self.tls_server_name)
            .field("sasl", &self.sasl)
            .finish()
    }
}

/// A SASL user and mechanism.
#[derive(Clone)]
pub struct SaslLogin {
    /// PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512.
    pub mechanism: String,
    pub username: String,
    pub password: String,
    /// SCRAM with a delegation token (`tokenauth=true`, KIP-48): the user
    /// name is the token id and the password the base64 of its HMAC.
    pub token_auth: bool,
}

impl fmt::Debug for SaslLogin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SaslLogin")
            .field("mechanism", &self.mechanism)
            .field("username", &self.username)
            .field("token_auth", &self.token_auth)
            .finish_non_exhaustive()
    }
}

/// A connection's byte stream: TCP, or TLS over TCP.
#[derive(Debug)]
pub(crate) enum Stream {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// A SCRAM client nonce from the operating system's random source.
pub(crate) fn nonce() -> String {
    let mut bytes = [0u8; 18];
    getrandom::getrandom(&mut bytes).expect("the system's random source");
    vltava_sasl::scram::nonce_text(&bytes)
}
