"""kcat (librdkafka's command-line client) against the broker: metadata
listing, produce/consume round trips with every codec, keys, headers,
partitions, start offsets and timestamps. Content and counts are checked
exactly."""

import json
import shutil
import subprocess
import time

import pytest

KCAT = shutil.which("kcat") or shutil.which("kafkacat")
pytestmark = pytest.mark.skipif(KCAT is None, reason="kcat is not installed")

CODECS = ["none", "gzip", "snappy", "lz4", "zstd"]


def kcat(broker, *args, input=None, timeout=60):
    """Runs kcat; returns stdout. Fails on a non-zero exit."""
    cmd = [KCAT, "-b", broker, "-m", "15", *args]
    p = subprocess.run(cmd, input=input, capture_output=True, timeout=timeout)
    assert p.returncode == 0, f"{cmd} exited {p.returncode}:\n{p.stderr.decode(errors='replace')}"
    return p.stdout


def consume(broker, topic, *args):
    """Consumes with -e (exit at end) and a JSON envelope; returns the records."""
    out = kcat(broker, "-C", "-t", topic, "-e", "-J", "-q", *args)
    return [json.loads(line) for line in out.decode().splitlines() if line.strip()]


def produce(broker, topic, lines, *args):
    data = "".join(f"{l}\n" for l in lines).encode()
    kcat(broker, "-P", "-t", topic, *args, input=data)


def test_metadata_list(broker, create_topic, topic_name):
    create_topic(topic_name, partitions=3)
    meta = json.loads(kcat(broker, "-L", "-J", "-t", topic_name))
    assert meta["originating_broker"]["id"] == 1
    assert meta["brokers"] == [{"id": 1, "name": broker}]
    assert meta["controllerid"] == 1
    [topic] = meta["topics"]
    assert topic["topic"] == topic_name
    assert "error" not in topic
    assert [p["partition"] for p in topic["partitions"]] == [0, 1, 2]
    for p in topic["partitions"]:
        assert p["leader"] == 1
        assert p["replicas"] == [{"id": 1}]
        assert p["isrs"] == [{"id": 1}]
    # Listing every topic includes it too.
    everything = json.loads(kcat(broker, "-L", "-J"))
    assert topic_name in [t["topic"] for t in everything["topics"]]
    # The plain text form.
    text = kcat(broker, "-L", "-t", topic_name).decode()
    assert f'topic "{topic_name}" with 3 partitions:' in text
    assert f"broker 1 at {broker}" in text


@pytest.mark.parametrize("codec", CODECS)
def test_roundtrip_codec_keys_headers(broker, create_topic, topic_name, codec):
    create_topic(topic_name)
    n = 500
    lines = [f"key-{i}:value-{i}-" + "x" * (i % 37) for i in range(n)]
    produce(broker, topic_name, lines, "-z", codec, "-K", ":", "-H", "h1=v1", "-H", "empty=", "-p", "0")
    records = consume(broker, topic_name, "-o", "beginning")
    assert len(records) == n
    for i, r in enumerate(records):
        assert r["topic"] == topic_name
        assert r["partition"] == 0
        assert r["offset"] == i
        assert r["key"] == f"key-{i}"
        assert r["payload"] == f"value-{i}-" + "x" * (i % 37)
        assert r["headers"] == ["h1", "v1", "empty", ""]
        assert r["tstype"] == "create"
        assert abs(r["ts"] - time.time() * 1000) < 120_000


@pytest.mark.parametrize("codec", CODECS)
def test_many_messages_codec(broker, create_topic, topic_name, codec):
    """Enough data that batches span several fetch responses."""
    create_topic(topic_name)
    n = 20000
    produce(broker, topic_name, [f"{i:08d}" + "y" * 100 for i in range(n)], "-z", codec, "-p", "0")
    records = consume(broker, topic_name, "-o", "beginning", "-X", "fetch.max.bytes=100000", "-X", "message.max.bytes=100000",
                      "-X", "max.partition.fetch.bytes=50000")
    assert [r["offset"] for r in records] == list(range(n))
    assert all(r["payload"] == f"{i:08d}" + "y" * 100 for i, r in enumerate(records))


