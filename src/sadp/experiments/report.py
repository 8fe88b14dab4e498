"""Summarise a directory of ``sadp train`` runs (a sweep's, or any) into tables and plots.

Every directory below the root that holds a ``summary.json`` is one run; its ``metrics.jsonl``
gives the per-epoch rows and its ``cell.json`` (written by ``sadp sweep``) the method's label.
Runs are grouped by (label, pruning ratio). The full-data method (``method == "full"``, ratio 0)
is the reference for the cost of pruning, time-to-accuracy and speedups; ``random_dynamic`` at
the same ratio is the reference for whether a method selects better than chance.

Definitions (also written into the report):
- comparisons are paired by seed (a seed fixes the training subset and the initialisation): per
  seed, method minus reference; mean, t-based 95% CI, wins/ties/losses, exact sign test and
  Wilcoxon signed-rank p-values (:mod:`sadp.experiments.stats`); a difference is evidence when
  its 95% CI excludes 0;
- training time = sum of epoch times, evaluation excluded: wall seconds (``epoch_time_s``) and,
  where logged, process CPU seconds (``epoch_cpu_s``, steadier on a shared machine);
- measured speedup = full-data training time / this run's, paired by seed; theoretical speedup =
  full-data examples / examples this run actually trained on; efficiency = measured / theoretical;
- time-to-accuracy: examples and training time until test accuracy first reaches the same seed's
  full-data final accuracy minus 1 pp (at evaluated epochs only);
- per-epoch efficiency = kept fraction / (pruned epoch time / the same run's full epochs' mean time).
"""
from __future__ import annotations

import csv
import io
import json
import math
import shlex
import statistics
from collections import Counter
from pathlib import Path
from typing import Any, Callable

from sadp.experiments.runs import (  # Run and load_runs are re-exported: the report is their public entry
    BASELINE_LABEL, FIT_THRESHOLD, FULL_METHOD, PLATEAU_GAIN, PLATEAU_WINDOW, SAME_SEEN_TOLERANCE, SPIKE_KEYS,
    TTA_MARGIN, Run, _full_by_seed, _groups, _isnan, _mean, _median, _std, is_full_row, load_runs, time_basis,
)
from sadp.experiments.stats import paired_stats, t_interval
from sadp.utils.io import atomic_write_json, atomic_write_text


def _paired_ratios(g: list[Run], full: dict[int, Run], value: Callable[[Run], float]) -> list[tuple[Run, float]]:
    """(run, value(run) / value(full-data run of the same seed)) for the runs of ``g`` that have both,
    measured on the same machine (a ratio of times from two machines measures the machines)."""
    out = []
    for r in g:
        ref = full.get(r.seed)
        if ref is not None and value(ref) > 0 and not math.isnan(value(r)) and ref.machine == r.machine:
            out.append((r, value(r) / value(ref)))
    return out


def seed_noise(runs: list[Run]) -> float:
    """Pooled within-cell standard deviation of test accuracy (NaN when no cell has 2 seeds); a cell
    is one (dataset entry, method, ratio). Descriptive only: the verdicts use paired CIs."""
    num, dof = 0.0, 0
    cells = [g for group in sorted({r.group for r in runs}) for g in _groups([r for r in runs if r.group == group]).values()]
    for g in cells:
        accs = [r.test_acc for r in g]
        if len(accs) >= 2:
            num += statistics.variance(accs) * (len(accs) - 1)
            dof += len(accs) - 1
    return math.sqrt(num / dof) if dof else math.nan


# -- accuracy and time per method x ratio ------------------------------------------------------
def summary_table(runs: list[Run]) -> list[dict[str, Any]]:
    """One row per (label, ratio): accuracy mean/std/95% CI/n, time, measured and theoretical speedups,
    and training time relative to full data (paired by seed; wall and CPU)."""
    full = _full_by_seed(runs)
    full_acc = _mean([r.test_acc for r in full.values()])
    full_time_mean = _mean([r.train_time_s for r in full.values()])
    rows = []
    for (label, ratio), g in _groups(runs).items():
        accs = [r.test_acc for r in g]
        times = [r.train_time_s for r in g]
        # Pair with the full run of the same seed where there is one, else the full mean; NaN when the
        # full-data run's times come from another machine.
        ref = [(full[r.seed].train_time_s if full[r.seed].machine == r.machine else math.nan) if r.seed in full
               else full_time_mean for r in g]
        speedups = [f / t for f, t in zip(ref, times) if t > 0]
        theory = [r.theoretical_speedup for r in g]
        measured = _mean(speedups)
        acc_low, acc_high = t_interval(accs)
        wall_frac = [t for _, t in _paired_ratios(g, full, lambda r: r.train_time_s)]
        cpu_frac = [t for _, t in _paired_ratios(g, full, lambda r: r.cpu_time_s)]
        rows.append({
            "label": label, "method": g[0].method, "ratio": ratio, "n": len(g),
            "seeds": [r.seed for r in g],
            "test_acc_mean": _mean(accs), "test_acc_std": _std(accs),
            "test_acc_min": min(accs), "test_acc_max": max(accs),
            "delta_vs_full": _mean(accs) - full_acc,
            "best_test_acc_mean": _mean([float(r.summary.get("best_test_acc", r.test_acc)) for r in g]),
            "final_train_acc_mean": _mean([float(r.summary.get("final_train_acc", math.nan)) for r in g]),
            "train_time_s_mean": _mean(times), "train_time_s_std": _std(times),
            "wall_time_s_mean": _mean([float(r.summary.get("wall_time_s", math.nan)) for r in g]),
            "examples_seen_mean": _mean([float(r.summary.get("examples_seen", math.nan)) for r in g]),
            "examples_seen_fraction": _mean([r.examples_fraction for r in g]),
            "time_saved": _mean([1 - t / f for f, t in zip(ref, times)]) if full else math.nan,
            "speedup_measured": measured if full else math.nan,
            "speedup_theoretical": _mean(theory),
            "efficiency": measured / _mean(theory) if full else math.nan,
            "test_acc_ci_low": acc_low, "test_acc_ci_high": acc_high,
            "train_cpu_s_mean": _mean([r.cpu_time_s for r in g]),
            "time_fraction_wall": _mean(wall_frac), "time_fraction_wall_ci": list(t_interval(wall_frac)),
            "time_fraction_cpu": _mean(cpu_frac), "time_fraction_cpu_ci": list(t_interval(cpu_frac)),
            "speedup_measured_cpu": _mean([1 / t for t in cpu_frac]),
            "efficiency_cpu": _mean([1 / t for t in cpu_frac]) / _mean(theory),
            "reference_full": g[0].is_reference_full, "matched_to": g[0].matched_to,
            "epochs": g[0].summary.get("epochs"),
        })
    return rows


# -- paired comparisons -------------------------------------------------------------------------
SAME_RATIO = "same ratio"
COST_OF_PRUNING = "cost of pruning"
TRAINING_LESS = "pruning vs training less"
EQUAL_SEEN = "equal examples seen"


def _paired_row(comparison: str, label: str, ratio: float | None, baseline: str,
                pairs: list[tuple[Any, float]], unpaired: list[Any] | None = None) -> dict[str, Any]:
    """Statistics of per-seed differences ``pairs`` = [(seed, method minus baseline)]."""
    s = paired_stats([d for _, d in pairs])
    return {"comparison": comparison, "label": label, "ratio": ratio, "baseline": baseline, "n": s.n,
            "diff_mean": s.mean, "diff_std": s.std, "ci_low": s.ci_low, "ci_high": s.ci_high,
            "wins": s.wins, "ties": s.ties, "losses": s.losses, "p_sign": s.p_sign, "p_wilcoxon": s.p_wilcoxon,
            "evidence": s.evidence, "verdict": s.verdict, "seeds": [seed for seed, _ in pairs],
            "diffs": [d for _, d in pairs], "unpaired_seeds": list(unpaired or [])}


def _pair_against(runs: list[Run], reference: Callable[[str, float], dict[int, float] | None],
                  comparison: str, baseline: str, skip: Callable[[str, Run], bool]) -> list[dict[str, Any]]:
    rows = []
    for (label, ratio), g in _groups(runs).items():
        if skip(label, g[0]):
            continue
        ref = reference(label, ratio)
        if not ref:
            continue
        pairs = [(r.seed, r.test_acc - ref[r.seed]) for r in g if r.seed in ref]
        if pairs:
            rows.append(_paired_row(comparison, label, ratio, baseline, pairs, [r.seed for r in g if r.seed not in ref]))
    return rows


def paired_comparison(runs: list[Run], baseline: str = BASELINE_LABEL) -> list[dict[str, Any]]:
    """Each label against ``baseline`` at the same ratio, paired by seed (same subset and init)."""
    groups = _groups(runs)

    def reference(label: str, ratio: float) -> dict[int, float] | None:
        base = groups.get((baseline, ratio))
        return {r.seed: r.test_acc for r in base} if base else None

    return _pair_against(runs, reference, SAME_RATIO, baseline,
                         lambda label, r: label == baseline or r.method == FULL_METHOD)


