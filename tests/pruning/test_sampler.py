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


def test_sharding_arithmetic_worked_by_hand() -> None:
    # K = 10 selected on 4 ranks: ceil(10 / 4) = 3 positions per rank, 12 in all (2 padding copies).
    # Rank r holds positions r, r + 4, r + 8 of the padded order; positions 10 and 11 are padding,
    # the last of ranks 2 and 3. Batches of 2: 2 per rank, or 1 with drop_last, which trains positions
    # {0, 4}, {1, 5}, {2, 6}, {3, 7}: 8 real examples.
    method = build_method("random_dynamic", 20, ratio=0.5, epochs=3, seed=0)  # K = 10 in epoch 1
    samplers = [PruningSampler(method, seed=2, rank=r, world_size=4) for r in range(4)]
    assert [s.shard_size(10) for s in samplers] == [3] * 4
    assert samplers[0].batches(10, 2) == 2 and samplers[0].batches(10, 2, drop_last=True) == 1
    assert samplers[0].trained_examples(10, 2) == 10 and samplers[0].trained_examples(10, 2, drop_last=True) == 8
    # the same numbers from the layout set_epoch builds
    for s in samplers:
        assert len(s.set_epoch(1)) == 10 and len(s) == 3
    assert sum(len(s) for s in samplers) == 12  # trained positions, padding included
    assert [s.valid.tolist() for s in samplers] == [[True] * 3, [True] * 3, [True, True, False], [True, True, False]]
    assert sum(int(s.valid[:2].sum()) for s in samplers) == 8  # drop_last: each rank trains its first batch of 2
    # one process: no padding
    one = PruningSampler(method, seed=2)
    assert (one.shard_size(10), one.batches(10, 3), one.batches(10, 3, True)) == (10, 4, 3)
    assert one.trained_examples(10, 3, drop_last=True) == 9
    # 1 example on 4 ranks: every rank gets one position, three of them padding copies
    assert (samplers[0].shard_size(1), samplers[0].trained_examples(1, 1, drop_last=True)) == (1, 1)


def test_pruner_passes_the_sampler_arithmetic_on() -> None:
    from sadp.pruning import Pruner

    pruner = Pruner(torch.nn.Linear(2, 2), 20, "random_dynamic", ratio=0.5, epochs=3, rank=1, world_size=4)
    assert (pruner.shard_size(10), pruner.steps_for(10, 2), pruner.steps_for(10, 2, True)) == (3, 2, 1)
    assert pruner.trained_examples(10, 2, drop_last=True) == 8 and pruner.trained_examples(10, 2) == 10
    # steps_per_epoch: epoch 0 full (20 -> 5 per rank), 1 pruned (10 -> 3), 2 annealed (full)
    assert pruner.steps_per_epoch(2) == [3, 2, 3] and pruner.steps_per_epoch(2, drop_last=True) == [2, 1, 2]
