"""Run by test_triton.py in a subprocess with TRITON_INTERPRET=1 (the variable must be set before
Triton is imported). Exits non-zero with a message on the first mismatch."""
import itertools
import sys

import torch

from sadp.snn import IF, LIF, set_backend, sltt

torch.manual_seed(0)
for kind, reset, detach, decay, sur in itertools.product(
    ["lif", "if"], ["hard", "soft"], [False, True], [True, False], ["atan", "sigmoid", "triangle"]
):
    kw = dict(reset=reset, detach_reset=detach, surrogate=sur)
    n = IF(**kw) if kind == "if" else LIF(tau=3.0, decay_input=decay, **kw)
    x = (torch.randn(5, 3, 700) * 2 + 0.8).requires_grad_()  # 2100 neurons: more than one block, masked tail
    g = torch.randn_like(x)
    out = {}
    for backend in ("reference", "triton"):
        x.grad = None
        with set_backend(backend):
            s = n(x)
        (s * g).sum().backward()
        out[backend] = (s.detach(), x.grad.clone())
    case = (kind, reset, detach, decay, sur)
    if not torch.equal(out["reference"][0], out["triton"][0]):
        sys.exit(f"spikes differ for {case}")
    torch.testing.assert_close(out["triton"][1], out["reference"][1], rtol=1e-5, atol=1e-6, msg=str(case))
    for K in (0, 2):  # SLTT (every step) and SLTT-2: the same drawn steps on both backends
        selection = sltt.Selection(sltt.Backprop("sltt", K))
        for backend in ("reference", "triton"):
            x.grad = None
            with set_backend(backend), sltt.use(selection):
                s = n(x)
            (s * g).sum().backward()
            out[backend] = (s.detach(), x.grad.clone())
        if not torch.equal(out["reference"][0], out["triton"][0]):
            sys.exit(f"SLTT-{K} spikes differ for {case}")
        if K and not torch.all(out["triton"][1][[t for t in range(5) if t not in selection.steps(5).tolist()]] == 0):
            sys.exit(f"SLTT-{K} gradient not masked for {case}")
        torch.testing.assert_close(out["triton"][1], out["reference"][1], rtol=1e-5, atol=1e-6, msg=f"SLTT-{K} {case}")
print("triton interpreter: all cases equal")
