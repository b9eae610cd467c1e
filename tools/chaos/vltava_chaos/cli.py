"""tools/chaos/run: run Vltava under faults and check what the clients saw.

  tools/chaos/run [run] [--seed N] [--runs N] [--duration S] [--nodes 1|3|5]
                  [--workload producer,consumer,txn,admin]
                  [--nemesis kill,pause,disk-full,restart,clock,isolate,
                             partition,bridge,isolate-leader,reconfigure]
                  [--quorum static|dynamic] [--elr] [--acks all|1]
                  [--no-idempotence] [--out DIR] [--bin PATH]
  tools/chaos/run check RUN_DIR      re-check a stored history
  tools/chaos/run summarize DIR...   Markdown tables of the runs under each DIR, and per fault

Exit status: 0 when every run is valid, 1 when any run found a violation or
failed, 2 for bad arguments.
"""

import argparse
import datetime
import faulthandler
import json
import os
import shlex
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path

from . import checker, cluster_tools, report
from .history import History, load
from .nemesis import CLUSTER_FAULTS, DYNAMIC_QUORUM_FAULTS, FAULTS, Nemesis, Step, schedule
from .network import TestNetwork
from .node import Node

REPO = Path(__file__).resolve().parents[3]
WORKLOADS = ("producer", "consumer", "txn", "admin")


def _list(value, allowed, what):
    items = [v for v in value.split(",") if v] if value else []
    for v in items:
        if v not in allowed:
            raise argparse.ArgumentTypeError(f"unknown {what} {v}; choose from {', '.join(allowed)}")
    return items


def parse(argv):
    p = argparse.ArgumentParser(prog="tools/chaos/run", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("command", nargs="?", default="run", choices=("run", "check", "summarize"))
    p.add_argument("run_dir", nargs="*", help="with check: a run's directory; with summarize: directories "
                   "holding runs (seed-N/report.json)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--runs", type=int, default=1, help="runs with seeds seed, seed+1, ...")
    p.add_argument("--duration", type=float, default=60.0, help="seconds of workload under faults")
    p.add_argument("--nodes", type=int, default=1,
                   help="1, or a cluster: every node a broker and a quorum voter, topics with replication "
                   "factor min(3, nodes) and min.insync.replicas 2")
    p.add_argument("--workload", default="producer,consumer",
                   type=lambda v: _list(v, WORKLOADS, "workload"))
    p.add_argument("--nemesis", default="kill", type=lambda v: _list(v, FAULTS, "fault"))
    p.add_argument("--quorum", default="static", choices=("static", "dynamic"),
                   help="a cluster's metadata quorum: voters fixed in every node's controller.quorum.voters, "
                   "or a dynamic quorum (KIP-853) bootstrapped with --initial-controllers, whose voters "
                   "the reconfigure fault changes")
    p.add_argument("--elr", action="store_true",
                   help="turn eligible leader replicas (KIP-966) on once the nodes are up")
    p.add_argument("--group-protocol", default="classic", choices=("classic", "consumer"),
                   help="the consumer and transactional workers' group protocol: classic, or "
                        "consumer (KIP-848, the broker assigns)")
    p.add_argument("--acks", default="all", choices=("all", "1"))
    p.add_argument("--no-idempotence", dest="idempotence", action="store_false")
    p.add_argument("--producers", type=int, default=2)
    p.add_argument("--consumers", type=int, default=2)
    p.add_argument("--rate", type=float, default=150.0, help="records per second per producer")
    p.add_argument("--partitions", type=int, default=4)
    p.add_argument("--disk-mb", type=int, default=256, help="size of the node's tmpfs for disk-full")
    p.add_argument("--liveness", type=float, default=checker.DEFAULT_LIVENESS_S,
                   help="seconds the system may take to recover after the last fault")
    p.add_argument("--broker-set", action="append", default=[], metavar="KEY=VALUE",
                   help="a broker setting for every node (repeatable), after the harness's own")
    p.add_argument("--out", default=None, help="where runs are written (default: a temp dir)")
    p.add_argument("--bin", default=os.environ.get("VLTAVA_BIN", str(REPO / "target" / "debug" / "vltava")))
    args = p.parse_args(argv)
    if args.nodes < 1:
        p.error("--nodes must be at least 1")
    for fault in args.nemesis:
        if args.nodes < CLUSTER_FAULTS.get(fault, 1):
            p.error(f"fault {fault} is between nodes: it needs --nodes {CLUSTER_FAULTS[fault]} or more")
        if fault in DYNAMIC_QUORUM_FAULTS and args.quorum != "dynamic":
            p.error(f"fault {fault} changes the quorum's voters: it needs --quorum dynamic")
    if args.quorum == "dynamic" and args.nodes < 2:
        p.error("--quorum dynamic is for a cluster (--nodes 2 or more)")
    if args.acks == "1" and args.idempotence:
        args.idempotence = False  # librdkafka's idempotence needs acks=all
    return args


def replay_command(args, seed):
    parts = ["tools/chaos/run", "--seed", str(seed), "--runs", "1", "--duration", f"{args.duration:g}",
             "--nodes", str(args.nodes),
             "--workload", ",".join(args.workload), "--nemesis", ",".join(args.nemesis) or "''",
             "--acks", args.acks, "--producers", str(args.producers), "--consumers", str(args.consumers),
             "--rate", f"{args.rate:g}", "--partitions", str(args.partitions)]
    if not args.idempotence:
        parts.append("--no-idempotence")
    if args.quorum != "static":
        parts += ["--quorum", args.quorum]
    if args.elr:
        parts.append("--elr")
    if args.group_protocol != "classic":
        parts += ["--group-protocol", args.group_protocol]
    for setting in args.broker_set:
        parts += ["--broker-set", setting]
    return " ".join(shlex.quote(p) if p != "''" else p for p in parts)


def _join(threads, timeout, errors):
    """Waits for workers to stop; one that does not is a harness error
    (with its stack, so that a client call that hangs can be found)."""
    deadline = time.monotonic() + timeout
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()))
        if t.is_alive():
            frame = sys._current_frames().get(t.ident)
            stack = "".join(traceback.format_stack(frame)[-4:]) if frame else "?"
            errors.append(f"{t.name} did not stop within {timeout} s:\n{stack}")