def vs_short_schedule(runs: list[Run]) -> list[dict[str, Any]]:
    """Each pruning (label, ratio) against full data on the short schedule matched to that ratio
    (as many examples seen as ``matched_to`` trains on there), paired by seed: does pruning beat
    simply training less?"""
    short: dict[float, tuple[str, dict[int, float]]] = {}
    for (label, ratio), g in _groups(runs).items():
        if g[0].matched_to and ratio not in short:
            short[ratio] = (label, {r.seed: r.test_acc for r in g})
    rows = []
    for ratio, (short_label, _) in short.items():
        rows += _pair_against([r for r in runs if r.ratio == ratio], lambda label, rr: short[ratio][1], TRAINING_LESS,
                              f"{short_label} r={ratio:g}", lambda label, r: r.method == FULL_METHOD)
    return rows


ANN_BOUND_LABEL = "grad_bound"
SPIKE_AWARENESS = "spike-awareness"


def spike_awareness(runs: list[Run], method: str = "sadp", ann_bound: str = ANN_BOUND_LABEL) -> list[dict[str, Any]]:
    """``method`` (SADP) against the ANN bound at the same ratio, paired by seed: the two scores differ
    only by SADP's spike factor, so this is the test of whether spike-awareness pays."""
    rows = paired_comparison([r for r in runs if r.label in (method, ann_bound)], baseline=ann_bound)
    return [{**row, "comparison": SPIKE_AWARENESS} for row in rows]


def cost_of_pruning(runs: list[Run]) -> list[dict[str, Any]]:
    """Each pruning (label, ratio) against full data, paired by seed: what pruning costs in accuracy."""
    full = {seed: r.test_acc for seed, r in _full_by_seed(runs).items()}
    return _pair_against(runs, lambda label, ratio: full, COST_OF_PRUNING, "full data",
                         lambda label, r: r.is_reference_full)


def _interpolate(points: list[tuple[float, float]], x: float) -> float | None:
    """Piecewise-linear y(x) through ``points`` (x sorted, distinct); None outside their range."""
    points = sorted(points)
    for (x0, y0), (x1, y1) in zip(points, points[1:]):
        if x0 <= x <= x1:
            return y0 if x1 == x0 else y0 + (y1 - y0) * (x - x0) / (x1 - x0)
    return None


def own_examples_groups(runs: list[Run], baseline: str = BASELINE_LABEL) -> list[tuple[str, float, list[Run]]]:
    """The (label, ratio, runs) whose mean examples seen differ from ``baseline``'s at the same ratio
    (or that have no baseline at their ratio): the methods to compare at equal examples seen."""
    base_seen: dict[float, list[float]] = {}
    for r in runs:
        if r.label == baseline:
            base_seen.setdefault(r.ratio, []).append(r.examples_fraction)
    out = []
    for (label, ratio), g in _groups(runs).items():
        if label == baseline or g[0].method == FULL_METHOD:
            continue
        seen, ref_seen = _mean([r.examples_fraction for r in g]), _mean(base_seen.get(ratio, []))
        if math.isnan(ref_seen) or abs(seen / ref_seen - 1) > SAME_SEEN_TOLERANCE:
            out.append((label, ratio, g))
    return out


def equal_seen_comparison(runs: list[Run], baseline: str = BASELINE_LABEL) -> list[dict[str, Any]]:
    """Methods that train on a different number of examples than ``baseline`` at their ratio
    (InfoBatch and the like, or variants with another schedule) against ``baseline`` at the same
    number of examples seen: per seed, the baseline's accuracy is interpolated linearly in examples
    seen between its ratios and full data (same seed), at the method's own examples seen. Seeds
    outside the baseline's range are listed in ``unpaired_seeds``."""
    curves: dict[int, list[tuple[float, float]]] = {}
    for r in runs:
        if r.label == baseline or r.is_reference_full:
            curves.setdefault(r.seed, []).append((r.examples_fraction, r.test_acc))
    rows = []
    for label, ratio, g in own_examples_groups(runs, baseline):
        seen = _mean([r.examples_fraction for r in g])
        pairs, unpaired = [], []
        for r in g:
            ref = _interpolate(curves.get(r.seed, []), r.examples_fraction)
            if ref is None:
                unpaired.append(r.seed)
            else:
                pairs.append((r.seed, r.test_acc - ref))
        if pairs:
            rows.append({**_paired_row(EQUAL_SEEN, label, ratio, baseline, pairs, unpaired),
                         "examples_seen_fraction": seen})
    return rows


# -- time-to-accuracy ---------------------------------------------------------------------------
def time_to_accuracy(runs: list[Run], margin: float = TTA_MARGIN) -> list[dict[str, Any]]:
    """Per run: the first evaluated epoch whose test accuracy reaches the same seed's full-data final
    accuracy minus ``margin``, with the examples and training time (wall, CPU) spent until then,
    absolute and as a share of that full-data run's whole training. ``reached`` False: never."""
    full = _full_by_seed(runs)
    rows = []
    for (label, ratio), g in _groups(runs).items():
        for r in g:
            row: dict[str, Any] = {
                "label": label, "method": r.method, "ratio": ratio, "seed": r.seed, "reference_full": r.is_reference_full,
                "target": math.nan,
                "reached": False, "epoch": None, "examples": math.nan, "examples_fraction": math.nan,
                "wall_s": math.nan, "cpu_s": math.nan, "wall_fraction": math.nan, "cpu_fraction": math.nan, "note": "",
            }
            ref = full.get(r.seed)
            if ref is None:
                rows.append({**row, "note": "no full-data run with this seed"})
                continue
            target = round(ref.test_acc - margin, 9)  # accuracies are multiples of 1/num_test
            row["target"] = target
            curve = r.curve()
            hit = next((p for p in curve if p.test_acc >= target - 1e-9), None)
            if hit is None:
                rows.append({**row, "note": "never" if curve else "no test evaluations logged"})
                continue
            full_examples = float(ref.summary.get("examples_seen") or math.nan)
            same_machine = ref.machine == r.machine  # a time share across machines would measure the machines
            row.update(reached=True, epoch=hit.epoch, examples=hit.examples, examples_fraction=hit.examples / full_examples,
                       wall_s=hit.wall_s, cpu_s=hit.cpu_s,
                       wall_fraction=hit.wall_s / ref.train_time_s if same_machine else math.nan,
                       cpu_fraction=hit.cpu_s / ref.cpu_time_s if same_machine and ref.cpu_time_s > 0 else math.nan,
                       note="" if same_machine else "time shares left out: full-data run on another machine")
            rows.append(row)
    return rows


