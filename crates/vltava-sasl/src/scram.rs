//! SCRAM-SHA-256 and SCRAM-SHA-512 (RFC 5802, RFC 7677) on the server side,
//! as Kafka's `ScramSaslServer` runs them, and the credentials it checks
//! against (the fields of Kafka's `UserScramCredentialRecord`).
//!
//! Written here rather than taken from a crate: the Rust SCRAM crates found
//! (`scram`/`scram-2`, `scram-rs`, `rsasl`) either store the salted
//! password rather than StoredKey/ServerKey (so they cannot run on Kafka's
//! records), cover SHA-256 only, draw the server nonce from their own
//! random source, or drive the exchange through callbacks and sessions of
//! their own; none is a small sans-IO state machine over externally stored
//! keys. The arithmetic is a few HMACs over RustCrypto's `hmac`, `sha2` and
//! `pbkdf2`.
//!
//! The exchange:
//! ```text
//! client-first  n,[a=<authzid>],n=<user>,r=<client nonce>[,<ext>=<value>...]
//! server-first  r=<client nonce><server nonce>,s=<base64 salt>,i=<iterations>
//! client-final  c=<base64 gs2 header>,r=<nonce>[,<ext>...],p=<base64 proof>
//! server-final  v=<base64 server signature>
//! ```
//! The server keeps StoredKey = H(HMAC(SaltedPassword, "Client Key")) and
//! ServerKey = HMAC(SaltedPassword, "Server Key"); it learns ClientKey from
//! the proof (proof XOR HMAC(StoredKey, AuthMessage)) and accepts if its
//! hash is StoredKey. AuthMessage is client-first-bare "," server-first ","
//! client-final-without-proof, each as sent.
//!
//! Kafka's rules kept here, with its messages:
//! - an unknown user fails at the client-first message ("Authentication
//!   failed: Invalid user credentials"); Kafka does not play out the
//!   exchange with made-up salt and iterations as RFC 5802 §5.1 allows. The
//!   client is only told the generic message either way;
//! - an authzid (`a=`) other than the user name fails after the user is
//!   found, and that message is the only one the client reads as is;
//! - a stored credential with fewer iterations than the mechanism's
//!   minimum (4096) is refused;
//! - a final message whose nonce is not the server-first nonce fails before
//!   the proof is looked at ("Invalid client nonce in the final client
//!   message."), a wrong proof with "Invalid client credentials";
//! - client extensions are parsed and kept, unknown ones ignored;
//!   `tokenauth=true` (delegation tokens, KIP-48) makes the user name a
//!   token id, looked up among the tokens rather than the users (Kafka's
//!   message for one it does not know: "Token Authentication failed:
//!   Invalid tokenId"); the exchange then authenticates the token's owner;
//! - the saslname escapes `=2C` and `=3D` stand for `,` and `=`; the
//!   password is used as its UTF-8 bytes, without SASLprep, as Kafka does.
//!
//! Where this differs from Kafka, it follows RFC 5802:
//! - gs2 flag `y` is accepted (the client could bind a channel but thinks
//!   the server cannot: true, this server cannot); Kafka accepts only `n`.
//!   `p=` (channel binding requested) is refused, as in Kafka;
//! - the `c=` of the final message must be the base64 of the gs2 header the
//!   client sent (`biws` for `n,,`); Kafka does not check it;
//! - a mandatory extension (`m=`) is refused; Kafka's parser skips it;
//! - the user name may be any UTF-8 but NUL; Kafka's pattern takes ASCII.
//!
//! Errors from the client-final step also come with the RFC's `e=` form of
//! the server-final message ([`ScramError::server_final_message`]). Kafka
//! itself never sends `e=`: it answers the SaslAuthenticate request with an
//! error code and a message; the `e=` form is there for a listener that
//! wants the RFC's answer in the auth bytes.

use std::fmt;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use subtle::ConstantTimeEq;

use crate::generic_failure_message;

mod client;
mod credential;
mod message;
mod token;

pub use client::ScramClient;
pub use token::{delegation_token_credential, delegation_token_hmac, delegation_token_password};

pub use credential::{CredentialError, ScramCredential, ScramMechanism};
pub(crate) use message::decode_saslname;
pub use message::nonce_text;
use message::{is_printable, parse_extension};
pub use message::{parse_client_first, ClientFirst, ScramExtensions};

