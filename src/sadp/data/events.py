"""Event-camera datasets from their published files, binned into T frames once and cached on disk.

Readers of the published formats (small numpy code; no tonic needed, see docs/datasets.md):

* N-MNIST (Orchard et al. 2015): ``Train/<digit>/*.bin`` and ``Test/<digit>/*.bin``; 5 bytes per
  event: x, y, then 1 polarity bit and a 23-bit timestamp in microseconds (big-endian). 34 x 34.
* CIFAR10-DVS (Li et al. 2017): ``<class>/*.aedat`` in jAER AEDAT 2.0 (``#`` header lines, then
  big-endian uint32 address and timestamp pairs; DVS128 address bits). No official split: the
  first 90% of each class (by file number) train, the rest test. 128 x 128.
* DVS128 Gesture (Amir et al. 2017): ``DvsGesture/userNN_<light>.aedat`` in AEDAT 3.1 (packets of
  polarity events) with ``userNN_<light>_labels.csv`` (class, start, end in microseconds) and
  ``trials_to_train.txt`` / ``trials_to_test.txt``. Each labelled interval is one example. 128 x 128.

Binning: events split into T slices of equal event count (SpikingJelly's ``split_by="number"``),
counted per polarity into frames [T, 2, H, W]; ``frame_size`` pools coordinates to a smaller grid.
"""
from __future__ import annotations

import csv
import re
import struct
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch

from sadp.data.base import DataBundle, InMemoryImages, balanced_subset_indices, decode_threads, require_all_classes
from sadp.data.cache import cached_arrays, files_key
from sadp.data.errors import CorruptFileError, DatasetError, DatasetNotFoundError, require_data_dir
from sadp.registry import DATASETS

EVENT_DTYPE = np.dtype([("t", np.int64), ("x", np.int16), ("y", np.int16), ("p", np.int8)])


def _events(t: np.ndarray, x: np.ndarray, y: np.ndarray, p: np.ndarray) -> np.ndarray:
    ev = np.empty(len(t), dtype=EVENT_DTYPE)
    ev["t"], ev["x"], ev["y"], ev["p"] = t, x, y, p
    return ev


# -- readers of the published formats ----------------------------------------------------
def read_nmnist(path: str | Path) -> np.ndarray:
    """N-MNIST ``.bin``: 40 bits per event (x 8, y 8, polarity 1, timestamp 23 bits, big-endian)."""
    raw = np.fromfile(path, dtype=np.uint8)
    if len(raw) == 0 or len(raw) % 5:
        raise CorruptFileError(path, f"{len(raw)} bytes; an N-MNIST file holds 5 bytes per event")
    raw = raw.reshape(-1, 5).astype(np.uint32)
    t = ((raw[:, 2] & 0x7F) << 16) | (raw[:, 3] << 8) | raw[:, 4]
    ev = _events(t, raw[:, 0], raw[:, 1], raw[:, 2] >> 7)
    if ev["x"].max() >= 34 or ev["y"].max() >= 34:
        raise CorruptFileError(path, "coordinates beyond the 34 x 34 N-MNIST sensor")
    return ev


def _skip_hash_header(data: bytes) -> int:
    """Offset just past the ``#`` comment lines that start AEDAT 2.0 and 3.1 files (3.1 ends them with #!END-HEADER)."""
    pos = 0
    while data[pos : pos + 1] == b"#":
        end = data.find(b"\n", pos)
        if end < 0:
            return len(data)
        line, pos = data[pos:end], end + 1
        if line.startswith(b"#!END-HEADER"):
            break
    return pos


def read_aedat2_dvs128(path: str | Path) -> np.ndarray:
    """CIFAR10-DVS ``.aedat`` (jAER AEDAT 2.0, DVS128 addresses), oriented as SpikingJelly does."""
    data = Path(path).read_bytes()
    if not data.startswith(b"#!AER-DAT2"):
        raise CorruptFileError(path, "missing the '#!AER-DAT2.0' header line of a CIFAR10-DVS .aedat file")
    body = data[_skip_hash_header(data) :]
    if len(body) == 0 or len(body) % 8:
        raise CorruptFileError(path, f"{len(body)} bytes of events; AEDAT 2.0 holds 8 bytes per event")
    words = np.frombuffer(body, dtype=">u4")
    addr, t = words[0::2], words[1::2]
    x_raw, y_raw, p = (addr >> 1) & 0x7F, (addr >> 8) & 0x7F, addr & 1
    # jAER's DVS128 axes are mirrored and swapped relative to the image (SpikingJelly / events-tfds).
    return _events(t.astype(np.int64), 127 - y_raw, 127 - x_raw, 1 - p)


