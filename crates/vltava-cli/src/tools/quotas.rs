//! `vltava quotas set|describe`: client quotas, as Kafka's
//! `kafka-configs.sh --entity-type users|clients|ips --alter --add-config
//! producer_byte_rate=...` (and `--delete-config`, `--describe`) manage
//! them.
//!
//! An entity is a user, a client id, a user with a client id, or an IP
//! address; each part is a name or that type's default (`--user-default`
//! and so on), as Kafka's quota entities are.

use clap::{Args, Subcommand};
use serde_json::json;
use vltava_client::{QuotaEntityParts, QuotaFilterComponent, QuotaKeyChange, QuotaMatch};

use super::output::Table;
use super::{print, print_json, Common, ToolError};

#[derive(Args, Debug)]
pub struct QuotasArgs {
    #[command(flatten)]
    pub common: Common,
    #[command(subcommand)]
    pub command: QuotasCommand,
}

/// The entity a command is about: at most one of each pair.
#[derive(Args, Debug, Clone, Default)]
pub struct EntityArgs {
    /// A user (the principal's name, without `User:`).
    #[arg(long, conflicts_with = "user_default")]
    pub user: Option<String>,
    /// The default user: every user without a quota of its own.
    #[arg(long)]
    pub user_default: bool,
    /// A client id.
    #[arg(long, conflicts_with = "client_id_default")]
    pub client_id: Option<String>,
    /// The default client id.
    #[arg(long)]
    pub client_id_default: bool,
    /// An IP address (connection_creation_rate only).
    #[arg(long, conflicts_with_all = ["ip_default", "user", "user_default", "client_id", "client_id_default"])]
    pub ip: Option<String>,
    /// The default IP address.
    #[arg(long, conflicts_with_all = ["user", "user_default", "client_id", "client_id_default"])]
    pub ip_default: bool,
}

#[derive(Subcommand, Debug)]
pub enum QuotasCommand {
    /// Set and remove quota keys of one entity: producer_byte_rate,
    /// consumer_byte_rate, request_percentage (users and client ids),
    /// connection_creation_rate (IPs).
    Set {
        #[command(flatten)]
        entity: EntityArgs,
        /// KEY=VALUE to set; repeatable, or comma-separated.
        #[arg(long = "add", value_name = "KEY=VALUE", value_delimiter = ',')]
        add: Vec<String>,
        /// A key to remove; repeatable, or comma-separated.
        #[arg(long = "delete", value_name = "KEY", value_delimiter = ',')]
        delete: Vec<String>,
        /// Check the change without making it.
        #[arg(long)]
        validate_only: bool,
    },
    /// Show configured quotas: of every entity, or of those matching the
    /// given parts (`--any-user` and so on match any name of that type).
    Describe {
        #[command(flatten)]
        entity: EntityArgs,
        /// Any user (an entity with a user part).
        #[arg(long, conflicts_with_all = ["user", "user_default"])]
        any_user: bool,
        /// Any client id.
        #[arg(long, conflicts_with_all = ["client_id", "client_id_default"])]
        any_client_id: bool,
        /// Any IP address.
        #[arg(long, conflicts_with_all = ["ip", "ip_default"])]
        any_ip: bool,
        /// Only entities with no parts other than those given.
        #[arg(long)]
        strict: bool,
    },
}

/// The entity's parts, in Kafka's order (user, client-id) or ip.
fn entity_parts(e: &EntityArgs) -> QuotaEntityParts {
    let mut parts = Vec::new();
    if let Some(u) = &e.user {
        parts.push(("user".to_string(), Some(u.clone())));
    } else if e.user_default {
        parts.push(("user".to_string(), None));
    }
    if let Some(c) = &e.client_id {
        parts.push(("client-id".to_string(), Some(c.clone())));
    } else if e.client_id_default {
        parts.push(("client-id".to_string(), None));
    }
    if let Some(ip) = &e.ip {
        parts.push(("ip".to_string(), Some(ip.clone())));
    } else if e.ip_default {
        parts.push(("ip".to_string(), None));
    }
    parts
}

fn changes(add: &[String], delete: &[String]) -> Result<Vec<QuotaKeyChange>, ToolError> {
    let mut out = Vec::new();
    for a in add {
        let (key, value) = a
            .split_once('=')
            .ok_or_else(|| ToolError::Input(format!("--add {a:?} is not KEY=VALUE")))?;
        let value: f64 = value
            .trim()
            .parse()
            .map_err(|_| ToolError::Input(format!("--add {a:?}: {value:?} is not a number")))?;
        out.push((key.trim().to_string(), Some(value)));
    }
    for d in delete {
        out.push((d.trim().to_string(), None));
    }
    if out.is_empty() {
        return Err(ToolError::Input(
            "nothing to change: give --add KEY=VALUE or --delete KEY".into(),
        ));
    }
    Ok(out)
}

/// An entity as Kafka's tools print it: `user=alice, client-id=<default>`.
fn entity_text(parts: &QuotaEntityParts) -> String {
    parts
        .iter()
        .map(|(t, n)| format!("{t}={}", n.as_deref().unwrap_or("<default>")))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A value as Kafka prints a double: integral ones with `.0`.
fn value_text(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{v:.1}")
    } else {
        v.to_string()
    }
}

