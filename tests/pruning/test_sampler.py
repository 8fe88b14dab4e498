"""The sampler: one selection per epoch, right batch counts, spawn workers, a plain loop through the Pruner."""
from __future__ import annotations

import pickle

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from sadp.data import DeviceLoader, InMemoryImages
from sadp.pruning import PruningSampler, WithIndex, build_method

N = 103


class CountingMethod:
    """Wraps a method and counts select() calls (the sampler must select once per epoch)."""

    def __init__(self, inner) -> None:
        self.inner, self.calls = inner, 0

    def select(self, epoch):
        self.calls += 1
        return self.inner.select(epoch)


@pytest.mark.parametrize("drop_last", [False, True])
def test_batch_counts_and_one_selection_per_epoch(drop_last: bool) -> None:
    method = CountingMethod(build_method("random_dynamic", N, ratio=0.5, epochs=4, seed=0))
    sampler = PruningSampler(method, seed=0)  # type: ignore[arg-type]
    data = InMemoryImages(torch.zeros(N, 1, 2, 2, dtype=torch.uint8), torch.arange(N) % 3)
    loader = DeviceLoader(data, sampler, batch_size=10, device="cpu", drop_last=drop_last)
    for epoch in range(4):
        sampler.set_epoch(epoch)
        k = len(sampler.plan)
        expected = k // 10 if drop_last else -(-k // 10)
        assert len(loader) == expected  # known before iterating: LR schedules can be sized
        batches = list(loader)
        assert len(batches) == expected
        seen = torch.cat([idx for _, _, idx in batches])
        assert len(seen) == (expected * 10 if drop_last else k)
        assert set(seen.tolist()) <= set(sampler.plan.indices.tolist())
        assert len(list(loader)) == expected  # a second pass: same epoch, no re-pruning
    assert method.calls == 4
    # pruned epochs have K = round(0.5 * 103) = 52 examples
    sampler.set_epoch(1)
    assert len(sampler) == 52


def test_iter_is_a_fresh_one_pass_iterator() -> None:
    sampler = PruningSampler(build_method("random_dynamic", N, ratio=0.5, epochs=4), seed=1)
    sampler.set_epoch(1)
    a, b = list(sampler), list(sampler)
    assert a == b and len(a) == len(set(a)) == 52
    with pytest.raises(RuntimeError, match="set_epoch"):
        list(PruningSampler(build_method("full", N)))


def test_spawn_workers_and_pickling() -> None:
    method = build_method("sadp", N, ratio=0.5, epochs=3, seed=0)
    sampler = PruningSampler(method, seed=0)
    sampler.set_epoch(0)
    clone = pickle.loads(pickle.dumps(sampler))
    assert list(clone) == list(sampler)
    ds = WithIndex(TensorDataset(torch.arange(N).float(), torch.arange(N) % 3))
    loader = DataLoader(ds, batch_size=16, sampler=sampler, num_workers=2, multiprocessing_context="spawn")
    got = torch.cat([idx for _, _, idx in loader])
    assert got.tolist() == list(sampler)
    assert len(got) == N  # first SADP epoch: full data


def test_plain_loop_through_the_pruner_trains_on_each_epochs_selection() -> None:
    from sadp.pruning import Pruner
    from sadp.snn import build_model

    torch.manual_seed(0)
    model = build_model("mlp", (1, 4, 4), 3, hidden=(16,))
    x = torch.rand(60, 1, 4, 4) * 4
    y = torch.arange(60) % 3
    data = TensorDataset(x, y)
    pruner = Pruner(model, data, "sadp", ratio=0.5, epochs=3, seed=0)
    loader = DataLoader(data, batch_size=20, sampler=pruner.sampler)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    sizes = []
    for epoch in range(3):
        pruner.start_epoch(epoch)
        sizes.append(len(loader.sampler))
        for xb, yb in loader:
            loss = pruner.loss(model(xb.unsqueeze(0).expand(4, *xb.shape)), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
        report = pruner.end_epoch()
        assert report.selected == report.trained == sizes[-1]
    assert sizes == [60, 30, 60]
    method = pruner.method
    assert bool((method.seen > 0).all()) and float(method.scores.min()) > 0
