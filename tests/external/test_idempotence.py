"""Idempotent producing at the wire level: InitProducerId and the broker's
sequence checks, with record batches built by kafka-python's encoder and
Produce v3 requests on a raw socket, so retries, gaps and epochs can be sent
exactly. The clients' own idempotent producers are exercised in
test_kafka_python.py and test_confluent_kafka.py."""

import socket
import struct
import time

import pytest
from kafka.record.default_records import DefaultRecordBatchBuilder

PRODUCE, INIT_PRODUCER_ID = 0, 22
NONE, INVALID_REQUEST = 0, 42
OUT_OF_ORDER_SEQUENCE_NUMBER, INVALID_PRODUCER_EPOCH = 45, 47


class Conn:
    def __init__(self, broker):
        host, port = broker.rsplit(":", 1)
        self.sock = socket.create_connection((host, int(port)), timeout=10)
        self.correlation_id = 0

    def close(self):
        self.sock.close()

    def _recv(self, n):
        out = b""
        while len(out) < n:
            chunk = self.sock.recv(n - len(out))
            assert chunk, "connection closed"
            out += chunk
        return out

    def request(self, api_key, version, body, flexible=False):
        self.correlation_id += 1
        client_id = b"idempotence-test"
        header = struct.pack(">hhih", api_key, version, self.correlation_id, len(client_id)) + client_id
        if flexible:
            header += b"\x00"  # no tagged fields
        payload = header + body
        self.sock.sendall(struct.pack(">i", len(payload)) + payload)
        size = struct.unpack(">i", self._recv(4))[0]
        response = self._recv(size)
        assert struct.unpack(">i", response[:4])[0] == self.correlation_id
        return response[5:] if flexible else response[4:]

    def init_producer_id(self):
        """InitProducerId v0 without a transactional id: (error, producer id, epoch)."""
        body = struct.pack(">hi", -1, 60000)
        r = self.request(INIT_PRODUCER_ID, 0, body)
        _throttle, error, pid, epoch = struct.unpack(">ihqh", r)
        return error, pid, epoch

    def init_producer_id_v3(self, producer_id, epoch):
        """InitProducerId v3 (flexible) with an existing id/epoch (KIP-360)."""
        body = b"\x00" + struct.pack(">iqh", 60000, producer_id, epoch) + b"\x00"
        r = self.request(INIT_PRODUCER_ID, 3, body, flexible=True)
        _throttle, error, pid, ep = struct.unpack(">ihqh", r[:16])
        return error, pid, ep

    def produce(self, topic, batch, partition=0):
        """Produce v3, acks=-1: (error, base offset)."""
        t = topic.encode()
        body = struct.pack(">hhi", -1, -1, 10000)
        body += struct.pack(">ih", 1, len(t)) + t + struct.pack(">iii", 1, partition, len(batch)) + batch
        r = self.request(PRODUCE, 3, body)
        (ntopics,) = struct.unpack(">i", r[:4])
        assert ntopics == 1
        (name_len,) = struct.unpack(">h", r[4:6])
        pos = 6 + name_len
        nparts, index, error, base_offset, _append_time = struct.unpack(">iihqq", r[pos:pos + 26])
        assert (nparts, index) == (1, partition)
        return error, base_offset


def batch(producer_id, epoch, base_sequence, values):
    b = DefaultRecordBatchBuilder(magic=2, compression_type=0, is_transactional=False, producer_id=producer_id,
                                  producer_epoch=epoch, base_sequence=base_sequence, batch_size=1 << 20)
    now = int(time.time() * 1000)
    for i, v in enumerate(values):
        b.append(i, timestamp=now, key=None, value=v, headers=[])
    return bytes(b.build())


@pytest.fixture
def conn(broker):
    c = Conn(broker)
    yield c
    c.close()


def end_offset(broker, topic):
    from confluent_kafka import Consumer, TopicPartition
    c = Consumer({"bootstrap.servers": broker, "group.id": "unused"})
    try:
        return c.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)[1]
    finally:
        c.close()


def test_init_producer_id_hands_out_distinct_ids(conn):
    results = [conn.init_producer_id() for _ in range(5)]
    assert all(error == NONE and epoch == 0 for error, _, epoch in results), results
    ids = [pid for _, pid, _ in results]
    assert len(set(ids)) == 5 and min(ids) >= 0
    # KIP-360 form with an existing id and epoch: still a fresh id for
    # non-transactional producers, as Kafka does.
    error, pid, epoch = conn.init_producer_id_v3(ids[0], 0)
    assert (error, epoch) == (NONE, 0) and pid not in ids
    # An id without an epoch is malformed.
    assert conn.init_producer_id_v3(ids[0], -1)[0] == INVALID_REQUEST


