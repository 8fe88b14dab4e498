"""Train-mode measurements: BatchNorm normalising by one batch's statistics, held fixed.

In training, BatchNorm normalises each batch by that batch's own mean and (biased) variance, so
the scores the trainer sees come from these statistics, not from the running ones eval mode uses.
To take each example's gradient as training sees it, the batch's statistics are computed once
from the whole batch (:func:`train_mode_forward`) and then treated as constants: an eval-mode
pass whose running buffers hold them (:func:`frozen_batch_statistics`) normalises exactly as the
training pass did, and its per-example gradients (:func:`sadp.diagnostics.gradient_matrix.per_example_grads`)
leave out only the path through the statistics themselves. Neither step changes the model's
running statistics.
"""
from __future__ import annotations

import contextlib
from typing import Iterator

import torch
from torch import Tensor, nn
from torch.nn.modules.batchnorm import _BatchNorm

BatchStatistics = dict[str, tuple[Tensor, Tensor]]  # BN module name -> (batch mean, biased batch variance)


def batch_norm_layers(model: nn.Module) -> list[tuple[str, _BatchNorm]]:
    """Every BatchNorm module of ``model`` with its name; each must keep running buffers."""
    layers = [(name, m) for name, m in model.named_modules() if isinstance(m, _BatchNorm)]
    for name, m in layers:
        if m.running_mean is None or m.running_var is None:
            raise ValueError(f"BatchNorm {name!r} has track_running_stats=False: it normalises every pass (even one "
                             "example) by that pass's statistics, so batch statistics cannot be held fixed")
    return layers


@contextlib.contextmanager
def running_statistics_kept(model: nn.Module) -> Iterator[None]:
    """Restore every BatchNorm buffer (running mean, variance, batch count) on exit, bit for bit."""
    layers = batch_norm_layers(model)
    saved = [{k: b.clone() for k, b in m.named_buffers(recurse=False) if b is not None} for _, m in layers]
    try:
        yield
    finally:
        with torch.no_grad():
            for (_, m), buffers in zip(layers, saved):
                for k, b in buffers.items():
                    getattr(m, k).copy_(b)


def train_mode_forward(model: nn.Module, inputs: Tensor) -> tuple[Tensor, BatchStatistics]:
    """The training forward pass over one batch (no gradients, running statistics untouched).

    Returns the output and each BatchNorm's batch mean and biased variance over all axes but the
    channel (for [T*B, C, ...] inputs folded by SeqToANN: time, batch and space together). Hooks
    on the model (a :class:`sadp.pruning.monitor.SpikeMonitor`) see this pass as they see a
    training step.
    """
    layers = batch_norm_layers(model)
    stats: BatchStatistics = {}

    def capture(name: str):
        def hook(module: nn.Module, args: tuple) -> None:
            x = args[0].detach()
            dims = [0, *range(2, x.dim())]
            var, mean = torch.var_mean(x, dim=dims, unbiased=False)
            stats[name] = (mean, var)

        return hook

    handles = [m.register_forward_pre_hook(capture(name)) for name, m in layers]
    was_training = model.training
    try:
        model.train()
        with running_statistics_kept(model), torch.no_grad():
            out = model(inputs)
    finally:
        model.train(was_training)
        for h in handles:
            h.remove()
    missing = [name for name, _ in layers if name not in stats]
    if missing:
        raise RuntimeError(f"BatchNorm layers {missing} did not run in the forward pass")
    return out, stats


@contextlib.contextmanager
def frozen_batch_statistics(model: nn.Module, stats: BatchStatistics) -> Iterator[None]:
    """Eval mode with each BatchNorm's running buffers holding ``stats``: every pass, even over one
    example, normalises by the batch's statistics as constants. Running statistics and the
    training flag are restored on exit."""
    layers = batch_norm_layers(model)
    if set(stats) != {name for name, _ in layers}:
        raise ValueError(f"statistics for {sorted(stats)} do not match the model's BatchNorm layers "
                         f"{sorted(name for name, _ in layers)}")
    was_training = model.training
    with running_statistics_kept(model):
        with torch.no_grad():
            for name, m in layers:
                mean, var = stats[name]
                m.running_mean.copy_(mean)
                m.running_var.copy_(var)
        model.eval()
        try:
            yield
        finally:
            model.train(was_training)
