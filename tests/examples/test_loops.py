"""Every example in examples/ runs on the embedded digits, reaches a stated accuracy, feeds SADP
non-empty spike counts and prints the Pruner's per-epoch report; the plain loop differs from an
ordinary one in five marked lines (the import and four in the loop) plus one optional report line.

Runs are kept to seconds of CPU: a class-balanced subset of 500 training images and 4 epochs
(SADP: full, pruned to 250, pruned, annealed to full); accuracy is on the whole test set (359).
"""
from __future__ import annotations

import difflib
import importlib.util
import inspect
import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
import torch

import sadp
from sadp.pruning.methods.importance import SADP

EXAMPLES = Path(__file__).parents[2] / "examples"
MARK = "# sadp"
OPTIONAL = "# sadp (optional)"
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


def check_reports(out: str) -> None:
    """The per-epoch report line of each epoch: SIZES selected and trained, steps of 64."""
    for n in SIZES:
        assert f"selected {n}/500, trained {n} in {-(-n // 64)} steps" in out
    assert "spike factor" in out and "silent head inputs" in out


def check_spike_counts(seen: list, T: int) -> None:
    # Every trained example observed with counts [T, B] (the loops call end_epoch(), which observes
    # each epoch's last batch), and the head's input spikes.
    assert sum(len(i) for i, _ in seen) == sum(SIZES)
    assert all(c is not None and c.shape == (T, len(i)) for i, c in seen)
    total = torch.cat([c for _, c in seen], 1)
    assert float(total.sum()) > 0 and float((total.sum(0) > 0).float().mean()) > 0.5


def test_plain_loop_differs_from_an_ordinary_loop_in_five_marked_lines() -> None:
    # What README says: five changed lines (the import and four in the loop), plus one optional line.
    mod = load("plain_pytorch_loop")
    source = (EXAMPLES / "plain_pytorch_loop.py").read_text().splitlines()
    module_marked = [line for line in source if line.rstrip().endswith(MARK) and not line.startswith(" ")]
    assert module_marked == ["import sadp  # sadp"]  # the one change outside the loop
    ordinary = inspect.getsource(mod.train_full).splitlines()[1:]  # bodies, without the def line
    pruned = inspect.getsource(mod.train_pruned).splitlines()[1:]
    diff = list(difflib.ndiff(ordinary, pruned))
    added = [line[2:].rstrip() for line in diff if line.startswith("+ ")]
    removed = [line[2:] for line in diff if line.startswith("- ")]
    required = [line for line in added if line.endswith(MARK)]
    optional = [line for line in added if line.endswith(OPTIONAL)]
    assert len(required) == 4 and len(optional) == 1 and len(added) == 5
    assert "end_epoch()" in optional[0]
    assert sum(line.rstrip().endswith(MARK) for line in pruned) == 4  # every marked line is a change
    assert len(removed) == 2  # two lines replaced (loader, loss), two added (Pruner, start_epoch)
    assert any("shuffle=True" in line for line in removed) and any("cross_entropy" in line for line in removed)
    assert 1 + len(required) == 5  # the import and the loop's four: README's "five lines change"


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
    check_reports(out)


def test_spikingjelly_loop_in_both_step_modes(observed: list, capsys: pytest.CaptureFixture) -> None:
    pytest.importorskip("spikingjelly.activation_based")
    mod = load("spikingjelly_loop")
    acc_m, pruner = mod.main("m", **FAST)
    assert acc_m >= 0.85  # measured 0.922
    check_spike_counts(observed, T=4)
    check_reports(capsys.readouterr().out)
    from spikingjelly.activation_based import layer

    # no head= given: the classifier found is the net's last Linear, whose input is the LIF's spikes
    assert isinstance(pruner.monitor.head, layer.Linear) and pruner.monitor.head.in_features == 128
    assert pruner.report.spike_factor_mean > 1.0  # the head's input spikes
    multi = torch.cat([c for _, c in observed], 1)
    observed.clear()
    acc_s, _ = mod.main("s", **FAST)  # one call per step: the monitor stacks the head's calls along T
    check_spike_counts(observed, T=4)
    single = torch.cat([c for _, c in observed], 1)
    # the same network computed step by step: the same spikes up to float rounding at the threshold
    assert abs(acc_s - acc_m) <= 2 / 359
    assert float((single - multi).abs().sum()) <= 1e-3 * float(multi.sum())


def test_snntorch_loop(observed: list, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("snntorch")
    import snntorch.functional as SF

    mod = load("snntorch_loop")
    losses: list = []
    original = sadp.Pruner.loss
    monkeypatch.setattr(sadp.Pruner, "loss", lambda self, out, y, indices=None: losses.append((out, y, self.criterion))
                        or original(self, out, y, indices))
    acc, pruner = mod.main(**FAST)
    assert acc >= 0.85  # measured 0.919
    check_spike_counts(observed, T=4)
    check_reports(capsys.readouterr().out)
    # no head= given: the classifier found is the last nn.Linear, fc2, whose input is lif1's spikes
    assert type(pruner.monitor.head) is torch.nn.Linear and pruner.monitor.head.in_features == 128
    # trained with snnTorch's own per-step loss, one value per example: the weighted mean of it
    out, y, criterion = losses[0]
    assert isinstance(criterion, SF.ce_rate_loss) and criterion.reduction == "none"
    per_example = criterion(out.detach(), y)
    assert per_example.shape == (len(y),)
    torch.testing.assert_close(per_example.mean(), SF.ce_rate_loss()(out.detach(), y).squeeze())


def test_snntorch_loop_multilayer_counts(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("snntorch")
    layers: list = []
    original = SADP.observe
    monkeypatch.setattr(SADP, "observe", lambda self, s: layers.append(s.layer_spike_counts) or original(self, s))
    acc, pruner = load("snntorch_loop").main(epochs=2, subset=100, options={"score": "multilayer"})
    assert [name for name, _ in pruner.monitor.spiking] == ["lif1", "lif2"]
    assert layers and all(len(c) == 2 and c[0].shape[0] == 4 for c in layers)


def test_onecycle_schedule_sized_before_the_loop(capsys: pytest.CaptureFixture) -> None:
    mod = load("onecycle_loop")
    acc, pruner, scheduler = mod.main(**FAST)
    out = capsys.readouterr().out
    assert "steps per epoch: [8, 4, 4, 8]" in out  # known before the first start_epoch
    # the schedule stepped once per batch, exactly the total sized up front (OneCycleLR raises past it)
    assert scheduler.last_epoch == scheduler.total_steps == 24 == pruner.total_steps(mod.BATCH)
    assert acc >= 0.85  # measured 0.883
    check_reports(out)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_ddp_plain_loop_under_torchrun(tmp_path: Path) -> None:
    # Two gloo processes on CPU; the example ends through sadp.exit_process(0).
    result = tmp_path / "result.json"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_addr=127.0.0.1",
           f"--master_port={_free_port()}", str(EXAMPLES / "ddp_plain_loop.py"), "--epochs", "4", "--subset", "500",
           "--out", str(result)]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    summary = json.loads(result.read_text())
    assert summary["world_size"] == 2 and summary["test_acc"] >= 0.85  # measured 0.919
    # counts over both ranks: each rank trained half of every epoch's selection
    assert [(e["selected"], e["trained"], e["steps"]) for e in summary["epochs"]] == \
        [(500, 500, 8), (250, 250, 4), (250, 250, 4), (500, 500, 8)]
    check_reports(r.stdout)


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
