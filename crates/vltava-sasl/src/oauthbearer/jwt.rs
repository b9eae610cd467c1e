//! Signed OAUTHBEARER tokens: what a Kafka broker does with
//! `OAuthBearerValidatorCallbackHandler` (KIP-768). The token is a JWS
//! signed by an identity provider; the broker holds the provider's public
//! keys as a JWKS (RFC 7517) key set and checks, as Kafka's jose4j-based
//! `BrokerJwtValidator` does:
//!
//! - the algorithm is an RSA or EC signature (RS256/384/512,
//!   PS256/384/512, ES256/384). `none` and the HMAC family are refused:
//!   an HMAC key would be a secret shared with every client, and accepting
//!   `none` would let anyone name any principal;
//! - the key is the set's key with the token's `kid` (without a `kid`, the
//!   one key that fits the algorithm) and the signature verifies with it;
//! - `exp` and `iat` are present (Kafka requires both), `exp` is not past
//!   and neither `iat` nor `nbf` is in the future, each by more than the
//!   allowed clock skew;
//! - `aud` names one of `sasl.oauthbearer.expected.audience` when that is
//!   set, and a token with an `aud` is refused when it is not (jose4j's
//!   default, which Kafka keeps); `iss` is `sasl.oauthbearer.expected.issuer`
//!   when that is set;
//! - the subject claim (`sub` unless configured) is a non-blank string: the
//!   principal.
//!
//! Nothing here reads a file or a clock: the key set is parsed from bytes
//! the caller read, and the time is an argument. A token whose `kid` is
//! not in the set is refused as [`JwtError::UnknownKey`], so that the
//! caller can re-read its key set once and try again.
//!
//! The signatures are checked with ring (the crypto library rustls already
//! brings into the broker) behind jsonwebtoken's provider traits, verify
//! only; jsonwebtoken parses the JWKS and the JWS and checks `aud`/`iss`,
//! and the time checks are done here against the caller's clock.

use std::collections::BTreeSet;
use std::fmt;

use jsonwebtoken::crypto::{CryptoProvider, JwkUtils, JwtVerifier};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, PublicKeyUse};
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey, DecodingKeyKind, Validation};
use serde_json::Value;

use super::{
    decode_json_object, time_claim, token_scope, OAuthBearerToken, TokenRejection, TokenValidator,
};

/// `sasl.server.callback.handler.class` that switches a listener's
/// OAUTHBEARER to signed tokens.
pub const VALIDATOR_CALLBACK_HANDLER: &str =
    "org.apache.kafka.common.security.oauthbearer.OAuthBearerValidatorCallbackHandler";

/// The same class under its package before Kafka 3.4 moved it; Kafka
/// still takes the old name.
pub const LEGACY_VALIDATOR_CALLBACK_HANDLER: &str =
    "org.apache.kafka.common.security.oauthbearer.secured.OAuthBearerValidatorCallbackHandler";

/// The algorithms accepted: those jose4j verifies with RSA and EC keys.
const ACCEPTED: [Algorithm; 8] = [
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
];

/// The claim checks, from Kafka's `sasl.oauthbearer.*` keys.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JwtValidatorConfig {
    /// `sasl.oauthbearer.expected.audience`: empty means unset.
    pub expected_audience: Vec<String>,
    /// `sasl.oauthbearer.expected.issuer`.
    pub expected_issuer: Option<String>,
    /// `sasl.oauthbearer.sub.claim.name`, default `sub`.
    pub sub_claim_name: String,
    /// `sasl.oauthbearer.scope.claim.name`, default `scope`.
    pub scope_claim_name: String,
    /// `sasl.oauthbearer.clock.skew.seconds`, default 30.
    pub clock_skew_seconds: u32,
}

impl Default for JwtValidatorConfig {
    fn default() -> Self {
        JwtValidatorConfig {
            expected_audience: Vec::new(),
            expected_issuer: None,
            sub_claim_name: "sub".to_owned(),
            scope_claim_name: "scope".to_owned(),
            clock_skew_seconds: 30,
        }
    }
}

