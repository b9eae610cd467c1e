//! `vltava groups ...`: list, describe and delete consumer groups, and
//! reset their committed offsets, after Kafka's `kafka-consumer-groups.sh`.
//!
//! - `list`: every group with its state and protocol type.
//! - `describe GROUP`: the group's coordinator, assignment strategy, state
//!   and members, and per partition the committed offset, the log-end
//!   offset, the lag (log end - committed; `-` where nothing is committed)
//!   and the member it is assigned to (`-` for none).
//! - `lag GROUP`: per partition the committed offset, log end, lag and
//!   consumer (as `describe`), with each partition's and the group's
//!   status by Burrow's rules, read from the HTTP listener of the node
//!   that coordinates the group (`--http`); `--watch` repeats it.
//! - `delete GROUP...`: groups without members, with their offsets.
//! - `reset-offsets GROUP`: computes new offsets (earliest, latest, an
//!   offset, a shift, or the first offset at a time) for the chosen
//!   partitions, prints them, and with `--execute` commits them. As in
//!   Kafka, only while the group has no members (state Empty or Dead).

use std::collections::BTreeMap;

use clap::{Args, Subcommand};
use serde_json::json;
use vltava_client::{
    Client, CommittedOffset, Error, GroupDescription, GroupMember, ListedGroup, OffsetSpec,
    OffsetToCommit, TopicPartition,
};

use super::output::Table;
use super::{print, print_json, Common, ToolError};

#[derive(Args, Debug)]
pub struct GroupsArgs {
    #[command(flatten)]
    pub common: Common,
    #[command(subcommand)]
    pub command: GroupsCommand,
}

#[derive(Subcommand, Debug)]
pub enum GroupsCommand {
    /// List the groups with their state and protocol type.
    List,
    /// Show a group's state and members, and per partition its committed
    /// offset, log-end offset, lag and consumer.
    Describe {
        /// The group.
        group: String,
        /// Show only the group's coordinator, strategy, state and member count.
        #[arg(long)]
        state: bool,
        /// Show only the members and their assignments.
        #[arg(long)]
        members: bool,
        /// Show only the per-partition offsets and lag.
        #[arg(long)]
        offsets: bool,
    },
    /// Show a group's lag per partition with its status by Burrow's rules
    /// (OK, WARN, STOP, STALL, REWIND), as judged by the node coordinating it.
    Lag(LagArgs),
    /// Delete groups that have no members, with their committed offsets.
    Delete {
        #[arg(required = true, value_name = "GROUP")]
        groups: Vec<String>,
    },
    /// Move a group's committed offsets (only while it has no members).
    ResetOffsets(ResetArgs),
}

#[derive(Args, Debug)]
pub struct LagArgs {
    /// The group.
    pub group: String,
    /// The HTTP listener (`http.listeners`) of the node that coordinates
    /// the group, HOST:PORT or a URL: it keeps the window of commits
    /// Burrow's rules judge. A single node's default is 127.0.0.1:9644.
    #[arg(long, value_name = "HOST:PORT", default_value = "127.0.0.1:9644")]
    pub http: String,
    /// Show it again every --interval seconds, until Ctrl-C.
    #[arg(long)]
    pub watch: bool,
    /// CA certificates (PEM) to trust for an https:// --http (default:
    /// the public web's roots).
    #[arg(long, value_name = "FILE")]
    pub http_ca: Option<std::path::PathBuf>,
    /// User for an HTTP listener with `http.authentication=basic`; the
    /// password is read from the VLTAVA_HTTP_PASSWORD environment variable
    /// (not an argument, which other users of the machine can see).
    #[arg(long, value_name = "USER")]
    pub http_user: Option<String>,
    /// Seconds between two looks with --watch.
    #[arg(long, value_name = "SECONDS", default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..))]
    pub interval: u64,
}

#[derive(Args, Debug)]
pub struct ResetArgs {
    /// The group.
    pub group: String,
    /// A topic to reset, TOPIC or TOPIC:P,P,... (repeatable).
    #[arg(
        long = "topic",
        value_name = "TOPIC[:P,...]",
        required_unless_present = "all_topics"
    )]
    pub topics: Vec<String>,
    /// Every topic the group has committed offsets for.
    #[arg(long, conflicts_with = "topics")]
    pub all_topics: bool,
    /// Only this partition of the --topic topics (repeatable).
    #[arg(long = "partition", value_name = "N", value_parser = clap::value_parser!(i32).range(0..), requires = "topics")]
    pub partitions: Vec<i32>,
    #[command(flatten)]
    pub target: ResetTarget,
    #[command(flatten)]
    pub mode: ResetMode,
}

/// Where the new offsets are: exactly one.
#[derive(Args, Debug, Clone, PartialEq, Eq)]
#[group(required = true, multiple = false)]
pub struct ResetTarget {
    /// The earliest offset (the log start).
    #[arg(long)]
    pub to_earliest: bool,
    /// The latest offset (the log end: nothing left to consume).
    #[arg(long)]
    pub to_latest: bool,
    /// This offset (kept within the log's earliest and latest).
    #[arg(long, value_name = "OFFSET", value_parser = clap::value_parser!(i64).range(0..))]
    pub to_offset: Option<i64>,
    /// The committed offset moved by N, forward or back (kept within the
    /// log's earliest and latest).
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub shift_by: Option<i64>,
    /// The first offset whose timestamp is at or after TS, ISO-8601:
    /// YYYY-MM-DDTHH:mm:SS.sss with an optional zone (Z, +hh, +hhmm,
    /// +hh:mm); UTC without one. The latest offset where no record is that new.
    #[arg(long, value_name = "TS", value_parser = parse_datetime)]
    pub to_datetime: Option<i64>,
}

/// Whether to commit the new offsets: exactly one.
#[derive(Args, Debug, Clone, Copy, PartialEq, Eq)]
#[group(required = true, multiple = false)]
pub struct ResetMode {
    /// Print the new offsets without committing them.
    #[arg(long)]
    pub dry_run: bool,
    /// Commit the new offsets.
    #[arg(long)]
    pub execute: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    Earliest,
    Latest,
    Offset(i64),
    ShiftBy(i64),
    Datetime(i64),
}

