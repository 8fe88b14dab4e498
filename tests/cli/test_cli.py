from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from sadp.cli.main import SUBCOMMANDS, main
from sadp.registry import DATASETS, ENCODERS, LOSSES, METHODS, MODELS, NEURONS, OPTIMIZERS, SURROGATES

REGISTRIES = {"--dataset": DATASETS, "--model": MODELS, "--method": METHODS, "--optimizer": OPTIMIZERS,
              "--loss": LOSSES, "--neuron": NEURONS, "--surrogate": SURROGATES, "--encoder": ENCODERS}


def _train_help(capsys: pytest.CaptureFixture) -> dict[str, str]:
    """``sadp train --help``: each option's help text (argparse's wrapping undone), by flag."""
    with pytest.raises(SystemExit) as e:
        main(["train", "--help"])
    assert e.value.code == 0
    text = " ".join(capsys.readouterr().out.split("options:", 1)[1].split())
    return {m.group(1): m.group(2) for m in re.finditer(r"(--[\w-]+) [A-Z_=]+ (.*?)(?= --[\w-]+ |$)", text)}


def test_help_lists_subcommands_and_train_flags(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as e:
        main(["--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert all(name in out for name in SUBCOMMANDS)
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = capsys.readouterr().out
    for flag in ("--dataset", "--data-dir", "--model", "--method", "--ratio", "--epochs", "--batch-size",
                 "--lr", "--T", "--seed", "--device", "--out", "--resume", "--config"):
        assert flag in text


def test_train_help_lists_every_registered_name(capsys: pytest.CaptureFixture) -> None:
    options = _train_help(capsys)
    for flag, reg in REGISTRIES.items():
        listed = re.search(r": ([\w, ]+?)(?: \[default: \w+\])?$", options[flag])
        assert listed and listed.group(1).split(", ") == reg.names(), (flag, options[flag])


def test_train_help_lists_entries_registered_later(capsys: pytest.CaptureFixture) -> None:
    # an entry registered by user code (here: the test) is listed, so the listing is not a literal
    for reg in REGISTRIES.values():
        reg.register("zz_user_entry")(lambda *args, **kwargs: None)
    try:
        options = _train_help(capsys)
    finally:
        for reg in REGISTRIES.values():
            reg.unregister("zz_user_entry")
    for flag in REGISTRIES:
        assert "zz_user_entry" in options[flag], flag
    assert all("zz_user_entry" not in text for text in _train_help(capsys).values())


def test_yaml_config_and_flag_override(tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("model: mlp\nepochs: 3\nsubset: 100\nlr: 0.01\n")
    out = tmp_path / "run"
    assert main(["train", "--config", str(cfg), "--epochs", "1", "--out", str(out), "--no-progress"]) == 0
    s = json.loads((out / "summary.json").read_text())
    assert s["epochs"] == 1 and s["config"]["model"] == "mlp" and s["config"]["lr"] == 0.01


def test_bad_input_exits_nonzero_with_message(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["train", "--ratio", "1.5", "--method", "full", "--out", str(tmp_path)]) == 1
    assert "ratio must be in [0, 1)" in capsys.readouterr().err
    assert main(["train", "--model", "nope", "--out", str(tmp_path / "x")]) == 1
    assert "unknown model 'nope'" in capsys.readouterr().err
    bad = tmp_path / "bad.yaml"
    bad.write_text("epochs: [1, 2\n")
    assert main(["train", "--config", str(bad)]) == 1
    assert "not valid YAML" in capsys.readouterr().err


def test_python_dash_m_entry_point(tmp_path: Path) -> None:
    r = subprocess.run([sys.executable, "-m", "sadp", "train", "--help"], capture_output=True, text=True)
    assert r.returncode == 0 and "--ratio" in r.stdout


def test_method_and_dataset_options_parse_as_yaml() -> None:
    from sadp.cli.main import build_parser
    from sadp.cli.train import config_from_args

    args = build_parser().parse_args(["train", "--method", "sadp", "--method-option", "ema=0.5",
                                      "--method-option", "weighted=false", "--dataset-option", "image_size=24"])
    cfg = config_from_args(args)
    assert cfg.method_options == {"ema": 0.5, "weighted": False}
    assert cfg.dataset_options == {"image_size": 24}
    with pytest.raises(ValueError, match="--method-option expects KEY=VALUE"):
        config_from_args(build_parser().parse_args(["train", "--method-option", "ema"]))