/// One key of a JWKS that can verify tokens.
#[derive(Clone, Debug)]
struct VerificationKey {
    kid: Option<String>,
    /// The JWK's `alg`, when it names one: the key is for that one only.
    alg: Option<Algorithm>,
    /// An EC key's curve, which fixes its algorithm.
    curve: Option<EllipticCurve>,
    key: DecodingKey,
}

impl VerificationKey {
    fn fits(&self, alg: Algorithm) -> bool {
        self.key.family() == family(alg)
            && self.alg.is_none_or(|a| a == alg)
            && match &self.curve {
                None => true,
                Some(EllipticCurve::P256) => alg == Algorithm::ES256,
                Some(EllipticCurve::P384) => alg == Algorithm::ES384,
                Some(_) => false,
            }
    }
}

/// The usable keys of a JWKS document.
#[derive(Clone, Debug, Default)]
pub struct KeySet {
    keys: Vec<VerificationKey>,
}

impl KeySet {
    /// Parses a JWKS document (`{"keys": [...]}`). Keys that cannot verify
    /// a token here (encryption keys, HMAC secrets, other curves, bad key
    /// material) are left out, each with a line saying why, as jose4j
    /// skips what it cannot use; a document that is not a key set is an
    /// error.
    pub fn parse(json: &[u8]) -> Result<(KeySet, Vec<String>), String> {
        let doc: Value =
            serde_json::from_slice(json).map_err(|e| format!("not a JSON document: {e}"))?;
        let Some(Value::Array(keys)) = doc.get("keys") else {
            return Err("not a JWKS: no \"keys\" array".to_owned());
        };
        let mut set = KeySet::default();
        let mut skipped = Vec::new();
        for (i, raw) in keys.iter().enumerate() {
            match usable_key(raw) {
                Ok(key) => set.keys.push(key),
                Err(why) => {
                    let name = match raw.get("kid").and_then(Value::as_str) {
                        Some(kid) => format!("key {}", shown(kid)),
                        None => format!("key #{i}"),
                    };
                    skipped.push(format!("{name} left out: {why}"));
                }
            }
        }
        Ok((set, skipped))
    }

    #[must_use]
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Whether a key of the set has this `kid`.
    #[must_use]
    pub fn has_kid(&self, kid: &str) -> bool {
        self.keys.iter().any(|k| k.kid.as_deref() == Some(kid))
    }
}

fn usable_key(raw: &Value) -> Result<VerificationKey, String> {
    let jwk: Jwk = serde_json::from_value(raw.clone())
        .map_err(|e| format!("not an RSA, EC or OKP public JWK ({e})"))?;
    if let Some(usage) = &jwk.common.public_key_use {
        if *usage != PublicKeyUse::Signature {
            return Err("its \"use\" is not \"sig\"".to_owned());
        }
    }
    let alg = match jwk.common.key_algorithm {
        None => None,
        Some(alg) => Some(
            alg.to_string()
                .parse::<Algorithm>()
                .ok()
                .filter(|a| ACCEPTED.contains(a))
                .ok_or_else(|| format!("its \"alg\" {alg} is not an accepted signature"))?,
        ),
    };
    let (curve, point_len) = match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => (None, None),
        AlgorithmParameters::EllipticCurve(p) => match p.curve {
            EllipticCurve::P256 => (Some(EllipticCurve::P256), Some(65)),
            EllipticCurve::P384 => (Some(EllipticCurve::P384), Some(97)),
            ref other => return Err(format!("curve {other:?} is not P-256 or P-384")),
        },
        _ => return Err("not an RSA or EC key".to_owned()),
    };
    let key = DecodingKey::from_jwk(&jwk).map_err(|e| format!("bad key material ({e})"))?;
    // An EC point of the wrong size would only fail later, at every token.
    if let (Some(len), DecodingKeyKind::SecretOrDer(point)) = (point_len, key.kind()) {
        if point.len() != len {
            return Err("bad key material (x or y of the wrong size)".to_owned());
        }
    }
    if let Some(alg) = alg {
        let key = VerificationKey {
            kid: None,
            alg: None,
            curve: curve.clone(),
            key: key.clone(),
        };
        if !key.fits(alg) {
            return Err(format!("its \"alg\" {alg:?} does not fit the key"));
        }
    }
    Ok(VerificationKey {
        kid: jwk.common.key_id.clone(),
        alg,
        curve,
        key,
    })
}

