"""Checkers: each reads the history and the final reads of a run (never the
broker's state directly) and returns violations naming the records involved.

`final` is what the harness read after every fault was healed:
  logs              {topic: {partition: [[offset, value], ...]}}  read_uncommitted
  committed_reads   {topic: {partition: [[offset, value], ...]}}  read_committed
  committed_offsets {group: {topic: {partition: offset}}}
  topics            {topic: {"partitions": n}}                    what exists
  healed_at         run time at which the last fault was healed
  stopped_at        run time at which the workloads were told to stop
Partitions are JSON object keys, so strings; the checkers use ints.

A violation is a dict: {"checker", "kind", "promised", ...details}. Only
promised violations make a run invalid; the others are what the chosen client
settings do not promise (duplicates without idempotence, say) and are
reported so that a run shows what each setting really gives.
"""

import bisect
from collections import Counter, defaultdict

# How long after the last fault was healed the system may take to serve
# produces again, and consumers to catch up.
DEFAULT_LIVENESS_S = 30.0


def promises(options):
    """What the run's client settings promise, by violation kind."""
    idempotent = bool(options.get("idempotence", True))
    acks_all = str(options.get("acks", "all")) in ("all", "-1")
    nodes = int(options.get("nodes", 1))
    # On one node an acknowledged record is in the page cache, which survives
    # kill -9 of the broker whatever acks said; with replicas only acks=all
    # (with min.insync.replicas > 1) promises survival of a broker's loss.
    no_loss = acks_all or nodes == 1
    return {
        "lost": no_loss,
        "moved": no_loss,
        "duplicated": idempotent,
        "reordered": idempotent,
        "phantom": True,
        "failed-but-present": True,
    }


def _partitions(table):
    """{"0": [[o, v], ...]} -> {0: [(o, v), ...]}"""
    return {int(p): [(int(o), v) for o, v in rows] for p, rows in (table or {}).items()}


def _violation(checker, kind, promised, **details):
    v = {"checker": checker, "kind": kind, "promised": bool(promised)}
    v.update(details)
    return v


def _timed_out_between(timeouts, process, start, end):
    """When `process` had a message time out in the client within
    [start, end]: the first such time, else None. Any partition's: the
    epoch is the producer's, and librdkafka's drain and bump sends every
    partition's queue again under the new one."""
    times = timeouts.get(process, [])
    i = bisect.bisect_left(times, start)
    return times[i] if i < len(times) and times[i] <= end else None


