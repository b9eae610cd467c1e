"""Security with real clients against `vltava server`: TLS (confluent-kafka,
kafka-python, kcat), mutual TLS (a client certificate required; none, one
from another CA and an expired one are refused), SASL/PLAIN on
SASL_PLAINTEXT and SASL_SSL (produce, consume in a group, transactions;
wrong password, unknown user and a mechanism not enabled are refused),
OAUTHBEARER with librdkafka's unsecured tokens, a client of the wrong
protocol on each kind of listener, a flood of bad SASL handshakes and
KIP-368 re-authentication.

One broker for the module, with listeners
  PLAINTEXT       the usual one (topics are created through it)
  SSL             TLS, no client certificate
  MTLS            TLS with ssl.client.auth=required
  REQUESTED       TLS with ssl.client.auth=requested and a principal mapping rule
  SASL_PLAINTEXT  PLAIN (alice, bob) and OAUTHBEARER
  SASL_SSL        the same over TLS
  REAUTH          SASL_PLAINTEXT with connections.max.reauth.ms=3000
  JKS             TLS with Kafka-style JKS stores made by keytool (no store
                  type set: Kafka's default), mutual TLS required
and certificates from `vltava dev-certs` (plus one signed by another dev CA
and an expired one signed with Python's cryptography package).
"""

import asyncio
import datetime
import json
import os
import random
import re
import shutil
import socket
import ssl
import struct
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer
from conftest import BIN, Broker

KCAT = shutil.which("kcat") or shutil.which("kafkacat")

USERS = {"alice": "alice-secret", "bob": "bob-secret"}
JAAS = "org.apache.kafka.common.security.plain.PlainLoginModule required " + " ".join(
    f'user_{u}="{p}"' for u, p in USERS.items()) + ";"
REAUTH_MS = 3000
SASL_LISTENERS = ["SASL_PLAINTEXT", "SASL_SSL"]
# Key and trust stores written by keytool and openssl
# (crates/vltava-tls/tests/fixtures/make.sh).
FIXTURES = Path(__file__).resolve().parents[2] / "crates" / "vltava-tls" / "tests" / "fixtures"
KAFKA_SH = Path(__file__).resolve().parents[2] / "tests" / "reference" / "kafka" / "kafka.sh"


