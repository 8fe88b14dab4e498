"""Fixtures shared across test folders: keep this small."""
from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def shared_cifar_small(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """3 real JPEGs per class and split from the team's shared CIFAR-10 archive (skips where it is absent)."""
    from sadp.data.shared import shared_archive, shared_cifar10

    try:
        shared_archive()
    except FileNotFoundError as e:
        pytest.skip(f"shared CIFAR-10 JPEG archive not available: {e}")
    return shared_cifar10(cache_dir=tmp_path_factory.mktemp("shared"), members=3)
