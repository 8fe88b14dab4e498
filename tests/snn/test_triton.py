"""The Triton kernels' logic, run on CPU by Triton's interpreter (TRITON_INTERPRET=1), equals the
reference loop: spikes exactly, gradients to float tolerance. On a CUDA machine the same script
checks the compiled kernels (run it without TRITON_INTERPRET)."""
from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

HERE = Path(__file__).parent


def triton_installed() -> bool:
    if importlib.util.find_spec("triton") is None:
        return False
    try:  # a broken install (wrong torch ABI) raises something other than ImportError
        r = subprocess.run([sys.executable, "-c", "import triton.language"], capture_output=True, timeout=120)
    except Exception:
        return False
    return r.returncode == 0


requires_triton = pytest.mark.skipif(
    not triton_installed(),
    reason="Triton is not installed (pip install --no-deps triton into the venv to run the kernel tests)",
)


@requires_triton
def test_triton_kernels_in_interpreter_equal_reference():
    env = {**os.environ, "TRITON_INTERPRET": "1"}
    r = subprocess.run([sys.executable, str(HERE / "_triton_check.py")], capture_output=True, text=True,
                       env=env, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "all cases equal" in r.stdout


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
@requires_triton
def test_triton_kernels_on_cuda_equal_reference():
    script = (HERE / "_triton_check.py").read_text().replace("torch.randn(5, 3, 700)",
                                                             "torch.randn(5, 3, 700, device='cuda')")
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600,
                       env={k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"})
    assert r.returncode == 0, r.stdout + r.stderr
