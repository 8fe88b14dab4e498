"""The plots of ``sadp report`` (matplotlib, Agg backend), one PNG per figure.

Every legend sits outside the axes (to the right of the figure, which grows to hold it), so no
legend covers data. Colours identify methods, marker shapes pruning ratios; full data is black.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from sadp.experiments.runs import Run, is_full_row, mean, time_basis

RATIO_MARKERS = ("v", "o", "s", "D", "^", "P", "X")
DIAG_PANELS = (("var_ratio_pred", "predicted variance ratio vs uniform"), ("weight_max", "largest loss weight"),
               ("never_drawn_pruned", "never drawn in a pruned epoch (share)"),
               ("generalization_gap", "train - test accuracy"))


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _add_legend(fig: Any, handles: list[Any] | None = None, labels: list[str] | None = None) -> None:
    """Lay the axes out, then put one legend for the whole figure to the right of it (outside every
    axes); without ``handles``, the distinct entries of all axes."""
    if handles is None:
        handles, labels, seen = [], [], set()
        for ax in fig.axes:
            for h, lab in zip(*ax.get_legend_handles_labels()):
                if lab not in seen and not lab.startswith("_"):
                    seen.add(lab)
                    handles.append(h)
                    labels.append(lab)
    fig.tight_layout()
    if handles:
        top = max(ax.get_position().y1 for ax in fig.axes)  # level with the axes, below any suptitle
        fig.legend(handles, labels, loc="upper left", bbox_to_anchor=(1.0, top), fontsize=8, frameon=False)


def _save_figure(fig: Any, out: Path, name: str, dpi: int = 120) -> str:
    """Write ``out/name`` (cropped to include the outside legend) and close ``fig``; returns ``name``."""
    plt = _pyplot()
    fig.savefig(out / name, dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    return name


def _ratio_marker(ratios: list[float]) -> dict[float, str]:
    return {r: RATIO_MARKERS[i % len(RATIO_MARKERS)] for i, r in enumerate(ratios)}


def _mean_curve(g: list[Run], x: str) -> tuple[list[float], list[float]]:
    """Mean over the runs of ``g`` of (x, test accuracy %) at the epochs every run evaluated;
    ``x`` is a :class:`~sadp.experiments.report.CurvePoint` field."""
    curves = [{p.epoch: p for p in r.curve()} for r in g]
    epochs = sorted(set.intersection(*(set(c) for c in curves))) if curves else []
    xs = [mean(getattr(c[e], x) for c in curves) for e in epochs]
    ys = [mean(100 * c[e].test_acc for c in curves) for e in epochs]
    keep = [i for i, v in enumerate(xs) if not math.isnan(v)]
    return [xs[i] for i in keep], [ys[i] for i in keep]


def make_plots(runs: list[Run], table: list[dict[str, Any]], out: Path) -> list[str]:
    """accuracy_vs_ratio.png, time_vs_ratio.png, test_curves.png, learning_curves.png, frontier.png
    (and selection_diagnostics.png when logged) in ``out``; returns their names."""
    plt = _pyplot()
    from matplotlib.ticker import MaxNLocator

    full = [r for r in table if is_full_row(r)]
    pruned = [r for r in table if not is_full_row(r)]  # short schedules are drawn at their matched ratio
    labels = sorted({r["label"] for r in pruned})
    colors = {lab: f"C{i % 10}" for i, lab in enumerate(labels)}
    ratios = sorted({r["ratio"] for r in pruned})
    markers = _ratio_marker(ratios)
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
    ax.set(xlabel="pruning ratio r", ylabel="test accuracy (%)",
           title="Accuracy vs pruning ratio (mean ± std over seeds)")
    if ratios:
        ax.set_xticks(ratios)
        ax.set_xlim(min(ratios) - 0.1, max(ratios) + 0.1)
    ax.grid(alpha=0.3)
    _add_legend(fig)
    names.append(_save_figure(fig, out, "accuracy_vs_ratio.png"))

    # training time vs ratio, with each method's theoretical time from the examples it saw
    fig, ax = plt.subplots(figsize=(6, 4))
    if full:
        f = full[0]
        full_band(ax, f["train_time_s_mean"], f["train_time_s_std"], "full data")
        if ratios:
            ax.plot(ratios, [f["train_time_s_mean"] * (1 - r) for r in ratios], ":", marker="_", markersize=12,
                    color="gray", label="full x (1 - r)")
    for lab in labels:
        rows = sorted((r for r in pruned if r["label"] == lab), key=lambda r: r["ratio"])
        xs = [r["ratio"] for r in rows]
        ax.errorbar([x + dodge[lab] for x in xs], [r["train_time_s_mean"] for r in rows],
                    yerr=[0 if math.isnan(r["train_time_s_std"]) else r["train_time_s_std"] for r in rows],
                    marker="o", capsize=3, color=colors[lab], label=f"{lab} measured")
        if full:
            ax.plot([x + dodge[lab] for x in xs],
                    [full[0]["train_time_s_mean"] / r["speedup_theoretical"] for r in rows],
                    "--", marker="x", color=colors[lab], alpha=0.7, label=f"{lab} theoretical (examples seen)")
    ax.set(xlabel="pruning ratio r", ylabel="training time, wall (s)", title="Training time vs pruning ratio")
    if ratios:
        ax.set_xticks(ratios)
        ax.set_xlim(min(ratios) - 0.1, max(ratios) + 0.1)
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    _add_legend(fig)
    names.append(_save_figure(fig, out, "time_vs_ratio.png"))

    # test accuracy per epoch: one panel per ratio, full data in each, band = min..max over seeds
    panels = ratios or [0.0]
    fig, axes = plt.subplots(1, len(panels), figsize=(max(6.0, 4.5 * len(panels)), 3.6), squeeze=False, sharey=True)
    for ax, ratio in zip(axes[0], panels):
        for lab, g in _panel_groups(runs, labels, ratio):
            g = [r for r in g if r.test_curve]
            if not g:
                continue
            length = min(len(r.test_curve) for r in g)
            # epochs every run evaluated (runs with eval_every > 1 skip some)
            kept = [e for e in range(length) if not any(math.isnan(r.test_curve[e]) for r in g)]
            epochs = [e + 1 for e in kept]
            per_epoch = [[100 * r.test_curve[e] for r in g] for e in kept]
            color = "k" if lab == "full data" else colors[lab]
            ax.plot(epochs, [mean(v) for v in per_epoch], color=color, marker="." if len(kept) < length else None,
                    label=lab)
            if len(g) > 1:
                ax.fill_between(epochs, [min(v) for v in per_epoch], [max(v) for v in per_epoch], color=color,
                                alpha=0.15)
        ax.set(xlabel="epoch", title=f"r = {ratio:g}" if ratios else "test accuracy")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("test accuracy (%)")
    fig.suptitle("Test accuracy per epoch (mean over seeds, band = min-max)", fontsize=10)
    _add_legend(fig)
    names.append(_save_figure(fig, out, "test_curves.png"))

    names.append(_learning_curves(runs, labels, colors, panels, bool(ratios), out, plt))
    names.append(_frontier(runs, table, colors, markers, out, plt))
    if any("var_ratio_pred" in m or "train_eval_acc" in m for r in runs for m in r.metrics):
        names.append(_diagnostics_plot(runs, labels, colors, out, plt))
    return names


def _panel_groups(runs: list[Run], labels: list[str], ratio: float) -> list[tuple[str, list[Run]]]:
    """Full data, then every label's runs at ``ratio``."""
    return [("full data", [r for r in runs if r.is_reference_full])] + [
        (lab, [r for r in runs if r.label == lab and r.ratio == ratio]) for lab in labels]


