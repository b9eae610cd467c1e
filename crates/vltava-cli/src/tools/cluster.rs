//! `vltava cluster`: the cluster id, the active controller, the brokers,
//! and the KRaft metadata quorum (after Kafka's `kafka-metadata-quorum.sh
//! describe --status --replication`); `vltava cluster add-voter` and
//! `remove-voter` change the quorum's voters (KIP-853);
//! `vltava cluster elect-leaders` asks for preferred or unclean leader
//! elections (after `kafka-leader-election.sh`).
//!
//! The quorum comes from DescribeQuorum at its leader: per voter and
//! observer the log end offset, the lag behind the high watermark and how
//! long ago it last fetched. The brokers come from DescribeCluster, which
//! (like Metadata) lists only unfenced brokers.

use clap::{Args, Subcommand};
use serde_json::json;
use vltava_client::{
    ClusterDescription, ElectionType, QuorumDescription, QuorumEndpoint, QuorumReplica, Uuid,
};
use vltava_storage::KafkaUuid;

use super::output::Table;
use super::{print, print_json, Common, ToolError};

#[derive(Args, Debug)]
#[command(after_help = "\
Brokers are those DescribeCluster lists: unfenced brokers only. Fenced \
brokers, and whether a broker is in controlled shutdown, cannot be shown: \
that needs DescribeCluster v2 (KIP-1073), which the Kafka message specs \
Vltava is built from, and so its broker and client, do not have yet. A \
quorum member with `no` under BROKER is one the broker list leaves out: \
fenced, or a node without the broker role.")]
pub struct ClusterArgs {
    #[command(flatten)]
    pub common: Common,
    #[command(subcommand)]
    pub command: Option<ClusterCommand>,
}

#[derive(Subcommand, Debug)]
pub enum ClusterCommand {
    /// Make a node a voter of the metadata quorum. It must already run and
    /// fetch the metadata log as an observer (a node not in the voters),
    /// and have caught up; a node that has not is refused with
    /// REQUEST_TIMED_OUT: retry.
    AddVoter {
        /// The node id.
        #[arg(long, value_parser = clap::value_parser!(i32).range(0..))]
        id: i32,
        /// Host of the node's listener (where the quorum reaches it).
        #[arg(long)]
        host: String,
        /// Port of that listener.
        #[arg(long, value_parser = clap::value_parser!(u16).range(1..))]
        port: u16,
        /// Name of that listener.
        #[arg(long, default_value = "CONTROLLER")]
        listener: String,
        /// The node's metadata directory id (Kafka's base64 form: the
        /// `directory.id` in its metadata directory's meta.properties),
        /// kept with the voter so that a node whose disk was replaced is
        /// not taken for it. By default the one the node's fetches carry;
        /// one that differs is refused (INVALID_VOTER_KEY).
        #[arg(long, value_parser = parse_directory_id)]
        directory_id: Option<Uuid>,
    },
    /// Take a node out of the metadata quorum's voters (it may go on as an
    /// observer). The quorum leader may remove itself: it resigns once the
    /// change commits.
    RemoveVoter {
        /// The node id.
        #[arg(long, value_parser = clap::value_parser!(i32).range(0..))]
        id: i32,
        /// The voter's directory id (Kafka's base64 form); by default the
        /// one the quorum lists for it.
        #[arg(long, value_parser = parse_directory_id)]
        directory_id: Option<Uuid>,
    },
    /// Elect partition leaders: by default move each partition's
    /// leadership back to its preferred (first) replica when that replica
    /// is in sync; with --unclean give partitions without a leader one
    /// from outside their ISR (records the ISR did not have are lost).
    /// Without --topic, every partition that needs it.
    ElectLeaders {
        /// Unclean election instead of preferred.
        #[arg(long)]
        unclean: bool,
        /// Only this topic's partitions (repeatable).
        #[arg(long)]
        topic: Vec<String>,
        /// Only these partitions of the --topic (repeatable; needs exactly
        /// one --topic).
        #[arg(long)]
        partition: Vec<i32>,
    },
    /// Show each broker's log directories (as kafka-log-dirs --describe):
    /// whether each works, its space, and the replicas in it with their
    /// sizes; a replica being copied into a directory shows as FUTURE with
    /// how far its copy is behind.
    LogDirs {
        /// Only these brokers (repeatable; all without).
        #[arg(long)]
        broker: Vec<i32>,
        /// Only these topics' replicas (repeatable; all without).
        #[arg(long)]
        topic: Vec<String>,
    },
    /// Move a broker's replica to another of its log directories
    /// (AlterReplicaLogDirs): copied while it serves, then swapped in.
    /// Follow it with `log-dirs`.
    MoveReplica {
        /// The broker holding the replica.
        #[arg(long)]
        broker: i32,
        /// The replica's topic.
        #[arg(long)]
        topic: String,
        /// The replica's partition.
        #[arg(long)]
        partition: i32,
        /// The destination: one of the broker's log directories, as its
        /// log.dirs names it.
        #[arg(long)]
        dir: String,
    },
}

