"""``sadp diagnose``: measure SADP's claims (docs/methods.md) on a model and dataset.

1. Warm-up: train the model on full data (the trainer, method ``full``) for ``warmup_epochs``
   epochs, measuring after each epoch listed in ``measure_at`` (default: the last).
2. On a seeded subset of training examples, in each mode: logits, per-step spike counts (head
   input and every spiking layer) and the true per-example gradients of all parameters
   (torch.func; kept as a count sketch unless ``sketch_dim=0``) with their exact norms. Scores
   and gradients come from the same forward pass:
   * ``eval`` mode: BatchNorm normalises by its running statistics (as at test time);
   * ``train`` mode: as the trainer scores examples. The subset is split into seeded random
     batches of ``batch_size``; each batch's train-mode pass gives the scores, and each example's
     gradient is taken with BatchNorm normalising by that batch's statistics held fixed
     (:mod:`sadp.diagnostics.batchstats`). Running statistics are left unchanged.
3. Head identity: autograd head-weight gradient norms against ||softmax(z) - y|| ||mean_t s_t||,
   and whether the SADP bound is above the [W b] gradient norm for every example.
4. Fidelity: Spearman and Pearson correlation of every score with the true norms.
5. Variance: E||G_hat - G||^2 over repeated exact-K draws for pi from each score (floored as in
   training), relative to uniform random pruning at the same K; bias curve for SADP.
Inputs are not augmented in either mode, so the two differ only in how BatchNorm normalises.

This module runs the warm-up and writes ``diagnostics.json``; step 2 is
:mod:`sadp.diagnostics.collect`, steps 3-5 :mod:`sadp.diagnostics.measure`, the options
:mod:`sadp.diagnostics.config`, the printed tables :mod:`sadp.diagnostics.tables` and the PNGs
:mod:`sadp.diagnostics.plots`.
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from sadp.diagnostics.collect import collect
from sadp.diagnostics.config import DiagnoseConfig, mode_description
from sadp.diagnostics.measure import measure, score_table
from sadp.diagnostics.plots import plot, plot_by_epoch
from sadp.diagnostics.tables import format_point, format_summary
from sadp.utils.io import atomic_write_text


def _trainer(cfg: DiagnoseConfig):
    """The warm-up trainer (full data); nothing is written until ``train_epoch`` is called."""
    from sadp.data import build_dataset
    from sadp.train.config import TrainConfig
    from sadp.train.trainer import Trainer

    bundle = build_dataset(cfg.dataset, data_dir=cfg.data_dir, seed=cfg.seed)
    tcfg = TrainConfig(dataset=cfg.dataset, data_dir=cfg.data_dir, model=cfg.model, T=cfg.T, method="full",
                       epochs=max(1, cfg.warmup_epochs), batch_size=cfg.batch_size, seed=cfg.seed, device=cfg.device,
                       out=str(Path(cfg.out) / "warmup"), progress=False)
    return Trainer(tcfg, bundle=bundle)


def diagnose(cfg: DiagnoseConfig) -> dict[str, Any]:
    """Warm up, measure each mode after each epoch in ``cfg.measure_at``, write OUT/diagnostics.json."""
    cfg.validate()
    torch.manual_seed(cfg.seed)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    trainer = _trainer(cfg)
    measurements: list[dict[str, Any]] = []
    num_examples = 0
    for epoch in range(cfg.warmup_epochs + 1):
        if epoch in cfg.epochs_measured:
            point: dict[str, Any] = {"warmup_epochs": epoch, "test_acc": trainer.evaluate()["test_acc"]}
            for mode in cfg.modes:
                st = collect(cfg, trainer.model, trainer.bundle, mode)
                num_examples = len(st["true_norm"])
                point[f"{mode}_mode"] = {"description": mode_description(mode, cfg.batch_size), **measure(cfg, st)}
                if cfg.plots:
                    plot(out, f"epoch{epoch}_{mode}_mode", score_table(st), st["true_norm"], point[f"{mode}_mode"])
            measurements.append(point)
            print(format_point(point, cfg.modes), flush=True)
        if epoch < cfg.warmup_epochs:
            row = trainer.train_epoch(epoch)
            print(f"warm-up epoch {epoch + 1}/{cfg.warmup_epochs}: train loss {row['train_loss']:.4f}, "
                  f"train acc {row['train_acc']:.3f}", flush=True)

    result = {"config": asdict(cfg), "num_examples": num_examples, "measurements": measurements}
    atomic_write_text(out / "diagnostics.json", json.dumps(_json_safe(result), indent=2))
    print(format_summary(result))
    if cfg.plots and len(measurements) > 1:
        plot_by_epoch(out, result)
    return result


def _json_safe(obj: Any) -> Any:
    """NaN (a constant score has no rank correlation) becomes null: strict JSON."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_json_safe(v) for v in obj]
    return obj
