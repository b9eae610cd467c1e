"""Signed OAUTHBEARER tokens (Kafka's OAuthBearerValidatorCallbackHandler,
KIP-768) with confluent-kafka: the client's oauth_cb hands librdkafka a JWT
signed with PyJWT, and the broker checks it against the identity
provider's JWKS, read from a file or fetched from an HTTP(S) endpoint.

One broker for the module, with SASL_PLAINTEXT listeners that take
OAUTHBEARER only, switched to signed tokens, expecting audience "kafka" and
issuer "https://idp.test": JWT reads the JWKS file, JWTHTTP fetches it from
an http:// endpoint, JWTHTTPS from an https:// one whose certificate the
listener trusts through its JAAS options (ssl.truststore.location), and
UNTRUSTED from that https:// endpoint without trusting it. The identity
provider here is a key pair made by the test; its public half is in the
JWKS file, which the endpoints serve as it is at each request.
"""

import http.server
import json
import os
import ssl
import subprocess
import threading
import time
from pathlib import Path

import jwt
import pytest
from confluent_kafka import KafkaError, KafkaException, Producer
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from conftest import BIN, Broker
from test_security import Errors, ck_consume_group, ck_produce

ISSUER = "https://idp.test"
AUDIENCE = "kafka"
VALIDATOR = "org.apache.kafka.common.security.oauthbearer.OAuthBearerValidatorCallbackHandler"


class Idp:
    """The identity provider: signing keys by kid, and the JWKS file with
    the public halves of those it publishes."""

    def __init__(self, root):
        self.jwks_path = Path(root) / "jwks.json"
        self.keys = {}
        self.add_rsa("rsa-1")
        self.publish(["rsa-1"])

    def add_rsa(self, kid):
        self.keys[kid] = (rsa.generate_private_key(public_exponent=65537, key_size=2048), "RS256")

    def add_ec(self, kid):
        self.keys[kid] = (ec.generate_private_key(ec.SECP256R1()), "ES256")

    def publish(self, kids):
        """Rewrites the JWKS file with these keys, atomically (a rename), as a
        job that fetches an identity provider's keys would."""
        jwks = []
        for kid in kids:
            key, alg = self.keys[kid]
            to_jwk = RSAAlgorithm.to_jwk if alg == "RS256" else ECAlgorithm.to_jwk
            jwk = json.loads(to_jwk(key.public_key()))
            jwk.update({"kid": kid, "use": "sig", "alg": alg})
            jwks.append(jwk)
        tmp = self.jwks_path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"keys": jwks}))
        os.replace(tmp, self.jwks_path)

    def token(self, kid, sub="alice", signer=None, lifetime=300):
        """A JWT naming `kid`, signed with that key (or `signer`'s)."""
        key, alg = self.keys[signer or kid]
        now = int(time.time())
        claims = {"sub": sub, "iss": ISSUER, "aud": AUDIENCE, "iat": now, "exp": now + lifetime,
                  "scope": "kafka"}
        return jwt.encode(claims, key, algorithm=alg, headers={"kid": kid}), now + lifetime


@pytest.fixture(scope="module")
def idp(tmp_path_factory):
    return Idp(tmp_path_factory.mktemp("idp"))


class JwksServer:
    """The identity provider's JWKS endpoint: serves the JWKS file as it is
    at each request, over HTTP or (with `certs`) HTTPS, and counts the
    requests."""

    def __init__(self, idp, certs=None):
        server = self
        self.requests = 0

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                server.requests += 1
                body = idp.jwks_path.read_bytes()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        scheme = "http"
        if certs:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(str(certs / "broker.pem"))
            self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
            scheme = "https"
        # The certificate names localhost.
        self.url = f"{scheme}://localhost:{self.httpd.server_address[1]}/keys"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()


@pytest.fixture(scope="module")
def endpoints(idp, tmp_path_factory):
    certs = tmp_path_factory.mktemp("jwks-certs")
    subprocess.run([str(BIN), "dev-certs", "--dir", str(certs)], check=True, capture_output=True, timeout=30)
    plain, tls = JwksServer(idp), JwksServer(idp, certs)
    try:
        yield plain, tls, certs / "ca.pem"
    finally:
        plain.close()
        tls.close()


