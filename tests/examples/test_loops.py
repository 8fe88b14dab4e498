"""Every example in examples/ runs on the embedded digits, reaches a stated accuracy, and feeds
SADP non-empty spike counts; the plain loop differs from an ordinary one in four marked lines.

Runs are kept to seconds of CPU: a class-balanced subset of 500 training images and 4 epochs
(SADP: full, pruned to 250, pruned, annealed to full); accuracy is on the whole test set (359).
"""
from __future__ import annotations

import difflib
import importlib.util
import inspect
from pathlib import Path
from types import ModuleType

import pytest
import torch

from sadp.pruning.methods.importance import SADP

EXAMPLES = Path(__file__).parents[2] / "examples"
MARK = "# sadp"
FAST = dict(epochs=4, subset=500)
SIZES = [500, 250, 250, 500]  # SADP ratio 0.5: full first epoch, K = 250, annealed last epoch


def load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)  # type: ignore[union-attr]
    return mod


@pytest.fixture
def observed(monkeypatch: pytest.MonkeyPatch) -> list:
    """(indices, spike_counts) of every batch SADP observes."""
    seen: list = []
    original = SADP.observe

    def recording(self, stats):
        seen.append((stats.indices.clone(), None if stats.spike_counts is None else stats.spike_counts.clone()))
        return original(self, stats)

    monkeypatch.setattr(SADP, "observe", recording)
    return seen


def check_spike_counts(seen: list, T: int) -> None:
    # Every trained example observed with counts [T, B] -- except the run's last batch (500 % 64 = 52
    # examples): the loops never call the optional end_epoch(), so it waits for the next loss(),
    # start_epoch() or state_dict() -- and the head's input spikes.
    assert sum(len(i) for i, _ in seen) == sum(SIZES) - 52
    assert all(c is not None and c.shape == (T, len(i)) for i, c in seen)
    total = torch.cat([c for _, c in seen], 1)
    assert float(total.sum()) > 0 and float((total.sum(0) > 0).float().mean()) > 0.5


def test_plain_loop_differs_from_an_ordinary_loop_in_four_marked_lines() -> None:
    mod = load("plain_pytorch_loop")
    ordinary = inspect.getsource(mod.train_full).splitlines()[1:]  # bodies, without the def line
    pruned = inspect.getsource(mod.train_pruned).splitlines()[1:]
    diff = list(difflib.ndiff(ordinary, pruned))
    added = [line[2:] for line in diff if line.startswith("+ ")]
    removed = [line[2:] for line in diff if line.startswith("- ")]
    assert len(added) == 4 and all(line.rstrip().endswith(MARK) for line in added)
    assert sum(line.rstrip().endswith(MARK) for line in pruned) == 4  # every marked line is a change
    assert len(removed) == 2  # two lines replaced (loader, loss), two added (Pruner, start_epoch)
    assert any("shuffle=True" in line for line in removed) and any("cross_entropy" in line for line in removed)


def test_plain_loop_learns_and_sizes_each_epoch(observed: list, capsys: pytest.CaptureFixture) -> None:
    mod = load("plain_pytorch_loop")
    acc = mod.main(**FAST)
    out = capsys.readouterr().out
    # len(loader) right after start_epoch is the epoch's step count (batches of 64), as a per-step
    # LR schedule sized there would see it
    for epoch, steps in enumerate([8, 4, 4, 8]):
        assert f"epoch {epoch + 1}: {steps} of {steps} planned steps" in out
    assert acc >= 0.85  # measured 0.919
    check_spike_counts(observed, T=4)


def test_spikingjelly_loop_in_both_step_modes(observed: list) -> None:
    pytest.importorskip("spikingjelly.activation_based")
    mod = load("spikingjelly_loop")
    acc_m, pruner = mod.main("m", **FAST)
    assert acc_m >= 0.85  # measured 0.922
    check_spike_counts(observed, T=4)
    assert pruner.method.epoch_diagnostics()["spike_factor_mean"] > 1.0  # the head's input spikes
    multi = torch.cat([c for _, c in observed], 1)
    observed.clear()
    acc_s, _ = mod.main("s", **FAST)  # one call per step: the monitor stacks the head's calls along T
    check_spike_counts(observed, T=4)
    single = torch.cat([c for _, c in observed], 1)
    # the same network computed step by step: the same spikes up to float rounding at the threshold
    assert abs(acc_s - acc_m) <= 2 / 359
    assert float((single - multi).abs().sum()) <= 1e-3 * float(multi.sum())


def test_snntorch_loop(observed: list) -> None:
    pytest.importorskip("snntorch")
    acc, _ = load("snntorch_loop").main(**FAST)
    assert acc >= 0.85  # measured 0.936
    check_spike_counts(observed, T=4)


def test_snntorch_loop_multilayer_counts(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("snntorch")
    layers: list = []
    original = SADP.observe
    monkeypatch.setattr(SADP, "observe", lambda self, s: layers.append(s.layer_spike_counts) or original(self, s))
    acc, pruner = load("snntorch_loop").main(epochs=2, subset=100, options={"score": "multilayer"})
    assert pruner.monitor.layer_names == ["lif1"]
    assert layers and all(len(c) == 1 and c[0].shape[0] == 4 for c in layers)


def test_batch_first_event_frames(observed: list) -> None:
    pytest.importorskip("snntorch")
    mod = load("tonic_frames_loop")
    frames = [(torch.ones(3, 2, 2, 2).numpy(), 0), (torch.ones(5, 2, 2, 2).numpy(), 1)]
    padded, y = mod.pad_tensors_batch_first(frames)  # as PadTensors(batch_first=True): [B, T_max, ...]
    assert padded.shape == (2, 5, 2, 2, 2) and float(padded[0, 3:].abs().sum()) == 0 and y.tolist() == [0, 1]
    acc, pruner = mod.main(**FAST, micro_steps=12)
    assert pruner.time_dim == 1 and pruner.monitor.time_dim == 1
    assert acc >= 0.8  # measured 0.891 (micro_steps=48)
    check_spike_counts(observed, T=6)
