#!/usr/bin/env bash
# A partitioned NATS source read by one worker and split across several (BENCHMARKS.md,
# "Partitioned broker sources"): BIN is `eventflux build benches/connectors/nats_split.eventflux`
# (release). Starts a JetStream server of its own (Debian's nats-server) on a free port,
# publishes EVENTS orders over 4 subjects (1,000 symbols, each on one subject), then runs BIN
# with each worker count of WORKERS, alternating, RUNS times, each run with a new durable
# consumer (so it reads the whole stream) and `--output` to a file: events/s from the start
# of the binary until the file holds one row per event.
#
#   chrt -f 10 bash benches/connectors/nats_split.sh BIN
set -euo pipefail
EVENTS=${EVENTS:-1000000}
RUNS=${RUNS:-3}
WORKERS=${WORKERS:-"1 2"}
bin=${1:?usage: $0 BIN}
work=$(mktemp -d)
port=14300
while (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do port=$((port + 1)); done
nats-server -js -a 127.0.0.1 -p "$port" -sd "$work/js" >"$work/nats.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 50); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
python3 - "$port" "$EVENTS" <<'PY'
import json, socket, sys, time
port, events = int(sys.argv[1]), int(sys.argv[2])
s = socket.create_connection(("127.0.0.1", port)); f = s.makefile("rb"); f.readline()
s.sendall(b'CONNECT {"verbose":false}\r\nSUB _B.* 1\r\n')
def request(subject, payload):
    s.sendall(b"PUB %s _B.1 %d\r\n%s\r\n" % (subject.encode(), len(payload), payload.encode()))
    while True:
        line = f.readline().decode()
        if line.startswith("PING"): s.sendall(b"PONG\r\n"); continue
        if line.startswith("MSG"):
            return json.loads(f.read(int(line.split()[-1]) + 2)[:-2])
request("$JS.API.STREAM.CREATE.ORDERS", json.dumps({"name": "ORDERS", "subjects": ["orders.*"]}))
out = []
for i in range(events):
    k = (i * 7919) % 1000
    ev = '{"ts": %d, "data": {"id": %d, "sym": "S%d", "qty": %d}}' % (1000 + i // 10, i, k, i % 13)
    out.append(b"PUB orders.%d %d\r\n%s\r\n" % (k % 4, len(ev), ev.encode()))
    if len(out) == 1000:
        s.sendall(b"".join(out)); out = []
s.sendall(b"".join(out))
while request("$JS.API.STREAM.INFO.ORDERS", "")["state"]["messages"] < events:
    time.sleep(0.2)
PY
declare -A rates
for run in $(seq "$RUNS"); do
    for w in $WORKERS; do
        out="$work/out-$w-$run.jsonl"
        start=$(date +%s.%N)
        NATS_URL="nats://127.0.0.1:$port" IN_STREAM=ORDERS IN_SUBJECT=orders \
            CONSUMER="bench-$w-$run" "$bin" --workers "$w" --output "$out" 2>"$work/err-$w-$run" &
        pid=$!
        while [ "$(wc -l <"$out" 2>/dev/null || echo 0)" -lt "$EVENTS" ]; do sleep 0.1; done
        end=$(date +%s.%N)
        kill -TERM $pid; wait $pid || true
        rate=$(echo "$EVENTS / ($end - $start)" | bc -l)
        printf 'workers %s run %d: %.2f s, %.0f events/s\n' "$w" "$run" "$(echo "$end - $start" | bc -l)" "$rate"
        rates[$w]="${rates[$w]:-} $rate"
    done
done
for w in $WORKERS; do
    median=$(echo "${rates[$w]}" | tr ' ' '\n' | grep . | sort -g | awk '{ v[NR] = $1 }
        END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }')
    printf 'workers %s: median %.0f events/s\n' "$w" "$median"
done
