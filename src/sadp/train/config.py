"""Training configuration: one dataclass, loadable from YAML, overridable by CLI flags."""
from __future__ import annotations

import dataclasses
import math
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from sadp.pruning.base import DEFAULT_RATIO
from sadp.registry import ENCODERS, LOSSES, METHODS, NEURONS, OPTIMIZERS, SURROGATES, Registry
from sadp.utils.typecheck import type_problem

AUGMENTATIONS = ("none", "flip", "crop_flip", "event")
MODEL_FIELDS = ("neuron", "tau", "surrogate")  # passed to every model by the trainer, not via model_options
# Fields naming a registered entry, checked by validate(). Datasets and models are not here: the
# trainer takes a built bundle or model instead of the name, and otherwise the registry reports an
# unknown name when the trainer builds them (before anything is written).
REGISTERED_FIELDS: dict[str, Registry] = {
    "method": METHODS, "optimizer": OPTIMIZERS, "loss": LOSSES, "neuron": NEURONS, "surrogate": SURROGATES,
    "encoder": ENCODERS,
}


@dataclass
class TrainConfig:
    # data
    dataset: str = "digits"
    data_dir: str | None = None
    subset: int | None = None  # class-balanced subset of the training set
    skip_corrupt: bool = False
    num_workers: int = 0
    dataset_options: dict[str, Any] = field(default_factory=dict)  # reader keywords: image_size, time_steps, ...
    augment: str | None = None  # training augmentation: None keeps the dataset's; none | flip | crop_flip | event
    # model
    model: str = "small_cnn"
    model_options: dict[str, Any] = field(default_factory=dict)  # extra model kwargs, e.g. channels
    T: int = 4
    neuron: str = "lif"
    tau: float = 2.0
    surrogate: str = "atan"
    encoder: str = "direct"  # static data only: a registered encoder (sadp.registry.ENCODERS)
    # pruning
    method: str = "sadp"
    ratio: float | None = None  # None: 0 for "full", DEFAULT_RATIO for pruning methods
    method_options: dict[str, Any] = field(default_factory=dict)
    # optimisation
    epochs: int = 20
    batch_size: int = 64
    optimizer: str = "adamw"  # a registered optimizer (sadp.registry.OPTIMIZERS)
    lr: float = 2e-3
    weight_decay: float = 5e-4
    momentum: float = 0.9
    warmup_epochs: float = 1.0
    label_smoothing: float = 0.0
    loss: str = "ce"  # a registered loss (sadp.registry.LOSSES); ce: CE of the mean-over-T logits
    tet_lambda: float = 0.05
    drop_last: bool = False
    # runtime
    seed: int = 0
    device: str = "auto"
    amp: bool = True  # CUDA only
    channels_last: bool = True  # CUDA only
    deterministic: bool = True
    out: str = "runs/default"
    resume: bool = False
    progress: bool = True
    eval_every: int = 1  # evaluate every n epochs (and always after the last)
    train_eval_size: int = 0  # also evaluate on this many fixed training examples (no augmentation): train/test gap
    memory_lean: bool = False  # recompute spiking stages in backward (less BPTT memory, more compute)
    backprop: str = "bptt"  # bptt | sltt: drop the temporal routes in backward (sadp.snn.sltt)
    backprop_steps: int = 0  # SLTT-K: backpropagate K random steps per batch (0: every step)
    compile: bool = False  # torch.compile the training model (Inductor cache kept across runs)
    tune_allocator: bool = True  # CPU: raise glibc malloc thresholds (sadp.utils.perf.tune_cpu_allocator)

    def validate(self) -> "TrainConfig":
        """Check every field's type (from the annotations above) and range; fill in ``ratio``.

        Raises one ValueError naming every problem, before anything is built or written.
        """
        hints = typing.get_type_hints(TrainConfig)
        errors = [p for f in dataclasses.fields(self)
                  if (p := type_problem(f.name, getattr(self, f.name), hints[f.name]))]
        if errors:  # ranges below assume the types are right
            raise ValueError("invalid config: " + "; ".join(errors))
        if self.ratio is None:
            self.ratio = 0.0 if self.method == "full" else DEFAULT_RATIO
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if isinstance(v, float) and not math.isfinite(v):
                errors.append(f"{f.name} must be a finite number, got {v}")
        if errors:
            raise ValueError("invalid config: " + "; ".join(errors))
        if not 0.0 <= self.ratio < 1.0:
            errors.append(f"ratio must be in [0, 1), got {self.ratio}")
        for name in ("epochs", "batch_size", "T", "eval_every"):
            if getattr(self, name) < 1:
                errors.append(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("num_workers", "train_eval_size", "weight_decay", "warmup_epochs", "tet_lambda"):
            if getattr(self, name) < 0:
                errors.append(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.lr <= 0:
            errors.append(f"lr must be > 0, got {self.lr}")
        if self.subset is not None and self.subset < 1:
            errors.append(f"subset must be >= 1, got {self.subset}")
        if not 0.0 <= self.momentum < 1.0:
            errors.append(f"momentum must be in [0, 1), got {self.momentum}")
        if self.tau <= 1.0 and (self.neuron not in NEURONS or NEURONS.get(self.neuron).has_time_constant):
            errors.append(f"tau (membrane time constant) must be > 1, got {self.tau}")
        if not 0.0 <= self.label_smoothing < 1.0:
            errors.append(f"label_smoothing must be in [0, 1), got {self.label_smoothing}")
        if self.augment is not None and self.augment not in AUGMENTATIONS:
            errors.append(f"augment must be one of {AUGMENTATIONS} (or unset), got {self.augment!r}")
        if not self.out:
            errors.append("out must name an output directory, got an empty string")
        errors += _backprop_errors(self)
        errors += [reg.unknown(getattr(self, name)) for name, reg in REGISTERED_FIELDS.items()
                   if getattr(self, name) not in reg]
        shadowed = sorted(set(self.model_options) & set(MODEL_FIELDS))
        if shadowed:
            errors.append(f"model_options {shadowed} are top-level options: set them as {', '.join(shadowed)}, "
                          "not inside model_options")
        if self.method == "full" and self.ratio:
            errors.append("method 'full' trains on all data; use ratio 0 (or another method)")
        if errors:
            raise ValueError("invalid config: " + "; ".join(errors))
        return self

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def field_names(cls) -> set[str]:
        return {f.name for f in dataclasses.fields(cls)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "TrainConfig":
        unknown = set(d) - cls.field_names()
        if unknown:
            raise ValueError(f"unknown config keys: {sorted(unknown)}; valid keys: {sorted(cls.field_names())}")
        return cls(**d)


def _backprop_errors(cfg: TrainConfig) -> list[str]:
    """backprop / backprop_steps (sadp.snn.sltt.Backprop's checks, and K <= T; event data, whose T
    comes from binning, are checked again by the trainer)."""
    from sadp.snn.sltt import Backprop

    try:
        Backprop(cfg.backprop, cfg.backprop_steps)
    except ValueError as e:
        return [str(e)]
    if cfg.backprop_steps > cfg.T and "time_steps" not in cfg.dataset_options:
        return [f"backprop_steps K = {cfg.backprop_steps} exceeds T = {cfg.T} (choose 0 <= K <= T)"]
    return []


def load_yaml(path: str | Path) -> dict[str, Any]:
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"config file not found: {p}")
    try:
        data = yaml.safe_load(p.read_text()) or {}
    except yaml.YAMLError as e:
        raise ValueError(f"config file {p} is not valid YAML: {e}") from None
    if not isinstance(data, dict):
        raise ValueError(f"config file {p} must hold a mapping of option: value")
    return data
