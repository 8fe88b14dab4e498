"""Static methods: score during a short full-data warm-up, then train on a fixed subset of K.

The warm-up lasts ``full_first_epochs`` epochs (default: 10% of the run, at least 1 (forgetting:
2), as Paul et al. score at epoch 20 of 200; the option's former name ``warmup_epochs`` still
works); its epochs train on full data and count as such in examples_seen. A warm-up too short to
produce any score (el2n: 0 epochs, forgetting: fewer than 2) is a ValueError, not a silently
random subset.
At the end of the warm-up the top-K examples by score (ties: seeded random order) form the
subset for every later epoch, weights 1.

* ``el2n`` (Paul et al. 2021): ||softmax(z) - y||, from each example's training forward pass in
  the last warm-up epoch (the paper averages over 10 independently trained models; we use one).
* ``grand`` (Paul et al. 2021): the norm of the per-example loss gradient with respect to all
  parameters, computed with torch.func after the warm-up through the Pruner's ``model_access``
  (``before_epoch``, :class:`~sadp.pruning.base.ModelAccess`); ``full_first_epochs=0`` scores at
  initialisation, the paper's headline variant (which averages 10 initialisations; we use one).
  Costs one extra per-example-gradient pass.
* ``forgetting`` (Toneva et al. 2019): number of forgetting events (correct -> incorrect between
  successive presentations) during the warm-up; examples never classified correctly count as
  most forgettable; keep the most forgotten, drop unforgettable ones first. Needs at least two
  warm-up epochs to see any event (its default warm-up is at least 2).
"""
from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import Tensor

from sadp.pruning.base import (
    EpochPlan,
    ModelAccess,
    PruningMethod,
    StepStats,
    check_option,
    epoch_generator,
    renamed_option,
    scatter_max_,
    top_k_random_ties,
)
from sadp.pruning.pergrad import per_example_grad_norms
from sadp.pruning.scores import batch_output_error
from sadp.registry import METHODS


class StaticMethod(PruningMethod):
    state_attrs: ClassVar[tuple[str, ...]] = ("scores",)
    exact_budget = True  # top K
    former_options = {"warmup_epochs": "full_first_epochs"}
    # The fewest warm-up epochs that can produce a score, and why (for the error message).
    min_full_first_epochs: ClassVar[int] = 0
    min_full_first_reason: ClassVar[str] = ""

    def __init__(self, num_examples: int, ratio: float = 0.0, epochs: int = 1, seed: int = 0,
                 device: str | torch.device = "cpu", full_first_epochs: int | None = None,
                 warmup_epochs: int | None = None, **options: Any) -> None:
        super().__init__(num_examples, ratio, epochs, seed, device, **options)
        full_first_epochs = renamed_option(self.name, "warmup_epochs", warmup_epochs, "full_first_epochs",
                                           full_first_epochs)
        if full_first_epochs is None:
            full_first_epochs = max(1, self.min_full_first_epochs, round(0.1 * epochs))
        check_option(isinstance(full_first_epochs, int) and full_first_epochs >= 0, self.name,
                     f"full_first_epochs must be an integer >= 0, got {full_first_epochs!r}")
        self.full_first_epochs = min(full_first_epochs, epochs)
        # Only a warm-up followed by pruned epochs must be able to score (ratio 0 or a run that is
        # all warm-up never selects by score).
        check_option(ratio == 0.0 or self.full_first_epochs >= epochs
                     or self.full_first_epochs >= self.min_full_first_epochs,
                     self.name, f"full_first_epochs={full_first_epochs} is too short: {self.min_full_first_reason}")
        self.scores = torch.zeros(num_examples, device=self.device)

    def in_warmup(self, epoch: int) -> bool:
        return epoch < self.full_first_epochs

    def is_full_epoch(self, epoch: int) -> bool:
        return self.in_warmup(epoch)

    def pruned_plan(self, epoch: int) -> EpochPlan:
        self.check_scored()
        # Same generator every epoch: the subset is fixed after the warm-up.
        return self.subset_plan(top_k_random_ties(self.final_scores(), self.budget,
                                                  epoch_generator(self.seed, self.full_first_epochs)))

    def check_scored(self) -> None:
        """Raise if the method cannot have scores (overridden by GraNd)."""

    def final_scores(self) -> Tensor:
        return self.scores


