"""CPU speed helpers: allocator tuning, compile wrapper, peak-memory measurement, CLI flags."""
from __future__ import annotations

import argparse
import os
import shutil
import sys

import pytest
import torch

from sadp.utils import perf


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="mallopt is glibc-only")
def test_tune_cpu_allocator_applies_on_glibc():
    assert perf.tune_cpu_allocator() is True
    assert perf.allocator_tuned()
    assert perf.fast_cpu() is True  # idempotent


def test_tune_cpu_allocator_is_noop_off_linux(monkeypatch):
    monkeypatch.setattr(perf.sys, "platform", "darwin")
    assert perf.tune_cpu_allocator() is False


def test_fast_cpu_threads(monkeypatch):
    before = torch.get_num_threads()
    try:
        perf.fast_cpu(threads=1)
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
    with pytest.raises(ValueError, match="threads must be >= 1"):
        perf.fast_cpu(threads=0)


def test_peak_memory_counts_live_tensors():
    mib = 2**20

    def fn():
        a = torch.empty(10 * mib, dtype=torch.uint8)
        del a
        b = torch.empty(4 * mib, dtype=torch.uint8)  # reuses the space: peak stays 10 MiB
        c = torch.empty(3 * mib, dtype=torch.uint8)  # 7 MiB live
        return b, c

    peak = perf.peak_memory(fn)
    assert 10 * mib <= peak < 10 * mib + 64 * 1024


@pytest.mark.slow
@pytest.mark.skipif(shutil.which(os.environ.get("CXX", "g++")) is None,
                    reason="torch.compile on CPU needs a C++ compiler (g++ or $CXX)")
def test_compile_model_runs_and_fills_the_persistent_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", "placeholder")  # records the original for teardown
    monkeypatch.delenv("TORCHINDUCTOR_CACHE_DIR")
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU())
    compiled = perf.compile_model(model, cache_dir=tmp_path / "inductor")
    assert compiled._orig_mod is model  # wrapped, compiled lazily on first call
    assert os.environ["TORCHINDUCTOR_CACHE_DIR"] == str(tmp_path / "inductor")
    x = torch.randn(5, 4)
    torch._dynamo.reset()  # compile here, not from another test's in-memory graphs
    out = compiled(x)
    torch.testing.assert_close(out, model(x))
    # Inductor generated and stored kernels in the given cache (later runs load them from there).
    assert any(p.suffix in (".py", ".so", ".cpp") for p in (tmp_path / "inductor").rglob("*"))


def test_cli_flags_reach_config():
    from sadp.cli.train import add_arguments, config_from_args

    p = argparse.ArgumentParser()
    add_arguments(p)
    cfg = config_from_args(p.parse_args([]))
    assert cfg.compile is False and cfg.tune_allocator is True
    cfg = config_from_args(p.parse_args(["--compile", "--no-tune-allocator"]))
    assert cfg.compile is True and cfg.tune_allocator is False
