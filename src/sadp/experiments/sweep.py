"""Run a grid of ``sadp train`` cells: methods x pruning ratios x seeds from one YAML spec.

A spec (see ``experiments/*.yaml``)::

    name: cifar10-cpu
    methods: [full, random_dynamic, infobatch, sadp]   # or {name: label, method: m, ...overrides}
    ratios: [0.3, 0.5]
    seeds: [0, 1]
    settings:                  # shared TrainConfig keys, for every cell
      dataset: imagefolder
      data_dir: ${CIFAR10_DIR}  # a path; $VAR / ${VAR} are read from the environment
      epochs: 30
    method_options:            # optional, per method label
      sadp: {floor: 0.2}

A full-data entry with ``matched_to: <method>`` runs full data on a complete, shorter schedule per
ratio: E' = E x the share of full-data examples that ``<method>`` trains on at that ratio (half up),
with warm-up and cosine over E' (``{name: full_short, method: full, matched_to: random_dynamic,
ratios: [0.5, 0.7]}``: cells ``full_short-r0.5-sS``, "full data, short schedule, matched to r = 0.5").

Full-data methods (``full_methods``, default ``[full]``) run once per seed with ratio 0, not once
per ratio. Each cell is one run directory ``OUT/runs/<cell id>/`` following the ``sadp train``
contract (summary.json, metrics.jsonl, checkpoint.pt). A cell with summary.json is skipped; one
with only a checkpoint is continued with ``--resume``. ``only`` (glob patterns over cell ids) runs a
part of the grid, in the patterns' order, for sweeps run in sittings. Cells run as separate processes
(``python -m sadp train --config cell.yaml``), ``jobs`` at a time, each limited to
``cores // jobs`` threads; a failed cell is reported and the others go on.
"""
from __future__ import annotations

import dataclasses
import fnmatch
import json
import math
import os
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, TextIO

import yaml

from sadp.registry import DATASETS, METHODS
from sadp.train.config import TrainConfig, load_yaml
from sadp.utils.io import atomic_write_json, atomic_write_text

_ENV_VAR = re.compile(r"\$(?:(\w+)|\{(\w+)\})")  # $NAME or ${NAME}
RUNS_DIR = "runs"
CELL_CONFIG = "cell.yaml"
CELL_INFO = "cell.json"
CELL_LOG = "train.log"
SWEEP_INFO = "sweep.json"
GLIBC_TUNABLES = "glibc.malloc.mmap_threshold=4294967296:glibc.malloc.trim_threshold=4294967296"
SPEC_KEYS = {"name", "description", "methods", "ratios", "seeds", "settings", "method_options", "full_methods", "launcher",
             "datasets"}
DATASET_KEYS = {"name", "settings", "methods", "ratios"}


@dataclass(frozen=True)
class Cell:
    """One run of the grid: a method label at one ratio and seed, with its full training config."""

    label: str  # the method's name in reports (a method, or a named variant of one)
    method: str
    ratio: float
    seed: int
    config: dict[str, Any]  # TrainConfig keys, ``out`` included
    group: str = ""  # the spec's dataset entry ("" for a single-dataset spec)
    # A full-data cell on a short schedule: the pruning method whose examples seen it matches (at
    # ``ratio``) and the epochs of the schedule it shortens; "" and 0 for every other cell.
    matched_to: str = ""
    reference_epochs: int = 0

    @property
    def id(self) -> str:
        cell = f"{self.label}-r{self.ratio:g}-s{self.seed}"
        return f"{self.group}/{cell}" if self.group else cell

    @property
    def out(self) -> Path:
        return Path(self.config["out"])

    def info(self) -> dict[str, Any]:
        return {"id": self.id, "label": self.label, "method": self.method, "ratio": self.ratio, "seed": self.seed,
                **({"group": self.group} if self.group else {}),
                **({"matched_to": self.matched_to, "reference_epochs": self.reference_epochs,
                    "epochs": self.config.get("epochs")} if self.matched_to else {})}


