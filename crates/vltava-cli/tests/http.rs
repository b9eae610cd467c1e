//! The HTTP listener of a real `vltava server`: health probes, `/metrics`
//! scraped and parsed after a known produce and fetch (every figure is
//! checked against what the test did), and Burrow's v3 lag endpoints.

mod common;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::TestBroker;
use serde_json::Value;
use vltava_client::{Acks, Compression, NewTopic, OffsetToCommit, ProducerRecord};

/// GET `path` on 127.0.0.1:`port`: (status, content type, body).
fn get(port: u16, path: &str) -> std::io::Result<(u16, String, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").expect("an HTTP response");
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("a status line");
    let header = |name: &str| {
        head.lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
            })
            .unwrap_or_default()
    };
    let body = if header("transfer-encoding").eq_ignore_ascii_case("chunked") {
        dechunk(body)
    } else {
        body.to_string()
    };
    Ok((status, header("content-type"), body))
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    loop {
        let (size, rest) = body.split_once("\r\n").expect("a chunk size");
        let size = usize::from_str_radix(size.trim(), 16).expect("hex chunk size");
        if size == 0 {
            return out;
        }
        out.push_str(&rest[..size]);
        body = &rest[size + 2..];
    }
}

type Samples = Vec<(String, BTreeMap<String, String>, f64)>;

/// Parses the text format: `name{k="v",...} value` lines; comments skipped.
fn parse(text: &str) -> Samples {
    let mut out = Vec::new();
    for line in text.lines() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let (series, value) = line.rsplit_once(' ').expect("a sample line");
        let value: f64 = match value {
            "+Inf" => f64::INFINITY,
            v => v
                .parse()
                .unwrap_or_else(|_| panic!("bad value in {line:?}")),
        };
        let (name, labels) = match series.split_once('{') {
            None => (series.to_string(), BTreeMap::new()),
            Some((name, rest)) => {
                let inner = rest.strip_suffix('}').expect("closing brace");
                let mut labels = BTreeMap::new();
                // Label values here never hold '",' (topic and group names
                // of this test), so splitting on it is enough.
                for pair in inner.split("\",") {
                    let (k, v) = pair.split_once("=\"").expect("k=\"v\"");
                    labels.insert(k.to_string(), v.trim_end_matches('"').to_string());
                }
                (name.to_string(), labels)
            }
        };
        out.push((name, labels, value));
    }
    out
}

/// The value of the sample `name` whose labels are exactly `labels`.
fn value(samples: &Samples, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let want: BTreeMap<String, String> = labels
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    samples
        .iter()
        .find(|(n, l, _)| n == name && *l == want)
        .map(|(_, _, v)| *v)
}

fn must(samples: &Samples, name: &str, labels: &[(&str, &str)]) -> f64 {
    value(samples, name, labels).unwrap_or_else(|| panic!("no {name}{labels:?} in the scrape"))
}

fn scrape(broker: &TestBroker) -> Samples {
    let (status, content_type, body) = get(broker.http_port, "/metrics").expect("scrape");
    assert_eq!(status, 200, "{body}");
    assert!(
        content_type.starts_with("application/openmetrics-text"),
        "{content_type}"
    );
    assert!(
        body.ends_with("# EOF\n"),
        "an OpenMetrics exposition ends with # EOF"
    );
    parse(&body)
}

