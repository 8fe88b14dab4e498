"""Common structure of every registered spiking model.

A model maps [T, B, C, H, W] (or [T, B, D]) to per-step logits [T, B, num_classes]. Its
``head`` is an ``nn.Linear`` applied to [T, B, D] directly (no folding), reading the output of
the last spiking layer (binary, or average-pooled spikes in [0, 1] for global-pool ResNets),
so a forward pre-hook on ``model.head`` sees the head input per example and time step.
"""
from __future__ import annotations

from typing import Any, Callable

from torch import Tensor, nn

from sadp.snn.neurons import SpikingNeuron, make_neuron


class SpikingClassifier(nn.Module):
    """``features`` -> [T, B, D] head input; ``head`` -> [T, B, K] per-step logits."""

    features: nn.Module
    head: nn.Linear

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.features(x))


def neuron_factory(neuron: str = "lif", **kwargs: Any) -> Callable[[], SpikingNeuron]:
    """A zero-argument constructor for the model's neurons (all share settings)."""
    return lambda: make_neuron(neuron, **kwargs)
