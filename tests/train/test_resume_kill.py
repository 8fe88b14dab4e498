"""A run killed with SIGKILL mid-epoch and resumed ends exactly like an uninterrupted run."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ARGS = ["--epochs", "5", "--subset", "300", "--no-progress", "--seed", "3"]
# The small CNN's layers (convolutions, BatchNorm, pooling, LIF) at a quarter of the default widths:
# what is checkpointed is the same, each epoch is cheaper.
CONFIG = "model_options:\n  channels: [16, 32, 32]\n"


def _train(out: Path, *extra: str) -> subprocess.Popen:
    config = out.parent / "narrow.yaml"
    config.write_text(CONFIG)
    # One thread: the batches are small, and several threads on a busy machine only wait for each other.
    env = dict(os.environ, PYTHONUNBUFFERED="1", OMP_NUM_THREADS="1")
    return subprocess.Popen([sys.executable, "-m", "sadp", "train", "--config", str(config), "--out", str(out), *ARGS,
                             *extra], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)


def _metrics(out: Path) -> list[dict]:
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    for r in rows:  # timings differ between runs; everything else must match exactly
        for k in ("epoch_time_s", "eval_time_s", "epoch_cpu_s"):
            r.pop(k)
    return rows


@pytest.mark.slow
def test_sigkill_mid_epoch_then_resume_matches_uninterrupted(tmp_path: Path) -> None:
    ref = tmp_path / "ref"
    p = _train(ref)
    assert p.wait(timeout=600) == 0, p.stdout.read()

    run = tmp_path / "killed"
    p = _train(run)
    deadline = time.time() + 600
    # Kill as soon as epoch 2's checkpoint lands: the process is then inside epoch 3.
    while time.time() < deadline:
        if (run / "metrics.jsonl").exists() and len((run / "metrics.jsonl").read_text().splitlines()) >= 2:
            break
        assert p.poll() is None, "run ended before it could be killed"
        time.sleep(0.05)
    p.send_signal(signal.SIGKILL)
    p.wait()
    assert not (run / "summary.json").exists(), "the run finished before it was killed; kill earlier"
    done_before = len(_metrics(run))
    assert 2 <= done_before < 5

    p = _train(run, "--resume")
    out, _ = p.communicate(timeout=600)
    assert p.returncode == 0, out
    assert "resumed from" in out

    a, b = json.loads((ref / "summary.json").read_text()), json.loads((run / "summary.json").read_text())
    assert b["test_acc"] == a["test_acc"]
    assert b["best_test_acc"] == a["best_test_acc"]
    assert b["examples_seen"] == a["examples_seen"]
    assert len(b["epoch_times_s"]) == 5
    assert _metrics(run) == _metrics(ref)
