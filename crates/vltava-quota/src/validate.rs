//! What AlterClientQuotas may change, and which entities a
//! DescribeClientQuotas filter selects, as Kafka's KRaft controller
//! (`ClientQuotaControlManager`) and metadata image (`ClientQuotasImage`)
//! decide them.
//!
//! An alteration is refused as a whole for its entity, with
//! INVALID_REQUEST and Kafka's message, when: the entity is empty, names a
//! type twice or a type other than user, client-id and ip, has an empty
//! name, combines ip with user or client-id, or names an IP that is not an
//! address; a key is set that the entity's types do not have (users and
//! client ids: producer_byte_rate, consumer_byte_rate, request_percentage,
//! controller_mutation_rate; IPs: connection_creation_rate); or an
//! integral key gets a fractional value. Removing a key is not checked: it
//! is a no-op unless the entity has it. Kafka's controller has no range
//! check, so zero passes; a negative integral value fails the integer
//! test by accident (the cast truncates toward zero), so negative byte and
//! connection rates are refused as "must be a Long value" while negative
//! request percentages pass. Both are kept as Kafka has them.

use std::collections::BTreeMap;
use std::fmt;

use crate::entity::{EntityName, QuotaEntity, QuotaKey, CLIENT_ID, IP, USER};
use crate::store::{parse_ip, QuotaStore};

/// Kafka's error codes used here.
pub const INVALID_REQUEST: i16 = 42;
pub const UNSUPPORTED_VERSION: i16 = 35;

/// A refusal: Kafka's error code and message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QuotaError {
    pub code: i16,
    pub message: String,
}

impl QuotaError {
    fn invalid(message: impl Into<String>) -> QuotaError {
        QuotaError {
            code: INVALID_REQUEST,
            message: message.into(),
        }
    }
}

impl fmt::Display for QuotaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "error {}: {}", self.code, self.message)
    }
}

impl std::error::Error for QuotaError {}

/// One change an alteration makes: a ClientQuotaRecord to write (`None`
/// removes the key).
#[derive(Clone, Debug, PartialEq)]
pub struct QuotaChange {
    pub entity: QuotaEntity,
    pub key: String,
    pub value: Option<f64>,
}

/// One op of an AlterClientQuotas entry, as on the wire.
#[derive(Clone, Debug, PartialEq)]
pub struct QuotaOp {
    pub key: String,
    pub value: f64,
    pub remove: bool,
}

impl QuotaOp {
    pub fn set(key: impl Into<String>, value: f64) -> QuotaOp {
        QuotaOp {
            key: key.into(),
            value,
            remove: false,
        }
    }

    pub fn remove(key: impl Into<String>) -> QuotaOp {
        QuotaOp {
            key: key.into(),
            value: 0.0,
            remove: true,
        }
    }
}

/// Checks the parts of an entity as the request lists them (entity type,
/// name; `None` is the default) and builds it.
pub fn validate_entity(parts: &[(&str, Option<&str>)]) -> Result<QuotaEntity, QuotaError> {
    if parts.is_empty() {
        return Err(QuotaError::invalid("Invalid empty client quota entity"));
    }
    let mut entity = QuotaEntity::default();
    for &(entity_type, name) in parts {
        let slot = match entity_type {
            USER => &mut entity.user,
            CLIENT_ID => &mut entity.client_id,
            IP => &mut entity.ip,
            other => {
                return Err(QuotaError::invalid(format!(
                    "Unhandled client quota entity type: {other}"
                )))
            }
        };
        if slot.is_some() {
            return Err(QuotaError::invalid(format!(
                "Invalid client quota entity, duplicate entity entry {entity_type}"
            )));
        }
        if name == Some("") {
            return Err(QuotaError::invalid(format!(
                "Empty {entity_type} not supported"
            )));
        }
        *slot = Some(EntityName::from_wire(name));
    }
    if let Some(ip) = &entity.ip {
        if entity.user.is_some() || entity.client_id.is_some() {
            // Kafka's message lacks the space after "should".
            return Err(QuotaError::invalid(
                "Invalid quota entity combination, IP entity shouldnot be combined with User or ClientId",
            ));
        }
        if let EntityName::Name(n) = ip {
            if parse_ip(n).is_none() {
                return Err(QuotaError::invalid(format!(
                    "{n} is not a valid IP or resolvable host."
                )));
            }
        }
    }
    Ok(entity)
}

