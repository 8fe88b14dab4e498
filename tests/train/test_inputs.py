"""One place turns a batch into the model's [T, B, ...] input (sadp.train.inputs.ModelInputs)."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from sadp.data import build_dataset
from sadp.train import TrainConfig, Trainer
from sadp.train.inputs import ModelInputs


@pytest.fixture(scope="module")
def digits():
    return build_dataset("digits")


def test_direct_encoding_is_standardised_and_repeated(digits) -> None:
    raw = digits.train.data[:32]
    x = ModelInputs(digits, T=3)(raw)
    assert x.shape == (3, 32, 1, 8, 8)
    want = (raw.float() / 255 - digits.mean[0]) / digits.std[0]
    torch.testing.assert_close(x[0], want)
    assert torch.equal(x[0], x[2])


def test_poisson_encoder_receives_intensities(digits) -> None:
    # Rate coding: each pixel fires with probability = its intensity in [0, 1], never a
    # standardised value (which would clamp negative pixels to 0 and bright ones to 1).
    torch.manual_seed(0)
    raw = digits.train.data[:64]
    intensity = raw.float() / 255
    spikes = ModelInputs(digits, T=4000, encoder="poisson")(raw)
    assert set(spikes.unique().tolist()) <= {0.0, 1.0}
    rate = spikes.mean(0)
    # per pixel: 4000 Bernoulli draws, standard error <= 0.5 / sqrt(4000) = 0.008
    assert float((rate - intensity).abs().max()) < 0.05
    assert float(rate.mean()) == pytest.approx(float(intensity.mean()), abs=2e-3)
    assert float(rate[intensity == 0].max()) == 0.0  # dark pixels stay silent


def test_trainer_feeds_poisson_intensities(digits, tmp_path: Path) -> None:
    t = Trainer(TrainConfig(out=str(tmp_path), model="mlp", method="full", epochs=1, encoder="poisson", T=2000,
                            progress=False, device="cpu"), bundle=digits)
    t.pruner.start_epoch(0)
    x, _, idx = next(iter(t.train_loader))
    torch.testing.assert_close(x, digits.train.data[idx].float() / 255)  # scaled, not standardised
    torch.manual_seed(0)
    rate = t.inputs.encode(x).mean(0)
    assert float(rate.mean()) == pytest.approx(float(x.mean()), abs=3e-3)
    # direct encoding through the trainer stays standardised
    t2 = Trainer(TrainConfig(out=str(tmp_path / "d"), model="mlp", method="full", epochs=1, progress=False,
                             device="cpu"), bundle=digits)
    t2.pruner.start_epoch(0)
    x2, _, idx2 = next(iter(t2.train_loader))
    torch.testing.assert_close(x2, (digits.train.data[idx2].float() / 255 - digits.mean[0]) / digits.std[0])


def test_event_frames_are_transposed_not_encoded() -> None:
    from sadp.data import DataBundle, InMemoryImages

    frames = torch.randint(0, 4, (6, 3, 2, 5, 5)).float()  # [N, T, P, H, W] event counts
    ds = InMemoryImages(frames, torch.arange(6) % 2)
    events = DataBundle(name="events", train=ds, test=ds, num_classes=2, sample_shape=(2, 5, 5),
                        classes=["a", "b"], mean=(0.0,), std=(1.0,), augment="event", time_steps=3)
    inputs = ModelInputs(events, T=99, encoder="poisson")  # event data keep their own T and values
    x = inputs(frames[:4])
    assert inputs.T == 3 and torch.equal(x, frames[:4].transpose(0, 1))
    with pytest.raises(ValueError, match="unknown encoder"):
        ModelInputs(events, T=4, encoder="rate")