@METHODS.register("el2n", help="EL2N (Paul et al. 2021): static top-K by ||softmax(z)-y|| after a warm-up")
class EL2N(StaticMethod):
    uses_output_error = True
    min_full_first_epochs = 1
    min_full_first_reason = ("el2n scores ||softmax(z) - y|| during the warm-up, so with none every score is 0 "
                             "and the subset is random; use full_first_epochs >= 1 (grand can score at "
                             "initialisation)")

    def observe(self, stats: StepStats) -> None:
        if self.in_warmup(self.current_epoch):
            error = batch_output_error(stats.logits, stats.targets, stats.output_error)
            scatter_max_(self.scores, stats.indices.to(self.device), error.to(self.device))


@METHODS.register("forgetting", help="forgetting events (Toneva et al. 2019): static top-K most forgotten "
                                       "after a warm-up")
class Forgetting(StaticMethod):
    state_attrs = ("scores", "last_correct", "ever_correct")
    min_full_first_epochs = 2
    min_full_first_reason = ("a forgetting event (correct, then wrong on a later presentation) needs two "
                             "warm-up epochs; with fewer the subset is never-learned examples plus a random "
                             "rest, so use full_first_epochs >= 2")

    def __init__(self, num_examples: int, ratio: float = 0.0, epochs: int = 1, seed: int = 0,
                 device: str | torch.device = "cpu", **options: Any) -> None:
        super().__init__(num_examples, ratio, epochs, seed, device, **options)
        self.last_correct = torch.full((num_examples,), -1.0, device=self.device)  # -1 never presented
        self.ever_correct = torch.zeros(num_examples, device=self.device)

    def observe(self, stats: StepStats) -> None:
        if not self.in_warmup(self.current_epoch):
            return
        idx = stats.indices.to(self.device).long()
        correct = (stats.logits.argmax(-1) == stats.targets).float().to(self.device)
        forgot = ((self.last_correct[idx] == 1.0) & (correct == 0.0)).float()
        scatter_max_(self.scores, idx, self.scores[idx] + forgot)
        scatter_max_(self.last_correct, idx, correct)
        scatter_max_(self.ever_correct, idx, torch.maximum(self.ever_correct[idx], correct))

    def final_scores(self) -> Tensor:
        return torch.where(self.ever_correct > 0, self.scores, torch.full_like(self.scores, float("inf")))


@METHODS.register("grand", help="GraNd (Paul et al. 2021): static top-K by per-example gradient norm "
                                  "(torch.func) after a warm-up")
class GraNd(StaticMethod):
    state_attrs = ("scores", "scored")

    def __init__(self, num_examples: int, ratio: float = 0.0, epochs: int = 1, seed: int = 0,
                 device: str | torch.device = "cpu", chunk_size: int = 64, **options: Any) -> None:
        super().__init__(num_examples, ratio, epochs, seed, device, **options)
        check_option(isinstance(chunk_size, int) and chunk_size >= 1, self.name,
                     f"chunk_size (examples per vmapped gradient batch) must be >= 1, got {chunk_size!r}")
        self.chunk_size = chunk_size
        self.scored = False

    def before_epoch(self, epoch: int, model_access: ModelAccess) -> None:
        if self.ratio == 0.0 or self.scored or epoch != self.full_first_epochs:
            return
        norms = torch.zeros(self.num_examples, device=self.device)
        for x, y, idx in model_access.batches():
            g = per_example_grad_norms(model_access.model, x, y, model_access.loss, chunk_size=self.chunk_size)
            norms[idx.to(self.device).long()] = g.to(self.device)
        self.scores, self.scored = norms, True

    def check_scored(self) -> None:
        if not self.scored:
            raise RuntimeError(
                "grand has no gradient norms: call method.before_epoch(epoch, ModelAccess(model, batches, loss)) "
                f"before select() at the end of the warm-up (epoch {self.full_first_epochs}); a Pruner given "
                "model_access= does this (sadp.train.Trainer gives it one)"
            )
