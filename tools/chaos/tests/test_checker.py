"""The checker checked: small hand-made histories, one clean and one per kind
of violation the harness must catch. Each planted fault must be reported,
with the right kind, and the clean history must pass."""

import copy
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vltava_chaos import checker  # noqa: E402

OPTIONS = {"acks": "all", "idempotence": True, "nodes": 1}


class H:
    """Builds a history with increasing timestamps."""

    def __init__(self):
        self.events = []

    def add(self, process, type_, f, **fields):
        e = {"t": len(self.events) * 0.01, "process": process, "type": type_, "f": f}
        e.update(fields)
        self.events.append(e)
        return self

    def produce(self, process, value, partition, offset, outcome="ok"):
        self.add(process, "invoke", "produce", topic="t", value=value, key="k")
        if outcome == "ok":
            self.add(process, "ok", "produce", topic="t", value=value, partition=partition, offset=offset)
        else:
            self.add(process, outcome, "produce", topic="t", value=value, error="x")
        return self


def clean():
    """Two producers, one consumer that restarts, commits, a committed and
    an aborted transaction: everything as it should be."""
    h = H()
    log = {"0": [], "1": []}
    for i in range(4):
        h.produce("producer-0", f"0-{i}", 0, i)
        log["0"].append([i, f"0-{i}"])
    for i in range(3):
        h.produce("producer-1", f"1-{i}", 1, i)
        log["1"].append([i, f"1-{i}"])
    h.add("consumer-0.0", "ok", "open", group="g", isolation="read_uncommitted")
    h.add("consumer-0.0", "ok", "assign", partitions=[["t", 0], ["t", 1]])
    for o in range(2):
        h.add("consumer-0.0", "ok", "poll", topic="t", partition=0, offset=o, value=f"0-{o}")
    h.add("consumer-0.0", "invoke", "commit", group="g", offsets={"t": {"0": 2}}, mode="sync")
    h.add("consumer-0.0", "ok", "commit", group="g", offsets={"t": {"0": 2}}, mode="sync")
    h.add("monitor", "ok", "committed", group="g", offsets={"t": {"0": 2}})
    h.add("consumer-0.0", "ok", "close", clean=True)
    h.add("consumer-0.1", "ok", "open", group="g", isolation="read_uncommitted")
    h.add("consumer-0.1", "ok", "assign", partitions=[["t", 0], ["t", 1]])
    for o in range(1, 4):  # reads 1 again: at least once, not a violation
        h.add("consumer-0.1", "ok", "poll", topic="t", partition=0, offset=o, value=f"0-{o}")
    for o in range(3):
        h.add("consumer-0.1", "ok", "poll", topic="t", partition=1, offset=o, value=f"1-{o}")
    h.add("consumer-0.1", "ok", "commit", group="g", offsets={"t": {"0": 4, "1": 3}}, mode="async")
    h.add("monitor", "ok", "committed", group="g", offsets={"t": {"0": 4, "1": 3}})
    h.add("txn-0.0", "invoke", "txn", txn="a", topic="out", group="gt", inputs=[["t", 0, 0]],
          outputs=[[0, "a|0-0"], [0, "a|0-1"]], action="commit")
    h.add("txn-0.0", "ok", "txn", txn="a", outcome="committed")
    h.add("txn-0.0", "invoke", "txn", txn="b", topic="out", inputs=[["t", 0, 1]],
          outputs=[[0, "b|0-1"]], action="abort")
    h.add("txn-0.0", "ok", "txn", txn="b", outcome="aborted")
    final = {
        "logs": {"t": log, "out": {"0": [[0, "a|0-0"], [1, "a|0-1"], [3, "b|0-1"]]}},
        "committed_reads": {"t": copy.deepcopy(log), "out": {"0": [[0, "a|0-0"], [1, "a|0-1"]]}},
        "committed_offsets": {"g": {"t": {"0": 4, "1": 3}}, "gt": {"t": {"0": 1}}},
        "topics": {"t": {"partitions": 2}, "out": {"partitions": 1}},
        "healed_at": 0.0,
        "stopped_at": 10.0,
    }
    return h, final


