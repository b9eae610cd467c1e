//! `vltava features describe|upgrade|downgrade|disable`: the cluster's
//! feature flags (KIP-584), as Kafka's `kafka-features.sh` shows and
//! changes them, e.g. `vltava features upgrade --feature
//! eligible.leader.replicas.version=1` turns on eligible leader replicas.

use clap::{Args, Subcommand};
use serde_json::json;
use vltava_client::{FeatureChange, FeatureDescription, FeatureUpgradeType};

use super::output::Table;
use super::{print, print_json, Common, ToolError};

#[derive(Args, Debug)]
pub struct FeaturesArgs {
    #[command(flatten)]
    pub common: Common,
    #[command(subcommand)]
    pub command: FeaturesCommand,
}

#[derive(Subcommand, Debug)]
pub enum FeaturesCommand {
    /// Each feature the answering broker supports (its levels), and the
    /// level the cluster has finalized.
    Describe,
    /// Raise finalized features to the given levels.
    Upgrade {
        /// NAME=LEVEL, e.g. eligible.leader.replicas.version=1; repeatable.
        #[arg(long = "feature", value_name = "NAME=LEVEL", required = true, value_parser = parse_level)]
        features: Vec<(String, i16)>,
        /// Check the change with the controller without making it.
        #[arg(long)]
        dry_run: bool,
    },
    /// Lower finalized features to the given levels.
    Downgrade {
        /// NAME=LEVEL; repeatable.
        #[arg(long = "feature", value_name = "NAME=LEVEL", required = true, value_parser = parse_level)]
        features: Vec<(String, i16)>,
        /// Allow a downgrade that loses metadata.
        #[arg(long)]
        unsafe_downgrade: bool,
        #[arg(long)]
        dry_run: bool,
    },
    /// Take features back to level 0 (off).
    Disable {
        /// A feature's name; repeatable.
        #[arg(long = "feature", value_name = "NAME", required = true)]
        features: Vec<String>,
        /// Allow a downgrade that loses metadata.
        #[arg(long)]
        unsafe_downgrade: bool,
        #[arg(long)]
        dry_run: bool,
    },
}

fn parse_level(s: &str) -> Result<(String, i16), String> {
    let (name, level) = super::parse_key_value(s)?;
    let level: i16 = level
        .parse()
        .map_err(|_| format!("{level:?} is not a feature level (a number from 0)"))?;
    if level < 0 {
        return Err(format!("{level} is not a feature level (a number from 0)"));
    }
    Ok((name, level))
}

fn downgrade_type(unsafe_downgrade: bool) -> FeatureUpgradeType {
    if unsafe_downgrade {
        FeatureUpgradeType::UnsafeDowngrade
    } else {
        FeatureUpgradeType::SafeDowngrade
    }
}

/// The changes a command asks for (none for `describe`), and whether it
/// is a dry run.
fn changes(command: &FeaturesCommand) -> (Vec<FeatureChange>, bool) {
    let (levels, upgrade_type, dry_run): (Vec<(String, i16)>, _, _) = match command {
        FeaturesCommand::Describe => return (Vec::new(), false),
        FeaturesCommand::Upgrade { features, dry_run } => {
            (features.clone(), FeatureUpgradeType::Upgrade, *dry_run)
        }
        FeaturesCommand::Downgrade {
            features,
            unsafe_downgrade,
            dry_run,
        } => (
            features.clone(),
            downgrade_type(*unsafe_downgrade),
            *dry_run,
        ),
        // Disabling is a downgrade to level 0.
        FeaturesCommand::Disable {
            features,
            unsafe_downgrade,
            dry_run,
        } => (
            features.iter().map(|name| (name.clone(), 0)).collect(),
            downgrade_type(*unsafe_downgrade),
            *dry_run,
        ),
    };
    let changes = levels
        .into_iter()
        .map(|(name, level)| FeatureChange {
            name,
            level,
            upgrade_type,
        })
        .collect();
    (changes, dry_run)
}

pub async fn run(args: FeaturesArgs) -> Result<(), ToolError> {
    let json = args.common.json();
    let mut client = args.common.connect().await?;
    if let FeaturesCommand::Describe = args.command {
        let described = client.describe_features().await?;
        return if json {
            print_json(&describe_json(&described))
        } else {
            print(&describe_table(&described))
        };
    }
    let (changes, dry_run) = changes(&args.command);
    let mut failed = Vec::new();
    let mut lines = String::new();
    for ((name, result), change) in client
        .update_features(&changes, dry_run)
        .await?
        .into_iter()
        .zip(&changes)
    {
        match result {
            Ok(()) if dry_run => lines.push_str(&format!(
                "{name} can be set to level {} (dry run: nothing changed).\n",
                change.level
            )),
            Ok(()) => lines.push_str(&format!("{name} is now at level {}.\n", change.level)),
            Err(e) => failed.push(format!("{name}: {e}")),
        }
    }
    print(&lines)?;
    if failed.is_empty() {
        Ok(())
    } else {
        Err(ToolError::Input(failed.join("; ")))
    }
}