def uid(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


# --- certificates and the broker ----------------------------------------------

class Certs:
    def __init__(self, root):
        self.root = root
        self.main = root / "main"
        self.other = root / "other"
        for d, client in ((self.main, "client"), (self.other, "intruder")):
            subprocess.run([str(BIN), "dev-certs", "--dir", str(d), "--client", client], check=True,
                           capture_output=True, timeout=30)
        self.ca = str(self.main / "ca.pem")
        self.client_cert = str(self.main / "client-cert.pem")
        self.client_key = str(self.main / "client-key.pem")
        self.other_cert = str(self.other / "client-cert.pem")
        self.other_key = str(self.other / "client-key.pem")
        # Signed by the main CA with the cryptography package: one valid
        # (the control: certificates made this way are accepted) and one
        # that expired yesterday.
        now = datetime.datetime.now(datetime.timezone.utc)
        self.fresh_cert, self.fresh_key = self._sign("fresh", now - datetime.timedelta(days=1),
                                                     now + datetime.timedelta(days=30))
        self.expired_cert, self.expired_key = self._sign("expired", now - datetime.timedelta(days=30),
                                                         now - datetime.timedelta(days=1))

    def _sign(self, name, not_before, not_after):
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

        ca_key = serialization.load_pem_private_key((self.main / "ca-key.pem").read_bytes(), None)
        ca_cert = x509.load_pem_x509_certificate((self.main / "ca.pem").read_bytes())
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name),
                             x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Vltava tests")])
        cert = (x509.CertificateBuilder()
                .subject_name(subject)
                .issuer_name(ca_cert.subject)
                .public_key(key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(not_before)
                .not_valid_after(not_after)
                .add_extension(x509.KeyUsage(digital_signature=True, key_encipherment=True, content_commitment=False,
                                             data_encipherment=False, key_agreement=False, key_cert_sign=False,
                                             crl_sign=False, encipher_only=False, decipher_only=False),
                               critical=True)
                .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
                .sign(ca_key, hashes.SHA256()))
        cert_path = self.root / f"{name}-cert.pem"
        key_path = self.root / f"{name}-key.pem"
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
        return str(cert_path), str(key_path)


@pytest.fixture(scope="module")
def certs():
    root = Path(tempfile.mkdtemp(prefix="vltava-certs-"))
    try:
        yield Certs(root)
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def broker_proc(request, certs):
    """This module's broker (overrides conftest's): the listeners above.
    Its network module logs at debug level, for the TLS principals."""
    sasl = [f"plain.sasl.jaas.config={JAAS}"]
    old = os.environ.get("RUST_LOG")
    os.environ["RUST_LOG"] = "info,vltava_broker::network::server=debug"
    try:
        b = Broker(
            settings=[
                f"ssl.keystore.location={certs.main / 'broker.pem'}",
                f"ssl.truststore.location={certs.ca}",
                "sasl.enabled.mechanisms=PLAIN,OAUTHBEARER",
                "group.initial.rebalance.delay.ms=0",
                "group.min.session.timeout.ms=1000",
            ],
            listeners={
                "SSL": None,
                "MTLS": {"protocol": "SSL", "settings": ["ssl.client.auth=required"]},
                "REQUESTED": {"protocol": "SSL", "settings": [
                    "ssl.client.auth=requested",
                    # Kafka's rule syntax: the CN, lower case.
                    "ssl.principal.mapping.rules=RULE:^O=[^,]*,CN=([^,]+)$/$1/L,DEFAULT"]},
                "SASL_PLAINTEXT": sasl,
                "SASL_SSL": sasl,
                "REAUTH": {"protocol": "SASL_PLAINTEXT",
                           "settings": sasl + [f"connections.max.reauth.ms={REAUTH_MS}"]},
                # The broker's RSA key store and the fixture CA's trust store,
                # as a Kafka broker's server.properties names them.
                "JKS": {"protocol": "SSL", "settings": [
                    f"ssl.keystore.location={FIXTURES / 'broker-rsa.jks'}",
                    "ssl.keystore.password=store-secret",
                    "ssl.key.password=key-secret",
                    f"ssl.truststore.location={FIXTURES / 'trust.jks'}",
                    "ssl.truststore.password=trust-secret",
                    "ssl.client.auth=required"]},
            },
        )
    finally:
        if old is None:
            os.environ.pop("RUST_LOG", None)
        else:
            os.environ["RUST_LOG"] = old
    try:
        yield b
    finally:
        b.cleanup(request.module.__name__)


@pytest.fixture
def sec(broker, broker_proc, certs):
    """The broker, its certificates and the log offset at the test's start."""
    return Sec(broker_proc, certs)


class Sec:
    def __init__(self, b, certs):
        self.b = b
        self.certs = certs
        self.log_start = len(b.log_text())

    def addr(self, listener):
        return self.b.bootstrap_for(listener)

    def port(self, listener):
        return self.b.ports[listener]

    def log(self):
        """The broker's log since the test started."""
        return self.b.log_text()[self.log_start:]

    def wait_log(self, pattern, timeout=10, count=1):
        """Waits until the log since the test started has `count` lines
        matching `pattern`; returns them."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while True:
            lines = [l for l in self.log().splitlines() if rx.search(l)]
            if len(lines) >= count or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert len(lines) >= count, f"expected {count} log lines matching {pattern!r}, got {len(lines)}:\n" + \
            "\n".join(self.log().splitlines()[-30:])
        return lines

    # librdkafka configurations, per listener.
    def ck(self, listener, **extra):
        conf = {"bootstrap.servers": self.addr(listener)}
        protocol = self.b.listeners[listener][0] if listener in self.b.listeners else "PLAINTEXT"
        conf["security.protocol"] = protocol
        if protocol in ("SSL", "SASL_SSL"):
            conf["ssl.ca.location"] = self.certs.ca
        if protocol.startswith("SASL"):
            conf.update({"sasl.mechanism": "PLAIN", "sasl.username": "alice", "sasl.password": USERS["alice"]})
        conf.update({k.replace("_", "."): v for k, v in extra.items()})
        return conf

    # kafka-python keyword arguments, per listener.
    def kp(self, listener, **extra):
        protocol = self.b.listeners[listener][0]
        conf = {"bootstrap_servers": self.addr(listener), "security_protocol": protocol}
        if protocol in ("SSL", "SASL_SSL"):
            conf["ssl_cafile"] = self.certs.ca
        if protocol.startswith("SASL"):
            conf.update({"sasl_mechanism": "PLAIN", "sasl_plain_username": "alice",
                         "sasl_plain_password": USERS["alice"]})
        conf.update(extra)
        return conf


# --- confluent-kafka helpers ---------------------------------------------------

class Errors:
    """An error_cb that keeps what librdkafka reported."""

    def __init__(self):
        self.errors = []

    def __call__(self, err):
        self.errors.append(err)

    def text(self):
        return "; ".join(f"{e.name()}: {e.str()}" for e in self.errors)


def ck_produce(conf, topic, values, partitions=1):
    errors = Errors()
    p = Producer({**conf, "linger.ms": 5, "error_cb": errors})
    reports = []
    for i, v in enumerate(values):
        p.produce(topic, value=v.encode(), key=f"k{i}".encode(), partition=i % partitions,
                  on_delivery=lambda err, msg: reports.append((err, msg.partition(), msg.offset())))
    assert p.flush(30) == 0, f"records not delivered; client errors: {errors.text()}"
    assert len(reports) == len(values)
    assert all(err is None for err, _, _ in reports), reports
    return p, errors


def ck_consume_group(conf, topic, n, group=None, timeout=30, isolation="read_uncommitted"):
    """Subscribes in a new group, consumes n records, commits them
    synchronously and checks the committed offsets; returns the values."""
    group = group or uid("g")
    errors = Errors()
    c = Consumer({**conf, "group.id": group, "auto.offset.reset": "earliest", "enable.auto.commit": False,
                  "isolation.level": isolation, "error_cb": errors, "session.timeout.ms": 6000})
    try:
        c.subscribe([topic])
        got = []
        deadline = time.monotonic() + timeout
        while len(got) < n and time.monotonic() < deadline:
            m = c.poll(0.2)
            if m is None:
                continue
            assert not m.error(), m.error()
            got.append(m)
        assert len(got) == n, f"consumed {len(got)} of {n}; client errors: {errors.text()}"
        # Nothing more.
        extra = c.consume(10, 1.0)
        assert [m for m in extra if not m.error()] == []
        c.commit(asynchronous=False)
        ends = {}
        for m in got:
            ends[m.partition()] = max(ends.get(m.partition(), -1), m.offset() + 1)
        # The commit is of the positions: past the records consumed, and,
        # read_committed, past aborted records and transaction markers.
        positions = {tp.partition: tp.offset for tp in c.position(c.assignment())}
        committed = c.committed(c.assignment(), timeout=10)
        assert {tp.partition: tp.offset for tp in committed} == positions
        assert all(positions[p] >= end for p, end in ends.items()), (positions, ends)
        return [m.value().decode() for m in got]
    finally:
        c.close()


def ck_connect_fails(conf, timeout=10):
    """A producer that must not get metadata: returns (seconds until
    librdkafka reported the first error, the errors it reported)."""
    errors = Errors()
    p = Producer({**conf, "error_cb": errors, "reconnect.backoff.max.ms": 1000})
    started = time.monotonic()
    while not errors.errors and time.monotonic() - started < timeout:
        p.poll(0.05)
    took = time.monotonic() - started
    assert errors.errors, f"no error from librdkafka within {timeout}s"
    with pytest.raises(KafkaException):
        p.list_topics(timeout=2)
    p.poll(0.2)
    return took, errors


# --- raw Kafka protocol (for the SASL tests that need the exact exchange) ------

def frame(api_key, version, correlation_id, body, client_id=b"raw"):
    """A request with header v1 (non-flexible)."""
    header = struct.pack(">hhih", api_key, version, correlation_id, len(client_id)) + client_id
    payload = header + body
    return struct.pack(">i", len(payload)) + payload


def kstr(s):
    b = s.encode()
    return struct.pack(">h", len(b)) + b


def kbytes(b):
    return struct.pack(">i", len(b)) + b


def sasl_handshake(mechanism, cid=1):
    return frame(17, 1, cid, kstr(mechanism))


def sasl_authenticate(auth_bytes, version=1, cid=2):
    return frame(36, version, cid, kbytes(auth_bytes))


def plain_token(user, password):
    return b"\0" + user.encode() + b"\0" + password.encode()


def read_frame(sock):
    """One response frame's body after the correlation id, or None if the
    broker closed the connection."""
    def exactly(n):
        buf = b""
        while len(buf) < n:
            chunk = sock.recv(n - len(buf))
            if not chunk:
                return None
            buf += chunk
        return buf
    head = exactly(4)
    if head is None:
        return None
    (size,) = struct.unpack(">i", head)
    body = exactly(size)
    if body is None:
        return None
    return body[4:]


def parse_handshake(body):
    (error,) = struct.unpack_from(">h", body, 0)
    (n,) = struct.unpack_from(">i", body, 2)
    at, mechanisms = 6, []
    for _ in range(n):
        (ln,) = struct.unpack_from(">h", body, at)
        mechanisms.append(body[at + 2:at + 2 + ln].decode())
        at += 2 + ln
    return error, mechanisms


def parse_authenticate(body, version=1):
    (error,) = struct.unpack_from(">h", body, 0)
    (ln,) = struct.unpack_from(">h", body, 2)
    at = 4
    message = None
    if ln >= 0:
        message = body[at:at + ln].decode()
        at += ln
    (bl,) = struct.unpack_from(">i", body, at)
    at += 4 + max(bl, 0)
    lifetime = struct.unpack_from(">q", body, at)[0] if version >= 1 else None
    return error, message, lifetime


def closed_within(sock, seconds):
    """True if the broker closes the connection (EOF or reset) within
    `seconds`, reading and dropping anything it sends first."""
    sock.settimeout(0.2)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if sock.recv(4096) == b"":
                return True
        except socket.timeout:
            continue
        except OSError:
            return True
    return False


def unsecured_jwt(sub, exp_s, iat_s=None):
    """An unsecured JWS (alg none) as Kafka's OAuthBearerUnsecuredJws reads it."""
    import base64

    def b64(obj):
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()
    iat_s = int(time.time()) if iat_s is None else iat_s
    return f"{b64({'alg': 'none'})}.{b64({'sub': sub, 'iat': iat_s, 'exp': exp_s})}."


def oauth_message(token):
    return f"n,,\x01auth=Bearer {token}\x01\x01".encode()


def raw_authenticate(s, mechanism, token, cid=1):
    """SaslHandshake v1 + SaslAuthenticate v1 on socket s; returns
    (handshake error, authenticate (error, message, lifetime)) with the
    authenticate part None when the handshake failed or the broker closed."""
    s.sendall(sasl_handshake(mechanism, cid=cid))
    body = read_frame(s)
    if body is None:
        return None, None
    error, _ = parse_handshake(body)
    if error != 0:
        return error, None
    s.sendall(sasl_authenticate(token, version=1, cid=cid + 1))
    body = read_frame(s)
    return error, None if body is None else parse_authenticate(body, version=1)


def metadata_answered(s, cid):
    s.sendall(frame(3, 1, cid, struct.pack(">i", -1)))
    return read_frame(s) is not None


SASL_AUTHENTICATION_FAILED = 58
ILLEGAL_SASL_STATE = 34
UNSUPPORTED_SASL_MECHANISM = 33


# --- TLS -------------------------------------------------------------------------

def test_confluent_ssl_produce_consume_in_group(sec, create_topic, topic_name):
    create_topic(topic_name, partitions=2)
    conf = sec.ck("SSL")
    values = [f"ssl-{i}" for i in range(100)]
    p, errors = ck_produce(conf, topic_name, values, partitions=2)
    # Metadata over the SSL listener names the SSL port, not the plaintext one.
    md = p.list_topics(timeout=10)
    assert {(b.host, b.port) for b in md.brokers.values()} == {("127.0.0.1", sec.port("SSL"))}
    assert sec.port("SSL") != sec.port("PLAINTEXT")
    assert md.orig_broker_name.startswith("ssl://"), md.orig_broker_name
    # Grouped consumption: FindCoordinator must also answer with the SSL
    # endpoint, or the consumer could not reach its coordinator.
    assert sorted(ck_consume_group(conf, topic_name, len(values))) == sorted(values)
    assert not errors.errors, errors.text()
    # No client certificate on this listener: the principal is ANONYMOUS.
    assert re.search(r"TLS connection .*principal=User:ANONYMOUS", sec.log()), sec.log()[-3000:]


def test_kafka_python_ssl_produce_consume_in_group(sec, create_topic, topic_name):
    from kafka import KafkaConsumer, KafkaProducer

    create_topic(topic_name, partitions=2)
    p = KafkaProducer(**sec.kp("SSL"), enable_idempotence=False, linger_ms=5)
    try:
        futures = [p.send(topic_name, key=f"k{i}".encode(), value=f"kp-ssl-{i}".encode(), partition=i % 2)
                   for i in range(60)]
        p.flush(30)
        offsets = [f.get(timeout=10) for f in futures]
        assert sorted((m.partition, m.offset) for m in offsets) == sorted((i % 2, i // 2) for i in range(60))
        brokers = p._metadata.brokers()
        assert {(b.host, b.port) for b in brokers} == {("127.0.0.1", sec.port("SSL"))}
    finally:
        p.close(timeout=10)
    group = uid("kp-ssl")
    c = KafkaConsumer(topic_name, **sec.kp("SSL"), group_id=group, auto_offset_reset="earliest",
                      enable_auto_commit=False, fetch_max_wait_ms=100)
    try:
        got = []
        deadline = time.monotonic() + 30
        while len(got) < 60 and time.monotonic() < deadline:
            for records in c.poll(timeout_ms=200).values():
                got.extend(records)
        assert sorted(r.value.decode() for r in got) == sorted(f"kp-ssl-{i}" for i in range(60))
        c.commit()
        from kafka import TopicPartition as KTP
        assert {p: c.committed(KTP(topic_name, p)) for p in (0, 1)} == {0: 30, 1: 30}
    finally:
        c.close()


@pytest.mark.skipif(KCAT is None, reason="kcat is not installed")
def test_jks_listener_with_a_java_client_using_jks_stores(sec, create_topic, topic_name, tmp_path):
    """Kafka's console producer and consumer, configured as for a Kafka
    broker whose stores are JKS: their own key store (the broker's, which
    the fixture CA signed) and trust store, both JKS, read by Java; the
    broker reads its JKS stores with Vltava's reader."""
    prep = subprocess.run([str(KAFKA_SH), "prepare"], capture_output=True, text=True)
    assert prep.returncode == 0, f"kafka.sh prepare failed (Java 17+ and Maven needed):\n{prep.stderr[-2000:]}"
    create_topic(topic_name)
    props = tmp_path / "client.properties"
    props.write_text("\n".join([
        "security.protocol=SSL",
        f"ssl.truststore.location={FIXTURES / 'trust.jks'}",
        "ssl.truststore.password=trust-secret",
        f"ssl.keystore.location={FIXTURES / 'broker-ec.jks'}",
        "ssl.keystore.password=store-secret",
        "ssl.key.password=key-secret",
        # The certificate names localhost; the client dials 127.0.0.1.
        "ssl.endpoint.identification.algorithm=",
    ]) + "\n")
    env = dict(os.environ, JAVA_TOOL_OPTIONS="-XX:TieredStopAtLevel=1 -XX:+UseSerialGC")
    values = [f"jks-{i}" for i in range(20)]
    p = subprocess.run([str(KAFKA_SH), "run", "org.apache.kafka.tools.ConsoleProducer",
                        "--bootstrap-server", sec.addr("JKS"), "--topic", topic_name,
                        "--producer.config", str(props)],
                       input="\n".join(values) + "\n", capture_output=True, text=True, env=env, timeout=120)
    assert p.returncode == 0, p.stderr[-3000:]
    c = subprocess.run([str(KAFKA_SH), "run", "org.apache.kafka.tools.consumer.ConsoleConsumer",
                        "--bootstrap-server", sec.addr("JKS"), "--topic", topic_name, "--from-beginning",
                        "--max-messages", str(len(values)), "--timeout-ms", "30000",
                        "--consumer.config", str(props)],
                       capture_output=True, text=True, env=env, timeout=120)
    assert c.returncode == 0, c.stderr[-3000:]
    # The tool may print a deprecation notice before the records.
    assert [l for l in c.stdout.splitlines() if not l.startswith("Option ")] == values, c.stdout
    # The client certificate is the one in the client's JKS key store.
    assert re.search(r"TLS connection .*principal=User:CN=localhost", sec.log()), sec.log()[-3000:]


def test_jks_listener_refuses_a_client_certificate_its_trust_store_lacks(sec):
    """The JKS trust store decides: the dev CA's client certificate, which
    the MTLS listener accepts, is refused here. The broker's certificate
    request names the JKS store's CA, so librdkafka sends no certificate
    at all (or, were it to send it, it would be UnknownIssuer)."""
    took, errors = ck_connect_fails({**sec.ck("JKS"), "ssl.ca.location": str(FIXTURES / "ca.pem"),
                                     "ssl.certificate.location": sec.certs.client_cert,
                                     "ssl.key.location": sec.certs.client_key,
                                     # The broker's certificate names localhost.
                                     "ssl.endpoint.identification.algorithm": "none"})
    assert took < 5, f"the client took {took:.1f}s to fail"
    assert errors.errors, "librdkafka reported no error"
    sec.wait_log(r"closing connection: failed authentication: TLS handshake failed \((peer sent no certificates|.*UnknownIssuer)"
                 r".*peer=127\.0\.0\.1:\d+ listener=JKS")


def test_kcat_ssl(sec, create_topic, topic_name):
    create_topic(topic_name)
    base = [KCAT, "-b", sec.addr("SSL"), "-X", "security.protocol=SSL", "-X", f"ssl.ca.location={sec.certs.ca}",
            "-m", "15"]

    def run(*args, input=None):
        r = subprocess.run([*base, *args], input=input, capture_output=True, timeout=60)
        assert r.returncode == 0, f"kcat {args} exited {r.returncode}:\n{r.stderr.decode(errors='replace')}"
        return r.stdout

    meta = json.loads(run("-L", "-J", "-t", topic_name))
    assert meta["brokers"] == [{"id": 1, "name": sec.addr("SSL")}]
    lines = [f"kcat-ssl-{i}" for i in range(50)]
    run("-P", "-t", topic_name, input="".join(l + "\n" for l in lines).encode())
    out = run("-C", "-t", topic_name, "-e", "-q", "-o", "beginning")
    assert out.decode().splitlines() == lines


# --- mutual TLS --------------------------------------------------------------------

def test_mtls_with_client_certificate(sec, create_topic, topic_name):
    create_topic(topic_name)
    conf = sec.ck("MTLS", ssl_certificate_location=sec.certs.client_cert,
                  ssl_key_location=sec.certs.client_key)
    values = [f"mtls-{i}" for i in range(30)]
    p, errors = ck_produce(conf, topic_name, values)
    md = p.list_topics(timeout=10)
    assert {(b.host, b.port) for b in md.brokers.values()} == {("127.0.0.1", sec.port("MTLS"))}
    assert ck_consume_group(conf, topic_name, len(values)) == values
    assert not errors.errors, errors.text()
    # The principal is the certificate's subject in RFC 2253 form, which
    # lists the subject's last RDN first: dev-certs writes CN then O.
    assert rfc2253(sec.certs.client_cert) == "O=Vltava development,CN=client"
    sec.wait_log(r"TLS connection .*principal=User:" + re.escape(rfc2253(sec.certs.client_cert)) + "$")


def test_mtls_with_client_certificate_kafka_python(sec, create_topic, topic_name):
    from kafka import KafkaConsumer, KafkaProducer

    create_topic(topic_name)
    kw = dict(bootstrap_servers=sec.addr("MTLS"), security_protocol="SSL", ssl_cafile=sec.certs.ca,
              ssl_certfile=sec.certs.client_cert, ssl_keyfile=sec.certs.client_key)
    p = KafkaProducer(**kw, enable_idempotence=False)
    try:
        for i in range(10):
            p.send(topic_name, value=f"kp-mtls-{i}".encode()).get(timeout=10)
    finally:
        p.close(timeout=10)
    c = KafkaConsumer(topic_name, **kw, group_id=uid("kp-mtls"), auto_offset_reset="earliest",
                      enable_auto_commit=False, fetch_max_wait_ms=100)
    try:
        got = []
        deadline = time.monotonic() + 30
        while len(got) < 10 and time.monotonic() < deadline:
            for records in c.poll(timeout_ms=200).values():
                got.extend(records)
        assert [r.value.decode() for r in got] == [f"kp-mtls-{i}" for i in range(10)]
    finally:
        c.close()


def rfc2253(cert_path):
    """The subject of a PEM certificate, RFC 2253 (4514) form, by the
    cryptography package."""
    from cryptography import x509
    return x509.load_pem_x509_certificate(Path(cert_path).read_bytes()).subject.rfc4514_string()


def assert_refused(sec, conf, why):
    took, errors = ck_connect_fails(conf)
    assert took < 5, f"the client took {took:.1f}s to fail"
    assert errors.errors, "librdkafka reported no error"
    assert any(e.code() in (KafkaError._TRANSPORT, KafkaError._SSL, KafkaError._ALL_BROKERS_DOWN,
                            KafkaError._AUTHENTICATION) for e in errors.errors), errors.text()
    # The broker says why, with the peer and the listener.
    [line, *_] = sec.wait_log(r"closing connection: failed authentication: TLS handshake failed \(.*" + why
                              + r".*peer=127\.0\.0\.1:\d+ listener=MTLS")
    return errors, line


def test_mtls_without_client_certificate_is_refused(sec):
    errors, line = assert_refused(sec, sec.ck("MTLS"), why="peer sent no certificates")
    # TLS 1.3's certificate_required alert (116) reaches the client.
    assert "certificate required" in errors.text(), errors.text()


def test_mtls_certificate_from_another_ca_is_refused(sec):
    # Both dev CAs have the same subject, so the issuer is found by name
    # and its signature does not verify (BadSignature), rather than
    # UnknownIssuer.
    assert_refused(sec, sec.ck("MTLS", ssl_certificate_location=sec.certs.other_cert,
                               ssl_key_location=sec.certs.other_key), why="(BadSignature|UnknownIssuer)")


def test_mtls_certificate_signed_by_the_ca_with_cryptography_is_accepted(sec):
    """The control for the expired case: a certificate made the same way,
    valid today, works."""
    conf = sec.ck("MTLS", ssl_certificate_location=sec.certs.fresh_cert, ssl_key_location=sec.certs.fresh_key)
    errors = Errors()
    p = Producer({**conf, "error_cb": errors})
    md = p.list_topics(timeout=10)
    assert md.brokers, errors.text()
    sec.wait_log(r"TLS connection .*principal=User:" + re.escape(rfc2253(sec.certs.fresh_cert)) + "$")


def test_mtls_expired_certificate_is_refused(sec):
    conf = sec.ck("MTLS", ssl_certificate_location=sec.certs.expired_cert, ssl_key_location=sec.certs.expired_key)
    errors, _ = assert_refused(sec, conf, why="certificate expired")
    # The broker's TLS alert reaches the client.
    assert "certificate expired" in errors.text(), errors.text()
    assert "CN=expired" not in sec.log()


def test_ssl_listener_without_client_auth_ignores_a_client_certificate(sec):
    """ssl.client.auth=none: the broker asks for no certificate, so a client
    that has one is still User:ANONYMOUS."""
    errors = Errors()
    p = Producer({**sec.ck("SSL", ssl_certificate_location=sec.certs.client_cert,
                           ssl_key_location=sec.certs.client_key), "error_cb": errors})
    assert p.list_topics(timeout=10).brokers, errors.text()
    lines = sec.wait_log(r"TLS connection .*principal=")
    assert all("principal=User:ANONYMOUS" in l for l in lines), lines


def test_requested_client_auth_without_certificate(sec):
    errors = Errors()
    p = Producer({**sec.ck("REQUESTED"), "error_cb": errors})
    md = p.list_topics(timeout=10)
    assert {(b.host, b.port) for b in md.brokers.values()} == {("127.0.0.1", sec.port("REQUESTED"))}
    sec.wait_log(r"TLS connection .*principal=User:ANONYMOUS$")


def test_requested_client_auth_with_certificate_and_mapping_rule(sec):
    """The certificate is used when given; the listener's
    ssl.principal.mapping.rules turns O=Vltava development,CN=client into
    client."""
    errors = Errors()
    p = Producer({**sec.ck("REQUESTED", ssl_certificate_location=sec.certs.client_cert,
                           ssl_key_location=sec.certs.client_key), "error_cb": errors})
    assert p.list_topics(timeout=10).brokers, errors.text()
    sec.wait_log(r"TLS connection .*principal=User:client$")


def test_requested_client_auth_refuses_a_bad_certificate(sec):
    """requested: a certificate is optional, but one that is given must
    verify (as with Kafka's JSSE setWantClientAuth)."""
    took, errors = ck_connect_fails(sec.ck("REQUESTED", ssl_certificate_location=sec.certs.expired_cert,
                                           ssl_key_location=sec.certs.expired_key))
    assert took < 5
    sec.wait_log(r"TLS handshake failed \(.*certificate expired.*listener=REQUESTED")


def test_mtls_raw_python_ssl_without_certificate(sec):
    """With TLS 1.3 the client's handshake completes before the server has
    checked (or missed) its certificate: the refusal shows on the first read,
    and it must be a refusal, not a hang."""
    ctx = ssl.create_default_context(cafile=sec.certs.ca)
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", sec.port("MTLS")), timeout=5) as raw:
        try:
            with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as s:
                s.sendall(frame(18, 0, 1, b""))  # ApiVersions v0
                s.settimeout(5)
                data = s.recv(4096)
                assert data == b"", f"the broker answered a client without a certificate: {data!r}"
        except (ssl.SSLError, ConnectionResetError, BrokenPipeError):
            pass
    assert time.monotonic() - started < 5


# --- SASL/PLAIN ------------------------------------------------------------------------

@pytest.mark.parametrize("listener", SASL_LISTENERS)
def test_confluent_sasl_plain_produce_consume_in_group(sec, create_topic, topic_name, listener):
    create_topic(topic_name, partitions=2)
    conf = sec.ck(listener)
    values = [f"{listener}-{i}" for i in range(100)]
    p, errors = ck_produce(conf, topic_name, values, partitions=2)
    md = p.list_topics(timeout=10)
    assert {(b.host, b.port) for b in md.brokers.values()} == {("127.0.0.1", sec.port(listener))}
    assert sorted(ck_consume_group(conf, topic_name, len(values))) == sorted(values)
    assert not errors.errors, errors.text()
    sec.wait_log(rf"authenticated peer=127\.0\.0\.1:\d+ listener={listener} principal=User:alice")


@pytest.mark.parametrize("listener", SASL_LISTENERS)
def test_kafka_python_sasl_plain_produce_consume_in_group(sec, create_topic, topic_name, listener):
    from kafka import KafkaConsumer, KafkaProducer
    from kafka import TopicPartition as KTP

    create_topic(topic_name, partitions=2)
    p = KafkaProducer(**sec.kp(listener, sasl_plain_username="bob", sasl_plain_password=USERS["bob"]),
                      enable_idempotence=False, linger_ms=5)
    try:
        futures = [p.send(topic_name, value=f"kp-{i}".encode(), partition=i % 2) for i in range(40)]
        p.flush(30)
        for f in futures:
            f.get(timeout=10)
        assert {(b.host, b.port) for b in p._metadata.brokers()} == {("127.0.0.1", sec.port(listener))}
    finally:
        p.close(timeout=10)
    c = KafkaConsumer(topic_name, **sec.kp(listener), group_id=uid("kp-sasl"), auto_offset_reset="earliest",
                      enable_auto_commit=False, fetch_max_wait_ms=100)
    try:
        got = []
        deadline = time.monotonic() + 30
        while len(got) < 40 and time.monotonic() < deadline:
            for records in c.poll(timeout_ms=200).values():
                got.extend(records)
        assert sorted(r.value.decode() for r in got) == sorted(f"kp-{i}" for i in range(40))
        c.commit()
        assert {p: c.committed(KTP(topic_name, p)) for p in (0, 1)} == {0: 20, 1: 20}
    finally:
        c.close()
    sec.wait_log(rf"authenticated peer=127\.0\.0\.1:\d+ listener={listener} principal=User:bob")
    sec.wait_log(rf"authenticated peer=127\.0\.0\.1:\d+ listener={listener} principal=User:alice")


@pytest.mark.parametrize("listener", SASL_LISTENERS)
def test_confluent_sasl_plain_transaction(sec, create_topic, topic_name, listener):
    create_topic(topic_name)
    conf = sec.ck(listener)
    errors = Errors()
    p = Producer({**conf, "transactional.id": uid("txn"), "linger.ms": 5, "error_cb": errors})
    p.init_transactions(30)
    p.begin_transaction()
    for i in range(10):
        p.produce(topic_name, value=f"committed-{i}".encode())
    p.commit_transaction(30)
    p.begin_transaction()
    for i in range(5):
        p.produce(topic_name, value=f"aborted-{i}".encode())
    assert p.flush(30) == 0
    p.abort_transaction(30)
    assert not errors.errors, errors.text()
    # read_committed: the committed ten and nothing of the aborted five.
    assert ck_consume_group(conf, topic_name, 10, isolation="read_committed") == \
        [f"committed-{i}" for i in range(10)]


@pytest.mark.parametrize("listener", SASL_LISTENERS)
def test_kafka_python_sasl_plain_transaction(sec, create_topic, topic_name, listener):
    from kafka import KafkaProducer

    create_topic(topic_name)
    p = KafkaProducer(**sec.kp(listener), transactional_id=uid("kp-txn"))
    try:
        p.init_transactions()
        p.begin_transaction()
        for i in range(10):
            p.send(topic_name, value=f"kp-committed-{i}".encode())
        p.commit_transaction()
        p.begin_transaction()
        for i in range(5):
            p.send(topic_name, value=f"kp-aborted-{i}".encode())
        p.flush(30)
        p.abort_transaction()
    finally:
        p.close(timeout=10)
    assert ck_consume_group(sec.ck(listener), topic_name, 10, isolation="read_committed") == \
        [f"kp-committed-{i}" for i in range(10)]


@pytest.mark.parametrize("listener", SASL_LISTENERS)
@pytest.mark.parametrize("user,password", [("alice", "wrong-password"), ("mallory", "whatever")],
                         ids=["wrong-password", "unknown-user"])
def test_confluent_sasl_plain_bad_credentials(sec, listener, user, password):
    took, errors = ck_connect_fails(sec.ck(listener, sasl_username=user, sasl_password=password))
    assert took < 5
    auth = [e for e in errors.errors if e.code() == KafkaError._AUTHENTICATION]
    assert auth, f"no authentication error from librdkafka: {errors.text()}"
    assert "SASL authentication error: Authentication failed" in auth[0].str(), auth[0].str()
    sec.wait_log(rf'WARN .*failed authentication: .* peer=127\.0\.0\.1:\d+ listener={listener} user="{user}"')
    sec.wait_log(rf"closing connection: failed authentication: .* peer=127\.0\.0\.1:\d+ listener={listener}")
    assert f"principal=User:{user}" not in sec.log()


@pytest.mark.parametrize("listener", SASL_LISTENERS)
@pytest.mark.parametrize("user,password", [("alice", "wrong-password"), ("mallory", "whatever")],
                         ids=["wrong-password", "unknown-user"])
def test_kafka_python_sasl_plain_bad_credentials(sec, caplog, listener, user, password):
    """kafka-python retries the bootstrap until bootstrap_timeout_ms and then
    raises KafkaTimeoutError; the authentication error itself (error 58,
    SaslAuthenticationFailedError, with the broker's message) is what it
    logs for each attempt."""
    from kafka import KafkaAdminClient
    from kafka.errors import KafkaTimeoutError

    started = time.monotonic()
    with pytest.raises(KafkaTimeoutError, match="Unable to bootstrap"):
        KafkaAdminClient(**sec.kp(listener, sasl_plain_username=user, sasl_plain_password=password),
                         bootstrap_timeout_ms=4000).close()
    assert time.monotonic() - started < 10
    messages = [r.getMessage() for r in caplog.records if r.name.startswith("kafka")]
    assert any("SaslAuthenticationFailedError" in m and "Authentication failed: Invalid username or password" in m
               for m in messages), messages[-10:]
    sec.wait_log(rf'failed authentication: .* peer=127\.0\.0\.1:\d+ listener={listener} user="{user}"')


def test_raw_sasl_plain_wrong_password_logs_the_peer(sec):
    """The exchange itself: SASL_AUTHENTICATION_FAILED, then the close
    after connection.failed.authentication.delay.ms (100 ms), and the log
    line names this socket's address."""
    with socket.create_connection(("127.0.0.1", sec.port("SASL_PLAINTEXT")), timeout=5) as s:
        local = s.getsockname()
        s.sendall(sasl_handshake("PLAIN"))
        assert parse_handshake(read_frame(s)) == (0, ["PLAIN", "OAUTHBEARER"])
        s.sendall(sasl_authenticate(plain_token("alice", "nope")))
        started = time.monotonic()
        error, message, _ = parse_authenticate(read_frame(s))
        assert error == SASL_AUTHENTICATION_FAILED
        assert message and "Authentication failed" in message, message
        assert closed_within(s, 5)
        assert time.monotonic() - started >= 0.05, "closed before the failed-authentication delay"
    sec.wait_log(rf'failed authentication: .* peer=127\.0\.0\.1:{local[1]} listener=SASL_PLAINTEXT user="alice"')


def test_raw_sasl_mechanism_not_enabled(sec):
    with socket.create_connection(("127.0.0.1", sec.port("SASL_PLAINTEXT")), timeout=5) as s:
        local = s.getsockname()
        s.sendall(sasl_handshake("SCRAM-SHA-256"))
        error, mechanisms = parse_handshake(read_frame(s))
        assert error == UNSUPPORTED_SASL_MECHANISM
        assert mechanisms == ["PLAIN", "OAUTHBEARER"]
        assert closed_within(s, 5)
    sec.wait_log(rf"failed authentication: SASL mechanism not enabled .* peer=127\.0\.0\.1:{local[1]} "
                 rf"listener=SASL_PLAINTEXT mechanism=SCRAM-SHA-256|peer=127\.0\.0\.1:{local[1]} "
                 rf"listener=SASL_PLAINTEXT mechanism=SCRAM-SHA-256 .*failed authentication")


@pytest.mark.parametrize("mechanism", ["SCRAM-SHA-256", "SCRAM-SHA-512"])
def test_confluent_sasl_mechanism_not_enabled(sec, mechanism):
    took, errors = ck_connect_fails(sec.ck("SASL_PLAINTEXT", sasl_mechanism=mechanism))
    assert took < 5
    assert errors.errors, "no error from librdkafka"
    text = errors.text()
    assert re.search(r"(?i)unsupported sasl mechanism|not supported by broker|broker's supported", text) \
        and "PLAIN" in text, text
    sec.wait_log(rf"mechanism={mechanism}")


# --- OAUTHBEARER --------------------------------------------------------------------

@pytest.mark.parametrize("listener", SASL_LISTENERS)
def test_confluent_oauthbearer_unsecured_token(sec, create_topic, topic_name, listener):
    create_topic(topic_name)
    conf = sec.ck(listener, sasl_mechanism="OAUTHBEARER")
    del conf["sasl.username"], conf["sasl.password"]
    conf.update({"enable.sasl.oauthbearer.unsecure.jwt": True, "sasl.oauthbearer.config": "principal=carol"})
    values = [f"oauth-{i}" for i in range(20)]
    p, errors = ck_produce(conf, topic_name, values)
    assert ck_consume_group(conf, topic_name, len(values)) == values
    assert not errors.errors, errors.text()
    sec.wait_log(rf"authenticated peer=127\.0\.0\.1:\d+ listener={listener} principal=User:carol")


# --- the wrong protocol on a listener --------------------------------------------------

def check_still_serving(sec, topic):
    """A correct SSL client and a plaintext one still work."""
    ck_produce(sec.ck("SSL"), topic, ["after-ssl"])
    ck_produce(sec.ck("PLAINTEXT"), topic, ["after-plain"])


def test_plaintext_client_on_the_ssl_listener(sec, create_topic, topic_name):
    create_topic(topic_name)
    conf = {"bootstrap.servers": sec.addr("SSL"), "security.protocol": "PLAINTEXT"}
    took, errors = ck_connect_fails(conf)
    assert took < 5
    assert errors.errors, "librdkafka reported no error"
    sec.wait_log(r"closing connection: failed authentication: TLS handshake failed .*plaintext client on a TLS "
                 r"listener.* listener=SSL")
    check_still_serving(sec, topic_name)


def test_ssl_client_on_the_plaintext_listener(sec, create_topic, topic_name):
    create_topic(topic_name)
    conf = {"bootstrap.servers": sec.addr("PLAINTEXT"), "security.protocol": "SSL", "ssl.ca.location": sec.certs.ca}
    took, errors = ck_connect_fails(conf)
    assert took < 5
    assert errors.errors, "librdkafka reported no error"
    sec.wait_log(r"closing connection: a TLS handshake on the PLAINTEXT listener, which is PLAINTEXT: the client "
                 r"must use security.protocol=PLAINTEXT .*listener=PLAINTEXT")
    check_still_serving(sec, topic_name)


def test_ssl_client_on_a_sasl_plaintext_listener(sec):
    conf = sec.ck("SASL_PLAINTEXT", security_protocol="SASL_SSL", ssl_ca_location=sec.certs.ca)
    took, errors = ck_connect_fails(conf)
    assert took < 5
    sec.wait_log(r"closing connection: a TLS handshake on the SASL_PLAINTEXT listener")


def test_plaintext_client_without_sasl_on_a_sasl_listener(sec):
    """No SASL at all: Kafka closes the connection at the first request
    other than ApiVersions/SaslHandshake."""
    took, errors = ck_connect_fails({"bootstrap.servers": sec.addr("SASL_PLAINTEXT")})
    assert took < 5
    sec.wait_log(r"closing connection: unexpected .* request during the SASL handshake .*listener=SASL_PLAINTEXT")


# --- a flood of bad SASL handshakes ---------------------------------------------------------

async def bad_client(port, kind, rng):
    """One bad connection; returns how it ended: 'closed' (the broker closed
    it) or what went wrong."""
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 10)
    except Exception as e:  # noqa: BLE001
        return f"connect failed: {e!r}"
    try:
        if kind == "garbage":
            # A whole frame of random bytes with a negative API key (an
            # incomplete frame would rightly be waited for).
            body = struct.pack(">h", -rng.randint(1, 32768)) + bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 300)))
            writer.write(struct.pack(">i", len(body)) + body)
        elif kind == "huge":
            writer.write(struct.pack(">i", 0x7ffffff0) + b"\0" * 16)
        elif kind == "mechanism":
            writer.write(sasl_handshake(rng.choice(["GSSAPI", "SCRAM-SHA-256", "NOPE", ""])))
        elif kind == "password":
            writer.write(sasl_handshake("PLAIN") + sasl_authenticate(plain_token("alice", f"guess-{rng.random()}")))
        elif kind == "oauth":
            # RFC 7628: a bad token gets an error challenge (error 0 and
            # {"status":"invalid_token"}), the client answers \x01, and only
            # then does the exchange fail.
            writer.write(sasl_handshake("OAUTHBEARER") + sasl_authenticate(b"n,,\x01auth=Bearer not.a.jwt\x01\x01"))
            await writer.drain()
            head = await asyncio.wait_for(reader.readexactly(4), 10)
            await asyncio.wait_for(reader.readexactly(struct.unpack(">i", head)[0]), 10)  # handshake
            head = await asyncio.wait_for(reader.readexactly(4), 10)
            body = (await asyncio.wait_for(reader.readexactly(struct.unpack(">i", head)[0]), 10))[4:]
            error, _, _ = parse_authenticate(body)
            if error != 0 or b"invalid_token" not in body:
                return f"unexpected OAUTHBEARER challenge: {body!r}"
            writer.write(sasl_authenticate(b"\x01", cid=3))
            await writer.drain()
            head = await asyncio.wait_for(reader.readexactly(4), 10)
            body = (await asyncio.wait_for(reader.readexactly(struct.unpack(">i", head)[0]), 10))[4:]
            if parse_authenticate(body)[0] != SASL_AUTHENTICATION_FAILED:
                return f"OAUTHBEARER failure not SASL_AUTHENTICATION_FAILED: {body!r}"
        elif kind == "early":
            # A Metadata request before any SASL.
            writer.write(frame(3, 1, 1, struct.pack(">i", -1)))
        await writer.drain()
        # The broker must close it (after at most the failure delay).
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            data = await asyncio.wait_for(reader.read(65536), deadline - time.monotonic())
            if data == b"":
                return "closed"
        return "not closed"
    except (ConnectionResetError, BrokenPipeError):
        return "closed"
    except asyncio.TimeoutError:
        return "not closed"
    except Exception as e:  # noqa: BLE001
        return f"error: {e!r}"
    finally:
        writer.close()


