"""Fixtures of the data tests."""
from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Decoded/binned dataset caches go to a fresh folder per test, never to ~/.cache."""
    cache = tmp_path_factory.mktemp("sadp-cache")
    monkeypatch.setenv("SADP_CACHE", str(cache))
    return cache