def check_produce(events, final, options):
    """Every acknowledged produce is in the log exactly once, at the offset it
    was acknowledged with, in acknowledgement order per producer and
    partition; nothing is in the log that was never sent, or that was
    refused before it was sent.

    An acknowledgement may come without an offset: an idempotent producer
    whose batch failed with an outcome unknown (a request timed out at the
    broker, say) learns from the success of a later batch of the same
    partition that the earlier one was written, without learning where
    (librdkafka's "implicitly acked by subsequent batch success"). Such a
    record must still be in its partition exactly once; its order is
    checked at the offset where it was found."""
    promised = promises(options)
    out = []
    invoked = {}
    acked = []
    failed = set()
    infos = set()
    timeouts = defaultdict(list)  # producer process -> times its messages timed out
    for e in events:
        if e["f"] != "produce":
            continue
        if e["type"] == "invoke":
            invoked[e["value"]] = e
        elif e["type"] == "ok":
            acked.append(e)
        elif e["type"] == "fail":
            failed.add(e["value"])
        elif e["type"] == "info":
            infos.add(e["value"])
            if e.get("error") == "_MSG_TIMED_OUT":
                timeouts[e["process"]].append(e["t"])
    topics = {e["topic"] for e in invoked.values()}
    where = defaultdict(list)  # (topic, value) -> [(partition, offset)]
    at = {}  # (topic, partition, offset) -> value
    for topic in topics:
        for p, rows in _partitions(final.get("logs", {}).get(topic)).items():
            for o, v in rows:
                where[(topic, v)].append((p, o))
                at[(topic, p, o)] = v

    for e in acked:
        topic, value, p, o = e["topic"], e["value"], e["partition"], e["offset"]
        found = where.get((topic, value), [])
        if not found:
            out.append(_violation("produce", "lost", promised["lost"], topic=topic, value=value,
                                  partition=p, offset=o, acked_at=e["t"], process=e["process"],
                                  now_at_offset=at.get((topic, p, o))))
            continue
        if (p, o) not in found if o is not None else all(fp != p for fp, _ in found):
            out.append(_violation("produce", "moved", promised["moved"], topic=topic, value=value,
                                  acked_partition=p, acked_offset=o, found_at=found,
                                  now_at_offset=at.get((topic, p, o))))
        if len(found) > 1:
            bumped = _timed_out_between(timeouts, e["process"], invoked[value]["t"], e["t"])
            if bumped is not None:
                # librdkafka's idempotent producer, once a message times
                # out (message.timeout.ms), drains every partition, bumps
                # its epoch and sends what is still queued with new
                # sequence numbers: a record whose earlier request
                # was written but never acknowledged goes out again, and the
                # broker cannot tell it from a new one (librdkafka's
                # documented limit; its maintainers in librdkafka#4953).
                # Idempotence promises nothing across that bump.
                out.append(_violation("produce", "duplicated-after-message-timeout", False, topic=topic,
                                      value=value, found_at=found, timed_out=bumped))
            else:
                out.append(_violation("produce", "duplicated", promised["duplicated"], topic=topic,
                                      value=value, found_at=found))

    for (topic, value), found in where.items():
        if value not in invoked:
            out.append(_violation("produce", "phantom", promised["phantom"], topic=topic,
                                  value=value, found_at=found))
        elif value in failed:
            out.append(_violation("produce", "failed-but-present", promised["failed-but-present"],
                                  topic=topic, value=value, found_at=found))

    by_stream = defaultdict(list)
    for e in acked:  # history order is acknowledgement order
        by_stream[(e["process"], e["topic"], e["partition"])].append(e)
    def offset_of(e):
        if e["offset"] is not None:
            return e["offset"]
        found = [o for fp, o in where.get((e["topic"], e["value"]), []) if fp == e["partition"]]
        return found[0] if len(found) == 1 else None

    for (process, topic, p), acks in by_stream.items():
        known = [dict(e, offset=offset_of(e)) for e in acks]
        known = [e for e in known if e["offset"] is not None]
        for prev, cur in zip(known, known[1:]):
            if cur["offset"] <= prev["offset"]:
                out.append(_violation("produce", "reordered", promised["reordered"], topic=topic,
                                      partition=p, process=process,
                                      first={"value": prev["value"], "offset": prev["offset"]},
                                      then={"value": cur["value"], "offset": cur["offset"]}))

    landed_unknown = sum(1 for v in infos if where.get((invoked[v]["topic"], v)))
    acked_without_offset = sum(1 for e in acked if e["offset"] is None)
    stats = {
        "invoked": len(invoked),
        "acknowledged": len(acked),
        "failed": len(failed),
        "indeterminate": len(infos),
        "indeterminate_present": landed_unknown,
        "acknowledged_without_offset": acked_without_offset,
    }
    return out, stats


def _ownership(events):
    """Per consumer process, per (topic, partition): the polls in order, cut
    into runs at every (re)assignment, since a new assignment starts again
    from the group's committed offset."""
    runs = defaultdict(list)  # (process, topic, partition) -> [[poll events]]
    for e in events:
        if e["type"] != "ok":
            continue
        if e["f"] == "assign":
            for topic, p in e["partitions"]:
                runs[(e["process"], topic, p)].append([])
        elif e["f"] == "poll":
            key = (e["process"], e["topic"], e["partition"])
            if not runs[key]:
                runs[key].append([])
            runs[key][-1].append(e)
    return runs


