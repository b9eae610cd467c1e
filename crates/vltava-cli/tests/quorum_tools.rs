//! `vltava cluster` against real `vltava server` processes: the metadata
//! quorum it shows (voters, leader, lag, observers), and KIP-853 voter
//! changes through `cluster remove-voter` and `cluster add-voter`.
//!
//! A fourth node, whose roles the test picks, joins the three voters.

mod common;

use std::time::Duration;

use common::cluster::{
    create_eventually, eventually, format_storage, free_port, properties, vltava, Cluster, Node,
};
use serde_json::Value;
use vltava_client::protocol::messages::{add_raft_voter_request, AddRaftVoterRequest};
use vltava_client::{Connection, ConnectionConfig, ErrorCode};

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
    let mut cluster = Cluster::start(3);
    let first = cluster.node(1).bootstrap();
    create_eventually(&first, "before", Duration::from_secs(30)).await;

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

    // A voter that does not lead relays voter changes to the leader, as
    // Kafka's brokers forward them (Kafka's Admin client sends them to any
    // broker): the leader's own answer comes back, here that node 9 has not
    // caught up (it does not exist).
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
    assert_eq!(
        refused.error_code,
        ErrorCode::REQUEST_TIMED_OUT.code(),
        "{:?}",
        refused.error_message
    );
    assert!(
        refused
            .error_message
            .as_deref()
            .is_some_and(|m| m.contains("node 9 has not caught up")),
        "{:?}",
        refused.error_message
    );

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
    create_eventually(&first, "after-remove", Duration::from_secs(30)).await;
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
    create_eventually(&first, "after-add", Duration::from_secs(30)).await;
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
    let mut node = Node::new(4, port, config, data_dir);
    node.start();
    std::thread::sleep(Duration::from_secs(2));
    assert!(node.is_running(), "node 4 exited");
}

/// `vltava storage format` of a node of a dynamic quorum with `flags`;
/// stderr on failure.
fn format_dynamic(
    config: &std::path::Path,
    data_dir: &std::path::Path,
    flags: &[&str],
) -> Result<String, String> {
    let out = vltava()
        .args([
            "storage",
            "format",
            "--cluster-id",
            "MkU3OEVBNTcwNTJENDM2Qg",
            "--config",
        ])
        .arg(config)
        .arg("--data-dir")
        .arg(data_dir)
        .args(flags)
        .output()
        .unwrap();
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// KIP-853 from the first step: node 1 is formatted `--standalone` (the
/// only voter), nodes 2 and 3 with `--no-initial-controllers`. No node has
/// `controller.quorum.voters`; all find the quorum through
/// `controller.quorum.bootstrap.servers` and learn every voter's endpoint
/// from the metadata log. Nodes 2 and 3 are added with `cluster add-voter`,
/// the quorum survives the loss of the node it started from, and that node
/// is removed again by id alone (its directory id looked up).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dynamic_quorum_starts_standalone_and_grows_with_add_voter() {
    let temp = tempfile::tempdir().unwrap();
    let ports: Vec<u16> = (0..3).map(|_| free_port()).collect();
    let bootstrap_servers = ports
        .iter()
        .map(|p| format!("127.0.0.1:{p}"))
        .collect::<Vec<_>>()
        .join(",");
    let mut nodes = Vec::new();
    for (i, port) in ports.iter().enumerate() {
        let id = i as i32 + 1;
        let config = temp.path().join(format!("node-{id}.properties"));
        let data_dir = temp.path().join(format!("node-{id}"));
        std::fs::write(
            &config,
            properties(
                id,
                *port,
                "broker,controller",
                "",
                &format!("controller.quorum.bootstrap.servers={bootstrap_servers}\n"),
            ),
        )
        .unwrap();
        if id == 2 {
            // A controller of a dynamic quorum must say how it starts.
            let err = format_dynamic(&config, &data_dir, &[]).expect_err("no flag");
            assert!(err.contains("--no-initial-controllers"), "{err}");
            assert!(!data_dir.join("meta.properties").exists());
        }
        let flag = if id == 1 {
            "--standalone"
        } else {
            "--no-initial-controllers"
        };
        let out = format_dynamic(&config, &data_dir, &[flag]).expect("format");
        assert_eq!(out.contains("bootstrap checkpoint"), id == 1, "{out}");
        nodes.push(Node::new(id, *port, config, data_dir));
    }
    for node in &mut nodes {
        node.start();
    }
    let first = nodes[0].bootstrap();
    view_until(
        &first,
        "node 1 voting, 2 and 3 caught up as observers",
        |v| {
            ids(&v["quorum"]["voters"]) == [1]
                && ids(&v["quorum"]["observers"]) == [2, 3]
                && all_caught_up(&v["quorum"]["observers"])
        },
    )
    .await;
    // Node 2 found the active controller through the quorum alone: it
    // registered, and an admin request sent to it is carried out.
    create_eventually(&nodes[1].bootstrap(), "via-2", Duration::from_secs(30)).await;

    for id in [2, 3] {
        let dir = vltava_storage::read_meta_properties(&nodes[id - 1].data_dir)
            .unwrap()
            .unwrap()
            .directory_id
            .unwrap()
            .to_string();
        let port = ports[id - 1].to_string();
        let id = id.to_string();
        let add = [
            "add-voter",
            "--id",
            &id,
            "--host",
            "127.0.0.1",
            "--port",
            &port,
            "--listener",
            "PLAINTEXT",
            "--directory-id",
            &dir,
        ];
        eventually(Duration::from_secs(30), "add-voter", || async {
            match cluster_tool(&first, &add).await {
                Ok(v) => Some(v),
                Err(e) => {
                    assert!(e.contains("REQUEST_TIMED_OUT"), "add-voter: {e}");
                    None
                }
            }
        })
        .await;
    }
    let v = view_until(&first, "three caught-up voters", |v| {
        ids(&v["quorum"]["voters"]) == [1, 2, 3] && all_caught_up(&v["quorum"]["voters"])
    })
    .await;
    for voter in v["quorum"]["voters"].as_array().unwrap() {
        let id = voter["id"].as_i64().unwrap() as usize;
        assert_eq!(voter["endpoints"][0]["port"], ports[id - 1], "{voter}");
    }

    // The node the quorum started from dies: 2 and 3 elect a leader between
    // them at the addresses the log gave them, and metadata still commits.
    nodes[0].kill9();
    let second = nodes[1].bootstrap();
    create_eventually(&second, "after-kill", Duration::from_secs(30)).await;
    // Back from its disk, it votes again and catches up.
    nodes[0].start();
    view_until(&second, "node 1 back and caught up", |v| {
        ids(&v["quorum"]["voters"]) == [1, 2, 3] && all_caught_up(&v["quorum"]["voters"])
    })
    .await;
    // Removed by id alone: the tool takes its directory id from the quorum.
    let removed = eventually(Duration::from_secs(30), "remove-voter 1", || async {
        cluster_tool(&second, &["remove-voter", "--id", "1"])
            .await
            .ok()
    })
    .await;
    assert_eq!(removed["removed"], true);
    view_until(&second, "voters 2 and 3", |v| {
        ids(&v["quorum"]["voters"]) == [2, 3]
    })
    .await;
    create_eventually(&second, "after-remove", Duration::from_secs(30)).await;
    for node in &mut nodes {
        assert!(node.is_running(), "node {} exited", node.id);
    }
}

