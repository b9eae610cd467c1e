"""confluent-kafka (librdkafka) consumers in groups: subscribe, commit sync and
async, resume from committed offsets, rebalances when members join and
leave, cooperative-sticky assignment (KIP-429) and static membership
(KIP-345). Every test uses its own group; records are checked exactly.
Process kills and pauses are in test_groups_faults.py."""

import time

import pytest
from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import AdminClient

BROKER_SETTINGS = ["group.initial.rebalance.delay.ms=0", "group.min.session.timeout.ms=1000"]
ALL = {0, 1, 2, 3}


def produce(broker, topic, counts, start=0, tag="v"):
    """counts: {partition: n}; values are "tag-partition-i" for i in start..start+n."""
    p = Producer({"bootstrap.servers": broker, "linger.ms": 5})
    for partition, n in counts.items():
        for i in range(start, start + n):
            p.produce(topic, value=f"{tag}-{partition}-{i}".encode(), partition=partition)
    assert p.flush(20) == 0


class Member:
    """A subscribed consumer whose rebalance callbacks and records are kept."""

    def __init__(self, broker, group, topic, **conf):
        self.events = []  # ("assign" | "revoke" | "lost", [partitions]), empty ones left out
        self.callbacks = []  # every rebalance callback, empty ones included
        self.assignment = set()
        self.records = []  # (partition, offset, value)
        self.errors = []
        self.commits = []  # on_commit: (error, [(partition, offset)])
        config = {"bootstrap.servers": broker, "group.id": group, "auto.offset.reset": "earliest",
                  "enable.auto.commit": False, "session.timeout.ms": 6000, "heartbeat.interval.ms": 300,
                  "fetch.wait.max.ms": 50, "on_commit": self._on_commit}
        config.update(conf)
        self.cooperative = config.get("partition.assignment.strategy") == "cooperative-sticky"
        self.c = Consumer(config)
        self.c.subscribe([topic], on_assign=self._on_assign, on_revoke=self._on_revoke, on_lost=self._on_lost)
        self.closed = False

    def _event(self, kind, partitions):
        ps = sorted(p.partition for p in partitions)
        self.callbacks.append((kind, ps))
        if ps:
            self.events.append((kind, ps))
        return set(ps)

    def _on_assign(self, _c, partitions):
        ps = self._event("assign", partitions)
        self.assignment = self.assignment | ps if self.cooperative else ps

    def _on_revoke(self, _c, partitions):
        self.assignment -= self._event("revoke", partitions)

    def _on_lost(self, _c, partitions):
        self.assignment -= self._event("lost", partitions)

    def _on_commit(self, err, partitions):
        self.commits.append((err, sorted((p.partition, p.offset) for p in partitions)))

    def poll(self, timeout=0.05):
        if self.closed:
            return
        m = self.c.poll(timeout)
        if m is None:
            return
        if m.error():
            self.errors.append(m.error())
            return
        self.records.append((m.partition(), m.offset(), m.value().decode()))

    def close(self):
        if not self.closed:
            self.closed = True
            self.c.close()


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
    """Polls every member in turn until until() holds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for m in members:
            m.poll(0.05)
        if until():
            return
    state = [(sorted(m.assignment), m.events, len(m.records), m.errors) for m in members]
    raise AssertionError(f"timed out waiting for {what}: {state}")


def settle(members, seconds):
    """Keeps polling for a while (so a pending rebalance would show)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for m in members:
            m.poll(0.05)


def split(a, b):
    return lambda: a.assignment and b.assignment and not a.assignment & b.assignment and a.assignment | b.assignment == ALL


def committed(broker, group, topic, partitions):
    admin = AdminClient({"bootstrap.servers": broker})
    from confluent_kafka import ConsumerGroupTopicPartitions
    f = admin.list_consumer_group_offsets(
        [ConsumerGroupTopicPartitions(group, [TopicPartition(topic, p) for p in partitions])])
    result = f[group].result(timeout=15)
    return {tp.partition: tp.offset for tp in result.topic_partitions}


