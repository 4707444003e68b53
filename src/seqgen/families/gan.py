"""The gan family: the seq2seq generator, warm-started from the task's mle model, trained against a
discriminator (models/gan.py), with teacher-forced MLE steps in between. Two generator objectives share the
reward ((1-w) * D(x, y) + w * sentence BLEU, plus a novelty term):
  pg    REINFORCE on the generator's samples (SeqGAN/BR-CSGAN style);
  risk  the expected reward over the beam's K best candidates, their probabilities renormalised over the K,
        mixed with the token-level loss (sequence-level risk, Edunov et al. 2018; w = 1 is their BLEU risk).
Decodes like the mle family.
"""

from __future__ import annotations

import dataclasses
import math
from collections import Counter
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seqgen.data.tokenization import BOS_ID, EOS_ID, PAD_ID
from seqgen.decoding import beam_search_n_best, generate
from seqgen.families.base import Family
from seqgen.families.mle import MLEObjective
from seqgen.models.gan import Discriminator, DiscriminatorConfig
from seqgen.models.transformer import ModelConfig, Seq2Seq
from seqgen.training.batching import Batch
from seqgen.training.distributed import allreduce_grads, allreduce_sum


@dataclasses.dataclass(frozen=True)
class GANConfig:
    discriminator: DiscriminatorConfig
    d_lr: float  # discriminator learning rate
    d_pretrain_steps: int  # discriminator-only steps before the generator starts learning from it
    pg_steps_per_mle_step: int  # policy-gradient steps between two teacher-forced MLE steps
    bleu_reward_weight: float  # reward = (1-w) * D(x, y) + w * sentence-BLEU(y, reference) (Yang et al. 2018)
    baseline_decay: float  # moving-average decay of the reward baseline (samples_per_source 1 only)
    sample_temperature: float  # temperature of the generator's samples
    samples_per_source: int  # K > 1: K samples of each of the batch's first 1/K sources, each judged against its K-1 siblings
    novelty_reward_weight: float  # reward += w * the share of a sample's bigrams that no other sample in the batch has
    generator_objective: str  # pg: REINFORCE on samples | risk: expected reward over the beam's K best (K = samples_per_source)
    risk_token_weight: float  # risk only: loss = a * token-level loss + (1 - a) * risk (Edunov et al. 2018's mix)

    def __post_init__(self) -> None:
        from seqgen.errors import ConfigError

        if self.generator_objective not in ("pg", "risk"):
            raise ConfigError(f"gan.generator_objective: must be pg or risk, got {self.generator_objective!r}")
        if self.generator_objective == "risk" and self.samples_per_source < 2:
            raise ConfigError(f"gan.samples_per_source: risk needs >= 2 beam candidates per source, got {self.samples_per_source}")
        if not 0.0 <= self.risk_token_weight <= 1.0:
            raise ConfigError(f"gan.risk_token_weight: must be in [0, 1], got {self.risk_token_weight}")
        if self.samples_per_source < 1:
            raise ConfigError(f"gan.samples_per_source: must be >= 1, got {self.samples_per_source}")
        if not 0.0 <= self.bleu_reward_weight <= 1.0:
            raise ConfigError(f"gan.bleu_reward_weight: must be in [0, 1], got {self.bleu_reward_weight}")
        if self.novelty_reward_weight < 0.0:
            raise ConfigError(f"gan.novelty_reward_weight: must be >= 0, got {self.novelty_reward_weight}")


def sentence_bleu_ids(hypothesis: list[int], reference: list[int], max_n: int = 4) -> float:
    """Add-one smoothed sentence BLEU on token ids: a cheap reward signal (not a reported metric)."""
    if not hypothesis:
        return 0.0
    log_precision = 0.0
    for n in range(1, max_n + 1):
        hyp = Counter(tuple(hypothesis[i : i + n]) for i in range(len(hypothesis) - n + 1))
        ref = Counter(tuple(reference[i : i + n]) for i in range(len(reference) - n + 1))
        matches = sum(min(c, ref[g]) for g, c in hyp.items())
        log_precision += math.log((matches + 1) / (sum(hyp.values()) + 1))
    brevity = min(0.0, 1 - len(reference) / len(hypothesis))
    return math.exp(brevity + log_precision / max_n)


def bigram_novelty(outputs: list[list[int]]) -> list[float]:
    """Per output, the share of its bigrams that no other output has: a batch-level distinct-2 (Li et al.
    2016) that a policy gradient can pay for, so a generic reply many sources share earns nothing."""
    grams = [{tuple(o[i : i + 2]) for i in range(len(o) - 1)} for o in outputs]
    owners = Counter(g for gs in grams for g in gs)
    return [sum(owners[g] == 1 for g in gs) / len(gs) if gs else 0.0 for gs in grams]


