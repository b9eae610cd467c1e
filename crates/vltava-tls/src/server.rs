//! The rustls configuration of a listener, and its reload when the files
//! behind it change.

use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use rustls::crypto::{ring, CryptoProvider};
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, ServerConfig, SupportedProtocolVersion};
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

pub(crate) fn stamps(settings: &TlsSettings) -> Vec<Option<(SystemTime, u64)>> {
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
pub(crate) fn ring_provider() -> CryptoProvider {
    ring::default_provider()
}

/// The crypto provider (ring) with the suites `ssl.cipher.suites` allows.
pub(crate) fn provider(s: &TlsSettings) -> Result<Arc<CryptoProvider>, TlsError> {
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

pub(crate) fn versions(
    s: &TlsSettings,
) -> Result<Vec<&'static SupportedProtocolVersion>, TlsError> {
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
                private_key(pem, None, "client key store")?,
            )
            .map_err(|e| TlsError::config(format!("client key store: {e}"))),
    }
}
