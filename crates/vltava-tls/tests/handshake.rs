//! Listener TLS configurations made from Kafka-style settings, checked by
//! handshakes in memory between a rustls client and server.

use std::sync::Arc;

use rustls::pki_types::ServerName;
use rustls::{ClientConnection, ServerConnection};
use vltava_tls::dev::{DevCa, Use};
use vltava_tls::{
    client_config, subject_of, ClientAuth, OutboundTls, ServerTls, StoreType, TlsSettings,
};

struct Pki {
    ca: DevCa,
    dir: std::path::PathBuf,
}

fn pki(name: &str) -> Pki {
    let dir = std::env::temp_dir().join(format!("vltava-tls-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    Pki {
        ca: DevCa::new("test CA").unwrap(),
        dir,
    }
}

impl Pki {
    fn write(&self, file: &str, text: &str) -> std::path::PathBuf {
        let path = self.dir.join(file);
        std::fs::write(&path, text).unwrap();
        path
    }

    fn broker_settings(&self) -> TlsSettings {
        let broker = self
            .ca
            .issue(Use::Server, "localhost", &["localhost".into()], None)
            .unwrap();
        let keystore = self.write("broker.pem", &broker.keystore_pem(&self.ca));
        TlsSettings::with_keystore("SSL", keystore)
    }
}

/// Runs a handshake to its end; the error of whichever side failed.
fn handshake(server: &mut ServerConnection, client: &mut ClientConnection) -> Result<(), String> {
    for _ in 0..20 {
        let mut buf = Vec::new();
        while client.wants_write() {
            client.write_tls(&mut buf).unwrap();
        }
        if !buf.is_empty() {
            server.read_tls(&mut buf.as_slice()).unwrap();
            server
                .process_new_packets()
                .map_err(|e| format!("server: {e}"))?;
        }
        let mut buf = Vec::new();
        while server.wants_write() {
            server.write_tls(&mut buf).unwrap();
        }
        if !buf.is_empty() {
            client.read_tls(&mut buf.as_slice()).unwrap();
            client
                .process_new_packets()
                .map_err(|e| format!("client: {e}"))?;
        }
        if !server.is_handshaking() && !client.is_handshaking() {
            return Ok(());
        }
    }
    Err("handshake did not finish".into())
}

fn connect(
    tls: &ServerTls,
    trust: &str,
    identity: Option<&str>,
) -> (Result<(), String>, ServerConnection) {
    let client = client_config(trust.as_bytes(), identity.map(str::as_bytes)).unwrap();
    let mut client =
        ClientConnection::new(Arc::new(client), ServerName::try_from("localhost").unwrap())
            .unwrap();
    let mut server = ServerConnection::new(tls.config()).unwrap();
    (handshake(&mut server, &mut client), server)
}

#[test]
fn a_client_that_trusts_the_ca_connects() {
    let p = pki("plain");
    let tls = ServerTls::new(p.broker_settings()).unwrap();
    let (result, server) = connect(&tls, &p.ca.cert_pem, None);
    result.unwrap();
    assert!(server.peer_certificates().is_none());
}

#[test]
fn a_client_that_trusts_another_ca_is_refused() {
    let p = pki("other-ca");
    let tls = ServerTls::new(p.broker_settings()).unwrap();
    let other = DevCa::new("someone else").unwrap();
    let (result, _) = connect(&tls, &other.cert_pem, None);
    let err = result.unwrap_err();
    assert!(err.starts_with("client:"), "{err}");
}

#[test]
fn required_client_certificates_are_checked_and_give_the_principal() {
    let p = pki("mtls");
    let mut settings = p.broker_settings();
    settings.client_auth = ClientAuth::Required;
    settings.truststore_location = Some(p.write("ca.pem", &p.ca.cert_pem));
    let tls = ServerTls::new(settings).unwrap();

    // No certificate: refused by the server.
    let (result, _) = connect(&tls, &p.ca.cert_pem, None);
    assert!(result.unwrap_err().starts_with("server:"));

    // A certificate from the CA: accepted, its subject is the principal.
    let alice = p.ca.issue(Use::Client, "alice", &[], None).unwrap();
    let (result, server) = connect(&tls, &p.ca.cert_pem, Some(&alice.keystore_pem(&p.ca)));
    result.unwrap();
    let certs = server.peer_certificates().expect("the client's chain");
    // The certificate lists CN, then O; RFC 2253 (and Java's
    // X500Principal) writes the last one first.
    assert_eq!(
        subject_of(&certs[0]).unwrap(),
        "O=Vltava development,CN=alice"
    );

    // An expired certificate from the same CA: refused.
    let expired =
        p.ca.issue(Use::Client, "old", &[], Some(((2020, 1, 1), (2021, 1, 1))))
            .unwrap();
    let (result, _) = connect(&tls, &p.ca.cert_pem, Some(&expired.keystore_pem(&p.ca)));
    let err = result.unwrap_err();
    assert!(
        err.contains("server:") && err.to_lowercase().contains("expired"),
        "{err}"
    );

    // A certificate from another CA: refused.
    let other = DevCa::new("someone else").unwrap();
    let mallory = other.issue(Use::Client, "mallory", &[], None).unwrap();
    let (result, _) = connect(&tls, &p.ca.cert_pem, Some(&mallory.keystore_pem(&other)));
    assert!(result.unwrap_err().starts_with("server:"));
}

#[test]
fn requested_client_certificates_are_optional() {
    let p = pki("requested");
    let mut settings = p.broker_settings();
    settings.client_auth = ClientAuth::Requested;
    settings.truststore_certificates = Some(p.ca.cert_pem.clone());
    let tls = ServerTls::new(settings).unwrap();
    let (result, server) = connect(&tls, &p.ca.cert_pem, None);
    result.unwrap();
    assert!(server.peer_certificates().is_none());
}

#[test]
fn inline_key_and_chain_work_like_a_file() {
    let p = pki("inline");
    let broker =
        p.ca.issue(Use::Server, "localhost", &["localhost".into()], None)
            .unwrap();
    let mut settings = p.broker_settings();
    settings.keystore_location = None;
    settings.keystore_key = Some(broker.key_pem.clone());
    settings.keystore_certificate_chain = Some(broker.cert_pem.clone());
    let tls = ServerTls::new(settings).unwrap();
    connect(&tls, &p.ca.cert_pem, None).0.unwrap();
}

#[test]
fn unusable_settings_say_what_to_do() {
    let p = pki("bad");
    let mut jks = p.broker_settings();
    jks.keystore_type = StoreType::Jks;
    let err = ServerTls::new(jks).err().unwrap().to_string();
    assert!(err.contains("is a PEM file, not JKS or PKCS12"), "{err}");

    let mut none = p.broker_settings();
    none.keystore_location = None;
    let err = ServerTls::new(none).err().unwrap().to_string();
    assert!(err.contains("no key store"), "{err}");

    let mut no_trust = p.broker_settings();
    no_trust.client_auth = ClientAuth::Required;
    let err = ServerTls::new(no_trust).err().unwrap().to_string();
    assert!(err.contains("trust store"), "{err}");

    let mut suites = p.broker_settings();
    suites.cipher_suites = vec!["TLS_RSA_WITH_NULL_SHA".into()];
    let err = ServerTls::new(suites).err().unwrap().to_string();
    assert!(err.contains("TLS_AES_128_GCM_SHA256"), "{err}");

    let mut old = p.broker_settings();
    old.enabled_protocols = vec!["TLSv1.1".into()];
    assert!(ServerTls::new(old).is_err());

    let garbage = p.write("garbage.pem", "not a certificate");
    let err = ServerTls::new(TlsSettings::with_keystore("SSL", garbage))
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("no certificate"), "{err}");
}

