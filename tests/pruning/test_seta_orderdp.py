"""SeTa and OrderDP: hand-worked selections on tiny score vectors, the 1-D k-means, resume, and
the ratio contract through the trainer (pruned epochs train on about (1 - r) N examples)."""
from __future__ import annotations

import io
import itertools
import json
import math
from pathlib import Path

import pytest
import torch

from sadp.cli.main import main
from sadp.pruning import StepStats, build_method
from sadp.pruning.base import epoch_generator
from sadp.pruning.kmeans import kmeans_1d


def feed(method, losses: list[float]) -> None:
    """One observed batch holding every example with the given losses."""
    n = len(losses)
    method.observe(StepStats(torch.arange(n), torch.zeros(n, 2), torch.zeros(n, dtype=torch.long),
                             torch.tensor(losses)))


def selected(method, epoch: int) -> set[int]:
    return set(method.select(epoch).indices.tolist())


# ---------------------------------------------------------------- 1-D k-means
def test_kmeans_groups_by_hand() -> None:
    # Three obvious clusters, numbered by centre: lowest first, whatever the input order.
    assert kmeans_1d(torch.tensor([5.0, 0.1, 9.0, 0.2, 5.1, 9.2]), 3).tolist() == [1, 0, 2, 0, 1, 2]
    # Six equal values stay together: {0 x 6}, {1}, {2, 2.1} (sum of squares 0.005; any split
    # of the zeros or {1, 2}, {2.1} costs more).
    assert kmeans_1d(torch.tensor([0.0, 0, 0, 0, 0, 0, 1, 2, 2.1]), 3).tolist() == [0] * 6 + [1, 2, 2]
    # Skewed, like late-training losses: one big easy group and the tail split by distance,
    # {0, .01, .02, .03}, {1}, {4, 4.2}, not groups of equal size.
    assert kmeans_1d(torch.tensor([0.02, 4.0, 0.0, 1.0, 0.01, 4.2, 0.03]), 3).tolist() == [0, 2, 0, 1, 0, 2, 0]
    # At most G distinct values: one group per value, upper groups empty.
    assert kmeans_1d(torch.tensor([0.3, 0.1, 0.2]), 5).tolist() == [2, 0, 1]
    assert kmeans_1d(torch.tensor([4.0, 4.0]), 3).tolist() == [0, 0]
    assert kmeans_1d(torch.tensor([1.0, 7.0, 3.0]), 1).tolist() == [0, 0, 0]
    with pytest.raises(ValueError, match="groups"):
        kmeans_1d(torch.tensor([1.0]), 0)
    with pytest.raises(ValueError, match="finite"):
        kmeans_1d(torch.tensor([1.0, float("nan")]), 2)


def brute_force_sse(values: list[float], groups: int) -> float:
    """Least within-group sum of squares over every split of the sorted values into intervals."""
    xs = sorted(values)
    best = math.inf
    for cuts in itertools.combinations(range(1, len(xs)), groups - 1):
        bounds = (0, *cuts, len(xs))
        total = 0.0
        for lo, hi in zip(bounds[:-1], bounds[1:]):
            part = xs[lo:hi]
            mean = sum(part) / len(part)
            total += sum((v - mean) ** 2 for v in part)
        best = min(best, total)
    return best


def test_kmeans_is_optimal_deterministic_and_lloyd_stable() -> None:
    g = torch.Generator().manual_seed(0)
    for trial in range(12):
        kind = trial % 3
        if kind == 0:  # most examples easy, a spread-out hard tail
            x = torch.cat([torch.rand(14, generator=g) * 0.05, 1 + torch.rand(4, generator=g) * 3])
        elif kind == 1:
            x = (-torch.rand(18, generator=g).log()) ** 2
        else:  # a block of equal values, like never-trained examples
            x = torch.rand(18, generator=g) ** 4 * 5
            x[:6] = 3.0
        x = x.double()
        labels = kmeans_1d(x, 4)
        assert torch.equal(labels, kmeans_1d(x.clone(), 4))
        sse = sum(float(((x[labels == j] - x[labels == j].mean()) ** 2).sum()) for j in labels.unique())
        assert sse == pytest.approx(brute_force_sse(x.tolist(), 4), rel=1e-9, abs=1e-12), trial
        used = labels.unique()
        assert used.tolist() == [0, 1, 2, 3]
        means = torch.stack([x[labels == j].mean() for j in used])
        assert bool((means[1:] > means[:-1]).all())  # numbered easiest first
        # Every value is nearest to its own group's mean: no Lloyd step would move it.
        assert torch.equal((x[:, None] - means[None]).abs().argmin(1), labels)
    # Large inputs in reasonable time: 20,000 values, 5 groups.
    big = torch.rand(20000, generator=g) ** 4
    assert torch.bincount(kmeans_1d(big, 5), minlength=5).min() > 0


