//! One TCP connection to one broker: framing, correlation ids, the
//! ApiVersions handshake and version negotiation.
//!
//! One request is in flight at a time: [`Connection::send`] writes a request
//! and reads frames until its answer. Any failure that leaves the byte
//! stream in an unknown state (I/O error, timeout, undecodable frame, wrong
//! correlation id) marks the connection broken; every later call fails fast
//! and the owner should drop it and connect again.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tracing::debug;
use vltava_protocol::header::split_frame;
use vltava_protocol::messages::{
    ApiVersionsRequest, ApiVersionsResponse, RequestHeader, ResponseHeader,
};
use vltava_protocol::{ApiKey, ErrorCode, Message, Request, VersionRange};

use crate::error::{Error, Result};
use crate::security::{nonce, ClientSecurity, Stream};

/// The ApiVersions version sent first: v3 is the first with the client's
/// software name and version (KIP-511) and what every broker since Kafka 2.4
/// speaks.
pub const INITIAL_API_VERSIONS_VERSION: i16 = 3;

/// Settings of a connection.
#[derive(Debug, Clone)]
pub struct ConnectionConfig {
    /// The client id in every request header.
    pub client_id: Option<String>,
    /// Sent in ApiVersions v3+ (KIP-511); must match
    /// `[a-zA-Z0-9](?:[a-zA-Z0-9\-.]*[a-zA-Z0-9])?`.
    pub client_software_name: String,
    /// Sent in ApiVersions v3+, same character rules as the name.
    pub client_software_version: String,
    /// Limit on establishing the TCP connection.
    pub connect_timeout: Duration,
    /// Limit on each request, from writing it to reading its whole answer.
    pub request_timeout: Duration,
    /// Response frames larger than this are refused (and the connection
    /// dropped) instead of being buffered.
    pub max_response_size: usize,
    /// TLS and SASL, for SSL, SASL_PLAINTEXT and SASL_SSL listeners.
    pub security: Option<Arc<ClientSecurity>>,
}

impl Default for ConnectionConfig {
    fn default() -> Self {
        ConnectionConfig {
            client_id: Some("vltava".to_string()),
            client_software_name: "vltava-client".to_string(),
            client_software_version: env!("CARGO_PKG_VERSION").to_string(),
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            max_response_size: 128 << 20,
            security: None,
        }
    }
}

/// The host part of `host:port` (without IPv6 brackets).
fn host_of(addr: &str) -> &str {
    let host = addr.rsplit_once(':').map_or(addr, |(h, _)| h);
    host.trim_start_matches('[').trim_end_matches(']')
}

/// The versions of `api` this crate can encode and decode and is willing to
/// send: the generated range, minus the newest version when the spec marks
/// it unstable.
pub fn our_versions(api: ApiKey) -> VersionRange {
    let mut range = api.versions();
    if api.latest_version_unstable() && range.max > range.min {
        range.max -= 1;
    }
    range
}

/// The highest version in both ranges, if they overlap.
pub fn pick_version(ours: VersionRange, theirs: VersionRange) -> Option<i16> {
    let max = ours.max.min(theirs.max);
    let min = ours.min.max(theirs.min);
    (min <= max).then_some(max)
}

/// A connection to one broker. See the module documentation.
#[derive(Debug)]
pub struct Connection {
    addr: String,
    stream: Stream,
    read_buf: BytesMut,
    write_buf: BytesMut,
    next_correlation_id: i32,
    config: ConnectionConfig,
    /// The broker's versions by API key, from its ApiVersions answer.
    broker_versions: HashMap<i16, VersionRange>,
    /// The ApiVersions version the handshake ended up using.
    api_versions_version: i16,
    broken: bool,
}

