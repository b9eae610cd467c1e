//! The client side of a listener's TLS, for the connections a node opens
//! to that listener on other nodes (replica fetchers, the controller
//! channel, quorum voters), made from the same `ssl.*` settings as Kafka
//! makes it, and kept current when the key or trust store files change.
//!
//! The rustls [`ClientConfig`] handed out never changes: its certificate
//! verifier and its client certificate are indirections to the parts last
//! loaded, which [`OutboundTls::reload_if_changed`] swaps. So connections
//! opened after a rotation use the new files, while the `Arc` held by
//! every connection factory stays the same. Connections already open keep
//! the session they made. Session resumption is off: a resumed TLS 1.3
//! session skips the server's certificate, so a session cached before a
//! rotation would let a peer the new trust store refuses back in (and
//! rustls would not notice the change, the verifier object being the
//! same). Connections between nodes are long-lived, so a full handshake
//! each costs little.

use std::sync::{Arc, Mutex, RwLock};
use std::time::SystemTime;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{ResolvesClientCert, WebPkiServerVerifier};
use rustls::crypto::CryptoProvider;
use rustls::sign::CertifiedKey;
use rustls::{CertificateError, ClientConfig, DigitallySignedStruct, SignatureScheme};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use tracing::{info, warn};

use crate::server::{provider, stamps, versions};
use crate::settings::{TlsError, TlsSettings};
use crate::stores::{keystore, roots, truststore, Identity};

/// A listener's outbound TLS: a stable rustls configuration whose trust
/// and identity follow the files.
pub struct OutboundTls {
    settings: TlsSettings,
    verify_host_name: bool,
    provider: Arc<CryptoProvider>,
    config: Arc<ClientConfig>,
    parts: Arc<Parts>,
    /// (modification time, length) of each watched file when the parts
    /// were loaded, or when a failed reload was last tried.
    stamps: Mutex<Vec<Option<(SystemTime, u64)>>>,
}

/// What a reload replaces.
#[derive(Debug)]
struct Parts {
    verifier: RwLock<Arc<dyn ServerCertVerifier>>,
    /// `None` when no key store is set: no certificate is presented.
    identity: RwLock<Option<Arc<CertifiedKey>>>,
}

impl OutboundTls {
    /// Loads the settings; errors name the listener and the setting.
    /// `verify_host_name` is `ssl.endpoint.identification.algorithm=https`;
    /// without it the chain is still verified but not the name it is for.
    pub fn new(settings: TlsSettings, verify_host_name: bool) -> Result<OutboundTls, TlsError> {
        let provider = provider(&settings)?;
        let file_stamps = stamps(&settings);
        let (verifier, identity) = load(&settings, verify_host_name, &provider)?;
        let parts = Arc::new(Parts {
            verifier: RwLock::new(verifier),
            identity: RwLock::new(identity),
        });
        let l = &settings.listener;
        let mut config = ClientConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&versions(&settings)?)
            .map_err(|e| TlsError::config(format!("listener {l}: {e}")))?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(CurrentVerifier(parts.clone())))
            .with_client_cert_resolver(Arc::new(CurrentIdentity(parts.clone())));
        config.resumption = rustls::client::Resumption::disabled();
        Ok(OutboundTls {
            settings,
            verify_host_name,
            provider,
            config: Arc::new(config),
            parts,
            stamps: Mutex::new(file_stamps),
        })
    }

    /// The configuration to dial with; the same `Arc` for the life of this.
    pub fn config(&self) -> Arc<ClientConfig> {
        self.config.clone()
    }

    pub fn settings(&self) -> &TlsSettings {
        &self.settings
    }

    /// Loads the key and trust stores again if a watched file changed
    /// since the last look; returns true when the new ones are in use. A
    /// set that does not load (a half-copied file) is logged and the last
    /// good one stays. Reads the disk with no lock held.
    pub fn reload_if_changed(&self) -> bool {
        let now = stamps(&self.settings);
        if *self.stamps.lock().expect("tls lock") == now {
            return false;
        }
        let loaded = load(&self.settings, self.verify_host_name, &self.provider);
        *self.stamps.lock().expect("tls lock") = now;
        let l = &self.settings.listener;
        match loaded {
            Ok((verifier, identity)) => {
                *self.parts.verifier.write().expect("tls lock") = verifier;
                *self.parts.identity.write().expect("tls lock") = identity;
                info!(listener = %l, "TLS key store or trust store changed: this node's connections to other nodes use the new ones");
                true
            }
            Err(e) => {
                warn!(listener = %l, "TLS files changed but do not load, keeping the previous ones for connections to other nodes: {e}");
                false
            }
        }
    }
}

impl std::fmt::Debug for OutboundTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutboundTls")
            .field("listener", &self.settings.listener)
            .field("verify_host_name", &self.verify_host_name)
            .finish_non_exhaustive()
    }
}

type Loaded = (Arc<dyn ServerCertVerifier>, Option<Arc<CertifiedKey>>);

fn load(
    s: &TlsSettings,
    verify_host_name: bool,
    provider: &Arc<CryptoProvider>,
) -> Result<Loaded, TlsError> {
    let l = &s.listener;
    let Some(trusted) = truststore(s)? else {
        return Err(TlsError::config(format!(
            "listener {l}: this node connects to it on other nodes and needs a trust store to \
             verify their certificates: set ssl.truststore.location (or ssl.truststore.certificates)"
        )));
    };
    let roots = Arc::new(roots(trusted, &format!("listener {l} trust store"))?);
    let webpki = WebPkiServerVerifier::builder_with_provider(roots, provider.clone())
        .build()
        .map_err(|e| TlsError::config(format!("listener {l} trust store: {e}")))?;
    let verifier: Arc<dyn ServerCertVerifier> = if verify_host_name {
        webpki
    } else {
        Arc::new(AnyHostName(webpki))
    };
    let has_keystore = s.keystore_location.is_some() || s.keystore_key.is_some();
    let identity = if has_keystore {
        let Identity { chain, key } = keystore(s)?;
        let certified = CertifiedKey::from_der(chain, key, provider)
            .map_err(|e| TlsError::config(format!("listener {l} key store: {e}")))?;
        Some(Arc::new(certified))
    } else {
        None
    };
    Ok((verifier, identity))
}

/// The verifier last loaded.
#[derive(Debug)]
struct CurrentVerifier(Arc<Parts>);

impl CurrentVerifier {
    fn current(&self) -> Arc<dyn ServerCertVerifier> {
        self.0.verifier.read().expect("tls lock").clone()
    }
}

impl ServerCertVerifier for CurrentVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.current().verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        )
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.current().verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.current().verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.current().supported_verify_schemes()
    }
}

/// The client certificate last loaded, presented when a server asks.
#[derive(Debug)]
struct CurrentIdentity(Arc<Parts>);

impl ResolvesClientCert for CurrentIdentity {
    fn resolve(
        &self,
        _root_hint_subjects: &[&[u8]],
        _sigschemes: &[SignatureScheme],
    ) -> Option<Arc<CertifiedKey>> {
        self.0.identity.read().expect("tls lock").clone()
    }

    fn has_certs(&self) -> bool {
        self.0.identity.read().expect("tls lock").is_some()
    }
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
