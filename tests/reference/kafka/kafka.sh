#!/usr/bin/env bash
# Apache Kafka itself, from Maven Central, as a test fixture: the reference
# the differential tests (crates/vltava-difftest) and the Kafka-tool checks
# compare Vltava against. The version is pom.xml's kafka.version.
#
#   kafka.sh classpath          print the classpath of Kafka's jars (fetched
#                               by Maven into ~/.m2 the first time)
#   kafka.sh prepare            make sure Java 17+ and Maven are there
#                               (apt-get installs them when missing and this
#                               runs as root; otherwise it fails, loudly)
#                               and fetch Kafka's jars
#   kafka.sh version            print the Kafka version the pom names
#   kafka.sh start [-n N] [DIR] start N combined broker+controller nodes in
#                               KRaft mode (default 1) with their data in DIR
#                               (default: a new temporary directory); waits
#                               until every node says it started, then prints
#                               KAFKA_BOOTSTRAP=host:port,... and KAFKA_DIR=DIR
#   kafka.sh stop DIR           stop the nodes started in DIR and delete it
#                               (kept when KAFKA_KEEP=1)
#   kafka.sh run CLASS ARGS...  run a class from Kafka's jars, e.g.
#                               org.apache.kafka.tools.TopicCommand
#                               --bootstrap-server ... --list
#   kafka.sh topics|configs|consumer-groups|console-producer|
#            console-consumer|get-offsets|transactions|metadata-quorum ARGS
#                               the same, by the name of Kafka's script
#
# Environment: KAFKA_HEAP_OPTS (default -Xms256m -Xmx512m: this runs beside
# cargo on small machines), KAFKA_JVM_OPTS (added after the defaults),
# KAFKA_START_TIMEOUT (seconds, default 120), VLTAVA_CACHE (where the
# resolved classpath is remembered, default ~/.cache/vltava).
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
pom="$here/pom.xml"
cache="${VLTAVA_CACHE:-$HOME/.cache/vltava}/kafka-ref"

die() { printf 'kafka.sh: %s\n' "$*" >&2; exit 1; }

need() {
  command -v "$1" >/dev/null 2>&1 || die "$1 is not installed: $2"
}

kafka_version() {
  sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$pom"
}

# The classpath is resolved by Maven once per pom content and remembered:
# starting a JVM for Maven costs seconds, and every tool run needs the path.
classpath() {
  need java "the Kafka fixture needs Java 17 or later"
  local sum file
  sum="$(sha256sum "$pom" | cut -c1-16)"
  file="$cache/classpath-$sum"
  if [ -s "$file" ]; then
    local ok=1 jar
    # No newline ends the file, so read reports EOF: not an error.
    IFS=: read -ra jars <"$file" || true
    for jar in "${jars[@]}"; do [ -f "$jar" ] || { ok=0; break; }; done
    if [ $ok = 1 ]; then cat "$file"; return; fi
  fi
  need mvn "the Kafka fixture fetches Apache Kafka $(kafka_version) with Maven"
  mkdir -p "$cache"
  # Maven's progress goes to stderr so that stdout is only the classpath.
  mvn -q -B -Dstyle.color=never -f "$pom" dependency:build-classpath -Dmdep.outputFile="$file.tmp" >&2 \
    || die "Maven could not resolve Apache Kafka $(kafka_version) (see above)"
  mv "$file.tmp" "$file"
  cat "$file"
}

# Java's major version, 0 when there is no java.
java_major() {
  command -v java >/dev/null 2>&1 || { echo 0; return; }
  java -XshowSettings:properties -version 2>&1 \
    | sed -n 's/^ *java.specification.version = \([0-9]*\).*/\1/p' | sed -n 1p
}

