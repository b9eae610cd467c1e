//! The configured quotas, as the metadata log's ClientQuotaRecords leave
//! them, and which one applies to a connection.
//!
//! For a (user principal, client id) Kafka tries eight entities in turn and
//! takes the first that has the quota key (KIP-55):
//!
//! 1. `/users/<user>/clients/<client-id>`
//! 2. `/users/<user>/clients/<default>`
//! 3. `/users/<user>`
//! 4. `/users/<default>/clients/<client-id>`
//! 5. `/users/<default>/clients/<default>`
//! 6. `/users/<default>`
//! 7. `/clients/<client-id>`
//! 8. `/clients/<default>`
//!
//! No entity with the key means no limit. The level found also decides the
//! usage sensor's tags: levels 1, 2, 4 and 5 count per (user, client id),
//! levels 3 and 6 per user (every client id of the user together), and
//! levels 7, 8 or none per client id (every user of the client id
//! together). Presence is checked per key, as Kafka keeps one quota
//! manager per quota type.

use std::collections::BTreeMap;
use std::net::IpAddr;

use crate::entity::{EntityName, MetricTags, QuotaEntity, QuotaKey};

/// One of the eight precedence levels, most specific first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum QuotaLevel {
    UserClient,
    UserDefaultClient,
    User,
    DefaultUserClient,
    DefaultUserDefaultClient,
    DefaultUser,
    Client,
    DefaultClient,
}

impl QuotaLevel {
    pub const ALL: [QuotaLevel; 8] = [
        QuotaLevel::UserClient,
        QuotaLevel::UserDefaultClient,
        QuotaLevel::User,
        QuotaLevel::DefaultUserClient,
        QuotaLevel::DefaultUserDefaultClient,
        QuotaLevel::DefaultUser,
        QuotaLevel::Client,
        QuotaLevel::DefaultClient,
    ];

    /// The entity this level looks at for the given user and client id.
    pub fn entity(self, user: &str, client_id: &str) -> QuotaEntity {
        let u = || Some(EntityName::name(user));
        let c = || Some(EntityName::name(client_id));
        let du = || Some(EntityName::Default);
        let dc = || Some(EntityName::Default);
        match self {
            QuotaLevel::UserClient => QuotaEntity::client(u(), c()),
            QuotaLevel::UserDefaultClient => QuotaEntity::client(u(), dc()),
            QuotaLevel::User => QuotaEntity::client(u(), None),
            QuotaLevel::DefaultUserClient => QuotaEntity::client(du(), c()),
            QuotaLevel::DefaultUserDefaultClient => QuotaEntity::client(du(), dc()),
            QuotaLevel::DefaultUser => QuotaEntity::client(du(), None),
            QuotaLevel::Client => QuotaEntity::client(None, c()),
            QuotaLevel::DefaultClient => QuotaEntity::client(None, dc()),
        }
    }

    /// The sensor tags a connection resolved at this level is counted
    /// under.
    pub fn tags(self, user: &str, client_id: &str) -> MetricTags {
        match self {
            QuotaLevel::UserClient
            | QuotaLevel::UserDefaultClient
            | QuotaLevel::DefaultUserClient
            | QuotaLevel::DefaultUserDefaultClient => MetricTags::new(user, client_id),
            QuotaLevel::User | QuotaLevel::DefaultUser => MetricTags::new(user, ""),
            QuotaLevel::Client | QuotaLevel::DefaultClient => MetricTags::new("", client_id),
        }
    }
}

/// The quota that applies to a connection.
#[derive(Clone, Debug, PartialEq)]
pub struct ResolvedQuota {
    /// The limit; `None` is unlimited.
    pub limit: Option<f64>,
    /// The level it came from; `None` when no entity has the key.
    pub level: Option<QuotaLevel>,
    /// The sensor the usage is counted in.
    pub tags: MetricTags,
}

/// Configured quotas by entity, and the IP quotas by parsed address so
/// that `::1` and `0:0::1` find the same one.
#[derive(Clone, Debug, Default)]
pub struct QuotaStore {
    entities: BTreeMap<QuotaEntity, BTreeMap<String, f64>>,
    ip_limits: BTreeMap<IpAddr, f64>,
    default_ip_limit: Option<f64>,
}

impl QuotaStore {
    pub fn new() -> QuotaStore {
        QuotaStore::default()
    }

    /// Applies a ClientQuotaRecord: `Some` sets the key, `None` removes it
    /// (an entity left with no key is dropped). Keys are kept as strings,
    /// since a record may carry one this version does not know.
    pub fn set(&mut self, entity: &QuotaEntity, key: &str, value: Option<f64>) {
        match value {
            Some(v) => {
                self.entities
                    .entry(entity.clone())
                    .or_default()
                    .insert(key.to_string(), v);
            }
            None => {
                if let Some(keys) = self.entities.get_mut(entity) {
                    keys.remove(key);
                    if keys.is_empty() {
                        self.entities.remove(entity);
                    }
                }
            }
        }
        if key == QuotaKey::ConnectionCreationRate.name()
            && entity.user.is_none()
            && entity.client_id.is_none()
        {
            match &entity.ip {
                Some(EntityName::Default) => self.default_ip_limit = value,
                Some(EntityName::Name(n)) => {
                    if let Some(addr) = parse_ip(n) {
                        match value {
                            Some(v) => {
                                self.ip_limits.insert(addr, v);
                            }
                            None => {
                                self.ip_limits.remove(&addr);
                            }
                        }
                    }
                }
                None => {}
            }
        }
    }

    /// The configured values of an entity.
    pub fn get(&self, entity: &QuotaEntity) -> Option<&BTreeMap<String, f64>> {
        self.entities.get(entity)
    }

    /// One configured value.
    pub fn value(&self, entity: &QuotaEntity, key: QuotaKey) -> Option<f64> {
        self.entities.get(entity)?.get(key.name()).copied()
    }

    /// Every entity with its values, in a fixed order.
    pub fn entities(&self) -> impl Iterator<Item = (&QuotaEntity, &BTreeMap<String, f64>)> {
        self.entities.iter()
    }

    /// The quota of `key` for a connection of `user` (the principal's
    /// name) with `client_id`, by the precedence above.
    pub fn resolve(&self, key: QuotaKey, user: &str, client_id: &str) -> ResolvedQuota {
        for level in QuotaLevel::ALL {
            if let Some(v) = self.value(&level.entity(user, client_id), key) {
                return ResolvedQuota {
                    limit: Some(v),
                    level: Some(level),
                    tags: level.tags(user, client_id),
                };
            }
        }
        ResolvedQuota {
            limit: None,
            level: None,
            tags: MetricTags::new("", client_id),
        }
    }

    /// The connection creation rate limit for an address: its own quota,
    /// else the default IP quota, else none.
    pub fn ip_limit(&self, ip: IpAddr) -> Option<f64> {
        self.ip_limits.get(&ip).copied().or(self.default_ip_limit)
    }
}

/// An IP literal, IPv6 possibly in brackets. Host names are not resolved
/// here (no I/O), so they are not addresses.
pub(crate) fn parse_ip(s: &str) -> Option<IpAddr> {
    match s.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
        Some(inner) => inner.parse::<std::net::Ipv6Addr>().ok().map(IpAddr::V6),
        None => s.parse().ok(),
    }
}
