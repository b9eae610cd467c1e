"""Stands in for kafka-python's test/integration/fixtures.py so that its own
integration tests (every module of test/integration/) run,
unchanged, against a `vltava server` instead of a Kafka it downloads and
starts with Java.

It is loaded as a pytest plugin (`-p vltava_fixtures`, see run.sh) before
the tests are collected, and makes itself the module
`test.integration.fixtures`: kafka-python's conftest.py and the test modules
import KafkaFixture, ZookeeperFixture, create_topics and client_params from
it. (`test` is bound to the sdist's test/ directory first: that directory
has no __init__.py, and the standard library's own `test` package would win.)

KafkaFixture keeps the interface the tests use: instance(), start(),
close(), host, port, transport, sasl_mechanism, ssl_dir (with `ca-cert`),
partitions, replicas, child.dump_logs(), get_topic_names(),
_enrich_client_params(). The broker is tests/external/conftest.py's Broker:
a PLAINTEXT listener for setup (SCRAM credentials) plus the listener the
fixture is for, whose address is host:port, as in Kafka's fixture. Its
settings follow Kafka's fixture: sasl.enabled.mechanisms=<the mechanism>,
PLAIN users in the listener's JAAS config (user_alice), SCRAM credentials
for alice (`vltava users scram set`), StandardAuthorizer with
allow.everyone.if.no.acl.found=true, num.partitions from `partitions`,
certificates from `vltava dev-certs` (ca.pem is copied to <ssl_dir>/ca-cert),
and from Kafka's fixture template: node.id = the broker id the tests give
(0), advertised.listeners, group.min.session.timeout.ms=1000,
group.initial.rebalance.delay.ms=0, offsets.topic.num.partitions=2.
"""

import base64
import importlib.util
import logging
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import types
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = Path(os.environ.get("VLTAVA_REPO", HERE.parents[2]))
SRC = Path(os.environ.get("KAFKA_PYTHON_SRC", os.getcwd()))

log = logging.getLogger(__name__)


