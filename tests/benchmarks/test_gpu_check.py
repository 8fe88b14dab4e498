"""The prepared GPU check runs end to end on the CPU (its --cpu --quick rehearsal)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "gpu_check.py"


@pytest.mark.slow
def test_gpu_check_rehearsal_writes_every_part(tmp_path: Path) -> None:
    out = tmp_path / "gpu_check.json"
    r = subprocess.run([sys.executable, str(SCRIPT), "--cpu", "--quick", "--out", str(out)],
                       capture_output=True, text=True, timeout=900, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    result = json.loads(out.read_text())
    assert result["machine"]["device"] == "cpu"
    assert "collected" in result["tests"]["closing_line"] or "selected" in result["tests"]["closing_line"]
    steps = {(row["model"], row["row"]): row for row in result["step_time"]}
    assert steps[("small_cnn", "sadp")]["median_ms"] > 0 and steps[("vgg11", "sadp")]["median_ms"] > 0
    assert [(c["method"], c["ratio"]) for c in result["training"]] == [("full", 0.0), ("sadp", 0.5)]
    for cell in result["training"]:
        assert 0.0 <= cell["test_acc"] <= 1.0 and len(cell["epoch_times_s"]) == 1
    assert result["training"][1]["spike_factor_cv"][0] is not None  # SADP logged its spike factor


def test_gpu_check_refuses_without_cuda_unless_cpu() -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present")
    r = subprocess.run([sys.executable, str(SCRIPT)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 2 and "no CUDA device here; --cpu runs the CPU rehearsal" in r.stderr


def test_gpu_check_trains_the_deep_regime_of_its_spec() -> None:
    """The check's training cells use the deep sweep spec's recipe, not a copy that could drift."""
    import importlib.util

    from sadp.experiments.sweep_spec import SweepSpec

    sys.path.insert(0, str(SCRIPT.parent))
    try:
        spec = importlib.util.spec_from_file_location("gpu_check", SCRIPT)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(SCRIPT.parent))
    deep = SweepSpec.load(SCRIPT.parents[1] / "experiments" / "evidence-deep.yaml")
    full = next(c for c in deep.cells("/tmp/out", resolve_data=False) if c.label == "full" and c.seed == 0)
    recipe = module.deep_recipe()
    for key, value in full.config.items():
        if key not in ("out", "data_dir", "method", "ratio", "eval_every", "train_eval_size"):
            assert recipe[key] == value, key
    assert recipe["model"] == "vgg11" and "data_dir" not in recipe
