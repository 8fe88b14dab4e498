"""Every registered method: hand-computed rules, schedules, options and exact resume."""
from __future__ import annotations

import io
import math

import pytest
import torch

from sadp.pruning import ModelAccess, StepStats, build_method
from sadp.pruning.base import anneals
from sadp.registry import METHODS

N, T, K_CLASSES = 64, 4, 5


def fake_stats(idx: torch.Tensor, epoch: int) -> StepStats:
    """Deterministic per-example statistics that change with the epoch (no RNG involved)."""
    f = idx.double()
    logits = torch.stack([torch.sin(f * (c + 1) * 0.37 + epoch) * 3 for c in range(K_CLASSES)], 1).float()
    targets = (idx * 7 % K_CLASSES).long()
    loss = torch.nn.functional.cross_entropy(logits, targets, reduction="none")
    counts = ((torch.cos(f[None] * 0.11 * (torch.arange(T)[:, None] + 1) + epoch) + 1) * 20).round().float()
    layers = [counts, (counts * 0.5).round(), counts * 0 + 3]
    return StepStats(idx, logits, targets, loss, counts, layers, logits.unsqueeze(0).expand(T, -1, -1).clone())


def tiny_model_access() -> ModelAccess:
    from sadp.snn import build_model
    from sadp.train.losses import per_example_loss

    torch.manual_seed(0)
    model = build_model("mlp", (1, 4, 4), K_CLASSES, hidden=(8,))
    g = torch.Generator().manual_seed(1)
    x = torch.rand(T, N, 1, 4, 4, generator=g) * 3
    y = torch.arange(N) * 7 % K_CLASSES
    return ModelAccess(model, lambda: [(x[:, s:s + 16], y[s:s + 16], torch.arange(s, s + 16)) for s in range(0, N, 16)],
                      per_example_loss)


def run_epochs(method, epochs: range, access: ModelAccess | None = None) -> list[tuple[torch.Tensor, torch.Tensor]]:
    out = []
    for e in epochs:
        if access is not None:
            method.before_epoch(e, access)
        plan = method.select(e)
        out.append((plan.indices.clone(), plan.weights[plan.indices].detach().cpu().clone()))
        for s in range(0, len(plan.indices), 10):
            method.observe(fake_stats(plan.indices[s:s + 10], e))
        method.end_epoch(e)
    return out


ALL = METHODS.names()
OPTIONS = {"sadp": {"ema": 0.5}}  # exercise EMA state in the resume test


@pytest.mark.parametrize("name", ALL)
def test_resume_selects_exactly_what_the_uninterrupted_run_does(name: str) -> None:
    epochs = 8
    kw = dict(ratio=0.5, epochs=epochs, seed=3, **OPTIONS.get(name, {}))
    if name in ("el2n", "grand", "forgetting"):
        kw["full_first_epochs"] = 2
    access = tiny_model_access() if name == "grand" else None
    full = run_epochs(build_method(name, N, **kw), range(epochs), access)

    first = build_method(name, N, **kw)
    part1 = run_epochs(first, range(3), access)
    buf = io.BytesIO()
    torch.save(first.state_dict(), buf)
    buf.seek(0)
    resumed = build_method(name, N, **kw)
    resumed.load_state_dict(torch.load(buf, weights_only=False))
    part2 = run_epochs(resumed, range(3, epochs), access)
    assert len(part1 + part2) == epochs
    for e, ((i1, w1), (i2, w2)) in enumerate(zip(full, part1 + part2)):
        assert torch.equal(i1, i2), (name, e)
        assert torch.equal(w1, w2), (name, e)
    # Something is actually pruned after the warm-up / first epoch (except full).
    if name != "full":
        assert min(len(i) for i, _ in full) < N


