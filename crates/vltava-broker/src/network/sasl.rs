//! SASL on SASL_PLAINTEXT and SASL_SSL listeners: the connection-level
//! part of Kafka's `SaslServerAuthenticator`.
//!
//! A connection on a SASL listener may send only ApiVersions, SaslHandshake
//! and SaslAuthenticate until it has authenticated; anything else closes
//! it, as Kafka closes it. SaslHandshake names the mechanism (an unknown
//! or disabled one gets UNSUPPORTED_SASL_MECHANISM and the connection is
//! closed); with handshake v1 the exchange runs in SaslAuthenticate
//! requests, with v0 as bare length-prefixed tokens (the pre-KIP-152
//! framing). A failed exchange is answered with
//! SASL_AUTHENTICATION_FAILED, logged with the address and the user the
//! client tried, and closed after `connection.failed.authentication.delay.ms`.
//!
//! With `connections.max.reauth.ms` set, the session lifetime goes back in
//! SaslAuthenticate v1+ (KIP-368); a client re-authenticates by sending
//! SaslHandshake and SaslAuthenticate again on the same connection, and a
//! connection whose session ran out without that is closed at its next
//! request. The principal may not change on re-authentication.
//!
//! The mechanisms themselves are `vltava-sasl`'s; this module feeds them
//! bytes and keeps the per-connection state.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tracing::warn;
use vltava_protocol::ErrorCode;
use vltava_sasl::oauthbearer::{OAuthBearerServer, OAuthBearerStep, UnsecuredValidatorConfig};
use vltava_sasl::plain::PlainUsers;
use vltava_sasl::scram::{ScramCredential, ScramMechanism, ScramServer};
use vltava_sasl::Mechanism;

/// One SASL listener's mechanisms and their settings.
pub struct SaslListener {
    /// Enabled mechanisms, in `sasl.enabled.mechanisms` order.
    pub mechanisms: Vec<Mechanism>,
    /// PLAIN's users (`user_<name>` options of the listener's JAAS config).
    pub plain: Option<PlainUsers>,
    /// OAUTHBEARER's unsecured-token validator.
    pub oauth: Option<UnsecuredValidatorConfig>,
    /// `connections.max.reauth.ms`; zero: sessions do not expire.
    pub max_reauth: Duration,
    /// `sasl.server.max.receive.size`.
    pub max_receive: usize,
    /// `connection.failed.authentication.delay.ms`.
    pub failure_delay: Duration,
}

impl SaslListener {
    /// The SASL settings of `listener` from the broker's config; errors say
    /// which setting is missing.
    pub fn from_config(
        config: &vltava_config::BrokerConfig,
        listener: &str,
    ) -> Result<SaslListener, String> {
        let mut mechanisms = Vec::new();
        for name in config.listener_list(listener, "sasl.enabled.mechanisms") {
            match Mechanism::from_name(name.trim()) {
                Some(m) if !mechanisms.contains(&m) => mechanisms.push(m),
                Some(_) => {}
                None => warn!(
                    listener,
                    "sasl.enabled.mechanisms: {name} is not offered (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 and OAUTHBEARER are)"
                ),
            }
        }
        if mechanisms.is_empty() {
            return Err(format!(
                "listener {listener} uses SASL but sasl.enabled.mechanisms names none of PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, OAUTHBEARER (Kerberos/GSSAPI is not supported)"
            ));
        }
        let jaas = |m: Mechanism| -> Result<Option<vltava_sasl::jaas::JaasEntry>, String> {
            match config.jaas_config(listener, m.name()) {
                None => Ok(None),
                Some(text) => vltava_sasl::jaas::parse_single(&text)
                    .map(Some)
                    .map_err(|e| {
                        format!(
                            "listener {listener}: listener.name.{}.{}.sasl.jaas.config: {}",
                            listener.to_ascii_lowercase(),
                            m.name().to_ascii_lowercase(),
                            e.message()
                        )
                    }),
            }
        };
        let plain = if mechanisms.contains(&Mechanism::Plain) {
            let entry = jaas(Mechanism::Plain)?.ok_or_else(|| {
                format!(
                    "listener {listener} offers PLAIN but has no JAAS config with its users: set listener.name.{}.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_<name>=\"<password>\";",
                    listener.to_ascii_lowercase()
                )
            })?;
            let users = PlainUsers::from_jaas(std::slice::from_ref(&entry));
            if users.is_empty() {
                return Err(format!(
                    "listener {listener} offers PLAIN but its JAAS config names no user_<name> option"
                ));
            }
            Some(users)
        } else {
            None
        };
        let oauth = if mechanisms.contains(&Mechanism::OAuthBearer) {
            let entry = jaas(Mechanism::OAuthBearer)?;
            Some(match entry {
                Some(e) => UnsecuredValidatorConfig::from_jaas(&e)
                    .map_err(|why| format!("listener {listener}: OAUTHBEARER: {why}"))?,
                None => UnsecuredValidatorConfig::default(),
            })
        } else {
            None
        };
        Ok(SaslListener {
            mechanisms,
            plain,
            oauth,
            max_reauth: Duration::from_millis(
                config
                    .listener_value(listener, "connections.max.reauth.ms")
                    .and_then(|v| v.as_i64())
                    .unwrap_or(0)
                    .max(0) as u64,
            ),
            max_receive: config.sasl_server_max_receive_size().max(1) as usize,
            failure_delay: Duration::from_millis(
                config.connection_failed_authentication_delay_ms().max(0) as u64,
            ),
        })
    }

