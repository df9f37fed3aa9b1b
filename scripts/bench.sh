#!/usr/bin/env bash
# Benchmarks (criterion): identity loading per key format and backend, and connection/operation
# cost against a local SecantusDB. Installs what it needs like scripts/test.sh.
#   scripts/bench.sh              every bench (identity, connect, topology), both backends
#   scripts/bench.sh identity     one bench
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/setup.sh
source scripts/setup.sh
for b in ${@:-identity connect topology}; do
  step "cargo bench --bench $b (features openssl,native-tls)"
  cargo bench --features openssl,native-tls --bench "$b" 2>&1 | tee "target/bench-$b.txt"
done
