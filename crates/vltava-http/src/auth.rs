//! Who is asking, and may they: the HTTP listener's authentication and
//! authorization, with the Kafka listeners' principals and ACLs.
//!
//! The principal of a request is, in order:
//! 1. the client certificate's, mapped by `ssl.principal.mapping.rules`,
//!    when the listener is TLS (`http.listener.security.protocol=SSL`)
//!    and the client presented one;
//! 2. the user of HTTP Basic credentials, checked against the PLAIN users
//!    of `listener.name.http.plain.sasl.jaas.config` when that is set, else
//!    against the SCRAM credentials in the cluster metadata (SHA-512, then
//!    SHA-256): the passwords Kafka clients already log in with;
//! 3. `User:ANONYMOUS`, unless `http.authentication=basic`, which answers
//!    401 with a Basic challenge instead.
//!
//! Wrong credentials are always 401, whatever the mode. With an authorizer
//! configured, everything but the health probes needs Describe on the
//! cluster (the read-only views show cluster-wide state), and handlers
//! that show a resource's data check more ([`HttpPrincipal::access`]);
//! refusals are 403. The health probes stay open: orchestrators probe
//! without credentials.
//!
//! Checking a SCRAM password costs the PBKDF2 rounds the credential was
//! made with (4096 or more), so it runs off the runtime's threads, and a
//! password that passed is remembered for [`VERIFIED_FOR`] (by its SHA-256,
//! never in clear), at most [`VERIFIED_MAX`] of them.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use vltava_broker::handlers::authz::{Access, Kind, Op};
use vltava_broker::Broker;
use vltava_sasl::plain::PlainUsers;
use vltava_sasl::scram::{ScramCredential, ScramMechanism};

use crate::Node;

/// How long a checked password is taken without checking it again.
const VERIFIED_FOR: Duration = Duration::from_secs(60);
/// Checked passwords remembered at most.
const VERIFIED_MAX: usize = 1024;

/// What the HTTP listener asks of its clients.
#[derive(Default)]
pub struct HttpSecurity {
    /// `http.authentication=basic`: no anonymous requests (but the
    /// health probes).
    pub require_credentials: bool,
    /// PLAIN users for Basic credentials; `None`: SCRAM credentials.
    pub plain_users: Option<PlainUsers>,
    verified: Mutex<HashMap<(String, [u8; 32]), Instant>>,
}

impl HttpSecurity {
    pub fn new(require_credentials: bool, plain_users: Option<PlainUsers>) -> HttpSecurity {
        HttpSecurity {
            require_credentials,
            plain_users,
            verified: Mutex::new(HashMap::new()),
        }
    }
}

/// The certificate principal of a TLS connection, put on each of its
/// requests by the TLS accept loop.
#[derive(Clone, Debug)]
pub struct ConnectionIdentity {
    pub peer: SocketAddr,
    /// `User:<mapped subject>` when the client presented a certificate.
    pub certificate_principal: Option<String>,
}

/// The authenticated principal of a request and where it came from, for
/// handlers that check a resource of their own (a topic's records).
#[derive(Clone, Debug)]
pub struct HttpPrincipal {
    pub principal: String,
    pub ip: IpAddr,
}

impl HttpPrincipal {
    /// The principal's access with the broker's authorizer.
    pub fn access(&self, broker: &Broker) -> Access {
        Access::for_principal(broker, &self.principal, self.ip)
    }
}

fn unauthorized(why: &str) -> Response {
    (
        StatusCode::UNAUTHORIZED,
        [(
            header::WWW_AUTHENTICATE,
            "Basic realm=\"vltava\", charset=\"UTF-8\"",
        )],
        format!("{why}\n"),
    )
        .into_response()
}

