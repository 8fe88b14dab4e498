"""Run (or continue) a sweep: the cells of a spec as ``sadp train`` processes, ``jobs`` at a time.

The spec and its grid are :mod:`sadp.experiments.sweep_spec`, a cell and its state on disk
:mod:`sadp.experiments.sweep_cells`. Each cell runs as a separate process (``python -m sadp train
--config cell.yaml``), ``jobs`` at a time, each limited to ``cores // jobs`` threads; a cell with
summary.json is skipped, one with only a checkpoint is continued with ``--resume``, and a failed
cell is reported while the others go on.
"""
from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, TextIO

import yaml

from sadp.experiments.sweep_cells import Cell, cell_state, cell_work, epochs_done, select_cells
from sadp.experiments.sweep_spec import Launcher, SweepSpec
from sadp.registry import METHODS
from sadp.train.config import TrainConfig
from sadp.utils.io import atomic_write_json, atomic_write_text

CELL_CONFIG = "cell.yaml"
CELL_INFO = "cell.json"
CELL_LOG = "train.log"
SWEEP_INFO = "sweep.json"
GLIBC_TUNABLES = "glibc.malloc.mmap_threshold=4294967296:glibc.malloc.trim_threshold=4294967296"


def _fmt(seconds: float) -> str:
    s = int(round(max(0.0, seconds)))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


def _raise_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")  # stop the cells as Ctrl-C does


@dataclass
class _Running:
    cell: Cell
    proc: subprocess.Popen
    log: TextIO
    started: float