def describe(broker, group):
    admin = AdminClient({"bootstrap.servers": broker})
    return admin.describe_consumer_groups([group])[group].result(timeout=15)


def assignments(description):
    """{group.instance.id or member id: (member id, sorted partitions)}."""
    return {(m.group_instance_id or m.member_id): (m.member_id, sorted(tp.partition for tp in m.assignment.topic_partitions))
            for m in description.members}


def test_commit_sync_and_async_then_resume(broker, create_topic, topic_name, members):
    create_topic(topic_name, partitions=2)
    produce(broker, topic_name, {0: 20, 1: 20})
    group = f"g-{topic_name}"
    a = members(broker, group, topic_name)
    pump([a], lambda: len(a.records) == 40, what="40 records")
    assert sorted(a.records) == sorted((p, i, f"v-{p}-{i}") for p in (0, 1) for i in range(20))
    assert a.assignment == {0, 1}

    # A synchronous commit of explicit offsets.
    done = a.c.commit(offsets=[TopicPartition(topic_name, 0, 7), TopicPartition(topic_name, 1, 9)],
                      asynchronous=False)
    assert sorted((tp.partition, tp.offset, tp.error) for tp in done) == [(0, 7, None), (1, 9, None)]
    got = a.c.committed([TopicPartition(topic_name, 0), TopicPartition(topic_name, 1)], timeout=10)
    assert [(tp.partition, tp.offset) for tp in got] == [(0, 7), (1, 9)]
    assert committed(broker, group, topic_name, [0, 1]) == {0: 7, 1: 9}

    # An asynchronous commit of the current positions; the callback reports it.
    a.c.commit(asynchronous=True)
    pump([a], lambda: any(parts == [(0, 20), (1, 20)] for _, parts in a.commits), what="async commit callback")
    assert all(err is None for err, _ in a.commits), a.commits
    assert committed(broker, group, topic_name, [0, 1]) == {0: 20, 1: 20}
    assert a.errors == []
    a.close()

    # A new consumer of the group resumes where the commits left off.
    produce(broker, topic_name, {0: 5, 1: 5}, start=20)
    b = members(broker, group, topic_name)
    pump([b], lambda: len(b.records) >= 10, what="the new records")
    settle([b], 1)
    assert sorted(b.records) == sorted((p, i, f"v-{p}-{i}") for p in (0, 1) for i in range(20, 25))
    # Committing a message commits the offset after it.
    last = max(b.records)
    msg_offsets = [TopicPartition(topic_name, last[0], last[1] + 1)]
    assert b.c.commit(offsets=msg_offsets, asynchronous=False)[0].error is None
    assert committed(broker, group, topic_name, [0, 1])[last[0]] == 25


