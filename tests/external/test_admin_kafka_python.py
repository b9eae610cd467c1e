"""kafka-python's KafkaAdminClient: create_topics (configs, validate_only,
refusals), describe/alter configs (incremental and not), create_partitions,
delete_topics, delete_records, list_topics, describe_topics,
describe_cluster, describe_log_dirs. Error codes are checked exactly."""

import shutil
import uuid

import pytest
from kafka import KafkaAdminClient, KafkaProducer, TopicPartition
from kafka.admin import ConfigResource, ConfigResourceType
from kafka.admin._configs import AlterConfigOp
from kafka.protocol.consumer.offsets import OffsetSpec
from kafka.errors import (InvalidPartitionsError, OffsetOutOfRangeError, UnknownTopicOrPartitionError)

NONE = 0
UNKNOWN_TOPIC_OR_PARTITION = 3
INVALID_TOPIC_EXCEPTION = 17
TOPIC_ALREADY_EXISTS = 36
INVALID_PARTITIONS = 37
INVALID_REPLICATION_FACTOR = 38
INVALID_CONFIG = 40


@pytest.fixture
def admin(broker):
    a = KafkaAdminClient(bootstrap_servers=broker, request_timeout_ms=15000)
    yield a
    a.close()


def create(admin, name, validate_only=False, **spec):
    """Creates one topic; returns (error_code, topic result)."""
    result = admin.create_topics({name: spec}, validate_only=validate_only, raise_errors=False)
    [topic] = result["topics"]
    assert topic["name"] == name
    return topic["error_code"], topic


def produce(broker, topic, n, partition=0):
    p = KafkaProducer(bootstrap_servers=broker, acks=1, enable_idempotence=False)
    for i in range(n):
        p.send(topic, value=f"v{i}".encode(), partition=partition)
    p.flush(10)
    p.close()


def topic_config(admin, name, config_filter="all"):
    return admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, name)],
                                  config_filter=config_filter)["topic"][name]


def test_create_and_describe(admin, topic_name):
    code, topic = create(admin, topic_name, num_partitions=3, replication_factor=1,
                         configs={"retention.ms": "3600000", "cleanup.policy": "compact"})
    assert code == NONE, topic
    assert (topic["num_partitions"], topic["replication_factor"]) == (3, 1)
    assert topic["topic_id"] is not None
    # CreateTopics v5+ returns the resulting configs.
    assert topic["configs"]["retention.ms"]["value"] == "3600000"
    assert topic["configs"]["segment.bytes"]["value"] == "1073741824"
    assert topic_name in admin.list_topics()
    [desc] = admin.describe_topics([topic_name])
    assert desc["error_code"] == 0 and desc["name"] == topic_name and not desc["is_internal"]
    assert [(p["partition_index"], p["leader_id"], p["replica_nodes"], p["isr_nodes"])
            for p in sorted(desc["partitions"], key=lambda p: p["partition_index"])] == [
        (i, 1, [1], [1]) for i in range(3)]
    modified = topic_config(admin, topic_name, "modified")
    assert {k: v["value"] for k, v in modified.items()} == {"retention.ms": "3600000", "cleanup.policy": "compact"}
    assert all(v["config_source"] == "DYNAMIC_TOPIC_CONFIG" for v in modified.values())
    full = topic_config(admin, topic_name)
    assert full["min.insync.replicas"]["value"] == "1"
    assert full["min.insync.replicas"]["config_source"] == "DEFAULT_CONFIG"
    code, _ = create(admin, topic_name, num_partitions=1, replication_factor=1)
    assert code == TOPIC_ALREADY_EXISTS


def test_create_defaults_and_validate_only(admin, topic_name):
    code, topic = create(admin, topic_name + "-v", validate_only=True, num_partitions=4, replication_factor=1)
    assert code == NONE, topic
    assert topic["num_partitions"] == 4
    assert topic_name + "-v" not in admin.list_topics()
    code, topic = create(admin, topic_name)  # -1/-1: broker defaults
    assert code == NONE, topic
    assert (topic["num_partitions"], topic["replication_factor"]) == (1, 1)


