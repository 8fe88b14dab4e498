"""Writers of the published on-disk formats, used by the tests to create real files.

Each writer follows the format's documentation, independently of the readers in ``sadp.data``.
"""
from __future__ import annotations

import pickle
import struct
from pathlib import Path

import numpy as np


def write_cifar_pickle(path: Path, payload: dict) -> None:
    """As the official files: a protocol-2 pickle whose keys load as bytes (they were Python 2 str)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        pickle.dump({k.encode(): v for k, v in payload.items()}, f, protocol=2)


def write_cifar10(root: Path, per_batch: int = 4, seed: int = 0) -> tuple[np.ndarray, list[int]]:
    """``root/cifar-10-batches-py/``: five train batches, a test batch and batches.meta. Returns train data/labels."""
    rng = np.random.default_rng(seed)
    d = root / "cifar-10-batches-py"
    all_data, all_labels = [], []
    for i in range(1, 6):
        data = rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8)
        labels = [int(v) for v in rng.integers(0, 10, per_batch)]
        labels[:2] = [(2 * i) % 10, (2 * i + 1) % 10]  # every class appears in the training set
        write_cifar_pickle(d / f"data_batch_{i}", {"batch_label": f"training batch {i} of 5", "labels": labels,
                                                  "data": data,
                                                  "filenames": [f"img_{i}_{j}.png" for j in range(per_batch)]})
        all_data.append(data)
        all_labels += labels
    test = rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8)
    write_cifar_pickle(d / "test_batch", {"batch_label": "testing batch 1 of 1",
                                          "labels": [j % 10 for j in range(per_batch)],
                                          "data": test, "filenames": ["t.png"] * per_batch})
    names = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
    write_cifar_pickle(d / "batches.meta", {"label_names": names, "num_cases_per_batch": per_batch, "num_vis": 3072})
    return np.concatenate(all_data), all_labels


def write_cifar100(root: Path, n: int = 8, seed: int = 0) -> tuple[np.ndarray, list[int], list[int]]:
    rng = np.random.default_rng(seed)
    d = root / "cifar-100-python"
    out = None
    for split in ("train", "test"):
        data = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
        fine = [int(v) for v in rng.integers(0, 100, n)]
        coarse = [f // 5 for f in fine]
        write_cifar_pickle(d / split, {"filenames": ["x.png"] * n, "batch_label": split, "fine_labels": fine,
                                       "coarse_labels": coarse, "data": data})
        out = out or (data, fine, coarse)
    write_cifar_pickle(d / "meta", {"fine_label_names": [f"fine{i}" for i in range(100)],
                                    "coarse_label_names": [f"coarse{i}" for i in range(20)]})
    return out  # type: ignore[return-value]


def write_nmnist_bin(path: Path, x: np.ndarray, y: np.ndarray, p: np.ndarray, t: np.ndarray) -> None:
    """N-MNIST: 40 bits per event: x (8), y (8), polarity (1), timestamp (23 bits, us), big-endian."""
    path.parent.mkdir(parents=True, exist_ok=True)
    out = bytearray()
    for xi, yi, pi, ti in zip(x, y, p, t):
        out += bytes([int(xi), int(yi), (int(pi) << 7) | ((int(ti) >> 16) & 0x7F), (int(ti) >> 8) & 0xFF,
                      int(ti) & 0xFF])
    path.write_bytes(bytes(out))


def write_aedat2_dvs128(path: Path, x_raw: np.ndarray, y_raw: np.ndarray, p: np.ndarray, t: np.ndarray) -> None:
    """jAER AEDAT 2.0 with DVS128 addresses (raw sensor axes): addr = y << 8 | x << 1 | p, big-endian pairs."""
    path.parent.mkdir(parents=True, exist_ok=True)
    header = (b"#!AER-DAT2.0\r\n# This is a raw AE data file - do not edit\r\n"
              b"# Data format is int32 address, int32 timestamp (8 bytes total)\r\n")
    body = bytearray()
    for xi, yi, pi, ti in zip(x_raw, y_raw, p, t):
        body += struct.pack(">II", (int(yi) << 8) | (int(xi) << 1) | int(pi), int(ti))
    path.write_bytes(header + bytes(body))


def _aedat31_packet(etype: int, events: list[tuple[int, int]], overflow: int = 0) -> bytes:
    """One AEDAT 3.1 packet: 28-byte header (type, source, size, ts offset, overflow, capacity, number, valid)."""
    head = struct.pack("<hhiiiiii", etype, 1, 8, 4, overflow, len(events), len(events), len(events))
    return head + b"".join(struct.pack("<Ii", d, ts) for d, ts in events)


def write_aedat31(path: Path, packets: list[tuple[int, list[tuple[int, int, int, int]], int]]) -> None:
    """DVS128 Gesture AEDAT 3.1. ``packets``: (event type, [(x, y, p, t)], ts overflow); type 1 = polarity."""
    path.parent.mkdir(parents=True, exist_ok=True)
    header = b"#!AER-DAT3.1\r\n#Format: RAW\r\n#Source 1: DVS128\r\n#!END-HEADER\r\n"
    body = b""
    for etype, evs, overflow in packets:
        body += _aedat31_packet(etype, [((x << 17) | (y << 2) | (p << 1) | 1, t) for x, y, p, t in evs], overflow)
    path.write_bytes(header + body)
