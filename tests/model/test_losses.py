"""The chunked label-smoothed cross-entropy equals PyTorch's own, in value and gradient, across chunk edges."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from seqgen.models.losses import CHUNK_ROWS, smoothed_cross_entropy


@pytest.fixture
def inputs():
    generator = torch.Generator().manual_seed(7)
    rows = 2 * CHUNK_ROWS + 37  # three chunks, the last one partial
    hidden = torch.randn(rows, 32, generator=generator, requires_grad=True)
    weight = (torch.randn(300, 32, generator=generator) * 0.3).requires_grad_()
    target = torch.randint(0, 300, (rows,), generator=generator)
    return hidden, weight, target


@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_matches_cross_entropy_in_fp32(inputs, smoothing):
    hidden, weight, target = inputs
    expected = F.cross_entropy(hidden @ weight.t(), target, label_smoothing=smoothing, reduction="sum")
    expected_nll = F.cross_entropy(hidden @ weight.t(), target, reduction="sum")
    (expected * 0.5).backward()
    expected_grads = hidden.grad.clone(), weight.grad.clone()
    hidden.grad = weight.grad = None

    loss, nll = smoothed_cross_entropy(hidden, weight, target, smoothing)
    (loss * 0.5).backward()  # the incoming gradient scales the stored one
    assert loss.item() == pytest.approx(expected.item(), rel=1e-6)
    assert nll.item() == pytest.approx(expected_nll.item(), rel=1e-6) and not nll.requires_grad
    for got, want in zip((hidden.grad, weight.grad), expected_grads):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)


def test_bf16_autocast_stays_within_bf16_rounding(inputs):
    hidden, weight, target = inputs
    expected = F.cross_entropy(hidden @ weight.t(), target, label_smoothing=0.1, reduction="sum")
    expected.backward()
    expected_grad = weight.grad.clone()
    weight.grad = None
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss, _ = smoothed_cross_entropy(hidden, weight, target, 0.1)
    loss.backward()
    assert weight.grad.dtype == torch.float32 and hidden.grad.dtype == torch.float32
    assert loss.item() == pytest.approx(expected.item(), rel=1e-2)
    assert ((weight.grad - expected_grad).norm() / expected_grad.norm()).item() < 0.01


def test_without_grad_gives_the_same_loss(inputs):
    hidden, weight, target = inputs
    loss, nll = smoothed_cross_entropy(hidden, weight, target, 0.1)
    with torch.no_grad():
        again, nll_again = smoothed_cross_entropy(hidden, weight, target, 0.1)
    assert torch.equal(loss.detach(), again) and torch.equal(nll, nll_again)
