#!/usr/bin/env bash
# Push the data imports, every stage output and the run-cache to the default DVC remote (`dvc remote list`).
# A failed push loses nothing: `dvc repro` already keeps every output in the local cache (.dvc/cache), and
# running this again (or `dvc push --run-cache`) sends what the remote lacks.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$SEQGEN_ROOT"
remote="$(dvc remote default 2>/dev/null || true)"
if [ -z "$remote" ]; then
  echo "[push] no default DVC remote: the outputs stay in the local cache only. Add one with" >&2
  echo "[push]   dvc remote add -d storage /path/to/folder   (or ssh://, s3://, gs://: see README.md, 'Remote storage')" >&2
  exit 1
fi
if ! dvc push --run-cache; then
  url="$(dvc config "remote.$remote.url" 2>/dev/null || echo '?')"
  echo "[push] could not push to the DVC remote '$remote' ($url): the outputs are safe in the local cache (.dvc/cache)." >&2
  echo "[push] fix the remote (reachable? writable?), then run scripts/push.sh (or dvc push --run-cache) to send them." >&2
  exit 1
fi
