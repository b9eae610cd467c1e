#!/usr/bin/env bash
# The `vltava topics` stand-in for kafka-topics.sh (tests/external/kafka-bin),
# so that KAFKA_PATH=tests/external/librdkafka-security offers both tools.
here="$(cd "$(dirname "$0")" && pwd)"
exec "$here/../../kafka-bin/bin/kafka-topics.sh" "$@"