fn family(alg: Algorithm) -> AlgorithmFamily {
    [
        AlgorithmFamily::Rsa,
        AlgorithmFamily::Ec,
        AlgorithmFamily::Ed,
    ]
    .into_iter()
    .find(|f| f.algorithms().contains(&alg))
    .unwrap_or(AlgorithmFamily::Hmac)
}

/// Text from the token, for a log line: quoted, escaped and cut short,
/// since anyone can put anything there.
fn shown(text: &str) -> String {
    const MAX: usize = 64;
    match text.char_indices().nth(MAX) {
        None => format!("{text:?}"),
        Some((at, _)) => format!("{:?}...", &text[..at]),
    }
}

/// Why a signed token was refused. The reasons are for the broker's log
/// and never quote the token; the client is told only `invalid_token`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JwtError {
    /// No key of the set has the token's `kid` (or, without a `kid`, none
    /// fits its algorithm): a fresher key set might.
    UnknownKey(String),
    /// Anything else.
    Invalid(String),
}

impl JwtError {
    #[must_use]
    pub fn reason(&self) -> &str {
        match self {
            JwtError::UnknownKey(r) | JwtError::Invalid(r) => r,
        }
    }

    #[must_use]
    pub fn is_unknown_key(&self) -> bool {
        matches!(self, JwtError::UnknownKey(_))
    }
}

impl fmt::Display for JwtError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.reason())
    }
}

impl From<JwtError> for TokenRejection {
    fn from(e: JwtError) -> TokenRejection {
        TokenRejection::invalid(match e {
            JwtError::UnknownKey(r) | JwtError::Invalid(r) => r,
        })
    }
}

