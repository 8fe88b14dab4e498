"""Each surrogate's backward equals its formula; forward spikes are exactly 0/1."""
from __future__ import annotations

import math

import pytest
import torch

from sadp.snn import ATan, Sigmoid, Triangle, get_surrogate

U = torch.linspace(-3, 3, 601, dtype=torch.float64)

FORMULAS = {
    "sigmoid": (Sigmoid, 4.0, lambda u, a: a * torch.sigmoid(a * u) * (1 - torch.sigmoid(a * u))),
    "atan": (ATan, 2.0, lambda u, a: a / (2 * (1 + (math.pi / 2 * a * u) ** 2))),
    "triangle": (Triangle, 1.0, lambda u, a: a * torch.clamp(1 - a * u.abs(), min=0)),
}


@pytest.mark.parametrize("name", list(FORMULAS))
@pytest.mark.parametrize("alpha", [None, 0.5, 3.0])
def test_backward_matches_formula(name, alpha):
    cls, default_alpha, formula = FORMULAS[name]
    sur = get_surrogate(name, alpha)
    a = default_alpha if alpha is None else alpha
    assert isinstance(sur, cls) and sur.alpha == a
    u = U.clone().requires_grad_()
    sur(u).sum().backward()
    torch.testing.assert_close(u.grad, formula(U, a), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(sur.grad(U), formula(U, a), rtol=1e-12, atol=1e-12)  # fused kernels use .grad


@pytest.mark.parametrize("name", list(FORMULAS))
def test_forward_is_exact_heaviside(name):
    u = torch.randn(100_000)  # float32: H + f - f.detach() would give 0.99999994 here
    s = get_surrogate(name)(u)
    assert torch.equal(s, (u >= 0).float())
    assert get_surrogate(name)(torch.zeros(1)).item() == 1.0  # spike at exactly the threshold


def test_primitive_is_antiderivative_of_grad():
    for name in FORMULAS:
        sur = get_surrogate(name)
        h = 1e-6
        num = (sur.primitive(U + h) - sur.primitive(U - h)) / (2 * h)
        torch.testing.assert_close(num, sur.grad(U), rtol=1e-5, atol=1e-5)


def test_bad_surrogate():
    with pytest.raises(KeyError, match="available"):
        get_surrogate("relu")
    with pytest.raises(ValueError, match="alpha must be > 0"):
        ATan(alpha=0)
