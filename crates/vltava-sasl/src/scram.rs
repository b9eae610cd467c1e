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
//!   `tokenauth=true` (delegation tokens, KIP-48) is refused for now with
//!   the message Kafka gives for a token it does not know;
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
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256, Sha512};
use subtle::ConstantTimeEq;

use crate::{generic_failure_message, Mechanism};

/// The two SCRAM mechanisms Kafka has.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ScramMechanism {
    Sha256,
    Sha512,
}

impl ScramMechanism {
    /// Kafka's bounds on the iteration count of a stored credential, the
    /// same for both mechanisms (`ScramMechanism`'s min and max).
    pub const MIN_ITERATIONS: u32 = 4096;
    pub const MAX_ITERATIONS: u32 = 16384;

    #[must_use]
    pub fn mechanism(self) -> Mechanism {
        match self {
            ScramMechanism::Sha256 => Mechanism::ScramSha256,
            ScramMechanism::Sha512 => Mechanism::ScramSha512,
        }
    }

    #[must_use]
    pub fn from_mechanism(mechanism: Mechanism) -> Option<ScramMechanism> {
        match mechanism {
            Mechanism::ScramSha256 => Some(ScramMechanism::Sha256),
            Mechanism::ScramSha512 => Some(ScramMechanism::Sha512),
            Mechanism::Plain | Mechanism::OAuthBearer => None,
        }
    }

    /// "SCRAM-SHA-256" or "SCRAM-SHA-512".
    #[must_use]
    pub fn name(self) -> &'static str {
        self.mechanism().name()
    }

    /// The length of the hash, and so of every key and of the proof.
    #[must_use]
    pub fn hash_len(self) -> usize {
        match self {
            ScramMechanism::Sha256 => 32,
            ScramMechanism::Sha512 => 64,
        }
    }

    /// The name of Kafka's Java enum constant, which its messages print.
    fn java_name(self) -> &'static str {
        match self {
            ScramMechanism::Sha256 => "SCRAM_SHA_256",
            ScramMechanism::Sha512 => "SCRAM_SHA_512",
        }
    }

    fn hmac(self, key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
        fn run<M: Mac + hmac::digest::KeyInit>(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
            let mut mac = <M as Mac>::new_from_slice(key).expect("HMAC takes a key of any length");
            for part in parts {
                mac.update(part);
            }
            mac.finalize().into_bytes().to_vec()
        }
        match self {
            ScramMechanism::Sha256 => run::<Hmac<Sha256>>(key, parts),
            ScramMechanism::Sha512 => run::<Hmac<Sha512>>(key, parts),
        }
    }

    fn hash(self, data: &[u8]) -> Vec<u8> {
        match self {
            ScramMechanism::Sha256 => Sha256::digest(data).to_vec(),
            ScramMechanism::Sha512 => Sha512::digest(data).to_vec(),
        }
    }

    /// RFC 5802's Hi(): PBKDF2 with this mechanism's HMAC, one block.
    fn salted_password(self, password: &[u8], salt: &[u8], iterations: u32) -> Vec<u8> {
        let mut out = vec![0; self.hash_len()];
        match self {
            ScramMechanism::Sha256 => {
                pbkdf2::pbkdf2_hmac::<Sha256>(password, salt, iterations, &mut out);
            }
            ScramMechanism::Sha512 => {
                pbkdf2::pbkdf2_hmac::<Sha512>(password, salt, iterations, &mut out);
            }
        }
        out
    }
}

impl fmt::Display for ScramMechanism {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What the broker stores for one user and mechanism: Kafka's
/// `UserScramCredentialRecord` less the name and mechanism, which are the
/// key it is found under.
#[derive(Clone, PartialEq, Eq)]
pub struct ScramCredential {
    pub salt: Vec<u8>,
    pub stored_key: Vec<u8>,
    pub server_key: Vec<u8>,
    pub iterations: u32,
}

impl fmt::Debug for ScramCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The keys are password equivalents for this server: kept out of
        // logs.
        f.debug_struct("ScramCredential")
            .field("salt_len", &self.salt.len())
            .field("iterations", &self.iterations)
            .finish_non_exhaustive()
    }
}

/// Why a credential could not be derived.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CredentialError {
    message: String,
}

impl CredentialError {
    #[must_use]
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for CredentialError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for CredentialError {}

impl ScramCredential {
    /// The credential for `password`, salted with `salt` over `iterations`
    /// rounds (what `kafka-configs --add-config 'SCRAM-SHA-256=[password=…]'`
    /// makes, given the salt the caller drew).
    pub fn from_password(
        mechanism: ScramMechanism,
        password: &str,
        salt: &[u8],
        iterations: u32,
    ) -> Result<ScramCredential, CredentialError> {
        check_parameters(mechanism, salt, iterations)?;
        let salted = mechanism.salted_password(password.as_bytes(), salt, iterations);
        ScramCredential::from_salted_password(mechanism, &salted, salt, iterations)
    }

