"""Batches of (x, y, index) on the training device, in the order a sampler gives.

In-memory datasets (:class:`InMemoryImages`) are indexed directly as tensors: no workers, no
collation. Any other ``torch.utils.data.Dataset`` (streamed folders, user datasets) goes through
a DataLoader with persistent workers and pinned memory; its items only need to be ``(x, y)``.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterable, Iterator

import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, Sampler

from sadp.data.base import DataBundle, InMemoryImages, WithIndex
from sadp.data.transforms import normalize, random_crop, random_flip, random_roll

Batch = tuple[Tensor, Tensor, Tensor]


def num_batches(n: int, batch_size: int, drop_last: bool) -> int:
    """Batches in an epoch of ``n`` examples."""
    return n // batch_size if drop_last else -(-n // batch_size)


def _chunks(indices: Iterable[int], batch_size: int, drop_last: bool) -> Iterator[list[int]]:
    buf: list[int] = []
    for i in indices:
        buf.append(int(i))
        if len(buf) == batch_size:
            yield buf
            buf = []
    if buf and not drop_last:
        yield buf


class BatchTransform:
    """Normalisation and (for training) augmentation of a whole batch on its device.

    Static images: normalise, then flip and/or random crop with padding. Event frames [B, T, C, H, W]:
    the same random flip and cyclic roll (up to ``event_roll`` pixels) for all T steps of an example.
    """

    def __init__(
        self, bundle: DataBundle, train: bool, generator: torch.Generator | None = None, event_roll: int | None = None
    ) -> None:
        self.mean, self.std = bundle.mean, bundle.std
        # Roll by up to 1/8 of the frame (about 5 px at 48x48, as in common DVS augmentation).
        self.event_roll = event_roll if event_roll is not None else max(1, bundle.sample_shape[-1] // 8)
        self.augment = bundle.augment if train else "none"
        self.is_event = bundle.is_event
        self.generator = generator

    def __call__(self, x: Tensor) -> Tensor:
        if self.is_event:
            x = x.float()
            if self.augment == "event":
                x = random_roll(random_flip(x, self.generator), self.event_roll, self.generator)
            return x
        x = normalize(x, self.mean, self.std)
        if self.augment in ("crop_flip", "flip"):
            x = random_flip(x, self.generator)
        if self.augment == "crop_flip":
            x = random_crop(x, 4, self.generator)
        return x


class DeviceLoader:
    """Iterate batches ``(x, y, idx)`` on ``device`` in the sampler's order; ``len()`` is the batch count."""

    def __init__(
        self,
        dataset: Dataset,
        sampler: Sampler[int] | Iterable[int],
        batch_size: int,
        device: torch.device | str,
        transform: BatchTransform | None = None,
        drop_last: bool = False,
        num_workers: int = 0,
    ) -> None:
        self.dataset, self.sampler = dataset, sampler
        self.batch_size, self.drop_last = batch_size, drop_last
        self.device = torch.device(device)
        self.transform = transform
        self.num_workers = num_workers
        self._dl: DataLoader | None = None
        if isinstance(dataset, InMemoryImages):
            self._data = dataset.data.to(self.device)
            self._targets = dataset.targets.to(self.device)

    def __len__(self) -> int:
        return num_batches(len(self.sampler), self.batch_size, self.drop_last)  # type: ignore[arg-type]

    def _raw_batches(self) -> Iterator[Batch]:
        if isinstance(self.dataset, InMemoryImages):
            for chunk in _chunks(self.sampler, self.batch_size, self.drop_last):
                idx = torch.tensor(chunk, device=self.device)
                yield self._data[idx], self._targets[idx], idx
            return
        if self._dl is None:
            pin = self.device.type == "cuda"
            self._dl = DataLoader(
                WithIndex(self.dataset),
                batch_sampler=_BatchSampler(self.sampler, self.batch_size, self.drop_last),
                num_workers=self.num_workers,
                pin_memory=pin,
                persistent_workers=self.num_workers > 0,
            )
        for x, y, idx in self._dl:
            nb = self.device.type == "cuda"
            yield (
                x.to(self.device, non_blocking=nb),
                torch.as_tensor(y).to(self.device, non_blocking=nb),
                idx.to(self.device, non_blocking=nb),
            )

    def __iter__(self) -> Iterator[Batch]:
        batches = self._raw_batches()
        while True:
            # On CPU, batch assembly is a handful of small ops: run it on one thread, as several
            # OpenMP threads on such ops are far slower on a loaded machine (docs/architecture.md).
            with _one_thread(self.device.type == "cpu"):
                try:
                    x, y, idx = next(batches)
                except StopIteration:
                    return
                x = self.transform(x) if self.transform else x.float()
            yield x, y.long(), idx


@contextmanager
def _one_thread(enabled: bool) -> Iterator[None]:
    threads = torch.get_num_threads()
    if not enabled or threads == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


class _BatchSampler(Sampler[list[int]]):
    """Batches from a sampler that may change each epoch (re-read on every ``__iter__``)."""

    def __init__(self, sampler: Iterable[int], batch_size: int, drop_last: bool) -> None:
        self.sampler, self.batch_size, self.drop_last = sampler, batch_size, drop_last

    def __iter__(self) -> Iterator[list[int]]:
        return _chunks(self.sampler, self.batch_size, self.drop_last)

    def __len__(self) -> int:
        return num_batches(len(self.sampler), self.batch_size, self.drop_last)  # type: ignore[arg-type]
