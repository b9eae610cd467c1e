//! SASL PLAIN (RFC 4616) as Kafka's `PlainSaslServer` and
//! `PlainServerCallbackHandler` run it: one client message,
//! `[authzid] NUL authcid NUL passwd` in UTF-8, checked against the
//! `user_<name>="<password>"` options of the listener's
//! `PlainLoginModule` entry, and an empty answer on success.
//!
//! Kafka's checks, in its order, and who gets to read the message:
//! - not three NUL-separated fields: "Invalid SASL/PLAIN response:
//!   expected 3 tokens, got N" (a plain `SaslException`: the client is told
//!   only the generic message);
//! - an empty user name or password: "Authentication failed: username not
//!   specified" / "... password not specified" (also generic to the client);
//! - unknown user or wrong password: "Authentication failed: Invalid
//!   username or password" (sent to the client as is);
//! - an authzid that is neither empty nor the user name: "Authentication
//!   failed: Client requested an authorization id that is different from
//!   username" (sent to the client as is). Kafka checks it after the
//!   password, so a client learns nothing about the authzid rule before it
//!   has proved who it is; so does this module.
//!
//! Two places where this is stricter than Kafka: bytes that are not UTF-8
//! are refused (Kafka decodes them with replacement characters, which can
//! only ever fail to match), and a fourth field is refused (Kafka's split
//! stops after three and drops the rest, so `a\0b\0c\0d` there is the
//! password `c`).

use std::collections::BTreeMap;
use std::fmt;

use subtle::ConstantTimeEq;

use crate::jaas::JaasEntry;
use crate::{generic_failure_message, Mechanism};

/// The login module class whose options hold PLAIN's users.
pub const PLAIN_LOGIN_MODULE: &str = "org.apache.kafka.common.security.plain.PlainLoginModule";

/// The option prefix that names a user (`user_alice="alice-secret"`).
pub const USER_OPTION_PREFIX: &str = "user_";

/// Which of Kafka's checks failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlainErrorKind {
    /// Not `authzid NUL authcid NUL passwd`, or not UTF-8.
    Malformed,
    UsernameMissing,
    PasswordMissing,
    /// No such user, or the wrong password: one kind, so that the two
    /// cannot be told apart.
    InvalidCredentials,
    AuthorizationIdMismatch,
}

/// A failed PLAIN exchange.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlainError {
    kind: PlainErrorKind,
    message: String,
}

impl PlainError {
    fn new(kind: PlainErrorKind, message: impl Into<String>) -> PlainError {
        PlainError {
            kind,
            message: message.into(),
        }
    }

    #[must_use]
    pub fn kind(&self) -> PlainErrorKind {
        self.kind
    }

    /// Kafka's message for this failure, for the broker's log.
    #[must_use]
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Whether Kafka sends [`message`](Self::message) itself to the client
    /// (it raised a `SaslAuthenticationException`).
    #[must_use]
    pub fn reaches_client(&self) -> bool {
        matches!(
            self.kind,
            PlainErrorKind::InvalidCredentials | PlainErrorKind::AuthorizationIdMismatch
        )
    }

    /// The error message of the SaslAuthenticate response.
    #[must_use]
    pub fn client_message(&self, reauthentication: bool) -> String {
        if self.reaches_client() {
            self.message.clone()
        } else {
            generic_failure_message(Mechanism::Plain, reauthentication)
        }
    }
}

impl fmt::Display for PlainError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for PlainError {}

/// PLAIN's user table: user name to password, in clear, as Kafka keeps it
/// in the JAAS config (PLAIN is for development and for setups that put
/// TLS in front of it; SCRAM is the mechanism that stores no password).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct PlainUsers {
    passwords: BTreeMap<String, String>,
}