def tta_table(tta: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per (label, ratio): how many seeds reached the target, and median / mean over those seeds of
    the epoch, examples (share of a full-data run's), wall and CPU seconds until they did."""
    groups: dict[tuple[str, float], list[dict[str, Any]]] = {}
    for t in tta:
        groups.setdefault((t["label"], t["ratio"]), []).append(t)
    rows = []
    for (label, ratio), g in groups.items():
        with_target = [t for t in g if not math.isnan(t["target"])]
        hit = [t for t in with_target if t["reached"]]
        row = {"label": label, "method": g[0]["method"], "ratio": ratio, "reference_full": g[0].get("reference_full"),
               "n": len(with_target), "reached": len(hit),
               "no_full_run": len(g) - len(with_target)}
        for key in ("epoch", "examples_fraction", "wall_s", "cpu_s", "wall_fraction", "cpu_fraction"):
            vals = [float(t[key]) for t in hit]
            row[f"{key}_median"], row[f"{key}_mean"] = _median(vals), _mean(vals)
        rows.append(row)
    return rows


def least_cost_sentence(tta_rows: list[dict[str, Any]], basis: str) -> str:
    """Which (method, ratio) reaches full data's final accuracy minus 1 pp in every seed with the fewest
    examples and with the least training time (median over seeds)."""
    complete = [t for t in tta_rows if t["n"] >= 1 and t["reached"] == t["n"]]
    if not complete:
        return "No method reached the target (full data's final accuracy - 1 pp) in every seed."
    name = lambda t: "full data" if is_full_row(t) else f"{t['label']} r={t['ratio']:g}"  # noqa: E731
    full = [t for t in complete if is_full_row(t)]
    by_seen = min(complete, key=lambda t: t["examples_fraction_median"])
    time_key = f"{basis}_fraction_median"
    timed = [t for t in complete if not math.isnan(t[time_key])]
    text = (f"Reaching full data's final accuracy - 1 pp in every seed, the fewest examples: **{name(by_seen)}** "
            f"(median {_pct(by_seen['examples_fraction_median'], 0)}% of a full-data run's examples")
    text += f"; full data itself {_pct(full[0]['examples_fraction_median'], 0)}%)" if full else ")"
    if timed:
        by_time = min(timed, key=lambda t: t[time_key])
        text += (f"; the least training time ({basis}): **{name(by_time)}** (median {_pct(by_time[time_key], 0)}% of "
                 "the full-data run's")
        text += f"; full data itself {_pct(full[0][time_key], 0)}%)." if full and not math.isnan(full[0][time_key]) else ")."
    short = [t for t in tta_rows if t["reached"] < t["n"]]
    if short:
        text += " Not in every seed: " + "; ".join(f"{name(t)} ({t['reached']}/{t['n']})" for t in short) + "."
    return text


# -- speedup against theory ---------------------------------------------------------------------
def epoch_speedup(run: Run, full_by_seed: dict[int, Run]) -> dict[str, Any] | None:
    """Pruned epochs' time against the same run's full epochs (``selected == num_train``; the
    full-data run of the same seed when the run has none): mean kept fraction k, step fraction s
    (optimizer steps over a full epoch's), time ratio tau (wall and CPU) and efficiency k / tau.
    None when the run has no pruned epoch or lacks the per-epoch rows."""
    n = run.num_train
    rows = run.metrics
    if not n or not rows or any("selected" not in m or "epoch_time_s" not in m for m in rows):
        return None
    pruned = [m for m in rows if m["selected"] < n]
    full_rows = [m for m in rows if m["selected"] >= n]
    reference = "own full epochs"
    if not pruned:
        return None
    if not full_rows:
        ref = full_by_seed.get(run.seed)
        full_rows = [m for m in ref.metrics if "epoch_time_s" in m] if ref else []
        reference = "full-data run, same seed"
        if not full_rows:
            return None

    def ratio(key: str) -> float:
        if any(key not in m for m in pruned + full_rows):
            return math.nan
        return _mean([float(m[key]) for m in pruned]) / _mean([float(m[key]) for m in full_rows])

    kept = _mean([m["selected"] / n for m in pruned])
    tau_wall, tau_cpu = ratio("epoch_time_s"), ratio("epoch_cpu_s")
    # the first epoch may carry one-off start-up costs; it is one of the reference epochs, so say how much
    first, later = full_rows[0], full_rows[1:]

    def first_ratio(key: str) -> float:
        if not later or first.get("epoch") != 1 or any(key not in m for m in full_rows):
            return math.nan
        return float(first[key]) / _mean([float(m[key]) for m in later])

    return {"kept_fraction": kept, "step_fraction": ratio("steps"), "time_ratio_wall": tau_wall,
            "time_ratio_cpu": tau_cpu, "efficiency_wall": kept / tau_wall, "efficiency_cpu": kept / tau_cpu,
            "reference": reference, "full_epochs": len(full_rows), "pruned_epochs": len(pruned),
            "first_epoch_ratio_wall": first_ratio("epoch_time_s"), "first_epoch_ratio_cpu": first_ratio("epoch_cpu_s")}


def speedup_table(runs: list[Run]) -> list[dict[str, Any]]:
    """Per pruning (label, ratio), mean over seeds (95% CI) of the per-epoch time ratio and efficiency
    (wall and CPU, see :func:`epoch_speedup`), the fixed share a linear time-per-step model implies,
    (tau - s) / (1 - s), and whole-run training time over the same seed's full-data run's."""
    full = _full_by_seed(runs)
    rows = []
    for (label, ratio), g in _groups(runs).items():
        if g[0].method == FULL_METHOD:
            continue
        per = [e for e in (epoch_speedup(r, full) for r in g) if e is not None]
        row: dict[str, Any] = {"label": label, "method": g[0].method, "ratio": ratio, "n_epoch": len(per),
                               "reference": ", ".join(sorted({e["reference"] for e in per})),
                               "kept_fraction": _mean(e["kept_fraction"] for e in per),
                               "step_fraction": _mean(e["step_fraction"] for e in per)}
        for clock in ("wall", "cpu"):
            for key in (f"time_ratio_{clock}", f"efficiency_{clock}"):
                vals = [e[key] for e in per if not math.isnan(e[key])]
                row[f"epoch_{key}"], (row[f"epoch_{key}_ci_low"], row[f"epoch_{key}_ci_high"]) = _mean(vals), t_interval(vals)
            tau, s = row[f"epoch_time_ratio_{clock}"], _steps_or_kept(row)
            row[f"fixed_share_{clock}"] = (tau - s) / (1 - s) if s < 1 else math.nan
            paired = _paired_ratios(g, full, (lambda r: r.train_time_s) if clock == "wall" else (lambda r: r.cpu_time_s))
            ratios_ = [t for _, t in paired]
            row[f"run_time_ratio_{clock}"] = _mean(ratios_)
            row[f"run_time_ratio_{clock}_ci_low"], row[f"run_time_ratio_{clock}_ci_high"] = t_interval(ratios_)
            row[f"run_efficiency_{clock}"] = _mean([r.examples_fraction / t for r, t in paired])
            row[f"n_run_{clock}"] = len(paired)
        for clock in ("wall", "cpu"):
            row[f"first_epoch_ratio_{clock}"] = _mean(e[f"first_epoch_ratio_{clock}"] for e in per)
        row["run_examples_fraction"] = _mean(r.examples_fraction for r in g)
        rows.append(row)
    return rows


def _steps_or_kept(row: dict[str, Any]) -> float:
    """The step fraction, or the kept fraction for runs that did not log their steps."""
    return row["kept_fraction"] if math.isnan(row["step_fraction"]) else row["step_fraction"]


def speedup_sentences(rows: list[dict[str, Any]]) -> list[str]:
    """What the efficiency numbers say, from the numbers: batch rounding vs a fixed per-epoch part."""
    clock = "cpu" if any(not math.isnan(r["epoch_time_ratio_cpu"]) for r in rows) else "wall"
    rows = [r for r in rows if not math.isnan(r[f"epoch_time_ratio_{clock}"])]
    if not rows:
        return []
    rounding = max((r["step_fraction"] - r["kept_fraction"] for r in rows if not math.isnan(r["step_fraction"])),
                   default=math.nan)
    out = ["Efficiency 1 means a pruned epoch's time shrinks in proportion to the examples it keeps. " + (
        "The runs did not log their optimizer steps, so batch rounding is not separated out (s = k assumed)."
        if math.isnan(rounding) else
        f"Batch rounding (an epoch runs ceil(K / batch) steps) puts the step fraction s at most {100 * rounding:.1f} pp "
        "above the kept fraction k here, so it explains at most that much of a time ratio above k.")]
    within, fixed, faster = [], [], []
    for r in rows:
        low, high = r[f"epoch_time_ratio_{clock}_ci_low"], r[f"epoch_time_ratio_{clock}_ci_high"]
        name = f"{r['label']} r={r['ratio']:g}"
        s = _steps_or_kept(r)
        tau = r[f"epoch_time_ratio_{clock}"]
        if (not math.isnan(low) and low <= s <= high) or abs(tau - s) < 1e-9:
            within.append(name)
        elif tau > s:
            fixed.append(f"{name} ({_pct(r[f'fixed_share_{clock}'], 0)}%)")
        else:
            faster.append(name)
    if within:
        out.append(f"The {clock} time ratio matches the step fraction (its 95% CI contains s: time proportional to "
                   f"steps, no fixed per-epoch part measurable) for: {', '.join(within)}.")
    if fixed:
        out.append(f"Time ratio above the step fraction (CI excludes s, or n < 2): if an epoch took a fixed part "
                   f"plus a part proportional to its steps, the fixed part would be this share of a full epoch ({clock} "
                   f"time): {', '.join(fixed)}; per-epoch work that does not shrink with the kept examples (drawing "
                   "the selection, starting the data loader) would show up here.")
    if faster:
        out.append(f"Pruned epochs ran faster per step than the same runs' full epochs ({clock} time) for: "
                   f"{', '.join(faster)}.")
    first = _mean(r[f"first_epoch_ratio_{clock}"] for r in rows)
    if not math.isnan(first):
        out.append(f"The first epoch took {first:.2f}x the {clock} time of the later full epochs on average; it is one of "
                   "the reference epochs, so above 1 it lowers tau and raises the efficiency.")
    if clock == "cpu" and any(not math.isnan(r["epoch_time_ratio_wall"]) for r in rows):
        out.append("Wall-time ratios are shown beside the CPU ones; where they differ, other load on the machine "
                   "changed between the pruned and the full epochs.")
    return out


# -- plateau check and spike factor -------------------------------------------------------------
def plateau_check(runs: list[Run]) -> list[dict[str, Any]]:
    """For each full-data run: does it fit its training set (training accuracy without augmentation,
    final, >= 95%) and has test accuracy plateaued (gain < 1 pp over the last 20% of epochs, from the
    last evaluation at or before the window's start to the final accuracy)?"""
    rows = []
    for r in sorted((r for r in runs if r.is_reference_full), key=lambda r: (r.group, r.seed)):
        epochs = int(r.summary.get("epochs") or len(r.metrics))
        start = epochs - round(PLATEAU_WINDOW * epochs)
        before = [p for p in r.curve() if p.epoch <= start]
        fit = r.summary.get("final_train_eval_acc")
        if fit is None:
            fit = next((m["train_eval_acc"] for m in reversed(r.metrics) if m.get("train_eval_acc") is not None), None)
        gain = r.test_acc - before[-1].test_acc if before else math.nan
        rows.append({"seed": r.seed, "epochs": epochs, "train_eval_acc": math.nan if fit is None else float(fit),
                     "fits": None if fit is None else float(fit) >= FIT_THRESHOLD,
                     "window_start_epoch": before[-1].epoch if before else None,
                     "test_acc_at_start": before[-1].test_acc if before else math.nan, "test_acc": r.test_acc,
                     "gain": gain, "plateaued": None if math.isnan(gain) else gain < PLATEAU_GAIN})
    return rows


def spike_factor_table(runs: list[Run]) -> list[dict[str, Any]]:
    """Per (label, ratio) of runs that log SADP's spike factor mean_t sqrt(n_t + 1): its mean, its
    coefficient of variation across examples and the share of examples whose head input was silent,
    averaged over pruned epochs (all / first half / second half) and then over seeds."""
    rows = []
    for (label, ratio), g in _groups(runs).items():
        per_run = []
        for r in g:
            pruned = [m for m in r.metrics if m.get("spike_factor_cv") is not None and m.get("selected", 0) < r.num_train]
            if pruned:
                half = (len(pruned) + 1) // 2
                per_run.append({f"{k}{suffix}": _mean(float(m.get(k, math.nan)) for m in part)
                                for suffix, part in (("", pruned), ("_early", pruned[:half]), ("_late", pruned[half:] or pruned[-1:]))
                                for k in SPIKE_KEYS})
                per_run[-1]["cv_min"] = min(float(m["spike_factor_cv"]) for m in pruned)
                per_run[-1]["cv_max"] = max(float(m["spike_factor_cv"]) for m in pruned)
        if per_run:
            row = {"label": label, "ratio": ratio, "n": len(per_run)}
            for key in per_run[0]:
                agg = min if key == "cv_min" else max if key == "cv_max" else _mean
                row[key] = agg([p[key] for p in per_run])
            rows.append(row)
    return rows


def spike_factor_per_epoch(runs: list[Run]) -> list[dict[str, Any]]:
    """Per epoch and (label, ratio) of runs that log the spike factor: its CV across examples and the
    share of silent head inputs, mean over seeds, and whether the epoch was pruned in every seed."""
    rows = []
    for (label, ratio), g in _groups(runs).items():
        logged = [r for r in g if any(m.get("spike_factor_cv") is not None for m in r.metrics)]
        if not logged:
            continue
        for e in range(max(len(r.metrics) for r in logged)):
            at = [(r.metrics[e], r) for r in logged if e < len(r.metrics) and r.metrics[e].get("spike_factor_cv") is not None]
            if at:
                rows.append({"label": label, "ratio": ratio, "epoch": e + 1, "n": len(at),
                             "spike_factor_cv": _mean(float(m["spike_factor_cv"]) for m, _ in at),
                             "head_silent_share": _mean(float(m.get("head_silent_share", math.nan)) for m, _ in at),
                             "pruned": all(m.get("selected", 0) < r.num_train for m, r in at)})
    return rows


def spike_factor_sentence(rows: list[dict[str, Any]]) -> str:
    low, high = min(r["cv_min"] for r in rows), max(r["cv_max"] for r in rows)
    return ("SADP's score is grad_bound's output error ||softmax(z) - y|| times this spike factor, so SADP's scores "
            "(and, before any clipping or mixing, its sampling probabilities) are grad_bound's rescaled by a factor "
            "whose relative spread across examples is its coefficient of variation (CV). Where the CV is small, SADP's "
            "score cannot differ much from the ANN bound's (grad_bound) and the two methods select nearly alike. "
            f"Here the per-epoch CV ranged from {low:.3f} to {high:.3f} over the pruned epochs of every run.")


def diagnostics_table(runs: list[Run]) -> list[dict[str, Any]]:
    """Per (label, ratio), means over seeds of the per-epoch selection diagnostics the trainer logs:
    predicted HT variance ratio against uniform (mean over pruned epochs), largest loss weight and
    99th-percentile weight over the run, share of examples never drawn in a pruned epoch, and the
    final training-sample accuracy and train/test gap. Empty when no run logged them."""
    rows = []
    for (label, ratio), g in _groups(runs).items():
        def per_run(fn: Any) -> float:
            vals = [v for v in (fn(r) for r in g) if v is not None and not math.isnan(v)]
            return _mean(vals)

        def pruned(r: Run, key: str) -> list[float]:
            return [float(m[key]) for m in r.metrics if key in m and m.get("selected", 0) < r.summary.get("num_train", 0)]

        row = {
            "label": label, "method": g[0].method, "ratio": ratio, "n": len(g),
            "var_ratio_pred": per_run(lambda r: _mean(pruned(r, "var_ratio_pred")) if pruned(r, "var_ratio_pred") else None),
            "weight_max": per_run(lambda r: max(pruned(r, "weight_max"), default=None)),
            "weight_q99": per_run(lambda r: max(pruned(r, "weight_q99"), default=None)),
            "never_drawn_pruned": per_run(lambda r: r.summary.get("never_drawn_pruned")),
            "train_eval_acc": per_run(lambda r: r.summary.get("final_train_eval_acc")),
            "generalization_gap": per_run(lambda r: r.summary.get("final_generalization_gap")),
        }
        rows.append(row)
    if all(math.isnan(r["train_eval_acc"]) and math.isnan(r["weight_max"]) for r in rows):
        return []
    return rows


# -- formatting ---------------------------------------------------------------------------------
def _pct(x: float | None, digits: int = 1) -> str:
    return "—" if _isnan(x) else f"{100 * x:.{digits}f}"


def _num(x: float | None, fmt: str = ".2f") -> str:
    return "—" if _isnan(x) else format(x, fmt)


def _times(x: float) -> str:
    return "—" if math.isnan(x) else f"{x:.2f}x"


def _pval(p: float) -> str:
    return "—" if _isnan(p) else f"{p:.3f}" if p >= 0.001 else f"{p:.1e}"


def _ci_pp(row: dict[str, Any]) -> str:
    if math.isnan(row["ci_low"]):
        return "undefined (n < 2)"
    return f"[{100 * row['ci_low']:+.2f}, {100 * row['ci_high']:+.2f}]"


def _acc_cell(mean: float, std: float, n: int) -> str:
    return f"{_pct(mean)} ± {_pct(std)} (n={n})" if n >= 2 else f"{_pct(mean)} (n=1, no spread)"


def _md_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])


