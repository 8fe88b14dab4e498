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
"""
from __future__ import annotations

import contextlib
import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from sadp.diagnostics.batchstats import frozen_batch_statistics, train_mode_forward
from sadp.diagnostics.fidelity import pearson, spearman
from sadp.diagnostics.pergrad import CountSketch, per_example_grads
from sadp.diagnostics.variance import bias_curve, draw_coefficients, estimator_variance
from sadp.pruning.base import budget
from sadp.pruning.monitor import SpikeMonitor
from sadp.pruning.sampling import floor_scores, inclusion_probabilities
from sadp.pruning.scores import (
    head_gradient_norm,
    output_error,
    readout_cross_entropy,
    sadp_head_score,
    sadp_multilayer_score,
    spike_term,
)
from sadp.train.inputs import ModelInputs
from sadp.utils.io import atomic_write_text

MODES = ("eval", "train")


def mode_description(mode: str, batch_size: int) -> str:
    """How BatchNorm normalises in ``mode`` (printed and stored beside each measurement)."""
    if mode == "eval":
        return "eval mode: BatchNorm running statistics"
    return f"train mode: BatchNorm statistics of each batch of {batch_size}, held fixed for per-example gradients"


@dataclass
class DiagnoseConfig:
    dataset: str = "digits"
    data_dir: str | None = None
    model: str = "small_cnn"
    T: int = 4
    warmup_epochs: int = 3  # length of the warm-up run (its learning-rate schedule)
    measure_at: list[int] = field(default_factory=list)  # epochs of warm-up to measure after; empty: the last
    modes: list[str] = field(default_factory=lambda: list(MODES))
    batch_size: int = 64  # warm-up training and train-mode batches
    examples: int = 512  # training examples scored (seeded subset); 0 = all
    ratios: list[float] = field(default_factory=lambda: [0.5, 0.7])
    draws: int = 2000
    floor: float = 0.1
    sketch_dim: int = 16384  # 0 = keep exact per-example gradients (memory N x P)
    chunk_size: int = 64
    seed: int = 0
    device: str = "cpu"
    out: str = "runs/diagnose"
    plots: bool = True

    def validate(self) -> "DiagnoseConfig":
        errors = []
        if self.warmup_epochs < 0:
            errors.append(f"warmup_epochs must be >= 0, got {self.warmup_epochs}")
        bad = [e for e in self.measure_at if not 0 <= e <= self.warmup_epochs]
        if bad:
            errors.append(f"measure_at epochs must be in [0, warmup_epochs={self.warmup_epochs}], got {bad}")
        if not self.modes or any(m not in MODES for m in self.modes) or len(set(self.modes)) != len(self.modes):
            errors.append(f"modes must be distinct values of {', '.join(MODES)}, got {self.modes}")
        if self.batch_size < 2:
            errors.append(f"batch_size must be >= 2 (train-mode BatchNorm needs a batch), got {self.batch_size}")
        if self.examples < 0 or self.examples == 1:
            errors.append(f"examples must be 0 (all) or >= 2, got {self.examples}")
        if self.draws < 10:
            errors.append(f"draws must be >= 10, got {self.draws}")
        if not self.ratios or any(not 0.0 < r < 1.0 for r in self.ratios):
            errors.append(f"ratios must be in (0, 1), got {self.ratios}")
        if not 0.0 <= self.floor <= 1.0:
            errors.append(f"floor must be in [0, 1], got {self.floor}")
        if self.sketch_dim < 0:
            errors.append(f"sketch_dim must be >= 0, got {self.sketch_dim}")
        if errors:
            raise ValueError("invalid diagnose options:\n  " + "\n  ".join(errors))
        return self

    @property
    def epochs_measured(self) -> list[int]:
        return sorted(set(self.measure_at)) if self.measure_at else [self.warmup_epochs]


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


def _scored_examples(cfg: DiagnoseConfig, bundle: Any) -> tuple[Tensor, Tensor, Tensor]:
    """(training indices, normalised examples [N, ...] (event frames [N, T, ...]), targets) of the
    seeded subset, not augmented."""
    device = torch.device(cfg.device)
    n_train = len(bundle.train)
    g = torch.Generator().manual_seed(cfg.seed)
    idx = torch.randperm(n_train, generator=g)[: cfg.examples] if 0 < cfg.examples < n_train else torch.arange(n_train)
    idx = idx.sort().values
    data = bundle.train.data[idx] if hasattr(bundle.train, "data") else torch.stack([bundle.train[int(i)][0] for i in idx])
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
    parts: dict[str, list[Any]] = {k: [] for k in ("pos", "logits", "counts", "layers", "head", "rows", "norms", "w", "wb")}
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


def score_table(st: dict[str, Tensor]) -> dict[str, Tensor]:
    """Every score compared, from the same forward pass."""
    z, y = st["logits"], st["targets"]
    return {
        "loss": st["loss"],
        "grad_bound": output_error(z, y),  # ||softmax(z) - y||, also EL2N at this checkpoint
        "sadp": sadp_head_score(z, y, st["counts"]),
        "sadp_nobias": sadp_head_score(z, y, st["counts"], bias=False),
        "sadp_multilayer": sadp_multilayer_score(z, y, st["layer_counts"]),
        "oracle": st["true_norm"],
    }


def measure(cfg: DiagnoseConfig, st: dict[str, Tensor]) -> dict[str, Any]:
    """Fidelity, head identity, estimator variance and bias of one collected mode."""
    scores = score_table(st)
    true = st["true_norm"]
    n = len(true)
    exact_head = head_gradient_norm(st["logits"], st["targets"], st["head_input"])
    rel = (exact_head - st["head_w_norm"]).abs() / st["head_w_norm"].clamp_min(1e-30)
    head = {
        "max_relative_error": float(rel.max()),
        # Train mode: the gradient pass normalises with the batch's statistics as constants, rounded
        # differently from the training pass, so a membrane potential at the threshold can spike in
        # one and not the other; such an example's identity is off by far more than rounding.
        "examples_off": int((rel > 1e-4).sum()),
        "bound_holds": bool((scores["sadp"] >= st["head_wb_norm"] * (1 - 1e-5)).all()),
        "min_bound_over_norm": float((scores["sadp"] / st["head_wb_norm"].clamp_min(1e-30)).min()),
    }

    gram = (st["grads"] @ st["grads"].T).double().cpu()
    variance: dict[str, dict[str, float]] = {}
    bias: list[dict[str, float]] = []
    for ratio in cfg.ratios:
        k = budget(n, ratio)
        uniform_c = draw_coefficients(torch.full((n,), k / n, dtype=torch.float64), cfg.draws, cfg.seed)
        v_uniform = estimator_variance(gram, uniform_c)
        row = {"uniform": 1.0}
        for name, s in scores.items():
            if name == "sadp_nobias":
                continue  # scores of silent examples are 0: with a floor this is close to sadp
            pi = inclusion_probabilities(floor_scores(s.double().cpu(), cfg.floor), k)
            c = draw_coefficients(pi, cfg.draws, cfg.seed + 1)
            row[name] = estimator_variance(gram, c) / v_uniform
            if name == "sadp" and ratio == cfg.ratios[0]:
                marks = sorted({max(1, cfg.draws // 16), max(1, cfg.draws // 4), cfg.draws})
                bias = bias_curve(gram, c, marks)
        variance[f"r={ratio}"] = row

    factor = spike_term(st["counts"]).double()  # SADP = ANN bound x this: where it barely varies, they agree
    return {
        "accuracy": float((st["logits"].argmax(1) == st["targets"]).float().mean()),
        "spearman": {k: spearman(v, true) for k, v in scores.items() if k != "oracle"},
        "pearson": {k: pearson(v, true) for k, v in scores.items() if k != "oracle"},
        "variance_ratio": variance[f"r={cfg.ratios[0]}"],
        "variance_ratio_by_ratio": variance,
        "bias_sadp": bias,
        "head_identity": head,
        "silent_head_fraction": float((st["counts"].sum(0) == 0).float().mean()),
        "spike_factor_cv": float(factor.std() / factor.mean()),
    }


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


def _num(v: float | None, width: int, digits: int = 3) -> str:
    return f"{'-' if v is None or not math.isfinite(v) else f'{v:.{digits}f}':>{width}}"


def format_table(result: dict[str, Any]) -> str:
    """One mode's measurement: scores by Spearman, Pearson and variance; head identity; bias."""
    ratios = list(result["variance_ratio_by_ratio"])
    lines = [f"{'score':<18}{'spearman':>10}{'pearson':>10}" + "".join(f"{'var ' + r:>12}" for r in ratios)]
    for name in list(result["spearman"]) + ["oracle", "uniform"]:
        corr = "".join(_num(result[k][name], 10) if name in result[k] else " " * 10 for k in ("spearman", "pearson"))
        cells = "".join(_num(result["variance_ratio_by_ratio"][r].get(name), 12) for r in ratios)
        lines.append(f"{name:<18}{corr}{cells}")
    h = result["head_identity"]
    lines.append(f"head identity: max relative error {h['max_relative_error']:.2e} ({h['examples_off']} examples "
                 f"over 1e-4); bound >= [W b] norm for all: {h['bound_holds']} (min ratio {h['min_bound_over_norm']:.3f})")
    for row in result["bias_sadp"]:
        lines.append(f"bias (sadp, r={ratios[0].split('=')[1]}): {row['draws']:>6} draws  |mean - G|/|G| = "
                     f"{row['relative_error']:.4f}  (noise level {row['noise_level']:.4f})")
    lines.append(f"accuracy on the scored examples: {100 * result['accuracy']:.1f}%, silent head input: "
                 f"{100 * result['silent_head_fraction']:.1f}%, spike factor CV: {result['spike_factor_cv']:.3f}")
    return "\n".join(lines)


