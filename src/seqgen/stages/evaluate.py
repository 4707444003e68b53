"""Stage `evaluate@<task>-<family>`: score models/<task>-<family> on the test data.

Writes metrics/<task>-<family>.json (DVC metrics) and reports/samples/<task>-<family>.jsonl (source,
reference, hypothesis; sampled responses for dialogue).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from seqgen.config import from_mapping, load_params, section, task_section, task_spec
from seqgen.paths import project_file
from seqgen.stages.common import log, run_stage
from seqgen.stages.train import FAMILIES


def log_evaluation_run(task: str, family: str, params: dict, metrics: dict, root: Path = Path(".")) -> None:
    """The evaluation in MLflow: decoding params, every numeric metric (per test set too), the samples."""
    import mlflow

    from seqgen.tracking import metrics_by_dataset, stage_run

    name = f"{task}-{family}"
    with stage_run(f"evaluate@{name}", task, params, {"evaluate": params["tasks"][task]["evaluate"]}, root):
        mlflow.set_tag("model", name)
        for dataset, numbers in metrics_by_dataset(task_spec(params, task), metrics, root):  # each number names the test set it was measured on
            mlflow.log_metrics(numbers, dataset=dataset)
        mlflow.log_artifact(str(root / "metrics" / f"{name}.json"))
        mlflow.log_artifact(str(root / "reports" / "samples" / f"{name}.jsonl"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m seqgen.stages.evaluate", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("task", help="which task (a name under `tasks:` in params.yaml)")
    parser.add_argument("family", choices=FAMILIES)
    parser.add_argument("--params", type=project_file, default=Path("params.yaml"), help="params file (default: %(default)s)")
    args = parser.parse_args(argv)

    def body() -> None:
        import torch

        from seqgen.evaluation.evaluate import EvaluateConfig, evaluate
        from seqgen.io import write_json_atomic, write_jsonl_atomic
        from seqgen.models.store import load_model_dir

        params = load_params(args.params)
        cfg = from_mapping(EvaluateConfig, task_section(params, args.task, "evaluate"), f"tasks.{args.task}.evaluate")
        torch.set_num_threads(section(params, "train.run.threads"))
        name = f"{args.task}-{args.family}"
        loaded = load_model_dir(Path("models") / name)
        spec = task_spec(params, args.task, args.params)
        metrics, samples = evaluate(loaded, Path("data/interim") / args.task, Path("data/processed") / args.task, cfg, test_sets=spec.test_sets)
        write_json_atomic(Path("metrics") / f"{name}.json", metrics)
        write_jsonl_atomic(Path("reports/samples") / f"{name}.jsonl", samples)
        headline = {k: round(v, 3) for k, v in metrics.items() if isinstance(v, float)}
        log("evaluate", f"{name}: {headline}")
        log_evaluation_run(args.task, args.family, params, metrics)

    return run_stage(f"evaluate@{args.task}-{args.family}", body)


if __name__ == "__main__":
    sys.exit(main())
