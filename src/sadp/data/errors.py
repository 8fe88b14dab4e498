"""Dataset errors: each message names the file or folder, what was expected there and how to fix it.

They are raised while the dataset is built, before any training starts.
"""
from __future__ import annotations

from pathlib import Path


class DatasetError(ValueError):
    """A dataset on disk is malformed: empty, inconsistent or in an unexpected layout."""


class DatasetNotFoundError(DatasetError, FileNotFoundError):
    """Expected dataset files or folders are missing."""

    def __init__(self, path: str | Path, expected: str, obtain: str) -> None:
        super().__init__(f"{path}: {expected} not found.\n  How to obtain it: {obtain}")
        self.path = Path(path)


class CorruptFileError(DatasetError):
    """A file exists but cannot be decoded; ``--skip-corrupt`` skips such files and counts them."""

    def __init__(self, path: str | Path, reason: str) -> None:
        super().__init__(
            f"cannot decode {path}: {reason}; "
            "replace or delete the file, or pass --skip-corrupt to skip undecodable files (counted in summary.json)"
        )
        self.path = Path(path)


def require_data_dir(data_dir: str | Path | None, dataset: str, expected: str, obtain: str) -> Path:
    """``data_dir`` as a Path, or a clear error when it was not given or does not exist."""
    if data_dir is None:
        raise DatasetNotFoundError(
            "<no --data-dir>", f"dataset {dataset!r} reads files from disk; pass --data-dir pointing at {expected}",
            obtain,
        )
    path = Path(data_dir).expanduser()
    if not path.is_dir():
        raise DatasetNotFoundError(path, f"directory ({expected})", obtain)
    return path
