"""CPU speed helpers: allocator tuning, compile wrapper, peak-memory measurement, CLI flags."""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys

import pytest
import torch

from sadp.utils import perf

# Run in a fresh process (the allocator settings would otherwise last for the rest of the test run):
# glibc's malloc statistics (mallinfo2) show where a 64 MiB block comes from. Untuned, glibc maps it
# with mmap (hblks + 1) and unmaps it on free; tuned, it comes from the heap (arena grows) and stays
# there after free. A second fast_cpu() must leave all of this, and the thread count, unchanged.
ALLOCATOR_PROBE = r"""
import ctypes, ctypes.util, json, os, torch
from sadp.utils import perf

libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
if not hasattr(libc, "mallinfo2"):
    print(json.dumps(None))
    raise SystemExit
FIELDS = ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")
class Mallinfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in FIELDS]
libc.mallinfo2.restype = Mallinfo2
libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]
SIZE = 64 << 20

def block():
    before = libc.mallinfo2()
    p = libc.malloc(SIZE)
    during = libc.mallinfo2()
    libc.free(p)
    after = libc.mallinfo2()
    return {"mmapped": during.hblks - before.hblks, "free_in_heap_after": after.fordblks,
            "trimmed": during.arena - after.arena, "arena_after": after.arena}

def state():
    return {"tuned": perf.allocator_tuned(), "threads": torch.get_num_threads(),
            "env": {k: v for k, v in os.environ.items() if "MALLOC" in k or "GLIBC" in k}}

out = {"untuned": block(), "tuned_before": perf.allocator_tuned()}
out["first"] = perf.fast_cpu(threads=1)
out["tuned"], out["state"] = block(), state()
out["second"] = perf.fast_cpu()
out["again"], out["state_again"] = block(), state()
print(json.dumps(out))
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="mallopt is glibc-only")
def test_fast_cpu_tunes_the_allocator_and_threads_and_a_second_call_changes_nothing():
    r = subprocess.run([sys.executable, "-c", ALLOCATOR_PROBE], capture_output=True, text=True, timeout=300,
                       env={k: v for k, v in os.environ.items() if k != "GLIBC_TUNABLES"})
    assert r.returncode == 0, r.stderr[-2000:]
    out = json.loads(r.stdout.strip().splitlines()[-1])
    if out is None:
        pytest.skip("glibc without mallinfo2 (older than 2.33)")
    size = 64 << 20
    assert out["untuned"]["mmapped"] == 1 and out["tuned_before"] is False  # glibc's default: mmap
    assert out["first"] is True and out["state"]["tuned"] is True and out["state"]["threads"] == 1
    assert out["tuned"]["mmapped"] == 0  # served from the heap ...
    # ... and kept there after free: the heap is not trimmed and holds the freed block as free space.
    assert out["tuned"]["trimmed"] == 0 and out["tuned"]["free_in_heap_after"] >= size
    assert out["untuned"]["free_in_heap_after"] < size  # untuned, the block went back to the OS
    assert out["second"] is True
    assert out["state_again"] == out["state"]  # tuned, same thread count, no environment change
    assert out["again"]["mmapped"] == 0 and out["again"]["arena_after"] == out["tuned"]["arena_after"]


def test_tune_cpu_allocator_is_noop_off_linux(monkeypatch):
    monkeypatch.setattr(perf.sys, "platform", "darwin")
    assert perf.tune_cpu_allocator() is False


def test_fast_cpu_rejects_zero_threads_before_changing_anything():
    before = (torch.get_num_threads(), perf.allocator_tuned())
    with pytest.raises(ValueError, match="threads must be >= 1"):
        perf.fast_cpu(threads=0)
    assert (torch.get_num_threads(), perf.allocator_tuned()) == before


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
