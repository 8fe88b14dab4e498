"""ImageFolder trees: ``DATA_DIR/train/<class>/*.jpg`` and ``DATA_DIR/val/`` (or ``test/``), gray or RGB.

Two modes, chosen by the decoded size (``stream=None``):

* **in memory** (CIFAR-size folders): every image is decoded once with Pillow, in a thread pool,
  into one uint8 tensor, and cached on disk as ``.npy`` keyed by each file's path, size and mtime,
  so later runs skip decoding. Crop/flip/normalise then run per batch on the training device.
* **streamed** (ImageNet-size folders): DataLoader workers decode each item and resize/crop it to
  ``image_size`` (random-resized crop for training, resize + centre crop for testing); flip and
  normalise run per batch on the device. Before training, every file of both splits is decoded
  once (JPEGs at 1/8 scale) and the undecodable ones are named, or skipped with ``skip_corrupt``;
  the result is cached by the files' paths, sizes and mtimes, so only the first run pays the pass.
"""
from __future__ import annotations

import math
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from PIL import Image
from torch import Tensor
from torch.utils.data import Dataset

from sadp.data.base import (
    DataBundle,
    InMemoryImages,
    balanced_subset_indices,
    channel_stats,
    decode_threads,
    require_all_classes,
)
from sadp.data.cache import cached_arrays, files_key
from sadp.data.errors import CorruptFileError, DatasetError, DatasetNotFoundError, require_data_dir
from sadp.registry import DATASETS

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm")
GRAY_MODES = ("1", "L", "LA", "I", "I;16", "F")
OBTAIN = (
    "arrange images as DATA_DIR/train/<class>/<image> and DATA_DIR/val/<class>/<image> (or test/)"
)
CENTER_CROP_FRACTION = 0.875  # test-time resize to size / 0.875, then centre crop (the ImageNet convention)


def scan_split(split_dir: Path, classes: Sequence[str] | None = None) -> tuple[list[Path], list[int], list[str]]:
    """Image files and labels of one split; errors name an empty class or a split without class folders."""
    found = sorted(d.name for d in split_dir.iterdir() if d.is_dir() and not d.name.startswith("."))
    if not found:
        raise DatasetError(f"{split_dir}: no class folders; expected {split_dir}/<class>/<image files>. {OBTAIN}")
    if classes is not None and list(classes) != found:
        only_train = sorted(set(classes) - set(found))
        only_here = sorted(set(found) - set(classes))
        raise DatasetError(
            f"{split_dir}: class folders differ from the training split's: missing here {only_train}, "
            f"extra here {only_here}. Train and test must have the same class folders."
        )
    files: list[Path] = []
    targets: list[int] = []
    for label, name in enumerate(found):
        images = sorted(
            Path(folder, f)
            for folder, _, names in os.walk(split_dir / name)
            for f in names
            if f.lower().endswith(IMAGE_EXTENSIONS)
        )
        if not images:
            raise DatasetError(
                f"{split_dir / name}: empty class folder (no files ending in {', '.join(IMAGE_EXTENSIONS)}); "
                "add images or remove the folder from every split"
            )
        files += images
        targets += [label] * len(images)
    return files, targets, found


def first_per_class(files: Sequence[Path], targets: Sequence[int], k: int) -> tuple[list[Path], list[int]]:
    """The first ``k`` files of every class, in the given (sorted) order: a fixed subset, the same on every machine."""
    taken: dict[int, int] = {}
    kept_files, kept_targets = [], []
    for f, t in zip(files, targets):
        if taken.get(t, 0) < k:
            taken[t] = taken.get(t, 0) + 1
            kept_files.append(f)
            kept_targets.append(t)
    return kept_files, kept_targets


def _check_per_class(name: str, value: Any) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise ValueError(f"imagefolder option {name} must be a positive integer (images kept per class folder), "
                         f"got {value!r}")


def _fit(im: Image.Image, size: int, scale: float = 1.0) -> Image.Image:
    """Resize the shorter side to ``size / scale`` and centre-crop ``size`` x ``size``."""
    w, h = im.size
    short = max(size, round(size / scale))
    if min(w, h) != short:
        r = short / min(w, h)
        im = im.resize((max(size, round(w * r)), max(size, round(h * r))), Image.BILINEAR)
        w, h = im.size
    left, top = (w - size) // 2, (h - size) // 2
    return im.crop((left, top, left + size, top + size))


