//! The single-node controller.

pub mod metadata_log;
