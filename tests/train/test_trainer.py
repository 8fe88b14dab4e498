from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch

from sadp.train import NonFiniteLossError, TrainConfig, Trainer, train
from sadp.train.optim import cosine_lr

FAST = dict(model="mlp", method="full", epochs=2, subset=200, progress=False)


def test_summary_and_metrics_contract(tmp_path: Path) -> None:
    s = train(TrainConfig(out=str(tmp_path), **{**FAST, "lr": 0.02, "batch_size": 32}))
    on_disk = json.loads((tmp_path / "summary.json").read_text())
    for key in ("test_acc", "best_test_acc", "wall_time_s", "train_time_s", "examples_seen", "epochs",
                "epoch_times_s", "config"):
        assert key in on_disk
    # Seeds 0-2 reach 0.74-0.81 on the 359 test digits after these 14 steps (chance: 0.1).
    assert on_disk["test_acc"] >= 0.6 and on_disk["test_acc"] == s["test_acc"]
    assert on_disk["examples_seen"] == 2 * 200 == s["examples_seen"]
    assert len(on_disk["epoch_times_s"]) == 2
    assert abs(on_disk["train_time_s"] - sum(on_disk["epoch_times_s"])) < 1e-9
    rows = [json.loads(x) for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2]
    assert on_disk["config"]["model"] == "mlp"
    # the machine the times were taken on, so a report can tell whether two runs' times compare
    machine = on_disk["machine"]
    assert machine["logical_cores"] == os.cpu_count() and machine["torch"] == torch.__version__
    assert isinstance(machine["cpu"], str) and machine["cpu"] and machine["torch_threads"] >= 1


def test_refuses_to_overwrite_existing_run(tmp_path: Path) -> None:
    train(TrainConfig(out=str(tmp_path), **FAST))
    before = (tmp_path / "summary.json").read_bytes()
    with pytest.raises(FileExistsError, match="--resume"):
        train(TrainConfig(out=str(tmp_path), **FAST))
    assert (tmp_path / "summary.json").read_bytes() == before


def test_resume_of_finished_run_is_a_no_op(tmp_path: Path) -> None:
    a = train(TrainConfig(out=str(tmp_path), **FAST))
    b = train(TrainConfig(out=str(tmp_path), resume=True, **FAST))
    assert b["test_acc"] == a["test_acc"] and b["examples_seen"] == a["examples_seen"]


def test_resume_with_changed_config_is_refused(tmp_path: Path) -> None:
    train(TrainConfig(out=str(tmp_path), **FAST))
    with pytest.raises(ValueError, match="different config"):
        train(TrainConfig(out=str(tmp_path), resume=True, **{**FAST, "subset": 100}))


def test_nan_loss_raises_and_keeps_last_checkpoint(tmp_path: Path) -> None:
    # The model's output turns NaN from epoch 2 on: the run must stop there and leave the
    # checkpoint epoch 1 wrote as it was, and resumable.
    cfg = TrainConfig(out=str(tmp_path), **{**FAST, "epochs": 3})
    t = Trainer(cfg)
    epoch1: dict[str, bytes] = {}
    real_epoch, real_forward = t.train_epoch, t.model.forward
    t.current = 0

    def train_epoch(epoch: int):
        if epoch == 1:  # epoch 1's files, as written
            epoch1.update({f: (tmp_path / f).read_bytes() for f in ("checkpoint.pt", "metrics.jsonl")})
        t.current = epoch
        return real_epoch(epoch)

    t.train_epoch = train_epoch  # type: ignore[method-assign]
    t.model.forward = lambda x: real_forward(x) * (float("nan") if t.current >= 1 else 1.0)  # type: ignore[method-assign]
    with pytest.raises(NonFiniteLossError, match="loss became nan in epoch 2.*lower --lr"):
        t.fit()
    assert epoch1 and all((tmp_path / f).read_bytes() == b for f, b in epoch1.items())
    assert not (tmp_path / "summary.json").exists()
    resumed = train(TrainConfig(out=str(tmp_path), resume=True, **{**FAST, "epochs": 3}))
    rows = [json.loads(x) for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2, 3] and rows[0] == json.loads(epoch1["metrics.jsonl"])
    assert resumed["epochs"] == 3 and resumed["test_acc"] == rows[-1]["test_acc"]