def kinds(result):
    return {(v["checker"], v["kind"]) for v in result["violations"] if v["promised"]}


def test_clean_history_is_valid():
    h, final = clean()
    result = checker.check(h.events, final, OPTIONS)
    assert result["valid"], result["violations"]
    assert result["stats"]["acknowledged"] == 7
    assert result["stats"]["consumed"] == 8


def test_lost_write_is_caught():
    h, final = clean()
    del final["logs"]["t"]["0"][2]  # acknowledged 0-2 at offset 2 is gone
    result = checker.check(h.events, final, OPTIONS)
    assert ("produce", "lost") in kinds(result)
    lost = [v for v in result["violations"] if v["kind"] == "lost"]
    assert lost[0]["value"] == "0-2" and lost[0]["offset"] == 2
    assert not result["valid"]


def test_duplicate_is_caught_and_promised_only_with_idempotence():
    h, final = clean()
    final["logs"]["t"]["1"].append([3, "1-2"])  # 1-2 appended twice
    result = checker.check(h.events, final, OPTIONS)
    assert ("produce", "duplicated") in kinds(result)
    loose = checker.check(h.events, final, {"acks": "1", "idempotence": False, "nodes": 1})
    dup = [v for v in loose["violations"] if v["kind"] == "duplicated"]
    assert dup and not dup[0]["promised"]


def test_an_acknowledgement_without_an_offset_is_checked_where_it_landed():
    """librdkafka's implicit acknowledgement (a later batch's success) has
    no offset: the record must still be there once, in order."""
    h, final = clean()
    for e in h.events:
        if e["type"] == "ok" and e["f"] == "produce" and e["value"] == "0-2":
            e["offset"] = None
    result = checker.check(h.events, final, OPTIONS)
    assert result["valid"], result["violations"]
    assert result["stats"]["acknowledged_without_offset"] == 1
    # Lost, duplicated or out of order, it is caught like any other.
    lost = copy.deepcopy(final)
    del lost["logs"]["t"]["0"][2]
    assert ("produce", "lost") in kinds(checker.check(h.events, lost, OPTIONS))
    twice = copy.deepcopy(final)
    twice["logs"]["t"]["0"].append([4, "0-2"])
    assert ("produce", "duplicated") in kinds(checker.check(h.events, twice, OPTIONS))
    swapped = copy.deepcopy(final)
    swapped["logs"]["t"]["0"][2:4] = [[2, "0-3"], [3, "0-2"]]
    assert ("produce", "reordered") in kinds(checker.check(h.events, swapped, OPTIONS))


def test_reordering_is_caught():
    h, final = clean()
    # producer-0's acknowledgements of 0-2 and 0-3 arrive in the wrong offset order.
    h = H()
    h.produce("producer-0", "0-0", 0, 0).produce("producer-0", "0-1", 0, 2).produce("producer-0", "0-2", 0, 1)
    final["logs"]["t"] = {"0": [[0, "0-0"], [1, "0-2"], [2, "0-1"]]}
    result = checker.check(h.events, final, OPTIONS)
    assert ("produce", "reordered") in kinds(result)


def test_moved_record_is_caught():
    h, final = clean()
    final["logs"]["t"]["0"][1][1], final["logs"]["t"]["0"][3][1] = "0-3", "0-1"
    result = checker.check(h.events, final, OPTIONS)
    assert ("produce", "moved") in kinds(result)


def test_phantom_and_refused_but_present_are_caught():
    h, final = clean()
    h.produce("producer-1", "1-9", None, None, outcome="fail")
    final["logs"]["t"]["1"] += [[3, "1-9"], [4, "nobody-sent-this"]]
    result = checker.check(h.events, final, OPTIONS)
    assert ("produce", "failed-but-present") in kinds(result)
    assert ("produce", "phantom") in kinds(result)


def test_unknown_outcome_may_land_or_not():
    h, final = clean()
    h.produce("producer-1", "1-7", None, None, outcome="info")
    h.produce("producer-1", "1-8", None, None, outcome="info")
    final["logs"]["t"]["1"].append([3, "1-7"])
    h.add("consumer-0.1", "ok", "poll", topic="t", partition=1, offset=3, value="1-7")
    result = checker.check(h.events, final, OPTIONS)
    assert result["valid"], result["violations"]
    assert result["stats"]["indeterminate"] == 2 and result["stats"]["indeterminate_present"] == 1


