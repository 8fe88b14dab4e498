"""The text ``sadp diagnose`` prints: one table per measured mode and a summary over warm-up lengths."""
from __future__ import annotations

import math
from typing import Any


def _num(v: float | None, width: int, digits: int = 3) -> str:
    return f"{'-' if v is None or not math.isfinite(v) else f'{v:.{digits}f}':>{width}}"


def format_table(result: dict[str, Any]) -> str:
    """One mode's measurement: scores by Spearman, Pearson and variance; head identity; bias."""
    ratios = list(result["variance_ratio_by_ratio"])
    lines = [f"{'score':<18}{'spearman':>10}{'pearson':>10}" + "".join(f"{'var ' + r:>12}" for r in ratios)]
    for name in list(result["spearman"]) + ["oracle", "uniform"]:
        corr = "".join(_num(result[k][name], 10) if name in result[k] else " " * 10 for k in ("spearman", "pearson"))
        cells = "".join(_num(result["variance_ratio_by_ratio"][r].get(name), 12) for r in ratios)
        lines.append(f"{name:<18}{corr}{cells}")
    h = result["head_identity"]
    lines.append(f"head identity: max relative error {h['max_relative_error']:.2e} ({h['examples_off']} examples "
                 f"over 1e-4); bound >= [W b] norm for all: {h['bound_holds']} "
                 f"(min ratio {h['min_bound_over_norm']:.3f})")
    for row in result["bias_sadp"]:
        lines.append(f"bias (sadp, r={ratios[0].split('=')[1]}): {row['draws']:>6} draws  |mean - G|/|G| = "
                     f"{row['relative_error']:.4f}  (noise level {row['noise_level']:.4f})")
    lines.append(f"accuracy on the scored examples: {100 * result['accuracy']:.1f}%, silent head input: "
                 f"{100 * result['silent_head_fraction']:.1f}%, spike factor CV: {result['spike_factor_cv']:.3f}")
    return "\n".join(lines)


def format_point(point: dict[str, Any], modes: list[str]) -> str:
    """Every mode measured after one warm-up length, each under a header naming its mode."""
    blocks = []
    for mode in modes:
        res = point[f"{mode}_mode"]
        blocks.append(f"== after {point['warmup_epochs']} warm-up epochs (test acc {100 * point['test_acc']:.1f}%), "
                      f"{res['description']}\n{format_table(res)}")
    return "\n".join(blocks)


SUMMARY_SCORES = (("loss", "loss"), ("grad_bound", "ANN bound"), ("sadp", "SADP"), ("sadp_multilayer", "SADP multi"))


def format_summary(result: dict[str, Any]) -> str:
    """One row per (warm-up, mode): Spearman with the true norms and variance / uniform at the first ratio."""
    ratio = f"r={result['config']['ratios'][0]}"
    head = (f"{'warm-up':>7} {'mode':<5} {'test acc':>8} {'acc':>6} {'silent':>7} {'CV':>6}"
            + "".join(f"{'sp ' + label:>14}" for _, label in SUMMARY_SCORES)
            + "".join(f"{'var ' + label:>14}" for label in ("ANN bound", "SADP", "oracle")))
    lines = [f"Spearman (sp) with the true per-example gradient norm and estimator variance at {ratio} "
             "relative to uniform (var), by warm-up and mode", head]
    for point in result["measurements"]:
        for mode in result["config"]["modes"]:
            res = point[f"{mode}_mode"]
            var = res["variance_ratio_by_ratio"][ratio]
            lines.append(f"{point['warmup_epochs']:>7} {mode:<5} {100 * point['test_acc']:>7.1f}% "
                         f"{100 * res['accuracy']:>5.1f}% {100 * res['silent_head_fraction']:>6.1f}% "
                         f"{_num(res['spike_factor_cv'], 6)}"
                         + "".join(_num(res["spearman"][k], 14) for k, _ in SUMMARY_SCORES)
                         + "".join(_num(var[k], 14) for k in ("grad_bound", "sadp", "oracle")))
    return "\n".join(lines)