@pytest.mark.parametrize("spec,expected", [
    ({"num_partitions": 1, "replication_factor": 2}, INVALID_REPLICATION_FACTOR),
    ({"num_partitions": 1, "replication_factor": 0}, INVALID_REPLICATION_FACTOR),
    ({"num_partitions": 0, "replication_factor": 1}, INVALID_PARTITIONS),
    ({"num_partitions": -5, "replication_factor": 1}, INVALID_PARTITIONS),
    ({"configs": {"retention.ms": "forever"}}, INVALID_CONFIG),
    ({"configs": {"not.a.topic.config": "x"}}, INVALID_CONFIG),
    ({"configs": {"min.insync.replicas": "0"}}, INVALID_CONFIG),
])
def test_create_refused(admin, topic_name, spec, expected):
    code, topic = create(admin, topic_name, **spec)
    assert code == expected, topic
    assert topic["error_message"]
    assert topic_name not in admin.list_topics()


@pytest.mark.parametrize("name", ["", ".", "..", "b" * 250, "semi;colon", "star*"])
def test_create_invalid_name(admin, name):
    code, topic = create(admin, name, num_partitions=1, replication_factor=1)
    assert code == INVALID_TOPIC_EXCEPTION, topic
    assert name not in admin.list_topics()


def test_create_max_length_name(admin, topic_name):
    name = (topic_name + "-" + "c" * 249)[:249]
    code, topic = create(admin, name, num_partitions=1, replication_factor=1)
    assert code == NONE, topic
    assert name in admin.list_topics()


def test_describe_unknown_topic_does_not_create(admin, topic_name):
    [desc] = admin.describe_topics([topic_name])
    assert desc["error_code"] == UNKNOWN_TOPIC_OR_PARTITION
    assert topic_name not in admin.list_topics()


def test_alter_configs(admin, topic_name):
    code, _ = create(admin, topic_name, num_partitions=1, replication_factor=1,
                     configs={"retention.ms": "100000"})
    assert code == NONE
    res = ConfigResource(ConfigResourceType.TOPIC, topic_name, configs={
        "segment.ms": "7200000",
        "retention.ms": (AlterConfigOp.DELETE, None),
        "cleanup.policy": (AlterConfigOp.APPEND, "compact"),
    })
    assert admin.alter_configs([res], incremental=True) == {"topic": {topic_name: "OK"}}
    modified = {k: v["value"] for k, v in topic_config(admin, topic_name, "modified").items()}
    assert modified == {"segment.ms": "7200000", "cleanup.policy": "delete,compact"}
    # Non-incremental: kafka-python re-sends the other modified keys itself.
    res = ConfigResource(ConfigResourceType.TOPIC, topic_name, configs={"max.message.bytes": "12345"})
    assert admin.alter_configs([res], incremental=False) == {"topic": {topic_name: "OK"}}
    modified = {k: v["value"] for k, v in topic_config(admin, topic_name, "modified").items()}
    assert modified == {"segment.ms": "7200000", "cleanup.policy": "delete,compact", "max.message.bytes": "12345"}
    # validate_only leaves things as they were.
    res = ConfigResource(ConfigResourceType.TOPIC, topic_name, configs={"segment.ms": "1000"})
    assert admin.alter_configs([res], validate_only=True) == {"topic": {topic_name: "OK"}}
    assert topic_config(admin, topic_name)["segment.ms"]["value"] == "7200000"
    # A bad value is refused with INVALID_CONFIG.
    res = ConfigResource(ConfigResourceType.TOPIC, topic_name, configs={"segment.ms": "-3"})
    result = admin.alter_configs([res], incremental=True)["topic"][topic_name]
    assert result.startswith("[Error 40] InvalidConfigurationError"), result
    # reset_configs deletes the overrides.
    res = ConfigResource(ConfigResourceType.TOPIC, topic_name, configs={})
    assert admin.reset_configs([res]) == {"topic": {topic_name: "OK"}}
    assert topic_config(admin, topic_name, "modified") == {}


