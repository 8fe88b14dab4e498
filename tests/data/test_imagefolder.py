from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from sadp.data import CorruptFileError, DatasetError, DatasetNotFoundError, build_dataset, imagefolder
from sadp.data.imagefolder import StreamedImageFolder


def _copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def _png_tree(root: Path, mode: str, size: tuple[int, int] = (10, 12), per_class: int = 2) -> Path:
    rng = np.random.default_rng(0)
    for split in ("train", "test"):
        for c in ("a", "b"):
            d = root / split / c
            d.mkdir(parents=True)
            for i in range(per_class):
                shape = (size[1], size[0]) if mode == "L" else (size[1], size[0], 3)
                Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8), mode).save(d / f"{i}.png")
    return root


def test_shared_jpegs_decode_in_memory(shared_cifar_small: Path) -> None:
    b = build_dataset("imagefolder", data_dir=shared_cifar_small)
    assert (len(b.train), len(b.test), b.num_classes, b.sample_shape) == (30, 30, 10, (3, 32, 32))
    assert b.classes[:2] == ["airplane", "automobile"] and b.augment == "crop_flip" and b.extra["mode"] == "memory"
    bird = shared_cifar_small / "train" / "bird" / "0001.jpg"
    expected = np.array(Image.open(bird).convert("RGB")).transpose(2, 0, 1)
    x, y = b.train[2 * 3 + 1]  # classes sorted: airplane, automobile, bird; files sorted within a class
    assert y == 2 and torch.equal(x, torch.from_numpy(expected))


