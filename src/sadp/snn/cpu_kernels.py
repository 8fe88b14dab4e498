"""C++ (OpenMP) kernels of the fused multi-step IF/LIF recurrence for CPU tensors.

The PyTorch fused path issues ~5 elementwise ops per time step in forward and ~12 in backward,
each a full pass over memory; on CPU they cost as much as the convolutions. These kernels do the
whole T-step recurrence in one pass per neuron, forward and backward.

The source is ``cpu_kernels.cpp`` in this package. Built on first use with
``torch.utils.cpp_extension.load_inline`` (about a minute, once per source version, announced
in one line on stderr; cached in ``TORCH_EXTENSIONS_DIR`` or ``~/.cache/torch_extensions``). Set
``SADP_CPU_KERNELS=0`` to skip them; any build failure falls back to the PyTorch path with one warning. Compiled with
``-ffp-contract=off`` and the same operation order as :func:`sadp.snn.neuron_spec.charge`, so spikes are
bit-identical to the reference loop (tested).
"""
from __future__ import annotations

import functools
import hashlib
import os
import sys
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from sadp.snn.neuron_spec import NeuronSpec

# The C++ source ships in the package beside this file (pyproject.toml: package-data). Its build is
# cached under a name derived from the text itself, so any edit builds afresh and a cache built
# from another version is never loaded.
_SOURCE = (Path(__file__).parent / "cpu_kernels.cpp").read_text()

SURROGATE_IDS = {"atan": 0, "sigmoid": 1, "triangle": 2}


EXTENSION = "sadp_lif_cpu_" + hashlib.sha256(_SOURCE.encode()).hexdigest()[:16]


def build_directory() -> Path | None:
    """Where torch builds and caches the kernels (``$TORCH_EXTENSIONS_DIR`` or
    ``~/.cache/torch_extensions``, then ``<python>_<device>/`` + ``EXTENSION``); None if unknown."""
    from torch.utils import cpp_extension

    locate = getattr(cpp_extension, "_get_build_directory", None)  # what load_inline itself calls
    return Path(locate(EXTENSION, False)) if locate is not None else None


def needs_build(folder: Path) -> bool:
    """True unless ``folder`` holds a library built from this very source (load_inline then only loads it)."""
    from torch.utils.cpp_extension import LIB_EXT

    source, library = folder / "main.cpp", folder / f"{EXTENSION}{LIB_EXT}"
    try:
        return not (source.read_text().endswith(_SOURCE) and library.stat().st_mtime >= source.stat().st_mtime)
    except OSError:  # either file missing
        return True


@functools.lru_cache(maxsize=1)
def load() -> Any | None:
    """The compiled extension, or None (disabled, no compiler, build error). Says so on stderr,
    in one line, before a build (the first use on a machine, about a minute)."""
    if os.environ.get("SADP_CPU_KERNELS", "1") == "0":
        return None
    try:
        from torch.utils.cpp_extension import load_inline

        folder = build_directory()
        if folder is not None and needs_build(folder):
            print(f"sadp: compiling the C++ CPU kernels once (about a minute), cached in {folder}; "
                  "SADP_CPU_KERNELS=0 skips them", file=sys.stderr, flush=True)
        return load_inline(
            name=EXTENSION, cpp_sources=[_SOURCE], functions=None,
            extra_cflags=["-O3", "-fopenmp", "-ffp-contract=off"], extra_ldflags=["-fopenmp"], verbose=False,
            build_directory=None if folder is None else str(folder),
        )
    except Exception as e:  # no compiler, no ninja, headers missing...
        warnings.warn(f"sadp: C++ LIF kernels unavailable ({type(e).__name__}: {e}); using the PyTorch fused path",
                      stacklevel=2)
        return None


def supports(spec: NeuronSpec, x: Tensor) -> bool:
    return (
        x.device.type == "cpu" and x.dtype in (torch.float32, torch.float64) and spec.kind in ("if", "lif")
        and spec.surrogate.name in SURROGATE_IDS and load() is not None
    )


def _kind(spec: NeuronSpec) -> int:
    return 0 if spec.kind == "if" else (1 if spec.decay_input else 2)


def forward(spec: NeuronSpec, x: Tensor, keep: bool, static_steps: int = 0) -> tuple[Tensor, Tensor | None, Tensor]:
    """(float spikes, h, bool spikes); h and bool spikes (what backward needs) only with ``keep``,
    else None and an empty tensor. ``static_steps`` = T > 0: ``x`` is one frame fed at each of T steps."""
    out, h, s = load().lif_forward(  # type: ignore[union-attr]
        x, _kind(spec), spec.tau or 1.0, spec.v_threshold, spec.v_reset, spec.hard_reset, keep, static_steps)
    return out, (h if keep else None), s


def recompute_backward(spec: NeuronSpec, grad_out: Tensor, x: Tensor, static_steps: int = 0) -> Tensor:
    """dL/dx from the input alone: the forward is re-run per block of neurons inside the kernel, so
    no [T, ...] membrane or spike tensor is materialised (memory-lean mode)."""
    return load().lif_recompute_backward(  # type: ignore[union-attr]
        grad_out, x, _kind(spec), spec.tau or 1.0, spec.v_threshold, spec.v_reset, spec.hard_reset,
        spec.detach_reset, SURROGATE_IDS[spec.surrogate.name], spec.surrogate.alpha, static_steps)


def backward(spec: NeuronSpec, grad_out: Tensor, h: Tensor, s: Tensor, static_input: bool = False) -> Tensor:
    """dL/dx [T, ...]; with ``static_input`` the gradient of the one frame, summed over steps."""
    return load().lif_backward(  # type: ignore[union-attr]
        grad_out, h, s, _kind(spec), spec.tau or 1.0, spec.v_threshold, spec.v_reset, spec.hard_reset,
        spec.detach_reset, SURROGATE_IDS[spec.surrogate.name], spec.surrogate.alpha, static_input)


def _slots(steps: Tensor, T: int) -> Tensor:
    """int64 [T]: row of the kept h for each trained step (``steps``, sorted), -1 for the others."""
    slot = torch.full((T,), -1, dtype=torch.int64)
    slot[steps.cpu()] = torch.arange(steps.numel())
    return slot


def forward_sltt(spec: NeuronSpec, x: Tensor, steps: Tensor, static_steps: int = 0) -> tuple[Tensor, Tensor]:
    """(float spikes [T, ...], h at the trained ``steps`` [K, ...]): all SLTT's backward needs."""
    T = static_steps or x.shape[0]
    return tuple(load().lif_forward_sltt(  # type: ignore[union-attr, return-value]
        x, _kind(spec), spec.tau or 1.0, spec.v_threshold, spec.v_reset, spec.hard_reset, _slots(steps, T),
        steps.numel(), static_steps))


def backward_sltt(spec: NeuronSpec, grad_out: Tensor, hk: Tensor, steps: Tensor, static_input: bool = False) -> Tensor:
    """SLTT's dL/dx: dh/dx sg(h_t - v_th) dL/ds_t at the trained steps, zero at the others (static
    input: summed over the trained steps into one frame)."""
    return load().lif_backward_sltt(  # type: ignore[union-attr]
        grad_out, hk, _slots(steps, grad_out.shape[0]), _kind(spec), spec.tau or 1.0, spec.v_threshold,
        SURROGATE_IDS[spec.surrogate.name], spec.surrogate.alpha, static_input)
