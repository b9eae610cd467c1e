//! ACLs (CreateAcls, DescribeAcls, DeleteAcls) and SCRAM credentials
//! (AlterUserScramCredentials, DescribeUserScramCredentials) against real
//! `vltava server` processes, through the client and the `vltava acls` /
//! `vltava users scram` tools: filters, Kafka's refusals and error codes,
//! SECURITY_DISABLED without an authorizer, and the state surviving a
//! restart from a metadata snapshot (there every request is
//! `User:ANONYMOUS`, a super user). Module `enforced`: authorization in
//! force, with principals from SASL (PLAIN and SCRAM users), each
//! operation refused without its ACL, DENY over ALLOW, prefixed ACLs,
//! super users, revoked SCRAM credentials.

mod common;

use std::process::Command;

use common::TestBroker;
use serde_json::{json, Value};
use vltava_client::acl::{
    AccessControlEntry, AccessControlEntryFilter, AclBinding, AclBindingFilter, AclOperation,
    AclPermissionType, PatternType, ResourcePattern, ResourcePatternFilter, ResourceType,
};
use vltava_client::{Client, ErrorCode, ScramUpsertion, SCRAM_SHA_256, SCRAM_SHA_512};

const AUTHORIZER: &str =
    "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer";
const SUPER_USERS: &str = "super.users=User:ANONYMOUS";

/// Runs `vltava ARGS --bootstrap ...`: (exit code, stdout, stderr).
fn vltava(broker: &TestBroker, args: &[&str]) -> (i32, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_vltava"))
        .args(args)
        .arg("--bootstrap")
        .arg(broker.bootstrap())
        .env("RUST_LOG", "warn")
        .output()
        .expect("run vltava");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// A tool run that must succeed, with `--output json`: its document.
fn vltava_json(broker: &TestBroker, args: &[&str]) -> Value {
    let mut full = args.to_vec();
    full.extend(["--output", "json"]);
    let (code, stdout, stderr) = vltava(broker, &full);
    assert_eq!(code, 0, "vltava {args:?} failed:\n{stdout}\n{stderr}");
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}"))
}

fn acl(
    resource_type: ResourceType,
    name: &str,
    pattern: PatternType,
    principal: &str,
    operation: AclOperation,
    permission: AclPermissionType,
) -> AclBinding {
    AclBinding::new(
        ResourcePattern::new(resource_type, name, pattern),
        AccessControlEntry::new(principal, "*", operation, permission),
    )
}

fn topic_read(name: &str, pattern: PatternType, principal: &str) -> AclBinding {
    acl(
        ResourceType::Topic,
        name,
        pattern,
        principal,
        AclOperation::Read,
        AclPermissionType::Allow,
    )
}

fn sorted(mut acls: Vec<AclBinding>) -> Vec<AclBinding> {
    acls.sort();
    acls
}

fn code_of<T: std::fmt::Debug>(r: &vltava_client::Result<T>) -> Option<ErrorCode> {
    r.as_ref().err().and_then(|e| e.code())
}

