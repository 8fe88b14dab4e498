"""The PNG plots of ``sadp diagnose``: scores against the true norms and variance bars per mode,
Spearman against warm-up epochs."""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from torch import Tensor

from sadp.diagnostics.tables import SUMMARY_SCORES


def plot(out: Path, prefix: str, scores: dict[str, Tensor], true: Tensor, result: dict[str, Any]) -> None:
    """PREFIX_scores_vs_true_norm.png and PREFIX_variance_ratio.png for one mode's measurement."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [k for k in scores if k != "oracle"]
    cols = min(3, len(names))
    rows = math.ceil(len(names) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 3.6 * rows), squeeze=False)
    t = true.detach().cpu().numpy()
    for ax, name in zip(axes.flat, names):
        s = scores[name].detach().cpu().numpy()
        ax.scatter(t, s, s=4, alpha=0.5)
        ax.set_xscale("log")
        if s.min() > 0:
            ax.set_yscale("log")
        else:  # a score that can be 0 (silent layer without the +1)
            ax.set_yscale("symlog", linthresh=max(1e-6, float(s[s > 0].min()) if (s > 0).any() else 1e-3))
        ax.set_xlabel("true gradient norm")
        ax.set_ylabel(name)
        ax.set_title(f"{name}: Spearman {result['spearman'][name]:.3f}")
    for ax in list(axes.flat)[len(names):]:
        ax.axis("off")
    fig.suptitle(result["description"], fontsize=9)
    fig.tight_layout()
    fig.savefig(out / f"{prefix}_scores_vs_true_norm.png", dpi=110)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(7, 3.6))
    by_ratio = result["variance_ratio_by_ratio"]
    methods = list(next(iter(by_ratio.values())))
    width = 0.8 / len(by_ratio)
    for j, (r, row) in enumerate(by_ratio.items()):
        ax.bar([i + j * width for i in range(len(methods))], [row[m] for m in methods], width, label=r)
    ax.set_xticks([i + width * (len(by_ratio) - 1) / 2 for i in range(len(methods))], methods, rotation=20)
    ax.axhline(1.0, color="k", lw=0.8)
    ax.set_ylabel("estimator variance / uniform")
    ax.set_title(result["description"], fontsize=9)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0))  # beside the bars, never over them
    fig.tight_layout()
    fig.savefig(out / f"{prefix}_variance_ratio.png", dpi=110)
    plt.close(fig)


def plot_by_epoch(out: Path, result: dict[str, Any]) -> None:
    """fidelity_by_epoch.png: Spearman of each score against warm-up epochs, solid train mode, dashed eval."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [p["warmup_epochs"] for p in result["measurements"]]
    fig, ax = plt.subplots(figsize=(7, 3.8))
    for j, (key, label) in enumerate(SUMMARY_SCORES):
        for mode in result["config"]["modes"]:
            ys = [p[f"{mode}_mode"]["spearman"][key] for p in result["measurements"]]
            ax.plot(epochs, [float("nan") if v is None else v for v in ys], marker="o", color=f"C{j}",
                    ls="-" if mode == "train" else "--", label=f"{label} ({mode} mode)")
    ax.set_xlabel("warm-up epochs")
    ax.set_ylabel("Spearman with true gradient norm")
    ax.axhline(0.0, color="k", lw=0.6)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), handlelength=3.5)
    fig.tight_layout()
    fig.savefig(out / "fidelity_by_epoch.png", dpi=110)
    plt.close(fig)
