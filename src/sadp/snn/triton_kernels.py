"""Triton kernels of the fused multi-step IF/LIF recurrence (CUDA; CPU under ``TRITON_INTERPRET=1``).

Each program owns ``BLOCK`` neurons and walks the T steps in registers: the forward reads x once
and writes float spikes, h and bool spikes; the backward reads grad, h and spikes once and writes
dL/dx. Same arithmetic as :func:`sadp.snn.neuron_spec.charge` (division rounded to nearest, as PyTorch),
so spikes equal the reference loop's. PLIF (learnable decay) runs on the PyTorch fused path.
Selected automatically for CUDA tensors when Triton imports (``sadp.snn.set_backend``).
"""
from __future__ import annotations

import os

import torch
import triton
import triton.language as tl
from torch import Tensor

from sadp.snn.fused import multi_step_fused, multi_step_sltt
from sadp.snn.neuron_spec import NeuronSpec

SURROGATE_IDS = {"atan": 0, "sigmoid": 1, "triangle": 2}
BLOCK = 1024


@triton.jit
def _charge(v, x, tau, vr, KIND: tl.constexpr):
    if KIND == 0:
        h = v + x
    elif KIND == 1:
        h = v + tl.math.div_rn(x - (v - vr), tau)
    else:
        h = (v - tl.math.div_rn(v - vr, tau)) + x
    return h


