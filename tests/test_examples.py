"""The README's hand-written-loop example runs and learns."""
from __future__ import annotations

import importlib.util
from pathlib import Path

EXAMPLE = Path(__file__).parents[1] / "examples" / "plain_pytorch_loop.py"


def test_plain_pytorch_loop_example_learns(capsys) -> None:
    spec = importlib.util.spec_from_file_location("plain_loop", EXAMPLE)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    acc = mod.main(epochs=6, ratio=0.5)
    out = capsys.readouterr().out
    assert "trained on 1438 of 1438" in out  # first epoch: full data (SADP needs scores)
    assert "trained on 719 of 1438" in out  # pruned epochs keep K = round((1 - r) N)
    assert acc > 0.8
