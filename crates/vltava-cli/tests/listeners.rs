//! The listeners of a running broker: connection limits, TLS (mutual
//! too) and SASL.

mod common;

use std::io::Read;
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

use common::TestBroker;
use vltava_client::{Client, ClientConfig, ClientSecurity, Connection, SaslLogin};

/// True when the broker closed `stream` (a read sees the end) within `wait`.
fn closed_by_broker(stream: &mut TcpStream, wait: Duration) -> bool {
    stream.set_read_timeout(Some(wait)).unwrap();
    let mut buf = [0u8; 16];
    matches!(stream.read(&mut buf), Ok(0))
        || matches!(stream.read(&mut buf), Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_over_the_per_address_limit_are_closed_and_room_comes_back() {
    let broker = TestBroker::start(&["max.connections.per.ip=2"]);
    let addr = broker.bootstrap();
    // The start-up probe's connection counts until the broker has seen it
    // close.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut first = TcpStream::connect(&addr).unwrap();
    let mut second = TcpStream::connect(&addr).unwrap();
    let mut third = TcpStream::connect(&addr).unwrap();
    assert!(
        closed_by_broker(&mut third, Duration::from_secs(3)),
        "a third connection from 127.0.0.1 is over max.connections.per.ip=2"
    );
    assert!(!closed_by_broker(&mut first, Duration::from_millis(200)));
    assert!(!closed_by_broker(&mut second, Duration::from_millis(200)));
    drop(first);
    // One closed: a client fits again and gets answers.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut client = broker.client().await;
    client
        .create_topic(&common::cluster::topic("limits", 1))
        .await
        .expect("a request on the connection that fits");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_override_raises_the_limit_for_one_address() {
    let broker = TestBroker::start(&[
        "max.connections.per.ip=1",
        "max.connections.per.ip.overrides=127.0.0.1:3",
    ]);
    let addr = broker.bootstrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut open: Vec<TcpStream> = (0..3).map(|_| TcpStream::connect(&addr).unwrap()).collect();
    for s in &mut open {
        assert!(!closed_by_broker(s, Duration::from_millis(200)));
    }
    let mut fourth = TcpStream::connect(&addr).unwrap();
    assert!(closed_by_broker(&mut fourth, Duration::from_secs(3)));
}

// ---- TLS and SASL listeners ----------------------------------------------

const PLAIN_USERS: &str = "listener.name.sasl_plaintext.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_alice=\"alice-secret\" user_bob=\"bob-secret\";";

fn secured_client_config(
    addr: String,
    tls: Option<Arc<vltava_tls::ClientTlsConfig>>,
    sasl: Option<(&str, &str, &str)>,
) -> ClientConfig {
    let mut config = ClientConfig::new([addr]);
    config.retries = 0;
    config.connection.security = Some(Arc::new(ClientSecurity {
        tls,
        tls_server_name: Some("localhost".into()),
        sasl: sasl.map(|(mechanism, username, password)| SaslLogin {
            mechanism: mechanism.into(),
            username: username.into(),
            password: password.into(),
            token_auth: false,
        }),
    }));
    config
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sasl_plain_authenticates_known_users_and_refuses_others() {
    let broker = TestBroker::start_with_listeners(
        &["SASL_PLAINTEXT"],
        &["sasl.enabled.mechanisms=PLAIN", PLAIN_USERS],
    );
    let addr = broker.address_of("SASL_PLAINTEXT");
    let mut alice = Client::connect(secured_client_config(
        addr.clone(),
        None,
        Some(("PLAIN", "alice", "alice-secret")),
    ))
    .await
    .expect("alice authenticates");
    // Metadata over the SASL listener names that listener's address.
    let metadata = alice.metadata(None).await.expect("metadata");
    assert!(
        metadata
            .brokers
            .iter()
            .any(|b| format!("{}:{}", b.host, b.port) == addr),
        "{:?}",
        metadata.brokers
    );
    for (user, password) in [("alice", "wrong"), ("mallory", "alice-secret")] {
        let err = Client::connect(secured_client_config(
            addr.clone(),
            None,
            Some(("PLAIN", user, password)),
        ))
        .await
        .err()
        .unwrap_or_else(|| panic!("{user}/{password} must be refused"));
        assert!(
            err.to_string().contains("SASL_AUTHENTICATION_FAILED")
                || err.to_string().contains("Invalid username or password"),
            "{err}"
        );
    }
    // A mechanism the listener does not offer.
    let Err(err) = Client::connect(secured_client_config(
        addr,
        None,
        Some(("SCRAM-SHA-256", "alice", "alice-secret")),
    ))
    .await
    else {
        panic!("SCRAM is not enabled");
    };
    assert!(
        err.to_string().contains("UNSUPPORTED_SASL_MECHANISM"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_skips_sasl_on_a_sasl_listener_is_closed() {
    let broker = TestBroker::start_with_listeners(
        &["SASL_PLAINTEXT"],
        &["sasl.enabled.mechanisms=PLAIN", PLAIN_USERS],
    );
    // ApiVersions is answered; a Metadata request before authenticating
    // closes the connection.
    let mut conn = Connection::connect(&broker.address_of("SASL_PLAINTEXT"), Default::default())
        .await
        .expect("ApiVersions is allowed before SASL");
    let Err(err) = conn
        .send(&vltava_client::protocol::messages::MetadataRequest::default())
        .await
    else {
        panic!("Metadata before SASL is answered");
    };
    assert!(err.to_string().contains("closed"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_clients_trusting_the_ca_connect_and_others_do_not() {
    let certs = tempfile::tempdir().unwrap();
    let files = vltava_tls::dev::write_dev_certs(certs.path(), &[], "client").unwrap();
    let keystore = format!("ssl.keystore.location={}", files.broker_keystore.display());
    let truststore = format!("ssl.truststore.location={}", files.ca.display());
    let broker = TestBroker::start_with_listeners(
        &["SSL"],
        &[
            &keystore,
            &truststore,
            "listener.name.ssl.ssl.client.auth=required",
        ],
    );
    let addr = broker.address_of("SSL");
    let ca = std::fs::read(&files.ca).unwrap();
    let identity = std::fs::read(&files.client_keystore).unwrap();

    // With the client certificate: connected, topics made over TLS.
    let tls = Arc::new(vltava_tls::client_config(&ca, Some(&identity)).unwrap());
    let mut client = Client::connect(secured_client_config(addr.clone(), Some(tls), None))
        .await
        .expect("mutual TLS");
    client
        .create_topic(&common::cluster::topic("over-tls", 1))
        .await
        .expect("a request over TLS");

    // Without one: the broker requires it.
    let tls = Arc::new(vltava_tls::client_config(&ca, None).unwrap());
    assert!(
        Client::connect(secured_client_config(addr.clone(), Some(tls), None))
            .await
            .is_err(),
        "ssl.client.auth=required refuses a client without a certificate"
    );

    // Trusting another CA: the client refuses the broker.
    let other = vltava_tls::dev::DevCa::new("someone else").unwrap();
    let tls = Arc::new(vltava_tls::client_config(other.cert_pem.as_bytes(), None).unwrap());
    assert!(
        Client::connect(secured_client_config(addr, Some(tls), None))
            .await
            .is_err()
    );
}

/// KIP-684: the broker-wide `ssl.client.auth` is for SSL listeners; a
/// SASL_SSL listener asks for a client certificate only when its own
/// `listener.name.<l>.ssl.client.auth` says so, since its clients
/// authenticate with SASL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_wide_client_auth_applies_to_ssl_listeners_only() {
    let certs = tempfile::tempdir().unwrap();
    let files = vltava_tls::dev::write_dev_certs(certs.path(), &[], "client").unwrap();
    let keystore = format!("ssl.keystore.location={}", files.broker_keystore.display());
    let truststore = format!("ssl.truststore.location={}", files.ca.display());
    let broker = TestBroker::start_with_listeners(
        &["SSL", "SASL_SSL"],
        &[
            &keystore,
            &truststore,
            "ssl.client.auth=required",
            "sasl.enabled.mechanisms=PLAIN",
            &PLAIN_USERS.replace("sasl_plaintext", "sasl_ssl"),
        ],
    );
    let ca = std::fs::read(&files.ca).unwrap();
    // TLS clients with no certificate of their own.
    let tls = || Some(Arc::new(vltava_tls::client_config(&ca, None).unwrap()));
    assert!(
        Client::connect(secured_client_config(broker.address_of("SSL"), tls(), None))
            .await
            .is_err(),
        "the SSL listener takes the broker-wide ssl.client.auth=required"
    );
    let mut client = Client::connect(secured_client_config(
        broker.address_of("SASL_SSL"),
        tls(),
        Some(("PLAIN", "alice", "alice-secret")),
    ))
    .await
    .expect("the SASL_SSL listener asks for no client certificate");
    client
        .create_topic(&common::cluster::topic("over-sasl-ssl", 1))
        .await
        .expect("a request over SASL_SSL");
}

/// Each listener serves its role's APIs, as the message definitions'
/// `listeners` say (Kafka's split): a dedicated controller listener lists
/// and takes the quorum's and the nodes' RPCs (Vote, BrokerHeartbeat,
/// Envelope) and the admin requests a controller answers, but not Produce
/// or Metadata; the client listener lists the reverse, and a request of
/// the other role closes the connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_controller_listener_serves_the_controllers_apis_and_a_client_listener_the_brokers() {
    use vltava_client::protocol::messages::{ApiKey, MetadataRequest, VoteRequest};
    let controller_port = std::cell::Cell::new(0);
    let mut cluster = common::cluster::Cluster::format_custom(1, |id, port, controller, voters| {
        controller_port.set(controller);
        format!(
            "node.id={id}\n\
             process.roles=broker,controller\n\
             listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller}\n\
             listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT\n\
             controller.listener.names=CONTROLLER\n\
             controller.quorum.voters={voters}\n\
             http.listeners=\n"
        )
    });
    cluster.nodes[0].start();
    let client_listener = cluster.nodes[0].bootstrap();
    let controller_listener = format!("127.0.0.1:{}", controller_port.get());
    let connect = |addr: String| async move {
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            match Connection::connect(&addr, Default::default()).await {
                Ok(c) => return c,
                Err(e) if std::time::Instant::now() > deadline => panic!("{addr}: {e}"),
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    };
    let mut client = connect(client_listener).await;
    let mut controller = connect(controller_listener).await;
    let listed = |c: &Connection, apis: &[ApiKey]| -> Vec<bool> {
        apis.iter()
            .map(|a| c.broker_versions(*a).is_some())
            .collect()
    };
    use ApiKey::*;
    let apis = [
        Produce,
        Metadata,
        JoinGroup,
        Vote,
        BrokerHeartbeat,
        Envelope,
        ApiVersions,
        CreateTopics,
        DescribeQuorum,
        Fetch,
    ];
    assert_eq!(
        listed(&client, &apis),
        [true, true, true, false, false, false, true, true, true, true]
    );
    assert_eq!(
        listed(&controller, &apis),
        [false, false, false, true, true, true, true, true, true, true]
    );

    // Metadata on the controller listener and Vote on the client listener
    // each close their connection.
    assert!(controller
        .send_version(&MetadataRequest::default(), 12)
        .await
        .is_err());
    assert!(client
        .send_version(&VoteRequest::default(), 0)
        .await
        .is_err());
    // What each does serve still works on a new connection.
    let mut client = Client::connect(ClientConfig::new([cluster.nodes[0].bootstrap()]))
        .await
        .unwrap();
    assert_eq!(client.metadata(Some(&[])).await.unwrap().controller_id, 1);
}
