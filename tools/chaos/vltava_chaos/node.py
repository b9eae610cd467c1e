"""One `vltava server` process, and what the nemesis can do to it.

A node's data directory can live on a small tmpfs of its own so that the
disk-full fault fills that file system and nothing else (mounting needs
root; the fault is refused without it).

A node can run with its own wall clock: libfaketime (Debian's libfaketime)
is preloaded and reads the clock's offset from a file once a second, so the
clock fault steps the node's CLOCK_REALTIME forward or back without touching
the host's clock. Monotonic time is left alone, as an NTP step leaves it.

A node can live on a test host of its own: a network namespace joined to
this machine's by a veth pair (10.213.X.Y/30, addresses that exist only
inside this sandbox), so that the isolate fault can take the link down and
cut the node off from its clients mid-request, with no reset: what was in
flight is lost, as in a real network partition. (`tc netem` delay and loss
would go on the same link; this machine's kernel has no netem.)
"""

import glob

import errno
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path


# Addresses of the test hosts (network namespaces made here); never routed off this machine.
TEST_HOSTS = "10.213.0.0/16"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Node:
    def __init__(self, binary, run_dir, node_id=0, settings=(), disk_mb=None, own_clock=False,
                 own_host=False):
        self.binary = str(binary)
        self.node_id = node_id
        self.dir = Path(run_dir) / f"node-{node_id}"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.disk = self.dir / "disk"
        self.disk.mkdir(exist_ok=True)
        self.data = self.disk / "data"
        self.filler = self.disk / "filler"
        self.log_path = self.dir / "broker.log"
        self.settings = list(settings)
        self.clock_file = None
        self.faketime = None
        self.mounted = False
        self.closed = False
        self.netns = None
        self.proc = None
        self.paused = False
        try:
            self._set_up(disk_mb, own_clock, own_host)
        except BaseException:
            self.close()  # undo whatever part was made
            raise

    def _set_up(self, disk_mb, own_clock, own_host):
        if disk_mb:
            if os.geteuid() != 0:
                raise RuntimeError("the disk-full fault needs root (it mounts a small tmpfs)")
            subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={int(disk_mb)}m", "tmpfs", str(self.disk)],
                           check=True)
            self.mounted = True
        if own_clock:
            libs = sorted(glob.glob("/usr/lib/*/faketime/libfaketime.so.1"))
            if not libs:
                raise RuntimeError("the clock fault needs libfaketime (apt-get install libfaketime)")
            self.faketime = libs[0]
            self.clock_file = self.dir / "clock-offset"
            self.set_clock_offset(0)
        self.host = "127.0.0.1"
        if own_host:
            self._make_host()
            self.port = 9092
        else:
            self.port = free_port()

    @property
    def bootstrap(self):
        return f"{self.host}:{self.port}"

    def _make_host(self):
        if os.geteuid() != 0:
            raise RuntimeError("the isolate fault needs root (it makes a network namespace)")
        tag = f"vch{os.getpid() % 100000}n{self.node_id}"
        self.veth, self.inner = tag + "h", tag + "g"
        subprocess.run(["ip", "netns", "add", tag], check=True)
        self.netns = tag  # from here on, close() deletes it (and the veth with it)
        subnet = os.getpid() % 250
        outside, inside = f"10.213.{subnet}.{4 * self.node_id + 1}", f"10.213.{subnet}.{4 * self.node_id + 2}"
        # Guard: should the link's own route ever vanish, packets for the
        # test hosts are dropped here instead of following the default
        # route off this machine. (Installed once; it stays, harmlessly.)
        subprocess.run(["ip", "route", "add", "blackhole", TEST_HOSTS, "metric", "4000"],
                       check=False, stderr=subprocess.DEVNULL)
        for cmd in (["ip", "link", "add", self.veth, "type", "veth", "peer", "name", self.inner],
                    ["ip", "link", "set", self.inner, "netns", self.netns],
                    ["ip", "addr", "add", f"{outside}/30", "dev", self.veth],
                    ["ip", "link", "set", self.veth, "up"],
                    ["ip", "netns", "exec", self.netns, "ip", "addr", "add", f"{inside}/30", "dev", self.inner],
                    ["ip", "netns", "exec", self.netns, "ip", "link", "set", self.inner, "up"],
                    ["ip", "netns", "exec", self.netns, "ip", "link", "set", "lo", "up"]):
            subprocess.run(cmd, check=True)
        self.host = inside
        self._check_route()

    def _check_route(self):
        """Refuses to go on unless traffic for the node goes into its veth."""
        got = subprocess.run(["ip", "route", "get", self.host], capture_output=True, text=True).stdout
        if f"dev {self.veth}" not in got:
            raise RuntimeError(f"traffic for {self.host} would not stay on this machine: {got.strip()}")

    def isolate(self):
        """Cuts the node off: the namespace's end of the link goes down, so
        nothing gets through either way. The host's end stays up, keeping
        the route that holds the node's address on this machine."""
        subprocess.run(["ip", "netns", "exec", self.netns, "ip", "link", "set", self.inner, "down"], check=True)
        try:
            self._check_route()
        except RuntimeError:
            self.reconnect()
            raise

    def reconnect(self):
        subprocess.run(["ip", "netns", "exec", self.netns, "ip", "link", "set", self.inner, "up"], check=True)

    def start(self, timeout=30):
        """Starts the broker and waits until it accepts connections."""
        if self.closed:
            raise RuntimeError(f"node {self.node_id} is closed")
        args = [self.binary, "server", "--listen", self.bootstrap, "--data-dir", str(self.data)]
        if self.netns:
            args = ["ip", "netns", "exec", self.netns] + args  # execs the broker: same pid
        for s in self.settings:
            args += ["--set", s]
        env = dict(os.environ)
        env.setdefault("RUST_LOG", "info")
        env["NO_COLOR"] = "1"
        if self.faketime:
            env.update({"LD_PRELOAD": self.faketime, "FAKETIME_TIMESTAMP_FILE": str(self.clock_file),
                        "FAKETIME_CACHE_DURATION": "1", "DONT_FAKE_MONOTONIC": "1"})
        deadline = time.monotonic() + timeout
        while True:
            with open(self.log_path, "ab") as log:
                self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=env,
                                             start_new_session=True)
            while time.monotonic() < deadline and self.proc.poll() is None:
                try:
                    with socket.create_connection((self.host, self.port), timeout=0.5):
                        return
                except OSError:
                    time.sleep(0.05)
            if time.monotonic() >= deadline:
                self.kill()
                raise RuntimeError(f"node {self.node_id} did not start in {timeout} s; log:\n{self.log_tail()}")
            time.sleep(0.5)  # exited (e.g. could not write at start-up): try again

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def kill(self):
        """SIGKILL: no clean shutdown, nothing flushed beyond the page cache."""
        if self.alive():
            self.proc.kill()  # SIGKILL ends a stopped process too
            self.proc.wait()
        self.paused = False

    def stop(self, timeout=20):
        """SIGTERM and wait for a clean shutdown (SIGKILL after `timeout`)."""
        if self.alive():
            if self.paused:
                self.resume()
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()

    def pause(self):
        if self.alive():
            self.proc.send_signal(signal.SIGSTOP)
            self.paused = True

    def resume(self):
        if self.alive():
            self.proc.send_signal(signal.SIGCONT)
        self.paused = False

    def set_clock_offset(self, seconds):
        """Steps the node's wall clock to `seconds` away from the host's
        (seen by the node within a second)."""
        tmp = self.clock_file.with_suffix(".tmp")
        tmp.write_text(f"{int(seconds):+d}\n")
        tmp.replace(self.clock_file)

    def fill_disk(self):
        """Fills the node's file system to the last byte; returns the bytes written."""
        written = 0
        chunk = b"\0" * (1 << 20)
        with open(self.filler, "ab", buffering=0) as f:
            for size in (1 << 20, 4096, 512, 1):
                piece = chunk[:size]
                while True:
                    try:
                        n = f.write(piece)
                    except OSError as e:
                        if e.errno != errno.ENOSPC:
                            raise
                        break
                    written += n or 0
                    if not n:
                        break
        return written

    def free_disk(self):
        try:
            self.filler.unlink()
        except FileNotFoundError:
            pass

    def disk_usage(self):
        return shutil.disk_usage(self.disk)

    def log_text(self):
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, n=40):
        return "\n".join(self.log_text().splitlines()[-n:])

    def close(self):
        self.closed = True
        self.stop()
        self.free_disk()
        if self.mounted:
            subprocess.run(["umount", "-l", str(self.disk)], check=False)
            self.mounted = False
        if self.netns:
            # Deleting the namespace deletes both ends of the link at once.
            subprocess.run(["ip", "netns", "del", self.netns], check=False)
            self.netns = None
