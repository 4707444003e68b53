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
# The remote tests push and pull through a real SSH server: Debian's openssh-server (not started as a service; the
# tests start their own sshd on loopback).
if ! command -v sshd >/dev/null && [ ! -x /usr/sbin/sshd ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "[test] installing openssh-server (Debian) for the SSH remote test"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q openssh-server >/dev/null \
      || { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q openssh-server >/dev/null; } \
      || echo "[test] could not install openssh-server: the SSH remote test will skip"
  else
    echo "[test] sshd is not installed and cannot be installed here: the SSH remote test will skip"
  fi
fi
# The web page test (tests/registry/test_web.py) drives a real headless browser: Debian's chromium and its chromedriver.
if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "[test] installing chromium and chromium-driver (Debian) for the web page test"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium chromium-driver >/dev/null \
      || { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium chromium-driver >/dev/null; } \
      || echo "[test] could not install chromium: the web page test will skip"
  else
    echo "[test] chromium/chromedriver are not installed and cannot be installed here: the web page test will skip"
  fi
fi
source "$here/env.sh"
cd "$SEQGEN_ROOT"
# One worker per core (pytest-xdist), each taking whole files: some files' tests build on each other. `-n 0`: serially.
exec python -m pytest -n auto --dist loadfile "$@"
