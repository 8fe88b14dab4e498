"""The report's numbers, computed from :class:`~sadp.experiments.runs.Run` objects: the summary table
per (label, ratio), the paired comparisons (against random, the ANN bound, the matched short
schedule, full data, and at equal examples seen), time-to-accuracy, speedups against theory, the
regime check, the spike factor and the selection diagnostics. The definitions are in
:mod:`sadp.experiments.report`; rendering is :mod:`sadp.experiments.report_markdown`.

Why one module of about 500 lines: every table here is built from the same pairing of runs by
seed (``_paired_row``, the full-data reference per seed, the time basis), and each is a short
function; splitting them by table would spread that shared pairing over several files."""
from __future__ import annotations

import math
import statistics
from typing import Any, Callable

from sadp.experiments.runs import (
    BASELINE_LABEL,
    FIT_THRESHOLD,
    FULL_METHOD,
    PLATEAU_GAIN,
    PLATEAU_WINDOW,
    SAME_SEEN_TOLERANCE,
    SPIKE_KEYS,
    TTA_MARGIN,
    Run,
    full_by_seed,
    groups_by_cell,
    mean,
    median,
    std,
)
from sadp.experiments.stats import paired_stats, t_interval


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
    cells = [g for group in sorted({r.group for r in runs})
             for g in groups_by_cell([r for r in runs if r.group == group]).values()]
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
    full = full_by_seed(runs)
    full_acc = mean([r.test_acc for r in full.values()])
    full_time_mean = mean([r.train_time_s for r in full.values()])
    rows = []
    for (label, ratio), g in groups_by_cell(runs).items():
        accs = [r.test_acc for r in g]
        times = [r.train_time_s for r in g]
        # Pair with the full run of the same seed where there is one, else the full mean; NaN when the
        # full-data run's times come from another machine.
        ref = [(full[r.seed].train_time_s if full[r.seed].machine == r.machine else math.nan) if r.seed in full
               else full_time_mean for r in g]
        speedups = [f / t for f, t in zip(ref, times) if t > 0]
        theory = [r.theoretical_speedup for r in g]
        measured = mean(speedups)
        acc_low, acc_high = t_interval(accs)
        wall_frac = [t for _, t in _paired_ratios(g, full, lambda r: r.train_time_s)]
        cpu_frac = [t for _, t in _paired_ratios(g, full, lambda r: r.cpu_time_s)]
        rows.append({
            "label": label, "method": g[0].method, "ratio": ratio, "n": len(g),
            "seeds": [r.seed for r in g],
            "test_acc_mean": mean(accs), "test_acc_std": std(accs),
            "test_acc_min": min(accs), "test_acc_max": max(accs),
            "delta_vs_full": mean(accs) - full_acc,
            "best_test_acc_mean": mean([float(r.summary.get("best_test_acc", r.test_acc)) for r in g]),
            "final_train_acc_mean": mean([float(r.summary.get("final_train_acc", math.nan)) for r in g]),
            "train_time_s_mean": mean(times), "train_time_s_std": std(times),
            "wall_time_s_mean": mean([float(r.summary.get("wall_time_s", math.nan)) for r in g]),
            "examples_seen_mean": mean([float(r.summary.get("examples_seen", math.nan)) for r in g]),
            "examples_seen_fraction": mean([r.examples_fraction for r in g]),
            "time_saved": mean([1 - t / f for f, t in zip(ref, times)]) if full else math.nan,
            "speedup_measured": measured if full else math.nan,
            "speedup_theoretical": mean(theory),
            "efficiency": measured / mean(theory) if full else math.nan,
            "test_acc_ci_low": acc_low, "test_acc_ci_high": acc_high,
            "train_cpu_s_mean": mean([r.cpu_time_s for r in g]),
            "time_fraction_wall": mean(wall_frac), "time_fraction_wall_ci": list(t_interval(wall_frac)),
            "time_fraction_cpu": mean(cpu_frac), "time_fraction_cpu_ci": list(t_interval(cpu_frac)),
            "speedup_measured_cpu": mean([1 / t for t in cpu_frac]),
            "efficiency_cpu": mean([1 / t for t in cpu_frac]) / mean(theory),
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
    for (label, ratio), g in groups_by_cell(runs).items():
        if skip(label, g[0]):
            continue
        ref = reference(label, ratio)
        if not ref:
            continue
        pairs = [(r.seed, r.test_acc - ref[r.seed]) for r in g if r.seed in ref]
        if pairs:
            rows.append(_paired_row(comparison, label, ratio, baseline, pairs,
                                    [r.seed for r in g if r.seed not in ref]))
    return rows


def paired_comparison(runs: list[Run], baseline: str = BASELINE_LABEL) -> list[dict[str, Any]]:
    """Each label against ``baseline`` at the same ratio, paired by seed (same subset and init)."""
    groups = groups_by_cell(runs)

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
    for (label, ratio), g in groups_by_cell(runs).items():
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
    full = {seed: r.test_acc for seed, r in full_by_seed(runs).items()}
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
    for (label, ratio), g in groups_by_cell(runs).items():
        if label == baseline or g[0].method == FULL_METHOD:
            continue
        seen, ref_seen = mean([r.examples_fraction for r in g]), mean(base_seen.get(ratio, []))
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
        seen = mean([r.examples_fraction for r in g])
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
    full = full_by_seed(runs)
    rows = []
    for (label, ratio), g in groups_by_cell(runs).items():
        for r in g:
            row: dict[str, Any] = {
                "label": label, "method": r.method, "ratio": ratio, "seed": r.seed,
                "reference_full": r.is_reference_full,
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
            row.update(reached=True, epoch=hit.epoch, examples=hit.examples,
                       examples_fraction=hit.examples / full_examples,
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
            row[f"{key}_median"], row[f"{key}_mean"] = median(vals), mean(vals)
        rows.append(row)
    return rows


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
        return mean([float(m[key]) for m in pruned]) / mean([float(m[key]) for m in full_rows])

    kept = mean([m["selected"] / n for m in pruned])
    tau_wall, tau_cpu = ratio("epoch_time_s"), ratio("epoch_cpu_s")
    # the first epoch may carry one-off start-up costs; it is one of the reference epochs, so say how much
    first, later = full_rows[0], full_rows[1:]

    def first_ratio(key: str) -> float:
        if not later or first.get("epoch") != 1 or any(key not in m for m in full_rows):
            return math.nan
        return float(first[key]) / mean([float(m[key]) for m in later])

    return {"kept_fraction": kept, "step_fraction": ratio("steps"), "time_ratio_wall": tau_wall,
            "time_ratio_cpu": tau_cpu, "efficiency_wall": kept / tau_wall, "efficiency_cpu": kept / tau_cpu,
            "reference": reference, "full_epochs": len(full_rows), "pruned_epochs": len(pruned),
            "first_epoch_ratio_wall": first_ratio("epoch_time_s"), "first_epoch_ratio_cpu": first_ratio("epoch_cpu_s")}


def speedup_table(runs: list[Run]) -> list[dict[str, Any]]:
    """Per pruning (label, ratio), mean over seeds (95% CI) of the per-epoch time ratio and efficiency
    (wall and CPU, see :func:`epoch_speedup`), the fixed share a linear time-per-step model implies,
    (tau - s) / (1 - s), and whole-run training time over the same seed's full-data run's."""
    full = full_by_seed(runs)
    rows = []
    for (label, ratio), g in groups_by_cell(runs).items():
        if g[0].method == FULL_METHOD:
            continue
        per = [e for e in (epoch_speedup(r, full) for r in g) if e is not None]
        row: dict[str, Any] = {"label": label, "method": g[0].method, "ratio": ratio, "n_epoch": len(per),
                               "reference": ", ".join(sorted({e["reference"] for e in per})),
                               "kept_fraction": mean(e["kept_fraction"] for e in per),
                               "step_fraction": mean(e["step_fraction"] for e in per)}
        for clock in ("wall", "cpu"):
            for key in (f"time_ratio_{clock}", f"efficiency_{clock}"):
                vals = [e[key] for e in per if not math.isnan(e[key])]
                row[f"epoch_{key}"], (row[f"epoch_{key}_ci_low"], row[f"epoch_{key}_ci_high"]) = (
                    mean(vals), t_interval(vals))
            tau, s = row[f"epoch_time_ratio_{clock}"], steps_or_kept(row)
            row[f"fixed_share_{clock}"] = (tau - s) / (1 - s) if s < 1 else math.nan
            paired = _paired_ratios(g, full,
                                    (lambda r: r.train_time_s) if clock == "wall" else (lambda r: r.cpu_time_s))
            ratios_ = [t for _, t in paired]
            row[f"run_time_ratio_{clock}"] = mean(ratios_)
            row[f"run_time_ratio_{clock}_ci_low"], row[f"run_time_ratio_{clock}_ci_high"] = t_interval(ratios_)
            row[f"run_efficiency_{clock}"] = mean([r.examples_fraction / t for r, t in paired])
            row[f"n_run_{clock}"] = len(paired)
        for clock in ("wall", "cpu"):
            row[f"first_epoch_ratio_{clock}"] = mean(e[f"first_epoch_ratio_{clock}"] for e in per)
        row["run_examples_fraction"] = mean(r.examples_fraction for r in g)
        rows.append(row)
    return rows


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
    for (label, ratio), g in groups_by_cell(runs).items():
        per_run = []
        for r in g:
            pruned = [m for m in r.metrics
                      if m.get("spike_factor_cv") is not None and m.get("selected", 0) < r.num_train]
            if pruned:
                half = (len(pruned) + 1) // 2
                per_run.append({f"{k}{suffix}": mean(float(m.get(k, math.nan)) for m in part)
                                for suffix, part in (("", pruned), ("_early", pruned[:half]),
                                                     ("_late", pruned[half:] or pruned[-1:]))
                                for k in SPIKE_KEYS})
                per_run[-1]["cv_min"] = min(float(m["spike_factor_cv"]) for m in pruned)
                per_run[-1]["cv_max"] = max(float(m["spike_factor_cv"]) for m in pruned)
        if per_run:
            row = {"label": label, "ratio": ratio, "n": len(per_run)}
            for key in per_run[0]:
                agg = min if key == "cv_min" else max if key == "cv_max" else mean
                row[key] = agg([p[key] for p in per_run])
            rows.append(row)
    return rows


def spike_factor_per_epoch(runs: list[Run]) -> list[dict[str, Any]]:
    """Per epoch and (label, ratio) of runs that log the spike factor: its CV across examples and the
    share of silent head inputs, mean over seeds, and whether the epoch was pruned in every seed."""
    rows = []
    for (label, ratio), g in groups_by_cell(runs).items():
        logged = [r for r in g if any(m.get("spike_factor_cv") is not None for m in r.metrics)]
        if not logged:
            continue
        for e in range(max(len(r.metrics) for r in logged)):
            at = [(r.metrics[e], r) for r in logged
                  if e < len(r.metrics) and r.metrics[e].get("spike_factor_cv") is not None]
            if at:
                rows.append({"label": label, "ratio": ratio, "epoch": e + 1, "n": len(at),
                             "spike_factor_cv": mean(float(m["spike_factor_cv"]) for m, _ in at),
                             "head_silent_share": mean(float(m.get("head_silent_share", math.nan)) for m, _ in at),
                             "pruned": all(m.get("selected", 0) < r.num_train for m, r in at)})
    return rows


def diagnostics_table(runs: list[Run]) -> list[dict[str, Any]]:
    """Per (label, ratio), means over seeds of the per-epoch selection diagnostics the trainer logs:
    predicted HT variance ratio against uniform (mean over pruned epochs), largest loss weight and
    99th-percentile weight over the run, share of examples never drawn in a pruned epoch, and the
    final training-sample accuracy and train/test gap. Empty when no run logged them."""
    rows = []
    for (label, ratio), g in groups_by_cell(runs).items():
        def per_run(fn: Any) -> float:
            vals = [v for v in (fn(r) for r in g) if v is not None and not math.isnan(v)]
            return mean(vals)

        def pruned(r: Run, key: str) -> list[float]:
            return [float(m[key]) for m in r.metrics
                    if key in m and m.get("selected", 0) < r.summary.get("num_train", 0)]

        row = {
            "label": label, "method": g[0].method, "ratio": ratio, "n": len(g),
            "var_ratio_pred": per_run(
                lambda r: mean(pruned(r, "var_ratio_pred")) if pruned(r, "var_ratio_pred") else None),
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


def steps_or_kept(row: dict[str, Any]) -> float:
    """The step fraction, or the kept fraction for runs that did not log their steps."""
    return row["kept_fraction"] if math.isnan(row["step_fraction"]) else row["step_fraction"]
