"""Workloads: real clients (confluent-kafka, i.e. librdkafka) doing what
applications do, each operation written to the history.

  producer   producers with unique values ("<producer>-<seq>") and keys
             from a small set, acks and idempotence as the run says
  consumer   consumers in one group, committing offsets (sync and async at
             random) and restarting now and then under a new process name
  txn        read-process-write: a read_committed consumer and a
             transactional producer; each batch read becomes one
             transaction that writes to the output topic and sends the
             consumer's offsets, then commits or (at random) aborts
  admin      topics created, given partitions, reconfigured and deleted
plus the monitor (the group's committed offsets, once a second) and the
final reads (every partition from its start, after every fault is healed).

Every client is told the run's seed through its own random generator, so
the choices it makes are reproducible; what the broker answers is not.
"""

import concurrent.futures
import json
import logging
import os
import random
import threading
import time

from confluent_kafka import (OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, Producer,
                             TopicPartition)
from confluent_kafka.admin import AdminClient, ConfigResource, NewPartitions, NewTopic

MAIN_TOPIC = "chaos"
TXN_OUTPUT_TOPIC = "chaos-out"
GROUP = "chaos-consumers"
TXN_GROUP = "chaos-txn"

# Broker error codes that say an operation certainly did not take effect.
# Anything else (time-outs, transport errors) leaves the outcome unknown.
DEFINITE = {
    KafkaError.REBALANCE_IN_PROGRESS, KafkaError.ILLEGAL_GENERATION, KafkaError.UNKNOWN_MEMBER_ID,
    KafkaError.TOPIC_ALREADY_EXISTS, KafkaError.UNKNOWN_TOPIC_OR_PART, KafkaError.INVALID_PARTITIONS,
    KafkaError.INVALID_CONFIG, KafkaError.INVALID_REQUEST, KafkaError.POLICY_VIOLATION,
    KafkaError.FENCED_INSTANCE_ID, KafkaError._NO_OFFSET, KafkaError.INVALID_REPLICATION_FACTOR,
}


_client_log = logging.getLogger("vltava_chaos.clients")
_client_log.propagate = False


def log_clients_to(path):
    """librdkafka's own log lines (connection refused while a node is down,
    and so on) go to this file instead of the terminal."""
    for h in list(_client_log.handlers):
        _client_log.removeHandler(h)
        h.close()
    handler = logging.FileHandler(path)
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
    _client_log.addHandler(handler)
    _client_log.setLevel(logging.INFO)


# The group protocol the group workers use: "classic" (JoinGroup and
# SyncGroup, the client's assignor) or "consumer" (KIP-848:
# ConsumerGroupHeartbeat, the broker assigns; session and heartbeat times
# are then the broker's group.consumer.* settings). Set by the CLI.
GROUP_PROTOCOL = "classic"


def group_conf():
    """A group member's protocol settings: short sessions either way, so
    that a member killed or paused is replaced within seconds."""
    if GROUP_PROTOCOL == "consumer":
        return {"group.protocol": "consumer"}
    return {"session.timeout.ms": 6000, "heartbeat.interval.ms": 500}


def base_conf(bootstrap):
    conf = {"bootstrap.servers": bootstrap, "logger": _client_log, "reconnect.backoff.max.ms": 1000}
    if os.environ.get("VLTAVA_CHAOS_CLIENT_DEBUG"):  # e.g. "eos,protocol": librdkafka's debug contexts
        conf["debug"] = os.environ["VLTAVA_CHAOS_CLIENT_DEBUG"]
    return conf


def _error(e):
    err = e.args[0] if isinstance(e, KafkaException) and e.args else e
    if isinstance(err, KafkaError):
        return err.code(), err.name()
    return None, str(err)


def _outcome(e):
    code, _ = _error(e)
    return "fail" if code in DEFINITE else "info"


class Worker(threading.Thread):
    def __init__(self, name, history, stop, seed):
        super().__init__(name=name, daemon=True)
        self.history = history
        self.stop_event = stop
        self.rng = random.Random(f"{name}-{seed}")
        self.error = None

    def run(self):
        try:
            self.work()
        except Exception as e:  # a crashed worker is a harness failure, reported by the run
            self.error = f"{type(e).__name__}: {e}"
            self.history.add(self.name, "info", "error", value=self.error)


