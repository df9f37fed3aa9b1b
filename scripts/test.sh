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
# Compression codecs: on in "both", off in the others (default and none keep the lean tree).
COMPRESSION="zstd-compression,zlib-compression,snappy-compression"
declare -A FLAGS=(
  [default]=""
  [native-tls]="--no-default-features --features native-tls"
  [both]="--features native-tls,$COMPRESSION"
  [none]="--no-default-features"
)
SETS=${FEATURE_SETS:-"default native-tls both none"}

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
  cargo test $flags
done

step "all feature sets passed: $SETS"
