//! OAUTHBEARER (RFC 7628) with Kafka's *unsecured* tokens: what Kafka's
//! broker does out of the box with `OAuthBearerSaslServer` and
//! `OAuthBearerUnsecuredValidatorCallbackHandler`. An unsecured token is a
//! JWS with header `{"alg":"none"}` and no signature, so anyone can make
//! one for any principal: this is for development and tests only, as it is
//! in Kafka. Signed JWTs (Kafka's `OAuthBearerValidatorCallbackHandler`,
//! KIP-768) are checked by [`jwt`]; the exchange below is the same for
//! both, only the [`TokenValidator`] differs.
//!
//! The exchange:
//! - the client sends `n,[a=<authzid>],\x01auth=Bearer <token>\x01[<key>=<value>\x01...]\x01`
//!   (the other key/value pairs are SASL extensions, Kafka's KIP-342);
//! - a good token completes the exchange with an empty answer;
//! - a bad token is answered with RFC 7628's JSON error,
//!   `{"status":"invalid_token"}`, or for a missing scope
//!   `{"status":"insufficient_scope", "scope":"[<required scope>]"}` (the
//!   scope as Java prints a list, spacing as Kafka writes it); the client
//!   must then send a single `\x01`, and the exchange fails with the JSON
//!   as the message the client is told;
//! - a message that does not parse fails at once with a message the client
//!   is not told.
//!
//! Token checks, in Kafka's order: three dot-separated base64url parts, the
//! last empty; header and claims JSON objects; `alg` is `none`; `exp` a
//! number; the principal claim (`sub` unless configured) a non-blank
//! string; `iat`, if present, a number not after now plus the allowed clock
//! skew; now minus the skew before `exp`; `exp` after `iat`; every required
//! scope in the token's scope claim (a string, taken whole, or a list of
//! strings).
//!
//! Small departures from Kafka, on the RFC's side: gs2 flag `y` is taken
//! as well as `n` (Kafka's pattern has only `n`), an authzid's `=2C`/`=3D`
//! escapes are undone before it is compared with the principal, and JWS
//! parts are decoded as base64url (RFC 7515), padded or not.

use std::collections::BTreeSet;
use std::fmt;
use std::sync::Arc;

use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::Engine;
use serde_json::Value;

use crate::generic_failure_message;
use crate::jaas::JaasEntry;
use crate::scram::decode_saslname;
use crate::Mechanism;

pub mod jwt;

/// JWS parts are base64url; padding is not used by JWS but tolerated.
const BASE64URL: GeneralPurpose = GeneralPurpose::new(
    &alphabet::URL_SAFE,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// The validator's options, from the OAuthBearerLoginModule entry of the
/// listener's JAAS config.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnsecuredValidatorConfig {
    /// `unsecuredValidatorPrincipalClaimName`, default `sub`.
    pub principal_claim_name: String,
    /// `unsecuredValidatorScopeClaimName`, default `scope`.
    pub scope_claim_name: String,
    /// `unsecuredValidatorRequiredScope`, space-separated; default none.
    pub required_scope: Vec<String>,
    /// `unsecuredValidatorAllowableClockSkewMs`, default 0.
    pub allowable_clock_skew_ms: u32,
}

impl Default for UnsecuredValidatorConfig {
    fn default() -> Self {
        UnsecuredValidatorConfig {
            principal_claim_name: "sub".to_owned(),
            scope_claim_name: "scope".to_owned(),
            required_scope: Vec::new(),
            allowable_clock_skew_ms: 0,
        }
    }
}

impl UnsecuredValidatorConfig {
    /// Reads the `unsecuredValidator*` options; blank ones keep their
    /// defaults, as in Kafka.
    pub fn from_jaas(entry: &JaasEntry) -> Result<UnsecuredValidatorConfig, String> {
        let mut config = UnsecuredValidatorConfig::default();
        let option = |key: &str| entry.option(key).map(str::trim).filter(|v| !v.is_empty());
        if let Some(name) = option("unsecuredValidatorPrincipalClaimName") {
            config.principal_claim_name = name.to_owned();
        }
        if let Some(name) = option("unsecuredValidatorScopeClaimName") {
            config.scope_claim_name = name.to_owned();
        }
        if let Some(scope) = option("unsecuredValidatorRequiredScope") {
            config.required_scope = scope
                .split(' ')
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect();
        }
        if let Some(skew) = option("unsecuredValidatorAllowableClockSkewMs") {
            let value: i64 = skew
                .parse()
                .map_err(|_| format!("For input string: \"{skew}\""))?;
            if value < 0 {
                return Err(format!(
                    "Allowable clock skew millis must not be negative: {skew}"
                ));
            }
            config.allowable_clock_skew_ms =
                u32::try_from(value).map_err(|_| format!("For input string: \"{skew}\""))?;
        }
        Ok(config)
    }
}

