//! The rustls configuration of a listener, and its reload when the files
//! behind it change.

use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::{ring, CryptoProvider};
use rustls::server::WebPkiClientVerifier;
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, ServerConfig, SignatureScheme,
    SupportedProtocolVersion,
};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use tracing::{info, warn};

use crate::settings::{ClientAuth, TlsError, TlsSettings};
use crate::stores::{certificates, keystore, private_key, roots, truststore, Identity};

/// A listener's TLS configuration. [`ServerTls::config`] hands out the
/// current one without touching the disk; [`ServerTls::reload_if_changed`]
/// (called now and then off the accept path) makes a new one when a key,
/// certificate or trust file was replaced. A new configuration that does not
/// load is logged and the old one stays in use: a half-copied certificate
/// must not take the listener down.
pub struct ServerTls {
    settings: TlsSettings,
    current: Mutex<Current>,
}

struct Current {
    config: Arc<ServerConfig>,
    /// (modification time, length) of each watched file when `config` was
    /// made, or when a failed reload was last tried.
    stamps: Vec<Option<(SystemTime, u64)>>,
}

impl ServerTls {
    /// Loads the configuration; errors name the listener and the setting.
    pub fn new(settings: TlsSettings) -> Result<ServerTls, TlsError> {
        let stamps = stamps(&settings);
        let config = Arc::new(server_config(&settings)?);
        Ok(ServerTls {
            settings,
            current: Mutex::new(Current { config, stamps }),
        })
    }

    /// The configuration to accept a connection with.
    pub fn config(&self) -> Arc<ServerConfig> {
        self.current.lock().expect("tls lock").config.clone()
    }

    pub fn settings(&self) -> &TlsSettings {
        &self.settings
    }

    /// Makes the configuration again if a watched file changed since the
    /// last look; returns true when a new one is in use. Reads the disk;
    /// the lock is taken only to compare and to swap.
    pub fn reload_if_changed(&self) -> bool {
        let now = stamps(&self.settings);
        if self.current.lock().expect("tls lock").stamps == now {
            return false;
        }
        let loaded = server_config(&self.settings);
        let mut current = self.current.lock().expect("tls lock");
        current.stamps = now;
        match loaded {
            Ok(config) => {
                current.config = Arc::new(config);
                info!(listener = %self.settings.listener, "TLS key store or trust store changed: reloaded");
                true
            }
            Err(e) => {
                warn!(listener = %self.settings.listener, "TLS files changed but do not load, keeping the previous ones: {e}");
                false
            }
        }
    }
}

fn stamps(settings: &TlsSettings) -> Vec<Option<(SystemTime, u64)>> {
    settings
        .watched_files()
        .iter()
        .map(|path| {
            let meta = std::fs::metadata(path).ok()?;
            Some((meta.modified().ok()?, meta.len()))
        })
        .collect()
}

/// rustls on ring. ring rather than aws-lc-rs (rustls' default) because it
/// builds in seconds with no CMake-sized C library; the price is no
/// post-quantum key exchange, which rustls marks by deprecating this
/// constructor. Revisit when aws-lc-rs is in the tree for other reasons.
#[allow(deprecated)]
fn ring_provider() -> CryptoProvider {
    ring::default_provider()
}

/// The crypto provider (ring) with the suites `ssl.cipher.suites` allows.
fn provider(s: &TlsSettings) -> Result<Arc<CryptoProvider>, TlsError> {
    let mut provider = ring_provider();
    if !s.cipher_suites.is_empty() {
        let wanted: Vec<String> = s
            .cipher_suites
            .iter()
            .map(|n| n.trim().to_ascii_uppercase())
            .collect();
        let offered: Vec<String> = provider
            .cipher_suites
            .iter()
            .map(|c| iana_name(c.suite()))
            .collect();
        provider
            .cipher_suites
            .retain(|c| wanted.contains(&iana_name(c.suite())));
        if provider.cipher_suites.is_empty() {
            return Err(TlsError::config(format!(
                "listener {}: none of ssl.cipher.suites is offered; choose from {}",
                s.listener,
                offered.join(", ")
            )));
        }
    }
    Ok(Arc::new(provider))
}

/// A suite's IANA name, as Java and Kafka configurations spell it (rustls
/// names the TLS 1.3 suites `TLS13_...`).
fn iana_name(suite: rustls::CipherSuite) -> String {
    let name = suite.as_str().unwrap_or("");
    match name.strip_prefix("TLS13_") {
        Some(rest) => format!("TLS_{rest}"),
        None => name.to_string(),
    }
}

