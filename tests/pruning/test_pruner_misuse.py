"""Every misuse of the Pruner ends in one clear line before or at the first batch, with
nothing trained; the per-epoch report against hand counts; step counts known before the run; tiny
selections shared equally across DDP ranks."""
from __future__ import annotations

import copy
import math
from typing import Any, Callable

import pytest
import torch
import torch.nn.functional as F
from test_pruner import TinySNN  # one tiny spiking net for the Pruner's tests (tests/pruning is on sys.path)
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import sadp
from sadp.pruning import Pruner, PruningSampler, WithIndex, build_method
from sadp.pruning.methods.importance import SADP

N, T = 10, 3


def dataset(n: int = N) -> TensorDataset:
    g = torch.Generator().manual_seed(1)
    return TensorDataset(torch.randn(n, T, 4, generator=g) * 2, torch.arange(n) % 3)


def one_line(e: pytest.ExceptionInfo) -> str:
    msg = str(e.value)
    assert "\n" not in msg and msg, msg
    return msg


def run_loop(model: nn.Module, pruner: Pruner, ds: Any, epochs: int = 1, forward: Callable | None = None,
             start: Callable[[Pruner, int], None] | None = None, batch_size: int = 4,
             loader: DataLoader | None = None) -> torch.optim.Optimizer:
    """An ordinary loop; ``start`` replaces ``pruner.start_epoch`` (misuse), ``forward`` the model call."""
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    loader = loader or DataLoader(ds, batch_size=batch_size, sampler=pruner.sampler)
    for epoch in range(epochs):
        (start or (lambda p, e: p.start_epoch(e)))(pruner, epoch)
        for x, y, *rest in loader:
            out = (forward or (lambda m, xb: m(xb.transpose(0, 1))))(model, x)
            loss = pruner.loss(out, y, *rest)
            opt.zero_grad()
            loss.backward()
            opt.step()
    return opt


def assert_untrained(model: nn.Module, before: dict[str, torch.Tensor],
                     opt: torch.optim.Optimizer | None = None) -> None:
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before), "parameters changed"
    if opt is not None:
        assert not opt.state


def snapshot(model: nn.Module) -> dict[str, torch.Tensor]:
    return copy.deepcopy(model.state_dict())


class Run:
    """Keeps the optimizer of a loop that raised, to check it never stepped."""

    def __init__(self, model: nn.Module) -> None:
        self.model, self.before = model, snapshot(model)
        self.opt = torch.optim.SGD(model.parameters(), lr=0.5)

    def loop(self, pruner: Pruner, ds: Any, forward: Callable | None = None, batch_size: int = 4) -> None:
        loader = DataLoader(ds, batch_size=batch_size, sampler=pruner.sampler)
        pruner.start_epoch(0)
        for x, y, *rest in loader:
            out = (forward or (lambda m, xb: m(xb.transpose(0, 1))))(self.model, x)
            loss = pruner.loss(out, y, *rest)
            self.opt.zero_grad()
            loss.backward()
            self.opt.step()

    def untrained(self) -> None:
        assert_untrained(self.model, self.before, self.opt)


# -- misuse: one error line, nothing trained -------------------------------------------------------
@pytest.mark.parametrize("method", ["sadp", "infobatch", "random_dynamic"])
def test_a_scalar_criterion_is_refused_at_the_first_batch(method: str) -> None:
    run = Run(TinySNN())
    mean_ce = lambda out, y: F.cross_entropy(out.mean(0), y)  # noqa: E731 - default reduction="mean"
    pruner = Pruner(run.model, dataset(), method, ratio=0.5, epochs=3, criterion=mean_ce)
    with pytest.raises(ValueError) as e:
        run.loop(pruner, dataset())
    assert 'reduction="none"' in one_line(e) and "shape ()" not in one_line(e) and "returned ()" in one_line(e)
    run.untrained()


