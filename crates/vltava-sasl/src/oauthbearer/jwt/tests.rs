use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use ring::rand::SystemRandom;
use ring::signature::{self as rs, KeyPair};
use serde_json::json;

use super::*;
use crate::oauthbearer::{OAuthBearerServer, OAuthBearerStep};

/// 2026-01-01T00:00:00Z in milliseconds.
const NOW_MS: i64 = 1_767_225_600_000;
const NOW_S: i64 = NOW_MS / 1000;

// Two 2048-bit RSA keys (PKCS#1 DER) made once with
// `openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -outform DER`
// (ring signs with RSA keys but does not make them); EC keys are made
// afresh by each test.
const RSA_A: &[u8] = include_bytes!("../../../tests/data/rsa-a.der");
const RSA_B: &[u8] = include_bytes!("../../../tests/data/rsa-b.der");

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

enum Signer {
    Rsa(rs::RsaKeyPair),
    Ec(rs::EcdsaKeyPair),
}

impl Signer {
    fn rsa(der: &[u8]) -> Signer {
        Signer::Rsa(rs::RsaKeyPair::from_der(der).unwrap())
    }

    fn ec(alg: &'static rs::EcdsaSigningAlgorithm) -> Signer {
        let rng = SystemRandom::new();
        let pkcs8 = rs::EcdsaKeyPair::generate_pkcs8(alg, &rng).unwrap();
        Signer::Ec(rs::EcdsaKeyPair::from_pkcs8(alg, pkcs8.as_ref(), &rng).unwrap())
    }

    /// The public half as a JWK.
    fn jwk(&self, kid: &str) -> serde_json::Value {
        match self {
            Signer::Rsa(key) => {
                let public = rs::RsaPublicKeyComponents::<Vec<u8>>::from(key.public());
                json!({"kty": "RSA", "kid": kid, "use": "sig", "n": b64(&public.n), "e": b64(&public.e)})
            }
            Signer::Ec(key) => {
                let point = key.public_key().as_ref();
                let half = (point.len() - 1) / 2;
                json!({
                    "kty": "EC", "kid": kid,
                    "crv": if half == 32 { "P-256" } else { "P-384" },
                    "x": b64(&point[1..=half]),
                    "y": b64(&point[half + 1..]),
                })
            }
        }
    }

    fn sign(&self, alg: &str, message: &[u8]) -> Vec<u8> {
        let rng = SystemRandom::new();
        match self {
            Signer::Rsa(key) => {
                let padding: &'static dyn rs::RsaEncoding = match alg {
                    "RS256" => &rs::RSA_PKCS1_SHA256,
                    "RS384" => &rs::RSA_PKCS1_SHA384,
                    "RS512" => &rs::RSA_PKCS1_SHA512,
                    "PS256" => &rs::RSA_PSS_SHA256,
                    "PS384" => &rs::RSA_PSS_SHA384,
                    "PS512" => &rs::RSA_PSS_SHA512,
                    other => panic!("not an RSA algorithm: {other}"),
                };
                let mut sig = vec![0; key.public().modulus_len()];
                key.sign(padding, &rng, message, &mut sig).unwrap();
                sig
            }
            Signer::Ec(key) => key.sign(&rng, message).unwrap().as_ref().to_vec(),
        }
    }
}

/// A compact JWS of `claims` with header `alg` and `kid`, signed by
/// `signer`.
fn signed(signer: &Signer, alg: &str, kid: Option<&str>, claims: &serde_json::Value) -> String {
    let mut header = json!({"alg": alg, "typ": "JWT"});
    if let Some(kid) = kid {
        header["kid"] = json!(kid);
    }
    let message = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    let sig = signer.sign(alg, message.as_bytes());
    format!("{message}.{}", b64(&sig))
}

fn claims() -> serde_json::Value {
    json!({
        "sub": "alice",
        "iss": "https://idp.example",
        "aud": ["other", "kafka"],
        "iat": NOW_S - 60,
        "exp": NOW_S + 3600,
        "scope": "produce consume",
    })
}

fn with(mut claims: serde_json::Value, key: &str, value: serde_json::Value) -> serde_json::Value {
    if value.is_null() {
        claims.as_object_mut().unwrap().remove(key);
    } else {
        claims[key] = value;
    }
    claims
}

