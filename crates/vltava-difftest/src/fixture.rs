//! The two brokers under comparison: a `vltava server` process, and Apache
//! Kafka from `tests/reference/kafka/kafka.sh` (or one already running).

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use vltava_client::protocol::messages::MetadataRequest;
use vltava_client::{Connection, ConnectionConfig};

/// Broker settings both fixtures share, so that a difference in an answer
/// is not a difference in configuration: Kafka's fixture sets the same
/// (tests/reference/kafka/kafka.sh).
pub const SHARED_CONFIG: &[&str] = &[
    "num.partitions=1",
    "default.replication.factor=1",
    "offsets.topic.num.partitions=1",
    "transaction.state.log.num.partitions=1",
    "group.initial.rebalance.delay.ms=0",
];

/// A single-node Vltava on a free port with a temporary data directory;
/// killed when dropped.
pub struct VltavaServer {
    pub bootstrap: String,
    child: Child,
    _dir: tempfile::TempDir,
}

impl VltavaServer {
    pub fn start(bin: &Path) -> Result<VltavaServer, String> {
        let dir = tempfile::tempdir().map_err(|e| format!("temp dir: {e}"))?;
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| format!("free port: {e}"))?
            .port();
        let bootstrap = format!("127.0.0.1:{port}");
        let mut cmd = Command::new(bin);
        cmd.arg("server")
            .arg("--listen")
            .arg(&bootstrap)
            .arg("--data-dir")
            .arg(dir.path().join("data"))
            .env(
                "RUST_LOG",
                std::env::var("RUST_LOG").unwrap_or("warn".into()),
            )
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        for kv in SHARED_CONFIG {
            cmd.arg("--set").arg(kv);
        }
        // No HTTP listener: its default port is one per machine.
        cmd.arg("--set").arg("http.listeners=");
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("starting {}: {e}", bin.display()))?;
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = child.try_wait() {
                return Err(format!("vltava server exited while starting: {status}"));
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                return Err("vltava server did not listen within 30 s".into());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(VltavaServer {
            bootstrap,
            child,
            _dir: dir,
        })
    }
}

impl Drop for VltavaServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Apache Kafka: the cluster `KAFKA_BOOTSTRAP` names (left running), or
/// one node started with `kafka.sh` and stopped when dropped.
pub struct KafkaCluster {
    pub bootstrap: String,
    started_in: Option<String>,
    script: PathBuf,
}

impl KafkaCluster {
    pub fn script() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/reference/kafka/kafka.sh")
    }

    pub fn from_env_or_start() -> Result<KafkaCluster, String> {
        let script = Self::script();
        if let Ok(bootstrap) = std::env::var("KAFKA_BOOTSTRAP") {
            return Ok(KafkaCluster {
                bootstrap,
                started_in: None,
                script,
            });
        }
        eprintln!("starting Apache Kafka with {}", script.display());
        let out = Command::new(&script)
            .arg("start")
            .stderr(Stdio::inherit())
            .output()
            .map_err(|e| format!("running {}: {e}", script.display()))?;
        if !out.status.success() {
            return Err(format!("{} start failed: {}", script.display(), out.status));
        }
        let text = String::from_utf8_lossy(&out.stdout);
        let value = |key: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(key))
                .map(str::to_string)
                .ok_or_else(|| format!("no {key} in kafka.sh's output: {text}"))
        };
        Ok(KafkaCluster {
            bootstrap: value("KAFKA_BOOTSTRAP=")?,
            started_in: Some(value("KAFKA_DIR=")?),
            script,
        })
    }
}

impl Drop for KafkaCluster {
    fn drop(&mut self) {
        if let Some(dir) = &self.started_in {
            let _ = Command::new(&self.script)
                .arg("stop")
                .arg(dir)
                .stdout(Stdio::null())
                .status();
        }
    }
}

/// Waits until the broker at `bootstrap` answers Metadata with an active
/// controller: before that, admin requests of the first cases could meet
/// a broker still starting.
pub async fn wait_ready(bootstrap: &str, within: Duration) -> Result<(), String> {
    let deadline = Instant::now() + within;
    let mut last = String::new();
    while Instant::now() < deadline {
        match Connection::connect(bootstrap, ConnectionConfig::default()).await {
            Ok(mut c) => {
                let req = MetadataRequest {
                    topics: Some(vec![]),
                    ..Default::default()
                };
                match c.send(&req).await {
                    Ok(r) if r.controller_id >= 0 && !r.brokers.is_empty() => return Ok(()),
                    Ok(r) => last = format!("controller {}", r.controller_id),
                    Err(e) => last = e.to_string(),
                }
            }
            Err(e) => last = e.to_string(),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Err(format!("{bootstrap} not ready: {last}"))
}