/// A parsed client initial response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientInitialResponse {
    pub authzid: Option<String>,
    /// The bearer token (the compact JWS).
    pub token: String,
    /// The SASL extensions: every key/value pair but `auth`, in the order
    /// sent (a repeated key keeps its last value).
    pub extensions: Vec<(String, String)>,
}

/// Which check failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OAuthBearerErrorKind {
    /// The client message does not parse.
    Malformed,
    /// No `auth` pair.
    AuthMissing,
    /// `auth` is not `<scheme> <token>`.
    BadAuthFormat,
    /// The scheme is not `Bearer`.
    BadScheme,
    /// The client acknowledged the JSON error challenge.
    InvalidToken,
    /// `a=` names someone other than the token's principal.
    AuthorizationIdMismatch,
    /// A message after the exchange completed or failed.
    UnexpectedMessage,
}

/// A failed OAUTHBEARER exchange.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OAuthBearerError {
    kind: OAuthBearerErrorKind,
    message: String,
}

impl OAuthBearerError {
    fn new(kind: OAuthBearerErrorKind, message: impl Into<String>) -> OAuthBearerError {
        OAuthBearerError {
            kind,
            message: message.into(),
        }
    }

    #[must_use]
    pub fn kind(&self) -> OAuthBearerErrorKind {
        self.kind
    }

    /// Kafka's message for this failure.
    #[must_use]
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Whether Kafka sends the message itself to the client: for the
    /// acknowledged challenge (the JSON) and the authzid check.
    #[must_use]
    pub fn reaches_client(&self) -> bool {
        matches!(
            self.kind,
            OAuthBearerErrorKind::InvalidToken | OAuthBearerErrorKind::AuthorizationIdMismatch
        )
    }

    /// The error message of the SaslAuthenticate response.
    #[must_use]
    pub fn client_message(&self, reauthentication: bool) -> String {
        if self.reaches_client() {
            self.message.clone()
        } else {
            generic_failure_message(Mechanism::OAuthBearer, reauthentication)
        }
    }
}

impl fmt::Display for OAuthBearerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for OAuthBearerError {}

/// Parses RFC 7628's client initial response as Kafka's
/// `OAuthBearerClientInitialResponse` does.
pub fn parse_client_initial_response(
    message: &[u8],
) -> Result<ClientInitialResponse, OAuthBearerError> {
    let malformed = || {
        OAuthBearerError::new(
            OAuthBearerErrorKind::Malformed,
            "Invalid OAUTHBEARER client first message",
        )
    };
    let text = std::str::from_utf8(message).map_err(|_| malformed())?;
    let rest = text
        .strip_prefix("n,")
        .or_else(|| text.strip_prefix("y,"))
        .ok_or_else(malformed)?;
    let (authzid, rest) = rest.split_once(',').ok_or_else(malformed)?;
    let authzid = match authzid {
        "" => None,
        a => Some(
            a.strip_prefix("a=")
                .and_then(decode_saslname)
                .ok_or_else(malformed)?,
        ),
    };
    // \x01 (key=value \x01)* \x01
    let mut pairs_text = rest
        .strip_prefix('\x01')
        .and_then(|r| r.strip_suffix('\x01'))
        .ok_or_else(malformed)?;
    let mut pairs: Vec<(String, String)> = Vec::new();
    while !pairs_text.is_empty() {
        let (pair, tail) = pairs_text.split_once('\x01').ok_or_else(malformed)?;
        let (key, value) = pair.split_once('=').ok_or_else(malformed)?;
        let key_ok = !key.is_empty() && key.bytes().all(|b| b.is_ascii_alphabetic());
        let value_ok = !value.is_empty()
            && value
                .bytes()
                .all(|b| (0x21..=0x7e).contains(&b) || matches!(b, b' ' | b'\t' | b'\r' | b'\n'));
        if !key_ok || !value_ok {
            return Err(malformed());
        }
        match pairs.iter_mut().find(|(k, _)| k == key) {
            Some(slot) => slot.1 = value.to_owned(),
            None => pairs.push((key.to_owned(), value.to_owned())),
        }
        pairs_text = tail;
    }
    let auth_at = pairs.iter().position(|(k, _)| k == "auth").ok_or_else(|| {
        OAuthBearerError::new(
            OAuthBearerErrorKind::AuthMissing,
            "Invalid OAUTHBEARER client first message: 'auth' not specified",
        )
    })?;
    let (_, auth) = pairs.remove(auth_at);
    let bad_format = || {
        OAuthBearerError::new(
            OAuthBearerErrorKind::BadAuthFormat,
            "Invalid OAUTHBEARER client first message: invalid 'auth' format",
        )
    };
    let (scheme, token) = auth.split_once(' ').ok_or_else(bad_format)?;
    let token = token.trim_start_matches(' ');
    let scheme_ok = !scheme.is_empty()
        && scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_');
    let token_ok = !token.is_empty()
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if !scheme_ok || !token_ok {
        return Err(bad_format());
    }
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(OAuthBearerError::new(
            OAuthBearerErrorKind::BadScheme,
            format!("Invalid scheme in OAUTHBEARER client first message: {scheme}"),
        ));
    }
    Ok(ClientInitialResponse {
        authzid,
        token: token.to_owned(),
        extensions: pairs,
    })
}

