#!/usr/bin/env bash
# RabbitMQ sink throughput through built binaries (BENCHMARKS.md, "RabbitMQ sink: pipelined
# confirms"): each binary BIN is `eventflux build benches/connectors/rabbitmq_sink.eventflux`
# (release) of some version of the runtime; they run alternately, RUNS times each, every run
# publishing EVENTS events from a file into a fresh durable queue (persistent messages,
# publisher confirms, a checkpoint every second). Prints events/s per run (binary start to
# its exit: it exits once every message is confirmed) and the median per binary.
#
#   AMQP_URL=amqp://guest:guest@127.0.0.1:5672/%2f RABBITMQ_API=127.0.0.1:15672 \
#       chrt -f 10 bash benches/connectors/rabbitmq_sink.sh BIN...
# (under /work/notes/s8/with-servers.sh: AMQP_URL=$EVENTFLUX_TEST_RABBITMQ
#  RABBITMQ_API=$EVENTFLUX_TEST_RABBITMQ_API)
set -euo pipefail
: "${AMQP_URL:?set AMQP_URL}" "${RABBITMQ_API:?set RABBITMQ_API (host:port of the management API)}"
EVENTS=${EVENTS:-200000}
RUNS=${RUNS:-3}
[ $# -gt 0 ] || { echo "usage: $0 BIN..." >&2; exit 2; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
api="http://guest:guest@$RABBITMQ_API/api"
awk -v n="$EVENTS" 'BEGIN { for (i = 0; i < n; i++)
    printf "{\"stream\": \"In\", \"ts\": %d, \"data\": {\"id\": %d, \"sym\": \"S%d\", \"qty\": %d}}\n",
        1000 + i, i, i % 7, i % 13 }' >"$work/in.jsonl"
ready() {
    curl -sf "$api/queues/%2f/$1" | jq '.messages // 0'
}
declare -A rates
for run in $(seq "$RUNS"); do
    b=0
    for bin in "$@"; do
        b=$((b + 1))
        queue="ef-bench-sink-$b-$run-$$"
        curl -sf -X PUT -d '{"durable": true}' "$api/queues/%2f/$queue" >/dev/null
        start=$(date +%s.%N)
        AMQP_URL="$AMQP_URL" QUEUE="$queue" "$bin" --input "$work/in.jsonl" \
            --state-dir "$work/state-$b-$run" --checkpoint-every 1s >/dev/null
        end=$(date +%s.%N)
        # Every message is in the queue (the management API's counts lag a little).
        for _ in $(seq 100); do
            [ "$(ready "$queue")" -ge "$EVENTS" ] && break
            sleep 0.2
        done
        got=$(ready "$queue")
        curl -sf -X DELETE "$api/queues/%2f/$queue" >/dev/null
        [ "$got" -ge "$EVENTS" ] || { echo "$bin: only $got of $EVENTS messages arrived" >&2; exit 1; }
        rate=$(echo "$EVENTS / ($end - $start)" | bc -l)
        printf '%s run %d: %.2f s, %.0f events/s (%d messages)\n' "$bin" "$run" \
            "$(echo "$end - $start" | bc -l)" "$rate" "$got"
        rates[$b]="${rates[$b]:-} $rate"
    done
done
b=0
for bin in "$@"; do
    b=$((b + 1))
    median=$(echo "${rates[$b]}" | tr ' ' '\n' | grep . | sort -g | awk '{ v[NR] = $1 }
        END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }')
    printf '%s: median %.0f events/s\n' "$bin" "$median"
done
