//! Partition replication between real `vltava server` processes: three
//! combined nodes, topics with replication factor 3 and
//! min.insync.replicas 2, acks=all producers, and the loss of a partition's
//! leader. Every acknowledged record must survive, exactly once, at the
//! offset it was acknowledged at.

mod common;

use std::time::{Duration, Instant};

use common::cluster::{
    check_acked, client_of, converged, eventually, values_by_offset, vltava, Cluster, Node,
};
use vltava_client::{
    Acks, AlterConfigOp, Client, ClientConfig, Compression, ConfigResource, NewTopic,
    ProducerRecord,
};

/// Replication factor 3, min.insync.replicas 2.
fn replicated(name: &str, partitions: i32) -> NewTopic {
    NewTopic {
        num_partitions: Some(partitions),
        replication_factor: Some(3),
        configs: vec![("min.insync.replicas".to_string(), "2".to_string())],
        ..NewTopic::new(name)
    }
}

/// Metadata of `topic` as node `via` sees it: per partition (leader, isr).
async fn partitions_of(via: &str, topic: &str) -> Option<Vec<(i32, Vec<i32>)>> {
    let mut c = client_of(via).await?;
    let md = c.topic_metadata(topic).await.ok()?;
    let mut out: Vec<(i32, (i32, Vec<i32>))> = md
        .partitions
        .iter()
        .map(|p| {
            let mut isr = p.isr.clone();
            isr.sort();
            (p.partition, (p.leader, isr))
        })
        .collect();
    out.sort_by_key(|(p, _)| *p);
    Some(out.into_iter().map(|(_, v)| v).collect())
}

