//! Partition reassignment (KIP-455) between real `vltava server`
//! processes: three combined nodes, a topic of replication factor 2 moved
//! to another pair of brokers (its leader among the ones leaving) while
//! acks=all producers write, then cancelled reassignments and the errors
//! AlterPartitionReassignments answers. Every acknowledged record must be
//! on the new replicas at the offset it was acknowledged at, and the
//! broker that left must have deleted its copy.

mod common;

use std::time::{Duration, Instant};

use common::cluster::{
    check_acked, client_of, converged, eventually, serial, values_by_offset, vltava, Cluster, Node,
};
use vltava_client::protocol::messages::alter_partition_reassignments_request::{
    ReassignablePartition, ReassignableTopic,
};
use vltava_client::protocol::messages::{
    AlterPartitionReassignmentsRequest, ListPartitionReassignmentsRequest,
};
use vltava_client::{
    Acks, Client, ClientConfig, Compression, Connection, ConnectionConfig, ErrorCode, NewTopic,
    PartitionMetadata, ProducerRecord, TopicPartition,
};

fn topic(name: &str, replication_factor: i16) -> NewTopic {
    NewTopic {
        num_partitions: Some(1),
        replication_factor: Some(replication_factor),
        ..NewTopic::new(name)
    }
}

/// Partition 0 of `topic` as node `via` sees it.
async fn partition_of(via: &str, topic: &str) -> Option<PartitionMetadata> {
    let mut c = client_of(via).await?;
    let md = c.topic_metadata(topic).await.ok()?;
    md.partitions.into_iter().find(|p| p.partition == 0)
}

fn sorted(ids: &[i32]) -> Vec<i32> {
    let mut ids = ids.to_vec();
    ids.sort_unstable();
    ids
}

/// A client that sends each produce once. The client retries a produce
/// answered NOT_LEADER_OR_FOLLOWER, which an acks=all produce also gets
/// when the leadership moved after the append (as in Kafka); the retry can
/// write the batch a second time. `produce_acked` retries instead, with a
/// new value each time.
async fn producer_of(bootstrap: &str) -> Option<Client> {
    let mut config = ClientConfig::new([bootstrap.to_string()]);
    config.connection.connect_timeout = Duration::from_secs(2);
    config.connection.request_timeout = Duration::from_secs(10);
    config.retries = 0;
    Client::connect(config).await.ok()
}

