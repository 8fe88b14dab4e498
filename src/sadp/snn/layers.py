"""Layers that let stateless ANN modules (conv, BN, linear, pooling) run on [T, B, ...] tensors."""
from __future__ import annotations

import torch
from torch import Tensor, nn

from sadp.snn import cpu_kernels, sltt

# Modules whose output at one time step depends only on that step's input (and BatchNorm, whose
# statistics over T equal copies equal those over one copy): safe to run once on a static input.
TIME_INVARIANT = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear, nn.modules.batchnorm._BatchNorm, nn.MaxPool1d,
                  nn.MaxPool2d, nn.AvgPool1d, nn.AvgPool2d, nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d, nn.Identity,
                  nn.Flatten)


class SeqToANN(nn.Sequential):
    """Fold time into batch: [T, B, ...] -> [T*B, ...] -> modules -> [T, B, ...].

    BatchNorm inside therefore normalises over time and batch together (tdBN-style statistics).

    Static input: direct encoding repeats one frame at every step as an expanded view (stride 0
    over T). Then the T results of time-invariant modules (conv, linear, BN, pooling) are equal,
    so they run once on [B, ...] and the result is expanded: the first conv-BN of a direct-encoded
    network costs 1/T. Outputs and gradients are the same (autograd sums the T gradient copies);
    BatchNorm's normalisation is identical and its running variance uses the unbiased factor of
    B*H*W instead of T*B*H*W values. ``reuse_static_input = False`` turns this off.
    """

    reuse_static_input: bool = True

    def forward(self, x: Tensor) -> Tensor:  # type: ignore[override]
        T, B = x.shape[:2]
        steps = trained_steps(T)
        split = steps is not None and any(p.requires_grad for p in self.parameters())
        if T > 1 and x.stride(0) == 0 and self.reuse_static_input and self._time_invariant():
            # SLTT-K: BatchNorm's gradient counts only the trained steps' share of the T copies
            y = run_static(list(self.children()), x[0], steps.numel() / T) if split else super().forward(x[0])  # type: ignore[union-attr]
            return y.unsqueeze(0).expand(T, *y.shape)
        if split:  # SLTT-K: backward over the trained steps only
            return run_steps(list(self.children()), x, steps)  # type: ignore[arg-type]
        y = super().forward(x.flatten(0, 1))
        return y.unflatten(0, (T, B))

    def _time_invariant(self) -> bool:
        return all(isinstance(m, TIME_INVARIANT) for m in self.children())


def trained_steps(T: int) -> Tensor | None:
    """The steps SLTT-K backpropagates in this forward pass (sorted int64 [K]), or None: every step
    (BPTT, full SLTT, K >= T or no gradients)."""
    selection = sltt.active() if torch.is_grad_enabled() else None
    return None if selection is None else selection.steps(T)


def _rows(x: Tensor, kept: Tensor, T: int) -> Tensor:
    """The trained steps' rows of ``x`` [T*B, ...] (time folded into batch), as [K*B, ...]."""
    return x.unflatten(0, (T, -1)).index_select(0, kept).flatten(0, 1)