def test_second_member_splits_partitions_and_leaving_hands_them_back(broker, create_topic, topic_name, members):
    create_topic(topic_name, partitions=4)
    group = f"g-{topic_name}"
    a = members(broker, group, topic_name)
    pump([a], lambda: a.assignment == ALL, what="a owns everything")
    b = members(broker, group, topic_name)
    pump([a, b], split(a, b), what="a and b split the partitions")
    assert len(a.assignment) == len(b.assignment) == 2
    # Eager protocol: a gave up everything, then got its half.
    assert a.events == [("assign", [0, 1, 2, 3]), ("revoke", [0, 1, 2, 3]), ("assign", sorted(a.assignment))]
    assert b.events == [("assign", sorted(b.assignment))]
    d = describe(broker, group)
    assert d.state.name == "STABLE" and len(d.members) == 2
    assert sorted(p for _, ps in assignments(d).values() for p in ps) == [0, 1, 2, 3]

    produce(broker, topic_name, {p: 10 for p in ALL})
    pump([a, b], lambda: len(a.records) + len(b.records) >= 40, what="40 records")
    settle([a, b], 0.5)
    for m in (a, b):
        assert {p for p, _, _ in m.records} == m.assignment
    assert sorted(a.records + b.records) == sorted((p, i, f"v-{p}-{i}") for p in ALL for i in range(10))

    # b commits and leaves (LeaveGroup): a gets everything back well before
    # b's session would have expired.
    assert all(tp.error is None for tp in b.c.commit(asynchronous=False))
    a.c.commit(asynchronous=False)
    before, kept = len(a.events), sorted(a.assignment)
    t0 = time.monotonic()
    b.close()
    pump([a], lambda: a.assignment == ALL, timeout=20, what="a gets b's partitions")
    assert time.monotonic() - t0 < 5
    assert a.events[before:] == [("revoke", kept), ("assign", [0, 1, 2, 3])]
    d = describe(broker, group)
    assert len(d.members) == 1 and assignments(d)[a.c.memberid()][1] == [0, 1, 2, 3]

    # a continues from b's committed offsets: only new records.
    produce(broker, topic_name, {p: 3 for p in ALL}, start=10)
    n = len(a.records)
    pump([a], lambda: len(a.records) >= n + 12, what="12 new records")
    settle([a], 0.5)
    assert sorted(a.records[n:]) == sorted((p, i, f"v-{p}-{i}") for p in ALL for i in range(10, 13))
    assert a.errors == [] and b.errors == []


def test_cooperative_sticky_moves_only_what_it_must(broker, create_topic, topic_name, members):
    create_topic(topic_name, partitions=4)
    group = f"g-{topic_name}"
    coop = {"partition.assignment.strategy": "cooperative-sticky"}
    a = members(broker, group, topic_name, **coop)
    pump([a], lambda: a.assignment == ALL, what="a owns everything")
    produce(broker, topic_name, {p: 5 for p in ALL})
    pump([a], lambda: len(a.records) == 20, what="first records")
    a.c.commit(asynchronous=False)

    b = members(broker, group, topic_name, **coop)
    pump([a, b], split(a, b), what="a and b split the partitions")
    assert len(a.assignment) == len(b.assignment) == 2
    # Incremental: a revoked only what b got, and was never unassigned.
    assert a.events == [("assign", [0, 1, 2, 3]), ("revoke", sorted(b.assignment))]
    assert b.events == [("assign", sorted(b.assignment))]
    d = describe(broker, group)
    assert d.partition_assignor == "cooperative-sticky"
    assert d.state.name == "STABLE"

    produce(broker, topic_name, {p: 5 for p in ALL}, start=5)
    pump([a, b], lambda: len(a.records) + len(b.records) >= 40, what="second records")
    settle([a, b], 0.5)
    later = a.records[20:] + b.records
    assert sorted(later) == sorted((p, i, f"v-{p}-{i}") for p in ALL for i in range(5, 10))
    assert {p for p, _, _ in b.records} == b.assignment

    # b leaves: a only gains b's partitions, nothing is revoked from it.
    b.c.commit(asynchronous=False)
    moved = sorted(b.assignment)
    before = len(a.events)
    b.close()
    pump([a], lambda: a.assignment == ALL, timeout=20, what="a gets b's partitions back")
    assert a.events[before:] == [("assign", moved)]
    assert a.errors == [] and b.errors == []


