"""Train-mode per-example gradients: BatchNorm normalising by the batch's statistics, held fixed."""
from __future__ import annotations

import copy

import pytest
import torch
from torch import Tensor, nn

from sadp.diagnostics.batchstats import batch_norm_layers, frozen_batch_statistics, train_mode_forward
from sadp.diagnostics.gradient_matrix import per_example_grad_matrix
from sadp.snn import build_model
from sadp.train.losses import per_example_loss


class FixedAffineNorm(nn.Module):
    """Stand-in for BatchNorm2d, written out by hand: ``record`` normalises by the statistics of the
    input it sees and keeps them; afterwards it normalises by the kept ones as constants."""

    def __init__(self, bn: nn.BatchNorm2d) -> None:
        super().__init__()
        self.weight = nn.Parameter(bn.weight.detach().clone())
        self.bias = nn.Parameter(bn.bias.detach().clone())
        self.eps = bn.eps
        self.record = True
        self.mean: Tensor | None = None
        self.var: Tensor | None = None

    def forward(self, x: Tensor) -> Tensor:
        if self.record:
            per_channel = x.detach().double().transpose(0, 1).reshape(x.shape[1], -1)
            self.mean = per_channel.mean(1)
            self.var = ((per_channel - self.mean[:, None]) ** 2).mean(1)  # biased, as BN normalises in training
        shape = (1, -1) + (1,) * (x.dim() - 2)
        scale = (self.weight.double() / (self.var + self.eps).sqrt()).view(shape)
        return ((x.double() - self.mean.view(shape)) * scale + self.bias.double().view(shape)).float()


def _tiny_model(num_classes: int = 4) -> nn.Module:
    torch.manual_seed(0)
    model = build_model("small_cnn", (1, 8, 8), num_classes, channels=(4, 8, 8))
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            nn.init.constant_(m.weight, 2.5)  # some spikes at initialisation
            nn.init.uniform_(m.bias, -0.5, 0.5)
            # running statistics far from any batch's: eval mode then differs clearly from train mode
            m.running_mean.fill_(0.3)
            m.running_var.fill_(4.0)
    return model


def _with_fixed_affine_norm(model: nn.Module) -> nn.Module:
    copy_ = copy.deepcopy(model)
    for name, m in list(copy_.named_modules()):
        for child_name, child in list(m.named_children()):
            if isinstance(child, nn.BatchNorm2d):
                setattr(m, child_name, FixedAffineNorm(child))
    return copy_


def test_train_mode_per_example_gradients_match_fixed_affine_loop() -> None:
    model = _tiny_model()
    x = torch.randn(3, 10, 1, 8, 8)  # distinct steps: BN sees T*B*H*W values per channel
    y = torch.arange(10) % 4
    before = {k: v.clone() for k, v in model.state_dict().items()}

    out, stats = train_mode_forward(model, x)
    with frozen_batch_statistics(model, stats):
        flat, norms = per_example_grad_matrix(model, x, y, per_example_loss, chunk_size=4)
    eval_flat, _ = per_example_grad_matrix(model, x, y, per_example_loss, chunk_size=4)

    # nothing of the model changed: running statistics, batch counts, parameters, training flag
    assert model.training
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), k

    # independent computation: BN replaced by hand-written normalisation with this batch's statistics
    ref_model = _with_fixed_affine_norm(model)
    ref_out = ref_model(x)  # records each layer's batch statistics
    assert torch.allclose(out, ref_out, atol=1e-5), "train_mode_forward is not BatchNorm's training pass"
    assert torch.allclose(out, copy.deepcopy(model).train()(x), atol=1e-6)
    for m in ref_model.modules():
        if isinstance(m, FixedAffineNorm):
            m.record = False
    names = [n for n, _ in ref_model.named_parameters()]
    assert names == [n for n, _ in model.named_parameters()]
    for i in range(10):
        ref_model.zero_grad()
        per_example_loss(ref_model(x[:, i:i + 1]), y[i:i + 1]).sum().backward()
        ref = torch.cat([p.grad.flatten() for p in ref_model.parameters()])
        assert torch.allclose(flat[i], ref, atol=1e-6, rtol=1e-4), i
        assert float(norms[i]) == pytest.approx(float(ref.norm()), rel=1e-4)
    conv1 = sum(p.numel() for p in model.features[0].parameters())
    assert float(flat[:, :conv1].abs().sum()) > 0  # gradients reach the first layer (spikes in every layer)
    # the frozen-statistics gradients are not the eval-mode (running statistics) ones
    rel = float((flat - eval_flat).norm() / flat.norm())
    assert rel > 0.1, rel