def test_null_values_and_keys(broker, create_topic, topic_name):
    create_topic(topic_name)
    # -Z: empty values are sent as NULL; a line without the key delimiter has no key.
    produce(broker, topic_name, ["k1:", ":v2", "nokey"], "-K", ":", "-Z", "-p", "0")
    records = consume(broker, topic_name, "-o", "beginning")
    assert [(r["key"], r["payload"]) for r in records] == [("k1", None), (None, "v2"), (None, "nokey")]


def test_specific_partitions(broker, create_topic, topic_name):
    create_topic(topic_name, partitions=3)
    produce(broker, topic_name, [f"p0-{i}" for i in range(5)], "-p", "0")
    produce(broker, topic_name, [f"p1-{i}" for i in range(7)], "-p", "1")
    r1 = consume(broker, topic_name, "-p", "1", "-o", "beginning")
    assert [(r["partition"], r["offset"], r["payload"]) for r in r1] == [(1, i, f"p1-{i}") for i in range(7)]
    assert consume(broker, topic_name, "-p", "2", "-o", "beginning") == []
    everything = consume(broker, topic_name, "-o", "beginning")
    assert sorted((r["partition"], r["offset"], r["payload"]) for r in everything) == sorted(
        [(0, i, f"p0-{i}") for i in range(5)] + [(1, i, f"p1-{i}") for i in range(7)]
    )
    # Producing to a partition that does not exist fails.
    p = subprocess.run([KCAT, "-b", broker, "-m", "10", "-P", "-t", topic_name, "-p", "7"],
                       input=b"nowhere\n", capture_output=True, timeout=60)
    assert p.returncode != 0 or b"Unknown partition" in p.stderr, p.stderr


def test_start_offsets(broker, create_topic, topic_name):
    create_topic(topic_name)
    produce(broker, topic_name, [f"m{i}" for i in range(10)], "-p", "0")

    def offsets(*args):
        return [r["offset"] for r in consume(broker, topic_name, "-p", "0", *args)]

    assert offsets("-o", "beginning") == list(range(10))
    assert offsets("-o", "end") == []
    assert offsets("-o", "4") == list(range(4, 10))
    assert offsets("-o", "-3") == [7, 8, 9]
    assert offsets("-o", "beginning", "-c", "2") == [0, 1]
    # Past the end: librdkafka resets to auto.offset.reset (default latest).
    assert offsets("-o", "100") == []


def test_timestamps(broker, create_topic, topic_name):
    """-o s@ts / e@ts and -Q go through ListOffsets by timestamp."""
    from confluent_kafka import Producer

    create_topic(topic_name)
    t0 = int(time.time() * 1000) - 100_000
    p = Producer({"bootstrap.servers": broker, "linger.ms": 0})
    for i in range(10):
        p.produce(topic_name, value=f"t{i}".encode(), partition=0, timestamp=t0 + i * 1000)
        p.flush(10)  # one batch per message, so the time index has entries
    assert len(p) == 0
    records = consume(broker, topic_name, "-p", "0", "-o", f"s@{t0 + 3500}")
    assert [(r["offset"], r["ts"], r["payload"]) for r in records] == [
        (i, t0 + i * 1000, f"t{i}") for i in range(4, 10)
    ]
    records = consume(broker, topic_name, "-p", "0", "-o", f"s@{t0 + 2000}", "-o", f"e@{t0 + 5000}")
    assert [r["offset"] for r in records] == [2, 3, 4]
    # Query mode: offset of the first record at or after the timestamp.
    out = json.loads(kcat(broker, "-Q", "-J", "-t", f"{topic_name}:0:{t0 + 6000}"))
    assert out[topic_name]["0"]["offset"] == 6
    out = json.loads(kcat(broker, "-Q", "-J", "-t", f"{topic_name}:0:{t0 + 60_000}"))
    # After the newest record: no offset (-1 from the broker; kcat prints the end).
    assert out[topic_name]["0"]["offset"] in (-1, 10)


def test_idempotent_produce(broker, create_topic, topic_name):
    create_topic(topic_name, partitions=2)
    produce(broker, topic_name, [f"k{i}:v{i}" for i in range(1000)], "-K", ":", "-z", "zstd",
            "-X", "enable.idempotence=true")
    records = consume(broker, topic_name, "-o", "beginning")
    assert sorted(r["payload"] for r in records) == sorted(f"v{i}" for i in range(1000))
    # Keys are partitioned consistently and offsets are dense per partition.
    for part in (0, 1):
        offsets = [r["offset"] for r in records if r["partition"] == part]
        assert offsets == list(range(len(offsets)))
