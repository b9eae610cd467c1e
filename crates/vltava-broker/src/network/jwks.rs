//! Signed OAUTHBEARER tokens on a listener: Kafka's
//! `OAuthBearerValidatorCallbackHandler` with
//! `sasl.oauthbearer.jwks.endpoint.url` naming a `file:` JWKS.
//!
//! The checks are `vltava-sasl`'s (`oauthbearer::jwt`); this module reads
//! the key file. It is read at start (a missing or unreadable file, or one
//! with no usable key, stops the broker) and again:
//! - every `sasl.oauthbearer.jwks.endpoint.refresh.ms`, at the first
//!   authentication after that much time;
//! - early, when a token names a `kid` the keys do not have, so that an
//!   identity provider's new key works as soon as the file has it. These
//!   early reads are at most one a second, however many unknown kids
//!   clients send, and a token gets one retry, not a loop.
//!
//! A file that cannot be read or parsed later keeps the keys read before,
//! with a warning, as Kafka keeps its last good JWKS. The file is small
//! and read on the connection's task: a read is a few microseconds, and
//! happens only on the occasions above.
//!
//! `http://` and `https://` endpoints are fetched by `jwks_http`.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use tracing::{info, warn};
use vltava_sasl::oauthbearer::jwt::{validate_jwt, JwtValidatorConfig, KeySet};
use vltava_sasl::oauthbearer::{OAuthBearerToken, TokenRejection, TokenValidator};

/// Least time between two early reads of the file.
const EARLY_READ_INTERVAL_MS: i64 = 1000;

/// A larger file is refused: a JWKS holds a handful of keys.
const MAX_JWKS_BYTES: u64 = 1 << 20;

/// A listener's signed-token validator over a JWKS file.
pub struct JwksFileValidator {
    config: JwtValidatorConfig,
    path: PathBuf,
    refresh_ms: i64,
    state: Mutex<State>,
}

struct State {
    keys: Arc<KeySet>,
    /// The file's bytes as last read, to tell a change.
    bytes: Vec<u8>,
    /// When the file was last read (milliseconds since the epoch).
    read_ms: i64,
    /// When an unknown kid last caused an early read.
    early_ms: Option<i64>,
    /// The last failure to read or parse, said once until it changes.
    failure: Option<String>,
}