/// What a valid token says (unsecured or signed).
#[derive(Clone, Debug, PartialEq)]
pub struct OAuthBearerToken {
    pub principal: String,
    pub scope: BTreeSet<String>,
    /// `exp` in milliseconds: when the broker must stop serving a session
    /// that has not re-authenticated (KIP-368).
    pub expiration_ms: i64,
    /// `iat` in milliseconds, if the token has it.
    pub issued_at_ms: Option<i64>,
    /// Every claim, as sent.
    pub claims: serde_json::Map<String, Value>,
}

/// The name this type had while only unsecured tokens were checked.
pub type UnsecuredToken = OAuthBearerToken;

/// Checks a token's text at `now_ms` (milliseconds since the epoch): the
/// part of Kafka's server callback handler that differs between unsecured
/// and signed tokens. Implementations may keep state (a key set they
/// refresh) but must not block for long: the broker calls this on a
/// connection's task.
pub trait TokenValidator: Send + Sync {
    fn validate(&self, token: &str, now_ms: i64) -> Result<OAuthBearerToken, TokenRejection>;
}

impl TokenValidator for UnsecuredValidatorConfig {
    fn validate(&self, token: &str, now_ms: i64) -> Result<OAuthBearerToken, TokenRejection> {
        validate_unsecured_token(token, self, now_ms)
    }
}

/// Why a token was refused: Kafka's reason (logged only) and, for a scope
/// failure, the scope to put in the challenge.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenRejection {
    pub reason: String,
    pub failure_scope: Option<String>,
}

impl TokenRejection {
    /// A refusal answered with `{"status":"invalid_token"}`.
    pub fn invalid(reason: impl Into<String>) -> TokenRejection {
        TokenRejection {
            reason: reason.into(),
            failure_scope: None,
        }
    }

    /// RFC 7628's JSON error, as Kafka writes it.
    #[must_use]
    pub fn challenge(&self) -> String {
        match &self.failure_scope {
            None => r#"{"status":"invalid_token"}"#.to_owned(),
            Some(scope) => format!(r#"{{"status":"insufficient_scope", "scope":"{scope}"}}"#),
        }
    }
}

/// Kafka's name for a JSON value's Java class, for its messages.
fn java_type(value: &Value) -> &'static str {
    match value {
        Value::Number(n) if n.is_f64() => "Double",
        Value::Number(_) => "Integer",
        Value::Array(_) => "ArrayList",
        _ => "String",
    }
}

fn decode_json_object(part: &str) -> Result<serde_json::Map<String, Value>, TokenRejection> {
    let bytes = BASE64URL
        .decode(part)
        .map_err(|_| TokenRejection::invalid("malformed Base64 URL encoded value"))?;
    match serde_json::from_slice::<Value>(&bytes) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(TokenRejection::invalid("malformed JSON")),
    }
}

