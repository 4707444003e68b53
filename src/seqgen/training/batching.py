"""Token-bucketed batches from an encoded split.

Examples are sorted by (target, source) length so a batch holds similar lengths (little padding), cut
into batches of at most `batch_tokens` padded tokens, and the batch order is shuffled per epoch by a
seeded generator: the stream is a pure function of (seed, epoch, position), which is what makes resume
after a kill and runs on several processes reproducible.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch
from torch import Tensor

from seqgen.data.tokenization import BOS_ID, EOS_ID, PAD_ID, EncodedSplit


@dataclasses.dataclass
class Batch:
    src: Tensor  # (B, S) source ids, PAD-padded
    tgt_in: Tensor  # (B, T) BOS + target
    tgt_out: Tensor  # (B, T) target + EOS

    @property
    def target_tokens(self) -> int:
        return int((self.tgt_out != PAD_ID).sum())

    @property
    def size(self) -> int:
        return self.src.size(0)

    def shard(self, rank: int, world: int) -> "Batch":
        """This process's share of a global batch (rows rank, rank+world, ...)."""
        return Batch(self.src[rank::world], self.tgt_in[rank::world], self.tgt_out[rank::world])

    def to(self, device: torch.device) -> "Batch":
        return Batch(self.src.to(device), self.tgt_in.to(device), self.tgt_out.to(device))


def clipped_lengths(split: EncodedSplit, max_len: int) -> tuple[np.ndarray, np.ndarray]:
    return np.minimum(split.source_lengths(), max_len), np.minimum(split.target_lengths(), max_len - 1) + 1


def bucket(split: EncodedSplit, batch_tokens: int, max_len: int, seed: int, indices: np.ndarray | None = None) -> list[np.ndarray]:
    """Index arrays of length-homogeneous batches (in length order) over `indices` (default: all)."""
    src_len, tgt_len = clipped_lengths(split, max_len)
    indices = np.arange(len(split)) if indices is None else indices
    tie_break = np.random.default_rng(seed).permutation(len(indices))  # fixed, seeded order among equal lengths
    order = indices[np.lexsort((tie_break, src_len[indices], tgt_len[indices]))]
    batches, start = [], 0
    while start < len(order):
        end, longest = start, 0
        while end < len(order):
            i = order[end]
            longest = max(longest, src_len[i], tgt_len[i])
            if (end - start + 1) * longest > batch_tokens and end > start:
                break
            end += 1
        batches.append(order[start:end])
        start = end
    return batches


def collate(split: EncodedSplit, indices: np.ndarray, max_len: int) -> Batch:
    """Pad a batch. Over-long sources keep their *last* tokens (the most recent dialogue turns)."""
    sources = [split.source(i)[-max_len:] for i in indices]
    targets = [split.target(i)[: max_len - 1] for i in indices]
    src = np.full((len(indices), max(1, max(map(len, sources)))), PAD_ID, dtype=np.int64)
    tgt_in = np.full((len(indices), max(map(len, targets)) + 1), PAD_ID, dtype=np.int64)
    tgt_out = tgt_in.copy()
    for row, (s, t) in enumerate(zip(sources, targets)):
        src[row, : len(s)] = s
        tgt_in[row, 0], tgt_in[row, 1 : len(t) + 1] = BOS_ID, t
        tgt_out[row, : len(t)], tgt_out[row, len(t)] = t, EOS_ID
    return Batch(torch.from_numpy(src), torch.from_numpy(tgt_in), torch.from_numpy(tgt_out))


class BatchStream:
    """An endless, resumable stream of training batches: epoch after epoch, each in a seeded order."""

    def __init__(self, split: EncodedSplit, batch_tokens: int, max_len: int, seed: int):
        self.split, self.max_len, self.seed = split, max_len, seed
        self.batches = bucket(split, batch_tokens, max_len, seed)
        self.epoch, self.position = 0, 0
        self._order = self._epoch_order()

    def _epoch_order(self) -> list[int]:
        generator = torch.Generator().manual_seed(self.seed * 1000 + self.epoch)
        return torch.randperm(len(self.batches), generator=generator).tolist()

    def __next__(self) -> Batch:
        if self.position == len(self.batches):
            self.epoch, self.position = self.epoch + 1, 0
            self._order = self._epoch_order()
        batch = collate(self.split, self.batches[self._order[self.position]], self.max_len)
        self.position += 1
        return batch

    def state_dict(self) -> dict:
        return {"epoch": self.epoch, "position": self.position}

    def load_state_dict(self, state: dict) -> None:
        self.epoch, self.position = int(state["epoch"]), int(state["position"])
        self._order = self._epoch_order()


def evaluation_batches(split: EncodedSplit, batch_tokens: int, max_len: int, limit: int | None = None) -> list[Batch]:
    """Batches over the first `limit` examples of an evaluation split, in length order."""
    indices = np.arange(len(split) if limit is None else min(limit, len(split)))
    return [collate(split, b, max_len) for b in bucket(split, batch_tokens, max_len, seed=0, indices=indices)]