def owned(consumer, messages, history=None, name=None):
    """The messages of a consume() batch whose partitions are still assigned.
    librdkafka runs rebalance callbacks inside consume(), and messages it had
    already collected can come back after their partition was revoked and
    handed to another member: an application that processes (or commits)
    those acts on data it no longer owns (found by the transactional
    workload: inputs processed twice)."""
    errors = [m for m in messages if m.error()]
    if history is not None:
        for m in errors:  # e.g. an offset reset: worth seeing next to the reads
            history.add(name, "info", "consume-error", topic=m.topic(), partition=m.partition(),
                        offset=m.offset(), error=m.error().name(), text=m.error().str())
    messages = [m for m in messages if not m.error()]
    if not messages:
        return messages
    assigned = {(tp.topic, tp.partition) for tp in consumer.assignment()}
    return [m for m in messages if (m.topic(), m.partition()) in assigned]


class LivesWorker(Worker):
    """A worker whose clients live one life after another, each under a new
    process name ("consumer-0.3"), as a restarted application would."""

    def work(self):
        gen = 0
        while not self.stop_event.is_set():
            self.life(f"{self.name}.{gen}")
            gen += 1

    def life(self, name):
        raise NotImplementedError


class ProducerWorker(Worker):
    def __init__(self, idx, bootstrap, history, stop, seed, rate, acks, idempotence, keys=16,
                 drain_s=60.0):
        super().__init__(f"producer-{idx}", history, stop, seed)
        self.idx = idx
        self.rate = rate
        self.keys = keys
        self.drain_s = drain_s
        self.conf = {
            **base_conf(bootstrap),
            "acks": acks,
            "enable.idempotence": idempotence,
            "linger.ms": 5,
            "request.timeout.ms": 5000,
            "message.timeout.ms": 60000,
            "retry.backoff.ms": 100,
            "topic.metadata.refresh.interval.ms": 2000,
        }

    def work(self):
        name = self.name
        producer = Producer(self.conf)

        def delivered(err, msg):
            value = msg.value().decode()
            if err is None:
                self.history.add(name, "ok", "produce", topic=msg.topic(), value=value,
                                 partition=msg.partition(), offset=msg.offset())
            else:
                self.history.add(name, "info", "produce", topic=msg.topic(), value=value,
                                 partition=msg.partition(), error=err.name())

        seq = 0
        interval = 1.0 / self.rate
        next_at = time.monotonic()
        while not self.stop_event.is_set():
            value = f"{self.idx}-{seq}"
            seq += 1
            key = f"k{self.rng.randrange(self.keys)}"
            self.history.add(name, "invoke", "produce", topic=MAIN_TOPIC, value=value, key=key)
            try:
                producer.produce(MAIN_TOPIC, value=value.encode(), key=key.encode(), on_delivery=delivered)
            except (BufferError, KafkaException) as e:
                # Refused by the client before anything was sent.
                self.history.add(name, "fail", "produce", topic=MAIN_TOPIC, value=value, error=_error(e)[1])
            next_at += interval
            while True:
                left = next_at - time.monotonic()
                producer.poll(max(0.0, min(left, 0.05)))
                if left <= 0:
                    break
            if time.monotonic() - next_at > 1.0:
                next_at = time.monotonic()  # fell behind (a long poll): do not burst to catch up
        # Drain: what is still queued gets until drain_s to be delivered,
        # then is purged (its callback reports it, outcome unknown).
        producer.flush(self.drain_s)
        producer.purge()
        producer.flush(5)


