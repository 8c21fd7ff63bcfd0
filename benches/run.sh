#!/usr/bin/env bash
# Runs every EventFlux benchmark of BENCHMARKS.md and prints a results table.
#
#   bash benches/run.sh ... [APP...]  # after the mode: only these CASES (e.g. join_length)
#
#   bash benches/run.sh            # everything (about 5 minutes on 2 cores, after the builds)
#   bash benches/run.sh throughput # only the generated-vs-hand-written throughput rows
#   bash benches/run.sh check      # only: baseline output == `eventflux run` output
#   bash benches/run.sh tools      # only ingest, check, cached run, build
#   bash benches/run.sh fresh      # only the first run with an empty cache (runtime compile)
#   bash benches/run.sh memory     # only max RSS over 500k vs 2M distinct keys (apps/memory/;
#                                  # needs GNU time: apt-get install time)
#   bash benches/run.sh durability # only checkpoints: throughput with/without, full and
#                                  # incremental checkpoint of 1M groups, restore time
#   bash benches/run.sh scale      # only scale-out: `bench --workers 2` against 1 (needs two
#                                  # free cores; as root, CHRT="chrt -f 10" runs the bench
#                                  # ahead of every other process, see docs/scale-out.md)
#
# Environment: EVENTFLUX (the eventflux binary; default: build and use target/release/eventflux),
# EVENTFLUX_CACHE (default target/bench-cache, so other caches are left alone), RUNS (runs
# per measurement, best kept; default 3), DATA (input directory; default target/bench-data).
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-2}"
export EVENTFLUX_CACHE="${EVENTFLUX_CACHE:-$PWD/target/bench-cache}"
RUNS="${RUNS:-3}"
DATA="${DATA:-target/bench-data}"
WHAT="${1:-all}"
ONLY=("${@:2}")

if [[ -z "${EVENTFLUX:-}" ]]; then
    cargo build --release -q -p eventflux-compiler
    EVENTFLUX=target/release/eventflux
fi
cargo build --release -q -p eventflux-bench
GEN=target/release/bench-gen
BASE=target/release/eventflux-baseline

field() { sed -E "s/.*\"$1\": ([0-9.e+-]+).*/\1/"; }
now() { echo "$EPOCHREALTIME"; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }
best_max() { tr ' ' '\n' | sort -g | tail -1; }
best_min() { tr ' ' '\n' | sort -g | head -1; }

# --- inputs (deterministic; regenerated only when missing) ---------------------------------
mkdir -p "$DATA"
gen() { [[ -s "$DATA/$1" ]] || "$GEN" trades "${@:2}" -o "$DATA/$1"; }
gen keys1000_1m.jsonl --events 1000000 --keys 1000 --per-ms 10

# --- scale-out: `--workers 2` against `--workers 1` and one worker through timely -----------
if [[ "$WHAT" == scale ]]; then
    app=benches/apps/partition_scale.eventflux
    input="$DATA/keys1000_1m.jsonl"
    "$EVENTFLUX" bench "$app" --input "$input" --repeat 1 > /dev/null
    echo "| run | M events/s (runs) | against the plain app | outputs |"
    echo "|---|---|---|---|"
    plain=""
    for run in "plain 1" "timely 1 EVENTFLUX_BENCH_TIMELY=1" "workers2 2"; do
        read -r label workers vars <<< "$run"
        rates=() outs=""
        for _ in $(seq "$RUNS"); do
            r=$(env $vars ${CHRT:-} "$EVENTFLUX" bench "$app" --input "$input" --repeat 3 \
                --workers "$workers")
            rates+=("$(awk -v r="$(field events_per_sec <<< "$r")" 'BEGIN { printf "%.2f", r / 1e6 }')")
            outs=$(field outputs <<< "$r")
        done
        best=$(echo "${rates[*]}" | best_max)
        [[ -n "$plain" ]] || plain=$best
        echo "| $label | ${rates[*]} | $(awk -v a="$best" -v b="$plain" 'BEGIN { printf "%.2fx", a / b }') | $outs |"
    done
    echo "(load average: $(cut -d' ' -f1-3 /proc/loadavg))"
    exit 0
fi