def test_retries_are_deduplicated_and_gaps_refused(broker, create_topic, topic_name, conn):
    create_topic(topic_name)
    error, pid, epoch = conn.init_producer_id()
    assert error == NONE
    first = batch(pid, epoch, 0, [b"a", b"b", b"c"])
    assert conn.produce(topic_name, first) == (NONE, 0)
    # The same batch again (a retry after a lost response): its original
    # offset, and nothing appended.
    assert conn.produce(topic_name, first) == (NONE, 0)
    assert end_offset(broker, topic_name) == 3
    assert conn.produce(topic_name, batch(pid, epoch, 3, [b"d"])) == (NONE, 3)
    # A gap in the sequence.
    assert conn.produce(topic_name, batch(pid, epoch, 9, [b"x"]))[0] == OUT_OF_ORDER_SEQUENCE_NUMBER
    # A sequence from the past that is not a retained batch.
    assert conn.produce(topic_name, batch(pid, epoch, 1, [b"y"]))[0] == OUT_OF_ORDER_SEQUENCE_NUMBER
    # A new epoch starts at 0; the old one is fenced afterwards.
    assert conn.produce(topic_name, batch(pid, epoch + 1, 5, [b"z"]))[0] == OUT_OF_ORDER_SEQUENCE_NUMBER
    assert conn.produce(topic_name, batch(pid, epoch + 1, 0, [b"e"])) == (NONE, 4)
    assert conn.produce(topic_name, batch(pid, epoch, 4, [b"f"]))[0] == INVALID_PRODUCER_EPOCH
    assert end_offset(broker, topic_name) == 5
    # Other producers are independent, and may start at any sequence.
    _, other, _ = conn.init_producer_id()
    assert conn.produce(topic_name, batch(other, 0, 42, [b"g"])) == (NONE, 5)
    # Plain (non-idempotent) batches are unaffected.
    assert conn.produce(topic_name, batch(-1, -1, -1, [b"h"])) == (NONE, 6)


def test_producer_ids_are_not_reused_after_restart(broker_proc, broker):
    c = Conn(broker)
    before = {c.init_producer_id()[1] for _ in range(3)}
    c.close()
    broker_proc.restart()
    c = Conn(broker)
    after = {c.init_producer_id()[1] for _ in range(3)}
    c.close()
    assert not before & after, (before, after)


def test_retries_across_a_restart_are_deduplicated(broker_proc, broker, create_topic, topic_name):
    """The producer state is rebuilt from the log after a restart: a retry of
    a batch appended before it still gets its original offset. Small
    segments (segment.ms=1), so the state spans several of them."""
    create_topic(topic_name, configs={"segment.ms": "1"})
    c = Conn(broker)
    _, a, _ = c.init_producer_id()
    _, b, _ = c.init_producer_id()
    last = {}
    for i in range(40):
        pid = a if i % 2 == 0 else b
        seq = i // 2
        last[pid] = (batch(pid, 0, seq, [f"r{i}".encode() + b"x" * 100]), i)
        assert c.produce(topic_name, last[pid][0]) == (NONE, i)
        # segment.ms=1 rolls only a segment at least 1 ms old: appends that
        # come faster than that (an idle machine) share a segment.
        time.sleep(0.003)
    c.close()
    segments = list((broker_proc.dir / "data" / f"{topic_name}-0").glob("*.log"))
    assert len(segments) > 5, segments
    broker_proc.restart()
    c = Conn(broker)
    try:
        for pid in (a, b):
            retry, offset = last[pid]
            assert c.produce(topic_name, retry) == (NONE, offset)
        assert end_offset(broker, topic_name) == 40
        assert c.produce(topic_name, batch(a, 0, 25, [b"gap"]))[0] == OUT_OF_ORDER_SEQUENCE_NUMBER
        assert c.produce(topic_name, batch(a, 0, 20, [b"next"])) == (NONE, 40)
        assert c.produce(topic_name, batch(b, 0, 20, [b"next"])) == (NONE, 41)
    finally:
        c.close()
