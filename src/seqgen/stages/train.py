"""Stage `train@<task>-<family>`: train one model family on one task -> models/<task>-<family>/.

Families: mle (the Transformer baseline), vae (conditional VAE, warm-started from mle), gan (sequence GAN,
generator warm-started from mle). Resumes from .checkpoints/<task>-<family>/ after an interruption.
Run under `torchrun --nproc_per_node K -m seqgen.stages.train ...` for data parallelism.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from pathlib import Path
from typing import Any

from seqgen.config import from_mapping, load_params, section, task_section, task_spec
from seqgen.paths import project_file
from seqgen.stages.common import run_stage

FAMILIES = ("mle", "vae", "gan")


@dataclasses.dataclass(frozen=True)
class FamilyParams:
    trainer: Any  # TrainConfig
    vae: Any = None  # VAEConfig, vae family only
    gan: Any = None  # GANConfig, gan family only


def build_job(task: str, family: str, params: dict, root: Path = Path("."), stop_after: int | None = None):
    """Everything the trainer needs, from params and the files of the earlier stages."""
    import torch

    from seqgen.data.tokenization import Tokenizer, load_encoded
    from seqgen.models.gan import Discriminator
    from seqgen.models.store import build_family_model
    from seqgen.models.transformer import ModelConfig
    from seqgen.models.vae import VAEConfig
    from seqgen.training.objectives import GANConfig, GANObjective, MLEObjective, VAEObjective
    from seqgen.training.trainer import RunConfig, TrainConfig, TrainingJob, file_md5

    fields = {"trainer": TrainConfig, "vae": VAEConfig, "gan": GANConfig}
    spec = task_section(params, task, f"train.{family}")
    family_params = FamilyParams(**{k: from_mapping(fields[k], v, f"tasks.{task}.train.{family}.{k}") for k, v in _checked(spec, family, task).items()})
    run = from_mapping(RunConfig, section(params, "train.run"), "train.run")
    data = root / "data" / "processed" / task
    tokenizer = Tokenizer(data / "spm.model")
    model_cfg = from_mapping(ModelConfig, task_section(params, task, "model"), f"tasks.{task}.model")
    model_cfg = dataclasses.replace(model_cfg, vocab_size=tokenizer.vocab_size)
    torch.manual_seed(run.seed)  # initial weights
    model = build_family_model(family, model_cfg, family_params.vae.latent if family == "vae" else None)
    fingerprint = {"task": task, "family": family, "params": spec, "model": dataclasses.asdict(model_cfg), "run": dataclasses.asdict(run),
                   "data": {name: file_md5(data / f"{name}.npz") for name in ("train", "valid")}}
    warm_start = None
    if family in ("vae", "gan"):
        warm_start = root / "models" / f"{task}-mle" / "model.pt"
        if not warm_start.is_file():
            from seqgen.errors import DataError

            raise DataError(f"{warm_start}: the {family} model warm-starts from the mle model; train {task}-mle first")
        state = torch.load(warm_start, map_location="cpu", weights_only=True)
        (model.seq2seq if family == "vae" else model).load_state_dict(state)
        fingerprint["warm_start"] = file_md5(warm_start)
    if family == "mle":
        objective = MLEObjective(model)
    elif family == "vae":
        objective = VAEObjective(model, family_params.vae)
    else:
        discriminator = Discriminator(family_params.gan.discriminator, model_cfg.vocab_size, model_cfg.max_len)
        objective = GANObjective(model, discriminator, family_params.gan)
    bleu = None
    if family_params.trainer.select_best_by == "valid_bleu":
        from seqgen.evaluation.bleu import batches_bleu

        bleu = lambda objective, batches: batches_bleu(objective, batches, tokenizer, model_cfg.max_len)  # noqa: E731
    job = TrainingJob(
        name=f"{task}-{family}",
        objective=objective,
        train=load_encoded(data / "train.npz"),
        valid=load_encoded(data / "valid.npz"),
        cfg=family_params.trainer,
        run=run,
        max_len=model_cfg.max_len,
        checkpoint_dir=root / ".checkpoints" / f"{task}-{family}",
        fingerprint=fingerprint,
        metrics_path=root / "plots" / "train" / f"{task}-{family}.tsv",
        bleu=bleu,
        stop_after=stop_after,
    )
    return job, model_cfg, data / "spm.model", fingerprint


def _checked(spec: Any, family: str, task: str) -> dict:
    from seqgen.errors import ConfigError

    if not isinstance(spec, dict):
        raise ConfigError(f"tasks.{task}.train.{family}: expected a mapping")
    allowed = {"mle": {"trainer"}, "vae": {"trainer", "vae"}, "gan": {"trainer", "gan"}}[family]
    if set(spec) != allowed:
        raise ConfigError(f"tasks.{task}.train.{family}: expected exactly the keys {sorted(allowed)}, got {sorted(spec)}")
    return spec


def train(task: str, family: str, params: dict, root: Path = Path("."), stop_after: int | None = None) -> dict[str, Any]:
    """Train, then write models/<task>-<family>/ (rank 0). Returns the training summary."""
    from seqgen.models.store import save_model_dir
    from seqgen.training import distributed
    from seqgen.training.trainer import Trainer

    job, model_cfg, tokenizer_path, fingerprint = build_job(task, family, params, root, stop_after)
    trainer = Trainer(job)
    try:
        summary = trainer.fit()
        if summary["finished"] and trainer.rank == 0:
            from seqgen.profiles import current
            from seqgen.tracking import git_state

            summary.update(git_state(root), profile=current(params), data_md5=fingerprint["data"], warm_start_md5=fingerprint.get("warm_start"))
            save_model_dir(root / "models" / f"{task}-{family}", family, task, job.objective.model, trainer.final_state_dict(), model_cfg, tokenizer_path, summary,
                           kind=task_spec(params, task).kind)
            trainer.cleanup()
        distributed.barrier()
    finally:
        distributed.shutdown()
    return summary


def log_training_run(task: str, family: str, params: dict, root: Path = Path(".")) -> None:
    """The finished run in MLflow: params, the per-step curves from plots/train, the training summary."""
    import csv

    import mlflow

    from seqgen.tracking import stage_run

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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m seqgen.stages.train", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("task", help="which task (a name under `tasks:` in params.yaml)")
    parser.add_argument("family", choices=FAMILIES)
    parser.add_argument("--params", type=project_file, default=Path("params.yaml"), help="params file (default: %(default)s)")
    args = parser.parse_args(argv)

    def body() -> None:
        params = load_params(args.params)
        summary = train(args.task, args.family, params)
        print(f"[train {args.task}-{args.family}] {summary['steps']} steps, {summary['tokens_per_s']} target tokens/s, final {summary['final']}", file=sys.stderr)
        if summary.get("finished") and int(os.environ.get("RANK", "0")) == 0:
            log_training_run(args.task, args.family, params)

    return run_stage(f"train@{args.task}-{args.family}", body)


if __name__ == "__main__":
    sys.exit(main())
