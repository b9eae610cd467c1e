"""Fixtures for the external-client tests: a fresh `vltava server` per test
module on a free 127.0.0.1 port with a temporary data directory.

VLTAVA_BIN names the binary (default: target/debug/vltava under the repo).
VLTAVA_KEEP_LOGS=DIR keeps each broker's log there. The broker's log is
checked after every test: a "cannot encode" warning (a
response the broker could not encode for the negotiated version) or a panic
fails the test that caused it.
"""

import gc
import os
import re
import resource
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BIN = Path(os.environ.get("VLTAVA_BIN", REPO / "target" / "debug" / "vltava"))

# Log lines that mean a broker bug whatever the client saw.
BROKER_BUGS = re.compile(r"cannot encode|panicked|has no handler")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Broker:
    """One running `vltava server`.

    listeners: extra listeners besides PLAINTEXT, {NAME: spec}. NAME is the
    listener's name (upper case); spec is None or a list of settings for that
    listener only ("ssl.client.auth=required" becomes
    "listener.name.<name>.ssl.client.auth=required"), or a dict
    {"protocol": "SSL", "settings": [...]} for a name that is not a security
    protocol's. Each listener gets a free 127.0.0.1 port and the broker runs
    with `--set listeners=PLAINTEXT://...,NAME://...` instead of `--listen`;
    bootstrap_for(NAME) is its address. `bootstrap` and `port` stay the
    PLAINTEXT listener's."""

    PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")

    def __init__(self, settings=(), nofile=None, listeners=None, advertise=False):
        if not BIN.exists():
            raise RuntimeError(f"{BIN} does not exist: run `cargo build -p vltava` or set VLTAVA_BIN")
        self.dir = Path(tempfile.mkdtemp(prefix="vltava-ext-"))
        self.settings = list(settings)
        self.nofile = nofile  # RLIMIT_NOFILE for the broker process
        # advertise: set advertised.listeners to the listeners' addresses
        # (as a static setting, the way a Kafka properties file names it).
        self.advertise = advertise
        self.listeners = {}  # NAME -> (protocol, [settings])
        for name, spec in (listeners or {}).items():
            name = name.upper()
            if name == "PLAINTEXT":
                raise ValueError("the PLAINTEXT listener is always there")
            if isinstance(spec, dict):
                protocol, extra = spec["protocol"].upper(), list(spec.get("settings", ()))
            else:
                protocol, extra = name, list(spec or ())
            if protocol not in self.PROTOCOLS:
                raise ValueError(f"listener {name}: name a protocol with {{'protocol': ...}}")
            self.listeners[name] = (protocol, extra)
        self.log_path = self.dir / "broker.log"
        self.proc = None
        self.log_offset = 0
        self.ports = {}
        for attempt in range(5):
            self.port = free_port()
            self.ports = {"PLAINTEXT": self.port}
            for name in self.listeners:
                self.ports[name] = free_port()
            if self._start():
                return
        raise RuntimeError(f"broker did not start; log:\n{self.log_tail()}")

    @property
    def bootstrap(self):
        return f"127.0.0.1:{self.port}"

    def bootstrap_for(self, name):
        """The address ("127.0.0.1:PORT") of listener NAME."""
        return f"127.0.0.1:{self.ports[name.upper()]}"

    def _listener_args(self):
        spec = ",".join(f"{name}://127.0.0.1:{port}" for name, port in self.ports.items())
        advertised = ["--set", f"advertised.listeners={spec}"] if self.advertise else []
        if not self.listeners:
            return ["--listen", self.bootstrap, *advertised]
        args = ["--set", f"listeners={spec}", *advertised]
        if any(name != protocol for name, (protocol, _) in self.listeners.items()):
            mapping = {p: p for p in self.PROTOCOLS}
            mapping.update({name: protocol for name, (protocol, _) in self.listeners.items()})
            args += ["--set", "listener.security.protocol.map=" + ",".join(f"{k}:{v}" for k, v in mapping.items())]
        for name, (_, extra) in self.listeners.items():
            for s in extra:
                args += ["--set", f"listener.name.{name.lower()}.{s}"]
        return args

    def _start(self):
        args = [str(BIN), "server", *self._listener_args(), "--data-dir", str(self.dir / "data")]
        # No HTTP listener unless a test asks: its default port would be
        # shared by every broker these tests start.
        args += ["--set", "http.listeners="]
        for s in self.settings:
            args += ["--set", s]
        env = dict(os.environ)
        env.setdefault("RUST_LOG", "info")
        env["NO_COLOR"] = "1"
        log = open(self.log_path, "ab")
        log_start = log.tell()
        def limits():
            if self.nofile is not None:
                resource.setrlimit(resource.RLIMIT_NOFILE, (self.nofile, self.nofile))

        self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=env, preexec_fn=limits)
        log.close()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False  # e.g. the port was taken between probe and bind
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    pass
            except OSError:
                time.sleep(0.05)
                continue
            if self._listening(log_start):
                return True
            time.sleep(0.05)
        self.stop()
        return False

    def _listening(self, log_start):
        """True when the log (since log_start) says every extra listener is
        bound. The other listeners are not probed with a connection: a bare
        TCP connect on a TLS or SASL listener would log a closed connection."""
        if not self.listeners:
            return True
        with open(self.log_path, "rb") as f:
            f.seek(log_start)
            text = f.read().decode(errors="replace")
        return all(f"listening on 127.0.0.1:{self.ports[name]} " in text for name in self.listeners)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def log_text(self):
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, n=40):
        return "\n".join(self.log_text().splitlines()[-n:])

    def new_log(self):
        """Log written since the last call."""
        text = self.log_text()
        new, self.log_offset = text[self.log_offset:], len(text)
        return new

    def restart(self):
        """Stops the broker cleanly and starts it again on the same port and data."""
        self.stop()
        if not self._start():
            raise RuntimeError(f"broker did not restart; log:\n{self.log_tail()}")

    def kill_restart(self):
        """Kills the broker with SIGKILL (no clean shutdown) and starts it
        again on the same port and data."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc = None
        if not self._start():
            raise RuntimeError(f"broker did not restart; log:\n{self.log_tail()}")

    def stop(self):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def cleanup(self, name="broker"):
        self.stop()
        keep = os.environ.get("VLTAVA_KEEP_LOGS")
        if keep:
            Path(keep).mkdir(parents=True, exist_ok=True)
            shutil.copy(self.log_path, Path(keep) / f"{name}-{self.port}.log")
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="module")
def broker_proc(request):
    # A module may set BROKER_SETTINGS = ["key=value", ...] (`--set` options).
    b = Broker(settings=getattr(request.module, "BROKER_SETTINGS", ()))
    try:
        yield b
    finally:
        b.cleanup(request.module.__name__)


@pytest.fixture
def broker(broker_proc):
    """Bootstrap address ("127.0.0.1:PORT") of this module's broker. Fails
    the test if the broker died or logged a bug while it ran."""
    broker_proc.new_log()
    yield broker_proc.bootstrap
    # Destroy this test's clients now, while their broker is still up
    # (librdkafka handles otherwise linger and log reconnect failures).
    gc.collect()
    bugs = [l for l in broker_proc.new_log().splitlines() if BROKER_BUGS.search(l)]
    assert broker_proc.alive(), f"broker exited; log:\n{broker_proc.log_tail()}"
    assert not bugs, "broker logged:\n" + "\n".join(bugs)


@pytest.fixture
def topic_name(request):
    """A topic name unique to this test."""
    base = re.sub(r"[^A-Za-z0-9._-]", "-", request.node.name)[:150]
    return f"{base}-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def create_topic(broker):
    """create_topic(name, partitions=1, configs=None): creates a topic with
    confluent-kafka's AdminClient and waits for it."""
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": broker})

    def create(name, partitions=1, configs=None):
        futures = admin.create_topics(
            [NewTopic(name, num_partitions=partitions, replication_factor=1, config=configs or {})],
            operation_timeout=10,
        )
        futures[name].result(timeout=15)
        return name

    return create