def _ratio_str(row: dict[str, Any]) -> str:
    return "0 (full data)" if is_full_row(row) else f"{row['ratio']:g}"


def _describe(runs: list[Run]) -> str:
    cfg = runs[0].summary.get("config", {})
    keys = ("dataset", "subset", "model", "model_options", "T", "epochs", "batch_size", "optimizer", "lr",
            "momentum", "weight_decay", "augment", "eval_every")
    parts = [f"{k}={cfg[k]}" for k in keys if cfg.get(k) not in (None, {}, [])]
    n_train, n_test = runs[0].summary.get("num_train"), runs[0].summary.get("num_test")
    if n_train:
        parts.append(f"{n_train} train / {n_test} test examples")
    parts.append(f"device {runs[0].summary.get('device', '?')}")
    return ", ".join(parts)


def machines_line(runs: list[Run]) -> str:
    """Where the times were measured: one machine, or a warning that the runs come from several (time
    comparisons then pair only runs of one machine). Runs older than the ``machine`` record count as unrecorded."""
    def name(m: dict[str, Any] | None) -> str:
        if not m:
            return "machine not recorded"
        return f"{m.get('cpu', '?')}, {m.get('logical_cores', '?')} cores, {m.get('torch_threads', '?')} torch thread(s)"

    counts = Counter(name(r.summary.get("machine")) for r in runs)
    if len(counts) == 1:
        return f"Times: all {len(runs)} runs on one machine ({next(iter(counts))})."
    listed = "; ".join(f"{n} run(s): {machine}" for machine, n in counts.most_common())
    return (f"**Times come from {len(counts)} machines** ({listed}): a run's time is compared with the full-data "
            "run of its seed only when both ran on one machine (other time shares, speedups and time-to-accuracy "
            "fractions are left out: '—'); accuracies and examples seen pair across machines, but a run repeated on "
            "another CPU does not follow the same trajectory, so cross-machine pairs carry that extra noise.")


