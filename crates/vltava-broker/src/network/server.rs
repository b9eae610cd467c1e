//! The listeners and the per-connection loop.
//!
//! Each listener (`listeners=NAME://host:port,...`) has a security
//! protocol; on SSL and SASL_SSL listeners the connection's first act is a
//! TLS handshake (bounded by `connections.max.idle.ms`), and a client
//! certificate, when one was asked for and given, names the principal. A
//! plaintext client on a TLS listener fails the handshake, and a TLS client
//! on a plaintext listener sends a "frame" far over the size limit; both
//! are closed with a log line saying so.
//!
//! A connection's requests are handled one at a time, in arrival order, and
//! answered in that order; a client may pipeline requests, they simply wait
//! in the socket buffer (this is Kafka's model too, and it keeps responses
//! ordered without bookkeeping). A frame larger than
//! `socket.request.max.bytes`, a header that cannot be decoded, an unknown
//! API or an unsupported version closes that connection with a log line; the
//! broker goes on serving everyone else.

use std::net::SocketAddr;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tracing::{debug, info, warn};
use vltava_config::SecurityProtocol;
use vltava_protocol::header::{self, split_frame};
use vltava_protocol::messages::{ApiKey, RequestHeader};
use vltava_protocol::ErrorCode;
use vltava_protocol::{Message, RequestBody};
use vltava_quota::ConnectionDecision;
use vltava_tls::{PrincipalMapper, ServerTls};

use super::answer::{write_answer, FileSocket, Splice};
use super::limits::{self, ConnectionCounts, CreationLimits};
use super::sasl::{Authenticator, SaslListener, Stage, Step};
use super::sockopt;
use crate::broker::Broker;
use crate::handlers::{self, ListenerRoles, Session};
use crate::quotas::{self, QuotaClient};
use crate::replica::zero_copy::{self, ZeroCopy};
use crate::stats::{add, BrokerStats, RequestPhases};

/// A bound listener and what its connections need.
pub struct Listener {
    pub tcp: TcpListener,
    /// The listener's name (upper case), as in `listeners`.
    pub name: String,
    pub protocol: SecurityProtocol,
    /// TLS, on SSL and SASL_SSL listeners.
    pub tls: Option<Arc<ServerTls>>,
    /// `ssl.principal.mapping.rules`, for client certificates.
    pub principal_mapper: Option<PrincipalMapper>,
    /// SASL, on SASL_PLAINTEXT and SASL_SSL listeners.
    pub sasl: Option<Arc<SaslListener>>,
}

/// What a listener's connections need of it.
struct ListenerSettings {
    name: String,
    protocol: SecurityProtocol,
    tls: Option<Arc<ServerTls>>,
    principal_mapper: Option<PrincipalMapper>,
    sasl: Option<Arc<SaslListener>>,
    roles: ListenerRoles,
}

/// The principal of a connection nobody authenticated (Kafka's
/// `KafkaPrincipal.ANONYMOUS`).
pub const ANONYMOUS: &str = "User:ANONYMOUS";