/// The keys an entity may set.
pub fn allowed_keys(entity: &QuotaEntity) -> &'static [QuotaKey] {
    if entity.ip.is_some() {
        &[QuotaKey::ConnectionCreationRate]
    } else {
        &[
            QuotaKey::ProducerByteRate,
            QuotaKey::ConsumerByteRate,
            QuotaKey::RequestPercentage,
            QuotaKey::ControllerMutationRate,
        ]
    }
}

/// Checks one value for one key of a (valid) entity.
pub fn validate_value(entity: &QuotaEntity, key: &str, value: f64) -> Result<(), QuotaError> {
    let known = QuotaKey::from_name(key).filter(|k| allowed_keys(entity).contains(k));
    let Some(k) = known else {
        return Err(QuotaError::invalid(format!(
            "Invalid configuration key {key}"
        )));
    };
    // Kafka 4's controller (`ClientQuotaControlManager`): positive, within
    // the key's type, and whole for the integral types (a remainder of
    // more than 1e-6 is a fraction).
    if value <= 0.0 {
        return Err(QuotaError::invalid(format!(
            "Quota {key} must be greater than 0"
        )));
    }
    if k.is_integral() {
        let (max, type_name) = if k == QuotaKey::ConnectionCreationRate {
            (i32::MAX as f64, "an INT")
        } else {
            (i64::MAX as f64, "a LONG")
        };
        if value > max {
            return Err(QuotaError::invalid(format!(
                "Proposed value for {key} is too large for {type_name}."
            )));
        }
        if (value % 1.0).abs() > 1e-6 {
            return Err(QuotaError::invalid(format!(
                "{key} cannot be a fractional value."
            )));
        }
    }
    Ok(())
}

/// One entry of AlterClientQuotas against the current quotas: the records
/// to write, or the entity's error. A key named twice makes Kafka answer
/// "Ignoring duplicate entity" (its duplicate-key message is overwritten).
/// Values equal to the current one write nothing.
pub fn validate_alteration(
    store: &QuotaStore,
    parts: &[(&str, Option<&str>)],
    ops: &[QuotaOp],
) -> Result<Vec<QuotaChange>, QuotaError> {
    let mut wanted: Vec<(&str, Option<f64>)> = Vec::with_capacity(ops.len());
    let mut duplicate = false;
    for op in ops {
        if wanted.iter().any(|(k, _)| *k == op.key) {
            duplicate = true;
        } else {
            wanted.push((&op.key, (!op.remove).then_some(op.value)));
        }
    }
    if duplicate {
        return Err(QuotaError::invalid(format!(
            "Ignoring duplicate entity {}",
            display_parts(parts)
        )));
    }
    let entity = validate_entity(parts)?;
    let empty = BTreeMap::new();
    let current = store.get(&entity).unwrap_or(&empty);
    let mut changes = Vec::new();
    for (key, value) in wanted {
        match value {
            None => {
                if current.contains_key(key) {
                    changes.push(QuotaChange {
                        entity: entity.clone(),
                        key: key.to_string(),
                        value: None,
                    });
                }
            }
            Some(v) => {
                validate_value(&entity, key, v)?;
                let same = current.get(key).is_some_and(|c| same_double(*c, v));
                if !same {
                    changes.push(QuotaChange {
                        entity: entity.clone(),
                        key: key.to_string(),
                        value: Some(v),
                    });
                }
            }
        }
    }
    Ok(changes)
}

/// Java's `Double.equals`: bitwise, with every NaN equal.
fn same_double(a: f64, b: f64) -> bool {
    if a.is_nan() && b.is_nan() {
        return true;
    }
    a.to_bits() == b.to_bits()
}

/// An entity's parts as Kafka prints a `ClientQuotaEntity` in messages.
pub fn display_parts(parts: &[(&str, Option<&str>)]) -> String {
    let inner: Vec<String> = parts
        .iter()
        .map(|(t, n)| format!("{t}={}", n.unwrap_or("null")))
        .collect();
    format!("ClientQuotaEntity(entries={{{}}})", inner.join(", "))
}

