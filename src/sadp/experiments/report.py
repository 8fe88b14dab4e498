"""Summarise a directory of ``sadp train`` runs (a sweep's, or any) into tables and plots.

Every directory below the root that holds a ``summary.json`` is one run; its ``metrics.jsonl``
gives the per-epoch curve and its ``cell.json`` (written by ``sadp sweep``) the method's label.
Runs are grouped by (label, pruning ratio); the full-data method (``method == "full"``, ratio 0)
is the reference for time saved and speedups, ``random_dynamic`` at the same ratio the reference
for the paired per-seed accuracy comparison.

Definitions (also written into the report):
- measured speedup = full-data training time / this run's training time, paired by seed
  (training time = sum of epoch times, evaluation excluded);
- theoretical speedup = full-data examples / examples this run actually trained on;
- efficiency = measured / theoretical speedup;
- seed noise sigma = pooled within-cell standard deviation of test accuracy over seeds; a paired
  difference over n seeds is called "within noise" when |mean| < 2 sigma sqrt(2/n).
"""
from __future__ import annotations

import csv
import io
import json
import math
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from sadp.utils.io import atomic_write_json, atomic_write_text

FULL_METHOD = "full"
BASELINE_LABEL = "random_dynamic"


@dataclass
class Run:
    """One finished run: its identity in the grid, its summary and its per-epoch test accuracy."""

    dir: Path
    label: str
    method: str
    ratio: float
    seed: int
    summary: dict[str, Any]
    test_curve: list[float] = field(default_factory=list)  # per epoch; NaN where not evaluated
    metrics: list[dict[str, Any]] = field(default_factory=list)  # metrics.jsonl rows
    group: str = ""  # the sweep's dataset entry

    @property
    def test_acc(self) -> float:
        return float(self.summary["test_acc"])

    @property
    def train_time_s(self) -> float:
        return float(self.summary["train_time_s"])

    @property
    def theoretical_speedup(self) -> float:
        s = self.summary
        if "theoretical_speedup" in s:
            return float(s["theoretical_speedup"])
        return float(s["full_examples"]) / max(1.0, float(s["examples_seen"]))


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def load_runs(root: str | Path) -> tuple[list[Run], list[str]]:
    """All finished runs below ``root``, and the ids of sweep cells that have no summary.json yet."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"run directory not found: {root}")
    runs = []
    for summary_path in sorted(root.rglob("summary.json")):
        d = summary_path.parent
        summary = json.loads(summary_path.read_text())
        cfg = summary.get("config", {})
        info = json.loads((d / "cell.json").read_text()) if (d / "cell.json").exists() else {}
        method = str(info.get("method", cfg.get("method", "?")))
        rows = _read_jsonl(d / "metrics.jsonl")
        runs.append(Run(
            dir=d, label=str(info.get("label", method)), method=method,
            ratio=float(info.get("ratio", cfg.get("ratio", 0.0))), seed=int(info.get("seed", cfg.get("seed", 0))),
            summary=summary, test_curve=[float(r.get("test_acc", math.nan)) for r in rows], metrics=rows,
            group=str(info.get("group", "")),
        ))
    missing = []
    sweep_info = root / "sweep.json"
    if sweep_info.exists():
        finished = {r.dir.resolve() for r in runs}
        for cell in json.loads(sweep_info.read_text()).get("cells", []):
            if (root / cell["dir"]).resolve() not in finished:
                missing.append(cell["id"])
    if not runs:
        raise FileNotFoundError(f"no finished runs (summary.json) below {root}")
    return runs, missing


# -- statistics ------------------------------------------------------------------------------
def _mean(xs: list[float]) -> float:
    return statistics.fmean(xs) if xs else math.nan


def _std(xs: list[float]) -> float:
    """Sample standard deviation (n - 1); NaN for a single value: one seed shows no spread."""
    return statistics.stdev(xs) if len(xs) >= 2 else math.nan


def _groups(runs: Iterable[Run]) -> dict[tuple[str, float], list[Run]]:
    groups: dict[tuple[str, float], list[Run]] = {}
    for r in runs:
        groups.setdefault((r.label, r.ratio), []).append(r)
    for g in groups.values():
        g.sort(key=lambda r: r.seed)
    # full-data rows first, then by label and ratio
    return dict(sorted(groups.items(), key=lambda kv: (kv[1][0].method != FULL_METHOD, kv[0][1], kv[0][0])))


def seed_noise(runs: list[Run]) -> float:
    """Pooled within-cell standard deviation of test accuracy (NaN when no cell has 2 seeds); a cell
    is one (dataset entry, method, ratio)."""
    num, dof = 0.0, 0
    cells = [g for group in sorted({r.group for r in runs}) for g in _groups([r for r in runs if r.group == group]).values()]
    for g in cells:
        accs = [r.test_acc for r in g]
        if len(accs) >= 2:
            num += statistics.variance(accs) * (len(accs) - 1)
            dof += len(accs) - 1
    return math.sqrt(num / dof) if dof else math.nan


def summary_table(runs: list[Run]) -> list[dict[str, Any]]:
    """One row per (label, ratio): accuracy mean/std/n, time, measured and theoretical speedups."""
    full_runs = [r for r in runs if r.method == FULL_METHOD]
    full_time = {r.seed: r.train_time_s for r in full_runs}
    full_acc = _mean([r.test_acc for r in full_runs])
    full_time_mean = _mean(list(full_time.values()))
    rows = []
    for (label, ratio), g in _groups(runs).items():
        accs = [r.test_acc for r in g]
        times = [r.train_time_s for r in g]
        # Pair with the full run of the same seed where there is one, else the full mean.
        ref = [full_time.get(r.seed, full_time_mean) for r in g]
        speedups = [f / t for f, t in zip(ref, times) if t > 0]
        theory = [r.theoretical_speedup for r in g]
        measured = _mean(speedups)
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
            "examples_seen_fraction": _mean([1 / r.theoretical_speedup for r in g]),
            "time_saved": _mean([1 - t / f for f, t in zip(ref, times)]) if full_time else math.nan,
            "speedup_measured": measured if full_time else math.nan,
            "speedup_theoretical": _mean(theory),
            "efficiency": measured / _mean(theory) if full_time else math.nan,
        })
    return rows


def _interpolate(points: list[tuple[float, float]], x: float) -> float | None:
    """Piecewise-linear y(x) through ``points`` (x sorted, distinct); None outside their range."""
    points = sorted(points)
    for (x0, y0), (x1, y1) in zip(points, points[1:]):
        if x0 <= x <= x1:
            return y0 if x1 == x0 else y0 + (y1 - y0) * (x - x0) / (x1 - x0)
    return None


def equal_seen_comparison(runs: list[Run], baseline: str = BASELINE_LABEL) -> list[dict[str, Any]]:
    """Each method against ``baseline`` at the same number of examples seen: per seed, the
    baseline's accuracy is interpolated linearly in examples seen between its ratios and full
    data (same seed), at the method's own examples seen. Rows outside the baseline's range are
    left out. This is the comparison that matters for methods that train on more examples than
    their nominal ratio (InfoBatch)."""
    seen = lambda r: 1.0 / r.theoretical_speedup  # noqa: E731 - share of full data's examples
    curves: dict[int, list[tuple[float, float]]] = {}
    for r in runs:
        if r.label == baseline or r.method == FULL_METHOD:
            curves.setdefault(r.seed, []).append((seen(r), r.test_acc))
    rows = []
    for (label, ratio), g in _groups(runs).items():
        if label == baseline or g[0].method == FULL_METHOD:
            continue
        diffs, fractions = [], []
        for r in g:
            ref = _interpolate(curves.get(r.seed, []), seen(r))
            if ref is not None:
                diffs.append(r.test_acc - ref)
                fractions.append(seen(r))
        if diffs:
            rows.append({"label": label, "ratio": ratio, "n": len(diffs), "examples_seen_fraction": _mean(fractions),
                         "diff_mean": _mean(diffs), "diff_std": _std(diffs), "diffs": diffs,
                         "wins": sum(d > 0 for d in diffs), "losses": sum(d < 0 for d in diffs)})
    return rows


def _paired_row(label: str, ratio: float | None, baseline: str, diffs: list[float], sigma: float) -> dict[str, Any]:
    """Statistics of paired differences, with the noise threshold 2 sigma sqrt(2/n) and the verdict."""
    n, mean = len(diffs), _mean(diffs)
    noise = 2 * sigma * math.sqrt(2 / n) if not math.isnan(sigma) else math.nan
    if math.isnan(noise):
        verdict = "n/a (no seed spread)"
    elif abs(mean) < noise:
        verdict = "within noise"
    else:
        verdict = "better" if mean > 0 else "worse"
    return {"label": label, "ratio": ratio, "baseline": baseline, "n": n, "diff_mean": mean, "diff_std": _std(diffs),
            "wins": sum(d > 0 for d in diffs), "ties": sum(d == 0 for d in diffs), "losses": sum(d < 0 for d in diffs),
            "diffs": diffs, "noise_threshold": noise, "verdict": verdict}


def paired_comparison(runs: list[Run], baseline: str = BASELINE_LABEL) -> list[dict[str, Any]]:
    """Each label against ``baseline`` at the same ratio, paired by seed (same subset and init)."""
    groups = _groups(runs)
    sigma = seed_noise(runs)
    rows = []
    for (label, ratio), g in groups.items():
        base = groups.get((baseline, ratio))
        if label == baseline or base is None:
            continue
        base_acc = {r.seed: r.test_acc for r in base}
        diffs = [r.test_acc - base_acc[r.seed] for r in g if r.seed in base_acc]
        if diffs:
            rows.append(_paired_row(label, ratio, baseline, diffs, sigma))
    return rows


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


# -- formatting ------------------------------------------------------------------------------
def _pct(x: float, digits: int = 1) -> str:
    return "—" if x is None or math.isnan(x) else f"{100 * x:.{digits}f}"


def _num(x: float, fmt: str = ".2f") -> str:
    return "—" if x is None or math.isnan(x) else format(x, fmt)


def _times(x: float) -> str:
    return "—" if math.isnan(x) else f"{x:.2f}x"


def _acc_cell(mean: float, std: float, n: int) -> str:
    return f"{_pct(mean)} ± {_pct(std)} (n={n})" if n >= 2 else f"{_pct(mean)} (n=1, no spread)"


def _md_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])


def _ratio_str(row: dict[str, Any]) -> str:
    return "0 (full data)" if row["method"] == FULL_METHOD else f"{row['ratio']:g}"


def _describe(runs: list[Run]) -> str:
    cfg = runs[0].summary.get("config", {})
    keys = ("dataset", "subset", "model", "model_options", "T", "epochs", "batch_size", "optimizer", "lr")
    parts = [f"{k}={cfg[k]}" for k in keys if cfg.get(k) not in (None, {}, [])]
    n_train, n_test = runs[0].summary.get("num_train"), runs[0].summary.get("num_test")
    if n_train:
        parts.append(f"{n_train} train / {n_test} test examples")
    parts.append(f"device {runs[0].summary.get('device', '?')}")
    return ", ".join(parts)


def render_markdown(runs: list[Run], missing: list[str], table: list[dict[str, Any]],
                    paired: list[dict[str, Any]], title: str, command: str | None, plots: list[str]) -> str:
    sigma = seed_noise(runs)
    seeds = sorted({r.seed for r in runs})
    out = [f"# {title}", ""]
    out += [f"Setting: {_describe(runs)}.", ""]
    if command:
        out += ["Command:", "", "```", command, "```", ""]
    if missing:
        out += [f"**Incomplete: {len(missing)} cell(s) of the sweep have no result and are left out:** "
                + ", ".join(missing), ""]
    tfmt = ".0f" if min(r["train_time_s_mean"] for r in table) >= 100 else ".1f"
    out += ["## Accuracy and time", "",
            "Test accuracy (%) at the last epoch, mean ± sample std over seeds (n seeds). Training time "
            "excludes evaluation. Measured speedup = full-data training time / this run's, paired by seed; "
            "theoretical = full-data examples / examples actually trained on (examples seen, as a share of full "
            "data's); efficiency = measured / theoretical. Compare methods at equal examples seen.",
            ""]
    out.append(_md_table(
        ["method", "ratio", "test acc %", "range", "Δ vs full (pp)", "train acc %", "examples seen", "train time s",
         "time saved", "speedup measured", "speedup theoretical", "efficiency"],
        [[r["label"], _ratio_str(r), _acc_cell(r["test_acc_mean"], r["test_acc_std"], r["n"]),
          f"{_pct(r['test_acc_min'])}–{_pct(r['test_acc_max'])}",
          "—" if r["method"] == FULL_METHOD else f"{100 * r['delta_vs_full']:+.1f}",
          _pct(r["final_train_acc_mean"]), f"{_pct(r['examples_seen_fraction'], 0)}%",
          f"{_num(r['train_time_s_mean'], tfmt)} ± {_num(r['train_time_s_std'], tfmt)}",
          "—" if r["method"] == FULL_METHOD else f"{_pct(r['time_saved'], 0)}%",
          _times(r["speedup_measured"]), _times(r["speedup_theoretical"]), _num(r["efficiency"])]
         for r in table]))
    out += ["", "## Per-seed test accuracy (%)", ""]
    per_seed = []
    for (label, ratio), g in _groups(runs).items():
        by_seed = {r.seed: r.test_acc for r in g}
        per_seed.append([label, "0 (full data)" if g[0].method == FULL_METHOD else f"{ratio:g}"]
                        + [_pct(by_seed[s]) if s in by_seed else "—" for s in seeds])
    out.append(_md_table(["method", "ratio"] + [f"seed {s}" for s in seeds], per_seed))
    equal = equal_seen_comparison(runs)
    if equal:
        out += ["", f"## Against {BASELINE_LABEL} at equal examples seen", "",
                f"Per seed, {BASELINE_LABEL}'s test accuracy interpolated linearly in examples seen between its "
                "ratios and full data (same seed), at each method's own examples seen; difference in pp. At the "
                f"same ratio {BASELINE_LABEL} and the importance samplers see the same number of examples, so this "
                "matters for InfoBatch, which trains on more.", ""]
        out.append(_md_table(
            ["method", "ratio", "examples seen", "n", "diff (pp)", "per seed", "wins/losses"],
            [[e["label"], f"{e['ratio']:g}", f"{_pct(e['examples_seen_fraction'], 0)}%", str(e["n"]),
              f"{100 * e['diff_mean']:+.2f} ± {_pct(e['diff_std'], 2)}", ", ".join(f"{100 * d:+.1f}" for d in e["diffs"]),
              f"{e['wins']}/{e['losses']}"] for e in equal]))
    out += ["", f"## Paired comparison against {BASELINE_LABEL} at the same ratio", ""]
    if paired:
        out += [f"Difference in test accuracy (pp), method minus {BASELINE_LABEL}, seed by seed (same data "
                f"subset and initialisation). Seed noise sigma (pooled within-cell std) = {_pct(sigma, 2)} pp; "
                "a mean difference is called within noise when |mean| < 2 sigma sqrt(2/n).", ""]
        out.append(_md_table(
            ["method", "ratio", "n", "mean diff (pp)", "std", "per seed", "wins/ties/losses", "noise threshold", "verdict"],
            [[p["label"], f"{p['ratio']:g}", str(p["n"]), f"{100 * p['diff_mean']:+.2f}", _pct(p["diff_std"], 2),
              ", ".join(f"{100 * d:+.1f}" for d in p["diffs"]), f"{p['wins']}/{p['ties']}/{p['losses']}",
              _pct(p["noise_threshold"], 2), p["verdict"]] for p in paired]))
    else:
        out.append(f"No {BASELINE_LABEL} runs at a shared ratio: nothing to pair.")
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
            [[d["label"], "0 (full data)" if d["method"] == FULL_METHOD else f"{d['ratio']:g}", _num(d["var_ratio_pred"], ".3f"),
              _num(d["weight_max"]), _num(d["weight_q99"]), _pct(d["never_drawn_pruned"]), _pct(d["train_eval_acc"]),
              _pct(d["generalization_gap"])] for d in diag]))
    out += ["", "## Noise", "",
            f"Seeds: {', '.join(map(str, seeds))}. Pooled seed-to-seed std of test accuracy: {_pct(sigma, 2)} pp. "
            "Differences smaller than about twice that are not evidence either way; with two or three seeds, even a "
            "consistent sign is weak evidence.", ""]
    if plots:
        out += ["## Plots", ""] + [f"![{p}]({p})" for p in plots] + [""]
    return "\n".join(out)


def _csv(rows: list[dict[str, Any]]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    for r in rows:
        writer.writerow({k: ";".join(map(str, v)) if isinstance(v, list) else v for k, v in r.items()})
    return buf.getvalue()


def _nan_to_none(obj: Any) -> Any:
    if isinstance(obj, float) and math.isnan(obj):
        return None
    if isinstance(obj, dict):
        return {k: _nan_to_none(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_nan_to_none(v) for v in obj]
    return obj


# -- plots -----------------------------------------------------------------------------------
def make_plots(runs: list[Run], table: list[dict[str, Any]], out: Path) -> list[str]:
    """accuracy_vs_ratio.png, time_vs_ratio.png, test_curves.png in ``out``; returns their names."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    full = [r for r in table if r["method"] == FULL_METHOD]
    pruned = [r for r in table if r["method"] != FULL_METHOD]
    labels = sorted({r["label"] for r in pruned})
    colors = {lab: f"C{i % 10}" for i, lab in enumerate(labels)}
    ratios = sorted({r["ratio"] for r in pruned})
    # methods at the same ratio are drawn side by side so their error bars do not hide each other
    dodge = {lab: 0.008 * (i - (len(labels) - 1) / 2) for i, lab in enumerate(labels)}
    names = []

    def full_band(ax: Any, mean: float, std: float, text: str) -> None:
        ax.axhline(mean, color="k", lw=1.2, label=text)
        if not math.isnan(std):
            ax.axhspan(mean - std, mean + std, color="k", alpha=0.1)

    # accuracy vs ratio, error bars = seed std, faint dots = individual seeds
    fig, ax = plt.subplots(figsize=(6, 4))
    if full:
        f = full[0]
        full_band(ax, 100 * f["test_acc_mean"], 100 * f["test_acc_std"], f"full data (n={f['n']})")
    for lab in labels:
        rows = sorted((r for r in pruned if r["label"] == lab), key=lambda r: r["ratio"])
        ax.errorbar([r["ratio"] + dodge[lab] for r in rows], [100 * r["test_acc_mean"] for r in rows],
                    yerr=[0 if math.isnan(r["test_acc_std"]) else 100 * r["test_acc_std"] for r in rows],
                    marker="o", capsize=3, color=colors[lab], label=lab)
        pts = [(r.ratio, 100 * r.test_acc) for r in runs if r.label == lab]
        ax.scatter([p[0] + dodge[lab] for p in pts], [p[1] for p in pts], s=10, color=colors[lab], alpha=0.35)
    ax.set(xlabel="pruning ratio r", ylabel="test accuracy (%)", title="Accuracy vs pruning ratio (mean ± std over seeds)")
    if ratios:
        ax.set_xticks(ratios)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    names.append(_save_figure(fig, out, "accuracy_vs_ratio.png"))

    # training time vs ratio, with each method's theoretical time from the examples it saw
    fig, ax = plt.subplots(figsize=(6, 4))
    if full:
        f = full[0]
        full_band(ax, f["train_time_s_mean"], f["train_time_s_std"], "full data")
        if ratios:
            ax.plot(ratios, [f["train_time_s_mean"] * (1 - r) for r in ratios], ":", color="gray", label="full x (1 - r)")
    for lab in labels:
        rows = sorted((r for r in pruned if r["label"] == lab), key=lambda r: r["ratio"])
        xs = [r["ratio"] for r in rows]
        ax.errorbar([x + dodge[lab] for x in xs], [r["train_time_s_mean"] for r in rows],
                    yerr=[0 if math.isnan(r["train_time_s_std"]) else r["train_time_s_std"] for r in rows],
                    marker="o", capsize=3, color=colors[lab], label=f"{lab} measured")
        if full:
            ax.plot(xs, [full[0]["train_time_s_mean"] / r["speedup_theoretical"] for r in rows], "--",
                    color=colors[lab], alpha=0.7, label=f"{lab} theoretical (examples seen)")
    ax.set(xlabel="pruning ratio r", ylabel="training time (s)", title="Training time vs pruning ratio")
    if ratios:
        ax.set_xticks(ratios)
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    names.append(_save_figure(fig, out, "time_vs_ratio.png"))

    # test accuracy per epoch: one panel per ratio, full data in each, band = min..max over seeds
    panels = ratios or [0.0]
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 3.8), squeeze=False, sharey=True)
    for ax, ratio in zip(axes[0], panels):
        groups = [(lab, [r for r in runs if r.label == lab and r.ratio == ratio]) for lab in labels]
        groups = [("full data", [r for r in runs if r.method == FULL_METHOD])] + groups
        for lab, g in groups:
            g = [r for r in g if r.test_curve]
            if not g:
                continue
            length = min(len(r.test_curve) for r in g)
            # epochs every run evaluated (runs with eval_every > 1 skip some)
            kept = [e for e in range(length) if not any(math.isnan(r.test_curve[e]) for r in g)]
            epochs = [e + 1 for e in kept]
            per_epoch = [[100 * r.test_curve[e] for r in g] for e in kept]
            color = "k" if lab == "full data" else colors[lab]
            ax.plot(epochs, [_mean(v) for v in per_epoch], color=color, marker="." if len(kept) < length else None,
                    label=f"{lab} (n={len(g)})")
            if len(g) > 1:
                ax.fill_between(epochs, [min(v) for v in per_epoch], [max(v) for v in per_epoch], color=color, alpha=0.15)
        ax.set(xlabel="epoch", title=f"r = {ratio:g}" if ratios else "test accuracy")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    axes[0][0].set_ylabel("test accuracy (%)")
    names.append(_save_figure(fig, out, "test_curves.png"))
    if any("var_ratio_pred" in m or "train_eval_acc" in m for r in runs for m in r.metrics):
        names.append(_diagnostics_plot(runs, labels, colors, out, plt))
    return names


