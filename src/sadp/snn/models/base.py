"""Common structure of every registered spiking model.

A model maps [T, B, C, H, W] (or [T, B, D]) to per-step logits [T, B, num_classes]. Its
``head`` is an ``nn.Linear`` applied to [T, B, D] directly (no folding), reading the output of
the last spiking layer (binary, or average-pooled spikes in [0, 1] for global-pool ResNets),
so a forward pre-hook on ``model.head`` sees the head input per example and time step.

Memory-lean mode (``model.memory_lean = True`` or :func:`set_memory_mode`): during training,
``features`` runs as checkpointed stages, each ending at a spiking layer; a stage keeps only its
input and recomputes its activations in backward. Steps give the same results (BatchNorm
running statistics are not updated twice); forward hooks on modules inside ``features`` run a
second time during backward, while :func:`is_recomputing` is True for that model (the flag is the
model's own, so another model in the process is not affected). The head is never recomputed.
"""
from __future__ import annotations

import inspect
from contextlib import contextmanager, nullcontext
from typing import Any, Callable, Iterator

import torch
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

from sadp.registry import MODELS, NEURONS
from sadp.snn import sltt
from sadp.snn.layers import trained_steps
from sadp.snn.neurons import SpikingNeuron, make_neuron
from sadp.snn.sltt import Backprop
from sadp.utils.typecheck import hints_of, type_problem

MEMORY_MODES = ("default", "lean")


def is_recomputing(model: nn.Module) -> bool:
    """True while memory-lean ``model`` re-runs a stage's forward inside backward."""
    return bool(getattr(model, "recomputing", False))


