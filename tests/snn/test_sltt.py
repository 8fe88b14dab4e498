"""SLTT and SLTT-K (sadp.snn.sltt): gradients equal autograd on the reference graph with the temporal
routes detached (and, for SLTT-K, masked to the trained steps) on every backend; BPTT untouched;
the forward pass (spikes) unchanged; the layers skip the untrained steps' work."""
from __future__ import annotations

import itertools

import pytest
import torch
from torch import nn

from sadp.snn import (
    IF,
    LIF,
    PLIF,
    Backprop,
    SeqToANN,
    backprop,
    build_model,
    cpu_kernels,
    set_backend,
    set_backprop,
    set_memory_mode,
    sltt,
)
from sadp.snn.neuron_spec import charge


@pytest.fixture(params=["cpp", "torch", "reference"])
def impl(request, monkeypatch):
    """The C++ kernels (IF/LIF on CPU), the PyTorch fused loops, and the reference autograd loop."""
    if request.param == "cpp" and cpu_kernels.load() is None:
        pytest.skip("C++ kernels could not be built here (see the warning)")
    if request.param == "torch":
        monkeypatch.setattr(cpu_kernels, "supports", lambda spec, x: False)
    return request.param


CASES = list(itertools.product(["lif", "if", "plif"], ["hard", "soft"], [False, True], [True, False],
                               ["atan", "sigmoid", "triangle"]))


def make(kind, reset, detach_reset, decay_input, surrogate):
    common = dict(reset=reset, detach_reset=detach_reset, surrogate=surrogate)
    if kind == "if":
        return IF(**common)
    if kind == "lif":
        return LIF(tau=3.0, decay_input=decay_input, **common)
    return PLIF(init_tau=3.0, decay_input=decay_input, **common)


def detached_graph(neuron, x, steps):
    """Autograd on the reference graph with the temporal routes detached: the membrane carried
    into each step is a constant; with ``steps`` (SLTT-K) the other steps' spikes carry no gradient."""
    spec, k = neuron.spec(), neuron.decay()
    v = torch.full_like(x[0], neuron.v_reset)
    out = []
    for t in range(x.shape[0]):
        h = charge(spec, v.detach(), x[t], k)
        s = neuron.surrogate(h - neuron.v_threshold)
        out.append(s if steps is None or t in steps.tolist() else s.detach())
        sr = s.detach()
        v = h * (1 - sr) + neuron.v_reset * sr if neuron.reset == "hard" else h - neuron.v_threshold * sr
    return torch.stack(out)


def grads(neuron, x, g, fn):
    x = x.clone().requires_grad_()
    neuron.zero_grad()
    s = fn(x)
    (s * g).sum().backward()
    return s.detach(), x.grad, (neuron.w.grad.clone() if isinstance(neuron, PLIF) else None)