def check_consumers(events, final, options):
    """What group consumers saw: every record read is the record the log has
    at that offset (no rewrites); within one assignment a consumer reads
    forward with no gaps; the group as a whole skips nothing between the log
    start and the furthest it read; and, after the faults healed, it caught
    up with everything acknowledged (liveness)."""
    out = []
    polls = [e for e in events if e["f"] == "poll" and e["type"] == "ok"]
    if not polls:
        return out, {"consumed": 0}
    views = {}

    def view(topic, committed):
        key = (topic, committed)
        if key not in views:
            table = final.get("committed_reads" if committed else "logs", {}).get(topic)
            parts = _partitions(table)
            views[key] = (
                {p: {o: v for o, v in rows} for p, rows in parts.items()},
                {p: [o for o, _ in rows] for p, rows in parts.items()},
            )
        return views[key]

    group_of = {}
    committed_view = {}
    for e in events:
        if e["f"] == "open" and e["type"] == "ok" and "group" in e:
            group_of[e["process"]] = e["group"]
            committed_view[e["process"]] = e.get("isolation") == "read_committed"

    for e in polls:
        values, _ = view(e["topic"], committed_view.get(e["process"], False))
        expect = values.get(e["partition"], {}).get(e["offset"])
        if expect != e["value"]:
            out.append(_violation("consume", "rewritten", True, process=e["process"], topic=e["topic"],
                                  partition=e["partition"], offset=e["offset"], read=e["value"],
                                  log_has=expect, at=e["t"]))

    for (process, topic, p), run_list in _ownership(events).items():
        _, offsets = view(topic, committed_view.get(process, False))
        order = {o: i for i, o in enumerate(offsets.get(p, []))}
        for run in run_list:
            for prev, cur in zip(run, run[1:]):
                a, b = prev["offset"], cur["offset"]
                if b <= a:
                    out.append(_violation("consume", "went-backwards", True, process=process, topic=topic,
                                          partition=p, offsets=[a, b], at=cur["t"]))
                elif a in order and b in order and order[b] != order[a] + 1:
                    skipped = offsets[p][order[a] + 1:order[b]]
                    out.append(_violation("consume", "skipped", True, process=process, topic=topic,
                                          partition=p, after=a, read=b, skipped=skipped[:20],
                                          skipped_count=len(skipped), at=cur["t"]))

    seen = defaultdict(set)  # (group, topic, partition) -> offsets read
    read_committed = {}
    for e in polls:
        g = group_of.get(e["process"], "?")
        seen[(g, e["topic"], e["partition"])].add(e["offset"])
        read_committed[(g, e["topic"])] = committed_view.get(e["process"], False)
    groups = {g for g, _, _ in seen}
    topics_by_group = defaultdict(set)
    for g, t, _ in seen:
        topics_by_group[g].add(t)
    for g in groups:
        for topic in topics_by_group[g]:
            _, offsets = view(topic, read_committed.get((g, topic), False))
            for p, all_offsets in offsets.items():
                got = seen.get((g, topic, p), set())
                top = max(got) if got else -1
                missing = [o for o in all_offsets if o <= top and o not in got]
                if missing:
                    out.append(_violation("consume", "group-skipped", True, group=g, topic=topic, partition=p,
                                          missing=missing[:20], missing_count=len(missing)))
                unread = [o for o in all_offsets if o > top]
                if unread and options.get("expect_caught_up", True):
                    out.append(_violation("consume", "not-caught-up", True, group=g, topic=topic, partition=p,
                                          unread_from=unread[0], unread_count=len(unread),
                                          bound_s=options.get("liveness_s", DEFAULT_LIVENESS_S)))
    return out, {"consumed": len(polls), "consumers": len(group_of)}


def check_commits(events, final, options):
    """A group's committed offsets never go backwards in real time: a
    successful commit or a read of the committed offsets (the monitor's, and
    the final one) never shows less than any commit or read that had
    completed before it was invoked. Operations that overlap in time may
    be seen in either order: in particular a lower offset is no violation
    when a commit of exactly that offset may have been applied after the
    higher one (it had not completed when the higher one was invoked, as
    when a consumer's async commit is still being retried while its next,
    sync commit goes through) and before the lower one was seen. A commit
    whose outcome the client does not know (it timed out: `info`) may be
    applied at any time after it was invoked, as Kafka's brokers also
    handle a request still queued on a connection its client has given up
    on; it is no observation, but it may explain a lower offset seen later."""
    out = []
    observations = defaultdict(list)  # (group, topic, partition) -> [(invoked, completed, offset, source)]
    unknown = defaultdict(list)  # the same key -> [(invoked, offset)] of commits of unknown outcome

    def observe(group, topic, p, offset, invoked, completed, source):
        observations[(group, topic, int(p))].append((invoked, completed, offset, source))

    def landed_later(key, obs, offset, high, seen):
        """A commit of `offset` that may have been applied after the
        observation `high` and before `seen` completed."""
        return any(w[2] == offset and w[3] not in ("monitor", "final")
                   and w[1] > high[0] and w[0] < seen[1] for w in obs) or any(
            o == offset and invoked < seen[1] for invoked, o in unknown[key])

    oks = 0
    for e in events:
        if e["type"] == "info" and e["f"] == "commit":
            for topic, parts in e["offsets"].items():
                for p, offset in parts.items():
                    unknown[(e["group"], topic, int(p))].append((e.get("invoked", e["t"]), offset))
            continue
        if e["type"] != "ok" or e["f"] not in ("committed", "commit"):
            continue
        oks += e["f"] == "commit"
        source = "monitor" if e["f"] == "committed" else e["process"]
        for topic, parts in e["offsets"].items():
            for p, offset in parts.items():
                if offset >= 0:
                    observe(e["group"], topic, p, offset, e.get("invoked", e["t"]), e["t"], source)
    read_at = final.get("committed_read_at", final.get("stopped_at"))
    for group, topics in final.get("committed_offsets", {}).items():
        for topic, parts in topics.items():
            for p, offset in parts.items():
                if offset >= 0:
                    observe(group, topic, p, offset, read_at, read_at, "final")

    for (group, topic, p), obs in observations.items():
        obs.sort(key=lambda o: o[1])
        completed = [o[1] for o in obs]
        best = []  # best[i]: the observation with the highest offset among obs[:i+1]
        for o in obs:
            best.append(o if not best or o[2] > best[-1][2] else best[-1])
        reported = 0
        for o in obs:
            i = bisect.bisect_left(completed, o[0])  # obs[:i] completed before o was invoked
            if i and o[2] < best[i - 1][2] and reported < 10:
                b = best[i - 1]
                if landed_later((group, topic, p), obs, o[2], b, o):
                    continue
                out.append(_violation("commits", "went-backwards", True, group=group, topic=topic, partition=p,
                                      before={"offset": b[2], "completed": b[1], "source": b[3]},
                                      after={"offset": o[2], "invoked": o[0], "source": o[3]}))
                reported += 1
    return out, {"commits_ok": oks}


