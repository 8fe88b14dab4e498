from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from sadp.data import CorruptFileError, DatasetNotFoundError, build_dataset

from .formats import write_cifar10, write_cifar100


def test_cifar10_reads_the_published_pickles(tmp_path: Path) -> None:
    data, labels = write_cifar10(tmp_path, per_batch=4)
    b = build_dataset("cifar10", data_dir=tmp_path)
    assert (b.num_classes, b.sample_shape, len(b.train), len(b.test)) == (10, (3, 32, 32), 20, 4)
    assert b.classes[0] == "airplane" and b.augment == "crop_flip"
    x, y = b.train[7]
    # Row layout: 1024 red values, then green, then blue, each row-major over 32 x 32.
    assert x.dtype == torch.uint8 and y == labels[7]
    assert int(x[1, 2, 5]) == int(data[7, 1024 + 2 * 32 + 5])
    assert np.isclose(b.mean[0], data.reshape(-1, 3, 1024)[:, 0].mean() / 255)
    # data_dir may also be the cifar-10-batches-py folder itself
    assert len(build_dataset("cifar10", data_dir=tmp_path / "cifar-10-batches-py").train) == 20


def test_cifar10_subset_is_balanced_and_seeded(tmp_path: Path) -> None:
    write_cifar10(tmp_path, per_batch=40)
    a = build_dataset("cifar10", data_dir=tmp_path, subset=50, seed=3)
    b = build_dataset("cifar10", data_dir=tmp_path, subset=50, seed=3)
    assert len(a.train) == 50 and torch.equal(a.train.data, b.train.data)
    counts = torch.bincount(a.train.targets, minlength=10)
    assert counts.max() - counts.min() <= 1


def test_cifar100_fine_and_coarse(tmp_path: Path) -> None:
    data, fine, coarse = write_cifar100(tmp_path)
    b = build_dataset("cifar100", data_dir=tmp_path)
    assert b.num_classes == 100 and b.train[3][1] == fine[3] and b.classes[1] == "fine1"
    c = build_dataset("cifar100", data_dir=tmp_path, label="coarse")
    assert c.num_classes == 20 and c.train[3][1] == coarse[3]
    with pytest.raises(ValueError, match="fine"):
        build_dataset("cifar100", data_dir=tmp_path, label="medium")


def test_missing_directory_says_how_to_obtain(tmp_path: Path) -> None:
    with pytest.raises(DatasetNotFoundError, match=r"cifar-10-batches-py.*\n.*cifar-10-python.tar.gz"):
        build_dataset("cifar10", data_dir=tmp_path)
    with pytest.raises(DatasetNotFoundError, match="--data-dir"):
        build_dataset("cifar10", data_dir=None)
    with pytest.raises(DatasetNotFoundError, match="does-not-exist"):
        build_dataset("cifar100", data_dir=tmp_path / "does-not-exist")


def test_missing_and_corrupt_batch_files_are_named(tmp_path: Path) -> None:
    write_cifar10(tmp_path)
    batch = tmp_path / "cifar-10-batches-py" / "data_batch_3"
    batch.write_bytes(batch.read_bytes()[:100])  # truncated download
    with pytest.raises(CorruptFileError, match="data_batch_3"):
        build_dataset("cifar10", data_dir=tmp_path)
    batch.unlink()
    with pytest.raises(DatasetNotFoundError, match="data_batch_3"):
        build_dataset("cifar10", data_dir=tmp_path)


def test_unknown_reader_option_is_an_error(tmp_path: Path) -> None:
    write_cifar10(tmp_path)
    with pytest.raises(ValueError, match=r"no option\(s\) \['lable'\]; its options are \['label'\]"):
        build_dataset("cifar100", data_dir=tmp_path, lable="coarse")
    assert build_dataset("digits", data_dir=None, skip_corrupt=True).name == "digits"  # common options are fine
