#!/usr/bin/env bash
# The test suite: set up (or reuse) the virtualenv, then pytest. Extra arguments go to pytest.
set -euo pipefail
here="$(dirname "$0")"
"$here/setup.sh"
source "$here/env.sh"
cd "$SEQGEN_ROOT"
exec python -m pytest "$@"