STATS_NOTE = ("Paired by seed (a seed fixes the training subset and the initialisation): per seed, method minus "
              "reference. 95% CI = mean ± t_{0.975, n-1} s / sqrt(n) of the paired differences; a difference is "
              "**evidence** only when its 95% CI excludes 0. p sign: exact two-sided sign test on wins against losses "
              "(ties left out); p Wilcoxon: two-sided signed-rank test (zeros left out). With 5 seeds neither test can "
              "go below p = 0.0625 (2 / 2^5), so the CI is the verdict; with one seed there is no CI.")


def paired_markdown(rows: list[dict[str, Any]], extra: tuple[str, str] | None = None,
                    dataset: bool = False) -> str:
    """Markdown table of paired rows (``extra``: one more column, header and key)."""
    header = (["dataset"] if dataset else []) + ["method", "ratio"] + ([extra[0]] if extra else []) + [
        "n", "mean diff (pp)", "95% CI (pp)", "w/t/l", "p sign", "p Wilcoxon", "per seed (pp)", "verdict"]
    body = []
    for p in rows:
        cells = ([p["dataset"]] if dataset else []) + [p["label"], f"{p['ratio']:g}"]
        if extra:
            cells.append(f"{_pct(p[extra[1]], 0)}%")
        per_seed = ", ".join(f"s{s}: {100 * d:+.1f}" for s, d in zip(p["seeds"], p["diffs"]))
        if p["unpaired_seeds"]:
            per_seed += f" (unpaired: {', '.join(map(str, p['unpaired_seeds']))})"
        cells += [str(p["n"]), f"{100 * p['diff_mean']:+.2f}", _ci_pp(p), f"{p['wins']}/{p['ties']}/{p['losses']}",
                  _pval(p["p_sign"]), _pval(p["p_wilcoxon"]), per_seed, p["verdict"]]
        body.append(cells)
    return _md_table(header, body)


def verdict_summary(paired: list[dict[str, Any]], method: str = "sadp", what: str | None = None) -> list[str]:
    """One sentence for ``method`` against its reference: where the 95% CI says better, worse, or
    includes 0 (no evidence either way), with the differences and CIs, so the report states its
    answer in words."""
    rows = [p for p in paired if p["label"] == method]
    if not rows:
        return []

    def where(test: Callable[[dict[str, Any]], bool]) -> str:
        hits = [p for p in rows if test(p)]
        return "; ".join(
            f"{p['dataset'] + ' ' if p.get('dataset') else ''}r={p['ratio']:g} ({100 * p['diff_mean']:+.2f} pp, "
            f"CI {_ci_pp(p)}, {p['wins']}/{p['ties']}/{p['losses']})" for p in hits) or "nowhere"

    what = what or f"against {rows[0]['baseline']} at the same ratio"
    text = (f"**{method} {what}:** better (95% CI above 0): {where(lambda p: p['evidence'] and p['diff_mean'] > 0)}. "
            f"Worse (CI below 0): {where(lambda p: p['evidence'] and p['diff_mean'] < 0)}. "
            f"No evidence either way (CI includes 0): {where(lambda p: p['n'] >= 2 and not p['evidence'])}.")
    single = [p for p in rows if p["n"] < 2]
    if single:
        text += f" CI undefined (one seed): {where(lambda p: p['n'] < 2)}."
    return ["", text]


def _plateau_lines(rows: list[dict[str, Any]]) -> list[str]:
    if not rows:
        return ["No full-data run: no plateau check."]
    fit = [r for r in rows if r["fits"] is not None]
    flat = [r for r in rows if r["plateaued"] is not None]
    text = (f"Regime check on the full-data runs: training accuracy without augmentation at the end >= "
            f"{100 * FIT_THRESHOLD:.0f}% in {sum(r['fits'] for r in fit)} of {len(fit)} measured runs"
            + (f" ({len(rows) - len(fit)} did not measure it: `train_eval_size`)" if len(fit) < len(rows) else "")
            + f"; test accuracy gained < {100 * PLATEAU_GAIN:.0f} pp over the last {100 * PLATEAU_WINDOW:.0f}% of epochs "
            f"in {sum(r['plateaued'] for r in flat)} of {len(flat)}. Gain = final test accuracy minus the one at the "
            "last evaluation at or before the window's start.")
    yes = lambda b: "—" if b is None else ("yes" if b else "**no**")  # noqa: E731
    table = _md_table(["seed", "epochs", "train acc, no aug. %", "fits (>= 95%)", "test acc % at epoch", "final test acc %",
                       "gain (pp)", "plateaued (< 1 pp)"],
                      [[str(r["seed"]), str(r["epochs"]), _pct(r["train_eval_acc"]), yes(r["fits"]),
                        f"{_pct(r['test_acc_at_start'])} (epoch {r['window_start_epoch']})" if r["window_start_epoch"] else "—",
                        _pct(r["test_acc"]), "—" if math.isnan(r["gain"]) else f"{100 * r['gain']:+.2f}", yes(r["plateaued"])]
                       for r in rows])
    return [text, "", table]


def _tta_lines(tta: list[dict[str, Any]], tta_rows: list[dict[str, Any]], basis: str, eval_every: int | None) -> list[str]:
    has_cpu = any(not math.isnan(t["cpu_s_median"]) for t in tta_rows)
    header = ["method", "ratio", "reached", "epoch (median)", "examples, % of full run (median / mean)",
              "wall s (median / mean)"] + (["CPU s (median / mean)"] if has_cpu else []) + [
              f"{basis} time, % of full run (median)"]
    body = []
    for t in tta_rows:
        cells = [t["label"], _ratio_str(t), f"{t['reached']}/{t['n']}" + (f" ({t['no_full_run']} without a full-data run)" if t["no_full_run"] else ""),
                 _num(t["epoch_median"], ".0f"),
                 f"{_pct(t['examples_fraction_median'], 0)} / {_pct(t['examples_fraction_mean'], 0)}",
                 f"{_num(t['wall_s_median'], '.0f')} / {_num(t['wall_s_mean'], '.0f')}"]
        if has_cpu:
            cells.append(f"{_num(t['cpu_s_median'], '.0f')} / {_num(t['cpu_s_mean'], '.0f')}")
        cells.append(_pct(t[f"{basis}_fraction_median"], 0))
        body.append(cells)
    granularity = (f" Test accuracy is measured every {eval_every} epochs, so the crossing is found at the first "
                   f"evaluation at or after it (up to {eval_every - 1} epochs late)." if eval_every and eval_every > 1 else "")
    never = [t for t in tta if not t["reached"] and t["note"]]
    lines = [f"Per run: the examples and training time (evaluation excluded) until test accuracy first reaches the same "
             f"seed's full-data final accuracy minus {100 * TTA_MARGIN:.0f} pp. Median and mean over the seeds that reached it; "
             f"'reached' counts them. Shares are of the same seed's full-data run's whole training.{granularity}", "",
             _md_table(header, body), "", least_cost_sentence(tta_rows, basis)]
    if never:
        lines += ["", "Runs that did not reach it: " + "; ".join(
            f"{t['label']} r={t['ratio']:g} seed {t['seed']} ({t['note']})" for t in never) + "."]
    return lines


def _speedup_lines(rows: list[dict[str, Any]]) -> list[str]:
    has_cpu = any(not math.isnan(r["epoch_time_ratio_cpu"]) for r in rows)
    clocks = ["wall", "cpu"] if has_cpu else ["wall"]

    def ci(r: dict[str, Any], key: str) -> str:
        low, high = r[f"{key}_ci_low"], r[f"{key}_ci_high"]
        return _num(r[key], ".3f") + ("" if math.isnan(low) else f" [{low:.3f}, {high:.3f}]")

    header = ["method", "ratio", "n", "kept k", "steps s"]
    for c in clocks:
        header += [f"epoch time ratio tau ({c})", f"efficiency k/tau ({c})", f"fixed share ({c})"]
    body = []
    for r in rows:
        cells = [r["label"], f"{r['ratio']:g}", str(r["n_epoch"]), _num(r["kept_fraction"], ".3f"), _num(r["step_fraction"], ".3f")]
        for c in clocks:
            cells += [ci(r, f"epoch_time_ratio_{c}"), ci(r, f"epoch_efficiency_{c}"), f"{_pct(r[f'fixed_share_{c}'], 0)}%"]
        body.append(cells)
    run_header = ["method", "ratio", "examples seen"]
    for c in clocks:
        run_header += [f"n ({c})", f"run time / full ({c})", f"run efficiency ({c})"]
    run_body = []
    for r in rows:
        cells = [r["label"], f"{r['ratio']:g}", f"{_pct(r['run_examples_fraction'], 1)}%"]
        for c in clocks:
            cells += [str(r[f"n_run_{c}"]), ci(r, f"run_time_ratio_{c}"), _num(r[f"run_efficiency_{c}"], ".3f")]
        run_body.append(cells)
    refs = sorted({r["reference"] for r in rows if r["reference"]})
    return [f"Per pruned epoch, against the same run's full epochs (reference: {'; '.join(refs) or '—'}): kept fraction "
            "k = selected / training examples, step fraction s = optimizer steps / a full epoch's, time ratio tau = "
            "mean pruned-epoch time / mean full-epoch time, efficiency = k / tau (1: time proportional to the kept "
            "examples). Fixed share = (tau - s) / (1 - s): the part of a full epoch's time that would not shrink "
            "with the steps if epoch time were linear in them. Mean over seeds [95% CI]. "
            + ("CPU = process CPU seconds (`epoch_cpu_s`), steadier than wall time on a shared machine." if has_cpu else
               "Wall time only: these runs did not log CPU seconds."),
            "", _md_table(header, body), "",
            "Whole runs (all epochs, evaluation excluded) against the full-data run of the same seed: run efficiency = "
            "examples seen (share of full data's) / time ratio.", "", _md_table(run_header, run_body), ""] + [
                "- " + line for line in speedup_sentences(rows)]


