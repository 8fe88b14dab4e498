"""Water-filling, exact-K systematic PPS sampling, Horvitz-Thompson weights: hand computations
and statistical bounds: inclusion probabilities sum to K, exactly K drawn, weights unbiased."""
from __future__ import annotations

import math

import pytest
import torch

from sadp.pruning.base import epoch_generator
from sadp.pruning.sampling import floor_scores, horvitz_thompson_weights, inclusion_probabilities, systematic_pps


def test_water_filling_hand_examples() -> None:
    # Nothing capped: c = 2 / 8, pi = a / 4.
    pi = inclusion_probabilities(torch.tensor([4.0, 1, 1, 1, 1]), 2)
    assert torch.allclose(pi, torch.tensor([1.0, 0.25, 0.25, 0.25, 0.25], dtype=torch.float64))
    # 10 * 2 / 14 > 1: the first is capped, the rest share K - 1 = 1 in proportion: 1/4 each.
    pi = inclusion_probabilities(torch.tensor([10.0, 1, 1, 1, 1]), 2)
    assert torch.allclose(pi, torch.tensor([1.0, 0.25, 0.25, 0.25, 0.25], dtype=torch.float64))
    # Two capped: [9, 8, 1, 1], K = 3 -> c for m = 2 is 1 / 2.
    pi = inclusion_probabilities(torch.tensor([1.0, 9, 1, 8]), 3)
    assert torch.allclose(pi, torch.tensor([0.5, 1, 0.5, 1], dtype=torch.float64))
    # Fewer positive scores than K: positives certain, zeros share the rest.
    pi = inclusion_probabilities(torch.tensor([0.0, 3, 0, 0, 0]), 3)
    assert torch.allclose(pi, torch.tensor([0.5, 1, 0.5, 0.5, 0.5], dtype=torch.float64))


def test_water_filling_properties_random() -> None:
    g = torch.Generator().manual_seed(0)
    for n, k in [(100, 10), (1000, 700), (57, 56), (10, 1)]:
        a = torch.exp(3 * torch.randn(n, generator=g))  # heavy spread: many capped
        pi = inclusion_probabilities(a, k)
        assert abs(float(pi.sum()) - k) < 1e-9
        assert float(pi.max()) <= 1.0 + 1e-12 and float(pi.min()) > 0
        free = pi < 1
        ratio = pi[free] / a[free].double()
        assert torch.allclose(ratio, ratio[0].expand_as(ratio), rtol=1e-9)  # proportional where not capped
        if (~free).any():  # every capped score is at least as large as every free one
            assert float(a[~free].min()) >= float(a[free].max())


def test_bad_scores_rejected() -> None:
    with pytest.raises(ValueError, match="finite and >= 0"):
        inclusion_probabilities(torch.tensor([1.0, -1.0, 2.0]), 1)
    with pytest.raises(ValueError, match="budget"):
        inclusion_probabilities(torch.ones(3), 4)


def test_floor() -> None:
    a = torch.tensor([0.0, 1.0, 2.0, 5.0])  # mean 2
    assert torch.equal(floor_scores(a, 0.25), torch.tensor([0.5, 1.0, 2.0, 5.0]))
    pi = inclusion_probabilities(floor_scores(a, 0.1), 2)
    w = horvitz_thompson_weights(pi, 2)
    assert float(w.max()) <= 1 / 0.1 + 1e-6  # the floor bounds the weights by 1 / eps


def test_exact_k_and_inclusion_frequencies_20000_draws() -> None:
    n, k, draws = 40, 12, 20_000
    g = torch.Generator().manual_seed(1)
    a = torch.exp(1.5 * torch.randn(n, generator=g))
    pi = inclusion_probabilities(a, k)
    assert (pi == 1).sum() >= 1 and (pi < 0.1).sum() >= 1  # both regimes exercised
    counts = torch.zeros(n, dtype=torch.float64)
    for r in range(draws):
        s = systematic_pps(pi, epoch_generator(3, r))
        assert len(s) == k and len(torch.unique(s)) == k
        counts[s] += 1
    freq = counts / draws
    se = (pi * (1 - pi) / draws).sqrt()
    z = (freq - pi).abs() / se.clamp_min(1e-12)
    assert float(z[pi < 1].max()) < 4.0, z
    assert torch.all(freq[pi == 1] == 1.0)


