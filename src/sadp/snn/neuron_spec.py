"""What every neuron backend shares: the neuron's description and its charge and reset arithmetic.

The reference loop (:mod:`sadp.snn.neurons`), the fused autograd path (:mod:`sadp.snn.fused`)
and the compiled kernels (:mod:`sadp.snn.cpu_kernels`, :mod:`sadp.snn.triton_kernels`) all
import from here, and from nothing above it, so the backends never import each other in a
circle. The compiled kernels repeat :func:`charge` operation for operation (same order, no
fused multiply-add), which is what makes their spikes bit-identical to the reference loop's.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from sadp.snn.surrogate import Surrogate


@dataclass(frozen=True)
class NeuronSpec:
    """Everything the fused kernels need to know about a neuron (no tensors)."""

    kind: str  # "if" | "lif" | "plif"
    decay_input: bool
    tau: float  # LIF only (PLIF passes k as a tensor)
    v_threshold: float
    v_reset: float
    hard_reset: bool
    detach_reset: bool
    surrogate: Surrogate


def charge(spec: NeuronSpec, v: Tensor, x: Tensor, k: Tensor | None = None) -> Tensor:
    """Membrane before firing; the single source of the charge arithmetic for every backend."""
    vr = spec.v_reset
    if spec.kind == "if":
        return v + x
    if spec.kind == "lif":
        if spec.decay_input:
            return v + (x - (v - vr)) / spec.tau
        return v - (v - vr) / spec.tau + x
    assert k is not None, "PLIF needs its decay k = sigmoid(w)"
    if spec.decay_input:
        return v + (x - (v - vr)) * k
    return v - (v - vr) * k + x


def reset(spec: NeuronSpec, h: Tensor, s: Tensor) -> Tensor:
    """Membrane after firing from h and bool spikes ``s``; equal (bit for bit) to the reference's
    h(1-s)+v_reset s (hard reset) or h - v_th s (soft reset)."""
    if spec.hard_reset:
        return torch.where(s, torch.full_like(h, spec.v_reset), h)
    return torch.where(s, h - spec.v_threshold, h)


__all__ = ["NeuronSpec", "charge", "reset"]