class Sweep:
    """Run (or continue) a sweep into ``out``; see the module docstring."""

    def __init__(self, spec: SweepSpec, out: str | Path, jobs: int = 1, launcher: Launcher | None = None,
                 cores: int | None = None, echo: Callable[[str], None] | None = None,
                 poll_s: float = 1.0, status_every_s: float = 60.0, only: list[str] | None = None,
                 threads: int | None = None) -> None:
        if jobs < 1:
            raise ValueError(f"jobs must be >= 1, got {jobs}")
        if threads is not None and threads < 1:
            raise ValueError(f"threads must be >= 1, got {threads}")
        self.threads = threads
        # Absolute, so a rerun from another working directory still matches the checkpoints' config.
        self.spec, self.out, self.jobs = spec, Path(out).resolve(), jobs
        self.launcher = launcher or spec.launcher
        self.cores = cores or os.cpu_count() or 1
        self.echo = echo or (lambda msg: print(msg, flush=True))
        self.poll_s, self.status_every_s = poll_s, status_every_s
        unknown = sorted({m["method"] for m in spec.methods} - set(METHODS.names()))
        if unknown:
            raise ValueError(f"unknown pruning method(s) {unknown}; available: {', '.join(METHODS.names())}")
        self.cells = spec.cells(self.out)
        self.selected = select_cells(self.cells, only) if only else list(self.cells)
        self.status: dict[str, str] = {}

    def threads_per_process(self) -> int:
        """``threads`` if given, else the cores shared out over the processes running at once."""
        return self.threads or max(1, self.cores // (self.jobs * self.launcher.processes))

    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        n = str(self.threads_per_process())
        # torch reads OMP_NUM_THREADS at start-up: parallel cells share the cores instead of
        # each taking all of them.
        env.update(OMP_NUM_THREADS=n, MKL_NUM_THREADS=n)
        # Keep freed activation memory in glibc's heap instead of unmapping and page-faulting it
        # back every step (its effect on small_cnn is measured in docs/experiments.md). Ignored by
        # other libcs; a value already in the environment wins.
        env.setdefault("GLIBC_TUNABLES", GLIBC_TUNABLES)
        return env

    def _write_info(self, command: list[str] | None = None) -> None:
        atomic_write_json(self.out / SWEEP_INFO, {
            "name": self.spec.name,
            "spec": self.spec.source,
            "command": command,
            "jobs": self.jobs,
            "threads_per_process": self.threads_per_process(),
            "launcher": dataclasses.asdict(self.launcher),
            "cells": [{**c.info(), "dir": str(c.out.relative_to(self.out)),
                       "status": self.status.get(c.id, cell_state(c))} for c in self.cells],
        })

    def _start(self, cell: Cell, env: dict[str, str]) -> _Running:
        cell.out.mkdir(parents=True, exist_ok=True)
        config_path = cell.out / CELL_CONFIG
        atomic_write_text(config_path, yaml.safe_dump(cell.config, sort_keys=False))
        atomic_write_json(cell.out / CELL_INFO, cell.info())
        resume = cell_state(cell) == "partial"
        log = open(cell.out / CELL_LOG, "a")
        log.write(f"\n=== {time.strftime('%Y-%m-%d %H:%M:%S')} {'resume' if resume else 'start'} {cell.id}\n")
        log.flush()
        cmd = self.launcher.command(config_path, resume)
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
        self.status[cell.id] = "running"
        return _Running(cell, proc, log, time.perf_counter())

    def plan(self) -> list[tuple[Cell, str]]:
        """Each cell with what ``run`` would do, in the order it would: skip (done), resume
        (partial) or start (new); then the cells ``only`` left out, marked ``-``."""
        action = {"done": "skip", "partial": "resume", "new": "start"}
        chosen = {c.id for c in self.selected}
        left_out = [(c, "-") for c in self.cells if c.id not in chosen]
        return [(c, action[cell_state(c)]) for c in self.selected] + left_out

    def run(self, command: list[str] | None = None) -> dict[str, str]:
        """Run every unfinished cell; returns {cell id: done | skipped | failed}."""
        self.out.mkdir(parents=True, exist_ok=True)
        todo = []
        for cell in self.selected:
            if cell_state(cell) == "done":
                self.status[cell.id] = "skipped"
            else:
                todo.append(cell)
        info_path = self.out / SWEEP_INFO
        if not todo and info_path.exists():  # nothing to run: keep the command that produced the results
            command = json.loads(info_path.read_text()).get("command") or command
        self._write_info(command)
        total_work = sum(cell_work(c) for c in self.selected)
        work_before = {c.id: self._work_done(c) for c in self.selected}
        part = f" ({len(self.selected)} of {len(self.cells)} selected)" if len(self.selected) < len(self.cells) else ""
        self.echo(f"sweep {self.spec.name}: {len(self.selected)} cells{part}, "
                  f"{len(self.selected) - len(todo)} already done, {len(todo)} to run with {self.jobs} job(s) x "
                  f"{self.threads_per_process()} thread(s) -> {self.out}")
        env = self._env()
        running: list[_Running] = []
        t0 = last_status = time.perf_counter()
        on_term = _raise_interrupt if threading.current_thread() is threading.main_thread() else None
        previous = signal.signal(signal.SIGTERM, on_term) if on_term else None
        try:
            while todo or running:
                while todo and len(running) < self.jobs:
                    r = self._start(todo.pop(0), env)
                    running.append(r)
                    self.echo(f"  start  {r.cell.id}" + (" (resuming)" if epochs_done(r.cell) else ""))
                for r in list(running):
                    if r.proc.poll() is None:
                        continue
                    running.remove(r)
                    r.log.close()
                    self._finished(r, time.perf_counter() - r.started)
                    self.echo("  " + self._progress(t0, total_work, work_before, running))
                    self._write_info(command)
                now = time.perf_counter()
                if running and now - last_status >= self.status_every_s:
                    last_status = now
                    self.echo("  " + self._progress(t0, total_work, work_before, running))
                if running:
                    time.sleep(self.poll_s)
        except KeyboardInterrupt:
            for r in running:  # each keeps its last epoch's checkpoint; a rerun resumes it
                r.proc.terminate()
            for r in running:
                r.proc.wait()
                r.log.close()
                self.status[r.cell.id] = "interrupted"
            self._write_info(command)
            raise
        finally:
            if on_term:
                signal.signal(signal.SIGTERM, previous)
        failed = [k for k, v in self.status.items() if v == "failed"]
        self.echo(f"sweep {self.spec.name}: {sum(v == 'done' for v in self.status.values())} ran, "
                  f"{sum(v == 'skipped' for v in self.status.values())} skipped, {len(failed)} failed "
                  f"in {_fmt(time.perf_counter() - t0)}" + (f"; failed: {', '.join(failed)}" if failed else ""))
        return dict(self.status)

    def _finished(self, r: _Running, elapsed: float) -> None:
        cell = r.cell
        if r.proc.returncode == 0 and cell_state(cell) == "done":
            self.status[cell.id] = "done"
            summary = json.loads((cell.out / "summary.json").read_text())
            self.echo(f"  done   {cell.id} in {_fmt(elapsed)}: test acc {summary['test_acc']:.4f}, "
                      f"train acc {summary['final_train_acc']:.4f}")
            return
        self.status[cell.id] = "failed"
        tail = (cell.out / CELL_LOG).read_text(errors="replace").strip().splitlines()[-8:]
        self.echo(f"  FAILED {cell.id} (exit code {r.proc.returncode}) after {_fmt(elapsed)}; "
                  f"log {cell.out / CELL_LOG}:\n" + "\n".join("    | " + line for line in tail))

    def _work_done(self, cell: Cell) -> float:
        epochs = int(cell.config.get("epochs", TrainConfig.epochs))
        return cell_work(cell) * min(1.0, epochs_done(cell) / max(1, epochs))

    def _progress(self, t0: float, total: float, before: dict[str, float], running: list[_Running]) -> str:
        done_now = {c.id: self._work_done(c) for c in self.selected}
        failed = {k for k, v in self.status.items() if v == "failed"}
        # Failed cells will not progress further: count their remaining work as settled.
        settled = sum(cell_work(c) - done_now[c.id] for c in self.selected if c.id in failed)
        finished = sum(done_now.values())
        gained = finished - sum(before.values())
        elapsed = time.perf_counter() - t0
        remaining = max(0.0, total - finished - settled)
        eta = f"ETA {_fmt(remaining * elapsed / gained)}" if gained > 0 else "ETA ?"
        n_done = sum(v in ("done", "skipped") for v in self.status.values())
        return (f"[{n_done}/{len(self.selected)} cells done, {len(running)} running, {len(failed)} failed; "
                f"{100 * finished / max(total, 1e-9):.0f}% of the work; elapsed {_fmt(elapsed)}, {eta}]")
