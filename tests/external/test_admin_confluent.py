"""confluent-kafka's AdminClient: topics (create incl. configs, validate_only
and refusals; delete), partitions (increase, refused decrease), configs
(describe, alter, incremental alter), delete_records, list_offsets,
describe_cluster, describe_topics, list_topics. Error codes are checked
exactly."""

import time

import pytest
from confluent_kafka import (OFFSET_BEGINNING, OFFSET_END, Consumer, KafkaError, KafkaException, Producer,
                             TopicCollection, TopicPartition)
from confluent_kafka.admin import (AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource, ConfigSource,
                                   NewPartitions, NewTopic, OffsetSpec, ResourceType)

TIMEOUT = 15


@pytest.fixture
def admin(broker):
    return AdminClient({"bootstrap.servers": broker})


def error_of(future):
    """The KafkaError a future failed with (None if it succeeded)."""
    try:
        future.result(timeout=TIMEOUT)
        return None
    except KafkaException as e:
        return e.args[0]


def create(admin, name, partitions=1, rf=1, configs=None, validate_only=False):
    f = admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=rf,
                                      config=configs or {})], validate_only=validate_only,
                            operation_timeout=10)
    return error_of(f[name])


def topic_names(admin):
    return set(admin.list_topics(timeout=TIMEOUT).topics)


def topic_configs(admin, name):
    res = ConfigResource(ResourceType.TOPIC, name)
    return admin.describe_configs([res])[res].result(timeout=TIMEOUT)


def produce(broker, topic, n, partition=0, timestamps=None):
    p = Producer({"bootstrap.servers": broker, "linger.ms": 0})
    for i in range(n):
        kw = {"timestamp": timestamps[i]} if timestamps else {}
        p.produce(topic, value=f"v{i}".encode(), partition=partition, **kw)
        if timestamps:
            p.flush(10)
    assert p.flush(10) == 0


def test_create_topic_with_configs(admin, topic_name):
    configs = {"cleanup.policy": "compact", "retention.ms": "123456", "max.message.bytes": "200000"}
    assert create(admin, topic_name, partitions=3, configs=configs) is None
    md = admin.list_topics(topic_name, timeout=TIMEOUT).topics[topic_name]
    assert sorted(md.partitions) == [0, 1, 2]
    described = topic_configs(admin, topic_name)
    for k, v in configs.items():
        assert described[k].value == v
        assert described[k].source == ConfigSource.DYNAMIC_TOPIC_CONFIG.value
        assert not described[k].is_default
    assert described["segment.bytes"].value == "1073741824"
    assert described["segment.bytes"].source == ConfigSource.DEFAULT_CONFIG.value
    assert described["min.insync.replicas"].value == "1"
    # Creating it again is refused.
    err = create(admin, topic_name)
    assert err.code() == KafkaError.TOPIC_ALREADY_EXISTS, err


def test_create_validate_only(admin, topic_name):
    assert create(admin, topic_name, partitions=2, validate_only=True) is None
    assert topic_name not in topic_names(admin)
    err = create(admin, topic_name, configs={"retention.ms": "not-a-number"}, validate_only=True)
    assert err.code() == KafkaError.INVALID_CONFIG, err
    assert topic_name not in topic_names(admin)


@pytest.mark.parametrize("name", [".", "..", "a" * 250, "has space", "slash/name", "ünïcode"])
def test_create_invalid_names(admin, name):
    err = create(admin, name)
    assert err is not None and err.code() == KafkaError.TOPIC_EXCEPTION, err
    assert name not in topic_names(admin)


def test_create_name_collision(admin, topic_name):
    """'.' and '_' collide in metric names; Kafka refuses the second."""
    base = topic_name.replace(".", "-").replace("_", "-")
    assert create(admin, f"{base}.a") is None
    err = create(admin, f"{base}_a")
    assert err is not None and err.code() == KafkaError.TOPIC_EXCEPTION, err