/// Which check failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScramErrorKind {
    /// The client-first message does not parse.
    MalformedClientFirst,
    /// The client asked for channel binding (`p=`).
    ChannelBindingNotSupported,
    /// The client-first message carries a mandatory extension (`m=`).
    MandatoryExtension,
    /// The client asked for delegation-token authentication with a token
    /// that does not exist (or has expired).
    UnknownToken,
    /// No credential for this user and mechanism.
    UnknownUser,
    /// `a=` names someone else.
    AuthorizationIdMismatch,
    /// The stored credential has fewer iterations than the minimum.
    TooFewIterations,
    /// The client-final message does not parse.
    MalformedClientFinal,
    /// The client-final nonce is not the server-first one.
    NonceMismatch,
    /// `c=` is not the base64 of the client's gs2 header.
    ChannelBindingMismatch,
    /// The proof does not match the stored key: wrong password.
    InvalidProof,
    /// A message arrived after the exchange completed or failed.
    UnexpectedMessage,
}

/// A failed SCRAM exchange.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScramError {
    kind: ScramErrorKind,
    mechanism: ScramMechanism,
    message: String,
}

impl ScramError {
    fn new(kind: ScramErrorKind, mechanism: ScramMechanism, message: impl Into<String>) -> Self {
        ScramError {
            kind,
            mechanism,
            message: message.into(),
        }
    }

    #[must_use]
    pub fn kind(&self) -> ScramErrorKind {
        self.kind
    }

    /// Kafka's message for this failure, for the broker's log.
    #[must_use]
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Whether Kafka sends [`message`](Self::message) itself to the client:
    /// only for the authzid check, its one `SaslAuthenticationException`.
    #[must_use]
    pub fn reaches_client(&self) -> bool {
        self.kind == ScramErrorKind::AuthorizationIdMismatch
    }

    /// The error message of the SaslAuthenticate response.
    #[must_use]
    pub fn client_message(&self, reauthentication: bool) -> String {
        if self.reaches_client() {
            self.message.clone()
        } else {
            generic_failure_message(self.mechanism.mechanism(), reauthentication)
        }
    }

    /// RFC 5802's `server-error-value` for this failure, where it has one.
    #[must_use]
    pub fn server_error_value(&self) -> Option<&'static str> {
        use ScramErrorKind as K;
        match self.kind {
            K::MalformedClientFirst | K::MalformedClientFinal => Some("invalid-encoding"),
            K::ChannelBindingNotSupported => Some("channel-binding-not-supported"),
            K::MandatoryExtension => Some("extensions-not-supported"),
            K::UnknownUser | K::UnknownToken => Some("unknown-user"),
            K::ChannelBindingMismatch => Some("channel-bindings-dont-match"),
            K::InvalidProof => Some("invalid-proof"),
            K::AuthorizationIdMismatch | K::TooFewIterations | K::NonceMismatch => {
                Some("other-error")
            }
            K::UnexpectedMessage => None,
        }
    }

    /// The `e=` server-final message, for failures of the client-final
    /// step (the only place RFC 5802 has for it).
    #[must_use]
    pub fn server_final_message(&self) -> Option<Vec<u8>> {
        use ScramErrorKind as K;
        match self.kind {
            K::MalformedClientFinal
            | K::NonceMismatch
            | K::ChannelBindingMismatch
            | K::InvalidProof => self
                .server_error_value()
                .map(|v| format!("e={v}").into_bytes()),
            _ => None,
        }
    }
}

impl fmt::Display for ScramError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ScramError {}

/// Where an exchange stands.
enum State {
    AwaitingClientFirst,
    AwaitingClientFinal(Box<Pending>),
    Complete { user: String },
    Failed,
}

/// What a delegation token's lookup gives: the credential made from its
/// HMAC, and whom the exchange then authenticates.
#[derive(Clone, Debug)]
pub struct TokenLogin {
    pub credential: ScramCredential,
    /// The token owner's name: the authenticated user.
    pub owner: String,
    /// When the token expires (ms since the epoch), for the session's
    /// lifetime.
    pub expires_ms: i64,
}

/// What the server keeps between its first message and the client's last.
struct Pending {
    gs2_header: String,
    client_first_bare: String,
    server_first: String,
    nonce: String,
    /// The client's part of `nonce`.
    client_nonce: String,
    user: String,
    credential: ScramCredential,
    /// Set when the user is a delegation token.
    token: Option<TokenLogin>,
}

/// One SCRAM exchange on the server side: feed it the client's two
/// messages in turn. Any failure ends the exchange; Kafka then closes the
/// connection.
pub struct ScramServer {
    mechanism: ScramMechanism,
    state: State,
    extensions: ScramExtensions,
}

impl ScramServer {
    #[must_use]
    pub fn new(mechanism: ScramMechanism) -> ScramServer {
        ScramServer {
            mechanism,
            state: State::AwaitingClientFirst,
            extensions: ScramExtensions::default(),
        }
    }

    #[must_use]
    pub fn mechanism(&self) -> ScramMechanism {
        self.mechanism
    }

