#!/usr/bin/env bash
# The main job: set up, bring in the raw data, run the whole DVC pipeline (only stale stages run; outputs the DVC
# remote already holds are pulled instead of rebuilt), then push every output and the run-cache to the remote.
# Arguments go to `dvc repro` (e.g. scripts/run.sh validate@dialogue).
set -euo pipefail
here="$(dirname "$0")"
# SEQGEN_SKIP_SETUP=1: the caller's environment is already set up (the tests run this script from copies of the project).
[ "${SEQGEN_SKIP_SETUP:-}" = 1 ] || "$here/setup.sh"
source "$here/env.sh"
cd "$SEQGEN_ROOT"
"$here/restore-data.sh"
dvc repro --pull "$@"
"$here/push.sh"
