"""Uniform random pruning: a static subset, or a fresh subset every epoch (Raju et al. 2021)."""
from __future__ import annotations

import torch

from sadp.pruning.base import EpochPlan, PruningMethod, ScheduledMethod, epoch_generator
from sadp.registry import METHODS


@METHODS.register("random_static", help="one uniform random subset of K examples, fixed for the whole run")
class RandomStatic(PruningMethod):
    """The subset is drawn once from the seed (stream 0 of epoch 0); weights 1."""

    exact_budget = True

    def pruned_plan(self, epoch: int) -> EpochPlan:
        perm = torch.randperm(self.num_examples, generator=epoch_generator(self.seed, 0))
        return self.subset_plan(perm[: self.budget])


@METHODS.register("random_dynamic", help="a fresh uniform random K each epoch; full first epoch and last 12.5%")
class RandomDynamic(ScheduledMethod):
    """Uniform inclusion pi = K/N, so the Horvitz-Thompson weight K/(N pi) is 1."""

    exact_budget = True

    def pruned_plan(self, epoch: int) -> EpochPlan:
        perm = torch.randperm(self.num_examples, generator=epoch_generator(self.seed, epoch))
        return self.subset_plan(perm[: self.budget])
