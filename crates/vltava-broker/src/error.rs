//! The one error shape inside the broker: a Kafka error code, which is what
//! every response ends up carrying, and a message for the response's
//! `error_message` field or the log. Errors from the crates below
//! (controller planning, config validation) convert into it; the wire
//! shapes that need more (Produce's per-record errors) wrap it in their
//! handler.

use vltava_protocol::ErrorCode;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KafkaError {
    pub code: ErrorCode,
    pub message: String,
}

impl KafkaError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> KafkaError {
        KafkaError {
            code,
            message: message.into(),
        }
    }
}

impl std::fmt::Display for KafkaError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for KafkaError {}

impl From<vltava_metadata::controller::Refusal> for KafkaError {
    fn from(e: vltava_metadata::controller::Refusal) -> KafkaError {
        KafkaError::new(e.code, e.message)
    }
}

impl From<vltava_config::ConfigError> for KafkaError {
    fn from(e: vltava_config::ConfigError) -> KafkaError {
        KafkaError::new(ErrorCode::from(e.error_code()), e.to_string())
    }
}