    /// The client's extensions, once its first message has been read.
    #[must_use]
    pub fn extensions(&self) -> &ScramExtensions {
        &self.extensions
    }

    /// The authenticated user, once the exchange is complete.
    #[must_use]
    pub fn user(&self) -> Option<&str> {
        match &self.state {
            State::Complete { user } => Some(user),
            _ => None,
        }
    }

    #[must_use]
    pub fn is_complete(&self) -> bool {
        matches!(self.state, State::Complete { .. })
    }

    /// Reads the client-first message, looks the user's credential up for
    /// this mechanism, and returns the server-first message. The server
    /// nonce is the client's followed by `server_nonce_suffix`, which the
    /// caller draws from a secure random source (Kafka uses a fresh random
    /// string for each exchange).
    ///
    /// # Panics
    /// If `server_nonce_suffix` is empty or not printable ASCII without
    /// `,` (a bug in the caller, not something a client can cause).
    pub fn client_first(
        &mut self,
        message: &[u8],
        lookup: impl Fn(&str) -> Option<ScramCredential>,
        server_nonce_suffix: &str,
    ) -> Result<Vec<u8>, ScramError> {
        self.client_first_with_tokens(message, lookup, |_| None, server_nonce_suffix)
    }

    /// [`client_first`](Self::client_first) where a client that asks for
    /// token authentication (`tokenauth=true`) is looked up with
    /// `lookup_token` (by token id) instead of `lookup`.
    ///
    /// # Panics
    /// As [`client_first`](Self::client_first).
    pub fn client_first_with_tokens(
        &mut self,
        message: &[u8],
        lookup: impl Fn(&str) -> Option<ScramCredential>,
        lookup_token: impl Fn(&str) -> Option<TokenLogin>,
        server_nonce_suffix: &str,
    ) -> Result<Vec<u8>, ScramError> {
        assert!(
            is_printable(server_nonce_suffix),
            "a SCRAM server nonce must be printable ASCII without ','"
        );
        if !matches!(self.state, State::AwaitingClientFirst) {
            return Err(self.unexpected());
        }
        let result = self.read_client_first(message, lookup, lookup_token, server_nonce_suffix);
        match result {
            Ok((pending, reply)) => {
                self.state = State::AwaitingClientFinal(Box::new(pending));
                Ok(reply)
            }
            Err(e) => {
                self.state = State::Failed;
                Err(e)
            }
        }
    }

    fn read_client_first(
        &mut self,
        message: &[u8],
        lookup: impl Fn(&str) -> Option<ScramCredential>,
        lookup_token: impl Fn(&str) -> Option<TokenLogin>,
        server_nonce_suffix: &str,
    ) -> Result<(Pending, Vec<u8>), ScramError> {
        let mechanism = self.mechanism;
        let first = parse_client_first(mechanism, message)?;
        self.extensions = first.extensions.clone();
        let (credential, token) = if first.extensions.token_auth() {
            let token = lookup_token(&first.user).ok_or_else(|| {
                ScramError::new(
                    ScramErrorKind::UnknownToken,
                    mechanism,
                    format!(
                        "Token Authentication failed: Invalid tokenId : {}",
                        first.user
                    ),
                )
            })?;
            (token.credential.clone(), Some(token))
        } else {
            let credential = lookup(&first.user).ok_or_else(|| {
                ScramError::new(
                    ScramErrorKind::UnknownUser,
                    mechanism,
                    "Authentication failed: Invalid user credentials",
                )
            })?;
            (credential, None)
        };
        if first.authzid.as_ref().is_some_and(|a| *a != first.user) {
            return Err(ScramError::new(
                ScramErrorKind::AuthorizationIdMismatch,
                mechanism,
                "Authentication failed: Client requested an authorization id that is different from username",
            ));
        }
        if credential.iterations < ScramMechanism::MIN_ITERATIONS {
            return Err(ScramError::new(
                ScramErrorKind::TooFewIterations,
                mechanism,
                format!(
                    "Iterations {} is less than the minimum {} for {}",
                    credential.iterations,
                    ScramMechanism::MIN_ITERATIONS,
                    mechanism.java_name()
                ),
            ));
        }
        let nonce = format!("{}{server_nonce_suffix}", first.nonce);
        let server_first = format!(
            "r={nonce},s={},i={}",
            BASE64.encode(&credential.salt),
            credential.iterations
        );
        let reply = server_first.clone().into_bytes();
        Ok((
            Pending {
                gs2_header: first.gs2_header,
                client_first_bare: first.bare,
                server_first,
                nonce,
                client_nonce: first.nonce,
                user: first.user,
                credential,
                token,
            },
            reply,
        ))
    }

