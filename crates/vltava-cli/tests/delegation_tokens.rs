//! Delegation tokens (KIP-48) against a `vltava server` process: created by
//! a SCRAM user, used to log in (SCRAM with `tokenauth`) as that user,
//! renewed and expired by the owner and its renewers only, described to
//! whom Kafka describes them, refused where Kafka refuses them, and swept
//! once expired.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::TestBroker;
use vltava_client::acl::{
    AccessControlEntry, AclBinding, AclOperation, AclPermissionType, PatternType, ResourcePattern,
    ResourceType,
};
use vltava_client::{
    Client, ClientConfig, ClientSecurity, ErrorCode, SaslLogin, ScramUpsertion, SCRAM_SHA_512,
};

const SECRET: &str = "delegation.token.secret.key=a-long-secret-for-tokens";

fn start(extra: &[&str]) -> TestBroker {
    let mut settings = vec![
        "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer",
        "super.users=User:admin",
        "sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-512",
        "listener.name.sasl_plaintext.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_admin=\"admin-secret\";",
        "listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;",
    ];
    settings.extend_from_slice(extra);
    TestBroker::start_with_listeners(&["SASL_PLAINTEXT"], &settings)
}

async fn login(
    broker: &TestBroker,
    mechanism: &str,
    user: &str,
    password: &str,
    token_auth: bool,
) -> vltava_client::Result<Client> {
    let mut config = ClientConfig::new([broker.address_of("SASL_PLAINTEXT")]);
    config.retries = 0;
    config.connection.security = Some(Arc::new(ClientSecurity {
        tls: None,
        tls_server_name: None,
        sasl: Some(SaslLogin {
            mechanism: mechanism.into(),
            username: user.into(),
            password: password.into(),
            token_auth,
        }),
    }));
    Client::connect(config).await
}

fn password_of(hmac: &[u8]) -> String {
    vltava_sasl::scram::delegation_token_password(hmac)
}

async fn users(broker: &TestBroker) -> Client {
    let mut admin = login(broker, "PLAIN", "admin", "admin-secret", false)
        .await
        .unwrap();
    let upsertions: Vec<ScramUpsertion> = ["alice", "bob", "carol"]
        .iter()
        .map(|u| ScramUpsertion::new(u, SCRAM_SHA_512, 4096, &format!("{u}-secret")).unwrap())
        .collect();
    for (_, r) in admin
        .alter_scram_credentials(&[], &upsertions)
        .await
        .unwrap()
    {
        r.unwrap();
    }
    admin
}

