"""Fused multi-step neuron dynamics: one autograd node per spiking layer instead of ~10 per step.

The reference path (:meth:`SpikingNeuron.forward_reference`) builds the autograd graph step by
step, keeping every intermediate (membrane, surrogate output, reset terms) alive until backward.
The fused path runs the T-step recurrence without autograd and saves only what the backward
recurrence needs:

* ``h`` [T, ...] float, the membrane before firing (the surrogate's input is ``h - v_th``), and
* ``s`` [T, ...] bool, the spikes (1 byte per element instead of 4),

then runs the exact backward recurrence in one ``autograd.Function.backward``. The charge is
computed by the same function (:func:`sadp.snn.neuron_spec.charge`) as the reference path, with the same float
operations in the same order, so the spikes are bit-identical and gradients agree to float
rounding (the backward multiplies the same factors in a different association).

Dynamics (``k = 1/tau``; PLIF: ``k = sigmoid(w)``):
    h_t = charge(v_{t-1}, x_t);  s_t = [h_t >= v_th]
    hard reset: v_t = h_t (1 - s_t) + v_reset s_t;  soft reset: v_t = h_t - v_th s_t
Backward, with g_s = dL/ds_t, g_v = dL/dv_t (from step t+1), sg = surrogate'(h_t - v_th):
    dL/dh_t = g_s sg + g_v (dv/dh + dv/ds sg)      (dv/ds term dropped with detach_reset)
    hard: dv/dh = 1 - s, dv/ds = v_reset - h;     soft: dv/dh = 1, dv/ds = -v_th
    dL/dx_t = dh/dx dL/dh_t;   dL/dv_{t-1} = dh/dv dL/dh_t;   dL/dk += dh/dk dL/dh_t
"""
from __future__ import annotations

import torch
from torch import Tensor

from sadp.snn import cpu_kernels
from sadp.snn.neuron_spec import NeuronSpec, charge, reset


def _forward_loop(spec: NeuronSpec, x: Tensor, k: Tensor | None, keep: bool) -> tuple[Tensor, Tensor | None, Tensor]:
    """Run the T-step recurrence without autograd. Returns float spikes, h (if ``keep``) and bool spikes."""
    if k is None and cpu_kernels.supports(spec, x):  # IF/LIF on CPU: one C++ pass over memory
        return cpu_kernels.forward(spec, x, keep)
    T = x.shape[0]
    out = torch.empty_like(x)
    s_bool = torch.empty(x.shape, dtype=torch.bool, device=x.device)
    hs = torch.empty_like(x) if keep else None
    v = torch.full_like(x[0], spec.v_reset)
    for t in range(T):
        h = charge(spec, v, x[t], k)
        torch.ge(h, spec.v_threshold, out=s_bool[t])
        out[t].copy_(s_bool[t])
        if hs is not None:
            hs[t].copy_(h)
        v = reset(spec, h, s_bool[t])
    return out, hs, s_bool


def _charge_derivatives(spec: NeuronSpec, k: Tensor | None) -> tuple[float | Tensor, float | Tensor]:
    """(dh/dv, dh/dx) of the charge; floats for IF/LIF, 0-dim tensors for PLIF."""
    if spec.kind == "if":
        return 1.0, 1.0
    kk: float | Tensor = 1.0 / spec.tau if spec.kind == "lif" else k  # type: ignore[assignment]
    return 1.0 - kk, (kk if spec.decay_input else 1.0)


def _backward_loop(
    spec: NeuronSpec, grad_out: Tensor, hs: Tensor, s_bool: Tensor, x: Tensor | None, k: Tensor | None,
    need_k: bool, reuse_h: bool = False,
) -> tuple[Tensor, Tensor | None]:
    """Reverse-time recurrence. ``reuse_h``: write dL/dx_t over h_t (only when ``hs`` is a private buffer;
    step t never reads h_t' for t' > t again, so this is safe and saves one [T, ...] tensor)."""
    if k is None and cpu_kernels.supports(spec, hs):
        return cpu_kernels.backward(spec, grad_out, hs, s_bool), None
    T = grad_out.shape[0]
    dh_dv, dh_dx = _charge_derivatives(spec, k)
    grad_x = hs if reuse_h else torch.empty_like(hs)
    grad_k = torch.zeros((), dtype=hs.dtype, device=hs.device) if need_k else None
    gv: Tensor | None = None  # dL/dv_t from step t+1 (None: zero, the last step)
    vr, vth = spec.v_reset, spec.v_threshold
    for t in range(T - 1, -1, -1):
        h, s = hs[t], s_bool[t]
        sg = spec.surrogate.grad(h - vth)
        gh = grad_out[t] * sg
        if gv is not None:
            if spec.hard_reset:
                gh = gh + torch.where(s, 0.0, gv)  # dv/dh = 1 - s
                if not spec.detach_reset:
                    gh = gh + gv * (vr - h) * sg
            else:
                gh = gh + gv
                if not spec.detach_reset:
                    gh = gh - gv * (vth * sg)
        if grad_k is not None:
            v_prev = reset(spec, hs[t - 1], s_bool[t - 1]) if t > 0 else torch.full_like(h, vr)
            # PLIF: decay_input h = v + (x - (v - vr)) k;  otherwise h = v - (v - vr) k + x
            dh_dk = (x[t] - (v_prev - vr)) if spec.decay_input else -(v_prev - vr)  # type: ignore[index]
            grad_k = grad_k + (gh * dh_dk).sum()
        gv = gh * dh_dv
        torch.mul(gh, dh_dx, out=grad_x[t])  # after the last read of h_t (may overwrite it)
    return grad_x, grad_k


