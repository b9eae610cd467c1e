"""Apache Kafka's own command-line tools against Vltava, compared with the
same tools against Apache Kafka itself (issue 11).

Each tool runs as its script would run it (the class `bin/kafka-*.sh`
starts, from the jars of `tests/reference/kafka`, through `kafka.sh run`)
with the same arguments against one Apache Kafka node and against this
module's `vltava server`, both at once. Exit status, stdout and stderr are
compared after normalising what legitimately differs: ids (topic, cluster,
producer, member ids), hosts and ports, log directories, wall-clock times,
throughput figures, and the order of lines where the tool prints them in
the order of an unordered map or of the fetches that returned them. Where an
output differs for a reason that is not a Vltava bug, the normaliser says so
where it removes the difference, or the test checks Vltava's output on its
own; every such difference is listed in docs/compatibility.md ("Apache
Kafka's command-line tools").

Kafka: started once for the module with `kafka.sh start` (`kafka.sh prepare`
first: it fails loudly when Java or Maven is missing), or the one named by
KAFKA_BOOTSTRAP (scripts/test-all's, for example); topic and group names
carry a per-run prefix so a shared Kafka's other topics do not matter. Both
brokers get the settings the differential tests give them (one partition
per internal topic and per new topic, no initial rebalance delay).

The tools' JVMs run with JAVA_TOOL_OPTIONS=-XX:TieredStopAtLevel=1
-XX:+UseSerialGC, which makes each start about a third faster; the "Picked
up JAVA_TOOL_OPTIONS" line this prints is dropped.
"""

import json
import os
import re
import shutil
import socket
import subprocess
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from conftest import BIN, BROKER_BUGS, REPO, free_port

KAFKA_SH = REPO / "tests" / "reference" / "kafka" / "kafka.sh"

# As crates/vltava-difftest/src/fixture.rs: the settings Kafka's fixture has.
BROKER_SETTINGS = [
    "num.partitions=1",
    "default.replication.factor=1",
    "offsets.topic.num.partitions=1",
    "transaction.state.log.num.partitions=1",
    "group.initial.rebalance.delay.ms=0",
]

# One prefix for this run's topics, groups and transactional ids.
RUN = f"tools-{uuid.uuid4().hex[:6]}"

TOOL = {
    "topics": "org.apache.kafka.tools.TopicCommand",
    "configs": "org.apache.kafka.tools.ConfigCommand",
    "consumer-groups": "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand",
    "console-producer": "org.apache.kafka.tools.ConsoleProducer",
    "console-consumer": "org.apache.kafka.tools.consumer.ConsoleConsumer",
    "get-offsets": "org.apache.kafka.tools.GetOffsetShell",
    "delete-records": "org.apache.kafka.tools.DeleteRecordsCommand",
    "transactions": "org.apache.kafka.tools.TransactionsCommand",
    "log-dirs": "org.apache.kafka.tools.LogDirsCommand",
    "metadata-quorum": "org.apache.kafka.tools.MetadataQuorumCommand",
    "producer-perf-test": "org.apache.kafka.tools.ProducerPerformance",
    "consumer-perf-test": "org.apache.kafka.tools.ConsumerPerformance",
    "acls": "org.apache.kafka.tools.AclCommand",
    "reassign": "org.apache.kafka.tools.reassign.ReassignPartitionsCommand",
    "features": "org.apache.kafka.tools.FeatureCommand",
}

TOOL_ENV = dict(os.environ, JAVA_TOOL_OPTIONS="-XX:TieredStopAtLevel=1 -XX:+UseSerialGC")


def name(kind):
    """A topic or group name unique to this run."""
    return f"{RUN}-{kind}"


# --- Kafka ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def kafka():
    """Bootstrap address of the Apache Kafka node the tools are compared
    against."""
    if os.environ.get("KAFKA_BOOTSTRAP"):
        yield os.environ["KAFKA_BOOTSTRAP"].split(",")[0]
        return
    prep = subprocess.run([str(KAFKA_SH), "prepare"], capture_output=True, text=True)
    if prep.returncode != 0:
        pytest.fail("Apache Kafka's tools need Java 17+ and Maven (`kafka.sh prepare` failed):\n"
                    + prep.stderr, pytrace=False)
    start = subprocess.run([str(KAFKA_SH), "start"], capture_output=True, text=True, timeout=180)
    if start.returncode != 0:
        pytest.fail(f"`kafka.sh start` failed:\n{start.stdout}\n{start.stderr}", pytrace=False)
    env = dict(l.split("=", 1) for l in start.stdout.splitlines() if "=" in l)
    try:
        yield env["KAFKA_BOOTSTRAP"].split(",")[0]
    finally:
        subprocess.run([str(KAFKA_SH), "stop", env["KAFKA_DIR"]], capture_output=True, timeout=60)


class Run:
    """One tool run: exit status, stdout, stderr (both normalised)."""

    def __init__(self, rc, out, err):
        self.rc, self.out, self.err = rc, out, err

    def __repr__(self):
        return f"Run(rc={self.rc}, out={self.out!r}, err={self.err!r})"

    def __eq__(self, other):
        return (self.rc, self.out, self.err) == (other.rc, other.out, other.err)

    def lines(self):
        return self.out.splitlines()

    def all(self):
        """stdout and stderr (the tools log errors to stdout)."""
        return self.out + self.err