def test_aborted_read_is_caught():
    h, final = clean()
    final["committed_reads"]["out"]["0"].append([3, "b|0-1"])
    result = checker.check(h.events, final, OPTIONS)
    assert ("txn", "aborted-read") in kinds(result)


def test_partial_committed_transaction_is_caught():
    h, final = clean()
    del final["committed_reads"]["out"]["0"][1]
    result = checker.check(h.events, final, OPTIONS)
    assert ("txn", "committed-incomplete") in kinds(result)


def test_input_processed_twice_is_caught():
    h, final = clean()
    h.add("txn-0.1", "invoke", "txn", txn="c", topic="out", inputs=[["t", 0, 0]],
          outputs=[[0, "c|0-0"]], action="commit")
    h.add("txn-0.1", "ok", "txn", txn="c", outcome="committed")
    final["committed_reads"]["out"]["0"].append([5, "c|0-0"])
    result = checker.check(h.events, final, OPTIONS)
    assert ("txn", "processed-twice") in kinds(result)


def test_backwards_commit_is_caught():
    h, final = clean()
    h.add("monitor", "ok", "committed", group="g", offsets={"t": {"0": 3, "1": 3}})
    result = checker.check(h.events, final, OPTIONS)
    back = [v for v in result["violations"] if v["kind"] == "went-backwards" and v["checker"] == "commits"]
    assert back and back[0]["before"]["offset"] == 4 and back[0]["after"]["offset"] == 3


def test_final_committed_offset_below_an_acknowledged_commit_is_caught():
    h, final = clean()
    final["committed_offsets"]["g"]["t"]["0"] = 2  # the broker forgot an acknowledged commit
    result = checker.check(h.events, final, OPTIONS)
    assert ("commits", "went-backwards") in kinds(result)


def test_consumer_skip_and_rewrite_are_caught():
    h, final = clean()
    # consumer-0.1 jumps from offset 1 to 3 within one assignment ...
    h.events = [e for e in h.events if not (e["f"] == "poll" and e["process"] == "consumer-0.1"
                                           and e["partition"] == 0 and e["offset"] == 2)]
    result = checker.check(h.events, final, OPTIONS)
    assert ("consume", "skipped") in kinds(result)
    assert ("consume", "group-skipped") in kinds(result)
    # ... and reads a value the log does not have at that offset.
    h2, final2 = clean()
    final2["logs"]["t"]["1"][1][1] = "something-else"
    result = checker.check(h2.events, final2, OPTIONS)
    assert ("consume", "rewritten") in kinds(result)


def test_consumer_going_backwards_within_an_assignment_is_caught():
    h, final = clean()
    h.add("consumer-0.1", "ok", "poll", topic="t", partition=1, offset=1, value="1-1")
    result = checker.check(h.events, final, OPTIONS)
    assert ("consume", "went-backwards") in kinds(result)


def test_group_that_never_catches_up_is_caught():
    h, final = clean()
    final["logs"]["t"]["1"].append([3, "1-3"])
    final["committed_reads"]["t"]["1"].append([3, "1-3"])
    h.produce("producer-1", "1-3", 1, 3)
    result = checker.check(h.events, final, OPTIONS)
    assert ("consume", "not-caught-up") in kinds(result)


def test_no_produce_after_heal_is_caught():
    h, final = clean()
    final["healed_at"] = h.events[-1]["t"] + 1
    h.events.append({"t": final["healed_at"] + 1, "process": "producer-0", "type": "invoke", "f": "produce",
                     "topic": "t", "value": "0-99", "key": "k"})
    result = checker.check(h.events, final, {**OPTIONS, "liveness_s": 5})
    assert ("liveness", "no-produce-after-heal") in kinds(result)