def test_broker_configs(admin):
    res = ConfigResource(ConfigResourceType.BROKER, "1")
    configs = admin.describe_configs([res], config_filter="all", include_synonyms=True)["broker"]["1"]
    assert configs["log.retention.hours"]["value"] == "168"
    assert configs["log.segment.bytes"]["value"] == "1073741824"
    assert configs["default.replication.factor"]["value"] == "1"
    # Synonyms as Kafka lists them: only those with a value, from the
    # described name on (log.retention.ms has no default, so none).
    assert configs["log.retention.hours"]["synonyms"] == [
        {"name": "log.retention.hours", "value": "168", "source": "DEFAULT_CONFIG"}]
    assert configs["log.retention.ms"]["synonyms"] == []
    # A dynamic per-broker change, then its removal.
    res = ConfigResource(ConfigResourceType.BROKER, "1", configs={"log.retention.bytes": "1000000000"})
    assert admin.alter_configs([res], incremental=True) == {"broker": {"1": "OK"}}
    configs = admin.describe_configs([ConfigResource(ConfigResourceType.BROKER, "1")])["broker"]["1"]
    assert configs["log.retention.bytes"]["value"] == "1000000000"
    assert configs["log.retention.bytes"]["config_source"] == "DYNAMIC_BROKER_CONFIG"
    res = ConfigResource(ConfigResourceType.BROKER, "1", configs=["log.retention.bytes"])
    assert admin.reset_configs([res]) == {"broker": {"1": "OK"}}
    configs = admin.describe_configs([ConfigResource(ConfigResourceType.BROKER, "1")])["broker"]["1"]
    assert "log.retention.bytes" not in configs


def test_create_partitions(admin, topic_name):
    assert create(admin, topic_name, num_partitions=1, replication_factor=1)[0] == NONE
    r = admin.create_partitions({topic_name: 4}, validate_only=True)
    assert [(x.name, x.error_code) for x in r.results] == [(topic_name, NONE)]
    r = admin.create_partitions({topic_name: 4})
    assert [(x.name, x.error_code) for x in r.results] == [(topic_name, NONE)]
    [desc] = admin.describe_topics([topic_name])
    assert sorted(p["partition_index"] for p in desc["partitions"]) == [0, 1, 2, 3]
    r = admin.create_partitions({topic_name: 2}, raise_errors=False)
    assert [(x.name, x.error_code) for x in r.results] == [(topic_name, INVALID_PARTITIONS)]
    assert r.results[0].error_message
    with pytest.raises(InvalidPartitionsError):
        admin.create_partitions({topic_name: 4})
    r = admin.create_partitions({topic_name + "-missing": 2}, raise_errors=False)
    assert [x.error_code for x in r.results] == [UNKNOWN_TOPIC_OR_PARTITION]


def test_delete_topics(broker, admin, topic_name):
    assert create(admin, topic_name, num_partitions=2, replication_factor=1)[0] == NONE
    produce(broker, topic_name, 3)
    r = admin.delete_topics([topic_name])
    assert [(t["name"], t["error_code"]) for t in r["topics"]] == [(topic_name, NONE)]
    assert topic_name not in admin.list_topics()
    r = admin.delete_topics([topic_name], raise_errors=False)
    assert [(t["name"], t["error_code"]) for t in r["topics"]] == [(topic_name, UNKNOWN_TOPIC_OR_PARTITION)]
    with pytest.raises(UnknownTopicOrPartitionError):
        admin.delete_topics([topic_name])


def test_delete_topic_by_id(admin, topic_name):
    code, topic = create(admin, topic_name, num_partitions=1, replication_factor=1)
    assert code == NONE
    r = admin.delete_topics([uuid.UUID(str(topic["topic_id"]))])
    assert [(t["name"], t["error_code"]) for t in r["topics"]] == [(topic_name, NONE)]
    assert topic_name not in admin.list_topics()


def test_delete_records(broker, admin, topic_name):
    assert create(admin, topic_name, num_partitions=1, replication_factor=1)[0] == NONE
    produce(broker, topic_name, 8)
    tp = TopicPartition(topic_name, 0)
    r = admin.delete_records({tp: 5})
    assert r[tp]["low_watermark"] == 5 and r[tp]["error_code"] == 0
    offsets = admin.list_partition_offsets({tp: OffsetSpec.EARLIEST})
    assert offsets[tp].offset == 5
    with pytest.raises(OffsetOutOfRangeError):
        admin.delete_records({tp: 9})
    r = admin.delete_records({tp: -1})  # -1: up to the high watermark
    assert r[tp]["low_watermark"] == 8
    with pytest.raises(UnknownTopicOrPartitionError):
        admin.delete_records({TopicPartition(topic_name, 3): 1})