@dataclass
class Launcher:
    """How each cell's process is started: plain ``python -m sadp train`` or through torchrun."""

    kind: str = "python"  # python | torchrun
    nproc_per_node: int = 1

    def command(self, config_path: Path, resume: bool) -> list[str]:
        if self.kind == "python":
            cmd = [sys.executable, "-m", "sadp", "train"]
        elif self.kind == "torchrun":
            # torch.distributed.run is torchrun's module; --standalone picks a free port, so
            # parallel cells do not collide on the default rendezvous port.
            cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone",
                   f"--nproc_per_node={self.nproc_per_node}", "-m", "sadp", "train"]
        else:
            raise ValueError(f"launcher must be python or torchrun, got {self.kind!r}")
        cmd += ["--config", str(config_path), "--no-progress"]
        return cmd + ["--resume"] if resume else cmd

    @property
    def processes(self) -> int:
        return self.nproc_per_node if self.kind == "torchrun" else 1


@dataclass
class SweepSpec:
    """A parsed, validated sweep specification."""

    name: str
    methods: list[dict[str, Any]]  # each {name, method, method_options, overrides}
    ratios: list[float]
    seeds: list[int]
    settings: dict[str, Any] = field(default_factory=dict)
    full_methods: list[str] = field(default_factory=lambda: ["full"])
    launcher: Launcher = field(default_factory=Launcher)
    source: dict[str, Any] = field(default_factory=dict)  # the spec as written
    # Optional dataset entries, each {name, settings, methods (labels, default all), ratios}: the grid
    # runs once per entry, its settings over the shared ones, into OUT/runs/<name>/.
    datasets: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def from_dict(cls, d: dict[str, Any], name: str = "sweep") -> "SweepSpec":
        unknown = set(d) - SPEC_KEYS
        if unknown:
            raise ValueError(f"unknown sweep spec keys: {sorted(unknown)}; valid keys: {sorted(SPEC_KEYS)}")
        for key in ("methods", "seeds"):
            if not d.get(key):
                raise ValueError(f"sweep spec needs a non-empty {key!r} list")
        settings = dict(d.get("settings") or {})
        _check_no_grid_keys(settings)
        full = list(d.get("full_methods") or ["full"])
        per_method = dict(d.get("method_options") or {})
        methods = []
        for m in d["methods"]:
            entry = {"name": m} if isinstance(m, str) else dict(m)
            if "name" not in entry:
                raise ValueError(f"a method entry needs a name: {m!r}")
            label = str(entry.pop("name"))
            method = str(entry.pop("method", label))
            options = {**per_method.get(label, {}), **(entry.pop("method_options", None) or {})}
            only = entry.pop("ratios", None)  # this method at these ratios only (e.g. variants)
            matched_to = entry.pop("matched_to", None)
            if matched_to is not None:
                if method not in full:
                    raise ValueError(f"method entry {label!r}: matched_to is for full-data methods ({full}), not {method!r}")
                if matched_to not in METHODS:
                    raise ValueError(f"method entry {label!r}: matched_to names unknown method {matched_to!r}; "
                                     f"available: {', '.join(METHODS.names())}")
            methods.append({"name": label, "method": method, "method_options": options, "overrides": entry,
                            "ratios": [float(r) for r in only] if only else None, "matched_to": matched_to})
        labels = [m["name"] for m in methods]
        if len(set(labels)) != len(labels):
            raise ValueError(f"method names must be unique, got {labels}")
        ratios = [float(r) for r in d.get("ratios") or []]
        if not ratios and any(m["method"] not in full or m["matched_to"] for m in methods if not m["ratios"]):
            raise ValueError("sweep spec needs a non-empty 'ratios' list for its pruning methods")
        launcher = Launcher(**(d.get("launcher") or {}))
        datasets = []
        for entry in d.get("datasets") or []:
            if not isinstance(entry, dict) or "name" not in entry or set(entry) - DATASET_KEYS:
                raise ValueError(f"a datasets entry is a mapping with keys {sorted(DATASET_KEYS)} (name required), got {entry!r}")
            bad = set(entry.get("methods") or []) - set(labels)
            if bad:
                raise ValueError(f"datasets entry {entry['name']!r} names unknown methods {sorted(bad)}; spec methods: {labels}")
            _check_no_grid_keys(entry.get("settings") or {})
            datasets.append({"name": str(entry["name"]), "settings": dict(entry.get("settings") or {}),
                             "methods": list(entry.get("methods") or labels),
                             "ratios": [float(r) for r in entry["ratios"]] if entry.get("ratios") else None})
        names = [e["name"] for e in datasets]
        if len(set(names)) != len(names):
            raise ValueError(f"datasets entry names must be unique, got {names}")
        return cls(name=str(d.get("name", name)), methods=methods, ratios=ratios,
                   seeds=[int(s) for s in d["seeds"]], settings=settings, full_methods=full,
                   launcher=launcher, source=d, datasets=datasets)

    @classmethod
    def load(cls, path: str | Path) -> "SweepSpec":
        return cls.from_dict(load_yaml(path), name=Path(path).stem)

    def cells(self, out: str | Path, resolve_data: bool = True) -> list[Cell]:
        """Every cell of the grid, its config validated by TrainConfig (nothing runs yet); with
        dataset entries, the grid of each entry in the spec's order."""
        entries = self.datasets or [{"name": "", "settings": {}, "methods": [m["name"] for m in self.methods], "ratios": None}]
        runs = Path(out) / RUNS_DIR
        cells = []
        for entry in entries:
            settings = {**self.settings, **entry["settings"]}
            if resolve_data and isinstance(settings.get("data_dir"), str):
                settings["data_dir"] = resolve_data_dir(settings["data_dir"], settings.get("dataset"))
            for seed in self.seeds:
                for m in self.methods:
                    if m["name"] not in entry["methods"]:
                        continue
                    matched_to = m.get("matched_to")
                    ratios = (m["ratios"] or entry["ratios"] or self.ratios) if matched_to or m["method"] not in self.full_methods \
                        else [0.0]
                    for ratio in ratios:
                        config = {**settings, **m["overrides"], "method": m["method"], "ratio": ratio, "seed": seed}
                        config["method_options"] = {**(config.get("method_options") or {}), **m["method_options"]}
                        extra: dict[str, Any] = {}
                        if matched_to:
                            epochs = int(config.get("epochs", TrainConfig.epochs))
                            config.update(ratio=0.0, epochs=short_schedule_epochs(
                                matched_to, config.get("subset"), ratio, epochs,
                                next((x["method_options"] for x in self.methods if x["name"] == matched_to), None)))
                            extra = {"matched_to": matched_to, "reference_epochs": epochs}
                        cell = Cell(m["name"], m["method"], ratio, seed, config, group=entry["name"], **extra)
                        config["out"] = str(runs / cell.id)
                        _check_method(cell.id, TrainConfig.from_dict(config).validate())  # fail before anything runs
                        cells.append(cell)
        return cells


