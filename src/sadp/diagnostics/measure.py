"""Measurement for ``sadp diagnose`` of one collected mode (:func:`sadp.diagnostics.collect.collect`):
every score against the true per-example gradient norms (Spearman, Pearson), the head identity and
SADP bound, and the estimator variance and bias of pi drawn from each score (floored as in
training) relative to uniform random pruning at the same K."""
from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from sadp.diagnostics.config import DiagnoseConfig
from sadp.diagnostics.fidelity import pearson, spearman
from sadp.diagnostics.variance import bias_curve, draw_coefficients, estimator_variance
from sadp.pruning.base import budget
from sadp.pruning.sampling import floor_scores, inclusion_probabilities
from sadp.pruning.scores import (
    head_gradient_norm,
    output_error,
    sadp_head_score,
    sadp_multilayer_score,
    spike_term,
)


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
