"""RS2 without replacement: passes over seeded permutations, exact K, stateless resume."""
from __future__ import annotations

import math
from collections import Counter

import pytest
import torch

from sadp.pruning import build_method


def _epochs(n: int, ratio: float, count: int, seed: int = 3) -> list[list[int]]:
    m = build_method("rs2", n, ratio=ratio, epochs=count, seed=seed)
    return [m.select(e).indices.tolist() for e in range(count)]


@pytest.mark.parametrize("n,ratio", [(10, 0.7), (10, 0.3), (101, 0.5), (250, 0.9), (7, 0.5)])
def test_exact_k_distinct_and_every_example_once_per_pass(n: int, ratio: float) -> None:
    k = max(1, round((1 - ratio) * n))
    epochs_per_cycle = math.lcm(n, k) // k  # after these, the stream has covered a whole number of passes
    plans = _epochs(n, ratio, 2 * epochs_per_cycle)
    for idx in plans:
        assert len(idx) == k and len(set(idx)) == k  # exact K, no example twice in an epoch
    passes = 2 * epochs_per_cycle * k // n
    counts = Counter(i for idx in plans for i in idx)
    assert set(counts) == set(range(n)) and set(counts.values()) == {passes}
    # No example repeats before every example has been seen once: the first floor(N / K) epochs are disjoint.
    first = [i for idx in plans[: n // k] for i in idx]
    assert len(first) == len(set(first))


def test_hand_worked_stream_with_a_straddling_epoch() -> None:
    m = build_method("rs2", 10, ratio=0.7, epochs=8, seed=0)  # K = 3
    p0, p1 = m.permutation(0).tolist(), m.permutation(1).tolist()
    assert sorted(p0) == sorted(p1) == list(range(10))
    assert [m.select(e).indices.tolist() for e in range(3)] == [sorted(p0[0:3]), sorted(p0[3:6]), sorted(p0[6:9])]
    # Epoch 3 takes the last example of pass 0 and the first two of pass 1; pass 1 moved that
    # carried-over example to its end, so the epoch has three distinct examples.
    assert p1[-1] == p0[9]
    assert m.select(3).indices.tolist() == sorted([p0[9], *p1[:2]])
    assert m.select(4).indices.tolist() == sorted(p1[2:5])


def test_selection_depends_only_on_seed_and_epoch_so_resume_mid_pass_is_exact() -> None:
    ref = _epochs(101, 0.6, 12)  # K = 40: passes end inside epochs 2, 5, 7, 10
    resumed = build_method("rs2", 101, ratio=0.6, epochs=12, seed=3)
    resumed.load_state_dict(build_method("rs2", 101, ratio=0.6, epochs=12, seed=3).state_dict())
    assert [resumed.select(e).indices.tolist() for e in range(5, 12)] == ref[5:]
    assert _epochs(101, 0.6, 3, seed=4) != ref[:3]  # another seed, another stream


def test_weights_are_one_and_no_full_epochs() -> None:
    m = build_method("rs2", 50, ratio=0.5, epochs=4, seed=0)
    for e in range(4):
        plan = m.select(e)
        assert len(plan) == 25 and torch.equal(plan.weights, torch.ones(50))
    assert len(build_method("rs2", 50, ratio=0.0, epochs=4).select(0)) == 50  # ratio 0: full data
