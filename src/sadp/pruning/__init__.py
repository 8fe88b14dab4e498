"""Data pruning: one object for the training loop (:class:`Pruner`), one interface for methods
(:class:`PruningMethod`), a sampler and a spike monitor.

Integration in a plain PyTorch loop: five changed lines, the import and four marked ones
(``examples/`` has complete loops for sadp models, SpikingJelly, snnTorch, batch-first event
frames, a per-step LR schedule and DDP under torchrun)::

    import sadp                                                                # sadp
    pruner = sadp.Pruner(model, train_ds, "sadp", ratio=0.3, epochs=E)         # sadp
    loader = DataLoader(train_ds, batch_size=64, sampler=pruner.sampler)       # sadp (was shuffle=True)
    for epoch in range(E):
        pruner.start_epoch(epoch)                                              # sadp
        for x, y in loader:
            out = model(x)                                                     # [T, B, K]
            loss = pruner.loss(out, y)                                         # sadp (was F.cross_entropy)
            optimizer.zero_grad(); loss.backward(); optimizer.step()
        print(pruner.end_epoch())                                              # optional: EpochReport

Resume with ``pruner.state_dict()`` / ``pruner.load_state_dict()``. ``sadp.train.Trainer`` prunes
through the same object.
"""
from __future__ import annotations

from typing import Any

from sadp.data.base import WithIndex  # items become (x, y, index)
from sadp.pruning.base import (  # noqa: F401  (StepStats: for methods)
    RENAMED_CLASSES,
    EpochPlan,
    ModelAccess,
    PruningMethod,
    StepStats,
    budget,
    renamed_class,
)
from sadp.pruning.facade import Criterion, EpochReport, Pruner
from sadp.pruning.monitor import SpikeMonitor
from sadp.pruning.sampler import PruningSampler
from sadp.pruning.sampling import floor_scores, horvitz_thompson_weights, inclusion_probabilities, systematic_pps
from sadp.registry import METHODS


def build_method(name: str, num_examples: int, **kwargs: Any) -> PruningMethod:
    """Build a registered pruning method, e.g. ``build_method("sadp", 50000, ratio=0.3, epochs=200)``."""
    return METHODS.build(name, num_examples, **kwargs)


def __getattr__(name: str) -> Any:
    """``ModelProbe`` and ``BatchStats``, the former names of ``ModelAccess`` and ``StepStats``
    (a DeprecationWarning)."""
    if name in RENAMED_CLASSES:
        return renamed_class(__name__, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# StepStats (what one step tells a method) is internal: Pruner assembles it; methods import it
# from sadp.pruning.base.
__all__ = [
    "Criterion", "EpochPlan", "EpochReport", "ModelAccess", "Pruner", "PruningMethod", "PruningSampler",
    "SpikeMonitor", "WithIndex", "budget", "build_method", "floor_scores", "horvitz_thompson_weights",
    "inclusion_probabilities", "systematic_pps",
]