def _load_external_conftest():
    spec = importlib.util.spec_from_file_location("vltava_external_conftest", REPO / "tests" / "external" / "conftest.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_ext = _load_external_conftest()
Broker, BIN, BROKER_BUGS = _ext.Broker, _ext.BIN, _ext.BROKER_BUGS


def _install_as_fixtures_module():
    """Binds `test` to SRC/test and this module to test.integration.fixtures."""
    test_dir = SRC / "test"
    if not (test_dir / "integration" / "test_sasl_integration.py").exists():
        raise RuntimeError(f"{test_dir} is not kafka-python's test directory: set KAFKA_PYTHON_SRC")
    pkg = types.ModuleType("test")
    pkg.__path__ = [str(test_dir)]
    pkg.__file__ = None
    sys.modules["test"] = pkg
    import test.integration  # noqa: E402  (the sdist's, empty)

    sys.modules["test.integration.fixtures"] = sys.modules[__name__]
    test.integration.fixtures = sys.modules[__name__]


# kafka-python's helpers, as in its fixtures.py (KRaft, admin client path).
from kafka import KafkaAdminClient  # noqa: E402
from kafka.errors import InvalidReplicationFactorError  # noqa: E402


def _random_string(length):
    import random
    import string

    return "".join(random.choice(string.ascii_letters) for _ in range(length))


def _env_kafka_version():
    if "KAFKA_VERSION" not in os.environ:
        return ()
    return tuple(map(int, os.environ["KAFKA_VERSION"].split(".")))


def create_topics(broker, topic_names, num_partitions=None, replication_factor=None):
    """Create topics on the given broker fixture (KafkaAdminClient)."""
    if num_partitions is None:
        num_partitions = broker.partitions
    if replication_factor is None:
        replication_factor = broker.replicas
    params = broker._enrich_client_params({"api_version": _env_kafka_version(), "client_id": "topic_creator"})
    with KafkaAdminClient(**params) as admin:
        topics = {name: {"num_partitions": num_partitions, "replication_factor": replication_factor}
                  for name in topic_names}
        try:
            admin.create_topics(topics, wait_for_metadata=True)
        except InvalidReplicationFactorError:
            time.sleep(0.5)
            admin.create_topics(topics, wait_for_metadata=True)


def client_params(broker, client_id="client", **overrides):
    """Build connection params for a client from a broker fixture."""
    return broker._enrich_client_params(overrides, client_id="%s_%s" % (client_id, _random_string(4)))


def get_open_port():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


class _Child:
    """The `child` the tests call dump_logs() on: the broker's log."""

    def __init__(self, broker):
        self.broker = broker

    def dump_logs(self):
        text = self.broker.log_text() if self.broker else ""
        log.info("vltava broker log (%d lines):\n%s", len(text.splitlines()), text[-20000:])


class Fixture:
    kafka_version = os.environ.get("KAFKA_VERSION", "4.2.0")

    def dump_logs(self):
        self.child.dump_logs()


class ZookeeperFixture(Fixture):
    """Vltava has no ZooKeeper (KRaft only): kafka-python asks for one only
    for KAFKA_VERSION < 4.0."""

    @classmethod
    def instance(cls, *args, **kwargs):
        raise RuntimeError("Vltava runs without ZooKeeper: set KAFKA_VERSION to 4.0 or later")


class KafkaFixture(Fixture):
    broker_user = "alice"
    broker_password = "alice-secret"

    PLAIN_JAAS = ('org.apache.kafka.common.security.plain.PlainLoginModule required'
                  ' username="{user}" password="{password}" user_{user}="{password}";')

    @classmethod
    def instance(cls, broker_id, zookeeper=None, zk_chroot=None,
                 host="localhost", port=None, external=False,
                 transport="PLAINTEXT", replicas=1, partitions=4,
                 sasl_mechanism=None, auto_create_topic=True, tmp_dir=None):
        if external:
            raise RuntimeError("an external broker (KAFKA_URI) is not what this shim is for")
        fixture = cls(host, port, broker_id, replicas=replicas, partitions=partitions,
                      transport=transport, sasl_mechanism=sasl_mechanism,
                      auto_create_topic=auto_create_topic, tmp_dir=tmp_dir)
        try:
            fixture.open()
        except BaseException:
            fixture.close()
            raise
        return fixture

    def __init__(self, host, port, broker_id, zookeeper=None, zk_chroot=None,
                 replicas=1, partitions=2, transport="PLAINTEXT",
                 sasl_mechanism=None, auto_create_topic=True,
                 tmp_dir=None, external=False):
        self.external = False
        self.running = False
        self.host = host
        self.port = port
        self.broker_id = broker_id
        self.cluster_id = base64.b64encode(uuid.uuid4().bytes).decode("utf-8").rstrip("=")
        self.auto_create_topic = auto_create_topic
        self.transport = transport.upper()
        if sasl_mechanism is not None:
            self.sasl_mechanism = sasl_mechanism.upper()
            assert self.sasl_enabled, "sasl_mechanism defined without enabling SASL transport"
        else:
            self.sasl_mechanism = None
            assert not self.sasl_enabled, "SASL transport requires sasl_mechanism"
        self.zookeeper = None
        self.zk_chroot = None
        self.replicas = replicas
        self.partitions = partitions
        self.tmp_dir = tmp_dir  # a py.path.local when the test passes one
        self.ssl_dir = None
        self.broker = None
        self.child = _Child(None)
        self._own_dir = None

    @property
    def sasl_enabled(self):
        return self.transport in ("SASL_PLAINTEXT", "SASL_SSL")

    @property
    def ssl_enabled(self):
        return self.transport in ("SSL", "SASL_SSL")

    def bootstrap_server(self):
        return "%s:%d" % (self.host, self.port)

    def out(self, message):
        log.info("*** Vltava [%s:%s]: %s", self.host, self.port or "(auto)", message)

    def _dir(self):
        if self.tmp_dir is not None:
            return Path(str(self.tmp_dir))
        if self._own_dir is None:
            self._own_dir = Path(tempfile.mkdtemp(prefix="kafka-python-fixture-"))
        return self._own_dir

    def _settings(self):
        settings = [
            f"node.id={self.broker_id}",
            f"num.partitions={self.partitions}",
            f"default.replication.factor={self.replicas}",
            f"auto.create.topics.enable={'true' if self.auto_create_topic else 'false'}",
            "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer",
            "allow.everyone.if.no.acl.found=true",
            # As kafka-python's own broker template sets them for its tests.
            "group.min.session.timeout.ms=1000",
            "group.initial.rebalance.delay.ms=0",
            "offsets.topic.num.partitions=2",
            "replica.lag.time.max.ms=1000",
        ]
        listener = []
        if self.ssl_enabled:
            self.ssl_dir = str(self._dir() / "ssl")
            os.makedirs(self.ssl_dir, exist_ok=True)
            subprocess.run([str(BIN), "dev-certs", "--dir", self.ssl_dir], check=True,
                           stdout=subprocess.DEVNULL)
            shutil.copy(os.path.join(self.ssl_dir, "ca.pem"), os.path.join(self.ssl_dir, "ca-cert"))
            settings += [
                "ssl.keystore.type=PEM",
                f"ssl.keystore.location={self.ssl_dir}/broker.pem",
                "ssl.truststore.type=PEM",
                f"ssl.truststore.location={self.ssl_dir}/ca.pem",
            ]
        if self.sasl_enabled:
            settings.append(f"sasl.enabled.mechanisms={self.sasl_mechanism}")
            if self.sasl_mechanism == "PLAIN":
                jaas = self.PLAIN_JAAS.format(user=self.broker_user, password=self.broker_password)
                listener.append(f"plain.sasl.jaas.config={jaas}")
        return settings, listener

    def open(self):
        if self.running:
            return
        settings, listener = self._settings()
        listeners = {} if self.transport == "PLAINTEXT" else {self.transport: listener}
        self.out(f"starting {BIN} ({self.transport}, {self.sasl_mechanism})")
        self.broker = Broker(settings=settings, listeners=listeners, advertise=True)
        self.child = _Child(self.broker)
        self.port = self.broker.ports[self.transport]
        if self.sasl_enabled and self.sasl_mechanism.startswith("SCRAM-SHA-"):
            self._add_scram_user()
        self.running = True
        self.out("started")

    def _add_scram_user(self):
        args = [str(BIN), "users", "scram", "set", "--user", self.broker_user,
                "--mechanism", self.sasl_mechanism, "--password", self.broker_password,
                "--bootstrap", self.broker.bootstrap]
        proc = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        if proc.returncode != 0:
            raise RuntimeError("vltava users scram set failed:\n" + proc.stdout.decode(errors="replace"))

    def start(self):
        if not self.running:
            self.open()
        return True

    def stop(self):
        if self.broker is not None:
            self.broker.stop()
        self.running = False

    def close(self):
        """Stops the broker and removes its files. Raises when its log shows a
        broker bug (a response it could not encode, a panic)."""
        broker, self.broker = self.broker, None
        self.running = False
        bugs = []
        if broker is not None:
            bugs = [l for l in broker.log_text().splitlines() if BROKER_BUGS.search(l)]
            keep = os.environ.get("VLTAVA_KEEP_LOGS")
            broker.cleanup(f"kafka-python-{self.transport.lower()}-{(self.sasl_mechanism or 'none').lower()}")
            if keep:
                self.out(f"log kept in {keep}")
        if self._own_dir is not None:
            shutil.rmtree(self._own_dir, ignore_errors=True)
            self._own_dir = None
        if bugs:
            raise AssertionError("broker logged:\n" + "\n".join(bugs))

    def __del__(self):
        try:
            if self.broker is not None:
                self.broker.cleanup()
        except Exception:
            pass

    def get_topic_names(self):
        """Topic names (kafka-topics.sh --list in Kafka's fixture), through
        the fixture's own listener and credentials."""
        params = self._enrich_client_params({"api_version": _env_kafka_version(), "client_id": "topic_lister"})
        with KafkaAdminClient(**params) as admin:
            return list(admin.list_topics())

    def _enrich_client_params(self, params, **defaults):
        params = params.copy()
        for key, value in defaults.items():
            params.setdefault(key, value)
        params.setdefault("bootstrap_servers", self.bootstrap_server())
        params.setdefault("security_protocol", self.transport)
        if self.sasl_enabled:
            params.setdefault("sasl_mechanism", self.sasl_mechanism)
            if self.sasl_mechanism in ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"):
                params.setdefault("sasl_plain_username", self.broker_user)
                params.setdefault("sasl_plain_password", self.broker_password)
        if self.ssl_enabled:
            params.setdefault("ssl_cafile", os.path.join(self.ssl_dir, "ca-cert"))
            params.setdefault("ssl_check_hostname", False)
        return params


_install_as_fixtures_module()