class ConsumerWorker(LivesWorker):
    """Consumers of one group, one after another under new names: each life
    lasts a seeded while, then ends with a commit and close, or abruptly
    (close without committing what it read since its last commit)."""

    def __init__(self, idx, bootstrap, history, stop, seed, group=GROUP, topics=(MAIN_TOPIC,),
                 isolation="read_uncommitted", life_s=(8.0, 25.0)):
        super().__init__(f"consumer-{idx}", history, stop, seed)
        self.idx = idx
        self.bootstrap = bootstrap
        self.group = group
        self.topics = list(topics)
        self.isolation = isolation
        self.life_s = life_s
        self.restarts = threading.Event()  # cleared: last life runs until stop
        self.restarts.set()

    def life(self, name):
        history = self.history
        processed = {}  # (topic, partition) -> next offset to read
        committed = {}

        pending_async = {}  # offsets (as JSON) -> when their async commit was invoked

        def record_commit(err, partitions):
            offsets = {}
            for tp in partitions or []:
                if tp.offset >= 0:
                    offsets.setdefault(tp.topic, {})[str(tp.partition)] = tp.offset
            invoked = pending_async.pop(json.dumps(offsets, sort_keys=True), None)
            if invoked is None:
                return  # a synchronous commit: recorded where it returned
            failed = err is not None or any(tp.error is not None for tp in partitions or [])
            if not failed:
                history.add(name, "ok", "commit", group=self.group, offsets=offsets, mode="async",
                            invoked=invoked)
                for t, parts in offsets.items():
                    for p, o in parts.items():
                        committed[(t, int(p))] = o
            else:
                history.add(name, "info", "commit", group=self.group, offsets=offsets, mode="async",
                            error=err.name() if err is not None else "partition error", invoked=invoked)

        conf = {
            **base_conf(self.bootstrap),
            "group.id": self.group,
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "isolation.level": self.isolation,
            **group_conf(),
            "max.poll.interval.ms": 60000,
            "topic.metadata.refresh.interval.ms": 2000,
            "on_commit": record_commit,
        }
        consumer = Consumer(conf)
        history.add(name, "ok", "open", group=self.group, isolation=self.isolation)

        def commit(mode, assigned=None, inside_callback=False):
            """`assigned`: the partitions still owned, when known (inside a
            rebalance callback they must be given: consumer.assignment()
            there, during close(), waits for the thread it runs on, holding
            the GIL, and freezes every thread of the harness)."""
            if assigned is None:
                assigned = {(tp.topic, tp.partition) for tp in consumer.assignment()}
            todo = {tp: o for tp, o in processed.items() if committed.get(tp) != o and tp in assigned}
            if not todo:
                return
            offsets = {}
            for (t, p), o in todo.items():
                offsets.setdefault(t, {})[str(p)] = o
            tps = [TopicPartition(t, p, o) for (t, p), o in todo.items()]
            invoked = history.add(name, "invoke", "commit", group=self.group, offsets=offsets, mode=mode)["t"]
            if mode == "async":
                pending_async[json.dumps(offsets, sort_keys=True)] = invoked
                consumer.commit(offsets=tps, asynchronous=True)  # completes in record_commit
                return
            try:
                if inside_callback:
                    result = consumer.commit(offsets=tps, asynchronous=False)
                else:
                    # librdkafka's synchronous commit has no timeout of its
                    # own, and was seen to never return after its
                    # coordinator was killed: the worker is restarted then.
                    result = bounded(lambda: consumer.commit(offsets=tps, asynchronous=False),
                                     COMMIT_HANG_S, (consumer,))
            except Hung as e:
                history.add(name, "info", "commit", group=self.group, offsets=offsets, mode=mode,
                            error=f"hung: {e}", invoked=invoked)
                history.add(name, "info", "hung", error=f"commit: {e}")
                raise
            except KafkaException as e:
                history.add(name, _outcome(e), "commit", group=self.group, offsets=offsets, mode=mode,
                            error=_error(e)[1], invoked=invoked)
                return
            bad = [tp for tp in result or [] if tp.error is not None]
            if bad:
                history.add(name, "info", "commit", group=self.group, offsets=offsets, mode=mode,
                            error=str(bad[0].error), invoked=invoked)
            else:
                history.add(name, "ok", "commit", group=self.group, offsets=offsets, mode=mode, invoked=invoked)
                committed.update(todo)

        def on_assign(c, partitions):
            history.add(name, "ok", "assign", partitions=[[tp.topic, tp.partition] for tp in partitions])

        def on_revoke(c, partitions):
            commit("sync", assigned={(tp.topic, tp.partition) for tp in partitions}, inside_callback=True)
            for tp in partitions:
                processed.pop((tp.topic, tp.partition), None)
            history.add(name, "ok", "revoke", partitions=[[tp.topic, tp.partition] for tp in partitions])

        def on_lost(c, partitions):
            for tp in partitions:
                processed.pop((tp.topic, tp.partition), None)
            history.add(name, "ok", "revoke", lost=True,
                        partitions=[[tp.topic, tp.partition] for tp in partitions])

        consumer.subscribe(self.topics, on_assign=on_assign, on_revoke=on_revoke, on_lost=on_lost)
        ends_at = time.monotonic() + self.rng.uniform(*self.life_s)
        next_commit = time.monotonic() + self.rng.uniform(0.2, 1.0)
        clean = False
        hung = False
        try:
            while not self.stop_event.is_set():
                if self.restarts.is_set() and time.monotonic() >= ends_at:
                    break
                batch = consumer.consume(num_messages=200, timeout=0.2)
                for msg in owned(consumer, batch, history, name):
                    history.add(name, "ok", "poll", topic=msg.topic(), partition=msg.partition(),
                                offset=msg.offset(), value=msg.value().decode())
                    processed[(msg.topic(), msg.partition())] = msg.offset() + 1
                if time.monotonic() >= next_commit:
                    commit("sync" if self.rng.random() < 0.5 else "async")
                    next_commit = time.monotonic() + self.rng.uniform(0.2, 1.0)
            clean = self.stop_event.is_set() or self.rng.random() < 0.7
            if clean:
                commit("sync")
        except Hung:
            hung = True  # abandoned (bounded() keeps it referenced); a new life begins
        finally:
            if hung:
                return
            try:
                bounded(consumer.close, 60, (consumer,))
                history.add(name, "ok", "close", clean=clean)
            except Hung as e:
                history.add(name, "info", "hung", error=f"close: {e}")


