"""confluent-kafka (librdkafka) consumers with the KIP-848 consumer group
protocol (`group.protocol=consumer`): membership by ConsumerGroupHeartbeat
(API 68), partitions assigned by the broker's "uniform" and "range"
assignors, incremental revocation when members join and leave, commits and
resuming from them, several topics in one subscription, and an unknown
assignor refused. Every test uses its own topic and group; records are
checked exactly.

librdkafka needs ConsumerGroupHeartbeat v1 exactly (it asks for versions
1..1): a broker without it is only noticed in librdkafka's debug log
("ConsumerGroupHeartbeatRequest not supported by broker") while the
consumer keeps looking for a coordinator and never gets an assignment, so
every test first checks the broker's ApiVersions and fails with that
reason instead of a timeout.

With this protocol librdkafka refuses session.timeout.ms,
heartbeat.interval.ms and partition.assignment.strategy (the broker owns
them); group.remote.assignor names the server-side assignor. The broker's
default heartbeat interval is 5 s, so a rebalance that needs a member to
hear of it on its next heartbeat takes a few seconds: the bounds below
allow for that."""

import os
import socket
import struct
import subprocess
import time
from pathlib import Path

import pytest
from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import AdminClient

KAFKA_SH = Path(__file__).resolve().parents[2] / "tests" / "reference" / "kafka" / "kafka.sh"

CONSUMER_GROUP_HEARTBEAT = 68
# librdkafka sends only this version (rd_kafka_ConsumerGroupHeartbeatRequest).
LIBRDKAFKA_HEARTBEAT_VERSION = 1
# How long a rebalance may take: a few of the broker's 5 s heartbeats.
REBALANCE_TIMEOUT = 30


def api_versions(bootstrap):
    """{api key: (min version, max version)} from an ApiVersions v0 request."""
    host, port = bootstrap.rsplit(":", 1)
    client_id = b"consumer-protocol-test"
    body = struct.pack(">hhih", 18, 0, 1, len(client_id)) + client_id
    with socket.create_connection((host, int(port)), timeout=10) as s:
        s.sendall(struct.pack(">i", len(body)) + body)

        def read(n):
            data = b""
            while len(data) < n:
                chunk = s.recv(n - len(data))
                if not chunk:
                    raise AssertionError(f"ApiVersions: connection closed after {len(data)} of {n} bytes")
                data += chunk
            return data

        (size,) = struct.unpack(">i", read(4))
        resp = read(size)
    correlation, error, count = struct.unpack_from(">ihi", resp, 0)
    assert correlation == 1 and error == 0, f"ApiVersions: correlation {correlation}, error {error}"
    versions = {}
    for i in range(count):
        key, lo, hi = struct.unpack_from(">hhh", resp, 10 + 6 * i)
        versions[key] = (lo, hi)
    return versions


def require_consumer_protocol(broker):
    """Fails the test, with the reason, when the broker does not advertise
    the ConsumerGroupHeartbeat version librdkafka sends."""
    got = api_versions(broker).get(CONSUMER_GROUP_HEARTBEAT)
    v = LIBRDKAFKA_HEARTBEAT_VERSION
    assert got is not None and got[0] <= v <= got[1], (
        f"the broker does not support the KIP-848 consumer group protocol: it advertises "
        f"ConsumerGroupHeartbeat (API {CONSUMER_GROUP_HEARTBEAT}) "
        f"{'not at all' if got is None else f'versions {got[0]}-{got[1]}'}; "
        f"librdkafka's group.protocol=consumer needs version {v}")


def produce(broker, topic, counts, start=0, tag="v"):
    """counts: {partition: n}; values are "tag-partition-i" for i in start..start+n."""
    p = Producer({"bootstrap.servers": broker, "linger.ms": 5})
    for partition, n in counts.items():
        for i in range(start, start + n):
            p.produce(topic, value=f"{tag}-{partition}-{i}".encode(), partition=partition)
    assert p.flush(20) == 0