def test_batch_statistics_are_those_of_the_whole_batch() -> None:
    model = _tiny_model()
    x = torch.randn(3, 12, 1, 8, 8)
    _, stats = train_mode_forward(model, x)
    _, stats_half = train_mode_forward(model, x[:, :6])
    name = batch_norm_layers(model)[0][0]
    conv_out = model.features[0][0](x.flatten(0, 1))  # first SeqToANN: conv then BN over T*B*H*W
    var, mean = torch.var_mean(conv_out.detach(), dim=(0, 2, 3), unbiased=False)
    assert torch.allclose(stats[name][0], mean, atol=1e-6) and torch.allclose(stats[name][1], var, atol=1e-5)
    assert not torch.allclose(stats[name][0], stats_half[name][0])  # per batch, not per example or global


def test_frozen_statistics_are_restored_and_checked() -> None:
    model = _tiny_model()
    _, stats = train_mode_forward(model, torch.randn(2, 4, 1, 8, 8))
    bn = batch_norm_layers(model)[0][1]
    running = bn.running_mean.clone()
    model.train()
    with pytest.raises(RuntimeError, match="boom"):
        with frozen_batch_statistics(model, stats):
            assert not model.training and not torch.equal(bn.running_mean, running)
            raise RuntimeError("boom")
    assert model.training and torch.equal(bn.running_mean, running)
    with pytest.raises(ValueError, match="do not match"):
        with frozen_batch_statistics(model, {}):
            pass
    untracked = nn.Sequential(nn.BatchNorm1d(3, track_running_stats=False))
    with pytest.raises(ValueError, match="track_running_stats=False"):
        train_mode_forward(untracked, torch.randn(4, 3))


def test_collect_train_mode_keeps_examples_in_order_and_the_model_unchanged(tmp_path) -> None:
    from sadp.data import build_dataset
    from sadp.diagnostics.collect import collect
    from sadp.diagnostics.config import DiagnoseConfig
    from sadp.diagnostics.measure import measure

    bundle = build_dataset("digits", seed=0)
    model = _tiny_model(bundle.num_classes)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    cfg = DiagnoseConfig(examples=40, batch_size=16, draws=20, sketch_dim=0, chunk_size=8, out=str(tmp_path))
    train = collect(cfg, model, bundle, "train")  # batches of 16, 16 and 8 in a seeded random order
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), k
    assert model.training
    # gradients, logits, spike counts and targets must be reordered together: the head identity
    # ||d l / d W|| = ||softmax(z) - y|| ||mean_t s_t|| holds per example only if they are
    res = measure(cfg, train)
    assert res["head_identity"]["max_relative_error"] < 1e-5 and res["head_identity"]["bound_holds"]
    # one batch holding every example: the scores are those of one train-mode pass over the subset
    whole = collect(DiagnoseConfig(examples=40, batch_size=40, sketch_dim=0, out=str(tmp_path)), model, bundle, "train")
    evalm = collect(cfg, model, bundle, "eval")
    assert torch.equal(whole["indices"], train["indices"]) and torch.equal(whole["targets"], train["targets"])
    from sadp.diagnostics.collect import _model_input, _scored_examples

    _, x, _ = _scored_examples(cfg, bundle)
    out, _ = train_mode_forward(model, _model_input(cfg, bundle, x))
    assert torch.allclose(whole["logits"], out.mean(0), atol=1e-5)
    assert not torch.allclose(train["true_norm"], evalm["true_norm"], rtol=1e-2)
