"""Consumer groups under process faults. Each consumer is its own process
(this file run as a script: a kafka-python or confluent-kafka consumer that
prints what happens to it as JSON lines), so it can be killed with SIGKILL
or paused with SIGSTOP:

- a consumer killed mid-stream is replaced by one that resumes from the
  committed offsets: nothing is lost, and only records consumed after the
  last commit are seen twice;
- a paused consumer loses its partitions to the other member once its
  session times out, and rejoins cleanly when it continues;
- the broker killed with SIGKILL comes back with the groups and their
  committed offsets, and consumers carry on.

With VLTAVA_KEEP_LOGS=DIR each consumer process also writes its client's
group-protocol debug log there.
"""

import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest

BROKER_SETTINGS = ["group.initial.rebalance.delay.ms=0", "group.min.session.timeout.ms=1000"]
SESSION_MS = 6000


# ---------------------------------------------------------------------------
# The consumer process
# ---------------------------------------------------------------------------

def worker(cfg):
    """Consumes cfg["topic"] in group cfg["group"] with cfg["lib"]; commits
    (synchronously) every cfg["commit_every"] records and before partitions
    are revoked; sleeps cfg["delay"] s per record. SIGTERM closes the
    consumer cleanly."""
    def emit(ev, **kv):
        sys.stdout.write(json.dumps({"ev": ev, **kv}) + "\n")
        sys.stdout.flush()

    debug = bool(cfg.get("log"))  # VLTAVA_KEEP_LOGS: the group protocol in detail on stderr
    if debug:
        import logging
        logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(name)s %(message)s")
        for name in ("kafka.coordinator", "kafka.cluster"):
            logging.getLogger(name).setLevel(logging.DEBUG)
    running = [True]
    signal.signal(signal.SIGTERM, lambda *_: running.__setitem__(0, False))
    positions = {}  # partition -> next offset to consume
    count = 0

    if cfg["lib"] == "confluent":
        from confluent_kafka import Consumer, TopicPartition

        c = Consumer({"bootstrap.servers": cfg["broker"], "group.id": cfg["group"], "enable.auto.commit": False,
                      "auto.offset.reset": "earliest", "session.timeout.ms": SESSION_MS,
                      "heartbeat.interval.ms": 300, "fetch.wait.max.ms": 50, **({"debug": "cgrp"} if debug else {})})

        def commit(partitions):
            offsets = {p: positions[p] for p in partitions if p in positions}
            if not offsets:
                return
            try:
                done = c.commit(offsets=[TopicPartition(cfg["topic"], p, o) for p, o in offsets.items()],
                                asynchronous=False)
                errors = [str(tp.error) for tp in done if tp.error]
                if errors:
                    emit("commit_failed", error=errors)
                else:
                    emit("commit", offsets=offsets)
            except Exception as e:  # e.g. after the member lost its partitions
                emit("commit_failed", error=str(e))

        def on_revoke(_c, ps):
            commit([tp.partition for tp in ps])
            emit("revoke", p=sorted(tp.partition for tp in ps))

        c.subscribe([cfg["topic"]], on_assign=lambda _c, ps: emit("assign", p=sorted(tp.partition for tp in ps)),
                    on_revoke=on_revoke, on_lost=lambda _c, ps: emit("lost", p=sorted(tp.partition for tp in ps)))

        def poll():
            m = c.poll(0.1)
            if m is None:
                return []
            if m.error():
                emit("error", error=str(m.error()))
                return []
            return [(m.partition(), m.offset(), m.value().decode())]
    else:
        from kafka import KafkaConsumer, TopicPartition
        from kafka.consumer.subscription_state import ConsumerRebalanceListener
        from kafka.structs import OffsetAndMetadata

        c = KafkaConsumer(bootstrap_servers=cfg["broker"], group_id=cfg["group"], enable_auto_commit=False,
                          auto_offset_reset="earliest", session_timeout_ms=SESSION_MS, heartbeat_interval_ms=300,
                          fetch_max_wait_ms=100, request_timeout_ms=15000)

        def commit(partitions):
            offsets = {p: positions[p] for p in partitions if p in positions}
            if not offsets:
                return
            try:
                c.commit({TopicPartition(cfg["topic"], p): OffsetAndMetadata(o, "", -1) for p, o in offsets.items()})
                emit("commit", offsets=offsets)
            except Exception as e:
                emit("commit_failed", error=repr(e))

        class Listener(ConsumerRebalanceListener):
            def on_partitions_revoked(self, revoked):
                if revoked:
                    commit([tp.partition for tp in revoked])
                    emit("revoke", p=sorted(tp.partition for tp in revoked))

            def on_partitions_assigned(self, assigned):
                emit("assign", p=sorted(tp.partition for tp in assigned))

            def on_partitions_lost(self, lost):
                emit("lost", p=sorted(tp.partition for tp in lost))

        c.subscribe([cfg["topic"]], listener=Listener())
        # As in test_groups_kafka_python.wait_for_topic_metadata: join only
        # once the topic's partitions are known (a kafka-python 3.0 race).
        deadline = time.monotonic() + 10
        while not c._coordinator._metadata_snapshot.get(cfg["topic"]) and time.monotonic() < deadline:
            time.sleep(0.02)

        def poll():
            out = []
            for records in c.poll(timeout_ms=100, max_records=50).values():
                out.extend((r.partition, r.offset, r.value.decode()) for r in records)
            return out

    emit("ready")
    while running[0]:
        for p, o, v in poll():
            emit("rec", p=p, o=o, v=v)
            positions[p] = o + 1
            count += 1
            if cfg["commit_every"] and count % cfg["commit_every"] == 0:
                commit(sorted(positions))
            if cfg["delay"]:
                time.sleep(cfg["delay"])
    c.close()
    emit("closed")


