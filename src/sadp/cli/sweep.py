"""Run methods x pruning ratios x seeds from a YAML spec (see experiments/*.yaml).

Each cell is a `sadp train` run in OUT/runs/<method>-r<ratio>-s<seed>/. Cells with a
summary.json are skipped and interrupted ones resumed, so rerunning the same command continues a
sweep. --jobs N runs N cells at once as separate processes, each with cores/N torch threads. A
failed cell is reported and the others go on; the exit status is 1 if any failed. Afterwards:
`sadp report OUT`.
"""
from __future__ import annotations

import argparse
import shlex
import sys


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("spec", help="sweep spec YAML (methods, ratios, seeds, settings)")
    p.add_argument("--out", required=True, help="sweep directory (one run directory per cell below it)")
    p.add_argument("--jobs", type=int, default=1, help="cells run in parallel")
    p.add_argument("--threads", type=int, default=None,
                   help="torch threads per cell process [default: cores / (jobs x processes per cell)]; "
                        "--jobs 1 --threads 1 keeps one core per run, as a sweep run with --jobs 2 on 2 cores")
    p.add_argument("--launcher", choices=("python", "torchrun"), default=None,
                   help="start each cell with python -m sadp train, or torchrun -m sadp train "
                        "[default: the spec's, else python]")
    p.add_argument("--nproc-per-node", type=int, default=None, help="processes per cell with --launcher torchrun")
    p.add_argument("--only", action="append", metavar="PATTERN",
                   help="run only the cells whose id matches this glob (repeatable; cells run in the patterns' order), "
                        "e.g. --only 'sadp-r0.5-*' --only 'full-*'; sweep.json still lists the whole grid")
    p.add_argument("--dry-run", action="store_true", help="list the cells and what would happen to each, run nothing")
    p.add_argument("--debug", action="store_true", help="show full tracebacks")


def run(args: argparse.Namespace) -> int:
    from sadp.experiments.sweep import Sweep
    from sadp.experiments.sweep_spec import Launcher, SweepSpec

    spec = SweepSpec.load(args.spec)
    launcher = spec.launcher
    if args.launcher or args.nproc_per_node:
        launcher = Launcher(args.launcher or launcher.kind, args.nproc_per_node or launcher.nproc_per_node)
    sweep = Sweep(spec, args.out, jobs=args.jobs, launcher=launcher, only=args.only, threads=args.threads)
    if args.dry_run:
        for cell, action in sweep.plan():
            print(f"{action:<6} {cell.id:<28} {cell.out}")
        print(f"{len(sweep.cells)} cells; each: {' '.join(launcher.command(sweep.cells[0].out / 'cell.yaml', False))}")
        return 0
    command = ["sadp", "sweep", args.spec, "--out", args.out, "--jobs", str(args.jobs)]
    if args.threads:
        command += ["--threads", str(args.threads)]
    if launcher.kind != "python":
        command += ["--launcher", launcher.kind, "--nproc-per-node", str(launcher.nproc_per_node)]
    for pattern in args.only or []:
        command += ["--only", pattern]
    try:
        status = sweep.run(command=command)  # recorded in sweep.json, quoted by the report
    except KeyboardInterrupt:
        print("sweep interrupted; running cells keep their last checkpoint. Rerun to continue:\n  "
              f"{shlex.join(command)}",
              file=sys.stderr)
        return 130
    return 1 if any(v == "failed" for v in status.values()) else 0
