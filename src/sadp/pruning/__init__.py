"""Data pruning: one interface (:class:`PruningMethod`), a sampler and a spike monitor."""
from __future__ import annotations

from typing import Any

from sadp.pruning.base import BatchStats, EpochPlan, PruningMethod, budget
from sadp.pruning.monitor import SpikeMonitor
from sadp.pruning.sampler import PruningSampler
from sadp.registry import METHODS


def build_method(name: str, num_examples: int, **kwargs: Any) -> PruningMethod:
    """Build a registered pruning method, e.g. ``build_method("sadp", 50000, ratio=0.3, epochs=200)``."""
    return METHODS.build(name, num_examples, **kwargs)


__all__ = ["BatchStats", "EpochPlan", "PruningMethod", "PruningSampler", "SpikeMonitor", "budget", "build_method"]
