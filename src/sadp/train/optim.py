from __future__ import annotations

import math

import torch
from torch import nn


def build_optimizer(model: nn.Module, name: str, lr: float, weight_decay: float, momentum: float) -> torch.optim.Optimizer:
    # No weight decay on BN/bias/neuron parameters (1-d tensors), as is standard.
    decay = [p for p in model.parameters() if p.requires_grad and p.dim() > 1]
    no_decay = [p for p in model.parameters() if p.requires_grad and p.dim() <= 1]
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    if name == "sgd":
        return torch.optim.SGD(groups, lr=lr, momentum=momentum, nesterov=True)
    if name == "adamw":
        return torch.optim.AdamW(groups, lr=lr)
    raise ValueError(f"unknown optimizer {name!r}")


def cosine_lr(base_lr: float, progress: float, warmup: float) -> float:
    """LR at ``progress`` (epochs done, fractional) out of 1.0 = all epochs; ``warmup`` as a fraction.

    Progress is counted in real steps of each epoch (``epoch + step / steps_in_epoch``), so the
    schedule fits epochs whose length the pruning method changes.
    """
    if warmup > 0 and progress < warmup:
        return base_lr * progress / warmup
    span = max(1e-12, 1.0 - warmup)
    return 0.5 * base_lr * (1 + math.cos(math.pi * min(1.0, (progress - warmup) / span)))
