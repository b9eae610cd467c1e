#!/usr/bin/env bash
# Sarama (IBM/sarama, the client Burrow uses) against a fresh single-node
# vltava (GitHub issue 11, item 7): tests/go/sarama/*_test.go.
#
#   tests/go/sarama.sh                  # all the tests
#   tests/go/sarama.sh TestConsumerGroup   # a -run pattern
#
# Starts `vltava server` on a free port (temp data dir,
# group.initial.rebalance.delay.ms=0, auto.create.topics.enable=false so a
# test that forgot to create its topic fails), runs `go test -p 1 -v` in
# tests/go/sarama with VLTAVA_BROKERS=<broker>, always stops the broker and
# exits with go test's status. Sarama's version is pinned in go.mod/go.sum.
#
# Environment:
#   VLTAVA_BIN       broker binary (default <repo>/target/debug/vltava)
#   SARAMA_TIMEOUT   go test -timeout (default 10m)
#   SARAMA_LOGS      keep go test's output and the broker log here
set -euo pipefail

. "$(dirname "$0")/lib.sh"
require_go

RUN="${1:-}"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/vltava-sarama.XXXXXX")"
LOGS="${SARAMA_LOGS:-$WORK}"
mkdir -p "$LOGS"
STATUS=2
cleanup() {
  stop_broker
  rm -rf "$WORK/data"
  if [ "$LOGS" != "$WORK" ]; then
    cp -f "$WORK/broker.log" "$LOGS/" 2>/dev/null || true
    rm -rf "$WORK"
  elif [ "$STATUS" = 0 ] && [ "${KEEP_WORK:-0}" != 1 ]; then
    rm -rf "$WORK"
  else
    log "logs kept in $WORK"
  fi
}
trap cleanup EXIT

start_broker group.initial.rebalance.delay.ms=0 auto.create.topics.enable=false

args=(test -p 1 -count=1 -v -timeout "${SARAMA_TIMEOUT:-10m}" .)
[ -n "$RUN" ] && args+=(-run "$RUN")
start=$(date +%s)
set +e
(cd "$REPO/tests/go/sarama" && VLTAVA_BROKERS="$BROKERS" go "${args[@]}") 2>&1 | tee "$LOGS/go-test.log"
STATUS=${PIPESTATUS[0]}
set -e
log "go test exit $STATUS in $(( $(date +%s) - start ))s; $(grep -cE '^\s*--- PASS' "$LOGS/go-test.log" || true) PASS, $(grep -cE '^\s*--- FAIL' "$LOGS/go-test.log" || true) FAIL lines (tests and subtests)"
if ! kill -0 "$BROKER_PID" 2>/dev/null; then log "the broker exited during the run"; STATUS=1; fi
exit "$STATUS"
