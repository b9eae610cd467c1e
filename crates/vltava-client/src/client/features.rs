//! Feature flags (KIP-584), as Kafka's `kafka-features.sh` shows and
//! changes them: the supported and finalized features come in ApiVersions
//! (v3+), changes go in UpdateFeatures. Any broker takes UpdateFeatures
//! (a Vltava broker relays it to the active controller, as Kafka's forward
//! it), and answers once the change is committed.

use vltava_protocol::messages::{
    update_features_request, ApiVersionsRequest, UpdateFeaturesRequest,
};
use vltava_protocol::{ApiKey, ErrorCode};

use super::{millis_i32, nonempty, Client};
use crate::error::{Error, Result};

/// A feature the answering broker's software supports, with its levels.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SupportedFeature {
    pub name: String,
    pub min_level: i16,
    pub max_level: i16,
}

/// The features one broker reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FeatureDescription {
    /// The node that answered.
    pub node: i32,
    /// What that broker's software can run at, by name.
    pub supported: Vec<SupportedFeature>,
    /// The cluster's finalized levels as that broker has seen them, by name.
    pub finalized: Vec<(String, i16)>,
    /// The metadata offset those finalized levels were read at (-1: unknown).
    pub finalized_epoch: i64,
}

/// How UpdateFeatures may move a level (v1's UpgradeType).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FeatureUpgradeType {
    /// Only raise it.
    Upgrade = 1,
    /// Lower it where no metadata is lost by doing so.
    SafeDowngrade = 2,
    /// Lower it even where metadata is lost.
    UnsafeDowngrade = 3,
}

/// One change to a finalized feature: level 0 disables it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FeatureChange {
    pub name: String,
    pub level: i16,
    pub upgrade_type: FeatureUpgradeType,
}

impl Client {
    /// The supported and finalized features one broker reports in its
    /// ApiVersions answer (asked again, not the handshake's, so that a
    /// change made since connecting shows).
    pub async fn describe_features(&mut self) -> Result<FeatureDescription> {
        let node = self.any_connection().await?;
        let conn = self.conn_mut(node);
        let version = conn.negotiated_version_at_least(ApiKey::ApiVersions, 3)?;
        let request = ApiVersionsRequest {
            client_software_name: conn.config().client_software_name.clone(),
            client_software_version: conn.config().client_software_version.clone(),
            ..Default::default()
        };
        let resp = conn.send_version(&request, version).await?;
        let code = ErrorCode(resp.error_code);
        if code.is_error() {
            return Err(Error::broker(code, None, "describe features"));
        }
        let mut supported: Vec<SupportedFeature> = resp
            .supported_features
            .into_iter()
            .map(|f| SupportedFeature {
                name: f.name,
                min_level: f.min_version,
                max_level: f.max_version,
            })
            .collect();
        supported.sort_by(|a, b| a.name.cmp(&b.name));
        let mut finalized: Vec<(String, i16)> = resp
            .finalized_features
            .into_iter()
            .map(|f| (f.name, f.max_version_level))
            .collect();
        finalized.sort();
        Ok(FeatureDescription {
            node,
            supported,
            finalized,
            finalized_epoch: resp.finalized_features_epoch,
        })
    }

    /// Changes finalized features (UpdateFeatures); with `validate_only`
    /// the controller checks the changes and makes none. One result per
    /// change, in order; the outer error is for the request as a whole.
    pub async fn update_features(
        &mut self,
        changes: &[FeatureChange],
        validate_only: bool,
    ) -> Result<Vec<(String, Result<()>)>> {
        let node = self.any_connection().await?;
        let timeout_ms = millis_i32(self.config.connection.request_timeout) / 5 * 4;
        let conn = self.conn_mut(node);
        // v1 is the first with upgrade types and validate-only; v2 answers
        // with one error for the whole request.
        let version = conn.negotiated_version_at_least(ApiKey::UpdateFeatures, 1)?;
        let request = UpdateFeaturesRequest {
            timeout_ms,
            feature_updates: changes
                .iter()
                .map(|c| update_features_request::FeatureUpdateKey {
                    feature: c.name.clone(),
                    max_version_level: c.level,
                    upgrade_type: c.upgrade_type as i8,
                    ..Default::default()
                })
                .collect(),
            validate_only,
            ..Default::default()
        };
        let resp = conn.send_version(&request, version).await?;
        let code = ErrorCode(resp.error_code);
        if code.is_error() {
            return Err(Error::broker(
                code,
                nonempty(resp.error_message),
                "update features",
            ));
        }
        Ok(changes
            .iter()
            .map(|c| {
                let result = match resp.results.iter().find(|r| r.feature == c.name) {
                    Some(r) if ErrorCode(r.error_code).is_error() => Err(Error::broker(
                        ErrorCode(r.error_code),
                        nonempty(r.error_message.clone()),
                        format!("update feature {}", c.name),
                    )),
                    // v2 has no per-feature results: no top-level error
                    // means every change was made.
                    _ => Ok(()),
                };
                (c.name.clone(), result)
            })
            .collect())
    }
}
