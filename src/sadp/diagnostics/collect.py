"""Collection for ``sadp diagnose``: on a seeded subset of training examples, in one mode, the
logits, per-step spike counts (head input and every spiking layer) and the true per-example
gradients of all parameters (torch.func; a count sketch unless ``sketch_dim=0``) with their exact
norms, all from the same forward pass (modes: :mod:`sadp.diagnostics.warmup`). Inputs are not
augmented."""
from __future__ import annotations

import contextlib
from typing import Any

import torch
from torch import Tensor

from sadp.diagnostics.batchstats import frozen_batch_statistics, train_mode_forward
from sadp.diagnostics.config import MODES, DiagnoseConfig
from sadp.diagnostics.gradient_matrix import CountSketch, per_example_grads
from sadp.pruning.monitor import SpikeMonitor
from sadp.pruning.scores import readout_cross_entropy
from sadp.train.inputs import ModelInputs


def _scored_examples(cfg: DiagnoseConfig, bundle: Any) -> tuple[Tensor, Tensor, Tensor]:
    """(training indices, normalised examples [N, ...] (event frames [N, T, ...]), targets) of the
    seeded subset, not augmented."""
    device = torch.device(cfg.device)
    n_train = len(bundle.train)
    g = torch.Generator().manual_seed(cfg.seed)
    idx = torch.randperm(n_train, generator=g)[: cfg.examples] if 0 < cfg.examples < n_train else torch.arange(n_train)
    idx = idx.sort().values
    if hasattr(bundle.train, "data"):
        data = bundle.train.data[idx]
    else:
        data = torch.stack([bundle.train[int(i)][0] for i in idx])
    x = ModelInputs(bundle, cfg.T).transform(train=False)(data.to(device))
    y = torch.as_tensor([int(bundle.train[int(i)][1]) for i in idx], device=device)
    return idx, x, y


def _model_input(cfg: DiagnoseConfig, bundle: Any, x: Tensor) -> Tensor:
    """A batch as the model's [T, B, ...] input, through the trainer's own ModelInputs."""
    return ModelInputs(bundle, cfg.T).encode(x)


def _groups(cfg: DiagnoseConfig, n: int, mode: str) -> list[Tensor]:
    """Positions passed together. Eval mode: any grouping gives the same numbers (chunks of 256).
    Train mode: seeded random batches of ``batch_size``, a last batch of 1 joined to the one before."""
    if mode == "eval":
        return list(torch.arange(n).split(256))
    order = torch.randperm(n, generator=torch.Generator().manual_seed(cfg.seed + 1))
    groups = list(order.split(cfg.batch_size))
    if len(groups) > 1 and len(groups[-1]) < 2:
        groups[-2:] = [torch.cat(groups[-2:])]
    return groups


def collect(cfg: DiagnoseConfig, model: torch.nn.Module, bundle: Any, mode: str = "eval") -> dict[str, Tensor]:
    """Statistics and true per-example gradients of a seeded subset of training examples in ``mode``."""
    from sadp.train.losses import per_example_loss

    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    device = torch.device(cfg.device)
    model = model.to(device)
    idx, examples, y = _scored_examples(cfg, bundle)
    sketch = None
    if cfg.sketch_dim > 0:
        num = sum(p.numel() for p in model.parameters() if p.requires_grad)
        sketch = CountSketch(num, cfg.sketch_dim, cfg.seed, device)

    monitor = SpikeMonitor(model, layers=True)
    head_inputs: list[Tensor] = []
    was_training = model.training
    keys = ("pos", "logits", "counts", "layers", "head", "rows", "norms", "w", "wb")
    parts: dict[str, list[Any]] = {k: [] for k in keys}
    try:
        for pos in _groups(cfg, len(idx), mode):
            x = _model_input(cfg, bundle, examples[pos])
            # the head's input of this forward pass only (not of the per-example passes below)
            hook = model.head.register_forward_pre_hook(lambda m, a: head_inputs.append(a[0].detach()))
            try:
                with monitor.record():
                    if mode == "eval":
                        model.eval()
                        with torch.no_grad():
                            out = model(x)
                        frozen: Any = contextlib.nullcontext()
                    else:
                        out, stats = train_mode_forward(model, x)
                        frozen = frozen_batch_statistics(model, stats)
            finally:
                hook.remove()
            parts["pos"].append(pos)
            parts["logits"].append(out.mean(0))
            parts["counts"].append(monitor.counts)
            parts["layers"].append(monitor.layer_counts)
            parts["head"].append(head_inputs.pop())
            with frozen:
                for _, grads in per_example_grads(model, x, y[pos], per_example_loss, cfg.chunk_size):
                    flat = torch.cat([v.flatten(1) for v in grads.values()], 1)
                    parts["norms"].append(flat.norm(dim=1))
                    parts["rows"].append(sketch(flat) if sketch is not None else flat)
                    gw, gb = grads["head.weight"].flatten(1), grads["head.bias"]
                    parts["w"].append(gw.norm(dim=1))
                    parts["wb"].append(torch.cat([gw, gb], 1).norm(dim=1))
    finally:
        model.train(was_training)
        monitor.remove()

    back = torch.empty(len(idx), dtype=torch.long)  # concatenated group order -> subset order
    back[torch.cat(parts["pos"])] = torch.arange(len(idx))
    back = back.to(device)
    logits = torch.cat(parts["logits"])[back]
    n_layers = len(parts["layers"][0])
    return {
        "indices": idx,
        "targets": y,
        "logits": logits,
        "loss": readout_cross_entropy(logits, y),
        "counts": torch.cat(parts["counts"], 1)[:, back],
        "layer_counts": [torch.cat([lc[i] for lc in parts["layers"]], 1)[:, back] for i in range(n_layers)],
        "head_input": torch.cat(parts["head"], 1)[:, back],
        "grads": torch.cat(parts["rows"])[back],
        "true_norm": torch.cat(parts["norms"])[back],
        "head_w_norm": torch.cat(parts["w"])[back],
        "head_wb_norm": torch.cat(parts["wb"])[back],
    }
