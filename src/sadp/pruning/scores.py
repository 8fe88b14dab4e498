"""Per-example importance scores computed from one training forward pass (no extra passes).

Notation (as in docs/methods.md): z the readout logits, y the one-hot target, p = softmax(z), n_t the spike
count of the head's input at step t (T steps).

Mean readout (z = mean_t z_t, loss CE(z, y)): delta_t = dl/dz_t = (p - y) / T and the head's
weight gradient is (p - y) (mean_t s_t)^T, so its Frobenius norm is exactly
||p - y|| * ||mean_t s_t||  (:func:`head_gradient_norm`). Since ||s_t|| <= sqrt(n_t) for spikes in
[0, 1] (equality for binary spikes) and the bias adds one input of value 1,
||dl/d[W b]|| <= sum_t ||delta_t|| sqrt(n_t + 1) = ||p - y|| * mean_t sqrt(n_t + 1)
(:func:`sadp_head_score`, the default SADP score).

Per-step readout (loss mean_t CE(z_t, y), TET with lambda = 0): delta_t = (softmax(z_t) - y) / T,
so the same bound reads mean_t ||softmax(z_t) - y|| sqrt(n_t + 1) (:func:`sadp_step_score`).

Multi-layer (:func:`sadp_multilayer_score`): hidden layer l's weight gradient is bounded by
C_l ||p - y|| sum_t sqrt(n^{l-1}_t + 1) with C_l the same for every example (weight norms,
surrogate slope, decay); we take C_l = 1, i.e. ||p - y|| * sum_l mean_t sqrt(n^l_t + 1).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def readout_cross_entropy(z: Tensor, y: Tensor, label_smoothing: float = 0.0) -> Tensor:
    """[B] cross-entropy of the mean readout z = mean_t z_t (logits [B, K]), one loss per example:
    the ``ce`` training loss, the Pruner's default loss and the loss the scores here are derived for
    (:func:`output_error_from_gradients` reads its gradients)."""
    return F.cross_entropy(z, y, reduction="none", label_smoothing=label_smoothing)


def output_error(logits: Tensor, targets: Tensor) -> Tensor:
    """||softmax(z) - onehot(y)||_2 per example [B] (EL2N, the ANN gradient bound)."""
    p = torch.softmax(logits.float(), dim=-1)  # a fresh tensor: safe to modify in place (no copy)
    p.scatter_add_(-1, targets.long().unsqueeze(-1), torch.full_like(p[..., :1], -1.0))
    return p.norm(dim=-1)


def output_error_from_gradients(logit_grad: Tensor, loss_grad: Tensor, targets: Tensor,
                                label_smoothing: float = 0.0) -> Tensor:
    """||softmax(z_i) - onehot(y_i)|| read off the gradients backward has already computed: no softmax.

    For a loss L = sum_i c_i CE(z_i, y_i) with any coefficients c_i (loss weights / B, a loss
    scale), dL/dl_i = c_i (``loss_grad``) and dL/dz_i = c_i (p_i - y~_i) (``logit_grad`` [B, K]),
    y~ the (label-smoothed) target. So d_i = dL/dz_i / c_i = p_i - y~_i, and with smoothing eps
    (y~ = (1 - eps) y + eps / K): ||p - y||^2 = ||d||^2 - 2 eps d_y + eps^2 (1 - 1/K).
    NaN where c_i = 0 (no gradient came from that example, e.g. DDP padding).
    """
    c = loss_grad.detach().float()
    g = logit_grad.detach()
    norm = torch.linalg.vector_norm(g, dim=-1, dtype=torch.float32) / c.abs()  # one pass over [B, K]
    if not label_smoothing:
        return norm  # c_i = 0: dL/dz_i = 0 too, and 0 / 0 is NaN
    k = g.shape[-1]
    d_y = g.gather(-1, targets.long().unsqueeze(-1)).squeeze(-1).float() / c
    sq = norm.square() - 2.0 * label_smoothing * d_y + label_smoothing ** 2 * (1.0 - 1.0 / k)
    return torch.where(c != 0, sq.clamp_min(0).sqrt(), torch.full_like(sq, float("nan")))


def batch_output_error(logits: Tensor, targets: Tensor, precomputed: Tensor | None = None) -> Tensor:
    """``precomputed`` (StepStats.output_error) when given, else :func:`output_error` of the logits."""
    return precomputed if precomputed is not None else output_error(logits, targets)


def spike_term(counts: Tensor, bias: bool = True) -> Tensor:
    """mean_t sqrt(n_t + 1) (or sqrt(n_t) without the bias term) from counts [T, B] -> [B]."""
    return (counts.float() + (1.0 if bias else 0.0)).clamp_min(0).sqrt().mean(0)


def sadp_head_score(logits: Tensor, targets: Tensor, counts: Tensor, bias: bool = True,
                    error: Tensor | None = None) -> Tensor:
    """a_i = ||softmax(z_i) - y_i|| * mean_t sqrt(n_{i,t} + 1): bound on the head's [W b] gradient norm
    (``error``: the first factor when already known, see :func:`output_error_from_gradients`)."""
    return batch_output_error(logits, targets, error) * spike_term(counts, bias)


def sadp_step_score(step_logits: Tensor, targets: Tensor, counts: Tensor, bias: bool = True) -> Tensor:
    """Per-step readout: mean_t ||softmax(z_t) - y|| * sqrt(n_t + 1), step_logits [T, B, K]."""
    err = output_error(step_logits, targets.unsqueeze(0).expand(step_logits.shape[:2]))  # [T, B]
    return (err * (counts.float() + (1.0 if bias else 0.0)).clamp_min(0).sqrt()).mean(0)


def sadp_multilayer_score(logits: Tensor, targets: Tensor, layer_counts: list[Tensor], bias: bool = True,
                          error: Tensor | None = None) -> Tensor:
    """||softmax(z) - y|| * sum_l mean_t sqrt(n^l_t + 1) over every spiking layer l."""
    if not layer_counts:
        raise ValueError("multi-layer SADP score needs the spike counts of every spiking layer; none were recorded")
    total = torch.stack([spike_term(c, bias) for c in layer_counts]).sum(0)
    return batch_output_error(logits, targets, error) * total


def head_gradient_norm(logits: Tensor, targets: Tensor, head_input: Tensor) -> Tensor:
    """Exact per-example norm of the head's weight gradient for the mean readout:
    ||softmax(z) - y|| * ||mean_t x_t||, head_input [T, B, D]."""
    return output_error(logits, targets) * head_input.float().mean(0).flatten(1).norm(dim=1)
