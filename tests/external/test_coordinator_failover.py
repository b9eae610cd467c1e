"""A confluent-kafka consumer group across the loss of its coordinator: a
three-node cluster (`vltava dev-cluster`) with `__consumer_offsets`
replicated three times; the group's coordinator is killed with SIGKILL, and
a consumer that joins the group afterwards starts exactly at the committed
offsets (auto.offset.reset=latest would skip everything if the new
coordinator had lost them, earliest would replay what was consumed).
"""

import time
import uuid

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from conftest import BROKER_BUGS
from test_cluster import Cluster

SETTINGS = [
    "offsets.topic.replication.factor=3",
    "offsets.topic.num.partitions=5",
    "replica.lag.time.max.ms=3000",
    "broker.session.timeout.ms=2000",
    "broker.heartbeat.interval.ms=300",
    "group.initial.rebalance.delay.ms=0",
]
PARTITIONS = 3
PER_PARTITION = 100


@pytest.fixture(scope="module")
def cluster():
    c = Cluster(settings=SETTINGS)
    yield c
    c.stop()
    bugs = [l for l in c.logs().splitlines() if BROKER_BUGS.search(l)]
    assert not bugs, "\n".join(bugs[:20])


def coordinator_of(servers, group, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        for s in servers:
            try:
                admin = AdminClient({"bootstrap.servers": s})
                d = admin.describe_consumer_groups([group], request_timeout=5)[group].result(10)
                return d.coordinator.id
            except Exception:
                pass
        time.sleep(0.2)
    raise AssertionError(f"no coordinator for {group}")


def full_isr(servers, topic, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        md = AdminClient({"bootstrap.servers": servers[0]}).list_topics(topic=topic, timeout=10)
        t = md.topics.get(topic)
        if t and t.error is None and t.partitions and all(
                sorted(p.isrs) == [1, 2, 3] and p.leader > 0 for p in t.partitions.values()):
            return
        time.sleep(0.2)
    raise AssertionError(f"{topic} did not get a full ISR")


def test_a_group_resumes_at_its_committed_offsets_after_its_coordinator_dies(cluster):
    name = f"fo-{uuid.uuid4().hex[:8]}"
    group = f"g-{name}"
    admin = AdminClient({"bootstrap.servers": cluster.bootstrap})
    admin.create_topics([NewTopic(name, PARTITIONS, 3)])[name].result(30)
    full_isr(cluster.servers, name)
    p = Producer({"bootstrap.servers": cluster.bootstrap, "acks": "all"})
    for part in range(PARTITIONS):
        for i in range(PER_PARTITION):
            p.produce(name, value=f"{part}-{i}".encode(), partition=part)
    assert p.flush(30) == 0

    # A first member consumes about half of every partition and commits.
    half = PER_PARTITION // 2
    c = Consumer({"bootstrap.servers": cluster.bootstrap, "group.id": group,
                  "auto.offset.reset": "earliest", "enable.auto.commit": False})
    c.subscribe([name])
    seen = {part: 0 for part in range(PARTITIONS)}
    deadline = time.time() + 60
    while time.time() < deadline and sum(seen.values()) < half * PARTITIONS:
        m = c.poll(0.5)
        if m is None or m.error() or seen[m.partition()] >= half:
            continue
        seen[m.partition()] += 1
        c.commit(message=m, asynchronous=False)
    committed = {tp.partition: tp.offset for tp in
                 c.committed([TopicPartition(name, part) for part in range(PARTITIONS)], timeout=30)}
    c.close()
    assert committed == {part: half for part in range(PARTITIONS)}, committed

    # Its coordinator dies once every replica of the offsets has the commits,
    # and after every node has served a group request (ListGroups goes to
    # all): the next coordinator must load the partition it gains then.
    full_isr(cluster.servers, "__consumer_offsets")
    admin.list_consumer_groups(request_timeout=10).result(30)
    victim = coordinator_of(cluster.servers, group)
    survivors = [s for i, s in enumerate(cluster.servers) if i + 1 != victim]
    cluster.kill9(victim)
    killed_at = time.time()

    c = Consumer({"bootstrap.servers": ",".join(survivors), "group.id": group,
                  "auto.offset.reset": "latest", "enable.auto.commit": False,
                  "session.timeout.ms": 6000})
    c.subscribe([name])
    got = []
    first_at = None
    deadline = time.time() + 60
    while time.time() < deadline and len(got) < (PER_PARTITION - half) * PARTITIONS:
        m = c.poll(0.5)
        if m is None or m.error():
            continue
        first_at = first_at or time.time()
        got.append((m.partition(), m.offset()))
    after = {tp.partition: tp.offset for tp in
             c.committed([TopicPartition(name, part) for part in range(PARTITIONS)], timeout=30)}
    c.close()
    print(f"coordinator node {victim} killed; the next member's first record "
          f"{(first_at or time.time()) - killed_at:.1f} s later")
    assert after == committed, "the new coordinator serves the committed offsets"
    assert sorted(got) == [(part, off) for part in range(PARTITIONS)
                           for off in range(half, PER_PARTITION)], \
        "the group resumed exactly at its committed offsets"
    assert coordinator_of(survivors, group) != victim
