//! `vltava dev-cluster`: a local multi-node cluster of real `vltava server`
//! processes on free ports of 127.0.0.1, for trying a cluster out and for
//! tests. Each node is combined (broker and controller) and a voter, gets
//! its own properties file and data directory under `--dir`, and is
//! formatted with one fresh cluster id. The bootstrap servers are printed;
//! Ctrl-C (or SIGTERM) stops every node cleanly. A node that exits on its
//! own is reported and the others keep running.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode};
use std::time::Duration;

use vltava_storage::KafkaUuid;

#[derive(clap::Args, Debug)]
pub struct DevClusterArgs {
    /// How many nodes (each a broker and a quorum voter).
    #[arg(long, default_value_t = 3)]
    nodes: u16,
    /// Where the nodes' configs, data and logs go (kept after exit; reused
    /// if it already holds a dev cluster).
    #[arg(long, value_name = "DIR", default_value = "./vltava-dev-cluster")]
    dir: PathBuf,
    /// First port; node i listens on PORT+i-1. Default: free ports.
    #[arg(long, value_name = "PORT")]
    base_port: Option<u16>,
    /// A property for every node's file (repeatable), e.g. --set num.partitions=4.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    set: Vec<String>,
}

fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn node_config(dir: &Path, id: u16) -> PathBuf {
    dir.join(format!("node-{id}.properties"))
}

fn node_data(dir: &Path, id: u16) -> PathBuf {
    dir.join(format!("node-{id}"))
}

