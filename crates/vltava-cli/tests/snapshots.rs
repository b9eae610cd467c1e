//! Metadata snapshots across real `vltava server` processes (KIP-630): a
//! node is stopped, the others take so many metadata changes (with tiny
//! snapshot thresholds) that their logs start past everything it has, and
//! when it returns it can only catch up by fetching a snapshot
//! (FetchSnapshot), installing it and loading its image.
//!
//! The helpers are copies of the small ones in `cluster.rs`, with the
//! snapshot settings added to every node's config.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use vltava_client::{Client, ClientConfig, NewTopic};
use vltava_quorum::disk_log::{parse_snapshot_file_name, DiskLog, DiskLogOptions};
use vltava_raft::{ReplicatedLog, SnapshotId};

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().unwrap().port()
}

fn vltava() -> Command {
    Command::new(env!("CARGO_BIN_EXE_vltava"))
}

struct Node {
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

    fn metadata_log_dir(&self) -> PathBuf {
        self.data_dir.join("metadata").join("__cluster_metadata-0")
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill9();
    }
}

struct Cluster {
    nodes: Vec<Node>,
    _temp: tempfile::TempDir,
}

impl Cluster {
    /// Formats and starts `n` combined nodes with `extra` config lines.
    fn start(n: i32, extra: &str) -> Cluster {
        let temp = tempfile::tempdir().expect("temp dir");
        let out = vltava()
            .args(["storage", "random-uuid"])
            .output()
            .expect("random-uuid");
        assert!(out.status.success());
        let cluster_id = String::from_utf8(out.stdout).unwrap().trim().to_string();
        let ports: Vec<u16> = (0..n).map(|_| free_port()).collect();
        let voters: Vec<String> = ports
            .iter()
            .enumerate()
            .map(|(i, p)| format!("{}@127.0.0.1:{p}", i + 1))
            .collect();
        let mut nodes = Vec::new();
        for (i, port) in ports.iter().enumerate() {
            let id = i as i32 + 1;
            let config = temp.path().join(format!("node-{id}.properties"));
            let data_dir = temp.path().join(format!("node-{id}"));
            std::fs::write(
                &config,
                format!(
                    "node.id={id}\n\
                     process.roles=broker,controller\n\
                     listeners=PLAINTEXT://127.0.0.1:{port}\n\
                     controller.quorum.voters={}\n\
                     controller.quorum.election.timeout.ms=300\n\
                     controller.quorum.fetch.timeout.ms=600\n\
                     controller.quorum.election.backoff.max.ms=300\n\
                     controller.quorum.request.timeout.ms=500\n\
                     broker.heartbeat.interval.ms=300\n\
                     broker.session.timeout.ms=2000\n\
                     {extra}",
                    voters.join(",")
                ),
            )
            .unwrap();
            let status = vltava()
                .args(["storage", "format", "--cluster-id", &cluster_id, "--config"])
                .arg(&config)
                .arg("--data-dir")
                .arg(&data_dir)
                .stdout(Stdio::null())
                .status()
                .expect("storage format");
            assert!(status.success(), "formatting node {id}");
            nodes.push(Node {
                port: *port,
                config,
                data_dir,
                child: None,
            });
        }
        for node in &mut nodes {
            node.start();
        }
        Cluster { nodes, _temp: temp }
    }

    fn node(&mut self, id: i32) -> &mut Node {
        &mut self.nodes[(id - 1) as usize]
    }
}

fn topic(name: &str) -> NewTopic {
    NewTopic {
        num_partitions: Some(1),
        replication_factor: Some(1),
        ..NewTopic::new(name)
    }
}

async fn client_of(bootstrap: &str) -> Option<Client> {
    let mut config = ClientConfig::new([bootstrap.to_string()]);
    config.connection.connect_timeout = Duration::from_secs(2);
    config.connection.request_timeout = Duration::from_secs(10);
    Client::connect(config).await.ok()
}

/// Polls `check` every 100 ms until it returns `Some`, for up to `limit`.
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
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The brokers and controller a node's Metadata answer lists.
async fn view(bootstrap: &str) -> Option<(Vec<i32>, i32)> {
    let mut client = client_of(bootstrap).await?;
    let md = client.metadata(Some(&[])).await.ok()?;
    Some((
        md.brokers.iter().map(|b| b.node_id).collect(),
        md.controller_id,
    ))
}

