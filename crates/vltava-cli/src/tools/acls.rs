//! `vltava acls create|list|delete`: the cluster's ACLs, with the options
//! of Kafka's `kafka-acls.sh --add|--list|--remove`.
//!
//! ACLs are made as kafka-acls.sh makes them: every resource named, for
//! every allowed principal and host (`*` when no host is given) and every
//! operation (All when none is given), an ALLOW ACL; the same with the
//! denied principals and hosts for DENY.

use std::io::BufRead;

use clap::{Args, Subcommand, ValueEnum};
use serde_json::json;
use vltava_client::acl::{
    AccessControlEntry, AccessControlEntryFilter, AclBinding, AclBindingFilter, AclOperation,
    AclPermissionType, PatternType, ResourcePattern, ResourcePatternFilter, ResourceType,
    CLUSTER_NAME, WILDCARD_HOST,
};

use super::output::Table;
use super::{print, print_json, Common, ToolError};

#[derive(Args, Debug)]
pub struct AclsArgs {
    #[command(flatten)]
    pub common: Common,
    #[command(subcommand)]
    pub command: AclsCommand,
}

#[derive(Subcommand, Debug)]
pub enum AclsCommand {
    /// Add ACLs (kafka-acls.sh --add).
    Create {
        #[command(flatten)]
        resources: Resources,
        #[command(flatten)]
        entries: Entries,
    },
    /// List ACLs, of the resources named or all (kafka-acls.sh --list).
    List {
        #[command(flatten)]
        resources: Resources,
        /// Only the ACLs of this principal (Type:name); repeatable.
        #[arg(long = "principal", value_name = "PRINCIPAL")]
        principals: Vec<String>,
    },
    /// Remove ACLs of the resources named: those of the principals, hosts
    /// and operations given, or every ACL of the resources when no
    /// principal is given (kafka-acls.sh --remove).
    Delete {
        #[command(flatten)]
        resources: Resources,
        #[command(flatten)]
        entries: Entries,
        /// Do not ask for confirmation.
        #[arg(long)]
        force: bool,
    },
}