def _full_grad(gc: Tensor, kept: Tensor, T: int) -> Tensor:
    """[T*B, ...] gradient: ``gc`` [K*B, ...] at the trained steps' rows, zero elsewhere."""
    g = gc.new_zeros((T, gc.shape[0] // kept.numel()) + tuple(gc.shape[1:]))
    return g.index_copy_(0, kept, gc.unflatten(0, (kept.numel(), -1))).flatten(0, 1)


class _TrainedStepsConv(torch.autograd.Function):
    """A convolution over all T*B rows (the module's own forward: BPTT's outputs, hooks run once)
    that keeps only the trained steps' input rows and backpropagates only those (SLTT-K)."""

    @staticmethod
    def forward(ctx, x: Tensor, weight: Tensor, bias: Tensor | None, conv: nn.modules.conv._ConvNd,  # type: ignore[override]
                kept: Tensor, T: int) -> Tensor:
        ctx.conv, ctx.T = conv, T
        ctx.save_for_backward(_rows(x, kept, T), weight, kept)
        ctx.has_bias = bias is not None
        return conv(x)

    @staticmethod
    def backward(ctx, grad_out: Tensor):  # type: ignore[override]
        xc, weight, kept = ctx.saved_tensors
        conv, need = ctx.conv, ctx.needs_input_grad
        gc = _rows(grad_out, kept, ctx.T)
        dt = gc.dtype  # under autocast the convolution ran in the autocast dtype
        gx, gw, gb = torch.ops.aten.convolution_backward(
            gc, xc.to(dt), weight.to(dt), [weight.shape[0]] if ctx.has_bias else None, list(conv.stride),
            list(conv.padding), list(conv.dilation), False, [0] * len(conv.stride), conv.groups,
            [need[0], need[1], need[2] and ctx.has_bias])
        gw = gw.to(weight.dtype) if gw is not None else None
        gb = gb.to(weight.dtype) if gb is not None else None
        return (_full_grad(gx.to(xc.dtype), kept, ctx.T) if need[0] else None), gw, gb, None, None, None


class _TrainedStepsLinear(torch.autograd.Function):
    """``nn.Linear`` over all T*B rows that keeps and backpropagates only the trained steps' rows."""

    @staticmethod
    def forward(ctx, x: Tensor, weight: Tensor, bias: Tensor | None, linear: nn.Linear,  # type: ignore[override]
                kept: Tensor, T: int) -> Tensor:
        ctx.T = T
        ctx.save_for_backward(_rows(x, kept, T), weight, kept)
        return linear(x)

    @staticmethod
    def backward(ctx, grad_out: Tensor):  # type: ignore[override]
        xc, weight, kept = ctx.saved_tensors
        need = ctx.needs_input_grad
        gc = _rows(grad_out, kept, ctx.T)
        dt = gc.dtype  # under autocast the product ran in the autocast dtype
        g2, x2 = gc.reshape(-1, gc.shape[-1]), xc.reshape(-1, xc.shape[-1]).to(dt)
        gx = _full_grad((gc @ weight.to(dt)).to(xc.dtype), kept, ctx.T) if need[0] else None
        gw = (g2.t() @ x2).to(weight.dtype) if need[1] else None
        return gx, gw, (g2.sum(0).to(weight.dtype) if need[2] else None), None, None, None


class _TrainedStepsBatchNorm(torch.autograd.Function):
    """Training-mode BatchNorm over all T*B rows (the module's own kernel: BPTT's statistics,
    running averages and outputs; the module's forward hooks do not run) whose gradient reaches
    only the trained steps' rows: backward keeps and reads K of T steps."""

    @staticmethod
    def forward(ctx, x: Tensor, weight: Tensor | None, bias: Tensor | None,  # type: ignore[override]
                bn: nn.modules.batchnorm._BatchNorm, kept: Tensor, T: int) -> Tensor:
        factor = 0.0 if bn.momentum is None else bn.momentum  # as _BatchNorm.forward (the same kernel)
        if bn.training and bn.track_running_stats and bn.num_batches_tracked is not None:
            bn.num_batches_tracked.add_(1)
            factor = 1.0 / float(bn.num_batches_tracked) if bn.momentum is None else bn.momentum
        out, mean, invstd = torch.native_batch_norm(x, weight, bias, bn.running_mean, bn.running_var, True, factor,
                                                    bn.eps)
        ctx.save_for_backward(_rows(x, kept, T) if T > 1 else x, weight, mean, invstd, kept)
        ctx.T, ctx.count = T, x.numel() // x.shape[1]
        return out

    @staticmethod
    def backward(ctx, grad_out: Tensor):  # type: ignore[override]
        xc, weight, mean, invstd, kept = ctx.saved_tensors
        gc = _rows(grad_out, kept, ctx.T)
        gx, gw, gb = _bn_backward(gc, xc, weight, mean, invstd, ctx.count, ctx.needs_input_grad)
        return (_full_grad(gx, kept, ctx.T) if gx is not None else None), gw, gb, None, None, None


class _StaticStepsBatchNorm(torch.autograd.Function):
    """Training-mode BatchNorm of one frame [B, C, ...] that stands for T equal steps (a static
    input), of which a ``share`` K/T is trained: the forward is the module's own on the frame; the
    backward, given the frame's gradient summed over the trained steps, is the sum over those steps
    of :class:`_TrainedStepsBatchNorm`'s (the statistics terms scale by K/T)."""

    @staticmethod
    def forward(ctx, x: Tensor, weight: Tensor | None, bias: Tensor | None,  # type: ignore[override]
                bn: nn.modules.batchnorm._BatchNorm, share: float) -> Tensor:
        out = _TrainedStepsBatchNorm.forward(ctx, x, weight, bias, bn, torch.zeros(0, dtype=torch.int64), 1)
        ctx.share = share
        return out

    @staticmethod
    def backward(ctx, grad_out: Tensor):  # type: ignore[override]
        x, weight, mean, invstd, _ = ctx.saved_tensors
        gx, gw, gb = _bn_backward(grad_out, x, weight, mean, invstd, ctx.count / ctx.share, ctx.needs_input_grad)
        return gx, gw, gb, None, None


def _bn_backward(g: Tensor, x: Tensor, weight: Tensor | None, mean: Tensor, invstd: Tensor, count: float,
                 need: tuple[bool, ...]) -> tuple[Tensor | None, Tensor | None, Tensor | None]:
    """BatchNorm's training-mode backward for rows ``x`` with gradient ``g``, statistics over ``count`` values."""
    shape = [1, -1] + [1] * (x.dim() - 2)
    dims = [0] + list(range(2, x.dim()))
    xhat = (x - mean.view(shape)) * invstd.view(shape)
    gsum, gxsum = g.sum(dims), (g * xhat).sum(dims)
    scale = invstd if weight is None else weight * invstd
    gx = (g - (gsum / count).view(shape) - xhat * (gxsum / count).view(shape)) * scale.view(shape)
    return (gx if need[0] else None, gxsum if (weight is not None and need[1]) else None,
            gsum if need[2] else None)


def run_static(modules: list[nn.Module], frame: Tensor, share: float) -> Tensor:
    """``modules`` on the one frame of a static input whose T steps a ``share`` K/T is trained (SLTT-K):
    time-invariant modules once, as BPTT's static path; BatchNorm's backward as the trained steps'."""
    for m in modules:
        if isinstance(m, nn.modules.batchnorm._BatchNorm) and (m.training or m.running_mean is None):
            frame = _StaticStepsBatchNorm.apply(frame, m.weight, m.bias, m, share)
        else:
            frame = m(frame)
    return frame


def run_steps(modules: list[nn.Module], x: Tensor, steps: Tensor) -> Tensor:
    """Run ``modules`` (each on [N, ...], time folded into batch) over ``x`` [T, B, ...] so that only
    the trained ``steps`` are backpropagated (SLTT-K, :mod:`sadp.snn.sltt`).

    The forward pass is BPTT's (every module once over all T*B rows, hooks included). Convolutions,
    linear layers and training-mode BatchNorm keep only the trained steps' rows for backward and
    compute their backward on those rows alone (K of T steps of the work); their input gradient is
    zero at the other steps. Other modules with parameters run under plain autograd with their
    untrained steps' outputs detached (same gradients, no saving); parameter-free ones (pooling)
    run as usual (their gradient at the untrained steps is zero)."""
    T, B = x.shape[:2]
    kept = steps.to(x.device)
    keep = sltt.steps_mask(steps, T).to(x.device)
    y = x.flatten(0, 1)
    for m in modules:
        has_params = any(p.requires_grad for p in m.parameters())
        if (isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Conv3d)) and m.padding_mode == "zeros"
                and not isinstance(m.padding, str)):
            y = _TrainedStepsConv.apply(y, m.weight, m.bias, m, kept, T)
        elif isinstance(m, nn.Linear):
            y = _TrainedStepsLinear.apply(y, m.weight, m.bias, m, kept, T)
        elif isinstance(m, nn.modules.batchnorm._BatchNorm) and (m.training or m.running_mean is None):
            y = _TrainedStepsBatchNorm.apply(y, m.weight, m.bias, m, kept, T)
        elif has_params:
            y = m(y)
            rows = keep.repeat_interleave(B).view(-1, *([1] * (y.dim() - 1)))
            y = torch.where(rows, y, y.detach())
        else:
            y = m(y)
    return y.unflatten(0, (T, B))


