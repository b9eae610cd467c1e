#!/usr/bin/env bash
# librdkafka's own integration tests against a fresh single-node vltava.
#
#   tests/external/librdkafka.sh            # the required tests (issue 3), then
#                                           # the consumer and group tests (issue 4)
#                                           # and the transactional ones
#   tests/external/librdkafka.sh 0017 0052  # these tests instead
#   tests/external/librdkafka.sh extended   # required + the other tests that
#                                           # pass and take < 25 s (~6 min)
#
# 1. fetches librdkafka's source as shipped in the rdkafka-sys crate, with
#    cargo (crates.io is the only place it comes from), into $VLTAVA_CACHE;
# 2. builds librdkafka and its test-runner there, once (a stamp file names
#    the version and flags; reruns reuse the build);
# 3. starts `vltava server` on a free 127.0.0.1 port with a temp data dir
#    and --set num.partitions=4 (librdkafka's tests assume a multi-partition
#    auto-create default; the broker is otherwise at Kafka's defaults);
# 4. runs each test in its own test-runner process under a timeout, prints
#    one PASS/FAIL line per test and a final "N passed, M failed";
# 5. always stops the broker; exits non-zero if any test failed.
#
# Environment:
#   VLTAVA_CACHE            build cache (default ~/.cache/vltava)
#   VLTAVA_BIN              broker binary (default: cargo build -p vltava)
#   RDKAFKA_SYS_VERSION     rdkafka-sys crate version (default below)
#   LIBRDKAFKA_TEST_TIMEOUT seconds per test (default 120)
#   LIBRDKAFKA_LOGS         where per-test and broker logs go (default: temp)
#   LIBRDKAFKA_JOBS         make -j (default: nproc)
#   TEST_KAFKA_VERSION      the Kafka version the tests assume (default 3.9.0;
#                           4.0.0 makes 0052 skip its message-format-v0 parts,
#                           which Kafka 4 and vltava do not accept)
#   LIBRDKAFKA_SOCKEM=1     also run tests that use sockem, librdkafka's socket
#                           emulator (it delays/cuts the client's own sockets;
#                           the default passes -E, which skips them)
#   SUBTESTS, TEST_DEBUG    passed to test-runner (see librdkafka tests/README.md)
#   LIBRDKAFKA_NODES        1 (default): one `vltava server`; N > 1: a cluster of
#                           N combined nodes from `vltava dev-cluster`
#   LIBRDKAFKA_SET          extra broker properties, space-separated KEY=VALUE,
#                           e.g. "default.replication.factor=3 min.insync.replicas=2"
#                           with LIBRDKAFKA_NODES=3 (replicated auto-created topics)
#   LIBRDKAFKA_SCENARIO     librdkafka test scenario: default, or noautocreate
#                           (broker runs with auto.create.topics.enable=false;
#                           tests 0045 (two of its parts), 0107 and 0111 need it)
#
# Results and the reasons for the tests not run here: docs/compatibility.md.
set -euo pipefail

REPO="$(cd "$(dirname "$0")/../.." && pwd)"
CACHE="${VLTAVA_CACHE:-$HOME/.cache/vltava}"
RDKAFKA_SYS_VERSION="${RDKAFKA_SYS_VERSION:-4.10.0}"
TEST_TIMEOUT="${LIBRDKAFKA_TEST_TIMEOUT:-120}"
SCENARIO="${LIBRDKAFKA_SCENARIO:-default}"
NODES="${LIBRDKAFKA_NODES:-1}"
KAFKA_VERSION="${TEST_KAFKA_VERSION:-3.9.0}"
# librdkafka's tests/scenarios/*.json, as broker settings.
case "$SCENARIO" in
  default) BROKER_SETTINGS=(--set num.partitions=4) ;;
  noautocreate) BROKER_SETTINGS=(--set num.partitions=4 --set auto.create.topics.enable=false) ;;
  *) echo "unknown LIBRDKAFKA_SCENARIO $SCENARIO (default or noautocreate)" >&2; exit 2 ;;