/// Produces `values` as one acks=all batch through any of `bootstraps`
/// until it is acknowledged; returns the offset of each value. Every
/// attempt carries its own suffix, so a batch that failed but was written
/// anyway is told apart from the acknowledged one.
async fn produce_acked(
    bootstraps: &[String],
    topic: &str,
    values: &[String],
    limit: Duration,
) -> Vec<(String, i64)> {
    let deadline = Instant::now() + limit;
    let mut attempt = 0;
    loop {
        assert!(Instant::now() < deadline, "no acknowledgement in time");
        attempt += 1;
        let batch: Vec<String> = values.iter().map(|v| format!("{v}-a{attempt}")).collect();
        let records: Vec<ProducerRecord> = batch
            .iter()
            .map(|v| ProducerRecord::value(v.clone()))
            .collect();
        let b = &bootstraps[attempt % bootstraps.len()];
        if let Some(mut c) = producer_of(b).await {
            if let Ok(base) = c
                .produce(topic, 0, &records, Acks::All, Compression::None)
                .await
            {
                return batch
                    .into_iter()
                    .enumerate()
                    .map(|(i, v)| (v, base + i as i64))
                    .collect();
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `vltava topics reassign ARGS --bootstrap B`: (success, stdout, stderr).
fn reassign_tool(bootstrap: &str, args: &[&str]) -> (bool, String, String) {
    let out = vltava()
        .args(["topics", "reassign", "--bootstrap", bootstrap])
        .args(args)
        .output()
        .expect("run vltava topics reassign");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partition_moves_to_other_brokers_with_every_acknowledged_record() {
    let _serial = serial().await;
    let mut cluster = Cluster::start_with(3, 0, "replica.lag.time.max.ms=3000\n");
    converged(&cluster, &[1, 2, 3], &[1, 2, 3]).await;
    let bootstraps: Vec<String> = cluster.nodes.iter().map(Node::bootstrap).collect();
    let mut admin = client_of(&bootstraps[0]).await.unwrap();
    admin.create_topic(&topic("moving", 2)).await.unwrap();
    let before = eventually(Duration::from_secs(20), "a full ISR", || {
        let b = bootstraps[0].clone();
        async move {
            let p = partition_of(&b, "moving").await?;
            (p.leader > 0 && sorted(&p.isr) == sorted(&p.replicas)).then_some(p)
        }
    })
    .await;
    assert_eq!(before.replicas.len(), 2);

    // 1000 acknowledged records, in batches of 10.
    let mut acked: Vec<(String, i64)> = Vec::new();
    for batch in 0..100 {
        let values: Vec<String> = (0..10).map(|i| format!("r{batch}-{i}")).collect();
        acked.extend(produce_acked(&bootstraps, "moving", &values, Duration::from_secs(20)).await);
    }
    assert_eq!(acked.len(), 1000);

    // Onto the broker that has no replica and the follower: the leader
    // leaves, and the new replica copies the whole log.
    let leaving = before.leader;
    let follower = *before.replicas.iter().find(|r| **r != leaving).unwrap();
    let joining = (1..=3).find(|b| !before.replicas.contains(b)).unwrap();
    let target = vec![joining, follower];
    let target_arg = format!("{joining},{follower}");
    let (ok, stdout, stderr) = reassign_tool(
        &bootstraps[0],
        &[
            "--topic",
            "moving",
            "--partition",
            "0",
            "--replicas",
            &target_arg,
        ],
    );
    assert!(ok, "reassign: {stdout} {stderr}");
    assert!(stdout.contains("Reassigning moving-0"), "{stdout}");

    // Writes go on while the new replica catches up and the leadership
    // moves; each is acknowledged by whoever leads.
    for batch in 0..20 {
        let values: Vec<String> = (0..10).map(|i| format!("during{batch}-{i}")).collect();
        acked.extend(produce_acked(&bootstraps, "moving", &values, Duration::from_secs(30)).await);
    }

    let after = eventually(
        Duration::from_secs(30),
        "the reassignment to complete",
        || {
            let b = bootstraps[1].clone();
            let target = target.clone();
            async move {
                let mut c = client_of(&b).await?;
                let ongoing = c.list_partition_reassignments(None).await.ok()?;
                if !ongoing.is_empty() {
                    return None;
                }
                let p = partition_of(&b, "moving").await?;
                (p.replicas == target && sorted(&p.isr) == sorted(&target) && p.leader > 0)
                    .then_some(p)
            }
        },
    )
    .await;
    assert_ne!(after.leader, leaving, "the leader that left handed over");
    assert!(after.leader_epoch > before.leader_epoch);
    let (ok, stdout, _) = reassign_tool(&bootstraps[2], &["--list", "--output", "json"]);
    assert!(ok);
    assert_eq!(stdout.trim(), r#"{"reassignments":[]}"#);

    // The broker that left deleted its log; the new one has it.
    let gone = cluster.nodes[(leaving - 1) as usize]
        .data_dir
        .join("moving-0");
    eventually(
        Duration::from_secs(10),
        "the old replica's log deleted",
        || {
            let gone = gone.clone();
            async move { (!gone.exists()).then_some(()) }
        },
    )
    .await;
    assert!(cluster.nodes[(joining - 1) as usize]
        .data_dir
        .join("moving-0")
        .is_dir());

    // One more write under the new leadership, then everything
    // acknowledged is there, once, at its offset, read from the new leader.
    acked.extend(
        produce_acked(
            &bootstraps,
            "moving",
            &["after".to_string()],
            Duration::from_secs(20),
        )
        .await,
    );
    let mut reader = client_of(&bootstraps[(after.leader - 1) as usize])
        .await
        .unwrap();
    let log = values_by_offset(&mut reader, "moving", 0).await;
    for (value, offset) in &acked {
        assert_eq!(log.get(offset), Some(value), "{value} at {offset}");
        assert_eq!(log.values().filter(|v| *v == value).count(), 1, "{value}");
    }
    assert!(log.len() >= 1201);
    for node in &mut cluster.nodes {
        assert!(node.is_running(), "node {} exited", node.id);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reassignment_is_cancelled_and_bad_ones_are_refused() {
    let _serial = serial().await;
    let mut cluster = Cluster::start_with(3, 0, "replica.lag.time.max.ms=3000\n");
    let controller = converged(&cluster, &[1, 2, 3], &[1, 2, 3]).await;
    let bootstraps: Vec<String> = cluster.nodes.iter().map(Node::bootstrap).collect();
    let mut admin = client_of(&bootstraps[0]).await.unwrap();
    admin.create_topic(&topic("stays", 1)).await.unwrap();
    let before = eventually(Duration::from_secs(20), "a leader", || {
        let b = bootstraps[0].clone();
        async move { partition_of(&b, "stays").await.filter(|p| p.leader > 0) }
    })
    .await;
    let home = before.leader;
    let tp = TopicPartition::new("stays", 0);

    // Refusals, one result per partition.
    let results = admin
        .alter_partition_reassignments(&[
            (TopicPartition::new("nope", 0), Some(vec![1])),
            (TopicPartition::new("stays", 5), Some(vec![1])),
            (tp.clone(), Some(vec![])),
            (tp.clone(), Some(vec![home, home])),
            (tp.clone(), Some(vec![home, 9])),
            (tp.clone(), None),
            (tp.clone(), Some(vec![home])),
        ])
        .await
        .unwrap();
    let codes: Vec<Option<ErrorCode>> = results
        .iter()
        .map(|r| r.as_ref().err().and_then(|e| e.code()))
        .collect();
    assert_eq!(
        codes,
        vec![
            Some(ErrorCode::UNKNOWN_TOPIC_OR_PARTITION),
            Some(ErrorCode::UNKNOWN_TOPIC_OR_PARTITION),
            Some(ErrorCode::INVALID_REPLICA_ASSIGNMENT),
            Some(ErrorCode::INVALID_REPLICA_ASSIGNMENT),
            Some(ErrorCode::INVALID_REPLICA_ASSIGNMENT),
            Some(ErrorCode::NO_REASSIGNMENT_IN_PROGRESS),
            None,
        ]
    );
    let (ok, _, stderr) = reassign_tool(
        &bootstraps[0],
        &["--cancel", "--topic", "stays", "--partition", "0"],
    );
    assert!(!ok);
    assert!(stderr.contains("NO_REASSIGNMENT_IN_PROGRESS"), "{stderr}");

    // A new replica on a broker that is down cannot catch up: the
    // reassignment stays in progress until it is cancelled. (Not the
    // active controller, so the quorum keeps its leader.)
    let down = (1..=3)
        .find(|b| *b != home && *b != controller)
        .unwrap_or_else(|| (1..=3).find(|b| *b != home).unwrap());
    cluster.node(down).kill9();
    let live: Vec<String> = cluster
        .nodes
        .iter()
        .filter(|n| n.id != down)
        .map(Node::bootstrap)
        .collect();
    let mut admin = eventually(Duration::from_secs(20), "a client", || {
        let b = live[0].clone();
        async move { client_of(&b).await }
    })
    .await;
    let results = admin
        .alter_partition_reassignments(&[(tp.clone(), Some(vec![down, home]))])
        .await
        .unwrap();
    assert!(results[0].is_ok(), "{results:?}");
    let ongoing = admin.list_partition_reassignments(None).await.unwrap();
    assert_eq!(ongoing.len(), 1);
    assert_eq!(
        (
            ongoing[0].replicas.clone(),
            ongoing[0].adding_replicas.clone(),
            ongoing[0].removing_replicas.clone()
        ),
        (vec![down, home], vec![down], vec![])
    );
    // (The node's metadata image may trail the controller's a moment.)
    let p = eventually(
        Duration::from_secs(10),
        "the reassignment in metadata",
        || {
            let b = live[0].clone();
            async move {
                partition_of(&b, "stays")
                    .await
                    .filter(|p| p.replicas == vec![down, home])
            }
        },
    )
    .await;
    assert_eq!(
        (p.replicas, p.isr, p.leader),
        (vec![down, home], vec![home], home)
    );

    // Every node answers, relaying to the active controller: a raw request
    // to each live node.
    for b in &live {
        let mut conn = Connection::connect(b, ConnectionConfig::default())
            .await
            .unwrap();
        let listed = conn
            .send(&ListPartitionReassignmentsRequest {
                topics: None,
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(listed.error_code, 0);
        assert_eq!(listed.topics.len(), 1, "via {b}");
        assert_eq!(listed.topics[0].partitions[0].adding_replicas, vec![down]);
    }
    let (ok, stdout, _) = reassign_tool(&live[1], &["--list"]);
    assert!(ok);
    assert!(
        stdout.contains(&format!("stays  0          {down},{home}")),
        "{stdout}"
    );

    // Cancelled through a raw request to a node that is not the
    // controller (or any live one): back to the one replica it had.
    let relay = cluster
        .nodes
        .iter()
        .find(|n| n.id != down && n.id != controller)
        .map(Node::bootstrap)
        .unwrap_or_else(|| live[0].clone());
    let mut conn = Connection::connect(&relay, ConnectionConfig::default())
        .await
        .unwrap();
    let cancelled = conn
        .send(&AlterPartitionReassignmentsRequest {
            topics: vec![ReassignableTopic {
                name: "stays".into(),
                partitions: vec![ReassignablePartition {
                    partition_index: 0,
                    replicas: None,
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(cancelled.error_code, 0);
    assert_eq!(cancelled.responses[0].partitions[0].error_code, 0);
    assert!(admin
        .list_partition_reassignments(None)
        .await
        .unwrap()
        .is_empty());
    // The controller answered once the change was applied on its own
    // node; the broker asked here may apply it a moment later.
    let p = eventually(Duration::from_secs(20), "the cancelled replicas", || {
        let via = live[0].clone();
        async move {
            let p = partition_of(&via, "stays").await?;
            (p.replicas == [home]).then_some(p)
        }
    })
    .await;
    assert_eq!(
        (p.replicas, p.isr, p.leader),
        (vec![home], vec![home], home)
    );
    assert!(p.leader_epoch > before.leader_epoch);

    // The partition still takes writes; the broker that was to be added
    // comes back and hosts nothing of it.
    admin
        .produce(
            "stays",
            0,
            &[ProducerRecord::value("still here")],
            Acks::All,
            Compression::None,
        )
        .await
        .unwrap();
    cluster.node(down).start();
    converged(&cluster, &[1, 2, 3], &[1, 2, 3]).await;
    assert!(!cluster.nodes[(down - 1) as usize]
        .data_dir
        .join("stays-0")
        .exists());
}

/// The kafka-reassign-partitions workflow: a plan generated for two
/// topics onto two of the three brokers, executed from its file, verified
/// until complete; the data is on the planned replicas afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_generated_plan_is_executed_and_verified() {
    let _serial = serial().await;
    let cluster = Cluster::start_with(3, 0, "replica.lag.time.max.ms=3000\n");
    converged(&cluster, &[1, 2, 3], &[1, 2, 3]).await;
    let bootstraps: Vec<String> = cluster.nodes.iter().map(Node::bootstrap).collect();
    let mut admin = client_of(&bootstraps[0]).await.unwrap();
    for (name, partitions) in [("plan-a", 3), ("plan-b", 2)] {
        admin
            .create_topic(&NewTopic {
                num_partitions: Some(partitions),
                replication_factor: Some(2),
                ..NewTopic::new(name)
            })
            .await
            .unwrap();
    }
    eventually(Duration::from_secs(20), "leaders", || {
        let b = bootstraps[0].clone();
        async move {
            let mut c = client_of(&b).await?;
            let md = c.topic_metadata("plan-a").await.ok()?;
            (md.partitions.len() == 3 && md.partitions.iter().all(|p| p.leader > 0)).then_some(())
        }
    })
    .await;
    let mut acked = Vec::new();
    for batch in 0..10 {
        let values: Vec<String> = (0..20).map(|i| format!("b{batch}-{i}")).collect();
        acked.extend(produce_acked(&bootstraps, "plan-a", &values, Duration::from_secs(20)).await);
    }

    // --generate: the current assignment and a plan onto brokers 2 and 3.
    let (ok, out, err) = reassign_tool(
        &bootstraps[0],
        &[
            "--generate",
            "--topics",
            "plan-a,plan-b",
            "--brokers",
            "2,3",
            "--output",
            "json",
        ],
    );
    assert!(ok, "{err}");
    let generated: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    let proposed = &generated["proposed"];
    let partitions = proposed["partitions"].as_array().unwrap();
    assert_eq!(partitions.len(), 5);
    for p in partitions {
        let mut r: Vec<i64> = p["replicas"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_i64().unwrap())
            .collect();
        r.sort_unstable();
        assert_eq!(r, vec![2, 3], "{p}");
    }
    assert_eq!(
        generated["current"]["partitions"].as_array().unwrap().len(),
        5
    );
    let dir = tempfile::tempdir().unwrap();
    let plan_file = dir.path().join("plan.json");
    std::fs::write(&plan_file, proposed.to_string()).unwrap();
    let plan = plan_file.to_str().unwrap();

    // --execute with a (generous) throttle, then --verify until every
    // partition is complete.
    let (ok, out, err) = reassign_tool(
        &bootstraps[0],
        &["--execute", plan, "--throttle", "100000000"],
    );
    assert!(ok, "{out}{err}");
    assert!(
        out.contains("Submitted the reassignment of 5 partition(s)"),
        "{out}"
    );
    let override_of = |entries: &[vltava_client::ConfigEntry], key: &str| {
        entries
            .iter()
            .find(|e| {
                e.name == key
                    && matches!(
                        e.source,
                        vltava_client::ConfigSource::DynamicTopic
                            | vltava_client::ConfigSource::DynamicBroker
                    )
            })
            .and_then(|e| e.value.clone())
    };
    let topic_configs = admin
        .describe_configs(&vltava_client::ConfigResource::Topic("plan-a".into()))
        .await
        .unwrap();
    let leader_list = override_of(&topic_configs, "leader.replication.throttled.replicas")
        .expect("the leader side throttled");
    // The current replicas (the sources) are on the leader list.
    assert!(leader_list.split(',').count() >= 3, "{leader_list}");
    let broker_configs = client_of(&bootstraps[1])
        .await
        .unwrap()
        .describe_configs(&vltava_client::ConfigResource::Broker(2))
        .await
        .unwrap();
    assert_eq!(
        override_of(&broker_configs, "leader.replication.throttled.rate").as_deref(),
        Some("100000000")
    );
    let verified = eventually(Duration::from_secs(60), "the plan complete", || {
        let b = bootstraps[0].clone();
        let plan = plan.to_string();
        async move {
            let (ok, out, _) = reassign_tool(&b, &["--verify", &plan]);
            ok.then_some(out)
        }
    })
    .await;
    assert!(
        verified.contains("5 of 5 partition(s) complete"),
        "{verified}"
    );
    // The complete --verify removed the throttles.
    assert!(verified.contains("Throttles removed."), "{verified}");
    let topic_configs = admin
        .describe_configs(&vltava_client::ConfigResource::Topic("plan-a".into()))
        .await
        .unwrap();
    assert_eq!(
        override_of(&topic_configs, "leader.replication.throttled.replicas"),
        None
    );
    let broker_configs = client_of(&bootstraps[1])
        .await
        .unwrap()
        .describe_configs(&vltava_client::ConfigResource::Broker(2))
        .await
        .unwrap();
    assert_eq!(
        override_of(&broker_configs, "leader.replication.throttled.rate"),
        None
    );

    // Every partition is on the planned replicas, broker 1 holds none,
    // and the acknowledged records are all still there.
    let mut c = client_of(&bootstraps[1]).await.unwrap();
    for p in partitions {
        let topic = p["topic"].as_str().unwrap();
        let md = c.topic_metadata(topic).await.unwrap();
        let part = &md.partitions[p["partition"].as_i64().unwrap() as usize];
        let want: Vec<i32> = p["replicas"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_i64().unwrap() as i32)
            .collect();
        assert_eq!(part.replicas, want, "{topic}-{}", part.partition);
    }
    // (A new leader's high watermark can trail the old one's for a moment.)
    let want = acked.iter().map(|(_, o)| o + 1).max().unwrap();
    let log = eventually(Duration::from_secs(20), "the new leader's HW", || {
        let b = bootstraps[1].clone();
        async move {
            let mut c = client_of(&b).await?;
            let log = values_by_offset(&mut c, "plan-a", 0).await;
            (log.len() as i64 >= want).then_some(log)
        }
    })
    .await;
    check_acked(&log, &acked, "plan-a-0 after the plan");

    // A bad plan file is refused before anything is sent.
    std::fs::write(&plan_file, r#"{"version":1,"partitions":[]}"#).unwrap();
    let (ok, _, err) = reassign_tool(&bootstraps[0], &["--execute", plan]);
    assert!(!ok && err.contains("empty"), "{err}");
    drop(cluster);
}

/// Replication throttles (`leader.replication.throttled.rate` with a
/// topic's `leader.replication.throttled.replicas`): a new replica of a
/// throttled topic catches up at about the throttled rate, and as fast as
/// it can once the throttle is removed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_throttled_reassignment_catches_up_at_the_throttled_rate() {
    let _serial = serial().await;
    use vltava_client::{AlterConfigOp, ConfigResource};
    // Small fetches and a short rate window, so the throttle shows within
    // seconds: 64 KiB per fetch, a rate over the last 2 one-second samples.
    let cluster = Cluster::start_with(
        3,
        0,
        "replica.lag.time.max.ms=3000\nreplica.fetch.max.bytes=65536\n\
         replication.quota.window.num=2\nreplication.quota.window.size.seconds=1\n",
    );
    converged(&cluster, &[1, 2, 3], &[1, 2, 3]).await;
    let bootstraps: Vec<String> = cluster.nodes.iter().map(Node::bootstrap).collect();
    let mut admin = client_of(&bootstraps[0]).await.unwrap();
    let mut elapsed = Vec::new();
    for (topic_name, throttled) in [("throttled", true), ("free", false)] {
        admin.create_topic(&topic(topic_name, 1)).await.unwrap();
        let home = eventually(Duration::from_secs(20), "a leader", || {
            let b = bootstraps[0].clone();
            async move { partition_of(&b, topic_name).await.filter(|p| p.leader > 0) }
        })
        .await
        .leader;
        // 1.5 MB in acknowledged batches of 50 records of 1 KiB.
        for batch in 0..30 {
            let values: Vec<String> = (0..50)
                .map(|i| format!("{batch}-{i}-{}", "x".repeat(1000)))
                .collect();
            produce_acked(&bootstraps, topic_name, &values, Duration::from_secs(20)).await;
        }
        if throttled {
            // 300 KB/s on every broker's leader side, for every replica of
            // the topic.
            // (A broker's own configs go to that broker, as Kafka's
            // Admin client sends them.)
            for id in 1..=3 {
                client_of(&bootstraps[id as usize - 1])
                    .await
                    .unwrap()
                    .alter_configs(
                        &ConfigResource::Broker(id),
                        &[AlterConfigOp::Set(
                            "leader.replication.throttled.rate".into(),
                            "300000".into(),
                        )],
                    )
                    .await
                    .unwrap();
            }
            admin
                .alter_configs(
                    &ConfigResource::Topic(topic_name.into()),
                    &[AlterConfigOp::Set(
                        "leader.replication.throttled.replicas".into(),
                        "*".into(),
                    )],
                )
                .await
                .unwrap();
            // Let every broker see the new configs.
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        let joining = (1..=3).find(|id| *id != home).unwrap();
        // While the new replica catches up, the leader's metrics show the
        // throttled bytes it sends (Kafka's LeaderReplication byte-rate).
        let http_port = cluster.nodes[(home - 1) as usize].http_port.unwrap();
        let scraping = tokio::spawn(async move {
            let client = vltava_http::client::HttpClient::new("test").unwrap();
            let target = vltava_http::client::Target::parse(&format!(
                "http://127.0.0.1:{http_port}/metrics"
            ))
            .unwrap();
            let mut highest = 0.0f64;
            for _ in 0..100 {
                if let Ok((200, body)) = client
                    .request(
                        vltava_http::client::Method::GET,
                        &target,
                        None,
                        Duration::from_secs(2),
                    )
                    .await
                {
                    let text = String::from_utf8_lossy(&body).into_owned();
                    if let Some(v) = text.lines().find_map(|l| {
                        l.strip_prefix("kafka_server_leaderreplication_byte_rate ")?
                            .trim()
                            .parse::<f64>()
                            .ok()
                    }) {
                        highest = highest.max(v);
                    }
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            highest
        });
        let started = Instant::now();
        admin
            .alter_partition_reassignments(&[(
                TopicPartition::new(topic_name, 0),
                Some(vec![home, joining]),
            )])
            .await
            .unwrap()
            .pop()
            .unwrap()
            .unwrap();
        eventually(Duration::from_secs(60), "the new replica in sync", || {
            let b = bootstraps[0].clone();
            async move {
                let p = partition_of(&b, topic_name).await?;
                (sorted(&p.isr) == sorted(&[home, joining]) && p.replicas.len() == 2).then_some(())
            }
        })
        .await;
        elapsed.push(started.elapsed());
        let highest = scraping.await.unwrap();
        if throttled {
            // Throttled: bytes moved, at about the bound (a rate over two
            // one-second samples can overshoot by a fetch or two).
            assert!(
                highest > 0.0 && highest < 1_000_000.0,
                "leader replication byte rate {highest}"
            );
        } else {
            // Nothing throttled, nothing counted.
            assert_eq!(highest, 0.0);
        }
    }
    let (throttled, free) = (elapsed[0], elapsed[1]);
    eprintln!("caught up: throttled {throttled:?}, unthrottled {free:?}");
    // About 1.6 MB at 300 KB/s, less the first window's allowance: well
    // over 3 s; unthrottled, a fraction of that.
    assert!(
        throttled >= Duration::from_secs(3),
        "the throttled replica caught up in {throttled:?}"
    );
    assert!(
        free * 2 < throttled,
        "unthrottled {free:?} against throttled {throttled:?}"
    );
}