def test_sasl_handshake_flood(sec, create_topic, topic_name):
    create_topic(topic_name)
    kinds = ["garbage", "huge", "mechanism", "password", "oauth", "early"]
    rng = random.Random(368)

    async def flood():
        return await asyncio.gather(*(bad_client(sec.port("SASL_PLAINTEXT"), kinds[i % len(kinds)], rng)
                                      for i in range(210)))

    started = time.monotonic()
    results = asyncio.run(flood())
    took = time.monotonic() - started
    outcomes = {}
    for i, r in enumerate(results):
        outcomes.setdefault((kinds[i % len(kinds)], r), 0)
        outcomes[(kinds[i % len(kinds)], r)] += 1
    assert all(r == "closed" for r in results), {k: n for k, n in outcomes.items() if k[1] != "closed"}
    assert took < 20, f"the flood took {took:.1f}s"
    assert sec.b.alive()
    # A correct client right after: quick.
    started = time.monotonic()
    ck_produce(sec.ck("SASL_PLAINTEXT"), topic_name, [f"after-flood-{i}" for i in range(10)])
    assert ck_consume_group(sec.ck("SASL_PLAINTEXT"), topic_name, 10) == [f"after-flood-{i}" for i in range(10)]
    assert time.monotonic() - started < 15
    # Every wrong password was logged as a failed authentication.
    failures = [l for l in sec.log().splitlines() if "failed authentication" in l and "closing" not in l
                and 'user="alice"' in l]
    assert len(failures) >= 35, len(failures)


