"""digits_dvs: digits recorded by an emulated DVS in three saccades (sadp.data.emulated_events)."""
from __future__ import annotations

import torch

from sadp.data import build_dataset
from sadp.data.emulated_events import emulate_events, saccade_offsets


def test_saccade_path_is_a_closed_triangle() -> None:
    off = saccade_offsets(48)
    assert off.shape == (49, 2)
    assert torch.equal(off[0], off[-1])  # back where it started
    assert off[16].tolist() == [2.0, 1.0] and off[32].tolist() == [0.0, 2.0]


def test_static_blank_image_emits_only_noise_and_edges_emit_both_polarities() -> None:
    blank = torch.zeros(3, 1, 8, 8, dtype=torch.uint8)
    quiet = emulate_events(blank, time_steps=4, noise_rate=0.0)
    assert quiet.sum() == 0  # nothing moves, nothing changes: no events
    img = torch.zeros(1, 1, 8, 8, dtype=torch.uint8)
    img[0, 0, 2:6, 2:6] = 255
    ev = emulate_events(img, time_steps=4, noise_rate=0.0)
    assert ev.shape == (1, 4, 2, 20, 20)
    assert ev[:, :, 0].sum() > 0 and ev[:, :, 1].sum() > 0  # ON and OFF edges
    assert (ev.sum(dim=(0, 2, 3, 4)) > 0).all()  # motion in every time bin


def test_digits_dvs_bundle_is_fixed_and_event_shaped() -> None:
    a = build_dataset("digits_dvs", time_steps=3)
    b = build_dataset("digits_dvs", time_steps=3, seed=5)
    assert a.is_event and a.time_steps == 3 and a.sample_shape == (2, 20, 20) and a.augment == "event"
    assert a.train.data.shape[1:] == (3, 2, 20, 20) and len(a.train) + len(a.test) == 1797
    assert torch.equal(a.train.data, b.train.data)  # the recording does not depend on the run's seed
    x, y = a.train[0]
    assert x.dtype == torch.float32 and x.min() >= 0 and 0 <= y < 10
