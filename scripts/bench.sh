#!/usr/bin/env bash
# Benchmarks (criterion): identity loading per key format and backend, and connection/operation
# cost against a local SecantusDB. Installs what it needs like scripts/test.sh.
#   scripts/bench.sh              every bench (identity, connect, topology, compare), both backends
#   scripts/bench.sh identity     one bench
#   scripts/bench.sh compare      only the side-by-side run against the official `mongodb` crate
#                                 (bench-compare/; table in target/bench-compare.md)
#   scripts/bench.sh callgrind    client instructions per operation, both crates, counted with
#                                 valgrind's callgrind (table in target/bench-callgrind.md); with
#                                 CALLGRIND_BEFORE=BIN (callgrind_ops built from another commit)
#                                 and CALLGRIND_BEFORE_LABEL=TEXT, a column for that build too;
#                                 CALLGRIND_ONLY=find_one,insert_one: those rows only
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

CERTS=$PWD/target/bench-certs
BENCH_TARGET=$PWD/target/bench-compare

# build_bench_compare: certificates and the release build of bench-compare's binaries.
build_bench_compare() {
  step "making certificates with the openssl CLI into $CERTS"
  bash scripts/gen-test-certs.sh "$CERTS" >/dev/null
  step "building bench-compare's binaries (release; the official mongodb crate included)"
  CARGO_TARGET_DIR=$BENCH_TARGET cargo build --release --manifest-path bench-compare/Cargo.toml --bins
}

# start_tls_server: SecantusDB with TLS, required client certificates, --auth and the X.509 user;
# its port in TLS_PORT. Stopped by stop_all.
start_tls_server() {
  RUN_DIR=$(mktemp -d)
  trap stop_all EXIT
  local user_dn
  user_dn=$(sed -n 's/^client=//p' "$CERTS/subjects.txt")
  step "starting SecantusDB (TLS, --tls-require-client-cert, --auth, X.509 user $user_dn)"
  start_ready tls "$SECANTUS_VENV/bin/python3" scripts/test_server.py \
    --exe "$SECANTUS_VENV/bin/secantusd-py" --certs "$CERTS" --user "$user_dn" --wait signal
  TLS_PORT=$(awk '{print $2}' <<<"$READY_LINE")
}

stop_servers() {
  stop_all
  PIDS=()
  RUN_DIR=""
  trap - EXIT
}

compare() {
  local certs=$CERTS target=$BENCH_TARGET
  build_bench_compare
  start_tls_server
  local tls_port=$TLS_PORT plain_port proxy_port stats_port
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
  stop_servers
}

# callgrind: instructions per operation of each client, counted by valgrind's callgrind (the
# server runs outside it); see bench-compare/src/bin/callgrind_ops.rs for the method.
callgrind() {
  if ! command -v valgrind >/dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      step "installing valgrind"
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq valgrind
    else
      echo "valgrind is missing; install it (Debian/Ubuntu: apt-get install valgrind)" >&2
      exit 1
    fi
  fi
  build_bench_compare
  start_tls_server
  local uri before=()
  uri="mongodb://127.0.0.1:$TLS_PORT/?directConnection=true&maxPoolSize=1"
  uri+="&heartbeatFrequencyMS=60000&tls=true&tlsCAFile=${CERTS//\//%2F}%2Fca.pem"
  uri+="&tlsCertificateKeyFile=${CERTS//\//%2F}%2Fclient-pkcs8.pem&authMechanism=MONGODB-X509"
  if [ -n "${CALLGRIND_BEFORE:-}" ]; then
    before=(--before "$CALLGRIND_BEFORE" --before-label "${CALLGRIND_BEFORE_LABEL:-before}")
  fi
  # The table runs a copy: it re-runs its own binary for 30 minutes, and a build in the
  # meantime (of another commit, for --before) must not replace it halfway.
  local bin=$BENCH_TARGET/callgrind_ops-run
  cp "$BENCH_TARGET/release/callgrind_ops" "$bin"
  step "callgrind_ops: preparing the collections, then each client under callgrind"
  "$bin" prepare --uri "$uri"
  rm -rf target/callgrind
  "$bin" table --uri "$uri" --work target/callgrind --out target/bench-callgrind.md \
    ${CALLGRIND_ONLY:+--only "$CALLGRIND_ONLY"} "${before[@]}"
  stop_servers
}

for b in ${@:-identity connect topology compare}; do
  if [ "$b" = compare ] || [ "$b" = callgrind ]; then
    "$b"
    continue
  fi
  step "cargo bench --bench $b (features openssl,native-tls)"
  cargo bench --features openssl,native-tls --bench "$b" 2>&1 | tee "target/bench-$b.txt"
done
