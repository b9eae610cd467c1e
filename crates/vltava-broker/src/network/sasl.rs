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
//! bytes and keeps the per-connection state. OAUTHBEARER checks Kafka's
//! unsecured tokens unless the listener's
//! `oauthbearer.sasl.server.callback.handler.class` names Kafka's
//! `OAuthBearerValidatorCallbackHandler`: then tokens must be signed by a
//! key of the JWKS file `sasl.oauthbearer.jwks.endpoint.url` names
//! (`network/jwks.rs`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tracing::warn;

use super::{jwks, jwks_http};
use vltava_protocol::ErrorCode;
use vltava_sasl::oauthbearer::jwt::{
    JwtValidatorConfig, LEGACY_VALIDATOR_CALLBACK_HANDLER, VALIDATOR_CALLBACK_HANDLER,
};
use vltava_sasl::oauthbearer::{
    OAuthBearerServer, OAuthBearerStep, TokenValidator, UnsecuredValidatorConfig,
};
use vltava_sasl::plain::PlainUsers;
use vltava_sasl::scram::{ScramCredential, ScramMechanism, ScramServer, TokenLogin};
use vltava_sasl::Mechanism;

/// One SASL listener's mechanisms and their settings.
pub struct SaslListener {
    /// Enabled mechanisms, in `sasl.enabled.mechanisms` order.
    pub mechanisms: Vec<Mechanism>,
    /// PLAIN's users (`user_<name>` options of the listener's JAAS config).
    pub plain: Option<PlainUsers>,
    /// OAUTHBEARER's token validator: Kafka's unsecured tokens, or signed
    /// ones checked against a JWKS file.
    pub oauth: Option<Arc<dyn TokenValidator>>,
    /// `connections.max.reauth.ms`; zero: sessions do not expire.
    pub max_reauth: Duration,
    /// `sasl.server.max.receive.size`.
    pub max_receive: usize,
    /// `connection.failed.authentication.delay.ms`.
    pub failure_delay: Duration,
    /// The SCRAM credentials of delegation tokens, made on first use (a
    /// credential costs 4096 PBKDF2 rounds; a token id is no secret, so an
    /// unauthenticated client must not be able to make the broker pay
    /// that on every attempt).
    pub token_credentials: TokenCredentials,
}

/// Delegation tokens' SCRAM credentials by (token id, mechanism), with the
/// HMAC each was made from (a new secret makes new ones).
#[derive(Default)]
pub struct TokenCredentials(Mutex<CredentialMap>);

/// (token id, mechanism) to (the HMAC it was made from, the credential).
type CredentialMap = HashMap<(String, ScramMechanism), (Vec<u8>, ScramCredential)>;

impl TokenCredentials {
    /// The credential of `token_id` for `mechanism` from `hmac`, made once.
    /// Entries of tokens that no longer exist are dropped when the cache
    /// holds more than twice `live` (the number of tokens) plus a margin.
    pub fn get(
        &self,
        token_id: &str,
        mechanism: ScramMechanism,
        hmac: &[u8],
        live: usize,
        exists: impl Fn(&str) -> bool,
    ) -> ScramCredential {
        let key = (token_id.to_string(), mechanism);
        if let Some((h, c)) = self.lock().get(&key) {
            if h.as_slice() == hmac {
                return c.clone();
            }
        }
        // Made outside the lock: PBKDF2 takes milliseconds.
        let credential = vltava_sasl::scram::delegation_token_credential(mechanism, token_id, hmac);
        let mut cache = self.lock();
        if cache.len() > 2 * live + 16 {
            cache.retain(|(id, _), _| exists(id));
        }
        cache.insert(key, (hmac.to_vec(), credential.clone()));
        credential
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, CredentialMap> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
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
            let handler = config.mechanism_text(
                listener,
                Mechanism::OAuthBearer.name(),
                "sasl.server.callback.handler.class",
            );
            Some(match handler.as_deref().map(str::trim) {
                None | Some(UNSECURED_VALIDATOR_CALLBACK_HANDLER) => {
                    let unsecured = match entry {
                        Some(e) => UnsecuredValidatorConfig::from_jaas(&e)
                            .map_err(|why| format!("listener {listener}: OAUTHBEARER: {why}"))?,
                        None => UnsecuredValidatorConfig::default(),
                    };
                    Arc::new(unsecured) as Arc<dyn TokenValidator>
                }
                Some(VALIDATOR_CALLBACK_HANDLER | LEGACY_VALIDATOR_CALLBACK_HANDLER) => {
                    signed_validator(config, listener)?
                }
                Some(other) => {
                    return Err(format!(
                        "listener {listener}: listener.name.{}.oauthbearer.sasl.server.callback.handler.class={other} is not offered: {VALIDATOR_CALLBACK_HANDLER} checks signed tokens against a JWKS file, and without the key OAUTHBEARER takes Kafka's unsecured tokens",
                        listener.to_ascii_lowercase()
                    ))
                }
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
            token_credentials: TokenCredentials::default(),
        })
    }