    /// The credential from a salted password, as AlterUserScramCredentials
    /// carries it (the client has done the PBKDF2 rounds; the broker never
    /// sees the password).
    pub fn from_salted_password(
        mechanism: ScramMechanism,
        salted_password: &[u8],
        salt: &[u8],
        iterations: u32,
    ) -> Result<ScramCredential, CredentialError> {
        check_parameters(mechanism, salt, iterations)?;
        if salted_password.len() != mechanism.hash_len() {
            return Err(CredentialError {
                message: format!(
                    "A salted password for {mechanism} has {} bytes, not {}",
                    salted_password.len(),
                    mechanism.hash_len()
                ),
            });
        }
        let client_key = mechanism.hmac(salted_password, &[b"Client Key"]);
        Ok(ScramCredential {
            salt: salt.to_vec(),
            stored_key: mechanism.hash(&client_key),
            server_key: mechanism.hmac(salted_password, &[b"Server Key"]),
            iterations,
        })
    }
}

fn check_parameters(
    mechanism: ScramMechanism,
    salt: &[u8],
    iterations: u32,
) -> Result<(), CredentialError> {
    if salt.is_empty() {
        return Err(CredentialError {
            message: "A SCRAM credential needs a salt".to_owned(),
        });
    }
    if iterations < ScramMechanism::MIN_ITERATIONS {
        return Err(CredentialError {
            message: format!(
                "Iterations {iterations} is less than the minimum {} for {mechanism}",
                ScramMechanism::MIN_ITERATIONS
            ),
        });
    }
    if iterations > ScramMechanism::MAX_ITERATIONS {
        return Err(CredentialError {
            message: format!(
                "Iterations {iterations} is more than the maximum {} for {mechanism}",
                ScramMechanism::MAX_ITERATIONS
            ),
        });
    }
    Ok(())
}

/// The extensions of a client-first message, in the order sent (a repeated
/// name keeps its last value).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ScramExtensions {
    pairs: Vec<(String, String)>,
}

impl ScramExtensions {
    /// Kafka's extension for delegation-token authentication.
    pub const TOKEN_AUTH: &'static str = "tokenauth";

    #[must_use]
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    #[must_use]
    pub fn pairs(&self) -> &[(String, String)] {
        &self.pairs
    }

    /// Whether the client authenticates with a delegation token: the
    /// user name is then a token id and the password its HMAC. Kafka reads
    /// the value with `Boolean.parseBoolean`, so case does not matter.
    #[must_use]
    pub fn token_auth(&self) -> bool {
        self.get(Self::TOKEN_AUTH)
            .is_some_and(|v| v.eq_ignore_ascii_case("true"))
    }

    fn insert(&mut self, name: &str, value: &str) {
        match self.pairs.iter_mut().find(|(n, _)| n == name) {
            Some(slot) => slot.1 = value.to_owned(),
            None => self.pairs.push((name.to_owned(), value.to_owned())),
        }
    }
}

/// A parsed client-first message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientFirst {
    /// `n,,`, `y,,` or with an authzid `n,a=<saslname>,`, as sent.
    pub gs2_header: String,
    /// The authzid, unescaped; `None` if the client sent none.
    pub authzid: Option<String>,
    /// The user name, unescaped.
    pub user: String,
    pub nonce: String,
    pub extensions: ScramExtensions,
    /// Everything after the gs2 header, as sent: the first part of
    /// AuthMessage.
    pub bare: String,
}

/// Which check failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScramErrorKind {
    /// The client-first message does not parse.
    MalformedClientFirst,
    /// The client asked for channel binding (`p=`).
    ChannelBindingNotSupported,
    /// The client-first message carries a mandatory extension (`m=`).
    MandatoryExtension,
    /// The client asked for delegation-token authentication.
    TokenAuthNotSupported,
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
            K::UnknownUser | K::TokenAuthNotSupported => Some("unknown-user"),
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