/// The resources an ACL command is about.
#[derive(Args, Debug, Clone)]
pub struct Resources {
    /// A topic (`*` for all topics); repeatable.
    #[arg(long = "topic", value_name = "TOPIC")]
    pub topics: Vec<String>,
    /// A consumer group (`*` for all groups); repeatable.
    #[arg(long = "group", value_name = "GROUP")]
    pub groups: Vec<String>,
    /// The cluster.
    #[arg(long)]
    pub cluster: bool,
    /// A transactional id (`*` for all); repeatable.
    #[arg(long = "transactional-id", value_name = "ID")]
    pub transactional_ids: Vec<String>,
    /// How resource names are compared: literal or prefixed for ACLs;
    /// also any (every pattern type, the name exactly) or match (every ACL
    /// that applies to the resource) when listing or deleting.
    #[arg(long, value_enum, default_value_t = PatternArg::Literal)]
    pub resource_pattern_type: PatternArg,
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatternArg {
    Literal,
    Prefixed,
    Match,
    Any,
}

impl PatternArg {
    fn pattern_type(self) -> PatternType {
        match self {
            PatternArg::Literal => PatternType::Literal,
            PatternArg::Prefixed => PatternType::Prefixed,
            PatternArg::Match => PatternType::Match,
            PatternArg::Any => PatternType::Any,
        }
    }
}

/// Who, from where, doing what.
#[derive(Args, Debug, Clone, Default)]
pub struct Entries {
    /// A principal (Type:name, e.g. User:alice; User:* for everyone) the
    /// ACLs allow; repeatable.
    #[arg(long = "allow-principal", value_name = "PRINCIPAL")]
    pub allow_principals: Vec<String>,
    /// A principal the ACLs deny; repeatable.
    #[arg(long = "deny-principal", value_name = "PRINCIPAL")]
    pub deny_principals: Vec<String>,
    /// A host the allowed principals may connect from (default: any, `*`).
    #[arg(long = "allow-host", value_name = "HOST")]
    pub allow_hosts: Vec<String>,
    /// A host the denied principals are denied from (default: any, `*`).
    #[arg(long = "deny-host", value_name = "HOST")]
    pub deny_hosts: Vec<String>,
    /// An operation (Read, Write, Create, Delete, Alter, Describe,
    /// ClusterAction, DescribeConfigs, AlterConfigs, IdempotentWrite,
    /// CreateTokens, DescribeTokens, All); repeatable; default All.
    #[arg(long = "operation", value_name = "OPERATION")]
    pub operations: Vec<String>,
    /// The ACLs a producer needs (create only): Write, Describe and
    /// Create on each --topic, Write and Describe on each
    /// --transactional-id (kafka-acls.sh --producer).
    #[arg(long)]
    pub producer: bool,
    /// With --producer: IdempotentWrite on the cluster too.
    #[arg(long)]
    pub idempotent: bool,
    /// The ACLs a consumer needs (create only): Read and Describe on each
    /// --topic, Read on each --group (kafka-acls.sh --consumer).
    #[arg(long)]
    pub consumer: bool,
}

impl Resources {
    fn named(&self) -> Vec<(ResourceType, String)> {
        let mut out = Vec::new();
        out.extend(self.topics.iter().map(|t| (ResourceType::Topic, t.clone())));
        out.extend(self.groups.iter().map(|g| (ResourceType::Group, g.clone())));
        if self.cluster {
            out.push((ResourceType::Cluster, CLUSTER_NAME.to_string()));
        }
        out.extend(
            self.transactional_ids
                .iter()
                .map(|t| (ResourceType::TransactionalId, t.clone())),
        );
        out
    }
}

/// The operation named (Kafka's names, any case, with or without
/// underscores: `describe-configs`, `DescribeConfigs`, `DESCRIBE_CONFIGS`).
fn operation(name: &str) -> Result<AclOperation, ToolError> {
    let key: String = name
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect::<String>()
        .to_ascii_uppercase();
    AclOperation::VALUES
        .iter()
        .copied()
        .filter(|o| !matches!(o, AclOperation::Unknown | AclOperation::Any))
        .find(|o| o.name().replace('_', "") == key)
        .ok_or_else(|| ToolError::Input(format!("unknown operation {name:?}")))
}

fn operations(entries: &Entries) -> Result<Vec<AclOperation>, ToolError> {
    if entries.operations.is_empty() {
        return Ok(vec![AclOperation::All]);
    }
    entries.operations.iter().map(|o| operation(o)).collect()
}

fn hosts(given: &[String]) -> Vec<String> {
    if given.is_empty() {
        vec![WILDCARD_HOST.to_string()]
    } else {
        given.to_vec()
    }
}

/// Every (principal, host, operation, permission) the options name.
fn entries(entries: &Entries) -> Result<Vec<AccessControlEntry>, ToolError> {
    let ops = operations(entries)?;
    Ok(entries_with(entries, &ops))
}

/// Every (principal, host, permission) the options name, with each of `ops`.
fn entries_with(entries: &Entries, ops: &[AclOperation]) -> Vec<AccessControlEntry> {
    let mut out = Vec::new();
    for (principals, hosts, permission) in [
        (
            &entries.allow_principals,
            hosts(&entries.allow_hosts),
            AclPermissionType::Allow,
        ),
        (
            &entries.deny_principals,
            hosts(&entries.deny_hosts),
            AclPermissionType::Deny,
        ),
    ] {
        for principal in principals {
            for host in &hosts {
                for op in ops {
                    out.push(AccessControlEntry::new(
                        principal.clone(),
                        host.clone(),
                        *op,
                        permission,
                    ));
                }
            }
        }
    }
    out
}

/// The operations --producer and --consumer stand for on a resource type
/// (kafka-acls.sh's), and whether the cluster gets IdempotentWrite.
fn convenience_operations(given: &Entries, resource_type: ResourceType) -> Vec<AclOperation> {
    use AclOperation::*;
    let mut ops = Vec::new();
    if given.producer {
        ops.extend_from_slice(match resource_type {
            ResourceType::Topic => &[Write, Describe, Create][..],
            ResourceType::TransactionalId => &[Write, Describe][..],
            ResourceType::Cluster if given.idempotent => &[IdempotentWrite][..],
            _ => &[][..],
        });
    }
    if given.consumer {
        ops.extend_from_slice(match resource_type {
            ResourceType::Topic => &[Read, Describe][..],
            ResourceType::Group => &[Read][..],
            _ => &[][..],
        });
    }
    ops.dedup();
    ops
}

/// The operations an ACL on a resource of this type may name, as
/// kafka-acls.sh allows them (`AclCommand`'s table; its TWO_PHASE_COMMIT of
/// transactional ids, KIP-939, is not among the operations here yet).
fn valid_operations(resource_type: ResourceType) -> &'static [AclOperation] {
    use AclOperation::*;
    match resource_type {
        ResourceType::Topic => &[
            Read,
            Write,
            Create,
            Describe,
            Delete,
            Alter,
            DescribeConfigs,
            AlterConfigs,
            All,
        ],
        ResourceType::Group => &[Read, Describe, Delete, DescribeConfigs, AlterConfigs, All],
        ResourceType::Cluster => &[
            Create,
            ClusterAction,
            DescribeConfigs,
            AlterConfigs,
            IdempotentWrite,
            Alter,
            Describe,
            All,
        ],
        ResourceType::TransactionalId => &[Describe, Write, All],
        ResourceType::DelegationToken => &[Describe, All],
        ResourceType::User => &[CreateTokens, DescribeTokens, All],
        _ => &[],
    }
}