def _random_resized_crop(im: Image.Image, size: int, scale: tuple[float, float] = (0.08, 1.0)) -> Image.Image:
    """Inception-style crop: random area fraction and aspect ratio, resized to ``size`` (torch RNG, per worker)."""
    w, h = im.size
    for _ in range(10):
        area = w * h * float(torch.empty(1).uniform_(*scale))
        ratio = math.exp(float(torch.empty(1).uniform_(math.log(3 / 4), math.log(4 / 3))))
        cw, ch = round(math.sqrt(area * ratio)), round(math.sqrt(area / ratio))
        if 0 < cw <= w and 0 < ch <= h:
            left = int(torch.randint(0, w - cw + 1, (1,)))
            top = int(torch.randint(0, h - ch + 1, (1,)))
            return im.resize((size, size), Image.BILINEAR, box=(left, top, left + cw, top + ch))
    return _fit(im, size)


def _to_array(im: Image.Image, channels: int) -> np.ndarray:
    arr = np.asarray(im.convert("L" if channels == 1 else "RGB"), dtype=np.uint8)
    return arr[None] if channels == 1 else arr.transpose(2, 0, 1)


def decode_image(path: Path, channels: int, size: int | None = None) -> np.ndarray:
    """One image as uint8 [C, H, W]; with ``size``, resized and centre-cropped to size x size."""
    try:
        with Image.open(path) as im:
            im.load()
            if size is not None:
                im = _fit(im.convert("L" if channels == 1 else "RGB"), size)
            return _to_array(im, channels)
    except (OSError, ValueError, Image.DecompressionBombError) as e:
        raise CorruptFileError(path, f"{type(e).__name__}: {e}") from None


def _read_header(path: Path) -> tuple[int, int, str] | None:
    """(width, height, mode) from the header only, or None when the file is not a readable image."""
    try:
        with Image.open(path) as im:
            return im.size[0], im.size[1], im.mode
    except (OSError, ValueError, Image.DecompressionBombError):
        return None


def decode_all(
    files: Sequence[Path], targets: Sequence[int], channels: int, size: int | None, skip_corrupt: bool,
    workers: int | None,
) -> tuple[np.ndarray, np.ndarray, int]:
    """Decode ``files`` in a thread pool (Pillow releases the GIL while decoding): (images, labels, skipped).

    Images are written straight into one preallocated array, so peak memory is the decoded set once.
    """
    first = None
    for path in files:  # the first decodable image fixes the shape
        try:
            first = decode_image(path, channels, size)
            break
        except CorruptFileError:
            if not skip_corrupt:
                raise
    if first is None:
        raise DatasetError(f"no decodable images among {len(files)} files (first: {files[0] if files else None})")
    out = np.empty((len(files), *first.shape), dtype=np.uint8)
    ok = np.zeros(len(files), dtype=bool)

    def one(i: int) -> None:
        try:
            img = decode_image(files[i], channels, size)
        except CorruptFileError:
            if skip_corrupt:
                return
            raise
        if img.shape != first.shape:
            raise DatasetError(
                f"images differ in size: {files[i]} is {img.shape[1:]}, others are {first.shape[1:]}; "
                "pass image_size=N to resize and centre-crop them all to N x N"
            )
        out[i] = img
        ok[i] = True

    with ThreadPoolExecutor(decode_threads(workers)) as pool:
        list(pool.map(one, range(len(files)), chunksize=64))
    labels = np.asarray(targets, dtype=np.int64)
    if not ok.all():
        out, labels = out[ok], labels[ok]
    return out, labels, int((~ok).sum())