/// Parses a client-first message on its own, for a caller that wants to
/// look at it (its extensions, say) before running the exchange.
pub fn parse_client_first(
    mechanism: ScramMechanism,
    message: &[u8],
) -> Result<ClientFirst, ScramError> {
    let malformed = |why: &str| {
        ScramError::new(
            ScramErrorKind::MalformedClientFirst,
            mechanism,
            format!(
                "Invalid SCRAM client first message format: {} ({why})",
                String::from_utf8_lossy(message)
            ),
        )
    };
    let text = std::str::from_utf8(message).map_err(|_| malformed("not UTF-8"))?;
    let mut parts = text.split(',');
    let flag = parts.next().unwrap_or_default();
    match flag {
        "n" | "y" => {}
        f if f.starts_with("p=") => {
            return Err(ScramError::new(
                ScramErrorKind::ChannelBindingNotSupported,
                mechanism,
                format!(
                    "Invalid SCRAM client first message format: {text} (channel binding is not supported)"
                ),
            ))
        }
        _ => return Err(malformed("bad gs2 channel binding flag")),
    }
    let authzid = match parts.next() {
        None => return Err(malformed("no authzid field")),
        Some("") => None,
        Some(a) => match a.strip_prefix("a=") {
            Some(name) => Some(decode_saslname(name).ok_or_else(|| malformed("bad authzid"))?),
            None => return Err(malformed("bad authzid field")),
        },
    };
    let gs2_len = flag.len() + 1 + authzid_field_len(text, flag) + 1;
    let gs2_header = text[..gs2_len].to_owned();
    let bare = text[gs2_len..].to_owned();

    let mut field = parts.next().ok_or_else(|| malformed("no user name"))?;
    if field.starts_with("m=") {
        return Err(ScramError::new(
            ScramErrorKind::MandatoryExtension,
            mechanism,
            format!(
                "Invalid SCRAM client first message format: {text} (mandatory extension m= is not supported)"
            ),
        ));
    }
    let user = field
        .strip_prefix("n=")
        .and_then(decode_saslname)
        .ok_or_else(|| malformed("bad user name"))?;
    field = parts.next().ok_or_else(|| malformed("no nonce"))?;
    let nonce = field
        .strip_prefix("r=")
        .filter(|n| is_printable(n))
        .ok_or_else(|| malformed("bad nonce"))?
        .to_owned();
    let mut extensions = ScramExtensions::default();
    for ext in parts {
        let (name, value) = parse_extension(ext).ok_or_else(|| malformed("bad extension"))?;
        extensions.insert(name, value);
    }
    Ok(ClientFirst {
        gs2_header,
        authzid,
        user,
        nonce,
        extensions,
        bare,
    })
}

/// The length of the authzid field (between the first two commas).
fn authzid_field_len(text: &str, flag: &str) -> usize {
    text[flag.len() + 1..].find(',').unwrap_or(0)
}

/// A saslname with `=2C` and `=3D` turned back into `,` and `=`; `None` if
/// it is empty, holds NUL, or has any other `=`.
pub(crate) fn decode_saslname(name: &str) -> Option<String> {
    if name.is_empty() || name.contains('\0') {
        return None;
    }
    let mut out = String::with_capacity(name.len());
    let mut rest = name;
    while let Some(at) = rest.find('=') {
        out.push_str(&rest[..at]);
        let escape = rest.get(at + 1..at + 3)?;
        out.push(match escape {
            "2C" => ',',
            "3D" => '=',
            _ => return None,
        });
        rest = &rest[at + 3..];
    }
    out.push_str(rest);
    Some(out)
}

/// RFC 5802's `printable`: ASCII 0x21..=0x7E but `,`; at least one.
fn is_printable(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| (0x21..=0x7e).contains(&b) && b != b',')
}

/// `name=value`, the name letters only, the value not empty.
fn parse_extension(ext: &str) -> Option<(&str, &str)> {
    let (name, value) = ext.split_once('=')?;
    let ok = !name.is_empty()
        && name.bytes().all(|b| b.is_ascii_alphabetic())
        && !value.is_empty()
        && !value.contains('\0');
    ok.then_some((name, value))
}

/// Where an exchange stands.
enum State {
    AwaitingClientFirst,
    AwaitingClientFinal(Pending),
    Complete { user: String },
    Failed,
}

/// What the server keeps between its first message and the client's last.
struct Pending {
    gs2_header: String,
    client_first_bare: String,
    server_first: String,
    nonce: String,
    user: String,
    credential: ScramCredential,
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
        assert!(
            is_printable(server_nonce_suffix),
            "a SCRAM server nonce must be printable ASCII without ','"
        );
        if !matches!(self.state, State::AwaitingClientFirst) {
            return Err(self.unexpected());
        }
        let result = self.read_client_first(message, lookup, server_nonce_suffix);
        match result {
            Ok((pending, reply)) => {
                self.state = State::AwaitingClientFinal(pending);
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
        server_nonce_suffix: &str,
    ) -> Result<(Pending, Vec<u8>), ScramError> {
        let mechanism = self.mechanism;
        let first = parse_client_first(mechanism, message)?;
        self.extensions = first.extensions.clone();
        if first.extensions.token_auth() {
            return Err(ScramError::new(
                ScramErrorKind::TokenAuthNotSupported,
                mechanism,
                format!(
                    "Token Authentication failed: Invalid tokenId : {}",
                    first.user
                ),
            ));
        }
        let credential = lookup(&first.user).ok_or_else(|| {
            ScramError::new(
                ScramErrorKind::UnknownUser,
                mechanism,
                "Authentication failed: Invalid user credentials",
            )
        })?;
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
                user: first.user,
                credential,
            },
            reply,
        ))
    }

    /// Reads the client-final message, checks the proof, and returns the
    /// server-final message with the authenticated user name.
    pub fn client_final(&mut self, message: &[u8]) -> Result<(Vec<u8>, String), ScramError> {
        let pending = match std::mem::replace(&mut self.state, State::Failed) {
            State::AwaitingClientFinal(pending) => pending,
            other => {
                self.state = other;
                return Err(self.unexpected());
            }
        };
        let server_final = self.read_client_final(&pending, message)?;
        self.state = State::Complete {
            user: pending.user.clone(),
        };
        Ok((server_final, pending.user))
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

        if nonce != pending.nonce {
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
