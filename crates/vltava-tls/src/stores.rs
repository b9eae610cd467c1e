//! Key and trust stores as Kafka names them: `ssl.keystore.*` gives the
//! listener's private key and certificate chain, `ssl.truststore.*` the
//! certificates it trusts. Three formats are read:
//!
//! - PEM (`ssl.*.type=PEM`): a file, or the inline `ssl.keystore.key` /
//!   `ssl.keystore.certificate.chain` / `ssl.truststore.certificates`; the
//!   key a PKCS#8 `PRIVATE KEY` (or PKCS#1 / SEC1), or an `ENCRYPTED
//!   PRIVATE KEY` opened with `ssl.key.password` (PBES2 with AES, or
//!   3DES, by RustCrypto's `pkcs8`);
//! - PKCS12 (`ssl.*.type=PKCS12`, Java's default key store format since
//!   Java 9, what `keytool` and `openssl pkcs12 -export` write), opened
//!   with `ssl.keystore.password` / `ssl.truststore.password` by the
//!   `p12-keystore` crate: PKCS#12's MACs and its PBES1 and PBES2
//!   encryption are a format reader's job, not ours;
//! - JKS (`ssl.*.type=JKS`, Kafka's default type), Java's own format, read
//!   by [`crate::jks`].
//!
//! As Java does since 9 (`keystore.type.compat`), a store's type names a
//! family rather than a format: a file typed JKS that holds PKCS12 is read
//! as PKCS12, and the other way round, so a `.jks` file that a modern
//! keytool wrote in PKCS12 works as it does in Kafka. JCEKS is refused
//! with a message saying how to convert it.

use std::path::Path;

use p12_keystore::{KeyStore, KeyStoreEntry, Pkcs12Archive, Pkcs12ImportPolicy};
use pkcs8::EncryptedPrivateKeyInfoRef;
use rustls::RootCertStore;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use crate::ec_key;
use crate::jks::{self, JCEKS_MAGIC, JKS_MAGIC};
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

/// Java's two binary store formats, told apart by their first bytes.
enum BinaryFormat {
    Jks,
    Pkcs12,
}

fn binary_format(data: &[u8], what: &str) -> Result<BinaryFormat, TlsError> {
    if std::str::from_utf8(data).is_ok_and(|t| t.contains("-----BEGIN")) {
        return Err(TlsError::config(format!(
            "{what} is a PEM file, not JKS or PKCS12: set its type to PEM (or leave it unset)"
        )));
    }
    if data.starts_with(&JKS_MAGIC) {
        Ok(BinaryFormat::Jks)
    } else if data.starts_with(&JCEKS_MAGIC) {
        Err(TlsError::config(format!(
            "{what} is JCEKS, which is not read; convert it to PKCS12 \
             (keytool -importkeystore -srckeystore FILE -srcstoretype JCEKS -destkeystore FILE.p12 -deststoretype PKCS12) \
             and set the store's type to PKCS12"
        )))
    } else {
        Ok(BinaryFormat::Pkcs12)
    }
}

/// The type a store is read as: its own, or for [`StoreType::Unset`] the
/// one its file's content shows.
fn effective_type(
    store_type: StoreType,
    location: Option<&Path>,
    setting: &str,
    listener: &str,
) -> Result<StoreType, TlsError> {
    match (store_type, location) {
        (StoreType::Unset, Some(path)) => {
            let data = read(path, setting, listener)?;
            // JKS and JCEKS by their magic numbers, PKCS12 as a DER
            // SEQUENCE; anything else goes to the PEM reader, whose
            // messages fit a text file best.
            let binary = data.starts_with(&JKS_MAGIC)
                || data.starts_with(&JCEKS_MAGIC)
                || data.first() == Some(&0x30);
            Ok(if binary {
                StoreType::Jks
            } else {
                StoreType::Pem
            })
        }
        (StoreType::Unset, None) => Ok(StoreType::Pem),
        (known, _) => Ok(known),
    }
}