def _learning_curves(runs: list[Run], labels: list[str], colors: dict[str, str], panels: list[float],
                     by_ratio: bool, out: Path, plt: Any) -> str:
    """Test accuracy against cumulative examples seen (top row) and training time (bottom row), one
    column per ratio with full data in each; mean over seeds at the epochs every seed evaluated."""
    basis = time_basis(runs)
    fig, axes = plt.subplots(2, len(panels), figsize=(max(6.0, 4.5 * len(panels)), 7), squeeze=False, sharey=True)
    for col, ratio in enumerate(panels):
        for lab, g in _panel_groups(runs, labels, ratio):
            if not g:
                continue
            color = "k" if lab == "full data" else colors[lab]
            for row, x, scale in ((0, "examples", 1e-3), (1, f"{basis}_s", 1.0)):
                xs, ys = _mean_curve(g, x)
                axes[row][col].plot([v * scale for v in xs], ys, color=color, marker=".", label=f"{lab} (n={len(g)})")
        axes[0][col].set(xlabel="examples seen (thousands)", title=f"r = {ratio:g}" if by_ratio else "")
        axes[1][col].set(xlabel=f"training time, {basis} (s)")
        for row in (0, 1):
            axes[row][col].grid(alpha=0.3)
            axes[row][col].set_xlim(left=0)
    for row in (0, 1):
        axes[row][0].set_ylabel("test accuracy (%)")
    fig.suptitle("Test accuracy against examples seen (top) and training time (bottom), mean over seeds", fontsize=10)
    _add_legend(fig)
    return _save_figure(fig, out, "learning_curves.png")


