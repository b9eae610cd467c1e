"""kafka-python's KafkaConsumer in groups: subscribe, commit sync and
async, resume from committed offsets, rebalances when members join and
leave, cooperative-sticky, and static membership (group_instance_id,
KIP-345: restarts without a rebalance, a duplicate instance is fenced).
Every test uses its own group; records are checked exactly.
Process kills and pauses are in test_groups_faults.py."""

import concurrent.futures
import queue
import threading
import time

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.consumer.subscription_state import ConsumerRebalanceListener
from kafka.coordinator.assignors.cooperative_sticky import CooperativeStickyAssignor
from kafka.coordinator.assignors.range import RangePartitionAssignor

BROKER_SETTINGS = ["group.initial.rebalance.delay.ms=0", "group.min.session.timeout.ms=1000"]
ALL = {0, 1, 2, 3}


def produce(broker, topic, counts, start=0, tag="v"):
    """counts: {partition: n}; values are "tag-partition-i" for i in start..start+n."""
    p = KafkaProducer(bootstrap_servers=broker, linger_ms=5)
    try:
        futures = [p.send(topic, value=f"{tag}-{partition}-{i}".encode(), partition=partition)
                   for partition, n in counts.items() for i in range(start, start + n)]
        p.flush(20)
        for f in futures:
            f.get(timeout=10)
    finally:
        p.close()


def wait_for_topic_metadata(consumer, topic, timeout=10):
    """Waits (the client's I/O runs in its own thread) until the consumer's
    group coordinator knows the topic's partitions. kafka-python 3.0 may
    otherwise join before its first metadata answer, assign nothing, and
    lose the rejoin that the metadata then asks for when that join completes
    between two polls: the member stays with no partitions."""
    deadline = time.monotonic() + timeout
    while not consumer._coordinator._metadata_snapshot.get(topic) and time.monotonic() < deadline:
        time.sleep(0.02)


class Member(ConsumerRebalanceListener):
    """A subscribed KafkaConsumer polled by its own thread, as applications
    do, with its rebalance callbacks and records kept. (Polling several
    consumers in turn from one thread with short timeouts makes kafka-python
    3.0 redo a join that completed between two of its polls, and the group
    rebalances over and over.) Other calls go through that thread: call()."""

    def __init__(self, broker, group, topic, **conf):
        self.topic = topic
        self.events = []  # ("assign" | "revoke" | "lost", [partitions]), empty ones left out
        self.callbacks = 0
        self.records = []  # (partition, offset, value)
        self.assignment = set()
        self.errors = []
        config = dict(bootstrap_servers=broker, group_id=group, auto_offset_reset="earliest",
                      enable_auto_commit=False, session_timeout_ms=6000, heartbeat_interval_ms=300,
                      fetch_max_wait_ms=100, request_timeout_ms=15000)
        config.update(conf)
        self.cooperative = CooperativeStickyAssignor in config.get("partition_assignment_strategy", ())
        self.c = KafkaConsumer(**config)
        self.c.subscribe([topic], listener=self)
        wait_for_topic_metadata(self.c, topic)
        self.calls = queue.Queue()
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.stopping.is_set():
            try:
                while not self.calls.empty():
                    f, done = self.calls.get()
                    try:
                        done.set_result(f(self.c))
                    except Exception as e:
                        done.set_exception(e)
                for records in self.c.poll(timeout_ms=100).values():
                    self.records.extend((r.partition, r.offset, r.value.decode()) for r in records)
            except Exception as e:
                self.errors.append(e)
                time.sleep(0.1)

    def call(self, f, timeout=20):
        """f(consumer) run by the polling thread; returns its result."""
        done = concurrent.futures.Future()
        self.calls.put((f, done))
        return done.result(timeout=timeout)

    def _event(self, kind, partitions):
        self.callbacks += 1
        ps = sorted(tp.partition for tp in partitions)
        if ps:
            self.events.append((kind, ps))
        return set(ps)

    def on_partitions_assigned(self, assigned):
        ps = self._event("assign", assigned)
        self.assignment = self.assignment | ps if self.cooperative else ps

    def on_partitions_revoked(self, revoked):
        self.assignment = self.assignment - self._event("revoke", revoked)

    def on_partitions_lost(self, lost):
        self.assignment = self.assignment - self._event("lost", lost)

    def generation(self):
        """(generation id, member id) as the client holds them."""
        return self.call(lambda c: (c._coordinator._generation.generation_id, c._coordinator._generation.member_id))

    def close(self):
        if not self.stopping.is_set():
            self.stopping.set()
            self.thread.join(timeout=10)
            self.c.close()
            self.assignment = set()


