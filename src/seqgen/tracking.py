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
from typing import TYPE_CHECKING, Any, Iterator

import yaml

if TYPE_CHECKING:
    from seqgen.config import TaskSpec

EXPERIMENT = "seqgen"


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


def data_versions(task: str, raw: str, root: Path = Path(".")) -> dict[str, str]:
    """DVC md5 of every data folder the task's models depend on (raw import `raw`, interim, processed): the raw import's
    from its .dvc file, the others from the dvc.lock entry of the stage that writes them (a stage that merely reads
    a folder may hold an older md5 until it runs again); "unknown" where nothing records one."""
    paths = [raw, f"data/interim/{task}", f"data/processed/{task}"]
    outs: dict[str, str] = {}
    read: dict[str, str] = {}
    lock = root / "dvc.lock"
    if lock.is_file():
        for stage in ((yaml.safe_load(lock.read_text(encoding="utf-8")) or {}).get("stages") or {}).values():
            outs.update({entry["path"]: entry["md5"] for entry in stage.get("outs", []) if entry.get("path") in paths and "md5" in entry})
            read.update({entry["path"]: entry["md5"] for entry in stage.get("deps", []) if entry.get("path") in paths and "md5" in entry})
    spec = root / f"{raw}.dvc"
    if spec.is_file():
        outs.update({raw: entry["md5"] for entry in (yaml.safe_load(spec.read_text(encoding="utf-8")) or {}).get("outs", []) if "md5" in entry})
    return {path: outs.get(path, read.get(path, "unknown")) for path in paths}


def dvc_md5(path: Path) -> str:
    """The md5 DVC gives a file or folder (a folder's ends in .dir), computed here as DVC computes it."""
    import tempfile

    from dvc_data.hashfile.build import build
    from dvc_data.hashfile.db import HashFileDB
    from dvc_objects.fs.local import LocalFileSystem

    fs = LocalFileSystem()
    with tempfile.TemporaryDirectory(prefix="seqgen-md5-") as scratch:
        _, _, obj = build(HashFileDB(fs, scratch), str(Path(path).resolve()), fs, "md5")
    return obj.hash_info.value


def train_stage(task: str, family: str) -> str:
    return f"train-{family}@{task}"


def train_lineage(task: str, family: str, root: Path = Path(".")) -> tuple[dict[str, Any] | None, str]:
    """(the dvc.lock entry of the stage that trained models/<task>-<family>, "") when that entry describes the model
    folder as it is; else (None, why not). The entry names the code, data and params that trained the model, each
    with its md5: what `seqgen reproduce` rebuilds the model from."""
    from ruamel.yaml import YAML

    name, stage = f"{task}-{family}", train_stage(task, family)
    lock = root / "dvc.lock"
    # Read as DVC writes it, YAML 1.2: PyYAML (1.1) would read a param DVC wrote as `3e-05` as a string.
    entry = (YAML(typ="safe").load(lock.read_text(encoding="utf-8")) or {}).get("stages", {}).get(stage) if lock.is_file() else None
    if not entry:
        return None, f"dvc.lock has no {stage} entry (the model was not trained by `dvc repro`)"
    recorded = next((out.get("md5") for out in entry.get("outs", []) if out.get("path") == f"models/{name}"), None)
    actual = dvc_md5(root / "models" / name)
    if recorded != actual:
        return None, f"dvc.lock's {stage} entry records models/{name} as {recorded}, the folder is {actual} (trained outside `dvc repro`?)"
    return entry, ""


def lineage_tags(task: str, params: dict, root: Path = Path(".")) -> dict[str, str]:
    """Tags that make a run or model version reproducible: git commit and dirty flag, profile, data md5s."""
    from seqgen.config import task_spec
    from seqgen.profiles import current

    git = git_state(root)
    tags = {"git_commit": git["git_commit"], "git_dirty": str(git["git_dirty"]).lower(), "profile": current(params), "task": task}
    tags.update({f"dvc_md5:{path}": md5 for path, md5 in data_versions(task, task_spec(params, task).corpus.path, root).items()})
    return tags


def _dataset(name: str, source: str, digest: str):
    from mlflow.data.meta_dataset import MetaDataset
    from mlflow.data.sources import LocalArtifactDatasetSource

    return MetaDataset(LocalArtifactDatasetSource(source), name=name, digest=digest)


