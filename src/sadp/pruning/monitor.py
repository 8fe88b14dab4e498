"""Spike counts per example and time step, recorded during the training forward pass.

* Head input: a forward pre-hook on the classifier head (``model.head`` by default, or ``head=``)
  records the sum over features of its input per example and step, the spike count n_t of the
  last spiking layer (for average-pooled spikes in [0, 1] the sum still bounds ||x_t||^2). Input
  with a time dimension ([T, B, D], or [B, T, D] with ``time_dim=1``) is one multi-step call;
  input [B, D] is one step of a loop over time (snnTorch style), and successive calls are stacked
  along T. A model without ``head`` falls back to the output of its last spiking layer (the
  :class:`~sadp.pruning.Pruner` never relies on that: it hooks ``model.head``, else the model's last
  ``nn.Linear`` (:func:`find_head`), else refuses).
* Every spiking layer (``layers=True``): forward hooks on each spiking module, found by type:
  :class:`sadp.snn.SpikingNeuron`, SpikingJelly ``neuron.BaseNode`` (multi-step [T, B, ...] when
  its ``step_mode`` is ``"m"``, else one call per step) and snnTorch ``SpikingNeuron`` (``Leaky``
  etc., one call per step; the spike is the first output when it returns ``(spk, mem)``), plus any
  ``extra_types`` the user passes (one call per step unless their ``step_mode`` is ``"m"``).

Hooks keep tensors on the model's device (no ``.item()``, no host sync). They record inside
``with monitor.record():``, or, after ``start(training_only=True)`` (what :class:`Pruner` does for a
whole epoch), in every forward pass of a module in training mode with gradients enabled, until
``stop()``. Counts are read as ``monitor.counts`` ([T, B]) and ``monitor.layer_counts`` (list of
[T, B], in module registration order), or taken and cleared with ``take()``. Forward passes that a
memory-lean :class:`sadp.snn.SpikingClassifier` re-runs inside backward are not new passes and are
ignored (the model's own ``recomputing`` flag).
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterator, Sequence

import torch
from torch import Tensor, nn

from sadp.snn.models.base import SpikingClassifier, is_recomputing


def spiking_module_types() -> tuple[type, ...]:
    """Spiking neuron base classes of the libraries that import here."""
    from sadp.snn.neurons import SpikingNeuron

    types: list[type] = [SpikingNeuron]
    try:  # SpikingJelly (activation_based API); optional
        from spikingjelly.activation_based import neuron as sj_neuron

        types.append(sj_neuron.BaseNode)
    except Exception:  # noqa: BLE001 - a broken optional install raises more than ImportError (e.g. RuntimeError)
        pass
    try:  # snnTorch; optional
        import snntorch

        types.append(snntorch.SpikingNeuron)
    except Exception:  # noqa: BLE001
        pass
    return tuple(types)


def _is_multi_step(module: nn.Module) -> bool:
    """Whether one call of this spiking module covers all T steps ([T, B, ...] in and out)."""
    from sadp.snn.neurons import SpikingNeuron

    if isinstance(module, SpikingNeuron):
        return True
    return getattr(module, "step_mode", "s") == "m"  # SpikingJelly; snnTorch is always single-step


def has_spiking_layer(model: nn.Module, extra_types: Sequence[type] = ()) -> bool:
    """Whether ``model`` holds a neuron module of a known type (or of ``extra_types``)."""
    types = spiking_module_types() + tuple(extra_types)
    return any(isinstance(m, types) for m in model.modules())


def find_head(model: nn.Module) -> tuple[str, nn.Module] | None:
    """The classifier whose input the spike-aware score counts, for models that do not name it:
    ``model.head`` if it is a module, else the last ``nn.Linear`` in registration order (SpikingJelly's
    ``layer.Linear`` and snnTorch's ``nn.Linear -> Leaky`` stacks: the input of the last Linear is
    the last hidden layer's spikes). None when there is neither."""
    head = getattr(model, "head", None)
    if isinstance(head, nn.Module):
        return "head", head
    linears = [(name, m) for name, m in model.named_modules() if isinstance(m, nn.Linear)]
    return linears[-1] if linears else None


def _first_tensor(out: Any) -> Tensor | None:
    if isinstance(out, Tensor):
        return out
    if isinstance(out, (tuple, list)) and out and isinstance(out[0], Tensor):
        return out[0]
    return None


class SpikeMonitor:
    """Records per-example, per-step spike counts of the head's input (and optionally every layer)."""

    def __init__(
        self,
        model: nn.Module,
        head: nn.Module | None = None,
        layers: bool = False,
        extra_types: Sequence[type] = (),
        time_dim: int = 0,
        check_head: str | None = None,
    ) -> None:
        """``check_head``: a description of a head found by :func:`find_head` rather than named;
        its first recorded input is checked to be spikes (no negative values), else ValueError."""
        if time_dim not in (0, 1):
            raise ValueError(f"time_dim must be 0 ([T, B, ...], time first) or 1 ([B, T, ...], batch first), "
                             f"got {time_dim!r}")
        self.active = False
        self.training_only = False
        self.layers = layers
        self.time_dim = time_dim
        # Memory-lean sadp models re-run stages in backward; their own flag tells the hooks.
        self._lean_models = [m for m in model.modules() if isinstance(m, SpikingClassifier)]
        types = spiking_module_types() + tuple(extra_types)
        self.spiking = [(name, m) for name, m in model.named_modules() if isinstance(m, types)]
        self.head = head if head is not None else getattr(model, "head", None)
        self._check_head = check_head
        self._handles: list[Any] = []
        self._head_parts: list[Tensor] = []
        self._layer_parts: list[list[Tensor]] = [[] for _ in self.spiking]
        if self.head is not None:
            self._handles.append(self.head.register_forward_pre_hook(self._head_hook))
            self._head_from_layer: int | None = None
        elif self.spiking:
            self._head_from_layer = len(self.spiking) - 1  # the last spiking layer feeds the classifier
        else:
            raise ValueError(
                "SpikeMonitor found neither a `head` module nor any spiking layer in the model; pass the "
                "classifier as head=... or the neuron classes as extra_types=(...)"
            )
        for i, (_, m) in enumerate(self.spiking):
            if layers or i == self._head_from_layer:
                self._handles.append(m.register_forward_hook(self._make_layer_hook(i, _is_multi_step(m))))

    # -- hooks (device tensors only) ------------------------------------------------------
    @staticmethod
    def _step_counts(x: Tensor, multi_step: bool, time_dim: int = 0) -> Tensor:
        """[T, B] sums over features for multi-step input (time in ``time_dim``), [1, B] for one step."""
        x = x.detach()  # one reduction per call: this runs in every training step
        if multi_step:
            counts = x.sum(tuple(range(2, x.dim())), dtype=torch.float32) if x.dim() > 2 else x.float()
            return counts if time_dim == 0 else counts.t()
        return x.sum(tuple(range(1, x.dim())), dtype=torch.float32).unsqueeze(0)

    def _recording(self, module: nn.Module) -> bool:
        if not self.active:
            return False
        if self.training_only and not (module.training and torch.is_grad_enabled()):
            return False
        return not any(is_recomputing(m) for m in self._lean_models)

    def _head_hook(self, module: nn.Module, args: tuple) -> None:
        if not self._recording(module):
            return
        x = args[0]
        if not isinstance(x, Tensor) or x.dim() < 2:
            expected = "[B, T, D]" if self.time_dim == 1 else "[T, B, D]"
            raise ValueError(f"head input should be {expected} or one step [B, D], got {getattr(x, 'shape', type(x))}")
        if self._check_head is not None:  # once, at the first recorded batch: one host sync per run
            found, self._check_head = self._check_head, None
            low = float(x.detach().min())
            if low < 0:
                raise ValueError(
                    f"the input of {found} has negative values ({low:.3g}), so it is not spikes: pass "
                    "head=<the module whose input is the last spiking layer's output> to Pruner"
                )
        self._head_parts.append(self._step_counts(x, x.dim() >= 3, self.time_dim))

    def _make_layer_hook(self, i: int, multi_step: bool):
        def hook(module: nn.Module, args: tuple, out: Any) -> None:
            if not self._recording(module):
                return
            s = _first_tensor(out)
            if s is None:
                return
            self._layer_parts[i].append(self._step_counts(s, multi_step))

        return hook

    # -- recording ------------------------------------------------------------------------
    @contextmanager
    def record(self) -> Iterator["SpikeMonitor"]:
        """Record during the enclosed forward pass(es); earlier counts are cleared."""
        self.start()
        try:
            yield self
        finally:
            self.stop()

    def start(self, training_only: bool = False) -> None:
        """Clear the counts and record from now on (``training_only``: only forward passes of
        modules in training mode with gradients enabled, so evaluation passes in between are skipped)."""
        self.clear()
        self.active, self.training_only = True, training_only

    def stop(self) -> None:
        self.active = False

    def clear(self) -> None:
        self._head_parts = []
        self._layer_parts = [[] for _ in self.spiking]

    def take(self) -> tuple[Tensor | None, list[Tensor] | None]:
        """``(counts, layer_counts)`` recorded since the last ``take()``/``start()``, then clear them."""
        counts, layer_counts = self.counts, self.layer_counts
        self.clear()
        return counts, layer_counts

    @property
    def counts(self) -> Tensor | None:
        """[T, B] spike counts of the head's input from the last ``record()``, or None."""
        parts = self._head_parts if self._head_from_layer is None else self._layer_parts[self._head_from_layer]
        return (parts[0] if len(parts) == 1 else torch.cat(parts)) if parts else None

    @property
    def layer_counts(self) -> list[Tensor] | None:
        """Per spiking layer [T, B] counts (``layers=True``), or None."""
        if not self.layers:
            return None
        return [p[0] if len(p) == 1 else torch.cat(p) for p in self._layer_parts if p]

    def remove(self) -> None:
        for h in self._handles:
            h.remove()
        self._handles = []
