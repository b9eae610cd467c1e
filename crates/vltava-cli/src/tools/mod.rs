//! Client subcommands: `topics`, `produce`, `consume`, `cluster`, `groups`,
//! `transactions`, `acls`, `users`, `quotas`, `features`, `delegation-tokens`,
//! `perf`. Each talks
//! to a broker through `vltava-client`; errors end the process with a
//! message on stderr and exit code 1.

use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use vltava_client::{Client, ClientConfig, ConnectionConfig};

mod acls;
mod client_properties;
mod cluster;
mod consume;
mod features;
mod format;
mod groups;
mod output;
mod perf;
mod produce;
mod progress;
mod quotas;
mod reassign_plan;
mod tokens;
mod topics;
mod transactions;
mod users;

pub use output::OutputFormat;

#[derive(clap::Subcommand, Debug)]
pub enum ToolCommand {
    /// Create, list, describe, alter, reassign and delete topics.
    Topics(topics::TopicsArgs),
    /// Write lines from stdin to a topic, one record per line.
    Produce(produce::ProduceArgs),
    /// Print a topic's records (no consumer group; reads partitions directly).
    Consume(consume::ConsumeArgs),
    /// Show the cluster's brokers, controller, id and metadata quorum; add and
    /// remove quorum voters.
    Cluster(cluster::ClusterArgs),
    /// List, describe and delete consumer groups; reset their offsets.
    Groups(groups::GroupsArgs),
    /// List transactional ids and describe their transactions.
    Transactions(transactions::TransactionsArgs),
    /// Create, list and delete ACLs (like kafka-acls.sh).
    Acls(acls::AclsArgs),
    /// Set, delete and list users' SCRAM credentials.
    Users(users::UsersArgs),
    /// Set and describe client quotas (produce and fetch byte rates,
    /// request percentage, connection creation rate).
    Quotas(quotas::QuotasArgs),
    /// Show and change the cluster's feature flags (like kafka-features.sh),
    /// e.g. turn on eligible leader replicas.
    Features(features::FeaturesArgs),
    /// Create, renew, expire and describe delegation tokens (like
    /// kafka-delegation-tokens.sh).
    DelegationTokens(tokens::TokensArgs),
    /// Measure produce and consume throughput and latency (like
    /// kafka-producer-perf-test and kafka-consumer-perf-test).
    Perf(perf::PerfArgs),
}

/// Options every tool takes.
#[derive(Args, Debug, Clone)]
pub struct Common {
    /// Broker(s) to bootstrap from: HOST:PORT, comma-separated.
    #[arg(
        long,
        value_name = "HOST:PORT",
        default_value = "127.0.0.1:9092",
        global = true
    )]
    pub bootstrap: String,
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Table, global = true)]
    pub output: OutputFormat,
    /// Limit on each request to a broker, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 30_000, global = true)]
    pub request_timeout_ms: u64,
    /// Client properties as Kafka's tools take them: security.protocol,
    /// sasl.mechanism, sasl.jaas.config (or sasl.username and
    /// sasl.password; tokenauth="true" in the JAAS config for a delegation
    /// token), ssl.truststore.* and ssl.keystore.* (PEM, PKCS12 or JKS).
    #[arg(long, value_name = "FILE", global = true)]
    pub command_config: Option<std::path::PathBuf>,
}

impl Common {
    pub fn client_config(&self) -> Result<ClientConfig, ToolError> {
        let servers = self
            .bootstrap
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string);
        let mut config = ClientConfig::new(servers);
        config.connection = ConnectionConfig {
            request_timeout: Duration::from_millis(self.request_timeout_ms),
            connect_timeout: Duration::from_millis(self.request_timeout_ms.min(10_000)),
            ..ConnectionConfig::default()
        };
        if let Some(path) = &self.command_config {
            let props = client_properties::read(path)?;
            config.connection.security = client_properties::security(&props)?.map(Into::into);
        }
        Ok(config)
    }

    pub async fn connect(&self) -> Result<Client, ToolError> {
        Ok(Client::connect(self.client_config()?).await?)
    }

    pub fn json(&self) -> bool {
        self.output == OutputFormat::Json
    }
}

