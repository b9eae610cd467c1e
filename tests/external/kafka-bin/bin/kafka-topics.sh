#!/usr/bin/env bash
# A stand-in for Kafka's bin/kafka-topics.sh, for librdkafka's tests that
# shell out to it (test_kafka_topics(): 0045, 0052, 0077). It takes the
# subset of kafka-topics.sh's options those tests use and performs them with
# `vltava topics` (the same admin requests kafka-topics.sh sends):
#   --bootstrap-server HOST:PORT
#   --create --topic T [--partitions N] [--replication-factor R] [--config K=V]...
#   --alter --topic T --partitions N
#   --delete --topic T
# librdkafka.sh points KAFKA_PATH at the directory above this one and
# exports VLTAVA_BIN.
set -euo pipefail
vltava="${VLTAVA_BIN:?VLTAVA_BIN must name the vltava binary}"
bootstrap="" action="" topic="" partitions="" rf=""
configs=()
while [ "$#" -gt 0 ]; do
  case "$1" in
    --bootstrap-server) bootstrap="$2"; shift 2 ;;
    --create | --alter | --delete) action="${1#--}"; shift ;;
    --topic) topic="$2"; shift 2 ;;
    --partitions) partitions="$2"; shift 2 ;;
    --replication-factor) rf="$2"; shift 2 ;;
    --config) configs+=(--config "$2"); shift 2 ;;
    *) echo "kafka-topics.sh (vltava stand-in): unsupported option $1" >&2; exit 2 ;;
  esac
done
[ -n "$bootstrap" ] && [ -n "$topic" ] && [ -n "$action" ] ||
  { echo "kafka-topics.sh (vltava stand-in): need --bootstrap-server, --topic and an action" >&2; exit 2; }
case "$action" in
  create)
    args=(topics create --bootstrap "$bootstrap")
    [ -z "$partitions" ] || args+=(--partitions "$partitions")
    [ -z "$rf" ] || args+=(--replication-factor "$rf")
    exec "$vltava" "${args[@]}" "${configs[@]}" "$topic" ;;
  alter)
    [ -n "$partitions" ] || { echo "kafka-topics.sh (vltava stand-in): --alter needs --partitions" >&2; exit 2; }
    exec "$vltava" topics add-partitions --bootstrap "$bootstrap" --total "$partitions" "$topic" ;;
  delete)
    exec "$vltava" topics delete --bootstrap "$bootstrap" "$topic" ;;
esac
