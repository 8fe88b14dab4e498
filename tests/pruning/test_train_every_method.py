"""Every registered method through ``sadp train``: it runs, and
summary.json's examples_seen is the sum of the epochs' selected counts."""
from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from sadp.cli.main import main
from sadp.registry import METHODS

N, K = 150, 75  # --subset 150, --ratio 0.5, 3 epochs
EXPECTED = {  # selected examples per epoch
    "full": [N, N, N],
    "random_static": [K, K, K],
    "random_dynamic": [N, K, N],  # full first epoch, annealing from floor(0.875 * 3) = 2
    "loss": [N, K, N],
    "grad_bound": [N, K, N],
    "sadp": [N, K, N],
    "ucb": [N, K, K],  # no annealing by default
    "epsilon_greedy": [N, K, K],
    "el2n": [N, K, K],  # warm-up max(1, round(0.1 * 3)) = 1 epoch
    "grand": [N, K, K],
    "forgetting": [N, N, K],  # warm-up at least 2 epochs: one forgetting event needs two presentations
    "rs2": [K, K, K],  # every epoch pruned, no full epochs
    "orderdp": [74] * 3,  # q = floor(0.7071 * floor(0.7071 * 150)) = floor(0.7071 * 106) = 74, every epoch
    "seta": None,  # K, the window's share (<= K), then K plus the shortfall (annealing from epoch 2)
}


def _train(tmp_path: Path, name: str, *extra: str) -> tuple[dict, list[dict]]:
    out = tmp_path / name
    ratio = "0" if name == "full" else "0.5"
    args = ["train", "--method", name, "--ratio", ratio, "--epochs", "3", "--subset", str(N), "--model", "mlp",
            "--batch-size", "32", "--out", str(out), "--no-progress", *extra]
    assert main(args) == 0
    summary = json.loads((out / "summary.json").read_text())
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    return summary, rows


@pytest.mark.slow
@pytest.mark.parametrize("name", METHODS.names())
def test_every_method_trains(tmp_path: Path, name: str) -> None:
    summary, rows = _train(tmp_path, name)
    selected = [r["selected"] for r in rows]
    assert summary["examples_seen"] == sum(selected)
    if name == "infobatch":
        assert selected[0] == N and selected[2] == N and selected[1] < N  # full, pruned, annealed
    elif name == "seta":
        assert selected[0] == K and selected[1] <= K and sum(selected) == 3 * K
    else:
        assert selected == EXPECTED[name]
    assert all(math.isfinite(r["train_loss"]) for r in rows)


@pytest.mark.slow
def test_sadp_multilayer_option_through_cli(tmp_path: Path) -> None:
    summary, rows = _train(tmp_path, "sadp", "--method-option", "score=multilayer", "--method-option", "ema=0.5")
    assert [r["selected"] for r in rows] == [N, K, N]


def test_bad_method_option_is_a_clear_cli_error(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    code = main(["train", "--method", "sadp", "--ratio", "0.5", "--epochs", "1", "--subset", "20", "--model", "mlp",
                 "--out", str(tmp_path / "x"), "--no-progress", "--method-option", "flor=0.2"])
    assert code == 1
    err = capsys.readouterr().err
    assert "unknown option" in err and "floor" in err