def format_point(point: dict[str, Any], modes: list[str]) -> str:
    """Every mode measured after one warm-up length, each under a header naming its mode."""
    blocks = []
    for mode in modes:
        res = point[f"{mode}_mode"]
        blocks.append(f"== after {point['warmup_epochs']} warm-up epochs (test acc {100 * point['test_acc']:.1f}%), "
                      f"{res['description']}\n{format_table(res)}")
    return "\n".join(blocks)


SUMMARY_SCORES = (("loss", "loss"), ("grad_bound", "ANN bound"), ("sadp", "SADP"), ("sadp_multilayer", "SADP multi"))


def format_summary(result: dict[str, Any]) -> str:
    """One row per (warm-up, mode): Spearman with the true norms and variance / uniform at the first ratio."""
    ratio = f"r={result['config']['ratios'][0]}"
    head = (f"{'warm-up':>7} {'mode':<5} {'test acc':>8} {'acc':>6} {'silent':>7} {'CV':>6}"
            + "".join(f"{'sp ' + label:>14}" for _, label in SUMMARY_SCORES)
            + "".join(f"{'var ' + label:>14}" for label in ("ANN bound", "SADP", "oracle")))
    lines = [f"Spearman (sp) with the true per-example gradient norm and estimator variance at {ratio} "
             "relative to uniform (var), by warm-up and mode", head]
    for point in result["measurements"]:
        for mode in result["config"]["modes"]:
            res = point[f"{mode}_mode"]
            var = res["variance_ratio_by_ratio"][ratio]
            lines.append(f"{point['warmup_epochs']:>7} {mode:<5} {100 * point['test_acc']:>7.1f}% "
                         f"{100 * res['accuracy']:>5.1f}% {100 * res['silent_head_fraction']:>6.1f}% "
                         f"{_num(res['spike_factor_cv'], 6)}"
                         + "".join(_num(res["spearman"][k], 14) for k, _ in SUMMARY_SCORES)
                         + "".join(_num(var[k], 14) for k in ("grad_bound", "sadp", "oracle")))
    return "\n".join(lines)


