"""Surrogate gradients for the Heaviside spike function.

Each surrogate is a smooth primitive ``f`` with slope parameter ``alpha``; the spike is
``heaviside(u) + (f(u) - f(u).detach())``: forward gives exact 0/1 spikes, backward gives
``f'(u)``. Written without a custom autograd.Function, so it works under ``torch.func``
(vmap/grad per-example gradients) and ``torch.compile``.

The threshold rule is ``u >= 0`` (spike at exactly the threshold), as in SpikingJelly.

Surrogates are registered in ``sadp.registry.SURROGATES``, which sets each class's ``name``. The
compiled kernels (:mod:`sadp.snn.cpu_kernels`, :mod:`sadp.snn.triton_kernels`) implement the
built-in names; a surrogate registered under another name runs on the PyTorch fused path, which
needs its ``primitive`` and ``grad``.
"""
from __future__ import annotations

import math
from typing import Callable

import torch
from torch import Tensor

from sadp.registry import SURROGATES


class Surrogate:
    """Base class: ``primitive(u)`` is f, ``grad(u)`` is f' (used in tests and fused kernels)."""

    name: str = "base"  # set by the registry (``@SURROGATES.register("name")``)

    def __init__(self, alpha: float) -> None:
        if alpha <= 0:
            raise ValueError(f"surrogate slope alpha must be > 0, got {alpha}")
        self.alpha = float(alpha)

    def primitive(self, u: Tensor) -> Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def grad(self, u: Tensor) -> Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def __call__(self, u: Tensor) -> Tensor:
        f = self.primitive(u)
        # (f - f.detach()) is exactly 0, so spikes are exactly 0/1; ``H + f - f.detach()``
        # would round (1 + f) - f to 0.99999994 for some f.
        return (u >= 0).to(u.dtype) + (f - f.detach())

    def __repr__(self) -> str:
        return f"{type(self).__name__}(alpha={self.alpha})"


@SURROGATES.register("sigmoid")
class Sigmoid(Surrogate):
    """f(u) = sigmoid(alpha u); f'(u) = alpha s (1 - s)."""

    def __init__(self, alpha: float = 4.0) -> None:
        super().__init__(alpha)

    def primitive(self, u: Tensor) -> Tensor:
        return torch.sigmoid(self.alpha * u)

    def grad(self, u: Tensor) -> Tensor:
        s = torch.sigmoid(self.alpha * u)
        return self.alpha * s * (1 - s)


@SURROGATES.register("atan")
class ATan(Surrogate):
    """f(u) = atan(pi/2 alpha u)/pi + 1/2; f'(u) = alpha / (2 (1 + (pi/2 alpha u)^2)) (SpikingJelly's ATan)."""

    def __init__(self, alpha: float = 2.0) -> None:
        super().__init__(alpha)

    def primitive(self, u: Tensor) -> Tensor:
        return torch.atan(math.pi / 2 * self.alpha * u) / math.pi + 0.5

    def grad(self, u: Tensor) -> Tensor:
        return self.alpha / 2 / (1 + (math.pi / 2 * self.alpha * u) ** 2)


@SURROGATES.register("triangle")
class Triangle(Surrogate):
    """f'(u) = alpha max(0, 1 - alpha |u|): peak alpha, support |u| < 1/alpha."""

    def __init__(self, alpha: float = 1.0) -> None:
        super().__init__(alpha)

    def primitive(self, u: Tensor) -> Tensor:
        au = (self.alpha * u).clamp(-1.0, 1.0)
        neg = 0.5 * (au + 1) ** 2
        pos = 1 - 0.5 * (1 - au) ** 2
        return torch.where(au < 0, neg, pos)

    def grad(self, u: Tensor) -> Tensor:
        return self.alpha * (1 - self.alpha * u.abs()).clamp_min(0)


def get_surrogate(name: str | Surrogate, alpha: float | None = None) -> Surrogate:
    """Build a registered surrogate by name (``atan``, ``sigmoid``, ``triangle``, ...); None: its default slope."""
    if isinstance(name, Surrogate):
        return name
    cls = SURROGATES.get(name)
    return cls() if alpha is None else cls(alpha)


SpikeFn = Callable[[Tensor], Tensor]