DIAG_PANELS = (("var_ratio_pred", "predicted variance ratio vs uniform"), ("weight_max", "largest loss weight"),
               ("never_drawn_pruned", "never drawn in a pruned epoch (share)"), ("generalization_gap", "train - test accuracy"))


def _diagnostics_plot(runs: list[Run], labels: list[str], colors: dict[str, str], out: Path, plt: Any) -> str:
    """Per-epoch selection diagnostics, mean over seeds, one line per (method, ratio)."""
    fig, axes = plt.subplots(1, len(DIAG_PANELS), figsize=(4.2 * len(DIAG_PANELS), 3.6))
    styles = {0.3: ":", 0.5: "-", 0.7: "--"}
    for ax, (key, title) in zip(axes, DIAG_PANELS):
        groups = [(lab, ratio, [r for r in runs if r.label == lab and r.ratio == ratio])
                  for lab in ["full"] + labels for ratio in sorted({r.ratio for r in runs if r.label == lab})]
        for lab, ratio, g in groups:
            by_epoch: dict[int, list[float]] = {}
            for r in g:
                for m in r.metrics:
                    if key in m and m[key] is not None:
                        by_epoch.setdefault(int(m["epoch"]), []).append(float(m[key]))
            if not by_epoch:
                continue
            epochs = sorted(by_epoch)
            ax.plot(epochs, [_mean(by_epoch[e]) for e in epochs], styles.get(ratio, "-"), marker=".",
                    color="k" if lab == "full" else colors.get(lab, "gray"), label=f"{lab} r={ratio:g}", lw=1.2)
        ax.set(xlabel="epoch", title=title)
        ax.grid(alpha=0.3)
    handles, names_ = axes[0].get_legend_handles_labels()
    for ax in axes[1:]:
        h, n = ax.get_legend_handles_labels()
        for hh, nn_ in zip(h, n):
            if nn_ not in names_:
                handles.append(hh)
                names_.append(nn_)
    fig.legend(handles, names_, fontsize=7, loc="lower center", ncol=min(8, max(1, len(names_))))
    return _save_figure(fig, out, "selection_diagnostics.png", dpi=110, rect=(0, 0.2, 1, 1))