def test_drop_last_counts_trained_examples_and_refuses_empty_epochs(tmp_path: Path) -> None:
    from sadp.pruning import Pruner
    from sadp.train.trainer import require_training_steps

    def pruner(world_size: int = 1) -> Pruner:  # the sharding arithmetic is the pruner's (its sampler's)
        return Pruner(torch.nn.Linear(2, 2), 100, "full", ratio=0.0, rank=0, world_size=world_size)

    # One process: 100 examples in batches of 32 -> 3 full batches.
    assert pruner().trained_examples(100, 32, True) == 96 and pruner().trained_examples(100, 32, False) == 100
    # Two processes, worked by hand from the sampler's layout (rank r holds positions r, r + 2, ...;
    # padding wraps around to an even length and sits at the end of a share):
    # 9 examples, batches of 2: rank 0 [0 2][4 6](8), rank 1 [1 3][5 7](pad) -> 8 trained.
    assert pruner(2).trained_examples(9, 2, True) == 8
    # 7 examples, batches of 3: rank 0 [0 2 4](6), rank 1 [1 3 5](pad) -> 6 trained.
    assert pruner(2).trained_examples(7, 3, True) == 6
    with pytest.raises(ValueError,
                       match=r"ratio 0.5 keeps 50 of 100 examples, fewer than one batch; use --batch-size 50"):
        require_training_steps(pruner(), 50, 0.5, 64, drop_last=True)
    with pytest.raises(ValueError, match=r"\(40 per process on 2 processes\).*--batch-size 40 or less"):
        require_training_steps(pruner(2), 80, 0.2, 64, drop_last=True)
    require_training_steps(pruner(), 50, 0.5, 64, drop_last=False)
    require_training_steps(pruner(), 64, 0.36, 64, drop_last=True)

    s = train(TrainConfig(out=str(tmp_path / "a"), drop_last=True, batch_size=32, **{**FAST, "subset": 100}))
    assert s["examples_seen"] == 2 * 96 and s["theoretical_speedup"] == pytest.approx(200 / 192)
    # A pruned epoch below one batch is refused before anything is written.
    with pytest.raises(ValueError, match="would train nothing"):
        Trainer(TrainConfig(out=str(tmp_path / "b"), drop_last=True, batch_size=64, **{
            **FAST, "subset": 100, "method": "random_dynamic", "ratio": 0.5}))
    assert not (tmp_path / "b").exists()


def test_epoch_that_falls_below_one_batch_is_named(tmp_path: Path) -> None:
    # A method may select fewer examples than its budget (InfoBatch does): the epoch is refused, not skipped.
    t = Trainer(TrainConfig(out=str(tmp_path), drop_last=True, batch_size=32, **{**FAST, "subset": 100}))
    select = t.pruner.method.select
    t.pruner.method.select = lambda e: select(e) if e == 0 else t.pruner.method.subset_plan(torch.arange(10))  # type: ignore[method-assign]
    with pytest.raises(ValueError, match="keeps 10 of 100 examples, fewer than one batch"):
        t.fit()
    assert [json.loads(x)["epoch"] for x in (tmp_path / "metrics.jsonl").read_text().splitlines()] == [1]


@pytest.mark.parametrize("bad, msg", [
    (dict(ratio=1.0), "ratio"), (dict(ratio=-0.1), "ratio"), (dict(epochs=0), "epochs"),
    (dict(lr=0.0), "lr"), (dict(optimizer="rmsprop"), "optimizer"), (dict(method="full", ratio=0.3), "full"),
])
def test_bad_config_is_rejected_with_a_clear_message(bad: dict, msg: str) -> None:
    with pytest.raises(ValueError, match=msg):
        TrainConfig(**bad).validate()


def test_ratio_defaults_depend_on_the_method() -> None:
    assert TrainConfig().validate().ratio == 0.3 and TrainConfig().method == "sadp"
    assert TrainConfig(method="full").validate().ratio == 0.0
    assert TrainConfig(method="random_dynamic", ratio=0.5).validate().ratio == 0.5


def test_unknown_config_key_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown config keys"):
        TrainConfig.from_dict({"learning_rate": 0.1})


def test_cosine_schedule_shape() -> None:
    assert cosine_lr(1.0, 0.0, 0.1) == 0.0
    assert cosine_lr(1.0, 0.05, 0.1) == pytest.approx(0.5)
    assert cosine_lr(1.0, 0.1, 0.1) == pytest.approx(1.0)
    assert cosine_lr(1.0, 0.55, 0.1) == pytest.approx(0.5)
    assert cosine_lr(1.0, 1.0, 0.1) == pytest.approx(0.0, abs=1e-12)


