"""The embedded default: scikit-learn's bundled handwritten digits (1,797 real 8x8 images, no download)."""
from __future__ import annotations

import numpy as np
import torch

from sadp.data.base import DataBundle, InMemoryImages, balanced_subset_indices
from sadp.registry import DATASETS

SPLIT_SEED = 0  # the train/test split is fixed, independent of the run's seed
TEST_FRACTION = 0.2


@DATASETS.register("digits", help="scikit-learn's bundled 8x8 handwritten digits (embedded default, 1797 images)")
def load_digits_bundle(subset: int | None = None, seed: int = 0) -> DataBundle:
    from sklearn.datasets import load_digits

    d = load_digits()
    images = np.round(d.images * (255.0 / 16.0)).astype(np.uint8)[:, None]  # [N, 1, 8, 8], 0..16 -> 0..255
    targets = d.target.astype(np.int64)
    perm = np.random.default_rng(SPLIT_SEED).permutation(len(targets))
    n_test = int(round(TEST_FRACTION * len(targets)))
    test_idx, train_idx = np.sort(perm[:n_test]), np.sort(perm[n_test:])
    train = InMemoryImages(torch.from_numpy(images[train_idx]), torch.from_numpy(targets[train_idx]))
    test = InMemoryImages(torch.from_numpy(images[test_idx]), torch.from_numpy(targets[test_idx]))
    if subset:
        train = train.subset(balanced_subset_indices(train.targets, subset, seed))
    mean = float(train.data.float().mean() / 255)
    std = float(train.data.float().std() / 255)
    return DataBundle(
        name="digits",
        train=train,
        test=test,
        num_classes=10,
        sample_shape=(1, 8, 8),
        classes=[str(i) for i in range(10)],
        mean=(mean,),
        std=(std,),
        augment="none",
    )
