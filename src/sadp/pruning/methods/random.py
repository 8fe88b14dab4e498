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


@METHODS.register("rs2", help="RS2 (Okanovic et al.): each epoch the next K of a seeded permutation, "
                                "no replacement across epochs")
class RepeatedSampling(PruningMethod):
    """Repeated sampling of random subsets without replacement (RS2 w/o replacement).

    The examples form one stream of seeded permutations ("passes"); epoch e trains on stream
    positions [eK, (e + 1)K), so every example is seen exactly once per pass and no example twice
    before all have been seen once. Every epoch is pruned (RS2 keeps no full-data epochs; the
    learning-rate schedule is sized from the epochs' real lengths), weights 1.

    An epoch that straddles the end of a pass takes the pass's last examples and then the head of
    the next permutation; so that it holds no example twice, the next permutation moves those
    carried-over examples (in their own random order) to its end. The selection is a function of
    (seed, epoch) only: nothing to save, and a resumed run selects exactly what the uninterrupted
    run would, on every rank.
    """

    exact_budget = True  # K every epoch

    def __init__(self, num_examples: int, ratio: float = 0.0, epochs: int = 1, seed: int = 0,
                 device: str | torch.device = "cpu", **options: object) -> None:
        super().__init__(num_examples, ratio, epochs, seed, device, **options)
        self._passes: dict[int, torch.Tensor] = {}  # pass index -> its permutation (recomputable cache)

    def permutation(self, p: int) -> torch.Tensor:
        """The order of pass ``p`` (a permutation of 0..N-1)."""
        if p not in self._passes:
            n, k = self.num_examples, self.budget
            perm = torch.randperm(n, generator=epoch_generator(self.seed, p, stream=2))
            if p > 0:
                start = (p * n // k) * k  # first stream position of the epoch that reaches pass p
                carried = self.permutation(p - 1)[start - (p - 1) * n:] if start < p * n else perm[:0]
                if len(carried):
                    moved = torch.zeros(n, dtype=torch.bool)
                    moved[carried] = True
                    perm = torch.cat([perm[~moved[perm]], perm[moved[perm]]])
            self._passes = {q: v for q, v in self._passes.items() if q >= p - 1}  # keep memory bounded
            self._passes[p] = perm
        return self._passes[p]

    def pruned_plan(self, epoch: int) -> EpochPlan:
        n, k = self.num_examples, self.budget
        start, stop = epoch * k, (epoch + 1) * k
        parts = []
        for p in range(start // n, (stop - 1) // n + 1):
            lo, hi = max(start, p * n) - p * n, min(stop, (p + 1) * n) - p * n
            parts.append(self.permutation(p)[lo:hi])
        return self.subset_plan(torch.cat(parts))