def test_sasl_oversized_frame_before_authentication_is_refused_on_its_size(sec):
    """Kafka reads requests before authentication with a receive limit of
    sasl.server.max.receive.size (524288 by default): a larger size prefix
    closes the connection at once (InvalidReceiveException), without the
    broker buffering the body. Here: a 600000-byte size and 1000 bytes."""
    with socket.create_connection(("127.0.0.1", sec.port("SASL_PLAINTEXT")), timeout=5) as s:
        s.sendall(struct.pack(">i", 600_000) + b"\0" * 1000)
        assert closed_within(s, 3), "an unauthenticated 600000-byte request is being buffered, not refused"


def test_raw_reauthentication_cannot_change_principal(sec):
    """Kafka: "Cannot change principals during re-authentication", answered
    SASL_AUTHENTICATION_FAILED, then closed."""
    with socket.create_connection(("127.0.0.1", sec.port("REAUTH")), timeout=5) as s:
        assert raw_authenticate(s, "PLAIN", plain_token("alice", USERS["alice"])) == (0, (0, None, REAUTH_MS))
        error, auth = raw_authenticate(s, "PLAIN", plain_token("bob", USERS["bob"]), cid=11)
        assert error == 0
        assert auth is not None and auth[0] == SASL_AUTHENTICATION_FAILED, auth
        assert "Cannot change principals" in auth[1], auth
        assert closed_within(s, 5)
    sec.wait_log(r"failed authentication: re-authentication as bob, was alice")