/// The middleware: authenticates, checks Describe on the cluster, and
/// leaves an [`HttpPrincipal`] on the request.
pub async fn guard(State(node): State<Arc<Node>>, mut request: Request, next: Next) -> Response {
    if request.uri().path().starts_with("/health/") {
        return next.run(request).await;
    }
    let identity = request.extensions().get::<ConnectionIdentity>().cloned();
    let peer = identity.as_ref().map(|i| i.peer).or_else(|| {
        request
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0)
    });
    let ip = peer.map_or(IpAddr::from([127, 0, 0, 1]), |p| p.ip());
    let basic = request
        .headers()
        .get(header::AUTHORIZATION)
        .map(|v| parse_basic(v.as_bytes()));
    let security = node.security();
    let principal = match (identity.and_then(|i| i.certificate_principal), basic) {
        (Some(certificate), _) => certificate,
        (None, Some(None)) => return unauthorized("malformed Basic credentials"),
        (None, Some(Some((user, password)))) => {
            let Some(broker) = node.broker().cloned() else {
                return (StatusCode::SERVICE_UNAVAILABLE, "the broker is starting\n")
                    .into_response();
            };
            if !check_password(&security, &broker, &user, &password).await {
                return unauthorized("wrong user name or password");
            }
            format!("User:{user}")
        }
        (None, None) if security.require_credentials => {
            return unauthorized("this listener needs credentials (HTTP Basic)")
        }
        (None, None) => "User:ANONYMOUS".to_string(),
    };
    let who = HttpPrincipal { principal, ip };
    if let Some(broker) = node.broker() {
        if !who.access(broker).allows_cluster(Op::Describe) {
            return (
                StatusCode::FORBIDDEN,
                format!(
                    "{} may not see this node's state: it needs Describe on the cluster\n",
                    who.principal
                ),
            )
                .into_response();
        }
    }
    request.extensions_mut().insert(who);
    next.run(request).await
}

/// Whether `principal` may read `topic`'s records (the console's message
/// browser): Read on the topic, as a consumer needs.
pub fn may_read_topic(who: Option<&HttpPrincipal>, broker: &Broker, topic: &str) -> bool {
    match who {
        Some(who) => who.access(broker).allows(Op::Read, Kind::Topic, topic),
        // No guard ran (tests that build the router bare): as no authorizer.
        None => true,
    }
}

/// `Basic base64(user:password)`; `None` when malformed.
fn parse_basic(value: &[u8]) -> Option<(String, String)> {
    let text = std::str::from_utf8(value).ok()?;
    let (scheme, encoded) = text.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    use base64::Engine;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (user, password) = decoded.split_once(':')?;
    Some((user.to_string(), password.to_string()))
}

async fn check_password(
    security: &HttpSecurity,
    broker: &Arc<Broker>,
    user: &str,
    password: &str,
) -> bool {
    if let Some(users) = &security.plain_users {
        return users.check(user, password);
    }
    let fingerprint: [u8; 32] = Sha256::digest(password.as_bytes()).into();
    let key = (user.to_string(), fingerprint);
    {
        let mut verified = security.verified.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        verified.retain(|_, at| now.duration_since(*at) < VERIFIED_FOR);
        if verified.contains_key(&key) {
            return true;
        }
    }
    // Kafka's mechanism types in UserScramCredentialRecord: 2 SHA-512, 1 SHA-256.
    let image = broker.metadata.image();
    let candidates: Vec<(ScramMechanism, ScramCredential)> =
        [(2i8, ScramMechanism::Sha512), (1i8, ScramMechanism::Sha256)]
            .into_iter()
            .filter_map(|(code, mechanism)| {
                let c = image.scram_credential(code, user)?;
                Some((
                    mechanism,
                    ScramCredential {
                        salt: c.salt.clone(),
                        stored_key: c.stored_key.clone(),
                        server_key: c.server_key.clone(),
                        iterations: u32::try_from(c.iterations).ok()?,
                    },
                ))
            })
            .collect();
    drop(image);
    if candidates.is_empty() {
        return false;
    }
    let password = password.to_string();
    let matched = tokio::task::spawn_blocking(move || {
        candidates.iter().any(|(mechanism, stored)| {
            ScramCredential::from_password(*mechanism, &password, &stored.salt, stored.iterations)
                .is_ok_and(|derived| constant_time_eq(&derived.stored_key, &stored.stored_key))
        })
    })
    .await
    .unwrap_or(false);
    if matched {
        let mut verified = security.verified.lock().unwrap_or_else(|e| e.into_inner());
        if verified.len() < VERIFIED_MAX {
            verified.insert(key, Instant::now());
        }
    }
    matched
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_credentials_are_decoded_or_refused() {
        // "alice:s3cret:with:colons" in base64.
        assert_eq!(
            parse_basic(b"Basic YWxpY2U6czNjcmV0OndpdGg6Y29sb25z"),
            Some(("alice".into(), "s3cret:with:colons".into()))
        );
        assert_eq!(
            parse_basic(b"basic Ym9iOg=="),
            Some(("bob".into(), String::new()))
        );
        for bad in [
            &b"Bearer abc"[..],
            b"Basic !!!!",
            b"Basic YWxpY2U",
            b"Basic bm9jb2xvbg==",
            b"Basic",
        ] {
            assert_eq!(parse_basic(bad), None, "{}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn constant_time_comparison_is_equality() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }
}
