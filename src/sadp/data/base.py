"""The data contract every dataset reader returns, and the in-memory storage for small datasets.

A reader is registered in ``sadp.registry.DATASETS`` and called as
``reader(data_dir=..., subset=..., seed=..., skip_corrupt=..., **kw) -> DataBundle``.
Items are ``(x, y)``: static images as uint8 [C, H, W] (normalised and augmented later, per batch,
on the training device), event data as float frames [T, C, H, W]. The loader attaches indices.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Sequence

import torch
from torch import Tensor
from torch.utils.data import Dataset

from sadp.data.errors import DatasetError


class InMemoryImages(Dataset):
    """Decoded images held as one uint8 tensor [N, C, H, W] (or float frames [N, T, C, H, W])."""

    def __init__(self, data: Tensor, targets: Tensor) -> None:
        if len(data) != len(targets):
            raise ValueError(f"{len(data)} images but {len(targets)} labels")
        if len(data) == 0:
            raise ValueError("empty dataset: no examples")
        self.data = data
        self.targets = targets.long()

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, i: int) -> tuple[Tensor, int]:
        return self.data[i], int(self.targets[i])

    def subset(self, indices: Tensor) -> "InMemoryImages":
        return InMemoryImages(self.data[indices], self.targets[indices])


class WithIndex(Dataset):
    """Wrap any map-style dataset so items become ``(x, y, index)`` (what pruning methods need)."""

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getitem__(self, i: int) -> tuple[Any, Any, int]:
        x, y = self.dataset[i][:2]
        return x, y, i


@dataclass
class DataBundle:
    """A train/test pair with what the model and the batch transforms need to know."""

    name: str
    train: Dataset
    test: Dataset
    num_classes: int
    sample_shape: tuple[int, ...]  # one example's model input without T, e.g. (3, 32, 32)
    classes: Sequence[str] = ()
    mean: tuple[float, ...] = (0.5,)
    std: tuple[float, ...] = (0.5,)
    augment: str = "none"  # "none" | "crop_flip" | "flip" | "event"; applied to training batches only
    time_steps: int | None = None  # event data: T fixed by binning; None for static images
    skipped_corrupt: int = 0
    extra: dict = field(default_factory=dict)

    @property
    def is_event(self) -> bool:
        return self.time_steps is not None

    def train_targets(self) -> Tensor:
        """Labels of the training set, without decoding images where the dataset allows it."""
        return dataset_targets(self.train)


def dataset_targets(ds: Dataset) -> Tensor:
    """Labels of any dataset: ``.targets``/``.labels`` attributes if present, else one pass over items."""
    for attr in ("targets", "labels"):
        t = getattr(ds, attr, None)
        if t is not None:
            return torch.as_tensor(t).long()
    return torch.tensor([int(ds[i][1]) for i in range(len(ds))])  # type: ignore[arg-type]


def require_all_classes(targets: Tensor, classes: Sequence[str], where: str) -> None:
    """Raise when a class has no examples left (say, after --skip-corrupt dropped all its files)."""
    present = set(torch.unique(targets).tolist())
    missing = [c for i, c in enumerate(classes) if i not in present]
    if missing:
        raise DatasetError(
            f"{where}: no examples of classes {missing} (all their files missing or skipped as corrupt); "
            "fix or replace those files"
        )


def decode_threads(workers: int | None) -> int:
    """Threads of a reader's decoding pool: ``workers`` when given, else one per CPU core, at most 16
    (decoders release the GIL, so threads scale until the disk or the cores are saturated)."""
    return workers or min(16, os.cpu_count() or 1)


def channel_stats(data: Tensor, chunk: int = 4096) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and std of uint8 images [N, C, H, W] on the [0, 1] scale, in chunks (no full float copy)."""
    total = torch.zeros(data.shape[1], dtype=torch.float64)
    total_sq = torch.zeros_like(total)
    for start in range(0, len(data), chunk):
        x = data[start : start + chunk].double().div_(255.0)
        total += x.sum(dim=(0, 2, 3))
        total_sq += x.pow_(2).sum(dim=(0, 2, 3))
    count = data.numel() / data.shape[1]
    mean = total / count
    std = (total_sq / count - mean.pow(2)).clamp_min(1e-12).sqrt()
    return tuple(float(m) for m in mean), tuple(float(s) for s in std)


def balanced_subset_indices(targets: Tensor, n: int, seed: int) -> Tensor:
    """A fixed, seeded, class-balanced subset of ``n`` indices (round-robin over classes)."""
    classes = torch.unique(targets)
    if n <= 0:
        raise ValueError(f"subset size must be positive, got {n}")
    if n > len(targets):
        raise ValueError(f"subset {n} is larger than the training set ({len(targets)} examples); "
                         f"use a subset of at most {len(targets)}, or none for the whole set")
    if n < len(classes):
        raise ValueError(f"subset {n} is smaller than the number of classes ({len(classes)}): some classes would "
                         f"have no training example; use a subset of at least {len(classes)}")
    if n == len(targets):
        return torch.arange(len(targets))
    g = torch.Generator().manual_seed(seed)
    per_class = [torch.nonzero(targets == c).flatten() for c in classes]
    per_class = [idx[torch.randperm(len(idx), generator=g)] for idx in per_class]
    base, rem = divmod(n, len(classes))
    take = [base + (1 if i < rem else 0) for i in range(len(classes))]
    # Classes too small for their share hand the rest to the others.
    short = sum(max(0, t - len(idx)) for t, idx in zip(take, per_class))
    take = [min(t, len(idx)) for t, idx in zip(take, per_class)]
    while short > 0:
        for i, idx in enumerate(per_class):
            if short and take[i] < len(idx):
                take[i] += 1
                short -= 1
    chosen = torch.cat([idx[:t] for idx, t in zip(per_class, take)])
    return chosen.sort().values