/// The listener's key and chain, from its key store; an EC key Java wrote
/// without its public key gets it from the certificate (see `ec_key`).
pub(crate) fn keystore(s: &TlsSettings) -> Result<Identity, TlsError> {
    let Identity { chain, key } = read_keystore(s)?;
    let key = match chain.first() {
        Some(leaf) => ec_key::with_public_key(key, leaf),
        None => key,
    };
    Ok(Identity { chain, key })
}

fn read_keystore(s: &TlsSettings) -> Result<Identity, TlsError> {
    let l = &s.listener;
    let what = format!("listener {l} key store");
    let store_type = effective_type(
        s.keystore_type,
        s.keystore_location.as_deref(),
        "ssl.keystore.location",
        l,
    )?;
    match store_type {
        StoreType::Jks | StoreType::Pkcs12 => {
            if s.keystore_key.is_some() || s.keystore_certificate_chain.is_some() {
                return Err(TlsError::config(format!(
                    "listener {l}: ssl.keystore.key and ssl.keystore.certificate.chain are PEM; \
                     with ssl.keystore.type=JKS or PKCS12 set ssl.keystore.location"
                )));
            }
            let Some(path) = &s.keystore_location else {
                return Err(TlsError::config(format!(
                    "listener {l} uses TLS but has no key store: set ssl.keystore.location"
                )));
            };
            let data = read(path, "ssl.keystore.location", l)?;
            match binary_format(&data, &what)? {
                BinaryFormat::Pkcs12 => {
                    // Java stores a PKCS12 key under the store's password; a
                    // separate ssl.key.password is only a fallback.
                    let password = s
                        .keystore_password
                        .as_deref()
                        .or(s.key_password.as_deref())
                        .unwrap_or("");
                    pkcs12_identity(&data, password, &what)
                }
                BinaryFormat::Jks => jks_identity(&data, s, &what),
            }
        }
        StoreType::Pem | StoreType::Unset => {
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
                key: private_key(&pem, s.key_password.as_deref(), &what)?,
            })
        }
    }
}

