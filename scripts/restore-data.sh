#!/usr/bin/env bash
# Bring the raw corpora (DVC imports under data/raw) into the workspace. A fresh clone has no DVC cache,
# so `dvc pull` cannot restore an import; `dvc update` re-imports it from its source and tells us whether
# the source still matches the data version recorded in the .dvc file.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$SEQGEN_ROOT"
for spec in data/raw/*.dvc; do
  out="${spec%.dvc}"
  if [ -e "$out" ]; then
    continue
  fi
  echo "[data] importing $out from the source recorded in $spec"
  dvc update -q "$spec"
  if ! git diff --quiet -- "$spec" 2>/dev/null; then
    echo "[data] WARNING: the source of $out differs from the version recorded in git ($spec changed):" >&2
    git --no-pager diff --stat -- "$spec" >&2
    echo "[data] the pipeline will run on the new data version; commit $spec to keep it, or 'git checkout $spec' and restore the old source." >&2
  fi
done