/// Refuses an operation the resource type does not have, before anything
/// is sent (kafka-acls.sh does the same).
fn check_operations(
    named: &[(ResourceType, String)],
    ops: &[AclOperation],
) -> Result<(), ToolError> {
    for (resource_type, _) in named {
        let valid = valid_operations(*resource_type);
        if let Some(op) = ops.iter().find(|op| !valid.contains(op)) {
            let names: Vec<&str> = valid.iter().map(|o| o.name()).collect();
            return Err(ToolError::Input(format!(
                "{op} is not an operation of {resource_type}; it has {}",
                names.join(", ")
            )));
        }
    }
    Ok(())
}

/// The ACLs `create` adds.
fn bindings_to_create(
    resources: &Resources,
    given: &Entries,
) -> Result<Vec<AclBinding>, ToolError> {
    let pattern_type = resources.resource_pattern_type.pattern_type();
    if !matches!(pattern_type, PatternType::Literal | PatternType::Prefixed) {
        return Err(ToolError::Input(
            "an ACL's --resource-pattern-type is literal or prefixed".into(),
        ));
    }
    let mut named = resources.named();
    if given.producer || given.consumer {
        return convenience_bindings(resources, given, &mut named, pattern_type);
    }
    if given.idempotent {
        return Err(ToolError::Input("--idempotent goes with --producer".into()));
    }
    if named.is_empty() {
        return Err(ToolError::Input(
            "name a resource: --topic, --group, --cluster or --transactional-id".into(),
        ));
    }
    let entries = entries(given)?;
    if entries.is_empty() {
        return Err(ToolError::Input(
            "name a principal: --allow-principal or --deny-principal".into(),
        ));
    }
    check_operations(&named, &operations(given)?)?;
    let mut out = Vec::new();
    for (resource_type, name) in &named {
        for entry in &entries {
            out.push(AclBinding::new(
                ResourcePattern::new(*resource_type, name.clone(), pattern_type),
                entry.clone(),
            ));
        }
    }
    Ok(out)
}

