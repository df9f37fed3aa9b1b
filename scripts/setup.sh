# Sourced by scripts/test.sh and scripts/demo.sh: installs what they need when it is missing and
# exports SECANTUS_VENV (the venv holding the SecantusDB test server).
#   - the openssl CLI and OpenSSL headers (apt-get, when run as root on Debian/Ubuntu)
#   - SecantusDB (PyPI package `secantusdb`) into $SECANTUS_VENV (default: .venv)

step() { printf '\n=== %s\n' "$*"; }

need_apt=()
command -v openssl >/dev/null || need_apt+=(openssl)
pkg-config --exists openssl 2>/dev/null || need_apt+=(libssl-dev pkg-config)
command -v python3 >/dev/null || need_apt+=(python3 python3-venv)
if [ ${#need_apt[@]} -gt 0 ]; then
  step "installing ${need_apt[*]}"
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}"
  else
    echo "missing: ${need_apt[*]}; install them (Debian/Ubuntu: apt-get install ${need_apt[*]})" >&2
    exit 1
  fi
fi

SECANTUS_VENV=${SECANTUS_VENV:-$PWD/.venv}
if [ ! -x "$SECANTUS_VENV/bin/secantusd-py" ]; then
  step "installing SecantusDB (PyPI: secantusdb) into $SECANTUS_VENV"
  python3 -m venv "$SECANTUS_VENV"
  "$SECANTUS_VENV/bin/pip" install --quiet --disable-pip-version-check secantusdb
fi
"$SECANTUS_VENV/bin/secantusd-py" --help >/dev/null
export SECANTUS_VENV
