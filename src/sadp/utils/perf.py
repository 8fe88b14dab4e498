"""CPU speed and memory helpers.

* :func:`tune_cpu_allocator` raises glibc's mmap/trim thresholds so large activation tensors are
  reused instead of being returned to the OS and page-faulted back every step (faster training
  steps on CPU for more peak RSS; measured in docs/architecture.md, Allocator). A no-op off glibc.
* :func:`compile_model` wraps ``torch.compile`` with the Inductor cache kept on disk across runs.
* :func:`fast_cpu` is the one call for library users: tune the allocator and set thread count.
* :func:`peak_memory` measures the peak of live PyTorch CPU/CUDA allocations during a callable.
* :func:`machine_info` names the machine a timing was taken on (runs record it in summary.json).
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os
import platform
import sys
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

# mallopt parameter numbers from glibc's malloc.h
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
_tuned = False


def tune_cpu_allocator(mmap_threshold: int = 1 << 30, trim_threshold: int = 1 << 34) -> bool:
    """Keep freed large blocks in the heap (glibc ``mallopt``). Returns True when applied.

    glibc serves blocks above ``M_MMAP_THRESHOLD`` (32 MB max by default, dynamically adjusted)
    with fresh ``mmap`` and gives them back on free, so every training step page-faults its
    activations anew (~1.2 M faults per step for the small CIFAR CNN). Raising both thresholds
    keeps the memory mapped. Only future allocations are affected; call it early.
    """
    global _tuned
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # musl and other libcs have no mallopt
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    # mallopt takes an int: clamp to INT_MAX
    limit = 2**31 - 1
    ok = mallopt(M_MMAP_THRESHOLD, min(mmap_threshold, limit)) == 1
    ok = mallopt(M_TRIM_THRESHOLD, min(trim_threshold, limit)) == 1 and ok
    _tuned = _tuned or ok
    return ok


def allocator_tuned() -> bool:
    """Whether :func:`tune_cpu_allocator` succeeded in this process."""
    return _tuned


def default_compile_cache() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "sadp" / "inductor"


def compile_model(model: nn.Module, cache_dir: str | os.PathLike | None = None, **kwargs: Any) -> nn.Module:
    """``torch.compile(model)`` with Inductor's on-disk cache in ``cache_dir`` (reused across runs).

    The first step compiles (slow on CPU); later runs of the same model load kernels
    from the cache. An existing ``TORCHINDUCTOR_CACHE_DIR`` is respected.
    """
    cache = Path(cache_dir) if cache_dir is not None else default_compile_cache()
    cache.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", str(cache))
    os.environ.setdefault("TORCHINDUCTOR_FX_GRAPH_CACHE", "1")
    return torch.compile(model, **kwargs)  # type: ignore[return-value]


def fast_cpu(threads: int | None = None) -> bool:
    """One call for library users: tune the glibc allocator and optionally set torch's thread count.

    Returns whether the allocator tuning was applied. Compile separately with :func:`compile_model`.
    """
    if threads is not None:
        if threads < 1:
            raise ValueError(f"threads must be >= 1, got {threads}")
        torch.set_num_threads(threads)
    return tune_cpu_allocator()


def peak_memory(fn: Callable[[], Any], device: str | torch.device = "cpu") -> int:
    """Peak bytes of live PyTorch allocations while ``fn()`` runs, above those live at the start.

    CUDA: ``torch.cuda.max_memory_allocated``. CPU: replays the allocation events of the PyTorch
    profiler (``profile_memory=True``) in time order; slow, use for measurements, not in loops.
    """
    dev = torch.device(device)
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
        base = torch.cuda.memory_allocated(dev)
        torch.cuda.reset_peak_memory_stats(dev)
        fn()
        torch.cuda.synchronize(dev)
        return torch.cuda.max_memory_allocated(dev) - base
    from torch._C._profiler import _EventType
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        fn()
    allocations: list[tuple[int, int]] = []  # (time, +bytes allocated / -bytes freed)
    stack = list(prof.profiler.kineto_results.experimental_event_tree())  # type: ignore[union-attr]
    while stack:
        node = stack.pop()
        if node.tag == _EventType.Allocation:
            allocations.append((node.start_time_ns, node.extra_fields.alloc_size))
        stack.extend(node.children)
    live = peak = 0
    for _, size in sorted(allocations):
        live += size
        peak = max(peak, live)
    return peak


def machine_info() -> dict[str, Any]:
    """What a timing depends on: CPU model, logical cores, torch threads and version, and the GPU
    when there is one. Times from different machines are not comparable; reports check this."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info: dict[str, Any] = {"cpu": cpu, "logical_cores": os.cpu_count(), "torch_threads": torch.get_num_threads(),
                            "torch": torch.__version__}
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name()
    return info