prepare() {
  local missing=()
  [ "$(java_major)" -ge 17 ] 2>/dev/null || missing+=(openjdk-17-jdk-headless)
  command -v mvn >/dev/null 2>&1 || missing+=(maven)
  command -v python3 >/dev/null 2>&1 || missing+=(python3)
  if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
      die "missing ${missing[*]} and cannot install them here (needs root and apt-get): install them"
    fi
    echo "kafka.sh: apt-get install ${missing[*]}" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
  local v
  v="$(java -version 2>&1)" && echo "${v%%$'\n'*}" >&2
  v="$(mvn -B -v 2>/dev/null | sed 's/\x1b\[[0-9;]*m//g')" && echo "${v%%$'\n'*}" >&2
  classpath >/dev/null
  echo "kafka.sh: Apache Kafka $(kafka_version) ready" >&2
}

free_ports() {
  # Bound together so that the kernel hands out distinct ports; released
  # just before Kafka binds them (a small race other tests here accept too).
  python3 - "$1" <<'EOF'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
EOF
}

java_opts() {
  # Kafka's own start scripts use G1 with 20 ms pauses; the heap is smaller
  # than their 1 GiB default because the machines this runs on are small.
  printf '%s ' ${KAFKA_HEAP_OPTS:--Xms256m -Xmx512m} \
    -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35 \
    -XX:+ExplicitGCInvokesConcurrent -Djava.awt.headless=true ${KAFKA_JVM_OPTS:-}
}

write_log4j() {
  cat >"$1" <<'EOF'
status = warn
appender.file.type = File
appender.file.name = file
appender.file.fileName = ${sys:kafka.logs.dir}/server.log
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = info
rootLogger.appenderRef.file.ref = file
EOF
}

start() {
  local nodes=1 dir=""
  while [ $# -gt 0 ]; do
    case "$1" in
      -n) nodes="$2"; shift 2 ;;
      -*) die "unknown option $1" ;;
      *) dir="$1"; shift ;;
    esac
  done
  [ "$nodes" -ge 1 ] 2>/dev/null || die "-n wants a node count"
  need python3 "the fixture picks free ports with it"
  local cp
  cp="$(classpath)"
  if [ -z "$dir" ]; then dir="$(mktemp -d -t vltava-kafka-ref.XXXXXX)"; fi
  mkdir -p "$dir"
  [ ! -e "$dir/nodes" ] || die "$dir already holds a Kafka fixture"

  local ports i voters="" bootstrap=""
  read -ra ports <<<"$(free_ports $((2 * nodes)))"
  for ((i = 1; i <= nodes; i++)); do
    voters+="${voters:+,}$i@127.0.0.1:${ports[2 * i - 1]}"
    bootstrap+="${bootstrap:+,}127.0.0.1:${ports[2 * i - 2]}"
  done
  # Internal topics as replicated as the cluster allows, as a production
  # cluster of that size would have them.
  local rf=$((nodes < 3 ? nodes : 3))
  local cluster_id
  cluster_id="$(java -cp "$cp" kafka.tools.StorageTool random-uuid 2>/dev/null | tail -n1)"
  [ -n "$cluster_id" ] || die "kafka.tools.StorageTool random-uuid gave no cluster id"

  write_log4j "$dir/log4j2.properties"
  for ((i = 1; i <= nodes; i++)); do
    local nd="$dir/node$i"
    mkdir -p "$nd/data"
    cat >"$nd/server.properties" <<EOF
