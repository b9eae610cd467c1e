//! `vltava groups` and the client's group APIs against real `vltava server`
//! processes: offsets committed as a consumer outside the group (as Kafka's
//! admin client does), a real member formed by hand with JoinGroup and
//! SyncGroup, describe and its lag numbers, reset-offsets dry runs and
//! executions, delete, and committed offsets across a clean restart and a
//! kill -9. Each test starts its own broker on a free port.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::TestBroker;
use serde_json::Value;
use vltava_client::consumer_protocol::{encode_assignment, encode_subscription};
use vltava_client::protocol::messages::join_group_request::JoinGroupRequestProtocol;
use vltava_client::protocol::messages::leave_group_request::MemberIdentity;
use vltava_client::protocol::messages::sync_group_request::SyncGroupRequestAssignment;
use vltava_client::protocol::messages::{JoinGroupRequest, LeaveGroupRequest, SyncGroupRequest};
use vltava_client::{
    Acks, Client, CommittedOffset, Compression, Connection, ConnectionConfig, ErrorCode,
    MemberAssignment, NewTopic, OffsetToCommit, ProducerRecord, TopicPartition,
    CONSUMER_PROTOCOL_TYPE,
};

const NO_DELAY: &str = "group.initial.rebalance.delay.ms=0";

/// 2026-01-01T00:00:00.000Z in milliseconds.
const JAN_1_2026: i64 = 1_767_225_600_000;

