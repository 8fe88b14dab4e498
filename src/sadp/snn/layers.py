"""Layers that let stateless ANN modules (conv, BN, linear, pooling) run on [T, B, ...] tensors."""
from __future__ import annotations

from torch import Tensor, nn


class SeqToANN(nn.Sequential):
    """Fold time into batch: [T, B, ...] -> [T*B, ...] -> modules -> [T, B, ...].

    BatchNorm inside therefore normalises over time and batch together (tdBN-style statistics).
    """

    def forward(self, x: Tensor) -> Tensor:  # type: ignore[override]
        T, B = x.shape[:2]
        y = super().forward(x.flatten(0, 1))
        return y.unflatten(0, (T, B))


class Flatten(nn.Module):
    """Flatten all dims after [T, B]."""

    def forward(self, x: Tensor) -> Tensor:
        return x.flatten(2)