def read_aedat31_polarity(path: str | Path) -> np.ndarray:
    """DVS128 Gesture ``.aedat`` (AEDAT 3.1): polarity-event packets; other packet types are skipped."""
    data = Path(path).read_bytes()
    if not data.startswith(b"#!AER-DAT3"):
        raise CorruptFileError(path, "missing the '#!AER-DAT3.1' header line of a DVS128 Gesture .aedat file")
    pos = _skip_hash_header(data)
    chunks: list[np.ndarray] = []
    while pos < len(data):
        if pos + 28 > len(data):
            raise CorruptFileError(path, f"truncated packet header at byte {pos}")
        etype, _src, esize, _off, overflow, capacity, number, _valid = struct.unpack_from("<hhiiiiii", data, pos)
        pos += 28
        end = pos + capacity * esize
        if esize <= 0 or capacity < number or end > len(data):
            raise CorruptFileError(path, f"bad or truncated packet at byte {pos - 28}")
        if etype == 1:  # polarity events: uint32 data, int32 timestamp
            block = np.frombuffer(data, dtype="<u4", count=number * esize // 4, offset=pos).reshape(number, esize // 4)
            d, ts = block[:, 0], block[:, 1].astype(np.int64) | (np.int64(overflow) << 31)
            chunks.append(_events(ts, (d >> 17) & 0x7FFF, (d >> 2) & 0x7FFF, (d >> 1) & 1))
        pos = end
    if not chunks:
        raise CorruptFileError(path, "no polarity events")
    return np.concatenate(chunks)


# -- binning ------------------------------------------------------------------------------
def bin_events(events: np.ndarray, T: int, sensor: tuple[int, int], size: tuple[int, int] | None = None) -> np.ndarray:
    """Events -> float16 counts [T, 2, H, W]: T slices of equal event count, one channel per polarity."""
    H, W = sensor
    h, w = size or sensor
    frames = np.zeros((T, 2, h, w), dtype=np.float32)
    n = len(events)
    if n == 0:
        return frames.astype(np.float16)
    ev = events[np.argsort(events["t"], kind="stable")]
    slice_of = (np.arange(n) * T) // n  # equal-count slices
    ys = ev["y"].astype(np.int64) * h // H
    xs = ev["x"].astype(np.int64) * w // W
    flat = ((slice_of * 2 + ev["p"].astype(np.int64)) * h + ys) * w + xs
    np.add.at(frames.reshape(-1), flat, 1.0)
    return frames.astype(np.float16)  # counts stay exact up to 2048 per pixel and slice


# -- datasets -----------------------------------------------------------------------------
@dataclass
class EventSample:
    """One example: a file, optionally a time window inside it, and its label."""

    path: Path
    label: int
    window: tuple[int, int] | None = None  # [start, end) in microseconds


def _bin_samples(
    samples: Sequence[EventSample],
    reader: Callable[[Path], np.ndarray],
    T: int,
    sensor: tuple[int, int],
    size: tuple[int, int],
    skip_corrupt: bool,
    workers: int | None,
) -> tuple[np.ndarray, np.ndarray, int]:
    """Read and bin all samples (files shared by several windows are read once)."""
    by_file: dict[Path, list[int]] = {}
    for i, s in enumerate(samples):
        by_file.setdefault(s.path, []).append(i)
    frames: list[np.ndarray | None] = [None] * len(samples)

    def one(path: Path) -> None:
        try:
            ev = reader(path)
        except CorruptFileError:
            if skip_corrupt:
                return
            raise
        except Exception as e:  # anything else a malformed file can raise
            if skip_corrupt:
                return
            raise CorruptFileError(path, f"{type(e).__name__}: {e}") from None
        for i in by_file[path]:
            win = samples[i].window
            sel = ev if win is None else ev[(ev["t"] >= win[0]) & (ev["t"] < win[1])]
            frames[i] = bin_events(sel, T, sensor, size)

    with ThreadPoolExecutor(decode_threads(workers)) as pool:
        list(pool.map(one, by_file))
    keep = [i for i, f in enumerate(frames) if f is not None]
    if not keep:
        raise DatasetError(f"no readable event files among {len(by_file)} (first: {next(iter(by_file), None)})")
    x = np.stack([frames[i] for i in keep])  # type: ignore[misc]
    y = np.asarray([samples[i].label for i in keep], dtype=np.int64)
    return x, y, len(samples) - len(keep)


def _event_bundle(
    name: str,
    train: list[EventSample],
    test: list[EventSample],
    classes: list[str],
    reader: Callable[[Path], np.ndarray],
    sensor: tuple[int, int],
    T: int,
    frame_size: int | None,
    subset: int | None,
    seed: int,
    skip_corrupt: bool,
    cache: bool,
    cache_dir: str | Path | None,
    workers: int | None,
) -> DataBundle:
    if T < 1:
        raise ValueError(f"time_steps must be >= 1, got {T}")
    for split, items in (("training", train), ("test", test)):
        if not items:
            raise DatasetError(f"{name}: the {split} split is empty")
        missing = sorted(set(range(len(classes))) - {s.label for s in items})
        if missing:
            raise DatasetError(f"{name}: the {split} split has no examples of classes {[classes[i] for i in missing]}")
    if subset:
        keep = balanced_subset_indices(torch.tensor([s.label for s in train]), subset, seed).tolist()
        train = [train[i] for i in keep]
    size = (frame_size, frame_size) if frame_size else sensor

    def build() -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        xtr, ytr, s1 = _bin_samples(train, reader, T, sensor, size, skip_corrupt, workers)
        xte, yte, s2 = _bin_samples(test, reader, T, sensor, size, skip_corrupt, workers)
        return {"train_x": xtr, "train_y": ytr, "test_x": xte, "test_y": yte}, {"skipped_corrupt": s1 + s2}

    if cache:
        files = sorted({s.path for s in (*train, *test)})
        windows = [(str(s.path), s.window, s.label) for s in (*train, *test)]
        key = files_key(files, name=name, T=T, size=size, skip=skip_corrupt, windows=windows)
        arrays, meta = cached_arrays(name, key, build, cache_dir)
    else:
        arrays, meta = build()
    to_ds = lambda x, y: InMemoryImages(torch.from_numpy(x), torch.from_numpy(y))  # noqa: E731
    for split in ("train", "test"):
        require_all_classes(torch.from_numpy(arrays[f"{split}_y"]), classes, f"{name} {split} split")
    return DataBundle(
        name=name, train=to_ds(arrays["train_x"], arrays["train_y"]), test=to_ds(arrays["test_x"], arrays["test_y"]),
        num_classes=len(classes), sample_shape=(2, *size), classes=classes, mean=(0.0,), std=(1.0,),
        augment="event", time_steps=T, skipped_corrupt=int(meta["skipped_corrupt"]),
    )


def _class_files(folder: Path, suffix: str, obtain: str,
                 classes: Sequence[str] | None = None) -> tuple[list[EventSample], list[str]]:
    if not folder.is_dir():
        raise DatasetNotFoundError(folder, f"folder of class sub-folders holding *{suffix} files", obtain)
    names = list(classes) if classes else sorted(d.name for d in folder.iterdir() if d.is_dir())
    if not names:
        raise DatasetError(f"{folder}: no class folders; expected {folder}/<class>/*{suffix}. {obtain}")
    samples = []
    for label, c in enumerate(names):
        d = folder / c
        if not d.is_dir():
            raise DatasetNotFoundError(d, f"class folder {c}/ with *{suffix} files", obtain)
        files = sorted(d.glob(f"*{suffix}"), key=_natural)
        if not files:
            raise DatasetError(f"{d}: empty class folder (no *{suffix} files). {obtain}")
        samples += [EventSample(f, label) for f in files]
    return samples, names


def _natural(p: Path) -> tuple:
    return tuple(int(s) if s.isdigit() else s for s in re.split(r"(\d+)", p.name))


NMNIST_OBTAIN = ("download Train.zip and Test.zip from https://www.garrickorchard.com/datasets/n-mnist "
                 "and unzip both into DATA_DIR")
CIFAR10_DVS_OBTAIN = ("download the ten class zips from https://figshare.com/articles/dataset/CIFAR10-DVS_New/4724671 "
                      "and unzip each into DATA_DIR (DATA_DIR/airplane/*.aedat, ...)")
GESTURE_OBTAIN = ("download DvsGesture.tar.gz from https://research.ibm.com/interactive/dvsgesture/ "
                  "and run `tar xzf DvsGesture.tar.gz -C DATA_DIR`")
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
GESTURE_CLASSES = (
    "hand_clapping", "right_hand_wave", "left_hand_wave", "right_arm_clockwise", "right_arm_counter_clockwise",
    "left_arm_clockwise", "left_arm_counter_clockwise", "arm_roll", "air_drums", "air_guitar", "other_gestures",
)


@DATASETS.register("nmnist", help="N-MNIST: DATA_DIR/Train/<digit>/*.bin, DATA_DIR/Test/<digit>/*.bin (34x34, T=10)")
def load_nmnist(
    data_dir: str | Path | None = None, subset: int | None = None, seed: int = 0, skip_corrupt: bool = False,
    time_steps: int = 10, frame_size: int | None = None, cache: bool = True, cache_dir: str | Path | None = None,
    decode_workers: int | None = None,
) -> DataBundle:
    root = require_data_dir(data_dir, "nmnist", "the folder holding Train/ and Test/", NMNIST_OBTAIN)
    digits = [str(d) for d in range(10)]
    train, _ = _class_files(root / "Train", ".bin", NMNIST_OBTAIN, digits)
    test, _ = _class_files(root / "Test", ".bin", NMNIST_OBTAIN, digits)
    return _event_bundle("nmnist", train, test, digits, read_nmnist, (34, 34), time_steps, frame_size,
                         subset, seed, skip_corrupt, cache, cache_dir, decode_workers)


@DATASETS.register("cifar10_dvs", help="CIFAR10-DVS: DATA_DIR/<class>/*.aedat (AEDAT 2.0); 90/10 split; 48x48, T=10")
def load_cifar10_dvs(
    data_dir: str | Path | None = None, subset: int | None = None, seed: int = 0, skip_corrupt: bool = False,
    time_steps: int = 10, frame_size: int | None = 48, train_fraction: float = 0.9, cache: bool = True,
    cache_dir: str | Path | None = None, decode_workers: int | None = None,
) -> DataBundle:
    root = require_data_dir(data_dir, "cifar10_dvs", "the folder holding airplane/ ... truck/", CIFAR10_DVS_OBTAIN)
    samples, classes = _class_files(root, ".aedat", CIFAR10_DVS_OBTAIN, CIFAR10_CLASSES)
    train, test = [], []
    for label in range(len(classes)):
        mine = [s for s in samples if s.label == label]
        cut = max(1, min(len(mine) - 1, round(train_fraction * len(mine))))  # at least one example each side
        train += mine[:cut]
        test += mine[cut:]
    return _event_bundle("cifar10_dvs", train, test, list(classes), read_aedat2_dvs128, (128, 128), time_steps,
                         frame_size, subset, seed, skip_corrupt, cache, cache_dir, decode_workers)


def _gesture_trials(root: Path, listing: str) -> list[EventSample]:
    path = root / listing
    if not path.is_file():
        raise DatasetNotFoundError(path, f"the DVS128 Gesture split list {listing}", GESTURE_OBTAIN)
    samples = []
    for line in path.read_text().split():
        aedat = root / line.strip()
        labels = aedat.with_name(aedat.stem + "_labels.csv")
        if not aedat.is_file():
            raise DatasetNotFoundError(aedat, f"recording listed in {listing}", GESTURE_OBTAIN)
        if not labels.is_file():
            raise DatasetNotFoundError(labels, f"label file of {aedat.name}", GESTURE_OBTAIN)
        with open(labels, newline="") as f:
            rows = list(csv.reader(f))
        try:
            for row in rows[1:]:  # header: class,startTime_usec,endTime_usec
                if row:
                    cls, start, end = (int(v) for v in row[:3])
                    if not 1 <= cls <= len(GESTURE_CLASSES):
                        raise ValueError(f"class {cls} outside 1..{len(GESTURE_CLASSES)}")
                    samples.append(EventSample(aedat, cls - 1, (start, end)))
        except (ValueError, IndexError) as e:
            raise CorruptFileError(labels, f"expected rows 'class,startTime_usec,endTime_usec' ({e})") from None
    return samples


@DATASETS.register("dvs128_gesture", help="DVS128 Gesture: DATA_DIR/DvsGesture/ (AEDAT 3.1 + labels csv); 64x64, T=16")
def load_dvs128_gesture(
    data_dir: str | Path | None = None, subset: int | None = None, seed: int = 0, skip_corrupt: bool = False,
    time_steps: int = 16, frame_size: int | None = 64, cache: bool = True, cache_dir: str | Path | None = None,
    decode_workers: int | None = None,
) -> DataBundle:
    root = require_data_dir(data_dir, "dvs128_gesture", "the folder holding DvsGesture/", GESTURE_OBTAIN)
    if (root / "DvsGesture").is_dir():
        root = root / "DvsGesture"
    train = _gesture_trials(root, "trials_to_train.txt")
    test = _gesture_trials(root, "trials_to_test.txt")
    return _event_bundle("dvs128_gesture", train, test, list(GESTURE_CLASSES), read_aedat31_polarity, (128, 128),
                         time_steps, frame_size, subset, seed, skip_corrupt, cache, cache_dir, decode_workers)
