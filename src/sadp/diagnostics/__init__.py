"""Measurements behind SADP's claims: true per-example gradients (torch.func), score fidelity,
gradient-estimator variance and bias. ``sadp diagnose`` runs them all (:func:`diagnose`)."""
from sadp.diagnostics.fidelity import pearson, rankdata, spearman
from sadp.diagnostics.pergrad import CountSketch, per_example_grad_matrix, per_example_grad_norms, per_example_grads
from sadp.diagnostics.run import DiagnoseConfig, diagnose
from sadp.diagnostics.variance import bias_curve, draw_coefficients, estimator_variance

__all__ = [
    "CountSketch", "DiagnoseConfig", "bias_curve", "diagnose", "draw_coefficients", "estimator_variance",
    "pearson", "per_example_grad_matrix", "per_example_grad_norms", "per_example_grads", "rankdata", "spearman",
]
