//! The listener and the per-connection loop.
//!
//! A connection's requests are handled one at a time, in arrival order, and
//! answered in that order; a client may pipeline requests, they simply wait
//! in the socket buffer (this is Kafka's model too, and it keeps responses
//! ordered without bookkeeping). A frame larger than
//! `socket.request.max.bytes`, a header that cannot be decoded, an unknown
//! API or an unsupported version closes that connection with a log line; the
//! broker goes on serving everyone else.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tracing::{debug, info, warn};
use vltava_protocol::header::{self, split_frame};
use vltava_protocol::messages::{ApiKey, RequestHeader};
use vltava_protocol::{Message, RequestBody};

use crate::handlers;
use crate::state::Broker;

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
                Ok(Err(e)) => return Err(format!("read failed: {e}")),
            }
        };
        output.clear();
        handle_frame(&broker, frame, peer, &mut output).await?;
        if !output.is_empty() {
            stream
                .write_all(&output)
                .await
                .map_err(|e| format!("write failed: {e}"))?;
        }
    }
}

/// Decodes, dispatches and encodes one request; leaves the response frame
/// (if any) in `output`.
async fn handle_frame(
    broker: &Broker,
    mut frame: Bytes,
    peer: SocketAddr,
    output: &mut BytesMut,
) -> Result<(), CloseReason> {
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
    if let Some(response) = handlers::handle(broker, &context, body).await? {
        encode(output, request_header.correlation_id, &response, version)?;
    }
    Ok(())
}

fn encode(
    output: &mut BytesMut,
    correlation_id: i32,
    body: &vltava_protocol::ResponseBody,
    version: i16,
) -> Result<(), CloseReason> {
    header::encode_response(correlation_id, body, version, output).map_err(|e| {
        // A response we cannot encode is our bug; say so loudly.
        warn!(
            "cannot encode {} v{version} response: {e}",
            body.api_key().name()
        );
        format!("internal error encoding a response: {e}")
    })
}

/// Binds the listener.
pub async fn bind(addr: &str) -> std::io::Result<TcpListener> {
    let listener = TcpListener::bind(addr).await?;
    info!("listening on {}", listener.local_addr()?);
    Ok(listener)
}
