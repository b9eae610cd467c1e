"""The web console (/ui) in a real browser: a broker with an HTTP listener,
a topic with records and a consumer group with committed offsets, then
headless Chromium loads each page and the test reads the DOM Chromium
built (`--dump-dom`) for the figures the data implies, and takes a
screenshot of each page.

Screenshots go to $VLTAVA_ARTIFACTS (or a temporary directory, printed).
Chromium is required: without it the tests fail, they do not skip
(scripts/python-env installs Debian's `chromium`)."""

import json
import os
import re
import shutil
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

from conftest import free_port

HTTP_PORT = free_port()
BROKER_SETTINGS = [f"http.listeners=127.0.0.1:{HTTP_PORT}"]
BASE = f"http://127.0.0.1:{HTTP_PORT}"

TOPIC = "console-orders"
GROUP = "console-group"
PER_PARTITION = 10
PARTITIONS = 3


def chromium_path():
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if not path:
        pytest.fail(
            "chromium is not installed: test_console.py drives headless Chromium "
            "(apt-get install -y chromium; scripts/python-env installs it)"
        )
    return path


@pytest.fixture(scope="module")
def artifacts():
    d = os.environ.get("VLTAVA_ARTIFACTS")
    path = Path(d) / "console" if d else Path(tempfile.mkdtemp(prefix="vltava-console-"))
    path.mkdir(parents=True, exist_ok=True)
    print(f"console screenshots: {path}")
    return path


def chromium(*args, timeout=90):
    cmd = [chromium_path(), "--headless", "--no-sandbox", "--disable-gpu",
           "--disable-dev-shm-usage", "--hide-scrollbars", *args]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, f"{cmd} failed:\n{r.stderr[-2000:]}"
    return r.stdout


def dom(path):
    """The DOM of BASE+path after Chromium loaded it."""
    return chromium("--dump-dom", BASE + path)


def screenshot(artifacts, path, name, height=900):
    out = artifacts / f"{name}.png"
    chromium(f"--screenshot={out}", f"--window-size=1280,{height}", BASE + path)
    assert out.exists() and out.stat().st_size > 1000, f"no screenshot of {path}"
    return out


@pytest.fixture(scope="module")
def data(broker_proc):
    """A 3-partition topic with 10 JSON records a partition (keys order-N,
    a header each) and a live consumer group that committed 10, 4 and 0
    on the partitions: lags 0, 6 and 10."""
    from confluent_kafka import Consumer, Producer, TopicPartition
    from confluent_kafka.admin import AdminClient, NewTopic

    bootstrap = broker_proc.bootstrap
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(TOPIC, num_partitions=PARTITIONS, replication_factor=1)])[TOPIC].result(timeout=15)
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 0})
    for i in range(PER_PARTITION * PARTITIONS):
        value = json.dumps({"id": i, "item": "<widget>", "qty": i % 7})
        producer.produce(TOPIC, key=f"order-{i}", value=value, partition=i % PARTITIONS,
                         headers=[("source", b"console-test")])
    assert producer.flush(15) == 0

    consumer = Consumer({
        "bootstrap.servers": bootstrap, "group.id": GROUP, "client.id": "console-consumer",
        "enable.auto.commit": False, "auto.offset.reset": "earliest",
    })
    consumer.subscribe([TOPIC])
    deadline = time.monotonic() + 30
    while not consumer.assignment() and time.monotonic() < deadline:
        consumer.poll(0.2)
    assert len(consumer.assignment()) == PARTITIONS, "the consumer got no assignment"
    consumer.commit(offsets=[TopicPartition(TOPIC, 0, 10), TopicPartition(TOPIC, 1, 4),
                             TopicPartition(TOPIC, 2, 0)], asynchronous=False)
    yield consumer
    consumer.close()


