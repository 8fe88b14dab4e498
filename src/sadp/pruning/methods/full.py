from __future__ import annotations

import torch

from sadp.pruning.base import EpochPlan, PruningMethod
from sadp.registry import METHODS


@METHODS.register("full", help="no pruning: every example every epoch, weight 1")
class FullData(PruningMethod):
    name = "full"

    def select(self, epoch: int) -> EpochPlan:
        return EpochPlan(torch.arange(self.num_examples), self.weights)