def test_snntorch_rate_loss_without_reduction_none_is_refused() -> None:
    SF = pytest.importorskip("snntorch.functional")
    run = Run(TinySNN())
    pruner = Pruner(run.model, dataset(), "sadp", ratio=0.5, epochs=3, criterion=SF.ce_rate_loss())  # returns [1]
    with pytest.raises(ValueError, match='reduction="none"') as e:
        run.loop(pruner, dataset())
    assert "(1,)" in one_line(e)
    run.untrained()
    model = TinySNN()  # made per-example, the same loss trains
    per_example = Pruner(model, dataset(), "sadp", ratio=0.5, epochs=3, criterion=SF.ce_rate_loss(reduction="none"))
    run_loop(model, per_example, dataset())
    assert per_example.end_epoch().trained == N


def test_the_dataset_gives_the_number_of_examples_and_its_mismatches_are_caught() -> None:
    ds = dataset(N)
    model = TinySNN()
    pruner = Pruner(model, ds, "random_dynamic", ratio=0.5, epochs=2)
    assert pruner.num_examples == N and pruner.dataset is ds
    run_loop(model, pruner, ds)
    assert pruner.end_epoch().trained == N  # every example of the dataset, not a prefix
    # an int stays the alternative
    assert Pruner(TinySNN(), N, "full").num_examples == N
    with pytest.raises(TypeError, match="training set") as e:
        Pruner(TinySNN(), 10.0, "full")  # type: ignore[arg-type]
    one_line(e)

    # the dataset the Pruner holds changed length: refused at the next start_epoch
    grow = [*range(N)]
    p = Pruner(TinySNN(), grow, "full")
    grow.append(N)
    with pytest.raises(ValueError, match="now has 11 examples") as e:
        p.start_epoch(0)
    one_line(e)


def test_an_int_smaller_than_the_dataset_is_caught_where_indices_are_visible() -> None:
    # Pruner(model, 6) for a 10-example dataset, batches (x, y, index) from a loader that is not
    # on the sampler: index >= 6 at the first batch (before training).
    run = Run(TinySNN())
    pruner = Pruner(run.model, 6, "sadp", ratio=0.5, epochs=2, shuffle=False)
    ds = WithIndex(dataset())
    loader = DataLoader(ds, batch_size=4, sampler=list(range(N - 1, -1, -1)))  # 9, 8, 7, 6 first
    pruner.start_epoch(0)
    x, y, idx = next(iter(loader))
    with pytest.raises(ValueError, match=r"Pruner\(model, train_ds") as e:
        pruner.loss(run.model(x.transpose(0, 1)), y, idx)
    assert "index 9" in one_line(e)
    run.untrained()
    # a loader on another order (shuffle=True instead of pruner.sampler): caught at the first batch
    run2 = Run(TinySNN())
    p2 = Pruner(run2.model, ds, "sadp", ratio=0.5, epochs=2)
    p2.start_epoch(0)
    x, y, idx = next(iter(DataLoader(ds, batch_size=4, shuffle=True, generator=torch.Generator().manual_seed(5))))
    with pytest.raises(ValueError, match="pruner.sampler") as e:
        p2.loss(run2.model(x.transpose(0, 1)), y, idx)
    one_line(e)
    run2.untrained()


class TutorialNet(nn.Module):
    """snnTorch's tutorial layout: Linear -> Leaky -> Linear -> Leaky, a loop over time, (spk, mem)."""

    def __init__(self) -> None:
        super().__init__()
        snn = pytest.importorskip("snntorch")
        torch.manual_seed(0)
        self.fc1, self.lif1 = nn.Linear(4, 8), snn.Leaky(beta=0.5)
        self.fc2, self.lif2 = nn.Linear(8, 3), snn.Leaky(beta=0.5)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mem1, mem2 = self.lif1.init_leaky(), self.lif2.init_leaky()
        spk, mem = [], []
        for x_t in x:
            s1, mem1 = self.lif1(self.fc1(x_t), mem1)
            s2, mem2 = self.lif2(self.fc2(s1), mem2)
            spk.append(s2)
            mem.append(mem2)
        return torch.stack(spk), torch.stack(mem)


