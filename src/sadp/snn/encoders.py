"""Encoders turning a static batch [B, ...] into a spike-train input [T, B, ...].

Encoders are registered in ``sadp.registry.ENCODERS``; an entry is called as ``fn(x, T)``.
One whose input is an intensity in [0, 1] rather than a standardised image says so with
``intensity_input=True`` (read with :func:`takes_intensities`):

    @ENCODERS.register("latency")
    def latency_encode(x, T): ...
    latency_encode.intensity_input = True
"""
from __future__ import annotations

import torch
from torch import Tensor

from sadp.registry import ENCODERS


@ENCODERS.register("direct")
def direct_encode(x: Tensor, T: int) -> Tensor:
    """Repeat the analog input at every time step (the first layer acts as the encoder)."""
    return x.unsqueeze(0).expand(T, *x.shape)


@ENCODERS.register("poisson")
def poisson_encode(x: Tensor, T: int, generator: torch.Generator | None = None) -> Tensor:
    """Rate coding: at each step emit a spike with probability ``x`` clamped to [0, 1].

    Expects intensities in [0, 1] (i.e. before mean/std normalisation).
    """
    p = x.clamp(0, 1).unsqueeze(0).expand(T, *x.shape)
    return torch.bernoulli(p, generator=generator)


poisson_encode.intensity_input = True  # type: ignore[attr-defined]


def takes_intensities(kind: str) -> bool:
    """Whether registered encoder ``kind`` expects intensities in [0, 1] (not standardised input)."""
    return bool(getattr(ENCODERS.get(kind), "intensity_input", False))


def encode(x: Tensor, T: int, kind: str = "direct") -> Tensor:
    """``x`` [B, ...] through the registered encoder ``kind`` -> [T, B, ...]."""
    return ENCODERS.get(kind)(x, T)