class MultiStepNeuronFunction(torch.autograd.Function):
    """Fused multi-step LIF/IF/PLIF: forward saves (h, bool spikes), or only x when ``recompute``.

    ``recompute=True`` (memory-lean) saves the input alone and re-runs the forward recurrence
    inside backward; results are identical, activations of this layer cost one float tensor.
    """

    @staticmethod
    def forward(ctx, x: Tensor, k: Tensor | None, spec: NeuronSpec, recompute: bool) -> Tensor:  # type: ignore[override]
        out, hs, s_bool = _forward_loop(spec, x, k, keep=not recompute)
        ctx.spec, ctx.recompute = spec, recompute
        need_x = recompute or (spec.kind == "plif" and spec.decay_input)
        if recompute:
            ctx.save_for_backward(x, k)
        else:
            ctx.save_for_backward(hs, s_bool, x if need_x else None, k)
        return out

    @staticmethod
    def backward(ctx, grad_out: Tensor):  # type: ignore[override]
        spec: NeuronSpec = ctx.spec
        if ctx.recompute:
            x, k = ctx.saved_tensors
            if k is None and cpu_kernels.supports(spec, x):  # C++: re-run per neuron block, nothing [T, ...] kept
                grad_x = cpu_kernels.recompute_backward(spec, grad_out, x)
                return (grad_x if ctx.needs_input_grad[0] else None), None, None, None
            _, hs, s_bool = _forward_loop(spec, x, k, keep=True)
        else:
            hs, s_bool, x, k = ctx.saved_tensors
        need_k = k is not None and ctx.needs_input_grad[1]
        grad_x, grad_k = _backward_loop(
            spec, grad_out.contiguous(), hs, s_bool, x, k, need_k, reuse_h=ctx.recompute  # type: ignore[arg-type]
        )
        if grad_k is not None:
            grad_k = grad_k.to(k.dtype)  # type: ignore[union-attr]
        return (grad_x if ctx.needs_input_grad[0] else None), grad_k, None, None


class StaticInputNeuronFunction(torch.autograd.Function):
    """The C++ IF/LIF kernels fed one frame ``x`` [...] at each of T steps (direct encoding after a
    time-invariant stage, see SeqToANN): the frame is read in place instead of copied T times, and
    backward returns its gradient summed over steps instead of a [T, ...] tensor to be reduced."""

    @staticmethod
    def forward(ctx, x: Tensor, steps: int, spec: NeuronSpec, recompute: bool) -> Tensor:  # type: ignore[override]
        out, hs, s_bool = cpu_kernels.forward(spec, x, keep=not recompute, static_steps=steps)
        ctx.spec, ctx.recompute, ctx.steps = spec, recompute, steps
        ctx.save_for_backward(*((x,) if recompute else (hs, s_bool)))
        return out

    @staticmethod
    def backward(ctx, grad_out: Tensor):  # type: ignore[override]
        if ctx.recompute:
            (x,) = ctx.saved_tensors
            return cpu_kernels.recompute_backward(ctx.spec, grad_out, x, ctx.steps), None, None, None
        else:
            hs, s_bool = ctx.saved_tensors
        return cpu_kernels.backward(ctx.spec, grad_out, hs, s_bool, static_input=True), None, None, None


def static_frame(x: Tensor) -> Tensor | None:
    """The frame ``f`` when ``x`` is ``f.unsqueeze(0).expand(T, *f.shape)`` (T > 1), else None."""
    if x.dim() < 2 or x.shape[0] < 2 or x.stride(0) != 0:
        return None
    f = x._base
    if (f is None or f.shape != x.shape[1:] or f.stride() != x.stride()[1:]
            or f.storage_offset() != x.storage_offset() or not f.is_contiguous()):
        return None
    return f


