"""Any user ``torch.utils.data.Dataset`` (a torchvision one, say) as a :class:`DataBundle`.

    bundle = bundle_from_datasets(CIFAR10(root, train=True), CIFAR10(root, train=False))
    Trainer(cfg, bundle=bundle).fit()

Items may be ``(PIL image | numpy array | tensor, label)``; PIL images and uint8 arrays become uint8
[C, H, W] tensors (HWC arrays are transposed). Small datasets are read once into memory (then
indexed as tensors, augmented on the device); large ones stay lazy and go through DataLoader workers.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from sadp.data.base import DataBundle, InMemoryImages, balanced_subset_indices, channel_stats, dataset_targets
from sadp.data.errors import DatasetError


def as_image_tensor(x: Any) -> Tensor:
    """PIL image, numpy array or tensor -> tensor [C, H, W] (uint8 stays uint8; 2-D gets C=1)."""
    if not isinstance(x, (Tensor, np.ndarray)):
        x = np.asarray(x)  # PIL images convert to [H, W] or [H, W, C]
        if x.ndim == 3:
            x = x.transpose(2, 0, 1)
    if isinstance(x, np.ndarray):
        if x.dtype.kind not in "biuf":
            raise DatasetError(f"dataset items must be images, arrays or tensors of numbers, got an array of {x.dtype}")
        x = torch.from_numpy(np.array(x))  # a writable copy: PIL's array views are read-only
    t = x
    if t.dim() == 2:
        t = t.unsqueeze(0)
    if t.dim() not in (3, 4):
        raise DatasetError(f"dataset items must be [C, H, W] images or [T, C, H, W] frames, got shape {tuple(t.shape)}")
    return t


class TensorItems(Dataset):
    """A lazy view of a user dataset whose items are converted by :func:`as_image_tensor`."""

    def __init__(self, ds: Dataset, indices: Sequence[int] | None = None) -> None:
        self.ds = ds
        self.indices = list(range(len(ds))) if indices is None else list(indices)  # type: ignore[arg-type]
        self.targets = dataset_targets(ds)[self.indices] if indices is not None else dataset_targets(ds)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int) -> tuple[Tensor, int]:
        x, y = self.ds[self.indices[i]][:2]
        return as_image_tensor(x), int(y)


def _materialise(ds: Dataset) -> InMemoryImages:
    items = [ds[i] for i in range(len(ds))]  # type: ignore[arg-type]
    xs = [as_image_tensor(x) for x, *_ in items]
    shapes = {tuple(x.shape) for x in xs}
    if len(shapes) > 1:
        raise DatasetError(f"dataset items differ in shape {sorted(shapes)[:3]}; "
                           "resize them (a transform) or pass in_memory=False")
    return InMemoryImages(torch.stack(xs), torch.tensor([int(y) for _, y, *_ in items]))


def bundle_from_datasets(
    train: Dataset,
    test: Dataset,
    name: str = "custom",
    num_classes: int | None = None,
    classes: Sequence[str] = (),
    subset: int | None = None,
    seed: int = 0,
    in_memory: bool | None = None,
    in_memory_limit_gb: float = 2.0,
    augment: str | None = None,
    mean: tuple[float, ...] | None = None,
    std: tuple[float, ...] | None = None,
    time_steps: int | None = None,
) -> DataBundle:
    """Wrap user datasets. Defaults: uint8 images get per-channel statistics and crop/flip
    augmentation; float items are taken as already normalised; 4-D items [T, C, H, W] are event
    frames (``time_steps`` = T)."""
    for split, ds in (("train", train), ("test", test)):
        if len(ds) == 0:  # type: ignore[arg-type]
            raise DatasetError(f"the {split} dataset is empty")
    first = as_image_tensor(train[0][0])
    if in_memory is None:
        in_memory = len(train) * first.numel() * first.element_size() <= in_memory_limit_gb * 1e9  # type: ignore[arg-type]
    if subset:
        keep = balanced_subset_indices(dataset_targets(train), subset, seed).tolist()
    else:
        keep = None
    if in_memory:
        train_ds: Dataset = _materialise(TensorItems(train, keep))
        test_ds: Dataset = _materialise(TensorItems(test))
    else:
        train_ds, test_ds = TensorItems(train, keep), TensorItems(test)
    targets = dataset_targets(train_ds)
    k = num_classes or len(classes) or int(max(targets.max(), dataset_targets(test_ds).max())) + 1
    is_event = first.dim() == 4
    uint8 = first.dtype == torch.uint8
    if mean is None or std is None:
        if uint8 and isinstance(train_ds, InMemoryImages) and not is_event:
            mean, std = channel_stats(train_ds.data)
        else:  # float items: assume the user's transform normalised them; lazy uint8: plain [0, 1] scaling
            c = first.shape[-3]
            mean, std = ((0.5,) * c, (0.5,) * c) if uint8 else ((0.0,) * c, (1.0,) * c)
    if augment is None:
        augment = "event" if is_event else ("crop_flip" if uint8 and min(first.shape[-2:]) >= 16 else "none")
    return DataBundle(
        name=name, train=train_ds, test=test_ds, num_classes=k, sample_shape=tuple(first.shape[-3:]),
        classes=list(classes), mean=tuple(mean), std=tuple(std), augment=augment,
        time_steps=(time_steps or first.shape[0]) if is_event else None,
    )
