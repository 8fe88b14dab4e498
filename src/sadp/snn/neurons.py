"""Multi-step spiking neurons over tensors shaped [T, B, ...].

Every neuron subclasses :class:`SpikingNeuron`, so hooks (the pruning engine's spike monitor)
can find all spiking layers with ``isinstance``. Neurons are stateless between calls: each
forward starts from ``v_reset`` and runs all T steps, so no ``reset_net`` is needed.

Dynamics (charge, fire, reset), with threshold rule ``h >= v_threshold``:
    LIF, decay_input=True:   h_t = v_{t-1} + (x_t - (v_{t-1} - v_reset)) / tau
    LIF, decay_input=False:  h_t = v_{t-1} - (v_{t-1} - v_reset) / tau + x_t
    IF:                      h_t = v_{t-1} + x_t
    s_t = H(h_t - v_threshold)
    hard reset: v_t = h_t (1 - s_t) + v_reset s_t;   soft reset: v_t = h_t - v_threshold s_t
With ``detach_reset`` the reset uses s_t without gradient (as SpikingJelly's option).
The threshold rule ``>=`` is deliberate: SpikingJelly's; snnTorch and norse fire on ``>``.

Implementations (all bit-identical spikes; see :mod:`sadp.snn.backend`): the fused multi-step
autograd function by default (C++ kernels for IF/LIF on CPU, Triton on CUDA), the plain
step-by-step loop ``forward_reference`` under ``torch.func``/``torch.compile`` or on request.

Neurons are registered in ``sadp.registry.NEURONS`` (``lif``, ``if``, ``plif``) and built by
:func:`make_neuron` through the class's ``from_options``. Every backend implements the charge of
the ``kind``s above (:func:`sadp.snn.neuron_spec.charge`); a registered neuron with other dynamics
overrides ``forward``.
"""
from __future__ import annotations

import math
from contextlib import nullcontext

import torch
from torch import Tensor, nn

from sadp.registry import NEURONS
from sadp.snn import sltt
from sadp.snn.backend import check_backend, get_backend, triton_available
from sadp.snn.fused import multi_step_fused, multi_step_sltt
from sadp.snn.neuron_spec import NeuronSpec, charge
from sadp.snn.surrogate import Surrogate, get_surrogate


