//! A reader of JKS, Java's own key store format: Kafka's default
//! `ssl.keystore.type` and the form of many key and trust stores written by
//! `keytool` before Java 9 made PKCS12 its default.
//!
//! Written here rather than taken from a crate: the one Rust JKS crate
//! found (`jks`) has a single maintainer and pulls older majors of
//! `asn1-rs`, `rand`, `sha1` and `p12-keystore` than the ones this
//! workspace already builds. Reading the format is small: a big-endian
//! list of entries, a SHA-1 over the whole file keyed by the password, and
//! private keys under Sun's "key protector", a SHA-1 keystream.
//!
//! The layout, as `sun.security.provider.JavaKeyStore` writes it:
//! ```text
//! u32 magic 0xFEEDFEED, u32 version (1 or 2), u32 entry count
//! per entry: u32 tag (1 private key, 2 trusted certificate),
//!            alias (u16 length + modified UTF-8), u64 creation time (ms)
//!   tag 1: u32 length + the protected key, u32 chain length, then per
//!          certificate: [type as u16-length string, version 2 only]
//!          u32 length + DER
//!   tag 2: [type, version 2 only] u32 length + DER
//! 20 bytes: SHA-1(password as UTF-16BE || "Mighty Aphrodite" || all above)
//! ```
//! A protected key is a DER EncryptedPrivateKeyInfo whose algorithm is
//! Sun's key protector (OID 1.3.6.1.4.1.42.2.17.1.1) and whose data is a
//! 20-byte salt, the key XOR a keystream, and a 20-byte check. The
//! keystream is D1 || D2 || ... with D1 = SHA-1(pw || salt) and
//! Di = SHA-1(pw || Di-1); the check is SHA-1(pw || plain key), and the
//! plain key is a PKCS#8 PrivateKeyInfo.

use der::asn1::{ObjectIdentifier, OctetString};
use der::{Decode, Sequence};
use sha1::{Digest, Sha1};
use spki::AlgorithmIdentifierOwned;

/// The first four bytes of a JKS file.
pub(crate) const JKS_MAGIC: [u8; 4] = [0xFE, 0xED, 0xFE, 0xED];
/// The first four bytes of a JCEKS file, Java's other proprietary format.
pub(crate) const JCEKS_MAGIC: [u8; 4] = [0xCE, 0xCE, 0xCE, 0xCE];

/// Sun's key protector algorithm.
const KEY_PROTECTOR: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.42.2.17.1.1");

/// Refuses a file whose entry count or lengths claim more than it holds,
/// before anything is allocated for them.
const MAX_ENTRIES: u32 = 65_536;

/// What a JKS file holds.
#[derive(Debug, Default)]
pub(crate) struct JksStore {
    pub keys: Vec<JksKey>,
    /// Trusted certificate entries, DER.
    pub trusted: Vec<(String, Vec<u8>)>,
}

/// A private key entry, still protected.
#[derive(Debug)]
pub(crate) struct JksKey {
    pub alias: String,
    protected: Vec<u8>,
    /// Leaf first, DER.
    pub chain: Vec<Vec<u8>>,
}

fn password_bytes(password: &str) -> Vec<u8> {
    // Java's char[] password, each UTF-16 unit big-endian.
    password.encode_utf16().flat_map(u16::to_be_bytes).collect()
}

struct Reader<'a> {
    data: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self
            .at
            .checked_add(n)
            .filter(|end| *end <= self.data.len())
            .ok_or_else(|| format!("the file ends early (at byte {})", self.at))?;
        let out = &self.data[self.at..end];
        self.at = end;
        Ok(out)
    }

    fn u16(&mut self) -> Result<u16, String> {
        Ok(u16::from_be_bytes(self.take(2)?.try_into().unwrap()))
    }

    fn u32(&mut self) -> Result<u32, String> {
        Ok(u32::from_be_bytes(self.take(4)?.try_into().unwrap()))
    }

    fn utf(&mut self) -> Result<String, String> {
        let n = self.u16()? as usize;
        // Modified UTF-8 differs from UTF-8 only for NUL and characters
        // outside the BMP; the names are only shown in messages.
        Ok(String::from_utf8_lossy(self.take(n)?).into_owned())
    }

    fn blob(&mut self) -> Result<Vec<u8>, String> {
        let n = self.u32()? as usize;
        Ok(self.take(n)?.to_vec())
    }
}