def plot(out: Path, prefix: str, scores: dict[str, Tensor], true: Tensor, result: dict[str, Any]) -> None:
    """PREFIX_scores_vs_true_norm.png and PREFIX_variance_ratio.png for one mode's measurement."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [k for k in scores if k != "oracle"]
    cols = min(3, len(names))
    rows = math.ceil(len(names) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 3.6 * rows), squeeze=False)
    t = true.detach().cpu().numpy()
    for ax, name in zip(axes.flat, names):
        s = scores[name].detach().cpu().numpy()
        ax.scatter(t, s, s=4, alpha=0.5)
        ax.set_xscale("log")
        if s.min() > 0:
            ax.set_yscale("log")
        else:  # a score that can be 0 (silent layer without the +1)
            ax.set_yscale("symlog", linthresh=max(1e-6, float(s[s > 0].min()) if (s > 0).any() else 1e-3))
        ax.set_xlabel("true gradient norm")
        ax.set_ylabel(name)
        ax.set_title(f"{name}: Spearman {result['spearman'][name]:.3f}")
    for ax in list(axes.flat)[len(names):]:
        ax.axis("off")
    fig.suptitle(result["description"], fontsize=9)
    fig.tight_layout()
    fig.savefig(out / f"{prefix}_scores_vs_true_norm.png", dpi=110)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(7, 3.6))
    by_ratio = result["variance_ratio_by_ratio"]
    methods = list(next(iter(by_ratio.values())))
    width = 0.8 / len(by_ratio)
    for j, (r, row) in enumerate(by_ratio.items()):
        ax.bar([i + j * width for i in range(len(methods))], [row[m] for m in methods], width, label=r)
    ax.set_xticks([i + width * (len(by_ratio) - 1) / 2 for i in range(len(methods))], methods, rotation=20)
    ax.axhline(1.0, color="k", lw=0.8)
    ax.set_ylabel("estimator variance / uniform")
    ax.set_title(result["description"], fontsize=9)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0))  # beside the bars, never over them
    fig.tight_layout()
    fig.savefig(out / f"{prefix}_variance_ratio.png", dpi=110)
    plt.close(fig)


def plot_by_epoch(out: Path, result: dict[str, Any]) -> None:
    """fidelity_by_epoch.png: Spearman of each score against warm-up epochs, solid train mode, dashed eval."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [p["warmup_epochs"] for p in result["measurements"]]
    fig, ax = plt.subplots(figsize=(7, 3.8))
    for j, (key, label) in enumerate(SUMMARY_SCORES):
        for mode in result["config"]["modes"]:
            ys = [p[f"{mode}_mode"]["spearman"][key] for p in result["measurements"]]
            ax.plot(epochs, [float("nan") if v is None else v for v in ys], marker="o", color=f"C{j}",
                    ls="-" if mode == "train" else "--", label=f"{label} ({mode} mode)")
    ax.set_xlabel("warm-up epochs")
    ax.set_ylabel("Spearman with true gradient norm")
    ax.axhline(0.0, color="k", lw=0.6)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), handlelength=3.5)
    fig.tight_layout()
    fig.savefig(out / "fidelity_by_epoch.png", dpi=110)
    plt.close(fig)
