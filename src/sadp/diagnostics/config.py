"""Options of ``sadp diagnose`` (:class:`DiagnoseConfig`) and the two modes it measures in."""
from __future__ import annotations

from dataclasses import dataclass, field

MODES = ("eval", "train")


def mode_description(mode: str, batch_size: int) -> str:
    """How BatchNorm normalises in ``mode`` (printed and stored beside each measurement)."""
    if mode == "eval":
        return "eval mode: BatchNorm running statistics"
    return f"train mode: BatchNorm statistics of each batch of {batch_size}, held fixed for per-example gradients"


@dataclass
class DiagnoseConfig:
    dataset: str = "digits"
    data_dir: str | None = None
    model: str = "small_cnn"
    T: int = 4
    warmup_epochs: int = 3  # length of the warm-up run (its learning-rate schedule)
    measure_at: list[int] = field(default_factory=list)  # epochs of warm-up to measure after; empty: the last
    modes: list[str] = field(default_factory=lambda: list(MODES))
    batch_size: int = 64  # warm-up training and train-mode batches
    examples: int = 512  # training examples scored (seeded subset); 0 = all
    ratios: list[float] = field(default_factory=lambda: [0.5, 0.7])
    draws: int = 2000
    floor: float = 0.1
    sketch_dim: int = 16384  # 0 = keep exact per-example gradients (memory N x P)
    chunk_size: int = 64
    seed: int = 0
    device: str = "cpu"
    out: str = "runs/diagnose"
    plots: bool = True

    def validate(self) -> "DiagnoseConfig":
        errors = []
        if self.warmup_epochs < 0:
            errors.append(f"warmup_epochs must be >= 0, got {self.warmup_epochs}")
        bad = [e for e in self.measure_at if not 0 <= e <= self.warmup_epochs]
        if bad:
            errors.append(f"measure_at epochs must be in [0, warmup_epochs={self.warmup_epochs}], got {bad}")
        if not self.modes or any(m not in MODES for m in self.modes) or len(set(self.modes)) != len(self.modes):
            errors.append(f"modes must be distinct values of {', '.join(MODES)}, got {self.modes}")
        if self.batch_size < 2:
            errors.append(f"batch_size must be >= 2 (train-mode BatchNorm needs a batch), got {self.batch_size}")
        if self.examples < 0 or self.examples == 1:
            errors.append(f"examples must be 0 (all) or >= 2, got {self.examples}")
        if self.draws < 10:
            errors.append(f"draws must be >= 10, got {self.draws}")
        if not self.ratios or any(not 0.0 < r < 1.0 for r in self.ratios):
            errors.append(f"ratios must be in (0, 1), got {self.ratios}")
        if not 0.0 <= self.floor <= 1.0:
            errors.append(f"floor must be in [0, 1], got {self.floor}")
        if self.sketch_dim < 0:
            errors.append(f"sketch_dim must be >= 0, got {self.sketch_dim}")
        if errors:
            raise ValueError("invalid diagnose options:\n  " + "\n  ".join(errors))
        return self

    @property
    def epochs_measured(self) -> list[int]:
        return sorted(set(self.measure_at)) if self.measure_at else [self.warmup_epochs]
