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
from pathlib import Path
from typing import Any

from sadp.experiments.report_markdown import (
    STATS_NOTE,
    acc_cell,
    held_lines,
    least_cost_sentence,
    paired_markdown,
    pooled_section,
    render_markdown,
    variant_section,
    verdict_summary,
)
from sadp.experiments.report_tables import (
    cost_of_pruning,
    diagnostics_table,
    equal_seen_comparison,
    hold_back,
    paired_comparison,
    plateau_check,
    pooled_paired,
    seed_noise,
    speedup_table,
    spike_awareness,
    spike_factor_per_epoch,
    spike_factor_table,
    summary_table,
    time_to_accuracy,
    tta_table,
    vs_short_schedule,
)
from sadp.experiments.runs import BASELINE_LABEL, Run, is_full_row, load_runs, time_basis
from sadp.utils.io import atomic_write_json, atomic_write_text

# The report's public entry points: building it, and the tables it is made of.
__all__ = [
    "Run", "build_report", "cost_of_pruning", "diagnostics_table", "equal_seen_comparison", "hold_back", "load_runs",
    "paired_comparison", "plateau_check", "pooled_paired", "seed_noise", "speedup_table", "spike_awareness",
    "spike_factor_per_epoch", "spike_factor_table", "summary_table", "time_to_accuracy", "tta_table",
    "vs_short_schedule",
]


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
        results[g] = _single_report(sub, sub_missing, None, out / g, f"{title}: {g}", command, plots, sub_held,
                                    min_seeds)
    lines = [f"# {title}", ""]
    if command:
        lines += ["Command:", "", "```", command, "```", ""]
    if missing:
        lines += [f"**Incomplete: {len(missing)} cell(s) have no result and are left out:** " + ", ".join(missing), ""]
    lines += held_lines(held, min_seeds)
    merged = {key: [{"dataset": g, **row} for g in groups for row in results[g][key]] for key in RESULT_KEYS}
    lines += ["## Every method against random_dynamic, paired by seed, per dataset", "",
              f"Test accuracy difference (pp), method minus {BASELINE_LABEL} at the same ratio. " + STATS_NOTE, ""]
    lines.append(paired_markdown(merged["paired"], dataset=True) if merged["paired"] else "No paired comparisons.")
    lines += verdict_summary(merged["paired"])
    lines += verdict_summary(merged["cost"], "sadp", "against full data (the cost of pruning)")
    lines += ["", "## Time to accuracy, per dataset", ""]
    for g in groups:
        lines += [f"- **{g}**: " + least_cost_sentence(tta_table(results[g]["tta"]),
                                                        time_basis([r for r in runs if r.group == g]))]
    lines += pooled_section(runs, groups)
    lines += variant_section(runs, groups)
    lines += ["", "## Accuracy per dataset", ""]
    for g in groups:
        full = [r for r in results[g]["table"] if is_full_row(r)]
        head = (f"full data {acc_cell(full[0]['test_acc_mean'], full[0]['test_acc_std'], full[0]['n'])}" if full
                else "no full-data run")
        lines += [f"- **{g}** ({head}): [report]({g}/report.md)"]
    atomic_write_text(out / "report.md", "\n".join(lines) + "\n")
    atomic_write_json(out / "table.json", _nan_to_none({**merged, "missing": missing, "held_back": held}))
    files = ["report.md", "table.json"] + [f"{g}/{f}" for g in groups for f in results[g]["files"]]
    return {**merged, "missing": missing, "files": files}


def _single_report(runs: list[Run], missing: list[str], run_dir: Path | None, out: Path, title: str,
                   command: str | None, plots: bool, held: list[str] | None = None,
                   min_seeds: int = 1) -> dict[str, Any]:
    from sadp.experiments.report_plots import make_plots

    out.mkdir(parents=True, exist_ok=True)
    table, paired = summary_table(runs), paired_comparison(runs)
    cost, equal = cost_of_pruning(runs), equal_seen_comparison(runs)
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
                                                         cost=cost, equal=equal, tta=tta, speed=speed, short=short,
                                                         aware=aware,
                                                         held_lines=held_lines(held or [], min_seeds)))
    return {"table": table, "paired": paired, "cost": cost, "equal_seen": equal, "tta": tta, "speedup": speed,
            "missing": missing, "files": files + plot_names}
