"""Log compaction with real clients: confluent-kafka (librdkafka) and
kafka-python consumers read a topic the broker's log cleaner compacted
(offset gaps, rewritten batches with delete horizons, a producer's last
batch kept empty) and see each key's last value; a tombstone goes after
delete.retention.ms; an aborted transaction's records are removed for
read_uncommitted consumers too.

Expectations come from a model of what was produced and of which segment
was active (the segment files in the broker's data directory): below the
active segment exactly the last record of each key stays."""

import time
import uuid

from confluent_kafka import Consumer, Producer, TopicPartition

BROKER_SETTINGS = ["log.cleaner.backoff.ms=100"]

COMPACTED = {
    "cleanup.policy": "compact",
    # Kafka's internal.segment.bytes: below segment.bytes' 1 MiB minimum,
    # so the log rolls and has something to clean.
    "internal.segment.bytes": "4096",
    "min.cleanable.dirty.ratio": "0.01",
    "delete.retention.ms": "1000",
}


def uid(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def active_base(broker_proc, topic):
    logs = sorted((broker_proc.dir / "data" / f"{topic}-0").glob("*.log"))
    return int(logs[-1].stem)


def read_confluent(broker, topic, isolation="read_committed"):
    """Every record from offset 0 to the end, as (offset, key, value)."""
    c = Consumer({
        "bootstrap.servers": broker,
        "group.id": uid("reader"),
        "enable.auto.commit": False,
        "enable.partition.eof": True,
        "isolation.level": isolation,
    })
    c.assign([TopicPartition(topic, 0, 0)])
    out = []
    deadline = time.monotonic() + 30
    try:
        while time.monotonic() < deadline:
            m = c.poll(1.0)
            if m is None:
                continue
            if m.error():
                if m.error().code() == -191:  # _PARTITION_EOF
                    return out
                raise AssertionError(m.error())
            out.append((m.offset(), m.key(), m.value()))
        raise AssertionError(f"no end of partition after {len(out)} records")
    finally:
        c.close()


def read_kafka_python(broker, topic):
    from kafka import KafkaConsumer
    from kafka import TopicPartition as KTP

    c = KafkaConsumer(bootstrap_servers=broker, enable_auto_commit=False, consumer_timeout_ms=3000)
    tp = KTP(topic, 0)
    c.assign([tp])
    c.seek(tp, 0)
    end = c.end_offsets([tp])[tp]
    out = []
    deadline = time.monotonic() + 30
    while c.position(tp) < end and time.monotonic() < deadline:
        for batch in c.poll(timeout_ms=1000).values():
            out.extend((m.offset, m.key, m.value) for m in batch)
    c.close()
    return out


def wait_compacted(broker, broker_proc, topic, active, gone_keys=()):
    """Polls until, below the active segment, every key appears once and
    none of `gone_keys` appears; returns the records then."""
    deadline = time.monotonic() + 30
    while True:
        now = read_confluent(broker, topic, "read_uncommitted")
        below = [r for r in now if r[0] < active]
        keys = [k for _, k, _ in below]
        if len(set(keys)) == len(keys) and not any(k in gone_keys for k in keys):
            return now
        assert time.monotonic() < deadline, f"not compacted: {len(below)} records below {active}"
        time.sleep(0.3)


def model(produced, active, drop_tombstones=True):
    """What the cleaner leaves: the active segment whole, and below it the
    last record of each key (not a tombstone once its horizon passed)."""
    last = {}
    for off, k, _ in produced:
        if off < active:
            last[k] = off
    return [
        (off, k, v)
        for off, k, v in produced
        if off >= active or (last[k] == off and (v is not None or not drop_tombstones))
    ]


def test_consumers_read_the_last_value_of_each_key(broker, broker_proc, create_topic, topic_name):
    create_topic(topic_name, configs=COMPACTED)
    # Idempotent: batches carry a producer id, and the producer's last
    # batch must survive even if all its records are superseded.
    p = Producer({"bootstrap.servers": broker, "enable.idempotence": True,
                  "compression.type": "lz4", "linger.ms": 2})
    for rnd in range(30):
        for k in range(10):
            if k == 3 and rnd > 20:
                continue
            value = None if (k == 3 and rnd == 20) else f"round-{rnd}-{'v' * 40}".encode()
            p.produce(topic_name, key=f"key-{k:02}".encode(), value=value, partition=0)
        p.flush(10)
    assert p.flush(20) == 0
    produced = read_confluent(broker, topic_name)
    active = active_base(broker_proc, topic_name)
    assert active > 0, "the log rolled"

    got = wait_compacted(broker, broker_proc, topic_name, active, gone_keys=(b"key-03",))
    want = model(produced, active)
    assert got == want
    assert len(got) < len(produced)
    # Both clients read exactly the same compacted partition.
    assert read_confluent(broker, topic_name) == want
    assert read_kafka_python(broker, topic_name) == want
    # And producing goes on at the log end.
    p.produce(topic_name, key=b"key-00", value=b"after", partition=0)
    assert p.flush(10) == 0
    after = read_confluent(broker, topic_name)
    assert after[-1] == (produced[-1][0] + 1, b"key-00", b"after")


def test_aborted_records_are_removed_for_every_reader(broker, broker_proc, create_topic, topic_name):
    create_topic(topic_name, configs=COMPACTED)
    plain = Producer({"bootstrap.servers": broker, "linger.ms": 2})
    for rnd in range(10):
        for k in range(8):
            plain.produce(topic_name, key=f"k{k}".encode(), value=f"committed-{rnd}".encode(), partition=0)
        plain.flush(10)
    txn = Producer({"bootstrap.servers": broker, "transactional.id": uid("txn"), "linger.ms": 2})
    txn.init_transactions(30)
    txn.begin_transaction()
    aborted_offsets = []

    def delivered(err, msg):
        assert err is None, err
        aborted_offsets.append(msg.offset())

    for k in range(8):
        txn.produce(topic_name, key=f"k{k}".encode(), value=b"aborted", partition=0, on_delivery=delivered)
    txn.flush(10)
    txn.abort_transaction(30)
    assert len(aborted_offsets) == 8
    # Enough afterwards that the aborted records and the marker are in
    # non-active segments.
    for rnd in range(10, 40):
        for k in range(4):
            plain.produce(topic_name, key=f"k{k}".encode(), value=f"committed-{rnd}".encode(), partition=0)
        plain.flush(10)
    assert plain.flush(20) == 0
    committed = read_confluent(broker, topic_name, "read_committed")
    assert not any(v == b"aborted" for _, _, v in committed)
    active = active_base(broker_proc, topic_name)
    assert max(aborted_offsets) < active, "the aborted records are cleanable"

    got = wait_compacted(broker, broker_proc, topic_name, active)
    # Gone for read_uncommitted readers too, and the committed table is
    # what read_committed readers saw before compaction.
    assert not any(v == b"aborted" for _, _, v in got)
    assert not set(aborted_offsets) & {off for off, _, _ in got}
    assert got == model(committed, active)
    assert read_confluent(broker, topic_name, "read_committed") == got
    txn.flush(1)