@contextmanager
def _recompute_context(model: nn.Module, modules: list[nn.Module],
                       selection: sltt.Selection | None = None) -> Iterator[None]:
    """Re-run a stage of ``model`` without touching BatchNorm running statistics, flagging hooks,
    under the forward pass's backprop ``selection`` (None: BPTT), so the same steps are saved."""
    bns = [m for mod in modules for m in mod.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    saved = [(bn.momentum, None if bn.num_batches_tracked is None else bn.num_batches_tracked.clone()) for bn in bns]
    for bn in bns:
        bn.momentum = 0.0  # running = (1 - 0) running + 0 batch: unchanged, bit for bit
    model.recomputing = True
    try:
        with sltt.use(selection or sltt.Selection(sltt.Backprop())):
            yield
    finally:
        model.recomputing = False
        for bn, (momentum, nbt) in zip(bns, saved):
            bn.momentum = momentum
            if nbt is not None:
                bn.num_batches_tracked.copy_(nbt)


def _has_neuron(m: nn.Module) -> bool:
    return any(isinstance(sub, SpikingNeuron) for sub in m.modules())


def _run(modules: list[nn.Module], x: Tensor) -> Tensor:
    for m in modules:
        x = m(x)
    return x


class SpikingClassifier(nn.Module):
    """``features`` -> [T, B, D] head input; ``head`` -> [T, B, K] per-step logits."""

    features: nn.Module
    head: nn.Linear
    memory_lean: bool = False
    recomputing: bool = False  # True while a memory-lean stage re-runs inside backward
    backprop: Backprop | None = None  # SLTT / SLTT-K in training (set_backprop); None: BPTT or the context's

    def stages(self) -> list[list[nn.Module]]:
        """``features``' children grouped into stages for memory-lean mode.

        A stage holds one or more modules up to a spiking layer plus the parameter-free modules
        after it (pooling, flatten), so what a stage keeps is its (small, pooled) input.
        """
        stages: list[list[nn.Module]] = [[]]
        for m in self.features.children():
            has_params = any(True for _ in m.parameters()) or _has_neuron(m)
            if has_params and any(_has_neuron(prev) for prev in stages[-1]):
                stages.append([])
            stages[-1].append(m)
        return [s for s in stages if s]

    def forward(self, x: Tensor) -> Tensor:
        training = self.training and torch.is_grad_enabled()
        with sltt.use(self.backprop) if (training and self.backprop is not None) else nullcontext():
            if not (self.memory_lean and training):
                return self._head(self.features(x))
            selection = sltt.active()  # re-entered while a stage recomputes (inside backward)
            for stage in self.stages():
                if any(_has_neuron(m) for m in stage):
                    x = checkpoint(
                        _run, stage, x, use_reentrant=False,
                        context_fn=lambda stage=stage: (nullcontext(), _recompute_context(self, stage, selection)),
                    )
                else:
                    x = _run(stage, x)
            return self._head(x)

    def _head(self, x: Tensor) -> Tensor:
        y = self.head(x)  # once over every step: hooks on the head (the Pruner's) see [T, B, D]
        steps = trained_steps(x.shape[0]) if (x.dim() >= 3 and y.requires_grad) else None
        if steps is not None:  # SLTT-K: the untrained steps' logits carry no gradient (the head is small)
            keep = sltt.steps_mask(steps, x.shape[0]).to(y.device).view(-1, *([1] * (y.dim() - 1)))
            y = torch.where(keep, y, y.detach())
        return y


def set_memory_mode(model: nn.Module, mode: str) -> nn.Module:
    """``"lean"``: recompute each spiking stage in backward, and inside it let every neuron keep only
    its input (the C++ kernels re-run the recurrence per block of neurons in backward): less
    memory, more compute. ``"default"``: keep activations (and turn neuron recompute off)."""
    if mode not in MEMORY_MODES:
        raise ValueError(f"memory mode must be one of {', '.join(MEMORY_MODES)}, got {mode!r}")
    if not isinstance(model, SpikingClassifier):
        raise TypeError(f"memory modes apply to sadp.snn models (SpikingClassifier), got {type(model).__name__}")
    model.memory_lean = mode == "lean"
    for m in model.modules():  # and each neuron keeps only its input, re-running its recurrence in backward
        if isinstance(m, SpikingNeuron):
            m.recompute = model.memory_lean
    return model


def set_backprop(model: nn.Module, method: str = "sltt", steps: int = 0) -> nn.Module:
    """Train ``model`` with BPTT (``"bptt"``) or SLTT (``"sltt"``, with ``steps`` K > 0: SLTT-K);
    see :mod:`sadp.snn.sltt`. Applies to its training forward passes (``model.training`` and
    gradients enabled); evaluation and gradient-free passes are unchanged."""
    if not isinstance(model, SpikingClassifier):
        raise TypeError(f"set_backprop applies to sadp.snn models (SpikingClassifier), got {type(model).__name__}; "
                        "use the context manager sadp.snn.backprop(...) for other modules")
    model.backprop = Backprop(method, steps)
    return model


def neuron_factory(neuron: str = "lif", **kwargs: Any) -> Callable[[], SpikingNeuron]:
    """A zero-argument constructor for the model's neurons (all share settings)."""
    return lambda: make_neuron(neuron, **kwargs)


def neuron_options(kind: str = "lif") -> dict[str, Any]:
    """Keyword options of neuron ``kind`` (``make_neuron``'s), name -> annotation. ``tau`` and
    ``decay_input`` are accepted for every kind: the neuron's ``from_options`` maps them (PLIF) or drops them (IF)."""
    if kind not in NEURONS:
        raise ValueError(NEURONS.unknown(kind))
    opts: dict[str, Any] = {"neuron": str, "tau": float, "decay_input": bool}
    for klass in reversed(NEURONS.get(kind).__mro__):
        if issubclass(klass, SpikingNeuron) and "__init__" in vars(klass):
            hints = hints_of(klass.__init__)
            for p in list(inspect.signature(klass.__init__).parameters.values())[1:]:
                if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
                    opts[p.name] = hints.get(p.name, Any)
    return opts


def model_options(name: str, neuron: str = "lif") -> dict[str, Any] | None:
    """Keyword options of registered model ``name``, name -> annotation: the factory's own keywords
    after (input_shape, num_classes), plus the neuron options when it forwards ``**neuron_kw``
    (the convention of every model here). None when a ``**kwargs`` of another name hides them."""
    factory = MODELS.get(name)
    target = factory.__init__ if isinstance(factory, type) else factory
    params = list(inspect.signature(target).parameters.values())[(1 if isinstance(factory, type) else 0) + 2:]
    hints = hints_of(target)
    opts = {p.name: hints.get(p.name, Any) for p in params if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)}
    rest = [p.name for p in params if p.kind is p.VAR_KEYWORD]
    if rest and rest[0] != "neuron_kw":
        return None
    if rest:
        opts.update(neuron_options(neuron))
    return opts


def check_model_options(name: str, options: dict[str, Any]) -> None:
    """A ValueError naming unknown options of model ``name`` (with the valid ones) or a value of the wrong type."""
    valid = model_options(name, options.get("neuron", "lif"))
    if valid is None:
        return
    unknown = sorted(set(options) - set(valid))
    if unknown:
        neuron = neuron_options(options.get("neuron", "lif"))
        own = sorted(set(valid) - set(neuron))
        shared = f", plus the neuron's: {', '.join(sorted(neuron))}" if set(neuron) <= set(valid) else ""
        raise ValueError(f"model {name!r} has no option(s) {unknown}; its options are "
                         f"{', '.join(own) if own else 'none of its own'}{shared}")
    problems = [p for k, v in options.items() if (p := type_problem(k, v, valid[k]))]
    if problems:
        raise ValueError(f"model {name!r}: " + "; ".join(problems))