def common(text, bootstrap):
    """What differs between any two runs of a tool."""
    text = "\n".join(l for l in text.splitlines() if not l.startswith("Picked up JAVA_TOOL_OPTIONS"))
    text = text.replace(bootstrap, "<bootstrap>")
    text = re.sub(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", "<time>", text)
    text = re.sub(r"127\.0\.0\.1:\d+", "<host:port>", text)
    return text


class Pair:
    """Runs a tool against Kafka and Vltava at once."""

    def __init__(self, kafka, vltava):
        self.kafka, self.vltava = kafka, vltava

    def run_one(self, bootstrap, tool, args, stdin, timeout):
        args = [a.replace("{B}", bootstrap) for a in args]
        p = subprocess.run([str(KAFKA_SH), "run", TOOL[tool], *args], input=stdin, capture_output=True,
                           text=True, env=TOOL_ENV, timeout=timeout)
        return Run(p.returncode, common(p.stdout, bootstrap), common(p.stderr, bootstrap))

    def run(self, tool, *args, stdin=None, timeout=60):
        """(kafka's run, vltava's run); "{B}" in an argument is the broker's
        bootstrap address."""
        with ThreadPoolExecutor(2) as pool:
            k = pool.submit(self.run_one, self.kafka, tool, args, stdin, timeout)
            v = pool.submit(self.run_one, self.vltava, tool, args, stdin, timeout)
            return k.result(), v.result()

    def same(self, tool, *args, stdin=None, norm=None, sort=False, timeout=60):
        """Runs the tool on both and asserts the same result after `norm`
        (a function of (Run, side) -> Run, side being "kafka" or "vltava")
        and, with sort=True, the same stdout lines in any order. Returns
        Vltava's run."""
        k, v = self.run(tool, *args, stdin=stdin, timeout=timeout)
        if norm:
            k, v = norm(k, "kafka"), norm(v, "vltava")
        if sort:
            k.out, v.out = "\n".join(sorted(k.lines())), "\n".join(sorted(v.lines()))
        assert v == k, f"{tool} {' '.join(args)}: Vltava (left) differs from Kafka (right)"
        return v


@pytest.fixture
def tools(kafka, broker):
    return Pair(kafka, broker)


def sub(pattern, repl, flags=0):
    """A normaliser applying one substitution to stdout and stderr."""
    def norm(r, side):
        return Run(r.rc, re.sub(pattern, repl, r.out, flags=flags), re.sub(pattern, repl, r.err, flags=flags))
    return norm


def chain(*norms):
    def norm(r, side):
        for n in norms:
            r = n(r, side)
        return r
    return norm


def only(side_name, n):
    """A normaliser applied to one side's output only."""
    def norm(r, side):
        return n(r, side) if side == side_name else r
    return norm


def ours(text):
    """Lines naming this run's topics or groups (a shared Kafka has others)."""
    return "\n".join(l for l in text.splitlines() if RUN in l)


def keep_ours(r, side):
    return Run(r.rc, ours(r.out), r.err)


# Kafka 4 formats its cluster with min.insync.replicas=1 as a cluster-wide
# default (eligible leader replicas, KIP-966), so a topic's described
# non-default configs include it; Vltava's is the static default with the
# same value (docs/compatibility.md, the differential tests' table).
kafka_min_isr = only("kafka", chain(sub(r"Configs: min\.insync\.replicas=1,?", "Configs: "),
                                    sub(r"\n  min\.insync\.replicas=1 sensitive=false synonyms="
                                        r"\{DYNAMIC_DEFAULT_BROKER_CONFIG:min\.insync\.replicas=1\}", "")))

# Kafka 4.4's message mentions cordoned log directories (KIP-1066), which
# Vltava does not have.
kafka_cordoned = only("kafka", sub(r" or some brokers have all their log directories cordoned", ""))

# The reason a topic name is refused is worded differently: Kafka 4.4's
# client library words it so, Vltava names the character.
bad_name = sub(r"Topic name (is invalid: '[^']*' contains one or more characters other than ASCII alphanumerics"
               r"|\"[^\"]*\" contains '.'; legal characters are ASCII letters, digits), '\.', '_' and '-'",
               "<bad topic name>")

topic_id = sub(r"TopicId: \S+", "TopicId: <id>")


# --- kafka-topics ----------------------------------------------------------------

def test_topics(tools):
    t, t2 = name("topic"), name("topic2")
    B = "{B}"
    tools.same("topics", "--bootstrap-server", B, "--create", "--topic", t, "--partitions", "3",
               "--config", "retention.ms=3600000", "--config", "cleanup.policy=compact")
    tools.same("topics", "--bootstrap-server", B, "--create", "--topic", t2)
    # Already there: an error, and with --if-not-exists none.
    r = tools.same("topics", "--bootstrap-server", B, "--create", "--topic", t)
    assert r.rc == 1 and f"Topic '{t}' already exists." in r.out
    tools.same("topics", "--bootstrap-server", B, "--create", "--topic", t, "--if-not-exists")
    r = tools.same("topics", "--bootstrap-server", B, "--create", "--topic", name("rf2"), "--replication-factor", "2",
                   norm=kafka_cordoned)
    assert r.rc == 1 and "InvalidReplicationFactorException" in r.all()
    tools.same("topics", "--bootstrap-server", B, "--create", "--topic", name("p0"), "--partitions", "0")
    r = tools.same("topics", "--bootstrap-server", B, "--create", "--topic", "bad/name", norm=bad_name)
    assert "InvalidTopicException" in r.all()
    tools.same("topics", "--bootstrap-server", B, "--create", "--topic", name("badcfg"),
               "--config", "retention.ms=soon", norm=sub(r"retention\.ms: .*", "retention.ms: <why>"))

    r = tools.same("topics", "--bootstrap-server", B, "--describe", "--topic", t, norm=chain(topic_id, kafka_min_isr))
    assert r.lines()[0] == (f"Topic: {t}\tTopicId: <id>\tPartitionCount: 3\tReplicationFactor: 1\t"
                            "Configs: cleanup.policy=compact,retention.ms=3600000")
    assert len(r.lines()) == 4
    r = tools.same("topics", "--bootstrap-server", B, "--list", norm=keep_ours)
    assert r.lines() == sorted([t, t2])
    tools.same("topics", "--bootstrap-server", B, "--list", "--exclude-internal", "--topic", f"{RUN}-topic.*")

    tools.same("topics", "--bootstrap-server", B, "--alter", "--topic", t, "--partitions", "5")
    r = tools.same("topics", "--bootstrap-server", B, "--alter", "--topic", t, "--partitions", "2")
    assert "InvalidPartitionsException" in r.all()
    tools.same("topics", "--bootstrap-server", B, "--alter", "--topic", name("none"), "--partitions", "2")
    r = tools.same("topics", "--bootstrap-server", B, "--describe", "--topic", t, norm=chain(topic_id, kafka_min_isr))
    assert "PartitionCount: 5" in r.out and f"Topic: {t}\tPartition: 4\tLeader: 1\tReplicas: 1\tIsr: 1" in r.out
    tools.same("topics", "--bootstrap-server", B, "--describe", "--topic", name("none"))
    tools.same("topics", "--bootstrap-server", B, "--describe", "--under-replicated-partitions",
               "--unavailable-partitions", "--topic", t)

    tools.same("topics", "--bootstrap-server", B, "--delete", "--topic", t2)
    r = tools.same("topics", "--bootstrap-server", B, "--delete", "--topic", name("none"))
    assert r.rc == 1
    # Kafka deletes a topic asynchronously; wait until both agree it is gone.
    deadline = time.monotonic() + 15
    while True:
        k, v = tools.run("topics", "--bootstrap-server", B, "--list")
        if ours(k.out) == ours(v.out) or time.monotonic() > deadline:
            break
    assert ours(v.out) == ours(k.out) == t


# --- kafka-configs -------------------------------------------------------------

# Kafka lists only the synonyms from the described key's own name on
# (`configSynonyms`' dropWhile), so for retention.ms with nothing set at the
# broker it lists none; Vltava lists the default `log.retention.hours` too,
# on purpose (vltava-config's TopicConfig::describe).
retention_hours = only("vltava", sub(r", DEFAULT_CONFIG:log\.retention\.hours=168", ""))


def test_configs(tools):
    t = name("configs")
    B = "{B}"
    topic = ["--bootstrap-server", B, "--entity-type", "topics", "--entity-name", t]
    tools.same("topics", "--bootstrap-server", B, "--create", "--topic", t)
    tools.same("configs", *topic, "--alter", "--add-config", "retention.ms=3600000,cleanup.policy=compact")
    r = tools.same("configs", *topic, "--describe", norm=retention_hours)
    assert r.lines() == [
        f"Dynamic configs for topic {t} are:",
        "  cleanup.policy=compact sensitive=false synonyms={DYNAMIC_TOPIC_CONFIG:cleanup.policy=compact, "
        "DEFAULT_CONFIG:log.cleanup.policy=delete}",
        "  retention.ms=3600000 sensitive=false synonyms={DYNAMIC_TOPIC_CONFIG:retention.ms=3600000}",
    ]
    tools.same("configs", *topic, "--alter", "--add-config", "max.message.bytes=2000000",
               "--delete-config", "retention.ms")
    r = tools.same("configs", *topic, "--describe")
    assert "max.message.bytes=2000000" in r.out and "retention.ms" not in r.out
    # --add-config with a list value in brackets.
    tools.same("configs", *topic, "--alter", "--add-config", "cleanup.policy=[compact,delete]")
    r = tools.same("configs", *topic, "--describe", "--all", norm=lambda r, s: Run(
        r.rc, "\n".join(l for l in r.lines() if l.startswith("  cleanup.policy=") or "configs for" in l), r.err))
    assert "cleanup.policy=compact,delete sensitive=false" in r.out

    # Errors: a bad value (Kafka's ConfigDef and Vltava word the reason
    # differently), an unknown key, deleting a key that is not set, an
    # unknown topic.
    r = tools.same("configs", *topic, "--alter", "--add-config", "retention.ms=abc",
                   norm=sub(r"(Invalid value abc for configuration retention\.ms): .*", r"\1: <why>"))
    assert r.rc == 1 and "InvalidConfigurationException" in r.all()
    r = tools.same("configs", *topic, "--alter", "--add-config", "no.such.config=1")
    assert "Unknown topic config name: no.such.config" in r.all()
    tools.same("configs", *topic, "--alter", "--delete-config", "segment.ms")
    tools.same("configs", "--bootstrap-server", B, "--entity-type", "topics", "--entity-name", name("none"),
               "--describe")

    # Brokers: a per-broker dynamic config and a cluster-wide default.
    broker = ["--bootstrap-server", B, "--entity-type", "brokers", "--entity-name", "1"]
    default = ["--bootstrap-server", B, "--entity-type", "brokers", "--entity-default"]
    tools.same("configs", *broker, "--describe")
    try:
        broker_configs(tools, broker, default)
    finally:
        # A shared Kafka keeps its broker configs: leave them as they were.
        tools.same("configs", *broker, "--alter", "--delete-config", "log.cleaner.threads")
        tools.same("configs", *default, "--alter", "--delete-config", "log.cleaner.backoff.ms")
    r = tools.same("configs", *broker, "--describe")
    assert r.lines() == ["Dynamic configs for broker 1 are:"]


def broker_configs(tools, broker, default):
    tools.same("configs", *broker, "--alter", "--add-config", "log.cleaner.threads=2")
    tools.same("configs", *default, "--alter", "--add-config", "log.cleaner.backoff.ms=20000")
    r = tools.same("configs", *broker, "--describe")
    assert r.lines() == [
        "Dynamic configs for broker 1 are:",
        "  log.cleaner.threads=2 sensitive=false synonyms={DYNAMIC_BROKER_CONFIG:log.cleaner.threads=2, "
        "DEFAULT_CONFIG:log.cleaner.threads=1}",
    ]
    r = tools.same("configs", *default, "--describe", norm=kafka_min_isr)
    assert r.lines() == [
        "Default configs for brokers in the cluster are:",
        "  log.cleaner.backoff.ms=20000 sensitive=false synonyms={DYNAMIC_DEFAULT_BROKER_CONFIG:"
        "log.cleaner.backoff.ms=20000}",
    ]
    # A broker key refused: INVALID_REQUEST (a topic key's is
    # INVALID_CONFIG); the reasons are worded differently.
    r = tools.same("configs", *broker, "--alter", "--add-config", "log.cleaner.threads=x",
                   norm=sub(r"(Invalid value x for configuration log\.cleaner\.threads): .*", r"\1: <why>"))
    assert "InvalidRequestException: Invalid value x for configuration log.cleaner.threads" in r.all()
    r = tools.same("configs", *broker, "--alter", "--add-config", "broker.id=7",
                   norm=sub(r"Cannot update (these configs dynamically: \[broker\.id\]|broker\.id dynamically: .*)",
                            "<read-only broker.id>"))
    assert "InvalidRequestException: <read-only broker.id>" in r.all()


# --- kafka-console-producer and kafka-console-consumer --------------------------------

def test_console_producer_and_consumer(tools):
    t = name("console")
    B = "{B}"
    tools.same("topics", "--bootstrap-server", B, "--create", "--topic", t, "--partitions", "2")
    lines = "".join(f"key{i % 3}:value {i}\n" for i in range(10))
    tools.same("console-producer", "--bootstrap-server", B, "--topic", t, "--reader-property", "parse.key=true",
               "--reader-property", "key.separator=:", stdin=lines)
    # Without keys, into one partition, with headers.
    tools.same("console-producer", "--bootstrap-server", B, "--topic", t, "--reader-property", "parse.headers=true",
               "--command-property", "partitioner.class=org.apache.kafka.clients.producer.RoundRobinPartitioner",
               stdin="h1:a,h2:b\tno key\n")
    # Every record, in a group; the partitions interleave as fetches return
    # them, so the lines are compared as a set.
    fmt = ["--formatter-property", "print.key=true", "--formatter-property", "print.partition=true",
           "--formatter-property", "print.offset=true", "--formatter-property", "print.headers=true"]
    r = tools.same("console-consumer", "--bootstrap-server", B, "--topic", t, "--from-beginning", "--max-messages",
                   "11", "--group", name("console-group"), *fmt, "--timeout-ms", "20000", sort=True)
    assert len(r.lines()) == 11 and "Processed a total of 11 messages" in r.err
    assert "Partition:0\tOffset:0\tNO_HEADERS\tkey0\tvalue 0" in r.lines()
    assert any("h1:a,h2:b\tnull\tno key" in l for l in r.lines())
    # One partition from an offset, outside any group (partition 0 holds
    # the keyed records of key0 and key1, 7 of them, before the one the
    # round-robin partitioner put anywhere).
    r = tools.same("console-consumer", "--bootstrap-server", B, "--topic", t, "--partition", "0", "--offset", "2",
                   "--max-messages", "2", *fmt, "--timeout-ms", "20000")
    assert r.lines() == ["Partition:0\tOffset:2\tNO_HEADERS\tkey0\tvalue 3",
                         "Partition:0\tOffset:3\tNO_HEADERS\tkey1\tvalue 4"]
    # The group committed what it read: nothing is left for it.
    r = tools.same("console-consumer", "--bootstrap-server", B, "--topic", t, "--group", name("console-group"),
                   "--timeout-ms", "3000", norm=sub(r"(?m)^.*TimeoutException.*\n?", ""))
    assert "Processed a total of 0 messages" in r.err and "value" not in r.out


# --- kafka-consumer-groups -------------------------------------------------------------

# The member ids librdkafka makes, and the perf consumer's random group.
member_id = sub(r"tools-member-[0-9a-f-]{36}", "<member>")


def produce(bootstrap, topic, count, partitions, timestamp=None):
    """Record i goes to partition i % partitions; with `timestamp`, its
    timestamp is timestamp + i (so both brokers get the same data, and
    answers that depend on timestamps do not depend on timing)."""
    from confluent_kafka import Producer
    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
    for i in range(count):
        extra = {} if timestamp is None else {"timestamp": timestamp + i}
        p.produce(topic, value=f"v{i}".encode(), partition=i % partitions, **extra)
    assert p.flush(20) == 0


def active_member(bootstrap, group, topic):
    """A confluent-kafka group member that holds its assignment."""
    from confluent_kafka import Consumer
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "client.id": "tools-member",
                  "enable.auto.commit": False, "auto.offset.reset": "earliest"})
    c.subscribe([topic])
    deadline = time.monotonic() + 20
    while not c.assignment():
        assert time.monotonic() < deadline, "no assignment"
        c.poll(0.2)
    return c


