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
            state.select(keep, keep)
    model.train(was_training)
    return outputs, scores


def length_penalty(length: Tensor, alpha: float) -> Tensor:
    """GNMT length penalty ((5 + |y|) / 6) ** alpha; alpha = 0 ranks by raw log-probability."""
    return ((5.0 + length.float()) / 6.0) ** alpha


def beam_search(model: Seq2Seq, src: Tensor, max_len: int, beam: int = 5, alpha: float = 0.6,
                extra: Tensor | None = None) -> tuple[list[list[int]], Tensor]:
    """Beam search batched across sentences and beams: every step is one model call on the B*K rows of
    the sentences still searching (a sentence leaves the batch once no unfinished beam can beat its best
    finished one).

    Returns the best hypothesis per sentence (by log-probability / length penalty) and its summed
    log-probability. A finished beam keeps its score and can only be extended by padding.
    """
    outputs, scores = beam_search_n_best(model, src, max_len, beam=beam, alpha=alpha, extra=extra, n_best=1)
    return [best[0] for best in outputs], scores[:, 0]


@torch.no_grad()
def beam_search_n_best(model: Seq2Seq, src: Tensor, max_len: int, beam: int = 5, alpha: float = 0.6,
                       extra: Tensor | None = None, n_best: int = 1) -> tuple[list[list[list[int]]], Tensor]:
    """beam_search's n_best (<= beam) best hypotheses per sentence, best first, with their summed
    log-probabilities (batch, n_best). Finished hypotheses rank before any beam the length limit cut off."""
    if not 1 <= n_best <= beam:
        raise ValueError(f"n_best must be between 1 and the beam size {beam}, got {n_best}")
    was_training = model.training
    model.eval()
    batch, device = src.size(0), src.device
    limit = output_limit(src, max_len)
    rows = torch.arange(batch, device=device).repeat_interleave(beam)  # beam k of sentence b is row b*K + k
    state = model.start(src)  # one memory per sentence, shared by its beams
    state.extra = None if extra is None else extra[rows]
    scores = torch.full((batch, beam), float("-inf"), device=device)
    scores[:, 0] = 0.0  # all beams start identical: keep only the first alive
    tokens = bos_column(batch * beam, device)
    history = torch.zeros(batch * beam, 0, dtype=torch.long, device=device)
    finished = torch.zeros(batch * beam, dtype=torch.bool, device=device)
    lengths = torch.zeros(batch * beam, dtype=torch.long, device=device)
    active = torch.arange(batch, device=device)  # original index of each sentence still searching
    outputs: list[list[list[int]]] = [[] for _ in range(batch)]
    best_scores = torch.zeros(batch, n_best, device=device)
    pad_continuation = torch.full((beam,), float("-inf"), device=device)
    pad_continuation[0] = 0.0

    def settle(sentences: Tensor) -> None:
        """Record the n_best best beams of the given (active-position) sentences."""
        normalised = (scores[sentences] / length_penalty(lengths.view(-1, beam)[sentences], alpha))
        if n_best == 1:
            picks = normalised.argmax(dim=-1, keepdim=True)
        else:  # unfinished beams (cut off by the length limit) after every finished one
            unfinished = ~finished.view(-1, beam)[sentences]
            picks = torch.where(unfinished, normalised - 1e9, normalised).topk(n_best, dim=-1).indices
        for position, ks in zip(sentences.tolist(), picks.tolist()):
            best = []
            for k in ks:
                ids = history[position * beam + k].tolist()
                ids = ids[: ids.index(EOS_ID)] if EOS_ID in ids else ids
                best.append([t for t in ids if t != PAD_ID])
            outputs[int(active[position])] = best
            best_scores[active[position]] = scores[position, ks]

    for _ in range(limit):
        n = active.numel()
        logp = model.step(tokens, state)  # (n*K, V)
        # No beam needs more than K continuations of its own: the best K of the K*V candidates are among
        # each row's top K, so the search works on (n, K*K) instead of (n, K*V) (exact, and far less memory).
        row_logp, row_tokens = logp.topk(beam, dim=-1)
        # Finished beams: one continuation (PAD) at no cost, so they keep their score and their place.
        row_logp = torch.where(finished[:, None], pad_continuation, row_logp.float())
        row_tokens = torch.where(finished[:, None], PAD_ID, row_tokens)
        candidates = (scores.view(-1, 1) + row_logp).view(n, beam * beam)
        scores, flat = candidates.topk(beam, dim=-1)
        origin = ((flat // beam) + torch.arange(n, device=device)[:, None] * beam).view(-1)  # row each survivor extends
        tokens = row_tokens.view(n, beam * beam).gather(1, flat).view(-1)
        state.select(origin)  # beams move only within their sentence: memories stay
        history = torch.cat([history[origin], tokens[:, None]], dim=1)
        was_finished = finished[origin]
        lengths = lengths[origin] + (~was_finished).long()  # counts real tokens and the EOS
        finished = was_finished | (tokens == EOS_ID)
        # A sentence is done when no unfinished beam can still beat its best finished one: log-probs only
        # fall, and the length penalty grows with length, so score / lp(limit) bounds every alive beam.
        penalised = scores.view(-1) / length_penalty(lengths, alpha)
        best_finished = torch.where(finished, penalised, float("-inf")).view(n, beam).max(dim=1).values
        bound = torch.where(finished, float("-inf"), scores.view(-1) / length_penalty(torch.tensor(limit), alpha)).view(n, beam).max(dim=1).values
        done = best_finished >= bound
        if done.any():
            settle(done.nonzero().squeeze(1))
            keep = (~done).nonzero().squeeze(1)
            if keep.numel() == 0:
                break
            keep_rows = (keep[:, None] * beam + torch.arange(beam, device=device)).view(-1)
            state.select(keep_rows, keep)
            scores, active = scores[keep], active[keep]
            tokens, history, finished, lengths = tokens[keep_rows], history[keep_rows], finished[keep_rows], lengths[keep_rows]
    else:
        settle(torch.arange(active.numel(), device=device))  # reached the length limit
    model.train(was_training)
    return outputs, best_scores