/// Why a tool failed.
#[derive(Debug)]
pub enum ToolError {
    Client(vltava_client::Error),
    Io(std::io::Error),
    /// Bad input (a malformed line, an impossible option combination).
    Input(String),
}

impl std::fmt::Display for ToolError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ToolError::Client(e) => e.fmt(f),
            ToolError::Io(e) => e.fmt(f),
            ToolError::Input(m) => f.write_str(m),
        }
    }
}

impl From<vltava_client::Error> for ToolError {
    fn from(e: vltava_client::Error) -> Self {
        ToolError::Client(e)
    }
}

impl From<std::io::Error> for ToolError {
    fn from(e: std::io::Error) -> Self {
        ToolError::Io(e)
    }
}

/// Parses `KEY=VALUE` (the value may be empty or contain `=`).
pub fn parse_key_value(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err(format!("expected KEY=VALUE, got {s:?}")),
    }
}

/// Writes `text` to stdout.
pub fn print(text: &str) -> Result<(), ToolError> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()?;
    Ok(())
}

/// Writes one JSON document and a newline to stdout.
pub fn print_json(value: &serde_json::Value) -> Result<(), ToolError> {
    print(&format!("{value}\n"))
}

pub fn run(command: ToolCommand) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match command {
            ToolCommand::Topics(args) => topics::run(args).await,
            ToolCommand::Produce(args) => produce::run(args).await,
            ToolCommand::Consume(args) => consume::run(args).await,
            ToolCommand::Cluster(args) => cluster::run(args).await,
            ToolCommand::Groups(args) => groups::run(args).await,
            ToolCommand::Transactions(args) => transactions::run(args).await,
            ToolCommand::Acls(args) => acls::run(args).await,
            ToolCommand::Users(args) => users::run(args).await,
            ToolCommand::Quotas(args) => quotas::run(args).await,
            ToolCommand::Features(args) => features::run(args).await,
            ToolCommand::DelegationTokens(args) => tokens::run(args).await,
            ToolCommand::Perf(args) => perf::run(args).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // A reader that went away (`| head`) is not a failure.
        Err(ToolError::Io(e)) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use clap::Parser;

    use super::*;

    /// The tools as the binary mounts them (flattened into the top level).
    #[derive(Parser, Debug)]
    #[command(name = "vltava")]
    pub struct TestCli {
        #[command(subcommand)]
        pub command: ToolCommand,
    }

    pub fn parse(args: &[&str]) -> Result<ToolCommand, clap::Error> {
        let mut full = vec!["vltava"];
        full.extend_from_slice(args);
        TestCli::try_parse_from(full).map(|c| c.command)
    }

    #[test]
    fn key_value_parsing() {
        assert_eq!(
            parse_key_value("retention.ms=1000"),
            Ok(("retention.ms".into(), "1000".into()))
        );
        assert_eq!(parse_key_value("a="), Ok(("a".into(), "".into())));
        assert_eq!(parse_key_value("a=b=c"), Ok(("a".into(), "b=c".into())));
        assert!(parse_key_value("novalue").is_err());
        assert!(parse_key_value("=v").is_err());
    }

    #[test]
    fn common_options_and_defaults() {
        let ToolCommand::Cluster(args) = parse(&["cluster"]).unwrap() else {
            panic!()
        };
        assert_eq!(args.common.bootstrap, "127.0.0.1:9092");
        assert_eq!(args.common.output, OutputFormat::Table);
        let config = args.common.client_config().unwrap();
        assert_eq!(config.bootstrap_servers, ["127.0.0.1:9092"]);
        assert_eq!(config.connection.request_timeout, Duration::from_secs(30));

        let ToolCommand::Cluster(args) = parse(&[
            "cluster",
            "--bootstrap",
            "a:1, b:2,",
            "--output",
            "json",
            "--request-timeout-ms",
            "500",
        ])
        .unwrap() else {
            panic!()
        };
        let config = args.common.client_config().unwrap();
        assert_eq!(config.bootstrap_servers, ["a:1", "b:2"]);
        assert_eq!(
            config.connection.request_timeout,
            Duration::from_millis(500)
        );
        assert!(args.common.json());
        assert!(parse(&["cluster", "--output", "yaml"]).is_err());
    }
}
