"""Every registered model trains at small size; gradients flow through time; memory-lean mode and
torch.func per-example gradients give the same numbers as the default path."""
from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F

from sadp.registry import MODELS
from sadp.snn import SpikingNeuron, build_model, set_backend, set_memory_mode
from sadp.utils.perf import peak_memory

SMALL = {  # model -> (input shape, kwargs) small enough for a fast CPU test
    "mlp": ((1, 8, 8), {"hidden": (16, 8)}),
    "small_cnn": ((1, 8, 8), {"channels": (4, 8, 8)}),
    "vgg11": ((3, 32, 32), {"width": 0.125}),
    "resnet19": ((3, 16, 16), {"width": 8}),
    "sew_resnet18": ((3, 16, 16), {"width": 4}),
    "sew_resnet34": ((3, 16, 16), {"width": 4}),
}


def test_every_registered_model_is_covered():
    assert set(MODELS.names()) <= set(SMALL), f"add a small config for {set(MODELS.names()) - set(SMALL)}"


@pytest.mark.parametrize("name", sorted(SMALL))
@pytest.mark.parametrize("neuron", ["lif", "plif"])
def test_forward_backward_T2(name, neuron):
    torch.manual_seed(0)
    shape, kw = SMALL[name]
    model = build_model(name, shape, 5, neuron=neuron, **kw)
    x = torch.rand(2, 3, *shape) * 3
    out = model(x)
    assert out.shape == (2, 3, 5)
    F.cross_entropy(out.mean(0), torch.tensor([0, 1, 4])).backward()
    grads = {n: p.grad for n, p in model.named_parameters()}
    missing = [n for n, g in grads.items() if g is None]
    assert not missing, f"no gradient for {missing}"
    assert all(torch.isfinite(g).all() for g in grads.values())
    first_weight = next(p for n, p in model.named_parameters() if p.dim() > 1)
    assert first_weight.grad.abs().sum() > 0  # the error reached the first layer through every spiking layer
    assert any(isinstance(m, SpikingNeuron) for m in model.modules())


@pytest.mark.parametrize("backend", ["reference", "fused"])
def test_gradient_reaches_first_layer_through_membrane(backend):
    """Input only at t=0, loss only on the last step's logits: the first layer's weight gradient
    can only arrive through the membranes of steps 0..T-1 (no spikes in between need to fire)."""
    torch.manual_seed(0)
    T = 4
    model = build_model("mlp", (6,), 3, hidden=(8,), tau=2.0)
    x = torch.zeros(T, 2, 6)
    x[0] = torch.rand(2, 6)
    with set_backend(backend):
        out = model(x)
        F.cross_entropy(out[-1], torch.tensor([0, 2])).backward()
    w = model.features[1][0].weight  # Linear of the first spiking layer
    assert w.grad.abs().sum() > 0  # zero if the membrane did not carry state across steps


def test_membrane_path_scales_with_decay():
    """Hand check of the through-time factor: one LIF layer (detached reset), no spikes, input at t=0
    only: dL/dx_0 = sg(h_{T-1} - 1) * (1 - 1/tau)^(T-1) * (1/tau) for L = s_{T-1}."""
    import math

    from sadp.snn import LIF

    T, tau = 4, 2.0
    for backend in ("reference", "fused"):
        x = torch.zeros(T, 1)
        x[0] = 0.4
        x.requires_grad_()
        with set_backend(backend):
            s = LIF(tau=tau, detach_reset=True)(x)
        s[-1].sum().backward()
        h_last = 0.4 / tau * (1 - 1 / tau) ** (T - 1)
        sg = 1 / (1 + (math.pi * (h_last - 1)) ** 2)  # ATan, alpha = 2
        assert x.grad[0].item() == pytest.approx(sg * (1 - 1 / tau) ** (T - 1) / tau, rel=1e-5)


