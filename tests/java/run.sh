#!/usr/bin/env bash
# The Apache Kafka Java client against Vltava: the JUnit 5 tests of this
# Maven project (one fresh `vltava server` per test class, see
# VltavaExtension.java), once per client version.
#
#   tests/java/run.sh [maven args...]      e.g. -Dtest=ConsumerGroupTest
#
# KAFKA_CLIENT_VERSIONS: the kafka-clients versions to run with (default
# "4.4.0 3.9.1"). VLTAVA_BIN names the broker binary (default
# target/debug/vltava, built if missing); VLTAVA_KEEP_LOGS=DIR keeps each
# broker's log. Needs Java 17+ and Maven; the artifacts come from Maven
# Central into ~/.m2 on the first run. Exits non-zero when any test fails.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
export VLTAVA_BIN="${VLTAVA_BIN:-$repo/target/debug/vltava}"
case "$VLTAVA_BIN" in /*) ;; *) VLTAVA_BIN="$PWD/$VLTAVA_BIN" ;; esac # Maven runs in tests/java
versions="${KAFKA_CLIENT_VERSIONS:-4.4.0 3.9.1}"

loud() {
  printf '\n!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n' >&2
  printf '!!! %s\n' "$@" >&2
  printf '!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n\n' >&2
  exit 1
}
command -v java >/dev/null || loud "java is not installed: the Java client tests need a JDK 17+."
command -v mvn >/dev/null || loud "mvn is not installed: the Java client tests need Maven."
java_major="$(java -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java.specification.version = //p')"
[ "${java_major%%.*}" -ge 17 ] 2>/dev/null || loud "java is version ${java_major:-unknown}: the Java client tests need 17 or newer."

if [ ! -x "$VLTAVA_BIN" ]; then
  echo "==> cargo build -p vltava"
  (cd "$repo" && cargo build -p vltava)
fi

# Counts from the Surefire reports of one run: "tests failures errors skipped".
counts() {
  local t=0 f=0 e=0 s=0 line
  for report in "$1"/TEST-*.xml; do
    [ -e "$report" ] || continue
    line="$(grep -m1 '<testsuite ' "$report")"
    t=$((t + $(sed -n 's/.* tests="\([0-9]*\)".*/\1/p' <<<"$line")))
    f=$((f + $(sed -n 's/.* failures="\([0-9]*\)".*/\1/p' <<<"$line")))
    e=$((e + $(sed -n 's/.* errors="\([0-9]*\)".*/\1/p' <<<"$line")))
    s=$((s + $(sed -n 's/.* skipped="\([0-9]*\)".*/\1/p' <<<"$line")))
  done
  echo "$t $f $e $s"
}

cd "$here"
status=0
total_pass=0 total_fail=0 total_skip=0
for v in $versions; do
  echo "==> kafka-clients $v (broker: $VLTAVA_BIN)"
  reports="target/kafka-$v/surefire-reports"
  rm -rf "$reports"
  start=$(date +%s)
  if ! mvn -q -B test -Dkafka.version="$v" "$@"; then
    status=1
  fi
  read -r t f e s <<<"$(counts "$reports")"
  pass=$((t - f - e - s))
  echo "    kafka-clients $v: $pass passed, $((f + e)) failed, $s skipped in $(( $(date +%s) - start )) s"
  total_pass=$((total_pass + pass)) total_fail=$((total_fail + f + e)) total_skip=$((total_skip + s))
  if [ "$t" -eq 0 ]; then
    echo "!!! kafka-clients $v ran no test" >&2
    status=1
  fi
done
echo "java: $total_pass passed, $total_fail failed, $total_skip skipped"
exit $status