process.roles=broker,controller
node.id=$i
controller.quorum.voters=$voters
listeners=PLAINTEXT://127.0.0.1:${ports[2 * i - 2]},CONTROLLER://127.0.0.1:${ports[2 * i - 1]}
advertised.listeners=PLAINTEXT://127.0.0.1:${ports[2 * i - 2]}
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$nd/data
num.partitions=1
default.replication.factor=1
offsets.topic.replication.factor=$rf
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=$rf
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=1
share.coordinator.state.topic.replication.factor=$rf
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
EOF
    # Kafka's own storage tool writes meta.properties and the bootstrap
    # metadata checkpoint, exactly as an operator's `kafka-storage format`.
    java -cp "$cp" kafka.tools.StorageTool format -t "$cluster_id" \
      -c "$nd/server.properties" >"$nd/format.log" 2>&1 \
      || { cat "$nd/format.log" >&2; die "formatting node $i failed"; }
  done

  echo "$nodes" >"$dir/nodes"
  echo "$bootstrap" >"$dir/bootstrap"
  echo "$cluster_id" >"$dir/cluster-id"
  for ((i = 1; i <= nodes; i++)); do
    local nd="$dir/node$i"
    # shellcheck disable=SC2046
    setsid java $(java_opts) -Dkafka.logs.dir="$nd" \
      -Dlog4j2.configurationFile="$dir/log4j2.properties" \
      -cp "$cp" kafka.Kafka "$nd/server.properties" \
      >"$nd/stdout.log" 2>&1 </dev/null &
    echo $! >"$nd/pid"
  done

  local deadline=$((SECONDS + ${KAFKA_START_TIMEOUT:-120}))
  for ((i = 1; i <= nodes; i++)); do
    local nd="$dir/node$i"
    until grep -q 'Kafka Server started' "$nd/server.log" 2>/dev/null; do
      if ! kill -0 "$(cat "$nd/pid")" 2>/dev/null; then
        tail -n 30 "$nd/stdout.log" "$nd/server.log" >&2 2>/dev/null || true
        stop "$dir" >/dev/null 2>&1 || true
        die "Kafka node $i exited while starting (logs above)"
      fi
      if [ $SECONDS -ge $deadline ]; then
        tail -n 30 "$nd/server.log" >&2 2>/dev/null || true
        stop "$dir" >/dev/null 2>&1 || true
        die "Kafka node $i did not start within ${KAFKA_START_TIMEOUT:-120}s"
      fi
      sleep 0.2
    done
  done
  echo "KAFKA_BOOTSTRAP=$bootstrap"
  echo "KAFKA_DIR=$dir"
}

stop() {
  local dir="${1:-}"
  [ -n "$dir" ] && [ -f "$dir/nodes" ] || die "stop wants the directory start printed"
  local nodes i pid
  nodes="$(cat "$dir/nodes")"
  for ((i = 1; i <= nodes; i++)); do
    pid="$(cat "$dir/node$i/pid" 2>/dev/null || true)"
    [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null || true
  done
  # A controlled shutdown takes a few seconds; past 30 the node is killed.
  for ((i = 1; i <= nodes; i++)); do
    pid="$(cat "$dir/node$i/pid" 2>/dev/null || true)"
    [ -n "$pid" ] || continue
    local waited=0
    while kill -0 "$pid" 2>/dev/null && [ $waited -lt 150 ]; do
      sleep 0.2; waited=$((waited + 1))
    done
    kill -KILL "$pid" 2>/dev/null || true
  done
  if [ "${KAFKA_KEEP:-0}" = 1 ]; then
    echo "kept $dir"
  else
    rm -rf "$dir"
  fi
}

run() {
  [ $# -ge 1 ] || die "run wants a class name"
  local cp cls="$1"
  shift
  cp="$(classpath)"
  exec java -Xmx512m -Dlog4j2.level=warn -cp "$cp" "$cls" "$@"
}

cmd="${1:-}"
[ $# -gt 0 ] && shift
case "$cmd" in
  classpath) classpath ;;
  prepare) prepare ;;
  version) kafka_version ;;
  start) start "$@" ;;
  stop) stop "$@" ;;
  run) run "$@" ;;
  topics) run org.apache.kafka.tools.TopicCommand "$@" ;;
  configs) run org.apache.kafka.tools.ConfigCommand "$@" ;;
  consumer-groups) run org.apache.kafka.tools.consumer.group.ConsumerGroupCommand "$@" ;;
  console-producer) run org.apache.kafka.tools.ConsoleProducer "$@" ;;
  console-consumer) run org.apache.kafka.tools.consumer.ConsoleConsumer "$@" ;;
  get-offsets) run org.apache.kafka.tools.GetOffsetShell "$@" ;;
  transactions) run org.apache.kafka.tools.TransactionsCommand "$@" ;;
  metadata-quorum) run org.apache.kafka.tools.MetadataQuorumCommand "$@" ;;
  *) sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac
