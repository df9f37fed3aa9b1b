#!/usr/bin/env bash
# Runs one fuzz target for a given time on the nightly toolchain, one process, one job.
#
# Usage: scripts/fuzz.sh TARGET SECONDS
#   TARGET: options_parse | op_msg | hello | identity
#
# Needs `cargo install cargo-fuzz` and a nightly toolchain. The corpus grows in
# fuzz/corpus/TARGET (not committed), seeded from fuzz/regressions/TARGET and, for identity,
# from the test certificates (scripts/gen-test-certs.sh, target/test-certs). A crash is written
# to fuzz/artifacts/TARGET/: copy it to fuzz/regressions/TARGET/ so that `cargo test`
# (tests/fuzz_regressions.rs) replays it, then fix it.
#
# The identity target runs with -max_len=16384 and -timeout=10: the caps on key-derivation
# parameters (which bound the time a crafted key takes) are separate work, so inputs are kept
# small and a slow input is reported as a timeout, not a crash.
set -euo pipefail

target=${1:?usage: scripts/fuzz.sh TARGET SECONDS}
seconds=${2:?usage: scripts/fuzz.sh TARGET SECONDS}
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root/fuzz"

corpus="corpus/$target"
mkdir -p "$corpus" "artifacts/$target"
cp -n "regressions/$target"/* "$corpus"/ 2>/dev/null || true

extra=()
case "$target" in
    identity)
        certs="$root/target/test-certs"
        [ -d "$certs" ] || "$root/scripts/gen-test-certs.sh" "$certs" >/dev/null
        # Seeds: each file with each password choice and backend (the first byte selects them).
        for f in "$certs"/client*.pem "$certs"/client*.p12 "$certs"/client*.key; do
            [ -f "$f" ] || continue
            for sel in 0 2 4 6; do
                { printf "\\x0$sel"; cat "$f"; } >"$corpus/seed-$sel-$(basename "$f")"
            done
        done
        # A small trust store: the system one is slow to load on every input.
        export MONGO_X509_FUZZ_CA="$certs/ca.pem"
        extra=(-max_len=16384 -timeout=10)
        ;;
    op_msg | hello) extra=(-max_len=65536 -timeout=5) ;;
    options_parse) extra=(-max_len=4096 -timeout=5) ;;
    *) echo "unknown target $target" >&2; exit 2 ;;
esac

exec cargo +nightly fuzz run "$target" "$corpus" -- \
    -max_total_time="$seconds" -jobs=1 -workers=1 -artifact_prefix="artifacts/$target/" \
    -print_final_stats=1 "${extra[@]}"