    pub fn mechanism_names(&self) -> Vec<String> {
        self.mechanisms
            .iter()
            .map(|m| m.name().to_string())
            .collect()
    }
}

/// Where a connection's SASL exchange stands.
pub enum Stage {
    /// Waiting for SaslHandshake (ApiVersions allowed too).
    Handshake,
    /// A mechanism is chosen and its exchange runs. `raw`: handshake v0,
    /// so the tokens come without Kafka framing.
    Exchange {
        mechanism: Mechanism,
        exchange: Exchange,
        raw: bool,
    },
    /// Authenticated; `expires` is when the session must have been renewed.
    Done { expires: Option<Instant> },
}

/// A mechanism's server state during one exchange.
pub enum Exchange {
    Plain,
    /// The server, and the user the client-first message named (for the
    /// audit log), once it was taken.
    Scram(Box<ScramServer>, Option<String>),
    OAuth(Box<OAuthBearerServer>),
}

/// The result of one step of the exchange.
pub enum Step {
    /// Send these bytes; the exchange goes on.
    Continue(Vec<u8>),
    /// Authenticated as `user`; send these bytes (usually empty). For
    /// OAUTHBEARER, the token's expiry in Unix milliseconds.
    Complete {
        response: Vec<u8>,
        user: String,
        token_expires_ms: Option<i64>,
    },
    /// Failed: the message for the client and the reason for the log.
    Failed {
        client_message: String,
        reason: String,
        user: Option<String>,
    },
}

/// A connection's SASL state.
pub struct Authenticator {
    pub listener: Arc<SaslListener>,
    pub stage: Stage,
    /// True during a re-authentication (KIP-368).
    pub reauthenticating: bool,
    /// The principal of the last successful authentication.
    pub authenticated_user: Option<String>,
    /// The mechanism of the last successful authentication: a
    /// re-authentication must use the same one, as in Kafka.
    authenticated_mechanism: Option<Mechanism>,
}

impl Authenticator {
    pub fn new(listener: Arc<SaslListener>) -> Authenticator {
        Authenticator {
            listener,
            stage: Stage::Handshake,
            reauthenticating: false,
            authenticated_user: None,
            authenticated_mechanism: None,
        }
    }

    pub fn is_authenticated(&self) -> bool {
        matches!(self.stage, Stage::Done { .. })
    }

    /// True once authenticated with a session lifetime: only then may the
    /// client re-authenticate (KIP-368; without `connections.max.reauth.ms`
    /// a SaslHandshake after authentication is an ordinary request, which
    /// Kafka answers ILLEGAL_SASL_STATE).
    pub fn may_reauthenticate(&self) -> bool {
        matches!(self.stage, Stage::Done { expires: Some(_) })
    }

    /// True when the session has run out and the request is not the start
    /// of a re-authentication.
    pub fn session_expired(&self, now: Instant) -> bool {
        matches!(self.stage, Stage::Done { expires: Some(at) } if now >= at)
    }

    /// SaslHandshake: the mechanism is enabled (the exchange starts) or
    /// not (error code UNSUPPORTED_SASL_MECHANISM, and the caller closes).
    pub fn handshake(&mut self, name: &str, version: i16) -> ErrorCode {
        if self.is_authenticated() {
            if version < 1 {
                return ErrorCode::ILLEGAL_SASL_STATE;
            }
            self.reauthenticating = true;
        } else if !matches!(self.stage, Stage::Handshake) {
            return ErrorCode::ILLEGAL_SASL_STATE;
        }
        let Some(mechanism) =
            Mechanism::from_name(name).filter(|m| self.listener.mechanisms.contains(m))
        else {
            return ErrorCode::UNSUPPORTED_SASL_MECHANISM;
        };
        // Kafka re-authenticates only with the session's mechanism.
        if self.reauthenticating && self.authenticated_mechanism != Some(mechanism) {
            return ErrorCode::UNSUPPORTED_SASL_MECHANISM;
        }
        let exchange = match mechanism {
            Mechanism::Plain => Exchange::Plain,
            Mechanism::ScramSha256 => {
                Exchange::Scram(Box::new(ScramServer::new(ScramMechanism::Sha256)), None)
            }
            Mechanism::ScramSha512 => {
                Exchange::Scram(Box::new(ScramServer::new(ScramMechanism::Sha512)), None)
            }
            Mechanism::OAuthBearer => Exchange::OAuth(Box::new(OAuthBearerServer::new(
                self.listener.oauth.clone().unwrap_or_default(),
            ))),
        };
        self.stage = Stage::Exchange {
            mechanism,
            exchange,
            raw: version == 0,
        };
        ErrorCode::NONE
    }

