"""SADP with an snnTorch network, written as snnTorch's tutorials write it, trained with snnTorch's loss.

``python examples/snntorch_loop.py`` trains on the embedded digits in seconds. The network is the
tutorials' pattern: ``Linear -> Leaky -> Linear -> Leaky``, membrane potentials initialised per
batch, one call per time step, and the forward pass returns ``(spk_rec, mem_rec)``, the output
layer's spikes and membranes stacked along T. What the Pruner is told:

* the loss is snnTorch's own rate-coded cross-entropy, ``SF.ce_rate_loss`` (cross-entropy of the
  output spikes at every step, averaged over steps), made per-example with ``reduction="none"``:
  ``criterion=SF.ce_rate_loss(reduction="none")``, and ``pruner.loss`` gets ``spk_rec`` (the
  tuple's first element) [T, B, K]; its readout for SADP's output error and the accuracy is the
  spike rate ``spk_rec.mean(0)``;
* no ``head=``: the Pruner takes the input of the last ``nn.Linear`` (``fc2``), the hidden
  layer's spikes, as the classifier's input; that hook is called once per step with [B, D] spikes
  and the calls of one batch are stacked into [T, B] counts. Neurons are found by type
  (``snntorch.SpikingNeuron``) for ``score=multilayer``.
"""
from __future__ import annotations

import snntorch as snn
import snntorch.functional as SF
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
        self.fc2 = nn.Linear(hidden, classes)  # the classifier: its input is lif1's spikes
        self.lif2 = snn.Leaky(beta=beta, spike_grad=surrogate.atan())

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """[T, B, ...] -> (output spikes [T, B, K], output membranes [T, B, K])."""
        mem1, mem2 = self.lif1.init_leaky(), self.lif2.init_leaky()  # fresh state for every batch
        spk_rec, mem_rec = [], []
        for x_t in x:
            spk1, mem1 = self.lif1(self.fc1(x_t.flatten(1)), mem1)
            spk2, mem2 = self.lif2(self.fc2(spk1), mem2)
            spk_rec.append(spk2)
            mem_rec.append(mem2)
        return torch.stack(spk_rec), torch.stack(mem_rec)


def main(epochs: int = 6, ratio: float = 0.5, seed: int = 0, method: str = "sadp",
         options: dict | None = None, subset: int | None = None) -> tuple[float, sadp.Pruner]:
    torch.manual_seed(seed)
    bundle = build_dataset("digits", subset=subset)
    inputs = ModelInputs(bundle, T=T)  # standardised, direct-encoded [T, B, 1, 8, 8]
    net = Net(classes=bundle.num_classes)
    optimizer = torch.optim.AdamW(net.parameters(), lr=1e-2)

    pruner = sadp.Pruner(net, bundle.train, method, ratio=ratio, epochs=epochs, seed=seed, options=options,  # sadp
                         criterion=SF.ce_rate_loss(reduction="none"))  # snnTorch's loss, one value per example
    loader = DataLoader(bundle.train, batch_size=64, sampler=pruner.sampler)  # sadp
    for epoch in range(epochs):
        pruner.start_epoch(epoch)  # sadp
        net.train()
        for x, y in loader:
            spk_rec, _ = net(inputs(x, train=True))
            loss = pruner.loss(spk_rec, y)  # sadp (was SF.ce_rate_loss()(spk_rec, y))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        print(f"epoch {epoch + 1}: {pruner.end_epoch()}")  # sadp (optional): what the pruner did

    net.eval()
    with torch.no_grad():  # the tutorials' accuracy: the class whose output neuron spiked most
        correct = sum(int((net(inputs(x))[0].sum(0).argmax(1) == y).sum())
                      for x, y in DataLoader(bundle.test, batch_size=256))
    acc = correct / len(bundle.test)
    print(f"snnTorch: test accuracy {acc:.3f}")
    return acc, pruner


if __name__ == "__main__":
    main()