impl fmt::Debug for PlainUsers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The names only: a password must not reach a log by way of Debug.
        f.debug_struct("PlainUsers")
            .field("users", &self.passwords.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl PlainUsers {
    #[must_use]
    pub fn new() -> PlainUsers {
        PlainUsers::default()
    }

    /// Adds or replaces a user.
    pub fn insert(&mut self, user: impl Into<String>, password: impl Into<String>) {
        self.passwords.insert(user.into(), password.into());
    }

    /// The `user_<name>` options of every `PlainLoginModule` entry, as
    /// Kafka's callback handler looks them up (options of other login
    /// modules are not users). If two entries name the same user, the
    /// first wins, as in Kafka's lookup; a listener's config has one entry
    /// anyway. `user_` with nothing after it names no one.
    #[must_use]
    pub fn from_jaas(entries: &[JaasEntry]) -> PlainUsers {
        let mut users = PlainUsers::new();
        for entry in entries
            .iter()
            .filter(|e| e.login_module == PLAIN_LOGIN_MODULE)
        {
            for (key, value) in &entry.options {
                if let Some(name) = key.strip_prefix(USER_OPTION_PREFIX) {
                    if !name.is_empty() && !users.passwords.contains_key(name) {
                        users.insert(name, value.as_str());
                    }
                }
            }
        }
        users
    }

    #[must_use]
    pub fn len(&self) -> usize {
        self.passwords.len()
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.passwords.is_empty()
    }

    /// Whether `password` is `user`'s. The comparison of the bytes takes
    /// the same time wherever they first differ; it does stop at once on
    /// different lengths (as Kafka's `Utils.isEqualConstantTime` does), and
    /// an unknown user is answered without comparing anything.
    #[must_use]
    pub fn check(&self, user: &str, password: &str) -> bool {
        match self.passwords.get(user) {
            Some(expected) => bool::from(expected.as_bytes().ct_eq(password.as_bytes())),
            None => false,
        }
    }

    /// Runs the whole exchange on the client's one message and returns the
    /// authenticated user name. The server's answer on success is empty.
    pub fn authenticate(&self, response: &[u8]) -> Result<String, PlainError> {
        let text = std::str::from_utf8(response).map_err(|_| {
            PlainError::new(
                PlainErrorKind::Malformed,
                "Invalid SASL/PLAIN response: not UTF-8",
            )
        })?;
        let fields: Vec<&str> = text.split('\0').collect();
        let [authzid, user, password] = fields[..] else {
            return Err(PlainError::new(
                PlainErrorKind::Malformed,
                format!(
                    "Invalid SASL/PLAIN response: expected 3 tokens, got {}",
                    fields.len()
                ),
            ));
        };
        if user.is_empty() {
            return Err(PlainError::new(
                PlainErrorKind::UsernameMissing,
                "Authentication failed: username not specified",
            ));
        }
        if password.is_empty() {
            return Err(PlainError::new(
                PlainErrorKind::PasswordMissing,
                "Authentication failed: password not specified",
            ));
        }
        if !self.check(user, password) {
            return Err(PlainError::new(
                PlainErrorKind::InvalidCredentials,
                "Authentication failed: Invalid username or password",
            ));
        }
        if !authzid.is_empty() && authzid != user {
            return Err(PlainError::new(
                PlainErrorKind::AuthorizationIdMismatch,
                "Authentication failed: Client requested an authorization id that is different from username",
            ));
        }
        Ok(user.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jaas;

    fn users() -> PlainUsers {
        let entry = jaas::parse_single(
            r#"org.apache.kafka.common.security.plain.PlainLoginModule required username="admin" password="admin-secret" user_admin="admin-secret" user_alice="alice-secret";"#,
        )
        .unwrap();
        PlainUsers::from_jaas(&[entry])
    }

    #[test]
    fn jaas_user_options_become_the_table() {
        let users = users();
        assert_eq!(users.len(), 2);
        assert!(users.check("admin", "admin-secret"));
        assert!(users.check("alice", "alice-secret"));
        // `username`/`password` are the broker's own client credentials,
        // not a user.
        assert!(!users.check("username", "admin"));
        let debug = format!("{users:?}");
        assert!(debug.contains("alice") && !debug.contains("secret"));
    }

    #[test]
    fn other_login_modules_hold_no_plain_users() {
        let entry = jaas::parse_single(
            r#"org.apache.kafka.common.security.scram.ScramLoginModule required user_bob="x";"#,
        )
        .unwrap();
        assert!(PlainUsers::from_jaas(&[entry]).is_empty());
    }

    #[test]
    fn good_credentials_with_and_without_authzid() {
        let users = users();
        assert_eq!(
            users.authenticate(b"\0alice\0alice-secret").unwrap(),
            "alice"
        );
        assert_eq!(
            users.authenticate(b"alice\0alice\0alice-secret").unwrap(),
            "alice"
        );
    }

    #[test]
    fn wrong_password_and_unknown_user_look_the_same() {
        let users = users();
        for message in [
            &b"\0alice\0admin-secret"[..],
            b"\0alice\0alice-secre",
            b"\0alice\0alice-secrett",
            b"\0mallory\0alice-secret",
        ] {
            let err = users.authenticate(message).unwrap_err();
            assert_eq!(err.kind(), PlainErrorKind::InvalidCredentials);
            assert_eq!(
                err.message(),
                "Authentication failed: Invalid username or password"
            );
            assert!(err.reaches_client());
            assert_eq!(err.client_message(false), err.message());
        }
    }

    #[test]
    fn another_authzid_is_refused_after_the_password_is_checked() {
        let users = users();
        let err = users
            .authenticate(b"admin\0alice\0alice-secret")
            .unwrap_err();
        assert_eq!(err.kind(), PlainErrorKind::AuthorizationIdMismatch);
        assert_eq!(
            err.message(),
            "Authentication failed: Client requested an authorization id that is different from username"
        );
        // With a wrong password the password is what fails.
        let err = users.authenticate(b"admin\0alice\0nope").unwrap_err();
        assert_eq!(err.kind(), PlainErrorKind::InvalidCredentials);
    }

    #[test]
    fn malformed_messages_get_the_generic_client_message() {
        let users = users();
        let cases: [(&[u8], PlainErrorKind, &str); 6] = [
            (
                b"alice-secret",
                PlainErrorKind::Malformed,
                "Invalid SASL/PLAIN response: expected 3 tokens, got 1",
            ),
            (
                b"\0alice",
                PlainErrorKind::Malformed,
                "Invalid SASL/PLAIN response: expected 3 tokens, got 2",
            ),
            (
                b"\0alice\0alice-secret\0",
                PlainErrorKind::Malformed,
                "Invalid SASL/PLAIN response: expected 3 tokens, got 4",
            ),
            (
                b"\0alice\0\xff",
                PlainErrorKind::Malformed,
                "Invalid SASL/PLAIN response: not UTF-8",
            ),
            (
                b"\0\0alice-secret",
                PlainErrorKind::UsernameMissing,
                "Authentication failed: username not specified",
            ),
            (
                b"\0alice\0",
                PlainErrorKind::PasswordMissing,
                "Authentication failed: password not specified",
            ),
        ];
        for (message, kind, text) in cases {
            let err = users.authenticate(message).unwrap_err();
            assert_eq!(err.kind(), kind, "{message:?}");
            assert_eq!(err.message(), text);
            assert!(!err.reaches_client());
            assert_eq!(
                err.client_message(false),
                "Authentication failed during authentication due to invalid credentials with SASL mechanism PLAIN"
            );
        }
    }

    #[test]
    fn utf8_names_and_passwords() {
        let mut users = PlainUsers::new();
        users.insert("jiří", "heslo-ř");
        assert_eq!(
            users.authenticate("\0jiří\0heslo-ř".as_bytes()).unwrap(),
            "jiří"
        );
    }
}
