"""TrainConfig refuses values of the wrong type or range, and model options the model does not take."""
from __future__ import annotations

import dataclasses
from typing import Any, Sequence

import pytest

from sadp.snn import build_model
from sadp.train import TrainConfig
from sadp.utils.typecheck import describe, matches, type_problem


@pytest.mark.parametrize("bad, msg", [
    (dict(ratio="0.5"), r"ratio must be a number or null, got '0.5' \(a string; write it without quotes\)"),
    (dict(batch_size="64"), r"batch_size must be an integer, got '64'"),
    (dict(method_options=[1, 2]), r"method_options must be a mapping of names to values, got \[1, 2\] \(a list\)"),
    (dict(epochs=1.5), r"epochs must be an integer, got 1.5"),
    (dict(epochs=True), r"epochs must be an integer, got True \(a boolean\)"),
    (dict(dataset_options={1: 2}), r"dataset_options must be a mapping of names to values"),
    (dict(progress="yes"), r"progress must be true or false, got 'yes'"),
    (dict(lr=float("nan")), r"lr must be a finite number, got nan"),
    (dict(warmup_epochs=float("inf")), r"warmup_epochs must be a finite number"),
    (dict(momentum=1.0), r"momentum must be in \[0, 1\)"),
    (dict(weight_decay=-1e-4), r"weight_decay must be >= 0"),
    (dict(num_workers=-1), r"num_workers must be >= 0"),
    (dict(tau=1.0), r"tau \(membrane time constant\) must be > 1"),
    (dict(neuron="lf"), r"unknown neuron 'lf'; available: if, lif, plif"),
    (dict(surrogate="relu"), r"unknown surrogate 'relu'; available: .*atan"),
    (dict(encoder="rate"), r"unknown encoder 'rate'; available: direct, poisson"),
    (dict(optimizer="adam"), r"unknown optimizer 'adam'; available: adamw, sgd"),
    (dict(loss="mse"), r"unknown loss 'mse'; available: ce, tet"),
    (dict(method="sadpp"), r"unknown pruning method 'sadpp'; available: .*random_dynamic, .*sadp"),
    (dict(model_options={"tau": 3.0}), r"model_options \['tau'\] are top-level options: set them as tau"),
    (dict(out=""), r"out must name an output directory"),
])
def test_wrong_type_or_range_is_one_clear_line(bad: dict, msg: str) -> None:
    with pytest.raises(ValueError, match=msg) as e:
        TrainConfig(**bad).validate()
    assert "\n" not in str(e.value)


def test_every_field_is_type_checked() -> None:
    # A list fits no field's annotation (dict fields want a mapping), so each one must be refused by name.
    for f in dataclasses.fields(TrainConfig):
        with pytest.raises(ValueError, match=rf"\b{f.name} must be "):
            TrainConfig(**{f.name: [1]}).validate()


def test_all_problems_are_reported_together() -> None:
    with pytest.raises(ValueError, match=r"epochs must be an integer.*; lr must be a number"):
        TrainConfig(epochs="3", lr="fast").validate()


def test_yaml_values_of_the_right_kind_pass() -> None:
    cfg = TrainConfig(ratio=1 - 0.5, lr=1, tau=2, model_options={"hidden": [64]}, data_dir=None, subset=None).validate()
    assert cfg.lr == 1 and cfg.model_options == {"hidden": [64]}
    assert TrainConfig(neuron="if", tau=1.0).validate().neuron == "if"  # IF has no time constant to check


def test_typecheck_against_annotations() -> None:
    assert matches([1, 2], Sequence[int]) and not matches([1, "2"], Sequence[int]) and not matches("12", Sequence[int])
    assert matches(3, float) and not matches(True, float) and not matches(True, int)
    assert matches(None, int | None) and matches({"a": 1}, dict[str, Any]) and not matches({1: 1}, dict[str, Any])
    assert describe(int | None) == "an integer or null" and describe(Sequence[int]) == "a list of integers"
    assert type_problem("n", 2.0, int) == "n must be an integer, got 2.0 (a number; write 2)"
    assert type_problem("n", 2, int) is None


@pytest.mark.parametrize("name, options, msg", [
    ("mlp", {"hiden": [3]},
     r"model 'mlp' has no option\(s\) \['hiden'\]; its options are hidden, plus the neuron's: .*v_threshold"),
    ("mlp", {"hidden": 3}, r"model 'mlp': hidden must be a list of integers, got 3 \(an integer\)"),
    ("small_cnn", {"channels": [8, "16"]}, r"channels must be a list of integers"),
    ("resnet19", {"width": 8.5}, r"width must be an integer, got 8.5"),
    ("vgg11", {"widht": 0.5}, r"model 'vgg11' has no option\(s\) \['widht'\]; its options are channels, width"),
    ("vgg11", {"width": "0.5"}, r"width must be a number, got '0.5'"),
    ("mlp", {"v_threshold": "1"}, r"v_threshold must be a number, got '1' \(a string; write it without quotes\)"),
    ("mlp", {"neuron": "if", "init_tau": 2.0}, r"has no option\(s\) \['init_tau'\]"),  # PLIF's option, not IF's
])
def test_model_options_are_checked_against_the_model_signature(name: str, options: dict, msg: str) -> None:
    with pytest.raises(ValueError, match=msg):
        build_model(name, (3, 8, 8), 10, **options)


def test_valid_model_options_still_build() -> None:
    assert [m.out_features for m in build_model("mlp", (1, 8, 8), 10, hidden=[16]).modules()
            if type(m).__name__ == "Linear"] == [16, 10]
    m = build_model("sew_resnet18", (3, 8, 8), 10, width=4, neuron="plif", init_tau=3.0, v_threshold=0.5)
    assert m.head.in_features == 4 * 8  # width forwarded by the factory: 4, 8, 16, 32 channels
