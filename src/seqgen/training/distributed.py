"""Data parallelism across processes started by `torchrun` (gloo on CPU, nccl on GPU).

Gradients are summed with one all-reduce per step over a flat buffer, after each process divides its
loss by the token count of the *global* batch: the result equals a single process on the whole batch,
whatever the split of tokens between processes (DistributedDataParallel's mean would not).
"""

from __future__ import annotations

import os
from typing import Iterable

import torch
import torch.distributed as dist


def world() -> tuple[int, int]:
    """(rank, world size): from torchrun's environment, (0, 1) otherwise."""
    return int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))


_device = torch.device("cpu")  # where collective tensors live (nccl needs them on the GPU)


def init(device: torch.device) -> None:
    global _device
    _device = device
    rank, size = world()
    if size > 1 and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo", rank=rank, world_size=size)


def active() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def allreduce_sum(value: float) -> float:
    if not active():
        return value
    tensor = torch.tensor([float(value)], dtype=torch.float64, device=_device)
    dist.all_reduce(tensor)
    return float(tensor)


def allreduce_grads(parameters: Iterable[torch.nn.Parameter]) -> None:
    if not active():
        return
    grads = [p.grad for p in parameters if p.grad is not None]
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    offset = 0
    for g in grads:
        g.copy_(flat[offset : offset + g.numel()].view_as(g))
        offset += g.numel()


def barrier() -> None:
    if active():
        dist.barrier()


def shutdown() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
