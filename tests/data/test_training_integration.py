"""Real files through the Trainer: corrupt-file counts reach summary.json, event frames train."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from sadp.data import DatasetError
from sadp.train.config import TrainConfig
from sadp.train.trainer import Trainer

from .formats import write_nmnist_bin
from .test_events import _nmnist_tree


def _cfg(tmp_path: Path, **kw) -> TrainConfig:
    return TrainConfig(**{"epochs": 1, "batch_size": 16, "out": str(tmp_path / "run"), "progress": False,
                          "model": "mlp", **kw})


@pytest.mark.slow
def test_skipped_corrupt_reaches_summary(shared_cifar_small: Path, tmp_path: Path) -> None:
    root = shutil.copytree(shared_cifar_small, tmp_path / "tree")
    (root / "train" / "cat" / "0002.jpg").write_bytes(b"\xff\xd8 broken")
    with pytest.raises(DatasetError, match="0002.jpg"):  # before any training starts
        Trainer(_cfg(tmp_path, dataset="imagefolder", data_dir=str(root)))
    summary = Trainer(_cfg(tmp_path, dataset="imagefolder", data_dir=str(root), skip_corrupt=True)).fit()
    assert summary["skipped_corrupt"] == 1
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["skipped_corrupt"] == 1


def _striped_nmnist_tree(root: Path, per_class: int, events: int = 1000) -> Path:
    """N-MNIST files whose class is visible: digit d's events fall in sensor rows 3d..3d+2."""
    rng = np.random.default_rng(0)
    for split in ("Train", "Test"):
        for d in range(10):
            for i in range(per_class):
                write_nmnist_bin(root / split / str(d) / f"{i:05d}.bin", rng.integers(0, 34, events),
                                 rng.integers(3 * d, 3 * d + 3, events), rng.integers(0, 2, events),
                                 np.sort(rng.integers(0, 300_000, events)))
    return root


@pytest.mark.slow
def test_event_frames_train_with_their_own_time_steps(tmp_path: Path) -> None:
    root = _striped_nmnist_tree(tmp_path / "nm", per_class=4)
    # No augmentation: the event roll would move a stripe onto another class's rows.
    trainer = Trainer(_cfg(tmp_path, dataset="nmnist", data_dir=str(root), T=4, epochs=3, batch_size=8, lr=0.01,
                           augment="none"))
    assert trainer.T == 10  # N-MNIST's default binning, not cfg.T
    summary = trainer.fit()
    assert summary["num_train"] == 40 and summary["num_test"] == 40
    # Seeds 0-2 reach 0.9-1.0 (chance: 0.1); a model that does not learn from the frames cannot pass.
    assert summary["test_acc"] >= 0.7


@pytest.mark.slow
def test_streamed_folder_with_damage_outside_the_sample_trains_with_skip_corrupt(tmp_path: Path) -> None:
    from .test_imagefolder import _jpeg_tree

    files = _jpeg_tree(tmp_path / "t", per_class=150)  # 300 images: more than the 256-image statistics sample
    bad = files[-1]
    data = bad.read_bytes()
    bad.write_bytes(data[: len(data) * 2 // 3])  # truncated: header intact
    cfg = dict(dataset="imagefolder", data_dir=str(tmp_path / "t"), dataset_options={"stream": True, "image_size": 8},
               batch_size=64)
    with pytest.raises(DatasetError, match=f"{bad.name}.*truncated"):  # before training, not in epoch 1
        Trainer(_cfg(tmp_path, **cfg))
    summary = Trainer(_cfg(tmp_path, skip_corrupt=True, **cfg)).fit()
    assert summary["skipped_corrupt"] == 1 and summary["num_train"] == 299 and summary["examples_seen"] == 299


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
