from __future__ import annotations

import math
from typing import Any, Sequence

from torch import nn

from sadp.registry import MODELS
from sadp.snn.layers import Flatten, SeqToANN
from sadp.snn.models.base import SpikingClassifier, neuron_factory


@MODELS.register("mlp", help="spiking MLP: flatten -> [Linear -> LIF] x len(hidden) -> head")
class SpikingMLP(SpikingClassifier):
    def __init__(
        self,
        input_shape: Sequence[int],
        num_classes: int,
        hidden: Sequence[int] = (256, 128),
        **neuron_kw: Any,
    ) -> None:
        super().__init__()
        make = neuron_factory(**neuron_kw)
        layers: list[nn.Module] = [Flatten()]
        d = math.prod(input_shape)
        for h in hidden:
            layers += [SeqToANN(nn.Linear(d, h)), make()]
            d = h
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(d, num_classes)