/// KIP-853's upkeep by the controllers themselves: node 2, formatted with
/// `--no-initial-controllers` and `controller.quorum.auto.join.enable`,
/// becomes a voter of node 1's standalone quorum without an operator; it
/// then restarts on another port, and tells the leader its new endpoint
/// (UpdateRaftVoter), which the quorum reports and the cluster uses.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_controller_joins_by_itself_and_keeps_its_endpoint_current() {
    let temp = tempfile::tempdir().unwrap();
    let (port1, port2, new_port2) = (free_port(), free_port(), free_port());
    let config = |id: i32, port: u16| {
        properties(
            id,
            port,
            "broker,controller",
            "",
            &format!(
                "controller.quorum.bootstrap.servers=127.0.0.1:{port1}\n\
                 controller.quorum.auto.join.enable={}\n",
                id == 2
            ),
        )
    };
    let mut nodes = Vec::new();
    for (id, port, flag) in [
        (1, port1, "--standalone"),
        (2, port2, "--no-initial-controllers"),
    ] {
        let path = temp.path().join(format!("node-{id}.properties"));
        let data_dir = temp.path().join(format!("node-{id}"));
        std::fs::write(&path, config(id, port)).unwrap();
        format_dynamic(&path, &data_dir, &[flag]).expect("format");
        nodes.push(Node::new(id, port, path, data_dir));
    }
    for node in &mut nodes {
        node.start();
    }
    let first = nodes[0].bootstrap();
    let v = view_until(&first, "node 2 a voter by itself", |v| {
        ids(&v["quorum"]["voters"]) == [1, 2] && all_caught_up(&v["quorum"]["voters"])
    })
    .await;
    let endpoint_port = |v: &Value, id: i64| {
        v["quorum"]["voters"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["id"] == id)
            .map(|r| r["endpoints"][0]["port"].clone())
    };
    assert_eq!(endpoint_port(&v, 2), Some(port2.into()));

    // Node 2 moves to another port.
    nodes[1].stop(Duration::from_secs(20));
    std::fs::write(&nodes[1].config, config(2, new_port2)).unwrap();
    nodes[1].port = new_port2;
    nodes[1].start();
    view_until(&first, "node 2's new endpoint in the quorum", |v| {
        endpoint_port(v, 2) == Some(new_port2.into()) && all_caught_up(&v["quorum"]["voters"])
    })
    .await;
    create_eventually(&nodes[1].bootstrap(), "moved", Duration::from_secs(30)).await;
    for node in &mut nodes {
        assert!(node.is_running(), "node {} exited", node.id);
    }
}