# ---------------------------------------------------------------- SeTa
PAIRS = [0.0, 0.01, 1.0, 1.01, 2.0, 2.01, 3.0, 3.01, 4.0, 4.01]  # five obvious groups of two


def seta(n: int, ratio: float, epochs: int = 20, **kw):
    return build_method("seta", n, ratio=ratio, epochs=epochs, seed=4, anneal=0.0, **kw)


def test_seta_window_slides_easy_to_hard_and_wraps() -> None:
    # G = 5, w = 0.6: W = 3 groups, start = t mod 3. Examples 2g and 2g + 1 form group g (loss order
    # shuffled so the groups are not the index order). K = 6 = the window's size: the window itself.
    perm = [7, 2, 9, 0, 4, 1, 8, 5, 3, 6]
    losses = [PAIRS[perm[i]] for i in range(10)]
    group_of = {i: perm[i] // 2 for i in range(10)}
    m = seta(10, 0.4, groups=5, window=0.6)
    assert (m.groups, m.window_groups) == (5, 3)
    feed(m, losses)
    expected_start = {1: 1, 2: 2, 3: 0, 4: 1, 5: 2, 6: 0, 7: 1}
    for t, start in expected_start.items():
        chosen = selected(m, t)
        assert chosen == {i for i, grp in group_of.items() if start <= grp < start + 3}, t
        assert m.epoch_diagnostics() == {"seta_window_start": float(start), "seta_window_share": 0.6}
    # Published defaults: G = 5, w = 0.9 -> W = round(4.5) = 4 (Python's round), starts 1, 0, 1, ...
    d = seta(10, 0.5)
    assert d.window_groups == 4 and [d.window_start(t) for t in range(1, 6)] == [1, 0, 1, 0, 1]
    # ... so with K = 8 = the window: t = 1 leaves out the easiest group, t = 2 the hardest.
    d8 = seta(10, 0.2)
    feed(d8, PAIRS)
    assert selected(d8, 1) == set(range(2, 10)) and selected(d8, 2) == set(range(0, 8))


def test_seta_epoch_zero_and_annealing_keep_a_uniform_random_k() -> None:
    # E = 8, anneal = 0.125 (delta = 0.875): epoch 7 anneals. Epoch 0 and 7: K = 5 examples drawn uniformly.
    m = build_method("seta", 10, ratio=0.5, epochs=8, seed=1)
    feed(m, PAIRS)
    for e in (0, 7):
        expected = set(torch.randperm(10, generator=epoch_generator(1, e))[:5].tolist())
        assert selected(m, e) == expected and m.epoch_diagnostics() == {}
    assert len(m.select(3)) == 5 and "seta_window_start" in m.epoch_diagnostics()


def test_seta_equal_scores_split_a_random_order_into_g_chunks() -> None:
    # Initial scores all 3.0: G = 5 chunks of two of a random order; t = 1, W = 3: chunks 1-3.
    m = seta(10, 0.4, groups=5, window=0.6)
    order = torch.randperm(10, generator=epoch_generator(4, 1))
    assert selected(m, 1) == set(order[2:8].tolist())


def test_seta_single_group_is_uniform_random() -> None:
    # G = 1: W = round(0.9) = 1, the window is everything, every epoch a fresh random K.
    m = seta(10, 0.5, groups=1)
    feed(m, PAIRS)
    picks = [selected(m, t) for t in range(1, 5)]
    assert all(len(p) == 5 for p in picks) and len({frozenset(p) for p in picks}) > 1
    assert m.epoch_diagnostics()["seta_window_share"] == 1.0


def test_seta_fewer_examples_than_groups_and_shortfall_carry_over() -> None:
    # N = 3 < G = 5: each distinct loss is a group (0.1 -> 0, 0.2 -> 1, 0.3 -> 2; groups 3, 4 empty).
    # W = 3, K = round(1.5) = 2. Example 0 has loss 0.3, 1 has 0.1, 2 has 0.2.
    m = seta(3, 0.5, groups=5, window=0.6)
    feed(m, [0.3, 0.1, 0.2])
    assert selected(m, 1) == {0, 2}  # start 1: groups 1-3 hold examples 2 and 0
    assert selected(m, 2) == {0}  # start 2: only group 2: one example, 1 short of K
    assert m.kept.tolist()[:3] == [2, 2, 1]
    state = m.state_dict()
    assert selected(m, 3) == {0, 1, 2}  # start 0: K + 1 = 3 carried over, all three
    assert selected(m, 4) == {0, 2}  # start 1 again, shortfall repaid: K
    # Resume after epoch 2 selects the same, carry-over included; selecting epoch 3 twice does not
    # count its shortfall twice.
    resumed = seta(3, 0.5, groups=5, window=0.6)
    buf = io.BytesIO()
    torch.save(state, buf)
    buf.seek(0)
    resumed.load_state_dict(torch.load(buf, weights_only=False))
    assert selected(resumed, 3) == {0, 1, 2} and selected(resumed, 3) == {0, 1, 2}
    assert selected(resumed, 4) == {0, 2}
    # K < G: K = round(0.2 * 10) = 2 of the window's examples.
    few = seta(10, 0.8, groups=5, window=0.6)
    feed(few, PAIRS)
    chosen = selected(few, 1)
    assert len(chosen) == 2 and chosen <= set(range(2, 8))


def test_seta_empty_window_keeps_one_random_example() -> None:
    # N = 3 distinct losses, G = 5, W = round(5 * 0.2) = 1: start t mod 5 = 3 and 4 are empty groups.
    m = seta(3, 0.5, groups=5, window=0.2)
    feed(m, [0.3, 0.1, 0.2])
    assert selected(m, 1) == {2} and selected(m, 2) == {0}
    for t in (3, 4):
        chosen = m.select(t).indices
        assert len(chosen) == 1 and m.epoch_diagnostics()["seta_window_share"] == 0.0


def test_seta_every_pruned_epoch_keeps_k_on_skewed_losses() -> None:
    # Most examples easy: the window that leaves out the easiest group holds fewer than K; the
    # shortfall is made up in the next epochs, so the pruned epochs average exactly K.
    n, k = 200, 100
    g = torch.Generator().manual_seed(0)
    losses = torch.cat([torch.rand(170, generator=g) * 0.05, 1 + torch.rand(30, generator=g) * 3]).tolist()
    m = build_method("seta", n, ratio=0.5, epochs=9, seed=0)  # epoch 8 anneals
    feed(m, losses)
    sizes = [len(m.select(e)) for e in range(9)]
    assert sizes[0] == k and sizes[1] < k  # start 1 leaves out the big easy group
    assert sum(sizes) == 9 * k


def test_seta_options_are_validated() -> None:
    for bad, message in [({"groups": 0}, "groups"), ({"window": 0.0}, "window"), ({"window": 1.5}, "window"),
                         ({"groups": 1, "window": 0.4}, "rounds to a window of 0"), ({"anneal": -1.0}, "anneal"),
                         ({"initial_score": float("nan")}, "initial_score"), ({"kappa": 0.5}, "unknown option")]:
        with pytest.raises(ValueError, match=message):
            build_method("seta", 10, ratio=0.5, epochs=4, **bad)
    assert len(build_method("seta", 10, ratio=0.0, epochs=4).select(1)) == 10  # ratio 0: full data


# ---------------------------------------------------------------- OrderDP
def test_orderdp_sizes_by_hand() -> None:
    # N = 100, r = 0.5: even split rho = sqrt(0.5) = 0.7071: s = floor(70.71) = 70, q = floor(49.50) = 49.
    m = build_method("orderdp", 100, ratio=0.5, epochs=3)
    assert (m.draw, m.keep) == (70, 49) and m.rho_r == pytest.approx(0.70710678)
    assert all(len(m.select(e)) == 49 for e in range(3))  # every epoch, the first included
    one = build_method("orderdp", 100, ratio=0.5, epochs=3, rho_r=1.0)
    assert (one.draw, one.keep, one.rho_q) == (100, 50, 0.5)
    q_is_s = build_method("orderdp", 100, ratio=0.5, epochs=3, rho_q=1.0)
    assert (q_is_s.draw, q_is_s.keep) == (50, 50)
    third = build_method("orderdp", 10, ratio=0.7, epochs=3, rho_r=0.6, rho_q=0.5)  # 0.6 * 0.5 = 0.3
    assert (third.draw, third.keep) == (6, 3)


def test_orderdp_keeps_the_top_q_of_the_draw_ties_broken_at_random() -> None:
    # rho_r = 1: s = N = 6, q = 3. Losses: 5 is the top; 4, 4, 4 tie for the other two places.
    losses = [1.0, 5.0, 4.0, 4.0, 0.0, 4.0]
    seen: set[int] = set()
    for seed in range(8):
        m = build_method("orderdp", 6, ratio=0.5, epochs=3, seed=seed, rho_r=1.0)
        feed(m, losses)
        chosen = selected(m, 1)
        assert 1 in chosen and len(chosen) == 3 and chosen <= {1, 2, 3, 5}
        seen |= chosen
    assert seen == {1, 2, 3, 5}  # every tied example gets its turn: not index order
    # s < N: the kept examples are the q highest losses of the epoch's uniform draw.
    m = build_method("orderdp", 10, ratio=0.7, epochs=3, seed=2, rho_r=0.6)
    feed(m, [float(i) for i in range(10)])
    draw = torch.randperm(10, generator=epoch_generator(2, 1))[:6]
    assert selected(m, 1) == set(draw.sort().values[-3:].tolist())


def test_orderdp_q_equal_s_is_the_random_draw() -> None:
    m = build_method("orderdp", 10, ratio=0.5, epochs=3, seed=5, rho_q=1.0)
    feed(m, [float(i) for i in range(10)])
    for e in range(3):
        assert selected(m, e) == set(torch.randperm(10, generator=epoch_generator(5, e))[:5].tolist())


def test_orderdp_q_zero_and_bad_splits_are_errors() -> None:
    with pytest.raises(ValueError, match=r"keeps q = .* = 0 examples"):  # sqrt(0.1) * 3 < 1
        build_method("orderdp", 3, ratio=0.9, epochs=2)
    with pytest.raises(ValueError, match=r"rho_q must be in \[1 - ratio, 1\] = \[0.5, 1\]"):
        build_method("orderdp", 10, ratio=0.5, epochs=2, rho_q=0.4)
    with pytest.raises(ValueError, match="must equal 1 - ratio"):
        build_method("orderdp", 10, ratio=0.5, epochs=2, rho_r=0.8, rho_q=0.8)
    with pytest.raises(ValueError, match="initial_score"):
        build_method("orderdp", 10, ratio=0.5, epochs=2, initial_score=float("inf"))


def test_orderdp_untrained_examples_rank_first() -> None:
    # initial score 3.0 is above these losses: examples never trained are kept before trained ones.
    m = build_method("orderdp", 6, ratio=0.5, epochs=3, rho_r=1.0)
    m.observe(StepStats(torch.tensor([0, 1, 2]), torch.zeros(3, 2), torch.zeros(3, dtype=torch.long),
                        torch.tensor([0.5, 2.5, 1.0])))
    assert selected(m, 1) == {3, 4, 5}


# ---------------------------------------------------------------- through the trainer
N_TRAIN, K_TRAIN = 200, 100  # --subset 200 --ratio 0.5


def _train(out: Path, method: str, epochs: int) -> tuple[dict, list[dict]]:
    args = ["train", "--method", method, "--ratio", "0.5", "--epochs", str(epochs), "--subset", str(N_TRAIN),
            "--model", "mlp", "--batch-size", "32", "--out", str(out), "--no-progress"]
    assert main(args) == 0
    summary = json.loads((out / "summary.json").read_text())
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    return summary, rows


@pytest.mark.slow
def test_ratio_sets_examples_per_epoch_through_the_trainer(tmp_path: Path) -> None:
    # OrderDP: exactly q = floor(0.7071 * floor(0.7071 * 200)) = floor(0.7071 * 141) = 99 every epoch.
    summary, rows = _train(tmp_path / "orderdp", "orderdp", 4)
    assert [r["selected"] for r in rows] == [99] * 4 and summary["examples_seen"] == 4 * 99
    # SeTa: K = 100 in epoch 0 and the annealing tail; pruned (window) epochs average K within 10%,
    # the whole run exactly K per epoch (shortfalls carry over).
    summary, rows = _train(tmp_path / "seta", "seta", 8)
    sizes = [r["selected"] for r in rows]
    assert sizes[0] == K_TRAIN and summary["examples_seen"] == sum(sizes)
    window = [r["selected"] for r in rows if "seta_window_start" in r]
    assert len(window) == 6 and abs(sum(window) / len(window) - K_TRAIN) <= 0.1 * K_TRAIN, sizes
    assert sum(sizes) == 8 * K_TRAIN  # the annealing epoch (7) pays back what is still short
    assert all(math.isfinite(r["train_loss"]) for r in rows)