@pytest.mark.parametrize("K", [0, 1, 3])
@pytest.mark.parametrize("kind, reset, detach_reset, decay_input, surrogate", CASES)
def test_neuron_sltt_equals_the_detached_graph(kind, reset, detach_reset, decay_input, surrogate, K, impl):
    torch.manual_seed(hash((kind, reset, detach_reset, decay_input, surrogate, K)) % 2**31)
    n = make(kind, reset, detach_reset, decay_input, surrogate)
    x = torch.randn(6, 4, 3, 5) * 2.0 + 0.8
    g = torch.randn_like(x)
    backend = "reference" if impl == "reference" else "fused"

    def run(xx):
        nonlocal steps
        with set_backend(backend), backprop("sltt", steps=K) as selection:
            s = n(xx)
        steps = selection.steps(xx.shape[0])
        return s

    steps = None
    s, gx, gw = grads(n, x, g, run)
    assert (steps is None) == (K == 0) and (steps is None or steps.numel() == K)
    s_ref, gx_ref, gw_ref = grads(n, x, g, lambda xx: detached_graph(n, xx, steps))
    assert 0.02 < s_ref.mean() < 0.98
    assert torch.equal(s, s_ref)  # the forward pass is BPTT's
    torch.testing.assert_close(gx, gx_ref, rtol=1e-5, atol=1e-6)
    if steps is not None:  # masked: nothing flows at the other steps
        other = [t for t in range(6) if t not in steps.tolist()]
        assert torch.all(gx[other] == 0) and torch.any(gx[steps] != 0)
    if gw_ref is not None:
        torch.testing.assert_close(gw, gw_ref, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("K", [0, 2])
def test_static_input_sltt_equals_the_detached_graph(K):
    """A direct-encoded frame (stride-0 view over T) runs the C++ kernels on the frame itself."""
    if cpu_kernels.load() is None:
        pytest.skip("C++ kernels could not be built here")
    torch.manual_seed(3)
    n = LIF(tau=3.0)
    f = torch.randn(4, 50) * 2 + 0.8
    g = torch.randn(5, 4, 50)
    ff = f.clone().requires_grad_()
    with backprop("sltt", steps=K) as selection:
        s = n(ff.unsqueeze(0).expand(5, *f.shape))
    (s * g).sum().backward()
    steps = selection.steps(5)
    fr = f.clone().requires_grad_()
    (detached_graph(n, fr.unsqueeze(0).expand(5, *f.shape), steps) * g).sum().backward()
    torch.testing.assert_close(ff.grad, fr.grad, rtol=1e-5, atol=1e-6)


def test_sltt_saves_only_h_at_the_trained_steps():
    """SLTT keeps one float per neuron and trained step: no bool spikes, nothing of the other steps."""
    n = LIF(tau=2.0)
    x = (torch.randn(8, 2, 1000) + 1).requires_grad_()
    sizes = {}
    for name, ctx in (("bptt", backprop("bptt")), ("sltt", backprop("sltt")), ("sltt2", backprop("sltt", steps=2))):
        saved = []
        with ctx, torch.autograd.graph.saved_tensors_hooks(lambda t: saved.append(t) or t, lambda t: t):
            n(x)
        sizes[name] = sum(t.numel() * t.element_size() for t in saved if t.dim() > 1)
    assert sizes["bptt"] == 8 * 2000 * (4 + 1)  # h float + spikes bool
    assert sizes["sltt"] == 8 * 2000 * 4
    assert sizes["sltt2"] == 2 * 2000 * 4


def test_bptt_context_is_bit_identical_to_no_context():
    torch.manual_seed(0)
    m = build_model("small_cnn", (3, 16, 16), 10, channels=(8, 16, 16))
    x = torch.randn(3, 3, 16, 16)
    inp = x.unsqueeze(0).expand(4, *x.shape)
    results = []
    for ctx in (None, "bptt"):
        m.zero_grad()
        torch.manual_seed(1)
        if ctx is None:
            y = m(inp)
        else:
            with backprop(ctx):
                y = m(inp)
        y.square().mean().backward()
        results.append((y.detach(), [p.grad.clone() for p in m.parameters()]))
    assert torch.equal(results[0][0], results[1][0])
    assert all(torch.equal(a, b) for a, b in zip(results[0][1], results[1][1]))


def _masked_reference(model, steps, T):
    """Hooks that make ``model`` (reference neurons under SLTT) the SLTT-K graph: every module inside
    a SeqToANN, and the head, gives the untrained steps' outputs without gradient."""
    mask = sltt.steps_mask(steps, T)
    handles = []

    def hook(mod, inp, out):
        rows = mask.repeat_interleave(out.shape[0] // T).view(-1, *([1] * (out.dim() - 1)))
        return torch.where(rows, out, out.detach())

    for seq in [m for m in model.modules() if isinstance(m, SeqToANN)]:
        for mod in seq.children():
            handles.append(mod.register_forward_hook(hook))
    handles.append(model.head.register_forward_hook(hook))
    return handles


@pytest.mark.parametrize("name", ["small_cnn", "resnet19"])
@pytest.mark.parametrize("K", [0, 1, 2])
def test_model_sltt_k_equals_the_masked_graph(name, K):
    """A whole model: fused SLTT-K (split layers, C++ or PyTorch neurons) equals autograd on the
    reference graph with temporal routes detached and the untrained steps' outputs detached."""
    T = 4
    kw = {"width": 8} if name == "resnet19" else {"channels": (8, 16, 16)}
    torch.manual_seed(0)
    model = build_model(name, (3, 16, 16), 10, **kw)
    x = torch.randn(3, 3, 16, 16)
    inp = x.unsqueeze(0).expand(T, *x.shape)
    target = torch.randint(0, 10, (3,))

    def step(fn):
        model.zero_grad()
        torch.manual_seed(7)
        y = fn()
        nn.functional.cross_entropy(y.mean(0), target).backward()
        return y.detach(), {k: p.grad.clone() for k, p in model.named_parameters()}

    set_backprop(model, "sltt", K)
    y, g = step(lambda: model(inp))
    model.backprop = None  # the reference below runs under the context
    torch.manual_seed(7)
    steps = torch.randperm(T)[:K].sort().values if 0 < K < T else None
    handles = _masked_reference(model, steps, T) if steps is not None else []
    with backprop("sltt", steps=0), set_backend("reference"):
        y_ref, g_ref = step(lambda: model(inp.contiguous()))
    for h in handles:
        h.remove()
    torch.testing.assert_close(y, y_ref, rtol=1e-5, atol=1e-5)
    for k in g:
        torch.testing.assert_close(g[k], g_ref[k], rtol=1e-4, atol=1e-5, msg=k)
    assert any(g[k].abs().sum() > 0 for k in g if "conv" in k or "features.0" in k)


def test_sltt_k_layers_keep_and_backpropagate_only_the_trained_steps():
    """Under SLTT-1 every float activation autograd keeps for a conv, BatchNorm or linear layer holds
    K*B rows (the trained step), none T*B; the direct-encoded first conv runs once on the frame."""
    torch.manual_seed(0)
    model = build_model("small_cnn", (3, 16, 16), 10, channels=(8, 16, 16))
    x = torch.randn(2, 3, 16, 16)
    inp = x.unsqueeze(0).expand(4, *x.shape)
    first = []
    model.features[0][0].register_forward_hook(lambda m, i, o: first.append(i[0].shape[0]))
    for mode, rows in ((("bptt", 0), 8), (("sltt", 1), 2)):
        set_backprop(model, *mode)
        saved = []
        with torch.autograd.graph.saved_tensors_hooks(lambda t: saved.append(t) or t, lambda t: t):
            y = model(inp)
        y.sum().backward()
        acts = [t for t in saved if t.dim() == 4 and t.is_floating_point() and t.shape[-1] >= 4]  # not 3x3 weights
        assert acts and max(t.shape[0] for t in acts) == rows, [tuple(t.shape) for t in acts]
    assert first == [2, 2]  # the frame, as under BPTT


def test_forward_and_spike_counts_are_bptts_under_sltt():
    """SLTT and SLTT-K change only the backward pass: outputs and every neuron's spike count equal
    BPTT's, bit for bit."""
    from sadp.snn import SpikingNeuron

    torch.manual_seed(0)
    model = build_model("small_cnn", (3, 16, 16), 10, channels=(8, 16, 16))
    x = torch.randn(4, 3, 16, 16)
    inp = x.unsqueeze(0).expand(4, *x.shape)
    counts = []
    for mode in (("bptt", 0), ("sltt", 0), ("sltt", 2)):
        set_backprop(model, *mode)
        c = []
        hs = [m.register_forward_hook(lambda mod, i, o: c.append(o.sum().item()))
              for m in model.modules() if isinstance(m, SpikingNeuron)]
        y = model(inp)
        for h in hs:
            h.remove()
        counts.append((y.detach(), c))
    for c in counts[1:]:
        assert torch.equal(c[0], counts[0][0]) and c[1] == counts[0][1]


def test_memory_lean_model_under_sltt_k_equals_default():
    torch.manual_seed(0)
    model = build_model("small_cnn", (3, 16, 16), 10, channels=(8, 16, 16))
    x = torch.randn(2, 3, 16, 16)
    inp = x.unsqueeze(0).expand(4, *x.shape)
    out = []
    for mode in ("default", "lean"):
        set_memory_mode(model, mode)
        set_backprop(model, "sltt", 2)
        model.zero_grad()
        torch.manual_seed(3)
        model(inp).square().mean().backward()
        out.append([p.grad.clone() for p in model.parameters()])
    for a, b in zip(*out):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_settings_are_validated_in_one_line():
    for bad, msg in ((("xyz", 0), "backprop must be one of"), (("sltt", -1), ">= 0"),
                     (("bptt", 2), "needs backprop 'sltt'")):
        with pytest.raises(ValueError, match=msg) as e:
            Backprop(*bad)
        assert "\n" not in str(e.value)
    n = LIF()
    x = torch.randn(3, 2, 4, requires_grad=True)
    with pytest.raises(ValueError, match="exceeds the 3 time steps"):
        with backprop("sltt", steps=4):
            n(x)
    with pytest.raises(TypeError, match="SpikingClassifier"):
        set_backprop(nn.Linear(2, 2), "sltt")


def test_model_setting_wins_and_eval_is_untouched():
    model = build_model("mlp", (8,), 3, hidden=(16,))
    set_backprop(model, "bptt")
    seen = []
    model.features[2].register_forward_pre_hook(lambda m, i: seen.append(sltt.active()))
    x = torch.randn(4, 2, 8)
    with backprop("sltt"):
        model(x)
    model.eval()
    set_backprop(model, "sltt", 1)
    model(x)
    model.train()
    model(x)
    assert seen[0] is None and seen[1] is None and seen[2].mode == Backprop("sltt", 1)


@pytest.mark.parametrize("name", ["small_cnn", "mlp"])
def test_sltt_k_under_autocast_gives_float32_parameter_gradients(name):
    """Mixed precision (CPU bfloat16 autocast here, as the trainer's CUDA autocast): the layers'
    backward runs in the autocast dtype and hands back gradients in the parameters' dtype."""
    torch.manual_seed(0)
    shape = (64,) if name == "mlp" else (3, 16, 16)
    model = build_model(name, shape, 10, **({} if name == "mlp" else {"channels": (8, 16, 16)}))
    set_backprop(model, "sltt", 1)
    x = torch.randn(2, *shape)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(x.unsqueeze(0).expand(4, *x.shape))
    nn.functional.cross_entropy(out.float().mean(0), torch.tensor([1, 2])).backward()
    grads = [p.grad for p in model.parameters()]
    assert all(g is not None and g.dtype == torch.float32 and torch.isfinite(g).all() for g in grads)
    assert sum(g.abs().sum() for g in grads) > 0