impl Connection {
    /// Connects to `addr` (`host:port`) and runs the ApiVersions handshake.
    pub async fn connect(addr: &str, config: ConnectionConfig) -> Result<Connection> {
        let connect_err = |source| Error::Connect {
            addr: addr.to_string(),
            source,
        };
        let stream =
            match tokio::time::timeout(config.connect_timeout, TcpStream::connect(addr)).await {
                Ok(Ok(stream)) => stream,
                Ok(Err(e)) => return Err(connect_err(e)),
                Err(_) => {
                    return Err(connect_err(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        format!(
                            "no connection after {} ms",
                            config.connect_timeout.as_millis()
                        ),
                    )))
                }
            };
        // Requests are written whole, so Nagle only adds latency.
        stream.set_nodelay(true).map_err(connect_err)?;
        let security = config.security.clone();
        let stream = match security.as_ref().and_then(|s| s.tls.clone()) {
            None => Stream::Plain(stream),
            Some(tls) => {
                let name = security
                    .as_ref()
                    .and_then(|s| s.tls_server_name.clone())
                    .unwrap_or_else(|| host_of(addr).to_string());
                let server_name = rustls::pki_types::ServerName::try_from(name.clone())
                    .map_err(|e| Error::Invalid(format!("TLS server name {name}: {e}")))?;
                let connector = tokio_rustls::TlsConnector::from(tls);
                match tokio::time::timeout(
                    config.connect_timeout,
                    connector.connect(server_name, stream),
                )
                .await
                {
                    Ok(Ok(s)) => Stream::Tls(Box::new(s)),
                    Ok(Err(e)) => {
                        return Err(connect_err(std::io::Error::other(format!(
                            "TLS handshake failed: {e}"
                        ))))
                    }
                    Err(_) => {
                        return Err(connect_err(std::io::Error::new(
                            std::io::ErrorKind::TimedOut,
                            "no TLS handshake within the connect timeout",
                        )))
                    }
                }
            }
        };
        let mut conn = Connection {
            addr: addr.to_string(),
            stream,
            read_buf: BytesMut::with_capacity(64 * 1024),
            write_buf: BytesMut::with_capacity(64 * 1024),
            next_correlation_id: 0,
            config,
            broker_versions: HashMap::new(),
            api_versions_version: INITIAL_API_VERSIONS_VERSION,
            broken: false,
        };
        conn.handshake().await?;
        if let Some(login) = security.as_ref().and_then(|s| s.sasl.clone()) {
            conn.authenticate(&login).await?;
        }
        Ok(conn)
    }

    /// SASL after ApiVersions: SaslHandshake v1 names the mechanism, then
    /// SaslAuthenticate carries the exchange.
    async fn authenticate(&mut self, login: &crate::security::SaslLogin) -> Result<()> {
        use vltava_protocol::messages::{SaslAuthenticateRequest, SaslHandshakeRequest};
        let failed = |code: i16, message: Option<String>, what: &str| {
            Error::broker(
                ErrorCode(code),
                message,
                format!("SASL {what} as {}", login.username),
            )
        };
        let handshake = self
            .send_version(
                &SaslHandshakeRequest {
                    mechanism: login.mechanism.clone(),
                },
                1,
            )
            .await?;
        if handshake.error_code != 0 {
            self.broken = true;
            return Err(failed(
                handshake.error_code,
                Some(format!("the broker offers {:?}", handshake.mechanisms)),
                "handshake",
            ));
        }
        let version = self.negotiated_version(ApiKey::SaslAuthenticate)?;
        let step = |bytes: Vec<u8>| {
            let request = SaslAuthenticateRequest {
                auth_bytes: bytes.into(),
                ..Default::default()
            };
            (request, version)
        };
        match login.mechanism.as_str() {
            "PLAIN" => {
                let token = format!("\0{}\0{}", login.username, login.password).into_bytes();
                let (request, version) = step(token);
                let response = self.send_version(&request, version).await?;
                if response.error_code != 0 {
                    self.broken = true;
                    return Err(failed(response.error_code, response.error_message, "PLAIN"));
                }
                Ok(())
            }
            "SCRAM-SHA-256" | "SCRAM-SHA-512" => {
                let mechanism = if login.mechanism == "SCRAM-SHA-256" {
                    vltava_sasl::scram::ScramMechanism::Sha256
                } else {
                    vltava_sasl::scram::ScramMechanism::Sha512
                };
                let mut client = vltava_sasl::scram::ScramClient::new(
                    mechanism,
                    &login.username,
                    &login.password,
                    &nonce(),
                );
                if login.token_auth {
                    client = client.with_token_auth();
                }
                let (request, version) = step(client.client_first());
                let first = self.send_version(&request, version).await?;
                if first.error_code != 0 {
                    self.broken = true;
                    return Err(failed(first.error_code, first.error_message, &login.mechanism));
                }
                let last = client.client_final(&first.auth_bytes).map_err(Error::Protocol)?;
                let (request, version) = step(last);
                let last = self.send_version(&request, version).await?;
                if last.error_code != 0 {
                    self.broken = true;
                    return Err(failed(last.error_code, last.error_message, &login.mechanism));
                }
                client
                    .verify_server_final(&last.auth_bytes)
                    .map_err(Error::Protocol)
            }
            other => Err(Error::Invalid(format!(
                "SASL mechanism {other} is not offered by this client (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512)"
            ))),
        }
    }

    /// The address this connection was made to.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// The settings in use.
    pub fn config(&self) -> &ConnectionConfig {
        &self.config
    }

    /// Whether an earlier failure left the connection unusable.
    pub fn is_broken(&self) -> bool {
        self.broken
    }

    /// The ApiVersions version the handshake settled on (3 normally; lower
    /// after a KIP-511 fallback).
    pub fn api_versions_version(&self) -> i16 {
        self.api_versions_version
    }

    /// The versions of `api` the broker advertised, if any.
    pub fn broker_versions(&self, api: ApiKey) -> Option<VersionRange> {
        self.broker_versions.get(&(api as i16)).copied()
    }

    /// The version [`send`](Self::send) uses for `api`: the highest that
    /// both sides support.
    pub fn negotiated_version(&self, api: ApiKey) -> Result<i16> {
        let ours = our_versions(api);
        let theirs = self.broker_versions(api);
        theirs
            .and_then(|t| pick_version(ours, t))
            .ok_or(Error::UnsupportedVersion { api, ours, theirs })
    }

    /// Like [`negotiated_version`](Self::negotiated_version), but fails when
    /// the result is below `min` (for features that older versions lack, e.g.
    /// record batches v2 need Produce v3+).
    pub fn negotiated_version_at_least(&self, api: ApiKey, min: i16) -> Result<i16> {
        let v = self.negotiated_version(api)?;
        if v < min {
            let ours = our_versions(api);
            return Err(Error::UnsupportedVersion {
                api,
                ours: VersionRange { min, max: ours.max },
                theirs: self.broker_versions(api),
            });
        }
        Ok(v)
    }

    /// Sends `req` in the negotiated version and returns the answer.
    pub async fn send<R: Request>(&mut self, req: &R) -> Result<R::Response> {
        let version = self.negotiated_version(R::API_KEY)?;
        self.send_version(req, version).await
    }

    /// Sends `req` in `version`, which must be one this crate knows; it is
    /// not checked against what the broker advertised (tests use this to
    /// send versions a broker should refuse).
    pub async fn send_version<R: Request>(&mut self, req: &R, version: i16) -> Result<R::Response> {
        let timeout = self.config.request_timeout;
        self.send_version_timeout(req, version, timeout).await
    }

    /// [`send_version`](Self::send_version) with an explicit time limit (a
    /// long-polling fetch needs its wait on top of the usual limit).
    pub async fn send_version_timeout<R: Request>(
        &mut self,
        req: &R,
        version: i16,
        timeout: Duration,
    ) -> Result<R::Response> {
        let mut body = self.exchange(req, version, timeout).await?;
        let response = R::Response::decode(&mut body, version).map_err(|source| {
            self.broken = true;
            Error::Decode {
                api: R::API_KEY,
                version,
                source,
            }
        })?;
        if !body.is_empty() {
            self.broken = true;
            return Err(Error::Protocol(format!(
                "{} bytes left over after a {} v{version} response from {}",
                body.len(),
                R::API_KEY.name(),
                self.addr
            )));
        }
        Ok(response)
    }

    /// Sends a request the broker does not answer (Produce with acks=0).
    pub async fn send_without_response<R: Request>(&mut self, req: &R, version: i16) -> Result<()> {
        let timeout = self.config.request_timeout;
        self.check_usable()?;
        self.encode_request(req, version)?;
        let result = tokio::time::timeout(timeout, self.write_out()).await;
        self.finish(R::API_KEY, timeout, result)
    }

    fn check_usable(&self) -> Result<()> {
        if self.broken {
            return Err(Error::Io {
                addr: self.addr.clone(),
                source: std::io::Error::new(
                    std::io::ErrorKind::NotConnected,
                    "the connection was dropped after an earlier failure",
                ),
            });
        }
        Ok(())
    }

    /// Encodes header + body into the write buffer; returns the correlation id.
    fn encode_request<R: Request>(&mut self, req: &R, version: i16) -> Result<i32> {
        let api = R::API_KEY;
        if !R::VERSIONS.contains(version) {
            return Err(Error::UnsupportedVersion {
                api,
                ours: R::VERSIONS,
                theirs: self.broker_versions(api),
            });
        }
        let correlation_id = self.next_correlation_id;
        self.next_correlation_id = self.next_correlation_id.wrapping_add(1);
        let header = RequestHeader {
            request_api_key: api as i16,
            request_api_version: version,
            correlation_id,
            client_id: self.config.client_id.clone(),
            ..Default::default()
        };
        let buf = &mut self.write_buf;
        buf.clear();
        buf.extend_from_slice(&[0; 4]);
        let encode_err = |source| Error::Encode {
            api,
            version,
            source,
        };
        header
            .encode(buf, api.request_header_version(version))
            .map_err(encode_err)?;
        req.encode(buf, version).map_err(encode_err)?;
        let len = buf.len() - 4;
        let len = i32::try_from(len)
            .map_err(|_| Error::Invalid(format!("{} request of {len} bytes", api.name())))?;
        buf[..4].copy_from_slice(&len.to_be_bytes());
        Ok(correlation_id)
    }

    async fn write_out(&mut self) -> Result<()> {
        let addr = &self.addr;
        // The flush sends what a TLS stream sealed but could not send yet
        // (the socket was full); without it a request larger than the
        // socket's buffer could wait for the next one.
        let written = match self.stream.write_all(&self.write_buf).await {
            Ok(()) => self.stream.flush().await,
            Err(e) => Err(e),
        };
        written.map_err(|source| Error::Io {
            addr: addr.clone(),
            source,
        })
    }

    /// Reads one whole frame (without its size prefix).
    async fn read_frame(&mut self) -> Result<Bytes> {
        loop {
            match split_frame(&mut self.read_buf, self.config.max_response_size) {
                Ok(Some(frame)) => return Ok(frame),
                Ok(None) => {}
                Err(source) => {
                    return Err(Error::Frame {
                        addr: self.addr.clone(),
                        source,
                    })
                }
            }
            self.read_buf.reserve(64 * 1024);
            let n = self
                .stream
                .read_buf(&mut self.read_buf)
                .await
                .map_err(|source| Error::Io {
                    addr: self.addr.clone(),
                    source,
                })?;
            if n == 0 {
                return Err(Error::Io {
                    addr: self.addr.clone(),
                    source: std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        "the broker closed the connection",
                    ),
                });
            }
        }
    }

    /// Writes `req`, reads its answer, checks the response header, and
    /// returns the body bytes.
    async fn exchange<R: Request>(
        &mut self,
        req: &R,
        version: i16,
        timeout: Duration,
    ) -> Result<Bytes> {
        self.check_usable()?;
        let correlation_id = self.encode_request(req, version)?;
        let api = R::API_KEY;
        let result = tokio::time::timeout(timeout, async {
            self.write_out().await?;
            let mut frame = self.read_frame().await?;
            let header = ResponseHeader::decode(&mut frame, api.response_header_version(version))
                .map_err(|source| Error::Decode {
                api,
                version,
                source,
            })?;
            if header.correlation_id != correlation_id {
                return Err(Error::Protocol(format!(
                    "{} answered correlation id {} to {} request {correlation_id}",
                    self.addr,
                    header.correlation_id,
                    api.name()
                )));
            }
            Ok(frame)
        })
        .await;
        self.finish(api, timeout, result)
    }

    /// Turns a timed-out or failed exchange into the error, marking the
    /// connection broken.
    fn finish<T>(
        &mut self,
        api: ApiKey,
        timeout: Duration,
        result: std::result::Result<Result<T>, tokio::time::error::Elapsed>,
    ) -> Result<T> {
        match result {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => {
                self.broken = true;
                Err(e)
            }
            Err(_) => {
                self.broken = true;
                Err(Error::Timeout {
                    addr: self.addr.clone(),
                    api,
                    after: timeout,
                })
            }
        }
    }

    /// ApiVersions, with the KIP-511 fallback: a broker that does not know
    /// our ApiVersions version answers UNSUPPORTED_VERSION in a v0 body,
    /// listing the ApiVersions versions it does know; we retry once with the
    /// highest of those (v0 when it lists none).
    async fn handshake(&mut self) -> Result<()> {
        let mut version = INITIAL_API_VERSIONS_VERSION.min(ApiKey::ApiVersions.versions().max);
        let mut retried = false;
        loop {
            let req = ApiVersionsRequest {
                client_software_name: self.config.client_software_name.clone(),
                client_software_version: self.config.client_software_version.clone(),
                ..Default::default()
            };
            let timeout = self.config.request_timeout;
            let body = self.exchange(&req, version, timeout).await?;
            let response = decode_api_versions_response(body, version).inspect_err(|_| {
                self.broken = true;
            })?;
            match ErrorCode(response.error_code) {
                ErrorCode::NONE => {
                    self.api_versions_version = version;
                    self.broker_versions = response
                        .api_keys
                        .iter()
                        .map(|k| {
                            (
                                k.api_key,
                                VersionRange {
                                    min: k.min_version,
                                    max: k.max_version,
                                },
                            )
                        })
                        .collect();
                    debug!(
                        addr = %self.addr,
                        api_versions_version = version,
                        apis = self.broker_versions.len(),
                        "connected"
                    );
                    return Ok(());
                }
                ErrorCode::UNSUPPORTED_VERSION if !retried && version > 0 => {
                    let theirs = response
                        .api_keys
                        .iter()
                        .find(|k| k.api_key == ApiKey::ApiVersions as i16)
                        .map(|k| k.max_version);
                    let next = theirs.unwrap_or(0).clamp(0, version - 1);
                    debug!(
                        addr = %self.addr,
                        from = version,
                        to = next,
                        "broker refused our ApiVersions version; falling back"
                    );
                    version = next;
                    retried = true;
                }
                code => {
                    return Err(Error::broker(
                        code,
                        None,
                        format!("ApiVersions v{version} to {}", self.addr),
                    ))
                }
            }
        }
    }
}