def test_raw_reauthentication_cannot_change_mechanism(sec):
    """Kafka refuses a re-authentication with another mechanism than the
    session's (SaslServerAuthenticator state REAUTH_BAD_MECHANISM: "SASL
    mechanism 'OAUTHBEARER' requested by client is not supported for
    re-authentication of mechanism 'PLAIN'"), even for the same principal:
    the exchange fails and the connection is closed, never answered with
    success."""
    with socket.create_connection(("127.0.0.1", sec.port("REAUTH")), timeout=5) as s:
        assert raw_authenticate(s, "PLAIN", plain_token("alice", USERS["alice"])) == (0, (0, None, REAUTH_MS))
        token = oauth_message(unsecured_jwt("alice", int(time.time()) + 600))
        error, auth = raw_authenticate(s, "OAUTHBEARER", token, cid=11)
        assert not (error == 0 and auth is not None and auth[0] == 0), \
            f"re-authenticated a PLAIN session with OAUTHBEARER: handshake {error}, authenticate {auth}"


def test_raw_handshake_after_authentication_without_session_lifetime(sec):
    """No connections.max.reauth.ms and a credential that does not expire:
    the session lifetime is 0 and re-authentication is off. Kafka then
    hands a SaslHandshake on the authenticated connection to KafkaApis,
    which answers ILLEGAL_SASL_STATE (34) and keeps the connection."""
    with socket.create_connection(("127.0.0.1", sec.port("SASL_PLAINTEXT")), timeout=5) as s:
        assert raw_authenticate(s, "PLAIN", plain_token("alice", USERS["alice"])) == (0, (0, None, 0))
        s.sendall(sasl_handshake("PLAIN", cid=11))
        body = read_frame(s)
        assert body is not None, "closed"
        assert parse_handshake(body)[0] == ILLEGAL_SASL_STATE, parse_handshake(body)
        assert metadata_answered(s, 12)