    /// Feeds one client message to the mechanism. `scram` looks a user's
    /// stored SCRAM credential up.
    pub fn step(
        &mut self,
        token: &[u8],
        scram: impl Fn(ScramMechanism, &str) -> Option<ScramCredential>,
    ) -> Step {
        let reauth = self.reauthenticating;
        let Stage::Exchange {
            mechanism,
            exchange,
            ..
        } = &mut self.stage
        else {
            return Step::Failed {
                client_message: "Unexpected SaslAuthenticate request before SaslHandshake".into(),
                reason: "SaslAuthenticate before SaslHandshake".into(),
                user: None,
            };
        };
        let mechanism = *mechanism;
        if token.len() > self.listener.max_receive {
            return Step::Failed {
                client_message: vltava_sasl::generic_failure_message(mechanism, reauth),
                reason: format!(
                    "a SASL token of {} bytes, over sasl.server.max.receive.size ({})",
                    token.len(),
                    self.listener.max_receive
                ),
                user: None,
            };
        }
        let step = match exchange {
            Exchange::Plain => {
                let users = self.listener.plain.as_ref().expect("PLAIN has users");
                match users.authenticate(token) {
                    Ok(user) => Step::Complete {
                        response: Vec::new(),
                        user,
                        token_expires_ms: None,
                    },
                    Err(e) => Step::Failed {
                        client_message: e.client_message(reauth),
                        reason: e.message().to_string(),
                        user: plain_user(token),
                    },
                }
            }
            Exchange::Scram(server, named) => {
                if named.is_none() {
                    let mech = server.mechanism();
                    *named = Some(
                        vltava_sasl::scram::parse_client_first(mech, token)
                            .map_or_else(|_| String::new(), |first| first.user),
                    );
                    match server.client_first(token, |user| scram(mech, user), &nonce()) {
                        Ok(first) => Step::Continue(first),
                        Err(e) => Step::Failed {
                            client_message: e.client_message(reauth),
                            reason: e.message().to_string(),
                            user: named.clone().filter(|u| !u.is_empty()),
                        },
                    }
                } else {
                    match server.client_final(token) {
                        Ok((last, user)) => Step::Complete {
                            response: last,
                            user,
                            token_expires_ms: None,
                        },
                        Err(e) => Step::Failed {
                            client_message: e.client_message(reauth),
                            reason: e.message().to_string(),
                            user: named.clone().filter(|u| !u.is_empty()),
                        },
                    }
                }
            }
            Exchange::OAuth(server) => match server.respond(token, now_ms()) {
                Ok(OAuthBearerStep::Challenge { challenge, reason }) => {
                    warn!("OAUTHBEARER token refused: {reason}");
                    Step::Continue(challenge)
                }
                Ok(OAuthBearerStep::Complete { token, .. }) => Step::Complete {
                    response: Vec::new(),
                    user: token.principal,
                    token_expires_ms: Some(token.expiration_ms),
                },
                Err(e) => Step::Failed {
                    client_message: e.client_message(reauth),
                    reason: e.message().to_string(),
                    user: None,
                },
            },
        };
        // The principal may not change when a session is renewed.
        if let Step::Complete { user, .. } = &step {
            if let Some(before) = self.authenticated_user.as_ref().filter(|_| reauth) {
                if before != user {
                    return Step::Failed {
                        client_message: "Cannot change principals during re-authentication".into(),
                        reason: format!("re-authentication as {user}, was {before}"),
                        user: Some(user.clone()),
                    };
                }
            }
        }
        step
    }

    /// Records a completed exchange; returns the session lifetime to
    /// report (zero: none).
    pub fn complete(&mut self, user: &str, token_expires_ms: Option<i64>) -> i64 {
        let now = Instant::now();
        let mut lifetime_ms: i64 = self.listener.max_reauth.as_millis() as i64;
        if let Some(expires) = token_expires_ms {
            let left = (expires - now_ms()).max(0);
            lifetime_ms = if lifetime_ms == 0 {
                left
            } else {
                lifetime_ms.min(left)
            };
        }
        let expires = (lifetime_ms > 0).then(|| now + Duration::from_millis(lifetime_ms as u64));
        if let Stage::Exchange { mechanism, .. } = &self.stage {
            self.authenticated_mechanism = Some(*mechanism);
        }
        self.stage = Stage::Done { expires };
        self.authenticated_user = Some(user.to_string());
        self.reauthenticating = false;
        lifetime_ms
    }
}

/// The user a PLAIN message names, for the audit log.
fn plain_user(token: &[u8]) -> Option<String> {
    let mut parts = token.split(|b| *b == 0);
    let _authzid = parts.next()?;
    parts
        .next()
        .map(|u| String::from_utf8_lossy(u).into_owned())
}

/// A SCRAM server nonce: 18 random bytes, base64-like printable text.
fn nonce() -> String {
    let mut bytes = [0u8; 18];
    getrandom::getrandom(&mut bytes).expect("the system's random source");
    vltava_sasl::scram::nonce_text(&bytes)
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