def test_snntorch_net_without_head_counts_the_classifier_input(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list = []
    original = SADP.observe
    monkeypatch.setattr(SADP, "observe", lambda self, s: seen.append(s) or original(self, s))
    net = TutorialNet()
    fc2_inputs: list[torch.Tensor] = []
    net.fc2.register_forward_pre_hook(lambda m, a: fc2_inputs.append(a[0].detach()))
    pruner = Pruner(net, dataset(), "sadp", ratio=0.5, epochs=2, shuffle=False,
                    criterion=lambda out, y: F.cross_entropy(out.mean(0), y, reduction="none"))
    assert pruner.monitor.head is net.fc2  # the last nn.Linear, not the output Leaky
    pruner.start_epoch(0)
    x, y = dataset()[:]
    spk, _ = net(x.transpose(0, 1))
    pruner.loss(spk, y).backward()
    pruner.end_epoch()
    by_hand = torch.stack([h.sum(-1) for h in fc2_inputs])  # [T, B]: lif1's spikes entering fc2
    assert torch.equal(seen[0].spike_counts, by_hand) and float(by_hand.sum()) > 0


def test_a_classifier_that_cannot_be_found_is_refused_naming_head() -> None:
    snn = pytest.importorskip("snntorch")

    class ConvOnly(nn.Module):  # spiking layers, no head attribute, no nn.Linear
        def __init__(self) -> None:
            super().__init__()
            self.conv, self.lif = nn.Conv1d(T, T, 1), snn.Leaky(beta=0.5)

    with pytest.raises(ValueError, match="head=") as e:
        Pruner(ConvOnly(), 10, "sadp", ratio=0.5, epochs=2)
    one_line(e)

    class MembraneReadout(nn.Module):  # the last Linear reads membrane potentials, not spikes
        def __init__(self) -> None:
            super().__init__()
            torch.manual_seed(0)
            self.fc1, self.lif1, self.readout = nn.Linear(4, 8), snn.Leaky(beta=0.5), nn.Linear(8, 3)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            mem = self.lif1.init_leaky()
            outs = []
            for x_t in x:
                _, mem = self.lif1(self.fc1(x_t), mem)
                outs.append(self.readout(mem))
            return torch.stack(outs)

    run = Run(MembraneReadout())
    pruner = Pruner(run.model, dataset(), "sadp", ratio=0.5, epochs=2)
    with pytest.raises(ValueError, match="head=") as e:
        run.loop(pruner, dataset())
    assert "'readout'" in one_line(e)
    run.untrained()


def test_a_tuple_output_says_which_element_to_pass() -> None:
    run = Run(TutorialNet())
    pruner = Pruner(run.model, dataset(), "sadp", ratio=0.5, epochs=2)
    with pytest.raises(TypeError) as e:
        run.loop(pruner, dataset())
    msg = one_line(e)
    assert "tuple" in msg and "out[0] (4, 3)" not in msg and "out[0] (3, 4, 3)" in msg and "out[1] (3, 4, 3)" in msg
    assert "pass the element" in msg and 'reduction="none"' in msg
    run.untrained()


def test_a_plain_ann_with_a_spike_aware_method_names_spiking_types() -> None:
    ann = nn.Sequential(nn.Flatten(), nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 3))
    with pytest.raises(ValueError) as e:
        Pruner(ann, 10, "sadp", ratio=0.5, epochs=2)
    msg = one_line(e)
    assert "spiking_types=" in msg and "extra_types" not in msg and "grad_bound" in msg
    Pruner(ann, 10, "grad_bound", ratio=0.5, epochs=2)  # a method without spikes is fine


