"""Spike counts per example and time step, recorded during the training forward pass.

The monitor hooks the classifier head's input (``model.head``, a Linear applied to [T, B, D]):
per step it records sum over features of the input (the spike count n_t of the last spiking
layer for binary inputs). Hooks store tensors on the device (no host sync) and are active only
inside ``with monitor.record():``.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import torch
from torch import Tensor, nn


class SpikeMonitor:
    def __init__(self, model: nn.Module, head: nn.Module | None = None) -> None:
        self.head = head if head is not None else getattr(model, "head", None)
        if self.head is None:
            raise ValueError("model has no `head` module; pass the classifier layer as `head=`")
        self.active = False
        self.counts: Tensor | None = None  # [T, B]
        self._handle = self.head.register_forward_pre_hook(self._hook)

    def _hook(self, module: nn.Module, args: tuple) -> None:
        if not self.active:
            return
        x = args[0]
        if x.dim() < 3:
            raise ValueError(f"head input should be [T, B, D], got {tuple(x.shape)}")
        with torch.no_grad():
            self.counts = x.detach().flatten(2).float().sum(-1)

    @contextmanager
    def record(self) -> Iterator["SpikeMonitor"]:
        self.active, self.counts = True, None
        try:
            yield self
        finally:
            self.active = False

    def remove(self) -> None:
        self._handle.remove()