def render_markdown(runs: list[Run], missing: list[str], table: list[dict[str, Any]],
                    paired: list[dict[str, Any]], title: str, command: str | None, plots: list[str],
                    cost: list[dict[str, Any]] | None = None, equal: list[dict[str, Any]] | None = None,
                    tta: list[dict[str, Any]] | None = None, speed: list[dict[str, Any]] | None = None,
                    held_lines: list[str] | None = None, short: list[dict[str, Any]] | None = None,
                    aware: list[dict[str, Any]] | None = None) -> str:
    short = vs_short_schedule(runs) if short is None else short
    aware = spike_awareness(runs) if aware is None else aware
    cost = cost_of_pruning(runs) if cost is None else cost
    equal = equal_seen_comparison(runs) if equal is None else equal
    tta = time_to_accuracy(runs) if tta is None else tta
    speed = speedup_table(runs) if speed is None else speed
    tta_rows = tta_table(tta)
    basis = time_basis(runs)
    sigma = seed_noise(runs)
    seeds = sorted({r.seed for r in runs})
    eval_every = runs[0].summary.get("config", {}).get("eval_every")
    out = [f"# {title}", ""]
    out += [f"Setting: {_describe(runs)}.", "", machines_line(runs), ""]
    if command:
        out += ["Command:", "", "```", command, "```", ""]
    if missing:
        out += [f"**Incomplete: {len(missing)} cell(s) of the sweep have no result and are left out:** "
                + ", ".join(missing), ""]
    out += held_lines or []

    out += ["## Answer", "", "Verdicts from the 95% CIs of the paired differences (details under Statistics).", ""]
    sadp_first = lambda m: (m != "sadp", m)  # noqa: E731
    for rows, what in ((aware, f"against the ANN bound ({ANN_BOUND_LABEL}) at the same ratio (does spike-awareness pay?)"),
                       (paired, None), (short, "against full data on the short schedule matched to its ratio (pruning vs "
                                               "training less)"),
                       (equal, f"against {BASELINE_LABEL} at equal examples seen"),
                       (cost, "against full data (the cost of pruning)")):
        for method in sorted({p["label"] for p in rows}, key=sadp_first):
            out.append("- " + verdict_summary(rows, method, what)[1])
    if tta_rows:
        out.append("- " + least_cost_sentence(tta_rows, basis))
    out.append("")
    out += ["## Regime: did the full-data runs fit and plateau?", ""] + _plateau_lines(plateau_check(runs))

    tfmt = ".0f" if min(r["train_time_s_mean"] for r in table) >= 100 else ".1f"
    has_cpu = any(not math.isnan(r["train_cpu_s_mean"]) for r in table)
    out += ["", "## Accuracy and time", "",
            "Test accuracy (%) at the last epoch, mean ± sample std over seeds (n seeds), and its t-based 95% CI. "
            "Training time excludes evaluation" + (" (wall; CPU seconds beside it)" if has_cpu else " (wall)")
            + ". Measured speedup = full-data training time / this run's, paired by seed (the CPU one only over seeds "
            "with a full-data run); theoretical = full-data "
            "examples / examples actually trained on (examples seen, as a share of full data's); efficiency = "
            "measured / theoretical. Compare methods at equal examples seen.", ""]
    header = ["method", "ratio", "test acc %", "95% CI", "Δ vs full (pp)", "train acc %", "examples seen", "train time s"]
    header += (["train CPU s"] if has_cpu else []) + ["time saved (wall)"] + (
        ["speedup measured (wall / CPU)", "speedup theoretical", "efficiency (wall / CPU)"] if has_cpu else
        ["speedup measured", "speedup theoretical", "efficiency"])
    body = []
    for r in table:
        cells = [r["label"], _ratio_str(r), _acc_cell(r["test_acc_mean"], r["test_acc_std"], r["n"]),
                 "—" if math.isnan(r["test_acc_ci_low"]) else f"{_pct(r['test_acc_ci_low'])}–{_pct(r['test_acc_ci_high'])}",
                 "—" if is_full_row(r) else f"{100 * r['delta_vs_full']:+.1f}",
                 _pct(r["final_train_acc_mean"]), f"{_pct(r['examples_seen_fraction'], 0)}%",
                 f"{_num(r['train_time_s_mean'], tfmt)} ± {_num(r['train_time_s_std'], tfmt)}"]
        if has_cpu:
            cells.append(_num(r["train_cpu_s_mean"], tfmt))
        cells.append("—" if is_full_row(r) else f"{_pct(r['time_saved'], 0)}%")
        if has_cpu:
            cells += [f"{_times(r['speedup_measured'])} / {_times(r['speedup_measured_cpu'])}", _times(r["speedup_theoretical"]),
                      f"{_num(r['efficiency'])} / {_num(r['efficiency_cpu'])}"]
        else:
            cells += [_times(r["speedup_measured"]), _times(r["speedup_theoretical"]), _num(r["efficiency"])]
        body.append(cells)
    out.append(_md_table(header, body))
    out += ["", "## Per-seed test accuracy (%)", ""]
    per_seed = []
    for (label, ratio), g in _groups(runs).items():
        by_seed = {r.seed: r.test_acc for r in g}
        per_seed.append([label, "0 (full data)" if g[0].is_reference_full else f"{ratio:g}"]
                        + [_pct(by_seed[s]) if s in by_seed else "—" for s in seeds])
    out.append(_md_table(["method", "ratio"] + [f"seed {s}" for s in seeds], per_seed))

    out += ["", "## Statistics", "", STATS_NOTE, ""]
    out += [f"### Against {BASELINE_LABEL} at the same ratio", ""]
    if paired:
        out += [f"Test accuracy difference (pp), method minus {BASELINE_LABEL}. At the same ratio {BASELINE_LABEL} and the "
                "importance samplers see the same number of examples.", "", paired_markdown(paired)]
    else:
        out.append(f"No {BASELINE_LABEL} runs at a shared ratio: nothing to pair.")
    if aware:
        out += ["", f"### Spike-awareness: sadp against the ANN bound ({ANN_BOUND_LABEL})", "",
                f"Test accuracy difference (pp), sadp minus {ANN_BOUND_LABEL} at the same ratio and seed. The two scores "
                "differ only by SADP's spike factor mean_t sqrt(n_t + 1), and both sample exactly K with the same "
                "schedule.", "", paired_markdown(aware)]
    if short:
        out += ["", "### Pruning vs training less (full data on a matched short schedule)", "",
                "Test accuracy difference (pp), method minus full data trained on a complete shorter schedule (warm-up "
                "and cosine over E' epochs) that sees as many examples as the matched method at that ratio, same seed. "
                "Short schedules: " + "; ".join(sorted({
                    f"{r.label} r={r.ratio:g}: {r.summary.get('epochs')} of {r.reference_epochs} epochs, "
                    f"matched to {r.matched_to}" for r in runs if r.matched_to})) + ".", "", paired_markdown(short)]
    out += ["", "### Against full data (the cost of pruning)", ""]
    out += (["Test accuracy difference (pp), method minus the full-data run of the same seed.", "", paired_markdown(cost)]
            if cost else ["No full-data runs: nothing to pair."])
    compared = {(p["label"], p["ratio"]) for p in equal}
    left_out = [f"{label} r={ratio:g} ({', '.join(f'{100 * r.examples_fraction:.0f}%' for r in g)} seen)"
                for label, ratio, g in own_examples_groups(runs) if (label, ratio) not in compared]
    if equal or left_out:
        out += ["", f"### Against {BASELINE_LABEL} at equal examples seen", "",
                f"For methods that train on a different number of examples than {BASELINE_LABEL} at their ratio: per "
                f"seed, {BASELINE_LABEL}'s test accuracy interpolated linearly in examples seen between its ratios and full "
                "data (same seed), at the method's own examples seen; method minus that, in pp. Seeds outside "
                f"{BASELINE_LABEL}'s range are listed as unpaired.", "",
                paired_markdown(equal, extra=("examples seen", "examples_seen_fraction")) if equal else "No pairs."]
        if left_out:
            out += ["", f"Outside {BASELINE_LABEL}'s range of examples seen in every seed (no interpolation; compared at "
                    "the same ratio and against full data only): " + "; ".join(left_out) + "."]

    out += ["", "## Time to accuracy", ""] + _tta_lines(tta, tta_rows, basis, eval_every)
    if speed:
        out += ["", "## Speedup against theory", ""] + _speedup_lines(speed)
    spike = spike_factor_table(runs)
    if spike:
        out += ["", "## SADP's spike factor", "",
                "Per epoch, the trainer logs the spike factor mean_t sqrt(n_t + 1) of the head's input over the examples "
                "scored that epoch: its mean, its coefficient of variation across examples (CV = std / mean) and the "
                "share of examples whose head input was silent at every step (factor exactly 1). Mean over pruned "
                "epochs (all, first half, second half), then over seeds.", "",
                _md_table(["method", "ratio", "n", "factor mean", "CV", "CV early", "CV late", "CV min–max",
                           "silent %", "silent early %", "silent late %"],
                          [[s["label"], f"{s['ratio']:g}", str(s["n"]), _num(s["spike_factor_mean"], ".3f"),
                            _num(s["spike_factor_cv"], ".3f"), _num(s["spike_factor_cv_early"], ".3f"),
                            _num(s["spike_factor_cv_late"], ".3f"), f"{s['cv_min']:.3f}–{s['cv_max']:.3f}",
                            _pct(s["head_silent_share"]), _pct(s["head_silent_share_early"]), _pct(s["head_silent_share_late"])]
                           for s in spike]),
                "", spike_factor_sentence(spike)]
        per_epoch = spike_factor_per_epoch(runs)
        cols = sorted({(p["label"], p["ratio"]) for p in per_epoch}, key=lambda c: (c[1], c[0]))
        by = {(p["label"], p["ratio"], p["epoch"]): p for p in per_epoch}
        epochs = sorted({p["epoch"] for p in per_epoch})
        out += ["", "Per epoch, mean over seeds: the spike factor's CV (silent head inputs %); * marks an epoch that "
                "trained on full data (first epoch, annealing tail), whose scores still come from the training pass.", "",
                _md_table(["epoch"] + [f"{lab} r={ratio:g}" for lab, ratio in cols],
                          [[str(e)] + [f"{by[(lab, ratio, e)]['spike_factor_cv']:.3f} ({_pct(by[(lab, ratio, e)]['head_silent_share'])})"
                                       + ("" if by[(lab, ratio, e)]["pruned"] else "*") if (lab, ratio, e) in by else "—"
                                       for lab, ratio in cols] for e in epochs])]
    diag = diagnostics_table(runs)
    if diag:
        out += ["", "## Selection diagnostics", "",
                "Means over seeds. Predicted variance ratio: Horvitz-Thompson variance of the epoch gradient "
                "estimator under the method's inclusion probabilities over uniform sampling's at the same K, "
                "for independent inclusion, with each example's last score standing in for its gradient norm "
                "(mean over pruned epochs; importance samplers only). Weights: the largest and the 99th-percentile "
                "loss weight of a kept example in any pruned epoch. Never drawn: share of training examples not "
                "selected in any pruned epoch. Train acc: accuracy on a fixed sample of training examples without "
                "augmentation after the last epoch; gap = train acc - test acc.", ""]
        out.append(_md_table(
            ["method", "ratio", "predicted var ratio", "max weight", "q99 weight", "never drawn %", "train acc %", "gap (pp)"],
            [[d["label"], "0 (full data)" if is_full_row(d) else f"{d['ratio']:g}", _num(d["var_ratio_pred"], ".3f"),
              _num(d["weight_max"]), _num(d["weight_q99"]), _pct(d["never_drawn_pruned"]), _pct(d["train_eval_acc"]),
              _pct(d["generalization_gap"])] for d in diag]))
    out += ["", "## Seeds", "",
            f"Seeds: {', '.join(map(str, seeds))}. Pooled seed-to-seed std of test accuracy within a cell: {_pct(sigma, 2)} pp "
            "(descriptive: how much one run's accuracy varies; the comparisons above use the paired differences, "
            "which cancel the variation seeds share). Time plots and shares use "
            + ("process CPU seconds (every run logged them)." if basis == "cpu" else "wall seconds (not every run logged CPU seconds)."),
            ""]
    if plots:
        out += ["## Plots", ""] + [f"![{p}]({p})" for p in plots] + [""]
    return "\n".join(out)


