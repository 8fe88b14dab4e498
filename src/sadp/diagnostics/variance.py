"""Variance and bias of the epoch gradient estimator G_hat = (1/N) sum_{i in S} g_i / pi_i.

With c_i = 1{i in S} / pi_i - 1, G_hat - G = (1/N) sum_i c_i g_i, so every quantity needs only
the Gram matrix of the per-example gradients, Gram = g g^T [N, N]:
    ||G_hat - G||^2 = c^T Gram c / N^2,   ||G||^2 = 1^T Gram 1 / N^2.
Draws use the training code's sampler (:func:`sadp.pruning.sampling.systematic_pps`), exactly K
examples each.
"""
from __future__ import annotations

import torch
from torch import Tensor

from sadp.pruning.base import epoch_generator
from sadp.pruning.sampling import systematic_pps


def draw_coefficients(pi: Tensor, draws: int, seed: int = 0) -> Tensor:
    """[draws, N] matrix of c_i = 1{i in S}/pi_i - 1 for ``draws`` independent exact-K draws."""
    pi = pi.double().cpu()
    n = len(pi)
    c = torch.full((draws, n), -1.0, dtype=torch.float64)
    inv = 1.0 / pi
    for r in range(draws):
        s = systematic_pps(pi, epoch_generator(seed, r, stream=7))
        c[r, s] += inv[s]
    return c


def estimator_variance(gram: Tensor, coeffs: Tensor) -> float:
    """E ||G_hat - G||^2 estimated over the draws in ``coeffs`` [R, N]."""
    n = gram.shape[0]
    q = ((coeffs @ gram.double()) * coeffs).sum(1)
    return float(q.mean()) / n**2


def bias_curve(gram: Tensor, coeffs: Tensor, checkpoints: list[int]) -> list[dict[str, float]]:
    """||mean of the first R draws of G_hat - G|| / ||G|| for each R in ``checkpoints``, with the
    size expected from pure noise, sqrt(var / R) / ||G|| (an unbiased estimator tracks it)."""
    n = gram.shape[0]
    g = gram.double()
    ones = torch.ones(n, dtype=torch.float64)
    g_norm = float(ones @ g @ ones) ** 0.5 / n
    var = estimator_variance(gram, coeffs)
    rows = []
    for r in checkpoints:
        cbar = coeffs[:r].mean(0)
        err = max(float(cbar @ g @ cbar), 0.0) ** 0.5 / n
        rows.append({"draws": r, "relative_error": err / g_norm, "noise_level": (var / r) ** 0.5 / g_norm})
    return rows
