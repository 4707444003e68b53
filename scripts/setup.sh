#!/usr/bin/env bash
# Create (or reuse) the project virtualenv and install seqgen with pinned dependencies. Idempotent:
# a stamp named after the hash of pyproject.toml + requirements.lock skips the install when nothing changed.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$SEQGEN_ROOT"
stamp="$SEQGEN_VENV/.seqgen-installed-$(cat pyproject.toml requirements.lock | sha256sum | cut -c1-16)"
if [ -f "$stamp" ]; then
  exit 0
fi
echo "[setup] creating virtualenv $SEQGEN_VENV and installing dependencies (about 2 minutes the first time)"
python3 -m venv "$SEQGEN_VENV"
quiet() { "$@" 2> >(grep -v "is ignored: it is neither a file nor a directory" >&2); }
# torch first and pinned: an unpinned resolve could pull a multi-GB CUDA build on a CPU machine.
quiet pip install -q --disable-pip-version-check torch==2.13.0
# The distribution was called `seqgen` until it took a name of its own (PyPI's seqgen is another project): a
# virtualenv from before would keep both.
pip uninstall -q -y seqgen 2>/dev/null || true
quiet pip install -q --disable-pip-version-check -c requirements.lock -e '.[dev]'
rm -f "$SEQGEN_VENV"/.seqgen-installed-*
touch "$stamp"
echo "[setup] done"
