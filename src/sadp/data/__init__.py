"""Datasets (registered in ``sadp.registry.DATASETS``), batch transforms and device loaders."""
from __future__ import annotations

from typing import Any

from sadp.data import digits  # noqa: F401  (registration)
from sadp.data.base import DataBundle, InMemoryImages, balanced_subset_indices
from sadp.data.loader import BatchTransform, DeviceLoader
from sadp.registry import DATASETS


def build_dataset(name: str, **kwargs: Any) -> DataBundle:
    """Load a registered dataset: ``build_dataset("digits")``, ``build_dataset("cifar10", data_dir=...)``."""
    return DATASETS.build(name, **kwargs)


__all__ = ["BatchTransform", "DataBundle", "DeviceLoader", "InMemoryImages", "balanced_subset_indices", "build_dataset"]
