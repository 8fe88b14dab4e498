"""Bad input to ``sadp train`` ends in one line on stderr and exit status 1, never a traceback, and
before anything is written: an earlier run in --out stays byte-identical, a fresh --out is not created."""
from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from sadp.cli.main import main


def _digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("cli") / "done"
    assert main(["train", "--model", "mlp", "--method", "full", "--subset", "100", "--epochs", "1",
                 "--out", str(out), "--no-progress"]) == 0
    return out


# (YAML text or None, flags, a fragment of the message)
CASES = [
    (None, ["--drop-last", "--subset", "100", "--ratio", "0.5", "--batch-size", "64", "--epochs", "3",
            "--method", "random_dynamic", "--model", "mlp"],
     "--drop-last with batch size 64 would train nothing: ratio 0.5 keeps 50 of 100 examples"),
    ("ratio: '0.5'\n", [], "ratio must be a number or null, got '0.5'"),
    ("batch_size: '64'\n", [], "batch_size must be an integer, got '64'"),
    ("method_options: [1, 2]\n", [], "method_options must be a mapping of names to values, got [1, 2]"),
    ("epochs: 1.5\n", [], "epochs must be an integer, got 1.5"),
    ("model: mlp\nmodel_options: {hiden: 3}\n", [], "model 'mlp' has no option(s) ['hiden']; its options are hidden"),
    ("model: mlp\nmodel_options: {hidden: 3}\n", [], "model 'mlp': hidden must be a list of integers, got 3"),
    ("lr: .nan\n", [], "lr must be a finite number, got nan"),
    (None, ["--encoder", "rate"], "unknown encoder 'rate'; available: direct, poisson"),
    (None, ["--optimizer", "adam"], "unknown optimizer 'adam'; available: adamw, sgd"),
    (None, ["--loss", "mse"], "unknown loss 'mse'; available: ce, tet"),
    (None, ["--method", "sadpp"], "unknown pruning method 'sadpp'; available: "),
    (None, ["--model", "nope"], "unknown model 'nope'; available: mlp, "),  # the trainer's build, before writing
    (None, ["--dataset", "nope"], "unknown dataset 'nope'; available: cifar10, "),
    (None, ["--dataset-option", "image_size=24"], "dataset 'digits' has no option(s) ['image_size']"),
    (None, ["--model", "mlp", "--subset", "100000"], "subset 100000 is larger than the training set (1438 examples)"),
    (None, ["--model", "mlp", "--subset", "5"], "subset 5 is smaller than the number of classes (10)"),
    (None, ["--model", "mlp", "--subset", "100", "--loss", "tet"],
     "pruning method 'sadp': readout=mean scores the mean-over-T CE loss but the training loss is 'tet'"),
    (None, ["--model", "mlp", "--subset", "100", "--method-option", "readout=per_step"],
     "readout=per_step scores the per-step (TET) loss but the training loss is 'ce'"),
    (None, ["--backprop", "sltt", "--backprop-steps", "5", "--T", "4"], "backprop_steps K = 5 exceeds T = 4"),
    (None, ["--backprop", "sltt", "--backprop-steps", "-1"], "backprop steps K must be >= 0 (0: every step), got -1"),
    (None, ["--backprop", "sltx"], "backprop must be one of bptt, sltt, got 'sltx'"),
    (None, ["--backprop-steps", "2"], "backprop steps K = 2 needs backprop 'sltt' (SLTT-K), got 'bptt'"),
]


@pytest.mark.parametrize("yaml_text, flags, message", CASES, ids=[c[2][:40] for c in CASES])
def test_bad_input_is_one_line_and_writes_nothing(
    yaml_text: str | None, flags: list[str], message: str, finished_run: Path, tmp_path: Path,
    capsys: pytest.CaptureFixture,
) -> None:
    config = []
    if yaml_text is not None:
        (tmp_path / "c.yaml").write_text(yaml_text)
        config = ["--config", str(tmp_path / "c.yaml")]
    before = _digest(finished_run)
    for out in (finished_run, tmp_path / "fresh"):
        capsys.readouterr()
        assert main(["train", *config, *flags, "--out", str(out), "--no-progress"]) == 1
        err = capsys.readouterr().err
        assert err.startswith("sadp train: error: ") and err.count("\n") == 1, err
        assert message in err
    assert _digest(finished_run) == before
    assert not (tmp_path / "fresh").exists()


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="epochs must be an integer"):
        main(["train", "--config", str(_yaml(tmp_path, "epochs: 1.5\n")), "--debug"])


def _yaml(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "c.yaml"
    p.write_text(text)
    return p