def leave_one_out_advantage(reward: Tensor, k: int) -> Tensor:
    """Each reward minus the mean reward of the other k-1 samples of its source (rows in groups of k): the
    leave-one-out baseline of Kool et al. 2019, which cancels how hard the source is, unbiased and without the
    lag of a moving average."""
    grouped = reward.view(-1, k)
    return (grouped - (grouped.sum(dim=1, keepdim=True) - grouped) / (k - 1)).view(-1)


def pad_outputs(outputs: list[list[int]], device) -> tuple[Tensor, Tensor]:
    """Generated ids -> (BOS + y, y + EOS) padded tensors."""
    width = max(len(o) for o in outputs) + 1
    tgt_in = torch.full((len(outputs), width), PAD_ID, dtype=torch.long, device=device)
    tgt_out = tgt_in.clone()
    for row, ids in enumerate(outputs):
        t = torch.tensor(ids, dtype=torch.long, device=device)
        tgt_in[row, 0], tgt_in[row, 1 : len(ids) + 1] = BOS_ID, t
        tgt_out[row, : len(ids)], tgt_out[row, len(ids)] = t, EOS_ID
    return tgt_in, tgt_out


class Fakes(NamedTuple):
    """Generator samples and what each is scored against, row by row."""

    src: Tensor  # (N, S) the source of each sample
    reference: Tensor  # (N, T) that source's human target + EOS
    tgt_in: Tensor  # (N, T') BOS + sample
    tgt_out: Tensor  # (N, T') sample + EOS
    outputs: list[list[int]]  # the samples' ids


