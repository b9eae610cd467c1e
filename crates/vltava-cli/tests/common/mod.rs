//! A real `vltava server` process on a free 127.0.0.1 port with its own
//! temporary data directory, for integration tests.

#![allow(dead_code)]

pub mod cluster;

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use vltava_client::{Client, ClientConfig, ConsumedRecord};

pub struct TestBroker {
    pub port: u16,
    /// The HTTP listener's port (`http.listeners`), a free one of its own
    /// so that tests running side by side never share the default.
    pub http_port: u16,
    pub data_dir: PathBuf,
    /// Listeners besides PLAINTEXT (name, port), for security tests.
    pub listeners: Vec<(String, u16)>,
    extra: Vec<String>,
    child: Option<Child>,
    _temp: Option<tempfile::TempDir>,
}

/// A port nothing listens on, for a broker to bind later. It is taken
/// below the kernel's ephemeral range (32768 and up here), not from it:
/// a port the kernel handed out for a moment is one it may hand out again
/// as the source port of some connection before the broker binds it,
/// which made cluster tests fail to start with "Address already in use".
/// Ports are taken in turn from a start that differs per process, so the
/// tests of one binary never pick the same one.
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    const LOW: u32 = 20_000;
    const SPAN: u32 = 12_000;
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let seed = std::process::id().wrapping_mul(7919)
        ^ std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
    let _ = NEXT.compare_exchange(0, seed % SPAN + 1, Ordering::Relaxed, Ordering::Relaxed);
    for _ in 0..SPAN {
        let port = (LOW + NEXT.fetch_add(1, Ordering::Relaxed) % SPAN) as u16;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port between {LOW} and {}", LOW + SPAN);
}

impl TestBroker {
    /// Starts a broker; `extra` are `--set KEY=VALUE` pairs.
    pub fn start(extra: &[&str]) -> TestBroker {
        TestBroker::start_with_listeners(&[], extra)
    }

    /// Starts a broker with the PLAINTEXT listener and one more listener
    /// of each name in `names` (SSL, SASL_PLAINTEXT, SASL_SSL, ...), each
    /// on a free port.
    pub fn start_with_listeners(names: &[&str], extra: &[&str]) -> TestBroker {
        let temp = tempfile::tempdir().expect("temp dir");
        let mut broker = TestBroker {
            port: free_port(),
            http_port: free_port(),
            data_dir: temp.path().join("data"),
            listeners: names.iter().map(|n| (n.to_string(), free_port())).collect(),
            extra: extra.iter().map(|s| s.to_string()).collect(),
            child: None,
            _temp: Some(temp),
        };
        broker.spawn();
        broker
    }

    pub fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The address of the listener named `name` (see
    /// [`TestBroker::start_with_listeners`]).
    pub fn address_of(&self, name: &str) -> String {
        let port = self
            .listeners
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, p)| *p)
            .unwrap_or_else(|| panic!("no listener {name}"));
        format!("127.0.0.1:{port}")
    }

    fn spawn(&mut self) {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_vltava"));
        cmd.arg("server");
        if self.listeners.is_empty() {
            cmd.arg("--listen").arg(self.bootstrap());
        } else {
            let mut all = format!("PLAINTEXT://{}", self.bootstrap());
            for (name, port) in &self.listeners {
                all.push_str(&format!(",{name}://127.0.0.1:{port}"));
            }
            cmd.arg("--set").arg(format!("listeners={all}"));
        }
        cmd.arg("--data-dir")
            .arg(&self.data_dir)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        if !self
            .extra
            .iter()
            .any(|kv| kv.starts_with("http.listeners="))
        {
            cmd.arg("--set")
                .arg(format!("http.listeners=127.0.0.1:{}", self.http_port));
        }
        for kv in &self.extra {
            cmd.arg("--set").arg(kv);
        }
        self.child = Some(cmd.spawn().expect("start vltava server"));
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("vltava server exited early: {status}");
            }
            assert!(Instant::now() < deadline, "broker did not start listening");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGTERM and wait: a clean shutdown.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(child.id().to_string())
                .status();
            let deadline = Instant::now() + Duration::from_secs(20);
            loop {
                if let Some(status) = child.try_wait().unwrap() {
                    assert!(status.success(), "clean shutdown exited with {status}");
                    break;
                }
                assert!(Instant::now() < deadline, "broker did not stop on SIGTERM");
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }

    /// SIGKILL: the process dies with whatever it has not flushed (the page
    /// cache survives, as after a process crash).
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().unwrap();
            child.wait().unwrap();
        }
    }

    pub fn restart(&mut self) {
        self.spawn();
    }

    pub async fn client(&self) -> Client {
        Client::connect(ClientConfig::new([self.bootstrap()]))
            .await
            .expect("connect a client")
    }

    /// The segment files of a partition, sorted.
    pub fn segment_files(&self, topic: &str, partition: i32) -> Vec<PathBuf> {
        let dir = self.data_dir.join(format!("{topic}-{partition}"));
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .map(|d| {
                d.filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| p.extension().is_some_and(|x| x == "log"))
                    .collect()
            })
            .unwrap_or_default();
        files.sort();
        files
    }

    pub fn partition_dir(&self, topic: &str, partition: i32) -> PathBuf {
        self.data_dir.join(format!("{topic}-{partition}"))
    }

    pub fn path(&self) -> &Path {
        &self.data_dir
    }
}

impl Drop for TestBroker {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Reads every record of a partition from `from` up to its high watermark.
pub async fn read_all(
    client: &mut Client,
    topic: &str,
    partition: i32,
    from: i64,
) -> Vec<ConsumedRecord> {
    let mut out = Vec::new();
    let mut offset = from;
    loop {
        let fetched = client
            .fetch(topic, partition, offset, 100, 1 << 20)
            .await
            .expect("fetch");
        out.extend(fetched.records);
        if fetched.next_offset >= fetched.high_watermark || fetched.next_offset == offset {
            return out;
        }
        offset = fetched.next_offset;
    }
}
