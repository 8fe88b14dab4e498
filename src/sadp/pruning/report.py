"""What the :class:`~sadp.pruning.Pruner` did in one epoch: :class:`EpochReport`, returned by
``Pruner.end_epoch`` (and kept as ``pruner.report``), one line per epoch when printed."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class EpochReport:
    """What the pruner did in one epoch (returned by :meth:`Pruner.end_epoch`, kept as ``pruner.report``).

    Counts are over all DDP ranks, padding duplicates left out; the spike statistics are None for
    methods that record no spikes.

    Attributes:
        epoch: the epoch (as given to ``start_epoch``).
        num_examples: N, the training set's size.
        selected: examples in the epoch's selection.
        trained: examples that went through ``loss`` (equal to ``selected`` unless the loader drops
            the last partial batch or the loop stopped early).
        steps: ``loss`` calls (batches) on this rank.
        loss: mean unweighted per-example loss of the trained examples.
        accuracy: share of trained examples whose readout (mean over T) argmax is the target.
        weight_min, weight_max: range of the loss weights w_i of the selected examples.
        spike_factor_mean, spike_factor_cv: mean and coefficient of variation over the trained
            examples of the spike factor mean_t sqrt(n_t + 1), n_t the spike count entering the
            classifier at step t (SADP's score is ||softmax(z) - y|| times this factor: with a CV
            near 0 it ranks like the ANN bound ``grad_bound``).
        head_silent_share: share of trained examples with no spike into the classifier at any step.
        method: the method's own numbers (e.g. ``var_ratio_pred`` for importance sampling).
    """

    epoch: int
    num_examples: int
    selected: int
    trained: int
    steps: int
    loss: float
    accuracy: float
    weight_min: float
    weight_max: float
    spike_factor_mean: float | None = None
    spike_factor_cv: float | None = None
    head_silent_share: float | None = None
    method: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def __str__(self) -> str:
        """One line for a per-epoch print."""
        line = (f"selected {self.selected}/{self.num_examples}, trained {self.trained} in {self.steps} steps, "
                f"loss {self.loss:.4f}, acc {self.accuracy:.3f}, weights {self.weight_min:.3g}-{self.weight_max:.3g}")
        if self.spike_factor_mean is not None:
            line += (f", spike factor {self.spike_factor_mean:.3f} (CV {self.spike_factor_cv:.3f}), "
                     f"silent head inputs {100 * (self.head_silent_share or 0.0):.1f}%")
        return line
