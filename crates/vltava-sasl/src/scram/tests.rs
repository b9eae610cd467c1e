use super::*;
use crate::Mechanism;

const RFC7677_SALT: &str = "W22ZaJ0SNY7soEsUEjb6gQ==";
const RFC7677_CLIENT_NONCE: &str = "rOprNGfwEbeRWgbNEkqO";
const RFC7677_SERVER_NONCE: &str = "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";

fn rfc7677_credential() -> ScramCredential {
    let salt = BASE64.decode(RFC7677_SALT).unwrap();
    ScramCredential::from_password(ScramMechanism::Sha256, "pencil", &salt, 4096).unwrap()
}

/// A lookup over a fixed table.
fn table(
    entries: Vec<(&'static str, ScramCredential)>,
) -> impl Fn(&str) -> Option<ScramCredential> {
    move |user| {
        entries
            .iter()
            .find(|(u, _)| *u == user)
            .map(|(_, c)| c.clone())
    }
}

/// The client side of RFC 5802, just enough to drive the server.
struct TestClient {
    mechanism: ScramMechanism,
    password: String,
    gs2_header: String,
    client_first_bare: String,
    nonce: String,
    auth_message: String,
    salted_password: Vec<u8>,
    /// An extension to put in the final message (`name=value`).
    final_extension: Option<String>,
}

impl TestClient {
    fn new(mechanism: ScramMechanism, user: &str, password: &str, nonce: &str) -> TestClient {
        let escaped = user.replace('=', "=3D").replace(',', "=2C");
        TestClient {
            mechanism,
            password: password.to_owned(),
            gs2_header: "n,,".to_owned(),
            client_first_bare: format!("n={escaped},r={nonce}"),
            nonce: nonce.to_owned(),
            auth_message: String::new(),
            salted_password: Vec::new(),
            final_extension: None,
        }
    }

    fn first(&self) -> Vec<u8> {
        format!("{}{}", self.gs2_header, self.client_first_bare).into_bytes()
    }

    /// The final message for a server-first message, with `c=` and the
    /// nonce as given (so tests can spoil them) and a correct proof over
    /// what is sent.
    fn final_with(&mut self, server_first: &[u8], binding: &str, nonce: Option<&str>) -> Vec<u8> {
        let server_first = std::str::from_utf8(server_first).unwrap();
        let mut fields = server_first.split(',');
        let server_nonce = fields.next().unwrap().strip_prefix("r=").unwrap();
        let salt = BASE64
            .decode(fields.next().unwrap().strip_prefix("s=").unwrap())
            .unwrap();
        let iterations: u32 = fields
            .next()
            .unwrap()
            .strip_prefix("i=")
            .unwrap()
            .parse()
            .unwrap();
        assert!(server_nonce.starts_with(&self.nonce));
        let m = self.mechanism;
        self.salted_password = m.salted_password(self.password.as_bytes(), &salt, iterations);
        let mut without_proof = format!(
            "c={},r={}",
            BASE64.encode(binding),
            nonce.unwrap_or(server_nonce)
        );
        if let Some(ext) = &self.final_extension {
            without_proof.push(',');
            without_proof.push_str(ext);
        }
        self.auth_message = format!("{},{server_first},{without_proof}", self.client_first_bare);
        let client_key = m.hmac(&self.salted_password, &[b"Client Key"]);
        let stored_key = m.hash(&client_key);
        let signature = m.hmac(&stored_key, &[self.auth_message.as_bytes()]);
        let proof: Vec<u8> = client_key
            .iter()
            .zip(&signature)
            .map(|(a, b)| a ^ b)
            .collect();
        format!("{without_proof},p={}", BASE64.encode(proof)).into_bytes()
    }

    fn final_message(&mut self, server_first: &[u8]) -> Vec<u8> {
        let gs2 = self.gs2_header.clone();
        self.final_with(server_first, &gs2, None)
    }

    fn verify(&self, server_final: &[u8]) -> bool {
        let m = self.mechanism;
        let server_key = m.hmac(&self.salted_password, &[b"Server Key"]);
        let signature = m.hmac(&server_key, &[self.auth_message.as_bytes()]);
        server_final == format!("v={}", BASE64.encode(signature)).as_bytes()
    }
}

#[test]
fn rfc7677_sha256_test_vector_exact_bytes() {
    let mut server = ScramServer::new(ScramMechanism::Sha256);
    let server_first = server
        .client_first(
            format!("n,,n=user,r={RFC7677_CLIENT_NONCE}").as_bytes(),
            table(vec![("user", rfc7677_credential())]),
            RFC7677_SERVER_NONCE,
        )
        .unwrap();
    assert_eq!(
        String::from_utf8(server_first).unwrap(),
        "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
    );
    let (server_final, user) = server
        .client_final(
            b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
        )
        .unwrap();
    assert_eq!(
        String::from_utf8(server_final).unwrap(),
        "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="
    );
    assert_eq!(user, "user");
    assert!(server.is_complete());
    assert_eq!(server.user(), Some("user"));
}

#[test]
fn sha512_round_trip_with_a_test_client() {
    let credential = ScramCredential::from_password(
        ScramMechanism::Sha512,
        "alice-secret",
        b"salt-of-alice",
        8192,
    )
    .unwrap();
    let mut client = TestClient::new(
        ScramMechanism::Sha512,
        "alice",
        "alice-secret",
        "fyko+d2lbbFgONRv9qkxdawL",
    );
    let mut server = ScramServer::new(ScramMechanism::Sha512);
    let server_first = server
        .client_first(
            &client.first(),
            table(vec![("alice", credential)]),
            "3rfcNHYJY1ZVvWVs7j",
        )
        .unwrap();
    assert!(server_first.starts_with(b"r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s="));
    assert!(server_first.ends_with(b",i=8192"));
    let client_final = client.final_message(&server_first);
    let (server_final, user) = server.client_final(&client_final).unwrap();
    assert_eq!(user, "alice");
    assert!(client.verify(&server_final));
    // A completed exchange takes no more messages.
    let err = server.client_final(&client_final).unwrap_err();
    assert_eq!(err.kind(), ScramErrorKind::UnexpectedMessage);
    assert_eq!(
        err.message(),
        "Unexpected challenge in Sasl server state COMPLETE"
    );
    assert_eq!(server.user(), Some("alice"));
}

#[test]
fn escaped_names_authzid_y_flag_and_final_extensions() {
    let user = "a,b=c";
    let credential =
        ScramCredential::from_password(ScramMechanism::Sha256, "pw", b"s", 4096).unwrap();
    let mut client = TestClient::new(ScramMechanism::Sha256, user, "pw", "abc");
    client.gs2_header = "y,a=a=2Cb=3Dc,".to_owned();
    client.final_extension = Some("foo=bar".to_owned());
    assert_eq!(client.first(), b"y,a=a=2Cb=3Dc,n=a=2Cb=3Dc,r=abc");
    let mut server = ScramServer::new(ScramMechanism::Sha256);
    let server_first = server
        .client_first(&client.first(), table(vec![(user, credential)]), "xyz")
        .unwrap();
    let client_final = client.final_message(&server_first);
    let expected_start = format!("c={},r=abcxyz,foo=bar,p=", BASE64.encode("y,a=a=2Cb=3Dc,"));
    assert!(client_final.starts_with(expected_start.as_bytes()));
    // The extension is part of AuthMessage as sent: the proof and the
    // server signature both cover it.
    let (server_final, name) = server.client_final(&client_final).unwrap();
    assert_eq!(name, user);
    assert!(client.verify(&server_final));
}

#[test]
fn extensions_are_parsed_and_an_unknown_token_is_refused() {
    let first = parse_client_first(
        ScramMechanism::Sha256,
        b"n,,n=tokenid,r=nonce,tokenauth=TRUE,other=x=y",
    )
    .unwrap();
    assert_eq!(first.user, "tokenid");
    assert_eq!(first.extensions.get("other"), Some("x=y"));
    assert!(first.extensions.token_auth());
    assert_eq!(first.bare, "n=tokenid,r=nonce,tokenauth=TRUE,other=x=y");
    assert_eq!(first.gs2_header, "n,,");

    let mut server = ScramServer::new(ScramMechanism::Sha256);
    let err = server
        .client_first(
            b"n,,n=tokenid,r=nonce,tokenauth=true",
            table(vec![("tokenid", rfc7677_credential())]),
            "s",
        )
        .unwrap_err();
    assert_eq!(err.kind(), ScramErrorKind::UnknownToken);
    assert_eq!(
        err.message(),
        "Token Authentication failed: Invalid tokenId : tokenid"
    );
    assert!(server.extensions().token_auth());

    // Unknown extensions are ignored, as Kafka ignores them.
    let mut server = ScramServer::new(ScramMechanism::Sha256);
    server
        .client_first(
            b"n,,n=user,r=nonce,foo=bar",
            table(vec![("user", rfc7677_credential())]),
            "s",
        )
        .unwrap();
    assert_eq!(server.extensions().get("foo"), Some("bar"));
    assert!(!server.extensions().token_auth());
}

#[test]
fn wrong_password_fails_with_invalid_proof() {
    let mut client = TestClient::new(ScramMechanism::Sha256, "user", "pencil2", "nonce");
    let mut server = ScramServer::new(ScramMechanism::Sha256);
    let server_first = server
        .client_first(
            &client.first(),
            table(vec![("user", rfc7677_credential())]),
            "srv",
        )
        .unwrap();
    let err = server
        .client_final(&client.final_message(&server_first))
        .unwrap_err();
    assert_eq!(err.kind(), ScramErrorKind::InvalidProof);
    assert_eq!(err.message(), "Invalid client credentials");
    assert_eq!(err.server_final_message().unwrap(), b"e=invalid-proof");
    assert!(!err.reaches_client());
    assert_eq!(
        err.client_message(false),
        "Authentication failed during authentication due to invalid credentials with SASL mechanism SCRAM-SHA-256"
    );
    assert!(!server.is_complete());
    // A failed exchange is over.
    let err = server.client_final(b"c=biws,r=x,p=AAAA").unwrap_err();
    assert_eq!(err.kind(), ScramErrorKind::UnexpectedMessage);
}

#[test]
fn unknown_user_fails_at_the_first_message() {
    let mut server = ScramServer::new(ScramMechanism::Sha256);
    let err = server
        .client_first(
            b"n,,n=nobody,r=abc",
            table(vec![("user", rfc7677_credential())]),
            "s",
        )
        .unwrap_err();
    assert_eq!(err.kind(), ScramErrorKind::UnknownUser);
    assert_eq!(
        err.message(),
        "Authentication failed: Invalid user credentials"
    );
    assert!(!err.reaches_client());
    assert_eq!(err.server_final_message(), None);
    let err = server
        .client_first(b"n,,n=user,r=abc", table(vec![]), "s")
        .unwrap_err();
    assert_eq!(
        err.message(),
        "Unexpected challenge in Sasl server state FAILED"
    );
}

#[test]
fn authzid_of_someone_else_is_refused_with_a_client_visible_message() {
    let mut server = ScramServer::new(ScramMechanism::Sha256);
    let err = server
        .client_first(
            b"n,a=admin,n=user,r=abc",
            table(vec![("user", rfc7677_credential())]),
            "s",
        )
        .unwrap_err();
    assert_eq!(err.kind(), ScramErrorKind::AuthorizationIdMismatch);
    assert!(err.reaches_client());
    assert_eq!(
        err.client_message(true),
        "Authentication failed: Client requested an authorization id that is different from username"
    );
    // The same name as authzid is fine.
    let mut server = ScramServer::new(ScramMechanism::Sha256);
    server
        .client_first(
            b"n,a=user,n=user,r=abc",
            table(vec![("user", rfc7677_credential())]),
            "s",
        )
        .unwrap();
}

#[test]
fn a_stored_credential_below_the_minimum_iterations_is_refused() {
    let mut weak = rfc7677_credential();
    weak.iterations = 4095;
    let mut server = ScramServer::new(ScramMechanism::Sha512);
    let err = server
        .client_first(b"n,,n=user,r=abc", table(vec![("user", weak)]), "s")
        .unwrap_err();
    assert_eq!(err.kind(), ScramErrorKind::TooFewIterations);
    assert_eq!(
        err.message(),
        "Iterations 4095 is less than the minimum 4096 for SCRAM_SHA_512"
    );
}

#[test]
fn bad_nonce_in_the_final_message() {
    let mut client = TestClient::new(ScramMechanism::Sha256, "user", "pencil", "nonce");
    let mut server = ScramServer::new(ScramMechanism::Sha256);
    let server_first = server
        .client_first(
            &client.first(),
            table(vec![("user", rfc7677_credential())]),
            "srv",
        )
        .unwrap();
    // The client's own nonce without the server's part: the proof is right
    // for what is sent, the nonce is not.
    let err = server
        .client_final(&client.final_with(&server_first, "n,,", Some("nonce")))
        .unwrap_err();
    assert_eq!(err.kind(), ScramErrorKind::NonceMismatch);
    assert_eq!(
        err.message(),
        "Invalid client nonce in the final client message."
    );
    assert_eq!(err.server_final_message().unwrap(), b"e=other-error");
}

#[test]
fn librdkafkas_repeated_client_nonce_is_taken_and_nothing_else_in_front() {
    // librdkafka 2.0 sends r=<its nonce><the combined nonce>.
    let check = |prefix: &str| {
        let mut client = TestClient::new(ScramMechanism::Sha256, "user", "pencil", "nonce");
        let mut server = ScramServer::new(ScramMechanism::Sha256);
        let server_first = server
            .client_first(
                &client.first(),
                table(vec![("user", rfc7677_credential())]),
                "srv",
            )
            .unwrap();
        let sent = format!("{prefix}noncesrv");
        server.client_final(&client.final_with(&server_first, "n,,", Some(&sent)))
    };
    let (_, user) = check("nonce").expect("librdkafka's form");
    assert_eq!(user, "user");
    for other in ["x", "nonc", "noncenonce"] {
        let err = check(other).unwrap_err();
        assert_eq!(err.kind(), ScramErrorKind::NonceMismatch, "{other}");
    }
}

#[test]
fn bad_channel_binding_in_the_final_message() {
    for binding in ["y,,", "n,a=user,", "", "p=tls-unique,,"] {
        let mut client = TestClient::new(ScramMechanism::Sha256, "user", "pencil", "nonce");
        let mut server = ScramServer::new(ScramMechanism::Sha256);
        let server_first = server
            .client_first(
                &client.first(),
                table(vec![("user", rfc7677_credential())]),
                "srv",
            )
            .unwrap();
        let client_final = client.final_with(&server_first, binding, None);
        let err = server.client_final(&client_final).unwrap_err();
        assert_eq!(
            err.kind(),
            ScramErrorKind::ChannelBindingMismatch,
            "c= of {binding:?}"
        );
        assert_eq!(
            err.server_final_message().unwrap(),
            b"e=channel-bindings-dont-match"
        );
    }
}

#[test]
fn malformed_client_first_messages() {
    use ScramErrorKind as K;
    let cases: [(&[u8], ScramErrorKind); 17] = [
        (b"", K::MalformedClientFirst),
        (b"n,,", K::MalformedClientFirst),
        (b"n=user,r=abc", K::MalformedClientFirst),
        (b"x,,n=user,r=abc", K::MalformedClientFirst),
        (b"n,b=user,n=user,r=abc", K::MalformedClientFirst),
        (b"n,a=,n=user,r=abc", K::MalformedClientFirst),
        (b"n,,n=,r=abc", K::MalformedClientFirst),
        (b"n,,n=us=er,r=abc", K::MalformedClientFirst),
        (b"n,,n=us=2,r=abc", K::MalformedClientFirst),
        (b"n,,n=user", K::MalformedClientFirst),
        (b"n,,n=user,r=", K::MalformedClientFirst),
        (b"n,,n=user,r=a b", K::MalformedClientFirst),
        (b"n,,n=user,r=abc,", K::MalformedClientFirst),
        (b"n,,n=user,r=abc,9=x", K::MalformedClientFirst),
        (b"n,,n=\xffuser,r=abc", K::MalformedClientFirst),
        (
            b"p=tls-server-end-point,,n=user,r=abc",
            K::ChannelBindingNotSupported,
        ),
        (b"n,,m=ext,n=user,r=abc", K::MandatoryExtension),
    ];
    for (message, kind) in cases {
        let mut server = ScramServer::new(ScramMechanism::Sha256);
        let err = server
            .client_first(message, table(vec![("user", rfc7677_credential())]), "s")
            .unwrap_err();
        assert_eq!(err.kind(), kind, "{:?}", String::from_utf8_lossy(message));
        assert!(err
            .message()
            .starts_with("Invalid SCRAM client first message format: "));
        assert!(!err.reaches_client());
        assert_eq!(err.server_final_message(), None);
    }
}

#[test]
fn malformed_client_final_messages() {
    let nonce = "r=nonceserver";
    let cases = [
        String::new(),
        "c=biws".to_owned(),
        format!("c=biws,{nonce}"),
        format!("c=biws,{nonce},p="),
        format!("c=biws,{nonce},p=not base64"),
        format!("c=bi,{nonce},p=AAAA"),
        format!("{nonce},c=biws,p=AAAA"),
        "c=biws,r=,p=AAAA".to_owned(),
        format!("c=biws,{nonce},1=x,p=AAAA"),
    ];
    for message in cases {
        let mut server = ScramServer::new(ScramMechanism::Sha256);
        server
            .client_first(
                b"n,,n=user,r=nonce",
                table(vec![("user", rfc7677_credential())]),
                "server",
            )
            .unwrap();
        let err = server.client_final(message.as_bytes()).unwrap_err();
        if message == format!("c=biws,{nonce},p=") {
            // An empty proof is valid base64 and simply wrong.
            assert_eq!(err.kind(), ScramErrorKind::InvalidProof);
            continue;
        }
        assert_eq!(
            err.kind(),
            ScramErrorKind::MalformedClientFinal,
            "{message:?}"
        );
        assert!(err
            .message()
            .starts_with("Invalid SCRAM client final message format: "));
        assert_eq!(err.server_final_message().unwrap(), b"e=invalid-encoding");
    }
}

#[test]
fn mechanism_mismatch_fails() {
    assert_eq!(ScramMechanism::from_mechanism(Mechanism::Plain), None);
    assert_eq!(ScramMechanism::from_mechanism(Mechanism::OAuthBearer), None);
    assert_eq!(
        ScramMechanism::from_mechanism(Mechanism::ScramSha512),
        Some(ScramMechanism::Sha512)
    );
    assert_eq!(ScramMechanism::Sha256.name(), "SCRAM-SHA-256");

    // A SHA-256 credential found by a SHA-512 server: the client proves the
    // right password under SHA-512 and still fails, as in Kafka, where the
    // stored key simply does not match.
    let mut client = TestClient::new(ScramMechanism::Sha512, "user", "pencil", "nonce");
    let mut server = ScramServer::new(ScramMechanism::Sha512);
    let server_first = server
        .client_first(
            &client.first(),
            table(vec![("user", rfc7677_credential())]),
            "srv",
        )
        .unwrap();
    let err = server
        .client_final(&client.final_message(&server_first))
        .unwrap_err();
    assert_eq!(err.kind(), ScramErrorKind::InvalidProof);

    // A SHA-256 client against a SHA-512 server with a SHA-512 credential:
    // its 32-byte proof cannot be right.
    let salt = BASE64.decode(RFC7677_SALT).unwrap();
    let credential =
        ScramCredential::from_password(ScramMechanism::Sha512, "pencil", &salt, 4096).unwrap();
    let mut client = TestClient::new(ScramMechanism::Sha256, "user", "pencil", "nonce");
    let mut server = ScramServer::new(ScramMechanism::Sha512);
    let server_first = server
        .client_first(&client.first(), table(vec![("user", credential)]), "srv")
        .unwrap();
    let err = server
        .client_final(&client.final_message(&server_first))
        .unwrap_err();
    assert_eq!(err.kind(), ScramErrorKind::InvalidProof);
}

#[test]
fn credential_from_password_equals_credential_from_salted_password() {
    for mechanism in [ScramMechanism::Sha256, ScramMechanism::Sha512] {
        let salt = b"0123456789abcdef";
        let from_password =
            ScramCredential::from_password(mechanism, "s3cr3t-ř", salt, 4096).unwrap();
        let salted = mechanism.salted_password("s3cr3t-ř".as_bytes(), salt, 4096);
        let from_salted =
            ScramCredential::from_salted_password(mechanism, &salted, salt, 4096).unwrap();
        assert_eq!(from_password, from_salted);
        assert_eq!(from_password.stored_key.len(), mechanism.hash_len());
        assert_eq!(from_password.server_key.len(), mechanism.hash_len());
        assert_eq!(from_password.salt, salt);
        assert_eq!(from_password.iterations, 4096);
        let debug = format!("{from_password:?}");
        assert!(!debug.contains("stored_key") && debug.contains("iterations: 4096"));
    }
}

#[test]
fn credential_parameters_are_checked() {
    let m = ScramMechanism::Sha256;
    let cases = [
        (
            ScramCredential::from_password(m, "p", b"salt", 4095),
            "Iterations 4095 is less than the minimum 4096 for SCRAM-SHA-256",
        ),
        (
            ScramCredential::from_password(m, "p", b"salt", 16385),
            "Iterations 16385 is more than the maximum 16384 for SCRAM-SHA-256",
        ),
        (
            ScramCredential::from_password(m, "p", b"", 4096),
            "A SCRAM credential needs a salt",
        ),
        (
            ScramCredential::from_salted_password(m, &[0; 64], b"salt", 4096),
            "A salted password for SCRAM-SHA-256 has 64 bytes, not 32",
        ),
    ];
    for (result, message) in cases {
        assert_eq!(result.unwrap_err().message(), message);
    }
    assert!(ScramCredential::from_password(m, "p", b"salt", 16384).is_ok());
}

#[test]
#[should_panic(expected = "printable ASCII")]
fn a_bad_server_nonce_is_a_caller_bug() {
    let mut server = ScramServer::new(ScramMechanism::Sha256);
    let _ = server.client_first(b"n,,n=user,r=abc", table(vec![]), "a,b");
}

#[test]
fn a_delegation_token_authenticates_its_owner() {
    let mechanism = ScramMechanism::Sha512;
    let hmac_b64 = "c2VjcmV0LWhtYWM=";
    let credential =
        ScramCredential::from_password(mechanism, hmac_b64, b"token-salt", 4096).unwrap();
    let tokens = |id: &str| {
        (id == "tok-1").then(|| TokenLogin {
            credential: credential.clone(),
            owner: "alice".into(),
            expires_ms: 1_000,
        })
    };
    let users = |_: &str| None;

    // The right HMAC: the owner is the authenticated user.
    let mut client = ScramClient::new(mechanism, "tok-1", hmac_b64, "cnonce").with_token_auth();
    let mut server = ScramServer::new(mechanism);
    let first = server
        .client_first_with_tokens(&client.client_first(), users, tokens, "snonce")
        .unwrap();
    let last = client.client_final(&first).unwrap();
    let (reply, user, token) = server.client_final_with_token(&last).unwrap();
    assert_eq!(user, "alice");
    assert_eq!(token.unwrap().expires_ms, 1_000);
    assert_eq!(server.user(), Some("alice"));
    client.verify_server_final(&reply).unwrap();

    // A wrong HMAC fails at the proof.
    let mut client = ScramClient::new(mechanism, "tok-1", "guess", "cnonce").with_token_auth();
    let mut server = ScramServer::new(mechanism);
    let first = server
        .client_first_with_tokens(&client.client_first(), users, tokens, "snonce")
        .unwrap();
    let last = client.client_final(&first).unwrap();
    let err = server.client_final_with_token(&last).unwrap_err();
    assert_eq!(err.kind(), ScramErrorKind::InvalidProof);

    // Without the extension the token id is looked up as a user, and is
    // not one.
    let client = ScramClient::new(mechanism, "tok-1", hmac_b64, "cnonce");
    let mut server = ScramServer::new(mechanism);
    let err = server
        .client_first_with_tokens(&client.client_first(), users, tokens, "snonce")
        .unwrap_err();
    assert_eq!(err.kind(), ScramErrorKind::UnknownUser);
    // An unknown token.
    let client = ScramClient::new(mechanism, "tok-2", hmac_b64, "cnonce").with_token_auth();
    let mut server = ScramServer::new(mechanism);
    let err = server
        .client_first_with_tokens(&client.client_first(), users, tokens, "snonce")
        .unwrap_err();
    assert_eq!(err.kind(), ScramErrorKind::UnknownToken);
}
