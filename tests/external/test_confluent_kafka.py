"""confluent-kafka (librdkafka) producing and consuming: acks 0/1/all, every
codec, keys, headers, timestamps; consumer with assign, seek,
offsets_for_times and watermarks. No consumer groups: the consumer has no
group.id and uses assign()."""

import time

import pytest
from confluent_kafka import (OFFSET_BEGINNING, OFFSET_END, TIMESTAMP_CREATE_TIME, TIMESTAMP_LOG_APPEND_TIME, Consumer,
                             KafkaError,
                             Producer, TopicPartition)

CODECS = ["none", "gzip", "snappy", "lz4", "zstd"]


def consumer(broker, **extra):
    # confluent-kafka insists on a group.id; with assign() and no commits the
    # group is never joined.
    conf = {"bootstrap.servers": broker, "group.id": "unused-assign-only", "enable.auto.commit": False,
            "enable.auto.offset.store": False, "fetch.wait.max.ms": 100, "enable.partition.eof": True}
    conf.update(extra)
    return Consumer(conf)


def consume_to_end(c, partitions, timeout=20):
    """Consumes until every assigned partition reported EOF; returns records sorted."""
    out = []
    eof = set()
    deadline = time.monotonic() + timeout
    while eof != set(partitions) and time.monotonic() < deadline:
        m = c.poll(0.2)
        if m is None:
            continue
        if m.error():
            assert m.error().code() == KafkaError._PARTITION_EOF, m.error()
            eof.add(m.partition())
            continue
        eof.discard(m.partition())
        out.append(m)
    assert eof == set(partitions), f"no EOF from {set(partitions) - eof}"
    return sorted(out, key=lambda m: (m.partition(), m.offset()))


def produce_all(p, topic, items):
    """items: (partition, key, value, headers, timestamp); returns delivery reports in order."""
    reports = [None] * len(items)

    def on_delivery(i):
        def cb(err, msg):
            reports[i] = (err, msg.partition(), msg.offset())
        return cb

    for i, (partition, key, value, headers, ts) in enumerate(items):
        kwargs = {"partition": partition, "key": key, "value": value, "on_delivery": on_delivery(i)}
        if headers is not None:
            kwargs["headers"] = headers
        if ts is not None:
            kwargs["timestamp"] = ts
        p.produce(topic, **kwargs)
        p.poll(0)
    assert p.flush(20) == 0
    return reports