/// Checks a signed token against `keys` at `now_ms` (milliseconds since
/// the epoch).
pub fn validate_jwt(
    token: &str,
    keys: &KeySet,
    config: &JwtValidatorConfig,
    now_ms: i64,
) -> Result<OAuthBearerToken, JwtError> {
    let invalid = |r: String| JwtError::Invalid(r);
    let parts: Vec<&str> = token.split('.').collect();
    let [header, _, signature] = parts[..] else {
        return Err(invalid(
            "malformed token: not three dot-separated parts".to_owned(),
        ));
    };
    let header = decode_json_object(header)
        .map_err(|r| invalid(format!("malformed JOSE header: {}", r.reason)))?;
    let alg = match header.get("alg") {
        Some(Value::String(alg)) => alg.as_str(),
        _ => return Err(invalid("the JOSE header names no algorithm".to_owned())),
    };
    if alg == "none" {
        return Err(invalid(
            "alg \"none\": unsigned tokens are refused on a listener that checks signatures"
                .to_owned(),
        ));
    }
    let algorithm = match alg.parse::<Algorithm>() {
        Ok(a) if ACCEPTED.contains(&a) => a,
        Ok(a) if family(a) == AlgorithmFamily::Hmac => {
            return Err(invalid(format!(
                "alg {alg}: HMAC tokens are refused, only RSA and EC signatures checked against the JWKS are"
            )))
        }
        _ => {
            return Err(invalid(format!(
                "alg {} is not accepted (RS256/384/512, PS256/384/512, ES256/384 are)",
                shown(alg)
            )))
        }
    };
    if signature.is_empty() {
        return Err(invalid("the token has no signature".to_owned()));
    }
    let kid = match header.get("kid") {
        None | Some(Value::Null) => None,
        Some(Value::String(kid)) => Some(kid.as_str()),
        Some(_) => return Err(invalid("the JOSE header's kid is not a string".to_owned())),
    };
    let key = match kid {
        Some(kid) => {
            let mut named = keys
                .keys
                .iter()
                .filter(|k| k.kid.as_deref() == Some(kid))
                .peekable();
            if named.peek().is_none() {
                return Err(JwtError::UnknownKey(format!(
                    "unknown key: no key with kid {} in the JWKS",
                    shown(kid)
                )));
            }
            named.find(|k| k.fits(algorithm)).ok_or_else(|| {
                invalid(format!(
                    "the key with kid {} is not for {algorithm:?}",
                    shown(kid)
                ))
            })?
        }
        None => {
            let fitting: Vec<&VerificationKey> =
                keys.keys.iter().filter(|k| k.fits(algorithm)).collect();
            match fitting[..] {
                [one] => one,
                [] => {
                    return Err(JwtError::UnknownKey(format!(
                        "unknown key: the token names no kid and no key of the JWKS is for {algorithm:?}"
                    )))
                }
                ref many => {
                    return Err(invalid(format!(
                        "the token names no kid and {} keys of the JWKS are for {algorithm:?}",
                        many.len()
                    )))
                }
            }
        }
    };

    let _ = RING_PROVIDER.install_default();
    let mut validation = Validation::new(algorithm);
    // Time is checked below, against the caller's clock.
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.leeway = 0;
    validation.validate_aud = true;
    let mut required = Vec::new();
    if !config.expected_audience.is_empty() {
        validation.set_audience(&config.expected_audience);
        required.push("aud");
    }
    if let Some(issuer) = &config.expected_issuer {
        validation.set_issuer(&[issuer]);
        required.push("iss");
    }
    validation.set_required_spec_claims(&required);
    let claims = jsonwebtoken::decode::<serde_json::Map<String, Value>>(token, &key.key, &validation)
        .map_err(|e| {
            invalid(match e.kind() {
                ErrorKind::InvalidSignature => format!(
                    "bad signature: the token's {algorithm:?} signature does not verify with key {}",
                    key.kid.as_deref().map_or_else(|| "(no kid)".to_owned(), shown)
                ),
                ErrorKind::InvalidAudience if config.expected_audience.is_empty() => {
                    "wrong audience: the token has an aud claim and sasl.oauthbearer.expected.audience is not set".to_owned()
                }
                ErrorKind::InvalidAudience => format!(
                    "wrong audience: the token's aud names none of [{}]",
                    config.expected_audience.join(", ")
                ),
                ErrorKind::InvalidIssuer => format!(
                    "wrong issuer: the token's iss is not {}",
                    shown(config.expected_issuer.as_deref().unwrap_or_default())
                ),
                ErrorKind::MissingRequiredClaim(claim) => {
                    format!("the token has no '{claim}' claim")
                }
                ErrorKind::Json(_) | ErrorKind::Utf8(_) | ErrorKind::Base64(_) => {
                    "malformed token: its parts are not base64url JSON objects".to_owned()
                }
                _ => format!("the token was refused: {e}"),
            })
        })?
        .claims;

    let claim_error = |r: TokenRejection| invalid(r.reason);
    let exp = time_claim(&claims, "exp")
        .map_err(claim_error)?
        .ok_or_else(|| invalid("the token has no 'exp' claim".to_owned()))?;
    let iat = time_claim(&claims, "iat")
        .map_err(claim_error)?
        .ok_or_else(|| invalid("the token has no 'iat' claim".to_owned()))?;
    let nbf = time_claim(&claims, "nbf").map_err(claim_error)?;
    let skew = i64::from(config.clock_skew_seconds);
    // In f64 milliseconds: claims may be fractional seconds.
    let now = now_ms as f64;
    let skew_ms = (skew * 1000) as f64;
    if now - skew_ms >= exp * 1000.0 {
        return Err(invalid(format!(
            "expired: exp ({exp} s) is {:.3} s before now ({now_ms} ms), more than the {skew} s of allowed clock skew",
            (now - exp * 1000.0) / 1000.0
        )));
    }
    if let Some(nbf) = nbf {
        if nbf * 1000.0 > now + skew_ms {
            return Err(invalid(format!(
                "not yet valid: nbf ({nbf} s) is {:.3} s after now ({now_ms} ms), more than the {skew} s of allowed clock skew",
                (nbf * 1000.0 - now) / 1000.0
            )));
        }
    }
    if iat * 1000.0 > now + skew_ms {
        return Err(invalid(format!(
            "issued in the future: iat ({iat} s) is {:.3} s after now ({now_ms} ms), more than the {skew} s of allowed clock skew",
            (iat * 1000.0 - now) / 1000.0
        )));
    }
    let principal = match claims.get(&config.sub_claim_name) {
        Some(Value::String(sub)) if !sub.trim().is_empty() => sub.trim().to_owned(),
        Some(Value::String(_)) | Some(Value::Null) | None => {
            return Err(invalid(format!(
                "no subject: the '{}' claim is missing or blank",
                config.sub_claim_name
            )))
        }
        Some(_) => {
            return Err(invalid(format!(
                "no subject: the '{}' claim is not a string",
                config.sub_claim_name
            )))
        }
    };
    // Kafka reads a scope claim that is neither a string nor a list as no
    // scope; nothing on the broker requires one.
    let scope: BTreeSet<String> =
        token_scope(&claims, &config.scope_claim_name).unwrap_or_default();
    Ok(OAuthBearerToken {
        principal,
        scope,
        expiration_ms: (exp * 1000.0).round() as i64,
        issued_at_ms: Some((iat * 1000.0).round() as i64),
        claims,
    })
}