def _synthetic_gradients(n: int, d: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    scale = torch.exp(1.2 * torch.randn(n, 1, generator=g))  # spread-out norms, as late in training
    return (torch.randn(n, d, generator=g) + 0.3) * scale


def _draw_estimates(grads: torch.Tensor, pi: torch.Tensor, draws: int, seed: int) -> torch.Tensor:
    n = len(grads)
    out = torch.empty(draws, grads.shape[1], dtype=torch.float64)
    for r in range(draws):
        s = systematic_pps(pi, epoch_generator(seed, r))
        out[r] = (grads[s].double() / pi[s, None]).sum(0) / n
    return out


def test_unbiased_error_shrinks_like_inverse_sqrt_draws() -> None:
    n, k = 60, 18
    grads = _synthetic_gradients(n, 5, seed=2)
    full = grads.double().mean(0)
    pi = inclusion_probabilities(floor_scores(grads.norm(dim=1), 0.1), k)
    est = _draw_estimates(grads, pi, 16_000, seed=4)
    per_draw_var = float(((est - full) ** 2).sum(1).mean())
    errors = []
    for r in (250, 1000, 4000, 16_000):
        err = float((est[:r].mean(0) - full).norm())
        noise = math.sqrt(per_draw_var / r)
        assert err < 3.5 * noise, (r, err, noise)  # no systematic offset beyond the noise level
        errors.append(err)
    assert errors[-1] < 0.5 * errors[0]  # 64x the draws: expected 8x smaller


def test_bias_is_detected_without_floor() -> None:
    """The same check fails for a biased sampler: a zero score gives pi = 0 (never drawn)."""
    n, k = 60, 18
    grads = _synthetic_gradients(n, 5, seed=2)
    full = grads.double().mean(0)
    scores = grads.norm(dim=1).clone()
    scores[:3] = 0.0
    pi = inclusion_probabilities(scores, k)
    pi_safe = pi.clamp_min(1e-300)
    est = _draw_estimates(grads, pi_safe, 4000, seed=4)
    per_draw_var = float(((est - full) ** 2).sum(1).mean())
    err = float((est.mean(0) - full).norm())
    assert err > 3.5 * math.sqrt(per_draw_var / 4000)


def test_gradient_norm_sampling_beats_uniform() -> None:
    n, k, draws = 60, 18, 4000
    grads = _synthetic_gradients(n, 5, seed=5)
    full = grads.double().mean(0)
    uniform = torch.full((n,), k / n, dtype=torch.float64)
    oracle = inclusion_probabilities(grads.norm(dim=1), k)
    var_u = float(((_draw_estimates(grads, uniform, draws, 6) - full) ** 2).sum(1).mean())
    var_o = float(((_draw_estimates(grads, oracle, draws, 6) - full) ** 2).sum(1).mean())
    assert var_o / var_u < 0.8, var_o / var_u


@pytest.mark.parametrize("shape", ["uniform", "heavy", "spiky", "ties"])
def test_water_filling_fixed_point_equals_sorted_reference(shape: str) -> None:
    # The O(N) fixed-point water-filling must give the sort-based solution to float64 precision,
    # including heavy tails that cap many examples over several rounds.
    from sadp.pruning.sampling import _water_filling_sorted

    g = torch.Generator().manual_seed(3)
    n = 5000
    a = {"uniform": torch.rand(n, generator=g, dtype=torch.float64),
         "heavy": torch.rand(n, generator=g, dtype=torch.float64) ** 12,
         "spiky": torch.where(torch.rand(n, generator=g) < 0.05, 1e6, 1.0).double(),
         "ties": torch.full((n,), 2.0, dtype=torch.float64)}[shape]
    for k in (1, 50, 1000, 2500, 4999):
        pi = inclusion_probabilities(a, k)
        ref = _water_filling_sorted(a, k)
        assert abs(float(pi.sum()) - k) < 1e-6
        assert torch.allclose(pi, ref, rtol=1e-9, atol=1e-12), (shape, k, float((pi - ref).abs().max()))