/// Runs `vltava groups ARGS --bootstrap ...`: (exit code, stdout, stderr).
fn groups(broker: &TestBroker, args: &[&str]) -> (i32, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_vltava"))
        .arg("groups")
        .args(args)
        .arg("--bootstrap")
        .arg(broker.bootstrap())
        .env("RUST_LOG", "warn")
        .output()
        .expect("run vltava groups");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// Runs a `vltava groups` command that must succeed; its stdout.
fn groups_ok(broker: &TestBroker, args: &[&str]) -> String {
    let (code, stdout, stderr) = groups(broker, args);
    assert_eq!(
        code, 0,
        "vltava groups {args:?} failed:\n{stdout}\n{stderr}"
    );
    stdout
}

/// Runs a `vltava groups ... --output json` command that must succeed.
fn groups_json(broker: &TestBroker, args: &[&str]) -> Value {
    let mut full = args.to_vec();
    full.extend(["--output", "json"]);
    let out = groups_ok(broker, &full);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"))
}

/// The rows of the table whose header starts with the words of
/// `header_starts`: cells split at whitespace, the header row left out.
fn table_rows(text: &str, header_starts: &str) -> Vec<Vec<String>> {
    let words: Vec<&str> = header_starts.split_whitespace().collect();
    let is_header = |l: &&str| {
        l.split_whitespace()
            .take(words.len())
            .eq(words.iter().copied())
    };
    let mut lines = text.lines().skip_while(|l| !is_header(l));
    assert!(
        lines.next().is_some(),
        "no table {header_starts:?} in:\n{text}"
    );
    lines
        .take_while(|l| !l.trim().is_empty())
        .map(|l| l.split_whitespace().map(str::to_string).collect())
        .collect()
}

/// Creates `topic` with `counts[p]` records in partition `p`; record `i`
/// of a partition has timestamp 2026-01-01T00:00:00Z + i seconds. Kept
/// forever (retention.ms=-1) since those timestamps are in the past.
async fn topic_with_records(client: &mut Client, topic: &str, counts: &[usize]) {
    let mut t = NewTopic::new(topic);
    t.num_partitions = Some(counts.len() as i32);
    t.configs = vec![("retention.ms".into(), "-1".into())];
    client.create_topic(&t).await.expect("create topic");
    for (p, &n) in counts.iter().enumerate() {
        if n == 0 {
            continue;
        }
        let records: Vec<ProducerRecord> = (0..n)
            .map(|i| ProducerRecord {
                timestamp: Some(JAN_1_2026 + i as i64 * 1000),
                ..ProducerRecord::value(format!("{topic}-{p}-{i}"))
            })
            .collect();
        client
            .produce(topic, p as i32, &records, Acks::All, Compression::None)
            .await
            .expect("produce");
    }
}

async fn commit(client: &mut Client, group: &str, offsets: &[(&str, i32, i64)]) {
    let offsets: Vec<OffsetToCommit> = offsets
        .iter()
        .map(|(t, p, o)| OffsetToCommit::new(*t, *p, *o))
        .collect();
    client
        .commit_offsets(group, &offsets)
        .await
        .expect("commit offsets");
}

/// The committed offsets of `group` as (topic, partition, offset).
async fn committed(client: &mut Client, group: &str) -> Vec<(String, i32, i64)> {
    client
        .fetch_offsets(group, None)
        .await
        .expect("fetch offsets")
        .into_iter()
        .filter_map(|c| c.offset.map(|o| (c.topic, c.partition, o)))
        .collect()
}

fn owned(offsets: &[(&str, i32, i64)]) -> Vec<(String, i32, i64)> {
    offsets
        .iter()
        .map(|(t, p, o)| (t.to_string(), *p, *o))
        .collect()
}

// ---------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn client_commits_fetches_and_deletes_offsets_at_the_coordinator() {
    let broker = TestBroker::start(&[NO_DELAY]);
    let mut client = broker.client().await;
    topic_with_records(&mut client, "orders", &[10, 20, 30]).await;

    let coordinator = client
        .find_coordinator("g")
        .await
        .expect("find coordinator");
    assert_eq!(coordinator.addr(), broker.bootstrap());

    // Nothing committed yet: every asked partition answers None.
    let asked = [
        TopicPartition::new("orders", 0),
        TopicPartition::new("orders", 2),
    ];
    let none = client.fetch_offsets("g", Some(&asked)).await.unwrap();
    assert_eq!(none.len(), 2);
    assert!(none.iter().all(|c| c.offset.is_none()), "{none:?}");
    assert!(committed(&mut client, "g").await.is_empty());

    let mut with_metadata = OffsetToCommit::new("orders", 1, 7);
    with_metadata.metadata = Some("note".into());
    client
        .commit_offsets("g", &[OffsetToCommit::new("orders", 0, 4), with_metadata])
        .await
        .unwrap();
    let all = client.fetch_offsets("g", None).await.unwrap();
    assert_eq!(
        all,
        vec![
            CommittedOffset {
                topic: "orders".into(),
                partition: 0,
                offset: Some(4),
                leader_epoch: -1,
                metadata: Some(String::new()),
            },
            CommittedOffset {
                topic: "orders".into(),
                partition: 1,
                offset: Some(7),
                leader_epoch: -1,
                metadata: Some("note".into()),
            },
        ]
    );
    let some = client.fetch_offsets("g", Some(&asked)).await.unwrap();
    assert_eq!(some[0].offset, Some(4));
    assert_eq!(some[1].offset, None);

    // A partition that does not exist is refused.
    let err = client
        .commit_offsets("g", &[OffsetToCommit::new("orders", 9, 1)])
        .await
        .unwrap_err();
    assert_eq!(
        err.code(),
        Some(ErrorCode::UNKNOWN_TOPIC_OR_PARTITION),
        "{err}"
    );

    // A group that only stores offsets: Empty, no protocol type.
    let listed = client.list_groups().await.unwrap();
    let g = listed.iter().find(|g| g.group_id == "g").expect("listed");
    assert_eq!(g.state.as_deref(), Some("Empty"));
    assert_eq!(g.protocol_type, "");
    let described = client.describe_groups(&["g", "unknown"]).await.unwrap();
    let g = described[0].as_ref().unwrap();
    assert_eq!(g.state, "Empty");
    assert!(g.members.is_empty());
    assert_eq!(g.coordinator.node_id, coordinator.node_id);
    assert_eq!(described[1].as_ref().unwrap().state, "Dead");

    // OffsetDelete, then DeleteGroups.
    let deleted = client
        .delete_offsets("g", &[TopicPartition::new("orders", 1)])
        .await
        .unwrap();
    assert!(deleted[0].is_ok(), "{deleted:?}");
    assert_eq!(
        committed(&mut client, "g").await,
        owned(&[("orders", 0, 4)])
    );
    let results = client.delete_groups(&["g", "unknown"]).await.unwrap();
    assert!(results[0].is_ok(), "{results:?}");
    assert_eq!(
        results[1].as_ref().unwrap_err().code(),
        Some(ErrorCode::GROUP_ID_NOT_FOUND)
    );
    assert!(committed(&mut client, "g").await.is_empty());
    let err = client
        .delete_offsets("g", &[TopicPartition::new("orders", 0)])
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::GROUP_ID_NOT_FOUND), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn describe_shows_committed_offsets_log_end_and_lag() {
    let broker = TestBroker::start(&[NO_DELAY]);
    let mut client = broker.client().await;
    topic_with_records(&mut client, "orders", &[10, 20, 30]).await;
    topic_with_records(&mut client, "audit", &[5]).await;
    commit(
        &mut client,
        "billing",
        &[("orders", 0, 4), ("orders", 1, 20), ("audit", 0, 0)],
    )
    .await;

    let list = groups_ok(&broker, &["list"]);
    assert_eq!(
        table_rows(&list, "GROUP"),
        vec![vec!["billing".to_string(), "Empty".to_string()]],
        "{list}"
    );
    let json = groups_json(&broker, &["list"]);
    assert_eq!(json["groups"][0]["group"], "billing");
    assert_eq!(json["groups"][0]["state"], "Empty");

    let text = groups_ok(&broker, &["describe", "billing"]);
    assert!(
        text.contains("Consumer group 'billing' has no active members."),
        "{text}"
    );
    // Kafka's columns; lag = log end - committed; no consumer.
    assert_eq!(
        table_rows(&text, "GROUP  TOPIC"),
        vec![
            ["billing", "audit", "0", "0", "5", "5", "-", "-", "-"],
            ["billing", "orders", "0", "4", "10", "6", "-", "-", "-"],
            ["billing", "orders", "1", "20", "20", "0", "-", "-", "-"],
        ],
        "{text}"
    );
    let state = table_rows(&text, "GROUP  COORDINATOR");
    assert_eq!(state[0][0], "billing");
    assert!(state[0].contains(&"Empty".to_string()), "{text}");

    // More records raise the lag; JSON carries the same numbers.
    client
        .produce(
            "orders",
            1,
            &[
                ProducerRecord::value("late"),
                ProducerRecord::value("later"),
            ],
            Acks::All,
            Compression::None,
        )
        .await
        .unwrap();
    let json = groups_json(&broker, &["describe", "billing"]);
    assert_eq!(json["state"], "Empty");
    assert_eq!(json["members"], serde_json::json!([]));
    let row = |topic: &str, p: i64| {
        json["offsets"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["topic"] == topic && r["partition"] == p)
            .cloned()
            .unwrap_or_else(|| panic!("no row {topic}-{p}: {json}"))
    };
    let r = row("orders", 1);
    assert_eq!(
        (&r["current_offset"], &r["log_end_offset"], &r["lag"]),
        (&Value::from(20), &Value::from(22), &Value::from(2))
    );
    assert_eq!(r["consumer_id"], Value::Null);
    assert_eq!(row("orders", 0)["lag"], 6);
    assert_eq!(json["offsets"].as_array().unwrap().len(), 3, "{json}");

    // Sections on their own.
    let only_state = groups_ok(&broker, &["describe", "billing", "--state"]);
    assert_eq!(
        table_rows(&only_state, "GROUP COORDINATOR").len(),
        1,
        "{only_state}"
    );
    assert!(!only_state.contains("LOG-END-OFFSET"), "{only_state}");

    // A group that does not exist.
    let (code, _, stderr) = groups(&broker, &["describe", "nobody"]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains("consumer group 'nobody' does not exist"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn reset_offsets_dry_run_changes_nothing_and_execute_commits() {
    let broker = TestBroker::start(&[NO_DELAY]);
    let mut client = broker.client().await;
    topic_with_records(&mut client, "orders", &[10, 20, 30]).await;
    commit(
        &mut client,
        "g",
        &[("orders", 0, 4), ("orders", 1, 5), ("orders", 2, 6)],
    )
    .await;
    let before = owned(&[("orders", 0, 4), ("orders", 1, 5), ("orders", 2, 6)]);

    // Dry run: the plan, nothing committed.
    let plan = groups_ok(
        &broker,
        &[
            "reset-offsets",
            "g",
            "--topic",
            "orders",
            "--to-earliest",
            "--dry-run",
        ],
    );
    assert_eq!(
        table_rows(&plan, "GROUP  TOPIC  PARTITION  NEW-OFFSET"),
        vec![
            ["g", "orders", "0", "0"],
            ["g", "orders", "1", "0"],
            ["g", "orders", "2", "0"],
        ],
        "{plan}"
    );
    assert_eq!(committed(&mut client, "g").await, before);

    // Execute: OffsetFetch shows the new offsets.
    let done = groups_ok(
        &broker,
        &[
            "reset-offsets",
            "g",
            "--topic",
            "orders",
            "--to-latest",
            "--execute",
        ],
    );
    assert_eq!(table_rows(&done, "GROUP").len(), 3, "{done}");
    assert_eq!(
        committed(&mut client, "g").await,
        owned(&[("orders", 0, 10), ("orders", 1, 20), ("orders", 2, 30)])
    );

    // Shift back, clamped at the log start for partition 0.
    let (code, _, stderr) = groups(
        &broker,
        &[
            "reset-offsets",
            "g",
            "--topic",
            "orders",
            "--shift-by",
            "-15",
            "--execute",
        ],
    );
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains("lower than the earliest offset of orders-0"),
        "{stderr}"
    );
    assert_eq!(
        committed(&mut client, "g").await,
        owned(&[("orders", 0, 0), ("orders", 1, 5), ("orders", 2, 15)])
    );

    // Shift forward, clamped at the log end.
    groups_ok(
        &broker,
        &[
            "reset-offsets",
            "g",
            "--topic",
            "orders",
            "--shift-by",
            "12",
            "--execute",
        ],
    );
    assert_eq!(
        committed(&mut client, "g").await,
        owned(&[("orders", 0, 10), ("orders", 1, 17), ("orders", 2, 27)])
    );

    // One partition, by --partition and by TOPIC:P; an offset past the end is clamped.
    groups_ok(
        &broker,
        &[
            "reset-offsets",
            "g",
            "--topic",
            "orders",
            "--partition",
            "1",
            "--to-offset",
            "3",
            "--execute",
        ],
    );
    groups_ok(
        &broker,
        &[
            "reset-offsets",
            "g",
            "--topic",
            "orders:2",
            "--to-offset",
            "999",
            "--execute",
        ],
    );
    assert_eq!(
        committed(&mut client, "g").await,
        owned(&[("orders", 0, 10), ("orders", 1, 3), ("orders", 2, 30)])
    );

    // By time: record i of each partition is at 2026-01-01T00:00:00Z + i s.
    let json = groups_json(
        &broker,
        &[
            "reset-offsets",
            "g",
            "--all-topics",
            "--to-datetime",
            "2026-01-01T00:00:05.000",
            "--dry-run",
        ],
    );
    assert_eq!(json["executed"], false);
    let news: Vec<(i64, i64)> = json["offsets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            (
                o["current_offset"].as_i64().unwrap(),
                o["new_offset"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(news, [(10, 5), (3, 5), (30, 5)]);
    // The same instant with a zone, executed; past the last record: the end.
    groups_ok(
        &broker,
        &[
            "reset-offsets",
            "g",
            "--topic",
            "orders:0,1",
            "--to-datetime",
            "2026-01-01T01:00:12.500+01:00",
            "--execute",
        ],
    );
    assert_eq!(
        committed(&mut client, "g").await,
        owned(&[("orders", 0, 10), ("orders", 1, 13), ("orders", 2, 30)])
    );

    // Shifting a partition without a committed offset is an error; so are
    // a missing partition and an unknown topic.
    topic_with_records(&mut client, "fresh", &[3]).await;
    let (code, _, stderr) = groups(
        &broker,
        &[
            "reset-offsets",
            "g",
            "--topic",
            "fresh",
            "--shift-by",
            "1",
            "--dry-run",
        ],
    );
    assert_eq!(code, 1);
    assert!(stderr.contains("no committed offset"), "{stderr}");
    let (code, _, stderr) = groups(
        &broker,
        &[
            "reset-offsets",
            "g",
            "--topic",
            "orders:7",
            "--to-earliest",
            "--dry-run",
        ],
    );
    assert_eq!(code, 1);
    assert!(stderr.contains("no partition 7"), "{stderr}");
    let (code, _, stderr) = groups(
        &broker,
        &[
            "reset-offsets",
            "g",
            "--topic",
            "nope",
            "--to-earliest",
            "--dry-run",
        ],
    );
    assert_eq!(code, 1);
    assert!(stderr.contains("UNKNOWN_TOPIC_OR_PARTITION"), "{stderr}");

    // A group that does not exist yet (Dead) can be given offsets.
    groups_ok(
        &broker,
        &[
            "reset-offsets",
            "newcomer",
            "--topic",
            "fresh",
            "--to-latest",
            "--execute",
        ],
    );
    assert_eq!(
        committed(&mut client, "newcomer").await,
        owned(&[("fresh", 0, 3)])
    );
}

/// A consumer-group member made by hand: JoinGroup (twice: the first
/// answer hands out the member id), SyncGroup with the leader's
/// assignment, and LeaveGroup at the end.
struct HandMember {
    conn: Connection,
    group: String,
    member_id: String,
}

impl HandMember {
    async fn join(client: &mut Client, group: &str, topic: &str, assigned: &[i32]) -> HandMember {
        let coordinator = client.find_coordinator(group).await.unwrap();
        let config = ConnectionConfig {
            client_id: Some("hand-made".into()),
            ..ConnectionConfig::default()
        };
        let mut conn = Connection::connect(&coordinator.addr(), config)
            .await
            .unwrap();
        let mut join = JoinGroupRequest {
            group_id: group.into(),
            session_timeout_ms: 60_000,
            rebalance_timeout_ms: 60_000,
            member_id: String::new(),
            protocol_type: CONSUMER_PROTOCOL_TYPE.into(),
            protocols: vec![JoinGroupRequestProtocol {
                name: "range".into(),
                metadata: encode_subscription(&[topic]),
                ..Default::default()
            }],
            ..Default::default()
        };
        let mut resp = conn.send(&join).await.unwrap();
        if ErrorCode(resp.error_code) == ErrorCode::MEMBER_ID_REQUIRED {
            join.member_id = resp.member_id.clone();
            resp = conn.send(&join).await.unwrap();
        }
        assert_eq!(ErrorCode(resp.error_code), ErrorCode::NONE, "{resp:?}");
        assert_eq!(resp.leader, resp.member_id, "the only member leads");
        let assignment = encode_assignment(&MemberAssignment {
            partitions: assigned
                .iter()
                .map(|p| TopicPartition::new(topic, *p))
                .collect(),
            user_data: None,
        });
        let sync = SyncGroupRequest {
            group_id: group.into(),
            generation_id: resp.generation_id,
            member_id: resp.member_id.clone(),
            protocol_type: Some(CONSUMER_PROTOCOL_TYPE.into()),
            protocol_name: resp.protocol_name.clone(),
            assignments: vec![SyncGroupRequestAssignment {
                member_id: resp.member_id.clone(),
                assignment: assignment.clone(),
                ..Default::default()
            }],
            ..Default::default()
        };
        let synced = conn.send(&sync).await.unwrap();
        assert_eq!(ErrorCode(synced.error_code), ErrorCode::NONE, "{synced:?}");
        assert_eq!(synced.assignment, assignment);
        HandMember {
            conn,
            group: group.into(),
            member_id: resp.member_id,
        }
    }

    async fn leave(mut self) {
        let req = LeaveGroupRequest {
            group_id: self.group.clone(),
            member_id: self.member_id.clone(),
            members: vec![MemberIdentity {
                member_id: self.member_id.clone(),
                ..Default::default()
            }],
            ..Default::default()
        };
        // member_id is the v0-2 field, members the v3+ one: send what the
        // negotiated version carries.
        let version = self
            .conn
            .negotiated_version(vltava_client::protocol::ApiKey::LeaveGroup)
            .unwrap();
        let req = if version >= 3 {
            LeaveGroupRequest {
                member_id: String::new(),
                ..req
            }
        } else {
            LeaveGroupRequest {
                members: Vec::new(),
                ..req
            }
        };
        let resp = self.conn.send_version(&req, version).await.unwrap();
        assert_eq!(ErrorCode(resp.error_code), ErrorCode::NONE, "{resp:?}");
    }
}

async fn wait_for_state(client: &mut Client, group: &str, state: &str) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let now = client.describe_group(group).await.unwrap().state;
        if now == state {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "group {group} stayed {now}, expected {state}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_group_with_a_member_is_described_and_cannot_be_reset_or_deleted() {
    let broker = TestBroker::start(&[NO_DELAY]);
    let mut client = broker.client().await;
    topic_with_records(&mut client, "orders", &[10, 20, 30]).await;
    // Offsets first, as a consumer outside the group; then a member joins
    // and is assigned partitions 0 and 1 (2 stays unassigned).
    commit(&mut client, "live", &[("orders", 0, 3), ("orders", 2, 30)]).await;
    let member = HandMember::join(&mut client, "live", "orders", &[1, 0]).await;
    let member_id = member.member_id.clone();

    let listed = groups_json(&broker, &["list"]);
    assert_eq!(listed["groups"][0]["state"], "Stable", "{listed}");
    assert_eq!(listed["groups"][0]["protocol_type"], "consumer", "{listed}");

    let text = groups_ok(&broker, &["describe", "live"]);
    let state = table_rows(&text, "GROUP  COORDINATOR");
    assert!(state[0].contains(&"range".to_string()), "{text}");
    assert!(state[0].contains(&"Stable".to_string()), "{text}");
    assert_eq!(state[0].last().unwrap(), "1", "{text}");
    assert_eq!(
        table_rows(&text, "GROUP  CONSUMER-ID"),
        vec![vec![
            "live".to_string(),
            member_id.clone(),
            "/127.0.0.1".into(),
            "hand-made".into(),
            "2".into(),
            "orders(0,1)".into(),
        ]],
        "{text}"
    );
    let id = member_id.as_str();
    assert_eq!(
        table_rows(&text, "GROUP  TOPIC"),
        vec![
            [
                "live",
                "orders",
                "0",
                "3",
                "10",
                "7",
                id,
                "/127.0.0.1",
                "hand-made"
            ],
            [
                "live",
                "orders",
                "1",
                "-",
                "20",
                "-",
                id,
                "/127.0.0.1",
                "hand-made"
            ],
            ["live", "orders", "2", "30", "30", "0", "-", "-", "-"],
        ],
        "{text}"
    );
    let json = groups_json(&broker, &["describe", "live"]);
    assert_eq!(json["protocol"], "range");
    assert_eq!(json["members"][0]["member_id"], id);
    assert_eq!(
        json["members"][0]["assignment"],
        serde_json::json!([
            {"topic": "orders", "partition": 0},
            {"topic": "orders", "partition": 1},
        ])
    );
    let d = client.describe_group("live").await.unwrap();
    assert_eq!(
        d.members[0]
            .consumer_assignment
            .as_ref()
            .unwrap()
            .partitions,
        [
            TopicPartition::new("orders", 0),
            TopicPartition::new("orders", 1)
        ]
    );

    // Reset is refused with Kafka's message, and nothing changes.
    for mode in ["--dry-run", "--execute"] {
        let (code, stdout, stderr) = groups(
            &broker,
            &[
                "reset-offsets",
                "live",
                "--topic",
                "orders",
                "--to-earliest",
                mode,
            ],
        );
        assert_eq!(code, 1, "{stdout}");
        assert!(
            stderr.contains(
                "Assignments can only be reset if the group 'live' is inactive, but the \
                 current state is Stable."
            ),
            "{stderr}"
        );
    }
    assert_eq!(
        committed(&mut client, "live").await,
        owned(&[("orders", 0, 3), ("orders", 2, 30)])
    );
    // So are deleting it and committing from outside it.
    let (code, _, stderr) = groups(&broker, &["delete", "live"]);
    assert_eq!(code, 1);
    assert!(stderr.contains("NON_EMPTY_GROUP"), "{stderr}");
    let err = client
        .commit_offsets("live", &[OffsetToCommit::new("orders", 0, 1)])
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::UNKNOWN_MEMBER_ID), "{err}");

    // Once the member has left, the group is Empty and can be reset and deleted.
    member.leave().await;
    wait_for_state(&mut client, "live", "Empty").await;
    groups_ok(
        &broker,
        &[
            "reset-offsets",
            "live",
            "--topic",
            "orders",
            "--to-earliest",
            "--execute",
        ],
    );
    assert_eq!(
        committed(&mut client, "live").await,
        owned(&[("orders", 0, 0), ("orders", 1, 0), ("orders", 2, 0)])
    );
    let out = groups_ok(&broker, &["delete", "live"]);
    assert_eq!(out, "Deleted group 'live'.\n");
}

#[tokio::test(flavor = "multi_thread")]
async fn delete_removes_groups_and_their_offsets() {
    let broker = TestBroker::start(&[NO_DELAY]);
    let mut client = broker.client().await;
    topic_with_records(&mut client, "orders", &[10]).await;
    commit(&mut client, "a", &[("orders", 0, 1)]).await;
    commit(&mut client, "b", &[("orders", 0, 2)]).await;
    commit(&mut client, "c", &[("orders", 0, 3)]).await;

    let out = groups_ok(&broker, &["delete", "a", "b"]);
    assert_eq!(out, "Deleted group 'a'.\nDeleted group 'b'.\n");
    assert!(committed(&mut client, "a").await.is_empty());
    let listed = groups_json(&broker, &["list"]);
    let ids: Vec<&str> = listed["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["group"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["c"]);

    // A group that is not there: the others are still deleted, the exit
    // code says something failed, and the error names the group.
    let (code, stdout, stderr) = groups(&broker, &["delete", "a", "c"]);
    assert_eq!(code, 1);
    assert_eq!(stdout, "Deleted group 'c'.\n");
    assert!(stderr.contains("group 'a'"), "{stderr}");
    assert!(stderr.contains("GROUP_ID_NOT_FOUND"), "{stderr}");
    let (code, stdout, _) = groups(&broker, &["delete", "a", "--output", "json"]);
    assert_eq!(code, 1);
    let json: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(json["groups"][0]["deleted"], false);
    assert!(json["groups"][0]["error"]
        .as_str()
        .unwrap()
        .contains("GROUP_ID_NOT_FOUND"));
    assert_eq!(
        groups_json(&broker, &["list"])["groups"],
        serde_json::json!([])
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn committed_offsets_survive_a_clean_restart_and_kill_9() {
    let mut broker = TestBroker::start(&[NO_DELAY]);
    let mut client = broker.client().await;
    topic_with_records(&mut client, "orders", &[10, 20]).await;
    commit(&mut client, "kept", &[("orders", 0, 4), ("orders", 1, 11)]).await;
    commit(&mut client, "dropped", &[("orders", 0, 9)]).await;
    groups_ok(&broker, &["delete", "dropped"]);
    drop(client);

    broker.stop();
    broker.restart();
    let mut client = broker.client().await;
    assert_eq!(
        committed(&mut client, "kept").await,
        owned(&[("orders", 0, 4), ("orders", 1, 11)])
    );
    assert!(committed(&mut client, "dropped").await.is_empty());
    let text = groups_ok(&broker, &["describe", "kept", "--offsets"]);
    assert_eq!(
        table_rows(&text, "GROUP  TOPIC"),
        vec![
            ["kept", "orders", "0", "4", "10", "6", "-", "-", "-"],
            ["kept", "orders", "1", "11", "20", "9", "-", "-", "-"],
        ],
        "{text}"
    );
    let ids: Vec<String> = client
        .list_groups()
        .await
        .unwrap()
        .into_iter()
        .map(|g| g.group_id)
        .collect();
    assert_eq!(ids, ["kept"]);

    // New commits (by the client and by reset-offsets), then SIGKILL.
    commit(&mut client, "kept", &[("orders", 0, 7)]).await;
    groups_ok(
        &broker,
        &[
            "reset-offsets",
            "kept",
            "--topic",
            "orders:1",
            "--to-offset",
            "15",
            "--execute",
        ],
    );
    drop(client);
    broker.kill9();
    broker.restart();
    let mut client = broker.client().await;
    assert_eq!(
        committed(&mut client, "kept").await,
        owned(&[("orders", 0, 7), ("orders", 1, 15)])
    );
    assert_eq!(client.describe_group("kept").await.unwrap().state, "Empty");
}
