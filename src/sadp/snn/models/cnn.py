from __future__ import annotations

from typing import Any, Sequence

from torch import nn

from sadp.registry import MODELS
from sadp.snn.layers import Flatten, MaxPool2x2, SeqToANN
from sadp.snn.models.base import SpikingClassifier, neuron_factory


def conv_bn(cin: int, cout: int, stride: int = 1) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout)]


@MODELS.register("small_cnn", help="3-conv spiking CNN sized for CPU runs: [conv-BN-LIF-maxpool] x 3 -> head")
class SmallSpikingCNN(SpikingClassifier):
    """Channels (64, 128, 128) by default; max-pooling binary spikes keeps the head input binary."""

    def __init__(
        self,
        input_shape: Sequence[int],
        num_classes: int,
        channels: Sequence[int] = (64, 128, 128),
        **neuron_kw: Any,
    ) -> None:
        super().__init__()
        make = neuron_factory(**neuron_kw)
        c, h, w = input_shape
        layers: list[nn.Module] = []
        for i, cout in enumerate(channels):
            layers += [SeqToANN(*conv_bn(c, cout)), make()]
            if min(h, w) >= 2:
                layers.append(SeqToANN(MaxPool2x2()))
                h, w = h // 2, w // 2
            c = cout
        layers.append(Flatten())
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(c * h * w, num_classes)


VGG11 = (64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M")


@MODELS.register("vgg11", help="spiking VGG-11 with BN, global average pool -> head (width / channels options)")
class SpikingVGG11(SpikingClassifier):
    """VGG-11's eight 3x3 conv layers (64-128-256-256-512-512-512-512) with BN and five max-pools.

    ``width`` multiplies every layer's channels (0.25: 16-32-64-64-128-128-128-128, for CPU-sized
    studies); ``channels`` gives the eight widths explicitly instead.
    """

    def __init__(self, input_shape: Sequence[int], num_classes: int, width: float = 1.0,
                 channels: Sequence[int] | None = None, **neuron_kw: Any) -> None:
        super().__init__()
        convs = [v for v in VGG11 if v != "M"]
        if channels is not None:
            if len(channels) != len(convs) or not all(isinstance(v, int) and v > 0 for v in channels):
                raise ValueError(f"vgg11 channels must be {len(convs)} positive integers (one per conv layer), "
                                 f"got {list(channels)}")
            widths = iter(channels)
        else:
            if not isinstance(width, (int, float)) or not width > 0:
                raise ValueError(f"vgg11 width must be a positive number (a channel multiplier), got {width!r}")
            widths = iter(max(1, round(int(v) * width)) for v in convs)
        make = neuron_factory(**neuron_kw)
        c, h, w = input_shape
        layers: list[nn.Module] = []
        for v in VGG11:
            if v == "M":
                if min(h, w) >= 2:  # small inputs (8x8 digits) skip pools that would empty the map
                    layers.append(SeqToANN(MaxPool2x2()))
                    h, w = h // 2, w // 2
            else:
                cout = next(widths)
                layers += [SeqToANN(*conv_bn(c, cout)), make()]
                c = cout
        layers += [SeqToANN(nn.AdaptiveAvgPool2d(1)), Flatten()]
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(c, num_classes)
