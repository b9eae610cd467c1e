#!/usr/bin/env bash
# franz-go's own kgo integration tests (pkg/kgo) against a fresh single-node
# vltava (GitHub issue 11, item 7).
#
#   tests/go/franz-go.sh                    # all of pkg/kgo's tests
#   tests/go/franz-go.sh 'TestGroupETL|TestTxnEtl'   # a -run pattern instead
#
# 1. `go mod download` franz-go at FRANZ_GO_VERSION into the default module
#    cache (~/go/pkg/mod), and copies its source to a temp dir (the module
#    cache is read-only; `go test` there would be refused);
# 2. starts `vltava server` on a free port with a temp data dir and
#    group.initial.rebalance.delay.ms=0 (the group tests join and leave
#    often; Kafka's 3 s default only slows them down), plus a SASL_PLAINTEXT
#    listener on the next port (SCRAM-SHA-256 with a user set by
#    `vltava users scram set`, and OAUTHBEARER with unsecured tokens) for
#    TestSCRAMAuth, TestSCRAMAuthBadCredentials and TestOAuthAuth;
# 3. runs `go test -p 1 -v` in pkg/kgo with KGO_SEEDS=<broker>,
#    KGO_TEST_RF=1 (one node), KGO_TEST_RECORDS if set (franz-go's own
#    default, 500000 records through the ETL tests, takes about 50 s against
#    a debug build), KGO_TEST_UNSAFE (EndAndBeginTransaction's unsafe mode, which Kafka
#    allows) and KGO_LOG_LEVEL=none, under FRANZ_GO_TIMEOUT;
# 4. prints one PASS/FAIL/SKIP line per top-level test and the counts;
#    always stops the broker; exits non-zero if go test failed.
#
# Environment:
#   VLTAVA_BIN         broker binary (default <repo>/target/debug/vltava)
#   FRANZ_GO_VERSION   default v1.22.3
#   FRANZ_GO_TIMEOUT   go test -timeout (default 20m)
#   KGO_TEST_RECORDS   records per ETL test (franz-go's default: 500000)
#   FRANZ_GO_LOGS      keep go test's output and the broker log here
#                      (default: a temp dir, removed unless the run failed)
#
# Results, failures and their causes: docs/compatibility.md, "Go clients".
set -euo pipefail

. "$(dirname "$0")/lib.sh"
require_go

FRANZ_GO_VERSION="${FRANZ_GO_VERSION:-v1.22.3}"
TIMEOUT="${FRANZ_GO_TIMEOUT:-20m}"
RUN="${1:-}"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/vltava-franz-go.XXXXXX")"
LOGS="${FRANZ_GO_LOGS:-$WORK}"
mkdir -p "$LOGS"
STATUS=2
cleanup() {
  stop_broker
  rm -rf "$WORK/data" "$WORK/src"
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

# --- 1. the source ---------------------------------------------------------------
DIR="$(go mod download -json "github.com/twmb/franz-go@$FRANZ_GO_VERSION" |
  sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
[ -d "$DIR/pkg/kgo" ] || { log "FATAL: go mod download gave no source dir for franz-go@$FRANZ_GO_VERSION"; exit 2; }
cp -r "$DIR" "$WORK/src"
chmod -R u+w "$WORK/src"
log "franz-go $FRANZ_GO_VERSION copied from $DIR"

# --- 2. the broker ---------------------------------------------------------------
SASL_LISTENER=1 start_broker group.initial.rebalance.delay.ms=0
SCRAM_USER=kgo SCRAM_PASS=kgo-test-password
"$VLTAVA_BIN" users scram set --bootstrap "$BROKERS" --user "$SCRAM_USER" \
  --password "$SCRAM_PASS" --mechanism SCRAM-SHA-256 >"$WORK/scram.log" 2>&1 ||
  { log "FATAL: could not set the SCRAM credential: $(tail -3 "$WORK/scram.log")"; exit 2; }
log "SASL_PLAINTEXT listener at $SASL_BROKERS (SCRAM-SHA-256 user $SCRAM_USER, OAUTHBEARER)"

# --- 3. the tests ----------------------------------------------------------------
args=(test -p 1 -count=1 -v -timeout "$TIMEOUT" .)
[ -n "$RUN" ] && args+=(-run "$RUN")
log "go ${args[*]} (KGO_TEST_RECORDS=${KGO_TEST_RECORDS:-unset, franz-go default 500000})"
start=$(date +%s)
set +e
(cd "$WORK/src/pkg/kgo" &&
  KGO_SEEDS="$BROKERS" KGO_TEST_RF=1 \
  KGO_TEST_UNSAFE=1 KGO_TEST_SCRAM_SEEDS="$SASL_BROKERS" KGO_TEST_SCRAM="$SCRAM_USER:$SCRAM_PASS" \
  KGO_TEST_OAUTH_SEEDS="$SASL_BROKERS" KGO_LOG_LEVEL="${KGO_LOG_LEVEL:-none}" \
  go "${args[@]}") >"$LOGS/go-test.log" 2>&1
STATUS=$?
set -e
elapsed=$(( $(date +%s) - start ))

# --- 4. the results --------------------------------------------------------------
grep -E '^--- (PASS|FAIL|SKIP)' "$LOGS/go-test.log" | sed 's/^--- //' || true
pass=$(grep -cE '^--- PASS' "$LOGS/go-test.log" || true)
fail=$(grep -cE '^--- FAIL' "$LOGS/go-test.log" || true)
skip=$(grep -cE '^--- SKIP' "$LOGS/go-test.log" || true)
tail -3 "$LOGS/go-test.log" >&2
if grep -q '^panic: test timed out' "$LOGS/go-test.log"; then
  log "go test timed out after $TIMEOUT; running then: $(grep -A3 'running tests:' "$LOGS/go-test.log" | tail -3 | tr -s ' \n' ' ')"
fi
log "$pass passed, $fail failed, $skip skipped in ${elapsed}s (go test exit $STATUS); output $LOGS/go-test.log"
if ! kill -0 "$BROKER_PID" 2>/dev/null; then log "the broker exited during the run"; STATUS=1; fi
exit "$STATUS"
