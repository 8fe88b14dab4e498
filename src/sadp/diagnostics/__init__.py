"""Measurements behind SADP's claims: true per-example gradients (torch.func), score fidelity,
gradient-estimator variance and bias, in eval mode (BatchNorm running statistics) and in train
mode (each batch's statistics, as training scores examples). ``sadp diagnose`` runs them all
(:func:`diagnose`)."""
from sadp.diagnostics.batchstats import batch_norm_layers, frozen_batch_statistics, train_mode_forward
from sadp.diagnostics.config import MODES, DiagnoseConfig
from sadp.diagnostics.fidelity import pearson, rankdata, spearman
from sadp.diagnostics.gradient_matrix import (
    CountSketch,
    per_example_grad_matrix,
    per_example_grad_norms,
    per_example_grads,
)
from sadp.diagnostics.variance import bias_curve, draw_coefficients, estimator_variance
from sadp.diagnostics.warmup import diagnose

__all__ = [
    "MODES", "CountSketch", "DiagnoseConfig", "batch_norm_layers", "bias_curve", "diagnose", "draw_coefficients",
    "estimator_variance", "frozen_batch_statistics", "pearson", "per_example_grad_matrix", "per_example_grad_norms",
    "per_example_grads", "rankdata", "spearman", "train_mode_forward",
]
