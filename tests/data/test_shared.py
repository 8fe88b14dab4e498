from __future__ import annotations

from pathlib import Path

import pytest

from sadp.data import shared
from sadp.data.shared import cache_root, shared_cifar10


def test_subset_extraction_layout(shared_cifar_small: Path) -> None:
    assert sorted(p.name for p in shared_cifar_small.iterdir()) == ["test", "train"]
    for split in ("train", "test"):
        classes = sorted(p.name for p in (shared_cifar_small / split).iterdir())
        assert len(classes) == 10 and "airplane" in classes
        for c in classes:
            assert len(list((shared_cifar_small / split / c).glob("*.jpg"))) == 3


def test_second_call_reuses_the_extraction(shared_cifar_small: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shared, "shared_archive", lambda *a: (_ for _ in ()).throw(AssertionError("re-extracted")))
    assert shared_cifar10(cache_dir=shared_cifar_small.parent.parent, members=3) == shared_cifar_small


def test_environment_overrides(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SADP_CACHE", str(tmp_path / "c"))
    assert cache_root() == tmp_path / "c"
    monkeypatch.setenv("SADP_SHARED", str(tmp_path / "nowhere"))
    with pytest.raises(FileNotFoundError, match="SADP_SHARED"):
        shared_cifar10(cache_dir=tmp_path, members=1)


def test_bad_members(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="positive"):
        shared_cifar10(cache_dir=tmp_path, members=0)
    with pytest.raises(ValueError, match="empty"):
        shared_cifar10(cache_dir=tmp_path, members=[])