pub async fn run(args: QuotasArgs) -> Result<(), ToolError> {
    let json = args.common.json();
    match args.command {
        QuotasCommand::Set {
            entity,
            add,
            delete,
            validate_only,
        } => {
            let parts = entity_parts(&entity);
            if parts.is_empty() {
                return Err(ToolError::Input(
                    "name an entity: --user, --client-id, --ip or their --*-default".into(),
                ));
            }
            let ops = changes(&add, &delete)?;
            let mut client = args.common.connect().await?;
            for result in client
                .alter_client_quotas(&[(parts.clone(), ops)], validate_only)
                .await?
            {
                result?;
            }
            let verb = if validate_only {
                "Validated"
            } else {
                "Altered"
            };
            print(&format!("{verb} the quotas of {}.\n", entity_text(&parts)))
        }
        QuotasCommand::Describe {
            entity,
            any_user,
            any_client_id,
            any_ip,
            strict,
        } => {
            let mut components: Vec<QuotaFilterComponent> = entity_parts(&entity)
                .into_iter()
                .map(|(t, n)| QuotaFilterComponent {
                    entity_type: t,
                    matching: n.map_or(QuotaMatch::Default, QuotaMatch::Exact),
                })
                .collect();
            for (any, t) in [
                (any_user, "user"),
                (any_client_id, "client-id"),
                (any_ip, "ip"),
            ] {
                if any {
                    components.push(QuotaFilterComponent {
                        entity_type: t.to_string(),
                        matching: QuotaMatch::Any,
                    });
                }
            }
            let mut client = args.common.connect().await?;
            let mut found = client.describe_client_quotas(&components, strict).await?;
            found.sort_by_key(|(entity, _)| entity_text(entity));
            if json {
                print_json(&describe_json(&found))
            } else {
                print(&describe_table(&found))
            }
        }
    }
}

fn describe_json(found: &[vltava_client::DescribedQuotas]) -> serde_json::Value {
    json!(found
        .iter()
        .map(|(entity, values)| json!({
            "entity": entity.iter().map(|(t, n)| json!({"type": t, "name": n})).collect::<Vec<_>>(),
            "quotas": values.iter().map(|(k, v)| (k.clone(), json!(v))).collect::<serde_json::Map<_, _>>(),
        }))
        .collect::<Vec<_>>())
}

fn describe_table(found: &[vltava_client::DescribedQuotas]) -> String {
    let mut t = Table::new(&["ENTITY", "QUOTA", "VALUE"]);
    for (entity, values) in found {
        for (key, value) in values {
            t.push(vec![entity_text(entity), key.clone(), value_text(*value)]);
        }
    }
    t.render()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tools::tests::parse;
    use crate::tools::ToolCommand;

    #[test]
    fn arguments_and_output() {
        let ToolCommand::Quotas(args) = parse(&[
            "quotas",
            "set",
            "--user",
            "alice",
            "--client-id-default",
            "--add",
            "producer_byte_rate=1024,consumer_byte_rate=2048",
            "--delete",
            "request_percentage",
        ])
        .unwrap() else {
            panic!()
        };
        let QuotasCommand::Set {
            entity,
            add,
            delete,
            validate_only,
        } = args.command
        else {
            panic!()
        };
        assert!(!validate_only);
        assert_eq!(
            entity_parts(&entity),
            vec![
                ("user".to_string(), Some("alice".to_string())),
                ("client-id".to_string(), None)
            ]
        );
        assert_eq!(
            changes(&add, &delete).unwrap(),
            vec![
                ("producer_byte_rate".to_string(), Some(1024.0)),
                ("consumer_byte_rate".to_string(), Some(2048.0)),
                ("request_percentage".to_string(), None),
            ]
        );
        assert!(changes(&["producer_byte_rate".into()], &[]).is_err());
        assert!(changes(&["producer_byte_rate=fast".into()], &[]).is_err());
        assert!(changes(&[], &[]).is_err());
        // An IP cannot be combined with a user or a client id.
        assert!(
            parse(&["quotas", "set", "--ip", "10.0.0.1", "--user", "a", "--add", "x=1"]).is_err()
        );
        assert!(parse(&[
            "quotas",
            "set",
            "--user",
            "a",
            "--user-default",
            "--add",
            "x=1"
        ])
        .is_err());

        let found = vec![(
            vec![
                ("user".to_string(), Some("alice".to_string())),
                ("client-id".to_string(), None),
            ],
            vec![
                ("producer_byte_rate".to_string(), 1024.0),
                ("x".to_string(), 1.5),
            ],
        )];
        assert_eq!(
            describe_table(&found),
            "ENTITY                           QUOTA               VALUE\n\
             user=alice, client-id=<default>  producer_byte_rate  1024.0\n\
             user=alice, client-id=<default>  x                   1.5\n"
        );
        assert_eq!(
            describe_json(&found).to_string(),
            r#"[{"entity":[{"name":"alice","type":"user"},{"name":null,"type":"client-id"}],"quotas":{"producer_byte_rate":1024.0,"x":1.5}}]"#
        );
    }
}
