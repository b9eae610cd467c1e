//! The HTTP listener secured as the Kafka listeners are: TLS with the
//! listener's certificates, HTTP Basic passwords checked against the SCRAM
//! credentials (or PLAIN users), client certificates as principals, and
//! the ACLs deciding who sees what, against a real `vltava server`.

mod common;

use std::time::Duration;

use common::TestBroker;
use vltava_client::acl::{
    AccessControlEntry, AclBinding, AclOperation, AclPermissionType, PatternType, ResourcePattern,
    ResourceType,
};
use vltava_client::{
    Acks, Compression, NewTopic, OffsetToCommit, ProducerRecord, ScramUpsertion, SCRAM_SHA_512,
};
use vltava_http::client::{HttpClient, Method, Target};

const AUTHORIZER: &str =
    "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer";

/// GET `path` on the HTTPS listener: (status, body).
async fn get(client: &HttpClient, port: u16, path: &str) -> Result<(u16, String), String> {
    let target = Target::parse(&format!("https://localhost:{port}{path}"))?;
    let (status, body) = client
        .request(Method::GET, &target, None, Duration::from_secs(10))
        .await?;
    Ok((status, String::from_utf8_lossy(&body).to_string()))
}

fn allow(resource: ResourceType, name: &str, principal: &str, op: AclOperation) -> AclBinding {
    AclBinding::new(
        ResourcePattern::new(resource, name, PatternType::Literal),
        AccessControlEntry::new(principal, "*", op, AclPermissionType::Allow),
    )
}

