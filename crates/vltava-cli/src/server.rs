//! `vltava server`. (being written)

use std::process::ExitCode;

#[derive(clap::Args)]
pub struct ServerArgs {}

pub fn run(_args: ServerArgs) -> ExitCode {
    eprintln!("vltava server: not built yet");
    ExitCode::FAILURE
}