def test_tet_loss_reduces_to_ce_of_each_step() -> None:
    from sadp.train.losses import per_example_loss

    out = torch.randn(3, 5, 4)
    y = torch.randint(0, 4, (5,))
    tet = per_example_loss(out, y, "tet", tet_lambda=0.0)
    ref = torch.stack([torch.nn.functional.cross_entropy(out[t], y, reduction="none") for t in range(3)]).mean(0)
    torch.testing.assert_close(tet, ref)


def test_memory_lean_training_matches_default(tmp_path: Path) -> None:
    cfg = dict(model="small_cnn", method="full", epochs=1, subset=96, batch_size=32, progress=False)
    train(TrainConfig(out=str(tmp_path / "a"), **cfg))
    b = train(TrainConfig(out=str(tmp_path / "b"), memory_lean=True, **cfg))
    assert b["config"]["memory_lean"] is True
    ra = json.loads((tmp_path / "a" / "metrics.jsonl").read_text())
    rb = json.loads((tmp_path / "b" / "metrics.jsonl").read_text())
    assert rb["train_loss"] == ra["train_loss"] and rb["test_acc"] == ra["test_acc"]


def test_eval_every_train_sample_and_selection_diagnostics(tmp_path: Path) -> None:
    cfg = TrainConfig(out=str(tmp_path), model="mlp", method="sadp", ratio=0.5, epochs=5, subset=200,
                      eval_every=2, train_eval_size=50, progress=False)
    t = Trainer(cfg)
    plans = []
    select = t.pruner.method.select
    t.pruner.method.select = lambda e: plans.append(select(e)) or plans[-1]  # type: ignore[method-assign]
    s = t.fit()
    rows = [json.loads(x) for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    # evaluated after epochs 2 and 4 and after the last one, with the training sample
    assert ["test_acc" in r for r in rows] == [False, True, False, True, True]
    assert all("train_eval_acc" in r and r["generalization_gap"] == pytest.approx(r["train_eval_acc"] - r["test_acc"])
               for r in rows if "test_acc" in r)
    assert s["final_train_eval_acc"] == rows[-1]["train_eval_acc"] and s["best_test_acc"] >= s["test_acc"]
    # weights and never-drawn share recomputed from the plans the method returned
    drawn = torch.zeros(200, dtype=torch.bool)
    for r, plan in zip(rows, plans):
        w = plan.weights[plan.indices]
        assert r["weight_max"] == pytest.approx(float(w.max()))
        assert r["weight_q90"] == pytest.approx(float(torch.quantile(w.double(), 0.9)))
        if len(plan) < 200:
            drawn[plan.indices] = True
            assert r["never_drawn_pruned"] == pytest.approx(1 - float(drawn.float().mean()))
            assert 0 < r["var_ratio_pred"] and "pi_capped" in r
        else:
            assert "var_ratio_pred" not in r  # full-data epochs have no sampling variance
    assert s["never_drawn_pruned"] == rows[-1]["never_drawn_pruned"]


def test_augment_override_and_mismatch(tmp_path: Path) -> None:
    t = Trainer(TrainConfig(out=str(tmp_path / "a"), augment="flip", **FAST))
    assert t.bundle.augment == "flip"
    with pytest.raises(ValueError, match="does not fit"):
        Trainer(TrainConfig(out=str(tmp_path / "b"), augment="event", **FAST))
    assert Trainer(TrainConfig(out=str(tmp_path / "c"), augment="none", **FAST)).bundle.augment == "none"
    with pytest.raises(ValueError, match="augment must be one of"):
        TrainConfig(augment="mixup").validate()


def test_selection_diagnostics_survive_resume(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The never-drawn share is cumulative: after a resume it must continue from the checkpoint.
    base = dict(model="mlp", method="random_dynamic", ratio=0.7, epochs=4, subset=100, progress=False,
                method_options={"anneal": 0.0})
    full = train(TrainConfig(out=str(tmp_path / "full"), **base))
    real_epoch = Trainer.train_epoch

    def dies_in_epoch_3(self, epoch):
        if epoch == 2:
            raise KeyboardInterrupt
        return real_epoch(self, epoch)

    monkeypatch.setattr(Trainer, "train_epoch", dies_in_epoch_3)
    with pytest.raises(KeyboardInterrupt):
        Trainer(TrainConfig(out=str(tmp_path / "cut"), **base)).fit()
    monkeypatch.setattr(Trainer, "train_epoch", real_epoch)
    resumed = train(TrainConfig(out=str(tmp_path / "cut"), resume=True, **base))
    assert resumed["never_drawn_pruned"] == full["never_drawn_pruned"] > 0
