//! `vltava server`: runs a broker. With no options it is a working
//! single-node cluster: node id 1, listening on and advertising
//! 127.0.0.1:9092, data in ./vltava-data.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use tokio::sync::watch;
use tracing::{error, info};
use vltava_config::BrokerConfig;

#[derive(clap::Args, Debug)]
pub struct ServerArgs {
    /// Directory for the partition logs and the metadata log.
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Address to listen on (and advertise, unless advertised.listeners is set).
    #[arg(long, value_name = "HOST:PORT")]
    pub listen: Option<String>,
    /// A Kafka-style server.properties file.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Override one property (repeatable), e.g. --set num.partitions=4.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
}

const DEFAULT_LISTEN: &str = "127.0.0.1:9092";
const DEFAULT_DATA_DIR: &str = "./vltava-data";
const DEFAULT_HTTP: &str = "127.0.0.1:9644";

/// The broker config from defaults, the file, `--listen` and `--set`
/// (in that order of increasing precedence), plus the data directory.
pub fn build_config(args: &ServerArgs) -> Result<(BrokerConfig, PathBuf), String> {
    let mut file = match &args.config {
        Some(path) => vltava_config::read_properties_file(path)
            .map_err(|e| format!("{}: {e}", path.display()))?,
        None => Vec::new(),
    };
    let mut overrides = Vec::new();
    for item in &args.set {
        let (k, v) = vltava_config::parse_override(item)
            .ok_or_else(|| format!("--set {item}: expected KEY=VALUE"))?;
        overrides.push((k, v));
    }
    let set_anywhere = |key: &str| file.iter().chain(overrides.iter()).any(|(k, _)| k == key);
    // Embedded single-node defaults where neither the file nor --set speaks.
    let mut defaults = Vec::new();
    if !set_anywhere("node.id") && !set_anywhere("broker.id") {
        defaults.push(("node.id".to_string(), "1".to_string()));
    }
    // A single node cannot hold three replicas of the internal topics;
    // Kafka's single-node example configuration sets these the same way.
    for (key, value) in [
        ("offsets.topic.replication.factor", "1"),
        ("transaction.state.log.replication.factor", "1"),
        ("transaction.state.log.min.isr", "1"),
    ] {
        if !set_anywhere(key) {
            defaults.push((key.to_string(), value.to_string()));
        }
    }
    // The HTTP listener (health, metrics, lag) on by default for a single
    // node only: nodes of a multi-node cluster often share a machine in
    // development, and would fight over one default port.
    if !set_anywhere("http.listeners") && !set_anywhere("controller.quorum.voters") {
        defaults.push(("http.listeners".to_string(), DEFAULT_HTTP.to_string()));
    }
    match &args.listen {
        Some(listen) => overrides.push(("listeners".to_string(), format!("PLAINTEXT://{listen}"))),
        None if !set_anywhere("listeners") => defaults.push((
            "listeners".to_string(),
            format!("PLAINTEXT://{DEFAULT_LISTEN}"),
        )),
        None => {}
    }
    defaults.append(&mut file);
    let data_dir = match &args.data_dir {
        Some(dir) => {
            // --data-dir is the first log directory; the others are those
            // a --set log.dirs names, and none from a file.
            if !args
                .set
                .iter()
                .any(|s| s.trim_start().starts_with("log.dirs="))
            {
                overrides.push(("log.dirs".to_string(), dir.display().to_string()));
            }
            dir.clone()
        }
        None => defaults
            .iter()
            .chain(overrides.iter())
            .rev()
            .find(|(k, _)| k == "log.dirs" || k == "log.dir")
            .map(|(_, v)| PathBuf::from(v.split(',').next().unwrap_or(v).trim()))
            .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR)),
    };
    let config = BrokerConfig::from_sources(defaults, overrides).map_err(|e| e.to_string())?;
    Ok((config, data_dir))
}