@pytest.mark.parametrize("listener,exp_in,lifetime", [
    ("SASL_PLAINTEXT", 5, (3500, 5000)),  # no max: the token's remaining life
    ("REAUTH", 60, (REAUTH_MS, REAUTH_MS)),  # the max, shorter than the token's
    ("REAUTH", 2, (500, 2000)),  # the token's, shorter than the max
])
def test_raw_oauthbearer_session_lifetime(sec, listener, exp_in, lifetime):
    """Kafka: min(connections.max.reauth.ms, the token's expiry - now),
    either alone when the other is unset."""
    with socket.create_connection(("127.0.0.1", sec.port(listener)), timeout=5) as s:
        token = oauth_message(unsecured_jwt("dave", int(time.time()) + exp_in))
        error, auth = raw_authenticate(s, "OAUTHBEARER", token)
        assert error == 0 and auth is not None and auth[0] == 0, auth
        low, high = lifetime
        assert low <= auth[2] <= high, auth
        assert metadata_answered(s, 5)
    sec.wait_log(rf"authenticated peer=.* listener={listener} principal=User:dave")


def test_raw_oauthbearer_expired_token_is_refused(sec):
    with socket.create_connection(("127.0.0.1", sec.port("SASL_PLAINTEXT")), timeout=5) as s:
        now = int(time.time())
        token = oauth_message(unsecured_jwt("erin", now - 60, iat_s=now - 120))
        error, auth = raw_authenticate(s, "OAUTHBEARER", token)
        assert error == 0 and auth is not None
        # RFC 7628: an error challenge first, success code, JSON status.
        assert auth[0] == 0
        s.sendall(sasl_authenticate(b"\x01", version=1, cid=7))
        error, message, _ = parse_authenticate(read_frame(s))
        assert error == SASL_AUTHENTICATION_FAILED, message
        assert closed_within(s, 5)
    assert "principal=User:erin" not in sec.log()