fn versions(s: &TlsSettings) -> Result<Vec<&'static SupportedProtocolVersion>, TlsError> {
    let mut out = Vec::new();
    for name in &s.enabled_protocols {
        match name.trim() {
            "TLSv1.3" => out.push(&rustls::version::TLS13),
            "TLSv1.2" => out.push(&rustls::version::TLS12),
            "" => {}
            other => {
                warn!(listener = %s.listener, "ssl.enabled.protocols: {other} is not offered (only TLSv1.2 and TLSv1.3 are)")
            }
        }
    }
    if out.is_empty() {
        return Err(TlsError::config(format!(
            "listener {}: ssl.enabled.protocols allows neither TLSv1.2 nor TLSv1.3",
            s.listener
        )));
    }
    Ok(out)
}

/// Makes a listener's rustls server configuration from its settings.
pub(crate) fn server_config(s: &TlsSettings) -> Result<ServerConfig, TlsError> {
    let l = &s.listener;
    let Identity { chain, key } = keystore(s)?;
    let provider = provider(s)?;
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&versions(s)?)
        .map_err(|e| TlsError::config(format!("listener {l}: {e}")))?;
    let trusted = truststore(s)?;
    let builder = match (s.client_auth, trusted) {
        (ClientAuth::None, _) => builder.with_no_client_auth(),
        (_, None) => {
            return Err(TlsError::config(format!(
                "listener {l}: ssl.client.auth asks for client certificates but no trust store is set (ssl.truststore.location)"
            )))
        }
        (auth, Some(certs)) => {
            let roots = roots(certs, &format!("listener {l} trust store"))?;
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
            let verifier = if auth == ClientAuth::Requested {
                verifier.allow_unauthenticated()
            } else {
                verifier
            };
            let verifier = verifier
                .build()
                .map_err(|e| TlsError::config(format!("listener {l} trust store: {e}")))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    builder
        .with_single_cert(chain, key)
        .map_err(|e| TlsError::config(format!("listener {l}: key and certificate do not fit: {e}")))
}

/// A client configuration trusting the certificates of `truststore_pem`,
/// presenting the key and chain of `identity_pem` when given: for Vltava's
/// own tools and tests.
pub fn client_config(
    truststore_pem: &[u8],
    identity_pem: Option<&[u8]>,
) -> Result<ClientConfig, TlsError> {
    let roots = roots(certificates(truststore_pem, "trust store")?, "trust store")?;
    let builder = ClientConfig::builder_with_provider(Arc::new(ring_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::config(e.to_string()))?
        .with_root_certificates(roots);
    match identity_pem {
        None => Ok(builder.with_no_client_auth()),
        Some(pem) => builder
            .with_client_auth_cert(
                certificates(pem, "client key store")?,
                private_key(pem, "client key store")?,
            )
            .map_err(|e| TlsError::config(format!("client key store: {e}"))),
    }
}

/// The client side of a listener's TLS, for the connections this node
/// opens to that listener on other nodes (replica fetchers, the controller
/// channel, quorum voters), as Kafka makes it from the same `ssl.*`
/// settings: the trust store verifies the other node's certificate, the key
/// store (when set) is the certificate presented if the server asks for
/// one, and `ssl.enabled.protocols` and `ssl.cipher.suites` apply.
/// `verify_host_name` is `ssl.endpoint.identification.algorithm=https`;
/// without it the chain is still verified but not the name it is for.
pub fn outbound_client_config(
    s: &TlsSettings,
    verify_host_name: bool,
) -> Result<ClientConfig, TlsError> {
    let l = &s.listener;
    let Some(trusted) = truststore(s)? else {
        return Err(TlsError::config(format!(
            "listener {l}: this node connects to it on other nodes and needs a trust store to \
             verify their certificates: set ssl.truststore.location (or ssl.truststore.certificates)"
        )));
    };
    let provider = provider(s)?;
    let roots = Arc::new(roots(trusted, &format!("listener {l} trust store"))?);
    let verifier = WebPkiServerVerifier::builder_with_provider(roots, provider.clone())
        .build()
        .map_err(|e| TlsError::config(format!("listener {l} trust store: {e}")))?;
    let builder = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&versions(s)?)
        .map_err(|e| TlsError::config(format!("listener {l}: {e}")))?;
    let builder = if verify_host_name {
        builder.with_webpki_verifier(verifier)
    } else {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyHostName(verifier)))
    };
    let has_keystore = s.keystore_location.is_some() || s.keystore_key.is_some();
    if !has_keystore {
        return Ok(builder.with_no_client_auth());
    }
    let Identity { chain, key } = keystore(s)?;
    builder
        .with_client_auth_cert(chain, key)
        .map_err(|e| TlsError::config(format!("listener {l} key store: {e}")))
}

/// Verifies the server's chain like webpki but accepts a certificate for
/// another host name: `ssl.endpoint.identification.algorithm=` (empty), for
/// clusters whose certificates do not name the addresses nodes dial.
#[derive(Debug)]
struct AnyHostName(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for AnyHostName {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        // webpki checks the name after the chain, so a name error means
        // the chain itself was good.
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}
