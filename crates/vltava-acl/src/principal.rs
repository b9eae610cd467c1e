//! Kafka's principal, as ACLs and `super.users` write it: `Type:name`.

use std::fmt;
use std::str::FromStr;

/// Who a request comes from (or whom an ACL is about): a type, `User` for
/// every built-in authentication, and a name. Kafka writes it `Type:name`
/// and splits that string at the first colon, so the name may hold colons
/// and either part may be empty.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KafkaPrincipal {
    pub principal_type: String,
    pub name: String,
}

/// The principal type of every principal Kafka's own authenticators make.
pub const USER_TYPE: &str = "User";

/// The principal an ACL names to apply to everyone. Only the `User` type
/// has a wildcard: `User:*` matches principals of every type.
pub const WILDCARD_PRINCIPAL: &str = "User:*";

impl KafkaPrincipal {
    pub fn new(principal_type: impl Into<String>, name: impl Into<String>) -> Self {
        KafkaPrincipal {
            principal_type: principal_type.into(),
            name: name.into(),
        }
    }

    /// `User:name`.
    pub fn user(name: impl Into<String>) -> Self {
        Self::new(USER_TYPE, name)
    }

    /// Splits `Type:name` at its first colon. Fails, with Kafka's message,
    /// on an empty string or one without a colon.
    pub fn parse(s: &str) -> Result<Self, PrincipalParseError> {
        match s.split_once(':') {
            Some((principal_type, name)) if !s.is_empty() => Ok(Self::new(principal_type, name)),
            _ => Err(PrincipalParseError {
                input: s.to_owned(),
            }),
        }
    }

    /// Whether this is `User:*`, the principal of ACLs meant for everyone.
    pub fn is_wildcard(&self) -> bool {
        self.principal_type == USER_TYPE && self.name == "*"
    }
}

impl fmt::Display for KafkaPrincipal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.principal_type, self.name)
    }
}

impl FromStr for KafkaPrincipal {
    type Err = PrincipalParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// A principal string that is not `Type:name`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PrincipalParseError {
    pub input: String,
}

impl fmt::Display for PrincipalParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "expected a string in format principalType:principalName but got {}",
            self.input
        )
    }
}

impl std::error::Error for PrincipalParseError {}