def _read_committed_offsets(monitor, group, within_s=60):
    """The group's committed offsets at the end; retried while a transaction
    left open by a worker that was restarted still holds offsets pending
    (its transaction timeout ends it)."""
    from confluent_kafka import KafkaException

    deadline = time.monotonic() + within_s
    while True:
        try:
            return monitor.read(group)
        except KafkaException:
            if time.monotonic() > deadline:
                raise
            time.sleep(1)


def _cluster_id(binary):
    """A Kafka cluster id, as `kafka-storage random-uuid` draws one: never
    starting with '-', which a command line would read as an option (a
    run whose id did so failed to format its nodes)."""
    return _random_uuid(binary)


def _random_uuid(binary):
    """A directory id as Kafka draws them (`vltava storage random-uuid`)."""
    out = subprocess.run([binary, "storage", "random-uuid"], capture_output=True, text=True, check=True)
    return out.stdout.strip()


def run_once(args, seed, run_dir):
    from . import workloads as w  # confluent-kafka is needed only to run, not to check

    run_dir.mkdir(parents=True, exist_ok=True)
    w.log_clients_to(run_dir / "clients.log")
    options = {"seed": seed, "duration": args.duration, "nodes": args.nodes, "workload": args.workload,
               "nemesis": args.nemesis, "acks": args.acks, "idempotence": args.idempotence,
               "producers": args.producers, "consumers": args.consumers, "rate": args.rate,
               "partitions": args.partitions, "liveness_s": args.liveness, "quorum": args.quorum,
               "elr": args.elr, "group_protocol": args.group_protocol,
               "replay": replay_command(args, seed)}
    plan = schedule(seed, args.duration, args.nemesis, args.nodes)
    options["schedule"] = [step._asdict() for step in plan]
    history = History(run_dir / "history.jsonl")
    options["started_at"] = datetime.datetime.fromtimestamp(history.started_wall, datetime.timezone.utc).isoformat()
    # Small segments rolled every few seconds, so that faults meet rolls.
    # Members of KIP-848 groups heartbeat as often and time out as soon as
    # the classic members (whose clients set it themselves).
    # Every topic is created by the harness: a client left over from an
    # earlier run (a worker stuck in a hung librdkafka call cannot be
    # stopped) must not create one with the default partition count.
    settings = ["auto.create.topics.enable=false",
                "log.segment.bytes=1048576", "log.roll.ms=4000", "group.initial.rebalance.delay.ms=0",
                "transaction.state.log.segment.bytes=1048576",
                "group.consumer.session.timeout.ms=6000",
                "group.consumer.heartbeat.interval.ms=500"] + args.broker_set
    w.GROUP_PROTOCOL = args.group_protocol
    cluster = args.nodes > 1
    replication = min(3, args.nodes)
    topic_configs = {"min.insync.replicas": "2"} if replication >= 3 else {}
    if cluster:
        # Replicated internal topics, and a follower that stops fetching
        # leaves the ISR after 5 s (Kafka: 30 s) so that faults of a few
        # seconds reach ISR changes and leader elections.
        settings = [f"offsets.topic.replication.factor={replication}",
                    f"transaction.state.log.replication.factor={replication}",
                    f"transaction.state.log.min.isr={min(2, replication)}",
                    f"default.replication.factor={replication}", "replica.lag.time.max.ms=5000"] + settings
    errors = []
    final = {}
    nodes = []
    network = None
    nemesis = None
    stop_faults = threading.Event()
    stop_producers = threading.Event()
    stop_consumers = threading.Event()
    stop_others = threading.Event()
    try:
        between_nodes = any(f in CLUSTER_FAULTS for f in args.nemesis)
        if cluster or between_nodes or "isolate" in args.nemesis:
            network = TestNetwork()
        hosts = [network.add_host(i) if network else None for i in range(args.nodes)]
        cluster_info = None
        if cluster:
            if network is None:
                raise RuntimeError("a cluster's nodes live on test hosts, which need root")
            cluster_info = {"id": _cluster_id(args.bin)}
            if args.quorum == "dynamic":
                dirs = [_random_uuid(args.bin) for _ in hosts]
                cluster_info.update({
                    "bootstrap_servers": ",".join(f"{h.address}:9092" for h in hosts),
                    "initial_controllers": ",".join(
                        f"{i + 1}@{h.address}:9092:{d}" for i, (h, d) in enumerate(zip(hosts, dirs))),
                    "directory_ids": dirs})
            else:
                cluster_info["voters"] = ",".join(f"{i + 1}@{h.address}:9092" for i, h in enumerate(hosts))
        for i in range(args.nodes):
            nodes.append(Node(args.bin, run_dir, i, settings,
                              disk_mb=args.disk_mb if "disk-full" in args.nemesis else None,
                              own_clock="clock" in args.nemesis, host=hosts[i], network=network,
                              cluster=cluster_info))
        for node in nodes:
            node.start()
        bootstrap = ",".join(n.bootstrap for n in nodes)
        if args.elr:
            cluster_tools.enable_elr(args.bin, bootstrap)
            history.add("setup", "info", "features", value="eligible.leader.replicas.version=1")
        topics = {w.MAIN_TOPIC: args.partitions}
        if "txn" in args.workload:
            topics[w.TXN_OUTPUT_TOPIC] = args.partitions
        w.create_topics(bootstrap, topics, replication, topic_configs)
        if "txn" in args.workload:
            w.commit_initial_offsets(bootstrap, w.TXN_GROUP, w.MAIN_TOPIC, args.partitions)

        producers, consumers, others = [], [], []
        if "producer" in args.workload or "txn" in args.workload:
            producers = [w.ProducerWorker(i, bootstrap, history, stop_producers, seed, args.rate, args.acks,
                                          args.idempotence) for i in range(args.producers)]
        if "consumer" in args.workload:
            consumers = [w.ConsumerWorker(i, bootstrap, history, stop_consumers, seed)
                         for i in range(args.consumers)]
        if "txn" in args.workload:
            others += [w.TxnWorker(i, bootstrap, history, stop_others, seed, out_partitions=args.partitions)
                       for i in range(2)]
        if "admin" in args.workload:
            others.append(w.AdminWorker(0, bootstrap, history, stop_others, seed, replication=replication,
                                        configs=topic_configs))
        groups = ([w.GROUP] if consumers else []) + ([w.TXN_GROUP] if "txn" in args.workload else [])
        monitor = w.CommittedMonitor(bootstrap, history, stop_others, seed, groups, [w.MAIN_TOPIC])
        voters = cluster_tools.QuorumVoters(args.bin, bootstrap) if args.quorum == "dynamic" else None
        nemesis = Nemesis(nodes, plan, history, stop_faults, network,
                          leaders=lambda: w.leaders(bootstrap, w.MAIN_TOPIC), origin=history.now(),
                          voters=voters)
        workers = producers + consumers + others + ([monitor] if groups else [])
        for t in workers:
            t.start()
        nemesis.start()

        time.sleep(args.duration)
        stop_faults.set()
        nemesis.join()
        if nemesis.error:
            errors.append(f"nemesis: {nemesis.error}")
        nemesis.heal_all()
        final["healed_at"] = nemesis.healed_at if nemesis.healed_at is not None else history.now()
        history.add("final", "info", "stop", value="producers")
        final["stopped_at"] = history.now()
        stop_producers.set()
        _join(producers, 120, errors)

        # Liveness: consumers stop restarting and get `liveness` seconds to
        # read everything that was produced.
        for c in consumers:
            c.restarts.clear()
        if consumers:
            ends = w.end_offsets(bootstrap, w.MAIN_TOPIC)
            deadline = time.monotonic() + args.liveness
            while time.monotonic() < deadline:
                got = monitor.latest.get(w.GROUP, {}).get(w.MAIN_TOPIC, {})
                if all(got.get(str(p), -1) >= end for p, end in ends.items()):
                    break
                time.sleep(0.5)
        history.add("final", "info", "stop", value="consumers")
        stop_consumers.set()
        _join(consumers, 60, errors)
        stop_others.set()
        _join(others + ([monitor] if groups else []), 60, errors)
        errors += [f"{t.name}: {t.error}" for t in workers if t.error]

        history.add("final", "invoke", "read")
        final["logs"] = {w.MAIN_TOPIC: w.read_all(bootstrap, w.MAIN_TOPIC, "read_uncommitted")}
        final["committed_reads"] = {w.MAIN_TOPIC: w.read_all(bootstrap, w.MAIN_TOPIC, "read_committed")}
        if "txn" in args.workload:
            final["logs"][w.TXN_OUTPUT_TOPIC] = w.read_all(bootstrap, w.TXN_OUTPUT_TOPIC, "read_uncommitted")
            final["committed_reads"][w.TXN_OUTPUT_TOPIC] = w.read_all(bootstrap, w.TXN_OUTPUT_TOPIC,
                                                                      "read_committed")
        final["committed_read_at"] = history.now()
        final["committed_offsets"] = {g: _read_committed_offsets(monitor, g) for g in groups}
        final["topics"] = w.topic_partitions(bootstrap)
        history.add("final", "ok", "read")
    except Exception as e:
        errors.append(f"{type(e).__name__}: {e}")
    finally:
        # Whatever happened (an error, SIGTERM): stop every thread that could
        # still touch the node, then the node, its mount and its namespace.
        for event in (stop_faults, stop_producers, stop_consumers, stop_others):
            event.set()
        if nemesis is not None:
            nemesis.join(30)
        for node in nodes:
            node.close()
        if network is not None:
            network.close()
        history.close()

    # The brokers' own word: a panic is a bug whatever the clients saw.
    for node in nodes:
        for line in node.log_text().splitlines():
            if "panicked" in line:
                errors.append(f"node {node.node_id} panicked: {line.strip()[:300]}")
                break
    (run_dir / "final.json").write_text(json.dumps(final) + "\n")
    (run_dir / "options.json").write_text(json.dumps(options, indent=2) + "\n")
    events = history.events
    options["expect_caught_up"] = bool(final.get("logs"))
    result = checker.check(events, final, options)
    return report.write(run_dir, result, options, plan, events, errors)