def test_infobatch_hand_computed_rule() -> None:
    m = build_method("infobatch", 8, ratio=0.5, epochs=4, seed=0)
    plan = m.select(0)
    assert len(plan) == 8  # equal initial scores: nothing below the mean
    losses = torch.tensor([0.1, 0.2, 0.3, 0.4, 2.0, 3.0, 4.0, 5.0])  # mean 1.875: first four are "well learned"
    m.observe(StepStats(torch.arange(8), torch.zeros(8, 3), torch.zeros(8, dtype=torch.long), losses))
    plan = m.select(1)
    sel = set(plan.indices.tolist())
    assert {4, 5, 6, 7} <= sel and len(sel) == 6  # int(0.5 * 4) = 2 of the low group kept
    low_kept = [i for i in sel if i < 4]
    assert torch.allclose(plan.weights[low_kept], torch.full((2,), 2.0))
    assert torch.allclose(plan.weights[[4, 5, 6, 7]], torch.ones(4))
    # Pruned examples keep their old loss; r = 0.3: keep int(0.7 * 4) = 2, weight 1 / 0.7.
    m3 = build_method("infobatch", 8, ratio=0.3, epochs=4, seed=0)
    m3.observe(StepStats(torch.arange(8), torch.zeros(8, 3), torch.zeros(8, dtype=torch.long), losses))
    p3 = m3.select(1)
    kept = [i for i in p3.indices.tolist() if i < 4]
    assert len(kept) == 2 and torch.allclose(p3.weights[kept], torch.full((2,), 1 / 0.7))
    # delta * E = (1 - anneal) * E = 0.875 * 4 = 3.5 (fractional): epochs 0..2 prune, epoch 3 is full
    # with weights reset.
    assert len(m.select(2)) == 6
    last = m.select(3)
    assert len(last) == 8 and torch.equal(last.weights, torch.ones(8))
    # Integer delta * E = 7 for E = 8: epoch 6 still prunes, epoch 7 is full.
    m8 = build_method("infobatch", 8, ratio=0.5, epochs=8, seed=0)
    m8.observe(StepStats(torch.arange(8), torch.zeros(8, 3), torch.zeros(8, dtype=torch.long), losses))
    assert len(m8.select(6)) == 6 and len(m8.select(7)) == 8
    # keep ratio clamped at 0.1 as published
    assert build_method("infobatch", 8, ratio=0.95, epochs=8).keep_ratio == pytest.approx(0.1)


def test_anneal_rule() -> None:
    assert [e for e in range(20) if anneals(e, 20, 0.875)] == [17, 18, 19]  # 17.5
    assert [e for e in range(8) if anneals(e, 8, 0.875)] == [7]
    assert [e for e in range(10) if anneals(e, 10, 0.9)] == [9]
    assert not any(anneals(e, 5, 1.0) for e in range(5))


@pytest.mark.parametrize("name", ["sadp", "random_dynamic", "loss", "grad_bound"])
def test_dynamic_schedule_full_first_and_last(name: str) -> None:
    m = build_method(name, N, ratio=0.75, epochs=8, seed=0)
    sizes = [len(p) for p, _ in run_epochs(m, range(8))]
    assert sizes == [N] + [16] * 6 + [N]
    m = build_method(name, N, ratio=0.75, epochs=4, seed=0, full_first_epochs=0, anneal=0.0)
    assert [len(p) for p, _ in run_epochs(m, range(4))] == [16] * 4


def test_sadp_weights_are_horvitz_thompson() -> None:
    m = build_method("sadp", N, ratio=0.5, epochs=10, seed=0)
    run_epochs(m, range(1))
    plan = m.select(1)
    pi = m.last_pi
    k = 32
    assert len(plan) == k
    expected = (k / (N * pi[plan.indices])).float()
    assert torch.allclose(plan.weights[plan.indices], expected)
    # pi follows the score ||softmax(z)-y|| * mean_t sqrt(n_t + 1), floored at 0.1 * mean, recomputed
    # here without the library: pi = min(1, c a), sum pi = k, with c found by sorting.
    st = fake_stats(torch.arange(N), 0)
    err = (torch.softmax(st.logits.double(), 1) - torch.nn.functional.one_hot(st.targets, K_CLASSES)).norm(dim=1)
    a = err * (st.spike_counts.double() + 1).sqrt().mean(0)
    a = torch.clamp(a, min=0.1 * float(a.mean()))
    top = a.sort(descending=True).values
    capped = next(m for m in range(k) if (k - m) / float(top[m:].sum()) * top[m] <= 1)  # the m largest get pi = 1
    expected_pi = ((k - capped) / float(top[capped:].sum()) * a).clamp(max=1)
    assert float(expected_pi.sum()) == pytest.approx(k) and torch.allclose(pi, expected_pi)