impl JwksFileValidator {
    /// Reads the key file of `url` (`file:` only) at `now_ms`.
    pub fn open(
        url: &str,
        config: JwtValidatorConfig,
        refresh_ms: i64,
        now_ms: i64,
    ) -> Result<JwksFileValidator, String> {
        let path = file_url_path(url)?;
        let bytes = read(&path)?;
        let keys = parse(&path, &bytes)?;
        if keys.is_empty() {
            return Err(format!(
                "the JWKS file {} has no key that can verify tokens (RSA, or EC on P-256/P-384, for signing)",
                path.display()
            ));
        }
        info!("JWKS file {}: {} keys", path.display(), keys.len());
        Ok(JwksFileValidator {
            config,
            path,
            refresh_ms: refresh_ms.max(0),
            state: Mutex::new(State {
                keys: Arc::new(keys),
                bytes,
                read_ms: now_ms,
                early_ms: None,
                failure: None,
            }),
        })
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // The state is whole after any panic elsewhere: take it as it is.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The keys to check a token with at `now_ms`, re-reading the file
    /// first when `refresh_ms` has passed.
    pub fn keys(&self, now_ms: i64) -> Arc<KeySet> {
        let mut state = self.state();
        // A clock stepped back counts as due, so a reread is never stuck.
        let since = now_ms - state.read_ms;
        if since >= self.refresh_ms || since < 0 {
            self.reread(&mut state, now_ms);
        }
        state.keys.clone()
    }

    /// An early read for an unknown kid, unless one happened less than
    /// [`EARLY_READ_INTERVAL_MS`] ago; the keys when they changed.
    fn early_reread(&self, now_ms: i64) -> Option<Arc<KeySet>> {
        let mut state = self.state();
        if let Some(at) = state.early_ms {
            let since = now_ms - at;
            if (0..EARLY_READ_INTERVAL_MS).contains(&since) {
                return None;
            }
        }
        state.early_ms = Some(now_ms);
        self.reread(&mut state, now_ms).then(|| state.keys.clone())
    }

    /// Reads the file again; true when it held new keys.
    fn reread(&self, state: &mut State, now_ms: i64) -> bool {
        state.read_ms = now_ms;
        let parsed = read(&self.path).and_then(|bytes| {
            if bytes == state.bytes {
                return Ok(None);
            }
            let keys = parse(&self.path, &bytes)?;
            if keys.is_empty() {
                return Err(format!(
                    "the JWKS file {} has no key that can verify tokens",
                    self.path.display()
                ));
            }
            Ok(Some((bytes, keys)))
        });
        match parsed {
            Ok(None) => {
                state.failure = None;
                false
            }
            Ok(Some((bytes, keys))) => {
                info!(
                    "JWKS file {} changed: {} keys now",
                    self.path.display(),
                    keys.len()
                );
                state.bytes = bytes;
                state.keys = Arc::new(keys);
                state.failure = None;
                true
            }
            Err(why) => {
                if state.failure.as_ref() != Some(&why) {
                    warn!("{why}; the keys read before stay in use");
                    state.failure = Some(why);
                }
                false
            }
        }
    }
}

impl TokenValidator for JwksFileValidator {
    fn validate(&self, token: &str, now_ms: i64) -> Result<OAuthBearerToken, TokenRejection> {
        let keys = self.keys(now_ms);
        match validate_jwt(token, &keys, &self.config, now_ms) {
            Err(e) if e.is_unknown_key() => match self.early_reread(now_ms) {
                Some(keys) => validate_jwt(token, &keys, &self.config, now_ms),
                None => Err(e),
            },
            other => other,
        }
        .map_err(TokenRejection::from)
    }
}

/// The path of a `file:` URL (`file:///p`, `file://localhost/p` or
/// `file:/p`, with %-escapes); other schemes are refused.
pub fn file_url_path(url: &str) -> Result<PathBuf, String> {
    let url = url.trim();
    let scheme = url.split_once(':').map(|(s, _)| s.to_ascii_lowercase());
    match scheme.as_deref() {
        Some("file") => {}
        _ => {
            return Err(format!(
            "sasl.oauthbearer.jwks.endpoint.url {url}: not a file: URL (file:///path/to/jwks.json)"
        ))
        }
    }
    let rest = &url["file:".len()..];
    let path = match rest.strip_prefix("//") {
        Some(authority_and_path) => {
            let at = authority_and_path
                .find('/')
                .unwrap_or(authority_and_path.len());
            let (host, path) = authority_and_path.split_at(at);
            if !(host.is_empty() || host.eq_ignore_ascii_case("localhost")) {
                return Err(format!(
                    "sasl.oauthbearer.jwks.endpoint.url {url}: a file: URL must name a local file (no host)"
                ));
            }
            path
        }
        None => rest,
    };
    if !path.starts_with('/') {
        return Err(format!(
            "sasl.oauthbearer.jwks.endpoint.url {url}: the file's path must be absolute"
        ));
    }
    percent_decode(path)
        .map(PathBuf::from)
        .ok_or_else(|| format!("sasl.oauthbearer.jwks.endpoint.url {url}: bad %-escape"))
}

fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn read(path: &Path) -> Result<Vec<u8>, String> {
    let file = std::fs::File::open(path)
        .map_err(|e| format!("cannot read the JWKS file {}: {e}", path.display()))?;
    let mut bytes = Vec::new();
    file.take(MAX_JWKS_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read the JWKS file {}: {e}", path.display()))?;
    if bytes.len() as u64 > MAX_JWKS_BYTES {
        return Err(format!(
            "the JWKS file {} is over {MAX_JWKS_BYTES} bytes",
            path.display()
        ));
    }
    Ok(bytes)
}

fn parse(path: &Path, bytes: &[u8]) -> Result<KeySet, String> {
    let (keys, skipped) =
        KeySet::parse(bytes).map_err(|why| format!("the JWKS file {}: {why}", path.display()))?;
    for line in skipped {
        warn!("JWKS file {}: {line}", path.display());
    }
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW_MS: i64 = 1_767_225_600_000;

    /// An RSA JWK with made-up key material: enough to be found by kid,
    /// and to fail any signature.
    fn jwk(kid: &str) -> String {
        let n = "A".repeat(342);
        format!(r#"{{"kty":"RSA","kid":"{kid}","n":"{n}","e":"AQAB"}}"#)
    }

    fn jwks(kids: &[&str]) -> String {
        let keys: Vec<String> = kids.iter().map(|k| jwk(k)).collect();
        format!(r#"{{"keys":[{}]}}"#, keys.join(","))
    }

    /// Unpadded base64url, enough for test tokens.
    fn b64(text: &str) -> String {
        const DIGITS: &[u8; 64] =
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let mut out = String::new();
        for chunk in text.as_bytes().chunks(3) {
            let n = chunk
                .iter()
                .enumerate()
                .fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
            for i in 0..=chunk.len() {
                out.push(DIGITS[(n >> (18 - 6 * i) & 63) as usize] as char);
            }
        }
        out
    }

    /// A token naming `kid` (signed by nothing the keys hold).
    fn token(kid: &str) -> String {
        format!(
            "{}.{}.{}",
            b64(&format!(r#"{{"alg":"RS256","kid":"{kid}"}}"#)),
            b64(r#"{"sub":"alice","exp":9999999999,"iat":1}"#),
            b64("not a signature")
        )
    }

    /// The log reason for `kid`'s token: "unknown key..." while the keys
    /// lack it, "bad signature..." once they have it.
    fn reason(v: &JwksFileValidator, kid: &str, now_ms: i64) -> String {
        v.validate(&token(kid), now_ms).unwrap_err().reason
    }

    fn open(dir: &tempfile::TempDir, text: &str, refresh_ms: i64) -> (PathBuf, JwksFileValidator) {
        let path = dir.path().join("jwks.json");
        std::fs::write(&path, text).unwrap();
        let url = format!("file://{}", path.display());
        let v = JwksFileValidator::open(&url, JwtValidatorConfig::default(), refresh_ms, NOW_MS)
            .unwrap();
        (path, v)
    }

    #[test]
    fn an_unknown_kid_rereads_the_file_at_most_once_a_second() {
        let dir = tempfile::tempdir().unwrap();
        let (path, v) = open(&dir, &jwks(&["a"]), 3_600_000);
        assert!(reason(&v, "a", NOW_MS).starts_with("bad signature"));
        assert!(reason(&v, "b", NOW_MS).starts_with("unknown key"));

        // A new key is found by the next token that names it...
        std::fs::write(&path, jwks(&["a", "b"])).unwrap();
        assert!(reason(&v, "b", NOW_MS + 1000).starts_with("bad signature"));
        // ...but not within a second of the last early read.
        std::fs::write(&path, jwks(&["a", "b", "c"])).unwrap();
        assert!(reason(&v, "c", NOW_MS + 1500).starts_with("unknown key"));
        assert!(reason(&v, "c", NOW_MS + 2000).starts_with("bad signature"));
    }

    #[test]
    fn the_file_is_reread_after_the_refresh_interval() {
        let dir = tempfile::tempdir().unwrap();
        let (path, v) = open(&dir, &jwks(&["a"]), 60_000);
        std::fs::write(&path, jwks(&["b"])).unwrap();
        assert!(v.keys(NOW_MS + 59_999).has_kid("a"));
        let keys = v.keys(NOW_MS + 60_000);
        assert!(keys.has_kid("b") && !keys.has_kid("a"));
    }

    #[test]
    fn a_broken_file_keeps_the_keys_read_before() {
        let dir = tempfile::tempdir().unwrap();
        let (path, v) = open(&dir, &jwks(&["a"]), 0);
        for broken in [
            "{not json",
            r#"{"keys":[]}"#,
            r#"{"keys":[{"kty":"oct","k":"AA"}]}"#,
        ] {
            std::fs::write(&path, broken).unwrap();
            assert!(v.keys(NOW_MS + 1).has_kid("a"), "{broken}");
        }
        std::fs::remove_file(&path).unwrap();
        assert!(v.keys(NOW_MS + 2).has_kid("a"));
        std::fs::write(&path, jwks(&["b"])).unwrap();
        assert!(v.keys(NOW_MS + 3).has_kid("b"));
    }

    #[test]
    fn only_local_file_urls_are_taken() {
        assert_eq!(
            file_url_path("file:///etc/kafka/jwks.json").unwrap(),
            PathBuf::from("/etc/kafka/jwks.json")
        );
        assert_eq!(
            file_url_path("file://localhost/a%20b.json").unwrap(),
            PathBuf::from("/a b.json")
        );
        assert_eq!(
            file_url_path("FILE:/x.json").unwrap(),
            PathBuf::from("/x.json")
        );
        let err = file_url_path("https://idp.example/keys").unwrap_err();
        assert!(err.contains("not a file: URL"), "{err}");
        for bad in [
            "file://other-host/x",
            "file:relative.json",
            "/etc/jwks.json",
            "file:///%zz",
        ] {
            assert!(file_url_path(bad).is_err(), "{bad}");
        }
        let dir = tempfile::tempdir().unwrap();
        let missing = format!("file://{}/none.json", dir.path().display());
        let err = JwksFileValidator::open(&missing, JwtValidatorConfig::default(), 0, NOW_MS)
            .err()
            .unwrap();
        assert!(err.contains("cannot read the JWKS file"), "{err}");
    }
}
