# Shared by tests/go/franz-go.sh and tests/go/sarama.sh: start and stop one
# fresh `vltava server` on a free 127.0.0.1 port. Source it, then
#   start_broker KEY=VALUE...   # sets BROKER_PID, BROKERS; log in $WORK/broker.log
#   With SASL_LISTENER=1 the broker also gets a SASL_PLAINTEXT listener on the
#   next port, with SCRAM-SHA-256 and OAUTHBEARER (unsecured tokens); its
#   address is SASL_BROKERS.
#   stop_broker
# $WORK must be set (a temp dir the caller removes).

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VLTAVA_BIN="${VLTAVA_BIN:-$REPO/target/debug/vltava}"

log() { echo "[$(date -u +%H:%M:%S)] $*" >&2; }

require_go() {
  if ! command -v go >/dev/null 2>&1; then
    log "FATAL: go is not on PATH; these tests need Go (1.26 or newer)"
    exit 2
  fi
  if [ ! -x "$VLTAVA_BIN" ]; then
    log "FATAL: no broker binary at VLTAVA_BIN=$VLTAVA_BIN (cargo build -p vltava, or set VLTAVA_BIN)"
    exit 2
  fi
}

BROKER_PID=""
BROKERS=""
SASL_BROKERS=""
stop_broker() {
  [ -n "$BROKER_PID" ] || return 0
  if kill -0 "$BROKER_PID" 2>/dev/null; then kill -TERM "$BROKER_PID" 2>/dev/null || true; fi
  for _ in $(seq 150); do kill -0 "$BROKER_PID" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$BROKER_PID" 2>/dev/null || true
  wait "$BROKER_PID" 2>/dev/null || true
  BROKER_PID=""
}

# start_broker KEY=VALUE...: each pair becomes --set KEY=VALUE.
start_broker() {
  local sets=() kv candidate attempt port=""
  for kv in "$@"; do sets+=(--set "$kv"); done
  for attempt in $(seq 10); do
    candidate=$((20000 + RANDOM % 40000))
    rm -rf "$WORK/data"
    # No HTTP listener: its default port is one per machine.
    local listen=(--listen "127.0.0.1:$candidate")
    if [ "${SASL_LISTENER:-0}" = 1 ]; then
      listen=(--set "listeners=PLAINTEXT://127.0.0.1:$candidate,SASL_PLAINTEXT://127.0.0.1:$((candidate + 1))"
        --set sasl.enabled.mechanisms=SCRAM-SHA-256,OAUTHBEARER
        --set 'listener.name.sasl_plaintext.oauthbearer.sasl.jaas.config=org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required unsecuredLoginStringClaim_sub="admin";')
    fi
    "$VLTAVA_BIN" server "${listen[@]}" --data-dir "$WORK/data" \
      --set http.listeners= "${sets[@]}" >"$WORK/broker.log" 2>&1 &
    BROKER_PID=$!
    for _ in $(seq 200); do
      if grep -qs "broker started" "$WORK/broker.log"; then port=$candidate; break; fi
      kill -0 "$BROKER_PID" 2>/dev/null || break
      sleep 0.1
    done
    [ -n "$port" ] && break
    log "broker did not start on port $candidate (attempt $attempt): $(tail -1 "$WORK/broker.log")"
    stop_broker
  done
  [ -n "$port" ] || { log "FATAL: could not start the broker"; exit 2; }
  BROKERS="127.0.0.1:$port"
  if [ "${SASL_LISTENER:-0}" = 1 ]; then SASL_BROKERS="127.0.0.1:$((port + 1))"; fi
  log "broker pid $BROKER_PID at $BROKERS ($VLTAVA_BIN), log $WORK/broker.log"
}