def test_consumer_groups(tools, kafka, broker):
    t = name("groups")
    g, idle = name("group"), name("group-idle")
    B = "{B}"
    tools.same("topics", "--bootstrap-server", B, "--create", "--topic", t, "--partitions", "2")
    for b in (kafka, broker):
        produce(b, t, 10, 2)
    tools.same("console-consumer", "--bootstrap-server", B, "--topic", t, "--from-beginning", "--max-messages", "10",
               "--group", g, "--timeout-ms", "20000")
    # Listed in the order of a hash map.
    r = tools.same("consumer-groups", "--bootstrap-server", B, "--list", norm=keep_ours, sort=True)
    assert g in r.lines()
    r = tools.same("consumer-groups", "--bootstrap-server", B, "--describe", "--group", g)
    assert f"Consumer group '{g}' has no active members." in r.all()
    # Offsets back by 2 and to 1: lag 3 and 4.
    tools.same("consumer-groups", "--bootstrap-server", B, "--reset-offsets", "--group", g, "--topic", f"{t}:0",
               "--to-offset", "2", "--execute")
    tools.same("consumer-groups", "--bootstrap-server", B, "--reset-offsets", "--group", g, "--topic", f"{t}:1",
               "--shift-by", "-4", "--execute")
    r = tools.same("consumer-groups", "--bootstrap-server", B, "--describe", "--group", g)
    rows = [l.split() for l in r.lines() if t in l]
    assert [row[:6] for row in rows] == [[g, t, "0", "2", "5", "3"], [g, t, "1", "1", "5", "4"]]
    r = tools.same("consumer-groups", "--bootstrap-server", B, "--reset-offsets", "--group", g, "--all-topics",
                   "--to-earliest", "--dry-run", sort=True)
    assert sorted(l.split() for l in r.lines() if t in l) == [[g, t, "0", "0"], [g, t, "1", "0"]]
    tools.same("consumer-groups", "--bootstrap-server", B, "--describe", "--group", g, "--offsets")
    tools.same("consumer-groups", "--bootstrap-server", B, "--reset-offsets", "--group", g, "--topic", t,
               "--to-earliest", "--execute", sort=True)
    r = tools.same("consumer-groups", "--bootstrap-server", B, "--describe", "--group", g, "--offsets")
    assert [l.split()[3:6] for l in r.lines() if t in l] == [["0", "5", "5"], ["0", "5", "5"]]

    # A live member: its partitions, its state, and what it stops.
    members = [active_member(b, idle, t) for b in (kafka, broker)]
    try:
        norm = member_id
        r = tools.same("consumer-groups", "--bootstrap-server", B, "--describe", "--group", idle, norm=norm)
        assert r.lines()[2].split()[3:] == ["-", "5", "-", "<member>", "/127.0.0.1", "tools-member"]
        r = tools.same("consumer-groups", "--bootstrap-server", B, "--describe", "--group", idle, "--members",
                       "--verbose", norm=norm)
        assert f"{t}:0,1" in r.out
        r = tools.same("consumer-groups", "--bootstrap-server", B, "--describe", "--group", idle, "--state",
                       norm=norm)
        assert r.lines()[2].split()[3:] == ["range", "Stable", "1"]
        r = tools.same("consumer-groups", "--bootstrap-server", B, "--list", "--state", "Stable", norm=keep_ours)
        assert r.out.split() == [idle, "Stable"]
        r = tools.same("consumer-groups", "--bootstrap-server", B, "--delete", "--group", idle)
        assert "GroupNotEmptyException" in r.all()
        r = tools.same("consumer-groups", "--bootstrap-server", B, "--reset-offsets", "--group", idle, "--topic", t,
                       "--to-earliest", "--execute")
        assert "inactive" in r.all()
    finally:
        for m in members:
            m.close()

    r = tools.same("consumer-groups", "--bootstrap-server", B, "--delete", "--group", g)
    assert f"Deletion of requested consumer groups ('{g}') was successful." in r.out
    r = tools.same("consumer-groups", "--bootstrap-server", B, "--delete", "--group", g)
    assert "GroupIdNotFoundException" in r.out
    tools.same("consumer-groups", "--bootstrap-server", B, "--delete-offsets", "--group", idle, "--topic", t)


