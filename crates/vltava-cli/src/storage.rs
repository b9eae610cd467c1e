//! `vltava storage`: prepares data directories before a node first starts,
//! as Kafka's `kafka-storage.sh` does.
//!
//! - `random-uuid` prints a new cluster id.
//! - `format --cluster-id ID --config FILE` writes `meta.properties` (cluster
//!   id, node id, a fresh directory id) into the data directory and the
//!   metadata log directory. A node that is a voter of a multi-node quorum
//!   refuses to start on a directory without it, so a wiped disk cannot
//!   rejoin silently as an empty voter.
//!
//! The voter set is either static (`controller.quorum.voters` in the config
//! file) or dynamic (KIP-853: the config names only
//! `controller.quorum.bootstrap.servers`, and the voters live in the
//! metadata log). A dynamic quorum starts from a bootstrap checkpoint that
//! format writes into the metadata log directory, as Kafka's does:
//!
//! - `--standalone`: this controller is the only voter; more are added
//!   later with AddRaftVoter (`vltava cluster add-voter`).
//! - `--initial-controllers 1@host:port:DIR_ID,...`: these voters, the
//!   same list on each of them; this node's metadata directory gets the
//!   directory id the list gives it.
//! - `--no-initial-controllers`: no checkpoint; the node (a broker, or a
//!   controller that will be added) learns the voters from the leader.
//!
//! A controller of a dynamic quorum must be given one of the three, so a
//! forgotten flag cannot make a node that votes on nothing.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use vltava_quorum::disk_log::DiskLog;
use vltava_raft::{Endpoint, Voter};
use vltava_storage::{KafkaUuid, MetaProperties};

use crate::server::{build_config, ServerArgs};

#[derive(clap::Subcommand, Debug)]
pub enum StorageCommand {
    /// Print a new random cluster id.
    RandomUuid,
    /// Write the identity of this node and cluster into its directories.
    Format(FormatArgs),
}

#[derive(clap::Args, Debug)]
pub struct FormatArgs {
    /// The cluster id (from `vltava storage random-uuid`), the same on every node.
    #[arg(long, short = 't', value_name = "ID")]
    cluster_id: String,
    /// The node's properties file (node.id, process.roles, controller.quorum.voters, ...).
    #[arg(long, short = 'c', value_name = "FILE")]
    config: PathBuf,
    /// Data directory, if not the file's log.dirs.
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Override one property (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    set: Vec<String>,
    /// Succeed without changes when a directory is already formatted with this identity.
    #[arg(long, short = 'g')]
    ignore_formatted: bool,
    /// Bootstrap a dynamic quorum (KIP-853) with this controller as its only voter.
    #[arg(long, short = 's', conflicts_with_all = ["initial_controllers", "no_initial_controllers"])]
    standalone: bool,
    /// Bootstrap a dynamic quorum (KIP-853) with these voters: the same list on each of them.
    #[arg(
        long,
        short = 'I',
        value_name = "ID@HOST:PORT:DIR_ID,...",
        conflicts_with = "no_initial_controllers"
    )]
    initial_controllers: Option<String>,
    /// Join a dynamic quorum (KIP-853) later: no initial voters are written.
    #[arg(long, short = 'N')]
    no_initial_controllers: bool,
}

/// One entry of `--initial-controllers`: `id@host:port:directory-id`, the
/// host possibly a bracketed IPv6 address.
fn parse_initial_controller(entry: &str, listener: &str) -> Result<Voter, String> {
    let bad = |why: &str| {
        format!("--initial-controllers entry {entry:?}: {why} (expected ID@HOST:PORT:DIRECTORY_ID)")
    };
    let (id, rest) = entry.split_once('@').ok_or_else(|| bad("no '@'"))?;
    let id: i32 = id
        .trim()
        .parse()
        .ok()
        .filter(|id| *id >= 0)
        .ok_or_else(|| bad("the id is not a node id"))?;
    let (address, dir) = rest
        .rsplit_once(':')
        .ok_or_else(|| bad("no directory id"))?;
    let (host, port) = address.rsplit_once(':').ok_or_else(|| bad("no port"))?;
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    if host.is_empty() {
        return Err(bad("no host"));
    }
    let port: u16 = port
        .parse()
        .ok()
        .filter(|p| *p > 0)
        .ok_or_else(|| bad("the port is not a port"))?;
    let dir = KafkaUuid::from_base64(dir)
        .filter(|d| d.0 != [0; 16])
        .ok_or_else(|| bad("the directory id is not a Kafka uuid (vltava storage random-uuid)"))?;
    Ok(Voter {
        id,
        directory_id: dir.0,
        endpoints: vec![Endpoint {
            name: listener.to_string(),
            host: host.to_string(),
            port,
        }],
    })
}