def _save_figure(fig: Any, out: Path, name: str, dpi: int = 120, rect: tuple[float, ...] | None = None) -> str:
    """Lay out, write ``out/name`` and close ``fig``; returns ``name``."""
    import matplotlib.pyplot as plt

    if rect:
        fig.tight_layout(rect=rect)
    else:
        fig.tight_layout()
    fig.savefig(out / name, dpi=dpi)
    plt.close(fig)
    return name


def build_report(run_dir: str | Path, out: str | Path | None = None, title: str | None = None,
                 plots: bool = True) -> dict[str, Any]:
    """Write report.md, table.csv, table.json, runs.csv, paired.csv and the PNG plots into ``out``
    (default ``run_dir/report``); returns {"table", "paired", "missing", "files"}.

    Runs of a sweep with dataset entries (``group`` in cell.json) get one such report per dataset
    in ``out/<dataset>/`` and an index ``out/report.md`` that puts the paired comparisons of every
    dataset side by side."""
    run_dir = Path(run_dir)
    out = Path(out) if out else run_dir / "report"
    runs, missing = load_runs(run_dir)
    out.mkdir(parents=True, exist_ok=True)
    sweep_info = json.loads((run_dir / "sweep.json").read_text()) if (run_dir / "sweep.json").exists() else {}
    command = " ".join(sweep_info["command"]) if sweep_info.get("command") else None
    title = title or f"Results: {sweep_info.get('name', run_dir.name)}"
    groups = sorted({r.group for r in runs if r.group}, key=lambda g: _group_order(g, sweep_info))
    if groups:
        return _grouped_report(runs, missing, groups, out, title, command, plots)
    return _single_report(runs, missing, run_dir, out, title, command, plots)


