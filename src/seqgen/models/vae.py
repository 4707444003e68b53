"""Conditional VAE over the seq2seq backbone (Zhao et al. 2017 style).

prior p(z|x) and posterior q(z|x,y) are diagonal Gaussians computed from mean-pooled encoder states of the
source and of the target; z is projected and added to every decoder input embedding; a bag-of-words head
predicts the target's words from z (and x), which forces z to carry content and fights posterior collapse.
"""

from __future__ import annotations

import dataclasses
import math
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seqgen.data.tokenization import BOS_ID, PAD_ID, UNK_ID
from seqgen.models.transformer import Seq2Seq


def pooled(states: Tensor, mask: Tensor) -> Tensor:
    """Mean over the real (non-pad) positions; mask is the (B, 1, 1, S) attention mask."""
    keep = mask[:, 0, 0, :, None].to(states.dtype)
    return (states * keep).sum(1) / keep.sum(1).clamp(min=1)


def gaussian_kl(mu_q: Tensor, logvar_q: Tensor, mu_p: Tensor, logvar_p: Tensor) -> Tensor:
    """KL(q || p) per dimension, (B, latent)."""
    return 0.5 * (logvar_p - logvar_q + (logvar_q.exp() + (mu_q - mu_p) ** 2) / logvar_p.exp() - 1.0)


@dataclasses.dataclass
class VAEOutput:
    recon: Tensor  # label-smoothed reconstruction loss, summed over target tokens
    nll: Tensor  # reconstruction NLL (no smoothing), summed
    tokens: Tensor  # real target tokens
    kl: Tensor  # (B, latent) KL per sentence and dimension
    bow: Tensor  # bag-of-words NLL, summed
    mu_q: Tensor  # posterior means (for active units)


class CVAE(nn.Module):
    def __init__(self, seq2seq: Seq2Seq, latent: int):
        super().__init__()
        d = seq2seq.cfg.d_model
        self.seq2seq, self.latent = seq2seq, latent
        self.prior = nn.Sequential(nn.Linear(d, d), nn.Tanh(), nn.Linear(d, 2 * latent))
        self.posterior = nn.Sequential(nn.Linear(2 * d, d), nn.Tanh(), nn.Linear(d, 2 * latent))
        self.z_to_decoder = nn.Linear(latent, d)
        self.bow = nn.Sequential(nn.Linear(latent + d, d), nn.Tanh())  # then the tied output projection

    @property
    def cfg(self):
        return self.seq2seq.cfg

    def prior_params(self, memory: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        mu, logvar = self.prior(pooled(memory, mask)).float().chunk(2, dim=-1)
        return mu, logvar

    def forward(self, src: Tensor, tgt_in: Tensor, tgt_out: Tensor, word_dropout: float = 0.0) -> VAEOutput:
        memory, mask = self.seq2seq.encode(src)
        target_states, target_mask = self.seq2seq.encode(tgt_out)
        x, y = pooled(memory, mask), pooled(target_states, target_mask)
        mu_p, logvar_p = self.prior(x).float().chunk(2, dim=-1)
        mu_q, logvar_q = self.posterior(torch.cat([x, y], dim=-1)).float().chunk(2, dim=-1)
        z = mu_q + torch.randn_like(mu_q) * (0.5 * logvar_q).exp()
        if self.training and word_dropout > 0:
            drop = (torch.rand(tgt_in.shape, device=tgt_in.device) < word_dropout) & (tgt_in != PAD_ID) & (tgt_in != BOS_ID)
            tgt_in = tgt_in.masked_fill(drop, UNK_ID)
        hidden = self.seq2seq.decode(tgt_in, memory, mask, extra=self.z_to_decoder(z.to(memory.dtype)))
        recon, nll, tokens = self.seq2seq.token_losses(hidden, tgt_out)
        bow_logp = F.log_softmax(self.seq2seq.logits(self.bow(torch.cat([z.to(x.dtype), x], dim=-1))).float(), dim=-1)
        real = tgt_out != PAD_ID
        bow = -(bow_logp.gather(1, tgt_out) * real).sum()
        return VAEOutput(recon, nll, tokens, gaussian_kl(mu_q, logvar_q, mu_p, logvar_p), bow, mu_q.detach())

    def decoder_extra(self, src: Tensor, sample: bool, generator: torch.Generator | None = None, prior_scale: float = 1.0) -> Tensor:
        """The z projection for generation: prior mean (deterministic) or a prior sample (diverse),
        z = mu + prior_scale * sigma * eps (prior_scale > 1 widens the draw: more diverse, less faithful)."""
        memory, mask = self.seq2seq.encode(src)
        mu, logvar = self.prior_params(memory, mask)
        z = mu
        if sample:
            noise = torch.randn(mu.shape, generator=generator, device=mu.device)
            z = mu + noise * (prior_scale * (0.5 * logvar).exp())
        return self.z_to_decoder(z.to(memory.dtype))


def active_units(mu_q: Tensor, threshold: float = 0.01) -> int:
    """Dimensions whose posterior mean varies across inputs (Burda et al. 2016): the ones in use."""
    return int((mu_q.float().var(dim=0) > threshold).sum()) if mu_q.size(0) > 1 else 0


def nats_to_ppl(nats: float, tokens: int) -> float:
    return math.exp(min(50.0, nats / max(1, tokens)))
