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
//! The voter set is the static `controller.quorum.voters` of the config
//! file; `--standalone` and `--initial-controllers` (KIP-853's bootstrap of
//! a dynamic quorum) are not supported yet and say so.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

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
    /// Bootstrap a dynamic quorum with this node as its only voter (KIP-853): not supported yet.
    #[arg(long, short = 's')]
    standalone: bool,
    /// Bootstrap a dynamic quorum with these voters (KIP-853): not supported yet.
    #[arg(long, short = 'I', value_name = "ID@HOST:PORT:DIR_ID,...")]
    initial_controllers: Option<String>,
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
    if args.standalone || args.initial_controllers.is_some() {
        return Err(
            "--standalone and --initial-controllers (a dynamic KIP-853 quorum) are not supported \
             yet; list the voters in controller.quorum.voters instead"
                .to_string(),
        );
    }
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
    // Every log directory (log.dirs), and the metadata log's.
    let mut dirs = vltava_broker::broker::data_dirs(&config, &data_dir);
    // Only an explicit metadata.log.dir is a directory of its own; without
    // it the metadata lives in the data directory, as the server puts it.
    if let Some(meta) = config.metadata_log_dir_setting() {
        let meta = PathBuf::from(meta);
        if !dirs.contains(&meta) {
            dirs.push(meta);
        }
    }
    let mut done = Vec::new();
    for dir in dirs {
        done.push(format_dir(
            &dir,
            node_id,
            &cluster_id.to_string(),
            args.ignore_formatted,
        )?);
    }
    Ok(done)
}

fn format_dir(
    dir: &Path,
    node_id: i32,
    cluster_id: &str,
    ignore_formatted: bool,
) -> Result<String, String> {
    let shown = dir.display();
    match vltava_storage::read_meta_properties(dir).map_err(|e| format!("{shown}: {e}"))? {
        Some(meta)
            if meta.cluster_id == cluster_id && meta.node_id == node_id && ignore_formatted =>
        {
            return Ok(format!(
                "{shown} is already formatted for node {node_id} of cluster {cluster_id}"
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
        directory_id: Some(KafkaUuid::random()),
    };
    vltava_storage::write_meta_properties(dir, &meta).map_err(|e| format!("{shown}: {e}"))?;
    Ok(format!(
        "formatted {shown} for node {node_id} of cluster {cluster_id}"
    ))
}
