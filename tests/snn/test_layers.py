"""MaxPool2x2 (C++ pooling with 1-byte winner codes) and SeqToANN's static-input reuse give the same
outputs and gradients as the plain PyTorch modules."""
from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from sadp.snn import build_model, cpu_kernels, encode
from sadp.snn.layers import MaxPool2x2, SeqToANN


def pool_both(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    a, b = x.clone().requires_grad_(), x.clone().requires_grad_()
    ya, yb = MaxPool2x2()(a), F.max_pool2d(b, 2)
    g = torch.randn_like(yb)
    ya.backward(g)
    yb.backward(g)
    return ya, yb, a.grad, b.grad


@pytest.mark.parametrize("make", [
    lambda: (torch.rand(6, 4, 8, 10) < 0.3).float(),  # binary spikes: ties in most windows
    lambda: torch.zeros(2, 3, 4, 4),  # all ties: the first element of each window wins
    lambda: torch.randn(3, 5, 6, 6, dtype=torch.float64),
    lambda: torch.randint(-2, 3, (2, 2, 4, 8)).float(),
])
def test_maxpool2x2_equals_max_pool2d(make) -> None:
    if cpu_kernels.load() is None:
        pytest.skip("C++ kernels unavailable: MaxPool2x2 is F.max_pool2d itself")
    x = make()
    assert MaxPool2x2._use_kernel(x)
    ya, yb, ga, gb = pool_both(x)
    assert torch.equal(ya, yb) and torch.equal(ga, gb)


def test_maxpool2x2_nan_and_fallbacks() -> None:
    x = torch.randn(2, 2, 4, 4)
    x[0, 0, 0, 1] = float("nan")
    ya, yb, ga, gb = pool_both(x)
    assert torch.equal(ya.isnan(), yb.isnan()) and torch.equal(ya.nan_to_num(), yb.nan_to_num()) and torch.equal(ga, gb)
    odd = torch.randn(2, 3, 5, 4)
    assert not MaxPool2x2._use_kernel(odd)  # odd height: PyTorch's pooling (floor mode)
    ya, yb, ga, gb = pool_both(odd)
    assert torch.equal(ya, yb) and torch.equal(ga, gb)
    assert not MaxPool2x2._use_kernel(torch.randn(2, 3, 4, 4).transpose(-1, -2))  # non-contiguous


def test_static_input_runs_time_invariant_modules_once_with_equal_results(monkeypatch: pytest.MonkeyPatch) -> None:
    torch.manual_seed(0)
    seq = SeqToANN(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4))
    calls = []
    seq[0].register_forward_hook(lambda m, i, o: calls.append(i[0].shape[0]))
    x = torch.randn(5, 3, 8, 8)
    out = seq(encode(x, 4))  # expanded view: stride 0 over T
    assert calls == [5] and out.shape == (4, 5, 4, 8, 8) and out.stride(0) == 0
    monkeypatch.setattr(SeqToANN, "reuse_static_input", False)
    ref = copy.deepcopy(seq)(encode(x, 4))
    assert calls[-1] == 20 and torch.allclose(out, ref, atol=1e-6)
    seq_drop = SeqToANN(nn.Conv2d(3, 4, 3), nn.Dropout(0.5))
    assert not seq_drop._time_invariant()  # per-step randomness: never shared over time


def test_small_cnn_training_step_equal_with_and_without_the_fast_paths(monkeypatch: pytest.MonkeyPatch) -> None:
    # Static-input reuse and the C++ pooling change the work, not the result: one training step
    # of the default model gives the same loss and gradients (float rounding) as the plain path.
    torch.manual_seed(0)
    a = build_model("small_cnn", (3, 16, 16), 10, channels=(8, 16, 16))
    b = copy.deepcopy(a)
    x, y = torch.randn(6, 3, 16, 16), torch.randint(0, 10, (6,))
    la = F.cross_entropy(a(encode(x, 4)).mean(0), y)
    la.backward()
    monkeypatch.setattr(SeqToANN, "reuse_static_input", False)
    monkeypatch.setattr(MaxPool2x2, "_use_kernel", staticmethod(lambda x: False))
    lb = F.cross_entropy(b(encode(x, 4)).mean(0), y)
    lb.backward()
    assert torch.allclose(la, lb, rtol=1e-6)
    for (n, p), (_, q) in zip(a.named_parameters(), b.named_parameters()):
        assert torch.allclose(p.grad, q.grad, rtol=1e-4, atol=1e-6), n


@pytest.mark.parametrize("kind", ["lif", "if"])
@pytest.mark.parametrize("recompute", [False, True])
def test_static_frame_neuron_equals_the_materialised_input(kind: str, recompute: bool) -> None:
    # A neuron fed f.expand(T, ...) reads the frame in place and returns its gradient summed over
    # steps; spikes must equal those for the copied [T, ...] input and gradients agree to rounding.
    if cpu_kernels.load() is None:
        pytest.skip("C++ kernels unavailable")
    from sadp.snn import IF, LIF
    from sadp.snn.fused import static_frame

    torch.manual_seed(0)
    neuron = (LIF if kind == "lif" else IF)(surrogate="atan")
    neuron.recompute = recompute
    f = (torch.randn(3, 4, 5) * 1.5).requires_grad_()
    f2 = f.detach().clone().requires_grad_()
    x = f.unsqueeze(0).expand(6, *f.shape)
    assert static_frame(x) is f and static_frame(x.contiguous()) is None and static_frame(x[:, 1:]) is None
    s1 = neuron(x)
    s2 = neuron(f2.unsqueeze(0).expand(6, *f.shape).contiguous())
    assert torch.equal(s1, s2) and s1.shape == (6, 3, 4, 5)
    g = torch.randn_like(s1)
    s1.backward(g)
    s2.backward(g)
    assert torch.allclose(f.grad, f2.grad, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("kind", ["lif", "if"])
@pytest.mark.parametrize("static", [False, True])
def test_recompute_backward_kernel_is_bit_identical(kind: str, static: bool) -> None:
    # Memory-lean neurons re-run the recurrence per neuron block inside the backward kernel; the
    # gradient must equal the keep-h path bit for bit (same operations in the same order).
    if cpu_kernels.load() is None:
        pytest.skip("C++ kernels unavailable")
    from sadp.snn import IF, LIF

    f0 = torch.randn(700, 3, generator=torch.Generator().manual_seed(1)) * 1.5  # 2,100 neurons: 5 blocks of 512
    grads = []
    for recompute in (False, True):
        neuron = (LIF if kind == "lif" else IF)(surrogate="sigmoid", detach_reset=False)
        neuron.recompute = recompute
        f = f0.clone().requires_grad_()
        x = (f.unsqueeze(0).expand(5, *f.shape) if static
             else (f.unsqueeze(0) * torch.linspace(0.5, 1.5, 5)[:, None, None]))
        s = neuron(x)
        s.backward(torch.randn(s.shape, generator=torch.Generator().manual_seed(2)))
        grads.append(f.grad)
    assert torch.equal(grads[0], grads[1])