def _frontier(runs: list[Run], table: list[dict[str, Any]], colors: dict[str, str], markers: dict[float, str],
              out: Path, plt: Any) -> str:
    """Headline: final test accuracy (mean, 95% CI) against the share of full data's examples seen
    and against training time relative to full data (paired by seed), one marker per method and ratio."""
    from matplotlib.lines import Line2D

    basis = time_basis(runs)
    # methods at the same examples seen are drawn side by side so their error bars stay apart
    labels = list(colors)
    dodge = {lab: 0.004 * (i - (len(labels) - 1) / 2) for i, lab in enumerate(labels)}
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.2), sharey=True)
    for row in table:
        is_full = is_full_row(row)
        y = 100 * row["test_acc_mean"]
        yerr = 0.0 if math.isnan(row["test_acc_ci_high"]) else 100 * (row["test_acc_ci_high"] - row["test_acc_mean"])
        style = dict(color="k" if is_full else colors[row["label"]], marker="*" if is_full else markers[row["ratio"]],
                     markersize=11 if is_full else 7, capsize=3, linestyle="none")
        axes[0].errorbar([row["examples_seen_fraction"] + dodge.get(row["label"], 0.0)], [y], yerr=[yerr], **style)
        t, (low, high) = row[f"time_fraction_{basis}"], row[f"time_fraction_{basis}_ci"]
        if not math.isnan(t):
            xerr = [[t - low], [high - t]] if not math.isnan(low) else None
            axes[1].errorbar([t], [y], yerr=[yerr], xerr=xerr, **style)
    full = [r for r in table if is_full_row(r)]
    for ax in axes:
        if full:
            ax.axhline(100 * full[0]["test_acc_mean"] - 1, color="gray", ls=":", lw=1)
        ax.grid(alpha=0.3)
    axes[0].set(xlabel="examples seen (share of full data's; methods dodged by < 0.02)",
                ylabel="final test accuracy (%)")
    axes[1].set(xlabel=f"training time relative to full data ({basis}, paired by seed)")
    fig.suptitle("Cost-accuracy frontier: mean over seeds, 95% CI error bars", fontsize=10)
    handles = [Line2D([], [], color="k", marker="*", markersize=10, ls="none", label="full data")]
    handles += [Line2D([], [], color=c, marker="o", ls="none", label=lab) for lab, c in colors.items()]
    handles += [Line2D([], [], color="gray", marker=m, ls="none", label=f"r = {r:g}") for r, m in markers.items()]
    if full:
        handles.append(Line2D([], [], color="gray", ls=":", label="full data - 1 pp"))
    _add_legend(fig, handles, [h.get_label() for h in handles])
    return _save_figure(fig, out, "frontier.png")


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
            ax.plot(epochs, [mean(by_epoch[e]) for e in epochs], styles.get(ratio, "-"), marker=".",
                    color="k" if lab == "full" else colors.get(lab, "gray"), label=f"{lab} r={ratio:g}", lw=1.2)
        ax.set(xlabel="epoch", title=title)
        ax.grid(alpha=0.3)
    _add_legend(fig)
    return _save_figure(fig, out, "selection_diagnostics.png", dpi=110)
