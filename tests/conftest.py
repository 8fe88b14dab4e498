"""Fixtures shared across test folders: keep this small."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "shared_cifar10.py"


def load_shared_cifar10_script() -> ModuleType:
    """``scripts/shared_cifar10.py`` as a module (it is not part of the package)."""
    module = sys.modules.get("shared_cifar10")
    if module is None:
        spec = importlib.util.spec_from_file_location("shared_cifar10", SCRIPT)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules["shared_cifar10"] = module
        spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def shared_cifar10_script() -> ModuleType:
    return load_shared_cifar10_script()


@pytest.fixture(scope="session")
def shared_cifar_small(shared_cifar10_script: ModuleType, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """3 real JPEGs per class and split from the team's shared CIFAR-10 archive (skips where it is absent)."""
    try:
        shared_cifar10_script.find_archive()
    except FileNotFoundError as e:
        pytest.skip(f"shared CIFAR-10 JPEG archive not available: {e}")
    return shared_cifar10_script.extract_cifar10(cache_dir=tmp_path_factory.mktemp("shared"), per_class=3)
