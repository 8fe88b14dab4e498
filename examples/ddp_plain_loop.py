"""The plain loop under torchrun: DDP on CPU (gloo), pruning with SADP, a clean exit.

    torchrun --nproc_per_node=2 examples/ddp_plain_loop.py [--epochs 4] [--subset 500] [--out result.json]

Against ``plain_pytorch_loop.py``, DDP adds only what any DDP loop has: the process group, the
``DistributedDataParallel`` wrapper and a rank-0 print. The Pruner reads rank and world size from
``torch.distributed``: every rank selects the same examples, its sampler gives each rank a
disjoint, equal-length share (padded by repeating the selection, with zero loss weight), and the
statistics of all ranks are gathered after every step, so every rank's pruning state is identical.
Hooks go on the unwrapped model; the forward pass runs through the DDP wrapper.

The worker ends with ``sadp.exit_process(0)`` (flush stdout and stderr, leave the process group,
``os._exit``) instead of returning to the interpreter: Python's own shutdown beside gloo's
still-running threads can abort a worker whose work is done with SIGABRT ("terminate called
without an active exception"), and torchrun then reports the run as failed.
``benchmarks/ddp_exit.py`` runs this example repeatedly and counts clean exits (README).
"""
from __future__ import annotations

import argparse
import json
import os

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader

import sadp
from sadp.data import build_dataset
from sadp.snn import build_model
from sadp.train.inputs import ModelInputs


def main(epochs: int = 4, subset: int | None = 500, out: str | None = None) -> None:
    dist.init_process_group("gloo")  # torchrun set RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT
    rank = dist.get_rank()
    torch.set_num_threads(1)
    torch.manual_seed(0)  # the same initial weights on every rank (DDP also broadcasts rank 0's)
    bundle = build_dataset("digits", subset=subset)
    inputs = ModelInputs(bundle, T=4)  # batch -> standardised, direct-encoded input [T, B, 1, 8, 8]
    model = build_model("mlp", bundle.sample_shape, bundle.num_classes)
    ddp_model = DistributedDataParallel(model)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)

    pruner = sadp.Pruner(model, bundle.train, "sadp", ratio=0.5, epochs=epochs, seed=0)  # sadp
    loader = DataLoader(bundle.train, batch_size=32, sampler=pruner.sampler)  # sadp: this rank's share
    reports = []
    for epoch in range(epochs):
        pruner.start_epoch(epoch)  # sadp
        model.train()
        for x, y in loader:
            out_ = ddp_model(inputs(x, train=True))  # per-step logits [T, B, K]
            loss = pruner.loss(out_, y)  # sadp
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        report = pruner.end_epoch()  # counts over both ranks, identical on each
        reports.append(report.as_dict())
        if rank == 0:
            print(f"epoch {epoch + 1}: {report}", flush=True)

    model.eval()
    with torch.no_grad():
        correct = sum(int((model(inputs(x)).mean(0).argmax(1) == y).sum())
                      for x, y in DataLoader(bundle.test, batch_size=256))
    acc = correct / len(bundle.test)
    if rank == 0:
        print(f"DDP ({dist.get_world_size()} ranks): test accuracy {acc:.3f}", flush=True)
        if out:
            tmp = f"{out}.tmp"
            with open(tmp, "w") as f:
                json.dump({"world_size": dist.get_world_size(), "test_acc": acc, "epochs": reports}, f)
            os.replace(tmp, out)
    sadp.exit_process(0)  # leave the process group, flush, os._exit: no interpreter shutdown beside gloo threads


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--subset", type=int, default=500)
    parser.add_argument("--out", default=None, help="rank 0 writes a JSON summary here")
    a = parser.parse_args()
    main(a.epochs, a.subset, a.out)
