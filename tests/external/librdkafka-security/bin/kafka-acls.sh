#!/usr/bin/env bash
# Kafka's bin/kafka-acls.sh, for librdkafka's tests that shell out to it
# (test_kafka_cmd(): 0109, 0115, 0119): Apache Kafka's own AclCommand, from
# the jars tests/reference/kafka/kafka.sh fetches (Java 17+; run
# `tests/reference/kafka/kafka.sh prepare` once). `librdkafka.sh security`
# points KAFKA_PATH at the directory above this one.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
exec "$here/../../../reference/kafka/kafka.sh" run org.apache.kafka.tools.AclCommand "$@"