    /// Reads the client-final message, checks the proof, and returns the
    /// server-final message with the authenticated user name (for a
    /// delegation token, its owner).
    pub fn client_final(&mut self, message: &[u8]) -> Result<(Vec<u8>, String), ScramError> {
        self.client_final_with_token(message)
            .map(|(reply, user, _)| (reply, user))
    }

    /// [`client_final`](Self::client_final), also giving the token the
    /// client authenticated with, if it used one.
    pub fn client_final_with_token(
        &mut self,
        message: &[u8],
    ) -> Result<(Vec<u8>, String, Option<TokenLogin>), ScramError> {
        let pending = match std::mem::replace(&mut self.state, State::Failed) {
            State::AwaitingClientFinal(pending) => pending,
            other => {
                self.state = other;
                return Err(self.unexpected());
            }
        };
        let server_final = self.read_client_final(&pending, message)?;
        let user = match &pending.token {
            Some(token) => token.owner.clone(),
            None => pending.user.clone(),
        };
        self.state = State::Complete { user: user.clone() };
        Ok((server_final, user, pending.token))
    }

    fn read_client_final(&self, pending: &Pending, message: &[u8]) -> Result<Vec<u8>, ScramError> {
        let mechanism = self.mechanism;
        let malformed = |why: &str| {
            ScramError::new(
                ScramErrorKind::MalformedClientFinal,
                mechanism,
                format!(
                    "Invalid SCRAM client final message format: {} ({why})",
                    String::from_utf8_lossy(message)
                ),
            )
        };
        let text = std::str::from_utf8(message).map_err(|_| malformed("not UTF-8"))?;
        let proof_at = text.rfind(",p=").ok_or_else(|| malformed("no proof"))?;
        let without_proof = &text[..proof_at];
        let proof = BASE64
            .decode(&text[proof_at + 3..])
            .map_err(|_| malformed("proof is not base64"))?;
        let mut parts = without_proof.split(',');
        let binding = parts
            .next()
            .and_then(|c| c.strip_prefix("c="))
            .ok_or_else(|| malformed("no channel binding"))?;
        let binding = BASE64
            .decode(binding)
            .map_err(|_| malformed("channel binding is not base64"))?;
        let nonce = parts
            .next()
            .and_then(|r| r.strip_prefix("r="))
            .filter(|n| is_printable(n))
            .ok_or_else(|| malformed("bad nonce"))?;
        for ext in parts {
            parse_extension(ext).ok_or_else(|| malformed("bad extension"))?;
        }

        // librdkafka 2.0 (the one Debian ships, seen with kcat) sends its
        // own nonce again in front of the combined one; Kafka's server
        // accepted that for years (its check was `endsWith`), so clients
        // in the field do it. Exactly that form is taken, nothing else.
        let librdkafka_form = nonce
            .strip_suffix(pending.nonce.as_str())
            .is_some_and(|prefix| prefix == pending.client_nonce);
        if nonce != pending.nonce && !librdkafka_form {
            return Err(ScramError::new(
                ScramErrorKind::NonceMismatch,
                mechanism,
                "Invalid client nonce in the final client message.",
            ));
        }
        if binding != pending.gs2_header.as_bytes() {
            return Err(ScramError::new(
                ScramErrorKind::ChannelBindingMismatch,
                mechanism,
                "Invalid channel binding in the final client message.",
            ));
        }
        let auth_message = [
            pending.client_first_bare.as_bytes(),
            b",",
            pending.server_first.as_bytes(),
            b",",
            without_proof.as_bytes(),
        ];
        let credential = &pending.credential;
        let client_signature = mechanism.hmac(&credential.stored_key, &auth_message);
        let proof_ok = proof.len() == client_signature.len() && {
            let client_key: Vec<u8> = proof
                .iter()
                .zip(&client_signature)
                .map(|(p, s)| p ^ s)
                .collect();
            bool::from(mechanism.hash(&client_key).ct_eq(&credential.stored_key))
        };
        if !proof_ok {
            return Err(ScramError::new(
                ScramErrorKind::InvalidProof,
                mechanism,
                "Invalid client credentials",
            ));
        }
        let server_signature = mechanism.hmac(&credential.server_key, &auth_message);
        Ok(format!("v={}", BASE64.encode(server_signature)).into_bytes())
    }

    fn unexpected(&self) -> ScramError {
        let state = match self.state {
            State::AwaitingClientFirst => "RECEIVE_CLIENT_FIRST_MESSAGE",
            State::AwaitingClientFinal(_) => "RECEIVE_CLIENT_FINAL_MESSAGE",
            State::Complete { .. } => "COMPLETE",
            State::Failed => "FAILED",
        };
        ScramError::new(
            ScramErrorKind::UnexpectedMessage,
            self.mechanism,
            format!("Unexpected challenge in Sasl server state {state}"),
        )
    }
}

#[cfg(test)]
mod tests;
