"""What a run leaves next to its history: report.json (verdict, counts,
violations, the fault schedule), summary.txt, and plot.png: throughput and
produce latency over time with the fault windows shaded."""

import json
from collections import defaultdict
from pathlib import Path

FAULT_COLOURS = {"kill": "#d62728", "pause": "#9467bd", "disk-full": "#ff7f0e", "restart": "#8c564b",
                 "clock": "#2ca02c", "isolate": "#17becf", "partition": "#7f7f7f", "bridge": "#bcbd22",
                 "isolate-leader": "#e377c2", "reconfigure": "#1f77b4"}
MAX_LISTED = 50  # violations of one kind written out in full


def fault_windows(events):
    """[(start, end, fault)] from the nemesis' start/stop events."""
    open_at = {}
    windows = []
    for e in events:
        if e["process"] != "nemesis" or e["f"] == "error":
            continue
        if e.get("value") == "start":
            open_at[e["f"]] = e["t"]
        elif e.get("value") == "stop" and e["f"] in open_at:
            windows.append((open_at.pop(e["f"]), e["t"], e["f"]))
    end = events[-1]["t"] if events else 0
    windows += [(t, end, f) for f, t in open_at.items()]
    return windows


def produce_latencies(events):
    """[(ack time, latency seconds)] for every acknowledged produce."""
    invoked = {}
    out = []
    for e in events:
        if e["f"] != "produce":
            continue
        if e["type"] == "invoke":
            invoked[e["value"]] = e["t"]
        elif e["type"] == "ok" and e["value"] in invoked:
            out.append((e["t"], e["t"] - invoked[e["value"]]))
    return out