class CommittedMonitor(Worker):
    """Reads the groups' committed offsets once a second (OffsetFetch from a
    client that is not a member)."""

    def __init__(self, bootstrap, history, stop, seed, groups, topics):
        super().__init__("monitor", history, stop, seed)
        self.bootstrap = bootstrap
        self.groups = groups
        self.topics = topics
        self.latest = {}

    def read(self, group, timeout=5):
        c = Consumer({**base_conf(self.bootstrap), "group.id": group, "enable.auto.commit": False})
        try:
            meta = c.list_topics(timeout=timeout)
            tps = [TopicPartition(t, p) for t in self.topics if t in meta.topics
                   for p in meta.topics[t].partitions]
            offsets = {}
            for tp in c.committed(tps, timeout=timeout):
                if tp.error is None and tp.offset >= 0:
                    offsets.setdefault(tp.topic, {})[str(tp.partition)] = tp.offset
            return offsets
        finally:
            c.close()

    def work(self):
        while not self.stop_event.wait(1.0):
            for group in self.groups:
                invoked = self.history.now()
                try:
                    offsets = self.read(group)
                except KafkaException:
                    continue
                self.latest[group] = offsets
                self.history.add("monitor", "ok", "committed", group=group, offsets=offsets, invoked=invoked)


# How long a synchronous offset commit may take before the consumer is
# given up as hung (librdkafka's own request timeout is 30 s, its retries
# come on top).
COMMIT_HANG_S = 40.0


class Hung(Exception):
    """A client call that did not return long after its own timeout."""


# Clients abandoned because a call of theirs hung: kept referenced so that
# no destructor (which would wait for the stuck call) ever runs; the harness
# leaves with os._exit.
_abandoned = []


def bounded(call, timeout, clients):
    """Runs a blocking librdkafka call with a watchdog. librdkafka 2.12's
    send_offsets_to_transaction() can block past its own timeout when the
    group coordinator went away (librdkafka issues 5456 and 5511), and a
    consumer's close() waits for a rebalance that such a stuck member holds
    up. An application would be restarted; so is the worker: Hung is raised
    and the clients are abandoned."""
    result = {}

    def target():
        try:
            result["value"] = call()
        except BaseException as e:  # handed to the caller below
            result["error"] = e

    t = threading.Thread(target=target, daemon=True)
    t.start()
    t.join(timeout)
    if t.is_alive():
        _abandoned.extend(clients)
        raise Hung(f"client call still blocked after {timeout:g} s")
    if "error" in result:
        raise result["error"]
    return result.get("value")


