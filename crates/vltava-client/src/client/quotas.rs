//! Client quotas (AlterClientQuotas, DescribeClientQuotas, KIP-546), as
//! Kafka's Admin client asks for them: `kafka-configs.sh --entity-type
//! users|clients|ips`. Changes go to the active controller, so a
//! description right after a change sees it.

use vltava_protocol::messages::{
    alter_client_quotas_request, describe_client_quotas_request, AlterClientQuotasRequest,
    DescribeClientQuotasRequest,
};
use vltava_protocol::ErrorCode;

use super::{nonempty, Client};
use crate::error::{Error, Result};

/// A quota entity: (entity type, name), a `None` name meaning that type's
/// default entity. Types are `user`, `client-id` and `ip`.
pub type QuotaEntityParts = Vec<(String, Option<String>)>;

/// A change of one quota key: `Some` sets it, `None` removes it.
pub type QuotaKeyChange = (String, Option<f64>);

/// How a DescribeClientQuotas filter component matches an entity's part
/// of its type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum QuotaMatch {
    /// The part has exactly this name.
    Exact(String),
    /// The part is the type's default entity.
    Default,
    /// The entity has a part of this type, whatever its name.
    Any,
}

/// One component of a DescribeClientQuotas filter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QuotaFilterComponent {
    pub entity_type: String,
    pub matching: QuotaMatch,
}

/// An entity as the broker reads it: one name per type (the last named),
/// sorted by type.
fn canonical(entity: &QuotaEntityParts) -> QuotaEntityParts {
    let mut map = std::collections::BTreeMap::new();
    for (t, n) in entity {
        map.insert(t.clone(), n.clone());
    }
    map.into_iter().collect()
}

/// An entity and its configured quota values, as described.
pub type DescribedQuotas = (QuotaEntityParts, Vec<(String, f64)>);

impl Client {
    /// Alters client quotas: per entity, its key changes. One result per
    /// entity, in order. With `validate_only`, nothing is changed.
    pub async fn alter_client_quotas(
        &mut self,
        entries: &[(QuotaEntityParts, Vec<QuotaKeyChange>)],
        validate_only: bool,
    ) -> Result<Vec<Result<()>>> {
        let request = AlterClientQuotasRequest {
            entries: entries
                .iter()
                .map(|(entity, ops)| alter_client_quotas_request::EntryData {
                    entity: entity
                        .iter()
                        .map(|(t, n)| alter_client_quotas_request::EntityData {
                            entity_type: t.clone(),
                            entity_name: n.clone(),
                            ..Default::default()
                        })
                        .collect(),
                    ops: ops
                        .iter()
                        .map(|(key, value)| alter_client_quotas_request::OpData {
                            key: key.clone(),
                            value: value.unwrap_or(0.0),
                            remove: value.is_none(),
                            ..Default::default()
                        })
                        .collect(),
                    ..Default::default()
                })
                .collect(),
            validate_only,
            ..Default::default()
        };
        let key = self.admin_connection().await?;
        let resp = self.conn_mut(key).send(&request).await?;
        // The broker answers once per distinct entity, in no set order
        // (Kafka answers from a map): find each entry's answer by entity.
        let answers: Vec<(QuotaEntityParts, ErrorCode, Option<String>)> = resp
            .entries
            .into_iter()
            .map(|r| {
                let entity = r
                    .entity
                    .into_iter()
                    .map(|p| (p.entity_type, p.entity_name))
                    .collect();
                (
                    canonical(&entity),
                    ErrorCode(r.error_code),
                    nonempty(r.error_message),
                )
            })
            .collect();
        entries
            .iter()
            .map(|(entity, _)| {
                let wanted = canonical(entity);
                let Some((_, code, message)) = answers.iter().find(|(e, _, _)| *e == wanted) else {
                    return Err(Error::Protocol(format!(
                        "AlterClientQuotas answered nothing for {entity:?}"
                    )));
                };
                Ok(if code.is_error() {
                    Err(Error::broker(
                        *code,
                        message.clone(),
                        format!("alter client quotas of {entity:?}"),
                    ))
                } else {
                    Ok(())
                })
            })
            .collect()
    }

    /// The entities a filter selects, with their quota values. Every
    /// component must match; `strict` also excludes entities with parts
    /// of other types.
    pub async fn describe_client_quotas(
        &mut self,
        components: &[QuotaFilterComponent],
        strict: bool,
    ) -> Result<Vec<DescribedQuotas>> {
        let request = DescribeClientQuotasRequest {
            components: components
                .iter()
                .map(|c| {
                    let (match_type, name) = match &c.matching {
                        QuotaMatch::Exact(n) => (0, Some(n.clone())),
                        QuotaMatch::Default => (1, None),
                        QuotaMatch::Any => (2, None),
                    };
                    describe_client_quotas_request::ComponentData {
                        entity_type: c.entity_type.clone(),
                        match_type,
                        r#match: name,
                        ..Default::default()
                    }
                })
                .collect(),
            strict,
            ..Default::default()
        };
        let key = self.admin_connection().await?;
        let resp = self.conn_mut(key).send(&request).await?;
        let code = ErrorCode(resp.error_code);
        if code.is_error() {
            return Err(Error::broker(
                code,
                nonempty(resp.error_message),
                "describe client quotas".to_string(),
            ));
        }
        Ok(resp
            .entries
            .unwrap_or_default()
            .into_iter()
            .map(|e| {
                (
                    e.entity
                        .into_iter()
                        .map(|p| (p.entity_type, p.entity_name))
                        .collect(),
                    e.values.into_iter().map(|v| (v.key, v.value)).collect(),
                )
            })
            .collect())
    }
}