@pytest.mark.parametrize("state,expect", [("missing", "topic-missing"), ("present", "deleted-topic-exists")])
def test_admin_state_is_checked(state, expect):
    h, final = clean()
    h.add("admin-0", "invoke", "admin", op="create", topic="a1", partitions=2)
    h.add("admin-0", "ok", "admin", op="create", topic="a1", partitions=2)
    h.add("admin-0", "invoke", "admin", op="create", topic="a2", partitions=1)
    h.add("admin-0", "ok", "admin", op="create", topic="a2", partitions=1)
    h.add("admin-0", "invoke", "admin", op="delete", topic="a2")
    h.add("admin-0", "ok", "admin", op="delete", topic="a2")
    if state == "missing":
        final["topics"]["a2"] = None
        del final["topics"]["a2"]
    else:
        final["topics"]["a1"] = {"partitions": 2}
        final["topics"]["a2"] = {"partitions": 1}
    result = checker.check(h.events, final, OPTIONS)
    assert ("admin", expect) in kinds(result)


def test_schedule_is_a_function_of_the_seed_and_names_every_fault():
    from vltava_chaos.nemesis import schedule

    faults = ["kill", "disk-full", "pause"]
    a = schedule(7, 60, faults)
    assert a == schedule(7, 60, faults)
    assert a != schedule(8, 60, faults)
    assert {s.fault for s in a} == set(faults)
    assert all(5.0 <= s.start and s.start + s.hold <= 60 - 8.0 for s in a)
    starts = [s.start for s in a]
    assert starts == sorted(starts)


def test_cluster_faults_split_the_nodes_into_sides():
    from vltava_chaos.nemesis import schedule

    for nodes in (3, 5):
        plan = schedule(11, 300, ["partition", "bridge", "isolate-leader"], nodes)
        assert {s.fault for s in plan} == {"partition", "bridge", "isolate-leader"}
        for s in plan:
            if s.fault == "partition":
                minority, majority = s.arg
                assert sorted(minority + majority) == list(range(nodes))
                assert len(minority) < len(majority) and s.node in minority
            elif s.fault == "bridge":
                a, b = s.arg
                # Two halves that cannot talk, and the bridging node on neither side.
                assert a and b and not set(a) & set(b) and s.node not in a + b
                assert sorted(a + b + [s.node]) == list(range(nodes))
            else:
                assert s.arg in ("partition", "controller")


def test_reconfigure_takes_a_voter_out_and_back_and_heal_restores_every_voter():
    import threading

    from vltava_chaos.cli import parse
    from vltava_chaos.history import History
    from vltava_chaos.nemesis import Nemesis, Step, schedule

    plan = schedule(3, 120, ["reconfigure"], 3)
    assert plan and all(s.fault == "reconfigure" and s.arg in ("node", "controller") for s in plan)

    class FakeNode:
        def __init__(self, kafka_id):
            self.kafka_id = kafka_id
            self.paused, self.clock_file = False, None

        def free_disk(self):
            pass

        def alive(self):
            return True

    class FakeVoters:
        def __init__(self):
            self.ids, self.calls = {1, 2, 3}, []

        def remove(self, node):
            self.calls.append(("remove", node.kafka_id))
            self.ids.discard(node.kafka_id)
            return 1

        def add(self, node):
            self.calls.append(("add", node.kafka_id))
            self.ids.add(node.kafka_id)
            return 2

        def restore(self, nodes):
            for n in nodes:
                if n.kafka_id not in self.ids:
                    self.add(n)

    nodes = [FakeNode(i + 1) for i in range(3)]
    voters = FakeVoters()
    history = History()
    steps = [Step(0.0, "reconfigure", 1, 0.01, "node"), Step(0.05, "reconfigure", 0, 0.01, "controller")]
    nemesis = Nemesis(nodes, steps, history, threading.Event(), leaders=lambda: {"controller": 2},
                      voters=voters)
    nemesis.run()
    assert nemesis.error is None
    # The controller's step is applied to whoever leads then (index 2).
    assert voters.calls == [("remove", 2), ("add", 2), ("remove", 3), ("add", 3)]
    stops = [e for e in history.events if e["value"] == "stop"]
    assert [(e["node"], e["remove_attempts"], e["add_attempts"]) for e in stops] == [(1, 1, 2), (2, 1, 2)]
    # A voter left out by a fault that failed half-way is added back.
    voters.ids.discard(1)
    nemesis.heal_all()
    assert voters.ids == {1, 2, 3} and voters.calls[-1] == ("add", 1)

    with pytest.raises(SystemExit):
        parse(["--nodes", "3", "--nemesis", "reconfigure"])  # needs --quorum dynamic
    with pytest.raises(SystemExit):
        parse(["--nodes", "1", "--quorum", "dynamic"])
    args = parse(["--nodes", "3", "--quorum", "dynamic", "--elr", "--nemesis", "reconfigure,kill"])
    from vltava_chaos.cli import replay_command
    assert "--quorum dynamic --elr" in replay_command(args, 5)


