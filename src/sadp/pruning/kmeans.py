"""Exact, deterministic 1-D k-means in torch, for grouping per-example scores.

In one dimension the groups of an optimal k-means partition are intervals of the sorted values,
so the optimum is a dynamic programme over split points (Wang & Song 2011, Ckmeans.1d.dp):
D_g(j) = min_i D_{g-1}(i) + SSE(x_i .. x_{j-1}) for the best split of the j smallest values into
g groups, SSE from prefix sums. The best split point is non-decreasing in j, so each layer is
solved by divide and conquer over j (Gronlund et al. 2017), one vectorised torch step per level:
O(groups * n log n) after one sort. Unlike Lloyd's algorithm (what scikit-learn's KMeans runs),
it needs no random start and finds the global optimum. The arithmetic is float64 on the CPU, so
every process that holds the same values gets the same groups.
"""
from __future__ import annotations

import torch
from torch import Tensor


def kmeans_1d(values: Tensor, groups: int) -> Tensor:
    """Cluster labels [n] (long, CPU) in 0 .. groups - 1 of the partition with the least
    within-group sum of squares, numbered from the lowest values up.

    With at most ``groups`` distinct values, the j-th smallest distinct value is group j (a zero
    sum of squares) and the groups above the last one stay empty. Equal values always share a
    group; ties between equally good partitions go to the one with the earliest split points.
    """
    if groups < 1:
        raise ValueError(f"groups must be >= 1, got {groups}")
    x = values.detach().flatten().to("cpu", torch.float64)
    if not bool(torch.isfinite(x).all()):
        raise ValueError("k-means needs finite values")
    labels = torch.zeros(x.numel(), dtype=torch.long)
    if x.numel() == 0:
        return labels
    xs, order = x.sort(stable=True)
    distinct, counts = torch.unique_consecutive(xs, return_counts=True)
    if len(distinct) <= groups:
        labels[order] = torch.repeat_interleave(torch.arange(len(distinct)), counts)
        return labels
    # Work on the distinct values weighted by their counts: equal values cannot be split, and
    # the programme is as large as the number of distinct values.
    edges = edges_of_optimal_partition(distinct - distinct.mean(), counts.double(), groups)
    labels[order] = torch.repeat_interleave(torch.arange(groups), counts_per_group(counts, edges))
    return labels


def counts_per_group(counts: Tensor, edges: Tensor) -> Tensor:
    """Values per group from the groups' edges over the distinct values."""
    cum = torch.cat([counts.new_zeros(1), counts.cumsum(0)])
    return cum[edges[1:]] - cum[edges[:-1]]


def edges_of_optimal_partition(v: Tensor, w: Tensor, groups: int) -> Tensor:
    """Edges e_0 = 0 < e_1 < ... < e_G = m: group g holds v[e_g : e_{g+1}] (ascending ``v`` with
    weights ``w``), for the least weighted within-group sum of squares; needs m > groups."""
    m = len(v)
    sw = torch.cat([v.new_zeros(1), w.cumsum(0)])
    s1 = torch.cat([v.new_zeros(1), (w * v).cumsum(0)])
    s2 = torch.cat([v.new_zeros(1), (w * v * v).cumsum(0)])

    def sse(i: Tensor, j: Tensor) -> Tensor:  # weighted sum of squares of v[i:j], j > i
        s = s1[j] - s1[i]
        return (s2[j] - s2[i] - s * s / (sw[j] - sw[i])).clamp_min(0.0)

    j_all = torch.arange(m + 1)
    best = sse(torch.zeros_like(j_all[1:]), j_all[1:])  # one group: D_1(j), j = 1..m
    best = torch.cat([best.new_full((1,), float("inf")), best])
    splits = []
    for g in range(2, groups + 1):
        best, split = _layer(best, sse, g, m)
        splits.append(split)
    edges = [m]
    for split in reversed(splits):
        edges.append(int(split[edges[-1]]))
    edges.append(0)
    return torch.tensor(edges[::-1])


def _layer(prev: Tensor, sse, g: int, m: int) -> tuple[Tensor, Tensor]:
    """D_g(j) = min_{g-1 <= i < j} prev(i) + sse(i, j) for j = g..m and its leftmost argmin,
    level by level of the divide and conquer (the argmin is non-decreasing in j)."""
    cur = prev.new_full((m + 1,), float("inf"))
    arg = torch.zeros(m + 1, dtype=torch.long)
    # Open segments: j in [jlo, jhi] with its split point known to lie in [ilo, ihi].
    jlo, jhi = torch.tensor([g]), torch.tensor([m])
    ilo, ihi = torch.tensor([g - 1]), torch.tensor([m - 1])
    while len(jlo):
        mid = (jlo + jhi) // 2
        top = torch.minimum(ihi, mid - 1)
        lengths = top - ilo + 1
        seg = torch.repeat_interleave(torch.arange(len(mid)), lengths)
        start = torch.cumsum(lengths, 0) - lengths
        i = ilo[seg] + torch.arange(len(seg)) - start[seg]
        value = prev[i] + sse(i, mid[seg])
        low = value.new_full((len(mid),), float("inf")).scatter_reduce(0, seg, value, "amin")
        first = torch.where(value == low[seg], i, m + 1)
        best_i = torch.full((len(mid),), m + 1).scatter_reduce(0, seg, first, "amin")
        cur[mid], arg[mid] = low, best_i
        left, right = mid > jlo, mid < jhi
        jlo, jhi, ilo, ihi = (torch.cat([jlo[left], mid[right] + 1]), torch.cat([mid[left] - 1, jhi[right]]),
                              torch.cat([ilo[left], best_i[right]]), torch.cat([best_i[left], ihi[right]]))
    return cur, arg
