"""The sampler a DataLoader (or :class:`sadp.data.DeviceLoader`) draws from.

``set_epoch(e)`` asks the method for the epoch's selection once; ``__iter__`` then returns a
fresh one-pass iterator over a seeded shuffle of it (never re-pruning), and ``len()`` is the
coming epoch's length so LR schedules can be sized. With ``world_size > 1`` each rank gets a
disjoint, equal-length share: the shuffled selection is padded by wrapping around to a multiple
of world_size, as ``DistributedSampler`` does, and ``valid`` marks the padding positions False so
the training loop (:class:`sadp.pruning.Pruner`) gives them zero loss weight and leaves them out of
the statistics; the real (valid) positions of all ranks are disjoint and together cover the
selection.
"""
from __future__ import annotations

from typing import Iterator

import torch
from torch import Tensor
from torch.utils.data import Sampler

from sadp.pruning.base import EpochPlan, PruningMethod


class PruningSampler(Sampler[int]):
    def __init__(
        self,
        method: PruningMethod,
        shuffle: bool = True,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        self.method = method
        self.shuffle = shuffle
        self.seed = seed
        self.rank, self.world_size = rank, world_size
        self.epoch: int | None = None
        self.plan: EpochPlan | None = None
        self.order = torch.zeros(0, dtype=torch.long)  # this rank's dataset indices, in iteration order
        self._order: list[int] = []
        self.valid = torch.ones(0, dtype=torch.bool)  # per position of this rank's order

    def set_epoch(self, epoch: int) -> EpochPlan:
        """Select the epoch's examples (once) and fix their order for every rank."""
        self.epoch = epoch
        self.plan = self.method.select(epoch)
        idx = self.plan.indices.cpu().long()
        if self.shuffle:
            g = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
            idx = idx[torch.randperm(len(idx), generator=g)]
        valid = torch.ones(len(idx), dtype=torch.bool)
        if self.world_size > 1:
            per_rank = -(-len(idx) // self.world_size)
            pad = per_rank * self.world_size - len(idx)
            if pad:
                idx = torch.cat([idx, idx[:pad]])
                valid = torch.cat([valid, torch.zeros(pad, dtype=torch.bool)])
            idx = idx[self.rank :: self.world_size]
            valid = valid[self.rank :: self.world_size]
        self.valid = valid
        self.order = idx
        self._order = idx.tolist()
        return self.plan

    @property
    def selected(self) -> Tensor:
        if self.plan is None:
            raise RuntimeError("call set_epoch(epoch) before iterating")
        return self.plan.indices

    def __iter__(self) -> Iterator[int]:
        if self.plan is None:
            raise RuntimeError("call set_epoch(epoch) (or Pruner.start_epoch) before iterating")
        return iter(list(self._order))

    def __len__(self) -> int:
        if self.plan is None:
            raise RuntimeError("call set_epoch(epoch) (or Pruner.start_epoch) before asking the epoch's length")
        return len(self._order)