fn given_convenience(entries: &Entries) -> bool {
    entries.producer || entries.consumer || entries.idempotent
}

/// The ACLs of `create --producer` / `--consumer`: each resource with the
/// operations a producer or consumer needs on it.
fn convenience_bindings(
    resources: &Resources,
    given: &Entries,
    named: &mut Vec<(ResourceType, String)>,
    pattern_type: PatternType,
) -> Result<Vec<AclBinding>, ToolError> {
    if !given.operations.is_empty() {
        return Err(ToolError::Input(
            "--operation does not go with --producer or --consumer".into(),
        ));
    }
    if resources.topics.is_empty() {
        return Err(ToolError::Input(
            "--producer and --consumer need --topic".into(),
        ));
    }
    if given.consumer && resources.groups.is_empty() {
        return Err(ToolError::Input("--consumer needs --group".into()));
    }
    if given.idempotent && !given.producer {
        return Err(ToolError::Input("--idempotent goes with --producer".into()));
    }
    if given.idempotent && !resources.cluster {
        named.push((ResourceType::Cluster, CLUSTER_NAME.to_string()));
    }
    let mut out = Vec::new();
    for (resource_type, name) in named.iter() {
        // The cluster ACL of --idempotent is literal whatever the topics'
        // pattern type is; the cluster has one name.
        let pattern = if *resource_type == ResourceType::Cluster {
            PatternType::Literal
        } else {
            pattern_type
        };
        let ops = convenience_operations(given, *resource_type);
        for entry in entries_with(given, &ops) {
            out.push(AclBinding::new(
                ResourcePattern::new(*resource_type, name.clone(), pattern),
                entry,
            ));
        }
    }
    if out.is_empty() {
        return Err(ToolError::Input(
            "name a principal: --allow-principal or --deny-principal".into(),
        ));
    }
    Ok(out)
}

/// The filters of `list` (principals: any of these, or all) and of
/// `delete` (entries: these exactly, or all).
fn pattern_filters(resources: &Resources) -> Vec<ResourcePatternFilter> {
    let pattern_type = resources.resource_pattern_type.pattern_type();
    let named = resources.named();
    if named.is_empty() {
        return vec![ResourcePatternFilter::ANY];
    }
    named
        .into_iter()
        .map(|(t, name)| ResourcePatternFilter::new(t, Some(&name), pattern_type))
        .collect()
}

fn list_filters(resources: &Resources, principals: &[String]) -> Vec<AclBindingFilter> {
    let mut out = Vec::new();
    for pattern in pattern_filters(resources) {
        if principals.is_empty() {
            out.push(AclBindingFilter::new(
                pattern.clone(),
                AccessControlEntryFilter::ANY,
            ));
        }
        for p in principals {
            out.push(AclBindingFilter::new(
                pattern.clone(),
                AccessControlEntryFilter::new(
                    Some(p),
                    None,
                    AclOperation::Any,
                    AclPermissionType::Any,
                ),
            ));
        }
    }
    out
}

fn delete_filters(
    resources: &Resources,
    given: &Entries,
) -> Result<Vec<AclBindingFilter>, ToolError> {
    if given_convenience(given) {
        return Err(ToolError::Input(
            "--producer, --consumer and --idempotent are for create; name the operations to delete"
                .into(),
        ));
    }
    if resources.named().is_empty() {
        return Err(ToolError::Input(
            "name a resource: --topic, --group, --cluster or --transactional-id".into(),
        ));
    }
    let entries = entries(given)?;
    if !entries.is_empty() {
        check_operations(&resources.named(), &operations(given)?)?;
    }
    let mut out = Vec::new();
    for pattern in pattern_filters(resources) {
        if entries.is_empty() {
            out.push(AclBindingFilter::new(
                pattern.clone(),
                AccessControlEntryFilter::ANY,
            ));
        }
        for e in &entries {
            out.push(AclBindingFilter::new(
                pattern.clone(),
                AccessControlEntryFilter::new(
                    Some(&e.principal),
                    Some(&e.host),
                    e.operation,
                    e.permission,
                ),
            ));
        }
    }
    Ok(out)
}

