"""``sadp diagnose``: measure, on a model and dataset, how well each importance score tracks the true
per-example gradient norm and the variance and bias of the epoch gradient estimator it gives.

1. Warm-up: train the model briefly on full data (the trainer, method ``full``).
2. On a seeded subset of training examples, in eval mode: logits, per-step spike counts (head
   input and every spiking layer) and the true per-example gradients of all parameters
   (torch.func; kept as a count sketch unless ``sketch_dim=0``) with their exact norms.
3. Head identity: autograd head-weight gradient norms against ||softmax(z) - y|| ||mean_t s_t||,
   and whether the SADP bound is above the [W b] gradient norm for every example.
4. Fidelity: Spearman and Pearson correlation of every score with the true norms.
5. Variance: E||G_hat - G||^2 over repeated exact-K draws for pi from each score (floored as in
   training), relative to uniform random pruning at the same K; bias curve for SADP.
Scores here come from the same eval-mode forward pass as the true gradients (in training they
come from the training forward pass).
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from sadp.diagnostics.fidelity import pearson, spearman
from sadp.diagnostics.pergrad import per_example_grads
from sadp.diagnostics.variance import bias_curve, draw_coefficients, estimator_variance
from sadp.pruning.base import budget
from sadp.pruning.monitor import SpikeMonitor
from sadp.pruning.sampling import floor_scores, inclusion_probabilities
from sadp.pruning.scores import head_gradient_norm, output_error, sadp_head_score, sadp_multilayer_score


@dataclass
class DiagnoseConfig:
    dataset: str = "digits"
    data_dir: str | None = None
    model: str = "small_cnn"
    T: int = 4
    warmup_epochs: int = 3
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


def _warm_model(cfg: DiagnoseConfig):
    """Train briefly with the trainer; returns (model, bundle)."""
    from sadp.data import build_dataset
    from sadp.snn import build_model
    from sadp.train.config import TrainConfig
    from sadp.train.trainer import Trainer

    bundle = build_dataset(cfg.dataset, data_dir=cfg.data_dir, seed=cfg.seed)
    if cfg.warmup_epochs == 0:
        torch.manual_seed(cfg.seed)
        return build_model(cfg.model, bundle.sample_shape, bundle.num_classes), bundle
    out = Path(cfg.out) / "warmup"
    if (out / "checkpoint.pt").exists():
        (out / "checkpoint.pt").unlink()
    tcfg = TrainConfig(dataset=cfg.dataset, data_dir=cfg.data_dir, model=cfg.model, T=cfg.T, method="full",
                       epochs=cfg.warmup_epochs, seed=cfg.seed, device=cfg.device, out=str(out), progress=False)
    trainer = Trainer(tcfg, bundle=bundle)
    trainer.fit()
    return trainer.model, bundle


def collect(cfg: DiagnoseConfig, model: torch.nn.Module, bundle: Any) -> dict[str, Tensor]:
    """Eval-mode statistics and true per-example gradients of a seeded subset of training examples."""
    from sadp.data import BatchTransform
    from sadp.snn import encode
    from sadp.train.losses import per_example_loss

    device = torch.device(cfg.device)
    model = model.to(device)
    n_train = len(bundle.train)
    g = torch.Generator().manual_seed(cfg.seed)
    idx = torch.randperm(n_train, generator=g)[: cfg.examples] if 0 < cfg.examples < n_train else torch.arange(n_train)
    idx = idx.sort().values
    data = bundle.train.data[idx] if hasattr(bundle.train, "data") else torch.stack([bundle.train[int(i)][0] for i in idx])
    x = BatchTransform(bundle, train=False)(data.to(device))
    y = torch.as_tensor([int(bundle.train[int(i)][1]) for i in idx], device=device)
    inputs = x.transpose(0, 1) if bundle.is_event else encode(x, cfg.T)

    monitor = SpikeMonitor(model, layers=True)
    model.eval()
    logits, counts, layer_counts, head_in = [], [], [], []
    head_inputs: list[Tensor] = []
    hook = model.head.register_forward_pre_hook(lambda m, a: head_inputs.append(a[0].detach()))
    with torch.no_grad():
        for s in range(0, len(idx), 256):
            with monitor.record():
                out = model(inputs[:, s:s + 256])
            logits.append(out.mean(0))
            counts.append(monitor.counts)
            layer_counts.append(monitor.layer_counts)
            head_in.append(head_inputs.pop())
    hook.remove()
    monitor.remove()

    sketch = None
    if cfg.sketch_dim > 0:
        from sadp.diagnostics.pergrad import CountSketch

        num = sum(p.numel() for p in model.parameters() if p.requires_grad)
        sketch = CountSketch(num, cfg.sketch_dim, cfg.seed, device)
    rows, norms, head_w, head_wb = [], [], [], []
    for _, grads in per_example_grads(model, inputs, y, per_example_loss, cfg.chunk_size):
        flat = torch.cat([v.flatten(1) for v in grads.values()], 1)
        norms.append(flat.norm(dim=1))
        rows.append(sketch(flat) if sketch is not None else flat)
        gw, gb = grads["head.weight"].flatten(1), grads["head.bias"]
        head_w.append(gw.norm(dim=1))
        head_wb.append(torch.cat([gw, gb], 1).norm(dim=1))
    n_layers = len(layer_counts[0])
    return {
        "indices": idx,
        "targets": y,
        "logits": torch.cat(logits),
        "loss": torch.nn.functional.cross_entropy(torch.cat(logits), y, reduction="none"),
        "counts": torch.cat(counts, 1),
        "layer_counts": [torch.cat([lc[i] for lc in layer_counts], 1) for i in range(n_layers)],
        "head_input": torch.cat(head_in, 1),
        "grads": torch.cat(rows),
        "true_norm": torch.cat(norms),
        "head_w_norm": torch.cat(head_w),
        "head_wb_norm": torch.cat(head_wb),
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


def diagnose(cfg: DiagnoseConfig) -> dict[str, Any]:
    cfg.validate()
    torch.manual_seed(cfg.seed)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    model, bundle = _warm_model(cfg)
    st = collect(cfg, model, bundle)
    scores = score_table(st)
    true = st["true_norm"]
    n = len(true)

    exact_head = head_gradient_norm(st["logits"], st["targets"], st["head_input"])
    rel = ((exact_head - st["head_w_norm"]).abs() / st["head_w_norm"].clamp_min(1e-30)).max()
    head = {
        "max_relative_error": float(rel),
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

    result = {
        "config": asdict(cfg),
        "num_examples": n,
        "spearman": {k: spearman(v, true) for k, v in scores.items() if k != "oracle"},
        "pearson": {k: pearson(v, true) for k, v in scores.items() if k != "oracle"},
        "variance_ratio": variance[f"r={cfg.ratios[0]}"],
        "variance_ratio_by_ratio": variance,
        "bias_sadp": bias,
        "head_identity": head,
        "silent_head_fraction": float((st["counts"].sum(0) == 0).float().mean()),
    }
    (out / "diagnostics.json").write_text(json.dumps(_json_safe(result), indent=2))
    print(format_table(result))
    if cfg.plots:
        plot(out, scores, true, result)
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


def format_table(result: dict[str, Any]) -> str:
    ratios = list(result["variance_ratio_by_ratio"])
    lines = [f"{'score':<18}{'spearman':>10}{'pearson':>10}" + "".join(f"{'var ' + r:>12}" for r in ratios)]
    names = list(result["spearman"]) + ["oracle", "uniform"]
    for name in names:
        sp = result["spearman"].get(name)
        pe = result["pearson"].get(name)
        vals = [result["variance_ratio_by_ratio"][r].get(name) for r in ratios]
        cells = [f"{'-' if v is None else f'{v:.3f}':>12}" for v in vals]
        lines.append(f"{name:<18}{'' if sp is None else f'{sp:.3f}':>10}{'' if pe is None else f'{pe:.3f}':>10}" + "".join(cells))
    h = result["head_identity"]
    lines.append(f"head identity: max relative error {h['max_relative_error']:.2e}; bound >= [W b] norm for all: "
                 f"{h['bound_holds']} (min ratio {h['min_bound_over_norm']:.3f})")
    for row in result["bias_sadp"]:
        lines.append(f"bias (sadp, r={ratios[0].split('=')[1]}): {row['draws']:>6} draws  |mean - G|/|G| = "
                     f"{row['relative_error']:.4f}  (noise level {row['noise_level']:.4f})")
    lines.append(f"examples: {result['num_examples']}, silent head input: {100 * result['silent_head_fraction']:.1f}%")
    return "\n".join(lines)


def plot(out: Path, scores: dict[str, Tensor], true: Tensor, result: dict[str, Any]) -> None:
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
    fig.tight_layout()
    fig.savefig(out / "scores_vs_true_norm.png", dpi=110)
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
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "variance_ratio.png", dpi=110)
    plt.close(fig)