#[test]
fn cipher_suites_and_protocols_narrow_what_is_offered() {
    let p = pki("narrow");
    let mut settings = p.broker_settings();
    settings.enabled_protocols = vec!["TLSv1.2".into()];
    settings.cipher_suites = vec!["TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384".into()];
    let tls = ServerTls::new(settings).unwrap();
    let (result, server) = connect(&tls, &p.ca.cert_pem, None);
    result.unwrap();
    assert_eq!(
        server.protocol_version(),
        Some(rustls::ProtocolVersion::TLSv1_2)
    );
    assert_eq!(
        server.negotiated_cipher_suite().unwrap().suite(),
        rustls::CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384
    );
}

#[test]
fn a_replaced_key_store_is_used_after_a_reload_and_a_broken_one_is_not() {
    let p = pki("reload");
    let settings = p.broker_settings();
    let path = settings.keystore_location.clone().unwrap();
    let tls = ServerTls::new(settings).unwrap();
    assert!(!tls.reload_if_changed(), "nothing changed yet");

    // A new CA's certificate replaces the file: after the reload, clients
    // of the old CA are refused and clients of the new one connect.
    let next = DevCa::new("next CA").unwrap();
    let broker = next
        .issue(Use::Server, "localhost", &["localhost".into()], None)
        .unwrap();
    std::fs::write(&path, broker.keystore_pem(&next) + "\n").unwrap();
    assert!(tls.reload_if_changed());
    assert!(connect(&tls, &p.ca.cert_pem, None).0.is_err());
    connect(&tls, &next.cert_pem, None).0.unwrap();

    // A half-written file does not load: the last good one stays.
    std::fs::write(&path, "-----BEGIN CERTIFICATE-----\nMIIB").unwrap();
    assert!(!tls.reload_if_changed());
    connect(&tls, &next.cert_pem, None).0.unwrap();
}