def expected(topic_counts, start=0, tag="v"):
    """The (topic, partition, value) triples produce() wrote, sorted."""
    return sorted((t, p, f"{tag}-{p}-{i}") for t, counts in topic_counts.items()
                  for p, n in counts.items() for i in range(start, start + n))


class Member:
    """A consumer of the consumer group protocol, subscribed to `topics`,
    whose rebalance callbacks, records and errors are kept."""

    def __init__(self, broker, group, topics, **conf):
        self.events = []  # ("assign" | "revoke" | "lost", [(topic, partition)]), empty ones left out
        self.records = []  # (topic, partition, offset, value)
        self.errors = []  # errors poll() returned
        self.error_cb = []  # errors the error callback got (transient ones included)
        config = {"bootstrap.servers": broker, "group.id": group, "group.protocol": "consumer",
                  "auto.offset.reset": "earliest", "enable.auto.commit": False,
                  "fetch.wait.max.ms": 50, "error_cb": self.error_cb.append}
        config.update(conf)
        self.c = Consumer(config)
        # librdkafka makes up the member id itself (KIP-1082) before it joins.
        self.initial_member_id = self.c.memberid()
        self.c.subscribe(list(topics), on_assign=self._on_assign, on_revoke=self._on_revoke,
                         on_lost=self._on_lost)
        self.closed = False

    def _event(self, kind, partitions):
        tps = sorted((p.topic, p.partition) for p in partitions)
        if tps:
            self.events.append((kind, tps))

    # With this protocol the callbacks are incremental (as cooperative-sticky's).
    def _on_assign(self, _c, partitions):
        self._event("assign", partitions)

    def _on_revoke(self, _c, partitions):
        self._event("revoke", partitions)

    def _on_lost(self, _c, partitions):
        self._event("lost", partitions)

    @property
    def assignment(self):
        """The partition numbers consumer.assignment() holds now."""
        if self.closed:
            return set()
        return {tp.partition for tp in self.c.assignment()}

    def topic_assignment(self):
        return set() if self.closed else {(tp.topic, tp.partition) for tp in self.c.assignment()}

    def poll(self, timeout=0.05):
        if self.closed:
            return
        m = self.c.poll(timeout)
        if m is None:
            return
        if m.error():
            self.errors.append(m.error())
            return
        self.records.append((m.topic(), m.partition(), m.offset(), m.value().decode()))

    def values(self, since=0):
        """The (topic, partition, value) of the records from index `since` on, sorted."""
        return sorted((t, p, v) for t, p, _, v in self.records[since:])

    def close(self):
        if not self.closed:
            self.closed = True
            self.c.close()


@pytest.fixture
def members(broker):
    """new(group, topics, **conf) -> Member on this module's broker; all are
    closed at the end. The first call fails the test when the broker lacks
    the protocol."""
    made = []

    def new(group, topics, **conf):
        if not made:
            require_consumer_protocol(broker)
        m = Member(broker, group, topics, **conf)
        made.append(m)
        return m

    yield new
    for m in made:
        m.close()


def pump(ms, until, timeout=REBALANCE_TIMEOUT, what="condition"):
    """Polls every member in turn until until() holds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for m in ms:
            m.poll(0.05)
        if until():
            return
    state = [(m.c.memberid() if not m.closed else "closed", sorted(m.topic_assignment()), m.events,
              len(m.records), m.errors, m.error_cb) for m in ms]
    raise AssertionError(f"timed out after {timeout} s waiting for {what}: {state}")


def settle(ms, seconds):
    """Keeps polling for a while (so duplicates or a pending rebalance would show)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for m in ms:
            m.poll(0.05)


