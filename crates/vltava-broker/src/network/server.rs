//! The listener and the per-connection loop.
//!
//! A connection's requests are handled one at a time, in arrival order, and
//! answered in that order; a client may pipeline requests, they simply wait
//! in the socket buffer (this is Kafka's model too, and it keeps responses
//! ordered without bookkeeping). A frame larger than
//! `socket.request.max.bytes`, a header that cannot be decoded, an unknown
//! API or an unsupported version closes that connection with a log line; the
//! broker goes on serving everyone else.

use std::io::IoSlice;
use std::net::SocketAddr;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tracing::{debug, info, warn};
use vltava_protocol::header::{self, split_frame};
use vltava_protocol::messages::{ApiKey, RequestHeader};
use vltava_protocol::{Message, RequestBody};

use crate::broker::Broker;
use crate::handlers;
use crate::stats::{add, BrokerStats};

/// Accepts connections until `shutdown` turns true.
pub async fn serve(
    listener: TcpListener,
    broker: Arc<Broker>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let broker = broker.clone();
                    let shutdown = shutdown.clone();
                    tokio::spawn(async move {
                        let _ = stream.set_nodelay(true);
                        let stats = broker.stats.clone();
                        stats.connections_accepted.fetch_add(1, Relaxed);
                        let _open = BrokerStats::waiting(&stats.connections_open);
                        if let Err(reason) = handle_connection(stream, peer, broker, shutdown).await {
                            warn!(%peer, "closing connection: {reason}");
                        }
                    });
                }
                Err(e) => {
                    // Out of file descriptors and the like: back off briefly.
                    warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            _ = shutdown.changed() => break,
        }
    }
}

/// Why a connection was closed by us.
type CloseReason = String;

async fn handle_connection(
    mut stream: TcpStream,
    peer: SocketAddr,
    broker: Arc<Broker>,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), CloseReason> {
    debug!(%peer, "connection opened");
    let mut input = BytesMut::with_capacity(64 * 1024);
    let mut output = BytesMut::with_capacity(64 * 1024);
    loop {
        let limits = broker.connection_limits();
        let frame = loop {
            match split_frame(&mut input, limits.max_request_bytes) {
                Ok(Some(frame)) => break frame,
                Ok(None) => {}
                Err(e) => return Err(format!("{e} (socket.request.max.bytes)")),
            }
            // Grow the buffer as bytes arrive, never by the declared size alone.
            if input.capacity() - input.len() < 16 * 1024 {
                input.reserve(64 * 1024);
            }
            let read = tokio::select! {
                r = tokio::time::timeout(limits.idle_timeout, stream.read_buf(&mut input)) => r,
                _ = shutdown.changed() => return Ok(()),
            };
            match read {
                Err(_) => {
                    debug!(%peer, "idle for {:?} (connections.max.idle.ms): closing", limits.idle_timeout);
                    return Ok(());
                }
                Ok(Ok(0)) if input.is_empty() => {
                    debug!(%peer, "connection closed by peer");
                    return Ok(());
                }
                Ok(Ok(0)) => return Err("peer closed in the middle of a request".into()),
                Ok(Ok(_)) => {}
                Ok(Err(e)) if peer_hung_up(&e) => {
                    debug!(%peer, "connection reset by peer: {e}");
                    return Ok(());
                }
                Ok(Err(e)) => return Err(format!("read failed: {e}")),
            }
        };
        output.clear();
        let started = Instant::now();
        let api_key = header::peek_api_key_and_version(&frame).map_or(-1, |(key, _)| key);
        let spliced = match handle_frame(&broker, frame, peer, &mut output).await {
            Ok(spliced) => spliced,
            Err(reason) => {
                add(&broker.stats.api(api_key).failed, 1);
                return Err(reason);
            }
        };
        let written = if spliced.is_empty() && !output.is_empty() {
            stream.write_all(&output).await
        } else if !spliced.is_empty() {
            write_spliced(&mut stream, &output, &spliced).await
        } else {
            Ok(())
        };
        match written {
            Ok(()) => {}
            // A client that hangs up before reading its answer (a closed
            // consumer, a killed process) is routine: Kafka logs it at
            // debug too.
            Err(e) if peer_hung_up(&e) => {
                debug!(%peer, "peer went away before its response was written: {e}");
                return Ok(());
            }
            Err(e) => return Err(format!("write failed: {e}")),
        }
        // Kafka's TotalTimeMs: from the request being taken up to its
        // response written (acks=0 produces included, with no response).
        let api = broker.stats.api(api_key);
        add(&api.requests, 1);
        api.observe(started.elapsed());
    }
}

