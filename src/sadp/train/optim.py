"""Optimizers (registered in ``sadp.registry.OPTIMIZERS``) and the learning-rate schedule.

An optimizer entry is called as ``factory(param_groups, lr=..., momentum=...)``, receiving only
those of ``lr`` and ``momentum`` its signature names (``Registry.build_with``), and returns a
``torch.optim.Optimizer``. The groups carry the weight decay: ``weight_decay`` for weight matrices
and kernels, 0 for BN, bias and neuron parameters (1-d tensors). Register your own before the
config is validated:

    @OPTIMIZERS.register("adam")
    def adam(param_groups, lr):
        return torch.optim.Adam(param_groups, lr=lr)
"""
from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from sadp.registry import OPTIMIZERS


@OPTIMIZERS.register("sgd")
def sgd(param_groups: list[dict[str, Any]], lr: float, momentum: float) -> torch.optim.Optimizer:
    """SGD with Nesterov momentum (--momentum)."""
    return torch.optim.SGD(param_groups, lr=lr, momentum=momentum, nesterov=True)


@OPTIMIZERS.register("adamw")
def adamw(param_groups: list[dict[str, Any]], lr: float) -> torch.optim.Optimizer:
    """AdamW with PyTorch's default betas (--momentum unused)."""
    return torch.optim.AdamW(param_groups, lr=lr)


def build_optimizer(
    model: nn.Module, name: str, lr: float, weight_decay: float, momentum: float
) -> torch.optim.Optimizer:
    """The registered optimizer ``name`` over ``model``'s trainable parameters."""
    # No weight decay on BN/bias/neuron parameters (1-d tensors), as is standard.
    decay = [p for p in model.parameters() if p.requires_grad and p.dim() > 1]
    no_decay = [p for p in model.parameters() if p.requires_grad and p.dim() <= 1]
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    if name not in OPTIMIZERS:
        raise ValueError(OPTIMIZERS.unknown(name))
    return OPTIMIZERS.build_with(name, groups, lr=lr, momentum=momentum)


def cosine_lr(base_lr: float, progress: float, warmup: float) -> float:
    """LR at ``progress`` (epochs done, fractional) out of 1.0 = all epochs; ``warmup`` as a fraction.

    Progress is counted in real steps of each epoch (``epoch + step / steps_in_epoch``), so the
    schedule fits epochs whose length the pruning method changes.
    """
    if warmup > 0 and progress < warmup:
        return base_lr * progress / warmup
    span = max(1e-12, 1.0 - warmup)
    return 0.5 * base_lr * (1 + math.cos(math.pi * min(1.0, (progress - warmup) / span)))
