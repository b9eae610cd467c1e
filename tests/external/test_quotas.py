"""Client quotas with real clients against `vltava server`.

- confluent-kafka: a producer whose client.id has a producer_byte_rate is
  told throttle times (its throttle_cb), gets every message delivered, and
  takes at least as long as the rate allows; the same producer under another
  client.id is not throttled. A group consumer under a consumer_byte_rate
  reads every message exactly once, slowly, with throttle times reported
  (a throttled fetch is answered with no data: none may be lost).
- kafka-python: a producer over its quota records the broker's throttle
  times in its `throttle-time-max` metric (kafka-python 3's connection
  metrics, in the "producer-metrics" group; there is no separate
  produce-throttle-time-max in this client).
- The quotas themselves: neither confluent-kafka (2.16) nor kafka-python
  (3.0) has a client-quota method on its admin client, so they are set
  and described with kafka-python's own AlterClientQuotas and
  DescribeClientQuotas messages (its encoder, sent over KafkaAdminClient's
  connection) and with the `vltava quotas` tool, each read back through
  the other.

The broker measures rates over quota.window.num=2 windows of one second, so
a client is over its quota within a second or two (a fresh client gets about
one window's worth through before it is throttled). Producers use 16 KiB
batches: one batch larger than a quota window's worth could never be fetched
by a consumer under that quota (Kafka returns the first batch whole, so the
fetch is always over the quota, then answered empty).
"""

import json
import os
import subprocess
import time
import uuid

import pytest
from confluent_kafka import Consumer, Producer
from conftest import BIN
from kafka import KafkaAdminClient, KafkaProducer
from kafka.protocol.admin import AlterClientQuotasRequest, DescribeClientQuotasRequest

BROKER_SETTINGS = ["quota.window.num=2", "quota.window.size.seconds=1"]

RATE = 100 * 1024  # bytes a second
VALUE_BYTES = 1000
COUNT = 600  # 600 KB: six seconds' worth at RATE, less the burst let through

NONE = 0
INVALID_REQUEST = 42

# DescribeClientQuotas match types.
MATCH_EXACT, MATCH_DEFAULT, MATCH_ANY = 0, 1, 2


