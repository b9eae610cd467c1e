#!/usr/bin/env bash
# Kafka Streams (kafka-streams 4.4.0: a word count with exactly_once_v2, a
# repartition topic, a persistent store with a compacted changelog, and an
# application restart mid-way) against a fresh Vltava, against Apache Kafka,
# or both; with both, the final counts of the two must be the same (and the
# expected ones, which each run asserts). What it checks:
# WordCountEosTest.java and docs/compatibility.md, "Kafka Streams (issue 11)".
#
#   tests/streams/run.sh [--against vltava|kafka|both] [maven args...]
#
# VLTAVA_BIN names the broker binary (default target/debug/vltava, built if
# missing); RUST_LOG is passed to it (default info). STREAMS_KEEP=DIR keeps
# the brokers' logs and the test's output there. Apache Kafka comes from
# tests/reference/kafka/kafka.sh. Needs Java 17+ and Maven (fails, loudly,
# without them). Exits non-zero when anything fails.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
kafka_sh="$repo/tests/reference/kafka/kafka.sh"
export VLTAVA_BIN="${VLTAVA_BIN:-$repo/target/debug/vltava}"
case "$VLTAVA_BIN" in /*) ;; *) VLTAVA_BIN="$PWD/$VLTAVA_BIN" ;; esac
export MAVEN_OPTS="${MAVEN_OPTS:--Xmx384m}"

against=both
if [ "${1:-}" = --against ]; then
  against="${2:-}"
  shift 2 || true
fi
case "$against" in
  vltava) targets=(vltava) ;;
  kafka) targets=(kafka) ;;
  both) targets=(kafka vltava) ;;
  *) echo "usage: $0 [--against vltava|kafka|both] [maven args...]" >&2; exit 2 ;;
esac

loud() {
  printf '\n!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n' >&2
  printf '!!! %s\n' "$@" >&2
  printf '!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n\n' >&2
  exit 1
}
command -v java >/dev/null || loud "java is not installed: the Kafka Streams test needs a JDK 17+."
command -v mvn >/dev/null || loud "mvn is not installed: the Kafka Streams test needs Maven."
command -v python3 >/dev/null || loud "python3 is not installed: run.sh picks a free port with it."
java_major="$(java -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java.specification.version = //p')"
[ "${java_major%%.*}" -ge 17 ] 2>/dev/null || loud "java is version ${java_major:-unknown}: the Kafka Streams test needs 17 or newer."

work="$(mktemp -d -t vltava-streams.XXXXXX)"
vltava_pid="" kafka_dir=""
cleanup() {
  if [ -n "$vltava_pid" ] && kill -0 "$vltava_pid" 2>/dev/null; then
    kill "$vltava_pid" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$vltava_pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$vltava_pid" 2>/dev/null || true
  fi
  vltava_pid=""
  if [ -n "$kafka_dir" ]; then
    if [ -n "${STREAMS_KEEP:-}" ]; then
      mkdir -p "$STREAMS_KEEP" && cp "$kafka_dir/node1/server.log" "$STREAMS_KEEP/kafka-server.log" 2>/dev/null || true
    fi
    "$kafka_sh" stop "$kafka_dir" >/dev/null 2>&1 || true
  fi
  kafka_dir=""
}
trap 'cleanup; rm -rf "$work"' EXIT

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

start_vltava() {
  if [ ! -x "$VLTAVA_BIN" ]; then
    echo "==> cargo build -p vltava"
    (cd "$repo" && cargo build -p vltava)
  fi
  local port attempt
  for attempt in 1 2 3 4 5; do
    port="$(free_port)"
    rm -rf "$work/vltava-data"
    RUST_LOG="${RUST_LOG:-info}" NO_COLOR=1 "$VLTAVA_BIN" server --data-dir "$work/vltava-data" \
      --listen "127.0.0.1:$port" --set http.listeners= \
      --set group.initial.rebalance.delay.ms=0 >"$work/vltava.log" 2>&1 &
    vltava_pid=$!
    for _ in $(seq 200); do
      kill -0 "$vltava_pid" 2>/dev/null || break
      if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
        bootstrap="127.0.0.1:$port"
        return 0
      fi
      sleep 0.1
    done
    cleanup
  done
  tail -n 40 "$work/vltava.log" >&2
  loud "vltava did not start ($VLTAVA_BIN)"
}

start_kafka() {
  local out
  out="$("$kafka_sh" start)" || loud "Apache Kafka did not start (tests/reference/kafka/kafka.sh start)"
  bootstrap="$(sed -n 's/^KAFKA_BOOTSTRAP=//p' <<<"$out")"
  kafka_dir="$(sed -n 's/^KAFKA_DIR=//p' <<<"$out")"
  [ -n "$bootstrap" ] && [ -n "$kafka_dir" ] || loud "kafka.sh start printed no KAFKA_BOOTSTRAP/KAFKA_DIR: $out"
}

cd "$here"
results="$here/target/results"
rm -rf "$results"
status=0
declare -A took
for t in "${targets[@]}"; do
  start=$(date +%s)
  echo "==> $t: starting the broker"
  bootstrap=""
  if [ "$t" = vltava ]; then start_vltava; else start_kafka; fi
  echo "==> $t: kafka-streams word count (exactly_once_v2) against $bootstrap"
  test_start=$(date +%s)
  if mvn -q -B -Dstyle.color=never test -Dstreams.bootstrap="$bootstrap" -Dstreams.target="$t" "$@"; then
    echo "    $t: PASS ($(cat "$results/$t-summary.txt" 2>/dev/null | sed 's/^[a-z]*: //'))"
  else
    status=1
    echo "!!! $t: FAIL; the test's log (target/surefire-reports-$t/*-output.txt), last lines:" >&2
    grep -h '\[wordcount\]\|Exception\|ERROR' target/surefire-reports-"$t"/*-output.txt 2>/dev/null | tail -n 40 >&2 || true
    if [ "$t" = vltava ]; then
      echo "!!! the broker's log, last lines:" >&2
      tail -n 30 "$work/vltava.log" >&2
    fi
  fi
  if [ "$t" = vltava ]; then
    if grep -E 'cannot encode|panicked|has no handler' "$work/vltava.log" >&2; then
      echo "!!! vltava logged a bug (above)" >&2
      status=1
    fi
    kill -0 "$vltava_pid" 2>/dev/null || { echo "!!! vltava exited during the test" >&2; status=1; }
  fi
  if [ -n "${STREAMS_KEEP:-}" ]; then
    mkdir -p "$STREAMS_KEEP"
    [ "$t" != vltava ] || cp "$work/vltava.log" "$STREAMS_KEEP/vltava.log"
    cp target/surefire-reports-"$t"/*-output.txt "$STREAMS_KEEP/$t-test-output.txt" 2>/dev/null || true
    cp "$results/$t-killed-instance.log" "$STREAMS_KEEP/" 2>/dev/null || true
  fi
  cleanup
  took[$t]=$(( $(date +%s) - start ))
  echo "    $t: $(( $(date +%s) - test_start )) s for the test, ${took[$t]} s with the broker's start and stop"
done

if [ "$against" = both ] && [ $status = 0 ]; then
  if cmp -s "$results/kafka-counts.txt" "$results/vltava-counts.txt"; then
    echo "==> kafka and vltava: the same final counts ($(wc -l <"$results/vltava-counts.txt") words)"
  else
    echo "!!! kafka and vltava give different final counts:" >&2
    diff "$results/kafka-counts.txt" "$results/vltava-counts.txt" >&2 || true
    status=1
  fi
fi
[ $status = 0 ] && echo "streams: PASS" || echo "streams: FAIL" >&2
exit $status
