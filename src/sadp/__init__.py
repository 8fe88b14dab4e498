"""sadp: spike-aware dynamic data pruning for spiking neural networks.

``sadp.Pruner`` is the object a training loop uses (see :mod:`sadp.pruning`); it is imported on
first use so that ``import sadp`` stays light.
"""
from __future__ import annotations

from typing import Any

from sadp.registry import DATASETS, METHODS, MODELS

__version__ = "0.1.0"
__all__ = ["DATASETS", "METHODS", "MODELS", "Pruner", "__version__"]


def __getattr__(name: str) -> Any:
    if name == "Pruner":
        from sadp.pruning import Pruner

        return Pruner
    raise AttributeError(f"module 'sadp' has no attribute {name!r}")