def test_describe_unknown_group(tools):
    """Kafka 4 answers a group that does not exist with GROUP_ID_NOT_FOUND
    (ConsumerGroupDescribe, DescribeGroups v6), which the tool prints as an
    exception; Vltava serves DescribeGroups up to v5, where the group is
    Dead, and the tool says it does not exist (docs/compatibility.md)."""
    g = name("no-such-group")
    k, v = tools.run("consumer-groups", "--bootstrap-server", "{B}", "--describe", "--group", g)
    assert f"GroupIdNotFoundException: Group {g} not found." in k.all()
    assert v.rc == 0 and v.out.strip() == f"Error: Consumer group '{g}' does not exist."


# --- kafka-get-offsets and kafka-delete-records ---------------------------------------

def test_get_offsets_and_delete_records(tools, kafka, broker, tmp_path):
    t = name("offsets")
    B = "{B}"
    tools.same("topics", "--bootstrap-server", B, "--create", "--topic", t, "--partitions", "3")
    # The same timestamps on both (rising with the offset): the record with
    # the largest timestamp (--time -3) is each partition's last, whatever
    # the timing of the two runs (CI once saw Kafka's batch stamped within
    # one millisecond, so its answer was offset 0).
    stamp = int(time.time() * 1000)
    for b in (kafka, broker):
        produce(b, t, 30, 3, timestamp=stamp)
    r = tools.same("get-offsets", "--bootstrap-server", B, "--topic", t)
    assert r.lines() == [f"{t}:0:10", f"{t}:1:10", f"{t}:2:10"]
    r = tools.same("get-offsets", "--bootstrap-server", B, "--topic", t, "--time", "earliest")
    assert r.lines() == [f"{t}:0:0", f"{t}:1:0", f"{t}:2:0"]
    r = tools.same("get-offsets", "--bootstrap-server", B, "--topic-partitions", f"{t}:1,{t}:2", "--time", "-3")
    assert r.lines() == [f"{t}:1:9", f"{t}:2:9"]
    r = tools.same("get-offsets", "--bootstrap-server", B, "--topic-partitions", f"{RUN}-off.*:0",
                   "--exclude-internal-topics")
    assert r.lines() == [f"{t}:0:10"]
    tools.same("get-offsets", "--bootstrap-server", B, "--topic", name("none"))

    offsets = tmp_path / "offsets.json"
    offsets.write_text(json.dumps({"version": 1, "partitions": [
        {"topic": t, "partition": 0, "offset": 4}, {"topic": t, "partition": 1, "offset": -1}]}))
    r = tools.same("delete-records", "--bootstrap-server", B, "--offset-json-file", str(offsets), sort=True)
    assert f"partition: {t}-0\tlow_watermark: 4" in r.lines()
    assert f"partition: {t}-1\tlow_watermark: 10" in r.lines()
    r = tools.same("get-offsets", "--bootstrap-server", B, "--topic", t, "--time", "-2")
    assert r.lines() == [f"{t}:0:4", f"{t}:1:10", f"{t}:2:0"]
    # Past the end: the tool reports the partition's error.
    offsets.write_text(json.dumps({"version": 1, "partitions": [{"topic": t, "partition": 2, "offset": 11}]}))
    r = tools.same("delete-records", "--bootstrap-server", B, "--offset-json-file", str(offsets))
    assert "OffsetOutOfRangeException" in r.out


