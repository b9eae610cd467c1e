#!/usr/bin/env bash
# kafka-python's own integration tests against Vltava: admin, consumer,
# producer, SSL and SASL (issues 9 and 12).
#
#   tests/external/kafka-python-suite/run.sh [pytest args...]
#
# Downloads kafka-python's sdist (the version pinned in
# tests/external/requirements.txt) into ${VLTAVA_CACHE:-~/.cache/vltava},
# extracts it, and runs every module of its test/integration/ unchanged, with
# vltava_fixtures.py (beside this script) standing in for the sdist's
# test/integration/fixtures.py: each broker the tests ask for is a
# `vltava server` with the listener they need (see that file). The tests use
# the kafka-python installed in the venv (the same version).
#
# Not run: test/net/test_sasl_reauthentication.py. It is a unit test of the
# client against kafka-python's MockBroker (no real broker), and the sdist
# does not ship test/mock_broker.py, so it cannot even be imported from it.
#
# VLTAVA_BIN names the broker binary (default target/debug/vltava, built if
# missing); VLTAVA_KEEP_LOGS=DIR keeps the brokers' logs. Exits non-zero when
# any test fails.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../../.." && pwd)"
export VLTAVA_BIN="${VLTAVA_BIN:-$repo/target/debug/vltava}"
export VLTAVA_REPO="$repo"
export PYTHONDONTWRITEBYTECODE=1
cache="${VLTAVA_CACHE:-$HOME/.cache/vltava}"

venv="$("$repo/scripts/python-env")"
version="$(sed -n 's/^kafka-python==\([^ ]*\).*/\1/p' "$repo/tests/external/requirements.txt")"
[ -n "$version" ] || { echo "no kafka-python pin in tests/external/requirements.txt" >&2; exit 1; }

if [ ! -x "$VLTAVA_BIN" ]; then
  echo "==> cargo build -p vltava"
  (cd "$repo" && cargo build -p vltava)
fi

src="$cache/kafka-python-$version-src"
if [ ! -f "$src/.complete" ]; then
  echo "==> downloading kafka-python $version (sdist) into $cache"
  rm -rf "$src" "$src.tmp"
  mkdir -p "$src.tmp/dl"
  "$venv/bin/pip" download --quiet --disable-pip-version-check --no-deps --no-binary :all: \
    "kafka-python==$version" -d "$src.tmp/dl"
  tar -xzf "$src.tmp/dl"/kafka_python-"$version".tar.gz -C "$src.tmp"
  mv "$src.tmp/kafka_python-$version" "$src"
  rm -rf "$src.tmp"
  touch "$src/.complete"
fi

# kafka-python's integration tests are skipped unless KAFKA_VERSION names the
# broker's version; 4.x means KRaft (no ZooKeeper), as Vltava is. It is also
# the api_version the tests give the clients, and the version
# test_kafka_version_infer expects the client to infer from ApiVersions.
# Vltava implements the protocol of Kafka 4.0 (the message specs in
# ../shared/kafka-message-specs), so 4.0.0; the suite's own markers then skip
# test_list_config_resources (ListConfigResources is Kafka 4.1's, KIP-1142).
export KAFKA_VERSION="${KAFKA_VERSION:-4.0.0}"
export KAFKA_PYTHON_SRC="$src"
export PYTHONPATH="$here${PYTHONPATH:+:$PYTHONPATH}"

# Deselected: none. (A test that cannot run for a reason other than a Vltava
# bug, e.g. GSSAPI, would be named here with --deselect and the reason.)
deselect=()

echo "==> kafka-python $version integration tests against $VLTAVA_BIN"
cd "$src"
# -P: the sdist's directory is not put on sys.path, so `kafka` is the venv's.
exec "$venv/bin/python" -P -m pytest -p no:cacheprovider -p vltava_fixtures -rfEs \
  -W ignore::DeprecationWarning \
  "${deselect[@]}" \
  test/integration/ "$@"
