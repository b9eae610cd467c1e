//! IncrementalAlterConfigs on a topic's overrides.

use std::collections::BTreeMap;

use crate::defs::topic_def;
use crate::error::{ConfigError, Scope};
use crate::suggest::suggest;
use crate::topic::TopicConfig;
use crate::types::{split_list, ConfigType};

/// The operation of one IncrementalAlterConfigs entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AlterOpType {
    /// Set the override (code 0).
    Set,
    /// Remove the override, back to the broker's value (code 1).
    Delete,
    /// Add elements to a list that are not in it yet (code 2).
    Append,
    /// Remove elements from a list (code 3).
    Subtract,
}

impl AlterOpType {
    pub const fn code(self) -> i8 {
        match self {
            AlterOpType::Set => 0,
            AlterOpType::Delete => 1,
            AlterOpType::Append => 2,
            AlterOpType::Subtract => 3,
        }
    }

    pub const fn from_code(code: i8) -> Option<AlterOpType> {
        match code {
            0 => Some(AlterOpType::Set),
            1 => Some(AlterOpType::Delete),
            2 => Some(AlterOpType::Append),
            3 => Some(AlterOpType::Subtract),
            _ => None,
        }
    }

    pub const fn name(self) -> &'static str {
        match self {
            AlterOpType::Set => "SET",
            AlterOpType::Delete => "DELETE",
            AlterOpType::Append => "APPEND",
            AlterOpType::Subtract => "SUBTRACT",
        }
    }
}

/// One entry of an IncrementalAlterConfigs request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlterConfigOp {
    pub name: String,
    pub op: AlterOpType,
    /// Needed for SET, APPEND and SUBTRACT (comma-separated elements for
    /// the list operations); ignored for DELETE.
    pub value: Option<String>,
}

impl AlterConfigOp {
    pub fn new(name: impl Into<String>, op: AlterOpType, value: Option<&str>) -> AlterConfigOp {
        AlterConfigOp {
            name: name.into(),
            op,
            value: value.map(str::to_string),
        }
    }

    /// Builds an entry from the wire fields; an operation code outside
    /// 0..=3 is an `INVALID_REQUEST` error.
    pub fn from_wire(
        name: &str,
        code: i8,
        value: Option<&str>,
    ) -> Result<AlterConfigOp, ConfigError> {
        let op = AlterOpType::from_code(code).ok_or_else(|| ConfigError::UnknownOperation {
            name: name.to_string(),
            code,
        })?;
        Ok(AlterConfigOp::new(name, op, value))
    }
}

/// Applies the operations to a topic's current overrides (as text, the
/// way the metadata image holds them) and returns the new override set,
/// validated as a whole.
///
/// - Each key may appear once per request (`INVALID_REQUEST` otherwise).
/// - SET replaces the override; DELETE removes it (a no-op if absent).
/// - APPEND and SUBTRACT work on list keys only. They start from the
///   current override, or the key's topic default when there is none, and
///   add the elements not present yet / remove every copy of the given
///   elements, keeping order.
/// - Unknown keys and bad values fail the whole request.
pub fn incremental_alter_topic(
    current: &BTreeMap<String, String>,
    ops: &[AlterConfigOp],
) -> Result<BTreeMap<String, String>, ConfigError> {
    for (i, op) in ops.iter().enumerate() {
        if ops[..i].iter().any(|earlier| earlier.name == op.name) {
            return Err(ConfigError::DuplicateKey {
                name: op.name.clone(),
            });
        }
    }
    let mut next = current.clone();
    for op in ops {
        let def = topic_def(&op.name).ok_or_else(|| ConfigError::UnknownKey {
            scope: Scope::Topic,
            name: op.name.clone(),
            suggestion: suggest(Scope::Topic, &op.name),
        })?;
        if op.op == AlterOpType::Delete {
            next.remove(def.name);
            continue;
        }
        let value = op.value.as_deref().ok_or_else(|| ConfigError::NullValue {
            name: op.name.clone(),
        })?;
        match op.op {
            AlterOpType::Set => {
                next.insert(def.name.to_string(), value.to_string());
            }
            AlterOpType::Append | AlterOpType::Subtract => {
                if def.ty != ConfigType::List {
                    return Err(ConfigError::NotAList {
                        name: op.name.clone(),
                        operation: op.op.name(),
                    });
                }
                let mut items = match next.get(def.name) {
                    Some(text) => split_list(text),
                    None => split_list(def.default.unwrap_or_default()),
                };
                items.retain(|i| !i.is_empty());
                let given = split_list(value);
                let given = given.iter().filter(|g| !g.is_empty());
                if op.op == AlterOpType::Append {
                    for g in given {
                        if !items.contains(g) {
                            items.push(g.clone());
                        }
                    }
                } else {
                    let remove: Vec<&String> = given.collect();
                    items.retain(|i| !remove.contains(&i));
                }
                next.insert(def.name.to_string(), items.join(","));
            }
            AlterOpType::Delete => unreachable!("handled above"),
        }
    }
    TopicConfig::from_overrides(&next)?;
    Ok(next)
}

impl TopicConfig {
    /// [`incremental_alter_topic`] on these overrides.
    pub fn apply_incremental(&self, ops: &[AlterConfigOp]) -> Result<TopicConfig, ConfigError> {
        let next = incremental_alter_topic(&self.to_strings(), ops)?;
        TopicConfig::from_overrides(&next)
    }
}
