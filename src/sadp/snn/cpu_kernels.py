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
#include <algorithm>
#include <cmath>
#include <type_traits>

// Neurons are processed in chunks of C: for each chunk the T steps run in order and the inner
// loop over the chunk's neurons is contiguous and branch-free, so the compiler vectorises it.
constexpr int64_t C = 512;

// KIND: 0 IF, 1 LIF decay_input, 2 LIF without input decay (same operation order as fused.charge)
template <typename T, int KIND, bool HARD, bool KEEP>
static void fwd_impl(const T* xp, T* op, bool* sp, T* hp, int64_t Tn, int64_t N, T tau, T vth, T vr) {
  at::parallel_for(0, (N + C - 1) / C, 1, [&](int64_t cb, int64_t ce) {
    T v[C];
    for (int64_t c = cb; c < ce; ++c) {
      const int64_t n0 = c * C, len = std::min(C, N - n0);
      for (int64_t j = 0; j < len; ++j) v[j] = vr;
      for (int64_t t = 0; t < Tn; ++t) {
        const int64_t o = t * N + n0;
        const T* xt = xp + o; T* ot = op + o; bool* st = sp + o; T* ht = KEEP ? hp + o : nullptr;
        for (int64_t j = 0; j < len; ++j) {
          const T vv = v[j], x = xt[j];
          const T h = KIND == 0 ? vv + x : (KIND == 1 ? vv + (x - (vv - vr)) / tau : (vv - (vv - vr) / tau) + x);
          const bool f = h >= vth;
          st[j] = f;
          ot[j] = f ? T(1) : T(0);
          if (KEEP) ht[j] = h;
          v[j] = f ? (HARD ? vr : h - vth) : h;
        }
      }
    }
  });
}

template <typename T>
static void fwd_dispatch(int64_t kind, bool hard, bool keep, const T* xp, T* op, bool* sp, T* hp, int64_t Tn,
                         int64_t N, T tau, T vth, T vr) {
  auto go = [&](auto K, auto H, auto KP) { fwd_impl<T, decltype(K)::value, decltype(H)::value, decltype(KP)::value>(xp, op, sp, hp, Tn, N, tau, vth, vr); };
  using I0 = std::integral_constant<int, 0>; using I1 = std::integral_constant<int, 1>; using I2 = std::integral_constant<int, 2>;
  using BT = std::true_type; using BF = std::false_type;
  auto by_kind = [&](auto H, auto KP) { if (kind == 0) go(I0{}, H, KP); else if (kind == 1) go(I1{}, H, KP); else go(I2{}, H, KP); };
  if (hard) { if (keep) by_kind(BT{}, BT{}); else by_kind(BT{}, BF{}); }
  else { if (keep) by_kind(BF{}, BT{}); else by_kind(BF{}, BF{}); }
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
    using T = scalar_t;
    const T* xp = X.data_ptr<T>(); T* op = out.data_ptr<T>(); bool* sp = s.data_ptr<bool>();
    T* hp = keep_h ? h.data_ptr<T>() : nullptr;
    fwd_dispatch<T>(kind, hard, keep_h, xp, op, sp, hp, Tn, N, (T)tau, (T)vth, (T)vr);
  });
  return {out, h, s};
}

// SUR: 0 atan, 1 sigmoid, 2 triangle
template <typename T, int SUR>
static inline T surrogate_grad(T alpha, T u) {
  if (SUR == 0) { const T a = (T)M_PI / 2 * alpha * u; return alpha / 2 / (1 + a * a); }
  if (SUR == 1) { const T sg = 1 / (1 + std::exp(-alpha * u)); return alpha * sg * (1 - sg); }
  const T r = 1 - alpha * std::abs(u);
  return r > 0 ? alpha * r : (T)0;
}

template <typename T, bool HARD, bool DETACH, int SUR>
static void bwd_impl(const T* gp, const T* hp, const bool* sp, T* xp, int64_t Tn, int64_t N,
                     T dhdv, T dhdx, T vth, T vr, T alpha) {
  at::parallel_for(0, (N + C - 1) / C, 1, [&](int64_t cb, int64_t ce) {
    T gv[C];
    for (int64_t c = cb; c < ce; ++c) {
      const int64_t n0 = c * C, len = std::min(C, N - n0);
      for (int64_t j = 0; j < len; ++j) gv[j] = 0;
      for (int64_t t = Tn - 1; t >= 0; --t) {
        const int64_t o = t * N + n0;
        const T* gt = gp + o; const T* ht = hp + o; const bool* st = sp + o; T* xt = xp + o;
        for (int64_t j = 0; j < len; ++j) {
          const T h = ht[j], g = gv[j];
          const T sg = surrogate_grad<T, SUR>(alpha, h - vth);
          T gh = gt[j] * sg;
          if (HARD) {
            gh += st[j] ? (T)0 : g;
            if (!DETACH) gh += g * (vr - h) * sg;
          } else {
            gh += g;
            if (!DETACH) gh -= g * (vth * sg);
          }
          xt[j] = gh * dhdx;
          gv[j] = gh * dhdv;
        }
      }
    }
  });
}

template <typename T>
static void bwd_dispatch(bool hard, bool detach, int64_t sur, const T* gp, const T* hp, const bool* sp, T* xp,
                         int64_t Tn, int64_t N, T dhdv, T dhdx, T vth, T vr, T alpha) {
  auto go = [&](auto H, auto D, auto S) { bwd_impl<T, decltype(H)::value, decltype(D)::value, decltype(S)::value>(gp, hp, sp, xp, Tn, N, dhdv, dhdx, vth, vr, alpha); };
  using I0 = std::integral_constant<int, 0>; using I1 = std::integral_constant<int, 1>; using I2 = std::integral_constant<int, 2>;
  using BT = std::true_type; using BF = std::false_type;
  auto by_sur = [&](auto H, auto D) { if (sur == 0) go(H, D, I0{}); else if (sur == 1) go(H, D, I1{}); else go(H, D, I2{}); };
  if (hard) { if (detach) by_sur(BT{}, BT{}); else by_sur(BT{}, BF{}); }
  else { if (detach) by_sur(BF{}, BT{}); else by_sur(BF{}, BF{}); }
}

torch::Tensor lif_backward(torch::Tensor grad_out, torch::Tensor h, torch::Tensor s, int64_t kind, double tau,
                           double vth, double vr, bool hard, bool detach, int64_t sur, double alpha) {
  auto G = grad_out.contiguous();
  const int64_t Tn = h.size(0);
  const int64_t N = h.numel() / Tn;
  auto gx = torch::empty_like(h);
  AT_DISPATCH_FLOATING_TYPES(h.scalar_type(), "lif_backward", [&] {
    using T = scalar_t;
    const T* gp = G.data_ptr<T>(); const T* hp = h.data_ptr<T>(); const bool* sp = s.data_ptr<bool>();
    T* xp = gx.data_ptr<T>();
    const T k = kind == 0 ? (T)0 : (T)(1.0 / tau);
    const T dhdv = 1 - k, dhdx = kind == 1 ? k : (T)1;
    bwd_dispatch<T>(hard, detach, sur, gp, hp, sp, xp, Tn, N, dhdv, dhdx, (T)vth, (T)vr, (T)alpha);
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
            name="sadp_lif_cpu_v2", cpp_sources=[_SOURCE], functions=None,
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
