//! Feature flags (KIP-584, KIP-778): the features this software supports,
//! the levels it can run at, and the controller's checks of UpdateFeatures.
//!
//! A finalized level lives in the metadata as a FeatureLevel record; a
//! feature without one is at level 0 (off). `metadata.version` is the
//! exception Kafka makes too: it is never 0. Vltava writes every record in
//! the versions of one `metadata.version` (4.0-IV3), so that is the only
//! level it supports, and it is reported finalized whether or not a record
//! says so.

use vltava_protocol::ErrorCode;

use crate::image::MetadataImage;
use crate::records::MetadataRecord;

/// `metadata.version`.
pub const METADATA_VERSION: &str = "metadata.version";
/// The `metadata.version` level whose record versions Vltava writes:
/// Kafka's 4.0-IV3.
pub const METADATA_VERSION_LEVEL: i16 = 25;
/// KIP-966's eligible leader replicas.
pub const ELIGIBLE_LEADER_REPLICAS_VERSION: &str = "eligible.leader.replicas.version";

/// A feature this software supports, and the levels it can run at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SupportedFeature {
    pub name: &'static str,
    pub min_level: i16,
    pub max_level: i16,
}

/// Every feature this software supports (ApiVersions' SupportedFeatures).
pub const SUPPORTED_FEATURES: &[SupportedFeature] = &[
    SupportedFeature {
        name: METADATA_VERSION,
        min_level: METADATA_VERSION_LEVEL,
        max_level: METADATA_VERSION_LEVEL,
    },
    SupportedFeature {
        name: ELIGIBLE_LEADER_REPLICAS_VERSION,
        min_level: 0,
        max_level: 1,
    },
];

/// The finalized features as clients are told (ApiVersions' FinalizedFeatures):
/// the image's, with `metadata.version` at the level Vltava writes when no
/// record set it.
pub fn finalized(image: &MetadataImage) -> Vec<(String, i16)> {
    let mut out: Vec<(String, i16)> = image
        .finalized_features()
        .iter()
        .map(|(n, l)| (n.clone(), *l))
        .collect();
    if !out.iter().any(|(n, _)| n == METADATA_VERSION) {
        out.push((METADATA_VERSION.to_string(), METADATA_VERSION_LEVEL));
        out.sort();
    }
    out
}

/// Whether KIP-966's eligible leader replicas are on.
pub fn elr_enabled(image: &MetadataImage) -> bool {
    image.feature_level(ELIGIBLE_LEADER_REPLICAS_VERSION) >= 1
}

/// UpdateFeatures' upgrade type (v1+; v0's AllowDowngrade maps to
/// SafeDowngrade).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UpgradeType {
    Upgrade,
    SafeDowngrade,
    UnsafeDowngrade,
}

impl UpgradeType {
    /// The wire value (1, 2, 3); `None` for any other.
    pub fn from_code(code: i8) -> Option<UpgradeType> {
        match code {
            1 => Some(UpgradeType::Upgrade),
            2 => Some(UpgradeType::SafeDowngrade),
            3 => Some(UpgradeType::UnsafeDowngrade),
            _ => None,
        }
    }
}

/// One requested change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FeatureUpdate {
    pub feature: String,
    pub level: i16,
    pub upgrade_type: UpgradeType,
}