pub async fn run(args: AclsArgs) -> Result<(), ToolError> {
    let json = args.common.json();
    match args.command {
        AclsCommand::Create { resources, entries } => {
            let acls = bindings_to_create(&resources, &entries)?;
            let mut client = args.common.connect().await?;
            let results = client.create_acls(&acls).await?;
            let mut created = Vec::new();
            for (acl, result) in acls.into_iter().zip(results) {
                result?;
                created.push(acl);
            }
            render(&created, json)
        }
        AclsCommand::List {
            resources,
            principals,
        } => {
            let mut client = args.common.connect().await?;
            let mut found: Vec<AclBinding> = Vec::new();
            for filter in list_filters(&resources, &principals) {
                for acl in client.describe_acls(&filter).await? {
                    if !found.contains(&acl) {
                        found.push(acl);
                    }
                }
            }
            found.sort();
            render(&found, json)
        }
        AclsCommand::Delete {
            resources,
            entries,
            force,
        } => {
            let filters = delete_filters(&resources, &entries)?;
            if !force && !confirm(&resources)? {
                return Err(ToolError::Input("nothing deleted".into()));
            }
            let mut client = args.common.connect().await?;
            let mut deleted: Vec<AclBinding> = Vec::new();
            for result in client.delete_acls(&filters).await? {
                for acl in result? {
                    if !deleted.contains(&acl) {
                        deleted.push(acl);
                    }
                }
            }
            deleted.sort();
            render(&deleted, json)
        }
    }
}

/// Asks on stdin, as kafka-acls.sh does before removing.
fn confirm(resources: &Resources) -> Result<bool, ToolError> {
    let names: Vec<String> = resources
        .named()
        .iter()
        .map(|(t, n)| format!("{t}:{n}"))
        .collect();
    eprint!(
        "Are you sure you want to remove ACLs of {} (y/n)? ",
        names.join(", ")
    );
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(answer.trim().eq_ignore_ascii_case("y"))
}

fn render(acls: &[AclBinding], json: bool) -> Result<(), ToolError> {
    if json {
        print_json(&acls_json(acls))
    } else {
        print(&acls_table(acls))
    }
}

fn acls_json(acls: &[AclBinding]) -> serde_json::Value {
    json!(acls
        .iter()
        .map(|a| json!({
            "resource_type": a.pattern.resource_type.name(),
            "resource_name": a.pattern.name,
            "pattern_type": a.pattern.pattern_type.name(),
            "principal": a.entry.principal,
            "host": a.entry.host,
            "operation": a.entry.operation.name(),
            "permission": a.entry.permission.name(),
        }))
        .collect::<Vec<_>>())
}

