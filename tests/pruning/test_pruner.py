"""The Pruner facade: what it tells the method, the loss it returns, DDP padding, epochs and resume."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import sadp
from sadp.pruning import Pruner, build_method
from sadp.pruning.methods.importance import SADP


class TinySNN(nn.Module):
    """[T, B, 4] -> [T, B, 3]; the hidden layer spikes (x >= 0.5) with a straight-through gradient."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.fc, self.head = nn.Linear(4, 6), nn.Linear(6, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.fc(x)
        s = (h >= 0.5).float() + h - h.detach()
        return self.head(s)


def _data(n: int = 10, T: int = 3) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    return torch.randn(n, T, 4, generator=g) * 2, torch.arange(n) % 3


def _record_observe(monkeypatch: pytest.MonkeyPatch, cls: type = SADP) -> list:
    seen = []
    original = cls.observe

    def recording(self, stats):
        seen.append(stats)
        return original(self, stats)

    monkeypatch.setattr(cls, "observe", recording)
    return seen


def test_observed_statistics_equal_independent_computations(monkeypatch: pytest.MonkeyPatch) -> None:
    seen = _record_observe(monkeypatch)
    model = TinySNN()
    x, y = _data()
    heads: list[torch.Tensor] = []
    model.head.register_forward_pre_hook(lambda m, a: heads.append(a[0].detach()))
    pruner = Pruner(model, len(y), "sadp", ratio=0.5, epochs=3, seed=0)
    loader = DataLoader(TensorDataset(x, y), batch_size=4, sampler=pruner.sampler)
    pruner.start_epoch(0)
    outs = []
    for xb, yb in loader:
        out = model(xb.transpose(0, 1))
        outs.append(out.detach())
        loss = pruner.loss(out, yb)
        # weight 1 in the full first epoch: the loss is the batch's mean cross-entropy
        torch.testing.assert_close(loss, F.cross_entropy(out.mean(0), yb))
        loss.backward()
    assert not seen  # steps wait for their backward pass and are handed over in groups
    pruner.end_epoch()
    assert len(seen) == 1  # the epoch's 3 steps, one observe of their concatenation
    order = pruner.sampler.order
    assert torch.equal(torch.cat([s.indices for s in seen]), order) and sorted(order.tolist()) == list(range(10))
    outs, heads = [torch.cat(outs, 1)], [torch.cat(heads, 1)]  # the steps joined along the batch
    for s, out, head_in in zip(seen, outs, heads):
        yb = y[s.indices]
        assert torch.equal(s.targets, yb)
        assert torch.equal(s.step_logits, out) and torch.equal(s.logits, out.mean(0))
        torch.testing.assert_close(s.loss, F.cross_entropy(out.mean(0), yb, reduction="none"))
        assert torch.equal(s.spike_counts, head_in.sum(-1))  # [T, B] spikes entering the head
        assert s.spike_counts.sum() > 0
        p = torch.softmax(out.mean(0).double(), -1)
        p[torch.arange(len(yb)), yb] -= 1.0  # ||softmax(z) - onehot(y)||, by hand
        torch.testing.assert_close(s.output_error.double(), p.norm(dim=1), rtol=1e-5, atol=1e-7)
        assert s.layer_spike_counts is None  # score=head: no per-layer hooks


def test_flags_decide_what_is_recorded(monkeypatch: pytest.MonkeyPatch) -> None:
    seen = _record_observe(monkeypatch, type(build_method("random_dynamic", 2)))
    model = TinySNN()
    pruner = Pruner(model, 10, "random_dynamic", ratio=0.5, epochs=2)
    assert pruner.monitor is None and not pruner.capture_output_error
    x, y = _data()
    pruner.start_epoch(0)
    for i in range(0, 10, 5):
        batch = pruner.sampler.order[i:i + 5]
        pruner.loss(model(x[batch].transpose(0, 1)), y[batch]).backward()
    pruner.end_epoch()
    assert len(seen) == 1 and len(seen[0].indices) == 10  # two steps, observed together at end_epoch
    assert all(s.spike_counts is None and s.output_error is None for s in seen)
    multi = Pruner(TinySNN(), 10, "sadp", ratio=0.5, epochs=2, options={"score": "multilayer"},
                   spiking_types=(nn.Linear,))
    assert multi.monitor is not None and multi.monitor.layers