pub fn run(command: StorageCommand) -> ExitCode {
    match command {
        StorageCommand::RandomUuid => {
            println!("{}", KafkaUuid::random());
            ExitCode::SUCCESS
        }
        StorageCommand::Format(args) => match format(&args) {
            Ok(lines) => {
                for line in lines {
                    println!("{line}");
                }
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
        },
    }
}

/// Formats the directories; returns what was done, one line per directory.
pub fn format(args: &FormatArgs) -> Result<Vec<String>, String> {
    let cluster_id = KafkaUuid::from_base64(&args.cluster_id).ok_or_else(|| {
        format!(
            "cluster id {:?} is not a base64 UUID (use `vltava storage random-uuid`)",
            args.cluster_id
        )
    })?;
    let server_args = ServerArgs {
        data_dir: args.data_dir.clone(),
        listen: None,
        config: Some(args.config.clone()),
        set: args.set.clone(),
    };
    let (config, data_dir) = build_config(&server_args)?;
    if config.node_id().is_none() {
        return Err(format!("{}: node.id is not set", args.config.display()));
    }
    let node_id = config.node_id().expect("checked");
    let initial_voters = initial_voters(args, &config, node_id)?;
    // Every log directory (log.dirs), and the metadata log's.
    let mut dirs = vltava_broker::broker::data_dirs(&config, &data_dir);
    // Only an explicit metadata.log.dir is a directory of its own; without
    // it the metadata lives in the data directory, as the server puts it.
    let metadata_dir = match config.metadata_log_dir_setting() {
        Some(meta) => PathBuf::from(meta),
        None => data_dir.clone(),
    };
    if !dirs.contains(&metadata_dir) {
        dirs.push(metadata_dir.clone());
    }
    // The metadata directory's id is this node's voter directory id: the
    // one --initial-controllers gives it, else a new one, which
    // --standalone then writes into the checkpoint.
    let listed_dir = initial_voters
        .iter()
        .flatten()
        .find(|v| v.id == node_id)
        .map(|v| KafkaUuid(v.directory_id));
    let mut done = Vec::new();
    for dir in dirs {
        let directory_id = match listed_dir {
            Some(id) if dir == metadata_dir => id,
            _ => KafkaUuid::random(),
        };
        let (line, written) = format_dir(
            &dir,
            node_id,
            &cluster_id.to_string(),
            directory_id,
            args.ignore_formatted,
        )?;
        done.push(line);
        if dir != metadata_dir || !written {
            continue;
        }
        if let Some(mut voters) = initial_voters.clone() {
            if args.standalone {
                voters = vec![Voter {
                    id: node_id,
                    directory_id: directory_id.0,
                    endpoints: vltava_broker::broker::controller_endpoints(&config),
                }];
            }
            let log_dir = vltava_quorum::driver::QuorumConfig::new(
                node_id,
                cluster_id.to_string(),
                Default::default(),
                vltava_broker::broker::metadata_dir(&config, &data_dir),
            )
            .log_dir();
            DiskLog::write_bootstrap_checkpoint(&log_dir, &voters)
                .map_err(|e| format!("{}: {e}", log_dir.display()))?;
            let ids: Vec<String> = voters.iter().map(|v| v.id.to_string()).collect();
            done.push(format!(
                "wrote the bootstrap checkpoint of a dynamic quorum with voters {} into {}",
                ids.join(", "),
                log_dir.display()
            ));
        }
    }
    Ok(done)
}

/// The initial voters a dynamic quorum's bootstrap checkpoint names:
/// `Some` for --standalone (filled in once this node's directory id is
/// known) and --initial-controllers, `None` when no checkpoint is written.
/// Refuses the combinations Kafka refuses.
fn initial_voters(
    args: &FormatArgs,
    config: &vltava_config::BrokerConfig,
    node_id: i32,
) -> Result<Option<Vec<Voter>>, String> {
    let static_voters = !config.controller_quorum_voters().is_empty();
    let dynamic_flag = args.standalone || args.initial_controllers.is_some();
    if static_voters && dynamic_flag {
        return Err(
            "controller.quorum.voters is set: that is a static quorum; --standalone and \
             --initial-controllers bootstrap a dynamic one (remove controller.quorum.voters and \
             set controller.quorum.bootstrap.servers)"
                .to_string(),
        );
    }
    let roles = config.process_roles();
    // Unset roles are what `vltava server` alone runs: both.
    let controller = roles.controller || !roles.broker;
    let dynamic = !static_voters && !config.controller_quorum_bootstrap_servers().is_empty();
    if dynamic_flag && !controller {
        return Err(
            "--standalone and --initial-controllers are for controllers; a broker \
                    is formatted with --no-initial-controllers (or neither)"
                .to_string(),
        );
    }
    if controller && dynamic && !dynamic_flag && !args.no_initial_controllers {
        return Err(
            "controller.quorum.voters is not set on this controller: give one of --standalone \
             (the first controller of a new quorum), --initial-controllers (several at once) or \
             --no-initial-controllers (a controller to be added later)"
                .to_string(),
        );
    }
    if args.standalone {
        if let Some(problem) = vltava_broker::broker::dynamic_voter_endpoint_problem(config) {
            return Err(format!("--standalone: {problem}"));
        }
        return Ok(Some(Vec::new()));
    }
    let Some(list) = &args.initial_controllers else {
        return Ok(None);
    };
    // The listener name the node itself will report for its endpoint (its
    // first controller listener, or without controller.listener.names its
    // first advertised one), so that it has no endpoint update to make.
    let listener = vltava_broker::broker::controller_endpoints(config)
        .into_iter()
        .next()
        .map_or_else(|| "CONTROLLER".to_string(), |e| e.name);
    let mut voters: Vec<Voter> = Vec::new();
    for entry in list.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let voter = parse_initial_controller(entry, &listener)?;
        if voters.iter().any(|v| v.id == voter.id) {
            return Err(format!(
                "--initial-controllers names node {} twice",
                voter.id
            ));
        }
        if voters.iter().any(|v| v.directory_id == voter.directory_id) {
            return Err(format!(
                "--initial-controllers gives two voters the directory id {}",
                KafkaUuid(voter.directory_id)
            ));
        }
        voters.push(voter);
    }
    if voters.is_empty() {
        return Err("--initial-controllers names no voter".to_string());
    }
    if !voters.iter().any(|v| v.id == node_id) {
        return Err(format!(
            "--initial-controllers does not name this node ({node_id}); a controller to be \
             added later is formatted with --no-initial-controllers"
        ));
    }
    Ok(Some(voters))
}

