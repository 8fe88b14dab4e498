"""Importance-sampling methods: pi_i proportional to a per-example score, exact-K draws and
Horvitz-Thompson weights (docs/methods.md). They differ only in the score:

* ``sadp``: the spike-aware gradient bound ||softmax(z) - y|| * mean_t sqrt(n_t + 1)
  (``score="head"``, default) or its multi-layer form (``score="multilayer"``); see
  :mod:`sadp.pruning.scores` for the derivation and the per-step readout (``readout="per_step"``).
* ``grad_bound``: ||softmax(z) - y|| (Katharopoulos & Fleuret 2018, the ANN bound).
* ``loss``: the per-example loss (loss-proportional sampling).

One epoch: scores from the last time each example was trained (optionally an EMA), floor
max(a, eps * mean a), water-filling so sum pi = K, systematic PPS on a random order, weights
K / (N pi). Full data (weight 1) in the first ``full_first_epochs`` epochs (scores for all
examples) and from epoch (1 - anneal) * E on (InfoBatch's annealing).

Variants, each an option of every importance-sampling method:
* ``mix`` = lambda: pi <- lambda K/N + (1 - lambda) pi (uniform mixing; still sum pi = K, still
  unbiased, weights bounded by 1/lambda).
* ``clip`` = c > 0: weights min(K/(N pi), c). Biased for examples with K/(N pi) > c.
* ``weighted`` = false: selection by pi but weight 1 for every kept example (biased towards
  high-score examples, like InfoBatch's kept group without its rescale).
"""
from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import Tensor

from sadp.pruning.base import EpochPlan, ScheduledMethod, StepStats, check_option, epoch_generator, scatter_max_
from sadp.pruning.sampling import floor_scores, horvitz_thompson_weights, inclusion_probabilities, systematic_pps
from sadp.pruning.scores import batch_output_error, sadp_multilayer_score, sadp_step_score, spike_term
from sadp.registry import METHODS


class ImportanceSampling(ScheduledMethod):
    """Base of the score-proportional methods; subclasses implement :meth:`score`."""

    state_attrs: ClassVar[tuple[str, ...]] = ("scores", "seen")
    exact_budget = True  # systematic PPS draws exactly round(sum pi) = K

    def __init__(self, num_examples: int, ratio: float = 0.0, epochs: int = 1, seed: int = 0,
                 device: str | torch.device = "cpu", floor: float = 0.1, ema: float = 0.0,
                 mix: float = 0.0, clip: float = 0.0, weighted: bool = True,
                 **options: Any) -> None:
        super().__init__(num_examples, ratio, epochs, seed, device, **options)
        check_option(isinstance(mix, (int, float)) and 0.0 <= mix <= 1.0, self.name,
                     f"mix (share of uniform probability K/N) must be in [0, 1], got {mix!r}")
        check_option(isinstance(clip, (int, float)) and (clip == 0 or clip >= 1.0), self.name,
                     f"clip (largest loss weight) must be 0 (off) or >= 1, got {clip!r}")
        check_option(isinstance(weighted, bool), self.name, f"weighted must be true or false, got {weighted!r}")
        self.mix, self.clip, self.weighted = float(mix), float(clip), weighted
        check_option(isinstance(floor, (int, float)) and 0.0 <= floor <= 1.0, self.name,
                     f"floor (eps of max(a, eps * mean a)) must be in [0, 1], got {floor!r}; 0 disables it "
                     "(then examples with score 0 are never drawn and the estimator is biased)")
        check_option(isinstance(ema, (int, float)) and 0.0 <= ema < 1.0, self.name,
                     f"ema (weight of the old score) must be in [0, 1), got {ema!r}; 0 keeps the last score")
        self.floor, self.ema = float(floor), float(ema)
        self.scores = torch.zeros(num_examples, device=self.device)
        self.seen = torch.zeros(num_examples, device=self.device)  # 1.0 once scored (float: checkpoint format)
        self.last_pi: Tensor | None = None  # inclusion probabilities of the last pruned epoch (diagnostics)
        self._diagnostics: dict[str, float] = {}  # the last select's numbers for the per-epoch log

    def score(self, stats: StepStats) -> Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def observe(self, stats: StepStats) -> None:
        idx = stats.indices.to(self.device).long()
        new = self.score(stats).detach().float().to(self.device)
        if self.ema > 0:
            old, was_seen = self.scores[idx], self.seen[idx] > 0
            new = torch.where(was_seen, self.ema * old + (1.0 - self.ema) * new, new)
        scatter_max_(self.scores, idx, new)
        self.seen.index_fill_(0, idx, 1.0)

    def filled_scores(self) -> Tensor:
        """Scores [N] (float64); never-trained examples (only with full_first_epochs=0) get the mean
        seen score, and all get 1 before any example was scored."""
        seen = self.seen > 0
        if not bool(seen.any()):
            return torch.ones(self.num_examples, device=self.device, dtype=torch.float64)
        return torch.where(seen, self.scores.double(), self.scores.double()[seen].mean())

    def probabilities(self) -> Tensor:
        """This epoch's inclusion probabilities pi [N] (float64) from the current scores."""
        a = self.filled_scores()
        if not bool(torch.isfinite(a).all()):
            raise RuntimeError(f"pruning method {self.name!r}: non-finite scores (did the loss diverge?)")
        a = floor_scores(a, self.floor)
        if float(a.sum()) <= 0:
            a = torch.ones_like(a)
        return inclusion_probabilities(a, self.budget)

    def select(self, epoch: int) -> EpochPlan:
        self._diagnostics = {}  # full-data epochs report nothing
        return super().select(epoch)

    def epoch_diagnostics(self) -> dict[str, float]:
        return dict(self._diagnostics)

    def predicted_variance_ratio(self, pi: Tensor) -> float:
        """Variance of the Horvitz-Thompson gradient estimator under ``pi`` over that of uniform
        sampling at the same K, for independent (Poisson) inclusion, with the scores
        standing in for the gradient norms: sum (1/pi - 1) a^2 / ((N/K - 1) sum a^2)."""
        a2 = self.filled_scores().square()
        uniform = (self.num_examples / self.budget - 1.0) * float(a2.sum())
        return float(((1.0 / pi - 1.0) * a2).sum()) / uniform if uniform > 0 else float("nan")

    def pruned_plan(self, epoch: int) -> EpochPlan:
        pi = self.probabilities()
        if self.mix > 0:
            pi = self.mix * (self.budget / self.num_examples) + (1.0 - self.mix) * pi
        self.last_pi = pi
        self._diagnostics = {"var_ratio_pred": self.predicted_variance_ratio(pi),
                             "pi_capped": float((pi >= 1.0 - 1e-12).double().mean())}
        chosen = systematic_pps(pi, epoch_generator(self.seed, epoch))
        if not self.weighted:
            return self.subset_plan(chosen)
        weights = horvitz_thompson_weights(pi, self.budget)
        if self.clip > 0:
            weights = weights.clamp(max=self.clip)
        return self.subset_plan(chosen, weights)


