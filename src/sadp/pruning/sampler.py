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

The sharding arithmetic lives here and nowhere else: :meth:`PruningSampler.shard_size` (each
rank's positions, ceil(K / world_size)), :meth:`PruningSampler.batches` (each rank's loader length)
and :meth:`PruningSampler.trained_examples` (the real examples an epoch trains on when every rank
drops its last incomplete batch). The :class:`~sadp.pruning.Pruner` passes them on to a training loop.

A sampler built by a :class:`~sadp.pruning.Pruner` has one entry point, ``pruner.start_epoch(e)``:
its own ``set_epoch(e)`` (a ``DistributedSampler`` habit) then agrees for the epoch the pruner
started (the same selection, nothing re-selected) and refuses any other epoch.
"""
from __future__ import annotations

from typing import Iterator

import torch
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
            pad = self.shard_size(len(idx)) * self.world_size - len(idx)
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

    # -- sharding arithmetic: the layout set_epoch builds, as numbers ---------------------
    def shard_size(self, selected: int) -> int:
        """Positions each rank iterates in an epoch of ``selected`` examples, padding included:
        ceil(selected / world_size) (10 examples on 4 ranks: 3 each, 12 positions, 2 of them padding)."""
        return -(-selected // self.world_size)

    def batches(self, selected: int, batch_size: int, drop_last: bool = False) -> int:
        """Batches each rank runs in an epoch of ``selected`` examples (the loader's ``len``): its
        share split into ``batch_size`` batches, the last incomplete one dropped with ``drop_last``."""
        share = self.shard_size(selected)
        return share // batch_size if drop_last else -(-share // batch_size)

    def trained_examples(self, selected: int, batch_size: int, drop_last: bool = False) -> int:
        """Real examples (padding left out) an epoch of ``selected`` trains on over all ranks. With
        ``drop_last`` each rank drops its last incomplete batch; rank r holds positions r, r + W, ...
        of the padded order, so its padding (positions from ``selected`` on) sits at the end of its
        share and is dropped first."""
        if not drop_last:
            return selected
        used = self.batches(selected, batch_size, drop_last=True) * batch_size  # positions each rank trains on
        return sum(min(used, len(range(r, selected, self.world_size))) for r in range(self.world_size))

    def __iter__(self) -> Iterator[int]:
        if self.plan is None:
            raise self._not_started("iterating the loader")
        return iter(list(self._order))

    def __len__(self) -> int:
        if self.plan is None:
            raise self._not_started("asking the epoch's length")
        return len(self._order)
