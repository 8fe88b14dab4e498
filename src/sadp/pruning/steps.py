"""A training step's statistics on their way from :meth:`sadp.pruning.Pruner.loss` to
``method.observe``: each step waits (:class:`PendingStep`) until its backward pass has filled in
the gradients the output error is read from; steps of one shape (:func:`shape_key`) are joined
into one :class:`~sadp.pruning.base.StepStats` (:func:`concat`), and under DDP all ranks'
statistics are gathered in rank order with the padding positions removed (:func:`gather`), so
every rank observes the same examples.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor

from sadp.pruning.base import StepStats
from sadp.utils import distributed


@dataclass
class PendingStep:
    """One ``loss`` call waiting for its backward pass before it is observed."""

    stats: StepStats
    valid: Tensor | None  # DDP: False at padding positions
    logit_grad: Tensor | None = field(default=None, repr=False)  # filled by tensor hooks in backward
    loss_grad: Tensor | None = field(default=None, repr=False)


def shape_key(step: PendingStep) -> tuple:
    """Steps whose statistics concatenate along the batch: the same T, layers and padding mask use."""
    s = step.stats
    return (None if s.spike_counts is None else s.spike_counts.shape[0],
            None if s.layer_spike_counts is None else tuple(c.shape[0] for c in s.layer_spike_counts),
            None if s.step_logits is None else s.step_logits.shape[0], step.valid is None)


def concat(steps: list[PendingStep]) -> tuple[StepStats, Tensor | None]:
    """The steps' statistics as one batch (time-major tensors joined along the batch, dim 1)."""
    if len(steps) == 1:
        return steps[0].stats, steps[0].valid
    first, cat = steps[0].stats, torch.cat
    layers = first.layer_spike_counts
    stats = StepStats(
        indices=cat([s.stats.indices for s in steps]), logits=cat([s.stats.logits for s in steps]),
        targets=cat([s.stats.targets for s in steps]), loss=cat([s.stats.loss for s in steps]),
        spike_counts=None if first.spike_counts is None else cat([s.stats.spike_counts for s in steps], 1),  # type: ignore[misc]
        layer_spike_counts=None if layers is None else [
            cat([s.stats.layer_spike_counts[i] for s in steps], 1) for i in range(len(layers))],  # type: ignore[index]
        step_logits=None if first.step_logits is None else cat([s.stats.step_logits for s in steps], 1),  # type: ignore[misc]
    )
    return stats, None if steps[0].valid is None else cat([s.valid for s in steps])  # type: ignore[misc]


def gather(stats: StepStats, valid: Tensor) -> StepStats:
    """All ranks' statistics of this step, concatenated in rank order, padding positions removed."""
    g = distributed.all_gather_cat
    keep = g(valid.to(stats.indices.device))
    spikes = None if stats.spike_counts is None else g(stats.spike_counts, dim=1)[:, keep]
    layers = None if stats.layer_spike_counts is None else [g(c, dim=1)[:, keep] for c in stats.layer_spike_counts]
    return StepStats(
        indices=g(stats.indices)[keep], logits=g(stats.logits)[keep], targets=g(stats.targets)[keep],
        loss=g(stats.loss)[keep], spike_counts=spikes, layer_spike_counts=layers,
        step_logits=None if stats.step_logits is None else g(stats.step_logits, dim=1)[:, keep],
        output_error=None if stats.output_error is None else g(stats.output_error)[keep],
    )
