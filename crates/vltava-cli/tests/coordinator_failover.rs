//! Group coordinator failover between real `vltava server` processes:
//! three combined nodes, `__consumer_offsets` with replication factor 3
//! (the binary's single-node default is 1).
//! The coordinator of a group is the leader of the group's partition of
//! the offsets topic; when that leadership moves, the new leader loads the
//! partition from its log and serves the group's committed offsets
//! unchanged, and a node that lost the partition forgets what it knew, so
//! that when it leads the partition again it serves the log's state, not
//! its own stale copy.

mod common;

use std::time::{Duration, Instant};

use common::cluster::{client_of, converged, eventually, internal_partition, Cluster, Node};
use vltava_client::protocol::messages::elect_leaders_request::TopicPartitions;
use vltava_client::protocol::messages::{ElectLeadersRequest, OffsetFetchRequest};
use vltava_client::{
    Connection, ConnectionConfig, ErrorCode, NewTopic, OffsetToCommit, TopicPartition,
};

const OFFSETS: &str = "__consumer_offsets";
const PARTITIONS: i32 = 3;
const GROUP: &str = "failover-group";
const TOPIC: &str = "events";

/// (leader, replicas, sorted ISR) of one partition, as node `via` sees it.
async fn partition_state(
    via: &str,
    topic: &str,
    partition: i32,
) -> Option<(i32, Vec<i32>, Vec<i32>)> {
    let mut c = client_of(via).await?;
    let md = c.topic_metadata(topic).await.ok()?;
    let p = md.partitions.iter().find(|p| p.partition == partition)?;
    let mut isr = p.isr.clone();
    isr.sort();
    Some((p.leader, p.replicas.clone(), isr))
}

/// Waits until `partition` of the offsets topic has every node in its ISR
/// (as `via` sees it); returns its leader and replicas.
async fn full_isr(via: &str, partition: i32) -> (i32, Vec<i32>) {
    eventually(
        Duration::from_secs(30),
        "a full ISR of the group's partition",
        || async move {
            let (leader, replicas, isr) = partition_state(via, OFFSETS, partition).await?;
            (leader > 0 && isr == vec![1, 2, 3]).then_some((leader, replicas))
        },
    )
    .await
}

/// The group's coordinator as node `via` names it (FindCoordinator).
async fn coordinator(via: &str) -> Option<i32> {
    let mut c = client_of(via).await?;
    c.find_coordinator(GROUP).await.ok().map(|b| b.node_id)
}

fn offsets(base: i64) -> Vec<OffsetToCommit> {
    (0..3)
        .map(|p| OffsetToCommit {
            topic: TOPIC.into(),
            partition: p,
            offset: base + i64::from(p),
            leader_epoch: -1,
            metadata: Some(format!("m{base}-{p}")),
        })
        .collect()
}

/// The group's committed offsets for `TOPIC`, fetched through `via` (the
/// client finds the coordinator), as (partition, offset, metadata).
async fn committed(via: &str) -> Option<Vec<(i32, i64, String)>> {
    let mut c = client_of(via).await?;
    let wanted: Vec<TopicPartition> = (0..3).map(|p| TopicPartition::new(TOPIC, p)).collect();
    let fetched = c.fetch_offsets(GROUP, Some(&wanted)).await.ok()?;
    Some(
        fetched
            .into_iter()
            .map(|o| {
                (
                    o.partition,
                    o.offset.unwrap_or(-1),
                    o.metadata.unwrap_or_default(),
                )
            })
            .collect(),
    )
}

fn expected(base: i64) -> Vec<(i32, i64, String)> {
    offsets(base)
        .into_iter()
        .map(|o| (o.partition, o.offset, o.metadata.unwrap()))
        .collect()
}

/// Commits through `via` until it is acknowledged.
async fn commit(via: &str, base: i64) {
    eventually(
        Duration::from_secs(20),
        "an acknowledged commit",
        || async move {
            let mut c = client_of(via).await?;
            c.commit_offsets(GROUP, &offsets(base)).await.ok()
        },
    )
    .await;
}

/// OffsetFetch (v7) sent to `node` itself, without looking for the
/// coordinator: the group-level error.
async fn offset_fetch_error(bootstrap: &str) -> ErrorCode {
    let mut conn = Connection::connect(bootstrap, ConnectionConfig::default())
        .await
        .expect("connect");
    let request = OffsetFetchRequest {
        group_id: GROUP.into(),
        topics: None,
        ..Default::default()
    };
    let resp = conn.send_version(&request, 7).await.expect("OffsetFetch");
    ErrorCode(resp.error_code)
}