fn acls_table(acls: &[AclBinding]) -> String {
    let mut t = Table::new(&[
        "RESOURCE-TYPE",
        "RESOURCE-NAME",
        "PATTERN-TYPE",
        "PRINCIPAL",
        "HOST",
        "OPERATION",
        "PERMISSION",
    ]);
    for a in acls {
        t.push(vec![
            a.pattern.resource_type.name().to_string(),
            a.pattern.name.clone(),
            a.pattern.pattern_type.name().to_string(),
            a.entry.principal.clone(),
            a.entry.host.clone(),
            a.entry.operation.name().to_string(),
            a.entry.permission.name().to_string(),
        ]);
    }
    t.render()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tools::tests::parse;
    use crate::tools::ToolCommand;

    fn command(args: &[&str]) -> AclsCommand {
        let ToolCommand::Acls(a) = parse(args).unwrap() else {
            panic!()
        };
        a.command
    }

    fn create_bindings(args: &[&str]) -> Result<Vec<AclBinding>, ToolError> {
        let mut full = vec!["acls", "create"];
        full.extend_from_slice(args);
        let AclsCommand::Create { resources, entries } = command(&full) else {
            panic!()
        };
        bindings_to_create(&resources, &entries)
    }

    fn summary(acls: &[AclBinding]) -> Vec<String> {
        let mut out: Vec<String> = acls
            .iter()
            .map(|a| {
                format!(
                    "{} {} {} {} {}",
                    a.pattern.resource_type.name(),
                    a.pattern.name,
                    a.pattern.pattern_type.name(),
                    a.entry.principal,
                    a.entry.operation.name()
                )
            })
            .collect();
        out.sort();
        out
    }

    #[test]
    fn producer_and_consumer_stand_for_what_each_needs() {
        let producer = create_bindings(&[
            "--allow-principal",
            "User:p",
            "--producer",
            "--topic",
            "orders",
            "--transactional-id",
            "tx",
            "--idempotent",
        ])
        .unwrap();
        assert_eq!(
            summary(&producer),
            [
                "CLUSTER kafka-cluster LITERAL User:p IDEMPOTENT_WRITE",
                "TOPIC orders LITERAL User:p CREATE",
                "TOPIC orders LITERAL User:p DESCRIBE",
                "TOPIC orders LITERAL User:p WRITE",
                "TRANSACTIONAL_ID tx LITERAL User:p DESCRIBE",
                "TRANSACTIONAL_ID tx LITERAL User:p WRITE",
            ]
        );
        let consumer = create_bindings(&[
            "--allow-principal",
            "User:c",
            "--consumer",
            "--topic",
            "orders",
            "--resource-pattern-type",
            "prefixed",
            "--group",
            "billing",
        ])
        .unwrap();
        assert_eq!(
            summary(&consumer),
            [
                "GROUP billing PREFIXED User:c READ",
                "TOPIC orders PREFIXED User:c DESCRIBE",
                "TOPIC orders PREFIXED User:c READ",
            ]
        );
        for bad in [
            &["--allow-principal", "User:c", "--consumer", "--topic", "t"][..],
            &["--allow-principal", "User:p", "--producer", "--group", "g"][..],
            &[
                "--allow-principal",
                "User:p",
                "--producer",
                "--topic",
                "t",
                "--operation",
                "Read",
            ][..],
            &[
                "--allow-principal",
                "User:p",
                "--idempotent",
                "--topic",
                "t",
            ][..],
        ] {
            assert!(create_bindings(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn create_makes_the_cross_product_of_the_options() {
        let AclsCommand::Create { resources, entries } = command(&[
            "acls",
            "create",
            "--allow-principal",
            "User:alice",
            "--allow-principal",
            "User:bob",
            "--deny-principal",
            "User:mallory",
            "--deny-host",
            "10.0.0.9",
            "--operation",
            "read",
            "--operation",
            "DescribeConfigs",
            "--topic",
            "orders-",
            "--resource-pattern-type",
            "prefixed",
        ]) else {
            panic!()
        };
        let acls = bindings_to_create(&resources, &entries).unwrap();
        assert_eq!(acls.len(), 6);
        assert!(acls.iter().all(|a| a.pattern
            == ResourcePattern::new(ResourceType::Topic, "orders-", PatternType::Prefixed)));
        assert!(acls.contains(&AclBinding::new(
            ResourcePattern::new(ResourceType::Topic, "orders-", PatternType::Prefixed),
            AccessControlEntry::new(
                "User:bob",
                "*",
                AclOperation::DescribeConfigs,
                AclPermissionType::Allow
            ),
        )));
        assert!(acls.contains(&AclBinding::new(
            ResourcePattern::new(ResourceType::Topic, "orders-", PatternType::Prefixed),
            AccessControlEntry::new(
                "User:mallory",
                "10.0.0.9",
                AclOperation::Read,
                AclPermissionType::Deny
            ),
        )));
        // No operation: All; the cluster is kafka-cluster.
        let AclsCommand::Create { resources, entries } = command(&[
            "acls",
            "create",
            "--allow-principal",
            "User:ops",
            "--cluster",
        ]) else {
            panic!()
        };
        let acls = bindings_to_create(&resources, &entries).unwrap();
        assert_eq!(acls.len(), 1);
        assert_eq!(acls[0].pattern.name, "kafka-cluster");
        assert_eq!(acls[0].entry.operation, AclOperation::All);
        // Filters are not ACLs; an ACL needs a resource and a principal.
        for args in [
            &[
                "acls",
                "create",
                "--allow-principal",
                "User:a",
                "--topic",
                "t",
                "--resource-pattern-type",
                "match",
            ][..],
            &["acls", "create", "--allow-principal", "User:a"],
            &["acls", "create", "--topic", "t"],
            &[
                "acls",
                "create",
                "--allow-principal",
                "User:a",
                "--group",
                "g",
                "--operation",
                "write",
            ],
            &[
                "acls",
                "create",
                "--allow-principal",
                "User:a",
                "--cluster",
                "--operation",
                "read",
            ],
            &[
                "acls",
                "create",
                "--allow-principal",
                "User:a",
                "--topic",
                "t",
                "--operation",
                "fly",
            ],
        ] {
            let AclsCommand::Create { resources, entries } = command(args) else {
                panic!()
            };
            assert!(
                bindings_to_create(&resources, &entries).is_err(),
                "{args:?}"
            );
        }
    }

    #[test]
    fn list_and_delete_filters() {
        let AclsCommand::List {
            resources,
            principals,
        } = command(&["acls", "list"])
        else {
            panic!()
        };
        assert_eq!(
            list_filters(&resources, &principals),
            vec![AclBindingFilter::ANY]
        );
        let AclsCommand::List {
            resources,
            principals,
        } = command(&[
            "acls",
            "list",
            "--topic",
            "orders",
            "--resource-pattern-type",
            "match",
            "--principal",
            "User:alice",
        ])
        else {
            panic!()
        };
        let filters = list_filters(&resources, &principals);
        assert_eq!(filters.len(), 1);
        assert_eq!(filters[0].pattern.pattern_type, PatternType::Match);
        assert_eq!(filters[0].entry.principal.as_deref(), Some("User:alice"));

        let AclsCommand::Delete {
            resources,
            entries,
            force,
        } = command(&["acls", "delete", "--group", "g", "--force"])
        else {
            panic!()
        };
        assert!(force);
        let filters = delete_filters(&resources, &entries).unwrap();
        assert_eq!(
            filters,
            vec![AclBindingFilter::new(
                ResourcePatternFilter::new(ResourceType::Group, Some("g"), PatternType::Literal),
                AccessControlEntryFilter::ANY
            )]
        );
        let AclsCommand::Delete {
            resources, entries, ..
        } = command(&["acls", "delete"])
        else {
            panic!()
        };
        assert!(delete_filters(&resources, &entries).is_err());
    }

    #[test]
    fn output() {
        let acls = vec![AclBinding::new(
            ResourcePattern::new(ResourceType::Topic, "t", PatternType::Literal),
            AccessControlEntry::new("User:a", "*", AclOperation::Read, AclPermissionType::Allow),
        )];
        assert_eq!(
            acls_table(&acls),
            "RESOURCE-TYPE  RESOURCE-NAME  PATTERN-TYPE  PRINCIPAL  HOST  OPERATION  PERMISSION\n\
             TOPIC          t              LITERAL       User:a     *     READ       ALLOW\n"
        );
        assert_eq!(
            acls_json(&acls).to_string(),
            r#"[{"host":"*","operation":"READ","pattern_type":"LITERAL","permission":"ALLOW","principal":"User:a","resource_name":"t","resource_type":"TOPIC"}]"#
        );
    }
}
