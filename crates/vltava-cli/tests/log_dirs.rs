//! Several log directories per broker (JBOD, `log.dirs`): placement of new
//! replicas, DescribeLogDirs per directory, and AlterReplicaLogDirs moving a
//! replica between directories while it is written to, across restarts.

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::{read_all, TestBroker};
use vltava_client::client::log_dirs::LogDirDescription;
use vltava_client::{Acks, Client, Compression, ErrorCode, NewTopic, ProducerRecord};

async fn create(client: &mut Client, name: &str, partitions: i32) {
    let mut topic = NewTopic::new(name);
    topic.num_partitions = Some(partitions);
    client.create_topic(&topic).await.expect("create topic");
}

/// Which directory holds each partition of `topic` (current logs only), and
/// whether any future log of it is left.
fn placement(dirs: &[LogDirDescription], topic: &str) -> (BTreeMap<i32, String>, bool) {
    let mut at = BTreeMap::new();
    let mut futures = false;
    for d in dirs {
        for r in d.replicas.iter().filter(|r| r.topic == topic) {
            if r.is_future {
                futures = true;
            } else {
                assert!(
                    at.insert(r.partition, d.path.clone()).is_none(),
                    "{topic}-{} in two directories",
                    r.partition
                );
            }
        }
    }
    (at, futures)
}

