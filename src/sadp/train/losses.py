"""Per-example losses on per-step logits [T, B, K]; the pruning method weights and averages them."""
from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from sadp.pruning.scores import readout_cross_entropy


def per_example_loss(
    out: Tensor, y: Tensor, kind: str = "ce", label_smoothing: float = 0.0, tet_lambda: float = 0.05
) -> Tensor:
    """[B] losses.

    ``ce``: cross-entropy of the mean-over-T logits (the mean readout, docs/methods.md).
    ``tet``: TET (Deng et al. 2022): (1 - lambda) mean_t CE(z_t, y) + lambda mean_t MSE(z_t, 1).
    """
    if kind == "ce":
        return readout_cross_entropy(out.mean(0), y, label_smoothing)
    if kind == "tet":
        T, B, K = out.shape
        ce = F.cross_entropy(out.flatten(0, 1), y.repeat(T), reduction="none", label_smoothing=label_smoothing)
        ce = ce.view(T, B).mean(0)
        mse = (out - 1.0).pow(2).mean(-1).mean(0)
        return (1 - tet_lambda) * ce + tet_lambda * mse
    raise ValueError(f"unknown loss {kind!r}")
