"""Batch transforms that run on the training device (no per-image Python work)."""
from __future__ import annotations

import torch
from torch import Tensor


def normalize(x: Tensor, mean: tuple[float, ...], std: tuple[float, ...]) -> Tensor:
    """uint8 [B, C, H, W] -> float, scaled to [0, 1] then standardised per channel."""
    x = x.float().div_(255.0) if x.dtype == torch.uint8 else x.float()
    m = torch.tensor(mean, device=x.device, dtype=x.dtype).view(1, -1, 1, 1)
    s = torch.tensor(std, device=x.device, dtype=x.dtype).view(1, -1, 1, 1)
    return (x - m) / s


def random_flip(x: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """Horizontal flip of each example with probability 1/2 (last dim is width)."""
    flip = torch.rand(x.shape[0], device=x.device, generator=generator) < 0.5
    shape = (-1,) + (1,) * (x.dim() - 1)
    return torch.where(flip.view(shape), x.flip(-1), x)


def random_crop(x: Tensor, padding: int = 4, generator: torch.Generator | None = None) -> Tensor:
    """Random crop with zero padding, one offset per example, done with a single gather."""
    B, C, H, W = x.shape
    Wp = W + 2 * padding
    xp = torch.nn.functional.pad(x, (padding,) * 4).flatten(2)  # [B, C, Hp * Wp]
    dy = torch.randint(0, 2 * padding + 1, (B,), device=x.device, generator=generator)
    dx = torch.randint(0, 2 * padding + 1, (B,), device=x.device, generator=generator)
    rows = dy.view(B, 1, 1) + torch.arange(H, device=x.device).view(1, H, 1)
    cols = dx.view(B, 1, 1) + torch.arange(W, device=x.device).view(1, 1, W)
    flat = (rows * Wp + cols).view(B, 1, H * W).expand(B, C, H * W)
    return xp.gather(2, flat).view(B, C, H, W)


def random_roll(x: Tensor, max_shift: int, generator: torch.Generator | None = None) -> Tensor:
    """Cyclic shift of each example's last two dims (H, W) by its own offset in [-max_shift, max_shift]."""
    if max_shift <= 0:
        return x
    B, H, W = x.shape[0], x.shape[-2], x.shape[-1]
    dy = torch.randint(-max_shift, max_shift + 1, (B,), device=x.device, generator=generator)
    dx = torch.randint(-max_shift, max_shift + 1, (B,), device=x.device, generator=generator)
    view = (B,) + (1,) * (x.dim() - 3)
    rows = (torch.arange(H, device=x.device) - dy.view(B, 1)) % H  # output row r reads input row r - dy
    cols = (torch.arange(W, device=x.device) - dx.view(B, 1)) % W
    x = x.gather(-2, rows.view(*view, H, 1).expand_as(x))
    return x.gather(-1, cols.view(*view, 1, W).expand_as(x))
