"""Multi-process training: 2 gloo processes on CPU launched with torchrun."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import torch

from sadp.pruning import PruningSampler, build_method

WORKER = Path(__file__).with_name("ddp_worker.py")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _torchrun(*args: str) -> list[str]:
    return [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_addr=127.0.0.1",
            f"--master_port={_free_port()}", *args]


def _run(cmd: list[str]) -> str:
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    return r.stdout


def _equal(a: Any, b: Any) -> bool:
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and a.shape == b.shape and torch.equal(a.cpu(), b.cpu())
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b))
    return a == b


def test_sampler_shards_are_disjoint_equal_and_cover_the_selection() -> None:
    for n, ratio in ((101, 0.3), (100, 0.5), (7, 0.0)):
        shards = []
        for rank in range(3):
            m = build_method("random_dynamic" if ratio else "full", n, ratio=ratio, epochs=4, seed=1)
            s = PruningSampler(m, seed=5, rank=rank, world_size=3)
            plan = s.set_epoch(1)
            shards.append((plan.indices.sort().values, list(s), s.valid))
        selected = shards[0][0]
        assert all(torch.equal(selected, sh[0]) for sh in shards)  # identical selections
        assert len({len(sh[1]) for sh in shards}) == 1  # equal lengths
        real = [i for _, order, valid in shards for i, v in zip(order, valid.tolist()) if v]
        assert len(real) == len(set(real)) == len(selected)  # disjoint
        assert sorted(real) == selected.tolist()  # together they cover the selection


def test_exit_process_flushes_output_and_skips_interpreter_shutdown() -> None:
    # Interpreter shutdown beside live gloo threads can abort a finished worker (SIGABRT); a torchrun
    # worker leaves through exit_process instead: its output must still arrive, atexit must not run.
    code = ("import atexit; atexit.register(lambda: print('finalized'));"
            "from sadp.train.distributed import exit_process; print('written', end=''); exit_process(3)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert (r.returncode, r.stdout) == (3, "written"), (r.returncode, r.stdout, r.stderr[-2000:])


def test_cli_under_torchrun_leaves_through_exit_process(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from sadp.cli.main import main
    from sadp.train import distributed

    codes: list[int] = []

    def fake_exit(code: int) -> None:
        codes.append(code)

    monkeypatch.setattr(distributed, "exit_process", fake_exit)
    assert main(["report", str(tmp_path / "missing")]) == 1 and codes == []  # a plain process returns
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")
    main(["report", str(tmp_path / "missing")])
    assert codes == [1]  # a torchrun worker hands its exit code to exit_process


@pytest.mark.slow
@pytest.mark.parametrize("method,ratio", [("sadp", 0.5), ("infobatch", 0.5), ("seta", 0.5), ("orderdp", 0.5),
                                          ("rs2", 0.4)])
def test_ranks_hold_identical_state_equal_to_single_process_replay(tmp_path: Path, method: str, ratio: float) -> None:
    epochs = 3
    _run(_torchrun(str(WORKER), str(tmp_path), method, str(ratio), str(epochs)))
    r0, r1 = (torch.load(tmp_path / f"rank{r}.pt", weights_only=False) for r in (0, 1))
    for e in range(epochs):
        assert torch.equal(r0["plans"][e][0], r1["plans"][e][0]), "ranks selected different sets"
        real0 = {i for i, v in zip(r0["orders"][e], r0["valid"][e].tolist()) if v}
        real1 = {i for i, v in zip(r1["orders"][e], r1["valid"][e].tolist()) if v}
        assert not real0 & real1 and real0 | real1 == set(r0["plans"][e][0].tolist())
        assert _equal(r0["states"][e], r1["states"][e]), f"method state differs between ranks after epoch {e}"
    # A single process that sees the same statistics reaches the same state and selections.
    single = build_method(method, 301, ratio=ratio, epochs=epochs, seed=7)
    for e in range(epochs):
        plan = single.select(e)
        assert torch.equal(plan.indices, r0["plans"][e][0])
        assert torch.allclose(plan.weights[plan.indices], r0["plans"][e][1][plan.indices])
        for s in r0["stats"][e]:
            single.observe(s)
        single.end_epoch(e)
        assert _equal(single.state_dict(), r0["states"][e]), f"single-process replay differs after epoch {e}"
    # Every selected example was observed exactly once per epoch (no padding duplicates), and the
    # logged training loss and accuracy are over exactly those examples.
    padded = 0
    for e in range(epochs):
        stats = r0["stats"][e]
        seen = torch.cat([s.indices for s in stats])
        assert sorted(seen.tolist()) == sorted(r0["plans"][e][0].tolist())
        padded += len(seen) % 2  # an odd selection: one padding duplicate on rank 1
        loss = torch.cat([s.loss for s in stats]).double()
        correct = torch.cat([s.logits.argmax(1) == s.targets for s in stats]).double()
        row = r0["history"][e]
        assert row["train_loss"] == pytest.approx(float(loss.mean()), rel=1e-5)  # one duplicate in 302 moves it ~0.3%
        assert row["train_acc"] == pytest.approx(float(correct.mean()), abs=1e-12)
        assert r1["history"][e]["train_loss"] == row["train_loss"]
    if method != "seta":  # SeTa keeps an even K = 150 of 301 in every epoch: nothing to pad
        assert padded > 0  # the padding case is exercised (301 examples in full-data epochs, q = 149 for OrderDP)


@pytest.mark.slow
def test_two_process_digits_run_matches_single_process_accuracy_band_and_resumes(tmp_path: Path) -> None:
    # 4 epochs: full, two pruned, full (annealing tail); the kill lands after the 2nd, so the resumed
    # part has a pruned and a full epoch.
    args = ["-m", "sadp", "train", "--epochs", "4", "--no-progress"]
    single = tmp_path / "single"
    _run([sys.executable, *args, "--out", str(single)])
    ddp = tmp_path / "ddp"
    _run(_torchrun(*args, "--out", str(ddp)))
    a = json.loads((single / "summary.json").read_text())
    b = json.loads((ddp / "summary.json").read_text())
    assert b["world_size"] == 2 and b["examples_seen"] == a["examples_seen"]
    assert b["test_acc"] >= 0.9 and abs(b["test_acc"] - a["test_acc"]) <= 0.05, (a["test_acc"], b["test_acc"])

    # Kill a 2-process run after its 2nd epoch checkpoint and resume it with torchrun.
    killed = tmp_path / "killed"
    p = subprocess.Popen(_torchrun(*args, "--out", str(killed)), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         start_new_session=True, env=dict(os.environ, OMP_NUM_THREADS="1"))
    m = killed / "metrics.jsonl"
    deadline = time.time() + 600
    while not (m.exists() and len(m.read_text().splitlines()) >= 2):
        assert p.poll() is None and time.time() < deadline
        time.sleep(0.05)
    os.killpg(p.pid, signal.SIGKILL)
    p.wait()
    assert not (killed / "summary.json").exists()
    out = _run(_torchrun(*args, "--out", str(killed), "--resume"))
    assert "resumed from" in out
    c = json.loads((killed / "summary.json").read_text())
    assert c["examples_seen"] == b["examples_seen"] and len(c["epoch_times_s"]) == 4
    assert c["test_acc"] == b["test_acc"], "resumed 2-process run ended differently from the uninterrupted one"
