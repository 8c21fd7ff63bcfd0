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
# structs lose their serde derives); `persist` (as `noserde`, and `snapshot`/`restore` write
# and read the state through `state::persist` (`SnapshotBuilder::put`, `Snapshot::load_into`)
# with `Save`/`Load` impls for the generated state structs written here: what generated code
# could be once every state type has them; it builds only for apps whose runtime state
# types all have them, otherwise it is left out). Each build touches `src/app.rs` (the
# runtime stays cached). Needs python3 and GNU time. Since session 10 the generated code
# itself writes state through `state::persist` (`full` is what `persist` was; `noserde` and
# `persist` only differ from `nosnap`/`full` for projects of earlier builds).
set -euo pipefail
src="$(cd "$1" && pwd)"
rounds="${2:-3}"
here="$(cd "$(dirname "$0")/.." && pwd)"
cache="${EVENTFLUX_CACHE:-$here/target/efcache}"
export CARGO_TARGET_DIR="$cache/target" CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-2}"
work="$here/target/build-breakdown"
mkdir -p "$work"
pkg=$(sed -n 's/^name = "\(.*\)"/\1/p' "$src/Cargo.toml" | head -1)
variants=(full nosnap norestore noserde persist)
for v in "${variants[@]}"; do
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

if mode in ('nosnap', 'noserde', 'persist'):
    k, m = body(src, src.index('pub fn snapshot(&self)'))
    src = src[:k] + '{ ::std::vec::Vec::new() }' + src[m:]
if mode in ('nosnap', 'noserde', 'norestore', 'persist'):
    k, m = body(src, src.index('> {', src.index('    pub fn restore(\n')) + 2)
    src = (src[:k] + '{ let _ = bytes; ::core::result::Result::Err('
           '::eventflux_runtime::state::StateError::NotKept) }' + src[m:])
if mode in ('noserde', 'persist'):
    src = re.sub(
        r'#\[derive\(([^\]]*?)\)\]\s*#\[serde\(crate = "::eventflux_runtime::serde"\)\]\s*(pub struct __Ef)',
        lambda g: '#[derive(' + re.sub(r',?\s*::eventflux_runtime::serde::(Serialize|Deserialize)',
                                       '', g.group(1)) + ')]\n' + g.group(2), src)
if mode == 'persist':
    full = open(sys.argv[1]).read()
    i = full.index('    /// All state of the app')
    k = full.index('\n    }\n', full.index('    pub fn restore(\n')) + 7
    methods = (full[i:k].replace('.add(', '.put(').replace('.restore_into(', '.load_into('))
    a = src.index('    /// All state of the app')
    b = src.index('NotKept) }', src.index('    pub fn restore(\n')) + len('NotKept) }')
    src = src[:a] + methods + src[b:]
    p = '::eventflux_runtime::state::persist'
    for g in re.finditer(r'pub struct (__Ef\w+) \{(.*?)\n\}', src, re.S):
        name, fields = g.group(1), re.findall(r'pub (\w+):', g.group(2))
        saves = ''.join(f'{p}::Save::save(&self.{f}, w);' for f in fields)
        loads = ''.join(f'{f}: {p}::Load::load(r)?,' for f in fields)
        src += (f'\nimpl {p}::Save for {name} {{ fn save(&self, w: &mut {p}::Writer) {{ {saves} }} }}'
                f'\nimpl {p}::Load for {name} {{ fn load(r: &mut {p}::Reader<\'_>) -> '
                f'::core::result::Result<Self, ::eventflux_runtime::state::StateError> '
                f'{{ ::core::result::Result::Ok({name} {{ {loads} }}) }} }}\n')
open(sys.argv[3], 'w').write(src)
PY
    # first build: lockfile, checks the variant
    if ! (cd "$work/$v" && cargo build --release -q 2> "$work/$v.err"); then
        echo "variant $v does not build (see $work/$v.err): left out" >&2
        variants=("${variants[@]/$v}")
    fi
done
echo "| variant | wall s | user s |"
echo "|---|---|---|"
for _ in $(seq "$rounds"); do
    for v in ${variants[@]}; do
        touch "$work/$v/src/app.rs"
        (cd "$work/$v" && /usr/bin/time -f "%e %U" -o "$work/time" cargo build --release -q)
        read -r wall user < "$work/time"
        echo "| $v | $wall | $user |"
    done
done
echo "(load average: $(cut -d' ' -f1-3 /proc/loadavg))"