def test_sadp_score_variants_use_their_inputs() -> None:
    st = fake_stats(torch.arange(N), 0)
    head = build_method("sadp", N, ratio=0.5, epochs=4)
    multi = build_method("sadp", N, ratio=0.5, epochs=4, score="multilayer")
    step = build_method("sadp", N, ratio=0.5, epochs=4, readout="per_step")
    assert multi.needs_layer_spikes and not head.needs_layer_spikes
    from sadp.pruning.scores import output_error

    err = output_error(st.logits, st.targets)
    expected_multi = err * sum((c + 1).sqrt().mean(0) for c in st.layer_spike_counts)
    assert torch.allclose(multi.score(st), expected_multi)
    # identical logits at every step: per-step readout equals the mean readout
    assert torch.allclose(step.score(st), head.score(st), rtol=1e-6)
    with pytest.raises(ValueError, match="spike_counts"):
        head.observe(StepStats(st.indices, st.logits, st.targets, st.loss))


def test_observe_duplicates_are_order_independent() -> None:
    a = build_method("loss", 4, ratio=0.5, epochs=3)
    b = build_method("loss", 4, ratio=0.5, epochs=3)
    idx = torch.tensor([1, 1, 2])
    a.observe(StepStats(idx, torch.zeros(3, 2), torch.zeros(3, dtype=torch.long), torch.tensor([0.5, 2.0, 1.0])))
    b.observe(StepStats(idx, torch.zeros(3, 2), torch.zeros(3, dtype=torch.long), torch.tensor([2.0, 0.5, 1.0])))
    assert torch.equal(a.scores, b.scores) and a.scores[1] == 2.0


def test_random_methods() -> None:
    st = build_method("random_static", N, ratio=0.5, epochs=5, seed=1)
    sel = [p for p, _ in run_epochs(st, range(5))]
    assert all(torch.equal(s, sel[0]) for s in sel) and len(sel[0]) == 32
    dyn = build_method("random_dynamic", N, ratio=0.5, epochs=6, seed=1, anneal=0.0)
    sel = [p for p, w in run_epochs(dyn, range(6))][1:]
    assert all(len(s) == 32 for s in sel) and not torch.equal(sel[0], sel[1])
    assert torch.equal(dyn.weights, torch.ones(N))


def test_static_methods_fix_top_k_after_warmup() -> None:
    m = build_method("el2n", N, ratio=0.5, epochs=5, full_first_epochs=1)
    sel = run_epochs(m, range(5))
    assert len(sel[0][0]) == N
    assert all(torch.equal(s, sel[1][0]) for s, _ in sel[1:])
    from sadp.pruning.scores import output_error

    st = fake_stats(torch.arange(N), 0)
    top = set(torch.argsort(output_error(st.logits, st.targets), descending=True)[:32].tolist())
    assert set(sel[1][0].tolist()) == top
    # default warm-up: 10% of the epochs, at least 1
    assert build_method("el2n", N, ratio=0.5, epochs=50).full_first_epochs == 5
    assert build_method("el2n", N, ratio=0.5, epochs=3).full_first_epochs == 1


def test_forgetting_counts_events_by_hand() -> None:
    m = build_method("forgetting", 4, ratio=0.5, epochs=6, full_first_epochs=4)
    # correct/incorrect per presentation for examples 0..3 (class 0 is the target)
    seq = {0: [1, 0, 1, 0], 1: [1, 1, 1, 1], 2: [0, 0, 0, 0], 3: [1, 0, 0, 1]}
    for e in range(4):
        m.select(e)
        logits = torch.tensor([[1.0, 0.0] if seq[i][e] else [0.0, 1.0] for i in range(4)])
        m.observe(StepStats(torch.arange(4), logits, torch.zeros(4, dtype=torch.long), torch.zeros(4)))
    assert m.scores.tolist() == [2.0, 0.0, 0.0, 1.0]
    final = m.final_scores()
    assert math.isinf(final[2]) and final[0] == 2.0
    assert set(m.select(4).indices.tolist()) == {0, 2}  # never learned, then most forgotten