def test_acks_1_loss_is_promised_on_one_node_only():
    h, final = clean()
    del final["logs"]["t"]["0"][2]
    one = checker.check(h.events, final, {"acks": "1", "idempotence": False, "nodes": 1})
    three = checker.check(h.events, final, {"acks": "1", "idempotence": False, "nodes": 3})
    all3 = checker.check(h.events, final, {"acks": "all", "idempotence": True, "nodes": 3})
    assert not one["valid"] and not all3["valid"]
    lost = [v for v in three["violations"] if v["kind"] == "lost"]
    assert lost and not lost[0]["promised"]
    # (A consumer that read the record still makes it a violation: consumers
    # read below the high watermark, which a clean election never loses.)
    assert not [v for v in three["violations"] if v["checker"] == "produce" and v["promised"]]


def test_reads_that_overlap_a_commit_may_see_the_older_offset():
    h, final = clean()
    h.add("consumer-0.1", "ok", "commit", group="g", offsets={"t": {"1": 5}}, mode="sync", invoked=h.events[-1]["t"])
    done = h.events[-1]["t"]
    # A read invoked before the commit completed may still see 3 ...
    h.add("monitor", "ok", "committed", group="g", offsets={"t": {"1": 3}}, invoked=done - 0.001)
    final["committed_offsets"]["g"]["t"]["1"] = 5
    result = checker.check(h.events, final, OPTIONS)
    assert ("commits", "went-backwards") not in kinds(result), result["violations"]
    # ... one invoked after it completed may not.
    h.add("monitor", "ok", "committed", group="g", offsets={"t": {"1": 3}}, invoked=done + 0.001)
    result = checker.check(h.events, final, OPTIONS)
    back = [v for v in result["violations"] if v["kind"] == "went-backwards"]
    assert back and back[0]["before"]["offset"] == 5 and back[0]["after"]["offset"] == 3


def test_an_overlapping_older_commit_may_land_last():
    # Seed 403 (session 11): a consumer's async commit of 910 and its next,
    # sync commit of 919 were both held up by a full disk and completed
    # together; the broker applied 910 last, and the monitor then read 910.
    h, final = clean()
    t = h.events[-1]["t"] + 1
    h.add("consumer-1.1", "ok", "commit", group="g", offsets={"t": {"1": 9}}, mode="sync",
          invoked=t + 0.4, t=t + 5.0001)
    h.add("consumer-1.1", "ok", "commit", group="g", offsets={"t": {"1": 8}}, mode="async",
          invoked=t, t=t + 5.0002)
    h.add("monitor", "ok", "committed", group="g", offsets={"t": {"1": 8}}, invoked=t + 5.3, t=t + 5.35)
    final["committed_offsets"]["g"]["t"]["1"] = 8
    result = checker.check(h.events, final, OPTIONS)
    assert ("commits", "went-backwards") not in kinds(result), result["violations"]
    # A commit of 8 that had completed before the 9 was invoked cannot
    # explain reading 8 afterwards.
    h, final = clean()
    t = h.events[-1]["t"] + 1
    h.add("consumer-1.1", "ok", "commit", group="g", offsets={"t": {"1": 8}}, mode="async",
          invoked=t, t=t + 0.1)
    h.add("consumer-1.1", "ok", "commit", group="g", offsets={"t": {"1": 9}}, mode="sync",
          invoked=t + 0.2, t=t + 0.3)
    h.add("monitor", "ok", "committed", group="g", offsets={"t": {"1": 8}}, invoked=t + 0.4, t=t + 0.45)
    final["committed_offsets"]["g"]["t"]["1"] = 9
    result = checker.check(h.events, final, OPTIONS)
    back = [v for v in result["violations"] if v["kind"] == "went-backwards"]
    assert back and back[0]["before"]["offset"] == 9 and back[0]["after"]["offset"] == 8