/// The one private key of a JKS key store and its chain. The store's
/// digest is checked with `ssl.keystore.password`; the key opens with
/// `ssl.key.password`, else with the store's password, as in Kafka.
fn jks_identity(data: &[u8], s: &TlsSettings, what: &str) -> Result<Identity, TlsError> {
    let fail = |e: String| TlsError::config(format!("{what}: cannot open the JKS file: {e}"));
    let store = jks::parse(data, s.keystore_password.as_deref()).map_err(fail)?;
    let key = match store.keys.as_slice() {
        [one] => one,
        [] => {
            return Err(TlsError::config(format!(
                "{what}: the JKS file holds no private key with its certificate"
            )))
        }
        many => {
            let aliases: Vec<&str> = many.iter().map(|k| k.alias.as_str()).collect();
            return Err(TlsError::config(format!(
                "{what}: the JKS file holds {} private keys ({}); a listener's key store must hold one",
                many.len(),
                aliases.join(", ")
            )));
        }
    };
    let Some(password) = s.key_password.as_deref().or(s.keystore_password.as_deref()) else {
        return Err(TlsError::config(format!(
            "{what}: a JKS key needs a password: set ssl.keystore.password (and ssl.key.password if the key's differs)"
        )));
    };
    if key.chain.is_empty() {
        return Err(TlsError::config(format!(
            "{what}: the key {} has no certificate",
            key.alias
        )));
    }
    let der = key.recover(password).map_err(fail)?;
    Ok(Identity {
        chain: key
            .chain
            .iter()
            .cloned()
            .map(CertificateDer::from)
            .collect(),
        key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(der)),
    })
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
    let store_type = effective_type(
        s.truststore_type,
        s.truststore_location.as_deref(),
        "ssl.truststore.location",
        l,
    )?;
    match store_type {
        StoreType::Jks | StoreType::Pkcs12 => {
            let Some(path) = &s.truststore_location else {
                return Err(TlsError::config(format!(
                    "listener {l}: ssl.truststore.certificates is PEM; with ssl.truststore.type=JKS or PKCS12 set ssl.truststore.location"
                )));
            };
            let data = read(path, "ssl.truststore.location", l)?;
            match binary_format(&data, &what)? {
                BinaryFormat::Pkcs12 => {
                    let password = s.truststore_password.as_deref().unwrap_or("");
                    pkcs12_certificates(&data, password, &what).map(Some)
                }
                BinaryFormat::Jks => {
                    jks_certificates(&data, s.truststore_password.as_deref(), &what).map(Some)
                }
            }
        }
        StoreType::Pem | StoreType::Unset => {
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

/// The certificates a JKS trust store holds: its trusted entries, and the
/// certificate of each key entry, which Java trusts as well. Without
/// `ssl.truststore.password` the store's digest is not checked, as in Java
/// and Kafka.
fn jks_certificates(
    data: &[u8],
    password: Option<&str>,
    what: &str,
) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let store = jks::parse(data, password)
        .map_err(|e| TlsError::config(format!("{what}: cannot open the JKS file: {e}")))?;
    let certs: Vec<CertificateDer<'static>> = store
        .trusted
        .into_iter()
        .map(|(_, der)| der)
        .chain(
            store
                .keys
                .into_iter()
                .filter_map(|k| k.chain.into_iter().next()),
        )
        .map(CertificateDer::from)
        .collect();
    if certs.is_empty() {
        return Err(TlsError::config(format!(
            "{what}: the JKS file holds no certificate"
        )));
    }
    Ok(certs)
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

const ENCRYPTED_KEY_BEGIN: &str = "-----BEGIN ENCRYPTED PRIVATE KEY-----";
const ENCRYPTED_KEY_END: &str = "-----END ENCRYPTED PRIVATE KEY-----";

/// The private key of a PEM key store. An `ENCRYPTED PRIVATE KEY` (PKCS#8
/// EncryptedPrivateKeyInfo, what `openssl pkcs8 -topk8` and Kafka's docs
/// make) is opened with `password` (`ssl.key.password`); a key that is not
/// encrypted is read as is, with or without one.
pub(crate) fn private_key(
    pem: &[u8],
    password: Option<&str>,
    what: &str,
) -> Result<PrivateKeyDer<'static>, TlsError> {
    let text = std::str::from_utf8(pem).unwrap_or("");
    let Some(begin) = text.find(ENCRYPTED_KEY_BEGIN) else {
        return PrivateKeyDer::from_pem_slice(pem)
            .map_err(|e| TlsError::config(format!("{what}: no usable private key: {e}")));
    };
    let Some(password) = password else {
        return Err(TlsError::config(format!(
            "{what}: the private key is encrypted: set ssl.key.password"
        )));
    };
    let Some(len) = text[begin..].find(ENCRYPTED_KEY_END) else {
        return Err(TlsError::config(format!(
            "{what}: the encrypted private key has no end line"
        )));
    };
    let block = &text[begin..begin + len + ENCRYPTED_KEY_END.len()];
    let (_, document) = der::Document::from_pem(block)
        .map_err(|e| TlsError::config(format!("{what}: bad PEM encrypted private key: {e}")))?;
    let info = EncryptedPrivateKeyInfoRef::try_from(document.as_bytes()).map_err(|e| {
        TlsError::config(format!(
            "{what}: the encrypted private key does not parse: {e}"
        ))
    })?;
    let plain = info.decrypt(password).map_err(|e| {
        TlsError::config(format!(
            "{what}: the private key does not open with ssl.key.password ({e})"
        ))
    })?;
    Ok(PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
        plain.as_bytes().to_vec(),
    )))
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