@METHODS.register("loss", help="loss-proportional importance sampling (exact K, Horvitz-Thompson weights)")
class LossProportional(ImportanceSampling):
    def score(self, stats: StepStats) -> Tensor:
        return stats.loss.float().clamp_min(0)


@METHODS.register("grad_bound", help="pi ~ ||softmax(z) - y|| (Katharopoulos & Fleuret 2018 ANN bound)")
class GradientBound(ImportanceSampling):
    uses_output_error = True

    def score(self, stats: StepStats) -> Tensor:
        return batch_output_error(stats.logits, stats.targets, stats.output_error)


SADP_SCORES = ("head", "multilayer")
SADP_READOUTS = ("mean", "per_step")


@METHODS.register("sadp", help="spike-aware dynamic data pruning: pi ~ ||softmax(z)-y|| * mean_t sqrt(n_t+1)")
class SADP(ImportanceSampling):
    """Options: ``score`` head | multilayer, ``readout`` mean | per_step (loss on per-step logits),
    ``bias`` (the +1 of the bias term; keep it), plus ``floor``, ``ema``, ``full_first_epochs``, ``anneal``."""

    needs_spikes = True
    uses_output_error = True  # the mean readout's; readout=per_step computes its own per step

    def __init__(self, num_examples: int, ratio: float = 0.0, epochs: int = 1, seed: int = 0,
                 device: str | torch.device = "cpu", score: str = "head", readout: str = "mean",
                 bias: bool = True, **options: Any) -> None:
        super().__init__(num_examples, ratio, epochs, seed, device, **options)
        check_option(score in SADP_SCORES, self.name, f"score must be one of {SADP_SCORES}, got {score!r}")
        check_option(readout in SADP_READOUTS, self.name, f"readout must be one of {SADP_READOUTS}, got {readout!r}")
        check_option(not (score == "multilayer" and readout == "per_step"), self.name,
                     "score=multilayer is derived for the mean readout only; use readout=mean")
        check_option(isinstance(bias, bool), self.name, f"bias must be true or false, got {bias!r}")
        self.score_kind, self.readout, self.bias = score, readout, bias
        # The spike factor's mean and CV and the silent head inputs per epoch are in the Pruner's
        # EpochReport (where the factor barely varies, SADP ranks like the ANN bound).
        # Instance attribute shadows the class flag: the Pruner then records every layer's counts.
        self.needs_layer_spikes = score == "multilayer"  # type: ignore[misc]

    def check_loss(self, loss: str) -> None:
        # readout=mean is derived for CE of the mean-over-T logits, per_step for the per-step (TET) loss.
        fits = "tet" if self.readout == "per_step" else "ce"
        check_option(not (loss == "tet" and self.score_kind == "multilayer"), self.name,
                     "score=multilayer is derived for the mean-over-T CE loss; use loss 'ce' or score=head")
        scored = "per-step (TET)" if fits == "tet" else "mean-over-T CE"
        check_option(loss == fits, self.name,
                     f"readout={self.readout} scores the {scored} loss "
                     f"but the training loss is {loss!r}; use readout={'per_step' if loss == 'tet' else 'mean'} "
                     f"(--method-option readout={'per_step' if loss == 'tet' else 'mean'}) or loss {fits!r}")

    def score(self, stats: StepStats) -> Tensor:  # type: ignore[override]
        if self.score_kind == "multilayer":
            if not stats.layer_spike_counts:
                raise ValueError("sadp score=multilayer needs StepStats.layer_spike_counts: record them with "
                                 "SpikeMonitor(model, layers=True)")
            return sadp_multilayer_score(stats.logits, stats.targets, stats.layer_spike_counts, self.bias,
                                         stats.output_error)
        if stats.spike_counts is None:
            raise ValueError("sadp needs StepStats.spike_counts (spike counts of the head's input per step): "
                             "record them with sadp.pruning.SpikeMonitor(model) around the forward pass")
        if self.readout == "per_step":
            if stats.step_logits is None:
                raise ValueError("sadp readout=per_step needs StepStats.step_logits [T, B, K]")
            return sadp_step_score(stats.step_logits, stats.targets, stats.spike_counts, self.bias)
        error = batch_output_error(stats.logits, stats.targets, stats.output_error)
        return error * spike_term(stats.spike_counts, self.bias)