def _percentile(values, q):
    if not values:
        return None
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def plot(events, path, title, bin_s=0.5):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    acks = defaultdict(int)
    reads = defaultdict(int)
    for e in events:
        if e["type"] != "ok":
            continue
        if e["f"] == "produce":
            acks[int(e["t"] / bin_s)] += 1
        elif e["f"] == "poll":
            reads[int(e["t"] / bin_s)] += 1
    lat = produce_latencies(events)
    lat_bins = defaultdict(list)
    for t, l in lat:
        lat_bins[int(t / bin_s)].append(l * 1000)
    end = int((events[-1]["t"] if events else 0) / bin_s) + 1

    fig, (top, bottom) = plt.subplots(2, 1, figsize=(11, 6.5), sharex=True)
    xs = [i * bin_s for i in range(end)]
    top.plot(xs, [acks[i] / bin_s for i in range(end)], label="produce acks/s", lw=1.2)
    top.plot(xs, [reads[i] / bin_s for i in range(end)], label="records consumed/s", lw=1.0, alpha=0.8)
    top.set_ylabel("per second")
    top.set_title(title)
    if lat:
        bottom.scatter([t for t, _ in lat], [l * 1000 for _, l in lat], s=2, alpha=0.25, label="produce latency")
        # NaN where nothing was acknowledged, so the line breaks over outages.
        p99 = [_percentile(lat_bins[i], 0.99) if lat_bins.get(i) else float("nan") for i in range(end)]
        bottom.plot(xs, p99, color="black", lw=1.0,
                    label=f"p99 per {bin_s:g} s")
        bottom.set_yscale("log")
    bottom.set_ylabel("produce latency (ms)")
    bottom.set_xlabel("seconds since start")
    seen = set()
    for start, stop, fault in fault_windows(events):
        for ax in (top, bottom):
            ax.axvspan(start, max(stop, start + 0.05), color=FAULT_COLOURS.get(fault, "grey"), alpha=0.18,
                       label=fault if (ax is top and fault not in seen) else None)
        seen.add(fault)
    top.legend(loc="upper right", fontsize=8)
    bottom.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write(run_dir, result, options, plan, events, errors):
    run_dir = Path(run_dir)
    lat = [l for _, l in produce_latencies(events)]
    stats = dict(result["stats"])
    if lat:
        stats["produce_latency_ms"] = {q: round(_percentile(lat, p) * 1000, 1)
                                       for q, p in (("p50", 0.5), ("p99", 0.99), ("max", 1.0))}
    by_kind = defaultdict(list)
    for v in result["violations"]:
        by_kind[f'{v["checker"]}/{v["kind"]}'].append(v)
    listed = [v for vs in by_kind.values() for v in vs[:MAX_LISTED]]
    report = {
        "valid": result["valid"] and not errors,
        "options": options,
        "schedule": [step._asdict() for step in plan],
        "faults_applied": [w[2] for w in fault_windows(events)],
        "stats": stats,
        "violation_counts": result["violation_counts"],
        "violations": listed,
        "harness_errors": errors,
    }
    (run_dir / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    summary = summary_text(report)
    (run_dir / "summary.txt").write_text(summary + "\n")
    try:
        plot(events, run_dir / "plot.png", f'seed {options["seed"]}: {", ".join(options["nemesis"]) or "no faults"}')
    except ImportError as e:
        report["plot"] = f"not drawn: {e}"
    return report


def summary_text(report):
    s = report["stats"]
    verdict = "VALID" if report["valid"] else "INVALID"
    lines = [
        f'{verdict}  seed {report["options"]["seed"]}  faults: {", ".join(report["faults_applied"]) or "none"}',
        f'  produce: {s.get("invoked", 0)} sent, {s.get("acknowledged", 0)} acknowledged '
        f'({s.get("acknowledged_without_offset", 0)} without an offset), {s.get("failed", 0)} refused, {s.get("indeterminate", 0)} unknown '
        f'({s.get("indeterminate_present", 0)} of them landed)',
        f'  consumed: {s.get("consumed", 0)} records by {s.get("consumers", 0)} consumers, '
        f'{s.get("commits_ok", 0)} commits acknowledged',
    ]
    if s.get("hung_calls"):
        lines.append(f'  client calls given up as hung (worker restarted): {s["hung_calls"]}')
    if s.get("transactions"):
        lines.append(f'  transactions: {s["transactions"]} '
                     f'({s.get("txn_committed", 0)} committed, {s.get("txn_aborted", 0)} aborted, '
                     f'{s.get("txn_unknown", 0)} unknown)')
    if s.get("admin_ops"):
        lines.append(f'  admin operations: {s["admin_ops"]}')
    lines.append(f'  unavailable: {s.get("unavailable_s", 0)} s in all, longest {s.get("longest_unavailable_s", 0)} s; '
                 f'first acknowledgement {s.get("recovery_s")} s after the last heal')
    if "produce_latency_ms" in s:
        q = s["produce_latency_ms"]
        lines.append(f'  produce latency: p50 {q["p50"]} ms, p99 {q["p99"]} ms, max {q["max"]} ms')
    for kind, n in sorted(report["violation_counts"].items()):
        promised = any(v["promised"] for v in report["violations"]
                       if f'{v["checker"]}/{v["kind"]}' == kind)
        lines.append(f'  {"VIOLATION" if promised else "observed (not promised)"}: {kind} x{n}')
    for err in report["harness_errors"]:
        lines.append(f"  HARNESS ERROR: {err}")
    return "\n".join(lines)


def table(dirs):
    """One Markdown row per directory of runs: what docs/reliability.md shows."""
    rows = ["| runs | workload | faults | faults applied | operations | acknowledged | lost | duplicated "
            "| other violations | invalid runs | unavailable s (median) |",
            "|---|---|---|---|---|---|---|---|---|---|---|"]
    for d in dirs:
        reports = [json.loads(p.read_text()) for p in sorted(Path(d).glob("seed-*/report.json"))]
        if not reports:
            continue
        opts = reports[0]["options"]
        counts = defaultdict(int)
        for r in reports:
            for kind, n in r["violation_counts"].items():
                if any(v["promised"] for v in r["violations"] if f'{v["checker"]}/{v["kind"]}' == kind):
                    counts[kind] += n
        lost = counts.pop("produce/lost", 0)
        dup = counts.pop("produce/duplicated", 0)
        other = ", ".join(f"{k} x{n}" for k, n in sorted(counts.items())) or "0"
        unavailable = sorted(r["stats"].get("unavailable_s", 0) for r in reports)
        seeds = [r["options"]["seed"] for r in reports]
        rows.append(
            f'| {len(reports)} (seeds {min(seeds)}-{max(seeds)}) | {",".join(opts["workload"])}'
            f'{" acks=" + str(opts["acks"]) if opts["acks"] != "all" else ""}'
            f'{"" if opts["idempotence"] else " no idempotence"}'
            f'{" group.protocol=" + opts["group_protocol"] if opts.get("group_protocol", "classic") != "classic" else ""}'
            f' | {",".join(opts["nemesis"])} '
            f'| {sum(len(r["faults_applied"]) for r in reports)} '
            f'| {sum(r["stats"].get("operations", 0) for r in reports)} '
            f'| {sum(r["stats"].get("acknowledged", 0) for r in reports)} | {lost} | {dup} | {other} '
            f'| {sum(1 for r in reports if not r["valid"])} | {unavailable[len(unavailable) // 2]} |')
    return "\n".join(rows)


def fault_table(dirs):
    """One Markdown row per fault across every run under `dirs`: in how many
    runs it was applied (the "seeds per fault" the long runs are counted
    in), how often, and what the runs that had it found. A run with several
    faults counts for each of them, so its violations show on each row."""
    runs = defaultdict(int)
    applied = defaultdict(int)
    invalid = defaultdict(int)
    found = defaultdict(lambda: defaultdict(int))
    seeds = defaultdict(list)
    for d in dirs:
        for p in sorted(Path(d).glob("seed-*/report.json")):
            r = json.loads(p.read_text())
            for fault in r["faults_applied"]:
                applied[fault] += 1
            for fault in set(r["faults_applied"]):
                runs[fault] += 1
                seeds[fault].append(r["options"]["seed"])
                if not r["valid"]:
                    invalid[fault] += 1
                for kind, n in r["violation_counts"].items():
                    if any(v["promised"] for v in r["violations"] if f'{v["checker"]}/{v["kind"]}' == kind):
                        found[fault][kind] += n
    rows = ["| fault | runs with it | times applied | lost | duplicated | other violations | invalid runs |",
            "|---|---|---|---|---|---|---|"]
    for fault in sorted(runs, key=lambda f: (-runs[f], f)):
        counts = dict(found[fault])
        lost = counts.pop("produce/lost", 0)
        dup = counts.pop("produce/duplicated", 0)
        other = ", ".join(f"{k} x{n}" for k, n in sorted(counts.items())) or "0"
        rows.append(f"| {fault} | {runs[fault]} | {applied[fault]} | {lost} | {dup} | {other} | {invalid[fault]} |")
    return "\n".join(rows)