struct Keys {
    rsa_a: Signer,
    rsa_b: Signer,
    p256: Signer,
    p384: Signer,
    set: KeySet,
}

fn keys() -> Keys {
    let rsa_a = Signer::rsa(RSA_A);
    let rsa_b = Signer::rsa(RSA_B);
    let p256 = Signer::ec(&rs::ECDSA_P256_SHA256_FIXED_SIGNING);
    let p384 = Signer::ec(&rs::ECDSA_P384_SHA384_FIXED_SIGNING);
    let jwks = json!({"keys": [
        rsa_a.jwk("rsa-a"),
        p256.jwk("ec-256"),
        p384.jwk("ec-384"),
        // An HMAC secret in the set must not make HS256 tokens pass.
        {"kty": "oct", "kid": "hmac", "k": b64(b"shared secret")},
    ]});
    let (set, skipped) = KeySet::parse(jwks.to_string().as_bytes()).unwrap();
    assert_eq!(set.len(), 3, "{skipped:?}");
    assert_eq!(skipped.len(), 1);
    assert!(
        skipped[0].starts_with("key \"hmac\" left out"),
        "{skipped:?}"
    );
    Keys {
        rsa_a,
        rsa_b,
        p256,
        p384,
        set,
    }
}

fn config() -> JwtValidatorConfig {
    JwtValidatorConfig {
        expected_audience: vec!["kafka".to_owned()],
        expected_issuer: Some("https://idp.example".to_owned()),
        ..JwtValidatorConfig::default()
    }
}

