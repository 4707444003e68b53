"""The composition root of training: params and the earlier stages' files -> a TrainingJob -> a model folder.

`train(task, family, params)` is what the train stage runs (and bench, the tests and the retrain flow's
stages with it); `build_job` is the part before the loop, for callers that drive the Trainer themselves.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, NamedTuple

import torch

from seqgen import families
from seqgen.config import from_mapping, section, task_section, task_spec
from seqgen.data.tokenization import Tokenizer, load_encoded
from seqgen.errors import DataError
from seqgen.families.base import read_settings
from seqgen.models.transformer import ModelConfig
from seqgen.training.trainer import RunConfig, Trainer, TrainingJob, file_md5


class BuiltJob(NamedTuple):
    job: TrainingJob
    model_cfg: ModelConfig
    tokenizer_path: Path
    fingerprint: dict[str, Any]


def build_job(task: str, family: str, params: dict, root: Path = Path("."), stop_after: int | None = None) -> BuiltJob:
    """Everything the trainer needs, from params and the files of the earlier stages."""
    behaviour = families.get(family)
    spec = task_section(params, task, f"train.{family}")
    settings = read_settings(behaviour, spec, f"tasks.{task}.train.{family}")
    run = from_mapping(RunConfig, section(params, "train.run"), "train.run")
    data = root / "data" / "processed" / task
    tokenizer = Tokenizer(data / "spm.model")
    model_cfg = from_mapping(ModelConfig, task_section(params, task, "model"), f"tasks.{task}.model")
    model_cfg = dataclasses.replace(model_cfg, vocab_size=tokenizer.vocab_size)
    torch.manual_seed(run.seed)  # initial weights
    model = behaviour.build(model_cfg, settings)
    fingerprint = {"task": task, "family": family, "params": spec, "model": dataclasses.asdict(model_cfg), "run": dataclasses.asdict(run),
                   "data": {name: file_md5(data / f"{name}.npz") for name in ("train", "valid")}}
    if behaviour.warm_starts_from:
        warm_start = root / "models" / f"{task}-{behaviour.warm_starts_from}" / "model.pt"
        if not warm_start.is_file():
            raise DataError(f"{warm_start}: the {family} model warm-starts from the {behaviour.warm_starts_from} model; "
                            f"train {task}-{behaviour.warm_starts_from} first")
        behaviour.warm_start(model, torch.load(warm_start, map_location="cpu", weights_only=True))
        fingerprint["warm_start"] = file_md5(warm_start)
    objective = behaviour.objective(model, model_cfg, settings)  # after the warm start: the GAN's discriminator draws from the RNG too
    bleu = None
    if settings["trainer"].select_best_by == "valid_bleu":
        from seqgen.evaluation.bleu import batches_bleu

        bleu = lambda objective, batches: batches_bleu(objective, batches, tokenizer, model_cfg.max_len)  # noqa: E731
    job = TrainingJob(
        name=f"{task}-{family}",
        objective=objective,
        train=load_encoded(data / "train.npz"),
        valid=load_encoded(data / "valid.npz"),
        cfg=settings["trainer"],
        run=run,
        max_len=model_cfg.max_len,
        checkpoint_dir=root / ".checkpoints" / f"{task}-{family}",
        fingerprint=fingerprint,
        metrics_path=root / "plots" / "train" / f"{task}-{family}.tsv",
        bleu=bleu,
        stop_after=stop_after,
    )
    return BuiltJob(job, model_cfg, data / "spm.model", fingerprint)


def train(task: str, family: str, params: dict, root: Path = Path("."), stop_after: int | None = None) -> dict[str, Any]:
    """Train, then write models/<task>-<family>/ (rank 0). Returns the training summary."""
    from seqgen.models.store import save_model_dir
    from seqgen.profiles import current
    from seqgen.tracking import git_state
    from seqgen.training import distributed

    built = build_job(task, family, params, root, stop_after)
    trainer = Trainer(built.job)
    try:
        summary = trainer.fit()
        if summary["finished"] and trainer.rank == 0:
            summary.update(git_state(root), profile=current(params), data_md5=built.fingerprint["data"], warm_start_md5=built.fingerprint.get("warm_start"))
            save_model_dir(root / "models" / f"{task}-{family}", family, task, built.job.objective.model, trainer.final_state_dict(), built.model_cfg,
                           built.tokenizer_path, summary, kind=task_spec(params, task).kind)
            trainer.cleanup()
        distributed.barrier()
    finally:
        distributed.shutdown()
    return summary
