"""Label-smoothed cross-entropy of a tied output projection, computed in row chunks.

`hidden @ weight.T` over an 8k vocabulary is a (tokens x 8000) matrix: about 190 MB in fp32 for a 6,000-token
batch, and the plain path (log_softmax, gather, mean, their backward) makes half a dozen such tensors per
step. On this CPU that cost more than the projection's matmuls (bench/RESULTS.md): the elementwise passes
are memory-bound, and the large, varying-size buffers fragment the heap so that steps keep faulting in fresh
pages. Here the logits exist only for `CHUNK_ROWS` rows at a time, and each chunk's gradient (softmax minus
the smoothed target) is formed while the chunk is hot, so forward does the projection's backward matmuls too
and backward only scales the stored gradients by the incoming one.

Numerics match the plain path: the matmuls run in the autocast dtype (bf16 here) and softmax statistics in
fp32. Same inputs, same chunking, same result: deterministic.
"""

from __future__ import annotations

import torch
from torch import Tensor

CHUNK_ROWS = 512  # 512 x 8000 fp32 logits = 16 MB: fits this machine's L3 cache; 256-2048 measured within 5%


def smoothed_cross_entropy(hidden: Tensor, weight: Tensor, target: Tensor, smoothing: float) -> tuple[Tensor, Tensor]:
    """(label-smoothed loss sum, NLL sum) of `target` (N,) under logits `hidden @ weight.T` (N x V).

    Equal to `F.cross_entropy(logits, target, label_smoothing=smoothing, reduction="sum")` and the plain NLL sum
    (not differentiable); gradients reach `hidden` and `weight`.
    """
    return _ChunkedSmoothedCrossEntropy.apply(hidden, weight, target, smoothing)


class _ChunkedSmoothedCrossEntropy(torch.autograd.Function):
    @staticmethod
    def forward(ctx, hidden: Tensor, weight: Tensor, target: Tensor, smoothing: float):
        device = hidden.device.type
        dtype = torch.get_autocast_dtype(device) if torch.is_autocast_enabled(device) else hidden.dtype
        want_grad = any(ctx.needs_input_grad[:2])
        with torch.autocast(device, enabled=False):
            h, w = hidden.to(dtype), weight.to(dtype)
            vocab = w.size(0)
            grad_h = torch.empty_like(h) if want_grad else None
            grad_w = torch.zeros(w.shape, dtype=torch.float32, device=w.device) if want_grad else None
            smoothed = torch.zeros((), dtype=torch.float32, device=h.device)
            nll = torch.zeros((), dtype=torch.float32, device=h.device)
            # One set of work buffers for all chunks: fresh chunk-sized allocations cost page faults here.
            rows_max = min(CHUNK_ROWS, h.size(0))
            low = torch.empty(rows_max, vocab, dtype=dtype, device=h.device)  # logits, then their gradient
            work = torch.empty(rows_max, vocab, dtype=torch.float32, device=h.device)
            grad_w_part = torch.empty_like(w) if want_grad else None
            for start in range(0, h.size(0), CHUNK_ROWS):
                rows, labels = h[start : start + CHUNK_ROWS], target[start : start + CHUNK_ROWS]
                count = rows.size(0)
                chunk_low, logits = low[:count], work[:count]
                logits.copy_(torch.mm(rows, w.t(), out=chunk_low))
                mean = logits.mean(dim=-1)
                picked = logits.gather(1, labels[:, None]).squeeze(1)
                top = logits.amax(dim=-1, keepdim=True)
                probs = logits.sub_(top).exp_()  # in place: the logits are not needed any more
                total = probs.sum(dim=-1, keepdim=True)
                log_z = (top + total.log()).squeeze(1)
                token_nll = log_z - picked
                nll += token_nll.sum()
                smoothed += ((1 - smoothing) * token_nll + smoothing * (log_z - mean)).sum()
                if want_grad:
                    # d loss / d logits = softmax - ((1 - eps) * one_hot(label) + eps / V)
                    grad = probs.div_(total).sub_(smoothing / vocab)
                    grad.scatter_add_(1, labels[:, None], torch.full((count, 1), smoothing - 1.0, device=grad.device))
                    grad = chunk_low.copy_(grad)
                    torch.mm(grad, w, out=grad_h[start : start + CHUNK_ROWS])
                    grad_w += torch.mm(grad.t(), rows, out=grad_w_part)
        ctx.save_for_backward(grad_h, grad_w)
        ctx.input_dtypes = (hidden.dtype, weight.dtype)
        ctx.mark_non_differentiable(nll)
        return smoothed, nll

    @staticmethod
    def backward(ctx, grad_smoothed: Tensor, _grad_nll: Tensor):
        grad_h, grad_w = ctx.saved_tensors
        hidden_dtype, weight_dtype = ctx.input_dtypes
        return grad_h.to(hidden_dtype) * grad_smoothed, grad_w.to(weight_dtype) * grad_smoothed, None, None
