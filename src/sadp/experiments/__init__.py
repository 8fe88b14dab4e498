"""Experiments: run grids of training cells (``Sweep``) and summarise them (``build_report``)."""
from __future__ import annotations

from sadp.experiments.report import build_report, load_runs
from sadp.experiments.sweep import Sweep
from sadp.experiments.sweep_cells import Cell
from sadp.experiments.sweep_spec import Launcher, SweepSpec, resolve_data_dir

__all__ = ["Cell", "Launcher", "Sweep", "SweepSpec", "build_report", "load_runs", "resolve_data_dir"]
