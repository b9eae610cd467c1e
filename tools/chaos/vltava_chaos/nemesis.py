"""The nemesis: a fault schedule drawn from the run's seed, and the thread
that applies it, writing the start and end of every fault into the history.

Faults (the names `--nemesis` takes):
  kill       SIGKILL a node, keep it down for a while, start it again
  pause      SIGSTOP a node, then SIGCONT: it wakes as a zombie that thinks
             no time has passed
  disk-full  fill the node's (tmpfs) data file system to the last byte, then
             free the space again
  restart    a clean stop (SIGTERM) and start
  clock      step the node's wall clock forward or back by between a minute
             and two hours (libfaketime), then step it back
  isolate    cut the node off from every client and every other node (its own
             network namespace's link goes down) while it keeps running,
             then reconnect it
Faults between the nodes of a cluster (clients still reach every node):
  partition       a minority of the nodes cannot talk to the majority
  bridge          the nodes split in two halves that cannot talk to each
                  other, and one more node talks to both
  isolate-leader  the leader of a partition of the workload's topic, or the
                  metadata quorum's leader (the active controller), cannot
                  talk to any other node: a zombie leader that clients reach
  reconfigure     (a dynamic quorum only, KIP-853) a node, or the active
                  controller, is removed from the quorum's voters with
                  `vltava cluster remove-voter`, goes on as an observer for
                  a while, and is added back with `cluster add-voter`

The schedule is a pure function of (seed, duration, faults, nodes), so a run
is replayed by giving the same arguments; the timing of what the clients do
around it is not, which is why the history records what really happened.
"""

import random
import threading
import time
from collections import namedtuple

# One fault of a plan: when it starts (s since the run began), which fault,
# on which node, how long it is held, and its argument (the clock's step).
Step = namedtuple("Step", "start fault node hold arg")

FAULTS = ("kill", "pause", "disk-full", "restart", "clock", "isolate", "partition", "bridge",
          "isolate-leader", "reconfigure")
# Faults between nodes: they need a cluster (bridge needs three nodes).
CLUSTER_FAULTS = {"partition": 2, "bridge": 3, "isolate-leader": 2, "reconfigure": 2}
# Faults that change the voters: they need a dynamic quorum.
DYNAMIC_QUORUM_FAULTS = ("reconfigure",)