#[test]
fn a_broker_dials_other_brokers_with_its_listener_settings() {
    let p = pki("outbound");
    // The listener requires client certificates; the dialling broker uses
    // the same listener settings: its key store is its client certificate.
    let mut settings = p.broker_settings();
    settings.client_auth = ClientAuth::Required;
    settings.truststore_location = Some(p.write("ca.pem", &p.ca.cert_pem));
    let tls = ServerTls::new(settings.clone()).unwrap();
    let dial = |verify: bool, name: &str| {
        let client = OutboundTls::new(settings.clone(), verify).unwrap().config();
        let mut client =
            ClientConnection::new(client, ServerName::try_from(name.to_string()).unwrap()).unwrap();
        let mut server = ServerConnection::new(tls.config()).unwrap();
        (handshake(&mut server, &mut client), server)
    };
    let (result, server) = dial(true, "localhost");
    result.unwrap();
    let subject = subject_of(server.peer_certificates().unwrap()[0].as_ref()).unwrap();
    assert!(subject.contains("CN=localhost"), "{subject}");
    // The certificate is for localhost only: another name is refused when
    // host names are verified (ssl.endpoint.identification.algorithm=https)
    // and accepted when they are not (an empty algorithm).
    let err = dial(true, "broker-2.example").0.unwrap_err();
    assert!(err.starts_with("client:"), "{err}");
    dial(false, "broker-2.example").0.unwrap();
    // Without host name verification the chain is still checked.
    let mut other = settings.clone();
    let stranger = DevCa::new("someone else").unwrap();
    other.truststore_location = Some(p.write("other-ca.pem", &stranger.cert_pem));
    let client = OutboundTls::new(other, false).unwrap().config();
    let mut client =
        ClientConnection::new(client, ServerName::try_from("localhost").unwrap()).unwrap();
    let mut server = ServerConnection::new(tls.config()).unwrap();
    assert!(handshake(&mut server, &mut client).is_err());
    // A trust store is needed to dial at all.
    let mut none = settings.clone();
    none.truststore_location = None;
    let err = OutboundTls::new(none, true).err().unwrap().to_string();
    assert!(err.contains("ssl.truststore.location"), "{err}");
}