def wait_ready():
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(BASE + "/health/ready", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    pytest.fail("the HTTP listener never became ready")


def cells(html):
    """The rows of the page's tables as lists of cell texts (tags removed)."""
    rows = []
    for row in re.findall(r"<tr>(.*?)</tr>", html, re.S):
        rows.append([re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", row, re.S)])
    return rows


def test_overview(broker, data, artifacts):
    wait_ready()
    # Rates need two samples of the console's sampler (every 5 s).
    deadline = time.monotonic() + 20
    while True:
        page = dom("/ui")
        if "polyline" in page or time.monotonic() > deadline:
            break
        time.sleep(2)
    assert "<h1>Cluster</h1>" in page
    assert "active controller" in page and "node 1" in page
    assert "(this node)" in page and "(controller)" in page
    assert "messages in / s" in page
    assert "polyline" in page, "no throughput sparkline after two samples"
    assert re.search(r"<div class=\"muted\">topics</div><div class=\"v\">\d+</div>", page)
    screenshot(artifacts, "/ui", "overview")


def test_topics_list_and_filter(broker, data, artifacts):
    page = dom(f"/ui/topics?q={TOPIC}")
    rows = [r for r in cells(page) if r and r[0] == TOPIC]
    assert rows, page
    name, partitions, replication = rows[0][:3]
    assert (partitions, replication) == (str(PARTITIONS), "1")
    assert "page 1 of 1 (1 rows" in page
    assert "no-such-topic" not in dom("/ui/topics?q=no-such-topic").split("</form>")[1]
    screenshot(artifacts, "/ui/topics", "topics", height=500)


def test_topic_partitions(broker, data, artifacts):
    page = dom(f"/ui/topics/{TOPIC}")
    rows = [r for r in cells(page) if r and r[0].isdigit()]
    assert [r[0] for r in rows] == [str(p) for p in range(PARTITIONS)], rows
    for r in rows:
        # partition, leader, replicas, ISR, log start, high watermark, log end
        assert r[2] == "1" and r[3] == "1", r
        assert (r[4], r[5], r[6]) == ("0", str(PER_PARTITION), str(PER_PARTITION)), r
    assert f'href="/ui/topics/{TOPIC}/1"' in page
    screenshot(artifacts, f"/ui/topics/{TOPIC}", "topic", height=600)


def test_message_browser(broker, data, artifacts):
    page = dom(f"/ui/topics/{TOPIC}/1")
    # Partition 1 holds records 1, 4, 7, ... at offsets 0..9.
    for i in range(1, PER_PARTITION * PARTITIONS, PARTITIONS):
        assert f"order-{i}" in page, f"order-{i} missing"
    assert "order-0" not in page and "order-2<" not in page
    # JSON pretty-printed; the value's markup shown as text, never parsed.
    assert '"item": "&lt;widget&gt;"' in page, page
    assert "<widget>" not in page
    assert "console-test" in page  # the header
    assert "10 records from offset 0." in page

    from_offset = dom(f"/ui/topics/{TOPIC}/1?from=offset&offset=7&n=2&format=hex")
    assert "2 records from offset 7." in from_offset
    offsets = [r[0] for r in cells(from_offset) if r and r[0].isdigit()]
    assert offsets == ["7", "8"], offsets
    # order-22 in hex: 6f 72 64 65 72 2d 32 32.
    assert "6f 72 64 65 72 2d 32 32" in from_offset

    latest = dom(f"/ui/topics/{TOPIC}/2?n=3&format=text")
    assert [r[0] for r in cells(latest) if r and r[0].isdigit()] == ["7", "8", "9"]
    by_time = dom(f"/ui/topics/{TOPIC}/0?from=timestamp&ts=1970-01-01+00:00:00&n=1")
    assert "1 records from offset 0." in by_time and "order-0" in by_time
    screenshot(artifacts, f"/ui/topics/{TOPIC}/1?n=6", "messages")


def test_groups_list(broker, data, artifacts):
    page = dom(f"/ui/groups?q={GROUP}")
    rows = [r for r in cells(page) if r and r[0] == GROUP]
    assert rows, page
    group, state, members, partitions, total_lag, status = rows[0][:6]
    assert (state, members, partitions, total_lag) == ("Stable", "1", str(PARTITIONS), "16"), rows[0]
    assert status in ("OK", "WARN", "ERR"), status
    screenshot(artifacts, "/ui/groups", "groups", height=500)


def test_group(broker, data, artifacts):
    page = dom(f"/ui/groups/{GROUP}")
    assert 'id="total-lag">16<' in page
    rows = {r[1]: r for r in cells(page) if len(r) == 7 and r[0] == TOPIC}
    # topic, partition, committed, log end, lag, status, member
    assert [rows[p][2:5] for p in "012"] == [["10", "10", "0"], ["4", "10", "6"], ["0", "10", "10"]], rows
    for p in "012":
        assert "console-consumer" in rows[p][6], rows[p]
    assert "total lag over the last samples" in page
    screenshot(artifacts, f"/ui/groups/{GROUP}", "group", height=700)
