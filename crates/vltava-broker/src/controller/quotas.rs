//! The controller's client quota changes: AlterClientQuotas, planned
//! against the image by `vltava_metadata::quotas` and committed like every
//! other change.

use tracing::info;
use vltava_metadata::quotas::{self, CollapsedEntity, QuotaAlteration};

use super::Controller;
use crate::error::KafkaError;

impl Controller {
    /// AlterClientQuotas: per distinct entity, in order of first
    /// appearance, done or why not. The accepted entries are committed in
    /// one decision, unless `validate_only`, when nothing is written.
    pub async fn alter_client_quotas(
        &self,
        alterations: Vec<QuotaAlteration>,
        validate_only: bool,
    ) -> Result<Vec<(CollapsedEntity, Result<(), KafkaError>)>, KafkaError> {
        let lock = self.lead().await?;
        let image = self.metadata.image();
        let (records, results) = quotas::plan_alter_client_quotas(&image, &alterations);
        if !validate_only {
            let changed = records.len();
            self.commit(&lock, records).await?;
            if changed > 0 {
                info!(keys = changed, "altered client quotas");
            }
        }
        Ok(results
            .into_iter()
            .map(|(entity, r)| (entity, r.map_err(KafkaError::from)))
            .collect())
    }
}