def test_a_commit_of_unknown_outcome_may_land_after_a_later_one():
    # Seed 960 (session 16, three nodes, bridge): async commits of 281 and
    # 343 sent before a sync commit of 376 timed out in the client (info)
    # just after 376 was acknowledged; the broker still had them queued on
    # the connection the client had given up on, applied 343 after 376,
    # and the monitor then read 343. Kafka's brokers do the same.
    h, final = clean()
    t = h.events[-1]["t"] + 1
    h.add("consumer-0.0", "info", "commit", group="g", offsets={"t": {"1": 8}}, mode="async",
          error="_TIMED_OUT", invoked=t, t=t + 5.0002)
    h.add("consumer-0.0", "ok", "commit", group="g", offsets={"t": {"1": 9}}, mode="sync",
          invoked=t + 0.6, t=t + 5.0001)
    h.add("monitor", "ok", "committed", group="g", offsets={"t": {"1": 8}}, invoked=t + 5.1, t=t + 5.15)
    final["committed_offsets"]["g"]["t"]["1"] = 8
    result = checker.check(h.events, final, OPTIONS)
    assert ("commits", "went-backwards") not in kinds(result), result["violations"]
    # An unknown commit of another offset explains nothing; one invoked
    # only after the lower offset was read cannot either.
    for offset, invoked in ((7, t), (8, t + 5.2)):
        h, final = clean()
        h.add("consumer-0.0", "info", "commit", group="g", offsets={"t": {"1": offset}}, mode="async",
              error="_TIMED_OUT", invoked=invoked, t=invoked + 5)
        h.add("consumer-0.0", "ok", "commit", group="g", offsets={"t": {"1": 9}}, mode="sync",
              invoked=t + 0.6, t=t + 5.0001)
        h.add("monitor", "ok", "committed", group="g", offsets={"t": {"1": 8}}, invoked=t + 5.1, t=t + 5.15)
        final["committed_offsets"]["g"]["t"]["1"] = 9
        result = checker.check(h.events, final, OPTIONS)
        back = [v for v in result["violations"] if v["kind"] == "went-backwards"]
        assert back and back[0]["before"]["offset"] == 9 and back[0]["after"]["offset"] == 8, (offset, invoked)


def test_a_run_without_final_reads_is_not_reported_as_losing_everything():
    h, final = clean()
    del final["logs"], final["committed_reads"]
    result = checker.check(h.events, final, OPTIONS)
    assert ("produce", "lost") not in kinds(result)
    assert "missing" in result["stats"]["final_reads"]
    assert not result["valid"]  # nothing was proven


def test_input_skipped_by_the_transactional_group_is_caught():
    h, final = clean()
    final["committed_offsets"]["gt"]["t"]["0"] = 3  # offsets 1 and 2 were never processed by a committed txn
    result = checker.check(h.events, final, OPTIONS)
    skipped = [v for v in result["violations"] if v["kind"] == "input-skipped"]
    assert skipped and skipped[0]["missing"] == [1, 2]


def test_voters_are_asked_again_while_the_quorum_is_not_described(monkeypatch):
    from vltava_chaos import cluster_tools

    answers = iter(['{"quorum": null}', '{"quorum": {"voters": [{"id": 3}, {"id": 1}]}}'])
    monkeypatch.setattr(cluster_tools, "_run", lambda binary, bootstrap, args, within_s: (next(answers), 1))
    monkeypatch.setattr(cluster_tools.time, "sleep", lambda s: None)
    assert cluster_tools.voters("vltava", "b:1", within_s=5) == [1, 3]
    monkeypatch.setattr(cluster_tools, "_run", lambda binary, bootstrap, args, within_s: ('{"quorum": null}', 1))
    with pytest.raises(cluster_tools.ToolFailed):
        cluster_tools.voters("vltava", "b:1", within_s=0)


