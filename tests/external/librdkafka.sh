#!/usr/bin/env bash
# librdkafka's own integration tests against a fresh single-node vltava.
#
#   tests/external/librdkafka.sh            # the required tests (issue 3), then
#                                           # the consumer and group tests (issue 4)
#                                           # and the transactional ones
#   tests/external/librdkafka.sh 0017 0052  # these tests instead
#   tests/external/librdkafka.sh extended   # required + the other tests that
#                                           # pass and take < 25 s (~6 min)
#   tests/external/librdkafka.sh security   # the SSL, SASL and ACL tests, each
#                                           # with the client settings trivup
#                                           # would give it (see below)
#   tests/external/librdkafka.sh security 0135 0097:ssl   # some of them
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
# Security mode (`security [TEST[:VARIANT]...]`) sets up what librdkafka's
# trivup would: a cluster of LIBRDKAFKA_NODES (default 3 here: 0142 creates a
# topic with replication factor 3) combined nodes, each with PLAINTEXT, SSL,
# SASL_PLAINTEXT and SASL_SSL listeners; `vltava dev-certs` for the CA and the
# broker and client certificates (plus, with openssl, the DER, PKCS#12 and
# second-CA files and the SSL_* variables 0097 reads); TLS 1.2 and
# ssl.client.auth=LIBRDKAFKA_SSL_CLIENT_AUTH (default required, as trivup's
# ssl_client_auth; requested is its other setting, which 0097 knows too);
# PLAIN, SCRAM-SHA-256/512 (users set with `vltava users scram set`) and
# OAUTHBEARER (unsecured tokens); StandardAuthorizer with trivup's
# super.users=User:admin and allow.everyone.if.no.acl.found=true;
# connections.max.reauth.ms=LIBRDKAFKA_REAUTH_MS (default 10000, as trivup).
# Each run is TEST:VARIANT, the variant naming the test.conf it gets
# (SECURITY_RUNS and write_security_conf below); a bare TEST runs all its
# variants. Tests that call kafka-acls.sh get Apache Kafka's own AclCommand
# (tests/external/librdkafka-security/bin; needs Java 17+ and
# `tests/reference/kafka/kafka.sh prepare`). The nodes' logs are
# broker-N.log. About 6 minutes; 0097 fails (docs/compatibility.md).
#
# Results and the reasons for the tests not run here: docs/compatibility.md.
set -euo pipefail

REPO="$(cd "$(dirname "$0")/../.." && pwd)"
MODE=plain
if [ "$#" -ge 1 ] && [ "$1" = security ]; then MODE=security; shift; fi
CACHE="${VLTAVA_CACHE:-$HOME/.cache/vltava}"
RDKAFKA_SYS_VERSION="${RDKAFKA_SYS_VERSION:-4.10.0}"
TEST_TIMEOUT="${LIBRDKAFKA_TEST_TIMEOUT:-120}"
SCENARIO="${LIBRDKAFKA_SCENARIO:-default}"
NODES="${LIBRDKAFKA_NODES:-1}"
if [ "$MODE" = security ]; then NODES="${LIBRDKAFKA_NODES:-3}"; fi
REAUTH_MS="${LIBRDKAFKA_REAUTH_MS:-10000}"
SSL_CLIENT_AUTH="${LIBRDKAFKA_SSL_CLIENT_AUTH:-required}"
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
# Security mode: TEST:VARIANT, the variant naming the client settings
# (write_security_conf below). The order keeps the long 0142 runs last.
SECURITY_RUNS=(0097:ssl 0097:sasl_ssl 0135:plain 0135:scram256 0135:sasl_ssl_scram512
  0115:plaintext 0119:plaintext 0109:plaintext 0142:plain 0142:scram512 0142:oauthbearer)
