"""A pre-LN Transformer encoder-decoder, readable in one sitting.

Tied embeddings (one joint vocabulary: source embedding = target embedding = output projection),
sinusoidal positions, `scaled_dot_product_attention`, label-smoothed loss computed only on real target
positions, and an incremental decoder state (cached keys/values) for fast generation.
"""

from __future__ import annotations

import dataclasses
import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seqgen import runtime
from seqgen.data.tokenization import BOS_ID, PAD_ID
from seqgen.models.losses import smoothed_cross_entropy


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    d_model: int  # width of every layer
    heads: int  # attention heads (d_model must divide by it)
    ffn: int  # feed-forward inner width
    encoder_layers: int
    decoder_layers: int
    dropout: float  # on embeddings and residual branches
    label_smoothing: float
    max_len: int  # longest sequence in tokens (longer inputs are truncated by the data loader)
    vocab_size: int = 0  # filled from the tokenizer by build_model

    def __post_init__(self) -> None:
        from seqgen.errors import ConfigError

        if self.d_model % self.heads:
            raise ConfigError(f"model.d_model ({self.d_model}) must be divisible by model.heads ({self.heads})")


class Dropout(nn.Module):
    """Dropout whose mask comes from raw 64-bit random integers read as bytes.

    On CPU, torch's Bernoulli sampling costs ~10 ms per 1.5M elements (a quarter of a training step
    here); drawing int64s is ~15x cheaper. The rate is quantised to 1/256 and outputs are rescaled by
    the exact keep probability, so the expectation is unchanged. Uses the global RNG: seeded runs repeat.
    """

    def __init__(self, p: float):
        super().__init__()
        self.threshold = round(p * 256)
        self.scale = 256 / (256 - self.threshold) if self.threshold < 256 else 0.0

    def forward(self, x: Tensor) -> Tensor:
        if not self.training or self.threshold == 0:
            return x
        n = x.numel()
        words = torch.randint(-(2**63), 2**63 - 1, ((n + 7) // 8,), dtype=torch.int64, device=x.device)
        keep = words.view(torch.uint8)[:n].view(x.shape) >= self.threshold
        return x * keep * self.scale


def attend(q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None, causal: bool) -> Tensor:
    """softmax(q k^T / sqrt(d), hiding masked keys) v, for (B, H, T, d) queries and (B, H, S, d) keys/values:
    written out where seqgen.runtime says so (training on CPU), else by SDPA."""
    if not runtime.spelled_out_attention(q.device):
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=causal)
    scores = (q * q.size(-1) ** -0.5) @ k.transpose(-2, -1)
    if causal:
        scores = scores.masked_fill(torch.ones(q.size(-2), k.size(-2), dtype=torch.bool, device=q.device).triu(1), float("-inf"))
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    return torch.softmax(scores, dim=-1, dtype=torch.float32).to(v.dtype) @ v


class Attention(nn.Module):
    """Multi-head attention over `scaled_dot_product_attention` (fused kernels; no dropout on the
    attention weights, which would force the slow unfused path on CPU)."""

    def __init__(self, d_model: int, heads: int, cross: bool):
        super().__init__()
        self.heads, self.cross = heads, cross
        if cross:
            self.q, self.kv = nn.Linear(d_model, d_model), nn.Linear(d_model, 2 * d_model)
        else:
            self.qkv = nn.Linear(d_model, 3 * d_model)
        self.out = nn.Linear(d_model, d_model)

    def _split(self, x: Tensor) -> Tensor:  # (B, T, D) -> (B, H, T, D/H)
        b, t, d = x.shape
        return x.view(b, t, self.heads, d // self.heads).transpose(1, 2)

    def project_memory(self, memory: Tensor) -> tuple[Tensor, Tensor]:
        k, v = self.kv(memory).chunk(2, dim=-1)
        return self._split(k), self._split(v)

    def forward(self, x: Tensor, mask: Tensor | None = None, causal: bool = False, kv: tuple[Tensor, Tensor] | None = None,
                cache: dict | None = None) -> Tensor:
        """`kv`: precomputed memory keys/values (cross-attention); `cache`: running self-attention keys/values."""
        if self.cross:
            q = self._split(self.q(x))
            k, v = kv
            if q.size(0) != k.size(0):  # beam search: K one-token queries per sentence share its memory
                return self._grouped_cross(q, k, v, mask)
        else:
            q, k, v = (self._split(t) for t in self.qkv(x).chunk(3, dim=-1))
            if cache is not None:  # incremental decoding: append this step's keys/values
                if "k" in cache:
                    k, v = torch.cat([cache["k"], k], dim=2), torch.cat([cache["v"], v], dim=2)
                cache["k"], cache["v"] = k, v
                causal = False  # one new query attends to everything before it
        y = attend(q, k, v, mask, causal)
        b, h, t, dh = y.shape
        return self.out(y.transpose(1, 2).reshape(b, t, h * dh))


    def _grouped_cross(self, q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None) -> Tensor:
        """Cross-attention of n*K single-token queries (the K beams of n sentences) on the n memories:
        one (K x S) attention per sentence instead of K copies of the memory (less memory traffic)."""
        rows, h, _, dh = q.shape
        n = k.size(0)
        q = q.view(n, rows // n, h, dh).transpose(1, 2)  # (n, H, K, dh)
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)  # (n, H, K, dh)
        return self.out(y.transpose(1, 2).reshape(rows, 1, h * dh))


class FeedForward(nn.Sequential):
    def __init__(self, d_model: int, ffn: int):
        super().__init__(nn.Linear(d_model, ffn), nn.GELU(), nn.Linear(ffn, d_model))


class EncoderLayer(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(cfg.d_model), nn.LayerNorm(cfg.d_model)
        self.attn = Attention(cfg.d_model, cfg.heads, cross=False)
        self.ffn = FeedForward(cfg.d_model, cfg.ffn)
        self.drop = Dropout(cfg.dropout)

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        x = x + self.drop(self.attn(self.norm1(x), mask=mask))
        return x + self.drop(self.ffn(self.norm2(x)))


class DecoderLayer(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.norm1, self.norm2, self.norm3 = (nn.LayerNorm(cfg.d_model) for _ in range(3))
        self.self_attn = Attention(cfg.d_model, cfg.heads, cross=False)
        self.cross_attn = Attention(cfg.d_model, cfg.heads, cross=True)
        self.ffn = FeedForward(cfg.d_model, cfg.ffn)
        self.drop = Dropout(cfg.dropout)

    def forward(self, x: Tensor, memory_kv: tuple[Tensor, Tensor], memory_mask: Tensor, cache: dict | None = None) -> Tensor:
        x = x + self.drop(self.self_attn(self.norm1(x), causal=True, cache=cache))
        x = x + self.drop(self.cross_attn(self.norm2(x), mask=memory_mask, kv=memory_kv))
        return x + self.drop(self.ffn(self.norm3(x)))


def sinusoids(length: int, dim: int) -> Tensor:
    position = torch.arange(length, dtype=torch.float32)[:, None]
    frequency = torch.exp(torch.arange(0, dim, 2, dtype=torch.float32) * (-math.log(10000.0) / dim))
    table = torch.zeros(length, dim)
    table[:, 0::2], table[:, 1::2] = torch.sin(position * frequency), torch.cos(position * frequency)
    return table


@dataclasses.dataclass
class DecoderState:
    """What incremental decoding carries from one step to the next."""

    memory_kv: list[tuple[Tensor, Tensor]]
    memory_mask: Tensor
    caches: list[dict]
    position: int = 0
    extra: Tensor | None = None  # added to every decoder input embedding (the VAE's z)

    def select(self, rows: Tensor, sentences: Tensor | None = None) -> None:
        """Keep only (or reorder to) the decoder rows `rows` (beam search, finished sentences), and the
        encoder memories `sentences` (None: leave them, e.g. when beams only move within their sentence).

        In beam search the memory holds one row per sentence, shared by its K beams (see Attention).
        """
        if sentences is not None:
            self.memory_kv = [(k[sentences], v[sentences]) for k, v in self.memory_kv]
            self.memory_mask = self.memory_mask[sentences]
        for cache in self.caches:
            for key in list(cache):
                cache[key] = cache[key][rows]
        if self.extra is not None:
            self.extra = self.extra[rows]


class Seq2Seq(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        self.embed = nn.Embedding(cfg.vocab_size, cfg.d_model, padding_idx=PAD_ID)
        nn.init.normal_(self.embed.weight, std=cfg.d_model**-0.5)
        self.register_buffer("positions", sinusoids(cfg.max_len + 2, cfg.d_model), persistent=False)
        self.encoder = nn.ModuleList(EncoderLayer(cfg) for _ in range(cfg.encoder_layers))
        self.decoder = nn.ModuleList(DecoderLayer(cfg) for _ in range(cfg.decoder_layers))
        self.encoder_norm, self.decoder_norm = nn.LayerNorm(cfg.d_model), nn.LayerNorm(cfg.d_model)
        self.drop = Dropout(cfg.dropout)

    def _embed(self, tokens: Tensor, offset: int = 0) -> Tensor:
        x = self.embed(tokens) * math.sqrt(self.cfg.d_model)
        return x + self.positions[offset : offset + tokens.size(1)]

    def encode(self, src: Tensor) -> tuple[Tensor, Tensor]:
        """Encoder states (B, S, D) and the attention mask (B, 1, 1, S) that hides source padding."""
        mask = (src != PAD_ID)[:, None, None, :]
        x = self.drop(self._embed(src))
        for layer in self.encoder:
            x = layer(x, mask)
        return self.encoder_norm(x), mask

    def decode(self, tgt_in: Tensor, memory: Tensor, memory_mask: Tensor, extra: Tensor | None = None) -> Tensor:
        """Teacher-forced decoder states (B, T, D)."""
        x = self._embed(tgt_in)
        if extra is not None:
            x = x + extra[:, None, :]
        x = self.drop(x)
        for layer in self.decoder:
            x = layer(x, layer.cross_attn.project_memory(memory), memory_mask)
        return self.decoder_norm(x)

    def logits(self, hidden: Tensor) -> Tensor:
        return hidden @ self.embed.weight.t()  # tied output projection

    def token_losses(self, hidden: Tensor, tgt_out: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """(label-smoothed loss sum, NLL sum, real-token count) over non-pad targets only."""
        real = tgt_out != PAD_ID
        # Projecting only real positions skips padding; chunked, so the full logits never exist (losses.py).
        smoothed, nll = smoothed_cross_entropy(hidden[real], self.embed.weight, tgt_out[real], self.cfg.label_smoothing)
        return smoothed, nll, real.sum()

    def forward(self, src: Tensor, tgt_in: Tensor, tgt_out: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        memory, mask = self.encode(src)
        return self.token_losses(self.decode(tgt_in, memory, mask), tgt_out)

    def sequence_log_probs(self, src: Tensor, tgt_in: Tensor, tgt_out: Tensor, extra: Tensor | None = None) -> Tensor:
        """log p(y|x) per sentence (B,), summed over real target tokens (no smoothing)."""
        memory, mask = self.encode(src)
        logp = F.log_softmax(self.logits(self.decode(tgt_in, memory, mask, extra)).float(), dim=-1)
        token = logp.gather(-1, tgt_out.unsqueeze(-1)).squeeze(-1)
        return (token * (tgt_out != PAD_ID)).sum(dim=1)

    # ---- incremental decoding -------------------------------------------------------------------
    def start(self, src: Tensor, extra: Tensor | None = None) -> DecoderState:
        memory, mask = self.encode(src)
        kv = [layer.cross_attn.project_memory(memory) for layer in self.decoder]
        return DecoderState(kv, mask, [{} for _ in self.decoder], 0, extra)

    def step(self, tokens: Tensor, state: DecoderState) -> Tensor:
        """Log-probabilities (B, V) of the next token given the previous one (B,), updating `state`."""
        x = self._embed(tokens[:, None], offset=state.position)
        if state.extra is not None:
            x = x + state.extra[:, None, :]
        for layer, kv, cache in zip(self.decoder, state.memory_kv, state.caches):
            x = layer(x, kv, state.memory_mask, cache=cache)
        state.position += 1
        return F.log_softmax(self.logits(self.decoder_norm(x[:, -1])).float(), dim=-1)


def build_model(cfg: ModelConfig, vocab_size: int) -> Seq2Seq:
    return Seq2Seq(dataclasses.replace(cfg, vocab_size=vocab_size))


def bos_column(batch_size: int, device: torch.device | str = "cpu") -> Tensor:
    return torch.full((batch_size,), BOS_ID, dtype=torch.long, device=device)