def _group_order(group: str, sweep_info: dict[str, Any]) -> tuple[int, str]:
    names = [d.get("name") for d in (sweep_info.get("spec") or {}).get("datasets") or []]
    return (names.index(group) if group in names else len(names), group)


def _grouped_report(runs: list[Run], missing: list[str], groups: list[str], out: Path, title: str,
                    command: str | None, plots: bool) -> dict[str, Any]:
    results = {}
    for g in groups:
        sub = [r for r in runs if r.group == g]
        sub_missing = [m for m in missing if m.startswith(g + "/")]
        results[g] = _single_report(sub, sub_missing, None, out / g, f"{title}: {g}", command, plots)
    lines = [f"# {title}", ""]
    if command:
        lines += ["Command:", "", "```", command, "```", ""]
    if missing:
        lines += [f"**Incomplete: {len(missing)} cell(s) have no result and are left out:** " + ", ".join(missing), ""]
    lines += ["## Every method against random_dynamic, paired by seed, per dataset", "",
              f"Test accuracy difference (pp), method minus {BASELINE_LABEL} at the same ratio, mean ± std over "
              "seeds, with wins/ties/losses and the verdict of each dataset's noise threshold (see its report).", ""]
    rows = []
    for g in groups:
        for p in results[g]["paired"]:
            rows.append([g, p["label"], f"{p['ratio']:g}", str(p["n"]), f"{100 * p['diff_mean']:+.2f} ± {_pct(p['diff_std'], 2)}",
                         f"{p['wins']}/{p['ties']}/{p['losses']}", _pct(p["noise_threshold"], 2), p["verdict"]])
    lines.append(_md_table(["dataset", "method", "ratio", "n", "diff (pp)", "w/t/l", "noise threshold", "verdict"], rows)
                 if rows else "No paired comparisons.")
    lines += verdict_summary([{"dataset": g, **p} for g in groups for p in results[g]["paired"]])
    lines += pooled_section(runs, groups)
    lines += variant_section(runs, groups)
    lines += ["", "## Accuracy per dataset", ""]
    for g in groups:
        full = [r for r in results[g]["table"] if r["method"] == FULL_METHOD]
        head = f"full data {_acc_cell(full[0]['test_acc_mean'], full[0]['test_acc_std'], full[0]['n'])}" if full else "no full-data run"
        lines += [f"- **{g}** ({head}): [report]({g}/report.md)"]
    atomic_write_text(out / "report.md", "\n".join(lines) + "\n")
    table = [{"dataset": g, **r} for g in groups for r in results[g]["table"]]
    paired = [{"dataset": g, **p} for g in groups for p in results[g]["paired"]]
    atomic_write_json(out / "table.json", _nan_to_none({"table": table, "paired": paired, "missing": missing}))
    files = ["report.md", "table.json"] + [f"{g}/{f}" for g in groups for f in results[g]["files"]]
    return {"table": table, "paired": paired, "missing": missing, "files": files}