esac
for kv in ${LIBRDKAFKA_SET:-}; do BROKER_SETTINGS+=(--set "$kv"); done
JOBS="${LIBRDKAFKA_JOBS:-$(nproc)}"
RUNNER_FLAGS=(-p1 -L -s "$SCENARIO")
[ "${LIBRDKAFKA_SOCKEM:-0}" = 1 ] || RUNNER_FLAGS+=(-E)
CONFIGURE_FLAGS="--no-download --disable-gssapi --disable-curl"

# Required to pass (issue 3). None of them joins a consumer group.
REQUIRED_TESTS=(0001 0002 0003 0005 0007 0008 0011 0012 0013 0035 0044 0054 0063)
# Every other test that passes here in under 25 s (docs/compatibility.md).
EXTENDED_TESTS=(0014 0015 0016 0017 0019 0020 0021 0022 0029 0031 0034 0036 0038 0039 0040
  0041 0042 0048 0053 0056 0057 0059 0060 0064 0065 0067 0069 0070 0073 0082 0083 0085
  0086 0090 0092 0099 0110 0112 0114 0118 0123 0125 0127 0130 0132 0140)
if [ "$#" -eq 1 ] && [ "$1" = extended ]; then
  TESTS_TO_RUN=("${REQUIRED_TESTS[@]}" "${EXTENDED_TESTS[@]}")
elif [ "$#" -gt 0 ]; then
  TESTS_TO_RUN=("$@")
else
  TESTS_TO_RUN=("${REQUIRED_TESTS[@]}")
fi
# Consumer and consumer-group tests (issue 4), run after the required ones
# when no tests are named (CI): about 7 minutes. Not quick mode: every
# subtest runs, at Kafka's group.initial.rebalance.delay.ms (3 s; 0113 counts
# on it). Left out (docs/compatibility.md): 0113, which passes but takes over
# 10 minutes.
GROUP_TESTS=(0015 0017 0022 0029 0031 0034 0036 0041 0042 0070 0073 0085 0092 0112
  0018 0019 0026 0030 0033 0050 0051 0056 0061 0069 0099 0102 0118 0130)
# Tests with transactional producers that a single broker can run (0061 above
# has a transactional part too): about 60 s. 0055 (producer latency, with a
# transactional part) passes when run by name, but librdkafka skips it when
# CI is set (its latency bounds are not for shared machines), so CI leaves
# it out.
TXN_TESTS=(0137)
if [ "$#" -eq 0 ]; then TESTS_TO_RUN+=("${GROUP_TESTS[@]}" "${TXN_TESTS[@]}"); fi

log() { printf '[librdkafka.sh] %s\n' "$*" >&2; }

# --- 1. system packages -----------------------------------------------------
need_pkgs=()
# rapidjson-dev: configure enables the tests that parse stats JSON (0053, 0110).
for pkg in build-essential pkg-config python3 libssl-dev zlib1g-dev libzstd-dev liblz4-dev rapidjson-dev; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need_pkgs+=("$pkg")
done
if [ "${#need_pkgs[@]}" -gt 0 ]; then
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    log "missing packages: ${need_pkgs[*]} (install them, or run as root on Debian)"
    exit 2
  fi
  log "apt-get install ${need_pkgs[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >/dev/null
fi

# --- 2. librdkafka source and build -----------------------------------------
mkdir -p "$CACHE"
FETCH_DIR="$CACHE/rdkafka-sys-fetch"
if [ ! -f "$FETCH_DIR/Cargo.toml" ] || ! grep -q "\"=$RDKAFKA_SYS_VERSION\"" "$FETCH_DIR/Cargo.toml"; then
  rm -rf "$FETCH_DIR"
  mkdir -p "$FETCH_DIR/src"
  cat >"$FETCH_DIR/Cargo.toml" <<EOF