def _csv(rows: list[dict[str, Any]]) -> str:
    fields: list[str] = []
    for r in rows:
        fields += [k for k in r if k not in fields]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    for r in rows:
        writer.writerow({k: ";".join(map(str, v)) if isinstance(v, list) else v for k, v in r.items()})
    return buf.getvalue()


def _nan_to_none(obj: Any) -> Any:
    if isinstance(obj, float) and math.isnan(obj):
        return None
    if isinstance(obj, dict):
        return {k: _nan_to_none(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_nan_to_none(v) for v in obj]
    return obj


# -- the report ---------------------------------------------------------------------------------
def hold_back(runs: list[Run], min_seeds: int) -> tuple[list[Run], list[str]]:
    """Split off the cells (dataset, label, ratio) with fewer than ``min_seeds`` seeds: they are
    not reported, so every reported row rests on at least that many seeds. Returns the runs kept
    and one line per held-back cell (``cifar10/seta r=0.5: 2 of 5 seeds (s0, s1)``)."""
    if min_seeds < 1:
        raise ValueError(f"min_seeds must be at least 1, got {min_seeds}")
    cells: dict[tuple[str, str, float], list[Run]] = {}
    for r in runs:
        cells.setdefault((r.group, r.label, r.ratio), []).append(r)
    kept, held = [], []
    for (group, label, ratio), cell in cells.items():
        seeds = sorted({r.seed for r in cell})
        if len(seeds) >= min_seeds:
            kept.extend(cell)
        else:
            where = f"{group}/" if group else ""
            held.append(f"{where}{label} r={ratio:g}: {len(seeds)} of {min_seeds} seeds "
                        f"({', '.join(f's{s}' for s in seeds)})")
    return kept, sorted(held)


def _held_lines(held: list[str], min_seeds: int) -> list[str]:
    if not held:
        return []
    return [f"**Held back: {len(held)} cell(s) with fewer than {min_seeds} seeds are not reported "
            f"(their runs are kept, and the sweep resumes them):** " + "; ".join(held), ""]


def build_report(run_dir: str | Path, out: str | Path | None = None, title: str | None = None,
                 plots: bool = True, min_seeds: int = 1) -> dict[str, Any]:
    """Write report.md, table.csv, table.json, runs.csv, paired.csv, tta.csv, speedup.csv and the PNG
    plots into ``out`` (default ``run_dir/report``); returns {"table", "paired", "cost", "equal_seen",
    "tta", "speedup", "missing", "files"}.

    Runs of a sweep with dataset entries (``group`` in cell.json) get one such report per dataset
    in ``out/<dataset>/`` and an index ``out/report.md`` that puts the paired comparisons of every
    dataset side by side.

    ``min_seeds``: cells with fewer seeds are held back (listed, not reported; see :func:`hold_back`)."""
    run_dir = Path(run_dir)
    out = Path(out) if out else run_dir / "report"
    runs, missing = load_runs(run_dir)
    runs, held = hold_back(runs, min_seeds)
    if not runs:
        raise ValueError(f"no cell below {run_dir} has {min_seeds} seeds yet; held back: {'; '.join(held)}")
    out.mkdir(parents=True, exist_ok=True)
    sweep_info = json.loads((run_dir / "sweep.json").read_text()) if (run_dir / "sweep.json").exists() else {}
    command = shlex.join(sweep_info["command"]) if sweep_info.get("command") else None
    title = title or f"Results: {sweep_info.get('name', run_dir.name)}"
    groups = sorted({r.group for r in runs if r.group}, key=lambda g: _group_order(g, sweep_info))
    if groups:
        result = _grouped_report(runs, missing, groups, out, title, command, plots, held, min_seeds)
    else:
        result = _single_report(runs, missing, run_dir, out, title, command, plots, held, min_seeds)
    return {**result, "held_back": held}


def _group_order(group: str, sweep_info: dict[str, Any]) -> tuple[int, str]:
    names = [d.get("name") for d in (sweep_info.get("spec") or {}).get("datasets") or []]
    return (names.index(group) if group in names else len(names), group)


RESULT_KEYS = ("table", "paired", "cost", "equal_seen", "tta", "speedup")


def _grouped_report(runs: list[Run], missing: list[str], groups: list[str], out: Path, title: str,
                    command: str | None, plots: bool, held: list[str], min_seeds: int) -> dict[str, Any]:
    results = {}
    for g in groups:
        sub = [r for r in runs if r.group == g]
        sub_missing = [m for m in missing if m.startswith(g + "/")]
        sub_held = [h for h in held if h.startswith(g + "/")]
        results[g] = _single_report(sub, sub_missing, None, out / g, f"{title}: {g}", command, plots, sub_held, min_seeds)
    lines = [f"# {title}", ""]
    if command:
        lines += ["Command:", "", "```", command, "```", ""]
    if missing:
        lines += [f"**Incomplete: {len(missing)} cell(s) have no result and are left out:** " + ", ".join(missing), ""]
    lines += _held_lines(held, min_seeds)
    merged = {key: [{"dataset": g, **row} for g in groups for row in results[g][key]] for key in RESULT_KEYS}
    lines += ["## Every method against random_dynamic, paired by seed, per dataset", "",
              f"Test accuracy difference (pp), method minus {BASELINE_LABEL} at the same ratio. " + STATS_NOTE, ""]
    lines.append(paired_markdown(merged["paired"], dataset=True) if merged["paired"] else "No paired comparisons.")
    lines += verdict_summary(merged["paired"])
    lines += verdict_summary(merged["cost"], "sadp", "against full data (the cost of pruning)")
    lines += ["", "## Time to accuracy, per dataset", ""]
    for g in groups:
        lines += [f"- **{g}**: " + least_cost_sentence(tta_table(results[g]["tta"]), time_basis([r for r in runs if r.group == g]))]
    lines += pooled_section(runs, groups)
    lines += variant_section(runs, groups)
    lines += ["", "## Accuracy per dataset", ""]
    for g in groups:
        full = [r for r in results[g]["table"] if is_full_row(r)]
        head = f"full data {_acc_cell(full[0]['test_acc_mean'], full[0]['test_acc_std'], full[0]['n'])}" if full else "no full-data run"
        lines += [f"- **{g}** ({head}): [report]({g}/report.md)"]
    atomic_write_text(out / "report.md", "\n".join(lines) + "\n")
    atomic_write_json(out / "table.json", _nan_to_none({**merged, "missing": missing, "held_back": held}))
    files = ["report.md", "table.json"] + [f"{g}/{f}" for g in groups for f in results[g]["files"]]
    return {**merged, "missing": missing, "files": files}


def pooled_paired(runs: list[Run], groups: list[str], label: str, ratio: float | None,
                  baseline: str) -> dict[str, Any] | None:
    """``label`` minus ``baseline`` at ``ratio`` (None: at every ratio, paired at the same ratio),
    paired by (dataset, seed) over every dataset."""
    pairs: list[tuple[Any, float]] = []
    for g in groups:
        base = {(r.ratio, r.seed): r.test_acc for r in runs
                if r.group == g and r.label == baseline and ratio in (None, r.ratio)}
        pairs += [(f"{g}/{r.seed}", r.test_acc - base[(r.ratio, r.seed)]) for r in runs
                  if r.group == g and r.label == label and (r.ratio, r.seed) in base]
    return _paired_row("pooled", label, ratio, baseline, pairs) if pairs else None


def pooled_section(runs: list[Run], groups: list[str], baseline: str = BASELINE_LABEL) -> list[str]:
    """Exploratory: each method minus ``baseline`` pooled over every (dataset, ratio, seed) pair."""
    labels = sorted({r.label for r in runs if r.method != FULL_METHOD and r.label != baseline and "_" not in r.label.removeprefix(r.method)})
    rows = []
    for label in labels:
        p = pooled_paired(runs, groups, label, None, baseline)
        if p and p["n"] >= 2:
            se = p["diff_std"] / math.sqrt(p["n"])
            rows.append([label, str(p["n"]), f"{100 * p['diff_mean']:+.2f}", _pct(p["diff_std"], 2), _pct(se, 2),
                         f"{p['wins']}/{p['ties']}/{p['losses']}"])
    if not rows:
        return []
    return ["", "## Pooled over datasets and ratios (exploratory)", "",
            f"Each method minus {baseline} over every (dataset, ratio, seed) pair with the same ratio. Not a "
            "pre-registered test and no verdict: pairs of one dataset share seeds and initialisations, so they are not "
            "independent, and SE = std / sqrt(n) understates the uncertainty.", "",
            _md_table(["method", "pairs", "mean diff (pp)", "std", "SE", "w/t/l"], rows)]


def variant_section(runs: list[Run], groups: list[str], default: str = "sadp") -> list[str]:
    """Named variants of the default method (labels ``<default>_*``) against it, per dataset and
    pooled over datasets, at the ratios where both ran."""
    variants = sorted({r.label for r in runs if r.label.startswith(default + "_")})
    if not variants:
        return []
    rows = []
    for v in variants:
        for ratio in sorted({r.ratio for r in runs if r.label == v}):
            for g in groups + ["all datasets"]:
                sub = groups if g == "all datasets" else [g]
                p = pooled_paired([r for r in runs if r.group in sub], sub, v, ratio, default)
                if p:
                    rows.append([v, f"{ratio:g}", g, str(p["n"]), f"{100 * p['diff_mean']:+.2f}", _ci_pp(p),
                                 f"{p['wins']}/{p['ties']}/{p['losses']}", _pval(p["p_sign"]), _pval(p["p_wilcoxon"]),
                                 p["verdict"]])
    return ["", f"## Variants against the default {default}, paired by seed", "",
            f"Test accuracy difference (pp), variant minus {default} at the same ratio and seed; 95% CI and tests as "
            "above. The 'all datasets' row pairs every (dataset, seed): its pairs are not independent across datasets "
            "that share seeds, so read it as exploratory.", "",
            _md_table(["variant", "ratio", "dataset", "n", "mean diff (pp)", "95% CI (pp)", "w/t/l", "p sign",
                       "p Wilcoxon", "verdict"], rows)]


def _single_report(runs: list[Run], missing: list[str], run_dir: Path | None, out: Path, title: str,
                   command: str | None, plots: bool, held: list[str] | None = None, min_seeds: int = 1) -> dict[str, Any]:
    from sadp.experiments.report_plots import make_plots

    out.mkdir(parents=True, exist_ok=True)
    table, paired, cost, equal = summary_table(runs), paired_comparison(runs), cost_of_pruning(runs), equal_seen_comparison(runs)
    short, aware = vs_short_schedule(runs), spike_awareness(runs)
    tta, speed = time_to_accuracy(runs), speedup_table(runs)
    plot_names = make_plots(runs, table, out) if plots else []
    all_paired = paired + aware + short + cost + equal
    files = ["report.md", "table.csv", "table.json", "runs.csv"] + (["paired.csv"] if all_paired else [])
    atomic_write_text(out / "table.csv", _csv(table))
    atomic_write_json(out / "table.json", _nan_to_none({
        "table": table, "paired": paired, "spike_awareness": aware, "training_less": short, "cost": cost,
        "equal_seen": equal, "tta": tta_table(tta), "spike_factor_per_epoch": spike_factor_per_epoch(runs),
        "speedup": speed, "plateau": plateau_check(runs), "spike_factor": spike_factor_table(runs),
        "missing": missing, "held_back": held or [], "seed_noise": seed_noise(runs), "time_basis": time_basis(runs)}))
    atomic_write_text(out / "runs.csv", _csv([{
        "label": r.label, "method": r.method, "ratio": r.ratio, "seed": r.seed, "test_acc": r.test_acc,
        "best_test_acc": r.summary.get("best_test_acc"), "final_train_acc": r.summary.get("final_train_acc"),
        "train_time_s": r.train_time_s, "wall_time_s": r.summary.get("wall_time_s"),
        "examples_seen": r.summary.get("examples_seen"), "theoretical_speedup": r.theoretical_speedup,
        "dir": str(r.dir.relative_to(run_dir)) if run_dir else str(r.dir), "train_cpu_s": r.cpu_time_s,
    } for r in runs]))
    if all_paired:
        atomic_write_text(out / "paired.csv", _csv(all_paired))
    atomic_write_text(out / "tta.csv", _csv(tta))
    files.append("tta.csv")
    if speed:
        atomic_write_text(out / "speedup.csv", _csv(speed))
        files.append("speedup.csv")
    diag = diagnostics_table(runs)
    if diag:
        atomic_write_text(out / "diagnostics.csv", _csv(diag))
        files.append("diagnostics.csv")
    atomic_write_text(out / "report.md", render_markdown(runs, missing, table, paired, title, command, plot_names,
                                                         cost=cost, equal=equal, tta=tta, speed=speed, short=short, aware=aware,
                                                         held_lines=_held_lines(held or [], min_seeds)))
    return {"table": table, "paired": paired, "cost": cost, "equal_seen": equal, "tta": tta, "speedup": speed,
            "missing": missing, "files": files + plot_names}