def test_forgetting_start_epoch_points_to_start_epoch() -> None:
    run = Run(TinySNN())
    pruner = Pruner(run.model, dataset(), "sadp", ratio=0.5, epochs=2)
    loader = DataLoader(dataset(), batch_size=4, sampler=pruner.sampler)
    with pytest.raises(RuntimeError) as e:
        next(iter(loader))  # the loop's first statement without start_epoch
    msg = one_line(e)
    assert "pruner.start_epoch(epoch)" in msg and "set_epoch" not in msg
    with pytest.raises(RuntimeError) as e:
        len(loader)
    assert "pruner.start_epoch(epoch)" in one_line(e) and "steps_per_epoch" in one_line(e)
    with pytest.raises(RuntimeError, match=r"start_epoch\(epoch\)") as e:
        pruner.loss(run.model(dataset()[:4][0].transpose(0, 1)), dataset()[:4][1])
    run.untrained()

    # start_epoch called once before the loop instead of every epoch: epoch 1's first batch refuses
    model = TinySNN()
    once = Pruner(model, dataset(), "sadp", ratio=0.5, epochs=2)
    once.start_epoch(0)
    run_loop(model, once, dataset(), epochs=1, start=lambda p, ep: None)  # epoch 0: fine
    after_epoch_0 = snapshot(model)
    with pytest.raises(RuntimeError) as e:
        run_loop(model, once, dataset(), epochs=1, start=lambda p, ep: None)  # epoch 1: forgotten
    assert "pruner.start_epoch(epoch)" in one_line(e) and "epoch 0" in one_line(e)
    assert_untrained(model, after_epoch_0)


def test_sampler_set_epoch_agrees_with_start_epoch_or_refuses(monkeypatch: pytest.MonkeyPatch) -> None:
    model = TinySNN()
    pruner = Pruner(model, dataset(), "sadp", ratio=0.5, epochs=4, options={"full_first_epochs": 0})
    calls: list[int] = []
    select = pruner.method.select
    monkeypatch.setattr(pruner.method, "select", lambda e: calls.append(e) or select(e))
    with pytest.raises(RuntimeError) as e:
        pruner.sampler.set_epoch(0)  # before start_epoch: one entry point
    assert "pruner.start_epoch(0)" in one_line(e)
    plan = pruner.start_epoch(1)
    order = list(pruner.sampler)
    assert pruner.sampler.set_epoch(1) is plan and list(pruner.sampler) == order  # agrees: same selection
    assert calls == [1]  # nothing selected again
    with pytest.raises(RuntimeError) as e:
        pruner.sampler.set_epoch(2)  # a DistributedSampler habit with another epoch: refused
    assert "pruner.start_epoch(2)" in one_line(e) and "epoch 1" in one_line(e)
    assert list(pruner.sampler) == order and calls == [1]
    # a standalone sampler keeps its own set_epoch
    alone = PruningSampler(build_method("random_dynamic", N, ratio=0.5, epochs=3))
    assert len(alone.set_epoch(1)) == 5


# -- the per-epoch report against hand counts ------------------------------------------------------
def test_epoch_report_against_hand_counts() -> None:
    model = TinySNN()
    ds = dataset()
    heads: list[torch.Tensor] = []
    model.head.register_forward_pre_hook(lambda m, a: heads.append(a[0].detach()))
    pruner = Pruner(model, ds, "sadp", ratio=0.5, epochs=3, seed=0, options={"anneal": 0.0})
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    reports = []
    for epoch in range(2):
        plan = pruner.start_epoch(epoch)
        heads.clear()
        outs, ys = [], []
        for x, y in DataLoader(ds, batch_size=3, sampler=pruner.sampler):
            out = model(x.transpose(0, 1))
            outs.append(out.detach())
            ys.append(y)
            loss = pruner.loss(out, y)
            opt.zero_grad()
            loss.backward()
            opt.step()
        r = pruner.end_epoch()
        reports.append(r)
        assert r is pruner.report and r.epoch == epoch and r.num_examples == N
        # selected and trained examples, steps
        assert r.selected == len(plan.indices) == r.trained and r.steps == math.ceil(len(plan.indices) / 3)
        # loss and accuracy of the trained examples
        z = torch.cat([o.mean(0) for o in outs])
        y = torch.cat(ys)
        assert r.loss == pytest.approx(float(F.cross_entropy(z, y)), rel=1e-5)
        assert r.accuracy == pytest.approx(float((z.argmax(1) == y).float().mean()))
        # weight range of the selected examples
        w = plan.weights[plan.indices]
        assert (r.weight_min, r.weight_max) == (pytest.approx(float(w.min())), pytest.approx(float(w.max())))
        # spike factor mean_t sqrt(n_t + 1) and silent head inputs, from the head's inputs by hand
        n = torch.cat([h.sum(-1) for h in heads], dim=1).double()  # [T, trained]
        f = (n + 1).sqrt().mean(0)
        assert r.spike_factor_mean == pytest.approx(float(f.mean()))
        assert r.spike_factor_cv == pytest.approx(float(f.std(unbiased=False) / f.mean()))
        assert r.head_silent_share == pytest.approx(float((n.sum(0) == 0).double().mean()))
        assert "var_ratio_pred" in r.method or epoch == 0
    full, pruned = reports
    assert (full.selected, full.weight_min, full.weight_max) == (N, 1.0, 1.0)  # full first epoch
    assert pruned.selected == 5 and pruned.weight_max > 1.0  # Horvitz-Thompson weights K / (N pi)
    assert str(pruned).startswith("selected 5/10, trained 5 in 2 steps, loss ")
    assert "spike factor" in str(pruned) and set(pruned.as_dict()) >= {"selected", "trained", "weight_min"}
    assert sadp.EpochReport is type(pruned)