/// A feature's row: its name, the answering broker's supported levels
/// (none if it does not know the feature), and the finalized level.
type FeatureRow = (String, Option<(i16, i16)>, i16);

/// Every feature named as supported or finalized, with both sides.
fn rows(d: &FeatureDescription) -> Vec<FeatureRow> {
    let mut names: Vec<&String> = d
        .supported
        .iter()
        .map(|s| &s.name)
        .chain(d.finalized.iter().map(|(n, _)| n))
        .collect();
    names.sort();
    names.dedup();
    names
        .into_iter()
        .map(|name| {
            let supported = d
                .supported
                .iter()
                .find(|s| &s.name == name)
                .map(|s| (s.min_level, s.max_level));
            let finalized = d
                .finalized
                .iter()
                .find(|(n, _)| n == name)
                .map_or(0, |(_, l)| *l);
            (name.clone(), supported, finalized)
        })
        .collect()
}

fn describe_table(d: &FeatureDescription) -> String {
    let mut t = Table::new(&["FEATURE", "SUPPORTED", "FINALIZED", "EPOCH"]);
    for (name, supported, finalized) in rows(d) {
        t.push(vec![
            name,
            supported.map_or_else(|| "-".to_string(), |(lo, hi)| format!("{lo}-{hi}")),
            finalized.to_string(),
            d.finalized_epoch.to_string(),
        ]);
    }
    t.render()
}

fn describe_json(d: &FeatureDescription) -> serde_json::Value {
    json!({
        "node": d.node,
        "finalized_epoch": d.finalized_epoch,
        "features": rows(d).into_iter().map(|(name, supported, finalized)| json!({
            "name": name,
            "supported_min": supported.map(|s| s.0),
            "supported_max": supported.map(|s| s.1),
            "finalized": finalized,
        })).collect::<Vec<_>>(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tools::tests::parse;
    use crate::tools::ToolCommand;
    use vltava_client::SupportedFeature;

    fn command(args: &[&str]) -> FeaturesCommand {
        let ToolCommand::Features(a) = parse(args).unwrap() else {
            panic!()
        };
        a.command
    }

    #[test]
    fn arguments_become_changes() {
        let (c, dry) = changes(&command(&[
            "features",
            "upgrade",
            "--feature",
            "eligible.leader.replicas.version=1",
            "--dry-run",
        ]));
        assert!(dry);
        assert_eq!(
            c,
            [FeatureChange {
                name: "eligible.leader.replicas.version".into(),
                level: 1,
                upgrade_type: FeatureUpgradeType::Upgrade
            }]
        );
        let (c, dry) = changes(&command(&[
            "features",
            "disable",
            "--feature",
            "a",
            "--feature",
            "b",
            "--unsafe-downgrade",
        ]));
        assert!(!dry);
        assert_eq!(
            c.iter()
                .map(|c| (c.name.as_str(), c.level, c.upgrade_type))
                .collect::<Vec<_>>(),
            [
                ("a", 0, FeatureUpgradeType::UnsafeDowngrade),
                ("b", 0, FeatureUpgradeType::UnsafeDowngrade)
            ]
        );
        let (c, _) = changes(&command(&["features", "downgrade", "--feature", "x=0"]));
        assert_eq!(c[0].upgrade_type, FeatureUpgradeType::SafeDowngrade);
        assert!(parse(&["features", "upgrade"]).is_err());
        assert!(parse(&["features", "upgrade", "--feature", "x=-1"]).is_err());
        assert!(parse(&["features", "upgrade", "--feature", "x=one"]).is_err());
        assert!(parse(&["features", "upgrade", "--feature", "x"]).is_err());
    }

    #[test]
    fn description_shows_both_sides() {
        let d = FeatureDescription {
            node: 1,
            supported: vec![
                SupportedFeature {
                    name: "eligible.leader.replicas.version".into(),
                    min_level: 0,
                    max_level: 1,
                },
                SupportedFeature {
                    name: "metadata.version".into(),
                    min_level: 25,
                    max_level: 25,
                },
            ],
            finalized: vec![("metadata.version".into(), 25), ("other".into(), 2)],
            finalized_epoch: 42,
        };
        assert_eq!(
            describe_table(&d),
            "FEATURE                           SUPPORTED  FINALIZED  EPOCH\n\
             eligible.leader.replicas.version  0-1        0          42\n\
             metadata.version                  25-25      25         42\n\
             other                             -          2          42\n"
        );
        assert_eq!(
            describe_json(&d)["features"][2],
            json!({"name": "other", "supported_min": null, "supported_max": null, "finalized": 2})
        );
    }
}
