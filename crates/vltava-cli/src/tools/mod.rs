//! Client subcommands. (being written)

use std::process::ExitCode;

#[derive(clap::Subcommand)]
pub enum ToolCommand {
    /// Show the cluster's brokers, controller and id.
    Cluster,
}

pub fn run(_command: ToolCommand) -> ExitCode {
    eprintln!("not built yet");
    ExitCode::FAILURE
}
