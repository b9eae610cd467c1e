use super::*;
use crate::jaas;

/// 2026-01-01T00:00:00Z in milliseconds.
const NOW_MS: i64 = 1_767_225_600_000;
const NOW_S: i64 = NOW_MS / 1000;

fn b64(json: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json)
}

fn token(claims: &str) -> String {
    format!("{}.{}.", b64(r#"{"alg":"none"}"#), b64(claims))
}

fn initial_response(token: &str, extra: &str) -> Vec<u8> {
    format!("n,,\x01auth=Bearer {token}\x01{extra}\x01").into_bytes()
}

fn good_claims() -> String {
    format!(
        r#"{{"sub":"alice","iat":{},"exp":{},"scope":["LOGIN_TO_KAFKA"," other "]}}"#,
        NOW_S - 60,
        NOW_S + 3600
    )
}

#[test]
fn a_good_token_completes_with_its_principal_scope_and_extensions() {
    let mut server = OAuthBearerServer::new(UnsecuredValidatorConfig::default());
    let step = server
        .respond(
            &initial_response(&token(&good_claims()), "traceId=abc 123\x01"),
            NOW_MS,
        )
        .unwrap();
    let OAuthBearerStep::Complete { token, extensions } = step else {
        panic!("expected completion, got {step:?}");
    };
    assert_eq!(token.principal, "alice");
    assert_eq!(
        token.scope,
        BTreeSet::from(["LOGIN_TO_KAFKA".to_owned(), "other".to_owned()])
    );
    assert_eq!(token.expiration_ms, (NOW_S + 3600) * 1000);
    assert_eq!(token.issued_at_ms, Some((NOW_S - 60) * 1000));
    assert_eq!(
        extensions,
        vec![("traceId".to_owned(), "abc 123".to_owned())]
    );
    let err = server.respond(b"\x01", NOW_MS).unwrap_err();
    assert_eq!(err.kind(), OAuthBearerErrorKind::UnexpectedMessage);
}

#[test]
fn an_expired_token_is_challenged_and_the_acknowledgement_fails() {
    let claims = format!(r#"{{"sub":"alice","exp":{NOW_S}}}"#);
    let mut server = OAuthBearerServer::new(UnsecuredValidatorConfig::default());
    let step = server
        .respond(&initial_response(&token(&claims), ""), NOW_MS)
        .unwrap();
    let OAuthBearerStep::Challenge { challenge, reason } = step else {
        panic!("expected a challenge, got {step:?}");
    };
    assert_eq!(challenge, br#"{"status":"invalid_token"}"#);
    assert_eq!(
        reason,
        format!("The indicated time ({NOW_MS} ms) minus allowable clock skew (0 ms) was on or after the Expiration Time value ({NOW_S}.000000 seconds)")
    );
    let err = server.respond(b"\x01", NOW_MS).unwrap_err();
    assert_eq!(err.kind(), OAuthBearerErrorKind::InvalidToken);
    assert_eq!(err.message(), r#"{"status":"invalid_token"}"#);
    assert!(err.reaches_client());
    assert_eq!(err.client_message(false), r#"{"status":"invalid_token"}"#);
}

#[test]
fn clock_skew_and_claim_names_come_from_the_jaas_options() {
    let entry = jaas::parse_single(
        "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required \
         unsecuredLoginStringClaim_sub=\"ignored\" \
         unsecuredValidatorPrincipalClaimName=\"user\" \
         unsecuredValidatorScopeClaimName=\"roles\" \
         unsecuredValidatorRequiredScope=\"LOGIN_TO_KAFKA  ADMIN\" \
         unsecuredValidatorAllowableClockSkewMs=\"3000\";",
    )
    .unwrap();
    let config = UnsecuredValidatorConfig::from_jaas(&entry).unwrap();
    assert_eq!(
        config,
        UnsecuredValidatorConfig {
            principal_claim_name: "user".to_owned(),
            scope_claim_name: "roles".to_owned(),
            required_scope: vec!["LOGIN_TO_KAFKA".to_owned(), "ADMIN".to_owned()],
            allowable_clock_skew_ms: 3000,
        }
    );
    // Expired two seconds ago, within the three seconds of skew.
    let claims = format!(
        r#"{{"user":"bob","exp":{},"roles":["ADMIN","LOGIN_TO_KAFKA"]}}"#,
        NOW_S - 2
    );
    let token = validate_unsecured_token(&token(&claims), &config, NOW_MS).unwrap();
    assert_eq!(token.principal, "bob");

    let bad =
        jaas::parse_single("a.B required unsecuredValidatorAllowableClockSkewMs=\"-1\";").unwrap();
    assert_eq!(
        UnsecuredValidatorConfig::from_jaas(&bad).unwrap_err(),
        "Allowable clock skew millis must not be negative: -1"
    );
    let blank =
        jaas::parse_single("a.B required unsecuredValidatorPrincipalClaimName=\" \";").unwrap();
    assert_eq!(
        UnsecuredValidatorConfig::from_jaas(&blank).unwrap(),
        UnsecuredValidatorConfig::default()
    );
}

#[test]
fn a_missing_required_scope_gets_insufficient_scope() {
    let config = UnsecuredValidatorConfig {
        required_scope: vec!["LOGIN_TO_KAFKA".to_owned(), "ADMIN".to_owned()],
        ..UnsecuredValidatorConfig::default()
    };
    let mut server = OAuthBearerServer::new(config);
    let step = server
        .respond(&initial_response(&token(&good_claims()), ""), NOW_MS)
        .unwrap();
    let OAuthBearerStep::Challenge { challenge, reason } = step else {
        panic!("expected a challenge, got {step:?}");
    };
    assert_eq!(
        String::from_utf8(challenge).unwrap(),
        r#"{"status":"insufficient_scope", "scope":"[LOGIN_TO_KAFKA, ADMIN]"}"#
    );
    assert!(
        reason.contains("was missing a required scope (ADMIN)"),
        "{reason}"
    );
}

#[test]
fn bad_tokens_are_refused_with_kafkas_reasons() {
    let config = UnsecuredValidatorConfig::default();
    let exp = NOW_S + 60;
    let claims = format!(r#"{{"sub":"alice","exp":{exp}}}"#);
    let signed = format!("{}.{}.c2ln", b64(r#"{"alg":"HS256"}"#), b64(&claims));
    let cases = [
        (
            format!("{}.{}", b64(r#"{"alg":"none"}"#), b64(&claims)),
            "Unsecured JWS compact serializations must have 3 dot-separated Base64URL-encoded values".to_owned(),
        ),
        (
            format!("{}..", b64(r#"{"alg":"none"}"#)),
            "Malformed compact serialization contains '..'".to_owned(),
        ),
        (signed, "Unsecured JWS must have 'none' for an algorithm".to_owned()),
        (
            format!("{}.{}.c2ln", b64(r#"{"alg":"none"}"#), b64(&claims)),
            "Unsecured JWS must not contain a digital signature".to_owned(),
        ),
        (
            format!("{}.{}.", b64(r#"{"typ":"JWT"}"#), b64(&claims)),
            "JWS header must have an Algorithm value".to_owned(),
        ),
        (
            format!("{}.!!.", b64(r#"{"alg":"none"}"#)),
            "malformed Base64 URL encoded value".to_owned(),
        ),
        (
            format!("{}.{}.", b64(r#"{"alg":"none"}"#), b64("[1]")),
            "malformed JSON".to_owned(),
        ),
        (token(r#"{"sub":"alice"}"#), "No expiration time in JWT".to_owned()),
        (
            token(r#"{"sub":"alice","exp":"soon"}"#),
            "The 'exp' claim was not of type Number: String".to_owned(),
        ),
        (
            token(&format!(r#"{{"sub":" ","exp":{exp}}}"#)),
            "No principal name in JWT claim: sub".to_owned(),
        ),
        (
            token(&format!(r#"{{"sub":42,"exp":{exp}}}"#)),
            "The 'sub' claim was not of type String: Integer".to_owned(),
        ),
        (
            token(&format!(r#"{{"sub":"alice","exp":{exp},"iat":{}}}"#, NOW_S + 1)),
            format!("The Issued At value ({}.000000 seconds) was after the indicated time ({NOW_MS} ms) plus allowable clock skew (0 ms)", NOW_S + 1),
        ),
    ];
    for (token, reason) in cases {
        let rejection = validate_unsecured_token(&token, &config, NOW_MS).unwrap_err();
        assert_eq!(rejection.reason, reason, "{token}");
        assert_eq!(rejection.challenge(), r#"{"status":"invalid_token"}"#);
    }
}

#[test]
fn malformed_initial_responses_fail_without_a_challenge() {
    use OAuthBearerErrorKind as K;
    let t = token(&good_claims());
    let cases: Vec<(Vec<u8>, K, String)> = vec![
        (
            b"".to_vec(),
            K::Malformed,
            "Invalid OAUTHBEARER client first message".to_owned(),
        ),
        (
            format!("n,,auth=Bearer {t}\x01\x01").into_bytes(),
            K::Malformed,
            "Invalid OAUTHBEARER client first message".to_owned(),
        ),
        (
            format!("n,,\x01auth=Bearer {t}\x01").into_bytes(),
            K::Malformed,
            "Invalid OAUTHBEARER client first message".to_owned(),
        ),
        (
            format!("p=tls,,\x01auth=Bearer {t}\x01\x01").into_bytes(),
            K::Malformed,
            "Invalid OAUTHBEARER client first message".to_owned(),
        ),
        (
            format!("n,,\x01auth=Bearer {t}\x011x=y\x01\x01").into_bytes(),
            K::Malformed,
            "Invalid OAUTHBEARER client first message".to_owned(),
        ),
        (
            b"n,,\x01\x01".to_vec(),
            K::AuthMissing,
            "Invalid OAUTHBEARER client first message: 'auth' not specified".to_owned(),
        ),
        (
            b"n,,\x01auth=Bearer\x01\x01".to_vec(),
            K::BadAuthFormat,
            "Invalid OAUTHBEARER client first message: invalid 'auth' format".to_owned(),
        ),
        (
            b"n,,\x01auth=Bearer a+b\x01\x01".to_vec(),
            K::BadAuthFormat,
            "Invalid OAUTHBEARER client first message: invalid 'auth' format".to_owned(),
        ),
        (
            format!("n,,\x01auth=Basic {t}\x01\x01").into_bytes(),
            K::BadScheme,
            "Invalid scheme in OAUTHBEARER client first message: Basic".to_owned(),
        ),
    ];
    for (message, kind, text) in cases {
        let mut server = OAuthBearerServer::new(UnsecuredValidatorConfig::default());
        let err = server.respond(&message, NOW_MS).unwrap_err();
        assert_eq!(err.kind(), kind, "{:?}", String::from_utf8_lossy(&message));
        assert_eq!(err.message(), text);
        assert!(!err.reaches_client());
        assert_eq!(
            err.client_message(false),
            "Authentication failed during authentication due to invalid credentials with SASL mechanism OAUTHBEARER"
        );
    }
}

#[test]
fn scheme_is_matched_without_case_and_y_and_authzid_are_read() {
    let t = token(&good_claims());
    let parsed = parse_client_initial_response(
        format!("y,a=alice,\x01auth=bearer   {t}\x01k=v\x01k=w\x01\x01").as_bytes(),
    )
    .unwrap();
    assert_eq!(parsed.authzid.as_deref(), Some("alice"));
    assert_eq!(parsed.token, t);
    assert_eq!(parsed.extensions, vec![("k".to_owned(), "w".to_owned())]);
}

#[test]
fn an_authzid_other_than_the_principal_is_refused() {
    let mut server = OAuthBearerServer::new(UnsecuredValidatorConfig::default());
    let message = format!("n,a=bob,\x01auth=Bearer {}\x01\x01", token(&good_claims()));
    let err = server.respond(message.as_bytes(), NOW_MS).unwrap_err();
    assert_eq!(err.kind(), OAuthBearerErrorKind::AuthorizationIdMismatch);
    assert_eq!(
        err.message(),
        "Authentication failed: Client requested an authorization id (bob) that is different from the token's principal name (alice)"
    );
    assert!(err.reaches_client());
}

#[test]
fn after_a_challenge_a_new_initial_response_is_read_afresh() {
    let mut server = OAuthBearerServer::new(UnsecuredValidatorConfig::default());
    let expired = token(&format!(r#"{{"sub":"alice","exp":{}}}"#, NOW_S - 1));
    let step = server
        .respond(&initial_response(&expired, ""), NOW_MS)
        .unwrap();
    assert!(matches!(step, OAuthBearerStep::Challenge { .. }));
    let step = server
        .respond(&initial_response(&token(&good_claims()), ""), NOW_MS)
        .unwrap();
    assert!(matches!(step, OAuthBearerStep::Complete { .. }));
    // Without a challenge outstanding, \x01 is just a malformed message.
    let mut server = OAuthBearerServer::new(UnsecuredValidatorConfig::default());
    let err = server.respond(b"\x01", NOW_MS).unwrap_err();
    assert_eq!(err.kind(), OAuthBearerErrorKind::Malformed);
}

#[test]
fn expiration_must_follow_issued_at() {
    // Within ten seconds of skew both times pass on their own; together
    // they are inconsistent.
    let config = UnsecuredValidatorConfig {
        allowable_clock_skew_ms: 10_000,
        ..UnsecuredValidatorConfig::default()
    };
    let claims = format!(
        r#"{{"sub":"alice","iat":{},"exp":{}}}"#,
        NOW_S + 5,
        NOW_S + 3
    );
    let rejection = validate_unsecured_token(&token(&claims), &config, NOW_MS).unwrap_err();
    assert_eq!(
        rejection.reason,
        format!(
            "The Expiration Time time ({}.000000 seconds) was not after the Issued At time ({}.000000 seconds)",
            NOW_S + 3,
            NOW_S + 5
        )
    );
}
