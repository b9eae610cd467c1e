//! The node's HTTP listener (`http.listeners`): health probes for systemd
//! and Kubernetes, `/metrics` for Prometheus, and consumer-lag evaluation
//! with Burrow's rules at Burrow's v3 paths, and the read-only web console
//! at `/ui` (the `console` module).
//!
//! It runs on the broker's tokio runtime and is bound before the broker
//! opens its data directory, so `/health/live` answers while logs are
//! being recovered; everything else waits for [`Node::set_broker`]. No
//! handler holds a broker lock while it renders: each copies what it needs
//! (an `Arc` of the metadata image, the partitions list, the groups'
//! committed offsets) and renders from the copy. At most
//! `MAX_CONCURRENT_SCRAPES` scrapes run at once; more wait their turn.

pub mod auth;
/// The HTTP client, a crate of its own so the broker can use it too.
pub use vltava_http_client as client;
pub mod console;
pub mod lag;
pub mod metrics;
pub mod notify;
pub mod process;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};
use tracing::{info, warn};
use vltava_broker::Broker;

/// Scrapes (`/metrics`, the lag endpoints) running at once; the rest wait,
/// so a storm of scrapes cannot take more than this many of the runtime's
/// threads from the Kafka listeners.
const MAX_CONCURRENT_SCRAPES: usize = 2;

/// What the HTTP handlers serve from.
pub struct Node {
    broker: OnceLock<Arc<Broker>>,
    stopping: AtomicBool,
    lag: lag::Tracker,
    notifier: OnceLock<Arc<notify::Notifier>>,
    security: OnceLock<Arc<auth::HttpSecurity>>,
    scrapes: Semaphore,
    /// The console's sampled rates and lag (bounded ring buffers).
    history: console::history::History,
}

/// TLS for the HTTP listener (`http.listener.security.protocol=SSL`):
/// the listener's certificates (reloaded when their files change, as the
/// Kafka listeners' are) and how client certificates name principals.
pub struct HttpTls {
    pub tls: Arc<vltava_tls::ServerTls>,
    pub principals: vltava_tls::PrincipalMapper,
}

impl Node {
    /// A node whose broker is not open yet (live, not ready); the lag
    /// tracker keeps `intervals` commits per group and partition.
    pub fn new(intervals: usize) -> Arc<Node> {
        Arc::new(Node {
            broker: OnceLock::new(),
            stopping: AtomicBool::new(false),
            lag: lag::Tracker::new(intervals),
            notifier: OnceLock::new(),
            security: OnceLock::new(),
            scrapes: Semaphore::new(MAX_CONCURRENT_SCRAPES),
            history: console::history::History::default(),
        })
    }

    /// The broker is open (its logs recovered): readiness now depends on
    /// its metadata and registration, and the other endpoints serve.
    pub fn set_broker(&self, broker: Arc<Broker>) {
        let _ = self.broker.set(broker);
    }

    /// Shutting down: not ready any more, so load balancers stop sending
    /// traffic while the controlled shutdown runs.
    pub fn set_stopping(&self) {
        self.stopping.store(true, Ordering::Relaxed);
    }

    pub fn broker(&self) -> Option<&Arc<Broker>> {
        self.broker.get()
    }

    pub fn lag(&self) -> &lag::Tracker {
        &self.lag
    }

    /// Group status changes are POSTed by `notifier` from now on
    /// (`http.lag.notifier.url`).
    pub fn set_notifier(&self, notifier: Arc<notify::Notifier>) {
        let _ = self.notifier.set(notifier);
    }

    pub fn notifier(&self) -> Option<&Arc<notify::Notifier>> {
        self.notifier.get()
    }

    /// Who may ask what (`http.authentication`, Basic credentials); set
    /// before serving. Unset: anonymous requests, checked with ACLs.
    pub fn set_security(&self, security: auth::HttpSecurity) {
        let _ = self.security.set(Arc::new(security));
    }

    pub fn security(&self) -> Arc<auth::HttpSecurity> {
        self.security
            .get_or_init(|| Arc::new(auth::HttpSecurity::default()))
            .clone()
    }

