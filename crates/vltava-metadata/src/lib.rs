//! Cluster metadata: a log of [`records::MetadataRecord`]s (stored as
//! Kafka's KRaft metadata records) applied to immutable
//! [`image::MetadataImage`]s.
//!
//! On a single node the log is a one-voter log persisted under the data
//! directory; the multi-node work replaces how the log is replicated (Raft),
//! not the records, the image or the handlers that read it.

pub mod controller;
pub mod features;
pub mod image;
pub mod quotas;
pub mod records;
pub mod security;
pub mod tokens;

pub use image::{
    BrokerImage, MetadataImage, PartitionImage, ScramCredentialImage, TopicImage, LOST_DIRECTORY,
    UNASSIGNED_DIRECTORY,
};
pub use records::{Endpoint, MetadataRecord, RecordError, NO_LEADER, NO_LEADER_CHANGE};
