"""The pruning interface: every method (full data, random, InfoBatch, ..., SADP) implements it.

Per epoch a method
  1. ``select(epoch)`` -> :class:`EpochPlan`: which example indices to train on and a loss
     weight per example (a dense [N] vector; only selected entries are read);
  2. ``observe(stats)`` after each trained batch: indices, logits, targets, per-example loss and
     spike counts of that batch (all detached, still on the training device);
  3. ``end_epoch(epoch)`` once the epoch's batches are done.
Its whole state (scores, counters, RNG) round-trips through ``state_dict``/``load_state_dict``
so that a resumed run selects exactly what the uninterrupted run would.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import Tensor


@dataclass
class BatchStats:
    """What one training step tells the pruning method about its examples."""

    indices: Tensor  # [B] long, dataset indices
    logits: Tensor  # [B, K] readout logits (mean over T for the mean readout), detached
    targets: Tensor  # [B] long
    loss: Tensor  # [B] unweighted per-example loss, detached
    spike_counts: Tensor | None = None  # [T, B] spike count of the head's input per step
    layer_spike_counts: list[Tensor] | None = None  # per spiking layer, each [T, B]


@dataclass
class EpochPlan:
    """The epoch's selection: ``indices`` (long, CPU) and ``weights`` (dense [N] float)."""

    indices: Tensor
    weights: Tensor

    def __len__(self) -> int:
        return len(self.indices)


def budget(num_examples: int, ratio: float) -> int:
    """K = round((1 - r) N), at least 1."""
    return max(1, int(round((1.0 - ratio) * num_examples)))


class PruningMethod:
    """Base class. Subclasses set ``name`` and override ``select`` (and ``observe`` if they learn)."""

    name: ClassVar[str] = ""
    needs_spikes: ClassVar[bool] = False  # ask the trainer to record spike counts per step
    needs_layer_spikes: ClassVar[bool] = False

    def __init__(
        self,
        num_examples: int,
        ratio: float = 0.0,
        epochs: int = 1,
        seed: int = 0,
        device: str | torch.device = "cpu",
        **options: Any,
    ) -> None:
        if num_examples <= 0:
            raise ValueError(f"num_examples must be positive, got {num_examples}")
        if not 0.0 <= ratio < 1.0:
            raise ValueError(f"pruning ratio must be in [0, 1), got {ratio}")
        if epochs <= 0:
            raise ValueError(f"epochs must be positive, got {epochs}")
        if options:
            raise TypeError(f"{type(self).__name__} got unknown options: {sorted(options)}")
        self.num_examples = num_examples
        self.ratio = float(ratio)
        self.epochs = epochs
        self.seed = seed
        self.device = torch.device(device)
        self.generator = torch.Generator().manual_seed(seed)  # CPU RNG: selection is seeded & resumable
        self.weights = torch.ones(num_examples, device=self.device)

    # -- the three calls --------------------------------------------------------------
    def select(self, epoch: int) -> EpochPlan:
        raise NotImplementedError

    def observe(self, stats: BatchStats) -> None:
        """Default: nothing to learn."""

    def end_epoch(self, epoch: int) -> None:
        """Default: nothing to do."""

    # -- the loss the training loop minimises ----------------------------------------
    def weighted_loss(self, per_example_loss: Tensor, indices: Tensor) -> Tensor:
        """mean_b(w_b * l_b) with this epoch's weights."""
        return (self.weights[indices] * per_example_loss).mean()

    # -- state ----------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {"generator": self.generator.get_state(), "weights": self.weights.cpu()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.generator.set_state(state["generator"])
        self.weights = state["weights"].to(self.device)

    def to(self, device: str | torch.device) -> "PruningMethod":
        """Move tensor state to ``device`` (scores live on the training device)."""
        self.device = torch.device(device)
        for k, v in list(vars(self).items()):
            if isinstance(v, Tensor):
                setattr(self, k, v.to(self.device))
        return self