/// A signed-token validator over a fixed key set (the broker keeps its
/// own, which re-reads the JWKS file).
#[derive(Clone, Debug)]
pub struct JwtValidator {
    pub config: JwtValidatorConfig,
    pub keys: KeySet,
}

impl TokenValidator for JwtValidator {
    fn validate(&self, token: &str, now_ms: i64) -> Result<OAuthBearerToken, TokenRejection> {
        validate_jwt(token, &self.keys, &self.config, now_ms).map_err(TokenRejection::from)
    }
}

/// jsonwebtoken's crypto, on ring: verification only (the broker never
/// signs), for the accepted algorithms only.
static RING_PROVIDER: CryptoProvider = CryptoProvider {
    signer_factory: |_, _| Err(ErrorKind::InvalidAlgorithm.into()),
    verifier_factory: ring_verifier,
    jwk_utils: JwkUtils::new_unimplemented(),
};

fn ring_verifier(
    alg: &Algorithm,
    key: &DecodingKey,
) -> jsonwebtoken::errors::Result<Box<dyn JwtVerifier>> {
    if !ACCEPTED.contains(alg) || key.family() != family(*alg) {
        return Err(ErrorKind::InvalidAlgorithm.into());
    }
    Ok(Box::new(RingVerifier {
        alg: *alg,
        key: key.clone(),
    }))
}

struct RingVerifier {
    alg: Algorithm,
    key: DecodingKey,
}

impl JwtVerifier for RingVerifier {
    fn algorithm(&self) -> Algorithm {
        self.alg
    }
}

impl signature::Verifier<Vec<u8>> for RingVerifier {
    fn verify(&self, message: &[u8], sig: &Vec<u8>) -> Result<(), signature::Error> {
        use ring::signature as rs;
        // ring takes RSA moduli of 2048 to 8192 bits, as jose4j wants at
        // least 2048.
        let rsa: Option<&'static rs::RsaParameters> = match self.alg {
            Algorithm::RS256 => Some(&rs::RSA_PKCS1_2048_8192_SHA256),
            Algorithm::RS384 => Some(&rs::RSA_PKCS1_2048_8192_SHA384),
            Algorithm::RS512 => Some(&rs::RSA_PKCS1_2048_8192_SHA512),
            Algorithm::PS256 => Some(&rs::RSA_PSS_2048_8192_SHA256),
            Algorithm::PS384 => Some(&rs::RSA_PSS_2048_8192_SHA384),
            Algorithm::PS512 => Some(&rs::RSA_PSS_2048_8192_SHA512),
            _ => None,
        };
        let checked = match (rsa, self.key.kind()) {
            (Some(params), DecodingKeyKind::RsaModulusExponent { n, e }) => {
                rs::RsaPublicKeyComponents { n, e }.verify(params, message, sig)
            }
            (None, DecodingKeyKind::SecretOrDer(point)) => {
                let ec: &'static rs::EcdsaVerificationAlgorithm = match self.alg {
                    Algorithm::ES256 => &rs::ECDSA_P256_SHA256_FIXED,
                    Algorithm::ES384 => &rs::ECDSA_P384_SHA384_FIXED,
                    _ => return Err(signature::Error::new()),
                };
                rs::UnparsedPublicKey::new(ec, point).verify(message, sig)
            }
            _ => return Err(signature::Error::new()),
        };
        checked.map_err(|_| signature::Error::new())
    }
}

#[cfg(test)]
mod tests;
