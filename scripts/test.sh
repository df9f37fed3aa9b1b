#!/usr/bin/env bash
# The test command (README): installs what the tests need, then checks and tests every feature set.
#
#   scripts/test.sh            everything: fmt, clippy, docs, tests for every feature set
#   FEATURE_SETS="default" scripts/test.sh     only some sets (names below)
#
# Installs, when missing: the openssl CLI and OpenSSL headers (apt-get, as root), and the
# SecantusDB test server (PyPI package `secantusdb`) into .venv. Certificates are made by
# scripts/gen-test-certs.sh (the tests call it), the server is started by the tests themselves
# (tests/common/server.rs) and stopped when they end.
set -euo pipefail
cd "$(dirname "$0")/.."

# shellcheck source=scripts/setup.sh
source scripts/setup.sh

# --- checks and tests ----------------------------------------------------------------------------
# Compression codecs and the blocking API (sync): on in "both", off in the others (default and
# none keep the lean tree).
COMPRESSION="zstd-compression,zlib-compression,snappy-compression"
declare -A FLAGS=(
  [default]=""
  [native-tls]="--no-default-features --features native-tls"
  [both]="--features native-tls,sync,$COMPRESSION"
  [none]="--no-default-features"
)
SETS=${FEATURE_SETS:-"default native-tls both none"}

# Disk: four feature sets of ~45 test binaries each filled a CI disk once. No incremental caches
# (a clean clone never reuses them), line tables only (Cargo.toml's dev profile), and each set's
# own binaries removed before the next set builds (dependencies stay, so nothing is rebuilt twice).
export CARGO_INCREMENTAL=0
# And no debug info at all here (panic messages keep their file:line; only backtraces lose it):
# a test binary takes 20 MB instead of 45, dependencies half the space. Override to debug.
export CARGO_PROFILE_DEV_DEBUG=${CARGO_PROFILE_DEV_DEBUG:-0}
export CARGO_PROFILE_DEV_STRIP=${CARGO_PROFILE_DEV_STRIP:-debuginfo}
disk() { echo "disk: target $(du -sh target 2>/dev/null | cut -f1), free $(df -h . | awk 'NR==2{print $4}')"; }

step "cargo fmt --check"
cargo fmt --all -- --check

for set in $SETS; do
  flags=${FLAGS[$set]}
  step "clippy [$set]"
  # shellcheck disable=SC2086
  cargo clippy --all-targets $flags -- -D warnings
  step "doc [$set]"
  # shellcheck disable=SC2086
  RUSTDOCFLAGS="-D warnings" cargo doc --no-deps $flags
  step "test [$set]"
  # shellcheck disable=SC2086
  cargo test --no-fail-fast $flags
  disk
  cargo clean --quiet -p mongo-x509
done

step "all feature sets passed: $SETS"
