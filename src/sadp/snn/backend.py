"""Which implementation runs the neurons' multi-step dynamics.

Backends (all give the same spikes; gradients agree to float rounding):

* ``"auto"`` (default): ``"triton"`` for CUDA tensors when Triton imports, otherwise ``"fused"``.
* ``"fused"``: one autograd node per layer that saves only h and bool spikes (:mod:`sadp.snn.fused`).
* ``"triton"``: the fused recurrence as a Triton kernel (CUDA; CPU only under ``TRITON_INTERPRET=1``).
* ``"reference"``: the plain step-by-step PyTorch loop with the surrogate trick. Works under
  every ``torch.func`` transform (vmap/grad per-example gradients) and ``torch.compile``.

Under ``torch.compile`` the neurons trace the reference loop, which Inductor fuses into its own
kernels (Inductor cannot lower the fused Function's graph). The fused and Triton paths are custom
``autograd.Function`` s without vmap rules, so whenever a neuron sees a ``torch.func``-wrapped
tensor it falls back to ``"reference"`` by itself. To be explicit (e.g. in diagnostics that
compute per-example gradients), use::

    with sadp.snn.set_backend("reference"):
        per_sample_grads = torch.func.vmap(torch.func.grad(loss_fn), ...)(...)

``set_backend(name)`` also works as a plain call (sets the process-wide default). A neuron's own
``backend`` attribute, when not None, overrides the process-wide choice.
"""
from __future__ import annotations

import functools
from types import TracebackType

BACKENDS = ("auto", "fused", "triton", "reference")
_current = "auto"


def get_backend() -> str:
    """The process-wide neuron backend name."""
    return _current


def check_backend(name: str) -> str:
    if name not in BACKENDS:
        raise ValueError(f"unknown neuron backend {name!r}; choose one of {', '.join(BACKENDS)}")
    return name


class set_backend:  # noqa: N801  (used like a function and as a context manager)
    """Set the process-wide neuron backend; as a context manager, restore the previous one on exit."""

    def __init__(self, name: str) -> None:
        global _current
        self.previous = _current
        _current = check_backend(name)

    def __enter__(self) -> "set_backend":
        return self

    def __exit__(self, exc_type: type | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        global _current
        _current = self.previous


@functools.lru_cache(maxsize=1)
def triton_available() -> bool:
    """True when Triton imports (any exception counts as unavailable: broken installs raise oddly)."""
    try:
        import triton  # noqa: F401
        import triton.language  # noqa: F401
    except Exception:
        return False
    return True