def test_the_fault_table_counts_each_run_once_per_fault_it_had(tmp_path):
    import json

    from vltava_chaos import report

    def run(seed, faults, valid=True, lost=0):
        d = tmp_path / "set" / f"seed-{seed}"
        d.mkdir(parents=True)
        violations = [{"checker": "produce", "kind": "lost", "promised": True}] * lost
        d.joinpath("report.json").write_text(json.dumps({
            "valid": valid, "options": {"seed": seed}, "faults_applied": faults,
            "violation_counts": {"produce/lost": lost} if lost else {}, "violations": violations}))

    run(1, ["kill", "pause", "kill"])
    run(2, ["pause"], valid=False, lost=2)
    run(3, ["disk-full"])
    rows = report.fault_table([tmp_path / "set"]).splitlines()[2:]
    assert rows == ["| pause | 2 | 2 | 2 | 0 | 0 | 1 |",
                    "| disk-full | 1 | 1 | 0 | 0 | 0 | 0 |",
                    "| kill | 1 | 2 | 0 | 0 | 0 | 0 |"]


def test_a_duplicate_sent_again_after_a_message_timeout_is_observed_not_promised():
    """librdkafka bumps an idempotent producer's epoch once one of its
    messages times out and sends what is still queued, in every partition,
    with new sequence numbers; a record already written goes out again.
    Only a timeout of the same producer while the record was waiting
    explains it."""
    def run(timeout_process, timeout_partition, before_invoke=False):
        h, final = clean()
        h.add(timeout_process, "invoke", "produce", topic="t", value="0-8", key="k")
        if before_invoke:
            h.add(timeout_process, "info", "produce", topic="t", value="0-8", partition=timeout_partition,
                  error="_MSG_TIMED_OUT")
        h.add("producer-0", "invoke", "produce", topic="t", value="0-9", key="k")
        if not before_invoke:
            h.add(timeout_process, "info", "produce", topic="t", value="0-8", partition=timeout_partition,
                  error="_MSG_TIMED_OUT")
        h.add("producer-0", "ok", "produce", topic="t", value="0-9", partition=0, offset=5)
        final["logs"]["t"]["0"] += [[4, "0-9"], [5, "0-9"]]
        return {(v["kind"], v["promised"]) for v in checker.check(h.events, final, OPTIONS)["violations"]
                if v["checker"] == "produce"}

    assert run("producer-0", 0) == {("duplicated-after-message-timeout", False)}
    # The epoch is the producer's: a timeout in another partition bumps it too.
    assert run("producer-0", 1) == {("duplicated-after-message-timeout", False)}
    # Another producer's timeout, or one before the record was sent,
    # explains nothing: a duplicate, promised.
    assert run("producer-1", 0) == {("duplicated", True)}
    assert run("producer-0", 0, before_invoke=True) == {("duplicated", True)}


def test_a_transaction_writes_an_upstream_duplicate_as_often_as_it_read_it():
    """Outputs carry their input's value: two input records with one value
    (a duplicate upstream) give two equal outputs, both expected, each
    checked in order; a third copy is a duplicate."""
    h = H()
    h.add("txn-0.0", "invoke", "txn", txn="a", topic="out", group="gt",
          inputs=[["t", 0, 0], ["t", 0, 5]], outputs=[[0, "a|0-0"], [0, "a|x"], [0, "a|0-0"]], action="commit")
    h.add("txn-0.0", "ok", "txn", txn="a", outcome="committed")
    final = {"committed_reads": {"out": {"0": [[0, "a|0-0"], [1, "a|x"], [2, "a|0-0"]]}}}
    out, _ = checker.check_transactions(h.events, final, OPTIONS)
    assert out == []
    final["committed_reads"]["out"]["0"].append([3, "a|0-0"])
    out, _ = checker.check_transactions(h.events, final, OPTIONS)
    assert {v["kind"] for v in out} == {"duplicated"}