gen trades_100k.jsonl --events 100000 --keys 100
gen keys100_1m.jsonl --events 1000000 --keys 100 --per-ms 10
gen ingest_2m.jsonl --events 2000000 --keys 100
# joins and tables: two streams; a table filled first (100k rows), then probed; upserts
# over 100k keys, then a few rows read back (the check input reads back every key)
gen join_1m.jsonl --events 1000000 --keys 100 --per-ms 10 --streams Trades,Quotes
gen join_200k.jsonl --events 200000 --keys 100 --per-ms 10 --streams Trades,Quotes
gen enrich_2m.jsonl --events 2000000 --keys 100000 --per-ms 10 --fill StockIn
gen enrich_200k.jsonl --events 100000 --keys 100000 --per-ms 10 --fill StockIn
gen upsert_1m.jsonl --events 1000000 --keys 100000 --per-ms 10 --probe Probe:1000
gen upsert_200k.jsonl --events 200000 --keys 100000 --per-ms 10 --probe Probe:100000
# patterns: events spread over A and B
gen pattern_1m.jsonl --events 1000000 --keys 100 --per-ms 10 --streams A,B
gen pattern_200k.jsonl --events 200000 --keys 100 --per-ms 10 --streams A,B

# app | input | repeats | check inputs (comma-separated; check_200k = first 200k lines of
# keys1000_1m)
CASES=(
    "filter_projection trades_100k.jsonl 100 trades_100k.jsonl,check_200k.jsonl"
    "length_group_sum keys100_1m.jsonl 10 trades_100k.jsonl,check_200k.jsonl"
    "time_batch_group keys1000_1m.jsonl 10 trades_100k.jsonl,check_200k.jsonl"
    "time_avg keys1000_1m.jsonl 10 trades_100k.jsonl,check_200k.jsonl"
    "join_length join_1m.jsonl 10 join_200k.jsonl"
    "table_enrich enrich_2m.jsonl 5 enrich_200k.jsonl"
    "table_upsert upsert_1m.jsonl 10 upsert_200k.jsonl"
    "partition_length_sum keys1000_1m.jsonl 10 trades_100k.jsonl,check_200k.jsonl"
    "pattern_rise pattern_1m.jsonl 10 pattern_200k.jsonl"
)