/// Polls until `path` answers `want` (the broker takes a moment to be
/// open, and ACLs a moment to reach the image).
async fn until_status(client: &HttpClient, port: u16, path: &str, want: u16) -> String {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let got = get(client, port, path).await;
        if let Ok((status, body)) = &got {
            if *status == want {
                return body.clone();
            }
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{path} never answered {want}: last {got:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_with_basic_passwords_and_acls() {
    let certs = tempfile::tempdir().unwrap();
    let files = vltava_tls::dev::write_dev_certs(certs.path(), &[], "client").unwrap();
    let keystore = format!(
        "listener.name.http.ssl.keystore.location={}",
        files.broker_keystore.display()
    );
    // The Kafka listener stays PLAINTEXT, its anonymous clients super
    // users (to make the credentials and ACLs); the HTTP listener admits
    // no one anonymous.
    let broker = TestBroker::start(&[
        "http.listener.security.protocol=SSL",
        &keystore,
        "http.authentication=basic",
        AUTHORIZER,
        "super.users=User:ANONYMOUS",
    ]);
    let port = broker.http_port;
    let ca = std::fs::read(&files.ca).unwrap();
    let tls = || vltava_tls::client_config(&ca, None).unwrap();
    let anonymous = HttpClient::with_tls(tls(), "test");

    // Health probes need no credentials.
    until_status(&anonymous, port, "/health/ready", 200).await;

    let mut admin = broker.client().await;
    for (user, password) in [("alice", "alice-secret"), ("ops", "ops-secret")] {
        let upsertion = ScramUpsertion::new(user, SCRAM_SHA_512, 4096, password).unwrap();
        for (_, r) in admin
            .alter_scram_credentials(&[], &[upsertion])
            .await
            .unwrap()
        {
            r.unwrap();
        }
    }
    for r in admin
        .create_acls(&[allow(
            ResourceType::Cluster,
            "kafka-cluster",
            "User:ops",
            AclOperation::Describe,
        )])
        .await
        .unwrap()
    {
        r.unwrap();
    }

    // No credentials: 401 with a Basic challenge.
    let (status, body) = get(&anonymous, port, "/metrics").await.unwrap();
    assert_eq!(status, 401, "{body}");
    // A wrong password: 401.
    let wrong = HttpClient::with_tls(tls(), "test").with_basic_auth("alice", "guess");
    assert_eq!(get(&wrong, port, "/metrics").await.unwrap().0, 401);
    // alice is who she says, but may not Describe the cluster: 403.
    let alice = HttpClient::with_tls(tls(), "test").with_basic_auth("alice", "alice-secret");
    let (status, body) = get(&alice, port, "/metrics").await.unwrap();
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("User:alice"), "{body}");
    // ops may (once the ACL is in the image): the metrics, twice (the
    // second from the remembered check).
    let ops = HttpClient::with_tls(tls(), "test").with_basic_auth("ops", "ops-secret");
    let metrics = until_status(&ops, port, "/metrics", 200).await;
    assert!(metrics.contains("kafka_server_replicamanager_partitioncount"));
    assert_eq!(get(&ops, port, "/metrics").await.unwrap().0, 200);

    // `vltava groups lag` reads the status over HTTPS as ops.
    admin.create_topic(&NewTopic::new("t")).await.unwrap();
    admin
        .produce(
            "t",
            0,
            &[ProducerRecord::keyed("k", "v")],
            Acks::All,
            Compression::None,
        )
        .await
        .unwrap();
    admin
        .commit_offsets("readers", &[OffsetToCommit::new("t", 0, 1)])
        .await
        .unwrap();
    let lag = |user: &str, password: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_vltava"))
            .args(["groups", "lag", "readers", "--output", "json", "--http"])
            .arg(format!("https://localhost:{port}"))
            .arg("--http-ca")
            .arg(&files.ca)
            .args(["--http-user", user, "--bootstrap"])
            .arg(broker.bootstrap())
            .env("VLTAVA_HTTP_PASSWORD", password)
            .output()
            .unwrap()
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let out = lag("ops", "ops-secret");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        if v["status"] == "OK" {
            assert_eq!(v["partitions"][0]["status"], "OK");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "no status: {v}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let out = lag("alice", "alice-secret");
    let warning = String::from_utf8_lossy(&out.stderr);
    assert!(warning.contains("HTTP 403"), "{warning}");

    // The console: its pages need Describe on the cluster, and the message
    // browser Read on the topic too.
    assert_eq!(get(&ops, port, "/ui").await.unwrap().0, 200);
    assert_eq!(get(&alice, port, "/ui").await.unwrap().0, 403);
    let (status, body) = get(&ops, port, "/ui/topics/t/0").await.unwrap();
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("may not read topic t"), "{body}");
    for r in admin
        .create_acls(&[allow(
            ResourceType::Topic,
            "t",
            "User:ops",
            AclOperation::Read,
        )])
        .await
        .unwrap()
    {
        r.unwrap();
    }
    let page = until_status(&ops, port, "/ui/topics/t/0", 200).await;
    assert!(page.contains("offset"), "{page}");

    // A client that does not trust the listener's CA gets no answer.
    let other = vltava_tls::dev::DevCa::new("someone else").unwrap();
    let untrusting = HttpClient::with_tls(
        vltava_tls::client_config(other.cert_pem.as_bytes(), None).unwrap(),
        "test",
    )
    .with_basic_auth("ops", "ops-secret");
    assert!(get(&untrusting, port, "/metrics").await.is_err());
    // Nor does plain HTTP.
    let plain = HttpClient::new("test")
        .unwrap()
        .with_basic_auth("ops", "ops-secret");
    let target = Target::parse(&format!("http://127.0.0.1:{port}/metrics")).unwrap();
    let answer = plain
        .request(Method::GET, &target, None, Duration::from_secs(5))
        .await;
    assert!(answer.is_err() || answer.unwrap().0 != 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_certificate_is_the_principal() {
    let certs = tempfile::tempdir().unwrap();
    let files = vltava_tls::dev::write_dev_certs(certs.path(), &[], "client").unwrap();
    let keystore = format!(
        "listener.name.http.ssl.keystore.location={}",
        files.broker_keystore.display()
    );
    let truststore = format!(
        "listener.name.http.ssl.truststore.location={}",
        files.ca.display()
    );
    let broker = TestBroker::start(&[
        "http.listener.security.protocol=SSL",
        &keystore,
        &truststore,
        "listener.name.http.ssl.client.auth=required",
        // The certificate's CN alone, as Kafka's mapping rules do it.
        "listener.name.http.ssl.principal.mapping.rules=RULE:^.*CN=([^,]+).*$/$1/,DEFAULT",
        AUTHORIZER,
        "super.users=User:ANONYMOUS",
    ]);
    let port = broker.http_port;
    let ca = std::fs::read(&files.ca).unwrap();
    let identity = std::fs::read(&files.client_keystore).unwrap();
    let with_cert = HttpClient::with_tls(
        vltava_tls::client_config(&ca, Some(&identity)).unwrap(),
        "test",
    );
    let without = HttpClient::with_tls(vltava_tls::client_config(&ca, None).unwrap(), "test");

    // The listener requires a certificate: without one, no answer at all.
    until_status(&with_cert, port, "/health/live", 200).await;
    assert!(get(&without, port, "/health/live").await.is_err());

    // The certificate's subject, mapped, is the principal: refused until an ACL
    // lets it Describe the cluster.
    let body = until_status(&with_cert, port, "/metrics", 403).await;
    assert!(body.contains("User:client"), "{body}");
    let mut admin = broker.client().await;
    for r in admin
        .create_acls(&[allow(
            ResourceType::Cluster,
            "kafka-cluster",
            "User:client",
            AclOperation::Describe,
        )])
        .await
        .unwrap()
    {
        r.unwrap();
    }
    until_status(&with_cert, port, "/metrics", 200).await;

    // The Burrow endpoints are behind the same guard.
    let (status, _) = get(&with_cert, port, "/v3/kafka/local/consumer/nobody/status")
        .await
        .unwrap();
    assert_eq!(status, 404, "an unknown group, past the guard");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_users_log_in_to_a_plaintext_listener() {
    let broker = TestBroker::start(&[
        "http.authentication=basic",
        "listener.name.http.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_viewer=\"viewer-secret\";",
    ]);
    let port = broker.http_port;
    let at = |path: &str| Target::parse(&format!("http://127.0.0.1:{port}{path}")).unwrap();
    let ask = |client: HttpClient, path: &'static str| {
        let target = at(path);
        async move {
            client
                .request(Method::GET, &target, None, Duration::from_secs(10))
                .await
                .map(|(status, _)| status)
        }
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while ask(HttpClient::new("test").unwrap(), "/health/ready").await != Ok(200) {
        assert!(std::time::Instant::now() < deadline, "never ready");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let anonymous = HttpClient::new("test").unwrap();
    assert_eq!(ask(anonymous, "/metrics").await, Ok(401));
    let wrong = HttpClient::new("test")
        .unwrap()
        .with_basic_auth("viewer", "nope");
    assert_eq!(ask(wrong, "/metrics").await, Ok(401));
    let viewer = HttpClient::new("test")
        .unwrap()
        .with_basic_auth("viewer", "viewer-secret");
    // No authorizer: an authenticated user sees everything.
    assert_eq!(ask(viewer, "/metrics").await, Ok(200));
}
