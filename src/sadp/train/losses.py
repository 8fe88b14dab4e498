"""Per-example losses on per-step logits [T, B, K]; the pruning method weights and averages them.

Losses are registered in ``sadp.registry.LOSSES``. An entry is called as ``fn(out, y, **options)``
with out [T, B, K] and y [B], receiving only those of the training options ``label_smoothing`` and
``tet_lambda`` its signature names (``Registry.build_with``), and returns [B] losses (no reduction).
"""
from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from sadp.pruning.scores import readout_cross_entropy
from sadp.registry import LOSSES


@LOSSES.register("ce")
def mean_readout_ce(out: Tensor, y: Tensor, label_smoothing: float = 0.0) -> Tensor:
    """cross-entropy of the mean-over-T logits (the mean readout, docs/methods.md)"""
    return readout_cross_entropy(out.mean(0), y, label_smoothing)


@LOSSES.register("tet")
def tet(out: Tensor, y: Tensor, label_smoothing: float = 0.0, tet_lambda: float = 0.05) -> Tensor:
    """TET (Deng et al. 2022), per step: (1 - lambda) mean_t CE(z_t, y) + lambda mean_t MSE(z_t, 1)"""
    T, B, K = out.shape
    ce = F.cross_entropy(out.flatten(0, 1), y.repeat(T), reduction="none", label_smoothing=label_smoothing)
    ce = ce.view(T, B).mean(0)
    mse = (out - 1.0).pow(2).mean(-1).mean(0)
    return (1 - tet_lambda) * ce + tet_lambda * mse


def per_example_loss(
    out: Tensor, y: Tensor, kind: str = "ce", label_smoothing: float = 0.0, tet_lambda: float = 0.05
) -> Tensor:
    """[B] losses of the registered loss ``kind`` (``ce``, ``tet``, ...)."""
    if kind not in LOSSES:
        raise ValueError(LOSSES.unknown(kind))
    return LOSSES.build_with(kind, out, y, label_smoothing=label_smoothing, tet_lambda=tet_lambda)
