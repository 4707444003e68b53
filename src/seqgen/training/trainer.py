"""The one training loop for every family.

Seeded and deterministic on CPU (same data + params + seed + thread count => identical weights);
checkpoints every N steps and resumes transparently after a kill (model, optimizer, schedule, data
position, RNG state); progress bar with loss and tokens/s; per-step metrics to a TSV that DVC plots
reads; data parallel under torchrun; bf16 autocast where the hardware has it.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import json
import math
import os
import sys
import time
from pathlib import Path
from typing import Any, Callable, Literal

import torch
from torch import nn

from seqgen import runtime
from seqgen.data.tokenization import EncodedSplit
from seqgen.io import atomic_path
from seqgen.training import distributed
from seqgen.training.batching import Batch, BatchStream, evaluation_batches


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    steps: int  # optimizer steps
    batch_tokens: int  # padded tokens per (global) batch
    lr: float  # peak learning rate (after warm-up)
    warmup: int  # linear warm-up steps, then cosine decay to lr * min_lr_ratio
    min_lr_ratio: float
    weight_decay: float
    clip: float  # gradient-norm clipping
    eval_every: int  # steps between validation passes
    eval_examples: int  # validation examples used during training
    select_best_by: Literal["last", "valid_bleu"]  # keep the last weights, or the best by validation BLEU
    average_last: int = 0  # also average the weights of the last N checkpoints into one more candidate; 0: off


@dataclasses.dataclass(frozen=True)
class RunConfig:
    seed: int
    threads: int  # intra-op CPU threads per process
    precision: Literal["auto", "bf16", "fp32"]  # auto: bf16 autocast where the hardware supports it
    checkpoint_every: int  # steps between resumable checkpoints
    log_every: int  # steps between metric rows / progress updates


def set_determinism(seed: int, threads: int, device: torch.device) -> None:
    torch.manual_seed(seed)
    if device.type == "cpu":
        torch.set_num_threads(threads)
        torch.use_deterministic_algorithms(True)
        # Deterministic mode also fills every new tensor with NaN to expose reads of uninitialised memory:
        # a debugging aid that took 11% of each training step here. The algorithms stay deterministic.
        torch.utils.deterministic.fill_uninitialized_memory = False
    else:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)


def schedule(cfg: TrainConfig) -> Callable[[int], float]:
    def factor(step: int) -> float:
        if step < cfg.warmup:
            return (step + 1) / cfg.warmup
        progress = (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup)
        return cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))

    return factor


def average_state_dicts(states: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """Element-wise mean of state dicts (checkpoint averaging, Vaswani et al. 2017); integer buffers come from
    the last one."""
    out = {}
    for key, last in states[-1].items():
        out[key] = torch.stack([s[key].float() for s in states]).mean(0).to(last.dtype) if last.is_floating_point() else last.clone()
    return out


def file_md5(path: Path) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


@dataclasses.dataclass
class TrainingJob:
    """Everything one run needs; training/job.py builds it from params and the data on disk."""

    name: str  # e.g. translation-mle
    objective: Any  # a family's objective (seqgen.families; the interface: mle.MLEObjective)
    train: EncodedSplit
    valid: EncodedSplit
    cfg: TrainConfig
    run: RunConfig
    max_len: int
    checkpoint_dir: Path
    fingerprint: dict[str, Any]  # what must match for a checkpoint to be resumed
    metrics_path: Path | None = None  # per-step TSV for DVC plots
    bleu: Callable[[Any, list[Batch]], float] | None = None  # validation BLEU, when selecting by it
    stop_after: int | None = None  # tests: pretend to be killed after this many steps


class Trainer:
    def __init__(self, job: TrainingJob):
        self.job = job
        self.rank, self.world = distributed.world()
        self.device = runtime.pick_device()
        distributed.init(self.device)
        set_determinism(job.run.seed + self.rank, job.run.threads, self.device)
        self.model: nn.Module = job.objective.model.to(self.device)
        if hasattr(job.objective, "discriminator"):
            job.objective.discriminator.to(self.device)
        self.bf16 = runtime.use_bf16(job.run.precision, self.device)
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=job.cfg.lr, betas=(0.9, 0.98), weight_decay=job.cfg.weight_decay)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, schedule(job.cfg))
        self.stream = BatchStream(job.train, job.cfg.batch_tokens, job.max_len, job.run.seed)
        self.valid_batches = [b.shard(self.rank, self.world).to(self.device) for b in evaluation_batches(job.valid, job.cfg.batch_tokens, job.max_len, job.cfg.eval_examples)]
        self.step = 0
        self.tokens_seen = 0
        self.train_seconds = 0.0
        self.best: dict[str, Any] = {"metric": -math.inf, "step": -1, "model": None}
        self.snapshots: list[dict[str, torch.Tensor]] = []  # CPU copies of the last average_last checkpoints' weights
        self.averaged: dict[str, Any] | None = None  # how many checkpoints the average took, and its validation metrics
        self.history: list[dict[str, Any]] = []
        self.fingerprint = hashlib.sha256(json.dumps(dict(job.fingerprint, world=self.world), sort_keys=True, default=str).encode()).hexdigest()

    # ---- checkpoints ---------------------------------------------------------------------------
    @property
    def checkpoint_path(self) -> Path:
        return self.job.checkpoint_dir / "checkpoint.pt"

    def save_checkpoint(self) -> None:
        if self.rank != 0:
            return
        state = {
            "fingerprint": self.fingerprint,
            "step": self.step,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "stream": self.stream.state_dict(),
            "rng": torch.get_rng_state(),
            "objective": self.job.objective.state_dict(),
            "best": self.best,
            "snapshots": self.snapshots,
            "tokens_seen": self.tokens_seen,
            "train_seconds": self.train_seconds,
            "history": json.dumps(self.history),
        }
        with atomic_path(self.checkpoint_path) as tmp:
            torch.save(state, tmp)

    def try_resume(self) -> bool:
        if not self.checkpoint_path.is_file():
            return False
        state = torch.load(self.checkpoint_path, map_location=self.device, weights_only=True)
        if state.get("fingerprint") != self.fingerprint:
            self.log(f"ignoring {self.checkpoint_path}: it belongs to other data or params")
            return False
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.stream.load_state_dict(state["stream"])
        torch.set_rng_state(state["rng"].cpu())
        self.job.objective.load_state_dict(state["objective"])
        self.best = state["best"]
        self.snapshots = state.get("snapshots", [])
        self.step, self.tokens_seen, self.train_seconds = int(state["step"]), int(state["tokens_seen"]), float(state["train_seconds"])
        self.history = json.loads(state["history"])
        self.log(f"resumed from {self.checkpoint_path} at step {self.step}")
        return True

    # ---- the loop ------------------------------------------------------------------------------
    def log(self, message: str) -> None:
        if self.rank == 0:
            print(f"[train {self.job.name}] {message}", file=sys.stderr, flush=True)

    def autocast(self):
        return runtime.autocast(self.device, self.bf16)

    def attention_kernels(self):
        return runtime.attention_kernels(self.device)

    def train_step(self, batch: Batch) -> dict[str, float]:
        objective = self.job.objective
        local = batch.shard(self.rank, self.world).to(self.device)
        self.model.train()
        with self.attention_kernels():
            with self.autocast():
                metrics = objective.pre_step(local, self.step)
                loss_sum, count, step_metrics = objective.loss(local, self.step)
            total = distributed.allreduce_sum(count)
            self.optimizer.zero_grad(set_to_none=True)
            (loss_sum / max(1.0, total)).backward()
        distributed.allreduce_grads(self.model.parameters())
        grad_norm = nn.utils.clip_grad_norm_(self.model.parameters(), self.job.cfg.clip)
        self.optimizer.step()
        self.scheduler.step()
        metrics.update(step_metrics)
        metrics.update(loss=distributed.allreduce_sum(float(loss_sum.detach())) / max(1.0, total), grad_norm=float(grad_norm), lr=self.scheduler.get_last_lr()[0])
        self.tokens_seen += int(distributed.allreduce_sum(batch.target_tokens if self.rank == 0 else 0))
        return metrics

    def validate(self) -> dict[str, float]:
        self.model.eval()
        with self.autocast():
            metrics = self.job.objective.validate(self.valid_batches)
            if self.job.bleu is not None:
                metrics["valid_bleu"] = self.job.bleu(self.job.objective, self.valid_batches)
        self.model.train()
        return metrics

    def consider_best(self, metrics: dict[str, float]) -> None:
        if self.job.cfg.select_best_by == "valid_bleu" and metrics["valid_bleu"] > self.best["metric"]:
            self.best = {"metric": metrics["valid_bleu"], "step": self.step, "model": {k: v.detach().clone() for k, v in self.model.state_dict().items()}}

    def take_snapshot(self) -> None:
        """Keep the weights of the last average_last checkpoints (every train.run.checkpoint_every steps)."""
        k = self.job.cfg.average_last
        if k > 0 and self.step % self.job.run.checkpoint_every == 0:
            self.snapshots = [*self.snapshots, {key: v.detach().to("cpu", copy=True) for key, v in self.model.state_dict().items()}][-k:]

    def consider_average(self) -> None:
        """The mean of the kept snapshots is one more candidate: validated like every other, chosen by validation
        BLEU when selecting by it, and the final weights when keeping the last."""
        if len(self.snapshots) < 2:
            return
        current = {key: v.detach().clone() for key, v in self.model.state_dict().items()}
        averaged = average_state_dicts(self.snapshots)
        self.model.load_state_dict(averaged)
        metrics = self.validate()
        self.record({"step": self.step, "averaged_checkpoints": len(self.snapshots), **metrics})
        self.log(f"average of the last {len(self.snapshots)} checkpoints: {metrics}")
        self.averaged = {"checkpoints": len(self.snapshots), "metrics": metrics}
        if self.job.cfg.select_best_by == "valid_bleu":
            if metrics["valid_bleu"] > self.best["metric"]:
                self.best = {"metric": metrics["valid_bleu"], "step": self.step, "model": averaged, "averaged": len(self.snapshots)}
            self.model.load_state_dict(current)

    def record(self, row: dict[str, Any]) -> None:
        self.history.append(row)
        if self.job.metrics_path is not None and self.rank == 0:
            columns = sorted({key for r in self.history for key in r}, key=lambda k: (k != "step", k))
            with atomic_path(self.job.metrics_path) as tmp, open(tmp, "w", newline="") as handle:
                writer = csv.DictWriter(handle, fieldnames=columns, delimiter="\t", restval="")
                writer.writeheader()
                writer.writerows(self.history)

    def fit(self) -> dict[str, Any]:
        from tqdm import tqdm

        job = self.job
        resumed = self.try_resume()
        if not resumed and job.cfg.select_best_by == "valid_bleu":
            start_metrics = self.validate()  # the warm start is a candidate: never end worse than it
            self.consider_best(start_metrics)
            self.record({"step": 0, **start_metrics})
            self.log(f"step 0: {start_metrics}")
        bar = tqdm(total=job.cfg.steps, initial=self.step, disable=self.rank != 0, desc=job.name, file=sys.stderr, mininterval=2, dynamic_ncols=True)
        window_tokens, window_start = 0, time.perf_counter()
        while self.step < job.cfg.steps:
            if job.stop_after is not None and self.step >= job.stop_after:
                break
            started = time.perf_counter()
            batch = next(self.stream)
            metrics = self.train_step(batch)
            self.step += 1
            self.train_seconds += time.perf_counter() - started
            window_tokens += batch.target_tokens
            bar.update(1)
            if self.step % job.run.log_every == 0 or self.step == job.cfg.steps:
                elapsed = time.perf_counter() - window_start
                metrics["tokens_per_s"] = window_tokens / max(elapsed, 1e-9)
                window_tokens, window_start = 0, time.perf_counter()
                bar.set_postfix(loss=f"{metrics['loss']:.3f}", tok_s=f"{metrics['tokens_per_s']:.0f}")
                self.record({"step": self.step, **{k: round(v, 5) if isinstance(v, float) else v for k, v in metrics.items()}})
            if self.step % job.cfg.eval_every == 0 or self.step == job.cfg.steps:
                valid = self.validate()
                self.consider_best(valid)
                self.record({"step": self.step, **valid})
                self.log(f"step {self.step}: {valid}")
            if self.step > job.cfg.steps - job.cfg.average_last * job.run.checkpoint_every:
                self.take_snapshot()
            if self.step % job.run.checkpoint_every == 0 and self.step < job.cfg.steps:
                self.save_checkpoint()
        bar.close()
        finished = self.step >= job.cfg.steps
        if finished and job.cfg.average_last:
            self.consider_average()
        if not finished:
            self.save_checkpoint()
        summary = {
            "finished": finished,
            "steps": self.step,
            "target_tokens": self.tokens_seen,
            "train_seconds": round(self.train_seconds, 2),
            "tokens_per_s": round(self.tokens_seen / max(self.train_seconds, 1e-9), 1),
            "bf16": self.bf16,
            "world_size": self.world,
            "device": str(self.device),
            "final": self.history[-1] if self.history else {},
        }
        if job.cfg.select_best_by == "valid_bleu" and self.best["model"] is not None:
            summary.update(best_step=self.best["step"], best_valid_bleu=self.best["metric"], best_is_average=bool(self.best.get("averaged")))
        if self.averaged is not None:
            summary.update(averaged_checkpoints=self.averaged["checkpoints"], averaged_valid=self.averaged["metrics"])
        return summary

    def final_state_dict(self) -> dict[str, torch.Tensor]:
        if self.job.cfg.select_best_by == "valid_bleu" and self.best["model"] is not None:
            return self.best["model"]
        return self.model.state_dict()

    def cleanup(self) -> None:
        """After a finished run: the checkpoint has served its purpose."""
        if self.rank == 0 and self.checkpoint_path.is_file():
            self.checkpoint_path.unlink()
