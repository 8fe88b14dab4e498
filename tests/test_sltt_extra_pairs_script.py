"""scripts/sltt_extra_pairs.py reproduces the committed pairs file from the committed result files."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_output_matches_the_committed_file() -> None:
    r = subprocess.run([sys.executable, str(ROOT / "scripts" / "sltt_extra_pairs.py")], cwd=ROOT,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout == (ROOT / "docs" / "results" / "sltt-sgd" / "extra_pairs.txt").read_text()
    assert r.stdout.count("n=5") == 4
