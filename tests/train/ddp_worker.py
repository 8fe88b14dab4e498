"""Run under torchrun by test_distributed.py: train, recording what each rank selected, its shard,
the statistics it fed to the method, the method's state after every epoch and the logged history.
301 examples: full-data epochs are padded by one duplicate to split evenly over 2 ranks."""
from __future__ import annotations

import copy
import sys
from pathlib import Path

import torch

from sadp.train import TrainConfig, Trainer, distributed

N = 301


def main(out: str, method: str, ratio: float, epochs: int) -> None:
    cfg = TrainConfig(model="mlp", subset=N, epochs=epochs, method=method, ratio=ratio,
                      batch_size=32, out=out, progress=False, seed=7)
    t = Trainer(cfg)
    rec: dict = {"plans": [], "orders": [], "valid": [], "stats": [], "states": []}
    sampler, method = t.pruner.sampler, t.pruner.method
    set_epoch, observe, end_epoch = sampler.set_epoch, method.observe, method.end_epoch

    def rec_set_epoch(e: int):
        plan = set_epoch(e)
        rec["plans"].append((plan.indices.clone(), plan.weights.clone()))
        rec["orders"].append(sampler.order.tolist())
        rec["valid"].append(sampler.valid.clone())
        rec["stats"].append([])
        return plan

    def rec_observe(s):
        rec["stats"][-1].append(copy.deepcopy(s))
        observe(s)

    def rec_end_epoch(e: int):
        end_epoch(e)
        rec["states"].append(copy.deepcopy(method.state_dict()))

    sampler.set_epoch, method.observe, method.end_epoch = rec_set_epoch, rec_observe, rec_end_epoch
    t.fit()
    rec["history"] = t.history
    torch.save(rec, Path(out) / f"rank{distributed.rank()}.pt")
    distributed.barrier()
    distributed.exit_process(0)  # as `sadp train` does under torchrun: no interpreter shutdown beside live gloo threads


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4]))
