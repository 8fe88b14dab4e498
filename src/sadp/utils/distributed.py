"""Process-group queries and the two collectives the package uses; a no-op in a single process.

Shared by the pruning facade (statistics of all ranks) and the training loop (launch, metrics).
"""
from __future__ import annotations

import torch
import torch.distributed as dist
from torch import Tensor


def world_size() -> int:
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def rank() -> int:
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def all_gather_cat(t: Tensor, dim: int = 0) -> Tensor:
    """Concatenate ``t`` from every rank in rank order (same shape on every rank)."""
    if world_size() == 1:
        return t
    parts = [torch.empty_like(t) for _ in range(world_size())]
    dist.all_gather(parts, t.contiguous())
    return torch.cat(parts, dim=dim)


def all_reduce_sum(t: Tensor) -> Tensor:
    if world_size() > 1:
        dist.all_reduce(t)
    return t


def barrier() -> None:
    if world_size() > 1:
        dist.barrier()
