"""The specification of a sweep: its YAML spec parsed into the grid of ``sadp train`` cells.

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
contract (summary.json, metrics.jsonl, checkpoint.pt); :mod:`sadp.experiments.sweep` runs them and
:func:`sadp.experiments.sweep_cells.select_cells` picks a part of the grid (``--only``).
"""
from __future__ import annotations

import math
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sadp.experiments.sweep_cells import Cell
from sadp.registry import DATASETS, METHODS
from sadp.train.config import TrainConfig, load_yaml

_ENV_VAR = re.compile(r"\$(?:(\w+)|\{(\w+)\})")  # $NAME or ${NAME}
RUNS_DIR = "runs"
SPEC_KEYS = {"name", "description", "methods", "ratios", "seeds", "settings", "method_options", "full_methods",
             "launcher", "datasets"}
DATASET_KEYS = {"name", "settings", "methods", "ratios"}


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
                    raise ValueError(f"method entry {label!r}: matched_to is for full-data methods ({full}), "
                                     f"not {method!r}")
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
                raise ValueError(f"a datasets entry is a mapping with keys {sorted(DATASET_KEYS)} (name required), "
                                 f"got {entry!r}")
            bad = set(entry.get("methods") or []) - set(labels)
            if bad:
                raise ValueError(f"datasets entry {entry['name']!r} names unknown methods {sorted(bad)}; "
                                 f"spec methods: {labels}")
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
        entries = self.datasets or [{"name": "", "settings": {}, "methods": [m["name"] for m in self.methods],
                                     "ratios": None}]
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
                    pruned = matched_to or m["method"] not in self.full_methods
                    ratios = (m["ratios"] or entry["ratios"] or self.ratios) if pruned else [0.0]
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
            what = (f"the folder of dataset {dataset!r} ({DATASETS.help(dataset)})" if dataset
                    else "the dataset's folder")
            raise ValueError(f"data_dir {data_dir!r} needs the environment variable {name}, which is not set; "
                             f"set {name} to {what}")
        return os.environ[name]

    return os.path.expanduser(_ENV_VAR.sub(value, data_dir))
