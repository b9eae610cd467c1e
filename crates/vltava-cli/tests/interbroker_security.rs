//! The connections nodes open to each other (replica fetchers, the channel
//! to the active controller, quorum voters) use the TLS and SASL of the
//! listener they target, configured with Kafka's names: clusters of real
//! `vltava server` processes whose only listeners are secured, and the
//! start-up errors of settings that cannot work.

mod common;

use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use common::cluster::{eventually, Cluster};
use vltava_client::protocol::messages::elect_leaders_request::TopicPartitions;
use vltava_client::protocol::messages::ElectLeadersRequest;
use vltava_client::{
    Acks, Client, ClientConfig, ClientSecurity, Compression, Connection, ConnectionConfig,
    NewTopic, ProducerRecord, SaslLogin, TopicPartition,
};

/// Quorum and heartbeat timings short enough for a test (as the other
/// cluster tests use), and followers dropped from the ISR after 2 s.
const TIMINGS: &str = "controller.quorum.election.timeout.ms=300\n\
                       controller.quorum.fetch.timeout.ms=600\n\
                       controller.quorum.election.backoff.max.ms=300\n\
                       controller.quorum.request.timeout.ms=500\n\
                       broker.heartbeat.interval.ms=300\n\
                       broker.session.timeout.ms=2000\n\
                       replica.lag.time.max.ms=2000\n\
                       http.listeners=\n";

fn client_config(bootstrap: &str, security: &Arc<ClientSecurity>) -> ClientConfig {
    let mut config = ClientConfig::new([bootstrap.to_string()]);
    config.connection.connect_timeout = Duration::from_secs(2);
    config.connection.request_timeout = Duration::from_secs(10);
    config.connection.security = Some(security.clone());
    config
}

async fn client(bootstrap: &str, security: &Arc<ClientSecurity>) -> Option<Client> {
    Client::connect(client_config(bootstrap, security))
        .await
        .ok()
}

/// Waits until every node lists brokers 1, 2 and 3 and an active
/// controller: the quorum elected a leader and every broker registered,
/// all over the secured listeners.
async fn converged(bootstraps: &[String], security: &Arc<ClientSecurity>) {
    eventually(
        Duration::from_secs(40),
        "three registered brokers and a controller",
        || async move {
            for b in bootstraps {
                let mut c = client(b, security).await?;
                let md = c.metadata(Some(&[])).await.ok()?;
                let mut ids: Vec<i32> = md.brokers.iter().map(|b| b.node_id).collect();
                ids.sort();
                if ids != [1, 2, 3] || md.controller_id < 0 {
                    return None;
                }
            }
            Some(())
        },
    )
    .await;
}

/// Per partition of `topic`: (leader, replicas, sorted ISR).
async fn layout(
    bootstrap: &str,
    security: &Arc<ClientSecurity>,
    topic: &str,
) -> Option<Vec<(i32, Vec<i32>, Vec<i32>)>> {
    let mut c = client(bootstrap, security).await?;
    let md = c.topic_metadata(topic).await.ok()?;
    let mut parts: Vec<_> = md
        .partitions
        .iter()
        .map(|p| {
            let mut isr = p.isr.clone();
            isr.sort();
            (p.partition, (p.leader, p.replicas.clone(), isr))
        })
        .collect();
    parts.sort_by_key(|(p, _)| *p);
    Some(parts.into_iter().map(|(_, v)| v).collect())
}

fn replicated(name: &str, partitions: i32) -> NewTopic {
    NewTopic {
        num_partitions: Some(partitions),
        replication_factor: Some(3),
        configs: vec![("min.insync.replicas".to_string(), "2".to_string())],
        ..NewTopic::new(name)
    }
}