def committed(broker, group, topic, partitions):
    """The group's committed offsets as the admin client reads them (OffsetFetch)."""
    from confluent_kafka import ConsumerGroupTopicPartitions
    admin = AdminClient({"bootstrap.servers": broker})
    f = admin.list_consumer_group_offsets(
        [ConsumerGroupTopicPartitions(group, [TopicPartition(topic, p) for p in partitions])])
    result = f[group].result(timeout=15)
    return {tp.partition: tp.offset for tp in result.topic_partitions}


def partitions(events):
    """The partition numbers the events name, sorted; one named by two
    events shows twice (so a repeated revocation or assignment shows)."""
    return sorted(p for _, tps in events for _, p in tps)


SIX = set(range(6))


def test_one_member_reads_everything_commits_and_a_successor_resumes(broker, create_topic, topic_name, members):
    create_topic(topic_name, partitions=6)
    counts = {p: 5 for p in SIX}
    produce(broker, topic_name, counts)
    group = f"g-{topic_name}"
    a = members(group, [topic_name], **{"group.remote.assignor": "uniform"})
    pump([a], lambda: len(a.records) >= 30, what="all 30 records")
    settle([a], 1)
    # Every record exactly once, in offset order within each partition.
    assert a.values() == expected({topic_name: counts})
    for p in SIX:
        offsets = [o for _, q, o, _ in a.records if q == p]
        assert offsets == list(range(5)), (p, offsets)
    assert a.assignment == SIX
    assert a.events == [("assign", [(topic_name, p) for p in range(6)])]
    # The broker kept the member id librdkafka made up.
    a_id = a.c.memberid()
    assert a_id and a_id == a.initial_member_id

    done = a.c.commit(asynchronous=False)
    assert sorted((tp.partition, tp.offset, tp.error) for tp in done) == [(p, 5, None) for p in range(6)]
    got = a.c.committed([TopicPartition(topic_name, p) for p in SIX], timeout=10)
    assert sorted((tp.partition, tp.offset) for tp in got) == [(p, 5) for p in range(6)]
    assert committed(broker, group, topic_name, SIX) == {p: 5 for p in SIX}
    assert a.errors == []
    a.close()

    # A later member of the group starts at the committed offsets: only the
    # records produced since.
    later = {p: 2 for p in SIX}
    produce(broker, topic_name, later, start=5)
    b = members(group, [topic_name], **{"group.remote.assignor": "uniform"})
    pump([b], lambda: len(b.records) >= 12, what="the 12 new records")
    settle([b], 1)
    assert b.values() == expected({topic_name: later}, start=5)
    assert sorted({o for _, _, o, _ in b.records}) == [5, 6]
    assert b.assignment == SIX
    assert b.c.memberid() and b.c.memberid() != a_id
    assert b.errors == []