fn hs256(claims: &serde_json::Value) -> String {
    let message = format!(
        "{}.{}",
        b64(json!({"alg": "HS256", "kid": "hmac"})
            .to_string()
            .as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(b"shared secret").unwrap();
    mac.update(message.as_bytes());
    format!("{message}.{}", b64(&mac.finalize().into_bytes()))
}

#[test]
fn good_tokens_of_every_algorithm_pass_with_their_subject_and_expiry() {
    let k = keys();
    let cases = [
        (&k.rsa_a, "RS256", "rsa-a"),
        (&k.rsa_a, "RS384", "rsa-a"),
        (&k.rsa_a, "RS512", "rsa-a"),
        (&k.rsa_a, "PS256", "rsa-a"),
        (&k.rsa_a, "PS384", "rsa-a"),
        (&k.rsa_a, "PS512", "rsa-a"),
        (&k.p256, "ES256", "ec-256"),
        (&k.p384, "ES384", "ec-384"),
    ];
    for (signer, alg, kid) in cases {
        let token = signed(signer, alg, Some(kid), &claims());
        let valid = validate_jwt(&token, &k.set, &config(), NOW_MS)
            .unwrap_or_else(|e| panic!("{alg}: {e}"));
        assert_eq!(valid.principal, "alice", "{alg}");
        assert_eq!(valid.expiration_ms, (NOW_S + 3600) * 1000, "{alg}");
        assert_eq!(valid.issued_at_ms, Some((NOW_S - 60) * 1000), "{alg}");
        assert_eq!(
            valid.scope,
            BTreeSet::from(["produce consume".to_owned()]),
            "{alg}"
        );
    }
}

#[test]
fn bad_tokens_are_refused_each_for_its_reason() {
    let k = keys();
    let c = claims;
    let rs256 = |claims: serde_json::Value| signed(&k.rsa_a, "RS256", Some("rsa-a"), &claims);
    let unsigned = format!(
        "{}.{}.",
        b64(br#"{"alg":"none"}"#),
        b64(c().to_string().as_bytes())
    );
    // A token signed by key B that names key A.
    let wrong_key = signed(&k.rsa_b, "RS256", Some("rsa-a"), &c());
    // ES256 with the RSA key's kid: the key does not fit the algorithm.
    let confused = signed(&k.p256, "ES256", Some("rsa-a"), &c());
    let table: Vec<(&str, String, &str)> = vec![
        ("wrong key", wrong_key, "bad signature"),
        (
            "unknown kid",
            signed(&k.rsa_b, "RS256", Some("rsa-b"), &c()),
            "unknown key: no key with kid \"rsa-b\"",
        ),
        (
            "expired beyond the skew",
            rs256(with(c(), "exp", json!(NOW_S - 31))),
            "expired",
        ),
        (
            "nbf in the future beyond the skew",
            rs256(with(c(), "nbf", json!(NOW_S + 31))),
            "not yet valid",
        ),
        (
            "iat in the future beyond the skew",
            rs256(with(c(), "iat", json!(NOW_S + 31))),
            "issued in the future",
        ),
        (
            "wrong audience",
            rs256(with(c(), "aud", json!("someone-else"))),
            "wrong audience",
        ),
        (
            "no audience",
            rs256(with(c(), "aud", json!(null))),
            "no 'aud' claim",
        ),
        (
            "wrong issuer",
            rs256(with(c(), "iss", json!("https://evil.example"))),
            "wrong issuer",
        ),
        (
            "no issuer",
            rs256(with(c(), "iss", json!(null))),
            "no 'iss' claim",
        ),
        ("alg none", unsigned, "alg \"none\""),
        ("HS256", hs256(&c()), "HMAC tokens are refused"),
        ("no sub", rs256(with(c(), "sub", json!(null))), "no subject"),
        (
            "blank sub",
            rs256(with(c(), "sub", json!("  "))),
            "no subject",
        ),
        (
            "sub not a string",
            rs256(with(c(), "sub", json!(7))),
            "not a string",
        ),
        (
            "no exp",
            rs256(with(c(), "exp", json!(null))),
            "no 'exp' claim",
        ),
        (
            "no iat",
            rs256(with(c(), "iat", json!(null))),
            "no 'iat' claim",
        ),
        ("algorithm confusion", confused, "is not for ES256"),
        ("two parts", "a.b".to_owned(), "malformed token"),
        (
            "unknown alg",
            format!("{}.e30.c2ln", b64(br#"{"alg":"XY999"}"#)),
            "is not accepted",
        ),
    ];
    for (name, token, reason) in table {
        match validate_jwt(&token, &k.set, &config(), NOW_MS) {
            Ok(t) => panic!("{name}: accepted as {}", t.principal),
            Err(e) => {
                assert!(e.reason().contains(reason), "{name}: {e}");
                assert_eq!(e.is_unknown_key(), name == "unknown kid", "{name}");
                // The reason is for the log: it never quotes the token.
                assert!(!e.reason().contains(&token), "{name}");
            }
        }
    }
}

#[test]
fn the_clock_skew_allows_a_little_either_way() {
    let k = keys();
    let rs256 = |claims: serde_json::Value| signed(&k.rsa_a, "RS256", Some("rsa-a"), &claims);
    for claims in [
        with(claims(), "exp", json!(NOW_S - 29)),
        with(claims(), "nbf", json!(NOW_S + 29)),
        with(claims(), "iat", json!(NOW_S + 29)),
    ] {
        validate_jwt(&rs256(claims), &k.set, &config(), NOW_MS).unwrap();
    }
    let strict = JwtValidatorConfig {
        clock_skew_seconds: 0,
        ..config()
    };
    let err = validate_jwt(
        &rs256(with(claims(), "exp", json!(NOW_S - 1))),
        &k.set,
        &strict,
        NOW_MS,
    )
    .unwrap_err();
    assert!(err.reason().starts_with("expired"), "{err}");
}

#[test]
fn audience_and_issuer_are_checked_only_as_configured() {
    let k = keys();
    let open = JwtValidatorConfig::default();
    let no_aud = with(with(claims(), "aud", json!(null)), "iss", json!(null));
    let token = signed(&k.rsa_a, "RS256", Some("rsa-a"), &no_aud);
    assert_eq!(
        validate_jwt(&token, &k.set, &open, NOW_MS)
            .unwrap()
            .principal,
        "alice"
    );
    // As in Kafka (jose4j's default): an aud claim with no expected
    // audience configured is refused.
    let token = signed(&k.rsa_a, "RS256", Some("rsa-a"), &claims());
    let err = validate_jwt(&token, &k.set, &open, NOW_MS).unwrap_err();
    assert!(
        err.reason().contains("expected.audience is not set"),
        "{err}"
    );
    // A single-string aud works as well as a list.
    let token = signed(
        &k.rsa_a,
        "RS256",
        Some("rsa-a"),
        &with(claims(), "aud", json!("kafka")),
    );
    validate_jwt(&token, &k.set, &config(), NOW_MS).unwrap();
}

#[test]
fn a_custom_subject_claim_names_the_principal() {
    let k = keys();
    let config = JwtValidatorConfig {
        sub_claim_name: "client_id".to_owned(),
        scope_claim_name: "scp".to_owned(),
        ..config()
    };
    let claims = with(
        with(claims(), "client_id", json!("svc-orders")),
        "scp",
        json!(["a", "b"]),
    );
    let token = signed(&k.p256, "ES256", Some("ec-256"), &claims);
    let valid = validate_jwt(&token, &k.set, &config, NOW_MS).unwrap();
    assert_eq!(valid.principal, "svc-orders");
    assert_eq!(
        valid.scope,
        BTreeSet::from(["a".to_owned(), "b".to_owned()])
    );
}

#[test]
fn a_token_without_kid_needs_exactly_one_fitting_key() {
    let k = keys();
    // One P-384 key in the set: found without a kid.
    let token = signed(&k.p384, "ES384", None, &claims());
    validate_jwt(&token, &k.set, &config(), NOW_MS).unwrap();
    // Two RSA keys: ambiguous.
    let jwks = json!({"keys": [k.rsa_a.jwk("rsa-a"), k.rsa_b.jwk("rsa-b")]});
    let (two, _) = KeySet::parse(jwks.to_string().as_bytes()).unwrap();
    let token = signed(&k.rsa_a, "RS256", None, &claims());
    let err = validate_jwt(&token, &two, &config(), NOW_MS).unwrap_err();
    assert!(err.reason().contains("2 keys of the JWKS"), "{err}");
}

#[test]
fn jwks_documents_keep_only_signature_keys() {
    let k = keys();
    let mut enc = k.rsa_b.jwk("enc");
    enc["use"] = json!("enc");
    let mut wrong_alg = k.rsa_b.jwk("wrong-alg");
    wrong_alg["alg"] = json!("ES256");
    let jwks = json!({"keys": [
        k.rsa_a.jwk("rsa-a"),
        enc,
        wrong_alg,
        {"kty": "EC", "kid": "p521", "crv": "P-521", "x": "AA", "y": "AA"},
        {"kty": "EC", "kid": "short", "crv": "P-256", "x": "AAAA", "y": "AAAA"},
        {"kty": "RSA", "kid": "bad-n", "n": "!!!", "e": "AQAB"},
        {"what": "ever"},
    ]});
    let (set, skipped) = KeySet::parse(jwks.to_string().as_bytes()).unwrap();
    assert_eq!(set.len(), 1);
    assert!(set.has_kid("rsa-a"));
    assert!(!set.has_kid("enc"));
    assert_eq!(skipped.len(), 6, "{skipped:?}");
    assert!(skipped[0].contains("\"use\" is not \"sig\""), "{skipped:?}");
    assert!(skipped[5].starts_with("key #6"), "{skipped:?}");
    assert!(KeySet::parse(b"[]").is_err());
    assert!(KeySet::parse(b"not json").is_err());
}

#[test]
fn the_exchange_answers_a_bad_signed_token_with_invalid_token() {
    let k = keys();
    let validator = std::sync::Arc::new(JwtValidator {
        config: config(),
        keys: k.set.clone(),
    });
    let message = |token: &str| format!("n,,\x01auth=Bearer {token}\x01\x01").into_bytes();

    let mut server = OAuthBearerServer::with_validator(validator.clone());
    let good = signed(&k.rsa_a, "PS256", Some("rsa-a"), &claims());
    match server.respond(&message(&good), NOW_MS).unwrap() {
        OAuthBearerStep::Complete { token, .. } => assert_eq!(token.principal, "alice"),
        other => panic!("expected completion, got {other:?}"),
    }

    let mut server = OAuthBearerServer::with_validator(validator);
    let bad = signed(&k.rsa_b, "PS256", Some("rsa-a"), &claims());
    let OAuthBearerStep::Challenge { challenge, reason } =
        server.respond(&message(&bad), NOW_MS).unwrap()
    else {
        panic!("expected a challenge");
    };
    assert_eq!(challenge, br#"{"status":"invalid_token"}"#);
    assert!(reason.starts_with("bad signature"), "{reason}");
    let err = server.respond(b"\x01", NOW_MS).unwrap_err();
    assert_eq!(err.message(), r#"{"status":"invalid_token"}"#);
}