def short_schedule_epochs(method: str, num_examples: int | None, ratio: float, epochs: int,
                          options: dict[str, Any] | None = None) -> int:
    """E' = E x f rounded half up, at least 1: the epochs of a full-data schedule that trains on as many
    examples as ``method`` at ``ratio`` over ``epochs``, f being the share of full data its epochs hold
    (``PruningMethod.epoch_size``, full epochs included). ``num_examples`` is the training set size (a
    sweep's ``subset``); without it a nominal 1,000 examples are counted, which can move the rounding
    of K. A method whose epoch sizes depend on training (InfoBatch, SeTa) cannot be matched."""
    n = int(num_examples or 1000)
    try:
        m = METHODS.build(method, n, ratio=ratio, epochs=epochs, **(options or {}))
    except (KeyError, TypeError, ValueError) as e:
        raise ValueError(f"cannot match a short schedule to {method!r} at ratio {ratio:g}: {e}") from None
    sizes = [m.epoch_size(e) for e in range(epochs)]
    if any(size is None for size in sizes):
        raise ValueError(f"cannot match a short schedule to {method!r}: its epoch sizes depend on training")
    return max(1, math.floor(sum(sizes) / n + 0.5))  # half up: 34.5 -> 35 (Python's round() would give 34)


def _check_method(cell_id: str, cfg: TrainConfig) -> None:
    """Build the cell's pruning method once, so an unknown method or a bad method option fails when
    the spec is parsed rather than cell by cell at run time. The data is not loaded yet: the size
    is the cell's ``subset`` or a nominal 1,000 examples."""
    try:
        METHODS.build(cfg.method, cfg.subset or 1000, ratio=cfg.ratio, epochs=cfg.epochs, seed=cfg.seed,
                      **cfg.method_options)
    except (KeyError, TypeError, ValueError) as e:
        raise ValueError(f"cell {cell_id}: {e.args[0] if e.args else e}") from None