def test_bandits_rank_by_loss() -> None:
    losses = torch.tensor([0.1, 3.0, 0.2, 2.0, 0.3, 1.0])
    for name, kw in [("ucb", {"c": 0.0}), ("epsilon_greedy", {"epsilon": 0.0})]:
        m = build_method(name, 6, ratio=0.5, epochs=4, **kw)
        m.select(0)
        m.observe(StepStats(torch.arange(6), torch.zeros(6, 2), torch.zeros(6, dtype=torch.long), losses))
        assert set(m.select(1).indices.tolist()) == {1, 3, 5}
    g = build_method("epsilon_greedy", 6, ratio=0.5, epochs=4, epsilon=1 / 3)
    g.select(0)
    g.observe(StepStats(torch.arange(6), torch.zeros(6, 2), torch.zeros(6, dtype=torch.long), losses))
    sel = set(g.select(1).indices.tolist())
    assert {1, 3} <= sel and len(sel) == 3  # top 2 exploited, 1 explored from the rest


def test_ucb_variance_recurrence_and_exploration_by_hand() -> None:
    # ema = 0.5 (a = 0.5). Example 0 sees losses 1, 3, 0:
    #   mean 1 -> 1 + 0.5 * 2 = 2 -> 2 + 0.5 * (-2) = 1
    #   var  0 -> 0.5 * (0 + 0.5 * 2^2) = 1 -> 0.5 * (1 + 0.5 * (-2)^2) = 1.5
    # Example 1 sees 2, 2, 2: mean 2, var 0. Examples 2, 3 see 0.5 each time: mean 0.5, var 0.
    m = build_method("ucb", 4, ratio=0.75, epochs=6, ema=0.5, c=2.0)
    for e, losses in enumerate(([1.0, 2.0, 0.5, 0.5], [3.0, 2.0, 0.5, 0.5], [0.0, 2.0, 0.5, 0.5])):
        m.select(e)
        m.observe(StepStats(torch.arange(4), torch.zeros(4, 2), torch.zeros(4, dtype=torch.long), torch.tensor(losses)))
    assert m.mean.tolist() == [1.0, 2.0, 0.5, 0.5]
    assert m.var.tolist() == [1.5, 0.0, 0.0, 0.0]
    # K = 1. Value mean + c std: 1 + 2 sqrt(1.5) = 3.449 for example 0 against 2 for example 1.
    assert m.value()[0].item() == pytest.approx(1 + 2 * 1.5 ** 0.5)
    assert m.select(3).indices.tolist() == [0]
    greedy = build_method("ucb", 4, ratio=0.75, epochs=6, ema=0.5, c=0.0)
    greedy.load_state_dict(m.state_dict())
    assert greedy.select(3).indices.tolist() == [1]  # without exploration: the higher mean
    # c = 0.5: 1 + 0.5 * 1.2247 = 1.61 < 2, exploration too weak to overturn the mean.
    mild = build_method("ucb", 4, ratio=0.75, epochs=6, ema=0.5, c=0.5)
    mild.load_state_dict(m.state_dict())
    assert mild.select(3).indices.tolist() == [1]
    # Never-observed examples rank first (+inf).
    fresh = build_method("ucb", 4, ratio=0.5, epochs=6, full_first_epochs=0)
    fresh.observe(StepStats(torch.tensor([0, 1]), torch.zeros(2, 2), torch.zeros(2, dtype=torch.long),
                            torch.tensor([9.0, 9.0])))
    assert set(fresh.select(0).indices.tolist()) == {2, 3}


