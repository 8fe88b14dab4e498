from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from sadp.data import CorruptFileError, DatasetError, DatasetNotFoundError, build_dataset, events
from sadp.data.events import bin_events, read_aedat2_dvs128, read_aedat31_polarity, read_nmnist

from .formats import write_aedat2_dvs128, write_aedat31, write_nmnist_bin

RNG = np.random.default_rng(0)


def _random_events(n: int, size: int, t_max: int = 300_000) -> tuple[np.ndarray, ...]:
    return (RNG.integers(0, size, n), RNG.integers(0, size, n), RNG.integers(0, 2, n),
            np.sort(RNG.integers(0, t_max, n)))


def test_nmnist_reader_decodes_every_field(tmp_path: Path) -> None:
    x, y, p, t = _random_events(50, 34, t_max=2**23)
    write_nmnist_bin(tmp_path / "a.bin", x, y, p, t)
    ev = read_nmnist(tmp_path / "a.bin")
    assert np.array_equal(ev["x"], x) and np.array_equal(ev["y"], y)
    assert np.array_equal(ev["p"], p) and np.array_equal(ev["t"], t)


def test_aedat2_reader_maps_dvs128_axes(tmp_path: Path) -> None:
    x, y, p, t = _random_events(40, 128)
    write_aedat2_dvs128(tmp_path / "a.aedat", x, y, p, t)
    ev = read_aedat2_dvs128(tmp_path / "a.aedat")
    # SpikingJelly's orientation of CIFAR10-DVS: image x = 127 - sensor y, image y = 127 - sensor x, p flipped.
    assert np.array_equal(ev["x"], 127 - y) and np.array_equal(ev["y"], 127 - x)
    assert np.array_equal(ev["p"], 1 - p) and np.array_equal(ev["t"], t)


def test_aedat31_reader_joins_packets_and_skips_other_types(tmp_path: Path) -> None:
    a = [(1, 2, 1, 10), (127, 0, 0, 20)]
    b = [(5, 6, 1, 7)]
    write_aedat31(tmp_path / "g.aedat", [(1, a, 0), (2, [(9, 9, 0, 15)], 0), (1, b, 1)])
    ev = read_aedat31_polarity(tmp_path / "g.aedat")
    assert ev["x"].tolist() == [1, 127, 5] and ev["y"].tolist() == [2, 0, 6] and ev["p"].tolist() == [1, 0, 1]
    assert ev["t"].tolist() == [10, 20, 7 + (1 << 31)]  # timestamp overflow counter extends time


def test_bin_events_equal_count_slices_per_polarity() -> None:
    ev = events._events(np.arange(8), np.array([0, 1, 2, 3, 0, 1, 2, 3]), np.zeros(8, int), np.array([0, 1] * 4))
    f = bin_events(ev, T=2, sensor=(4, 4))
    assert f.shape == (2, 2, 4, 4) and f.dtype == np.float16 and f.sum() == 8
    assert f[0, 0, 0].tolist() == [1, 0, 1, 0] and f[0, 1, 0].tolist() == [0, 1, 0, 1]
    pooled = bin_events(ev, T=1, sensor=(4, 4), size=(2, 2))
    assert pooled[0, :, 0].tolist() == [[2, 2], [2, 2]]


def _nmnist_tree(root: Path, per_class: int = 2) -> Path:
    for split in ("Train", "Test"):
        for d in range(10):
            for i in range(per_class):
                write_nmnist_bin(root / split / str(d) / f"{i:05d}.bin", *_random_events(60, 34))
    return root


def test_nmnist_bundle_and_frame_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = _nmnist_tree(tmp_path / "nm")
    b = build_dataset("nmnist", data_dir=root, time_steps=5)
    assert (len(b.train), len(b.test), b.time_steps, b.sample_shape, b.augment) == (20, 20, 5, (2, 34, 34), "event")
    x, y = b.train[3]
    assert x.shape == (5, 2, 34, 34) and y == 1 and float(x.sum()) == 60
    sub = build_dataset("nmnist", data_dir=root, time_steps=5, subset=10)
    assert torch.bincount(sub.train.targets).tolist() == [1] * 10
    monkeypatch.setattr(events, "read_nmnist", lambda p: (_ for _ in ()).throw(AssertionError("re-binned")))
    again = build_dataset("nmnist", data_dir=root, time_steps=5)  # binned frames come from the disk cache
    assert torch.equal(again.train.data, b.train.data)
    with pytest.raises(CorruptFileError, match="re-binned"):  # another T is another cache entry
        build_dataset("nmnist", data_dir=root, time_steps=6)