/// Formats one directory; returns what was done and whether it was written
/// now (false when it was already formatted and that was accepted).
fn format_dir(
    dir: &Path,
    node_id: i32,
    cluster_id: &str,
    directory_id: KafkaUuid,
    ignore_formatted: bool,
) -> Result<(String, bool), String> {
    let shown = dir.display();
    match vltava_storage::read_meta_properties(dir).map_err(|e| format!("{shown}: {e}"))? {
        Some(meta)
            if meta.cluster_id == cluster_id && meta.node_id == node_id && ignore_formatted =>
        {
            return Ok((
                format!("{shown} is already formatted for node {node_id} of cluster {cluster_id}"),
                false,
            ));
        }
        Some(meta) => {
            return Err(format!(
                "{shown} is already formatted (node {} of cluster {}); a directory is formatted \
                 once{}",
                meta.node_id,
                meta.cluster_id,
                if ignore_formatted {
                    ""
                } else {
                    " (--ignore-formatted accepts the same identity)"
                }
            ))
        }
        None => {}
    }
    std::fs::create_dir_all(dir).map_err(|e| format!("creating {shown}: {e}"))?;
    let meta = MetaProperties {
        node_id,
        cluster_id: cluster_id.to_string(),
        directory_id: Some(directory_id),
    };
    vltava_storage::write_meta_properties(dir, &meta).map_err(|e| format!("{shown}: {e}"))?;
    Ok((
        format!("formatted {shown} for node {node_id} of cluster {cluster_id}"),
        true,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn initial_controller_entries_are_parsed_and_checked() {
        let dir = KafkaUuid::random();
        let v =
            parse_initial_controller(&format!("3@c3.example:9093:{dir}"), "CONTROLLER").unwrap();
        assert_eq!(v.id, 3);
        assert_eq!(v.directory_id, dir.0);
        assert_eq!(
            v.endpoints,
            vec![Endpoint {
                name: "CONTROLLER".into(),
                host: "c3.example".into(),
                port: 9093
            }]
        );
        let v = parse_initial_controller(&format!("0@[::1]:9093:{dir}"), "C").unwrap();
        assert_eq!(v.endpoints[0].host, "::1");
        for bad in [
            format!("c3:9093:{dir}"),
            format!("-1@c3:9093:{dir}"),
            format!("x@c3:9093:{dir}"),
            format!("3@c3:0:{dir}"),
            format!("3@:9093:{dir}"),
            "3@c3:9093".to_string(),
            "3@c3:9093:AAAAAAAAAAAAAAAAAAAAAA".to_string(),
            "3@c3:9093:not-a-uuid".to_string(),
        ] {
            assert!(parse_initial_controller(&bad, "C").is_err(), "{bad}");
        }
    }

    fn args(flags: (bool, Option<&str>, bool)) -> FormatArgs {
        FormatArgs {
            cluster_id: "MkU3OEVBNTcwNTJENDM2Qg".into(),
            config: PathBuf::from("unused"),
            data_dir: None,
            set: Vec::new(),
            ignore_formatted: false,
            standalone: flags.0,
            initial_controllers: flags.1.map(str::to_string),
            no_initial_controllers: flags.2,
        }
    }

    fn config(text: &str) -> vltava_config::BrokerConfig {
        let props = vltava_config::parse_properties(text).unwrap();
        vltava_config::BrokerConfig::from_sources(props, Vec::new()).unwrap()
    }

    #[test]
    fn a_dynamic_controller_must_say_how_it_starts_and_static_ones_may_not() {
        let dynamic = config(
            "node.id=1\nprocess.roles=broker,controller\nlisteners=PLAINTEXT://127.0.0.1:9092\n\
             controller.quorum.bootstrap.servers=127.0.0.1:9092\n",
        );
        let none = initial_voters(&args((false, None, false)), &dynamic, 1).unwrap_err();
        assert!(none.contains("--standalone"), "{none}");
        assert_eq!(
            initial_voters(&args((false, None, true)), &dynamic, 1).unwrap(),
            None
        );
        assert_eq!(
            initial_voters(&args((true, None, false)), &dynamic, 1).unwrap(),
            Some(Vec::new()),
            "filled in with this node once its directory id is known"
        );
        let dir = KafkaUuid::random();
        let list = format!("1@h1:9093:{dir},2@h2:9093:{}", KafkaUuid::random());
        let voters = initial_voters(&args((false, Some(&list), false)), &dynamic, 1)
            .unwrap()
            .unwrap();
        assert_eq!(voters.iter().map(|v| v.id).collect::<Vec<_>>(), [1, 2]);
        // The node itself must be one of them; no id or directory twice.
        let other = format!("2@h2:9093:{dir}");
        assert!(initial_voters(&args((false, Some(&other), false)), &dynamic, 1).is_err());
        let twice = format!("1@h1:9093:{dir},1@h2:9093:{}", KafkaUuid::random());
        assert!(initial_voters(&args((false, Some(&twice), false)), &dynamic, 1).is_err());
        let same_dir = format!("1@h1:9093:{dir},2@h2:9093:{dir}");
        assert!(initial_voters(&args((false, Some(&same_dir), false)), &dynamic, 1).is_err());

        let fixed = config(
            "node.id=1\nprocess.roles=broker,controller\nlisteners=PLAINTEXT://127.0.0.1:9092\n\
             controller.quorum.voters=1@127.0.0.1:9092\n",
        );
        assert!(initial_voters(&args((true, None, false)), &fixed, 1).is_err());
        assert_eq!(
            initial_voters(&args((false, None, false)), &fixed, 1).unwrap(),
            None
        );
        // Other nodes dial the endpoint it writes: a wildcard host is no use.
        let wildcard = config(
            "node.id=1\nprocess.roles=broker,controller\nlisteners=PLAINTEXT://0.0.0.0:9092\n\
             controller.quorum.bootstrap.servers=127.0.0.1:9092\n",
        );
        let err = initial_voters(&args((true, None, false)), &wildcard, 1).unwrap_err();
        assert!(err.contains("advertised.listeners"), "{err}");
        let broker = config(
            "node.id=5\nprocess.roles=broker\nlisteners=PLAINTEXT://127.0.0.1:9092\n\
             controller.quorum.bootstrap.servers=127.0.0.1:9093\n",
        );
        assert!(initial_voters(&args((true, None, false)), &broker, 5).is_err());
        assert_eq!(
            initial_voters(&args((false, None, false)), &broker, 5).unwrap(),
            None,
            "a broker needs no flag"
        );
    }
}