def test_decoded_cache_is_reused_and_invalidated(shared_cifar_small: Path, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    root = _copy(shared_cifar_small, tmp_path / "tree")
    first = build_dataset("imagefolder", data_dir=root)
    calls = []
    real = imagefolder.decode_image
    monkeypatch.setattr(imagefolder, "decode_image", lambda *a, **k: calls.append(a[0]) or real(*a, **k))
    again = build_dataset("imagefolder", data_dir=root)
    assert calls == [] and torch.equal(first.train.data, again.train.data)
    f = root / "train" / "cat" / "0000.jpg"
    Image.open(f).transpose(Image.FLIP_LEFT_RIGHT).save(f)  # a changed file: new size/mtime, new cache key
    changed = build_dataset("imagefolder", data_dir=root)
    assert len(set(calls)) == 60 and not torch.equal(changed.train.data, first.train.data)  # all re-decoded


def test_grayscale_and_rgb_folders(tmp_path: Path) -> None:
    g = build_dataset("imagefolder", data_dir=_png_tree(tmp_path / "g", "L"))
    assert g.sample_shape == (1, 12, 10) and g.train[0][0].dtype == torch.uint8 and len(g.mean) == 1
    c = build_dataset("imagefolder", data_dir=_png_tree(tmp_path / "c", "RGB"))
    assert c.sample_shape == (3, 12, 10) and len(c.std) == 3
    assert c.augment == "flip"  # too small for a padded crop


def test_subset_decodes_a_balanced_subset(shared_cifar_small: Path) -> None:
    b = build_dataset("imagefolder", data_dir=shared_cifar_small, subset=20, seed=1)
    assert len(b.train) == 20 and torch.bincount(b.train.targets).tolist() == [2] * 10 and len(b.test) == 30


def test_streamed_mode_decodes_per_item(shared_cifar_small: Path) -> None:
    b = build_dataset("imagefolder", data_dir=shared_cifar_small, stream=True, image_size=24)
    assert isinstance(b.train, StreamedImageFolder) and b.augment == "flip" and b.sample_shape == (3, 24, 24)
    x, y = b.train[5]
    assert x.shape == (3, 24, 24) and x.dtype == torch.uint8 and y == 1
    xt, _ = b.test[0]
    # Test items are deterministic: resize 32 -> 27 (24 / 0.875), centre crop 24.
    assert torch.equal(xt, b.test[0][0])
    assert b.train.targets.tolist() == [i // 3 for i in range(30)]


def test_in_memory_limit_switches_to_streaming(shared_cifar_small: Path) -> None:
    b = build_dataset("imagefolder", data_dir=shared_cifar_small, in_memory_limit_gb=1e-6, image_size=32)
    assert b.extra["mode"] == "stream"


def test_differing_sizes_need_image_size(tmp_path: Path) -> None:
    root = _png_tree(tmp_path / "t", "RGB")
    Image.new("RGB", (20, 20)).save(root / "train" / "a" / "big.png")
    with pytest.raises(DatasetError, match="image_size"):
        build_dataset("imagefolder", data_dir=root)
    b = build_dataset("imagefolder", data_dir=root, image_size=8)
    assert b.sample_shape == (3, 8, 8)


def test_corrupt_image_is_named_or_skipped_and_counted(shared_cifar_small: Path, tmp_path: Path) -> None:
    root = _copy(shared_cifar_small, tmp_path / "tree")
    bad = root / "train" / "dog" / "0001.jpg"
    bad.write_bytes(bad.read_bytes()[:650])  # truncated JPEG: its header is intact, its pixels are not
    (root / "test" / "cat" / "notes.png").write_text("not an image")
    with pytest.raises(CorruptFileError, match="0001.jpg|notes.png"):
        build_dataset("imagefolder", data_dir=root)
    b = build_dataset("imagefolder", data_dir=root, skip_corrupt=True)
    assert b.skipped_corrupt == 2 and (len(b.train), len(b.test)) == (29, 30)
    assert build_dataset("imagefolder", data_dir=root, skip_corrupt=True).skipped_corrupt == 2  # from the cache
    s = build_dataset("imagefolder", data_dir=root, skip_corrupt=True, stream=True, image_size=32)
    assert s.skipped_corrupt == 2 and len(s.train) == 29 and bad not in s.train.files  # full decode check
    with pytest.raises(CorruptFileError, match="dog/0001.jpg.*truncated"):
        build_dataset("imagefolder", data_dir=root, stream=True, image_size=32)
    # A file that breaks later (not in the sample) is named when its item is decoded.
    with pytest.raises(CorruptFileError, match="dog/0001.jpg"):
        StreamedImageFolder([bad], [0], 3, 32, train=True)[0]


def _jpeg_tree(root: Path, per_class: int, size: int = 32) -> list[Path]:
    """Two classes of small JPEGs per split; returns the training files in the reader's order."""
    rng = np.random.default_rng(0)
    for split in ("train", "test"):
        for c in ("a", "b"):
            (root / split / c).mkdir(parents=True)
            for i in range(per_class if split == "train" else 2):
                pixels = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
                Image.fromarray(pixels).save(root / split / c / f"{i:03d}.jpg")
    return sorted((root / "train").glob("*/*.jpg"))


def test_streamed_damage_outside_the_statistics_sample_is_found_before_training(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 300 training images: the 256-image statistics sample cannot cover them all. Damage one it
    # leaves out (truncated: the header still reads, the pixels do not).
    files = _jpeg_tree(tmp_path / "t", per_class=150)
    sampled = set(torch.randperm(300, generator=torch.Generator().manual_seed(0))[:256].tolist())
    bad = files[min(set(range(300)) - sampled)]
    data = bad.read_bytes()
    bad.write_bytes(data[: len(data) * 2 // 3])
    with pytest.raises(OSError, match="[Tt]runcated"):
        Image.open(bad).load()
    assert imagefolder._read_header(bad) is not None  # the header alone looks fine
    with pytest.raises(CorruptFileError, match=f"{bad.parent.name}/{bad.name}.*truncated"):
        build_dataset("imagefolder", data_dir=tmp_path / "t", stream=True, image_size=8)
    b = build_dataset("imagefolder", data_dir=tmp_path / "t", stream=True, image_size=8, skip_corrupt=True)
    assert b.skipped_corrupt == 1 and len(b.train) == 299 and bad not in b.train.files
    assert all(b.train[i][0].shape == (3, 8, 8) for i in range(len(b.train)))  # every item of an epoch decodes
    # The check is cached by the files' paths, sizes and mtimes: unchanged files are not decoded again.
    calls = []
    real = imagefolder._decode_problem
    monkeypatch.setattr(imagefolder, "_decode_problem", lambda p: calls.append(p) or real(p))
    again = build_dataset("imagefolder", data_dir=tmp_path / "t", stream=True, image_size=8, skip_corrupt=True)
    assert calls == [] and again.train.files == b.train.files
    bad.write_bytes(data)  # repaired: a new mtime and size, so the training split is checked again
    fixed = build_dataset("imagefolder", data_dir=tmp_path / "t", stream=True, image_size=8)
    assert len(calls) == 300 and fixed.skipped_corrupt == 0 and len(fixed.train) == 300


def test_layout_errors(tmp_path: Path) -> None:
    with pytest.raises(DatasetNotFoundError, match="train"):
        build_dataset("imagefolder", data_dir=tmp_path)
    (tmp_path / "train").mkdir()
    with pytest.raises(DatasetNotFoundError, match="val.*test"):
        build_dataset("imagefolder", data_dir=tmp_path)
    (tmp_path / "val").mkdir()
    with pytest.raises(DatasetError, match="no class folders"):  # an empty dataset
        build_dataset("imagefolder", data_dir=tmp_path)
    with pytest.raises(DatasetNotFoundError, match="--data-dir"):
        build_dataset("imagefolder", data_dir=None)


def test_empty_class_and_mismatched_classes(tmp_path: Path) -> None:
    root = _png_tree(tmp_path / "t", "L")
    (root / "train" / "c").mkdir()
    (root / "test" / "c").mkdir()
    with pytest.raises(DatasetError, match=r"train/c: empty class folder"):
        build_dataset("imagefolder", data_dir=root)
    os.rmdir(root / "train" / "c")
    with pytest.raises(DatasetError, match=r"extra here \['c'\]"):
        build_dataset("imagefolder", data_dir=root)
