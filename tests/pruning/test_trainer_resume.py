"""Through the trainer: a run interrupted after epoch 2 and resumed selects, weights and trains
exactly like the uninterrupted run, end to end."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from sadp.pruning.sampler import PruningSampler
from sadp.train.config import TrainConfig
from sadp.train.trainer import Trainer


class Interrupted(Exception):
    pass


@pytest.mark.slow
@pytest.mark.parametrize("method", ["sadp", "infobatch", "rs2"])
def test_resume_through_trainer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, method: str) -> None:
    plans: list[tuple[int, list[int], torch.Tensor]] = []
    original = PruningSampler.set_epoch

    def recording(self, epoch):
        plan = original(self, epoch)
        plans.append((epoch, plan.indices.tolist(), plan.weights[plan.indices].clone()))
        return plan

    monkeypatch.setattr(PruningSampler, "set_epoch", recording)
    cfg = dict(method=method, ratio=0.5, epochs=5, subset=120, model="mlp", batch_size=32, lr=0.01,
               progress=False, seed=2, method_options={"anneal": 0.0} if method == "sadp" else {})
    ref = Trainer(TrainConfig(out=str(tmp_path / "ref"), **cfg))
    ref.fit()
    ref_plans, plans[:] = list(plans), []

    run = TrainConfig(out=str(tmp_path / "run"), **cfg)
    trainer = Trainer(run)
    real_epoch = Trainer.train_epoch

    def dies_in_epoch_3(self, epoch):
        if epoch == 2:
            raise Interrupted
        return real_epoch(self, epoch)

    monkeypatch.setattr(Trainer, "train_epoch", dies_in_epoch_3)
    with pytest.raises(Interrupted):
        trainer.fit()
    monkeypatch.setattr(Trainer, "train_epoch", real_epoch)
    plans[:] = []
    resumed = Trainer(TrainConfig(out=str(tmp_path / "run"), resume=True, **cfg))
    resumed.fit()
    assert [p[0] for p in plans] == [2, 3, 4]
    for (e1, i1, w1), (e2, i2, w2) in zip(ref_plans[2:], plans):
        assert e1 == e2 and i1 == i2 and torch.equal(w1, w2)
    assert any(len(i) < 120 for _, i, _ in plans)  # pruned epochs after the resume
    keep = ("selected", "train_loss", "train_acc", "test_acc")
    assert [{k: r[k] for k in keep} for r in ref.history] == [{k: r[k] for k in keep} for r in resumed.history]
