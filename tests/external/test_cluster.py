"""Real clients against a three-node cluster (`vltava dev-cluster`): every
node lists every broker (kcat -L, confluent-kafka, kafka-python), admin
requests work from any node, a consumer group spans partitions led by all
three nodes, and a transaction over partitions on all three nodes commits or
aborts as a whole (markers by WriteTxnMarkers, KIP-890 checks at the
coordinator on another node). Replicated topics (RF 3, min.insync.replicas
2): an idempotent acks=all round trip, kafka-python's ElectLeaders, and
kafka-python's admin reassigning partitions (KIP-455).
"""

import json
import os
import signal
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from kafka import KafkaAdminClient
from kafka.admin import NewTopic as KafkaNewTopic

from conftest import BIN, BROKER_BUGS


class Cluster:
    def __init__(self, nodes=3, settings=()):
        self.dir = Path(tempfile.mkdtemp(prefix="vltava-cluster-"))
        sets = [a for kv in settings for a in ("--set", kv)]
        self.proc = subprocess.Popen(
            [str(BIN), "dev-cluster", "--nodes", str(nodes), "--dir", str(self.dir / "c"), *sets],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        line = self.proc.stdout.readline()
        assert line.startswith("bootstrap servers: "), line
        self.servers = line.split(": ", 1)[1].strip().split(",")
        self.nodes = nodes
        self.wait_converged()

    @property
    def bootstrap(self):
        return ",".join(self.servers)

    def describe(self, server):
        out = subprocess.run([str(BIN), "cluster", "--bootstrap", server, "--output", "json"],
                             capture_output=True, text=True, timeout=30)
        return json.loads(out.stdout) if out.returncode == 0 else None

    def wait_converged(self, timeout=60):
        deadline = time.time() + timeout
        while time.time() < deadline:
            views = [self.describe(s) for s in self.servers]
            if all(v and len(v["brokers"]) == self.nodes and v["controller_id"] >= 0 for v in views):
                if len({v["controller_id"] for v in views}) == 1:
                    return
            time.sleep(0.2)
        raise AssertionError("the cluster did not converge")

    def node_pid(self, node_id):
        """The pid of node `node_id`'s `vltava server`, a child of the
        dev-cluster process this fixture started."""
        config = f"node-{node_id}.properties"
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                # "pid (comm) state ppid ...": comm may hold spaces.
                ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
                cmdline = (stat.parent / "cmdline").read_bytes().split(b"\0")
            except (OSError, ValueError, IndexError):
                continue
            if ppid == self.proc.pid and any(a.decode(errors="replace").endswith(config) for a in cmdline):
                return int(stat.parent.name)
        return None

    def kill9(self, node_id):
        """SIGKILL to one node (dev-cluster notes its exit and keeps the
        others running)."""
        pid = self.node_pid(node_id)
        assert pid is not None, f"node {node_id} is not running"
        os.kill(pid, signal.SIGKILL)

    def logs(self):
        return "\n".join(p.read_text(errors="replace") for p in sorted((self.dir / "c").glob("node-*.log")))

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture(scope="module")
def cluster():
    c = Cluster()
    yield c
    c.stop()
    bugs = [l for l in c.logs().splitlines() if BROKER_BUGS.search(l)]
    assert not bugs, "\n".join(bugs[:20])


def create(cluster, name, partitions):
    # Through the last node: it forwards to the active controller if need be.
    admin = AdminClient({"bootstrap.servers": cluster.servers[-1]})
    admin.create_topics([NewTopic(name, partitions, 1)])[name].result(30)
    # Until every node has the topic with a leader for each partition.
    deadline = time.time() + 10
    while time.time() < deadline:
        ok = True
        for s in cluster.servers:
            md = AdminClient({"bootstrap.servers": s}).list_topics(topic=name, timeout=5)
            t = md.topics.get(name)
            if t is None or t.error is not None or len(t.partitions) != partitions:
                ok = False
        if ok:
            return
        time.sleep(0.1)
    raise AssertionError(f"{name} did not reach every node")


def leaders(cluster, name):
    md = AdminClient({"bootstrap.servers": cluster.bootstrap}).list_topics(topic=name, timeout=10)
    return {p.id: p.leader for p in md.topics[name].partitions.values()}


def test_kcat_lists_every_broker_from_every_node(cluster):
    for s in cluster.servers:
        out = subprocess.run(["kcat", "-L", "-b", s, "-m", "10"], capture_output=True, text=True, timeout=30)
        assert out.returncode == 0, out.stderr
        assert f"{cluster.nodes} brokers:" in out.stdout, out.stdout


def test_kafka_python_admin_from_any_node(cluster):
    name = f"kp-{uuid.uuid4().hex[:8]}"
    for s in cluster.servers:
        admin = KafkaAdminClient(bootstrap_servers=s, request_timeout_ms=30000)
        info = admin.describe_cluster()
        assert sorted(b["broker_id"] for b in info["brokers"]) == list(range(1, cluster.nodes + 1))
        admin.close()
    admin = KafkaAdminClient(bootstrap_servers=cluster.servers[1], request_timeout_ms=30000)
    admin.create_topics([KafkaNewTopic(name, 3, 1)])
    quorum = admin.describe_metadata_quorum()
    [p] = quorum["topics"][0]["partitions"]
    assert sorted(v["replica_id"] for v in p["current_voters"]) == list(range(1, cluster.nodes + 1))
    assert p["high_watermark"] > 0
    admin.delete_topics([name])
    admin.close()


def test_kafka_python_reassigns_partitions(cluster):
    """KIP-455 through kafka-python's admin: every partition of a topic of
    replication factor 2 moves onto the broker that had no replica and its
    follower (the leader leaves); ListPartitionReassignments empties, the
    metadata shows the target replicas all in sync, every record stays."""
    from kafka import KafkaConsumer, KafkaProducer
    from kafka import TopicPartition as KTopicPartition
    from kafka.errors import NoReassignmentInProgressError

    name = f"move-{uuid.uuid4().hex[:8]}"
    admin = KafkaAdminClient(bootstrap_servers=cluster.servers[-1], request_timeout_ms=30000)
    admin.create_topics([KafkaNewTopic(name, 3, 2)])

    def layout():
        [t] = admin.describe_topics([name])
        return {p["partition_index"]: (p["leader_id"], p["replica_nodes"], p["isr_nodes"])
                for p in t["partitions"]}

    deadline = time.time() + 20
    while not all(l >= 0 and sorted(i) == sorted(r) for l, r, i in layout().values()):
        assert time.time() < deadline, layout()
        time.sleep(0.1)
    producer = KafkaProducer(bootstrap_servers=cluster.bootstrap, acks="all")
    for i in range(300):
        producer.send(name, value=b"v%d" % i, partition=i % 3)
    producer.flush()
    producer.close()

    targets = {}
    for p, (leader, replicas, _) in layout().items():
        [joining] = [b for b in range(1, cluster.nodes + 1) if b not in replicas]
        [follower] = [b for b in replicas if b != leader]
        targets[KTopicPartition(name, p)] = [joining, follower]
    assert admin.alter_partition_reassignments(targets) == {tp: None for tp in targets}
    deadline = time.time() + 30
    while admin.list_partition_reassignments({name: [0, 1, 2]}):
        assert time.time() < deadline, admin.list_partition_reassignments()
        time.sleep(0.2)
    for p, (leader, replicas, isr) in layout().items():
        target = targets[KTopicPartition(name, p)]
        assert replicas == target and sorted(isr) == sorted(target) and leader in target
    assert admin.alter_partition_reassignments({KTopicPartition(name, 0): None}) == {
        KTopicPartition(name, 0): NoReassignmentInProgressError}

    consumer = KafkaConsumer(bootstrap_servers=cluster.bootstrap, auto_offset_reset="earliest",
                             consumer_timeout_ms=5000)
    consumer.assign([KTopicPartition(name, p) for p in range(3)])
    values = sorted(m.value for m in consumer)
    consumer.close()
    assert values == sorted(b"v%d" % i for i in range(300))
    admin.delete_topics([name])
    admin.close()


def test_partitions_spread_and_a_group_reads_them_all(cluster):
    name = f"spread-{uuid.uuid4().hex[:8]}"
    create(cluster, name, 6)
    assert set(leaders(cluster, name).values()) == set(range(1, cluster.nodes + 1))
    p = Producer({"bootstrap.servers": cluster.bootstrap})
    for part in range(6):
        for i in range(10):
            p.produce(name, value=f"{part}-{i}".encode(), partition=part)
    assert p.flush(30) == 0
    c = Consumer({"bootstrap.servers": cluster.bootstrap, "group.id": f"g-{name}",
                  "auto.offset.reset": "earliest", "enable.auto.commit": False})
    c.subscribe([name])
    got = set()
    deadline = time.time() + 60
    while time.time() < deadline and len(got) < 60:
        m = c.poll(0.5)
        if m is None or m.error():
            continue
        got.add(m.value().decode())
    c.commit(asynchronous=False)
    committed = c.committed([TopicPartition(name, part) for part in range(6)], timeout=30)
    c.close()
    assert len(got) == 60
    assert sorted(tp.offset for tp in committed) == [10] * 6


def test_a_transaction_over_all_nodes_commits_or_aborts_as_a_whole(cluster):
    name = f"txn-{uuid.uuid4().hex[:8]}"
    create(cluster, name, 6)
    p = Producer({"bootstrap.servers": cluster.bootstrap, "transactional.id": f"tid-{name}"})
    p.init_transactions(60)
    for round in range(3):
        p.begin_transaction()
        for part in range(6):
            for i in range(5):
                p.produce(name, value=f"r{round}-{part}-{i}".encode(), partition=part)
        if round == 1:
            p.abort_transaction(60)
        else:
            p.commit_transaction(60)
    c = Consumer({"bootstrap.servers": cluster.bootstrap, "group.id": f"rc-{name}",
                  "isolation.level": "read_committed", "enable.auto.commit": False})
    c.assign([TopicPartition(name, part, 0) for part in range(6)])
    got = []
    deadline = time.time() + 30
    while time.time() < deadline and len(got) < 60:
        m = c.poll(0.5)
        if m is None or m.error():
            continue
        got.append(m.value().decode())
    c.close()
    assert len(got) == 60
    assert not [v for v in got if v.startswith("r1-")], "an aborted record was read"
    assert {v.split("-")[1] for v in got} == {str(part) for part in range(6)}


def create_replicated(cluster, name, partitions, rf=3, min_isr=2):
    admin = AdminClient({"bootstrap.servers": cluster.bootstrap})
    topic = NewTopic(name, partitions, rf, config={"min.insync.replicas": str(min_isr)})
    admin.create_topics([topic])[name].result(30)
    # Until every partition has a leader and a full ISR.
    deadline = time.time() + 30
    while time.time() < deadline:
        md = admin.list_topics(topic=name, timeout=5)
        t = md.topics.get(name)
        if t is not None and t.error is None and len(t.partitions) == partitions and all(
            p.leader >= 0 and len(p.isrs) == rf for p in t.partitions.values()
        ):
            return t
        time.sleep(0.2)
    raise AssertionError(f"{name} did not get a full ISR")


def test_replicated_topic_idempotent_acks_all_round_trip(cluster):
    name = f"rf3-{uuid.uuid4().hex[:8]}"
    t = create_replicated(cluster, name, 3)
    for p in t.partitions.values():
        assert sorted(p.replicas) == [1, 2, 3], p
    producer = Producer({"bootstrap.servers": cluster.bootstrap, "acks": "all",
                         "enable.idempotence": True})
    delivered = []
    for i in range(300):
        producer.produce(name, value=f"v{i}".encode(), partition=i % 3,
                         on_delivery=lambda err, msg: delivered.append((err, msg.partition(), msg.offset())))
    assert producer.flush(30) == 0
    assert all(err is None for err, _, _ in delivered), [e for e, _, _ in delivered if e][:3]
    assert sorted(o for _, p, o in delivered if p == 0) == list(range(100))
    # Read back from the leaders: everything below the high watermark.
    consumer = Consumer({"bootstrap.servers": cluster.bootstrap, "group.id": f"g-{name}",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})
    consumer.assign([TopicPartition(name, p, 0) for p in range(3)])
    seen = set()
    deadline = time.time() + 30
    while len(seen) < 300 and time.time() < deadline:
        m = consumer.poll(1)
        if m is not None and m.error() is None:
            seen.add(m.value().decode())
    consumer.close()
    assert seen == {f"v{i}" for i in range(300)}


def test_kafka_python_elect_leaders_on_a_replicated_topic(cluster):
    name = f"elect-{uuid.uuid4().hex[:8]}"
    create_replicated(cluster, name, 3)
    admin = KafkaAdminClient(bootstrap_servers=cluster.servers[0], request_timeout_ms=30000)
    # Every partition is led by its preferred replica already: the election
    # is not needed, which kafka-python treats as success.
    response = admin.elect_leaders(0, {name: [0, 1, 2]})
    codes = [p.error_code for r in response.replica_election_results for p in r.partition_result]
    assert codes == [84, 84, 84], response  # ELECTION_NOT_NEEDED
    # An unclean election of partitions that have a leader is not needed
    # either.
    response = admin.elect_leaders(1, {name: [0]}, raise_errors=False)
    codes = [p.error_code for r in response.replica_election_results for p in r.partition_result]
    assert codes == [84], response
    admin.close()
