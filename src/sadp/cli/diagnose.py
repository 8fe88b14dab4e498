"""Measure how well each importance score tracks the true per-example gradient norm, and the
variance and bias of the epoch gradient estimator each score gives at equal K.

Default: the small spiking CNN on the embedded digits after a 3-epoch warm-up, 512 scored
training examples, in two modes: eval (BatchNorm running statistics) and train (as the trainer
scores examples: BatchNorm normalising by each batch's statistics, held fixed for the per-example
gradients). Writes OUT/diagnostics.json (``measurements``: one entry per warm-up length in
``--measure-at``, each with ``eval_mode`` and ``train_mode``: ``spearman: {score: value}``,
``variance_ratio: {method: value}`` relative to uniform random pruning, Pearson, head-identity
check, bias curve), prints tables and saves PNG plots (score vs true norm, variance bars).
"""
from __future__ import annotations

import argparse

from sadp.diagnostics.config import MODES, DiagnoseConfig


def add_arguments(p: argparse.ArgumentParser) -> None:
    d = DiagnoseConfig()
    p.add_argument("--dataset", default=d.dataset, help="registered dataset")
    p.add_argument("--data-dir", dest="data_dir", default=d.data_dir, help="dataset directory")
    p.add_argument("--model", default=d.model, help="registered model (needs a `head` with bias)")
    p.add_argument("--T", type=int, default=d.T, help="time steps (static data)")
    p.add_argument("--warmup-epochs", dest="warmup_epochs", type=int, default=d.warmup_epochs,
                   help="full-data training epochs before measuring (0: at initialisation)")
    p.add_argument("--measure-at", dest="measure_at", type=int, nargs="+", default=d.measure_at,
                   help="measure after each of these epochs of the warm-up run (unset: only after its last), "
                        "e.g. --warmup-epochs 8 --measure-at 0 1 3 8")
    p.add_argument("--modes", nargs="+", default=d.modes, choices=MODES,
                   help="eval: BatchNorm running statistics; train: each batch's statistics, as in training")
    p.add_argument("--batch-size", dest="batch_size", type=int, default=d.batch_size,
                   help="batch size of the warm-up and of train-mode batches")
    p.add_argument("--examples", type=int, default=d.examples, help="training examples to score (0: all)")
    p.add_argument("--ratios", type=float, nargs="+", default=d.ratios, help="pruning ratios r (K = (1 - r) N)")
    p.add_argument("--draws", type=int, default=d.draws, help="draws per method for the variance estimate")
    p.add_argument("--floor", type=float, default=d.floor, help="score floor eps as in training")
    p.add_argument("--sketch-dim", dest="sketch_dim", type=int, default=d.sketch_dim,
                   help="count-sketch size for per-example gradients (0: exact, memory N x params)")
    p.add_argument("--chunk-size", dest="chunk_size", type=int, default=d.chunk_size, help="examples per vmap chunk")
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--device", default=d.device)
    p.add_argument("--out", default=d.out, help="output directory")
    p.add_argument("--no-plots", dest="plots", action="store_false", help="skip the PNG plots")
    p.add_argument("--debug", action="store_true", help="show full tracebacks")


def run(args: argparse.Namespace) -> int:
    from sadp.diagnostics.warmup import diagnose

    keys = DiagnoseConfig.__dataclass_fields__
    diagnose(DiagnoseConfig(**{k: getattr(args, k) for k in keys}))
    return 0
