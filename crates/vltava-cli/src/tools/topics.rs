//! `vltava topics ...`: create, list, describe, alter-config,
//! add-partitions, reassign, delete.

use clap::{Args, Subcommand};
use serde_json::json;
use vltava_client::{
    AlterConfigOp, Client, ConfigEntry, ConfigResource, ConfigSource, CreatedTopic, Error,
    ErrorCode, NewTopic, PartitionReassignment, TopicMetadata, TopicPartition,
};

use super::output::{id_list, Table};
use super::reassign_plan;
use super::{parse_key_value, print, print_json, Common, ToolError};

#[derive(Args, Debug)]
pub struct TopicsArgs {
    #[command(flatten)]
    pub common: Common,
    #[command(subcommand)]
    pub command: TopicsCommand,
}

#[derive(Subcommand, Debug)]
pub enum TopicsCommand {
    /// Create a topic.
    Create {
        name: String,
        /// Partition count (default: the broker's num.partitions).
        #[arg(long, value_parser = clap::value_parser!(i32).range(1..))]
        partitions: Option<i32>,
        /// Replicas per partition (default: the broker's default.replication.factor).
        #[arg(long, value_parser = clap::value_parser!(i16).range(1..))]
        replication_factor: Option<i16>,
        /// A topic configuration override, KEY=VALUE (repeatable).
        #[arg(long = "config", value_name = "KEY=VALUE", value_parser = parse_key_value)]
        configs: Vec<(String, String)>,
    },
    /// List topics with their partition counts.
    List {
        /// Leave out internal topics (__consumer_offsets, ...).
        #[arg(long)]
        exclude_internal: bool,
        /// List the partitions whose ISR is smaller than their replica set
        /// instead (as `kafka-topics.sh --under-replicated-partitions`).
        #[arg(long)]
        under_replicated: bool,
        /// List the partitions without a leader instead (offline; as
        /// `kafka-topics.sh --unavailable-partitions`).
        #[arg(long)]
        unavailable: bool,
    },
    /// Show partitions, leaders, replicas, ISR and overridden configs of a
    /// topic (of every topic without NAME).
    Describe { name: Option<String> },
    /// Set or remove configuration overrides of a topic.
    #[command(arg_required_else_help = true)]
    AlterConfig {
        name: String,
        /// Set KEY to VALUE (repeatable).
        #[arg(long = "set", value_name = "KEY=VALUE", value_parser = parse_key_value)]
        set: Vec<(String, String)>,
        /// Remove the override of KEY (repeatable).
        #[arg(long = "delete", value_name = "KEY")]
        delete: Vec<String>,
    },
    /// Raise a topic's partition count.
    AddPartitions {
        name: String,
        /// The new total partition count.
        #[arg(long, value_parser = clap::value_parser!(i32).range(1..))]
        total: i32,
    },
    /// Move partitions to other brokers (KIP-455): one partition with
    /// --replicas, or whole topics with a plan (--generate, then --execute
    /// and --verify, as kafka-reassign-partitions); list the moves in
    /// progress, or cancel one.
    Reassign(ReassignArgs),
    /// Delete a topic.
    Delete { name: String },
}

#[derive(Args, Debug)]
pub struct ReassignArgs {
    /// The topic (with --list: only its reassignments).
    #[arg(long, required_unless_present_any = ["list", "generate", "execute", "verify"])]
    pub topic: Option<String>,
    /// The partition (with --list: only its reassignment).
    #[arg(long, value_parser = clap::value_parser!(i32).range(0..), required_unless_present_any = ["list", "generate", "execute", "verify"])]
    pub partition: Option<i32>,
    /// With --execute: throttle the moving replicas to this many bytes/s,
    /// as kafka-reassign-partitions --throttle does (the brokers' leader
    /// and follower replication rates, and the topics' throttled replica
    /// lists); a --verify that finds the plan complete removes it.
    #[arg(long, value_name = "BYTES_PER_SEC", requires = "execute", value_parser = clap::value_parser!(i64).range(1..))]
    pub throttle: Option<i64>,
    /// With --generate: the topics to move, comma-separated.
    #[arg(
        long,
        value_name = "TOPIC,...",
        value_delimiter = ',',
        num_args = 1,
        requires = "generate"
    )]
    pub topics: Vec<String>,
    /// With --generate: the brokers to move them onto, comma-separated.
    #[arg(
        long,
        value_name = "ID,...",
        value_delimiter = ',',
        num_args = 1,
        requires = "generate"
    )]
    pub brokers: Vec<i32>,
    #[command(flatten)]
    pub action: ReassignAction,
}

/// What `reassign` does: exactly one.
#[derive(Args, Debug, Clone, PartialEq, Eq)]
#[group(required = true, multiple = false)]
pub struct ReassignAction {
    /// Move the partition to these brokers, comma-separated, the preferred
    /// leader first. The new replicas copy the log; the old ones leave
    /// once every new one is in sync.
    #[arg(long, value_name = "ID,...", value_delimiter = ',', num_args = 1)]
    pub replicas: Option<Vec<i32>>,
    /// List the reassignments in progress.
    #[arg(long)]
    pub list: bool,
    /// Cancel the partition's reassignment in progress: back to the
    /// replicas it had.
    #[arg(long)]
    pub cancel: bool,
    /// Propose a plan that places every partition of --topics on
    /// --brokers (rack-aware, leaders rotated, replication factors kept);
    /// prints the current assignment (to roll back with) and the plan, in
    /// kafka-reassign-partitions' JSON format. Changes nothing.
    #[arg(long, requires_all = ["topics", "brokers"])]
    pub generate: bool,
    /// Submit the plan in FILE (kafka-reassign-partitions' JSON format);
    /// prints the current assignment of its partitions first.
    #[arg(long, value_name = "FILE")]
    pub execute: Option<std::path::PathBuf>,
    /// Tell, for each partition of the plan in FILE, whether its move is
    /// complete, in progress or not done; exits non-zero unless all are
    /// complete.
    #[arg(long, value_name = "FILE")]
    pub verify: Option<std::path::PathBuf>,
}