pub fn run(args: ServerArgs) -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let (config, data_dir) = match build_config(&args) {
        Ok(c) => c,
        Err(e) => {
            error!("invalid configuration: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            error!("cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        // The HTTP listener comes up first, so /health/live answers (and
        // /health/ready says why not) while the logs are recovered.
        let (stop, stopped) = watch::channel(false);
        let http_node = vltava_http::Node::new(config.http_lag_intervals().max(1) as usize);
        let lag_every = Duration::from_millis(config.http_lag_sample_interval_ms().max(1) as u64);
        let (http_tls, http_security) = match http_security(&config) {
            Ok(s) => s,
            Err(e) => {
                error!("cannot start the HTTP listener: {e}");
                return ExitCode::FAILURE;
            }
        };
        http_node.set_security(http_security);
        if let Some(t) = &http_tls {
            tokio::spawn(vltava_broker::network::server::reload_tls(
                vec![t.tls.clone()],
                Vec::new(),
                stopped.clone(),
            ));
        }
        let http = match vltava_http::bind(&config.http_listeners()).await {
            Ok(listeners) if listeners.is_empty() => None,
            Ok(listeners) => Some(tokio::spawn(vltava_http::serve(
                listeners,
                http_node.clone(),
                lag_every,
                http_tls,
                stopped.clone(),
            ))),
            Err(e) => {
                error!("cannot listen: {e} (http.listeners; empty turns it off)");
                return ExitCode::FAILURE;
            }
        };
        let notifier = (
            config.http_lag_notifier_url(),
            config.http_lag_notifier_threshold(),
            config.http_lag_notifier_timeout_ms(),
        );
        let broker = match vltava_broker::Broker::open(config, &data_dir).await {
            Ok(b) => b,
            Err(e) => {
                error!("cannot start: {e}");
                return ExitCode::FAILURE;
            }
        };
        http_node.set_broker(broker.clone());
        if let (Some(url), threshold, timeout_ms) = notifier {
            // Lag is sampled by the HTTP listener's task: with no listener
            // nothing would ever be sent.
            if http.is_none() {
                error!("cannot start: http.lag.notifier.url is set but http.listeners is empty");
                broker.shutdown().await;
                return ExitCode::FAILURE;
            }
            match vltava_http::notify::NotifierSettings::new(
                &url,
                &threshold,
                timeout_ms,
                &broker.cluster_id,
                broker.node_id,
            ) {
                Ok(settings) => {
                    info!("lag status changes are POSTed to {url}");
                    http_node.set_notifier(vltava_http::notify::Notifier::start(settings));
                }
                Err(e) => {
                    error!("cannot start: {e}");
                    broker.shutdown().await;
                    return ExitCode::FAILURE;
                }
            }
        }
        let listeners =
            match vltava_broker::network::server::bind_all(broker.metadata.static_config()).await {
                Ok(l) => l,
                Err(e) => {
                    error!("cannot start the listeners: {e}");
                    broker.shutdown().await;
                    return ExitCode::FAILURE;
                }
            };
        info!(node_id = broker.node_id, cluster_id = %broker.cluster_id, data_dir = %data_dir.display(), "broker started");
        let stopping = http_node.clone();
        tokio::spawn(async move {
            wait_for_signal().await;
            stopping.set_stopping();
            let _ = stop.send(true);
        });
        vltava_broker::run(broker, listeners, stopped).await;
        if let Some(http) = http {
            let _ = http.await;
        }
        ExitCode::SUCCESS
    })
}

pub(crate) async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = match signal(SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => return std::future::pending().await,
        };
        tokio::select! {
            _ = term.recv() => info!("SIGTERM received"),
            _ = tokio::signal::ctrl_c() => info!("interrupt received"),
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// The HTTP listener's TLS (`http.listener.security.protocol=SSL`, with
/// the `ssl.*` settings of a listener named `http`) and who may ask it
/// (`http.authentication`, Basic passwords against the PLAIN users of
/// `listener.name.http.plain.sasl.jaas.config` when set, else against the
/// SCRAM credentials in the metadata).
fn http_security(
    config: &vltava_config::BrokerConfig,
) -> Result<
    (
        Option<vltava_http::HttpTls>,
        vltava_http::auth::HttpSecurity,
    ),
    String,
> {
    const LISTENER: &str = "HTTP";
    let tls = if config.http_tls() {
        let settings = vltava_broker::network::server::tls_settings(config, LISTENER)?;
        let principals = vltava_tls::PrincipalMapper::parse(&settings.principal_mapping_rules)
            .map_err(|e| e.to_string())?;
        let tls = vltava_tls::ServerTls::new(settings).map_err(|e| format!("TLS: {e}"))?;
        Some(vltava_http::HttpTls {
            tls: std::sync::Arc::new(tls),
            principals,
        })
    } else {
        None
    };
    let plain_users = match config.jaas_config(LISTENER, "PLAIN") {
        Some(text) => {
            let entry = vltava_sasl::jaas::parse_single(&text).map_err(|e| {
                format!("listener.name.http.plain.sasl.jaas.config: {}", e.message())
            })?;
            let users = vltava_sasl::plain::PlainUsers::from_jaas(std::slice::from_ref(&entry));
            (entry.login_module.ends_with("PlainLoginModule") && !users.is_empty()).then_some(users)
        }
        None => None,
    };
    Ok((
        tls,
        vltava_http::auth::HttpSecurity::new(config.http_requires_credentials(), plain_users),
    ))
}
