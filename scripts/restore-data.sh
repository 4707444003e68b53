#!/usr/bin/env bash
# Bring the raw corpora (DVC imports under data/raw) into the workspace, at the version recorded in git: from the
# DVC remote where it holds them (`make run` pushes them there), else by re-importing from the source recorded in
# the .dvc file (`dvc update`), which also tells whether the source still matches the recorded version.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$SEQGEN_ROOT"
for spec in data/raw/*.dvc; do
  out="${spec%.dvc}"
  if [ -e "$out" ]; then
    continue
  fi
  if dvc pull -q "$spec" 2>/dev/null; then
    echo "[data] $out: pulled the version recorded in $spec from the DVC remote"
    continue
  fi
  echo "[data] $out: not in the DVC remote; importing it from the source recorded in $spec"
  dvc update -q "$spec"
  if ! git diff --quiet -- "$spec" 2>/dev/null; then
    echo "[data] WARNING: the source of $out differs from the version recorded in git ($spec changed):" >&2
    git --no-pager diff --stat -- "$spec" >&2
    echo "[data] the pipeline will run on the new data version; commit $spec to keep it, or 'git checkout $spec' and restore the old source." >&2
  fi
done
