"""The SNN substrate: multi-step neurons, surrogate gradients, encoders and spiking models."""
from __future__ import annotations

from typing import Any, Sequence

from torch import nn

from sadp.registry import MODELS
from sadp.snn.encoders import direct_encode, encode, poisson_encode
from sadp.snn.layers import Flatten, SeqToANN
from sadp.snn.neurons import IF, LIF, PLIF, SpikingNeuron, make_neuron
from sadp.snn.surrogate import ATan, Sigmoid, Surrogate, Triangle, get_surrogate


def build_model(name: str, input_shape: Sequence[int], num_classes: int, **kwargs: Any) -> nn.Module:
    """Build a registered model; ``input_shape`` is one example's shape without T (e.g. (3, 32, 32))."""
    return MODELS.build(name, tuple(input_shape), num_classes, **kwargs)


__all__ = [
    "ATan", "Flatten", "IF", "LIF", "PLIF", "SeqToANN", "Sigmoid", "SpikingNeuron", "Surrogate",
    "Triangle", "build_model", "direct_encode", "encode", "get_surrogate", "make_neuron", "poisson_encode",
]