class TxnWorker(LivesWorker):
    """Read-process-write with exactly-once semantics (KIP-447 style: the
    consumer's group metadata goes with the offsets)."""

    API_TIMEOUT_S = 15
    WATCHDOG_S = 45  # well past API_TIMEOUT_S: only a call that ignores its timeout trips it

    def __init__(self, idx, bootstrap, history, stop, seed, abort_ratio=0.2, out_partitions=4):
        super().__init__(f"txn-{idx}", history, stop, seed)
        self.idx = idx
        self.bootstrap = bootstrap
        self.abort_ratio = abort_ratio
        self.out_partitions = out_partitions
        self.count = 0

    def life(self, name):
        history = self.history
        producer = Producer({
            **base_conf(self.bootstrap),
            "transactional.id": f"chaos-txn-{self.idx}",
            "transaction.timeout.ms": 15000,
            "message.timeout.ms": 15000,
            "request.timeout.ms": 5000,
        })
        consumer = Consumer({
            **base_conf(self.bootstrap),
            "group.id": TXN_GROUP,
            "enable.auto.commit": False,
            # Never reset: the group's offsets are committed (at 0) before
            # the workers start, so a reset can only be librdkafka 2.12's
            # bug: an OffsetFetch answered UNSTABLE_OFFSET_COMMIT after the
            # assignment changed puts the partition back with an invalid
            # offset instead of "stored" (rd_kafka_assignment_apply_offsets),
            # and it starts from auto.offset.reset, reprocessing what
            # committed transactions already processed. With "error" the
            # worker sees it and starts a new life from the committed offsets.
            "auto.offset.reset": "error",
            "isolation.level": "read_committed",
            **group_conf(),
            # A member whose thread is stuck in a hung call leaves the group
            # after this, instead of holding every rebalance for 5 minutes.
            "max.poll.interval.ms": 20000,
        })
        clients = (producer, consumer)
        hung = False
        try:
            try:
                bounded(lambda: producer.init_transactions(30), self.WATCHDOG_S, clients)
            except KafkaException as e:
                history.add(name, "info", "init", error=_error(e)[1])
                time.sleep(1)
                return
            history.add(name, "ok", "open", group=TXN_GROUP, isolation="read_committed")
            consumer.subscribe([MAIN_TOPIC])
            while not self.stop_event.is_set():
                batch = consumer.consume(num_messages=50, timeout=0.3)
                msgs = owned(consumer, batch, history, name)
                if any(m.error() and m.error().code() == KafkaError._AUTO_OFFSET_RESET for m in batch):
                    return  # see auto.offset.reset above: a new consumer asks for the committed offsets

                if not msgs:
                    continue
                if not self.transaction(name, producer, consumer, msgs):
                    return  # start a new life: new producer and consumer
        except Hung as e:
            hung = True
            history.add(name, "info", "hung", error=str(e))
        finally:
            if not hung:
                try:
                    bounded(consumer.close, self.WATCHDOG_S, clients)
                except Hung as e:
                    history.add(name, "info", "hung", error=f"close: {e}")
            history.add(name, "ok", "close")

    def transaction(self, name, producer, consumer, msgs):
        """One transaction; False when the clients must be replaced."""
        history = self.history
        txn_id = f"{name}/{self.count}"
        self.count += 1
        inputs = [[m.topic(), m.partition(), m.offset()] for m in msgs]
        outputs = [[m.partition() % self.out_partitions, f"{txn_id}|{m.value().decode()}"] for m in msgs]
        action = "abort" if self.rng.random() < self.abort_ratio else "commit"
        first = {}
        positions = {}
        for m in msgs:
            first.setdefault((m.topic(), m.partition()), m.offset())
            positions[(m.topic(), m.partition())] = m.offset() + 1
        history.add(name, "invoke", "txn", txn=txn_id, topic=TXN_OUTPUT_TOPIC, group=TXN_GROUP, inputs=inputs,
                    outputs=outputs, action=action)
        clients = (producer, consumer)
        timeout = self.API_TIMEOUT_S

        def run():
            producer.begin_transaction()
            for p, v in outputs:
                producer.produce(TXN_OUTPUT_TOPIC, value=v.encode(), partition=p)
            producer.send_offsets_to_transaction(
                [TopicPartition(t, p, o) for (t, p), o in positions.items()],
                consumer.consumer_group_metadata(), timeout)
            if action == "abort":
                producer.abort_transaction(timeout)
            else:
                producer.commit_transaction(timeout)

        try:
            bounded(run, self.WATCHDOG_S, clients)
            history.add(name, "ok", "txn", txn=txn_id, outcome="aborted" if action == "abort" else "committed")
        except Hung as e:
            history.add(name, "info", "txn", txn=txn_id, error=str(e))
            raise
        except KafkaException as e:
            code, text = _error(e)
            err = e.args[0] if e.args else None
            if isinstance(err, KafkaError) and err.txn_requires_abort():
                try:
                    bounded(lambda: producer.abort_transaction(timeout), self.WATCHDOG_S, clients)
                    history.add(name, "ok", "txn", txn=txn_id, outcome="aborted", error=text)
                except KafkaException as e2:
                    history.add(name, "info", "txn", txn=txn_id, error=f"{text}; abort: {_error(e2)[1]}")
                    return False
                except Hung as e2:
                    history.add(name, "info", "txn", txn=txn_id, error=f"{text}; abort: {e2}")
                    raise
            else:
                history.add(name, "info", "txn", txn=txn_id, error=text)
                return False
            action = "abort"
        if action == "abort":
            # Read the batch again: its offsets were not committed.
            for (t, p), o in first.items():
                try:
                    consumer.seek(TopicPartition(t, p, o))
                except KafkaException:
                    return False  # no longer assigned: a new life starts from the committed offsets
        return True


