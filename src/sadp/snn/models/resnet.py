"""Spiking ResNets: ResNet-19 (tdBN, Zheng et al. 2021; used by TET and TEBN) and
SEW-ResNet-18/34 (Fang et al. 2021, ADD connect function)."""
from __future__ import annotations

from typing import Any, Callable, Sequence

from torch import Tensor, nn

from sadp.registry import MODELS
from sadp.snn.layers import Flatten, SeqToANN
from sadp.snn.models.base import SpikingClassifier, neuron_factory
from sadp.snn.neurons import SpikingNeuron


def _conv_bn(cin: int, cout: int, k: int = 3, stride: int = 1) -> SeqToANN:
    return SeqToANN(nn.Conv2d(cin, cout, k, stride, k // 2, bias=False), nn.BatchNorm2d(cout))


class SpikingBasicBlock(nn.Module):
    """tdBN basic block: sn(bn(conv(sn(bn(conv(x))))) + shortcut(x)), spikes out."""

    def __init__(self, cin: int, cout: int, stride: int, make: Callable[[], SpikingNeuron]) -> None:
        super().__init__()
        self.conv1 = _conv_bn(cin, cout, 3, stride)
        self.sn1 = make()
        self.conv2 = _conv_bn(cout, cout)
        self.shortcut = _conv_bn(cin, cout, 1, stride) if stride != 1 or cin != cout else nn.Identity()
        self.sn2 = make()

    def forward(self, x: Tensor) -> Tensor:
        return self.sn2(self.conv2(self.sn1(self.conv1(x))) + self.shortcut(x))


class SEWBlock(nn.Module):
    """SEW basic block, ADD connect: sn(bn(conv(sn(bn(conv(x)))))) + shortcut(x), shortcut spiking too."""

    def __init__(self, cin: int, cout: int, stride: int, make: Callable[[], SpikingNeuron]) -> None:
        super().__init__()
        self.body = nn.Sequential(_conv_bn(cin, cout, 3, stride), make(), _conv_bn(cout, cout), make())
        self.shortcut: nn.Module = (
            nn.Sequential(_conv_bn(cin, cout, 1, stride), make()) if stride != 1 or cin != cout else nn.Identity()
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.body(x) + self.shortcut(x)


@MODELS.register("resnet19", help="ResNet-19 (tdBN/TET/TEBN): 128-256-512 stages, avgpool, FC-256 spiking, head")
class SpikingResNet19(SpikingClassifier):
    def __init__(
        self, input_shape: Sequence[int], num_classes: int, width: int = 128, **neuron_kw: Any
    ) -> None:
        super().__init__()
        make = neuron_factory(**neuron_kw)
        c = input_shape[0]
        widths, blocks = (width, 2 * width, 4 * width), (3, 3, 2)
        layers: list[nn.Module] = [_conv_bn(c, width), make()]
        cin = width
        for i, (w, n) in enumerate(zip(widths, blocks)):
            for j in range(n):
                layers.append(SpikingBasicBlock(cin, w, 2 if (i > 0 and j == 0) else 1, make))
                cin = w
        layers += [SeqToANN(nn.AdaptiveAvgPool2d(1)), Flatten(), SeqToANN(nn.Linear(cin, 256)), make()]
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(256, num_classes)


class SEWResNet(SpikingClassifier):
    def __init__(
        self,
        input_shape: Sequence[int],
        num_classes: int,
        blocks: Sequence[int],
        width: int = 64,
        **neuron_kw: Any,
    ) -> None:
        super().__init__()
        make = neuron_factory(**neuron_kw)
        c, h, _ = input_shape
        if h > 64:  # ImageNet stem
            stem: list[nn.Module] = [_conv_bn(c, width, 7, 2), make(), SeqToANN(nn.MaxPool2d(3, 2, 1))]
        else:  # CIFAR-size stem, as in SEW-ResNet's CIFAR variants
            stem = [_conv_bn(c, width, 3, 1), make()]
        layers = list(stem)
        cin = width
        for i, n in enumerate(blocks):
            w = width * 2**i
            for j in range(n):
                layers.append(SEWBlock(cin, w, 2 if (i > 0 and j == 0) else 1, make))
                cin = w
        # ADD blocks output integer spike sums; average pooling then feeds the head.
        layers += [SeqToANN(nn.AdaptiveAvgPool2d(1)), Flatten()]
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(cin, num_classes)


@MODELS.register("sew_resnet18", help="SEW-ResNet-18 (ADD), ImageNet stem for inputs > 64 px")
def sew_resnet18(input_shape: Sequence[int], num_classes: int, width: int = 64, **neuron_kw: Any) -> SEWResNet:
    return SEWResNet(input_shape, num_classes, (2, 2, 2, 2), width, **neuron_kw)


@MODELS.register("sew_resnet34", help="SEW-ResNet-34 (ADD), ImageNet stem for inputs > 64 px")
def sew_resnet34(input_shape: Sequence[int], num_classes: int, width: int = 64, **neuron_kw: Any) -> SEWResNet:
    return SEWResNet(input_shape, num_classes, (3, 4, 6, 3), width, **neuron_kw)