class StreamedImageFolder(Dataset):
    """Images decoded per item (in DataLoader workers) to uint8 [C, size, size]; ``targets`` without decoding."""

    def __init__(self, files: Sequence[Path], targets: Sequence[int], channels: int, size: int, train: bool) -> None:
        self.files = list(files)
        self.targets = torch.as_tensor(list(targets), dtype=torch.long)
        self.channels, self.size, self.train = channels, size, train

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int) -> tuple[Tensor, int]:
        path = self.files[i]
        try:
            with Image.open(path) as im:
                im = im.convert("L" if self.channels == 1 else "RGB")
                im = _random_resized_crop(im, self.size) if self.train else _fit(im, self.size, CENTER_CROP_FRACTION)
                return torch.from_numpy(_to_array(im, self.channels).copy()), int(self.targets[i])
        except (OSError, ValueError, Image.DecompressionBombError) as e:
            raise CorruptFileError(path, f"{type(e).__name__}: {e}") from None


def _split_dirs(root: Path) -> tuple[Path, Path]:
    train = root / "train"
    if not train.is_dir():
        raise DatasetNotFoundError(train, "training split folder train/<class>/<images>", OBTAIN)
    for name in ("val", "test"):
        if (root / name).is_dir():
            return train, root / name
    raise DatasetNotFoundError(root / "val", "test split folder val/<class>/<images> or test/<class>/<images>", OBTAIN)


def _decode_problem(path: Path) -> str | None:
    """Why ``path`` does not decode fully, or None. JPEGs decode at 1/8 scale (DCT scaling): every
    byte is still read, so truncation and corrupt data show, at a fraction of the cost."""
    try:
        with Image.open(path) as im:
            im.draft(None, (1, 1))  # a no-op for formats other than JPEG
            im.load()
        return None
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as e:
        return f"{type(e).__name__}: {e}"


def _drop_undecodable(
    files: list[Path], targets: list[int], skip_corrupt: bool, workers: int | None, cache: bool,
    cache_dir: str | Path | None,
) -> tuple[list[Path], list[int], int]:
    """Streamed mode: decode every file once before training, so a damaged one is named (or, with
    ``skip_corrupt``, left out) now rather than when an epoch reaches it. The result is cached
    under the files' paths, sizes and mtimes: later runs on unchanged files skip the pass."""
    def check() -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        with ThreadPoolExecutor(decode_threads(workers)) as pool:
            problems = list(pool.map(_decode_problem, files, chunksize=64))
        return {}, {"bad": [[i, p] for i, p in enumerate(problems) if p is not None]}

    _, meta = (cached_arrays("imagefolder-check", files_key(files, check="decode"), check, cache_dir) if cache
               else check())
    bad = {int(i): str(reason) for i, reason in meta["bad"]}
    if bad and not skip_corrupt:
        first = min(bad)
        count = f"{len(bad)} undecodable files" if len(bad) > 1 else "the only undecodable file"
        raise CorruptFileError(files[first],
                               f"{bad[first]} ({count} of {len(files)} in {files[first].parent.parent.name}/)")
    keep = [i for i in range(len(files)) if i not in bad]
    return [files[i] for i in keep], [targets[i] for i in keep], len(bad)