/// Writes the configs and formats the directories of a new dev cluster, or
/// reads the ports of an existing one.
fn prepare(args: &DevClusterArgs) -> Result<Vec<u16>, String> {
    let dir = &args.dir;
    let existing = node_config(dir, 1).exists();
    if existing {
        let mut ports = Vec::new();
        for id in 1..=args.nodes {
            let text = std::fs::read_to_string(node_config(dir, id)).map_err(|e| {
                format!(
                    "{} holds a dev cluster of another size ({e}); use another --dir",
                    dir.display()
                )
            })?;
            let port = text
                .lines()
                .find_map(|l| l.strip_prefix("listeners=PLAINTEXT://127.0.0.1:"))
                .and_then(|p| p.trim().parse().ok())
                .ok_or_else(|| format!("{}: no listener", node_config(dir, id).display()))?;
            ports.push(port);
        }
        return Ok(ports);
    }
    std::fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    let ports: Vec<u16> = match args.base_port {
        Some(base) => (0..args.nodes).map(|i| base + i).collect(),
        None => (0..args.nodes)
            .map(|_| free_port())
            .collect::<Result<_, _>>()
            .map_err(|e| format!("finding free ports: {e}"))?,
    };
    let voters: Vec<String> = ports
        .iter()
        .enumerate()
        .map(|(i, p)| format!("{}@127.0.0.1:{p}", i + 1))
        .collect();
    let cluster_id = KafkaUuid::random().to_string();
    let mut extra = String::new();
    for item in &args.set {
        let (k, v) = vltava_config::parse_override(item)
            .ok_or_else(|| format!("--set {item}: expected KEY=VALUE"))?;
        extra.push_str(&format!("{k}={v}\n"));
    }
    let own_http = !args.set.iter().any(|s| s.starts_with("http.listeners="));
    for (i, port) in ports.iter().enumerate() {
        let id = i as u16 + 1;
        let config = node_config(dir, id);
        // Each node's HTTP listener on a port of its own (a multi-node
        // cluster gets none by default).
        let http = if own_http {
            let http_port = match args.base_port {
                Some(base) => base + 100 + i as u16,
                None => free_port().map_err(|e| format!("finding free ports: {e}"))?,
            };
            format!("http.listeners=127.0.0.1:{http_port}\n")
        } else {
            String::new()
        };
        std::fs::write(
            &config,
            format!(
                "# A node of `vltava dev-cluster`.\n\
                 node.id={id}\n\
                 process.roles=broker,controller\n\
                 listeners=PLAINTEXT://127.0.0.1:{port}\n\
                 controller.quorum.voters={}\n{http}{extra}",
                voters.join(",")
            ),
        )
        .map_err(|e| format!("writing {}: {e}", config.display()))?;
        let out = Command::new(std::env::current_exe().map_err(|e| e.to_string())?)
            .args(["storage", "format", "--cluster-id", &cluster_id, "--config"])
            .arg(&config)
            .arg("--data-dir")
            .arg(node_data(dir, id))
            .output()
            .map_err(|e| format!("running storage format: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "formatting node {id}: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
    }
    Ok(ports)
}

fn spawn(dir: &Path, id: u16) -> Result<Child, String> {
    let log = std::fs::File::create(dir.join(format!("node-{id}.log")))
        .map_err(|e| format!("node {id} log: {e}"))?;
    Command::new(std::env::current_exe().map_err(|e| e.to_string())?)
        .arg("server")
        .arg("--config")
        .arg(node_config(dir, id))
        .arg("--data-dir")
        .arg(node_data(dir, id))
        .stdout(log.try_clone().map_err(|e| e.to_string())?)
        .stderr(log)
        .spawn()
        .map_err(|e| format!("starting node {id}: {e}"))
}

pub fn run(args: DevClusterArgs) -> ExitCode {
    if args.nodes == 0 {
        eprintln!("error: --nodes must be at least 1");
        return ExitCode::FAILURE;
    }
    let ports = match prepare(&args) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut children = Vec::new();
    for id in 1..=args.nodes {
        match spawn(&args.dir, id) {
            Ok(child) => children.push((id, Some(child))),
            Err(e) => {
                eprintln!("error: {e}");
                stop_all(&mut children);
                return ExitCode::FAILURE;
            }
        }
    }
    let bootstrap: Vec<String> = ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
    println!("bootstrap servers: {}", bootstrap.join(","));
    let http: Vec<String> = (1..=args.nodes)
        .filter_map(|id| {
            let text = std::fs::read_to_string(node_config(&args.dir, id)).ok()?;
            text.lines()
                .find_map(|l| l.strip_prefix("http.listeners="))
                .map(|v| format!("http://{}/metrics", v.trim()))
        })
        .collect();
    if !http.is_empty() {
        println!("metrics: {}", http.join(" "));
    }
    println!(
        "logs: {}/node-N.log; Ctrl-C stops all {} nodes",
        args.dir.display(),
        args.nodes
    );
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            stop_all(&mut children);
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async {
        let signal = crate::server::wait_for_signal();
        tokio::pin!(signal);
        loop {
            tokio::select! {
                _ = &mut signal => break,
                _ = tokio::time::sleep(Duration::from_millis(500)) => {}
            }
            for (id, slot) in children.iter_mut() {
                if let Some(child) = slot {
                    if let Ok(Some(status)) = child.try_wait() {
                        eprintln!("node {id} exited ({status}); see its log");
                        *slot = None;
                    }
                }
            }
        }
    });
    stop_all(&mut children);
    ExitCode::SUCCESS
}

/// SIGTERM to every node (a clean shutdown each), then wait for them.
fn stop_all(children: &mut [(u16, Option<Child>)]) {
    for (_, child) in children.iter_mut() {
        if let Some(child) = child {
            // std can only SIGKILL a child; a node shuts down cleanly on
            // SIGTERM.
            // SAFETY: kill(2) with a pid we spawned and have not waited for.
            unsafe {
                libc::kill(child.id() as libc::pid_t, libc::SIGTERM);
            }
        }
    }
    for (id, child) in children.iter_mut() {
        if let Some(mut c) = child.take() {
            match c.wait() {
                Ok(status) => println!("node {id} stopped ({status})"),
                Err(e) => eprintln!("node {id}: {e}"),
            }
        }
    }
}