#[tokio::test(flavor = "multi_thread")]
async fn acls_are_created_described_and_deleted_with_kafkas_rules() {
    let broker = TestBroker::start(&[AUTHORIZER, SUPER_USERS]);
    let mut client = broker.client().await;

    let alice_orders = topic_read("orders", PatternType::Literal, "User:alice");
    let bob_prefix = topic_read("ord", PatternType::Prefixed, "User:bob");
    let everyone_all_topics = topic_read("*", PatternType::Literal, "User:*");
    let group = acl(
        ResourceType::Group,
        "billing",
        PatternType::Literal,
        "User:alice",
        AclOperation::Read,
        AclPermissionType::Deny,
    );
    let cluster = acl(
        ResourceType::Cluster,
        "kafka-cluster",
        PatternType::Literal,
        "User:ops",
        AclOperation::Alter,
        AclPermissionType::Allow,
    );
    let results = client
        .create_acls(&[
            alice_orders.clone(),
            bob_prefix.clone(),
            everyone_all_topics.clone(),
            group.clone(),
            cluster.clone(),
            // The same ACL again: accepted, stored once.
            alice_orders.clone(),
            // Refused, each on its own: a cluster not named kafka-cluster,
            // an empty name, a principal without a colon.
            acl(
                ResourceType::Cluster,
                "other",
                PatternType::Literal,
                "User:ops",
                AclOperation::Alter,
                AclPermissionType::Allow,
            ),
            topic_read("", PatternType::Literal, "User:alice"),
            topic_read("x", PatternType::Literal, "alice"),
        ])
        .await
        .unwrap();
    assert_eq!(results.len(), 9);
    for r in &results[..6] {
        assert!(r.is_ok(), "{r:?}");
    }
    for r in &results[6..] {
        assert_eq!(code_of(r), Some(ErrorCode::INVALID_REQUEST), "{r:?}");
    }
    let message = results[6].as_ref().unwrap_err().to_string();
    assert!(message.contains("kafka-cluster"), "{message}");
    let message = results[8].as_ref().unwrap_err().to_string();
    assert!(message.contains("no colon"), "{message}");

    // A value only filters have (MATCH, ANY) fails the whole request as in
    // Kafka, whose ACL classes refuse it: UNKNOWN_SERVER_ERROR for every
    // ACL, none created.
    let results = client
        .create_acls(&[
            topic_read("y", PatternType::Literal, "User:carol"),
            topic_read("x", PatternType::Match, "User:carol"),
        ])
        .await
        .unwrap();
    for r in &results {
        assert_eq!(code_of(r), Some(ErrorCode::UNKNOWN_SERVER_ERROR), "{r:?}");
    }

    // Every ACL, each once.
    let all = client.describe_acls(&AclBindingFilter::ANY).await.unwrap();
    assert_eq!(
        sorted(all),
        sorted(vec![
            alice_orders.clone(),
            bob_prefix.clone(),
            everyone_all_topics.clone(),
            group.clone(),
            cluster.clone(),
        ])
    );
    // MATCH: every ACL that applies to the topic "orders".
    let matching_orders = AclBindingFilter::new(
        ResourcePatternFilter::new(ResourceType::Topic, Some("orders"), PatternType::Match),
        AccessControlEntryFilter::ANY,
    );
    assert_eq!(
        sorted(client.describe_acls(&matching_orders).await.unwrap()),
        sorted(vec![
            alice_orders.clone(),
            bob_prefix.clone(),
            everyone_all_topics.clone()
        ])
    );
    // A literal filter compares the name exactly.
    let literal_orders = AclBindingFilter::new(
        ResourcePatternFilter::new(ResourceType::Topic, Some("orders"), PatternType::Literal),
        AccessControlEntryFilter::ANY,
    );
    assert_eq!(
        client.describe_acls(&literal_orders).await.unwrap(),
        vec![alice_orders.clone()]
    );
    // By principal and permission.
    let alice_denied = AclBindingFilter::new(
        ResourcePatternFilter::ANY,
        AccessControlEntryFilter::new(
            Some("User:alice"),
            None,
            AclOperation::Any,
            AclPermissionType::Deny,
        ),
    );
    assert_eq!(
        client.describe_acls(&alice_denied).await.unwrap(),
        vec![group.clone()]
    );

    // A filter with an UNKNOWN code cannot be read: the connection is
    // closed, as Kafka closes it.
    let unknown = AclBindingFilter::new(
        ResourcePatternFilter::new(ResourceType::Unknown, None, PatternType::Any),
        AccessControlEntryFilter::ANY,
    );
    let refused = client.delete_acls(std::slice::from_ref(&unknown)).await;
    assert!(
        matches!(refused, Err(ref e) if e.code().is_none()),
        "{refused:?}"
    );
    let refused = client.describe_acls(&unknown).await;
    assert!(
        matches!(refused, Err(ref e) if e.code().is_none()),
        "{refused:?}"
    );
    let mut client = broker.client().await;

    // DeleteAcls: per filter, what it removed; an ACL two filters match is
    // listed under both.
    let bob = AclBindingFilter::new(
        ResourcePatternFilter::ANY,
        AccessControlEntryFilter::new(
            Some("User:bob"),
            None,
            AclOperation::Any,
            AclPermissionType::Any,
        ),
    );
    let deleted = client
        .delete_acls(&[matching_orders.clone(), bob])
        .await
        .unwrap();
    assert_eq!(
        sorted(deleted[0].as_ref().unwrap().clone()),
        sorted(vec![
            alice_orders.clone(),
            bob_prefix.clone(),
            everyone_all_topics.clone()
        ])
    );
    assert_eq!(deleted[1].as_ref().unwrap(), &vec![bob_prefix.clone()]);
    assert_eq!(
        sorted(client.describe_acls(&AclBindingFilter::ANY).await.unwrap()),
        sorted(vec![group.clone(), cluster.clone()])
    );
    // Nothing left to match: an empty answer, not an error.
    let again = client.delete_acls(&[matching_orders]).await.unwrap();
    assert_eq!(again[0].as_ref().unwrap(), &Vec::<AclBinding>::new());
}

