"""OrderDP (ICLR 2026): a random subset, then its highest-loss examples.

Score: each example's last training loss, ``initial_score`` until it is first trained. Every
epoch, the first included: draw s = floor(rho_r N) examples uniformly without replacement and keep
the q = floor(rho_q s) with the largest scores (ties: a seeded random order); weights 1, no
annealing. ``--ratio r`` sets rho_r rho_q = 1 - r, so q is about (1 - r) N; give ``rho_q`` or
``rho_r`` (the other follows), or neither for the even split rho_r = rho_q = sqrt(1 - r).

The paper's unbiasedness claim is for a surrogate objective (the ranked losses weighted by the
probability that each rank is kept), not for the mean training loss: the kept examples are the
high-loss part of each draw, with weight 1.
"""
from __future__ import annotations

import math
from typing import Any

import torch

from sadp.pruning.base import (
    EpochPlan,
    PruningMethod,
    StepStats,
    check_option,
    epoch_generator,
    scatter_max_,
    top_k_random_ties,
)
from sadp.registry import METHODS

ROUNDING_SLACK = 1e-9  # floor(0.5 * 10) must be 5 even when the product lands just below


@METHODS.register("orderdp", help="OrderDP (ICLR 2026): top rho_q of a uniform random rho_r N by last loss, "
                                    "every epoch")
class OrderDP(PruningMethod):
    state_attrs = ("scores",)

    def __init__(self, num_examples: int, ratio: float = 0.0, epochs: int = 1, seed: int = 0,
                 device: str | torch.device = "cpu", rho_r: float | None = None, rho_q: float | None = None,
                 initial_score: float = 3.0, **options: Any) -> None:
        super().__init__(num_examples, ratio, epochs, seed, device, **options)
        keep = 1.0 - self.ratio
        for key, value in (("rho_r", rho_r), ("rho_q", rho_q)):
            check_option(value is None or (isinstance(value, (int, float)) and keep - 1e-12 <= value <= 1.0), self.name,
                         f"{key} must be in [1 - ratio, 1] = [{keep:g}, 1] (rho_r * rho_q = 1 - ratio), got {value!r}")
        if rho_r is None and rho_q is None:
            rho_r = rho_q = math.sqrt(keep)
        elif rho_q is None:
            rho_q = keep / rho_r
        elif rho_r is None:
            rho_r = keep / rho_q
        check_option(abs(rho_r * rho_q - keep) <= 1e-9, self.name,
                     f"rho_r * rho_q must equal 1 - ratio = {keep:g}, got {rho_r} * {rho_q}; give only one of them")
        check_option(isinstance(initial_score, (int, float)) and math.isfinite(initial_score), self.name,
                     f"initial_score must be a finite number, got {initial_score!r}")
        self.rho_r, self.rho_q = float(rho_r), float(rho_q)
        self.draw = math.floor(self.rho_r * num_examples + ROUNDING_SLACK)  # s
        self.keep = math.floor(self.rho_q * self.draw + ROUNDING_SLACK)  # q
        check_option(self.keep >= 1, self.name,
                     f"keeps q = floor(rho_q * floor(rho_r * N)) = {self.keep} examples per epoch with "
                     f"N = {num_examples}, "
                     f"rho_r = {self.rho_r:.4g}, rho_q = {self.rho_q:.4g}: use a smaller ratio")
        self.scores = torch.full((num_examples,), float(initial_score), device=self.device)

    def epoch_size(self, epoch: int) -> int | None:
        """q = floor(rho_q * floor(rho_r * N)) every pruned epoch (not K: the floors may round below it)."""
        return self.num_examples if self.ratio == 0.0 else self.keep

    def pruned_plan(self, epoch: int) -> EpochPlan:
        g = epoch_generator(self.seed, epoch)
        drawn = torch.randperm(self.num_examples, generator=g)[: self.draw]
        top = top_k_random_ties(self.scores[drawn.to(self.device)], self.keep, g)
        return self.subset_plan(drawn[top.cpu()])

    def observe(self, stats: StepStats) -> None:
        scatter_max_(self.scores, stats.indices.to(self.device), stats.loss.float().to(self.device))
