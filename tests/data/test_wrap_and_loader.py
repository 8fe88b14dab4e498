from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import Dataset

from sadp.data import BatchTransform, DataBundle, DatasetError, DeviceLoader, InMemoryImages, bundle_from_datasets
from sadp.data.wrap import TensorItems


class PilDataset(Dataset):
    """Like a torchvision dataset without transforms: (PIL image, int) items and a ``targets`` list."""

    def __init__(self, n: int, mode: str = "RGB", size: int = 20) -> None:
        rng = np.random.default_rng(n)
        shape = (size, size, 3) if mode == "RGB" else (size, size)
        self.images = [Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8), mode) for _ in range(n)]
        self.targets = [i % 3 for i in range(n)]

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int):
        return self.images[i], self.targets[i]


def test_user_dataset_in_memory() -> None:
    train = PilDataset(12)
    b = bundle_from_datasets(train, PilDataset(6), name="mine")
    assert isinstance(b.train, InMemoryImages) and b.num_classes == 3 and b.sample_shape == (3, 20, 20)
    assert torch.equal(b.train[4][0], torch.from_numpy(np.asarray(train.images[4]).transpose(2, 0, 1).copy()))
    assert b.augment == "crop_flip" and len(b.mean) == 3
    g = bundle_from_datasets(PilDataset(6, "L"), PilDataset(3, "L"), subset=3)
    assert g.sample_shape == (1, 20, 20) and sorted(g.train.targets.tolist()) == [0, 1, 2]


def test_user_dataset_streamed_through_dataloader() -> None:
    b = bundle_from_datasets(PilDataset(10), PilDataset(4), in_memory=False)
    assert isinstance(b.train, TensorItems)
    loader = DeviceLoader(b.train, [7, 2, 5], batch_size=2, device="cpu", transform=BatchTransform(b, train=False))
    batches = list(loader)
    assert [idx.tolist() for _, _, idx in batches] == [[7, 2], [5]]
    x, y, _ = batches[0]
    assert x.dtype == torch.float32 and x.shape == (2, 3, 20, 20) and y.tolist() == [1, 2]


def test_user_dataset_errors() -> None:
    with pytest.raises(DatasetError, match="train dataset is empty"):
        bundle_from_datasets(PilDataset(0), PilDataset(2))

    class Bad(PilDataset):
        def __getitem__(self, i):
            return "text", 0

    with pytest.raises(DatasetError, match="numbers"):
        bundle_from_datasets(Bad(2), Bad(2))


def _event_bundle(n: int = 6, T: int = 3, size: int = 8) -> DataBundle:
    x = torch.rand(n, T, 2, size, size).half()
    ds = InMemoryImages(x, torch.arange(n) % 2)
    return DataBundle("ev", ds, ds, 2, (2, size, size), augment="event", time_steps=T, mean=(0.0,), std=(1.0,))


def test_event_augmentation_flips_and_rolls_all_steps_alike() -> None:
    b = _event_bundle()
    x = b.train.data.float()
    out = BatchTransform(b, train=True, generator=torch.Generator().manual_seed(0), event_roll=2)(b.train.data)
    changed = rolled = 0
    for i in range(len(x)):
        candidates = [
            torch.roll(v, (dy, dx), (-2, -1))
            for v in (x[i], x[i].flip(-1)) for dy in range(-2, 3) for dx in range(-2, 3)
        ]
        assert any(torch.equal(out[i], c) for c in candidates)  # one flip/roll for all T steps of example i
        changed += not torch.equal(out[i], x[i])
        rolled += not (torch.equal(out[i], x[i]) or torch.equal(out[i], x[i].flip(-1)))
    assert changed >= 4 and rolled >= 3
    assert torch.equal(BatchTransform(b, train=False)(b.train.data), x)  # no augmentation at test time


def test_random_crop_is_a_padded_window_per_example() -> None:
    from sadp.data.transforms import random_crop

    x = torch.rand(16, 3, 10, 12)
    out = random_crop(x, 4, torch.Generator().manual_seed(5))
    g = torch.Generator().manual_seed(5)
    dy, dx = torch.randint(0, 9, (16,), generator=g), torch.randint(0, 9, (16,), generator=g)
    xp = torch.nn.functional.pad(x, (4,) * 4)
    expected = torch.stack([xp[b, :, dy[b] : dy[b] + 10, dx[b] : dx[b] + 12] for b in range(16)])
    assert torch.equal(out, expected) and len(set(zip(dy.tolist(), dx.tolist()))) > 1


def test_cpu_batch_assembly_runs_on_one_thread_and_restores() -> None:
    seen = []
    ds = InMemoryImages(torch.zeros(10, 1, 4, 4, dtype=torch.uint8), torch.zeros(10))

    class Record:
        def __call__(self, x: torch.Tensor) -> torch.Tensor:
            seen.append(torch.get_num_threads())
            return x.float()

    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        batches = [x for x, _, _ in DeviceLoader(ds, range(10), 4, "cpu", Record())]  # type: ignore[arg-type]
        assert len(batches) == 3 and seen == [1, 1, 1] and torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