[package]
name = "rdkafka-sys-fetch"
version = "0.0.0"
edition = "2021"
publish = false

[dependencies]
rdkafka-sys = "=$RDKAFKA_SYS_VERSION"

[workspace]
EOF
  echo 'fn main() {}' >"$FETCH_DIR/src/main.rs"
fi
SRC_MANIFEST="$(cd "$FETCH_DIR" && cargo metadata --format-version 1 2>/dev/null |
  python3 -c 'import json,sys; m=json.load(sys.stdin); print(next(p["manifest_path"] for p in m["packages"] if p["name"]=="rdkafka-sys"))' 2>/dev/null || true)"
if [ -z "$SRC_MANIFEST" ] || [ ! -d "$(dirname "$SRC_MANIFEST")/librdkafka/tests" ]; then
  log "fetching rdkafka-sys $RDKAFKA_SYS_VERSION with cargo"
  (cd "$FETCH_DIR" && cargo fetch --quiet)
  SRC_MANIFEST="$(cd "$FETCH_DIR" && cargo metadata --format-version 1 |
    python3 -c 'import json,sys; m=json.load(sys.stdin); print(next(p["manifest_path"] for p in m["packages"] if p["name"]=="rdkafka-sys"))')"
fi
SRC="$(dirname "$SRC_MANIFEST")/librdkafka"
FULL_VERSION="$(basename "$(dirname "$SRC_MANIFEST")")" # rdkafka-sys-X+LIBRDKAFKA_VERSION
BUILD="$CACHE/librdkafka-build/$FULL_VERSION"
STAMP="$BUILD/.vltava-built"
WANT_STAMP="$FULL_VERSION $CONFIGURE_FLAGS with-rapidjson"
if [ ! -f "$STAMP" ] || [ "$(cat "$STAMP")" != "$WANT_STAMP" ] || [ ! -x "$BUILD/tests/test-runner" ]; then
  log "building librdkafka ($FULL_VERSION) in $BUILD with -j$JOBS"
  rm -rf "$BUILD"
  mkdir -p "$(dirname "$BUILD")"
  cp -r "$SRC" "$BUILD"
  chmod -R u+w "$BUILD"
  started=$SECONDS
  (
    cd "$BUILD"
    # shellcheck disable=SC2086
    ./configure $CONFIGURE_FLAGS >vltava-configure.log 2>&1 || { tail -40 vltava-configure.log >&2; exit 1; }
    make -j"$JOBS" libs >vltava-make-libs.log 2>&1 || { tail -40 vltava-make-libs.log >&2; exit 1; }
    make -j"$JOBS" -C tests build >vltava-make-tests.log 2>&1 || { tail -40 vltava-make-tests.log >&2; exit 1; }
  )
  echo "$WANT_STAMP" >"$STAMP"
  log "built librdkafka in $((SECONDS - started))s"
fi
LIBRDKAFKA_VERSION="${FULL_VERSION##*+}"

# --- 3. the broker ------------------------------------------------------------
if [ -z "${VLTAVA_BIN:-}" ]; then
  log "cargo build -p vltava"
  (cd "$REPO" && cargo build --quiet -p vltava)
  VLTAVA_BIN="$REPO/target/debug/vltava"
fi
[ -x "$VLTAVA_BIN" ] || { log "no broker binary at $VLTAVA_BIN"; exit 2; }