/// Errors that mean the client closed or reset its end.
fn peer_hung_up(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(e.kind(), BrokenPipe | ConnectionReset | ConnectionAborted)
}

/// Decodes, dispatches and encodes one request; leaves the response frame
/// (if any) in `output`, except for the fetched records, which are returned
/// as (position in `output`, bytes) to be written from where they are.
async fn handle_frame(
    broker: &Broker,
    mut frame: Bytes,
    peer: SocketAddr,
    output: &mut BytesMut,
) -> Result<Vec<(usize, Bytes)>, CloseReason> {
    let (key, version) =
        header::peek_api_key_and_version(&frame).map_err(|e| format!("bad request header: {e}"))?;
    let Some(api_key) = ApiKey::from_i16(key) else {
        return Err(format!("unknown API key {key}"));
    };
    let supported = handlers::supported_versions(api_key);
    let known = api_key.versions();
    if api_key == ApiKey::ApiVersions && !(supported.is_some_and(|r| r.contains(version))) {
        // KIP-511: answer an ApiVersions request we cannot parse with a v0
        // response carrying UNSUPPORTED_VERSION and our version ranges.
        let request_header =
            RequestHeader::decode(&mut frame, api_key.request_header_version(version))
                .map_err(|e| format!("bad ApiVersions header: {e}"))?;
        let body = handlers::api_versions::unsupported_version_response();
        return encode(output, request_header.correlation_id, &body, 0);
    }
    if !known.contains(version) || !supported.is_some_and(|r| r.contains(version)) {
        return Err(format!("{} v{version} is not supported", api_key.name()));
    }
    let request_header = RequestHeader::decode(&mut frame, api_key.request_header_version(version))
        .map_err(|e| format!("bad {} v{version} header: {e}", api_key.name()))?;
    let body = RequestBody::decode(api_key, &mut frame, version)
        .map_err(|e| format!("malformed {} v{version} request: {e}", api_key.name()))?;
    let context = handlers::RequestContext {
        header: &request_header,
        version,
        peer,
    };
    match handlers::handle(broker, &context, body).await? {
        Some(response) => encode(output, request_header.correlation_id, &response, version),
        None => Ok(Vec::new()),
    }
}

/// Fetched records at least this large are written from their own buffers
/// (vectored write) instead of being copied into the response buffer.
const SPLICE_MIN_BYTES: usize = 4096;

fn encode(
    output: &mut BytesMut,
    correlation_id: i32,
    body: &vltava_protocol::ResponseBody,
    version: i16,
) -> Result<Vec<(usize, Bytes)>, CloseReason> {
    let shared: Vec<Bytes> = match body {
        vltava_protocol::ResponseBody::Fetch(fetch) => fetch
            .responses
            .iter()
            .flat_map(|t| t.partitions.iter())
            .filter_map(|p| p.records.as_ref())
            .filter(|r| r.len() >= SPLICE_MIN_BYTES)
            .cloned()
            .collect(),
        _ => Vec::new(),
    };
    header::encode_response_sharing(correlation_id, body, version, output, shared).map_err(|e| {
        // A response we cannot encode is our bug; say so loudly.
        warn!(
            "cannot encode {} v{version} response: {e}",
            body.api_key().name()
        );
        format!("internal error encoding a response: {e}")
    })
}

/// Writes `head` with each `(position, bytes)` of `spliced` inserted at its
/// position, with vectored writes.
async fn write_spliced(
    stream: &mut TcpStream,
    head: &[u8],
    spliced: &[(usize, Bytes)],
) -> std::io::Result<()> {
    let mut slices = Vec::with_capacity(spliced.len() * 2 + 1);
    let mut at = 0;
    for (position, bytes) in spliced {
        slices.push(IoSlice::new(&head[at..*position]));
        slices.push(IoSlice::new(bytes));
        at = *position;
    }
    slices.push(IoSlice::new(&head[at..]));
    slices.retain(|s| !s.is_empty());
    let mut bufs = &mut slices[..];
    while !bufs.is_empty() {
        match stream.write_vectored(bufs).await {
            Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
            Ok(n) => IoSlice::advance_slices(&mut bufs, n),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Binds the listener.
pub async fn bind(addr: &str) -> std::io::Result<TcpListener> {
    let listener = TcpListener::bind(addr).await?;
    info!("listening on {}", listener.local_addr()?);
    Ok(listener)
}
