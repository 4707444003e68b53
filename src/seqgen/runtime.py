"""The one runtime policy: which device, which precision and which attention kernels training, evaluation and
serving run with, and the words that describe the machine. Everything hardware-dependent is decided here, so a new
machine kind is one change in one place.

- Device: the GPU of this process's rank where there is one (LOCAL_RANK under torchrun), else the CPU.
- Precision `auto`: bf16 autocast where bf16 matmuls are native (a GPU that supports it; a CPU with AVX-512 BF16
  or AMX), fp32 elsewhere, where emulated bf16 is slower than fp32. `bf16` and `fp32` force one.
- Attention kernels on CPU: the math path (`sdpa_kernel(MATH)`), both for training (the fused CPU kernel's backward
  took 45 ms a call here against 6 ms for bmm + softmax, torch.profiler, torch 2.13) and for decoding (one query a
  step: greedy 2.7 s -> 2.1 s on test_2016_flickr). With gradients on CPU the attention is written out
  (`spelled_out_attention`): SDPA's math path upcasts bf16 to fp32, written out the two matmuls stay in bf16 and only
  the softmax runs in fp32 (bench/RESULTS.md). Elsewhere torch's own choice of kernel stands.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Iterator

import torch


def pick_device() -> torch.device:
    if torch.cuda.is_available():
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
    return torch.device("cpu")


def _cpuinfo() -> str:
    try:
        return Path("/proc/cpuinfo").read_text()
    except OSError:
        return ""


def cpu_has_bf16() -> bool:
    """AVX-512 BF16 or AMX: bf16 matmuls run natively (elsewhere they are emulated and slow)."""
    flags = _cpuinfo()
    return "avx512_bf16" in flags or "amx_bf16" in flags


def use_bf16(precision: str, device: torch.device) -> bool:
    """Whether to autocast to bf16 under `precision` (auto | bf16 | fp32) on `device`."""
    if precision == "auto":
        return torch.cuda.is_bf16_supported() if device.type == "cuda" else cpu_has_bf16()
    return precision == "bf16"


def autocast(device: torch.device, bf16: bool):
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16)


def attention_kernels(device: torch.device):
    """The SDPA kernels to allow: the math path on CPU (see the module's doc), torch's choice elsewhere."""
    from torch.nn.attention import SDPBackend, sdpa_kernel

    return sdpa_kernel(SDPBackend.MATH) if device.type == "cpu" else contextlib.nullcontext()


def spelled_out_attention(device: torch.device) -> bool:
    """Whether attention is computed as bmm + softmax + bmm rather than by SDPA: training (gradients) on CPU."""
    return torch.is_grad_enabled() and device.type == "cpu"


@contextlib.contextmanager
def inference(device: torch.device, precision: str) -> Iterator[None]:
    """Decoding and scoring without gradients, with this policy's kernels and precision."""
    with torch.no_grad(), attention_kernels(device), autocast(device, use_bf16(precision, device)):
        yield


def cpu_name() -> str:
    return next((line.split(":", 1)[1].strip() for line in _cpuinfo().splitlines() if line.startswith("model name")), "unknown CPU")


def machine() -> str:
    """The CPU, its core count and whether it has AVX-512 BF16 (training then runs in bf16, and gives other bytes
    than fp32 elsewhere)."""
    return f"{cpu_name()}, {os.cpu_count()} cores, {'AVX-512 BF16' if cpu_has_bf16() else 'no AVX-512 BF16'}"
