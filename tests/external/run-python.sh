#!/usr/bin/env bash
# External-client tests: kcat, kafka-python and confluent-kafka against a real
# `vltava server` (one fresh broker per test module, see conftest.py), and
# Apache Kafka's own command-line tools against Vltava and against Apache
# Kafka itself (test_kafka_tools.py: it starts one Kafka node with
# tests/reference/kafka/kafka.sh, or uses KAFKA_BOOTSTRAP, and needs Java 17+
# and Maven; it fails, it does not skip, without them).
#
#   tests/external/run-python.sh [pytest args...]
#
# Installs what it needs through scripts/python-env: kcat and python3-venv
# from apt when missing, and a venv with requirements.txt under $VLTAVA_CACHE
# (default ~/.cache/vltava).
# VLTAVA_BIN names the broker binary (default target/debug/vltava, built if
# missing). Exits non-zero when any test fails.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
export VLTAVA_BIN="${VLTAVA_BIN:-$repo/target/debug/vltava}"
export PYTHONDONTWRITEBYTECODE=1

venv="$("$repo/scripts/python-env")"

if [ ! -x "$VLTAVA_BIN" ]; then
  echo "==> cargo build -p vltava"
  (cd "$repo" && cargo build -p vltava)
fi

echo "==> pytest tests/external (broker: $VLTAVA_BIN)"
cd "$here"
exec "$venv/bin/python" -m pytest -p no:cacheprovider -rfEs "$@"