fn parse_directory_id(s: &str) -> Result<Uuid, String> {
    KafkaUuid::from_base64(s)
        .map(|u| Uuid(u.0))
        .ok_or_else(|| format!("{s:?} is not a Kafka uuid (22 characters of base64)"))
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

pub async fn run(args: ClusterArgs) -> Result<(), ToolError> {
    let mut client = args.common.connect().await?;
    let json = args.common.json();
    match args.command {
        None => {
            let cluster = client.describe_cluster().await?;
            // The quorum is shown when it can be: a cluster in an election,
            // or a broker without DescribeQuorum, still has brokers to show.
            let quorum = client.describe_quorum().await.map_err(|e| e.to_string());
            let now = now_ms();
            if json {
                print_json(&to_json(&cluster, &quorum, now))
            } else {
                print(&render(&cluster, &quorum, now))
            }
        }
        Some(ClusterCommand::AddVoter {
            id,
            host,
            port,
            listener,
            directory_id,
        }) => {
            let endpoint = QuorumEndpoint {
                name: listener,
                host,
                port,
            };
            client
                .add_raft_voter(id, directory_id.unwrap_or(Uuid::ZERO), &[endpoint])
                .await?;
            if json {
                print_json(&json!({"voter": id, "added": true}))
            } else {
                print(&format!(
                    "Node {id} is now a voter of the metadata quorum.\n"
                ))
            }
        }
        Some(ClusterCommand::ElectLeaders {
            unclean,
            topic,
            partition,
        }) => {
            let election = if unclean {
                ElectionType::Unclean
            } else {
                ElectionType::Preferred
            };
            let wanted: Option<Vec<(String, Vec<i32>)>> = match (topic.len(), partition.is_empty())
            {
                (0, true) => None,
                (1, false) => Some(vec![(topic[0].clone(), partition)]),
                (0, false) | (2.., false) => {
                    return Err(ToolError::Input(
                        "--partition needs exactly one --topic".to_string(),
                    ))
                }
                (_, true) => {
                    let mut all = Vec::new();
                    for t in &topic {
                        let count = client.partition_count(t).await?;
                        all.push((t.clone(), (0..count).collect()));
                    }
                    Some(all)
                }
            };
            let outcomes = client.elect_leaders(election, wanted.as_deref()).await?;
            // ELECTION_NOT_NEEDED is success: the leader is already the one
            // asked for (kafka-leader-election.sh says so too).
            let failed = outcomes.iter().any(|(_, _, e)| {
                e.as_ref()
                    .is_some_and(|(code, _)| *code != vltava_client::ErrorCode::ELECTION_NOT_NEEDED)
            });
            if json {
                print_json(&json!(outcomes
                    .iter()
                    .map(|(t, p, e)| json!({
                        "topic": t,
                        "partition": p,
                        "error": e.as_ref().map(|(code, _)| format!("{code:?}")),
                        "message": e.as_ref().and_then(|(_, m)| m.clone()),
                    }))
                    .collect::<Vec<_>>()))?;
            } else {
                let mut table = Table::new(&["TOPIC", "PARTITION", "RESULT"]);
                for (t, p, e) in &outcomes {
                    let result = match e {
                        None => "elected".to_string(),
                        Some((code, message)) => match message {
                            Some(m) => format!("{code:?}: {m}"),
                            None => format!("{code:?}"),
                        },
                    };
                    table.push(vec![t.clone(), p.to_string(), result]);
                }
                print(&table.render())?;
            }
            if failed {
                Err(ToolError::Input(
                    "some partitions could not get the leader asked for".to_string(),
                ))
            } else {
                Ok(())
            }
        }
        Some(ClusterCommand::LogDirs { broker, topic }) => {
            let brokers: Vec<i32> = if broker.is_empty() {
                client
                    .describe_cluster()
                    .await?
                    .brokers
                    .iter()
                    .map(|b| b.node_id)
                    .collect()
            } else {
                broker
            };
            let mut described = Vec::new();
            for id in brokers {
                described.push((id, client.describe_log_dirs(id).await?));
            }
            let wanted = |t: &str| topic.is_empty() || topic.iter().any(|w| w == t);
            if json {
                print_json(&json!({
                    "brokers": described.iter().map(|(id, dirs)| json!({
                        "broker": id,
                        "log_dirs": dirs.iter().map(|d| json!({
                            "path": d.path,
                            "error": (d.error != vltava_client::ErrorCode::NONE).then(|| d.error.name()),
                            "total_bytes": d.total_bytes,
                            "usable_bytes": d.usable_bytes,
                            "replicas": d.replicas.iter().filter(|r| wanted(&r.topic)).map(|r| json!({
                                "topic": r.topic,
                                "partition": r.partition,
                                "size": r.size,
                                "offset_lag": r.offset_lag,
                                "future": r.is_future,
                            })).collect::<Vec<_>>(),
                        })).collect::<Vec<_>>(),
                    })).collect::<Vec<_>>(),
                }))
            } else {
                let mut dirs =
                    Table::new(&["BROKER", "LOG DIR", "STATUS", "REPLICAS", "USABLE", "TOTAL"]);
                let mut replicas = Table::new(&[
                    "BROKER",
                    "LOG DIR",
                    "TOPIC",
                    "PARTITION",
                    "SIZE",
                    "LAG",
                    "KIND",
                ]);
                for (id, ds) in &described {
                    for d in ds {
                        let status = if d.error == vltava_client::ErrorCode::NONE {
                            "online".to_string()
                        } else {
                            d.error.name().to_string()
                        };
                        let shown: Vec<_> =
                            d.replicas.iter().filter(|r| wanted(&r.topic)).collect();
                        dirs.push(vec![
                            id.to_string(),
                            d.path.clone(),
                            status,
                            shown.len().to_string(),
                            bytes(d.usable_bytes),
                            bytes(d.total_bytes),
                        ]);
                        for r in shown {
                            replicas.push(vec![
                                id.to_string(),
                                d.path.clone(),
                                r.topic.clone(),
                                r.partition.to_string(),
                                r.size.to_string(),
                                r.offset_lag.to_string(),
                                if r.is_future { "FUTURE" } else { "current" }.to_string(),
                            ]);
                        }
                    }
                }
                print(&format!("{}\n{}", dirs.render(), replicas.render()))
            }
        }
        Some(ClusterCommand::MoveReplica {
            broker,
            topic,
            partition,
            dir,
        }) => {
            let answers = client
                .alter_replica_log_dirs(broker, &[(topic.clone(), partition, dir.clone())])
                .await?;
            let code = answers.first().map_or(
                vltava_client::ErrorCode::UNKNOWN_SERVER_ERROR,
                |(_, _, c)| *c,
            );
            let started = matches!(
                code,
                vltava_client::ErrorCode::NONE | vltava_client::ErrorCode::NOT_LEADER_OR_FOLLOWER
            );
            if json {
                print_json(&json!({
                    "broker": broker, "topic": topic, "partition": partition, "dir": dir,
                    "error": (code != vltava_client::ErrorCode::NONE).then(|| code.name()),
                }))?;
            } else if code == vltava_client::ErrorCode::NONE {
                print(&format!(
                    "Moving {topic}-{partition} on broker {broker} to {dir} (or it is there already); `vltava cluster log-dirs --broker {broker}` shows the copy.\n"
                ))?;
            } else if started {
                print(&format!(
                    "Broker {broker} has no replica of {topic}-{partition} yet: it will be created in {dir}.\n"
                ))?;
            }
            if started {
                Ok(())
            } else {
                Err(ToolError::Input(format!(
                    "broker {broker} refused to move {topic}-{partition} to {dir}: {}",
                    code.name()
                )))
            }
        }
        Some(ClusterCommand::RemoveVoter { id, directory_id }) => {
            // The quorum names a voter by id and directory id; without
            // --directory-id, the one the quorum lists for this voter.
            let directory_id = match directory_id {
                Some(d) => d,
                None => client
                    .describe_quorum()
                    .await?
                    .voters
                    .iter()
                    .find(|v| v.replica_id == id)
                    .map_or(Uuid::ZERO, |v| v.directory_id),
            };
            client.remove_raft_voter(id, directory_id).await?;
            if json {
                print_json(&json!({"voter": id, "removed": true}))
            } else {
                print(&format!(
                    "Node {id} is no longer a voter of the metadata quorum.\n"
                ))
            }
        }
    }
}

/// A byte count for people (-1: unknown).
fn bytes(n: i64) -> String {
    if n < 0 {
        return "?".into();
    }
    let n = n as f64;
    match n {
        n if n >= 1e12 => format!("{:.1} TB", n / 1e12),
        n if n >= 1e9 => format!("{:.1} GB", n / 1e9),
        n if n >= 1e6 => format!("{:.1} MB", n / 1e6),
        n => format!("{n:.0} B"),
    }
}

fn age(now: i64, t: Option<i64>) -> Option<i64> {
    t.map(|t| (now - t).max(0))
}

fn replica_json(
    r: &QuorumReplica,
    q: &QuorumDescription,
    c: &ClusterDescription,
    now: i64,
) -> serde_json::Value {
    json!({
        "id": r.replica_id,
        "log_end_offset": r.log_end_offset,
        "lag": r.lag(q.high_watermark),
        "last_fetch_timestamp": r.last_fetch_timestamp,
        "last_fetch_age_ms": age(now, r.last_fetch_timestamp),
        "last_caught_up_timestamp": r.last_caught_up_timestamp,
        "broker": c.brokers.iter().any(|b| b.node_id == r.replica_id),
        "endpoints": q.endpoints.get(&r.replica_id).map(|es| es.iter().map(|e| json!({
            "name": e.name,
            "host": e.host,
            "port": e.port,
        })).collect::<Vec<_>>()),
    })
}

fn to_json(
    c: &ClusterDescription,
    quorum: &Result<QuorumDescription, String>,
    now: i64,
) -> serde_json::Value {
    let mut out = json!({
        "cluster_id": c.cluster_id,
        "controller_id": c.controller_id,
        "brokers": c.brokers.iter().map(|b| json!({
            "id": b.node_id,
            "host": b.host,
            "port": b.port,
            "rack": b.rack,
        })).collect::<Vec<_>>(),
    });
    match quorum {
        Ok(q) => {
            out["quorum"] = json!({
                "leader_id": q.leader_id,
                "leader_epoch": q.leader_epoch,
                "high_watermark": q.high_watermark,
                "voters": q.voters.iter().map(|r| replica_json(r, q, c, now)).collect::<Vec<_>>(),
                "observers": q.observers.iter().map(|r| replica_json(r, q, c, now)).collect::<Vec<_>>(),
            });
        }
        Err(e) => {
            out["quorum"] = serde_json::Value::Null;
            out["quorum_error"] = json!(e);
        }
    }
    out
}

fn render(c: &ClusterDescription, quorum: &Result<QuorumDescription, String>, now: i64) -> String {
    let mut t = Table::new(&["ID", "HOST", "PORT", "RACK", "CONTROLLER"]);
    for b in &c.brokers {
        t.push(vec![
            b.node_id.to_string(),
            b.host.clone(),
            b.port.to_string(),
            b.rack.clone().unwrap_or_default(),
            if b.node_id == c.controller_id {
                "yes".to_string()
            } else {
                String::new()
            },
        ]);
    }
    let controller = if c.controller_id < 0 {
        "none".to_string()
    } else {
        c.controller_id.to_string()
    };
    let mut out = format!(
        "Cluster id: {}\nController: {controller}\n\n{}",
        c.cluster_id.as_deref().unwrap_or("(unknown)"),
        t.render()
    );
    match quorum {
        Ok(q) => {
            out.push_str(&format!(
                "\nMetadata quorum: leader {}, epoch {}, high watermark {}\n\n",
                q.leader_id, q.leader_epoch, q.high_watermark
            ));
            let mut t = Table::new(&[
                "ID",
                "ROLE",
                "LOG END OFFSET",
                "LAG",
                "LAST FETCH",
                "LAST CAUGHT UP",
                "BROKER",
            ]);
            let dash = || "-".to_string();
            let ago = |t: Option<i64>| age(now, t).map_or_else(dash, |a| format!("{a} ms ago"));
            let rows = q
                .voters
                .iter()
                .map(|r| {
                    let role = if r.replica_id == q.leader_id {
                        "leader"
                    } else {
                        "follower"
                    };
                    (r, role)
                })
                .chain(q.observers.iter().map(|r| (r, "observer")));
            for (r, role) in rows {
                t.push(vec![
                    r.replica_id.to_string(),
                    role.to_string(),
                    if r.log_end_offset < 0 {
                        dash()
                    } else {
                        r.log_end_offset.to_string()
                    },
                    r.lag(q.high_watermark).map_or_else(dash, |l| l.to_string()),
                    ago(r.last_fetch_timestamp),
                    ago(r.last_caught_up_timestamp),
                    if c.brokers.iter().any(|b| b.node_id == r.replica_id) {
                        "yes".to_string()
                    } else {
                        "no".to_string()
                    },
                ]);
            }
            out.push_str(&t.render());
        }
        Err(e) => out.push_str(&format!("\nMetadata quorum: not available: {e}\n")),
    }
    out
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use vltava_client::BrokerMetadata;

    use super::*;
    use crate::tools::tests::parse;
    use crate::tools::ToolCommand;

    fn sample() -> ClusterDescription {
        ClusterDescription {
            cluster_id: Some("MkU3OEVBNTcwNTJENDM2Qg".into()),
            controller_id: 2,
            brokers: vec![
                BrokerMetadata {
                    node_id: 1,
                    host: "127.0.0.1".into(),
                    port: 9092,
                    rack: None,
                },
                BrokerMetadata {
                    node_id: 2,
                    host: "127.0.0.1".into(),
                    port: 9093,
                    rack: Some("r2".into()),
                },
            ],
        }
    }

    fn replica(id: i32, leo: i64, fetched: Option<i64>) -> QuorumReplica {
        QuorumReplica {
            replica_id: id,
            directory_id: Uuid::ZERO,
            log_end_offset: leo,
            last_fetch_timestamp: fetched,
            last_caught_up_timestamp: fetched,
        }
    }

    fn quorum() -> QuorumDescription {
        QuorumDescription {
            leader_id: 2,
            leader_epoch: 7,
            high_watermark: 120,
            voters: vec![replica(1, 100, Some(9_750)), replica(2, 121, Some(10_000))],
            observers: vec![replica(3, -1, None)],
            endpoints: BTreeMap::from([(
                2,
                vec![QuorumEndpoint {
                    name: "CONTROLLER".into(),
                    host: "127.0.0.1".into(),
                    port: 9093,
                }],
            )]),
        }
    }

    #[test]
    fn table() {
        assert_eq!(
            render(&sample(), &Ok(quorum()), 10_000),
            "Cluster id: MkU3OEVBNTcwNTJENDM2Qg\n\
             Controller: 2\n\
             \n\
             ID  HOST       PORT  RACK  CONTROLLER\n\
             1   127.0.0.1  9092\n\
             2   127.0.0.1  9093  r2    yes\n\
             \n\
             Metadata quorum: leader 2, epoch 7, high watermark 120\n\
             \n\
             ID  ROLE      LOG END OFFSET  LAG  LAST FETCH  LAST CAUGHT UP  BROKER\n\
             1   follower  100             20   250 ms ago  250 ms ago      yes\n\
             2   leader    121             0    0 ms ago    0 ms ago        yes\n\
             3   observer  -               -    -           -               no\n"
        );
    }

    #[test]
    fn a_quorum_that_cannot_be_described_still_shows_the_brokers() {
        let text = render(&sample(), &Err("no leader".into()), 0);
        assert!(text.contains("2   127.0.0.1  9093  r2    yes\n"));
        assert!(text.ends_with("\nMetadata quorum: not available: no leader\n"));
        let j = to_json(&sample(), &Err("no leader".into()), 0);
        assert_eq!(j["quorum"], serde_json::Value::Null);
        assert_eq!(j["quorum_error"], "no leader");
    }

    #[test]
    fn json() {
        let j = to_json(&sample(), &Ok(quorum()), 10_000);
        assert_eq!(
            j["brokers"].to_string(),
            r#"[{"host":"127.0.0.1","id":1,"port":9092,"rack":null},{"host":"127.0.0.1","id":2,"port":9093,"rack":"r2"}]"#
        );
        assert_eq!(j["cluster_id"], "MkU3OEVBNTcwNTJENDM2Qg");
        assert_eq!(j["controller_id"], 2);
        let q = &j["quorum"];
        assert_eq!(
            (&q["leader_id"], &q["leader_epoch"], &q["high_watermark"]),
            (&json!(2), &json!(7), &json!(120))
        );
        assert_eq!(
            q["voters"][0].to_string(),
            r#"{"broker":true,"endpoints":null,"id":1,"lag":20,"last_caught_up_timestamp":9750,"last_fetch_age_ms":250,"last_fetch_timestamp":9750,"log_end_offset":100}"#
        );
        assert_eq!(q["voters"][1]["lag"], 0, "past the HW is no lag");
        assert_eq!(
            q["voters"][1]["endpoints"].to_string(),
            r#"[{"host":"127.0.0.1","name":"CONTROLLER","port":9093}]"#
        );
        assert_eq!(
            q["observers"][0].to_string(),
            r#"{"broker":false,"endpoints":null,"id":3,"lag":null,"last_caught_up_timestamp":null,"last_fetch_age_ms":null,"last_fetch_timestamp":null,"log_end_offset":-1}"#
        );
        assert!(j.get("quorum_error").is_none());
    }

    fn cluster(args: &[&str]) -> Result<ClusterArgs, clap::Error> {
        let mut full = vec!["cluster"];
        full.extend_from_slice(args);
        parse(&full).map(|c| match c {
            ToolCommand::Cluster(a) => a,
            other => panic!("parsed as {other:?}"),
        })
    }

    #[test]
    fn parsing() {
        assert!(cluster(&[]).unwrap().command.is_none());
        let a = cluster(&["add-voter", "--id", "4", "--host", "h4", "--port", "9094"]).unwrap();
        let Some(ClusterCommand::AddVoter {
            id,
            host,
            port,
            listener,
            directory_id,
        }) = a.command
        else {
            panic!("not add-voter")
        };
        assert_eq!((id, host.as_str(), port), (4, "h4", 9094));
        assert_eq!(listener, "CONTROLLER");
        assert_eq!(directory_id, None);

        // Global options after the subcommand, and a directory id.
        let a = cluster(&[
            "remove-voter",
            "--id",
            "3",
            "--directory-id",
            "AAAAAAAAAAAAAAAAAAAAAQ",
            "--output",
            "json",
        ])
        .unwrap();
        assert!(a.common.json());
        let Some(ClusterCommand::RemoveVoter { id, directory_id }) = a.command else {
            panic!("not remove-voter")
        };
        assert_eq!(id, 3);
        let mut one = [0u8; 16];
        one[15] = 1;
        assert_eq!(directory_id, Some(Uuid(one)));

        assert!(
            cluster(&["add-voter", "--id", "4", "--host", "h"]).is_err(),
            "no port"
        );
        assert!(
            cluster(&["add-voter", "--id", "4", "--port", "1"]).is_err(),
            "no host"
        );
        assert!(cluster(&["add-voter", "--id", "-1", "--host", "h", "--port", "1"]).is_err());
        assert!(cluster(&["add-voter", "--id", "4", "--host", "h", "--port", "0"]).is_err());
        assert!(cluster(&["remove-voter"]).is_err(), "no id");
        assert!(cluster(&["remove-voter", "--id", "3", "--directory-id", "nope"]).is_err());
    }
}
