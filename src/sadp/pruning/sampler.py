"""The sampler a DataLoader (or :class:`sadp.data.DeviceLoader`) draws from.

``set_epoch(e)`` asks the method for the epoch's selection once; ``__iter__`` then returns a
fresh one-pass iterator over a seeded shuffle of it (never re-pruning), and ``len()`` is the
coming epoch's length. With ``world_size > 1`` each rank gets a disjoint, equal-length share: the
shuffled selection is padded to a multiple of world_size by repeating it from its start (as
``torch.utils.data.DistributedSampler`` does, so even a selection smaller than the world size
gives every rank the same number of positions), and ``valid`` marks the padding positions False
so the training loop (:class:`sadp.pruning.Pruner`) gives them zero loss weight and leaves them
out of the statistics; the real (valid) positions of all ranks are disjoint and together cover
the selection.

A sampler built by a :class:`~sadp.pruning.Pruner` has one entry point, ``pruner.start_epoch(e)``:
its own ``set_epoch(e)`` (a ``DistributedSampler`` habit) then agrees for the epoch the pruner
started (the same selection, nothing re-selected) and refuses any other epoch.
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
        self.driven_by_pruner = False  # set by Pruner: start_epoch is then the one entry point
        self._starting: int | None = None  # the epoch Pruner.start_epoch is selecting right now

    def set_epoch(self, epoch: int) -> EpochPlan:
        """Select the epoch's examples (once) and fix their order for every rank.

        On a Pruner's sampler: returns the current plan unchanged for the epoch the pruner started
        and raises for any other (call ``pruner.start_epoch(epoch)`` instead)."""
        if self.driven_by_pruner and self._starting != epoch:
            if self.plan is not None and epoch == self.epoch:
                return self.plan  # agrees with pruner.start_epoch(epoch): the same selection
            started = "no epoch yet" if self.epoch is None else f"epoch {self.epoch}"
            raise RuntimeError(
                f"sampler.set_epoch({epoch}) on a Pruner's sampler (the pruner started {started}): "
                f"call pruner.start_epoch({epoch}) instead, once at the start of each epoch"
            )
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
            if pad:  # repeat the selection from its start, as often as needed (1 example on 4 ranks: 3 copies)
                idx = torch.cat([idx, idx.repeat(-(-pad // len(idx)))[:pad]])
                valid = torch.cat([valid, torch.zeros(pad, dtype=torch.bool)])
            idx = idx[self.rank :: self.world_size]
            valid = valid[self.rank :: self.world_size]
        self.valid = valid
        self.order = idx
        self._order = idx.tolist()
        return self.plan

    def _not_started(self, what: str) -> RuntimeError:
        if self.driven_by_pruner:
            extra = (" (to size a schedule before the loop: pruner.steps_per_epoch(batch_size))"
                     if what == "asking the epoch's length" else "")
            return RuntimeError(f"call pruner.start_epoch(epoch) at the start of each epoch, before {what}{extra}")
        return RuntimeError(f"call sampler.set_epoch(epoch) before {what}")

    @property
    def selected(self) -> Tensor:
        if self.plan is None:
            raise self._not_started("reading the selection")
        return self.plan.indices

    def __iter__(self) -> Iterator[int]:
        if self.plan is None:
            raise self._not_started("iterating the loader")
        return iter(list(self._order))

    def __len__(self) -> int:
        if self.plan is None:
            raise self._not_started("asking the epoch's length")
        return len(self._order)
