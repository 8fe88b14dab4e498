"""Summarise a sweep (or any directory of `sadp train` runs) into a markdown report.

Writes REPORT_DIR/report.md (the answer in words; the full-data runs' fit and plateau check;
accuracy mean +- std, 95% CI and n per method x ratio; paired-by-seed comparisons against
random_dynamic, against full data and at equal examples seen, each with a 95% CI, sign and
Wilcoxon tests; time-to-accuracy; per-epoch and whole-run speedup against theory; SADP's
spike-factor spread), table.csv/table.json/runs.csv/paired.csv/tta.csv/speedup.csv, and PNG
plots (cost-accuracy frontier, learning curves against examples seen and training time,
accuracy and time vs ratio, test accuracy per epoch).
"""
from __future__ import annotations

import argparse


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir", help="sweep directory (searched recursively for summary.json)")
    p.add_argument("--out", default=None, help="report directory [default: RUN_DIR/report]")
    p.add_argument("--title", default=None, help="report title [default: from the sweep's name]")
    p.add_argument("--no-plots", action="store_true", help="tables only")
    p.add_argument("--min-seeds", type=int, default=1, metavar="N",
                   help="report only cells (method x ratio x dataset) with at least N seeds; the others are "
                        "listed as held back [default: 1]")
    p.add_argument("--debug", action="store_true", help="show full tracebacks")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from sadp.experiments.report import build_report

    result = build_report(args.run_dir, args.out, title=args.title, plots=not args.no_plots, min_seeds=args.min_seeds)
    out = Path(args.out) if args.out else Path(args.run_dir) / "report"
    held = f", {len(result['held_back'])} held back" if result["held_back"] else ""
    print(f"report: {len(result['table'])} rows, {len(result['missing'])} missing cell(s){held} -> {out / 'report.md'}")
    return 0
