"""Which routes the backward pass follows: BPTT, SLTT or SLTT-K (Meng et al., ICCV 2023).

* ``"bptt"`` (default): backpropagation through time, every route of the graph.
* ``"sltt"``: spatial learning through time. The forward pass is unchanged (same spikes), but the
  backward pass drops the temporal routes: each neuron's membrane carried from step t-1 to step t
  (and with it the reset) is treated as a constant, so dL/dx_t = dh/dx sg'(h_t - v_th) dL/ds_t
  and no gradient travels between steps. A neuron then keeps only h_t for backward (no spikes).
* ``"sltt"`` with ``steps=K`` (SLTT-K, 0 < K < T): each forward pass draws K of the T steps at
  random (``torch.randperm(T)[:K]``, the global torch generator), and only those steps are
  backpropagated: the neurons keep h_t only there, and in :class:`~sadp.snn.layers.SeqToANN` stages
  convolutions, linear layers and BatchNorm run forward over every step (BPTT's outputs, bit for
  bit) but keep only the trained steps' inputs and compute their backward on those alone, so it
  does about K/T of BPTT's work (BatchNorm keeps its statistics over all steps; the gradient
  through them reaches only the trained steps). The model's (small) head runs as usual with its
  untrained steps' logits detached. Under SLTT-K a training-mode BatchNorm inside a ``SeqToANN``
  runs its kernel directly, so forward hooks on that BatchNorm module do not run. The gradient is not
  rescaled (as the paper's code: each kept step's share of the loss keeps its 1/T).

Two ways to switch it on:

* for a model (:class:`~sadp.snn.SpikingClassifier`), ``sadp.snn.set_backprop(model, "sltt", steps=1)``:
  every training forward pass (``model.training`` and gradients enabled) uses it and draws its
  own K steps; ``sadp train --backprop sltt --backprop-steps 1`` does this;
* for any code using sadp's neurons and ``SeqToANN``, a context manager::

      with sadp.snn.backprop("sltt", steps=1):   # K steps drawn once, at the first layer that runs
          loss = loss_fn(model(x), y)
          loss.backward()

A model's own setting, when not None, wins over the context. Without gradients (evaluation,
``torch.no_grad``) nothing changes. Modules other than sadp's neurons, ``SeqToANN`` and the head of
a ``SpikingClassifier`` run as usual: under SLTT-K they see gradients that are zero at the
dropped steps but do not skip work.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from types import TracebackType

import torch
from torch import Tensor

METHODS = ("bptt", "sltt")


@dataclass(frozen=True)
class Backprop:
    """A backward-pass setting: ``method`` (bptt | sltt) and ``steps`` K (0: every step; SLTT only)."""

    method: str = "bptt"
    steps: int = 0

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"backprop must be one of {', '.join(METHODS)}, got {self.method!r}")
        if isinstance(self.steps, bool) or not isinstance(self.steps, int):
            raise ValueError(f"backprop steps must be an integer, got {self.steps!r}")
        if self.steps < 0:
            raise ValueError(f"backprop steps K must be >= 0 (0: every step), got {self.steps}")
        if self.steps and self.method != "sltt":
            raise ValueError(f"backprop steps K = {self.steps} needs backprop 'sltt' (SLTT-K), got {self.method!r}")

    @property
    def sltt(self) -> bool:
        return self.method == "sltt"

    def check_steps(self, T: int) -> None:
        """A ValueError when K exceeds the number of time steps T."""
        if self.steps > T:
            raise ValueError(f"backprop steps K = {self.steps} exceeds the {T} time steps (choose 0 <= K <= T)")

    def __str__(self) -> str:
        return self.method + (f"-{self.steps}" if self.steps else "")


class Selection:
    """One forward pass's setting and its drawn steps: every layer of the pass trains the same K steps."""

    def __init__(self, mode: Backprop) -> None:
        self.mode = mode
        self._drawn: dict[int, Tensor] = {}

    def steps(self, T: int) -> Tensor | None:
        """Sorted int64 [K] trained steps of a T-step input; None: every step."""
        K = self.mode.steps
        if K == 0 or K >= T:
            if K > T:
                self.mode.check_steps(T)
            return None
        if T not in self._drawn:
            self._drawn[T] = torch.randperm(T)[:K].sort().values
        return self._drawn[T]


_local = threading.local()


def _stack() -> list[Selection]:
    if not hasattr(_local, "stack"):
        _local.stack = []
    return _local.stack


def active() -> Selection | None:
    """The SLTT selection in force for this thread, or None (BPTT). Only meaningful while gradients are enabled."""
    stack = _stack()
    if not stack or not stack[-1].mode.sltt:
        return None
    return stack[-1]


class use:  # noqa: N801  (a context manager)
    """Make ``selection`` (or a fresh one for a :class:`Backprop`) the active one inside the block."""

    def __init__(self, selection: Selection | Backprop) -> None:
        self.selection = selection if isinstance(selection, Selection) else Selection(selection)

    def __enter__(self) -> Selection:
        _stack().append(self.selection)
        return self.selection

    def __exit__(self, exc_type: type | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        _stack().pop()


def backprop(method: str = "sltt", steps: int = 0) -> use:
    """Context manager: inside it, sadp neurons and ``SeqToANN`` stages backpropagate with ``method``
    (``"bptt"`` or ``"sltt"``) over ``steps`` K drawn steps (0: all); see the module docstring."""
    return use(Backprop(method, steps))


def steps_mask(steps: Tensor | None, T: int) -> Tensor:
    """bool [T]: True at the trained steps."""
    if steps is None:
        return torch.ones(T, dtype=torch.bool)
    m = torch.zeros(T, dtype=torch.bool)
    m[steps] = True
    return m


__all__ = ["Backprop", "METHODS", "Selection", "active", "backprop", "steps_mask", "use"]