@DATASETS.register("imagefolder", help="DATA_DIR/train/<class>/* and DATA_DIR/val|test/<class>/*, gray or RGB")
def load_imagefolder(
    data_dir: str | Path | None = None,
    subset: int | None = None,
    seed: int = 0,
    skip_corrupt: bool = False,
    image_size: int | None = None,
    stream: bool | None = None,
    in_memory_limit_gb: float = 4.0,
    cache: bool = True,
    cache_dir: str | Path | None = None,
    decode_workers: int | None = None,
    per_class: int | None = None,
    test_per_class: int | None = None,
) -> DataBundle:
    """Read an ImageFolder tree. ``image_size``: resize/crop to N x N (required when sizes differ;
    224 by default when streaming). ``stream``: force a mode (default: stream when the decoded
    training set would exceed ``in_memory_limit_gb``). ``per_class``: keep only the first k images
    (sorted by path) of every class in both splits; ``test_per_class`` sets the test split's own k
    (``subset`` then draws from what is kept)."""
    _check_per_class("per_class", per_class)
    _check_per_class("test_per_class", test_per_class)
    root = require_data_dir(data_dir, "imagefolder", "a folder with train/<class>/ and val/<class>/ (or test/)", OBTAIN)
    root = root.resolve()
    train_dir, test_dir = _split_dirs(root)
    train_files, train_targets, classes = scan_split(train_dir)
    test_files, test_targets, _ = scan_split(test_dir, classes)
    test_k = test_per_class or per_class
    if per_class:
        train_files, train_targets = first_per_class(train_files, train_targets, per_class)
    if test_k:
        test_files, test_targets = first_per_class(test_files, test_targets, test_k)
    if subset:
        keep = balanced_subset_indices(torch.tensor(train_targets), subset, seed).tolist()
        train_files, train_targets = [train_files[i] for i in keep], [train_targets[i] for i in keep]

    first = next((p for p in map(_read_header, train_files[:50]) if p is not None), None)
    if first is None:
        raise CorruptFileError(train_files[0], "none of the first 50 training files is a readable image")
    channels = 1 if first[2] in GRAY_MODES else 3
    h, w = (image_size, image_size) if image_size else (first[1], first[0])
    decoded_gb = len(train_files) * channels * h * w / 1e9
    if stream is None:
        stream = decoded_gb > in_memory_limit_gb
    name = f"imagefolder:{root.name}"
    if stream:
        size = image_size or 224
        train_files, train_targets, s1 = _drop_undecodable(train_files, train_targets, skip_corrupt, decode_workers,
                                                           cache, cache_dir)
        test_files, test_targets, s2 = _drop_undecodable(test_files, test_targets, skip_corrupt, decode_workers,
                                                         cache, cache_dir)
        skipped = s1 + s2
        if not train_files:
            raise DatasetError(f"{train_dir}: no decodable training images")
        # Normalisation statistics from a seeded sample of 256 decoded images (all decode: checked above).
        sample_idx = torch.randperm(len(train_files), generator=torch.Generator().manual_seed(seed))[:256].tolist()
        sample = [decode_image(train_files[i], channels, size) for i in sample_idx]
        train = StreamedImageFolder(train_files, train_targets, channels, size, train=True)
        test = StreamedImageFolder(test_files, test_targets, channels, size, train=False)
        mean, std = channel_stats(torch.from_numpy(np.stack(sample)))
        return DataBundle(
            name=name, train=train, test=test, num_classes=len(classes), sample_shape=(channels, size, size),
            classes=classes, mean=mean, std=std, augment="flip", skipped_corrupt=skipped,
            extra={"mode": "stream", "root": str(root)},
        )

    def build() -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        xtr, ytr, s1 = decode_all(train_files, train_targets, channels, image_size, skip_corrupt, decode_workers)
        xte, yte, s2 = decode_all(test_files, test_targets, channels, image_size, skip_corrupt, decode_workers)
        if xtr.shape[1:] != xte.shape[1:]:
            raise DatasetError(
                f"{train_dir} images are {tuple(xtr.shape[1:])} but {test_dir} images are {tuple(xte.shape[1:])}; "
                "pass image_size=N to bring both to N x N"
            )
        return {"train_x": xtr, "train_y": ytr, "test_x": xte, "test_y": yte}, {"skipped_corrupt": s1 + s2}

    if cache:
        key = files_key([*train_files, *test_files], channels=channels, size=image_size, skip=skip_corrupt,
                        n_train=len(train_files))
        arrays, meta = cached_arrays("imagefolder", key, build, cache_dir)
    else:
        arrays, meta = build()
    train = InMemoryImages(torch.from_numpy(arrays["train_x"]), torch.from_numpy(arrays["train_y"]))
    test = InMemoryImages(torch.from_numpy(arrays["test_x"]), torch.from_numpy(arrays["test_y"]))
    for split, ds in (("train", train), ("test", test)):
        require_all_classes(ds.targets, classes, f"{root} {split} split")
    mean, std = channel_stats(train.data)
    hh, ww = train.data.shape[-2:]
    return DataBundle(
        name=name, train=train, test=test, num_classes=len(classes), sample_shape=(channels, hh, ww),
        classes=classes, mean=mean, std=std, augment="crop_flip" if min(hh, ww) >= 16 else "flip",
        skipped_corrupt=int(meta["skipped_corrupt"]), extra={"mode": "memory", "root": str(root)},
    )
