#!/usr/bin/env bash
# External-client tests: kcat, kafka-python and confluent-kafka against a real
# `vltava server` (one fresh broker per test module, see conftest.py).
#
#   tests/external/run-python.sh [pytest args...]
#
# Installs what it needs: kcat and python3-venv from apt when missing, and a
# venv with requirements.txt under $VLTAVA_CACHE (default ~/.cache/vltava),
# reused while requirements.txt and the Python version are unchanged.
# VLTAVA_BIN names the broker binary (default target/debug/vltava, built if
# missing). Exits non-zero when any test fails.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
cache="${VLTAVA_CACHE:-$HOME/.cache/vltava}"
export VLTAVA_BIN="${VLTAVA_BIN:-$repo/target/debug/vltava}"
export PYTHONDONTWRITEBYTECODE=1

python=python3
need=()
command -v kcat >/dev/null 2>&1 || command -v kafkacat >/dev/null 2>&1 || need+=(kcat)
if ! command -v "$python" >/dev/null 2>&1; then
  need+=(python3 python3-venv)
elif ! "$python" -c 'import venv, ensurepip' >/dev/null 2>&1; then
  need+=(python3-venv)
fi
if [ ${#need[@]} -gt 0 ]; then
  echo "==> apt-get install ${need[*]}"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >/dev/null
fi

key="$( (cat "$here/requirements.txt"; "$python" -c 'import sys; print(sys.version)') | sha256sum | cut -c1-12)"
venv="$cache/venv-external-$key"
if [ ! -f "$venv/.complete" ]; then
  echo "==> creating $venv"
  rm -rf "$venv"
  mkdir -p "$cache"
  "$python" -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$here/requirements.txt"
  touch "$venv/.complete"
fi

if [ ! -x "$VLTAVA_BIN" ]; then
  echo "==> cargo build -p vltava"
  (cd "$repo" && cargo build -p vltava)
fi

echo "==> pytest tests/external (broker: $VLTAVA_BIN)"
cd "$here"
exec "$venv/bin/python" -m pytest -p no:cacheprovider -rfEs "$@"
