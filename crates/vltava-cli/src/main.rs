//! The `vltava` binary: `vltava server` runs a broker, `vltava storage`
//! prepares its directories; the other subcommands are tools that talk to a
//! broker over the Kafka protocol.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod dev_certs;
mod dev_cluster;
mod server;
mod storage;
mod tools;

#[derive(Parser)]
#[command(
    name = "vltava",
    version,
    about = "Kafka-compatible event streaming: broker and tools"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a broker (a single-node cluster with embedded defaults when given no options).
    Server(server::ServerArgs),
    /// Prepare data directories: `format` a node's directories, `random-uuid` for a cluster id.
    #[command(subcommand)]
    Storage(storage::StorageCommand),
    /// Run a local multi-node cluster (real processes on free ports) until Ctrl-C.
    DevCluster(dev_cluster::DevClusterArgs),
    /// Write a development CA, a broker and a client certificate (PEM) for TLS listeners.
    DevCerts(dev_certs::DevCertsArgs),
    #[command(flatten)]
    Tool(tools::ToolCommand),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Server(args) => server::run(args),
        Command::Storage(command) => storage::run(command),
        Command::DevCluster(args) => dev_cluster::run(args),
        Command::DevCerts(args) => dev_certs::run(args),
        Command::Tool(command) => tools::run(command),
    }
}