def test_static_warmups_that_cannot_score_are_errors() -> None:
    # forgetting: two presentations are needed for one event. The default warm-up is at least 2,
    # so short runs (E <= 14, where 10% rounds to 1) count events instead of picking at random.
    assert build_method("forgetting", N, ratio=0.5, epochs=10).full_first_epochs == 2
    assert build_method("forgetting", N, ratio=0.5, epochs=40).full_first_epochs == 4
    assert build_method("el2n", N, ratio=0.5, epochs=10).full_first_epochs == 1
    with pytest.raises(ValueError, match=r"forgetting.*full_first_epochs=1 is too short.*full_first_epochs >= 2"):
        build_method("forgetting", N, ratio=0.5, epochs=10, full_first_epochs=1)
    with pytest.raises(ValueError, match=r"el2n.*full_first_epochs=0 is too short.*full_first_epochs >= 1"):
        build_method("el2n", N, ratio=0.5, epochs=10, full_first_epochs=0)
    # Fine where nothing is selected by score: no pruning, or a run that is all warm-up.
    build_method("el2n", N, ratio=0.0, epochs=10, full_first_epochs=0)
    build_method("forgetting", N, ratio=0.5, epochs=1, full_first_epochs=1)
    build_method("grand", N, ratio=0.5, epochs=10, full_first_epochs=0)  # scores at initialisation


def test_registry_names_every_method() -> None:
    from sadp.registry import Registry

    for name in ALL:
        cls = METHODS.get(name)
        assert cls.name == name and build_method(name, 8, epochs=2).name == name
    reg: Registry = Registry("thing", name_attr="name")

    @reg.register("widget")
    class Widget:
        pass

    assert Widget.name == "widget"  # type: ignore[attr-defined]


def test_select_template_handles_ratio_zero_and_full_epochs() -> None:
    from sadp.pruning import PruningMethod

    class EveryOther(PruningMethod):
        """Only the pruned plan and a schedule: the template does the rest."""

        def is_full_epoch(self, epoch: int) -> bool:
            return epoch % 2 == 0

        def pruned_plan(self, epoch: int):
            return self.subset_plan(torch.tensor([epoch % 4, 5]), torch.full((8,), 2.0))

    m = EveryOther(8, ratio=0.5, epochs=4)
    assert len(m.select(1)) == 2 and m.current_epoch == 1 and m.weights[5] == 2.0
    full = m.select(2)
    assert len(full) == 8 and m.current_epoch == 2 and torch.equal(full.weights, torch.ones(8))
    assert len(EveryOther(8, ratio=0.0, epochs=4).select(1)) == 8  # ratio 0: always full
    with pytest.raises(NotImplementedError, match="pruned_plan"):
        PruningMethod(8, ratio=0.5, epochs=2).select(0)


def test_old_checkpoint_state_with_a_generator_still_loads() -> None:
    # State as saved before the unused generator was removed: an extra "generator" key.
    old = {"generator": torch.Generator().manual_seed(3).get_state(), "weights": torch.ones(N),
           "current_epoch": 2, "scores": torch.arange(N, dtype=torch.float32), "seen": torch.ones(N)}
    m = build_method("sadp", N, ratio=0.5, epochs=6, seed=1)
    m.load_state_dict(old)
    assert torch.equal(m.scores, torch.arange(N, dtype=torch.float32)) and m.current_epoch == 2
    assert "generator" not in m.state_dict() and not hasattr(m, "generator")
    reference = build_method("sadp", N, ratio=0.5, epochs=6, seed=1)
    reference.scores, reference.seen = torch.arange(N, dtype=torch.float32), torch.ones(N)
    assert torch.equal(m.select(3).indices, reference.select(3).indices)
    with pytest.raises(ValueError, match=r"lacks \['seen'\]"):
        m.load_state_dict({k: v for k, v in old.items() if k != "seen"})


def test_grand_scores_are_true_gradient_norms() -> None:
    access = tiny_model_access()
    m = build_method("grand", N, ratio=0.5, epochs=3, full_first_epochs=0)
    m.before_epoch(0, access)
    access.model.eval()
    x, y, idx = access.batches()[0]
    for i in range(3):
        access.model.zero_grad()
        access.loss(access.model(x[:, i:i + 1]), y[i:i + 1]).sum().backward()
        norm = torch.cat([p.grad.flatten() for p in access.model.parameters()]).norm()
        assert float(m.scores[i]) == pytest.approx(float(norm), rel=1e-5)
    with pytest.raises(RuntimeError, match="before_epoch"):
        build_method("grand", N, ratio=0.5, epochs=3, full_first_epochs=0).select(0)