def test_two_members_share_uniformly_and_the_survivor_takes_over(broker, create_topic, topic_name, members):
    create_topic(topic_name, partitions=6)
    group = f"g-{topic_name}"
    conf = {"group.remote.assignor": "uniform"}
    a = members(group, [topic_name], **conf)
    pump([a], lambda: a.assignment == SIX, what="a owns all six partitions")
    b = members(group, [topic_name], **conf)
    pump([a, b], lambda: len(a.assignment) == 3 and len(b.assignment) == 3,
         what="a and b have three partitions each")
    settle([a, b], 1)
    assert not a.assignment & b.assignment, (a.assignment, b.assignment)
    assert a.assignment | b.assignment == SIX
    assert a.c.memberid() != b.c.memberid()
    moved = sorted(b.assignment)
    # Incremental: a gave up exactly what b got, nothing more, and lost
    # nothing; b was only ever assigned those.
    assert a.events[0] == ("assign", [(topic_name, p) for p in range(6)]), a.events
    assert {kind for kind, _ in a.events[1:]} == {"revoke"}, a.events
    assert partitions(a.events[1:]) == moved, a.events
    assert {kind for kind, _ in b.events} == {"assign"} and partitions(b.events) == moved, b.events

    counts = {p: 10 for p in SIX}
    produce(broker, topic_name, counts)
    pump([a, b], lambda: len(a.records) + len(b.records) >= 60, what="60 records")
    settle([a, b], 1)
    # Each record once, by the member that owns its partition.
    assert sorted(a.values() + b.values()) == expected({topic_name: counts})
    assert {p for _, p, _, _ in a.records} == a.assignment
    assert {p for _, p, _, _ in b.records} == b.assignment

    # b commits and leaves: a gets b's partitions (and keeps its own) within
    # the bound, and continues from b's commits.
    assert all(tp.error is None for tp in b.c.commit(asynchronous=False))
    kept = sorted(a.assignment)
    before = len(a.events)
    t0 = time.monotonic()
    b.close()
    pump([a], lambda: a.assignment == SIX, what="a gets b's partitions")
    assert time.monotonic() - t0 < REBALANCE_TIMEOUT
    settle([a], 1)
    assert {kind for kind, _ in a.events[before:]} == {"assign"}, a.events
    assert partitions(a.events[before:]) == moved, a.events
    assert sorted(a.assignment - set(moved)) == kept

    more = {p: 4 for p in SIX}
    produce(broker, topic_name, more, start=10)
    n = len(a.records)
    pump([a], lambda: len(a.records) >= n + 24, what="24 new records")
    settle([a], 1)
    assert a.values(n) == expected({topic_name: more}, start=10)
    assert a.errors == [] and b.errors == []


def test_range_assignor_gives_contiguous_halves(broker, create_topic, topic_name, members):
    create_topic(topic_name, partitions=4)
    group = f"g-{topic_name}"
    conf = {"group.remote.assignor": "range"}
    a = members(group, [topic_name], **conf)
    pump([a], lambda: a.assignment == {0, 1, 2, 3}, what="a owns all four partitions")
    b = members(group, [topic_name], **conf)
    pump([a, b], lambda: len(a.assignment) == 2 and len(b.assignment) == 2,
         what="a and b have two partitions each")
    settle([a, b], 1)
    halves = sorted([sorted(a.assignment), sorted(b.assignment)])
    assert halves == [[0, 1], [2, 3]], halves
    # a revoked only the half b got.
    assert {kind for kind, _ in a.events[1:]} == {"revoke"}, a.events
    assert partitions(a.events[1:]) == sorted(b.assignment), a.events

    counts = {p: 3 for p in range(4)}
    produce(broker, topic_name, counts)
    pump([a, b], lambda: len(a.records) + len(b.records) >= 12, what="12 records")
    settle([a, b], 0.5)
    assert sorted(a.values() + b.values()) == expected({topic_name: counts})
    assert {p for _, p, _, _ in a.records} == a.assignment
    assert a.errors == [] and b.errors == []


def test_subscription_to_two_topics(broker, create_topic, topic_name, members):
    first, second = create_topic(f"{topic_name}-x", partitions=3), create_topic(f"{topic_name}-y", partitions=2)
    counts = {first: {p: 3 for p in range(3)}, second: {p: 4 for p in range(2)}}
    for t, c in counts.items():
        produce(broker, t, c)
    a = members(f"g-{topic_name}", [first, second])
    want = {(first, p) for p in range(3)} | {(second, p) for p in range(2)}
    pump([a], lambda: a.topic_assignment() == want, what="partitions of both topics")
    pump([a], lambda: len(a.records) >= 17, what="17 records")
    settle([a], 0.5)
    assert a.values() == expected(counts)
    assert a.errors == []


