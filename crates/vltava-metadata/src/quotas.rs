//! The controller's planning of AlterClientQuotas, pure: which
//! ClientQuota records a request writes and what each of its entries is
//! answered, with `vltava_quota`'s checks (Kafka's
//! `ClientQuotaControlManager` rules).

use std::collections::BTreeMap;
use vltava_protocol::ErrorCode;

use vltava_quota::{display_parts, validate_alteration, QuotaOp};

use crate::controller::Refusal;
use crate::image::MetadataImage;
use crate::records::{MetadataRecord, QuotaValue};

/// One entry of AlterClientQuotas: an entity as (type, name; `None` for
/// the default) and the keys to set or remove.
#[derive(Clone, Debug)]
pub struct QuotaAlteration {
    pub entity: Vec<(String, Option<String>)>,
    pub ops: Vec<QuotaOp>,
}

/// An entity as Kafka's controller reads one from the request: a map
/// from type to name, so a type named twice keeps its last name. Sorted
/// by type, so two spellings of one entity compare equal.
pub type CollapsedEntity = Vec<(String, Option<String>)>;

pub fn collapse(parts: &[(String, Option<String>)]) -> CollapsedEntity {
    let mut map: BTreeMap<&str, &Option<String>> = BTreeMap::new();
    for (t, n) in parts {
        map.insert(t, n);
    }
    map.into_iter()
        .map(|(t, n)| (t.to_string(), n.clone()))
        .collect()
}

/// The answer per distinct entity, in order of first appearance (Kafka
/// answers from a map of entity to result), and the records of the
/// accepted changes. As Kafka's `ClientQuotaControlManager`: each entry is
/// checked against the quotas as the entries before it left them; an
/// entity named by an earlier entry is not changed again, and its answer
/// becomes "Ignoring duplicate entity" (the earlier entry's changes stand).
/// A value equal to the current one writes no record.
#[allow(clippy::type_complexity)]
pub fn plan_alter_client_quotas(
    image: &MetadataImage,
    alterations: &[QuotaAlteration],
) -> (
    Vec<MetadataRecord>,
    Vec<(CollapsedEntity, Result<(), Refusal>)>,
) {
    let mut store = image.client_quotas().store().clone();
    let mut records = Vec::new();
    let mut results: Vec<(CollapsedEntity, Result<(), Refusal>)> = Vec::new();
    for alteration in alterations {
        let entity = collapse(&alteration.entity);
        let parts: Vec<(&str, Option<&str>)> = entity
            .iter()
            .map(|(t, n)| (t.as_str(), n.as_deref()))
            .collect();
        if let Some((_, result)) = results.iter_mut().find(|(e, _)| *e == entity) {
            *result = Err(Refusal::new(
                ErrorCode::INVALID_REQUEST,
                format!("Ignoring duplicate entity {}", display_parts(&parts)),
            ));
            continue;
        }
        let result = match validate_alteration(&store, &parts, &alteration.ops) {
            Ok(changes) => {
                for change in changes {
                    store.set(&change.entity, &change.key, change.value);
                    records.push(MetadataRecord::ClientQuota {
                        entity: change
                            .entity
                            .parts()
                            .into_iter()
                            .map(|(t, n)| (t.to_string(), n.map(str::to_string)))
                            .collect(),
                        key: change.key,
                        value: change.value.map(QuotaValue),
                    });
                }
                Ok(())
            }
            Err(e) => Err(Refusal::new(ErrorCode(e.code), e.message)),
        };
        results.push((entity, result));
    }
    (records, results)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(name: &str) -> Vec<(String, Option<String>)> {
        vec![("user".to_string(), Some(name.to_string()))]
    }

    fn apply(image: &MetadataImage, records: &[MetadataRecord]) -> MetadataImage {
        let mut image = image.clone();
        for (i, r) in records.iter().enumerate() {
            image = image.apply(image.offset + 1 + i as i64, r).unwrap();
        }
        image
    }

    #[test]
    fn accepted_entries_write_records_that_replay_into_the_image() {
        let image = MetadataImage::empty();
        let (records, results) = plan_alter_client_quotas(
            &image,
            &[
                QuotaAlteration {
                    entity: user("alice"),
                    ops: vec![
                        QuotaOp::set("producer_byte_rate", 1024.0),
                        QuotaOp::set("consumer_byte_rate", 2048.0),
                    ],
                },
                // Refused: an unknown key; nothing of it is written.
                QuotaAlteration {
                    entity: user("bob"),
                    ops: vec![QuotaOp::set("no_such_rate", 1.0)],
                },
                // Refused: an empty entity.
                QuotaAlteration {
                    entity: vec![],
                    ops: vec![QuotaOp::set("producer_byte_rate", 1.0)],
                },
            ],
        );
        assert_eq!(records.len(), 2);
        assert!(results[0].1.is_ok());
        assert_eq!(
            results[1].1.as_ref().unwrap_err().code,
            ErrorCode::INVALID_REQUEST
        );
        assert_eq!(
            results[2].1.as_ref().unwrap_err().code,
            ErrorCode::INVALID_REQUEST
        );
        let image = apply(&image, &records);
        let alice =
            vltava_quota::QuotaEntity::client(Some(vltava_quota::EntityName::name("alice")), None);
        let values = image.client_quotas().store().get(&alice).unwrap();
        assert_eq!(values.get("producer_byte_rate"), Some(&1024.0));
        assert_eq!(values.get("consumer_byte_rate"), Some(&2048.0));

        // Setting the same value again writes nothing; removing a key
        // writes a removal.
        let (records, results) = plan_alter_client_quotas(
            &image,
            &[
                QuotaAlteration {
                    entity: user("alice"),
                    ops: vec![
                        QuotaOp::set("producer_byte_rate", 1024.0),
                        QuotaOp::remove("consumer_byte_rate"),
                    ],
                },
                // Named again (a type twice keeps its last name, as Kafka
                // reads a map): not applied, and the entity's answer
                // becomes an error though its first entry was applied.
                QuotaAlteration {
                    entity: vec![
                        ("user".to_string(), Some("bob".to_string())),
                        ("user".to_string(), Some("alice".to_string())),
                    ],
                    ops: vec![QuotaOp::remove("producer_byte_rate")],
                },
            ],
        );
        assert_eq!(results.len(), 1, "{results:?}");
        assert_eq!(results[0].0, user("alice"));
        let refusal = results[0].1.as_ref().unwrap_err();
        assert_eq!(refusal.code, ErrorCode::INVALID_REQUEST);
        assert!(refusal.message.starts_with("Ignoring duplicate entity"));
        assert_eq!(records.len(), 1, "{records:?}");
        let image = apply(&image, &records);
        let values = image.client_quotas().store().get(&alice).unwrap();
        assert_eq!(values.len(), 1);
        assert_eq!(values.get("producer_byte_rate"), Some(&1024.0));
    }
}
