"""Importance sampling of exactly K examples (the per-epoch steps of SADP in docs/methods.md).

* :func:`floor_scores`: a_i <- max(a_i, eps * mean(a)), so every pi_i > 0 (unbiasedness) and
  every Horvitz-Thompson weight stays below 1/eps.
* :func:`inclusion_probabilities`: pi_i = min(1, c a_i) with c found by water-filling so that
  sum_i pi_i = K exactly (for independent inclusion, the pi that minimises the estimator variance
  sum_i (1/pi_i - 1) a_i^2 subject to sum_i pi_i = K).
* :func:`systematic_pps`: systematic probability-proportional-to-size sampling over a random
  order: exactly K distinct examples and P(i in S) = pi_i for every i.
* :func:`horvitz_thompson_weights`: w_i = K / (N pi_i), so mean_b(w_b l_b) over the epoch is an
  unbiased estimate of the full-data mean loss, with the same scale as full training.

All work in float64 on the scores' device; the random numbers come from a CPU generator.
"""
from __future__ import annotations

import torch
from torch import Tensor


def floor_scores(scores: Tensor, eps: float) -> Tensor:
    """max(a_i, eps * mean(a)); scores must be >= 0."""
    if eps <= 0:
        return scores
    return torch.maximum(scores, eps * scores.mean())


def inclusion_probabilities(scores: Tensor, k: int) -> Tensor:
    """pi_i = min(1, c * a_i) with sum_i pi_i = k (float64, same device as ``scores``).

    Water-filling: with a sorted in decreasing order, the m largest are capped at 1 and
    c_m = (k - m) / sum_{j >= m} a_j; the right m is the smallest with c_m * a_m <= 1.
    Examples with score 0 get probability 0 unless fewer than k scores are positive, in which
    case the positive ones get 1 and the zeros share the rest uniformly.
    """
    n = scores.numel()
    if not 0 < k <= n:
        raise ValueError(f"budget k must be in [1, {n}], got {k}")
    a = scores.detach().double().flatten()
    if bool((a < 0).any()) or not bool(torch.isfinite(a).all()):
        raise ValueError("importance scores must be finite and >= 0")
    if k == n:
        return torch.ones_like(a)
    positive = int((a > 0).sum())
    if positive <= k:
        pi = torch.where(a > 0, 1.0, (k - positive) / max(1, n - positive)).to(a)
        return pi
    # Fixed-point water-filling: cap every example with c * a_i >= 1 and recompute c from the
    # rest. Each round only adds caps (c grows), and it stops at the exact solution once a round
    # adds none; O(N) per round and a few rounds in practice, against a full O(N log N) sort.
    capped = torch.zeros_like(a, dtype=torch.bool)
    n_capped = 0
    for _ in range(MAX_WATER_FILLING_ROUNDS):
        rest = float(torch.where(capped, 0.0, a).sum())
        if n_capped >= k or rest <= 0:  # cannot happen with > k positive scores; guard against rounding
            break
        c = (k - n_capped) / rest
        capped_now = (c * a) >= 1.0
        n_now = int(capped_now.sum())
        if n_now == n_capped:
            pi = (c * a).clamp_(max=1.0)
            pi[capped_now] = 1.0
            free = ~capped_now
            pi[free] *= (k - n_now) / float(pi[free].sum())  # exact sum k despite rounding
            return pi
        capped, n_capped = capped_now, n_now
    return _water_filling_sorted(a, k)


MAX_WATER_FILLING_ROUNDS = 64


def _water_filling_sorted(a: Tensor, k: int) -> Tensor:
    """Reference water-filling by one sort (used when the fixed point needs many rounds)."""
    a_sorted, order = a.sort(descending=True)
    suffix = a_sorted.flip(0).cumsum(0).flip(0)  # suffix[m] = sum_{j >= m} a_sorted[j]
    m = torch.arange(k, device=a.device, dtype=a.dtype)
    c = (k - m) / suffix[:k]
    ok = c * a_sorted[:k] <= 1.0 + 1e-12
    m_star = int(ok.to(torch.int8).argmax())  # first True; m = k - 1 always qualifies
    pi_sorted = (c[m_star] * a_sorted).clamp(max=1.0)
    pi_sorted[:m_star] = 1.0
    # Remove rounding drift so the total is k to float64 precision.
    free = pi_sorted < 1.0
    pi_sorted[free] *= (k - (~free).sum()) / pi_sorted[free].sum()
    return torch.empty_like(a).scatter_(0, order, pi_sorted)


def systematic_pps(pi: Tensor, generator: torch.Generator) -> Tensor:
    """Exactly round(sum pi) distinct indices with P(i selected) = pi_i (1-D long tensor, sorted).

    Examples with pi_i = 1 are always taken; the others are put in a random order, their
    cumulative probabilities C_j laid on [0, K'), and a single uniform u selects every j whose
    interval (C_{j-1}, C_j] contains a point u + integer. Each interval is shorter than 1, so no
    example is taken twice, and exactly K' points fall in [0, K').
    """
    pi = pi.double()
    k_total = int(round(float(pi.sum())))
    certain = pi >= 1.0 - 1e-9
    certain_idx = certain.nonzero().flatten()
    rest_idx = (~certain).nonzero().flatten()
    k_rest = k_total - len(certain_idx)
    if k_rest <= 0 or len(rest_idx) == 0:
        return certain_idx.sort().values
    perm = torch.randperm(len(rest_idx), generator=generator).to(pi.device)
    order = rest_idx[perm]
    cs = pi[order].cumsum(0)
    cs = cs * (k_rest / cs[-1])
    cs[-1] = float(k_rest)
    u = torch.rand((), generator=generator, dtype=torch.float64).to(pi.device)
    prev = torch.cat([cs.new_zeros(1), cs[:-1]])
    hits = torch.floor(cs - u) > torch.floor(prev - u)
    chosen = order[hits]
    return torch.cat([certain_idx, chosen]).sort().values


def horvitz_thompson_weights(pi: Tensor, k: int) -> Tensor:
    """w_i = K / (N pi_i) (dense [N], float32; inf where pi_i = 0, which is never selected)."""
    n = pi.numel()
    return (k / (n * pi.double())).float()