fn wait_ready(broker: &TestBroker) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok((200, _, body)) = get(broker.http_port, "/health/ready") {
            assert_eq!(body, "ready\n");
            return;
        }
        assert!(Instant::now() < deadline, "never ready");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn records(n: usize, tag: &str) -> Vec<ProducerRecord> {
    (0..n)
        .map(|i| ProducerRecord::keyed(format!("k{i}"), format!("{tag}-value-{i}")))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_match_what_was_produced_and_consumed() {
    let broker = TestBroker::start(&[]);
    let (status, _, body) = get(broker.http_port, "/health/live").unwrap();
    assert_eq!((status, body.as_str()), (200, "live\n"));
    wait_ready(&broker);

    let mut client = broker.client().await;
    let mut topic = NewTopic::new("m");
    topic.num_partitions = Some(2);
    client.create_topic(&topic).await.unwrap();
    // Partition 0: three batches of four records, acks=all; partition 1:
    // one batch of five, acks=1.
    for b in 0..3 {
        client
            .produce(
                "m",
                0,
                &records(4, &format!("b{b}")),
                Acks::All,
                Compression::None,
            )
            .await
            .unwrap();
    }
    client
        .produce("m", 1, &records(5, "p1"), Acks::Leader, Compression::None)
        .await
        .unwrap();
    let fetched = common::read_all(&mut client, "m", 0, 0).await;
    assert_eq!(fetched.len(), 12);
    client
        .commit_offsets("lagging", &[OffsetToCommit::new("m", 0, 5)])
        .await
        .unwrap();
    client
        .commit_offsets("caught-up", &[OffsetToCommit::new("m", 0, 12)])
        .await
        .unwrap();

    // STOP needs time since the last commit longer than the window spans
    // (0 ms for a single commit): let a few milliseconds pass.
    std::thread::sleep(Duration::from_millis(20));
    // Request counters are bumped after the response is written, so the
    // client may read its answer a moment before they move: scrape until
    // the last request shows.
    let deadline = Instant::now() + Duration::from_secs(10);
    let s = loop {
        let s = scrape(&broker);
        let commits = value(
            &s,
            "kafka_network_requestmetrics_requests_total",
            &[("request", "OffsetCommit")],
        );
        if commits.is_some_and(|n| n >= 2.0) {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "OffsetCommit never counted: {commits:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    };

    // The log, per partition.
    let p0 = [("topic", "m"), ("partition", "0")];
    let p1 = [("topic", "m"), ("partition", "1")];
    assert_eq!(must(&s, "kafka_log_log_logendoffset", &p0), 12.0);
    assert_eq!(must(&s, "kafka_log_log_logendoffset", &p1), 5.0);
    assert_eq!(must(&s, "kafka_log_log_logstartoffset", &p0), 0.0);
    assert_eq!(must(&s, "vltava_log_highwatermark", &p0), 12.0);
    assert_eq!(must(&s, "kafka_log_log_numlogsegments", &p0), 1.0);
    let size0 = must(&s, "kafka_log_log_size", &p0);
    let size1 = must(&s, "kafka_log_log_size", &p1);
    assert!(size0 > 0.0 && size1 > 0.0);

    // Traffic per topic: batches are stored as they arrived, so the bytes
    // produced are the log's bytes, and a fetch of the whole partition
    // sends exactly its log.
    let m = [("topic", "m")];
    assert_eq!(
        must(&s, "kafka_server_brokertopicmetrics_bytesin_total", &m),
        size0 + size1
    );
    assert_eq!(
        must(&s, "kafka_server_brokertopicmetrics_messagesin_total", &m),
        17.0
    );
    assert_eq!(
        must(
            &s,
            "kafka_server_brokertopicmetrics_totalproducerequests_total",
            &m
        ),
        4.0
    );
    assert_eq!(
        must(
            &s,
            "kafka_server_brokertopicmetrics_failedproducerequests_total",
            &m
        ),
        0.0
    );
    assert_eq!(
        must(&s, "kafka_server_brokertopicmetrics_bytesout_total", &m),
        size0
    );
    assert_eq!(
        must(&s, "vltava_brokertopicmetrics_messagesout_total", &m),
        12.0
    );
    assert!(
        must(
            &s,
            "kafka_server_brokertopicmetrics_totalfetchrequests_total",
            &m
        ) >= 1.0
    );
    assert_eq!(
        must(
            &s,
            "kafka_server_brokertopicmetrics_failedfetchrequests_total",
            &m
        ),
        0.0
    );
    // The all-topics figure includes this topic.
    assert!(must(&s, "kafka_server_brokertopicmetrics_messagesin_total", &[]) >= 17.0);

    // Requests per API, with a latency histogram whose count matches.
    let produce = [("request", "Produce")];
    assert_eq!(
        must(&s, "kafka_network_requestmetrics_requests_total", &produce),
        4.0
    );
    assert_eq!(
        must(
            &s,
            "kafka_network_requestmetrics_totaltime_seconds_count",
            &produce
        ),
        4.0
    );
    assert_eq!(
        must(
            &s,
            "kafka_network_requestmetrics_totaltime_seconds_bucket",
            &[("request", "Produce"), ("le", "+Inf")]
        ),
        4.0
    );
    assert!(
        must(
            &s,
            "kafka_network_requestmetrics_totaltime_seconds_sum",
            &produce
        ) > 0.0
    );
    assert!(
        must(
            &s,
            "kafka_network_requestmetrics_requests_total",
            &[("request", "Fetch")]
        ) >= 1.0
    );
    assert!(
        must(
            &s,
            "kafka_server_socketservermetrics_connection_count",
            &[("listener", "PLAINTEXT")]
        ) >= 1.0
    );
    assert_eq!(
        must(
            &s,
            "kafka_server_delayedoperationpurgatory_purgatorysize",
            &[("delayedoperation", "Produce")]
        ),
        0.0
    );

    // Replication and the quorum of one.
    let partitions = must(&s, "kafka_server_replicamanager_partitioncount", &[]);
    assert!(
        partitions >= 2.0,
        "m's two partitions and __consumer_offsets'"
    );
    assert_eq!(
        must(&s, "kafka_server_replicamanager_leadercount", &[]),
        partitions
    );
    assert_eq!(
        must(
            &s,
            "kafka_server_replicamanager_underreplicatedpartitions",
            &[]
        ),
        0.0
    );
    assert_eq!(
        must(
            &s,
            "kafka_server_replicamanager_underminisrpartitioncount",
            &[]
        ),
        0.0
    );
    assert_eq!(
        must(
            &s,
            "kafka_controller_kafkacontroller_activecontrollercount",
            &[]
        ),
        1.0
    );
    assert_eq!(
        must(
            &s,
            "kafka_controller_kafkacontroller_offlinepartitionscount",
            &[]
        ),
        0.0
    );
    assert_eq!(
        must(
            &s,
            "kafka_controller_kafkacontroller_globalpartitioncount",
            &[]
        ),
        partitions
    );
    assert_eq!(
        must(&s, "kafka_server_raft_metrics_current_leader", &[]),
        1.0
    );
    assert!(must(&s, "kafka_server_raft_metrics_current_epoch", &[]) >= 1.0);
    assert_eq!(
        must(
            &s,
            "kafka_server_raft_metrics_current_state",
            &[("state", "leader")]
        ),
        1.0
    );

    // Groups: committed offsets, lag against the high watermark (12), and
    // Burrow's status. "lagging" committed once, with lag, and not since:
    // STOP (group ERR); "caught-up" has no lag: OK.
    let lagging = [
        ("consumergroup", "lagging"),
        ("topic", "m"),
        ("partition", "0"),
    ];
    let caught_up = [
        ("consumergroup", "caught-up"),
        ("topic", "m"),
        ("partition", "0"),
    ];
    assert_eq!(
        must(&s, "kafka_consumergroup_current_offset", &lagging),
        5.0
    );
    assert_eq!(must(&s, "kafka_consumergroup_lag", &lagging), 7.0);
    assert_eq!(must(&s, "kafka_consumergroup_lag", &caught_up), 0.0);
    assert_eq!(
        must(&s, "vltava_consumergroup_partition_status", &lagging),
        4.0
    );
    assert_eq!(
        must(
            &s,
            "vltava_consumergroup_status",
            &[("consumergroup", "lagging")]
        ),
        3.0
    );
    assert_eq!(
        must(
            &s,
            "vltava_consumergroup_status",
            &[("consumergroup", "caught-up")]
        ),
        1.0
    );
    assert_eq!(
        must(
            &s,
            "kafka_consumergroup_members",
            &[("consumergroup", "lagging")]
        ),
        0.0
    );
    assert_eq!(
        must(
            &s,
            "vltava_consumergroup_state",
            &[("consumergroup", "lagging"), ("state", "Empty")]
        ),
        1.0
    );

    // The same lag as `vltava groups describe` (the command line asks
    // over the Kafka protocol: OffsetFetch and ListOffsets).
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_vltava"))
        .args([
            "groups",
            "describe",
            "lagging",
            "--output",
            "json",
            "--bootstrap",
        ])
        .arg(broker.bootstrap())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let described: Value = serde_json::from_slice(&out.stdout).unwrap();
    let row = &described["offsets"][0];
    assert_eq!(
        (&row["topic"], &row["partition"]),
        (&Value::from("m"), &Value::from(0))
    );
    assert_eq!(
        row["lag"].as_f64(),
        Some(must(&s, "kafka_consumergroup_lag", &lagging))
    );
    assert_eq!(
        row["current_offset"].as_f64(),
        Some(must(&s, "kafka_consumergroup_current_offset", &lagging))
    );

    // The runtime's workers (the broker runs on several) have been busy.
    let workers = must(&s, "vltava_runtime_workers", &[]);
    assert!(workers >= 1.0);
    let busy: f64 = (0..workers as usize)
        .map(|w| {
            must(
                &s,
                "vltava_runtime_worker_busy_seconds_total",
                &[("worker", &w.to_string())],
            )
        })
        .sum();
    assert!(busy > 0.0);
    assert!(must(&s, "vltava_runtime_alive_tasks", &[]) >= 1.0);

    // The process.
    assert!(must(&s, "process_open_fds", &[]) > 0.0);
    assert!(must(&s, "process_resident_memory_bytes", &[]) > 0.0);
    assert!(must(&s, "process_max_fds", &[]) > 0.0);

    // Burrow's v3 endpoints.
    let (status, _, body) =
        get(broker.http_port, "/v3/kafka/local/consumer/lagging/status").unwrap();
    assert_eq!(status, 200, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["error"], false);
    assert_eq!(v["status"]["cluster"], "local");
    assert_eq!(v["status"]["group"], "lagging");
    assert_eq!(v["status"]["status"], "ERR");
    assert_eq!(v["status"]["totallag"], 7);
    assert_eq!(v["status"]["partitions"][0]["status"], "STOP");
    let (status, _, body) =
        get(broker.http_port, "/v3/kafka/local/consumer/caught-up/lag").unwrap();
    assert_eq!(status, 200, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["status"]["status"], "OK");
    assert_eq!(v["status"]["partitions"][0]["current_lag"], 0);
    assert_eq!(v["status"]["partitions"][0]["end"]["offset"], 12);
    let (status, _, _) = get(broker.http_port, "/v3/kafka/local/consumer/nobody/status").unwrap();
    assert_eq!(status, 404);
    let (status, _, _) = get(broker.http_port, "/no/such/page").unwrap();
    assert_eq!(status, 404);
}

#[test]
fn an_empty_http_listeners_turns_the_listener_off() {
    let broker = TestBroker::start(&["http.listeners="]);
    // The Kafka listener is up (start waited for it); nothing answers HTTP.
    assert!(TcpStream::connect(broker.bootstrap()).is_ok());
    assert!(TcpStream::connect(("127.0.0.1", broker.http_port)).is_err());
}

/// One scrape of a cluster node, or `None` while it does not answer.
fn scrape_node(node: &common::cluster::Node) -> Option<Samples> {
    match get(node.http_port.expect("an HTTP port"), "/metrics") {
        Ok((200, _, body)) => Some(parse(&body)),
        _ => None,
    }
}

/// Polls `check` every 100 ms for up to 30 s.
fn until<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_reports_readiness_replication_and_isr_changes() {
    use common::cluster::{client_of, Cluster};
    let mut cluster = Cluster::start_with(3, 0, "replica.lag.time.max.ms=2000\n");
    // Every node becomes ready: metadata loaded, registered, unfenced.
    for node in &cluster.nodes {
        let port = node.http_port.unwrap();
        until("every node ready", || {
            matches!(get(port, "/health/ready"), Ok((200, _, _))).then_some(())
        });
    }
    let bootstrap = cluster.nodes[0].bootstrap();
    let mut client = until("a client", || {
        tokio::task::block_in_place(|| {
            tokio::runtime::Handle::current().block_on(client_of(&bootstrap))
        })
    });
    let mut topic = NewTopic::new("r");
    topic.num_partitions = Some(1);
    topic.replication_factor = Some(3);
    client.create_topic(&topic).await.unwrap();
    let leader = until("a leader for r-0", || {
        tokio::task::block_in_place(|| {
            tokio::runtime::Handle::current().block_on(async {
                let md = client.topic_metadata("r").await.ok()?;
                let p = md.partitions.first()?;
                (p.leader > 0 && p.isr.len() == 3).then_some(p.leader)
            })
        })
    });
    client
        .produce("r", 0, &records(10, "r"), Acks::All, Compression::None)
        .await
        .unwrap();

    // One active controller in the cluster; the leader's log, sent to both
    // followers, arrives whole at each of them.
    let r0 = [("topic", "r"), ("partition", "0")];
    let r = [("topic", "r")];
    let scrapes: Vec<Samples> = cluster
        .nodes
        .iter()
        .map(|n| scrape_node(n).unwrap())
        .collect();
    let controllers: f64 = scrapes
        .iter()
        .map(|s| {
            must(
                s,
                "kafka_controller_kafkacontroller_activecontrollercount",
                &[],
            )
        })
        .sum();
    assert_eq!(controllers, 1.0);
    // The active controller reports each voter's progress on the metadata
    // log; the others report none.
    until("every voter's metadata lag at the leader", || {
        let leader = cluster.nodes.iter().find_map(|n| {
            let s = scrape_node(n)?;
            (value(
                &s,
                "kafka_controller_kafkacontroller_activecontrollercount",
                &[],
            )? == 1.0)
                .then_some(s)
        })?;
        let lags: Vec<f64> = cluster
            .nodes
            .iter()
            .map(|n| {
                value(
                    &leader,
                    "vltava_raft_replica_lag",
                    &[("replica", &n.id.to_string()), ("role", "voter")],
                )
            })
            .collect::<Option<_>>()?;
        lags.iter().all(|l| *l <= 10.0).then_some(())
    });
    for (n, s) in cluster.nodes.iter().zip(&scrapes) {
        if must(
            s,
            "kafka_controller_kafkacontroller_activecontrollercount",
            &[],
        ) == 0.0
        {
            assert!(
                !s.iter()
                    .any(|(name, _, _)| name == "vltava_raft_replica_lag"),
                "node {} is not the leader",
                n.id
            );
        }
    }
    let leader_node = &cluster.nodes[(leader - 1) as usize];
    let size = must(
        &scrape_node(leader_node).unwrap(),
        "kafka_log_log_size",
        &r0,
    );
    for follower in cluster.nodes.iter().filter(|n| n.id != leader) {
        until("the follower's replicated bytes", || {
            let s = scrape_node(follower)?;
            (value(
                &s,
                "kafka_server_brokertopicmetrics_replicationbytesin_total",
                &r,
            ) == Some(size)
                && value(&s, "kafka_log_log_logendoffset", &r0) == Some(10.0))
            .then_some(())
        });
    }
    // The console on a follower shows its copy and names the leader; for a
    // single-replica partition on another node it fetches nothing and
    // names the node that has it.
    let follower = cluster.nodes.iter().find(|n| n.id != leader).unwrap();
    until("the follower's console showing its copy", || {
        let (_, _, page) = get(follower.http_port.unwrap(), "/ui/topics/r/0").ok()?;
        (page.contains(&format!("its leader is node {leader}"))
            && page.contains("10 records from offset 0."))
        .then_some(())
    });
    let mut solo = NewTopic::new("solo");
    solo.num_partitions = Some(1);
    solo.replication_factor = Some(1);
    client.create_topic(&solo).await.unwrap();
    let solo_leader = until("a leader for solo-0", || {
        tokio::task::block_in_place(|| {
            tokio::runtime::Handle::current().block_on(async {
                let md = client.topic_metadata("solo").await.ok()?;
                let p = md.partitions.first()?;
                (p.leader > 0).then_some(p.leader)
            })
        })
    });
    let elsewhere = cluster.nodes.iter().find(|n| n.id != solo_leader).unwrap();
    let expected = format!(
        "is not hosted on node {}; its leader is node {solo_leader}",
        elsewhere.id
    );
    until("another node's console naming solo-0's leader", || {
        let (_, _, page) = get(elsewhere.http_port.unwrap(), "/ui/topics/solo/0").ok()?;
        page.contains(&expected).then_some(())
    });

    let s = scrape_node(leader_node).unwrap();
    assert!(
        must(
            &s,
            "kafka_server_brokertopicmetrics_replicationbytesout_total",
            &r
        ) >= 2.0 * size
    );
    assert_eq!(
        must(&s, "kafka_server_brokertopicmetrics_messagesin_total", &r),
        10.0
    );
    assert_eq!(
        must(
            &s,
            "kafka_server_replicamanager_underreplicatedpartitions",
            &[]
        ),
        0.0
    );

    // Lag of partitions on other brokers: three single-replica partitions
    // (spread over the three nodes), ten records each, a group committed
    // at 4 on each. The group's coordinator asks the leaders it does not
    // host for their high watermarks, so it reports every partition's lag.
    let mut spread = NewTopic::new("spread");
    spread.num_partitions = Some(3);
    spread.replication_factor = Some(1);
    client.create_topic(&spread).await.unwrap();
    for p in 0..3 {
        until("a produce to spread", || {
            tokio::task::block_in_place(|| {
                tokio::runtime::Handle::current().block_on(async {
                    client
                        .produce("spread", p, &records(10, "s"), Acks::All, Compression::None)
                        .await
                        .ok()
                })
            })
        });
    }
    let commits: Vec<OffsetToCommit> = (0..3)
        .map(|p| OffsetToCommit::new("spread", p, 4))
        .collect();
    client.commit_offsets("remote-lag", &commits).await.unwrap();
    let (coordinator, lags) = until("the coordinator's lag for every partition", || {
        cluster.nodes.iter().find_map(|n| {
            let s = scrape_node(n)?;
            let lags: Vec<f64> = (0..3)
                .map(|p| {
                    value(
                        &s,
                        "kafka_consumergroup_lag",
                        &[
                            ("consumergroup", "remote-lag"),
                            ("topic", "spread"),
                            ("partition", &p.to_string()),
                        ],
                    )
                })
                .collect::<Option<_>>()?;
            Some((n.id, lags))
        })
    });
    assert_eq!(lags, vec![6.0, 6.0, 6.0], "coordinator {coordinator}");
    let hosted = scrape_node(cluster.node(coordinator)).unwrap();
    let here = (0..3)
        .filter(|p| {
            value(
                &hosted,
                "kafka_log_log_logendoffset",
                &[("topic", "spread"), ("partition", &p.to_string())],
            )
            .is_some()
        })
        .count();
    assert!(
        here < 3,
        "every spread partition is on the coordinator: nothing tested"
    );

    // A follower dies: the leader shrinks the ISR and reports the partition
    // under-replicated; it comes back: the ISR grows again.
    let victim = cluster.nodes.iter().find(|n| n.id != leader).unwrap().id;
    cluster.node(victim).kill9();
    let leader_node = &cluster.nodes[(leader - 1) as usize];
    until("an ISR shrink", || {
        let s = scrape_node(leader_node)?;
        (value(&s, "kafka_server_replicamanager_isrshrinks_total", &[])? >= 1.0
            && value(
                &s,
                "kafka_server_replicamanager_underreplicatedpartitions",
                &[],
            )? >= 1.0)
            .then_some(())
    });
    cluster.node(victim).start();
    let leader_node = &cluster.nodes[(leader - 1) as usize];
    until("an ISR expansion", || {
        let s = scrape_node(leader_node)?;
        (value(&s, "kafka_server_replicamanager_isrexpands_total", &[])? >= 1.0
            && value(
                &s,
                "kafka_server_replicamanager_underreplicatedpartitions",
                &[],
            )? == 0.0)
            .then_some(())
    });
    let port = cluster.node(victim).http_port.unwrap();
    until("the restarted node ready", || {
        matches!(get(port, "/health/ready"), Ok((200, _, _))).then_some(())
    });
}

/// A webhook receiver on a free port: every POST's body, as JSON, in order.
fn webhook() -> (u16, std::sync::mpsc::Receiver<(String, Value)>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut got = Vec::new();
            let mut buf = [0u8; 8192];
            let (head, body) = loop {
                let n = stream.read(&mut buf).unwrap_or(0);
                if n == 0 {
                    break (String::new(), String::new());
                }
                got.extend_from_slice(&buf[..n]);
                let text = String::from_utf8_lossy(&got).to_string();
                let Some(end) = text.find("\r\n\r\n") else {
                    continue;
                };
                let length: usize = text[..end]
                    .lines()
                    .find_map(|l| {
                        l.to_ascii_lowercase()
                            .strip_prefix("content-length:")
                            .map(|v| v.trim().parse().unwrap())
                    })
                    .unwrap_or(0);
                if got.len() >= end + 4 + length {
                    break (text[..end].to_string(), text[end + 4..].to_string());
                }
            };
            let _ = stream.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n");
            if let Ok(v) = serde_json::from_str(&body) {
                let _ = tx.send((head, v));
            }
        }
    });
    (port, rx)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_status_change_is_posted_to_the_webhook_and_so_is_its_recovery() {
    let (port, posts) = webhook();
    let broker = TestBroker::start(&[
        &format!("http.lag.notifier.url=http://127.0.0.1:{port}/burrow"),
        "http.lag.sample.interval.ms=200",
    ]);
    wait_ready(&broker);
    let mut client = broker.client().await;
    client.create_topic(&NewTopic::new("w")).await.unwrap();
    client
        .produce("w", 0, &records(12, "w"), Acks::All, Compression::None)
        .await
        .unwrap();
    // One commit with lag, then none: STOP, so the group is ERR.
    client
        .commit_offsets("slow", &[OffsetToCommit::new("w", 0, 5)])
        .await
        .unwrap();
    let (head, opened) = posts
        .recv_timeout(Duration::from_secs(20))
        .expect("no notification for the stopped group");
    assert!(head.starts_with("POST /burrow HTTP/1.1"), "{head}");
    assert_eq!(opened["event"], "open", "{opened}");
    assert_eq!(opened["group"], "slow");
    assert_eq!(opened["status"], "ERR");
    assert_eq!(opened["previous"], Value::Null);
    assert_eq!(opened["totallag"], 7);
    assert_eq!(opened["result"]["partitions"][0]["status"], "STOP");
    assert_eq!(opened["result"]["partitions"][0]["topic"], "w");

    // The consumer catches up: the incident closes, under the same id.
    client
        .commit_offsets("slow", &[OffsetToCommit::new("w", 0, 12)])
        .await
        .unwrap();
    let (_, closed) = posts
        .recv_timeout(Duration::from_secs(20))
        .expect("no notification of the recovery");
    assert_eq!(closed["event"], "close", "{closed}");
    assert_eq!(closed["status"], "OK");
    assert_eq!(closed["previous"], "ERR");
    assert_eq!(closed["id"], opened["id"]);
    assert_eq!(closed["totallag"], 0);
    // Nothing more while nothing changes.
    assert!(posts.recv_timeout(Duration::from_millis(800)).is_err());
    let s = scrape(&broker);
    assert_eq!(
        must(&s, "vltava_lag_notifications_total", &[("result", "sent")]),
        2.0
    );
    assert_eq!(
        must(
            &s,
            "vltava_lag_notifications_total",
            &[("result", "failed")]
        ),
        0.0
    );
}

/// `vltava groups lag ARGS... --bootstrap B`: (exit ok, stdout, stderr).
fn groups_lag(broker: &TestBroker, args: &[&str]) -> (bool, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_vltava"))
        .args(["groups", "lag"])
        .args(args)
        .arg("--bootstrap")
        .arg(broker.bootstrap())
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn groups_lag_shows_the_coordinators_status_beside_the_offsets() {
    let broker = TestBroker::start(&["http.lag.sample.interval.ms=200"]);
    wait_ready(&broker);
    let mut client = broker.client().await;
    client.create_topic(&NewTopic::new("l")).await.unwrap();
    client
        .produce("l", 0, &records(12, "l"), Acks::All, Compression::None)
        .await
        .unwrap();
    // A name that needs escaping in the URL's path.
    let group = "team a/orders?v=1";
    client
        .commit_offsets(group, &[OffsetToCommit::new("l", 0, 5)])
        .await
        .unwrap();
    let http = format!("127.0.0.1:{}", broker.http_port);
    let v = until("the group judged STOP", || {
        let (ok, out, err) = groups_lag(&broker, &[group, "--http", &http, "--output", "json"]);
        assert!(ok, "{err}");
        let v: Value = serde_json::from_str(&out).unwrap();
        (v["status"] == "ERR").then_some(v)
    });
    assert_eq!(v["group"], group);
    assert_eq!(v["total_lag"], 7);
    let p = &v["partitions"][0];
    assert_eq!(
        (
            &p["topic"],
            &p["partition"],
            &p["current_offset"],
            &p["log_end_offset"],
            &p["lag"]
        ),
        (
            &Value::from("l"),
            &Value::from(0),
            &Value::from(5),
            &Value::from(12),
            &Value::from(7)
        )
    );
    assert_eq!(p["status"], "STOP");

    let (ok, table, _) = groups_lag(&broker, &[group, "--http", &http]);
    assert!(ok);
    assert!(
        table.contains("STATUS") && table.contains("ERR") && table.contains("STOP"),
        "{table}"
    );

    // A node that cannot be asked: the offsets still show, the status
    // does not, and stderr says where to point --http.
    let unused = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let nowhere = format!("127.0.0.1:{}", unused.local_addr().unwrap().port());
    drop(unused);
    let (ok, out, err) = groups_lag(&broker, &[group, "--http", &nowhere, "--output", "json"]);
    assert!(ok, "{err}");
    assert!(err.contains("point --http at"), "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["status"], Value::Null);
    assert_eq!(v["partitions"][0]["lag"], 7);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_poll_counts_as_remote_time_and_the_phases_add_up_to_the_total() {
    let broker = TestBroker::start(&[]);
    wait_ready(&broker);
    let mut client = broker.client().await;
    client.create_topic(&NewTopic::new("idle")).await.unwrap();
    // Nothing to read: the fetch waits out its 600 ms in the purgatory.
    let fetched = client.fetch("idle", 0, 0, 600, 1 << 20).await.unwrap();
    assert!(fetched.records.is_empty());
    let fetch = [("request", "Fetch")];
    let s = until("the fetch counted", || {
        let s = scrape(&broker);
        (value(
            &s,
            "kafka_network_requestmetrics_remotetime_seconds_count",
            &fetch,
        )? >= 1.0)
            .then_some(s)
    });
    let sum = |name: &str| {
        must(
            &s,
            &format!("kafka_network_requestmetrics_{name}_seconds_sum"),
            &fetch,
        )
    };
    let count = |name: &str| {
        must(
            &s,
            &format!("kafka_network_requestmetrics_{name}_seconds_count"),
            &fetch,
        )
    };
    assert!(sum("remotetime") >= 0.5, "remote {}", sum("remotetime"));
    assert!(sum("localtime") < 0.1, "local {}", sum("localtime"));
    assert_eq!(sum("throttletime"), 0.0);
    for phase in [
        "localtime",
        "remotetime",
        "throttletime",
        "responsesendtime",
    ] {
        assert_eq!(count(phase), count("totaltime"), "{phase}");
    }
    let phases: f64 = [
        "localtime",
        "remotetime",
        "throttletime",
        "responsesendtime",
    ]
    .iter()
    .map(|p| sum(p))
    .sum();
    // The phases are measured between the same instants as the total,
    // short of the few microseconds between two clock reads.
    assert!(
        (sum("totaltime") - phases).abs() < 0.01,
        "total {} vs phases {phases}",
        sum("totaltime")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cleaner_and_retention_report_their_work() {
    let broker = TestBroker::start(&[
        "log.cleaner.backoff.ms=100",
        "log.retention.check.interval.ms=200",
    ]);
    wait_ready(&broker);
    let mut client = broker.client().await;
    let topic = |name: &str, configs: &[(&str, &str)]| {
        let mut t = NewTopic::new(name);
        t.configs = configs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        t
    };
    // Small segments (below segment.bytes' 1 MiB minimum) so both have
    // rolled segments to work on.
    client
        .create_topic(&topic(
            "compacted",
            &[
                ("cleanup.policy", "compact"),
                ("internal.segment.bytes", "4096"),
                ("min.cleanable.dirty.ratio", "0.01"),
            ],
        ))
        .await
        .unwrap();
    client
        .create_topic(&topic(
            "expiring",
            &[("internal.segment.bytes", "4096"), ("retention.ms", "1000")],
        ))
        .await
        .unwrap();
    for round in 0..30 {
        let batch: Vec<ProducerRecord> = (0..10)
            .map(|k| {
                ProducerRecord::keyed(
                    format!("key-{k}"),
                    format!("round-{round}-{}", "v".repeat(40)),
                )
            })
            .collect();
        for t in ["compacted", "expiring"] {
            client
                .produce(t, 0, &batch, Acks::All, Compression::None)
                .await
                .unwrap();
        }
    }
    let s = until("the cleaner's and retention's counts", || {
        let s = scrape(&broker);
        (value(&s, "vltava_log_cleaner_records_removed_total", &[])? > 0.0
            && value(&s, "vltava_log_retention_segments_deleted_total", &[])? > 0.0)
            .then_some(s)
    });
    assert!(must(&s, "vltava_log_cleaner_passes_total", &[]) >= 1.0);
    let read = must(&s, "vltava_log_cleaner_bytes_read_total", &[]);
    let written = must(&s, "vltava_log_cleaner_bytes_written_total", &[]);
    assert!(
        written < read,
        "compaction shrank nothing: {written} of {read}"
    );
    assert!(must(&s, "vltava_log_cleaner_last_pass_seconds", &[]) > 0.0);
    assert!(
        must(
            &s,
            "kafka_log_logcleanermanager_time_since_last_run_ms",
            &[]
        ) >= 0.0
    );
    assert_eq!(
        must(
            &s,
            "kafka_log_logcleanermanager_uncleanable_partitions_count",
            &[]
        ),
        0.0
    );
}

/// The web console's pages on a real broker: each answers HTML, the
/// figures are the ones produced and committed, and a key with markup
/// comes back escaped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_serves_its_pages() {
    let broker = TestBroker::start(&[]);
    wait_ready(&broker);
    let mut client = broker.client().await;
    let mut topic = NewTopic::new("shown");
    topic.num_partitions = Some(2);
    client.create_topic(&topic).await.unwrap();
    let mut batch = records(3, "ui");
    batch.push(ProducerRecord::keyed("<script>k</script>", "{\"a\":1}"));
    client
        .produce("shown", 0, &batch, Acks::All, Compression::Lz4)
        .await
        .unwrap();
    client
        .commit_offsets("viewer", &[OffsetToCommit::new("shown", 0, 1)])
        .await
        .unwrap();

    let page = |path: &str| {
        let (status, content_type, body) = get(broker.http_port, path).unwrap();
        assert_eq!(status, 200, "{path}: {body}");
        assert!(
            content_type.starts_with("text/html"),
            "{path}: {content_type}"
        );
        assert!(
            body.starts_with("<!DOCTYPE html>") && body.ends_with("</html>"),
            "{path}"
        );
        body
    };
    assert!(page("/ui").contains("<h1>Cluster</h1>"));
    let topics = page("/ui/topics?q=show");
    assert!(
        topics.contains("href=\"/ui/topics/shown\">shown</a></td><td class=\"n\">2</td>"),
        "{topics}"
    );
    let one = page("/ui/topics/shown");
    assert!(one.contains("<td class=\"n\">4</td>"), "log end 4: {one}");
    let messages = page("/ui/topics/shown/0?n=10");
    assert!(messages.contains("4 records from offset 0."), "{messages}");
    assert!(
        messages.contains("&lt;script&gt;k&lt;/script&gt;"),
        "{messages}"
    );
    assert!(!messages.contains("<script>k"));
    assert!(
        messages.contains("&quot;a&quot;: 1"),
        "JSON pretty-printed: {messages}"
    );
    let groups = page("/ui/groups");
    assert!(groups.contains(">viewer</a>"), "{groups}");
    let group = page("/ui/groups/viewer");
    assert!(group.contains("id=\"total-lag\">3<"), "{group}");

    let (status, _, _) = get(broker.http_port, "/ui/topics/nope").unwrap();
    assert_eq!(status, 404);
    let (status, _, _) = get(broker.http_port, "/ui/topics/shown/7").unwrap();
    assert_eq!(status, 404);
    let (status, _, _) = get(broker.http_port, "/ui/groups/nobody").unwrap();
    assert_eq!(status, 404);
}
