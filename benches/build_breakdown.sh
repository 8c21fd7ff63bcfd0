#!/usr/bin/env bash
# Where an `eventflux build` goes (issue 12): builds one generated project in variants with
# parts of its snapshot code removed by hand, alternating, and prints wall and user seconds.
#
#   bash benches/build_breakdown.sh PROJECT_DIR [ROUNDS]
#
# PROJECT_DIR: a generated project from the build cache (`$EVENTFLUX_CACHE/projects/<hash>`,
# written by `eventflux build`, so its runtime is compiled in `$EVENTFLUX_CACHE/target`).
# Variants: `full` (as generated); `nosnap` (`App::snapshot` returns no bytes and
# `App::restore` returns `StateError::NotKept`: no serde/bincode instantiated for state);
# `norestore` (only `restore` removed); `noserde` (as `nosnap`, and the generated state
# structs lose their serde derives). Each build touches `src/app.rs` (the runtime stays
# cached). Needs python3 and GNU time.
set -euo pipefail
src="$(cd "$1" && pwd)"
rounds="${2:-3}"
here="$(cd "$(dirname "$0")/.." && pwd)"
cache="${EVENTFLUX_CACHE:-$here/target/efcache}"
export CARGO_TARGET_DIR="$cache/target" CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-2}"
work="$here/target/build-breakdown"
mkdir -p "$work"
pkg=$(sed -n 's/^name = "\(.*\)"/\1/p' "$src/Cargo.toml" | head -1)
for v in full nosnap norestore noserde; do
    rm -rf "${work:?}/$v"
    cp -r "$src" "$work/$v"
    rm -rf "$work/$v/target"
    sed -i "s/$pkg/breakdown-$v/" "$work/$v/Cargo.toml"
    python3 - "$src/src/app.rs" "$v" "$work/$v/src/app.rs" <<'PY'
import re, sys
src, mode = open(sys.argv[1]).read(), sys.argv[2]

def body(text, start):
    """(index of the `{` opening the fn body at or after start, index after its `}`)."""
    k = text.index('{', start)
    depth, m = 0, k
    while True:
        depth += {'{': 1, '}': -1}.get(text[m], 0)
        m += 1
        if depth == 0:
            return k, m

if mode in ('nosnap', 'noserde'):
    k, m = body(src, src.index('pub fn snapshot(&self)'))
    src = src[:k] + '{ ::std::vec::Vec::new() }' + src[m:]
if mode in ('nosnap', 'noserde', 'norestore'):
    k, m = body(src, src.index('> {', src.index('    pub fn restore(\n')) + 2)
    src = (src[:k] + '{ let _ = bytes; ::core::result::Result::Err('
           '::eventflux_runtime::state::StateError::NotKept) }' + src[m:])
if mode == 'noserde':
    src = re.sub(
        r'#\[derive\(([^\]]*?)\)\]\s*#\[serde\(crate = "::eventflux_runtime::serde"\)\]\s*(pub struct __Ef)',
        lambda g: '#[derive(' + re.sub(r',?\s*::eventflux_runtime::serde::(Serialize|Deserialize)',
                                       '', g.group(1)) + ')]\n' + g.group(2), src)
open(sys.argv[3], 'w').write(src)
PY
    (cd "$work/$v" && cargo build --release -q)   # first build: lockfile, checks the variant
done
echo "| variant | wall s | user s |"
echo "|---|---|---|"
for _ in $(seq "$rounds"); do
    for v in full nosnap norestore noserde; do
        touch "$work/$v/src/app.rs"
        (cd "$work/$v" && /usr/bin/time -f "%e %U" -o "$work/time" cargo build --release -q)
        read -r wall user < "$work/time"
        echo "| $v | $wall | $user |"
    done
done
echo "(load average: $(cut -d' ' -f1-3 /proc/loadavg))"
