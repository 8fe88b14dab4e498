"""Real files through the Trainer: corrupt-file counts reach summary.json, event frames train."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from sadp.data import DatasetError
from sadp.train.config import TrainConfig
from sadp.train.trainer import Trainer

from .test_events import _nmnist_tree


def _cfg(tmp_path: Path, **kw) -> TrainConfig:
    return TrainConfig(epochs=1, batch_size=16, out=str(tmp_path / "run"), progress=False, model="mlp", **kw)


@pytest.mark.slow
def test_skipped_corrupt_reaches_summary(shared_cifar_small: Path, tmp_path: Path) -> None:
    root = shutil.copytree(shared_cifar_small, tmp_path / "tree")
    (root / "train" / "cat" / "0002.jpg").write_bytes(b"\xff\xd8 broken")
    with pytest.raises(DatasetError, match="0002.jpg"):  # before any training starts
        Trainer(_cfg(tmp_path, dataset="imagefolder", data_dir=str(root)))
    summary = Trainer(_cfg(tmp_path, dataset="imagefolder", data_dir=str(root), skip_corrupt=True)).fit()
    assert summary["skipped_corrupt"] == 1
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["skipped_corrupt"] == 1


@pytest.mark.slow
def test_event_frames_train_with_their_own_time_steps(tmp_path: Path) -> None:
    root = _nmnist_tree(tmp_path / "nm", per_class=2)
    trainer = Trainer(_cfg(tmp_path, dataset="nmnist", data_dir=str(root), T=4))
    assert trainer.T == 10  # N-MNIST's default binning, not cfg.T
    summary = trainer.fit()
    assert summary["num_train"] == 20 and summary["num_test"] == 20
    assert 0.0 <= summary["test_acc"] <= 1.0


def test_dataset_options_reach_the_reader(tmp_path: Path) -> None:
    import argparse

    from sadp.cli.train import add_arguments, config_from_args

    p = argparse.ArgumentParser()
    add_arguments(p)
    root = _nmnist_tree(tmp_path / "nm", per_class=1)
    args = p.parse_args(["--dataset", "nmnist", "--data-dir", str(root), "--dataset-option", "time_steps=3",
                         "--out", str(tmp_path / "run")])
    cfg = config_from_args(args)
    assert cfg.dataset_options == {"time_steps": 3}
    assert Trainer(cfg).T == 3
    bad = p.parse_args(["--dataset", "nmnist", "--data-dir", str(root), "--dataset-option", "timesteps=3"])
    with pytest.raises(ValueError, match="timesteps"):
        Trainer(config_from_args(bad))