impl ResetTarget {
    fn target(&self) -> Target {
        if self.to_earliest {
            Target::Earliest
        } else if self.to_latest {
            Target::Latest
        } else if let Some(o) = self.to_offset {
            Target::Offset(o)
        } else if let Some(n) = self.shift_by {
            Target::ShiftBy(n)
        } else if let Some(ts) = self.to_datetime {
            Target::Datetime(ts)
        } else {
            unreachable!("clap requires one target")
        }
    }
}

pub async fn run(args: GroupsArgs) -> Result<(), ToolError> {
    let json = args.common.json();
    let mut client = args.common.connect().await?;
    match args.command {
        GroupsCommand::List => {
            let groups = client.list_groups().await?;
            if json {
                print_json(&list_json(&groups))
            } else {
                print(&list_table(&groups))
            }
        }
        GroupsCommand::Describe {
            group,
            state,
            members,
            offsets,
        } => {
            let described = describe(&mut client, &group).await?;
            if json {
                return print_json(&describe_json(&described));
            }
            if described.group.state == "PreparingRebalance"
                || described.group.state == "CompletingRebalance"
            {
                eprintln!("Warning: consumer group '{group}' is rebalancing.");
            }
            let all = !(state || members || offsets);
            let sections = Sections {
                state: all || state,
                members: all || members,
                offsets: all || offsets,
            };
            print(&describe_text(&described, sections))
        }
        GroupsCommand::Lag(lag) => {
            let http = lag_http_client(&lag)?;
            let terminal = std::io::IsTerminal::is_terminal(&std::io::stdout());
            loop {
                let described = describe(&mut client, &lag.group).await?;
                let statuses = burrow_statuses(&http, &lag).await;
                if let Err(why) = &statuses {
                    eprintln!(
                        "Warning: no status for group '{}' from {}: {why} (its coordinator is node {}; point --http at that node's HTTP listener)",
                        lag.group, lag.http, described.group.coordinator.node_id
                    );
                }
                let statuses = statuses.unwrap_or_default();
                if json {
                    print_json(&lag_json(&described, &statuses))?;
                } else {
                    if lag.watch && terminal {
                        // Clear the screen and go home, as `watch` does.
                        print!("\x1b[2J\x1b[H");
                    }
                    print(&lag_text(&described, &statuses))?;
                }
                if !lag.watch {
                    return Ok(());
                }
                tokio::select! {
                    _ = tokio::time::sleep(std::time::Duration::from_secs(lag.interval)) => {}
                    _ = tokio::signal::ctrl_c() => return Ok(()),
                }
                if !terminal && !json {
                    println!();
                }
            }
        }
        GroupsCommand::Delete { groups } => {
            let names: Vec<&str> = groups.iter().map(String::as_str).collect();
            let results = client.delete_groups(&names).await?;
            let failures: Vec<String> = names
                .iter()
                .zip(&results)
                .filter_map(|(g, r)| r.as_ref().err().map(|e| format!("group '{g}': {e}")))
                .collect();
            if json {
                print_json(&json!({
                    "groups": names.iter().zip(&results).map(|(g, r)| json!({
                        "group": g,
                        "deleted": r.is_ok(),
                        "error": r.as_ref().err().map(|e| e.to_string()),
                    })).collect::<Vec<_>>()
                }))?;
            } else {
                for (g, r) in names.iter().zip(&results) {
                    if r.is_ok() {
                        print(&format!("Deleted group '{g}'.\n"))?;
                    }
                }
            }
            if failures.is_empty() {
                Ok(())
            } else {
                Err(ToolError::Input(format!(
                    "deleting {} of {} groups failed:\n  {}",
                    failures.len(),
                    names.len(),
                    failures.join("\n  ")
                )))
            }
        }
        GroupsCommand::ResetOffsets(reset) => {
            let execute = reset.mode.execute;
            let plan = plan_reset(&mut client, &reset).await?;
            if execute {
                let offsets: Vec<OffsetToCommit> = plan
                    .iter()
                    .map(|p| {
                        OffsetToCommit::new(p.partition.topic.clone(), p.partition.partition, p.new)
                    })
                    .collect();
                client.commit_offsets(&reset.group, &offsets).await?;
            }
            if json {
                print_json(&reset_json(&reset.group, &plan, execute))
            } else {
                print(&reset_table(&reset.group, &plan))
            }
        }
    }
}

// ---- list ------------------------------------------------------------

fn list_table(groups: &[ListedGroup]) -> String {
    let mut t = Table::new(&["GROUP", "STATE", "PROTOCOL-TYPE"]);
    for g in groups {
        t.push(vec![
            g.group_id.clone(),
            g.state.clone().unwrap_or_else(|| "-".to_string()),
            g.protocol_type.clone(),
        ]);
    }
    t.render()
}

fn list_json(groups: &[ListedGroup]) -> serde_json::Value {
    json!({
        "groups": groups.iter().map(|g| json!({
            "group": g.group_id,
            "state": g.state,
            "protocol_type": g.protocol_type,
            "group_type": g.group_type,
        })).collect::<Vec<_>>()
    })
}

// ---- describe --------------------------------------------------------

/// A group with what `describe` shows of it.
struct Described {
    group: GroupDescription,
    rows: Vec<OffsetRow>,
}

/// One line of the offsets table.
#[derive(Debug, Clone, PartialEq, Eq)]
struct OffsetRow {
    /// `None` for a member without partitions.
    partition: Option<TopicPartition>,
    committed: Option<i64>,
    log_end: Option<i64>,
    /// Index into the group's members.
    member: Option<usize>,
}

impl OffsetRow {
    fn lag(&self) -> Option<i64> {
        Some(self.log_end? - self.committed?)
    }
}

/// The rows of the offsets table, as Kafka's tool builds them: every
/// assigned partition with its member, every other partition with a
/// committed offset without one, and every member without partitions;
/// sorted by topic and partition, partition-less members last.
fn offset_rows(
    group: &GroupDescription,
    committed: &[CommittedOffset],
    log_end: &dyn Fn(&TopicPartition) -> Option<i64>,
) -> Vec<OffsetRow> {
    let mut by_partition: BTreeMap<TopicPartition, (Option<i64>, Option<usize>)> = BTreeMap::new();
    let mut idle_members = Vec::new();
    for (i, m) in group.members.iter().enumerate() {
        let assigned = m
            .consumer_assignment
            .as_ref()
            .map_or(&[][..], |a| &a.partitions[..]);
        if assigned.is_empty() {
            idle_members.push(i);
        }
        for tp in assigned {
            by_partition.entry(tp.clone()).or_default().1 = Some(i);
        }
    }
    for c in committed {
        if let Some(offset) = c.offset {
            by_partition
                .entry(TopicPartition::new(c.topic.clone(), c.partition))
                .or_default()
                .0 = Some(offset);
        }
    }
    let mut rows: Vec<OffsetRow> = by_partition
        .into_iter()
        .map(|(tp, (committed, member))| OffsetRow {
            log_end: log_end(&tp),
            partition: Some(tp),
            committed,
            member,
        })
        .collect();
    rows.extend(idle_members.into_iter().map(|i| OffsetRow {
        partition: None,
        committed: None,
        log_end: None,
        member: Some(i),
    }));
    rows
}