# --- kafka-transactions ---------------------------------------------------------------

def columns(*names):
    """A normaliser for the tab-separated tables of kafka-transactions:
    cells unpadded, the cells of the named columns replaced by their name."""
    def norm(r, side):
        out, header = [], None
        for line in r.lines():
            cells = [c.strip() for c in line.split("\t")]
            if header is None and any(n in cells for n in names):
                header = cells
            elif header is not None and len(cells) == len(header):
                cells = [f"<{h}>" if h in names else c for h, c in zip(header, cells)]
            out.append("\t".join(cells))
        return Run(r.rc, "\n".join(out), r.err)
    return norm


def test_transactions(tools):
    t = name("txn")
    txn = name("txn-id")
    B = "{B}"
    tools.same("topics", "--bootstrap-server", B, "--create", "--topic", t)
    r = tools.same("producer-perf-test", "--topic", t, "--num-records", "1000", "--record-size", "50",
                   "--throughput", "-1", "--transactional-id", txn, "--transaction-duration-ms", "100000",
                   "--command-property", "bootstrap.servers={B}", norm=perf_figures)
    assert r.rc == 0 and r.out.startswith("1000 records sent")
    r = tools.same("transactions", "--bootstrap-server", B, "list",
                   norm=chain(columns("ProducerId"), keep_ours))
    assert r.lines() == [f"{txn}\t1\t<ProducerId>\tCompleteCommit\t"]
    # Kafka 4.4 runs transactions with transaction.version 2 (KIP-890),
    # whose EndTxn bumps the producer epoch at each commit; Vltava serves
    # EndTxn up to v4, so the client keeps its epoch (docs/compatibility.md).
    k, v = tools.run("transactions", "--bootstrap-server", B, "describe", "--transactional-id", txn)
    norm = columns("ProducerId", "ProducerEpoch", "CurrentTransactionStartTimeMs", "TransactionDurationMs")
    assert norm(v, "vltava") == norm(k, "kafka")
    assert v.lines()[1].split()[1:6] == [txn, v.lines()[1].split()[2], "0", "CompleteCommit", "60000"]
    assert k.lines()[1].split()[3] == "1"
    k, v = tools.run("transactions", "--bootstrap-server", B, "describe-producers", "--topic", t, "--partition", "0")
    norm = columns("ProducerId", "ProducerEpoch", "LastSequence", "LastTimestamp")
    assert norm(v, "vltava") == norm(k, "kafka")
    assert v.lines()[1].split()[1:4] + v.lines()[1].split()[5:] == ["0", "0", "999", "None"]
    assert k.lines()[1].split()[1:4] == ["1", "0", "-1"]
    tools.same("transactions", "--bootstrap-server", B, "describe", "--transactional-id", name("none"))
    tools.same("transactions", "--bootstrap-server", B, "find-hanging", "--broker-id", "1", norm=keep_ours)


# --- kafka-log-dirs and kafka-metadata-quorum --------------------------------------

def test_log_dirs(tools, kafka, broker):
    t = name("logdirs")
    B = "{B}"
    tools.same("topics", "--bootstrap-server", B, "--create", "--topic", t, "--partitions", "2")
    produce(kafka, t, 4, 1)
    produce(broker, t, 4, 1)

    def norm(r, side):
        # Sizes differ in what each counts (Kafka: the segments; the order of
        # partitions is a hash map's): compared as empty or not.
        lines = r.lines()
        doc = json.loads(lines[-1])
        for b in doc["brokers"]:
            for d in b["logDirs"]:
                d["logDir"] = "<dir>"
                for p in d["partitions"]:
                    p["size"] = "empty" if p["size"] == 0 else "data"
                d["partitions"].sort(key=lambda p: p["partition"])
        return Run(r.rc, "\n".join(lines[:-1] + [json.dumps(doc, sort_keys=True)]), r.err)

    r = tools.same("log-dirs", "--bootstrap-server", B, "--describe", "--topic-list", t, norm=norm)
    doc = json.loads(r.lines()[-1])
    parts = doc["brokers"][0]["logDirs"][0]["partitions"]
    assert [(p["partition"], p["size"]) for p in parts] == [(f"{t}-0", "data"), (f"{t}-1", "empty")]
    tools.same("log-dirs", "--bootstrap-server", B, "--describe", "--topic-list", t, "--broker-list", "1", norm=norm)


def test_reassign_between_log_dirs(kafka, tmp_path):
    """kafka-reassign-partitions moving a replica to another log directory
    of its broker (the plan's "log_dirs": AlterReplicaLogDirs, then
    --verify through DescribeLogDirs) and kafka-log-dirs showing where it
    went, against a Vltava with two log directories. Kafka's reference
    broker has one directory, so this runs on Vltava alone (`kafka` only
    makes sure the tools are prepared)."""
    from conftest import Broker
    second = tmp_path / "second"
    b = Broker(settings=[f"log.dirs={second}"])
    try:
        t = name("movedir")
        B = b.bootstrap

        def run(tool, *args, stdin=None):
            p = subprocess.run([str(KAFKA_SH), "run", tool, *args], input=stdin, capture_output=True,
                               text=True, env=TOOL_ENV, timeout=120)
            assert p.returncode == 0, f"{tool} {args}: {p.stdout}\n{p.stderr}"
            return p.stdout

        def placement():
            doc = json.loads(run(TOOL["log-dirs"], "--bootstrap-server", B, "--describe",
                                 "--topic-list", t).splitlines()[-1])
            return {p["partition"]: (d["logDir"], p["isFuture"])
                    for d in doc["brokers"][0]["logDirs"] for p in d["partitions"]}

        run(TOOL["topics"], "--bootstrap-server", B, "--create", "--topic", t, "--partitions", "2")
        produce(B, t, 2000, 2)
        deadline = time.monotonic() + 20
        while len(placement()) < 2:
            assert time.monotonic() < deadline
            time.sleep(0.2)
        where = placement()
        dirs = sorted({d for d, _ in where.values()})
        assert len(dirs) == 2, where  # one partition in each directory
        source = where[f"{t}-0"][0]
        target = dirs[1] if source == dirs[0] else dirs[0]
        plan = tmp_path / "plan.json"
        plan.write_text(json.dumps({"version": 1, "partitions": [
            {"topic": t, "partition": 0, "replicas": [1], "log_dirs": [target]}]}))
        out = run(TOOL["reassign"], "--bootstrap-server", B, "--execute", "--reassignment-json-file", str(plan))
        assert f"Successfully started moving log directory to {target} for replica {t}-0 with broker 1" in out
        deadline = time.monotonic() + 30
        while True:
            out = run(TOOL["reassign"], "--bootstrap-server", B, "--verify", "--reassignment-json-file", str(plan))
            if f"Reassignment of replica {t}-0-1 completed successfully." in out:
                break
            assert time.monotonic() < deadline, out
            time.sleep(0.5)
        assert placement() == {f"{t}-0": (target, False), f"{t}-1": (target, False)}
        # Every record is still there.
        from confluent_kafka import Consumer, TopicPartition
        c = Consumer({"bootstrap.servers": B, "group.id": name("movedir-g"), "enable.auto.commit": False})
        try:
            c.assign([TopicPartition(t, 0, 0)])
            got = 0
            deadline = time.monotonic() + 20
            while got < 1000 and time.monotonic() < deadline:
                got += len([m for m in c.consume(500, 1) if m.error() is None])
            assert got == 1000
        finally:
            c.close()
    finally:
        b.stop()