if [ "$MODE" = security ]; then
  TESTS_TO_RUN=()
  for run in "${SECURITY_RUNS[@]}"; do
    if [ "$#" -eq 0 ]; then TESTS_TO_RUN+=("$run"); continue; fi
    for want in "$@"; do
      if [ "$want" = "$run" ] || [ "$want" = "${run%%:*}" ]; then TESTS_TO_RUN+=("$run"); fi
    done
  done
  for want in "$@"; do
    case "$want" in *:*) ;; *) continue ;; esac
    printf '%s\n' "${TESTS_TO_RUN[@]}" | grep -qxF "$want" || TESTS_TO_RUN+=("$want")
  done
  [ "${#TESTS_TO_RUN[@]}" -gt 0 ] || { echo "no security runs match: $* (known: ${SECURITY_RUNS[*]}; or name TEST:VARIANT)" >&2; exit 2; }
elif [ "$#" -eq 1 ] && [ "$1" = extended ]; then
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
if [ "$#" -eq 0 ] && [ "$MODE" = plain ]; then TESTS_TO_RUN+=("${GROUP_TESTS[@]}" "${TXN_TESTS[@]}"); fi

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
# Security mode runs its nodes itself: their pids, space-separated.
NODE_PIDS=""
stop_broker() {
  local pid
  for pid in $BROKER_PID $NODE_PIDS; do
    if kill -0 "$pid" 2>/dev/null; then kill -TERM "$pid" 2>/dev/null || true; fi
  done
  for pid in $BROKER_PID $NODE_PIDS; do
    for _ in $(seq 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  BROKER_PID=""
  NODE_PIDS=""
}
# Whether the broker (every node, in security mode) is still running.
broker_alive() {
  local pid
  for pid in $BROKER_PID $NODE_PIDS; do kill -0 "$pid" 2>/dev/null || return 1; done
}
cleanup() {
  stop_broker
  rm -rf "$WORK/data"
  [ -n "${LIBRDKAFKA_LOGS:-}" ] || [ "${KEEP_WORK:-0}" = 1 ] || rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

BROKERS=""
# The protocols' bootstrap lists in security mode.
declare -A BOOTSTRAP=()
CERTS="$WORK/certs"
KEY_PASSWORD=12345678
if [ "$MODE" = security ]; then
  # Certificates: vltava's development CA, broker and client certificate,
  # then the other forms of the client's that trivup writes (SslApp), which
  # 0097 loads with ssl.*.pem and set_ssl_cert(): the certificate with the
  # CA appended, DER, PKCS#12 and a second, unused CA first in all_cas.pem.
  command -v openssl >/dev/null || { log "security mode needs openssl"; exit 2; }
  "$VLTAVA_BIN" dev-certs --dir "$CERTS" >/dev/null
  (
    cd "$CERTS"
    cat client-cert.pem ca.pem >client-pub.pem
    cp client-key.pem client-priv.pem
    openssl x509 -outform der -in client-cert.pem -out client-pub.der
    openssl pkey -outform der -in client-key.pem -out client-priv.der
    openssl x509 -outform der -in ca.pem -out ca.der
    openssl pkcs12 -export -out client.pfx -inkey client-key.pem -in client-pub.pem \
      -passout "pass:$KEY_PASSWORD"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 \
      -subj "/CN=Unused test CA" -keyout unused-ca-key.pem -out unused-ca.pem
    openssl x509 -outform der -in unused-ca.pem -out unused-ca.der
    cat unused-ca.pem ca.pem >all_cas.pem
  ) >"$LOGS/certs.log" 2>&1 || { log "could not write the certificates: $(tail -3 "$LOGS/certs.log")"; exit 2; }
  # Four listeners a node, on ports bound together (so distinct) and
  # released just before the nodes bind them.
  read -ra PORTS <<<"$(python3 -c '
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
' "$((NODES * 4))")"
  PROTOCOLS=(PLAINTEXT SSL SASL_PLAINTEXT SASL_SSL)
  voters=()
  for n in $(seq "$NODES"); do voters+=("$n@127.0.0.1:${PORTS[$(((n - 1) * 4))]}"); done
  CLUSTER_ID="$(python3 -c 'import base64,uuid; print(base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("="))')"
  plain_jaas='org.apache.kafka.common.security.plain.PlainLoginModule required username="admin" password="admin" user_admin="admin" user_testuser="testpass";'
  oauth_jaas='org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required unsecuredLoginStringClaim_sub="admin";'
  for n in $(seq "$NODES"); do
    listeners=()
    for i in 0 1 2 3; do
      proto="${PROTOCOLS[$i]}"
      p="${PORTS[$(((n - 1) * 4 + i))]}"
      listeners+=("$proto://127.0.0.1:$p")
      BOOTSTRAP[$proto]="${BOOTSTRAP[$proto]:+${BOOTSTRAP[$proto]},}127.0.0.1:$p"
    done
    {
      echo "# librdkafka.sh security: node $n, set up as trivup sets up Kafka for librdkafka's tests"
      echo "node.id=$n"
      echo "process.roles=broker,controller"
      echo "listeners=$(IFS=,; echo "${listeners[*]}")"
      echo "controller.quorum.voters=$(IFS=,; echo "${voters[*]}")"
      echo "http.listeners="
      echo "num.partitions=4"
      if [ "$SCENARIO" = noautocreate ]; then echo "auto.create.topics.enable=false"; fi
      echo "ssl.keystore.type=PEM"
      echo "ssl.keystore.location=$CERTS/broker.pem"
      echo "ssl.truststore.type=PEM"
      echo "ssl.truststore.location=$CERTS/ca.pem"
      echo "ssl.client.auth=$SSL_CLIENT_AUTH"
      # trivup's brokers offer TLS 1.2 (and older, which vltava does not):
      # a client certificate the broker refuses then fails the handshake
      # itself, which 0097 expects, rather than the first read after it.
      echo "ssl.enabled.protocols=TLSv1.2"
      echo "sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512,OAUTHBEARER"
      for l in sasl_plaintext sasl_ssl; do
        echo "listener.name.$l.plain.sasl.jaas.config=$plain_jaas"
        echo "listener.name.$l.oauthbearer.sasl.jaas.config=$oauth_jaas"
      done
      echo "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer"
      echo "super.users=User:admin"
      echo "allow.everyone.if.no.acl.found=true"
      echo "connections.max.reauth.ms=$REAUTH_MS"
      for kv in ${LIBRDKAFKA_SET:-}; do echo "$kv"; done
    } >"$WORK/node-$n.properties"
    "$VLTAVA_BIN" storage format --cluster-id "$CLUSTER_ID" --config "$WORK/node-$n.properties" \
      --data-dir "$WORK/data/node-$n" >"$LOGS/format-$n.log" 2>&1 ||
      { log "formatting node $n failed: $(tail -3 "$LOGS/format-$n.log")"; exit 2; }
  done
  for n in $(seq "$NODES"); do
    "$VLTAVA_BIN" server --config "$WORK/node-$n.properties" --data-dir "$WORK/data/node-$n" \
      >"$LOGS/broker-$n.log" 2>&1 &
    NODE_PIDS="$NODE_PIDS $!"
  done
  BROKERS="${BOOTSTRAP[PLAINTEXT]}"
  # Ready when every node lists all N brokers.
  ready=0
  for _ in $(seq 300); do
    broker_alive || break
    ready=1
    for b in ${BROKERS//,/ }; do
      c="$("$VLTAVA_BIN" cluster --bootstrap "$b" --output json 2>/dev/null |
        python3 -c 'import json,sys; print(len(json.load(sys.stdin)["brokers"]))' 2>/dev/null || echo 0)"
      [ "$c" = "$NODES" ] || ready=0
    done
    [ "$ready" = 1 ] && break
    sleep 0.2
  done
  [ "$ready" = 1 ] || { log "the nodes did not start: $(tail -q -n 3 "$LOGS"/broker-*.log)"; exit 2; }
  # SCRAM credentials for the SASL user and admin, as trivup sets them with
  # kafka-configs.sh --add-config 'SCRAM-SHA-n=[iterations=4096,password=...]'.
  for mech in SCRAM-SHA-256 SCRAM-SHA-512; do
    for up in testuser=testpass admin=admin; do
      "$VLTAVA_BIN" users scram set --bootstrap "$BROKERS" --user "${up%%=*}" --password "${up#*=}" \
        --mechanism "$mech" >>"$LOGS/scram.log" 2>&1 ||
        { log "could not set SCRAM credentials: $(tail -3 "$LOGS/scram.log")"; exit 2; }
    done
  done
  PORT="${BROKERS%%,*}"
  PORT="${PORT##*:}"
  log "$NODES node(s) (pids$NODE_PIDS): PLAINTEXT ${BOOTSTRAP[PLAINTEXT]}, SSL ${BOOTSTRAP[SSL]}, SASL_PLAINTEXT ${BOOTSTRAP[SASL_PLAINTEXT]}, SASL_SSL ${BOOTSTRAP[SASL_SSL]}; logs in $LOGS"
elif [ "$NODES" -gt 1 ]; then
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
# Security mode: the test.conf of a variant, written as trivup's
# LibrdkafkaTestApp writes it for that cluster (plaintext, ssl, or
# [sasl_ssl_]plain|scram256|scram512|oauthbearer, SASL_PLAINTEXT unless
# sasl_ssl_; sasl_ssl alone is sasl_ssl_plain); prints its path.
write_security_conf() {
  local v="$1" f="$WORK/test-$1.conf" proto=SASL_PLAINTEXT mech
  case "$v" in
    plaintext) proto=PLAINTEXT mech="" ;;
    ssl) proto=SSL mech="" ;;
    sasl_ssl) proto=SASL_SSL mech=plain ;;
    sasl_ssl_*) proto=SASL_SSL mech="${v#sasl_ssl_}" ;;
    *) mech="$v" ;;
  esac
  case "$mech" in
    "") ;;
    plain) mech=PLAIN ;;
    scram256) mech=SCRAM-SHA-256 ;;
    scram512) mech=SCRAM-SHA-512 ;;
    oauthbearer) mech=OAUTHBEARER ;;
    *) log "unknown variant $v: plaintext, ssl, [sasl_ssl_]plain|scram256|scram512|oauthbearer"; return 1 ;;
  esac
  {
    echo "broker.address.family=v4"
    # trivup's too: the tests' own time limits doubled (0119 spends ~4 s in
    # kafka-acls.sh's JVM before its 15 s of consuming, under a 20 s limit).
    echo "test.timeout.multiplier=2"
    echo "bootstrap.servers=${BOOTSTRAP[$proto]}"
    echo "security.protocol=$proto"
    if [ -n "$mech" ]; then echo "sasl.mechanisms=$mech"; fi
    case "$mech" in
      PLAIN | SCRAM-*) printf 'sasl.username=testuser\nsasl.password=testpass\n' ;;
      OAUTHBEARER) printf 'enable.sasl.oauthbearer.unsecure.jwt=true\nsasl.oauthbearer.config=scope=requiredScope principal=admin\n' ;;
    esac
    case "$proto" in
      *SSL)
        echo "ssl.ca.location=$CERTS/ca.pem"
        echo "ssl.certificate.location=$CERTS/client-pub.pem"
        echo "ssl.key.location=$CERTS/client-priv.pem"
        echo "ssl.key.password=$KEY_PASSWORD"
        ;;
    esac
  } >"$f"
  echo "$f"
}
if [ "$MODE" = security ]; then
  # Tests that run kafka-acls.sh get Apache Kafka's own (and kafka-topics.sh
  # the stand-in above).
  KAFKA_PATH="$REPO/tests/external/librdkafka-security"
  # The files trivup names in SSL_* for the tests (0097).
  export SSL_pkcs="$CERTS/client.pfx" SSL_pub_der="$CERTS/client-pub.der" \
    SSL_pub_pem="$CERTS/client-pub.pem" SSL_priv_der="$CERTS/client-priv.der" \
    SSL_priv_pem="$CERTS/client-priv.pem" SSL_ca_der="$CERTS/ca.der" SSL_ca_pem="$CERTS/ca.pem" \
    SSL_ca_key="$CERTS/ca-key.pem" SSL_unused_ca_pem="$CERTS/unused-ca.pem" \
    SSL_unused_ca_der="$CERTS/unused-ca.der" SSL_all_cas_pem="$CERTS/all_cas.pem" \
    SSL_password="$KEY_PASSWORD" SSL_client_auth="$SSL_CLIENT_AUTH"
