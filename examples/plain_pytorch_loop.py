"""SADP in a hand-written PyTorch training loop: the changes are marked with # <-- sadp.

Runs on the embedded digits in a few seconds: ``python examples/plain_pytorch_loop.py``.
Works the same with any model whose classifier head is ``model.head`` (else pass ``head=``)
and any map-style dataset of (x, y) items.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from sadp.data import build_dataset
from sadp.pruning import PruningSampler, SpikeMonitor, WithIndex, build_method
from sadp.snn import build_model, direct_encode


def main(epochs: int = 6, ratio: float = 0.5, seed: int = 0) -> float:
    torch.manual_seed(seed)
    bundle = build_dataset("digits")
    train_ds, test_ds = bundle.train, bundle.test
    model = build_model("mlp", bundle.sample_shape, bundle.num_classes)
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3)

    method = build_method("sadp", len(train_ds), ratio=ratio, epochs=epochs, seed=seed)  # <-- sadp
    sampler = PruningSampler(method, seed=seed)                                            # <-- sadp
    loader = DataLoader(WithIndex(train_ds), batch_size=64, sampler=sampler)               # <-- sadp: items carry their index
    monitor = SpikeMonitor(model)                                                          # <-- sadp: spike counts, no extra pass

    for epoch in range(epochs):
        sampler.set_epoch(epoch)                                                           # <-- sadp: selects once per epoch
        model.train()
        for x, y, idx in loader:
            x = direct_encode(x.float() / 255.0, T=4)
            with monitor.record():                                                         # <-- sadp
                out = model(x)  # [T, B, K]
            z = out.mean(0)
            per_example = F.cross_entropy(z, y, reduction="none")
            loss = method.step_loss(per_example, idx, z, y, monitor.counts)                # <-- sadp: replaces .mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
        method.end_epoch(epoch)                                                            # <-- sadp
        print(f"epoch {epoch + 1}: trained on {len(sampler)} of {len(train_ds)} examples")

    model.eval()
    with torch.no_grad():
        x = torch.stack([test_ds[i][0] for i in range(len(test_ds))]).float() / 255.0
        y = torch.tensor([test_ds[i][1] for i in range(len(test_ds))])
        acc = (model(direct_encode(x, T=4)).mean(0).argmax(1) == y).float().mean().item()
    print(f"test accuracy {acc:.3f}")
    return acc


if __name__ == "__main__":
    main()
