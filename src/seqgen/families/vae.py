"""The vae family: a conditional VAE over the seq2seq backbone (the network: models/vae.py), warm-started
from the task's mle model, trained on the ELBO with KL annealing, free bits, word dropout and a bag-of-words
loss against posterior collapse. It decodes with z = the prior mean, or a prior draw when sampling.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Literal

import torch
from torch import Tensor, nn

from seqgen.families.base import Family
from seqgen.families.mle import MLEObjective
from seqgen.models.transformer import ModelConfig, Seq2Seq
from seqgen.models.vae import CVAE, active_units
from seqgen.training.batching import Batch
from seqgen.training.distributed import allreduce_sum


@dataclasses.dataclass(frozen=True)
class VAEConfig:
    latent: int  # size of z
    kl_anneal: Literal["linear", "cyclical", "none"]
    anneal_steps: int  # linear: steps to reach full KL weight; cyclical: length of one cycle
    cycle_ratio: float  # cyclical: share of each cycle spent raising the weight from 0 to 1
    free_bits: float  # nats per latent dimension that the KL term does not penalise
    word_dropout: float  # probability of replacing a decoder input token by <unk>
    bow_weight: float  # weight of the bag-of-words loss


def kl_weight(cfg: VAEConfig, step: int) -> float:
    """beta(step): linear warm-up, or the cyclical schedule of Fu et al. (2019)."""
    if cfg.kl_anneal == "none":
        return 1.0
    if cfg.kl_anneal == "linear":
        return min(1.0, step / max(1, cfg.anneal_steps))
    within = (step % cfg.anneal_steps) / cfg.anneal_steps
    return min(1.0, within / cfg.cycle_ratio)


@torch.no_grad()
def held_out_elbo(model: CVAE, batches: list[Batch]) -> dict[str, float]:
    """exp(-ELBO / tokens) with one posterior sample (an upper bound on the true perplexity), the KL per
    sentence and the active units: how much the model uses its latent."""
    nll = kl = tokens = sentences = 0.0
    means = []
    for batch in batches:
        out = model(batch.src, batch.tgt_in, batch.tgt_out)
        nll, kl, tokens = nll + float(out.nll), kl + float(out.kl.sum()), tokens + int(out.tokens)
        sentences += batch.size
        means.append(out.mu_q)
    nll, kl, tokens, sentences = (allreduce_sum(v) for v in (nll, kl, tokens, sentences))
    return {
        "ppl": math.exp(min(50.0, (nll + kl) / max(1, tokens))),
        "kl_per_sentence": kl / max(1, sentences),
        "active_units": active_units(torch.cat(means)),
        "latent": model.latent,
    }


class VAEObjective(MLEObjective):
    family = "vae"

    def __init__(self, model: CVAE, cfg: VAEConfig):
        self.model, self.cfg = model, cfg

    @property
    def generator(self) -> Seq2Seq:
        return self.model.seq2seq

    def decoder_extra(self, src: Tensor) -> Tensor | None:
        return self.model.decoder_extra(src, sample=False)

    def loss(self, batch: Batch, step: int) -> tuple[Tensor, int, dict[str, float]]:
        out = self.model(batch.src, batch.tgt_in, batch.tgt_out, word_dropout=self.cfg.word_dropout)
        beta = kl_weight(self.cfg, step)
        # Free bits: per dimension, KL below the floor (averaged over the batch) is not penalised.
        kl_dims = out.kl.mean(dim=0)
        kl_penalised = torch.clamp(kl_dims, min=self.cfg.free_bits).sum() * out.kl.size(0)
        total = out.recon + beta * kl_penalised + self.cfg.bow_weight * out.bow
        metrics = {
            "nll": float(out.nll),
            "kl": float(out.kl.detach().sum(dim=1).mean()),
            "beta": beta,
            "bow": float(out.bow.detach()) / max(1, int(out.tokens)),
            "active_units": active_units(out.mu_q),
        }
        return total, int(out.tokens), metrics

    def validate(self, batches: list[Batch]) -> dict[str, float]:
        found = held_out_elbo(self.model, batches)
        return {"valid_ppl_elbo_bound": found["ppl"], "valid_kl_per_sentence": found["kl_per_sentence"],
                "valid_active_units": found["active_units"], "latent": found["latent"]}


class VAE(Family):
    name = "vae"
    settings = {"vae": VAEConfig}
    warm_starts_from = "mle"
    ppl_kind = "ELBO upper bound (one posterior sample)"

    def build(self, model_cfg: ModelConfig, settings: dict[str, Any]) -> nn.Module:
        return CVAE(Seq2Seq(model_cfg), settings["vae"].latent)

    def saved(self, model: nn.Module) -> dict[str, Any]:
        return {"latent": model.latent}

    def rebuild(self, model_cfg: ModelConfig, saved: dict[str, Any]) -> nn.Module:
        return CVAE(Seq2Seq(model_cfg), saved["latent"])

    def seq2seq(self, model: nn.Module) -> Seq2Seq:
        return model.seq2seq

    def objective(self, model: nn.Module, model_cfg: ModelConfig, settings: dict[str, Any]) -> VAEObjective:
        return VAEObjective(model, settings["vae"])

    def decoder_extra(self, model: nn.Module, src: Tensor, sample: bool, prior_scale: float = 1.0) -> Tensor | None:
        return model.decoder_extra(src, sample=sample, prior_scale=prior_scale)

    def held_out(self, model: nn.Module, batches: list) -> dict[str, float]:
        return held_out_elbo(model, batches)

    def decoding_note(self) -> str | None:
        return "prior mean"


FAMILY = VAE()