/// A node's connections to other nodes follow its key and trust store
/// files as its listener does: after a rotation to a new CA (every node's
/// trust store and key store replaced), the same client configuration
/// dials a node of the new CA and presents the new certificate, and a
/// half-written file leaves the last good ones in use.
#[test]
fn outbound_tls_follows_rotated_files() {
    let p = pki("outbound-reload");
    let mut settings = p.broker_settings();
    settings.client_auth = ClientAuth::Required;
    let trust_path = p.write("ca.pem", &p.ca.cert_pem);
    settings.truststore_location = Some(trust_path.clone());
    let keystore_path = settings.keystore_location.clone().unwrap();
    let outbound = OutboundTls::new(settings.clone(), true).unwrap();
    let config = outbound.config();
    assert!(!outbound.reload_if_changed(), "nothing changed yet");
    let dial = |server_tls: &ServerTls| {
        let mut client =
            ClientConnection::new(config.clone(), ServerName::try_from("localhost").unwrap())
                .unwrap();
        let mut server = ServerConnection::new(server_tls.config()).unwrap();
        handshake(&mut server, &mut client)
            .map(|()| subject_of(server.peer_certificates().unwrap()[0].as_ref()).unwrap())
    };
    let old_node = ServerTls::new(settings.clone()).unwrap();
    assert!(dial(&old_node).unwrap().contains("CN=localhost"));

    // A node already on the new CA (its own files in another directory).
    let next = DevCa::new("next CA").unwrap();
    let q = pki("outbound-reload-next");
    let mut next_settings = TlsSettings::with_keystore(
        "SSL",
        q.write(
            "broker.pem",
            &next
                .issue(Use::Server, "localhost", &["localhost".into()], None)
                .unwrap()
                .keystore_pem(&next),
        ),
    );
    next_settings.client_auth = ClientAuth::Required;
    next_settings.truststore_location = Some(q.write("ca.pem", &next.cert_pem));
    let next_node = ServerTls::new(next_settings).unwrap();
    let err = dial(&next_node).unwrap_err();
    assert!(
        err.starts_with("client:"),
        "the old trust store refuses it: {err}"
    );

    // This node's files are rotated: the same configuration now dials the
    // new node, presenting the new certificate.
    std::fs::write(&trust_path, &next.cert_pem).unwrap();
    let rotated = next
        .issue(Use::Server, "node-rotated", &["localhost".into()], None)
        .unwrap();
    std::fs::write(&keystore_path, rotated.keystore_pem(&next)).unwrap();
    assert!(outbound.reload_if_changed());
    // The old node first: a session resumed from before the rotation
    // would skip its certificate, which the new trust store refuses.
    assert!(dial(&old_node).is_err(), "the old CA is no longer trusted");
    assert!(dial(&next_node).unwrap().contains("node-rotated"));

    // A half-written trust store does not load: the last good files stay.
    std::fs::write(&trust_path, "-----BEGIN CERTIFICATE-----\nMIIB").unwrap();
    assert!(!outbound.reload_if_changed());
    assert!(dial(&next_node).unwrap().contains("node-rotated"));
}

