"""Statistics for comparisons paired by seed, as ``sadp report`` states them.

Two runs with the same seed share the training subset and the initialisation, so a method is
compared with a reference through the per-seed differences d_1..d_n:

- mean and a t-based 95% confidence interval, mean ± t_{0.975, n-1} s / sqrt(n) (s: the sample
  standard deviation of the differences); undefined for n < 2;
- wins / ties / losses (d > 0, d = 0, d < 0);
- an exact two-sided sign test on wins against losses (ties left out) and a Wilcoxon
  signed-rank test (zeros left out; exact for small n without tied magnitudes);
- a difference "is evidence" when its 95% CI excludes 0.

With a handful of seeds the tests are coarse: with 5 seeds the smallest possible two-sided p of
either test is 2 / 2^5 = 0.0625, so the CI is the verdict and the p-values are reported beside it.
"""
from __future__ import annotations

import math
import statistics
import warnings
from dataclasses import dataclass
from typing import Sequence

CONFIDENCE = 0.95
# Accuracy differences are differences of multiples of 1/num_test; rounding away float noise
# lets equal accuracies tie exactly and equal magnitudes share Wilcoxon ranks.
_DECIMALS = 12


@dataclass(frozen=True)
class PairedStats:
    """Summary of paired differences (method minus reference, one per seed). The report's row of a
    comparison (``report_tables._paired_row``) is the one place these fields become a dict."""

    n: int
    mean: float
    std: float  # sample std (n - 1); NaN for n < 2
    ci_low: float  # 95% CI of the mean; NaN for n < 2
    ci_high: float
    wins: int
    ties: int
    losses: int
    p_sign: float  # exact two-sided sign test; NaN when every pair ties
    p_wilcoxon: float  # Wilcoxon signed-rank, two-sided; NaN when every pair ties

    @property
    def evidence(self) -> bool:
        """True when the 95% CI excludes 0 (never for n < 2)."""
        return self.ci_low > 0 or self.ci_high < 0

    @property
    def verdict(self) -> str:
        """``better`` / ``worse`` (CI excludes 0), ``no evidence`` (CI includes 0) or ``CI undefined``."""
        if self.n < 2 or math.isnan(self.ci_low):
            return f"CI undefined (n = {self.n})"
        if not self.evidence:
            return "no evidence (CI includes 0)"
        return "better (CI excludes 0)" if self.mean > 0 else "worse (CI excludes 0)"


def t_interval(values: Sequence[float], confidence: float = CONFIDENCE) -> tuple[float, float]:
    """t-based confidence interval of the mean of ``values``; (NaN, NaN) for fewer than 2 values."""
    from scipy import stats

    n = len(values)
    if n < 2:
        return math.nan, math.nan
    mean, sd = statistics.fmean(values), statistics.stdev(values)
    half = stats.t.ppf(0.5 + confidence / 2, n - 1) * sd / math.sqrt(n)
    return mean - half, mean + half


def sign_test(wins: int, losses: int) -> float:
    """Exact two-sided sign test (binomial, p = 1/2) of ``wins`` against ``losses``; NaN if both are 0."""
    from scipy import stats

    if wins + losses == 0:
        return math.nan
    return float(stats.binomtest(wins, wins + losses, 0.5).pvalue)


def wilcoxon_test(diffs: Sequence[float]) -> float:
    """Two-sided Wilcoxon signed-rank p-value of ``diffs`` (zeros dropped); NaN when all are 0."""
    from scipy import stats

    nonzero = [d for d in diffs if d != 0]
    if not nonzero:
        return math.nan
    with warnings.catch_warnings():  # scipy warns when it falls back to the normal approximation
        warnings.simplefilter("ignore")
        return float(stats.wilcoxon(nonzero).pvalue)


def paired_stats(diffs: Sequence[float], confidence: float = CONFIDENCE) -> PairedStats:
    """:class:`PairedStats` of per-seed differences ``diffs``."""
    if not diffs:
        raise ValueError("paired_stats needs at least one difference")
    d = [round(float(x), _DECIMALS) for x in diffs]
    wins, losses = sum(x > 0 for x in d), sum(x < 0 for x in d)
    low, high = t_interval(d, confidence)
    return PairedStats(
        n=len(d), mean=statistics.fmean(d), std=statistics.stdev(d) if len(d) >= 2 else math.nan,
        ci_low=low, ci_high=high, wins=wins, ties=len(d) - wins - losses, losses=losses,
        p_sign=sign_test(wins, losses), p_wilcoxon=wilcoxon_test(d),
    )