/// A time claim in seconds, if present; an error if not a number.
fn time_claim(
    claims: &serde_json::Map<String, Value>,
    name: &str,
) -> Result<Option<f64>, TokenRejection> {
    match claims.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => Ok(n.as_f64()),
        Some(other) => Err(TokenRejection::invalid(format!(
            "The '{name}' claim was not of type Number: {}",
            java_type(other)
        ))),
    }
}

/// Checks an unsecured token at `now_ms` (milliseconds since the epoch).
pub fn validate_unsecured_token(
    token: &str,
    config: &UnsecuredValidatorConfig,
    now_ms: i64,
) -> Result<OAuthBearerToken, TokenRejection> {
    if token.contains("..") {
        return Err(TokenRejection::invalid(
            "Malformed compact serialization contains '..'",
        ));
    }
    let parts: Vec<&str> = token.split('.').collect();
    let [header, claims, signature] = parts[..] else {
        return Err(TokenRejection::invalid(
            "Unsecured JWS compact serializations must have 3 dot-separated Base64URL-encoded values",
        ));
    };
    let header = decode_json_object(header)?;
    let claims = decode_json_object(claims)?;
    match header.get("alg") {
        None | Some(Value::Null) => {
            return Err(TokenRejection::invalid(
                "JWS header must have an Algorithm value",
            ))
        }
        Some(Value::String(alg)) if alg == "none" => {}
        Some(_) => {
            return Err(TokenRejection::invalid(
                "Unsecured JWS must have 'none' for an algorithm",
            ))
        }
    }
    if !signature.is_empty() {
        return Err(TokenRejection::invalid(
            "Unsecured JWS must not contain a digital signature",
        ));
    }
    let scope = token_scope(&claims, &config.scope_claim_name)?;
    let exp = time_claim(&claims, "exp")?
        .ok_or_else(|| TokenRejection::invalid("No expiration time in JWT"))?;
    let principal = match claims.get(&config.principal_claim_name) {
        Some(Value::String(p)) if !p.trim().is_empty() => p.clone(),
        Some(other @ (Value::Number(_) | Value::Array(_))) => {
            return Err(TokenRejection::invalid(format!(
                "The '{}' claim was not of type String: {}",
                config.principal_claim_name,
                java_type(other)
            )))
        }
        _ => {
            return Err(TokenRejection::invalid(format!(
                "No principal name in JWT claim: {}",
                config.principal_claim_name
            )))
        }
    };
    let iat = time_claim(&claims, "iat")?;
    let skew = i64::from(config.allowable_clock_skew_ms);
    // Compared in f64 as Kafka does: claims may be fractional seconds.
    if let Some(iat) = iat {
        if 1000.0 * iat > (now_ms + skew) as f64 {
            return Err(TokenRejection::invalid(format!(
                "The Issued At value ({iat:.6} seconds) was after the indicated time ({now_ms} ms) plus allowable clock skew ({skew} ms)"
            )));
        }
    }
    if (now_ms - skew) as f64 >= 1000.0 * exp {
        return Err(TokenRejection::invalid(format!(
            "The indicated time ({now_ms} ms) minus allowable clock skew ({skew} ms) was on or after the Expiration Time value ({exp:.6} seconds)"
        )));
    }
    if let Some(iat) = iat {
        if exp <= iat {
            return Err(TokenRejection::invalid(format!(
                "The Expiration Time time ({exp:.6} seconds) was not after the Issued At time ({iat:.6} seconds)"
            )));
        }
    }
    if let Some(missing) = config.required_scope.iter().find(|s| !scope.contains(*s)) {
        return Err(TokenRejection {
            reason: format!(
                "The provided scope ({}) was missing a required scope ({missing}).  All required scope elements: [{}]",
                java_list(scope.iter().map(String::as_str)),
                config.required_scope.join(", ")
            ),
            failure_scope: Some(format!("[{}]", config.required_scope.join(", "))),
        });
    }
    Ok(OAuthBearerToken {
        principal,
        scope,
        expiration_ms: (exp * 1000.0).round() as i64,
        issued_at_ms: iat.map(|iat| (iat * 1000.0).round() as i64),
        claims,
    })
}

fn java_list<'a>(items: impl Iterator<Item = &'a str>) -> String {
    format!("[{}]", items.collect::<Vec<_>>().join(", "))
}

