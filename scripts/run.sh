#!/usr/bin/env bash
# The main job: set up, bring in the raw data, run the whole DVC pipeline (only stale stages run).
set -euo pipefail
here="$(dirname "$0")"
"$here/setup.sh"
source "$here/env.sh"
cd "$SEQGEN_ROOT"
"$here/restore-data.sh"
dvc repro "$@"