def pooled_paired(runs: list[Run], groups: list[str], label: str, ratio: float | None,
                  baseline: str) -> dict[str, Any] | None:
    """``label`` minus ``baseline`` at ``ratio`` (None: at every ratio, paired at the same ratio),
    paired by (dataset, seed) over every dataset; noise from the seed std pooled over all cells."""
    diffs = []
    for g in groups:
        base = {(r.ratio, r.seed): r.test_acc for r in runs
                if r.group == g and r.label == baseline and ratio in (None, r.ratio)}
        diffs += [r.test_acc - base[(r.ratio, r.seed)] for r in runs
                  if r.group == g and r.label == label and (r.ratio, r.seed) in base]
    return _paired_row(label, ratio, baseline, diffs, seed_noise(runs)) if diffs else None


def verdict_summary(paired: list[dict[str, Any]], method: str = "sadp") -> list[str]:
    """One sentence per verdict for ``method`` against the baseline: where it is better, worse or
    within noise, with the differences, so the report states its answer in words."""
    rows = [p for p in paired if p["label"] == method]
    if not rows:
        return []
    def where(verdict: str) -> str:
        hits = [p for p in rows if p["verdict"] == verdict]
        return "; ".join(f"{p['dataset']} r={p['ratio']:g} ({100 * p['diff_mean']:+.2f} pp, {p['wins']}/{p['ties']}/{p['losses']})"
                         for p in hits) or "nowhere"
    return ["", f"**{method} against {rows[0]['baseline']} at the same ratio (same examples seen):** better beyond "
            f"noise: {where('better')}. Worse beyond noise: {where('worse')}. Within noise: {where('within noise')}."]


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
            "pre-registered test: pairs of one dataset share seeds and initialisations, so they are not "
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
                    rows.append([v, f"{ratio:g}", g, str(p["n"]), f"{100 * p['diff_mean']:+.2f} ± {_pct(p['diff_std'], 2)}",
                                 f"{p['wins']}/{p['ties']}/{p['losses']}", _pct(p["noise_threshold"], 2), p["verdict"]])
    return ["", f"## Variants against the default {default}, paired by seed", "",
            f"Test accuracy difference (pp), variant minus {default} at the same ratio and seed. The "
            "pooled row pairs every (dataset, seed); its noise threshold uses the within-cell std pooled "
            "over all datasets.", "",
            _md_table(["variant", "ratio", "dataset", "n", "diff (pp)", "w/t/l", "noise threshold", "verdict"], rows)]