    /// Why the node is not ready, or `None` when it is: the logs are
    /// recovered (the broker is open), the metadata log is loaded (this
    /// node holds everything committed when it started following the
    /// quorum, and its partitions are synced to it), and a broker is
    /// registered and unfenced (the controller unfences a broker once it
    /// has caught up with the metadata log).
    pub fn not_ready(&self) -> Option<String> {
        if self.stopping.load(Ordering::Relaxed) {
            return Some("shutting down".into());
        }
        let Some(broker) = self.broker.get() else {
            return Some("opening the data directory (recovering logs)".into());
        };
        let applied = *broker.applied.borrow();
        if applied.failed {
            return Some("the metadata publisher stopped on a record it could not apply".into());
        }
        if !applied.loaded {
            return Some("catching up with the metadata log".into());
        }
        if broker.is_broker() {
            let image = broker.metadata.image();
            match image.brokers.get(&broker.node_id) {
                None => return Some("not registered with the controller yet".into()),
                Some(b) if b.fenced => return Some("fenced by the controller".into()),
                Some(b) if b.in_controlled_shutdown => {
                    return Some("in controlled shutdown".into())
                }
                Some(_) => {}
            }
        }
        None
    }
}

/// Binds every address of `http.listeners`.
pub async fn bind(addresses: &[String]) -> std::io::Result<Vec<TcpListener>> {
    let mut listeners = Vec::with_capacity(addresses.len());
    for address in addresses {
        let listener = TcpListener::bind(address)
            .await
            .map_err(|e| std::io::Error::new(e.kind(), format!("HTTP listener {address}: {e}")))?;
        info!("HTTP listening on {}", listener.local_addr()?);
        listeners.push(listener);
    }
    Ok(listeners)
}

/// The routes, over `node`.
pub fn router(node: Arc<Node>) -> Router {
    Router::new()
        .route("/health/live", get(live))
        .route("/health/ready", get(ready))
        .route("/metrics", get(metrics_page))
        .route(
            "/v3/kafka/{cluster}/consumer/{group}/status",
            get(group_status),
        )
        .route("/v3/kafka/{cluster}/consumer/{group}/lag", get(group_lag))
        .merge(console::routes())
        // Last, so it covers every route above (the console's too).
        .layer(axum::middleware::from_fn_with_state(
            node.clone(),
            auth::guard,
        ))
        .with_state(node)
}

/// Serves `listeners` (over TLS when `tls` is given) until `shutdown`
/// turns true, and samples committed offsets for the lag evaluation every
/// `lag_every` once the broker is set.
pub async fn serve(
    listeners: Vec<TcpListener>,
    node: Arc<Node>,
    lag_every: Duration,
    tls: Option<HttpTls>,
    shutdown: watch::Receiver<bool>,
) {
    let tls = tls.map(Arc::new);
    let mut tasks = Vec::new();
    for listener in listeners {
        let app = router(node.clone());
        let mut stop = shutdown.clone();
        let tls = tls.clone();
        tasks.push(tokio::spawn(async move {
            if let Some(tls) = tls {
                serve_tls(listener, app, tls, stop).await;
                return;
            }
            let stopped = async move {
                let _ = stop.wait_for(|s| *s).await;
            };
            if let Err(e) = axum::serve(
                listener,
                app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
            )
            .with_graceful_shutdown(stopped)
            .await
            {
                warn!("HTTP listener failed: {e}");
            }
        }));
    }
    tasks.push(tokio::spawn(lag::run_sampler(
        node.clone(),
        lag_every,
        shutdown.clone(),
    )));
    tasks.push(tokio::spawn(console::history::run(
        node.clone(),
        shutdown.clone(),
    )));
    for task in tasks {
        let _ = task.await;
    }
}

/// Until `stop` turns true (the watch's guard stays inside, so a future
/// selecting on this one stays `Send`).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

