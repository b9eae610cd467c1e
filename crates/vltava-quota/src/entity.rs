//! Who a quota is configured for, and which quota it is.
//!
//! A quota entity names up to three parts: a user, a client id and an IP
//! address. Each part is absent, a specific name, or the default (written
//! `<default>` by the tools, carried as a null name in ClientQuotaRecord).
//! Byte-rate and request quotas use the user and client-id parts (KIP-55);
//! `connection_creation_rate` uses the IP part alone (KIP-612).

use std::fmt;

/// Entity type names as they travel in requests and records.
pub const USER: &str = "user";
pub const CLIENT_ID: &str = "client-id";
pub const IP: &str = "ip";
/// How the tools write a default entity name.
pub const DEFAULT_NAME: &str = "<default>";

/// One part of an entity: a specific name or the default for that type.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum EntityName {
    /// Applies to every name of the type that has no quota of its own.
    Default,
    /// Applies to exactly this name.
    Name(String),
}

impl EntityName {
    /// The name as the wire carries it: `None` for the default.
    pub fn as_wire(&self) -> Option<&str> {
        match self {
            EntityName::Default => None,
            EntityName::Name(n) => Some(n),
        }
    }

    /// The name from the wire: `None` is the default.
    pub fn from_wire(name: Option<&str>) -> EntityName {
        match name {
            None => EntityName::Default,
            Some(n) => EntityName::Name(n.to_string()),
        }
    }

    /// A specific name.
    pub fn name(n: impl Into<String>) -> EntityName {
        EntityName::Name(n.into())
    }
}

impl fmt::Display for EntityName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EntityName::Default => f.write_str(DEFAULT_NAME),
            EntityName::Name(n) => f.write_str(n),
        }
    }
}

/// A quota entity: the parts it names. Records may carry any combination;
/// `validate_alteration` decides which ones a client may create.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct QuotaEntity {
    pub user: Option<EntityName>,
    pub client_id: Option<EntityName>,
    pub ip: Option<EntityName>,
}

impl QuotaEntity {
    /// A (user, client-id) entity, either part possibly absent.
    pub fn client(user: Option<EntityName>, client_id: Option<EntityName>) -> QuotaEntity {
        QuotaEntity {
            user,
            client_id,
            ip: None,
        }
    }

    /// An IP entity (`EntityName::Default` for the default IP quota).
    pub fn ip(ip: EntityName) -> QuotaEntity {
        QuotaEntity {
            user: None,
            client_id: None,
            ip: Some(ip),
        }
    }

    /// The parts as (entity type, wire name) pairs, in the order user,
    /// client-id, ip.
    pub fn parts(&self) -> Vec<(&'static str, Option<&str>)> {
        let mut out = Vec::with_capacity(3);
        if let Some(u) = &self.user {
            out.push((USER, u.as_wire()));
        }
        if let Some(c) = &self.client_id {
            out.push((CLIENT_ID, c.as_wire()));
        }
        if let Some(i) = &self.ip {
            out.push((IP, i.as_wire()));
        }
        out
    }

    /// The part of the given entity type, if the entity names it.
    pub fn part(&self, entity_type: &str) -> Option<&EntityName> {
        match entity_type {
            USER => self.user.as_ref(),
            CLIENT_ID => self.client_id.as_ref(),
            IP => self.ip.as_ref(),
            _ => None,
        }
    }

    /// How many parts the entity names (a strict describe filter compares
    /// this with the number of its components).
    pub fn part_count(&self) -> usize {
        self.parts().len()
    }

    /// True when the entity names no part at all.
    pub fn is_empty(&self) -> bool {
        self.part_count() == 0
    }
}

impl fmt::Display for QuotaEntity {
    /// Kafka's `ClientQuotaEntity` text, used in error messages. Kafka
    /// prints a hash map, so its order of the parts may differ from ours
    /// (user, client-id, ip).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ClientQuotaEntity(entries={")?;
        for (i, (t, n)) in self.parts().into_iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{t}={}", n.unwrap_or("null"))?;
        }
        f.write_str("})")
    }
}

/// The quota config keys Kafka knows (`QuotaConfigs`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum QuotaKey {
    /// Bytes per second a producer may send (KIP-13).
    ProducerByteRate,
    /// Bytes per second a consumer may fetch (KIP-13).
    ConsumerByteRate,
    /// Percentage of one network or I/O thread's time (KIP-124).
    RequestPercentage,
    /// Partitions created or deleted per second (KIP-599). Stored,
    /// validated and described here; its strict token-bucket enforcement is
    /// not part of this crate.
    ControllerMutationRate,
    /// New connections per second from one IP (KIP-612).
    ConnectionCreationRate,
}

impl QuotaKey {
    pub const ALL: [QuotaKey; 5] = [
        QuotaKey::ProducerByteRate,
        QuotaKey::ConsumerByteRate,
        QuotaKey::RequestPercentage,
        QuotaKey::ControllerMutationRate,
        QuotaKey::ConnectionCreationRate,
    ];

    /// The config name.
    pub fn name(self) -> &'static str {
        match self {
            QuotaKey::ProducerByteRate => "producer_byte_rate",
            QuotaKey::ConsumerByteRate => "consumer_byte_rate",
            QuotaKey::RequestPercentage => "request_percentage",
            QuotaKey::ControllerMutationRate => "controller_mutation_rate",
            QuotaKey::ConnectionCreationRate => "connection_creation_rate",
        }
    }

    /// The key of a config name, if Kafka knows it.
    pub fn from_name(name: &str) -> Option<QuotaKey> {
        QuotaKey::ALL.into_iter().find(|k| k.name() == name)
    }

    /// Whether Kafka's config type for the key is integral (LONG or INT),
    /// so AlterClientQuotas refuses fractional values.
    pub fn is_integral(self) -> bool {
        matches!(
            self,
            QuotaKey::ProducerByteRate
                | QuotaKey::ConsumerByteRate
                | QuotaKey::ConnectionCreationRate
        )
    }
}

impl fmt::Display for QuotaKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The tags a usage sensor is kept under. Kafka counts the usage of every
/// connection whose quota comes from the same configured entity in one
/// sensor: all clients of a user with a `/users/<user>` quota share the
/// tags `(user, "")`; an empty string means "not part of the key".
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MetricTags {
    pub user: String,
    pub client_id: String,
}

impl MetricTags {
    pub fn new(user: impl Into<String>, client_id: impl Into<String>) -> MetricTags {
        MetricTags {
            user: user.into(),
            client_id: client_id.into(),
        }
    }
}