    pub fn mechanism_names(&self) -> Vec<String> {
        self.mechanisms
            .iter()
            .map(|m| m.name().to_string())
            .collect()
    }
}

/// Kafka's default OAUTHBEARER server callback handler, named outright.
const UNSECURED_VALIDATOR_CALLBACK_HANDLER: &str =
    "org.apache.kafka.common.security.oauthbearer.internals.unsecured.OAuthBearerUnsecuredValidatorCallbackHandler";

/// The signed-token validator of `listener`, from the `sasl.oauthbearer.*`
/// keys Kafka's `OAuthBearerValidatorCallbackHandler` reads.
fn signed_validator(
    config: &vltava_config::BrokerConfig,
    listener: &str,
) -> Result<Arc<dyn TokenValidator>, String> {
    let mech = Mechanism::OAuthBearer.name();
    let text = |key: &str| {
        config
            .mechanism_text(listener, mech, key)
            .map(|t| t.trim().to_owned())
            .filter(|t| !t.is_empty())
    };
    let number = |key: &str| {
        config
            .mechanism_value(listener, mech, key)
            .and_then(|v| v.as_i64())
    };
    let err = |why: String| format!("listener {listener}: OAUTHBEARER: {why}");
    let url = text("sasl.oauthbearer.jwks.endpoint.url").ok_or_else(|| {
        err("signed tokens need sasl.oauthbearer.jwks.endpoint.url, the identity provider's JWKS (https://, http:// or file:)".into())
    })?;
    let skew = number("sasl.oauthbearer.clock.skew.seconds").unwrap_or(30);
    let clock_skew_seconds = u32::try_from(skew).map_err(|_| {
        err(format!(
            "sasl.oauthbearer.clock.skew.seconds must not be negative: {skew}"
        ))
    })?;
    let refresh_ms = number("sasl.oauthbearer.jwks.endpoint.refresh.ms").unwrap_or(3_600_000);
    let validator = JwtValidatorConfig {
        expected_audience: config
            .mechanism_value(listener, mech, "sasl.oauthbearer.expected.audience")
            .and_then(|v| v.as_list())
            .unwrap_or_default()
            .iter()
            .map(|a| a.trim().to_owned())
            .filter(|a| !a.is_empty())
            .collect(),
        expected_issuer: text("sasl.oauthbearer.expected.issuer"),
        sub_claim_name: text("sasl.oauthbearer.sub.claim.name").unwrap_or_else(|| "sub".into()),
        scope_claim_name: text("sasl.oauthbearer.scope.claim.name")
            .unwrap_or_else(|| "scope".into()),
        clock_skew_seconds,
    };
    let scheme = url.split_once(':').map(|(s, _)| s.to_ascii_lowercase());
    if matches!(scheme.as_deref(), Some("http" | "https")) {
        let duration = |key: &str, default: i64| {
            Duration::from_millis(number(key).unwrap_or(default).max(0) as u64)
        };
        let times = jwks_http::FetchTimes {
            refresh: Duration::from_millis(refresh_ms.max(1) as u64),
            backoff: duration("sasl.oauthbearer.jwks.endpoint.retry.backoff.ms", 100),
            backoff_max: duration(
                "sasl.oauthbearer.jwks.endpoint.retry.backoff.max.ms",
                10_000,
            ),
        };
        let client = jwks_client(config, listener).map_err(err)?;
        let validator =
            jwks_http::JwksHttpValidator::start(&url, validator, times, client).map_err(err)?;
        return Ok(validator);
    }
    let file = jwks::JwksFileValidator::open(&url, validator, refresh_ms, now_ms()).map_err(err)?;
    Ok(Arc::new(file))
}