async fn check_records(client: &mut Client, topic: &str, acked: &BTreeMap<i64, String>) {
    let records = read_all(client, topic, 0, 0).await;
    let got: BTreeMap<i64, String> = records
        .iter()
        .map(|r| {
            (
                r.offset,
                String::from_utf8(r.value.clone().unwrap().to_vec()).unwrap(),
            )
        })
        .collect();
    assert_eq!(got.len(), records.len(), "an offset twice");
    for (offset, value) in acked {
        assert_eq!(
            got.get(offset),
            Some(value),
            "acknowledged record at {offset}"
        );
    }
    assert_eq!(got.len(), acked.len(), "records that were not acknowledged");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_moves_between_log_directories_while_written() {
    let second = tempfile::tempdir().unwrap();
    let second_dir = second.path().join("logs-b");
    let mut broker = TestBroker::start(&[&format!("log.dirs={}", second_dir.display())]);
    let first_dir = broker.path().to_path_buf();
    let mut client = broker.client().await;
    create(&mut client, "jbod", 4).await;

    // Two directories, two replicas each (fewest logs first), once the
    // replicas are created.
    let deadline = Instant::now() + Duration::from_secs(10);
    let dirs = loop {
        let dirs = client.describe_log_dirs(1).await.unwrap();
        if placement(&dirs, "jbod").0.len() == 4 || Instant::now() > deadline {
            break dirs;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let paths: Vec<&str> = dirs.iter().map(|d| d.path.as_str()).collect();
    assert_eq!(
        paths,
        [first_dir.to_str().unwrap(), second_dir.to_str().unwrap()]
    );
    assert!(dirs
        .iter()
        .all(|d| d.error == ErrorCode::NONE && d.total_bytes > 0));
    let (at, _) = placement(&dirs, "jbod");
    assert_eq!(at.len(), 4);
    let in_first = at.values().filter(|p| **p == paths[0]).count();
    assert_eq!(in_first, 2, "{at:?}");
    let from = at[&0].clone();
    let to = if from == paths[0] { paths[1] } else { paths[0] }.to_string();

    // Errors Kafka gives: an unknown directory, an unknown partition; and
    // the replica's own directory is a no-op.
    let answers = client
        .alter_replica_log_dirs(
            1,
            &[
                ("jbod".into(), 0, "/no/such/dir".into()),
                ("nope".into(), 0, to.clone()),
                ("jbod".into(), 1, at[&1].clone()),
            ],
        )
        .await
        .unwrap();
    let codes: BTreeMap<(String, i32), ErrorCode> =
        answers.into_iter().map(|(t, p, e)| ((t, p), e)).collect();
    assert_eq!(
        codes[&("jbod".to_string(), 0)],
        ErrorCode::LOG_DIR_NOT_FOUND
    );
    assert_eq!(
        codes[&("nope".to_string(), 0)],
        ErrorCode::UNKNOWN_TOPIC_OR_PARTITION
    );
    assert_eq!(codes[&("jbod".to_string(), 1)], ErrorCode::NONE);

    // Enough data that the copy takes several steps, then a writer that
    // keeps going through the move.
    let mut acked: BTreeMap<i64, String> = BTreeMap::new();
    let filler = "x".repeat(900);
    for i in 0..10_000 {
        let value = format!("before-{i}-{filler}");
        let offset = client
            .produce(
                "jbod",
                0,
                &[ProducerRecord::value(value.clone())],
                Acks::All,
                Compression::None,
            )
            .await
            .unwrap();
        acked.insert(offset, value);
    }
    let bootstrap = broker.bootstrap();
    // The writer and the move run side by side in this task (the client's
    // futures are not `Send` for every lifetime, so no spawn).
    let writer = async move {
        let mut client = Client::connect(vltava_client::ClientConfig::new([bootstrap]))
            .await
            .unwrap();
        let mut acked = BTreeMap::new();
        let started = Instant::now();
        let mut i = 0;
        while started.elapsed() < Duration::from_secs(4) {
            let value = format!("during-{i}");
            let records = vec![ProducerRecord::value(value.clone())];
            let written = client
                .produce("jbod", 0, &records, Acks::All, Compression::None)
                .await;
            let offset = written.unwrap_or_else(|e| panic!("a write during the move failed: {e}"));
            acked.insert(offset, value);
            i += 1;
        }
        acked
    };
    let mover = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let answers = client
            .alter_replica_log_dirs(1, &[("jbod".into(), 0, to.clone())])
            .await
            .unwrap();
        assert_eq!(answers, vec![("jbod".to_string(), 0, ErrorCode::NONE)]);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let dirs = client.describe_log_dirs(1).await.unwrap();
            let (at, futures) = placement(&dirs, "jbod");
            if at.get(&0) == Some(&to) && !futures {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the move did not finish: {dirs:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    let (during, ()) = tokio::join!(writer, mover);
    assert!(
        during.len() > 10,
        "the writer wrote only {} records",
        during.len()
    );
    acked.extend(during);
    check_records(&mut client, "jbod", &acked).await;
    assert!(!std::path::Path::new(&from).join("jbod-0").exists());
    assert!(std::path::Path::new(&to).join("jbod-0").exists());

    // A clean restart, then a crash: the replica stays where it moved to.
    drop(client);
    broker.stop();
    broker.restart();
    let mut client = broker.client().await;
    let (at, _) = placement(&client.describe_log_dirs(1).await.unwrap(), "jbod");
    assert_eq!(at[&0], to);
    check_records(&mut client, "jbod", &acked).await;
    let offset = client
        .produce(
            "jbod",
            0,
            &[ProducerRecord::value("after")],
            Acks::All,
            Compression::None,
        )
        .await
        .unwrap();
    acked.insert(offset, "after".to_string());
    drop(client);
    broker.kill9();
    broker.restart();
    let mut client = broker.client().await;
    let (at, _) = placement(&client.describe_log_dirs(1).await.unwrap(), "jbod");
    assert_eq!(at[&0], to);
    check_records(&mut client, "jbod", &acked).await;
    drop(second);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_directory_takes_only_its_replicas_offline() {
    let second = tempfile::tempdir().unwrap();
    let second_dir = second.path().join("logs-b");
    let broker = TestBroker::start(&[&format!("log.dirs={}", second_dir.display())]);
    let first_dir = broker.path().to_path_buf();
    let mut client = broker.client().await;
    let mut topic = NewTopic::new("fail");
    topic.num_partitions = Some(4);
    // Small segments: the next append rolls, and a roll makes files.
    topic.configs = [("internal.segment.bytes".to_string(), "1024".to_string())]
        .into_iter()
        .collect();
    client.create_topic(&topic).await.expect("create topic");
    let deadline = Instant::now() + Duration::from_secs(10);
    let at = loop {
        let (at, _) = placement(&client.describe_log_dirs(1).await.unwrap(), "fail");
        if at.len() == 4 || Instant::now() > deadline {
            break at;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let second_path = second_dir.to_str().unwrap().to_string();
    let (doomed, healthy): (Vec<i32>, Vec<i32>) = at.keys().partition(|p| at[*p] == second_path);
    assert_eq!((doomed.len(), healthy.len()), (2, 2), "{at:?}");

    // The disk goes away under the broker.
    std::fs::remove_dir_all(&second_dir).unwrap();
    let value = "v".repeat(600);
    let records = vec![ProducerRecord::value(value.clone())];
    let mut refused = false;
    for _ in 0..10 {
        match client
            .produce("fail", doomed[0], &records, Acks::All, Compression::None)
            .await
        {
            Ok(_) => continue,
            Err(e) => {
                assert_eq!(e.code(), Some(ErrorCode::KAFKA_STORAGE_ERROR), "{e}");
                refused = true;
                break;
            }
        }
    }
    assert!(refused, "writes to a vanished directory kept succeeding");
    // The other partition of that directory is offline too (once the
    // broker's watcher saw the directory fail); the first directory's
    // replicas are untouched.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let answer = client
            .produce("fail", doomed[1], &records, Acks::All, Compression::None)
            .await;
        if answer.as_ref().err().and_then(|e| e.code()) == Some(ErrorCode::KAFKA_STORAGE_ERROR) {
            break;
        }
        assert!(Instant::now() < deadline, "{answer:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for p in &healthy {
        for _ in 0..5 {
            client
                .produce("fail", *p, &records, Acks::All, Compression::None)
                .await
                .expect("a replica in a healthy directory");
        }
        let read = read_all(&mut client, "fail", *p, 0).await;
        assert_eq!(read.len(), 5);
    }
    let fetched = client.fetch("fail", doomed[0], 0, 0, 1 << 20).await;
    assert_eq!(
        fetched.err().and_then(|e| e.code()),
        Some(ErrorCode::KAFKA_STORAGE_ERROR)
    );
    let dirs = client.describe_log_dirs(1).await.unwrap();
    let errors: Vec<(String, ErrorCode)> = dirs.iter().map(|d| (d.path.clone(), d.error)).collect();
    assert_eq!(
        errors,
        vec![
            (first_dir.display().to_string(), ErrorCode::NONE),
            (second_path.clone(), ErrorCode::KAFKA_STORAGE_ERROR)
        ]
    );
    // And /metrics says so, as Kafka's LogManager gauges do.
    let metrics = scrape(broker.http_port);
    assert!(
        metrics.contains("kafka_log_logmanager_offlinelogdirectorycount 1"),
        "{metrics}"
    );
    assert!(metrics.contains(&format!(
        "kafka_log_logmanager_logdirectoryoffline{{logDirectory=\"{second_path}\"}} 1"
    )));
    assert!(metrics.contains(&format!(
        "kafka_log_logmanager_logdirectoryoffline{{logDirectory=\"{}\"}} 0",
        first_dir.display()
    )));
    drop(second);
}

/// The body of GET /metrics on the broker's HTTP listener.
fn scrape(port: u16) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        s,
        "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

/// Three combined nodes; node 1 has two log directories. When one of them
/// fails, only the partitions whose replica on node 1 is in it lose node 1
/// from their ISR and leadership (the controller knows each replica's
/// directory from AssignReplicasToDirs); node 1 keeps its other replicas in
/// sync, and every partition keeps taking acks=all writes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_a_cluster_a_failed_directory_moves_only_its_replicas_out() {
    use common::cluster::{client_of, converged, eventually, Cluster};

    let mut cluster = Cluster::start_with(3, 0, "min.insync.replicas=2\n");
    converged(&cluster, &[1, 2, 3], &[1, 2, 3]).await;
    let second_dir = cluster.dir().join("node-1-b");
    {
        let node = cluster.node(1);
        node.stop(Duration::from_secs(20));
        let first = node.data_dir.clone();
        node.extra_args = vec![
            "--set".into(),
            format!("log.dirs={},{}", first.display(), second_dir.display()),
        ];
        node.start();
    }
    converged(&cluster, &[1, 2, 3], &[1, 2, 3]).await;
    let bootstrap = cluster.nodes[1].bootstrap();
    let mut admin = client_of(&bootstrap).await.unwrap();
    let mut topic = NewTopic::new("jbodc");
    topic.num_partitions = Some(6);
    topic.replication_factor = Some(3);
    topic.configs = [("internal.segment.bytes".to_string(), "1024".to_string())]
        .into_iter()
        .collect();
    admin.create_topic(&topic).await.unwrap();
    eventually(Duration::from_secs(20), "full ISRs", || {
        let b = bootstrap.clone();
        async move {
            let mut c = client_of(&b).await?;
            let t = c.topic_metadata("jbodc").await.ok()?;
            (t.partitions.len() == 6 && t.partitions.iter().all(|p| p.isr.len() == 3)).then_some(())
        }
    })
    .await;
    // Where node 1 keeps each replica.
    let node1 = cluster.nodes[0].bootstrap();
    let second_path = second_dir.display().to_string();
    // Every replica listed in a directory (node 1 may still be creating
    // the last one when the ISRs are full).
    let at = eventually(
        Duration::from_secs(20),
        "node 1's six replicas placed",
        || {
            let node1 = node1.clone();
            async move {
                let mut c1 = client_of(&node1).await?;
                let dirs = c1.describe_log_dirs(1).await.ok()?;
                let (at, _) = placement(&dirs, "jbodc");
                (at.len() == 6).then_some(at)
            }
        },
    )
    .await;
    let doomed: Vec<i32> = at
        .iter()
        .filter(|(_, d)| **d == second_path)
        .map(|(p, _)| *p)
        .collect();
    let kept: Vec<i32> = at
        .iter()
        .filter(|(_, d)| **d != second_path)
        .map(|(p, _)| *p)
        .collect();
    assert_eq!((doomed.len(), kept.len()), (3, 3), "{at:?}");
    // The assignments reach the controller right after the replicas are
    // created; give them a moment.
    tokio::time::sleep(Duration::from_secs(2)).await;

    std::fs::remove_dir_all(&second_dir).unwrap();
    // Writes make node 1 roll segments in the vanished directory (as the
    // leader or as a follower appending what it fetched).
    let value = "w".repeat(600);
    let records = vec![ProducerRecord::value(value)];
    for _ in 0..5 {
        for p in 0..6 {
            let _ = admin
                .produce("jbodc", p, &records, Acks::All, Compression::None)
                .await;
        }
    }
    let state = eventually(
        Duration::from_secs(30),
        "node 1 out of the failed replicas' ISRs",
        || {
            let b = bootstrap.clone();
            let doomed = doomed.clone();
            async move {
                let mut c = client_of(&b).await?;
                let t = c.topic_metadata("jbodc").await.ok()?;
                let out = doomed.iter().all(|p| {
                    let m = &t.partitions[*p as usize];
                    !m.isr.contains(&1) && m.leader > 0 && m.leader != 1
                });
                out.then_some(t)
            }
        },
    )
    .await;
    for p in &kept {
        let m = &state.partitions[*p as usize];
        assert!(
            m.isr.contains(&1),
            "partition {p} in a healthy directory: {m:?}"
        );
    }
    // Every partition still takes acks=all writes (min.insync.replicas=2).
    for p in 0..6 {
        eventually(Duration::from_secs(20), "an acks=all write", || {
            let b = bootstrap.clone();
            let records = records.clone();
            async move {
                let mut c = client_of(&b).await?;
                c.produce("jbodc", p, &records, Acks::All, Compression::None)
                    .await
                    .ok()
            }
        })
        .await;
    }
    // Node 1 is alive and serves its healthy directory.
    let mut c1 = client_of(&node1).await.unwrap();
    let dirs = c1.describe_log_dirs(1).await.unwrap();
    assert_eq!(dirs[1].error, ErrorCode::KAFKA_STORAGE_ERROR);
    assert_eq!(dirs[0].error, ErrorCode::NONE);
}

/// `vltava topics reassign` with `log_dirs` in the plan (kafka-reassign-
/// partitions' format), `vltava cluster log-dirs` and `move-replica`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tools_move_replicas_between_log_directories() {
    let second = tempfile::tempdir().unwrap();
    let second_dir = second.path().join("logs-b");
    let broker = TestBroker::start(&[&format!("log.dirs={}", second_dir.display())]);
    let mut client = broker.client().await;
    create(&mut client, "tooled", 2).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    let at = loop {
        let (at, _) = placement(&client.describe_log_dirs(1).await.unwrap(), "tooled");
        if at.len() == 2 || Instant::now() > deadline {
            break at;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let first_path = broker.path().display().to_string();
    let second_path = second_dir.display().to_string();
    let other = |p: &str| {
        if p == first_path {
            second_path.clone()
        } else {
            first_path.clone()
        }
    };
    let target = other(&at[&0]);
    let vltava = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_vltava"))
            .args(args)
            .args(["--bootstrap", &broker.bootstrap()])
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).to_string()
                + &String::from_utf8_lossy(&out.stderr),
        )
    };

    // A plan that keeps the replicas and moves partition 0's directory.
    let plan = second.path().join("plan.json");
    std::fs::write(
        &plan,
        format!(
            r#"{{"version":1,"partitions":[{{"topic":"tooled","partition":0,"replicas":[1],"log_dirs":["{target}"]}}]}}"#
        ),
    )
    .unwrap();
    let plan = plan.display().to_string();
    let (ok, out) = vltava(&["topics", "reassign", "--execute", &plan]);
    assert!(ok, "{out}");
    assert!(
        out.contains(&format!("Started moving tooled-0 on broker 1 to {target}")),
        "{out}"
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (ok, out) = vltava(&["topics", "reassign", "--verify", &plan]);
        if ok {
            assert!(
                out.contains(&format!("Replica tooled-0 on broker 1 is in {target}.")),
                "{out}"
            );
            assert!(
                out.contains("1 of 1 replica(s) in their log directories."),
                "{out}"
            );
            break;
        }
        assert!(Instant::now() < deadline, "{out}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // log-dirs shows it there; move-replica brings it back.
    let (ok, out) = vltava(&[
        "cluster", "log-dirs", "--topic", "tooled", "--output", "json",
    ]);
    assert!(ok, "{out}");
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    let dirs = doc["brokers"][0]["log_dirs"].as_array().unwrap();
    assert_eq!(dirs.len(), 2);
    let holder = dirs
        .iter()
        .find(|d| {
            d["replicas"]
                .as_array()
                .unwrap()
                .iter()
                .any(|r| r["partition"] == 0 && r["future"] == false)
        })
        .unwrap();
    assert_eq!(holder["path"], target.as_str());
    let back = other(&target);
    let (ok, out) = vltava(&[
        "cluster",
        "move-replica",
        "--broker",
        "1",
        "--topic",
        "tooled",
        "--partition",
        "0",
        "--dir",
        &back,
    ]);
    assert!(ok, "{out}");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        // (For an instant while the copy is put in place the replica is
        // in no directory.)
        let (at, futures) = placement(&client.describe_log_dirs(1).await.unwrap(), "tooled");
        if at.get(&0) == Some(&back) && !futures {
            break;
        }
        assert!(Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (ok, out) = vltava(&["cluster", "log-dirs"]);
    assert!(ok, "{out}");
    assert!(
        out.contains(&first_path) && out.contains(&second_path),
        "{out}"
    );
    assert!(out.contains("online"), "{out}");
    // A directory the broker does not have is refused.
    let (ok, out) = vltava(&[
        "cluster",
        "move-replica",
        "--broker",
        "1",
        "--topic",
        "tooled",
        "--partition",
        "0",
        "--dir",
        "/nowhere",
    ]);
    assert!(!ok);
    assert!(out.contains("LOG_DIR_NOT_FOUND"), "{out}");
}
