"""Bandit-style dynamic pruning (Raju, Daruwalla & Lipasti 2021, "Accelerating deep learning
with dynamic data pruning"): keep the K examples that look most useful now, exploring the rest.

Our reading of the method (their code is not public to us; defaults are ours, documented):
the value of an example is its training loss, tracked as an exponential moving average mu_i
with decay ``ema`` and a moving variance sigma_i^2 of the same decay.
* ``ucb``: keep the top K by mu_i + c * sigma_i (upper confidence bound, ``c`` default 1).
* ``epsilon_greedy``: keep the top (1 - epsilon) K by mu_i and a uniformly random epsilon K of the
  rest (``epsilon`` default 0.1).
Weights are 1 (no reweighting, as in the paper). Full data in the first epoch so every example
has a value; no annealing by default (``anneal=0``). Ties are broken by a seeded random order.
"""
from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import Tensor

from sadp.pruning.base import (
    EpochPlan,
    ScheduledMethod,
    StepStats,
    check_option,
    epoch_generator,
    scatter_max_,
    top_k_random_ties,
)
from sadp.registry import METHODS


class BanditMethod(ScheduledMethod):
    state_attrs: ClassVar[tuple[str, ...]] = ("mean", "var", "seen")
    exact_budget = True  # top K (UCB), (1 - eps) K + eps K (epsilon-greedy)

    def __init__(self, num_examples: int, ratio: float = 0.0, epochs: int = 1, seed: int = 0,
                 device: str | torch.device = "cpu", ema: float = 0.9, anneal: float = 0.0,
                 **options: Any) -> None:
        super().__init__(num_examples, ratio, epochs, seed, device, anneal=anneal, **options)
        check_option(isinstance(ema, (int, float)) and 0.0 <= ema < 1.0, self.name,
                     f"ema (decay of the loss mean/variance) must be in [0, 1), got {ema!r}")
        self.ema = float(ema)
        self.mean = torch.zeros(num_examples, device=self.device)
        self.var = torch.zeros(num_examples, device=self.device)
        self.seen = torch.zeros(num_examples, device=self.device)

    def observe(self, stats: StepStats) -> None:
        idx = stats.indices.to(self.device).long()
        x = stats.loss.detach().float().to(self.device)
        m, v, was = self.mean[idx], self.var[idx], self.seen[idx] > 0
        a = 1.0 - self.ema
        diff = x - m
        new_m = torch.where(was, m + a * diff, x)
        new_v = torch.where(was, (1.0 - a) * (v + a * diff * diff), torch.zeros_like(x))  # EW variance
        scatter_max_(self.mean, idx, new_m)
        scatter_max_(self.var, idx, new_v)
        scatter_max_(self.seen, idx, torch.ones_like(x))

    def value(self) -> Tensor:
        """Per-example value to rank by; unseen examples first (+inf)."""
        raise NotImplementedError

    def ranked(self) -> Tensor:
        return torch.where(self.seen > 0, self.value(), torch.full_like(self.mean, float("inf")))


@METHODS.register("ucb", help="Raju et al. 2021 UCB: keep top K by EMA loss + c * EMA std")
class UCB(BanditMethod):
    def __init__(self, num_examples: int, ratio: float = 0.0, epochs: int = 1, seed: int = 0,
                 device: str | torch.device = "cpu", c: float = 1.0, **options: Any) -> None:
        super().__init__(num_examples, ratio, epochs, seed, device, **options)
        check_option(isinstance(c, (int, float)) and c >= 0, self.name,
                     f"c (exploration weight) must be >= 0, got {c!r}")
        self.c = float(c)

    def value(self) -> Tensor:
        return self.mean + self.c * self.var.clamp_min(0).sqrt()

    def pruned_plan(self, epoch: int) -> EpochPlan:
        return self.subset_plan(top_k_random_ties(self.ranked(), self.budget, epoch_generator(self.seed, epoch)))


@METHODS.register("epsilon_greedy", help="Raju et al. 2021 epsilon-greedy: top (1-eps) K by EMA loss + eps K random")
class EpsilonGreedy(BanditMethod):
    def __init__(self, num_examples: int, ratio: float = 0.0, epochs: int = 1, seed: int = 0,
                 device: str | torch.device = "cpu", epsilon: float = 0.1, **options: Any) -> None:
        super().__init__(num_examples, ratio, epochs, seed, device, **options)
        check_option(isinstance(epsilon, (int, float)) and 0.0 <= epsilon <= 1.0, self.name,
                     f"epsilon (exploration fraction) must be in [0, 1], got {epsilon!r}")
        self.epsilon = float(epsilon)

    def value(self) -> Tensor:
        return self.mean

    def pruned_plan(self, epoch: int) -> EpochPlan:
        g = epoch_generator(self.seed, epoch)
        k = self.budget
        k_explore = int(round(self.epsilon * k))
        ranked = top_k_random_ties(self.ranked(), self.num_examples, g)  # full ranking
        exploit, rest = ranked[: k - k_explore], ranked[k - k_explore:]
        explore = rest[torch.randperm(len(rest), generator=g)[:k_explore].to(rest.device)]
        return self.subset_plan(torch.cat([exploit, explore]))