/// Produces one record with acks=all through any live node until it is
/// acknowledged or `limit` passes; returns its offset. Each attempt carries
/// its own value, so an attempt that failed but was written anyway is told
/// apart from the acknowledged one.
async fn produce_acked(
    bootstraps: &[String],
    topic: &str,
    partition: i32,
    value: &str,
    limit: Duration,
) -> Option<(String, i64)> {
    let deadline = Instant::now() + limit;
    let mut attempt = 0;
    while Instant::now() < deadline {
        attempt += 1;
        let v = format!("{value}-a{attempt}");
        for b in bootstraps {
            // One send per attempt: the client's own retry of a batch
            // answered NOT_LEADER_OR_FOLLOWER after its append could write
            // it twice (see vltava-client's retry rules).
            let mut config = ClientConfig::new([b.to_string()]);
            config.connection.connect_timeout = Duration::from_secs(2);
            config.connection.request_timeout = Duration::from_secs(10);
            config.retries = 0;
            let Ok(mut c) = Client::connect(config).await else {
                continue;
            };
            let record = [ProducerRecord::value(v.clone())];
            if let Ok(offset) = c
                .produce(topic, partition, &record, Acks::All, Compression::None)
                .await
            {
                return Some((v, offset));
            }
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_records_survive_the_loss_of_the_leader() {
    let mut cluster = Cluster::start_with(3, 0, "replica.lag.time.max.ms=3000\n");
    converged(&cluster, &[1, 2, 3], &[1, 2, 3]).await;
    let bootstraps: Vec<String> = cluster.nodes.iter().map(Node::bootstrap).collect();
    let mut admin = client_of(&bootstraps[0]).await.unwrap();
    admin
        .create_topic(&replicated("r3", 3))
        .await
        .expect("create a topic of replication factor 3");

    // Every partition has three replicas in its ISR once the followers
    // have fetched.
    let layout = eventually(Duration::from_secs(20), "a full ISR everywhere", || {
        let b = bootstraps[0].clone();
        async move {
            let parts = partitions_of(&b, "r3").await?;
            parts
                .iter()
                .all(|(leader, isr)| *leader > 0 && isr == &vec![1, 2, 3])
                .then_some(parts)
        }
    })
    .await;

    let mut acked: Vec<Vec<(String, i64)>> = vec![Vec::new(); 3];
    for i in 0..30 {
        for (p, acked) in acked.iter_mut().enumerate() {
            let r = produce_acked(
                &bootstraps,
                "r3",
                p as i32,
                &format!("p{p}-{i}"),
                Duration::from_secs(20),
            )
            .await
            .expect("acks=all produce with a full ISR");
            acked.push(r);
        }
    }

    // The leader of partition 0 dies without warning.
    let victim = layout[0].0;
    let killed_at = Instant::now();
    cluster.node(victim).kill9();
    let survivors: Vec<String> = cluster
        .nodes
        .iter()
        .filter(|n| n.id != victim)
        .map(Node::bootstrap)
        .collect();
    let first = produce_acked(&survivors, "r3", 0, "after-kill", Duration::from_secs(30))
        .await
        .expect("acks=all produce after the leader's loss");
    eprintln!(
        "kill -9 of the leader to the next acknowledged acks=all produce: {} ms",
        killed_at.elapsed().as_millis()
    );
    acked[0].push(first);
    for i in 0..20 {
        for (p, acked) in acked.iter_mut().enumerate() {
            let r = produce_acked(
                &survivors,
                "r3",
                p as i32,
                &format!("p{p}-late-{i}"),
                Duration::from_secs(20),
            )
            .await
            .expect("acks=all produce on two of three replicas");
            acked.push(r);
        }
    }
    let parts = partitions_of(&survivors[0], "r3").await.unwrap();
    assert_ne!(parts[0].0, victim, "partition 0 has a new leader");
    assert!(
        !parts[0].1.contains(&victim),
        "the dead broker left the ISR"
    );
    // Every partition of r3 lost a replica: all are under-replicated, none
    // is offline.
    let listed = |flag: &str| {
        let out = vltava()
            .args(["topics", "list", flag, "--output", "json", "--bootstrap"])
            .arg(&survivors[0])
            .output()
            .expect("vltava topics list");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        v["partitions"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p["topic"] == "r3")
            .map(|p| p["partition"].as_i64().unwrap())
            .collect::<Vec<_>>()
    };
    assert_eq!(listed("--under-replicated"), vec![0, 1, 2]);
    assert_eq!(listed("--unavailable"), Vec::<i64>::new());

    let mut reader = client_of(&survivors[0]).await.unwrap();
    for (p, acked) in acked.iter().enumerate() {
        let log = values_by_offset(&mut reader, "r3", p as i32).await;
        check_acked(&log, acked, &format!("r3-{p} after the kill"));
    }

    // The dead broker comes back, catches up from the new leaders and
    // rejoins every ISR; then the new leader of partition 0 dies too, and
    // still nothing acknowledged is lost.
    cluster.node(victim).start();
    eventually(
        Duration::from_secs(30),
        "the returning broker back in every ISR",
        || {
            let b = survivors[0].clone();
            async move {
                let parts = partitions_of(&b, "r3").await?;
                parts
                    .iter()
                    .all(|(_, isr)| isr == &vec![1, 2, 3])
                    .then_some(())
            }
        },
    )
    .await;
    // The returning broker leads nothing; `vltava cluster elect-leaders`
    // gives each partition back to its preferred (first) replica.
    let out = vltava()
        .args(["cluster", "elect-leaders", "--topic", "r3", "--bootstrap"])
        .arg(&survivors[0])
        .output()
        .expect("vltava cluster elect-leaders");
    assert!(
        out.status.success(),
        "elect-leaders: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    eventually(Duration::from_secs(10), "preferred leaders", || {
        let b = survivors[0].clone();
        async move {
            let mut c = client_of(&b).await?;
            let md = c.topic_metadata("r3").await.ok()?;
            md.partitions
                .iter()
                .all(|p| p.leader == p.replicas[0])
                .then_some(())
        }
    })
    .await;
    let second_victim = partitions_of(&survivors[0], "r3").await.unwrap()[0].0;
    cluster.node(second_victim).kill9();
    let live: Vec<String> = cluster
        .nodes
        .iter()
        .filter(|n| n.id != second_victim)
        .map(Node::bootstrap)
        .collect();
    let r = produce_acked(&live, "r3", 0, "after-second-kill", Duration::from_secs(30))
        .await
        .expect("acks=all produce after the second loss");
    acked[0].push(r);
    let mut reader = client_of(&live[0]).await.unwrap();
    for (p, acked) in acked.iter().enumerate() {
        let log = values_by_offset(&mut reader, "r3", p as i32).await;
        check_acked(&log, acked, &format!("r3-{p} after the second kill"));
    }
    for node in &mut cluster.nodes {
        if node.id != second_victim {
            assert!(node.is_running(), "node {} exited", node.id);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn below_min_insync_replicas_acks_all_is_refused_and_acks_1_is_not() {
    let mut cluster = Cluster::start_with(3, 0, "replica.lag.time.max.ms=2000\n");
    converged(&cluster, &[1, 2, 3], &[1, 2, 3]).await;
    let bootstraps: Vec<String> = cluster.nodes.iter().map(Node::bootstrap).collect();
    let mut admin = client_of(&bootstraps[0]).await.unwrap();
    admin.create_topic(&replicated("mi", 1)).await.unwrap();
    let layout = eventually(Duration::from_secs(20), "a full ISR", || {
        let b = bootstraps[0].clone();
        async move {
            let parts = partitions_of(&b, "mi").await?;
            (parts[0].1 == vec![1, 2, 3]).then_some(parts)
        }
    })
    .await;
    // One follower dies and leaves the ISR (the quorum keeps its majority,
    // so the controller can change the ISR); with min.insync.replicas
    // raised to 3 the two left are too few for acks=all.
    let leader = layout[0].0;
    let followers: Vec<i32> = (1..=3).filter(|id| *id != leader).collect();
    cluster.node(followers[0]).kill9();
    let leader_addr = cluster.node(leader).bootstrap();
    eventually(
        Duration::from_secs(20),
        "the ISR without the dead follower",
        || {
            let b = leader_addr.clone();
            async move {
                let parts = partitions_of(&b, "mi").await?;
                (parts[0].1.len() == 2).then_some(())
            }
        },
    )
    .await;
    let mut c = client_of(&leader_addr).await.unwrap();
    c.alter_configs(
        &ConfigResource::Topic("mi".to_string()),
        &[AlterConfigOp::Set(
            "min.insync.replicas".to_string(),
            "3".to_string(),
        )],
    )
    .await
    .expect("raise min.insync.replicas");
    let refused = eventually(Duration::from_secs(10), "NOT_ENOUGH_REPLICAS", || {
        let b = leader_addr.clone();
        async move {
            let mut c = client_of(&b).await?;
            let r = c
                .produce(
                    "mi",
                    0,
                    &[ProducerRecord::value("x")],
                    Acks::All,
                    Compression::None,
                )
                .await;
            match r {
                Err(e) if e.to_string().contains("NOT_ENOUGH_REPLICAS") => Some(e.to_string()),
                _ => None,
            }
        }
    })
    .await;
    assert!(refused.contains("NOT_ENOUGH_REPLICAS"), "{refused}");
    // acks=1 does not ask for the ISR.
    c.produce(
        "mi",
        0,
        &[ProducerRecord::value("y")],
        Acks::Leader,
        Compression::None,
    )
    .await
    .expect("acks=1 below min.insync.replicas");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leadership_returns_to_preferred_replicas_by_itself() {
    let mut cluster = Cluster::start_with(
        3,
        0,
        "replica.lag.time.max.ms=3000\nleader.imbalance.check.interval.seconds=1\n",
    );
    converged(&cluster, &[1, 2, 3], &[1, 2, 3]).await;
    let bootstraps: Vec<String> = cluster.nodes.iter().map(Node::bootstrap).collect();
    let mut admin = client_of(&bootstraps[0]).await.unwrap();
    admin.create_topic(&replicated("pref", 3)).await.unwrap();
    let preferred = |via: String| async move {
        let mut c = client_of(&via).await?;
        let md = c.topic_metadata("pref").await.ok()?;
        md.partitions
            .iter()
            .all(|p| p.leader == p.replicas[0] && p.isr.len() == 3)
            .then(|| md.partitions[0].leader)
    };
    let victim = eventually(
        Duration::from_secs(20),
        "preferred leaders, full ISRs",
        || preferred(bootstraps[0].clone()),
    )
    .await;
    cluster.node(victim).kill9();
    let other = bootstraps[(victim % 3) as usize].clone();
    eventually(
        Duration::from_secs(20),
        "a new leader of partition 0",
        || {
            let b = other.clone();
            async move {
                let parts = partitions_of(&b, "pref").await?;
                (parts[0].0 > 0 && parts[0].0 != victim).then_some(())
            }
        },
    )
    .await;
    // The victim returns, catches up and, with no election asked for, the
    // controller gives it its preferred partitions back.
    cluster.node(victim).start();
    let back = eventually(
        Duration::from_secs(30),
        "leadership back where it was",
        || preferred(other.clone()),
    )
    .await;
    assert_eq!(back, victim);
}
