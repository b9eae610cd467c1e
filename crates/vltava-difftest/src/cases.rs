//! The battery. A case is an `async fn(&mut Session)` that sends requests
//! with `s.send` / `s.send_v` (recorded and compared), `s.setup` (not
//! recorded) and `s.until` (retried until a condition holds); it runs once
//! against each broker, so it must not depend on anything but the answers
//! it gets. To add one: write the function, add a line to [`ALL`] with
//! `case!`, run it, and either fix what differs or list it in the line's
//! `known` with the reason (and in docs/compatibility.md).

use std::time::Duration;

use bytes::Bytes;
use vltava_client::consumer_protocol::encode_subscription;
use vltava_client::protocol::messages::*;
use vltava_client::protocol::Uuid;
use vltava_records::{Compression, RecordBatchBuilder};

use crate::{Case, Known, Session};

macro_rules! case {
    ($f:ident) => {
        case!($f, [])
    };
    ($f:ident, [$(($pattern:expr, $reason:expr)),* $(,)?]) => {
        Case {
            name: stringify!($f),
            run: |s| Box::pin($f(s)),
            known: &[$(Known { pattern: $pattern, reason: $reason }),*],
        }
    };
}

/// Differences every case may show, with the reason they are accepted.
pub const EVERY_CASE: &[Known] = &[Known {
    pattern: "*error_message",
    reason: "error messages are free text for people; Kafka leaves many null \
             (and sends one for some successes) where Vltava explains the error",
}];

// Reasons shared by several entries below; each is in docs/compatibility.md.
const OLD_PRODUCE: &str = "Kafka 4 still lists Produce v0-v2 in ApiVersions but closes the \
    connection on them (KIP-896); Vltava serves them, for old clients";
const MIN_ISR_SOURCE: &str = "a Kafka 4 cluster stores min.insync.replicas=1 as a cluster-wide \
    dynamic default when it is formatted (eligible leader replicas, KIP-966), so its source is \
    DYNAMIC_DEFAULT_BROKER_CONFIG; Vltava has no such record and reports DEFAULT_CONFIG";
const OUT_OF_RANGE: &str = "Vltava's OFFSET_OUT_OF_RANGE carries the partition's high watermark \
    and log start offset (its replica fetchers restart from them without a ListOffsets); \
    Kafka sends -1";
const CONFIG_SET: &str =
    "topic config sets: Vltava keeps the three Kafka 3.x configs Kafka 4 removed \
             (message.format.version, message.downconversion.enable, \
             message.timestamp.difference.max.ms) so 3.x tooling that sets them still works, \
             and does not list Kafka 4's configs for features it lacks \
             (errors.deadletterqueue.group.enable, max.decompressed.message.bytes, \
             remote.copy.lag.bytes, remote.copy.lag.ms)";
const NOT_DECOMPRESSED: &str = "Vltava checks a batch from its header and CRC and does not \
    decompress it on produce (except on compacted topics), so a batch whose compressed bytes \
    are bad is stored; Kafka decompresses every batch and answers UNKNOWN_SERVER_ERROR";

/// Every case, in the order they run.
pub const ALL: &[Case] = &[
    case!(api_versions, [(
        "ApiVersions range of *",
        "Kafka 4 dropped the oldest versions of several APIs (KIP-896), which Vltava still \
         serves for old clients, and has newer versions Vltava does not speak yet; clients \
         use the newest version both speak"
    )]),
    case!(metadata_every_version),
    case!(metadata_unknown_topics),
    case!(create_topics_errors, [
        ("CreateTopics ok v*: topics[0].configs[min.insync.replicas].config_source", MIN_ISR_SOURCE),
        ("CreateTopics ok v*: topics[0].configs[*]", CONFIG_SET),
    ]),
    case!(create_topics_configs),
    case!(delete_topics),
    case!(create_partitions),
    case!(describe_configs, [(
        "DescribeConfigs of topic keys v*: results[0].configs[min.insync.replicas].config_source",
        MIN_ISR_SOURCE
    )]),
    case!(alter_configs),
    case!(incremental_alter_configs, [(
        "IncrementalAlterConfigs bad operation v*: responses[0].error_code",
        "an unknown operation: Kafka's handler fails on it (UNKNOWN_SERVER_ERROR); Vltava \
         answers INVALID_REQUEST"
    )]),
    case!(broker_configs),
    case!(produce_and_fetch_every_version, [
        ("Produce acks=* v0:", OLD_PRODUCE),
        ("Produce acks=* v1:", OLD_PRODUCE),
        ("Produce acks=* v2:", OLD_PRODUCE),
    ]),
    case!(produce_compression),
    case!(produce_errors, [
        ("Produce * v0:", OLD_PRODUCE),
        ("Produce gzip that is not v*: responses[0].partition_responses[0]", NOT_DECOMPRESSED),
        (
            "Produce codec 7 v*: responses[0].partition_responses[0]",
            "an unknown codec id: Kafka fails on it (UNKNOWN_SERVER_ERROR, with the log start \
             offset); Vltava answers CORRUPT_MESSAGE (without, as for every corrupt batch)"
        ),
    ]),
    case!(fetch_errors, [
        ("Fetch beyond the end v*: responses[0].partitions[0]", OUT_OF_RANGE),
        ("Fetch below the start v*: responses[0].partitions[0]", OUT_OF_RANGE),
    ]),
    case!(list_offsets),
    case!(offset_for_leader_epoch),
    case!(delete_records),
    case!(find_coordinator),
    case!(group_lifecycle),
    case!(group_errors),
    case!(offsets_without_a_group_member),
    case!(init_producer_id),
    case!(idempotent_produce, [(
        "Produce seq 0 again (duplicate) v*: responses[0].partition_responses[0].log_append_time_ms",
        "a duplicate batch: Kafka reports the original batch's timestamp as log append time \
         even on a CreateTime topic; Vltava -1, as for any CreateTime append"
    )]),
    case!(transaction_commit_and_abort),
    case!(transaction_errors),
    case!(describe_cluster_and_log_dirs),
    case!(static_membership),
    case!(fetch_sessions, [(
        "Fetch creating a session v*: session_id",
        "Vltava never creates a fetch session (KIP-227): it answers a request for one with \
         session id 0, which tells the client to keep sending full fetches; Kafka creates one"
    )]),
    case!(describe_producers),
    case!(acls_without_an_authorizer),
    case!(scram_credentials),
    case!(client_quotas),
    case!(more_admin_and_produce_errors, [
        (
            "CreateTopics assigned to this broker v*: topics[0].configs[min.insync.replicas].config_source",
            MIN_ISR_SOURCE
        ),
        ("CreateTopics assigned to this broker v*: topics[0].configs[*]", CONFIG_SET),
    ]),
];

// ---- helpers -------------------------------------------------------------

const TIMEOUT: i32 = 10_000;
const SETTLE: Duration = Duration::from_secs(15);

/// Creates `name` (not recorded) and waits until every partition has a
/// leader: Kafka's brokers learn of a new topic a moment after the
/// controller answers.
async fn topic(s: &mut Session, name: &str, partitions: i32, configs: &[(&str, &str)]) {
    let req = CreateTopicsRequest {
        topics: vec![creatable(name, partitions, 1, configs)],
        timeout_ms: TIMEOUT,
        ..Default::default()
    };
    s.setup(&req).await;
    wait_for_leaders(s, name, partitions).await;
}

