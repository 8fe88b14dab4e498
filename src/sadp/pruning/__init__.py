"""Data pruning: one interface (:class:`PruningMethod`), a sampler and a spike monitor.

Integration in a plain PyTorch loop (three changes)::

    method = build_method("sadp", len(ds), ratio=0.5, epochs=E)
    sampler = PruningSampler(method)
    loader = DataLoader(WithIndex(ds), batch_size=64, sampler=sampler)    # items (x, y, index)
    monitor = SpikeMonitor(model)                                         # spike counts for SADP
    for epoch in range(E):
        sampler.set_epoch(epoch)                                          # selection, once per epoch
        for x, y, idx in loader:
            with monitor.record():
                out = model(x)                                            # [T, B, K]
            z = out.mean(0)
            loss = method.step_loss(F.cross_entropy(z, y, reduction="none"), idx, z, y, monitor.counts)
            ...
        method.end_epoch(epoch)
"""
from __future__ import annotations

from typing import Any

from sadp.pruning.base import BatchStats, EpochPlan, ModelProbe, PruningMethod, budget
from sadp.pruning.monitor import SpikeMonitor
from sadp.data.base import WithIndex  # items become (x, y, index)
from sadp.pruning.sampler import PruningSampler
from sadp.pruning.sampling import floor_scores, horvitz_thompson_weights, inclusion_probabilities, systematic_pps
from sadp.registry import METHODS


def build_method(name: str, num_examples: int, **kwargs: Any) -> PruningMethod:
    """Build a registered pruning method, e.g. ``build_method("sadp", 50000, ratio=0.3, epochs=200)``."""
    return METHODS.build(name, num_examples, **kwargs)


__all__ = [
    "BatchStats", "EpochPlan", "ModelProbe", "PruningMethod", "PruningSampler", "SpikeMonitor", "WithIndex",
    "budget", "build_method", "floor_scores", "horvitz_thompson_weights", "inclusion_probabilities", "systematic_pps",
]