def log_data_inputs(task: str, raw: str, context: str, root: Path = Path(".")) -> None:
    """The run's inputs in MLflow: every data folder the task's models depend on, its DVC md5 as the digest (what
    `dvc pull` or `git checkout <commit> && dvc pull` brings back)."""
    import mlflow

    found = [(path, md5) for path, md5 in data_versions(task, raw, root).items() if md5 != "unknown"]
    if found:
        mlflow.log_inputs(datasets=[_dataset(path, path, md5) for path, md5 in found], contexts=[context] * len(found),
                          tags_list=[{"dvc_md5": md5} for _, md5 in found])


def metrics_by_dataset(spec: "TaskSpec", metrics: dict[str, Any], root: Path = Path(".")) -> list[tuple[Any, dict[str, float]]]:
    """[(test set as an MLflow dataset, its numeric metrics)], so that each number names the data it was measured on:
    `test_2017_flickr.bleu` on test_2017_flickr; the headline keys (`bleu`, `ppl`, ...) on the first test set, which
    they are copies of. The digest is the md5 of the split's file in data/interim/<task>/."""
    import hashlib

    task, test_sets = spec.name, spec.test_sets
    corpus = Path(spec.corpus.path).name
    numbers = {k: float(v) for k, v in flatten(metrics).items()
               if isinstance(v, (int, float)) and not isinstance(v, bool) and not k.startswith("decoding.")}  # settings, not measurements
    grouped = []
    for position, (test_set, split) in enumerate(test_sets.items()):
        path = f"data/interim/{task}/{split}.jsonl"
        digest = hashlib.md5((root / path).read_bytes()).hexdigest() if (root / path).is_file() else "unknown"
        own = {k: v for k, v in numbers.items() if k.startswith(f"{test_set}.")}
        if position == 0:  # the headline keys are this test set's
            own.update({k: v for k, v in numbers.items() if not any(k.startswith(f"{t}.") for t in test_sets)})
        grouped.append((_dataset(f"{corpus}/{test_set}", path, digest), own))
    return grouped


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
        from seqgen.config import task_spec

        log_data_inputs(task, task_spec(params, task).corpus.path, "training" if stage.startswith("train") else "evaluation", root)
        if logged_params:
            flat = {k: str(v)[:6000] for k, v in flatten(logged_params).items()}
            items = list(flat.items())
            for start in range(0, len(items), 100):  # MLflow accepts at most 100 params per batch
                mlflow.log_params(dict(items[start : start + 100]))
        yield run


def log_training_run(task: str, family: str, params: dict, root: Path = Path(".")) -> None:
    """A finished train stage in MLflow: its params, the per-step curves from plots/train, the training summary."""
    import csv

    import mlflow

    name = f"{task}-{family}"
    logged = {"model": params["tasks"][task]["model"], "train": {"run": params["train"]["run"], **params["tasks"][task]["train"][family]}}
    with stage_run(f"train@{name}", task, params, logged, root):
        mlflow.set_tag("model", name)
        curves = root / "plots" / "train" / f"{name}.tsv"
        rows = list(csv.DictReader(curves.open(encoding="utf-8"), delimiter="\t")) if curves.is_file() else []
        history = [
            mlflow.entities.Metric(key, float(value), 0, int(row["step"]))
            for row in rows for key, value in row.items() if key != "step" and value not in ("", None)
        ]
        client, run_id = mlflow.MlflowClient(), mlflow.active_run().info.run_id
        for start in range(0, len(history), 1000):  # MLflow takes at most 1000 metrics per batch
            client.log_batch(run_id, metrics=history[start : start + 1000])
        for artifact in (curves, root / "models" / name / "training.json"):
            if artifact.is_file():
                mlflow.log_artifact(str(artifact))


def log_evaluation_run(task: str, family: str, params: dict, metrics: dict, root: Path = Path(".")) -> None:
    """An evaluate stage in MLflow: decoding params, every numeric metric (per test set too), the samples."""
    import mlflow

    from seqgen.config import task_spec

    name = f"{task}-{family}"
    with stage_run(f"evaluate@{name}", task, params, {"evaluate": params["tasks"][task]["evaluate"]}, root):
        mlflow.set_tag("model", name)
        for dataset, numbers in metrics_by_dataset(task_spec(params, task), metrics, root):  # each number names the test set it was measured on
            mlflow.log_metrics(numbers, dataset=dataset)
        mlflow.log_artifact(str(root / "metrics" / f"{name}.json"))
        mlflow.log_artifact(str(root / "reports" / "samples" / f"{name}.jsonl"))