def test_report_without_spikes_and_under_ddp_padding() -> None:
    model = TinySNN()
    pruner = Pruner(model, 5, "full", ratio=0.0, epochs=1, rank=1, world_size=2)  # rank 1 of 2, no process group
    pruner.start_epoch(0)
    idx = pruner.sampler.order
    x, y = dataset(5)[:]
    pruner.loss(model(x[idx].transpose(0, 1)), y[idx]).backward()
    r = pruner.end_epoch()
    assert (r.selected, r.trained, r.steps) == (5, 2, 1)  # 3 positions on this rank, one of them padding
    assert r.spike_factor_mean is None and r.head_silent_share is None and "spike factor" not in str(r)


# -- step counts before the run --------------------------------------------------------------------
EXACT = ["full", "random_static", "random_dynamic", "rs2", "sadp", "grad_bound", "loss", "ucb", "epsilon_greedy",
         "el2n", "forgetting", "orderdp"]


@pytest.mark.parametrize("method", EXACT)
@pytest.mark.parametrize("world_size, drop_last", [(1, False), (1, True), (2, False)])
def test_steps_per_epoch_known_before_the_run(method: str, world_size: int, drop_last: bool) -> None:
    model = TinySNN()
    ds = dataset(23)
    pruner = Pruner(model, ds, method, ratio=0.5, epochs=5, seed=1, rank=world_size - 1, world_size=world_size)
    planned = pruner.steps_per_epoch(4, drop_last=drop_last)  # before the first start_epoch
    assert pruner.total_steps(4, drop_last=drop_last) == sum(planned) and len(planned) == 5
    loader = DataLoader(ds, batch_size=4, sampler=pruner.sampler, drop_last=drop_last)
    actual = []
    for epoch in range(5):
        pruner.start_epoch(epoch)
        actual.append(len(loader))
        steps = 0
        for x, y in loader:
            pruner.loss(model(x.transpose(0, 1)), y).backward()
            steps += 1
        assert steps == actual[-1]
    assert planned == actual


@pytest.mark.parametrize("method", ["infobatch", "seta"])
def test_steps_per_epoch_refused_where_sizes_depend_on_training(method: str) -> None:
    pruner = Pruner(TinySNN(), dataset(), method, ratio=0.5, epochs=4)
    with pytest.raises(ValueError, match=r"len\(loader\) after each pruner.start_epoch") as e:
        pruner.total_steps(4)
    assert method in one_line(e)
    assert Pruner(TinySNN(), dataset(), method, ratio=0.0, epochs=4).steps_per_epoch(4) == [3, 3, 3, 3]


