//! A small HTTP/1.1 client for what the node and its tools ask of other
//! HTTP servers: the lag notifier's webhook POSTs, `vltava groups lag`
//! reading a node's Burrow endpoint, and an OAUTHBEARER listener's JWKS
//! endpoint. One request per connection (none asks often enough for
//! pooling to matter), hyper's client connection
//! for the protocol, rustls on ring for `https://` with Mozilla's roots
//! (webpki-roots), so a public endpoint works with no setup.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
pub use hyper::Method;
use hyper::Uri;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// A URL taken apart: scheme, host, port and the path with its query.
#[derive(Clone, Debug, PartialEq)]
pub struct Target {
    pub https: bool,
    pub host: String,
    pub port: u16,
    pub path: String,
}

impl Target {
    /// An `http://` or `https://` URL; the error says what is wrong with it.
    pub fn parse(url: &str) -> Result<Target, String> {
        let uri: Uri = url.parse().map_err(|e| format!("{e}"))?;
        let https = match uri.scheme_str() {
            Some("http") => false,
            Some("https") => true,
            _ => return Err("the scheme must be http or https".into()),
        };
        let host = uri.host().ok_or("no host")?;
        // A bracketed IPv6 literal is kept bracketed in Host, not when
        // connecting or naming the TLS server.
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        let path = uri
            .path_and_query()
            .map(|p| p.as_str().to_string())
            .filter(|p| !p.is_empty())
            .unwrap_or_else(|| "/".into());
        Ok(Target {
            https,
            host,
            port,
            path,
        })
    }

    fn host_header(&self) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        let default = if self.https { 443 } else { 80 };
        if self.port == default {
            host
        } else {
            format!("{host}:{}", self.port)
        }
    }
}

/// Makes requests; holds the TLS configuration, built once.
#[derive(Clone)]
pub struct HttpClient {
    tls: tokio_rustls::TlsConnector,
    user_agent: &'static str,
    /// `Authorization` for every request (HTTP Basic), when set.
    authorization: Option<String>,
}

impl HttpClient {
    pub fn new(user_agent: &'static str) -> Result<HttpClient, String> {
        let roots = rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(ring_provider()))
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS: {e}"))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(HttpClient::with_tls(config, user_agent))
    }

    /// A client with its own TLS configuration (a private CA, a client
    /// certificate), e.g. from `vltava_tls::client_config`.
    pub fn with_tls(config: rustls::ClientConfig, user_agent: &'static str) -> HttpClient {
        HttpClient {
            tls: tokio_rustls::TlsConnector::from(Arc::new(config)),
            user_agent,
            authorization: None,
        }
    }

    /// Sends HTTP Basic credentials with every request.
    pub fn with_basic_auth(mut self, user: &str, password: &str) -> HttpClient {
        use base64::Engine;
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        self.authorization = Some(format!("Basic {token}"));
        self
    }

    /// One request on a fresh connection, all of it (connecting, TLS,
    /// sending, reading the whole answer) within `timeout`: the answer's
    /// status code and body.
    pub async fn request(
        &self,
        method: Method,
        target: &Target,
        body: Option<(&'static str, Bytes)>,
        timeout: Duration,
    ) -> Result<(u16, Bytes), String> {
        tokio::time::timeout(timeout, self.exchange(method, target, body))
            .await
            .map_err(|_| format!("no answer within {timeout:?}"))?
    }

    async fn exchange(
        &self,
        method: Method,
        target: &Target,
        body: Option<(&'static str, Bytes)>,
    ) -> Result<(u16, Bytes), String> {
        let tcp = TcpStream::connect((target.host.as_str(), target.port))
            .await
            .map_err(|e| format!("connect to {}:{}: {e}", target.host, target.port))?;
        let mut request = hyper::Request::builder()
            .method(method)
            .uri(target.path.as_str())
            .header(hyper::header::HOST, target.host_header())
            .header(hyper::header::USER_AGENT, self.user_agent);
        if let Some(authorization) = &self.authorization {
            request = request.header(hyper::header::AUTHORIZATION, authorization.as_str());
        }
        let body = match body {
            Some((content_type, bytes)) => {
                request = request.header(hyper::header::CONTENT_TYPE, content_type);
                bytes
            }
            None => Bytes::new(),
        };
        let request = request
            .body(Full::new(body))
            .map_err(|e| format!("request: {e}"))?;
        if !target.https {
            return send(TokioIo::new(tcp), request).await;
        }
        let name = rustls::pki_types::ServerName::try_from(target.host.clone())
            .map_err(|e| format!("TLS server name {}: {e}", target.host))?;
        let stream = self
            .tls
            .connect(name, tcp)
            .await
            .map_err(|e| format!("TLS: {e}"))?;
        send(TokioIo::new(stream), request).await
    }
}

/// rustls on ring, as the node's listeners use (vltava-tls explains the
/// choice); rustls deprecates the constructor only to flag that ring has
/// no post-quantum key exchange.
#[allow(deprecated)]
fn ring_provider() -> rustls::crypto::CryptoProvider {
    rustls::crypto::ring::default_provider()
}

async fn send<S>(
    io: TokioIo<S>,
    request: hyper::Request<Full<Bytes>>,
) -> Result<(u16, Bytes), String>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, connection) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(|e| format!("HTTP: {e}"))?;
    // The connection future drives the socket; it ends once the answer is
    // read and the sender dropped.
    tokio::spawn(async move {
        let _ = connection.await;
    });
    let answer = sender
        .send_request(request)
        .await
        .map_err(|e| format!("HTTP: {e}"))?;
    let status = answer.status().as_u16();
    let body = answer
        .into_body()
        .collect()
        .await
        .map_err(|e| format!("HTTP body: {e}"))?
        .to_bytes();
    Ok((status, body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_taken_apart_or_refused() {
        let t = Target::parse("https://hooks.example.com/services/x?y=1").unwrap();
        assert_eq!(
            t,
            Target {
                https: true,
                host: "hooks.example.com".into(),
                port: 443,
                path: "/services/x?y=1".into()
            }
        );
        assert_eq!(t.host_header(), "hooks.example.com");
        let t = Target::parse("http://[::1]:8080").unwrap();
        assert_eq!(
            (t.host.as_str(), t.port, t.path.as_str()),
            ("::1", 8080, "/")
        );
        assert_eq!(t.host_header(), "[::1]:8080");
        for bad in ["ftp://x/", "/just/a/path", "http://", "not a url"] {
            assert!(Target::parse(bad).is_err(), "{bad}");
        }
    }
}
