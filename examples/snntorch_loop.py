"""SADP with an snnTorch network: single-step ``snn.Leaky`` neurons in a Python loop over time.

``python examples/snntorch_loop.py`` trains on the embedded digits in seconds. The network is the
usual snnTorch pattern (tutorial 5): membrane potentials initialised per batch, one call per
time step, output spikes and logits stacked along T. The Pruner's monitor hooks the head; it is
called once per step with [B, D] spikes, and the calls of one batch are stacked into [T, B]
counts. Neurons are found by type (``snntorch.SpikingNeuron``) for ``score=multilayer``.
"""
from __future__ import annotations

import snntorch as snn
import torch
from snntorch import surrogate
from torch import Tensor, nn
from torch.utils.data import DataLoader

import sadp
from sadp.data import build_dataset
from sadp.train.inputs import ModelInputs

T = 4


class Net(nn.Module):
    def __init__(self, inputs: int = 64, hidden: int = 128, classes: int = 10, beta: float = 0.5) -> None:
        super().__init__()
        self.fc1 = nn.Linear(inputs, hidden)
        self.lif1 = snn.Leaky(beta=beta, spike_grad=surrogate.atan())
        self.head = nn.Linear(hidden, classes)  # found by the Pruner as model.head

    def forward(self, x: Tensor) -> Tensor:
        """[T, B, ...] -> per-step logits [T, B, K]."""
        mem1 = self.lif1.init_leaky()  # fresh state for every batch
        out = []
        for x_t in x:
            spk1, mem1 = self.lif1(self.fc1(x_t.flatten(1)), mem1)
            out.append(self.head(spk1))
        return torch.stack(out)


def main(epochs: int = 6, ratio: float = 0.5, seed: int = 0, method: str = "sadp",
         options: dict | None = None, subset: int | None = None) -> tuple[float, sadp.Pruner]:
    torch.manual_seed(seed)
    bundle = build_dataset("digits", subset=subset)
    inputs = ModelInputs(bundle, T=T)  # standardised, direct-encoded [T, B, 1, 8, 8]
    net = Net(classes=bundle.num_classes)
    optimizer = torch.optim.AdamW(net.parameters(), lr=1e-2)

    pruner = sadp.Pruner(net, len(bundle.train), method, ratio=ratio, epochs=epochs, seed=seed, options=options)  # sadp
    loader = DataLoader(bundle.train, batch_size=64, sampler=pruner.sampler)  # sadp
    for epoch in range(epochs):
        pruner.start_epoch(epoch)  # sadp
        net.train()
        for x, y in loader:
            out = net(inputs(x, train=True))
            loss = pruner.loss(out, y)  # sadp
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        print(f"epoch {epoch + 1}: trained on {len(pruner.sampler)} of {len(bundle.train)} examples")

    net.eval()
    with torch.no_grad():
        correct = sum(int((net(inputs(x)).mean(0).argmax(1) == y).sum()) for x, y in DataLoader(bundle.test, batch_size=256))
    acc = correct / len(bundle.test)
    print(f"snnTorch: test accuracy {acc:.3f}")
    return acc, pruner


if __name__ == "__main__":
    main()
