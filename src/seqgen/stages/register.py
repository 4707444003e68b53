"""Stage `register@<task>-<family>`: put models/<task>-<family> in the MLflow Model Registry and run the gate.

Logs the model as a pyfunc (models-from-code carrying seqgen's code, tokenizer and configs as artifacts,
signature, input example), registers it as version N of `<task>-<family>` with alias `challenger` and tags for
its git commit, profile, DVC data md5s, the train stage's dvc.lock entry (its lineage), metrics and test data
version, then runs the promotion gate (params: registry.<task>), writes the decision to
reports/promotion/<task>-<family>.json and a copy of the registered MLflow model to models/mlflow/<task>-<family>
(a DVC output: another clone serves it after `dvc pull`, with no registry of its own).
A refused challenger is not an error: the stage succeeds and the champion stays.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from seqgen.config import from_mapping, load_params, task_section, task_spec
from seqgen.paths import project_file
from seqgen.stages.common import log, run_stage
from seqgen.stages.train import FAMILIES


def reevaluator(task: str, params: dict, root: Path):
    """evaluate() of a registered version on the current test data (when the champion was measured on other data)."""

    def reevaluate(version) -> dict[str, Any]:
        import tempfile

        import mlflow

        from seqgen.evaluation.evaluate import EvaluateConfig, evaluate
        from seqgen.models.store import load_model_dir

        log("register", f"re-evaluating champion version {version.version} on the current test data")
        cfg = from_mapping(EvaluateConfig, task_section(params, task, "evaluate"), f"tasks.{task}.evaluate")
        with tempfile.TemporaryDirectory(prefix="seqgen-champion-") as tmp:
            local = Path(mlflow.artifacts.download_artifacts(artifact_uri=f"models:/{version.name}/{version.version}", dst_path=tmp))
            metrics, _ = evaluate(load_model_dir(local / "artifacts" / "model"), root / "data/interim" / task, root / "data/processed" / task, cfg,
                                  test_sets=task_spec(params, task).test_sets)
        return metrics

    return reevaluate


def register(task: str, family: str, params: dict, root: Path = Path(".")) -> dict[str, Any]:
    """Register models/<task>-<family> and gate it; returns the decision record (also written as JSON)."""
    import json

    import mlflow

    from seqgen.io import write_json_atomic
    from seqgen.registry.gate import GateConfig
    from seqgen.registry.register import CHALLENGER, RegistryError, export_version, gate, log_version, registry_lock, test_data_version
    from seqgen.tracking import configure

    name = f"{task}-{family}"
    gate_cfg = from_mapping(GateConfig, task_section(params, task, "registry"), f"tasks.{task}.registry")
    metrics_path = root / "metrics" / f"{name}.json"
    try:
        metrics = json.loads(metrics_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RegistryError(f"{metrics_path}: missing (run evaluate@{name} first)") from None
    decoding = task_section(params, task, "evaluate")
    interim = root / "data" / "interim" / task
    configure(root)
    with registry_lock(root):
        version = log_version(name, task, root / "models" / name, metrics, decoding, params, interim, root)
        mlflow.MlflowClient().set_registered_model_alias(name, CHALLENGER, version.version)
        result = gate(name, version.version, gate_cfg, test_data_version(interim), reevaluator(task, params, root), root)
    export_version(name, version.version, root / "models" / "mlflow" / name)
    record = result.as_dict()
    write_json_atomic(root / "reports" / "promotion" / f"{name}.json", record)
    log("register", f"{name} version {version.version}: {result.decision.reason}; champion: {result.champion_after}")
    return record


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m seqgen.stages.register", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("task", help="which task (a name under `tasks:` in params.yaml)")
    parser.add_argument("family", choices=FAMILIES)
    parser.add_argument("--params", type=project_file, default=Path("params.yaml"), help="params file (default: %(default)s)")
    args = parser.parse_args(argv)
    def body() -> None:
        from mlflow.exceptions import MlflowException

        from seqgen.registry.register import RegistryError

        try:
            register(args.task, args.family, load_params(args.params))
        except MlflowException as err:  # e.g. a tracking server that is down: say so in one line (retrying may help)
            import mlflow

            raise RegistryError(f"MLflow tracking store {mlflow.get_tracking_uri()}: {str(err).splitlines()[0][:500]}") from None

    return run_stage(f"register@{args.task}-{args.family}", body)


if __name__ == "__main__":
    sys.exit(main())