/// The values of `topic`/`partition` from offset 0 to `end`, as its
/// current leader serves them.
async fn read_back(
    bootstrap: &str,
    security: &Arc<ClientSecurity>,
    topic: &str,
    partition: i32,
    end: i64,
) -> Option<Vec<String>> {
    let mut c = client(bootstrap, security).await?;
    let mut values = Vec::new();
    let mut offset = 0;
    while offset < end {
        let fetched = c.fetch(topic, partition, offset, 500, 1 << 20).await.ok()?;
        for r in &fetched.records {
            values.push(String::from_utf8_lossy(r.value.as_deref().unwrap_or(b"")).into_owned());
        }
        if fetched.next_offset == offset {
            return None;
        }
        offset = fetched.next_offset;
    }
    Some(values)
}

/// Produces `count` records to `topic`/`partition` with acks=all.
async fn produce_all(
    bootstrap: &str,
    security: &Arc<ClientSecurity>,
    topic: &str,
    partition: i32,
    count: usize,
) -> Vec<String> {
    let mut c = client(bootstrap, security).await.expect("a client");
    let mut sent = Vec::new();
    for i in 0..count {
        let value = format!("{topic}-{partition}-{i}");
        let record = [ProducerRecord::value(value.clone())];
        // Retried while the ISR settles (NOT_ENOUGH_REPLICAS and the like).
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        let offset = loop {
            match c
                .produce(topic, partition, &record, Acks::All, Compression::None)
                .await
            {
                Ok(offset) => break offset,
                Err(e) => {
                    assert!(
                        std::time::Instant::now() < deadline,
                        "acks=all produce to {topic}/{partition}: {e}"
                    );
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        };
        assert_eq!(offset, i as i64, "each record once, in order");
        sent.push(value);
    }
    sent
}

/// Makes `leader` the leader of `topic`/0: reorders the replicas so it is
/// the preferred one, then asks for a preferred-replica election. Only an
/// in-sync replica can be elected, so this fails for one that never
/// replicated.
async fn move_leadership(
    bootstraps: &[String],
    security: &Arc<ClientSecurity>,
    topic: &str,
    leader: i32,
) {
    let mut order = vec![leader];
    order.extend([1, 2, 3].into_iter().filter(|r| *r != leader));
    let mut admin = client(&bootstraps[0], security).await.expect("a client");
    let results = admin
        .alter_partition_reassignments(&[(TopicPartition::new(topic, 0), Some(order.clone()))])
        .await
        .expect("AlterPartitionReassignments");
    assert!(results[0].is_ok(), "{results:?}");
    eventually(
        Duration::from_secs(30),
        &format!("node {leader} to lead {topic}/0"),
        || {
            let order = order.clone();
            async move {
                let parts = layout(&bootstraps[0], security, topic).await?;
                if parts[0].1 != order {
                    return None;
                }
                if parts[0].0 == leader {
                    return Some(());
                }
                let mut conn = Connection::connect(
                    &bootstraps[0],
                    ConnectionConfig {
                        security: Some(security.clone()),
                        ..ConnectionConfig::default()
                    },
                )
                .await
                .ok()?;
                let request = ElectLeadersRequest {
                    election_type: 0,
                    topic_partitions: Some(vec![TopicPartitions {
                        topic: topic.into(),
                        partitions: vec![0],
                        ..Default::default()
                    }]),
                    timeout_ms: 10_000,
                    ..Default::default()
                };
                let _ = conn.send_version(&request, 1).await;
                None
            }
        },
    )
    .await;
}

/// Three nodes whose brokers, controllers and clients all speak TLS with
/// certificates required on both listeners, from the key and trust stores
/// of `certs`; host names are verified (the default
/// ssl.endpoint.identification.algorithm=https; the broker certificate is
/// for 127.0.0.1). Started, with the clients' security.
fn mutual_tls_cluster(certs: &vltava_tls::dev::DevFiles) -> (Cluster, Arc<ClientSecurity>) {
    let ca = certs.ca.display().to_string();
    let keystore = certs.broker_keystore.display().to_string();
    let mut cluster = Cluster::format_custom(3, |id, port, controller_port, voters| {
        format!(
            "node.id={id}\n\
             process.roles=broker,controller\n\
             listeners=BROKER://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}\n\
             listener.security.protocol.map=BROKER:SSL,CONTROLLER:SSL\n\
             inter.broker.listener.name=BROKER\n\
             controller.listener.names=CONTROLLER\n\
             controller.quorum.voters={voters}\n\
             ssl.keystore.type=PEM\n\
             ssl.keystore.location={keystore}\n\
             ssl.truststore.type=PEM\n\
             ssl.truststore.location={ca}\n\
             ssl.client.auth=required\n\
             {TIMINGS}"
        )
    });
    for node in &mut cluster.nodes {
        node.start();
    }
    (cluster, mutual_tls_client(certs))
}

fn mutual_tls_client(certs: &vltava_tls::dev::DevFiles) -> Arc<ClientSecurity> {
    Arc::new(ClientSecurity {
        tls: Some(Arc::new(
            vltava_tls::client_config(
                &std::fs::read(&certs.ca).unwrap(),
                Some(&std::fs::read(&certs.client_keystore).unwrap()),
            )
            .unwrap(),
        )),
        tls_server_name: None,
        sasl: None,
    })
}

/// KIP-919 (`--bootstrap-controller`): DescribeCluster for the controller
/// endpoint type, asked on node 1's controller listener, lists the quorum's
/// voters at their controller addresses and the active controller; asked
/// on its broker listener it is refused with MISMATCHED_ENDPOINT_TYPE.
async fn controllers_described_on_the_controller_listener_only(
    cluster: &Cluster,
    bootstraps: &[String],
    security: &Arc<ClientSecurity>,
) {
    use vltava_client::protocol::messages::DescribeClusterRequest;
    let voters: Vec<(i32, String)> = cluster
        .voters
        .split(',')
        .map(|v| {
            let (id, addr) = v.split_once('@').unwrap();
            (id.parse().unwrap(), addr.to_string())
        })
        .collect();
    let describe = |addr: String| async move {
        let mut conn = Connection::connect(
            &addr,
            ConnectionConfig {
                security: Some(security.clone()),
                ..ConnectionConfig::default()
            },
        )
        .await
        .expect("connect");
        let request = DescribeClusterRequest {
            endpoint_type: 2,
            ..Default::default()
        };
        conn.send_version(&request, 1)
            .await
            .expect("DescribeCluster")
    };
    let refused = describe(bootstraps[0].clone()).await;
    assert_eq!(
        refused.error_code,
        vltava_client::ErrorCode::MISMATCHED_ENDPOINT_TYPE.code(),
        "on the broker listener"
    );
    let mut md = client(&bootstraps[0], security).await.unwrap();
    let controller = md.metadata(Some(&[])).await.unwrap().controller_id;
    let answer = describe(voters[0].1.clone()).await;
    assert_eq!(
        (answer.error_code, answer.endpoint_type),
        (0, 2),
        "{answer:?}"
    );
    assert_eq!(answer.controller_id, controller);
    let listed: Vec<(i32, String)> = answer
        .brokers
        .iter()
        .map(|b| (b.broker_id, format!("{}:{}", b.host, b.port)))
        .collect();
    assert_eq!(listed, voters);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_with_only_mutual_tls_listeners_replicates() {
    let certs_dir = tempfile::tempdir().unwrap();
    let certs = vltava_tls::dev::write_dev_certs(certs_dir.path(), &[], "client").unwrap();
    let (cluster, security) = mutual_tls_cluster(&certs);
    let bootstraps: Vec<String> = cluster.nodes.iter().map(|n| n.bootstrap()).collect();
    converged(&bootstraps, &security).await;
    controllers_described_on_the_controller_listener_only(&cluster, &bootstraps, &security).await;

    let mut admin = client(&bootstraps[0], &security).await.unwrap();
    admin
        .create_topic(&replicated("secure", 1))
        .await
        .expect("a topic of replication factor 3");
    eventually(Duration::from_secs(20), "a leader for secure/0", || async {
        let parts = layout(&bootstraps[0], &security, "secure").await?;
        (parts[0].0 > 0).then_some(())
    })
    .await;
    let sent = produce_all(&bootstraps[0], &security, "secure", 0, 20).await;

    // Each replica in turn leads and serves every record: each has
    // replicated them over the TLS listener.
    for leader in [1, 2, 3] {
        move_leadership(&bootstraps, &security, "secure", leader).await;
        let values = eventually(
            Duration::from_secs(20),
            &format!("the records from node {leader}"),
            || read_back(&bootstraps[0], &security, "secure", 0, sent.len() as i64),
        )
        .await;
        assert_eq!(values, sent, "as node {leader} serves them");
    }
}

/// Operators rotate certificates without restarts: every node's key and
/// trust store files are replaced by ones of a new CA while the cluster
/// runs. Node 3 is then restarted (so it presents only the new CA's
/// certificate) and made the leader of a partition with
/// min.insync.replicas=2: acks=all writes succeed only if nodes 1 and 2,
/// which never restarted, dial node 3 with the new trust store and present
/// the new certificate, i.e. if their connections to other nodes follow
/// the files as their listeners do.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotated_certificates_reach_the_connections_between_nodes_without_a_restart() {
    let certs_dir = tempfile::tempdir().unwrap();
    let certs = vltava_tls::dev::write_dev_certs(certs_dir.path(), &[], "client").unwrap();
    let (mut cluster, old_security) = mutual_tls_cluster(&certs);
    let bootstraps: Vec<String> = cluster.nodes.iter().map(|n| n.bootstrap()).collect();
    converged(&bootstraps, &old_security).await;
    let mut admin = client(&bootstraps[0], &old_security).await.unwrap();
    admin
        .create_topic(&replicated("rotated", 1))
        .await
        .expect("a topic of replication factor 3");
    drop(admin);

    // The new CA's files replace the old ones, each by a rename so that no
    // reload sees half a file.
    let next_dir = tempfile::tempdir().unwrap();
    let next = vltava_tls::dev::write_dev_certs(next_dir.path(), &[], "client").unwrap();
    for (from, to) in [
        (&next.ca, &certs.ca),
        (&next.broker_keystore, &certs.broker_keystore),
        (&next.client_keystore, &certs.client_keystore),
    ] {
        let staged = to.with_extension("new");
        std::fs::copy(from, &staged).unwrap();
        std::fs::rename(&staged, to).unwrap();
    }
    let security = mutual_tls_client(&certs);
    // Every listener has reloaded once a client of the new CA gets in
    // everywhere (they look every 10 s); the outbound side looks in the
    // same pass.
    eventually(
        Duration::from_secs(30),
        "every listener on the new CA",
        || async {
            for b in &bootstraps {
                client(b, &security).await?.metadata(Some(&[])).await.ok()?;
            }
            Some(())
        },
    )
    .await;
    assert!(
        client(&bootstraps[0], &old_security).await.is_none(),
        "a client of the old CA is refused"
    );

    cluster.node(3).stop(Duration::from_secs(20));
    cluster.node(3).start();
    converged(&bootstraps, &security).await;
    move_leadership(&bootstraps, &security, "rotated", 3).await;
    let sent = produce_all(&bootstraps[2], &security, "rotated", 0, 10).await;
    let parts = layout(&bootstraps[0], &security, "rotated").await.unwrap();
    assert_eq!(parts[0].0, 3, "node 3 led while the records were written");
    assert!(
        parts[0].2.len() >= 2,
        "nodes that never restarted replicate from node 3: ISR {:?}",
        parts[0].2
    );
    let values = read_back(&bootstraps[2], &security, "rotated", 0, sent.len() as i64)
        .await
        .unwrap();
    assert_eq!(values, sent);
}

const GOOD_PASSWORD: &str = "broker-secret";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sasl_between_brokers_with_acls_and_a_broker_with_a_wrong_password() {
    // Nodes 1 and 2 log in to the inter-broker listener as User:broker with
    // its password; node 3 with a wrong one. The controller listener uses
    // SASL PLAIN too, with the right password everywhere, so node 3 is a
    // registered broker and a voter: only its replica fetches fail.
    let mut cluster = Cluster::format_custom(3, |id, port, controller_port, voters| {
        let password = if id == 3 { "wrong" } else { GOOD_PASSWORD };
        let users = format!("user_broker=\"{GOOD_PASSWORD}\" user_admin=\"admin-secret\"");
        format!(
            "node.id={id}\n\
             process.roles=broker,controller\n\
             listeners=INTERNAL://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}\n\
             listener.security.protocol.map=INTERNAL:SASL_PLAINTEXT,CONTROLLER:SASL_PLAINTEXT\n\
             inter.broker.listener.name=INTERNAL\n\
             controller.listener.names=CONTROLLER\n\
             controller.quorum.voters={voters}\n\
             sasl.enabled.mechanisms=PLAIN\n\
             sasl.mechanism.inter.broker.protocol=PLAIN\n\
             sasl.mechanism.controller.protocol=PLAIN\n\
             listener.name.internal.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username=\"broker\" password=\"{password}\" {users};\n\
             listener.name.controller.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username=\"broker\" password=\"{GOOD_PASSWORD}\" {users};\n\
             authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer\n\
             super.users=User:broker;User:admin\n\
             {TIMINGS}"
        )
    });
    let log = cluster.dir().join("node-3.log");
    cluster.node(3).log_file = Some(log.clone());
    for node in &mut cluster.nodes {
        node.start();
    }
    let security = Arc::new(ClientSecurity {
        tls: None,
        tls_server_name: None,
        sasl: Some(SaslLogin {
            mechanism: "PLAIN".into(),
            username: "admin".into(),
            password: "admin-secret".into(),
            token_auth: false,
        }),
    });
    let bootstraps: Vec<String> = cluster.nodes.iter().map(|n| n.bootstrap()).collect();
    converged(&bootstraps, &security).await;

    let mut admin = client(&bootstraps[0], &security).await.unwrap();
    admin
        .create_topic(&replicated("guarded", 3))
        .await
        .expect("a topic of replication factor 3");

    // Where node 1 or 2 leads, the other one follows in sync and node 3
    // drops out of the ISR (it never fetched). Where node 3 leads, nodes 1
    // and 2 fetch from it and stay in sync.
    let parts = eventually(
        Duration::from_secs(40),
        "node 3 out of the ISR of the partitions it follows",
        || async {
            let parts = layout(&bootstraps[0], &security, "guarded").await?;
            parts
                .iter()
                .all(|(leader, _, isr)| match leader {
                    1 | 2 => isr == &vec![1, 2],
                    3 => isr.contains(&1) && isr.contains(&2),
                    _ => false,
                })
                .then_some(parts)
        },
    )
    .await;

    // acks=all (min.insync.replicas=2) is acknowledged on every partition,
    // and the records read back from the leaders.
    for (partition, (leader, _, _)) in parts.iter().enumerate() {
        let partition = partition as i32;
        let sent = produce_all(&bootstraps[0], &security, "guarded", partition, 5).await;
        let values = eventually(
            Duration::from_secs(20),
            &format!("guarded/{partition} from node {leader}"),
            || read_back(&bootstraps[0], &security, "guarded", partition, 5),
        )
        .await;
        assert_eq!(values, sent);
    }

    // Still out of sync after the produces: its fetches are refused.
    let parts = layout(&bootstraps[0], &security, "guarded").await.unwrap();
    for (leader, _, isr) in &parts {
        if *leader != 3 {
            assert!(!isr.contains(&3), "{parts:?}");
        }
    }
    // And node 3 says why.
    eventually(
        Duration::from_secs(20),
        "an authentication failure in node 3's log",
        || {
            let log = log.clone();
            async move {
                let text = std::fs::read_to_string(&log).ok()?;
                text.lines()
                    .any(|l| {
                        l.contains("replica fetch failed")
                            && l.contains("SASL_AUTHENTICATION_FAILED")
                    })
                    .then_some(())
            }
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scram_between_brokers_starts_working_once_the_brokers_user_exists() {
    // Brokers log in to each other with SCRAM-SHA-512 as User:broker, whose
    // credential lives in the cluster metadata: until it is created, the
    // followers cannot fetch. Clients and controllers use plaintext
    // listeners here.
    let mut cluster = Cluster::format_custom(3, |id, port, controller_port, voters| {
        let internal = common::free_port();
        format!(
            "node.id={id}\n\
             process.roles=broker,controller\n\
             listeners=CLIENT://127.0.0.1:{port},INTERNAL://127.0.0.1:{internal},CONTROLLER://127.0.0.1:{controller_port}\n\
             listener.security.protocol.map=CLIENT:PLAINTEXT,INTERNAL:SASL_PLAINTEXT,CONTROLLER:PLAINTEXT\n\
             inter.broker.listener.name=INTERNAL\n\
             controller.listener.names=CONTROLLER\n\
             controller.quorum.voters={voters}\n\
             sasl.enabled.mechanisms=SCRAM-SHA-512\n\
             sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512\n\
             listener.name.internal.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username=\"broker\" password=\"{GOOD_PASSWORD}\";\n\
             {TIMINGS}"
        )
    });
    for node in &mut cluster.nodes {
        node.start();
    }
    let plaintext = Arc::new(ClientSecurity {
        tls: None,
        tls_server_name: None,
        sasl: None,
    });
    let bootstraps: Vec<String> = cluster.nodes.iter().map(|n| n.bootstrap()).collect();
    converged(&bootstraps, &plaintext).await;
    let mut admin = client(&bootstraps[0], &plaintext).await.unwrap();
    admin
        .create_topic(&replicated("scrammed", 1))
        .await
        .expect("a topic of replication factor 3");
    eventually(
        Duration::from_secs(30),
        "the followers out of the ISR without a SCRAM user",
        || async {
            let parts = layout(&bootstraps[0], &plaintext, "scrammed").await?;
            (parts[0].0 > 0 && parts[0].2 == vec![parts[0].0]).then_some(())
        },
    )
    .await;

    let status = Command::new(env!("CARGO_BIN_EXE_vltava"))
        .args(["users", "scram", "set", "--user", "broker"])
        .args(["--mechanism", "SCRAM-SHA-512", "--password", GOOD_PASSWORD])
        .args(["--bootstrap", &bootstraps[0]])
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    eventually(
        Duration::from_secs(30),
        "the followers back in the ISR",
        || async {
            let parts = layout(&bootstraps[0], &plaintext, "scrammed").await?;
            (parts[0].2 == vec![1, 2, 3]).then_some(())
        },
    )
    .await;
    let sent = produce_all(&bootstraps[0], &plaintext, "scrammed", 0, 5).await;
    let values = read_back(&bootstraps[0], &plaintext, "scrammed", 0, 5).await;
    assert_eq!(values, Some(sent));
}

// ---- start-up errors -------------------------------------------------------

/// Runs `vltava server` as node 1 of a two-voter quorum with these extra
/// settings, which must fail to start; returns stderr.
fn refused(settings: &[&str]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_vltava"));
    command
        .arg("server")
        .arg("--data-dir")
        .arg(dir.path())
        .args(["--set", "http.listeners="])
        .args(["--set", "node.id=1"])
        .args(["--set", "process.roles=broker,controller"])
        .args([
            "--set",
            "controller.quorum.voters=1@127.0.0.1:1,2@127.0.0.1:2",
        ]);
    for s in settings {
        command.arg("--set").arg(s);
    }
    let output = command.output().unwrap();
    assert!(!output.status.success());
    String::from_utf8_lossy(&output.stderr).into_owned()
}

const SERVER_ONLY_USERS: &str = "listener.name.internal.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_broker=\"secret\";";

#[test]
fn inter_broker_settings_that_cannot_work_are_refused_at_start_naming_the_key() {
    let sasl_listener = [
        "listeners=INTERNAL://127.0.0.1:0,CONTROLLER://127.0.0.1:0",
        "listener.security.protocol.map=INTERNAL:SASL_PLAINTEXT,CONTROLLER:PLAINTEXT",
        "controller.listener.names=CONTROLLER",
        "inter.broker.listener.name=INTERNAL",
        "sasl.enabled.mechanisms=PLAIN",
        SERVER_ONLY_USERS,
    ];
    // The JAAS config has users for the server side, but no username and
    // password for this node to log in with.
    let mut settings = sasl_listener.to_vec();
    settings.push("sasl.mechanism.inter.broker.protocol=PLAIN");
    let stderr = refused(&settings);
    assert!(
        stderr.contains("listener.name.internal.plain.sasl.jaas.config")
            && stderr.contains("username"),
        "{stderr}"
    );
    // Kafka's default mechanism, GSSAPI, is not one this node logs in with.
    let stderr = refused(&sasl_listener);
    assert!(
        stderr.contains("sasl.mechanism.inter.broker.protocol=GSSAPI"),
        "{stderr}"
    );
    // An inter-broker listener the protocol map does not know.
    let stderr = refused(&[
        "listeners=PLAINTEXT://127.0.0.1:0",
        "inter.broker.listener.name=INTERNAL",
    ]);
    assert!(
        stderr.contains("inter.broker.listener.name") && stderr.contains("INTERNAL"),
        "{stderr}"
    );
    // SCRAM on the controller listener cannot bootstrap.
    let stderr = refused(&[
        "listeners=PLAINTEXT://127.0.0.1:0,CONTROLLER://127.0.0.1:0",
        "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:SASL_PLAINTEXT",
        "controller.listener.names=CONTROLLER",
        "sasl.enabled.mechanisms=SCRAM-SHA-256",
        "sasl.mechanism.controller.protocol=SCRAM-SHA-256",
    ]);
    assert!(
        stderr.contains("sasl.mechanism.controller.protocol=SCRAM-SHA-256"),
        "{stderr}"
    );
    // A TLS controller listener needs a trust store to check the other
    // controllers' certificates.
    let certs_dir = tempfile::tempdir().unwrap();
    let certs = vltava_tls::dev::write_dev_certs(certs_dir.path(), &[], "client").unwrap();
    let keystore = format!("ssl.keystore.location={}", certs.broker_keystore.display());
    let stderr = refused(&[
        "listeners=PLAINTEXT://127.0.0.1:0,CONTROLLER://127.0.0.1:0",
        "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:SSL",
        "controller.listener.names=CONTROLLER",
        "ssl.keystore.type=PEM",
        &keystore,
    ]);
    assert!(
        stderr.contains("listener CONTROLLER") && stderr.contains("ssl.truststore.location"),
        "{stderr}"
    );
}

/// A node that is not the active controller relays a metadata change in an
/// Envelope (KIP-590) with the client's principal, and the controller
/// authorizes it as that client: one CreateTopics request of two topics,
/// one of which alice may create, creates that one and refuses the other,
/// each decided at the controller. (Relayed as the node's own principal,
/// a super user, both would be created; refused on the relaying node, the
/// allowed one would get NOT_CONTROLLER.) A client that is not a node
/// cannot send an Envelope itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relayed_changes_are_authorized_at_the_controller_as_the_client() {
    use vltava_client::acl::{
        AccessControlEntry, AclBinding, AclOperation, AclPermissionType, PatternType,
        ResourcePattern, ResourceType,
    };
    use vltava_client::protocol::messages::{
        create_topics_request::CreatableTopic, CreateTopicsRequest, EnvelopeRequest,
    };
    let mut cluster = Cluster::format_custom(3, |id, port, controller_port, voters| {
        let users = format!(
            "user_broker=\"{GOOD_PASSWORD}\" user_admin=\"admin-secret\" user_alice=\"alice-secret\""
        );
        format!(
            "node.id={id}\n\
             process.roles=broker,controller\n\
             listeners=INTERNAL://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}\n\
             listener.security.protocol.map=INTERNAL:SASL_PLAINTEXT,CONTROLLER:SASL_PLAINTEXT\n\
             inter.broker.listener.name=INTERNAL\n\
             controller.listener.names=CONTROLLER\n\
             controller.quorum.voters={voters}\n\
             sasl.enabled.mechanisms=PLAIN\n\
             sasl.mechanism.inter.broker.protocol=PLAIN\n\
             sasl.mechanism.controller.protocol=PLAIN\n\
             listener.name.internal.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username=\"broker\" password=\"{GOOD_PASSWORD}\" {users};\n\
             listener.name.controller.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username=\"broker\" password=\"{GOOD_PASSWORD}\" {users};\n\
             authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer\n\
             super.users=User:broker;User:admin\n\
             {TIMINGS}"
        )
    });
    for node in &mut cluster.nodes {
        node.start();
    }
    let login = |user: &str, password: &str| {
        Arc::new(ClientSecurity {
            tls: None,
            tls_server_name: None,
            sasl: Some(SaslLogin {
                mechanism: "PLAIN".into(),
                username: user.into(),
                password: password.into(),
                token_auth: false,
            }),
        })
    };
    let admin_login = login("admin", "admin-secret");
    let alice_login = login("alice", "alice-secret");
    let bootstraps: Vec<String> = cluster.nodes.iter().map(|n| n.bootstrap()).collect();
    converged(&bootstraps, &admin_login).await;

    let mut admin = client(&bootstraps[0], &admin_login).await.unwrap();
    let created = admin
        .create_acls(&[AclBinding::new(
            ResourcePattern::new(ResourceType::Topic, "alice-", PatternType::Prefixed),
            AccessControlEntry::new(
                "User:alice",
                "*",
                AclOperation::Create,
                AclPermissionType::Allow,
            ),
        )])
        .await
        .unwrap();
    assert!(created.iter().all(Result::is_ok), "{created:?}");

    // alice asks a node that does not lead the quorum, once every node
    // applied the ACL.
    let controller = admin.metadata(Some(&[])).await.unwrap().controller_id;
    let other = [1, 2, 3].into_iter().find(|id| *id != controller).unwrap();
    let mut alice = client(&bootstraps[(other - 1) as usize], &alice_login)
        .await
        .unwrap();
    let topic = |name: &str| CreatableTopic {
        name: name.into(),
        num_partitions: 1,
        replication_factor: 1,
        ..Default::default()
    };
    // Until the ACL reached the controller's image and a controller leads.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let answer = loop {
        let conn = alice.connection(other).await.unwrap();
        let answer = conn
            .send(&CreateTopicsRequest {
                topics: vec![topic("alice-orders"), topic("bob-orders")],
                timeout_ms: 10_000,
                ..Default::default()
            })
            .await
            .unwrap();
        let retriable = [
            vltava_client::ErrorCode::NOT_CONTROLLER.code(),
            vltava_client::ErrorCode::TOPIC_AUTHORIZATION_FAILED.code(),
        ];
        if !retriable.contains(&answer.topics[0].error_code) || std::time::Instant::now() > deadline
        {
            break answer;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let codes: Vec<(String, i16)> = answer
        .topics
        .iter()
        .map(|t| (t.name.clone(), t.error_code))
        .collect();
    assert_eq!(
        codes,
        vec![
            ("alice-orders".to_string(), 0),
            (
                "bob-orders".to_string(),
                vltava_client::ErrorCode::TOPIC_AUTHORIZATION_FAILED.code()
            ),
        ]
    );

    // An Envelope from alice (not a node: no ClusterAction) closes her
    // connection; nothing inside it is done.
    let conn = alice.connection(other).await.unwrap();
    let forged = conn
        .send(&EnvelopeRequest {
            request_data: bytes::Bytes::from_static(b"\0"),
            request_principal: None,
            client_host_address: bytes::Bytes::from_static(&[127, 0, 0, 1]),
            ..Default::default()
        })
        .await;
    assert!(forged.is_err(), "{forged:?}");
}
