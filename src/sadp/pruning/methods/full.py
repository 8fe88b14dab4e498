from __future__ import annotations

from sadp.pruning.base import PruningMethod
from sadp.registry import METHODS


@METHODS.register("full", help="no pruning: every example every epoch, weight 1")
class FullData(PruningMethod):
    exact_budget = True

    def is_full_epoch(self, epoch: int) -> bool:
        return True
