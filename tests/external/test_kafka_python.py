"""kafka-python (pure-Python client) producing and consuming: acks 0/1/all,
every codec, keys, headers, timestamps; consumer with assign + seek,
offsets_for_times, beginning_offsets and end_offsets. No consumer groups
(group_id=None)."""

import time

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

CODECS = [None, "gzip", "snappy", "lz4", "zstd"]


def producer(broker, **config):
    config.setdefault("enable_idempotence", False)
    return KafkaProducer(bootstrap_servers=broker, **config)


def consumer(broker, **config):
    return KafkaConsumer(bootstrap_servers=broker, group_id=None, enable_auto_commit=False,
                         fetch_max_wait_ms=100, **config)


def consume(c, n, timeout=20):
    """Polls until n records arrived (exactly: fails on more within a short grace)."""
    out = []
    deadline = time.monotonic() + timeout
    while len(out) < n and time.monotonic() < deadline:
        for records in c.poll(timeout_ms=200).values():
            out.extend(records)
    extra = [r for rs in c.poll(timeout_ms=300).values() for r in rs]
    assert len(out) == n and not extra, f"expected {n} records, got {len(out)} (+{len(extra)} more)"
    return sorted(out, key=lambda r: (r.partition, r.offset))


@pytest.mark.parametrize("codec", CODECS, ids=lambda c: c or "none")
@pytest.mark.parametrize("acks", [0, 1, "all"])
def test_produce_consume(broker, create_topic, topic_name, acks, codec):
    create_topic(topic_name, partitions=2)
    base_ts = int(time.time() * 1000) - 60_000
    p = producer(broker, acks=acks, compression_type=codec, linger_ms=5)
    futures = []
    n = 60
    for i in range(n):
        futures.append(p.send(
            topic_name,
            key=f"k{i}".encode(),
            value=f"value {i} ".encode() * (i % 5 + 1),
            headers=[("h1", b"v1"), ("idx", str(i).encode()), ("empty", b"")],
            partition=i % 2,
            timestamp_ms=base_ts + i,
        ))
    p.flush(timeout=20)
    metas = [f.get(timeout=10) for f in futures]
    p.close()
    for i, m in enumerate(metas):
        assert (m.topic, m.partition) == (topic_name, i % 2)
        # acks=0 has no response, so the client makes its offset up.
        if acks != 0:
            assert m.offset == i // 2
        assert m.timestamp == base_ts + i

    c = consumer(broker)
    tps = [TopicPartition(topic_name, 0), TopicPartition(topic_name, 1)]
    c.assign(tps)
    c.seek_to_beginning()
    records = consume(c, n)
    c.close()
    expected = sorted(range(n), key=lambda i: (i % 2, i))
    for r, i in zip(records, expected):
        assert (r.topic, r.partition, r.offset) == (topic_name, i % 2, i // 2)
        assert r.key == f"k{i}".encode()
        assert r.value == f"value {i} ".encode() * (i % 5 + 1)
        assert r.headers == [("h1", b"v1"), ("idx", str(i).encode()), ("empty", b"")]
        assert r.timestamp == base_ts + i
        assert r.timestamp_type == 0  # CreateTime


def test_idempotent_producer_default(broker, create_topic, topic_name):
    """kafka-python's default producer is idempotent (acks=all, InitProducerId)."""
    create_topic(topic_name)
    p = KafkaProducer(bootstrap_servers=broker)
    metas = [p.send(topic_name, value=f"m{i}".encode(), partition=0) for i in range(20)]
    p.flush(timeout=20)
    assert [f.get(timeout=10).offset for f in metas] == list(range(20))
    p.close()
    c = consumer(broker)
    tp = TopicPartition(topic_name, 0)
    c.assign([tp])
    c.seek_to_beginning(tp)
    assert [r.value for r in consume(c, 20)] == [f"m{i}".encode() for i in range(20)]
    c.close()


def test_null_key_value_and_large_value(broker, create_topic, topic_name):
    create_topic(topic_name)
    big = bytes(range(256)) * 3000  # 768000 bytes, under the 1 MiB defaults
    p = producer(broker, acks=1, max_request_size=2_000_000)
    offsets = [
        p.send(topic_name, key=None, value=b"no key", partition=0).get(10).offset,
        p.send(topic_name, key=b"tombstone", value=None, partition=0).get(10).offset,
        p.send(topic_name, key=b"big", value=big, partition=0).get(10).offset,
        p.send(topic_name, key=b"", value=b"", partition=0).get(10).offset,
    ]
    p.close()
    assert offsets == [0, 1, 2, 3]
    c = consumer(broker)
    tp = TopicPartition(topic_name, 0)
    c.assign([tp])
    c.seek_to_beginning(tp)
    got = [(r.key, r.value) for r in consume(c, 4)]
    c.close()
    assert got == [(None, b"no key"), (b"tombstone", None), (b"big", big), (b"", b"")]


def test_seek_and_offset_lookups(broker, create_topic, topic_name):
    create_topic(topic_name, partitions=2)
    base_ts = int(time.time() * 1000) - 100_000
    p = producer(broker, acks="all")
    for i in range(10):
        # One batch per record so the time index has an entry for each.
        p.send(topic_name, value=f"v{i}".encode(), partition=0, timestamp_ms=base_ts + i * 1000).get(10)
    p.close()
    tp0, tp1 = TopicPartition(topic_name, 0), TopicPartition(topic_name, 1)
    c = consumer(broker)
    assert c.beginning_offsets([tp0, tp1]) == {tp0: 0, tp1: 0}
    assert c.end_offsets([tp0, tp1]) == {tp0: 10, tp1: 0}
    found = c.offsets_for_times({tp0: base_ts + 3500, tp1: base_ts})
    assert (found[tp0].offset, found[tp0].timestamp) == (4, base_ts + 4000)
    assert found[tp1] is None  # empty partition
    found = c.offsets_for_times({tp0: base_ts})
    assert (found[tp0].offset, found[tp0].timestamp) == (0, base_ts)
    assert c.offsets_for_times({tp0: base_ts + 60_000})[tp0] is None  # after the newest

    c.assign([tp0])
    c.seek(tp0, 7)
    assert [(r.offset, r.value) for r in consume(c, 3)] == [(7, b"v7"), (8, b"v8"), (9, b"v9")]
    assert c.position(tp0) == 10
    c.seek(tp0, 2)
    got = []
    deadline = time.monotonic() + 10
    while not got and time.monotonic() < deadline:
        got = c.poll(timeout_ms=200, max_records=1).get(tp0, [])
    assert [(r.offset, r.value) for r in got] == [(2, b"v2")]
    c.seek_to_end(tp0)
    assert c.position(tp0) == 10
    c.close()


def test_out_of_range_resets(broker, create_topic, topic_name):
    """Fetching past the end answers OFFSET_OUT_OF_RANGE; the consumer resets
    by auto_offset_reset."""
    create_topic(topic_name)
    p = producer(broker, acks=1)
    for i in range(5):
        p.send(topic_name, value=f"v{i}".encode(), partition=0)
    p.flush(10)
    p.close()
    tp = TopicPartition(topic_name, 0)
    c = consumer(broker, auto_offset_reset="earliest")
    c.assign([tp])
    c.seek(tp, 100)
    assert [r.offset for r in consume(c, 5)] == [0, 1, 2, 3, 4]
    c.close()



def test_idempotent_producer_pipelined_volume(broker, create_topic, topic_name):
    """Many batches in flight per connection (up to 5) over three partitions:
    every record once, in order."""
    create_topic(topic_name, partitions=3)
    p = KafkaProducer(bootstrap_servers=broker, compression_type="lz4", linger_ms=2, batch_size=4096)
    n = 15000
    futures = [p.send(topic_name, key=str(i).encode(), value=f"{i:06d}".encode(), partition=i % 3) for i in range(n)]
    p.flush(timeout=60)
    metas = [f.get(timeout=10) for f in futures]
    p.close()
    for i, m in enumerate(metas):
        assert (m.partition, m.offset) == (i % 3, i // 3)
    c = consumer(broker, max_partition_fetch_bytes=65536)
    tps = [TopicPartition(topic_name, i) for i in range(3)]
    c.assign(tps)
    c.seek_to_beginning()
    records = consume(c, n, timeout=60)
    c.close()
    assert [(r.partition, r.offset, r.value) for r in records] == sorted(
        (i % 3, i // 3, f"{i:06d}".encode()) for i in range(n))