/// Decodes an ApiVersions answer to a request of `version`. Every version's
/// body starts with the error code; an UNSUPPORTED_VERSION answer is a v0
/// body whatever version was asked (KIP-511).
fn decode_api_versions_response(mut body: Bytes, version: i16) -> Result<ApiVersionsResponse> {
    let decode_err = |source, version| Error::Decode {
        api: ApiKey::ApiVersions,
        version,
        source,
    };
    let code = if body.len() >= 2 {
        ErrorCode(i16::from_be_bytes([body[0], body[1]]))
    } else {
        ErrorCode::NONE
    };
    let version = if code == ErrorCode::UNSUPPORTED_VERSION {
        0
    } else {
        version
    };
    let response =
        ApiVersionsResponse::decode(&mut body, version).map_err(|e| decode_err(e, version))?;
    if body.has_remaining() {
        return Err(Error::Protocol(format!(
            "{} bytes left over after an ApiVersions v{version} response",
            body.len()
        )));
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_picking() {
        let r = |min, max| VersionRange { min, max };
        assert_eq!(pick_version(r(0, 12), r(0, 9)), Some(9));
        assert_eq!(pick_version(r(0, 9), r(3, 12)), Some(9));
        assert_eq!(pick_version(r(4, 9), r(0, 3)), None);
        assert_eq!(pick_version(r(0, 0), r(0, 0)), Some(0));
    }

    #[test]
    fn unstable_latest_versions_are_not_offered() {
        for api in [ApiKey::Produce, ApiKey::Fetch, ApiKey::Metadata] {
            assert!(our_versions(api).max <= api.versions().max);
        }
        if ApiKey::EndTxn.latest_version_unstable() {
            assert_eq!(
                our_versions(ApiKey::EndTxn).max,
                ApiKey::EndTxn.versions().max - 1
            );
        }
    }
}
