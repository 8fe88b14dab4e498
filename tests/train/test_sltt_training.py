"""Training with SLTT / SLTT-K: the Pruner sees BPTT's forward pass, the setting is part of the
config (resume refuses a change), and a run trains end to end."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from sadp.pruning import Pruner
from sadp.pruning.methods.importance import SADP
from sadp.snn import build_model, set_backprop
from sadp.train import TrainConfig, train

FAST = dict(model="small_cnn", model_options={"channels": [8, 16, 16]}, method="sadp", ratio=0.5, epochs=2,
            subset=120, batch_size=32, progress=False)


def _observed_first_batch(mode: tuple[str, int], monkeypatch: pytest.MonkeyPatch) -> list:
    """The statistics the SADP method observes over one epoch of a fixed model and data under ``mode``."""
    seen = []
    original = SADP.observe
    monkeypatch.setattr(SADP, "observe", lambda self, stats: seen.append(stats) or original(self, stats))
    torch.manual_seed(0)
    model = build_model("small_cnn", (3, 16, 16), 3, channels=(8, 16, 16))
    set_backprop(model, *mode)
    g = torch.Generator().manual_seed(1)
    x, y = torch.randn(8, 3, 16, 16, generator=g), torch.arange(8) % 3
    pruner = Pruner(model, 8, "sadp", ratio=0.5, epochs=2, seed=0, options={"score": "multilayer"})
    pruner.start_epoch(0)
    xb, yb = next(iter(DataLoader(TensorDataset(x, y), batch_size=8, sampler=pruner.sampler)))
    out = model(xb.unsqueeze(0).expand(4, *xb.shape))
    pruner.loss(out, yb).backward()
    pruner.end_epoch()
    return seen


def test_pruner_and_sadp_see_the_same_forward_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    bptt = _observed_first_batch(("bptt", 0), monkeypatch)[0]
    for mode in (("sltt", 0), ("sltt", 1)):
        s = _observed_first_batch(mode, monkeypatch)[-1]
        assert torch.equal(s.indices, bptt.indices)
        assert s.layer_spike_counts is not None and len(s.layer_spike_counts) == len(bptt.layer_spike_counts)
        # the very same forward pass, bit for bit (SLTT-K included: its layers run over every step)
        assert torch.equal(s.step_logits, bptt.step_logits) and torch.equal(s.spike_counts, bptt.spike_counts)
        assert all(torch.equal(a, b) for a, b in zip(s.layer_spike_counts, bptt.layer_spike_counts))
        assert torch.equal(s.loss, bptt.loss) and torch.equal(s.output_error, bptt.output_error)


def test_sltt_k_trains_and_resume_keeps_the_setting(tmp_path: Path) -> None:
    cfg = dict(FAST, backprop="sltt", backprop_steps=1)
    s = train(TrainConfig(out=str(tmp_path), **cfg))
    assert torch.isfinite(torch.tensor(s["test_acc"]))
    resumed = train(TrainConfig(out=str(tmp_path), resume=True, **cfg))  # finished: a no-op
    assert resumed["test_acc"] == s["test_acc"]
    with pytest.raises(ValueError, match="backprop"):
        train(TrainConfig(out=str(tmp_path), resume=True, **dict(cfg, backprop_steps=2)))
    state = torch.load(tmp_path / "checkpoint.pt", map_location="cpu", weights_only=False)
    assert state["config"]["backprop"] == "sltt" and state["config"]["backprop_steps"] == 1


def test_sltt_training_differs_from_bptt_only_in_gradients(tmp_path: Path) -> None:
    """Same seed and data: SLTT's first-epoch forward equals BPTT's, its weights then differ."""
    a = train(TrainConfig(out=str(tmp_path / "a"), **dict(FAST, epochs=1, method="full", ratio=None)))
    b = train(TrainConfig(out=str(tmp_path / "b"), **dict(FAST, epochs=1, method="full", ratio=None, backprop="sltt")))
    wa = torch.load(tmp_path / "a" / "checkpoint.pt", map_location="cpu", weights_only=False)["model"]
    wb = torch.load(tmp_path / "b" / "checkpoint.pt", map_location="cpu", weights_only=False)["model"]
    assert any(not torch.equal(wa[k], wb[k]) for k in wa if wa[k].is_floating_point())
    assert a["examples_seen"] == b["examples_seen"]
