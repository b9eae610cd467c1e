//! A small native Kafka client, used by the `vltava` command-line tools and
//! by tests.
//!
//! - [`Connection`]: one TCP connection to one broker. Frames requests,
//!   matches correlation ids, runs the ApiVersions handshake (v3 with the
//!   client's software name and version, KIP-511 fallback) and picks for
//!   each request the highest version both sides speak. One request in
//!   flight at a time; timeouts on connecting and on every request.
//! - [`Client`]: a cluster. Bootstraps from a list of servers, keeps the
//!   metadata (brokers, topics, leaders) and one connection per broker,
//!   sends partition requests to the leader and admin requests to the
//!   controller, retries what a metadata refresh can fix. Group requests
//!   (list, describe, delete groups; fetch, commit, delete offsets) go to
//!   the group's coordinator, found with FindCoordinator. The metadata
//!   quorum is described (DescribeQuorum) and its voters changed
//!   (AddRaftVoter, RemoveRaftVoter) at the quorum leader, which any
//!   node's NOT_LEADER_OR_FOLLOWER answer names.
//! - [`consumer_protocol`]: the subscription and assignment formats Kafka
//!   consumers embed in JoinGroup and SyncGroup.
//! - [`partitioner`]: Kafka's murmur2 key partitioning.
//!
//! Not here (yet): being a group member (the client administers groups and
//! commits offsets as a consumer outside the group, but does not join),
//! idempotent or transactional producing, SASL/TLS, fetch sessions.

pub mod batches;
pub mod client;
pub mod connection;
pub mod consumer_protocol;
pub mod error;
pub mod partitioner;
pub mod types;

pub use client::features::{
    FeatureChange, FeatureDescription, FeatureUpgradeType, SupportedFeature,
};
pub use client::quotas::{
    DescribedQuotas, QuotaEntityParts, QuotaFilterComponent, QuotaKeyChange, QuotaMatch,
};
pub use client::security::{ScramUpsertion, UserCredentials, SCRAM_SHA_256, SCRAM_SHA_512};
pub use client::{Client, ClientConfig, ElectionOutcome, ElectionType};
pub use connection::{ClientSecurity, Connection, ConnectionConfig, SaslLogin};
pub use consumer_protocol::CONSUMER_PROTOCOL_TYPE;
pub use error::{BrokerError, Error, Result};
pub use partitioner::{murmur2, partition_for_key, to_positive, Partitioner};
pub use types::*;
/// Kafka's ACL model, which the ACL methods take and return.
pub use vltava_acl as acl;
/// The wire types, for requests sent by hand with [`Connection::send`].
pub use vltava_protocol as protocol;
pub use vltava_protocol::{ErrorCode, Uuid};