@pytest.mark.parametrize("name", ["small_cnn", "resnet19", "sew_resnet18"])
def test_memory_lean_gives_identical_step(name):
    torch.manual_seed(0)
    shape, kw = SMALL[name]
    a = build_model(name, shape, 5, **kw)
    b = set_memory_mode(copy.deepcopy(a), "lean")
    x, y = torch.rand(3, 4, *shape) * 3, torch.tensor([0, 1, 2, 3])
    for m in (a, b):
        F.cross_entropy(m(x).mean(0), y).backward()
    for (n, p), (_, q) in zip(a.named_parameters(), b.named_parameters()):
        assert torch.equal(p.grad, q.grad), n
    for (n, p), (_, q) in zip(a.named_buffers(), b.named_buffers()):
        assert torch.equal(p, q), n  # BatchNorm statistics were not updated twice by the recompute


def test_memory_lean_lowers_peak_memory():
    torch.manual_seed(0)
    model = build_model("resnet19", (3, 16, 16), 5, width=8)
    x, y = torch.rand(8, 4, 3, 16, 16), torch.tensor([0, 1, 2, 3])

    def step():
        F.cross_entropy(model(x).mean(0), y).backward()

    peaks = {}
    for mode in ("default", "lean"):
        set_memory_mode(model, mode)
        peaks[mode] = peak_memory(step)
    assert peaks["lean"] < 0.6 * peaks["default"], peaks


def test_set_memory_mode_errors():
    with pytest.raises(ValueError, match="memory mode must be"):
        set_memory_mode(build_model("mlp", (4,), 2), "tiny")
    with pytest.raises(TypeError, match="SpikingClassifier"):
        set_memory_mode(torch.nn.Linear(2, 2), "lean")


@pytest.mark.parametrize("route", ["explicit", "automatic"])
def test_torch_func_per_sample_grads_equal_autograd(route):
    """Per-example gradients with vmap(grad(...)) over small_cnn equal one autograd pass per example.

    Documented route: ``with sadp.snn.set_backend("reference")``; without it the neurons fall back
    to the reference path by themselves when they see torch.func-wrapped tensors.
    """
    from torch.func import functional_call, grad, vmap

    torch.manual_seed(0)
    model = build_model("small_cnn", (1, 8, 8), 4, channels=(4, 8, 8)).eval()  # eval: BN uses running stats
    params = {k: v.detach() for k, v in model.named_parameters()}
    buffers = {k: v.detach() for k, v in model.named_buffers()}
    T, B = 2, 5
    x, y = torch.rand(B, 1, 8, 8) * 3, torch.tensor([0, 1, 2, 3, 0])

    def loss_fn(p, xi, yi):
        out = functional_call(model, (p, buffers), (xi.unsqueeze(0).expand(T, 1, *xi.shape),))
        return F.cross_entropy(out.mean(0), yi.unsqueeze(0))

    if route == "explicit":
        with set_backend("reference"):
            per_sample = vmap(grad(loss_fn), in_dims=(None, 0, 0))(params, x, y)
    else:
        per_sample = vmap(grad(loss_fn), in_dims=(None, 0, 0))(params, x, y)

    for i in range(B):
        model.zero_grad()
        xi = x[i : i + 1].unsqueeze(0).expand(T, 1, 1, 8, 8)
        F.cross_entropy(model(xi).mean(0), y[i : i + 1]).backward()  # fused path
        for k, p in model.named_parameters():
            torch.testing.assert_close(per_sample[k][i], p.grad, rtol=1e-4, atol=1e-6)
    assert any(per_sample[k].abs().sum() > 0 for k in per_sample)


def test_vgg11_width_and_explicit_channels():
    convs = lambda m: [c.out_channels for c in m.modules() if isinstance(c, torch.nn.Conv2d)]  # noqa: E731
    assert convs(build_model("vgg11", (3, 32, 32), 10)) == [64, 128, 256, 256, 512, 512, 512, 512]
    quarter = build_model("vgg11", (3, 32, 32), 10, width=0.25)
    assert convs(quarter) == [16, 32, 64, 64, 128, 128, 128, 128] and quarter.head.in_features == 128
    assert convs(build_model("vgg11", (3, 32, 32), 10, channels=[8, 8, 16, 16, 16, 16, 32, 32]))[-1] == 32
    with pytest.raises(ValueError, match="8 positive integers"):
        build_model("vgg11", (3, 32, 32), 10, channels=[8, 16])
    with pytest.raises(ValueError, match="positive number"):
        build_model("vgg11", (3, 32, 32), 10, width=0)
