"""The imagefolder reader's ``per_class`` / ``test_per_class`` options: the first k images of every class."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from sadp.data import build_dataset


def _tree(root: Path, n_train: int = 5, n_test: int = 4) -> Path:
    """Gray PNGs whose every pixel is a code for (split, class, file number): 100 c + 10 i (+ 5 for test)."""
    for split, n, off in (("train", n_train, 0), ("test", n_test, 5)):
        for c, name in enumerate(("a", "b", "c")):
            d = root / split / name
            d.mkdir(parents=True)
            for i in range(n):
                Image.fromarray(np.full((4, 4), 100 * c + 10 * i + off, np.uint8), "L").save(d / f"{i:02d}.png")
    return root


def _codes(ds) -> list[int]:
    return [int(ds[i][0][0, 0, 0]) for i in range(len(ds))]


def test_per_class_keeps_the_first_files_of_every_class_in_both_splits(tmp_path: Path) -> None:
    b = build_dataset("imagefolder", data_dir=_tree(tmp_path), per_class=2, cache=False)
    assert _codes(b.train) == [0, 10, 100, 110, 200, 210]
    assert _codes(b.test) == [5, 15, 105, 115, 205, 215]
    assert b.train.targets.tolist() == [0, 0, 1, 1, 2, 2]


def test_test_per_class_sets_the_test_split_alone(tmp_path: Path) -> None:
    root = _tree(tmp_path)
    b = build_dataset("imagefolder", data_dir=root, per_class=1, test_per_class=3, cache=False)
    assert _codes(b.train) == [0, 100, 200]
    assert _codes(b.test) == [5, 15, 25, 105, 115, 125, 205, 215, 225]
    only_test = build_dataset("imagefolder", data_dir=root, test_per_class=1, cache=False)
    assert len(only_test.train) == 15 and _codes(only_test.test) == [5, 105, 205]
    more_than_there = build_dataset("imagefolder", data_dir=root, per_class=50, cache=False)
    assert (len(more_than_there.train), len(more_than_there.test)) == (15, 12)


def test_subset_draws_from_the_kept_images(tmp_path: Path) -> None:
    b = build_dataset("imagefolder", data_dir=_tree(tmp_path), per_class=2, subset=3, seed=0, cache=False)
    assert len(b.train) == 3 and set(_codes(b.train)) <= {0, 10, 100, 110, 200, 210}
    assert sorted(b.train.targets.tolist()) == [0, 1, 2]


@pytest.mark.parametrize("option", ["per_class", "test_per_class"])
@pytest.mark.parametrize("bad", [0, -1, 2.5, True, "3"])
def test_bad_values_are_one_line_errors(tmp_path: Path, option: str, bad: object) -> None:
    # Wrong types are caught by the readers' generic type check, values by the option's own range check.
    with pytest.raises(ValueError, match=rf"{option} must be (a positive integer|an integer or null, got)") as e:
        build_dataset("imagefolder", data_dir=tmp_path / "never-read", **{option: bad})
    assert "\n" not in str(e.value)


def test_per_class_picks_the_lowest_numbered_jpegs(shared_cifar_small: Path) -> None:
    """What the sweep specs rely on: per_class k over the CIFAR-10 tree picks files 0000 .. k-1 of every class,
    the images a k-per-class extraction of the archive holds (tests/test_shared_cifar10_script.py)."""
    b = build_dataset("imagefolder", data_dir=shared_cifar_small, per_class=2, cache=False)
    assert (len(b.train), len(b.test)) == (20, 20)
    for split, ds in (("train", b.train), ("test", b.test)):
        expected = [np.asarray(Image.open(shared_cifar_small / split / c / f"000{i}.jpg").convert("RGB"))
                    .transpose(2, 0, 1) for c in b.classes for i in range(2)]
        assert torch.equal(ds.data, torch.from_numpy(np.stack(expected)))