async fn wait_for_leaders(s: &mut Session, name: &str, partitions: i32) {
    let req = metadata(&[name]);
    let deadline = std::time::Instant::now() + SETTLE;
    while std::time::Instant::now() < deadline {
        if let Some(r) = s.setup(&req).await {
            let ready = r.topics.iter().any(|t| {
                t.error_code == 0
                    && t.partitions.len() == partitions as usize
                    && t.partitions.iter().all(|p| p.leader_id >= 0)
            });
            if ready && logs_exist(s, name, partitions).await {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Whether the broker has made the log of every partition: Kafka names a
/// leader in its metadata a moment before the leader has created the log
/// (DescribeLogDirs leaves such partitions out).
async fn logs_exist(s: &mut Session, name: &str, partitions: i32) -> bool {
    let req = DescribeLogDirsRequest {
        topics: Some(vec![describe_log_dirs_request::DescribableLogDirTopic {
            topic: name.into(),
            partitions: (0..partitions).collect(),
            ..Default::default()
        }]),
        ..Default::default()
    };
    let Some(r) = s.setup(&req).await else {
        return false;
    };
    let found: usize = r
        .results
        .iter()
        .flat_map(|d| &d.topics)
        .map(|t| t.partitions.len())
        .sum();
    found == partitions as usize
}

fn creatable(
    name: &str,
    partitions: i32,
    rf: i16,
    configs: &[(&str, &str)],
) -> create_topics_request::CreatableTopic {
    create_topics_request::CreatableTopic {
        name: name.into(),
        num_partitions: partitions,
        replication_factor: rf,
        configs: configs
            .iter()
            .map(|(k, v)| create_topics_request::CreatableTopicConfig {
                name: (*k).into(),
                value: Some((*v).into()),
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    }
}

fn metadata(names: &[&str]) -> MetadataRequest {
    MetadataRequest {
        topics: Some(
            names
                .iter()
                .map(|n| metadata_request::MetadataRequestTopic {
                    name: Some((*n).into()),
                    ..Default::default()
                })
                .collect(),
        ),
        allow_auto_topic_creation: false,
        ..Default::default()
    }
}

/// The topic's id on this broker (Fetch v13+ names topics by id).
async fn topic_id(s: &mut Session, name: &str) -> Uuid {
    let r = s.setup(&metadata(&[name])).await;
    r.and_then(|r| r.topics.into_iter().next())
        .map(|t| t.topic_id)
        .unwrap_or(Uuid::ZERO)
}

/// A batch of `values` with chosen timestamps (compared as they are).
fn batch(values: &[&str]) -> Bytes {
    batch_with(RecordBatchBuilder::new(), values)
}

fn batch_with(mut b: RecordBatchBuilder, values: &[&str]) -> Bytes {
    for (i, v) in values.iter().enumerate() {
        let key = format!("k{i}");
        let headers: &[(&[u8], Option<&[u8]>)] = &[(b"h", Some(b"x")), (b"null", None)];
        b.append(
            1_000 + i as i64,
            Some(key.as_bytes()),
            Some(v.as_bytes()),
            headers,
        )
        .expect("append");
    }
    b.build().expect("build")
}

fn produce(topic: &str, partition: i32, records: Bytes, acks: i16) -> ProduceRequest {
    produce_txn(None, topic, partition, records, acks)
}

fn produce_txn(
    txn: Option<&str>,
    topic: &str,
    partition: i32,
    records: Bytes,
    acks: i16,
) -> ProduceRequest {
    ProduceRequest {
        transactional_id: txn.map(Into::into),
        acks,
        timeout_ms: TIMEOUT,
        topic_data: vec![produce_request::TopicProduceData {
            name: topic.into(),
            partition_data: vec![produce_request::PartitionProduceData {
                index: partition,
                records: Some(records),
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    }
}

fn fetch(topic: &str, id: Uuid, partition: i32, offset: i64, epoch: i32) -> FetchRequest {
    FetchRequest {
        replica_id: -1,
        max_wait_ms: 0,
        min_bytes: 0,
        max_bytes: 1 << 20,
        isolation_level: 0,
        session_epoch: -1,
        topics: vec![fetch_request::FetchTopic {
            topic: topic.into(),
            topic_id: id,
            partitions: vec![fetch_request::FetchPartition {
                partition,
                current_leader_epoch: epoch,
                fetch_offset: offset,
                log_start_offset: -1,
                partition_max_bytes: 1 << 20,
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    }
}

/// A fetch in `version`: topics go by name before v13 and by id after.
async fn fetch_v(s: &mut Session, label: &str, mut req: FetchRequest, version: i16) {
    for t in &mut req.topics {
        if version >= 13 {
            t.topic.clear();
        } else {
            t.topic_id = Uuid::ZERO;
        }
    }
    s.send_v(label, &req, version).await;
}

/// What a consumer reads from offset 0 to the end with fetches at the
/// newest version, batch after batch: one fetch may stop early (Kafka's
/// reads end where its high watermark's cached file position does), so a
/// single answer is not comparable, but the whole read is.
#[derive(Debug)]
struct ReadToEnd {
    high_watermark: i64,
    last_stable_offset: i64,
    aborted_transactions: Vec<Aborted>,
    records: Bytes,
}

#[derive(Debug, PartialEq)]
struct Aborted {
    producer_id: i64,
    first_offset: i64,
}

async fn fetch_all(s: &mut Session, label: &str, topic: &str, id: Uuid, isolation: i8) {
    let v = s.latest::<FetchRequest>();
    let mut out = ReadToEnd {
        high_watermark: -1,
        last_stable_offset: -1,
        aborted_transactions: vec![],
        records: Bytes::new(),
    };
    let mut all = Vec::new();
    let mut offset = 0;
    for _ in 0..50 {
        let mut req = fetch(topic, id, 0, offset, -1);
        req.isolation_level = isolation;
        req.topics[0].topic.clear();
        let Some(r) = s.setup_v(&req, v).await else {
            break;
        };
        let Some(p) = r.responses.first().and_then(|t| t.partitions.first()) else {
            break;
        };
        out.high_watermark = p.high_watermark;
        out.last_stable_offset = p.last_stable_offset;
        for a in p.aborted_transactions.iter().flatten() {
            let a = Aborted {
                producer_id: a.producer_id,
                first_offset: a.first_offset,
            };
            if !out.aborted_transactions.contains(&a) {
                out.aborted_transactions.push(a);
            }
        }
        let data = p.records.clone().unwrap_or_default();
        let next = vltava_records::BatchSplitter::new(data.clone())
            .filter_map(Result::ok)
            .map(|b| b.next_offset())
            .last();
        let end = if isolation == 1 {
            p.last_stable_offset
        } else {
            p.high_watermark
        };
        match next {
            Some(next) if next > offset => {
                all.extend_from_slice(&data);
                offset = next;
            }
            _ => break,
        }
        if offset >= end {
            break;
        }
    }
    out.records = Bytes::from(all);
    s.note(label, out);
}

fn list_offsets_req(topic: &str, partition: i32, timestamp: i64, epoch: i32) -> ListOffsetsRequest {
    ListOffsetsRequest {
        replica_id: -1,
        topics: vec![list_offsets_request::ListOffsetsTopic {
            name: topic.into(),
            partitions: vec![list_offsets_request::ListOffsetsPartition {
                partition_index: partition,
                current_leader_epoch: epoch,
                timestamp,
                max_num_offsets: 1,
                ..Default::default()
            }],
            ..Default::default()
        }],
        timeout_ms: TIMEOUT,
        ..Default::default()
    }
}

fn describe_configs_req(
    resource_type: i8,
    name: &str,
    keys: Option<&[&str]>,
) -> DescribeConfigsRequest {
    DescribeConfigsRequest {
        resources: vec![describe_configs_request::DescribeConfigsResource {
            resource_type,
            resource_name: name.into(),
            configuration_keys: keys.map(|k| k.iter().map(|s| (*s).into()).collect()),
            ..Default::default()
        }],
        ..Default::default()
    }
}

const TOPIC_RESOURCE: i8 = 2;
const BROKER_RESOURCE: i8 = 4;

/// The topic configs the describe cases read: ones both brokers define.
const SOME_TOPIC_CONFIGS: &[&str] = &[
    "cleanup.policy",
    "retention.ms",
    "segment.bytes",
    "max.message.bytes",
    "min.insync.replicas",
    "compression.type",
    "message.timestamp.type",
];

async fn node_id(s: &mut Session) -> i32 {
    s.setup(&metadata(&[]))
        .await
        .and_then(|r| r.brokers.first().map(|b| b.node_id))
        .unwrap_or(-1)
}

async fn coordinator(s: &mut Session, key: &str, key_type: i8) {
    // The newest version names keys in a list (v4+, KIP-699).
    let req = FindCoordinatorRequest {
        key_type,
        coordinator_keys: vec![key.into()],
        ..Default::default()
    };
    // Kafka answers COORDINATOR_NOT_AVAILABLE until it has made and
    // loaded its internal topic; both are asked until they are ready.
    s.until(&format!("FindCoordinator {key_type}"), &req, SETTLE, |r| {
        r.error_code == 0 && r.coordinators.iter().all(|c| c.error_code == 0)
    })
    .await;
}

// ---- admin -----------------------------------------------------------------

/// The version ranges of the client APIs both serve. Kafka 4 dropped the
/// oldest versions of many (KIP-896); Vltava still speaks them.
async fn api_versions(s: &mut Session) {
    let req = ApiVersionsRequest {
        client_software_name: "difftest".into(),
        client_software_version: "1".into(),
        ..Default::default()
    };
    // Only the error code and the client APIs' ranges are compared: the
    // whole answer lists internal APIs only one of them serves, and
    // feature levels only Kafka has.
    for v in s.versions::<ApiVersionsRequest>() {
        if let Some(r) = s.setup_v(&req, v).await {
            s.note(&format!("ApiVersions v{v} error"), r.error_code);
            if v == s.latest::<ApiVersionsRequest>() {
                for api in CLIENT_APIS {
                    let range = r
                        .api_keys
                        .iter()
                        .find(|k| k.api_key == *api as i16)
                        .map(|k| (k.min_version, k.max_version));
                    s.note(&format!("ApiVersions range of {}", api.name()), range);
                }
            }
        }
    }
}

const CLIENT_APIS: &[ApiKey] = &[
    ApiKey::Produce,
    ApiKey::Fetch,
    ApiKey::ListOffsets,
    ApiKey::Metadata,
    ApiKey::OffsetCommit,
    ApiKey::OffsetFetch,
    ApiKey::FindCoordinator,
    ApiKey::JoinGroup,
    ApiKey::Heartbeat,
    ApiKey::LeaveGroup,
    ApiKey::SyncGroup,
    ApiKey::DescribeGroups,
    ApiKey::ListGroups,
    ApiKey::ApiVersions,
    ApiKey::CreateTopics,
    ApiKey::DeleteTopics,
    ApiKey::DeleteRecords,
    ApiKey::InitProducerId,
    ApiKey::OffsetForLeaderEpoch,
    ApiKey::AddPartitionsToTxn,
    ApiKey::AddOffsetsToTxn,
    ApiKey::EndTxn,
    ApiKey::TxnOffsetCommit,
    ApiKey::DescribeConfigs,
    ApiKey::AlterConfigs,
    ApiKey::DescribeLogDirs,
    ApiKey::CreatePartitions,
    ApiKey::DeleteGroups,
    ApiKey::ElectLeaders,
    ApiKey::IncrementalAlterConfigs,
    ApiKey::OffsetDelete,
    ApiKey::DescribeCluster,
    ApiKey::DescribeTransactions,
    ApiKey::ListTransactions,
    ApiKey::DescribeTopicPartitions,
    ApiKey::CreateAcls,
    ApiKey::DescribeAcls,
    ApiKey::DeleteAcls,
    ApiKey::DescribeUserScramCredentials,
    ApiKey::AlterUserScramCredentials,
    ApiKey::DescribeClientQuotas,
    ApiKey::AlterClientQuotas,
    ApiKey::CreateDelegationToken,
    ApiKey::RenewDelegationToken,
    ApiKey::ExpireDelegationToken,
    ApiKey::DescribeDelegationToken,
];

async fn metadata_every_version(s: &mut Session) {
    let name = s.name("md");
    topic(s, &name, 3, &[]).await;
    for v in s.versions::<MetadataRequest>() {
        let mut req = metadata(&[&name]);
        req.include_cluster_authorized_operations = (8..=10).contains(&v);
        s.send_v("Metadata", &req, v).await;
    }
}

async fn metadata_unknown_topics(s: &mut Session) {
    let missing = s.name("md-missing");
    for v in s.old_and_new::<MetadataRequest>() {
        s.send_v("Metadata of a missing topic", &metadata(&[&missing]), v)
            .await;
    }
    let req = MetadataRequest {
        topics: Some(vec![metadata_request::MetadataRequestTopic {
            topic_id: Uuid([7; 16]),
            name: None,
            ..Default::default()
        }]),
        ..Default::default()
    };
    s.send("Metadata of an unknown topic id", &req).await;
    let req = metadata(&["bad/name"]);
    s.send("Metadata of an invalid name", &req).await;
    // auto.create.topics.enable is on by default in both.
    let auto = s.name("md-auto");
    let mut req = metadata(&[&auto]);
    req.allow_auto_topic_creation = true;
    s.until("Metadata creating a topic", &req, SETTLE, |r| {
        r.topics
            .iter()
            .all(|t| t.error_code == 0 && !t.partitions.is_empty())
    })
    .await;
}

async fn create_topics_errors(s: &mut Session) {
    let existing = s.name("ct-existing");
    topic(s, &existing, 1, &[]).await;
    for v in s.old_and_new::<CreateTopicsRequest>() {
        let ok = s.name(&format!("ct-ok-v{v}"));
        let cases: Vec<(&str, create_topics_request::CreatableTopic)> = vec![
            ("exists", creatable(&existing, 1, 1, &[])),
            ("rf 0", creatable(&s.name("ct-rf0"), 1, 0, &[])),
            ("rf 3 on 1 broker", creatable(&s.name("ct-rf3"), 1, 3, &[])),
            ("rf -2", creatable(&s.name("ct-rfm2"), 1, -2, &[])),
            ("0 partitions", creatable(&s.name("ct-p0"), 0, 1, &[])),
            ("-5 partitions", creatable(&s.name("ct-pm5"), -5, 1, &[])),
            ("bad name", creatable("bad/name", 1, 1, &[])),
            ("name ..", creatable("..", 1, 1, &[])),
            ("name too long", creatable(&"x".repeat(250), 1, 1, &[])),
            (
                "unknown config",
                creatable(&s.name("ct-cfg1"), 1, 1, &[("no.such.config", "1")]),
            ),
            (
                "bad policy",
                creatable(&s.name("ct-cfg2"), 1, 1, &[("cleanup.policy", "bogus")]),
            ),
            (
                "bad number",
                creatable(&s.name("ct-cfg3"), 1, 1, &[("retention.ms", "soon")]),
            ),
            (
                "bad min.isr",
                creatable(&s.name("ct-cfg4"), 1, 1, &[("min.insync.replicas", "0")]),
            ),
            ("ok", creatable(&ok, 2, -1, &[])),
        ];
        for (what, t) in cases {
            let req = CreateTopicsRequest {
                topics: vec![t],
                timeout_ms: TIMEOUT,
                ..Default::default()
            };
            s.send_v(&format!("CreateTopics {what}"), &req, v).await;
        }
        let twice = CreateTopicsRequest {
            topics: vec![
                creatable(&s.name("ct-twice"), 1, 1, &[]),
                creatable(&s.name("ct-twice"), 1, 1, &[]),
            ],
            timeout_ms: TIMEOUT,
            ..Default::default()
        };
        s.send_v("CreateTopics the same name twice", &twice, v)
            .await;
    }
}

async fn create_topics_configs(s: &mut Session) {
    let name = s.name("ct-configs");
    let configs = [("cleanup.policy", "compact"), ("retention.ms", "12345")];
    let mut req = CreateTopicsRequest {
        topics: vec![creatable(&name, 2, 1, &configs)],
        timeout_ms: TIMEOUT,
        validate_only: true,
        ..Default::default()
    };
    let v = s.latest::<CreateTopicsRequest>();
    // Only the given configs: the full list (v5+) holds every topic config
    // each broker defines, a set compared by describe_configs.
    if let Some(mut r) = s.setup(&req).await {
        for t in &mut r.topics {
            keep_configs(t, &["cleanup.policy", "retention.ms", "segment.bytes"]);
        }
        s.note(&format!("CreateTopics validate_only v{v}"), r);
    }
    req.validate_only = false;
    if let Some(mut r) = s.setup(&req).await {
        for t in &mut r.topics {
            keep_configs(t, &["cleanup.policy", "retention.ms", "segment.bytes"]);
        }
        s.note(&format!("CreateTopics v{v}"), r);
    }
    wait_for_leaders(s, &name, 2).await;
    s.send(
        "DescribeConfigs of the new topic",
        &describe_configs_req(
            TOPIC_RESOURCE,
            &name,
            Some(&["cleanup.policy", "retention.ms"]),
        ),
    )
    .await;
}

fn keep_configs(t: &mut create_topics_response::CreatableTopicResult, keep: &[&str]) {
    if let Some(c) = &mut t.configs {
        c.retain(|c| keep.contains(&c.name.as_str()));
        c.sort_by(|a, b| a.name.cmp(&b.name));
    }
}

async fn delete_topics(s: &mut Session) {
    for v in s.old_and_new::<DeleteTopicsRequest>() {
        let name = s.name(&format!("dt-v{v}"));
        topic(s, &name, 1, &[]).await;
        let id = topic_id(s, &name).await;
        let missing = s.name("dt-missing");
        let req = |names: Vec<&str>, by_id: bool| DeleteTopicsRequest {
            // Names before v6, name-or-id states from v6 on.
            topics: if v >= 6 {
                names
                    .iter()
                    .map(|n| delete_topics_request::DeleteTopicState {
                        name: (!by_id).then(|| (*n).into()),
                        topic_id: if by_id { id } else { Uuid::ZERO },
                        ..Default::default()
                    })
                    .collect()
            } else {
                vec![]
            },
            topic_names: if v < 6 {
                names.iter().map(|n| (*n).into()).collect()
            } else {
                vec![]
            },
            timeout_ms: TIMEOUT,
            ..Default::default()
        };
        s.send_v(
            "DeleteTopics of a missing topic",
            &req(vec![&missing], false),
            v,
        )
        .await;
        if v >= 6 {
            s.send_v("DeleteTopics by id", &req(vec![&name], true), v)
                .await;
            s.send_v("DeleteTopics by id again", &req(vec![&name], true), v)
                .await;
        } else {
            s.send_v("DeleteTopics", &req(vec![&name], false), v).await;
        }
        s.until(
            "Metadata after the delete",
            &metadata(&[&name]),
            SETTLE,
            |r| r.topics.iter().all(|t| t.error_code != 0),
        )
        .await;
    }
}

async fn create_partitions(s: &mut Session) {
    let name = s.name("cp");
    topic(s, &name, 2, &[]).await;
    let missing = s.name("cp-missing");
    for v in s.old_and_new::<CreatePartitionsRequest>() {
        let req = |topic: &str, count: i32, validate_only: bool| CreatePartitionsRequest {
            topics: vec![create_partitions_request::CreatePartitionsTopic {
                name: topic.into(),
                count,
                assignments: None,
                ..Default::default()
            }],
            timeout_ms: TIMEOUT,
            validate_only,
            ..Default::default()
        };
        let now = 2 + v as i32;
        s.send_v(
            "CreatePartitions validate only",
            &req(&name, now + 1, true),
            v,
        )
        .await;
        s.send_v("CreatePartitions +1", &req(&name, now + 1, false), v)
            .await;
        s.send_v(
            "CreatePartitions to the same count",
            &req(&name, now + 1, false),
            v,
        )
        .await;
        s.send_v("CreatePartitions fewer", &req(&name, 1, false), v)
            .await;
        s.send_v(
            "CreatePartitions of a missing topic",
            &req(&missing, 3, false),
            v,
        )
        .await;
        s.send_v("CreatePartitions to 0", &req(&name, 0, false), v)
            .await;
        wait_for_leaders(s, &name, now + 1).await;
        // Counts before this version's +1 were other versions' work.
        let _ = now;
    }
}

async fn describe_configs(s: &mut Session) {
    let name = s.name("dc");
    topic(s, &name, 1, &[("retention.ms", "3600000")]).await;
    let node = node_id(s).await;
    for v in s.old_and_new::<DescribeConfigsRequest>() {
        let mut keys = SOME_TOPIC_CONFIGS.to_vec();
        keys.push("no.such.config");
        s.send_v(
            "DescribeConfigs of topic keys",
            &describe_configs_req(TOPIC_RESOURCE, &name, Some(&keys)),
            v,
        )
        .await;
        let missing = s.name("dc-missing");
        s.send_v(
            "DescribeConfigs of a missing topic",
            &describe_configs_req(TOPIC_RESOURCE, &missing, Some(&keys)),
            v,
        )
        .await;
        s.send_v(
            "DescribeConfigs of an empty name",
            &describe_configs_req(TOPIC_RESOURCE, "", Some(&keys)),
            v,
        )
        .await;
        let broker_keys = ["log.retention.hours", "num.partitions", "message.max.bytes"];
        s.send_v(
            "DescribeConfigs of broker keys",
            &describe_configs_req(BROKER_RESOURCE, &node.to_string(), Some(&broker_keys)),
            v,
        )
        .await;
        s.send_v(
            "DescribeConfigs of another broker",
            &describe_configs_req(BROKER_RESOURCE, "4242", Some(&broker_keys)),
            v,
        )
        .await;
        s.send_v(
            "DescribeConfigs of a bad resource type",
            &describe_configs_req(99, &name, Some(&keys)),
            v,
        )
        .await;
    }
}

async fn alter_configs(s: &mut Session) {
    let name = s.name("ac");
    topic(s, &name, 1, &[]).await;
    let missing = s.name("ac-missing");
    for v in s.old_and_new::<AlterConfigsRequest>() {
        let req = |topic: &str, kv: &[(&str, &str)], validate_only: bool| AlterConfigsRequest {
            resources: vec![alter_configs_request::AlterConfigsResource {
                resource_type: TOPIC_RESOURCE,
                resource_name: topic.into(),
                configs: kv
                    .iter()
                    .map(|(k, v)| alter_configs_request::AlterableConfig {
                        name: (*k).into(),
                        value: Some((*v).into()),
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            }],
            validate_only,
            ..Default::default()
        };
        s.send_v(
            "AlterConfigs",
            &req(&name, &[("retention.ms", "7200000")], false),
            v,
        )
        .await;
        s.send_v(
            "AlterConfigs validate only",
            &req(&name, &[("retention.ms", "1")], true),
            v,
        )
        .await;
        s.send_v(
            "AlterConfigs bad value",
            &req(&name, &[("retention.ms", "x")], false),
            v,
        )
        .await;
        s.send_v(
            "AlterConfigs unknown key",
            &req(&name, &[("no.such", "1")], false),
            v,
        )
        .await;
        s.send_v(
            "AlterConfigs missing topic",
            &req(&missing, &[("retention.ms", "1")], false),
            v,
        )
        .await;
        s.send_v(
            "DescribeConfigs after AlterConfigs",
            &describe_configs_req(
                TOPIC_RESOURCE,
                &name,
                Some(&["retention.ms", "cleanup.policy"]),
            ),
            s.latest::<DescribeConfigsRequest>(),
        )
        .await;
    }
}

async fn incremental_alter_configs(s: &mut Session) {
    let name = s.name("iac");
    topic(s, &name, 1, &[]).await;
    for v in s.old_and_new::<IncrementalAlterConfigsRequest>() {
        let req = |kv: &[(&str, i8, Option<&str>)]| IncrementalAlterConfigsRequest {
            resources: vec![incremental_alter_configs_request::AlterConfigsResource {
                resource_type: TOPIC_RESOURCE,
                resource_name: name.clone(),
                configs: kv
                    .iter()
                    .map(
                        |(k, op, v)| incremental_alter_configs_request::AlterableConfig {
                            name: (*k).into(),
                            config_operation: *op,
                            value: v.map(Into::into),
                            ..Default::default()
                        },
                    )
                    .collect(),
                ..Default::default()
            }],
            ..Default::default()
        };
        type Alter<'a> = &'a [(&'a str, i8, Option<&'a str>)];
        let steps: &[(&str, Alter)] = &[
            ("SET", &[("retention.ms", 0, Some("100000"))]),
            ("SET bad value", &[("retention.ms", 0, Some("x"))]),
            ("DELETE", &[("retention.ms", 1, None)]),
            ("APPEND", &[("cleanup.policy", 2, Some("compact"))]),
            ("SUBTRACT", &[("cleanup.policy", 3, Some("delete"))]),
            ("APPEND to a non-list", &[("retention.ms", 2, Some("5"))]),
            ("bad operation", &[("retention.ms", 9, Some("5"))]),
            ("unknown key", &[("no.such", 0, Some("5"))]),
            (
                "the same key twice",
                &[
                    ("retention.ms", 0, Some("5")),
                    ("retention.ms", 0, Some("6")),
                ],
            ),
        ];
        for (what, kv) in steps {
            s.send_v(&format!("IncrementalAlterConfigs {what}"), &req(kv), v)
                .await;
            if v != s.latest::<IncrementalAlterConfigsRequest>() {
                continue;
            }
            // Kafka answers DescribeConfigs from the broker's copy of the
            // metadata, which follows the controller's a moment later.
            tokio::time::sleep(Duration::from_millis(300)).await;
            s.send(
                &format!("DescribeConfigs after {what}"),
                &describe_configs_req(
                    TOPIC_RESOURCE,
                    &name,
                    Some(&["retention.ms", "cleanup.policy"]),
                ),
            )
            .await;
        }
        // Back to the defaults for the next version.
        s.setup(&req(&[
            ("retention.ms", 1, None),
            ("cleanup.policy", 1, None),
        ]))
        .await;
    }
}

/// A broker's dynamic configs and the cluster-wide defaults (resource
/// ""): set, refused (a bad value, a read-only key), described, deleted.
async fn broker_configs(s: &mut Session) {
    let node = node_id(s).await.to_string();
    let req = |resource: &str, kv: &[(&str, i8, Option<&str>)]| IncrementalAlterConfigsRequest {
        resources: vec![incremental_alter_configs_request::AlterConfigsResource {
            resource_type: BROKER_RESOURCE,
            resource_name: resource.into(),
            configs: kv
                .iter()
                .map(
                    |(k, op, v)| incremental_alter_configs_request::AlterableConfig {
                        name: (*k).into(),
                        config_operation: *op,
                        value: v.map(Into::into),
                        ..Default::default()
                    },
                )
                .collect(),
            ..Default::default()
        }],
        ..Default::default()
    };
    let keys = ["log.cleaner.threads", "log.cleaner.backoff.ms"];
    s.send(
        "IncrementalAlterConfigs a broker key",
        &req(&node, &[("log.cleaner.threads", 0, Some("2"))]),
    )
    .await;
    s.send(
        "IncrementalAlterConfigs a cluster default",
        &req("", &[("log.cleaner.backoff.ms", 0, Some("20000"))]),
    )
    .await;
    s.send(
        "IncrementalAlterConfigs the broker's own value of a default",
        &req(&node, &[("log.cleaner.backoff.ms", 0, Some("30000"))]),
    )
    .await;
    s.send(
        "IncrementalAlterConfigs a bad broker value",
        &req(&node, &[("log.cleaner.threads", 0, Some("x"))]),
    )
    .await;
    s.send(
        "IncrementalAlterConfigs a read-only broker key",
        &req(&node, &[("broker.id", 0, Some("7"))]),
    )
    .await;
    // Kafka answers DescribeConfigs from the broker's copy of the
    // metadata, which follows the controller's a moment later.
    tokio::time::sleep(Duration::from_millis(300)).await;
    for v in s.old_and_new::<DescribeConfigsRequest>() {
        s.send_v(
            "DescribeConfigs of the broker",
            &describe_configs_req(BROKER_RESOURCE, &node, Some(&keys)),
            v,
        )
        .await;
        s.send_v(
            "DescribeConfigs of the cluster defaults",
            &describe_configs_req(BROKER_RESOURCE, "", Some(&keys)),
            v,
        )
        .await;
    }
    s.setup(&req(
        &node,
        &[
            ("log.cleaner.threads", 1, None),
            ("log.cleaner.backoff.ms", 1, None),
        ],
    ))
    .await;
    s.setup(&req("", &[("log.cleaner.backoff.ms", 1, None)]))
        .await;
}

// ---- produce and fetch ---------------------------------------------------

async fn produce_and_fetch_every_version(s: &mut Session) {
    let name = s.name("pf");
    topic(s, &name, 1, &[]).await;
    let id = topic_id(s, &name).await;
    // Kafka 4 advertises Produce v0-v2 but refuses them (KIP-896); they
    // write to a topic of their own so that the offsets of the rest line up.
    let old = s.name("pf-old");
    topic(s, &old, 1, &[]).await;
    for v in s.versions::<ProduceRequest>() {
        let values = [format!("v{v} a"), format!("v{v} b")];
        let values: Vec<&str> = values.iter().map(String::as_str).collect();
        let t = if v < 3 { &old } else { &name };
        s.send_v("Produce acks=all", &produce(t, 0, batch(&values), -1), v)
            .await;
        s.send_v("Produce acks=1", &produce(t, 0, batch(&values[..1]), 1), v)
            .await;
    }
    for v in s.versions::<FetchRequest>() {
        fetch_v(s, "Fetch from 0", fetch(&name, id, 0, 0, -1), v).await;
        fetch_v(s, "Fetch from 3", fetch(&name, id, 0, 3, -1), v).await;
    }
}

async fn produce_compression(s: &mut Session) {
    let name = s.name("pc");
    topic(s, &name, 1, &[]).await;
    let recompressed = s.name("pc-gzip");
    topic(s, &recompressed, 1, &[("compression.type", "gzip")]).await;
    let plain = s.name("pc-none");
    topic(s, &plain, 1, &[("compression.type", "uncompressed")]).await;
    for codec in [
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ] {
        let b = batch_with(
            RecordBatchBuilder::new().compression(codec),
            &["c1", "c2", "c3"],
        );
        s.send(
            &format!("Produce {codec:?}"),
            &produce(&name, 0, b.clone(), -1),
        )
        .await;
        s.send(
            &format!("Produce {codec:?} to a gzip topic"),
            &produce(&recompressed, 0, b.clone(), -1),
        )
        .await;
        s.send(
            &format!("Produce {codec:?} to an uncompressed topic"),
            &produce(&plain, 0, b, -1),
        )
        .await;
    }
    let none = batch(&["p1"]);
    s.send(
        "Produce none to a gzip topic",
        &produce(&recompressed, 0, none, -1),
    )
    .await;
    for (what, t) in [
        ("the producer's codec", &name),
        ("gzip", &recompressed),
        ("uncompressed", &plain),
    ] {
        let id = topic_id(s, t).await;
        fetch_all(s, &format!("Read the {what} topic"), t, id, 0).await;
    }
}

/// A batch whose bytes are changed after its CRC was computed.
fn corrupt(mut b: Vec<u8>) -> Bytes {
    let last = b.len() - 1;
    b[last] ^= 0xff;
    Bytes::from(b)
}

/// A batch that claims a codec its bytes are not in.
fn bad_codec(attributes: i16) -> Bytes {
    let mut b = batch(&["not compressed"]).to_vec();
    b[21..23].copy_from_slice(&attributes.to_be_bytes());
    // The CRC covers attributes onwards (offset 21).
    let crc = crc32c(&b[21..]);
    b[17..21].copy_from_slice(&crc.to_be_bytes());
    Bytes::from(b)
}

fn crc32c(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in data {
        crc ^= byte as u32;
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0x82f6_3b78
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

async fn produce_errors(s: &mut Session) {
    let name = s.name("pe");
    topic(s, &name, 1, &[("max.message.bytes", "200")]).await;
    let compacted = s.name("pe-compacted");
    topic(s, &compacted, 1, &[("cleanup.policy", "compact")]).await;
    let missing = s.name("pe-missing");
    for v in s.old_and_new::<ProduceRequest>() {
        s.send_v(
            "Produce to a missing topic",
            &produce(&missing, 0, batch(&["x"]), -1),
            v,
        )
        .await;
        s.send_v(
            "Produce to a missing partition",
            &produce(&name, 5, batch(&["x"]), -1),
            v,
        )
        .await;
        s.send_v("Produce acks=2", &produce(&name, 0, batch(&["x"]), 2), v)
            .await;
        let big = "y".repeat(500);
        s.send_v(
            "Produce too large",
            &produce(&name, 0, batch(&[&big]), -1),
            v,
        )
        .await;
        let b = batch(&["crc"]).to_vec();
        s.send_v("Produce bad CRC", &produce(&name, 0, corrupt(b), -1), v)
            .await;
        s.send_v(
            "Produce gzip that is not",
            &produce(&name, 0, bad_codec(1), -1),
            v,
        )
        .await;
        s.send_v("Produce codec 7", &produce(&name, 0, bad_codec(7), -1), v)
            .await;
        s.send_v(
            "Produce null key to compacted",
            &produce(&compacted, 0, null_key_batch(), -1),
            v,
        )
        .await;
        let future = batch_with(RecordBatchBuilder::new(), &["f"]);
        let future = with_timestamps(future, i64::MAX / 2);
        s.send_v(
            "Produce far-future timestamp",
            &produce(&name, 0, future, -1),
            v,
        )
        .await;
        s.send_v(
            "Produce empty records",
            &produce(&name, 0, Bytes::new(), -1),
            v,
        )
        .await;
    }
}

fn null_key_batch() -> Bytes {
    let mut b = RecordBatchBuilder::new();
    b.append(1_000, None, Some(b"no key"), &[]).expect("append");
    b.build().expect("build")
}

/// The batch with its base and max timestamps (and the records') set to
/// `ts`: records carry deltas, so the base is enough.
fn with_timestamps(b: Bytes, ts: i64) -> Bytes {
    let mut v = b.to_vec();
    v[27..35].copy_from_slice(&ts.to_be_bytes());
    v[35..43].copy_from_slice(&ts.to_be_bytes());
    let crc = crc32c(&v[21..]);
    v[17..21].copy_from_slice(&crc.to_be_bytes());
    Bytes::from(v)
}

async fn fetch_errors(s: &mut Session) {
    let name = s.name("fe");
    topic(s, &name, 1, &[]).await;
    s.setup(&produce(&name, 0, batch(&["a", "b"]), -1)).await;
    let id = topic_id(s, &name).await;
    let missing = s.name("fe-missing");
    for v in s.old_and_new::<FetchRequest>() {
        fetch_v(s, "Fetch beyond the end", fetch(&name, id, 0, 10, -1), v).await;
        fetch_v(s, "Fetch at the end", fetch(&name, id, 0, 2, -1), v).await;
        fetch_v(s, "Fetch below the start", fetch(&name, id, 0, -5, -1), v).await;
        fetch_v(
            s,
            "Fetch a missing partition",
            fetch(&name, id, 3, 0, -1),
            v,
        )
        .await;
        fetch_v(
            s,
            "Fetch a missing topic",
            fetch(&missing, Uuid([9; 16]), 0, 0, -1),
            v,
        )
        .await;
        fetch_v(
            s,
            "Fetch with a newer leader epoch",
            fetch(&name, id, 0, 0, 5),
            v,
        )
        .await;
        fetch_v(
            s,
            "Fetch with the leader epoch",
            fetch(&name, id, 0, 0, 0),
            v,
        )
        .await;
    }
}

async fn list_offsets(s: &mut Session) {
    let name = s.name("lo");
    topic(s, &name, 1, &[]).await;
    s.setup(&produce(&name, 0, batch(&["a", "b", "c"]), -1))
        .await;
    for v in s.versions::<ListOffsetsRequest>() {
        s.send_v(
            "ListOffsets earliest",
            &list_offsets_req(&name, 0, -2, -1),
            v,
        )
        .await;
        s.send_v("ListOffsets latest", &list_offsets_req(&name, 0, -1, -1), v)
            .await;
        s.send_v(
            "ListOffsets max timestamp",
            &list_offsets_req(&name, 0, -3, -1),
            v,
        )
        .await;
        s.send_v(
            "ListOffsets earliest local",
            &list_offsets_req(&name, 0, -4, -1),
            v,
        )
        .await;
        s.send_v(
            "ListOffsets latest tiered",
            &list_offsets_req(&name, 0, -5, -1),
            v,
        )
        .await;
        s.send_v(
            "ListOffsets at 1001",
            &list_offsets_req(&name, 0, 1001, -1),
            v,
        )
        .await;
        s.send_v(
            "ListOffsets after all",
            &list_offsets_req(&name, 0, 99_999, -1),
            v,
        )
        .await;
        s.send_v(
            "ListOffsets missing partition",
            &list_offsets_req(&name, 4, -1, -1),
            v,
        )
        .await;
        s.send_v(
            "ListOffsets newer epoch",
            &list_offsets_req(&name, 0, -1, 3),
            v,
        )
        .await;
    }
}

async fn offset_for_leader_epoch(s: &mut Session) {
    let name = s.name("ofle");
    topic(s, &name, 1, &[]).await;
    s.setup(&produce(&name, 0, batch(&["a", "b"]), -1)).await;
    for v in s.versions::<OffsetForLeaderEpochRequest>() {
        for (what, current, epoch) in [("epoch 0", -1, 0), ("epoch 7", -1, 7), ("fenced", 3, 0)] {
            let req = OffsetForLeaderEpochRequest {
                replica_id: -1,
                topics: vec![offset_for_leader_epoch_request::OffsetForLeaderTopic {
                    topic: name.clone(),
                    partitions: vec![offset_for_leader_epoch_request::OffsetForLeaderPartition {
                        partition: 0,
                        current_leader_epoch: current,
                        leader_epoch: epoch,
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
                ..Default::default()
            };
            s.send_v(&format!("OffsetForLeaderEpoch {what}"), &req, v)
                .await;
        }
    }
}

async fn delete_records(s: &mut Session) {
    let name = s.name("dr");
    topic(s, &name, 1, &[]).await;
    s.setup(&produce(&name, 0, batch(&["a", "b", "c", "d"]), -1))
        .await;
    let req = |partition: i32, offset: i64| DeleteRecordsRequest {
        topics: vec![delete_records_request::DeleteRecordsTopic {
            name: name.clone(),
            partitions: vec![delete_records_request::DeleteRecordsPartition {
                partition_index: partition,
                offset,
                ..Default::default()
            }],
            ..Default::default()
        }],
        timeout_ms: TIMEOUT,
        ..Default::default()
    };
    for v in s.old_and_new::<DeleteRecordsRequest>() {
        s.send_v("DeleteRecords to 1", &req(0, 1 + v as i64 / 2), v)
            .await;
        s.send_v("DeleteRecords below the start", &req(0, 0), v)
            .await;
        s.send_v("DeleteRecords beyond the end", &req(0, 10), v)
            .await;
        s.send_v("DeleteRecords missing partition", &req(3, 1), v)
            .await;
    }
    s.send("DeleteRecords to the high watermark", &req(0, -1))
        .await;
    s.send("ListOffsets earliest", &list_offsets_req(&name, 0, -2, -1))
        .await;
}

// ---- groups ----------------------------------------------------------------

const GROUP_KEY: i8 = 0;
const TXN_KEY: i8 = 1;

async fn find_coordinator(s: &mut Session) {
    let group = s.name("fc-group");
    coordinator(s, &group, GROUP_KEY).await;
    let txn = s.name("fc-txn");
    coordinator(s, &txn, TXN_KEY).await;
    for v in s.versions::<FindCoordinatorRequest>() {
        let req = |key: &str, key_type: i8| FindCoordinatorRequest {
            key: if v < 4 { key.into() } else { String::new() },
            key_type,
            coordinator_keys: if v >= 4 { vec![key.into()] } else { vec![] },
            ..Default::default()
        };
        s.send_v("FindCoordinator group", &req(&group, GROUP_KEY), v)
            .await;
        s.send_v("FindCoordinator txn", &req(&txn, TXN_KEY), v)
            .await;
        s.send_v("FindCoordinator bad type", &req(&group, 5), v)
            .await;
        s.send_v("FindCoordinator empty txn id", &req("", TXN_KEY), v)
            .await;
    }
}

fn join(
    group: &str,
    member: &str,
    session_timeout_ms: i32,
    protocol_type: &str,
) -> JoinGroupRequest {
    JoinGroupRequest {
        group_id: group.into(),
        session_timeout_ms,
        rebalance_timeout_ms: 10_000,
        member_id: member.into(),
        group_instance_id: None,
        protocol_type: protocol_type.into(),
        protocols: vec![join_group_request::JoinGroupRequestProtocol {
            name: "range".into(),
            metadata: encode_subscription(&["t"]),
            ..Default::default()
        }],
        ..Default::default()
    }
}

fn commit(
    group: &str,
    generation: i32,
    member: &str,
    topic: &str,
    offset: i64,
) -> OffsetCommitRequest {
    OffsetCommitRequest {
        group_id: group.into(),
        generation_id_or_member_epoch: generation,
        member_id: member.into(),
        retention_time_ms: -1,
        topics: vec![offset_commit_request::OffsetCommitRequestTopic {
            name: topic.into(),
            partitions: vec![offset_commit_request::OffsetCommitRequestPartition {
                partition_index: 0,
                committed_offset: offset,
                committed_leader_epoch: -1,
                commit_timestamp: -1,
                committed_metadata: Some("meta".into()),
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    }
}

fn offset_fetch(group: &str, topic: Option<&str>, v: i16) -> OffsetFetchRequest {
    let topics = topic.map(|t| {
        vec![offset_fetch_request::OffsetFetchRequestTopic {
            name: t.into(),
            partition_indexes: vec![0, 1],
            ..Default::default()
        }]
    });
    if v >= 8 {
        OffsetFetchRequest {
            groups: vec![offset_fetch_request::OffsetFetchRequestGroup {
                group_id: group.into(),
                topics: topic.map(|t| {
                    vec![offset_fetch_request::OffsetFetchRequestTopics {
                        name: t.into(),
                        partition_indexes: vec![0, 1],
                        ..Default::default()
                    }]
                }),
                ..Default::default()
            }],
            ..Default::default()
        }
    } else {
        OffsetFetchRequest {
            group_id: group.into(),
            topics,
            ..Default::default()
        }
    }
}

async fn group_lifecycle(s: &mut Session) {
    let group = s.name("gl");
    let t = s.name("gl-topic");
    topic(s, &t, 1, &[]).await;
    coordinator(s, &group, GROUP_KEY).await;
    let v = s.latest::<JoinGroupRequest>();
    // KIP-394: the first join of a member without an id is refused with
    // the id it is to use.
    let Some(first) = s
        .send(
            "JoinGroup without a member id",
            &join(&group, "", 30_000, "consumer"),
        )
        .await
    else {
        return;
    };
    let member = first.member_id.clone();
    let Some(joined) = s
        .send(
            "JoinGroup with it",
            &join(&group, &member, 30_000, "consumer"),
        )
        .await
    else {
        return;
    };
    let generation = joined.generation_id;
    let assignment = sync_group_request::SyncGroupRequestAssignment {
        member_id: member.clone(),
        assignment: Bytes::from_static(b"\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"),
        ..Default::default()
    };
    let sync = SyncGroupRequest {
        group_id: group.clone(),
        generation_id: generation,
        member_id: member.clone(),
        protocol_type: Some("consumer".into()),
        protocol_name: Some("range".into()),
        assignments: vec![assignment],
        ..Default::default()
    };
    s.send("SyncGroup", &sync).await;
    let hb = |gen: i32, member: &str| HeartbeatRequest {
        group_id: group.clone(),
        generation_id: gen,
        member_id: member.into(),
        ..Default::default()
    };
    for hv in s.old_and_new::<HeartbeatRequest>() {
        s.send_v("Heartbeat", &hb(generation, &member), hv).await;
        s.send_v("Heartbeat old generation", &hb(generation - 1, &member), hv)
            .await;
        s.send_v("Heartbeat unknown member", &hb(generation, "nobody"), hv)
            .await;
    }
    for cv in s.old_and_new::<OffsetCommitRequest>() {
        s.send_v(
            "OffsetCommit",
            &commit(&group, generation, &member, &t, 5 + cv as i64),
            cv,
        )
        .await;
        s.send_v(
            "OffsetCommit stale generation",
            &commit(&group, generation + 1, &member, &t, 1),
            cv,
        )
        .await;
        s.send_v(
            "OffsetCommit unknown member",
            &commit(&group, generation, "nobody", &t, 1),
            cv,
        )
        .await;
    }
    for fv in s.old_and_new::<OffsetFetchRequest>() {
        s.send_v("OffsetFetch", &offset_fetch(&group, Some(&t), fv), fv)
            .await;
        if fv >= 2 {
            s.send_v(
                "OffsetFetch all topics",
                &offset_fetch(&group, None, fv),
                fv,
            )
            .await;
        }
    }
    let describe = DescribeGroupsRequest {
        groups: vec![group.clone(), s.name("gl-missing")],
        ..Default::default()
    };
    for dv in s.old_and_new::<DescribeGroupsRequest>() {
        s.send_v("DescribeGroups", &describe, dv).await;
    }
    let del = DeleteGroupsRequest {
        groups_names: vec![group.clone()],
        ..Default::default()
    };
    s.send("DeleteGroups while it has members", &del).await;
    let leave = LeaveGroupRequest {
        group_id: group.clone(),
        member_id: member.clone(),
        members: vec![leave_group_request::MemberIdentity {
            member_id: member.clone(),
            ..Default::default()
        }],
        ..Default::default()
    };
    s.send("LeaveGroup", &leave).await;
    s.send("LeaveGroup again", &leave).await;
    s.send("DescribeGroups after leaving", &describe).await;
    let od = OffsetDeleteRequest {
        group_id: group.clone(),
        topics: vec![offset_delete_request::OffsetDeleteRequestTopic {
            name: t.clone(),
            partitions: vec![offset_delete_request::OffsetDeleteRequestPartition {
                partition_index: 0,
            }],
        }],
    };
    s.send("OffsetDelete", &od).await;
    s.send(
        "OffsetFetch after OffsetDelete",
        &offset_fetch(&group, Some(&t), s.latest::<OffsetFetchRequest>()),
    )
    .await;
    s.send("DeleteGroups", &del).await;
    s.send("DeleteGroups again", &del).await;
    let _ = v;
}

async fn group_errors(s: &mut Session) {
    let group = s.name("ge");
    coordinator(s, &group, GROUP_KEY).await;
    for v in s.old_and_new::<JoinGroupRequest>() {
        s.send_v(
            "JoinGroup session timeout too short",
            &join(&group, "", 1, "consumer"),
            v,
        )
        .await;
        s.send_v(
            "JoinGroup session timeout too long",
            &join(&group, "", 3_600_000, "consumer"),
            v,
        )
        .await;
        s.send_v(
            "JoinGroup empty group id",
            &join("", "", 30_000, "consumer"),
            v,
        )
        .await;
        s.send_v(
            "JoinGroup unknown member id",
            &join(&group, "nobody", 30_000, "consumer"),
            v,
        )
        .await;
        s.send_v(
            "JoinGroup empty protocol type",
            &join(&group, "", 30_000, ""),
            v,
        )
        .await;
    }
    let missing = s.name("ge-missing");
    let sync = SyncGroupRequest {
        group_id: missing.clone(),
        generation_id: 1,
        member_id: "nobody".into(),
        protocol_type: Some("consumer".into()),
        protocol_name: Some("range".into()),
        ..Default::default()
    };
    for v in s.old_and_new::<SyncGroupRequest>() {
        s.send_v("SyncGroup unknown group", &sync, v).await;
    }
    let hb = HeartbeatRequest {
        group_id: missing.clone(),
        generation_id: 1,
        member_id: "nobody".into(),
        ..Default::default()
    };
    s.send("Heartbeat unknown group", &hb).await;
    let leave = LeaveGroupRequest {
        group_id: missing.clone(),
        member_id: "nobody".into(),
        members: vec![leave_group_request::MemberIdentity {
            member_id: "nobody".into(),
            ..Default::default()
        }],
        ..Default::default()
    };
    for v in s.old_and_new::<LeaveGroupRequest>() {
        s.send_v("LeaveGroup unknown group", &leave, v).await;
    }
    let del = DeleteGroupsRequest {
        groups_names: vec![missing.clone(), String::new()],
        ..Default::default()
    };
    s.send("DeleteGroups unknown and empty", &del).await;
    for v in s.old_and_new::<ListGroupsRequest>() {
        // Filtered to a state no group of this run is in, so the answers
        // do not depend on other runs' groups on the same Kafka.
        let req = ListGroupsRequest {
            states_filter: if v >= 4 { vec!["Dead".into()] } else { vec![] },
            ..Default::default()
        };
        if v >= 4 {
            s.send_v("ListGroups of Dead", &req, v).await;
        }
    }
}

async fn offsets_without_a_group_member(s: &mut Session) {
    let group = s.name("og");
    let t = s.name("og-topic");
    topic(s, &t, 2, &[]).await;
    coordinator(s, &group, GROUP_KEY).await;
    for v in s.versions::<OffsetCommitRequest>() {
        s.send_v(
            "OffsetCommit as a simple consumer",
            &commit(&group, -1, "", &t, 10 + v as i64),
            v,
        )
        .await;
    }
    let missing = s.name("og-missing-topic");
    s.send(
        "OffsetCommit of a missing topic",
        &commit(&group, -1, "", &missing, 1),
    )
    .await;
    // offset.metadata.max.bytes is 4096 in both.
    let mut big = commit(&group, -1, "", &t, 3);
    big.topics[0].partitions[0].committed_metadata = Some("m".repeat(5000));
    s.send("OffsetCommit with too much metadata", &big).await;
    for v in s.versions::<OffsetFetchRequest>() {
        s.send_v("OffsetFetch", &offset_fetch(&group, Some(&t), v), v)
            .await;
        s.send_v(
            "OffsetFetch unknown group",
            &offset_fetch(&s.name("og-none"), Some(&t), v),
            v,
        )
        .await;
    }
}

// ---- transactions ------------------------------------------------------------

fn init_pid(txn: Option<&str>, timeout_ms: i32, pid: i64, epoch: i16) -> InitProducerIdRequest {
    InitProducerIdRequest {
        transactional_id: txn.map(Into::into),
        transaction_timeout_ms: timeout_ms,
        producer_id: pid,
        producer_epoch: epoch,
        ..Default::default()
    }
}

async fn init_producer_id(s: &mut Session) {
    let txn = s.name("ipi");
    coordinator(s, &txn, TXN_KEY).await;
    for v in s.old_and_new::<InitProducerIdRequest>() {
        s.send_v("InitProducerId idempotent", &init_pid(None, -1, -1, -1), v)
            .await;
        s.send_v(
            "InitProducerId timeout too long",
            &init_pid(Some(&txn), i32::MAX, -1, -1),
            v,
        )
        .await;
        s.send_v(
            "InitProducerId timeout 0",
            &init_pid(Some(&txn), 0, -1, -1),
            v,
        )
        .await;
        s.send_v(
            "InitProducerId empty id",
            &init_pid(Some(""), 60_000, -1, -1),
            v,
        )
        .await;
    }
    let Some(first) = s
        .send("InitProducerId", &init_pid(Some(&txn), 60_000, -1, -1))
        .await
    else {
        return;
    };
    s.send(
        "InitProducerId again",
        &init_pid(Some(&txn), 60_000, -1, -1),
    )
    .await;
    // KIP-360: naming the current producer id and epoch bumps the epoch;
    // an older epoch is fenced.
    let (pid, epoch) = (first.producer_id, first.producer_epoch);
    s.send(
        "InitProducerId with an old epoch",
        &init_pid(Some(&txn), 60_000, pid, epoch),
    )
    .await;
    s.send(
        "InitProducerId with another id",
        &init_pid(Some(&txn), 60_000, pid + 1000, 0),
    )
    .await;
}

async fn idempotent_produce(s: &mut Session) {
    let t = s.name("ip");
    topic(s, &t, 1, &[]).await;
    let Some(p) = s.setup(&init_pid(None, -1, -1, -1)).await else {
        return;
    };
    let (pid, epoch) = (p.producer_id, p.producer_epoch);
    let b = |seq: i32, epoch: i16, values: &[&str]| {
        batch_with(RecordBatchBuilder::new().producer(pid, epoch, seq), values)
    };
    s.send(
        "Produce seq 0",
        &produce(&t, 0, b(0, epoch, &["a", "b"]), -1),
    )
    .await;
    s.send(
        "Produce seq 0 again (duplicate)",
        &produce(&t, 0, b(0, epoch, &["a", "b"]), -1),
    )
    .await;
    s.send("Produce seq 2", &produce(&t, 0, b(2, epoch, &["c"]), -1))
        .await;
    s.send(
        "Produce seq 9 (gap)",
        &produce(&t, 0, b(9, epoch, &["x"]), -1),
    )
    .await;
    s.send(
        "Produce older epoch",
        &produce(&t, 0, b(3, epoch - 1, &["x"]), -1),
    )
    .await;
    s.send(
        "Produce newer epoch seq 5",
        &produce(&t, 0, b(5, epoch + 1, &["x"]), -1),
    )
    .await;
    s.send(
        "Produce newer epoch seq 0",
        &produce(&t, 0, b(0, epoch + 1, &["n"]), -1),
    )
    .await;
    s.send(
        "Produce the old epoch after",
        &produce(&t, 0, b(3, epoch, &["x"]), -1),
    )
    .await;
    s.send(
        "Produce acks=1 idempotent",
        &produce(&t, 0, b(1, epoch + 1, &["o"]), 1),
    )
    .await;
    let id = topic_id(s, &t).await;
    let v = s.latest::<FetchRequest>();
    fetch_v(s, "Fetch all", fetch(&t, id, 0, 0, -1), v).await;
}

fn add_partitions(
    txn: &str,
    pid: i64,
    epoch: i16,
    topic: &str,
    v: i16,
) -> AddPartitionsToTxnRequest {
    let topics = vec![add_partitions_to_txn_request::AddPartitionsToTxnTopic {
        name: topic.into(),
        partitions: vec![0],
        ..Default::default()
    }];
    if v >= 4 {
        AddPartitionsToTxnRequest {
            transactions: vec![
                add_partitions_to_txn_request::AddPartitionsToTxnTransaction {
                    transactional_id: txn.into(),
                    producer_id: pid,
                    producer_epoch: epoch,
                    verify_only: false,
                    topics,
                    ..Default::default()
                },
            ],
            ..Default::default()
        }
    } else {
        AddPartitionsToTxnRequest {
            v3_and_below_transactional_id: txn.into(),
            v3_and_below_producer_id: pid,
            v3_and_below_producer_epoch: epoch,
            v3_and_below_topics: topics,
            ..Default::default()
        }
    }
}

fn end_txn(txn: &str, pid: i64, epoch: i16, committed: bool) -> EndTxnRequest {
    EndTxnRequest {
        transactional_id: txn.into(),
        producer_id: pid,
        producer_epoch: epoch,
        committed,
        ..Default::default()
    }
}

async fn transaction_commit_and_abort(s: &mut Session) {
    let t = s.name("tx");
    topic(s, &t, 1, &[]).await;
    let txn = s.name("tx-id");
    let group = s.name("tx-group");
    coordinator(s, &txn, TXN_KEY).await;
    coordinator(s, &group, GROUP_KEY).await;
    let Some(p) = s
        .send("InitProducerId", &init_pid(Some(&txn), 60_000, -1, -1))
        .await
    else {
        return;
    };
    let (pid, epoch) = (p.producer_id, p.producer_epoch);
    let v = s.latest::<AddPartitionsToTxnRequest>();
    // Client versions (v3) of AddPartitionsToTxn: v4+ is for brokers.
    let av = v.min(3);
    let mut seq = 0;
    for commit in [true, false] {
        s.send_v(
            "AddPartitionsToTxn",
            &add_partitions(&txn, pid, epoch, &t, av),
            av,
        )
        .await;
        let b = batch_with(
            RecordBatchBuilder::new()
                .producer(pid, epoch, seq)
                .transactional(true),
            &["t1", "t2"],
        );
        seq += 2;
        s.send(
            "Produce transactional",
            &produce_txn(Some(&txn), &t, 0, b, -1),
        )
        .await;
        let aot = AddOffsetsToTxnRequest {
            transactional_id: txn.clone(),
            producer_id: pid,
            producer_epoch: epoch,
            group_id: group.clone(),
            ..Default::default()
        };
        s.send("AddOffsetsToTxn", &aot).await;
        let toc = TxnOffsetCommitRequest {
            transactional_id: txn.clone(),
            group_id: group.clone(),
            producer_id: pid,
            producer_epoch: epoch,
            generation_id: -1,
            topics: vec![txn_offset_commit_request::TxnOffsetCommitRequestTopic {
                name: t.clone(),
                partitions: vec![txn_offset_commit_request::TxnOffsetCommitRequestPartition {
                    partition_index: 0,
                    committed_offset: seq as i64,
                    committed_leader_epoch: -1,
                    committed_metadata: Some("m".into()),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        };
        s.send("TxnOffsetCommit", &toc).await;
        let describe = DescribeTransactionsRequest {
            transactional_ids: vec![txn.clone()],
            ..Default::default()
        };
        s.send("DescribeTransactions ongoing", &describe).await;
        let mut lso = list_offsets_req(&t, 0, -1, -1);
        lso.isolation_level = 1;
        s.send("ListOffsets read_committed while open", &lso).await;
        s.send(
            &format!("EndTxn commit={commit}"),
            &end_txn(&txn, pid, epoch, commit),
        )
        .await;
        s.until(
            "DescribeTransactions after EndTxn",
            &describe,
            SETTLE,
            |r| {
                r.transaction_states.iter().all(|t| {
                    t.transaction_state == "CompleteCommit"
                        || t.transaction_state == "CompleteAbort"
                })
            },
        )
        .await;
    }
    let id = topic_id(s, &t).await;
    fetch_all(s, "Fetch all read_uncommitted", &t, id, 0).await;
    fetch_all(s, "Fetch all read_committed", &t, id, 1).await;
    s.send("ListOffsets latest committed", &{
        let mut r = list_offsets_req(&t, 0, -1, -1);
        r.isolation_level = 1;
        r
    })
    .await;
    s.send(
        "OffsetFetch of the committed offsets",
        &offset_fetch(&group, Some(&t), s.latest::<OffsetFetchRequest>()),
    )
    .await;
    let list = ListTransactionsRequest {
        producer_id_filters: vec![pid],
        duration_filter: -1,
        ..Default::default()
    };
    s.send("ListTransactions of the producer", &list).await;
}

async fn transaction_errors(s: &mut Session) {
    let t = s.name("te");
    topic(s, &t, 1, &[]).await;
    let txn = s.name("te-id");
    coordinator(s, &txn, TXN_KEY).await;
    let unknown = s.name("te-unknown");
    let Some(p) = s
        .send("InitProducerId", &init_pid(Some(&txn), 60_000, -1, -1))
        .await
    else {
        return;
    };
    let (pid, epoch) = (p.producer_id, p.producer_epoch);
    for v in s.versions::<EndTxnRequest>() {
        s.send_v(
            "EndTxn with no transaction",
            &end_txn(&txn, pid, epoch, true),
            v,
        )
        .await;
        s.send_v(
            "EndTxn abort with no transaction",
            &end_txn(&txn, pid, epoch, false),
            v,
        )
        .await;
        s.send_v(
            "EndTxn wrong producer id",
            &end_txn(&txn, pid + 1, epoch, true),
            v,
        )
        .await;
        s.send_v("EndTxn old epoch", &end_txn(&txn, pid, epoch - 1, true), v)
            .await;
        s.send_v(
            "EndTxn unknown transactional id",
            &end_txn(&unknown, pid, epoch, true),
            v,
        )
        .await;
    }
    for v in s
        .versions::<AddPartitionsToTxnRequest>()
        .filter(|v| *v <= 3)
    {
        s.send_v(
            "AddPartitionsToTxn wrong producer id",
            &add_partitions(&txn, pid + 1, epoch, &t, v),
            v,
        )
        .await;
        s.send_v(
            "AddPartitionsToTxn old epoch",
            &add_partitions(&txn, pid, epoch - 1, &t, v),
            v,
        )
        .await;
        s.send_v(
            "AddPartitionsToTxn unknown id",
            &add_partitions(&unknown, pid, epoch, &t, v),
            v,
        )
        .await;
        let missing = s.name("te-missing");
        s.send_v(
            "AddPartitionsToTxn missing topic",
            &add_partitions(&txn, pid, epoch, &missing, v),
            v,
        )
        .await;
    }
    // Transactional data without AddPartitionsToTxn (KIP-890 verifies it
    // on brokers that support it).
    let b = batch_with(
        RecordBatchBuilder::new()
            .producer(pid, epoch, 0)
            .transactional(true),
        &["u"],
    );
    for v in s
        .old_and_new::<ProduceRequest>()
        .into_iter()
        .filter(|v| *v >= 3)
    {
        let req = produce_txn(Some(&txn), &t, 0, b.clone(), -1);
        s.send_v(
            "Produce transactional without adding the partition",
            &req,
            v,
        )
        .await;
    }
    let aot = AddOffsetsToTxnRequest {
        transactional_id: txn.clone(),
        producer_id: pid,
        producer_epoch: epoch - 1,
        group_id: s.name("te-group"),
        ..Default::default()
    };
    s.send("AddOffsetsToTxn old epoch", &aot).await;
    // Fence the producer with a new InitProducerId and use the old epoch.
    s.send(
        "InitProducerId again",
        &init_pid(Some(&txn), 60_000, -1, -1),
    )
    .await;
    s.send("EndTxn fenced epoch", &end_txn(&txn, pid, epoch, true))
        .await;
    let describe = DescribeTransactionsRequest {
        transactional_ids: vec![unknown.clone()],
        ..Default::default()
    };
    // Only the error: the other fields of an unknown id are defaults (a
    // producer id 0 that would pass for a real one).
    if let Some(r) = s.setup(&describe).await {
        let errors: Vec<_> = r.transaction_states.iter().map(|t| t.error_code).collect();
        s.note("DescribeTransactions unknown: error codes", errors);
    }
}

async fn describe_cluster_and_log_dirs(s: &mut Session) {
    let t = s.name("dl");
    topic(s, &t, 2, &[]).await;
    for v in s.versions::<DescribeClusterRequest>() {
        s.send_v("DescribeCluster", &DescribeClusterRequest::default(), v)
            .await;
    }
    let req = |partitions: &[i32]| DescribeLogDirsRequest {
        topics: Some(vec![describe_log_dirs_request::DescribableLogDirTopic {
            topic: t.clone(),
            partitions: partitions.to_vec(),
            ..Default::default()
        }]),
        ..Default::default()
    };
    for v in s.old_and_new::<DescribeLogDirsRequest>() {
        s.send_v("DescribeLogDirs of 0, 1", &req(&[0, 1]), v).await;
        s.send_v("DescribeLogDirs of 1, 0", &req(&[1, 0]), v).await;
        s.send_v("DescribeLogDirs of 0, 1, 7", &req(&[0, 1, 7]), v)
            .await;
    }
    let req = DescribeTopicPartitionsRequest {
        topics: vec![
            describe_topic_partitions_request::TopicRequest {
                name: t.clone(),
                ..Default::default()
            },
            describe_topic_partitions_request::TopicRequest {
                name: s.name("dl-missing"),
                ..Default::default()
            },
        ],
        response_partition_limit: 1,
        ..Default::default()
    };
    s.send("DescribeTopicPartitions limit 1", &req).await;
    let elect = ElectLeadersRequest {
        election_type: 0,
        topic_partitions: Some(vec![elect_leaders_request::TopicPartitions {
            topic: t.clone(),
            partitions: vec![0, 9],
            ..Default::default()
        }]),
        timeout_ms: TIMEOUT,
        ..Default::default()
    };
    s.send("ElectLeaders preferred", &elect).await;
    s.send(
        "ListPartitionReassignments",
        &ListPartitionReassignmentsRequest {
            timeout_ms: TIMEOUT,
            topics: None,
            ..Default::default()
        },
    )
    .await;
}

async fn static_membership(s: &mut Session) {
    let group = s.name("sm");
    coordinator(s, &group, GROUP_KEY).await;
    let join_as = |member: &str, instance: &str| {
        let mut j = join(&group, member, 30_000, "consumer");
        j.group_instance_id = Some(instance.into());
        j
    };
    // A static member gets its id at once (no KIP-394 round trip).
    let Some(first) = s.send("JoinGroup static", &join_as("", "i1")).await else {
        return;
    };
    let member = first.member_id.clone();
    let generation = first.generation_id;
    let hb = |member: &str, instance: &str| HeartbeatRequest {
        group_id: group.clone(),
        generation_id: generation,
        member_id: member.into(),
        group_instance_id: Some(instance.into()),
        ..Default::default()
    };
    s.send("Heartbeat with another instance's id", &hb(&member, "i2"))
        .await;
    s.send("Heartbeat with another member id", &hb("other", "i1"))
        .await;
    // The same instance joining again without its member id takes over
    // (the old member id is fenced).
    let Some(again) = s.send("JoinGroup static again", &join_as("", "i1")).await else {
        return;
    };
    s.send("Heartbeat of the replaced member id", &hb(&member, "i1"))
        .await;
    let describe = DescribeGroupsRequest {
        groups: vec![group.clone()],
        ..Default::default()
    };
    s.send("DescribeGroups", &describe).await;
    let leave = |instance: &str, member: &str| LeaveGroupRequest {
        group_id: group.clone(),
        members: vec![leave_group_request::MemberIdentity {
            member_id: member.into(),
            group_instance_id: Some(instance.into()),
            ..Default::default()
        }],
        ..Default::default()
    };
    s.send("LeaveGroup unknown instance", &leave("i9", ""))
        .await;
    s.send(
        "LeaveGroup by instance with a stale member id",
        &leave("i1", &member),
    )
    .await;
    s.send("LeaveGroup by instance", &leave("i1", &again.member_id))
        .await;
    s.send("DescribeGroups after leaving", &describe).await;
}

async fn more_admin_and_produce_errors(s: &mut Session) {
    let t = s.name("more");
    topic(s, &t, 1, &[]).await;
    let node = node_id(s).await;
    let prefix = s.name("more-assigned");
    let assigned = |brokers: Vec<i32>, partitions: i32| CreateTopicsRequest {
        topics: vec![create_topics_request::CreatableTopic {
            name: format!("{prefix}-{partitions}-{}", brokers.len()),
            num_partitions: -1,
            replication_factor: -1,
            assignments: (0..partitions)
                .map(|p| create_topics_request::CreatableReplicaAssignment {
                    partition_index: p,
                    broker_ids: brokers.clone(),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }],
        timeout_ms: TIMEOUT,
        validate_only: true,
        ..Default::default()
    };
    s.send(
        "CreateTopics assigned to this broker",
        &assigned(vec![node], 2),
    )
    .await;
    s.send(
        "CreateTopics assigned to an unknown broker",
        &assigned(vec![4242], 1),
    )
    .await;
    s.send(
        "CreateTopics assigned twice to one broker",
        &assigned(vec![node, node], 1),
    )
    .await;
    let mut both = assigned(vec![node], 1);
    both.topics[0].num_partitions = 3;
    s.send("CreateTopics with assignments and a count", &both)
        .await;
    // Clients may not write to the internal topics (made first: a
    // FindCoordinator makes the offsets topic).
    let group = s.name("more-group");
    coordinator(s, &group, GROUP_KEY).await;
    s.send(
        "Produce to __consumer_offsets",
        &produce("__consumer_offsets", 0, batch(&["x"]), -1),
    )
    .await;
    s.send(
        "DeleteTopics of a missing topic by name state",
        &DeleteTopicsRequest {
            topic_names: vec![],
            topics: vec![delete_topics_request::DeleteTopicState {
                name: Some(s.name("more-missing")),
                ..Default::default()
            }],
            timeout_ms: TIMEOUT,
            ..Default::default()
        },
    )
    .await;
    let dr = DeleteRecordsRequest {
        topics: vec![delete_records_request::DeleteRecordsTopic {
            name: s.name("more-missing"),
            partitions: vec![delete_records_request::DeleteRecordsPartition {
                partition_index: 0,
                offset: 1,
                ..Default::default()
            }],
            ..Default::default()
        }],
        timeout_ms: TIMEOUT,
        ..Default::default()
    };
    s.send("DeleteRecords of a missing topic", &dr).await;
    let mut lo = list_offsets_req(&t, 0, -5, -1);
    lo.timeout_ms = TIMEOUT;
    s.send("ListOffsets latest tiered", &lo).await;
    s.send(
        "ListOffsets earliest local",
        &list_offsets_req(&t, 0, -4, -1),
    )
    .await;
}

async fn fetch_sessions(s: &mut Session) {
    let t = s.name("fs");
    topic(s, &t, 1, &[]).await;
    s.setup(&produce(&t, 0, batch(&["a"]), -1)).await;
    let id = topic_id(s, &t).await;
    let v = s.latest::<FetchRequest>();
    let with_session = |session_id: i32, session_epoch: i32| {
        let mut f = fetch(&t, id, 0, 0, -1);
        f.topics[0].topic.clear();
        f.session_id = session_id;
        f.session_epoch = session_epoch;
        f
    };
    // Epoch 0 without a session id asks for a new session.
    s.send_v("Fetch creating a session", &with_session(0, 0), v)
        .await;
    s.send_v("Fetch in an unknown session", &with_session(123_456, 1), v)
        .await;
    s.send_v("Fetch with an epoch but no session", &with_session(0, 5), v)
        .await;
    s.send_v("Fetch closing no session", &with_session(0, -1), v)
        .await;
}

async fn describe_producers(s: &mut Session) {
    let t = s.name("dp");
    topic(s, &t, 2, &[]).await;
    let Some(p) = s.setup(&init_pid(None, -1, -1, -1)).await else {
        return;
    };
    let b = batch_with(
        RecordBatchBuilder::new().producer(p.producer_id, p.producer_epoch, 0),
        &["a", "b", "c"],
    );
    s.send("Produce idempotent", &produce(&t, 0, b, -1)).await;
    s.send("Produce plain", &produce(&t, 1, batch(&["x"]), -1))
        .await;
    let req = DescribeProducersRequest {
        topics: vec![
            describe_producers_request::TopicRequest {
                name: t.clone(),
                partition_indexes: vec![0, 1, 5],
                ..Default::default()
            },
            describe_producers_request::TopicRequest {
                name: s.name("dp-missing"),
                partition_indexes: vec![0],
                ..Default::default()
            },
        ],
        ..Default::default()
    };
    s.send("DescribeProducers", &req).await;
}

/// The reference broker runs without an authorizer: every ACL API answers
/// SECURITY_DISABLED, whatever it is asked.
async fn acls_without_an_authorizer(s: &mut Session) {
    let creation = |name: &str, principal: &str| create_acls_request::AclCreation {
        resource_type: 2,
        resource_name: name.into(),
        resource_pattern_type: 3,
        principal: principal.into(),
        host: "*".into(),
        operation: 3,
        permission_type: 3,
        ..Default::default()
    };
    let t = s.name("acl");
    let req = CreateAclsRequest {
        creations: vec![creation(&t, "User:alice"), creation("", "alice")],
        ..Default::default()
    };
    s.send("CreateAcls", &req).await;
    let every = DescribeAclsRequest {
        resource_type_filter: 1,
        resource_name_filter: None,
        pattern_type_filter: 1,
        principal_filter: None,
        host_filter: None,
        operation: 1,
        permission_type: 1,
        ..Default::default()
    };
    s.send("DescribeAcls", &every).await;
    let req = DeleteAclsRequest {
        filters: vec![delete_acls_request::DeleteAclsFilter {
            resource_type_filter: 1,
            resource_name_filter: None,
            pattern_type_filter: 1,
            principal_filter: None,
            host_filter: None,
            operation: 1,
            permission_type: 1,
            ..Default::default()
        }],
        ..Default::default()
    };
    s.send("DeleteAcls", &req).await;
}

/// SCRAM credentials (no authorizer needed): set, with each of Kafka's
/// refusals, described, deleted.
async fn scram_credentials(s: &mut Session) {
    let (alice, bob, ghost, frank) = (
        s.name("alice"),
        s.name("bob"),
        s.name("ghost"),
        s.name("frank"),
    );
    let upsert = |name: &str, mechanism: i8, iterations: i32| {
        alter_user_scram_credentials_request::ScramCredentialUpsertion {
            name: name.into(),
            mechanism,
            iterations,
            salt: Bytes::from_static(b"0123456789abcdef"),
            salted_password: Bytes::from(vec![7u8; if mechanism == 2 { 64 } else { 32 }]),
            ..Default::default()
        }
    };
    let req = AlterUserScramCredentialsRequest {
        deletions: vec![
            alter_user_scram_credentials_request::ScramCredentialDeletion {
                name: ghost.clone(),
                mechanism: 1,
                ..Default::default()
            },
        ],
        upsertions: vec![
            upsert(&alice, 1, 4096),
            upsert(&bob, 2, 16384),
            upsert(&s.name("carol"), 3, 4096),
            upsert(&s.name("dave"), 1, 4095),
            upsert(&s.name("erin"), 1, 16385),
            upsert(&frank, 1, 8192),
            upsert(&frank, 2, 8192),
            upsert("", 1, 4096),
        ],
        ..Default::default()
    };
    s.send("AlterUserScramCredentials", &req).await;
    // Kafka answers the change once its controller committed it, and the
    // describe from its broker's metadata image, which may not have it yet
    // (CI saw RESOURCE_NOT_FOUND once); let it settle.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let user = |name: &str| describe_user_scram_credentials_request::UserName {
        name: name.into(),
        ..Default::default()
    };
    let req = DescribeUserScramCredentialsRequest {
        users: Some(vec![user(&alice), user(&bob), user(&ghost), user(&bob)]),
        ..Default::default()
    };
    s.send("DescribeUserScramCredentials", &req).await;
    let req = AlterUserScramCredentialsRequest {
        deletions: vec![
            alter_user_scram_credentials_request::ScramCredentialDeletion {
                name: bob.clone(),
                mechanism: 2,
                ..Default::default()
            },
        ],
        ..Default::default()
    };
    s.send("AlterUserScramCredentials delete", &req).await;
    let req = DescribeUserScramCredentialsRequest {
        users: Some(vec![user(&alice), user(&bob)]),
        ..Default::default()
    };
    s.send("DescribeUserScramCredentials after the deletion", &req)
        .await;
}

/// Client quotas: set on user and user/client-id entities, with each of
/// Kafka's refusals, checked without being made, described through strict
/// filters (one entity each: Kafka lists several in hash-map order), the
/// refused filters, then removed again so a shared Kafka is left as found.
async fn client_quotas(s: &mut Session) {
    let (alice, app, bob, dave) = (
        s.name("alice"),
        s.name("app"),
        s.name("bob"),
        s.name("dave"),
    );
    let entity = |parts: &[(&str, Option<&str>)]| {
        parts
            .iter()
            .map(|(t, n)| alter_client_quotas_request::EntityData {
                entity_type: (*t).into(),
                entity_name: n.map(Into::into),
                ..Default::default()
            })
            .collect::<Vec<_>>()
    };
    let op = |key: &str, value: Option<f64>| alter_client_quotas_request::OpData {
        key: key.into(),
        value: value.unwrap_or(0.0),
        remove: value.is_none(),
        ..Default::default()
    };
    let entry = |parts: &[(&str, Option<&str>)], ops: Vec<alter_client_quotas_request::OpData>| {
        alter_client_quotas_request::EntryData {
            entity: entity(parts),
            ops,
            ..Default::default()
        }
    };
    let req = AlterClientQuotasRequest {
        entries: vec![
            entry(
                &[("user", Some(&alice))],
                vec![
                    op("producer_byte_rate", Some(1024.0)),
                    op("consumer_byte_rate", Some(2048.0)),
                ],
            ),
            entry(
                &[("user", Some(&alice)), ("client-id", Some(&app))],
                vec![op("request_percentage", Some(12.5))],
            ),
            // Refused: an unknown key, a fractional byte rate, a negative
            // rate, a key twice, an IP's key on a user, a user's key on an
            // IP, an address that is not one, no entity, a type twice, an
            // unknown type.
            entry(&[("user", Some(&bob))], vec![op("no_such_rate", Some(1.0))]),
            entry(
                &[("user", Some(&bob))],
                vec![op("producer_byte_rate", Some(1.5))],
            ),
            entry(
                &[("user", Some(&bob))],
                vec![op("consumer_byte_rate", Some(-1.0))],
            ),
            entry(
                &[("user", Some(&bob))],
                vec![
                    op("producer_byte_rate", Some(1.0)),
                    op("producer_byte_rate", Some(2.0)),
                ],
            ),
            entry(
                &[("user", Some(&bob))],
                vec![op("connection_creation_rate", Some(1.0))],
            ),
            entry(
                &[("ip", Some("10.9.9.9"))],
                vec![op("producer_byte_rate", Some(1.0))],
            ),
            entry(
                &[("ip", Some("not-an-address"))],
                vec![op("connection_creation_rate", Some(1.0))],
            ),
            entry(&[], vec![op("producer_byte_rate", Some(1.0))]),
            entry(
                &[("user", Some(&bob)), ("user", Some(&dave))],
                vec![op("producer_byte_rate", Some(1.0))],
            ),
            entry(
                &[("group", Some(&bob))],
                vec![op("producer_byte_rate", Some(1.0))],
            ),
            // Removing a key that is not set is no change and no error.
            entry(
                &[("user", Some(&bob))],
                vec![op("producer_byte_rate", None)],
            ),
        ],
        validate_only: false,
        ..Default::default()
    };
    s.send("AlterClientQuotas", &req).await;
    let req = AlterClientQuotasRequest {
        entries: vec![entry(
            &[("user", Some(&dave))],
            vec![op("producer_byte_rate", Some(1.0))],
        )],
        validate_only: true,
        ..Default::default()
    };
    s.send("AlterClientQuotas validate only", &req).await;

    let component = |t: &str, match_type: i8, name: Option<&str>| {
        describe_client_quotas_request::ComponentData {
            entity_type: t.into(),
            match_type,
            r#match: name.map(Into::into),
            ..Default::default()
        }
    };
    let describe = |components: Vec<describe_client_quotas_request::ComponentData>| {
        DescribeClientQuotasRequest {
            components,
            strict: true,
            ..Default::default()
        }
    };
    // Kafka answers a change once its controller committed it, and a
    // describe from its broker's metadata image, which may lag (CI saw the
    // removed value described once, as for SCRAM credentials): let it settle.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let req = describe(vec![component("user", 0, Some(&alice))]);
    s.send("DescribeClientQuotas user", &req).await;
    let req = describe(vec![
        component("user", 0, Some(&alice)),
        component("client-id", 0, Some(&app)),
    ]);
    s.send("DescribeClientQuotas user and client id", &req)
        .await;
    let req = describe(vec![component("user", 0, Some(&dave))]);
    s.send("DescribeClientQuotas after validate only", &req)
        .await;
    for (label, components) in [
        (
            "ip with user",
            vec![component("ip", 2, None), component("user", 2, None)],
        ),
        ("unknown type", vec![component("group", 2, None)]),
        ("exact without a name", vec![component("user", 0, None)]),
        (
            "default with a name",
            vec![component("user", 1, Some(&alice))],
        ),
        ("unknown match type", vec![component("user", 7, None)]),
        (
            "a type twice",
            vec![component("user", 2, None), component("user", 1, None)],
        ),
    ] {
        s.send(
            &format!("DescribeClientQuotas refused: {label}"),
            &describe(components),
        )
        .await;
    }

    let req = AlterClientQuotasRequest {
        entries: vec![
            entry(
                &[("user", Some(&alice))],
                vec![
                    op("producer_byte_rate", None),
                    op("consumer_byte_rate", None),
                ],
            ),
            entry(
                &[("user", Some(&alice)), ("client-id", Some(&app))],
                vec![op("request_percentage", None)],
            ),
        ],
        ..Default::default()
    };
    s.send("AlterClientQuotas removal", &req).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let req = describe(vec![component("user", 0, Some(&alice))]);
    s.send("DescribeClientQuotas after the removal", &req).await;
}