pub async fn run(args: TopicsArgs) -> Result<(), ToolError> {
    let json = args.common.json();
    if let TopicsCommand::AlterConfig { set, delete, .. } = &args.command {
        if set.is_empty() && delete.is_empty() {
            return Err(ToolError::Input(
                "nothing to change: give --set KEY=VALUE and/or --delete KEY".into(),
            ));
        }
    }
    let mut client = args.common.connect().await?;
    match args.command {
        TopicsCommand::Create {
            name,
            partitions,
            replication_factor,
            configs,
        } => {
            let created = client
                .create_topic(&NewTopic {
                    name,
                    num_partitions: partitions,
                    replication_factor,
                    configs,
                })
                .await?;
            if json {
                print_json(&created_json(&created))
            } else {
                print(&created_text(&created))
            }
        }
        TopicsCommand::List {
            exclude_internal,
            under_replicated,
            unavailable,
        } if under_replicated || unavailable => {
            let md = client.metadata(None).await?;
            let mut topics: Vec<TopicMetadata> = md
                .topics
                .into_iter()
                .filter(|t| !t.error.is_error())
                .filter(|t| !(exclude_internal && t.is_internal))
                .collect();
            topics.sort_by(|a, b| a.name.cmp(&b.name));
            let mut rows = Vec::new();
            for t in &topics {
                let mut partitions: Vec<_> = t.partitions.iter().collect();
                partitions.sort_by_key(|p| p.partition);
                for p in partitions {
                    let lagging = p.isr.len() < p.replicas.len();
                    let offline = p.leader < 0;
                    if (under_replicated && lagging) || (unavailable && offline) {
                        rows.push((t.name.clone(), p));
                    }
                }
            }
            if json {
                print_json(&json!({
                    "partitions": rows.iter().map(|(t, p)| json!({
                        "topic": t,
                        "partition": p.partition,
                        "leader": p.leader,
                        "replicas": p.replicas,
                        "isr": p.isr,
                    })).collect::<Vec<_>>()
                }))
            } else {
                let mut table = Table::new(&["TOPIC", "PARTITION", "LEADER", "REPLICAS", "ISR"]);
                for (t, p) in &rows {
                    table.push(vec![
                        t.clone(),
                        p.partition.to_string(),
                        if p.leader < 0 {
                            "none".to_string()
                        } else {
                            p.leader.to_string()
                        },
                        id_list(&p.replicas),
                        id_list(&p.isr),
                    ]);
                }
                print(&table.render())
            }
        }
        TopicsCommand::List {
            exclude_internal, ..
        } => {
            let md = client.metadata(None).await?;
            let mut topics: Vec<TopicMetadata> = md
                .topics
                .into_iter()
                .filter(|t| !t.error.is_error())
                .filter(|t| !(exclude_internal && t.is_internal))
                .collect();
            topics.sort_by(|a, b| a.name.cmp(&b.name));
            if json {
                print_json(&json!({
                    "topics": topics.iter().map(|t| json!({
                        "name": t.name,
                        "partitions": t.partitions.len(),
                        "replication_factor": t.replication_factor(),
                        "internal": t.is_internal,
                    })).collect::<Vec<_>>()
                }))
            } else {
                print(&list_table(&topics))
            }
        }
        TopicsCommand::Describe { name } => {
            let described = describe(&mut client, name.as_deref()).await?;
            if json {
                print_json(&describe_json(&described))
            } else {
                print(&describe_text(&described))
            }
        }
        TopicsCommand::AlterConfig { name, set, delete } => {
            let ops: Vec<AlterConfigOp> = set
                .iter()
                .map(|(k, v)| AlterConfigOp::Set(k.clone(), v.clone()))
                .chain(delete.iter().map(|k| AlterConfigOp::Delete(k.clone())))
                .collect();
            client
                .alter_configs(&ConfigResource::Topic(name.clone()), &ops)
                .await?;
            if json {
                print_json(&json!({
                    "topic": name,
                    "set": set.iter().map(|(k, v)| (k.clone(), json!(v))).collect::<serde_json::Map<_, _>>(),
                    "deleted": delete,
                }))
            } else {
                let mut changes: Vec<String> =
                    set.iter().map(|(k, v)| format!("set {k}={v}")).collect();
                changes.extend(delete.iter().map(|k| format!("deleted {k}")));
                print(&format!(
                    "Altered configs of topic {name}: {}.\n",
                    changes.join(", ")
                ))
            }
        }
        TopicsCommand::AddPartitions { name, total } => {
            client.create_partitions(&name, total).await?;
            if json {
                print_json(&json!({"topic": name, "partitions": total}))
            } else {
                print(&format!("Topic {name} now has {total} partitions.\n"))
            }
        }
        TopicsCommand::Reassign(args) => reassign(&mut client, args, json).await,
        TopicsCommand::Delete { name } => {
            client.delete_topic(&name).await?;
            if json {
                print_json(&json!({"topic": name, "deleted": true}))
            } else {
                print(&format!("Deleted topic {name}.\n"))
            }
        }
    }
}