def _single_report(runs: list[Run], missing: list[str], run_dir: Path | None, out: Path, title: str,
                   command: str | None, plots: bool) -> dict[str, Any]:
    out.mkdir(parents=True, exist_ok=True)
    table, paired = summary_table(runs), paired_comparison(runs)
    plot_names = make_plots(runs, table, out) if plots else []
    files = ["report.md", "table.csv", "table.json", "runs.csv"] + (["paired.csv"] if paired else []) + plot_names
    atomic_write_text(out / "table.csv", _csv(table))
    atomic_write_json(out / "table.json", _nan_to_none({"table": table, "paired": paired, "missing": missing,
                                                        "seed_noise": seed_noise(runs)}))
    atomic_write_text(out / "runs.csv", _csv([{
        "label": r.label, "method": r.method, "ratio": r.ratio, "seed": r.seed, "test_acc": r.test_acc,
        "best_test_acc": r.summary.get("best_test_acc"), "final_train_acc": r.summary.get("final_train_acc"),
        "train_time_s": r.train_time_s, "wall_time_s": r.summary.get("wall_time_s"),
        "examples_seen": r.summary.get("examples_seen"), "theoretical_speedup": r.theoretical_speedup,
        "dir": str(r.dir.relative_to(run_dir)) if run_dir else str(r.dir),
    } for r in runs]))
    if paired:
        atomic_write_text(out / "paired.csv", _csv(paired))
    diag = diagnostics_table(runs)
    if diag:
        atomic_write_text(out / "diagnostics.csv", _csv(diag))
        files.append("diagnostics.csv")
    atomic_write_text(out / "report.md", render_markdown(runs, missing, table, paired, title, command, plot_names))
    return {"table": table, "paired": paired, "missing": missing, "files": files}