/// Waits until every listed node's Metadata shows exactly `brokers` and the
/// same active controller; returns that controller.
async fn converged(cluster: &Cluster, nodes: &[i32], brokers: &[i32]) -> i32 {
    let bootstraps: Vec<String> = nodes
        .iter()
        .map(|id| cluster.nodes[(*id - 1) as usize].bootstrap())
        .collect();
    eventually(Duration::from_secs(30), "the cluster to converge", || {
        let bootstraps = bootstraps.clone();
        let brokers = brokers.to_vec();
        async move {
            let mut controllers = Vec::new();
            for b in &bootstraps {
                let (listed, controller) = view(b).await?;
                if listed != brokers || controller < 0 {
                    return None;
                }
                controllers.push(controller);
            }
            controllers.dedup();
            (controllers.len() == 1).then(|| controllers[0])
        }
    })
    .await
}

/// The snapshot files in a metadata log directory, oldest first.
fn snapshots(dir: &Path) -> Vec<SnapshotId> {
    let mut ids: Vec<SnapshotId> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| parse_snapshot_file_name(&e.ok()?.file_name().to_string_lossy()))
                .collect()
        })
        .unwrap_or_default();
    ids.sort();
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_fell_behind_the_log_start_catches_up_from_a_snapshot() {
    let mut cluster = Cluster::start(
        3,
        // A snapshot every few changes, and small segments so that the log
        // before a snapshot really goes.
        "metadata.log.max.record.bytes.between.snapshots=1000\n\
         metadata.log.max.snapshot.interval.ms=0\n\
         internal.metadata.log.segment.bytes=4096\n",
    );
    let controller = converged(&cluster, &[1, 2, 3], &[1, 2, 3]).await;
    let victim = if controller == 3 { 2 } else { 3 };
    let survivors: Vec<i32> = (1..=3).filter(|id| *id != victim).collect();

    // The victim stops; what its log holds is all it will have.
    cluster.node(victim).kill9();
    let victim_end = {
        let log = DiskLog::open(
            &cluster.node(victim).metadata_log_dir(),
            DiskLogOptions::default(),
        )
        .expect("the stopped node's metadata log");
        let end = log.end_offset();
        log.close().unwrap();
        end
    };

    // Many changes through the survivors (any of them: the client follows
    // NOT_CONTROLLER to the active one).
    converged(&cluster, &survivors, &survivors).await;
    let names: Vec<String> = (0..60).map(|i| format!("snap-{i:02}")).collect();
    let bootstrap = cluster.node(survivors[0]).bootstrap();
    let mut client = client_of(&bootstrap).await.expect("a client");
    for name in &names {
        client
            .create_topic(&topic(name))
            .await
            .expect("create topic");
    }

    // Every survivor snapshots, and its log now starts past the victim's
    // end: the victim cannot catch up by Fetch alone.
    for id in &survivors {
        let dir = cluster.node(*id).metadata_log_dir();
        eventually(
            Duration::from_secs(20),
            &format!("node {id}'s log to start past {victim_end}"),
            || {
                let dir = dir.clone();
                async move {
                    snapshots(&dir)
                        .last()
                        .filter(|s| s.end_offset > victim_end)
                        .copied()
                }
            },
        )
        .await;
    }

    // The victim returns, fetches a snapshot, loads it and lists every
    // topic, created while it was away.
    cluster.node(victim).start();
    let back = cluster.node(victim).bootstrap();
    let listed = eventually(
        Duration::from_secs(30),
        "the returning node to list every topic",
        || {
            let back = back.clone();
            let names = names.clone();
            async move {
                let mut c = client_of(&back).await?;
                let topics = c.list_topics(false).await.ok()?;
                names.iter().all(|n| topics.contains(n)).then_some(topics)
            }
        },
    )
    .await;
    assert_eq!(listed.len(), names.len(), "{listed:?}");
    // Its log now starts at a snapshot past where it stopped: it was
    // installed from the leader, not rebuilt from its old log.
    let installed = snapshots(&cluster.node(victim).metadata_log_dir());
    assert!(
        installed.iter().any(|s| s.end_offset > victim_end),
        "{installed:?} after stopping at {victim_end}"
    );
    // It registers again and is unfenced: the whole cluster converges.
    converged(&cluster, &[1, 2, 3], &[1, 2, 3]).await;
    for id in 1..=3 {
        assert!(cluster.node(id).is_running(), "node {id} exited");
    }
}
