"""C++ (OpenMP) kernels of the fused multi-step IF/LIF recurrence for CPU tensors.

The PyTorch fused path issues ~5 elementwise ops per time step in forward and ~12 in backward,
each a full pass over memory; on CPU they cost as much as the convolutions. These kernels do the
whole T-step recurrence in one pass per neuron, forward and backward.

Built on first use with ``torch.utils.cpp_extension.load_inline`` (tens of seconds, once; cached
in ``TORCH_EXTENSIONS_DIR`` or ``~/.cache/torch_extensions``). Set ``SADP_CPU_KERNELS=0`` to skip
them; any build failure falls back to the PyTorch path with one warning. Compiled with
``-ffp-contract=off`` and the same operation order as :func:`sadp.snn.fused.charge`, so spikes are
bit-identical to the reference loop (tested).
"""
from __future__ import annotations

import functools
import os
import warnings
from typing import Any

import torch
from torch import Tensor

from sadp.snn.fused import NeuronSpec

_SOURCE = r"""
#include <torch/extension.h>
#include <ATen/Parallel.h>
#include <cmath>

// kind: 0 IF, 1 LIF decay_input, 2 LIF without input decay
template <typename T>
static inline T charge(int kind, T v, T x, T tau, T vr) {
  if (kind == 0) return v + x;
  if (kind == 1) return v + (x - (v - vr)) / tau;
  return (v - (v - vr) / tau) + x;
}

std::vector<torch::Tensor> lif_forward(torch::Tensor x, int64_t kind, double tau, double vth, double vr,
                                       bool hard, bool keep_h) {
  auto X = x.contiguous();
  const int64_t Tn = X.size(0);
  const int64_t N = X.numel() / Tn;
  auto out = torch::empty_like(X);
  auto s = torch::empty(X.sizes(), X.options().dtype(torch::kBool));
  auto h = keep_h ? torch::empty_like(X) : torch::empty({0}, X.options());
  AT_DISPATCH_FLOATING_TYPES(X.scalar_type(), "lif_forward", [&] {
    const scalar_t* xp = X.data_ptr<scalar_t>();
    scalar_t* op = out.data_ptr<scalar_t>();
    bool* sp = s.data_ptr<bool>();
    scalar_t* hp = keep_h ? h.data_ptr<scalar_t>() : nullptr;
    const scalar_t t_tau = (scalar_t)tau, t_vth = (scalar_t)vth, t_vr = (scalar_t)vr;
    at::parallel_for(0, N, 4096, [&](int64_t b, int64_t e) {
      for (int64_t n = b; n < e; ++n) {
        scalar_t v = t_vr;
        for (int64_t t = 0; t < Tn; ++t) {
          const int64_t i = t * N + n;
          const scalar_t hh = charge<scalar_t>((int)kind, v, xp[i], t_tau, t_vr);
          const bool fire = hh >= t_vth;
          sp[i] = fire;
          op[i] = fire ? (scalar_t)1 : (scalar_t)0;
          if (hp) hp[i] = hh;
          v = fire ? (hard ? t_vr : hh - t_vth) : hh;
        }
      }
    });
  });
  return {out, h, s};
}

// surrogate: 0 atan, 1 sigmoid, 2 triangle
template <typename T>
static inline T surrogate_grad(int sur, T alpha, T u) {
  if (sur == 0) { const T a = (T)M_PI / 2 * alpha * u; return alpha / 2 / (1 + a * a); }
  if (sur == 1) { const T sg = 1 / (1 + std::exp(-alpha * u)); return alpha * sg * (1 - sg); }
  const T r = 1 - alpha * std::abs(u);
  return r > 0 ? alpha * r : (T)0;
}

torch::Tensor lif_backward(torch::Tensor grad_out, torch::Tensor h, torch::Tensor s, int64_t kind, double tau,
                           double vth, double vr, bool hard, bool detach, int64_t sur, double alpha) {
  auto G = grad_out.contiguous();
  const int64_t Tn = h.size(0);
  const int64_t N = h.numel() / Tn;
  auto gx = torch::empty_like(h);
  AT_DISPATCH_FLOATING_TYPES(h.scalar_type(), "lif_backward", [&] {
    const scalar_t* gp = G.data_ptr<scalar_t>();
    const scalar_t* hp = h.data_ptr<scalar_t>();
    const bool* sp = s.data_ptr<bool>();
    scalar_t* xp = gx.data_ptr<scalar_t>();
    const scalar_t k = kind == 0 ? (scalar_t)0 : (scalar_t)(1.0 / tau);
    const scalar_t dhdv = 1 - k, dhdx = kind == 1 ? k : (scalar_t)1;
    const scalar_t t_vth = (scalar_t)vth, t_vr = (scalar_t)vr, t_alpha = (scalar_t)alpha;
    at::parallel_for(0, N, 4096, [&](int64_t b, int64_t e) {
      for (int64_t n = b; n < e; ++n) {
        scalar_t gv = 0;
        for (int64_t t = Tn - 1; t >= 0; --t) {
          const int64_t i = t * N + n;
          const scalar_t hh = hp[i];
          const scalar_t sg = surrogate_grad<scalar_t>((int)sur, t_alpha, hh - t_vth);
          scalar_t gh = gp[i] * sg;
          if (hard) {
            gh += sp[i] ? (scalar_t)0 : gv;
            if (!detach) gh += gv * (t_vr - hh) * sg;
          } else {
            gh += gv;
            if (!detach) gh -= gv * (t_vth * sg);
          }
          xp[i] = gh * dhdx;
          gv = gh * dhdv;
        }
      }
    });
  });
  return gx;
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("lif_forward", &lif_forward, "fused multi-step IF/LIF forward");
  m.def("lif_backward", &lif_backward, "fused multi-step IF/LIF backward");
}
"""

SURROGATE_IDS = {"atan": 0, "sigmoid": 1, "triangle": 2}


@functools.lru_cache(maxsize=1)
def load() -> Any | None:
    """The compiled extension, or None (disabled, no compiler, build error)."""
    if os.environ.get("SADP_CPU_KERNELS", "1") == "0":
        return None
    try:
        from torch.utils.cpp_extension import load_inline

        return load_inline(
            name="sadp_lif_cpu_v1", cpp_sources=[_SOURCE], functions=None,
            extra_cflags=["-O3", "-fopenmp", "-ffp-contract=off"], extra_ldflags=["-fopenmp"], verbose=False,
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


def forward(spec: NeuronSpec, x: Tensor, keep: bool) -> tuple[Tensor, Tensor | None, Tensor]:
    out, h, s = load().lif_forward(  # type: ignore[union-attr]
        x, _kind(spec), spec.tau or 1.0, spec.v_threshold, spec.v_reset, spec.hard_reset, keep)
    return out, (h if keep else None), s


def backward(spec: NeuronSpec, grad_out: Tensor, h: Tensor, s: Tensor) -> Tensor:
    return load().lif_backward(  # type: ignore[union-attr]
        grad_out, h, s, _kind(spec), spec.tau or 1.0, spec.v_threshold, spec.v_reset, spec.hard_reset,
        spec.detach_reset, SURROGATE_IDS[spec.surrogate.name], spec.surrogate.alpha)