def test_cifar10_dvs_bundle_and_split(tmp_path: Path) -> None:
    for c in events.CIFAR10_CLASSES:
        for i in range(3):
            write_aedat2_dvs128(tmp_path / c / f"cifar10_{c}_{i}.aedat", *_random_events(100, 128))
    b = build_dataset("cifar10_dvs", data_dir=tmp_path, time_steps=4, frame_size=32)
    assert (len(b.train), len(b.test), b.sample_shape, b.num_classes) == (20, 10, (2, 32, 32), 10)
    assert b.train.data.shape == (20, 4, 2, 32, 32) and float(b.train.data[0].float().sum()) == 100


def _gesture_tree(root: Path) -> Path:
    d = root / "DvsGesture"
    for user, listing in (("user01_fluorescent", "trials_to_train.txt"), ("user24_led", "trials_to_test.txt")):
        evs = [(int(x), int(y), int(p), int(t)) for x, y, p, t in zip(*_random_events(2200, 128, t_max=1_100_000))]
        write_aedat31(d / f"{user}.aedat", [(1, evs[:1000], 0), (1, evs[1000:], 0)])
        rows = "class,startTime_usec,endTime_usec\n" + "".join(f"{c},{c * 100_000},{c * 100_000 + 90_000}\n"
                                                                for c in range(1, 12))
        (d / f"{user}_labels.csv").write_text(rows)
        (d / listing).write_text(f"{user}.aedat\n")
    return root


def test_dvs128_gesture_slices_recordings_by_label(tmp_path: Path) -> None:
    root = _gesture_tree(tmp_path)
    b = build_dataset("dvs128_gesture", data_dir=root, time_steps=3, frame_size=16)
    assert (len(b.train), len(b.test), b.num_classes, b.sample_shape) == (11, 11, 11, (2, 16, 16))
    assert b.train.targets.tolist() == list(range(11))
    ev = read_aedat31_polarity(root / "DvsGesture" / "user01_fluorescent.aedat")
    in_first = ((ev["t"] >= 100_000) & (ev["t"] < 190_000)).sum()
    assert float(b.train.data[0].float().sum()) == in_first


def test_event_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(DatasetNotFoundError, match=r"Train.*\n.*n-mnist"):
        build_dataset("nmnist", data_dir=tmp_path)
    root = _nmnist_tree(tmp_path / "nm", per_class=1)
    bad = root / "Train" / "4" / "00000.bin"
    bad.write_bytes(bad.read_bytes()[:-2])  # not a whole number of 5-byte events
    with pytest.raises(CorruptFileError, match="Train/4/00000.bin"):
        build_dataset("nmnist", data_dir=root)
    with pytest.raises(DatasetError, match="no examples of classes \\['4'\\]"):
        build_dataset("nmnist", data_dir=root, skip_corrupt=True)
    (root / "Train" / "4" / "00001.bin").write_bytes((root / "Train" / "3" / "00000.bin").read_bytes())
    b = build_dataset("nmnist", data_dir=root, skip_corrupt=True)
    assert b.skipped_corrupt == 1 and len(b.train) == 10
    (tmp_path / "dvs" / "airplane").mkdir(parents=True)
    (tmp_path / "dvs" / "airplane" / "x.aedat").write_bytes(b"garbage")
    with pytest.raises(DatasetNotFoundError, match="automobile"):
        build_dataset("cifar10_dvs", data_dir=tmp_path / "dvs")
    g = _gesture_tree(tmp_path / "g")
    (g / "DvsGesture" / "user24_led_labels.csv").unlink()
    with pytest.raises(DatasetNotFoundError, match="user24_led_labels.csv"):
        build_dataset("dvs128_gesture", data_dir=g)
    (g / "DvsGesture" / "user24_led_labels.csv").write_text("class,startTime_usec,endTime_usec\n1,abc,5\n")
    with pytest.raises(CorruptFileError, match="user24_led_labels.csv"):
        build_dataset("dvs128_gesture", data_dir=g)