def signed_listener(url, jaas_options=""):
    settings = [
        "sasl.enabled.mechanisms=OAUTHBEARER",
        f"oauthbearer.sasl.server.callback.handler.class={VALIDATOR}",
        f"oauthbearer.sasl.oauthbearer.jwks.endpoint.url={url}",
        f"oauthbearer.sasl.oauthbearer.expected.audience={AUDIENCE}",
        f"oauthbearer.sasl.oauthbearer.expected.issuer={ISSUER}",
        # Failed fetches are retried quickly in a test.
        "oauthbearer.sasl.oauthbearer.jwks.endpoint.retry.backoff.max.ms=500",
    ]
    if jaas_options:
        settings.append("oauthbearer.sasl.jaas.config=org.apache.kafka.common.security.oauthbearer."
                        f"OAuthBearerLoginModule required {jaas_options};")
    return {"protocol": "SASL_PLAINTEXT", "settings": settings}


@pytest.fixture(scope="module")
def broker_proc(request, idp, endpoints):
    """This module's broker (overrides conftest's), with the JWT listeners."""
    plain, tls, ca = endpoints
    b = Broker(
        settings=["group.initial.rebalance.delay.ms=0", "group.min.session.timeout.ms=1000"],
        listeners={
            "JWT": signed_listener(f"file://{idp.jwks_path}"),
            "JWTHTTP": signed_listener(plain.url),
            "JWTHTTPS": signed_listener(tls.url, f'ssl.truststore.location="{ca}" ssl.truststore.type="PEM"'),
            "UNTRUSTED": signed_listener(tls.url),
        },
    )
    try:
        yield b
    finally:
        b.cleanup(request.module.__name__)


def conf(broker_proc, idp, kid, listener="JWT", **token_args):
    """librdkafka settings whose oauth_cb returns a token for `kid`."""

    def oauth_cb(_config):
        token, expires = idp.token(kid, **token_args)
        return token, float(expires), token_args.get("sub", "alice"), {}

    return {
        "bootstrap.servers": broker_proc.bootstrap_for(listener),
        "security.protocol": "SASL_PLAINTEXT",
        "sasl.mechanism": "OAUTHBEARER",
        "oauth_cb": oauth_cb,
    }


def log_since(broker_proc, start):
    return broker_proc.log_text()[start:]


def wait_log(broker_proc, start, text, timeout=10):
    deadline = time.monotonic() + timeout
    while text not in log_since(broker_proc, start):
        assert time.monotonic() < deadline, \
            f"no {text!r} in the broker's log:\n{log_since(broker_proc, start)[-3000:]}"
        time.sleep(0.1)


def authentication_fails(c, timeout=15):
    """A producer with settings `c` is refused: librdkafka reports an
    authentication error and gets no metadata. Returns its error text."""
    errors = Errors()
    p = Producer({**c, "error_cb": errors, "reconnect.backoff.max.ms": 1000})
    deadline = time.monotonic() + timeout
    while not any(e.code() == KafkaError._AUTHENTICATION for e in errors.errors):
        assert time.monotonic() < deadline, f"no authentication error; client errors: {errors.text()}"
        p.poll(0.1)
    with pytest.raises(KafkaException):
        p.list_topics(timeout=2)
    return errors.text()


def test_oauth_signed_token_produces_and_consumes(broker, broker_proc, idp, create_topic, topic_name):
    start = len(broker_proc.log_text())
    create_topic(topic_name)
    c = conf(broker_proc, idp, "rsa-1")
    values = [f"signed-{i}" for i in range(20)]
    _, errors = ck_produce(c, topic_name, values)
    assert ck_consume_group(c, topic_name, len(values)) == values
    assert not errors.errors, errors.text()
    wait_log(broker_proc, start, "listener=JWT principal=User:alice")


def test_oauth_token_signed_by_another_key_is_refused(broker, broker_proc, idp):
    idp.add_rsa("rogue")
    start = len(broker_proc.log_text())
    # The rogue key signs a token that names the published key.
    text = authentication_fails(conf(broker_proc, idp, "rsa-1", signer="rogue"))
    assert "invalid_token" in text, text
    wait_log(broker_proc, start, "OAUTHBEARER token refused: bad signature")
    # The log names the reason, never the token.
    token, _ = idp.token("rsa-1", signer="rogue")
    assert token.split(".")[2] not in log_since(broker_proc, start)


def test_oauth_unsecured_token_is_refused_on_a_signed_listener(broker, broker_proc):
    start = len(broker_proc.log_text())
    text = authentication_fails({
        "bootstrap.servers": broker_proc.bootstrap_for("JWT"),
        "security.protocol": "SASL_PLAINTEXT",
        "sasl.mechanism": "OAUTHBEARER",
        "enable.sasl.oauthbearer.unsecure.jwt": True,
        "sasl.oauthbearer.config": "principal=mallory",
    })
    assert "invalid_token" in text, text
    wait_log(broker_proc, start, 'OAUTHBEARER token refused: alg "none"')


