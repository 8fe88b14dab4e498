"""SADP on event frames laid out the way tonic delivers them: batch first, [B, T, P, H, W].

tonic's ``transforms.ToFrame`` turns each recording into frames [T, P, H, W] (numpy), and
``collation.PadTensors(batch_first=True)`` stacks a batch into [B, T, P, H, W], padding shorter
recordings with empty frames. sadp models and SpikingJelly's multi-step mode are time-first
[T, B, ...]; rather than transposing, this network stays batch-first throughout, and the Pruner
is told where time is: ``time_dim=1`` (its monitor reads the head's input [B, T, D], its loss
averages the output [B, T, K] over dim 1).

tonic is not needed: the frames come from sadp's emulated DVS recording of the embedded digits
(``digits_dvs``, N-MNIST style, 2 polarities, 20x20) and :func:`pad_tensors_batch_first` collates
them as PadTensors(batch_first=True) does. ``python examples/tonic_frames_loop.py`` runs in seconds.
"""
from __future__ import annotations

import numpy as np
import snntorch as snn
import torch
from snntorch import surrogate
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset

import sadp
from sadp.data import build_dataset


class ToFrameStyle(Dataset):
    """Items ``(frames, label)`` with frames a numpy array [T, P, H, W], as tonic's ToFrame returns."""

    def __init__(self, frames: Tensor, targets: Tensor) -> None:
        self.frames, self.targets = frames, targets

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, i: int) -> tuple[np.ndarray, int]:
        return self.frames[i].numpy().astype(np.int16), int(self.targets[i])


def pad_tensors_batch_first(batch: list[tuple[np.ndarray, int]]) -> tuple[Tensor, Tensor]:
    """tonic.collation.PadTensors(batch_first=True): [B, T_max, P, H, W], shorter ones zero-padded."""
    frames = [torch.as_tensor(f, dtype=torch.float32) for f, _ in batch]
    padded = nn.utils.rnn.pad_sequence(frames, batch_first=True)
    return padded, torch.tensor([y for _, y in batch])


class BatchFirstNet(nn.Module):
    """[B, T, P, H, W] frames -> per-step logits [B, T, K]; snnTorch neurons stepped over dim 1."""

    def __init__(self, inputs: int, hidden: int = 128, classes: int = 10, beta: float = 0.5) -> None:
        super().__init__()
        self.fc1 = nn.Linear(inputs, hidden)
        self.lif1 = snn.Leaky(beta=beta, spike_grad=surrogate.atan())
        self.head = nn.Linear(hidden, classes)

    def forward(self, frames: Tensor) -> Tensor:
        current = self.fc1(frames.flatten(2))  # [B, T, hidden]: every step in one call
        mem = self.lif1.init_leaky()
        spikes = []
        for t in range(current.shape[1]):
            spk, mem = self.lif1(current[:, t], mem)
            spikes.append(spk)
        return self.head(torch.stack(spikes, dim=1))  # head input [B, T, hidden], output [B, T, K]


def main(epochs: int = 6, ratio: float = 0.5, seed: int = 0, subset: int | None = None,
         micro_steps: int = 48) -> tuple[float, sadp.Pruner]:
    torch.manual_seed(seed)
    # frames [N, T, 2, 20, 20]; micro_steps: resolution of the emulated saccades (fewer: faster to build)
    bundle = build_dataset("digits_dvs", subset=subset, micro_steps=micro_steps)
    train_ds = ToFrameStyle(bundle.train.data, bundle.train.targets)
    test_ds = ToFrameStyle(bundle.test.data, bundle.test.targets)
    net = BatchFirstNet(int(np.prod(bundle.sample_shape)), classes=bundle.num_classes)
    optimizer = torch.optim.AdamW(net.parameters(), lr=1e-2)

    pruner = sadp.Pruner(net, train_ds, "sadp", ratio=ratio, epochs=epochs, seed=seed, time_dim=1)  # sadp
    loader = DataLoader(train_ds, batch_size=64, sampler=pruner.sampler, collate_fn=pad_tensors_batch_first)  # sadp
    for epoch in range(epochs):
        pruner.start_epoch(epoch)  # sadp
        net.train()
        for frames, y in loader:  # frames [B, T, P, H, W]
            out = net(frames)
            loss = pruner.loss(out, y)  # sadp
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        print(f"epoch {epoch + 1}: {pruner.end_epoch()}")  # sadp (optional): what the pruner did

    net.eval()
    with torch.no_grad():
        correct = sum(int((net(f).mean(1).argmax(1) == y).sum())
                      for f, y in DataLoader(test_ds, batch_size=256, collate_fn=pad_tensors_batch_first))
    acc = correct / len(test_ds)
    print(f"batch-first event frames: test accuracy {acc:.3f}")
    return acc, pruner


if __name__ == "__main__":
    main()