/// Accepts connections until `shutdown` turns true, within the
/// connection limits (`network/limits.rs`) counted in `counts`, which all
/// listeners share.
pub async fn serve(
    listener: Listener,
    broker: Arc<Broker>,
    counts: Arc<ConnectionCounts>,
    mut shutdown: watch::Receiver<bool>,
) {
    // The connections share what they need of the listener, not the
    // socket: it closes when accepting stops, while connections may go on.
    let Listener {
        tcp,
        name,
        protocol,
        tls,
        principal_mapper,
        sasl,
    } = listener;
    let roles = ListenerRoles::of(&broker, &name);
    let listener = Arc::new(ListenerSettings {
        name,
        protocol,
        tls,
        principal_mapper,
        sasl,
        roles,
    });
    let exempt = listener.name == broker.metadata.static_config().inter_broker_listener_name();
    loop {
        let config = broker.metadata.config();
        tokio::select! {
            _ = counts.wait_for_room(config.max_connections(), exempt) => {}
            _ = shutdown.changed() => break,
        }
        tokio::select! {
            accepted = tcp.accept() => match accepted {
                Ok((stream, peer)) => {
                    let limit = limits::limit_for(
                        peer.ip(),
                        config.max_connections_per_ip(),
                        config.max_connections_per_ip_overrides(),
                    );
                    let admitted = match counts.admit(peer.ip(), limit) {
                        Ok(a) => a,
                        Err(reason) => {
                            warn!(%peer, listener = %listener.name, "refusing a connection: {reason}");
                            continue;
                        }
                    };
                    // Over a connection creation rate, the listener waits
                    // before it takes this connection up or accepts more.
                    let limits = CreationLimits::from_settings(
                        config.max_connection_creation_rate(),
                        config.listener_only_int(&listener.name, "max.connection.creation.rate"),
                        exempt,
                    );
                    let wait = counts.record_creation(&listener.name, limits, &broker.quotas.rate_config(), broker.now_ms());
                    if wait > 0 {
                        debug!(%peer, listener = %listener.name, "connection creation rate exceeded: waiting {wait} ms");
                        tokio::select! {
                            _ = tokio::time::sleep(Duration::from_millis(wait as u64)) => {}
                            _ = shutdown.changed() => break,
                        }
                    }
                    let broker = broker.clone();
                    let shutdown = shutdown.clone();
                    let listener = listener.clone();
                    tokio::spawn(async move {
                        let _admitted = admitted;
                        // An IP over its connection_creation_rate quota
                        // (KIP-612) is answered nothing: its connection is
                        // held for the throttle time, then closed. As in
                        // Kafka, this applies on every listener, the
                        // inter-broker one included.
                        let image = broker.metadata.image();
                        if let ConnectionDecision::Throttle { throttle_ms } =
                            broker.quotas.record_connection(&image, peer.ip())
                        {
                            warn!(%peer, listener = %listener.name, "closing a connection in {throttle_ms} ms: over the IP's connection_creation_rate quota");
                            tokio::time::sleep(Duration::from_millis(throttle_ms.max(0) as u64)).await;
                            return;
                        }
                        let _ = stream.set_nodelay(true);
                        let config = broker.metadata.config();
                        if let Err(e) = sockopt::set_buffer_sizes(
                            &stream,
                            config.socket_send_buffer_bytes(),
                            config.socket_receive_buffer_bytes(),
                        ) {
                            debug!(%peer, "cannot set the socket's buffer sizes: {e}");
                        }
                        let stats = broker.stats.clone();
                        stats.connections_accepted.fetch_add(1, Relaxed);
                        let _open = BrokerStats::waiting(&stats.connections_open);
                        if let Err(reason) = open_connection(stream, peer, &listener, broker, shutdown).await {
                            warn!(%peer, listener = %listener.name, "closing connection: {reason}");
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

/// Runs the TLS handshake where the listener has TLS, then the
/// connection's request loop.
async fn open_connection(
    stream: TcpStream,
    peer: SocketAddr,
    listener: &ListenerSettings,
    broker: Arc<Broker>,
    shutdown: watch::Receiver<bool>,
) -> Result<(), CloseReason> {
    let mut session = Session {
        listener: listener.name.clone(),
        protocol: listener.protocol,
        principal: ANONYMOUS.to_string(),
        token_authenticated: false,
        relayed: false,
        roles: listener.roles,
    };
    let auth = listener.sasl.clone().map(Authenticator::new);
    let Some(tls) = &listener.tls else {
        return handle_connection(stream, peer, session, auth, broker, shutdown).await;
    };
    let limit = broker.connection_limits().idle_timeout;
    let acceptor = tokio_rustls::TlsAcceptor::from(tls.config());
    let stream = match tokio::time::timeout(limit, acceptor.accept(stream)).await {
        Err(_) => {
            return Err(format!(
                "no TLS handshake within {limit:?} (connections.max.idle.ms)"
            ))
        }
        Ok(Err(e)) => {
            // Kafka logs a failed handshake as a failed authentication. A
            // Kafka request where a TLS record should be is a plaintext
            // client; say so only then.
            let text = e.to_string();
            let hint = if text.contains("InvalidContentType") || text.contains("corrupt message") {
                "; a plaintext client on a TLS listener fails this way"
            } else {
                ""
            };
            return Err(format!(
                "failed authentication: TLS handshake failed ({text}){hint}"
            ));
        }
        Ok(Ok(stream)) => stream,
    };
    if let Some(chain) = stream.get_ref().1.peer_certificates() {
        let subject = vltava_tls::subject_of(&chain[0]).map_err(|e| e.to_string())?;
        let name = match &listener.principal_mapper {
            Some(mapper) => mapper.apply(&subject).map_err(|e| e.to_string())?,
            None => subject,
        };
        session.principal = format!("User:{name}");
    }
    debug!(%peer, principal = %session.principal, "TLS connection");
    handle_connection(stream, peer, session, auth, broker, shutdown).await
}

/// True when a "request" looks like the start of a TLS handshake record
/// (content type 22, version 3.x): a TLS client on a plaintext listener.
fn looks_like_tls(input: &[u8]) -> bool {
    input.len() >= 2 && input[0] == 0x16 && input[1] == 0x03
}

async fn handle_connection<S: AsyncRead + AsyncWrite + FileSocket + Unpin>(
    mut stream: S,
    peer: SocketAddr,
    mut session: Session,
    mut auth: Option<Authenticator>,
    broker: Arc<Broker>,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), CloseReason> {
    debug!(%peer, listener = %session.listener, "connection opened");
    let mut input = BytesMut::with_capacity(64 * 1024);
    let mut output = BytesMut::with_capacity(64 * 1024);
    loop {
        let limits = broker.connection_limits();
        // Before SASL has succeeded, no frame may exceed
        // sasl.server.max.receive.size (Kafka's receive limit then), so an
        // unauthenticated client cannot make the broker buffer a large one.
        let unauthenticated = auth.as_ref().is_some_and(|a| !a.is_authenticated());
        let max_frame = match &auth {
            Some(a) if unauthenticated => limits.max_request_bytes.min(a.listener.max_receive),
            _ => limits.max_request_bytes,
        };
        let frame = loop {
            match split_frame(&mut input, max_frame) {
                Ok(Some(frame)) => break frame,
                Ok(None) => {}
                Err(_) if looks_like_tls(&input) => {
                    return Err(format!(
                        "a TLS handshake on the {} listener, which is {}: the client must use security.protocol={}",
                        session.listener,
                        session.protocol.name(),
                        session.protocol.name()
                    ))
                }
                Err(e) if unauthenticated => {
                    return Err(format!(
                        "{e} before SASL authentication (sasl.server.max.receive.size)"
                    ))
                }
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
                // A TLS peer that closes between requests without a
                // close_notify (as the other nodes' clients do when they
                // drop a connection) has simply hung up.
                Ok(Err(e)) if input.is_empty() && e.kind() == std::io::ErrorKind::UnexpectedEof => {
                    debug!(%peer, "connection closed by peer: {e}");
                    return Ok(());
                }
                Ok(Err(e)) => return Err(format!("read failed: {e}")),
            }
        };
        output.clear();
        let started = Instant::now();
        // On a SASL listener, the handshake and the exchange are answered
        // here, and nothing else passes before it has succeeded.
        let frame = match &mut auth {
            None => frame,
            Some(auth) => {
                match sasl_gate(&broker, auth, frame, peer, &mut session, &mut output).await {
                    Gate::Pass(frame) => frame,
                    Gate::Answer => {
                        write_answer(&mut stream, &output, &[])
                            .await
                            .map_err(|e| format!("write failed: {e}"))?;
                        continue;
                    }
                    Gate::AnswerAndClose { reason, delay } => {
                        let _ = stream.write_all(&output).await;
                        let _ = stream.flush().await;
                        tokio::time::sleep(delay).await;
                        return Err(reason);
                    }
                }
            }
        };
        let api_key = header::peek_api_key_and_version(&frame).map_or(-1, |(key, _)| key);
        // Fetched records go from the files to a plaintext socket.
        let zero_copy = stream.plain_tcp().is_some().then(ZeroCopy::new);
        let Answered {
            spliced,
            throttle,
            waited,
        } = match handle_frame(
            &broker,
            frame,
            peer,
            &session,
            &mut output,
            zero_copy.as_ref(),
        )
        .await
        {
            Ok(answered) => answered,
            Err(reason) => {
                add(&broker.stats.api(api_key).failed, 1);
                return Err(reason);
            }
        };
        // A throttled client is muted: nothing more is read from it until
        // the throttle time has passed (before or after its answer).
        let mute = |delay_answer: bool| {
            let wait = throttle
                .as_ref()
                .filter(|t| t.delay_answer == delay_answer)
                .map(|t| t.duration);
            let mut shutdown = shutdown.clone();
            async move {
                if let Some(wait) = wait {
                    debug!(%peer, "throttled for {wait:?} (client quota)");
                    tokio::select! {
                        _ = tokio::time::sleep(wait) => {}
                        _ = shutdown.changed() => {}
                    }
                }
            }
        };
        let handled = Instant::now();
        let held_back = throttle.as_ref().is_some_and(|t| t.delay_answer);
        mute(true).await;
        let sending = Instant::now();
        let written = if output.is_empty() {
            Ok(())
        } else {
            write_answer(&mut stream, &output, &spliced).await
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
        // (Only an answer actually held back has throttle time; the
        // moment it takes to find that out counts as local.)
        let local_end = if held_back { handled } else { sending };
        api.observe_phases(RequestPhases {
            local: local_end.duration_since(started).saturating_sub(waited),
            remote: waited,
            throttle: sending.duration_since(local_end),
            response_send: sending.elapsed(),
        });
        mute(false).await;
    }
}

/// What the SASL layer did with a frame.
enum Gate {
    /// Not SASL's: handle it as a request.
    Pass(Bytes),
    /// Answered (in `output`); go on.
    Answer,
    /// Answered (possibly with nothing); close after `delay`.
    AnswerAndClose {
        reason: CloseReason,
        delay: Duration,
    },
}

fn close(reason: impl Into<String>) -> Gate {
    Gate::AnswerAndClose {
        reason: reason.into(),
        delay: Duration::ZERO,
    }
}

/// The SASL part of a connection's request loop (see `network/sasl.rs`).
async fn sasl_gate(
    broker: &Broker,
    auth: &mut Authenticator,
    mut frame: Bytes,
    peer: SocketAddr,
    session: &mut Session,
    output: &mut BytesMut,
) -> Gate {
    // Handshake v0: the tokens come bare, a length and the bytes.
    if let Stage::Exchange { raw: true, .. } = auth.stage {
        let listener = auth.listener.clone();
        let step = auth.step(
            &frame,
            |m, u| scram_credential(broker, m, u),
            |m, id| delegation_token_login(broker, &listener, m, id),
        );
        return match finish_step(broker, auth, step, peer, session) {
            Ok((response, _)) => {
                output.extend_from_slice(&(response.len() as u32).to_be_bytes());
                output.extend_from_slice(&response);
                Gate::Answer
            }
            Err((_, reason)) => Gate::AnswerAndClose {
                reason,
                delay: auth.listener.failure_delay,
            },
        };
    }
    let Ok((key, version)) = header::peek_api_key_and_version(&frame) else {
        return Gate::Pass(frame);
    };
    let api = ApiKey::from_i16(key);
    let in_exchange = matches!(auth.stage, Stage::Exchange { .. });
    match api {
        // After authentication without a session lifetime, SaslHandshake
        // is an ordinary request (the handlers answer ILLEGAL_SASL_STATE).
        Some(ApiKey::SaslHandshake) if auth.is_authenticated() && !auth.may_reauthenticate() => {
            return Gate::Pass(frame)
        }
        Some(ApiKey::SaslHandshake) => {}
        Some(ApiKey::SaslAuthenticate) if in_exchange => {}
        Some(ApiKey::ApiVersions) => return Gate::Pass(frame),
        _ if auth.session_expired(Instant::now()) => {
            return close("the SASL session expired (connections.max.reauth.ms) and the client did not re-authenticate")
        }
        _ if auth.is_authenticated() => return Gate::Pass(frame),
        _ => {
            return close(format!(
                "unexpected {} request during the SASL handshake",
                api.map_or_else(|| format!("API {key}"), |a| a.name().to_string())
            ))
        }
    }
    let api = api.expect("matched above");
    if !handlers::supported_versions(api).is_some_and(|r| r.contains(version)) {
        return close(format!("{} v{version} is not supported", api.name()));
    }
    let request_header =
        match RequestHeader::decode(&mut frame, api.request_header_version(version)) {
            Ok(h) => h,
            Err(e) => return close(format!("bad {} header: {e}", api.name())),
        };
    let body = match RequestBody::decode(api, &mut frame, version) {
        Ok(b) => b,
        Err(e) => return close(format!("malformed {} v{version} request: {e}", api.name())),
    };
    let correlation_id = request_header.correlation_id;
    match body {
        RequestBody::SaslHandshake(request) => {
            let code = auth.handshake(&request.mechanism, version);
            let response = vltava_protocol::messages::SaslHandshakeResponse {
                error_code: code.code(),
                mechanisms: auth.listener.mechanism_names(),
            };
            let body = vltava_protocol::ResponseBody::SaslHandshake(response);
            if encode(output, correlation_id, &body, version, None).is_err() {
                return close("cannot encode a SaslHandshake response");
            }
            if code == ErrorCode::NONE {
                Gate::Answer
            } else {
                let why = if code == ErrorCode::UNSUPPORTED_SASL_MECHANISM && auth.reauthenticating
                {
                    "re-authentication must use the session's mechanism"
                } else if code == ErrorCode::UNSUPPORTED_SASL_MECHANISM {
                    "SASL mechanism not enabled"
                } else {
                    "SaslHandshake out of order"
                };
                warn!(%peer, listener = %session.listener, mechanism = %request.mechanism, "failed authentication: {why} ({})", code.name());
                Gate::AnswerAndClose {
                    reason: format!("SaslHandshake for {}: {why}", request.mechanism),
                    delay: auth.listener.failure_delay,
                }
            }
        }
        RequestBody::SaslAuthenticate(request) => {
            let listener = auth.listener.clone();
            let step = auth.step(
                &request.auth_bytes,
                |m, u| scram_credential(broker, m, u),
                |m, id| delegation_token_login(broker, &listener, m, id),
            );
            let (response, failed) = match finish_step(broker, auth, step, peer, session) {
                Ok((bytes, lifetime_ms)) => (
                    vltava_protocol::messages::SaslAuthenticateResponse {
                        error_code: 0,
                        error_message: None,
                        auth_bytes: bytes.into(),
                        session_lifetime_ms: lifetime_ms,
                        ..Default::default()
                    },
                    None,
                ),
                Err((client_message, reason)) => (
                    vltava_protocol::messages::SaslAuthenticateResponse {
                        error_code: ErrorCode::SASL_AUTHENTICATION_FAILED.code(),
                        error_message: Some(client_message),
                        ..Default::default()
                    },
                    Some(reason),
                ),
            };
            let body = vltava_protocol::ResponseBody::SaslAuthenticate(response);
            if encode(output, correlation_id, &body, version, None).is_err() {
                return close("cannot encode a SaslAuthenticate response");
            }
            match failed {
                None => Gate::Answer,
                Some(reason) => Gate::AnswerAndClose {
                    reason,
                    delay: auth.listener.failure_delay,
                },
            }
        }
        _ => close("unexpected request during the SASL handshake"),
    }
}

/// Applies a step's outcome to the connection: on success the principal
/// (and the bytes to send with the session lifetime); on failure the
/// audit line, and (client message, close reason).
fn finish_step(
    broker: &Broker,
    auth: &mut Authenticator,
    step: Step,
    peer: SocketAddr,
    session: &mut Session,
) -> Result<(Vec<u8>, i64), (String, CloseReason)> {
    match step {
        Step::Continue(bytes) => Ok((bytes, 0)),
        Step::Complete {
            response,
            user,
            token_expires_ms,
            delegation_token,
        } => {
            let lifetime = auth.complete(&user, token_expires_ms);
            session.principal = format!("User:{user}");
            session.token_authenticated = delegation_token;
            add(&broker.stats.sasl_authentications, 1);
            info!(%peer, listener = %session.listener, principal = %session.principal, "authenticated");
            Ok((response, lifetime))
        }
        Step::Failed {
            client_message,
            reason,
            user,
        } => {
            add(&broker.stats.sasl_failed_authentications, 1);
            warn!(%peer, listener = %session.listener, user = user.as_deref().unwrap_or("-"), "failed authentication: {reason}");
            Err((client_message, format!("failed authentication: {reason}")))
        }
    }
}

/// A user's stored SCRAM credential, from the metadata image.
fn scram_credential(
    broker: &Broker,
    mechanism: vltava_sasl::scram::ScramMechanism,
    user: &str,
) -> Option<vltava_sasl::scram::ScramCredential> {
    use vltava_sasl::scram::ScramMechanism;
    // Kafka's mechanism types in UserScramCredentialRecord.
    let code = match mechanism {
        ScramMechanism::Sha256 => 1,
        ScramMechanism::Sha512 => 2,
    };
    let image = broker.metadata.image();
    let stored = image.scram_credential(code, user)?;
    Some(vltava_sasl::scram::ScramCredential {
        salt: stored.salt.clone(),
        stored_key: stored.stored_key.clone(),
        server_key: stored.server_key.clone(),
        iterations: u32::try_from(stored.iterations).ok()?,
    })
}

/// The SCRAM login of a delegation token (KIP-48): the token exists and
/// has not expired, this node has `delegation.token.secret.key`, and the
/// credential is made from the token's HMAC. The exchange authenticates
/// the token's owner (the name of its `Type:Name`).
fn delegation_token_login(
    broker: &Broker,
    listener: &super::sasl::SaslListener,
    mechanism: vltava_sasl::scram::ScramMechanism,
    token_id: &str,
) -> Option<vltava_sasl::scram::TokenLogin> {
    let secret = broker.metadata.static_config().delegation_token_secret()?;
    let image = broker.metadata.image();
    let token = image.delegation_token(token_id)?;
    let now_ms = broker.now_ms();
    // A token at its expiry no longer logs in.
    if token.expired_at(now_ms) || token.expiry_ms.min(token.max_ms) <= now_ms {
        return None;
    }
    let hmac = vltava_sasl::scram::delegation_token_hmac(&secret, token_id);
    let owner = token
        .owner
        .split_once(':')
        .map_or(token.owner.as_str(), |(_, name)| name)
        .to_string();
    let live = image.delegation_tokens().count();
    let credential = listener
        .token_credentials
        .get(token_id, mechanism, &hmac, live, |id| {
            image.delegation_token(id).is_some()
        });
    Some(vltava_sasl::scram::TokenLogin {
        credential,
        owner,
        expires_ms: token.expiry_ms.min(token.max_ms),
    })
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
    session: &Session,
    output: &mut BytesMut,
    zero_copy: Option<&ZeroCopy>,
) -> Result<Answered, CloseReason> {
    let request_size = frame.len();
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
        let body = handlers::api_versions::unsupported_version_response(session.roles);
        return encode(output, request_header.correlation_id, &body, 0, None).map(Answered::now);
    }
    if !known.contains(version) || !supported.is_some_and(|r| r.contains(version)) {
        return Err(format!("{} v{version} is not supported", api_key.name()));
    }
    if !session.roles.serves(api_key) {
        let kind = if session.roles.broker {
            "client"
        } else {
            "controller"
        };
        return Err(format!(
            "{} on the {} listener, a {kind} listener, which does not serve it",
            api_key.name(),
            session.listener
        ));
    }
    let request_header = RequestHeader::decode(&mut frame, api_key.request_header_version(version))
        .map_err(|e| format!("bad {} v{version} header: {e}", api_key.name()))?;
    let mut body = RequestBody::decode(api_key, &mut frame, version)
        .map_err(|e| format!("malformed {} v{version} request: {e}", api_key.name()))?;
    let context = handlers::RequestContext {
        header: &request_header,
        version,
        peer,
        session,
        zero_copy,
    };
    let client = QuotaClient {
        user: quotas::user_of(&session.principal),
        client_id: request_header.client_id.as_deref().unwrap_or(""),
    };
    // A consumer's fetch is bounded by what its fetch quota allows in one
    // window, as Kafka bounds it, so one answer cannot overrun it by much.
    let consumer_fetch = matches!(&body, RequestBody::Fetch(f) if !is_follower(f, version));
    if consumer_fetch {
        if let RequestBody::Fetch(fetch) = &mut body {
            if let Some(max) = broker
                .quotas
                .max_fetch_bytes(&broker.metadata.image(), &client)
            {
                fetch.max_bytes = fetch.max_bytes.min(max.max(1));
            }
        }
    }
    let fetch_session = match &body {
        RequestBody::Fetch(f) => Some((f.session_id, f.session_epoch)),
        _ => None,
    };
    let exempt = exempt_from_request_quota(&body, version);
    let handler_started = Instant::now();
    let (handled, busy) =
        PollTimed::new(std::pin::pin!(handlers::handle(broker, &context, body))).await;
    // The handler's time not spent in its own polls went to waiting on
    // others (followers, a long poll, the controller): Kafka's remote time.
    let waited = handler_started.elapsed().saturating_sub(busy);
    let mut response = handled?;
    // Quotas (Kafka's ClientQuotaManagers): the time the request kept a
    // thread busy counts against request_percentage, produce request bytes
    // and consumer fetch answer bytes against the byte rates. Over quota,
    // the answer carries the throttle time, and the connection reads
    // nothing more until it has passed (`Throttle`).
    let image = broker.metadata.image();
    let request_ms = if exempt {
        0
    } else {
        broker.quotas.record_request_time(&image, &client, busy)
    };
    let throttle_ms = match (api_key, &mut response) {
        (ApiKey::Produce, _) => broker
            .quotas
            .record_produce(&image, &client, request_size)
            .max(request_ms),
        (ApiKey::Fetch, Some(vltava_protocol::ResponseBody::Fetch(fetch))) if consumer_fetch => {
            let size = fetch_response_bytes(fetch);
            let t = broker
                .quotas
                .record_fetch(&image, &client, size)
                .max(request_ms);
            if t > 0 {
                // Kafka answers a throttled fetch without data, and takes
                // its bytes back from the quota since they were not sent.
                broker.quotas.unrecord_fetch(&image, &client, size);
                let (session_id, epoch) = fetch_session.unwrap_or((0, -1));
                fetch.responses.clear();
                fetch.error_code = 0;
                // A session this request created is not handed out: the
                // client opens another with its next full fetch.
                fetch.session_id = if epoch > 0 { session_id } else { 0 };
            }
            t
        }
        // The controller mutation quota: the time until the client's
        // credits recover (topics refused meanwhile were answered
        // THROTTLING_QUOTA_EXCEEDED by the handler).
        (ApiKey::CreateTopics | ApiKey::CreatePartitions | ApiKey::DeleteTopics, _) => broker
            .quotas
            .mutation_throttle_ms(&image, &client)
            .max(request_ms),
        _ => request_ms,
    };
    if throttle_ms > 0 {
        if let Some(response) = &mut response {
            response.set_throttle_time_ms(clamp_ms(throttle_ms));
        }
    }
    let throttle = (throttle_ms > 0).then(|| Throttle {
        duration: Duration::from_millis(throttle_ms as u64),
        // Clients from these versions on wait out throttle_time_ms
        // themselves (KIP-219), so the answer goes at once; older ones
        // get it late, as Kafka delays it for them.
        delay_answer: match api_key {
            ApiKey::Produce => version < 6,
            ApiKey::Fetch => version < 8,
            _ => false,
        },
    });
    let spliced = match response {
        Some(response) => encode(
            output,
            request_header.correlation_id,
            &response,
            version,
            zero_copy,
        )?,
        None => Vec::new(),
    };
    Ok(Answered {
        spliced,
        throttle,
        waited,
    })
}

/// What `handle_frame` produced besides the bytes in `output`.
struct Answered {
    /// Fetched records to write from their own buffers or files:
    /// (position in `output`, records).
    spliced: Vec<(usize, Splice)>,
    throttle: Option<Throttle>,
    /// The part of the handler's time it spent waiting on others.
    waited: Duration,
}

impl Answered {
    fn now(spliced: Vec<(usize, Splice)>) -> Answered {
        Answered {
            spliced,
            throttle: None,
            waited: Duration::ZERO,
        }
    }
}

/// A client over its quota: the connection is muted for `duration`.
struct Throttle {
    duration: Duration,
    /// Hold the answer back for `duration` instead of sending it first.
    delay_answer: bool,
}

fn clamp_ms(ms: i64) -> i32 {
    ms.clamp(0, i64::from(i32::MAX)) as i32
}

/// Runs a future and adds up the time spent inside its polls: the thread
/// time a request takes, not the time it waits (for acks, for fetched
/// bytes), which is what Kafka's request quota measures.
struct PollTimed<'a, F: std::future::Future> {
    inner: std::pin::Pin<&'a mut F>,
    busy: Duration,
}

impl<'a, F: std::future::Future> PollTimed<'a, F> {
    fn new(inner: std::pin::Pin<&'a mut F>) -> Self {
        PollTimed {
            inner,
            busy: Duration::ZERO,
        }
    }
}

impl<F: std::future::Future> std::future::Future for PollTimed<'_, F> {
    type Output = (F::Output, Duration);

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        let started = Instant::now();
        let polled = self.inner.as_mut().poll(cx);
        self.busy += started.elapsed();
        let busy = self.busy;
        polled.map(|out| (out, busy))
    }
}

/// Requests not counted against request_percentage, as Kafka exempts
/// them: the nodes' own RPCs (ClusterAction), follower fetches, and the
/// requests a client needs before anything else.
fn exempt_from_request_quota(body: &RequestBody, version: i16) -> bool {
    match body {
        RequestBody::ApiVersions(_)
        | RequestBody::SaslHandshake(_)
        | RequestBody::SaslAuthenticate(_) => true,
        RequestBody::Fetch(f) if is_follower(f, version) => true,
        // An admin request the quorum answers, not a node's RPC.
        RequestBody::DescribeQuorum(_) => false,
        _ => handlers::is_node_rpc(body, version),
    }
}

/// Whether a Fetch comes from a follower replica (replication is not
/// subject to client quotas).
fn is_follower(fetch: &vltava_protocol::messages::FetchRequest, version: i16) -> bool {
    let replica_id = if version >= 15 {
        fetch.replica_state.replica_id
    } else {
        fetch.replica_id
    };
    replica_id >= 0
}

/// The bytes a fetch answer carries: its records, which is what the
/// fetch quota is about (the rest is a few bytes per partition).
fn fetch_response_bytes(fetch: &vltava_protocol::messages::FetchResponse) -> usize {
    fetch
        .responses
        .iter()
        .flat_map(|t| t.partitions.iter())
        .map(|p| p.records.as_ref().map_or(0, |r| r.len()) + 32)
        .sum()
}

/// Fetched records at least this large are written from their own buffers
/// (vectored write) instead of being copied into the response buffer.
const SPLICE_MIN_BYTES: usize = 4096;

fn encode(
    output: &mut BytesMut,
    correlation_id: i32,
    body: &vltava_protocol::ResponseBody,
    version: i16,
    zero_copy: Option<&ZeroCopy>,
) -> Result<Vec<(usize, Splice)>, CloseReason> {
    // Every placeholder must be spliced (copied, it would send zeros);
    // other records are, when large.
    let mut placeholders = 0;
    let shared: Vec<Bytes> = match body {
        vltava_protocol::ResponseBody::Fetch(fetch) => fetch
            .responses
            .iter()
            .flat_map(|t| t.partitions.iter())
            .filter_map(|p| p.records.as_ref())
            .filter(|r| {
                let placeholder = zero_copy::is_placeholder(r);
                placeholders += usize::from(placeholder);
                placeholder || r.len() >= SPLICE_MIN_BYTES
            })
            .cloned()
            .collect(),
        _ => Vec::new(),
    };
    let spliced = header::encode_response_sharing(correlation_id, body, version, output, shared)
        .map_err(|e| {
            // A response we cannot encode is our bug; say so loudly.
            warn!(
                "cannot encode {} v{version} response: {e}",
                body.api_key().name()
            );
            format!("internal error encoding a response: {e}")
        })?;
    let mut files = 0;
    let spliced: Vec<(usize, Splice)> = spliced
        .into_iter()
        .map(
            |(at, bytes)| match zero_copy.filter(|_| zero_copy::is_placeholder(&bytes)) {
                Some(zero_copy) => {
                    let located = zero_copy.take(&bytes)?;
                    files += 1;
                    Some((at, Splice::File(located)))
                }
                None => Some((at, Splice::Bytes(bytes))),
            },
        )
        .collect::<Option<_>>()
        .ok_or("internal error: a response holds a placeholder of another request")?;
    if files != placeholders {
        warn!(
            "{} v{version} response: {placeholders} located reads, {files} spliced",
            body.api_key().name()
        );
        return Err("internal error: located records were not spliced into the response".into());
    }
    Ok(spliced)
}

/// `ssl.client.auth` as Kafka applies it (KIP-684): the broker-wide
/// value only on SSL listeners; a SASL_SSL listener asks for client
/// certificates only when its own `listener.name.<l>.ssl.client.auth`
/// says so (its clients authenticate with SASL).
fn client_auth_setting(config: &vltava_config::BrokerConfig, listener: &str) -> Option<String> {
    match config.security_protocol_of(listener) {
        Some(SecurityProtocol::SaslSsl) => config.listener_only_text(listener, "ssl.client.auth"),
        _ => config.listener_text(listener, "ssl.client.auth"),
    }
}

/// The `ssl.*` settings of one listener, its own overrides first.
pub fn tls_settings(
    config: &vltava_config::BrokerConfig,
    listener: &str,
) -> Result<vltava_tls::TlsSettings, String> {
    let text = |key: &str| config.listener_text(listener, key);
    // Kafka's default store type is JKS; unless a type is set for this
    // listener or the broker, the file's content decides (PEM, JKS or
    // PKCS12), so both Kafka's stores and PEM files work without one.
    let store = |key: &str| match text(key) {
        Some(name) if config.listener_is_set(listener, key) => {
            vltava_tls::StoreType::from_name(&name)
                .map_err(|e| format!("listener {listener}: {key}: {e}"))
        }
        _ => Ok(vltava_tls::StoreType::Unset),
    };
    let keystore_type = store("ssl.keystore.type")?;
    let truststore_type = store("ssl.truststore.type")?;
    Ok(vltava_tls::TlsSettings {
        listener: listener.to_string(),
        keystore_type,
        keystore_location: text("ssl.keystore.location").map(Into::into),
        keystore_password: text("ssl.keystore.password"),
        keystore_key: text("ssl.keystore.key"),
        keystore_certificate_chain: text("ssl.keystore.certificate.chain"),
        key_password: text("ssl.key.password"),
        truststore_type,
        truststore_location: text("ssl.truststore.location").map(Into::into),
        truststore_password: text("ssl.truststore.password"),
        truststore_certificates: text("ssl.truststore.certificates"),
        client_auth: vltava_tls::ClientAuth::from_name(
            &client_auth_setting(config, listener).unwrap_or_else(|| "none".into()),
        )
        .unwrap_or_default(),
        enabled_protocols: config.listener_list(listener, "ssl.enabled.protocols"),
        cipher_suites: config.listener_list(listener, "ssl.cipher.suites"),
        principal_mapping_rules: text("ssl.principal.mapping.rules")
            .unwrap_or_else(|| "DEFAULT".into()),
    })
}

/// Binds every listener of `listeners`, with TLS where its protocol asks
/// for it; an error names the listener and what is wrong.
pub async fn bind_all(config: &vltava_config::BrokerConfig) -> Result<Vec<Listener>, String> {
    let mut out = Vec::new();
    for endpoint in config.listeners() {
        let name = endpoint.listener_name.clone();
        let protocol = config
            .security_protocol_of(&name)
            .unwrap_or(SecurityProtocol::Plaintext);
        let (tls, principal_mapper) = if protocol.uses_tls() {
            let settings = tls_settings(config, &name)?;
            let mapper = PrincipalMapper::parse(&settings.principal_mapping_rules)
                .map_err(|e| e.to_string())?;
            let tls = ServerTls::new(settings).map_err(|e| e.to_string())?;
            (Some(Arc::new(tls)), Some(mapper))
        } else {
            (None, None)
        };
        let sasl = if protocol.uses_sasl() {
            Some(Arc::new(SaslListener::from_config(config, &name)?))
        } else {
            None
        };
        let host = if endpoint.host.is_empty() {
            "0.0.0.0"
        } else {
            &endpoint.host
        };
        let addr = if host.contains(':') {
            format!("[{host}]:{}", endpoint.port)
        } else {
            format!("{host}:{}", endpoint.port)
        };
        let tcp = TcpListener::bind(&addr)
            .await
            .map_err(|e| format!("cannot listen on {addr} (listener {name}): {e}"))?;
        info!(listener = %name, protocol = protocol.name(), "listening on {}", tcp.local_addr().map_or(addr.clone(), |a| a.to_string()));
        out.push(Listener {
            tcp,
            name,
            protocol,
            tls,
            principal_mapper,
            sasl,
        });
    }
    if out.is_empty() {
        return Err("no listener configured (listeners)".into());
    }
    Ok(out)
}

/// Binds a listener's address.
pub async fn bind(addr: &str) -> std::io::Result<TcpListener> {
    let listener = TcpListener::bind(addr).await?;
    info!("listening on {}", listener.local_addr()?);
    Ok(listener)
}

/// How often the TLS listeners look for replaced key and trust files.
const TLS_RELOAD_EVERY: Duration = Duration::from_secs(10);

/// Makes each TLS listener's configuration, and the TLS of this node's
/// connections to other nodes, again when their files change, off the
/// accept path (the file reads run on the blocking pool).
pub async fn reload_tls(
    tls: Vec<Arc<ServerTls>>,
    outbound: Vec<Arc<vltava_tls::OutboundTls>>,
    mut shutdown: watch::Receiver<bool>,
) {
    if tls.is_empty() && outbound.is_empty() {
        return;
    }
    loop {
        tokio::select! {
            _ = tokio::time::sleep(TLS_RELOAD_EVERY) => {}
            _ = shutdown.wait_for(|s| *s) => return,
        }
        let (each, each_outbound) = (tls.clone(), outbound.clone());
        let _ = tokio::task::spawn_blocking(move || {
            for t in &each {
                t.reload_if_changed();
            }
            for t in &each_outbound {
                t.reload_if_changed();
            }
        })
        .await;
    }
}

#[cfg(test)]
mod tests {
    use vltava_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
    use vltava_protocol::messages::FetchResponse;
    use vltava_protocol::ResponseBody;
    use vltava_records::RecordBatchBuilder;
    use vltava_storage::{Log, LogConfig, LogOpenOptions};

    use super::*;

    /// A Fetch answer whose one partition's records stand in as a
    /// placeholder, from the table `zero_copy`.
    fn answer_with_placeholder(dir: &std::path::Path, zero_copy: &ZeroCopy) -> ResponseBody {
        let log = Log::open(
            &dir.join("t-0"),
            LogConfig::default(),
            LogOpenOptions::default(),
            0,
        )
        .unwrap();
        for _ in 0..30 {
            let mut b = RecordBatchBuilder::new();
            b.append(0, None, Some(&[b'v'; 1000]), &[]).unwrap();
            log.append_as_leader(b.build().unwrap(), 0, 0).unwrap();
        }
        let located = log.locate(0, 1 << 20, i64::MAX, false).unwrap();
        let records = zero_copy.stand_in(located).unwrap();
        assert!(zero_copy::is_placeholder(&records));
        ResponseBody::Fetch(FetchResponse {
            responses: vec![FetchableTopicResponse {
                topic: "t".into(),
                partitions: vec![
                    PartitionData {
                        records: Some(records),
                        ..Default::default()
                    },
                    PartitionData {
                        partition_index: 1,
                        records: Some(Bytes::from_static(b"small")),
                        ..Default::default()
                    },
                ],
                ..Default::default()
            }],
            ..Default::default()
        })
    }

    #[test]
    fn placeholders_are_spliced_as_files_never_copied() {
        let dir = tempfile::tempdir().unwrap();
        let zero_copy = ZeroCopy::new();
        let body = answer_with_placeholder(dir.path(), &zero_copy);
        let mut output = BytesMut::new();
        let spliced = encode(&mut output, 7, &body, 12, Some(&zero_copy)).unwrap();
        assert_eq!(spliced.len(), 1);
        assert!(matches!(&spliced[0].1, Splice::File(l) if l.len() >= 30_000));
        // The small records were copied into the encoded bytes.
        assert!(output.windows(5).any(|w| w == b"small"));

        // Without the request's table, a placeholder cannot be written:
        // the connection is closed rather than zeros sent.
        let other = ZeroCopy::new();
        let body = answer_with_placeholder(tempfile::tempdir().unwrap().path(), &other);
        let mut output = BytesMut::new();
        assert!(encode(&mut output, 7, &body, 12, None).is_err());
        assert!(encode(&mut output, 7, &body, 12, Some(&ZeroCopy::new())).is_err());
    }
}