class SpikingNeuron(nn.Module):
    """Base class of every spiking layer: input currents [T, B, ...] -> binary spikes [T, B, ...].

    ``backend``: None (the process-wide choice, :func:`sadp.snn.set_backend`), ``"auto"``,
    ``"fused"``, ``"triton"`` or ``"reference"``. ``recompute``: the fused path saves only the input
    and recomputes h and spikes in backward (whole-model memory savings: :func:`set_memory_mode`).
    """

    # Subclasses set these; ``spec()`` hands them to the fused kernels.
    kind: str = "base"
    decay_input: bool = True
    tau: float = 0.0
    # Whether the neuron has a membrane time constant: models pass the config's ``tau`` and
    # ``decay_input`` to every neuron; ``from_options`` drops them for one without (IF), and
    # TrainConfig checks tau > 1 only for those with one.
    has_time_constant: bool = True

    def __init__(
        self,
        v_threshold: float = 1.0,
        v_reset: float = 0.0,
        reset: str = "hard",
        detach_reset: bool = False,
        surrogate: str | Surrogate = "atan",
        alpha: float | None = None,
        backend: str | None = None,
        recompute: bool = False,
    ) -> None:
        super().__init__()
        if reset not in ("hard", "soft"):
            raise ValueError(f"reset must be 'hard' or 'soft', got {reset!r}")
        self.v_threshold = float(v_threshold)
        self.v_reset = float(v_reset)
        self.reset = reset
        self.detach_reset = detach_reset
        self.surrogate = get_surrogate(surrogate, alpha)
        self.backend = None if backend is None else check_backend(backend)  # None: process-wide choice
        self.recompute = recompute  # fused path: save only x, recompute h and spikes in backward

    @classmethod
    def from_options(cls, **kwargs) -> "SpikingNeuron":
        """Build from the options every model passes (``tau``, ``decay_input``, the neuron's own)."""
        if not cls.has_time_constant:
            kwargs.pop("tau", None)
            kwargs.pop("decay_input", None)
        return cls(**kwargs)

    def decay(self) -> Tensor | None:
        """The learnable decay k as a 0-dim tensor (PLIF), else None."""
        return None

    def spec(self) -> NeuronSpec:
        return NeuronSpec(
            kind=self.kind, decay_input=self.decay_input, tau=float(self.tau) if self.kind == "lif" else 0.0,
            v_threshold=self.v_threshold, v_reset=self.v_reset, hard_reset=self.reset == "hard",
            detach_reset=self.detach_reset, surrogate=self.surrogate,
        )

    def charge(self, v: Tensor, x: Tensor) -> Tensor:
        """Membrane before firing (shared arithmetic: :func:`sadp.snn.neuron_spec.charge`)."""
        return charge(self.spec(), v, x, self.decay())

    def resolved_backend(self, x: Tensor) -> str:
        """The backend this call uses (see :mod:`sadp.snn.backend`)."""
        name = self.backend or get_backend()
        if name == "reference" or torch.compiler.is_compiling():
            return "reference"  # under torch.compile Inductor fuses the plain loop (it cannot lower the Function)
        if torch._C._functorch.is_functorch_wrapped_tensor(x):
            return "reference"  # custom autograd.Functions have no vmap rule: fall back under torch.func
        if name == "auto":
            return "triton" if (x.is_cuda and triton_available()) else "fused"
        return name

    def forward(self, x: Tensor, return_membrane: bool = False) -> Tensor | tuple[Tensor, Tensor]:
        if x.dim() < 2:
            raise ValueError(
                f"{type(self).__name__} expects input currents shaped [T, B, ...], got shape {tuple(x.shape)}; "
                "add the time dimension first (e.g. sadp.snn.encode(x, T))"
            )
        backend = "reference" if return_membrane else self.resolved_backend(x)
        selection = sltt.active() if torch.is_grad_enabled() else None
        if selection is not None:  # SLTT / SLTT-K (sadp.snn.sltt): no temporal route in backward
            steps = selection.steps(x.shape[0])
            if backend == "reference":
                return self.forward_reference(x, return_membrane, sltt=True, steps=steps)
            if backend == "triton":
                from sadp.snn.triton_kernels import multi_step_triton

                return multi_step_triton(x, self.decay(), self.spec(), sltt=True, steps=steps)
            return multi_step_sltt(x, self.decay(), self.spec(), steps)  # keeps <= what recompute would
        if backend == "reference":
            return self.forward_reference(x, return_membrane)
        if backend == "triton":
            from sadp.snn.triton_kernels import multi_step_triton

            return multi_step_triton(x, self.decay(), self.spec())
        return multi_step_fused(x, self.decay(), self.spec(), recompute=self.recompute)

    def forward_reference(
        self, x: Tensor, return_membrane: bool = False, sltt: bool = False, steps: Tensor | None = None,
    ) -> Tensor | tuple[Tensor, Tensor]:
        """Step-by-step autograd loop: the definition the fused paths are tested against.

        ``sltt``: the membrane carried into each step is detached (SLTT, :mod:`sadp.snn.sltt`);
        with ``steps`` (SLTT-K) the other steps run without autograd."""
        spec, k = self.spec(), self.decay()
        v = torch.full_like(x[0], self.v_reset)
        spikes, membranes = [], []
        trained = None if steps is None else set(steps.tolist())
        for t in range(x.shape[0]):
            if sltt:
                v = v.detach()
            with nullcontext() if (trained is None or t in trained) else torch.no_grad():
                h = charge(spec, v, x[t], k)
                s = self.surrogate(h - self.v_threshold)
                sr = s.detach() if self.detach_reset else s
                if self.reset == "hard":
                    v = h * (1 - sr) + self.v_reset * sr
                else:
                    v = h - self.v_threshold * sr
            spikes.append(s)
            if return_membrane:
                membranes.append(h)
        out = torch.stack(spikes)
        if return_membrane:
            return out, torch.stack(membranes)
        return out

    def extra_repr(self) -> str:
        return (
            f"v_threshold={self.v_threshold}, v_reset={self.v_reset}, reset={self.reset}, "
            f"detach_reset={self.detach_reset}, surrogate={self.surrogate}"
            + (f", backend={self.backend}" if self.backend else "") + (", recompute=True" if self.recompute else "")
        )


@NEURONS.register("if")
class IF(SpikingNeuron):
    """Integrate-and-fire: h = v + x."""

    kind = "if"
    has_time_constant = False


@NEURONS.register("lif")
class LIF(SpikingNeuron):
    """Leaky integrate-and-fire with fixed membrane time constant ``tau``."""

    kind = "lif"

    def __init__(self, tau: float = 2.0, decay_input: bool = True, **kwargs) -> None:
        super().__init__(**kwargs)
        if tau <= 1.0:
            raise ValueError(f"tau must be > 1, got {tau}")
        self.tau = float(tau)
        self.decay_input = decay_input

    def extra_repr(self) -> str:
        return f"tau={self.tau}, decay_input={self.decay_input}, " + super().extra_repr()


@NEURONS.register("plif")
class PLIF(SpikingNeuron):
    """Parametric LIF (Fang et al. 2021): 1/tau = sigmoid(w) with w learnable, initialised from ``init_tau``."""

    kind = "plif"

    def __init__(self, init_tau: float = 2.0, decay_input: bool = True, **kwargs) -> None:
        super().__init__(**kwargs)
        if init_tau <= 1.0:
            raise ValueError(f"init_tau must be > 1, got {init_tau}")
        self.w = nn.Parameter(torch.tensor(-math.log(init_tau - 1.0)))
        self.decay_input = decay_input

    @classmethod
    def from_options(cls, **kwargs) -> "PLIF":
        """The models' ``tau`` is PLIF's initial time constant ``init_tau``."""
        if "tau" in kwargs:
            kwargs["init_tau"] = kwargs.pop("tau")
        return cls(**kwargs)

    @property
    def tau(self) -> float:  # type: ignore[override]
        return float(1.0 / torch.sigmoid(self.w).item())

    def decay(self) -> Tensor:
        return torch.sigmoid(self.w)


def make_neuron(kind: str = "lif", **kwargs) -> SpikingNeuron:
    """Build a registered neuron by name (``lif``, ``if``, ``plif``, ...) with its ``from_options``."""
    return NEURONS.get(kind).from_options(**kwargs)
