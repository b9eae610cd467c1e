"""kcat's balanced consumer (`kcat -G group topic`, librdkafka's
KafkaConsumer with auto-commit): two members split the partitions and
consume every record exactly once between them; after they stop, a new
member of the group resumes from the offsets they committed."""

import json
import re
import shutil
import signal
import subprocess
import threading
import time

import pytest
from confluent_kafka import Producer

KCAT = shutil.which("kcat") or shutil.which("kafkacat")
pytestmark = pytest.mark.skipif(KCAT is None, reason="kcat is not installed")

BROKER_SETTINGS = ["group.initial.rebalance.delay.ms=0", "group.min.session.timeout.ms=1000"]
ASSIGNED = re.compile(r"rebalanced \(memberid [^)]*\): assigned: (.*)$")
REVOKED = re.compile(r"rebalanced \(memberid [^)]*\): revoked:")


class BalancedKcat:
    """A running `kcat -G`: its JSON records and its assignment (from the
    "% Group ... rebalanced" lines on stderr), read by background threads."""

    def __init__(self, broker, group, topic, *extra):
        cmd = [KCAT, "-b", broker, "-G", group, "-J", "-u", "-X", "auto.offset.reset=earliest",
               "-X", "session.timeout.ms=6000", "-X", "heartbeat.interval.ms=300",
               "-X", "auto.commit.interval.ms=500", *extra, topic]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.records = []
        self.assignment = set()
        self.stderr = []
        self.threads = [threading.Thread(target=self._out, daemon=True),
                        threading.Thread(target=self._err, daemon=True)]
        for t in self.threads:
            t.start()

    def _out(self):
        for line in self.proc.stdout:
            if line.strip():
                r = json.loads(line)
                self.records.append((r["partition"], r["offset"], r["payload"]))

    def _err(self):
        for line in self.proc.stderr:
            line = line.decode(errors="replace").rstrip()
            self.stderr.append(line)
            m = ASSIGNED.search(line)
            if m:
                self.assignment = {int(p) for p in re.findall(r"\[(\d+)\]", m.group(1))}
            elif REVOKED.search(line):
                self.assignment = set()

    def stop(self, sig=signal.SIGTERM):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        for t in self.threads:
            t.join(timeout=5)
        return self.proc.returncode


@pytest.fixture
def kcats():
    started = []

    def start(*args):
        k = BalancedKcat(*args)
        started.append(k)
        return k

    yield start
    for k in started:
        k.stop(signal.SIGKILL)


def wait_for(cond, timeout=30, what="condition", procs=()):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}: " + "\n".join("\n".join(k.stderr[-10:]) for k in procs))


def produce(broker, topic, partitions, n, start=0):
    p = Producer({"bootstrap.servers": broker, "linger.ms": 5})
    for i in range(start, start + n):
        p.produce(topic, value=f"r{i}".encode(), partition=i % partitions)
    assert p.flush(20) == 0


def test_balanced_consumers_split_and_resume(broker, create_topic, topic_name, kcats):
    create_topic(topic_name, partitions=4)
    group = f"g-{topic_name}"
    k1 = kcats(broker, group, topic_name)
    wait_for(lambda: k1.assignment == {0, 1, 2, 3}, what="k1 owns everything", procs=[k1])
    k2 = kcats(broker, group, topic_name)
    wait_for(lambda: k1.assignment and k2.assignment and not k1.assignment & k2.assignment
             and k1.assignment | k2.assignment == {0, 1, 2, 3}, what="k1 and k2 split", procs=[k1, k2])
    assert len(k1.assignment) == len(k2.assignment) == 2

    n = 400
    produce(broker, topic_name, 4, n)
    wait_for(lambda: len(k1.records) + len(k2.records) >= n, what=f"{n} records", procs=[k1, k2])
    time.sleep(1)
    # Exactly once between the two, each from its own partitions only.
    both = k1.records + k2.records
    assert sorted(v for _, _, v in both) == sorted(f"r{i}" for i in range(n))
    assert len(set((p, o) for p, o, _ in both)) == n
    for k in (k1, k2):
        assert {p for p, _, _ in k.records} == k.assignment

    # Both stop (kcat closes its consumer on SIGTERM and commits); a new
    # member resumes from the committed offsets: only the newer records.
    assert k1.stop() == 0 and k2.stop() == 0
    produce(broker, topic_name, 4, 40, start=n)
    k3 = kcats(broker, group, topic_name, "-e")
    assert k3.proc.wait(timeout=30) == 0  # -e: exits at the end of every partition
    k3.stop()
    assert sorted(v for _, _, v in k3.records) == sorted(f"r{i}" for i in range(n, n + 40)), k3.stderr