async fn describe(client: &mut Client, group: &str) -> Result<Described, ToolError> {
    let description = client.describe_group(group).await?;
    if description.state == "Dead" {
        return Err(ToolError::Input(format!(
            "consumer group '{group}' does not exist"
        )));
    }
    let committed = client.fetch_offsets(group, None).await?;
    // The log-end offset of every partition that will be shown.
    let mut partitions: Vec<TopicPartition> = committed
        .iter()
        .filter(|c| c.offset.is_some())
        .map(|c| TopicPartition::new(c.topic.clone(), c.partition))
        .collect();
    for m in &description.members {
        if let Some(a) = &m.consumer_assignment {
            partitions.extend(a.partitions.iter().cloned());
        }
    }
    partitions.sort();
    partitions.dedup();
    let mut ends: BTreeMap<TopicPartition, Option<i64>> = BTreeMap::new();
    for tp in partitions {
        let end = match client
            .list_offsets(&tp.topic, tp.partition, OffsetSpec::Latest)
            .await
        {
            Ok(listed) => Some(listed.offset),
            // A deleted topic or partition: no log end to show.
            Err(Error::Broker(_) | Error::Invalid(_)) => None,
            Err(e) => return Err(e.into()),
        };
        ends.insert(tp, end);
    }
    let rows = offset_rows(&description, &committed, &|tp| {
        ends.get(tp).copied().flatten()
    });
    Ok(Described {
        group: description,
        rows,
    })
}

#[derive(Debug, Clone, Copy)]
struct Sections {
    state: bool,
    members: bool,
    offsets: bool,
}

fn dash(v: Option<impl ToString>) -> String {
    v.map_or_else(|| "-".to_string(), |v| v.to_string())
}

/// `topic(0,1),other(3)`, or `-` for nothing.
fn assignment_text(m: &GroupMember) -> String {
    let Some(a) = m
        .consumer_assignment
        .as_ref()
        .filter(|a| !a.partitions.is_empty())
    else {
        return "-".to_string();
    };
    let mut sorted: Vec<&TopicPartition> = a.partitions.iter().collect();
    sorted.sort();
    let mut topics: Vec<(String, Vec<String>)> = Vec::new();
    for tp in sorted {
        match topics.iter_mut().find(|(t, _)| *t == tp.topic) {
            Some((_, ps)) => ps.push(tp.partition.to_string()),
            None => topics.push((tp.topic.clone(), vec![tp.partition.to_string()])),
        }
    }
    topics
        .iter()
        .map(|(t, ps)| format!("{t}({})", ps.join(",")))
        .collect::<Vec<_>>()
        .join(",")
}

fn describe_text(d: &Described, sections: Sections) -> String {
    let g = &d.group;
    let id = &g.group_id;
    let mut parts: Vec<String> = Vec::new();
    if sections.state {
        let mut t = Table::new(&[
            "GROUP",
            "COORDINATOR (ID)",
            "ASSIGNMENT-STRATEGY",
            "STATE",
            "#MEMBERS",
        ]);
        t.push(vec![
            id.clone(),
            format!("{} ({})", g.coordinator.addr(), g.coordinator.node_id),
            if g.protocol.is_empty() {
                "-".to_string()
            } else {
                g.protocol.clone()
            },
            g.state.clone(),
            g.members.len().to_string(),
        ]);
        parts.push(t.render());
    }
    if g.members.is_empty() && (sections.members || sections.offsets) {
        parts.push(format!("Consumer group '{id}' has no active members.\n"));
    }
    if sections.members && !g.members.is_empty() {
        let mut t = Table::new(&[
            "GROUP",
            "CONSUMER-ID",
            "HOST",
            "CLIENT-ID",
            "#PARTITIONS",
            "ASSIGNMENT",
        ]);
        for m in &g.members {
            t.push(vec![
                id.clone(),
                m.member_id.clone(),
                m.client_host.clone(),
                m.client_id.clone(),
                m.consumer_assignment
                    .as_ref()
                    .map_or(0, |a| a.partitions.len())
                    .to_string(),
                assignment_text(m),
            ]);
        }
        parts.push(t.render());
    }
    if sections.offsets {
        let mut t = Table::new(&[
            "GROUP",
            "TOPIC",
            "PARTITION",
            "CURRENT-OFFSET",
            "LOG-END-OFFSET",
            "LAG",
            "CONSUMER-ID",
            "HOST",
            "CLIENT-ID",
        ]);
        for r in &d.rows {
            let member = r.member.map(|i| &g.members[i]);
            t.push(vec![
                id.clone(),
                dash(r.partition.as_ref().map(|tp| tp.topic.clone())),
                dash(r.partition.as_ref().map(|tp| tp.partition)),
                dash(r.committed),
                dash(r.log_end),
                dash(r.lag()),
                dash(member.map(|m| m.member_id.clone())),
                dash(member.map(|m| m.client_host.clone())),
                dash(member.map(|m| m.client_id.clone())),
            ]);
        }
        if !d.rows.is_empty() || !g.members.is_empty() {
            parts.push(t.render());
        }
    }
    parts.join("\n")
}

fn describe_json(d: &Described) -> serde_json::Value {
    let g = &d.group;
    json!({
        "group": g.group_id,
        "state": g.state,
        "protocol_type": g.protocol_type,
        "protocol": g.protocol,
        "coordinator": {
            "id": g.coordinator.node_id,
            "host": g.coordinator.host,
            "port": g.coordinator.port,
        },
        "members": g.members.iter().map(|m| json!({
            "member_id": m.member_id,
            "group_instance_id": m.group_instance_id,
            "client_id": m.client_id,
            "host": m.client_host,
            "assignment": m.consumer_assignment.as_ref().map(|a| a.partitions.iter().map(|tp| json!({
                "topic": tp.topic,
                "partition": tp.partition,
            })).collect::<Vec<_>>()),
        })).collect::<Vec<_>>(),
        "offsets": d.rows.iter().map(|r| {
            let member = r.member.map(|i| &g.members[i]);
            json!({
                "topic": r.partition.as_ref().map(|tp| &tp.topic),
                "partition": r.partition.as_ref().map(|tp| tp.partition),
                "current_offset": r.committed,
                "log_end_offset": r.log_end,
                "lag": r.lag(),
                "consumer_id": member.map(|m| &m.member_id),
                "host": member.map(|m| &m.client_host),
                "client_id": member.map(|m| &m.client_id),
            })
        }).collect::<Vec<_>>(),
    })
}

