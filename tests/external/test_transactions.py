"""Transactions (KIP-98) with real clients: confluent-kafka (librdkafka) and
kafka-python transactional producers, read_committed and read_uncommitted
consumers, consume-transform-produce with send_offsets_to_transaction,
fencing, broker-side transaction timeouts, a kill -9 restart, and the
DescribeTransactions/ListTransactions admin calls (kafka-python's admin
client; confluent-kafka's has neither). Every test uses its own topics,
transactional ids and groups; records, offsets and watermarks are checked
exactly (each transaction's commit or abort marker takes one offset).

The broker aborts timed-out transactions every 500 ms here (Kafka's
default is 10 s) and caps transaction timeouts at 60 s."""

import time
import uuid

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition

BROKER_SETTINGS = [
    "transaction.abort.timed.out.transaction.cleanup.interval.ms=500",
    "transaction.max.timeout.ms=60000",
    "group.initial.rebalance.delay.ms=0",
    "group.min.session.timeout.ms=1000",
]

FENCED = {KafkaError._FENCED, KafkaError.PRODUCER_FENCED, KafkaError.INVALID_PRODUCER_EPOCH}


def uid(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


# --- confluent-kafka helpers -------------------------------------------------

def txn_producer(broker, transactional_id, **conf):
    """A confluent-kafka transactional producer, initialised."""
    config = {"bootstrap.servers": broker, "transactional.id": transactional_id, "linger.ms": 5}
    config.update(conf)
    p = Producer(config)
    p.init_transactions(30)
    return p


def plain_produce(broker, topic, values, partition=0):
    p = Producer({"bootstrap.servers": broker, "linger.ms": 5})
    for v in values:
        p.produce(topic, value=v.encode(), partition=partition)
    assert p.flush(20) == 0


def in_txn(p, topic, values, partition=0):
    """Produces values in the producer's ongoing transaction and waits for
    them to be written (not committed)."""
    for v in values:
        p.produce(topic, value=v.encode(), partition=partition)
    assert p.flush(20) == 0


def new_consumer(broker, isolation, **conf):
    config = {"bootstrap.servers": broker, "group.id": uid("reader"), "isolation.level": isolation,
              "enable.auto.commit": False, "auto.offset.reset": "earliest", "fetch.wait.max.ms": 50,
              "enable.partition.eof": True}
    config.update(conf)
    return Consumer(config)


class Reader:
    """A consumer assigned to partitions from offset 0 that keeps every
    record it receives as (partition, offset, value)."""

    def __init__(self, broker, topic, isolation, partitions=(0,)):
        self.topic = topic
        self.partitions = list(partitions)
        self.c = new_consumer(broker, isolation)
        self.c.assign([TopicPartition(topic, p, 0) for p in self.partitions])
        self.records = []
        self.eof = set()

    def poll(self, timeout=0.05):
        m = self.c.poll(timeout)
        if m is None:
            return
        if m.error():
            if m.error().code() == KafkaError._PARTITION_EOF:
                self.eof.add(m.partition())
                return
            raise AssertionError(f"consumer error: {m.error()}")
        self.eof.discard(m.partition())
        self.records.append((m.partition(), m.offset(), m.value().decode()))

    def read(self, n, timeout=20, settle=0.3):
        """Polls until n records in all and the end of every partition
        (the last stable offset for read_committed) were reached, then a
        little longer: fails if more than n arrive."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.poll()
            if len(self.records) >= n and self.eof == set(self.partitions):
                break
        else:
            raise AssertionError(f"timed out: wanted {n} records, have {self.records}, eof {self.eof}")
        end = time.monotonic() + settle
        while time.monotonic() < end:
            self.poll()
        assert len(self.records) == n, self.records
        return self.records

    def idle(self, seconds):
        """Polls for a while; fails if any record arrives."""
        before = len(self.records)
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.poll()
        assert self.records[before:] == [], self.records[before:]

    def watermarks(self, partition=0):
        """(low, high) from ListOffsets at this consumer's isolation level:
        high is the last stable offset under read_committed."""
        return self.c.get_watermark_offsets(TopicPartition(self.topic, partition), timeout=10, cached=False)

    def values(self, partition=None):
        return [v for p, _, v in self.records if partition is None or p == partition]

    def close(self):
        self.c.close()


@pytest.fixture
def readers(broker):
    """reader(topic, isolation, partitions=(0,)) -> Reader; all closed at the end."""
    made = []

    def new(topic, isolation, partitions=(0,)):
        r = Reader(broker, topic, isolation, partitions)
        made.append(r)
        return r

    yield new
    for r in made:
        r.close()


def read_once(readers, topic, isolation, n, partitions=(0,)):
    return readers(topic, isolation, partitions).read(n)


def wait_for(cond, timeout=15, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = cond()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


# --- confluent-kafka tests ---------------------------------------------------

def test_committed_transactions_are_read_at_both_isolation_levels(broker, create_topic, topic_name, readers):
    create_topic(topic_name, partitions=2)
    p = txn_producer(broker, uid("txn"))
    p.begin_transaction()
    for i in range(5):
        for part in (0, 1):
            p.produce(topic_name, value=f"a-{part}-{i}".encode(), partition=part)
    p.commit_transaction(30)
    p.begin_transaction()
    in_txn(p, topic_name, [f"b-0-{i}" for i in range(3)], partition=0)
    p.commit_transaction(30)

    a0, a1, b0 = [f"a-0-{i}" for i in range(5)], [f"a-1-{i}" for i in range(5)], [f"b-0-{i}" for i in range(3)]
    # Partition 0: a at 0..4, a commit marker at 5, b at 6..8, a marker at 9.
    # Partition 1: a at 0..4, a marker at 5.
    want = sorted([(0, o, v) for o, v in zip([0, 1, 2, 3, 4, 6, 7, 8], a0 + b0)]
                  + [(1, o, v) for o, v in zip(range(5), a1)])
    for isolation in ("read_committed", "read_uncommitted"):
        r = readers(topic_name, isolation, (0, 1))
        got = r.read(13)
        assert sorted(got) == want, isolation
        # Per partition, in offset order.
        assert r.values(0) == a0 + b0 and r.values(1) == a1
        assert r.watermarks(0) == (0, 10) and r.watermarks(1) == (0, 6), isolation


def test_aborted_records_are_hidden_from_read_committed_only(broker, create_topic, topic_name, readers):
    create_topic(topic_name)
    p = txn_producer(broker, uid("txn"))
    p.begin_transaction()
    in_txn(p, topic_name, ["x-0", "x-1", "x-2"])
    p.abort_transaction(30)
    p.begin_transaction()
    in_txn(p, topic_name, ["c-0", "c-1"])
    p.commit_transaction(30)
    p.begin_transaction()
    in_txn(p, topic_name, ["y-0"])
    p.abort_transaction(30)

    # x at 0..2, abort marker 3, c at 4..5, commit marker 6, y at 7, abort marker 8.
    rc = readers(topic_name, "read_committed")
    assert rc.read(2) == [(0, 4, "c-0"), (0, 5, "c-1")]
    assert rc.watermarks() == (0, 9)
    ru = readers(topic_name, "read_uncommitted")
    assert ru.read(6) == [(0, 0, "x-0"), (0, 1, "x-1"), (0, 2, "x-2"), (0, 4, "c-0"), (0, 5, "c-1"), (0, 7, "y-0")]
    assert ru.watermarks() == (0, 9)
    # kafka-python's read_committed consumer filters them the same way.
    assert kp_read(broker, topic_name, "read_committed", 2) == [(0, 4, "c-0"), (0, 5, "c-1")]

    # Committed records after the aborted ones are read after them.
    p.begin_transaction()
    in_txn(p, topic_name, ["d-0"])
    p.commit_transaction(30)
    assert rc.read(3)[-1] == (0, 9, "d-0")


def test_interleaved_transactions_across_segments(broker_proc, broker, create_topic, topic_name, readers):
    """Two producers' transactions interleaved in one partition, one aborted
    and one committed, over many small segments (segment.ms=1): the
    aborted-transaction index must filter by producer, the last stable
    offset is the earliest open transaction's first offset, and a
    read_committed fetch starting inside the aborted transaction skips it."""
    create_topic(topic_name, configs={"segment.ms": "1"})
    pa, pb = txn_producer(broker, uid("txn-a")), txn_producer(broker, uid("txn-b"))
    pa.begin_transaction()
    pb.begin_transaction()
    for i in range(3):
        in_txn(pa, topic_name, [f"a-{i}"])  # 0, 2, 4
        in_txn(pb, topic_name, [f"b-{i}"])  # 1, 3, 5
    rc = readers(topic_name, "read_committed")
    assert rc.watermarks() == (0, 0)
    pa.abort_transaction(30)  # 6
    assert rc.watermarks() == (0, 1)  # b's transaction is still open
    rc.read(0)
    pb.commit_transaction(30)  # 7
    plain_produce(broker, topic_name, ["p-0"])  # 8
    assert rc.read(4) == [(0, 1, "b-0"), (0, 3, "b-1"), (0, 5, "b-2"), (0, 8, "p-0")]
    assert rc.watermarks() == (0, 9)
    segments = list((broker_proc.dir / "data" / f"{topic_name}-0").glob("*.log"))
    assert len(segments) > 3, segments

    # From the middle of the aborted transaction.
    mid = new_consumer(broker, "read_committed")
    try:
        mid.assign([TopicPartition(topic_name, 0, 2)])
        got = []
        deadline = time.monotonic() + 20
        while len(got) < 3 and time.monotonic() < deadline:
            m = mid.poll(0.05)
            if m is not None and not m.error():
                got.append((m.offset(), m.value().decode()))
        assert got == [(3, "b-1"), (5, "b-2"), (8, "p-0")]
    finally:
        mid.close()
    assert kp_read(broker, topic_name, "read_committed", 4) == [
        (0, 1, "b-0"), (0, 3, "b-1"), (0, 5, "b-2"), (0, 8, "p-0")]
    assert len(read_once(readers, topic_name, "read_uncommitted", 7)) == 7


def test_an_open_transaction_holds_back_read_committed(broker, create_topic, topic_name, readers):
    create_topic(topic_name)
    plain_produce(broker, topic_name, ["before-0", "before-1", "before-2"])  # 0..2
    p = txn_producer(broker, uid("txn"))
    p.begin_transaction()
    in_txn(p, topic_name, ["txn-0", "txn-1", "txn-2"])  # 3..5
    plain_produce(broker, topic_name, ["after-0", "after-1"])  # 6..7

    rc = readers(topic_name, "read_committed")
    ru = readers(topic_name, "read_uncommitted")
    # read_committed stops at the last stable offset: the open
    # transaction's first offset.
    assert rc.read(3) == [(0, 0, "before-0"), (0, 1, "before-1"), (0, 2, "before-2")]
    assert rc.watermarks() == (0, 3)
    assert ru.read(8) == [(0, 0, "before-0"), (0, 1, "before-1"), (0, 2, "before-2"),
                          (0, 3, "txn-0"), (0, 4, "txn-1"), (0, 5, "txn-2"),
                          (0, 6, "after-0"), (0, 7, "after-1")]
    assert ru.watermarks() == (0, 8)
    assert kp_end_offset(broker, topic_name, "read_committed") == 3
    assert kp_end_offset(broker, topic_name, "read_uncommitted") == 8
    rc.idle(1.5)  # still held back, however long it polls
    assert rc.watermarks() == (0, 3)

    p.commit_transaction(30)  # marker at 8
    assert rc.read(8)[3:] == [(0, 3, "txn-0"), (0, 4, "txn-1"), (0, 5, "txn-2"),
                              (0, 6, "after-0"), (0, 7, "after-1")]
    assert rc.watermarks() == (0, 9) and ru.watermarks() == (0, 9)


def test_a_new_producer_with_the_same_transactional_id_fences_the_old_one(broker, create_topic, topic_name, readers):
    create_topic(topic_name)
    tid = uid("txn")
    p1 = txn_producer(broker, tid)
    p1.begin_transaction()
    in_txn(p1, topic_name, ["old-0", "old-1", "old-2"])  # 0..2

    p2 = txn_producer(broker, tid)  # aborts p1's transaction: marker at 3
    rc = readers(topic_name, "read_committed")
    assert rc.watermarks() == (0, 4)
    rc.read(0)
    p2.begin_transaction()
    in_txn(p2, topic_name, ["new-0"])  # 4
    p2.commit_transaction(30)  # marker at 5

    with pytest.raises(KafkaException) as exc:
        p1.commit_transaction(30)
    err = exc.value.args[0]
    assert err.fatal() and err.code() in FENCED, err
    # The old producer cannot produce either.
    with pytest.raises(KafkaException):
        p1.begin_transaction()

    assert rc.read(1) == [(0, 4, "new-0")]
    assert read_once(readers, topic_name, "read_uncommitted", 4) == [
        (0, 0, "old-0"), (0, 1, "old-1"), (0, 2, "old-2"), (0, 4, "new-0")]
    assert rc.watermarks() == (0, 6)


def committed_offsets(broker, group, topic, partitions, timeout=10):
    c = Consumer({"bootstrap.servers": broker, "group.id": group, "enable.auto.commit": False})
    try:
        got = c.committed([TopicPartition(topic, p) for p in partitions], timeout=timeout)
        assert all(tp.error is None for tp in got), got
        return {tp.partition: tp.offset for tp in got}
    finally:
        c.close()


def test_consume_transform_produce_commits_offsets_with_the_transaction(broker, create_topic, readers):
    from kafka.admin import KafkaAdminClient
    from kafka import TopicPartition as KTP

    src, dst = create_topic(uid("ctp-in"), partitions=2), create_topic(uid("ctp-out"))
    group = uid("ctp-group")
    for part in (0, 1):
        plain_produce(broker, src, [f"in-{part}-{i}" for i in range(10)], partition=part)

    c = Consumer({"bootstrap.servers": broker, "group.id": group, "enable.auto.commit": False,
                  "auto.offset.reset": "earliest", "fetch.wait.max.ms": 50, "session.timeout.ms": 6000,
                  "isolation.level": "read_committed"})
    c.subscribe([src])
    p = txn_producer(broker, uid("ctp-txn"))
    tps = [TopicPartition(src, 0), TopicPartition(src, 1)]
    admin = KafkaAdminClient(bootstrap_servers=broker)
    try:
        def consume(n):
            got = []
            deadline = time.monotonic() + 30
            while len(got) < n and time.monotonic() < deadline:
                m = c.poll(0.1)
                if m is not None and not m.error():
                    got.append((m.partition(), m.offset(), m.value().decode()))
            assert len(got) == n, got
            return got

        def positions():
            return {tp.partition: tp.offset for tp in c.position(tps)}

        # Round 1, committed.
        first = consume(8)
        pos1 = positions()
        expected = {part: max([o for q, o, _ in first if q == part], default=-1) + 1 for part in (0, 1)}
        # A partition with nothing consumed yet may report an invalid position.
        assert {k: v for k, v in pos1.items() if v >= 0} == {k: v for k, v in expected.items() if v > 0}, pos1
        pos1 = expected
        p.begin_transaction()
        for _, _, v in first:
            p.produce(dst, value=v.replace("in-", "out-").encode())
        p.send_offsets_to_transaction([TopicPartition(src, k, v) for k, v in pos1.items()],
                                      c.consumer_group_metadata(), 30)
        assert p.flush(20) == 0
        # Pending: nothing committed yet. An OffsetFetch without
        # require_stable (kafka-python's admin) sees no offsets; librdkafka's
        # (require_stable) is answered UNSTABLE_OFFSET_COMMIT and retries
        # until it gives up.
        pending = admin.list_group_offsets({group: [KTP(src, 0), KTP(src, 1)]})[group]
        assert {tp.partition: o.offset for tp, o in pending.items()} == {0: -1, 1: -1}, pending
        with pytest.raises(KafkaException) as exc:
            committed_offsets(broker, group, src, (0, 1), timeout=1.5)
        assert exc.value.args[0].code() == KafkaError._TIMED_OUT, exc.value.args[0]
        p.commit_transaction(30)
        assert committed_offsets(broker, group, src, (0, 1)) == pos1
        listed = admin.list_group_offsets({group: [KTP(src, 0), KTP(src, 1)]})[group]
        assert {tp.partition: o.offset for tp, o in listed.items()} == pos1

        # Round 2, aborted: the offsets stay at round 1's.
        second = consume(12)
        assert sorted(first + second) == sorted(
            (part, i, f"in-{part}-{i}") for part in (0, 1) for i in range(10))
        assert positions() == {0: 10, 1: 10}
        p.begin_transaction()
        for _, _, v in second:
            p.produce(dst, value=v.replace("in-", "out-").encode())
        p.send_offsets_to_transaction([TopicPartition(src, 0, 10), TopicPartition(src, 1, 10)],
                                      c.consumer_group_metadata(), 30)
        assert p.flush(20) == 0
        p.abort_transaction(30)
        assert committed_offsets(broker, group, src, (0, 1)) == pos1

        # The output holds round 1's records only.
        out = read_once(readers, dst, "read_committed", 8)
        assert [v for _, _, v in out] == [v.replace("in-", "out-") for _, _, v in first]
    finally:
        admin.close()
        c.close()


def test_the_broker_aborts_a_transaction_past_its_timeout(broker, create_topic, topic_name, readers):
    create_topic(topic_name)
    tid = uid("txn")
    p = txn_producer(broker, tid, **{"transaction.timeout.ms": 2000})
    p.begin_transaction()
    in_txn(p, topic_name, ["t-0", "t-1", "t-2"])  # 0..2
    plain_produce(broker, topic_name, ["plain-0"])  # 3
    rc = readers(topic_name, "read_committed")
    assert rc.watermarks() == (0, 0)
    started = time.monotonic()
    # Timeout 2 s, checked every 500 ms: the abort marker lands at 4.
    wait_for(lambda: rc.watermarks() == (0, 5), timeout=15, what="the timed-out transaction's abort")
    assert time.monotonic() - started < 10
    assert rc.read(1) == [(0, 3, "plain-0")]
    assert read_once(readers, topic_name, "read_uncommitted", 4)[-1] == (0, 3, "plain-0")
    from kafka.admin import KafkaAdminClient, TransactionState
    admin = KafkaAdminClient(bootstrap_servers=broker)
    try:
        described = admin.describe_transactions([tid])[tid]
    finally:
        admin.close()
    assert described.state == TransactionState.COMPLETE_ABORT and described.topic_partitions == set(), described

    with pytest.raises(KafkaException) as exc:
        p.commit_transaction(30)
    err = exc.value.args[0]
    assert err.code() in FENCED or err.txn_requires_abort(), err
    # The transactional id is usable again by a new producer.
    p2 = txn_producer(broker, tid)
    p2.begin_transaction()
    in_txn(p2, topic_name, ["after"])
    p2.commit_transaction(30)
    assert rc.read(2)[-1] == (0, 5, "after")


def test_transaction_timeout_above_the_broker_maximum_is_refused(broker):
    p = Producer({"bootstrap.servers": broker, "transactional.id": uid("txn"),
                  "transaction.timeout.ms": 120000})
    with pytest.raises(KafkaException) as exc:
        p.init_transactions(30)
    assert exc.value.args[0].code() == KafkaError.INVALID_TRANSACTION_TIMEOUT, exc.value.args[0]
    # At the maximum it is accepted.
    txn_producer(broker, uid("txn"), **{"transaction.timeout.ms": 60000})
    # kafka-python: the same.
    from kafka import KafkaProducer
    from kafka.errors import KafkaError as KPError

    kp = KafkaProducer(bootstrap_servers=broker, transactional_id=uid("kp-txn"), transaction_timeout_ms=120000)
    try:
        # kafka-python wraps the response's error in a plain KafkaError.
        with pytest.raises(KPError, match="InvalidTransactionTimeoutError"):
            kp.init_transactions()
    finally:
        kp.close(timeout=5)


def test_transactions_survive_a_kill_and_restart(broker_proc, broker, create_topic, topic_name, readers):
    create_topic(topic_name)
    committer, aborter, opener = uid("commit"), uid("abort"), uid("open")
    pc = txn_producer(broker, committer)
    pc.begin_transaction()
    in_txn(pc, topic_name, ["c-0", "c-1"])  # 0..1
    pc.commit_transaction(30)  # 2
    pa = txn_producer(broker, aborter)
    pa.begin_transaction()
    in_txn(pa, topic_name, ["a-0", "a-1"])  # 3..4
    pa.abort_transaction(30)  # 5
    po = txn_producer(broker, opener)
    po.begin_transaction()
    in_txn(po, topic_name, ["o-0"])  # 6, left open
    plain_produce(broker, topic_name, ["p-0"])  # 7

    broker_proc.kill_restart()

    rc = readers(topic_name, "read_committed")
    assert rc.read(2) == [(0, 0, "c-0"), (0, 1, "c-1")]
    assert rc.watermarks() == (0, 6)  # still held by the open transaction
    assert read_once(readers, topic_name, "read_uncommitted", 6) == [
        (0, 0, "c-0"), (0, 1, "c-1"), (0, 3, "a-0"), (0, 4, "a-1"), (0, 6, "o-0"), (0, 7, "p-0")]

    # A new producer for the open transaction's id aborts it (marker 8).
    po2 = txn_producer(broker, opener)
    wait_for(lambda: rc.watermarks() == (0, 9), what="the open transaction's abort")
    assert rc.read(3)[2:] == [(0, 7, "p-0")]
    # And the other ids work after the restart.
    for tid, value in ((committer, "c-after"), (aborter, "a-after")):
        p = txn_producer(broker, tid)
        p.begin_transaction()
        in_txn(p, topic_name, [value])
        p.commit_transaction(30)
    po2.begin_transaction()
    in_txn(po2, topic_name, ["o-after"])
    po2.commit_transaction(30)
    assert rc.read(6)[3:] == [(0, 9, "c-after"), (0, 11, "a-after"), (0, 13, "o-after")]
    assert rc.watermarks() == (0, 15)


def test_describe_and_list_transactions(broker, create_topic, topic_name):
    from kafka import TopicPartition as KTP
    from kafka.admin import KafkaAdminClient, TransactionState
    from kafka.errors import TransactionalIdNotFoundError

    create_topic(topic_name, partitions=2)
    tid = uid("txn")
    admin = KafkaAdminClient(bootstrap_servers=broker)
    try:
        p = txn_producer(broker, tid, **{"transaction.timeout.ms": 30000})
        described = admin.describe_transactions([tid])[tid]
        assert described.state == TransactionState.EMPTY
        assert described.transaction_timeout_ms == 30000
        assert described.topic_partitions == set()
        pid, epoch = described.producer_id, described.producer_epoch
        assert pid >= 0 and epoch >= 0

        before = int(time.time() * 1000)
        p.begin_transaction()
        p.produce(topic_name, value=b"v", partition=0)
        p.produce(topic_name, value=b"v", partition=1)
        assert p.flush(20) == 0
        described = admin.describe_transactions([tid])[tid]
        assert described.state == TransactionState.ONGOING
        assert (described.producer_id, described.producer_epoch) == (pid, epoch)
        assert described.topic_partitions == {KTP(topic_name, 0), KTP(topic_name, 1)}
        assert before - 1000 <= described.transaction_start_time_ms <= int(time.time() * 1000) + 1000

        def listed(**filters):
            return {(t.transactional_id, t.producer_id, t.state)
                    for ts in admin.list_transactions(**filters).values() for t in ts}

        assert (tid, pid, TransactionState.ONGOING) in listed()
        assert (tid, pid, TransactionState.ONGOING) in listed(state_filters=["Ongoing"])
        assert all(state == TransactionState.ONGOING for _, _, state in listed(state_filters=["Ongoing"]))
        assert listed(producer_id_filters=[pid]) == {(tid, pid, TransactionState.ONGOING)}
        assert tid not in {t for t, _, _ in listed(state_filters=["CompleteCommit"])}

        p.commit_transaction(30)
        described = admin.describe_transactions([tid])[tid]
        assert described.state == TransactionState.COMPLETE_COMMIT
        assert described.topic_partitions == set()
        assert listed(producer_id_filters=[pid]) == {(tid, pid, TransactionState.COMPLETE_COMMIT)}
        assert tid in {t for t, _, _ in listed(state_filters=["CompleteCommit"])}

        with pytest.raises(TransactionalIdNotFoundError):
            admin.describe_transactions([uid("never-used")])
    finally:
        admin.close()


# --- kafka-python ------------------------------------------------------------

def kp_read(broker, topic, isolation, n, partitions=(0,), settle=0.5, timeout=20):
    """Reads exactly n records with a kafka-python consumer."""
    from kafka import KafkaConsumer
    from kafka import TopicPartition as KTP

    c = KafkaConsumer(bootstrap_servers=broker, isolation_level=isolation, enable_auto_commit=False,
                      auto_offset_reset="earliest", fetch_max_wait_ms=50)
    try:
        c.assign([KTP(topic, p) for p in partitions])
        c.seek_to_beginning()
        got = []
        deadline = time.monotonic() + timeout
        while len(got) < n and time.monotonic() < deadline:
            for _tp, msgs in c.poll(timeout_ms=100).items():
                got += [(m.partition, m.offset, m.value.decode()) for m in msgs]
        end = time.monotonic() + settle
        while time.monotonic() < end:
            for _tp, msgs in c.poll(timeout_ms=100).items():
                got += [(m.partition, m.offset, m.value.decode()) for m in msgs]
        assert len(got) == n, got
        return sorted(got)
    finally:
        c.close()


def kp_end_offset(broker, topic, isolation, partition=0):
    from kafka import KafkaConsumer
    from kafka import TopicPartition as KTP

    c = KafkaConsumer(bootstrap_servers=broker, isolation_level=isolation)
    try:
        return c.end_offsets([KTP(topic, partition)], timeout_ms=10000)[KTP(topic, partition)]
    finally:
        c.close()


def kp_txn_producer(broker, transactional_id, **conf):
    from kafka import KafkaProducer

    p = KafkaProducer(bootstrap_servers=broker, transactional_id=transactional_id, linger_ms=5, **conf)
    p.init_transactions()
    return p


def test_kafka_python_commit_and_abort(broker, create_topic, topic_name, readers):
    create_topic(topic_name)
    p = kp_txn_producer(broker, uid("kp-txn"))
    try:
        p.begin_transaction()
        for i in range(3):
            p.send(topic_name, value=f"c-{i}".encode(), partition=0)
        p.commit_transaction()  # 0..2, marker 3
        p.begin_transaction()
        for i in range(2):
            p.send(topic_name, value=f"x-{i}".encode(), partition=0)
        p.flush()
        p.abort_transaction()  # 4..5, marker 6
        p.begin_transaction()
        p.send(topic_name, value=b"open", partition=0)
        p.flush()  # 7, open
        assert kp_end_offset(broker, topic_name, "read_committed") == 7
        assert kp_end_offset(broker, topic_name, "read_uncommitted") == 8
        assert kp_read(broker, topic_name, "read_committed", 3) == [(0, 0, "c-0"), (0, 1, "c-1"), (0, 2, "c-2")]
        p.commit_transaction()  # marker 8
    finally:
        p.close()
    want = [(0, 0, "c-0"), (0, 1, "c-1"), (0, 2, "c-2"), (0, 7, "open")]
    assert kp_read(broker, topic_name, "read_committed", 4) == want
    assert read_once(readers, topic_name, "read_committed", 4) == want
    assert kp_read(broker, topic_name, "read_uncommitted", 6) == sorted(
        want + [(0, 4, "x-0"), (0, 5, "x-1")])
    assert kp_end_offset(broker, topic_name, "read_committed") == 9


def test_kafka_python_fencing(broker, create_topic, topic_name):
    from kafka.errors import InvalidProducerEpochError, KafkaError as KPError, ProducerFencedError

    create_topic(topic_name)
    tid = uid("kp-txn")
    p1 = kp_txn_producer(broker, tid)
    p1.begin_transaction()
    p1.send(topic_name, value=b"old", partition=0)
    p1.flush()  # 0
    p2 = kp_txn_producer(broker, tid)  # aborts p1's transaction: marker 1
    try:
        p2.begin_transaction()
        p2.send(topic_name, value=b"new", partition=0)
        p2.commit_transaction()  # 2, marker 3
        with pytest.raises(KPError) as exc:
            p1.commit_transaction()
        assert isinstance(exc.value, (ProducerFencedError, InvalidProducerEpochError)), repr(exc.value)
    finally:
        p1.close(timeout=5)
        p2.close()
    assert kp_read(broker, topic_name, "read_committed", 1) == [(0, 2, "new")]
    assert kp_end_offset(broker, topic_name, "read_committed") == 4


def test_kafka_python_send_offsets_to_transaction(broker, create_topic):
    from kafka import KafkaConsumer, OffsetAndMetadata
    from kafka import TopicPartition as KTP

    src, dst = create_topic(uid("kp-ctp-in")), create_topic(uid("kp-ctp-out"))
    group = uid("kp-ctp-group")
    plain_produce(broker, src, [f"in-{i}" for i in range(10)])
    c = KafkaConsumer(src, bootstrap_servers=broker, group_id=group, enable_auto_commit=False,
                      auto_offset_reset="earliest", isolation_level="read_committed", fetch_max_wait_ms=50,
                      max_poll_records=6)
    p = kp_txn_producer(broker, uid("kp-ctp-txn"))
    tp = KTP(src, 0)
    try:
        def consume(n):
            got = []
            deadline = time.monotonic() + 30
            while len(got) < n and time.monotonic() < deadline:
                for _tp, msgs in c.poll(timeout_ms=100, max_records=n - len(got)).items():
                    got += [m.value.decode() for m in msgs]
            assert len(got) == n, got
            return got

        first = consume(6)
        assert first == [f"in-{i}" for i in range(6)] and c.position(tp) == 6
        p.begin_transaction()
        for v in first:
            p.send(dst, value=v.replace("in-", "out-").encode(), partition=0)
        p.send_offsets_to_transaction({tp: OffsetAndMetadata(6, "", -1)}, c.group_metadata())
        p.commit_transaction()
        assert c.committed(tp) == 6

        second = consume(4)
        assert second == [f"in-{i}" for i in range(6, 10)]
        p.begin_transaction()
        for v in second:
            p.send(dst, value=v.replace("in-", "out-").encode(), partition=0)
        p.send_offsets_to_transaction({tp: OffsetAndMetadata(10, "", -1)}, c.group_metadata())
        p.flush()
        p.abort_transaction()
        assert c.committed(tp) == 6
    finally:
        p.close()
        c.close()
    assert committed_offsets(broker, group, src, (0,)) == {0: 6}
    assert [v for _, _, v in kp_read(broker, dst, "read_committed", 6)] == [f"out-{i}" for i in range(6)]
