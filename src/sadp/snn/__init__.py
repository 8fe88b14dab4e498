"""The SNN substrate: multi-step neurons, surrogate gradients, encoders and spiking models.

Neuron dynamics run on a fused path by default (:mod:`sadp.snn.fused`; Triton on CUDA when it
imports). ``set_backend("reference")`` selects the plain autograd loop (used automatically under
``torch.func``). ``set_memory_mode(model, "lean")`` recomputes activations in backward. ``set_backprop(model, "sltt",
steps=K)`` or ``with backprop("sltt", steps=K):`` trains with SLTT / SLTT-K (:mod:`sadp.snn.sltt`).
"""
from __future__ import annotations

from typing import Any, Sequence

from torch import nn

from sadp.registry import MODELS
from sadp.snn import cpu_kernels
from sadp.snn.backend import BACKENDS, get_backend, set_backend, triton_available
from sadp.snn.encoders import direct_encode, encode, poisson_encode
from sadp.snn.layers import Flatten, SeqToANN
from sadp.snn.models.base import (
    MEMORY_MODES,
    SpikingClassifier,
    check_model_options,
    is_recomputing,
    set_backprop,
    set_memory_mode,
)
from sadp.snn.neurons import IF, LIF, PLIF, SpikingNeuron, make_neuron
from sadp.snn.sltt import Backprop, backprop
from sadp.snn.surrogate import ATan, Sigmoid, Surrogate, Triangle, get_surrogate


def build_model(name: str, input_shape: Sequence[int], num_classes: int, **kwargs: Any) -> nn.Module:
    """Build a registered model; ``input_shape`` is one example's shape without T (e.g. (3, 32, 32)).
    Unknown options and values of the wrong type are a ValueError naming the valid options."""
    check_model_options(name, kwargs)
    return MODELS.build(name, tuple(input_shape), num_classes, **kwargs)


__all__ = [
    "ATan", "BACKENDS", "Backprop", "backprop", "cpu_kernels", "Flatten", "IF", "LIF", "MEMORY_MODES", "PLIF",
    "SeqToANN", "Sigmoid", "SpikingClassifier", "SpikingNeuron", "Surrogate", "Triangle", "build_model",
    "direct_encode", "encode", "get_backend", "get_surrogate", "is_recomputing", "make_neuron", "poisson_encode",
    "set_backend", "set_backprop", "set_memory_mode", "triton_available",
]