/// A PKCS12 file, as keytool or `openssl pkcs12 -export` write one: each
/// of `keys` with its chain (leaf, then the CA), and `trusted` certificates
/// on their own, under `password`.
fn pkcs12(
    keys: &[(&vltava_tls::dev::Issued, &DevCa)],
    trusted: &[&str],
    password: &str,
    algorithm: p12_keystore::EncryptionAlgorithm,
) -> Vec<u8> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivatePkcs8KeyDer};
    let der = |pem: &str| {
        CertificateDer::from_pem_slice(pem.as_bytes())
            .unwrap()
            .to_vec()
    };
    let mut store = p12_keystore::KeyStore::new();
    for (i, (issued, ca)) in keys.iter().enumerate() {
        let key = PrivatePkcs8KeyDer::from_pem_slice(issued.key_pem.as_bytes()).unwrap();
        let chain = p12_keystore::PrivateKeyChain::new(
            format!("key-{i}").into_bytes(),
            p12_keystore::PrivateKey::from_der(key.secret_pkcs8_der()).unwrap(),
            [
                p12_keystore::Certificate::from_der(&der(&issued.cert_pem)).unwrap(),
                p12_keystore::Certificate::from_der(&der(&ca.cert_pem)).unwrap(),
            ],
        );
        store.add_entry(
            &format!("key-{i}"),
            p12_keystore::KeyStoreEntry::PrivateKeyChain(chain),
        );
    }
    for (i, pem) in trusted.iter().enumerate() {
        store.add_entry(
            &format!("ca-{i}"),
            p12_keystore::KeyStoreEntry::Certificate(
                p12_keystore::Certificate::from_der(&der(pem)).unwrap(),
            ),
        );
    }
    store
        .writer(password)
        .encryption_algorithm(algorithm)
        .write()
        .unwrap()
}

#[test]
fn pkcs12_key_and_trust_stores_work_like_pem() {
    use p12_keystore::EncryptionAlgorithm::{
        PbeWithHmacSha256AndAes256, PbeWithShaAnd3KeyTripleDesCbc,
    };
    let p = pki("pkcs12");
    let broker =
        p.ca.issue(Use::Server, "localhost", &["localhost".into()], None)
            .unwrap();
    // PBES2 with AES (what Java 17's keytool writes) and the older 3DES
    // (what Java 8 and older OpenSSL wrote).
    for (name, algorithm) in [
        ("aes", PbeWithHmacSha256AndAes256),
        ("3des", PbeWithShaAnd3KeyTripleDesCbc),
    ] {
        let keystore = pkcs12(&[(&broker, &p.ca)], &[], "broker-secret", algorithm);
        let truststore = pkcs12(&[], &[&p.ca.cert_pem], "trust-secret", algorithm);
        let mut settings =
            TlsSettings::with_keystore("SSL", p.dir.join(format!("broker-{name}.p12")));
        std::fs::write(settings.keystore_location.as_ref().unwrap(), &keystore).unwrap();
        settings.keystore_type = StoreType::Pkcs12;
        settings.keystore_password = Some("broker-secret".into());
        settings.truststore_type = StoreType::Pkcs12;
        settings.truststore_location = Some(p.dir.join(format!("trust-{name}.p12")));
        std::fs::write(settings.truststore_location.as_ref().unwrap(), &truststore).unwrap();
        settings.truststore_password = Some("trust-secret".into());
        settings.client_auth = ClientAuth::Required;
        let tls = ServerTls::new(settings.clone()).unwrap();

        // The broker presents the PKCS12 key's chain to a client that
        // trusts the CA, and trusts the CA of the PKCS12 trust store.
        let alice = p.ca.issue(Use::Client, "alice", &[], None).unwrap();
        let (result, server) = connect(&tls, &p.ca.cert_pem, Some(&alice.keystore_pem(&p.ca)));
        result.unwrap();
        assert!(server.peer_certificates().is_some());
        let other = DevCa::new("someone else").unwrap();
        let mallory = other.issue(Use::Client, "mallory", &[], None).unwrap();
        let (result, _) = connect(&tls, &p.ca.cert_pem, Some(&mallory.keystore_pem(&other)));
        assert!(result.unwrap_err().starts_with("server:"), "{name}");

        // The wrong password, or none, opens neither store.
        let mut wrong = settings.clone();
        wrong.keystore_password = Some("guess".into());
        let err = ServerTls::new(wrong).err().unwrap().to_string();
        assert!(
            err.contains("key store: cannot open the PKCS12 file"),
            "{err}"
        );
        let mut none = settings.clone();
        none.truststore_password = None;
        let err = ServerTls::new(none).err().unwrap().to_string();
        assert!(
            err.contains("trust store: cannot open the PKCS12 file"),
            "{err}"
        );

        // Java keeps a PKCS12 key under the store's password; without
        // ssl.keystore.password, ssl.key.password is tried.
        let mut key_password = settings.clone();
        key_password.keystore_password = None;
        key_password.key_password = Some("broker-secret".into());
        ServerTls::new(key_password).unwrap();
    }
}