async fn reassign(client: &mut Client, args: ReassignArgs, json: bool) -> Result<(), ToolError> {
    let ReassignArgs {
        topic,
        partition,
        topics,
        brokers,
        throttle,
        action,
    } = args;
    if action.generate {
        return generate_plan(client, &topics, &brokers, json).await;
    }
    if let Some(file) = &action.execute {
        return execute_plan(client, file, throttle, json).await;
    }
    if let Some(file) = &action.verify {
        return verify_plan(client, file, json).await;
    }
    if action.list {
        let filter: Option<Vec<TopicPartition>> = match (&topic, partition) {
            (None, None) => None,
            (Some(t), Some(p)) => Some(vec![TopicPartition::new(t, p)]),
            (Some(t), None) => {
                let partitions = client.topic_metadata(t).await?.partitions.len() as i32;
                Some((0..partitions).map(|p| TopicPartition::new(t, p)).collect())
            }
            (None, Some(_)) => {
                return Err(ToolError::Input("--partition needs --topic".into()));
            }
        };
        let ongoing = client
            .list_partition_reassignments(filter.as_deref())
            .await?;
        return if json {
            print_json(&reassignments_json(&ongoing))
        } else {
            print(&reassignments_table(&ongoing))
        };
    }
    // Required unless --list (clap checks).
    let (Some(topic), Some(partition)) = (topic, partition) else {
        return Err(ToolError::Input("give --topic and --partition".into()));
    };
    let tp = TopicPartition::new(topic, partition);
    let target = action.replicas;
    client
        .alter_partition_reassignments(&[(tp.clone(), target.clone())])
        .await?
        .pop()
        .expect("one result per partition")?;
    match (target, json) {
        (Some(r), true) => print_json(&json!({
            "topic": tp.topic, "partition": tp.partition, "replicas": r,
        })),
        (Some(r), false) => print(&format!(
            "Reassigning {tp} to brokers {}; `vltava topics reassign --list` shows it until it completes.\n",
            id_list(&r)
        )),
        (None, true) => print_json(&json!({
            "topic": tp.topic, "partition": tp.partition, "cancelled": true,
        })),
        (None, false) => print(&format!("Cancelled the reassignment of {tp}.\n")),
    }
}

async fn plan_topics(client: &mut Client, names: &[&str]) -> Result<Vec<TopicMetadata>, ToolError> {
    let mut topics = Vec::with_capacity(names.len());
    for name in names {
        topics.push(client.topic_metadata(name).await?);
    }
    Ok(topics)
}

async fn generate_plan(
    client: &mut Client,
    names: &[String],
    to: &[i32],
    json: bool,
) -> Result<(), ToolError> {
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let topics = plan_topics(client, &names).await?;
    let brokers = client.metadata(Some(&[])).await?.brokers;
    let current = reassign_plan::current(&topics);
    let proposed = reassign_plan::generate(&topics, &brokers, to)?;
    if json {
        return print_json(&json!({
            "current": reassign_plan::plan_json(&current),
            "proposed": reassign_plan::plan_json(&proposed),
        }));
    }
    print(&format!(
        "Current partition replica assignment (keep it to roll back):\n{}\n\nProposed partition reassignment configuration:\n{}\n",
        reassign_plan::plan_json(&current),
        reassign_plan::plan_json(&proposed)
    ))
}

/// A plan's replica assignments, and the replicas it puts in a given log
/// directory.
type Plan = (Vec<reassign_plan::Assignment>, Vec<reassign_plan::DirMove>);

fn read_plan(file: &std::path::Path) -> Result<Plan, ToolError> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| ToolError::Input(format!("cannot read {}: {e}", file.display())))?;
    Ok((
        reassign_plan::parse_plan(&text)?,
        reassign_plan::parse_log_dirs(&text)?,
    ))
}

/// Asks each broker to put its replicas of `dirs` in the plan's log
/// directories (AlterReplicaLogDirs, as kafka-reassign-partitions does).
/// A replica the broker does not host yet is created there when it comes.
/// Returns what was started and what was refused, a line each.
async fn move_log_dirs(
    client: &mut Client,
    dirs: &[reassign_plan::DirMove],
) -> Result<(Vec<String>, Vec<String>), ToolError> {
    let mut brokers: Vec<i32> = dirs.iter().map(|d| d.broker).collect();
    brokers.sort_unstable();
    brokers.dedup();
    let (mut started, mut refused) = (Vec::new(), Vec::new());
    for broker in brokers {
        let moves: Vec<(String, i32, String)> = dirs
            .iter()
            .filter(|d| d.broker == broker)
            .map(|d| (d.topic.clone(), d.partition, d.dir.clone()))
            .collect();
        let answers = client.alter_replica_log_dirs(broker, &moves).await?;
        for (topic, partition, code) in answers {
            let dir = moves
                .iter()
                .find(|(t, p, _)| *t == topic && *p == partition)
                .map_or("?", |(_, _, d)| d.as_str());
            match code {
                ErrorCode::NONE => started.push(format!(
                    "Started moving {topic}-{partition} on broker {broker} to {dir}"
                )),
                ErrorCode::NOT_LEADER_OR_FOLLOWER | ErrorCode::REPLICA_NOT_AVAILABLE => started
                    .push(format!(
                        "{topic}-{partition} will be created in {dir} when broker {broker} gets it"
                    )),
                code => refused.push(format!(
                    "{topic}-{partition} on broker {broker} to {dir}: {}",
                    code.name()
                )),
            }
        }
    }
    Ok((started, refused))
}

