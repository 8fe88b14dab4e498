"""CIFAR-10 and CIFAR-100 in torchvision's on-disk layout (the official "python version" pickles).

    DATA_DIR/cifar-10-batches-py/{data_batch_1..5, test_batch, batches.meta}
    DATA_DIR/cifar-100-python/{train, test, meta}

``data_dir`` may be the folder holding ``cifar-10-batches-py/`` or that folder itself.
"""
from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import numpy as np
import torch

from sadp.data.base import DataBundle, InMemoryImages, balanced_subset_indices, channel_stats
from sadp.data.errors import CorruptFileError, DatasetError, DatasetNotFoundError, require_data_dir
from sadp.registry import DATASETS

CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
CIFAR100_URL = "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz"


def _find(data_dir: Path, folder: str) -> Path:
    return data_dir if data_dir.name == folder else data_dir / folder


def _unpickle(path: Path, obtain: str) -> dict[str, Any]:
    if not path.is_file():
        raise DatasetNotFoundError(path, f"CIFAR pickle file {path.name!r}", obtain)
    try:
        with open(path, "rb") as f:
            raw = pickle.load(f, encoding="bytes")  # written by Python 2: keys are bytes
    except Exception as e:  # truncated or not a pickle
        raise CorruptFileError(path, f"not a readable CIFAR pickle ({type(e).__name__}: {e})") from None
    if not isinstance(raw, dict):
        raise CorruptFileError(path, f"expected a pickled dict, found {type(raw).__name__}")
    return {k.decode() if isinstance(k, bytes) else k: v for k, v in raw.items()}


def _images(batch: dict[str, Any], path: Path, label_key: str) -> tuple[np.ndarray, np.ndarray]:
    if "data" not in batch or label_key not in batch:
        raise CorruptFileError(path, f"expected keys 'data' and {label_key!r}, found {sorted(batch)}")
    data = np.asarray(batch["data"], dtype=np.uint8)
    labels = np.asarray(batch[label_key], dtype=np.int64)
    if data.ndim != 2 or data.shape[1] != 3 * 32 * 32 or len(data) != len(labels):
        raise CorruptFileError(path, f"expected data [N, 3072] with N labels, found {data.shape} and {labels.shape}")
    return data.reshape(-1, 3, 32, 32), labels


def _names(meta: dict[str, Any], key: str) -> list[str]:
    return [n.decode() if isinstance(n, bytes) else str(n) for n in meta[key]]


def _bundle(
    name: str,
    train: tuple[np.ndarray, np.ndarray],
    test: tuple[np.ndarray, np.ndarray],
    classes: list[str],
    subset: int | None,
    seed: int,
) -> DataBundle:
    train_ds = InMemoryImages(torch.from_numpy(train[0]), torch.from_numpy(train[1]))
    test_ds = InMemoryImages(torch.from_numpy(test[0]), torch.from_numpy(test[1]))
    bad = int(max(train[1].max(), test[1].max()))
    if bad >= len(classes) or min(train[1].min(), test[1].min()) < 0:
        raise DatasetError(f"{name}: labels outside 0..{len(classes) - 1} (found {bad}); the files are not {name}")
    if subset:
        train_ds = train_ds.subset(balanced_subset_indices(train_ds.targets, subset, seed))
    mean, std = channel_stats(train_ds.data)
    return DataBundle(
        name=name, train=train_ds, test=test_ds, num_classes=len(classes), sample_shape=(3, 32, 32),
        classes=classes, mean=mean, std=std, augment="crop_flip",
    )


@DATASETS.register("cifar10", help="CIFAR-10, torchvision pickle layout: DATA_DIR/cifar-10-batches-py/")
def load_cifar10(data_dir: str | Path | None = None, subset: int | None = None, seed: int = 0) -> DataBundle:
    obtain = f"download {CIFAR10_URL} and run `tar xzf cifar-10-python.tar.gz -C DATA_DIR`"
    root = _find(require_data_dir(data_dir, "cifar10", "the folder holding cifar-10-batches-py/", obtain),
                 "cifar-10-batches-py")
    if not root.is_dir():
        raise DatasetNotFoundError(root, "folder cifar-10-batches-py/ (torchvision's CIFAR-10 layout)", obtain)
    parts = [_images(_unpickle(root / f"data_batch_{i}", obtain), root / f"data_batch_{i}", "labels")
             for i in range(1, 6)]
    train = (np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]))
    test = _images(_unpickle(root / "test_batch", obtain), root / "test_batch", "labels")
    classes = _names(_unpickle(root / "batches.meta", obtain), "label_names")
    return _bundle("cifar10", train, test, classes, subset, seed)


@DATASETS.register("cifar100",
                   help="CIFAR-100, torchvision pickle layout: DATA_DIR/cifar-100-python/ (label=fine|coarse)")
def load_cifar100(
    data_dir: str | Path | None = None, subset: int | None = None, seed: int = 0, label: str = "fine"
) -> DataBundle:
    if label not in ("fine", "coarse"):
        raise ValueError(f"cifar100 label must be 'fine' (100 classes) or 'coarse' (20 superclasses), got {label!r}")
    obtain = f"download {CIFAR100_URL} and run `tar xzf cifar-100-python.tar.gz -C DATA_DIR`"
    root = _find(require_data_dir(data_dir, "cifar100", "the folder holding cifar-100-python/", obtain),
                 "cifar-100-python")
    if not root.is_dir():
        raise DatasetNotFoundError(root, "folder cifar-100-python/ (torchvision's CIFAR-100 layout)", obtain)
    key = f"{label}_labels"
    train = _images(_unpickle(root / "train", obtain), root / "train", key)
    test = _images(_unpickle(root / "test", obtain), root / "test", key)
    classes = _names(_unpickle(root / "meta", obtain), f"{label}_label_names")
    return _bundle("cifar100", train, test, classes, subset, seed)
