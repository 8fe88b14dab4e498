"""Event data emulated from the embedded digits, recorded the way N-MNIST was (Orchard et al. 2015).

N-MNIST was made by moving a DVS camera in three saccades, along a triangle, in front of static
MNIST digits; the camera reports ON/OFF events where the log intensity of a pixel changes by more
than a contrast threshold. ``digits_dvs`` applies that recording to scikit-learn's 1,797 real
digits with a simple DVS model, so an event dataset exists without a download:

1. upsample each 8x8 digit to 16x16 (bilinear) and centre it on a 20x20 dark canvas;
2. translate it along the triangle (0, 0) -> (2, 1) -> (0, 2) -> (0, 0) pixels in ``micro_steps``
   sub-pixel steps (bilinear resampling);
3. per pixel, compare log(I + 0.05) with the level at the pixel's last event; every multiple of
   ``contrast`` crossed emits one ON or OFF event and moves the reference;
4. add background-activity noise (independent events at ``noise_rate`` per pixel and micro-step);
5. sum events into ``time_steps`` equal time bins: frames [T, 2, 20, 20] of event counts.

It is an emulation, not a sensor recording: no pixel latency, refractory period or shot noise
beyond the background events. Its use is a second, temporal input for pruning experiments whose
spike counts vary over time steps. The split is the digits' fixed 80/20 split; recording noise is
seeded per split (independent of the run's seed), so every run sees the same dataset.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from sadp.data.base import DataBundle, InMemoryImages, balanced_subset_indices
from sadp.data.digits import load_digits_bundle
from sadp.registry import DATASETS

CANVAS = 20
SACCADE = ((0.0, 0.0), (2.0, 1.0), (0.0, 2.0), (0.0, 0.0))  # (dx, dy) vertices in pixels


def saccade_offsets(micro_steps: int) -> Tensor:
    """[micro_steps + 1, 2] (dx, dy) positions along the triangle, evenly spaced per saccade."""
    per = max(1, micro_steps // 3)
    pts = [torch.tensor(SACCADE[0])]
    for a, b in zip(SACCADE[:-1], SACCADE[1:]):
        t = torch.arange(1, per + 1, dtype=torch.float64)[:, None] / per
        pts.append(torch.tensor(a) + t * (torch.tensor(b) - torch.tensor(a)))
    return torch.cat([p.reshape(-1, 2) for p in pts]).float()


def translate(images: Tensor, dx: float, dy: float) -> Tensor:
    """Shift [N, 1, H, W] images by (dx, dy) pixels with bilinear resampling (zeros outside)."""
    n, _, h, w = images.shape
    theta = torch.tensor([[1.0, 0.0, -2.0 * dx / w], [0.0, 1.0, -2.0 * dy / h]]).expand(n, 2, 3)
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def emulate_events(images: Tensor, time_steps: int, micro_steps: int = 48, contrast: float = 0.3,
                   noise_rate: float = 0.002, seed: int = 0) -> Tensor:
    """uint8 images [N, 1, h, w] -> event-count frames [N, T, 2, CANVAS, CANVAS] (float32)."""
    if time_steps < 1 or micro_steps < time_steps:
        raise ValueError(f"need 1 <= time_steps <= micro_steps, got time_steps={time_steps}, micro_steps={micro_steps}")
    g = torch.Generator().manual_seed(seed)
    x = images.float() / 255.0
    x = F.interpolate(x, size=(16, 16), mode="bilinear", align_corners=False)
    pad = (CANVAS - 16) // 2
    x = F.pad(x, (pad, pad, pad, pad))
    offsets = saccade_offsets(micro_steps)
    steps = len(offsets) - 1
    log_i = lambda img: torch.log(img + 0.05)  # noqa: E731 - the sensor's response
    ref = log_i(translate(x, *offsets[0].tolist()))
    n = len(x)
    frames = torch.zeros(n, time_steps, 2, CANVAS, CANVAS)
    for k in range(1, steps + 1):
        level = log_i(translate(x, *offsets[k].tolist()))
        diff = level - ref
        count = torch.floor(diff.abs() / contrast)
        ref = ref + torch.sign(diff) * count * contrast
        on, off = count * (diff > 0), count * (diff < 0)
        noise = torch.rand(n, 2, CANVAS, CANVAS, generator=g) < noise_rate
        b = min(time_steps - 1, (k - 1) * time_steps // steps)
        frames[:, b, 0] += on[:, 0] + noise[:, 0]
        frames[:, b, 1] += off[:, 0] + noise[:, 1]
    return frames


@DATASETS.register("digits_dvs",
                   help="the embedded digits recorded by an emulated DVS in 3 saccades, N-MNIST style (20x20, T=6)")
def load_digits_dvs(subset: int | None = None, seed: int = 0, time_steps: int = 6, micro_steps: int = 48,
                    contrast: float = 0.3, noise_rate: float = 0.002) -> DataBundle:
    digits = load_digits_bundle()
    parts = []
    for split, ds in (("train", digits.train), ("test", digits.test)):
        frames = emulate_events(ds.data, time_steps, micro_steps, contrast, noise_rate,
                                seed=0 if split == "train" else 1)
        parts.append(InMemoryImages(frames, ds.targets))
    train, test = parts
    if subset:
        train = train.subset(balanced_subset_indices(train.targets, subset, seed))
    return DataBundle(
        name="digits_dvs", train=train, test=test, num_classes=10, sample_shape=(2, CANVAS, CANVAS),
        classes=digits.classes, mean=(0.0,), std=(1.0,), augment="event", time_steps=time_steps,
    )
