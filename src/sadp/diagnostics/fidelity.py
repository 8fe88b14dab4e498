"""Rank and linear correlation of importance scores with true gradient norms."""
from __future__ import annotations

import torch
from torch import Tensor


def rankdata(x: Tensor) -> Tensor:
    """Ranks 1..n (float64) with ties given their average rank (as scipy.stats.rankdata)."""
    x = x.detach().double().flatten().cpu()
    sorted_x, order = torch.sort(x, stable=True)
    n = len(x)
    ranks_sorted = torch.arange(1, n + 1, dtype=torch.float64)
    _, inverse, counts = torch.unique_consecutive(sorted_x, return_inverse=True, return_counts=True)
    ends = counts.cumsum(0).double()  # rank of each tie group's last member
    avg = ends - (counts.double() - 1) / 2
    ranks_sorted = avg[inverse]
    return torch.empty(n, dtype=torch.float64).scatter_(0, order, ranks_sorted)


def pearson(x: Tensor, y: Tensor) -> float:
    x, y = x.detach().double().flatten().cpu(), y.detach().double().flatten().cpu()
    if len(x) != len(y) or len(x) < 2:
        raise ValueError(f"pearson needs two vectors of equal length >= 2, got {len(x)} and {len(y)}")
    xc, yc = x - x.mean(), y - y.mean()
    denom = float(xc.norm() * yc.norm())
    return float((xc * yc).sum()) / denom if denom > 0 else float("nan")


def spearman(x: Tensor, y: Tensor) -> float:
    """Spearman's rank correlation (Pearson correlation of average ranks)."""
    return pearson(rankdata(x), rankdata(y))
