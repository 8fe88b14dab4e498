"""The C++ kernels announce a build (one stderr line naming the cache) and stay quiet when loading a cached one."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch.utils.cpp_extension

from sadp.snn import cpu_kernels


def _cached_build(folder: Path, source: str) -> None:
    """What load_inline leaves behind: main.cpp (the source after torch's include line) and the library."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "main.cpp").write_text("#include <torch/extension.h>\n" + source)
    lib = folder / f"{cpu_kernels.EXTENSION}{torch.utils.cpp_extension.LIB_EXT}"
    lib.write_bytes(b"\x7fELF")
    t = (folder / "main.cpp").stat().st_mtime
    os.utime(lib, (t + 5, t + 5))


def test_needs_build_only_without_a_library_of_this_source(tmp_path: Path) -> None:
    assert cpu_kernels.needs_build(tmp_path / "empty")
    _cached_build(tmp_path / "ok", cpu_kernels._SOURCE)
    assert not cpu_kernels.needs_build(tmp_path / "ok")
    _cached_build(tmp_path / "edited", cpu_kernels._SOURCE.replace("lif_forward", "lif_fwd"))
    assert cpu_kernels.needs_build(tmp_path / "edited")  # another source: load_inline recompiles
    _cached_build(tmp_path / "stale", cpu_kernels._SOURCE)
    lib = tmp_path / "stale" / f"{cpu_kernels.EXTENSION}{torch.utils.cpp_extension.LIB_EXT}"
    os.utime(lib, (1.0, 1.0))  # older than its source
    assert cpu_kernels.needs_build(tmp_path / "stale")


@pytest.mark.parametrize("cached", [False, True])
def test_load_says_one_line_before_a_build_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture, cached: bool) -> None:
    folder = tmp_path / cpu_kernels.EXTENSION
    if cached:
        _cached_build(folder, cpu_kernels._SOURCE)
    calls = []
    monkeypatch.setenv("SADP_CPU_KERNELS", "1")
    monkeypatch.setattr(cpu_kernels, "build_directory", lambda: folder)
    monkeypatch.setattr(torch.utils.cpp_extension, "load_inline", lambda **kw: calls.append(kw) or "module")
    assert cpu_kernels.load.__wrapped__() == "module"  # the uncached function: no real build here
    assert calls[0]["build_directory"] == str(folder) and calls[0]["name"] == cpu_kernels.EXTENSION
    err = capsys.readouterr().err
    if cached:
        assert err == ""
    else:
        assert err.count("\n") == 1 and "compiling the C++ CPU kernels" in err and str(folder) in err


def test_the_build_directory_is_torchs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TORCH_EXTENSIONS_DIR", str(tmp_path))
    assert cpu_kernels.build_directory() == tmp_path / cpu_kernels.EXTENSION