@pytest.mark.parametrize("strategy", ["range", "cooperative-sticky"])
def test_static_members_restart_without_rebalance(broker, create_topic, topic_name, members, strategy):
    """With cooperative-sticky the restarted member's subscription differs
    (it owns nothing yet); the selected protocol does not change, so there
    is still no rebalance."""
    create_topic(topic_name, partitions=4)
    group = f"g-{topic_name}"
    conf = {"partition.assignment.strategy": strategy}
    a = members(broker, group, topic_name, **{"group.instance.id": "instance-a"}, **conf)
    pump([a], lambda: a.assignment == ALL, what="a owns everything")
    b = members(broker, group, topic_name, **{"group.instance.id": "instance-b"}, **conf)
    pump([a, b], split(a, b), what="a and b split the partitions")
    settle([a, b], 1)  # a cooperative rebalance ends with (empty) callbacks after the split
    d = describe(broker, group)
    assert d.state.name == "STABLE"
    assert sorted(assignments(d)) == ["instance-a", "instance-b"]
    a_id, a_parts = assignments(d)["instance-a"]
    b_id, b_parts = assignments(d)["instance-b"]
    assert a_id == a.c.memberid() and b_id == b.c.memberid()

    # The follower restarts. A static member sends no LeaveGroup on close;
    # its replacement gets the same partitions back and a sees no rebalance.
    a_events, a_callbacks = list(a.events), list(a.callbacks)
    b.close()
    settle([a], 1)
    assert len(describe(broker, group).members) == 2
    b2 = members(broker, group, topic_name, **{"group.instance.id": "instance-b"}, **conf)
    pump([a, b2], lambda: b2.assignment, what="the restarted member's assignment")
    settle([a, b2], 2)
    assert sorted(b2.assignment) == b_parts and b2.events == [("assign", b_parts)]
    assert (a.events, a.callbacks) == (a_events, a_callbacks)
    d = describe(broker, group)
    assert d.state.name == "STABLE"
    assert assignments(d) == {"instance-a": (a_id, a_parts), "instance-b": (b2.c.memberid(), b_parts)}
    assert b2.c.memberid() != b_id

    # The leader restarts, likewise.
    b2_events, b2_callbacks = list(b2.events), list(b2.callbacks)
    a.close()
    a2 = members(broker, group, topic_name, **{"group.instance.id": "instance-a"}, **conf)
    pump([a2, b2], lambda: a2.assignment, what="the restarted leader's assignment")
    settle([a2, b2], 2)
    assert sorted(a2.assignment) == a_parts and a2.events == [("assign", a_parts)]
    assert (b2.events, b2.callbacks) == (b2_events, b2_callbacks)
    d = describe(broker, group)
    assert assignments(d) == {"instance-a": (a2.c.memberid(), a_parts), "instance-b": (b2.c.memberid(), b_parts)}

    # Both keep consuming their own partitions.
    produce(broker, topic_name, {p: 4 for p in ALL})
    pump([a2, b2], lambda: len(a2.records) + len(b2.records) >= 16, what="records after the restarts")
    assert {p for p, _, _ in a2.records} == set(a_parts) and {p for p, _, _ in b2.records} == set(b_parts)
    assert a2.errors == [] and b2.errors == []


def test_duplicate_static_instance_is_fenced(broker, create_topic, topic_name, members):
    create_topic(topic_name, partitions=4)
    group = f"g-{topic_name}"
    a = members(broker, group, topic_name, **{"group.instance.id": "twin"})
    pump([a], lambda: a.assignment == ALL, what="a owns everything")
    # A second process with the same group.instance.id takes the identity
    # over; the older one is fenced (fatal FENCED_INSTANCE_ID).
    twin = members(broker, group, topic_name, **{"group.instance.id": "twin"})
    pump([a, twin], lambda: twin.assignment == ALL and a.errors, timeout=20,
         what="the twin takes over and a is fenced")
    fatal = a.errors[0]
    assert fatal.code() == KafkaError._FATAL and "fenced" in fatal.str(), fatal
    assert all(e.code() == KafkaError._FATAL for e in a.errors), a.errors
    assert a.c.memberid() != twin.c.memberid()
    d = describe(broker, group)
    assert assignments(d) == {"twin": (twin.c.memberid(), [0, 1, 2, 3])}
    produce(broker, topic_name, {p: 2 for p in ALL})
    pump([twin], lambda: len(twin.records) >= 8, what="the twin consumes")
    assert twin.errors == []
