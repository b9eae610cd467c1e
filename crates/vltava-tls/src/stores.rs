//! Key and trust stores as Kafka names them: `ssl.keystore.*` gives the
//! listener's private key and certificate chain, `ssl.truststore.*` the
//! certificates it trusts. Two formats are read:
//!
//! - PEM (`ssl.*.type=PEM`): a file, or the inline `ssl.keystore.key` /
//!   `ssl.keystore.certificate.chain` / `ssl.truststore.certificates`;
//! - PKCS12 (`ssl.*.type=PKCS12`, Java's default key store format since
//!   Java 9, what `keytool` and `openssl pkcs12 -export` write), opened
//!   with `ssl.keystore.password` / `ssl.truststore.password` by the
//!   `p12-keystore` crate: PKCS#12's MACs and its PBES1 and PBES2
//!   encryption are a format reader's job, not ours.
//!
//! JKS is Java's own serialisation of its key store classes and is refused
//! with a message saying how to convert it (`keytool -importkeystore
//! -deststoretype PKCS12`).

use std::path::Path;

use p12_keystore::{KeyStore, KeyStoreEntry, Pkcs12Archive, Pkcs12ImportPolicy};
use rustls::RootCertStore;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use crate::settings::{StoreType, TlsError, TlsSettings};

/// What a key store holds for a listener.
pub(crate) struct Identity {
    /// The listener's certificate first, then the chain up to (not
    /// necessarily including) the root.
    pub chain: Vec<CertificateDer<'static>>,
    pub key: PrivateKeyDer<'static>,
}

fn read(path: &Path, what: &str, listener: &str) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|e| {
        TlsError::config(format!(
            "listener {listener}: cannot read {what} {}: {e}",
            path.display()
        ))
    })
}

fn refuse_jks(listener: &str, key: &str) -> TlsError {
    TlsError::config(format!(
        "listener {listener}: {key} is JKS, Java's own format, which is not read; convert it to PKCS12 \
         (keytool -importkeystore -srckeystore FILE -destkeystore FILE.p12 -deststoretype PKCS12) \
         and set {key}=PKCS12, or use PEM"
    ))
}

/// The listener's key and chain, from its key store.
pub(crate) fn keystore(s: &TlsSettings) -> Result<Identity, TlsError> {
    let l = &s.listener;
    let what = format!("listener {l} key store");
    match s.keystore_type {
        StoreType::Jks => Err(refuse_jks(l, "ssl.keystore.type")),
        StoreType::Pkcs12 => {
            if s.keystore_key.is_some() || s.keystore_certificate_chain.is_some() {
                return Err(TlsError::config(format!(
                    "listener {l}: ssl.keystore.key and ssl.keystore.certificate.chain are PEM; \
                     with ssl.keystore.type=PKCS12 set ssl.keystore.location"
                )));
            }
            let Some(path) = &s.keystore_location else {
                return Err(TlsError::config(format!(
                    "listener {l} uses TLS but has no key store: set ssl.keystore.location"
                )));
            };
            let data = read(path, "ssl.keystore.location", l)?;
            // Java stores a PKCS12 key under the store's password; a
            // separate ssl.key.password is only a fallback.
            let password = s
                .keystore_password
                .as_deref()
                .or(s.key_password.as_deref())
                .unwrap_or("");
            pkcs12_identity(&data, password, &what)
        }
        StoreType::Pem => {
            let pem = match (&s.keystore_location, &s.keystore_key, &s.keystore_certificate_chain) {
                (Some(path), None, None) => read(path, "ssl.keystore.location", l)?,
                (None, Some(key), Some(chain)) => format!("{key}\n{chain}\n").into_bytes(),
                (None, None, None) => return Err(TlsError::config(format!(
                    "listener {l} uses TLS but has no key store: set ssl.keystore.location (or ssl.keystore.key and ssl.keystore.certificate.chain)"
                ))),
                _ => return Err(TlsError::config(format!(
                    "listener {l}: set either ssl.keystore.location or both ssl.keystore.key and ssl.keystore.certificate.chain"
                ))),
            };
            Ok(Identity {
                chain: certificates(&pem, &what)?,
                key: private_key(&pem, &what)?,
            })
        }
    }
}