# ---------------------------------------------------------------------------
# The test side
# ---------------------------------------------------------------------------

class Worker:
    """A consumer process and what it reported so far."""

    def __init__(self, lib, broker, group, topic, commit_every=10, delay=0.0):
        keep = os.environ.get("VLTAVA_KEEP_LOGS")
        cfg = {"lib": lib, "broker": broker, "group": group, "topic": topic, "commit_every": commit_every,
               "delay": delay, "log": bool(keep)}
        stderr = subprocess.DEVNULL
        if keep:
            os.makedirs(keep, exist_ok=True)
            stderr = open(os.path.join(keep, f"worker-{lib}-{group[:60]}-{time.monotonic_ns()}.log"), "wb")
        self.proc = subprocess.Popen([sys.executable, os.path.abspath(__file__), json.dumps(cfg)],
                                     stdout=subprocess.PIPE, stderr=stderr)
        if keep:
            stderr.close()
        self.events = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.proc.stdout:
            self.events.append(json.loads(line))

    def of(self, kind):
        return [e for e in self.events if e["ev"] == kind]

    @property
    def records(self):
        return [(e["p"], e["o"], e["v"]) for e in self.of("rec")]

    @property
    def assignment(self):
        owned = set()
        for e in list(self.events):
            if e["ev"] == "assign":
                owned = set(e["p"])  # eager: the whole assignment
            elif e["ev"] in ("revoke", "lost"):
                owned -= set(e["p"])
        return owned

    def committed(self):
        """The latest offsets this worker saw committed, by partition."""
        out = {}
        for e in self.of("commit"):
            out.update({int(p): o for p, o in e["offsets"].items()})
        return out

    def send(self, sig):
        self.proc.send_signal(sig)

    def stop(self, sig=signal.SIGTERM):
        if self.proc.poll() is None:
            if sig == signal.SIGTERM:
                self.proc.send_signal(signal.SIGCONT)
            self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.reader.join(timeout=5)
        return self.proc.returncode


@pytest.fixture
def workers():
    started = []

    def start(*args, **kwargs):
        w = Worker(*args, **kwargs)
        started.append(w)
        return w

    yield start
    for w in started:
        w.stop(signal.SIGKILL)


def wait_for(cond, timeout=30, what="condition", workers=()):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.05)
    state = [(sorted(w.assignment), [e for e in w.events if e["ev"] != "rec"][-8:], len(w.records))
             for w in workers]
    raise AssertionError(f"timed out waiting for {what}: {state}")


