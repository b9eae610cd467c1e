//! Errors, worded for the operator and mapped to Kafka error codes.

use std::fmt;

/// Kafka's `INVALID_CONFIG` error code.
pub const INVALID_CONFIG: i16 = 40;
/// Kafka's `INVALID_REQUEST` error code.
pub const INVALID_REQUEST: i16 = 42;

/// Which table a key was looked up in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Broker,
    Topic,
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Scope::Broker => "broker",
            Scope::Topic => "topic",
        })
    }
}

/// A configuration that cannot be accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigError {
    /// No such key in the table. `suggestion` is a known key that is close,
    /// or the right-scope twin of a key from the other table.
    UnknownKey {
        scope: Scope,
        name: String,
        suggestion: Option<&'static str>,
    },
    /// The value does not parse or breaks the key's rule. `value` is
    /// `[hidden]` for passwords.
    InvalidValue {
        name: String,
        value: String,
        reason: String,
    },
    /// A topic config given without a value (CreateTopics allows null).
    NullValue { name: String },
    /// A dynamic update of a key that only changes with a restart.
    ReadOnly { name: String },
    /// A cluster-wide default for a key that may only be set per broker.
    PerBrokerOnly { name: String },
    /// APPEND or SUBTRACT on a key that is not a list.
    NotAList {
        name: String,
        operation: &'static str,
    },
    /// The same key twice in one request.
    DuplicateKey { name: String },
    /// An operation code outside 0..=3.
    UnknownOperation { name: String, code: i8 },
    /// Keys that are valid alone but not together.
    Conflict { message: String },
}

impl ConfigError {
    /// The Kafka error code a response should carry.
    pub fn error_code(&self) -> i16 {
        match self {
            ConfigError::DuplicateKey { .. } | ConfigError::UnknownOperation { .. } => {
                INVALID_REQUEST
            }
            _ => INVALID_CONFIG,
        }
    }

    /// The key the error is about, when there is one.
    pub fn key(&self) -> Option<&str> {
        match self {
            ConfigError::UnknownKey { name, .. }
            | ConfigError::InvalidValue { name, .. }
            | ConfigError::NullValue { name }
            | ConfigError::ReadOnly { name }
            | ConfigError::PerBrokerOnly { name }
            | ConfigError::NotAList { name, .. }
            | ConfigError::DuplicateKey { name }
            | ConfigError::UnknownOperation { name, .. } => Some(name),
            ConfigError::Conflict { .. } => None,
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::UnknownKey {
                scope,
                name,
                suggestion,
            } => {
                write!(f, "Unknown {scope} config name: {name}")?;
                if let Some(s) = suggestion {
                    write!(f, " (did you mean {s}?)")?;
                }
                Ok(())
            }
            ConfigError::InvalidValue {
                name,
                value,
                reason,
            } => write!(
                f,
                "Invalid value {value} for configuration {name}: {reason}"
            ),
            ConfigError::NullValue { name } => {
                write!(f, "Null value not supported for topic config {name}")
            }
            ConfigError::ReadOnly { name } => write!(
                f,
                "Cannot update {name} dynamically: it is read-only and changes only with a restart"
            ),
            ConfigError::PerBrokerOnly { name } => write!(
                f,
                "Cannot set {name} as a cluster-wide default: it can only be set per broker"
            ),
            ConfigError::NotAList { name, operation } => write!(
                f,
                "Cannot {operation} to {name}: only list configs support APPEND and SUBTRACT"
            ),
            ConfigError::DuplicateKey { name } => {
                write!(f, "Duplicate config key in one request: {name}")
            }
            ConfigError::UnknownOperation { name, code } => {
                write!(f, "Unknown config operation {code} for {name}")
            }
            ConfigError::Conflict { message } => f.write_str(message),
        }
    }
}

impl std::error::Error for ConfigError {}
