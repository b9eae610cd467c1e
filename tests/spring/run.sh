#!/usr/bin/env bash
# Spring Kafka as Spring Boot users write it, against Vltava (issue 11,
# item 6): the JUnit tests of this Maven project against one fresh
# `vltava server` per run started by the tests (see TestBroker.java), or
# against a broker already running; once per Spring Boot generation:
#   3  pom.xml:       Spring Boot 3.5.7, Spring Kafka 3.3.10, kafka-clients 3.9.1
#   4  pom-boot4.xml: Spring Boot 4.0.7, Spring Kafka 4.0.6, kafka-clients 4.1.2
#
#   tests/spring/run.sh [--bootstrap HOST:PORT] [maven args...]
#       --bootstrap   run against that broker (e.g. Apache Kafka from
#                     tests/reference/kafka/kafka.sh start) instead of Vltava
#       maven args    e.g. -Dtest=AckModeTest
#
# SPRING_BOOTS: the generations to run (default "3 4"). VLTAVA_BIN names the broker binary (default target/debug/vltava, built if
# missing); VLTAVA_KEEP_LOGS=DIR keeps the broker's log. Needs Java 17+ and
# Maven (never skipped: fails when they are missing); the artifacts come from
# Maven Central into ~/.m2 on the first run. Exits non-zero when any test
# fails or none ran. What each test checks: docs/compatibility.md,
# "Spring Kafka (issue 11)".
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
export VLTAVA_BIN="${VLTAVA_BIN:-$repo/target/debug/vltava}"
case "$VLTAVA_BIN" in /*) ;; *) VLTAVA_BIN="$PWD/$VLTAVA_BIN" ;; esac # Maven runs in tests/spring

loud() {
  printf '\n!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n' >&2
  printf '!!! %s\n' "$@" >&2
  printf '!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n\n' >&2
  exit 1
}

bootstrap=""
args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --bootstrap) [ $# -ge 2 ] || loud "--bootstrap needs HOST:PORT"; bootstrap="$2"; shift 2 ;;
    --bootstrap=*) bootstrap="${1#--bootstrap=}"; shift ;;
    *) args+=("$1"); shift ;;
  esac
done

command -v java >/dev/null || loud "java is not installed: the Spring Kafka tests need a JDK 17+."
command -v mvn >/dev/null || loud "mvn is not installed: the Spring Kafka tests need Maven."
java_major="$(java -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java.specification.version = //p')"
[ "${java_major%%.*}" -ge 17 ] 2>/dev/null || loud "java is version ${java_major:-unknown}: the Spring Kafka tests need 17 or newer."

if [ -z "$bootstrap" ] && [ ! -x "$VLTAVA_BIN" ]; then
  echo "==> cargo build -p vltava"
  (cd "$repo" && cargo build -p vltava)
fi

cd "$here"
if [ -n "$bootstrap" ]; then
  echo "==> broker: $bootstrap"
else
  echo "==> broker: $VLTAVA_BIN"
fi
status=0
total_pass=0 total_fail=0 total_skip=0
for boot in ${SPRING_BOOTS:-3 4}; do
  case "$boot" in
    3) pom=pom.xml reports=target/surefire-reports ;;
    4) pom=pom-boot4.xml reports=target/boot4/surefire-reports ;;
    *) loud "SPRING_BOOTS: unknown Spring Boot generation '$boot' (3 or 4)" ;;
  esac
  echo "==> Spring Boot $boot ($pom)"
  rm -rf "$reports"
  start=$(date +%s)
  # Small heaps: Maven and the test JVM (see the pom's argLine) share the machine.
  MAVEN_OPTS="${MAVEN_OPTS:--Xmx256m -XX:TieredStopAtLevel=1}" \
    mvn -q -B -f "$pom" test -Dvltava.bootstrap="$bootstrap" ${args[@]+"${args[@]}"} || status=1
  t=0 f=0 e=0 s=0
  for report in "$reports"/TEST-*.xml; do
    [ -e "$report" ] || continue
    line="$(grep -m1 '<testsuite ' "$report")"
    t=$((t + $(sed -n 's/.* tests="\([0-9]*\)".*/\1/p' <<<"$line")))
    f=$((f + $(sed -n 's/.* failures="\([0-9]*\)".*/\1/p' <<<"$line")))
    e=$((e + $(sed -n 's/.* errors="\([0-9]*\)".*/\1/p' <<<"$line")))
    s=$((s + $(sed -n 's/.* skipped="\([0-9]*\)".*/\1/p' <<<"$line")))
  done
  echo "    Spring Boot $boot: $((t - f - e - s)) passed, $((f + e)) failed, $s skipped in $(( $(date +%s) - start )) s"
  if [ "$t" -eq 0 ]; then
    echo "!!! Spring Boot $boot: the Spring Kafka tests ran no test" >&2
    status=1
  fi
  total_pass=$((total_pass + t - f - e - s)) total_fail=$((total_fail + f + e)) total_skip=$((total_skip + s))
done
echo "spring: $total_pass passed, $total_fail failed, $total_skip skipped"
exit $status