def produce(broker, topic, counts, start=0):
    from confluent_kafka import Producer
    p = Producer({"bootstrap.servers": broker, "linger.ms": 5})
    for partition, n in counts.items():
        for i in range(start, start + n):
            p.produce(topic, value=f"{partition}-{i}".encode(), partition=partition)
    assert p.flush(20) == 0


def expected(counts, start=0):
    return sorted((p, i, f"{p}-{i}") for p, n in counts.items() for i in range(start, start + n))


def committed_offsets(broker, group, topic, partitions):
    from confluent_kafka import ConsumerGroupTopicPartitions, TopicPartition
    from confluent_kafka.admin import AdminClient
    admin = AdminClient({"bootstrap.servers": broker})
    f = admin.list_consumer_group_offsets(
        [ConsumerGroupTopicPartitions(group, [TopicPartition(topic, p) for p in partitions])])
    return {tp.partition: tp.offset for tp in f[group].result(timeout=15).topic_partitions}


def describe(broker, group):
    """(state, [(member id, sorted partitions)])."""
    from confluent_kafka.admin import AdminClient
    admin = AdminClient({"bootstrap.servers": broker})
    d = admin.describe_consumer_groups([group])[group].result(timeout=15)
    return d.state.name, sorted((m.member_id, sorted(tp.partition for tp in m.assignment.topic_partitions))
                                for m in d.members)


LIBS = ["confluent", "kafka-python"]


@pytest.mark.parametrize("lib", LIBS)
def test_killed_consumer_is_replaced_from_committed_offsets(broker, create_topic, topic_name, workers, lib):
    create_topic(topic_name, partitions=2)
    counts = {0: 150, 1: 150}
    produce(broker, topic_name, counts)
    group = f"g-{topic_name}"
    w1 = workers(lib, broker, group, topic_name, commit_every=25, delay=0.002)
    wait_for(lambda: len(w1.records) >= 120 and len(w1.of("commit")) >= 3, what="w1 consumed and committed",
             workers=[w1])
    w1.send(signal.SIGKILL)
    w1.proc.wait(timeout=10)
    w1.reader.join(timeout=5)
    consumed = {}
    for p, o, _ in w1.records:
        consumed[p] = max(consumed.get(p, -1), o)
    reported = w1.committed()
    on_broker = committed_offsets(broker, group, topic_name, [0, 1])
    for p in (0, 1):
        # Every commit w1 saw acknowledged is there; nothing beyond what it consumed.
        assert reported.get(p, -1001) <= on_broker[p] <= consumed.get(p, -1) + 1, (p, reported, on_broker, consumed)

    # The replacement waits for w1's session to expire, then resumes at the
    # committed offsets.
    w2 = workers(lib, broker, group, topic_name)
    wait_for(lambda: len(w2.records) >= sum(counts.values()) - sum(max(o, 0) for o in on_broker.values()),
             timeout=40, what="w2 consumed the rest", workers=[w2])
    time.sleep(0.5)
    for p in (0, 1):
        got = [o for q, o, _ in w2.records if q == p]
        start = max(on_broker[p], 0)
        assert got == list(range(start, counts[p])), (p, on_broker, got[:5])
    # Nothing lost; the only records seen twice were consumed after the last commit.
    seen = w1.records + w2.records
    assert sorted(set(seen)) == expected(counts)
    twice = sorted(r for r in set(seen) if seen.count(r) > 1)
    assert twice == sorted(r for r in w1.records if r[1] >= on_broker[r[0]])
    assert w2.stop() == 0


@pytest.mark.parametrize("lib", LIBS)
def test_paused_consumer_loses_its_partitions_and_rejoins(broker, create_topic, topic_name, workers, lib):
    create_topic(topic_name, partitions=4)
    group = f"g-{topic_name}"
    a = workers(lib, broker, group, topic_name, commit_every=1)
    wait_for(lambda: a.assignment == {0, 1, 2, 3}, what="a owns everything", workers=[a])
    b = workers(lib, broker, group, topic_name, commit_every=1)
    wait_for(lambda: len(a.assignment) == 2 and len(b.assignment) == 2 and not a.assignment & b.assignment,
             what="a and b split", workers=[a, b])
    b_parts = b.assignment
    # Both are under way (a record from each partition consumed and committed).
    produce(broker, topic_name, {p: 1 for p in range(4)})
    wait_for(lambda: len(a.committed()) == 2 and len(b.committed()) == 2, what="first commits", workers=[a, b])
    assert sorted(a.records + b.records) == expected({p: 1 for p in range(4)})

    # b stops answering; after its session timeout a owns everything and
    # consumes what was produced to b's partitions meanwhile, from b's
    # committed offsets.
    b.send(signal.SIGSTOP)
    t0 = time.monotonic()
    produce(broker, topic_name, {p: 5 for p in range(4)}, start=1)
    wait_for(lambda: a.assignment == {0, 1, 2, 3}, timeout=30, what="a takes b's partitions", workers=[a])
    took = time.monotonic() - t0
    assert SESSION_MS / 1000 - 1 < took < SESSION_MS / 1000 + 10, took
    wait_for(lambda: len(a.records) >= 22, what="a consumes b's records", workers=[a])
    time.sleep(0.5)
    a_parts = {0, 1, 2, 3} - b_parts
    assert sorted(a.records) == sorted(expected({p: 1 for p in a_parts}) + expected({p: 5 for p in range(4)}, start=1))
    state, members = describe(broker, group)
    assert state == "STABLE" and len(members) == 1

    # b continues: it learns it lost its partitions and joins again; the
    # group splits again and records are consumed once between the two.
    b.send(signal.SIGCONT)
    wait_for(lambda: len(a.assignment) == 2 and len(b.assignment) == 2 and not a.assignment & b.assignment,
             timeout=30, what="a and b split again", workers=[a, b])
    na, nb = len(a.records), len(b.records)
    produce(broker, topic_name, {p: 5 for p in range(4)}, start=6)
    wait_for(lambda: len(a.records) - na + len(b.records) - nb >= 20, what="records after the rejoin",
             workers=[a, b])
    time.sleep(0.5)
    later = a.records[na:] + b.records[nb:]
    assert sorted(later) == expected({p: 5 for p in range(4)}, start=6)
    assert not [e for e in b.events if e["ev"] == "error" and "fatal" in e["error"].lower()]
    state, members = describe(broker, group)
    assert state == "STABLE" and len(members) == 2
    assert a.stop() == 0 and b.stop() == 0


def test_groups_and_offsets_survive_broker_kill(broker_proc, broker, create_topic, topic_name, workers):
    create_topic(topic_name, partitions=2)
    group = f"g-{topic_name}"
    produce(broker, topic_name, {0: 50, 1: 50})
    w = workers("confluent", broker, group, topic_name, commit_every=10)
    wait_for(lambda: w.committed() == {0: 50, 1: 50}, what="all committed", workers=[w])
    state, members = describe(broker, group)
    assert state == "STABLE" and [ps for _, ps in members] == [[0, 1]]

    # SIGKILL with a live member: the group, its member and the offsets are
    # back, and the consumer carries on where it was.
    broker_proc.kill_restart()
    assert committed_offsets(broker, group, topic_name, [0, 1]) == {0: 50, 1: 50}
    produce(broker, topic_name, {0: 20, 1: 20}, start=50)
    wait_for(lambda: len(w.records) >= 140, timeout=40, what="the consumer goes on", workers=[w])
    time.sleep(0.5)
    assert sorted(w.records) == expected({0: 70, 1: 70})
    wait_for(lambda: w.committed() == {0: 70, 1: 70}, what="new commits", workers=[w])
    state, members = describe(broker, group)
    assert state == "STABLE" and [ps for _, ps in members] == [[0, 1]]
    assert w.stop() == 0

    # An empty group survives too, and a new member resumes from its offsets.
    assert describe(broker, group) == ("EMPTY", [])
    broker_proc.kill_restart()
    assert describe(broker, group) == ("EMPTY", [])
    assert committed_offsets(broker, group, topic_name, [0, 1]) == {0: 70, 1: 70}
    produce(broker, topic_name, {0: 3, 1: 3}, start=70)
    w2 = workers("kafka-python", broker, group, topic_name)
    wait_for(lambda: len(w2.records) >= 6, what="a new member resumes", workers=[w2])
    time.sleep(0.5)
    assert sorted(w2.records) == expected({0: 3, 1: 3}, start=70)
    assert w2.stop() == 0


if __name__ == "__main__":
    worker(json.loads(sys.argv[1]))
