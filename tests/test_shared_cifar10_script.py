"""scripts/shared_cifar10.py: the tests' and benchmarks' way to the team's CIFAR-10 JPEG archive."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "shared_cifar10.py"


def test_subset_extraction_layout(shared_cifar_small: Path) -> None:
    assert sorted(p.name for p in shared_cifar_small.iterdir()) == ["test", "train"]
    for split in ("train", "test"):
        classes = sorted(p.name for p in (shared_cifar_small / split).iterdir())
        assert len(classes) == 10 and "airplane" in classes
        for c in classes:
            names = sorted(p.name for p in (shared_cifar_small / split / c).glob("*.jpg"))
            assert names == ["0000.jpg", "0001.jpg", "0002.jpg"]  # the lowest-numbered files


def test_second_call_reuses_the_extraction(shared_cifar10_script: ModuleType, shared_cifar_small: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shared_cifar10_script, "find_archive",
                        lambda *a: (_ for _ in ()).throw(AssertionError("re-extracted")))
    assert (shared_cifar10_script.extract_cifar10(cache_dir=shared_cifar_small.parent.parent, per_class=3)
            == shared_cifar_small)


def test_environment_overrides(shared_cifar10_script: ModuleType, tmp_path: Path,
                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SADP_CACHE", str(tmp_path / "c"))
    assert shared_cifar10_script.cache_root() == tmp_path / "c"
    monkeypatch.setenv("SADP_SHARED", str(tmp_path / "nowhere"))
    with pytest.raises(FileNotFoundError, match="SADP_SHARED"):
        shared_cifar10_script.extract_cifar10(cache_dir=tmp_path, per_class=1)


@pytest.mark.parametrize("bad", [0, -2, 1.5, True, "3"])
def test_bad_per_class(shared_cifar10_script: ModuleType, tmp_path: Path, bad: object) -> None:
    with pytest.raises(ValueError, match="positive"):
        shared_cifar10_script.extract_cifar10(cache_dir=tmp_path, per_class=bad)


def test_command_line_prints_the_root(shared_cifar_small: Path, tmp_path: Path) -> None:
    cache = shared_cifar_small.parent.parent  # already extracted there: the script only prints the path
    r = subprocess.run([sys.executable, str(SCRIPT), "--per-class", "3", "--cache-dir", str(cache)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and r.stdout.strip() == str(shared_cifar_small)
    r = subprocess.run([sys.executable, str(SCRIPT), "--per-class", "0", "--cache-dir", str(tmp_path)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 1 and "positive" in r.stderr
