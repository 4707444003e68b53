"""MLflow tracking with an embedded default, and the lineage every run and model version carries.

Default store: a SQLite file and an artifact folder in the project root, so nothing has to be started by
hand. The root is found from this file's location, not the working directory, so `dvc exp run --temp`
and queued experiments (which run in a copy under .dvc/tmp) still log to the project's store.
`MLFLOW_TRACKING_URI` overrides (e.g. a tracking server backed by PostgreSQL).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from pathlib import Path
from typing import Any, Iterator

import yaml

EXPERIMENT = "seqgen"
RAW_DATA = {"translation": "data/raw/multi30k", "dialogue": "data/raw/dailydialog"}


def project_root(start: Path = Path(".")) -> Path:
    """The project whose store to use: the git top level of `start`, or of the main worktree when
    `start` is a DVC experiment's temporary copy (.dvc/tmp/exps/...)."""
    start = start.resolve()
    parts = start.parts
    if ".dvc" in parts:  # a temp experiment workspace lives under <project>/.dvc/tmp/exps/
        return Path(*parts[: parts.index(".dvc")])
    return start


def default_uri(root: Path) -> str:
    return f"sqlite:///{project_root(root) / 'mlflow.db'}"


def configure(root: Path = Path(".")) -> str:
    """Point MLflow at the tracking store and make sure the experiment exists; returns the tracking URI."""
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    import mlflow

    explicit = os.environ.get("MLFLOW_TRACKING_URI")  # read first: set_tracking_uri() exports it too
    uri = explicit or default_uri(root)
    mlflow.set_tracking_uri(uri)
    if mlflow.get_experiment_by_name(EXPERIMENT) is None:
        # An explicit artifact location for a SQLite store (beside the database file): otherwise
        # artifacts land in ./mlruns of whatever the cwd is. A tracking server chooses its own.
        location = None
        if uri.startswith("sqlite:///"):
            location = (Path(uri[len("sqlite:///"):]).parent / "mlartifacts").as_uri()
        try:
            mlflow.create_experiment(EXPERIMENT, artifact_location=location)
        except mlflow.exceptions.MlflowException:
            if mlflow.get_experiment_by_name(EXPERIMENT) is None:  # not a concurrent create: a real error
                raise
    mlflow.set_experiment(EXPERIMENT)
    return uri


def git_state(root: Path = Path(".")) -> dict[str, Any]:
    def git(*args: str) -> str:
        result = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True)
        return result.stdout.strip() if result.returncode == 0 else ""

    return {"git_commit": git("rev-parse", "HEAD") or "unknown", "git_dirty": bool(git("status", "--porcelain", "--untracked-files=no"))}


def data_versions(task: str, root: Path = Path(".")) -> dict[str, str]:
    """DVC md5 of every data folder the task's models depend on (raw import, interim, processed), as
    recorded in dvc.lock; "unknown" where the lock file has no entry (e.g. a run outside DVC)."""
    paths = [RAW_DATA[task], f"data/interim/{task}", f"data/processed/{task}"]
    found: dict[str, str] = {}
    lock = root / "dvc.lock"
    if lock.is_file():
        stages = (yaml.safe_load(lock.read_text(encoding="utf-8")) or {}).get("stages", {})
        for stage in stages.values():
            for entry in [*stage.get("deps", []), *stage.get("outs", [])]:
                if entry.get("path") in paths and "md5" in entry:
                    found[entry["path"]] = entry["md5"]
    return {path: found.get(path, "unknown") for path in paths}


def lineage_tags(task: str, params: dict, root: Path = Path(".")) -> dict[str, str]:
    """Tags that make a run or model version reproducible: git commit and dirty flag, profile, data md5s."""
    git = git_state(root)
    tags = {"git_commit": git["git_commit"], "git_dirty": str(git["git_dirty"]).lower(), "profile": str(params.get("profile", "default")), "task": task}
    tags.update({f"dvc_md5:{path}": md5 for path, md5 in data_versions(task, root).items()})
    return tags


def flatten(mapping: dict, prefix: str = "") -> dict[str, Any]:
    """{"a": {"b": 1}} -> {"a.b": 1}, for logging nested params."""
    flat: dict[str, Any] = {}
    for key, value in mapping.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, name + "."))
        else:
            flat[name] = value
    return flat


@contextlib.contextmanager
def stage_run(stage: str, task: str, params: dict, logged_params: dict | None = None, root: Path = Path(".")) -> Iterator[Any]:
    """An MLflow run for one stage execution, tagged with its lineage; yields the active run."""
    import mlflow

    configure(root)
    with mlflow.start_run(run_name=stage) as run:
        mlflow.set_tags({"seqgen.stage": stage, **lineage_tags(task, params, root)})
        if logged_params:
            flat = {k: str(v)[:6000] for k, v in flatten(logged_params).items()}
            items = list(flat.items())
            for start in range(0, len(items), 100):  # MLflow accepts at most 100 params per batch
                mlflow.log_params(dict(items[start : start + 100]))
        yield run
