"""Encoders turning a static batch [B, ...] into a spike-train input [T, B, ...]."""
from __future__ import annotations

import torch
from torch import Tensor


def direct_encode(x: Tensor, T: int) -> Tensor:
    """Repeat the analog input at every time step (the first layer acts as the encoder)."""
    return x.unsqueeze(0).expand(T, *x.shape)


def poisson_encode(x: Tensor, T: int, generator: torch.Generator | None = None) -> Tensor:
    """Rate coding: at each step emit a spike with probability ``x`` clamped to [0, 1].

    Expects intensities in [0, 1] (i.e. before mean/std normalisation).
    """
    p = x.clamp(0, 1).unsqueeze(0).expand(T, *x.shape)
    return torch.bernoulli(p, generator=generator)


ENCODERS = {"direct": direct_encode, "poisson": poisson_encode}


def encode(x: Tensor, T: int, kind: str = "direct") -> Tensor:
    try:
        fn = ENCODERS[kind]
    except KeyError:
        raise KeyError(f"unknown encoder {kind!r}; available: {', '.join(ENCODERS)}") from None
    return fn(x, T)