/// A preferred-replica election of `partition` of the offsets topic,
/// through whichever node is the active controller.
async fn elect_preferred(bootstraps: &[String], partition: i32) {
    eventually(
        Duration::from_secs(20),
        "a preferred leader election",
        || async move {
            for b in bootstraps {
                let Ok(mut conn) = Connection::connect(b, ConnectionConfig::default()).await else {
                    continue;
                };
                let request = ElectLeadersRequest {
                    election_type: 0,
                    topic_partitions: Some(vec![TopicPartitions {
                        topic: OFFSETS.into(),
                        partitions: vec![partition],
                        ..Default::default()
                    }]),
                    timeout_ms: 10_000,
                    ..Default::default()
                };
                let Ok(resp) = conn.send_version(&request, 1).await else {
                    continue;
                };
                if resp.error_code != 0 {
                    continue;
                }
                let code = resp.replica_election_results[0].partition_result[0].error_code;
                // ELECTION_NOT_NEEDED: the preferred replica leads already.
                if code == 0 || ErrorCode(code) == ErrorCode::ELECTION_NOT_NEEDED {
                    return Some(());
                }
            }
            None
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn committed_offsets_follow_the_leadership_of_the_offsets_partition() {
    let mut cluster = Cluster::start_with(
        3,
        0,
        &format!(
            "replica.lag.time.max.ms=3000\n\
             offsets.topic.num.partitions={PARTITIONS}\n\
             offsets.topic.replication.factor=3\n"
        ),
    );
    converged(&cluster, &[1, 2, 3], &[1, 2, 3]).await;
    let bootstraps: Vec<String> = cluster.nodes.iter().map(Node::bootstrap).collect();
    let bootstrap_of = |id: i32| bootstraps[(id - 1) as usize].clone();
    let mut admin = client_of(&bootstraps[0]).await.unwrap();
    admin
        .create_topic(&NewTopic {
            num_partitions: Some(3),
            replication_factor: Some(3),
            ..NewTopic::new(TOPIC)
        })
        .await
        .expect("create the topic");
    // FindCoordinator creates the offsets topic (replication factor 3).
    let first = eventually(Duration::from_secs(20), "the group's coordinator", || {
        coordinator(&bootstraps[0])
    })
    .await;
    let p = internal_partition(GROUP, PARTITIONS);
    let (leader, replicas) = full_isr(&bootstraps[0], p).await;
    assert_eq!(leader, first, "the coordinator is the partition's leader");
    assert_eq!(
        replicas[0], first,
        "a new partition is led by its first replica"
    );

    // Every node has loaded the partitions it leads (each answered a
    // FindCoordinator): the new leader below must load the partition it
    // gains then, not only at its first group request.
    for b in &bootstraps {
        assert_eq!(coordinator(b).await, Some(first));
    }

    // Offsets committed at the first coordinator (acknowledged once every
    // ISR member has them).
    commit(&bootstraps[0], 100).await;
    assert_eq!(committed(&bootstraps[0]).await.unwrap(), expected(100));

    // The coordinator dies without warning: the partition's next replica
    // leads it, loads it, and serves the same offsets.
    cluster.node(first).kill9();
    let killed_at = Instant::now();
    let survivor = bootstrap_of(if first == 1 { 2 } else { 1 });
    let second = eventually(Duration::from_secs(20), "a new coordinator", || {
        let survivor = survivor.clone();
        async move { coordinator(&survivor).await.filter(|c| *c != first) }
    })
    .await;
    let moved_after = killed_at.elapsed();
    let served = eventually(
        Duration::from_secs(20),
        "offsets from the new coordinator",
        || {
            let survivor = survivor.clone();
            async move { committed(&survivor).await.filter(|o| *o == expected(100)) }
        },
    )
    .await;
    let served_after = killed_at.elapsed();
    assert_eq!(served, expected(100));
    eprintln!(
        "kill -9 of the coordinator (node {first}): node {second} named coordinator after {} ms, \
         the committed offsets served by it after {} ms",
        moved_after.as_millis(),
        served_after.as_millis()
    );
    assert_eq!(second, replicas[1], "the next replica in order leads");
    assert!(
        served_after < Duration::from_secs(15),
        "offsets served again {} ms after the kill",
        served_after.as_millis()
    );
    commit(&survivor, 200).await;
    assert_eq!(committed(&survivor).await.unwrap(), expected(200));

    // The first coordinator comes back, catches up as a follower, and gets
    // the leadership back (it is the preferred replica). It serves what the
    // log says now, and the second one, still running, lets go of the
    // group.
    cluster.node(first).start();
    full_isr(&survivor, p).await;
    elect_preferred(&bootstraps, p).await;
    eventually(
        Duration::from_secs(20),
        "the leadership back at the first node",
        || {
            let survivor = survivor.clone();
            async move { coordinator(&survivor).await.filter(|c| *c == first) }
        },
    )
    .await;
    let served = eventually(
        Duration::from_secs(20),
        "offsets from the first node again",
        || {
            let b = bootstrap_of(first);
            async move { committed(&b).await.filter(|o| *o == expected(200)) }
        },
    )
    .await;
    assert_eq!(served, expected(200));
    let refused = eventually(Duration::from_secs(10), "the second node to let go", || {
        let b = bootstrap_of(second);
        async move {
            let code = offset_fetch_error(&b).await;
            (code == ErrorCode::NOT_COORDINATOR).then_some(code)
        }
    })
    .await;
    assert_eq!(refused, ErrorCode::NOT_COORDINATOR);
    commit(&bootstrap_of(first), 300).await;
    assert_eq!(
        committed(&bootstrap_of(first)).await.unwrap(),
        expected(300)
    );

    // The first node dies again: the second leads the partition again, in
    // a newer epoch. It has kept running all along, and must serve the
    // offsets committed while it was not the coordinator (300), not the
    // ones it knew when it let go (200).
    full_isr(&survivor, p).await;
    cluster.node(first).kill9();
    let killed_at = Instant::now();
    let third = eventually(Duration::from_secs(20), "a new coordinator", || {
        let survivor = survivor.clone();
        async move { coordinator(&survivor).await.filter(|c| *c != first) }
    })
    .await;
    assert_eq!(third, second, "the same replica takes over again");
    let served = eventually(
        Duration::from_secs(20),
        "offsets from the new coordinator",
        || {
            let survivor = survivor.clone();
            async move {
                let o = committed(&survivor).await?;
                // Anything but the last commit is stale: fail at once.
                assert_eq!(o, expected(300), "node {second} served stale offsets");
                Some(o)
            }
        },
    )
    .await;
    assert_eq!(served, expected(300));
    eprintln!(
        "second kill -9: node {third}, coordinator before, serves the offsets committed since after {} ms",
        killed_at.elapsed().as_millis()
    );
}