def test_oauth_rotated_jwks_lets_a_new_key_in_without_a_restart(broker, broker_proc, idp, create_topic,
                                                                 topic_name):
    pid = broker_proc.proc.pid
    create_topic(topic_name)
    idp.add_ec("ec-2")
    start = len(broker_proc.log_text())
    # Not published yet: refused as an unknown key.
    authentication_fails(conf(broker_proc, idp, "ec-2"))
    wait_log(broker_proc, start, "OAUTHBEARER token refused: unknown key")
    # The provider rotates: the file now has both keys. Early re-reads for
    # unknown kids are at most one a second.
    time.sleep(1.2)
    idp.publish(["rsa-1", "ec-2"])
    start = len(broker_proc.log_text())
    _, errors = ck_produce(conf(broker_proc, idp, "ec-2", sub="bob"), topic_name, ["rotated"])
    assert not errors.errors, errors.text()
    wait_log(broker_proc, start, "listener=JWT principal=User:bob")
    assert "changed: 2 keys now" in log_since(broker_proc, start)
    # The old key still works, and the broker never restarted.
    ck_produce(conf(broker_proc, idp, "rsa-1"), topic_name, ["old-key"])
    assert ck_consume_group(conf(broker_proc, idp, "rsa-1"), topic_name, 2) == ["rotated", "old-key"]
    assert broker_proc.proc.pid == pid and broker_proc.alive()


def test_oauth_jwks_fetched_over_http_and_https(broker, broker_proc, idp, endpoints, create_topic, topic_name):
    plain, tls, _ = endpoints
    create_topic(topic_name)
    start = len(broker_proc.log_text())
    for listener, sub in (("JWTHTTP", "carol"), ("JWTHTTPS", "dave")):
        c = conf(broker_proc, idp, "rsa-1", listener=listener, sub=sub)
        _, errors = ck_produce(c, topic_name, [f"via-{listener}"])
        assert not errors.errors, f"{listener}: {errors.text()}"
        wait_log(broker_proc, start, f"listener={listener} principal=User:{sub}")
    assert plain.requests >= 1 and tls.requests >= 1
    assert ck_consume_group(conf(broker_proc, idp, "rsa-1", listener="JWTHTTP"), topic_name, 2) == \
        ["via-JWTHTTP", "via-JWTHTTPS"]


def test_oauth_jwks_endpoint_not_trusted_lets_no_token_in(broker, broker_proc, idp, endpoints):
    _, tls, _ = endpoints
    start = len(broker_proc.log_text())
    # Mozilla's roots do not vouch for the dev CA: the keys are never
    # fetched, and a token the other listeners accept is refused here.
    authentication_fails(conf(broker_proc, idp, "rsa-1", listener="UNTRUSTED"))
    wait_log(broker_proc, 0, f"JWKS endpoint {tls.url}: TLS")
    wait_log(broker_proc, start, "OAUTHBEARER token refused")


def test_oauth_new_key_at_the_endpoint_is_fetched_early(broker, broker_proc, idp, endpoints, create_topic,
                                                       topic_name):
    plain, _, _ = endpoints
    create_topic(topic_name)
    idp.add_ec("ec-http")
    # Not published: refused, and the endpoint is asked again early.
    before = plain.requests
    authentication_fails(conf(broker_proc, idp, "ec-http", listener="JWTHTTP"))
    deadline = time.monotonic() + 10
    while plain.requests == before:
        assert time.monotonic() < deadline, "no early fetch for an unknown kid"
        time.sleep(0.1)
    # Published: the next attempt (early fetches are at most one a second)
    # finds it, long before the hourly refresh.
    idp.publish(["rsa-1", "ec-http"])
    time.sleep(1.2)
    start = len(broker_proc.log_text())
    deadline = time.monotonic() + 20
    while True:
        _, errors = ck_produce(conf(broker_proc, idp, "ec-http", listener="JWTHTTP", sub="erin"), topic_name,
                               ["new-key"])
        if not errors.errors:
            break
        assert time.monotonic() < deadline, errors.text()
        time.sleep(1.1)
    wait_log(broker_proc, start, "listener=JWTHTTP principal=User:erin")
