//! `vltava cluster` against real `vltava server` processes: the metadata
//! quorum it shows (voters, leader, lag, observers), and KIP-853 voter
//! changes through `cluster remove-voter` and `cluster add-voter`.
//!
//! The node helpers are copied from `tests/cluster.rs` (each test binary is
//! its own crate), with a fourth node whose roles the test picks.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use vltava_client::protocol::messages::{add_raft_voter_request, AddRaftVoterRequest};
use vltava_client::{Client, ClientConfig, Connection, ConnectionConfig, ErrorCode, NewTopic};

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().unwrap().port()
}

fn vltava() -> Command {
    Command::new(env!("CARGO_BIN_EXE_vltava"))
}

struct Node {
    id: i32,
    port: u16,
    config: PathBuf,
    data_dir: PathBuf,
    child: Option<Child>,
}

impl Node {
    fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn start(&mut self) {
        let child = vltava()
            .arg("server")
            .arg("--config")
            .arg(&self.config)
            .arg("--data-dir")
            .arg(&self.data_dir)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start vltava server");
        self.child = Some(child);
    }

    fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| c.try_wait().ok().flatten().is_none())
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill9();
    }
}

struct Cluster {
    cluster_id: String,
    /// `controller.quorum.voters` of the three founding voters.
    voters: String,
    nodes: Vec<Node>,
    temp: tempfile::TempDir,
}

/// A node's properties: `roles` and any `extra` lines on top of the
/// settings every node here shares (short timeouts keep the test quick).
fn properties(id: i32, port: u16, roles: &str, voters: &str, extra: &str) -> String {
    format!(
        "node.id={id}\n\
         process.roles={roles}\n\
         listeners=PLAINTEXT://127.0.0.1:{port}\n\
         controller.quorum.voters={voters}\n\
         controller.quorum.election.timeout.ms=300\n\
         controller.quorum.fetch.timeout.ms=600\n\
         controller.quorum.election.backoff.max.ms=300\n\
         controller.quorum.request.timeout.ms=500\n\
         broker.heartbeat.interval.ms=300\n\
         broker.session.timeout.ms=2000\n\
         {extra}"
    )
}

fn format_storage(cluster_id: &str, config: &Path, data_dir: &Path) {
    let status = vltava()
        .args(["storage", "format", "--cluster-id", cluster_id, "--config"])
        .arg(config)
        .arg("--data-dir")
        .arg(data_dir)
        .stdout(Stdio::null())
        .status()
        .expect("storage format");
    assert!(status.success(), "formatting {}", data_dir.display());
}

impl Cluster {
    /// Formats and starts three combined nodes, the voters.
    fn start() -> Cluster {
        let temp = tempfile::tempdir().expect("temp dir");
        let out = vltava()
            .args(["storage", "random-uuid"])
            .output()
            .expect("random-uuid");
        assert!(out.status.success());
        let cluster_id = String::from_utf8(out.stdout).unwrap().trim().to_string();
        let ports: Vec<u16> = (0..3).map(|_| free_port()).collect();
        let voters = ports
            .iter()
            .enumerate()
            .map(|(i, p)| format!("{}@127.0.0.1:{p}", i + 1))
            .collect::<Vec<_>>()
            .join(",");
        let mut cluster = Cluster {
            cluster_id,
            voters,
            nodes: Vec::new(),
            temp,
        };
        for (i, port) in ports.into_iter().enumerate() {
            cluster.add_node(i as i32 + 1, port, "broker,controller", "");
        }
        for node in &mut cluster.nodes {
            node.start();
        }
        cluster
    }

    /// Writes the config of node `id`, formats its directory (once) with
    /// the cluster's id, and adds it to the cluster without starting it.
    fn add_node(&mut self, id: i32, port: u16, roles: &str, extra: &str) {
        let config = self.temp.path().join(format!("node-{id}.properties"));
        let data_dir = self.temp.path().join(format!("node-{id}"));
        std::fs::write(&config, properties(id, port, roles, &self.voters, extra)).unwrap();
        format_storage(&self.cluster_id, &config, &data_dir);
        self.nodes.push(Node {
            id,
            port,
            config,
            data_dir,
            child: None,
        });
    }

    fn node(&mut self, id: i32) -> &mut Node {
        &mut self.nodes[(id - 1) as usize]
    }
}

async fn client_of(bootstrap: &str) -> Option<Client> {
    let mut config = ClientConfig::new([bootstrap.to_string()]);
    config.connection.connect_timeout = Duration::from_secs(2);
    config.connection.request_timeout = Duration::from_secs(10);
    Client::connect(config).await.ok()
}