def test_create_invalid_counts_and_configs(admin, topic_name):
    err = create(admin, topic_name, rf=3)
    assert err.code() == KafkaError.INVALID_REPLICATION_FACTOR, err
    err = create(admin, topic_name, rf=0)
    assert err.code() == KafkaError.INVALID_REPLICATION_FACTOR, err
    err = create(admin, topic_name, partitions=0)
    assert err.code() == KafkaError.INVALID_PARTITIONS, err
    err = create(admin, topic_name, configs={"no.such.config": "1"})
    assert err.code() == KafkaError.INVALID_CONFIG, err
    err = create(admin, topic_name, configs={"cleanup.policy": "sometimes"})
    assert err.code() == KafkaError.INVALID_CONFIG, err
    assert topic_name not in topic_names(admin)
    # -1 takes the broker defaults (num.partitions=1, default.replication.factor=1).
    assert create(admin, topic_name, partitions=-1, rf=-1) is None
    md = admin.list_topics(topic_name, timeout=TIMEOUT).topics[topic_name]
    assert list(md.partitions) == [0] and md.partitions[0].replicas == [1]


def test_delete_topics(broker, admin, topic_name):
    assert create(admin, topic_name, partitions=2) is None
    produce(broker, topic_name, 5)
    f = admin.delete_topics([topic_name], operation_timeout=10)
    assert error_of(f[topic_name]) is None
    assert topic_name not in topic_names(admin)
    err = error_of(admin.delete_topics([topic_name], operation_timeout=10)[topic_name])
    assert err.code() == KafkaError.UNKNOWN_TOPIC_OR_PART, err
    # The name can be used again, and the new topic starts empty.
    assert create(admin, topic_name) is None
    c = Consumer({"bootstrap.servers": broker, "group.id": "unused"})
    assert c.get_watermark_offsets(TopicPartition(topic_name, 0), timeout=TIMEOUT) == (0, 0)
    c.close()


def test_create_partitions(admin, topic_name):
    assert create(admin, topic_name, partitions=2) is None
    f = admin.create_partitions([NewPartitions(topic_name, 5)], validate_only=True)
    assert error_of(f[topic_name]) is None
    assert len(admin.list_topics(topic_name, timeout=TIMEOUT).topics[topic_name].partitions) == 2
    f = admin.create_partitions([NewPartitions(topic_name, 5)])
    assert error_of(f[topic_name]) is None
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        parts = admin.list_topics(topic_name, timeout=TIMEOUT).topics[topic_name].partitions
        if len(parts) == 5:
            break
        time.sleep(0.1)
    assert sorted(parts) == [0, 1, 2, 3, 4]
    for total in (3, 5):  # a decrease, and no change
        err = error_of(admin.create_partitions([NewPartitions(topic_name, total)])[topic_name])
        assert err.code() == KafkaError.INVALID_PARTITIONS, err
    err = error_of(admin.create_partitions([NewPartitions(topic_name + "-missing", 3)])[topic_name + "-missing"])
    assert err.code() == KafkaError.UNKNOWN_TOPIC_OR_PART, err


def test_describe_configs_broker(admin):
    res = ConfigResource(ResourceType.BROKER, "1")
    configs = admin.describe_configs([res])[res].result(timeout=TIMEOUT)
    assert configs["num.partitions"].value == "1"
    assert configs["num.partitions"].source == ConfigSource.DEFAULT_CONFIG.value
    assert configs["socket.request.max.bytes"].value == "104857600"
    assert configs["auto.create.topics.enable"].value == "true"
    assert configs["node.id"].value == "1"
    assert configs["node.id"].is_read_only