def test_regex_subscription_is_resolved_by_the_broker(broker, create_topic, topic_name, members):
    """librdkafka sends a "^..." subscription to the broker as
    SubscribedTopicRegex (ConsumerGroupHeartbeat v1); the broker matches it
    against whole topic names, including a topic created after the member
    joined, and leaves out topics it does not match."""
    first = create_topic(f"{topic_name}-re-1", partitions=2)
    other = create_topic(f"{topic_name}-other", partitions=1)
    produce(broker, first, {0: 2, 1: 2})
    produce(broker, other, {0: 5})
    a = members(f"g-{topic_name}", [f"^{topic_name}-re-.*"])
    want = {(first, 0), (first, 1)}
    pump([a], lambda: a.topic_assignment() == want, what="the matching topic's partitions")
    # A matching topic created now joins the subscription at a later heartbeat.
    second = create_topic(f"{topic_name}-re-2", partitions=1)
    produce(broker, second, {0: 3})
    want |= {(second, 0)}
    pump([a], lambda: a.topic_assignment() == want, timeout=30, what="the new matching topic")
    pump([a], lambda: len(a.records) >= 7, what="7 records")
    settle([a], 0.5)
    assert a.values() == expected({first: {0: 2, 1: 2}, second: {0: 3}})
    assert all(t != other for t, _ in a.topic_assignment())
    assert a.errors == []