def multi_step_fused(x: Tensor, k: Tensor | None, spec: NeuronSpec, recompute: bool = False) -> Tensor:
    """Spikes [T, ...] of a neuron layer for input currents ``x`` [T, ...] (fused autograd)."""
    needs_grad = torch.is_grad_enabled() and (x.requires_grad or (k is not None and k.requires_grad))
    frame = static_frame(x) if k is None else None
    if frame is not None and cpu_kernels.supports(spec, frame):
        if not needs_grad:
            with torch.no_grad():
                return cpu_kernels.forward(spec, frame, keep=False, static_steps=x.shape[0])[0]
        return StaticInputNeuronFunction.apply(frame, x.shape[0], spec, recompute)
    if not needs_grad:  # inference: no autograd node, nothing saved
        with torch.no_grad():
            return _forward_loop(spec, x, k, keep=False)[0]
    return MultiStepNeuronFunction.apply(x.contiguous(), k, spec, recompute)


# -- SLTT: no temporal route in the backward pass (sadp.snn.sltt) --------------------------------

def _forward_loop_sltt(spec: NeuronSpec, x: Tensor, k: Tensor | None,
                       steps: Tensor) -> tuple[Tensor, Tensor, Tensor | None]:
    """Float spikes, h at the trained ``steps`` [K, ...] and, for PLIF, dh/dk there (the membrane
    carried into the step is a constant under SLTT, so dh/dk is one number per neuron and step)."""
    T = x.shape[0]
    keep = {int(t): j for j, t in enumerate(steps.tolist())}
    out = torch.empty_like(x)
    hk = x.new_empty((len(keep),) + x.shape[1:])
    dk = x.new_empty((len(keep),) + x.shape[1:]) if k is not None else None
    v = torch.full_like(x[0], spec.v_reset)
    for t in range(T):
        h = charge(spec, v, x[t], k)
        s = h >= spec.v_threshold
        out[t].copy_(s)
        j = keep.get(t)
        if j is not None:
            hk[j].copy_(h)
            if dk is not None:  # PLIF: decay_input h = v + (x - (v - vr)) k;  otherwise h = v - (v - vr) k + x
                dk[j].copy_((x[t] - (v - spec.v_reset)) if spec.decay_input else -(v - spec.v_reset))
        v = reset(spec, h, s)
    return out, hk, dk


class SLTTNeuronFunction(torch.autograd.Function):
    """Multi-step neuron whose backward keeps no temporal route (SLTT; SLTT-K with ``steps`` a subset):
    dL/dx_t = dh/dx sg'(h_t - v_th) dL/ds_t at the trained steps and 0 elsewhere. Saves h at the
    trained steps only (plus dh/dk for PLIF): no spikes, nothing of the other steps."""

    @staticmethod
    def forward(ctx, x: Tensor, k: Tensor | None, spec: NeuronSpec, steps: Tensor, static_steps: int) -> Tensor:  # type: ignore[override]
        if k is None and cpu_kernels.supports(spec, x):
            out, hk = cpu_kernels.forward_sltt(spec, x, steps, static_steps)
            dk = None
        else:
            assert not static_steps, "static input needs the C++ kernels"
            out, hk, dk = _forward_loop_sltt(spec, x, k, steps)
        ctx.spec, ctx.static_steps, ctx.T = spec, static_steps, out.shape[0]
        ctx.save_for_backward(hk, dk, k, steps)
        return out

    @staticmethod
    def backward(ctx, grad_out: Tensor):  # type: ignore[override]
        spec: NeuronSpec = ctx.spec
        hk, dk, k, steps = ctx.saved_tensors
        grad_out = grad_out.contiguous()
        if k is None and cpu_kernels.supports(spec, hk):
            gx = cpu_kernels.backward_sltt(spec, grad_out, hk, steps, static_input=bool(ctx.static_steps))
            return gx, None, None, None, None
        gh = grad_out.index_select(0, steps.to(grad_out.device)) * spec.surrogate.grad(hk - spec.v_threshold)
        _, dh_dx = _charge_derivatives(spec, k)
        gx = torch.zeros_like(grad_out)
        gx.index_copy_(0, steps.to(gx.device), gh * dh_dx)
        grad_k = (gh * dk).sum().to(k.dtype) if (dk is not None and ctx.needs_input_grad[1]) else None
        return (gx if ctx.needs_input_grad[0] else None), grad_k, None, None, None


def multi_step_sltt(x: Tensor, k: Tensor | None, spec: NeuronSpec, steps: Tensor | None) -> Tensor:
    """Spikes [T, ...] like :func:`multi_step_fused`, with SLTT's backward over ``steps`` (None: every step)."""
    T = x.shape[0]
    needs_grad = torch.is_grad_enabled() and (x.requires_grad or (k is not None and k.requires_grad))
    if not needs_grad:
        return multi_step_fused(x, k, spec)
    steps = torch.arange(T) if steps is None else steps.cpu()
    frame = static_frame(x) if k is None else None
    if frame is not None and cpu_kernels.supports(spec, frame):
        return SLTTNeuronFunction.apply(frame, None, spec, steps, T)
    return SLTTNeuronFunction.apply(x.contiguous(), k, spec, steps, 0)