def schedule(seed, duration, faults, nodes=1, quiet_start=5.0, quiet_end=8.0):
    """[Step]: faults one at a time with quiet
    spells between them, none in the first `quiet_start` seconds or the last
    `quiet_end` (so every run ends healed with time to show recovery), each
    fault named at least once when the duration leaves room for it."""
    rng = random.Random(f"nemesis-{seed}")
    # Every fault asked for comes once, in a seeded order, before any repeats.
    first = sorted(faults)
    rng.shuffle(first)
    plan = []
    t = quiet_start
    while faults:
        fault = first.pop(0) if first else rng.choice(sorted(faults))
        hold = {"kill": rng.uniform(0.5, 4.0), "pause": rng.uniform(1.0, 8.0),
                "disk-full": rng.uniform(2.0, 8.0), "restart": 0.0, "clock": rng.uniform(2.0, 8.0),
                "isolate": rng.uniform(1.0, 10.0), "partition": rng.uniform(3.0, 15.0),
                "bridge": rng.uniform(3.0, 15.0), "isolate-leader": rng.uniform(3.0, 15.0),
                "reconfigure": rng.uniform(2.0, 10.0)}[fault]
        if t + hold > duration - quiet_end:
            break
        node = rng.randrange(nodes)
        # The fault's argument is drawn here so that the plan says it: the
        # clock's step (seconds, either way), a partition's sides, whose leader.
        arg = None
        if fault == "clock":
            arg = rng.choice((-1, 1)) * round(rng.uniform(60, 7200))
        elif fault == "partition":
            shuffled = rng.sample(range(nodes), nodes)
            minority = sorted(shuffled[:(nodes - 1) // 2 or 1])
            arg = [minority, sorted(shuffled[len(minority):])]
            node = minority[0]
        elif fault == "bridge":
            shuffled = rng.sample(range(nodes), nodes)
            node, rest = shuffled[0], shuffled[1:]
            arg = [sorted(rest[:len(rest) // 2]), sorted(rest[len(rest) // 2:])]
        elif fault == "isolate-leader":
            arg = rng.choice(("partition", "controller"))
        elif fault == "reconfigure":
            arg = rng.choice(("node", "controller"))
        plan.append(Step(round(t, 3), fault, node, round(hold, 3), arg))
        t += hold + rng.uniform(3.0, 9.0)
    return plan


class Nemesis(threading.Thread):
    def __init__(self, nodes, plan, history, stop_event, network=None, leaders=None, origin=0.0, voters=None):
        """The plan's times count from `origin` (the history's clock when
        the workload started). `leaders()` answers {"partition": node,
        "controller": node} (node indexes, None when unknown), for
        isolate-leader and reconfigure. `voters` changes the quorum's
        voters (remove(node), add(node)), for reconfigure."""
        super().__init__(name="nemesis", daemon=True)
        self.origin = origin
        self.nodes = nodes
        self.network = network
        self.leaders = leaders
        self.plan = plan
        self.history = history
        self.stop_event = stop_event
        self.voters = voters
        self.healed_at = None
        self.error = None

    def _wait_until(self, t):
        while not self.stop_event.is_set():
            left = self.origin + t - self.history.now()
            if left <= 0:
                return True
            time.sleep(min(left, 0.1))
        return False

    def run(self):
        try:
            for step in self.plan:
                if not self._wait_until(step.start):
                    break
                if step.fault == "isolate-leader" or (step.fault == "reconfigure" and step.arg == "controller"):
                    step = self._find_leader(step)
                extra = {} if step.arg is None else {"arg": step.arg}
                self.history.add("nemesis", "info", step.fault, value="start", node=step.node, **extra)
                detail = self._apply(step, self.nodes[step.node])
                self.history.add("nemesis", "info", step.fault, value="stop", node=step.node, **detail)
                self.healed_at = self.history.now()
        except Exception as e:  # the run reports it; a half-applied fault is healed by heal_all
            self.error = f"{type(e).__name__}: {e}"
            self.history.add("nemesis", "info", "error", value=self.error)

    def _find_leader(self, step):
        """The plan names whose leader; the node is whoever leads now (the
        planned node when that cannot be learnt)."""
        try:
            node = (self.leaders() or {}).get(step.arg)
        except Exception:  # noqa: BLE001 - a cluster under faults may not answer
            node = None
        return step._replace(node=step.node if node is None else node)

    def _reconfigure(self, index, hold):
        """Node `index` leaves the voters, stays an observer for `hold`
        seconds, and comes back; the attempts each change took."""
        node = self.nodes[index]
        removed = self.voters.remove(node)
        time.sleep(hold)
        added = self.voters.add(node)
        return {"remove_attempts": removed, "add_attempts": added}

    def _apply(self, step, node):
        fault, hold = step.fault, step.hold
        if fault in ("partition", "bridge"):
            self.network.partition(step.arg)
            time.sleep(hold)
            self.network.heal()
            return {}
        if fault == "isolate-leader":
            others = [i for i in range(len(self.nodes)) if i != step.node]
            self.network.partition([[step.node], others])
            time.sleep(hold)
            self.network.heal()
            return {}
        if fault == "reconfigure":
            return self._reconfigure(step.node, hold)
        if fault == "clock":
            node.set_clock_offset(step.arg)
            time.sleep(hold)
            node.set_clock_offset(0)
            return {}
        if fault == "isolate":
            node.isolate()
            time.sleep(hold)
            node.reconnect()
            return {}
        if fault == "kill":
            node.kill()
            time.sleep(hold)
            node.start()
            return {}
        if fault == "pause":
            node.pause()
            time.sleep(hold)
            node.resume()
            return {}
        if fault == "restart":
            node.stop()
            node.start()
            return {}
        if fault == "disk-full":
            written = node.fill_disk()
            time.sleep(hold)
            free = node.disk_usage().free
            node.free_disk()
            return {"filled_bytes": written, "free_bytes_before_heal": free}
        raise ValueError(f"unknown fault {fault}")

    def heal_all(self):
        """Undoes whatever a stopped or failed nemesis left behind."""
        if self.network:
            self.network.heal_all()
        for node in self.nodes:
            node.free_disk()
            if node.clock_file:
                node.set_clock_offset(0)
            if node.paused:
                node.resume()
            if not node.alive():
                node.start()
        # Voters last: a node taken out (or half taken out by a fault that
        # failed) comes back once it runs and has caught up.
        if self.voters:
            self.voters.restore(self.nodes)