# -- tiny selections on 2 and 4 ranks --------------------------------------------------------------
@pytest.mark.parametrize("world_size", [2, 4])
@pytest.mark.parametrize("k", [1, 2, 3, 5])
def test_tiny_selections_give_every_rank_an_equal_share(world_size: int, k: int) -> None:
    n = 8
    shards = []
    for rank in range(world_size):
        m = build_method("random_dynamic", n, ratio=1 - k / n, epochs=3, seed=0, anneal=0.0)
        s = PruningSampler(m, seed=2, rank=rank, world_size=world_size)
        s.set_epoch(1)
        assert len(s.plan) == k
        shards.append((s.plan.indices.tolist(), list(s), s.valid.tolist()))
    per_rank = math.ceil(k / world_size)
    assert all(len(order) == len(valid) == per_rank for _, order, valid in shards)  # equal, non-empty shares
    real = [i for _, order, valid in shards for i, v in zip(order, valid) if v]
    assert sorted(real) == sorted(shards[0][0])  # the real positions cover the selection once
    assert all(i in shards[0][0] for _, order, _ in shards for i in order)  # padding repeats selected examples


def test_one_example_on_four_ranks_trains_once_with_zero_weight_elsewhere() -> None:
    x, y = dataset(4)[:]
    losses = []
    for rank in range(4):
        model = TinySNN()
        pruner = Pruner(model, 4, "random_dynamic", ratio=0.75, epochs=3, rank=rank, world_size=4,
                        options={"anneal": 0.0})
        pruner.start_epoch(1)
        idx = pruner.sampler.order
        assert len(idx) == 1
        out = model(x[idx].transpose(0, 1))
        losses.append(float(pruner.loss(out, y[idx]).detach()))
        assert pruner.end_epoch().trained == int(pruner.sampler.valid.sum())  # no process group: this rank's
    assert sum(v != 0 for v in losses) == 1  # one rank holds the example, three hold weight-0 copies


# -- the package's subpackages as attributes -------------------------------------------------------
def test_subpackages_are_attributes_of_sadp() -> None:
    import subprocess
    import sys

    code = "import sadp; print(sadp.data.__name__, sadp.snn.__name__, sadp.exit_process.__module__)"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.stdout.split() == ["sadp.data", "sadp.snn", "sadp.train.distributed"], r.stderr[-2000:]
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        sadp.nope  # noqa: B018


def _tiny_selection_worker(rank: int, world_size: int, init_file: str, out_dir: str) -> None:
    """One rank of a real gloo group: a 1-example selection, a DDP step, the epoch's report."""
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel

    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world_size)
    torch.set_num_threads(1)
    model = TinySNN()
    ddp = DistributedDataParallel(model)
    ds = dataset(4)
    pruner = Pruner(model, ds, "random_dynamic", ratio=0.75, epochs=3, options={"anneal": 0.0})  # K = 1 in epoch 1
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    reports = []
    for epoch in range(2):
        pruner.start_epoch(epoch)
        for x, y in DataLoader(ds, batch_size=2, sampler=pruner.sampler):
            loss = pruner.loss(ddp(x.transpose(0, 1)), y)
            opt.zero_grad()
            loss.backward()  # DDP all-reduces gradients: every rank must take the same number of steps
            opt.step()
        reports.append(pruner.end_epoch())
    torch.save({"reports": [(r.selected, r.trained, r.steps) for r in reports],
                "params": [p.detach().clone() for p in model.parameters()]}, f"{out_dir}/rank{rank}.pt")
    dist.destroy_process_group()


@pytest.mark.slow
@pytest.mark.parametrize("world_size", [2, 4])
def test_tiny_selection_under_real_gloo_ranks(tmp_path, world_size: int) -> None:
    import torch.multiprocessing as mp

    mp.start_processes(_tiny_selection_worker, args=(world_size, str(tmp_path / "init"), str(tmp_path)),
                       nprocs=world_size, start_method="spawn", join=True)
    results = [torch.load(tmp_path / f"rank{r}.pt") for r in range(world_size)]
    for r in results:
        # epoch 0: 4 examples over the ranks (1 or 2 per rank, one step); epoch 1: 1 example, one step each
        assert r["reports"] == [(4, 4, 1), (1, 1, 1)]
        assert all(torch.equal(a, b) for a, b in zip(r["params"], results[0]["params"]))  # DDP kept them equal