/// The one private key of a PKCS12 key store and its chain.
pub(crate) fn pkcs12_identity(
    data: &[u8],
    password: &str,
    what: &str,
) -> Result<Identity, TlsError> {
    let store = KeyStore::from_pkcs12(data, password, Pkcs12ImportPolicy::Strict)
        .map_err(|e| TlsError::config(format!("{what}: cannot open the PKCS12 file: {e}")))?;
    let chains: Vec<(&String, &p12_keystore::PrivateKeyChain)> = store
        .entries()
        .filter_map(|(alias, entry)| match entry {
            KeyStoreEntry::PrivateKeyChain(chain) => Some((alias, chain)),
            _ => None,
        })
        .collect();
    let (alias, chain) = match chains.as_slice() {
        [one] => *one,
        [] => {
            return Err(TlsError::config(format!(
                "{what}: the PKCS12 file holds no private key with its certificate"
            )))
        }
        many => {
            let aliases: Vec<&str> = many.iter().map(|(a, _)| a.as_str()).collect();
            return Err(TlsError::config(format!(
                "{what}: the PKCS12 file holds {} private keys ({}); a listener's key store must hold one",
                many.len(),
                aliases.join(", ")
            )));
        }
    };
    if chain.certs().is_empty() {
        return Err(TlsError::config(format!(
            "{what}: the key {alias} has no certificate"
        )));
    }
    Ok(Identity {
        chain: chain
            .certs()
            .iter()
            .map(|c| CertificateDer::from(c.as_der().to_vec()))
            .collect(),
        key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(chain.key().as_der().to_vec())),
    })
}

/// The trusted certificates: from the trust store file or the inline PEM;
/// `None` when neither is set.
pub(crate) fn truststore(
    s: &TlsSettings,
) -> Result<Option<Vec<CertificateDer<'static>>>, TlsError> {
    let l = &s.listener;
    let what = format!("listener {l} trust store");
    if s.truststore_location.is_none() && s.truststore_certificates.is_none() {
        return Ok(None);
    }
    match s.truststore_type {
        StoreType::Jks => Err(refuse_jks(l, "ssl.truststore.type")),
        StoreType::Pkcs12 => {
            let Some(path) = &s.truststore_location else {
                return Err(TlsError::config(format!(
                    "listener {l}: ssl.truststore.certificates is PEM; with ssl.truststore.type=PKCS12 set ssl.truststore.location"
                )));
            };
            let data = read(path, "ssl.truststore.location", l)?;
            let password = s.truststore_password.as_deref().unwrap_or("");
            pkcs12_certificates(&data, password, &what).map(Some)
        }
        StoreType::Pem => {
            let pem = match (&s.truststore_location, &s.truststore_certificates) {
                (Some(path), None) => read(path, "ssl.truststore.location", l)?,
                (None, Some(inline)) => inline.clone().into_bytes(),
                _ => {
                    return Err(TlsError::config(format!(
                        "listener {l}: set only one of ssl.truststore.location and ssl.truststore.certificates"
                    )))
                }
            };
            certificates(&pem, &what).map(Some)
        }
    }
}

/// Every certificate of a PKCS12 trust store. `keytool -importcert` marks
/// them trusted for Java, `openssl pkcs12 -export -nokeys` does not; a
/// trust store's certificates are all meant to be trusted either way.
pub(crate) fn pkcs12_certificates(
    data: &[u8],
    password: &str,
    what: &str,
) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let archive = Pkcs12Archive::from_pkcs12(data, password)
        .map_err(|e| TlsError::config(format!("{what}: cannot open the PKCS12 file: {e}")))?;
    let certs: Vec<CertificateDer<'static>> = archive
        .certs
        .iter()
        .map(|bag| CertificateDer::from(bag.cert.as_der().to_vec()))
        .collect();
    if certs.is_empty() {
        return Err(TlsError::config(format!(
            "{what}: the PKCS12 file holds no certificate"
        )));
    }
    Ok(certs)
}

pub(crate) fn certificates(
    pem: &[u8],
    what: &str,
) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::config(format!("{what}: bad PEM certificate: {e}")))?;
    if certs.is_empty() {
        return Err(TlsError::config(format!("{what}: no certificate found")));
    }
    Ok(certs)
}

pub(crate) fn private_key(pem: &[u8], what: &str) -> Result<PrivateKeyDer<'static>, TlsError> {
    if std::str::from_utf8(pem).is_ok_and(|t| t.contains("ENCRYPTED PRIVATE KEY")) {
        return Err(TlsError::config(format!(
            "{what}: the private key is encrypted; give it unencrypted (openssl pkcs8 -nocrypt) and protect the file instead"
        )));
    }
    PrivateKeyDer::from_pem_slice(pem)
        .map_err(|e| TlsError::config(format!("{what}: no usable private key: {e}")))
}

pub(crate) fn roots(
    certs: Vec<CertificateDer<'static>>,
    what: &str,
) -> Result<RootCertStore, TlsError> {
    let mut roots = RootCertStore::empty();
    for cert in certs {
        roots
            .add(cert)
            .map_err(|e| TlsError::config(format!("{what}: unusable certificate: {e}")))?;
    }
    Ok(roots)
}