def test_option_errors_are_clear() -> None:
    with pytest.raises(ValueError, match=r"unknown option.*valid options: .*floor"):
        build_method("sadp", 10, ratio=0.5, epochs=2, flor=0.1)
    with pytest.raises(ValueError, match="score must be one of"):
        build_method("sadp", 10, ratio=0.5, epochs=2, score="tail")
    with pytest.raises(ValueError, match="floor"):
        build_method("sadp", 10, ratio=0.5, epochs=2, floor=2)
    with pytest.raises(ValueError, match="anneal"):
        build_method("infobatch", 10, ratio=0.5, epochs=2, anneal=1.5)
    with pytest.raises(ValueError, match="valid options: none"):
        build_method("full", 10, epochs=2, anneal=0.1)
    with pytest.raises(KeyError, match="available"):
        build_method("sapd", 10)


def test_method_pickles() -> None:
    import pickle

    m = build_method("sadp", N, ratio=0.5, epochs=4)
    run_epochs(m, range(2))
    m2 = pickle.loads(pickle.dumps(m))
    assert torch.equal(m2.select(2).indices, m.select(2).indices)


def test_sampling_variants_mix_clip_and_unweighted() -> None:
    """The sampling variants (docs/methods.md): uniform mixing, weight clipping, unweighted selection."""
    k = 32
    base = build_method("sadp", N, ratio=0.5, epochs=10, seed=0)
    run_epochs(base, range(1))
    base.select(1)
    pi_sadp = base.last_pi

    mixed = build_method("sadp", N, ratio=0.5, epochs=10, seed=0, mix=0.5)
    run_epochs(mixed, range(1))
    plan = mixed.select(1)
    expected_pi = 0.5 * k / N + 0.5 * pi_sadp
    assert torch.allclose(mixed.last_pi, expected_pi)
    assert abs(float(mixed.last_pi.sum()) - k) < 1e-9  # still a budget of K
    w = plan.weights[plan.indices]
    assert torch.allclose(w, (k / (N * expected_pi[plan.indices])).float())
    assert float(w.max()) <= 2.0 + 1e-6  # bounded by 1 / lambda

    clipped = build_method("sadp", N, ratio=0.5, epochs=10, seed=0, clip=1.5)
    run_epochs(clipped, range(1))
    plan = clipped.select(1)
    ht = (k / (N * pi_sadp[plan.indices])).float()
    assert torch.equal(plan.indices, base.select(1).indices)  # same draw, only weights change
    assert torch.allclose(plan.weights[plan.indices], ht.clamp(max=1.5))
    assert bool((ht > 1.5).any()), "test data must exercise the clip"
    # The clip's bias: E[sum_{i in S} w_i] = sum_i pi_i w_i falls below N (the unbiased value).
    expected_total = float((pi_sadp * (k / (N * pi_sadp)).clamp(max=1.5)).sum()) * N / k
    assert expected_total < N - 1e-6

    unweighted = build_method("sadp", N, ratio=0.5, epochs=10, seed=0, weighted=False)
    run_epochs(unweighted, range(1))
    plan = unweighted.select(1)
    assert torch.equal(plan.indices, base.select(1).indices)
    assert torch.all(plan.weights[plan.indices] == 1.0)

    for bad in (dict(mix=1.5), dict(clip=0.5), dict(weighted="yes")):
        with pytest.raises(ValueError):
            build_method("sadp", N, ratio=0.5, epochs=10, **bad)