def test_raw_sasl_handshake_v0_plain(sec):
    """SaslHandshake v0: the token goes bare (length + bytes) and the
    answer too (an empty one for PLAIN); then requests are served."""
    with socket.create_connection(("127.0.0.1", sec.port("SASL_PLAINTEXT")), timeout=5) as s:
        s.sendall(frame(17, 0, 1, kstr("PLAIN")))
        assert parse_handshake(read_frame(s)) == (0, ["PLAIN", "OAUTHBEARER"])
        s.sendall(kbytes(plain_token("alice", USERS["alice"])))
        assert s.recv(4) == struct.pack(">i", 0)
        assert metadata_answered(s, 2)
    with socket.create_connection(("127.0.0.1", sec.port("SASL_PLAINTEXT")), timeout=5) as s:
        s.sendall(frame(17, 0, 1, kstr("PLAIN")))
        assert parse_handshake(read_frame(s))[0] == 0
        s.sendall(kbytes(plain_token("alice", "wrong")))
        # v0 has no error response: the connection is closed.
        assert closed_within(s, 5)


@pytest.mark.parametrize("token,ok", [
    (b"alice\0alice\0alice-secret", True),  # authzid = the user: allowed
    (b"bob\0alice\0alice-secret", False),  # another authzid: Kafka refuses
    (b"alice-secret", False),  # not three fields
    (b"\0alice\0", False),  # empty password
    (b"\0\0alice-secret", False),  # empty user
])
def test_raw_plain_token_forms(sec, token, ok):
    """Kafka's PlainSaslServer: authzid, if given, must equal the user;
    the message must have three fields, user and password non-empty."""
    with socket.create_connection(("127.0.0.1", sec.port("SASL_PLAINTEXT")), timeout=5) as s:
        error, auth = raw_authenticate(s, "PLAIN", token)
        assert error == 0 and auth is not None
        if ok:
            assert auth[0] == 0, auth
            assert metadata_answered(s, 5)
        else:
            assert auth[0] == SASL_AUTHENTICATION_FAILED, auth
            assert closed_within(s, 5)


