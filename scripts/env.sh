# Sourced by the scripts: the project's virtualenv and quiet, offline-friendly tool settings.
export SEQGEN_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export SEQGEN_VENV="${SEQGEN_VENV:-$SEQGEN_ROOT/.venv}"
export PATH="$SEQGEN_VENV/bin:$PATH"
export DVC_NO_ANALYTICS=1 GX_ANALYTICS_ENABLED=false MLFLOW_DISABLE_TELEMETRY=true
export PREFECT_SERVER_ANALYTICS_ENABLED=false DO_NOT_TRACK=1
# MLflow's per-file download bars (the register stage copies each registered model into models/mlflow/) say nothing.
export MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR=false
# Prefect keeps its database and settings in the project (the ephemeral and `prefect server start` servers).
export PREFECT_HOME="${PREFECT_HOME:-$SEQGEN_ROOT/.prefect}" PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS=90
# glibc malloc kept from mapping/unmapping large tensors every step (1.5x training throughput here).
export MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=100000000000 MALLOC_TOP_PAD_=1073741824
