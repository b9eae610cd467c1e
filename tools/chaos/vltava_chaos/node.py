"""One `vltava server` process, and what the nemesis can do to it.

A node's data directory can live on a small tmpfs of its own so that the
disk-full fault fills that file system and nothing else (mounting needs
root; the fault is refused without it).

A node can run with its own wall clock: libfaketime (Debian's libfaketime)
is preloaded and reads the clock's offset from a file once a second, so the
clock fault steps the node's CLOCK_REALTIME forward or back without touching
the host's clock. Monotonic time is left alone, as an NTP step leaves it.

A node can live on a test host of its own (network.py): a network
namespace on a bridge of test hosts, so that the nemesis can cut it off from
its clients or from other nodes mid-request, with no reset.

In a cluster (several nodes) each node is a combined broker and controller
and a voter of the metadata quorum, with a properties file of its own
(`node.properties`: node.id, process.roles, listeners,
controller.quorum.voters, then the harness's settings) and a data directory
formatted with `vltava storage format` and the cluster's id. A dynamic
quorum (KIP-853) names no voters in the file: every node has
controller.quorum.bootstrap.servers and is formatted with
`--initial-controllers`, which gives each voter the directory id the
harness drew for it, so that the nemesis can remove voters and add them
back.
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


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Node:
    def __init__(self, binary, run_dir, node_id=0, settings=(), disk_mb=None, own_clock=False,
                 host=None, network=None, cluster=None):
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
        self.network = network
        self.test_host = host
        self.netns = host.netns if host else None
        # None for one node, else {"id": cluster id, "voters": "1@addr:port,..."}
        # for a static quorum, or {"id", "bootstrap_servers": "addr:port,...",
        # "initial_controllers": "1@addr:port:dir,...", "directory_ids": [dir
        # of node 0, ...]} for a dynamic one.
        self.cluster = cluster
        self.directory_id = cluster["directory_ids"][node_id] if cluster and "directory_ids" in cluster else None
        self.config = self.dir / "node.properties"
        self.proc = None
        self.paused = False
        try:
            self._set_up(disk_mb, own_clock)
        except BaseException:
            self.close()  # undo whatever part was made
            raise

    def _set_up(self, disk_mb, own_clock):
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
        if self.test_host:
            self.host, self.port = self.test_host.address, 9092
        else:
            self.host, self.port = "127.0.0.1", free_port()
            # The broker's HTTP listener (metrics, health) would default to
            # 127.0.0.1:9644 and collide with another run or a developer's
            # broker on this machine; its own port, kept across restarts.
            self.settings.append(f"http.listeners=127.0.0.1:{free_port()}")
        if self.cluster:
            self._format()

    @property
    def kafka_id(self):
        """The node.id the broker knows itself by (Kafka's ids start at 1 here)."""
        return self.node_id + 1

    def _format(self):
        lines = [f"node.id={self.kafka_id}", "process.roles=broker,controller",
                 f"listeners=PLAINTEXT://{self.bootstrap}"]
        extra = []
        if self.directory_id:
            lines.append(f"controller.quorum.bootstrap.servers={self.cluster['bootstrap_servers']}")
            extra = ["--initial-controllers", self.cluster["initial_controllers"]]
        else:
            lines.append(f"controller.quorum.voters={self.cluster['voters']}")
        lines += self.settings
        self.config.write_text("# A node of a tools/chaos cluster.\n" + "\n".join(lines) + "\n")
        out = subprocess.run([self.binary, "storage", "format", f"--cluster-id={self.cluster['id']}", "--config",
                              str(self.config), "--data-dir", str(self.data)] + extra,
                             capture_output=True, text=True)
        if out.returncode != 0:
            raise RuntimeError(f"formatting node {self.node_id}: {out.stderr.strip()}")

    @property
    def bootstrap(self):
        return f"{self.host}:{self.port}"

    def isolate(self):
        """Cuts the node off from clients and other nodes alike."""
        self.network.isolate(self.node_id)

    def reconnect(self):
        self.network.reconnect(self.node_id)

    def start(self, timeout=30):
        """Starts the broker and waits until it accepts connections."""
        if self.closed:
            raise RuntimeError(f"node {self.node_id} is closed")
        if self.cluster:
            args = [self.binary, "server", "--config", str(self.config), "--data-dir", str(self.data)]
        else:
            args = [self.binary, "server", "--listen", self.bootstrap, "--data-dir", str(self.data)]
            for s in self.settings:
                args += ["--set", s]
        if self.netns:
            args = ["ip", "netns", "exec", self.netns] + args  # execs the broker: same pid
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
            # The data directory lives on the tmpfs about to go: with
            # VLTAVA_CHAOS_KEEP_DATA=1 it is copied out first (node-N/data),
            # so a run's segments and indexes can be looked at afterwards.
            if os.environ.get("VLTAVA_CHAOS_KEEP_DATA") == "1" and self.data.exists():
                shutil.copytree(self.data, self.dir / "data", dirs_exist_ok=True)
            subprocess.run(["umount", "-l", str(self.disk)], check=False)
            self.mounted = False