#[test]
fn a_pkcs12_key_store_must_hold_exactly_one_key() {
    use p12_keystore::EncryptionAlgorithm::PbeWithHmacSha256AndAes256;
    let p = pki("pkcs12-keys");
    let one =
        p.ca.issue(Use::Server, "localhost", &["localhost".into()], None)
            .unwrap();
    let two =
        p.ca.issue(Use::Server, "other", &["other".into()], None)
            .unwrap();
    for (file, keys, wanted) in [
        (
            "two.p12",
            vec![(&one, &p.ca), (&two, &p.ca)],
            "holds 2 private keys",
        ),
        ("none.p12", vec![], "holds no private key"),
    ] {
        let data = pkcs12(&keys, &[&p.ca.cert_pem], "pw", PbeWithHmacSha256AndAes256);
        let mut settings = TlsSettings::with_keystore("SSL", p.dir.join(file));
        std::fs::write(settings.keystore_location.as_ref().unwrap(), data).unwrap();
        settings.keystore_type = StoreType::Pkcs12;
        settings.keystore_password = Some("pw".into());
        let err = ServerTls::new(settings).err().unwrap().to_string();
        assert!(err.contains(wanted), "{err}");
    }
    // PEM inline keys do not mix with a PKCS12 key store.
    let mut inline = p.broker_settings();
    inline.keystore_type = StoreType::Pkcs12;
    inline.keystore_key = Some(one.key_pem.clone());
    let err = ServerTls::new(inline).err().unwrap().to_string();
    assert!(err.contains("ssl.keystore.location"), "{err}");
}

