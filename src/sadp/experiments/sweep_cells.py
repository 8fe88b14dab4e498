"""The cells of a sweep: one run of the grid (:class:`Cell`), choosing cells by glob (``--only``),
and what a cell's run directory says about it (done, partial or new; epochs finished; cost)."""
from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sadp.train.config import TrainConfig


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
            raise ValueError(f"--only {pattern!r} matches none of the spec's {len(cells)} cells "
                             f"(ids look like {examples})")
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