/// Where each replica a plan puts in a log directory is: complete (in it,
/// no copy under way), moving (a copy into it under way), or elsewhere.
async fn log_dir_states(
    client: &mut Client,
    dirs: &[reassign_plan::DirMove],
) -> Result<Vec<(reassign_plan::DirMove, &'static str, Option<String>)>, ToolError> {
    let mut brokers: Vec<i32> = dirs.iter().map(|d| d.broker).collect();
    brokers.sort_unstable();
    brokers.dedup();
    let mut described = std::collections::BTreeMap::new();
    for broker in brokers {
        described.insert(broker, client.describe_log_dirs(broker).await?);
    }
    Ok(dirs
        .iter()
        .map(|d| {
            let mut current = None;
            let mut future = None;
            for ld in &described[&d.broker] {
                for r in &ld.replicas {
                    if r.topic == d.topic && r.partition == d.partition {
                        if r.is_future {
                            future = Some(ld.path.clone());
                        } else {
                            current = Some(ld.path.clone());
                        }
                    }
                }
            }
            let state = match (&current, &future) {
                (Some(c), None) if *c == d.dir => "complete",
                (_, Some(f)) if *f == d.dir => "moving",
                _ => "elsewhere",
            };
            (d.clone(), state, current)
        })
        .collect())
}