def test_raw_second_handshake_during_the_exchange(sec):
    """A SaslHandshake where a SaslAuthenticate is due: ILLEGAL_SASL_STATE,
    then the connection is closed (Kafka: IllegalSaslStateException)."""
    with socket.create_connection(("127.0.0.1", sec.port("SASL_PLAINTEXT")), timeout=5) as s:
        s.sendall(sasl_handshake("PLAIN"))
        assert parse_handshake(read_frame(s))[0] == 0
        s.sendall(sasl_handshake("PLAIN", cid=2))
        body = read_frame(s)
        assert body is None or parse_handshake(body)[0] == ILLEGAL_SASL_STATE
        assert closed_within(s, 5)


def test_raw_second_handshake_is_not_logged_as_a_disabled_mechanism(sec):
    """The audit line for the case above must not say the (enabled) PLAIN
    mechanism is not enabled."""
    with socket.create_connection(("127.0.0.1", sec.port("SASL_PLAINTEXT")), timeout=5) as s:
        local = s.getsockname()[1]
        s.sendall(sasl_handshake("PLAIN") + sasl_handshake("PLAIN", cid=2))
        assert closed_within(s, 5)
    [line, *_] = sec.wait_log(rf"failed authentication: .*peer=127\.0\.0\.1:{local} ")
    assert "mechanism not enabled" not in line, line


def test_a_bad_client_certificate_is_not_logged_as_a_plaintext_client(sec):
    """The close reason for a refused certificate should not blame a
    plaintext client."""
    ck_connect_fails(sec.ck("MTLS", ssl_certificate_location=sec.certs.expired_cert,
                            ssl_key_location=sec.certs.expired_key))
    [line, *_] = sec.wait_log(r"TLS handshake failed \(.*certificate expired")
    assert "plaintext client" not in line, line


def test_raw_pipelined_authentication_and_request(sec):
    """Handshake, authenticate and a Metadata request in one write: all
    three answered, in order."""
    with socket.create_connection(("127.0.0.1", sec.port("SASL_PLAINTEXT")), timeout=5) as s:
        s.sendall(sasl_handshake("PLAIN", cid=1) + sasl_authenticate(plain_token("alice", USERS["alice"]), cid=2)
                  + frame(3, 1, 3, struct.pack(">i", -1)))
        assert parse_handshake(read_frame(s))[0] == 0
        assert parse_authenticate(read_frame(s))[0] == 0
        assert read_frame(s) is not None


# --- KIP-368 re-authentication ----------------------------------------------------------------

def test_raw_sasl_session_lifetime_and_expiry(sec):
    """SaslAuthenticate v1 returns the session lifetime; a connection that
    does not re-authenticate is closed at its first request after it."""
    with socket.create_connection(("127.0.0.1", sec.port("REAUTH")), timeout=5) as s:
        s.sendall(sasl_handshake("PLAIN"))
        assert parse_handshake(read_frame(s))[0] == 0
        s.sendall(sasl_authenticate(plain_token("alice", USERS["alice"]), version=1))
        error, _, lifetime = parse_authenticate(read_frame(s), version=1)
        assert error == 0
        # Kafka: min(connections.max.reauth.ms, credential expiry); PLAIN
        # credentials do not expire.
        assert lifetime == REAUTH_MS, lifetime
        # Within the session: Metadata v1 (all topics) is answered.
        s.sendall(frame(3, 1, 3, struct.pack(">i", -1)))
        assert read_frame(s) is not None
        time.sleep(REAUTH_MS / 1000 + 0.5)
        s.sendall(frame(3, 1, 4, struct.pack(">i", -1)))
        assert closed_within(s, 5)
    sec.wait_log(r"closing connection: the SASL session expired")


def test_raw_sasl_reauthentication_keeps_the_connection(sec):
    """Re-authenticating on the same connection before the session ends
    gives a new session: requests after the first lifetime are answered."""
    with socket.create_connection(("127.0.0.1", sec.port("REAUTH")), timeout=5) as s:
        for round_ in range(3):
            s.sendall(sasl_handshake("PLAIN", cid=10 * round_ + 1))
            assert parse_handshake(read_frame(s))[0] == 0
            s.sendall(sasl_authenticate(plain_token("alice", USERS["alice"]), version=1, cid=10 * round_ + 2))
            error, message, lifetime = parse_authenticate(read_frame(s), version=1)
            assert error == 0, message
            assert 0 < lifetime <= REAUTH_MS
            time.sleep(REAUTH_MS / 1000 * 0.6)
            s.sendall(frame(3, 1, 10 * round_ + 3, struct.pack(">i", -1)))
            assert read_frame(s) is not None, f"closed in round {round_}"


def test_confluent_reauthenticates(sec, create_topic, topic_name):
    """librdkafka (>= 2.2) re-authenticates before the broker's session
    lifetime runs out (KIP-368): a producer keeps producing for 8 s, past
    two lifetimes, without an error, on the same connection."""
    create_topic(topic_name)
    errors = Errors()
    p = Producer({**sec.ck("REAUTH"), "linger.ms": 0, "error_cb": errors})
    reports = []
    started = time.monotonic()
    sent = 0
    while time.monotonic() - started < 8:
        p.produce(topic_name, value=f"reauth-{sent}".encode(),
                  on_delivery=lambda err, msg: reports.append(err))
        sent += 1
        p.poll(0.1)
    assert p.flush(20) == 0
    assert len(reports) == sent and all(e is None for e in reports), [e for e in reports if e][:5]
    assert not errors.errors, errors.text()
    log = sec.log()
    assert "the SASL session expired" not in log, log[-3000:]
    auth = [l for l in log.splitlines() if re.search(r"authenticated peer=.* listener=REAUTH principal=User:alice", l)]
    peers = {}
    for l in auth:
        peer = re.search(r"peer=(\S+)", l).group(1)
        peers[peer] = peers.get(peer, 0) + 1
    # Some connection of the producer authenticated more than once: it
    # re-authenticated on the same socket.
    assert max(peers.values(), default=0) >= 2, f"authentications per connection: {peers}"
    assert ck_consume_group(sec.ck("REAUTH"), topic_name, sent, timeout=60) == \
        [f"reauth-{i}" for i in range(sent)]