def test_alter_configs_replaces(admin, topic_name):
    assert create(admin, topic_name, configs={"cleanup.policy": "compact"}) is None
    res = ConfigResource(ResourceType.TOPIC, topic_name, set_config={"retention.ms": "5000"})
    assert error_of(admin.alter_configs([res])[res]) is None
    described = topic_configs(admin, topic_name)
    assert described["retention.ms"].value == "5000"
    assert described["retention.ms"].source == ConfigSource.DYNAMIC_TOPIC_CONFIG.value
    # AlterConfigs replaces the whole set: cleanup.policy is back to its default.
    assert described["cleanup.policy"].value == "delete"
    assert described["cleanup.policy"].source == ConfigSource.DEFAULT_CONFIG.value
    # validate_only changes nothing; a bad value is refused.
    res = ConfigResource(ResourceType.TOPIC, topic_name, set_config={"retention.ms": "7000"})
    assert error_of(admin.alter_configs([res], validate_only=True)[res]) is None
    assert topic_configs(admin, topic_name)["retention.ms"].value == "5000"
    res = ConfigResource(ResourceType.TOPIC, topic_name, set_config={"retention.ms": "soon"})
    err = error_of(admin.alter_configs([res])[res])
    assert err.code() == KafkaError.INVALID_CONFIG, err
    res = ConfigResource(ResourceType.TOPIC, topic_name + "-missing", set_config={"retention.ms": "1"})
    err = error_of(admin.alter_configs([res])[res])
    assert err.code() == KafkaError.UNKNOWN_TOPIC_OR_PART, err


def test_incremental_alter_configs(admin, topic_name):
    assert create(admin, topic_name, configs={"retention.ms": "5000"}) is None
    res = ConfigResource(ResourceType.TOPIC, topic_name, incremental_configs=[
        ConfigEntry("max.message.bytes", "300000", incremental_operation=AlterConfigOpType.SET),
        ConfigEntry("retention.ms", None, incremental_operation=AlterConfigOpType.DELETE),
        ConfigEntry("cleanup.policy", "compact", incremental_operation=AlterConfigOpType.APPEND),
    ])
    assert error_of(admin.incremental_alter_configs([res])[res]) is None
    described = topic_configs(admin, topic_name)
    assert described["max.message.bytes"].value == "300000"
    assert described["retention.ms"].value == "604800000"
    assert described["retention.ms"].source == ConfigSource.DEFAULT_CONFIG.value
    assert described["cleanup.policy"].value == "delete,compact"
    res = ConfigResource(ResourceType.TOPIC, topic_name, incremental_configs=[
        ConfigEntry("cleanup.policy", "delete", incremental_operation=AlterConfigOpType.SUBTRACT)])
    assert error_of(admin.incremental_alter_configs([res])[res]) is None
    assert topic_configs(admin, topic_name)["cleanup.policy"].value == "compact"
    res = ConfigResource(ResourceType.TOPIC, topic_name, incremental_configs=[
        ConfigEntry("no.such.config", "1", incremental_operation=AlterConfigOpType.SET)])
    err = error_of(admin.incremental_alter_configs([res])[res])
    assert err.code() == KafkaError.INVALID_CONFIG, err
    res = ConfigResource(ResourceType.TOPIC, topic_name, incremental_configs=[
        ConfigEntry("max.message.bytes", "-5", incremental_operation=AlterConfigOpType.SET)])
    err = error_of(admin.incremental_alter_configs([res])[res])
    assert err.code() == KafkaError.INVALID_CONFIG, err


def test_incremental_alter_broker_config(admin):
    res = ConfigResource(ResourceType.BROKER, "1", incremental_configs=[
        ConfigEntry("log.retention.ms", "86400000", incremental_operation=AlterConfigOpType.SET)])
    assert error_of(admin.incremental_alter_configs([res])[res]) is None
    d = ConfigResource(ResourceType.BROKER, "1")
    configs = admin.describe_configs([d])[d].result(timeout=TIMEOUT)
    assert configs["log.retention.ms"].value == "86400000"
    assert configs["log.retention.ms"].source == ConfigSource.DYNAMIC_BROKER_CONFIG.value
    res = ConfigResource(ResourceType.BROKER, "1", incremental_configs=[
        ConfigEntry("log.retention.ms", None, incremental_operation=AlterConfigOpType.DELETE)])
    assert error_of(admin.incremental_alter_configs([res])[res]) is None
    configs = admin.describe_configs([d])[d].result(timeout=TIMEOUT)
    assert configs["log.retention.ms"].source != ConfigSource.DYNAMIC_BROKER_CONFIG.value


