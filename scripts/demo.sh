#!/usr/bin/env bash
# The demo, on a fresh machine, in one command:
#   makes certificates, starts a local SecantusDB with TLS, required client certificates and
#   --auth, creates the X.509 user, runs examples/x509_connect.rs with an ENCRYPTED key on each
#   TLS backend (a CRUD round trip included), then stops the server.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/setup.sh
source scripts/setup.sh

CERTS=$PWD/target/demo-certs
step "making certificates with the openssl CLI into $CERTS"
bash scripts/gen-test-certs.sh "$CERTS" >/dev/null
USER_DN=$(sed -n 's/^client=//p' "$CERTS/subjects.txt")

step "building the example (both backends compiled in)"
cargo build --quiet --example x509_connect --features openssl,native-tls

step "starting SecantusDB (TLS, --tls-require-client-cert, --auth) with X.509 user $USER_DN"
READY=$(mktemp)
"$SECANTUS_VENV/bin/python3" scripts/test_server.py --exe "$SECANTUS_VENV/bin/secantusd-py" \
  --certs "$CERTS" --user "$USER_DN" --wait signal >"$READY" &
SERVER_PID=$!
trap 'kill $SERVER_PID 2>/dev/null; wait $SERVER_PID 2>/dev/null; rm -f "$READY"' EXIT
for _ in $(seq 600); do
  grep -q READY "$READY" && break
  kill -0 $SERVER_PID 2>/dev/null || { echo "the server did not start (see above)" >&2; exit 1; }
  sleep 0.1
done
PORT=$(awk '/READY/ {print $2}' "$READY")
[ -n "$PORT" ] || { echo "the server did not become ready in 60 s" >&2; exit 1; }

enc() { python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$1"; }
PASSWORD=$(cat "$CERTS/password.txt")
for backend_file in "openssl client-pkcs8-aes256.pem" "native-tls client-pkcs8-aes256.pem" \
                    "openssl client-legacy.p12" "native-tls client-legacy.p12"; do
  set -- $backend_file
  URI="mongodb://localhost:$PORT/?tls=true&tlsCAFile=$(enc "$CERTS/ca.pem")"
  URI+="&tlsCertificateKeyFile=$(enc "$CERTS/$2")&tlsCertificateKeyFilePassword=$(enc "$PASSWORD")"
  URI+="&authMechanism=MONGODB-X509&tlsBackend=$1"
  step "backend $1, encrypted key $2"
  echo "MONGODB_URI=${URI//$(enc "$PASSWORD")/<password>}"
  MONGODB_URI=$URI ./target/debug/examples/x509_connect
done
step "demo finished: both backends authenticated with X.509 and did a CRUD round trip"
