//! The controller's planning of AlterClientQuotas, pure: which
//! ClientQuota records a request writes and what each of its entries is
//! answered, with `vltava_quota`'s checks (Kafka's
//! `ClientQuotaControlManager` rules).

use vltava_protocol::ErrorCode;
use vltava_quota::{validate_alteration, QuotaOp};

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

/// Per entry, in request order, accepted or why not; and the records of
/// the accepted ones. Each entry is checked against the quotas as the
/// entries before it left them, so two entries for one entity apply in
/// order. A value equal to the current one writes no record.
pub fn plan_alter_client_quotas(
    image: &MetadataImage,
    alterations: &[QuotaAlteration],
) -> (Vec<MetadataRecord>, Vec<Result<(), Refusal>>) {
    let mut store = image.client_quotas().store().clone();
    let mut records = Vec::new();
    let mut results = Vec::with_capacity(alterations.len());
    for alteration in alterations {
        let parts: Vec<(&str, Option<&str>)> = alteration
            .entity
            .iter()
            .map(|(t, n)| (t.as_str(), n.as_deref()))
            .collect();
        match validate_alteration(&store, &parts, &alteration.ops) {
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
                results.push(Ok(()));
            }
            Err(e) => results.push(Err(Refusal::new(ErrorCode(e.code), e.message))),
        }
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
        assert!(results[0].is_ok());
        assert_eq!(
            results[1].as_ref().unwrap_err().code,
            ErrorCode::INVALID_REQUEST
        );
        assert_eq!(
            results[2].as_ref().unwrap_err().code,
            ErrorCode::INVALID_REQUEST
        );
        let image = apply(&image, &records);
        let alice =
            vltava_quota::QuotaEntity::client(Some(vltava_quota::EntityName::name("alice")), None);
        let values = image.client_quotas().store().get(&alice).unwrap();
        assert_eq!(values.get("producer_byte_rate"), Some(&1024.0));
        assert_eq!(values.get("consumer_byte_rate"), Some(&2048.0));

        // Setting the same value again writes nothing; removing a key
        // writes a removal, and a later entry sees the earlier one's change.
        let (records, results) = plan_alter_client_quotas(
            &image,
            &[
                QuotaAlteration {
                    entity: user("alice"),
                    ops: vec![QuotaOp::set("producer_byte_rate", 1024.0)],
                },
                QuotaAlteration {
                    entity: user("alice"),
                    ops: vec![QuotaOp::remove("consumer_byte_rate")],
                },
                QuotaAlteration {
                    entity: user("alice"),
                    ops: vec![QuotaOp::remove("consumer_byte_rate")],
                },
            ],
        );
        assert!(results.iter().all(|r| r.is_ok()));
        assert_eq!(records.len(), 1, "{records:?}");
        let image = apply(&image, &records);
        let values = image.client_quotas().store().get(&alice).unwrap();
        assert_eq!(values.len(), 1);
    }
}