/// The HTTP client that fetches a JWKS endpoint: Mozilla's roots, or the
/// trust store the listener's OAUTHBEARER JAAS options name
/// (`ssl.truststore.location`, `ssl.truststore.type`,
/// `ssl.truststore.password`, as Kafka's `JaasOptionsUtils` reads them).
fn jwks_client(
    config: &vltava_config::BrokerConfig,
    listener: &str,
) -> Result<vltava_http_client::HttpClient, String> {
    const AGENT: &str = "vltava-jwks";
    let jaas = config
        .jaas_config(listener, Mechanism::OAuthBearer.name())
        .map(|text| vltava_sasl::jaas::parse_single(&text).map_err(|e| e.message().to_string()))
        .transpose()?;
    let option = |key: &str| {
        jaas.as_ref()
            .and_then(|entry| entry.option(key))
            .map(str::to_string)
    };
    let Some(location) = option("ssl.truststore.location") else {
        return vltava_http_client::HttpClient::new(AGENT);
    };
    let mut settings = vltava_tls::TlsSettings::with_keystore("jwks", "");
    settings.keystore_location = None;
    settings.truststore_location = Some(location.into());
    settings.truststore_password = option("ssl.truststore.password");
    if let Some(kind) = option("ssl.truststore.type") {
        settings.truststore_type = vltava_tls::StoreType::from_name(&kind)
            .map_err(|e| format!("ssl.truststore.type: {e}"))?;
    }
    let tls = vltava_tls::OutboundTls::new(settings, true).map_err(|e| e.to_string())?;
    Ok(vltava_http_client::HttpClient::with_tls(
        (*tls.config()).clone(),
        AGENT,
    ))
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
        /// Authenticated with a delegation token (SCRAM `tokenauth`).
        delegation_token: bool,
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
            Mechanism::OAuthBearer => {
                Exchange::OAuth(Box::new(match self.listener.oauth.clone() {
                    Some(validator) => OAuthBearerServer::with_validator(validator),
                    None => OAuthBearerServer::new(UnsecuredValidatorConfig::default()),
                }))
            }
        };
        self.stage = Stage::Exchange {
            mechanism,
            exchange,
            raw: version == 0,
        };
        ErrorCode::NONE
    }

    /// Feeds one client message to the mechanism. `scram` looks a user's
    /// stored SCRAM credential up, `delegation_token` a token's (by id,
    /// for a SCRAM client that asks for token authentication).
    pub fn step(
        &mut self,
        token: &[u8],
        scram: impl Fn(ScramMechanism, &str) -> Option<ScramCredential>,
        delegation_token: impl Fn(ScramMechanism, &str) -> Option<TokenLogin>,
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
                        delegation_token: false,
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
                    match server.client_first_with_tokens(
                        token,
                        |user| scram(mech, user),
                        |id| delegation_token(mech, id),
                        &nonce(),
                    ) {
                        Ok(first) => Step::Continue(first),
                        Err(e) => Step::Failed {
                            client_message: e.client_message(reauth),
                            reason: e.message().to_string(),
                            user: named.clone().filter(|u| !u.is_empty()),
                        },
                    }
                } else {
                    match server.client_final_with_token(token) {
                        // A token that expired during the exchange does
                        // not log in.
                        Ok((_, user, Some(token))) if token.expires_ms <= now_ms() => {
                            Step::Failed {
                                client_message: vltava_sasl::generic_failure_message(
                                    mechanism, reauth,
                                ),
                                reason: "the delegation token expired during the exchange".into(),
                                user: Some(user),
                            }
                        }
                        // A token's session lasts no longer than the token.
                        Ok((last, user, token)) => Step::Complete {
                            response: last,
                            user,
                            token_expires_ms: token.as_ref().map(|t| t.expires_ms),
                            delegation_token: token.is_some(),
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
                    delegation_token: false,
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
        // A credential that expires bounds the session; one already past
        // its expiry ends it at once (zero would mean "no expiry").
        let expires = if token_expires_ms.is_some() && lifetime_ms <= 0 {
            lifetime_ms = 1;
            Some(now)
        } else {
            (lifetime_ms > 0).then(|| now + Duration::from_millis(lifetime_ms as u64))
        };
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

#[cfg(test)]
mod tests {
    use super::*;

    fn listener(extra: &[(&str, &str)]) -> Result<SaslListener, String> {
        let mut props = vec![(
            "sasl.enabled.mechanisms".to_owned(),
            "OAUTHBEARER".to_owned(),
        )];
        props.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let config = vltava_config::BrokerConfig::from_sources(props, vec![]).unwrap();
        SaslListener::from_config(&config, "SECURE")
    }

    const HANDLER: &str = "listener.name.secure.oauthbearer.sasl.server.callback.handler.class";
    const URL: &str = "listener.name.secure.oauthbearer.sasl.oauthbearer.jwks.endpoint.url";

    /// What the listener's validator says of an unsecured token for alice.
    fn unsecured_token_result(listener: &SaslListener) -> Result<String, String> {
        let token = "eyJhbGciOiJub25lIn0.eyJzdWIiOiJhbGljZSIsImV4cCI6OTk5OTk5OTk5OX0.";
        listener
            .oauth
            .as_ref()
            .unwrap()
            .validate(token, now_ms())
            .map(|t| t.principal)
            .map_err(|r| r.reason)
    }

    #[test]
    fn without_a_handler_class_oauthbearer_takes_unsecured_tokens() {
        for extra in [
            vec![],
            vec![(HANDLER, UNSECURED_VALIDATOR_CALLBACK_HANDLER)],
        ] {
            let l = listener(&extra).unwrap();
            assert_eq!(unsecured_token_result(&l).unwrap(), "alice");
        }
    }

    #[test]
    fn kafkas_validator_class_checks_signed_tokens_against_the_jwks_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("jwks.json");
        std::fs::write(
            &path,
            format!(
                r#"{{"keys":[{{"kty":"RSA","kid":"k","n":"{}","e":"AQAB"}}]}}"#,
                "A".repeat(342)
            ),
        )
        .unwrap();
        let url = format!("file://{}", path.display());
        for class in [
            VALIDATOR_CALLBACK_HANDLER,
            LEGACY_VALIDATOR_CALLBACK_HANDLER,
        ] {
            let l = listener(&[(HANDLER, class), (URL, &url)]).unwrap();
            let err = unsecured_token_result(&l).unwrap_err();
            assert!(err.contains("alg \"none\""), "{err}");
        }
    }

    #[test]
    fn a_bad_signed_token_setup_stops_the_listener_with_a_reason() {
        let cases: [(&[(&str, &str)], &str); 5] = [
            (
                &[(HANDLER, "com.example.MyHandler")],
                "com.example.MyHandler is not offered",
            ),
            (
                &[(HANDLER, VALIDATOR_CALLBACK_HANDLER)],
                "need sasl.oauthbearer.jwks.endpoint.url",
            ),
            (
                &[(HANDLER, VALIDATOR_CALLBACK_HANDLER), (URL, "https://")],
                "sasl.oauthbearer.jwks.endpoint.url https://: ",
            ),
            (
                &[
                    (HANDLER, VALIDATOR_CALLBACK_HANDLER),
                    (URL, "ftp://idp.example/keys"),
                ],
                "not a file: URL",
            ),
            (
                &[
                    (HANDLER, VALIDATOR_CALLBACK_HANDLER),
                    (URL, "file:///no/such/jwks.json"),
                ],
                "cannot read the JWKS file /no/such/jwks.json",
            ),
        ];
        for (extra, expected) in cases {
            let err = listener(extra).err().unwrap();
            assert!(err.contains(expected), "{err}");
        }
    }

    #[test]
    fn a_credential_past_its_expiry_ends_the_session_at_once() {
        let l = Arc::new(listener(&[]).unwrap());
        // A token that expired: the session is over now, not endless (a
        // lifetime of zero would mean no expiry at all).
        let mut auth = Authenticator::new(l.clone());
        let lifetime = auth.complete("alice", Some(now_ms() - 1));
        assert_eq!(lifetime, 1);
        assert!(auth.session_expired(Instant::now()));
        // One that expires in a minute bounds the session to it.
        let mut auth = Authenticator::new(l.clone());
        let lifetime = auth.complete("alice", Some(now_ms() + 60_000));
        assert!((50_000..=60_000).contains(&lifetime), "{lifetime}");
        assert!(!auth.session_expired(Instant::now()));
        // No expiring credential and no connections.max.reauth.ms: none.
        let mut auth = Authenticator::new(l);
        assert_eq!(auth.complete("alice", None), 0);
        assert!(!auth.session_expired(Instant::now() + Duration::from_secs(3600)));
    }
}