// ---- lag -------------------------------------------------------------

/// What the coordinator's Burrow endpoint said: the group's status and
/// each partition's.
#[derive(Debug, Default, Clone, PartialEq)]
struct BurrowStatuses {
    group: Option<String>,
    partitions: BTreeMap<TopicPartition, String>,
}

/// Escapes a path segment (RFC 3986: everything but unreserved
/// characters), since group names may hold any character.
fn path_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The client for the node's HTTP listener: its trust (--http-ca) and
/// credentials (--http-user, VLTAVA_HTTP_PASSWORD).
fn lag_http_client(args: &LagArgs) -> Result<vltava_http::client::HttpClient, ToolError> {
    use vltava_http::client::HttpClient;
    let client = match &args.http_ca {
        None => HttpClient::new("vltava-groups-lag").map_err(ToolError::Input)?,
        Some(path) => {
            let pem = std::fs::read(path)
                .map_err(|e| ToolError::Input(format!("--http-ca {}: {e}", path.display())))?;
            let tls = vltava_tls::client_config(&pem, None)
                .map_err(|e| ToolError::Input(format!("--http-ca {}: {e}", path.display())))?;
            HttpClient::with_tls(tls, "vltava-groups-lag")
        }
    };
    Ok(match &args.http_user {
        None => client,
        Some(user) => {
            let password = std::env::var("VLTAVA_HTTP_PASSWORD").map_err(|_| {
                ToolError::Input("--http-user needs the password in VLTAVA_HTTP_PASSWORD".into())
            })?;
            client.with_basic_auth(user, &password)
        }
    })
}

/// The node's Burrow `/lag` answer for the group (every partition).
async fn burrow_statuses(
    http: &vltava_http::client::HttpClient,
    args: &LagArgs,
) -> Result<BurrowStatuses, String> {
    let base = if args.http.contains("://") {
        args.http.trim_end_matches('/').to_string()
    } else {
        format!("http://{}", args.http)
    };
    let url = format!(
        "{base}/v3/kafka/local/consumer/{}/lag",
        path_segment(&args.group)
    );
    let target = vltava_http::client::Target::parse(&url)?;
    let (status, body) = http
        .request(
            vltava_http::client::Method::GET,
            &target,
            None,
            std::time::Duration::from_secs(10),
        )
        .await?;
    if status == 404 {
        return Err("that node does not coordinate the group (404)".into());
    }
    if status != 200 {
        return Err(format!(
            "HTTP {status}: {}",
            String::from_utf8_lossy(&body).trim()
        ));
    }
    parse_burrow(&body)
}

fn parse_burrow(body: &[u8]) -> Result<BurrowStatuses, String> {
    let v: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| format!("not a Burrow answer: {e}"))?;
    let status = &v["status"];
    let mut out = BurrowStatuses {
        group: status["status"].as_str().map(str::to_string),
        ..Default::default()
    };
    for p in status["partitions"].as_array().into_iter().flatten() {
        let (Some(topic), Some(partition), Some(s)) = (
            p["topic"].as_str(),
            p["partition"].as_i64(),
            p["status"].as_str(),
        ) else {
            continue;
        };
        out.partitions.insert(
            TopicPartition::new(topic.to_string(), partition as i32),
            s.to_string(),
        );
    }
    Ok(out)
}

fn lag_text(d: &Described, statuses: &BurrowStatuses) -> String {
    let g = &d.group;
    let total: i64 = d.rows.iter().filter_map(OffsetRow::lag).sum();
    let mut head = Table::new(&["GROUP", "STATE", "STATUS", "TOTAL-LAG", "#PARTITIONS"]);
    head.push(vec![
        g.group_id.clone(),
        g.state.clone(),
        dash(statuses.group.clone()),
        total.to_string(),
        d.rows
            .iter()
            .filter(|r| r.partition.is_some())
            .count()
            .to_string(),
    ]);
    let mut t = Table::new(&[
        "TOPIC",
        "PARTITION",
        "CURRENT-OFFSET",
        "LOG-END-OFFSET",
        "LAG",
        "STATUS",
        "CONSUMER-ID",
    ]);
    for r in d.rows.iter().filter(|r| r.partition.is_some()) {
        let tp = r.partition.as_ref().expect("filtered");
        let member = r.member.map(|i| &g.members[i]);
        t.push(vec![
            tp.topic.clone(),
            tp.partition.to_string(),
            dash(r.committed),
            dash(r.log_end),
            dash(r.lag()),
            dash(statuses.partitions.get(tp).cloned()),
            dash(member.map(|m| m.member_id.clone())),
        ]);
    }
    format!("{}\n{}", head.render(), t.render())
}

fn lag_json(d: &Described, statuses: &BurrowStatuses) -> serde_json::Value {
    let g = &d.group;
    json!({
        "group": g.group_id,
        "state": g.state,
        "status": statuses.group,
        "total_lag": d.rows.iter().filter_map(OffsetRow::lag).sum::<i64>(),
        "partitions": d.rows.iter().filter_map(|r| {
            let tp = r.partition.as_ref()?;
            let member = r.member.map(|i| &g.members[i]);
            Some(json!({
                "topic": tp.topic,
                "partition": tp.partition,
                "current_offset": r.committed,
                "log_end_offset": r.log_end,
                "lag": r.lag(),
                "status": statuses.partitions.get(tp),
                "consumer_id": member.map(|m| &m.member_id),
            }))
        }).collect::<Vec<_>>(),
    })
}

// ---- reset-offsets ---------------------------------------------------

/// One partition's reset.
#[derive(Debug, Clone, PartialEq, Eq)]
struct PlannedOffset {
    partition: TopicPartition,
    current: Option<i64>,
    new: i64,
}

