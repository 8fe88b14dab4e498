"""SADP with a SpikingJelly network: its own layers and LIF neurons, in multi-step or single-step mode.

``python examples/spikingjelly_loop.py [m|s]`` trains on the embedded digits in seconds. The
network is plain SpikingJelly (``spikingjelly.activation_based``); sadp only counts the spikes
entering the classifier (a hook on the input of the net's last ``nn.Linear``, which the Pruner
finds by itself; SpikingJelly's ``layer.Linear`` is one) and weights the loss:

* multi-step (``step_mode="m"``): one call on [T, B, ...], the head sees [T, B, D];
* single-step (``step_mode="s"``): a Python loop over T, the head sees [B, D] once per step and
  the Pruner's monitor stacks the calls along T.

Neuron state is reset with ``functional.reset_net`` before every batch. SpikingJelly 2.0 caches
the list of modules it resets per network on the first call; this example never changes the
network's modules afterwards (the Pruner only adds hooks), so the cache stays valid. Swap a module
or wrap the net later (e.g. ``torch.compile``) and call ``functional.invalidate_reset_cache(net)``.
"""
from __future__ import annotations

import sys

import torch
from spikingjelly.activation_based import functional, layer, neuron, surrogate
from torch import Tensor, nn
from torch.utils.data import DataLoader

import sadp
from sadp.data import build_dataset
from sadp.train.inputs import ModelInputs

T = 4


def build_net(step_mode: str, num_classes: int, hidden: int = 128) -> nn.Sequential:
    net = nn.Sequential(
        layer.Flatten(),
        layer.Linear(64, hidden),
        neuron.LIFNode(tau=2.0, surrogate_function=surrogate.ATan(), detach_reset=True),
        layer.Linear(hidden, num_classes),  # the head: its input is the LIF layer's spikes
    )
    functional.set_step_mode(net, step_mode)
    return net


def forward(net: nn.Sequential, x: Tensor, step_mode: str) -> Tensor:
    """[T, B, ...] input -> per-step logits [T, B, K], in the net's step mode."""
    functional.reset_net(net)  # new batch: neurons start from rest
    if step_mode == "m":
        return net(x)
    return torch.stack([net(x_t) for x_t in x])


def main(step_mode: str = "m", epochs: int = 6, ratio: float = 0.5, seed: int = 0,
         subset: int | None = None) -> tuple[float, sadp.Pruner]:
    torch.manual_seed(seed)
    bundle = build_dataset("digits", subset=subset)
    inputs = ModelInputs(bundle, T=T)  # standardised, direct-encoded [T, B, 1, 8, 8]
    net = build_net(step_mode, bundle.num_classes)
    optimizer = torch.optim.AdamW(net.parameters(), lr=1e-2)

    pruner = sadp.Pruner(net, bundle.train, "sadp", ratio=ratio, epochs=epochs, seed=seed)  # sadp
    loader = DataLoader(bundle.train, batch_size=64, sampler=pruner.sampler)  # sadp
    for epoch in range(epochs):
        pruner.start_epoch(epoch)  # sadp
        net.train()
        for x, y in loader:
            out = forward(net, inputs(x, train=True), step_mode)
            loss = pruner.loss(out, y)  # sadp
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        print(f"epoch {epoch + 1}: {pruner.end_epoch()}")  # sadp (optional): what the pruner did

    net.eval()
    with torch.no_grad():
        correct = sum(int((forward(net, inputs(x), step_mode).mean(0).argmax(1) == y).sum())
                      for x, y in DataLoader(bundle.test, batch_size=256))
    acc = correct / len(bundle.test)
    print(f"SpikingJelly ({step_mode}): test accuracy {acc:.3f}")
    return acc, pruner


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "m")
