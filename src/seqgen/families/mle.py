"""The mle family: the Transformer seq2seq trained by teacher forcing (label-smoothed cross-entropy).

It is the baseline and the warm start of the other families. MLEObjective is the interface every objective
gives the trainer: `loss(batch, step)` returns (summed loss, normaliser, metrics), and the trainer divides by
the normaliser summed over all processes, so one process and K data-parallel processes compute the same
gradient; `pre_step` runs before it (the GAN's discriminator update), `validate` scores held-out batches.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn

from seqgen.families.base import Family
from seqgen.models.transformer import ModelConfig, Seq2Seq
from seqgen.training.batching import Batch
from seqgen.training.distributed import allreduce_sum


@torch.no_grad()
def held_out_perplexity(model: Seq2Seq, batches: list[Batch]) -> float:
    """exp(mean teacher-forced NLL per target token), summed over all processes."""
    nll = tokens = 0.0
    for batch in batches:
        _, n, t = model(batch.src, batch.tgt_in, batch.tgt_out)
        nll, tokens = nll + float(n), tokens + int(t)
    nll, tokens = allreduce_sum(nll), allreduce_sum(tokens)
    return math.exp(min(50.0, nll / max(1, tokens)))


class MLEObjective:
    family = "mle"

    def __init__(self, model: Seq2Seq):
        self.model = model

    @property
    def generator(self) -> Seq2Seq:
        return self.model

    def decoder_extra(self, src: Tensor) -> Tensor | None:
        return None

    def pre_step(self, batch: Batch, step: int) -> dict[str, float]:
        return {}

    def loss(self, batch: Batch, step: int) -> tuple[Tensor, int, dict[str, float]]:
        smoothed, nll, tokens = self.model(batch.src, batch.tgt_in, batch.tgt_out)
        return smoothed, int(tokens), {"nll": float(nll)}

    def validate(self, batches: list[Batch]) -> dict[str, float]:
        return {"valid_ppl": held_out_perplexity(self.model, batches)}

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        pass


class MLE(Family):
    name = "mle"

    def objective(self, model: nn.Module, model_cfg: ModelConfig, settings: dict[str, Any]) -> MLEObjective:
        return MLEObjective(model)


FAMILY = MLE()
