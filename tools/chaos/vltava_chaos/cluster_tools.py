"""What the harness asks of the cluster as an operator would: through the
`vltava` binary's own tools (`vltava features`, `vltava cluster
remove-voter|add-voter`), so that the tools are exercised too.

Each call is retried until a deadline: the cluster may be between leaders
when it is asked, and KIP-853 refuses a voter change while another is not
yet committed (REQUEST_TIMED_OUT) or while the node to add has not caught up.
"""

import json
import subprocess
import time


class ToolFailed(RuntimeError):
    pass


def _run(binary, bootstrap, args, within_s):
    """Runs `vltava <args> --bootstrap ...` until it succeeds or `within_s`
    passes (0: once); returns (stdout, attempts)."""
    deadline = time.monotonic() + within_s
    attempts = 0
    while True:
        attempts += 1
        try:
            out = subprocess.run([binary] + args[:1] + ["--bootstrap", bootstrap, "--request-timeout-ms", "10000"]
                                 + args[1:], capture_output=True, text=True, timeout=30)
            if out.returncode == 0:
                return out.stdout, attempts
            why = (out.stderr or out.stdout).strip()
        except subprocess.TimeoutExpired:
            why = "timed out after 30 s"
        if time.monotonic() >= deadline:
            raise ToolFailed(f"vltava {' '.join(args)}: {why} (attempt {attempts})")
        time.sleep(1.0)


def enable_elr(binary, bootstrap, within_s=60):
    """Turns eligible leader replicas (KIP-966) on for the cluster."""
    _run(binary, bootstrap, ["features", "upgrade", "--feature", "eligible.leader.replicas.version=1"],
         within_s)


def voters(binary, bootstrap, within_s=30):
    """The quorum's voter ids, sorted. `vltava cluster` shows a null
    quorum when DescribeQuorum failed (between leaders): asked again."""
    deadline = time.monotonic() + within_s
    while True:
        out, _ = _run(binary, bootstrap, ["cluster", "--output", "json"], max(0.0, deadline - time.monotonic()))
        try:
            quorum = json.loads(out).get("quorum")
        except ValueError:
            quorum = None
        if quorum is not None:
            return sorted(v["id"] for v in quorum["voters"])
        if time.monotonic() >= deadline:
            raise ToolFailed(f"vltava cluster: no quorum described within {within_s} s")
        time.sleep(1.0)


def _change_voters(binary, bootstrap, args, node_id, want_voter, within_s):
    """Runs a voter change until the quorum shows node `node_id` as a voter
    (or not, as `want_voter` says): a change whose answer was lost may
    have been made, and its retry would be refused. Returns the attempts."""
    deadline = time.monotonic() + within_s
    attempts = 0
    while True:
        attempts += 1
        try:
            _run(binary, bootstrap, args, within_s=0)
            return attempts
        except ToolFailed as e:
            failure = e
        try:
            if (node_id in voters(binary, bootstrap, within_s=0)) == want_voter:
                return attempts
        except ToolFailed:
            pass
        if time.monotonic() >= deadline:
            raise failure
        time.sleep(1.0)


def remove_voter(binary, bootstrap, node_id, within_s=60):
    """Takes node `node_id` out of the voters (it goes on as an observer);
    returns the attempts it took."""
    return _change_voters(binary, bootstrap, ["cluster", "remove-voter", "--id", str(node_id)], node_id,
                          False, within_s)


def add_voter(binary, bootstrap, node, within_s=90):
    """Makes `node` (a Node, running as an observer) a voter again at its
    listener; returns the attempts it took."""
    return _change_voters(binary, bootstrap,
                          ["cluster", "add-voter", "--id", str(node.kafka_id), "--host", node.host,
                           "--port", str(node.port), "--listener", "PLAINTEXT",
                           "--directory-id", node.directory_id], node.kafka_id, True, within_s)


class QuorumVoters:
    """The reconfigure fault's handle on a dynamic quorum's voters."""

    def __init__(self, binary, bootstrap):
        self.binary = binary
        self.bootstrap = bootstrap

    def remove(self, node):
        return remove_voter(self.binary, self.bootstrap, node.kafka_id)

    def add(self, node):
        return add_voter(self.binary, self.bootstrap, node)

    def restore(self, nodes):
        """Every node a voter again; the ids that had to be added back."""
        current = voters(self.binary, self.bootstrap, within_s=60)
        missing = [n for n in nodes if n.kafka_id not in current]
        for node in missing:
            self.add(node)
        return [n.kafka_id for n in missing]
