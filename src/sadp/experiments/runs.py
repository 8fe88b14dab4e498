"""Reading a directory of ``sadp train`` runs: one :class:`Run` per ``summary.json`` (with its
``metrics.jsonl`` rows and sweep ``cell.json``), the constants the report uses, and small helpers
shared by the report's tables (:mod:`sadp.experiments.report`) and plots
(:mod:`sadp.experiments.report_plots`)."""
from __future__ import annotations

import json
import math
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

FULL_METHOD = "full"
BASELINE_LABEL = "random_dynamic"
TTA_MARGIN = 0.01  # time-to-accuracy target: the same seed's full-data final accuracy minus 1 pp
FIT_THRESHOLD = 0.95  # plateau check: training accuracy without augmentation at the end
PLATEAU_WINDOW = 0.2  # plateau check: the last 20% of epochs ...
PLATEAU_GAIN = 0.01  # ... gain less than 1 pp of test accuracy
SAME_SEEN_TOLERANCE = 0.005  # relative: within it a method sees "the same examples" as the baseline
SPIKE_KEYS = ("spike_factor_mean", "spike_factor_cv", "head_silent_share")


@dataclass(frozen=True)
class CurvePoint:
    """A run at one evaluated epoch: cumulative training so far and the test accuracy reached."""

    epoch: int
    examples: float  # examples trained on up to and including this epoch
    wall_s: float  # training wall seconds so far (evaluation excluded)
    cpu_s: float  # training CPU seconds so far; NaN when the run did not log them
    test_acc: float


