//! One listener's TLS settings, with Kafka's key names, and the errors of
//! reading them.

use std::fmt;
use std::path::PathBuf;

/// `ssl.client.auth`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ClientAuth {
    /// No client certificate is asked for.
    #[default]
    None,
    /// A certificate is asked for; a client without one still connects
    /// (as the anonymous principal, or by SASL on SASL_SSL).
    Requested,
    /// A client without a trusted certificate is refused in the handshake.
    Required,
}

impl ClientAuth {
    pub fn from_name(name: &str) -> Option<ClientAuth> {
        match name.to_ascii_lowercase().as_str() {
            "none" => Some(ClientAuth::None),
            "requested" => Some(ClientAuth::Requested),
            "required" => Some(ClientAuth::Required),
            _ => None,
        }
    }
}

/// `ssl.keystore.type` / `ssl.truststore.type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreType {
    Pem,
    Pkcs12,
    Jks,
    /// The type is not set. Kafka's default is JKS; here the file decides:
    /// PEM text is read as PEM, anything else as JKS or PKCS12 (which Java
    /// also reads under the JKS type). Inline stores are PEM.
    Unset,
}

impl StoreType {
    pub fn from_name(name: &str) -> Result<StoreType, TlsError> {
        match name.to_ascii_uppercase().as_str() {
            "PEM" => Ok(StoreType::Pem),
            "PKCS12" => Ok(StoreType::Pkcs12),
            "JKS" => Ok(StoreType::Jks),
            other => Err(TlsError::config(format!(
                "unknown store type {other}: use PEM, PKCS12 or JKS"
            ))),
        }
    }
}

/// The `ssl.*` settings of one listener.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsSettings {
    /// The listener's name, for messages.
    pub listener: String,
    pub keystore_type: StoreType,
    /// `ssl.keystore.location`: a PEM file holding the private key and the
    /// certificate chain, or a PKCS12 or JKS file holding them.
    pub keystore_location: Option<PathBuf>,
    /// `ssl.keystore.password`: opens a PKCS12 or JKS key store.
    pub keystore_password: Option<String>,
    /// `ssl.keystore.key`: the private key in PEM, inline.
    pub keystore_key: Option<String>,
    /// `ssl.keystore.certificate.chain`: the chain in PEM, inline.
    pub keystore_certificate_chain: Option<String>,
    /// `ssl.key.password`: opens an encrypted PEM key, or the key of a JKS
    /// store when it differs from the store's password; for a PKCS12 key
    /// store, tried when `ssl.keystore.password` is not set.
    pub key_password: Option<String>,
    pub truststore_type: StoreType,
    /// `ssl.truststore.location`: a PEM, PKCS12 or JKS file of trusted
    /// certificates.
    pub truststore_location: Option<PathBuf>,
    /// `ssl.truststore.password`: opens a PKCS12 trust store, checks a JKS
    /// one (a JKS trust store without it is read unchecked, as in Java).
    pub truststore_password: Option<String>,
    /// `ssl.truststore.certificates`: trusted certificates in PEM, inline.
    pub truststore_certificates: Option<String>,
    pub client_auth: ClientAuth,
    /// `ssl.enabled.protocols`: TLSv1.2 and/or TLSv1.3 (older versions are
    /// not offered by rustls, and are skipped with a warning).
    pub enabled_protocols: Vec<String>,
    /// `ssl.cipher.suites`: IANA names; empty allows every suite offered.
    pub cipher_suites: Vec<String>,
    /// `ssl.principal.mapping.rules`.
    pub principal_mapping_rules: String,
}

impl TlsSettings {
    /// Settings with a PEM key store file and nothing else set.
    pub fn with_keystore(listener: &str, keystore: impl Into<PathBuf>) -> TlsSettings {
        TlsSettings {
            listener: listener.to_string(),
            keystore_type: StoreType::Unset,
            keystore_location: Some(keystore.into()),
            keystore_password: None,
            keystore_key: None,
            keystore_certificate_chain: None,
            key_password: None,
            truststore_type: StoreType::Unset,
            truststore_location: None,
            truststore_password: None,
            truststore_certificates: None,
            client_auth: ClientAuth::None,
            enabled_protocols: vec!["TLSv1.2".into(), "TLSv1.3".into()],
            cipher_suites: Vec::new(),
            principal_mapping_rules: "DEFAULT".into(),
        }
    }

    /// The files whose change means the configuration must be made again.
    pub fn watched_files(&self) -> Vec<PathBuf> {
        self.keystore_location
            .iter()
            .chain(self.truststore_location.iter())
            .cloned()
            .collect()
    }
}

/// Why a listener's TLS configuration cannot be made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsError(pub String);

impl TlsError {
    pub(crate) fn config(message: impl Into<String>) -> TlsError {
        TlsError(message.into())
    }
}

impl fmt::Display for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TlsError {}