@pytest.fixture
def members():
    """new(broker, group, topic, **conf) -> Member; all are closed at the end."""
    made = []

    def new(*args, **conf):
        m = Member(*args, **conf)
        made.append(m)
        return m

    yield new
    for m in made:
        m.close()


def pump(members, until, timeout=30, what="condition"):
    """Waits until until() holds (the members poll on their own)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if until():
            return
        time.sleep(0.02)
    state = [(sorted(m.assignment), m.events, len(m.records), m.errors) for m in members]
    raise AssertionError(f"timed out waiting for {what}: {state}")


def settle(members, seconds):
    time.sleep(seconds)


def split(a, b):
    return lambda: a.assignment and b.assignment and not a.assignment & b.assignment and a.assignment | b.assignment == ALL


@pytest.fixture
def admin(broker):
    a = KafkaAdminClient(bootstrap_servers=broker, request_timeout_ms=15000)
    yield a
    a.close()


def committed(admin, group, topic):
    return {tp.partition: meta.offset for tp, meta in admin.list_group_offsets({group: None})[group].items()
            if tp.topic == topic}


def describe(admin, group):
    """(state, protocol, {instance id or member id: member id})."""
    d = admin.describe_groups([group])[group]
    assert d["error"] is None, d
    members = {m["group_instance_id"] or m["member_id"]: m["member_id"] for m in d["members"]}
    return d["group_state"], d["protocol_data"], members


def test_commit_sync_and_async_then_resume(broker, create_topic, topic_name, members, admin):
    from kafka.structs import OffsetAndMetadata
    create_topic(topic_name, partitions=2)
    produce(broker, topic_name, {0: 20, 1: 20})
    group = f"g-{topic_name}"
    a = members(broker, group, topic_name)
    pump([a], lambda: len(a.records) == 40, what="40 records")
    assert sorted(a.records) == sorted((p, i, f"v-{p}-{i}") for p in (0, 1) for i in range(20))
    tp0, tp1 = TopicPartition(topic_name, 0), TopicPartition(topic_name, 1)

    # Synchronous commit of explicit offsets.
    a.call(lambda c: c.commit({tp0: OffsetAndMetadata(7, "seven", -1), tp1: OffsetAndMetadata(9, "", -1)}))
    assert a.call(lambda c: (c.committed(tp0), c.committed(tp1))) == (7, 9)
    assert a.call(lambda c: c.committed(tp0, metadata=True)).metadata == "seven"
    assert committed(admin, group, topic_name) == {0: 7, 1: 9}

    # Asynchronous commit of the positions; the callback reports success.
    results = []
    a.call(lambda c: c.commit_async(callback=lambda offsets, response: results.append((offsets, response))))
    pump([a], lambda: results, what="async commit callback")
    offsets, response = results[0]
    assert not isinstance(response, Exception), response
    assert {tp.partition: o.offset for tp, o in offsets.items()} == {0: 20, 1: 20}
    assert committed(admin, group, topic_name) == {0: 20, 1: 20}
    a.close()

    # A new member of the group resumes from the committed offsets.
    produce(broker, topic_name, {0: 5, 1: 5}, start=20)
    b = members(broker, group, topic_name)
    pump([b], lambda: len(b.records) >= 10, what="the new records")
    settle([b], 1)
    assert sorted(b.records) == sorted((p, i, f"v-{p}-{i}") for p in (0, 1) for i in range(20, 25))
    b.call(lambda c: c.commit())
    assert committed(admin, group, topic_name) == {0: 25, 1: 25}


@pytest.mark.parametrize("assignor", [RangePartitionAssignor, CooperativeStickyAssignor])
def test_second_member_splits_partitions_and_leaving_hands_them_back(broker, create_topic, topic_name, members,
                                                                   admin, assignor):
    create_topic(topic_name, partitions=4)
    group = f"g-{topic_name}"
    conf = {"partition_assignment_strategy": [assignor]}
    a = members(broker, group, topic_name, **conf)
    pump([a], lambda: a.assignment == ALL, what="a owns everything")
    b = members(broker, group, topic_name, **conf)
    pump([a, b], split(a, b), what="a and b split the partitions")
    assert len(a.assignment) == len(b.assignment) == 2
    if assignor is CooperativeStickyAssignor:
        assert a.events == [("assign", [0, 1, 2, 3]), ("revoke", sorted(b.assignment))]
    else:
        assert a.events == [("assign", [0, 1, 2, 3]), ("revoke", [0, 1, 2, 3]), ("assign", sorted(a.assignment))]
    assert b.events == [("assign", sorted(b.assignment))]
    state, protocol, ids = describe(admin, group)
    assert (state, protocol, len(ids)) == ("Stable", assignor.name, 2)

    produce(broker, topic_name, {p: 10 for p in ALL})
    pump([a, b], lambda: len(a.records) + len(b.records) >= 40, what="40 records")
    settle([a, b], 0.5)
    for m in (a, b):
        assert {p for p, _, _ in m.records} == m.assignment
    assert sorted(a.records + b.records) == sorted((p, i, f"v-{p}-{i}") for p in ALL for i in range(10))

    # b commits and leaves: a takes its partitions over and goes on from
    # b's committed offsets, well before b's session would have expired.
    a.call(lambda c: c.commit())
    b.call(lambda c: c.commit())
    t0 = time.monotonic()
    b.close()
    pump([a], lambda: a.assignment == ALL, timeout=20, what="a gets b's partitions")
    assert time.monotonic() - t0 < 5
    n = len(a.records)
    produce(broker, topic_name, {p: 3 for p in ALL}, start=10)
    pump([a], lambda: len(a.records) >= n + 12, what="12 new records")
    settle([a], 0.5)
    assert sorted(a.records[n:]) == sorted((p, i, f"v-{p}-{i}") for p in ALL for i in range(10, 13))
    assert describe(admin, group)[2] == {a.generation()[1]: a.generation()[1]}
    assert a.errors == [] and b.errors == []


def test_static_member_restart_without_rebalance(broker, create_topic, topic_name, members, admin):
    create_topic(topic_name, partitions=4)
    group = f"g-{topic_name}"
    a = members(broker, group, topic_name, group_instance_id="kp-a")
    pump([a], lambda: a.assignment == ALL, what="a owns everything")
    b = members(broker, group, topic_name, group_instance_id="kp-b")
    pump([a, b], split(a, b), what="a and b split the partitions")
    a_parts, b_parts = a.assignment, b.assignment
    generation, b_id = b.generation()
    a_state = (list(a.events), a.callbacks, a.generation())
    assert a_state[2][0] == generation

    # A static member sends no LeaveGroup when it closes; its restart gets
    # the same partitions back in the same generation, and a sees nothing.
    b.close()
    b2 = members(broker, group, topic_name, group_instance_id="kp-b")
    pump([a, b2], lambda: b2.assignment, what="the restarted member's assignment")
    settle([a, b2], 2)
    assert b2.assignment == b_parts
    assert b2.generation()[0] == generation and b2.generation()[1] != b_id
    assert (a.events, a.callbacks, a.generation()) == a_state
    assert describe(admin, group) == ("Stable", "range", {"kp-a": a.generation()[1], "kp-b": b2.generation()[1]})

    # The leader restarts, likewise.
    b2_state = (list(b2.events), b2.callbacks, b2.generation())
    a.close()
    a2 = members(broker, group, topic_name, group_instance_id="kp-a")
    pump([a2, b2], lambda: a2.assignment, what="the restarted leader's assignment")
    settle([a2, b2], 2)
    assert a2.assignment == a_parts and a2.generation()[0] == generation
    assert (b2.events, b2.callbacks, b2.generation()) == b2_state
    assert describe(admin, group) == ("Stable", "range", {"kp-a": a2.generation()[1], "kp-b": b2.generation()[1]})
    produce(broker, topic_name, {p: 4 for p in ALL})
    pump([a2, b2], lambda: len(a2.records) + len(b2.records) >= 16, what="records after the restarts")
    assert {p for p, _, _ in a2.records} == a_parts and {p for p, _, _ in b2.records} == b_parts
    assert a.errors == b.errors == a2.errors == b2.errors == []


def test_duplicate_static_instance_is_fenced(broker, create_topic, topic_name, members, admin):
    from kafka.errors import FencedInstanceIdError
    from kafka.structs import OffsetAndMetadata
    create_topic(topic_name, partitions=4)
    group = f"g-{topic_name}"
    a = members(broker, group, topic_name, group_instance_id="kp-twin")
    pump([a], lambda: a.assignment == ALL, what="a owns everything")
    generation, a_id = a.generation()
    # A second consumer with the same group_instance_id takes the identity
    # (and the assignment) over without a rebalance; the older one is fenced.
    twin = members(broker, group, topic_name, group_instance_id="kp-twin")
    pump([twin], lambda: twin.assignment == ALL, what="the twin takes over")
    assert twin.generation() != (generation, a_id) and twin.generation()[0] == generation
    with pytest.raises(FencedInstanceIdError):
        a.call(lambda c: c.commit({TopicPartition(topic_name, 0): OffsetAndMetadata(0, "", -1)}))
    assert describe(admin, group) == ("Stable", "range", {"kp-twin": twin.generation()[1]})
    produce(broker, topic_name, {p: 2 for p in ALL})
    pump([twin], lambda: len(twin.records) >= 8, what="the twin consumes")
    assert sorted(twin.records) == sorted((p, i, f"v-{p}-{i}") for p in ALL for i in range(2))
    assert twin.errors == []
