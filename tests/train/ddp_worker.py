"""Run under torchrun by test_distributed.py: train, recording what each rank selected, its shard,
the statistics it fed to the method and the method's state after every epoch."""
from __future__ import annotations

import copy
import sys
from pathlib import Path

import torch

from sadp.train import TrainConfig, Trainer
from sadp.train import distributed as D


def main(out: str, method: str, ratio: float, epochs: int) -> None:
    cfg = TrainConfig(model="mlp", subset=300, epochs=epochs, method=method, ratio=ratio,
                      batch_size=32, out=out, progress=False, seed=7)
    t = Trainer(cfg)
    rec: dict = {"plans": [], "orders": [], "valid": [], "stats": [], "states": []}
    set_epoch, observe, end_epoch = t.sampler.set_epoch, t.method.observe, t.method.end_epoch

    def rec_set_epoch(e: int):
        plan = set_epoch(e)
        rec["plans"].append((plan.indices.clone(), plan.weights.clone()))
        rec["orders"].append(list(t.sampler._order))
        rec["valid"].append(t.sampler.valid.clone())
        rec["stats"].append([])
        return plan

    def rec_observe(s):
        rec["stats"][-1].append(copy.deepcopy(s))
        observe(s)

    def rec_end_epoch(e: int):
        end_epoch(e)
        rec["states"].append(copy.deepcopy(t.method.state_dict()))

    t.sampler.set_epoch, t.method.observe, t.method.end_epoch = rec_set_epoch, rec_observe, rec_end_epoch
    t.fit()
    torch.save(rec, Path(out) / f"rank{D.rank()}.pt")
    D.barrier()
    D.cleanup()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4]))
