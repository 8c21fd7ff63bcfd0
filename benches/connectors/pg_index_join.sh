#!/usr/bin/env bash
# A stream joined with a ROWS-row PostgreSQL table by an INDEX column, through built
# binaries (BENCHMARKS.md, "PostgreSQL table lookups by index"): the app
# pg_index_join.eventflux as it is (PostgreSQL finds the rows with `WHERE k = $1`), without
# its INDEX clause (each lookup reads the whole table) and without its WITH clause (an
# in-memory table). The PostgreSQL tables are filled by a run of the app first; then each
# variant runs RUNS times (alternately) over its probes, and the script prints events/s per
# run (probe events / wall time from the binary's start to its exit) and the medians.
#
#   PG_URL=postgres://postgres@127.0.0.1:5432/postgres EVENTFLUX=target/debug/eventflux \
#       chrt -f 10 bash benches/connectors/pg_index_join.sh
# (under /work/notes/s8/with-servers.sh: PG_URL=$EVENTFLUX_TEST_POSTGRES). Needs psql.
set -euo pipefail
export PGOPTIONS="-c client_min_messages=warning"
: "${PG_URL:?set PG_URL}"
EVENTFLUX=${EVENTFLUX:-eventflux}
ROWS=${ROWS:-10000}
PROBES=${PROBES:-20000}            # by index
FULL_PROBES=${FULL_PROBES:-200}    # full reads (each reads ROWS rows)
MEM_PROBES=${MEM_PROBES:-1000000}  # in-memory table
RUNS=${RUNS:-3}
here=$(cd "$(dirname "$0")" && pwd)
work=${WORK:-$(mktemp -d)}
mkdir -p "$work"
app="$here/pg_index_join.eventflux"
sed 's/, INDEX (k))/)/' "$app" >"$work/full.eventflux"
grep -v -e "WITH (extension = 'postgres'" "$app" | sed 's/, INDEX (k))/, INDEX (k));/' \
    >"$work/mem.eventflux"
if cmp -s "$app" "$work/full.eventflux" || grep -q postgres.url "$work/mem.eventflux"; then
    echo "cannot derive the variants from $app" >&2
    exit 1
fi
for v in index full mem; do
    src="$app"
    [ "$v" = index ] || src="$work/$v.eventflux"
    [ -x "$work/$v" ] || "$EVENTFLUX" build "$src" -o "$work/$v" >&2
done
fill() {
    awk -v n="$ROWS" 'BEGIN { for (i = 0; i < n; i++)
        printf "{\"stream\": \"Adds\", \"ts\": %d, \"data\": {\"id\": %d, \"k\": %d, \"qty\": %d}}\n",
            1000 + i, i, 1000000 + i, i % 13 }'
}
probes() {
    awk -v n="$1" -v rows="$ROWS" 'BEGIN { for (i = 0; i < n; i++)
        printf "{\"stream\": \"Q\", \"ts\": 100000, \"data\": {\"k\": %d}}\n",
            1000000 + (i * 7919) % rows }'
}
fill >"$work/fill.jsonl"
probes "$PROBES" >"$work/probes.jsonl"
probes "$FULL_PROBES" >"$work/full-probes.jsonl"
{ fill; probes "$MEM_PROBES"; } >"$work/mem.jsonl"
for table in ef_bench_idx ef_bench_full; do
    psql -q -X "$PG_URL" -c "DROP TABLE IF EXISTS $table" >/dev/null
done
PG_TABLE=ef_bench_idx PG_URL="$PG_URL" "$work/index" --input "$work/fill.jsonl" >/dev/null
PG_TABLE=ef_bench_full PG_URL="$PG_URL" "$work/full" --input "$work/fill.jsonl" >/dev/null
psql -q -X "$PG_URL" -c "VACUUM ANALYZE ef_bench_idx" -c "VACUUM ANALYZE ef_bench_full"
declare -A rates
run() { # variant table input probes
    local start end out
    out="$work/out-$1.jsonl"
    start=$(date +%s.%N)
    PG_TABLE="$2" PG_URL="$PG_URL" "$work/$1" --input "$3" >"$out"
    end=$(date +%s.%N)
    [ "$(wc -l <"$out")" -eq "$4" ] || { echo "$1: $(wc -l <"$out") rows, not $4" >&2; exit 1; }
    rate=$(echo "$4 / ($end - $start)" | bc -l)
    printf '%s run %d: %d probes in %.2f s, %.0f events/s\n' "$1" "$run" "$4" \
        "$(echo "$end - $start" | bc -l)" "$rate"
    rates[$1]="${rates[$1]:-} $rate"
}
for run in $(seq "$RUNS"); do
    run index ef_bench_idx "$work/probes.jsonl" "$PROBES"
    run full ef_bench_full "$work/full-probes.jsonl" "$FULL_PROBES"
    run mem - "$work/mem.jsonl" "$MEM_PROBES"
done
for v in index full mem; do
    median=$(echo "${rates[$v]}" | tr ' ' '\n' | grep . | sort -g | awk '{ v[NR] = $1 }
        END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }')
    printf '%s: median %.0f events/s\n' "$v" "$median"
done