if (( ${#ONLY[@]} )); then
    kept=()
    for c in "${CASES[@]}"; do
        for o in "${ONLY[@]}"; do [[ "${c%% *}" == "$o" ]] && kept+=("$c"); done
    done
    CASES=("${kept[@]}")
fi


# --- correctness: the baselines print exactly what the generated apps print ------------------
if [[ "$WHAT" == all || "$WHAT" == check ]]; then
    head -200000 "$DATA/keys1000_1m.jsonl" > "$DATA/check_200k.jsonl"
    for c in "${CASES[@]}"; do
        read -r app _ _ checks <<< "$c"
        for input in ${checks//,/ }; do
            "$EVENTFLUX" run "benches/apps/$app.eventflux" --input "$DATA/$input" --output "$DATA/gen.out"
            "$BASE" "$app" --input "$DATA/$input" --output "$DATA/base.out"
            if cmp -s "$DATA/gen.out" "$DATA/base.out"; then
                echo "check $app $input: identical ($(wc -l < "$DATA/gen.out") lines)"
            else
                echo "check $app $input: OUTPUTS DIFFER" >&2
                exit 1
            fi
        done
    done
fi

# --- throughput: generated (eventflux bench) vs hand-written (eventflux-baseline --bench) ----
if [[ "$WHAT" == all || "$WHAT" == throughput ]]; then
    echo
    echo "| query | events x repeats | generated M ev/s (runs) | hand-written M ev/s (runs) | ratio | outputs |"
    echo "|---|---|---|---|---|---|"
    for c in "${CASES[@]}"; do
        read -r app input repeat _ <<< "$c"
        gen_rates=() base_rates=() outs=""
        "$EVENTFLUX" bench "benches/apps/$app.eventflux" --input "$DATA/$input" --repeat 1 > /dev/null
        for _ in $(seq "$RUNS"); do
            g=$("$EVENTFLUX" bench "benches/apps/$app.eventflux" --input "$DATA/$input" --repeat "$repeat")
            b=$("$BASE" "$app" --bench --input "$DATA/$input" --repeat "$repeat")
            gen_rates+=("$(field events_per_sec <<< "$g")")
            base_rates+=("$(field events_per_sec <<< "$b")")
            [[ "$(field outputs <<< "$g")" == "$(field outputs <<< "$b")" ]] \
                || { echo "output counts differ for $app: $g vs $b" >&2; exit 1; }
            outs=$(field outputs <<< "$g")
        done
        gb=$(echo "${gen_rates[*]}" | best_max)
        bb=$(echo "${base_rates[*]}" | best_max)
        m() { awk '{ for (i = 1; i <= NF; i++) printf "%s%.1f", (i > 1 ? " / " : ""), $i / 1e6 }' <<< "$*"; }
        events=$(field events <<< "$g")
        echo "| $app | $((events / repeat)) x $repeat | **$(m "$gb")** ($(m "${gen_rates[*]}")) | **$(m "$bb")** ($(m "${base_rates[*]}")) | $(awk -v a="$gb" -v b="$bb" 'BEGIN { printf "%.2f", a / b }') | $outs |"
    done
fi

# --- tools: ingest end to end, check, cached run, build --------------------------------------
if [[ "$WHAT" == all || "$WHAT" == tools ]]; then
    echo
    app=benches/apps/filter_projection.eventflux
    lines=$(wc -l < "$DATA/ingest_2m.jsonl")
    "$EVENTFLUX" run "$app" --input "$DATA/trades_100k.jsonl" --output /dev/null # compile/cache
    ts=()
    for _ in $(seq "$RUNS"); do
        a=$(now); "$EVENTFLUX" run "$app" --input "$DATA/ingest_2m.jsonl" --output /dev/null; b=$(now)
        ts+=("$(elapsed "$a" "$b")")
    done
    t=$(echo "${ts[*]}" | best_min)
    echo "ingest: eventflux run filter_projection, $lines lines -> /dev/null: best ${t}s (${ts[*]}) = $(awk -v n="$lines" -v t="$t" 'BEGIN { printf "%.2f", n / t / 1e6 }') M events/s"
    # For comparison: the hand-written query behind a one-pass serde decode of each line.
    ts=()
    for _ in $(seq "$RUNS"); do
        a=$(now); "$BASE" filter_projection --input "$DATA/ingest_2m.jsonl" --output /dev/null; b=$(now)
        ts+=("$(elapsed "$a" "$b")")
    done
    t=$(echo "${ts[*]}" | best_min)
    echo "ingest, hand-written (one-pass decode): best ${t}s (${ts[*]}) = $(awk -v n="$lines" -v t="$t" 'BEGIN { printf "%.2f", n / t / 1e6 }') M events/s"

    "$GEN" app --queries 100 -o "$DATA/app100.eventflux"
    ts=()
    for _ in $(seq "$RUNS"); do
        a=$(now); "$EVENTFLUX" check "$DATA/app100.eventflux"; b=$(now)
        ts+=("$(elapsed "$a" "$b")")
    done
    echo "check: 100-query app: best $(echo "${ts[*]}" | best_min)s (${ts[*]})"

    "$EVENTFLUX" run examples/trades/app.eventflux --input examples/trades/input.jsonl > /dev/null
    ts=()
    for _ in $(seq "$RUNS"); do
        a=$(now); "$EVENTFLUX" run examples/trades/app.eventflux --input examples/trades/input.jsonl > /dev/null; b=$(now)
        ts+=("$(elapsed "$a" "$b")")
    done
    echo "cached run: examples/trades (whole run, 5 input lines): best $(echo "${ts[*]}" | best_min)s (${ts[*]})"

    # A new salt per build gives a new generated source, i.e. a cache miss for the app only.
    "$GEN" app --queries 20 --salt 0 -o "$DATA/app20.eventflux"
    "$EVENTFLUX" build "$DATA/app20.eventflux" -o "$DATA/app20.bin" 2> /dev/null # runtime cached
    ts=()
    for _ in $(seq "$RUNS"); do
        "$GEN" app --queries 20 --salt "$(( $(date +%s) % 100000 + RANDOM ))" -o "$DATA/app20.eventflux"
        a=$(now); "$EVENTFLUX" build "$DATA/app20.eventflux" -o "$DATA/app20.bin" 2> /dev/null; b=$(now)
        ts+=("$(elapsed "$a" "$b")")
    done
    echo "build: new 20-query app, runtime cached: best $(echo "${ts[*]}" | best_min)s (${ts[*]})"
fi

# --- durability: checkpoints of a standalone binary (apps/durability/) ---------------------
if [[ "$WHAT" == durability ]]; then
    app=benches/apps/durability/groups.eventflux
    bin="$DATA/dur-groups"
    "$EVENTFLUX" build "$app" -o "$bin" > /dev/null 2>&1
    st="$DATA/dur-state"
    # Throughput: 2M events over 100 keys, without checkpoints and with one every 100 ms
    # (ten times the usual rate: the run takes about a second).
    for mode in without with; do
        ts=()
        for _ in $(seq "$RUNS"); do
            rm -rf "$st"
            flags=()
            [[ $mode == with ]] && flags=(--state-dir "$st" --checkpoint-every 100ms)
            a=$(now); "$bin" --input "$DATA/ingest_2m.jsonl" --output /dev/null "${flags[@]}" 2> /dev/null; b=$(now)
            ts+=("$(elapsed "$a" "$b")")
        done
        t=$(echo "${ts[*]}" | best_min)
        echo "throughput $mode checkpoints every 100 ms: best ${t}s (${ts[*]}) = $(awk -v t="$t" 'BEGIN { printf "%.2f", 2 / t }') M events/s"
    done
    # 1M groups: 1M distinct keys (each once, then again), then a full checkpoint at the end.
    [[ -s "$DATA/dur_1m_keys.jsonl" ]] || "$GEN" trades --events 2000000 --keys 1000000 \
        --per-ms 10 --key-order cycle -o "$DATA/dur_1m_keys.jsonl"
    # 1% of them changed afterwards (10k events over 10k keys), an incremental checkpoint.
    [[ -s "$DATA/dur_10k_keys.jsonl" ]] || "$GEN" trades --events 10000 --keys 10000 \
        --per-ms 10 --key-order cycle -o "$DATA/dur_10k_keys.jsonl"
    for _ in $(seq "$RUNS"); do
        rm -rf "$st"
        "$bin" --input "$DATA/dur_1m_keys.jsonl" --output /dev/null --state-dir "$st" 2>&1 \
            | grep -o 'checkpoint 1 taken.*' | sed 's/^/full, 1M groups: /'
        "$bin" --input "$DATA/dur_10k_keys.jsonl" --output /dev/null --state-dir "$st" 2>&1 \
            | grep -o 'checkpoint 2 taken.*' | sed 's/^/1% changed: /'
        # Restore: from the start of the binary to the state restored (ready for input).
        "$bin" --input /dev/null --output /dev/null --state-dir "$st" --restore-from 1 2>&1 \
            | grep -o 'restored checkpoint 1 .*' | sed 's/^/restart with 1M groups: /' 
    done
    du -sh "$st"
fi

# --- memory: max RSS of a standalone binary over 2M events with 500k vs 2M distinct keys ----
# (each key in turn: exactly that many distinct keys). State follows the windows
# (docs/semantics.md#state-bounded-by-the-windows): the two columns should be about equal.
if [[ "$WHAT" == memory ]]; then
    [[ -x /usr/bin/time ]] || { echo "memory needs GNU time (apt-get install time)" >&2; exit 1; }
    keyed() { [[ -s "$DATA/$1" ]] || "$GEN" trades --events 2000000 --keys "$2" --per-ms 10 \
        --key-order cycle "${@:3}" -o "$DATA/$1"; }
    keyed mem_500k.jsonl 500000
    keyed mem_2m.jsonl 2000000
    keyed mem_join_500k.jsonl 500000 --streams Trades,Quotes
    keyed mem_join_2m.jsonl 2000000 --streams Trades,Quotes
    echo
    echo "| app | max RSS, 500k keys (MB) | max RSS, 2M keys (MB) | 2M / 500k |"
    echo "|---|---|---|---|"
    for app in benches/apps/memory/*.eventflux; do
        name=$(basename "$app" .eventflux)
        bin="$DATA/mem-$name"
        "$EVENTFLUX" build "$app" -o "$bin" > /dev/null 2>&1
        input=mem
        [[ "$name" == join_* ]] && input=mem_join
        rss() {
            /usr/bin/time -f %M "$bin" --input "$DATA/${input}_$1.jsonl" --output /dev/null \
                2>&1 >/dev/null | tail -1
        }
        a=$(rss 500k)
        b=$(rss 2m)
        echo "| $name | $(awk -v k="$a" 'BEGIN { printf "%.1f", k / 1024 }') | $(awk -v k="$b" 'BEGIN { printf "%.1f", k / 1024 }') | $(awk -v a="$a" -v b="$b" 'BEGIN { printf "%.2f", b / a }') |"
    done
fi

# --- first run with an empty cache (compiles the runtime; crates already downloaded) ---------
if [[ "$WHAT" == fresh ]]; then
    fresh="$DATA/fresh-cache"
    rm -rf "$fresh"
    a=$(now)
    EVENTFLUX_CACHE="$PWD/$fresh" "$EVENTFLUX" run examples/trades/app.eventflux \
        --input examples/trades/input.jsonl > /dev/null 2>&1
    b=$(now)
    rm -rf "$fresh"
    echo "fresh: first run of examples/trades with an empty cache: $(elapsed "$a" "$b")s"
fi