@dataclass
class Run:
    """One finished run: its identity in the grid, its summary and its per-epoch rows."""

    dir: Path
    label: str
    method: str
    ratio: float
    seed: int
    summary: dict[str, Any]
    test_curve: list[float] = field(default_factory=list)  # per epoch; NaN where not evaluated
    metrics: list[dict[str, Any]] = field(default_factory=list)  # metrics.jsonl rows
    group: str = ""  # the sweep's dataset entry
    # Full data on a short schedule (``matched_to`` in a sweep spec): the pruning method whose
    # examples seen it matches at ``ratio``, and the epochs of the schedule it shortens.
    matched_to: str = ""
    reference_epochs: int = 0

    @property
    def is_reference_full(self) -> bool:
        """The full-data run on the whole schedule, labelled ``full``: the reference for cost,
        time-to-accuracy and speedup. Other full-data cells (a short schedule, a variant such as
        SLTT backprop under its own label) are compared against it."""
        return self.method == FULL_METHOD and self.label == FULL_METHOD and not self.matched_to

    @property
    def machine(self) -> str:
        """The CPU (and GPU) the run's times come from; "" when the summary does not say."""
        m = self.summary.get("machine") or {}
        return " + ".join(str(m[k]) for k in ("cpu", "gpu") if m.get(k))

    @property
    def test_acc(self) -> float:
        return float(self.summary["test_acc"])

    @property
    def train_time_s(self) -> float:
        return float(self.summary["train_time_s"])

    @property
    def cpu_time_s(self) -> float:
        """Training CPU seconds (sum of the rows' ``epoch_cpu_s``); NaN when a row lacks it (older runs)."""
        if not self.metrics or any("epoch_cpu_s" not in m for m in self.metrics):
            return math.nan
        return sum(float(m["epoch_cpu_s"]) for m in self.metrics)

    @property
    def num_train(self) -> int:
        return int(self.summary.get("num_train") or 0)

    @property
    def theoretical_speedup(self) -> float:
        s = self.summary
        if self.reference_epochs:  # a short schedule: against the whole schedule's full-data examples
            return self.num_train * self.reference_epochs / max(1.0, float(s["examples_seen"]))
        if "theoretical_speedup" in s:
            return float(s["theoretical_speedup"])
        return float(s["full_examples"]) / max(1.0, float(s["examples_seen"]))

    @property
    def examples_fraction(self) -> float:
        """Examples trained on, as a share of a full-data run's."""
        return 1.0 / self.theoretical_speedup

    def curve(self) -> list[CurvePoint]:
        """The evaluated epochs with cumulative examples and training time."""
        examples = wall = cpu = 0.0
        points = []
        for m in self.metrics:
            examples += float(m.get("selected", math.nan))
            wall += float(m.get("epoch_time_s", math.nan))
            cpu += float(m.get("epoch_cpu_s", math.nan))
            if m.get("test_acc") is not None:
                points.append(CurvePoint(int(m.get("epoch", len(points) + 1)), examples, wall, cpu,
                                         float(m["test_acc"])))
        return points


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def load_runs(root: str | Path) -> tuple[list[Run], list[str]]:
    """All finished runs below ``root``, and the ids of sweep cells that have no summary.json yet."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"run directory not found: {root}")
    runs = []
    for summary_path in sorted(root.rglob("summary.json")):
        d = summary_path.parent
        summary = json.loads(summary_path.read_text())
        cfg = summary.get("config", {})
        info = json.loads((d / "cell.json").read_text()) if (d / "cell.json").exists() else {}
        method = str(info.get("method", cfg.get("method", "?")))
        rows = _read_jsonl(d / "metrics.jsonl")
        runs.append(Run(
            dir=d, label=str(info.get("label", method)), method=method,
            ratio=float(info.get("ratio", cfg.get("ratio", 0.0))), seed=int(info.get("seed", cfg.get("seed", 0))),
            summary=summary, test_curve=[float(r.get("test_acc", math.nan)) for r in rows], metrics=rows,
            group=str(info.get("group", "")), matched_to=str(info.get("matched_to", "")),
            reference_epochs=int(info.get("reference_epochs", 0)),
        ))
    missing = []
    sweep_info = root / "sweep.json"
    if sweep_info.exists():
        finished = {r.dir.resolve() for r in runs}
        for cell in json.loads(sweep_info.read_text()).get("cells", []):
            if (root / cell["dir"]).resolve() not in finished:
                missing.append(cell["id"])
    if not runs:
        raise FileNotFoundError(f"no finished runs (summary.json) below {root}")
    return runs, missing


# -- helpers -----------------------------------------------------------------------------------
def mean(xs: Iterable[float]) -> float:
    xs = [x for x in xs if not math.isnan(x)]
    return statistics.fmean(xs) if xs else math.nan


def median(xs: Iterable[float]) -> float:
    xs = [x for x in xs if not math.isnan(x)]
    return statistics.median(xs) if xs else math.nan


def std(xs: list[float]) -> float:
    """Sample standard deviation (n - 1); NaN for a single value: one seed shows no spread."""
    return statistics.stdev(xs) if len(xs) >= 2 else math.nan


def isnan(x: Any) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x))


def groups_by_cell(runs: Iterable[Run]) -> dict[tuple[str, float], list[Run]]:
    groups: dict[tuple[str, float], list[Run]] = {}
    for r in runs:
        groups.setdefault((r.label, r.ratio), []).append(r)
    for g in groups.values():
        g.sort(key=lambda r: r.seed)
    # full-data rows first, then by ratio, short schedules before the methods at their ratio, then by label
    return dict(sorted(groups.items(), key=lambda kv: (not kv[1][0].is_reference_full, kv[0][1],
                                                       not kv[1][0].matched_to, kv[0][0])))


def full_by_seed(runs: Iterable[Run]) -> dict[int, Run]:
    return {r.seed: r for r in runs if r.is_reference_full}


def is_full_row(row: dict[str, Any]) -> bool:
    """A summary-table row of the full-data run on the whole schedule (short schedules are not)."""
    return bool(row.get("reference_full", row.get("method") == FULL_METHOD))


def time_basis(runs: Iterable[Run]) -> str:
    """``"cpu"`` when every run logged per-epoch CPU seconds, else ``"wall"``: the time the plots use."""
    return "cpu" if all(not math.isnan(r.cpu_time_s) for r in runs) else "wall"