/// How a DescribeClientQuotas component matches an entity's part.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MatchType {
    /// The part has exactly this name.
    Exact = 0,
    /// The part is the default.
    Default = 1,
    /// The entity has a part of this type (any name; Kafka's KRaft image
    /// counts the default too).
    Specified = 2,
}

/// One filter component as on the wire.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FilterComponent {
    pub entity_type: String,
    pub match_type: i8,
    pub name: Option<String>,
}

impl FilterComponent {
    pub fn exact(entity_type: &str, name: &str) -> FilterComponent {
        FilterComponent {
            entity_type: entity_type.to_string(),
            match_type: MatchType::Exact as i8,
            name: Some(name.to_string()),
        }
    }

    pub fn default_of(entity_type: &str) -> FilterComponent {
        FilterComponent {
            entity_type: entity_type.to_string(),
            match_type: MatchType::Default as i8,
            name: None,
        }
    }

    pub fn specified(entity_type: &str) -> FilterComponent {
        FilterComponent {
            entity_type: entity_type.to_string(),
            match_type: MatchType::Specified as i8,
            name: None,
        }
    }
}

/// An entity a DescribeClientQuotas answer lists, with its values.
pub type DescribedEntity = (QuotaEntity, BTreeMap<String, f64>);

/// The entities a DescribeClientQuotas filter selects, with their values,
/// in a fixed order. Every component must match; `strict` also requires
/// the entity to have no other part. No component: every entity, or none
/// when strict.
pub fn describe(
    store: &QuotaStore,
    components: &[FilterComponent],
    strict: bool,
) -> Result<Vec<DescribedEntity>, QuotaError> {
    // (type, None = any name | Some(name wanted))
    let mut rules: Vec<(&str, Option<EntityName>)> = Vec::new();
    for c in components {
        let t = c.entity_type.as_str();
        if t.is_empty() {
            return Err(QuotaError::invalid("Invalid empty entity type."));
        }
        if rules.iter().any(|(rt, _)| *rt == t) {
            return Err(QuotaError::invalid(format!(
                "Entity type {t} cannot appear more than once in the filter."
            )));
        }
        if t != USER && t != CLIENT_ID && t != IP {
            return Err(QuotaError {
                code: UNSUPPORTED_VERSION,
                message: format!("Unsupported entity type {t}"),
            });
        }
        let rule = match c.match_type {
            0 => match &c.name {
                Some(n) => Some(EntityName::Name(n.clone())),
                None => {
                    return Err(QuotaError::invalid(
                        "Request specified MATCH_TYPE_EXACT, but set match string to null.",
                    ))
                }
            },
            1 => {
                if c.name.is_some() {
                    return Err(QuotaError::invalid(
                        "Request specified MATCH_TYPE_DEFAULT, but also specified a match string.",
                    ));
                }
                Some(EntityName::Default)
            }
            2 => {
                if c.name.is_some() {
                    return Err(QuotaError::invalid(
                        "Request specified MATCH_TYPE_SPECIFIED, but also specified a match string.",
                    ));
                }
                None
            }
            other => {
                return Err(QuotaError::invalid(format!("Unknown match type {other}")));
            }
        };
        rules.push((t, rule));
    }
    let has = |t: &str| rules.iter().any(|(rt, _)| *rt == t);
    if has(IP) && (has(USER) || has(CLIENT_ID)) {
        return Err(QuotaError::invalid(
            "Invalid entity filter component combination. IP filter component should not be used with user or clientId filter component.",
        ));
    }
    if rules.is_empty() && strict {
        return Ok(Vec::new());
    }
    let out = store
        .entities()
        .filter(|(entity, _)| {
            rules.iter().all(|(t, rule)| match (entity.part(t), rule) {
                (None, _) => false,
                (Some(_), None) => true,
                (Some(name), Some(want)) => name == want,
            }) && (!strict || entity.part_count() == rules.len())
        })
        .map(|(e, v)| (e.clone(), v.clone()))
        .collect();
    Ok(out)
}
