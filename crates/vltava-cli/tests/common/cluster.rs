//! Multi-node clusters of real `vltava server` processes for the cluster,
//! snapshot and quorum-tool tests: nodes formatted with `vltava storage
//! format` and one cluster id, short quorum timeouts so faults resolve
//! quickly, and the polling helpers the tests wait with.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use vltava_client::{Client, ClientConfig, NewTopic};

pub use super::free_port;

/// The binary under test.
pub fn vltava() -> Command {
    Command::new(env!("CARGO_BIN_EXE_vltava"))
}

/// One node: its config file, data directory and process.
pub struct Node {
    pub id: i32,
    pub port: u16,
    pub config: PathBuf,
    pub data_dir: PathBuf,
    /// The HTTP listener's port, when the node has one (`Cluster` gives
    /// each node a free port of its own).
    pub http_port: Option<u16>,
    /// When set, the node's log goes to this file at `info` (for tests
    /// that look for a log line), whatever `VLTAVA_TEST_LOG_DIR` says.
    pub log_file: Option<PathBuf>,
    /// More arguments for `vltava server` (e.g. `--set log.dirs=...`).
    pub extra_args: Vec<String>,
    child: Option<Child>,
}

impl Node {
    /// A node that is not running yet.
    pub fn new(id: i32, port: u16, config: PathBuf, data_dir: PathBuf) -> Node {
        Node {
            id,
            port,
            config,
            data_dir,
            http_port: None,
            log_file: None,
            extra_args: Vec::new(),
            child: None,
        }
    }

