"""True per-example gradients of a whole model with ``torch.func`` (vmap over grad): GraNd's
scores, and the ground truth the diagnostics compare every score with.

The model runs in eval mode (BatchNorm from running statistics), so each example's gradient
depends on that example alone; multi-step inputs are [T, B, ...] and the batch axis is 1.
Neurons must be torch.func compatible: the reference spike ``heaviside(u) + (f(u) - f(u).detach())``
is; :func:`reference_neurons` selects it with ``sadp.snn.set_backend("reference")`` (the fused
autograd Function has no vmap rule; neurons also fall back on their own under torch.func).
"""
from __future__ import annotations

import contextlib
from typing import Callable, Iterator

import torch
from torch import Tensor, nn
from torch.func import functional_call, grad, vmap

LossFn = Callable[[Tensor, Tensor], Tensor]  # (per-step logits [T, B, K], targets [B]) -> [B]


@contextlib.contextmanager
def reference_neurons(model: nn.Module) -> Iterator[None]:
    """Eval mode and, where available, the torch.func-compatible reference neuron path."""
    from sadp.snn import set_backend  # the substrate's documented switch for torch.func work

    was_training = model.training
    model.eval()
    try:
        with set_backend("reference"):
            yield
    finally:
        model.train(was_training)


def _per_example_grad_fn(model: nn.Module, loss_fn: LossFn, names: list[str]):
    buffers = dict(model.named_buffers())
    frozen = {n: p.detach() for n, p in model.named_parameters() if n not in names}

    def loss_one(params: dict[str, Tensor], x: Tensor, y: Tensor) -> Tensor:
        out = functional_call(model, ({**frozen, **params}, buffers), (x.unsqueeze(1),))
        return loss_fn(out, y.unsqueeze(0)).sum()

    return vmap(grad(loss_one), in_dims=(None, 1, 0))


def per_example_grads(
    model: nn.Module,
    inputs: Tensor,
    targets: Tensor,
    loss_fn: LossFn,
    chunk_size: int = 64,
    param_names: list[str] | None = None,
) -> Iterator[tuple[slice, dict[str, Tensor]]]:
    """Yield ``(batch slice, {param name: [c, *shape] gradients})`` chunk by chunk."""
    names = param_names or [n for n, p in model.named_parameters() if p.requires_grad]
    params = {n: p.detach() for n, p in model.named_parameters() if n in names}
    with reference_neurons(model):
        fn = _per_example_grad_fn(model, loss_fn, names)
        B = inputs.shape[1]
        for start in range(0, B, chunk_size):
            sl = slice(start, min(B, start + chunk_size))
            yield sl, fn(params, inputs[:, sl], targets[sl])


def per_example_grad_norms(
    model: nn.Module,
    inputs: Tensor,
    targets: Tensor,
    loss_fn: LossFn,
    chunk_size: int = 64,
    param_names: list[str] | None = None,
) -> Tensor:
    """||d loss_i / d theta||_2 over all (or the named) parameters, per example [B]."""
    out = torch.empty(inputs.shape[1], device=inputs.device)
    for sl, g in per_example_grads(model, inputs, targets, loss_fn, chunk_size, param_names):
        out[sl] = torch.stack([v.flatten(1).pow(2).sum(1) for v in g.values()]).sum(0).sqrt()
    return out