WORK="$(mktemp -d "${TMPDIR:-/tmp}/vltava-librdkafka.XXXXXX")"
LOGS="${LIBRDKAFKA_LOGS:-$WORK/logs}"
mkdir -p "$LOGS"
BROKER_PID=""
stop_broker() {
  if [ -n "$BROKER_PID" ] && kill -0 "$BROKER_PID" 2>/dev/null; then
    kill -TERM "$BROKER_PID" 2>/dev/null || true
    for _ in $(seq 150); do kill -0 "$BROKER_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$BROKER_PID" 2>/dev/null || true
    wait "$BROKER_PID" 2>/dev/null || true
  fi
  BROKER_PID=""
}
cleanup() {
  stop_broker
  rm -rf "$WORK/data"
  [ -n "${LIBRDKAFKA_LOGS:-}" ] || [ "${KEEP_WORK:-0}" = 1 ] || rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

BROKERS=""
if [ "$NODES" -gt 1 ]; then
  # A cluster: dev-cluster formats and starts the nodes on free ports and
  # prints the bootstrap servers; SIGTERM stops them all.
  "$VLTAVA_BIN" dev-cluster --nodes "$NODES" --dir "$WORK/data" "${BROKER_SETTINGS[@]}" \
    >"$LOGS/broker.log" 2>&1 &
  BROKER_PID=$!
  for _ in $(seq 100); do
    BROKERS="$(sed -n 's/^bootstrap servers: //p' "$LOGS/broker.log")"
    [ -n "$BROKERS" ] && break
    kill -0 "$BROKER_PID" 2>/dev/null || break
    sleep 0.1
  done
  [ -n "$BROKERS" ] || { log "could not start the cluster: $(tail -3 "$LOGS/broker.log")"; exit 2; }
  # Ready when every node lists all N brokers.
  for _ in $(seq 300); do
    ready=1
    for b in ${BROKERS//,/ }; do
      n="$("$VLTAVA_BIN" cluster --bootstrap "$b" --output json 2>/dev/null |
        python3 -c 'import json,sys; print(len(json.load(sys.stdin)["brokers"]))' 2>/dev/null || echo 0)"
      [ "$n" = "$NODES" ] || ready=0
    done
    [ "$ready" = 1 ] && break
    sleep 0.2
  done
  [ "$ready" = 1 ] || { log "the cluster did not converge on $NODES brokers"; exit 2; }
  PORT="${BROKERS%%,*}"
  PORT="${PORT##*:}"
  log "cluster of $NODES nodes (dev-cluster pid $BROKER_PID) at $BROKERS, logs in $WORK/data"
else
# A free port: pick one, start the broker on it, retry if it was taken.
PORT=""
for attempt in $(seq 10); do
  candidate=$((20000 + RANDOM % 40000))
  rm -rf "$WORK/data"
  # No HTTP listener: its default port is one per machine.
  "$VLTAVA_BIN" server --listen "127.0.0.1:$candidate" --data-dir "$WORK/data" \
    --set http.listeners= "${BROKER_SETTINGS[@]}" >"$LOGS/broker.log" 2>&1 &
  BROKER_PID=$!
  for _ in $(seq 100); do
    if grep -q "broker started" "$LOGS/broker.log"; then PORT=$candidate; break; fi
    kill -0 "$BROKER_PID" 2>/dev/null || break
    sleep 0.1
  done
  [ -n "$PORT" ] && break
  log "broker did not start on port $candidate (attempt $attempt): $(tail -1 "$LOGS/broker.log")"
  stop_broker
done
[ -n "$PORT" ] || { log "could not start the broker"; exit 2; }
BROKERS="127.0.0.1:$PORT"
log "broker pid $BROKER_PID on 127.0.0.1:$PORT, logs in $LOGS"
fi

# --- 4. the tests ---------------------------------------------------------------
# Tests that shell out to Kafka's kafka-topics.sh get a stand-in that does
# the same with `vltava topics` (tests/external/kafka-bin/bin).
KAFKA_PATH="$REPO/tests/external/kafka-bin"
VLTAVA_BIN="$(cd "$(dirname "$VLTAVA_BIN")" && pwd)/$(basename "$VLTAVA_BIN")"
cat >"$WORK/test.conf" <<EOF
bootstrap.servers=$BROKERS
EOF
log "librdkafka $LIBRDKAFKA_VERSION ($FULL_VERSION), scenario $SCENARIO, TEST_KAFKA_VERSION $KAFKA_VERSION, tests: ${TESTS_TO_RUN[*]}"
passed=0
failed=0
failed_tests=()
for i in "${!TESTS_TO_RUN[@]}"; do
  t="${TESTS_TO_RUN[$i]}"
  started=$SECONDS
  set +e
  # The braces keep bash's "Aborted" notice for a test-runner that died on
  # an assertion out of our output (the log has the details).
  { (
    cd "$BUILD/tests" &&
      LD_LIBRARY_PATH="$BUILD/src:$BUILD/src-cpp" RDKAFKA_TEST_CONF="$WORK/test.conf" \
        TEST_KAFKA_VERSION="$KAFKA_VERSION" TESTS="$t" KAFKA_PATH="$KAFKA_PATH" BROKERS="$BROKERS" \
        VLTAVA_BIN="$VLTAVA_BIN" timeout -k 10 "$TEST_TIMEOUT" ./test-runner "${RUNNER_FLAGS[@]}"
  ) >"$LOGS/$t.log" 2>&1 </dev/null; } 2>/dev/null
  rc=$?
  set -e
  # The summary table: "| 0012_produce_consume | PASSED | 1.6s |".
  summary="$(sed 's/\x1b\[[0-9;]*m//g' "$LOGS/$t.log" | grep -aE "^\| ${t}_" || true)"
  elapsed=$((SECONDS - started))
  if [ "$rc" = 0 ] && grep -qE '\| +PASSED +\|' <<<"$summary" && ! grep -qE '\| +FAILED +\|' <<<"$summary"; then
    echo "PASS $t ($(grep -E '\| +PASSED +\|' <<<"$summary" | awk -F'|' '{gsub(/ /,"",$2); printf "%s ", $2}')${elapsed}s)"
    passed=$((passed + 1))
  else
    why="exit $rc"
    # 124: timeout(1) stopped it; 137 after the limit: killed by timeout -k.
    # (test-runner kills itself with SIGKILL on its own per-test timeouts.)
    if [ "$rc" = 124 ] || { [ "$rc" = 137 ] && [ "$elapsed" -ge "$TEST_TIMEOUT" ]; }; then
      why="timed out after ${TEST_TIMEOUT}s"
    fi
    [ -n "$summary" ] || why="$why, no summary"
    # A test that skipped itself did not pass: say so, and why.
    if grep -qE '\| +SKIPPED +\|' <<<"$summary"; then
      why="$why, skipped by librdkafka: $(sed 's/\x1b\[[0-9;]*m//g' "$LOGS/$t.log" | grep -a -m1 -oE 'SKIPPING TEST: .*' | head -1 || echo 'see log')"
    fi
    echo "FAIL $t ($why, ${elapsed}s; log: $LOGS/$t.log)"
    sed 's/\x1b\[[0-9;]*m//g' "$LOGS/$t.log" | grep -a -A3 "TEST FAILURE" | head -12 | sed 's/^/    /' || true
    failed=$((failed + 1))
    failed_tests+=("$t")
  fi
  if ! kill -0 "$BROKER_PID" 2>/dev/null; then
    log "the broker died during $t; its log: $LOGS/broker.log"
    tail -20 "$LOGS/broker.log" >&2
    for rest in "${TESTS_TO_RUN[@]:$((i + 1))}"; do
      echo "FAIL $rest (not run: the broker died)"
      failed=$((failed + 1))
      failed_tests+=("$rest")
    done
    break
  fi
done
rm -f "$BUILD"/tests/stats_*.json
if [ "$failed" -gt 0 ]; then
  KEEP_WORK=1
  log "failed: ${failed_tests[*]}; logs kept in $LOGS"
fi
stop_broker
if grep -qaE "cannot encode|panicked" "$LOGS/broker.log"; then
  log "the broker logged encode errors or panics:"
  grep -aE "cannot encode|panicked" "$LOGS/broker.log" | head -5 >&2
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