fn code(err: &vltava_client::Error) -> Option<ErrorCode> {
    err.code()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_logs_in_as_its_owner_until_it_is_expired() {
    let broker = start(&[SECRET]);
    let mut admin = users(&broker).await;
    admin
        .create_topic(&common::cluster::topic("alices-topic", 1))
        .await
        .unwrap();
    admin
        .create_acls(&[AclBinding::new(
            ResourcePattern::new(ResourceType::Topic, "alices-topic", PatternType::Literal),
            AccessControlEntry::new(
                "User:alice",
                "*",
                AclOperation::Describe,
                AclPermissionType::Allow,
            ),
        )])
        .await
        .unwrap();

    let mut alice = login(&broker, "SCRAM-SHA-512", "alice", "alice-secret", false)
        .await
        .unwrap();
    let token = alice
        .create_delegation_token(None, &["User:bob".to_string()], 0)
        .await
        .unwrap();
    assert_eq!(token.owner, "User:alice");
    assert_eq!(token.requester, "User:alice");
    assert_eq!(token.hmac.len(), 64);
    // The broker's defaults: a day to expiry, a week at most.
    assert_eq!(token.expiry_ms - token.issue_ms, 86_400_000);
    assert_eq!(token.max_ms - token.issue_ms, 604_800_000);

    // The token logs in as alice: it sees alice's topic, and only it.
    let mut as_token = login(
        &broker,
        "SCRAM-SHA-512",
        &token.token_id,
        &password_of(&token.hmac),
        true,
    )
    .await
    .expect("the token logs in");
    let md = as_token.metadata(None).await.unwrap();
    let names: Vec<&str> = md.topics.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, vec!["alices-topic"]);
    // A session authenticated by a token may not make token requests.
    let err = as_token
        .create_delegation_token(None, &[], 0)
        .await
        .unwrap_err();
    assert_eq!(
        code(&err),
        Some(ErrorCode::DELEGATION_TOKEN_REQUEST_NOT_ALLOWED),
        "{err}"
    );
    // A wrong HMAC, or the token without tokenauth, does not log in.
    assert!(
        login(&broker, "SCRAM-SHA-512", &token.token_id, "bm9wZQ==", true)
            .await
            .is_err()
    );
    assert!(login(
        &broker,
        "SCRAM-SHA-512",
        &token.token_id,
        &password_of(&token.hmac),
        false
    )
    .await
    .is_err());

    // Renewing: the renewer bob may, carol may not.
    let mut bob = login(&broker, "SCRAM-SHA-512", "bob", "bob-secret", false)
        .await
        .unwrap();
    let expiry = bob
        .renew_delegation_token(&token.hmac, 60_000)
        .await
        .unwrap();
    assert!(
        expiry > token.issue_ms && expiry < token.expiry_ms,
        "{expiry}"
    );
    let mut carol = login(&broker, "SCRAM-SHA-512", "carol", "carol-secret", false)
        .await
        .unwrap();
    let err = carol
        .renew_delegation_token(&token.hmac, 0)
        .await
        .unwrap_err();
    assert_eq!(code(&err), Some(ErrorCode::DELEGATION_TOKEN_OWNER_MISMATCH));
    let err = carol
        .renew_delegation_token(b"not a token's hmac", 0)
        .await
        .unwrap_err();
    assert_eq!(code(&err), Some(ErrorCode::DELEGATION_TOKEN_NOT_FOUND));

    // Describing: the owner and the renewer see it, carol does not; the
    // super user sees all; with DescribeTokens on alice, carol does too.
    let seen = |tokens: Vec<vltava_client::client::tokens::DelegationToken>| {
        tokens.into_iter().map(|t| t.token_id).collect::<Vec<_>>()
    };
    assert_eq!(
        seen(alice.describe_delegation_tokens(None).await.unwrap()),
        vec![token.token_id.clone()]
    );
    let described = bob.describe_delegation_tokens(None).await.unwrap();
    assert_eq!(described[0].expiry_ms, expiry);
    assert_eq!(described[0].hmac, token.hmac);
    assert_eq!(described[0].renewers, vec!["User:bob".to_string()]);
    assert!(carol
        .describe_delegation_tokens(None)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        admin.describe_delegation_tokens(None).await.unwrap().len(),
        1
    );
    assert!(admin
        .describe_delegation_tokens(Some(&["User:carol".to_string()]))
        .await
        .unwrap()
        .is_empty());
    admin
        .create_acls(&[AclBinding::new(
            ResourcePattern::new(ResourceType::User, "User:alice", PatternType::Literal),
            AccessControlEntry::new(
                "User:carol",
                "*",
                AclOperation::DescribeTokens,
                AclPermissionType::Allow,
            ),
        )])
        .await
        .unwrap();
    assert_eq!(
        carol.describe_delegation_tokens(None).await.unwrap().len(),
        1
    );

    // A token for someone else needs CreateTokens on them.
    let err = carol
        .create_delegation_token(Some("User:alice"), &[], 0)
        .await
        .unwrap_err();
    assert_eq!(
        code(&err),
        Some(ErrorCode::DELEGATION_TOKEN_AUTHORIZATION_FAILED)
    );
    let for_alice = admin
        .create_delegation_token(Some("User:alice"), &[], 0)
        .await
        .unwrap();
    assert_eq!(
        (for_alice.owner.as_str(), for_alice.requester.as_str()),
        ("User:alice", "User:admin")
    );

    // Expired now by its owner: it no longer logs in or is described.
    alice
        .expire_delegation_token(&token.hmac, -1)
        .await
        .unwrap();
    assert!(login(
        &broker,
        "SCRAM-SHA-512",
        &token.token_id,
        &password_of(&token.hmac),
        true
    )
    .await
    .is_err());
    assert_eq!(
        seen(alice.describe_delegation_tokens(None).await.unwrap()),
        vec![for_alice.token_id.clone()]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_survive_a_restart_and_are_swept_once_expired() {
    let mut broker = start(&[SECRET, "delegation.token.expiry.check.interval.ms=300"]);
    let _admin = users(&broker).await;
    let mut alice = login(&broker, "SCRAM-SHA-512", "alice", "alice-secret", false)
        .await
        .unwrap();
    let long = alice.create_delegation_token(None, &[], 0).await.unwrap();
    let short = alice
        .create_delegation_token(None, &[], 6_000)
        .await
        .unwrap();
    assert_eq!(short.max_ms - short.issue_ms, 6_000);

    // The tokens are in the metadata log: after a restart both still log in.
    broker.kill9();
    broker.restart();
    for t in [&long, &short] {
        login(
            &broker,
            "SCRAM-SHA-512",
            &t.token_id,
            &password_of(&t.hmac),
            true,
        )
        .await
        .expect("a token logs in after a restart");
    }
    // A session of the short token, open until the token's end.
    let mut short_session = login(
        &broker,
        "SCRAM-SHA-512",
        &short.token_id,
        &password_of(&short.hmac),
        true,
    )
    .await
    .unwrap();
    short_session.metadata(Some(&[])).await.unwrap();
    // Past its maximum lifetime the short one is refused at once, its
    // session ends (KIP-368: the next request closes the connection, and
    // logging in again fails), and the sweep removes it from the metadata.
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let left = (short.max_ms - now_ms).max(0) as u64 + 100;
    tokio::time::sleep(Duration::from_millis(left)).await;
    assert!(login(
        &broker,
        "SCRAM-SHA-512",
        &short.token_id,
        &password_of(&short.hmac),
        true
    )
    .await
    .is_err());
    assert!(short_session.metadata(Some(&[])).await.is_err());
    let mut alice = login(&broker, "SCRAM-SHA-512", "alice", "alice-secret", false)
        .await
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let ids: Vec<String> = alice
            .describe_delegation_tokens(None)
            .await
            .unwrap()
            .into_iter()
            .map(|t| t.token_id)
            .collect();
        if ids == vec![long.token_id.clone()] {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "not swept: {ids:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_secret_or_over_plaintext_tokens_are_refused() {
    // No delegation.token.secret.key: the feature is off.
    let broker = start(&[]);
    let _admin = users(&broker).await;
    let mut alice = login(&broker, "SCRAM-SHA-512", "alice", "alice-secret", false)
        .await
        .unwrap();
    let err = alice
        .create_delegation_token(None, &[], 0)
        .await
        .unwrap_err();
    assert_eq!(code(&err), Some(ErrorCode::DELEGATION_TOKEN_AUTH_DISABLED));
    let err = alice.describe_delegation_tokens(None).await.unwrap_err();
    assert_eq!(code(&err), Some(ErrorCode::DELEGATION_TOKEN_AUTH_DISABLED));

    // Over a PLAINTEXT listener anyone could ask: refused.
    let broker = start(&[SECRET]);
    let mut anonymous = broker.client().await;
    let err = anonymous
        .create_delegation_token(None, &[], 0)
        .await
        .unwrap_err();
    assert_eq!(
        code(&err),
        Some(ErrorCode::DELEGATION_TOKEN_REQUEST_NOT_ALLOWED)
    );
}

/// In a cluster, a token created through a node that does not lead is
/// made by the active controller for the client (the Envelope carries its
/// principal), and the token logs in on every node (each computes the HMAC
/// with its own copy of the secret).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_made_through_any_node_logs_in_on_every_node() {
    use common::cluster::{eventually, Cluster};
    let mut cluster = Cluster::format_custom(3, |id, port, controller_port, voters| {
        let users =
            "user_broker=\"broker-secret\" user_admin=\"admin-secret\" user_alice=\"alice-secret\"";
        format!(
            "node.id={id}\n\
             process.roles=broker,controller\n\
             listeners=INTERNAL://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}\n\
             listener.security.protocol.map=INTERNAL:SASL_PLAINTEXT,CONTROLLER:SASL_PLAINTEXT\n\
             inter.broker.listener.name=INTERNAL\n\
             controller.listener.names=CONTROLLER\n\
             controller.quorum.voters={voters}\n\
             sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256\n\
             sasl.mechanism.inter.broker.protocol=PLAIN\n\
             sasl.mechanism.controller.protocol=PLAIN\n\
             listener.name.internal.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username=\"broker\" password=\"broker-secret\" {users};\n\
             listener.name.internal.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;\n\
             listener.name.controller.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username=\"broker\" password=\"broker-secret\" {users};\n\
             authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer\n\
             super.users=User:broker;User:admin\n\
             {SECRET}\n\
             controller.quorum.election.timeout.ms=300\n\
             controller.quorum.fetch.timeout.ms=600\n\
             controller.quorum.request.timeout.ms=500\n\
             broker.heartbeat.interval.ms=300\n\
             broker.session.timeout.ms=2000\n\
             http.listeners=\n"
        )
    });
    for node in &mut cluster.nodes {
        node.start();
    }
    let plain = |user: &'static str, password: &'static str| SaslLogin {
        mechanism: "PLAIN".into(),
        username: user.into(),
        password: password.into(),
        token_auth: false,
    };
    let connect = |bootstrap: String, login: SaslLogin| async move {
        let mut config = ClientConfig::new([bootstrap]);
        config.retries = 0;
        config.connection.security = Some(Arc::new(ClientSecurity {
            tls: None,
            tls_server_name: None,
            sasl: Some(login),
        }));
        Client::connect(config).await.ok()
    };
    let bootstraps: Vec<String> = cluster.nodes.iter().map(|n| n.bootstrap()).collect();
    let controller = eventually(
        Duration::from_secs(40),
        "a controller and three brokers",
        || {
            let b = bootstraps[0].clone();
            async move {
                let mut c = connect(b, plain("admin", "admin-secret")).await?;
                let md = c.metadata(Some(&[])).await.ok()?;
                (md.brokers.len() == 3 && md.controller_id > 0).then_some(md.controller_id)
            }
        },
    )
    .await;
    let mut admin = connect(bootstraps[0].clone(), plain("admin", "admin-secret"))
        .await
        .unwrap();
    admin
        .create_topic(&common::cluster::topic("alices-topic", 1))
        .await
        .unwrap();
    admin
        .create_acls(&[AclBinding::new(
            ResourcePattern::new(ResourceType::Topic, "alices-topic", PatternType::Literal),
            AccessControlEntry::new(
                "User:alice",
                "*",
                AclOperation::Describe,
                AclPermissionType::Allow,
            ),
        )])
        .await
        .unwrap();

    // alice asks a node that does not lead; CreateDelegationToken goes to
    // the controller's connection (the admin connection), so the request
    // is sent on a connection to that node itself.
    let other = [1, 2, 3].into_iter().find(|id| *id != controller).unwrap();
    let mut alice = connect(
        bootstraps[(other - 1) as usize].clone(),
        plain("alice", "alice-secret"),
    )
    .await
    .unwrap();
    let conn = alice.connection(other).await.unwrap();
    let created = conn
        .send(&vltava_client::protocol::messages::CreateDelegationTokenRequest::default())
        .await
        .unwrap();
    assert_eq!(created.error_code, 0, "{created:?}");
    assert_eq!(
        (
            created.principal_name.as_str(),
            created.token_requester_principal_name.as_str()
        ),
        ("alice", "alice")
    );
    let password = password_of(&created.hmac);
    for b in &bootstraps {
        let token = SaslLogin {
            mechanism: "SCRAM-SHA-256".into(),
            username: created.token_id.clone(),
            password: password.clone(),
            token_auth: true,
        };
        let names = eventually(Duration::from_secs(10), "the token to log in", || {
            let (b, token) = (b.clone(), token.clone());
            async move {
                let mut c = connect(b, token).await?;
                let md = c.metadata(None).await.ok()?;
                Some(md.topics.into_iter().map(|t| t.name).collect::<Vec<_>>())
            }
        })
        .await;
        assert_eq!(names, vec!["alices-topic".to_string()], "on {b}");
    }
}