def test_predicted_variance_ratio_matches_the_poisson_formula() -> None:
    # sum (1/pi - 1) a^2 / ((N/K - 1) sum a^2): 1 for uniform pi, and for pi from the scores it
    # equals the closed form and is below 1 (pi proportional to a minimises the Poisson variance).
    from sadp.registry import METHODS

    n, k = 400, 100
    g = torch.Generator().manual_seed(0)
    a = torch.rand(n, generator=g) ** 3 + 0.01
    m = METHODS.get("sadp")(n, ratio=1 - k / n, epochs=4, floor=0.0)
    m.scores, m.seen = a.clone(), torch.ones(n)
    uniform = torch.full((n,), k / n, dtype=torch.float64)
    assert m.predicted_variance_ratio(uniform) == pytest.approx(1.0)
    pi = m.probabilities()
    a64 = a.double()
    expected = float(((1 / pi - 1) * a64 ** 2).sum() / ((n / k - 1) * (a64 ** 2).sum()))
    assert m.predicted_variance_ratio(pi) == pytest.approx(expected) and expected < 1.0
    m.select(1)  # a pruned epoch records it for the trainer's per-epoch log
    diag = m.epoch_diagnostics()
    assert diag["var_ratio_pred"] == pytest.approx(expected) and 0 <= diag["pi_capped"] < 1
    m.select(0)  # full first epoch: nothing to report
    assert m.epoch_diagnostics() == {}


def _state_equal(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(
        torch.equal(a[k], b[k]) if isinstance(a[k], torch.Tensor) else a[k] == b[k] for k in a)


@pytest.mark.parametrize("name, old, new", [
    ("infobatch", {"delta": 0.875}, {"anneal": 0.125}),
    ("infobatch", {"delta": 0.75}, {"anneal": 0.25}),
    ("seta", {"delta": 0.5}, {"anneal": 0.5}),
    ("el2n", {"warmup_epochs": 3}, {"full_first_epochs": 3}),
    ("forgetting", {"warmup_epochs": 2}, {"full_first_epochs": 2}),
    ("grand", {"warmup_epochs": 0}, {"full_first_epochs": 0}),
])
def test_former_option_names_warn_and_equal_the_new_ones(name: str, old: dict, new: dict) -> None:
    # One option name per idea: the former names still build the same method, with a warning that
    # names the new option and the value it maps to.
    (old_key, old_value), (new_key, new_value) = next(iter(old.items())), next(iter(new.items()))
    with pytest.warns(FutureWarning, match=rf"{name}.*option {old_key}={old_value!r} is deprecated; "
                                           rf"it means {new_key}={new_value:g}"):
        a = build_method(name, N, ratio=0.5, epochs=8, seed=3, **old)
    b = build_method(name, N, ratio=0.5, epochs=8, seed=3, **new)
    assert getattr(a, new_key) == getattr(b, new_key) == new_value
    assert [a.is_full_epoch(e) for e in range(8)] == [b.is_full_epoch(e) for e in range(8)]
    assert _state_equal(a.state_dict(), b.state_dict())
    assert old_key not in a.option_names() and new_key in a.option_names()
    with pytest.raises(ValueError, match=rf"{old_key} is the former name of {new_key}: give {new_key} only"):
        build_method(name, N, ratio=0.5, epochs=8, **old, **new)


def test_former_option_names_work_through_the_pruner_and_select_alike() -> None:
    from sadp.pruning import Pruner

    with pytest.warns(FutureWarning, match="delta=0.875 is deprecated; it means anneal=0.125"):
        old = Pruner(torch.nn.Linear(2, 2), N, "infobatch", ratio=0.5, epochs=8, options={"delta": 0.875})
    new = Pruner(torch.nn.Linear(2, 2), N, "infobatch", ratio=0.5, epochs=8, options={"anneal": 0.125})
    default = Pruner(torch.nn.Linear(2, 2), N, "infobatch", ratio=0.5, epochs=8)
    for m in (old.method, new.method, default.method):
        m.observe(fake_stats(torch.arange(N), 0))
    for e in range(8):
        plans = [p.start_epoch(e) for p in (old, new, default)]
        assert all(torch.equal(plans[0].indices, p.indices) and torch.equal(plans[0].weights, p.weights)
                   for p in plans[1:])
    with pytest.raises(ValueError, match="valid options: anneal$"):  # the former name is not listed
        build_method("infobatch", N, gamma=1)