/// Checks `updates` against the image, as Kafka's controller does: all or
/// nothing. Returns the records to write (none for a feature already at its
/// level), or the error code and message of the first update refused.
pub fn plan_update_features(
    image: &MetadataImage,
    updates: &[FeatureUpdate],
) -> Result<Vec<MetadataRecord>, (ErrorCode, String)> {
    let invalid = |m: String| (ErrorCode::INVALID_UPDATE_VERSION, m);
    let mut records = Vec::new();
    for (i, u) in updates.iter().enumerate() {
        if updates[..i].iter().any(|e| e.feature == u.feature) {
            return Err((
                ErrorCode::INVALID_REQUEST,
                format!("feature {} is updated twice", u.feature),
            ));
        }
        let Some(supported) = SUPPORTED_FEATURES.iter().find(|s| s.name == u.feature) else {
            return Err(invalid(format!(
                "the controller does not support the feature {}",
                u.feature
            )));
        };
        if u.level < 0 {
            return Err(invalid(format!(
                "{}: the level {} is negative",
                u.feature, u.level
            )));
        }
        let current = if u.feature == METADATA_VERSION {
            image
                .finalized_features()
                .get(METADATA_VERSION)
                .copied()
                .unwrap_or(METADATA_VERSION_LEVEL)
        } else {
            image.feature_level(&u.feature)
        };
        let in_range = u.level >= supported.min_level && u.level <= supported.max_level;
        if !in_range {
            return Err(invalid(format!(
                "{}: level {} is outside the supported levels {}-{}",
                u.feature, u.level, supported.min_level, supported.max_level
            )));
        }
        if u.level < current && u.upgrade_type == UpgradeType::Upgrade {
            return Err(invalid(format!(
                "{}: cannot downgrade from {current} to {} without a downgrade type",
                u.feature, u.level
            )));
        }
        if u.level > current && u.upgrade_type != UpgradeType::Upgrade {
            return Err(invalid(format!(
                "{}: cannot upgrade from {current} to {} with a downgrade type",
                u.feature, u.level
            )));
        }
        if u.level != current {
            records.push(MetadataRecord::FeatureLevel {
                name: u.feature.clone(),
                level: u.level,
            });
        }
    }
    Ok(records)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn update(feature: &str, level: i16, upgrade_type: UpgradeType) -> FeatureUpdate {
        FeatureUpdate {
            feature: feature.into(),
            level,
            upgrade_type,
        }
    }

    #[test]
    fn updates_are_checked_like_kafkas_controller() {
        let empty = MetadataImage::empty();
        assert_eq!(
            finalized(&empty),
            vec![(METADATA_VERSION.to_string(), METADATA_VERSION_LEVEL)]
        );
        assert!(!elr_enabled(&empty));
        let up = update(ELIGIBLE_LEADER_REPLICAS_VERSION, 1, UpgradeType::Upgrade);
        let records = plan_update_features(&empty, std::slice::from_ref(&up)).unwrap();
        assert_eq!(
            records,
            vec![MetadataRecord::FeatureLevel {
                name: ELIGIBLE_LEADER_REPLICAS_VERSION.into(),
                level: 1
            }]
        );
        let on = empty.apply(0, &records[0]).unwrap();
        assert!(elr_enabled(&on));
        // Already there: nothing to write.
        assert_eq!(plan_update_features(&on, &[up]).unwrap(), vec![]);
        // Down needs a downgrade type, up must not have one.
        let down = update(ELIGIBLE_LEADER_REPLICAS_VERSION, 0, UpgradeType::Upgrade);
        assert_eq!(
            plan_update_features(&on, &[down]).unwrap_err().0,
            ErrorCode::INVALID_UPDATE_VERSION
        );
        let down = update(
            ELIGIBLE_LEADER_REPLICAS_VERSION,
            0,
            UpgradeType::SafeDowngrade,
        );
        let records = plan_update_features(&on, &[down]).unwrap();
        let off = on.apply(1, &records[0]).unwrap();
        assert!(!elr_enabled(&off));
        assert!(off.finalized_features().is_empty());
        let refused = [
            update(ELIGIBLE_LEADER_REPLICAS_VERSION, 2, UpgradeType::Upgrade),
            update(
                ELIGIBLE_LEADER_REPLICAS_VERSION,
                -1,
                UpgradeType::SafeDowngrade,
            ),
            update("no.such.version", 1, UpgradeType::Upgrade),
            update(METADATA_VERSION, 0, UpgradeType::UnsafeDowngrade),
            update(METADATA_VERSION, 24, UpgradeType::SafeDowngrade),
            update(METADATA_VERSION, 26, UpgradeType::Upgrade),
        ];
        for u in refused {
            assert_eq!(
                plan_update_features(&empty, std::slice::from_ref(&u))
                    .unwrap_err()
                    .0,
                ErrorCode::INVALID_UPDATE_VERSION,
                "{u:?}"
            );
        }
        // metadata.version at the level Vltava writes is accepted, as is.
        assert_eq!(
            plan_update_features(
                &empty,
                &[update(METADATA_VERSION, 25, UpgradeType::Upgrade)]
            )
            .unwrap(),
            vec![]
        );
        // All or nothing, and a feature once per request.
        let twice = [
            update(ELIGIBLE_LEADER_REPLICAS_VERSION, 1, UpgradeType::Upgrade),
            update(ELIGIBLE_LEADER_REPLICAS_VERSION, 1, UpgradeType::Upgrade),
        ];
        assert_eq!(
            plan_update_features(&empty, &twice).unwrap_err().0,
            ErrorCode::INVALID_REQUEST
        );
    }
}