class AdminWorker(Worker):
    def __init__(self, idx, bootstrap, history, stop, seed, pace_s=(0.5, 2.0), replication=1, configs=None):
        super().__init__(f"admin-{idx}", history, stop, seed)
        self.admin = AdminClient(base_conf(bootstrap))
        self.replication = replication
        self.configs = dict(configs or {})
        self.pace_s = pace_s
        self.live = {}  # topic -> partitions, as far as this worker knows
        self.count = 0

    def op(self, op, topic, call, **fields):
        self.history.add(self.name, "invoke", "admin", op=op, topic=topic, **fields)
        try:
            call()
        except concurrent.futures.TimeoutError:
            self.history.add(self.name, "info", "admin", op=op, topic=topic, error="timed out", **fields)
            return False
        except KafkaException as e:
            outcome = _outcome(e)
            if op == "delete" and _error(e)[0] == KafkaError.UNKNOWN_TOPIC_OR_PART:
                outcome = "info"  # a retried delete that had already taken effect answers this too
            self.history.add(self.name, outcome, "admin", op=op, topic=topic, error=_error(e)[1], **fields)
            return False
        self.history.add(self.name, "ok", "admin", op=op, topic=topic, **fields)
        return True

    def work(self):
        while not self.stop_event.wait(self.rng.uniform(*self.pace_s)):
            choice = self.rng.random()
            if not self.live or choice < 0.35:
                topic = f"chaos-admin-{self.name}-{self.count}"
                self.count += 1
                n = self.rng.randint(1, 3)
                if self.op("create", topic, lambda: self.admin.create_topics(
                        [NewTopic(topic, n, self.replication, config=self.configs)],
                        request_timeout=10)[topic].result(15), partitions=n):
                    self.live[topic] = n
            else:
                topic = self.rng.choice(sorted(self.live))
                if choice < 0.6:
                    n = self.live[topic] + 1
                    if self.op("add-partitions", topic, lambda: self.admin.create_partitions(
                            [NewPartitions(topic, n)], request_timeout=10)[topic].result(15), partitions=n):
                        self.live[topic] = n
                elif choice < 0.8:
                    ms = str(self.rng.randint(60_000, 600_000))
                    res = ConfigResource(ConfigResource.Type.TOPIC, topic, set_config={"retention.ms": ms})
                    self.op("alter-config", topic, lambda: self.admin.alter_configs(
                        [res], request_timeout=10)[res].result(15), config={"retention.ms": ms})
                else:
                    self.live.pop(topic)
                    self.op("delete", topic, lambda: self.admin.delete_topics(
                        [topic], request_timeout=10)[topic].result(15))