    pub fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Starts the server. Its log goes to the test's stderr at `warn`,
    /// unless `VLTAVA_TEST_LOG_DIR` names a directory: then each node
    /// appends to `node-<id>.log` there, at `VLTAVA_TEST_RUST_LOG` (default
    /// `info`), which outlives the cluster's temporary directory.
    pub fn start(&mut self) {
        let mut command = vltava();
        command
            .arg("server")
            .arg("--config")
            .arg(&self.config)
            .arg("--data-dir")
            .arg(&self.data_dir)
            .args(&self.extra_args)
            .stdout(Stdio::null());
        if let Some(path) = &self.log_file {
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .expect("open the node's log file");
            command.env("RUST_LOG", "info").stderr(file);
            self.child = Some(command.spawn().expect("start vltava server"));
            return;
        }
        match std::env::var_os("VLTAVA_TEST_LOG_DIR") {
            Some(dir) => {
                let path = PathBuf::from(dir).join(format!("node-{}.log", self.id));
                let file = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&path)
                    .expect("open the node's log file");
                eprintln!("node {} logs to {}", self.id, path.display());
                let level = std::env::var("VLTAVA_TEST_RUST_LOG").unwrap_or_else(|_| "info".into());
                command.env("RUST_LOG", level).stderr(file);
            }
            None => {
                command.env("RUST_LOG", "warn").stderr(Stdio::inherit());
            }
        }
        self.child = Some(command.spawn().expect("start vltava server"));
    }

    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGSTOP or SIGCONT: a process that stops answering without dying.
    pub fn signal(&self, signal: &str) {
        let pid = self.child.as_ref().expect("running").id();
        let status = Command::new("kill")
            .args([signal, &pid.to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
    }

    /// SIGTERM (the broker's controlled shutdown) and waits for the
    /// process to exit, for up to `limit`; returns how long it took.
    /// Panics if it is still running then or exits unsuccessfully.
    pub fn stop(&mut self, limit: Duration) -> Duration {
        let started = Instant::now();
        self.signal("-TERM");
        let mut child = self.child.take().expect("running");
        loop {
            if let Some(status) = child.try_wait().expect("wait for the node") {
                assert!(status.success(), "node {} exited with {status}", self.id);
                return started.elapsed();
            }
            if started.elapsed() > limit {
                let _ = child.kill();
                let _ = child.wait();
                panic!("node {} did not stop within {limit:?} of SIGTERM", self.id);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The directory of a partition's log on this node.
    pub fn partition_dir(&self, topic: &str, partition: i32) -> PathBuf {
        self.data_dir.join(format!("{topic}-{partition}"))
    }

    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| c.try_wait().ok().flatten().is_none())
    }

    pub fn metadata_log_dir(&self) -> PathBuf {
        self.data_dir.join("metadata").join("__cluster_metadata-0")
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// A node's properties: `roles` and any `extra` lines on top of the
/// settings every test node shares (short timeouts keep the tests quick).
pub fn properties(id: i32, port: u16, roles: &str, voters: &str, extra: &str) -> String {
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

/// `vltava storage format` of one node's directory.
pub fn format_storage(cluster_id: &str, config: &Path, data_dir: &Path) {
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

pub struct Cluster {
    pub cluster_id: String,
    /// `controller.quorum.voters` of the founding voters.
    pub voters: String,
    pub nodes: Vec<Node>,
    temp: tempfile::TempDir,
}

impl Cluster {
    /// Formats and starts `n` combined nodes.
    pub fn start(n: i32) -> Cluster {
        Cluster::start_with(n, 0, "")
    }

    /// Formats and starts nodes 1..=`voters` (controllers; combined when
    /// `brokers` is 0) and then `brokers` broker-only nodes, every one with
    /// the `extra` config lines.
    pub fn start_with(voters: i32, brokers: i32, extra: &str) -> Cluster {
        Cluster::start_with_each(voters, brokers, |_| extra.to_string())
    }

    /// Like [`Cluster::start_with`], with each node's own extra config
    /// lines (`extra(id)`), e.g. its `broker.rack`.
    pub fn start_with_each(voters: i32, brokers: i32, extra: impl Fn(i32) -> String) -> Cluster {
        let temp = tempfile::tempdir().expect("temp dir");
        let out = vltava()
            .args(["storage", "random-uuid"])
            .output()
            .expect("random-uuid");
        assert!(out.status.success());
        let cluster_id = String::from_utf8(out.stdout).unwrap().trim().to_string();
        let ports: Vec<u16> = (0..voters + brokers).map(|_| free_port()).collect();
        let voter_list = ports
            .iter()
            .take(voters as usize)
            .enumerate()
            .map(|(i, p)| format!("{}@127.0.0.1:{p}", i + 1))
            .collect::<Vec<_>>()
            .join(",");
        let mut cluster = Cluster {
            cluster_id,
            voters: voter_list,
            nodes: Vec::new(),
            temp,
        };
        for (i, port) in ports.into_iter().enumerate() {
            let id = i as i32 + 1;
            let roles = match (id <= voters, brokers) {
                (true, 0) => "broker,controller",
                (true, _) => "controller",
                (false, _) => "broker",
            };
            cluster.add_node(id, port, roles, &extra(id));
        }
        for node in &mut cluster.nodes {
            node.start();
        }
        cluster
    }

    /// Writes the config of node `id`, formats its directory with the
    /// cluster's id, and adds it to the cluster without starting it.
    pub fn add_node(&mut self, id: i32, port: u16, roles: &str, extra: &str) {
        let config = self.temp.path().join(format!("node-{id}.properties"));
        let data_dir = self.temp.path().join(format!("node-{id}"));
        let http_port = free_port();
        let extra = format!("http.listeners=127.0.0.1:{http_port}\n{extra}");
        std::fs::write(&config, properties(id, port, roles, &self.voters, &extra)).unwrap();
        format_storage(&self.cluster_id, &config, &data_dir);
        let mut node = Node::new(id, port, config, data_dir);
        node.http_port = Some(http_port);
        self.nodes.push(node);
    }

    /// Formats `n` combined nodes whose whole properties `config(id, port,
    /// controller_port, voters)` gives, for tests that choose their own
    /// listeners: `port` is the one clients bootstrap from (`Node::port`),
    /// `voters` is `controller.quorum.voters` at the controller ports. The
    /// nodes are not started, so a test may set their `log_file` first.
    pub fn format_custom(n: i32, config: impl Fn(i32, u16, u16, &str) -> String) -> Cluster {
        let temp = tempfile::tempdir().expect("temp dir");
        let out = vltava()
            .args(["storage", "random-uuid"])
            .output()
            .expect("random-uuid");
        assert!(out.status.success());
        let cluster_id = String::from_utf8(out.stdout).unwrap().trim().to_string();
        let ports: Vec<(u16, u16)> = (0..n).map(|_| (free_port(), free_port())).collect();
        let voters = ports
            .iter()
            .enumerate()
            .map(|(i, (_, c))| format!("{}@127.0.0.1:{c}", i + 1))
            .collect::<Vec<_>>()
            .join(",");
        let mut nodes = Vec::new();
        for (i, (port, controller_port)) in ports.into_iter().enumerate() {
            let id = i as i32 + 1;
            let path = temp.path().join(format!("node-{id}.properties"));
            let data_dir = temp.path().join(format!("node-{id}"));
            std::fs::write(&path, config(id, port, controller_port, &voters)).unwrap();
            format_storage(&cluster_id, &path, &data_dir);
            nodes.push(Node::new(id, port, path, data_dir));
        }
        Cluster {
            cluster_id,
            voters,
            nodes,
            temp,
        }
    }

    /// The cluster's temporary directory (certificates, logs).
    pub fn dir(&self) -> &Path {
        self.temp.path()
    }

    pub fn node(&mut self, id: i32) -> &mut Node {
        &mut self.nodes[(id - 1) as usize]
    }
}

/// A topic of `partitions` partitions, one replica each (replication
/// arrives with the next issue).
pub fn topic(name: &str, partitions: i32) -> NewTopic {
    NewTopic {
        num_partitions: Some(partitions),
        replication_factor: Some(1),
        ..NewTopic::new(name)
    }
}

pub async fn client_of(bootstrap: &str) -> Option<Client> {
    let mut config = ClientConfig::new([bootstrap.to_string()]);
    config.connection.connect_timeout = Duration::from_secs(2);
    config.connection.request_timeout = Duration::from_secs(10);
    Client::connect(config).await.ok()
}

/// Polls `check` every 100 ms until it returns `Some`, for up to `limit`.
pub async fn eventually<T, F, Fut>(limit: Duration, what: &str, mut check: F) -> T
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

/// Retries CreateTopics of a one-partition topic through `bootstrap` until
/// it succeeds.
pub async fn create_eventually(bootstrap: &str, name: &str, limit: Duration) {
    eventually(limit, &format!("CreateTopics {name}"), || async move {
        let mut client = client_of(bootstrap).await?;
        client.create_topic(&topic(name, 1)).await.ok()
    })
    .await;
}

/// The brokers and controller a node's Metadata answer lists.
pub async fn view(bootstrap: &str) -> Option<(Vec<i32>, i32)> {
    let mut client = client_of(bootstrap).await?;
    let md = client.metadata(Some(&[])).await.ok()?;
    Some((
        md.brokers.iter().map(|b| b.node_id).collect(),
        md.controller_id,
    ))
}

/// Waits until every listed node's Metadata shows exactly `brokers` and the
/// same active controller; returns that controller.
pub async fn converged(cluster: &Cluster, nodes: &[i32], brokers: &[i32]) -> i32 {
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

/// Kafka's placement of a group or transactional id in its internal topic:
/// Java's String.hashCode, sign bit masked, modulo the partition count.
pub fn internal_partition(key: &str, partitions: i32) -> i32 {
    let hash = key
        .encode_utf16()
        .fold(0i32, |h, c| h.wrapping_mul(31).wrapping_add(i32::from(c)));
    (hash & 0x7fff_ffff) % partitions
}

/// Every record of `topic`-`partition` up to its high watermark, read from
/// its leader, as offset → value (`super::read_all` does the paging).
pub async fn values_by_offset(
    client: &mut Client,
    topic: &str,
    partition: i32,
) -> std::collections::BTreeMap<i64, String> {
    super::read_all(client, topic, partition, 0)
        .await
        .into_iter()
        .map(|r| {
            let value = String::from_utf8(r.value.unwrap_or_default().to_vec()).unwrap();
            (r.offset, value)
        })
        .collect()
}

/// Every acknowledged (value, offset) is in `log` at that offset, and the
/// value is nowhere else: nothing acknowledged was lost, moved or written
/// twice.
pub fn check_acked(
    log: &std::collections::BTreeMap<i64, String>,
    acked: &[(String, i64)],
    what: &str,
) {
    for (value, offset) in acked {
        assert_eq!(
            log.get(offset),
            Some(value),
            "{what}: acknowledged {value} at {offset} is not there"
        );
        let copies = log.values().filter(|v| *v == value).count();
        assert_eq!(copies, 1, "{what}: {value} appears {copies} times");
    }
}

// An async-aware lock: it is held across the whole test, awaits
// included; a test that panicked releases it (no poisoning).
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Held for a whole test, so that the clusters of one test binary's tests
/// do not share the machine's cores with each other.
pub async fn serial() -> tokio::sync::MutexGuard<'static, ()> {
    SERIAL.lock().await
}
