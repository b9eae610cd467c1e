//! EC private keys as Java writes them, made whole for ring.
//!
//! Java encodes an EC private key in PKCS#8 without the public key (the
//! optional `publicKey` of SEC 1's ECPrivateKey is left out), in JKS and in
//! the PKCS12 stores keytool writes. ring, under rustls, takes an EC key
//! only with its public key. The public key is in the certificate the key
//! store pairs the key with, so it is copied from there; ring derives the
//! public key from the private one itself and refuses a pair that does not
//! match, so a certificate for another key cannot slip through.

use der::asn1::{BitStringRef, ObjectIdentifier, OctetStringRef};
use der::{Decode, Encode, Sequence};
use pkcs8::PrivateKeyInfoRef;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// id-ecPublicKey (RFC 5480).
const EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");

/// SEC 1's ECPrivateKey (RFC 5915).
#[derive(Sequence)]
struct EcPrivateKey<'a> {
    version: u8,
    private_key: &'a OctetStringRef,
    #[asn1(context_specific = "0", optional = "true")]
    parameters: Option<ObjectIdentifier>,
    #[asn1(context_specific = "1", optional = "true")]
    public_key: Option<BitStringRef<'a>>,
}

/// `key` with the public key of `certificate` added when it is a PKCS#8
/// EC key without one; any other key as it is. Anything that does not
/// parse is left for rustls to refuse with its own message.
pub(crate) fn with_public_key(
    key: PrivateKeyDer<'static>,
    certificate: &CertificateDer<'_>,
) -> PrivateKeyDer<'static> {
    let PrivateKeyDer::Pkcs8(pkcs8) = &key else {
        return key;
    };
    match completed(pkcs8.secret_pkcs8_der(), certificate) {
        Some(der) => PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(der)),
        None => key,
    }
}

fn completed(pkcs8: &[u8], certificate: &CertificateDer<'_>) -> Option<Vec<u8>> {
    let info = PrivateKeyInfoRef::from_der(pkcs8).ok()?;
    if info.algorithm.oid != EC_PUBLIC_KEY {
        return None;
    }
    let ec = EcPrivateKey::from_der(info.private_key.as_bytes()).ok()?;
    if ec.public_key.is_some() {
        return None;
    }
    let (_, cert) = x509_parser::parse_x509_certificate(certificate.as_ref()).ok()?;
    let point = cert.public_key().subject_public_key.data.as_ref();
    let whole = EcPrivateKey {
        public_key: Some(BitStringRef::new(0, point).ok()?),
        ..ec
    }
    .to_der()
    .ok()?;
    PrivateKeyInfoRef {
        algorithm: info.algorithm,
        private_key: OctetStringRef::new(&whole).ok()?,
        public_key: None,
    }
    .to_der()
    .ok()
}
