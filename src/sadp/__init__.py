"""sadp: spike-aware dynamic data pruning for spiking neural networks.

``sadp.Pruner`` is the object a training loop uses (see :mod:`sadp.pruning`), ``sadp.EpochReport``
what its ``end_epoch`` returns, and ``sadp.exit_process`` the clean end of a torchrun worker
(:func:`sadp.train.distributed.exit_process`). These and the subpackages (``sadp.data``,
``sadp.snn``, ``sadp.pruning``, ``sadp.train``, ...) are imported on first use, so that
``import sadp`` stays light and ``import sadp; sadp.data`` works.
"""
from __future__ import annotations

import importlib
from typing import Any

from sadp.registry import DATASETS, ENCODERS, LOSSES, METHODS, MODELS, NEURONS, OPTIMIZERS, SURROGATES

__version__ = "0.1.0"
__all__ = ["DATASETS", "ENCODERS", "EpochReport", "LOSSES", "METHODS", "MODELS", "NEURONS", "OPTIMIZERS", "Pruner",
           "SURROGATES", "__version__", "exit_process"]

SUBPACKAGES = ("cli", "data", "diagnostics", "experiments", "pruning", "snn", "train", "utils")


def __getattr__(name: str) -> Any:
    if name in ("Pruner", "EpochReport"):
        from sadp import pruning

        return getattr(pruning, name)
    if name == "exit_process":
        from sadp.train.distributed import exit_process

        return exit_process
    if name in SUBPACKAGES:
        return importlib.import_module(f"sadp.{name}")
    raise AttributeError(f"module 'sadp' has no attribute {name!r}")
