//! The server side of SASL as a Kafka broker runs it, with no I/O: the
//! broker hands each mechanism the bytes of a SaslAuthenticate request and
//! sends back the bytes (or the error) it gets. Nothing in here reads a
//! socket, a clock or a random source; SCRAM's server nonce and, for
//! OAUTHBEARER, the current time are arguments, so every exchange can be
//! replayed exactly in a test.
//!
//! - [`jaas`]: Kafka's `sasl.jaas.config` value, parsed into login module,
//!   control flag and options (PLAIN's user table lives there);
//! - [`plain`]: RFC 4616 PLAIN against that table;
//! - [`scram`]: SCRAM-SHA-256/512 (RFC 5802, RFC 7677) against stored
//!   credentials (Kafka's `UserScramCredentialRecord`), and the derivation
//!   of those credentials;
//! - [`oauthbearer`]: RFC 7628 OAUTHBEARER with Kafka's unsecured
//!   (`alg: none`) development tokens, and signed JWTs checked against a
//!   JWKS key set ([`oauthbearer::jwt`]; the broker reads the key file).
//!
//! Errors keep two texts apart, as Kafka's `SaslServerAuthenticator` does:
//! what the mechanism said (for the broker's log) and what the client may
//! be told. Kafka sends a mechanism's own message only when the mechanism
//! raised a `SaslAuthenticationException`; for anything else the client
//! gets [`generic_failure_message`], so that it cannot tell, for example,
//! an unknown user from a wrong password.

pub mod jaas;
pub mod oauthbearer;
pub mod plain;
pub mod scram;

use std::fmt;

/// A SASL mechanism by the name Kafka uses in `sasl.enabled.mechanisms`
/// and in SaslHandshake.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Mechanism {
    Plain,
    ScramSha256,
    ScramSha512,
    OAuthBearer,
}

impl Mechanism {
    pub const ALL: [Mechanism; 4] = [
        Mechanism::Plain,
        Mechanism::ScramSha256,
        Mechanism::ScramSha512,
        Mechanism::OAuthBearer,
    ];

    /// The name on the wire and in configs.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Mechanism::Plain => "PLAIN",
            Mechanism::ScramSha256 => "SCRAM-SHA-256",
            Mechanism::ScramSha512 => "SCRAM-SHA-512",
            Mechanism::OAuthBearer => "OAUTHBEARER",
        }
    }

    /// The mechanism a client names in SaslHandshake. Kafka compares names
    /// exactly (`enabledMechanisms.contains(name)`), so `"plain"` is not
    /// PLAIN here either.
    #[must_use]
    pub fn from_name(name: &str) -> Option<Mechanism> {
        Mechanism::ALL.into_iter().find(|m| m.name() == name)
    }
}

impl fmt::Display for Mechanism {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What Kafka tells a client whose exchange failed with anything but a
/// `SaslAuthenticationException`: the phase and the mechanism, nothing of
/// the cause.
#[must_use]
pub fn generic_failure_message(mechanism: Mechanism, reauthentication: bool) -> String {
    let phase = if reauthentication {
        "re-authentication"
    } else {
        "authentication"
    };
    format!(
        "Authentication failed during {phase} due to invalid credentials with SASL mechanism {mechanism}"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mechanism_names_round_trip_and_are_case_sensitive() {
        for m in Mechanism::ALL {
            assert_eq!(Mechanism::from_name(m.name()), Some(m));
            assert_eq!(m.to_string(), m.name());
        }
        assert_eq!(Mechanism::from_name("plain"), None);
        assert_eq!(Mechanism::from_name("GSSAPI"), None);
        assert_eq!(Mechanism::from_name(""), None);
    }

    #[test]
    fn generic_message_names_phase_and_mechanism_only() {
        assert_eq!(
            generic_failure_message(Mechanism::ScramSha512, false),
            "Authentication failed during authentication due to invalid credentials with SASL mechanism SCRAM-SHA-512"
        );
        assert_eq!(
            generic_failure_message(Mechanism::Plain, true),
            "Authentication failed during re-authentication due to invalid credentials with SASL mechanism PLAIN"
        );
    }
}