def test_per_step_readout_and_batch_first_output(monkeypatch: pytest.MonkeyPatch) -> None:
    # A criterion on per-step logits, and a batch-first model (time_dim=1) giving the same statistics.
    seen = _record_observe(monkeypatch)
    x, y = _data()
    tet = lambda out, t: torch.stack([F.cross_entropy(o, t, reduction="none") for o in out]).mean(0)  # noqa: E731

    class BatchFirst(TinySNN):
        def forward(self, x: torch.Tensor) -> torch.Tensor:  # [B, T, 4] -> [B, T, 3]
            return super().forward(x)

    results = []
    for time_dim, model in ((0, TinySNN()), (1, BatchFirst())):
        pruner = Pruner(model, 10, "sadp", ratio=0.5, epochs=2, criterion=tet, time_dim=time_dim, shuffle=False)
        pruner.start_epoch(0)
        inp = x.transpose(0, 1) if time_dim == 0 else x
        loss = pruner.loss(model(inp), y)
        loss.backward()
        pruner.end_epoch()
        results.append((loss.detach(), seen[-1]))
    (l0, s0), (l1, s1) = results
    torch.testing.assert_close(l0, l1)
    assert torch.equal(s0.spike_counts, s1.spike_counts) and s0.spike_counts.shape == (3, 10)
    assert torch.equal(s0.step_logits, s1.step_logits)
    assert s0.output_error is None  # a custom loss: the method computes the error from the logits
    ref = torch.stack([F.cross_entropy(o, y, reduction="none") for o in s0.step_logits]).mean(0)
    torch.testing.assert_close(s0.loss, ref)
    with pytest.raises(ValueError, match="time_dim=1"):
        p = Pruner(BatchFirst(), 10, "full", ratio=0.0, epochs=1, shuffle=False)
        p.start_epoch(0)
        p.loss(torch.zeros(10, 3, 3), y)


def test_ddp_padding_gets_zero_weight_and_is_not_counted() -> None:
    # 5 examples on 2 ranks: positions 0..4 shuffled, padded with position 0's index to 6;
    # rank 1 gets positions 1, 3, 5 and position 5 is the padding duplicate.
    # No process group: the pruner acts as rank 1 alone (gathers are the identity).
    model = TinySNN()
    pruner = Pruner(model, 5, "full", ratio=0.0, epochs=1, rank=1, world_size=2)
    pruner.start_epoch(0)
    assert pruner.sampler.valid.tolist() == [True, True, False]
    idx = pruner.sampler.order
    x, y = _data(5)
    out = model(x[idx].transpose(0, 1))
    loss = pruner.loss(out, y[idx])
    ce = F.cross_entropy(out.mean(0), y[idx], reduction="none")
    torch.testing.assert_close(loss, (ce[0] + ce[1]) / 3)  # mean over the batch, padding weight 0
    totals = pruner.end_epoch()
    correct = (out.mean(0).argmax(1) == y[idx])[:2].sum().item()
    assert totals.trained == 2 and totals.selected == 5 and totals.steps == 1
    assert totals.loss == pytest.approx(float(ce[:2].mean().detach()))
    assert totals.accuracy == correct / 2


def test_epoch_length_order_errors_and_optional_end_epoch() -> None:
    model = TinySNN()
    pruner = Pruner(model, 10, "random_dynamic", ratio=0.6, epochs=3, options={"anneal": 0.0})
    x, y = _data()
    loader = DataLoader(TensorDataset(x, y), batch_size=3, sampler=pruner.sampler)
    with pytest.raises(RuntimeError, match="start_epoch"):
        pruner.loss(model(x[:3].transpose(0, 1)), y[:3])
    lengths = []
    for epoch in range(3):
        pruner.start_epoch(epoch)  # no end_epoch: the next start_epoch closes the epoch
        lengths.append(len(loader))
        batches = 0
        for xb, yb in loader:
            pruner.loss(model(xb.transpose(0, 1)), yb).backward()
            batches += 1
        assert batches == lengths[-1]
    assert lengths == [4, 2, 2]  # 10 examples, then K = round(0.4 * 10) = 4, in batches of 3
    with pytest.raises(RuntimeError, match="once per batch"):
        pruner.loss(model(x[:3].transpose(0, 1)), y[:3])  # more than the epoch's share


def test_resume_through_state_dict_selects_like_an_uninterrupted_run() -> None:
    x, y = _data(20)

    def run(epochs: range, pruner: Pruner, model: nn.Module) -> list[list[int]]:
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        loader = DataLoader(TensorDataset(x, y), batch_size=8, sampler=pruner.sampler)
        plans = []
        for epoch in epochs:
            plans.append(pruner.start_epoch(epoch).indices.tolist())
            for xb, yb in loader:
                loss = pruner.loss(model(xb.transpose(0, 1)), yb)
                opt.zero_grad()
                loss.backward()
                opt.step()
        return plans

    def fresh(model: nn.Module | None = None) -> tuple[Pruner, nn.Module]:
        model = model or TinySNN()
        return Pruner(model, 20, "sadp", ratio=0.5, epochs=5, seed=3, options={"anneal": 0.0}), model

    ref, ref_model = fresh()
    want = run(range(5), ref, ref_model)
    first, model = fresh()
    got = run(range(2), first, model)
    state = first.state_dict()  # saved with epoch 1 open (a loop without end_epoch)
    assert state["epoch_open"] and state["epoch"] == 1
    first.remove()
    second, _ = fresh(model)  # a new process: the same weights, a new pruner
    second.load_state_dict(state)
    got += run(range(2, 5), second, model)
    assert got == want and any(len(p) == 10 for p in want)
    assert torch.equal(second.method.scores, ref.method.scores)