class Flatten(nn.Module):
    """Flatten all dims after [T, B]."""

    def forward(self, x: Tensor) -> Tensor:
        return x.flatten(2)


class _MaxPool2x2Function(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor) -> Tensor:  # type: ignore[override]
        out, code = cpu_kernels.load().maxpool2x2_forward(x)  # type: ignore[union-attr]
        ctx.save_for_backward(code)
        ctx.in_sizes = list(x.shape)
        return out

    @staticmethod
    def backward(ctx, grad_out: Tensor) -> Tensor:  # type: ignore[override]
        (code,) = ctx.saved_tensors
        return cpu_kernels.load().maxpool2x2_backward(grad_out, code, ctx.in_sizes)  # type: ignore[union-attr]


class MaxPool2x2(nn.MaxPool2d):
    """``nn.MaxPool2d(2)`` with the same outputs and gradients (first maximum of each window wins),
    computed on CPU by one C++ pass that keeps a 1-byte winner code per output instead of int64
    indices and the input (timings: docs/architecture.md, Pooling).
    Falls back to ``F.max_pool2d`` on GPU, odd sizes, under torch.compile/torch.func, or without
    the C++ kernels."""

    def __init__(self) -> None:
        super().__init__(2)

    def forward(self, x: Tensor) -> Tensor:  # type: ignore[override]
        if self._use_kernel(x):
            return _MaxPool2x2Function.apply(x)
        return super().forward(x)

    @staticmethod
    def _use_kernel(x: Tensor) -> bool:
        if x.device.type != "cpu" or x.dtype not in (torch.float32, torch.float64) or x.dim() < 3:
            return False
        if x.shape[-1] % 2 or x.shape[-2] % 2 or x.numel() == 0 or not x.is_contiguous():
            return False
        if torch.compiler.is_compiling() or torch._C._functorch.is_functorch_wrapped_tensor(x):
            return False
        return cpu_kernels.load() is not None