#[tokio::test(flavor = "multi_thread")]
async fn the_acls_tool_creates_lists_and_deletes() {
    let broker = TestBroker::start(&[AUTHORIZER, SUPER_USERS]);
    let created = vltava_json(
        &broker,
        &[
            "acls",
            "create",
            "--allow-principal",
            "User:alice",
            "--operation",
            "Read",
            "--operation",
            "Describe",
            "--topic",
            "payments-",
            "--resource-pattern-type",
            "prefixed",
        ],
    );
    assert_eq!(created.as_array().unwrap().len(), 2, "{created}");
    let created = vltava_json(
        &broker,
        &[
            "acls",
            "create",
            "--allow-principal",
            "User:alice",
            "--operation",
            "read",
            "--operation",
            "describe",
            "--group",
            "billing",
        ],
    );
    assert_eq!(created.as_array().unwrap().len(), 2, "{created}");
    vltava_json(
        &broker,
        &[
            "acls",
            "create",
            "--deny-principal",
            "User:mallory",
            "--deny-host",
            "10.1.2.3",
            "--topic",
            "payments-eu",
        ],
    );

    let all = vltava_json(&broker, &["acls", "list"]);
    assert_eq!(all.as_array().unwrap().len(), 5, "{all}");
    let matching = vltava_json(
        &broker,
        &[
            "acls",
            "list",
            "--topic",
            "payments-eu",
            "--resource-pattern-type",
            "match",
        ],
    );
    assert_eq!(
        matching,
        json!([
            {"resource_type": "TOPIC", "resource_name": "payments-", "pattern_type": "PREFIXED",
             "principal": "User:alice", "host": "*", "operation": "READ", "permission": "ALLOW"},
            {"resource_type": "TOPIC", "resource_name": "payments-", "pattern_type": "PREFIXED",
             "principal": "User:alice", "host": "*", "operation": "DESCRIBE", "permission": "ALLOW"},
            {"resource_type": "TOPIC", "resource_name": "payments-eu", "pattern_type": "LITERAL",
             "principal": "User:mallory", "host": "10.1.2.3", "operation": "ALL", "permission": "DENY"},
        ])
    );
    let (code, table, _) = vltava(&broker, &["acls", "list", "--group", "billing"]);
    assert_eq!(code, 0);
    assert!(table.starts_with("RESOURCE-TYPE"), "{table}");
    assert_eq!(table.lines().count(), 3, "{table}");

    // Deleting one principal's ACL of a resource, then all of another's.
    let deleted = vltava_json(
        &broker,
        &[
            "acls",
            "delete",
            "--allow-principal",
            "User:alice",
            "--operation",
            "Describe",
            "--group",
            "billing",
            "--force",
        ],
    );
    assert_eq!(deleted.as_array().unwrap().len(), 1, "{deleted}");
    let deleted = vltava_json(
        &broker,
        &[
            "acls",
            "delete",
            "--topic",
            "payments-",
            "--resource-pattern-type",
            "prefixed",
            "--force",
        ],
    );
    assert_eq!(deleted.as_array().unwrap().len(), 2, "{deleted}");
    let left = vltava_json(&broker, &["acls", "list"]);
    assert_eq!(left.as_array().unwrap().len(), 2, "{left}");

    // A refused ACL fails the tool with the broker's reason.
    let (code, _, stderr) = vltava(
        &broker,
        &[
            "acls",
            "create",
            "--allow-principal",
            "alice",
            "--topic",
            "t",
        ],
    );
    assert_ne!(code, 0);
    assert!(stderr.contains("no colon"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread")]
async fn without_an_authorizer_the_acl_apis_answer_security_disabled() {
    let broker = TestBroker::start(&[]);
    let mut client = broker.client().await;
    let a = topic_read("orders", PatternType::Literal, "User:alice");
    let created = client.create_acls(&[a.clone(), a]).await.unwrap();
    for r in &created {
        assert_eq!(code_of(r), Some(ErrorCode::SECURITY_DISABLED));
        assert!(
            r.as_ref()
                .unwrap_err()
                .to_string()
                .contains("No Authorizer is configured."),
            "{r:?}"
        );
    }
    let described = client.describe_acls(&AclBindingFilter::ANY).await;
    assert_eq!(code_of(&described), Some(ErrorCode::SECURITY_DISABLED));
    let message = described.unwrap_err().to_string();
    assert!(
        message.contains("No Authorizer is configured on the broker"),
        "{message}"
    );
    let deleted = client.delete_acls(&[AclBindingFilter::ANY]).await.unwrap();
    assert_eq!(code_of(&deleted[0]), Some(ErrorCode::SECURITY_DISABLED));
    let (code, _, stderr) = vltava(&broker, &["acls", "list"]);
    assert_ne!(code, 0);
    assert!(stderr.contains("No Authorizer"), "{stderr}");
    // SCRAM credentials do not need an authorizer.
    let set = client
        .alter_scram_credentials(
            &[],
            &[ScramUpsertion::new("alice", SCRAM_SHA_256, 4096, "pw").unwrap()],
        )
        .await
        .unwrap();
    assert!(set[0].1.is_ok(), "{set:?}");
}

#[test]
fn a_broker_refuses_to_start_with_another_authorizer() {
    for class in [
        "kafka.security.authorizer.AclAuthorizer",
        "com.example.Mine",
    ] {
        let temp = tempfile::tempdir().unwrap();
        let output = Command::new(env!("CARGO_BIN_EXE_vltava"))
            .arg("server")
            .arg("--listen")
            .arg(format!("127.0.0.1:{}", common::free_port()))
            .arg("--data-dir")
            .arg(temp.path().join("data"))
            .arg("--set")
            .arg(format!("authorizer.class.name={class}"))
            .env("RUST_LOG", "warn")
            .output()
            .unwrap();
        assert!(!output.status.success());
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains(class) && stderr.contains("StandardAuthorizer"),
            "{stderr}"
        );
    }
}

/// The credentials the broker describes, as (user, [(mechanism, iterations)])
/// or the error code for the user.
async fn described(
    client: &mut Client,
    users: Option<&[&str]>,
) -> Vec<(String, Result<Vec<(i8, i32)>, ErrorCode>)> {
    client
        .describe_scram_credentials(users)
        .await
        .unwrap()
        .into_iter()
        .map(|(u, r)| (u, r.map_err(|e| e.code().unwrap())))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn scram_credentials_are_set_described_and_deleted() {
    let broker = TestBroker::start(&[AUTHORIZER, SUPER_USERS]);
    let mut client = broker.client().await;
    let up = |user: &str, mechanism: i8, iterations: i32| {
        let mut u = ScramUpsertion::new(user, mechanism, 4096, "secret").unwrap();
        u.iterations = iterations;
        u
    };
    let results = client
        .alter_scram_credentials(
            &[("ghost".into(), SCRAM_SHA_256)],
            &[
                up("alice", SCRAM_SHA_256, 4096),
                up("bob", SCRAM_SHA_512, 16384),
                up("", SCRAM_SHA_256, 4096),
                ScramUpsertion {
                    mechanism: 3,
                    ..up("carol", SCRAM_SHA_256, 4096)
                },
                up("dave", SCRAM_SHA_256, 4095),
                up("erin", SCRAM_SHA_256, 16385),
                up("frank", SCRAM_SHA_256, 8192),
                up("frank", SCRAM_SHA_512, 8192),
            ],
        )
        .await
        .unwrap();
    let codes: Vec<(String, Option<ErrorCode>)> = results
        .iter()
        .map(|(u, r)| (u.clone(), code_of(r)))
        .collect();
    assert_eq!(
        codes,
        vec![
            ("alice".into(), None),
            ("bob".into(), None),
            ("ghost".into(), Some(ErrorCode::RESOURCE_NOT_FOUND)),
            ("".into(), Some(ErrorCode::UNACCEPTABLE_CREDENTIAL)),
            ("carol".into(), Some(ErrorCode::UNSUPPORTED_SASL_MECHANISM)),
            ("dave".into(), Some(ErrorCode::UNACCEPTABLE_CREDENTIAL)),
            ("erin".into(), Some(ErrorCode::UNACCEPTABLE_CREDENTIAL)),
            ("frank".into(), Some(ErrorCode::DUPLICATE_RESOURCE)),
        ]
    );

    // The tool: a second mechanism for alice, with more iterations.
    let (code, stdout, stderr) = vltava(
        &broker,
        &[
            "users",
            "scram",
            "set",
            "--user",
            "alice",
            "--mechanism",
            "SCRAM-SHA-512",
            "--password",
            "alice-secret",
            "--iterations",
            "8192",
        ],
    );
    assert_eq!(code, 0, "{stdout}\n{stderr}");

    assert_eq!(
        described(&mut client, None).await,
        vec![
            (
                "alice".into(),
                Ok(vec![(SCRAM_SHA_256, 4096), (SCRAM_SHA_512, 8192)])
            ),
            ("bob".into(), Ok(vec![(SCRAM_SHA_512, 16384)])),
        ]
    );
    assert_eq!(
        described(&mut client, Some(&["bob", "nobody", "alice", "bob"])).await,
        vec![
            ("bob".into(), Err(ErrorCode::DUPLICATE_RESOURCE)),
            ("nobody".into(), Err(ErrorCode::RESOURCE_NOT_FOUND)),
            (
                "alice".into(),
                Ok(vec![(SCRAM_SHA_256, 4096), (SCRAM_SHA_512, 8192)])
            ),
        ]
    );
    assert_eq!(
        vltava_json(&broker, &["users", "scram", "list"]),
        json!([
            {"user": "alice", "mechanism": "SCRAM-SHA-256", "iterations": 4096},
            {"user": "alice", "mechanism": "SCRAM-SHA-512", "iterations": 8192},
            {"user": "bob", "mechanism": "SCRAM-SHA-512", "iterations": 16384},
        ])
    );

    // Deleting: by the tool, and a credential that is not there.
    let (code, _, stderr) = vltava(
        &broker,
        &[
            "users",
            "scram",
            "delete",
            "--user",
            "alice",
            "--mechanism",
            "SCRAM-SHA-256",
        ],
    );
    assert_eq!(code, 0, "{stderr}");
    let (code, _, stderr) = vltava(
        &broker,
        &[
            "users",
            "scram",
            "delete",
            "--user",
            "alice",
            "--mechanism",
            "SCRAM-SHA-256",
        ],
    );
    assert_ne!(code, 0);
    assert!(stderr.contains("does not exist"), "{stderr}");
    let (code, _, stderr) = vltava(
        &broker,
        &[
            "users",
            "scram",
            "set",
            "--user",
            "zed",
            "--mechanism",
            "SCRAM-SHA-256",
            "--password",
            "pw",
            "--iterations",
            "100",
        ],
    );
    assert_ne!(code, 0);
    assert!(stderr.contains("Too few iterations"), "{stderr}");
    assert_eq!(
        described(&mut client, Some(&["alice"])).await,
        vec![("alice".into(), Ok(vec![(SCRAM_SHA_512, 8192)]))]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn acls_and_credentials_survive_a_restart_from_a_metadata_snapshot() {
    let mut broker = TestBroker::start(&[
        AUTHORIZER,
        SUPER_USERS,
        // A snapshot after every change: the log before it is deleted, so
        // what comes back after the restart was in the snapshot.
        "metadata.log.max.record.bytes.between.snapshots=1",
        "metadata.log.max.snapshot.interval.ms=0",
    ]);
    let mut client = broker.client().await;
    let kept = topic_read("orders", PatternType::Literal, "User:alice");
    let dropped = topic_read("orders", PatternType::Literal, "User:bob");
    for r in client
        .create_acls(&[kept.clone(), dropped.clone()])
        .await
        .unwrap()
    {
        r.unwrap();
    }
    let literal_bob = AclBindingFilter::new(
        ResourcePatternFilter::ANY,
        AccessControlEntryFilter::new(
            Some("User:bob"),
            None,
            AclOperation::Any,
            AclPermissionType::Any,
        ),
    );
    client.delete_acls(&[literal_bob]).await.unwrap()[0]
        .as_ref()
        .unwrap();
    let upsertions = [
        ScramUpsertion::new("alice", SCRAM_SHA_256, 4096, "a").unwrap(),
        ScramUpsertion::new("bob", SCRAM_SHA_512, 5000, "b").unwrap(),
    ];
    for (_, r) in client
        .alter_scram_credentials(&[], &upsertions)
        .await
        .unwrap()
    {
        r.unwrap();
    }
    for (_, r) in client
        .alter_scram_credentials(&[("bob".into(), SCRAM_SHA_512)], &[])
        .await
        .unwrap()
    {
        r.unwrap();
    }
    // A snapshot is taken by the metadata publisher after the changes
    // are applied; wait for one that covers the last of them.
    let metadata_dir = broker
        .data_dir
        .join("metadata")
        .join("__cluster_metadata-0");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let before = || {
        std::fs::read_dir(&metadata_dir)
            .map(|d| {
                d.filter_map(|e| e.ok())
                    .filter(|e| e.file_name().to_string_lossy().ends_with(".checkpoint"))
                    .count()
            })
            .unwrap_or(0)
    };
    while before() == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "no metadata snapshot in {metadata_dir:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    drop(client);

    broker.stop();
    broker.restart();
    let mut client = broker.client().await;
    assert_eq!(
        client.describe_acls(&AclBindingFilter::ANY).await.unwrap(),
        vec![kept]
    );
    assert_eq!(
        described(&mut client, None).await,
        vec![("alice".into(), Ok(vec![(SCRAM_SHA_256, 4096)]))]
    );
    broker.kill9();
    broker.restart();
    let mut client = broker.client().await;
    assert_eq!(
        client
            .describe_acls(&AclBindingFilter::ANY)
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(described(&mut client, None).await.len(), 1);
}

/// In a cluster, CreateAcls and AlterUserScramCredentials sent to a node
/// that is not the active controller are relayed to it (as Kafka's brokers
/// forward them), and every node then describes the same ACLs and
/// credentials from its own image.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_relays_changes_to_the_controller_and_every_node_describes_them() {
    use common::cluster::{client_of, converged, eventually, Cluster};
    use std::time::Duration;
    use vltava_client::protocol::messages::{
        alter_user_scram_credentials_request, create_acls_request,
        AlterUserScramCredentialsRequest, CreateAclsRequest, DescribeAclsRequest,
        DescribeUserScramCredentialsRequest,
    };

    let extra = format!("{AUTHORIZER}\n{SUPER_USERS}\n");
    let mut cluster = Cluster::start_with(3, 0, &extra);
    let controller = converged(&cluster, &[1, 2, 3], &[1, 2, 3]).await;
    let other = if controller == 1 { 2 } else { 1 };

    let mut client = client_of(&cluster.node(other).bootstrap()).await.unwrap();
    let conn = client.connection(other).await.unwrap();
    let created = conn
        .send(&CreateAclsRequest {
            creations: vec![create_acls_request::AclCreation {
                resource_type: ResourceType::Topic.code(),
                resource_name: "orders".into(),
                resource_pattern_type: PatternType::Literal.code(),
                principal: "User:alice".into(),
                host: "*".into(),
                operation: AclOperation::Write.code(),
                permission_type: AclPermissionType::Allow.code(),
                ..Default::default()
            }],
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(created.results[0].error_code, 0, "{created:?}");
    let upsertion = ScramUpsertion::new("alice", SCRAM_SHA_512, 4096, "pw").unwrap();
    let altered = conn
        .send(&AlterUserScramCredentialsRequest {
            upsertions: vec![
                alter_user_scram_credentials_request::ScramCredentialUpsertion {
                    name: upsertion.user.clone(),
                    mechanism: upsertion.mechanism,
                    iterations: upsertion.iterations,
                    salt: upsertion.salt.clone().into(),
                    salted_password: upsertion.salted_password.clone().into(),
                    ..Default::default()
                },
            ],
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(altered.results[0].error_code, 0, "{altered:?}");

    for id in 1..=3 {
        let bootstrap = cluster.node(id).bootstrap();
        eventually(
            Duration::from_secs(10),
            &format!("node {id} to describe the ACL and the credential"),
            || {
                let bootstrap = bootstrap.clone();
                async move {
                    let mut c = client_of(&bootstrap).await?;
                    let conn = c.connection(id).await.ok()?;
                    let acls = conn
                        .send(&DescribeAclsRequest {
                            resource_type_filter: ResourceType::Any.code(),
                            resource_name_filter: None,
                            pattern_type_filter: PatternType::Any.code(),
                            principal_filter: None,
                            host_filter: None,
                            operation: AclOperation::Any.code(),
                            permission_type: AclPermissionType::Any.code(),
                            ..Default::default()
                        })
                        .await
                        .ok()?;
                    let users = conn
                        .send(&DescribeUserScramCredentialsRequest::default())
                        .await
                        .ok()?;
                    let acl_ok = acls.error_code == 0
                        && acls.resources.len() == 1
                        && acls.resources[0].resource_name == "orders";
                    let user_ok = users.results.len() == 1
                        && users.results[0].user == "alice"
                        && users.results[0].credential_infos.len() == 1;
                    (acl_ok && user_ok).then_some(())
                }
            },
        )
        .await;
    }
}

// ---- Authorization in force: principals from SASL, ACLs checked ----------

mod enforced {
    use std::sync::Arc;

    use super::*;
    use vltava_client::{
        Acks, ClientConfig, ClientSecurity, Compression, OffsetToCommit, ProducerRecord, SaslLogin,
    };

    const USERS: &str = "listener.name.sasl_plaintext.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_admin=\"admin-secret\" user_alice=\"alice-secret\" user_bob=\"bob-secret\";";

    fn start() -> TestBroker {
        TestBroker::start_with_listeners(
            &["SASL_PLAINTEXT"],
            &[
                AUTHORIZER,
                "super.users=User:admin",
                "sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512",
                USERS,
                "listener.name.sasl_plaintext.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;",
            ],
        )
    }

    async fn as_user(
        broker: &TestBroker,
        mechanism: &str,
        user: &str,
        password: &str,
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
                token_auth: false,
            }),
        }));
        Client::connect(config).await
    }

    fn record(value: &str) -> ProducerRecord {
        ProducerRecord {
            value: Some(value.to_string().into()),
            ..ProducerRecord::default()
        }
    }

    fn code_of(err: &vltava_client::Error) -> Option<ErrorCode> {
        err.code()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn each_operation_needs_its_acl_and_deny_wins() {
        let broker = start();
        let mut admin = as_user(&broker, "PLAIN", "admin", "admin-secret")
            .await
            .unwrap();
        admin
            .create_topic(&common::cluster::topic("orders", 1))
            .await
            .expect("a super user creates topics");
        admin
            .create_topic(&common::cluster::topic("orders-eu", 1))
            .await
            .unwrap();
        let mut alice = as_user(&broker, "PLAIN", "alice", "alice-secret")
            .await
            .unwrap();

        // No ACL: alice cannot create, write, read or even see the topic.
        let err = alice
            .create_topic(&common::cluster::topic("alices", 1))
            .await
            .expect_err("Create needs an ACL");
        assert_eq!(
            code_of(&err),
            Some(ErrorCode::TOPIC_AUTHORIZATION_FAILED),
            "{err}"
        );
        let err = alice
            .produce("orders", 0, &[record("a")], Acks::Leader, Compression::None)
            .await
            .expect_err("Write needs an ACL");
        assert_eq!(
            code_of(&err),
            Some(ErrorCode::TOPIC_AUTHORIZATION_FAILED),
            "{err}"
        );
        let listed = alice.list_topics(false).await.unwrap();
        assert!(
            listed.is_empty(),
            "Metadata shows only described topics: {listed:?}"
        );

        // Write on "orders": alice produces, but still cannot read it.
        let write = acl(
            ResourceType::Topic,
            "orders",
            PatternType::Literal,
            "User:alice",
            AclOperation::Write,
            AclPermissionType::Allow,
        );
        for r in admin.create_acls(&[write]).await.unwrap() {
            r.unwrap();
        }
        alice
            .produce("orders", 0, &[record("a")], Acks::Leader, Compression::None)
            .await
            .expect("Write allowed");
        let err = alice
            .fetch("orders", 0, 0, 0, 1 << 20)
            .await
            .expect_err("no Read");
        assert_eq!(
            code_of(&err),
            Some(ErrorCode::TOPIC_AUTHORIZATION_FAILED),
            "{err}"
        );
        // Write implies Describe: the topic is listed now.
        assert_eq!(
            alice.list_topics(false).await.unwrap(),
            vec!["orders".to_string()]
        );

        // Read on the prefix "orders", and a DENY on "orders-eu": the DENY
        // wins there, the prefix allows the rest.
        let acls = [
            acl(
                ResourceType::Topic,
                "orders",
                PatternType::Prefixed,
                "User:alice",
                AclOperation::Read,
                AclPermissionType::Allow,
            ),
            acl(
                ResourceType::Topic,
                "orders-eu",
                PatternType::Literal,
                "User:*",
                AclOperation::Read,
                AclPermissionType::Deny,
            ),
        ];
        for r in admin.create_acls(&acls).await.unwrap() {
            r.unwrap();
        }
        let fetched = alice
            .fetch("orders", 0, 0, 0, 1 << 20)
            .await
            .expect("Read by prefix");
        assert_eq!(fetched.records.len(), 1);
        let err = alice
            .fetch("orders-eu", 0, 0, 0, 1 << 20)
            .await
            .expect_err("DENY wins");
        assert_eq!(
            code_of(&err),
            Some(ErrorCode::TOPIC_AUTHORIZATION_FAILED),
            "{err}"
        );

        // Committing offsets needs Read on the group too.
        let offsets = [OffsetToCommit {
            topic: "orders".into(),
            partition: 0,
            offset: 1,
            leader_epoch: -1,
            metadata: None,
        }];
        let err = alice
            .commit_offsets("billing", &offsets)
            .await
            .expect_err("no group ACL");
        assert_eq!(
            code_of(&err),
            Some(ErrorCode::GROUP_AUTHORIZATION_FAILED),
            "{err}"
        );
        let group = acl(
            ResourceType::Group,
            "billing",
            PatternType::Literal,
            "User:alice",
            AclOperation::Read,
            AclPermissionType::Allow,
        );
        for r in admin.create_acls(&[group]).await.unwrap() {
            r.unwrap();
        }
        alice
            .commit_offsets("billing", &offsets)
            .await
            .expect("Read on the group");

        // bob has none of alice's ACLs; and alice may not change ACLs.
        let mut bob = as_user(&broker, "PLAIN", "bob", "bob-secret")
            .await
            .unwrap();
        let err = bob
            .fetch("orders", 0, 0, 0, 1 << 20)
            .await
            .expect_err("bob has no ACL");
        assert_eq!(
            code_of(&err),
            Some(ErrorCode::TOPIC_AUTHORIZATION_FAILED),
            "{err}"
        );
        let results = alice
            .create_acls(&[acl(
                ResourceType::Topic,
                "orders",
                PatternType::Literal,
                "User:bob",
                AclOperation::Read,
                AclPermissionType::Allow,
            )])
            .await
            .unwrap();
        let err = results
            .into_iter()
            .next()
            .unwrap()
            .expect_err("Alter on the cluster is needed");
        assert_eq!(
            code_of(&err),
            Some(ErrorCode::CLUSTER_AUTHORIZATION_FAILED),
            "{err}"
        );

        // The plaintext listener's anonymous principal gets nothing either.
        let mut anonymous = broker.client().await;
        let err = anonymous
            .fetch("orders", 0, 0, 0, 1 << 20)
            .await
            .expect_err("anonymous");
        assert_eq!(
            code_of(&err),
            Some(ErrorCode::TOPIC_AUTHORIZATION_FAILED),
            "{err}"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn scram_users_authenticate_until_their_credential_is_removed() {
        let broker = start();
        let mut admin = as_user(&broker, "PLAIN", "admin", "admin-secret")
            .await
            .unwrap();
        // No credential yet.
        assert!(as_user(&broker, "SCRAM-SHA-256", "carol", "carol-secret")
            .await
            .is_err());
        let upsert = ScramUpsertion::new("carol", SCRAM_SHA_256, 4096, "carol-secret").unwrap();
        for (_, r) in admin.alter_scram_credentials(&[], &[upsert]).await.unwrap() {
            r.unwrap();
        }
        let mut carol = as_user(&broker, "SCRAM-SHA-256", "carol", "carol-secret")
            .await
            .expect("carol's SCRAM-SHA-256 credential");
        // Authenticated as User:carol, who has no ACL.
        let err = carol
            .create_topic(&common::cluster::topic("carols", 1))
            .await
            .expect_err("carol has no ACL");
        assert_eq!(
            code_of(&err),
            Some(ErrorCode::TOPIC_AUTHORIZATION_FAILED),
            "{err}"
        );
        assert!(as_user(&broker, "SCRAM-SHA-256", "carol", "guess")
            .await
            .is_err());
        // A mechanism with no credential for her, and one the listener
        // does not accept without one.
        assert!(as_user(&broker, "SCRAM-SHA-512", "carol", "carol-secret")
            .await
            .is_err());
        // Revoked: new connections fail.
        for (_, r) in admin
            .alter_scram_credentials(&[("carol".to_string(), SCRAM_SHA_256)], &[])
            .await
            .unwrap()
        {
            r.unwrap();
        }
        assert!(as_user(&broker, "SCRAM-SHA-256", "carol", "carol-secret")
            .await
            .is_err());
    }
}
