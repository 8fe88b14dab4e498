"""A per-step LR schedule sized before the loop: ``OneCycleLR`` over a pruned run.

``python examples/onecycle_loop.py`` trains on the embedded digits in seconds. A full-data loop
sizes ``OneCycleLR`` as ``epochs * len(loader)``; with pruning the epochs differ in length (SADP:
full first epoch, K examples in pruned epochs, full annealing epochs) and ``len(loader)`` is known
only after ``start_epoch``. ``pruner.total_steps(batch_size)`` gives the whole run's step count up
front (``pruner.steps_per_epoch(batch_size)`` the per-epoch counts) for every method whose epoch
sizes are known in advance; methods whose pruned epochs' sizes depend on training
(``infobatch``, ``seta``) raise a ValueError saying so. The schedule then steps exactly
``total_steps`` times (OneCycleLR itself raises if stepped once more).
"""
from __future__ import annotations

import torch
from torch.utils.data import DataLoader

import sadp
from sadp.data import build_dataset
from sadp.snn import build_model
from sadp.train.inputs import ModelInputs

BATCH = 64


def main(epochs: int = 6, ratio: float = 0.5, seed: int = 0, method: str = "sadp",
         subset: int | None = None) -> tuple[float, sadp.Pruner, torch.optim.lr_scheduler.OneCycleLR]:
    torch.manual_seed(seed)
    bundle = build_dataset("digits", subset=subset)
    inputs = ModelInputs(bundle, T=4)  # batch -> standardised, direct-encoded input [T, B, 1, 8, 8]
    model = build_model("mlp", bundle.sample_shape, bundle.num_classes)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)

    pruner = sadp.Pruner(model, bundle.train, method, ratio=ratio, epochs=epochs, seed=seed)  # sadp
    loader = DataLoader(bundle.train, batch_size=BATCH, sampler=pruner.sampler)  # sadp
    print(f"steps per epoch: {pruner.steps_per_epoch(BATCH)}")
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=2e-2, total_steps=pruner.total_steps(BATCH))
    for epoch in range(epochs):
        pruner.start_epoch(epoch)  # sadp
        model.train()
        for x, y in loader:
            loss = pruner.loss(model(inputs(x, train=True)), y)  # sadp
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            scheduler.step()  # per step
        print(f"epoch {epoch + 1}: lr {scheduler.get_last_lr()[0]:.2e}, {pruner.end_epoch()}")

    model.eval()
    with torch.no_grad():
        correct = sum(int((model(inputs(x)).mean(0).argmax(1) == y).sum())
                      for x, y in DataLoader(bundle.test, batch_size=256))
    acc = correct / len(bundle.test)
    print(f"OneCycleLR over {scheduler.last_epoch} steps: test accuracy {acc:.3f}")
    return acc, pruner, scheduler


if __name__ == "__main__":
    main()
