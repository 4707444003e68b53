"""Batched generation with the incremental decoder state: greedy and sampling (temperature, top-k, nucleus).

Shared by training (GAN samples, validation BLEU), evaluation, the registry model and the CLI.
"""

from __future__ import annotations

import torch
from torch import Tensor

from seqgen.data.tokenization import EOS_ID, PAD_ID
from seqgen.models.transformer import Seq2Seq, bos_column


def output_limit(src: Tensor, max_len: int, ratio: float = 1.5, slack: int = 10) -> int:
    """Longest output worth generating for this batch: a multiple of the longest source, capped."""
    longest = int((src != PAD_ID).sum(dim=1).max())
    return min(max_len, int(longest * ratio) + slack)


def _filter(logp: Tensor, top_k: int, top_p: float) -> Tensor:
    if top_k > 0:
        kth = logp.topk(min(top_k, logp.size(-1)), dim=-1).values[:, -1:]
        logp = logp.masked_fill(logp < kth, float("-inf"))
    if top_p < 1.0:
        sorted_logp, order = logp.sort(dim=-1, descending=True)
        cumulative = sorted_logp.softmax(dim=-1).cumsum(dim=-1)
        drop = cumulative - sorted_logp.softmax(dim=-1) > top_p  # keep the smallest set reaching top_p
        logp = logp.masked_fill(drop.scatter(-1, order, drop), float("-inf"))
    return logp


@torch.no_grad()
def generate(
    model: Seq2Seq,
    src: Tensor,
    max_len: int,
    *,
    sample: bool = False,
    temperature: float = 1.0,
    top_k: int = 0,
    top_p: float = 1.0,
    extra: Tensor | None = None,
    generator: torch.Generator | None = None,
) -> tuple[list[list[int]], Tensor]:
    """Token ids per sentence (without BOS/EOS) and their summed log-probabilities under the model.

    Greedy when `sample` is False. Finished sentences are dropped from the running batch so the cost
    follows the sentences still being written.
    """
    was_training = model.training
    model.eval()
    batch = src.size(0)
    limit = output_limit(src, max_len)
    state = model.start(src, extra)
    alive = torch.arange(batch, device=src.device)  # original row of each running sentence
    tokens = bos_column(batch, src.device)
    outputs: list[list[int]] = [[] for _ in range(batch)]
    scores = torch.zeros(batch, device=src.device)
    for _ in range(limit):
        logp = model.step(tokens, state)
        if sample:
            weights = _filter(logp / temperature, top_k, top_p).softmax(dim=-1)
            tokens = torch.multinomial(weights, 1, generator=generator).squeeze(1)
        else:
            tokens = logp.argmax(dim=-1)
        scores[alive] += logp.gather(1, tokens[:, None]).squeeze(1)
        finished = tokens == EOS_ID
        for row, token in zip(alive.tolist(), tokens.tolist()):
            if token != EOS_ID:
                outputs[row].append(token)
        if finished.all():
            break
        if finished.any():
            keep = (~finished).nonzero().squeeze(1)
            alive, tokens = alive[keep], tokens[keep]
            state.select(keep)
    model.train(was_training)
    return outputs, scores
