"""The runtime policy (seqgen.runtime): one place decides device, precision and attention kernels."""

import torch

from seqgen import runtime
from seqgen.models.transformer import attend

CPU = torch.device("cpu")


def test_precision_policy_on_cpu_follows_the_cpu_flags():
    assert runtime.use_bf16("fp32", CPU) is False and runtime.use_bf16("bf16", CPU) is True
    assert runtime.use_bf16("auto", CPU) == runtime.cpu_has_bf16()
    assert ("no AVX-512 BF16" in runtime.machine()) != runtime.cpu_has_bf16()


def test_attention_is_written_out_only_when_training_on_cpu_and_agrees_with_sdpa():
    torch.manual_seed(0)
    q, k, v = (torch.randn(2, 4, 5, 8) for _ in range(3))
    mask = torch.ones(2, 1, 1, 5, dtype=torch.bool)
    mask[0, ..., -2:] = False
    with torch.no_grad():
        assert not runtime.spelled_out_attention(CPU)
        fused = attend(q, k, v, mask, causal=False)
    assert runtime.spelled_out_attention(CPU)
    written = attend(q, k, v, mask, causal=False)
    assert torch.allclose(fused, written, atol=1e-5)


def test_inference_context_has_no_gradients_and_the_chosen_precision():
    with runtime.inference(CPU, "bf16"):
        assert not torch.is_grad_enabled() and torch.is_autocast_enabled("cpu")
        assert (torch.ones(2, 2) @ torch.ones(2, 2)).dtype == torch.bfloat16
    with runtime.inference(CPU, "fp32"):
        assert not torch.is_autocast_enabled("cpu")