/// The scope claim: a string is one scope (trimmed, blank is none), a list
/// is its non-blank strings trimmed.
fn token_scope(
    claims: &serde_json::Map<String, Value>,
    name: &str,
) -> Result<BTreeSet<String>, TokenRejection> {
    match claims.get(name) {
        None | Some(Value::Null) => Ok(BTreeSet::new()),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(BTreeSet::new()),
        Some(Value::String(s)) => Ok(BTreeSet::from([s.trim().to_owned()])),
        Some(Value::Array(items)) => Ok(items
            .iter()
            .map(|v| match v {
                Value::String(s) => s.trim().to_owned(),
                other => other.to_string(),
            })
            .filter(|s| !s.is_empty())
            .collect()),
        Some(other) => Err(TokenRejection::invalid(format!(
            "The '{name}' claim was not of type List: {}",
            java_type(other)
        ))),
    }
}

/// What the server answers a client message with.
#[derive(Clone, Debug, PartialEq)]
pub enum OAuthBearerStep {
    /// The token was refused: send `challenge` as the auth bytes (no error
    /// code yet); the client must answer `\x01`. `reason` is for the log.
    Challenge { challenge: Vec<u8>, reason: String },
    /// Authenticated; the answer is empty.
    Complete {
        token: OAuthBearerToken,
        extensions: Vec<(String, String)>,
    },
}

/// One OAUTHBEARER exchange on the server side.
pub struct OAuthBearerServer {
    validator: Arc<dyn TokenValidator>,
    /// The JSON of the last challenge, while the client owes its `\x01`.
    pending_error: Option<String>,
    done: bool,
}

impl OAuthBearerServer {
    #[must_use]
    pub fn new(config: UnsecuredValidatorConfig) -> OAuthBearerServer {
        OAuthBearerServer::with_validator(Arc::new(config))
    }

    /// A server whose tokens `validator` checks (signed tokens: a
    /// [`jwt::JwtValidator`] or the broker's JWKS-file one).
    #[must_use]
    pub fn with_validator(validator: Arc<dyn TokenValidator>) -> OAuthBearerServer {
        OAuthBearerServer {
            validator,
            pending_error: None,
            done: false,
        }
    }

    /// Takes a client message at `now_ms`. After a challenge, `\x01` fails
    /// the exchange with the challenge's JSON as the message; anything else
    /// is read as a fresh initial response, as Kafka does.
    pub fn respond(
        &mut self,
        message: &[u8],
        now_ms: i64,
    ) -> Result<OAuthBearerStep, OAuthBearerError> {
        if self.done {
            return Err(OAuthBearerError::new(
                OAuthBearerErrorKind::UnexpectedMessage,
                "Unexpected message after the OAUTHBEARER exchange ended",
            ));
        }
        if message == b"\x01" {
            if let Some(json) = self.pending_error.take() {
                self.done = true;
                return Err(OAuthBearerError::new(
                    OAuthBearerErrorKind::InvalidToken,
                    json,
                ));
            }
        }
        self.pending_error = None;
        let result = self.read(message, now_ms);
        if !matches!(result, Ok(OAuthBearerStep::Challenge { .. })) {
            self.done = true;
        }
        result
    }

    fn read(&mut self, message: &[u8], now_ms: i64) -> Result<OAuthBearerStep, OAuthBearerError> {
        let response = parse_client_initial_response(message)?;
        let token = match self.validator.validate(&response.token, now_ms) {
            Ok(token) => token,
            Err(rejection) => {
                let json = rejection.challenge();
                self.pending_error = Some(json.clone());
                return Ok(OAuthBearerStep::Challenge {
                    challenge: json.into_bytes(),
                    reason: rejection.reason,
                });
            }
        };
        if let Some(authzid) = &response.authzid {
            if *authzid != token.principal {
                return Err(OAuthBearerError::new(
                    OAuthBearerErrorKind::AuthorizationIdMismatch,
                    format!(
                        "Authentication failed: Client requested an authorization id ({authzid}) that is different from the token's principal name ({})",
                        token.principal
                    ),
                ));
            }
        }
        Ok(OAuthBearerStep::Complete {
            token,
            extensions: response.extensions,
        })
    }
}

#[cfg(test)]
mod tests;