/// How long a client has to finish its TLS handshake.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The HTTPS accept loop: axum's `serve` speaks plain TCP only, so each
/// connection's handshake is done here (tokio-rustls), its certificate
/// principal attached to its requests, and the connection served by
/// hyper's HTTP/1.1 server over the same router.
async fn serve_tls(
    listener: TcpListener,
    app: Router,
    tls: Arc<HttpTls>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors, say: wait rather than spin.
                    warn!("HTTPS accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = stopped(&mut stop) => return,
        };
        let acceptor = tokio_rustls::TlsAcceptor::from(tls.tls.config());
        let app = app.clone();
        let tls = tls.clone();
        tokio::spawn(async move {
            let stream =
                match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                    Ok(Ok(stream)) => stream,
                    Ok(Err(e)) => {
                        tracing::debug!(%peer, "HTTPS handshake failed: {e}");
                        return;
                    }
                    Err(_) => {
                        tracing::debug!(%peer, "HTTPS handshake timed out");
                        return;
                    }
                };
            let certificate_principal = stream
                .get_ref()
                .1
                .peer_certificates()
                .and_then(|chain| chain.first())
                .and_then(|cert| vltava_tls::subject_of(cert).ok())
                .and_then(|subject| tls.principals.apply(&subject).ok())
                .map(|name| format!("User:{name}"));
            let identity = auth::ConnectionIdentity {
                peer,
                certificate_principal,
            };
            let app = app.layer(axum::Extension(identity));
            let service = hyper_util::service::TowerToHyperService::new(app);
            if let Err(e) = hyper::server::conn::http1::Builder::new()
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                .await
            {
                tracing::debug!(%peer, "HTTPS connection ended: {e}");
            }
        });
    }
}

async fn live() -> &'static str {
    "live\n"
}

async fn ready(State(node): State<Arc<Node>>) -> Response {
    match node.not_ready() {
        None => (StatusCode::OK, "ready\n").into_response(),
        Some(reason) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: {reason}\n"),
        )
            .into_response(),
    }
}

fn starting() -> Response {
    (StatusCode::SERVICE_UNAVAILABLE, "the broker is starting\n").into_response()
}

async fn metrics_page(State(node): State<Arc<Node>>) -> Response {
    let Some(broker) = node.broker().cloned() else {
        return starting();
    };
    let Ok(_turn) = node.scrapes.acquire().await else {
        return starting();
    };
    let mut snapshot = metrics::Snapshot::take(&broker, node.lag()).await;
    snapshot.notifications = node.notifier().map(|n| {
        let get = |c: &std::sync::atomic::AtomicU64| c.load(Ordering::Relaxed);
        (
            get(&n.stats.sent),
            get(&n.stats.failed),
            get(&n.stats.dropped),
        )
    });
    match metrics::render(snapshot) {
        Ok(text) => (
            [(
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            text,
        )
            .into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n")).into_response(),
    }
}

fn json(status: StatusCode, body: serde_json::Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

async fn group_status(
    State(node): State<Arc<Node>>,
    Path((cluster, group)): Path<(String, String)>,
) -> Response {
    burrow_answer(node, cluster, group, false).await
}

async fn group_lag(
    State(node): State<Arc<Node>>,
    Path((cluster, group)): Path<(String, String)>,
) -> Response {
    burrow_answer(node, cluster, group, true).await
}

/// Burrow's v3 answer for a group: `/status` lists the partitions that are
/// not OK, `/lag` all of them. The cluster name in the path is echoed, not
/// checked: a node answers for its own cluster under any name, so the
/// names Burrow users configured keep working.
async fn burrow_answer(node: Arc<Node>, cluster: String, group: String, all: bool) -> Response {
    let Some(broker) = node.broker().cloned() else {
        return starting();
    };
    let Ok(_turn) = node.scrapes.acquire().await else {
        return starting();
    };
    let path = format!(
        "/v3/kafka/{cluster}/consumer/{group}/{}",
        if all { "lag" } else { "status" }
    );
    let groups = broker.groups.read(|c| c.group_offsets()).await;
    let Some(offsets) = groups.into_iter().find(|g| g.group_id == group) else {
        return json(
            StatusCode::NOT_FOUND,
            serde_json::json!({
                "error": true,
                "message": "cluster or consumer not found",
                "request": {"url": path, "host": ""},
            }),
        );
    };
    let now_ms = broker.now_ms();
    let mut ends = metrics::log_ends(&broker);
    node.lag().add_remote_ends(&mut ends);
    let status = node.lag().evaluate(&offsets, &ends, now_ms);
    json(
        StatusCode::OK,
        serde_json::json!({
            "error": false,
            "message": "consumer status returned",
            "status": status.to_json(&cluster, all),
            "request": {"url": path, "host": ""},
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_ready_before_the_broker_is_open_nor_once_stopping() {
        let node = Node::new(10);
        let reason = node.not_ready().expect("no broker yet");
        assert!(reason.contains("recovering logs"), "{reason}");
        node.set_stopping();
        assert_eq!(node.not_ready().as_deref(), Some("shutting down"));
    }
}
