from __future__ import annotations

from sadp.pruning.base import EpochPlan, PruningMethod
from sadp.registry import METHODS


@METHODS.register("full", help="no pruning: every example every epoch, weight 1")
class FullData(PruningMethod):
    name = "full"

    def select(self, epoch: int) -> EpochPlan:
        self.current_epoch = epoch
        return self.full_plan()
