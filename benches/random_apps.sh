#!/usr/bin/env bash
# Runs the random-app test (tests/random_apps) on more apps than CI does: BATCHES batches
# of APPS apps each (one test binary per batch), seeds FIRST, FIRST+1, ...
#   benches/random_apps.sh               # 10 batches of 40 apps, seeds 1..10 (400 apps)
#   BATCHES=5 APPS=80 FIRST=100 benches/random_apps.sh
# A rejected app fails the build with its text; a failing one is printed with its seed and
# number (its files: target/debug/build/eventflux-random-apps-*/out/apps/app_<i>/).
set -euo pipefail
cd "$(dirname "$0")/.."
BATCHES=${BATCHES:-10}
APPS=${APPS:-40}
FIRST=${FIRST:-1}
export CARGO_BUILD_JOBS=${CARGO_BUILD_JOBS:-2}
for ((i = 0; i < BATCHES; i++)); do
    seed=$((FIRST + i))
    echo "== seed $seed: $APPS apps"
    EVENTFLUX_RANDOM_SEED=$seed EVENTFLUX_RANDOM_APPS=$APPS \
        cargo test -q -p eventflux-random-apps -- --nocapture
done