@pytest.mark.parametrize("codec", CODECS)
@pytest.mark.parametrize("acks", ["0", "1", "all"])
def test_produce_consume(broker, create_topic, topic_name, acks, codec):
    create_topic(topic_name, partitions=2)
    base_ts = int(time.time() * 1000) - 60_000
    n = 200
    items = [
        (i % 2, f"k{i}".encode(), f"value {i} ".encode() * (i % 7 + 1),
         [("h1", b"v1"), ("idx", str(i).encode()), ("dup", b"a"), ("dup", b"b")], base_ts + i)
        for i in range(n)
    ]
    p = Producer({"bootstrap.servers": broker, "acks": acks, "compression.type": codec, "linger.ms": 5})
    reports = produce_all(p, topic_name, items)
    for i, (err, partition, offset) in enumerate(reports):
        assert err is None, err
        assert partition == i % 2
        if acks != "0":
            assert offset == i // 2
    c = consumer(broker)
    c.assign([TopicPartition(topic_name, 0, OFFSET_BEGINNING), TopicPartition(topic_name, 1, OFFSET_BEGINNING)])
    records = consume_to_end(c, [0, 1])
    c.close()
    assert len(records) == n
    expected = sorted(range(n), key=lambda i: (i % 2, i))
    for m, i in zip(records, expected):
        assert (m.topic(), m.partition(), m.offset()) == (topic_name, i % 2, i // 2)
        assert m.key() == f"k{i}".encode()
        assert m.value() == f"value {i} ".encode() * (i % 7 + 1)
        assert m.headers() == [("h1", b"v1"), ("idx", str(i).encode()), ("dup", b"a"), ("dup", b"b")]
        assert m.timestamp() == (TIMESTAMP_CREATE_TIME, base_ts + i)


def test_idempotent_producer(broker, create_topic, topic_name):
    create_topic(topic_name)
    p = Producer({"bootstrap.servers": broker, "enable.idempotence": True, "linger.ms": 5})
    items = [(0, None, f"m{i}".encode(), None, None) for i in range(50)]
    reports = produce_all(p, topic_name, items)
    assert [(err, off) for err, _, off in reports] == [(None, i) for i in range(50)]
    c = consumer(broker)
    c.assign([TopicPartition(topic_name, 0, OFFSET_BEGINNING)])
    assert [m.value() for m in consume_to_end(c, [0])] == [f"m{i}".encode() for i in range(50)]
    c.close()


def test_nulls_and_large_value(broker, create_topic, topic_name):
    create_topic(topic_name)
    big = bytes(range(256)) * 3500  # 896000 bytes
    p = Producer({"bootstrap.servers": broker, "compression.type": "none"})
    items = [
        (0, None, b"no key", None, None),
        (0, b"tombstone", None, None, None),
        (0, b"big", big, None, None),
        (0, b"", b"", [("", b"")], None),
    ]
    reports = produce_all(p, topic_name, items)
    assert [(e, o) for e, _, o in reports] == [(None, 0), (None, 1), (None, 2), (None, 3)]
    c = consumer(broker)
    c.assign([TopicPartition(topic_name, 0, OFFSET_BEGINNING)])
    got = [(m.key(), m.value(), m.headers()) for m in consume_to_end(c, [0])]
    c.close()
    assert got == [(None, b"no key", None), (b"tombstone", None, None), (b"big", big, None),
                   (b"", b"", [("", b"")])]


def test_message_too_large_refused(broker, create_topic, topic_name):
    """A batch above the topic's max.message.bytes is refused with MSG_SIZE_TOO_LARGE."""
    create_topic(topic_name, configs={"max.message.bytes": "10000"})
    p = Producer({"bootstrap.servers": broker, "compression.type": "none"})
    reports = produce_all(p, topic_name, [(0, None, b"x" * 20000, None, None)])
    err = reports[0][0]
    assert err is not None and err.code() == KafkaError.MSG_SIZE_TOO_LARGE, err


def test_seek_offsets_for_times_watermarks(broker, create_topic, topic_name):
    create_topic(topic_name, partitions=2)
    base_ts = int(time.time() * 1000) - 100_000
    p = Producer({"bootstrap.servers": broker, "linger.ms": 0})
    for i in range(10):
        produce_all(p, topic_name, [(0, None, f"v{i}".encode(), None, base_ts + i * 1000)])
    c = consumer(broker)
    assert c.get_watermark_offsets(TopicPartition(topic_name, 0), timeout=10) == (0, 10)
    assert c.get_watermark_offsets(TopicPartition(topic_name, 1), timeout=10) == (0, 0)
    found = c.offsets_for_times([TopicPartition(topic_name, 0, base_ts + 3500),
                                 TopicPartition(topic_name, 0 + 1, base_ts)], timeout=10)
    assert [(tp.partition, tp.offset, tp.error) for tp in found] == [(0, 4, None), (1, -1, None)]
    found = c.offsets_for_times([TopicPartition(topic_name, 0, base_ts + 60_000)], timeout=10)
    assert found[0].offset == -1  # nothing at or after: the end (librdkafka reports -1)

    c.assign([TopicPartition(topic_name, 0, 7)])
    assert [(m.offset(), m.value()) for m in consume_to_end(c, [0])] == [(7, b"v7"), (8, b"v8"), (9, b"v9")]
    c.seek(TopicPartition(topic_name, 0, 2))
    m = None
    deadline = time.monotonic() + 10
    while m is None and time.monotonic() < deadline:
        m = c.poll(0.2)
        if m is not None and m.error():
            m = None
    assert (m.offset(), m.value(), m.timestamp()) == (2, b"v2", (TIMESTAMP_CREATE_TIME, base_ts + 2000))
    # Start from the end: nothing more until something is produced.
    c.assign([TopicPartition(topic_name, 0, OFFSET_END)])
    assert consume_to_end(c, [0]) == []
    produce_all(p, topic_name, [(0, b"late", b"arrival", None, None)])
    late = consume_to_end(c, [0])
    assert [(m.offset(), m.key(), m.value()) for m in late] == [(10, b"late", b"arrival")]
    c.close()


def test_list_topics_metadata(broker, create_topic, topic_name):
    create_topic(topic_name, partitions=4)
    p = Producer({"bootstrap.servers": broker})
    md = p.list_topics(timeout=10)
    assert list(md.brokers) == [1]
    assert f"{md.brokers[1].host}:{md.brokers[1].port}" == broker
    assert md.controller_id == 1
    t = md.topics[topic_name]
    assert t.error is None
    assert sorted(t.partitions) == [0, 1, 2, 3]
    for pm in t.partitions.values():
        assert (pm.leader, pm.replicas, pm.isrs, pm.error) == (1, [1], [1], None)
    missing = p.list_topics("no-such-topic-confluent", timeout=10).topics["no-such-topic-confluent"]
    # librdkafka's Metadata allows auto-creation; the broker's default creates it.
    assert missing.error is None or missing.error.code() == KafkaError.UNKNOWN_TOPIC_OR_PART


def test_log_append_time_topic(broker, create_topic, topic_name):
    """message.timestamp.type=LogAppendTime: the broker stamps the batch and
    reports the time in the produce response."""
    create_topic(topic_name, configs={"message.timestamp.type": "LogAppendTime"})
    before = int(time.time() * 1000)
    p = Producer({"bootstrap.servers": broker, "linger.ms": 0})
    reports = produce_all(p, topic_name, [(0, b"k", f"v{i}".encode(), None, 1_000_000 + i) for i in range(3)])
    after = int(time.time() * 1000)
    assert [(e, o) for e, _, o in reports] == [(None, 0), (None, 1), (None, 2)]
    c = consumer(broker)
    c.assign([TopicPartition(topic_name, 0, OFFSET_BEGINNING)])
    records = consume_to_end(c, [0])
    c.close()
    assert len(records) == 3
    for m in records:
        ts_type, ts = m.timestamp()
        assert ts_type == TIMESTAMP_LOG_APPEND_TIME
        assert before - 1000 <= ts <= after + 1000


def test_compacted_topic_refuses_null_keys(broker, create_topic, topic_name):
    create_topic(topic_name, configs={"cleanup.policy": "compact"})
    p = Producer({"bootstrap.servers": broker, "linger.ms": 0, "retries": 0})
    reports = produce_all(p, topic_name, [(0, None, b"no key", None, None)])
    err = reports[0][0]
    assert err is not None and err.code() == KafkaError.INVALID_RECORD, err
    reports = produce_all(p, topic_name, [(0, b"key", b"value", None, None)])
    assert reports[0][0] is None and reports[0][2] == 0


def test_not_enough_replicas(broker, create_topic, topic_name):
    """min.insync.replicas=2 on a single node: acks=all is refused, acks=1 is not."""
    create_topic(topic_name, configs={"min.insync.replicas": "2"})
    p = Producer({"bootstrap.servers": broker, "acks": "all", "linger.ms": 0, "message.timeout.ms": 3000})
    err = produce_all(p, topic_name, [(0, None, b"x", None, None)])[0][0]
    assert err is not None and err.code() in (KafkaError.NOT_ENOUGH_REPLICAS, KafkaError._MSG_TIMED_OUT), err
    p = Producer({"bootstrap.servers": broker, "acks": "1", "linger.ms": 0})
    assert produce_all(p, topic_name, [(0, None, b"y", None, None)]) == [(None, 0, 0)]


def test_timestamp_out_of_range_refused(broker, create_topic, topic_name):
    create_topic(topic_name, configs={"message.timestamp.before.max.ms": "3600000"})
    p = Producer({"bootstrap.servers": broker, "linger.ms": 0, "retries": 0})
    old = int(time.time() * 1000) - 2 * 3600_000
    err = produce_all(p, topic_name, [(0, None, b"old", None, old)])[0][0]
    assert err is not None and err.code() == KafkaError.INVALID_TIMESTAMP, err
    assert produce_all(p, topic_name, [(0, None, b"new", None, None)])[0][0] is None


def test_null_header_values(broker, create_topic, topic_name):
    create_topic(topic_name)
    p = Producer({"bootstrap.servers": broker, "linger.ms": 0})
    produce_all(p, topic_name, [(0, b"k", b"v", [("null", None), ("x", b"1")], None)])
    c = consumer(broker)
    c.assign([TopicPartition(topic_name, 0, OFFSET_BEGINNING)])
    [m] = consume_to_end(c, [0])
    c.close()
    assert m.headers() == [("null", None), ("x", b"1")]


def test_read_committed_consumer(broker, create_topic, topic_name):
    """isolation.level=read_committed without transactions sees everything."""
    create_topic(topic_name)
    p = Producer({"bootstrap.servers": broker, "linger.ms": 0})
    produce_all(p, topic_name, [(0, None, f"v{i}".encode(), None, None) for i in range(5)])
    c = consumer(broker, **{"isolation.level": "read_committed"})
    c.assign([TopicPartition(topic_name, 0, OFFSET_BEGINNING)])
    assert [m.value() for m in consume_to_end(c, [0])] == [f"v{i}".encode() for i in range(5)]
    c.close()


def test_small_fetch_limits_still_progress(broker, create_topic, topic_name):
    """KIP-74: a batch larger than the fetch limits is still returned whole."""
    create_topic(topic_name)
    p = Producer({"bootstrap.servers": broker, "linger.ms": 50, "batch.size": 200000,
                  "compression.type": "none"})
    produce_all(p, topic_name, [(0, None, b"z" * 1000, None, None) for _ in range(100)])
    c = consumer(broker, **{"fetch.max.bytes": 1000, "max.partition.fetch.bytes": 1000,
                            "message.max.bytes": 1000, "receive.message.max.bytes": 1_000_000})
    c.assign([TopicPartition(topic_name, 0, OFFSET_BEGINNING)])
    assert [m.offset() for m in consume_to_end(c, [0])] == list(range(100))
    c.close()


def test_multiple_topics_one_consumer(broker, create_topic, topic_name):
    a, b = create_topic(topic_name + "-a", partitions=2), create_topic(topic_name + "-b")
    p = Producer({"bootstrap.servers": broker, "linger.ms": 0})
    produce_all(p, a, [(i % 2, None, f"a{i}".encode(), None, None) for i in range(6)])
    produce_all(p, b, [(0, None, f"b{i}".encode(), None, None) for i in range(3)])
    c = consumer(broker)
    c.assign([TopicPartition(a, 0, OFFSET_BEGINNING), TopicPartition(a, 1, 1), TopicPartition(b, 0, OFFSET_END)])
    got, eof = [], set()
    deadline = time.monotonic() + 15
    while len(eof) < 3 and time.monotonic() < deadline:
        m = c.poll(0.2)
        if m is None:
            continue
        if m.error():
            eof.add((m.topic(), m.partition()))
        else:
            got.append((m.topic(), m.partition(), m.offset(), m.value()))
    c.close()
    assert sorted(got) == sorted([(a, 0, 0, b"a0"), (a, 0, 1, b"a2"), (a, 0, 2, b"a4"),
                                  (a, 1, 1, b"a3"), (a, 1, 2, b"a5")])


def test_idempotent_producer_pipelined_volume(broker, create_topic, topic_name):
    create_topic(topic_name, partitions=3)
    p = Producer({"bootstrap.servers": broker, "enable.idempotence": True, "linger.ms": 2,
                  "batch.size": 4096, "compression.type": "zstd", "max.in.flight.requests.per.connection": 5})
    n = 30000
    items = [(i % 3, str(i).encode(), f"{i:06d}".encode(), None, None) for i in range(n)]
    reports = produce_all(p, topic_name, items)
    assert all(err is None and (part, off) == (i % 3, i // 3) for i, (err, part, off) in enumerate(reports))
    c = consumer(broker)
    c.assign([TopicPartition(topic_name, i, OFFSET_BEGINNING) for i in range(3)])
    records = consume_to_end(c, [0, 1, 2], timeout=60)
    c.close()
    assert [(m.partition(), m.offset(), m.value()) for m in records] == sorted(
        (i % 3, i // 3, f"{i:06d}".encode()) for i in range(n))