def test_metadata_quorum(tools):
    B = "{B}"
    # The cluster id, and how far each metadata log has come.
    # Vltava's controller listens on its one port (a combined node), Kafka's
    # fixture gives the controller a port of its own.
    norm = chain(sub(r"CONTROLLER://<bootstrap>", "CONTROLLER://<host:port>"),
                 sub(r"ClusterId:( +)\S+", r"ClusterId:\1<id>"),
                 sub(r"HighWatermark:( +)\d+", r"HighWatermark:\1<n>"),
                 # The quorum's history: a shared Kafka's has had elections.
                 sub(r"LeaderEpoch:( +)\d+", r"LeaderEpoch:\1<n>"),
                 sub(r"(?m)^(1 +\tA+\t)\d+ *\t0 *\t\d+ *\t\d+ *\t", r"\1<n>\t0\t<time>\t<time>\t"))
    r = tools.same("metadata-quorum", "--bootstrap-server", B, "describe", "--status", norm=norm)
    assert "LeaderId:               1" in r.out
    assert 'CurrentVoters:          [{"id": 1, "endpoints": ["CONTROLLER://<host:port>"]}]' in r.out
    r = tools.same("metadata-quorum", "--bootstrap-server", B, "describe", "--replication", norm=norm)
    assert r.lines()[1].split("\t")[-2] == "Leader"


def test_features(kafka):
    """kafka-features against a Vltava of its own (turning a feature on in
    the shared Kafka reference would change it for the other tests): it
    describes the supported and finalized features, upgrades and
    downgrades eligible.leader.replicas.version (KIP-966), and an unknown
    feature is refused. `kafka` only makes sure the tools are prepared."""
    from conftest import Broker
    b = Broker()
    try:
        def run(*args, ok=True):
            p = subprocess.run([str(KAFKA_SH), "run", TOOL["features"], "--bootstrap-server", b.bootstrap,
                                *args], capture_output=True, text=True, env=TOOL_ENV, timeout=120)
            assert (p.returncode == 0) == ok, f"{args}: {p.stdout}\n{p.stderr}"
            return p.stdout

        def levels():
            out = {}
            for line in run("describe").splitlines():
                m = re.match(r"Feature: (\S+)\s+SupportedMinVersion: (\S+)\s+SupportedMaxVersion: (\S+)"
                             r"\s+FinalizedVersionLevel: (\S+)", line)
                if m:
                    out[m.group(1)] = m.groups()[1:]
            return out

        assert levels() == {
            "eligible.leader.replicas.version": ("0", "1", "0"),
            "metadata.version": ("4.0-IV3", "4.0-IV3", "4.0-IV3"),
        }
        assert "eligible.leader.replicas.version was upgraded to 1." in run(
            "upgrade", "--feature", "eligible.leader.replicas.version=1")
        assert levels()["eligible.leader.replicas.version"] == ("0", "1", "1")
        out = run("upgrade", "--feature", "no.such.version=1", ok=False)
        assert "Could not upgrade no.such.version to 1" in out, out
        out = run("upgrade", "--feature", "eligible.leader.replicas.version=2", ok=False)
        assert "Could not upgrade eligible.leader.replicas.version to 2" in out, out
        assert "eligible.leader.replicas.version was downgraded to 0." in run(
            "downgrade", "--feature", "eligible.leader.replicas.version=0")
        assert levels()["eligible.leader.replicas.version"] == ("0", "1", "0")
    finally:
        b.stop()


class QuorumNode:
    """One `vltava server` of a dynamic (KIP-853) metadata quorum, started
    from its own properties file: what conftest's Broker cannot express
    (a config file, storage formatted beforehand)."""

    def __init__(self, node_id, port, config, data_dir):
        self.id, self.port, self.config, self.data_dir = node_id, port, config, data_dir
        self.log_path = data_dir.parent / f"node-{node_id}.log"
        self.proc = None

    @property
    def bootstrap(self):
        return f"127.0.0.1:{self.port}"

    def format(self, cluster_id, flag):
        p = subprocess.run([str(BIN), "storage", "format", "--cluster-id", cluster_id, "--config",
                            str(self.config), "--data-dir", str(self.data_dir), flag],
                           capture_output=True, text=True, timeout=30)
        assert p.returncode == 0, f"format node {self.id}: {p.stdout}\n{p.stderr}"

    def directory_id(self):
        props = dict(l.split("=", 1) for l in (self.data_dir / "meta.properties").read_text().splitlines()
                     if "=" in l and not l.startswith("#"))
        return props["directory.id"]

    def start(self):
        env = dict(os.environ, RUST_LOG="info", NO_COLOR="1")
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen([str(BIN), "server", "--config", str(self.config),
                                          "--data-dir", str(self.data_dir)],
                                         stdout=log, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + 20
        while True:
            assert self.proc.poll() is None, f"node {self.id} exited:\n{self.log_tail()}"
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                assert time.monotonic() < deadline, f"node {self.id} does not listen:\n{self.log_tail()}"
                time.sleep(0.05)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self, n=30):
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except FileNotFoundError:
            return ""

    def stop(self):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
        keep = os.environ.get("VLTAVA_KEEP_LOGS")
        if keep and self.log_path.exists():
            Path(keep).mkdir(parents=True, exist_ok=True)
            shutil.copy(self.log_path, Path(keep) / f"quorum-node-{self.id}-{self.port}.log")