@triton.jit
def _forward_kernel(x_ptr, out_ptr, h_ptr, s_ptr, N, T, tau, vth, vr,
                    KIND: tl.constexpr, HARD: tl.constexpr, KEEP: tl.constexpr, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < N
    v = tl.zeros([BLOCK], dtype=tl.float32) + vr
    for t in range(T):
        i = t * N + offs
        x = tl.load(x_ptr + i, mask=mask, other=0.0).to(tl.float32)
        h = _charge(v, x, tau, vr, KIND)
        fire = h >= vth
        tl.store(out_ptr + i, fire.to(tl.float32), mask=mask)
        tl.store(s_ptr + i, fire.to(tl.int8), mask=mask)
        if KEEP:
            tl.store(h_ptr + i, h, mask=mask)
        if HARD:
            v = tl.where(fire, vr, h)
        else:
            v = tl.where(fire, h - vth, h)


@triton.jit
def _backward_kernel(g_ptr, h_ptr, s_ptr, gx_ptr, N, T, dhdv, dhdx, vth, vr, alpha,
                     HARD: tl.constexpr, DETACH: tl.constexpr, SUR: tl.constexpr, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < N
    gv = tl.zeros([BLOCK], dtype=tl.float32)
    for tt in range(T):
        t = T - 1 - tt
        i = t * N + offs
        h = tl.load(h_ptr + i, mask=mask, other=0.0)
        fire = tl.load(s_ptr + i, mask=mask, other=0) != 0
        g = tl.load(g_ptr + i, mask=mask, other=0.0).to(tl.float32)
        u = h - vth
        if SUR == 0:
            a = 1.5707963267948966 * alpha * u
            sg = alpha / 2 / (1 + a * a)
        elif SUR == 1:
            sig = 1 / (1 + tl.exp(-alpha * u))
            sg = alpha * sig * (1 - sig)
        else:
            sg = alpha * tl.maximum(1 - alpha * tl.abs(u), 0.0)
        gh = g * sg
        if HARD:
            gh += tl.where(fire, 0.0, gv)
            if not DETACH:
                gh += gv * (vr - h) * sg
        else:
            gh += gv
            if not DETACH:
                gh -= gv * (vth * sg)
        tl.store(gx_ptr + i, gh * dhdx, mask=mask)
        gv = gh * dhdv


@triton.jit
def _forward_sltt_kernel(x_ptr, out_ptr, hk_ptr, slot_ptr, N, T, tau, vth, vr,
                         KIND: tl.constexpr, HARD: tl.constexpr, BLOCK: tl.constexpr):
    """SLTT forward: spikes, and h only at the trained steps (slot[t] >= 0: row of hk), no bool spikes."""
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < N
    v = tl.zeros([BLOCK], dtype=tl.float32) + vr
    for t in range(T):
        i = t * N + offs
        x = tl.load(x_ptr + i, mask=mask, other=0.0).to(tl.float32)
        h = _charge(v, x, tau, vr, KIND)
        fire = h >= vth
        tl.store(out_ptr + i, fire.to(tl.float32), mask=mask)
        j = tl.zeros([BLOCK], dtype=tl.int32) + tl.load(slot_ptr + t)  # row of hk, or -1: not kept
        tl.store(hk_ptr + tl.maximum(j, 0) * N + offs, h, mask=mask & (j >= 0))
        if HARD:
            v = tl.where(fire, vr, h)
        else:
            v = tl.where(fire, h - vth, h)


@triton.jit
def _backward_sltt_kernel(g_ptr, hk_ptr, slot_ptr, gx_ptr, N, T, dhdx, vth, alpha,
                          SUR: tl.constexpr, BLOCK: tl.constexpr):
    """SLTT backward: dL/dx_t = dh/dx sg'(h_t - v_th) dL/ds_t at the trained steps, 0 elsewhere."""
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < N
    for t in range(T):
        i = t * N + offs
        j = tl.zeros([BLOCK], dtype=tl.int32) + tl.load(slot_ptr + t)
        kept = mask & (j >= 0)
        h = tl.load(hk_ptr + tl.maximum(j, 0) * N + offs, mask=kept, other=0.0)
        g = tl.load(g_ptr + i, mask=kept, other=0.0).to(tl.float32)
        u = h - vth
        if SUR == 0:
            a = 1.5707963267948966 * alpha * u
            sg = alpha / 2 / (1 + a * a)
        elif SUR == 1:
            sig = 1 / (1 + tl.exp(-alpha * u))
            sg = alpha * sig * (1 - sig)
        else:
            sg = alpha * tl.maximum(1 - alpha * tl.abs(u), 0.0)
        tl.store(gx_ptr + i, tl.where(j >= 0, (g * sg) * dhdx, 0.0), mask=mask)


def _kind(spec: NeuronSpec) -> int:
    return 0 if spec.kind == "if" else (1 if spec.decay_input else 2)


def _launch_forward(spec: NeuronSpec, x: Tensor, keep: bool) -> tuple[Tensor, Tensor, Tensor]:
    x = x.contiguous()
    T, N = x.shape[0], x[0].numel()
    out = torch.empty_like(x)
    h = torch.empty(x.shape, dtype=torch.float32, device=x.device)
    s = torch.empty(x.shape, dtype=torch.int8, device=x.device)
    _forward_kernel[(triton.cdiv(N, BLOCK),)](
        x, out, h, s, N, T, float(spec.tau or 1.0), spec.v_threshold, spec.v_reset,
        KIND=_kind(spec), HARD=spec.hard_reset, KEEP=keep, BLOCK=BLOCK,
    )
    return out, h, s


class TritonNeuronFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor, spec: NeuronSpec) -> Tensor:  # type: ignore[override]
        out, h, s = _launch_forward(spec, x, keep=True)
        ctx.spec, ctx.dtype = spec, x.dtype
        ctx.save_for_backward(h, s)
        return out

    @staticmethod
    def backward(ctx, grad_out: Tensor):  # type: ignore[override]
        spec: NeuronSpec = ctx.spec
        h, s = ctx.saved_tensors
        g = grad_out.contiguous()
        T, N = h.shape[0], h[0].numel()
        gx = torch.empty(h.shape, dtype=torch.float32, device=h.device)
        k = 0.0 if spec.kind == "if" else 1.0 / spec.tau
        dhdx = k if (spec.kind == "lif" and spec.decay_input) else 1.0
        _backward_kernel[(triton.cdiv(N, BLOCK),)](
            g, h, s, gx, N, T, 1.0 - k, dhdx, spec.v_threshold, spec.v_reset, spec.surrogate.alpha,
            HARD=spec.hard_reset, DETACH=spec.detach_reset, SUR=SURROGATE_IDS[spec.surrogate.name], BLOCK=BLOCK,
        )
        return gx.to(ctx.dtype), None


class TritonSLTTFunction(torch.autograd.Function):
    """SLTT / SLTT-K through the Triton kernels: saves h at the trained steps only."""

    @staticmethod
    def forward(ctx, x: Tensor, spec: NeuronSpec, steps: Tensor) -> Tensor:  # type: ignore[override]
        x = x.contiguous()
        T, N = x.shape[0], x[0].numel()
        slot = torch.full((T,), -1, dtype=torch.int32)
        slot[steps] = torch.arange(steps.numel(), dtype=torch.int32)
        slot = slot.to(x.device)
        out = torch.empty_like(x)
        hk = torch.empty((steps.numel(),) + tuple(x.shape[1:]), dtype=torch.float32, device=x.device)
        _forward_sltt_kernel[(triton.cdiv(N, BLOCK),)](
            x, out, hk, slot, N, T, float(spec.tau or 1.0), spec.v_threshold, spec.v_reset,
            KIND=_kind(spec), HARD=spec.hard_reset, BLOCK=BLOCK,
        )
        ctx.spec, ctx.dtype = spec, x.dtype
        ctx.save_for_backward(hk, slot)
        return out

    @staticmethod
    def backward(ctx, grad_out: Tensor):  # type: ignore[override]
        spec: NeuronSpec = ctx.spec
        hk, slot = ctx.saved_tensors
        g = grad_out.contiguous()
        T, N = g.shape[0], g[0].numel()
        gx = torch.empty(g.shape, dtype=torch.float32, device=g.device)
        k = 0.0 if spec.kind == "if" else 1.0 / spec.tau
        dhdx = k if (spec.kind == "lif" and spec.decay_input) else 1.0
        _backward_sltt_kernel[(triton.cdiv(N, BLOCK),)](
            g, hk, slot, gx, N, T, dhdx, spec.v_threshold, spec.surrogate.alpha,
            SUR=SURROGATE_IDS[spec.surrogate.name], BLOCK=BLOCK,
        )
        return gx.to(ctx.dtype), None, None


def multi_step_triton(x: Tensor, k: Tensor | None, spec: NeuronSpec, sltt: bool = False,
                      steps: Tensor | None = None) -> Tensor:
    """Spikes [T, ...] via the Triton kernels; PLIF and other surrogates use the PyTorch fused path.
    ``sltt``: SLTT's backward over ``steps`` (None: every step), see :mod:`sadp.snn.sltt`."""
    if not x.is_cuda and os.environ.get("TRITON_INTERPRET") != "1":
        raise RuntimeError(
            "the 'triton' neuron backend needs CUDA tensors (or TRITON_INTERPRET=1 for CPU testing); "
            "use set_backend('auto') to pick it only on CUDA"
        )
    if (k is not None or spec.surrogate.name not in SURROGATE_IDS
            or x.dtype not in (torch.float32, torch.float16, torch.bfloat16)):
        return multi_step_sltt(x, k, spec, steps) if sltt else multi_step_fused(x, k, spec)
    if not (torch.is_grad_enabled() and x.requires_grad):
        return _launch_forward(spec, x, keep=False)[0]
    if sltt:
        return TritonSLTTFunction.apply(x, spec, torch.arange(x.shape[0]) if steps is None else steps.cpu())
    return TritonNeuronFunction.apply(x, spec)