async fn execute_plan(
    client: &mut Client,
    file: &std::path::Path,
    throttle: Option<i64>,
    json: bool,
) -> Result<(), ToolError> {
    let (plan, dirs) = read_plan(file)?;
    let mut names: Vec<&str> = plan.iter().map(|a| a.topic.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    let topics = plan_topics(client, &names).await?;
    let current: Vec<_> = reassign_plan::current(&topics)
        .into_iter()
        .filter(|c| {
            plan.iter()
                .any(|a| a.topic == c.topic && a.partition == c.partition)
        })
        .collect();
    if let Some(rate) = throttle {
        set_throttles(client, &plan, &current, rate).await?;
    }
    let moves: Vec<(TopicPartition, Option<Vec<i32>>)> = plan
        .iter()
        .map(|a| {
            (
                TopicPartition::new(&a.topic, a.partition),
                Some(a.replicas.clone()),
            )
        })
        .collect();
    let results = client.alter_partition_reassignments(&moves).await?;
    let mut refused = Vec::new();
    for ((tp, _), result) in moves.iter().zip(results) {
        if let Err(e) = result {
            refused.push(format!("{tp}: {e}"));
        }
    }
    let submitted = moves.len() - refused.len();
    let (dirs_started, dirs_refused) = move_log_dirs(client, &dirs).await?;
    refused.extend(dirs_refused);
    if json {
        print_json(&json!({
            "current": reassign_plan::plan_json(&current),
            "submitted": submitted,
            "log_dirs": dirs_started,
            "refused": refused,
        }))?;
    } else {
        let mut text = format!(
            "Current partition replica assignment (keep it to roll back):\n{}\n\nSubmitted the reassignment of {submitted} partition(s); `vltava topics reassign --verify {}` tells how far it got.\n",
            reassign_plan::plan_json(&current),
            file.display()
        );
        for line in &dirs_started {
            text.push_str(line);
            text.push('\n');
        }
        print(&text)?;
    }
    if refused.is_empty() {
        Ok(())
    } else {
        Err(ToolError::Input(format!("refused: {}", refused.join("; "))))
    }
}

/// The throttled replica lists of a move, per topic: the leader side on
/// the current replicas (where the data comes from), the follower side on
/// the ones joining (as kafka-reassign-partitions sets them).
fn throttled_replicas(
    plan: &[reassign_plan::Assignment],
    current: &[reassign_plan::Assignment],
) -> std::collections::BTreeMap<String, (Vec<String>, Vec<String>)> {
    let mut lists: std::collections::BTreeMap<String, (Vec<String>, Vec<String>)> =
        Default::default();
    for a in plan {
        let Some(now) = current
            .iter()
            .find(|c| c.topic == a.topic && c.partition == a.partition)
        else {
            continue;
        };
        let entry = lists.entry(a.topic.clone()).or_default();
        for r in &now.replicas {
            entry.0.push(format!("{}:{r}", a.partition));
        }
        for r in a.replicas.iter().filter(|r| !now.replicas.contains(r)) {
            entry.1.push(format!("{}:{r}", a.partition));
        }
    }
    lists
}

const THROTTLE_RATES: [&str; 2] = [
    "leader.replication.throttled.rate",
    "follower.replication.throttled.rate",
];
const THROTTLED_REPLICAS: [&str; 2] = [
    "leader.replication.throttled.replicas",
    "follower.replication.throttled.replicas",
];

async fn set_throttles(
    client: &mut Client,
    plan: &[reassign_plan::Assignment],
    current: &[reassign_plan::Assignment],
    rate: i64,
) -> Result<(), ToolError> {
    let mut brokers: Vec<i32> = plan
        .iter()
        .flat_map(|a| a.replicas.iter().copied())
        .chain(current.iter().flat_map(|c| c.replicas.iter().copied()))
        .collect();
    brokers.sort_unstable();
    brokers.dedup();
    for id in brokers {
        let ops: Vec<AlterConfigOp> = THROTTLE_RATES
            .iter()
            .map(|k| AlterConfigOp::Set(k.to_string(), rate.to_string()))
            .collect();
        client
            .alter_configs(&ConfigResource::Broker(id), &ops)
            .await?;
    }
    for (topic, (leader, follower)) in throttled_replicas(plan, current) {
        let ops = vec![
            AlterConfigOp::Set(THROTTLED_REPLICAS[0].into(), leader.join(",")),
            AlterConfigOp::Set(THROTTLED_REPLICAS[1].into(), follower.join(",")),
        ];
        client
            .alter_configs(&ConfigResource::Topic(topic), &ops)
            .await?;
    }
    Ok(())
}

/// After a complete plan: the throttles `--execute --throttle` set go,
/// from the topics and from every broker holding a replica of them, as
/// kafka-reassign-partitions --verify removes them. A broker without a
/// throttle is left as it is.
async fn remove_throttles(
    client: &mut Client,
    plan: &[reassign_plan::Assignment],
    topics: &[TopicMetadata],
    json: bool,
) -> Result<(), ToolError> {
    let mut removed = false;
    for topic in topics {
        let resource = ConfigResource::Topic(topic.name.clone());
        removed |= delete_overrides(
            client,
            &resource,
            &THROTTLED_REPLICAS,
            ConfigSource::DynamicTopic,
        )
        .await?;
    }
    let mut brokers: Vec<i32> = plan
        .iter()
        .flat_map(|a| a.replicas.iter().copied())
        .collect();
    brokers.sort_unstable();
    brokers.dedup();
    for id in brokers {
        let resource = ConfigResource::Broker(id);
        removed |= delete_overrides(
            client,
            &resource,
            &THROTTLE_RATES,
            ConfigSource::DynamicBroker,
        )
        .await?;
    }
    if removed && !json {
        print("Throttles removed.\n")?;
    }
    Ok(())
}

/// Deletes those of `keys` that `resource` has set at `source` (its own
/// dynamic level); whether there were any.
async fn delete_overrides(
    client: &mut Client,
    resource: &ConfigResource,
    keys: &[&str],
    source: ConfigSource,
) -> Result<bool, ToolError> {
    let entries = client.describe_configs(resource).await?;
    let ops: Vec<AlterConfigOp> = keys
        .iter()
        .filter(|k| entries.iter().any(|e| e.name == **k && e.source == source))
        .map(|k| AlterConfigOp::Delete(k.to_string()))
        .collect();
    if ops.is_empty() {
        return Ok(false);
    }
    client.alter_configs(resource, &ops).await?;
    Ok(true)
}

async fn verify_plan(
    client: &mut Client,
    file: &std::path::Path,
    json: bool,
) -> Result<(), ToolError> {
    use reassign_plan::MoveState;
    let (plan, dirs) = read_plan(file)?;
    let mut names: Vec<&str> = plan.iter().map(|a| a.topic.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    // A topic deleted since is reported as missing, not an error.
    let mut topics = Vec::new();
    for name in &names {
        match client.topic_metadata(name).await {
            Ok(t) => topics.push(t),
            Err(Error::Broker(e))
                if e.code == vltava_client::ErrorCode::UNKNOWN_TOPIC_OR_PARTITION => {}
            Err(e) => return Err(e.into()),
        }
    }
    let partitions: Vec<TopicPartition> = plan
        .iter()
        .filter(|a| topics.iter().any(|t| t.name == a.topic))
        .map(|a| TopicPartition::new(&a.topic, a.partition))
        .collect();
    let ongoing = if partitions.is_empty() {
        Vec::new()
    } else {
        client
            .list_partition_reassignments(Some(&partitions))
            .await?
    };
    let states = reassign_plan::progress(&plan, &topics, &ongoing);
    let complete = states
        .iter()
        .filter(|(_, s)| *s == MoveState::Complete)
        .count();
    let dir_states = log_dir_states(client, &dirs).await?;
    let dirs_complete = dir_states
        .iter()
        .filter(|(_, s, _)| *s == "complete")
        .count();
    if json {
        print_json(&json!({
            "log_dirs": dir_states.iter().map(|(d, state, current)| json!({
                "topic": d.topic, "partition": d.partition, "broker": d.broker,
                "dir": d.dir, "state": state, "current_dir": current,
            })).collect::<Vec<_>>(),
            "partitions": states.iter().map(|(tp, s)| {
                let (state, detail) = match s {
                    MoveState::Complete => ("complete", json!(null)),
                    MoveState::InProgress { adding, removing } => ("in_progress", json!({"adding": adding, "removing": removing})),
                    MoveState::Differs { replicas } => ("differs", json!({"replicas": replicas})),
                    MoveState::Missing => ("missing", json!(null)),
                };
                json!({"topic": tp.topic, "partition": tp.partition, "state": state, "detail": detail})
            }).collect::<Vec<_>>(),
            "complete": complete,
            "total": states.len(),
        }))?;
    } else {
        let mut text = String::new();
        for (tp, s) in &states {
            text.push_str(&match s {
                MoveState::Complete => format!("Reassignment of {tp} is complete.\n"),
                MoveState::InProgress { adding, removing } => format!(
                    "Reassignment of {tp} is still in progress (adding {}, removing {}).\n",
                    id_list(adding),
                    id_list(removing)
                ),
                MoveState::Differs { replicas } => format!(
                    "{tp} is on brokers {}, not the plan's: the reassignment was not submitted, was cancelled, or was replaced.\n",
                    id_list(replicas)
                ),
                MoveState::Missing => format!("{tp} does not exist.\n"),
            });
        }
        text.push_str(&format!(
            "{complete} of {} partition(s) complete.\n",
            states.len()
        ));
        for (d, state, current) in &dir_states {
            let replica = format!("{}-{} on broker {}", d.topic, d.partition, d.broker);
            text.push_str(&match *state {
                "complete" => format!("Replica {replica} is in {}.\n", d.dir),
                "moving" => format!(
                    "Replica {replica} is being copied to {} (from {}).\n",
                    d.dir,
                    current.as_deref().unwrap_or("?")
                ),
                _ => format!(
                    "Replica {replica} is in {}, not {}.\n",
                    current.as_deref().unwrap_or("no directory"),
                    d.dir
                ),
            });
        }
        if !dir_states.is_empty() {
            text.push_str(&format!(
                "{dirs_complete} of {} replica(s) in their log directories.\n",
                dir_states.len()
            ));
        }
        print(&text)?;
    }
    if complete == states.len() && dirs_complete == dir_states.len() {
        remove_throttles(client, &plan, &topics, json).await
    } else {
        Err(ToolError::Input(format!(
            "{} of {} partition(s) and {} of {} replica(s) not yet where the plan puts them",
            states.len() - complete,
            states.len(),
            dir_states.len() - dirs_complete,
            dir_states.len()
        )))
    }
}

fn reassignments_table(ongoing: &[PartitionReassignment]) -> String {
    let mut t = Table::new(&["TOPIC", "PARTITION", "REPLICAS", "ADDING", "REMOVING"]);
    for r in ongoing {
        t.push(vec![
            r.topic.clone(),
            r.partition.to_string(),
            id_list(&r.replicas),
            id_list(&r.adding_replicas),
            id_list(&r.removing_replicas),
        ]);
    }
    t.render()
}

fn reassignments_json(ongoing: &[PartitionReassignment]) -> serde_json::Value {
    json!({
        "reassignments": ongoing.iter().map(|r| json!({
            "topic": r.topic,
            "partition": r.partition,
            "replicas": r.replicas,
            "adding_replicas": r.adding_replicas,
            "removing_replicas": r.removing_replicas,
        })).collect::<Vec<_>>()
    })
}

fn created_text(c: &CreatedTopic) -> String {
    let mut details = Vec::new();
    if c.num_partitions >= 0 {
        details.push(format!("partitions: {}", c.num_partitions));
    }
    if c.replication_factor >= 0 {
        details.push(format!("replication factor: {}", c.replication_factor));
    }
    if !c.topic_id.is_zero() {
        details.push(format!("id: {}", c.topic_id));
    }
    if details.is_empty() {
        format!("Created topic {}.\n", c.name)
    } else {
        format!("Created topic {} ({}).\n", c.name, details.join(", "))
    }
}

fn created_json(c: &CreatedTopic) -> serde_json::Value {
    json!({
        "topic": c.name,
        "topic_id": (!c.topic_id.is_zero()).then(|| c.topic_id.to_string()),
        "partitions": (c.num_partitions >= 0).then_some(c.num_partitions),
        "replication_factor": (c.replication_factor >= 0).then_some(c.replication_factor),
    })
}

fn list_table(topics: &[TopicMetadata]) -> String {
    let mut t = Table::new(&["TOPIC", "PARTITIONS", "REPLICATION_FACTOR"]);
    for topic in topics {
        let name = if topic.is_internal {
            format!("{} (internal)", topic.name)
        } else {
            topic.name.clone()
        };
        t.push(vec![
            name,
            topic.partitions.len().to_string(),
            topic.replication_factor().to_string(),
        ]);
    }
    t.render()
}

/// A topic with its overridden configuration (`None` when the broker could
/// not say).
struct Described {
    topic: TopicMetadata,
    overrides: Option<Vec<ConfigEntry>>,
}

async fn describe(client: &mut Client, name: Option<&str>) -> Result<Vec<Described>, ToolError> {
    let topics = match name {
        Some(name) => vec![client.topic_metadata(name).await?],
        None => {
            let mut ts: Vec<TopicMetadata> = client
                .metadata(None)
                .await?
                .topics
                .into_iter()
                .filter(|t| !t.error.is_error())
                .collect();
            ts.sort_by(|a, b| a.name.cmp(&b.name));
            ts
        }
    };
    let mut out = Vec::with_capacity(topics.len());
    for topic in topics {
        let overrides = match client
            .describe_configs(&ConfigResource::Topic(topic.name.clone()))
            .await
        {
            Ok(entries) => Some(
                entries
                    .into_iter()
                    .filter(|e| e.source == ConfigSource::DynamicTopic)
                    .collect(),
            ),
            Err(e @ Error::UnsupportedVersion { .. }) => {
                eprintln!("warning: configs not shown: {e}");
                None
            }
            Err(e) => return Err(e.into()),
        };
        out.push(Described { topic, overrides });
    }
    Ok(out)
}

fn config_value(e: &ConfigEntry) -> String {
    match (&e.value, e.is_sensitive) {
        (_, true) => "(sensitive)".to_string(),
        (Some(v), false) => v.clone(),
        (None, false) => "(null)".to_string(),
    }
}

fn describe_text(described: &[Described]) -> String {
    let mut topics = Table::new(&["TOPIC", "ID", "PARTITIONS", "REPLICATION_FACTOR", "CONFIGS"]);
    let mut partitions =
        Table::new(&["TOPIC", "PARTITION", "LEADER", "REPLICAS", "ISR", "OFFLINE"]);
    for d in described {
        let t = &d.topic;
        let configs = match &d.overrides {
            Some(entries) => entries
                .iter()
                .map(|e| format!("{}={}", e.name, config_value(e)))
                .collect::<Vec<_>>()
                .join(","),
            None => "?".to_string(),
        };
        topics.push(vec![
            t.name.clone(),
            if t.topic_id.is_zero() {
                "-".to_string()
            } else {
                t.topic_id.to_string()
            },
            t.partitions.len().to_string(),
            t.replication_factor().to_string(),
            configs,
        ]);
        for p in &t.partitions {
            partitions.push(vec![
                t.name.clone(),
                p.partition.to_string(),
                if p.leader < 0 {
                    "none".to_string()
                } else {
                    p.leader.to_string()
                },
                id_list(&p.replicas),
                id_list(&p.isr),
                id_list(&p.offline_replicas),
            ]);
        }
    }
    format!("{}\n{}", topics.render(), partitions.render())
}

fn describe_json(described: &[Described]) -> serde_json::Value {
    json!({
        "topics": described.iter().map(|d| {
            let t = &d.topic;
            json!({
                "name": t.name,
                "topic_id": (!t.topic_id.is_zero()).then(|| t.topic_id.to_string()),
                "internal": t.is_internal,
                "partitions": t.partitions.iter().map(|p| json!({
                    "partition": p.partition,
                    "leader": (p.leader >= 0).then_some(p.leader),
                    "leader_epoch": p.leader_epoch,
                    "replicas": p.replicas,
                    "isr": p.isr,
                    "offline_replicas": p.offline_replicas,
                })).collect::<Vec<_>>(),
                "configs": d.overrides.as_ref().map(|entries| entries.iter()
                    .map(|e| (e.name.clone(), if e.is_sensitive { serde_json::Value::Null } else { json!(e.value) }))
                    .collect::<serde_json::Map<_, _>>()),
            })
        }).collect::<Vec<_>>()
    })
}

#[cfg(test)]
mod tests {
    use vltava_client::{ErrorCode, PartitionMetadata, Uuid};

    use super::super::tests::parse;
    use super::super::ToolCommand;
    use super::*;

    fn topics(args: &[&str]) -> TopicsArgs {
        let mut full = vec!["topics"];
        full.extend_from_slice(args);
        match parse(&full).unwrap() {
            ToolCommand::Topics(t) => t,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn create_arguments() {
        let t = topics(&[
            "create",
            "orders",
            "--partitions",
            "3",
            "--replication-factor",
            "1",
            "--config",
            "retention.ms=60000",
            "--config",
            "cleanup.policy=compact",
            "--bootstrap",
            "h:1",
        ]);
        assert_eq!(t.common.bootstrap, "h:1");
        let TopicsCommand::Create {
            name,
            partitions,
            replication_factor,
            configs,
        } = t.command
        else {
            panic!()
        };
        assert_eq!(name, "orders");
        assert_eq!(partitions, Some(3));
        assert_eq!(replication_factor, Some(1));
        assert_eq!(
            configs,
            [
                ("retention.ms".to_string(), "60000".to_string()),
                ("cleanup.policy".to_string(), "compact".to_string())
            ]
        );
        // Broker defaults when not given.
        let TopicsCommand::Create {
            partitions,
            replication_factor,
            ..
        } = topics(&["create", "x"]).command
        else {
            panic!()
        };
        assert_eq!((partitions, replication_factor), (None, None));
    }

    #[test]
    fn bad_arguments_are_refused() {
        assert!(parse(&["topics", "create", "x", "--partitions", "0"]).is_err());
        assert!(parse(&["topics", "create", "x", "--config", "novalue"]).is_err());
        assert!(parse(&["topics", "create"]).is_err());
        assert!(parse(&["topics", "add-partitions", "x"]).is_err());
        assert!(parse(&["topics", "frobnicate"]).is_err());
    }

    #[test]
    fn global_options_go_before_or_after_the_subcommand() {
        let t = topics(&["--output", "json", "list", "--exclude-internal"]);
        assert!(t.common.json());
        assert!(matches!(
            t.command,
            TopicsCommand::List {
                exclude_internal: true,
                under_replicated: false,
                unavailable: false,
            }
        ));
        let t = topics(&["describe", "--output", "json"]);
        assert!(t.common.json());
        assert!(matches!(t.command, TopicsCommand::Describe { name: None }));
    }

    #[test]
    fn alter_config_and_other_subcommands() {
        let TopicsCommand::AlterConfig { name, set, delete } = topics(&[
            "alter-config",
            "t",
            "--set",
            "retention.ms=1",
            "--delete",
            "cleanup.policy",
            "--delete",
            "segment.bytes",
        ])
        .command
        else {
            panic!()
        };
        assert_eq!(name, "t");
        assert_eq!(set, [("retention.ms".to_string(), "1".to_string())]);
        assert_eq!(delete, ["cleanup.policy", "segment.bytes"]);
        assert!(matches!(
            topics(&["add-partitions", "t", "--total", "6"]).command,
            TopicsCommand::AddPartitions { total: 6, .. }
        ));
        assert!(matches!(
            topics(&["delete", "t"]).command,
            TopicsCommand::Delete { .. }
        ));
    }

    #[test]
    fn reassign_arguments() {
        let TopicsCommand::Reassign(r) = topics(&[
            "reassign",
            "--topic",
            "t",
            "--partition",
            "2",
            "--replicas",
            "3,1,2",
        ])
        .command
        else {
            panic!()
        };
        assert_eq!((r.topic.as_deref(), r.partition), (Some("t"), Some(2)));
        assert_eq!(r.action.replicas, Some(vec![3, 1, 2]));
        let TopicsCommand::Reassign(r) = topics(&["reassign", "--list"]).command else {
            panic!()
        };
        assert!(r.action.list && r.topic.is_none());
        let TopicsCommand::Reassign(r) =
            topics(&["reassign", "--cancel", "--topic", "t", "--partition", "0"]).command
        else {
            panic!()
        };
        assert!(r.action.cancel);
        // Exactly one action; a move or a cancel names its partition.
        for bad in [
            &["topics", "reassign", "--topic", "t", "--partition", "0"][..],
            &["topics", "reassign", "--list", "--cancel"],
            &["topics", "reassign", "--replicas", "1,2", "--topic", "t"],
            &["topics", "reassign", "--cancel", "--partition", "0"],
            &[
                "topics",
                "reassign",
                "--replicas",
                "1,x",
                "--topic",
                "t",
                "--partition",
                "0",
            ],
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn reassignments_output() {
        let ongoing = vec![PartitionReassignment {
            topic: "orders".into(),
            partition: 1,
            replicas: vec![2, 3, 1],
            adding_replicas: vec![3],
            removing_replicas: vec![1],
        }];
        assert_eq!(
            reassignments_table(&ongoing),
            "TOPIC   PARTITION  REPLICAS  ADDING  REMOVING\n\
             orders  1          2,3,1     3       1\n"
        );
        assert_eq!(
            reassignments_json(&ongoing)["reassignments"][0]["adding_replicas"],
            json!([3])
        );
        assert_eq!(
            reassignments_table(&[]),
            "TOPIC  PARTITION  REPLICAS  ADDING  REMOVING\n"
        );
    }

    fn partition(p: i32, leader: i32, replicas: &[i32], isr: &[i32]) -> PartitionMetadata {
        PartitionMetadata {
            partition: p,
            leader,
            leader_epoch: 0,
            replicas: replicas.to_vec(),
            isr: isr.to_vec(),
            offline_replicas: vec![],
            error: ErrorCode::NONE,
        }
    }

    fn sample() -> Vec<Described> {
        vec![
            Described {
                topic: TopicMetadata {
                    name: "orders".into(),
                    topic_id: Uuid([0xff; 16]),
                    is_internal: false,
                    error: ErrorCode::NONE,
                    partitions: vec![
                        partition(0, 1, &[1, 2], &[1, 2]),
                        partition(1, -1, &[2, 1], &[]),
                    ],
                },
                overrides: Some(vec![ConfigEntry {
                    name: "retention.ms".into(),
                    value: Some("60000".into()),
                    source: ConfigSource::DynamicTopic,
                    is_default: false,
                    read_only: false,
                    is_sensitive: false,
                }]),
            },
            Described {
                topic: TopicMetadata {
                    name: "t".into(),
                    topic_id: Uuid::ZERO,
                    is_internal: false,
                    error: ErrorCode::NONE,
                    partitions: vec![partition(0, 1, &[1], &[1])],
                },
                overrides: None,
            },
        ]
    }

    #[test]
    fn describe_table() {
        assert_eq!(
            describe_text(&sample()),
            "TOPIC   ID                      PARTITIONS  REPLICATION_FACTOR  CONFIGS\n\
             orders  _____________________w  2           2                   retention.ms=60000\n\
             t       -                       1           1                   ?\n\
             \n\
             TOPIC   PARTITION  LEADER  REPLICAS  ISR  OFFLINE\n\
             orders  0          1       1,2       1,2\n\
             orders  1          none    2,1\n\
             t       0          1       1         1\n"
        );
    }

    #[test]
    fn describe_json_document() {
        let v = describe_json(&sample());
        assert_eq!(v["topics"][0]["configs"]["retention.ms"], "60000");
        assert_eq!(
            v["topics"][0]["partitions"][1]["leader"],
            serde_json::Value::Null
        );
        assert_eq!(v["topics"][0]["partitions"][0]["isr"], json!([1, 2]));
        assert_eq!(v["topics"][1]["configs"], serde_json::Value::Null);
        assert_eq!(v["topics"][1]["topic_id"], serde_json::Value::Null);
    }

    #[test]
    fn list_and_create_output() {
        let t: Vec<TopicMetadata> = sample().into_iter().map(|d| d.topic).collect();
        assert_eq!(
            list_table(&t),
            "TOPIC   PARTITIONS  REPLICATION_FACTOR\norders  2           2\nt       1           1\n"
        );
        let c = CreatedTopic {
            name: "x".into(),
            topic_id: Uuid::ZERO,
            num_partitions: 3,
            replication_factor: 1,
        };
        assert_eq!(
            created_text(&c),
            "Created topic x (partitions: 3, replication factor: 1).\n"
        );
        assert_eq!(
            created_json(&c).to_string(),
            r#"{"partitions":3,"replication_factor":1,"topic":"x","topic_id":null}"#
        );
    }
}