class GANObjective(MLEObjective):
    family = "gan"

    def __init__(self, model: Seq2Seq, discriminator: Discriminator, cfg: GANConfig):
        self.model, self.discriminator, self.cfg = model, discriminator, cfg
        self.d_optimizer = torch.optim.AdamW(discriminator.parameters(), lr=cfg.d_lr, weight_decay=0.01)
        self.baseline: float | None = None  # set from the first policy-gradient batch
        self._fakes: Fakes | None = None

    def _sample(self, batch: Batch) -> Fakes:
        """K outputs for each of the batch's first ceil(B/K) sources (about the cost of one per source): K samples
        (pg), or the beam's K best (risk), rows in groups of K."""
        k = self.cfg.samples_per_source
        keep = -(-batch.size // k)
        src, reference = (rows[:keep].repeat_interleave(k, dim=0) for rows in (batch.src, batch.tgt_out))
        if self.cfg.generator_objective == "risk":
            n_best, _ = beam_search_n_best(self.model, batch.src[:keep], self.model.cfg.max_len, beam=k, n_best=k)
            outputs = [candidate for candidates in n_best for candidate in candidates]
        else:
            outputs, _ = generate(self.model, src, self.model.cfg.max_len, sample=True, temperature=self.cfg.sample_temperature)
        outputs = [o or [EOS_ID] for o in outputs]  # an empty output still needs one token to score
        tgt_in, tgt_out = pad_outputs(outputs, batch.src.device)
        return Fakes(src, reference, tgt_in, tgt_out, outputs)

    def pre_step(self, batch: Batch, step: int) -> dict[str, float]:
        """One discriminator update on human targets vs fresh generator samples."""
        self._fakes = fakes = self._sample(batch)
        self.discriminator.train()
        real_logits = self.discriminator(batch.src, batch.tgt_out)
        fake_logits = self.discriminator(fakes.src, fakes.tgt_out)
        logits = torch.cat([real_logits, fake_logits]).float()
        labels = torch.cat([torch.ones_like(real_logits), torch.zeros_like(fake_logits)]).float()
        loss_sum = F.binary_cross_entropy_with_logits(logits, labels, reduction="sum")
        count = allreduce_sum(float(labels.numel()))
        self.d_optimizer.zero_grad(set_to_none=True)
        (loss_sum / count).backward()
        allreduce_grads(self.discriminator.parameters())
        nn.utils.clip_grad_norm_(self.discriminator.parameters(), 1.0)
        self.d_optimizer.step()
        accuracy = float(((logits > 0).float() == labels).float().mean())
        return {"d_loss": float(loss_sum.detach()) / labels.numel(), "d_accuracy": accuracy}

    def is_mle_step(self, step: int) -> bool:
        return step < self.cfg.d_pretrain_steps or step % (self.cfg.pg_steps_per_mle_step + 1) == self.cfg.pg_steps_per_mle_step

    def loss(self, batch: Batch, step: int) -> tuple[Tensor, int, dict[str, float]]:
        if self.is_mle_step(step):
            # Teacher forcing keeps the generator anchored to human text (and is all it does while
            # the discriminator is still pre-training).
            loss, tokens, metrics = super().loss(batch, step)
            return loss, tokens, dict(metrics, pg=0.0)
        fakes = self._fakes
        reward = self.reward(fakes)
        mean_reward = allreduce_sum(float(reward.sum())) / allreduce_sum(float(reward.numel()))
        k = self.cfg.samples_per_source
        if self.cfg.generator_objective == "risk":
            return self.risk_loss(batch, step, fakes, reward, mean_reward)
        if k > 1:
            advantage = leave_one_out_advantage(reward, k)
        else:
            if self.baseline is None:
                # Start the moving average at the first rewards, not at 0: a zero baseline makes every early
                # advantage positive, and REINFORCE then raises the likelihood of every sample, bad ones included.
                self.baseline = mean_reward
            advantage = reward - self.baseline
            self.baseline = self.cfg.baseline_decay * self.baseline + (1 - self.cfg.baseline_decay) * mean_reward
        log_probs = self.model.sequence_log_probs(fakes.src, fakes.tgt_in, fakes.tgt_out)
        tokens = int((fakes.tgt_out != PAD_ID).sum())
        # REINFORCE: raise log p(y|x) of samples the discriminator (and BLEU) liked more than average.
        loss = -(advantage.detach() * log_probs).sum()
        return loss, tokens, {"reward": mean_reward, "pg": 1.0}

    def risk_loss(self, batch: Batch, step: int, fakes: Fakes, reward: Tensor, mean_reward: float) -> tuple[Tensor, int, dict[str, float]]:
        """a * token loss + (1 - a) * sum over sources of E_q[1 - reward], q = p(y|x) renormalised over the K candidates.
        The risk sum is scaled by the batch's target tokens per candidate source, so that after the trainer divides
        by the token count the loss is a * (token loss per token) + (1 - a) * (risk per source)."""
        a = self.cfg.risk_token_weight
        smoothed, tokens, metrics = super().loss(batch, step)
        log_probs = self.model.sequence_log_probs(fakes.src, fakes.tgt_in, fakes.tgt_out).view(-1, self.cfg.samples_per_source)
        risk = (log_probs.softmax(dim=1) * (1 - reward.view_as(log_probs))).sum()
        sources = log_probs.size(0)
        loss = a * smoothed + (1 - a) * risk * (tokens / sources)
        return loss, tokens, dict(metrics, reward=mean_reward, risk=float(risk.detach()) / sources, pg=1.0)

    @torch.no_grad()
    def reward(self, fakes: Fakes) -> Tensor:
        """Per sample: (1-w) * D(x, y) + w * sentence BLEU against the reference, + the novelty term."""
        self.discriminator.eval()
        reward = torch.sigmoid(self.discriminator(fakes.src, fakes.tgt_out).float())
        if self.cfg.bleu_reward_weight > 0:
            references = [[t for t in row.tolist() if t not in (PAD_ID, EOS_ID)] for row in fakes.reference]
            bleu = torch.tensor([sentence_bleu_ids(h, r) for h, r in zip(fakes.outputs, references)], device=reward.device)
            reward = (1 - self.cfg.bleu_reward_weight) * reward + self.cfg.bleu_reward_weight * bleu
        if self.cfg.novelty_reward_weight > 0:
            novelty = torch.tensor(bigram_novelty(fakes.outputs), device=reward.device)
            reward = reward + self.cfg.novelty_reward_weight * novelty
        return reward

    def state_dict(self) -> dict[str, Any]:
        return {"discriminator": self.discriminator.state_dict(), "d_optimizer": self.d_optimizer.state_dict(), "baseline": self.baseline}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.discriminator.load_state_dict(state["discriminator"])
        self.d_optimizer.load_state_dict(state["d_optimizer"])
        self.baseline = None if state["baseline"] is None else float(state["baseline"])


class GAN(Family):
    name = "gan"
    settings = {"gan": GANConfig}
    warm_starts_from = "mle"

    def objective(self, model: nn.Module, model_cfg: ModelConfig, settings: dict[str, Any]) -> GANObjective:
        cfg = settings["gan"]
        return GANObjective(model, Discriminator(cfg.discriminator, model_cfg.vocab_size, model_cfg.max_len), cfg)


FAMILY = GAN()