def test_describe_cluster_and_log_dirs(broker, broker_proc, admin, topic_name):
    cluster = admin.describe_cluster()
    assert cluster["controller_id"] == 1
    assert cluster["cluster_id"] and len(cluster["cluster_id"]) == 22
    assert [(b["broker_id"], f'{b["host"]}:{b["port"]}') for b in cluster["brokers"]] == [(1, broker)]
    assert create(admin, topic_name, num_partitions=2, replication_factor=1)[0] == NONE
    produce(broker, topic_name, 10)
    [entry] = admin.describe_log_dirs()
    assert entry["broker"] == 1
    [log_dir] = entry["log_dirs"]
    assert log_dir["error_code"] == 0
    # The data directory's file system, as statvfs reports it (Python's
    # disk_usage reads the same); free space moves as anything writes.
    disk = shutil.disk_usage(broker_proc.dir / "data")
    assert log_dir["total_bytes"] == disk.total
    assert 0 <= log_dir["usable_bytes"] <= disk.total
    assert abs(log_dir["usable_bytes"] - disk.free) < 1 << 30
    [topic] = [t for t in log_dir["topics"] if t["name"] == topic_name]
    sizes = {p["partition_index"]: p["partition_size"] for p in topic["partitions"]}
    assert set(sizes) == {0, 1}
    assert sizes[1] == 0 and sizes[0] > 10 * 2


POLICY_VIOLATION = 44


def test_excessive_partition_count_refused(admin, topic_name):
    """Like Kafka's controller: more than 10000 new partitions in one request
    is a POLICY_VIOLATION for every topic in it, and nothing is created."""
    result = admin.create_topics({
        topic_name + "-a": {"num_partitions": 5000, "replication_factor": 1},
        topic_name + "-b": {"num_partitions": 5001, "replication_factor": 1},
    }, raise_errors=False)
    assert sorted((t["name"], t["error_code"]) for t in result["topics"]) == [
        (topic_name + "-a", POLICY_VIOLATION), (topic_name + "-b", POLICY_VIOLATION)]
    assert not {topic_name + "-a", topic_name + "-b"} & set(admin.list_topics())
    assert create(admin, topic_name, num_partitions=2, replication_factor=1)[0] == NONE
    r = admin.create_partitions({topic_name: 10_003}, raise_errors=False)
    assert [(x.name, x.error_code) for x in r.results] == [(topic_name, POLICY_VIOLATION)]
    [desc] = admin.describe_topics([topic_name])
    assert len(desc["partitions"]) == 2


def test_describe_metadata_quorum(admin, topic_name):
    """DescribeQuorum (what kafka-python's own integration test of the same
    name checks): a single node is the one voter and leader of the
    __cluster_metadata quorum, its high watermark moves with every change,
    and it lists itself as the controller endpoint."""
    before = admin.describe_metadata_quorum()
    [topic] = before["topics"]
    assert topic["topic_name"] == "__cluster_metadata"
    [p] = topic["partitions"]
    assert p["error"] is None
    assert p["partition_index"] == 0 and p["leader_id"] == 1 and p["leader_epoch"] >= 1
    assert [v["replica_id"] for v in p["current_voters"]] == [1]
    [voter] = p["current_voters"]
    assert voter["log_end_offset"] >= p["high_watermark"] > 0
    assert voter["last_fetch_timestamp"] > 0 and voter["last_caught_up_timestamp"] > 0
    assert p["observers"] == []
    assert [n["node_id"] for n in before["nodes"]] == [1]
    assert create(admin, topic_name, num_partitions=1, replication_factor=1)[0] == NONE
    [after] = admin.describe_metadata_quorum()["topics"][0]["partitions"]
    assert after["high_watermark"] > p["high_watermark"]
