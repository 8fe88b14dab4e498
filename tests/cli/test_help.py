"""Each option's help states its default once, in one style."""
from __future__ import annotations

import re

import pytest

from sadp.cli.main import SUBCOMMANDS, main
from sadp.registry import DATASETS


def _help(capsys: pytest.CaptureFixture, command: str) -> str:
    with pytest.raises(SystemExit) as e:
        main([command, "--help"])
    assert e.value.code == 0
    return " ".join(capsys.readouterr().out.split())  # undo argparse's line wrapping


@pytest.mark.parametrize("command", sorted(SUBCOMMANDS))
def test_defaults_are_stated_once(capsys: pytest.CaptureFixture, command: str) -> None:
    text = _help(capsys, command)
    assert "(default:" not in text and "[default: None]" not in text and "[default: False]" not in text
    for option in re.split(r"\s(?=--?[\w-]+)", text):
        assert option.count("[default:") <= 1, option


def test_train_help_shows_the_config_defaults(capsys: pytest.CaptureFixture) -> None:
    text = _help(capsys, "train")
    assert f"--dataset DATASET registered dataset: {', '.join(DATASETS.names())} [default: digits]" in text
    assert "--epochs EPOCHS training epochs [default: 20]" in text
    assert "--data-dir DATA_DIR directory holding the dataset files --subset" in text  # no default to state


def test_sweep_help_keeps_its_own_default_wording(capsys: pytest.CaptureFixture) -> None:
    text = _help(capsys, "sweep")
    assert "--jobs JOBS cells run in parallel [default: 1]" in text
    assert "[default: the spec's, else python] --nproc-per-node" in text
