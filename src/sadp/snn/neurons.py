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
"""
from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from sadp.snn.surrogate import Surrogate, get_surrogate


class SpikingNeuron(nn.Module):
    """Base class of every spiking layer: input currents [T, B, ...] -> binary spikes [T, B, ...]."""

    def __init__(
        self,
        v_threshold: float = 1.0,
        v_reset: float = 0.0,
        reset: str = "hard",
        detach_reset: bool = False,
        surrogate: str | Surrogate = "atan",
        alpha: float | None = None,
    ) -> None:
        super().__init__()
        if reset not in ("hard", "soft"):
            raise ValueError(f"reset must be 'hard' or 'soft', got {reset!r}")
        self.v_threshold = float(v_threshold)
        self.v_reset = float(v_reset)
        self.reset = reset
        self.detach_reset = detach_reset
        self.surrogate = get_surrogate(surrogate, alpha)

    def charge(self, v: Tensor, x: Tensor) -> Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def forward(self, x: Tensor, return_membrane: bool = False) -> Tensor | tuple[Tensor, Tensor]:
        if x.dim() < 2:
            raise ValueError(f"{type(self).__name__} expects [T, B, ...], got shape {tuple(x.shape)}")
        v = torch.full_like(x[0], self.v_reset)
        spikes, membranes = [], []
        for t in range(x.shape[0]):
            h = self.charge(v, x[t])
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
        )


class IF(SpikingNeuron):
    """Integrate-and-fire: h = v + x."""

    def charge(self, v: Tensor, x: Tensor) -> Tensor:
        return v + x


class LIF(SpikingNeuron):
    """Leaky integrate-and-fire with fixed membrane time constant ``tau``."""

    def __init__(self, tau: float = 2.0, decay_input: bool = True, **kwargs) -> None:
        super().__init__(**kwargs)
        if tau <= 1.0:
            raise ValueError(f"tau must be > 1, got {tau}")
        self.tau = float(tau)
        self.decay_input = decay_input

    def charge(self, v: Tensor, x: Tensor) -> Tensor:
        if self.decay_input:
            return v + (x - (v - self.v_reset)) / self.tau
        return v - (v - self.v_reset) / self.tau + x

    def extra_repr(self) -> str:
        return f"tau={self.tau}, decay_input={self.decay_input}, " + super().extra_repr()


class PLIF(SpikingNeuron):
    """Parametric LIF (Fang et al. 2021): 1/tau = sigmoid(w) with w learnable, initialised from ``init_tau``."""

    def __init__(self, init_tau: float = 2.0, decay_input: bool = True, **kwargs) -> None:
        super().__init__(**kwargs)
        if init_tau <= 1.0:
            raise ValueError(f"init_tau must be > 1, got {init_tau}")
        self.w = nn.Parameter(torch.tensor(-math.log(init_tau - 1.0)))
        self.decay_input = decay_input

    @property
    def tau(self) -> float:
        return float(1.0 / torch.sigmoid(self.w).item())

    def charge(self, v: Tensor, x: Tensor) -> Tensor:
        k = torch.sigmoid(self.w)
        if self.decay_input:
            return v + (x - (v - self.v_reset)) * k
        return v - (v - self.v_reset) * k + x


NEURONS: dict[str, type[SpikingNeuron]] = {"lif": LIF, "if": IF, "plif": PLIF}


def make_neuron(kind: str = "lif", **kwargs) -> SpikingNeuron:
    """Build a neuron by name (``lif``, ``if``, ``plif``); kwargs go to its constructor."""
    try:
        cls = NEURONS[kind]
    except KeyError:
        raise KeyError(f"unknown neuron {kind!r}; available: {', '.join(NEURONS)}") from None
    if cls is IF:
        kwargs.pop("tau", None)
        kwargs.pop("decay_input", None)
    if cls is PLIF and "tau" in kwargs:
        kwargs["init_tau"] = kwargs.pop("tau")
    return cls(**kwargs)
