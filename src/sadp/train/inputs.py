"""The one place where a batch of a :class:`sadp.data.DataBundle` becomes the model's input [T, B, ...].

Two halves, built from the same settings so they cannot disagree:

* ``transform(train)``: the per-batch transform the loader runs on the device (scaling to [0, 1],
  standardisation, augmentation; see :class:`sadp.data.BatchTransform`);
* ``encode(x)``: the transformed batch to the model's time-first input: static images through the
  encoder (``direct`` repeats the frame T times; ``poisson`` emits spikes with probability equal to
  the pixel intensity), event frames [B, T, ...] transposed to [T, B, ...].

Rate coding needs intensities, so with ``encoder="poisson"`` the transform scales to [0, 1] and
does not standardise; ``direct`` input is standardised (the first layer sees mean 0, std 1).
``inputs(raw, train=False)`` runs both halves on a raw batch (examples, diagnostics).
"""
from __future__ import annotations

import dataclasses

import torch
from torch import Tensor

from sadp.data import BatchTransform, DataBundle
from sadp.snn.encoders import ENCODERS, encode, takes_intensities


class ModelInputs:
    """Batches of ``bundle`` -> model input [T, B, ...] with ``T`` steps (event data: its own T)."""

    def __init__(self, bundle: DataBundle, T: int, encoder: str = "direct", channels_last: bool = False) -> None:
        if encoder not in ENCODERS:
            raise ValueError(ENCODERS.unknown(encoder))
        self.bundle = bundle
        self.is_event = bundle.is_event
        self.T = bundle.time_steps or T
        self.encoder = encoder
        self.channels_last = channels_last and not bundle.is_event
        self._scaling = bundle
        if takes_intensities(encoder) and not bundle.is_event:  # e.g. poisson: rates in [0, 1]
            channels = len(bundle.mean)
            self._scaling = dataclasses.replace(bundle, mean=(0.0,) * channels, std=(1.0,) * channels)

    def transform(self, train: bool, generator: torch.Generator | None = None) -> BatchTransform:
        """The loader's per-batch transform (``train``: with the bundle's augmentation)."""
        return BatchTransform(self._scaling, train=train, generator=generator)

    def encode(self, x: Tensor) -> Tensor:
        """A transformed batch [B, ...] (event frames [B, T, ...]) -> the model's input [T, B, ...]."""
        if self.is_event:
            return x.transpose(0, 1)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return encode(x, self.T, self.encoder)

    def __call__(self, raw: Tensor, train: bool = False) -> Tensor:
        """A raw batch as the dataset stores it (e.g. uint8 images) -> the model's input."""
        return self.encode(self.transform(train)(raw))
