"""Datasets (registered in ``sadp.registry.DATASETS``), batch transforms and device loaders."""
from __future__ import annotations

import inspect
from typing import Any

from sadp.data import cifar, digits, emulated_events, events, imagefolder  # noqa: F401  (registration)
from sadp.data.base import DataBundle, InMemoryImages, balanced_subset_indices
from sadp.data.errors import CorruptFileError, DatasetError, DatasetNotFoundError
from sadp.data.loader import BatchTransform, DeviceLoader
from sadp.data.wrap import bundle_from_datasets
from sadp.registry import DATASETS
from sadp.utils.typecheck import hints_of, type_problem

COMMON_OPTIONS = {"data_dir", "subset", "seed", "skip_corrupt"}


def build_dataset(name: str, **kwargs: Any) -> DataBundle:
    """Load a registered dataset: ``build_dataset("digits")``, ``build_dataset("cifar10", data_dir=...)``.

    Options a reader does not take are an error (a misspelt ``--dataset-option`` must not be ignored),
    except the common ones every reader is called with (data_dir, subset, seed, skip_corrupt); so
    is a value that does not fit the reader's annotation (``image_size: '24'``).
    """
    reader = DATASETS.get(name)
    params = inspect.signature(reader).parameters
    if not any(p.kind is p.VAR_KEYWORD for p in params.values()):
        unknown = sorted(set(kwargs) - set(params) - COMMON_OPTIONS)
        if unknown:
            valid = sorted(set(params) - COMMON_OPTIONS)
            raise ValueError(f"dataset {name!r} has no option(s) {unknown}; its options are {valid}")
        kwargs = {k: v for k, v in kwargs.items() if k in params}
    hints = hints_of(reader)
    problems = [p for k, v in kwargs.items() if k in hints and (p := type_problem(k, v, hints[k]))]
    if problems:
        raise ValueError(f"dataset {name!r}: " + "; ".join(problems))
    return reader(**kwargs)


__all__ = [
    "BatchTransform",
    "CorruptFileError",
    "DataBundle",
    "DatasetError",
    "DatasetNotFoundError",
    "DeviceLoader",
    "InMemoryImages",
    "balanced_subset_indices",
    "build_dataset",
    "bundle_from_datasets",
]
