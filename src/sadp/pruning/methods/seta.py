"""SeTa (Zhou, Gao & Wang, "Scale Efficient Training for Large Datasets", CVPR 2025).

Score: each example's last training loss (unweighted), ``initial_score`` (3.0, as published)
until it is first trained. 0-based epoch t, K = round((1 - r) N):

* t = 0 and the annealing tail, the last ``anneal`` share of the epochs (e + 1 > (1 - anneal) E,
  InfoBatch's rule; ``anneal=0.125`` is the published delta = 0.875): a uniform random K.
* otherwise: 1-D k-means of all N scores into G = ``groups`` groups, numbered easiest (lowest
  loss) first; all scores equal: G consecutive chunks of a random order. A window of
  W = round(G w) groups (``window`` = w, Python's round as published: 5 x 0.9 -> 4) starts at
  group t mod (G - W + 1), so it moves one group harder per epoch and wraps to the easiest. A
  uniform random K of the window's examples is kept. Weights 1.

The published code first keeps a random kappa N (kappa = 1 - r) and clusters only those; keeping
a uniform random K of the window instead is the same as choosing kappa = K / (window size) each
epoch, so ``--ratio`` keeps its meaning (K examples per epoch) where the published window silently
removes another share of the data. When the window holds fewer than K examples (a large easiest
group left out) the epoch keeps all of them and the shortfall is added to the following epochs'
K, so the run as a whole trains on K per epoch; an empty window (possible only with fewer
distinct scores than groups) keeps one random example, as published. Every number comes from
(seed, epoch) and the state; docs/methods.md lists the other differences from the published code.
The option ``delta`` (the published name) still works, as ``anneal = 1 - delta``.
"""
from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from sadp.pruning.base import (
    ANNEAL,
    EpochPlan,
    PruningMethod,
    StepStats,
    anneals,
    check_anneal,
    check_option,
    epoch_generator,
    renamed_option,
    scatter_max_,
)
from sadp.pruning.kmeans import kmeans_1d
from sadp.registry import METHODS


@METHODS.register("seta", help="SeTa (Zhou et al., CVPR 2025): k-means loss groups, a window sliding "
                                 "easy -> hard, K random of it")
class SeTa(PruningMethod):
    state_attrs = ("scores", "kept")
    former_options = {"delta": "anneal"}

    def __init__(self, num_examples: int, ratio: float = 0.0, epochs: int = 1, seed: int = 0,
                 device: str | torch.device = "cpu", groups: int = 5, window: float = 0.9,
                 anneal: float | None = None, initial_score: float = 3.0, delta: float | None = None,
                 **options: Any) -> None:
        super().__init__(num_examples, ratio, epochs, seed, device, **options)
        check_option(isinstance(groups, int) and groups >= 1, self.name,
                     f"groups (k-means groups G) must be an integer >= 1, got {groups!r}")
        check_option(isinstance(window, (int, float)) and 0.0 < window <= 1.0, self.name,
                     f"window (share w of the G groups in the sliding window) must be in (0, 1], got {window!r}")
        check_option(round(groups * window) >= 1, self.name,
                     f"window={window} of groups={groups} rounds to a window of 0 groups; use groups * window >= 0.5")
        anneal = renamed_option(self.name, "delta", delta, "anneal", anneal, convert=lambda d: 1.0 - d)
        self.anneal = check_anneal(self.name, ANNEAL if anneal is None else anneal)
        check_option(isinstance(initial_score, (int, float)) and math.isfinite(initial_score), self.name,
                     f"initial_score must be a finite number, got {initial_score!r}")
        self.groups, self.window = groups, float(window)
        self.window_groups = round(groups * window)  # W; Python's round, as the published code
        self.scores = torch.full((num_examples,), float(initial_score), device=self.device)
        # Examples each epoch kept (K until selected); the shortfall of earlier epochs carries over.
        # Indexed by epoch, so selecting an epoch again (a resume) does not count it twice.
        self.kept = torch.full((epochs,), self.budget, dtype=torch.long, device=self.device)
        self._diagnostics: dict[str, float] = {}

    def window_start(self, epoch: int) -> int:
        """First group of epoch t's window: t mod (G - W + 1)."""
        return epoch % (self.groups - self.window_groups + 1)

    def group_labels(self, generator: torch.Generator) -> Tensor:
        """Group of every example [N] (CPU long), 0 = lowest loss."""
        scores = self.scores.detach().to("cpu", torch.float64)
        if bool((scores == scores[0]).all()):  # all equal: G consecutive chunks of a random order
            labels = torch.empty(self.num_examples, dtype=torch.long)
            chunks = torch.randperm(self.num_examples, generator=generator).tensor_split(self.groups)
            for j, chunk in enumerate(chunks):
                labels[chunk] = j
            return labels
        return kmeans_1d(scores, self.groups)

    def target(self, epoch: int) -> int:
        """Examples epoch ``epoch`` should keep: K plus what the earlier epochs fell short of K."""
        return self.budget + int((self.budget - self.kept[:epoch]).sum())

    def pruned_plan(self, epoch: int) -> EpochPlan:
        g = epoch_generator(self.seed, epoch)
        target = self.target(epoch)
        if epoch == 0 or anneals(epoch, self.epochs, 1.0 - self.anneal):  # every group: uniform random examples
            chosen = torch.randperm(self.num_examples, generator=g)[:target]
            self._diagnostics = {}
        else:
            start = self.window_start(epoch)
            labels = self.group_labels(g)
            members = ((labels >= start) & (labels < start + self.window_groups)).nonzero().flatten()
            self._diagnostics = {"seta_window_start": float(start),
                                 "seta_window_share": len(members) / self.num_examples}
            if len(members) == 0:
                chosen = torch.randint(self.num_examples, (1,), generator=g)
            else:
                chosen = members[torch.randperm(len(members), generator=g)[:target]]
        if epoch < len(self.kept):
            self.kept[epoch] = len(chosen)
        return self.subset_plan(chosen)

    def epoch_diagnostics(self) -> dict[str, float]:
        return dict(self._diagnostics)

    def observe(self, stats: StepStats) -> None:
        scatter_max_(self.scores, stats.indices.to(self.device), stats.loss.float().to(self.device))