def _check_no_grid_keys(settings: dict[str, Any]) -> None:
    grid_keys = {"method", "ratio", "seed", "out", "resume"} & set(settings)
    if grid_keys:
        raise ValueError(f"settings must not set {sorted(grid_keys)}: the sweep sets them per cell")


def resolve_data_dir(data_dir: str, dataset: str | None = None) -> str:
    """``data_dir`` with ``~`` and every ``$VAR`` / ``${VAR}`` expanded from the environment (as
    ``os.path.expanduser`` and ``os.path.expandvars``), so a spec can say ``data_dir: ${CIFAR10_DIR}``.
    An unset variable is an error naming it and what it should point to (``dataset``'s folder)."""
    def value(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        if name not in os.environ:
            what = f"the folder of dataset {dataset!r} ({DATASETS.help(dataset)})" if dataset else "the dataset's folder"
            raise ValueError(f"data_dir {data_dir!r} needs the environment variable {name}, which is not set; "
                             f"set {name} to {what}")
        return os.environ[name]

    return os.path.expanduser(_ENV_VAR.sub(value, data_dir))


def select_cells(cells: list[Cell], patterns: list[str]) -> list[Cell]:
    """The cells whose id (``method-rR-sS``, or ``dataset/method-rR-sS`` in a sweep with dataset
    entries) matches one of the glob ``patterns``, ordered by the first pattern each matches, then
    as in the spec: ``["sadp-r0.5-*", "full-*"]`` runs SADP's seeds first. A pattern that matches
    nothing is an error (a typo would otherwise run nothing and say nothing)."""
    chosen: list[Cell] = []
    for pattern in patterns:
        hits = [c for c in cells if _matches(c.id, pattern)]
        if not hits:
            examples = ", ".join(c.id for c in cells[:4])
            raise ValueError(f"--only {pattern!r} matches none of the spec's {len(cells)} cells (ids look like {examples})")
        chosen += [c for c in hits if c not in chosen]
    return chosen


def _matches(cell_id: str, pattern: str) -> bool:
    """Glob match on the whole id; a pattern without a dataset part also matches ``dataset/<id>``."""
    if fnmatch.fnmatchcase(cell_id, pattern):
        return True
    return "/" not in pattern and "/" in cell_id and fnmatch.fnmatchcase(cell_id.split("/", 1)[1], pattern)


def cell_state(cell: Cell) -> str:
    """``done`` (summary.json), ``partial`` (a checkpoint to resume) or ``new``."""
    if (cell.out / "summary.json").exists():
        return "done"
    return "partial" if (cell.out / "checkpoint.pt").exists() else "new"


def epochs_done(cell: Cell) -> int:
    """Epochs the cell has finished (lines of metrics.jsonl), for progress and ETA."""
    try:
        return sum(1 for line in (cell.out / "metrics.jsonl").read_text().splitlines() if line.strip())
    except FileNotFoundError:
        return 0


def cell_work(cell: Cell) -> float:
    """Rough relative cost of a cell for the ETA: its epochs times the kept fraction (plus eval)."""
    return float(cell.config.get("epochs", TrainConfig.epochs)) * (1.0 - 0.8 * float(cell.config.get("ratio", 0.0)))


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
        # back every step: measured 1.3-1.5x faster CPU training steps and ~2.5x faster evaluation
        # of small_cnn. Ignored by other libcs; a value already in the environment wins.
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
            "cells": [{**c.info(), "dir": str(c.out.relative_to(self.out)), "status": self.status.get(c.id, cell_state(c))}
                      for c in self.cells],
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
        return [(c, action[cell_state(c)]) for c in self.selected] + [(c, "-") for c in self.cells if c.id not in chosen]

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
        self.echo(f"sweep {self.spec.name}: {len(self.selected)} cells{part}, {len(self.selected) - len(todo)} already done, "
                  f"{len(todo)} to run with {self.jobs} job(s) x {self.threads_per_process()} thread(s) -> {self.out}")
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
