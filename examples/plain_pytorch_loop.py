"""SADP in an ordinary PyTorch training loop: five changed lines, the import and four in the
loop, each marked ``# sadp``, plus an optional line printing what the pruner did.

``train_full`` is the ordinary loop; ``train_pruned`` is the same loop with spike-aware dynamic
data pruning (tests/examples checks that the two differ in exactly the marked lines). Runs on the
embedded digits in seconds: ``python examples/plain_pytorch_loop.py``. Works the same with any
model that returns per-step logits [T, B, K] and has its classifier as ``model.head`` or as its
last ``nn.Linear`` (else pass ``head=`` to the Pruner), and any map-style dataset of ``(x, y)``
items. Each epoch prints the Pruner's report (``sadp.EpochReport``): examples selected and
trained, loss weights' range, and the spike statistics SADP's score is built from.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset

import sadp  # sadp
from sadp.data import build_dataset
from sadp.snn import build_model
from sadp.train.inputs import ModelInputs

Log = list[tuple[int, int]]  # (batches planned, batches run) per epoch


def train_full(model: nn.Module, train_ds: Dataset, inputs: ModelInputs, epochs: int, seed: int) -> Log:
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    loader = DataLoader(train_ds, batch_size=64, shuffle=True)
    log = []
    for epoch in range(epochs):
        model.train()
        planned, done = len(loader), 0
        for x, y in loader:
            out = model(inputs(x, train=True))  # per-step logits [T, B, K]
            loss = F.cross_entropy(out.mean(0), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            done += 1
        log.append((planned, done))
        print(f"epoch {epoch + 1}: {done} of {planned} planned steps")
    return log


def train_pruned(model: nn.Module, train_ds: Dataset, inputs: ModelInputs, epochs: int, seed: int) -> Log:
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    pruner = sadp.Pruner(model, train_ds, "sadp", ratio=0.5, epochs=epochs, seed=seed)  # sadp
    loader = DataLoader(train_ds, batch_size=64, sampler=pruner.sampler)  # sadp
    log = []
    for epoch in range(epochs):
        pruner.start_epoch(epoch)  # sadp
        model.train()
        planned, done = len(loader), 0
        for x, y in loader:
            out = model(inputs(x, train=True))  # per-step logits [T, B, K]
            loss = pruner.loss(out, y)  # sadp
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            done += 1
        log.append((planned, done))
        print(f"epoch {epoch + 1}: {done} of {planned} planned steps")
        print(f"  pruner: {pruner.end_epoch()}")  # sadp (optional)
    return log


@torch.no_grad()
def accuracy(model: nn.Module, ds: Dataset, inputs: ModelInputs) -> float:
    model.eval()
    correct = 0
    for x, y in DataLoader(ds, batch_size=256):
        correct += int((model(inputs(x)).mean(0).argmax(1) == y).sum())
    return correct / len(ds)  # type: ignore[arg-type]


def main(epochs: int = 6, seed: int = 0, prune: bool = True, subset: int | None = None) -> float:
    torch.manual_seed(seed)
    bundle = build_dataset("digits", subset=subset)  # subset: a class-balanced part of the training set
    inputs = ModelInputs(bundle, T=4)  # batch -> standardised, direct-encoded input [T, B, 1, 8, 8]
    model = build_model("mlp", bundle.sample_shape, bundle.num_classes)
    (train_pruned if prune else train_full)(model, bundle.train, inputs, epochs, seed)
    acc = accuracy(model, bundle.test, inputs)
    print(f"test accuracy {acc:.3f}")
    return acc


if __name__ == "__main__":
    main()