/// `TOPIC` or `TOPIC:P,P,...`.
fn parse_topic_spec(spec: &str) -> Result<(String, Option<Vec<i32>>), String> {
    let Some((topic, list)) = spec.rsplit_once(':') else {
        return Ok((spec.to_string(), None));
    };
    if topic.is_empty() {
        return Err(format!("no topic in {spec:?}"));
    }
    let partitions = list
        .split(',')
        .map(|p| {
            p.trim()
                .parse::<i32>()
                .ok()
                .filter(|p| *p >= 0)
                .ok_or_else(|| format!("bad partition {p:?} in {spec:?}: expected TOPIC:P,P,..."))
        })
        .collect::<Result<Vec<i32>, String>>()?;
    Ok((topic.to_string(), Some(partitions)))
}

/// The partitions a reset covers, sorted.
async fn reset_partitions(
    client: &mut Client,
    args: &ResetArgs,
) -> Result<Vec<TopicPartition>, ToolError> {
    let mut out = Vec::new();
    if args.all_topics {
        out = client
            .fetch_offsets(&args.group, None)
            .await?
            .into_iter()
            .filter(|c| c.offset.is_some())
            .map(|c| TopicPartition::new(c.topic, c.partition))
            .collect();
        if out.is_empty() {
            return Err(ToolError::Input(format!(
                "group '{}' has no committed offsets: name the topics with --topic",
                args.group
            )));
        }
    }
    for spec in &args.topics {
        let (topic, listed) = parse_topic_spec(spec).map_err(ToolError::Input)?;
        if listed.is_some() && !args.partitions.is_empty() {
            return Err(ToolError::Input(format!(
                "give partitions either as {spec} or with --partition, not both"
            )));
        }
        let metadata = client.topic_metadata(&topic).await?;
        let existing: Vec<i32> = metadata.partitions.iter().map(|p| p.partition).collect();
        let wanted = match listed {
            Some(ps) => ps,
            None if !args.partitions.is_empty() => args.partitions.clone(),
            None => existing.clone(),
        };
        for p in wanted {
            if !existing.contains(&p) {
                return Err(ToolError::Input(format!(
                    "topic {topic} has {} partitions; there is no partition {p}",
                    existing.len()
                )));
            }
            out.push(TopicPartition::new(topic.clone(), p));
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// Kafka's message when a group with members is asked to reset.
fn not_inactive(group: &str, state: &str) -> String {
    format!(
        "Assignments can only be reset if the group '{group}' is inactive, but the current \
         state is {state}."
    )
}

/// The new offset of one partition: the target, kept within
/// `[earliest, latest]` (with the warning Kafka's tool prints when it had
/// to), or an error for a shift without a committed offset.
fn new_offset(
    tp: &TopicPartition,
    target: Target,
    current: Option<i64>,
    earliest: i64,
    latest: i64,
    at_time: Option<i64>,
) -> Result<(i64, Option<String>), String> {
    let wanted = match target {
        Target::Earliest => return Ok((earliest, None)),
        Target::Latest => return Ok((latest, None)),
        Target::Datetime(_) => {
            return Ok(match at_time {
                Some(offset) if offset >= 0 => (offset, None),
                _ => (
                    latest,
                    Some(format!(
                        "partition {tp} has no record at or after that time: using the \
                         latest offset"
                    )),
                ),
            })
        }
        Target::Offset(o) => o,
        Target::ShiftBy(n) => {
            let current = current.ok_or_else(|| {
                format!("cannot shift the offset of {tp}: the group has no committed offset there")
            })?;
            current.saturating_add(n)
        }
    };
    Ok(if wanted < earliest {
        (
            earliest,
            Some(format!(
                "new offset ({wanted}) is lower than the earliest offset of {tp}: using {earliest}"
            )),
        )
    } else if wanted > latest {
        (
            latest,
            Some(format!(
                "new offset ({wanted}) is higher than the latest offset of {tp}: using {latest}"
            )),
        )
    } else {
        (wanted, None)
    })
}

async fn plan_reset(
    client: &mut Client,
    args: &ResetArgs,
) -> Result<Vec<PlannedOffset>, ToolError> {
    let group = &args.group;
    let description = client.describe_group(group).await?;
    if description.state != "Empty" && description.state != "Dead" {
        return Err(ToolError::Input(not_inactive(group, &description.state)));
    }
    let partitions = reset_partitions(client, args).await?;
    let committed = client.fetch_offsets(group, Some(&partitions)).await?;
    let target = args.target.target();
    let mut plan = Vec::with_capacity(partitions.len());
    // Two or three ListOffsets per partition: slow over thousands of them.
    let bar = super::progress::items(partitions.len() as u64, "looking up offsets");
    for tp in partitions {
        let current = committed
            .iter()
            .find(|c| c.topic == tp.topic && c.partition == tp.partition)
            .and_then(|c| c.offset);
        let earliest = client
            .list_offsets(&tp.topic, tp.partition, OffsetSpec::Earliest)
            .await?
            .offset;
        let latest = client
            .list_offsets(&tp.topic, tp.partition, OffsetSpec::Latest)
            .await?
            .offset;
        let at_time = match target {
            Target::Datetime(ts) => Some(
                client
                    .list_offsets(&tp.topic, tp.partition, OffsetSpec::Timestamp(ts))
                    .await?
                    .offset,
            ),
            _ => None,
        };
        let (new, warning) = new_offset(&tp, target, current, earliest, latest, at_time)
            .map_err(ToolError::Input)?;
        if let Some(w) = warning {
            // Above the bar, not through it.
            bar.suspend(|| eprintln!("Warning: {w}"));
        }
        plan.push(PlannedOffset {
            partition: tp,
            current,
            new,
        });
        bar.inc(1);
    }
    bar.finish_and_clear();
    Ok(plan)
}

fn reset_table(group: &str, plan: &[PlannedOffset]) -> String {
    let mut t = Table::new(&["GROUP", "TOPIC", "PARTITION", "NEW-OFFSET"]);
    for p in plan {
        t.push(vec![
            group.to_string(),
            p.partition.topic.clone(),
            p.partition.partition.to_string(),
            p.new.to_string(),
        ]);
    }
    t.render()
}

fn reset_json(group: &str, plan: &[PlannedOffset], executed: bool) -> serde_json::Value {
    json!({
        "group": group,
        "executed": executed,
        "offsets": plan.iter().map(|p| json!({
            "topic": p.partition.topic,
            "partition": p.partition.partition,
            "current_offset": p.current,
            "new_offset": p.new,
        })).collect::<Vec<_>>(),
    })
}

// ---- ISO-8601 timestamps ---------------------------------------------

/// Days from 1970-01-01 to the given proleptic Gregorian date.
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Exactly `n` ASCII digits as a number.
fn digits(s: &str, n: usize) -> Option<i64> {
    (s.len() == n && s.bytes().all(|b| b.is_ascii_digit())).then(|| s.parse().ok())?
}

/// A zone's offset from UTC in minutes: `Z`, `+hh`, `+hhmm` or `+hh:mm`
/// (or with `-`).
fn zone_minutes(zone: &str) -> Option<i64> {
    if zone == "Z" || zone == "z" {
        return Some(0);
    }
    let sign = match zone.as_bytes().first()? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let rest = &zone[1..];
    let (h, m) = match rest.len() {
        2 => (digits(rest, 2)?, 0),
        4 => (digits(&rest[..2], 2)?, digits(&rest[2..], 2)?),
        5 if rest.as_bytes()[2] == b':' => (digits(&rest[..2], 2)?, digits(&rest[3..], 2)?),
        _ => return None,
    };
    (h <= 23 && m <= 59).then_some(sign * (h * 60 + m))
}

/// `--to-datetime`: `YYYY-MM-DDTHH:mm:SS.sss` as Kafka's tool takes it
/// (seconds and their fraction may be left out here), with an optional zone
/// that defaults to UTC (Kafka's `Utils.getDateTime` appends `Z`), as
/// milliseconds since the epoch.
pub fn parse_datetime(s: &str) -> Result<i64, String> {
    let bad = || {
        format!(
            "cannot read {s:?} as a date and time: expected YYYY-MM-DDTHH:mm:SS.sss with an \
             optional zone (Z, +hh, +hhmm, +hh:mm), e.g. 2026-11-22T10:00:00.000"
        )
    };
    let Some((date, time)) = s.split_once('T') else {
        return Err(format!(
            "cannot read {s:?} as a date and time: it does not contain a 'T' as ISO-8601 \
             requires, e.g. 2026-11-22T10:00:00.000"
        ));
    };
    let mut d = date.split('-');
    let (Some(y), Some(mo), Some(da), None) = (d.next(), d.next(), d.next(), d.next()) else {
        return Err(bad());
    };
    let (year, month, day) = (
        digits(y, 4).ok_or_else(bad)?,
        digits(mo, 2).ok_or_else(bad)?,
        digits(da, 2).ok_or_else(bad)?,
    );
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return Err(bad());
    }
    let zone_at = time.find(['Z', 'z', '+', '-']).unwrap_or(time.len());
    let (clock, zone) = time.split_at(zone_at);
    let zone = if zone.is_empty() {
        0
    } else {
        zone_minutes(zone).ok_or_else(bad)?
    };
    let (hms, fraction) = match clock.split_once('.') {
        Some((hms, f)) if !f.is_empty() && f.bytes().all(|b| b.is_ascii_digit()) => (hms, f),
        Some(_) => return Err(bad()),
        None => (clock, ""),
    };
    let mut parts = hms.split(':');
    let hour = parts.next().and_then(|h| digits(h, 2)).ok_or_else(bad)?;
    let minute = parts.next().and_then(|m| digits(m, 2)).ok_or_else(bad)?;
    let second = match parts.next() {
        Some(sec) => digits(sec, 2).ok_or_else(bad)?,
        None if fraction.is_empty() => 0,
        None => return Err(bad()),
    };
    if parts.next().is_some() || hour > 23 || minute > 59 || second > 59 {
        return Err(bad());
    }
    // Milliseconds: the first three digits of the fraction.
    let millis = fraction
        .bytes()
        .chain(std::iter::repeat(b'0'))
        .take(3)
        .fold(0i64, |acc, b| acc * 10 + i64::from(b - b'0'));
    let days = days_from_civil(year, month, day);
    let local_ms = ((days * 24 + hour) * 60 + minute) * 60_000 + second * 1000 + millis;
    Ok(local_ms - zone * 60_000)
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use vltava_client::{BrokerMetadata, MemberAssignment};

    use super::super::tests::parse;
    use super::super::ToolCommand;
    use super::*;

    fn groups(args: &[&str]) -> Result<GroupsArgs, clap::Error> {
        let mut full = vec!["groups"];
        full.extend_from_slice(args);
        parse(&full).map(|c| match c {
            ToolCommand::Groups(g) => g,
            other => panic!("{other:?}"),
        })
    }

    fn reset(args: &[&str]) -> Result<ResetArgs, clap::Error> {
        let mut full = vec!["reset-offsets"];
        full.extend_from_slice(args);
        groups(&full).map(|g| match g.command {
            GroupsCommand::ResetOffsets(r) => r,
            other => panic!("{other:?}"),
        })
    }

    #[test]
    fn subcommands_parse() {
        assert!(matches!(
            groups(&["list"]).unwrap().command,
            GroupsCommand::List
        ));
        let g = groups(&["describe", "g1", "--output", "json", "--members"]).unwrap();
        assert!(g.common.json());
        assert!(matches!(
            g.command,
            GroupsCommand::Describe { ref group, members: true, state: false, offsets: false } if group == "g1"
        ));
        let GroupsCommand::Delete { groups: names } =
            groups(&["delete", "a", "b"]).unwrap().command
        else {
            panic!()
        };
        assert_eq!(names, ["a", "b"]);
        assert!(groups(&["delete"]).is_err());
        assert!(groups(&["describe"]).is_err());
    }

    #[test]
    fn reset_needs_one_target_one_mode_and_topics() {
        let r = reset(&["g", "--topic", "t", "--to-earliest", "--dry-run"]).unwrap();
        assert_eq!(r.group, "g");
        assert_eq!(r.topics, ["t"]);
        assert_eq!(r.target.target(), Target::Earliest);
        assert!(r.mode.dry_run && !r.mode.execute);
        let r = reset(&[
            "g",
            "--topic",
            "t",
            "--partition",
            "2",
            "--shift-by",
            "-3",
            "--execute",
        ])
        .unwrap();
        assert_eq!(r.partitions, [2]);
        assert_eq!(r.target.target(), Target::ShiftBy(-3));
        let r = reset(&["g", "--all-topics", "--to-offset", "7", "--execute"]).unwrap();
        assert!(r.all_topics);
        assert_eq!(r.target.target(), Target::Offset(7));
        let r = reset(&[
            "g",
            "--topic",
            "t",
            "--to-datetime",
            "2026-11-22T10:00:00.000",
            "--dry-run",
        ])
        .unwrap();
        assert_eq!(r.target.target(), Target::Datetime(1_795_341_600_000));

        // No target, two targets, no mode, both modes, no topics.
        assert!(reset(&["g", "--topic", "t", "--dry-run"]).is_err());
        assert!(reset(&[
            "g",
            "--topic",
            "t",
            "--to-earliest",
            "--to-latest",
            "--dry-run"
        ])
        .is_err());
        assert!(reset(&["g", "--topic", "t", "--to-earliest"]).is_err());
        assert!(reset(&[
            "g",
            "--topic",
            "t",
            "--to-earliest",
            "--dry-run",
            "--execute"
        ])
        .is_err());
        assert!(reset(&["g", "--to-earliest", "--dry-run"]).is_err());
        assert!(reset(&[
            "g",
            "--all-topics",
            "--topic",
            "t",
            "--to-earliest",
            "--dry-run"
        ])
        .is_err());
        assert!(reset(&["g", "--topic", "t", "--to-offset", "-1", "--dry-run"]).is_err());
        assert!(reset(&[
            "g",
            "--topic",
            "t",
            "--to-datetime",
            "yesterday",
            "--dry-run"
        ])
        .is_err());
    }

    #[test]
    fn topic_specs() {
        assert_eq!(parse_topic_spec("orders"), Ok(("orders".into(), None)));
        assert_eq!(
            parse_topic_spec("orders:0,2"),
            Ok(("orders".into(), Some(vec![0, 2])))
        );
        assert!(parse_topic_spec("orders:").is_err());
        assert!(parse_topic_spec("orders:a").is_err());
        assert!(parse_topic_spec(":1").is_err());
        assert!(parse_topic_spec("orders:-1").is_err());
    }

    #[test]
    fn datetimes_as_kafka_reads_them() {
        // Without a zone: UTC.
        assert_eq!(parse_datetime("1970-01-01T00:00:00.000"), Ok(0));
        assert_eq!(
            parse_datetime("2026-11-22T10:00:00.000"),
            Ok(1_795_341_600_000)
        );
        assert_eq!(
            parse_datetime("2020-11-10T16:51:38.198"),
            Ok(1_605_027_098_198)
        );
        // Zones: Z, +hh, +hhmm, +hh:mm, negative.
        let utc = 1_605_027_098_198;
        assert_eq!(parse_datetime("2020-11-10T16:51:38.198Z"), Ok(utc));
        assert_eq!(parse_datetime("2020-11-11T00:51:38.198+08"), Ok(utc));
        assert_eq!(parse_datetime("2020-11-11T00:51:38.198+0800"), Ok(utc));
        assert_eq!(parse_datetime("2020-11-11T00:51:38.198+08:00"), Ok(utc));
        assert_eq!(parse_datetime("2020-11-10T11:21:38.198-05:30"), Ok(utc));
        // Leniencies: no fraction, no seconds, longer fractions.
        assert_eq!(parse_datetime("2020-11-10T16:51:38"), Ok(utc - 198));
        assert_eq!(parse_datetime("2020-11-10T16:51"), Ok(utc - 38_198));
        assert_eq!(parse_datetime("2020-11-10T16:51:38.198765"), Ok(utc));
        assert_eq!(parse_datetime("2020-11-10T16:51:38.1"), Ok(utc - 98));
        // Leap days.
        assert_eq!(
            parse_datetime("2024-02-29T00:00:00.000Z"),
            Ok(1_709_164_800_000)
        );
        assert_eq!(parse_datetime("1969-12-31T23:59:59.999Z"), Ok(-1));
    }

    #[test]
    fn bad_datetimes() {
        let err = parse_datetime("2020-11-10 16:51:38.198").unwrap_err();
        assert!(err.contains("'T'"), "{err}");
        for s in [
            "2023-02-29T00:00:00.000",
            "2020-13-01T00:00:00.000",
            "2020-11-31T00:00:00.000",
            "2020-1-10T16:51:38.198",
            "2020-11-10T24:00:00.000",
            "2020-11-10T16:60:00.000",
            "2020-11-10T16:51:38.",
            "2020-11-10T16:51:38.198+8",
            "2020-11-10T16:51:38.198+25:00",
            "2020-11-10T16:51:38.198 UTC",
            "2020-11-10T",
            "T16:51",
        ] {
            assert!(parse_datetime(s).is_err(), "{s}");
        }
    }

    fn tp(t: &str, p: i32) -> TopicPartition {
        TopicPartition::new(t, p)
    }

    #[test]
    fn new_offsets_are_kept_within_the_log() {
        let t = tp("t", 0);
        let n = |target, current| new_offset(&t, target, current, 10, 50, None);
        assert_eq!(n(Target::Earliest, None), Ok((10, None)));
        assert_eq!(n(Target::Latest, Some(20)), Ok((50, None)));
        assert_eq!(n(Target::Offset(30), None), Ok((30, None)));
        let (o, w) = n(Target::Offset(5), None).unwrap();
        assert_eq!(o, 10);
        assert!(w.unwrap().contains("lower than the earliest"));
        let (o, w) = n(Target::Offset(99), None).unwrap();
        assert_eq!(o, 50);
        assert!(w.unwrap().contains("higher than the latest"));
        assert_eq!(n(Target::ShiftBy(-5), Some(20)), Ok((15, None)));
        assert_eq!(n(Target::ShiftBy(-50), Some(20)).unwrap().0, 10);
        assert_eq!(n(Target::ShiftBy(100), Some(20)).unwrap().0, 50);
        assert_eq!(n(Target::ShiftBy(i64::MAX), Some(20)).unwrap().0, 50);
        assert!(n(Target::ShiftBy(1), None)
            .unwrap_err()
            .contains("no committed offset"));
        let at = |at_time| new_offset(&t, Target::Datetime(0), None, 10, 50, at_time);
        assert_eq!(at(Some(33)), Ok((33, None)));
        let (o, w) = at(Some(-1)).unwrap();
        assert_eq!(o, 50);
        assert!(w.is_some());
    }

    fn member(id: &str, partitions: &[(&str, i32)]) -> GroupMember {
        GroupMember {
            member_id: id.into(),
            group_instance_id: None,
            client_id: format!("client-{id}"),
            client_host: "/127.0.0.1".into(),
            metadata: Bytes::new(),
            assignment: Bytes::new(),
            consumer_assignment: Some(MemberAssignment {
                partitions: partitions.iter().map(|(t, p)| tp(t, *p)).collect(),
                user_data: None,
            }),
        }
    }

    fn description(state: &str, members: Vec<GroupMember>) -> GroupDescription {
        GroupDescription {
            group_id: "g".into(),
            state: state.into(),
            protocol_type: "consumer".into(),
            protocol: if members.is_empty() { "" } else { "range" }.into(),
            members,
            coordinator: BrokerMetadata {
                node_id: 1,
                host: "127.0.0.1".into(),
                port: 9092,
                rack: None,
            },
        }
    }

    fn committed(t: &str, p: i32, offset: Option<i64>) -> CommittedOffset {
        CommittedOffset {
            topic: t.into(),
            partition: p,
            offset,
            leader_epoch: -1,
            metadata: None,
        }
    }

    #[test]
    fn rows_cover_assigned_committed_and_idle() {
        let group = description(
            "Stable",
            vec![member("m1", &[("t", 1), ("t", 0)]), member("m2", &[])],
        );
        let offsets = [
            committed("t", 0, Some(5)),
            committed("u", 0, Some(3)),
            committed("v", 0, None),
        ];
        let rows = offset_rows(&group, &offsets, &|tp| match tp.topic.as_str() {
            "t" => Some(10),
            _ => None,
        });
        assert_eq!(
            rows,
            vec![
                OffsetRow {
                    partition: Some(tp("t", 0)),
                    committed: Some(5),
                    log_end: Some(10),
                    member: Some(0)
                },
                OffsetRow {
                    partition: Some(tp("t", 1)),
                    committed: None,
                    log_end: Some(10),
                    member: Some(0)
                },
                OffsetRow {
                    partition: Some(tp("u", 0)),
                    committed: Some(3),
                    log_end: None,
                    member: None
                },
                OffsetRow {
                    partition: None,
                    committed: None,
                    log_end: None,
                    member: Some(1)
                },
            ]
        );
        assert_eq!(rows[0].lag(), Some(5));
        assert_eq!(rows[1].lag(), None);
        assert_eq!(rows[2].lag(), None);

        let d = Described { group, rows };
        let all = Sections {
            state: true,
            members: true,
            offsets: true,
        };
        assert_eq!(
            describe_text(&d, all),
            "GROUP  COORDINATOR (ID)    ASSIGNMENT-STRATEGY  STATE   #MEMBERS\n\
             g      127.0.0.1:9092 (1)  range                Stable  2\n\
             \n\
             GROUP  CONSUMER-ID  HOST        CLIENT-ID  #PARTITIONS  ASSIGNMENT\n\
             g      m1           /127.0.0.1  client-m1  2            t(0,1)\n\
             g      m2           /127.0.0.1  client-m2  0            -\n\
             \n\
             GROUP  TOPIC  PARTITION  CURRENT-OFFSET  LOG-END-OFFSET  LAG  CONSUMER-ID  HOST        CLIENT-ID\n\
             g      t      0          5               10              5    m1           /127.0.0.1  client-m1\n\
             g      t      1          -               10              -    m1           /127.0.0.1  client-m1\n\
             g      u      0          3               -               -    -            -           -\n\
             g      -      -          -               -               -    m2           /127.0.0.1  client-m2\n"
        );
        let v = describe_json(&d);
        assert_eq!(v["state"], "Stable");
        assert_eq!(
            v["members"][0]["assignment"][0],
            json!({"topic": "t", "partition": 1})
        );
        assert_eq!(v["offsets"][0]["lag"], 5);
        assert_eq!(v["offsets"][1]["current_offset"], serde_json::Value::Null);
        assert_eq!(v["offsets"][2]["consumer_id"], serde_json::Value::Null);
        assert_eq!(v["offsets"][3]["topic"], serde_json::Value::Null);
    }

    #[test]
    fn an_empty_group_says_so() {
        let group = description("Empty", vec![]);
        let rows = offset_rows(&group, &[committed("t", 0, Some(7))], &|_| Some(9));
        let d = Described { group, rows };
        let only_offsets = Sections {
            state: false,
            members: false,
            offsets: true,
        };
        assert_eq!(
            describe_text(&d, only_offsets),
            "Consumer group 'g' has no active members.\n\
             \n\
             GROUP  TOPIC  PARTITION  CURRENT-OFFSET  LOG-END-OFFSET  LAG  CONSUMER-ID  HOST  CLIENT-ID\n\
             g      t      0          7               9               2    -            -     -\n"
        );
        let only_state = Sections {
            state: true,
            members: false,
            offsets: false,
        };
        assert_eq!(
            describe_text(&d, only_state),
            "GROUP  COORDINATOR (ID)    ASSIGNMENT-STRATEGY  STATE  #MEMBERS\n\
             g      127.0.0.1:9092 (1)  -                    Empty  0\n"
        );
    }

    #[test]
    fn list_and_reset_output() {
        let listed = vec![
            ListedGroup {
                group_id: "a".into(),
                protocol_type: "consumer".into(),
                state: Some("Stable".into()),
                group_type: Some("classic".into()),
            },
            ListedGroup {
                group_id: "offsets-only".into(),
                protocol_type: String::new(),
                state: None,
                group_type: None,
            },
        ];
        assert_eq!(
            list_table(&listed),
            "GROUP         STATE   PROTOCOL-TYPE\n\
             a             Stable  consumer\n\
             offsets-only  -\n"
        );
        assert_eq!(
            list_json(&listed)["groups"][1]["state"],
            serde_json::Value::Null
        );
        let plan = vec![PlannedOffset {
            partition: tp("t", 0),
            current: Some(4),
            new: 0,
        }];
        assert_eq!(
            reset_table("g", &plan),
            "GROUP  TOPIC  PARTITION  NEW-OFFSET\ng      t      0          0\n"
        );
        assert_eq!(
            reset_json("g", &plan, false).to_string(),
            r#"{"executed":false,"group":"g","offsets":[{"current_offset":4,"new_offset":0,"partition":0,"topic":"t"}]}"#
        );
        assert_eq!(
            not_inactive("g", "Stable"),
            "Assignments can only be reset if the group 'g' is inactive, but the current state \
             is Stable."
        );
    }
}
