#!/usr/bin/env bash
# The test suite: set up (or reuse) the virtualenv, then pytest. Extra arguments go to pytest.
set -euo pipefail
here="$(dirname "$0")"
"$here/setup.sh"
# The registry tests start a real PostgreSQL server (behind an MLflow tracking server): install Debian's
# server package where it is missing. Without root or apt those tests skip, saying why.
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "[test] installing PostgreSQL (Debian package postgresql) for the registry tests"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql >/dev/null \
      || { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql >/dev/null; } \
      || echo "[test] could not install postgresql: the PostgreSQL tests will skip"
  else
    echo "[test] PostgreSQL is not installed and cannot be installed here: the PostgreSQL tests will skip"
  fi
fi
source "$here/env.sh"
cd "$SEQGEN_ROOT"
exec python -m pytest "$@"