fi
log "librdkafka $LIBRDKAFKA_VERSION ($FULL_VERSION), scenario $SCENARIO, TEST_KAFKA_VERSION $KAFKA_VERSION, tests: ${TESTS_TO_RUN[*]}"
passed=0
failed=0
failed_tests=()
for i in "${!TESTS_TO_RUN[@]}"; do
  t="${TESTS_TO_RUN[$i]}"
  started=$SECONDS
  # In security mode t is TEST:VARIANT.
  tnum="${t%%:*}"
  conf="$WORK/test.conf"
  log_file="$LOGS/$t.log"
  run_timeout="$TEST_TIMEOUT"
  if [ "$MODE" = security ]; then
    log_file="$LOGS/${t/:/-}.log"
    if ! conf="$(write_security_conf "${t#*:}")"; then
      echo "FAIL $t (unknown variant)"
      failed=$((failed + 1))
      failed_tests+=("$t")
      continue
    fi
    # 0142 runs 7 parts of a little over one re-authentication interval
    # each, under a limit of its own (9 intervals + 30 s, doubled).
    if [ "$tnum" = 0142 ] && [ "$run_timeout" -lt $((2 * (9 * REAUTH_MS / 1000 + 30) + 10)) ]; then
      run_timeout=$((2 * (9 * REAUTH_MS / 1000 + 30) + 10))
    fi
  fi
  set +e
  # The braces keep bash's "Aborted" notice for a test-runner that died on
  # an assertion out of our output (the log has the details).
  { (
    cd "$BUILD/tests" &&
      LD_LIBRARY_PATH="$BUILD/src:$BUILD/src-cpp" RDKAFKA_TEST_CONF="$conf" \
        TEST_KAFKA_VERSION="$KAFKA_VERSION" TESTS="$tnum" KAFKA_PATH="$KAFKA_PATH" BROKERS="$BROKERS" \
        VLTAVA_BIN="$VLTAVA_BIN" timeout -k 10 "$run_timeout" ./test-runner "${RUNNER_FLAGS[@]}"
  ) >"$log_file" 2>&1 </dev/null; } 2>/dev/null
  rc=$?
  set -e
  # The summary table: "| 0012_produce_consume | PASSED | 1.6s |".
  summary="$(sed 's/\x1b\[[0-9;]*m//g' "$log_file" | grep -aE "^\| ${tnum}_" || true)"
  elapsed=$((SECONDS - started))
  if [ "$rc" = 0 ] && grep -qE '\| +PASSED +\|' <<<"$summary" && ! grep -qE '\| +FAILED +\|' <<<"$summary"; then
    echo "PASS $t ($(grep -E '\| +PASSED +\|' <<<"$summary" | awk -F'|' '{gsub(/ /,"",$2); printf "%s ", $2}')${elapsed}s)"
    passed=$((passed + 1))
  else
    why="exit $rc"
    # 124: timeout(1) stopped it; 137 after the limit: killed by timeout -k.
    # (test-runner kills itself with SIGKILL on its own per-test timeouts.)
    if [ "$rc" = 124 ] || { [ "$rc" = 137 ] && [ "$elapsed" -ge "$run_timeout" ]; }; then
      why="timed out after ${run_timeout}s"
    fi
    [ -n "$summary" ] || why="$why, no summary"
    # A test that skipped itself did not pass: say so, and why.
    if grep -qE '\| +SKIPPED +\|' <<<"$summary"; then
      why="$why, skipped by librdkafka: $(sed 's/\x1b\[[0-9;]*m//g' "$log_file" | grep -a -m1 -oE 'SKIPPING TEST: .*' | head -1 || echo 'see log')"
    fi
    echo "FAIL $t ($why, ${elapsed}s; log: $log_file)"
    sed 's/\x1b\[[0-9;]*m//g' "$log_file" | grep -a -A3 "TEST FAILURE" | head -12 | sed 's/^/    /' || true
    failed=$((failed + 1))
    failed_tests+=("$t")
  fi
  if ! broker_alive; then
    log "the broker died during $t; its log: $(ls "$LOGS"/broker*.log | tr '\n' ' ')"
    tail -q -n 20 "$LOGS"/broker*.log >&2
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
if grep -qaE "cannot encode|panicked" "$LOGS"/broker*.log; then
  log "the broker logged encode errors or panics:"
  grep -aE "cannot encode|panicked" "$LOGS"/broker*.log | head -5 >&2
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
