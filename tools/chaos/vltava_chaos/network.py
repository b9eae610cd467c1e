"""Test hosts inside this sandbox: one network namespace per node, all on
one Linux bridge, so the nemesis can cut links the way a real network fails.

  this machine  10.213.S.1/24 on the bridge (the clients live here)
  node i        10.213.S.(10+i)/24 in namespace vch<pid>n<i>, over a veth
                pair whose host end is a port of the bridge

S is derived from the harness's pid. The addresses exist only here: a guard
route (`blackhole 10.213.0.0/16`, metric 4000) keeps them on this machine
should a link's own route vanish, and every node's route is checked to go
into the bridge before anything starts.

Two kinds of fault:
- isolate: the namespace's end of the node's link goes down; nothing gets
  in or out (clients and other nodes alike), with no reset: what was in
  flight is lost, as in a real partition.
- cut: packets from one node are dropped on arrival at another, silently
  (an `ip rule ... blackhole` matched before local delivery, inside the
  receiving namespace); cut both ways, the two nodes cannot talk while
  clients on this machine still reach both. Partitions between nodes
  (majority/minority, an isolated leader, a bridge) are sets of cuts. The
  local routing table's rule is moved from priority 0 to 100 in each
  namespace so the cut rules (priority 10) come before it.

`tc netem` delay and loss would go on the same links; this machine's
kernel has no netem, so they are not offered.
"""

import itertools
import os
import subprocess

# Addresses of the test hosts (network namespaces made here); never routed off this machine.
TEST_HOSTS = "10.213.0.0/16"
CUT_PRIORITY = "10"
_networks = itertools.count()


def _ip(*args, netns=None, check=True):
    cmd = (["ip", "netns", "exec", netns] if netns else []) + ["ip", *args]
    return subprocess.run(cmd, check=check, capture_output=True, text=True)


class Host:
    def __init__(self, idx, netns, outer, inner, address):
        self.idx = idx
        self.netns = netns
        self.outer = outer  # the veth end on this machine, a port of the bridge
        self.inner = inner  # the veth end inside the namespace
        self.address = address


class TestNetwork:
    def __init__(self):
        if os.geteuid() != 0:
            raise RuntimeError("test hosts need root (they are network namespaces)")
        pid = os.getpid()
        # Each network of this process gets its own tag and subnet, so a
        # client left over from an earlier run cannot reach a later run's
        # nodes at the same addresses.
        n = next(_networks)
        self.tag = f"vch{pid % 100000}x{n % 100}"  # interface names: 15 bytes at most
        self.prefix = f"10.213.{(pid + n) % 250}"
        self.bridge = self.tag + "b"
        self.hosts = {}
        self.cuts = set()  # (from_idx, to_idx): packets from `from` dropped at `to`
        _ip("link", "add", self.bridge, "type", "bridge")
        try:
            _ip("addr", "add", f"{self.prefix}.1/24", "dev", self.bridge)
            _ip("link", "set", self.bridge, "up")
            # Guard (installed once; it stays, harmlessly): see the module's doc.
            _ip("route", "add", "blackhole", TEST_HOSTS, "metric", "4000", check=False)
        except BaseException:
            self.close()
            raise

    def add_host(self, idx):
        netns = f"{self.tag}n{idx}"
        outer, inner = f"{netns}h", f"{netns}g"
        address = f"{self.prefix}.{10 + idx}"
        _ip("netns", "add", netns)
        host = Host(idx, netns, outer, inner, address)
        self.hosts[idx] = host  # from here on, close() deletes it (and the veth with it)
        _ip("link", "add", outer, "type", "veth", "peer", "name", inner)
        _ip("link", "set", inner, "netns", netns)
        _ip("link", "set", outer, "master", self.bridge)
        _ip("link", "set", outer, "up")
        _ip("addr", "add", f"{address}/24", "dev", inner, netns=netns)
        _ip("link", "set", inner, "up", netns=netns)
        _ip("link", "set", "lo", "up", netns=netns)
        _ip("rule", "add", "pref", "100", "lookup", "local", netns=netns)
        _ip("rule", "del", "pref", "0", netns=netns)
        self.check_route(host)
        return host

    def check_route(self, host):
        """Refuses to go on unless traffic for the host goes into the bridge."""
        got = _ip("route", "get", host.address).stdout
        if f"dev {self.bridge}" not in got:
            raise RuntimeError(f"traffic for {host.address} would not stay on this machine: {got.strip()}")

    def isolate(self, idx):
        """Cuts the host off from everyone: the namespace's end of its link
        goes down. The bridge's port stays up, keeping the route that holds
        the address on this machine."""
        host = self.hosts[idx]
        _ip("link", "set", host.inner, "down", netns=host.netns)
        try:
            self.check_route(host)
        except RuntimeError:
            self.reconnect(idx)
            raise

    def reconnect(self, idx):
        host = self.hosts[idx]
        _ip("link", "set", host.inner, "up", netns=host.netns)

    def _rule(self, op, src, dst):
        a, b = self.hosts[src], self.hosts[dst]
        _ip("rule", op, "pref", CUT_PRIORITY, "from", a.address, "blackhole", netns=b.netns,
            check=(op == "add"))

    def cut(self, a, b):
        """No packet between hosts a and b, either way."""
        for src, dst in ((a, b), (b, a)):
            if (src, dst) not in self.cuts:
                self._rule("add", src, dst)
                self.cuts.add((src, dst))

    def partition(self, sides):
        """Cuts every link between hosts on different sides ([[0], [1, 2]]);
        hosts on no side keep every link (a bridge)."""
        for i, side in enumerate(sides):
            for other in sides[i + 1:]:
                for a in side:
                    for b in other:
                        self.cut(a, b)

    def heal(self):
        """Removes every cut."""
        for src, dst in sorted(self.cuts):
            self._rule("del", src, dst)
        self.cuts.clear()

    def heal_all(self):
        self.heal()
        for idx in self.hosts:
            self.reconnect(idx)

    def close(self):
        # Deleting a namespace deletes both ends of its link at once.
        for host in self.hosts.values():
            _ip("netns", "del", host.netns, check=False)
        self.hosts.clear()
        _ip("link", "del", self.bridge, check=False)