def test_metadata_quorum_add_and_remove_controller(kafka, tmp_path):
    """kafka-metadata-quorum managing the voters of a Vltava dynamic quorum
    (KIP-853): node 1 formatted --standalone (the only voter), node 2
    --no-initial-controllers, both finding the quorum through
    controller.quorum.bootstrap.servers. `describe --status` shows node 2 as
    an observer, `add-controller --command-config <node 2's config>` makes it
    a voter with its directory id and endpoint, `remove-controller` makes it
    an observer again.

    Kafka's add-controller takes from the config file node.id, the endpoint
    of the first listener named in controller.listener.names (required) and
    the directory.id of meta.properties in metadata.log.dir or else the first
    of log.dirs (required too): node 2's config sets
    controller.listener.names=PLAINTEXT and log.dirs=<its data directory>,
    which Vltava runs with unchanged (the data directory is the first log
    directory; the metadata log stays in <data dir>/metadata). The tool runs
    with --bootstrap-server: the Admin client sends AddRaftVoter and
    RemoveRaftVoter to any broker (the least loaded one), so a node that does
    not lead must relay them to the leader, as Kafka's brokers do. The
    add and the removal run with --bootstrap-controller (as Kafka's own
    documentation runs them): the Admin client then finds the controllers
    with DescribeCluster's controller endpoint type (KIP-919), which both
    nodes answer on their one listener.
    `kafka` only makes sure the tools are prepared."""
    cluster_id = subprocess.run([str(BIN), "storage", "random-uuid"], capture_output=True, text=True,
                                check=True).stdout.strip()
    ports = [free_port(), free_port()]
    bootstrap_servers = ",".join(f"127.0.0.1:{p}" for p in ports)
    nodes = []
    for node_id, port in zip((1, 2), ports):
        data_dir = tmp_path / f"node-{node_id}"
        config = tmp_path / f"node{node_id}.properties"
        lines = [
            f"node.id={node_id}",
            "process.roles=broker,controller",
            f"listeners=PLAINTEXT://127.0.0.1:{port}",
            f"controller.quorum.bootstrap.servers={bootstrap_servers}",
            "controller.quorum.election.timeout.ms=300",
            "controller.quorum.fetch.timeout.ms=600",
            "controller.quorum.election.backoff.max.ms=300",
            "controller.quorum.request.timeout.ms=500",
            "broker.heartbeat.interval.ms=300",
            "broker.session.timeout.ms=2000",
            # No HTTP listener: its default port would be shared.
            "http.listeners=",
        ]
        if node_id == 2:
            # What Kafka's add-controller reads (see above).
            lines += ["controller.listener.names=PLAINTEXT", f"log.dirs={data_dir}"]
        config.write_text("\n".join(lines) + "\n")
        nodes.append(QuorumNode(node_id, port, config, data_dir))
    one, two = nodes
    one.format(cluster_id, "--standalone")
    two.format(cluster_id, "--no-initial-controllers")
    dir1, dir2 = one.directory_id(), two.directory_id()
    voter1 = {"id": 1, "directoryId": dir1, "endpoints": [f"PLAINTEXT://{one.bootstrap}"]}
    voter2 = {"id": 2, "directoryId": dir2, "endpoints": [f"PLAINTEXT://{two.bootstrap}"]}

    def quorum(*args, bootstrap=one.bootstrap, controller=False):
        how = "--bootstrap-controller" if controller else "--bootstrap-server"
        p = subprocess.run([str(KAFKA_SH), "run", TOOL["metadata-quorum"], how, bootstrap,
                            *args], capture_output=True, text=True, env=TOOL_ENV, timeout=60)
        return p.returncode, p.stdout + p.stderr

    def status(bootstrap=one.bootstrap, controller=False):
        rc, out = quorum("describe", "--status", bootstrap=bootstrap, controller=controller)
        assert rc == 0, out
        fields = dict(re.findall(r"(?m)^(\w+): +(.*)$", out))
        return {"leader": int(fields["LeaderId"]), "voters": json.loads(fields["CurrentVoters"]),
                "observers": json.loads(fields["CurrentObservers"]), "out": out}

    def status_until(what, ok, timeout=20):
        deadline = time.monotonic() + timeout
        while True:
            s = status()
            if ok(s):
                return s
            assert time.monotonic() < deadline, f"{what}:\n{s['out']}"
            time.sleep(0.5)

    try:
        for node in nodes:
            node.start()
        # Node 1 votes alone; node 2 fetches as an observer once it has found
        # the leader through the bootstrap servers.
        s = status_until("node 2 as an observer",
                         lambda s: 2 in [o["id"] for o in s["observers"]])
        assert s["leader"] == 1
        assert s["voters"] == [voter1]
        # Either node's address serves as the bootstrap server, or as the
        # bootstrap controller.
        assert status(two.bootstrap)["voters"] == [voter1]
        assert status(two.bootstrap, controller=True)["voters"] == [voter1]

        # Refused (REQUEST_TIMED_OUT) until node 2 has caught up.
        add = ["--command-config", str(two.config), "add-controller"]
        deadline = time.monotonic() + 30
        while True:
            rc, out = quorum(*add, bootstrap=two.bootstrap, controller=True)
            if rc == 0 or "org.apache.kafka.common.errors.TimeoutException" not in out:
                break
            assert time.monotonic() < deadline, out
            time.sleep(0.5)
        assert rc == 0, out
        assert f"Added controller 2 with directory id {dir2} and endpoints: PLAINTEXT://{two.bootstrap}" in out
        s = status()
        assert s["leader"] == 1
        assert s["voters"] == [voter1, voter2], s["out"]
        assert 2 not in [o["id"] for o in s["observers"]], s["out"]
        # Node 2 replicates as a follower.
        deadline = time.monotonic() + 20
        while True:
            rc, out = quorum("describe", "--replication")
            assert rc == 0, out
            rows = {int(cells[0]): cells for cells in
                    (l.split() for l in out.splitlines()) if cells and cells[0].isdigit()}
            if 2 in rows and rows[2][-1] == "Follower" and rows[2][3] == "0":
                break
            assert time.monotonic() < deadline, out
            time.sleep(0.5)
        assert rows[1][1] == dir1 and rows[1][-1] == "Leader" and rows[2][1] == dir2, out
        # Adding it again is the leader's refusal, wherever it is sent.
        rc, out = quorum(*add)
        assert rc == 1 and "DuplicateVoterException" in out, out

        rc, out = quorum("remove-controller", "--controller-id", "2", "--controller-directory-id", dir2,
                         controller=True)
        assert rc == 0, out
        assert f"Removed KRaft controller 2 with directory id {dir2}" in out
        s = status_until("node 2 an observer again",
                         lambda s: 2 in [o["id"] for o in s["observers"]])
        assert s["voters"] == [voter1], s["out"]
        # Removing it again: node 2 is not a voter.
        rc, out = quorum("remove-controller", "--controller-id", "2", "--controller-directory-id", dir2)
        assert rc == 1 and "VoterNotFoundException" in out, out

        for node in nodes:
            assert node.alive(), f"node {node.id} exited:\n{node.log_tail()}"
    finally:
        for node in reversed(nodes):
            node.stop()
    for node in nodes:
        bugs = [l for l in node.log_path.read_text(errors="replace").splitlines() if BROKER_BUGS.search(l)]
        assert not bugs, f"node {node.id} logged:\n" + "\n".join(bugs)


# --- kafka-producer-perf-test and kafka-consumer-perf-test ---------------------------

