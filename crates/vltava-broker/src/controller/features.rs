//! The controller's feature changes: UpdateFeatures (KIP-584), checked by
//! `vltava_metadata::features` and committed like every other change.

use tracing::info;
use vltava_metadata::controller;
use vltava_metadata::features::{self, FeatureUpdate};
use vltava_metadata::MetadataRecord;
use vltava_protocol::ErrorCode;

use super::Controller;
use crate::error::KafkaError;

impl Controller {
    /// UpdateFeatures: all the updates, or none (the first refused one's
    /// error). With `validate_only` nothing is written.
    pub async fn update_features(
        &self,
        updates: Vec<FeatureUpdate>,
        validate_only: bool,
    ) -> Result<(), KafkaError> {
        let lock = self.lead().await?;
        let image = self.metadata.image();
        let records = features::plan_update_features(&image, &updates)
            .map_err(|(code, message)| KafkaError::new(code, message))?;
        if validate_only || records.is_empty() {
            return Ok(());
        }
        for r in &records {
            if let MetadataRecord::FeatureLevel { name, level } = r {
                info!(feature = %name, level, "finalized feature level changed");
            }
        }
        // Eligible leader replicas turned off: the partitions' ELR lists
        // go, in the same commit.
        let mut records = records;
        let after = image
            .apply_all(records.iter().map(|r| (image.offset, r)))
            .map_err(|e| KafkaError::new(ErrorCode::UNKNOWN_SERVER_ERROR, e.to_string()))?;
        if features::elr_enabled(&image) && !features::elr_enabled(&after) {
            records.extend(controller::plan_elr_disabled(
                &after,
                self.election_policy(),
            ));
        }
        // Turned on: the controller and every leader must resolve
        // min.insync.replicas alike (the ELR and the high watermark both
        // depend on it), so, as Kafka does, the cluster-wide default is
        // written down if it is not set, and per-broker overrides go.
        if !features::elr_enabled(&image) && features::elr_enabled(&after) {
            let key = controller::MIN_INSYNC_REPLICAS;
            let broker_config = |name: String, value: Option<String>| MetadataRecord::Config {
                resource_type: vltava_metadata::image::RESOURCE_BROKER,
                resource_name: name,
                name: key.to_string(),
                value,
            };
            if !image.broker_configs("").contains_key(key) {
                let default = self.metadata.config().min_insync_replicas().to_string();
                records.push(broker_config(String::new(), Some(default)));
            }
            for id in image.brokers.keys() {
                if image.broker_configs(&id.to_string()).contains_key(key) {
                    records.push(broker_config(id.to_string(), None));
                }
            }
        }
        self.commit(&lock, records).await
    }
}