/// Parses a JKS file and, when `password` is given, checks its integrity
/// digest (Java skips the check when a store is opened without one, as
/// Kafka does for a trust store without `ssl.truststore.password`).
pub(crate) fn parse(data: &[u8], password: Option<&str>) -> Result<JksStore, String> {
    let mut r = Reader { data, at: 0 };
    if r.take(4)? != JKS_MAGIC {
        return Err("not a JKS file".into());
    }
    let version = r.u32()?;
    if version != 1 && version != 2 {
        return Err(format!("unknown JKS version {version}"));
    }
    let count = r.u32()?;
    if count > MAX_ENTRIES {
        return Err(format!(
            "{count} entries is more than the {MAX_ENTRIES} read"
        ));
    }
    let mut store = JksStore::default();
    let cert = |r: &mut Reader<'_>| -> Result<Vec<u8>, String> {
        if version == 2 {
            let kind = r.utf()?;
            if kind != "X.509" {
                return Err(format!("a certificate of type {kind}, not X.509"));
            }
        }
        r.blob()
    };
    for _ in 0..count {
        let tag = r.u32()?;
        let alias = r.utf()?;
        r.take(8)?; // creation time
        match tag {
            1 => {
                let protected = r.blob()?;
                let n = r.u32()?;
                if n > MAX_ENTRIES {
                    return Err(format!("the key {alias} claims {n} certificates"));
                }
                let chain = (0..n).map(|_| cert(&mut r)).collect::<Result<_, _>>()?;
                store.keys.push(JksKey {
                    alias,
                    protected,
                    chain,
                });
            }
            2 => store.trusted.push((alias, cert(&mut r)?)),
            other => return Err(format!("an entry of unknown kind {other} ({alias})")),
        }
    }
    let body = r.at;
    let digest = r.take(20)?;
    if r.at != data.len() {
        return Err(format!(
            "{} bytes after the integrity digest",
            data.len() - r.at
        ));
    }
    if let Some(password) = password {
        let mut h = Sha1::new();
        h.update(password_bytes(password));
        h.update(b"Mighty Aphrodite");
        h.update(&data[..body]);
        if h.finalize().as_slice() != digest {
            return Err(
                "the integrity check failed: the password is wrong or the file was altered".into(),
            );
        }
    }
    Ok(store)
}

/// EncryptedPrivateKeyInfo (RFC 5208), with any algorithm.
#[derive(Sequence)]
struct EncryptedKey {
    algorithm: AlgorithmIdentifierOwned,
    data: OctetString,
}

impl JksKey {
    /// The PKCS#8 PrivateKeyInfo DER of the key, recovered with its
    /// password.
    pub(crate) fn recover(&self, password: &str) -> Result<Vec<u8>, String> {
        let info = EncryptedKey::from_der(&self.protected)
            .map_err(|e| format!("the key {} does not parse: {e}", self.alias))?;
        if info.algorithm.oid != KEY_PROTECTOR {
            return Err(format!(
                "the key {} is protected with {}, not Sun's key protector",
                self.alias, info.algorithm.oid
            ));
        }
        let data = info.data.as_bytes();
        if data.len() < 40 {
            return Err(format!("the key {} is too short", self.alias));
        }
        let (salt, rest) = data.split_at(20);
        let (encrypted, check) = rest.split_at(rest.len() - 20);
        let pw = password_bytes(password);
        let mut plain = Vec::with_capacity(encrypted.len());
        let mut block: Vec<u8> = salt.to_vec();
        for chunk in encrypted.chunks(20) {
            block = Sha1::new()
                .chain_update(&pw)
                .chain_update(&block)
                .finalize()
                .to_vec();
            plain.extend(chunk.iter().zip(&block).map(|(c, k)| c ^ k));
        }
        let expected = Sha1::new()
            .chain_update(&pw)
            .chain_update(&plain)
            .finalize();
        if expected.as_slice() != check {
            return Err(format!(
                "the key {} does not open with its password (ssl.key.password, else the store's)",
                self.alias
            ));
        }
        Ok(plain)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncated_and_foreign_files_are_refused_without_a_panic() {
        assert_eq!(
            parse(b"", None).unwrap_err(),
            "the file ends early (at byte 0)"
        );
        assert_eq!(parse(&JCEKS_MAGIC, None).unwrap_err(), "not a JKS file");
        let mut head = JKS_MAGIC.to_vec();
        head.extend(2u32.to_be_bytes());
        head.extend(u32::MAX.to_be_bytes());
        assert!(parse(&head, None).unwrap_err().contains("more than"));
        // Every prefix of a well-formed store is refused, none panics.
        let mut one = JKS_MAGIC.to_vec();
        one.extend(2u32.to_be_bytes());
        one.extend(1u32.to_be_bytes());
        one.extend(2u32.to_be_bytes()); // trusted certificate
        one.extend(2u16.to_be_bytes());
        one.extend(b"ca");
        one.extend(0u64.to_be_bytes());
        one.extend(5u16.to_be_bytes());
        one.extend(b"X.509");
        one.extend(3u32.to_be_bytes());
        one.extend([1, 2, 3]);
        let mut h = Sha1::new();
        h.update(password_bytes("pw"));
        h.update(b"Mighty Aphrodite");
        h.update(&one);
        one.extend(h.finalize());
        let store = parse(&one, Some("pw")).unwrap();
        assert_eq!(store.trusted, vec![("ca".to_string(), vec![1, 2, 3])]);
        assert!(parse(&one, Some("other"))
            .unwrap_err()
            .contains("integrity"));
        assert!(parse(&one, None).is_ok());
        for n in 0..one.len() {
            assert!(parse(&one[..n], None).is_err(), "prefix of {n} bytes");
        }
    }
}