def test_auto_recording_skips_eval_passes_and_catches_extra_passes() -> None:
    model = TinySNN()
    pruner = Pruner(model, 10, "sadp", ratio=0.5, epochs=2, shuffle=False)
    x, y = _data()
    pruner.start_epoch(0)
    model.eval()
    with torch.no_grad():
        model(x.transpose(0, 1))  # an evaluation pass in between is not recorded
    model.train()
    with pytest.raises(RuntimeError, match="training mode"):
        pruner.loss(torch.zeros(3, 5, 3), y[:5])
    pruner2 = Pruner(model, 10, "sadp", ratio=0.5, epochs=2, shuffle=False)
    pruner2.start_epoch(0)
    model(x[:5].transpose(0, 1))
    out = model(x[:5].transpose(0, 1))  # a second training pass before loss(): counts [2T, B]
    with pytest.raises(ValueError, match="more than once"):
        pruner2.loss(out, y[:5])
    pruner.remove()
    pruner2.remove()


def test_top_level_name_and_method_instance() -> None:
    assert sadp.Pruner is Pruner
    m = build_method("sadp", 10, ratio=0.5, epochs=2)
    p = Pruner(TinySNN(), 10, m)
    assert p.method is m
    with pytest.raises(ValueError, match="built for 10 examples"):
        Pruner(TinySNN(), 11, m)
    from sadp.pruning import __all__ as public

    assert "Pruner" in public and "BatchStats" not in public


def test_steps_are_observed_in_groups_equal_to_one_observe_per_step(monkeypatch: pytest.MonkeyPatch) -> None:
    # 2,000 examples in batches of 100: groups of FLUSH_EXAMPLES are handed over inside the epoch, the
    # rest at end_epoch; the method's state equals that of one observe per step.
    from sadp.pruning import facade

    seen = _record_observe(monkeypatch)
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(2000, 3, 4, generator=g) * 2, torch.randint(0, 3, (2000,), generator=g)
    model = TinySNN()
    pruner = Pruner(model, 2000, "sadp", ratio=0.5, epochs=3, options={"ema": 0.5})
    pruner.start_epoch(0)
    for xb, yb in DataLoader(TensorDataset(x, y), batch_size=100, sampler=pruner.sampler):
        pruner.loss(model(xb.transpose(0, 1)), yb).backward()
    pruner.end_epoch()
    per_group = -(-facade.FLUSH_EXAMPLES // 100)  # steps in a group (flushed once it holds >= 1,024)
    assert [len(s.indices) for s in seen] == [per_group * 100, 2000 - per_group * 100]
    monkeypatch.undo()  # stop recording
    replay = build_method("sadp", 2000, ratio=0.5, epochs=3, ema=0.5)
    replay.select(0)
    for s in seen:
        for i in range(0, len(s.indices), 100):  # the same statistics, one step at a time
            part = slice(i, i + 100)
            replay.observe(type(s)(indices=s.indices[part], logits=s.logits[part], targets=s.targets[part],
                                   loss=s.loss[part], spike_counts=s.spike_counts[:, part],
                                   step_logits=s.step_logits[:, part], output_error=s.output_error[part]))
    assert torch.equal(replay.scores, pruner.method.scores) and torch.equal(replay.seen, pruner.method.seen)


def test_former_class_and_keyword_names_warn_and_give_the_new_ones() -> None:
    import sadp.pruning
    import sadp.pruning.base
    from sadp.pruning import ModelAccess, StepStats

    for module in (sadp.pruning, sadp.pruning.base):
        with pytest.warns(DeprecationWarning, match="ModelProbe is renamed ModelAccess"):
            assert module.ModelProbe is ModelAccess
        with pytest.warns(DeprecationWarning, match="BatchStats is renamed StepStats"):
            assert module.BatchStats is StepStats
    with pytest.warns(DeprecationWarning, match="ModelProbe is renamed ModelAccess"):
        from sadp.pruning import ModelProbe  # noqa: F401
    with pytest.raises(AttributeError):
        sadp.pruning.NoSuchName  # noqa: B018
    access = ModelAccess(TinySNN(), lambda: [], lambda out, y: out.mean(0).sum(-1))
    with pytest.warns(DeprecationWarning, match="model_access"):
        pruner = Pruner(TinySNN(), 10, "full", ratio=0.0, probe=access)
    assert pruner.model_access is access
    with pytest.raises(TypeError, match="model_access= only"):
        Pruner(TinySNN(), 10, "full", ratio=0.0, probe=access, model_access=access)