# Throughput and latency figures, and the consumer's start and end times.
perf_figures = chain(
    sub(r"(?m)^\d+ records sent, .* ms max latency\.\n?", ""),
    sub(r"(records sent), .*", r"\1, <figures>"),
    sub(r"(?m)^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d:\d{3}, \d{4}-\d\d-\d\d \d\d:\d\d:\d\d:\d{3}, ([\d.]+), [\d.]+, (\d+), .*$",
        r"<start>, <end>, \1, <figures>, \2, <figures>"),
    sub(r"(?m)^.*UNKNOWN_TOPIC_OR_PARTITION.*\n?", ""),
)


def test_perf_tests(tools):
    t = name("perf")
    B = "{B}"
    tools.same("topics", "--bootstrap-server", B, "--create", "--topic", t, "--partitions", "2")
    r = tools.same("producer-perf-test", "--topic", t, "--num-records", "50000", "--record-size", "100",
                   "--throughput", "-1", "--command-property", "bootstrap.servers={B}", "acks=all",
                   norm=perf_figures)
    assert r.rc == 0 and r.out.strip() == "50000 records sent, <figures>"
    # The sticky partitioner splits the records between the partitions as
    # batches fill: only the total is the same.
    for r in tools.run("get-offsets", "--bootstrap-server", B, "--topic", t):
        assert sum(int(l.rsplit(":", 1)[1]) for l in r.lines()) == 50000
    r = tools.same("consumer-perf-test", "--bootstrap-server", B, "--topic", t, "--num-records", "50000",
                   "--timeout", "30000", norm=perf_figures)
    assert r.lines()[-1] == "<start>, <end>, 4.7684, <figures>, 50000, <figures>"


# --- kafka-acls, kafka-configs --entity-type users ---------------------------------

def test_acls_without_an_authorizer(tools):
    """Neither broker has an authorizer here: the ACL APIs answer
    SECURITY_DISABLED, which kafka-acls reports the same way for both."""
    B = "{B}"
    r = tools.same("acls", "--bootstrap-server", B, "--list")
    assert r.rc == 1 and "SecurityDisabledException: No Authorizer is configured on the broker" in r.all()
    r = tools.same("acls", "--bootstrap-server", B, "--add", "--allow-principal", "User:alice",
                   "--operation", "Read", "--topic", name("acl"))
    assert r.rc == 1 and "SecurityDisabledException" in r.all()
    r = tools.same("acls", "--bootstrap-server", B, "--remove", "--topic", name("acl"), "--force")
    assert r.rc == 1 and "SecurityDisabledException" in r.all()


def test_scram_credentials_with_kafka_configs(tools):
    """SCRAM credentials need no authorizer. Setting two mechanisms of one
    user in one command is refused by Kafka's controller itself
    (DUPLICATE_RESOURCE: it allows one change per user and request), and
    Vltava does the same. `--describe` of a user lists its client quotas
    (none here) and its SCRAM mechanisms."""
    B = "{B}"
    user = ["--entity-type", "users", "--entity-name", name("alice")]
    r = tools.same("configs", "--bootstrap-server", B, "--alter", "--add-config",
                   "SCRAM-SHA-256=[iterations=8192,password=alice-secret]", *user)
    assert r.rc == 0, r
    r = tools.same("configs", "--bootstrap-server", B, "--alter", "--add-config",
                   "SCRAM-SHA-256=[iterations=8192,password=a],SCRAM-SHA-512=[password=a]", *user,
                   norm=sub(r"\n\tat .*", ""))
    assert r.rc == 1 and "DuplicateResourceException" in r.all()
    r = tools.same("configs", "--bootstrap-server", B, "--alter", "--add-config",
                   "SCRAM-SHA-512=[iterations=100,password=a]", *user, norm=sub(r"\n\tat .*", ""))
    assert r.rc == 1 and "less than the minimum 4096" in r.all()
    r = tools.same("configs", "--bootstrap-server", B, "--alter", "--delete-config", "SCRAM-SHA-512", *user,
                   norm=sub(r"\n\tat .*", ""))
    assert r.rc == 1 and "ResourceNotFoundException" in r.all()
    r = tools.same("configs", "--bootstrap-server", B, "--describe", *user)
    assert r.lines() == [f"SCRAM credential configs for user-principal '{name('alice')}' are SCRAM-SHA-256=iterations=8192"], r
    r = tools.same("configs", "--bootstrap-server", B, "--alter", "--delete-config", "SCRAM-SHA-256", *user)
    assert r.rc == 0, r


def test_client_quotas_with_kafka_configs(tools):
    """Client quotas of users, client ids, a user with a client id, and an
    IP: set, described, refused, removed, with the same output from both
    brokers. (The IP is one from TEST-NET-1, removed again at the end, so a
    shared Kafka is left as found.)"""
    B = "{B}"
    user = ["--entity-type", "users", "--entity-name", name("quser")]
    client = ["--entity-type", "clients", "--entity-name", name("qapp")]
    ip = ["--entity-type", "ips", "--entity-name", "192.0.2.77"]
    alter = ["configs", "--bootstrap-server", B, "--alter"]
    describe = ["configs", "--bootstrap-server", B, "--describe"]
    r = tools.same(*alter, "--add-config", "producer_byte_rate=1024,consumer_byte_rate=2048", *user)
    assert r.rc == 0, r
    r = tools.same(*alter, "--add-config", "request_percentage=12.5", *user, *client)
    assert r.rc == 0, r
    r = tools.same(*alter, "--add-config", "producer_byte_rate=4096", *client)
    assert r.rc == 0, r
    r = tools.same(*alter, "--add-config", "connection_creation_rate=7", *ip)
    assert r.rc == 0, r
    r = tools.same(*describe, *user)
    assert "consumer_byte_rate=2048.0" in r.out and "producer_byte_rate=1024.0" in r.out, r
    r = tools.same(*describe, *user, *client)
    assert "request_percentage=12.5" in r.out, r
    r = tools.same(*describe, *client)
    assert "producer_byte_rate=4096.0" in r.out, r
    r = tools.same(*describe, *ip)
    assert "connection_creation_rate=7.0" in r.out, r
    # Refused: a fractional byte rate, an IP's key on a user, a user's key
    # on an IP (the broker's reasons), and an unknown key (the tool's own).
    for bad, entity in [("producer_byte_rate=1.5", user), ("connection_creation_rate=3", user),
                        ("producer_byte_rate=3", ip), ("no_such_rate=1", user)]:
        r = tools.same(*alter, "--add-config", bad, *entity, norm=sub(r"\n\tat .*", ""))
        assert r.rc != 0, (bad, r)
    r = tools.same(*alter, "--delete-config", "producer_byte_rate,consumer_byte_rate", *user)
    assert r.rc == 0, r
    r = tools.same(*alter, "--delete-config", "request_percentage", *user, *client)
    assert r.rc == 0, r
    r = tools.same(*alter, "--delete-config", "producer_byte_rate", *client)
    assert r.rc == 0, r
    r = tools.same(*alter, "--delete-config", "connection_creation_rate", *ip)
    assert r.rc == 0, r
    r = tools.same(*describe, *user)
    assert "producer_byte_rate" not in r.out, r
