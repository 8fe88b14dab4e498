"""Per-example gradient matrices for the diagnostics: the exact gradients come from
:mod:`sadp.pruning.pergrad` (GraNd's scores use the same code); a count sketch keeps them small."""
from __future__ import annotations

import torch
from torch import Tensor, nn

from sadp.pruning.pergrad import LossFn, per_example_grad_norms, per_example_grads, reference_neurons

__all__ = ["CountSketch", "LossFn", "per_example_grad_matrix", "per_example_grad_norms", "per_example_grads",
           "reference_neurons"]


class CountSketch:
    """A random signed hashing of P coordinates into D buckets: E||S g||^2 = ||g||^2 and
    E<S g, S h> = <g, h>, with relative error about sqrt(2/D); lets the diagnostics keep a
    [N, D] matrix instead of the [N, P] per-example gradients."""

    def __init__(self, num_coords: int, dim: int, seed: int = 0, device: torch.device | str = "cpu") -> None:
        g = torch.Generator().manual_seed(seed)
        self.dim = dim
        self.bucket = torch.randint(dim, (num_coords,), generator=g).to(device)
        self.sign = (torch.randint(2, (num_coords,), generator=g).float() * 2 - 1).to(device)

    def __call__(self, flat: Tensor) -> Tensor:
        out = flat.new_zeros(flat.shape[0], self.dim)
        return out.index_add_(1, self.bucket, flat * self.sign)


def per_example_grad_matrix(
    model: nn.Module,
    inputs: Tensor,
    targets: Tensor,
    loss_fn: LossFn,
    chunk_size: int = 64,
    sketch_dim: int = 0,
    seed: int = 0,
) -> tuple[Tensor, Tensor]:
    """(flattened per-example gradients [B, P] or their count sketch [B, sketch_dim], exact norms [B])."""
    num = sum(p.numel() for p in model.parameters() if p.requires_grad)
    sketch = CountSketch(num, sketch_dim, seed, inputs.device) if sketch_dim > 0 else None
    rows, norms = [], []
    for _, g in per_example_grads(model, inputs, targets, loss_fn, chunk_size):
        flat = torch.cat([v.flatten(1) for v in g.values()], 1)
        norms.append(flat.norm(dim=1))
        rows.append(sketch(flat) if sketch is not None else flat)
    return torch.cat(rows), torch.cat(norms)
