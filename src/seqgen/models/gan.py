"""The GAN's discriminator: a small Transformer encoder that reads a (source, target) pair and says
whether the target was written by a human (logit > 0) or generated."""

from __future__ import annotations

import dataclasses

import torch
from torch import Tensor, nn

from seqgen.data.tokenization import PAD_ID
from seqgen.models.transformer import EncoderLayer, ModelConfig, sinusoids


@dataclasses.dataclass(frozen=True)
class DiscriminatorConfig:
    d_model: int
    heads: int
    ffn: int
    layers: int
    dropout: float


class Discriminator(nn.Module):
    def __init__(self, cfg: DiscriminatorConfig, vocab_size: int, max_len: int):
        super().__init__()
        layer_cfg = ModelConfig(cfg.d_model, cfg.heads, cfg.ffn, cfg.layers, 0, cfg.dropout, 0.0, max_len, vocab_size)
        self.embed = nn.Embedding(vocab_size, cfg.d_model, padding_idx=PAD_ID)
        self.segment = nn.Embedding(2, cfg.d_model)  # 0: source, 1: target
        self.register_buffer("positions", sinusoids(2 * max_len + 2, cfg.d_model), persistent=False)
        self.layers = nn.ModuleList(EncoderLayer(layer_cfg) for _ in range(cfg.layers))
        self.norm = nn.LayerNorm(cfg.d_model)
        self.head = nn.Linear(cfg.d_model, 1)

    def forward(self, src: Tensor, tgt: Tensor) -> Tensor:
        """Logits (B,) that `tgt` is a human translation/response of `src`."""
        tokens = torch.cat([src, tgt], dim=1)
        segments = torch.cat([torch.zeros_like(src), torch.ones_like(tgt)], dim=1)
        x = self.embed(tokens) + self.segment(segments) + self.positions[: tokens.size(1)]
        real = tokens != PAD_ID
        mask = real[:, None, None, :]
        for layer in self.layers:
            x = layer(x, mask)
        x = self.norm(x)
        pooled = (x * real[..., None]).sum(1) / real.sum(1, keepdim=True).clamp(min=1)
        return self.head(pooled).squeeze(-1)