/// Polls `check` every 200 ms until it returns `Some`, for up to `limit`.
async fn eventually<T, F, Fut>(limit: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Retries CreateTopics of a one-partition topic through `bootstrap` until
/// it succeeds.
async fn create_eventually(bootstrap: &str, name: &str) {
    eventually(
        Duration::from_secs(30),
        &format!("CreateTopics {name}"),
        || async move {
            let mut client = client_of(bootstrap).await?;
            let topic = NewTopic {
                num_partitions: Some(1),
                replication_factor: Some(1),
                ..NewTopic::new(name)
            };
            client.create_topic(&topic).await.ok()
        },
    )
    .await;
}

/// Runs `vltava cluster ARGS --bootstrap B --output json`: the exit status,
/// the JSON document on success, stderr otherwise.
async fn cluster_tool(bootstrap: &str, args: &[&str]) -> Result<Value, String> {
    let mut command = vltava();
    command
        .arg("cluster")
        .args(args)
        .args(["--bootstrap", bootstrap, "--output", "json"])
        .args(["--request-timeout-ms", "10000"]);
    let out = tokio::task::spawn_blocking(move || command.output())
        .await
        .expect("join")
        .expect("run vltava cluster");
    if out.status.success() {
        Ok(serde_json::from_slice(&out.stdout).expect("JSON on stdout"))
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

fn ids(replicas: &Value) -> Vec<i64> {
    let mut ids: Vec<i64> = replicas
        .as_array()
        .expect("a list")
        .iter()
        .map(|r| r["id"].as_i64().expect("id"))
        .collect();
    ids.sort();
    ids
}

/// `vltava cluster`'s view once `ok` accepts it.
async fn view_until(bootstrap: &str, what: &str, ok: impl Fn(&Value) -> bool) -> Value {
    eventually(Duration::from_secs(30), what, || async {
        let v = cluster_tool(bootstrap, &[]).await.ok()?;
        ok(&v).then_some(v)
    })
    .await
}

fn all_caught_up(replicas: &Value) -> bool {
    replicas
        .as_array()
        .is_some_and(|rs| rs.iter().all(|r| r["lag"] == 0))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_tool_shows_the_quorum_and_changes_its_voters() {
    let mut cluster = Cluster::start();
    let first = cluster.node(1).bootstrap();
    create_eventually(&first, "before").await;

    // Three voters, one of them the leader (and the active controller),
    // none behind the high watermark once the topic's records are fetched.
    let v = view_until(&first, "three caught-up voters", |v| {
        v["quorum"]["voters"].as_array().map(Vec::len) == Some(3)
            && all_caught_up(&v["quorum"]["voters"])
            && v["brokers"].as_array().map(Vec::len) == Some(3)
    })
    .await;
    let q = &v["quorum"];
    assert_eq!(ids(&q["voters"]), [1, 2, 3]);
    let leader = q["leader_id"].as_i64().expect("leader id") as i32;
    assert!((1..=3).contains(&leader));
    assert_eq!(
        v["controller_id"], leader,
        "the quorum leader is the controller"
    );
    assert!(q["high_watermark"].as_i64().unwrap() > 0);
    assert!(q["leader_epoch"].as_i64().unwrap() >= 1);
    for voter in q["voters"].as_array().unwrap() {
        assert_eq!(voter["broker"], true, "{voter}");
        assert!(voter["last_fetch_age_ms"].as_i64().is_some(), "{voter}");
        // DescribeQuorum v2 names every voter's endpoint.
        assert_eq!(
            voter["endpoints"][0]["port"],
            cluster.nodes[(voter["id"].as_i64().unwrap() - 1) as usize].port
        );
    }
    assert_eq!(ids(&q["observers"]), Vec::<i64>::new());

    // A voter that does not lead refuses voter changes.
    let follower = (1..=3).find(|id| *id != leader).unwrap();
    let mut conn = Connection::connect(
        &cluster.node(follower).bootstrap(),
        ConnectionConfig::default(),
    )
    .await
    .expect("connect to a follower");
    let refused = conn
        .send(&AddRaftVoterRequest {
            cluster_id: Some(cluster.cluster_id.clone()),
            voter_id: 9,
            timeout_ms: 1000,
            listeners: vec![add_raft_voter_request::Listener {
                name: "CONTROLLER".into(),
                host: "127.0.0.1".into(),
                port: 1,
                ..Default::default()
            }],
            ..Default::default()
        })
        .await
        .expect("AddRaftVoter answered");
    assert_eq!(refused.error_code, ErrorCode::NOT_LEADER_OR_FOLLOWER.code());

    // A fourth node with the broker role only is an observer of the quorum
    // (and a broker once it has registered).
    let port4 = free_port();
    cluster.add_node(4, port4, "broker", "");
    cluster.node(4).start();
    let v = view_until(&first, "node 4 as a caught-up observer", |v| {
        ids(&v["quorum"]["observers"]) == [4] && all_caught_up(&v["quorum"]["observers"])
    })
    .await;
    assert_eq!(ids(&v["quorum"]["voters"]), [1, 2, 3]);

    // A voter that does not lead is removed: two voters remain, and the
    // cluster still commits metadata (a majority of two is both).
    let gone = (1..=3).find(|id| *id != leader).unwrap();
    let removed = cluster_tool(&first, &["remove-voter", "--id", &gone.to_string()])
        .await
        .expect("remove-voter");
    assert_eq!(removed["removed"], true);
    let mut remaining: Vec<i64> = vec![1, 2, 3];
    remaining.retain(|id| *id != i64::from(gone));
    let v = view_until(&first, "two voters", |v| {
        ids(&v["quorum"]["voters"]) == remaining
    })
    .await;
    assert_eq!(v["quorum"]["leader_id"], leader);
    create_eventually(&first, "after-remove").await;
    // Removing it again is refused with the leader's reason.
    let err = cluster_tool(&first, &["remove-voter", "--id", &gone.to_string()])
        .await
        .expect_err("not a voter any more");
    assert!(err.contains("VOTER_NOT_FOUND"), "{err}");

    // Node 4 returns able to be a controller, declaring it joins later
    // (controller.quorum.bootstrap.servers), and is added as a voter.
    cluster.node(4).kill9();
    let bootstrap_servers = cluster
        .nodes
        .iter()
        .take(3)
        .map(Node::bootstrap)
        .collect::<Vec<_>>()
        .join(",");
    let config4 = properties(
        4,
        port4,
        "broker,controller",
        &cluster.voters,
        &format!("controller.quorum.bootstrap.servers={bootstrap_servers}\n"),
    );
    std::fs::write(&cluster.node(4).config, config4).unwrap();
    cluster.node(4).start();
    let port = port4.to_string();
    let add = [
        "add-voter",
        "--id",
        "4",
        "--host",
        "127.0.0.1",
        "--port",
        &port,
    ];
    // Refused (REQUEST_TIMED_OUT) until node 4 has caught up again.
    let added = eventually(Duration::from_secs(30), "add-voter 4", || async {
        match cluster_tool(&first, &add).await {
            Ok(v) => Some(v),
            Err(e) => {
                assert!(e.contains("REQUEST_TIMED_OUT"), "add-voter: {e}");
                None
            }
        }
    })
    .await;
    assert_eq!(added["added"], true);
    let mut with_4 = remaining.clone();
    with_4.push(4);
    let v = view_until(&first, "node 4 as a voter", |v| {
        ids(&v["quorum"]["voters"]) == with_4 && all_caught_up(&v["quorum"]["voters"])
    })
    .await;
    // The endpoint given to add-voter is where the leader now reaches it.
    let voter4 = v["quorum"]["voters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == 4)
        .unwrap();
    assert_eq!(voter4["endpoints"][0]["port"], port4);
    create_eventually(&first, "after-add").await;
    for node in &mut cluster.nodes {
        assert!(node.is_running(), "node {} exited", node.id);
    }
}

#[test]
fn a_controller_outside_the_voters_starts_only_when_it_joins_later() {
    let temp = tempfile::tempdir().unwrap();
    let port = free_port();
    let voters = "1@127.0.0.1:1,2@127.0.0.1:2,3@127.0.0.1:3";
    let config = temp.path().join("node.properties");
    let data_dir = temp.path().join("data");
    std::fs::write(
        &config,
        properties(4, port, "broker,controller", voters, ""),
    )
    .unwrap();
    format_storage("MkU3OEVBNTcwNTJENDM2Qg", &config, &data_dir);
    let out = vltava()
        .arg("server")
        .arg("--config")
        .arg(&config)
        .arg("--data-dir")
        .arg(&data_dir)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("node.id=4 is not in controller.quorum.voters"),
        "{stderr}"
    );

    // With controller.quorum.bootstrap.servers it starts (as an observer
    // waiting for AddRaftVoter) and keeps running.
    std::fs::write(
        &config,
        properties(
            4,
            port,
            "broker,controller",
            voters,
            "controller.quorum.bootstrap.servers=127.0.0.1:1\n",
        ),
    )
    .unwrap();
    let mut node = Node {
        id: 4,
        port,
        config,
        data_dir,
        child: None,
    };
    node.start();
    std::thread::sleep(Duration::from_secs(2));
    assert!(node.is_running(), "node 4 exited");
}