def check_transactions(events, final, options):
    """Read-process-write: read_committed readers never see a record of an
    aborted transaction, see every committed transaction whole and in the
    order it was written, and see a transaction of unknown outcome whole or
    not at all; no input record is processed by two committed transactions,
    and none below the group's committed offset by none (exactly once)."""
    out = []
    txns = {}
    for e in events:
        if e["f"] != "txn":
            continue
        if e["type"] == "invoke":
            txns[e["txn"]] = {"invoke": e, "outcome": None}
        elif e["txn"] in txns:
            txns[e["txn"]]["outcome"] = e.get("outcome") if e["type"] == "ok" else "unknown"
    if not txns:
        return out, {"transactions": 0}
    out_topic = next(iter(txns.values()))["invoke"]["topic"]
    committed = _partitions(final.get("committed_reads", {}).get(out_topic))
    where = defaultdict(list)
    for p, rows in committed.items():
        for o, v in rows:
            where[v].append((p, o))
    counts = defaultdict(int)
    processed_by = defaultdict(list)
    for txn_id, txn in sorted(txns.items()):
        outcome = txn["outcome"] or "unknown"
        counts[outcome] += 1
        outputs = txn["invoke"]["outputs"]  # [[partition, value], ...]
        present = [v for _, v in outputs if where.get(v)]
        if outcome == "aborted" and present:
            out.append(_violation("txn", "aborted-read", True, txn=txn_id, visible=present[:10]))
        elif outcome == "committed" and len(present) != len(outputs):
            missing = [v for _, v in outputs if not where.get(v)]
            out.append(_violation("txn", "committed-incomplete", True, txn=txn_id, missing=missing[:10],
                                  missing_count=len(missing), of=len(outputs)))
        elif outcome == "unknown" and present and len(present) != len(outputs):
            out.append(_violation("txn", "partial", True, txn=txn_id, visible=len(present), of=len(outputs)))
        # An output is its transaction's id and its input's value: inputs
        # that carry the same value (an upstream duplicate) give the same
        # output as often, and that many copies are expected.
        written = Counter(v for _, v in outputs)
        for v, n in written.items():
            if len(where.get(v, ())) > n:
                out.append(_violation("txn", "duplicated", True, txn=txn_id, value=v, found_at=where[v]))
        if present:
            by_partition = defaultdict(list)
            copy_of = defaultdict(int)  # the k-th write of a value is its k-th copy in the log
            for p, v in outputs:
                if where.get(v):
                    k = min(copy_of[v], len(where[v]) - 1)
                    copy_of[v] += 1
                    by_partition[p].append(where[v][k])
            for p, positions in by_partition.items():
                offs = [o for _, o in positions]
                if offs != sorted(offs) or any(pp != p for pp, _ in positions):
                    out.append(_violation("txn", "out-of-order", True, txn=txn_id, partition=p, offsets=offs))
            for src in txn["invoke"]["inputs"]:
                processed_by[tuple(src)].append(txn_id)
    for src, ids in processed_by.items():
        if len(ids) > 1:
            out.append(_violation("txn", "processed-twice", True, input=list(src), txns=ids))
    # No input skipped: below the group's final committed offset, every input
    # record was processed by a transaction whose outputs are visible.
    groups = {t["invoke"].get("group") for t in txns.values()} - {None}
    for group in sorted(groups):
        for topic, parts in final.get("committed_offsets", {}).get(group, {}).items():
            view = _partitions(final.get("committed_reads", {}).get(topic))
            for p, upto in parts.items():
                missing = [o for o, _ in view.get(int(p), []) if o < upto and (topic, int(p), o) not in processed_by]
                if missing:
                    out.append(_violation("txn", "input-skipped", True, group=group, topic=topic, partition=int(p),
                                          committed=upto, missing=missing[:20], missing_count=len(missing)))
    stats = {"transactions": len(txns)}
    stats.update({f"txn_{k}": v for k, v in counts.items()})
    return out, stats