def test_delete_records(broker, admin, topic_name):
    assert create(admin, topic_name, partitions=2) is None
    produce(broker, topic_name, 10, partition=0)
    produce(broker, topic_name, 3, partition=1)
    fs = admin.delete_records([TopicPartition(topic_name, 0, 4), TopicPartition(topic_name, 1, OFFSET_END)],
                              operation_timeout=10)
    results = {tp.partition: f.result(timeout=TIMEOUT) for tp, f in fs.items()}
    assert results[0].low_watermark == 4
    assert results[1].low_watermark == 3
    c = Consumer({"bootstrap.servers": broker, "group.id": "unused", "enable.partition.eof": True,
                  "enable.auto.commit": False})
    assert c.get_watermark_offsets(TopicPartition(topic_name, 0), timeout=TIMEOUT) == (4, 10)
    assert c.get_watermark_offsets(TopicPartition(topic_name, 1), timeout=TIMEOUT) == (3, 3)
    c.assign([TopicPartition(topic_name, 0, OFFSET_BEGINNING)])
    got = []
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        m = c.poll(0.2)
        if m is None:
            continue
        if m.error():
            assert m.error().code() == KafkaError._PARTITION_EOF
            break
        got.append((m.offset(), m.value()))
    c.close()
    assert got == [(i, f"v{i}".encode()) for i in range(4, 10)]
    # Past the high watermark: OFFSET_OUT_OF_RANGE.
    fs = admin.delete_records([TopicPartition(topic_name, 0, 11)], operation_timeout=10)
    err = error_of(list(fs.values())[0])
    assert err.code() == KafkaError.OFFSET_OUT_OF_RANGE, err
    # Below the current start: nothing changes.
    fs = admin.delete_records([TopicPartition(topic_name, 0, 2)], operation_timeout=10)
    assert list(fs.values())[0].result(timeout=TIMEOUT).low_watermark == 4


def test_list_offsets(broker, admin, topic_name):
    assert create(admin, topic_name) is None
    base = int(time.time() * 1000) - 50_000
    # Timestamps out of order: max_timestamp is the record at offset 2.
    produce(broker, topic_name, 4, timestamps=[base, base + 1000, base + 5000, base + 3000])
    tp = TopicPartition(topic_name, 0)

    def lookup(spec):
        return admin.list_offsets({tp: spec})[tp].result(timeout=TIMEOUT)

    assert lookup(OffsetSpec.earliest()).offset == 0
    assert lookup(OffsetSpec.latest()).offset == 4
    r = lookup(OffsetSpec.max_timestamp())
    assert (r.offset, r.timestamp) == (2, base + 5000)
    r = lookup(OffsetSpec.for_timestamp(base + 500))
    assert (r.offset, r.timestamp) == (1, base + 1000)
    r = lookup(OffsetSpec.for_timestamp(base + 4000))
    assert (r.offset, r.timestamp) == (2, base + 5000)
    assert lookup(OffsetSpec.for_timestamp(base + 10_000)).offset == -1


def test_describe_cluster_and_topics(broker, admin, topic_name):
    assert create(admin, topic_name, partitions=3) is None
    cluster = admin.describe_cluster().result(timeout=TIMEOUT)
    assert cluster.cluster_id and len(cluster.cluster_id) == 22
    assert cluster.controller.id == 1
    assert [(n.id, f"{n.host}:{n.port}") for n in cluster.nodes] == [(1, broker)]
    assert admin.list_topics(timeout=TIMEOUT).cluster_id == cluster.cluster_id
    desc = admin.describe_topics(TopicCollection([topic_name]))[topic_name].result(timeout=TIMEOUT)
    assert desc.name == topic_name
    assert not desc.is_internal
    assert [(p.id, p.leader.id, [r.id for r in p.replicas], [r.id for r in p.isr]) for p in desc.partitions] == [
        (i, 1, [1], [1]) for i in range(3)
    ]
    missing = admin.describe_topics(TopicCollection([topic_name + "-missing"]))[topic_name + "-missing"]
    err = error_of(missing)
    assert err.code() == KafkaError.UNKNOWN_TOPIC_OR_PART, err
    # describe_topics does not create topics.
    assert topic_name + "-missing" not in topic_names(admin)