def commit_initial_offsets(bootstrap, group, topic, partitions, timeout=30):
    """Commits offset 0 for every partition of `topic` for `group`, so its
    members never need auto.offset.reset."""
    c = Consumer({**base_conf(bootstrap), "group.id": group, "enable.auto.commit": False})
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                c.commit(offsets=[TopicPartition(topic, p, 0) for p in range(partitions)], asynchronous=False)
                return
            except KafkaException:
                if time.monotonic() > deadline:
                    raise
                time.sleep(1)
    finally:
        c.close()


def create_topics(bootstrap, topics, replication=1, configs=None, timeout=60):
    """Creates {name: partitions}, retrying while the brokers are starting
    (a cluster may not have every broker registered yet)."""
    admin = AdminClient(base_conf(bootstrap))
    deadline = time.monotonic() + timeout
    pending = dict(topics)
    while pending:
        futures = admin.create_topics([NewTopic(t, n, replication, config=dict(configs or {}))
                                       for t, n in pending.items()], request_timeout=10)
        for t, f in futures.items():
            try:
                f.result(15)
                pending.pop(t)
            except KafkaException as e:
                if _error(e)[0] == KafkaError.TOPIC_ALREADY_EXISTS:
                    pending.pop(t)
        if pending:
            if time.monotonic() > deadline:
                raise RuntimeError(f"could not create topics {sorted(pending)}")
            time.sleep(1)


def topic_partitions(bootstrap, timeout=10):
    admin = AdminClient(base_conf(bootstrap))
    meta = admin.list_topics(timeout=timeout)
    return {t: {"partitions": len(m.partitions)} for t, m in meta.topics.items()
            if not t.startswith("__") and m.error is None}


def read_all(bootstrap, topic, isolation, timeout=90):
    """Every record of every partition of `topic` from its start up to the
    high watermark (for read_committed: until the position reaches it, so a
    transaction left open must first be ended by its timeout):
    {partition: [[offset, value], ...]}."""
    c = Consumer({
        **base_conf(bootstrap),
        "group.id": f"chaos-final-{time.monotonic_ns()}",
        "enable.auto.commit": False,
        "isolation.level": isolation,
        "enable.partition.eof": True,
    })
    try:
        meta = c.list_topics(topic, timeout=10)
        parts = sorted(meta.topics[topic].partitions)
        tps = [TopicPartition(topic, p, OFFSET_BEGINNING) for p in parts]
        highs = {p: c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in parts}
        c.assign(tps)
        rows = {str(p): [] for p in parts}
        done = {p for p in parts if highs[p] == 0}
        deadline = time.monotonic() + timeout
        while len(done) < len(parts):
            if time.monotonic() > deadline:
                raise RuntimeError(f"final read of {topic} ({isolation}) did not reach the end in {timeout} s")
            for msg in c.consume(num_messages=500, timeout=0.5):
                if msg.error():
                    if msg.error().code() == KafkaError._PARTITION_EOF:
                        if msg.offset() >= highs[msg.partition()]:
                            done.add(msg.partition())
                    continue
                rows[str(msg.partition())].append([msg.offset(), msg.value().decode()])
            for p in parts:
                if p not in done:
                    pos = c.position([TopicPartition(topic, p)])[0].offset
                    if pos >= highs[p]:
                        done.add(p)
        return rows
    finally:
        c.close()


def leaders(bootstrap, topic, partition=0):
    """{"partition": the node (index) leading `topic`'s `partition`,
    "controller": the node the cluster names its controller}, from the
    metadata (None where unknown). Node ids start at 1, indexes at 0."""
    admin = AdminClient(base_conf(bootstrap))
    meta = admin.list_topics(topic, timeout=5)
    part = meta.topics[topic].partitions.get(partition) if topic in meta.topics else None
    leader = part.leader if part is not None and part.leader >= 0 else None
    controller = meta.controller_id if meta.controller_id >= 0 else None
    return {"partition": None if leader is None else leader - 1,
            "controller": None if controller is None else controller - 1}


def end_offsets(bootstrap, topic):
    c = Consumer({**base_conf(bootstrap), "group.id": "chaos-watermarks"})
    try:
        meta = c.list_topics(topic, timeout=10)
        return {p: c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
                for p in meta.topics[topic].partitions}
    finally:
        c.close()


__all__ = ["ProducerWorker", "ConsumerWorker", "CommittedMonitor", "TxnWorker", "AdminWorker",
           "create_topics", "topic_partitions", "read_all", "end_offsets", "leaders"]