def check_admin(events, final, options):
    """Admin churn: topics whose last definite operation created them exist
    with at least the partitions last asked for; topics last deleted are
    gone. An operation of unknown outcome makes its topic undecided."""
    out = []
    state = {}  # topic -> ("exists", partitions) | ("deleted",) | ("unknown",)
    for e in events:
        if e["f"] != "admin" or e["type"] == "invoke":
            continue
        topic, op = e["topic"], e["op"]
        if e["type"] == "info":
            state[topic] = ("unknown",)
        elif e["type"] == "ok":
            if op == "create":
                state[topic] = ("exists", e["partitions"])
            elif op == "add-partitions" and state.get(topic, ("?",))[0] == "exists":
                state[topic] = ("exists", e["partitions"])
            elif op == "delete":
                state[topic] = ("deleted",)
    topics = final.get("topics", {})
    for topic, st in state.items():
        if st[0] == "exists":
            have = topics.get(topic)
            if have is None:
                out.append(_violation("admin", "topic-missing", True, topic=topic))
            elif have["partitions"] < st[1]:
                out.append(_violation("admin", "partitions-missing", True, topic=topic,
                                      expected=st[1], found=have["partitions"]))
        elif st[0] == "deleted" and topic in topics:
            out.append(_violation("admin", "deleted-topic-exists", True, topic=topic))
    return out, {"admin_ops": sum(1 for e in events if e["f"] == "admin" and e["type"] == "invoke")}


def check_liveness(events, final, options):
    """After the last fault is healed, produces succeed again within the
    bound."""
    out = []
    healed = final.get("healed_at")
    bound = options.get("liveness_s", DEFAULT_LIVENESS_S)
    if healed is None:
        return out, {}
    invoked_after = any(e["f"] == "produce" and e["type"] == "invoke" and e["t"] >= healed for e in events)
    first_ok = next((e["t"] for e in events if e["f"] == "produce" and e["type"] == "ok" and e["t"] >= healed), None)
    if invoked_after and (first_ok is None or first_ok - healed > bound):
        out.append(_violation("liveness", "no-produce-after-heal", True, healed_at=healed,
                              first_ack_after=first_ok, bound_s=bound))
    return out, {"recovery_s": None if first_ok is None else round(first_ok - healed, 3)}


def unavailability(events, gap_s=1.0):
    """Seconds in which producers were running but nothing was
    acknowledged: the sum of the gaps longer than `gap_s` between
    consecutive acknowledgements, and the longest."""
    acks = [e["t"] for e in events if e["f"] == "produce" and e["type"] == "ok"]
    if len(acks) < 2:
        return 0.0, 0.0
    gaps = [b - a for a, b in zip(acks, acks[1:]) if b - a > gap_s]
    return round(sum(gaps), 3), round(max(gaps, default=0.0), 3)


CHECKERS = (check_produce, check_consumers, check_commits, check_transactions, check_admin, check_liveness)


def check(events, final, options):
    """Runs every checker; valid when no promised violation was found."""
    violations = []
    stats = {}
    # Without the final reads (the run failed before them) the checkers that
    # compare against the log would call every acknowledged record lost.
    needs_log = (check_produce, check_consumers, check_transactions, check_admin)
    have_log = "logs" in final
    if not have_log:
        stats["final_reads"] = "missing: only commits and liveness were checked"
    for checker in CHECKERS:
        if checker in needs_log and not have_log:
            continue
        found, st = checker(events, final, options)
        violations += found
        stats.update(st)
    total, longest = unavailability(events)
    stats["unavailable_s"] = total
    stats["longest_unavailable_s"] = longest
    stats["operations"] = sum(1 for e in events if e["type"] == "invoke")
    # Client calls the harness gave up on (librdkafka calls that never
    # returned; the worker was restarted): not a verdict, but worth a look.
    stats["hung_calls"] = sum(1 for e in events if e["f"] == "hung")
    by_kind = defaultdict(int)
    for v in violations:
        by_kind[f'{v["checker"]}/{v["kind"]}'] += 1
    return {
        "valid": have_log and not any(v["promised"] for v in violations),
        "violations": violations,
        "violation_counts": dict(by_kind),
        "stats": stats,
    }