def check_stored(run_dir):
    run_dir = Path(run_dir)
    events = load(run_dir / "history.jsonl")
    final = json.loads((run_dir / "final.json").read_text())
    options = json.loads((run_dir / "options.json").read_text())
    result = checker.check(events, final, options)
    plan = [Step(**step) for step in options.get("schedule", [])]
    # What went wrong in the run itself (a worker that crashed, a panic)
    # is a fact of the run, not of the checkers: it stays.
    stored = run_dir / "report.json"
    errors = json.loads(stored.read_text()).get("harness_errors", []) if stored.exists() else []
    rep = report.write(run_dir, result, options, plan, events, errors)
    print(report.summary_text(rep))
    return 0 if rep["valid"] else 1


def _exit_on_sigterm(signum, frame):
    # Unwinds like Ctrl-C, so every node is stopped and unmounted on the way out.
    raise SystemExit(128 + signum)


def main(argv=None):
    args = parse(sys.argv[1:] if argv is None else argv)
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    faulthandler.register(signal.SIGUSR1)  # kill -USR1 prints every thread's stack
    if args.command == "check":
        if len(args.run_dir) != 1:
            print("check needs one run's directory", file=sys.stderr)
            return 2
        return check_stored(args.run_dir[0])
    if args.command == "summarize":
        print(report.table(args.run_dir))
        print()
        print(report.fault_table(args.run_dir))
        return 0
    if not Path(args.bin).exists():
        print(f"{args.bin} does not exist: build it (cargo build -p vltava) or pass --bin", file=sys.stderr)
        return 2
    out = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="vltava-chaos-"))
    failed = []
    for seed in range(args.seed, args.seed + args.runs):
        run_dir = out / f"seed-{seed}"
        rep = run_once(args, seed, run_dir)
        print(report.summary_text(rep))
        print(f"  history, report and plot: {run_dir}")
        if not rep["valid"]:
            failed.append(seed)
            print(f"  replay: {rep['options']['replay']}")
        sys.stdout.flush()
    print(f"runs written to {out}")
    print(f"chaos: {args.runs - len(failed)} passed, {len(failed)} failed")
    return 1 if failed else 0
