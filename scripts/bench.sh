#!/usr/bin/env bash
# Benchmarks (criterion): identity loading per key format and backend, and connection/operation
# cost against a local SecantusDB. Installs what it needs like scripts/test.sh.
#   scripts/bench.sh              every bench (identity, connect, topology, compare), both backends
#   scripts/bench.sh identity     one bench
#   scripts/bench.sh compare      only the side-by-side run against the official `mongodb` crate
#                                 (bench-compare/; table in target/bench-compare.md)
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/setup.sh
source scripts/setup.sh

PIDS=()
RUN_DIR=""
stop_all() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  [ -z "$RUN_DIR" ] || rm -rf "$RUN_DIR"
}

# start_ready NAME CMD...: runs CMD in the background and blocks (no polling) until it prints its
# first line, `READY <port> ...`, which is left in READY_LINE.
start_ready() {
  local name=$1 fd
  shift
  mkfifo "$RUN_DIR/$name"
  "$@" >"$RUN_DIR/$name" &
  PIDS+=($!)
  # Kept open for the whole run, so the process never writes to a closed pipe.
  exec {fd}<"$RUN_DIR/$name"
  if ! read -r -t 180 READY_LINE <&"$fd" || [[ $READY_LINE != READY* ]]; then
    echo "$name did not start (see its output above)" >&2
    exit 1
  fi
}

compare() {
  local certs=$PWD/target/bench-certs target=$PWD/target/bench-compare
  step "making certificates with the openssl CLI into $certs"
  bash scripts/gen-test-certs.sh "$certs" >/dev/null
  step "building bench-compare and compress_proxy (release; the official mongodb crate included)"
  CARGO_TARGET_DIR=$target cargo build --release --manifest-path bench-compare/Cargo.toml --bins

  RUN_DIR=$(mktemp -d)
  trap stop_all EXIT
  local user_dn tls_port plain_port proxy_port stats_port
  user_dn=$(sed -n 's/^client=//p' "$certs/subjects.txt")
  step "starting SecantusDB (TLS, --tls-require-client-cert, --auth, X.509 user $user_dn)"
  start_ready tls "$SECANTUS_VENV/bin/python3" scripts/test_server.py \
    --exe "$SECANTUS_VENV/bin/secantusd-py" --certs "$certs" --user "$user_dn" --wait signal
  tls_port=$(awk '{print $2}' <<<"$READY_LINE")
  step "starting a plain SecantusDB (no TLS, no auth) and the compressing proxy in front of it"
  start_ready plain "$SECANTUS_VENV/bin/python3" scripts/test_server.py \
    --exe "$SECANTUS_VENV/bin/secantusd-py" --plain --wait signal
  plain_port=$(awk '{print $2}' <<<"$READY_LINE")
  start_ready proxy "$target/release/compress_proxy" --upstream "127.0.0.1:$plain_port"
  proxy_port=$(awk '{print $2}' <<<"$READY_LINE")
  stats_port=$(awk '{print $3}' <<<"$READY_LINE")

  step "bench-compare: TLS server on $tls_port, proxy on $proxy_port (plain server on $plain_port)"
  "$target/release/bench-compare" --certs "$certs" --tls-port "$tls_port" \
    --proxy-port "$proxy_port" --proxy-stats "$stats_port" --out target/bench-compare.md
  stop_all
  PIDS=()
  RUN_DIR=""
  trap - EXIT
}

for b in ${@:-identity connect topology compare}; do
  if [ "$b" = compare ]; then
    compare
    continue
  fi
  step "cargo bench --bench $b (features openssl,native-tls)"
  cargo bench --features openssl,native-tls --bench "$b" 2>&1 | tee "target/bench-$b.txt"
done
