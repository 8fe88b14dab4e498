"""InfoBatch (Qin et al., ICLR 2024), as in the authors' published code.

Each epoch before delta * E (delta = 1 - ``anneal``, the published delta = 0.875 is ``anneal=0.125``):
of the examples whose last loss is below the mean loss ("well learned", n_low of them) a uniformly
random int(keep * n_low) are kept with loss weight 1 / keep, keep = 1 - r clamped to [0.1, 1] as
published; every other example is kept with weight 1. Scores start equal, so the first epoch uses
all data. Once the epoch count reaches delta * E, i.e. for 0-based e with e + 1 > delta * E
(e >= floor(delta * E)), all data with weight 1: the published sampler's rule (its epoch counter
is 1-based when checked), so a fractional delta * E still anneals; unlike the published code
(whose reset tests ``iterations == stop_prune + 1`` and never fires for fractional delta * E)
weights always reset. Scores are the examples' last training losses; pruned examples keep their
old loss. The option ``delta`` (the published name) still works, as ``anneal = 1 - delta``.
"""
from __future__ import annotations

from typing import Any

import torch

from sadp.pruning.base import (
    ANNEAL,
    EpochPlan,
    PruningMethod,
    StepStats,
    anneals,
    check_anneal,
    epoch_generator,
    renamed_option,
    scatter_max_,
)
from sadp.registry import METHODS


@METHODS.register("infobatch", help="InfoBatch: randomly drop r of the below-mean-loss examples, "
                                      "rescale by 1/(1-r); full data in the last anneal * E epochs")
class InfoBatch(PruningMethod):
    state_attrs = ("scores",)
    former_options = {"delta": "anneal"}

    def __init__(self, num_examples: int, ratio: float = 0.0, epochs: int = 1, seed: int = 0,
                 device: str | torch.device = "cpu", anneal: float | None = None, delta: float | None = None,
                 **options: Any) -> None:
        super().__init__(num_examples, ratio, epochs, seed, device, **options)
        anneal = renamed_option(self.name, "delta", delta, "anneal", anneal, convert=lambda d: 1.0 - d)
        self.anneal = check_anneal(self.name, ANNEAL if anneal is None else anneal)
        self.keep_ratio = min(1.0, max(0.1, 1.0 - self.ratio))  # as published
        self.scores = torch.ones(num_examples, device=self.device)

    def is_full_epoch(self, epoch: int) -> bool:
        return anneals(epoch, self.epochs, 1.0 - self.anneal)  # full_plan resets the weights to 1

    def pruned_plan(self, epoch: int) -> EpochPlan:
        low = self.scores < self.scores.mean()
        low_idx = low.nonzero().flatten()
        n_keep = int(self.keep_ratio * len(low_idx))
        g = epoch_generator(self.seed, epoch)
        kept_low = low_idx[torch.randperm(len(low_idx), generator=g)[:n_keep].to(low_idx.device)]
        weights = torch.ones(self.num_examples, device=self.device)
        weights[kept_low] = 1.0 / self.keep_ratio
        return self.subset_plan(torch.cat([(~low).nonzero().flatten(), kept_low]), weights)

    def observe(self, stats: StepStats) -> None:
        scatter_max_(self.scores, stats.indices, stats.loss.float())
