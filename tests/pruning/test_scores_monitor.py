"""The head-gradient identity and the SADP bound on it, and the spike monitor."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from sadp.data import BatchTransform, build_dataset
from sadp.pruning import SpikeMonitor
from sadp.pruning.scores import head_gradient_norm, output_error, sadp_head_score
from sadp.snn import LIF, SpikingNeuron, build_model, encode


@pytest.fixture(scope="module")
def digits_batch():
    b = build_dataset("digits")
    x = BatchTransform(b, train=False)(b.train.data[:24])
    return b, encode(x, 4), b.train.targets[:24]


@pytest.mark.parametrize("model_name", ["small_cnn", "mlp"])
def test_head_identity_and_bound(digits_batch, model_name: str) -> None:
    bundle, inp, y = digits_batch
    torch.manual_seed(0)
    model = build_model(model_name, bundle.sample_shape, 10)
    with torch.no_grad():  # scale the head so errors are not uniform
        model.head.weight.mul_(3)
    for m in model.modules():  # running statistics = this batch's, so the eval-mode net spikes
        if isinstance(m, nn.BatchNorm2d):
            m.momentum = 1.0
            nn.init.constant_(m.weight, 2.5)
        if isinstance(m, nn.Linear) and m is not model.head:  # the MLP has no BatchNorm
            with torch.no_grad():
                m.weight.mul_(4)
    with torch.no_grad():
        model(inp)
    model.eval()  # BatchNorm from running statistics: each example's gradient depends on it alone
    monitor = SpikeMonitor(model)
    captured = []
    hook = model.head.register_forward_pre_hook(lambda m, a: captured.append(a[0].detach()))
    with monitor.record():
        out = model(inp)
    hook.remove()
    z = out.detach().mean(0)
    head_in = captured[0]
    assert (monitor.counts.sum(0) > 0).float().mean() > 0.5  # mostly non-silent: the identity is tested
    assert torch.equal(monitor.counts, head_in.flatten(2).sum(-1))  # counts = spikes per example and step
    assert set(head_in.unique().tolist()) <= {0.0, 1.0}
    formula = head_gradient_norm(z, y, head_in)
    bound = sadp_head_score(z, y, monitor.counts)
    bound_nobias = sadp_head_score(z, y, monitor.counts, bias=False)
    for i in range(len(y)):
        model.zero_grad()
        loss = nn.functional.cross_entropy(model(inp[:, i:i + 1]).mean(0), y[i:i + 1])
        loss.backward()
        gw, gb = model.head.weight.grad, model.head.bias.grad
        w_norm = gw.norm()
        wb_norm = torch.cat([gw.flatten(), gb]).norm()
        assert float((formula[i] - w_norm).abs()) <= 1e-5 * float(w_norm) + 1e-12
        assert float(bound[i]) >= float(wb_norm) * (1 - 1e-6)
        assert float(bound_nobias[i]) >= float(w_norm) * (1 - 1e-6)
    # the bound is not vacuous: within a factor of a few of the true head norm here
    assert float((bound / formula).median()) < 3.0


def test_output_error_hand_value() -> None:
    z = torch.tensor([[0.0, 0.0]])  # softmax = (0.5, 0.5); y = 0 -> (-0.5, 0.5)
    assert float(output_error(z, torch.tensor([0]))) == pytest.approx(0.5 ** 0.5)
    counts = torch.tensor([[3.0], [8.0]])  # mean_t sqrt(n + 1) = (2 + 3) / 2
    assert float(sadp_head_score(z, torch.tensor([0]), counts)) == pytest.approx(0.5 ** 0.5 * 2.5)


def test_monitor_off_outside_record_and_layers(digits_batch) -> None:
    bundle, inp, _ = digits_batch
    model = build_model("small_cnn", bundle.sample_shape, 10)
    monitor = SpikeMonitor(model, layers=True)
    model(inp)
    assert monitor.counts is None and monitor.layer_counts == []
    with monitor.record():
        model(inp)
    n_neurons = sum(isinstance(m, SpikingNeuron) for m in model.modules())
    assert len(monitor.layer_counts) == n_neurons == 3
    assert all(c.shape == (4, 24) for c in monitor.layer_counts)
    # the last spiking layer's counts bound the max-pooled head input's counts from above
    assert torch.all(monitor.layer_counts[-1] >= monitor.counts)
    monitor.remove()
    with monitor.record():
        model(inp)
    assert monitor.counts is None


def test_monitor_ignores_memory_lean_recompute_in_backward(digits_batch) -> None:
    from sadp.snn import set_memory_mode

    bundle, inp, _ = digits_batch
    model = set_memory_mode(build_model("small_cnn", bundle.sample_shape, 10), "lean")
    monitor = SpikeMonitor(model, layers=True)
    with monitor.record():
        out = model(inp)
        forward_only = [c.clone() for c in monitor.layer_counts]
        out.sum().backward()  # recomputes every spiking stage while still recording
    assert len(monitor.layer_counts) == 3
    assert all(torch.equal(a, b) for a, b in zip(monitor.layer_counts, forward_only))


def test_recompute_flag_is_per_model(digits_batch) -> None:
    # Model A re-running a stage in backward must not silence a monitor on model B.
    from sadp.snn import is_recomputing, set_memory_mode
    from sadp.snn.models.base import _recompute_context

    bundle, inp, _ = digits_batch
    a = set_memory_mode(build_model("mlp", bundle.sample_shape, 10), "lean")
    b = build_model("mlp", bundle.sample_shape, 10)
    mon_a, mon_b = SpikeMonitor(a, layers=True), SpikeMonitor(b, layers=True)
    with mon_a.record(), mon_b.record(), _recompute_context(a, a.stages()[0]):
        assert is_recomputing(a) and not is_recomputing(b)
        a(inp)
        b(inp)
    assert not is_recomputing(a)
    assert mon_a.counts is None and mon_a.layer_counts == []  # A's passes were recomputations
    assert mon_b.counts.shape == (4, 24) and len(mon_b.layer_counts) == 2


def test_monitor_batch_first_head_input_and_training_only() -> None:
    torch.manual_seed(0)
    head = nn.Linear(5, 2)
    model = nn.ModuleDict({"head": head})
    spikes = (torch.rand(7, 3, 5) > 0.5).float()  # [B, T, D], batch first
    mon = SpikeMonitor(model, head=head, time_dim=1)
    with mon.record():
        head(spikes)
    assert torch.equal(mon.counts, spikes.sum(-1).t())  # [T, B]
    with pytest.raises(ValueError, match="time_dim"):
        SpikeMonitor(model, head=head, time_dim=2)
    mon.start(training_only=True)  # what Pruner does for an epoch
    model.eval()
    head(spikes)  # evaluation pass: skipped
    model.train()
    with torch.no_grad():
        head(spikes)  # no gradients: skipped
    assert mon.counts is None
    head(spikes)
    head(spikes[:, :1])  # and one more step, as a loop over time would add
    counts, _ = mon.take()
    assert counts.shape == (4, 7) and mon.counts is None  # take() clears
    mon.stop()
    head(spikes)
    assert mon.counts is None


class StepNeuron(nn.Module):
    """A user's single-step neuron returning (spike, membrane), snnTorch style."""

    def forward(self, x: torch.Tensor, mem: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mem = 0.5 * mem + x
        spk = (mem >= 1.0).float()
        return spk, mem - spk


class LoopOverTime(nn.Module):
    """Not one of ours: no `head`, loops over time, one neuron call per step."""

    def __init__(self) -> None:
        super().__init__()
        self.fc1, self.lif1, self.fc2 = nn.Linear(6, 5), StepNeuron(), nn.Linear(5, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mem = torch.zeros(x.shape[1], 5)
        outs = []
        for t in range(x.shape[0]):
            spk, mem = self.lif1(self.fc1(x[t]), mem)
            outs.append(self.fc2(spk))
        return torch.stack(outs)


def test_monitor_on_a_foreign_single_step_model() -> None:
    torch.manual_seed(0)
    model = LoopOverTime()
    x = torch.rand(6, 7, 6) * 4
    mon = SpikeMonitor(model, extra_types=(StepNeuron,))  # no head: the last spiking layer is used
    with mon.record():
        model(x)
    ref = []
    mem = torch.zeros(7, 5)
    for t in range(6):
        spk, mem = model.lif1(model.fc1(x[t]), mem)
        ref.append(spk.sum(1))
    assert mon.counts.shape == (6, 7)
    assert torch.equal(mon.counts, torch.stack(ref))
    # the head given explicitly, one [B, D] call per step, gives the same counts
    mon2 = SpikeMonitor(model, head=model.fc2)
    with mon2.record():
        model(x)
    assert torch.equal(mon2.counts, mon.counts)


def test_monitor_error_without_head_or_neurons() -> None:
    with pytest.raises(ValueError, match="head="):
        SpikeMonitor(nn.Sequential(nn.Linear(2, 2)))


def test_monitor_snntorch_if_installed() -> None:
    snn = pytest.importorskip("snntorch")
    torch.manual_seed(0)
    fc, lif, head = nn.Linear(4, 6), snn.Leaky(beta=0.5), nn.Linear(6, 2)
    model = nn.ModuleDict({"fc": fc, "lif": lif, "head": head})
    mon = SpikeMonitor(model, head=head, layers=True)
    x = torch.rand(5, 3, 4) * 3
    with mon.record():
        mem = lif.init_leaky()
        spikes = []
        for t in range(5):
            spk, mem = lif(fc(x[t]), mem)
            spikes.append(spk)
            head(spk)
    assert torch.equal(mon.counts, torch.stack(spikes).sum(-1))
    assert torch.equal(mon.layer_counts[0], mon.counts)


def test_monitor_records_a_bare_lif_layer_by_hand() -> None:
    # sadp's LIF (tau 2, threshold 1, hard reset): h = v + (x - v) / 2. Constant input 1.5 fires at
    # steps 1 and 3 (h = 0.75, 1.125 -> reset, 0.75, 1.125), input 3 at every step (h = 1.5), 0 never.
    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lif, self.head = LIF(), nn.Linear(3, 2)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.head(self.lif(x))

    net = Net()
    monitor = SpikeMonitor(net, layers=True)
    with monitor.record():
        net(torch.tensor([1.5, 3.0, 0.0]).expand(4, 1, 3).contiguous())  # [T=4, B=1, 3 neurons]
    assert monitor.layer_counts[0][:, 0].tolist() == [1, 2, 1, 2]
    assert torch.equal(monitor.counts, monitor.layer_counts[0])


@pytest.mark.parametrize("step_mode", ["m", "s"])
def test_monitor_spikingjelly_if_installed(step_mode: str) -> None:
    try:
        from spikingjelly.activation_based import functional, neuron
    except Exception:  # noqa: BLE001 - optional package, may fail beyond ImportError
        pytest.skip("SpikingJelly not importable")
    torch.manual_seed(0)
    model = nn.ModuleDict({"fc": nn.Linear(4, 6), "sn": neuron.LIFNode(step_mode=step_mode), "head": nn.Linear(6, 2)})
    x = torch.rand(5, 3, 4) * 3
    mon = SpikeMonitor(model, head=model["head"], layers=True)
    with mon.record():
        if step_mode == "m":
            spikes = model["sn"](model["fc"](x))
            model["head"](spikes)
        else:
            spikes = torch.stack([model["sn"](model["fc"](x[t])) for t in range(5)])
            for t in range(5):
                model["head"](spikes[t])
    functional.reset_net(model)
    assert spikes.sum() > 0
    assert torch.equal(mon.counts, spikes.sum(-1))
    assert torch.equal(mon.layer_counts[0], spikes.sum(-1))


@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_output_error_from_gradients_equals_the_softmax_formula(smoothing: float) -> None:
    # The trainer reads ||softmax(z) - y|| off the gradients of a weighted loss (no extra softmax);
    # it must equal the direct formula for any per-example weights, with and without label smoothing.
    import torch.nn.functional as F

    from sadp.pruning.scores import output_error, output_error_from_gradients

    g = torch.Generator().manual_seed(0)
    z = (torch.randn(32, 10, generator=g) * 3).requires_grad_()
    y = torch.randint(0, 10, (32,), generator=g)
    w = torch.rand(32, generator=g) * 3 + 0.1
    lvec = F.cross_entropy(z, y, reduction="none", label_smoothing=smoothing)
    z.retain_grad()
    lvec.retain_grad()
    (w * lvec).mean().mul(1024.0).backward()  # weights, batch mean and a loss scale, as in training
    got = output_error_from_gradients(z.grad, lvec.grad, y, smoothing)
    want = output_error(z.detach(), y)
    assert torch.allclose(got, want, rtol=1e-4, atol=1e-6), (got - want).abs().max()
    # no gradient from the example (weight 0, e.g. DDP padding: dL/dl_i = 0 and so dL/dz_i = 0): no score
    zero = output_error_from_gradients(torch.zeros_like(z.grad), torch.zeros_like(lvec.grad), y, smoothing)
    assert torch.isnan(zero).all()


def test_trainer_passes_gradient_output_error_to_methods(tmp_path, monkeypatch) -> None:
    # Through the trainer, the error in StepStats (read off the gradients) equals the softmax formula.
    from sadp.pruning.methods.importance import SADP
    from sadp.train import TrainConfig, train

    seen = []
    original = SADP.observe

    def recording(self, stats):
        seen.append((stats.output_error.clone(), output_error(stats.logits, stats.targets)))
        return original(self, stats)

    monkeypatch.setattr(SADP, "observe", recording)
    train(TrainConfig(out=str(tmp_path), model="mlp", method="sadp", ratio=0.5, epochs=2, subset=100,
                      label_smoothing=0.1, progress=False))
    assert len(seen) >= 2 and sum(len(got) for got, _ in seen) == 200  # both (full-data) epochs' examples
    for got, want in seen:
        assert torch.allclose(got, want, rtol=1e-4, atol=1e-6)