def test_kafka_tools_describe_a_consumer_protocol_group(broker, create_topic, topic_name, members):
    """Kafka's kafka-consumer-groups describes such a group through
    ConsumerGroupDescribe (assignor, state, members) and lists its type."""
    topic = create_topic(topic_name, partitions=2)
    group = f"g-{topic_name}"
    a = members(group, [topic])
    pump([a], lambda: len(a.topic_assignment()) == 2, what="both partitions")
    tool = [str(KAFKA_SH), "run", "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand",
            "--bootstrap-server", broker]

    def run(*args):
        p = subprocess.run([*tool, *args], capture_output=True, text=True, timeout=120,
                           env={**os.environ, "JAVA_TOOL_OPTIONS": "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC"})
        assert p.returncode == 0, p.stdout + p.stderr
        return p.stdout

    state = run("--describe", "--group", group, "--state")
    row = [line.split() for line in state.splitlines() if line.startswith(group)]
    assert row and row[0][-3:] == ["uniform", "Stable", "1"], state
    members_out = run("--describe", "--group", group, "--members")
    row = [line.split() for line in members_out.splitlines() if line.startswith(group)]
    assert len(row) == 1 and row[0][-1] == "2", members_out
    listed = run("--list", "--type")
    assert [group, "Consumer"] in [line.split() for line in listed.splitlines()], listed

    # And `vltava groups describe`, which asks ConsumerGroupDescribe first.
    from conftest import BIN
    p = subprocess.run([str(BIN), "groups", "describe", group, "--bootstrap", broker, "--state"],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "uniform" in p.stdout and "Stable" in p.stdout, p.stdout
    p = subprocess.run([str(BIN), "groups", "describe", group, "--bootstrap", broker, "--members"],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stdout + p.stderr
    rows = [line.split() for line in p.stdout.splitlines() if line.startswith(group)]
    assert len(rows) == 1 and rows[0][-2:] == ["2", f"{topic}(0,1)"], p.stdout


def test_members_go_on_at_their_epochs_after_the_broker_is_killed(broker, broker_proc, create_topic, topic_name,
                                                                   members):
    """The membership is written to __consumer_offsets (Kafka's
    ConsumerGroup* records), so after a kill -9 the restarted coordinator
    loads it: both members go on with the partitions they had, without
    losing them, being asked to revoke or joining again, and read what is
    produced afterwards exactly once."""
    create_topic(topic_name, partitions=4)
    group = f"g-{topic_name}"
    counts = {p: 3 for p in range(4)}
    a = members(group, [topic_name])
    b = members(group, [topic_name])
    pump([a, b], lambda: len(a.assignment) == 2 and len(b.assignment) == 2, what="two halves")
    # Produced once the halves are settled, so each reads (and commits) its own.
    produce(broker, topic_name, counts)
    pump([a, b], lambda: len(a.records) == 6 and len(b.records) == 6, what="each half read")
    for m in (a, b):
        m.c.commit(asynchronous=False)
    ids = (a.c.memberid(), b.c.memberid())
    held = (a.assignment, b.assignment)
    events = (list(a.events), list(b.events))
    since = (len(a.records), len(b.records))

    broker_proc.kill_restart()
    produce(broker, topic_name, counts, start=3)
    pump([a, b], lambda: len(a.records) + len(b.records) == 24, what="the records produced after the restart")
    # A few heartbeats more: a member the coordinator did not know would
    # be told UNKNOWN_MEMBER_ID and lose its partitions by now.
    settle([a, b], 12)
    assert (a.c.memberid(), b.c.memberid()) == ids
    assert (a.assignment, b.assignment) == held
    assert (a.events, b.events) == events, "partitions moved after the restart"
    got = sorted(a.values(since[0]) + b.values(since[1]))
    assert got == expected({topic_name: counts}, start=3)
    for m, mine, start in zip((a, b), held, since):
        assert {p for _, p, _ in m.values(start)} <= mine
    log = broker_proc.log_text()
    assert "skipping a record" not in log and f"group {group}:" not in log


def test_a_static_member_comes_back_to_its_partitions_without_a_rebalance(broker, create_topic, topic_name,
                                                                        members):
    """A static member (group.instance.id) that closes leaves with epoch -2:
    its partitions wait for it (the other member keeps its own and gets
    none of them), and its next instance takes them over at once, without
    the other member seeing any change."""
    create_topic(topic_name, partitions=4)
    group = f"g-{topic_name}"
    s = members(group, [topic_name], **{"group.instance.id": "static-1"})
    d = members(group, [topic_name])
    pump([s, d], lambda: len(s.assignment) == 2 and len(d.assignment) == 2, what="two halves")
    # Produced once the halves are settled, so each reads its own.
    produce(broker, topic_name, {p: 2 for p in range(4)})
    pump([s, d], lambda: len(s.records) == 4 and len(d.records) == 4, what="each half read")
    s.c.commit(asynchronous=False)
    held, d_events = s.assignment, list(d.events)
    s.close()
    # Longer than a heartbeat interval: a member that left for good would
    # have its partitions given to the other by now.
    settle([d], 8)
    assert d.events == d_events and len(d.assignment) == 2
    s2 = members(group, [topic_name], **{"group.instance.id": "static-1"})
    pump([s2, d], lambda: s2.assignment == held, what="the partitions of the static member's slot")
    produce(broker, topic_name, {p: 2 for p in range(4)}, start=2)
    pump([s2, d], lambda: len(s2.records) + len(d.records) - 4 == 8, what="the records produced after")
    assert s2.events == [("assign", sorted((topic_name, p) for p in held))]
    assert d.events == d_events, "the other member saw a rebalance"
    assert s2.values() == expected({topic_name: {p: 2 for p in held}}, start=2)


def test_unknown_assignor_is_refused(broker, create_topic, topic_name, members):
    create_topic(topic_name, partitions=2)
    produce(broker, topic_name, {0: 2, 1: 2})
    a = members(f"g-{topic_name}", [topic_name], **{"group.remote.assignor": "nosuch"})
    # The broker answers UNSUPPORTED_ASSIGNOR, which librdkafka treats as
    # fatal: poll() returns a _FATAL error whose text names it (the error
    # callback hears nothing; librdkafka logs it at level 0), and the
    # consumer never gets an assignment.
    pump([a], lambda: a.errors, what="an error for the unknown assignor")
    settle([a], 1)
    unsupported = KafkaError(KafkaError.UNSUPPORTED_ASSIGNOR).str()
    fatal = [e for e in a.errors if e.code() == KafkaError._FATAL]
    assert fatal and unsupported in fatal[0].str(), a.errors
    assert a.assignment == set() and a.records == []
    assert not [e for e in a.events if e[0] == "assign"], a.events
