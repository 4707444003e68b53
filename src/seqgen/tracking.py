"""MLflow tracking with an embedded default: a SQLite file and a local artifact folder in the project,
so nothing has to be started by hand. `MLFLOW_TRACKING_URI` overrides (e.g. a tracking server)."""

from __future__ import annotations

import os
from pathlib import Path

EXPERIMENT = "seqgen"


def configure(root: Path = Path(".")) -> str:
    """Point MLflow at the tracking store and make sure the experiment exists; returns the tracking URI."""
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    import mlflow

    root = root.resolve()
    explicit = os.environ.get("MLFLOW_TRACKING_URI")  # read first: set_tracking_uri() exports it too
    uri = explicit or f"sqlite:///{root / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    if mlflow.get_experiment_by_name(EXPERIMENT) is None:
        # An explicit artifact location: otherwise artifacts land in ./mlruns of whatever the cwd is.
        location = None if explicit else (root / "mlartifacts").as_uri()
        mlflow.create_experiment(EXPERIMENT, artifact_location=location)
    mlflow.set_experiment(EXPERIMENT)
    return uri
