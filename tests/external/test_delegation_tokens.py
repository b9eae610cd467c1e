"""Delegation tokens (KIP-48) with Apache Kafka's own tools against
`vltava server`: `kafka-delegation-tokens.sh` (DelegationTokenCommand)
creates, describes, renews and expires a token, and Kafka's console
producer and consumer log in with it (SCRAM-SHA-512 with tokenauth="true",
as Kafka's docs configure a client), until it is expired.

One broker for the module: a SASL_PLAINTEXT listener with PLAIN users
alice and bob (who ask for tokens) and SCRAM-SHA-512 (which tokens log in
with), and delegation.token.secret.key set. The tools' JVMs run as in
test_kafka_tools.py.
"""

import os
import re
import subprocess

import pytest
from conftest import REPO, Broker

KAFKA_SH = REPO / "tests" / "reference" / "kafka" / "kafka.sh"
TOOL_ENV = dict(os.environ, JAVA_TOOL_OPTIONS="-XX:TieredStopAtLevel=1 -XX:+UseSerialGC")
TOKENS = "org.apache.kafka.tools.DelegationTokenCommand"
USERS = {"alice": "alice-secret", "bob": "bob-secret"}
PLAIN_JAAS = "org.apache.kafka.common.security.plain.PlainLoginModule required " + " ".join(
    f'user_{u}="{p}"' for u, p in USERS.items()) + ";"


@pytest.fixture(scope="module")
def broker_proc(request):
    prep = subprocess.run([str(KAFKA_SH), "prepare"], capture_output=True, text=True)
    if prep.returncode != 0:
        pytest.fail("Apache Kafka's tools need Java 17+ and Maven (`kafka.sh prepare` failed):\n"
                    + prep.stderr[-2000:], pytrace=False)
    b = Broker(
        settings=["delegation.token.secret.key=a-secret-every-node-shares",
                  "sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-512"],
        listeners={"SASL_PLAINTEXT": [
            f"plain.sasl.jaas.config={PLAIN_JAAS}",
            "scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;",
        ]},
    )
    try:
        yield b
    finally:
        b.cleanup(request.module.__name__)


def config_file(tmp_path, name, mechanism, jaas):
    path = tmp_path / f"{name}.properties"
    path.write_text(f"security.protocol=SASL_PLAINTEXT\nsasl.mechanism={mechanism}\nsasl.jaas.config={jaas}\n")
    return str(path)


def user_config(tmp_path, user):
    return config_file(tmp_path, user, "PLAIN",
                       f'org.apache.kafka.common.security.plain.PlainLoginModule required '
                       f'username="{user}" password="{USERS[user]}";')


def token_config(tmp_path, token_id, hmac):
    return config_file(tmp_path, "token", "SCRAM-SHA-512",
                       f'org.apache.kafka.common.security.scram.ScramLoginModule required '
                       f'username="{token_id}" password="{hmac}" tokenauth="true";')


def run(tool, *args, stdin=None):
    return subprocess.run([str(KAFKA_SH), "run", tool, *args], input=stdin, capture_output=True,
                          text=True, env=TOOL_ENV, timeout=120)


def test_kafka_tools_create_use_renew_and_expire_a_token(broker, broker_proc, create_topic, topic_name, tmp_path):
    create_topic(topic_name)
    bootstrap = broker_proc.bootstrap_for("SASL_PLAINTEXT")
    alice, bob = user_config(tmp_path, "alice"), user_config(tmp_path, "bob")

    created = run(TOKENS, "--bootstrap-server", bootstrap, "--command-config", alice, "--create",
                  "--max-life-time-period", "-1", "--renewer-principal", "User:bob")
    assert created.returncode == 0, created.stdout + created.stderr[-3000:]
    # The tool prints a table: TOKENID HMAC OWNER REQUESTER RENEWERS ...
    row = next(l for l in created.stdout.splitlines() if "User:alice" in l)
    token_id, hmac = row.split()[:2]
    assert re.fullmatch(r"[A-Za-z0-9_-]{22}", token_id), row
    assert "User:bob" in row, row

    # The token logs in (as alice) and produces and consumes.
    token = token_config(tmp_path, token_id, hmac)
    values = [f"token-{i}" for i in range(10)]
    p = run("org.apache.kafka.tools.ConsoleProducer", "--bootstrap-server", bootstrap, "--topic", topic_name,
            "--producer.config", token, stdin="\n".join(values) + "\n")
    assert p.returncode == 0, p.stderr[-3000:]
    c = run("org.apache.kafka.tools.consumer.ConsoleConsumer", "--bootstrap-server", bootstrap, "--topic",
            topic_name, "--from-beginning", "--max-messages", str(len(values)), "--timeout-ms", "30000",
            "--consumer.config", token)
    assert c.returncode == 0, c.stderr[-3000:]
    assert [l for l in c.stdout.splitlines() if not l.startswith("Option ")] == values
    assert re.search(r"authenticated .*principal=User:alice", broker_proc.log_text()), \
        broker_proc.log_tail()

    # The tool sends an empty owner list without --owner-principal, which
    # Kafka's brokers (and Vltava) answer with no tokens; name the owner.
    described = run(TOKENS, "--bootstrap-server", bootstrap, "--command-config", alice, "--describe",
                    "--owner-principal", "User:alice")
    assert described.returncode == 0, described.stderr[-3000:]
    assert token_id in described.stdout and hmac in described.stdout, described.stdout

    # bob, a renewer, renews it.
    renewed = run(TOKENS, "--bootstrap-server", bootstrap, "--command-config", bob, "--renew", "--hmac", hmac,
                  "--renew-time-period", "3600000")
    assert renewed.returncode == 0, renewed.stdout + renewed.stderr[-3000:]
    assert "Completed renew operation" in renewed.stdout, renewed.stdout

    # alice expires it now; it no longer logs in.
    expired = run(TOKENS, "--bootstrap-server", bootstrap, "--command-config", alice, "--expire", "--hmac", hmac,
                  "--expiry-time-period", "-1")
    assert expired.returncode == 0, expired.stdout + expired.stderr[-3000:]
    assert "Completed expire operation" in expired.stdout, expired.stdout
    listed = run("org.apache.kafka.tools.TopicCommand", "--bootstrap-server", bootstrap, "--command-config", token,
                 "--list")
    assert listed.returncode != 0, listed.stdout
    assert "Authentication failed" in listed.stdout + listed.stderr, listed.stdout + listed.stderr[-3000:]
    described = run(TOKENS, "--bootstrap-server", bootstrap, "--command-config", alice, "--describe",
                    "--owner-principal", "User:alice")
    assert described.returncode == 0, described.stderr[-3000:]
    assert "Total number of tokens : 0" in described.stdout, described.stdout