def uid(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def value(i):
    return f"{i:08}".encode() + b"x" * (VALUE_BYTES - 8)


# --- quotas through kafka-python's protocol messages and the vltava tool -----

class QuotaAdmin:
    """AlterClientQuotas / DescribeClientQuotas with kafka-python's messages,
    sent through its KafkaAdminClient's connection manager."""

    def __init__(self, broker):
        self.admin = KafkaAdminClient(bootstrap_servers=broker, request_timeout_ms=15000)

    def close(self):
        self.admin.close()

    def _send(self, request):
        async def send():
            return await self.admin._manager.send(request)
        return self.admin._manager.run(send)

    def alter(self, entries, validate_only=False):
        """entries: [(entity {type: name or None}, {key: value or None to remove})].
        Returns [(error_code, error_message, entity)] in order."""
        E = AlterClientQuotasRequest.EntryData
        request = AlterClientQuotasRequest(
            entries=[
                E(entity=[E.EntityData(entity_type=t, entity_name=n) for t, n in entity.items()],
                  ops=[E.OpData(key=k, value=0.0 if v is None else float(v), remove=v is None)
                       for k, v in ops.items()])
                for entity, ops in entries],
            validate_only=validate_only)
        response = self._send(request)
        return [(e.error_code, e.error_message, {x.entity_type: x.entity_name for x in e.entity})
                for e in response.entries]

    def describe(self, components=(), strict=False):
        """components: [(entity_type, match_type, name)]. Returns (error_code,
        {frozenset(entity items): {key: value}})."""
        C = DescribeClientQuotasRequest.ComponentData
        request = DescribeClientQuotasRequest(
            components=[C(entity_type=t, match_type=m, match=n) for t, m, n in components],
            strict=strict)
        response = self._send(request)
        if response.error_code != NONE:
            return response.error_code, response.error_message
        found = {}
        for e in response.entries:
            entity = frozenset((x.entity_type, x.entity_name) for x in e.entity)
            assert entity not in found, f"{entity} listed twice"
            found[entity] = {v.key: v.value for v in e.values}
        return NONE, found


def vltava_quotas(broker, *args, check=True):
    r = subprocess.run([str(BIN), "quotas", *args, "--bootstrap", broker], capture_output=True,
                       text=True, timeout=30, env=dict(os.environ, RUST_LOG="warn", NO_COLOR="1"))
    if check:
        assert r.returncode == 0, f"vltava quotas {args}: {r.stdout}\n{r.stderr}"
    return r


def cli_describe(broker, *args):
    out = vltava_quotas(broker, "describe", *args, "--output", "json").stdout
    return {frozenset((p["type"], p["name"]) for p in e["entity"]): e["quotas"] for e in json.loads(out)}


def set_client_quota(broker, client_id, **quotas):
    """Sets quotas of one client id with the vltava tool and checks them
    back with kafka-python's DescribeClientQuotas."""
    add = ",".join(f"{k}={v}" for k, v in quotas.items())
    vltava_quotas(broker, "set", "--client-id", client_id, "--add", add)
    qa = QuotaAdmin(broker)
    try:
        code, found = qa.describe([("client-id", MATCH_EXACT, client_id)], strict=True)
    finally:
        qa.close()
    assert code == NONE, found
    assert found == {frozenset({("client-id", client_id)}): {k: float(v) for k, v in quotas.items()}}


# --- confluent-kafka ------------------------------------------------------------

def confluent_produce(broker, topic, client_id, count=COUNT):
    """Produces `count` values with confluent-kafka under client_id:
    (delivery errors, offsets delivered, throttle times in ms, seconds)."""
    throttles = []
    p = Producer({"bootstrap.servers": broker, "client.id": client_id, "linger.ms": 5,
                  "batch.size": 16384, "acks": "all",
                  "throttle_cb": lambda e: throttles.append(round(e.throttle_time * 1000))})
    errors, offsets = [], []

    def delivered(err, msg):
        if err is not None:
            errors.append(err)
        else:
            offsets.append(msg.offset())

    started = time.monotonic()
    for i in range(count):
        p.produce(topic, value=value(i), partition=0, on_delivery=delivered)
        p.poll(0)
    remaining = p.flush(30)
    elapsed = time.monotonic() - started
    p.poll(0)  # any throttle events still queued
    assert remaining == 0, f"{remaining} messages not delivered in 30 s"
    return errors, offsets, throttles, elapsed


def test_confluent_producer_over_its_byte_rate_is_throttled(broker, create_topic, topic_name):
    create_topic(topic_name)
    slow, fast = uid("slow-producer"), uid("fast-producer")
    set_client_quota(broker, slow, producer_byte_rate=RATE)

    # The same producer under a client id with no quota: no throttle, and
    # quick (the control for the timings below).
    errors, offsets, throttles, elapsed = confluent_produce(broker, topic_name, fast)
    print(f"unquoted: {elapsed:.2f} s, throttles {throttles}")
    assert not errors, errors
    assert sorted(offsets) == list(range(COUNT))
    assert not any(throttles), f"a client id without a quota was throttled: {throttles}"
    assert elapsed < 2.5, f"600 KB without a quota took {elapsed:.2f} s"

    errors, offsets, throttles, elapsed = confluent_produce(broker, topic_name, slow)
    print(f"quota {RATE} B/s: {elapsed:.2f} s, throttles {throttles}")
    assert not errors, errors
    assert sorted(offsets) == list(range(COUNT, 2 * COUNT)), "every message delivered once"
    positive = [t for t in throttles if t > 0]
    assert len(positive) >= 3, f"throttle_cb reported {throttles}"
    # No throttle longer than the whole run's excess could need.
    assert max(positive) <= 10_000, throttles
    # 600 KB at 100 KiB/s is ~6 s; a fresh sensor lets ~2 windows through.
    assert elapsed >= 3.0, f"600 KB under a 100 KiB/s quota went through in {elapsed:.2f} s"


def confluent_group_read(broker, topic, client_id, count=COUNT):
    """Reads `topic` from the start in a new group under client_id until
    `count` messages came, then 1.5 s more: ((offset, value prefix) in order
    of arrival, throttle times in ms, seconds from the first message to the
    last)."""
    throttles = []
    c = Consumer({"bootstrap.servers": broker, "client.id": client_id, "group.id": uid("quota-group"),
                  "auto.offset.reset": "earliest", "enable.auto.commit": True,
                  "fetch.wait.max.ms": 100,
                  "throttle_cb": lambda e: throttles.append(round(e.throttle_time * 1000))})
    seen = []
    first = last = None
    try:
        c.subscribe([topic])
        deadline = time.monotonic() + 40
        while len(seen) < count and time.monotonic() < deadline:
            m = c.poll(0.2)
            if m is None:
                continue
            assert m.error() is None, m.error()
            last = time.monotonic()
            first = first or last
            seen.append((m.offset(), m.value()[:8]))
        # Nothing more arrives: each message was delivered once.
        grace = time.monotonic() + 1.5
        while time.monotonic() < grace:
            m = c.poll(0.2)
            if m is not None and m.error() is None:
                seen.append((m.offset(), m.value()[:8]))
    finally:
        c.close()
    return seen, throttles, (last - first) if first else None


def test_confluent_group_consumer_over_its_byte_rate(broker, create_topic, topic_name):
    create_topic(topic_name)
    reader, other = uid("slow-reader"), uid("fast-reader")
    errors, offsets, _, _ = confluent_produce(broker, topic_name, uid("filler"))
    assert not errors and len(offsets) == COUNT
    set_client_quota(broker, reader, consumer_byte_rate=RATE)
    expected = [(i, f"{i:08}".encode()) for i in range(COUNT)]

    # The control: without a quota the same read is quick and unthrottled.
    seen, throttles, elapsed = confluent_group_read(broker, topic_name, other)
    print(f"no consumer quota: {len(seen)} messages in {elapsed:.3f} s, throttles {throttles}")
    assert seen == expected
    assert not any(throttles), throttles
    assert elapsed < 1.5, f"600 KB without a quota took {elapsed:.2f} s"

    seen, throttles, elapsed = confluent_group_read(broker, topic_name, reader)
    print(f"consumer quota {RATE} B/s: {len(seen)} messages in {elapsed:.2f} s, throttles {throttles}")
    assert seen == expected, (
        f"{len(seen)} messages, first differences: "
        f"{[(s, e) for s, e in zip(seen, expected) if s != e][:5]}")
    assert any(t > 0 for t in throttles), f"throttle_cb reported {throttles}"
    # 600 KB at 100 KiB/s, less the burst a fresh sensor lets through
    # (the group join is not counted: the clock starts at the first message).
    assert elapsed >= 2.5, f"600 KB under a 100 KiB/s fetch quota read in {elapsed:.2f} s"


# --- kafka-python ---------------------------------------------------------------

def kafka_python_produce(broker, topic, client_id, count):
    p = KafkaProducer(bootstrap_servers=broker, client_id=client_id, acks=1, linger_ms=5,
                      batch_size=16384, enable_idempotence=False)
    try:
        started = time.monotonic()
        futures = [p.send(topic, value=value(i), partition=0) for i in range(count)]
        p.flush(timeout=30)
        offsets = sorted(f.get(timeout=10).offset for f in futures)
        elapsed = time.monotonic() - started
        metrics = p.metrics()
    finally:
        p.close()
    return offsets, elapsed, metrics


def test_kafka_python_producer_records_the_throttle(broker, create_topic, topic_name):
    create_topic(topic_name)
    slow = uid("kp-slow")
    rate = 50 * 1024
    set_client_quota(broker, slow, producer_byte_rate=rate)

    offsets, elapsed, metrics = kafka_python_produce(broker, topic_name, uid("kp-fast"), 300)
    assert offsets == list(range(300))
    assert metrics["producer-metrics"]["throttle-time-max"] == 0, metrics["producer-metrics"]

    # 300 KB at 50 KiB/s: ~6 s, less the burst a fresh sensor lets through.
    offsets, elapsed, metrics = kafka_python_produce(broker, topic_name, slow, 300)
    m = metrics["producer-metrics"]
    print(f"kafka-python at {rate} B/s: {elapsed:.2f} s, throttle-time-max {m['throttle-time-max']}, "
          f"throttle-time-avg {m['throttle-time-avg']}")
    assert offsets == list(range(300, 600)), "every record written once"
    assert m["throttle-time-max"] > 0, m
    # The per-node group has it too (the broker's node id).
    nodes = [g for g in metrics if g.startswith("producer-node-metrics.node-") and "bootstrap" not in g]
    assert any(metrics[g].get("throttle-time-max", 0) > 0 for g in nodes), {g: metrics[g] for g in nodes}
    assert elapsed >= 2.5, f"300 KB under a 50 KiB/s quota went through in {elapsed:.2f} s"


# --- setting and describing quotas ------------------------------------------------

def test_quotas_set_with_kafka_python_and_the_tool_and_described_back(broker):
    qa = QuotaAdmin(broker)
    alice, app, bob = uid("alice"), uid("app"), uid("bob")
    try:
        # Set with kafka-python's AlterClientQuotas.
        results = qa.alter([
            ({"user": alice}, {"producer_byte_rate": 1024, "consumer_byte_rate": 2048}),
            ({"user": alice, "client-id": None}, {"request_percentage": 50}),
            ({"client-id": app}, {"producer_byte_rate": 4096, "request_percentage": 12.5}),
        ])
        assert [(code, entity) for code, _, entity in results] == [
            (NONE, {"user": alice}), (NONE, {"user": alice, "client-id": None}), (NONE, {"client-id": app})]

        # Refused, each entry on its own: Kafka checks every entry and
        # answers each; none of them is applied, the good one beside them is.
        carol, dave, erin = uid("carol"), uid("dave"), uid("erin")
        results = qa.alter([
            ({"user": bob}, {"producer_byte_rate": 1.5}),  # byte rates are whole numbers
            ({"user": carol}, {"no_such_quota": 1}),
            ({"ip": "10.0.0.9"}, {"producer_byte_rate": 1}),  # IPs take connection_creation_rate only
            ({"user": dave}, {"consumer_byte_rate": -5}),
            ({"user": erin}, {"consumer_byte_rate": 4000}),
        ])
        codes = {entity.get("user", entity.get("ip")): (code, message) for code, message, entity in results}
        assert {k: c for k, (c, _) in codes.items()} == {
            bob: INVALID_REQUEST, carol: INVALID_REQUEST, "10.0.0.9": INVALID_REQUEST,
            dave: INVALID_REQUEST, erin: NONE}, results
        assert "fractional" in codes[bob][1], codes[bob]
        # An entity named twice in one request gets one answer, Kafka's
        # "Ignoring duplicate entity"; as in Kafka's controller the first
        # entry's change is still made and only the repeat is dropped.
        frank = uid("frank")
        results = qa.alter([({"user": frank}, {"producer_byte_rate": 10}),
                            ({"user": frank}, {"consumer_byte_rate": 10})])
        assert [(code, entity) for code, _, entity in results] == [(INVALID_REQUEST, {"user": frank})], results
        assert "Ignoring duplicate entity" in results[0][1], results
        assert qa.describe([("user", MATCH_EXACT, frank)]) == (
            NONE, {frozenset({("user", frank)}): {"producer_byte_rate": 10.0}})
        # validate_only checks but does not change.
        results = qa.alter([({"user": bob}, {"producer_byte_rate": 1})], validate_only=True)
        assert [(code, entity) for code, _, entity in results] == [(NONE, {"user": bob})], results

        # Set with the tool: an IP (not 127.0.0.1: the other tests connect
        # from there) and the default user, with a rate no client here reaches.
        vltava_quotas(broker, "set", "--ip", "10.0.0.9", "--add", "connection_creation_rate=5")
        vltava_quotas(broker, "set", "--user-default", "--add", "consumer_byte_rate=1000000000")
        refused = vltava_quotas(broker, "set", "--client-id", app, "--add", "consumer_byte_rate=2.5",
                                check=False)
        assert refused.returncode != 0 and "fractional" in refused.stderr, refused

        # Described back with kafka-python: filters as Kafka applies them.
        code, found = qa.describe([("user", MATCH_EXACT, alice)])
        assert code == NONE, found
        assert found == {
            frozenset({("user", alice)}): {"producer_byte_rate": 1024.0, "consumer_byte_rate": 2048.0},
            frozenset({("user", alice), ("client-id", None)}): {"request_percentage": 50.0},
        }
        code, found = qa.describe([("user", MATCH_EXACT, alice)], strict=True)
        assert found == {frozenset({("user", alice)}): {"producer_byte_rate": 1024.0, "consumer_byte_rate": 2048.0}}
        code, found = qa.describe([("user", MATCH_EXACT, alice), ("client-id", MATCH_DEFAULT, None)])
        assert found == {frozenset({("user", alice), ("client-id", None)}): {"request_percentage": 50.0}}
        code, found = qa.describe([("user", MATCH_DEFAULT, None)], strict=True)
        assert found == {frozenset({("user", None)}): {"consumer_byte_rate": 1e9}}
        code, found = qa.describe([("ip", MATCH_EXACT, "10.0.0.9")])
        assert found == {frozenset({("ip", "10.0.0.9")}): {"connection_creation_rate": 5.0}}
        for user in (bob, carol, dave):
            code, found = qa.describe([("user", MATCH_EXACT, user)])
            assert (code, found) == (NONE, {}), "refused and validate-only alterations changed nothing"
        code, found = qa.describe([("user", MATCH_EXACT, erin)])
        assert found == {frozenset({("user", erin)}): {"consumer_byte_rate": 4000.0}}
        code, found = qa.describe([("client-id", MATCH_EXACT, app)], strict=True)
        assert found == {frozenset({("client-id", app)}): {"producer_byte_rate": 4096.0,
                                                           "request_percentage": 12.5}}
        # An IP cannot be combined with a user or client id in a filter.
        code, message = qa.describe([("ip", MATCH_ANY, None), ("user", MATCH_ANY, None)])
        assert code == INVALID_REQUEST, (code, message)

        # Described back with the tool: kafka-python's alterations are there.
        everything = cli_describe(broker)
        assert everything[frozenset({("user", alice)})] == {"producer_byte_rate": 1024.0,
                                                            "consumer_byte_rate": 2048.0}
        assert everything[frozenset({("client-id", app)})] == {"producer_byte_rate": 4096.0,
                                                               "request_percentage": 12.5}
        assert everything[frozenset({("user", alice), ("client-id", None)})] == {"request_percentage": 50.0}
        assert frozenset({("user", bob)}) not in everything

        # Removing keys: with kafka-python, then with the tool; an entity
        # with no key left is not listed.
        results = qa.alter([({"client-id": app}, {"producer_byte_rate": None, "request_percentage": None})])
        assert results[0][0] == NONE, results
        vltava_quotas(broker, "set", "--user", alice, "--delete", "producer_byte_rate")
        code, found = qa.describe([("client-id", MATCH_EXACT, app)])
        assert (code, found) == (NONE, {})
        assert cli_describe(broker, "--user", alice, "--strict") == {
            frozenset({("user", alice)}): {"consumer_byte_rate": 2048.0}}
    finally:
        # The default user's quota would outrank the client-id quotas of the
        # other tests (Kafka's order: /users/<default> before /clients/<id>).
        qa.alter([({"user": None}, {"consumer_byte_rate": None}),
                  ({"ip": "10.0.0.9"}, {"connection_creation_rate": None})])
        qa.close()


def test_a_described_quota_carries_no_error_message(broker):
    """Kafka (DescribeClientQuotasResponse.fromQuotaEntities) answers a
    successful describe with a null error message, not an empty one."""
    qa = QuotaAdmin(broker)
    try:
        C = DescribeClientQuotasRequest.ComponentData
        response = qa._send(DescribeClientQuotasRequest(
            components=[C(entity_type="user", match_type=MATCH_ANY, match=None)], strict=False))
    finally:
        qa.close()
    assert response.error_code == NONE
    assert response.error_message is None, repr(response.error_message)