/// A store made by `tests/fixtures/make.sh` (keytool and openssl).
fn fixture(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn fixture_text(name: &str) -> String {
    std::fs::read_to_string(fixture(name)).unwrap()
}

/// A handshake with a client trusting `trust_pem`; the subjects of the
/// chain the server presented.
fn served_chain(tls: &ServerTls, trust_pem: &str) -> Result<Vec<String>, String> {
    let client = client_config(trust_pem.as_bytes(), None).unwrap();
    let mut client =
        ClientConnection::new(Arc::new(client), ServerName::try_from("localhost").unwrap())
            .unwrap();
    let mut server = ServerConnection::new(tls.config()).unwrap();
    handshake(&mut server, &mut client)?;
    Ok(client
        .peer_certificates()
        .unwrap()
        .iter()
        .map(|c| subject_of(c.as_ref()).unwrap())
        .collect())
}

fn jks_broker_settings(file: &str) -> TlsSettings {
    let mut settings = TlsSettings::with_keystore("SSL", fixture(file));
    settings.keystore_type = StoreType::Jks;
    settings.keystore_password = Some("store-secret".into());
    settings.key_password = Some("key-secret".into());
    settings
}

#[test]
fn jks_key_stores_written_by_keytool_serve_their_chain() {
    let ca = fixture_text("ca.pem");
    for file in ["broker-ec.jks", "broker-rsa.jks"] {
        // Typed JKS, left unset (Kafka's default), or typed PKCS12 (Java
        // reads either format under either type).
        for store_type in [StoreType::Jks, StoreType::Unset, StoreType::Pkcs12] {
            let mut settings = jks_broker_settings(file);
            settings.keystore_type = store_type;
            let tls = ServerTls::new(settings).unwrap();
            let chain = served_chain(&tls, &ca).unwrap();
            assert_eq!(chain.len(), 2, "{file}: {chain:?}");
            assert!(chain[0].contains("CN=localhost"), "{chain:?}");
            assert!(chain[1].contains("CN=fixture-ca"), "{chain:?}");
        }
        // A client trusting another CA is refused: the chain is the CA's.
        let tls = ServerTls::new(jks_broker_settings(file)).unwrap();
        let other = DevCa::new("someone else").unwrap();
        assert!(served_chain(&tls, &other.cert_pem).is_err());

        // The store's password checks the file; a wrong one is refused.
        let mut wrong = jks_broker_settings(file);
        wrong.keystore_password = Some("guess".into());
        let err = ServerTls::new(wrong).err().unwrap().to_string();
        assert!(err.contains("integrity check failed"), "{err}");
        // The key has a password of its own: without ssl.key.password the
        // store's is tried, and does not open it.
        let mut no_key_password = jks_broker_settings(file);
        no_key_password.key_password = None;
        let err = ServerTls::new(no_key_password).err().unwrap().to_string();
        assert!(err.contains("does not open with its password"), "{err}");
        let mut wrong_key = jks_broker_settings(file);
        wrong_key.key_password = Some("store-secret".into());
        assert!(ServerTls::new(wrong_key).is_err());
        // Neither password: nothing opens the key.
        let mut none = jks_broker_settings(file);
        none.key_password = None;
        none.keystore_password = None;
        let err = ServerTls::new(none).err().unwrap().to_string();
        assert!(err.contains("needs a password"), "{err}");
    }
}

#[test]
fn a_pkcs12_key_store_written_by_keytool_with_an_ec_key_serves_its_chain() {
    // keytool's PKCS12 keeps an EC key without its public key, as JKS does.
    for store_type in [StoreType::Pkcs12, StoreType::Unset, StoreType::Jks] {
        let mut settings = TlsSettings::with_keystore("SSL", fixture("broker-ec.p12"));
        settings.keystore_type = store_type;
        settings.keystore_password = Some("store-secret".into());
        let tls = ServerTls::new(settings).unwrap();
        let chain = served_chain(&tls, &fixture_text("ca.pem")).unwrap();
        assert_eq!(chain.len(), 2, "{chain:?}");
    }
}

#[test]
fn jks_trust_stores_written_by_keytool_verify_peers() {
    let broker = ServerTls::new(jks_broker_settings("broker-ec.jks")).unwrap();
    let p = pki("jks-trust");
    let dial = |trust: TlsSettings| -> Result<(), String> {
        let client = OutboundTls::new(trust, true)
            .map_err(|e| e.to_string())?
            .config();
        let mut client =
            ClientConnection::new(client, ServerName::try_from("localhost").unwrap()).unwrap();
        let mut server = ServerConnection::new(broker.config()).unwrap();
        handshake(&mut server, &mut client)
    };
    let trust = |store_type: StoreType, file: &str, password: Option<&str>| {
        let mut settings = p.broker_settings();
        settings.truststore_type = store_type;
        settings.truststore_location = Some(fixture(file));
        settings.truststore_password = password.map(str::to_string);
        settings
    };
    dial(trust(StoreType::Jks, "trust.jks", Some("trust-secret"))).unwrap();
    dial(trust(StoreType::Unset, "trust.jks", Some("trust-secret"))).unwrap();
    // Without a password Java reads a JKS trust store unchecked.
    dial(trust(StoreType::Jks, "trust.jks", None)).unwrap();
    let err = dial(trust(StoreType::Jks, "trust.jks", Some("guess"))).unwrap_err();
    assert!(err.contains("integrity check failed"), "{err}");
    // A key store trusts the certificate of its key entry and its CA.
    let mut self_trust = trust(StoreType::Jks, "broker-rsa.jks", Some("store-secret"));
    self_trust.truststore_password = Some("store-secret".into());
    dial(self_trust).unwrap();
    // A trust store of another CA refuses the broker.
    let stranger = DevCa::new("someone else").unwrap();
    let mut other = p.broker_settings();
    other.truststore_location = Some(p.write("stranger.pem", &stranger.cert_pem));
    assert!(dial(other).unwrap_err().starts_with("client:"));
    // JCEKS is refused with the way to convert it.
    let err = dial(trust(StoreType::Jks, "trust.jceks", Some("trust-secret"))).unwrap_err();
    assert!(
        err.contains("JCEKS") && err.contains("keytool -importkeystore"),
        "{err}"
    );
    // The server side reads a JKS trust store for client certificates too.
    let mut mutual = jks_broker_settings("broker-ec.jks");
    mutual.client_auth = ClientAuth::Required;
    mutual.truststore_type = StoreType::Jks;
    mutual.truststore_location = Some(fixture("trust.jks"));
    mutual.truststore_password = Some("trust-secret".into());
    let tls = ServerTls::new(mutual).unwrap();
    let alice = p.ca.issue(Use::Client, "alice", &[], None).unwrap();
    // A client certificate from a CA the JKS trust store does not hold.
    let (result, _) = connect(
        &tls,
        &fixture_text("ca.pem"),
        Some(&alice.keystore_pem(&p.ca)),
    );
    assert!(result.unwrap_err().starts_with("server:"));
}

#[test]
fn encrypted_pem_keys_open_with_the_key_password() {
    let trust = fixture_text("pem-ca.pem");
    for kind in ["ec", "rsa"] {
        let file = format!("broker-encrypted-{kind}.pem");
        let settings = |password: Option<&str>| {
            let mut s = TlsSettings::with_keystore("SSL", fixture(&file));
            s.key_password = password.map(str::to_string);
            s
        };
        let tls = ServerTls::new(settings(Some("key-secret"))).unwrap();
        let chain = served_chain(&tls, &trust).unwrap();
        assert!(chain[0].contains("CN=localhost"), "{chain:?}");
        let err = ServerTls::new(settings(None)).err().unwrap().to_string();
        assert!(err.contains("encrypted: set ssl.key.password"), "{err}");
        let err = ServerTls::new(settings(Some("guess")))
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("does not open with ssl.key.password"), "{err}");
        // Inline, as ssl.keystore.key with the chain beside it.
        let pem = fixture_text(&file);
        let split = pem.find("-----BEGIN CERTIFICATE-----").unwrap();
        let mut inline = settings(Some("key-secret"));
        inline.keystore_location = None;
        inline.keystore_key = Some(pem[..split].to_string());
        inline.keystore_certificate_chain = Some(pem[split..].to_string());
        let tls = ServerTls::new(inline).unwrap();
        served_chain(&tls, &trust).unwrap();
    }
    // A key that is not encrypted is read with or without a password.
    let p = pki("plain-key-password");
    let mut plain = p.broker_settings();
    plain.key_password = Some("unused".into());
    ServerTls::new(plain).unwrap();
}

#[test]
fn an_ec_key_without_its_public_key_takes_it_from_its_certificate_only() {
    // Java leaves an EC key's public key out (the JKS EC store above works
    // only because it is taken from the certificate). The same with a PEM
    // key store made by `openssl ec -no_public`, and with the certificate
    // of another key, which must be refused.
    let tls = ServerTls::new(TlsSettings::with_keystore(
        "SSL",
        fixture("broker-ec-nopub.pem"),
    ))
    .unwrap();
    let chain = served_chain(&tls, &fixture_text("pem-ca.pem")).unwrap();
    assert!(chain[0].contains("CN=localhost"), "{chain:?}");
    let err = ServerTls::new(TlsSettings::with_keystore(
        "SSL",
        fixture("broker-ec-nopub-mismatched.pem"),
    ))
    .err()
    .unwrap()
    .to_string();
    assert!(err.contains("key and certificate do not fit"), "{err}");
}
